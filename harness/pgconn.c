/* gameday: a PostgreSQL connection on the libuv loop (see pgconn.h).
 *
 * Two things libpq does not do for an event loop, done here:
 *
 * - Name resolution. PQconnectPoll calls getaddrinfo itself, which blocks.
 *   Host names are resolved first with uv_getaddrinfo and passed as hostaddr
 *   (one host entry per address, as libpq would try them), so libpq only
 *   ever sees numeric addresses; host stays for pgpass and TLS.
 *
 * - Descriptor changes. While connecting, libpq closes its socket and opens
 *   another when a host fails or target_session_attrs rejects a server, and
 *   the new socket often gets the old descriptor number. libuv must never be
 *   left watching a descriptor that libpq closed, so the poll handle is
 *   stopped before every PQconnectPoll, and afterwards compared with
 *   PQsocket (number, and device/inode to see a reused number): on a change
 *   the old handle is closed and a new one made. Once connected, libpq only
 *   drops the socket when the connection breaks (PQsocket becomes -1), and
 *   the handle is closed at once.
 *
 * The PGconn is finished only after its poll handle is closed: the
 * descriptor is libpq's, and libuv must be done with it first. */
#include "gameday/pgconn.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum pg_state {
  ST_RESOLVING,
  ST_CONNECTING,
  ST_IDLE,
  ST_BUSY,
  ST_BROKEN,
  ST_CLOSING
};

struct pg_watch {
  uv_poll_t poll;
  struct gd_pgconn *c;
  int fd;
  dev_t dev;
  ino_t ino;
};

/* One entry of the host list (host/hostaddr/port split on commas). */
struct pg_entry {
  char *host, *hostaddr, *port;
  int resolve;       /* a name: resolved on the loop before connecting */
  char *addrs;       /* the addresses found, comma-separated */
};

struct gd_pgconn {
  uv_loop_t *loop;
  PGconn *pg;
  enum pg_state state;
  struct pg_watch *w;
  int events;            /* what w is started for, 0 when stopped */
  uv_timer_t timer;      /* the operation's timeout, or a deferred reply */
  uv_getaddrinfo_t gai;
  int gai_active;
  unsigned pending;      /* open handles and requests */
  unsigned socket_changes;
  uint64_t timeout_ns;
  int in_call;           /* inside gd_pgconn_open or _query: defer replies */

  /* the operation outstanding (open or query) */
  gd_pgconn_cb cb;
  void *arg;
  int sent;
  int flushing;          /* PQflush has more to send */
  PGresult *res;         /* the first error, else the last result */
  int deferred;          /* the timer delivers `fail` */
  struct gd_pgreply fail;

  /* name resolution before connecting */
  PQconninfoOption *opts;
  struct pg_entry *entries;
  size_t nentries, next;
  int nports;            /* 0: none given, 1: one for all, else per entry */
  int have_addrs;        /* hostaddr was given */
  char dns_errors[200];

  void (*close_cb)(void *arg);
  void *close_arg;
};

static void on_ready(uv_poll_t *h, int status, int events);
static void on_timer(uv_timer_t *t);
static void start_resolve(struct gd_pgconn *c);
static void start_libpq(struct gd_pgconn *c, const char *conninfo);

/* ---- small helpers ----------------------------------------------------- */

static void fmt(char *buf, size_t n, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t n, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, n, f, ap);
  va_end(ap);
}

/* libpq's messages are multi-line: "connection to server at \"h\", port 1
 * failed: Connection refused\n\tIs the server running...\n". One line each
 * failure, hints dropped, "h:1: Connection refused". */
static void compact(const char *m, char *out, size_t n) {
  size_t len = 0;
  out[0] = 0;
  while (m && *m && len + 1 < n) {
    const char *eol = strchr(m, '\n');
    size_t ll = eol ? (size_t)(eol - m) : strlen(m);
    if (ll && m[0] != '\t' && m[0] != ' ') {
      char line[512];
      fmt(line, sizeof line, "%.*s", (int)ll, m);
      const char *text = line;
      char shortened[512];
      const char *failed = strstr(line, " failed: ");
      if (strncmp(line, "connection to server ", 21) == 0 && failed) {
        char where[256] = "";
        const char *q = strchr(line, '"');
        const char *q2 = q ? strchr(q + 1, '"') : NULL;
        if (q && q2 && q2 < failed) {
          const char *port = strstr(q2, ", port ");
          if (port && port < failed)
            fmt(where, sizeof where, "%.*s:%.*s", (int)(q2 - q - 1), q + 1,
                (int)(failed - port - 7), port + 7);
          else
            fmt(where, sizeof where, "%.*s", (int)(q2 - q - 1), q + 1);
          fmt(shortened, sizeof shortened, "%s: %s", where, failed + 9);
          text = shortened;
        }
      }
      int w = snprintf(out + len, n - len, "%s%s", len ? "; " : "", text);
      if (w < 0) break;
      len += (size_t)w;
      if (len >= n) {
        len = n - 1;
        break;
      }
    }
    if (!eol) break;
    m = eol + 1;
  }
}

/* Refused when every server tried refused (or had no socket file). */
static enum gd_pg_fail connect_class(const char *m) {
  int tried = 0, refused = 0;
  while (m && *m) {
    const char *eol = strchr(m, '\n');
    size_t ll = eol ? (size_t)(eol - m) : strlen(m);
    if (ll > 21 && strncmp(m, "connection to server ", 21) == 0) {
      char line[512];
      fmt(line, sizeof line, "%.*s", (int)ll, m);
      tried++;
      if (strstr(line, "Connection refused") ||
          strstr(line, "No such file or directory"))
        refused++;
    } else if (ll && m[0] != '\t' && strstr(m, "timeout expired") == m) {
      return GD_PG_TIMEOUT;
    }
    if (!eol) break;
    m = eol + 1;
  }
  return tried && refused == tried ? GD_PG_REFUSED : GD_PG_CONNECT;
}

static void quiet_notices(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static PQconninfoOption *find_opt(PQconninfoOption *o, const char *kw) {
  for (; o && o->keyword; o++)
    if (strcmp(o->keyword, kw) == 0) return o;
  return NULL;
}

/* Splits "a,b,,c" into n malloc'd strings (empty ones kept). */
static char **split_list(const char *s, size_t *n) {
  *n = 0;
  if (!s || !*s) return NULL;
  size_t count = 1;
  for (const char *p = s; *p; p++) count += *p == ',';
  char **v = calloc(count, sizeof *v);
  if (!v) return NULL;
  for (size_t i = 0; i < count; i++) {
    const char *e = strchr(s, ',');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    if (!(v[i] = strndup(s, l))) {
      while (i--) free(v[i]);
      free(v);
      return NULL;
    }
    s = e ? e + 1 : s + l;
  }
  *n = count;
  return v;
}

static void free_list(char **v, size_t n) {
  for (size_t i = 0; v && i < n; i++) free(v[i]);
  free(v);
}

/* Appends s to a malloc'd comma-separated list (NULL: empty list; an empty
 * s is an entry too). */
static int list_add(char **list, size_t *len, const char *s) {
  size_t sl = strlen(s);
  char *nb = realloc(*list, *len + sl + 2);
  if (!nb) return -1;
  if (*list) nb[(*len)++] = ',';
  memcpy(nb + *len, s, sl + 1);
  *len += sl;
  *list = nb;
  return 0;
}

static int list_has(const char *list, const char *s) {
  size_t sl = strlen(s);
  for (const char *p = list; p && *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == sl && memcmp(p, s, l) == 0) return 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

static int is_numeric_host(const char *h) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static void free_entries(struct gd_pgconn *c) {
  for (size_t i = 0; i < c->nentries; i++) {
    free(c->entries[i].host);
    free(c->entries[i].hostaddr);
    free(c->entries[i].port);
    free(c->entries[i].addrs);
  }
  free(c->entries);
  c->entries = NULL;
  c->nentries = 0;
  if (c->opts) PQconninfoFree(c->opts);
  c->opts = NULL;
}

/* ---- public helpers ---------------------------------------------------- */

int gd_pgconn_check(const char *conninfo, const char *path,
                    struct gd_error *err) {
  char *msg = NULL;
  PQconninfoOption *o = PQconninfoParse(conninfo, &msg);
  if (!o) {
    char m[256];
    compact(msg ? msg : "out of memory", m, sizeof m);
    if (msg) PQfreemem(msg);
    return gd_error_set(err, GD_EINVAL, "%s: invalid connection string: %s",
                        path, m);
  }
  PQconninfoFree(o);
  return 0;
}

void gd_pgconn_describe(const char *conninfo, char *buf, size_t n) {
  static const char *const shown[] = {"host",   "hostaddr", "port",
                                      "dbname", "user",
                                      "target_session_attrs", NULL};
  PQconninfoOption *o = PQconninfoParse(conninfo, NULL);
  size_t len = 0;
  buf[0] = 0;
  if (!o) {
    snprintf(buf, n, "(invalid connection string)");
    return;
  }
  for (size_t i = 0; shown[i] && len < n; i++) {
    PQconninfoOption *v = find_opt(o, shown[i]);
    if (!v || !v->val || !v->val[0]) continue;
    int w = snprintf(buf + len, n - len, "%s%s=%s", len ? " " : "", shown[i],
                     v->val);
    if (w < 0) break;
    len += (size_t)w;
  }
  if (!buf[0]) snprintf(buf, n, "(libpq defaults)");
  PQconninfoFree(o);
}

long long gd_pgresult_rows(const PGresult *res) {
  if (!res) return 0;
  if (PQresultStatus(res) == PGRES_TUPLES_OK ||
      PQresultStatus(res) == PGRES_SINGLE_TUPLE)
    return PQntuples(res);
  const char *t = PQcmdTuples((PGresult *)res);
  return t && *t ? strtoll(t, NULL, 10) : 0;
}

const char *gd_pgresult_value(const PGresult *res) {
  if (!res || PQntuples(res) < 1 || PQnfields(res) < 1 ||
      PQgetisnull(res, 0, 0))
    return NULL;
  return PQgetvalue(res, 0, 0);
}

unsigned gd_pgconn_socket_changes(const struct gd_pgconn *c) {
  return c->socket_changes;
}

int gd_pgconn_ok(const struct gd_pgconn *c) {
  return c && c->state == ST_IDLE && c->pg &&
         PQstatus(c->pg) == CONNECTION_OK &&
         PQtransactionStatus(c->pg) == PQTRANS_IDLE;
}

/* ---- lifetime ---------------------------------------------------------- */

static void deliver(struct gd_pgconn *c, struct gd_pgreply *r) {
  gd_pgconn_cb cb = c->cb;
  void *arg = c->arg;
  PGresult *res = c->res;
  c->cb = NULL;
  c->arg = NULL;
  c->res = NULL;
  c->deferred = 0;
  c->flushing = 0;
  if (c->state != ST_CLOSING) uv_timer_stop(&c->timer);
  r->res = res;
  /* The callback may query again or close: nothing of c is used after. */
  if (cb) cb(c, r, arg);
  if (res) PQclear(res);
}

static void maybe_free(struct gd_pgconn *c) {
  if (c->pending || c->state != ST_CLOSING) return;
  if (c->pg) PQfinish(c->pg);
  c->pg = NULL;
  if (c->cb) {
    struct gd_pgreply r;
    memset(&r, 0, sizeof r);
    r.fail = GD_PG_CANCELED;
    r.sent = c->sent;
    fmt(r.msg, sizeof r.msg, "cancelled");
    deliver(c, &r);
  }
  free_entries(c);
  void (*cb)(void *) = c->close_cb;
  void *arg = c->close_arg;
  if (cb) cb(arg);
  free(c);
}

static void watch_closed(uv_handle_t *h) {
  struct pg_watch *w = h->data;
  struct gd_pgconn *c = w->c;
  free(w);
  c->pending--;
  maybe_free(c);
}

static void timer_closed(uv_handle_t *h) {
  struct gd_pgconn *c = h->data;
  c->pending--;
  maybe_free(c);
}

static void watch_close(struct gd_pgconn *c) {
  if (!c->w) return;
  uv_close((uv_handle_t *)&c->w->poll, watch_closed);
  c->w = NULL;
  c->events = 0;
}

/* Makes the poll handle follow PQsocket (see the comment at the top) and
 * watch `events` (0: stopped). */
static int watch_sync(struct gd_pgconn *c, int events) {
  int fd = c->pg ? PQsocket(c->pg) : -1;
  struct stat st;
  int have = fd >= 0 && fstat(fd, &st) == 0;
  struct pg_watch *w = c->w;
  if (w && (!have || w->fd != fd || w->dev != st.st_dev ||
            w->ino != st.st_ino)) {
    watch_close(c);
    if (have) c->socket_changes++;
    w = NULL;
  }
  if (!have) return events ? UV_EBADF : 0;
  if (!w) {
    if (!events) return 0;
    if (!(w = calloc(1, sizeof *w))) return UV_ENOMEM;
    int r = uv_poll_init(c->loop, &w->poll, fd);
    if (r) {
      free(w);
      return r;
    }
    w->poll.data = w;
    w->c = c;
    w->fd = fd;
    w->dev = st.st_dev;
    w->ino = st.st_ino;
    c->w = w;
    c->pending++;
    c->events = 0;
  }
  if (events != c->events) {
    int r = events ? uv_poll_start(&w->poll, events, on_ready)
                   : uv_poll_stop(&w->poll);
    if (r) return r;
    c->events = events;
  }
  return 0;
}

/* A failure known now, reported from the loop: callbacks never run inside
 * the call that started the operation. */
static void defer(struct gd_pgconn *c, enum gd_pg_fail f, const char *msg) {
  memset(&c->fail, 0, sizeof c->fail);
  c->fail.fail = f;
  c->fail.sent = c->sent;
  fmt(c->fail.msg, sizeof c->fail.msg, "%s", msg);
  c->deferred = 1;
  uv_timer_start(&c->timer, on_timer, 0, 0);
}

static void fail_now(struct gd_pgconn *c, enum gd_pg_fail f, const char *msg) {
  if (c->in_call) {
    defer(c, f, msg);
    return;
  }
  struct gd_pgreply r;
  memset(&r, 0, sizeof r);
  r.fail = f;
  r.sent = c->sent;
  fmt(r.msg, sizeof r.msg, "%s", msg);
  deliver(c, &r);
}

void gd_pgconn_close(struct gd_pgconn *c, void (*cb)(void *arg), void *arg) {
  if (!c || c->state == ST_CLOSING) return;
  c->state = ST_CLOSING;
  c->close_cb = cb;
  c->close_arg = arg;
  if (c->gai_active) uv_cancel((uv_req_t *)&c->gai);
  watch_close(c);
  uv_close((uv_handle_t *)&c->timer, timer_closed);
}

/* ---- connecting -------------------------------------------------------- */

int gd_pgconn_open(uv_loop_t *loop, const char *conninfo, uint64_t timeout_ns,
                   gd_pgconn_cb cb, void *arg, struct gd_pgconn **out,
                   struct gd_error *err) {
  char *msg = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
  if (!opts) {
    char m[256];
    compact(msg ? msg : "out of memory", m, sizeof m);
    if (msg) PQfreemem(msg);
    return gd_error_set(err, GD_EINVAL, "invalid connection string: %s", m);
  }
  struct gd_pgconn *c = calloc(1, sizeof *c);
  if (!c) {
    PQconninfoFree(opts);
    return gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  c->loop = loop;
  c->opts = opts;
  c->cb = cb;
  c->arg = arg;
  c->timeout_ns = timeout_ns;
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->pending = 1;
  c->in_call = 1;
  *out = c;
  if (timeout_ns)
    uv_timer_start(&c->timer, on_timer, (timeout_ns + 999999) / 1000000, 0);

  /* Which entries are names to resolve. When the lists do not line up,
   * libpq gets the string as it is and reports the mistake itself. */
  PQconninfoOption *h = find_opt(opts, "host");
  PQconninfoOption *a = find_opt(opts, "hostaddr");
  PQconninfoOption *p = find_opt(opts, "port");
  size_t nh, na, np;
  char **hosts = split_list(h ? h->val : NULL, &nh);
  char **addrs = split_list(a ? a->val : NULL, &na);
  char **ports = split_list(p ? p->val : NULL, &np);
  int need = 0;
  if (nh && (!na || na == nh) && (np <= 1 || np == nh) &&
      (c->entries = calloc(nh, sizeof *c->entries))) {
    c->nentries = nh;
    c->nports = (int)np;
    c->have_addrs = na > 0;
    for (size_t i = 0; i < nh; i++) {
      struct pg_entry *e = &c->entries[i];
      e->host = hosts[i];
      hosts[i] = NULL;
      e->hostaddr = strdup(na ? addrs[i] : "");
      e->port = np ? strdup(ports[np == 1 ? 0 : i]) : NULL;
      if (!e->hostaddr || (np && !e->port)) {
        need = -1;
        break;
      }
      /* "" is the default socket, '/' and '@' are Unix-domain sockets. */
      e->resolve = !e->hostaddr[0] && e->host[0] && e->host[0] != '/' &&
                   e->host[0] != '@' && !is_numeric_host(e->host);
      need |= e->resolve;
    }
  }
  free_list(hosts, nh);
  free_list(addrs, na);
  free_list(ports, np);
  if (need < 0) {
    /* Out of memory: reported like any other failure, from the loop. */
    free_entries(c);
    c->state = ST_BROKEN;
    defer(c, GD_PG_CONNECT, "out of memory");
  } else if (need) {
    c->state = ST_RESOLVING;
    c->next = 0;
    start_resolve(c);
  } else {
    free_entries(c);
    start_libpq(c, conninfo);
  }
  c->in_call = 0;
  return 0;
}

static void connect_with_entries(struct gd_pgconn *c) {
  char *hl = NULL, *al = NULL, *pl = NULL;
  size_t hn = 0, an = 0, pn = 0, count = 0;
  int any_addr = 0, oom = 0;
  for (size_t i = 0; i < c->nentries && !oom; i++) {
    struct pg_entry *e = &c->entries[i];
    if (e->resolve && !e->addrs) continue; /* did not resolve */
    char *list = e->resolve ? e->addrs : e->hostaddr;
    /* One entry per address, as libpq tries every address of a name. */
    const char *s = list;
    do {
      const char *comma = strchr(s, ',');
      int alen = (int)(comma ? (size_t)(comma - s) : strlen(s));
      char addr[64];
      fmt(addr, sizeof addr, "%.*s", alen, s);
      if (list_add(&hl, &hn, e->host) || list_add(&al, &an, addr) ||
          (e->port && list_add(&pl, &pn, e->port))) {
        oom = 1;
        break;
      }
      any_addr |= addr[0] != 0;
      count++;
      s = comma ? comma + 1 : NULL;
    } while (s);
  }
  if (oom || !count) {
    free(hl);
    free(al);
    free(pl);
    c->state = ST_BROKEN;
    if (oom)
      fail_now(c, GD_PG_CONNECT, "out of memory");
    else
      fail_now(c, GD_PG_DNS, c->dns_errors);
    return;
  }
  /* Every other option as given; host, hostaddr and port rebuilt. */
  size_t nopts = 0;
  for (PQconninfoOption *o = c->opts; o->keyword; o++) nopts++;
  const char **kw = calloc(nopts + 5, sizeof *kw);
  const char **val = calloc(nopts + 5, sizeof *val);
  if (!kw || !val) {
    free(kw);
    free(val);
    free(hl);
    free(al);
    free(pl);
    c->state = ST_BROKEN;
    fail_now(c, GD_PG_CONNECT, "out of memory");
    return;
  }
  size_t k = 0;
  int has_fallback = 0;
  for (PQconninfoOption *o = c->opts; o->keyword; o++) {
    if (!o->val || !strcmp(o->keyword, "host") ||
        !strcmp(o->keyword, "hostaddr") || !strcmp(o->keyword, "port"))
      continue;
    has_fallback |= !strcmp(o->keyword, "fallback_application_name");
    kw[k] = o->keyword;
    val[k++] = o->val;
  }
  kw[k] = "host";
  val[k++] = hl;
  if (any_addr) {
    kw[k] = "hostaddr";
    val[k++] = al;
  }
  if (pl) {
    kw[k] = "port";
    val[k++] = pl;
  }
  if (!has_fallback) {
    kw[k] = "fallback_application_name";
    val[k++] = "gameday";
  }
  kw[k] = NULL;
  val[k] = NULL;
  c->pg = PQconnectStartParams(kw, val, 0);
  free(kw);
  free(val);
  free(hl);
  free(al);
  free(pl);
  free_entries(c);
  start_libpq(c, NULL);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  struct gd_pgconn *c = req->data;
  c->gai_active = 0;
  c->pending--;
  if (c->state != ST_RESOLVING) { /* closed or timed out meanwhile */
    if (res) uv_freeaddrinfo(res);
    maybe_free(c);
    return;
  }
  struct pg_entry *e = &c->entries[c->next];
  size_t len = 0;
  if (status == 0) {
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
      char addr[INET6_ADDRSTRLEN];
      const void *src =
          ai->ai_family == AF_INET
              ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
          : ai->ai_family == AF_INET6
              ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
              : NULL;
      if (!src || !inet_ntop(ai->ai_family, src, addr, sizeof addr)) continue;
      /* getaddrinfo repeats an address per socket type at times. */
      if (list_has(e->addrs, addr)) continue;
      if (list_add(&e->addrs, &len, addr)) break;
    }
  }
  if (res) uv_freeaddrinfo(res);
  if (!e->addrs) {
    size_t dl = strlen(c->dns_errors);
    fmt(c->dns_errors + dl, sizeof c->dns_errors - dl,
        "%scould not translate host name \"%s\": %s", dl ? "; " : "",
        e->host, status ? uv_strerror(status) : "no address");
  }
  c->next++;
  start_resolve(c);
}

static void start_resolve(struct gd_pgconn *c) {
  while (c->next < c->nentries && !c->entries[c->next].resolve) c->next++;
  if (c->next == c->nentries) {
    connect_with_entries(c);
    return;
  }
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  c->gai.data = c;
  int r = uv_getaddrinfo(c->loop, &c->gai, on_resolved,
                         c->entries[c->next].host, NULL, &hints);
  if (r) {
    size_t dl = strlen(c->dns_errors);
    fmt(c->dns_errors + dl, sizeof c->dns_errors - dl,
        "%scould not translate host name \"%s\": %s", dl ? "; " : "",
        c->entries[c->next].host, uv_strerror(r));
    c->next++;
    start_resolve(c); /* bounded by the number of entries */
    return;
  }
  c->gai_active = 1;
  c->pending++;
}

static void connect_poll(struct gd_pgconn *c, PostgresPollingStatusType st);

/* With conninfo: start from the string; without: c->pg is already made. */
static void start_libpq(struct gd_pgconn *c, const char *conninfo) {
  if (conninfo) {
    const char *kw[] = {"dbname", "fallback_application_name", NULL};
    const char *val[] = {conninfo, "gameday", NULL};
    c->pg = PQconnectStartParams(kw, val, 1);
  }
  c->state = ST_CONNECTING;
  if (!c->pg) {
    c->state = ST_BROKEN;
    defer(c, GD_PG_CONNECT, "out of memory");
    return;
  }
  PQsetNoticeProcessor(c->pg, quiet_notices, NULL);
  if (PQstatus(c->pg) == CONNECTION_BAD) {
    /* Failed before any wait (every host refused at once, say). */
    char m[256];
    c->state = ST_BROKEN;
    compact(PQerrorMessage(c->pg), m, sizeof m);
    defer(c, connect_class(PQerrorMessage(c->pg)), m);
    return;
  }
  /* libpq's protocol: first wait as if PGRES_POLLING_WRITING. */
  connect_poll(c, PGRES_POLLING_WRITING);
}

static void connect_poll(struct gd_pgconn *c, PostgresPollingStatusType st) {
  if (st == PGRES_POLLING_OK) {
    PQsetnonblocking(c->pg, 1);
    c->state = ST_IDLE;
    struct gd_pgreply r;
    memset(&r, 0, sizeof r);
    if (watch_sync(c, UV_READABLE) != 0) {
      c->state = ST_BROKEN;
      fail_now(c, GD_PG_CONNECT, "cannot watch the connection's socket");
      return;
    }
    deliver(c, &r);
    return;
  }
  if (st == PGRES_POLLING_FAILED) {
    char m[256], full[256];
    const char *pm = PQerrorMessage(c->pg);
    c->state = ST_BROKEN;
    watch_sync(c, 0);
    compact(pm, m, sizeof m);
    /* Hosts that did not resolve were never handed to libpq. */
    fmt(full, sizeof full, "%s%s%s", c->dns_errors,
        c->dns_errors[0] ? "; " : "", m);
    fail_now(c, c->dns_errors[0] ? GD_PG_CONNECT : connect_class(pm), full);
    return;
  }
  int r = watch_sync(c, st == PGRES_POLLING_READING ? UV_READABLE
                                                    : UV_WRITABLE);
  if (r) {
    char m[128];
    fmt(m, sizeof m, "cannot watch the connection's socket: %s",
        uv_strerror(r));
    c->state = ST_BROKEN;
    fail_now(c, GD_PG_CONNECT, m);
  }
}

/* ---- queries ----------------------------------------------------------- */

static int is_error(const PGresult *r) {
  ExecStatusType s = PQresultStatus(r);
  return s == PGRES_FATAL_ERROR || s == PGRES_BAD_RESPONSE ||
         s == PGRES_NONFATAL_ERROR;
}

static void result_reply(struct gd_pgconn *c, struct gd_pgreply *r) {
  memset(r, 0, sizeof *r);
  r->sent = 1;
  const PGresult *res = c->res;
  int bad = !c->pg || PQstatus(c->pg) == CONNECTION_BAD;
  if (!res || !is_error(res)) {
    if (res || !bad) return;
    r->fail = GD_PG_LOST;
    char m[200];
    compact(c->pg ? PQerrorMessage(c->pg) : "", m, sizeof m);
    fmt(r->msg, sizeof r->msg, "connection lost: %s", m);
    return;
  }
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  if (state) {
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    r->fail = GD_PG_SQL;
    fmt(r->sqlstate, sizeof r->sqlstate, "%s", state);
    r->fatal = sev && (!strcmp(sev, "FATAL") || !strcmp(sev, "PANIC"));
    fmt(r->msg, sizeof r->msg, "%s %s: %s", sev ? sev : "ERROR", state,
        primary ? primary : "");
    return;
  }
  char m[200];
  compact(PQresultErrorMessage(res), m, sizeof m);
  /* libpq piles up follow-on complaints ("invalid socket") after the one
   * that says what happened. */
  char *more = strstr(m, "; ");
  if (bad && more) *more = 0;
  if (bad) {
    r->fail = GD_PG_LOST;
    fmt(r->msg, sizeof r->msg, "connection lost: %s", m);
  } else {
    r->fail = GD_PG_SQL;
    fmt(r->msg, sizeof r->msg, "%s", m);
  }
}

/* Reads every result that is complete; delivers once the last is in. */
static void collect(struct gd_pgconn *c) {
  int copy = 0;
  for (;;) {
    if (PQisBusy(c->pg)) {
      int r = watch_sync(c, UV_READABLE | (c->flushing ? UV_WRITABLE : 0));
      if (r == 0) return;
      c->state = ST_BROKEN;
      fail_now(c, GD_PG_LOST, "connection lost: socket closed");
      return;
    }
    PGresult *res = PQgetResult(c->pg);
    if (!res) break;
    ExecStatusType s = PQresultStatus(res);
    if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH) {
      /* The protocol would wait for copy data: no way back to idle. */
      PQclear(res);
      copy = 1;
      break;
    }
    if (c->res && is_error(c->res)) {
      PQclear(res);
    } else {
      if (c->res) PQclear(c->res);
      c->res = res;
    }
  }
  if (copy) {
    c->state = ST_BROKEN;
    watch_sync(c, 0);
    fail_now(c, GD_PG_SQL, "COPY is not supported here");
    return;
  }
  c->state = PQstatus(c->pg) == CONNECTION_OK ? ST_IDLE : ST_BROKEN;
  struct gd_pgreply r;
  result_reply(c, &r);
  if (watch_sync(c, c->state == ST_IDLE ? UV_READABLE : 0) != 0)
    c->state = ST_BROKEN;
  deliver(c, &r);
}

int gd_pgconn_query(struct gd_pgconn *c, const char *sql, int nparams,
                    const char *const *values, uint64_t timeout_ns,
                    gd_pgconn_cb cb, void *arg, struct gd_error *err) {
  if (c->state != ST_IDLE && c->state != ST_BROKEN)
    return gd_error_set(err, GD_ESTATE, "connection is %s",
                        c->state == ST_CLOSING ? "closing" : "busy");
  c->cb = cb;
  c->arg = arg;
  c->sent = 0;
  c->flushing = 0;
  if (c->state == ST_BROKEN || !c->pg || PQstatus(c->pg) != CONNECTION_OK) {
    char m[200] = "";
    c->state = ST_BROKEN;
    if (c->pg) compact(PQerrorMessage(c->pg), m, sizeof m);
    char msg[256];
    fmt(msg, sizeof msg, "connection lost%s%s", m[0] ? ": " : "", m);
    defer(c, GD_PG_LOST, msg);
    return 0;
  }
  int ok = nparams ? PQsendQueryParams(c->pg, sql, nparams, NULL, values,
                                       NULL, NULL, 0)
                   : PQsendQuery(c->pg, sql);
  if (!ok) {
    char m[200];
    compact(PQerrorMessage(c->pg), m, sizeof m);
    int bad = PQstatus(c->pg) != CONNECTION_OK;
    c->state = bad ? ST_BROKEN : ST_IDLE;
    if (bad) watch_sync(c, 0);
    char msg[256];
    fmt(msg, sizeof msg, "%s%s", bad ? "connection lost: " : "", m);
    defer(c, bad ? GD_PG_LOST : GD_PG_SQL, msg);
    return 0;
  }
  c->sent = 1;
  c->state = ST_BUSY;
  c->in_call = 1;
  int f = PQflush(c->pg);
  c->flushing = f == 1;
  if (timeout_ns) {
    c->timeout_ns = timeout_ns;
    uv_timer_start(&c->timer, on_timer, (timeout_ns + 999999) / 1000000, 0);
  }
  /* A failed flush shows as an error result once the socket is read. */
  if (watch_sync(c, UV_READABLE | (c->flushing ? UV_WRITABLE : 0)) != 0) {
    c->state = ST_BROKEN;
    defer(c, GD_PG_LOST, "connection lost: socket closed");
  }
  c->in_call = 0;
  return 0;
}

static void on_ready(uv_poll_t *h, int status, int events) {
  struct pg_watch *w = h->data;
  struct gd_pgconn *c = w->c;
  if (status < 0) events = UV_READABLE | (c->flushing ? UV_WRITABLE : 0);
  switch (c->state) {
  case ST_CONNECTING:
    /* Stopped before libpq may close this descriptor (top of file). */
    uv_poll_stop(h);
    c->events = 0;
    connect_poll(c, PQconnectPoll(c->pg));
    return;
  case ST_BUSY:
    if (events & UV_WRITABLE) {
      int f = PQflush(c->pg);
      c->flushing = f == 1;
    }
    if (events & UV_READABLE) PQconsumeInput(c->pg); /* errors: a result */
    collect(c);
    return;
  case ST_IDLE:
    /* Nothing asked: the server closed the session (shutdown, failover,
     * idle timeout) or sent a notice. Seeing it now means the next query
     * opens a fresh connection instead of failing on this one. */
    if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK) {
      c->state = ST_BROKEN;
      watch_sync(c, 0);
      return;
    }
    for (PGnotify *n; (n = PQnotifies(c->pg));) PQfreemem(n);
    return;
  default:
    uv_poll_stop(h);
    c->events = 0;
    return;
  }
}

static void on_timer(uv_timer_t *t) {
  struct gd_pgconn *c = t->data;
  if (c->deferred) {
    struct gd_pgreply r = c->fail;
    deliver(c, &r);
    return;
  }
  if (!c->cb) return;
  char m[96];
  unsigned long long ms = (unsigned long long)(c->timeout_ns / 1000000u);
  int connecting = c->state == ST_RESOLVING || c->state == ST_CONNECTING;
  if (connecting)
    fmt(m, sizeof m, "no connection within %llu ms", ms);
  else
    fmt(m, sizeof m, "no answer within %llu ms", ms);
  /* A request already running cannot be recalled (PQcancel blocks): the
   * connection is left for the caller to close. */
  c->state = ST_BROKEN;
  if (c->gai_active) uv_cancel((uv_req_t *)&c->gai);
  if (c->w) {
    uv_poll_stop(&c->w->poll);
    c->events = 0;
  }
  fail_now(c, GD_PG_TIMEOUT, m);
}

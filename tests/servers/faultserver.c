/*
 * faultserver: a small HTTP/1.1 server whose failures are scheduled, so the
 * harness can be measured against a known truth.
 *
 * Two listeners, both on loopback: the service port, which answers every
 * request with 200 "ok\n" unless a fault window says otherwise, and the
 * control port, which schedules those windows and is never faulted itself.
 *
 *   POST /fault?mode=MODE&for_ms=N[&after_ms=M]   schedule one window:
 *        {"id", "mode", "start_ns", "end_ns"} (planned)
 *   GET  /faults    every window so far, in id order: "id", "mode", "state"
 *                   (pending, active, ended, cancelled), "planned_start_ns",
 *                   "planned_end_ns", "start_ns", "end_ns" (actual; null
 *                   until it happened), "requests_failed"
 *   POST /reset     ends the active windows now (their end_ns records it)
 *                   and cancels the pending ones; the history is kept
 *   GET  /stats     counters ("requests", "ok", "failed", "connections",
 *                   "fault_requests", ...)
 *   POST /exit      exit 0, like SIGTERM
 *
 * Modes: "503" answers 503, "hang" reads the request and never answers (the
 * connection is closed when the window ends), "reset" closes the connection
 * with a RST as soon as a request arrives, "refuse" closes the listening
 * socket for the window (connects are refused) and closes the keep-alive
 * connections open at its start. requests_failed counts the requests a
 * window failed; a refused connect never becomes a request, so "refuse"
 * counts none.
 *
 * For 503/hang/reset the decision is taken per request, comparing uv_hrtime()
 * at the request's arrival with [start, end): the window is exact, so the
 * planned times are the actual ones. "refuse" needs a timer to close and
 * reopen the listener; timers are late by up to a few ms, so the instants
 * at which that really happened are recorded and reported instead.
 *
 * uv_hrtime() is CLOCK_MONOTONIC, the clock gameday stamps its journal with,
 * so a test can compare the server's windows with the harness's figures.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define HEAD_MAX 16384          /* request line and headers */
#define LINE_MAX_CHUNK 1024     /* chunk-size line */
#define BODY_MAX (1u << 20)     /* request body, skipped, never stored */
#define TARGET_MAX 1024         /* kept only to route control requests */
#define OUT_FLUSH 65536         /* flush a pipelined batch at this size */
#define WQ_HIGH (1u << 20)      /* stop reading a client that does not read */
#define MS_MAX 86400000ull      /* one day: longer is certainly a typo */
#define LINGER_MS 1000          /* wait for the client's close after ours */
#define NS_PER_MS 1000000ull

enum mode { M_503, M_HANG, M_REFUSE, M_RESET };
static const char *const mode_names[] = {"503", "hang", "refuse", "reset"};

enum wstate { W_PENDING, W_ACTIVE, W_ENDED };

struct server;

struct window {
  uv_timer_t timer;
  struct server *srv;
  struct window *next;
  unsigned id;
  enum mode mode;
  enum wstate state;          /* as seen by the timer; requests use times */
  uint64_t planned_start, planned_end;
  uint64_t start, end;        /* refuse: actual instants, 0 until they happen */
  uint64_t cut;               /* POST /reset instant, 0 when none */
  uint64_t failed;
};

struct listener {
  uv_tcp_t tcp;
  struct server *srv;
  int control;
};

enum body { B_NONE, B_LENGTH, B_CHUNK_SIZE, B_CHUNK_DATA, B_CHUNK_CRLF,
            B_TRAILER };

struct req {
  char method[16];
  char target[TARGET_MAX];
  int target_long;
  int head;
  int keep_alive;
  int expect_continue;
  int chunked;
  int http10;
  uint64_t content_length;
  /* seen while parsing the head */
  int tok_close, tok_keep_alive, te_unsupported;
};

struct conn {
  uv_tcp_t tcp;
  uv_shutdown_t shutdown_req;
  struct server *srv;
  struct conn *prev, *next;
  int control;
  unsigned held;              /* id of the hang window holding it */
  int closing;
  int shutting;
  int draining;               /* last answer given; input is discarded */
  int paused;
  int eof;                    /* the client has finished sending */
  int lingering;              /* shut down; waiting for the client's close */
  uint64_t linger_until;      /* loop time (ms) */
  int exit_after;             /* POST /exit: stop the server once flushed */
  enum body body;             /* request whose body is still arriving */
  uint64_t body_left, body_total;
  struct req pend;
  size_t len;
  char buf[HEAD_MAX];
};

struct wreq {
  uv_write_t req;
  struct conn *c;
  char data[];
};

struct stats {
  uint64_t requests, ok, failed, bad, connections;
  uint64_t control_requests, fault_requests, resets;
};

struct sbuf {
  char *p;
  size_t len, cap;
};

struct server {
  uv_loop_t *loop;
  uv_signal_t sigterm, sigint;
  uv_timer_t reaper;          /* ends lingering connections */
  struct sockaddr_storage addr;
  int port, ctl_port;
  struct listener *svc, *ctl;
  struct conn *conns;
  struct window *windows, *windows_tail;
  unsigned next_id;
  int refusing;               /* refuse windows in force */
  int stopping;
  struct stats st;
  struct sbuf out;            /* answers of the batch being processed */
};

static void server_stop(struct server *srv);
static void conn_close(struct conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

/* ---- small helpers ---- */

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q) {
    fprintf(stderr, "faultserver: out of memory\n");
    abort();
  }
  return q;
}

static void sb_grow(struct sbuf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra + 1) cap *= 2;
  b->p = xrealloc(b->p, cap);
  b->cap = cap;
}

static void sb_add(struct sbuf *b, const char *s, size_t n) {
  sb_grow(b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  sb_grow(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Control answers quote what the client sent, which may be anything. */
static void sb_json_str(struct sbuf *b, const char *s) {
  sb_add(b, "\"", 1);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      sb_printf(b, "\\%c", ch);
    else if (ch < 0x20 || ch >= 0x7f)
      sb_printf(b, "\\u%04x", ch);
    else
      sb_add(b, s, 1);
  }
  sb_add(b, "\"", 1);
}

static void sb_ns(struct sbuf *b, uint64_t ns) {
  if (ns)
    sb_printf(b, "%" PRIu64, ns);
  else
    sb_add(b, "null", 4);
}

static int ieq(const char *a, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n != m) return 0;
  for (size_t i = 0; i < n; i++)
    if (tolower((unsigned char)a[i]) != lit[i]) return 0;
  return 1;
}

static int is_tchar(unsigned char ch) {
  return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}


/* Start of the "\r\n\r\n" that ends a request head in p[0..n), or NULL. */
static char *find_head_end(char *p, size_t n) {
  size_t i = 3;
  while (i < n) {
    char *lf = memchr(p + i, '\n', n - i);
    if (!lf) return NULL;
    size_t k = (size_t)(lf - p);
    if (p[k - 1] == '\r' && p[k - 2] == '\n' && p[k - 3] == '\r')
      return p + k - 3;
    i = k + 1;
  }
  return NULL;
}

/* Calls fn for each comma-separated token of a header value, trimmed. */
static void each_token(const char *v, size_t n,
                       void (*fn)(const char *, size_t, struct req *),
                       struct req *r) {
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && v[j] != ',') j++;
    size_t a = i, b = j;
    while (a < b && (v[a] == ' ' || v[a] == '\t')) a++;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) b--;
    if (b > a) fn(v + a, b - a, r);
    i = j + 1;
  }
}

static void connection_token(const char *t, size_t n, struct req *r) {
  if (ieq(t, n, "close")) r->tok_close = 1;
  if (ieq(t, n, "keep-alive")) r->tok_keep_alive = 1;
}

static void te_token(const char *t, size_t n, struct req *r) {
  /* Only a lone "chunked" can be skipped without decoding the body. */
  if (ieq(t, n, "chunked") && !r->chunked)
    r->chunked = 1;
  else
    r->te_unsupported = 1;
}

/* Parses the request head p[0..n) (ending with "\r\n\r\n"). Returns 0, or
 * the status to refuse the request with. */
static int parse_head(const char *p, size_t n, struct req *r) {
  const char *end = p + n - 2;           /* the final empty line */
  const char *e = memchr(p, '\r', (size_t)(end - p) + 1);
  if (!e || e[1] != '\n') return 400;

  r->target[0] = 0;
  r->target_long = r->head = r->keep_alive = 0;
  r->expect_continue = r->chunked = 0;
  r->content_length = 0;
  r->tok_close = r->tok_keep_alive = r->te_unsupported = 0;
  int have_cl = 0;

  /* request-line = method SP request-target SP HTTP-version */
  const char *s = p;
  size_t m = 0;
  while (s + m < e && is_tchar((unsigned char)s[m])) m++;
  if (m == 0 || m >= sizeof r->method || s + m >= e || s[m] != ' ')
    return 400;
  memcpy(r->method, s, m);
  r->method[m] = 0;
  s += m + 1;
  const char *t = s;
  while (s < e && (unsigned char)*s > ' ' && *s != 0x7f) s++;
  if (s == t || s >= e || *s != ' ') return 400;
  size_t tl = (size_t)(s - t);
  if (tl >= sizeof r->target) {
    r->target_long = 1;
    tl = sizeof r->target - 1;
  }
  memcpy(r->target, t, tl);
  r->target[tl] = 0;
  s++;
  if (e - s != 8 || memcmp(s, "HTTP/", 5) != 0 || !isdigit((unsigned char)s[5])
      || s[6] != '.' || !isdigit((unsigned char)s[7]))
    return 400;
  if (s[5] != '1') return 505;
  r->http10 = s[7] == '0';
  r->head = strcmp(r->method, "HEAD") == 0;

  /* header fields */
  s = e + 2;
  while (s < end) {
    e = memchr(s, '\r', (size_t)(end - s) + 1);
    if (!e || e[1] != '\n') return 400;
    if (*s == ' ' || *s == '\t') return 400;  /* obsolete line folding */
    const char *name = s;
    while (s < e && is_tchar((unsigned char)*s)) s++;
    size_t nl = (size_t)(s - name);
    if (nl == 0 || s >= e || *s != ':') return 400;
    s++;
    for (const char *q = s; q < e; q++)
      if (((unsigned char)*q < ' ' && *q != '\t') || *q == 0x7f) return 400;
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    const char *ve = e;
    while (ve > s && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
    size_t vl = (size_t)(ve - s);

    if (ieq(name, nl, "content-length")) {
      uint64_t v = 0;
      if (vl == 0) return 400;
      for (size_t i = 0; i < vl; i++) {
        if (!isdigit((unsigned char)s[i])) return 400;
        if (v > BODY_MAX) break;
        v = v * 10 + (uint64_t)(s[i] - '0');
      }
      if (have_cl && v != r->content_length) return 400;
      have_cl = 1;
      r->content_length = v;
    } else if (ieq(name, nl, "transfer-encoding")) {
      each_token(s, vl, te_token, r);
    } else if (ieq(name, nl, "connection")) {
      each_token(s, vl, connection_token, r);
    } else if (ieq(name, nl, "expect")) {
      if (ieq(s, vl, "100-continue")) r->expect_continue = 1;
    }
    s = e + 2;
  }
  if (r->te_unsupported) return 501;
  /* Both framings at once is how requests get smuggled: refuse. */
  if (r->chunked && have_cl) return 400;
  if (r->content_length > BODY_MAX) return 413;
  r->keep_alive = r->http10 ? r->tok_keep_alive && !r->tok_close
                            : !r->tok_close;
  return 0;
}

/* ---- connections and answers ---- */

static const char *status_text(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 431: return "Request Header Fields Too Large";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

static void on_conn_closed(uv_handle_t *h) {
  free(h->data);
}

static void conn_unlink(struct conn *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    c->srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

static void conn_close(struct conn *c) {
  if (c->closing) return;
  c->closing = 1;
  conn_unlink(c);
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* SO_LINGER 0: the client sees ECONNRESET, not an orderly end. */
static void conn_reset(struct conn *c) {
  if (c->closing) return;
  c->closing = 1;
  conn_unlink(c);
  if (uv_tcp_close_reset(&c->tcp, on_conn_closed) != 0)
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_write(uv_write_t *req, int status) {
  struct wreq *w = (struct wreq *)req;
  struct conn *c = w->c;
  free(w);
  if (c->closing) return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (c->paused &&
      uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < WQ_HIGH / 2) {
    c->paused = 0;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
      conn_close(c);
  }
}

/* Sends what the batch answered. Most writes complete at once; the rest is
 * copied and queued behind any earlier remainder, so answers keep their
 * order. */
static void flush(struct conn *c) {
  struct sbuf *o = &c->srv->out;
  if (!o->len) return;
  if (c->closing) {
    o->len = 0;
    return;
  }
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  uv_buf_t b = uv_buf_init(o->p, (unsigned)o->len);
  int n = uv_try_write(s, &b, 1);
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) {
    o->len = 0;
    conn_close(c);
    return;
  }
  if ((size_t)n < o->len) {
    size_t rest = o->len - (size_t)n;
    struct wreq *w = xrealloc(NULL, sizeof *w + rest);
    w->c = c;
    memcpy(w->data, o->p + n, rest);
    b = uv_buf_init(w->data, (unsigned)rest);
    if (uv_write(&w->req, s, &b, 1, on_write) != 0) {
      free(w);
      o->len = 0;
      conn_close(c);
      return;
    }
    /* A client that pipelines without reading must not make us buffer
     * without bound. */
    if (!c->paused && uv_stream_get_write_queue_size(s) > WQ_HIGH) {
      c->paused = 1;
      uv_read_stop(s);
    }
  }
  o->len = 0;
}

/* Appends one answer to the batch. Without keep-alive the connection
 * drains: later requests are ignored and it is shut down once flushed. */
static void respond(struct conn *c, const struct req *r, int status,
                    const char *ctype, const char *body, size_t blen) {
  struct sbuf *o = &c->srv->out;
  int keep = r && r->keep_alive;
  sb_printf(o,
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: %s\r\n"
            "Content-Length: %zu\r\n"
            "%s"
            "\r\n",
            status, status_text(status), ctype, blen,
            !keep ? "Connection: close\r\n"
                  : r->http10 ? "Connection: keep-alive\r\n" : "");
  if (!(r && r->head)) sb_add(o, body, blen);
  if (!keep) c->draining = 1;
  if (o->len >= OUT_FLUSH) flush(c);
}

static void respond_text(struct conn *c, const struct req *r, int status,
                         const char *text) {
  respond(c, r, status, "text/plain", text, strlen(text));
}

static void respond_json(struct conn *c, const struct req *r, int status,
                         const struct sbuf *b) {
  respond(c, r, status, "application/json", b->p, b->len);
}

static void respond_error(struct conn *c, const struct req *r, int status,
                          const char *msg) {
  struct sbuf b = {0};
  sb_add(&b, "{\"error\": ", 10);
  sb_json_str(&b, msg);
  sb_add(&b, "}\n", 2);
  respond_json(c, r, status, &b);
  free(b.p);
}

static void reject(struct conn *c, int status) {
  c->srv->st.bad++;
  char msg[80];
  snprintf(msg, sizeof msg, "%s\n", status_text(status));
  respond_text(c, NULL, status, msg);
}

static void conn_shutdown(struct conn *c);

/* Closing while the client may still be sending would answer its data
 * with a RST, which can destroy our last answer before it is read: after
 * our FIN, wait (discarding input) for the client's, for LINGER_MS at most. */
static void on_shutdown(uv_shutdown_t *req, int status) {
  struct conn *c = req->data;
  if (c->exit_after) server_stop(c->srv);
  if (status < 0 || c->eof || c->closing) {
    conn_close(c);
    return;
  }
  c->lingering = 1;
  c->linger_until = uv_now(c->srv->loop) + LINGER_MS;
}

static void on_reap(uv_timer_t *t) {
  struct server *srv = t->data;
  uint64_t now = uv_now(srv->loop);
  struct conn *c = srv->conns, *next;
  for (; c; c = next) {
    next = c->next;
    if (c->lingering && now >= c->linger_until) conn_close(c);
  }
}

/* Orderly end after the queued answers have gone out. */
static void conn_shutdown(struct conn *c) {
  if (c->closing || c->shutting) return;
  c->shutting = 1;
  c->draining = 1;
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    if (c->exit_after) server_stop(c->srv);
    conn_close(c);
  }
}

/* ---- fault windows ---- */

static void on_window_timer(uv_timer_t *t);

static void window_arm(struct window *w, uint64_t at) {
  uint64_t now = uv_hrtime();
  uint64_t ms = at > now ? (at - now + NS_PER_MS - 1) / NS_PER_MS : 0;
  /* The timer counts from the loop's cached time, which may be stale. */
  uv_update_time(w->srv->loop);
  uv_timer_start(&w->timer, on_window_timer, ms, 0);
}

static int listener_open(struct server *srv, int control, int port,
                         struct listener **out);
static void listener_close(struct listener *l);

static void refuse_begin(struct server *srv) {
  if (srv->refusing++ > 0) return;
  if (srv->svc) {
    listener_close(srv->svc);
    srv->svc = NULL;
  }
  /* Idle keep-alive connections would otherwise keep being served. */
  struct conn *c = srv->conns, *next;
  for (; c; c = next) {
    next = c->next;
    if (!c->control) conn_close(c);
  }
}

static int refuse_end(struct server *srv) {
  if (srv->refusing == 1 && !srv->svc &&
      listener_open(srv, 0, srv->port, &srv->svc) != 0)
    return -1;
  srv->refusing--;
  return 0;
}

static void release_held(struct window *w) {
  struct conn *c = w->srv->conns, *next;
  for (; c; c = next) {
    next = c->next;
    if (c->held == w->id) conn_close(c);
  }
}

/* Ends an active window now. */
static void window_finish(struct window *w) {
  if (w->mode == M_REFUSE) {
    if (refuse_end(w->srv) != 0) {
      uv_timer_start(&w->timer, on_window_timer, 5, 0);
      return;
    }
    w->end = uv_hrtime();
  } else if (w->mode == M_HANG) {
    release_held(w);
  }
  w->state = W_ENDED;
}

static void on_window_timer(uv_timer_t *t) {
  struct window *w = t->data;
  uint64_t now = uv_hrtime();
  if (w->state == W_PENDING) {
    if (now < w->planned_start) {
      window_arm(w, w->planned_start);
      return;
    }
    w->state = W_ACTIVE;
    if (w->mode == M_REFUSE) {
      refuse_begin(w->srv);
      w->start = uv_hrtime();
    }
    window_arm(w, w->planned_end);
  } else if (w->state == W_ACTIVE) {
    if (now < w->planned_end && !w->cut) {
      window_arm(w, w->planned_end);
      return;
    }
    window_finish(w);
  }
}

static struct window *window_add(struct server *srv, enum mode mode,
                                 uint64_t after_ms, uint64_t for_ms,
                                 uint64_t now) {
  struct window *w = xrealloc(NULL, sizeof *w);
  memset(w, 0, sizeof *w);
  w->srv = srv;
  w->id = ++srv->next_id;
  w->mode = mode;
  w->state = W_PENDING;
  w->planned_start = now + after_ms * NS_PER_MS;
  w->planned_end = w->planned_start + for_ms * NS_PER_MS;
  uv_timer_init(srv->loop, &w->timer);
  w->timer.data = w;
  if (srv->windows_tail)
    srv->windows_tail->next = w;
  else
    srv->windows = w;
  srv->windows_tail = w;
  window_arm(w, w->planned_start);
  return w;
}

/* The per-request window in force at t, if any. Exact: it compares times,
 * whatever the timers have done so far; a window is marked ended only once
 * its end has passed, so skipping those is safe. */
static struct window *fault_at(struct server *srv, uint64_t t) {
  for (struct window *w = srv->windows; w; w = w->next) {
    if (w->mode == M_REFUSE || w->state == W_ENDED) continue;
    if (t >= w->planned_start && t < w->planned_end && (!w->cut || t < w->cut))
      return w;
  }
  return NULL;
}

static void windows_reset(struct server *srv, uint64_t now) {
  for (struct window *w = srv->windows; w; w = w->next) {
    if (w->state == W_ENDED) continue;
    uv_timer_stop(&w->timer);
    w->cut = now;
    int started = w->mode == M_REFUSE ? w->state == W_ACTIVE
                                      : now >= w->planned_start;
    if (!started)
      w->state = W_ENDED;  /* cancelled before it began */
    else
      window_finish(w);
  }
}

static void window_json(struct sbuf *b, const struct window *w, uint64_t now) {
  uint64_t s, e;
  int cancelled;
  const char *state;
  if (w->mode == M_REFUSE) {
    s = w->start;
    e = w->end;
    cancelled = w->state == W_ENDED && !w->start;
    state = cancelled ? "cancelled"
            : w->state == W_PENDING ? "pending"
            : w->state == W_ACTIVE ? "active" : "ended";
  } else {
    e = w->planned_end;
    if (w->cut && w->cut < e) e = w->cut;
    cancelled = e <= w->planned_start;
    s = cancelled ? 0 : w->planned_start;
    if (cancelled) e = 0;
    state = cancelled ? "cancelled"
            : now >= e ? "ended"
            : now >= s ? "active" : "pending";
  }
  sb_printf(b, "{\"id\": %u, \"mode\": \"%s\", \"state\": \"%s\", "
               "\"planned_start_ns\": %" PRIu64 ", \"planned_end_ns\": %" PRIu64
               ", \"start_ns\": ",
            w->id, mode_names[w->mode], state, w->planned_start,
            w->planned_end);
  sb_ns(b, s);
  sb_add(b, ", \"end_ns\": ", 12);
  sb_ns(b, e);
  sb_printf(b, ", \"requests_failed\": %" PRIu64 "}", w->failed);
}

/* ---- the two ports ---- */

static void service_handle(struct conn *c, const struct req *r, uint64_t now) {
  struct server *srv = c->srv;
  srv->st.requests++;
  struct window *w = fault_at(srv, now);
  if (!w) {
    srv->st.ok++;
    respond_text(c, r, 200, "ok\n");
    return;
  }
  w->failed++;
  srv->st.failed++;
  switch (w->mode) {
  case M_503:
    respond_text(c, r, 503, "unavailable\n");
    break;
  case M_HANG:
    /* Answers queued for earlier pipelined requests still go out. */
    c->held = w->id;
    break;
  case M_RESET:
    flush(c);
    conn_reset(c);
    break;
  case M_REFUSE:
    break;
  }
}

static int parse_ms(const char *v, uint64_t min, uint64_t *out) {
  uint64_t n = 0;
  if (!*v) return -1;
  for (; *v; v++) {
    if (!isdigit((unsigned char)*v)) return -1;
    n = n * 10 + (uint64_t)(*v - '0');
    if (n > MS_MAX) return -1;
  }
  if (n < min) return -1;
  *out = n;
  return 0;
}

/* POST /fault?mode=MODE&for_ms=N[&after_ms=M] */
static void control_fault(struct conn *c, const struct req *r, char *query,
                          uint64_t now) {
  struct server *srv = c->srv;
  const char *mode_s = NULL, *for_s = NULL, *after_s = NULL;
  char msg[TARGET_MAX + 100];
  char *save = NULL;
  for (char *kv = query ? strtok_r(query, "&", &save) : NULL; kv;
       kv = strtok_r(NULL, "&", &save)) {
    char *v = strchr(kv, '=');
    if (v) *v++ = 0;
    const char **slot = strcmp(kv, "mode") == 0 ? &mode_s
                        : strcmp(kv, "for_ms") == 0 ? &for_s
                        : strcmp(kv, "after_ms") == 0 ? &after_s : NULL;
    if (!slot) {
      snprintf(msg, sizeof msg, "unknown parameter '%s'", kv);
      respond_error(c, r, 400, msg);
      return;
    }
    if (!v || *slot) {
      snprintf(msg, sizeof msg, "%s: %s", kv,
               v ? "given twice" : "missing value");
      respond_error(c, r, 400, msg);
      return;
    }
    *slot = v;
  }
  if (!mode_s || !for_s) {
    snprintf(msg, sizeof msg, "missing parameter '%s'",
             !mode_s ? "mode" : "for_ms");
    respond_error(c, r, 400, msg);
    return;
  }
  int mode = -1;
  for (int i = 0; i < 4; i++)
    if (strcmp(mode_s, mode_names[i]) == 0) mode = i;
  if (mode < 0) {
    snprintf(msg, sizeof msg,
             "mode: unknown mode '%s' (503, hang, refuse, reset)", mode_s);
    respond_error(c, r, 400, msg);
    return;
  }
  uint64_t for_ms, after_ms = 0;
  if (parse_ms(for_s, 1, &for_ms) != 0) {
    snprintf(msg, sizeof msg, "for_ms: invalid value '%s' (1..%llu)", for_s,
             (unsigned long long)MS_MAX);
    respond_error(c, r, 400, msg);
    return;
  }
  if (after_s && parse_ms(after_s, 0, &after_ms) != 0) {
    snprintf(msg, sizeof msg, "after_ms: invalid value '%s' (0..%llu)",
             after_s, (unsigned long long)MS_MAX);
    respond_error(c, r, 400, msg);
    return;
  }
  struct window *w = window_add(srv, (enum mode)mode, after_ms, for_ms, now);
  struct sbuf b = {0};
  sb_printf(&b, "{\"id\": %u, \"mode\": \"%s\", \"start_ns\": %" PRIu64
                ", \"end_ns\": %" PRIu64 "}\n",
            w->id, mode_names[w->mode], w->planned_start, w->planned_end);
  respond_json(c, r, 200, &b);
  free(b.p);
}

static void control_handle(struct conn *c, struct req *r, uint64_t now) {
  struct server *srv = c->srv;
  srv->st.control_requests++;
  if (r->target_long) {
    respond_error(c, r, 414, "request target too long");
    return;
  }
  char *query = strchr(r->target, '?');
  if (query) *query++ = 0;
  const char *path = r->target;
  int get = strcmp(r->method, "GET") == 0 || r->head;
  int post = strcmp(r->method, "POST") == 0;
  int want_post = strcmp(path, "/fault") == 0 ||
                  strcmp(path, "/reset") == 0 || strcmp(path, "/exit") == 0;
  int want_get = strcmp(path, "/faults") == 0 ||
                 strcmp(path, "/stats") == 0 || strcmp(path, "/health") == 0;
  char msg[TARGET_MAX + 100];

  if (strcmp(path, "/fault") == 0) srv->st.fault_requests++;
  if (!want_post && !want_get) {
    snprintf(msg, sizeof msg, "no such path '%s'", path);
    respond_error(c, r, 404, msg);
    return;
  }
  if ((want_post && !post) || (want_get && !get)) {
    snprintf(msg, sizeof msg, "%s: method '%s' not allowed (use %s)", path,
             r->method, want_post ? "POST" : "GET");
    respond_error(c, r, 405, msg);
    return;
  }
  if (query && strcmp(path, "/fault") != 0) {
    snprintf(msg, sizeof msg, "%s: takes no parameters", path);
    respond_error(c, r, 400, msg);
    return;
  }

  struct sbuf b = {0};
  if (strcmp(path, "/fault") == 0) {
    control_fault(c, r, query, now);
  } else if (strcmp(path, "/faults") == 0) {
    sb_add(&b, "[", 1);
    for (struct window *w = srv->windows; w; w = w->next) {
      sb_add(&b, w == srv->windows ? "\n  " : ",\n  ", w == srv->windows ? 3 : 4);
      window_json(&b, w, now);
    }
    sb_add(&b, srv->windows ? "\n]\n" : "]\n", srv->windows ? 3 : 2);
    respond_json(c, r, 200, &b);
  } else if (strcmp(path, "/reset") == 0) {
    srv->st.resets++;
    windows_reset(srv, now);
    sb_add(&b, "{\"reset\": true}\n", 16);
    respond_json(c, r, 200, &b);
  } else if (strcmp(path, "/stats") == 0) {
    uint64_t open = 0;
    for (struct conn *k = srv->conns; k; k = k->next) open += !k->control;
    sb_printf(&b,
              "{\"requests\": %" PRIu64 ", \"ok\": %" PRIu64
              ", \"failed\": %" PRIu64 ", \"connections\": %" PRIu64
              ", \"fault_requests\": %" PRIu64 ", \"bad_requests\": %" PRIu64
              ", \"control_requests\": %" PRIu64 ", \"resets\": %" PRIu64
              ", \"open_connections\": %" PRIu64 ", \"refusing\": %s}\n",
              srv->st.requests, srv->st.ok, srv->st.failed,
              srv->st.connections, srv->st.fault_requests, srv->st.bad,
              srv->st.control_requests, srv->st.resets, open,
              srv->refusing ? "true" : "false");
    respond_json(c, r, 200, &b);
  } else if (strcmp(path, "/exit") == 0) {
    /* Stop once this answer is out, so the client learns it was heard. */
    c->exit_after = 1;
    r->keep_alive = 0;
    sb_add(&b, "{\"exit\": true}\n", 15);
    respond_json(c, r, 200, &b);
  } else {
    respond_text(c, r, 200, "ok\n");
  }
  free(b.p);
}

static void handle(struct conn *c, struct req *r, uint64_t now) {
  if (c->control)
    control_handle(c, r, now);
  else
    service_handle(c, r, now);
}

static int hexval(char ch) {
  return isdigit((unsigned char)ch) ? ch - '0'
                                    : tolower((unsigned char)ch) - 'a' + 10;
}

/* Parses and answers every complete request in the buffer, in order; a
 * request counts as arrived at `now`, when its last byte was read. */
static void process(struct conn *c, uint64_t now) {
  size_t off = 0;
  while (!c->closing && !c->draining && !c->held) {
    char *p = c->buf + off;
    size_t avail = c->len - off;

    if (c->body == B_LENGTH || c->body == B_CHUNK_DATA) {
      size_t k = avail < c->body_left ? avail : (size_t)c->body_left;
      off += k;
      c->body_left -= k;
      if (c->body_left) break;
      if (c->body == B_CHUNK_DATA) {
        c->body = B_CHUNK_CRLF;
      } else {
        c->body = B_NONE;
        handle(c, &c->pend, now);
      }
      continue;
    }
    if (c->body == B_CHUNK_CRLF) {
      if (avail < 2) break;
      if (p[0] != '\r' || p[1] != '\n') {
        reject(c, 400);
        break;
      }
      off += 2;
      c->body = B_CHUNK_SIZE;
      continue;
    }
    if (c->body == B_CHUNK_SIZE || c->body == B_TRAILER) {
      char *lf = memchr(p, '\n', avail);
      if (!lf) {
        if (avail >= LINE_MAX_CHUNK) reject(c, 400);
        break;
      }
      size_t ll = (size_t)(lf - p);
      if (ll == 0 || p[ll - 1] != '\r' || ll > LINE_MAX_CHUNK) {
        reject(c, 400);
        break;
      }
      off += ll + 1;
      ll--;
      if (c->body == B_TRAILER) {
        if (ll == 0) {
          c->body = B_NONE;
          handle(c, &c->pend, now);
        }
        continue;
      }
      uint64_t size = 0;
      size_t i = 0;
      for (; i < ll && isxdigit((unsigned char)p[i]) && size <= BODY_MAX; i++)
        size = size * 16 + (uint64_t)hexval(p[i]);
      if (i == 0 || (i < ll && p[i] != ';' && p[i] != ' ' && p[i] != '\t')) {
        reject(c, size > BODY_MAX ? 413 : 400);
        break;
      }
      c->body_total += size;
      if (c->body_total > BODY_MAX) {
        reject(c, 413);
        break;
      }
      c->body = size ? B_CHUNK_DATA : B_TRAILER;
      c->body_left = size;
      continue;
    }

    /* A new request; blank lines before one are tolerated (RFC 9112 2.2). */
    while (avail && (*p == '\r' || *p == '\n')) {
      p++;
      off++;
      avail--;
    }
    if (!avail) break;
    char *e = find_head_end(p, avail);
    if (!e) {
      if (avail >= HEAD_MAX) reject(c, 431);
      break;
    }
    size_t hlen = (size_t)(e - p) + 4;
    struct req r;
    int bad = parse_head(p, hlen, &r);
    off += hlen;
    if (bad) {
      reject(c, bad);
      break;
    }
    if (r.chunked || r.content_length) {
      c->pend = r;
      c->body = r.chunked ? B_CHUNK_SIZE : B_LENGTH;
      c->body_left = r.content_length;
      c->body_total = 0;
      if (r.expect_continue && off == c->len)
        sb_add(&c->srv->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
      continue;
    }
    handle(c, &r, now);
  }
  if (c->closing || c->draining || c->held) off = c->len;
  if (c->closing) return;
  memmove(c->buf, c->buf + off, c->len - off);
  c->len -= off;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  struct conn *c = h->data;
  (void)suggested;
  /* process() never leaves the buffer full: a head that does not fit has
   * been answered 431 and everything after it is discarded. */
  *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  struct conn *c = s->data;
  (void)b;
  if (c->closing) return;
  if (nread > 0) {
    c->len += (size_t)nread;
    process(c, uv_hrtime());
    if (c->closing) return;
    flush(c);
    if (c->draining && !c->closing) conn_shutdown(c);
    return;
  }
  if (nread == 0) return;
  /* The client finished sending: answer what was read, then end. A held
   * connection has nothing to send; its client gave up. */
  if (nread == UV_EOF && !c->held && !c->lingering) {
    c->eof = 1;
    conn_shutdown(c);
    return;
  }
  conn_close(c);
}

static void on_connection(uv_stream_t *server, int status) {
  struct listener *l = server->data;
  struct server *srv = l->srv;
  if (status < 0) {
    fprintf(stderr, "faultserver: accept: %s\n", uv_strerror(status));
    return;
  }
  struct conn *c = malloc(sizeof *c);
  if (!c) {
    fprintf(stderr, "faultserver: out of memory\n");
    abort();
  }
  memset(c, 0, offsetof(struct conn, buf));
  c->srv = srv;
  c->control = l->control;
  uv_tcp_init(srv->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    return;
  }
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  if (!c->control) srv->st.connections++;
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
    conn_close(c);
}

static void on_listener_closed(uv_handle_t *h) {
  free(h->data);
}

static void listener_close(struct listener *l) {
  uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}

static int listener_open(struct server *srv, int control, int port,
                         struct listener **out) {
  struct listener *l = xrealloc(NULL, sizeof *l);
  memset(l, 0, sizeof *l);
  l->srv = srv;
  l->control = control;
  uv_tcp_init(srv->loop, &l->tcp);
  l->tcp.data = l;
  struct sockaddr_storage addr = srv->addr;
  if (addr.ss_family == AF_INET)
    ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
  int rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&l->tcp, SOMAXCONN, on_connection);
  if (rc != 0) {
    fprintf(stderr, "faultserver: cannot listen on %s port %d: %s\n",
            control ? "control" : "service", port, uv_strerror(rc));
    listener_close(l);
    return rc;
  }
  *out = l;
  return 0;
}

static int listener_port(struct listener *l) {
  struct sockaddr_storage a;
  int n = sizeof a;
  if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&a, &n) != 0) return -1;
  return ntohs(a.ss_family == AF_INET ? ((struct sockaddr_in *)&a)->sin_port
                                      : ((struct sockaddr_in6 *)&a)->sin6_port);
}

/* ---- the process ---- */

static void on_window_closed(uv_handle_t *h) {
  free(h->data);
}

/* Closes every handle; uv_run returns once the last close callback ran. */
static void server_stop(struct server *srv) {
  if (srv->stopping) return;
  srv->stopping = 1;
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  uv_close((uv_handle_t *)&srv->sigint, NULL);
  uv_close((uv_handle_t *)&srv->reaper, NULL);
  if (srv->svc) listener_close(srv->svc);
  if (srv->ctl) listener_close(srv->ctl);
  srv->svc = srv->ctl = NULL;
  while (srv->conns) conn_close(srv->conns);
  struct window *w = srv->windows, *next;
  for (; w; w = next) {
    next = w->next;
    uv_close((uv_handle_t *)&w->timer, on_window_closed);
  }
  srv->windows = srv->windows_tail = NULL;
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)signum;
  server_stop(s->data);
}

/* Readers poll for the file: it must never be seen half-written. */
static int write_atomic(const char *path, const char *content) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    fprintf(stderr, "faultserver: path too long '%s'\n", path);
    return -1;
  }
  FILE *f = fopen(tmp, "w");
  if (!f) {
    fprintf(stderr, "faultserver: cannot write '%s': %s\n", tmp,
            strerror(errno));
    return -1;
  }
  int ok = fputs(content, f) >= 0;
  if (fclose(f) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    fprintf(stderr, "faultserver: cannot write '%s': %s\n", path,
            strerror(errno));
    remove(tmp);
    return -1;
  }
  return 0;
}

/* Removes the pidfile only while it still names this process, so a
 * successor's is left alone. */
static void pidfile_remove(const char *path) {
  char buf[32] = {0};
  FILE *f = fopen(path, "r");
  if (!f) return;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  if (atol(buf) == (long)getpid()) remove(path);
}

static void usage(FILE *f) {
  fputs("usage: faultserver [--host 127.0.0.1] [--port N] [--control-port N]\n"
        "                   [--port-file FILE] [--pidfile FILE] [--help]\n"
        "\n"
        "An HTTP/1.1 server on loopback whose failures are scheduled through\n"
        "a separate control port. Ports default to 0 (chosen by the kernel);\n"
        "once both listen, \"PORT CONTROLPORT\" is printed and written to\n"
        "--port-file. SIGTERM, SIGINT or POST /exit end it with status 0.\n"
        "\n"
        "service port: any request -> 200 \"ok\\n\" unless a fault is in force\n"
        "control port:\n"
        "  POST /fault?mode=MODE&for_ms=N[&after_ms=M]  schedule a window\n"
        "       MODE: 503 | hang | refuse | reset\n"
        "  GET  /faults   every window, planned and actual (uv_hrtime ns)\n"
        "  POST /reset    end every window now\n"
        "  GET  /stats    request and connection counters\n"
        "  POST /exit     exit cleanly\n",
        f);
}

static int parse_port(const char *opt, const char *v, int *out) {
  char *end;
  errno = 0;
  long n = v ? strtol(v, &end, 10) : -1;
  if (!v || !*v || errno || *end || n < 0 || n > 65535) {
    fprintf(stderr, "faultserver: %s: invalid port '%s'\n", opt,
            v ? v : "");
    return -1;
  }
  *out = (int)n;
  return 0;
}

static int resolve_host(const char *host, struct sockaddr_storage *addr) {
  memset(addr, 0, sizeof *addr);
  struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
  if (uv_ip4_addr(host, 0, a4) == 0) {
    if ((ntohl(a4->sin_addr.s_addr) >> 24) == 127) return 0;
  } else if (uv_ip6_addr(host, 0, a6) == 0) {
    if (IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr)) return 0;
  } else {
    fprintf(stderr, "faultserver: --host: not an IP address '%s'\n", host);
    return -1;
  }
  /* A server that fails on command must never be reachable from outside. */
  fprintf(stderr, "faultserver: --host: not a loopback address '%s'\n", host);
  return -1;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *port_file = NULL, *pidfile = NULL;
  int port = 0, ctl_port = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    }
    const char *eq = strchr(a, '=');
    size_t nl = eq ? (size_t)(eq - a) : strlen(a);
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
    int rc = 0;
#define IS(opt) (nl == strlen(opt) && strncmp(a, opt, nl) == 0)
    if (IS("--host"))
      host = v;
    else if (IS("--port"))
      rc = parse_port("--port", v, &port);
    else if (IS("--control-port"))
      rc = parse_port("--control-port", v, &ctl_port);
    else if (IS("--port-file"))
      port_file = v;
    else if (IS("--pidfile"))
      pidfile = v;
    else {
      fprintf(stderr, "faultserver: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    }
#undef IS
    if (!v) {
      fprintf(stderr, "faultserver: %.*s: missing value\n", (int)nl, a);
      return 2;
    }
    if (rc) return 2;
    if (!eq) i++;
  }

  static struct server srv;
  if (resolve_host(host, &srv.addr) != 0) return 2;
  signal(SIGPIPE, SIG_IGN);
  srv.loop = uv_default_loop();
  uv_signal_init(srv.loop, &srv.sigterm);
  uv_signal_init(srv.loop, &srv.sigint);
  srv.sigterm.data = srv.sigint.data = &srv;
  uv_timer_init(srv.loop, &srv.reaper);
  srv.reaper.data = &srv;
  uv_timer_start(&srv.reaper, on_reap, LINGER_MS / 4, LINGER_MS / 4);

  int status = 0;
  if (listener_open(&srv, 0, port, &srv.svc) != 0 ||
      listener_open(&srv, 1, ctl_port, &srv.ctl) != 0) {
    status = 1;
  } else {
    srv.port = listener_port(srv.svc);
    srv.ctl_port = listener_port(srv.ctl);
    char line[64], pid[32];
    snprintf(line, sizeof line, "%d %d\n", srv.port, srv.ctl_port);
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if ((pidfile && write_atomic(pidfile, pid) != 0) ||
        (port_file && write_atomic(port_file, line) != 0))
      status = 1;
    uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv.sigint, on_signal, SIGINT);
    if (!status) {
      fputs(line, stdout);
      fflush(stdout);
    }
  }
  if (status) server_stop(&srv);
  uv_run(srv.loop, UV_RUN_DEFAULT);
  free(srv.out.p);
  if (pidfile && !status) pidfile_remove(pidfile);
  int rc = uv_loop_close(srv.loop);
  if (rc != 0) {
    fprintf(stderr, "faultserver: loop not closed cleanly: %s\n",
            uv_strerror(rc));
    return 1;
  }
  return status;
}

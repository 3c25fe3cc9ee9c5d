/* gameday: the tcp probe. A sample is ok when a TCP connect to host:port
 * succeeds. Numeric addresses are parsed once at load time; names are
 * resolved on the loop for every sample (uv_getaddrinfo), so that DNS
 * failover is seen, and each resolved address is tried in turn. The socket is
 * closed at once; the sample ends from the close callback so that the slot
 * holds no open handle once gd_sample_done has been called. */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/json.h"
#include "gameday/probe.h"

enum { SLOT_IDLE, SLOT_RESOLVING, SLOT_OPEN };

struct tcp_slot {
  uv_tcp_t tcp;
  uv_connect_t req;
  uv_getaddrinfo_t gai;
  struct gd_sample *s;
  struct tcp_slot *next;  /* every slot of the probe, for free */
  int state;
  int cancelled;
  struct addrinfo *ai, *cur;
  enum gd_sample_class cls;
  char detail[96];
};

struct tcp_ctx {
  char *host;
  int port;
  char portstr[8];
  int numeric;
  struct sockaddr_storage addr;
  struct tcp_slot *slots;
};

static const char *const tcp_keys[] = {"host", "port", NULL};

static void ctx_free(struct tcp_ctx *ctx) {
  if (!ctx) return;
  struct tcp_slot *sl;
  while ((sl = ctx->slots)) {
    ctx->slots = sl->next;
    if (sl->ai) uv_freeaddrinfo(sl->ai);
    free(sl);
  }
  free(ctx->host);
  free(ctx);
}

/* "[::1]" is accepted for an IPv6 literal, as in URLs. */
static int parse_numeric(struct tcp_ctx *ctx) {
  char buf[64];
  const char *h = ctx->host;
  size_t n = strlen(h);
  if (n >= 2 && h[0] == '[' && h[n - 1] == ']' && n - 2 < sizeof buf) {
    memcpy(buf, h + 1, n - 2);
    buf[n - 2] = 0;
    h = buf;
  }
  if (uv_ip4_addr(h, ctx->port, (struct sockaddr_in *)&ctx->addr) == 0)
    return 1;
  if (uv_ip6_addr(h, ctx->port, (struct sockaddr_in6 *)&ctx->addr) == 0)
    return 1;
  return 0;
}

static int tcp_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  const char *host = NULL;
  long long port = 0;
  int rc;
  if ((rc = gd_json_get_string(spec, "host", path, 1, &host, err)) ||
      (rc = gd_json_get_int(spec, "port", path, 1, 1, 65535, &port, err)))
    return rc;
  if (!host[0] || strpbrk(host, " \t\r\n/"))
    return gd_error_set(err, GD_EINVAL,
                        "%s.host: must be a host name or address, got '%s'",
                        path, host);
  struct tcp_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx || !(ctx->host = strdup(host))) {
    free(ctx);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  ctx->port = (int)port;
  snprintf(ctx->portstr, sizeof ctx->portstr, "%d", ctx->port);
  ctx->numeric = parse_numeric(ctx);
  p->ctx = ctx;
  return 0;
}

static void tcp_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct tcp_ctx *ctx = p->ctx;
  int v6 = strchr(ctx->host, ':') && ctx->host[0] != '[';
  snprintf(buf, n, "connect %s%s%s:%d", v6 ? "[" : "", ctx->host,
           v6 ? "]" : "", ctx->port);
}

static enum gd_sample_class classify(int status) {
  switch (status) {
  case 0:
    return GD_SAMPLE_OK;
  case UV_ECONNREFUSED:
    return GD_SAMPLE_REFUSED;
  case UV_ETIMEDOUT:
    return GD_SAMPLE_TIMEOUT;
  case UV_EMFILE:
  case UV_ENFILE:
  case UV_ENOBUFS:
  case UV_ENOMEM:
    return GD_SAMPLE_ERROR;
  default:
    return GD_SAMPLE_CONNECT;
  }
}

static void record(struct tcp_slot *sl, int status) {
  sl->cls = classify(status);
  if (status == UV_ECONNREFUSED)
    snprintf(sl->detail, sizeof sl->detail, "connection refused");
  else if (status)
    snprintf(sl->detail, sizeof sl->detail, "connect: %s", uv_strerror(status));
}

static void finish(struct tcp_slot *sl) {
  if (sl->ai) uv_freeaddrinfo(sl->ai);
  sl->ai = sl->cur = NULL;
  sl->state = SLOT_IDLE;
  if (sl->cancelled)
    gd_sample_done(sl->s, GD_SAMPLE_TIMEOUT, "cancelled");
  else if (sl->cls == GD_SAMPLE_OK)
    gd_sample_done(sl->s, GD_SAMPLE_OK, NULL);
  else
    gd_sample_done(sl->s, sl->cls, "%s", sl->detail);
}

static void start_connect(struct tcp_slot *sl, const struct sockaddr *addr);

static void on_close(uv_handle_t *h) {
  struct tcp_slot *sl = h->data;
  sl->state = SLOT_IDLE;
  /* A name with several addresses (::1 and 127.0.0.1 for localhost) is up
   * when any of them accepts. */
  if (!sl->cancelled && sl->cls != GD_SAMPLE_OK && sl->cur &&
      sl->cur->ai_next) {
    sl->cur = sl->cur->ai_next;
    start_connect(sl, sl->cur->ai_addr);
    return;
  }
  finish(sl);
}

static void on_connect(uv_connect_t *req, int status) {
  struct tcp_slot *sl = req->data;
  if (status == UV_ECANCELED || uv_is_closing((uv_handle_t *)&sl->tcp))
    return; /* closed by cancel; on_close ends the sample */
  record(sl, status);
  uv_close((uv_handle_t *)&sl->tcp, on_close);
}

static void start_connect(struct tcp_slot *sl, const struct sockaddr *addr) {
  struct gd_probe *p = sl->s->probe;
  int r = uv_tcp_init(p->loop, &sl->tcp);
  if (r) {
    record(sl, r);
    sl->cls = GD_SAMPLE_ERROR;
    finish(sl);
    return;
  }
  sl->tcp.data = sl;
  sl->req.data = sl;
  sl->state = SLOT_OPEN;
  r = uv_tcp_connect(&sl->req, &sl->tcp, addr, on_connect);
  if (r) {
    record(sl, r);
    uv_close((uv_handle_t *)&sl->tcp, on_close);
  }
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  struct tcp_slot *sl = req->data;
  struct tcp_ctx *ctx = sl->s->probe->ctx;
  sl->state = SLOT_IDLE;
  if (sl->cancelled || status < 0) {
    if (res) uv_freeaddrinfo(res);
    sl->cls = GD_SAMPLE_DNS;
    snprintf(sl->detail, sizeof sl->detail, "cannot resolve '%.40s': %s",
             ctx->host, uv_strerror(status));
    finish(sl);
    return;
  }
  sl->ai = sl->cur = res;
  start_connect(sl, res->ai_addr);
}

static int tcp_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct tcp_ctx *ctx = p->ctx;
  struct tcp_slot *sl = s->data;
  if (!sl) {
    if (!(sl = calloc(1, sizeof *sl)))
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p->path);
    sl->next = ctx->slots;
    ctx->slots = sl;
    s->data = sl;
  }
  sl->s = s;
  sl->cancelled = 0;
  sl->cls = GD_SAMPLE_OK;
  sl->detail[0] = 0;
  if (ctx->numeric) {
    start_connect(sl, (const struct sockaddr *)&ctx->addr);
    return 0;
  }
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  sl->gai.data = sl;
  int r = uv_getaddrinfo(p->loop, &sl->gai, on_resolved, ctx->host,
                         ctx->portstr, &hints);
  if (r)
    return gd_error_set(err, GD_EIO, "%s: cannot resolve '%s': %s", p->path,
                        ctx->host, uv_strerror(r));
  sl->state = SLOT_RESOLVING;
  return 0;
}

static void tcp_cancel(struct gd_probe *p, struct gd_sample *s) {
  struct tcp_slot *sl = s->data;
  (void)p;
  if (!sl) return;
  sl->cancelled = 1;
  if (sl->state == SLOT_RESOLVING)
    /* When the lookup already runs, on_resolved still comes, and ends it. */
    uv_cancel((uv_req_t *)&sl->gai);
  else if (sl->state == SLOT_OPEN && !uv_is_closing((uv_handle_t *)&sl->tcp))
    uv_close((uv_handle_t *)&sl->tcp, on_close);
}

static void tcp_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_tcp = {
    .type = "tcp",
    .keys = tcp_keys,
    .init = tcp_init,
    .describe = tcp_describe,
    .sample = tcp_sample,
    .cancel = tcp_cancel,
    .free = tcp_free,
};

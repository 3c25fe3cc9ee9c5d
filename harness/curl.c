/* gameday: one CURLM driven by the libuv loop, after curl's
 * docs/examples/multi-uv.c. curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION: one uv_poll_t per socket) and when to wake it up
 * (CURLMOPT_TIMERFUNCTION: one uv_timer_t); we report readiness back with
 * curl_multi_socket_action and then drain curl_multi_info_read, handing each
 * finished easy to its callback exactly once.
 *
 * The hot path must sustain ~10 000 transfers/s, so nothing here allocates
 * per transfer in steady state: transfer records and poll contexts come from
 * free lists, lookups go through CURLOPT_PRIVATE and curl_multi_assign, and
 * no event scans a list. */
#include "gameday/curl.h"

#include <stdlib.h>
#include <string.h>

/* One transfer in flight. The easy's CURLOPT_PRIVATE points here, which is
 * why callers must not use CURLOPT_PRIVATE themselves. */
struct xfer {
  CURL *easy;           /* NULL while on the free list */
  gd_curl_cb cb;
  void *arg;
  struct xfer *prev, *next; /* active list, or free list (next only) */
};

/* One socket curl asked us to watch. */
struct pollctx {
  uv_poll_t poll;
  struct gd_curl *c;
  curl_socket_t fd;
  struct pollctx *prev, *next; /* live list, or free list (next only) */
};

struct gd_curl {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  unsigned active;
  unsigned open_handles;     /* timer + polls not yet through close_cb */
  int closing;
  int in_timer_cb;
  struct xfer *xfers;        /* active, doubly linked (for close) */
  struct xfer *xfer_free;
  struct pollctx *polls;     /* live, doubly linked (for close) */
  struct pollctx *poll_free; /* closed, ready for reuse */
  void (*done)(void *arg);
  void *done_arg;
};

static uv_once_t global_once = UV_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void free_curl(struct gd_curl *c) {
  struct xfer *x;
  while ((x = c->xfer_free)) {
    c->xfer_free = x->next;
    free(x);
  }
  struct pollctx *pc;
  while ((pc = c->poll_free)) {
    c->poll_free = pc->next;
    free(pc);
  }
  void (*done)(void *) = c->done;
  void *arg = c->done_arg;
  free(c);
  if (done) done(arg);
}

static void handle_closed(struct gd_curl *c) {
  if (--c->open_handles == 0 && c->closing) free_curl(c);
}

static void poll_close_cb(uv_handle_t *h) {
  struct pollctx *pc = h->data;
  struct gd_curl *c = pc->c;
  pc->next = c->poll_free;
  c->poll_free = pc;
  handle_closed(c);
}

static void timer_close_cb(uv_handle_t *h) { handle_closed(h->data); }

static void poll_unlink(struct gd_curl *c, struct pollctx *pc) {
  if (pc->prev)
    pc->prev->next = pc->next;
  else
    c->polls = pc->next;
  if (pc->next) pc->next->prev = pc->prev;
  pc->prev = pc->next = NULL;
}

static void poll_destroy(struct gd_curl *c, struct pollctx *pc) {
  poll_unlink(c, pc);
  uv_close((uv_handle_t *)&pc->poll, poll_close_cb);
}

static struct xfer *xfer_get(struct gd_curl *c) {
  struct xfer *x = c->xfer_free;
  if (x)
    c->xfer_free = x->next;
  else if (!(x = malloc(sizeof *x)))
    return NULL;
  memset(x, 0, sizeof *x);
  return x;
}

static void xfer_unlink(struct gd_curl *c, struct xfer *x) {
  if (x->prev)
    x->prev->next = x->next;
  else
    c->xfers = x->next;
  if (x->next) x->next->prev = x->prev;
  x->prev = NULL;
  x->easy = NULL;
  x->next = c->xfer_free;
  c->xfer_free = x;
}

/* The record of easy if it is one of our transfers in flight, else NULL. A
 * stale CURLOPT_PRIVATE (a record since reused for another easy) fails the
 * easy comparison. */
static struct xfer *xfer_of(CURL *easy) {
  char *p = NULL;
  if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK || !p)
    return NULL;
  struct xfer *x = (struct xfer *)(void *)p;
  return x->easy == easy ? x : NULL;
}

/* Takes the transfer out of the multi and calls its callback; the record is
 * recycled first so that the callback may add the easy again at once. */
static void finish(struct gd_curl *c, struct xfer *x, CURLcode rc) {
  CURL *easy = x->easy;
  gd_curl_cb cb = x->cb;
  void *arg = x->arg;
  curl_multi_remove_handle(c->multi, easy);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
  xfer_unlink(c, x);
  c->active--;
  cb(easy, rc, arg);
}

static void check_multi_info(struct gd_curl *c) {
  CURLMsg *m;
  int left;
  /* A callback may close c (which cancels everything and clears multi). */
  while (c->multi && (m = curl_multi_info_read(c->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    struct xfer *x = xfer_of(m->easy_handle);
    CURLcode rc = m->data.result; /* m dies with remove_handle */
    if (x) finish(c, x, rc);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  struct pollctx *pc = h->data;
  struct gd_curl *c = pc->c;
  int flags = 0;
  int running;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  /* pc may be closed (not freed) by the socket callback from here on. */
  curl_multi_socket_action(c->multi, pc->fd, flags, &running);
  check_multi_info(c);
}

static void on_timer(uv_timer_t *t) {
  struct gd_curl *c = t->data;
  int running;
  c->in_timer_cb = 1;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_multi_info(c);
  c->in_timer_cb = 0;
}

static int timer_fn(CURLM *multi, long timeout_ms, void *userp) {
  struct gd_curl *c = userp;
  (void)multi;
  if (c->closing) return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(&c->timer);
    return 0;
  }
  /* libuv before 1.45 runs a zero timer started from a timer callback again
   * in the same pass, which could starve I/O; elsewhere zero keeps the
   * latency of a new transfer at one loop iteration. */
  if (timeout_ms == 0 && c->in_timer_cb) timeout_ms = 1;
  return uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0) ? -1 : 0;
}

static int socket_fn(CURL *easy, curl_socket_t s, int action, void *userp,
                     void *socketp) {
  struct gd_curl *c = userp;
  struct pollctx *pc = socketp;
  (void)easy;
  if (action == CURL_POLL_REMOVE) {
    if (pc) {
      if (!c->closing) curl_multi_assign(c->multi, s, NULL);
      poll_destroy(c, pc);
    }
    return 0;
  }
  if (!pc) {
    if (c->closing) return -1;
    pc = c->poll_free;
    if (pc)
      c->poll_free = pc->next;
    else if (!(pc = malloc(sizeof *pc)))
      return -1;
    if (uv_poll_init_socket(c->loop, &pc->poll, s) != 0) {
      pc->next = c->poll_free;
      c->poll_free = pc;
      return -1;
    }
    pc->poll.data = pc;
    pc->c = c;
    pc->fd = s;
    pc->prev = NULL;
    pc->next = c->polls;
    if (c->polls) c->polls->prev = pc;
    c->polls = pc;
    c->open_handles++;
    curl_multi_assign(c->multi, s, pc);
  }
  int events = 0;
  if (action == CURL_POLL_IN || action == CURL_POLL_INOUT) events |= UV_READABLE;
  if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT) events |= UV_WRITABLE;
  return uv_poll_start(&pc->poll, events, on_poll) ? -1 : 0;
}

int gd_curl_new(uv_loop_t *loop, struct gd_curl **out, struct gd_error *err) {
  *out = NULL;
  uv_once(&global_once, global_init);
  if (global_rc != CURLE_OK)
    return gd_error_set(err, GD_EIO, "curl_global_init: %s",
                        curl_easy_strerror(global_rc));
  struct gd_curl *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "curl: out of memory");
  c->loop = loop;
  if (!(c->multi = curl_multi_init())) {
    free(c);
    return gd_error_set(err, GD_ENOMEM, "curl_multi_init failed");
  }
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  /* Probes keep up to max_inflight keep-alive connections per host; curl's
   * default cache (4 x handles) is enough, but never let it close idle
   * connections just because many probes share one multi. */
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 1024L);
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->open_handles = 1;
  *out = c;
  return 0;
}

int gd_curl_add(struct gd_curl *c, CURL *easy, gd_curl_cb cb, void *arg) {
  if (c->closing) return GD_ESTATE;
  if (xfer_of(easy)) return GD_ESTATE;
  struct xfer *x = xfer_get(c);
  if (!x) return GD_ENOMEM;
  x->easy = easy;
  x->cb = cb;
  x->arg = arg;
  curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
  if (curl_multi_add_handle(c->multi, easy) != CURLM_OK) {
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    x->prev = NULL;
    x->easy = NULL;
    x->next = c->xfer_free;
    c->xfer_free = x;
    return GD_EIO;
  }
  x->prev = NULL;
  x->next = c->xfers;
  if (c->xfers) c->xfers->prev = x;
  c->xfers = x;
  c->active++;
  return 0;
}

void gd_curl_cancel(struct gd_curl *c, CURL *easy) {
  struct xfer *x = xfer_of(easy);
  if (x && c->multi) finish(c, x, CURLE_ABORTED_BY_CALLBACK);
}

unsigned gd_curl_active(const struct gd_curl *c) { return c->active; }

void gd_curl_close(struct gd_curl *c, void (*done)(void *arg), void *arg) {
  if (c->closing) return;
  c->closing = 1;
  c->done = done;
  c->done_arg = arg;
  while (c->xfers) finish(c, c->xfers, CURLE_ABORTED_BY_CALLBACK);
  /* Closes the cached connections; curl says CURL_POLL_REMOVE for some of
   * them, and whatever poll is left is ours to close below. */
  curl_multi_cleanup(c->multi);
  c->multi = NULL;
  while (c->polls) poll_destroy(c, c->polls);
  uv_close((uv_handle_t *)&c->timer, timer_close_cb);
}

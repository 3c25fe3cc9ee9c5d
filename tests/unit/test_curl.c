/* gd_curl: libcurl multi driven by the libuv loop. */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gameday/curl.h"
#include "testutil.h"

/* A small HTTP/1.1 server on a thread of its own (so that it and the loop
 * under test use both cores): loopback, port 0, keep-alive, Content-Length
 * bodies. It counts accepts and requests, remembers the last request, and
 * can answer with any status, hang (read and never answer), close the
 * connection on a request, or answer a TLS hello with plain text. */
enum srv_mode { SRV_ANSWER, SRV_HANG, SRV_CLOSE };

#define SRV_CONNS 256

struct srv_conn {
  int fd;
  size_t len;
  char buf[8192];
};

struct srv {
  int lfd, port;
  int wake[2];
  pthread_t th;
  atomic_int mode;
  atomic_int status;
  const char *body; /* set before srv_start */
  atomic_uint accepts, requests, open, max_open;
  pthread_mutex_t mu;
  char last[2048];  /* last request, headers and body, under mu */
  struct srv_conn *conns;
};

static void srv_drop(struct srv *sv, struct srv_conn *c) {
  close(c->fd);
  c->fd = -1;
  c->len = 0;
  atomic_fetch_sub(&sv->open, 1);
}

static void srv_write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* Serves every complete request in c's buffer; 0 when c was closed. */
static int srv_serve(struct srv *sv, struct srv_conn *c) {
  if (c->len > 0 && (unsigned char)c->buf[0] == 0x16) { /* a TLS hello */
    static const char plain[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    srv_write_all(c->fd, plain, sizeof plain - 1);
    srv_drop(sv, c);
    return 0;
  }
  for (;;) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return 1;
    size_t hlen = (size_t)(end + 4 - c->buf);
    size_t clen = 0;
    *end = 0;
    char *cl = strcasestr(c->buf, "\r\ncontent-length:");
    if (cl) clen = strtoul(cl + 17, NULL, 10);
    *end = '\r';
    if (c->len < hlen + clen) return 1;
    atomic_fetch_add(&sv->requests, 1);
    pthread_mutex_lock(&sv->mu);
    size_t k = hlen + clen < sizeof sv->last - 1 ? hlen + clen : sizeof sv->last - 1;
    memcpy(sv->last, c->buf, k);
    sv->last[k] = 0;
    pthread_mutex_unlock(&sv->mu);
    memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
    c->len -= hlen + clen;
    int mode = atomic_load(&sv->mode);
    if (mode == SRV_CLOSE) {
      srv_drop(sv, c);
      return 0;
    }
    if (mode == SRV_HANG) continue;
    char head[256];
    const char *body = sv->body ? sv->body : "ok\n";
    size_t blen = strlen(body);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     atomic_load(&sv->status), blen);
    if (blen < 512) { /* one write, as a real server would */
      char resp[768];
      memcpy(resp, head, (size_t)n);
      memcpy(resp + n, body, blen);
      srv_write_all(c->fd, resp, (size_t)n + blen);
    } else {
      srv_write_all(c->fd, head, (size_t)n);
      srv_write_all(c->fd, body, blen);
    }
  }
}

static void *srv_main(void *arg) {
  struct srv *sv = arg;
  struct pollfd fds[SRV_CONNS + 2];
  int idx[SRV_CONNS + 2];
  for (;;) {
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = sv->wake[0], .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = sv->lfd, .events = POLLIN};
    for (int i = 0; i < SRV_CONNS; i++)
      if (sv->conns[i].fd >= 0) {
        idx[n] = i;
        fds[n++] = (struct pollfd){.fd = sv->conns[i].fd, .events = POLLIN};
      }
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      int fd = accept(sv->lfd, NULL, NULL);
      if (fd >= 0) {
        atomic_fetch_add(&sv->accepts, 1);
        int i = 0;
        while (i < SRV_CONNS && sv->conns[i].fd >= 0) i++;
        if (i == SRV_CONNS) {
          close(fd);
        } else {
          sv->conns[i].fd = fd;
          sv->conns[i].len = 0;
          unsigned o = atomic_fetch_add(&sv->open, 1) + 1;
          if (o > atomic_load(&sv->max_open)) atomic_store(&sv->max_open, o);
        }
      }
    }
    for (nfds_t j = 2; j < n; j++) {
      if (!fds[j].revents) continue;
      struct srv_conn *c = &sv->conns[idx[j]];
      if (c->len == sizeof c->buf) c->len = 0; /* runaway: forget it */
      ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
      if (r <= 0) {
        srv_drop(sv, c);
        continue;
      }
      c->len += (size_t)r;
      srv_serve(sv, c);
    }
  }
  return NULL;
}

static int srv_start(struct srv *sv, enum srv_mode mode, int status,
                     const char *body) {
  memset(sv, 0, sizeof *sv);
  atomic_store(&sv->mode, (int)mode);
  atomic_store(&sv->status, status);
  sv->body = body;
  pthread_mutex_init(&sv->mu, NULL);
  sv->conns = calloc(SRV_CONNS, sizeof *sv->conns);
  if (!sv->conns) return -1;
  for (int i = 0; i < SRV_CONNS; i++) sv->conns[i].fd = -1;
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  sv->lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(sv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sv->lfd < 0 || bind(sv->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(sv->lfd, 512) != 0 ||
      getsockname(sv->lfd, (struct sockaddr *)&sa, &sl) != 0 ||
      pipe(sv->wake) != 0)
    return -1;
  sv->port = ntohs(sa.sin_port);
  return pthread_create(&sv->th, NULL, srv_main, sv) == 0 ? 0 : -1;
}

static void srv_stop(struct srv *sv) {
  char b = 0;
  if (write(sv->wake[1], &b, 1) != 1) return;
  pthread_join(sv->th, NULL);
  for (int i = 0; i < SRV_CONNS; i++)
    if (sv->conns[i].fd >= 0) close(sv->conns[i].fd);
  free(sv->conns);
  close(sv->lfd);
  close(sv->wake[0]);
  close(sv->wake[1]);
  pthread_mutex_destroy(&sv->mu);
}

/* A loopback port nobody listens on: bound, then closed. */
static int closed_port(void) {
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
    return -1;
  close(fd);
  return ntohs(sa.sin_port);
}

static size_t discard(char *d, size_t s, size_t n, void *arg) {
  (void)d; (void)arg;
  return s * n;
}

static CURL *easy_for(int port, const char *path) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  CURL *e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
  return e;
}

static void closed_cb(void *arg) { (*(int *)arg)++; }

/* Closes c, runs the loop dry and checks that nothing was left behind. */
static void finish_loop(uv_loop_t *loop, struct gd_curl *c) {
  int closed = 0;
  gd_curl_close(c, closed_cb, &closed);
  CU_ASSERT_EQUAL(closed, 0); /* from the last close callback, not here */
  uv_run(loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(loop), 0);
}

/* ---- sequential transfers on one easy: each callback once, one
 * connection ---------------------------------------------------------- */

struct seq {
  struct gd_curl *c;
  int want, done, failed;
  long connects;
};

static void seq_cb(CURL *e, CURLcode rc, void *arg) {
  struct seq *s = arg;
  long status = 0, nc = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nc);
  s->connects += nc;
  if (rc != CURLE_OK || status != 200) s->failed++;
  if (++s->done < s->want)
    CU_ASSERT_EQUAL(gd_curl_add(s->c, e, seq_cb, s), 0);
}

static void test_sequential_reuse(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, NULL) == 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct gd_error err = {0};
  struct seq s = {.want = 200};
  CU_ASSERT_FATAL(gd_curl_new(&loop, &s.c, &err) == 0);
  CURL *e = easy_for(sv.port, "/x");
  CU_ASSERT_EQUAL(gd_curl_add(s.c, e, seq_cb, &s), 0);
  CU_ASSERT_EQUAL(gd_curl_active(s.c), 1);
  /* The same easy twice in flight is refused. */
  CU_ASSERT_EQUAL(gd_curl_add(s.c, e, seq_cb, &s), GD_ESTATE);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(s.done, 200);
  CU_ASSERT_EQUAL(s.failed, 0);
  CU_ASSERT_EQUAL(s.connects, 1);
  CU_ASSERT_EQUAL(gd_curl_active(s.c), 0);
  finish_loop(&loop, s.c);
  curl_easy_cleanup(e);
  CU_ASSERT_EQUAL(atomic_load(&sv.accepts), 1);
  CU_ASSERT_EQUAL(atomic_load(&sv.requests), 200);
  srv_stop(&sv);
}

/* ---- many at once ---------------------------------------------------- */

#define NPAR 64

struct par {
  int calls[NPAR];
  int ok;
  CURL *easy[NPAR];
};

static void par_cb(CURL *e, CURLcode rc, void *arg) {
  struct par *p = arg;
  for (int i = 0; i < NPAR; i++)
    if (p->easy[i] == e) p->calls[i]++;
  if (rc == CURLE_OK) p->ok++;
}

static void test_parallel(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, NULL) == 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct gd_error err = {0};
  struct gd_curl *c;
  CU_ASSERT_FATAL(gd_curl_new(&loop, &c, &err) == 0);
  struct par p = {0};
  for (int i = 0; i < NPAR; i++) {
    p.easy[i] = easy_for(sv.port, "/");
    CU_ASSERT_EQUAL(gd_curl_add(c, p.easy[i], par_cb, &p), 0);
  }
  CU_ASSERT_EQUAL(gd_curl_active(c), NPAR);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(p.ok, NPAR);
  for (int i = 0; i < NPAR; i++) CU_ASSERT_EQUAL(p.calls[i], 1);
  CU_ASSERT_EQUAL(gd_curl_active(c), 0);
  finish_loop(&loop, c);
  for (int i = 0; i < NPAR; i++) curl_easy_cleanup(p.easy[i]);
  srv_stop(&sv);
}

/* ---- refused ---------------------------------------------------------- */

static void rc_cb(CURL *e, CURLcode rc, void *arg) {
  (void)e;
  *(CURLcode *)arg = rc;
}

static void test_refused(void) {
  int port = closed_port();
  CU_ASSERT_FATAL(port > 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct gd_error err = {0};
  struct gd_curl *c;
  CU_ASSERT_FATAL(gd_curl_new(&loop, &c, &err) == 0);
  CURL *e = easy_for(port, "/");
  CURLcode got = CURLE_OK;
  CU_ASSERT_EQUAL(gd_curl_add(c, e, rc_cb, &got), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(got, CURLE_COULDNT_CONNECT);
  finish_loop(&loop, c);
  curl_easy_cleanup(e);
}

/* ---- cancel: synchronous, exactly once -------------------------------- */

struct cx {
  struct gd_curl *c;
  CURL *e;
  int calls;
  int in_cancel, called_inside;
  CURLcode rc;
  uv_timer_t t;
};

static void cx_cb(CURL *e, CURLcode rc, void *arg) {
  struct cx *x = arg;
  (void)e;
  x->calls++;
  x->rc = rc;
  x->called_inside = x->in_cancel;
}

static void cx_timer(uv_timer_t *t) {
  struct cx *x = t->data;
  x->in_cancel = 1;
  gd_curl_cancel(x->c, x->e);
  x->in_cancel = 0;
  gd_curl_cancel(x->c, x->e); /* no longer in flight: nothing */
  uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_HANG, 200, NULL) == 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct gd_error err = {0};
  struct cx x = {0};
  CU_ASSERT_FATAL(gd_curl_new(&loop, &x.c, &err) == 0);
  x.e = easy_for(sv.port, "/");
  CU_ASSERT_EQUAL(gd_curl_add(x.c, x.e, cx_cb, &x), 0);
  uv_timer_init(&loop, &x.t);
  x.t.data = &x;
  uv_timer_start(&x.t, cx_timer, 50, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(x.calls, 1);
  CU_ASSERT_EQUAL(x.called_inside, 1);
  CU_ASSERT_EQUAL(x.rc, CURLE_ABORTED_BY_CALLBACK);
  CU_ASSERT_EQUAL(atomic_load(&sv.requests), 1);
  CU_ASSERT_EQUAL(gd_curl_active(x.c), 0);
  finish_loop(&loop, x.c);
  curl_easy_cleanup(x.e);
  srv_stop(&sv);
}

/* ---- close with transfers in flight ----------------------------------- */

struct cl {
  struct gd_curl *c;
  CURL *e[3];
  int calls[3];
  CURLcode rc[3];
  int readd;
  uv_timer_t t;
  int closed;
};

static void cl_cb(CURL *e, CURLcode rc, void *arg) {
  struct cl *x = arg;
  for (int i = 0; i < 3; i++)
    if (x->e[i] == e) {
      x->calls[i]++;
      x->rc[i] = rc;
    }
  /* Adding while closing is refused, so no callback can outlive close. */
  x->readd = gd_curl_add(x->c, e, cl_cb, x);
}

static void cl_timer(uv_timer_t *t) {
  struct cl *x = t->data;
  gd_curl_close(x->c, closed_cb, &x->closed);
  for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(x->calls[i], 1);
  uv_close((uv_handle_t *)t, NULL);
}

static void test_close_cancels(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_HANG, 200, NULL) == 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct gd_error err = {0};
  struct cl x = {0};
  CU_ASSERT_FATAL(gd_curl_new(&loop, &x.c, &err) == 0);
  for (int i = 0; i < 3; i++) {
    x.e[i] = easy_for(sv.port, "/");
    CU_ASSERT_EQUAL(gd_curl_add(x.c, x.e[i], cl_cb, &x), 0);
  }
  uv_timer_init(&loop, &x.t);
  x.t.data = &x;
  uv_timer_start(&x.t, cl_timer, 50, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(x.calls[i], 1);
    CU_ASSERT_EQUAL(x.rc[i], CURLE_ABORTED_BY_CALLBACK);
  }
  CU_ASSERT_EQUAL(x.readd, GD_ESTATE);
  CU_ASSERT_EQUAL(x.closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  for (int i = 0; i < 3; i++) curl_easy_cleanup(x.e[i]);
  srv_stop(&sv);
}

/* Closing an idle gd_curl with keep-alive connections in its cache. */
static void test_close_idle_with_cache(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, NULL) == 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct gd_error err = {0};
  struct gd_curl *c;
  CU_ASSERT_FATAL(gd_curl_new(&loop, &c, &err) == 0);
  CURL *e = easy_for(sv.port, "/");
  CURLcode got = CURLE_FAILED_INIT;
  CU_ASSERT_EQUAL(gd_curl_add(c, e, rc_cb, &got), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(got, CURLE_OK);
  curl_easy_cleanup(e); /* before the multi: connections live in the multi */
  finish_loop(&loop, c);
  srv_stop(&sv);
}

/* ---- throughput: keep-alive transfers per second ---------------------- */

#define NTHR 16

struct thr {
  struct gd_curl *c;
  uint64_t done, failed, stop_at;
  long connects;
};

static void thr_cb(CURL *e, CURLcode rc, void *arg) {
  struct thr *t = arg;
  long nc = 0;
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nc);
  t->connects += nc;
  if (rc != CURLE_OK) t->failed++;
  t->done++;
  if (uv_hrtime() < t->stop_at) gd_curl_add(t->c, e, thr_cb, t);
}

static void test_throughput(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, NULL) == 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct gd_error err = {0};
  struct thr t = {0};
  CU_ASSERT_FATAL(gd_curl_new(&loop, &t.c, &err) == 0);
  CURL *e[NTHR];
  uint64_t t0 = uv_hrtime();
  t.stop_at = t0 + 1000000000u;
  for (int i = 0; i < NTHR; i++) {
    e[i] = easy_for(sv.port, "/");
    CU_ASSERT_EQUAL(gd_curl_add(t.c, e[i], thr_cb, &t), 0);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  double rate = (double)t.done / secs;
  printf("\n    %.0f transfers/s over %d keep-alive connections ", rate, NTHR);
  CU_ASSERT_EQUAL(t.failed, 0);
  CU_ASSERT_EQUAL(t.connects, NTHR);
  CU_ASSERT_EQUAL(atomic_load(&sv.accepts), NTHR);
  /* 10 000/s is the goal in an optimised build; the sanitizer build and a
   * busy CI machine get a wide margin, but a per-event scan or a stall per
   * transfer would still fail this. */
  CU_ASSERT(rate > 2000);
  finish_loop(&loop, t.c);
  for (int i = 0; i < NTHR; i++) curl_easy_cleanup(e[i]);
  srv_stop(&sv);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"sequential transfers reuse one connection", test_sequential_reuse},
      {"parallel transfers each call back once", test_parallel},
      {"refused connection", test_refused},
      {"cancel calls back synchronously, once", test_cancel},
      {"close cancels transfers in flight", test_close_cancels},
      {"close with cached connections", test_close_idle_with_cache},
      {"throughput with keep-alive", test_throughput},
      {NULL, NULL},
  };
  return gd_test_run("curl", tests);
}

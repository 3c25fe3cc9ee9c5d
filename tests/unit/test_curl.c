/* gd_curl: libcurl multi driven by the libuv loop. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "gameday/curl.h"
#include "httpd.h"
#include "testutil.h"

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
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, NULL) == 0);
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
  gd_httpd_stop(&sv);
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
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, NULL) == 0);
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
  gd_httpd_stop(&sv);
}

/* ---- refused ---------------------------------------------------------- */

static void rc_cb(CURL *e, CURLcode rc, void *arg) {
  (void)e;
  *(CURLcode *)arg = rc;
}

static void test_refused(void) {
  int port = gd_httpd_closed_port();
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
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_HANG, 200, NULL) == 0);
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
  gd_httpd_stop(&sv);
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
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_HANG, 200, NULL) == 0);
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
  gd_httpd_stop(&sv);
}

/* Closing an idle gd_curl with keep-alive connections in its cache. */
static void test_close_idle_with_cache(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, NULL) == 0);
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
  gd_httpd_stop(&sv);
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
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, NULL) == 0);
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
  gd_httpd_stop(&sv);
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

/* The http probe, driven through the real scheduler (probe.c) and gd_curl
 * against an HTTP server in the test. */
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
#include "gameday/probe.h"
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

/* ---- running a probe on a fresh loop ----------------------------------- */

#define MAXR 512

struct outcome {
  int n;
  enum gd_sample_class cls[MAXR];
  char detail[MAXR][96];
  uint64_t lat_ns[MAXR];
  uint64_t samples, ok, failed, skipped;
};

struct runner {
  struct gd_probe p;
  struct gd_curl *c;
  uv_timer_t guard, stopper;
  struct outcome *o;
  int want;
  int stop_requested, curl_closed;
};

static void curl_closed(void *arg) { ((struct runner *)arg)->curl_closed = 1; }

static void probe_stopped(struct gd_probe *p, void *arg) {
  struct runner *r = arg;
  (void)p;
  uv_close((uv_handle_t *)&r->guard, NULL);
  uv_close((uv_handle_t *)&r->stopper, NULL);
  gd_curl_close(r->c, curl_closed, r);
}

static void stop_now(uv_timer_t *t) {
  struct runner *r = t->data;
  uv_timer_stop(&r->guard);
  uv_timer_stop(&r->stopper);
  gd_probe_stop(&r->p, probe_stopped, r);
}

static void request_stop(struct runner *r) {
  if (r->stop_requested) return;
  r->stop_requested = 1;
  uv_timer_start(&r->stopper, stop_now, 0, 0);
}

static void on_guard(uv_timer_t *t) { request_stop(t->data); }

static void on_result(struct gd_probe *p, const struct gd_sample_result *res,
                      void *arg) {
  struct runner *r = arg;
  struct outcome *o = r->o;
  (void)p;
  if (o->n < MAXR) {
    o->cls[o->n] = res->cls;
    snprintf(o->detail[o->n], sizeof o->detail[0], "%s", res->detail);
    o->lat_ns[o->n] = res->end_ns - res->start_ns;
    o->n++;
  }
  if (r->want && o->n >= r->want) request_stop(r);
}

/* Runs the probe given as JSON until `want` results (0: no limit) or max_ms,
 * then stops it, closes everything and checks that the loop closes. When
 * describe is not NULL, it receives ops->describe. */
static void run_probe(const char *json, int want, int max_ms,
                      struct outcome *o, char *describe, size_t dn) {
  memset(o, 0, sizeof *o);
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_FATAL(spec != NULL);
  struct runner r = {.o = o, .want = want};
  struct gd_error err = {0};
  int rc = gd_probe_init(&r.p, "t", spec, "probes.t", &err);
  if (rc) printf("\n    init: %s ", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  if (describe) r.p.ops->describe(&r.p, describe, dn);
  uv_loop_t loop;
  uv_loop_init(&loop);
  CU_ASSERT_FATAL(gd_curl_new(&loop, &r.c, &err) == 0);
  uv_timer_init(&loop, &r.guard);
  uv_timer_init(&loop, &r.stopper);
  r.guard.data = r.stopper.data = &r;
  uv_timer_start(&r.guard, on_guard, (uint64_t)max_ms, 0);
  r.p.on_result = on_result;
  r.p.on_result_arg = &r;
  CU_ASSERT_FATAL(gd_probe_start(&r.p, &loop, r.c, &err) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(r.curl_closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  o->samples = r.p.samples;
  o->ok = r.p.ok;
  o->failed = r.p.failed;
  o->skipped = r.p.skipped;
  gd_probe_free(&r.p);
  cJSON_Delete(spec);
}

/* gd_probe_init must fail; returns its message. */
static const char *init_error(const char *json) {
  static struct gd_error err;
  memset(&err, 0, sizeof err);
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_FATAL(spec != NULL);
  struct gd_probe p;
  int rc = gd_probe_init(&p, "t", spec, "probes.t", &err);
  CU_ASSERT(rc != 0);
  if (rc == 0) gd_probe_free(&p);
  cJSON_Delete(spec);
  return err.msg;
}

#define ASSERT_STR(got, want)                                                 \
  do {                                                                        \
    const char *g_ = (got);                                                   \
    if (strcmp(g_, (want)) != 0)                                              \
      printf("\n    got '%s', want '%s' ", g_, (want));                       \
    CU_ASSERT_STRING_EQUAL(g_, (want));                                       \
  } while (0)

/* ---- the tests ---------------------------------------------------------- */

static void test_ok_keepalive(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, "ok\n") == 0);
  char json[512], desc[256], want[256];
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/health\","
           "\"interval_ms\":5,\"timeout_ms\":1000,"
           "\"expect\":{\"status\":200,\"body_contains\":\"ok\","
           "\"body_regex\":\"^o+k\"}}",
           sv.port);
  struct outcome o;
  run_probe(json, 10, 3000, &o, desc, sizeof desc);
  CU_ASSERT(o.n >= 10);
  for (int i = 0; i < o.n; i++) CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(o.failed, 0);
  /* Every sample on the one keep-alive connection. */
  CU_ASSERT_EQUAL(atomic_load(&sv.accepts), 1);
  snprintf(want, sizeof want,
           "GET http://127.0.0.1:%d/health expect 200, body contains 'ok', "
           "body matches '^o+k'",
           sv.port);
  ASSERT_STR(desc, want);
  srv_stop(&sv);
}

static void test_status(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 503, "unavailable\n") == 0);
  char json[512];
  struct outcome o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,\"expect\":{\"status\":200}}",
           sv.port);
  run_probe(json, 3, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 3);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_STATUS);
  ASSERT_STR(o.detail[0], "status 503 (expected 200)");

  /* Default: any 2xx. */
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           sv.port);
  run_probe(json, 1, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_STATUS);
  ASSERT_STR(o.detail[0], "status 503 (expected 2xx)");

  /* A list, numbers given as strings too (they may come from ${vars}). */
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,"
           "\"expect\":{\"status\":[200,\"503\"]}}",
           sv.port);
  run_probe(json, 2, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 2);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(o.cls[1], GD_SAMPLE_OK);
  srv_stop(&sv);

  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 201, "made\n") == 0);
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           sv.port);
  run_probe(json, 1, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_OK);
  srv_stop(&sv);
}

static void test_body_mismatch(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, "ok\n") == 0);
  char json[512];
  struct outcome o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,"
           "\"expect\":{\"body_contains\":\"nope\"}}",
           sv.port);
  run_probe(json, 1, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_MISMATCH);
  ASSERT_STR(o.detail[0], "body does not contain 'nope'");

  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,"
           "\"expect\":{\"status\":200,\"body_regex\":\"^ko\"}}",
           sv.port);
  run_probe(json, 1, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_MISMATCH);
  ASSERT_STR(o.detail[0], "body does not match '^ko'");
  srv_stop(&sv);
}

static void test_refused(void) {
  int port = closed_port();
  CU_ASSERT_FATAL(port > 0);
  char json[512];
  struct outcome o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  run_probe(json, 3, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 3);
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_REFUSED);
    ASSERT_STR(o.detail[i], "connection refused");
  }
}

static void test_timeout(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_HANG, 200, NULL) == 0);
  char json[512];
  struct outcome o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":100,\"timeout_ms\":50}",
           sv.port);
  run_probe(json, 2, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 2);
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_TIMEOUT);
    ASSERT_STR(o.detail[i], "no answer within 50 ms");
    CU_ASSERT_EQUAL(o.lat_ns[i], 50000000u);
  }
  /* The request did reach the server: the time-out is the answer's. */
  CU_ASSERT(atomic_load(&sv.requests) >= 2);
  /* A cancelled transfer's connection is not reused. */
  CU_ASSERT(atomic_load(&sv.accepts) >= 2);
  srv_stop(&sv);
}

static void test_fresh_connection(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, NULL) == 0);
  char json[512];
  struct outcome o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,\"fresh_connection\":true}",
           sv.port);
  run_probe(json, 8, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.n, 8);
  CU_ASSERT_EQUAL(o.ok, 8);
  CU_ASSERT_EQUAL(atomic_load(&sv.requests), 8);
  CU_ASSERT_EQUAL(atomic_load(&sv.accepts), 8);
  srv_stop(&sv);

  /* The same without: one connection. */
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, NULL) == 0);
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,\"fresh_connection\":false}",
           sv.port);
  run_probe(json, 8, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.ok, 8);
  CU_ASSERT_EQUAL(atomic_load(&sv.requests), 8);
  CU_ASSERT_EQUAL(atomic_load(&sv.accepts), 1);
  srv_stop(&sv);
}

/* Hung requests with a timeout longer than the interval: with enough slots
 * they overlap and no sample is skipped; with one slot most are. */
static void test_max_inflight(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_HANG, 200, NULL) == 0);
  char json[512];
  struct outcome o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":20,\"timeout_ms\":50,\"max_inflight\":4}",
           sv.port);
  run_probe(json, 0, 500, &o, NULL, 0);
  CU_ASSERT(o.failed >= 15);
  CU_ASSERT_EQUAL(o.ok, 0);
  CU_ASSERT(o.skipped <= 1);
  CU_ASSERT(atomic_load(&sv.max_open) >= 3);
  for (int i = 0; i < o.n; i++) CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_TIMEOUT);
  srv_stop(&sv);

  CU_ASSERT_FATAL(srv_start(&sv, SRV_HANG, 200, NULL) == 0);
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":20,\"timeout_ms\":50}",
           sv.port);
  run_probe(json, 0, 500, &o, NULL, 0);
  CU_ASSERT(o.skipped >= 10);
  CU_ASSERT(o.failed <= 10);
  CU_ASSERT(atomic_load(&sv.max_open) <= 2);
  srv_stop(&sv);
}

static void test_protocol_and_tls(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_CLOSE, 200, NULL) == 0);
  char json[512];
  struct outcome o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           sv.port);
  run_probe(json, 2, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 2);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_PROTOCOL);
  ASSERT_STR(o.detail[0], "empty reply from server");
  srv_stop(&sv);

  /* https to a plain HTTP server: the handshake fails. */
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, NULL) == 0);
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"https://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           sv.port);
  run_probe(json, 1, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_TLS);
  printf("\n    tls: %s ", o.detail[0]);
  srv_stop(&sv);
}

static void test_method_headers_body(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, NULL) == 0);
  char json[512], desc[256], want[256];
  struct outcome o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://localhost:%d/w\","
           "\"method\":\"PUT\",\"headers\":{\"X-Probe\":\"yes\"},"
           "\"body\":\"hello\",\"interval_ms\":5,\"timeout_ms\":1000}",
           sv.port);
  run_probe(json, 1, 3000, &o, desc, sizeof desc);
  CU_ASSERT_FATAL(o.n >= 1);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_OK);
  pthread_mutex_lock(&sv.mu);
  CU_ASSERT(strncmp(sv.last, "PUT /w HTTP/1.1\r\n", 17) == 0);
  CU_ASSERT(strstr(sv.last, "\r\nX-Probe: yes\r\n") != NULL);
  CU_ASSERT(strstr(sv.last, "\r\nContent-Length: 5\r\n") != NULL);
  CU_ASSERT(strstr(sv.last, "Expect:") == NULL);
  CU_ASSERT(strstr(sv.last, "\r\n\r\nhello") != NULL);
  pthread_mutex_unlock(&sv.mu);
  snprintf(want, sizeof want, "PUT http://localhost:%d/w expect 2xx", sv.port);
  ASSERT_STR(desc, want);
  srv_stop(&sv);
}

static void test_config_errors(void) {
  const char *base = "\"type\":\"http\",\"interval_ms\":10,\"timeout_ms\":100";
  char json[512];
#define ERR(extra, msg)                                                       \
  do {                                                                        \
    snprintf(json, sizeof json, "{%s%s}", base, extra);                       \
    ASSERT_STR(init_error(json), msg);                                        \
  } while (0)
  ERR(",\"url\":\"http://x/\",\"expect\":{\"status\":200,\"bogus\":1}",
      "probes.t.expect: unknown key 'bogus'");
  ERR(",\"url\":\"http://x/\",\"expect\":{\"body_regex\":\"(ab\"}",
      "probes.t.expect.body_regex: bad regex '(ab': "
      "Unmatched ( or \\(");
  ERR(",\"url\":\"ftp://x/\"",
      "probes.t.url: must be an http or https URL, got 'ftp://x/'");
  ERR(",\"url\":\"http://x/\",\"expect\":{\"status\":99}",
      "probes.t.expect.status: must be an HTTP status from 100 to 599, "
      "got '99'");
  ERR(",\"url\":\"http://x/\",\"expect\":{\"status\":[200,\"2oo\"]}",
      "probes.t.expect.status[1]: must be an HTTP status from 100 to 599, "
      "got '2oo'");
  ERR(",\"url\":\"http://x/\",\"expect\":{\"status\":[]}",
      "probes.t.expect.status: must not be empty");
  ERR(",\"url\":\"http://x/\",\"method\":\"get\"",
      "probes.t.method: must be an uppercase HTTP method, got 'get'");
  ERR(",\"url\":\"http://x/\",\"ca_file\":\"/nonexistent/ca.pem\"",
      "probes.t.ca_file: cannot read '/nonexistent/ca.pem': "
      "No such file or directory");
  /* Messages of the shared JSON helpers: only the path is checked. */
  const char *m = init_error("{\"type\":\"http\",\"interval_ms\":10,"
                             "\"timeout_ms\":100}");
  CU_ASSERT(strstr(m, "probes.t") && strstr(m, "url"));
  m = init_error("{\"type\":\"http\",\"interval_ms\":10,\"timeout_ms\":100,"
                 "\"url\":\"http://x/\",\"fresh_connection\":\"yes\"}");
  CU_ASSERT(strstr(m, "probes.t.fresh_connection") != NULL);
  m = init_error("{\"type\":\"http\",\"interval_ms\":10,\"timeout_ms\":100,"
                 "\"url\":\"http://x/\",\"urll\":1}");
  CU_ASSERT(strstr(m, "'urll'") != NULL);
#undef ERR
}

int main(void) {
  static const struct gd_test tests[] = {
      {"ok samples on one keep-alive connection", test_ok_keepalive},
      {"status expectations", test_status},
      {"body_contains and body_regex mismatch", test_body_mismatch},
      {"refused", test_refused},
      {"timeout by the generic timer", test_timeout},
      {"fresh_connection opens one per sample", test_fresh_connection},
      {"max_inflight lets hung samples overlap", test_max_inflight},
      {"protocol and tls failures", test_protocol_and_tls},
      {"method, headers and body are sent", test_method_headers_body},
      {"configuration errors", test_config_errors},
      {NULL, NULL},
  };
  return gd_test_run("http_probe", tests);
}

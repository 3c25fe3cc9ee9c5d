/* The tcp probe, driven through the real scheduler (probe.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gameday/curl.h"
#include "gameday/probe.h"
#include "testutil.h"

/* A loopback listener nobody accepts on: connects complete in the kernel
 * (until the backlog is full). Returns the fd, port in *port. */
static int listener(int family, int backlog, int *port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  if (family == AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_addr = in6addr_loopback;
    sl = sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sl = sizeof *s4;
  }
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, backlog) != 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                   : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

/* Accepts (and closes) what is queued; returns how many. */
static int drain(int lfd) {
  int n = 0;
  int fl = fcntl(lfd, F_GETFL);
  fcntl(lfd, F_SETFL, fl | O_NONBLOCK);
  for (int fd; (fd = accept(lfd, NULL, NULL)) >= 0; n++) close(fd);
  fcntl(lfd, F_SETFL, fl);
  return n;
}

static int closed_port(void) {
  int port;
  int fd = listener(AF_INET, 1, &port);
  if (fd < 0) return -1;
  close(fd);
  return port;
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

static void test_ok(void) {
  int port;
  int lfd = listener(AF_INET, 64, &port);
  CU_ASSERT_FATAL(lfd >= 0);
  char json[256], desc[128], want[128];
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  struct outcome o;
  run_probe(json, 5, 3000, &o, desc, sizeof desc);
  CU_ASSERT_EQUAL(o.n, 5);
  CU_ASSERT_EQUAL(o.ok, 5);
  for (int i = 0; i < o.n; i++) CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(drain(lfd), 5);
  snprintf(want, sizeof want, "connect 127.0.0.1:%d", port);
  ASSERT_STR(desc, want);
  close(lfd);
}

/* A name goes through uv_getaddrinfo; "localhost" may give ::1 first, where
 * nobody listens, and then 127.0.0.1: any address that accepts is ok. */
static void test_name(void) {
  int port;
  int lfd = listener(AF_INET, 64, &port);
  CU_ASSERT_FATAL(lfd >= 0);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"localhost\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  struct outcome o;
  run_probe(json, 3, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.n, 3);
  CU_ASSERT_EQUAL(o.ok, 3);
  CU_ASSERT_EQUAL(drain(lfd), 3);
  close(lfd);

  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"nonexistent.invalid\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":3000}",
           port);
  run_probe(json, 1, 5000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  if (o.cls[0] == GD_SAMPLE_TIMEOUT) GD_SKIP("the resolver here does not answer");
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_DNS);
  CU_ASSERT(strncmp(o.detail[0], "cannot resolve 'nonexistent.invalid': ", 38) == 0);
}

static void test_ipv6(void) {
  int port;
  int lfd = listener(AF_INET6, 64, &port);
  if (lfd < 0) GD_SKIP("no IPv6 loopback");
  char json[256], desc[128], want[128];
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"::1\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  struct outcome o;
  run_probe(json, 2, 3000, &o, desc, sizeof desc);
  CU_ASSERT_EQUAL(o.ok, 2);
  snprintf(want, sizeof want, "connect [::1]:%d", port);
  ASSERT_STR(desc, want);
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"[::1]\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  run_probe(json, 2, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.ok, 2);
  CU_ASSERT_EQUAL(drain(lfd), 4);
  close(lfd);
}

static void test_refused(void) {
  int port = closed_port();
  CU_ASSERT_FATAL(port > 0);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  struct outcome o;
  run_probe(json, 3, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.n, 3);
  for (int i = 0; i < o.n; i++) {
    CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_REFUSED);
    ASSERT_STR(o.detail[i], "connection refused");
  }
}

/* Loopback only: a listener whose accept queue is full drops new SYNs, so
 * the connect hangs until the generic timeout cancels it. */
static void test_timeout(void) {
  int port;
  int lfd = listener(AF_INET, 0, &port);
  CU_ASSERT_FATAL(lfd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fill[4];
  for (int i = 0; i < 4; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
  }
  usleep(50000);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
           "\"interval_ms\":100,\"timeout_ms\":50}",
           port);
  struct outcome o;
  run_probe(json, 2, 3000, &o, NULL, 0);
  for (int i = 0; i < 4; i++) close(fill[i]);
  close(lfd);
  CU_ASSERT_FATAL(o.n >= 2);
  if (o.cls[0] == GD_SAMPLE_OK) GD_SKIP("this kernel accepted past the backlog");
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_TIMEOUT);
    ASSERT_STR(o.detail[i], "no answer within 50 ms");
  }
}

static void test_config_errors(void) {
  const char *m;
  m = init_error("{\"type\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":0,"
                 "\"interval_ms\":10,\"timeout_ms\":100}");
  CU_ASSERT(strstr(m, "probes.t.port") != NULL);
  m = init_error("{\"type\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":65536,"
                 "\"interval_ms\":10,\"timeout_ms\":100}");
  CU_ASSERT(strstr(m, "probes.t.port") != NULL);
  m = init_error("{\"type\":\"tcp\",\"port\":80,"
                 "\"interval_ms\":10,\"timeout_ms\":100}");
  CU_ASSERT(strstr(m, "probes.t.host") != NULL);
  m = init_error("{\"type\":\"tcp\",\"host\":\"a b\",\"port\":80,"
                 "\"interval_ms\":10,\"timeout_ms\":100}");
  ASSERT_STR(m, "probes.t.host: must be a host name or address, got 'a b'");
  m = init_error("{\"type\":\"tcp\",\"host\":\"x\",\"port\":80,\"url\":\"y\","
                 "\"interval_ms\":10,\"timeout_ms\":100}");
  CU_ASSERT(strstr(m, "'url'") != NULL);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"connect ok", test_ok},
      {"names resolve on the loop", test_name},
      {"ipv6 literal", test_ipv6},
      {"refused", test_refused},
      {"timeout on a full backlog", test_timeout},
      {"configuration errors", test_config_errors},
      {NULL, NULL},
  };
  return gd_test_run("tcp_probe", tests);
}

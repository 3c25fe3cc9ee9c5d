/* The http probe, driven through the real scheduler (probe.c) and gd_curl
 * against an HTTP server in the test. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "gameday/curl.h"
#include "gameday/probe.h"
#include "httpd.h"
#include "proberun.h"
#include "testutil.h"

/* ---- the tests ---------------------------------------------------------- */

static void test_ok_keepalive(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, "ok\n") == 0);
  char json[512], desc[256], want[256];
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/health\","
           "\"interval_ms\":5,\"timeout_ms\":1000,"
           "\"expect\":{\"status\":200,\"body_contains\":\"ok\","
           "\"body_regex\":\"^o+k\"}}",
           sv.port);
  struct gd_proberun o;
  gd_proberun(json, 10, 3000, &o, desc, sizeof desc);
  CU_ASSERT(o.n >= 10);
  for (int i = 0; i < o.n; i++) CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(o.failed, 0);
  /* Every sample on the one keep-alive connection. */
  CU_ASSERT_EQUAL(atomic_load(&sv.accepts), 1);
  snprintf(want, sizeof want,
           "GET http://127.0.0.1:%d/health expect 200, body contains 'ok', "
           "body matches '^o+k'",
           sv.port);
  GD_ASSERT_STR(desc, want);
  gd_httpd_stop(&sv);
}

static void test_status(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 503, "unavailable\n") == 0);
  char json[512];
  struct gd_proberun o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,\"expect\":{\"status\":200}}",
           sv.port);
  gd_proberun(json, 3, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 3);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_STATUS);
  GD_ASSERT_STR(o.detail[0], "status 503 (expected 200)");

  /* Default: any 2xx. */
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           sv.port);
  gd_proberun(json, 1, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_STATUS);
  GD_ASSERT_STR(o.detail[0], "status 503 (expected 2xx)");

  /* A list, numbers given as strings too (they may come from ${vars}). */
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,"
           "\"expect\":{\"status\":[200,\"503\"]}}",
           sv.port);
  gd_proberun(json, 2, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 2);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(o.cls[1], GD_SAMPLE_OK);
  gd_httpd_stop(&sv);

  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 201, "made\n") == 0);
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           sv.port);
  gd_proberun(json, 1, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_OK);
  gd_httpd_stop(&sv);
}

static void test_body_mismatch(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, "ok\n") == 0);
  char json[512];
  struct gd_proberun o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,"
           "\"expect\":{\"body_contains\":\"nope\"}}",
           sv.port);
  gd_proberun(json, 1, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_MISMATCH);
  GD_ASSERT_STR(o.detail[0], "body does not contain 'nope'");

  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,"
           "\"expect\":{\"status\":200,\"body_regex\":\"^ko\"}}",
           sv.port);
  gd_proberun(json, 1, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_MISMATCH);
  GD_ASSERT_STR(o.detail[0], "body does not match '^ko'");
  gd_httpd_stop(&sv);
}

static void test_refused(void) {
  int port = gd_httpd_closed_port();
  CU_ASSERT_FATAL(port > 0);
  char json[512];
  struct gd_proberun o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  gd_proberun(json, 3, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 3);
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_REFUSED);
    GD_ASSERT_STR(o.detail[i], "connection refused");
  }
}

static void test_timeout(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_HANG, 200, NULL) == 0);
  char json[512];
  struct gd_proberun o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":100,\"timeout_ms\":50}",
           sv.port);
  gd_proberun(json, 2, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 2);
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_TIMEOUT);
    GD_ASSERT_STR(o.detail[i], "no answer within 50 ms");
    CU_ASSERT_EQUAL(o.lat_ns[i], 50000000u);
  }
  /* The request did reach the server: the time-out is the answer's. */
  CU_ASSERT(atomic_load(&sv.requests) >= 2);
  /* A cancelled transfer's connection is not reused. */
  CU_ASSERT(atomic_load(&sv.accepts) >= 2);
  gd_httpd_stop(&sv);
}

static void test_fresh_connection(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, NULL) == 0);
  char json[512];
  struct gd_proberun o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,\"fresh_connection\":true}",
           sv.port);
  gd_proberun(json, 8, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.n, 8);
  CU_ASSERT_EQUAL(o.ok, 8);
  CU_ASSERT_EQUAL(atomic_load(&sv.requests), 8);
  CU_ASSERT_EQUAL(atomic_load(&sv.accepts), 8);
  gd_httpd_stop(&sv);

  /* The same without: one connection. */
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, NULL) == 0);
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000,\"fresh_connection\":false}",
           sv.port);
  gd_proberun(json, 8, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.ok, 8);
  CU_ASSERT_EQUAL(atomic_load(&sv.requests), 8);
  CU_ASSERT_EQUAL(atomic_load(&sv.accepts), 1);
  gd_httpd_stop(&sv);
}

/* Hung requests with a timeout longer than the interval: with enough slots
 * they overlap and no sample is skipped; with one slot most are. */
static void test_max_inflight(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_HANG, 200, NULL) == 0);
  char json[512];
  struct gd_proberun o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":20,\"timeout_ms\":50,\"max_inflight\":4}",
           sv.port);
  gd_proberun(json, 0, 500, &o, NULL, 0);
  CU_ASSERT(o.failed >= 15);
  CU_ASSERT_EQUAL(o.ok, 0);
  CU_ASSERT(o.skipped <= 1);
  CU_ASSERT(atomic_load(&sv.max_open) >= 3);
  for (int i = 0; i < o.n; i++) CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_TIMEOUT);
  gd_httpd_stop(&sv);

  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_HANG, 200, NULL) == 0);
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":20,\"timeout_ms\":50}",
           sv.port);
  gd_proberun(json, 0, 500, &o, NULL, 0);
  CU_ASSERT(o.skipped >= 10);
  CU_ASSERT(o.failed <= 10);
  CU_ASSERT(atomic_load(&sv.max_open) <= 2);
  gd_httpd_stop(&sv);
}

static void test_protocol_and_tls(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_CLOSE, 200, NULL) == 0);
  char json[512];
  struct gd_proberun o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           sv.port);
  gd_proberun(json, 2, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 2);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_PROTOCOL);
  GD_ASSERT_STR(o.detail[0], "empty reply from server");
  gd_httpd_stop(&sv);

  /* https to a plain HTTP server: the handshake fails. */
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, NULL) == 0);
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"https://127.0.0.1:%d/\","
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           sv.port);
  gd_proberun(json, 1, 3000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_TLS);
  printf("\n    tls: %s ", o.detail[0]);
  gd_httpd_stop(&sv);
}

static void test_method_headers_body(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, NULL) == 0);
  char json[512], desc[256], want[256];
  struct gd_proberun o;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://localhost:%d/w\","
           "\"method\":\"PUT\",\"headers\":{\"X-Probe\":\"yes\"},"
           "\"body\":\"hello\",\"interval_ms\":5,\"timeout_ms\":1000}",
           sv.port);
  gd_proberun(json, 1, 3000, &o, desc, sizeof desc);
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
  GD_ASSERT_STR(desc, want);
  gd_httpd_stop(&sv);
}

static void test_config_errors(void) {
  const char *base = "\"type\":\"http\",\"interval_ms\":10,\"timeout_ms\":100";
  char json[512];
#define ERR(extra, msg)                                                       \
  do {                                                                        \
    snprintf(json, sizeof json, "{%s%s}", base, extra);                       \
    GD_ASSERT_STR(gd_proberun_init_error(json), msg);                         \
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
  const char *m = gd_proberun_init_error(
      "{\"type\":\"http\",\"interval_ms\":10,"
      "\"timeout_ms\":100}");
  CU_ASSERT(strstr(m, "probes.t") && strstr(m, "url"));
  m = gd_proberun_init_error(
      "{\"type\":\"http\",\"interval_ms\":10,\"timeout_ms\":100,"
      "\"url\":\"http://x/\",\"fresh_connection\":\"yes\"}");
  CU_ASSERT(strstr(m, "probes.t.fresh_connection") != NULL);
  m = gd_proberun_init_error(
      "{\"type\":\"http\",\"interval_ms\":10,\"timeout_ms\":100,"
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

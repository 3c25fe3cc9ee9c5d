/* The http action on gd_curl against an HTTP server in the test. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/curl.h"
#include "httpd.h"
#include "testutil.h"

#define ASSERT_STR(got, want)                                                 \
  do {                                                                        \
    const char *g_ = (got);                                                   \
    if (strcmp(g_ ? g_ : "(null)", (want)) != 0)                              \
      printf("\n    got '%s', want '%s' ", g_ ? g_ : "(null)", (want));       \
    CU_ASSERT_STRING_EQUAL(g_ ? g_ : "(null)", (want));                       \
  } while (0)

struct arun {
  struct gd_action a;
  struct gd_curl *c;
  uv_timer_t cancel;
  int cancel_ms;
  int calls, curl_closed;
};

static void curl_closed(void *arg) { ((struct arun *)arg)->curl_closed = 1; }

static void action_done(struct gd_action *a, void *arg) {
  struct arun *r = arg;
  (void)a;
  r->calls++;
  uv_close((uv_handle_t *)&r->cancel, NULL);
  gd_curl_close(r->c, curl_closed, r);
}

static void on_cancel(uv_timer_t *t) {
  struct arun *r = t->data;
  gd_action_cancel(&r->a);
}

/* Loads the action, runs it once on a fresh loop (cancelling it after
 * cancel_ms when > 0), and checks the callback came once and the loop
 * closes. The action is left loaded for the caller to inspect and free. */
static void run_action(struct arun *r, const char *json, int cancel_ms,
                       char *desc, size_t dn) {
  memset(r, 0, sizeof *r);
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_FATAL(spec != NULL);
  struct gd_error err = {0};
  int rc = gd_action_init(&r->a, spec, "fault[0]", &err);
  if (rc) printf("\n    init: %s ", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  cJSON_Delete(spec); /* the action keeps nothing of it */
  if (desc) r->a.ops->describe(&r->a, desc, dn);
  uv_loop_t loop;
  uv_loop_init(&loop);
  CU_ASSERT_FATAL(gd_curl_new(&loop, &r->c, &err) == 0);
  uv_timer_init(&loop, &r->cancel);
  r->cancel.data = r;
  if (cancel_ms > 0) uv_timer_start(&r->cancel, on_cancel, (uint64_t)cancel_ms, 0);
  CU_ASSERT_FATAL(gd_action_run(&r->a, &loop, r->c, action_done, r, &err) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(r->calls, 1);
  CU_ASSERT_EQUAL(r->curl_closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

static const char *init_error(const char *json) {
  static struct gd_error err;
  memset(&err, 0, sizeof err);
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_FATAL(spec != NULL);
  struct gd_action a;
  int rc = gd_action_init(&a, spec, "fault[0]", &err);
  CU_ASSERT(rc != 0);
  if (rc == 0) gd_action_free(&a);
  cJSON_Delete(spec);
  return err.msg;
}

static int detail_status(const struct gd_action *a) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(a->detail, "status");
  return cJSON_IsNumber(s) ? s->valueint : -1;
}

static const char *detail_body(const struct gd_action *a) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(a->detail, "body");
  return cJSON_IsString(s) ? s->valuestring : NULL;
}

static void test_post_ok(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, "{\"id\":1}\n") == 0);
  char json[512], desc[256], want[256];
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"method\":\"POST\","
           "\"url\":\"http://127.0.0.1:%d/fault?mode=503&for_ms=10\","
           "\"headers\":{\"Content-Type\":\"application/json\"},"
           "\"body\":\"{\\\"x\\\":1}\",\"expect\":{\"status\":200}}",
           sv.port);
  struct arun r;
  run_action(&r, json, 0, desc, sizeof desc);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT_EQUAL(r.a.cancelled, 0);
  ASSERT_STR(r.a.message, "HTTP 200");
  CU_ASSERT_EQUAL(detail_status(&r.a), 200);
  ASSERT_STR(detail_body(&r.a), "{\"id\":1}\n");
  snprintf(want, sizeof want,
           "POST http://127.0.0.1:%d/fault?mode=503&for_ms=10", sv.port);
  ASSERT_STR(desc, want);
  pthread_mutex_lock(&sv.mu);
  CU_ASSERT(strncmp(sv.last, "POST /fault?mode=503&for_ms=10 HTTP/1.1\r\n", 41) == 0);
  CU_ASSERT(strstr(sv.last, "\r\nContent-Type: application/json\r\n") != NULL);
  CU_ASSERT(strstr(sv.last, "\r\n\r\n{\"x\":1}") != NULL);
  pthread_mutex_unlock(&sv.mu);
  gd_action_free(&r.a);

  /* POST without a body still sends Content-Length: 0. */
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"method\":\"POST\","
           "\"url\":\"http://127.0.0.1:%d/reset\"}",
           sv.port);
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  pthread_mutex_lock(&sv.mu);
  CU_ASSERT(strncmp(sv.last, "POST /reset HTTP/1.1\r\n", 22) == 0);
  CU_ASSERT(strstr(sv.last, "\r\nContent-Length: 0\r\n") != NULL);
  pthread_mutex_unlock(&sv.mu);
  gd_action_free(&r.a);
  gd_httpd_stop(&sv);
}

static void test_status_check(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 503, "unavailable\n") == 0);
  char json[512];
  struct arun r;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"expect\":{\"status\":200}}",
           sv.port);
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  ASSERT_STR(r.a.message, "HTTP 503 (expected 200)");
  CU_ASSERT_EQUAL(detail_status(&r.a), 503);
  ASSERT_STR(detail_body(&r.a), "unavailable\n");
  gd_action_free(&r.a);

  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\"}", sv.port);
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  ASSERT_STR(r.a.message, "HTTP 503 (expected 2xx)");
  gd_action_free(&r.a);

  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"expect\":{\"status\":[200,503]}}",
           sv.port);
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  ASSERT_STR(r.a.message, "HTTP 503");
  gd_action_free(&r.a);
  gd_httpd_stop(&sv);
}

static void test_refused(void) {
  int port = gd_httpd_closed_port();
  CU_ASSERT_FATAL(port > 0);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\"}", port);
  struct arun r;
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  ASSERT_STR(r.a.message, "connection refused");
  CU_ASSERT(r.a.detail == NULL);
  gd_action_free(&r.a);
}

static void test_cancel(void) {
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_HANG, 200, NULL) == 0);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\"}", sv.port);
  struct arun r;
  uint64_t t0 = uv_hrtime();
  run_action(&r, json, 50, NULL, 0);
  uint64_t ms = (uv_hrtime() - t0) / 1000000u;
  CU_ASSERT(ms >= 45 && ms < 1000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_EQUAL(r.a.cancelled, 1);
  ASSERT_STR(r.a.message, "cancelled");
  CU_ASSERT_EQUAL(atomic_load(&sv.requests), 1);
  gd_action_free(&r.a);
  gd_httpd_stop(&sv);
}

/* The journal keeps the first 1 KiB of the body, cut on a UTF-8 boundary. */
static void test_body_truncated(void) {
  static char body[2048];
  memset(body, 'a', 1023);
  memcpy(body + 1023, "\xc3\xa9", 2); /* é straddles the 1024th byte */
  memset(body + 1025, 'b', 100);
  body[1125] = 0;
  struct gd_httpd sv;
  CU_ASSERT_FATAL(gd_httpd_start(&sv, GD_HTTPD_ANSWER, 200, body) == 0);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\"}", sv.port);
  struct arun r;
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  const char *b = detail_body(&r.a);
  CU_ASSERT_FATAL(b != NULL);
  CU_ASSERT_EQUAL(strlen(b), 1023);
  CU_ASSERT(strspn(b, "a") == 1023);
  gd_action_free(&r.a);
  gd_httpd_stop(&sv);
}

static void test_config_errors(void) {
  const char *m;
  m = init_error("{\"type\":\"http\",\"url\":\"http://x/\","
                 "\"expect\":{\"status\":200,\"body_contains\":\"ok\"}}");
  ASSERT_STR(m, "fault[0].expect: unknown key 'body_contains'");
  m = init_error("{\"type\":\"http\",\"url\":\"http://x/\","
                 "\"expect\":{\"status\":600}}");
  ASSERT_STR(m, "fault[0].expect.status: must be an HTTP status from 100 to "
                "599, got '600'");
  m = init_error("{\"type\":\"http\",\"url\":\"file:///etc/passwd\"}");
  ASSERT_STR(m, "fault[0].url: must be an http or https URL, got "
                "'file:///etc/passwd'");
  m = init_error("{\"type\":\"http\",\"url\":\"http://x/\",\"method\":\"P OST\"}");
  ASSERT_STR(m, "fault[0].method: must be an uppercase HTTP method, got 'P OST'");
  m = init_error("{\"type\":\"http\"}");
  CU_ASSERT(strstr(m, "fault[0]") && strstr(m, "url"));
  m = init_error("{\"type\":\"http\",\"url\":\"http://x/\",\"fresh_connection\":true}");
  CU_ASSERT(strstr(m, "'fresh_connection'") != NULL);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"POST with headers and body", test_post_ok},
      {"expect.status", test_status_check},
      {"refused", test_refused},
      {"cancel", test_cancel},
      {"body in the detail is cut at 1 KiB", test_body_truncated},
      {"configuration errors", test_config_errors},
      {NULL, NULL},
  };
  return gd_test_run("http_action", tests);
}

/* The sleep action: it waits as long as asked (never less), can be cancelled
 * early, runs again, and its timeout leaves room for long sleeps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "testutil.h"

static cJSON *J(const char *s) {
  char *t = strdup(s);
  for (char *p = t; *p; p++)
    if (*p == '\'') *p = '"';
  cJSON *j = cJSON_Parse(t);
  free(t);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  return j;
}

struct run {
  struct gd_action a;
  uv_loop_t loop;
  uv_timer_t canceller;
  int use_canceller;
  int calls;
  int open_at_done; /* handles still open (not closing) at the callback */
  uint64_t t_start, t_done;
};

static void count_open(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) (*(int *)arg)++;
}

static void on_done(struct gd_action *a, void *arg) {
  struct run *r = arg;
  (void)a;
  r->calls++;
  r->t_done = uv_hrtime();
  if (r->use_canceller && !uv_is_closing((uv_handle_t *)&r->canceller))
    uv_close((uv_handle_t *)&r->canceller, NULL);
  r->open_at_done = 0;
  uv_walk(&r->loop, count_open, &r->open_at_done);
}

static void cancel_now(uv_timer_t *t) {
  struct run *r = t->data;
  gd_action_cancel(&r->a);
}

/* Runs the already initialised r->a once; cancel_ms < 0: no cancel. */
static void run_once(struct run *r, int cancel_ms) {
  struct gd_error err = {0};
  r->calls = 0;
  r->use_canceller = cancel_ms >= 0;
  CU_ASSERT_EQUAL_FATAL(uv_loop_init(&r->loop), 0);
  if (r->use_canceller) {
    uv_timer_init(&r->loop, &r->canceller);
    r->canceller.data = r;
    uv_timer_start(&r->canceller, cancel_now, (uint64_t)cancel_ms, 0);
  }
  r->t_start = uv_hrtime();
  CU_ASSERT_EQUAL(gd_action_run(&r->a, &r->loop, NULL, on_done, r, &err), 0);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(uv_loop_close(&r->loop), 0);
  CU_ASSERT_EQUAL(r->calls, 1);
  CU_ASSERT_EQUAL(r->open_at_done, 0); /* the timer is closed before done */
}

static void init(struct run *r, const char *spec) {
  struct gd_error err = {0};
  memset(r, 0, sizeof *r);
  cJSON *j = J(spec);
  int rc = gd_action_init(&r->a, j, "fault[2]", &err);
  cJSON_Delete(j);
  if (rc) printf("\n    init: %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static double elapsed_ms(const struct run *r) {
  return (double)(r->t_done - r->t_start) / 1e6;
}

static void duration(void) {
  struct run r;
  init(&r, "{'type':'sleep','ms':150}");
  run_once(&r, -1);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT(elapsed_ms(&r) >= 150.0);
  CU_ASSERT(elapsed_ms(&r) < 400.0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.a.message);
  CU_ASSERT_EQUAL(strncmp(r.a.message, "slept 1", 7), 0);

  /* again on the same action: the timer is set up afresh */
  run_once(&r, -1);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT(elapsed_ms(&r) >= 150.0);
  gd_action_free(&r.a);
}

static void zero(void) {
  struct run r;
  init(&r, "{'type':'sleep','ms':0}");
  run_once(&r, -1);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT(elapsed_ms(&r) < 100.0);
  gd_action_free(&r.a);
}

static void cancel(void) {
  struct run r;
  init(&r, "{'type':'sleep','ms':400}");
  run_once(&r, 100);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_EQUAL(r.a.cancelled, 1);
  CU_ASSERT(elapsed_ms(&r) >= 100.0);
  CU_ASSERT(elapsed_ms(&r) < 350.0);
  unsigned ms = 0;
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.a.message);
  CU_ASSERT_EQUAL(sscanf(r.a.message, "cancelled after %u ms", &ms), 1);
  CU_ASSERT(ms >= 100 && ms < 350);

  /* a cancelled sleep runs in full next time */
  run_once(&r, -1);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT_EQUAL(r.a.cancelled, 0);
  CU_ASSERT(elapsed_ms(&r) >= 400.0);
  gd_action_free(&r.a);
}

static void timeout_room(void) {
  struct run r;
  /* default timeout (30 s) would cut a 60 s sleep short: it is raised */
  init(&r, "{'type':'sleep','ms':60000}");
  CU_ASSERT(r.a.timeout_ns > 60000ull * 1000000);
  gd_action_free(&r.a);
  /* an explicit timeout is the user's choice and is kept */
  init(&r, "{'type':'sleep','ms':60000,'timeout_ms':1000}");
  CU_ASSERT_EQUAL(r.a.timeout_ns, 1000ull * 1000000);
  gd_action_free(&r.a);
  init(&r, "{'type':'sleep','ms':500}");
  CU_ASSERT_EQUAL(r.a.timeout_ns,
                  (uint64_t)GD_ACTION_DEFAULT_TIMEOUT_MS * 1000000);
  gd_action_free(&r.a);
}

static void describe_and_errors(void) {
  struct run r;
  char buf[64];
  init(&r, "{'type':'sleep','ms':'2500'}"); /* numbers may come as strings */
  r.a.ops->describe(&r.a, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "sleep 2500 ms");
  gd_action_free(&r.a);

  static const struct {
    const char *spec, *msg;
  } bad[] = {
      {"{'type':'sleep'}", "fault[2].ms: required key missing"},
      {"{'type':'sleep','ms':-1}", "fault[2].ms"},
      {"{'type':'sleep','ms':'soon'}", "fault[2].ms"},
      {"{'type':'sleep','ms':10,'seconds':1}",
       "fault[2]: unknown key 'seconds'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct gd_action a;
    struct gd_error err = {0};
    cJSON *j = J(bad[i].spec);
    int rc = gd_action_init(&a, j, "fault[2]", &err);
    cJSON_Delete(j);
    CU_ASSERT_NOT_EQUAL(rc, 0);
    if (rc == 0) {
      gd_action_free(&a);
      continue;
    }
    if (!strstr(err.msg, bad[i].msg))
      printf("\n    got '%s', wanted '%s'\n", err.msg, bad[i].msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].msg));
  }
}

int main(void) {
  static const struct gd_test tests[] = {
      {"duration", duration},
      {"zero", zero},
      {"cancel", cancel},
      {"timeout leaves room", timeout_room},
      {"describe and errors", describe_and_errors},
      {NULL, NULL},
  };
  return gd_test_run("sleep", tests);
}

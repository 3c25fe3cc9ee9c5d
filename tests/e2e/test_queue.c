/* End to end: the queue scenarios of scenarios/local/ (queue-backlog,
 * queue-consumers-stopped) run by the real gameday binary against the
 * local staging stack's queue tier (fauxqs and its workers), brought up for
 * this program in a run directory of its own on free ports and taken down
 * at the end. Each run is judged by its journal: the backlog really built
 * (peak depth close to N, exactly N when nobody consumed), the drain was
 * measured (drain_ms, agreeing with the depth probe's own recovery_ms, and
 * a drain rate near the pool's), nothing missing, verdict pass, workers
 * running again afterwards. A last run reconciles against a ledger with a
 * MessageId no worker ever processed: it must report 1 missing and fail.
 *
 * gameday talks to fauxqs as to SQS: the endpoint and dummy credentials go
 * into its environment (this process's, which it inherits). Skips as a
 * whole when the stack's packages or Node are missing. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdrun.h"
#include "proberun.h"
#include "stack.h"
#include "testutil.h"

#define RUN_TIMEOUT_MS 180000
#define ROLLBACK_WAIT_MS 150000
/* The scenarios' defaults, which these runs keep. */
#define BACKLOG_N 2000
#define STOPPED_N 1500

static struct {
  struct gd_stack st;
  char backlog_ledger[4200];
} S;

/* The first action of a phase, or NULL. */
static const cJSON *action(const cJSON *j, const char *phase) {
  return gd_jfind(j, "actions", "phase", phase);
}

/* The fault action that sent the flood (its detail has the counts). */
static const cJSON *send_action(const cJSON *j) {
  const cJSON *a;
  cJSON_ArrayForEach(a, gd_jget(j, "actions")) {
    if (gd_jget(a, "detail.ledger")) return a;
  }
  return NULL;
}

static const cJSON *threshold(const cJSON *j, const char *name) {
  return gd_jfind(j, "thresholds", "name", name);
}

/* gameday run SCENARIO with every ports.env value as --var and extra
 * NAME=value vars (NULL-terminated); the journal read back into r. */
static void gameday_run(const char *scenario, struct gd_gdrun *r,
                        const char *const *extra) {
  struct gd_gdrun_args a = {0};
  gd_gdrun_arg(&a, "run");
  gd_gdrun_arg(&a, "%s", scenario);
  gd_stack_gameday(&S.st, &a,
                   &(struct gd_stack_gdrun){.name = "queue-run",
                                            .vars = extra,
                                            .timeout_ms = RUN_TIMEOUT_MS,
                                            .grace_ms = ROLLBACK_WAIT_MS},
                   r);
}

static int stack_healthy(void) {
  char *out = NULL;
  int rc = gd_stack_run(&S.st, &out, "status", NULL);
  if (rc != 0) printf("\n    stack.sh status: exit %d\n%s", rc, out);
  free(out);
  return rc == 0;
}

/* What the journal says about the drain; asserts what every queue run
 * shares. */
static void common_checks(const cJSON *j, int n) {
  double peak = gd_jnum(j, "measurements.peak_depth");
  double drain = gd_jnum(j, "measurements.drain_ms");
  double rate = gd_jnum(j, "measurements.drain_rate_per_s");
  double rec = gd_jnum(j, "probes.depth.figures.recovery_ms");
  double sent = gd_jnum(j, "measurements.messages_sent");
  double done = gd_jnum(j, "measurements.messages_processed");
  double missing = gd_jnum(j, "measurements.messages_missing");
  double dup = gd_jnum(j, "measurements.messages_duplicated");
  printf(
      "\n    peak %g of %d, drain_ms %.1f (depth.recovery_ms %.1f), %.0f/s; "
      "%g sent, %g processed, %g missing, %g duplicated",
      peak, n, drain, rec, rate, sent, done, missing, dup);
  GD_ASSERT_STR(gd_jstr(j, "verdict"), "pass");
  /* The flood went out whole and was accounted for. */
  CU_ASSERT_EQUAL(gd_jnum(send_action(j), "detail.sent"), n);
  CU_ASSERT_EQUAL(sent, n);
  CU_ASSERT_EQUAL(done, n);
  CU_ASSERT_EQUAL(missing, 0);
  CU_ASSERT(dup >= 0 && dup < n / 10);
  CU_ASSERT(peak <= n);
  /* The drain was measured and agrees with the driver's view of the same
   * probe (it uses stable_for_ms, the probe an estimated t0: within about
   * an interval of each other). */
  CU_ASSERT(drain > 0);
  CU_ASSERT(drain <= gd_jnum(threshold(j, "depth.drain_ms"), "limit"));
  CU_ASSERT(fabs(drain - rec) <= 150);
  /* 3 workers at 100 messages a second, give or take. */
  CU_ASSERT(rate >= 150 && rate <= 600);
  /* The check's message tells the same counts. */
  const cJSON *v = action(j, "verify");
  char want[128];
  snprintf(want, sizeof want, "%d sent, %d processed, 0 missing", n, n);
  CU_ASSERT_EQUAL(strncmp(gd_jstr(v, "message"), want, strlen(want)), 0);
  CU_ASSERT_TRUE(cJSON_IsTrue(gd_jget(v, "ok")));
}

/* ---- the tests, in order ---- */

static void test_stack_up(void) {
  char *out;
  if (gd_stack_test_up(&S.st, &out) != 0) return;
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "queue        ok"));
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "worker-3     ok"));
  free(out);
  char *endpoint = gd_stack_env(&S.st, "SQS_ENDPOINT");
  char *url = gd_stack_env(&S.st, "QUEUE_URL");
  char *workers = gd_stack_env(&S.st, "QUEUE_WORKERS");
  CU_ASSERT_PTR_NOT_NULL_FATAL(endpoint);
  CU_ASSERT_PTR_NOT_NULL(url);
  char *processed = gd_stack_env(&S.st, "QUEUE_PROCESSED");
  CU_ASSERT_PTR_NOT_NULL(processed);
  free(processed);
  if (workers) GD_ASSERT_STR(workers, "3");
  /* gameday reaches fauxqs as its SQS endpoint, with dummy credentials
   * (fauxqs does not check them); nothing leaves 127.0.0.1. */
  setenv("AWS_ENDPOINT_URL_SQS", endpoint, 1);
  setenv("AWS_ACCESS_KEY_ID", "gameday", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "gameday", 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  free(endpoint);
  free(url);
  free(workers);
  S.st.up = 1;
}

static void test_queue_backlog(void) {
  if (!S.st.up) GD_SKIP("the stack did not come up");
  struct gd_gdrun r;
  gameday_run(gd_test_src("scenarios/local/queue-backlog.json"), &r, NULL);
  const cJSON *j = r.journal;
  if (!j || r.status != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 0);
  if (j) {
    common_checks(j, BACKLOG_N);
    /* The backlog built: the workers take a few hundred while a flood of
     * well under a second goes out. */
    CU_ASSERT(gd_jnum(j, "measurements.peak_depth") >= 0.8 * BACKLOG_N);
    /* N / (3 x 100/s) = 6.7 s, less what was under the threshold. */
    double drain = gd_jnum(j, "measurements.drain_ms");
    CU_ASSERT(drain >= 4000);
    snprintf(S.backlog_ledger, sizeof S.backlog_ledger, "%s",
             gd_jstr(send_action(j), "detail.ledger"));
  }
  CU_ASSERT(stack_healthy());
  gd_gdrun_free(&r);
}

static void test_queue_consumers_stopped(void) {
  if (!S.st.up) GD_SKIP("the stack did not come up");
  struct gd_gdrun r;
  gameday_run(gd_test_src("scenarios/local/queue-consumers-stopped.json"), &r,
              NULL);
  const cJSON *j = r.journal;
  if (!j || r.status != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 0);
  if (j) {
    common_checks(j, STOPPED_N);
    /* Nobody consumed while it was sent: all of it was there. */
    CU_ASSERT_EQUAL(gd_jnum(j, "measurements.peak_depth"), STOPPED_N);
    /* The drain holds the outage: 3 s of waiting plus stop, start and
     * N / 300 s of work. */
    CU_ASSERT(gd_jnum(j, "measurements.drain_ms") >= 3000 + 4000);
    /* The workers were down and came back. */
    CU_ASSERT(gd_jnum(j, "probes.workers.failed") > 0);
    GD_ASSERT_STR(gd_jstr(j, "rollback"), "done");
  }
  CU_ASSERT(stack_healthy());
  gd_gdrun_free(&r);
}

/* A scenario of the test's own: a fault that changes nothing, then a
 * reconcile against the backlog's ledger plus one MessageId that no worker
 * ever saw. */
static void test_reconcile_finds_a_missing_message(void) {
  if (!S.st.up) GD_SKIP("the stack did not come up");
  if (!S.backlog_ledger[0]) GD_SKIP("queue-backlog left no ledger");
  char ledger[4200], scen[4200];
  snprintf(ledger, sizeof ledger, "%s/missing.ledger", S.st.tmp);
  snprintf(scen, sizeof scen, "%s/queue-missing.json", S.st.tmp);
  char *text = gd_test_read_file(S.backlog_ledger);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  size_t len = strlen(text);
  char *more = malloc(len + 64);
  CU_ASSERT_PTR_NOT_NULL_FATAL(more);
  snprintf(more, len + 64, "%s%d\tgameday-never-sent-0001\n", text,
           BACKLOG_N + 1);
  CU_ASSERT_EQUAL(gd_test_write_file(ledger, more), 0);
  free(text);
  free(more);
  CU_ASSERT_EQUAL(
      gd_test_write_file(
          scen,
          "{\"name\": \"queue-missing\",\n"
          " \"probes\": {\"sqs\": {\"type\": \"tcp\", \"host\": \"127.0.0.1\","
          " \"port\": \"${SQS_PORT}\", \"interval_ms\": 100,"
          " \"timeout_ms\": 1000}},\n"
          " \"steady_state\": {\"probes\": [\"sqs\"], \"for_ms\": 200},\n"
          " \"fault\": [{\"type\": \"sleep\", \"ms\": 10}],\n"
          " \"recovery\": {\"probes\": [\"sqs\"], \"stable_for_ms\": 200,"
          " \"timeout_ms\": 10000},\n"
          " \"verify\": [{\"type\": \"queue.reconcile\","
          " \"sent\": \"${ledger}\", \"processed\": \"${QUEUE_PROCESSED}\","
          " \"settle_ms\": 1000}],\n"
          " \"thresholds\": {\"messages_missing\": 0}}\n"),
      0);
  char var[4300];
  snprintf(var, sizeof var, "ledger=%s", ledger);
  const char *extra[] = {var, NULL};
  struct gd_gdrun r;
  gameday_run(scen, &r, extra);
  const cJSON *j = r.journal;
  if (!j || r.status != 1) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 1);
  if (j) {
    GD_ASSERT_STR(gd_jstr(j, "verdict"), "fail");
    CU_ASSERT_EQUAL(gd_jnum(j, "measurements.messages_missing"), 1);
    CU_ASSERT_EQUAL(gd_jnum(j, "measurements.messages_sent"), BACKLOG_N + 1);
    CU_ASSERT_EQUAL(gd_jnum(j, "measurements.messages_processed"), BACKLOG_N);
    const cJSON *v = action(j, "verify");
    CU_ASSERT_FALSE(cJSON_IsTrue(gd_jget(v, "ok")));
    CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(v, "message"),
                                  "1 missing, 0 duplicated (first missing: "
                                  "seq 2001 (id gameday-never-sent-0001))"));
    CU_ASSERT_FALSE(
        cJSON_IsTrue(gd_jget(threshold(j, "messages_missing"), "pass")));
  }
  gd_gdrun_free(&r);
}

static void test_stack_down(void) {
  if (S.st.skipped) GD_SKIP("the stack's packages are missing");
  char *out;
  if (gd_stack_test_down(&S.st, &out) != 0) return;
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "stopping fauxqs"));
  free(out);
  gd_stack_cleanup(&S.st, CU_get_number_of_failures() != 0);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"stack up, queue tier included", test_stack_up},
      {"queue-backlog", test_queue_backlog},
      {"queue-consumers-stopped", test_queue_consumers_stopped},
      {"reconcile: a message never processed fails verify",
       test_reconcile_finds_a_missing_message},
      {"stack down", test_stack_down},
      {NULL, NULL}};
  return gd_test_run("queue", tests);
}

/* End to end, the real gameday binary against faultserver: the command-line
 * paths around a run (second signal, dry run, plan, --out, confirmation of
 * a non-local environment, failing fault and verify actions). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fsclient.h"
#include "gdrun.h"
#include "testutil.h"

struct ctx {
  struct gd_fs fs;
  char *dir;
  char scenario[4096], log[4096], journal[4096];
};

/* A scenario against the fault server; FAULT, VERIFY, ROLLBACK and ENV are
 * spliced in as JSON text. */
static void write_scenario(struct ctx *c, const char *env, const char *fault,
                           const char *verify, const char *rollback) {
  char *json = malloc(8192);
  snprintf(json, 8192,
           "{\"name\": \"cli\", \"environment\": \"%s\",%s\n"
           " \"vars\": {\"port\": \"%d\", \"ctl\": \"%d\", \"dir\": \"%s\"},\n"
           " \"probes\": {\"web\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:${port}/health\",\n"
           "   \"interval_ms\": 10, \"timeout_ms\": 300}},\n"
           " \"steady_state\": {\"probes\": [\"web\"], \"for_ms\": 200},\n"
           " \"fault\": [%s],\n"
           " \"recovery\": {\"probes\": [\"web\"], \"stable_for_ms\": 200, \"timeout_ms\": 10000},\n"
           " \"verify\": [%s], \"rollback\": [%s],\n"
           " \"thresholds\": {\"recovery_ms\": 5000}}\n",
           env,
           strcmp(env, "local")
               ? " \"safety\": {\"required_tags\": {\"Environment\": \"staging\"}},"
               : "",
           c->fs.port, c->fs.ctl_port, c->dir, fault, verify, rollback);
  snprintf(c->scenario, sizeof c->scenario, "%s/s.json", c->dir);
  CU_ASSERT_FATAL(gd_test_write_file(c->scenario, json) == 0);
  free(json);
}

static int setup(struct ctx *c) {
  memset(c, 0, sizeof *c);
  if (gd_fs_start(&c->fs) != 0) return -1;
  c->dir = gd_test_tmpdir();
  snprintf(c->log, sizeof c->log, "%s/gameday.log", c->dir);
  snprintf(c->journal, sizeof c->journal, "%s/j.json", c->dir);
  return c->dir ? 0 : -1;
}

static void teardown(struct ctx *c) {
  CU_ASSERT_EQUAL(gd_fs_stop(&c->fs), 0);
  gd_test_rmrf(c->dir);
  free(c->dir);
}

/* gameday CMD on the scenario, its output in c->log; a run also writes its
 * journal, which gd_gdrun_wait reads. */
static void start_gameday(struct ctx *c, struct gd_gdrun *r, const char *cmd,
                          const char *extra) {
  char *args[] = {(char *)cmd, c->scenario, "--quiet", "--json", c->journal,
                  (char *)extra, NULL};
  if (strcmp(cmd, "run")) args[2] = NULL; /* validate, plan: no run options */
  gd_gdrun_start(r, args,
                 &(struct gd_gdrun_io){.out = c->log, .journal = c->journal});
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int log_contains(const struct gd_gdrun *r, const char *needle) {
  return r->out && strstr(r->out, needle);
}

static void test_second_signal(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("faultserver did not start");
  /* The fault window outlasts the test; the rollback hangs for 30 s: the
   * first SIGINT starts it, the second must stop waiting for it. */
  write_scenario(&c, "local",
                 "{\"type\": \"http\", \"method\": \"POST\", "
                 "\"url\": \"http://127.0.0.1:${ctl}/fault?mode=503&for_ms=60000\"}",
                 "",
                 "{\"type\": \"exec\", \"argv\": [\"sleep\", \"30\"]}, "
                 "{\"type\": \"http\", \"method\": \"POST\", \"url\": \"http://127.0.0.1:${ctl}/reset\"}");
  struct gd_gdrun r;
  start_gameday(&c, &r, "run", NULL);
  CU_ASSERT_FATAL(r.pid > 0);
  sleep_ms(1000); /* steady 200 ms, then observing the 503s */
  kill(r.pid, SIGINT);
  sleep_ms(500);  /* rollback[0] is sleeping now */
  uint64_t t = gd_fs_now_ns();
  kill(r.pid, SIGINT);
  int status = gd_gdrun_wait(&r, 10000);
  double waited_ms = (double)(gd_fs_now_ns() - t) / 1e6;
  CU_ASSERT_EQUAL(status, 3);
  CU_ASSERT(waited_ms < 5000);
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "aborted");
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "rollback"), "incomplete");
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(j, "reason"), "SIGINT"));
  gd_gdrun_free(&r);
  /* the second rollback action was never reached: the window is still on */
  cJSON *w = NULL;
  CU_ASSERT_EQUAL(gd_fs_windows(&c.fs, &w), 0);
  const cJSON *first = cJSON_GetArrayItem(w, 0);
  CU_ASSERT_STRING_NOT_EQUAL(gd_jstr(first, "state"), "cancelled");
  cJSON_Delete(w);
  teardown(&c);
}

static void test_dry_run(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("faultserver did not start");
  write_scenario(&c, "local",
                 "{\"type\": \"http\", \"method\": \"POST\", "
                 "\"url\": \"http://127.0.0.1:${ctl}/fault?mode=503&for_ms=1000\"}",
                 "", "{\"type\": \"http\", \"method\": \"POST\", \"url\": \"http://127.0.0.1:${ctl}/reset\"}");
  struct gd_gdrun r;
  start_gameday(&c, &r, "run", "--dry-run");
  CU_ASSERT_EQUAL(gd_gdrun_wait(&r, 20000), 0);
  CU_ASSERT_EQUAL(gd_fs_stat(&c.fs, "fault_requests"), 0);
  CU_ASSERT(gd_fs_stat(&c.fs, "requests") > 10); /* the probe did run */
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "pass");
  CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(j, "dry_run")));
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "rollback"), "none");
  CU_ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(j, "t0_monotonic_ns")));
  gd_gdrun_free(&r);
  teardown(&c);
}

static void test_plan_resolves_and_touches_nothing(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("faultserver did not start");
  char fault[4096];
  snprintf(fault, sizeof fault,
           "{\"type\": \"signal\", \"signal\": \"KILL\", \"pidfiles\": \"%s/pid\"}",
           c.fs.dir);
  write_scenario(&c, "local", fault, "", "");
  struct gd_gdrun r;
  start_gameday(&c, &r, "plan", NULL);
  CU_ASSERT_EQUAL(gd_gdrun_wait(&r, 10000), 0);
  char pidtext[32];
  snprintf(pidtext, sizeof pidtext, "pid %d", (int)c.fs.pid);
  CU_ASSERT_TRUE(log_contains(&r, pidtext)); /* the target, resolved */
  CU_ASSERT_EQUAL(kill(c.fs.pid, 0), 0);      /* and still alive */
  CU_ASSERT_EQUAL(gd_fs_stat(&c.fs, "requests"), 0);
  gd_gdrun_free(&r);
  teardown(&c);
}

static void test_out_dir(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("faultserver did not start");
  write_scenario(&c, "local",
                 "{\"type\": \"http\", \"method\": \"POST\", "
                 "\"url\": \"http://127.0.0.1:${ctl}/fault?mode=503&for_ms=100\"}",
                 "", "");
  char out[4096];
  snprintf(out, sizeof out, "%s/out/nested", c.dir);
  char *args[] = {"run", c.scenario, "--quiet", "--out", out, NULL};
  struct gd_gdrun r;
  gd_gdrun_start(&r, args, &(struct gd_gdrun_io){.out = c.log});
  CU_ASSERT_EQUAL(gd_gdrun_wait(&r, 20000), 0);
  gd_gdrun_free(&r);
  char path[4200];
  snprintf(path, sizeof path, "%s/cli.json", out);
  char *text = gd_test_read_file(path);
  CU_ASSERT_PTR_NOT_NULL(text);
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "format"), "gameday-journal/1");
  cJSON_Delete(j);
  free(text);
  snprintf(path, sizeof path, "%s/junit.xml", out);
  text = gd_test_read_file(path);
  CU_ASSERT_PTR_NOT_NULL(text);
  CU_ASSERT_PTR_NOT_NULL(text ? strstr(text, "<testsuite ") : NULL);
  free(text);
  teardown(&c);
}

static void test_non_local_needs_yes(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("faultserver did not start");
  write_scenario(&c, "staging",
                 "{\"type\": \"http\", \"method\": \"POST\", "
                 "\"url\": \"http://127.0.0.1:${ctl}/fault?mode=503&for_ms=100\"}",
                 "", "");
  struct gd_gdrun r;
  start_gameday(&c, &r, "run", NULL); /* stdin is /dev/null */
  CU_ASSERT_EQUAL(gd_gdrun_wait(&r, 10000), 2);
  CU_ASSERT_TRUE(log_contains(&r, "pass --yes"));
  CU_ASSERT_EQUAL(gd_fs_stat(&c.fs, "requests"), 0);
  gd_gdrun_free(&r);
  start_gameday(&c, &r, "run", "--yes");
  CU_ASSERT_EQUAL(gd_gdrun_wait(&r, 20000), 0);
  CU_ASSERT_EQUAL(gd_fs_stat(&c.fs, "fault_requests"), 1);
  gd_gdrun_free(&r);
  teardown(&c);
}

static void test_failed_fault_is_error(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("faultserver did not start");
  /* the control server answers 404 to an unknown path: the fault action
   * fails, nothing was injected, the rollback still runs */
  write_scenario(&c, "local",
                 "{\"type\": \"http\", \"method\": \"POST\", "
                 "\"url\": \"http://127.0.0.1:${ctl}/no-such-fault\"}",
                 "", "{\"type\": \"exec\", \"argv\": [\"touch\", \"${dir}/rolled-back\"]}");
  struct gd_gdrun r;
  start_gameday(&c, &r, "run", NULL);
  CU_ASSERT_EQUAL(gd_gdrun_wait(&r, 20000), 3);
  const cJSON *j = r.journal;
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "error");
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(j, "reason"), "fault[0] failed"));
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "rollback"), "done");
  gd_gdrun_free(&r);
  char path[4200];
  snprintf(path, sizeof path, "%s/rolled-back", c.dir);
  CU_ASSERT_EQUAL(access(path, F_OK), 0);
  teardown(&c);
}

static void test_failed_verify_fails_run(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("faultserver did not start");
  write_scenario(&c, "local",
                 "{\"type\": \"http\", \"method\": \"POST\", "
                 "\"url\": \"http://127.0.0.1:${ctl}/fault?mode=503&for_ms=100\"}",
                 "{\"type\": \"exec\", \"name\": \"data intact\", \"argv\": [\"false\"]}", "");
  struct gd_gdrun r;
  start_gameday(&c, &r, "run", NULL);
  CU_ASSERT_EQUAL(gd_gdrun_wait(&r, 20000), 1);
  const cJSON *j = r.journal;
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "fail");
  const cJSON *checks = cJSON_GetObjectItem(j, "checks");
  CU_ASSERT_EQUAL(cJSON_GetArraySize(checks), 1);
  CU_ASSERT_STRING_EQUAL(gd_jstr(cJSON_GetArrayItem(checks, 0), "name"), "data intact");
  CU_ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(checks, 0), "ok")));
  gd_gdrun_free(&r);
  teardown(&c);
}

static void test_rollback_that_cannot_start(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("faultserver did not start");
  /* The first rollback action cannot even start; the second must still run,
   * and a pass becomes an error: the stack may be left broken. */
  write_scenario(&c, "local",
                 "{\"type\": \"http\", \"method\": \"POST\", "
                 "\"url\": \"http://127.0.0.1:${ctl}/fault?mode=503&for_ms=100\"}",
                 "",
                 "{\"type\": \"exec\", \"argv\": [\"/nonexistent/restore-it\"]}, "
                 "{\"type\": \"exec\", \"argv\": [\"touch\", \"${dir}/second-ran\"]}");
  struct gd_gdrun r;
  start_gameday(&c, &r, "run", NULL);
  CU_ASSERT_EQUAL(gd_gdrun_wait(&r, 20000), 3);
  const cJSON *j = r.journal;
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "error");
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "rollback"), "incomplete");
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "reason"), "rollback incomplete");
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(j, "actions.1.message"), "/nonexistent/restore-it"));
  CU_ASSERT_TRUE(cJSON_IsFalse(gd_jget(j, "actions.1.ok")));
  char path[4200];
  snprintf(path, sizeof path, "%s/second-ran", c.dir);
  CU_ASSERT_EQUAL(access(path, F_OK), 0);
  gd_gdrun_free(&r);
  teardown(&c);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"second SIGINT stops waiting for the rollback", test_second_signal},
      {"--dry-run: probes run, nothing injected", test_dry_run},
      {"plan resolves targets and touches nothing", test_plan_resolves_and_touches_nothing},
      {"--out writes journal and JUnit", test_out_dir},
      {"non-local environment needs --yes", test_non_local_needs_yes},
      {"a failed fault action: verdict error, rollback runs", test_failed_fault_is_error},
      {"a failed verify action fails the run", test_failed_verify_fails_run},
      {"a rollback action that cannot start: the rest still runs", test_rollback_that_cannot_start},
      {NULL, NULL},
  };
  return gd_test_run("e2e-cli", tests);
}

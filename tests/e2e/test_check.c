/* End to end, the real gameday binary: `gameday check` with readiness files
 * whose checks are exec and tcp probes (pass, finding, warning, could not
 * check), a scenario's steady state, the exit codes, the table, the journal
 * and the JUnit XML. The local stack's own readiness file is exercised by
 * test_readiness against the real stack. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gdrun.h"
#include "testutil.h"

struct ctx {
  char *dir;
  char file[4096], file2[4096], log[4096], journal[4096], junit[4096];
};

static int setup(struct ctx *c) {
  memset(c, 0, sizeof *c);
  c->dir = gd_test_tmpdir();
  if (!c->dir) return -1;
  snprintf(c->file, sizeof c->file, "%s/readiness.json", c->dir);
  snprintf(c->file2, sizeof c->file2, "%s/scenario.json", c->dir);
  snprintf(c->log, sizeof c->log, "%s/gameday.log", c->dir);
  snprintf(c->journal, sizeof c->journal, "%s/check.json", c->dir);
  snprintf(c->junit, sizeof c->junit, "%s/junit.xml", c->dir);
  return 0;
}

static void teardown(struct ctx *c) {
  gd_test_rmrf(c->dir);
  free(c->dir);
}

/* One check per line of CHECKS (JSON members of "checks"). */
static void write_readiness(struct ctx *c, const char *checks) {
  char *json = malloc(8192);
  CU_ASSERT_FATAL(json != NULL);
  snprintf(json, 8192,
           "{\"name\": \"ready\", \"description\": \"test\",\n"
           " \"checks\": {%s}}\n",
           checks);
  CU_ASSERT_FATAL(gd_test_write_file(c->file, json) == 0);
  free(json);
}

#define CHECK_TRUE                                                           \
  "\"replica\": {\"title\": \"the replica streams\", \"remediation\": "     \
  "\"restart it\", \"probe\": {\"type\": \"exec\", \"shell\": true, "        \
  "\"argv\": [\"echo streaming, lag 0 bytes\"]}}"
#define CHECK_FINDING                                                        \
  "\"archiving\": {\"title\": \"WAL archiving works\", \"remediation\": "   \
  "\"fix archive_command\", \"probe\": {\"type\": \"exec\", \"shell\": "    \
  "true, \"argv\": [\"echo last archive failed 5 min ago; exit 1\"]}}"
#define CHECK_WARN                                                           \
  "\"dlq\": {\"severity\": \"warn\", \"remediation\": \"add a DLQ\", "      \
  "\"probe\": {\"type\": \"exec\", \"argv\": [\"false\"]}}"
/* Port 1 on loopback: nothing listens, the check cannot be made. */
#define CHECK_REFUSED                                                        \
  "\"lb\": {\"remediation\": \"start haproxy\", \"probe\": {\"type\": "     \
  "\"tcp\", \"host\": \"127.0.0.1\", \"port\": 1, \"timeout_ms\": 2000}}"

static int run_check(struct ctx *c, struct gd_gdrun *r, const char *f1,
                     const char *f2) {
  char *args[] = {"check", (char *)f1, (char *)f2, "--json", c->journal,
                  "--junit", c->junit, NULL};
  if (!f2) {
    args[2] = "--json";
    args[3] = c->journal;
    args[4] = "--junit";
    args[5] = c->junit;
    args[6] = NULL;
  }
  return gd_gdrun(r, args, &(struct gd_gdrun_io){.out = c->log}, 60000);
}

static const cJSON *row(const cJSON *j, const char *name) {
  return gd_jfind(j, "checks", "name", name);
}

static void test_not_ready(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("cannot make a temporary directory");
  write_readiness(&c, CHECK_TRUE "," CHECK_FINDING "," CHECK_WARN
                      "," CHECK_REFUSED);
  struct gd_gdrun r;
  int status = run_check(&c, &r, c.file, NULL);
  if (status != 1) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(status, 1);
  /* The table: every check with its result and finding, the fix under a
   * failed one, NOT READY as the last line. */
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.out);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "PASS    streaming, lag 0 bytes"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "FAIL    exit 1 (expected 0): last archive failed 5 min ago"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "fix: fix archive_command"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "checks: WAL archiving works"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "WARN"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "ERROR   could not check: connection refused"));
  const char *last = r.out + strlen(r.out) - 1;
  while (last > r.out && last[-1] != '\n') last--;
  CU_ASSERT_EQUAL(strncmp(last, "NOT READY (1 passed, 1 failed, 1 could not be "
                                "checked, 1 warning(s))", 66), 0);

  cJSON *j = NULL;
  char *text = gd_test_read_file(c.journal);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  j = cJSON_Parse(text);
  free(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "format"), "gameday-journal/1");
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "command"), "check");
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "fail");
  CU_ASSERT_TRUE(cJSON_IsFalse(gd_jget(j, "ready")));
  CU_ASSERT_EQUAL(gd_jnum(j, "measurements.checks_failed"), 1);
  CU_ASSERT_EQUAL(gd_jnum(j, "measurements.checks_not_checked"), 1);
  CU_ASSERT_EQUAL(gd_jnum(j, "measurements.checks_warned"), 1);
  CU_ASSERT_STRING_EQUAL(gd_jstr(row(j, "replica"), "result"), "pass");
  CU_ASSERT_STRING_EQUAL(gd_jstr(row(j, "archiving"), "result"), "fail");
  CU_ASSERT_STRING_EQUAL(gd_jstr(row(j, "archiving"), "remediation"),
                         "fix archive_command");
  CU_ASSERT_STRING_EQUAL(gd_jstr(row(j, "dlq"), "result"), "warn");
  CU_ASSERT_STRING_EQUAL(gd_jstr(row(j, "dlq"), "severity"), "warn");
  CU_ASSERT_STRING_EQUAL(gd_jstr(row(j, "lb"), "result"), "error");
  cJSON_Delete(j);

  /* JUnit: one testcase per check; the finding fails, the refused one is
   * an error, the warning passes with its text. */
  char *x = gd_test_read_file(c.junit);
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  CU_ASSERT_PTR_NOT_NULL(strstr(x, "tests=\"4\" failures=\"1\" errors=\"1\""));
  CU_ASSERT_PTR_NOT_NULL(strstr(x, "<testcase classname="));
  CU_ASSERT_PTR_NOT_NULL(strstr(x, "<failure message=\"exit 1 (expected 0): last archive failed 5 min ago\""));
  CU_ASSERT_PTR_NOT_NULL(strstr(x, "<error message=\"could not check: connection refused\""));
  free(x);
  gd_gdrun_free(&r);
  teardown(&c);
}

static void test_ready_with_warning(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("cannot make a temporary directory");
  write_readiness(&c, CHECK_TRUE "," CHECK_WARN);
  struct gd_gdrun r;
  int status = run_check(&c, &r, c.file, NULL);
  if (status != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(status, 0);
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "\nREADY (1 passed, 0 failed, "
                                                "0 could not be checked, 1 warning(s))"));
  gd_gdrun_free(&r);
  teardown(&c);
}

/* A scenario contributes its steady state: its probes for for_ms, nothing
 * injected (the fault would create a file). */
static void test_scenario_steady_state(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("cannot make a temporary directory");
  write_readiness(&c, CHECK_TRUE);
  char json[4096], marker[4200];
  snprintf(marker, sizeof marker, "%s/injected", c.dir);
  for (int healthy = 1; healthy >= 0; healthy--) {
    snprintf(json, sizeof json,
             "{\"name\": \"demo\", \"probes\": {\"web\": {\"type\": \"exec\", "
             "\"argv\": [\"%s\"], \"interval_ms\": 50, \"timeout_ms\": 1000}},\n"
             " \"steady_state\": {\"probes\": [\"web\"], \"for_ms\": 300, "
             "\"timeout_ms\": 1000},\n"
             " \"fault\": [{\"type\": \"exec\", \"argv\": [\"touch\", \"%s\"]}],\n"
             " \"recovery\": {\"probes\": [\"web\"], \"stable_for_ms\": 100, "
             "\"timeout_ms\": 1000}}\n",
             healthy ? "true" : "false", marker);
    CU_ASSERT_FATAL(gd_test_write_file(c.file2, json) == 0);
    struct gd_gdrun r;
    int status = run_check(&c, &r, c.file, c.file2);
    CU_ASSERT_EQUAL(status, healthy ? 0 : 1);
    if (status != (healthy ? 0 : 1)) gd_gdrun_dump(&r);
    CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, healthy
                                                      ? "steady state holds"
                                                      : "not steady within"));
    CU_ASSERT_NOT_EQUAL(access(marker, F_OK), 0);
    gd_gdrun_free(&r);
  }
  teardown(&c);
}

static void test_bad_files(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("cannot make a temporary directory");
  write_readiness(&c, "\"x\": {\"severity\": \"fatal\", \"remediation\": \"r\", "
                      "\"probe\": {\"type\": \"exec\", \"argv\": [\"true\"]}}");
  struct gd_gdrun r;
  CU_ASSERT_EQUAL(run_check(&c, &r, c.file, NULL), 2);
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "checks.x.severity: must be "
                                                "'fail' or 'warn', got 'fatal'"));
  gd_gdrun_free(&r);
  write_readiness(&c, "\"x\": {\"probe\": {\"type\": \"exec\", \"argv\": [\"true\"]}}");
  CU_ASSERT_EQUAL(run_check(&c, &r, c.file, NULL), 2);
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "checks.x.remediation: required key missing"));
  gd_gdrun_free(&r);
  /* A readiness file is not a scenario to run. */
  write_readiness(&c, CHECK_TRUE);
  char *args[] = {"run", c.file, NULL};
  CU_ASSERT_EQUAL(gd_gdrun(&r, args, &(struct gd_gdrun_io){.out = c.log}, 10000), 2);
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "a readiness file (\"checks\"); use 'gameday check"));
  gd_gdrun_free(&r);
  teardown(&c);
}

/* SIGINT while a check is still out: it is not checked, the rest is
 * reported, NOT READY, exit 3. */
static void test_interrupted(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("cannot make a temporary directory");
  write_readiness(&c, CHECK_TRUE ", \"slow\": {\"remediation\": \"r\", "
                      "\"probe\": {\"type\": \"exec\", \"argv\": [\"sleep\", \"20\"], "
                      "\"timeout_ms\": 30000}}");
  char *args[] = {"check", c.file, "--json", c.journal, NULL};
  struct gd_gdrun r;
  CU_ASSERT_FATAL(gd_gdrun_start(&r, args, &(struct gd_gdrun_io){.out = c.log}) == 0);
  usleep(800 * 1000);
  kill(r.pid, SIGINT);
  int status = gd_gdrun_wait(&r, 10000);
  CU_ASSERT_EQUAL(status, 3);
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "not checked: interrupted"));
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "NOT READY ("));
  char *text = gd_test_read_file(c.journal);
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  free(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "aborted");
  CU_ASSERT_STRING_EQUAL(gd_jstr(row(j, "replica"), "result"), "pass");
  CU_ASSERT_STRING_EQUAL(gd_jstr(row(j, "slow"), "result"), "error");
  cJSON_Delete(j);
  gd_gdrun_free(&r);
  teardown(&c);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"not ready: finding, could not check, warning; journal and JUnit", test_not_ready},
      {"ready with a warning: exit 0", test_ready_with_warning},
      {"a scenario's steady state, nothing injected", test_scenario_steady_state},
      {"bad readiness files: exit 2", test_bad_files},
      {"SIGINT: what is out is not checked, exit 3", test_interrupted},
      {NULL, NULL},
  };
  return gd_test_run("e2e-check", tests);
}

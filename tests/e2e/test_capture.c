/* End to end, the real gameday binary: capture-and-compare (a probe's
 * result taken at t0, compared by a verify step after recovery, with a
 * figure from the difference of its values) and the GAMEDAY_T0 environment
 * that exec actions get once the fault has started. The "data" is a file
 * read by an exec probe (`cat`), so nothing but the harness is involved. */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "gdrun.h"
#include "testutil.h"

struct ctx {
  char *dir;
  char data[4096], t0[4096], scenario[4096], log[4096], journal[4096];
};

static int setup(struct ctx *c) {
  memset(c, 0, sizeof *c);
  c->dir = gd_test_tmpdir();
  if (!c->dir) return -1;
  snprintf(c->data, sizeof c->data, "%s/data", c->dir);
  snprintf(c->t0, sizeof c->t0, "%s/t0", c->dir);
  snprintf(c->scenario, sizeof c->scenario, "%s/s.json", c->dir);
  snprintf(c->log, sizeof c->log, "%s/gameday.log", c->dir);
  snprintf(c->journal, sizeof c->journal, "%s/j.json", c->dir);
  return gd_test_write_file(c->data, "3\n");
}

static void teardown(struct ctx *c) {
  gd_test_rmrf(c->dir);
  free(c->dir);
}

/* FAULT is a shell command run as the fault; the probe `cat`s the data
 * file (whose content is a count); verify compares it with its capture. */
static void write_scenario(struct ctx *c, const char *probe_file,
                           const char *fault) {
  char *json = malloc(8192);
  CU_ASSERT_FATAL(json != NULL);
  snprintf(json, 8192,
           "{\"name\": \"capture\",\n"
           " \"vars\": {\"data\": \"%s\", \"t0\": \"%s\"},\n"
           " \"probes\": {\n"
           "   \"alive\": {\"type\": \"exec\", \"argv\": [\"true\"],\n"
           "             \"interval_ms\": 50, \"timeout_ms\": 2000},\n"
           "   \"count\": {\"type\": \"exec\", \"argv\": [\"cat\", \"%s\"],\n"
           "             \"interval_ms\": 50, \"timeout_ms\": 2000}},\n"
           " \"steady_state\": {\"probes\": [\"alive\"], \"for_ms\": 300},\n"
           " \"fault\": [{\"type\": \"exec\", \"shell\": true, \"argv\": [%s]}],\n"
           " \"recovery\": {\"probes\": [\"alive\"], \"stable_for_ms\": 100,\n"
           "              \"timeout_ms\": 10000},\n"
           " \"verify\": [{\"type\": \"compare\", \"probe\": \"count\",\n"
           "              \"figure\": \"lines_lost\", \"timeout_ms\": 3000}],\n"
           " \"thresholds\": {\"lines_lost\": 0}}\n",
           c->data, c->t0, probe_file, fault);
  CU_ASSERT_FATAL(gd_test_write_file(c->scenario, json) == 0);
  free(json);
}

static int run(struct ctx *c, struct gd_gdrun *r) {
  char *args[] = {"run", c->scenario, "--quiet", "--json", c->journal, NULL};
  return gd_gdrun(r, args,
                  &(struct gd_gdrun_io){.out = c->log, .journal = c->journal},
                  30000);
}

/* The verify check of the run (the first, which is compare's). */
static const cJSON *compare_check(const cJSON *j) {
  const cJSON *checks = gd_jget(j, "checks");
  return cJSON_GetArrayItem(checks, 0);
}

static void test_restored_equal(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("cannot make a temporary directory");
  /* The fault overwrites the data, records GAMEDAY_T0 and restores it. */
  write_scenario(&c, c.data,
                 "\"printf '%s %s' \\\"$GAMEDAY_T0_MS\\\" \\\"$GAMEDAY_T0\\\" > "
                 "${t0}; echo 1 > ${data}; sleep 0.3; echo 3 > ${data}\"");
  struct timespec before;
  clock_gettime(CLOCK_REALTIME, &before);
  struct gd_gdrun r;
  int status = run(&c, &r);
  struct timespec after;
  clock_gettime(CLOCK_REALTIME, &after);
  if (status != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(status, 0);
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "pass");
  const cJSON *chk = compare_check(j);
  CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(chk, "ok")));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(chk, "message"),
                                "probe count equals its capture: '3'"));
  CU_ASSERT_EQUAL(gd_jnum(j, "measurements.lines_lost"), 0);

  /* GAMEDAY_T0_MS is the wall clock of t0: within the run, and GAMEDAY_T0
   * is the same instant in RFC 3339 with milliseconds. */
  char *t0 = gd_test_read_file(c.t0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t0);
  long long ms = 0;
  char iso[64] = "";
  CU_ASSERT_EQUAL(sscanf(t0, "%lld %63s", &ms, iso), 2);
  long long lo = (long long)before.tv_sec * 1000 + before.tv_nsec / 1000000;
  long long hi = (long long)after.tv_sec * 1000 + after.tv_nsec / 1000000;
  CU_ASSERT(ms >= lo && ms <= hi);
  regex_t re;
  CU_ASSERT_FATAL(regcomp(&re,
                          "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                          "[0-9]{2}\\.[0-9]{3}Z$",
                          REG_EXTENDED | REG_NOSUB) == 0);
  CU_ASSERT_EQUAL(regexec(&re, iso, 0, NULL, 0), 0);
  regfree(&re);
  char want_ms[8];
  snprintf(want_ms, sizeof want_ms, ".%03lldZ", ms % 1000);
  CU_ASSERT_PTR_NOT_NULL(strstr(iso, want_ms));
  free(t0);
  gd_gdrun_free(&r);
  teardown(&c);
}

static void test_not_restored_fails(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("cannot make a temporary directory");
  write_scenario(&c, c.data, "\"echo 1 > ${data}\"");
  struct gd_gdrun r;
  int status = run(&c, &r);
  if (status != 1) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(status, 1);
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "fail");
  const cJSON *chk = compare_check(j);
  CU_ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(chk, "ok")));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(chk, "message"),
                                "differs from its capture: was '3', now '1'"));
  /* captured 3, now 1 */
  CU_ASSERT_EQUAL(gd_jnum(j, "measurements.lines_lost"), 2);
  const cJSON *th = cJSON_GetArrayItem(gd_jget(j, "thresholds"), 0);
  CU_ASSERT_STRING_EQUAL(gd_jstr(th, "name"), "lines_lost");
  CU_ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(th, "pass")));
  gd_gdrun_free(&r);
  teardown(&c);
}

static void test_nothing_to_capture_aborts(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("cannot make a temporary directory");
  /* The captured probe reads a file that does not exist: never an ok
   * sample, so there is nothing to compare against later. No fault runs. */
  char missing[4200];
  snprintf(missing, sizeof missing, "%s/missing", c.dir);
  write_scenario(&c, missing, "\"echo 1 > ${data}\"");
  struct gd_gdrun r;
  int status = run(&c, &r);
  CU_ASSERT_EQUAL(status, 3);
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "aborted");
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(j, "reason"),
                                "cannot capture probe count before the fault"));
  char *data = gd_test_read_file(c.data);
  CU_ASSERT_STRING_EQUAL(data ? data : "", "3\n"); /* the fault never ran */
  free(data);
  gd_gdrun_free(&r);
  teardown(&c);
}

/* Recovery times out (the data never comes back): the verdict is fail, and
 * the verify step still runs and says how much was lost. */
static void test_timeout_still_verifies(void) {
  struct ctx c;
  if (setup(&c)) GD_SKIP("cannot make a temporary directory");
  char *json = malloc(8192);
  CU_ASSERT_FATAL(json != NULL);
  snprintf(json, 8192,
           "{\"name\": \"capture-timeout\",\n"
           " \"vars\": {\"data\": \"%s\"},\n"
           " \"probes\": {\n"
           "   \"count\": {\"type\": \"exec\", \"argv\": [\"cat\", \"${data}\"],\n"
           "             \"interval_ms\": 50, \"timeout_ms\": 2000},\n"
           "   \"whole\": {\"type\": \"exec\", \"shell\": true,\n"
           "             \"argv\": [\"grep -qx 3 ${data}\"],\n"
           "             \"interval_ms\": 50, \"timeout_ms\": 2000}},\n"
           " \"steady_state\": {\"probes\": [\"whole\"], \"for_ms\": 300},\n"
           " \"fault\": [{\"type\": \"exec\", \"shell\": true,\n"
           "             \"argv\": [\"echo 1 > ${data}\"]}],\n"
           " \"recovery\": {\"probes\": [\"whole\"], \"stable_for_ms\": 100,\n"
           "              \"timeout_ms\": 800},\n"
           " \"verify\": [{\"type\": \"compare\", \"probe\": \"count\",\n"
           "              \"figure\": \"lines_lost\", \"timeout_ms\": 3000}],\n"
           " \"rollback\": [{\"type\": \"exec\", \"shell\": true,\n"
           "              \"argv\": [\"echo 3 > ${data}\"]}]}\n",
           c.data);
  CU_ASSERT_FATAL(gd_test_write_file(c.scenario, json) == 0);
  free(json);
  struct gd_gdrun r;
  int status = run(&c, &r);
  if (status != 1) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(status, 1);
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "fail");
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(j, "reason"), "not recovered within 800 ms"));
  const cJSON *chk = compare_check(j);
  CU_ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(chk, "ok")));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(chk, "message"),
                                "differs from its capture: was '3', now '1'"));
  CU_ASSERT_EQUAL(gd_jnum(j, "measurements.lines_lost"), 2);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "rollback"), "done");
  char *data = gd_test_read_file(c.data);
  CU_ASSERT_STRING_EQUAL(data ? data : "", "3\n"); /* rolled back */
  free(data);
  gd_gdrun_free(&r);
  teardown(&c);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"restored data equals its capture; GAMEDAY_T0", test_restored_equal},
      {"data not restored: compare fails with the figure", test_not_restored_fails},
      {"nothing to capture: aborted before the fault", test_nothing_to_capture_aborts},
      {"recovery timed out: verify still runs, verdict fail", test_timeout_still_verifies},
      {NULL, NULL},
  };
  return gd_test_run("e2e-capture", tests);
}

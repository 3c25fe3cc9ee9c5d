/* The JSON journal: gd_journal_build field by field on a synthetic run, and
 * the reporter's files (single object, wrapper, --out DIR naming, errors). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gameday/action.h"
#include "gameday/reporter.h"
#include "gameday/run.h"
#include "fakerun.h"
#include "testutil.h"

/* ---- helpers ---- */

static const cJSON *get(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v) printf("\n    missing key '%s' ", key);
  return v;
}

static double num(const cJSON *o, const char *key) {
  const cJSON *v = get(o, key);
  CU_ASSERT(cJSON_IsNumber(v));
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = get(o, key);
  CU_ASSERT(cJSON_IsString(v));
  return cJSON_IsString(v) ? v->valuestring : "";
}

static int is_null(const cJSON *o, const char *key) {
  return cJSON_IsNull(get(o, key));
}

static int is_true(const cJSON *o, const char *key) {
  const cJSON *v = get(o, key);
  CU_ASSERT(cJSON_IsBool(v));
  return cJSON_IsTrue(v);
}

#define CLOSE(a, b) (fabs((a) - (b)) < 1e-6)

/* A file written by the reporter, parsed. */
static cJSON *parse_file(const char *path) {
  char *text = gd_test_read_file(path);
  CU_ASSERT_PTR_NOT_NULL(text);
  if (!text) return NULL;
  cJSON *j = cJSON_Parse(text);
  CU_ASSERT_PTR_NOT_NULL(j);
  free(text);
  return j;
}

static size_t count_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* ---- gd_journal_build ---- */

static void test_top_level(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  cJSON *j = gd_journal_build(&f->run);
  CU_ASSERT_FATAL(j != NULL);
  CU_ASSERT_STRING_EQUAL(str(j, "format"), "gameday-journal/1");
  CU_ASSERT_STRING_EQUAL(str(j, "gameday_version"), GAMEDAY_VERSION);
  CU_ASSERT_STRING_EQUAL(str(j, "scenario"), "web-kill");
  CU_ASSERT_STRING_EQUAL(str(j, "file"), "scenarios/local/web-kill.json");
  CU_ASSERT_STRING_EQUAL(str(j, "description"), "Kill one web instance");
  CU_ASSERT_STRING_EQUAL(str(j, "environment"), "local");
  CU_ASSERT_STRING_EQUAL(str(j, "verdict"), "fail");
  CU_ASSERT_PTR_NOT_NULL(strstr(str(j, "reason"), "recovery_ms"));
  CU_ASSERT_FALSE(is_true(j, "dry_run"));
  CU_ASSERT_STRING_EQUAL(str(j, "started_at"), "2026-11-23T21:00:00.123Z");
  CU_ASSERT(CLOSE(num(j, "duration_ms"), 4600.0));
  CU_ASSERT(CLOSE(num(j, "t0_offset_ms"), 3000.0));
  CU_ASSERT_EQUAL(num(j, "t0_monotonic_ns"), (double)GD_FAKERUN_T0);
  CU_ASSERT_STRING_EQUAL(str(j, "rollback"), "done");
  CU_ASSERT_EQUAL(cJSON_GetArraySize(j), 20); /* nothing more, nothing less */

  const cJSON *m = get(j, "measurements");
  CU_ASSERT(cJSON_IsObject(m));
  CU_ASSERT(CLOSE(num(m, "recovery_ms"), 20123.0));
  CU_ASSERT(CLOSE(num(m, "recovery_uncertainty_ms"), 20.0));
  CU_ASSERT(CLOSE(num(m, "detection_ms"), 100.0));
  CU_ASSERT(CLOSE(num(m, "detection_uncertainty_ms"), 20.0));
  CU_ASSERT(CLOSE(num(m, "downtime_uncertainty_ms"), 20.0));
  CU_ASSERT(CLOSE(num(m, "availability"), 0.97));
  /* no uncertainty twin for a figure without one */
  CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(m, "availability_uncertainty_ms"));
  CU_ASSERT(is_null(m, "drain_ms"));
  CU_ASSERT(is_null(m, "drain_uncertainty_ms"));
  CU_ASSERT_EQUAL(num(m, "lost_writes"), 0);
  CU_ASSERT_EQUAL(cJSON_GetArraySize(m), 10);

  /* The rendered text must be valid JSON that reads back the same. */
  char *text = cJSON_Print(j);
  cJSON *back = cJSON_Parse(text);
  CU_ASSERT_PTR_NOT_NULL(back);
  CU_ASSERT_EQUAL(num(back, "t0_monotonic_ns"), (double)GD_FAKERUN_T0);
  cJSON_Delete(back);
  free(text);
  cJSON_Delete(j);
  gd_fakerun_free(f);
}

static void test_thresholds_checks(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  f->thr[2].has_value = 0;
  snprintf(f->thr[2].note, sizeof f->thr[2].note, "no impact observed");
  f->thr[2].pass = 1;
  cJSON *j = gd_journal_build(&f->run);
  CU_ASSERT_FATAL(j != NULL);
  const cJSON *th = get(j, "thresholds");
  CU_ASSERT_FATAL(cJSON_IsArray(th));
  CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(th), 3);
  const cJSON *t = cJSON_GetArrayItem(th, 0);
  CU_ASSERT_STRING_EQUAL(str(t, "name"), "recovery_ms");
  CU_ASSERT_EQUAL(num(t, "limit"), 15000);
  CU_ASSERT_STRING_EQUAL(str(t, "op"), "<=");
  CU_ASSERT(CLOSE(num(t, "value"), 20123.0));
  CU_ASSERT_FALSE(is_true(t, "pass"));
  CU_ASSERT_STRING_EQUAL(str(t, "note"), "");
  t = cJSON_GetArrayItem(th, 1);
  CU_ASSERT_STRING_EQUAL(str(t, "name"), "availability");
  CU_ASSERT_STRING_EQUAL(str(t, "op"), ">=");
  CU_ASSERT(CLOSE(num(t, "limit"), 0.95));
  CU_ASSERT(is_true(t, "pass"));
  t = cJSON_GetArrayItem(th, 2);
  CU_ASSERT(is_null(t, "value"));
  CU_ASSERT(is_true(t, "pass"));
  CU_ASSERT_STRING_EQUAL(str(t, "note"), "no impact observed");

  const cJSON *ck = get(j, "checks");
  CU_ASSERT_FATAL(cJSON_IsArray(ck));
  CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(ck), 2);
  CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(ck, 0), "name"), "row count");
  CU_ASSERT(is_true(cJSON_GetArrayItem(ck, 0), "ok"));
  CU_ASSERT_FALSE(is_true(cJSON_GetArrayItem(ck, 1), "ok"));
  CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(ck, 1), "message"), "3 lost writes");
  cJSON_Delete(j);
  gd_fakerun_free(f);
}

static void test_probes(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  f->probes[1].timeline.truncated = 1;
  cJSON *j = gd_journal_build(&f->run);
  CU_ASSERT_FATAL(j != NULL);
  const cJSON *probes = get(j, "probes");
  CU_ASSERT_EQUAL(cJSON_GetArraySize(probes), 2);
  const cJSON *p = get(probes, "frontend");
  CU_ASSERT_FATAL(cJSON_IsObject(p));
  CU_ASSERT_STRING_EQUAL(str(p, "type"), "http");
  CU_ASSERT_EQUAL(num(p, "interval_ms"), 20);
  CU_ASSERT_EQUAL(num(p, "timeout_ms"), 500);
  CU_ASSERT_EQUAL(num(p, "max_inflight"), 2);
  CU_ASSERT_EQUAL(num(p, "samples"), 220);
  CU_ASSERT_EQUAL(num(p, "ok"), 200);
  CU_ASSERT_EQUAL(num(p, "failed"), 20);
  CU_ASSERT_EQUAL(num(p, "skipped"), 2);
  CU_ASSERT(CLOSE(num(p, "availability"), 0.97));

  /* failures: only the non-zero failure classes */
  const cJSON *fl = get(p, "failures");
  CU_ASSERT_EQUAL(cJSON_GetArraySize(fl), 1);
  CU_ASSERT_EQUAL(num(fl, "status"), 20);
  CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(fl, "ok"));

  const cJSON *fg = get(p, "figures");
  CU_ASSERT(CLOSE(num(fg, "detection_ms"), 100));
  CU_ASSERT(CLOSE(num(fg, "detection_uncertainty_ms"), 20));
  CU_ASSERT(CLOSE(num(fg, "recovery_ms"), 20123));
  CU_ASSERT(CLOSE(num(fg, "downtime_ms"), 400));
  CU_ASSERT(CLOSE(num(fg, "downtime_uncertainty_ms"), 20));

  /* per-phase latency: 5 ms baseline, nothing in the fault phase, 2 ms after */
  const cJSON *lat = get(p, "latency_ms");
  const cJSON *b = get(lat, "baseline");
  CU_ASSERT_EQUAL(num(b, "count"), 150);
  CU_ASSERT(fabs(num(b, "p50") - 5.0) <= 5.0 * 0.04);
  CU_ASSERT(fabs(num(b, "p99") - 5.0) <= 5.0 * 0.04);
  CU_ASSERT(CLOSE(num(b, "max"), 5.0));
  const cJSON *fault = get(lat, "fault");
  CU_ASSERT_EQUAL(num(fault, "count"), 0);
  CU_ASSERT(is_null(fault, "p50"));
  CU_ASSERT(is_null(fault, "max"));
  CU_ASSERT_EQUAL(num(get(lat, "after"), "count"), 50);
  CU_ASSERT(fabs(num(p, "lateness_p99_ms") - 0.1) <= 0.1 * 0.04);

  /* timeline: [start_ms, end_ms, outcome, count] relative to t0 */
  const cJSON *tl = get(p, "timeline");
  CU_ASSERT_FATAL(cJSON_IsArray(tl));
  CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(tl), 3);
  const double want[3][3] = {{-3000, -15, 150}, {100, 485, 20}, {500, 1485, 50}};
  const char *const outcome[3] = {"ok", "fail", "ok"};
  for (int i = 0; i < 3; i++) {
    const cJSON *s = cJSON_GetArrayItem(tl, i);
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(s), 4);
    CU_ASSERT(CLOSE(cJSON_GetArrayItem(s, 0)->valuedouble, want[i][0]));
    CU_ASSERT(CLOSE(cJSON_GetArrayItem(s, 1)->valuedouble, want[i][1]));
    CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(s, 2)->valuestring, outcome[i]);
    CU_ASSERT_EQUAL(cJSON_GetArrayItem(s, 3)->valuedouble, want[i][2]);
  }
  CU_ASSERT_FALSE(is_true(p, "timeline_truncated"));

  /* db: not impacted, a figure published by its kind, a truncated timeline */
  p = get(probes, "db");
  CU_ASSERT_FATAL(cJSON_IsObject(p));
  CU_ASSERT_STRING_EQUAL(str(p, "type"), "tcp");
  CU_ASSERT_EQUAL(cJSON_GetArraySize(get(p, "failures")), 0);
  fg = get(p, "figures");
  CU_ASSERT(is_null(fg, "detection_ms"));
  CU_ASSERT(is_null(fg, "detection_uncertainty_ms"));
  CU_ASSERT_EQUAL(num(fg, "recovery_ms"), 0);
  CU_ASSERT_EQUAL(num(fg, "lost_writes"), 0);
  CU_ASSERT_EQUAL(num(p, "availability"), 1);
  CU_ASSERT(is_true(p, "timeline_truncated"));
  CU_ASSERT_EQUAL(cJSON_GetArraySize(get(p, "timeline")), 1);
  cJSON_Delete(j);
  gd_fakerun_free(f);
}

static void test_actions_events(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  cJSON *j = gd_journal_build(&f->run);
  CU_ASSERT_FATAL(j != NULL);
  const cJSON *acts = get(j, "actions");
  CU_ASSERT_FATAL(cJSON_IsArray(acts));
  CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(acts), 3);
  const cJSON *a = cJSON_GetArrayItem(acts, 0);
  CU_ASSERT_STRING_EQUAL(str(a, "phase"), "fault");
  CU_ASSERT_STRING_EQUAL(str(a, "path"), "fault[0]");
  CU_ASSERT_STRING_EQUAL(str(a, "name"), "kill-web");
  CU_ASSERT_STRING_EQUAL(str(a, "type"), "signal");
  CU_ASSERT(is_true(a, "ran"));
  CU_ASSERT(is_true(a, "ok"));
  CU_ASSERT_FALSE(is_true(a, "cancelled"));
  CU_ASSERT_STRING_EQUAL(str(a, "message"), "killed pid 4242");
  CU_ASSERT(CLOSE(num(a, "started_ms"), 0));
  CU_ASSERT(CLOSE(num(a, "ended_ms"), 2));
  const cJSON *d = get(a, "detail");
  CU_ASSERT(cJSON_Compare(d, f->fault[0].detail, 1));
  CU_ASSERT_PTR_NOT_EQUAL(d, f->fault[0].detail); /* a copy, not the action's */

  a = cJSON_GetArrayItem(acts, 1);
  CU_ASSERT_STRING_EQUAL(str(a, "phase"), "verify");
  CU_ASSERT_FALSE(is_true(a, "ran"));
  CU_ASSERT(is_null(a, "started_ms"));
  CU_ASSERT(is_null(a, "ended_ms"));
  CU_ASSERT(is_null(a, "message"));
  CU_ASSERT(is_null(a, "detail"));
  a = cJSON_GetArrayItem(acts, 2);
  CU_ASSERT_STRING_EQUAL(str(a, "phase"), "rollback");
  CU_ASSERT_STRING_EQUAL(str(a, "type"), "exec");
  CU_ASSERT(CLOSE(num(a, "started_ms"), 1550));
  CU_ASSERT(CLOSE(num(a, "ended_ms"), 1580));

  const cJSON *ev = get(j, "events");
  CU_ASSERT_FATAL(cJSON_IsArray(ev));
  CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(ev), 3);
  CU_ASSERT(CLOSE(num(cJSON_GetArrayItem(ev, 0), "t_ms"), -2999));
  CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(ev, 0), "phase"), "preflight");
  CU_ASSERT(CLOSE(num(cJSON_GetArrayItem(ev, 1), "t_ms"), 0));
  CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(ev, 1), "phase"), "inject");
  CU_ASSERT(CLOSE(num(cJSON_GetArrayItem(ev, 2), "t_ms"), 100));
  CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(ev, 2), "what"),
                         "probe frontend: fail (status 503)");
  cJSON_Delete(j);
  gd_fakerun_free(f);
}

static void test_no_fault(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  gd_fakerun_abort(f, "steady state not reached: frontend failing");
  f->opt.dry_run = 1;
  cJSON *j = gd_journal_build(&f->run);
  CU_ASSERT_FATAL(j != NULL);
  CU_ASSERT_STRING_EQUAL(str(j, "verdict"), "aborted");
  CU_ASSERT(is_true(j, "dry_run"));
  CU_ASSERT(is_null(j, "t0_offset_ms"));
  CU_ASSERT(is_null(j, "t0_monotonic_ns"));
  /* without t0, times are relative to the start of the run */
  const cJSON *ev = get(j, "events");
  CU_ASSERT(CLOSE(num(cJSON_GetArrayItem(ev, 0), "t_ms"), 1));
  const cJSON *p = get(get(j, "probes"), "frontend");
  CU_ASSERT(is_null(p, "availability"));
  CU_ASSERT(is_null(get(p, "figures"), "downtime_ms"));
  CU_ASSERT(is_null(get(p, "figures"), "recovery_ms"));
  const cJSON *t = cJSON_GetArrayItem(get(j, "thresholds"), 0);
  CU_ASSERT(is_null(t, "value"));
  CU_ASSERT_STRING_EQUAL(str(t, "note"), "not measured: no fault injected");
  cJSON_Delete(j);
  gd_fakerun_free(f);
}

static void test_bad_utf8(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  f->events[2].what = "probe frontend: fail (body \xff\xfe\xc3)";
  cJSON_AddItemToObject(f->fault[0].detail, "out\xc0",
                        cJSON_CreateString("bin\x80" "ary \xe2\x82\xac"));
  cJSON *j = gd_journal_build(&f->run);
  CU_ASSERT_FATAL(j != NULL);
  CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(get(j, "events"), 2), "what"),
                         "probe frontend: fail (body \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD)");
  const cJSON *d = get(cJSON_GetArrayItem(get(j, "actions"), 0), "detail");
  CU_ASSERT_STRING_EQUAL(str(d, "out\xEF\xBF\xBD"), "bin\xEF\xBF\xBD" "ary \xe2\x82\xac");
  /* the action's own record is left alone */
  CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItemCaseSensitive(f->fault[0].detail, "out\xc0"));
  cJSON_Delete(j);
  gd_fakerun_free(f);
}

static void test_non_finite(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  f->meas[0].value = NAN;
  f->meas[2].value = INFINITY;
  f->thr[1].value = NAN;
  f->run.end_ns = 0; /* never finished */
  cJSON *j = gd_journal_build(&f->run);
  CU_ASSERT_FATAL(j != NULL);
  CU_ASSERT(is_null(get(j, "measurements"), "detection_ms"));
  CU_ASSERT(is_null(get(j, "measurements"), "downtime_ms"));
  CU_ASSERT(is_null(cJSON_GetArrayItem(get(j, "thresholds"), 1), "value"));
  CU_ASSERT(is_null(j, "duration_ms"));
  char *text = cJSON_PrintUnformatted(j);
  CU_ASSERT_PTR_NULL(strstr(text, ":nan"));
  CU_ASSERT_PTR_NULL(strstr(text, ":inf"));
  CU_ASSERT_PTR_NULL(strstr(text, ":-inf"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"downtime_ms\":null"));
  free(text);
  cJSON_Delete(j);
  gd_fakerun_free(f);
}

/* ---- the reporter and its files ---- */

static int report(struct gd_reporter *r, struct gd_fakerun **runs, size_t n,
                  struct gd_error *err) {
  int rc = r->ops->open(r, err);
  for (size_t i = 0; !rc && i < n; i++) rc = r->ops->run_end(r, &runs[i]->run, err);
  if (!rc) rc = r->ops->close(r, err);
  r->ops->free(r);
  return rc;
}

static void test_file_one_run(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_FATAL(dir != NULL);
  char path[4096];
  snprintf(path, sizeof path, "%s/journal.json", dir);
  gd_test_write_file(path, "old contents");
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  struct gd_reporter r = {.ops = &gd_reporter_journal, .path = path};
  struct gd_error err = {0};
  CU_ASSERT_EQUAL(report(&r, &f, 1, &err), 0);
  cJSON *j = parse_file(path);
  CU_ASSERT_STRING_EQUAL(str(j, "format"), "gameday-journal/1");
  CU_ASSERT_STRING_EQUAL(str(j, "scenario"), "web-kill");
  CU_ASSERT_STRING_EQUAL(str(j, "started_at"), "2026-11-23T21:00:00.123Z");
  cJSON_Delete(j);
  CU_ASSERT_EQUAL(count_files(dir), 1); /* no temporary file left */
  gd_fakerun_free(f);
  gd_test_rmrf(dir);
  free(dir);
}

static void test_file_wrapper(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_FATAL(dir != NULL);
  char path[4096];
  snprintf(path, sizeof path, "%s/all.json", dir);
  struct gd_fakerun *f[2] = {gd_fakerun_new("web-kill"),
                             gd_fakerun_new("db-failover")};
  f[1]->run.verdict = GD_VERDICT_PASS;
  struct gd_reporter r = {.ops = &gd_reporter_journal, .path = path};
  struct gd_error err = {0};
  CU_ASSERT_EQUAL(report(&r, f, 2, &err), 0);
  cJSON *j = parse_file(path);
  CU_ASSERT_STRING_EQUAL(str(j, "format"), "gameday-journals/1");
  const cJSON *arr = get(j, "journals");
  CU_ASSERT_FATAL(cJSON_IsArray(arr));
  CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(arr), 2);
  CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(arr, 0), "format"), "gameday-journal/1");
  CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(arr, 0), "scenario"), "web-kill");
  CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(arr, 1), "scenario"), "db-failover");
  CU_ASSERT_STRING_EQUAL(str(cJSON_GetArrayItem(arr, 1), "verdict"), "pass");
  cJSON_Delete(j);
  gd_fakerun_free(f[0]);
  gd_fakerun_free(f[1]);
  gd_test_rmrf(dir);
  free(dir);
}

static void test_out_dir_names(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_FATAL(dir != NULL);
  char out[4096], path[4200];
  snprintf(out, sizeof out, "%s/out/nightly", dir); /* created by open */
  const char *names[] = {"web-kill", "web-kill", "db-failover", "web-kill",
                         "../escape"};
  struct gd_fakerun *f[5];
  for (int i = 0; i < 5; i++) f[i] = gd_fakerun_new(names[i]);
  f[1]->run.verdict = GD_VERDICT_PASS;
  struct gd_reporter r = {.ops = &gd_reporter_journal, .dir = out};
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(r.ops->open(&r, &err), 0);
  /* each run's file exists as soon as the run ends, before close */
  CU_ASSERT_EQUAL(r.ops->run_end(&r, &f[0]->run, &err), 0);
  snprintf(path, sizeof path, "%s/web-kill.json", out);
  cJSON *j = parse_file(path);
  CU_ASSERT_STRING_EQUAL(str(j, "scenario"), "web-kill");
  CU_ASSERT_STRING_EQUAL(str(j, "verdict"), "fail");
  cJSON_Delete(j);
  for (int i = 1; i < 5; i++) CU_ASSERT_EQUAL(r.ops->run_end(&r, &f[i]->run, &err), 0);
  CU_ASSERT_EQUAL(r.ops->close(&r, &err), 0);
  r.ops->free(&r);

  snprintf(path, sizeof path, "%s/web-kill-2.json", out);
  j = parse_file(path);
  CU_ASSERT_STRING_EQUAL(str(j, "verdict"), "pass"); /* the second run */
  cJSON_Delete(j);
  snprintf(path, sizeof path, "%s/web-kill-3.json", out);
  j = parse_file(path);
  CU_ASSERT_STRING_EQUAL(str(j, "scenario"), "web-kill");
  cJSON_Delete(j);
  snprintf(path, sizeof path, "%s/db-failover.json", out);
  j = parse_file(path);
  CU_ASSERT_STRING_EQUAL(str(j, "scenario"), "db-failover");
  cJSON_Delete(j);
  /* a name cannot lead outside the directory */
  snprintf(path, sizeof path, "%s/_._escape.json", out);
  j = parse_file(path);
  CU_ASSERT_STRING_EQUAL(str(j, "scenario"), "../escape");
  cJSON_Delete(j);
  CU_ASSERT_EQUAL(count_files(out), 5);
  snprintf(path, sizeof path, "%s/out", dir);
  CU_ASSERT_EQUAL(count_files(path), 1);
  for (int i = 0; i < 5; i++) gd_fakerun_free(f[i]);
  gd_test_rmrf(dir);
  free(dir);
}

static void test_write_error(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_FATAL(dir != NULL);
  char path[4096];
  snprintf(path, sizeof path, "%s/missing/journal.json", dir);
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  struct gd_reporter r = {.ops = &gd_reporter_journal, .path = path};
  struct gd_error err = {0};
  CU_ASSERT_EQUAL(report(&r, &f, 1, &err), GD_EIO);
  char want[4200];
  snprintf(want, sizeof want, "cannot write '%s': no such file or directory", path);
  CU_ASSERT_STRING_EQUAL(err.msg, want);

  /* --out naming a regular file: open says so */
  snprintf(path, sizeof path, "%s/plain", dir);
  gd_test_write_file(path, "x");
  struct gd_reporter r2 = {.ops = &gd_reporter_journal, .dir = path};
  gd_error_clear(&err);
  CU_ASSERT_NOT_EQUAL(r2.ops->open(&r2, &err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
  r2.ops->free(&r2);
  gd_fakerun_free(f);
  gd_test_rmrf(dir);
  free(dir);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"top-level fields and measurements", test_top_level},
      {"thresholds and checks", test_thresholds_checks},
      {"probes: counts, figures, latency, timeline", test_probes},
      {"actions and events", test_actions_events},
      {"run without a fault", test_no_fault},
      {"non-finite numbers become null", test_non_finite},
      {"malformed UTF-8 is replaced", test_bad_utf8},
      {"--json with one run: the object", test_file_one_run},
      {"--json with two runs: the wrapper", test_file_wrapper},
      {"--out DIR: one file per run, duplicate names", test_out_dir_names},
      {"write errors name the file", test_write_error},
      {NULL, NULL},
  };
  return gd_test_run("journal", tests);
}

/* JUnit XML: structure and counts, failure messages with value and limit,
 * escaping of anything a scenario or a probe can put in a name, aborted runs,
 * several runs, and the reporter's file. When xmllint is installed the output
 * is also checked to be well-formed XML and queried with XPath. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/reporter.h"
#include "gameday/run.h"
#include "testutil.h"

/* ---- a synthetic run: a scenario with two probes, thresholds that pass and
 * fail, checks, events, actions with detail and a rollback ---- */

#define MS (UINT64_C(1000000))
#define T0 (UINT64_C(50000) * MS)       /* the fault, on the uv_hrtime clock */
#define START (T0 - 3000 * MS)          /* run start: 3 s of baseline */
#define END (T0 + 1600 * MS)

static const struct gd_probe_ops http_ops = {.type = "http"};
static const struct gd_probe_ops tcp_ops = {.type = "tcp"};
static const struct gd_action_ops signal_ops = {.type = "signal"};
static const struct gd_action_ops exec_ops = {.type = "exec"};

struct fx {
  struct gd_scenario sc;
  struct gd_probe probes[2];
  struct gd_hist lat[2][GD_HIST_N];
  struct gd_hist late[2];
  size_t recidx[1];
  struct gd_action fault[1], verify[1], rollback[1];
  struct gd_threshold th[3];
  struct gd_threshold_result thr[3];
  struct gd_measurement meas[6];
  struct gd_check checks[2];
  struct gd_event events[3];
  struct gd_figures figs, pfigs[2];
  struct gd_run_options opt;
  struct gd_run run;
};

static void fx_measure(struct gd_measurement *m, const char *name, int has,
                       double v, int has_unc, double unc) {
  snprintf(m->name, sizeof m->name, "%s", name);
  m->has_value = has;
  m->value = v;
  m->has_unc = has_unc;
  m->unc = unc;
}

/* frontend (http, 20 ms): 150 ok samples before t0, 20 failed (status 503)
 * from t0+100 ms, then 50 ok; each sample takes 5 ms. db (tcp, 100 ms): all
 * ok, 3 skipped, publishes lost_writes. */
static struct fx *fx_new(const char *name) {
  struct fx *f = calloc(1, sizeof *f);
  CU_ASSERT_FATAL(f != NULL);
  struct gd_scenario *sc = &f->sc;
  sc->name = (char *)name;
  sc->file = "scenarios/local/web-kill.json";
  sc->description = "Kill one web instance";
  sc->environment = "local";
  sc->probes = f->probes;
  sc->nprobes = 2;
  f->recidx[0] = 0;
  sc->recovery.idx = f->recidx;
  sc->recovery.n = 1;

  struct gd_probe *p = &f->probes[0];
  p->ops = &http_ops;
  p->name = "frontend";
  p->path = "probes.frontend";
  p->interval_ns = 20 * MS;
  p->timeout_ns = 500 * MS;
  p->max_inflight = 2;
  p->latency = f->lat[0];
  p->lateness = &f->late[0];
  gd_timeline_init(&p->timeline);
  for (uint64_t k = 0; k < 150; k++) {
    uint64_t s = START + k * 20 * MS;
    gd_timeline_add(&p->timeline, s, s + 5 * MS, 1);
    gd_hist_add(&p->latency[GD_HIST_BASELINE], 5 * MS);
    gd_hist_add(p->lateness, 100000);
  }
  for (uint64_t k = 0; k < 20; k++) {
    uint64_t s = T0 + 100 * MS + k * 20 * MS;
    gd_timeline_add(&p->timeline, s, s + 5 * MS, 0);
  }
  for (uint64_t k = 0; k < 50; k++) {
    uint64_t s = T0 + 500 * MS + k * 20 * MS;
    gd_timeline_add(&p->timeline, s, s + 5 * MS, 1);
    gd_hist_add(&p->latency[GD_HIST_AFTER], 2 * MS);
  }
  p->samples = 220;
  p->ok = 200;
  p->failed = 20;
  p->skipped = 2;
  p->class_count[GD_SAMPLE_OK] = 200;
  p->class_count[GD_SAMPLE_STATUS] = 20;
  p->last_ok = 1;
  snprintf(p->last_detail, sizeof p->last_detail, "status: 503");

  p = &f->probes[1];
  p->ops = &tcp_ops;
  p->name = "db";
  p->path = "probes.db";
  p->interval_ns = 100 * MS;
  p->timeout_ns = 1000 * MS;
  p->max_inflight = 1;
  p->latency = f->lat[1];
  p->lateness = &f->late[1];
  gd_timeline_init(&p->timeline);
  for (uint64_t k = 0; k < 46; k++) {
    uint64_t s = START + k * 100 * MS;
    gd_timeline_add(&p->timeline, s, s + 1 * MS, 1);
    gd_hist_add(&p->latency[s < T0 ? GD_HIST_BASELINE : GD_HIST_AFTER], MS);
  }
  p->samples = 46;
  p->ok = 46;
  p->skipped = 3;
  p->class_count[GD_SAMPLE_OK] = 46;
  p->last_ok = 1;
  snprintf(p->figures[0].name, sizeof p->figures[0].name, "lost_writes");
  p->figures[0].value = 0;
  p->nfigures = 1;

  struct gd_action *a = &f->fault[0];
  a->ops = &signal_ops;
  a->name = "kill-web";
  a->path = "fault[0]";
  a->ok = 1;
  a->message = "killed pid 4242";
  a->detail = cJSON_Parse("{\"pids\":[4242],\"signal\":\"SIGKILL\"}");
  a->started_ns = T0;
  a->ended_ns = T0 + 2 * MS;
  a = &f->verify[0];
  a->ops = &exec_ops;
  a->name = "compare";
  a->path = "verify[0]";
  a = &f->rollback[0];
  a->ops = &exec_ops;
  a->name = "restart-web";
  a->path = "rollback[0]";
  a->ok = 1;
  a->message = "exit 0";
  a->started_ns = T0 + 1550 * MS;
  a->ended_ns = T0 + 1580 * MS;
  sc->fault = f->fault;
  sc->nfault = 1;
  sc->verify = f->verify;
  sc->nverify = 1;
  sc->rollback = f->rollback;
  sc->nrollback = 1;

  f->th[0] = (struct gd_threshold){"recovery_ms", 15000, 0};
  f->th[1] = (struct gd_threshold){"availability", 0.95, 1};
  f->th[2] = (struct gd_threshold){"detection_ms", 1000, 0};
  sc->thresholds = f->th;
  sc->nthresholds = 3;
  f->thr[0] = (struct gd_threshold_result){&f->th[0], 1, 20123.0, 0, ""};
  f->thr[1] = (struct gd_threshold_result){&f->th[1], 1, 0.97, 1, ""};
  f->thr[2] = (struct gd_threshold_result){&f->th[2], 1, 100.0, 1, ""};

  fx_measure(&f->meas[0], "detection_ms", 1, 100.0, 1, 20.0);
  fx_measure(&f->meas[1], "recovery_ms", 1, 20123.0, 1, 20.0);
  fx_measure(&f->meas[2], "downtime_ms", 1, 400.0, 1, 20.0);
  fx_measure(&f->meas[3], "availability", 1, 0.97, 0, 0);
  fx_measure(&f->meas[4], "drain_ms", 0, 0, 1, 100.0);
  fx_measure(&f->meas[5], "lost_writes", 1, 0, 0, 0);

  f->checks[0] = (struct gd_check){"row count", 1, "1000 rows equal"};
  f->checks[1] = (struct gd_check){"ledger", 0, "3 lost writes"};

  f->events[0] = (struct gd_event){START + 1 * MS, GD_PHASE_PREFLIGHT,
                                   "steady state reached"};
  f->events[1] = (struct gd_event){T0, GD_PHASE_INJECT,
                                   "fault[0] kill-web: killed pid 4242"};
  f->events[2] = (struct gd_event){T0 + 100 * MS, GD_PHASE_OBSERVE,
                                   "probe frontend: fail (status 503)"};

  f->figs = (struct gd_figures){.impacted = 1,
                                .has_detection = 1,
                                .detection_ms = 100,
                                .detection_unc_ms = 20,
                                .recovered = 1,
                                .recovery_ms = 20123,
                                .recovery_unc_ms = 20,
                                .downtime_ms = 400,
                                .downtime_unc_ms = 20,
                                .ok = 50,
                                .failed = 20,
                                .availability = 0.97};
  f->pfigs[0] = f->figs;
  f->pfigs[1] = (struct gd_figures){.recovered = 1, .ok = 16, .availability = 1};

  struct gd_run *run = &f->run;
  run->sc = sc;
  run->opt = &f->opt;
  run->phase = GD_PHASE_DONE;
  run->verdict = GD_VERDICT_FAIL;
  snprintf(run->reason, sizeof run->reason,
           "threshold breached: recovery_ms = 20123.000, limit <= 15000");
  run->rollback = GD_ROLLBACK_DONE;
  run->started_wall.tv_sec = 1795467600; /* 2026-11-23T21:00:00Z */
  run->started_wall.tv_nsec = 123456789;
  run->start_ns = START;
  run->t0_ns = T0;
  run->obs_end_ns = T0 + 1500 * MS;
  run->end_ns = END;
  run->events = f->events;
  run->nevents = 3;
  run->figures = f->figs;
  run->probe_figures = f->pfigs;
  run->measurements = f->meas;
  run->nmeasurements = 6;
  run->thresholds = f->thr;
  run->nthresholds = 3;
  run->checks = f->checks;
  run->nchecks = 2;
  return f;
}

/* The run was stopped before the fault: a guard tripped. */
static void fx_abort(struct fx *f, const char *reason) {
  f->run.verdict = GD_VERDICT_ABORTED;
  snprintf(f->run.reason, sizeof f->run.reason, "%s", reason);
  f->run.t0_ns = 0;
  f->run.nchecks = 0;
  for (size_t i = 0; i < 3; i++) {
    f->thr[i].has_value = 0;
    f->thr[i].pass = 0;
    snprintf(f->thr[i].note, sizeof f->thr[i].note, "not measured: no fault injected");
  }
}

static void fx_free(struct fx *f) {
  for (size_t i = 0; i < 2; i++) gd_timeline_free(&f->probes[i].timeline);
  cJSON_Delete(f->fault[0].detail);
  free(f);
}

/* ---- helpers ---- */

static char *junit_of(struct fx **runs, size_t n) {
  const struct gd_run *r[4];
  for (size_t i = 0; i < n; i++) r[i] = &runs[i]->run;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CU_ASSERT_FATAL(f != NULL);
  struct gd_error err = {0};
  CU_ASSERT_EQUAL(gd_junit_write(f, r, n, &err), 0);
  fclose(f);
  return buf;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

#define HAS(text, s)                                                          \
  do {                                                                        \
    if (!strstr((text), (s))) printf("\n    not found: %s ", (s));            \
    CU_ASSERT_PTR_NOT_NULL(strstr((text), (s)));                              \
  } while (0)

static int have_xmllint(void) {
  return system("command -v xmllint >/dev/null 2>&1") == 0;
}

/* Well-formed (xmllint exit 0); skipped when xmllint is not installed. */
static void assert_well_formed(const char *xml) {
  if (!have_xmllint()) {
    printf("\n    (xmllint not installed: well-formedness not checked) ");
    return;
  }
  char *dir = gd_test_tmpdir();
  CU_ASSERT_FATAL(dir != NULL);
  char path[4096], cmd[4300];
  snprintf(path, sizeof path, "%s/junit.xml", dir);
  CU_ASSERT_EQUAL(gd_test_write_file(path, xml), 0);
  snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path);
  CU_ASSERT_EQUAL(system(cmd), 0);
  gd_test_rmrf(dir);
  free(dir);
}

/* XPath count() over xml, or -1 when xmllint is not installed. expr goes
 * inside single quotes on a shell line: write its literals with "". */
static long xpath_count(const char *xml, const char *expr) {
  if (!have_xmllint()) return -1;
  char *dir = gd_test_tmpdir();
  char path[4096], cmd[4600];
  snprintf(path, sizeof path, "%s/junit.xml", dir);
  gd_test_write_file(path, xml);
  snprintf(cmd, sizeof cmd, "xmllint --xpath 'count(%s)' '%s' 2>/dev/null", expr,
           path);
  long n = -2;
  FILE *p = popen(cmd, "r");
  if (p) {
    if (fscanf(p, "%ld", &n) != 1) n = -2;
    pclose(p);
  }
  gd_test_rmrf(dir);
  free(dir);
  return n;
}

#define XPATH_IS(xml, expr, want)                                             \
  do {                                                                        \
    long got_ = xpath_count((xml), (expr));                                   \
    if (got_ != -1) CU_ASSERT_EQUAL(got_, (want));                            \
  } while (0)

/* ---- tests ---- */

static void test_structure(void) {
  struct fx *f = fx_new("web-kill");
  char *x = junit_of(&f, 1);
  CU_ASSERT_FATAL(x != NULL);
  CU_ASSERT_EQUAL(strncmp(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39), 0);
  HAS(x, "<testsuites name=\"gameday\" tests=\"5\" failures=\"2\" errors=\"0\" "
         "skipped=\"0\" time=\"4.600\">");
  HAS(x, "<testsuite name=\"web-kill\" tests=\"5\" failures=\"2\" errors=\"0\" "
         "skipped=\"0\" time=\"4.600\" timestamp=\"2026-11-23T21:00:00\" hostname=\"");
  HAS(x, "<property name=\"verdict\" value=\"fail\"/>");
  HAS(x, "<property name=\"environment\" value=\"local\"/>");
  HAS(x, "<property name=\"file\" value=\"scenarios/local/web-kill.json\"/>");
  HAS(x, "<property name=\"rollback\" value=\"done\"/>");
  /* the failing threshold: value and limit in the message, uncertainty in the
   * text */
  HAS(x, "<testcase classname=\"gameday.web-kill\" name=\"recovery_ms &lt;= 15000\" "
         "time=\"0.000\">\n      <failure type=\"threshold\" "
         "message=\"recovery_ms = 20123.0 ms, limit &lt;= 15000\">");
  HAS(x, "recovery_ms = 20123.0 \xC2\xB1 20.0 ms");
  /* passing thresholds are empty test cases */
  HAS(x, "<testcase classname=\"gameday.web-kill\" name=\"availability &gt;= 0.95\" "
         "time=\"0.000\"/>");
  HAS(x, "name=\"detection_ms &lt;= 1000\" time=\"0.000\"/>");
  HAS(x, "name=\"check: row count\" time=\"0.000\"/>");
  HAS(x, "name=\"check: ledger\" time=\"0.000\">\n      <failure type=\"check\" "
         "message=\"3 lost writes\">");
  CU_ASSERT_EQUAL(count(x, "<testcase "), 5);
  CU_ASSERT_EQUAL(count(x, "<failure "), 2);
  CU_ASSERT_EQUAL(count(x, "<error"), 0);
  CU_ASSERT_EQUAL(count(x, "<skipped"), 0);
  HAS(x, "<system-out>[   -2.999s] preflight steady state reached\n");
  HAS(x, "[   +0.100s] observe   probe frontend: fail (status 503)\n");
  assert_well_formed(x);
  XPATH_IS(x, "/testsuites/testsuite/testcase", 5);
  XPATH_IS(x, "//testcase[failure]", 2);
  XPATH_IS(x, "//testcase[@name=\"recovery_ms <= 15000\"]/failure[@type=\"threshold\"]", 1);
  free(x);
  fx_free(f);
}

static void test_unmeasured_failure(void) {
  struct fx *f = fx_new("web-kill");
  f->thr[0].has_value = 0;
  snprintf(f->thr[0].note, sizeof f->thr[0].note, "not recovered");
  f->thr[1].value = 0.9312;
  f->thr[1].pass = 0;
  char *x = junit_of(&f, 1);
  HAS(x, "message=\"recovery_ms = not measured, limit &lt;= 15000 (not recovered)\"");
  HAS(x, "message=\"availability = 0.9312, limit &gt;= 0.95\"");
  HAS(x, "tests=\"5\" failures=\"3\"");
  free(x);
  fx_free(f);
}

static void test_escaping(void) {
  struct fx *f = fx_new("a<b&\"c'd");
  f->th[0].name = "x<&\"'y";
  f->checks[1].name = "bad\x01name\xff";
  f->checks[1].message = "line1\nline2 <tag> \x1b[31mred";
  f->events[2].what = "probe \"frontend\": fail \x07(status 503) & <more>";
  char *x = junit_of(&f, 1);
  HAS(x, "<testsuite name=\"a&lt;b&amp;&quot;c&apos;d\"");
  HAS(x, "classname=\"gameday.a&lt;b&amp;&quot;c&apos;d\"");
  HAS(x, "name=\"x&lt;&amp;&quot;&apos;y &lt;= 15000\"");
  /* control characters are dropped, malformed UTF-8 replaced */
  HAS(x, "name=\"check: badname\xEF\xBF\xBD\"");
  /* a newline in an attribute survives as a reference */
  HAS(x, "message=\"line1&#10;line2 &lt;tag&gt; [31mred\"");
  HAS(x, ">line1\nline2 &lt;tag&gt; [31mred</failure>");
  HAS(x, "probe &quot;frontend&quot;: fail (status 503) &amp; &lt;more&gt;");
  CU_ASSERT_PTR_NULL(strchr(x, '\x01'));
  CU_ASSERT_PTR_NULL(strchr(x, '\x07'));
  CU_ASSERT_PTR_NULL(strchr(x, '\x1b'));
  CU_ASSERT_PTR_NULL(strchr(x, '\xff'));
  assert_well_formed(x);
  XPATH_IS(x, "//testsuite[starts-with(@name, \"a<b&\")]", 1);
  XPATH_IS(x, "//testcase[failure]", 2);
  free(x);
  fx_free(f);
}

static void test_aborted(void) {
  struct fx *f = fx_new("web-kill");
  fx_abort(f, "guard db tripped: refused");
  char *x = junit_of(&f, 1);
  HAS(x, "<testsuite name=\"web-kill\" tests=\"4\" failures=\"0\" errors=\"1\" "
         "skipped=\"3\"");
  HAS(x, "<property name=\"verdict\" value=\"aborted\"/>");
  HAS(x, "<testcase classname=\"gameday.web-kill\" name=\"run\" time=\"4.600\">\n"
         "      <error type=\"aborted\" message=\"guard db tripped: refused\">");
  CU_ASSERT_EQUAL(count(x, "<skipped message=\"run aborted: guard db tripped: refused\"/>"),
                  3);
  CU_ASSERT_EQUAL(count(x, "<failure"), 0);
  HAS(x, "name=\"recovery_ms &lt;= 15000\" time=\"0.000\">\n      <skipped");
  assert_well_formed(x);
  XPATH_IS(x, "//testcase[skipped]", 3);
  XPATH_IS(x, "//testcase[@name=\"run\"]/error[@type=\"aborted\"]", 1);
  free(x);

  f->run.verdict = GD_VERDICT_ERROR;
  snprintf(f->run.reason, sizeof f->run.reason, "rollback incomplete");
  x = junit_of(&f, 1);
  HAS(x, "<error type=\"error\" message=\"rollback incomplete\">");
  HAS(x, "<skipped message=\"run error: rollback incomplete\"/>");
  HAS(x, "<property name=\"verdict\" value=\"error\"/>");
  free(x);
  fx_free(f);
}

static void test_two_runs(void) {
  struct fx *f[2] = {fx_new("web-kill"), fx_new("db-failover")};
  fx_abort(f[1], "not steady");
  char *x = junit_of(f, 2);
  HAS(x, "<testsuites name=\"gameday\" tests=\"9\" failures=\"2\" errors=\"1\" "
         "skipped=\"3\" time=\"9.200\">");
  CU_ASSERT_EQUAL(count(x, "<testsuite "), 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(x, "<testsuite name=\"web-kill\""));
  CU_ASSERT_PTR_NOT_NULL(strstr(x, "<testsuite name=\"db-failover\""));
  CU_ASSERT(strstr(x, "\"web-kill\"") < strstr(x, "\"db-failover\"")); /* run order */
  HAS(x, "classname=\"gameday.db-failover\" name=\"run\"");
  assert_well_formed(x);
  XPATH_IS(x, "/testsuites/testsuite", 2);
  free(x);
  fx_free(f[0]);
  fx_free(f[1]);
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

static void test_reporter_file(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_FATAL(dir != NULL);
  char path[4096];
  snprintf(path, sizeof path, "%s/junit.xml", dir);
  struct fx *f[2] = {fx_new("web-kill"), fx_new("db-failover")};
  struct gd_reporter r = {.ops = &gd_reporter_junit, .path = path};
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(r.ops->open(&r, &err), 0);
  CU_ASSERT_EQUAL(r.ops->run_end(&r, &f[0]->run, &err), 0);
  /* the run may be gone before close: what was reported must not change */
  f[0]->run.verdict = GD_VERDICT_PASS;
  f[0]->sc.name = "changed";
  CU_ASSERT_EQUAL(r.ops->run_end(&r, &f[1]->run, &err), 0);
  CU_ASSERT_EQUAL(r.ops->close(&r, &err), 0);
  r.ops->free(&r);
  char *x = gd_test_read_file(path);
  CU_ASSERT_FATAL(x != NULL);
  HAS(x, "<testsuites name=\"gameday\" tests=\"10\" failures=\"4\"");
  HAS(x, "<testsuite name=\"web-kill\"");
  HAS(x, "<property name=\"verdict\" value=\"fail\"/>");
  CU_ASSERT_PTR_NULL(strstr(x, "changed"));
  assert_well_formed(x);
  free(x);
  CU_ASSERT_EQUAL(count_files(dir), 1); /* no temporary file left */

  snprintf(path, sizeof path, "%s/nodir/junit.xml", dir);
  struct gd_reporter r2 = {.ops = &gd_reporter_junit, .path = path};
  CU_ASSERT_EQUAL_FATAL(r2.ops->open(&r2, &err), 0);
  CU_ASSERT_EQUAL(r2.ops->run_end(&r2, &f[1]->run, &err), 0);
  CU_ASSERT_EQUAL(r2.ops->close(&r2, &err), GD_EIO);
  r2.ops->free(&r2);
  char want[4200];
  snprintf(want, sizeof want, "cannot write '%s': no such file or directory", path);
  CU_ASSERT_STRING_EQUAL(err.msg, want);
  fx_free(f[0]);
  fx_free(f[1]);
  gd_test_rmrf(dir);
  free(dir);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"structure, counts, failure message", test_structure},
      {"failure of an unmeasured figure", test_unmeasured_failure},
      {"escaping and invalid characters", test_escaping},
      {"aborted and errored runs", test_aborted},
      {"two runs: totals", test_two_runs},
      {"reporter writes the file on close", test_reporter_file},
      {NULL, NULL},
  };
  return gd_test_run("junit", tests);
}

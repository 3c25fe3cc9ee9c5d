/* End to end: the real gameday binary against faultserver. The server
 * reports the fault window it really applied (uv_hrtime, the clock of the
 * journal's t0_monotonic_ns), so the figures gameday measures are checked
 * against the truth, not against themselves. Scenarios are the templates in
 * tests/data/e2e/, driven by --var. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsclient.h"
#include "testutil.h"

#define MS 1000000ull

/* Loopback request latency: the time from a sample's start to its request
 * reaching the server (connect, send, the loop turning). A sample that
 * starts this much before the window may land inside it, so figures may be
 * off by the sampling interval plus this; 1 ms is generous on loopback. */
#define LOOPBACK_SLACK_MS 1.0

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* One gameday invocation's outcome. */
struct gd_result {
  int status;          /* exit status, 128+signal, -1 on timeout */
  char *out, *err;     /* stdout, stderr */
  cJSON *journal;      /* --json FILE, parsed, or NULL */
};

struct e2e {
  struct gd_fs fs;
  char *dir;
  char path[4096];     /* scratch for file names */
};

static const char *in_dir(struct e2e *t, const char *name) {
  snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
  return t->path;
}

static int e2e_start(struct e2e *t) {
  memset(t, 0, sizeof *t);
  t->dir = gd_test_tmpdir();
  if (!t->dir) return -1;
  return gd_fs_start(&t->fs);
}

static void e2e_end(struct e2e *t) {
  if (t->fs.dir) CU_ASSERT_EQUAL(gd_fs_stop(&t->fs), 0);
  gd_test_rmrf(t->dir);
  free(t->dir);
}

static void result_free(struct gd_result *r) {
  free(r->out);
  free(r->err);
  cJSON_Delete(r->journal);
  memset(r, 0, sizeof *r);
}

/* Forks gameday with stdout and stderr to separate files under t->dir. */
static pid_t gameday_spawn(struct e2e *t, char *const args[]) {
  char bin[4096], out[4096], err[4096];
  snprintf(bin, sizeof bin, "%s", gd_test_bin("gameday"));
  snprintf(out, sizeof out, "%s/stdout", t->dir);
  snprintf(err, sizeof err, "%s/stderr", t->dir);
  char *argv[64] = {bin};
  size_t n = 1;
  for (; args[n - 1] && n < 63; n++) argv[n] = args[n - 1];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid != 0) return pid;
  int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int nul = open("/dev/null", O_RDONLY);
  if (fo < 0 || fe < 0 || nul < 0) _exit(127);
  dup2(fo, 1);
  dup2(fe, 2);
  dup2(nul, 0);
  execv(bin, argv);
  _exit(127);
}

/* Waits and collects; the journal is read when json is given. */
static void gameday_collect(struct e2e *t, pid_t pid, int timeout_ms,
                            const char *json, struct gd_result *r) {
  memset(r, 0, sizeof *r);
  r->status = pid > 0 ? gd_test_wait(pid, timeout_ms) : -1;
  if (r->status < 0 && pid > 0) {
    printf("\n    gameday did not finish in %d ms; killing it", timeout_ms);
    kill(pid, SIGKILL);
    gd_test_wait(pid, 5000);
  }
  char p[4096];
  snprintf(p, sizeof p, "%s/stdout", t->dir);
  r->out = gd_test_read_file(p);
  snprintf(p, sizeof p, "%s/stderr", t->dir);
  r->err = gd_test_read_file(p);
  if (json) {
    char *text = gd_test_read_file(json);
    r->journal = text ? cJSON_Parse(text) : NULL;
    free(text);
  }
}

static void gameday(struct e2e *t, char *const args[], int timeout_ms,
                    const char *json, struct gd_result *r) {
  gameday_collect(t, gameday_spawn(t, args), timeout_ms, json, r);
}

/* Shown when an expectation on the run fails: the why is in there. */
static void dump(const struct gd_result *r) {
  printf("\n    exit %d\n--- gameday stdout ---\n%s--- gameday stderr ---\n%s"
         "--- end ---\n",
         r->status, r->out ? r->out : "", r->err ? r->err : "");
}

/* Dotted path into a journal: "measurements.recovery_ms", "actions.0.ok". */
static const cJSON *jget(const cJSON *o, const char *path) {
  char key[128];
  while (o && *path) {
    size_t n = strcspn(path, ".");
    if (n >= sizeof key) return NULL;
    memcpy(key, path, n);
    key[n] = 0;
    path += n + (path[n] == '.');
    if (cJSON_IsArray(o) && key[0] >= '0' && key[0] <= '9')
      o = cJSON_GetArrayItem(o, atoi(key));
    else
      o = cJSON_GetObjectItemCaseSensitive(o, key);
  }
  return o;
}

static double jnum(const cJSON *o, const char *path) {
  const cJSON *v = jget(o, path);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *jstr(const cJSON *o, const char *path) {
  const cJSON *v = jget(o, path);
  return cJSON_IsString(v) ? v->valuestring : "";
}

/* argv for `gameday run` of a template: the server's ports and the caller's
 * extra --var settings, then --json and --junit into t->dir. */
struct args {
  char *v[64];
  size_t n;
};

static void arg(struct args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void arg(struct args *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (!s || a->n >= 63) {
    free(s);
    return;
  }
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  a->v[a->n++] = s;
  a->v[a->n] = NULL;
}

static void args_free(struct args *a) {
  for (size_t i = 0; i < a->n; i++) free(a->v[i]);
  a->n = 0;
}

static void run_args(struct args *a, struct e2e *t, const char *scenario) {
  memset(a, 0, sizeof *a);
  arg(a, "run");
  arg(a, "%s", gd_test_src(scenario));
  arg(a, "--var");
  arg(a, "port=%d", t->fs.port);
  arg(a, "--var");
  arg(a, "ctl=%d", t->fs.ctl_port);
  arg(a, "--json");
  arg(a, "%s", in_dir(t, "journal.json"));
  arg(a, "--junit");
  arg(a, "%s", in_dir(t, "junit.xml"));
  arg(a, "--quiet");
}

static void var(struct args *a, const char *name, long value) {
  arg(a, "--var");
  arg(a, "%s=%ld", name, value);
}

static void var_s(struct args *a, const char *name, const char *value) {
  arg(a, "--var");
  arg(a, "%s=%s", name, value);
}

static void test_version(void) {
  struct e2e t;
  memset(&t, 0, sizeof t);
  t.dir = gd_test_tmpdir();
  CU_ASSERT_FATAL(t.dir != NULL);
  struct gd_result r;
  gameday(&t, (char *[]){"--version", NULL}, 10000, NULL, &r);
  CU_ASSERT_EQUAL(r.status, 0);
  CU_ASSERT(r.out && strstr(r.out, GAMEDAY_VERSION));
  if (r.status != 0) dump(&r);
  result_free(&r);
  gd_test_rmrf(t.dir);
  free(t.dir);
}

/* A window of `mode`, sampled every interval_ms: the verdict is pass and
 * detection, recovery and downtime agree with the window faultserver
 * reports, to within the uncertainties gameday states. */
static void check_window(const char *mode, int interval_ms, int timeout_ms,
                         int max_inflight) {
  struct e2e t;
  if (e2e_start(&t) != 0) CU_FAIL_FATAL("faultserver did not start");
  const int after_ms = 100, for_ms = 300;
  struct args a;
  run_args(&a, &t, "tests/data/e2e/window.json");
  var_s(&a, "mode", mode);
  var(&a, "after_ms", after_ms);
  var(&a, "for_ms", for_ms);
  var(&a, "interval_ms", interval_ms);
  var(&a, "timeout_ms", timeout_ms);
  var(&a, "max_inflight", max_inflight);
  struct gd_result r;
  gameday(&t, a.v, 60000, in_dir(&t, "journal.json"), &r);
  args_free(&a);
  const cJSON *j = r.journal;

  CU_ASSERT_EQUAL(r.status, 0);
  CU_ASSERT_STRING_EQUAL(jstr(j, "verdict"), "pass");
  CU_ASSERT_STRING_EQUAL(jstr(j, "format"), "gameday-journal/1");
  CU_ASSERT_STRING_EQUAL(jstr(j, "rollback"), "done");
  CU_ASSERT(cJSON_IsTrue(jget(j, "actions.0.ok")));
  CU_ASSERT_STRING_EQUAL(jstr(j, "actions.0.phase"), "fault");

  struct gd_fs_window w;
  CU_ASSERT_EQUAL_FATAL(gd_fs_window(&t.fs, 1, &w), 0);
  CU_ASSERT_STRING_EQUAL(w.mode, mode);
  CU_ASSERT_STRING_EQUAL(w.state, "ended");
  CU_ASSERT(w.requests_failed > 0 || strcmp(mode, "refuse") == 0);
  /* The rollback's reset came after the window: it is whole. */
  CU_ASSERT(w.end_ns >= w.planned_end_ns);

  const cJSON *t0j = jget(j, "t0_monotonic_ns");
  CU_ASSERT_FATAL(cJSON_IsNumber(t0j));
  uint64_t t0 = (uint64_t)t0j->valuedouble;
  /* t0 is when the fault request was issued; the server planned the
   * window after_ms after it arrived. */
  CU_ASSERT(w.planned_start_ns >= t0 + (uint64_t)after_ms * MS);
  CU_ASSERT(w.planned_start_ns < t0 + (uint64_t)(after_ms + 100) * MS);

  double s_ms = ((double)w.start_ns - (double)t0) / 1e6;
  double e_ms = ((double)w.end_ns - (double)t0) / 1e6;
  double d_ms = ((double)w.end_ns - (double)w.start_ns) / 1e6;
  double det = jnum(j, "measurements.detection_ms");
  double det_u = jnum(j, "measurements.detection_uncertainty_ms");
  double rec = jnum(j, "measurements.recovery_ms");
  double rec_u = jnum(j, "measurements.recovery_uncertainty_ms");
  double down = jnum(j, "measurements.downtime_ms");
  double down_u = jnum(j, "measurements.downtime_uncertainty_ms");
  printf("\n    %s/%d ms: truth start %.3f end %.3f length %.3f; measured "
         "detection %.3f±%g recovery %.3f±%g downtime %.3f±%g ",
         mode, interval_ms, s_ms, e_ms, d_ms, det, det_u, rec, rec_u, down,
         down_u);
  /* The stated uncertainty is the sampling interval. */
  CU_ASSERT_DOUBLE_EQUAL(det_u, interval_ms, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(rec_u, interval_ms, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(down_u, interval_ms, 1e-9);
  int det_ok = fabs(det - s_ms) <= det_u + LOOPBACK_SLACK_MS;
  int rec_ok = fabs(rec - e_ms) <= rec_u + LOOPBACK_SLACK_MS;
  int down_ok = fabs(down - d_ms) <= down_u + LOOPBACK_SLACK_MS;
  CU_ASSERT(det_ok);
  CU_ASSERT(rec_ok);
  CU_ASSERT(down_ok);
  if (!det_ok || !rec_ok || !down_ok) {
    /* Late or skipped samples near an edge (a starved machine) and a
     * measurement error look alike from the figures alone. */
    printf("\n    probe: skipped %g, lateness p99 %g ms; spans near the "
           "window:",
           jnum(j, "probes.web.skipped"), jnum(j, "probes.web.lateness_p99_ms"));
    const cJSON *sp;
    cJSON_ArrayForEach(sp, jget(j, "probes.web.timeline")) {
      double a0 = jnum(sp, "0"), a1 = jnum(sp, "1");
      if (a1 >= s_ms - 3.0 * interval_ms && a0 <= e_ms + 3.0 * interval_ms)
        printf("\n      [%.3f, %.3f, %s, %g]", a0, a1, jstr(sp, "2"),
               jnum(sp, "3"));
    }
  }

  /* The probe saw the window as failures and kept sampling throughout. */
  CU_ASSERT(jnum(j, "probes.web.failed") >= d_ms / interval_ms * 0.5);
  CU_ASSERT(jnum(j, "probes.web.ok") > 0);
  CU_ASSERT(cJSON_GetArraySize(jget(j, "probes.web.timeline")) >= 3);
  if (r.status != 0 || !j) dump(&r);
  result_free(&r);
  e2e_end(&t);
}

static void test_503_10ms(void) { check_window("503", 10, 500, 1); }
static void test_503_1ms(void) { check_window("503", 1, 500, 4); }
static void test_refuse_10ms(void) { check_window("refuse", 10, 500, 1); }
static void test_refuse_1ms(void) { check_window("refuse", 1, 500, 4); }
/* A hung request holds its slot until its timeout: without more than one
 * in flight the probe would be blind for timeout_ms at a time. */
static void test_hang_10ms(void) { check_window("hang", 10, 50, 8); }
static void test_hang_1ms(void) { check_window("hang", 1, 50, 64); }

/* SIGINT while observing a long outage: the rollback still runs. */
static void test_interrupted(void) {
  struct e2e t;
  if (e2e_start(&t) != 0) CU_FAIL_FATAL("faultserver did not start");
  struct args a;
  run_args(&a, &t, "tests/data/e2e/window.json");
  var(&a, "after_ms", 0);
  var(&a, "for_ms", 30000);
  var(&a, "recovery_timeout_ms", 60000);
  pid_t pid = gameday_spawn(&t, a.v);
  args_free(&a);
  CU_ASSERT_FATAL(pid > 0);
  /* Wait for the fault to be in force, then let it be observed a while. */
  struct gd_fs_window w = {0};
  for (int i = 0; i < 1000 && gd_fs_window(&t.fs, 1, &w) != 0; i++)
    sleep_ms(10);
  CU_ASSERT_STRING_EQUAL(w.state, "active");
  sleep_ms(300);
  uint64_t sent = gd_fs_now_ns();
  CU_ASSERT_EQUAL(kill(pid, SIGINT), 0);
  struct gd_result r;
  gameday_collect(&t, pid, 20000, in_dir(&t, "journal.json"), &r);
  const cJSON *j = r.journal;
  CU_ASSERT_EQUAL(r.status, 3);
  CU_ASSERT_STRING_EQUAL(jstr(j, "verdict"), "aborted");
  CU_ASSERT_STRING_EQUAL(jstr(j, "rollback"), "done");
  /* The rollback reached the server: the window ended early, after the
   * signal. */
  CU_ASSERT_EQUAL(gd_fs_stat(&t.fs, "resets"), 1);
  CU_ASSERT_EQUAL_FATAL(gd_fs_window(&t.fs, 1, &w), 0);
  CU_ASSERT_STRING_EQUAL(w.state, "ended");
  CU_ASSERT(w.end_ns > sent && w.end_ns < w.planned_end_ns);
  const cJSON *act;
  int rollback_ok = 0;
  cJSON_ArrayForEach(act, jget(j, "actions")) {
    if (strcmp(jstr(act, "phase"), "rollback") == 0)
      rollback_ok += cJSON_IsTrue(jget(act, "ran")) &&
                     cJSON_IsTrue(jget(act, "ok"));
  }
  CU_ASSERT_EQUAL(rollback_ok, 1);
  CU_ASSERT_EQUAL(gd_fs_http(t.fs.port, "GET", "/", 2000, NULL), 200);
  if (r.status != 3) dump(&r);
  result_free(&r);
  e2e_end(&t);
}

/* Already failing before the run: nothing is injected. */
static void test_not_steady(void) {
  struct e2e t;
  if (e2e_start(&t) != 0) CU_FAIL_FATAL("faultserver did not start");
  CU_ASSERT_FATAL(gd_fs_fault(&t.fs, "503", 0, 30000) > 0);
  long long before = gd_fs_stat(&t.fs, "fault_requests");
  CU_ASSERT_EQUAL(before, 1);
  struct args a;
  run_args(&a, &t, "tests/data/e2e/window.json");
  var(&a, "steady_timeout_ms", 1000);
  struct gd_result r;
  gameday(&t, a.v, 30000, in_dir(&t, "journal.json"), &r);
  args_free(&a);
  const cJSON *j = r.journal;
  CU_ASSERT_EQUAL(r.status, 3);
  CU_ASSERT_STRING_EQUAL(jstr(j, "verdict"), "aborted");
  CU_ASSERT(cJSON_IsNull(jget(j, "t0_monotonic_ns")));
  /* No fault request reached the server: only this test's own. */
  CU_ASSERT_EQUAL(gd_fs_stat(&t.fs, "fault_requests"), before);
  const cJSON *act;
  cJSON_ArrayForEach(act, jget(j, "actions")) {
    if (strcmp(jstr(act, "phase"), "fault") == 0)
      CU_ASSERT(!cJSON_IsTrue(jget(act, "ran")));
  }
  if (r.status != 3) dump(&r);
  result_free(&r);
  e2e_end(&t);
}

static void test_recovery_timeout(void) {
  struct e2e t;
  if (e2e_start(&t) != 0) CU_FAIL_FATAL("faultserver did not start");
  struct args a;
  run_args(&a, &t, "tests/data/e2e/window.json");
  var(&a, "after_ms", 0);
  var(&a, "for_ms", 30000);
  var(&a, "recovery_timeout_ms", 700);
  struct gd_result r;
  uint64_t t_start = gd_fs_now_ns();
  gameday(&t, a.v, 30000, in_dir(&t, "journal.json"), &r);
  args_free(&a);
  uint64_t took = gd_fs_now_ns() - t_start;
  const cJSON *j = r.journal;
  CU_ASSERT_EQUAL(r.status, 1);
  CU_ASSERT_STRING_EQUAL(jstr(j, "verdict"), "fail");
  CU_ASSERT_STRING_EQUAL(jstr(j, "rollback"), "done");
  CU_ASSERT(took < 15000 * MS);
  /* Rolled back after the failure: the window was cut short. */
  struct gd_fs_window w;
  CU_ASSERT_EQUAL_FATAL(gd_fs_window(&t.fs, 1, &w), 0);
  CU_ASSERT(w.end_ns > 0 && w.end_ns < w.planned_end_ns);
  if (r.status != 1) dump(&r);
  result_free(&r);
  e2e_end(&t);
}

static void test_threshold_breached(void) {
  struct e2e t;
  if (e2e_start(&t) != 0) CU_FAIL_FATAL("faultserver did not start");
  struct args a;
  run_args(&a, &t, "tests/data/e2e/window.json");
  var(&a, "for_ms", 200);
  var(&a, "max_downtime_ms", 1);
  struct gd_result r;
  gameday(&t, a.v, 60000, in_dir(&t, "journal.json"), &r);
  args_free(&a);
  const cJSON *j = r.journal;
  CU_ASSERT_EQUAL(r.status, 1);
  CU_ASSERT_STRING_EQUAL(jstr(j, "verdict"), "fail");
  int breached = 0, passed = 0;
  const cJSON *th;
  cJSON_ArrayForEach(th, jget(j, "thresholds")) {
    if (strcmp(jstr(th, "name"), "downtime_ms") == 0)
      breached += cJSON_IsFalse(jget(th, "pass"));
    if (strcmp(jstr(th, "name"), "availability") == 0)
      passed += cJSON_IsTrue(jget(th, "pass"));
  }
  CU_ASSERT_EQUAL(breached, 1);
  CU_ASSERT_EQUAL(passed, 1);
  char *junit = gd_test_read_file(in_dir(&t, "junit.xml"));
  CU_ASSERT_FATAL(junit != NULL);
  /* One failure, in the downtime_ms test case. */
  const char *f = strstr(junit, "<failure");
  CU_ASSERT(f != NULL);
  CU_ASSERT(f && strstr(f + 1, "<failure") == NULL);
  const char *tc = strstr(junit, "downtime_ms");
  CU_ASSERT(tc != NULL && f != NULL && tc < f);
  free(junit);
  if (r.status != 1) dump(&r);
  result_free(&r);
  e2e_end(&t);
}

static void test_validate(void) {
  struct e2e t;
  memset(&t, 0, sizeof t);
  t.dir = gd_test_tmpdir();
  CU_ASSERT_FATAL(t.dir != NULL);
  char file[4096];
  snprintf(file, sizeof file, "%s", gd_test_src("tests/data/e2e/invalid.json"));
  struct gd_result r;
  gameday(&t, (char *[]){"validate", file, NULL}, 10000, NULL, &r);
  CU_ASSERT_EQUAL(r.status, 2);
  /* The message names the file and the JSON path of the bad key. */
  CU_ASSERT(r.err && strstr(r.err, "fault[1].expect"));
  CU_ASSERT(r.err && strstr(r.err, "staus"));
  CU_ASSERT(r.err && strstr(r.err, "invalid.json"));
  if (r.status != 2) dump(&r);
  result_free(&r);

  char good[4096];
  snprintf(good, sizeof good, "%s", gd_test_src("tests/data/e2e/window.json"));
  gameday(&t, (char *[]){"validate", good, NULL}, 10000, NULL, &r);
  CU_ASSERT_EQUAL(r.status, 0);
  if (r.status != 0) dump(&r);
  result_free(&r);
  /* run refuses it the same way, before touching anything. */
  gameday(&t, (char *[]){"run", file, "--quiet", NULL}, 10000, NULL, &r);
  CU_ASSERT_EQUAL(r.status, 2);
  result_free(&r);
  gd_test_rmrf(t.dir);
  free(t.dir);
}

/* Two scenarios in one run: the exit code is the worse verdict. */
static void test_two_scenarios(void) {
  struct e2e t;
  if (e2e_start(&t) != 0) CU_FAIL_FATAL("faultserver did not start");
  /* The second is the first with a threshold it cannot meet. */
  char *text = gd_test_read_file(gd_test_src("tests/data/e2e/window.json"));
  cJSON *doc = text ? cJSON_Parse(text) : NULL;
  free(text);
  CU_ASSERT_FATAL(doc != NULL);
  cJSON_ReplaceItemInObject(doc, "name", cJSON_CreateString("e2e-strict"));
  cJSON *th = cJSON_GetObjectItemCaseSensitive(doc, "thresholds");
  cJSON_ReplaceItemInObject(th, "downtime_ms", cJSON_CreateNumber(1));
  char *strict = cJSON_Print(doc);
  cJSON_Delete(doc);
  char strict_file[4096];
  snprintf(strict_file, sizeof strict_file, "%s", in_dir(&t, "strict.json"));
  CU_ASSERT_FATAL(strict && gd_test_write_file(strict_file, strict) == 0);
  free(strict);

  struct args a;
  run_args(&a, &t, "tests/data/e2e/window.json");
  arg(&a, "%s", strict_file);
  var(&a, "for_ms", 100);
  arg(&a, "--out");
  arg(&a, "%s", in_dir(&t, "out"));
  struct gd_result r;
  gameday(&t, a.v, 60000, in_dir(&t, "journal.json"), &r);
  args_free(&a);
  const cJSON *j = r.journal;
  CU_ASSERT_EQUAL(r.status, 1);
  CU_ASSERT_STRING_EQUAL(jstr(j, "format"), "gameday-journals/1");
  CU_ASSERT_EQUAL(cJSON_GetArraySize(jget(j, "journals")), 2);
  CU_ASSERT_STRING_EQUAL(jstr(j, "journals.0.verdict"), "pass");
  CU_ASSERT_STRING_EQUAL(jstr(j, "journals.1.verdict"), "fail");
  CU_ASSERT_STRING_EQUAL(jstr(j, "journals.1.scenario"), "e2e-strict");
  /* Both ran their fault against the server. */
  CU_ASSERT_EQUAL(gd_fs_stat(&t.fs, "fault_requests"), 2);
  /* --out: one journal per scenario and the JUnit file. */
  char p[4096];
  snprintf(p, sizeof p, "%s/out/e2e-503-window.json", t.dir);
  CU_ASSERT_EQUAL(access(p, R_OK), 0);
  snprintf(p, sizeof p, "%s/out/e2e-strict.json", t.dir);
  CU_ASSERT_EQUAL(access(p, R_OK), 0);
  snprintf(p, sizeof p, "%s/out/junit.xml", t.dir);
  CU_ASSERT_EQUAL(access(p, R_OK), 0);
  if (r.status != 1) dump(&r);
  result_free(&r);
  e2e_end(&t);
}

/* A guard that trips aborts the run at once, with the rollback run. */
static void test_guard(void) {
  struct e2e t;
  if (e2e_start(&t) != 0) CU_FAIL_FATAL("faultserver did not start");
  struct gd_fs other;
  if (gd_fs_start(&other) != 0) {
    e2e_end(&t);
    CU_FAIL_FATAL("second faultserver did not start");
  }
  struct args a;
  run_args(&a, &t, "tests/data/e2e/guard.json");
  var(&a, "guard_port", other.port);
  var(&a, "guard_ctl", other.ctl_port);
  struct gd_result r;
  uint64_t t_start = gd_fs_now_ns();
  gameday(&t, a.v, 30000, in_dir(&t, "journal.json"), &r);
  args_free(&a);
  uint64_t took = gd_fs_now_ns() - t_start;
  const cJSON *j = r.journal;
  CU_ASSERT_EQUAL(r.status, 3);
  CU_ASSERT_STRING_EQUAL(jstr(j, "verdict"), "aborted");
  CU_ASSERT(strstr(jstr(j, "reason"), "other") != NULL);
  CU_ASSERT_STRING_EQUAL(jstr(j, "rollback"), "done");
  /* Aborted at the trip, not after the 3 s the recovery would need. */
  CU_ASSERT(took < 2500 * MS);
  struct gd_fs_window w;
  CU_ASSERT_EQUAL_FATAL(gd_fs_window(&other, 1, &w), 0);
  CU_ASSERT(w.end_ns > 0 && w.end_ns < w.planned_end_ns);
  CU_ASSERT_EQUAL(gd_fs_stat(&t.fs, "failed"), 0);
  if (r.status != 3) dump(&r);
  result_free(&r);
  CU_ASSERT_EQUAL(gd_fs_stop(&other), 0);
  e2e_end(&t);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"gameday --version", test_version},
      {"503 window, 10 ms probe", test_503_10ms},
      {"503 window, 1 ms probe", test_503_1ms},
      {"refuse window, 10 ms probe", test_refuse_10ms},
      {"refuse window, 1 ms probe", test_refuse_1ms},
      {"hang window, 10 ms probe", test_hang_10ms},
      {"hang window, 1 ms probe", test_hang_1ms},
      {"SIGINT during observe: rollback, aborted, exit 3", test_interrupted},
      {"steady state not met: nothing injected, exit 3", test_not_steady},
      {"recovery timeout: exit 1", test_recovery_timeout},
      {"threshold breached: exit 1, JUnit failure", test_threshold_breached},
      {"validate: exit 2 naming the JSON path", test_validate},
      {"two scenarios: worst exit code", test_two_scenarios},
      {"guard trips: aborted, exit 3", test_guard},
      {NULL, NULL},
  };
  return gd_test_run("e2e", tests);
}

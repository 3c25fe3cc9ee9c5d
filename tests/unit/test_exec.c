/* The exec probe and the exec action (and the process helper under both):
 * exit status against expect, signals, captured and bounded output, spawn
 * failures, and cancellation that takes down a whole process group. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gameday/action.h"
#include "gameday/probe.h"
#include "gameday/proc.h"
#include "proberun.h"
#include "testutil.h"

/* JSON with ' for " so that specs read well in C. */
static cJSON *J(const char *s) {
  char *t = strdup(s);
  for (char *p = t; *p; p++)
    if (*p == '\'') *p = '"';
  cJSON *j = cJSON_Parse(t);
  free(t);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  return j;
}

static double ms_since(uint64_t t) { return (double)(uv_hrtime() - t) / 1e6; }

/* ---- probe driver -------------------------------------------------------- */

/* Runs the probe described by spec until `want` results (or max_ms). */
static void run_probe(struct gd_proberun *r, const char *spec, int want,
                      int max_ms) {
  cJSON *j = J(spec);
  gd_proberun_spec(j, want, max_ms, r, NULL, 0);
  cJSON_Delete(j);
}

static void probe_ok(void) {
  struct gd_proberun r;
  run_probe(&r, "{'type':'exec','argv':['true'],'interval_ms':20,"
                "'timeout_ms':2000}", 3, 5000);
  CU_ASSERT_EQUAL(r.n, 3);
  CU_ASSERT_EQUAL(r.ok, 3);
  CU_ASSERT_EQUAL(r.failed, 0);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_OK);
}

static void probe_exit_mismatch(void) {
  struct gd_proberun r;
  run_probe(&r, "{'type':'exec','argv':['sh','-c',"
                "'echo first; echo boom >&2; exit 3'],"
                "'interval_ms':20,'timeout_ms':2000}", 1, 5000);
  CU_ASSERT_EQUAL(r.n, 1);
  CU_ASSERT_EQUAL(r.failed, 1);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_EXIT);
  /* stderr is captured with stdout, and the last line names the cause */
  CU_ASSERT_STRING_EQUAL(r.detail[0], "exit 3 (expected 0): boom");

  /* the same status is ok when it is the one expected */
  run_probe(&r, "{'type':'exec','argv':['sh','-c','exit 3'],"
                "'expect':{'exit':3},'interval_ms':20,'timeout_ms':2000}",
            2, 5000);
  CU_ASSERT_EQUAL(r.ok, 2);
  CU_ASSERT_EQUAL(r.failed, 0);

  /* and exit 0 is then a failure */
  run_probe(&r, "{'type':'exec','argv':['true'],'expect':{'exit':3},"
                "'interval_ms':20,'timeout_ms':2000}", 1, 5000);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_EXIT);
  CU_ASSERT_STRING_EQUAL(r.detail[0], "exit 0 (expected 3)");
}

static void probe_killed_by_signal(void) {
  struct gd_proberun r;
  run_probe(&r, "{'type':'exec','shell':true,'argv':['kill -SEGV $$'],"
                "'interval_ms':20,'timeout_ms':2000}", 1, 5000);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_EXIT);
  CU_ASSERT_STRING_EQUAL(r.detail[0], "killed by SIGSEGV");
}

static void probe_spawn_failure(void) {
  struct gd_proberun r;
  run_probe(&r, "{'type':'exec','argv':['gd-no-such-program-4711'],"
                "'interval_ms':20,'timeout_ms':2000}", 2, 5000);
  CU_ASSERT_EQUAL(r.n, 2);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_ERROR);
  CU_ASSERT_STRING_EQUAL(
      r.detail[0],
      "cannot run 'gd-no-such-program-4711': no such file or directory");
}

/* Processes whose process group is pgid, zombies excepted (a zombie has
 * exited; whether it is reaped is up to its parent, here maybe init). */
static int live_in_group(long pgid) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *rp = strrchr(buf, ')');
    char state;
    long ppid, pgrp;
    if (!rp || sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3)
      continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') n++;
  }
  closedir(d);
  return n;
}

static long read_long(const char *path) {
  char *s = gd_test_read_file(path);
  long v = s ? atol(s) : -1;
  free(s);
  return v;
}

static int wait_group_gone(long pgid, int ms) {
  struct timespec ts = {0, 10 * 1000 * 1000};
  for (int i = 0; i < ms / 10; i++) {
    if (live_in_group(pgid) == 0) return 1;
    nanosleep(&ts, NULL);
  }
  return live_in_group(pgid) == 0;
}

static void probe_timeout_kills_group(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  char spec[1024];
  /* Two sleeps: one in the background, one in the foreground of the shell;
   * a timeout must take down all three processes, not just the shell. */
  snprintf(spec, sizeof spec,
           "{'type':'exec','shell':true,"
           "'argv':['echo $$ > %s/sh; sleep 30 & echo $! > %s/bg; sleep 30'],"
           "'interval_ms':60000,'timeout_ms':300}",
           dir, dir);
  uint64_t t = uv_hrtime();
  struct gd_proberun r;
  run_probe(&r, spec, 1, 10000);
  double took = ms_since(t);
  CU_ASSERT_EQUAL(r.n, 1);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_TIMEOUT);
  CU_ASSERT(took < 3000);

  char path[600];
  snprintf(path, sizeof path, "%s/sh", dir);
  long sh = read_long(path);
  snprintf(path, sizeof path, "%s/bg", dir);
  long bg = read_long(path);
  CU_ASSERT(sh > 1);
  CU_ASSERT(bg > 1);
  if (sh > 1) {
    /* the shell leads its own group: that is what made the kill reach all */
    CU_ASSERT_TRUE(wait_group_gone(sh, 3000));
    CU_ASSERT_EQUAL(kill((pid_t)sh, 0), -1);
  }
  /* clean up after a failure, by group id (never by name) */
  if (sh > 1 && live_in_group(sh) != 0) kill(-(pid_t)sh, SIGKILL);
  gd_test_rmrf(dir);
  free(dir);
}

/* Stopping the probe cancels a running sample the same way. */
static void probe_stop_cancels(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  char spec[1024];
  snprintf(spec, sizeof spec,
           "{'type':'exec','shell':true,"
           "'argv':['echo $$ > %s/sh; sleep 30'],"
           "'interval_ms':60000,'timeout_ms':20000}",
           dir);
  uint64_t t = uv_hrtime();
  struct gd_proberun r;
  run_probe(&r, spec, 1, 300); /* the time limit stops it */
  CU_ASSERT(ms_since(t) < 3000);
  CU_ASSERT_EQUAL(r.n, 0); /* a cancelled sample is not a result */
  char path[600];
  snprintf(path, sizeof path, "%s/sh", dir);
  long sh = read_long(path);
  CU_ASSERT(sh > 1);
  if (sh > 1) CU_ASSERT_TRUE(wait_group_gone(sh, 3000));
  if (sh > 1 && live_in_group(sh) != 0) kill(-(pid_t)sh, SIGKILL);
  gd_test_rmrf(dir);
  free(dir);
}

static void probe_describe(void) {
  struct gd_probe p;
  struct gd_error err = {0};
  char buf[256];
  cJSON *j = J("{'type':'exec','argv':['pg_isready','-h','db host'],"
               "'interval_ms':100,'timeout_ms':100}");
  CU_ASSERT_EQUAL_FATAL(gd_probe_init(&p, "db", j, "probes.db", &err), 0);
  p.ops->describe(&p, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "pg_isready -h 'db host' (expect exit 0)");
  gd_probe_free(&p);
  cJSON_Delete(j);

  j = J("{'type':'exec','shell':true,'argv':['test -f /tmp/x'],"
        "'expect':{'exit':1},'interval_ms':100,'timeout_ms':100}");
  CU_ASSERT_EQUAL_FATAL(gd_probe_init(&p, "f", j, "probes.f", &err), 0);
  p.ops->describe(&p, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "sh -c 'test -f /tmp/x' (expect exit 1)");
  gd_probe_free(&p);
  cJSON_Delete(j);
}

/* ---- validation ---------------------------------------------------------- */

static void expect_probe_error(const char *spec, const char *msg) {
  struct gd_probe p;
  struct gd_error err = {0};
  cJSON *j = J(spec);
  int rc = gd_probe_init(&p, "x", j, "probes.x", &err);
  cJSON_Delete(j);
  CU_ASSERT_NOT_EQUAL(rc, 0);
  if (rc == 0) {
    gd_probe_free(&p);
    return;
  }
  if (!strstr(err.msg, msg))
    printf("\n    got '%s', wanted '%s'\n", err.msg, msg);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, msg));
}

static void expect_action_error(const char *spec, const char *msg) {
  struct gd_action a;
  struct gd_error err = {0};
  cJSON *j = J(spec);
  int rc = gd_action_init(&a, j, "fault[1]", &err);
  cJSON_Delete(j);
  CU_ASSERT_NOT_EQUAL(rc, 0);
  if (rc == 0) {
    gd_action_free(&a);
    return;
  }
  if (!strstr(err.msg, msg))
    printf("\n    got '%s', wanted '%s'\n", err.msg, msg);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, msg));
}

static void validation(void) {
  const char *iv = "'interval_ms':100,'timeout_ms':100";
  char spec[512];
  snprintf(spec, sizeof spec, "{'type':'exec',%s}", iv);
  expect_probe_error(spec, "probes.x.argv: required key missing");
  snprintf(spec, sizeof spec, "{'type':'exec','argv':[],%s}", iv);
  expect_probe_error(spec, "probes.x.argv: must not be empty");
  snprintf(spec, sizeof spec, "{'type':'exec','argv':['a',1],%s}", iv);
  expect_probe_error(spec, "probes.x.argv[1]: must be a string");
  snprintf(spec, sizeof spec, "{'type':'exec','argv':[''],%s}", iv);
  expect_probe_error(spec, "probes.x.argv[0]: empty program name");
  snprintf(spec, sizeof spec,
           "{'type':'exec','shell':true,'argv':['echo','hi'],%s}", iv);
  expect_probe_error(spec, "probes.x.argv: with shell true argv must have "
                           "exactly one element");
  snprintf(spec, sizeof spec,
           "{'type':'exec','argv':['true'],'expect':{'exit':256},%s}", iv);
  expect_probe_error(spec, "probes.x.expect.exit");
  snprintf(spec, sizeof spec,
           "{'type':'exec','argv':['true'],'expect':{'status':0},%s}", iv);
  expect_probe_error(spec, "probes.x.expect: unknown key 'status'");
  snprintf(spec, sizeof spec, "{'type':'exec','argv':['true'],'shel':1,%s}",
           iv);
  expect_probe_error(spec, "probes.x: unknown key 'shel'");
  snprintf(spec, sizeof spec, "{'type':'exec','argv':['true'],'cwd':'',%s}",
           iv);
  expect_probe_error(spec, "probes.x.cwd: empty directory name");

  expect_action_error("{'type':'exec','shell':true,'argv':['a','b']}",
                      "fault[1].argv: with shell true argv must have "
                      "exactly one element");
  expect_action_error("{'type':'exec','argv':['true'],'expect':{'exit':-1}}",
                      "fault[1].expect.exit");
  expect_action_error("{'type':'exec','argv':['true'],'interval_ms':5}",
                      "fault[1]: unknown key 'interval_ms'");
}

/* ---- action driver ------------------------------------------------------- */

struct action_run {
  struct gd_action a;
  uv_loop_t loop;
  uv_timer_t canceller;
  int calls;
  int cancel_after_ms; /* < 0: never */
  int handles_closed_at_cb; /* no handle of the kind left open at done */
};

static void count_handles(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) (*(int *)arg)++;
}

static void on_action_done(struct gd_action *a, void *arg) {
  struct action_run *r = arg;
  (void)a;
  r->calls++;
  int open = 0;
  uv_walk(&r->loop, count_handles, &open);
  /* the canceller timer is the test's own */
  if (r->cancel_after_ms >= 0 && !uv_is_closing((uv_handle_t *)&r->canceller))
    open--;
  r->handles_closed_at_cb = open == 0;
  if (r->cancel_after_ms >= 0 && !uv_is_closing((uv_handle_t *)&r->canceller))
    uv_close((uv_handle_t *)&r->canceller, NULL);
}

static void cancel_now(uv_timer_t *t) {
  struct action_run *r = t->data;
  gd_action_cancel(&r->a);
}

/* Returns the run's rc; the action is left for the caller to inspect/free. */
static int run_action(struct action_run *r, const char *spec, int cancel_ms,
                      struct gd_error *err) {
  memset(r, 0, sizeof *r);
  r->cancel_after_ms = cancel_ms;
  cJSON *j = J(spec);
  int rc = gd_action_init(&r->a, j, "fault[0]", err);
  cJSON_Delete(j);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL_FATAL(uv_loop_init(&r->loop), 0);
  if (cancel_ms >= 0) {
    uv_timer_init(&r->loop, &r->canceller);
    r->canceller.data = r;
    uv_timer_start(&r->canceller, cancel_now, (uint64_t)cancel_ms, 0);
  }
  rc = gd_action_run(&r->a, &r->loop, NULL, on_action_done, r, err);
  if (rc && cancel_ms >= 0) uv_close((uv_handle_t *)&r->canceller, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(uv_loop_close(&r->loop), 0);
  return rc;
}

static const char *detail_str(const cJSON *d, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void action_ok(void) {
  struct action_run r;
  struct gd_error err = {0};
  int rc = run_action(&r, "{'type':'exec','argv':['sh','-c',"
                          "'echo hello; echo world >&2']}", -1, &err);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(r.calls, 1);
  CU_ASSERT_TRUE(r.handles_closed_at_cb);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT_STRING_EQUAL(r.a.message, "exit 0");
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.a.detail);
  const cJSON *ex = cJSON_GetObjectItemCaseSensitive(r.a.detail, "exit");
  CU_ASSERT_TRUE(cJSON_IsNumber(ex) && ex->valuedouble == 0);
  CU_ASSERT_TRUE(
      cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.a.detail, "signal")));
  const char *out = detail_str(r.a.detail, "output");
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  CU_ASSERT_STRING_EQUAL(out, "hello\nworld\n");
  gd_action_free(&r.a);
}

static void action_fail(void) {
  struct action_run r;
  struct gd_error err = {0};
  int rc = run_action(&r, "{'type':'exec','shell':true,"
                          "'argv':['echo starting; echo no route to db; "
                          "exit 1']}", -1, &err);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(r.calls, 1);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_STRING_EQUAL(r.a.message, "exit 1: no route to db");
  const cJSON *ex = cJSON_GetObjectItemCaseSensitive(r.a.detail, "exit");
  CU_ASSERT_TRUE(cJSON_IsNumber(ex) && ex->valuedouble == 1);
  gd_action_free(&r.a);

  /* expect a non-zero exit */
  rc = run_action(&r, "{'type':'exec','argv':['false'],'expect':{'exit':1}}",
                  -1, &err);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT_STRING_EQUAL(r.a.message, "exit 1");
  gd_action_free(&r.a);

  /* killed by a signal: exit is null, signal named */
  rc = run_action(&r, "{'type':'exec','shell':true,"
                      "'argv':['echo dying; kill -TERM $$']}", -1, &err);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_STRING_EQUAL(r.a.message, "killed by SIGTERM: dying");
  CU_ASSERT_TRUE(
      cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.a.detail, "exit")));
  CU_ASSERT_STRING_EQUAL(detail_str(r.a.detail, "signal"), "SIGTERM");
  gd_action_free(&r.a);
}

static void action_spawn_failure(void) {
  struct action_run r;
  struct gd_error err = {0};
  int rc = run_action(&r, "{'type':'exec','argv':['gd-no-such-program-4711']}",
                      -1, &err);
  CU_ASSERT_NOT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(r.calls, 0);
  CU_ASSERT_STRING_EQUAL(
      err.msg, "cannot run 'gd-no-such-program-4711': no such file or directory");
  CU_ASSERT_EQUAL(r.a.ok, 0);
  gd_action_free(&r.a);

  rc = run_action(&r, "{'type':'exec','argv':['true'],"
                      "'cwd':'/nonexistent/gd-4711'}", -1, &err);
  CU_ASSERT_NOT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(r.calls, 0);
  CU_ASSERT_STRING_EQUAL(err.msg, "cannot run 'true': cwd "
                                  "'/nonexistent/gd-4711': no such file or "
                                  "directory");
  gd_action_free(&r.a);
}

static void action_cwd(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  char real[PATH_MAX], spec[PATH_MAX + 100], want[PATH_MAX + 2];
  CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(dir, real));
  snprintf(spec, sizeof spec, "{'type':'exec','argv':['pwd','-P'],'cwd':'%s'}",
           dir);
  struct action_run r;
  struct gd_error err = {0};
  run_action(&r, spec, -1, &err);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  snprintf(want, sizeof want, "%s\n", real);
  const char *out = detail_str(r.a.detail, "output");
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  CU_ASSERT_STRING_EQUAL(out, want);
  gd_action_free(&r.a);
  gd_test_rmrf(dir);
  free(dir);
}

static void action_output_bounded(void) {
  struct action_run r;
  struct gd_error err = {0};
  /* about 24 KiB, more than a pipe read and more than the 4 KiB kept */
  run_action(&r, "{'type':'exec','argv':['seq','1','5000']}", -1, &err);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  const char *out = detail_str(r.a.detail, "output");
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  size_t len = strlen(out);
  CU_ASSERT(len <= GD_PROC_OUTPUT_MAX);
  CU_ASSERT(len >= GD_PROC_OUTPUT_MAX - 8);
  CU_ASSERT(len >= 10 && strcmp(out + len - 10, "4999\n5000\n") == 0);
  CU_ASSERT_TRUE(cJSON_IsTrue(
      cJSON_GetObjectItemCaseSensitive(r.a.detail, "output_truncated")));
  gd_action_free(&r.a);

  /* binary output comes out as valid UTF-8 (here: one '?' per bad byte) */
  run_action(&r, "{'type':'exec','argv':['printf','a\\\\377b\\\\303\\\\251']}",
             -1, &err);
  out = detail_str(r.a.detail, "output");
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  CU_ASSERT_STRING_EQUAL(out, "a?b\xc3\xa9");
  gd_action_free(&r.a);
}

static void action_cancel(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  char spec[1024];
  snprintf(spec, sizeof spec,
           "{'type':'exec','shell':true,"
           "'argv':['echo $$ > %s/sh; sleep 30 & sleep 30']}",
           dir);
  struct action_run r;
  struct gd_error err = {0};
  uint64_t t = uv_hrtime();
  int rc = run_action(&r, spec, 300, &err);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT(ms_since(t) < 3000);
  CU_ASSERT_EQUAL(r.calls, 1);
  CU_ASSERT_TRUE(r.handles_closed_at_cb);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_EQUAL(r.a.cancelled, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.a.message);
  CU_ASSERT_EQUAL(strncmp(r.a.message, "cancelled after ", 16), 0);
  CU_ASSERT_STRING_EQUAL(detail_str(r.a.detail, "signal"), "SIGKILL");
  char path[600];
  snprintf(path, sizeof path, "%s/sh", dir);
  long sh = read_long(path);
  CU_ASSERT(sh > 1);
  if (sh > 1) CU_ASSERT_TRUE(wait_group_gone(sh, 3000));
  if (sh > 1 && live_in_group(sh) != 0) kill(-(pid_t)sh, SIGKILL);
  gd_action_free(&r.a);
  gd_test_rmrf(dir);
  free(dir);
}

/* The action can run again (rollback retried, scenario run twice). */
static void action_rerun(void) {
  struct gd_action a;
  struct gd_error err = {0};
  cJSON *j = J("{'type':'exec','argv':['sh','-c','echo once']}");
  CU_ASSERT_EQUAL_FATAL(gd_action_init(&a, j, "rollback[0]", &err), 0);
  cJSON_Delete(j);
  for (int i = 0; i < 2; i++) {
    struct action_run r;
    memset(&r, 0, sizeof r);
    r.cancel_after_ms = -1;
    uv_loop_init(&r.loop);
    CU_ASSERT_EQUAL(
        gd_action_run(&a, &r.loop, NULL, on_action_done, &r, &err), 0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    CU_ASSERT_EQUAL(r.calls, 1);
    CU_ASSERT_EQUAL(a.ok, 1);
    CU_ASSERT_STRING_EQUAL(detail_str(a.detail, "output"), "once\n");
    CU_ASSERT_EQUAL(uv_loop_close(&r.loop), 0);
  }
  gd_action_free(&a);
}

static int resolve(const char *spec, char *buf, size_t n,
                   struct gd_error *err) {
  struct gd_action a;
  cJSON *j = J(spec);
  int rc = gd_action_init(&a, j, "fault[0]", err);
  cJSON_Delete(j);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  rc = a.ops->resolve(&a, buf, n, err);
  gd_action_free(&a);
  return rc;
}

/* plan and --dry-run: is the program there, without running it */
static void action_resolve(void) {
  char buf[512], want[600];
  struct gd_error err = {0};
  CU_ASSERT_EQUAL(resolve("{'type':'exec','argv':['/bin/sh','-c','exit 0']}",
                          buf, sizeof buf, &err), 0);
  CU_ASSERT_STRING_EQUAL(buf,
                         "would run /bin/sh -c 'exit 0' (expect exit 0)");
  CU_ASSERT_EQUAL(resolve("{'type':'exec','shell':true,'argv':['exit 3'],"
                          "'expect':{'exit':3}}", buf, sizeof buf, &err), 0);
  CU_ASSERT_STRING_EQUAL(buf, "would run sh -c 'exit 3' (expect exit 3)");

  /* found in PATH: the resolved program is shown */
  CU_ASSERT_EQUAL(resolve("{'type':'exec','argv':['true']}", buf, sizeof buf,
                          &err), 0);
  CU_ASSERT_EQUAL(strncmp(buf, "would run /", 11), 0);
  snprintf(want, sizeof want, "/true (expect exit 0)");
  CU_ASSERT(strlen(buf) > strlen(want) &&
            strcmp(buf + strlen(buf) - strlen(want), want) == 0);

  CU_ASSERT_EQUAL(resolve("{'type':'exec','argv':['gd-no-such-program-4711']}",
                          buf, sizeof buf, &err), GD_ENOTFOUND);
  CU_ASSERT_STRING_EQUAL(err.msg,
                         "cannot run 'gd-no-such-program-4711': not found "
                         "in PATH");
  CU_ASSERT_NOT_EQUAL(resolve("{'type':'exec','argv':['/nonexistent/x']}",
                              buf, sizeof buf, &err), 0);
  CU_ASSERT_STRING_EQUAL(err.msg, "cannot run '/nonexistent/x': no such file "
                                  "or directory");
}

static void signal_names(void) {
  char buf[32];
  CU_ASSERT_EQUAL(gd_signal_parse("KILL"), SIGKILL);
  CU_ASSERT_EQUAL(gd_signal_parse("sigterm"), SIGTERM);
  CU_ASSERT_EQUAL(gd_signal_parse("SigHup"), SIGHUP);
  CU_ASSERT_EQUAL(gd_signal_parse("usr1"), SIGUSR1);
  CU_ASSERT_EQUAL(gd_signal_parse("STOP"), SIGSTOP);
  CU_ASSERT_EQUAL(gd_signal_parse("9"), 9);
  CU_ASSERT_EQUAL(gd_signal_parse("64"), 64);
  CU_ASSERT_EQUAL(gd_signal_parse("65"), 0);
  CU_ASSERT_EQUAL(gd_signal_parse("0"), 0);
  CU_ASSERT_EQUAL(gd_signal_parse("-9"), 0);
  CU_ASSERT_EQUAL(gd_signal_parse("KIL"), 0);
  CU_ASSERT_EQUAL(gd_signal_parse("SIG"), 0);
  CU_ASSERT_EQUAL(gd_signal_parse(""), 0);
  CU_ASSERT_EQUAL(gd_signal_parse("RTMIN+1"), SIGRTMIN + 1);
  CU_ASSERT_EQUAL(gd_signal_parse("SIGRTMAX-1"), SIGRTMAX - 1);
  CU_ASSERT_EQUAL(gd_signal_parse("RTMIN-1"), 0);
  CU_ASSERT_STRING_EQUAL(gd_signal_name(SIGKILL, buf, sizeof buf), "SIGKILL");
  CU_ASSERT_STRING_EQUAL(gd_signal_name(SIGABRT, buf, sizeof buf), "SIGABRT");
  CU_ASSERT_STRING_EQUAL(gd_signal_name(SIGRTMIN + 2, buf, sizeof buf),
                         "SIGRTMIN+2");
}

int main(void) {
  static const struct gd_test tests[] = {
      {"probe ok", probe_ok},
      {"probe exit mismatch", probe_exit_mismatch},
      {"probe killed by signal", probe_killed_by_signal},
      {"probe spawn failure", probe_spawn_failure},
      {"probe timeout kills the process group", probe_timeout_kills_group},
      {"probe stop cancels a running sample", probe_stop_cancels},
      {"probe describe", probe_describe},
      {"validation", validation},
      {"action ok", action_ok},
      {"action failure", action_fail},
      {"action spawn failure", action_spawn_failure},
      {"action cwd", action_cwd},
      {"action output bounded", action_output_bounded},
      {"action cancel kills the process group", action_cancel},
      {"action runs again", action_rerun},
      {"action resolve", action_resolve},
      {"signal names", signal_names},
      {NULL, NULL},
  };
  signal(SIGPIPE, SIG_IGN);
  return gd_test_run("exec", tests);
}

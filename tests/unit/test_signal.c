/* The signal action: pidfiles and globs, selection (first, all, count,
 * percent, random), stale pidfiles, refusals, and the validation messages.
 * Targets are `sleep 60` children of this test, killed by pid. Where a test
 * only needs to see what would be picked it uses resolve(), and tests that
 * point at processes that must never be hurt (init, ourselves) send SIGCONT,
 * which is harmless even if a refusal were broken. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gameday/action.h"
#include "gameday/scenario.h"
#include "testutil.h"

#define NPROC 4

struct fixture {
  char *dir;
  pid_t pid[NPROC];
  int reaped[NPROC];
  int status[NPROC];
  size_t n;
};

static cJSON *J(const char *s) {
  char *t = strdup(s);
  for (char *p = t; *p; p++)
    if (*p == '\'') *p = '"';
  cJSON *j = cJSON_Parse(t);
  free(t);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  return j;
}

static pid_t spawn_sleeper(void) {
  char *argv[] = {"/bin/sleep", "60", NULL};
  if (access(argv[0], X_OK) != 0) argv[0] = "/usr/bin/sleep";
  return gd_test_spawn(argv, NULL);
}

static void write_pidfile(const char *dir, const char *name, long pid) {
  char path[512], buf[32];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(buf, sizeof buf, "%ld\n", pid);
  CU_ASSERT_EQUAL(gd_test_write_file(path, buf), 0);
}

/* n sleepers with pidfiles web-1.pid .. web-n.pid */
static void setup(struct fixture *f, size_t n) {
  memset(f, 0, sizeof *f);
  f->dir = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(f->dir);
  f->n = n;
  for (size_t i = 0; i < n; i++) {
    char name[32];
    f->pid[i] = spawn_sleeper();
    CU_ASSERT_FATAL(f->pid[i] > 0);
    snprintf(name, sizeof name, "web-%zu.pid", i + 1);
    write_pidfile(f->dir, name, f->pid[i]);
  }
}

/* Has child i ended within ms? Records its status (128+signal). */
static int ended(struct fixture *f, size_t i, int ms) {
  if (f->reaped[i]) return 1;
  int st = gd_test_wait(f->pid[i], ms);
  if (st < 0) return 0;
  f->reaped[i] = 1;
  f->status[i] = st;
  return 1;
}

static void teardown(struct fixture *f) {
  for (size_t i = 0; i < f->n; i++)
    if (!f->reaped[i]) gd_test_kill(f->pid[i]);
  gd_test_rmrf(f->dir);
  free(f->dir);
}

static int init_action(struct gd_action *a, const char *spec,
                       struct gd_error *err) {
  cJSON *j = J(spec);
  int rc = gd_action_init(a, j, "fault[0]", err);
  cJSON_Delete(j);
  return rc;
}

static void on_done(struct gd_action *a, void *arg) {
  (void)a;
  (*(int *)arg)++;
}

/* Runs spec on a fresh loop; the action is left for the caller to inspect
 * and free. Returns the number of callbacks. */
static int run_spec(struct gd_action *a, const char *spec) {
  struct gd_error err = {0};
  int rc = init_action(a, spec, &err);
  if (rc) printf("\n    init: %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  uv_loop_t loop;
  int calls = 0;
  uv_loop_init(&loop);
  rc = gd_action_run(a, &loop, NULL, on_done, &calls, &err);
  CU_ASSERT_EQUAL(rc, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  CU_ASSERT_EQUAL(calls, 1);
  CU_ASSERT_FALSE(a->running);
  return calls;
}

static int resolve_spec(const char *spec, char *buf, size_t n,
                        struct gd_error *err) {
  struct gd_action a;
  int rc = init_action(&a, spec, err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(a.ops->resolve);
  rc = a.ops->resolve(&a, buf, n, err);
  gd_action_free(&a);
  return rc;
}

static const cJSON *get(const cJSON *o, const char *k) {
  return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void first_count(void) {
  struct fixture f;
  setup(&f, 3);
  char spec[1024];
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':'term','pidfiles':'%s/web-*.pid',"
           "'select':{'mode':'first','count':2}}",
           f.dir);
  struct gd_action a;
  run_spec(&a, spec);
  CU_ASSERT_EQUAL(a.ok, 1);
  CU_ASSERT_STRING_EQUAL(a.message, "sent SIGTERM to 2 of 3 processes");
  CU_ASSERT_TRUE(ended(&f, 0, 3000) && f.status[0] == 128 + SIGTERM);
  CU_ASSERT_TRUE(ended(&f, 1, 3000) && f.status[1] == 128 + SIGTERM);
  CU_ASSERT_FALSE(ended(&f, 2, 100));

  const cJSON *d = a.detail;
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT_STRING_EQUAL(get(d, "signal")->valuestring, "SIGTERM");
  CU_ASSERT_EQUAL(get(d, "candidates")->valueint, 3);
  CU_ASSERT_EQUAL(cJSON_GetArraySize(get(d, "stale")), 0);
  const cJSON *t = get(d, "targets");
  CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(t), 2);
  char want[512];
  for (int i = 0; i < 2; i++) {
    const cJSON *e = cJSON_GetArrayItem(t, i);
    snprintf(want, sizeof want, "%s/web-%d.pid", f.dir, i + 1);
    CU_ASSERT_STRING_EQUAL(get(e, "pidfile")->valuestring, want);
    CU_ASSERT_EQUAL(get(e, "pid")->valueint, f.pid[i]);
    CU_ASSERT_TRUE(cJSON_IsTrue(get(e, "sent")));
    CU_ASSERT_TRUE(cJSON_IsNull(get(e, "error")));
  }
  gd_action_free(&a);
  teardown(&f);
}

static void all(void) {
  struct fixture f;
  setup(&f, 3);
  char spec[1024];
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':9,'pidfiles':['%s/web-*.pid'],"
           "'select':{'mode':'all'}}",
           f.dir);
  struct gd_action a;
  run_spec(&a, spec);
  CU_ASSERT_EQUAL(a.ok, 1);
  CU_ASSERT_STRING_EQUAL(a.message, "sent SIGKILL to 3 of 3 processes");
  for (size_t i = 0; i < 3; i++)
    CU_ASSERT_TRUE(ended(&f, i, 3000) && f.status[i] == 128 + SIGKILL);
  gd_action_free(&a);
  teardown(&f);
}

/* The default: one process at random. */
static void random_one(void) {
  struct fixture f;
  setup(&f, 3);
  char spec[1024];
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':'SIGKILL','pidfiles':'%s/web-*.pid'}",
           f.dir);
  struct gd_action a;
  run_spec(&a, spec);
  CU_ASSERT_EQUAL(a.ok, 1);
  /* the message names one of them; that one died, the others did not */
  long victim = -1;
  CU_ASSERT_EQUAL(sscanf(a.message, "sent SIGKILL to pid %ld", &victim), 1);
  size_t which = 3;
  for (size_t i = 0; i < 3; i++)
    if (f.pid[i] == victim) which = i;
  CU_ASSERT_FATAL(which < 3);
  CU_ASSERT_TRUE(ended(&f, which, 3000) && f.status[which] == 128 + SIGKILL);
  for (size_t i = 0; i < 3; i++)
    if (i != which) CU_ASSERT_FALSE(ended(&f, i, 50));
  char want[600];
  snprintf(want, sizeof want, "sent SIGKILL to pid %ld (%s/web-%zu.pid)",
           (long)f.pid[which], f.dir, which + 1);
  CU_ASSERT_STRING_EQUAL(a.message, want);
  gd_action_free(&a);
  teardown(&f);
}

static void random_is_uniformish(void) {
  struct fixture f;
  setup(&f, 3);
  char spec[1024], buf[1024], prefix[64];
  struct gd_error err = {0};
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':'KILL','pidfiles':'%s/web-*.pid',"
           "'select':{'count':1}}",
           f.dir);
  int seen[3] = {0};
  for (int k = 0; k < 300; k++) {
    CU_ASSERT_EQUAL_FATAL(resolve_spec(spec, buf, sizeof buf, &err), 0);
    const char *lead = "would send SIGKILL to 1 of 3 at random, this time: ";
    CU_ASSERT_EQUAL_FATAL(strncmp(buf, lead, strlen(lead)), 0);
    int hits = 0;
    for (int i = 0; i < 3; i++) {
      snprintf(prefix, sizeof prefix, "pid %ld (", (long)f.pid[i]);
      if (strstr(buf, prefix)) seen[i]++, hits++;
    }
    CU_ASSERT_EQUAL(hits, 1);
  }
  /* each has probability 1/3; missing one in 300 draws is ~1e-52 */
  for (int i = 0; i < 3; i++) CU_ASSERT(seen[i] > 50);

  /* count 2 at random: two different processes */
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':'KILL','pidfiles':'%s/web-*.pid',"
           "'select':{'mode':'random','count':2}}",
           f.dir);
  for (int k = 0; k < 50; k++) {
    CU_ASSERT_EQUAL_FATAL(resolve_spec(spec, buf, sizeof buf, &err), 0);
    int hits = 0;
    for (int i = 0; i < 3; i++) {
      snprintf(prefix, sizeof prefix, "pid %ld (", (long)f.pid[i]);
      if (strstr(buf, prefix)) hits++;
    }
    CU_ASSERT_EQUAL(hits, 2);
  }
  /* resolve sent nothing */
  for (size_t i = 0; i < 3; i++) CU_ASSERT_FALSE(ended(&f, i, 0));
  teardown(&f);
}

static void percent(void) {
  struct fixture f;
  setup(&f, 4);
  char spec[1024], buf[1024], want[1024];
  struct gd_error err = {0};
  static const struct {
    const char *pct;
    int k;
  } cases[] = {{"50", 2}, {"10", 1}, {"74", 2}, {"75", 3}, {"100", 4}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    snprintf(spec, sizeof spec,
             "{'type':'signal','signal':'KILL','pidfiles':'%s/web-*.pid',"
             "'select':{'mode':'first','percent':%s}}",
             f.dir, cases[c].pct);
    CU_ASSERT_EQUAL_FATAL(resolve_spec(spec, buf, sizeof buf, &err), 0);
    size_t pos = (size_t)snprintf(want, sizeof want,
                                  "would send SIGKILL to %d of 4", cases[c].k);
    for (int i = 0; i < cases[c].k; i++)
      pos += (size_t)snprintf(want + pos, sizeof want - pos,
                              "%s pid %ld (%s/web-%d.pid)", i ? "," : ":",
                              (long)f.pid[i], f.dir, i + 1);
    CU_ASSERT_STRING_EQUAL(buf, want);
  }

  /* and for real: 50% of 4, first two */
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':'KILL','pidfiles':'%s/web-*.pid',"
           "'select':{'mode':'first','percent':50}}",
           f.dir);
  struct gd_action a;
  run_spec(&a, spec);
  CU_ASSERT_EQUAL(a.ok, 1);
  CU_ASSERT_STRING_EQUAL(a.message, "sent SIGKILL to 2 of 4 processes");
  CU_ASSERT_TRUE(ended(&f, 0, 3000));
  CU_ASSERT_TRUE(ended(&f, 1, 3000));
  CU_ASSERT_FALSE(ended(&f, 2, 50));
  CU_ASSERT_FALSE(ended(&f, 3, 0));
  gd_action_free(&a);
  teardown(&f);
}

/* The scenario's safety.max_targets caps a signal like any action: a
 * percentage is cut to it, a count above it is refused, nothing sent. */
static void capped(void) {
  struct fixture f;
  setup(&f, 4);
  char json[2048];
  snprintf(json, sizeof json,
           "{\"name\": \"cap\", \"safety\": {\"max_targets\": 1},"
           " \"probes\": {\"p\": {\"type\": \"exec\", \"argv\": [\"true\"],"
           " \"interval_ms\": 100, \"timeout_ms\": 100}},"
           " \"steady_state\": {\"probes\": [\"p\"], \"for_ms\": 0},"
           " \"recovery\": {\"probes\": [\"p\"], \"stable_for_ms\": 0,"
           " \"timeout_ms\": 100},"
           " \"fault\": [{\"type\": \"signal\", \"signal\": \"KILL\","
           " \"pidfiles\": \"%s/web-*.pid\","
           " \"select\": {\"mode\": \"first\", \"percent\": 50}},"
           " {\"type\": \"signal\", \"signal\": \"KILL\","
           " \"pidfiles\": \"%s/web-*.pid\", \"select\": {\"count\": 2}}]}",
           f.dir, f.dir);
  cJSON *doc = cJSON_Parse(json);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  struct gd_scenario *sc = NULL;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(gd_scenario_from_json(doc, "cap.json", NULL, 0, &sc, &err), 0);
  cJSON_Delete(doc);
  char buf[1024];
  sc->fault[0].sc = sc;
  sc->fault[1].sc = sc;
  /* 50% of 4 is 2, cut to the cap of 1 */
  CU_ASSERT_EQUAL(sc->fault[0].ops->resolve(&sc->fault[0], buf, sizeof buf, &err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "would send SIGKILL to 1 of 4"));
  /* a count of 2 over a cap of 1 is refused */
  CU_ASSERT_NOT_EQUAL(sc->fault[1].ops->resolve(&sc->fault[1], buf, sizeof buf, &err), 0);
  CU_ASSERT_EQUAL(err.code, GD_EPERM);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "max_targets"));
  for (int i = 0; i < 4; i++) CU_ASSERT_FALSE(ended(&f, i, 0));
  gd_scenario_free(sc);
  teardown(&f);
}

/* Only live processes are candidates; the others are reported as stale. */
static void stale(void) {
  struct fixture f;
  setup(&f, 1); /* web-1.pid: live */
  /* a pid that has exited and been reaped */
  pid_t gone = spawn_sleeper();
  CU_ASSERT_FATAL(gone > 0);
  gd_test_kill(gone);
  write_pidfile(f.dir, "web-2.pid", gone);
  /* a zombie: exited, not reaped yet */
  pid_t zombie = spawn_sleeper();
  CU_ASSERT_FATAL(zombie > 0);
  kill(zombie, SIGKILL);
  siginfo_t si;
  CU_ASSERT_EQUAL(waitid(P_PID, (id_t)zombie, &si, WEXITED | WNOWAIT), 0);
  write_pidfile(f.dir, "web-3.pid", zombie);
  char path[512];
  snprintf(path, sizeof path, "%s/web-4.pid", f.dir);
  gd_test_write_file(path, "abc\n");
  snprintf(path, sizeof path, "%s/web-5.pid", f.dir);
  gd_test_write_file(path, "  \n");
  snprintf(path, sizeof path, "%s/web-6.pid", f.dir);
  gd_test_write_file(path, "12 34\n");

  char spec[1024];
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':'KILL','pidfiles':'%s/web-*.pid',"
           "'select':{'mode':'all'}}",
           f.dir);
  struct gd_action a;
  run_spec(&a, spec);
  CU_ASSERT_EQUAL(a.ok, 1);
  char want[600];
  snprintf(want, sizeof want, "sent SIGKILL to pid %ld (%s/web-1.pid)",
           (long)f.pid[0], f.dir);
  CU_ASSERT_STRING_EQUAL(a.message, want);
  CU_ASSERT_TRUE(ended(&f, 0, 3000));
  CU_ASSERT_EQUAL(get(a.detail, "candidates")->valueint, 1);
  const cJSON *st = get(a.detail, "stale");
  CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(st), 5);
  char reasons[5][128];
  snprintf(reasons[0], sizeof reasons[0], "pid %ld is not running",
           (long)gone);
  snprintf(reasons[1], sizeof reasons[1],
           "pid %ld has exited (zombie, not yet reaped)", (long)zombie);
  snprintf(reasons[2], sizeof reasons[2], "not a pid: 'abc'");
  snprintf(reasons[3], sizeof reasons[3], "empty file");
  snprintf(reasons[4], sizeof reasons[4], "not a pid: '12 34'");
  for (int i = 0; i < 5; i++) {
    const cJSON *e = cJSON_GetArrayItem(st, i);
    snprintf(path, sizeof path, "%s/web-%d.pid", f.dir, i + 2);
    CU_ASSERT_STRING_EQUAL(get(e, "pidfile")->valuestring, path);
    CU_ASSERT_STRING_EQUAL(get(e, "reason")->valuestring, reasons[i]);
  }
  gd_action_free(&a);
  gd_test_wait(zombie, 1000);
  teardown(&f);
}

static void no_match(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  char spec[1024], want[1024];
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':'KILL','pidfiles':'%s/none-*.pid'}",
           dir);
  struct gd_action a;
  run_spec(&a, spec);
  CU_ASSERT_EQUAL(a.ok, 0);
  snprintf(want, sizeof want, "no live process in '%s/none-*.pid'", dir);
  CU_ASSERT_STRING_EQUAL(a.message, want);
  CU_ASSERT_EQUAL(get(a.detail, "candidates")->valueint, 0);
  CU_ASSERT_EQUAL(cJSON_GetArraySize(get(a.detail, "targets")), 0);
  gd_action_free(&a);

  /* a plain path that is missing is named as a stale pidfile */
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':'KILL','pidfiles':'%s/gone.pid'}", dir);
  run_spec(&a, spec);
  CU_ASSERT_EQUAL(a.ok, 0);
  snprintf(want, sizeof want,
           "no live process in '%s/gone.pid' (1 stale pidfile)", dir);
  CU_ASSERT_STRING_EQUAL(a.message, want);
  const cJSON *e = cJSON_GetArrayItem(get(a.detail, "stale"), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_STRING_EQUAL(get(e, "reason")->valuestring,
                         "cannot read: no such file or directory");
  gd_action_free(&a);

  /* resolve says the same, as an error */
  struct gd_error err = {0};
  char buf[256];
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':'KILL','pidfiles':'%s/none-*.pid'}",
           dir);
  CU_ASSERT_NOT_EQUAL(resolve_spec(spec, buf, sizeof buf, &err), 0);
  snprintf(want, sizeof want, "no live process in '%s/none-*.pid'", dir);
  CU_ASSERT_STRING_EQUAL(err.msg, want);
  gd_test_rmrf(dir);
  free(dir);
}

static void refused(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  write_pidfile(dir, "a-init.pid", 1);
  write_pidfile(dir, "b-self.pid", (long)getpid());
  char spec[1024], want[1024];
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':'CONT','pidfiles':'%s/*.pid',"
           "'select':{'mode':'all'}}",
           dir);
  struct gd_action a;
  run_spec(&a, spec);
  CU_ASSERT_EQUAL(a.ok, 0);
  snprintf(want, sizeof want, "no live process in '%s/*.pid' (2 stale pidfiles)",
           dir);
  CU_ASSERT_STRING_EQUAL(a.message, want);
  const cJSON *st = get(a.detail, "stale");
  CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(st), 2);
  CU_ASSERT_STRING_EQUAL(get(cJSON_GetArrayItem(st, 0), "reason")->valuestring,
                         "refused: pid 1 is init");
  snprintf(want, sizeof want, "refused: pid %ld is gameday itself",
           (long)getpid());
  CU_ASSERT_STRING_EQUAL(get(cJSON_GetArrayItem(st, 1), "reason")->valuestring,
                         want);
  CU_ASSERT_EQUAL(cJSON_GetArraySize(get(a.detail, "targets")), 0);
  gd_action_free(&a);
  gd_test_rmrf(dir);
  free(dir);
}

/* Several patterns: the union, each pidfile once, in sorted order. */
static void patterns_union(void) {
  struct fixture f;
  setup(&f, 3);
  char spec[1024], buf[1024], want[1024];
  struct gd_error err = {0};
  snprintf(spec, sizeof spec,
           "{'type':'signal','signal':'HUP','pidfiles':"
           "['%s/web-3.pid','%s/web-*.pid','%s/web-1.pid'],"
           "'select':{'mode':'all'}}",
           f.dir, f.dir, f.dir);
  CU_ASSERT_EQUAL_FATAL(resolve_spec(spec, buf, sizeof buf, &err), 0);
  snprintf(want, sizeof want,
           "would send SIGHUP to 3 of 3: pid %ld (%s/web-1.pid), "
           "pid %ld (%s/web-2.pid), pid %ld (%s/web-3.pid)",
           (long)f.pid[0], f.dir, (long)f.pid[1], f.dir, (long)f.pid[2],
           f.dir);
  CU_ASSERT_STRING_EQUAL(buf, want);
  teardown(&f);
}

static void expect_error(const char *spec, const char *msg) {
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
  struct gd_action a;
  struct gd_error err = {0};
  cJSON *j = J("{'type':'signal','signal':'KIL','pidfiles':'/x.pid'}");
  CU_ASSERT_NOT_EQUAL(gd_action_init(&a, j, "fault[1]", &err), 0);
  CU_ASSERT_STRING_EQUAL(err.msg, "fault[1].signal: unknown signal 'KIL'");
  cJSON_Delete(j);

  expect_error("{'type':'signal','signal':65,'pidfiles':'/x'}",
               "fault[1].signal: unknown signal '65'");
  expect_error("{'type':'signal','signal':'0','pidfiles':'/x'}",
               "fault[1].signal: unknown signal '0'");
  expect_error("{'type':'signal','signal':true,'pidfiles':'/x'}",
               "fault[1].signal: must be a signal name or number");
  expect_error("{'type':'signal','pidfiles':'/x'}",
               "fault[1].signal: required key missing");
  expect_error("{'type':'signal','signal':'KILL'}",
               "fault[1].pidfiles: required key missing");
  expect_error("{'type':'signal','signal':'KILL','pidfiles':[]}",
               "fault[1].pidfiles: must not be empty");
  expect_error("{'type':'signal','signal':'KILL','pidfiles':''}",
               "fault[1].pidfiles: empty path");
  expect_error("{'type':'signal','signal':'KILL','pidfiles':['/a',7]}",
               "fault[1].pidfiles[1]: must be a string");
  expect_error("{'type':'signal','signal':'KILL','pidfiles':'/x',"
               "'select':{'count':1,'percent':50}}",
               "fault[1].select: give count or percent, not both");
  expect_error("{'type':'signal','signal':'KILL','pidfiles':'/x',"
               "'select':{'mode':'all','count':2}}",
               "fault[1].select: mode 'all' takes neither count nor percent");
  expect_error("{'type':'signal','signal':'KILL','pidfiles':'/x',"
               "'select':{'mode':'sometimes'}}",
               "fault[1].select.mode: unknown mode 'sometimes'");
  expect_error("{'type':'signal','signal':'KILL','pidfiles':'/x',"
               "'select':{'count':0}}",
               "fault[1].select.count");
  expect_error("{'type':'signal','signal':'KILL','pidfiles':'/x',"
               "'select':{'percent':0}}",
               "fault[1].select.percent");
  expect_error("{'type':'signal','signal':'KILL','pidfiles':'/x',"
               "'select':{'percent':101}}",
               "fault[1].select.percent");
  expect_error("{'type':'signal','signal':'KILL','pidfiles':'/x',"
               "'select':{'cnt':1}}",
               "fault[1].select: unknown key 'cnt'");
  expect_error("{'type':'signal','signal':'KILL','pidfiles':'/x',"
               "'target':'web'}",
               "fault[1]: unknown key 'target'");
}

static void describe(void) {
  static const struct {
    const char *spec, *want;
  } cases[] = {
      {"{'type':'signal','signal':'kill','pidfiles':'/run/web-*.pid'}",
       "SIGKILL 1 of /run/web-*.pid (random)"},
      {"{'type':'signal','signal':15,'pidfiles':['/a.pid','/b/*.pid'],"
       "'select':{'mode':'all'}}",
       "SIGTERM all of /a.pid, /b/*.pid"},
      {"{'type':'signal','signal':'1','pidfiles':'/x',"
       "'select':{'mode':'first','percent':50}}",
       "SIGHUP 50% of /x (first)"},
      {"{'type':'signal','signal':'SIGSTOP','pidfiles':'/x',"
       "'select':{'count':3}}",
       "SIGSTOP 3 of /x (random)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct gd_action a;
    struct gd_error err = {0};
    char buf[256];
    CU_ASSERT_EQUAL_FATAL(init_action(&a, cases[i].spec, &err), 0);
    a.ops->describe(&a, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, cases[i].want);
    gd_action_free(&a);
  }
}

int main(void) {
  static const struct gd_test tests[] = {
      {"first, count 2", first_count},
      {"all", all},
      {"one at random (default)", random_one},
      {"random picks vary", random_is_uniformish},
      {"percent", percent},
      {"safety.max_targets caps it", capped},
      {"stale pidfiles", stale},
      {"glob with no match", no_match},
      {"pid 1 and own pid refused", refused},
      {"several patterns", patterns_union},
      {"validation", validation},
      {"describe", describe},
      {NULL, NULL},
  };
  return gd_test_run("signal", tests);
}

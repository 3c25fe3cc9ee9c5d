/* End to end: the scenarios of scenarios/local/ (instance-termination,
 * db-failover, db-writer-crash) run by the real gameday binary against the
 * local staging stack, brought up once for the whole program in a run
 * directory of its own on free ports and taken down at the end. Each run is
 * judged by its journal: the verdict, figures that are present and
 * plausible, what the fault action hit, and a stack that is healthy again
 * afterwards (stack.sh status). A last run breaks the stack on purpose (the
 * replica killed) and must end aborted before any fault is injected.
 *
 * The tests run in order and share the stack; each skips when it did not
 * come up, and the last one always takes it down. Skips as a whole when the
 * stack's Debian packages are missing (scripts/deps.sh installs them). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gdrun.h"
#include "stack.h"
#include "testutil.h"

/* A scenario run: steady state, fault, recovery, verify and the rollback's
 * stack.sh up; about 10-25 s each here. */
#define RUN_TIMEOUT_MS 240000
/* An interrupted run's rollback: stack.sh up waits up to 90 s. */
#define ROLLBACK_WAIT_MS 150000

/* The stack the tests share. */
static struct gd_stack S;

/* ---- journals ---- */

static const cJSON *threshold(const cJSON *j, const char *name) {
  return gd_jfind(j, "thresholds", "name", name);
}

/* The first action of a phase ("fault", "rollback"), or NULL. */
static const cJSON *action(const cJSON *j, const char *phase) {
  return gd_jfind(j, "actions", "phase", phase);
}

/* Every threshold passed, except the one named `except` (may be NULL);
 * prints the ones that did not. */
static int thresholds_pass(const cJSON *j, const char *except) {
  const cJSON *t;
  int n = 0, ok = 1;
  cJSON_ArrayForEach(t, gd_jget(j, "thresholds")) {
    n++;
    if (except && strcmp(gd_jstr(t, "name"), except) == 0) continue;
    if (!cJSON_IsTrue(gd_jget(t, "pass"))) {
      printf("\n    threshold %s: value %g, limit %s %g: breached",
             gd_jstr(t, "name"), gd_jnum(t, "value"), gd_jstr(t, "op"),
             gd_jnum(t, "limit"));
      ok = 0;
    }
  }
  return ok && n > 0;
}

/* ---- running things ---- */

/* gameday run SCENARIO with every ports.env value as --var, the stack.sh
 * of this tree, and the journal and JUnit XML in the test directory. */
static void gameday_run(const char *scenario, struct gd_gdrun *r) {
  struct gd_gdrun_args a = {0};
  gd_gdrun_arg(&a, "run");
  gd_gdrun_arg(&a, "%s", gd_test_src(scenario));
  gd_stack_gameday(&S, &a,
                   &(struct gd_stack_gdrun){.name = "run",
                                            .junit = 1,
                                            .timeout_ms = RUN_TIMEOUT_MS,
                                            .grace_ms = ROLLBACK_WAIT_MS},
                   r);
}

/* stack.sh leader: "pg1" or "pg2", or "" when there is none. */
static void leader(char *buf, size_t n) {
  char *out = NULL;
  int rc = gd_stack_run(&S, &out, "leader", NULL);
  buf[0] = 0;
  if (rc == 0 && (strncmp(out, "pg1\n", 4) == 0 || strncmp(out, "pg2\n", 4) == 0))
    snprintf(buf, n, "%.3s", out);
  free(out);
}

/* The stack is healthy: stack.sh status exits 0 (printed when not). */
static int stack_healthy(void) {
  char *out = NULL;
  int rc = gd_stack_run(&S, &out, "status", NULL);
  if (rc != 0) printf("\n    stack.sh status: exit %d\n%s", rc, out);
  free(out);
  return rc == 0;
}

/* Before a scenario: a test that failed must not take the next ones with
 * it, so a stack left broken is brought back (its failure is already
 * recorded). */
static int stack_ready(void) {
  if (stack_healthy()) return 1;
  printf("\n    the stack is not healthy; stack.sh up");
  return gd_stack_run(&S, NULL, "up", NULL) == 0;
}

/* ---- the tests, in order ---- */

static void test_stack_up(void) {
  if (gd_stack_test_up(&S, NULL) != 0) return;
  /* What the scenarios need from it. */
  static const char *const needed[] = {
      "STACK_DIR", "LB_URL", "CAPACITY_URL", "WEB_PIDFILES", "WRITER_DSN",
      "READER_DSN", "PATRONI1_API", "PATRONI2_API", "PATRONI1_PIDFILE",
      "PG1_PIDFILE", NULL};
  for (const char *const *p = needed; *p; p++) {
    char *v = gd_stack_env(&S, *p);
    if (!v) printf("\n    ports.env has no %s", *p);
    CU_ASSERT_PTR_NOT_NULL(v);
    free(v);
  }
  S.up = 1;
}

static void test_instance_termination(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  CU_ASSERT_FATAL(stack_ready());
  struct gd_gdrun r;
  gameday_run("scenarios/local/instance-termination.json", &r);
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_EQUAL(r.status, 0);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "pass");
  CU_ASSERT(thresholds_pass(j, NULL));
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "rollback"), "done");

  /* The target: one live web instance, by its pidfile; it is gone now and
   * supervisord has put a new instance in its place. */
  const cJSON *fault = action(j, "fault");
  CU_ASSERT(cJSON_IsTrue(gd_jget(fault, "ok")));
  CU_ASSERT_EQUAL(cJSON_GetArraySize(gd_jget(fault, "detail.targets")), 1);
  long pid = (long)gd_jnum(fault, "detail.targets.0.pid");
  const char *pidfile = gd_jstr(fault, "detail.targets.0.pidfile");
  printf("\n    killed pid %ld (%s)", pid, pidfile);
  CU_ASSERT(pid > 1);
  CU_ASSERT(cJSON_IsTrue(gd_jget(fault, "detail.targets.0.sent")));
  CU_ASSERT_PTR_NOT_NULL(strstr(pidfile, "/web-"));
  CU_ASSERT_EQUAL(gd_jnum(fault, "detail.candidates"), 3);
  CU_ASSERT(!gd_stack_alive(pid));
  long fresh = gd_stack_pid_in(pidfile);
  CU_ASSERT(fresh > 0 && fresh != pid && gd_stack_alive(fresh));

  /* Capacity dipped (the instance marked DOWN) and came back, after the
   * replacement's boot delay: seconds, not milliseconds. */
  double cap_failed = gd_jnum(j, "probes.capacity.failed");
  double cap_rec = gd_jnum(j, "probes.capacity.figures.recovery_ms");
  double cap_det = gd_jnum(j, "probes.capacity.figures.detection_ms");
  printf("\n    capacity: down at %.0f ms, full again at %.0f ms (%g failed "
         "samples)", cap_det, cap_rec, cap_failed);
  CU_ASSERT(cap_failed > 0);
  CU_ASSERT(gd_jfailed_then_recovered(j, "capacity"));
  CU_ASSERT(cap_det > 0 && cap_det < cap_rec);
  CU_ASSERT(cap_rec >= 2000 && cap_rec <= gd_jnum(threshold(j, "capacity.recovery_ms"), "limit"));

  /* The frontend's figures are what clients saw: no failed sample and no
   * downtime, or both. */
  double fe_failed = gd_jnum(j, "probes.frontend.failed");
  double fe_down = gd_jnum(j, "probes.frontend.figures.downtime_ms");
  printf("\n    frontend: %g failed samples, downtime %.1f ms, availability %.4f",
         fe_failed, fe_down, gd_jnum(j, "probes.frontend.availability"));
  CU_ASSERT(fe_failed >= 0 && fe_down >= 0);
  CU_ASSERT((fe_failed == 0) == (fe_down == 0));
  CU_ASSERT(gd_jnum(j, "probes.frontend.samples") > 100);
  if (r.status != 0 || strcmp(gd_jstr(j, "verdict"), "pass") != 0) gd_gdrun_dump(&r);
  gd_gdrun_free(&r);
  CU_ASSERT(stack_healthy());
}

static void test_db_failover(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  CU_ASSERT_FATAL(stack_ready());
  char before[8], after[8];
  leader(before, sizeof before);
  CU_ASSERT_FATAL(before[0] != 0);
  struct gd_gdrun r;
  gameday_run("scenarios/local/db-failover.json", &r);
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_EQUAL(r.status, 0);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "pass");
  CU_ASSERT(thresholds_pass(j, NULL));
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "rollback"), "done");

  /* Patroni switched over, away from the leader it was asked to move. */
  const cJSON *fault = action(j, "fault");
  CU_ASSERT(cJSON_IsTrue(gd_jget(fault, "ok")));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(fault, "detail.output"), "Successfully switched over"));
  leader(after, sizeof after);
  printf("\n    leader %s -> %s", before, after);
  CU_ASSERT(after[0] != 0 && strcmp(before, after) != 0);

  /* A real write outage, shorter than the threshold; nothing lost. */
  double down = gd_jnum(j, "probes.writes.figures.downtime_ms");
  double rec = gd_jnum(j, "probes.writes.figures.recovery_ms");
  double lost = gd_jnum(j, "measurements.lost_writes");
  double ambiguous = gd_jnum(j, "measurements.ambiguous_writes");
  printf("\n    writes: outage %.0f ms, back at %.0f ms; lost %g, ambiguous %g",
         down, rec, lost, ambiguous);
  CU_ASSERT(down > 0 && down < gd_jnum(threshold(j, "writes.downtime_ms"), "limit"));
  CU_ASSERT(rec >= down && rec < gd_jnum(threshold(j, "writes.recovery_ms"), "limit"));
  CU_ASSERT_EQUAL(lost, 0);
  CU_ASSERT(ambiguous >= 0);
  CU_ASSERT(gd_jnum(j, "probes.writes.ok") > 50);
  /* The ledger was read back and reconciled. */
  CU_ASSERT(cJSON_IsTrue(gd_jget(j, "checks.0.ok")));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(j, "checks.0.message"), "0 lost"));
  /* The reader lost its replica (promoted) and found the old writer. */
  CU_ASSERT(gd_jfailed_then_recovered(j, "reads"));
  if (r.status != 0 || strcmp(gd_jstr(j, "verdict"), "pass") != 0) gd_gdrun_dump(&r);
  gd_gdrun_free(&r);
  CU_ASSERT(stack_healthy());
}

static void test_db_writer_crash(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  CU_ASSERT_FATAL(stack_ready());
  char before[8], after[8];
  leader(before, sizeof before);
  CU_ASSERT_FATAL(before[0] != 0);
  struct gd_gdrun r;
  gameday_run("scenarios/local/db-writer-crash.json", &r);
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);

  /* Asynchronous replication may lose the last acknowledged writes in a
   * crash, and the scenario holds the stack to lost_writes 0: a run that
   * lost some fails for that reason alone, which is a finding, not a
   * broken test. Everything else must pass. */
  double lost = gd_jnum(j, "measurements.lost_writes");
  double ambiguous = gd_jnum(j, "measurements.ambiguous_writes");
  CU_ASSERT(lost >= 0 && ambiguous >= 0);
  if (lost > 0) {
    printf("\n    %g acknowledged write(s) lost in the crash (asynchronous "
           "replication)", lost);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "fail");
  } else {
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "pass");
  }
  CU_ASSERT(thresholds_pass(j, "lost_writes"));
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "rollback"), "done");

  /* The fault killed the leader's Patroni and PostgreSQL and said which. */
  const cJSON *fault = action(j, "fault");
  CU_ASSERT(cJSON_IsTrue(gd_jget(fault, "ok")));
  const char *said = gd_jstr(fault, "detail.output");
  char node[8] = "";
  long patroni = -1, postgres = -1;
  const char *m = strstr(said, "SIGKILL to the writer ");
  int got = m ? sscanf(m, "SIGKILL to the writer %3[^:]: patroni pid %ld "
                          "(%*[^)]), postgres pid %ld",
                       node, &patroni, &postgres)
              : 0;
  if (got != 3) printf("\n    fault output: %s", said);
  CU_ASSERT_EQUAL(got, 3);
  node[3] = 0;
  printf("\n    killed %s: patroni pid %ld, postgres pid %ld", node, patroni,
         postgres);
  CU_ASSERT_STRING_EQUAL(node, before);
  CU_ASSERT(patroni > 1 && !gd_stack_alive(patroni));
  CU_ASSERT(postgres > 1 && !gd_stack_alive(postgres));
  leader(after, sizeof after);
  printf("\n    leader %s -> %s", before, after);
  CU_ASSERT(after[0] != 0 && strcmp(before, after) != 0);

  /* Writes came back only once the leader key had expired (ttl 10 s,
   * renewed every loop_wait 2 s: not before 8 s) and within the threshold. */
  double down = gd_jnum(j, "probes.writes.figures.downtime_ms");
  double rec = gd_jnum(j, "probes.writes.figures.recovery_ms");
  printf("\n    writes: outage %.0f ms, back at %.0f ms; lost %g, ambiguous %g",
         down, rec, lost, ambiguous);
  CU_ASSERT(down > 0 && down < gd_jnum(threshold(j, "writes.downtime_ms"), "limit"));
  CU_ASSERT(rec >= 7000 && rec < gd_jnum(threshold(j, "writes.recovery_ms"), "limit"));
  if (strcmp(gd_jstr(j, "verdict"), "pass") != 0 && lost == 0) gd_gdrun_dump(&r);
  gd_gdrun_free(&r);
  /* The old writer is back, as a replica. */
  CU_ASSERT(stack_healthy());
}

static void test_replica_down_aborts_before_the_fault(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  CU_ASSERT_FATAL(stack_ready());
  char before[8], after[8];
  leader(before, sizeof before);
  CU_ASSERT_FATAL(before[0] != 0);
  /* The replica's Patroni and PostgreSQL, killed by the pids the stack
   * recorded: no node to fail over to. */
  int k = strcmp(before, "pg1") == 0 ? 2 : 1;
  char name[32];
  long pids[2];
  snprintf(name, sizeof name, "PATRONI%d_PIDFILE", k);
  char *pf = gd_stack_env(&S, name);
  snprintf(name, sizeof name, "PG%d_PIDFILE", k);
  char *qf = gd_stack_env(&S, name);
  CU_ASSERT_FATAL(pf && qf);
  pids[0] = gd_stack_pid_in(pf);
  pids[1] = gd_stack_pid_in(qf);
  free(pf);
  free(qf);
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_FATAL(pids[i] > 1 && gd_stack_alive(pids[i]));
    CU_ASSERT_FATAL(kill((pid_t)pids[i], SIGKILL) == 0);
  }
  printf("\n    replica pg%d killed: patroni pid %ld, postgres pid %ld", k,
         pids[0], pids[1]);

  struct gd_gdrun r;
  gameday_run("scenarios/local/db-failover.json", &r);
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_EQUAL(r.status, 3);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "aborted");
  printf("\n    reason: %s", gd_jstr(j, "reason"));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(j, "reason"), "steady"));
  /* No t0, no fault action ran, so the writer never moved... */
  CU_ASSERT(cJSON_IsNull(gd_jget(j, "t0_offset_ms")));
  const cJSON *fault = action(j, "fault");
  CU_ASSERT_PTR_NOT_NULL(fault);
  CU_ASSERT(cJSON_IsFalse(gd_jget(fault, "ran")));
  leader(after, sizeof after);
  CU_ASSERT_STRING_EQUAL(after, before);
  /* ...and the rollback (stack.sh up) brought the replica back. */
  const cJSON *rb = action(j, "rollback");
  CU_ASSERT(cJSON_IsTrue(gd_jget(rb, "ran")) && cJSON_IsTrue(gd_jget(rb, "ok")));
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "rollback"), "done");
  if (r.status != 3) gd_gdrun_dump(&r);
  gd_gdrun_free(&r);
  CU_ASSERT(stack_healthy());
}

static void test_stack_down(void) {
  if (S.skipped) GD_SKIP("the stack's packages are missing");
  if (gd_stack_test_down(&S, NULL) == 0)
    gd_stack_cleanup(&S, CU_get_number_of_failures() != 0);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"stack up", test_stack_up},
      {"instance-termination", test_instance_termination},
      {"db-failover", test_db_failover},
      {"db-writer-crash", test_db_writer_crash},
      {"replica down: db-failover aborts before the fault",
       test_replica_down_aborts_before_the_fault},
      {"stack down", test_stack_down},
      {NULL, NULL}};
  return gd_test_run("scenarios", tests);
}

/* The two Aurora scenarios of scenarios/aws/ end to end: the gameday binary
 * against the test AWS endpoint (tests/awsep.h, in this process, on its own
 * thread; the binary finds it through AWS_ENDPOINT_URL) and throwaway
 * PostgreSQL servers (tests/pgserver.h) standing in for the clusters'
 * endpoints.
 *
 * aurora-failover: plan and --dry-run say which writer would be failed over
 * and make no mutating call; a real run fails the writer over (the
 * endpoint's world has the other writer), the ledger loses nothing, and the
 * verdict is pass; with the CloudWatch alarm firing the guard aborts the
 * run before the fault; with a cluster that lacks the required tag the
 * fault is refused and FailoverDBCluster never reaches the endpoint.
 *
 * aurora-restore: plan and --dry-run make nothing; a real run restores the
 * cluster at t0 into a new one, waits for it and its instance, and the
 * restored endpoint (a second PostgreSQL with the same rows, started by
 * this test only once the endpoint's world has the restored instance
 * available, as the real endpoint would appear) is verified against the
 * source's capture; the rollback deletes the restored cluster, asserted in
 * the endpoint's world. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "awsep.h"
#include "awsmeta.h"
#include "gdrun.h"
#include "pgserver.h"
#include "testutil.h"

#define RUN_TIMEOUT_MS 90000

static struct gd_awsep *ep;
static char *home;
static struct gd_pgserver src_pg, restored_pg;
static const char *pg_why; /* set: no PostgreSQL, the runs skip */
static int nrun;

static const char *const FIXTURE =
    "{\"delays_ms\": {\"failover\": 600, \"create\": 400, \"delete\": 300},"
    " \"db_clusters\": ["
    "  {\"id\": \"staging-aurora\", \"status\": \"available\","
    "   \"engine\": \"aurora-postgresql\","
    "   \"tags\": {\"Environment\": \"staging\", \"Team\": \"db\"},"
    "   \"members\": [{\"id\": \"staging-aurora-1\", \"writer\": true},"
    "                 {\"id\": \"staging-aurora-2\", \"writer\": false}]}],"
    " \"alarms\": ["
    "  {\"name\": \"staging-aurora-writer-errors\", \"state\": \"OK\","
    "   \"metric\": \"WriteErrors\", \"namespace\": \"App\","
    "   \"statistic\": \"Sum\", \"period\": 60, \"threshold\": 1,"
    "   \"comparison\": \"GreaterThanThreshold\", \"evaluation_periods\": 1}]}";

static void reset(void) {
  char why[256];
  int rc = gd_awsep_load(ep, FIXTURE, why, sizeof why);
  if (rc) printf("\n    fixture: %s ", why);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  gd_awsep_calls_clear(ep);
}

#define NEED()                                                                \
  do {                                                                        \
    if (!ep) GD_SKIP("the test AWS endpoint did not start");                  \
    if (pg_why) GD_SKIP(pg_why);                                              \
    reset();                                                                  \
  } while (0)

static void writer(char *buf, size_t n) {
  buf[0] = 0;
  cJSON *w = gd_awsep_lock(ep);
  const cJSON *i;
  cJSON_ArrayForEach(i, cJSON_GetObjectItem(w, "db_instances")) {
    const char *c = cJSON_GetStringValue(cJSON_GetObjectItem(i, "cluster"));
    if (c && strcmp(c, "staging-aurora") == 0 &&
        cJSON_IsTrue(cJSON_GetObjectItem(i, "writer")))
      snprintf(buf, n, "%s",
               cJSON_GetStringValue(cJSON_GetObjectItem(i, "id")));
  }
  gd_awsep_unlock(ep);
}

/* gameday CMD SCENARIO [extra] with the scenario's vars for this test. */
static void gameday(struct gd_gdrun *r, const char *cmd, const char *scenario,
                    const char *const *vars, const char *extra) {
  char json[4200], log[4200];
  int k = ++nrun;
  snprintf(json, sizeof json, "%s/run-%02d.json", home, k);
  snprintf(log, sizeof log, "%s/run-%02d.log", home, k);
  struct gd_gdrun_args a = {0};
  gd_gdrun_arg(&a, "%s", cmd);
  gd_gdrun_arg(&a, "%s", gd_test_src(scenario));
  for (size_t i = 0; vars[i]; i++) gd_gdrun_var(&a, "%s", vars[i]);
  int is_run = strcmp(cmd, "run") == 0;
  if (is_run) {
    gd_gdrun_arg(&a, "--json");
    gd_gdrun_arg(&a, "%s", json);
    gd_gdrun_arg(&a, "--yes");
  }
  if (extra) gd_gdrun_arg(&a, "%s", extra);
  gd_gdrun(r, a.v,
           &(struct gd_gdrun_io){.out = log, .journal = is_run ? json : NULL,
                                 .grace_ms = 20000},
           RUN_TIMEOUT_MS);
  gd_gdrun_args_free(&a);
}

static int has(const struct gd_gdrun *r, const char *s) {
  return r->out && strstr(r->out, s) != NULL;
}

/* ------------------------------------------------------------------ */
/* aurora-failover */

#define FAILOVER "scenarios/aws/aurora-failover.json"
static char writer_dsn[300];

static const char *failover_vars[] = {
    "region=eu-west-1", writer_dsn, "cluster_endpoint=localhost",
    "ledger_interval_ms=50", "aws_interval_ms=100", "steady_ms=500",
    "stable_ms=1000", "recovery_timeout_ms=20000", NULL};

static void test_failover_plan(void) {
  NEED();
  struct gd_gdrun r;
  gameday(&r, "plan", FAILOVER, failover_vars, NULL);
  if (r.status != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 0);
  CU_ASSERT(has(&r, "would fail over cluster 'staging-aurora' from writer "
                    "'staging-aurora-1' to a replica rds picks"));
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  CU_ASSERT(gd_awsep_count(ep, "rds", "DescribeDBClusters") >= 1);
  gd_gdrun_free(&r);
}

static void test_failover_dry_run(void) {
  NEED();
  struct gd_gdrun r;
  gameday(&r, "run", FAILOVER, failover_vars, "--dry-run");
  if (r.status != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 0);
  CU_ASSERT(has(&r, "would fail over cluster 'staging-aurora' from writer "
                    "'staging-aurora-1'"));
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "FailoverDBCluster"), 0);
  char w[64];
  writer(w, sizeof w);
  CU_ASSERT_STRING_EQUAL(w, "staging-aurora-1");
  gd_gdrun_free(&r);
}

static void test_failover_run(void) {
  NEED();
  struct gd_gdrun r;
  gameday(&r, "run", FAILOVER, failover_vars, NULL);
  if (r.status != 0 || !r.journal) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 0);
  CU_ASSERT_STRING_EQUAL(gd_jstr(r.journal, "verdict"), "pass");
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "FailoverDBCluster"), 1);
  char w[64];
  writer(w, sizeof w);
  CU_ASSERT_STRING_EQUAL(w, "staging-aurora-2");
  CU_ASSERT_STRING_EQUAL(gd_jstr(r.journal, "actions.0.detail.old_writer"),
                         "staging-aurora-1");
  CU_ASSERT_EQUAL(gd_jnum(r.journal, "measurements.lost_writes"), 0);
  /* The writer_moved probe could only recover once RDS had moved the
   * writer: 600 ms of failing-over at least. */
  double rec = gd_jnum(r.journal, "measurements.recovery_ms");
  printf("\n    recovery_ms %.0f ", rec);
  CU_ASSERT(rec >= 500 && rec < 15000);
  gd_gdrun_free(&r);
}

static void test_failover_guard(void) {
  NEED();
  CU_ASSERT_EQUAL(gd_awsep_set_alarm(ep, "staging-aurora-writer-errors",
                                     "ALARM"), 0);
  struct gd_gdrun r;
  gameday(&r, "run", FAILOVER, failover_vars, NULL);
  if (r.status != 3) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 3);
  CU_ASSERT_STRING_EQUAL(gd_jstr(r.journal, "verdict"), "aborted");
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "FailoverDBCluster"), 0);
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  gd_gdrun_free(&r);
}

static void test_failover_refused(void) {
  NEED();
  const char *vars[16];
  size_t n = 0;
  for (; failover_vars[n]; n++) vars[n] = failover_vars[n];
  vars[n++] = "environment_tag=production";
  vars[n] = NULL;
  struct gd_gdrun r;
  gameday(&r, "run", FAILOVER, vars, NULL);
  if (r.status != 3 || !has(&r, "refused: ")) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 3);
  CU_ASSERT(has(&r, "refused: target 'staging-aurora': tag Environment is "
                    "'staging', required 'production'"));
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "FailoverDBCluster"), 0);
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  gd_gdrun_free(&r);
}

/* ------------------------------------------------------------------ */
/* aurora-restore */

#define RESTORE "scenarios/aws/aurora-restore.json"
static char source_dsn[300], restored_dsn[300];

static const char *restore_vars[] = {
    "region=eu-west-1", "restored_cluster=gd-restored", source_dsn,
    restored_dsn, "table=items", "key=id", "poll_ms=100",
    "source_interval_ms=100", "restored_interval_ms=100", "steady_ms=500",
    "stable_ms=500", "restore_timeout_ms=30000",
    "recovery_timeout_ms=30000", "delete_timeout_ms=20000",
    "max_rto_ms=30000", NULL};

/* What the test does that AWS would: the source's backups keep up with
 * the clock (LatestRestorableTime one second behind), and the restored
 * cluster's endpoint starts answering once its instance is available. */
static atomic_int world_stop;
static atomic_int restored_up;

static void *aws_side(void *arg) {
  (void)arg;
  while (!atomic_load(&world_stop)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t s = ts.tv_sec - 1;
    struct tm tm;
    char lrt[40];
    gmtime_r(&s, &tm);
    strftime(lrt, sizeof lrt, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON *w = gd_awsep_lock(ep);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(w, "db_clusters")) {
      const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(c, "id"));
      if (id && strcmp(id, "staging-aurora") == 0) {
        if (cJSON_GetObjectItem(c, "latest_restorable_time"))
          cJSON_ReplaceItemInObject((cJSON *)c, "latest_restorable_time",
                                    cJSON_CreateString(lrt));
        else
          cJSON_AddStringToObject((cJSON *)c, "latest_restorable_time", lrt);
      }
    }
    gd_awsep_unlock(ep);
    if (!atomic_load(&restored_up)) {
      cJSON *i = gd_awsep_get(ep, "db_instances", "gd-restored-1");
      const char *st =
          i ? cJSON_GetStringValue(cJSON_GetObjectItem(i, "status")) : NULL;
      if (st && strcmp(st, "available") == 0) {
        char why[512];
        if (gd_pgserver_restart(&restored_pg, why, sizeof why) == 0)
          atomic_store(&restored_up, 1);
        else
          printf("\n    restored pg: %s ", why);
      }
      cJSON_Delete(i);
    }
    usleep(50 * 1000);
  }
  return NULL;
}

static void test_restore_plan(void) {
  NEED();
  struct gd_gdrun r;
  gameday(&r, "plan", RESTORE, restore_vars, NULL);
  if (r.status != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 0);
  CU_ASSERT(has(&r, "would restore cluster 'staging-aurora' to "));
  CU_ASSERT(has(&r, "as 'gd-restored' with instance 'gd-restored-1' "
                    "(db.r6g.large, aurora-postgresql)"));
  CU_ASSERT(has(&r, "cluster 'gd-restored' does not exist: nothing to "
                    "delete"));
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  gd_gdrun_free(&r);
}

static void test_restore_dry_run(void) {
  NEED();
  struct gd_gdrun r;
  gameday(&r, "run", RESTORE, restore_vars, "--dry-run");
  if (r.status != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 0);
  CU_ASSERT(has(&r, "would restore cluster 'staging-aurora' to "));
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  cJSON *c = gd_awsep_get(ep, "db_clusters", "gd-restored");
  CU_ASSERT_PTR_NULL(c);
  cJSON_Delete(c);
  gd_gdrun_free(&r);
}

static void test_restore_run(void) {
  NEED();
  atomic_store(&world_stop, 0);
  atomic_store(&restored_up, 0);
  pthread_t th;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, aws_side, NULL), 0);
  struct gd_gdrun r;
  gameday(&r, "run", RESTORE, restore_vars, NULL);
  atomic_store(&world_stop, 1);
  pthread_join(th, NULL);
  if (r.status != 0 || !r.journal) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 0);
  CU_ASSERT_STRING_EQUAL(gd_jstr(r.journal, "verdict"), "pass");
  CU_ASSERT_EQUAL(atomic_load(&restored_up), 1);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "RestoreDBClusterToPointInTime"),
                  1);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "CreateDBInstance"), 1);
  /* Verified against the source's capture: nothing lost. */
  CU_ASSERT_EQUAL(gd_jnum(r.journal, "measurements.rows_lost"), 0);
  double rec = gd_jnum(r.journal, "measurements.recovery_ms");
  printf("\n    recovery_ms (RTO) %.0f ", rec);
  CU_ASSERT(rec >= 700); /* two 400 ms creations before the endpoint */
  /* The rollback deleted the restored cluster and its instance. */
  CU_ASSERT_STRING_EQUAL(gd_jstr(r.journal, "rollback"), "done");
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "DeleteDBInstance"), 1);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "DeleteDBCluster"), 1);
  cJSON *c = gd_awsep_get(ep, "db_clusters", "gd-restored");
  CU_ASSERT_PTR_NULL(c);
  cJSON_Delete(c);
  c = gd_awsep_get(ep, "db_instances", "gd-restored-1");
  CU_ASSERT_PTR_NULL(c);
  cJSON_Delete(c);
  if (atomic_load(&restored_up)) gd_pgserver_stop(&restored_pg, SIGINT);
  gd_gdrun_free(&r);
}

/* A restore that lost a row: the restored endpoint serves 199 of the 200
 * rows; verify fails with rows_lost 1, and the rollback still deletes. */
static void test_restore_mismatch(void) {
  NEED();
  char why[512], out[256];
  CU_ASSERT_EQUAL_FATAL(gd_pgserver_restart(&restored_pg, why, sizeof why), 0);
  CU_ASSERT_EQUAL(gd_pgserver_sql(&restored_pg,
                                  "DELETE FROM items WHERE id = 77", out,
                                  sizeof out),
                  0);
  gd_pgserver_stop(&restored_pg, SIGINT);
  atomic_store(&world_stop, 0);
  atomic_store(&restored_up, 0);
  pthread_t th;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, aws_side, NULL), 0);
  struct gd_gdrun r;
  gameday(&r, "run", RESTORE, restore_vars, NULL);
  atomic_store(&world_stop, 1);
  pthread_join(th, NULL);
  if (r.status != 1 || !r.journal) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(r.status, 1);
  CU_ASSERT_STRING_EQUAL(gd_jstr(r.journal, "verdict"), "fail");
  CU_ASSERT_EQUAL(gd_jnum(r.journal, "measurements.rows_lost"), 1);
  CU_ASSERT(has(&r, "probe restored differs from the capture of source: "
                    "was '200 "));
  CU_ASSERT_STRING_EQUAL(gd_jstr(r.journal, "rollback"), "done");
  cJSON *c = gd_awsep_get(ep, "db_clusters", "gd-restored");
  CU_ASSERT_PTR_NULL(c);
  cJSON_Delete(c);
  if (atomic_load(&restored_up)) gd_pgserver_stop(&restored_pg, SIGINT);
  gd_gdrun_free(&r);
}

/* ------------------------------------------------------------------ */

static const char *const ITEMS =
    "CREATE TABLE items (id int PRIMARY KEY, payload text);"
    "INSERT INTO items SELECT g, 'item-' || g FROM generate_series(1, 200) g;";

/* The ledger table, as scenarios/aws/README.md says to create it. */
static const char *const LEDGER =
    "CREATE TABLE gameday_ledger (run_id text NOT NULL, probe text NOT NULL,"
    " seq bigint NOT NULL, written_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (run_id, probe, seq));";

static void pg_setup(void) {
  static char why[1024];
  char out[256];
  int rc = gd_pgserver_start(&src_pg, NULL, why, sizeof why);
  if (rc == 0) rc = gd_pgserver_start(&restored_pg, NULL, why, sizeof why);
  if (rc == 0 && (gd_pgserver_sql(&src_pg, ITEMS, out, sizeof out) ||
                  gd_pgserver_sql(&src_pg, LEDGER, out, sizeof out) ||
                  gd_pgserver_sql(&restored_pg, ITEMS, out, sizeof out))) {
    snprintf(why, sizeof why, "cannot seed items: %s", out);
    rc = -1;
  }
  if (rc) {
    pg_why = why;
    return;
  }
  /* The restored cluster's endpoint does not answer until the restore. */
  gd_pgserver_stop(&restored_pg, SIGINT);
  snprintf(writer_dsn, sizeof writer_dsn, "writer_dsn=%s", src_pg.conninfo);
  snprintf(source_dsn, sizeof source_dsn, "source_dsn=%s", src_pg.conninfo);
  snprintf(restored_dsn, sizeof restored_dsn,
           "restored_dsn=%s connect_timeout=2", restored_pg.conninfo);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"aurora-failover: plan", test_failover_plan},
      {"aurora-failover: --dry-run", test_failover_dry_run},
      {"aurora-failover: run", test_failover_run},
      {"aurora-failover: the alarm guard aborts", test_failover_guard},
      {"aurora-failover: refused by the tag rule", test_failover_refused},
      {"aurora-restore: plan", test_restore_plan},
      {"aurora-restore: --dry-run", test_restore_dry_run},
      {"aurora-restore: run, verify, rollback deletes", test_restore_run},
      {"aurora-restore: a lost row fails verify", test_restore_mismatch},
      {NULL, NULL},
  };
  home = gd_test_tmpdir();
  gd_awsenv_begin(home);
  ep = gd_awsep_start(NULL);
  if (ep) gd_awsep_setenv(ep);
  pg_setup();
  int rc = gd_test_run("aws rds scenarios", tests);
  gd_pgserver_destroy(&restored_pg);
  gd_pgserver_destroy(&src_pg);
  if (ep) gd_awsep_stop(ep);
  gd_awsenv_end();
  gd_test_rmrf(home);
  free(home);
  return rc;
}

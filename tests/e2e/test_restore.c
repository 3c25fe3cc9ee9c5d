/* End to end: backups of the local staging stack and the restore-from-backup
 * scenario. The stack comes up in a run directory of this program's own on
 * free ports; up must leave a WAL archive and a base backup behind. Then, by
 * hand, stack.sh backup adds a base backup and stack.sh restore refuses
 * targets it cannot honour. Then gameday runs the scenario twice against
 * the stack: restoring to t0 (just before the deletion) must bring every row
 * back, the fingerprint equal to the capture and rows_lost 0; restoring to
 * a target after the deletion must restore the empty table and fail
 * verification (rows_lost = every row, exit 1), and its rollback must still
 * leave items whole.
 *
 * The tests run in order and share the stack; each skips when it did not
 * come up, and the last one always takes it down. Skips as a whole when the
 * stack's Debian packages are missing (scripts/deps.sh installs them). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "gdrun.h"
#include "stack.h"
#include "testutil.h"

/* A run: steady state (2 s), deletion, restore (a few seconds), 1 s stable,
 * verify, rollback; under 15 s here. */
#define RUN_TIMEOUT_MS 240000
#define ROLLBACK_WAIT_MS 60000
/* What schema.sql seeds items with. */
#define SEED_ROWS 1000
/* The negative run's target: this long after t0, well after the deletion
 * (the first fault action, issued at t0, takes milliseconds). */
#define LATE_OFFSET_MS 2000

static struct {
  struct gd_stack st;
  char seed_md5[64]; /* the fingerprint's md5 of the seeded table */
} S;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the database, read directly ---- */

/* One query's first row through the writer endpoint: the count of items
 * into *count and the md5 the scenario's fingerprint probe computes into
 * md5. 0, or -1 (printed). */
static int items_fingerprint(long *count, char *md5, size_t n) {
  char *dsn = gd_stack_env(&S.st, "WRITER_DSN");
  if (!dsn) return -1;
  PGconn *c = PQconnectdb(dsn);
  free(dsn);
  int rc = -1;
  if (PQstatus(c) != CONNECTION_OK) {
    printf("\n    writer endpoint: %s", PQerrorMessage(c));
  } else {
    PGresult *r = PQexec(c,
        "SELECT count(*), md5(coalesce(string_agg(id || ':' || "
        "coalesce(payload, ''), ',' ORDER BY id), '')) FROM items");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
      *count = strtol(PQgetvalue(r, 0, 0), NULL, 10);
      snprintf(md5, n, "%s", PQgetvalue(r, 0, 1));
      rc = 0;
    } else {
      printf("\n    items: %s", PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  PQfinish(c);
  return rc;
}

/* One statement as the superuser through the writer endpoint; its first
 * value into buf (may be NULL). 0, or -1 (printed). */
static int super_sql(const char *sql, char *buf, size_t n) {
  char dsn[256];
  snprintf(dsn, sizeof dsn,
           "postgresql://postgres:postgres@127.0.0.1:%d/postgres",
           gd_stack_port(&S.st, "WRITER_PORT"));
  PGconn *c = PQconnectdb(dsn);
  int rc = -1;
  if (PQstatus(c) != CONNECTION_OK) {
    printf("\n    writer endpoint: %s", PQerrorMessage(c));
  } else {
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
      if (buf) snprintf(buf, n, "%s", PQgetvalue(r, 0, 0));
      rc = 0;
    } else {
      printf("\n    %s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  PQfinish(c);
  return rc;
}

/* stack.sh status's backups line (malloc'd, "" when absent) and its exit
 * status in *rc. */
static char *backups_line(int *rc) {
  char *out = NULL;
  *rc = gd_stack_run(&S.st, &out, "status", NULL);
  const char *b = strstr(out, "\nbackups ");
  char *line = strndup(b ? b + 1 : "", b ? strcspn(b + 1, "\n") : 0);
  free(out);
  return line;
}

/* ---- files of the run directory ---- */

/* Entries of DIR whose names pass keep(); -1 when DIR cannot be read. */
static int count_entries(const char *dir, int (*keep)(const char *)) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (keep(e->d_name)) n++;
  closedir(d);
  return n;
}

/* A WAL segment: 24 upper-case hex digits. */
static int is_segment(const char *name) {
  return strlen(name) == 24 && strspn(name, "0123456789ABCDEF") == 24;
}

/* A complete base backup: a directory named by its UTC time (20...), with
 * the info file written once pg_basebackup succeeded and a backup_label. */
static char base_dir[4200];
static int is_base_backup(const char *name) {
  if (strncmp(name, "20", 2) != 0) return 0;
  char p[8600];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s/gameday-backup.info", base_dir, name);
  if (stat(p, &st) != 0) return 0;
  snprintf(p, sizeof p, "%s/%s/backup_label", base_dir, name);
  return stat(p, &st) == 0;
}

static int base_backups(void) {
  snprintf(base_dir, sizeof base_dir, "%s/backup/base", S.st.dir);
  return count_entries(base_dir, is_base_backup);
}

static int archived_segments(void) {
  char wal[4200];
  snprintf(wal, sizeof wal, "%s/backup/wal", S.st.dir);
  return count_entries(wal, is_segment);
}

/* ---- journals ---- */

static const cJSON *threshold(const cJSON *j, const char *name) {
  return gd_jfind(j, "thresholds", "name", name);
}

/* The action at that path ("fault[1]"), or NULL. */
static const cJSON *action(const cJSON *j, const char *path) {
  return gd_jfind(j, "actions", "path", path);
}

/* The check (a verify step's result) of that name, or NULL. */
static const cJSON *check(const cJSON *j, const char *name) {
  return gd_jfind(j, "checks", "name", name);
}

/* ---- running things ---- */

/* gameday run restore-from-backup.json on the stack, with up to two more
 * NAME=value vars (may be NULL). */
static void gameday_run(struct gd_gdrun *r, const char *extra_var1,
                        const char *extra_var2) {
  const char *vars[3] = {NULL};
  int n = 0;
  if (extra_var1) vars[n++] = extra_var1;
  if (extra_var2) vars[n++] = extra_var2;
  struct gd_gdrun_args a = {0};
  gd_gdrun_arg(&a, "run");
  gd_gdrun_arg(&a, "%s",
               gd_test_src("scenarios/local/restore-from-backup.json"));
  gd_stack_gameday(&S.st, &a,
                   &(struct gd_stack_gdrun){.name = "run",
                                            .vars = vars,
                                            .timeout_ms = RUN_TIMEOUT_MS,
                                            .grace_ms = ROLLBACK_WAIT_MS},
                   r);
}

/* Before a run: the table whole, as seeded (a failed test must not take
 * the next one with it, so it is reseeded when not, the failure being
 * recorded already). 1 when it was whole. */
static int items_whole(void) {
  long count = -1;
  char md5[64] = "";
  if (items_fingerprint(&count, md5, sizeof md5) != 0) return 0;
  if (count == SEED_ROWS && strcmp(md5, S.seed_md5) == 0) return 1;
  printf("\n    items not whole (%ld rows, md5 %s)", count, md5);
  return 0;
}

/* ---- the tests, in order ---- */

static void test_stack_up(void) {
  char *out;
  if (gd_stack_test_up(&S.st, &out) != 0) return;
  /* status has a backups line, ok, naming the archiver and the backup. */
  const char *b = strstr(out, "\nbackups ");
  CU_ASSERT_PTR_NOT_NULL(b);
  if (b) {
    printf("\n    %.*s", (int)strcspn(b + 1, "\n"), b + 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(b, " ok "));
    CU_ASSERT_PTR_NOT_NULL(strstr(b, "newest base backup 20"));
  }
  free(out);

  /* up took the first base backup; the backup forced a segment switch, so
   * the archive holds at least that segment within archive_timeout. */
  CU_ASSERT_EQUAL(base_backups(), 1);
  int segs = 0;
  for (long long end = now_ms() + 30000; now_ms() < end; usleep(200000))
    if ((segs = archived_segments()) > 0) break;
  printf("\n    archive: %d segment(s), %d base backup(s)", segs, base_backups());
  CU_ASSERT(segs > 0);

  long count = -1;
  CU_ASSERT_FATAL(items_fingerprint(&count, S.seed_md5, sizeof S.seed_md5) == 0);
  CU_ASSERT_EQUAL(count, SEED_ROWS);
  CU_ASSERT_EQUAL(strlen(S.seed_md5), 32);
  S.st.up = 1;
}

static void test_backup_and_restore_by_hand(void) {
  if (!S.st.up) GD_SKIP("the stack did not come up");
  char *out;
  int before = base_backups();
  int rc = gd_stack_run(&S.st, &out, "backup", NULL);
  if (rc != 0) printf("\n    stack.sh backup: exit %d\n%s", rc, out);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "base backup 20"));
  free(out);
  CU_ASSERT_EQUAL(base_backups(), before + 1);

  /* A target before every base backup cannot be restored: a clear error,
   * and nothing changed. */
  rc = gd_stack_run(&S.st, &out, "restore", "--time", "2000-01-01 00:00:00+00",
                    NULL);
  CU_ASSERT_EQUAL(rc, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "no base backup completed before the target"));
  free(out);
  /* No target at all: a usage error (gameday's GAMEDAY_T0 is not set here). */
  unsetenv("GAMEDAY_T0");
  rc = gd_stack_run(&S.st, &out, "restore", NULL);
  CU_ASSERT_EQUAL(rc, 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "no target"));
  free(out);
  rc = gd_stack_run(&S.st, &out, "restore", "--time", "not a time", NULL);
  CU_ASSERT_EQUAL(rc, 2);
  free(out);
  rc = gd_stack_run(&S.st, &out, "restore", "--time-ms", "1", "--tables",
                    "items;drop", NULL);
  CU_ASSERT_EQUAL(rc, 2);
  free(out);
  CU_ASSERT(items_whole());
}

/* A segment already in the archive with other content is never
 * overwritten: archiving fails, loudly (status says so), and resumes once
 * the obstacle is gone, without a gap. */
static void test_archive_never_overwrites(void) {
  if (!S.st.up) GD_SKIP("the stack did not come up");
  char seg[64] = "", path[4300];
  struct stat st;
  /* A change first: right after a switch the insert position is the very
   * start of a segment, which pg_walfile_name names as the previous one,
   * already archived. (The write position may lag: that commit is not
   * flushed at once, having written nothing else.) */
  CU_ASSERT(super_sql("SELECT txid_current()", NULL, 0) == 0);
  CU_ASSERT_FATAL(super_sql("SELECT pg_walfile_name(pg_current_wal_insert_lsn())",
                            seg, sizeof seg) == 0);
  CU_ASSERT_FATAL(is_segment(seg));
  snprintf(path, sizeof path, "%s/backup/wal/%s", S.st.dir, seg);
  CU_ASSERT_FATAL(stat(path, &st) != 0); /* not archived yet */
  static const char junk[] = "not this segment\n";
  CU_ASSERT_FATAL(gd_test_write_file(path, junk) == 0);
  CU_ASSERT(super_sql("SELECT pg_switch_wal()", NULL, 0) == 0);

  int rc = 0, failing = 0;
  char *line = NULL;
  for (long long end = now_ms() + 30000; !failing && now_ms() < end;) {
    free(line);
    line = backups_line(&rc);
    failing = rc != 0 && strstr(line, "FAIL") && strstr(line, "failing now");
    if (!failing) usleep(300000);
  }
  printf("\n    %s", line);
  CU_ASSERT(failing);
  CU_ASSERT_PTR_NOT_NULL(strstr(line, seg));
  free(line);
  char *kept = gd_test_read_file(path);
  CU_ASSERT(kept && strcmp(kept, junk) == 0);
  free(kept);

  /* Obstacle gone: the next segment's arrival wakes the archiver, which
   * archives the held one first. */
  CU_ASSERT_FATAL(unlink(path) == 0);
  CU_ASSERT(super_sql("SELECT txid_current()", NULL, 0) == 0);
  CU_ASSERT(super_sql("SELECT pg_switch_wal()", NULL, 0) == 0);
  int back = 0;
  for (long long end = now_ms() + 30000; !back && now_ms() < end;) {
    back = stat(path, &st) == 0 && st.st_size > (off_t)sizeof junk;
    if (!back) usleep(200000);
  }
  CU_ASSERT(back);
  line = backups_line(&rc);
  printf("\n    %s", line);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(line, " ok "));
  free(line);
}

static void test_restore_to_t0(void) {
  if (!S.st.up) GD_SKIP("the stack did not come up");
  CU_ASSERT_FATAL(items_whole());
  struct gd_gdrun r;
  gameday_run(&r, NULL, NULL);
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_EQUAL(r.status, 0);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "pass");
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "rollback"), "done");

  /* The deletion happened and the restore put back every row. */
  const cJSON *del = action(j, "fault[0]"), *res = action(j, "fault[1]");
  CU_ASSERT(cJSON_IsTrue(gd_jget(del, "ok")));
  CU_ASSERT(cJSON_IsTrue(gd_jget(res, "ok")));
  const char *said = gd_jstr(res, "detail.output");
  CU_ASSERT_PTR_NOT_NULL(strstr(said, "recovery stopping before commit"));
  CU_ASSERT_PTR_NOT_NULL(strstr(said, "restored items: 1000 rows"));

  /* The fingerprint read after recovery equals the capture: nothing lost. */
  const cJSON *c = check(j, "fingerprint equals the capture");
  CU_ASSERT_PTR_NOT_NULL(c);
  CU_ASSERT(cJSON_IsTrue(gd_jget(c, "ok")));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(c, "message"), S.seed_md5));
  const cJSON *lost = gd_jget(j, "measurements.rows_lost");
  CU_ASSERT(cJSON_IsNumber(lost));
  CU_ASSERT_EQUAL(gd_jnum(j, "measurements.rows_lost"), 0);
  CU_ASSERT(cJSON_IsTrue(gd_jget(threshold(j, "rows_lost"), "pass")));

  /* The RTO was measured: the served probe failed at the deletion and was
   * back once the restore had copied the rows in, within the threshold. */
  double rec = gd_jnum(j, "measurements.recovery_ms");
  double restore_ms = gd_jnum(res, "ended_ms") - gd_jnum(res, "started_ms");
  printf("\n    recovery_ms %.0f (restore procedure %.0f ms), rows_lost %g", rec,
         restore_ms, gd_jnum(j, "measurements.rows_lost"));
  CU_ASSERT(gd_jnum(j, "probes.served.failed") > 0);
  CU_ASSERT(rec > 0 && rec <= gd_jnum(threshold(j, "recovery_ms"), "limit"));
  CU_ASSERT(cJSON_IsTrue(gd_jget(threshold(j, "recovery_ms"), "pass")));
  /* Rows came back before the procedure ended (it stops its instance after
   * the copy), not before it started. */
  CU_ASSERT(rec > gd_jnum(res, "started_ms") && rec < gd_jnum(res, "ended_ms") + 1000);
  if (r.status != 0) gd_gdrun_dump(&r);
  gd_gdrun_free(&r);
  CU_ASSERT(items_whole());
}

static void test_restore_after_the_deletion_fails(void) {
  if (!S.st.up) GD_SKIP("the stack did not come up");
  CU_ASSERT_FATAL(items_whole());
  char offset[64];
  snprintf(offset, sizeof offset, "restore_offset_ms=%d", LATE_OFFSET_MS);
  struct gd_gdrun r;
  /* The served probe never sees the rows again: recovery times out (soon,
   * so the test is quick), and the verify step still runs. */
  gameday_run(&r, offset, "recovery_timeout_ms=15000");
  const cJSON *j = r.journal;
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_EQUAL(r.status, 1);
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "fail");
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(j, "reason"), "not recovered within"));
  CU_ASSERT(cJSON_IsNull(gd_jget(j, "measurements.recovery_ms")));

  /* The restore itself worked, to the state after the deletion. */
  const cJSON *res = action(j, "fault[1]");
  CU_ASSERT(cJSON_IsTrue(gd_jget(res, "ok")));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(res, "detail.output"), "restored items: 0 rows"));
  /* Verification caught it: the fingerprint differs, every row lost. */
  const cJSON *c = check(j, "fingerprint equals the capture");
  CU_ASSERT_PTR_NOT_NULL(c);
  CU_ASSERT(cJSON_IsFalse(gd_jget(c, "ok")));
  double lost = gd_jnum(j, "measurements.rows_lost");
  printf("\n    rows_lost %g; %s", lost, gd_jstr(c, "message"));
  CU_ASSERT(lost > 0);
  CU_ASSERT_EQUAL(lost, SEED_ROWS);
  CU_ASSERT(cJSON_IsFalse(gd_jget(threshold(j, "rows_lost"), "pass")));

  /* The rollback left the table whole. */
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "rollback"), "done");
  CU_ASSERT(cJSON_IsTrue(gd_jget(action(j, "rollback[0]"), "ok")));
  long count = -1;
  char md5[64] = "";
  CU_ASSERT(items_fingerprint(&count, md5, sizeof md5) == 0);
  CU_ASSERT_EQUAL(count, SEED_ROWS);
  CU_ASSERT_STRING_EQUAL(md5, S.seed_md5);
  if (r.status != 1) gd_gdrun_dump(&r);
  gd_gdrun_free(&r);
}

static void test_stack_down(void) {
  if (S.st.skipped) GD_SKIP("the stack's packages are missing");
  if (gd_stack_test_down(&S.st, NULL) != 0) return;
  /* No restore instance was left behind. */
  char pidfile[4200];
  snprintf(pidfile, sizeof pidfile, "%s/restore/postgres.pid", S.st.dir);
  CU_ASSERT(access(pidfile, F_OK) != 0);
  gd_stack_cleanup(&S.st, CU_get_number_of_failures() != 0);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"stack up: WAL archive and a base backup", test_stack_up},
      {"stack.sh backup, restore errors", test_backup_and_restore_by_hand},
      {"the archive never overwrites a segment", test_archive_never_overwrites},
      {"restore-from-backup: restore to t0", test_restore_to_t0},
      {"restore-from-backup: target after the deletion fails verify",
       test_restore_after_the_deletion_fails},
      {"stack down", test_stack_down},
      {NULL, NULL}};
  return gd_test_run("restore", tests);
}

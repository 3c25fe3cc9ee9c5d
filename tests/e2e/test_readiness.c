/* End to end: `gameday check scenarios/local/readiness.json` (and a
 * scenario's steady state) against the real local stack, brought up once
 * for the program on free ports and taken down at the end. READY on a
 * healthy stack; NOT READY with the right finding when one web instance is
 * stopped, and when WAL archiving is broken (the archive folder made
 * unwritable for the database account, then a WAL switch); READY again
 * once each is repaired. Skips as a whole when the stack's Debian packages
 * are missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gdrun.h"
#include "stack.h"
#include "testutil.h"

/* The stack the tests share. */
static struct gd_stack S;

/* gameday check FILES... with ports.env as --var; the journal is kept in
 * r, the exit status returned. */
static int check(const char *const *files, struct gd_gdrun *r) {
  struct gd_gdrun_args a = {0};
  gd_gdrun_arg(&a, "check");
  for (; *files; files++) gd_gdrun_arg(&a, "%s", gd_test_src(*files));
  return gd_stack_gameday(
      &S, &a, &(struct gd_stack_gdrun){.name = "check", .timeout_ms = 120000},
      r);
}

static const cJSON *row(const cJSON *j, const char *name) {
  return gd_jfind(j, "checks", "name", name);
}

/* Every row passed but the one named `except` (may be NULL); prints the
 * others that did not. */
static int all_pass_but(const cJSON *j, const char *except) {
  const cJSON *x;
  int ok = 1, n = 0;
  cJSON_ArrayForEach(x, gd_jget(j, "checks")) {
    n++;
    if (except && !strcmp(gd_jstr(x, "name"), except)) continue;
    if (strcmp(gd_jstr(x, "result"), "pass")) {
      printf("\n    %s: %s: %s", gd_jstr(x, "name"), gd_jstr(x, "result"),
             gd_jstr(x, "message"));
      ok = 0;
    }
  }
  return ok && n > 0;
}

/* Runs a shell command, 0 when it exits 0. */
static int sh(const char *cmd) {
  char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
  char log[4200];
  snprintf(log, sizeof log, "%s/sh.log", S.tmp);
  pid_t pid = gd_test_spawn(argv, log);
  return pid > 0 ? gd_test_wait(pid, 60000) : -1;
}

/* stack.sh status --only PART until it exits 0 (up to 30 s). */
static int wait_part(const char *part) {
  for (int i = 0; i < 60; i++) {
    if (gd_stack_run(&S, NULL, "status", "--only", part, NULL) == 0) return 1;
    usleep(500000);
  }
  return 0;
}

static void test_stack_up(void) {
  if (gd_stack_test_up(&S, NULL) != 0) return;
  S.up = 1;
}

static void test_ready(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  static const char *const files[] = {"scenarios/local/readiness.json",
                                      "scenarios/local/instance-termination.json",
                                      NULL};
  struct gd_gdrun r;
  int rc = check(files, &r);
  if (rc != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.journal);
  CU_ASSERT_TRUE(cJSON_IsTrue(gd_jget(r.journal, "ready")));
  CU_ASSERT_TRUE(all_pass_but(r.journal, NULL));
  /* the readiness file's checks and the scenario's steady state */
  CU_ASSERT_PTR_NOT_NULL(row(r.journal, "web-capacity"));
  CU_ASSERT_PTR_NOT_NULL(row(r.journal, "wal-archiving"));
  CU_ASSERT_PTR_NOT_NULL(row(r.journal, "instance-termination"));
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "\nREADY ("));
  gd_gdrun_free(&r);
}

static void test_web_instance_stopped(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "supervisorctl -c '%s/supervisord.conf' stop web-2",
           S.dir);
  CU_ASSERT_EQUAL_FATAL(sh(cmd), 0);
  /* HAProxy marks it DOWN after its failed checks. */
  for (int i = 0; i < 40 && gd_stack_run(&S, NULL, "status", "--only", "lb",
                                         NULL) == 0; i++)
    usleep(250000);
  static const char *const files[] = {"scenarios/local/readiness.json", NULL};
  struct gd_gdrun r;
  int rc = check(files, &r);
  CU_ASSERT_EQUAL(rc, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.journal);
  CU_ASSERT_TRUE(cJSON_IsFalse(gd_jget(r.journal, "ready")));
  const cJSON *web = row(r.journal, "web-capacity");
  CU_ASSERT_STRING_EQUAL(gd_jstr(web, "result"), "fail");
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(web, "message"), "2/3 web servers UP"));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(web, "message"), "web-2 DOWN"));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(web, "remediation"), "stack.sh up"));
  CU_ASSERT_TRUE(all_pass_but(r.journal, "web-capacity"));
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "\nNOT READY ("));
  gd_gdrun_free(&r);
  snprintf(cmd, sizeof cmd, "supervisorctl -c '%s/supervisord.conf' start web-2",
           S.dir);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  CU_ASSERT(wait_part("lb"));
}

static void test_archiving_broken(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  char wal[4200], cmd[8600];
  snprintf(wal, sizeof wal, "%s/backup/wal", S.dir);
  struct stat stt;
  CU_ASSERT_EQUAL_FATAL(stat(wal, &stt), 0);
  /* The database account can no longer write the archive; a WAL switch
   * makes the archiver try (and fail) at once. */
  CU_ASSERT_EQUAL_FATAL(chmod(wal, 0), 0);
  int port = gd_stack_port(&S, "WRITER_PORT");
  snprintf(cmd, sizeof cmd,
           "PGPASSWORD=postgres psql -h 127.0.0.1 -p %d -U postgres -d gameday "
           "-Atqc \"INSERT INTO ledger VALUES ('readiness', 1, 'test') ON "
           "CONFLICT DO NOTHING; SELECT pg_switch_wal()\"",
           port);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  /* the archiver retries a few times a second; give it a moment */
  int failing = 0;
  for (int i = 0; i < 40 && !failing; i++) {
    failing = gd_stack_run(&S, NULL, "status", "--only", "backups", NULL) != 0;
    if (!failing) usleep(250000);
  }
  CU_ASSERT(failing);
  static const char *const files[] = {"scenarios/local/readiness.json", NULL};
  struct gd_gdrun r;
  int rc = check(files, &r);
  CU_ASSERT_EQUAL(rc, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.journal);
  const cJSON *arch = row(r.journal, "wal-archiving");
  CU_ASSERT_STRING_EQUAL(gd_jstr(arch, "result"), "fail");
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(arch, "message"), "failing: "));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(arch, "remediation"), "archive_command"));
  CU_ASSERT_STRING_EQUAL(gd_jstr(row(r.journal, "web-capacity"), "result"), "pass");
  gd_gdrun_free(&r);
  /* Repaired: after three failures the archiver waits up to a minute
   * unless woken, and a WAL switch wakes it; it then catches up and the
   * check is READY again. */
  CU_ASSERT_EQUAL(chmod(wal, stt.st_mode & 07777), 0);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  CU_ASSERT(wait_part("backups"));
  rc = check(files, &r);
  if (rc != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(rc, 0);
  gd_gdrun_free(&r);
}

static void test_stack_down(void) {
  if (S.skipped) GD_SKIP("the stack's packages are missing");
  if (gd_stack_test_down(&S, NULL) == 0)
    gd_stack_cleanup(&S, CU_get_number_of_failures() != 0);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"stack up", test_stack_up},
      {"healthy stack: READY (readiness file and a steady state)", test_ready},
      {"one web instance stopped: NOT READY, web-capacity", test_web_instance_stopped},
      {"WAL archiving broken: NOT READY, wal-archiving", test_archiving_broken},
      {"stack down", test_stack_down},
      {NULL, NULL}};
  return gd_test_run("readiness", tests);
}

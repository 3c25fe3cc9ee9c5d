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
#include "fakerun.h"
#include "testutil.h"

/* ---- helpers ---- */

static char *junit_of(struct gd_fakerun **runs, size_t n) {
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
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
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
  gd_fakerun_free(f);
}

static void test_unmeasured_failure(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  f->thr[0].has_value = 0;
  snprintf(f->thr[0].note, sizeof f->thr[0].note, "not recovered");
  f->thr[1].value = 0.9312;
  f->thr[1].pass = 0;
  char *x = junit_of(&f, 1);
  HAS(x, "message=\"recovery_ms = not measured, limit &lt;= 15000 (not recovered)\"");
  HAS(x, "message=\"availability = 0.9312, limit &gt;= 0.95\"");
  HAS(x, "tests=\"5\" failures=\"3\"");
  free(x);
  gd_fakerun_free(f);
}

static void test_escaping(void) {
  struct gd_fakerun *f = gd_fakerun_new("a<b&\"c'd");
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
  gd_fakerun_free(f);
}

static void test_aborted(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  gd_fakerun_abort(f, "guard db tripped: refused");
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
  gd_fakerun_free(f);
}

static void test_two_runs(void) {
  struct gd_fakerun *f[2] = {gd_fakerun_new("web-kill"),
                             gd_fakerun_new("db-failover")};
  gd_fakerun_abort(f[1], "not steady");
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
  gd_fakerun_free(f[0]);
  gd_fakerun_free(f[1]);
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
  struct gd_fakerun *f[2] = {gd_fakerun_new("web-kill"),
                             gd_fakerun_new("db-failover")};
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
  gd_fakerun_free(f[0]);
  gd_fakerun_free(f[1]);
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

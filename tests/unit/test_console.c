/* The console reporter: what a person sees, read back from a memory stream.
 * Plain mode (events, summary), colour only when asked, nothing but the
 * table and the verdict in quiet mode, and the live status block. */
#include <cjson/cJSON.h>
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

struct mode {
  int quiet, color, live;
};

/* Everything the console writes for these runs (begin, events, a tick, a
 * sample, end; then close), as one string. */
static char *console_of(struct gd_fakerun **runs, size_t n, struct mode m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  CU_ASSERT_FATAL(out != NULL);
  struct gd_reporter r = {.ops = &gd_reporter_console, .out = out,
                          .quiet = m.quiet, .color = m.color, .live = m.live};
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(r.ops->open(&r, &err), 0);
  for (size_t i = 0; i < n; i++) {
    struct gd_run *run = &runs[i]->run;
    r.ops->run_begin(&r, run);
    r.ops->tick(&r, run);
    for (size_t k = 0; k < run->nevents; k++) {
      r.ops->event(&r, run, &run->events[k]);
      struct gd_sample_result res = {.seq = k, .cls = GD_SAMPLE_OK, .detail = ""};
      r.ops->sample(&r, run, &run->sc->probes[0], &res);
      r.ops->tick(&r, run);
    }
    CU_ASSERT_EQUAL(r.ops->run_end(&r, run, &err), 0);
  }
  CU_ASSERT_EQUAL(r.ops->close(&r, &err), 0);
  r.ops->free(&r);
  fclose(out);
  return buf;
}

#define HAS(text, s)                                                          \
  do {                                                                        \
    if (!strstr((text), (s))) printf("\n    not found: %s ", (s));            \
    CU_ASSERT_PTR_NOT_NULL(strstr((text), (s)));                              \
  } while (0)

#define HASNT(text, s)                                                        \
  do {                                                                        \
    if (strstr((text), (s))) printf("\n    unexpected: %s ", (s));            \
    CU_ASSERT_PTR_NULL(strstr((text), (s)));                                  \
  } while (0)

/* The line of text that contains s (static buffer), "" when none. */
static const char *line_with(const char *text, const char *s) {
  static char line[1024];
  const char *p = strstr(text, s);
  line[0] = 0;
  if (!p) return line;
  while (p > text && p[-1] != '\n') p--;
  size_t n = strcspn(p, "\n");
  if (n >= sizeof line) n = sizeof line - 1;
  memcpy(line, p, n);
  line[n] = 0;
  return line;
}

/* ---- tests ---- */

static void test_plain(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  char *o = console_of(&f, 1, (struct mode){0, 0, 0});
  CU_ASSERT_FATAL(o != NULL);
  HASNT(o, "\033"); /* no colour, no cursor movement */
  HAS(o, "== web-kill (scenarios/local/web-kill.json): Kill one web instance\n");
  /* events, relative to t0, negative before it */
  HAS(o, "[   -2.999s] preflight steady state reached\n");
  HAS(o, "[   +0.000s] inject    fault[0] kill-web: killed pid 4242\n");
  HAS(o, "[   +0.100s] observe   probe frontend: fail (status 503)\n");
  /* figures with their uncertainty */
  HAS(o, "detection     +100.0 \xC2\xB1 20.0 ms");
  HAS(o, "recovery      20123.0 \xC2\xB1 20.0 ms");
  HAS(o, "downtime      400.0 \xC2\xB1 20.0 ms");
  HAS(o, "availability  97.00% (50 ok, 20 failed)");
  HAS(o, "baseline p50 5.00 ms  p99 5.00 ms  max 5.00 ms  (150 samples)");
  HAS(o, "fault    no ok samples");
  HAS(o, "skipped       5 samples (frontend 2, db 3)");
  HAS(o, "drain_ms      not measured");
  HASNT(o, "no impact observed");
  /* the threshold table */
  const char *l = line_with(o, "  recovery_ms ");
  CU_ASSERT_PTR_NOT_NULL(strstr(l, "<= 15000"));
  CU_ASSERT_PTR_NOT_NULL(strstr(l, "20123.0 \xC2\xB1 20.0 ms"));
  CU_ASSERT_PTR_NOT_NULL(strstr(l, "FAIL"));
  l = line_with(o, "  availability  >=");
  CU_ASSERT_PTR_NOT_NULL(strstr(l, ">= 0.95"));
  CU_ASSERT_PTR_NOT_NULL(strstr(l, "0.97"));
  CU_ASSERT_PTR_NOT_NULL(strstr(l, "PASS"));
  l = line_with(o, "  detection_ms  <=");
  CU_ASSERT_PTR_NOT_NULL(strstr(l, "PASS"));
  /* the columns line up: result starts at the same column on every row */
  size_t col = strstr(line_with(o, "  recovery_ms "), "FAIL") - line_with(o, "  recovery_ms ");
  size_t col2 = strstr(line_with(o, "  availability  >="), "PASS") -
                line_with(o, "  availability  >=");
  CU_ASSERT_EQUAL(col, col2 + 1); /* "±" is two bytes but one column */
  /* checks, actions with their messages, rollback, probes */
  HAS(o, "  ok    row count: 1000 rows equal\n");
  HAS(o, "  FAIL  ledger: 3 lost writes\n");
  l = line_with(o, "fault[0]  ");
  CU_ASSERT_PTR_NOT_NULL(strstr(l, "kill-web"));
  CU_ASSERT_PTR_NOT_NULL(strstr(l, "killed pid 4242"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line_with(o, "verify[0]"), "not run"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line_with(o, "rollback[0]"), "exit 0"));
  HAS(o, "rollback: done\n");
  HAS(o, "  frontend  220 samples  200 ok  20 failed  2 skipped  availability "
         "97.00%  failures: status 20\n");
  HAS(o, "  db        46 samples  46 ok  0 failed  3 skipped  availability 100.00%\n");
  /* the verdict is the last line */
  const char *v = "FAIL  web-kill: threshold breached: recovery_ms = 20123.000, "
                  "limit <= 15000\n";
  CU_ASSERT_EQUAL(strcmp(o + strlen(o) - strlen(v), v), 0);
  /* one run: no table of runs */
  HASNT(o, " runs");
  free(o);
  gd_fakerun_free(f);
}

static void test_color(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  char *o = console_of(&f, 1, (struct mode){0, 1, 0});
  HAS(o, "\033[1;31mFAIL\033[0m  web-kill: threshold breached");
  HAS(o, "\033[32mPASS");
  /* colour is not cursor movement: without live, nothing is redrawn */
  HASNT(o, "\033[2K");
  HASNT(o, "A\r\033[J");
  free(o);
  gd_fakerun_free(f);
}

static void test_quiet(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  /* quiet wins over colour and live */
  char *o = console_of(&f, 1, (struct mode){1, 1, 1});
  HASNT(o, "\033");
  HASNT(o, "== web-kill");           /* no header */
  HASNT(o, "steady state reached");  /* no events */
  HASNT(o, "figures");
  HASNT(o, "killed pid");
  HASNT(o, "probes\n");
  HASNT(o, "rollback: done");
  HAS(o, "thresholds\n");
  CU_ASSERT_PTR_NOT_NULL(strstr(line_with(o, "  recovery_ms "), "FAIL"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line_with(o, "  availability "), "PASS"));
  HAS(o, "FAIL  web-kill: threshold breached");
  free(o);
  gd_fakerun_free(f);
}

static void test_no_impact_and_rollback(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  f->run.figures.impacted = 0;
  f->run.figures.has_detection = 0;
  f->run.rollback = GD_ROLLBACK_INCOMPLETE;
  f->rollback[0].ok = 0;
  f->rollback[0].message = "exit 1: connection refused";
  char *o = console_of(&f, 1, (struct mode){0, 0, 0});
  HAS(o, "no impact observed\n");
  HAS(o, "detection     -\n");
  HAS(o, "ROLLBACK INCOMPLETE");
  HASNT(o, "rollback: done");

  const char *line = line_with(o, "rollback[0]");
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "FAILED"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "exit 1: connection refused"));
  free(o);
  /* loud in quiet mode too: the stack may be left broken */
  o = console_of(&f, 1, (struct mode){1, 0, 0});
  HAS(o, "ROLLBACK INCOMPLETE");
  free(o);
  gd_fakerun_free(f);
}

static void test_aborted(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  gd_fakerun_abort(f, "guard db tripped: refused");
  f->run.rollback = GD_ROLLBACK_NONE;
  char *o = console_of(&f, 1, (struct mode){0, 0, 0});
  HAS(o, "no fault injected");
  CU_ASSERT_PTR_NOT_NULL(strstr(line_with(o, "  recovery_ms "), "SKIP"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line_with(o, "  recovery_ms "),
                                "not measured: no fault injected"));
  HAS(o, "rollback: none\n");
  HAS(o, "ABORTED  web-kill: guard db tripped: refused\n");
  /* no t0: times are since the start, unsigned, so they cannot be read as
   * times after the fault */
  HAS(o, "[    0.001s] preflight steady state reached\n");
  free(o);
  gd_fakerun_free(f);
}

static void test_two_runs(void) {
  struct gd_fakerun *f[2] = {gd_fakerun_new("web-kill"),
                             gd_fakerun_new("queue-backlog")};
  f[1]->run.verdict = GD_VERDICT_PASS;
  snprintf(f[1]->run.reason, sizeof f[1]->run.reason, "recovered; every threshold met");
  char *o = console_of(f, 2, (struct mode){1, 0, 0});
  HAS(o, "== 2 runs\n");
  HAS(o, "  web-kill       FAIL     threshold breached");
  HAS(o, "  queue-backlog  PASS     recovered; every threshold met\n");
  free(o);
  gd_fakerun_free(f[0]);
  gd_fakerun_free(f[1]);
}

static void test_live(void) {
  struct gd_fakerun *f = gd_fakerun_new("web-kill");
  f->probes[0].last_ok = 0;
  char *o = console_of(&f, 1, (struct mode){0, 0, 1});
  /* one status line per probe, redrawn in place */
  HAS(o, "\r\033[2K  frontend  FAIL    200 ok   20 fail   2 skip  p50 5.00 ms  "
         "last: status: 503\n");
  HAS(o, "\r\033[2K  db        OK       46 ok    0 fail   3 skip  p50 1.00 ms\n");
  HAS(o, "\033[2A"); /* cursor up over the two lines */
  /* an event is printed above the block: the block is erased, the event
   * written, the block drawn again under it */
  HAS(o, "\033[2A\r\033[J[   +0.100s] observe   probe frontend: fail (status 503)\n"
         "\r\033[2K  frontend");
  /* the summary replaces the block and has no escape sequences in it */
  const char *sum = strstr(o, "-- result: web-kill --");
  CU_ASSERT_PTR_NOT_NULL_FATAL(sum);
  CU_ASSERT_PTR_NULL(strchr(sum, '\033'));
  static const char erase[] = "\033[2A\r\033[J";
  size_t elen = sizeof erase - 1;
  CU_ASSERT((size_t)(sum - o) >= elen && memcmp(sum - elen, erase, elen) == 0);
  free(o);

  /* a line never wraps (that would throw the cursor-up count off): without a
   * terminal to ask, it is cut at 79 columns */
  snprintf(f->probes[0].last_detail, sizeof f->probes[0].last_detail,
           "mismatch: body does not contain 'healthy' (got 'degraded: cache')");
  o = console_of(&f, 1, (struct mode){0, 0, 1});
  const char *ln = strstr(o, "\r\033[2K  frontend");
  CU_ASSERT_PTR_NOT_NULL_FATAL(ln);
  ln += 5;
  CU_ASSERT_EQUAL(strcspn(ln, "\n"), 79);
  CU_ASSERT_EQUAL(strncmp(ln, "  frontend  FAIL    200 ok", 26), 0);
  free(o);
  gd_fakerun_free(f);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"plain output: events, figures, thresholds, verdict", test_plain},
      {"colour only when enabled", test_color},
      {"quiet: table and verdict, no ANSI", test_quiet},
      {"no impact observed, rollback incomplete", test_no_impact_and_rollback},
      {"aborted run", test_aborted},
      {"several runs: closing table", test_two_runs},
      {"live status block", test_live},
      {NULL, NULL},
  };
  return gd_test_run("console", tests);
}

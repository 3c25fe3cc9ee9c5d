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

struct mode {
  int quiet, color, live;
};

/* Everything the console writes for these runs (begin, events, a tick, a
 * sample, end; then close), as one string. */
static char *console_of(struct fx **runs, size_t n, struct mode m) {
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
  struct fx *f = fx_new("web-kill");
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
  fx_free(f);
}

static void test_color(void) {
  struct fx *f = fx_new("web-kill");
  char *o = console_of(&f, 1, (struct mode){0, 1, 0});
  HAS(o, "\033[1;31mFAIL\033[0m  web-kill: threshold breached");
  HAS(o, "\033[32mPASS");
  /* colour is not cursor movement: without live, nothing is redrawn */
  HASNT(o, "\033[2K");
  HASNT(o, "A\r\033[J");
  free(o);
  fx_free(f);
}

static void test_quiet(void) {
  struct fx *f = fx_new("web-kill");
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
  fx_free(f);
}

static void test_no_impact_and_rollback(void) {
  struct fx *f = fx_new("web-kill");
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
  fx_free(f);
}

static void test_aborted(void) {
  struct fx *f = fx_new("web-kill");
  fx_abort(f, "guard db tripped: refused");
  f->run.rollback = GD_ROLLBACK_NONE;
  char *o = console_of(&f, 1, (struct mode){0, 0, 0});
  HAS(o, "no fault injected");
  CU_ASSERT_PTR_NOT_NULL(strstr(line_with(o, "  recovery_ms "), "SKIP"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line_with(o, "  recovery_ms "),
                                "not measured: no fault injected"));
  HAS(o, "rollback: none\n");
  HAS(o, "ABORTED  web-kill: guard db tripped: refused\n");
  free(o);
  fx_free(f);
}

static void test_two_runs(void) {
  struct fx *f[2] = {fx_new("web-kill"), fx_new("queue-backlog")};
  f[1]->run.verdict = GD_VERDICT_PASS;
  snprintf(f[1]->run.reason, sizeof f[1]->run.reason, "recovered; every threshold met");
  char *o = console_of(f, 2, (struct mode){1, 0, 0});
  HAS(o, "== 2 runs\n");
  HAS(o, "  web-kill       FAIL     threshold breached");
  HAS(o, "  queue-backlog  PASS     recovered; every threshold met\n");
  free(o);
  fx_free(f[0]);
  fx_free(f[1]);
}

static void test_live(void) {
  struct fx *f = fx_new("web-kill");
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
  fx_free(f);
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

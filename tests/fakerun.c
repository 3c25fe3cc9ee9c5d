/* The synthetic run of fakerun.h. */
#include "fakerun.h"

#include <CUnit/CUnit.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

/* Short names: the figures below read as times. */
#define MS GD_FAKERUN_MS
#define T0 GD_FAKERUN_T0
#define START GD_FAKERUN_START

static const struct gd_probe_ops http_ops = {.type = "http"};
static const struct gd_probe_ops tcp_ops = {.type = "tcp"};
static const struct gd_action_ops signal_ops = {.type = "signal"};
static const struct gd_action_ops exec_ops = {.type = "exec"};

static void set_measure(struct gd_measurement *m, const char *name, int has,
                       double v, int has_unc, double unc) {
  snprintf(m->name, sizeof m->name, "%s", name);
  m->has_value = has;
  m->value = v;
  m->has_unc = has_unc;
  m->unc = unc;
}

struct gd_fakerun *gd_fakerun_new(const char *name) {
  struct gd_fakerun *f = calloc(1, sizeof *f);
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

  set_measure(&f->meas[0], "detection_ms", 1, 100.0, 1, 20.0);
  set_measure(&f->meas[1], "recovery_ms", 1, 20123.0, 1, 20.0);
  set_measure(&f->meas[2], "downtime_ms", 1, 400.0, 1, 20.0);
  set_measure(&f->meas[3], "availability", 1, 0.97, 0, 0);
  set_measure(&f->meas[4], "drain_ms", 0, 0, 1, 100.0);
  set_measure(&f->meas[5], "lost_writes", 1, 0, 0, 0);

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
  run->end_ns = GD_FAKERUN_END;
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

void gd_fakerun_abort(struct gd_fakerun *f, const char *reason) {
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

void gd_fakerun_free(struct gd_fakerun *f) {
  for (size_t i = 0; i < 2; i++) gd_timeline_free(&f->probes[i].timeline);
  cJSON_Delete(f->fault[0].detail);
  free(f);
}

/* A synthetic finished run for the reporter tests (journal, JUnit, console):
 * a scenario with two probes, thresholds that pass and fail, checks, events,
 * actions with detail and a rollback. Every part lives in the one struct, so
 * a test may change any of it after gd_fakerun_new. */
#ifndef GD_FAKERUN_H
#define GD_FAKERUN_H

#include <stdint.h>

#include "gameday/action.h"
#include "gameday/probe.h"
#include "gameday/run.h"

#define GD_FAKERUN_MS (UINT64_C(1000000))
/* The fault, on the uv_hrtime clock. */
#define GD_FAKERUN_T0 (UINT64_C(50000) * GD_FAKERUN_MS)
/* Run start: 3 s of baseline. */
#define GD_FAKERUN_START (GD_FAKERUN_T0 - 3000 * GD_FAKERUN_MS)
#define GD_FAKERUN_END (GD_FAKERUN_T0 + 1600 * GD_FAKERUN_MS)

struct gd_fakerun {
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

/* Scenario `name` (not copied: it must outlive the run), verdict fail on
 * recovery_ms. frontend (http, 20 ms): 150 ok samples before t0, 20 failed
 * (status 503) from t0+100 ms, then 50 ok; each sample takes 5 ms. db (tcp,
 * 100 ms): all ok, 3 skipped, publishes lost_writes. Fails the test (fatal)
 * when out of memory. */
struct gd_fakerun *gd_fakerun_new(const char *name);
/* Makes it a run stopped before the fault: a guard tripped. */
void gd_fakerun_abort(struct gd_fakerun *f, const char *reason);
void gd_fakerun_free(struct gd_fakerun *f);

#endif

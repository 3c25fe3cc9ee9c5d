/* gameday: the driver. One run = one scenario through the seven phases of
 * DESIGN.md (load is done by the caller): preflight, inject, observe, verify,
 * rollback, report. Everything happens on one libuv loop. */
#ifndef GAMEDAY_RUN_H
#define GAMEDAY_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "gameday/error.h"
#include "gameday/measure.h"
#include "gameday/scenario.h"

enum gd_phase {
  GD_PHASE_LOAD,
  GD_PHASE_PREFLIGHT,
  GD_PHASE_INJECT,
  GD_PHASE_OBSERVE,
  GD_PHASE_VERIFY,
  GD_PHASE_ROLLBACK,
  GD_PHASE_REPORT,
  GD_PHASE_DONE
};
const char *gd_phase_name(enum gd_phase p);

/* Ordered from best to worst; the exit code of several runs is the worst. */
enum gd_verdict {
  GD_VERDICT_PASS,
  GD_VERDICT_FAIL,
  GD_VERDICT_ABORTED,
  GD_VERDICT_ERROR
};
const char *gd_verdict_name(enum gd_verdict v);
/* 0 pass, 1 fail, 3 aborted or error (DESIGN.md exit codes). */
int gd_verdict_exit_code(enum gd_verdict v);

enum gd_rollback_status {
  GD_ROLLBACK_NONE,        /* no rollback actions */
  GD_ROLLBACK_DONE,        /* all ran and succeeded */
  GD_ROLLBACK_INCOMPLETE   /* one failed, or a second signal stopped it */
};
const char *gd_rollback_name(enum gd_rollback_status s);

struct gd_event {
  uint64_t t_ns;          /* absolute, uv_hrtime */
  enum gd_phase phase;
  char *what;
};

/* A named figure for the journal and thresholds. */
struct gd_measurement {
  char name[64];
  int has_value;          /* 0: not measured (JSON null) */
  double value;
  int has_unc;
  double unc;             /* the "_uncertainty_ms" twin */
};

struct gd_threshold_result {
  const struct gd_threshold *th;
  int has_value;
  double value;
  int pass;
  char note[96];          /* "not recovered", "no impact observed", "" */
};

/* One verify step's result (verify actions and probe verify hooks). */
struct gd_check {
  char *name;
  int ok;
  char *message;
};

struct gd_run_options {
  int dry_run;
  int quiet;
  int yes;
};

struct gd_reporter;

struct gd_run {
  const struct gd_scenario *sc;
  const struct gd_run_options *opt;
  uv_loop_t *loop;
  struct gd_curl *curl;

  enum gd_phase phase;
  enum gd_verdict verdict;
  char reason[256];        /* one line: why this verdict */
  enum gd_rollback_status rollback;

  struct timespec started_wall; /* CLOCK_REALTIME at start, for started_at */
  uint64_t start_ns;       /* uv_hrtime at start */
  uint64_t t0_ns;          /* first fault action issued; 0 if never */
  uint64_t obs_end_ns;     /* end of the observe window; 0 if none */
  uint64_t end_ns;

  struct gd_event *events;
  size_t nevents, events_cap;

  struct gd_figures figures;          /* over the recovery probes */
  struct gd_figures *probe_figures;   /* one per probe, same maths */
  struct gd_measurement *measurements;
  size_t nmeasurements;
  struct gd_threshold_result *thresholds;
  size_t nthresholds;
  struct gd_check *checks;
  size_t nchecks;

  struct gd_reporter **reporters;
  size_t nreporters;

  /* private to the driver */
  void *priv;
};

/* Time of ns relative to t0 (or to the run's start when no fault was
 * injected), in milliseconds. */
double gd_run_rel_ms(const struct gd_run *run, uint64_t ns);
/* Measurement by name, or NULL. */
const struct gd_measurement *gd_run_measurement(const struct gd_run *run,
                                                const char *name);

/* Runs one scenario to the end on loop (uv_run is called inside). The run
 * struct is filled for the reporters and stays valid until gd_run_free.
 * Returns 0 when the run happened (whatever the verdict). */
int gd_run_scenario(struct gd_run *run, const struct gd_scenario *sc,
                    const struct gd_run_options *opt, uv_loop_t *loop,
                    struct gd_reporter **reporters, size_t nreporters,
                    struct gd_error *err);
void gd_run_free(struct gd_run *run);

/* Signals: the first SIGINT/SIGTERM aborts the current run (rollback runs);
 * the second stops waiting for rollback. Installed once per loop by main. */
int gd_signals_install(uv_loop_t *loop, struct gd_error *err);
void gd_signals_close(void);
/* Number of signals received so far (tests and main read it). */
int gd_signals_count(void);

/* Used by driver internals and tests: append an event (printf-style). */
void gd_run_event(struct gd_run *run, enum gd_phase phase, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

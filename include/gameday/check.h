/* gameday: `gameday check`, the pre-demo readiness check. It injects
 * nothing. A readiness file's checks are probes evaluated once, all at the
 * same time; a scenario file contributes its steady state (a dry run: the
 * probes for steady_state.for_ms, the fault targets resolved and the safety
 * rules applied, nothing injected). Every check becomes one row: result,
 * finding, remediation; READY when no row of severity "fail" failed. */
#ifndef GAMEDAY_CHECK_H
#define GAMEDAY_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <uv.h>

#include "gameday/error.h"
#include "gameday/run.h"
#include "gameday/scenario.h"

enum gd_check_result {
  GD_CHECK_PASS,
  GD_CHECK_WARN,   /* a "warn" check that failed: reported, still READY */
  GD_CHECK_FAIL,   /* a finding */
  GD_CHECK_ERROR   /* could not check (no answer, access denied): never a
                      pass; fails or warns by the check's severity */
};
const char *gd_check_result_name(enum gd_check_result r);

struct gd_check_row {
  char *file;
  char *name;        /* the check's key, or the scenario's name */
  char *title;
  int warn;          /* severity */
  enum gd_check_result result;
  char *finding;     /* what was seen ("2/3 servers UP: web-2 DOWN") */
  char *remediation; /* what to change; "" when none */
  double duration_ms;
};

struct gd_check_report {
  struct gd_check_row *rows;
  size_t nrows;
  struct timespec started_wall;
  uint64_t start_ns, end_ns;
  int interrupted;
};

void gd_check_report_init(struct gd_check_report *rep);
void gd_check_report_free(struct gd_check_report *rep);

/* Runs every check of a readiness file on loop (uv_run inside) and appends
 * one row per check. Returns 0 when the checks ran (whatever they found). */
int gd_check_readiness(struct gd_check_report *rep, const struct gd_scenario *sc,
                       uv_loop_t *loop, struct gd_error *err);
/* Appends the row of a scenario's dry run. */
int gd_check_add_run(struct gd_check_report *rep, const struct gd_run *run);

/* 1 when no check of severity "fail" failed or could not be checked. */
int gd_check_ready(const struct gd_check_report *rep);
/* The table (check, result, finding, remediation) and READY / NOT READY as
 * the last line. */
void gd_check_print(const struct gd_check_report *rep, FILE *out, int color);
/* The journal (gameday-journal/1 with "command": "check") and JUnit XML
 * (one testcase per check), written atomically. */
int gd_check_write_json(const struct gd_check_report *rep, const char *path,
                        struct gd_error *err);
int gd_check_write_junit(const struct gd_check_report *rep, const char *path,
                         struct gd_error *err);

#endif

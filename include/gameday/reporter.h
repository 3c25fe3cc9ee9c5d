/* gameday: reporters. Console (live status and summary), JSON journal, JUnit
 * XML. Each kind is one file in harness/reporters/ exporting one
 * const struct gd_reporter_ops. */
#ifndef GAMEDAY_REPORTER_H
#define GAMEDAY_REPORTER_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "gameday/error.h"
#include "gameday/probe.h"
#include "gameday/run.h"

struct gd_reporter;

struct gd_reporter_ops {
  const char *name;
  /* All hooks optional. */
  int (*open)(struct gd_reporter *r, struct gd_error *err);
  void (*run_begin)(struct gd_reporter *r, const struct gd_run *run);
  void (*event)(struct gd_reporter *r, const struct gd_run *run,
                const struct gd_event *ev);
  /* Every committed sample, live (keep it cheap: this is the probe loop). */
  void (*sample)(struct gd_reporter *r, const struct gd_run *run,
                 const struct gd_probe *p, const struct gd_sample_result *res);
  /* About 10 times a second while a run is going (live status redraw). */
  void (*tick)(struct gd_reporter *r, const struct gd_run *run);
  /* The run is finished and its figures are final. */
  int (*run_end)(struct gd_reporter *r, const struct gd_run *run,
                 struct gd_error *err);
  /* After the last run: write files. */
  int (*close)(struct gd_reporter *r, struct gd_error *err);
  void (*free)(struct gd_reporter *r);
};

struct gd_reporter {
  const struct gd_reporter_ops *ops;
  void *ctx;
  /* configuration, set by main before open */
  const char *path;   /* file (journal, junit) or NULL */
  const char *dir;    /* journal: one NAME.json per run in this directory */
  FILE *out;          /* console: stdout */
  int quiet;
  int color;          /* console: ANSI colours (off with NO_COLOR, not a TTY) */
  int live;           /* console: redraw a status line per probe (TTY) */
};

extern const struct gd_reporter_ops gd_reporter_console;
extern const struct gd_reporter_ops gd_reporter_journal;
extern const struct gd_reporter_ops gd_reporter_junit;

/* The journal of one run (DESIGN.md "JSON journal"), for the reporter and the
 * tests. */
cJSON *gd_journal_build(const struct gd_run *run);
/* JUnit XML for several runs: one <testsuite> per run, one <testcase> per
 * threshold (and per verify check); failures carry value and limit. */
int gd_junit_write(FILE *f, const struct gd_run *const *runs, size_t n,
                   struct gd_error *err);

#endif

/* gameday: actions (fault, verify and rollback steps). The ops table is the
 * kind (harness/actions/<kind>.c, one file each, listed in the static table
 * of harness/action.c); struct gd_action is the instance. Actions run one at
 * a time; the driver owns the timeout timer and calls ops->cancel when it
 * fires or when the run is interrupted. */
#ifndef GAMEDAY_ACTION_H
#define GAMEDAY_ACTION_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gameday/error.h"
#include "gameday/probe.h"

struct gd_curl;
struct gd_action;
struct gd_scenario;
struct gd_run;

typedef void (*gd_action_cb)(struct gd_action *a, void *arg);

struct gd_action_ops {
  const char *type;          /* "http", "exec", "signal", "sleep", ... */
  const char *const *keys;   /* the kind's own keys, NULL-ended; "type",
                                "name" and "timeout_ms" are generic */
  const char *const *figures; /* figure names it can publish with
                                 gd_action_add_figure (for thresholds),
                                 NULL-ended, may be NULL */
  /* 1: run() honours a->dry_run: it resolves the real targets, applies the
   * scenario's safety rules, calls nothing that changes anything, and ends
   * with gd_action_done(a, ok, "would ..."). `plan` and `run --dry-run` run
   * such actions that way (the others are only described or resolved). */
  int dry_run;
  /* Optional: figures this instance publishes besides `figures` (a name
   * the scenario chose, as compare's "figure"). */
  int (*has_figure)(const struct gd_action *a, const char *name);
  /* Optional: the probes this action reads (compare), by index from 0
   * until it returns NULL; *key is the key that named it (for messages) and
   * *capture is set when the probe must be captured at t0. The loader
   * checks that the scenario has each one. */
  const char *(*probe_ref)(const struct gd_action *a, int i, const char **key,
                           int *capture);
  /* Load time, no loop: validate spec and set a->ctx. */
  int (*init)(struct gd_action *a, const cJSON *spec, const char *path,
              struct gd_error *err);
  /* One line for plan and reports: "SIGKILL 1 of /run/web-*.pid (random)". */
  void (*describe)(const struct gd_action *a, char *buf, size_t n);
  /* Optional, for plan and --dry-run: resolve the real targets now without
   * changing anything, and say what would be done. Synchronous, but must not
   * block for long (no network). */
  int (*resolve)(struct gd_action *a, char *buf, size_t n,
                 struct gd_error *err);
  /* Begin on a->loop; finish with gd_action_done() exactly once (possibly
   * from within this call). A non-zero return means it did not start: the
   * driver records err as the failure and done must not be called. When done
   * is called the kind holds no open uv handle. */
  int (*run)(struct gd_action *a, struct gd_error *err);
  /* Abort a running action; gd_action_done still follows. */
  void (*cancel)(struct gd_action *a);
  /* Free ctx. No loop calls. */
  void (*free)(struct gd_action *a);
};

const struct gd_action_ops *gd_action_kind(const char *type);
const struct gd_action_ops *const *gd_action_kinds(void);
/* The kinds' names, comma-separated, into buf (returned). */
const char *gd_action_kind_names(char *buf, size_t n);

struct gd_action {
  const struct gd_action_ops *ops;
  void *ctx;                 /* the kind's */
  char *name;                /* "name" key, or "<type>" */
  char *path;                /* "fault[0]" */
  uint64_t timeout_ns;       /* "timeout_ms", default 30 s */

  /* run time */
  uv_loop_t *loop;
  struct gd_curl *curl;
  int running;
  int dry_run;                  /* this run must change nothing */
  const struct gd_scenario *sc; /* set by the driver and by plan; NULL when
                                   a test runs a bare action */
  const struct gd_run *run;     /* set by the driver; NULL in plan, tests */

  /* result of the last run */
  int ok;
  int cancelled;             /* ended by cancel (timeout or interrupt) */
  char *message;             /* "HTTP 200", "killed pid 1234", error text */
  cJSON *detail;             /* kind's record for the journal (targets chosen,
                                status, output), owned by the action */
  uint64_t started_ns, ended_ns;
  struct gd_probe_figure figures[GD_PROBE_MAX_FIGURES]; /* published */
  unsigned nfigures;

  /* private to the runner */
  gd_action_cb cb;
  void *cb_arg;
};

#define GD_ACTION_DEFAULT_TIMEOUT_MS 30000

/* Load time: generic keys then ops->init. */
int gd_action_init(struct gd_action *a, const cJSON *spec, const char *path,
                   struct gd_error *err);
void gd_action_free(struct gd_action *a);

/* Run time (used by the driver): resets the result, calls ops->run; cb(a, arg)
 * exactly once when 0 is returned. On a non-zero return the result is
 * already recorded (ok = 0, message = err) and cb is not called. */
int gd_action_run(struct gd_action *a, uv_loop_t *loop, struct gd_curl *curl,
                  gd_action_cb cb, void *arg, struct gd_error *err);
void gd_action_cancel(struct gd_action *a);

/* Kinds: finish. ok 1/0; message printf-style. Set a->detail before if
 * wanted. */
void gd_action_done(struct gd_action *a, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Kinds: publish a figure (messages_missing, ...) for the journal and
 * thresholds, before gd_action_done; the same name twice is replaced, the
 * same name from several actions is summed by the driver. */
void gd_action_add_figure(struct gd_action *a, const char *name, double v);

/* Wall-clock instant of the run's t0 (fault[0] issued), as Unix epoch
 * milliseconds; 0 when there is no run or no t0 yet. */
int64_t gd_action_t0_unix_ms(const struct gd_action *a);

#endif

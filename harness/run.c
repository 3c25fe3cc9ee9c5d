/* gameday: the driver. One scenario through preflight, inject, observe,
 * verify, rollback and report, on one libuv loop.
 *
 * Phase transitions never happen inside a probe or action callback: they are
 * queued on a zero-delay "step" timer, so a probe is never stopped from
 * within its own commit and an action that finishes synchronously does not
 * recurse into the next one. */
#include "gameday/run.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/curl.h"
#include "gameday/reporter.h"

#define MAX_TRANSITION_EVENTS 200

struct drv;
typedef void (*step_fn)(struct drv *d);

/* LIST_DRY: the fault list under --dry-run (kinds that can, run with
 * a->dry_run set; the others are only described). */
enum list_kind { LIST_FAULT, LIST_VERIFY, LIST_ROLLBACK, LIST_DRY };

struct drv {
  struct gd_run *run;
  const struct gd_scenario *sc;
  uv_timer_t step, deadline, action_timer, tick;
  unsigned open_handles;
  step_fn next;

  /* the action list being worked through */
  enum list_kind list;
  struct gd_action *actions;
  size_t nactions, ai;
  struct gd_action *current;   /* running action, or NULL */
  int action_timed_out;

  int aborting;                /* first signal, guard, not steady */
  int hurry;                   /* second signal: stop waiting */
  int recovered;
  int timed_out;
  int steady;
  int rollback_failed;
  int probes_left;             /* probes still stopping */
  int finished;

  int *prev_ok;                /* per probe, last outcome seen (-1 none) */
  unsigned *transitions;       /* per probe, transition events logged */
  char *is_recovery, *is_steady, *is_guard;
};

static struct drv *current_drv; /* for signals; one run at a time */

/* ---- names -------------------------------------------------------------- */

const char *gd_phase_name(enum gd_phase p) {
  static const char *const n[] = {"load",    "preflight", "inject", "observe",
                                  "verify",  "rollback",  "report", "done"};
  return (unsigned)p <= GD_PHASE_DONE ? n[p] : "?";
}

const char *gd_verdict_name(enum gd_verdict v) {
  static const char *const n[] = {"pass", "fail", "aborted", "error"};
  return (unsigned)v <= GD_VERDICT_ERROR ? n[v] : "error";
}

int gd_verdict_exit_code(enum gd_verdict v) {
  switch (v) {
  case GD_VERDICT_PASS: return 0;
  case GD_VERDICT_FAIL: return 1;
  default: return 3;
  }
}

const char *gd_rollback_name(enum gd_rollback_status s) {
  static const char *const n[] = {"none", "done", "incomplete"};
  return (unsigned)s <= GD_ROLLBACK_INCOMPLETE ? n[s] : "incomplete";
}

double gd_run_rel_ms(const struct gd_run *run, uint64_t ns) {
  uint64_t base = run->t0_ns ? run->t0_ns : run->start_ns;
  return ((double)ns - (double)base) / 1e6;
}

const struct gd_measurement *gd_run_measurement(const struct gd_run *run,
                                                const char *name) {
  for (size_t i = 0; i < run->nmeasurements; i++)
    if (strcmp(run->measurements[i].name, name) == 0) return &run->measurements[i];
  return NULL;
}

/* ---- events ------------------------------------------------------------- */

void gd_run_event(struct gd_run *run, enum gd_phase phase, const char *fmt,
                  ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (run->nevents == run->events_cap) {
    size_t cap = run->events_cap ? run->events_cap * 2 : 64;
    struct gd_event *e = realloc(run->events, cap * sizeof *e);
    if (!e) return;
    run->events = e;
    run->events_cap = cap;
  }
  struct gd_event *ev = &run->events[run->nevents];
  ev->t_ns = uv_hrtime();
  ev->phase = phase;
  ev->what = strdup(buf);
  if (!ev->what) return;
  run->nevents++;
  for (size_t i = 0; i < run->nreporters; i++)
    if (run->reporters[i]->ops->event)
      run->reporters[i]->ops->event(run->reporters[i], run, ev);
}

#define EVENT(d, ...) gd_run_event((d)->run, (d)->run->phase, __VA_ARGS__)

/* ---- steps -------------------------------------------------------------- */

static void step_cb(uv_timer_t *t) {
  struct drv *d = t->data;
  step_fn fn = d->next;
  d->next = NULL;
  if (fn) fn(d);
}

static void go(struct drv *d, step_fn fn) {
  d->next = fn;
  uv_timer_start(&d->step, step_cb, 0, 0);
}

static void do_inject(struct drv *d);
static void do_observe(struct drv *d);
static void do_verify(struct drv *d);
static void do_rollback(struct drv *d);
static void do_finish(struct drv *d);
static void run_next_action(struct drv *d);
static void verify_actions_done(struct drv *d);

static void set_phase(struct drv *d, enum gd_phase p) { d->run->phase = p; }

/* The first of: signal, guard, not steady, failed fault. Only the first
 * reason is kept; what is running is cancelled and rollback follows. */
static void abort_run(struct drv *d, enum gd_verdict v, const char *fmt, ...) {
  if (d->aborting || d->run->phase >= GD_PHASE_ROLLBACK) return;
  d->aborting = 1;
  d->run->verdict = v;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->run->reason, sizeof d->run->reason, fmt, ap);
  va_end(ap);
  EVENT(d, "abort: %s", d->run->reason);
  uv_timer_stop(&d->deadline);
  if (d->current)
    gd_action_cancel(d->current); /* its callback moves on to rollback */
  else
    go(d, do_rollback);
}

/* ---- probes ------------------------------------------------------------- */

static size_t probe_index(const struct drv *d, const struct gd_probe *p) {
  return (size_t)(p - d->sc->probes);
}

/* All probes of the set are ok, and have been for `for_ns` at once: the
 * latest streak start plus for_ns is not after the earliest last sample. */
static int set_stable(const struct drv *d, const struct gd_probe_set *set,
                      uint64_t for_ns, uint64_t not_before) {
  uint64_t latest_start = 0, earliest_last = UINT64_MAX;
  for (size_t i = 0; i < set->n; i++) {
    const struct gd_probe *p = &d->sc->probes[set->idx[i]];
    if (p->last_ok != 1) return 0;
    uint64_t s = p->streak_start_ns > not_before ? p->streak_start_ns : not_before;
    if (s > latest_start) latest_start = s;
    if (p->last_start_ns < earliest_last) earliest_last = p->last_start_ns;
  }
  return set->n && latest_start + for_ns <= earliest_last;
}

static void on_result(struct gd_probe *p, const struct gd_sample_result *r,
                      void *arg) {
  struct drv *d = arg;
  struct gd_run *run = d->run;
  size_t i = probe_index(d, p);
  int ok = r->cls == GD_SAMPLE_OK;

  for (size_t k = 0; k < run->nreporters; k++)
    if (run->reporters[k]->ops->sample)
      run->reporters[k]->ops->sample(run->reporters[k], run, p, r);

  if (d->prev_ok[i] != ok) {
    if (d->transitions[i] < MAX_TRANSITION_EVENTS) {
      if (ok)
        EVENT(d, "probe %s: ok%s", p->name, d->prev_ok[i] == 0 ? " again" : "");
      else
        EVENT(d, "probe %s: fail (%s)", p->name, p->last_detail);
    } else if (d->transitions[i] == MAX_TRANSITION_EVENTS) {
      EVENT(d, "probe %s: further changes not logged (flapping)", p->name);
    }
    d->transitions[i]++;
    d->prev_ok[i] = ok;
  }
  if (d->aborting || d->finished) return;

  if (!ok && d->is_guard[i] && run->phase < GD_PHASE_ROLLBACK) {
    abort_run(d, GD_VERDICT_ABORTED, "guard '%s' failed: %s", p->name,
              p->last_detail);
    return;
  }
  if (run->phase == GD_PHASE_PREFLIGHT && !d->steady && d->is_steady[i] &&
      set_stable(d, &d->sc->steady, d->sc->steady_for_ns, 0)) {
    d->steady = 1;
    uv_timer_stop(&d->deadline);
    EVENT(d, "steady state held for %llu ms",
          (unsigned long long)(d->sc->steady_for_ns / 1000000u));
    go(d, do_inject);
    return;
  }
  if (run->phase == GD_PHASE_OBSERVE && !d->recovered && !d->timed_out &&
      d->is_recovery[i] &&
      set_stable(d, &d->sc->recovery, d->sc->stable_ns, run->t0_ns)) {
    d->recovered = 1;
    run->obs_end_ns = uv_hrtime() + 1;
    uv_timer_stop(&d->deadline);
    EVENT(d, "recovered: every recovery probe stable for %llu ms",
          (unsigned long long)(d->sc->stable_ns / 1000000u));
    for (size_t k = 0; k < d->sc->nprobes; k++)
      gd_probe_set_phase(&d->sc->probes[k], GD_HIST_AFTER);
    go(d, do_verify);
  }
}

/* Names the probes of a set that are not (yet) healthy, for messages. */
static void unhealthy_list(const struct drv *d, const struct gd_probe_set *set,
                           char *buf, size_t n) {
  buf[0] = 0;
  for (size_t i = 0; i < set->n; i++) {
    const struct gd_probe *p = &d->sc->probes[set->idx[i]];
    size_t len = strlen(buf);
    if (p->last_ok == 1) continue;
    snprintf(buf + len, n - len, "%s%s: %s", len ? "; " : "", p->name,
             p->last_ok == -1 ? "no sample yet" : p->last_detail);
  }
  if (!buf[0]) snprintf(buf, n, "healthy, but not for long enough at once");
}

static void deadline_cb(uv_timer_t *t) {
  struct drv *d = t->data;
  char why[512];
  if (d->run->phase == GD_PHASE_PREFLIGHT) {
    unhealthy_list(d, &d->sc->steady, why, sizeof why);
    abort_run(d, GD_VERDICT_ABORTED, "not steady within %llu ms: %s",
              (unsigned long long)(d->sc->steady_timeout_ns / 1000000u), why);
  } else if (d->run->phase == GD_PHASE_INJECT ||
             d->run->phase == GD_PHASE_OBSERVE) {
    d->timed_out = 1;
    d->run->obs_end_ns = uv_hrtime();
    unhealthy_list(d, &d->sc->recovery, why, sizeof why);
    d->run->verdict = GD_VERDICT_FAIL;
    snprintf(d->run->reason, sizeof d->run->reason,
             "not recovered within %llu ms: %s",
             (unsigned long long)(d->sc->recovery_timeout_ns / 1000000u), why);
    EVENT(d, "recovery timed out: %s", why);
    /* Observing: the verify steps still run, since what was lost (rows,
     * writes, messages) is worth knowing most when recovery failed; the
     * verdict stays "fail". A fault action still running is cancelled and
     * the run goes to rollback: the fault itself did not complete. */
    if (d->current)
      gd_action_cancel(d->current);
    else
      go(d, do_verify);
  }
}

/* ---- actions ------------------------------------------------------------ */

static const char *list_name(enum list_kind k) {
  return k == LIST_FAULT || k == LIST_DRY ? "fault"
         : k == LIST_VERIFY               ? "verify"
                                          : "rollback";
}

static void add_check(struct gd_run *run, const char *name, int ok,
                      const char *msg) {
  struct gd_check *c = realloc(run->checks, (run->nchecks + 1) * sizeof *c);
  if (!c) return;
  run->checks = c;
  c[run->nchecks].name = strdup(name);
  c[run->nchecks].ok = ok;
  c[run->nchecks].message = strdup(msg ? msg : "");
  run->nchecks++;
}

static void action_timeout_cb(uv_timer_t *t) {
  struct drv *d = t->data;
  if (!d->current) return;
  d->action_timed_out = 1;
  gd_action_cancel(d->current);
}

static void after_list(struct drv *d) {
  switch (d->list) {
  case LIST_FAULT: go(d, d->aborting || d->timed_out ? do_rollback : do_observe); break;
  case LIST_VERIFY: go(d, verify_actions_done); break;
  case LIST_ROLLBACK: go(d, do_finish); break;
  case LIST_DRY:
    if (!d->aborting && d->run->verdict == GD_VERDICT_PASS)
      snprintf(d->run->reason, sizeof d->run->reason,
               "dry run: steady state holds; nothing injected");
    go(d, do_finish);
    break;
  }
}

static void action_done(struct gd_action *a, void *arg) {
  struct drv *d = arg;
  uv_timer_stop(&d->action_timer);
  d->current = NULL;
  const char *msg = a->message ? a->message : "";
  if (d->action_timed_out) {
    char buf[512];
    snprintf(buf, sizeof buf, "timed out after %llu ms%s%s",
             (unsigned long long)(a->timeout_ns / 1000000u), msg[0] ? ": " : "", msg);
    free(a->message);
    a->message = strdup(buf);
    a->ok = 0;
    msg = a->message ? a->message : "timed out";
  }
  if (d->list == LIST_DRY) {
    EVENT(d, "dry run: %s %s: %s%s", a->path, a->name,
          a->ok ? "" : "REFUSED: ", msg);
    if (!a->ok && d->run->verdict == GD_VERDICT_PASS) {
      d->run->verdict = GD_VERDICT_ERROR;
      snprintf(d->run->reason, sizeof d->run->reason,
               "dry run: %s would fail: %s", a->path, msg);
    }
    if (d->aborting) {
      go(d, do_finish);
      return;
    }
    d->ai++;
    go(d, run_next_action);
    return;
  }
  EVENT(d, "%s %s: %s%s%s", a->path, a->name, a->ok ? "ok" : "FAILED",
        msg[0] ? ": " : "", msg);
  if (d->list == LIST_VERIFY) add_check(d->run, a->name, a->ok, msg);
  if (d->list == LIST_ROLLBACK && !a->ok) d->rollback_failed = 1;
  if (d->list == LIST_FAULT && !a->ok && !d->aborting && !d->timed_out) {
    /* The fault could not be injected as written: no experiment happened. */
    d->aborting = 1;
    d->run->verdict = GD_VERDICT_ERROR;
    snprintf(d->run->reason, sizeof d->run->reason, "%s failed: %s", a->path, msg);
    go(d, do_rollback);
    return;
  }
  if (d->list == LIST_ROLLBACK && d->hurry) {
    go(d, do_finish);
    return;
  }
  if ((d->list == LIST_FAULT && (d->aborting || d->timed_out)) ||
      (d->list == LIST_VERIFY && d->aborting)) {
    go(d, do_rollback);
    return;
  }
  d->ai++;
  go(d, run_next_action);
}

static void run_next_action(struct drv *d) {
  if (d->ai >= d->nactions) {
    after_list(d);
    return;
  }
  struct gd_action *a = &d->actions[d->ai];
  struct gd_error err = {0};
  a->sc = d->sc;
  a->run = d->run;
  a->dry_run = d->list == LIST_DRY;
  if (d->list == LIST_DRY && !a->ops->dry_run) {
    /* Not a kind that can resolve on the loop: say what it would do. */
    char buf[512] = "";
    if (a->ops->resolve) {
      if (a->ops->resolve(a, buf, sizeof buf, &err))
        snprintf(buf, sizeof buf, "cannot resolve: %s", err.msg);
    } else if (a->ops->describe) {
      a->ops->describe(a, buf, sizeof buf);
    }
    EVENT(d, "dry run: would run %s %s: %s", a->path, a->name, buf);
    d->ai++;
    go(d, run_next_action);
    return;
  }
  if (d->list == LIST_FAULT && d->ai == 0) {
    /* What compare steps will check against: the last ok result of each
     * probe they read, as it was just before the fault. */
    for (size_t k = 0; k < d->sc->nprobes; k++) {
      struct gd_probe *p = &d->sc->probes[k];
      if (!p->capture) continue;
      if (gd_probe_capture(p)) {
        abort_run(d, GD_VERDICT_ABORTED,
                  "cannot capture probe %s before the fault: no ok sample yet",
                  p->name);
        return;
      }
      EVENT(d, "captured probe %s (sample at %.0f ms)", p->name,
            gd_run_rel_ms(d->run, p->captured_start_ns));
    }
  }
  d->action_timed_out = 0;
  d->current = a;
  if (d->list == LIST_FAULT && d->ai == 0) {
    /* t0: the instant the first fault action is issued. */
    d->run->t0_ns = uv_hrtime();
    for (size_t k = 0; k < d->sc->nprobes; k++) {
      d->sc->probes[k].t0_ns = d->run->t0_ns;
      gd_probe_set_phase(&d->sc->probes[k], GD_HIST_FAULT);
    }
    uv_timer_start(&d->deadline, deadline_cb,
                   d->sc->recovery_timeout_ns / 1000000u, 0);
    EVENT(d, "t0: injecting %zu fault action(s)", d->nactions);
  }
  uv_timer_start(&d->action_timer, action_timeout_cb, a->timeout_ns / 1000000u, 0);
  if (gd_action_run(a, d->run->loop, d->run->curl, action_done, d, &err))
    /* Did not start: gd_action_run recorded the failure as the action's
     * result; carry on exactly as if it had run and failed. */
    action_done(a, d);
}

static void start_list(struct drv *d, enum list_kind k, struct gd_action *a,
                       size_t n) {
  d->list = k;
  d->actions = a;
  d->nactions = n;
  d->ai = 0;
  if (n && k != LIST_FAULT && k != LIST_DRY) /* the fault list announces
                                                 itself at t0 */
    EVENT(d, "%s: %zu action(s)", list_name(k), n);
  run_next_action(d);
}

/* ---- phases ------------------------------------------------------------- */

static void do_preflight(struct drv *d) {
  struct gd_run *run = d->run;
  set_phase(d, GD_PHASE_PREFLIGHT);
  EVENT(d, "preflight: starting %zu probe(s); steady state needs %llu ms",
        d->sc->nprobes, (unsigned long long)(d->sc->steady_for_ns / 1000000u));
  for (size_t i = 0; i < d->sc->nprobes; i++) {
    struct gd_probe *p = &d->sc->probes[i];
    struct gd_error err = {0};
    p->on_result = on_result;
    p->on_result_arg = d;
    if (gd_probe_start(p, run->loop, run->curl, &err)) {
      abort_run(d, GD_VERDICT_ERROR, "probe %s could not start: %s", p->name,
                err.msg);
      return;
    }
  }
  uv_timer_start(&d->deadline, deadline_cb, d->sc->steady_timeout_ns / 1000000u, 0);
}

static void do_inject(struct drv *d) {
  if (d->aborting) return;
  if (d->run->opt->dry_run) {
    set_phase(d, GD_PHASE_INJECT);
    d->run->verdict = GD_VERDICT_PASS;
    start_list(d, LIST_DRY, d->sc->fault, d->sc->nfault);
    return;
  }
  set_phase(d, GD_PHASE_INJECT);
  start_list(d, LIST_FAULT, d->sc->fault, d->sc->nfault);
}

static void do_observe(struct drv *d) {
  if (d->aborting || d->timed_out) {
    go(d, do_rollback);
    return;
  }
  set_phase(d, GD_PHASE_OBSERVE);
  EVENT(d, "observe: waiting for every recovery probe to be stable for %llu ms "
        "(timeout %llu ms after t0)",
        (unsigned long long)(d->sc->stable_ns / 1000000u),
        (unsigned long long)(d->sc->recovery_timeout_ns / 1000000u));
  /* Recovery may already hold (no impact, or impact during a long fault
   * list); the next sample re-checks it, nothing to do here. */
}

static void probe_verify_next(struct drv *d);

static void probe_verified(struct gd_probe *p, int ok, const char *msg) {
  struct drv *d = current_drv;
  char name[160];
  snprintf(name, sizeof name, "probe %s", p->name);
  add_check(d->run, name, ok, msg);
  if (d->run->phase != GD_PHASE_VERIFY) return; /* aborted meanwhile */
  EVENT(d, "verify %s: %s%s%s", name, ok ? "ok" : "FAILED", msg && msg[0] ? ": " : "",
        msg ? msg : "");
  d->ai++;
  go(d, probe_verify_next);
}

static void probe_verify_next(struct drv *d) {
  while (d->ai < d->sc->nprobes && !d->aborting) {
    struct gd_probe *p = &d->sc->probes[d->ai];
    if (p->ops->verify) {
      struct gd_error err = {0};
      int rc = p->ops->verify(p, probe_verified, &err);
      if (rc == 0) return;
      if (rc != GD_PROBE_NOTHING_TO_VERIFY) {
        char name[160];
        snprintf(name, sizeof name, "probe %s", p->name);
        add_check(d->run, name, 0, err.msg);
      }
    }
    d->ai++;
  }
  go(d, do_rollback);
}

static void verify_actions_done(struct drv *d) {
  d->ai = 0;
  probe_verify_next(d);
}

static void do_verify(struct drv *d) {
  if (d->aborting) {
    go(d, do_rollback);
    return;
  }
  set_phase(d, GD_PHASE_VERIFY);
  if (d->sc->nverify) {
    d->list = LIST_VERIFY;
    d->actions = d->sc->verify;
    d->nactions = d->sc->nverify;
    d->ai = 0;
    EVENT(d, "verify: %zu action(s)", d->nactions);
    /* After the verify actions, the probes' own verify hooks. */
    run_next_action(d);
    return;
  }
  verify_actions_done(d);
}

static void do_rollback(struct drv *d) {
  if (d->run->phase == GD_PHASE_ROLLBACK || d->run->phase >= GD_PHASE_REPORT)
    return;
  uv_timer_stop(&d->deadline);
  set_phase(d, GD_PHASE_ROLLBACK);
  if (d->run->opt->dry_run || d->sc->nrollback == 0) {
    d->run->rollback = GD_ROLLBACK_NONE;
    go(d, do_finish);
    return;
  }
  if (d->hurry) {
    /* A second signal came before the rollback could start: the user asked
     * not to wait, so it is not started, and the journal says so. */
    d->ai = 0;
    d->nactions = d->sc->nrollback;
    d->list = LIST_ROLLBACK;
    go(d, do_finish);
    return;
  }
  start_list(d, LIST_ROLLBACK, d->sc->rollback, d->sc->nrollback);
}

/* ---- finish ------------------------------------------------------------- */

static void add_measurement(struct gd_run *run, const char *name, int has,
                            double v, int has_unc, double unc) {
  struct gd_measurement *m =
      realloc(run->measurements, (run->nmeasurements + 1) * sizeof *m);
  if (!m) return;
  run->measurements = m;
  m = &m[run->nmeasurements++];
  memset(m, 0, sizeof *m);
  snprintf(m->name, sizeof m->name, "%s", name);
  m->has_value = has && isfinite(v);
  m->value = v;
  m->has_unc = has_unc && m->has_value;
  m->unc = unc;
}

static void add_latency(struct gd_run *run, const char *prefix,
                        const struct gd_hist *h) {
  char name[64];
  int has = h->count > 0;
  snprintf(name, sizeof name, "%sp50_latency_ms", prefix);
  add_measurement(run, name, has, gd_hist_quantile_ms(h, 0.50), 0, 0);
  snprintf(name, sizeof name, "%sp99_latency_ms", prefix);
  add_measurement(run, name, has, gd_hist_quantile_ms(h, 0.99), 0, 0);
  snprintf(name, sizeof name, "%smax_latency_ms", prefix);
  add_measurement(run, name, has, h->max_ns / 1e6, 0, 0);
}

/* Value of a figure by threshold name: core measurement, or "probe.fig". */
static int figure_value(const struct gd_run *run, const char *name, double *v) {
  const struct gd_measurement *m = gd_run_measurement(run, name);
  if (m) {
    *v = m->value;
    return m->has_value;
  }
  const char *dot = strchr(name, '.');
  if (!dot) return 0;
  char probe[128];
  if ((size_t)(dot - name) >= sizeof probe) return 0;
  memcpy(probe, name, (size_t)(dot - name));
  probe[dot - name] = 0;
  long idx = gd_scenario_probe_index(run->sc, probe);
  if (idx < 0) return 0;
  const struct gd_probe *p = &run->sc->probes[idx];
  const struct gd_figures *f = &run->probe_figures[idx];
  const char *fig = dot + 1;
  if (!run->t0_ns) return 0;
  if (!strcmp(fig, "detection_ms")) { *v = f->detection_ms; return f->has_detection; }
  if (!strcmp(fig, "recovery_ms")) { *v = f->recovery_ms; return f->recovered; }
  if (!strcmp(fig, "downtime_ms")) { *v = f->downtime_ms; return 1; }
  if (!strcmp(fig, "availability")) { *v = f->availability; return f->ok + f->failed > 0; }
  if (!strcmp(fig, "skipped")) { *v = (double)p->skipped; return 1; }
  if (p->latency) {
    struct gd_hist h;
    gd_hist_reset(&h);
    gd_hist_merge(&h, &p->latency[GD_HIST_FAULT]);
    gd_hist_merge(&h, &p->latency[GD_HIST_AFTER]);
    if (!strcmp(fig, "p50_latency_ms")) { *v = gd_hist_quantile_ms(&h, 0.5); return h.count > 0; }
    if (!strcmp(fig, "p99_latency_ms")) { *v = gd_hist_quantile_ms(&h, 0.99); return h.count > 0; }
    if (!strcmp(fig, "max_latency_ms")) { *v = h.max_ns / 1e6; return h.count > 0; }
  }
  for (unsigned i = 0; i < p->nfigures; i++)
    if (!strcmp(p->figures[i].name, fig)) { *v = p->figures[i].value; return 1; }
  return 0;
}

static void add_figures(struct gd_run *run, const struct gd_probe_figure *f,
                        unsigned n) {
  for (unsigned k = 0; k < n; k++) {
    struct gd_measurement *m =
        (struct gd_measurement *)gd_run_measurement(run, f[k].name);
    if (m)
      m->value += f[k].value;
    else
      add_measurement(run, f[k].name, 1, f[k].value, 0, 0);
  }
}

static void compute_results(struct drv *d) {
  struct gd_run *run = d->run;
  const struct gd_scenario *sc = d->sc;
  run->probe_figures = calloc(sc->nprobes ? sc->nprobes : 1, sizeof *run->probe_figures);
  int injected = run->t0_ns != 0;
  uint64_t obs_end = run->obs_end_ns ? run->obs_end_ns : run->end_ns;
  if (injected && sc->recovery.n) {
    struct gd_measure_input *in = calloc(sc->recovery.n, sizeof *in);
    for (size_t i = 0; in && i < sc->recovery.n; i++) {
      in[i].tl = &sc->probes[sc->recovery.idx[i]].timeline;
      in[i].interval_ns = sc->probes[sc->recovery.idx[i]].interval_ns;
    }
    if (in) gd_measure(in, sc->recovery.n, run->t0_ns, obs_end, sc->stable_ns, &run->figures);
    free(in);
    for (size_t i = 0; run->probe_figures && i < sc->nprobes; i++) {
      struct gd_measure_input one = {&sc->probes[i].timeline, sc->probes[i].interval_ns};
      gd_measure(&one, 1, run->t0_ns, obs_end, sc->stable_ns, &run->probe_figures[i]);
    }
  }
  const struct gd_figures *f = &run->figures;
  add_measurement(run, "detection_ms", injected && f->has_detection, f->detection_ms, 1,
                  f->detection_unc_ms);
  add_measurement(run, "recovery_ms", injected && f->recovered && d->recovered,
                  f->recovery_ms, 1, f->recovery_unc_ms);
  add_measurement(run, "downtime_ms", injected, f->downtime_ms, 1, f->downtime_unc_ms);
  add_measurement(run, "availability", injected && f->ok + f->failed > 0,
                  f->availability, 0, 0);
  /* Latency over the recovery probes: baseline, fault, after, and the whole
   * time from t0 on. */
  struct gd_hist *h = calloc(4, sizeof *h);
  if (h) {
    for (size_t i = 0; i < sc->recovery.n; i++) {
      const struct gd_probe *p = &sc->probes[sc->recovery.idx[i]];
      if (!p->latency) continue;
      gd_hist_merge(&h[0], &p->latency[GD_HIST_BASELINE]);
      gd_hist_merge(&h[1], &p->latency[GD_HIST_FAULT]);
      gd_hist_merge(&h[2], &p->latency[GD_HIST_AFTER]);
    }
    gd_hist_merge(&h[3], &h[1]);
    gd_hist_merge(&h[3], &h[2]);
    add_latency(run, "", &h[3]);
    add_latency(run, "baseline_", &h[0]);
    add_latency(run, "fault_", &h[1]);
    add_latency(run, "after_", &h[2]);
    free(h);
  }
  uint64_t skipped = 0;
  for (size_t i = 0; i < sc->nprobes; i++) skipped += sc->probes[i].skipped;
  add_measurement(run, "skipped", 1, (double)skipped, 0, 0);
  /* Figures published by probe and action kinds (lost_writes, peak_depth,
   * messages_missing, ...), summed over those that publish the same name. */
  for (size_t i = 0; i < sc->nprobes; i++)
    add_figures(run, sc->probes[i].figures, sc->probes[i].nfigures);
  const struct gd_action *lists[3] = {sc->fault, sc->verify, sc->rollback};
  size_t counts[3] = {sc->nfault, sc->nverify, sc->nrollback};
  for (int l = 0; l < 3; l++)
    for (size_t i = 0; i < counts[l]; i++)
      add_figures(run, lists[l][i].figures, lists[l][i].nfigures);

  /* Thresholds. */
  run->thresholds = calloc(sc->nthresholds ? sc->nthresholds : 1, sizeof *run->thresholds);
  int breached = 0;
  char first[256] = "";
  for (size_t i = 0; run->thresholds && i < sc->nthresholds; i++) {
    struct gd_threshold_result *t = &run->thresholds[i];
    const struct gd_threshold *th = &sc->thresholds[i];
    t->th = th;
    t->has_value = figure_value(run, th->name, &t->value);
    const char *base = strchr(th->name, '.') ? strchr(th->name, '.') + 1 : th->name;
    if (t->has_value) {
      t->pass = th->at_least ? t->value >= th->limit : t->value <= th->limit;
    } else if (!injected) {
      t->pass = 0;
      snprintf(t->note, sizeof t->note, "not measured: no fault injected");
    } else if (!strcmp(base, "detection_ms") && !f->impacted) {
      t->pass = 1;
      snprintf(t->note, sizeof t->note, "no impact observed");
    } else if (!strcmp(base, "recovery_ms")) {
      t->pass = 0;
      snprintf(t->note, sizeof t->note, "not recovered");
    } else {
      t->pass = 0;
      snprintf(t->note, sizeof t->note, "not measured");
    }
    if (!t->pass && !breached) {
      breached = 1;
      if (t->has_value)
        snprintf(first, sizeof first, "threshold breached: %s = %.3f, limit %s %g",
                 th->name, t->value, th->at_least ? ">=" : "<=", th->limit);
      else
        snprintf(first, sizeof first, "threshold breached: %s %s", th->name, t->note);
    }
  }
  run->nthresholds = run->thresholds ? sc->nthresholds : 0;

  /* Verdict: aborted and error stand; otherwise timeout, thresholds,
   * checks. A rollback that did not finish turns a pass into an error: the
   * stack may be left broken. */
  if (run->verdict == GD_VERDICT_PASS && !d->aborting && !run->opt->dry_run) {
    int check_failed = 0;
    for (size_t i = 0; i < run->nchecks; i++)
      if (!run->checks[i].ok) check_failed = 1;
    if (breached) {
      run->verdict = GD_VERDICT_FAIL;
      snprintf(run->reason, sizeof run->reason, "%s", first);
    } else if (check_failed) {
      run->verdict = GD_VERDICT_FAIL;
      for (size_t i = 0; i < run->nchecks; i++)
        if (!run->checks[i].ok) {
          snprintf(run->reason, sizeof run->reason, "verify failed: %s: %s",
                   run->checks[i].name, run->checks[i].message);
          break;
        }
    } else {
      snprintf(run->reason, sizeof run->reason, "%s",
               f->impacted ? "recovered; every threshold met"
                           : "no impact observed; every threshold met");
    }
  }
  if (run->rollback == GD_ROLLBACK_INCOMPLETE && run->verdict == GD_VERDICT_PASS) {
    run->verdict = GD_VERDICT_ERROR;
    snprintf(run->reason, sizeof run->reason, "rollback incomplete");
  }
}

static void handle_closed(uv_handle_t *h) {
  struct drv *d = h->data;
  d->open_handles--;
}

static void curl_closed(void *arg) { (void)arg; }

static void all_probes_stopped(struct drv *d) {
  struct gd_run *run = d->run;
  run->end_ns = uv_hrtime();
  set_phase(d, GD_PHASE_REPORT);
  compute_results(d);
  gd_run_event(run, GD_PHASE_REPORT, "verdict: %s (%s)", gd_verdict_name(run->verdict),
               run->reason);
  for (size_t i = 0; i < run->nreporters; i++) {
    struct gd_error err = {0};
    if (run->reporters[i]->ops->run_end &&
        run->reporters[i]->ops->run_end(run->reporters[i], run, &err))
      fprintf(stderr, "gameday: %s\n", err.msg);
  }
  set_phase(d, GD_PHASE_DONE);
  uv_close((uv_handle_t *)&d->step, handle_closed);
  uv_close((uv_handle_t *)&d->deadline, handle_closed);
  uv_close((uv_handle_t *)&d->action_timer, handle_closed);
  uv_close((uv_handle_t *)&d->tick, handle_closed);
  gd_curl_close(run->curl, curl_closed, NULL);
  run->curl = NULL;
}

static void probe_stopped(struct gd_probe *p, void *arg) {
  (void)p;
  struct drv *d = arg;
  if (--d->probes_left == 0) all_probes_stopped(d);
}

static void do_finish(struct drv *d) {
  if (d->finished) return;
  d->finished = 1;
  struct gd_run *run = d->run;
  uv_timer_stop(&d->deadline);
  uv_timer_stop(&d->tick);
  if (run->phase == GD_PHASE_ROLLBACK && d->sc->nrollback && !run->opt->dry_run)
    run->rollback = (d->rollback_failed || d->hurry || d->ai < d->nactions)
                        ? GD_ROLLBACK_INCOMPLETE
                        : GD_ROLLBACK_DONE;
  if (run->rollback == GD_ROLLBACK_INCOMPLETE)
    gd_run_event(run, GD_PHASE_ROLLBACK, "rollback incomplete: check the stack by hand");
  else if (run->rollback == GD_ROLLBACK_DONE)
    gd_run_event(run, GD_PHASE_ROLLBACK, "rollback done");
  d->probes_left = (int)d->sc->nprobes + 1;
  for (size_t i = 0; i < d->sc->nprobes; i++)
    gd_probe_stop(&d->sc->probes[i], probe_stopped, d);
  probe_stopped(NULL, d);
}

static void tick_cb(uv_timer_t *t) {
  struct drv *d = t->data;
  for (size_t i = 0; i < d->run->nreporters; i++)
    if (d->run->reporters[i]->ops->tick)
      d->run->reporters[i]->ops->tick(d->run->reporters[i], d->run);
}

/* ---- signals ------------------------------------------------------------ */

static uv_signal_t sig_int, sig_term;
static int signals_installed, signals_seen;

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  signals_seen++;
  struct drv *d = current_drv;
  if (!d || d->finished) return;
  if (!d->aborting && d->run->phase < GD_PHASE_ROLLBACK) {
    abort_run(d, GD_VERDICT_ABORTED, "interrupted by %s",
              signum == SIGINT ? "SIGINT" : "SIGTERM");
    return;
  }
  /* Second signal: stop waiting for the rollback. */
  if (!d->hurry) {
    d->hurry = 1;
    gd_run_event(d->run, d->run->phase, "second signal: no longer waiting for rollback");
    if (d->current)
      gd_action_cancel(d->current);
    else if (d->run->phase == GD_PHASE_ROLLBACK)
      go(d, do_finish);
  }
}

int gd_signals_install(uv_loop_t *loop, struct gd_error *err) {
  if (signals_installed) return 0;
  if (uv_signal_init(loop, &sig_int) || uv_signal_init(loop, &sig_term))
    return gd_error_set(err, GD_EIO, "cannot install signal handlers");
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  /* They must not keep the loop alive: a run ends when its own handles do. */
  uv_unref((uv_handle_t *)&sig_int);
  uv_unref((uv_handle_t *)&sig_term);
  signals_installed = 1;
  return 0;
}

void gd_signals_close(void) {
  if (!signals_installed) return;
  uv_close((uv_handle_t *)&sig_int, NULL);
  uv_close((uv_handle_t *)&sig_term, NULL);
  signals_installed = 0;
}

int gd_signals_count(void) { return signals_seen; }

/* ---- entry -------------------------------------------------------------- */

int gd_run_scenario(struct gd_run *run, const struct gd_scenario *sc,
                    const struct gd_run_options *opt, uv_loop_t *loop,
                    struct gd_reporter **reporters, size_t nreporters,
                    struct gd_error *err) {
  memset(run, 0, sizeof *run);
  run->sc = sc;
  run->opt = opt;
  run->loop = loop;
  run->reporters = reporters;
  run->nreporters = nreporters;
  run->verdict = GD_VERDICT_PASS;
  run->rollback = GD_ROLLBACK_NONE;
  clock_gettime(CLOCK_REALTIME, &run->started_wall);
  run->start_ns = uv_hrtime();

  struct drv *d = calloc(1, sizeof *d);
  if (!d) return gd_error_set(err, GD_ENOMEM, "out of memory");
  size_t np = sc->nprobes ? sc->nprobes : 1;
  d->prev_ok = malloc(np * sizeof *d->prev_ok);
  d->transitions = calloc(np, sizeof *d->transitions);
  d->is_recovery = calloc(np, 1);
  d->is_steady = calloc(np, 1);
  d->is_guard = calloc(np, 1);
  if (!d->prev_ok || !d->transitions || !d->is_recovery || !d->is_steady || !d->is_guard) {
    free(d->prev_ok); free(d->transitions); free(d->is_recovery);
    free(d->is_steady); free(d->is_guard); free(d);
    return gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < np; i++) d->prev_ok[i] = -1;
  for (size_t i = 0; i < sc->recovery.n; i++) d->is_recovery[sc->recovery.idx[i]] = 1;
  for (size_t i = 0; i < sc->steady.n; i++) d->is_steady[sc->steady.idx[i]] = 1;
  for (size_t i = 0; i < sc->guards.n; i++) d->is_guard[sc->guards.idx[i]] = 1;
  d->run = run;
  d->sc = sc;
  run->priv = d;

  int rc = gd_curl_new(loop, &run->curl, err);
  if (rc) {
    free(d->prev_ok); free(d->transitions); free(d->is_recovery);
    free(d->is_steady); free(d->is_guard); free(d);
    run->priv = NULL;
    return rc;
  }
  uv_timer_init(loop, &d->step);
  uv_timer_init(loop, &d->deadline);
  uv_timer_init(loop, &d->action_timer);
  uv_timer_init(loop, &d->tick);
  d->step.data = d->deadline.data = d->action_timer.data = d->tick.data = d;
  d->open_handles = 4;
  uv_timer_start(&d->tick, tick_cb, 100, 100);
  current_drv = d;

  for (size_t i = 0; i < nreporters; i++)
    if (reporters[i]->ops->run_begin) reporters[i]->ops->run_begin(reporters[i], run);

  go(d, do_preflight);
  uv_run(loop, UV_RUN_DEFAULT);
  current_drv = NULL;
  if (run->phase != GD_PHASE_DONE)
    return gd_error_set(err, GD_ESTATE, "%s: the run stopped before its end", sc->name);
  return 0;
}

void gd_run_free(struct gd_run *run) {
  if (!run) return;
  struct drv *d = run->priv;
  if (d) {
    free(d->prev_ok);
    free(d->transitions);
    free(d->is_recovery);
    free(d->is_steady);
    free(d->is_guard);
    free(d);
  }
  for (size_t i = 0; i < run->nevents; i++) free(run->events[i].what);
  free(run->events);
  free(run->probe_figures);
  free(run->measurements);
  free(run->thresholds);
  for (size_t i = 0; i < run->nchecks; i++) {
    free(run->checks[i].name);
    free(run->checks[i].message);
  }
  free(run->checks);
  memset(run, 0, sizeof *run);
}

/* gameday: the console reporter. What people watch during a game day and
 * read right after it: events as they happen, a live status line per probe
 * on a terminal, and a summary that answers "did it pass, how long were we
 * down, what did the fault actually do, is the stack back to normal".
 *
 * Everything goes through r->out, so tests can read what a person would see.
 * ANSI sequences are written only for colour (r->color) and the live block
 * (r->live); quiet mode writes neither. */
#include "gameday/reporter.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "gameday/action.h"
#include "gameday/format.h"

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_BOLDRED "\033[1;31m"

struct run_line {
  char *name;
  enum gd_verdict verdict;
  char *reason;
};

struct console {
  FILE *out;
  int color, live, quiet;
  unsigned block_lines; /* status lines of the live block now on screen */
  int dirty;            /* a sample arrived since the block was drawn */
  struct gd_hist *scratch;
  struct run_line *runs;
  size_t nruns, capruns;
};

static const char *col(const struct console *c, const char *code) {
  return c->color ? code : "";
}

static const char *verdict_word(enum gd_verdict v) {
  switch (v) {
  case GD_VERDICT_PASS: return "PASS";
  case GD_VERDICT_FAIL: return "FAIL";
  case GD_VERDICT_ABORTED: return "ABORTED";
  default: return "ERROR";
  }
}

static const char *verdict_color(enum gd_verdict v) {
  switch (v) {
  case GD_VERDICT_PASS: return C_GREEN;
  case GD_VERDICT_FAIL: return C_BOLDRED;
  default: return C_YELLOW;
  }
}

static void fmt_ms(char *buf, size_t n, double ms) {
  if (!isfinite(ms))
    snprintf(buf, n, "n/a");
  else if (fabs(ms) < 10)
    snprintf(buf, n, "%.2f ms", ms);
  else
    snprintf(buf, n, "%.1f ms", ms);
}

/* Display width of UTF-8 text (one column per character is close enough
 * for names and messages). */
static size_t text_width(const char *s) {
  size_t w = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) w++;
  return w;
}

/* printf("%-*s") counts bytes; this pads by characters, so "±" aligns. */
static void put_padded(FILE *f, const char *s, size_t width) {
  fputs(s, f);
  for (size_t w = text_width(s); w < width; w++) fputc(' ', f);
}

/* Writes at most *budget characters of s and lowers the budget. */
static void put_clipped(FILE *f, const char *s, size_t *budget) {
  for (; *s; s++) {
    int lead = ((unsigned char)*s & 0xC0) != 0x80;
    if (lead) {
      if (!*budget) return;
      (*budget)--;
    }
    fputc(*s, f);
  }
}

/* ---- events and the live block ---- */

static void put_event(struct console *c, const struct gd_run *run,
                      const struct gd_event *ev) {
  /* Live, t0 is not known before the fault: until then times are seconds
   * since the start, unsigned; from t0 on they are signed, relative to t0
   * (as in the journal). */
  fprintf(c->out, run->t0_ns ? "%s[%+9.3fs]%s %-9s %s\n" : "%s[%9.3fs]%s %-9s %s\n",
          col(c, C_DIM), gd_run_rel_ms(run, ev->t_ns) / 1000.0, col(c, C_RESET),
          gd_phase_name(ev->phase), ev->what ? ev->what : "");
}

static size_t term_width(const struct console *c) {
  struct winsize ws;
  int fd = fileno(c->out);
  if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
    return ws.ws_col;
  return 80;
}

static void erase_block(struct console *c) {
  if (!c->block_lines) return;
  fprintf(c->out, "\033[%uA\r\033[J", c->block_lines);
  c->block_lines = 0;
}

/* p50 of the current phase, including the ok streak that probe.c holds apart
 * during the fault phase (it is still latency seen now). */
static double live_p50(struct console *c, const struct gd_probe *p) {
  if (!p->latency) return NAN;
  const struct gd_hist *h = &p->latency[p->hist_phase];
  if (p->hist_phase == GD_HIST_FAULT && p->streak && p->streak->count &&
      c->scratch) {
    *c->scratch = *h;
    gd_hist_merge(c->scratch, p->streak);
    h = c->scratch;
  }
  return h->count ? gd_hist_quantile_ms(h, 0.5) : NAN;
}

static void draw_block(struct console *c, const struct gd_run *run) {
  const struct gd_scenario *sc = run->sc;
  if (!sc) return;
  size_t namew = 0;
  for (size_t i = 0; i < sc->nprobes; i++)
    if (sc->probes[i].name && strlen(sc->probes[i].name) > namew)
      namew = strlen(sc->probes[i].name);
  size_t width = term_width(c);
  /* Redraw over the previous block when it has the same shape. */
  if (c->block_lines && c->block_lines != sc->nprobes) erase_block(c);
  if (c->block_lines) fprintf(c->out, "\033[%uA", c->block_lines);
  for (size_t i = 0; i < sc->nprobes; i++) {
    const struct gd_probe *p = &sc->probes[i];
    const char *st = p->last_ok == 1 ? "OK" : p->last_ok == 0 ? "FAIL" : "--";
    const char *stc = p->last_ok == 1 ? C_GREEN : p->last_ok == 0 ? C_BOLDRED : "";
    char head[256], rest[512], p50[32];
    double v = live_p50(c, p);
    if (isfinite(v))
      fmt_ms(p50, sizeof p50, v);
    else
      snprintf(p50, sizeof p50, "-");
    snprintf(head, sizeof head, "  %-*s  ", (int)namew, p->name ? p->name : "");
    snprintf(rest, sizeof rest,
             " %6llu ok %4llu fail %3llu skip  p50 %s%s%s",
             (unsigned long long)p->ok, (unsigned long long)p->failed,
             (unsigned long long)p->skipped, p50,
             p->last_detail[0] ? "  last: " : "", p->last_detail);
    /* A wrapped line would throw the cursor-up count off. */
    size_t budget = width - 1;
    fputs("\r\033[2K", c->out);
    put_clipped(c->out, head, &budget);
    if (budget >= 4) {
      fputs(col(c, stc), c->out);
      fprintf(c->out, "%-4s", st);
      fputs(col(c, C_RESET), c->out);
      budget -= 4;
      put_clipped(c->out, rest, &budget);
    }
    fputc('\n', c->out);
  }
  c->block_lines = (unsigned)sc->nprobes;
  c->dirty = 0;
  fflush(c->out);
}

/* ---- the summary ---- */

static void put_figures(struct console *c, const struct gd_run *run) {
  FILE *f = c->out;
  const struct gd_figures *fg = &run->figures;
  char a[96];
  fprintf(f, "figures\n");
  if (!run->t0_ns) {
    fprintf(f, "  %s: nothing measured\n",
            run->opt && run->opt->dry_run ? "dry run" : "no fault injected");
  } else {
    if (fg->has_detection) {
      gd_format_figure(a, sizeof a, "detection_ms", fg->detection_ms, 1,
                       fg->detection_unc_ms);
      fprintf(f, "  detection     +%s\n", a);
    } else {
      fprintf(f, "  detection     -\n");
    }
    if (fg->recovered) {
      gd_format_figure(a, sizeof a, "recovery_ms", fg->recovery_ms, 1,
                       fg->recovery_unc_ms);
      fprintf(f, "  recovery      %s\n", a);
    } else {
      fprintf(f, "  recovery      %snot recovered%s\n", col(c, C_BOLDRED),
              col(c, C_RESET));
    }
    gd_format_figure(a, sizeof a, "downtime_ms", fg->downtime_ms, 1,
                     fg->downtime_unc_ms);
    fprintf(f, "  downtime      %s\n", a);
    fprintf(f, "  availability  %.2f%% (%llu ok, %llu failed)\n",
            fg->availability * 100.0, (unsigned long long)fg->ok,
            (unsigned long long)fg->failed);
    if (!fg->impacted) fprintf(f, "  no impact observed\n");
  }

  /* Latency over the recovery probes (all probes when there are none). */
  const struct gd_scenario *sc = run->sc;
  struct gd_hist *h = calloc(GD_HIST_N, sizeof *h);
  if (h) {
    for (int ph = 0; ph < GD_HIST_N; ph++) gd_hist_reset(&h[ph]);
    size_t n = sc->recovery.n ? sc->recovery.n : sc->nprobes;
    for (size_t k = 0; k < n; k++) {
      size_t i = sc->recovery.n ? sc->recovery.idx[k] : k;
      if (i >= sc->nprobes || !sc->probes[i].latency) continue;
      for (int ph = 0; ph < GD_HIST_N; ph++)
        gd_hist_merge(&h[ph], &sc->probes[i].latency[ph]);
    }
    static const char *const names[GD_HIST_N] = {"baseline", "fault", "after"};
    for (int ph = 0; ph < GD_HIST_N; ph++) {
      fprintf(f, "  %-13s %-8s ", ph == 0 ? "latency" : "", names[ph]);
      if (!h[ph].count) {
        fprintf(f, "no ok samples\n");
        continue;
      }
      char p50[32], p99[32], mx[32];
      fmt_ms(p50, sizeof p50, gd_hist_quantile_ms(&h[ph], 0.5));
      fmt_ms(p99, sizeof p99, gd_hist_quantile_ms(&h[ph], 0.99));
      fmt_ms(mx, sizeof mx, (double)h[ph].max_ns / 1e6);
      fprintf(f, "p50 %s  p99 %s  max %s  (%llu samples)\n", p50, p99, mx,
              (unsigned long long)h[ph].count);
    }
    free(h);
  }

  uint64_t skipped = 0;
  for (size_t i = 0; i < sc->nprobes; i++) skipped += sc->probes[i].skipped;
  fprintf(f, "  skipped       %llu samples", (unsigned long long)skipped);
  if (skipped) {
    const char *sep = " (";
    for (size_t i = 0; i < sc->nprobes; i++) {
      if (!sc->probes[i].skipped) continue;
      fprintf(f, "%s%s %llu", sep, sc->probes[i].name,
              (unsigned long long)sc->probes[i].skipped);
      sep = ", ";
    }
    fputs("): those probes could not keep their rate", f);
  }
  fputc('\n', f);

  /* Figures published by probe kinds (lost_writes, drain_ms, ...); the core
   * ones and the latencies are shown above. */
  static const char *const core[] = {"detection_ms", "recovery_ms",
                                     "downtime_ms",  "availability",
                                     "skipped",      NULL};
  for (size_t i = 0; i < run->nmeasurements; i++) {
    const struct gd_measurement *m = &run->measurements[i];
    size_t len = strlen(m->name);
    if (strchr(m->name, '.') ||
        (len >= 10 && strcmp(m->name + len - 10, "latency_ms") == 0))
      continue;
    int is_core = 0;
    for (size_t k = 0; core[k]; k++)
      if (strcmp(core[k], m->name) == 0) is_core = 1;
    if (is_core) continue;
    if (m->has_value)
      gd_format_figure(a, sizeof a, m->name, m->value, m->has_unc, m->unc);
    else
      snprintf(a, sizeof a, "not measured");
    fprintf(f, "  %-13s %s\n", m->name, a);
  }
}

static void put_thresholds(struct console *c, const struct gd_run *run) {
  FILE *f = c->out;
  if (!run->nthresholds) {
    fprintf(f, "thresholds: none\n");
    return;
  }
  int broken =
      run->verdict == GD_VERDICT_ABORTED || run->verdict == GD_VERDICT_ERROR;
  size_t n = run->nthresholds;
  char(*lim)[64] = calloc(n, sizeof *lim);
  char(*val)[96] = calloc(n, sizeof *val);
  if (!lim || !val) {
    free(lim);
    free(val);
    return;
  }
  size_t wn = strlen("threshold"), wl = strlen("limit"), wv = strlen("value");
  for (size_t i = 0; i < n; i++) {
    const struct gd_threshold_result *t = &run->thresholds[i];
    const char *name = t->th && t->th->name ? t->th->name : "?";
    char num[48];
    gd_format_number(num, sizeof num, t->th ? t->th->limit : NAN);
    snprintf(lim[i], sizeof lim[i], "%s %s",
             t->th && t->th->at_least ? ">=" : "<=", num);
    if (t->has_value) {
      const struct gd_measurement *m = gd_run_measurement(run, name);
      int hu = m && m->has_unc && m->has_value;
      gd_format_figure(val[i], sizeof val[i], name, t->value, hu,
                       hu ? m->unc : 0);
    } else {
      snprintf(val[i], sizeof val[i], "-");
    }
    if (text_width(name) > wn) wn = text_width(name);
    if (text_width(lim[i]) > wl) wl = text_width(lim[i]);
    if (text_width(val[i]) > wv) wv = text_width(val[i]);
  }
  fputs("thresholds\n  ", f);
  put_padded(f, "threshold", wn + 2);
  put_padded(f, "limit", wl + 2);
  put_padded(f, "value", wv + 2);
  fputs("result  note\n", f);
  for (size_t i = 0; i < n; i++) {
    const struct gd_threshold_result *t = &run->thresholds[i];
    const char *res = broken ? "SKIP" : t->pass ? "PASS" : "FAIL";
    const char *rc = broken ? C_YELLOW : t->pass ? C_GREEN : C_BOLDRED;
    fputs("  ", f);
    put_padded(f, t->th && t->th->name ? t->th->name : "?", wn + 2);
    put_padded(f, lim[i], wl + 2);
    put_padded(f, val[i], wv + 2);
    fprintf(f, "%s%-4s%s", col(c, rc), res, col(c, C_RESET));
    if (t->note[0]) fprintf(f, "    %s", t->note);
    fputc('\n', f);
  }
  free(lim);
  free(val);
}

static void put_checks(struct console *c, const struct gd_run *run) {
  if (!run->nchecks) return;
  fprintf(c->out, "checks\n");
  for (size_t i = 0; i < run->nchecks; i++) {
    const struct gd_check *k = &run->checks[i];
    fprintf(c->out, "  %s%-4s%s  %s%s%s\n",
            col(c, k->ok ? C_GREEN : C_BOLDRED), k->ok ? "ok" : "FAIL",
            col(c, C_RESET), k->name ? k->name : "?",
            k->message && *k->message ? ": " : "", k->message ? k->message : "");
  }
}

static void put_action_list(struct console *c, const struct gd_action *acts,
                            size_t n) {
  for (size_t i = 0; i < n; i++) {
    const struct gd_action *a = &acts[i];
    const char *st, *sc;
    if (!a->started_ns) {
      st = "not run";
      sc = C_DIM;
    } else if (a->cancelled) {
      st = "cancelled";
      sc = C_YELLOW;
    } else if (a->ok) {
      st = "ok";
      sc = C_GREEN;
    } else {
      st = "FAILED";
      sc = C_BOLDRED;
    }
    fprintf(c->out, "  %-12s %-20s %s%s%s", a->path ? a->path : "?",
            a->name ? a->name : "", col(c, sc), st, col(c, C_RESET));
    if (a->message && *a->message)
      fprintf(c->out, "%*s%s", (int)(11 - strlen(st)), "", a->message);
    fputc('\n', c->out);
  }
}

static void put_actions(struct console *c, const struct gd_run *run) {
  const struct gd_scenario *sc = run->sc;
  if (!sc->nfault && !sc->nverify && !sc->nrollback) return;
  fprintf(c->out, "actions\n");
  put_action_list(c, sc->fault, sc->nfault);
  put_action_list(c, sc->verify, sc->nverify);
  put_action_list(c, sc->rollback, sc->nrollback);
}

static void put_rollback(struct console *c, const struct gd_run *run) {
  switch (run->rollback) {
  case GD_ROLLBACK_NONE:
    if (!c->quiet) fprintf(c->out, "rollback: none\n");
    break;
  case GD_ROLLBACK_DONE:
    if (!c->quiet) fprintf(c->out, "rollback: done\n");
    break;
  default:
    /* The stack may still be broken: this must not scroll by unnoticed. */
    fprintf(c->out,
            "%s!!! ROLLBACK INCOMPLETE: the stack may still be in its failed "
            "state; check the rollback actions and restore it by hand%s\n",
            col(c, C_BOLDRED), col(c, C_RESET));
  }
}

static void put_probes(struct console *c, const struct gd_run *run) {
  const struct gd_scenario *sc = run->sc;
  if (!sc->nprobes) return;
  size_t namew = 0;
  for (size_t i = 0; i < sc->nprobes; i++)
    if (sc->probes[i].name && strlen(sc->probes[i].name) > namew)
      namew = strlen(sc->probes[i].name);
  fprintf(c->out, "probes\n");
  for (size_t i = 0; i < sc->nprobes; i++) {
    const struct gd_probe *p = &sc->probes[i];
    char avail[32];
    if (run->probe_figures && run->t0_ns)
      snprintf(avail, sizeof avail, "%.2f%%",
               run->probe_figures[i].availability * 100.0);
    else if (p->ok + p->failed)
      snprintf(avail, sizeof avail, "%.2f%% (whole run)",
               100.0 * (double)p->ok / (double)(p->ok + p->failed));
    else
      snprintf(avail, sizeof avail, "-");
    fprintf(c->out,
            "  %-*s  %llu samples  %llu ok  %llu failed  %llu skipped  "
            "availability %s",
            (int)namew, p->name ? p->name : "", (unsigned long long)p->samples,
            (unsigned long long)p->ok, (unsigned long long)p->failed,
            (unsigned long long)p->skipped, avail);
    const char *sep = "  failures: ";
    for (int k = 1; k < GD_SAMPLE_CLASS_MAX; k++) {
      if (!p->class_count[k]) continue;
      fprintf(c->out, "%s%s %llu", sep,
              gd_sample_class_name((enum gd_sample_class)k),
              (unsigned long long)p->class_count[k]);
      sep = ", ";
    }
    fputc('\n', c->out);
  }
}

static void put_verdict(struct console *c, const struct gd_run *run) {
  fprintf(c->out, "%s%s%s  %s%s%s\n", col(c, verdict_color(run->verdict)),
          verdict_word(run->verdict), col(c, C_RESET),
          run->sc && run->sc->name ? run->sc->name : "",
          run->reason[0] ? ": " : "", run->reason);
}

/* ---- the reporter ---- */

static int console_open(struct gd_reporter *r, struct gd_error *err) {
  struct console *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "console: out of memory");
  c->out = r->out ? r->out : stdout;
  c->quiet = r->quiet;
  c->color = r->color && !r->quiet;
  c->live = r->live && !r->quiet;
  if (c->live && !(c->scratch = malloc(sizeof *c->scratch))) {
    free(c);
    return gd_error_set(err, GD_ENOMEM, "console: out of memory");
  }
  r->ctx = c;
  return 0;
}

static void console_run_begin(struct gd_reporter *r, const struct gd_run *run) {
  struct console *c = r->ctx;
  if (!c || c->quiet || !run->sc) return;
  const struct gd_scenario *sc = run->sc;
  fprintf(c->out, "%s== %s (%s)%s%s%s\n", col(c, C_BOLD), sc->name ? sc->name : "",
          sc->file ? sc->file : "-", sc->description && *sc->description ? ": " : "",
          sc->description ? sc->description : "", col(c, C_RESET));
  c->block_lines = 0;
  c->dirty = 1;
  fflush(c->out);
}

static void console_event(struct gd_reporter *r, const struct gd_run *run,
                          const struct gd_event *ev) {
  struct console *c = r->ctx;
  if (!c || c->quiet) return;
  int had_block = c->block_lines != 0;
  erase_block(c);
  put_event(c, run, ev);
  if (had_block)
    draw_block(c, run);
  else
    fflush(c->out);
}

static void console_sample(struct gd_reporter *r, const struct gd_run *run,
                           const struct gd_probe *p,
                           const struct gd_sample_result *res) {
  (void)run;
  (void)p;
  (void)res;
  struct console *c = r->ctx;
  if (c) c->dirty = 1;
}

static void console_tick(struct gd_reporter *r, const struct gd_run *run) {
  struct console *c = r->ctx;
  if (!c || !c->live || (!c->dirty && c->block_lines)) return;
  draw_block(c, run);
}

static int console_run_end(struct gd_reporter *r, const struct gd_run *run,
                           struct gd_error *err) {
  struct console *c = r->ctx;
  if (!c) return gd_error_set(err, GD_ESTATE, "console: not open");
  if (!run->sc) return 0;
  erase_block(c);
  if (!c->quiet) {
    fprintf(c->out, "%s-- result: %s --%s\n", col(c, C_BOLD),
            run->sc->name ? run->sc->name : "",
            col(c, C_RESET));
    put_figures(c, run);
  }
  put_thresholds(c, run);
  if (!c->quiet) {
    put_checks(c, run);
    put_actions(c, run);
    put_probes(c, run);
  }
  put_rollback(c, run);
  put_verdict(c, run);
  fflush(c->out);

  if (c->nruns == c->capruns) {
    size_t cap = c->capruns ? c->capruns * 2 : 4;
    struct run_line *nr = realloc(c->runs, cap * sizeof *nr);
    if (!nr) return gd_error_set(err, GD_ENOMEM, "console: out of memory");
    c->runs = nr;
    c->capruns = cap;
  }
  struct run_line *l = &c->runs[c->nruns];
  l->name = strdup(run->sc->name ? run->sc->name : "");
  l->reason = strdup(run->reason);
  l->verdict = run->verdict;
  if (!l->name || !l->reason) {
    free(l->name);
    free(l->reason);
    return gd_error_set(err, GD_ENOMEM, "console: out of memory");
  }
  c->nruns++;
  return 0;
}

static int console_close(struct gd_reporter *r, struct gd_error *err) {
  (void)err;
  struct console *c = r->ctx;
  if (!c || c->nruns < 2) return 0;
  size_t w = 0;
  for (size_t i = 0; i < c->nruns; i++)
    if (strlen(c->runs[i].name) > w) w = strlen(c->runs[i].name);
  fprintf(c->out, "%s== %zu runs%s\n", col(c, C_BOLD), c->nruns, col(c, C_RESET));
  for (size_t i = 0; i < c->nruns; i++) {
    const struct run_line *l = &c->runs[i];
    fprintf(c->out, "  %-*s  %s%-7s%s  %s\n", (int)w, l->name,
            col(c, verdict_color(l->verdict)), verdict_word(l->verdict),
            col(c, C_RESET), l->reason);
  }
  fflush(c->out);
  return 0;
}

static void console_free(struct gd_reporter *r) {
  struct console *c = r->ctx;
  if (!c) return;
  for (size_t i = 0; i < c->nruns; i++) {
    free(c->runs[i].name);
    free(c->runs[i].reason);
  }
  free(c->runs);
  free(c->scratch);
  free(c);
  r->ctx = NULL;
}

const struct gd_reporter_ops gd_reporter_console = {
    .name = "console",
    .open = console_open,
    .run_begin = console_run_begin,
    .event = console_event,
    .sample = console_sample,
    .tick = console_tick,
    .run_end = console_run_end,
    .close = console_close,
    .free = console_free,
};

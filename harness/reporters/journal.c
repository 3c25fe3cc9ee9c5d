/* gameday: the JSON journal reporter (format "gameday-journal/1").
 *
 * Each run's journal is built when the run ends, not at close: the driver may
 * free the run before the last one finishes, and an interrupted gameday must
 * still leave the journals of the runs that did finish. Files are written to
 * a temporary name and renamed, so a reader (or a CI artifact upload) never
 * sees half a journal. */
#include "gameday/reporter.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gameday/action.h"
#include "gameday/fileutil.h"

#define JOURNAL_FORMAT "gameday-journal/1"
#define JOURNALS_FORMAT "gameday-journals/1"

struct journal {
  cJSON **docs;     /* one per finished run, for r->path */
  size_t n, cap;
  char **used;      /* file names already written in r->dir this gameday */
  size_t nused, capused;
};

/* ---- JSON helpers ---- */

/* JSON has no NaN or Infinity; a figure that is not a number is unknown. */
static cJSON *num(double v) {
  return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *num_or_null(int has, double v) {
  return has ? num(v) : cJSON_CreateNull();
}

/* Length of the well-formed UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s) {
  unsigned char b = s[0], lo = 0x80, hi = 0xBF;
  size_t len;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0; /* overlong */
    if (b == 0xED) hi = 0x9F; /* surrogates */
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90; /* overlong */
    if (b == 0xF4) hi = 0x8F; /* past U+10FFFF */
  } else {
    return 0;
  }
  for (size_t i = 1; i < len; i++)
    if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xBF)) return 0;
  return len;
}

/* A copy of s with malformed UTF-8 replaced by U+FFFD, or NULL when s is
 * already well-formed (or on allocation failure, keeping s). Probe details
 * and command output can carry any bytes, and a journal that strict JSON
 * parsers reject would lose the whole run. */
static char *utf8_clean(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t bad = 0, n = 0;
  while (p[n]) {
    size_t l = utf8_len(p + n);
    if (!l) {
      bad++;
      l = 1;
    }
    n += l;
  }
  if (!bad) return NULL;
  char *out = malloc(n + 2 * bad + 1), *o = out;
  if (!out) return NULL;
  for (size_t i = 0; p[i];) {
    size_t l = utf8_len(p + i);
    if (!l) {
      memcpy(o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
    } else {
      memcpy(o, p + i, l);
      o += l;
      i += l;
    }
  }
  *o = 0;
  return out;
}

static cJSON *str_or_null(const char *s) {
  if (!s) return cJSON_CreateNull();
  char *clean = utf8_clean(s);
  cJSON *v = cJSON_CreateString(clean ? clean : s);
  free(clean);
  return v;
}

/* The same for every string and key of a copied tree (an action's detail). */
static void clean_tree(cJSON *item) {
  for (; item; item = item->next) {
    char *c;
    if (cJSON_IsString(item) && item->valuestring &&
        (c = utf8_clean(item->valuestring))) {
      free(item->valuestring);
      item->valuestring = c;
    }
    if (item->string && !(item->type & cJSON_StringIsConst) &&
        (c = utf8_clean(item->string))) {
      free(item->string);
      item->string = c;
    }
    clean_tree(item->child);
  }
}

static cJSON *copy_detail(const cJSON *detail) {
  if (!detail) return cJSON_CreateNull();
  cJSON *d = cJSON_Duplicate(detail, 1);
  if (d) clean_tree(d);
  return d;
}

static cJSON *u64(uint64_t v) {
  /* A double holds integers exactly only up to 2^53 (104 days of uptime in
   * ns); past that the digits are written as they are. */
  if (v <= (UINT64_C(1) << 53)) return cJSON_CreateNumber((double)v);
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRIu64, v);
  return cJSON_CreateRaw(buf);
}

static int add(cJSON *obj, const char *key, cJSON *v) {
  if (!v) return -1;
  if (!cJSON_AddItemToObject(obj, key, v)) {
    cJSON_Delete(v);
    return -1;
  }
  return 0;
}

static int push(cJSON *arr, cJSON *v) {
  if (!v) return -1;
  if (!cJSON_AddItemToArray(arr, v)) {
    cJSON_Delete(v);
    return -1;
  }
  return 0;
}

/* "recovery_ms" -> "recovery_uncertainty_ms"; a name without the unit gets
 * the suffix appended. */
static void twin_name(char *buf, size_t n, const char *name) {
  size_t len = strlen(name);
  if (len >= 3 && strcmp(name + len - 3, "_ms") == 0)
    snprintf(buf, n, "%.*s_uncertainty_ms", (int)(len - 3), name);
  else
    snprintf(buf, n, "%s_uncertainty_ms", name);
}

static int add_figure(cJSON *obj, const char *name, int has, double v,
                      double unc) {
  char twin[128];
  twin_name(twin, sizeof twin, name);
  if (add(obj, name, num_or_null(has, v))) return -1;
  return add(obj, twin, num_or_null(has, unc));
}

static void format_started_at(const struct timespec *ts, char *buf, size_t n) {
  struct tm tm;
  time_t s = ts->tv_sec;
  if (!gmtime_r(&s, &tm)) {
    snprintf(buf, n, "1970-01-01T00:00:00.000Z");
    return;
  }
  char date[32];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, n, "%s.%03ldZ", date, (long)(ts->tv_nsec / 1000000) % 1000);
}

/* ---- the journal of one run ---- */

static cJSON *build_latency(const struct gd_probe *p) {
  static const char *const names[GD_HIST_N] = {"baseline", "fault", "after"};
  if (!p->latency) return cJSON_CreateNull();
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  for (int i = 0; i < GD_HIST_N; i++) {
    const struct gd_hist *h = &p->latency[i];
    cJSON *ph = cJSON_CreateObject();
    if (add(o, names[i], ph) ||
        add(ph, "count", cJSON_CreateNumber((double)h->count)) ||
        add(ph, "p50", num_or_null(h->count > 0, gd_hist_quantile_ms(h, 0.5))) ||
        add(ph, "p99", num_or_null(h->count > 0, gd_hist_quantile_ms(h, 0.99))) ||
        add(ph, "max", num_or_null(h->count > 0, (double)h->max_ns / 1e6))) {
      cJSON_Delete(o);
      return NULL;
    }
  }
  return o;
}

static cJSON *build_timeline(const struct gd_run *run, const struct gd_probe *p) {
  cJSON *a = cJSON_CreateArray();
  if (!a) return NULL;
  for (size_t i = 0; i < p->timeline.n; i++) {
    const struct gd_span *s = &p->timeline.spans[i];
    cJSON *e = cJSON_CreateArray();
    if (push(a, e) || push(e, num(gd_run_rel_ms(run, s->first_start))) ||
        push(e, num(gd_run_rel_ms(run, s->last_end))) ||
        push(e, cJSON_CreateString(s->ok ? "ok" : "fail")) ||
        push(e, cJSON_CreateNumber(s->count))) {
      cJSON_Delete(a);
      return NULL;
    }
  }
  return a;
}

static cJSON *build_probe(const struct gd_run *run, size_t i) {
  const struct gd_probe *p = &run->sc->probes[i];
  /* Without a fault there is no observe window, so no figure is measured. */
  const struct gd_figures *f =
      run->probe_figures && run->t0_ns ? &run->probe_figures[i] : NULL;
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  if (add(o, "type", str_or_null(p->ops ? p->ops->type : NULL)) ||
      add(o, "interval_ms", cJSON_CreateNumber((double)p->interval_ns / 1e6)) ||
      add(o, "timeout_ms", cJSON_CreateNumber((double)p->timeout_ns / 1e6)) ||
      add(o, "max_inflight", cJSON_CreateNumber(p->max_inflight)) ||
      add(o, "samples", cJSON_CreateNumber((double)p->samples)) ||
      add(o, "ok", cJSON_CreateNumber((double)p->ok)) ||
      add(o, "failed", cJSON_CreateNumber((double)p->failed)) ||
      add(o, "skipped", cJSON_CreateNumber((double)p->skipped)) ||
      add(o, "availability", num_or_null(f != NULL, f ? f->availability : 0)))
    goto fail;

  cJSON *failures = cJSON_CreateObject();
  if (add(o, "failures", failures)) goto fail;
  for (int c = 0; c < GD_SAMPLE_CLASS_MAX; c++) {
    if (c == GD_SAMPLE_OK || !p->class_count[c]) continue;
    if (add(failures, gd_sample_class_name((enum gd_sample_class)c),
            cJSON_CreateNumber((double)p->class_count[c])))
      goto fail;
  }

  cJSON *figs = cJSON_CreateObject();
  if (add(o, "figures", figs) ||
      add_figure(figs, "detection_ms", f && f->has_detection,
                 f ? f->detection_ms : 0, f ? f->detection_unc_ms : 0) ||
      add_figure(figs, "recovery_ms", f && f->recovered,
                 f ? f->recovery_ms : 0, f ? f->recovery_unc_ms : 0) ||
      add_figure(figs, "downtime_ms", f != NULL, f ? f->downtime_ms : 0,
                 f ? f->downtime_unc_ms : 0))
    goto fail;
  for (unsigned k = 0; k < p->nfigures && k < GD_PROBE_MAX_FIGURES; k++) {
    cJSON_DeleteItemFromObjectCaseSensitive(figs, p->figures[k].name);
    if (add(figs, p->figures[k].name, num(p->figures[k].value))) goto fail;
  }

  int has_late = p->lateness && p->lateness->count > 0;
  if (add(o, "latency_ms", build_latency(p)) ||
      add(o, "lateness_p99_ms",
          num_or_null(has_late, has_late ? gd_hist_quantile_ms(p->lateness, 0.99)
                                         : 0)) ||
      add(o, "timeline", build_timeline(run, p)) ||
      add(o, "timeline_truncated", cJSON_CreateBool(p->timeline.truncated)))
    goto fail;
  return o;
fail:
  cJSON_Delete(o);
  return NULL;
}

static int add_actions(cJSON *arr, const struct gd_run *run, const char *phase,
                       const struct gd_action *acts, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const struct gd_action *a = &acts[i];
    int ran = a->started_ns != 0;
    cJSON *o = cJSON_CreateObject();
    if (push(arr, o) || add(o, "phase", cJSON_CreateString(phase)) ||
        add(o, "path", str_or_null(a->path)) ||
        add(o, "name", str_or_null(a->name)) ||
        add(o, "type", str_or_null(a->ops ? a->ops->type : NULL)) ||
        add(o, "ran", cJSON_CreateBool(ran)) ||
        add(o, "ok", cJSON_CreateBool(a->ok)) ||
        add(o, "cancelled", cJSON_CreateBool(a->cancelled)) ||
        add(o, "message", str_or_null(a->message)) ||
        add(o, "started_ms",
            num_or_null(ran, ran ? gd_run_rel_ms(run, a->started_ns) : 0)) ||
        add(o, "ended_ms",
            num_or_null(ran && a->ended_ns,
                        a->ended_ns ? gd_run_rel_ms(run, a->ended_ns) : 0)) ||
        add(o, "detail", copy_detail(a->detail)))
      return -1;
  }
  return 0;
}

static int build_body(cJSON *j, const struct gd_run *run) {
  const struct gd_scenario *sc = run->sc;
  char started[48];
  format_started_at(&run->started_wall, started, sizeof started);
  int has_dur = run->end_ns && run->end_ns >= run->start_ns;

  if (add(j, "format", cJSON_CreateString(JOURNAL_FORMAT)) ||
      add(j, "gameday_version", cJSON_CreateString(GAMEDAY_VERSION)) ||
      add(j, "scenario", str_or_null(sc->name)) ||
      add(j, "file", str_or_null(sc->file)) ||
      add(j, "description", str_or_null(sc->description)) ||
      add(j, "environment", str_or_null(sc->environment)) ||
      add(j, "verdict", cJSON_CreateString(gd_verdict_name(run->verdict))) ||
      add(j, "reason", str_or_null(run->reason)) ||
      add(j, "dry_run", cJSON_CreateBool(run->opt && run->opt->dry_run)) ||
      add(j, "started_at", cJSON_CreateString(started)) ||
      add(j, "duration_ms",
          num_or_null(has_dur, (double)(run->end_ns - run->start_ns) / 1e6)) ||
      add(j, "t0_offset_ms",
          num_or_null(run->t0_ns != 0,
                      ((double)run->t0_ns - (double)run->start_ns) / 1e6)) ||
      add(j, "t0_monotonic_ns", run->t0_ns ? u64(run->t0_ns) : cJSON_CreateNull()))
    return -1;

  cJSON *m = cJSON_CreateObject();
  if (add(j, "measurements", m)) return -1;
  for (size_t i = 0; i < run->nmeasurements; i++) {
    const struct gd_measurement *x = &run->measurements[i];
    cJSON_DeleteItemFromObjectCaseSensitive(m, x->name);
    if (add(m, x->name, num_or_null(x->has_value, x->value))) return -1;
    if (x->has_unc) {
      char twin[128];
      twin_name(twin, sizeof twin, x->name);
      cJSON_DeleteItemFromObjectCaseSensitive(m, twin);
      if (add(m, twin, num_or_null(x->has_value, x->unc))) return -1;
    }
  }

  cJSON *th = cJSON_CreateArray();
  if (add(j, "thresholds", th)) return -1;
  for (size_t i = 0; i < run->nthresholds; i++) {
    const struct gd_threshold_result *t = &run->thresholds[i];
    cJSON *o = cJSON_CreateObject();
    if (push(th, o) || add(o, "name", str_or_null(t->th ? t->th->name : NULL)) ||
        add(o, "limit", num_or_null(t->th != NULL, t->th ? t->th->limit : 0)) ||
        add(o, "op", cJSON_CreateString(t->th && t->th->at_least ? ">=" : "<=")) ||
        add(o, "value", num_or_null(t->has_value, t->value)) ||
        add(o, "pass", cJSON_CreateBool(t->pass)) ||
        add(o, "note", str_or_null(t->note)))
      return -1;
  }

  cJSON *ck = cJSON_CreateArray();
  if (add(j, "checks", ck)) return -1;
  for (size_t i = 0; i < run->nchecks; i++) {
    const struct gd_check *c = &run->checks[i];
    cJSON *o = cJSON_CreateObject();
    if (push(ck, o) || add(o, "name", str_or_null(c->name)) ||
        add(o, "ok", cJSON_CreateBool(c->ok)) ||
        add(o, "message", str_or_null(c->message)))
      return -1;
  }

  cJSON *probes = cJSON_CreateObject();
  if (add(j, "probes", probes)) return -1;
  for (size_t i = 0; i < sc->nprobes; i++) {
    const char *name = sc->probes[i].name ? sc->probes[i].name : "";
    char *clean = utf8_clean(name);
    int rc = add(probes, clean ? clean : name, build_probe(run, i));
    free(clean);
    if (rc) return -1;
  }

  cJSON *acts = cJSON_CreateArray();
  if (add(j, "actions", acts) ||
      add_actions(acts, run, "fault", sc->fault, sc->nfault) ||
      add_actions(acts, run, "verify", sc->verify, sc->nverify) ||
      add_actions(acts, run, "rollback", sc->rollback, sc->nrollback))
    return -1;

  cJSON *evs = cJSON_CreateArray();
  if (add(j, "events", evs)) return -1;
  for (size_t i = 0; i < run->nevents; i++) {
    const struct gd_event *e = &run->events[i];
    cJSON *o = cJSON_CreateObject();
    if (push(evs, o) || add(o, "t_ms", num(gd_run_rel_ms(run, e->t_ns))) ||
        add(o, "phase", cJSON_CreateString(gd_phase_name(e->phase))) ||
        add(o, "what", str_or_null(e->what)))
      return -1;
  }

  return add(j, "rollback", cJSON_CreateString(gd_rollback_name(run->rollback)));
}

cJSON *gd_journal_build(const struct gd_run *run) {
  if (!run || !run->sc) return NULL;
  cJSON *j = cJSON_CreateObject();
  if (!j) return NULL;
  if (build_body(j, run)) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

/* ---- files ---- */

static int write_json(const char *path, const cJSON *doc, struct gd_error *err) {
  char *text = cJSON_Print(doc);
  if (!text)
    return gd_error_set(err, GD_ENOMEM, "cannot write '%s': out of memory", path);
  size_t n = strlen(text);
  char *withnl = realloc(text, n + 2);
  if (!withnl) {
    free(text);
    return gd_error_set(err, GD_ENOMEM, "cannot write '%s': out of memory", path);
  }
  withnl[n] = '\n';
  withnl[n + 1] = 0;
  int rc = gd_file_write_atomic(path, withnl, n + 1, err);
  free(withnl);
  return rc;
}

static int name_used(const struct journal *jn, const char *name) {
  for (size_t i = 0; i < jn->nused; i++)
    if (strcmp(jn->used[i], name) == 0) return 1;
  return 0;
}

/* DIR/<scenario>.json, then "-2", "-3" for later runs with the same name.
 * The name is made safe as a file name: a scenario named "../x" must not
 * write outside DIR. */
static int per_run_name(struct journal *jn, const char *scenario, char *buf,
                        size_t n) {
  char base[128];
  size_t k = 0;
  for (const char *s = scenario ? scenario : ""; *s && k < sizeof base - 1; s++) {
    char c = *s;
    int safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               (c == '.' && k > 0);
    base[k++] = safe ? c : '_';
  }
  base[k] = 0;
  if (!k) snprintf(base, sizeof base, "scenario");
  snprintf(buf, n, "%s.json", base);
  for (unsigned i = 2; name_used(jn, buf); i++)
    snprintf(buf, n, "%s-%u.json", base, i);
  if (jn->nused == jn->capused) {
    size_t cap = jn->capused ? jn->capused * 2 : 8;
    char **nu = realloc(jn->used, cap * sizeof *nu);
    if (!nu) return GD_ENOMEM;
    jn->used = nu;
    jn->capused = cap;
  }
  if (!(jn->used[jn->nused] = strdup(buf))) return GD_ENOMEM;
  jn->nused++;
  return 0;
}

/* ---- the reporter ---- */

static int journal_open(struct gd_reporter *r, struct gd_error *err) {
  struct journal *jn = calloc(1, sizeof *jn);
  if (!jn) return gd_error_set(err, GD_ENOMEM, "journal: out of memory");
  r->ctx = jn;
  if (r->dir) return gd_mkdir_p(r->dir, err);
  return 0;
}

static int journal_run_end(struct gd_reporter *r, const struct gd_run *run,
                           struct gd_error *err) {
  struct journal *jn = r->ctx;
  if (!jn) return gd_error_set(err, GD_ESTATE, "journal: not open");
  cJSON *doc = gd_journal_build(run);
  if (!doc) return gd_error_set(err, GD_ENOMEM, "journal: out of memory");
  int rc = 0;
  if (r->dir) {
    char name[160];
    if (per_run_name(jn, run->sc->name, name, sizeof name)) {
      cJSON_Delete(doc);
      return gd_error_set(err, GD_ENOMEM, "journal: out of memory");
    }
    size_t len = strlen(r->dir) + strlen(name) + 2;
    char *path = malloc(len);
    if (!path) {
      cJSON_Delete(doc);
      return gd_error_set(err, GD_ENOMEM, "journal: out of memory");
    }
    snprintf(path, len, "%s/%s", r->dir, name);
    rc = write_json(path, doc, err);
    free(path);
  }
  if (!r->path) {
    cJSON_Delete(doc);
    return rc;
  }
  if (jn->n == jn->cap) {
    size_t cap = jn->cap ? jn->cap * 2 : 4;
    cJSON **nd = realloc(jn->docs, cap * sizeof *nd);
    if (!nd) {
      cJSON_Delete(doc);
      return gd_error_set(err, GD_ENOMEM, "journal: out of memory");
    }
    jn->docs = nd;
    jn->cap = cap;
  }
  jn->docs[jn->n++] = doc;
  return rc;
}

static int journal_close(struct gd_reporter *r, struct gd_error *err) {
  struct journal *jn = r->ctx;
  if (!jn || !r->path) return 0;
  if (jn->n == 1) return write_json(r->path, jn->docs[0], err);
  /* The wrapper holds references to the documents, which stay ours. */
  cJSON *w = cJSON_CreateObject();
  cJSON *arr = cJSON_CreateArray();
  if (!w || !arr || add(w, "format", cJSON_CreateString(JOURNALS_FORMAT))) {
    cJSON_Delete(w);
    cJSON_Delete(arr);
    return gd_error_set(err, GD_ENOMEM, "cannot write '%s': out of memory", r->path);
  }
  if (add(w, "journals", arr)) {
    cJSON_Delete(w);
    return gd_error_set(err, GD_ENOMEM, "cannot write '%s': out of memory", r->path);
  }
  int rc = 0;
  for (size_t i = 0; i < jn->n && !rc; i++)
    if (!cJSON_AddItemReferenceToArray(arr, jn->docs[i]))
      rc = gd_error_set(err, GD_ENOMEM, "cannot write '%s': out of memory", r->path);
  if (!rc) rc = write_json(r->path, w, err);
  cJSON_Delete(w);
  return rc;
}

static void journal_free(struct gd_reporter *r) {
  struct journal *jn = r->ctx;
  if (!jn) return;
  for (size_t i = 0; i < jn->n; i++) cJSON_Delete(jn->docs[i]);
  free(jn->docs);
  for (size_t i = 0; i < jn->nused; i++) free(jn->used[i]);
  free(jn->used);
  free(jn);
  r->ctx = NULL;
}

const struct gd_reporter_ops gd_reporter_journal = {
    .name = "journal",
    .open = journal_open,
    .run_end = journal_run_end,
    .close = journal_close,
    .free = journal_free,
};

/* gameday: `gameday check` (include/gameday/check.h). The checks of a
 * readiness file start together, each probe takes its first sample, and the
 * probe is stopped as soon as that sample is committed: a check is one
 * reading, not a watch. What decides the row is the sample's class: ok is a
 * pass; mismatch, status and exit are findings (the thing answered, and the
 * answer is wrong); everything else (refused, timeout, dns, access denied
 * reported as "error", ...) means the check could not be made, which is
 * never a pass. */
#include "gameday/check.h"

#include <cjson/cJSON.h>
#include <libxml/xmlwriter.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/curl.h"
#include "gameday/fileutil.h"
#include "gameday/probe.h"

#define STEP_MS 20

const char *gd_check_result_name(enum gd_check_result r) {
  static const char *const n[] = {"pass", "warn", "fail", "error"};
  return (unsigned)r <= GD_CHECK_ERROR ? n[r] : "error";
}

void gd_check_report_init(struct gd_check_report *rep) {
  memset(rep, 0, sizeof *rep);
  clock_gettime(CLOCK_REALTIME, &rep->started_wall);
  rep->start_ns = uv_hrtime();
}

static void row_free(struct gd_check_row *r) {
  free(r->file);
  free(r->name);
  free(r->title);
  free(r->finding);
  free(r->remediation);
}

void gd_check_report_free(struct gd_check_report *rep) {
  for (size_t i = 0; i < rep->nrows; i++) row_free(&rep->rows[i]);
  free(rep->rows);
  memset(rep, 0, sizeof *rep);
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static struct gd_check_row *add_row(struct gd_check_report *rep,
                                    const char *file, const char *name,
                                    const char *title, int warn,
                                    const char *remediation) {
  struct gd_check_row *rows = realloc(rep->rows, (rep->nrows + 1) * sizeof *rows);
  if (!rows) return NULL;
  rep->rows = rows;
  struct gd_check_row *r = &rows[rep->nrows];
  memset(r, 0, sizeof *r);
  r->file = dup_or_empty(file);
  r->name = dup_or_empty(name);
  r->title = dup_or_empty(title);
  r->remediation = dup_or_empty(remediation);
  r->finding = strdup("not checked");
  r->warn = warn;
  r->result = GD_CHECK_ERROR;
  if (!r->file || !r->name || !r->title || !r->remediation || !r->finding) {
    row_free(r);
    return NULL;
  }
  rep->nrows++;
  return r;
}

static void set_finding(struct gd_check_row *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_finding(struct gd_check_row *r, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char *f = strdup(buf);
  if (!f) return;
  free(r->finding);
  r->finding = f;
}

/* ---- running a readiness file -------------------------------------------- */

struct chk {
  struct gd_check_report *rep;
  const struct gd_scenario *sc;
  size_t first_row;
  struct gd_curl *curl;
  uv_timer_t step;
  char *got, *stopping;
  size_t left;
  int signals;
};

/* The first line of what an ok sample read, for a pass row's finding. */
static void first_line(const char *text, char *buf, size_t n) {
  size_t k = 0;
  for (; text && text[k] && text[k] != '\n' && k + 1 < n; k++)
    buf[k] = text[k] == '\t' ? ' ' : text[k];
  buf[k] = 0;
}

static void on_result(struct gd_probe *p, const struct gd_sample_result *res,
                      void *arg) {
  struct chk *c = arg;
  size_t i = (size_t)(p - c->sc->probes);
  if (c->got[i]) return;
  c->got[i] = 1;
  struct gd_check_row *r = &c->rep->rows[c->first_row + i];
  r->duration_ms = (double)(res->end_ns - res->start_ns) / 1e6;
  const char *detail = res->detail && res->detail[0]
                           ? res->detail
                           : gd_sample_class_name(res->cls);
  switch (res->cls) {
  case GD_SAMPLE_OK: {
    char line[200];
    first_line(p->result_text, line, sizeof line);
    r->result = GD_CHECK_PASS;
    /* What it read says more than "exit 0" when there is anything. */
    set_finding(r, "%s", line[0] ? line : res->detail ? res->detail : "ok");
    break;
  }
  case GD_SAMPLE_MISMATCH:
  case GD_SAMPLE_STATUS:
  case GD_SAMPLE_EXIT:
    r->result = r->warn ? GD_CHECK_WARN : GD_CHECK_FAIL;
    set_finding(r, "%s", detail);
    break;
  default:
    r->result = GD_CHECK_ERROR;
    set_finding(r, "could not check: %s", detail);
    break;
  }
}

static void step_closed(uv_handle_t *h) { (void)h; }
static void curl_closed(void *arg) { (void)arg; }

static void probe_stopped(struct gd_probe *p, void *arg) {
  struct chk *c = arg;
  (void)p;
  if (--c->left == 0) {
    uv_close((uv_handle_t *)&c->step, step_closed);
    gd_curl_close(c->curl, curl_closed, NULL);
  }
}

static void step_cb(uv_timer_t *t) {
  struct chk *c = t->data;
  if (gd_signals_count() > c->signals) {
    /* Interrupted: what has not answered is not checked. */
    c->rep->interrupted = 1;
    for (size_t i = 0; i < c->sc->nprobes; i++)
      if (!c->got[i]) {
        c->got[i] = 1;
        set_finding(&c->rep->rows[c->first_row + i],
                    "not checked: interrupted");
      }
  }
  for (size_t i = 0; i < c->sc->nprobes; i++)
    if (c->got[i] && !c->stopping[i]) {
      c->stopping[i] = 1;
      gd_probe_stop(&c->sc->probes[i], probe_stopped, c);
    }
}

int gd_check_readiness(struct gd_check_report *rep, const struct gd_scenario *sc,
                       uv_loop_t *loop, struct gd_error *err) {
  struct chk c = {.rep = rep, .sc = sc, .first_row = rep->nrows};
  int rc = 0;
  for (size_t i = 0; i < sc->nprobes; i++) {
    const struct gd_readiness_check *ck = sc->checks ? &sc->checks[i] : NULL;
    if (!add_row(rep, sc->file, sc->probes[i].name,
                 ck ? ck->title : sc->probes[i].name, ck ? ck->warn : 0,
                 ck ? ck->remediation : ""))
      return gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  c.got = calloc(sc->nprobes + 1, 1);
  c.stopping = calloc(sc->nprobes + 1, 1);
  if (!c.got || !c.stopping) {
    rc = gd_error_set(err, GD_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = gd_curl_new(loop, &c.curl, err))) goto out;
  c.signals = gd_signals_count();
  uv_timer_init(loop, &c.step);
  c.step.data = &c;
  for (size_t i = 0; i < sc->nprobes; i++) {
    struct gd_probe *p = &sc->probes[i];
    struct gd_error e = {0};
    p->on_result = on_result;
    p->on_result_arg = &c;
    p->want_text = 1; /* a pass row shows what the check read */
    if (gd_probe_start(p, loop, c.curl, &e)) {
      /* Could not even start (bad TLS file, ...): a row that says so. */
      c.got[i] = c.stopping[i] = 1;
      set_finding(&rep->rows[c.first_row + i], "could not check: %s", e.msg);
      continue;
    }
    c.left++;
  }
  if (c.left == 0) {
    uv_close((uv_handle_t *)&c.step, step_closed);
    gd_curl_close(c.curl, curl_closed, NULL);
  } else {
    uv_timer_start(&c.step, step_cb, STEP_MS, STEP_MS);
  }
  uv_run(loop, UV_RUN_DEFAULT);
out:
  free(c.got);
  free(c.stopping);
  rep->end_ns = uv_hrtime();
  return rc;
}

int gd_check_add_run(struct gd_check_report *rep, const struct gd_run *run) {
  const struct gd_scenario *sc = run->sc;
  char title[512];
  snprintf(title, sizeof title,
           "scenario %s: steady state (%zu probe(s) healthy for %llu ms), "
           "fault targets resolved and allowed",
           sc->name, sc->steady.n,
           (unsigned long long)(sc->steady_for_ns / 1000000u));
  struct gd_check_row *r =
      add_row(rep, sc->file, sc->name, title, 0,
              "make the probes the finding names healthy (the events in the "
              "journal show when they failed), or fix the fault's targets, "
              "then check again");
  if (!r) return GD_ENOMEM;
  r->duration_ms = (double)(run->end_ns - run->start_ns) / 1e6;
  if (run->verdict == GD_VERDICT_PASS) {
    r->result = GD_CHECK_PASS;
    set_finding(r, "steady state holds; targets resolved");
  } else {
    r->result = run->verdict == GD_VERDICT_ERROR ? GD_CHECK_ERROR : GD_CHECK_FAIL;
    set_finding(r, "%s", run->reason);
  }
  if (strstr(run->reason, "interrupted by")) rep->interrupted = 1;
  rep->end_ns = uv_hrtime();
  return 0;
}

/* ---- verdict and output -------------------------------------------------- */

static int row_fails(const struct gd_check_row *r) {
  return !r->warn && (r->result == GD_CHECK_FAIL || r->result == GD_CHECK_ERROR);
}

int gd_check_ready(const struct gd_check_report *rep) {
  if (rep->interrupted) return 0;
  for (size_t i = 0; i < rep->nrows; i++)
    if (row_fails(&rep->rows[i])) return 0;
  return 1;
}

static void counts(const struct gd_check_report *rep, size_t n[4]) {
  n[0] = n[1] = n[2] = n[3] = 0;
  for (size_t i = 0; i < rep->nrows; i++) {
    const struct gd_check_row *r = &rep->rows[i];
    if (r->result == GD_CHECK_PASS)
      n[0]++;
    else if (row_fails(r))
      n[r->result == GD_CHECK_ERROR ? 3 : 2]++;
    else
      n[1]++;
  }
}

void gd_check_print(const struct gd_check_report *rep, FILE *out, int color) {
  const char *red = color ? "\033[31m" : "", *green = color ? "\033[32m" : "",
             *yellow = color ? "\033[33m" : "", *bold = color ? "\033[1m" : "",
             *off = color ? "\033[0m" : "";
  size_t w = 5;
  for (size_t i = 0; i < rep->nrows; i++)
    if (strlen(rep->rows[i].name) > w) w = strlen(rep->rows[i].name);
  if (w > 40) w = 40;
  fprintf(out, "%-*s  %-6s  %s\n", (int)w, "check", "result", "finding");
  for (size_t i = 0; i < rep->nrows; i++) {
    const struct gd_check_row *r = &rep->rows[i];
    const char *res, *col;
    switch (r->result) {
    case GD_CHECK_PASS: res = "PASS"; col = green; break;
    case GD_CHECK_WARN: res = "WARN"; col = yellow; break;
    case GD_CHECK_FAIL: res = r->warn ? "WARN" : "FAIL"; col = r->warn ? yellow : red; break;
    default: res = r->warn ? "WARN" : "ERROR"; col = r->warn ? yellow : red; break;
    }
    fprintf(out, "%-*s  %s%-6s%s  %s\n", (int)w, r->name, col, res, off,
            r->finding);
    if (r->result != GD_CHECK_PASS) {
      fprintf(out, "%-*s          checks: %s\n", (int)w, "", r->title);
      if (r->remediation[0])
        fprintf(out, "%-*s          fix: %s\n", (int)w, "", r->remediation);
    }
  }
  size_t n[4];
  counts(rep, n);
  int ready = gd_check_ready(rep);
  fprintf(out, "%s%s%s%s (%zu passed, %zu failed, %zu could not be checked, "
               "%zu warning(s)%s)\n",
          bold, ready ? green : red, ready ? "READY" : "NOT READY", off, n[0],
          n[2], n[3], n[1], rep->interrupted ? "; interrupted" : "");
}

static void rfc3339(const struct timespec *ts, char *buf, size_t n) {
  struct tm tm;
  gmtime_r(&ts->tv_sec, &tm);
  snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           ts->tv_nsec / 1000000);
}

int gd_check_write_json(const struct gd_check_report *rep, const char *path,
                        struct gd_error *err) {
  char when[40];
  size_t n[4];
  counts(rep, n);
  rfc3339(&rep->started_wall, when, sizeof when);
  int ready = gd_check_ready(rep);
  cJSON *j = cJSON_CreateObject(), *m, *checks;
  if (!j) return gd_error_set(err, GD_ENOMEM, "out of memory");
  cJSON_AddStringToObject(j, "format", "gameday-journal/1");
  cJSON_AddStringToObject(j, "command", "check");
  cJSON_AddStringToObject(j, "gameday_version", GAMEDAY_VERSION);
  cJSON_AddStringToObject(j, "scenario", "check");
  cJSON_AddStringToObject(j, "verdict", ready ? "pass" : rep->interrupted ? "aborted" : "fail");
  cJSON_AddBoolToObject(j, "ready", ready);
  cJSON_AddStringToObject(j, "started_at", when);
  cJSON_AddNumberToObject(j, "duration_ms",
                          (double)(rep->end_ns - rep->start_ns) / 1e6);
  m = cJSON_AddObjectToObject(j, "measurements");
  cJSON_AddNumberToObject(m, "checks_passed", (double)n[0]);
  cJSON_AddNumberToObject(m, "checks_failed", (double)n[2]);
  cJSON_AddNumberToObject(m, "checks_not_checked", (double)n[3]);
  cJSON_AddNumberToObject(m, "checks_warned", (double)n[1]);
  cJSON_AddArrayToObject(j, "thresholds");
  checks = cJSON_AddArrayToObject(j, "checks");
  for (size_t i = 0; checks && i < rep->nrows; i++) {
    const struct gd_check_row *r = &rep->rows[i];
    cJSON *o = cJSON_CreateObject();
    if (!o) break;
    cJSON_AddItemToArray(checks, o);
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddBoolToObject(o, "ok", r->result == GD_CHECK_PASS);
    cJSON_AddStringToObject(o, "result", gd_check_result_name(r->result));
    cJSON_AddStringToObject(o, "severity", r->warn ? "warn" : "fail");
    cJSON_AddStringToObject(o, "title", r->title);
    cJSON_AddStringToObject(o, "message", r->finding);
    cJSON_AddStringToObject(o, "remediation", r->remediation);
    cJSON_AddStringToObject(o, "file", r->file);
    cJSON_AddNumberToObject(o, "duration_ms", r->duration_ms);
  }
  cJSON_AddObjectToObject(j, "probes");
  cJSON_AddArrayToObject(j, "events");
  cJSON_AddStringToObject(j, "rollback", "none");
  char *text = cJSON_Print(j);
  cJSON_Delete(j);
  if (!text) return gd_error_set(err, GD_ENOMEM, "out of memory");
  size_t len = strlen(text);
  text[len] = '\n'; /* cJSON_Print's NUL becomes the final newline */
  int rc = gd_file_write_atomic(path, text, len + 1, err);
  free(text);
  return rc;
}

int gd_check_write_junit(const struct gd_check_report *rep, const char *path,
                         struct gd_error *err) {
  size_t n[4];
  counts(rep, n);
  xmlBufferPtr buf = xmlBufferCreate();
  xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
  if (!w) {
    if (buf) xmlBufferFree(buf);
    return gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  char num[64];
  xmlTextWriterSetIndent(w, 1);
  xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL);
  xmlTextWriterStartElement(w, BAD_CAST "testsuites");
  xmlTextWriterStartElement(w, BAD_CAST "testsuite");
  xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "gameday check");
  snprintf(num, sizeof num, "%zu", rep->nrows);
  xmlTextWriterWriteAttribute(w, BAD_CAST "tests", BAD_CAST num);
  snprintf(num, sizeof num, "%zu", n[2]);
  xmlTextWriterWriteAttribute(w, BAD_CAST "failures", BAD_CAST num);
  snprintf(num, sizeof num, "%zu", n[3]);
  xmlTextWriterWriteAttribute(w, BAD_CAST "errors", BAD_CAST num);
  snprintf(num, sizeof num, "%.3f", (double)(rep->end_ns - rep->start_ns) / 1e9);
  xmlTextWriterWriteAttribute(w, BAD_CAST "time", BAD_CAST num);
  for (size_t i = 0; i < rep->nrows; i++) {
    const struct gd_check_row *r = &rep->rows[i];
    xmlTextWriterStartElement(w, BAD_CAST "testcase");
    xmlTextWriterWriteAttribute(w, BAD_CAST "classname", BAD_CAST r->file);
    xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST r->name);
    snprintf(num, sizeof num, "%.3f", r->duration_ms / 1e3);
    xmlTextWriterWriteAttribute(w, BAD_CAST "time", BAD_CAST num);
    if (row_fails(r)) {
      xmlTextWriterStartElement(
          w, BAD_CAST(r->result == GD_CHECK_ERROR ? "error" : "failure"));
      xmlTextWriterWriteAttribute(w, BAD_CAST "message", BAD_CAST r->finding);
      xmlTextWriterWriteFormatString(w, "%s\nchecks: %s\nfix: %s\n", r->finding,
                                     r->title, r->remediation);
      xmlTextWriterEndElement(w);
    } else if (r->result != GD_CHECK_PASS) {
      xmlTextWriterWriteFormatElement(w, BAD_CAST "system-out",
                                      "warning: %s\nfix: %s\n", r->finding,
                                      r->remediation);
    }
    xmlTextWriterEndElement(w);
  }
  xmlTextWriterEndDocument(w);
  xmlFreeTextWriter(w);
  int rc = gd_file_write_atomic(path, xmlBufferContent(buf),
                                (size_t)xmlBufferLength(buf), err);
  xmlBufferFree(buf);
  return rc;
}

/* gameday: the JUnit XML reporter, for CI servers (Jenkins JUnit plugin,
 * GitHub Actions test reporters). Only the attributes of the common JUnit
 * schema are used, so that every consumer reads the same counts.
 *
 * One <testsuite> per run, one <testcase> per threshold and per verify check.
 * A run that was aborted or errored has no meaningful threshold values: its
 * thresholds are skipped and a "run" test case carries the error, so that CI
 * shows the run as broken rather than as a pass with nothing checked.
 *
 * The XML of each run is rendered when the run ends (the run may be freed
 * before the last one finishes); the file is written on close, through a
 * temporary name and a rename. */
#include "gameday/reporter.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gameday/fileutil.h"
#include "gameday/format.h"

struct suite {
  char *xml; /* the whole <testsuite> element */
  unsigned tests, failures, errors, skipped;
  double time_s;
};

struct junit {
  struct suite *suites;
  size_t n, cap;
};

/* ---- XML text ---- */

static int xml_char_ok(uint32_t c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
         (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* Length of the well-formed UTF-8 sequence at s (and its code point), or 0. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp) {
  unsigned char b = s[0];
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  size_t len;
  uint32_t c;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
    c = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    c = b & 0x0F;
    if (b == 0xE0) lo = 0xA0;      /* overlong */
    if (b == 0xED) hi = 0x9F;      /* surrogates */
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    c = b & 0x07;
    if (b == 0xF0) lo = 0x90;      /* overlong */
    if (b == 0xF4) hi = 0x8F;      /* past U+10FFFF */
  } else {
    return 0;
  }
  for (size_t i = 1; i < len; i++) {
    unsigned char t = s[i];
    if (t < (i == 1 ? lo : 0x80) || t > (i == 1 ? hi : 0xBF)) return 0;
    c = (c << 6) | (t & 0x3F);
  }
  *cp = c;
  return len;
}

/* Escapes the five special characters; drops what XML 1.0 cannot carry
 * (control characters, U+FFFE/U+FFFF) and replaces malformed UTF-8 with
 * U+FFFD, so that whatever a probe or action reported cannot break the file.
 * In attributes, tab and line breaks become references: attribute value
 * normalisation would otherwise turn them into spaces. */
static void xml_put(FILE *f, const char *s, int attr) {
  if (!s) return;
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    uint32_t c;
    size_t len = utf8_decode(p, &c);
    if (!len) {
      fputs("\xEF\xBF\xBD", f);
      p++;
      continue;
    }
    if (!xml_char_ok(c)) {
      p += len;
      continue;
    }
    switch (c) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&apos;", f); break;
    case '\r': fputs("&#13;", f); break;
    case '\n': fputs(attr ? "&#10;" : "\n", f); break;
    case '\t': fputs(attr ? "&#9;" : "\t", f); break;
    default: fwrite(p, 1, len, f);
    }
    p += len;
  }
}

static void attr(FILE *f, const char *name, const char *value) {
  fprintf(f, " %s=\"", name);
  xml_put(f, value, 1);
  fputc('"', f);
}

static void attr_u(FILE *f, const char *name, unsigned v) {
  fprintf(f, " %s=\"%u\"", name, v);
}

static void attr_time(FILE *f, const char *name, double s) {
  fprintf(f, " %s=\"%.3f\"", name, isfinite(s) && s > 0 ? s : 0.0);
}

/* ---- one run ---- */

static void iso_timestamp(const struct timespec *ts, char *buf, size_t n) {
  /* The JUnit schema's timestamp has no zone designator; it is UTC here. */
  struct tm tm;
  time_t s = ts->tv_sec;
  if (!gmtime_r(&s, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm))
    snprintf(buf, n, "1970-01-01T00:00:00");
}

static void put_property(FILE *f, const char *name, const char *value) {
  fputs("      <property", f);
  attr(f, "name", name);
  attr(f, "value", value ? value : "");
  fputs("/>\n", f);
}

static void open_case(FILE *f, const char *classname, const char *name,
                      double time_s) {
  fputs("    <testcase", f);
  attr(f, "classname", classname);
  attr(f, "name", name);
  attr_time(f, "time", time_s);
}

static void put_threshold(FILE *f, const struct gd_run *run,
                          const char *classname,
                          const struct gd_threshold_result *t, int broken,
                          struct suite *s) {
  const char *name = t->th && t->th->name ? t->th->name : "?";
  const char *op = t->th && t->th->at_least ? ">=" : "<=";
  char limit[64], tcname[256];
  gd_format_number(limit, sizeof limit, t->th ? t->th->limit : NAN);
  snprintf(tcname, sizeof tcname, "%s %s %s", name, op, limit);
  s->tests++;
  open_case(f, classname, tcname, 0);

  if (broken) {
    char msg[320];
    snprintf(msg, sizeof msg, "run %s: %s", gd_verdict_name(run->verdict),
             run->reason[0] ? run->reason : gd_verdict_name(run->verdict));
    fputs(">\n      <skipped", f);
    attr(f, "message", msg);
    fputs("/>\n    </testcase>\n", f);
    s->skipped++;
    return;
  }
  if (t->pass) {
    fputs("/>\n", f);
    return;
  }

  const struct gd_measurement *m = gd_run_measurement(run, name);
  int has_unc = m && m->has_unc && m->has_value;
  double unc = has_unc ? m->unc : 0;
  char value[96], msg[320];
  if (t->has_value)
    gd_format_figure(value, sizeof value, name, t->value, 0, 0);
  else
    snprintf(value, sizeof value, "not measured");
  snprintf(msg, sizeof msg, "%s = %s, limit %s %s%s%s%s", name, value, op, limit,
           t->note[0] ? " (" : "", t->note, t->note[0] ? ")" : "");
  fputs(">\n      <failure type=\"threshold\"", f);
  attr(f, "message", msg);
  fputc('>', f);
  char detail[512];
  if (t->has_value) {
    gd_format_figure(value, sizeof value, name, t->value, has_unc, unc);
    snprintf(detail, sizeof detail, "%s = %s\nlimit: %s %s\n", name, value, op,
             limit);
  } else {
    snprintf(detail, sizeof detail, "%s was not measured\nlimit: %s %s\n", name,
             op, limit);
  }
  xml_put(f, detail, 0);
  if (t->note[0]) {
    xml_put(f, "note: ", 0);
    xml_put(f, t->note, 0);
    xml_put(f, "\n", 0);
  }
  fputs("</failure>\n    </testcase>\n", f);
  s->failures++;
}

static void put_check(FILE *f, const char *classname, const struct gd_check *c,
                      struct suite *s) {
  char tcname[256];
  snprintf(tcname, sizeof tcname, "check: %s", c->name ? c->name : "?");
  s->tests++;
  open_case(f, classname, tcname, 0);
  if (c->ok) {
    fputs("/>\n", f);
    return;
  }
  const char *msg = c->message && *c->message ? c->message : "check failed";
  fputs(">\n      <failure type=\"check\"", f);
  attr(f, "message", msg);
  fputc('>', f);
  xml_put(f, msg, 0);
  fputs("</failure>\n    </testcase>\n", f);
  s->failures++;
}

static void put_system_out(FILE *f, const struct gd_run *run) {
  fputs("    <system-out>", f);
  for (size_t i = 0; i < run->nevents; i++) {
    const struct gd_event *e = &run->events[i];
    char line[64];
    snprintf(line, sizeof line, "[%+9.3fs] %-9s ",
             gd_run_rel_ms(run, e->t_ns) / 1000.0, gd_phase_name(e->phase));
    xml_put(f, line, 0);
    xml_put(f, e->what, 0);
    fputc('\n', f);
  }
  fputs("</system-out>\n", f);
}

static int suite_build(const struct gd_run *run, const char *hostname,
                       struct suite *s, struct gd_error *err) {
  memset(s, 0, sizeof *s);
  const struct gd_scenario *sc = run->sc;
  const char *scen = sc && sc->name ? sc->name : "scenario";
  int broken =
      run->verdict == GD_VERDICT_ABORTED || run->verdict == GD_VERDICT_ERROR;
  if (run->end_ns > run->start_ns)
    s->time_s = (double)(run->end_ns - run->start_ns) / 1e9;

  /* The cases go first into their own buffer: the suite's opening tag carries
   * their counts. */
  char *body = NULL;
  size_t blen = 0;
  FILE *f = open_memstream(&body, &blen);
  if (!f) return gd_error_set(err, GD_ENOMEM, "junit: out of memory");
  size_t clen = strlen(scen) + 16;
  char *classname = malloc(clen);
  if (!classname) {
    fclose(f);
    free(body);
    return gd_error_set(err, GD_ENOMEM, "junit: out of memory");
  }
  snprintf(classname, clen, "gameday.%s", scen);

  if (broken) {
    const char *reason =
        run->reason[0] ? run->reason : gd_verdict_name(run->verdict);
    s->tests++;
    s->errors++;
    open_case(f, classname, "run", s->time_s);
    fputs(">\n      <error", f);
    attr(f, "type", gd_verdict_name(run->verdict));
    attr(f, "message", reason);
    fputc('>', f);
    xml_put(f, reason, 0);
    fputs("</error>\n    </testcase>\n", f);
  }
  for (size_t i = 0; i < run->nthresholds; i++)
    put_threshold(f, run, classname, &run->thresholds[i], broken, s);
  for (size_t i = 0; i < run->nchecks; i++)
    put_check(f, classname, &run->checks[i], s);
  put_system_out(f, run);
  free(classname);
  if (fclose(f) != 0) {
    free(body);
    return gd_error_set(err, GD_ENOMEM, "junit: out of memory");
  }

  char *xml = NULL;
  size_t xlen = 0;
  f = open_memstream(&xml, &xlen);
  if (!f) {
    free(body);
    return gd_error_set(err, GD_ENOMEM, "junit: out of memory");
  }
  char ts[32];
  iso_timestamp(&run->started_wall, ts, sizeof ts);
  fputs("  <testsuite", f);
  attr(f, "name", scen);
  attr_u(f, "tests", s->tests);
  attr_u(f, "failures", s->failures);
  attr_u(f, "errors", s->errors);
  attr_u(f, "skipped", s->skipped);
  attr_time(f, "time", s->time_s);
  attr(f, "timestamp", ts);
  attr(f, "hostname", hostname);
  fputs(">\n    <properties>\n", f);
  put_property(f, "verdict", gd_verdict_name(run->verdict));
  put_property(f, "reason", run->reason);
  put_property(f, "environment", sc ? sc->environment : NULL);
  put_property(f, "file", sc ? sc->file : NULL);
  put_property(f, "rollback", gd_rollback_name(run->rollback));
  fputs("    </properties>\n", f);
  fwrite(body, 1, blen, f);
  fputs("  </testsuite>\n", f);
  free(body);
  if (fclose(f) != 0) {
    free(xml);
    return gd_error_set(err, GD_ENOMEM, "junit: out of memory");
  }
  s->xml = xml;
  return 0;
}

static void host_name(char *buf, size_t n) {
  if (gethostname(buf, n) != 0 || !buf[0]) snprintf(buf, n, "localhost");
  buf[n - 1] = 0;
}

static int write_suites(FILE *f, const struct suite *s, size_t n) {
  unsigned tests = 0, failures = 0, errors = 0, skipped = 0;
  double time_s = 0;
  for (size_t i = 0; i < n; i++) {
    tests += s[i].tests;
    failures += s[i].failures;
    errors += s[i].errors;
    skipped += s[i].skipped;
    time_s += s[i].time_s;
  }
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", f);
  attr(f, "name", "gameday");
  attr_u(f, "tests", tests);
  attr_u(f, "failures", failures);
  attr_u(f, "errors", errors);
  attr_u(f, "skipped", skipped);
  attr_time(f, "time", time_s);
  fputs(">\n", f);
  for (size_t i = 0; i < n; i++) fputs(s[i].xml, f);
  fputs("</testsuites>\n", f);
  return ferror(f) ? -1 : 0;
}

int gd_junit_write(FILE *f, const struct gd_run *const *runs, size_t n,
                   struct gd_error *err) {
  struct suite *s = calloc(n ? n : 1, sizeof *s);
  if (!s) return gd_error_set(err, GD_ENOMEM, "junit: out of memory");
  char host[256];
  host_name(host, sizeof host);
  int rc = 0;
  size_t built = 0;
  for (; built < n && !rc; built++)
    rc = suite_build(runs[built], host, &s[built], err);
  if (!rc && write_suites(f, s, n) != 0)
    rc = gd_error_set(err, GD_EIO, "cannot write junit xml: %s", strerror(errno));
  for (size_t i = 0; i < built; i++) free(s[i].xml);
  free(s);
  return rc;
}

/* ---- the reporter ---- */

static int junit_open(struct gd_reporter *r, struct gd_error *err) {
  struct junit *j = calloc(1, sizeof *j);
  if (!j) return gd_error_set(err, GD_ENOMEM, "junit: out of memory");
  r->ctx = j;
  return 0;
}

static int junit_run_end(struct gd_reporter *r, const struct gd_run *run,
                         struct gd_error *err) {
  struct junit *j = r->ctx;
  if (!j) return gd_error_set(err, GD_ESTATE, "junit: not open");
  if (j->n == j->cap) {
    size_t cap = j->cap ? j->cap * 2 : 4;
    struct suite *ns = realloc(j->suites, cap * sizeof *ns);
    if (!ns) return gd_error_set(err, GD_ENOMEM, "junit: out of memory");
    j->suites = ns;
    j->cap = cap;
  }
  char host[256];
  host_name(host, sizeof host);
  int rc = suite_build(run, host, &j->suites[j->n], err);
  if (rc) return rc;
  j->n++;
  return 0;
}

static int junit_close(struct gd_reporter *r, struct gd_error *err) {
  struct junit *j = r->ctx;
  if (!j || !r->path) return 0;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f)
    return gd_error_set(err, GD_ENOMEM, "cannot write '%s': out of memory", r->path);
  int bad = write_suites(f, j->suites, j->n);
  if (fclose(f) != 0) bad = 1;
  if (bad) {
    free(text);
    return gd_error_set(err, GD_ENOMEM, "cannot write '%s': out of memory", r->path);
  }
  int rc = gd_file_write_atomic(r->path, text, len, err);
  free(text);
  return rc;
}

static void junit_free(struct gd_reporter *r) {
  struct junit *j = r->ctx;
  if (!j) return;
  for (size_t i = 0; i < j->n; i++) free(j->suites[i].xml);
  free(j->suites);
  free(j);
  r->ctx = NULL;
}

const struct gd_reporter_ops gd_reporter_junit = {
    .name = "junit",
    .open = junit_open,
    .run_end = junit_run_end,
    .close = junit_close,
    .free = junit_free,
};

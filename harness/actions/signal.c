/* gameday: the signal action. Sends a signal to some of the processes named
 * by pidfiles (paths or glob patterns): one at random, the first few, a
 * percentage, or all. A pidfile whose process is gone is recorded as stale,
 * not signalled: pids are reused, and a stale file must never turn into a
 * kill of some unrelated process. Everything happens synchronously within
 * run (no waiting for the processes to die: recovery is what the probes
 * measure). */
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gameday/action.h"
#include "gameday/json.h"
#include "gameday/proc.h"
#include "gameday/scenario.h"
#include "gameday/select.h"

struct signal_action {
  int sig;
  char signame[32];
  char **patterns;
  size_t npatterns;
  struct gd_select sel;
};

static const char *const signal_keys[] = {"signal", "pidfiles", "select",
                                          NULL};

/* ------------------------------------------------------------------ */
/* Load */

static int parse_signal(struct signal_action *x, const cJSON *spec,
                        const char *path, struct gd_error *err) {
  char sub[256];
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, "signal");
  gd_json_path(sub, sizeof sub, path, "signal");
  if (!v) return gd_error_set(err, GD_EINVAL, "%s: required key missing", sub);
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d != floor(d) || d < 1 || d > 64)
      return gd_error_set(err, GD_EINVAL, "%s: unknown signal '%g'", sub, d);
    x->sig = (int)d;
  } else if (cJSON_IsString(v)) {
    x->sig = gd_signal_parse(v->valuestring);
    if (!x->sig)
      return gd_error_set(err, GD_EINVAL, "%s: unknown signal '%s'", sub,
                          v->valuestring);
  } else {
    return gd_error_set(err, GD_EINVAL,
                        "%s: must be a signal name or number, like 'KILL'",
                        sub);
  }
  gd_signal_name(x->sig, x->signame, sizeof x->signame);
  return 0;
}

static int parse_pidfiles(struct signal_action *x, const cJSON *spec,
                          const char *path, struct gd_error *err) {
  char sub[256];
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, "pidfiles");
  gd_json_path(sub, sizeof sub, path, "pidfiles");
  if (cJSON_IsString(v)) {
    x->patterns = calloc(2, sizeof *x->patterns);
    if (!x->patterns || !(x->patterns[0] = strdup(v->valuestring)))
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", sub);
    x->npatterns = 1;
  } else {
    /* Absent, an array, or anything else: the getter says what is wrong. */
    int r = gd_json_get_strv(spec, "pidfiles", path, 1, &x->patterns,
                             &x->npatterns, err);
    if (r) return r;
  }
  for (size_t i = 0; i < x->npatterns; i++)
    if (!x->patterns[i][0]) {
      if (cJSON_IsString(v))
        return gd_error_set(err, GD_EINVAL, "%s: empty path", sub);
      return gd_error_set(err, GD_EINVAL, "%s[%zu]: empty path", sub, i);
    }
  return 0;
}

/* Default one at random; a percentage of the live processes rounds down
 * (but is at least one), and is a whole percent or more. */
static const struct gd_select_rules select_rules = {
    .def_mode = GD_SELECT_RANDOM,
    .min_percent = 1,
    .round = GD_SELECT_ROUND_DOWN,
};

static void signal_free(struct gd_action *a) {
  struct signal_action *x = a->ctx;
  if (!x) return;
  gd_strv_free(x->patterns);
  free(x);
  a->ctx = NULL;
}

static int signal_init(struct gd_action *a, const cJSON *spec,
                       const char *path, struct gd_error *err) {
  struct signal_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  a->ctx = x;
  int r = parse_signal(x, spec, path, err);
  if (!r) r = parse_pidfiles(x, spec, path, err);
  if (!r) r = gd_select_parse(&x->sel, spec, path, &select_rules, err);
  if (r) signal_free(a);
  return r;
}

/* Appends to buf at *pos, truncating; buf stays terminated. */
static void bprintf(char *buf, size_t n, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void bprintf(char *buf, size_t n, size_t *pos, const char *fmt, ...) {
  if (*pos + 1 >= n) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(buf + *pos, n - *pos, fmt, ap);
  va_end(ap);
  if (k < 0) return;
  *pos += (size_t)k < n - *pos ? (size_t)k : n - *pos - 1;
}

static void join_patterns(const struct signal_action *x, char *buf, size_t n,
                          const char *sep) {
  size_t pos = 0;
  buf[0] = 0;
  for (size_t i = 0; i < x->npatterns; i++)
    bprintf(buf, n, &pos, "%s%s", i ? sep : "", x->patterns[i]);
}

static void signal_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct signal_action *x = a->ctx;
  char pats[1024];
  join_patterns(x, pats, sizeof pats, ", ");
  const struct gd_select *s = &x->sel;
  if (s->mode == GD_SELECT_ALL)
    snprintf(buf, n, "%s all of %s", x->signame, pats);
  else if (s->count)
    snprintf(buf, n, "%s %lld of %s (%s)", x->signame, s->count, pats,
             gd_select_mode_name(s->mode));
  else
    snprintf(buf, n, "%s %g%% of %s (%s)", x->signame, s->percent, pats,
             gd_select_mode_name(s->mode));
}

/* ------------------------------------------------------------------ */
/* Targets */

struct cand {
  const char *path;
  long pid;
};

struct plan {
  char **paths;        /* every pidfile found, sorted, unique */
  size_t npaths, cap;
  struct cand *live;   /* in path order */
  size_t nlive;
  size_t *chosen;      /* indices into live, ascending */
  size_t nchosen;
  cJSON *stale;        /* [{pidfile, reason}] */
};

static void plan_free(struct plan *pl) {
  for (size_t i = 0; i < pl->npaths; i++) free(pl->paths[i]);
  free(pl->paths);
  free(pl->live);
  free(pl->chosen);
  cJSON_Delete(pl->stale);
  memset(pl, 0, sizeof *pl);
}

static int add_path(struct plan *pl, const char *p) {
  if (pl->npaths == pl->cap) {
    size_t cap = pl->cap ? pl->cap * 2 : 16;
    char **np = realloc(pl->paths, cap * sizeof *np);
    if (!np) return -1;
    pl->paths = np;
    pl->cap = cap;
  }
  if (!(pl->paths[pl->npaths] = strdup(p))) return -1;
  pl->npaths++;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_magic(const char *s) { return strpbrk(s, "*?[") != NULL; }

static int expand(const struct signal_action *x, struct plan *pl,
                  struct gd_error *err) {
  for (size_t i = 0; i < x->npatterns; i++) {
    glob_t g;
    int r = glob(x->patterns[i], 0, NULL, &g);
    if (r == 0) {
      for (size_t k = 0; k < g.gl_pathc; k++)
        if (add_path(pl, g.gl_pathv[k])) {
          globfree(&g);
          return gd_error_set(err, GD_ENOMEM, "out of memory");
        }
    } else if (r == GLOB_NOMATCH && !has_magic(x->patterns[i])) {
      /* A plain path that is missing is a stale pidfile worth naming,
       * not silence. */
      if (add_path(pl, x->patterns[i])) {
        globfree(&g);
        return gd_error_set(err, GD_ENOMEM, "out of memory");
      }
    } else if (r == GLOB_NOSPACE) {
      globfree(&g);
      return gd_error_set(err, GD_ENOMEM, "out of memory");
    }
    /* GLOB_ABORTED (unreadable directory) finds nothing, like no match. */
    globfree(&g);
  }
  if (pl->npaths) qsort(pl->paths, pl->npaths, sizeof *pl->paths, cmp_str);
  size_t o = 0;
  for (size_t i = 0; i < pl->npaths; i++) {
    if (o && strcmp(pl->paths[o - 1], pl->paths[i]) == 0) {
      free(pl->paths[i]);
      continue;
    }
    pl->paths[o++] = pl->paths[i];
  }
  pl->npaths = o;
  return 0;
}

static const char *errtext(int e) {
  return uv_strerror(uv_translate_sys_error(e));
}

/* Reads the pid in path: 0 and *pid, or -1 and reason. */
static int read_pid(const char *path, long *pid, char *reason, size_t n) {
  char buf[64];
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(reason, n, "cannot read: %s", errtext(errno));
    return -1;
  }
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  int rerr = ferror(f) ? errno : 0;
  int more = len == sizeof buf - 1 && fgetc(f) != EOF;
  fclose(f);
  if (rerr) {
    snprintf(reason, n, "cannot read: %s", errtext(rerr));
    return -1;
  }
  buf[len] = 0;
  char *s = buf, *e = buf + len;
  while (s < e && strchr(" \t\r\n\v\f", *s)) s++;
  while (e > s && strchr(" \t\r\n\v\f", e[-1])) e--;
  *e = 0;
  if (!*s && !more) {
    snprintf(reason, n, "empty file");
    return -1;
  }
  long v = 0;
  int ok = !more && *s != '0';
  for (char *p = s; ok && *p; p++) {
    if (*p < '0' || *p > '9' || v > 400000000) ok = 0;
    else v = v * 10 + (*p - '0');
  }
  if (!ok || v <= 0) {
    char shown[40];
    size_t k = 0;
    for (char *p = s; *p && k < 32; p++)
      shown[k++] = (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f
                       ? '?' : *p;
    shown[k] = 0;
    snprintf(reason, n, "not a pid: '%s%s'", shown,
             (more || strlen(s) > 32) ? "..." : "");
    return -1;
  }
  *pid = v;
  return 0;
}

/* A zombie answers kill(pid, 0) but is not a process that can be made to
 * fail any more; where /proc says so, count it as gone. */
static int is_zombie(long pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = 0;
  char *rp = strrchr(buf, ')');
  return rp && rp[1] == ' ' && rp[2] == 'Z';
}

static int add_stale(struct plan *pl, const char *path, const char *reason) {
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "pidfile", path) ||
      !cJSON_AddStringToObject(o, "reason", reason)) {
    cJSON_Delete(o);
    return -1;
  }
  cJSON_AddItemToArray(pl->stale, o);
  return 0;
}

static int classify(struct plan *pl, struct gd_error *err) {
  long self = (long)getpid();
  pl->stale = cJSON_CreateArray();
  pl->live = calloc(pl->npaths ? pl->npaths : 1, sizeof *pl->live);
  if (!pl->stale || !pl->live)
    return gd_error_set(err, GD_ENOMEM, "out of memory");
  for (size_t i = 0; i < pl->npaths; i++) {
    char reason[128];
    long pid;
    const char *p = pl->paths[i];
    if (read_pid(p, &pid, reason, sizeof reason) == 0) {
      if (pid == 1)
        snprintf(reason, sizeof reason, "refused: pid 1 is init");
      else if (pid == self)
        snprintf(reason, sizeof reason, "refused: pid %ld is gameday itself",
                 pid);
      else if (pid > 0x7fffffffL ||
               (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        snprintf(reason, sizeof reason, "pid %ld is not running", pid);
      else if (is_zombie(pid))
        snprintf(reason, sizeof reason,
                 "pid %ld has exited (zombie, not yet reaped)", pid);
      else {
        pl->live[pl->nlive].path = p;
        pl->live[pl->nlive].pid = pid;
        pl->nlive++;
        continue;
      }
    }
    if (add_stale(pl, p, reason))
      return gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  return 0;
}

/* The scenario's safety.max_targets caps the pick like any other action's
 * (unlimited by default in the local environment, which is where signals
 * go): a share is cut to it, a count above it refused. */
static int choose(const struct signal_action *x, const struct gd_action *a,
                  struct plan *pl, struct gd_error *err) {
  size_t n = pl->nlive, cut;
  if (n == 0) return 0;
  pl->chosen = calloc(n, sizeof *pl->chosen);
  if (!pl->chosen) return gd_error_set(err, GD_ENOMEM, "out of memory");
  return gd_select_pick(&x->sel, n, gd_scenario_max_targets(a->sc), 0,
                        "select", pl->chosen, &pl->nchosen, &cut, err);
}

static int plan_build(const struct gd_action *a, struct plan *pl,
                      struct gd_error *err) {
  const struct signal_action *x = a->ctx;
  memset(pl, 0, sizeof *pl);
  int r = expand(x, pl, err);
  if (!r) r = classify(pl, err);
  if (!r) r = choose(x, a, pl, err);
  if (r) plan_free(pl);
  return r;
}

static void no_live_message(const struct signal_action *x, size_t nstale,
                            char *buf, size_t n) {
  char pats[1024];
  size_t pos = 0;
  join_patterns(x, pats, sizeof pats, "', '");
  bprintf(buf, n, &pos, "no live process in '%s'", pats);
  if (nstale)
    bprintf(buf, n, &pos, " (%zu stale pidfile%s)", nstale,
            nstale == 1 ? "" : "s");
}

/* ------------------------------------------------------------------ */
/* Run */

static int signal_resolve(struct gd_action *a, char *buf, size_t n,
                          struct gd_error *err) {
  const struct signal_action *x = a->ctx;
  struct plan pl;
  int r = plan_build(a, &pl, err);
  if (r) return r;
  if (pl.nlive == 0) {
    char msg[GD_ERROR_MAX];
    no_live_message(x, (size_t)cJSON_GetArraySize(pl.stale), msg, sizeof msg);
    plan_free(&pl);
    return gd_error_set(err, GD_ENOTFOUND, "%s", msg);
  }
  size_t pos = 0;
  if (n) buf[0] = 0;
  int random = x->sel.mode == GD_SELECT_RANDOM && pl.nchosen < pl.nlive;
  bprintf(buf, n, &pos, "would send %s to %zu of %zu%s", x->signame,
          pl.nchosen, pl.nlive, random ? " at random, this time" : "");
  for (size_t i = 0; i < pl.nchosen; i++) {
    const struct cand *c = &pl.live[pl.chosen[i]];
    if (i == 8) {
      bprintf(buf, n, &pos, ", ...");
      break;
    }
    bprintf(buf, n, &pos, "%s pid %ld (%s)", i ? "," : ":", c->pid, c->path);
  }
  size_t nstale = (size_t)cJSON_GetArraySize(pl.stale);
  if (nstale)
    bprintf(buf, n, &pos, "; %zu stale pidfile%s", nstale,
            nstale == 1 ? "" : "s");
  plan_free(&pl);
  return 0;
}

static int signal_run(struct gd_action *a, struct gd_error *err) {
  const struct signal_action *x = a->ctx;
  struct plan pl;
  int r = plan_build(a, &pl, err);
  if (r) return r;

  cJSON *d = cJSON_CreateObject();
  cJSON *targets = cJSON_CreateArray();
  if (!d || !targets) {
    cJSON_Delete(d);
    cJSON_Delete(targets);
    plan_free(&pl);
    return gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  cJSON_AddStringToObject(d, "signal", x->signame);
  cJSON_AddNumberToObject(d, "candidates", (double)pl.nlive);
  cJSON_AddItemToObject(d, "targets", targets);
  size_t nstale = (size_t)cJSON_GetArraySize(pl.stale);
  cJSON_AddItemToObject(d, "stale", pl.stale);
  pl.stale = NULL; /* now d's */

  size_t sent = 0;
  const struct cand *first_fail = NULL, *one = NULL;
  int fail_errno = 0;
  for (size_t i = 0; i < pl.nchosen; i++) {
    const struct cand *c = &pl.live[pl.chosen[i]];
    int e = kill((pid_t)c->pid, x->sig) == 0 ? 0 : errno;
    cJSON *t = cJSON_CreateObject();
    if (t) {
      cJSON_AddStringToObject(t, "pidfile", c->path);
      cJSON_AddNumberToObject(t, "pid", (double)c->pid);
      cJSON_AddBoolToObject(t, "sent", e == 0);
      if (e)
        cJSON_AddStringToObject(t, "error", errtext(e));
      else
        cJSON_AddNullToObject(t, "error");
      cJSON_AddItemToArray(targets, t);
    }
    if (e == 0) {
      sent++;
      one = c;
    } else if (!first_fail) {
      first_fail = c;
      fail_errno = e;
    }
  }

  cJSON_Delete(a->detail);
  a->detail = d;

  if (pl.nlive == 0) {
    char msg[GD_ERROR_MAX];
    no_live_message(x, nstale, msg, sizeof msg);
    gd_action_done(a, 0, "%s", msg);
  } else if (!first_fail && pl.nchosen == 1) {
    gd_action_done(a, 1, "sent %s to pid %ld (%s)", x->signame, one->pid,
                   one->path);
  } else if (!first_fail) {
    gd_action_done(a, 1, "sent %s to %zu of %zu processes", x->signame, sent,
                   pl.nlive);
  } else if (pl.nchosen == 1) {
    gd_action_done(a, 0, "could not send %s to pid %ld (%s): %s", x->signame,
                   first_fail->pid, first_fail->path, errtext(fail_errno));
  } else {
    gd_action_done(a, 0,
                   "sent %s to %zu of %zu chosen processes; pid %ld (%s): %s",
                   x->signame, sent, pl.nchosen, first_fail->pid,
                   first_fail->path, errtext(fail_errno));
  }
  plan_free(&pl);
  return 0;
}

static void signal_cancel(struct gd_action *a) {
  /* run finishes before it returns: there is never anything to cancel. */
  (void)a;
}

const struct gd_action_ops gd_action_signal = {
    .type = "signal",
    .keys = signal_keys,
    .init = signal_init,
    .describe = signal_describe,
    .resolve = signal_resolve,
    .run = signal_run,
    .cancel = signal_cancel,
    .free = signal_free,
};

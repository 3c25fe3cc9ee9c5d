/* The gameday runner of gdrun.h. */
#include "gdrun.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* Not a CUnit assertion: that would add to every test's count of checks. */
static void *need(void *p) {
  if (!p) {
    fprintf(stderr, "gdrun: out of memory\n");
    abort();
  }
  return p;
}

static void args_addv(struct gd_gdrun_args *a, const char *fmt, va_list ap) {
  va_list aq;
  va_copy(aq, ap);
  int n = vsnprintf(NULL, 0, fmt, aq);
  va_end(aq);
  if (n < 0) n = 0;
  /* One more slot than used: the list stays NULL-terminated. */
  if (a->n + 2 > a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 16;
    a->v = need(realloc(a->v, cap * sizeof *a->v));
    a->cap = cap;
  }
  char *s = need(malloc((size_t)n + 1));
  s[0] = 0;
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  a->v[a->n++] = s;
  a->v[a->n] = NULL;
}

void gd_gdrun_arg(struct gd_gdrun_args *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  args_addv(a, fmt, ap);
  va_end(ap);
}

void gd_gdrun_var(struct gd_gdrun_args *a, const char *fmt, ...) {
  gd_gdrun_arg(a, "--var");
  va_list ap;
  va_start(ap, fmt);
  args_addv(a, fmt, ap);
  va_end(ap);
}

void gd_gdrun_args_free(struct gd_gdrun_args *a) {
  for (size_t i = 0; i < a->n; i++) free(a->v[i]);
  free(a->v);
  memset(a, 0, sizeof *a);
}

static void copy_path(char *dst, size_t n, const char *src) {
  snprintf(dst, n, "%s", src ? src : "");
}

int gd_gdrun_start(struct gd_gdrun *r, char *const args[],
                   const struct gd_gdrun_io *io) {
  memset(r, 0, sizeof *r);
  copy_path(r->out_file, sizeof r->out_file, io->out);
  copy_path(r->err_file, sizeof r->err_file, io->err);
  copy_path(r->journal_file, sizeof r->journal_file, io->journal);
  r->grace_ms = io->grace_ms;
  r->status = -1;

  char bin[4096];
  snprintf(bin, sizeof bin, "%s", gd_test_bin("gameday"));
  size_t nargs = 0;
  while (args && args[nargs]) nargs++;
  /* Built before the fork: the child only opens, dups and execs. */
  char **argv = calloc(nargs + 2, sizeof *argv);
  if (!argv) {
    r->pid = -1;
    return -1;
  }
  argv[0] = bin;
  for (size_t i = 0; i < nargs; i++) argv[i + 1] = args[i];

  r->pid = fork();
  if (r->pid == 0) {
    int fo = open(r->out_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = r->err_file[0]
                 ? open(r->err_file, O_WRONLY | O_CREAT | O_TRUNC, 0644)
                 : fo;
    int nul = open("/dev/null", O_RDONLY);
    if (fo < 0 || fe < 0 || nul < 0) _exit(127);
    dup2(fo, 1);
    dup2(fe, 2);
    dup2(nul, 0);
    execv(bin, argv);
    _exit(127);
  }
  free(argv);
  return r->pid > 0 ? 0 : -1;
}

/* Past the timeout: SIGTERM lets an interrupted run roll back, which a
 * test that changed real state may need; SIGKILL only when that hangs
 * too. */
static void stop(struct gd_gdrun *r, int timeout_ms) {
  printf("\n    gameday did not finish in %d ms; stopping it", timeout_ms);
  if (r->grace_ms > 0) {
    kill(r->pid, SIGTERM);
    if (gd_test_wait(r->pid, r->grace_ms) >= 0) return;
  }
  kill(r->pid, SIGKILL);
  gd_test_wait(r->pid, 5000);
}

int gd_gdrun_wait(struct gd_gdrun *r, int timeout_ms) {
  if (r->pid > 0) {
    r->status = gd_test_wait(r->pid, timeout_ms);
    if (r->status < 0) stop(r, timeout_ms);
    r->pid = 0;
  }
  r->out = gd_test_read_file(r->out_file);
  if (r->err_file[0]) r->err = gd_test_read_file(r->err_file);
  if (r->journal_file[0]) {
    char *text = gd_test_read_file(r->journal_file);
    r->journal = text ? cJSON_Parse(text) : NULL;
    free(text);
  }
  return r->status;
}

int gd_gdrun(struct gd_gdrun *r, char *const args[],
             const struct gd_gdrun_io *io, int timeout_ms) {
  gd_gdrun_start(r, args, io);
  return gd_gdrun_wait(r, timeout_ms);
}

void gd_gdrun_dump(const struct gd_gdrun *r) {
  if (r->err_file[0])
    printf("\n    gameday exit %d\n--- gameday stdout ---\n%s"
           "--- gameday stderr ---\n%s--- end ---\n",
           r->status, r->out ? r->out : "", r->err ? r->err : "");
  else
    printf("\n    gameday exit %d\n--- gameday output ---\n%s--- end ---\n",
           r->status, r->out ? r->out : "");
}

void gd_gdrun_free(struct gd_gdrun *r) {
  free(r->out);
  free(r->err);
  cJSON_Delete(r->journal);
  r->out = r->err = NULL;
  r->journal = NULL;
}

const cJSON *gd_jget(const cJSON *o, const char *path) {
  char key[128];
  while (o && *path) {
    size_t n = strcspn(path, ".");
    if (n >= sizeof key) return NULL;
    memcpy(key, path, n);
    key[n] = 0;
    path += n + (path[n] == '.');
    if (cJSON_IsArray(o) && key[0] >= '0' && key[0] <= '9')
      o = cJSON_GetArrayItem(o, atoi(key));
    else
      o = cJSON_GetObjectItemCaseSensitive(o, key);
  }
  return o;
}

double gd_jnum(const cJSON *o, const char *path) {
  const cJSON *v = gd_jget(o, path);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

const char *gd_jstr(const cJSON *o, const char *path) {
  const cJSON *v = gd_jget(o, path);
  return cJSON_IsString(v) ? v->valuestring : "";
}

const cJSON *gd_jfind(const cJSON *o, const char *path, const char *key,
                      const char *value) {
  const cJSON *e;
  cJSON_ArrayForEach(e, gd_jget(o, path)) {
    if (strcmp(gd_jstr(e, key), value) == 0) return e;
  }
  return NULL;
}

int gd_jfailed_then_recovered(const cJSON *j, const char *probe) {
  char path[128];
  snprintf(path, sizeof path, "probes.%s.timeline", probe);
  const cJSON *span;
  int failed = 0, last_ok = 0;
  /* A span is [start_ms, end_ms, "ok" or "fail", count], from t0. */
  cJSON_ArrayForEach(span, gd_jget(j, path)) {
    int ok = strcmp(gd_jstr(span, "2"), "ok") == 0;
    if (!ok && gd_jnum(span, "0") >= 0) failed = 1;
    last_ok = ok;
  }
  return failed && last_ok;
}

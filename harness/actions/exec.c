/* gameday: the exec action. Runs a command (no shell unless asked) and
 * succeeds when it exits with the expected status. The journal gets the
 * exit status, the signal that ended it if any, and the last 4 KiB of its
 * combined stdout and stderr.
 *
 * Once t0 has happened the command also gets GAMEDAY_T0 (RFC 3339 UTC with
 * milliseconds) and GAMEDAY_T0_MS (Unix epoch milliseconds): a recovery
 * procedure such as a point-in-time restore needs the instant of the fault
 * it repairs, which is only known at run time. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gameday/action.h"
#include "gameday/proc.h"

struct exec_action {
  struct gd_proc_cmd cmd;
  struct gd_proc *proc; /* while running */
};

static int exec_init(struct gd_action *a, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  struct exec_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  int r = gd_proc_cmd_parse(&x->cmd, spec, path, err);
  if (r) {
    free(x);
    return r;
  }
  a->ctx = x;
  return 0;
}

static void exec_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct exec_action *x = a->ctx;
  gd_proc_cmd_describe(&x->cmd, buf, n);
}

static int exec_resolve(struct gd_action *a, char *buf, size_t n,
                        struct gd_error *err) {
  const struct exec_action *x = a->ctx;
  return gd_proc_cmd_check(&x->cmd, buf, n, err);
}

static void on_exit_done(struct gd_proc *pr, const struct gd_proc_result *r,
                         void *arg) {
  struct gd_action *a = arg;
  struct exec_action *x = a->ctx;
  const char *sep = r->last_line[0] ? ": " : "";
  char sig[32];
  (void)pr;

  x->proc = NULL;
  if (r->term_signal) gd_signal_name(r->term_signal, sig, sizeof sig);

  cJSON *d = cJSON_CreateObject();
  if (d) {
    if (r->term_signal) {
      cJSON_AddNullToObject(d, "exit");
      cJSON_AddStringToObject(d, "signal", sig);
    } else {
      cJSON_AddNumberToObject(d, "exit", (double)r->exit_status);
      cJSON_AddNullToObject(d, "signal");
    }
    cJSON_AddStringToObject(d, "output", r->output);
    if (r->truncated) cJSON_AddTrueToObject(d, "output_truncated");
    cJSON_Delete(a->detail);
    a->detail = d;
  }

  unsigned long long ms = r->duration_ns / 1000000;
  if (r->killed)
    gd_action_done(a, 0, "cancelled after %llu ms, process group killed%s%s",
                   ms, sep, r->last_line);
  else if (r->term_signal)
    gd_action_done(a, 0, "killed by %s%s%s", sig, sep, r->last_line);
  else if (r->exit_status == x->cmd.expect_exit)
    gd_action_done(a, 1, "exit %lld", (long long)r->exit_status);
  else if (x->cmd.expect_exit == 0)
    gd_action_done(a, 0, "exit %lld%s%s", (long long)r->exit_status, sep,
                   r->last_line);
  else
    gd_action_done(a, 0, "exit %lld (expected %d)%s%s",
                   (long long)r->exit_status, x->cmd.expect_exit, sep,
                   r->last_line);
}

static int exec_run(struct gd_action *a, struct gd_error *err) {
  struct exec_action *x = a->ctx;
  int64_t t0 = gd_action_t0_unix_ms(a);
  if (!t0) return gd_proc_spawn(a->loop, &x->cmd, on_exit_done, a, &x->proc, err);
  char iso[80], ms[48];
  time_t secs = (time_t)(t0 / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  snprintf(iso, sizeof iso, "GAMEDAY_T0=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, (int)(t0 % 1000));
  snprintf(ms, sizeof ms, "GAMEDAY_T0_MS=%" PRId64, t0);
  const char *env[] = {iso, ms, NULL};
  return gd_proc_spawn_env(a->loop, &x->cmd, env, on_exit_done, a, &x->proc,
                           err);
}

static void exec_cancel(struct gd_action *a) {
  struct exec_action *x = a->ctx;
  if (x->proc) gd_proc_kill(x->proc);
}

static void exec_free(struct gd_action *a) {
  struct exec_action *x = a->ctx;
  if (!x) return;
  gd_proc_cmd_free(&x->cmd);
  free(x);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_exec = {
    .type = "exec",
    .keys = gd_proc_cmd_keys,
    .init = exec_init,
    .describe = exec_describe,
    .resolve = exec_resolve,
    .run = exec_run,
    .cancel = exec_cancel,
    .free = exec_free,
};

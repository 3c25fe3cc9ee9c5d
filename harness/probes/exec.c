/* gameday: the exec probe. Each sample runs a command (no shell unless
 * asked) and is ok when it exits with the expected status. A sample that
 * outlives its timeout is cancelled by the scheduler, which here means
 * SIGKILL to the command's whole process group; the sample ends only once
 * the process is reaped and its handles are closed. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>

#include "gameday/probe.h"
#include "gameday/proc.h"

struct exec_probe {
  struct gd_proc_cmd cmd;
};

static int exec_init(struct gd_probe *p, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  struct exec_probe *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  int r = gd_proc_cmd_parse(&x->cmd, spec, path, err);
  if (r) {
    free(x);
    return r;
  }
  p->ctx = x;
  return 0;
}

static void exec_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct exec_probe *x = p->ctx;
  gd_proc_cmd_describe(&x->cmd, buf, n);
}

/* Output that is one number ("1000\n", as `wc -l < f` prints) becomes the
 * sample's value, so that compare can publish a difference of it. */
static void set_number(struct gd_sample *s, const char *out) {
  char *end;
  while (isspace((unsigned char)*out)) out++;
  if (!*out) return;
  double v = strtod(out, &end);
  while (isspace((unsigned char)*end)) end++;
  if (!*end && isfinite(v)) gd_sample_set_value(s, v);
}

static void on_exit_done(struct gd_proc *pr, const struct gd_proc_result *r,
                         void *arg) {
  struct gd_sample *s = arg;
  const struct exec_probe *x = s->probe->ctx;
  const char *sep = r->last_line[0] ? ": " : "";
  char sig[32];
  (void)pr;

  s->data = NULL;
  if (r->killed)
    gd_sample_done(s, GD_SAMPLE_TIMEOUT,
                   "no exit within %llu ms, process group killed%s%s",
                   (unsigned long long)(s->probe->timeout_ns / 1000000), sep,
                   r->last_line);
  else if (r->term_signal)
    gd_sample_done(s, GD_SAMPLE_EXIT, "killed by %s%s%s",
                   gd_signal_name(r->term_signal, sig, sizeof sig), sep,
                   r->last_line);
  else if (r->exit_status == x->cmd.expect_exit) {
    set_number(s, r->output);
    gd_sample_set_text(s, r->output, r->output_len);
    gd_sample_done(s, GD_SAMPLE_OK, "exit %lld", (long long)r->exit_status);
  }
  else
    gd_sample_done(s, GD_SAMPLE_EXIT, "exit %lld (expected %d)%s%s",
                   (long long)r->exit_status, x->cmd.expect_exit, sep,
                   r->last_line);
}

static int exec_sample(struct gd_probe *p, struct gd_sample *s,
                       struct gd_error *err) {
  const struct exec_probe *x = p->ctx;
  struct gd_proc *pr;
  int r = gd_proc_spawn(p->loop, &x->cmd, on_exit_done, s, &pr, err);
  if (r) return r;
  s->data = pr;
  return 0;
}

static void exec_cancel(struct gd_probe *p, struct gd_sample *s) {
  (void)p;
  /* s->data is the running process, or NULL once it has ended. */
  if (s->data) gd_proc_kill(s->data);
}

static void exec_free(struct gd_probe *p) {
  struct exec_probe *x = p->ctx;
  if (!x) return;
  gd_proc_cmd_free(&x->cmd);
  free(x);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_exec = {
    .type = "exec",
    .keys = gd_proc_cmd_keys,
    .init = exec_init,
    .describe = exec_describe,
    .sample = exec_sample,
    .cancel = exec_cancel,
    .free = exec_free,
};

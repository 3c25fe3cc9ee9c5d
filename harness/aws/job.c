/* gameday: an AWS action as a chain of steps (awsjob.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gameday/awsjob.h"

int gd_awsjob_start(struct gd_awsjob *j, struct gd_action *a, void *data,
                    const char *region, const struct gd_aws_options *opts,
                    struct gd_error *err) {
  if (gd_awsjob_active(j))
    return gd_error_set(err, GD_ESTATE, "%s: already running", a->path);
  memset(j, 0, sizeof *j);
  j->a = a;
  j->data = data;
  struct gd_aws_options o = {0};
  if (opts) o = *opts;
  if (region) o.region = region;
  int rc = gd_aws_new(a->loop, a->curl, &o, &j->aws, err);
  if (rc) {
    if (err) {
      char m[GD_ERROR_MAX];
      snprintf(m, sizeof m, "%s", err->msg);
      gd_error_set(err, rc, "%s: %s", a->path, m);
    }
    j->aws = NULL;
    return rc;
  }
  uv_timer_init(a->loop, &j->timer);
  j->timer.data = j;
  j->timer_open = 1;
  j->started_ns = uv_hrtime();
  return 0;
}

int gd_awsjob_active(const struct gd_awsjob *j) {
  return j->aws != NULL || j->timer_open;
}

double gd_awsjob_elapsed_s(const struct gd_awsjob *j) {
  return (double)(uv_hrtime() - j->started_ns) / 1e9;
}

static void closed_one(struct gd_awsjob *j) {
  if (--j->closes > 0) return;
  struct gd_action *a = j->a;
  char msg[sizeof j->msg];
  int ok = j->ok;
  snprintf(msg, sizeof msg, "%s", j->msg);
  j->finishing = 0;
  /* The job may be started again from the done callback. */
  gd_action_done(a, ok, "%s", msg);
}

static void timer_closed(uv_handle_t *h) {
  struct gd_awsjob *j = h->data;
  j->timer_open = 0;
  closed_one(j);
}

static void aws_closed(void *arg) {
  struct gd_awsjob *j = arg;
  j->aws = NULL;
  closed_one(j);
}

static void vfinish(struct gd_awsjob *j, int ok, const char *fmt, va_list ap) {
  if (j->finishing) return;
  j->finishing = 1;
  j->ok = ok;
  vsnprintf(j->msg, sizeof j->msg, fmt, ap);
  /* One count for this function, so nothing completes under our feet. */
  j->closes = 1;
  if (j->call) {
    struct gd_aws_call *c = j->call;
    j->call = NULL;
    gd_aws_cancel(c); /* on_answer ignores it: finishing */
  }
  if (j->timer_open) {
    j->closes++;
    uv_timer_stop(&j->timer);
    uv_close((uv_handle_t *)&j->timer, timer_closed);
  }
  if (j->aws) {
    j->closes++;
    gd_aws_close(j->aws, aws_closed, j);
  }
  closed_one(j);
}

void gd_awsjob_finish(struct gd_awsjob *j, int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfinish(j, ok, fmt, ap);
  va_end(ap);
}

static void on_answer(struct gd_aws_result *res, const struct gd_error *e,
                      void *arg) {
  struct gd_awsjob *j = arg;
  j->call = NULL;
  if (j->finishing) return;
  if (e && e->code == GD_ECANCELED) {
    gd_awsjob_finish(j, 0, "cancelled during %s", j->doing);
    return;
  }
  gd_awsjob_cb cb = j->cb;
  j->cb = NULL;
  cb(j, res, e);
}

void gd_awsjob_call(struct gd_awsjob *j, const char *service,
                    const char *operation, const cJSON *params,
                    gd_awsjob_cb cb) {
  struct gd_error e = {0};
  snprintf(j->doing, sizeof j->doing, "%s %s", service, operation);
  j->cb = cb;
  if (gd_aws_call(j->aws, service, operation, params, on_answer, j, &j->call,
                  &e)) {
    j->call = NULL;
    gd_awsjob_finish(j, 0, "%s %s: %s", service, operation, e.msg);
  }
}

static void on_timer(uv_timer_t *t) {
  struct gd_awsjob *j = t->data;
  void (*wake)(struct gd_awsjob *) = j->wake;
  j->wake = NULL;
  if (wake) wake(j);
}

void gd_awsjob_sleep(struct gd_awsjob *j, unsigned ms,
                     void (*wake)(struct gd_awsjob *j), const char *what) {
  snprintf(j->doing, sizeof j->doing, "waiting for %s", what);
  j->wake = wake;
  uv_timer_start(&j->timer, on_timer, ms, 0);
}

void gd_awsjob_cancel(struct gd_awsjob *j) {
  if (!gd_awsjob_active(j) || j->finishing) return;
  if (j->call) {
    gd_aws_cancel(j->call); /* on_answer, right here: finishes */
    return;
  }
  gd_awsjob_finish(j, 0, "cancelled while %s", j->doing);
}

/* gameday: the sleep action: wait ms milliseconds (between fault steps, or
 * to let a rollback settle). */
#include <stdio.h>
#include <stdlib.h>

#include "gameday/action.h"
#include "gameday/json.h"

struct sleep_action {
  uint64_t ns;
  uv_timer_t timer;
  uint64_t start_ns;
  int active;      /* timer open: between run and its close callback */
  int cancelled;
};

static const char *const sleep_keys[] = {"ms", NULL};

static int sleep_init(struct gd_action *a, const cJSON *spec, const char *path,
                      struct gd_error *err) {
  uint64_t ns = 0;
  int r = gd_json_get_ms(spec, "ms", path, 1, 0, &ns, err);
  if (r) return r;
  struct sleep_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  x->ns = ns;
  /* A sleep longer than the default action timeout would always time out;
   * unless a timeout was asked for, give it room. */
  if (!cJSON_HasObjectItem(spec, "timeout_ms") && a->timeout_ns <= ns)
    a->timeout_ns = ns + (uint64_t)GD_ACTION_DEFAULT_TIMEOUT_MS * 1000000;
  a->ctx = x;
  return 0;
}

static void sleep_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct sleep_action *x = a->ctx;
  snprintf(buf, n, "sleep %llu ms", (unsigned long long)(x->ns / 1000000));
}

static void on_close(uv_handle_t *h) {
  struct gd_action *a = h->data;
  struct sleep_action *x = a->ctx;
  uint64_t ms = (uv_hrtime() - x->start_ns) / 1000000;
  x->active = 0;
  if (x->cancelled)
    gd_action_done(a, 0, "cancelled after %llu ms", (unsigned long long)ms);
  else
    gd_action_done(a, 1, "slept %llu ms", (unsigned long long)ms);
}

static void on_timer(uv_timer_t *t) {
  uv_close((uv_handle_t *)t, on_close);
}

static int sleep_run(struct gd_action *a, struct gd_error *err) {
  struct sleep_action *x = a->ctx;
  int r = uv_timer_init(a->loop, &x->timer);
  if (r)
    return gd_error_set(err, GD_EIO, "%s: timer: %s", a->path, uv_strerror(r));
  x->timer.data = a;
  x->cancelled = 0;
  x->start_ns = uv_hrtime();
  /* Never shorter than asked: round up, and count from now rather than from
   * the loop's cached time, which may be stale by a long callback. */
  uint64_t ms = (x->ns + 999999) / 1000000;
  uv_update_time(a->loop);
  /* Cannot fail: the callback is set and the handle is new. */
  uv_timer_start(&x->timer, on_timer, ms, 0);
  x->active = 1;
  return 0;
}

static void sleep_cancel(struct gd_action *a) {
  struct sleep_action *x = a->ctx;
  if (!x->active || uv_is_closing((uv_handle_t *)&x->timer)) return;
  x->cancelled = 1;
  uv_timer_stop(&x->timer);
  uv_close((uv_handle_t *)&x->timer, on_close);
}

static void sleep_free(struct gd_action *a) {
  free(a->ctx);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_sleep = {
    .type = "sleep",
    .keys = sleep_keys,
    .init = sleep_init,
    .describe = sleep_describe,
    .run = sleep_run,
    .cancel = sleep_cancel,
    .free = sleep_free,
};

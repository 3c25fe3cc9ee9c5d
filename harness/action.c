/* gameday: the generic part of actions: the keys every kind shares, and the
 * run/done protocol that guarantees one callback per run. */
#include "gameday/action.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/json.h"
#include "gameday/run.h"

static const char *const generic_keys[] = {"type", "name", "timeout_ms", NULL};

int gd_action_init(struct gd_action *a, const cJSON *spec, const char *path,
                   struct gd_error *err) {
  memset(a, 0, sizeof *a);
  if (!cJSON_IsObject(spec))
    return gd_error_set(err, GD_EINVAL, "%s: must be an object", path);
  const char *type = NULL;
  int rc = gd_json_get_string(spec, "type", path, 1, &type, err);
  if (rc) return rc;
  const struct gd_action_ops *ops = gd_action_kind(type);
  if (!ops || !ops->init) {
    char known[GD_ERROR_MAX];
    return gd_error_set(err, GD_EINVAL, "%s.type: unknown action type '%s' (known: %s)",
                        path, type, gd_action_kind_names(known, sizeof known));
  }
  rc = gd_json_check_keys(spec, path, generic_keys, ops->keys, err);
  if (rc) return rc;
  const char *name = type;
  rc = gd_json_get_string(spec, "name", path, 0, &name, err);
  if (rc) return rc;
  uint64_t timeout_ns = (uint64_t)GD_ACTION_DEFAULT_TIMEOUT_MS * 1000000u;
  rc = gd_json_get_ms(spec, "timeout_ms", path, 0, 1, &timeout_ns, err);
  if (rc) return rc;
  a->ops = ops;
  a->timeout_ns = timeout_ns;
  a->name = strdup(name);
  a->path = strdup(path);
  if (!a->name || !a->path) {
    gd_action_free(a);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  rc = ops->init(a, spec, path, err);
  if (rc) {
    a->ops = NULL; /* the kind cleaned up after itself */
    gd_action_free(a);
    return rc;
  }
  return 0;
}

void gd_action_free(struct gd_action *a) {
  if (!a) return;
  if (a->ops && a->ops->free) a->ops->free(a);
  free(a->name);
  free(a->path);
  free(a->message);
  cJSON_Delete(a->detail);
  memset(a, 0, sizeof *a);
}

static void reset_result(struct gd_action *a) {
  free(a->message);
  a->message = NULL;
  cJSON_Delete(a->detail);
  a->detail = NULL;
  a->ok = 0;
  a->cancelled = 0;
  a->started_ns = a->ended_ns = 0;
  a->nfigures = 0;
}

int gd_action_run(struct gd_action *a, uv_loop_t *loop, struct gd_curl *curl,
                  gd_action_cb cb, void *arg, struct gd_error *err) {
  if (a->running)
    return gd_error_set(err, GD_ESTATE, "%s: already running", a->path);
  reset_result(a);
  a->loop = loop;
  a->curl = curl;
  a->cb = cb;
  a->cb_arg = arg;
  a->running = 1;
  a->started_ns = uv_hrtime();
  struct gd_error e = {0};
  int rc = a->ops->run(a, &e);
  if (rc) {
    a->running = 0;
    a->ended_ns = uv_hrtime();
    a->ok = 0;
    a->message = strdup(e.msg[0] ? e.msg : gd_strerror(rc));
    gd_error_set(err, rc, "%s", e.msg[0] ? e.msg : gd_strerror(rc));
    return rc;
  }
  return 0;
}

void gd_action_cancel(struct gd_action *a) {
  if (!a->running || a->cancelled) return;
  a->cancelled = 1;
  if (a->ops->cancel) a->ops->cancel(a);
}

void gd_action_done(struct gd_action *a, int ok, const char *fmt, ...) {
  if (!a->running) return; /* a kind bug must not call back twice */
  a->running = 0;
  a->ended_ns = uv_hrtime();
  a->ok = ok && !a->cancelled;
  free(a->message);
  a->message = NULL;
  if (fmt) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    a->message = strdup(buf);
  }
  if (a->cb) a->cb(a, a->cb_arg);
}

void gd_action_add_figure(struct gd_action *a, const char *name, double v) {
  for (unsigned i = 0; i < a->nfigures; i++)
    if (strcmp(a->figures[i].name, name) == 0) {
      a->figures[i].value = v;
      return;
    }
  if (a->nfigures == GD_PROBE_MAX_FIGURES) return;
  snprintf(a->figures[a->nfigures].name, sizeof a->figures[0].name, "%s", name);
  a->figures[a->nfigures].value = v;
  a->nfigures++;
}

int64_t gd_action_t0_unix_ms(const struct gd_action *a) {
  const struct gd_run *run = a->run;
  if (!run || !run->t0_ns) return 0;
  /* started_wall and start_ns were read together at the start of the run;
   * the monotonic clock carries it to t0. */
  int64_t wall_ns = (int64_t)run->started_wall.tv_sec * 1000000000 +
                    run->started_wall.tv_nsec;
  return (wall_ns + (int64_t)(run->t0_ns - run->start_ns)) / 1000000;
}

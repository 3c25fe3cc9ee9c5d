/* gameday: the compare action, the "compare" half of capture-and-compare.
 *
 * A verify step {"type": "compare", "probe": "fingerprint"} names a probe;
 * the loader marks that probe for capture, and the driver copies its last ok
 * result (the text the kind attached: query rows, a body, a command's
 * output; and its value) just before the first fault action. This action
 * then waits for the probe's next ok sample that started after the step
 * began, so that what it compares was read after the recovery, and is ok
 * when that result's text equals the capture.
 *
 * With "figure": NAME it also publishes captured value minus current value
 * under NAME, so that a fingerprint whose first column is a row count gives
 * rows_lost (the RPO of a restore) as a figure thresholds can name.
 *
 * With "against": OTHER it compares the probe's fresh result with OTHER's
 * capture instead of its own: a restore into a new cluster is verified by a
 * probe on the restored endpoint (which has nothing to capture before the
 * fault) against the capture of the same query on the source.
 *
 * It watches the probe by polling its last result every few milliseconds:
 * the probe keeps sampling at its own rate, and a poll costs nothing next to
 * that, whereas a second result observer would complicate the probe core
 * for this one reader. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/json.h"
#include "gameday/scenario.h"

#define COMPARE_POLL_MS 5

struct compare_action {
  char *probe;
  char *figure; /* NULL: none */
  char *against; /* the probe whose capture is compared; NULL: probe's */
  uv_timer_t poll;
  int open;     /* poll handle open */
  int ok;
  char msg[512];
};

static const char *const compare_keys[] = {"probe", "figure", "against",
                                           NULL};

static int compare_init(struct gd_action *a, const cJSON *spec,
                        const char *path, struct gd_error *err) {
  const char *probe = NULL, *figure = NULL, *against = NULL;
  int rc = gd_json_get_string(spec, "probe", path, 1, &probe, err);
  if (!rc) rc = gd_json_get_string(spec, "figure", path, 0, &figure, err);
  if (!rc) rc = gd_json_get_string(spec, "against", path, 0, &against, err);
  if (rc) return rc;
  if (figure && !figure[0])
    return gd_error_set(err, GD_EINVAL, "%s.figure: must not be empty", path);
  struct compare_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  x->probe = strdup(probe);
  x->figure = figure ? strdup(figure) : NULL;
  x->against = against ? strdup(against) : NULL;
  if (!x->probe || (figure && !x->figure) || (against && !x->against)) {
    free(x->probe);
    free(x->figure);
    free(x->against);
    free(x);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  a->ctx = x;
  return 0;
}

static void compare_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct compare_action *x = a->ctx;
  if (x->against)
    snprintf(buf, n, "compare probe %s with the capture of %s at t0%s%s",
             x->probe, x->against, x->figure ? "; figure " : "",
             x->figure ? x->figure : "");
  else
    snprintf(buf, n, "compare probe %s with its capture at t0%s%s", x->probe,
             x->figure ? "; figure " : "", x->figure ? x->figure : "");
}

/* The probe read after recovery, and the one whose capture it is compared
 * with (itself unless "against" names another). */
static const char *compare_probe_ref(const struct gd_action *a, int i,
                                     const char **key, int *capture) {
  const struct compare_action *x = a->ctx;
  if (i == 0) {
    *key = "probe";
    *capture = !x->against;
    return x->probe;
  }
  if (i == 1 && x->against) {
    *key = "against";
    *capture = 1;
    return x->against;
  }
  return NULL;
}

static int compare_has_figure(const struct gd_action *a, const char *name) {
  const struct compare_action *x = a->ctx;
  return x->figure && strcmp(x->figure, name) == 0;
}

/* "5000\t9b1f...\n" shown on one line ("5000 9b1f..."), cut, for messages:
 * tabs become spaces, newlines between rows '|'. */
static void show(const char *t, char *buf, size_t n) {
  size_t len = t ? strlen(t) : 0, k = 0;
  while (len && t[len - 1] == '\n') len--;
  for (size_t i = 0; i < len && k + 1 < n; i++) {
    char c = t[i];
    buf[k++] = c == '\t' ? ' ' : c == '\n' ? '|' : (unsigned char)c < 0x20 ? '?' : c;
  }
  buf[k] = 0;
  if (k < len && n > 4) memcpy(buf + n - 4, "...", 4);
}

static void poll_closed(uv_handle_t *h) {
  struct gd_action *a = h->data;
  struct compare_action *x = a->ctx;
  x->open = 0;
  gd_action_done(a, x->ok, "%s", x->msg);
}

static void finish(struct gd_action *a, int ok) {
  struct compare_action *x = a->ctx;
  x->ok = ok;
  uv_timer_stop(&x->poll);
  uv_close((uv_handle_t *)&x->poll, poll_closed);
}

static struct gd_probe *find_named(const struct gd_action *a,
                                   const char *name) {
  long k = a->sc ? gd_scenario_probe_index(a->sc, name) : -1;
  return k < 0 ? NULL : &a->sc->probes[k];
}

static struct gd_probe *find_probe(const struct gd_action *a) {
  const struct compare_action *x = a->ctx;
  return find_named(a, x->probe);
}

/* The probe whose capture is compared. */
static struct gd_probe *find_captured(const struct gd_action *a) {
  const struct compare_action *x = a->ctx;
  return find_named(a, x->against ? x->against : x->probe);
}

static void poll_cb(uv_timer_t *t) {
  struct gd_action *a = t->data;
  struct compare_action *x = a->ctx;
  struct gd_probe *p = find_probe(a), *c = find_captured(a);
  if (!p || !c || p->result_start_ns < a->started_ns) return; /* not fresh */
  char was[160], now[160];
  show(c->captured_text, was, sizeof was);
  show(p->result_text, now, sizeof now);
  if (x->figure && c->captured_has_value && p->result_has_value)
    gd_action_add_figure(a, x->figure, c->captured_value - p->result_value);
  int equal = (!c->captured_text && !p->result_text) ||
              (c->captured_text && p->result_text &&
               strcmp(c->captured_text, p->result_text) == 0);
  if (equal && x->against)
    snprintf(x->msg, sizeof x->msg, "probe %s equals the capture of %s: '%s'",
             x->probe, x->against, now);
  else if (x->against)
    snprintf(x->msg, sizeof x->msg,
             "probe %s differs from the capture of %s: was '%s', now '%s'",
             x->probe, x->against, was, now);
  else if (equal)
    snprintf(x->msg, sizeof x->msg, "probe %s equals its capture: '%s'",
             x->probe, now);
  else
    snprintf(x->msg, sizeof x->msg,
             "probe %s differs from its capture: was '%s', now '%s'", x->probe,
             was, now);
  finish(a, equal);
}

static int compare_run(struct gd_action *a, struct gd_error *err) {
  struct compare_action *x = a->ctx;
  struct gd_probe *p = find_probe(a), *c = find_captured(a);
  if (!p || !c)
    return gd_error_set(err, GD_ESTATE, "%s: probe '%s' is not running here",
                        a->path, p ? x->against : x->probe);
  if (!c->has_capture)
    return gd_error_set(err, GD_ESTATE,
                        "%s: nothing was captured from probe '%s' (no fault "
                        "was injected)",
                        a->path, x->against ? x->against : x->probe);
  if (!p->running)
    return gd_error_set(err, GD_ESTATE, "%s: probe '%s' has stopped", a->path,
                        x->probe);
  x->msg[0] = 0;
  x->ok = 0;
  int rc = uv_timer_init(a->loop, &x->poll);
  if (rc)
    return gd_error_set(err, GD_EIO, "%s: timer: %s", a->path, uv_strerror(rc));
  x->poll.data = a;
  x->open = 1;
  uv_timer_start(&x->poll, poll_cb, 0, COMPARE_POLL_MS);
  return 0;
}

static void compare_cancel(struct gd_action *a) {
  struct compare_action *x = a->ctx;
  struct gd_probe *p = find_probe(a);
  if (!x->open || uv_is_closing((uv_handle_t *)&x->poll)) return;
  if (p && p->last_ok == 0 && p->last_start_ns >= a->started_ns)
    snprintf(x->msg, sizeof x->msg,
             "no ok sample from probe %s since the step began (last: %s)",
             x->probe, p->last_detail);
  else
    snprintf(x->msg, sizeof x->msg,
             "no ok sample from probe %s since the step began", x->probe);
  finish(a, 0);
}

static void compare_free(struct gd_action *a) {
  struct compare_action *x = a->ctx;
  if (!x) return;
  free(x->probe);
  free(x->figure);
  free(x->against);
  free(x);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_compare = {
    .type = "compare",
    .keys = compare_keys,
    .init = compare_init,
    .describe = compare_describe,
    .has_figure = compare_has_figure,
    .probe_ref = compare_probe_ref,
    .run = compare_run,
    .cancel = compare_cancel,
    .free = compare_free,
};

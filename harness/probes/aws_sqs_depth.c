/* gameday: the aws.sqs.queue_depth probe. Each sample is one
 * GetQueueAttributes call for ApproximateNumberOfMessages (visible) and
 * ApproximateNumberOfMessagesNotVisible (received, not yet deleted); the
 * sample's value is the visible count, plus the in-flight one when
 * `include_in_flight` is true. Healthy while depth <= `max_depth`.
 *
 * The probe publishes `peak_depth`, the largest depth it read, and, when
 * it stops (figures are read after every probe has stopped):
 *
 *   drain_ms          from t0 to the start of the first sample under
 *                     max_depth after the last one over it, i.e. back under
 *                     the threshold and staying there for the rest of the
 *                     run (observe, verify, rollback: longer than any
 *                     stable_for_ms). 0 when the depth never went over
 *                     max_depth after t0; absent (a threshold on it then
 *                     fails as "not measured") when it never came back.
 *   drain_rate_per_s  (peak - depth at that first sample under) / time from
 *                     the last sample that read the peak to it: how fast
 *                     the consumers worked the backlog off, a plateau (the
 *                     consumers stopped) left out.
 *
 * t0 is the driver's (p->t0_ns, set when the first fault action is
 * issued), so drain_ms is exact to the sample: the first sample under the
 * threshold is known to within one interval, like every other figure. Only samples that read a depth count; failed calls say
 * nothing about the backlog. With max_inflight > 1 answers can arrive out
 * of order; the bookkeeping is by sample start, so a late answer is placed
 * where it belongs.
 *
 * One attempt per sample (awscheck.h, watching probes): the client's
 * retries would hide the very throttling and errors a probe is there to
 * see, and the generic sample timeout is the bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct depth_ctx {
  struct gd_awskind_sqs q;
  long long max_depth;
  int in_flight;
  cJSON *params; /* the request, the same every sample */
  int have_peak;
  double peak;
  /* drain bookkeeping, by sample start (uv_hrtime) */
  uint64_t t0;             /* estimated t0; 0 while in the baseline */
  uint64_t peak_last;      /* last start that read the peak */
  uint64_t over_last;      /* last start over max_depth, at or after t0 */
  uint64_t under_first;    /* first start under it after over_last; 0 none */
  double under_depth;      /* the depth it read */
  struct gd_awscheck chk;
};

static const char *const depth_keys[] = {"queue_url", "region", "max_depth",
                                         "include_in_flight", NULL};
static const char *const depth_figures[] = {"peak_depth", "drain_ms",
                                            "drain_rate_per_s", NULL};

static void ctx_free(struct depth_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  gd_awskind_sqs_free(&c->q);
  cJSON_Delete(c->params);
  free(c);
}

static int depth_init(struct gd_probe *p, const cJSON *spec, const char *path,
                      struct gd_error *err) {
  struct depth_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  int rc;
  if ((rc = gd_awskind_sqs_parse(&c->q, spec, path, err)) ||
      (rc = gd_json_get_int(spec, "max_depth", path, 1, 0, 1000000000LL,
                            &c->max_depth, err)) ||
      (rc = gd_json_get_bool(spec, "include_in_flight", path, 0, &c->in_flight,
                             err))) {
    ctx_free(c);
    return rc;
  }
  cJSON *names;
  if (!(c->params = cJSON_CreateObject()) ||
      !cJSON_AddStringToObject(c->params, "QueueUrl", c->q.queue_url) ||
      !(names = cJSON_AddArrayToObject(c->params, "AttributeNames")) ||
      !cJSON_AddItemToArray(names,
                            cJSON_CreateString("ApproximateNumberOfMessages")) ||
      !cJSON_AddItemToArray(
          names, cJSON_CreateString("ApproximateNumberOfMessagesNotVisible"))) {
    ctx_free(c);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  p->ctx = c;
  return 0;
}

static void depth_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct depth_ctx *c = p->ctx;
  snprintf(buf, n, "depth of %s%s <= %lld", c->q.queue_url,
           c->in_flight ? " (in flight included)" : "", c->max_depth);
}

static int depth_start(struct gd_probe *p, struct gd_error *err) {
  struct depth_ctx *c = p->ctx;
  c->have_peak = 0;
  c->t0 = c->peak_last = c->over_last = c->under_first = 0;
  /* The queue's region (awskind.h), as gd_awskind_client would take. */
  return gd_awscheck_start_watch(&c->chk, p, c->q.region, err);
}

/* An SQS count is a decimal string: "250". */
static int attr_count(const cJSON *attrs, const char *name, double *out) {
  const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(attrs, name));
  char *end;
  if (!v || !v[0]) return -1;
  unsigned long long n = strtoull(v, &end, 10);
  if (*end || v[0] == '-') return -1;
  *out = (double)n;
  return 0;
}

/* One depth read at sample start `at`. */
static void drain_note(struct depth_ctx *c, uint64_t at, double depth) {
  if (!c->t0 || at < c->t0) return;
  if (depth > (double)c->max_depth) {
    if (at > c->over_last) {
      c->over_last = at;
      if (c->under_first && c->under_first <= at) c->under_first = 0;
    }
  } else if (c->over_last && at > c->over_last &&
             (!c->under_first || at < c->under_first)) {
    c->under_first = at;
    c->under_depth = depth;
  }
}

/* At stop: the drain figures from what was noted. */
static void drain_publish(struct depth_ctx *c, struct gd_probe *p) {
  if (!c->t0) return; /* no fault: nothing drained */
  if (!c->over_last) {
    gd_probe_add_figure(p, "drain_ms", 0);
    return;
  }
  if (!c->under_first) return; /* never back under: not measured */
  gd_probe_add_figure(p, "drain_ms", (double)(c->under_first - c->t0) / 1e6);
  if (c->have_peak && c->under_first > c->peak_last && c->peak_last)
    gd_probe_add_figure(p, "drain_rate_per_s",
                        (c->peak - c->under_depth) /
                            ((double)(c->under_first - c->peak_last) / 1e9));
}

static void on_attrs(struct gd_awscheck_run *r, struct gd_aws_result *res,
                     const struct gd_error *e) {
  struct gd_sample *s = r->s;
  struct gd_probe *p = s->probe;
  struct depth_ctx *c = p->ctx;
  (void)e;
  const cJSON *attrs = cJSON_GetObjectItem(res->json, "Attributes");
  double visible, hidden;
  if (attr_count(attrs, "ApproximateNumberOfMessages", &visible) ||
      attr_count(attrs, "ApproximateNumberOfMessagesNotVisible", &hidden)) {
    gd_awscheck_finish(r, GD_SAMPLE_PROTOCOL,
                       "answer without the message counts");
    return;
  }
  double depth = visible + (c->in_flight ? hidden : 0);
  gd_sample_set_value(s, depth);
  if (!c->have_peak || depth > c->peak) {
    c->have_peak = 1;
    c->peak = depth;
    c->peak_last = 0;
    gd_probe_add_figure(p, "peak_depth", depth);
  }
  if (depth == c->peak && s->start_ns > c->peak_last)
    c->peak_last = s->start_ns;
  drain_note(c, s->start_ns, depth);
  if (depth > (double)c->max_depth)
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "depth %.0f > %lld", depth,
                       c->max_depth);
  else
    gd_awscheck_finish(r, GD_SAMPLE_OK, "%s", "");
}

static int depth_sample(struct gd_probe *p, struct gd_sample *s,
                        struct gd_error *err) {
  struct depth_ctx *c = p->ctx;
  if (!c->t0 && p->t0_ns) c->t0 = p->t0_ns;
  return gd_awscheck_sample(&c->chk, s, "sqs", "GetQueueAttributes",
                            c->params, on_attrs, err);
}

static void depth_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct depth_ctx *c = p->ctx;
  drain_publish(c, p);
  gd_awscheck_stop(&c->chk, p, done);
}

static void depth_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_sqs_depth = {
    .type = "aws.sqs.queue_depth",
    .keys = depth_keys,
    .figures = depth_figures,
    .init = depth_init,
    .describe = depth_describe,
    .start = depth_start,
    .sample = depth_sample,
    .cancel = gd_awscheck_cancel,
    .stop = depth_stop,
    .free = depth_free,
};

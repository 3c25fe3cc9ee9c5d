/* gameday: the aws.security.cloudtrail check: at least one multi-region
 * trail that is logging, so every region's API calls are recorded.
 * DescribeTrails (with shadow trails: a multi-region trail shows in every
 * region, whatever its home), then GetTrailStatus by ARN for each
 * multi-region trail until one has IsLogging. `region` (optional) is where
 * to ask; any region sees the multi-region trails. The finding lists the
 * trails and why none counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/probe.h"

struct ctl_ctx {
  char *region;
  cJSON *params;
  struct gd_awscheck chk;
};

static const char *const ctl_keys[] = {"region", NULL};

static void ctx_free(struct ctl_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  free(c->region);
  cJSON_Delete(c->params);
  free(c);
}

static int ctl_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  struct ctl_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  int rc = gd_awskind_region_parse(spec, path, &c->region, err);
  if (rc) {
    ctx_free(c);
    return rc;
  }
  if (!(c->params = cJSON_CreateObject()) ||
      !cJSON_AddTrueToObject(c->params, "includeShadowTrails")) {
    ctx_free(c);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  p->ctx = c;
  return 0;
}

static void ctl_describe(const struct gd_probe *p, char *buf, size_t n) {
  (void)p;
  snprintf(buf, n, "a multi-region cloudtrail trail is logging");
}

static int ctl_start(struct gd_probe *p, struct gd_error *err) {
  struct ctl_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, c->region, err);
}

/* "main (single-region), org (not logging)": the trails and why none
 * counts, within n. */
static void why_none(struct gd_awscheck_run *r, char *buf, size_t n) {
  const cJSON *t;
  int more = 0;
  buf[0] = 0;
  cJSON_ArrayForEach(t, cJSON_GetObjectItem(r->state, "trails")) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name"));
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(t, "why"));
    char item[192];
    snprintf(item, sizeof item, "%s (%s)", name ? name : "?",
             why ? why : "?");
    size_t k = strlen(buf);
    if (more || k + strlen(item) + 2 + 12 >= n) {
      more++;
      continue;
    }
    snprintf(buf + k, n - k, "%s%s", k ? ", " : "", item);
  }
  if (more) {
    size_t k = strlen(buf);
    snprintf(buf + k, n - k, " (+%d more)", more);
  }
}

static void next_trail(struct gd_awscheck_run *r);

static void on_status(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  (void)e;
  int i = (int)cJSON_GetObjectItem(r->state, "ti")->valuedouble - 1;
  cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(r->state, "trails"), i);
  if (cJSON_IsTrue(cJSON_GetObjectItem(res->json, "IsLogging"))) {
    gd_sample_set_value(r->s, 1);
    gd_awscheck_finish(
        r, GD_SAMPLE_OK, "trail '%s' (multi-region, home %s) is logging",
        cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")),
        cJSON_GetStringValue(cJSON_GetObjectItem(t, "home")));
    return;
  }
  cJSON_AddStringToObject(t, "why", "not logging");
  next_trail(r);
}

static void next_trail(struct gd_awscheck_run *r) {
  cJSON *ti = cJSON_GetObjectItem(r->state, "ti");
  cJSON *trails = cJSON_GetObjectItem(r->state, "trails");
  int i = (int)ti->valuedouble;
  for (; i < cJSON_GetArraySize(trails); i++) {
    cJSON *t = cJSON_GetArrayItem(trails, i);
    if (cJSON_GetObjectItem(t, "why")) continue; /* single-region */
    cJSON_SetNumberValue(ti, i + 1);
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "Name", cJSON_GetStringValue(
                                                cJSON_GetObjectItem(t, "arn")));
    gd_awscheck_call(r, "cloudtrail", "GetTrailStatus", params, on_status);
    cJSON_Delete(params);
    return;
  }
  char list[128];
  gd_sample_set_value(r->s, 0);
  if (cJSON_GetArraySize(trails) == 0) {
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "no cloudtrail trail");
    return;
  }
  why_none(r, list, sizeof list);
  gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                     "no multi-region trail is logging: %s", list);
}

static void on_trails(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  (void)e;
  cJSON *trails = cJSON_GetObjectItem(r->state, "trails");
  const cJSON *t;
  cJSON_ArrayForEach(t, cJSON_GetObjectItem(res->json, "trailList")) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "Name"));
    const char *arn =
        cJSON_GetStringValue(cJSON_GetObjectItem(t, "TrailARN"));
    const char *home =
        cJSON_GetStringValue(cJSON_GetObjectItem(t, "HomeRegion"));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name ? name : "?");
    cJSON_AddStringToObject(o, "arn", arn ? arn : (name ? name : ""));
    cJSON_AddStringToObject(o, "home", home ? home : "?");
    if (!cJSON_IsTrue(cJSON_GetObjectItem(t, "IsMultiRegionTrail")))
      cJSON_AddStringToObject(o, "why", "single-region");
    cJSON_AddItemToArray(trails, o);
  }
  next_trail(r);
}

static int ctl_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct ctl_ctx *c = p->ctx;
  struct gd_awscheck_run *r;
  int rc = gd_awscheck_begin(&c->chk, s, &r, err);
  if (rc) return rc;
  if (!cJSON_AddArrayToObject(r->state, "trails") ||
      !cJSON_AddNumberToObject(r->state, "ti", 0)) {
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return 0;
  }
  gd_awscheck_call(r, "cloudtrail", "DescribeTrails", c->params, on_trails);
  return 0;
}

static void ctl_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct ctl_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void ctl_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_security_cloudtrail = {
    .type = "aws.security.cloudtrail",
    .keys = ctl_keys,
    .init = ctl_init,
    .describe = ctl_describe,
    .start = ctl_start,
    .sample = ctl_sample,
    .cancel = gd_awscheck_cancel,
    .stop = ctl_stop,
    .free = ctl_free,
};

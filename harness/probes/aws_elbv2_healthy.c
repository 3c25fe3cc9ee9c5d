/* gameday: the aws.elbv2.healthy_targets probe: does the load balancer
 * have targets to send traffic to? Each sample is one DescribeTargetHealth
 * call for `target_group_arn`; the value is the number of targets in state
 * "healthy", and the sample is healthy while that is at least
 * `min_healthy` (default 1: the load balancer can serve), or, with
 * `all: true`, while every registered target is healthy (full capacity
 * behind the load balancer; none registered is not healthy).
 *
 * A terminated instance shows here as draining and then gone, its
 * replacement as initial and then healthy: with `all: true` as a recovery
 * probe, recovery_ms is when the load balancer had its full set of healthy
 * targets again; with the default it only fails when nothing is left to
 * serve, which is what a client would see.
 *
 * One attempt per sample, like every AWS probe (awscheck.h, watching
 * probes): retries would hide the throttling and errors a probe is there
 * to see. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct tg_ctx {
  char *arn;
  char *region;
  long long min_healthy;
  int all;
  cJSON *params;
  struct gd_awscheck chk;
};

static const char *const tg_keys[] = {"target_group_arn", "min_healthy", "all",
                                      "region", NULL};

static void ctx_free(struct tg_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  free(c->arn);
  free(c->region);
  cJSON_Delete(c->params);
  free(c);
}

/* arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/73e2...
 * names its region; the one thing a probe should not get wrong is which
 * region it asks. */
static char *region_from_arn(const char *arn) {
  const char *p = arn;
  for (int i = 0; i < 3; i++) {
    p = strchr(p, ':');
    if (!p) return NULL;
    p++;
  }
  size_t len = strcspn(p, ":");
  if (!len || !p[len]) return NULL;
  return strndup(p, len);
}

static int tg_init(struct gd_probe *p, const cJSON *spec, const char *path,
                   struct gd_error *err) {
  struct tg_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *arn = NULL;
  c->min_healthy = 1;
  int rc;
  int has_min = cJSON_GetObjectItemCaseSensitive(spec, "min_healthy") != NULL;
  if ((rc = gd_json_get_string(spec, "target_group_arn", path, 1, &arn,
                               err)) ||
      (rc = gd_json_get_int(spec, "min_healthy", path, 0, 1, 100000,
                            &c->min_healthy, err)) ||
      (rc = gd_json_get_bool(spec, "all", path, 0, &c->all, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &c->region, err))) {
    ctx_free(c);
    return rc;
  }
  if (strncmp(arn, "arn:", 4) != 0 || !strstr(arn, ":targetgroup/")) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL,
                        "%s.target_group_arn: not a target group arn '%s' "
                        "(expected arn:aws:elasticloadbalancing:REGION:"
                        "ACCOUNT:targetgroup/NAME/ID)",
                        path, arn);
  }
  if (c->all && has_min) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL,
                        "%s: give min_healthy or all, not both", path);
  }
  if (!c->region) c->region = region_from_arn(arn);
  if (!(c->arn = strdup(arn)) || !(c->params = cJSON_CreateObject()) ||
      !cJSON_AddStringToObject(c->params, "TargetGroupArn", arn)) {
    ctx_free(c);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  p->ctx = c;
  return 0;
}

static void tg_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct tg_ctx *c = p->ctx;
  if (c->all)
    snprintf(buf, n, "every target of %s healthy", c->arn);
  else
    snprintf(buf, n, "at least %lld healthy target%s in %s", c->min_healthy,
             c->min_healthy == 1 ? "" : "s", c->arn);
}

static int tg_start(struct gd_probe *p, struct gd_error *err) {
  struct tg_ctx *c = p->ctx;
  return gd_awscheck_start_watch(&c->chk, p, c->region, err);
}

static void on_health(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct tg_ctx *c = r->s->probe->ctx;
  (void)e;
  xmlNode *root = xmlDocGetRootElement(res->xml);
  if (!gd_aws_xml_find(root, "DescribeTargetHealthResult")) {
    gd_awscheck_finish(r, GD_SAMPLE_PROTOCOL,
                       "answer without DescribeTargetHealthResult");
    return;
  }
  long healthy = 0, total = 0;
  char state[64], id[64], others[96] = "";
  size_t pos = 0;
  for (xmlNode *m = gd_aws_xml_find(
           root, "DescribeTargetHealthResult/TargetHealthDescriptions/member");
       m; m = gd_aws_xml_next(m)) {
    total++;
    gd_aws_xml_text(m, "TargetHealth/State", state, sizeof state);
    if (strcmp(state, "healthy") == 0) {
      healthy++;
      continue;
    }
    /* The first few that are not: "i-0abc draining". */
    gd_aws_xml_text(m, "Target/Id", id, sizeof id);
    if (pos < sizeof others) {
      int k = snprintf(others + pos, sizeof others - pos, "%s%s %s",
                       pos ? ", " : "", id, state[0] ? state : "?");
      if (k > 0) pos += (size_t)k;
    }
  }
  gd_sample_set_value(r->s, (double)healthy);
  int ok = c->all ? total > 0 && healthy == total
                  : healthy >= (long)c->min_healthy;
  if (ok)
    gd_awscheck_finish(r, GD_SAMPLE_OK, "%ld/%ld healthy", healthy, total);
  else
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "%ld/%ld healthy%s%s%s",
                       healthy, total, others[0] ? " (" : "", others,
                       others[0] ? ")" : "");
}

static int tg_sample(struct gd_probe *p, struct gd_sample *s,
                     struct gd_error *err) {
  struct tg_ctx *c = p->ctx;
  return gd_awscheck_sample(&c->chk, s, "elasticloadbalancing",
                            "DescribeTargetHealth", c->params, on_health, err);
}

static void tg_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct tg_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void tg_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_elbv2_healthy = {
    .type = "aws.elbv2.healthy_targets",
    .keys = tg_keys,
    .init = tg_init,
    .describe = tg_describe,
    .start = tg_start,
    .sample = tg_sample,
    .cancel = gd_awscheck_cancel,
    .stop = tg_stop,
    .free = tg_free,
};

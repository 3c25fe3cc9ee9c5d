/* gameday: the aws.autoscaling.in_service probe: is an Auto Scaling group
 * at full capacity? Each sample is one DescribeAutoScalingGroups call for
 * the group; the value is the number of its instances that are InService
 * and Healthy, and the sample is healthy while that is at least the
 * group's DesiredCapacity (or `min`, when given: "serving, if not at full
 * capacity").
 *
 * Time to full capacity: as a recovery probe (with `min` not given) this
 * probe fails from the moment the terminated instance leaves InService
 * until the replacement is InService and Healthy; its recovery_ms
 * (`NAME.recovery_ms` in thresholds) is therefore the time from t0 to full
 * capacity, and its downtime_ms how long the group was short.
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

struct asg_ctx {
  char *group;
  char *region;
  long long min; /* -1: the group's desired capacity */
  cJSON *params;
  struct gd_awscheck chk;
};

static const char *const asg_keys[] = {"auto_scaling_group", "min", "region",
                                       NULL};

static void ctx_free(struct asg_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  free(c->group);
  free(c->region);
  cJSON_Delete(c->params);
  free(c);
}

static int asg_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  struct asg_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *group = NULL;
  c->min = -1;
  int rc;
  if ((rc = gd_json_get_string(spec, "auto_scaling_group", path, 1, &group,
                               err)) ||
      (rc = gd_json_get_int(spec, "min", path, 0, 0, 100000, &c->min, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &c->region, err))) {
    ctx_free(c);
    return rc;
  }
  if (!group[0]) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL,
                        "%s.auto_scaling_group: must not be empty", path);
  }
  cJSON *names;
  if (!(c->group = strdup(group)) || !(c->params = cJSON_CreateObject()) ||
      !(names = cJSON_AddArrayToObject(c->params,
                                       "AutoScalingGroupNames.member")) ||
      !cJSON_AddItemToArray(names, cJSON_CreateString(group))) {
    ctx_free(c);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  p->ctx = c;
  return 0;
}

static void asg_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct asg_ctx *c = p->ctx;
  if (c->min >= 0)
    snprintf(buf, n, "auto scaling group '%s': at least %lld InService and "
             "Healthy", c->group, c->min);
  else
    snprintf(buf, n, "auto scaling group '%s': InService and Healthy >= "
             "desired capacity", c->group);
}

static int asg_start(struct gd_probe *p, struct gd_error *err) {
  struct asg_ctx *c = p->ctx;
  return gd_awscheck_start_watch(&c->chk, p, c->region, err);
}

static void on_groups(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct asg_ctx *c = r->s->probe->ctx;
  (void)e;
  xmlNode *g = gd_aws_xml_find(
      xmlDocGetRootElement(res->xml),
      "DescribeAutoScalingGroupsResult/AutoScalingGroups/member");
  if (!g) {
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "auto scaling group '%s' not found", c->group);
    return;
  }
  char buf[64], *end;
  if (!gd_aws_xml_text(g, "DesiredCapacity", buf, sizeof buf)) {
    gd_awscheck_finish(r, GD_SAMPLE_PROTOCOL,
                       "answer without DesiredCapacity");
    return;
  }
  long desired = strtol(buf, &end, 10);
  if (end == buf || *end || desired < 0) {
    gd_awscheck_finish(r, GD_SAMPLE_PROTOCOL, "DesiredCapacity '%s'", buf);
    return;
  }
  long in_service = 0;
  char state[64], health[64];
  for (xmlNode *m = gd_aws_xml_find(g, "Instances/member"); m;
       m = gd_aws_xml_next(m)) {
    gd_aws_xml_text(m, "LifecycleState", state, sizeof state);
    gd_aws_xml_text(m, "HealthStatus", health, sizeof health);
    if (strcmp(state, "InService") == 0 && strcmp(health, "Healthy") == 0)
      in_service++;
  }
  long need = c->min >= 0 ? (long)c->min : desired;
  gd_sample_set_value(r->s, (double)in_service);
  /* "2/3 InService": of the desired capacity, what the eye compares. */
  if (in_service >= need)
    gd_awscheck_finish(r, GD_SAMPLE_OK, "%ld/%ld InService", in_service,
                       desired);
  else
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "%ld/%ld InService, need %ld",
                       in_service, desired, need);
}

static int asg_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct asg_ctx *c = p->ctx;
  return gd_awscheck_sample(&c->chk, s, "autoscaling",
                            "DescribeAutoScalingGroups", c->params, on_groups,
                            err);
}

static void asg_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct asg_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void asg_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_asg_in_service = {
    .type = "aws.autoscaling.in_service",
    .keys = asg_keys,
    .init = asg_init,
    .describe = asg_describe,
    .start = asg_start,
    .sample = asg_sample,
    .cancel = gd_awscheck_cancel,
    .stop = asg_stop,
    .free = asg_free,
};

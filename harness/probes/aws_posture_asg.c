/* gameday: the aws.posture.autoscaling_group check: is the web tier's Auto
 * Scaling group built to survive the loss of an instance or a zone? One
 * DescribeAutoScalingGroups call; the group must
 *   - span at least `min_zones` Availability Zones (default 2): a group in
 *     one zone goes down with it;
 *   - keep at least `min_size` instances (MinSize, default 2): with one,
 *     losing it is an outage until the replacement is up;
 *   - use ELB health checks (`require_elb_health_check`, default true):
 *     with EC2 checks only, an instance whose application is dead but
 *     whose VM runs is never replaced (no auto-healing).
 * The finding lists every rule the group breaks; the value is its number
 * of zones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct asgp_ctx {
  char *group;
  char *region;
  long long min_zones, min_size;
  int require_elb;
  cJSON *params;
  struct gd_awscheck chk;
};

static const char *const asgp_keys[] = {"group", "min_zones", "min_size",
                                        "require_elb_health_check", "region",
                                        NULL};

static void ctx_free(struct asgp_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  free(c->group);
  free(c->region);
  cJSON_Delete(c->params);
  free(c);
}

static int asgp_init(struct gd_probe *p, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  struct asgp_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *group = NULL;
  c->min_zones = 2;
  c->min_size = 2;
  c->require_elb = 1;
  int rc;
  if ((rc = gd_json_get_string(spec, "group", path, 1, &group, err)) ||
      (rc = gd_json_get_int(spec, "min_zones", path, 0, 1, 100, &c->min_zones,
                            err)) ||
      (rc = gd_json_get_int(spec, "min_size", path, 0, 0, 100000,
                            &c->min_size, err)) ||
      (rc = gd_json_get_bool(spec, "require_elb_health_check", path, 0,
                             &c->require_elb, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &c->region, err))) {
    ctx_free(c);
    return rc;
  }
  if (!group[0]) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL, "%s.group: must not be empty", path);
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

static void asgp_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct asgp_ctx *c = p->ctx;
  snprintf(buf, n,
           "auto scaling group '%s': at least %lld AZs, MinSize at least "
           "%lld%s",
           c->group, c->min_zones, c->min_size,
           c->require_elb ? ", ELB health checks" : "");
}

static int asgp_start(struct gd_probe *p, struct gd_error *err) {
  struct asgp_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, c->region, err);
}

/* "; " between the parts of a finding. */
static void add_part(char *buf, size_t n, const char *part) {
  size_t len = strlen(buf);
  snprintf(buf + len, n - len, "%s%s", len ? "; " : "", part);
}

static void on_groups(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct asgp_ctx *c = r->s->probe->ctx;
  (void)e;
  xmlNode *g = gd_aws_xml_find(
      xmlDocGetRootElement(res->xml),
      "DescribeAutoScalingGroupsResult/AutoScalingGroups/member");
  if (!g) {
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "auto scaling group '%s' not found", c->group);
    return;
  }
  char zones[256] = "", buf[128], hc[64], part[512], finding[1024] = "";
  long nz = 0;
  for (xmlNode *z = gd_aws_xml_find(g, "AvailabilityZones/member"); z;
       z = gd_aws_xml_next(z)) {
    gd_aws_xml_text(z, NULL, buf, sizeof buf);
    size_t len = strlen(zones);
    snprintf(zones + len, sizeof zones - len, "%s%s", nz ? ", " : "", buf);
    nz++;
  }
  char *end;
  gd_aws_xml_text(g, "MinSize", buf, sizeof buf);
  long min = strtol(buf, &end, 10);
  if (!buf[0] || *end) {
    gd_awscheck_finish(r, GD_SAMPLE_PROTOCOL,
                       "group '%s': answer without a MinSize", c->group);
    return;
  }
  gd_aws_xml_text(g, "HealthCheckType", hc, sizeof hc);
  gd_sample_set_value(r->s, (double)nz);
  if (nz < c->min_zones) {
    snprintf(part, sizeof part, "group '%s' spans %ld AZ%s (%s), needs %lld",
             c->group, nz, nz == 1 ? "" : "s", zones, c->min_zones);
    add_part(finding, sizeof finding, part);
  }
  if (min < c->min_size) {
    snprintf(part, sizeof part, "MinSize %ld, needs at least %lld", min,
             c->min_size);
    add_part(finding, sizeof finding, part);
  }
  if (c->require_elb && strcmp(hc, "ELB") != 0) {
    snprintf(part, sizeof part,
             "health check type '%s', needs 'ELB' (instances the load "
             "balancer finds unhealthy are not replaced)",
             hc[0] ? hc : "EC2");
    add_part(finding, sizeof finding, part);
  }
  if (finding[0])
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "%s", finding);
  else
    gd_awscheck_finish(r, GD_SAMPLE_OK,
                       "group '%s' spans %ld AZs (%s), MinSize %ld, %s "
                       "health checks",
                       c->group, nz, zones, min, hc[0] ? hc : "EC2");
}

static int asgp_sample(struct gd_probe *p, struct gd_sample *s,
                       struct gd_error *err) {
  struct asgp_ctx *c = p->ctx;
  return gd_awscheck_sample(&c->chk, s, "autoscaling",
                            "DescribeAutoScalingGroups", c->params, on_groups,
                            err);
}

static void asgp_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct asgp_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void asgp_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_posture_asg = {
    .type = "aws.posture.autoscaling_group",
    .keys = asgp_keys,
    .init = asgp_init,
    .describe = asgp_describe,
    .start = asgp_start,
    .sample = asgp_sample,
    .cancel = gd_awscheck_cancel,
    .stop = asgp_stop,
    .free = asgp_free,
};

/* gameday: the aws.posture.target_zones check: are the load balancer's
 * healthy targets spread over at least `min_zones` Availability Zones
 * (default 2)? Targets all in one zone go down with it, however many there
 * are. DescribeTargetHealth gives the targets and their state; a target's
 * zone is its Target/AvailabilityZone when the answer has one (IP
 * targets), else, for instance targets, the instance's
 * placement/availabilityZone from one DescribeInstances call for all of
 * them. The value is the number of zones with a healthy target. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct tz_ctx {
  char *arn;
  char *region;
  long long min_zones;
  cJSON *params;
  struct gd_awscheck chk;
};

static const char *const tz_keys[] = {"target_group_arn", "min_zones",
                                      "region", NULL};

static void ctx_free(struct tz_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  free(c->arn);
  free(c->region);
  cJSON_Delete(c->params);
  free(c);
}

static int tz_init(struct gd_probe *p, const cJSON *spec, const char *path,
                   struct gd_error *err) {
  struct tz_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *arn = NULL;
  c->min_zones = 2;
  int rc;
  if ((rc = gd_json_get_string(spec, "target_group_arn", path, 1, &arn,
                               err)) ||
      (rc = gd_json_get_int(spec, "min_zones", path, 0, 1, 100, &c->min_zones,
                            err)) ||
      (rc = gd_awskind_region_parse(spec, path, &c->region, err))) {
    ctx_free(c);
    return rc;
  }
  if (strncmp(arn, "arn:", 4) != 0 || !strstr(arn, ":targetgroup/")) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL,
                        "%s.target_group_arn: want "
                        "arn:aws:elasticloadbalancing:REGION:ACCOUNT:"
                        "targetgroup/NAME/ID, got '%s'",
                        path, arn);
  }
  if (!(c->arn = strdup(arn)) || !(c->params = cJSON_CreateObject()) ||
      !cJSON_AddStringToObject(c->params, "TargetGroupArn", arn)) {
    ctx_free(c);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  p->ctx = c;
  return 0;
}

/* "targetgroup/web/73e2..." -> "web", for messages. */
static const char *tg_name(const char *arn, char *buf, size_t n) {
  const char *s = strstr(arn, ":targetgroup/");
  if (!s) return arn;
  snprintf(buf, n, "%s", s + 13);
  char *sl = strchr(buf, '/');
  if (sl) *sl = 0;
  return buf;
}

static void tz_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct tz_ctx *c = p->ctx;
  char name[128];
  snprintf(buf, n, "target group '%s': healthy targets in at least %lld AZs",
           tg_name(c->arn, name, sizeof name), c->min_zones);
}

static int tz_start(struct gd_probe *p, struct gd_error *err) {
  struct tz_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, c->region, err);
}

/* Judges what r->state holds: "targets" [{id, state, az}]. */
static void judge(struct gd_awscheck_run *r) {
  struct tz_ctx *c = r->s->probe->ctx;
  char name[128];
  tg_name(c->arn, name, sizeof name);
  const cJSON *targets = cJSON_GetObjectItem(r->state, "targets"), *t;
  /* zone -> healthy count, in first-seen order */
  cJSON *zones = cJSON_CreateObject();
  if (!zones) {
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return;
  }
  int total = 0, healthy = 0, unknown = 0;
  char bad[256] = "";
  cJSON_ArrayForEach(t, targets) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(t, "id"));
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(t, "state"));
    const char *az = cJSON_GetStringValue(cJSON_GetObjectItem(t, "az"));
    total++;
    if (strcmp(st, "healthy") != 0) {
      size_t len = strlen(bad);
      snprintf(bad + len, sizeof bad - len, "%s%s %s", len ? ", " : "", id,
               st);
      continue;
    }
    healthy++;
    if (!az || !az[0] || strcmp(az, "all") == 0) {
      unknown++;
      continue;
    }
    cJSON *z = cJSON_GetObjectItem(zones, az);
    if (z)
      cJSON_SetNumberValue(z, z->valuedouble + 1);
    else
      cJSON_AddNumberToObject(zones, az, 1);
  }
  char list[256] = "";
  int nz = 0;
  cJSON_ArrayForEach(t, zones) {
    size_t len = strlen(list);
    snprintf(list + len, sizeof list - len, "%s%s: %d", nz ? ", " : "",
             t->string, (int)t->valuedouble);
    nz++;
  }
  cJSON_Delete(zones);
  char extra[512] = "";
  if (bad[0])
    snprintf(extra, sizeof extra, "; %d of %d targets not healthy: %s",
             total - healthy, total, bad);
  if (unknown) {
    size_t len = strlen(extra);
    snprintf(extra + len, sizeof extra - len,
             "; %d healthy target%s in no known AZ", unknown,
             unknown == 1 ? "" : "s");
  }
  gd_sample_set_value(r->s, nz);
  if (nz >= c->min_zones)
    gd_awscheck_finish(r, GD_SAMPLE_OK,
                       "target group '%s': %d healthy targets in %d AZs "
                       "(%s)%s",
                       name, healthy, nz, list, extra);
  else if (healthy == 0)
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "target group '%s' has no healthy target, needs "
                       "healthy targets in %lld AZs%s",
                       name, c->min_zones, extra);
  else
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "target group '%s': healthy targets in %d AZ%s (%s), "
                       "needs %lld%s",
                       name, nz, nz == 1 ? "" : "s", list, c->min_zones,
                       extra);
}

static void on_instances(struct gd_awscheck_run *r, struct gd_aws_result *res,
                         const struct gd_error *e) {
  (void)e;
  cJSON *t;
  char id[64], az[64];
  for (xmlNode *rv = gd_aws_xml_find(xmlDocGetRootElement(res->xml),
                                     "reservationSet/item");
       rv; rv = gd_aws_xml_next(rv))
    for (xmlNode *in = gd_aws_xml_find(rv, "instancesSet/item"); in;
         in = gd_aws_xml_next(in)) {
      gd_aws_xml_text(in, "instanceId", id, sizeof id);
      gd_aws_xml_text(in, "placement/availabilityZone", az, sizeof az);
      cJSON_ArrayForEach(t, cJSON_GetObjectItem(r->state, "targets")) {
        cJSON *tid = cJSON_GetObjectItem(t, "id");
        if (strcmp(tid->valuestring, id) == 0 &&
            !cJSON_GetObjectItem(t, "az"))
          cJSON_AddStringToObject(t, "az", az);
      }
    }
  judge(r);
}

static void on_health(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct tz_ctx *c = r->s->probe->ctx;
  if (e) {
    char name[128];
    /* The group is gone or mistyped: that is what the check found. */
    if (strcmp(res->aws_code, "TargetGroupNotFound") == 0)
      gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                         "target group '%s' not found (%s)",
                         tg_name(c->arn, name, sizeof name), c->arn);
    else
      gd_awscheck_fail(r, res, e);
    return;
  }
  cJSON *targets = cJSON_AddArrayToObject(r->state, "targets");
  cJSON *ids = cJSON_CreateObject(), *list = NULL;
  if (!targets || !ids ||
      !(list = cJSON_AddArrayToObject(ids, "InstanceId"))) {
    cJSON_Delete(ids);
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return;
  }
  char id[128], st[64], az[64];
  for (xmlNode *d = gd_aws_xml_find(
           xmlDocGetRootElement(res->xml),
           "DescribeTargetHealthResult/TargetHealthDescriptions/member");
       d; d = gd_aws_xml_next(d)) {
    gd_aws_xml_text(d, "Target/Id", id, sizeof id);
    gd_aws_xml_text(d, "TargetHealth/State", st, sizeof st);
    cJSON *t = cJSON_CreateObject();
    cJSON_AddItemToArray(targets, t);
    cJSON_AddStringToObject(t, "id", id);
    cJSON_AddStringToObject(t, "state", st);
    if (gd_aws_xml_text(d, "Target/AvailabilityZone", az, sizeof az) &&
        az[0])
      cJSON_AddStringToObject(t, "az", az);
    else if (strncmp(id, "i-", 2) == 0 && strcmp(st, "healthy") == 0)
      cJSON_AddItemToArray(list, cJSON_CreateString(id));
  }
  if (cJSON_GetArraySize(list) == 0) {
    cJSON_Delete(ids);
    judge(r);
    return;
  }
  gd_awscheck_call(r, "ec2", "DescribeInstances", ids, on_instances);
  cJSON_Delete(ids);
}

static int tz_sample(struct gd_probe *p, struct gd_sample *s,
                     struct gd_error *err) {
  struct tz_ctx *c = p->ctx;
  struct gd_awscheck_run *r;
  int rc = gd_awscheck_begin(&c->chk, s, &r, err);
  if (rc) return rc;
  gd_awscheck_call_any(r, "elasticloadbalancing", "DescribeTargetHealth",
                       c->params, on_health);
  return 0;
}

static void tz_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct tz_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void tz_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_posture_target_zones = {
    .type = "aws.posture.target_zones",
    .keys = tz_keys,
    .init = tz_init,
    .describe = tz_describe,
    .start = tz_start,
    .sample = tz_sample,
    .cancel = gd_awscheck_cancel,
    .stop = tz_stop,
    .free = tz_free,
};

/* gameday: the aws.posture.alarms check: do the CloudWatch alarms the
 * scenarios guard on (and the on-call relies on) exist? Either `alarms`, a
 * list of names (all of them must exist, or `min_count` of them), or
 * `alarm_prefix`, with at least `min_count` (default 1) alarms whose names
 * start with it. DescribeAlarms, metric and composite alarms, every page
 * (NextToken). The finding names the missing alarms; the value is the
 * number found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/json.h"
#include "gameday/probe.h"

/* AlarmNames takes at most 100 names. */
#define MAX_NAMES 100

struct alp_ctx {
  char **names; /* NULL with a prefix */
  size_t nnames;
  char *prefix;
  char *region;
  long long min_count;
  cJSON *params;
  struct gd_awscheck chk;
};

static const char *const alp_keys[] = {"alarms", "alarm_prefix", "min_count",
                                       "region", NULL};

static void ctx_free(struct alp_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  gd_strv_free(c->names);
  free(c->prefix);
  free(c->region);
  cJSON_Delete(c->params);
  free(c);
}

static int alp_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  struct alp_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *prefix = NULL;
  c->min_count = -1;
  int rc;
  if ((rc = gd_awscheck_list_parse(spec, "alarms", path, 0, &c->names,
                                   &c->nnames, err)) ||
      (rc = gd_json_get_string(spec, "alarm_prefix", path, 0, &prefix,
                               err)) ||
      (rc = gd_json_get_int(spec, "min_count", path, 0, 1, 100000,
                            &c->min_count, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &c->region, err))) {
    ctx_free(c);
    return rc;
  }
  if (!c->names == !prefix) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL,
                        "%s: give either 'alarms' (names) or 'alarm_prefix'",
                        path);
  }
  if (c->names && c->nnames == 0) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL, "%s.alarms: must not be empty", path);
  }
  if (c->nnames > MAX_NAMES) {
    rc = gd_error_set(err, GD_EINVAL,
                      "%s.alarms: at most %d names, got %zu (use "
                      "alarm_prefix)",
                      path, MAX_NAMES, c->nnames);
    ctx_free(c);
    return rc;
  }
  if (prefix && !prefix[0]) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL, "%s.alarm_prefix: must not be empty",
                        path);
  }
  if (c->names && c->min_count > (long long)c->nnames) {
    rc = gd_error_set(err, GD_EINVAL,
                      "%s.min_count: %lld is more than the %zu alarms listed",
                      path, c->min_count, c->nnames);
    ctx_free(c);
    return rc;
  }
  if (c->min_count < 0) c->min_count = c->names ? (long long)c->nnames : 1;
  cJSON *types, *names;
  if ((prefix && !(c->prefix = strdup(prefix))) ||
      !(c->params = cJSON_CreateObject()) ||
      !(types = cJSON_AddArrayToObject(c->params, "AlarmTypes.member")) ||
      !cJSON_AddItemToArray(types, cJSON_CreateString("MetricAlarm")) ||
      !cJSON_AddItemToArray(types, cJSON_CreateString("CompositeAlarm")) ||
      !cJSON_AddNumberToObject(c->params, "MaxRecords", 100))
    goto nomem;
  if (c->prefix) {
    if (!cJSON_AddStringToObject(c->params, "AlarmNamePrefix", c->prefix))
      goto nomem;
  } else {
    if (!(names = cJSON_AddArrayToObject(c->params, "AlarmNames.member")))
      goto nomem;
    for (size_t i = 0; i < c->nnames; i++)
      if (!cJSON_AddItemToArray(names, cJSON_CreateString(c->names[i])))
        goto nomem;
  }
  p->ctx = c;
  return 0;
nomem:
  ctx_free(c);
  return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
}

static void alp_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct alp_ctx *c = p->ctx;
  if (c->prefix)
    snprintf(buf, n, "at least %lld cloudwatch alarm(s) named '%s*'",
             c->min_count, c->prefix);
  else if (c->min_count == (long long)c->nnames)
    snprintf(buf, n, "cloudwatch alarms exist: %zu listed", c->nnames);
  else
    snprintf(buf, n, "at least %lld of %zu listed cloudwatch alarms exist",
             c->min_count, c->nnames);
}

static int alp_start(struct gd_probe *p, struct gd_error *err) {
  struct alp_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, c->region, err);
}

static void judge(struct gd_awscheck_run *r) {
  struct alp_ctx *c = r->s->probe->ctx;
  const cJSON *found = cJSON_GetObjectItem(r->state, "found");
  int n = cJSON_GetArraySize(found);
  gd_sample_set_value(r->s, n);
  if (c->prefix) {
    if (n >= c->min_count)
      gd_awscheck_finish(r, GD_SAMPLE_OK, "%d alarm%s named '%s*'", n,
                         n == 1 ? "" : "s", c->prefix);
    else
      gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                         "%d alarm%s named '%s*', needs at least %lld", n,
                         n == 1 ? "" : "s", c->prefix, c->min_count);
    return;
  }
  char missing[512] = "";
  for (size_t i = 0; i < c->nnames; i++) {
    if (cJSON_GetObjectItemCaseSensitive(found, c->names[i])) continue;
    size_t len = strlen(missing);
    snprintf(missing + len, sizeof missing - len, "%s%s", len ? ", " : "",
             c->names[i]);
  }
  if (n >= c->min_count && !missing[0])
    gd_awscheck_finish(r, GD_SAMPLE_OK, "all %zu alarms exist", c->nnames);
  else if (n >= c->min_count)
    gd_awscheck_finish(r, GD_SAMPLE_OK,
                       "%d of %zu alarms exist (at least %lld needed); "
                       "missing: %s",
                       n, c->nnames, c->min_count, missing);
  else
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "missing alarm%s: %s (%d of %zu exist, needs %lld)",
                       c->nnames - (size_t)n == 1 ? "" : "s", missing, n,
                       c->nnames, c->min_count);
}

static void on_alarms(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct alp_ctx *c = r->s->probe->ctx;
  (void)e;
  cJSON *found = cJSON_GetObjectItem(r->state, "found");
  if (!found) found = cJSON_AddObjectToObject(r->state, "found");
  if (!found) {
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return;
  }
  xmlNode *root = xmlDocGetRootElement(res->xml);
  static const char *const lists[] = {
      "DescribeAlarmsResult/MetricAlarms/member",
      "DescribeAlarmsResult/CompositeAlarms/member"};
  char name[256], token[1024];
  for (size_t l = 0; l < 2; l++)
    for (xmlNode *a = gd_aws_xml_find(root, lists[l]); a;
         a = gd_aws_xml_next(a))
      if (gd_aws_xml_text(a, "AlarmName", name, sizeof name) && name[0] &&
          !cJSON_GetObjectItemCaseSensitive(found, name))
        cJSON_AddTrueToObject(found, name);
  if (!gd_aws_xml_text(root, "DescribeAlarmsResult/NextToken", token,
                       sizeof token) ||
      !token[0]) {
    judge(r);
    return;
  }
  gd_awscheck_call_page(r, "monitoring", "DescribeAlarms", c->params,
                        "NextToken", token, on_alarms);
}

static int alp_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct alp_ctx *c = p->ctx;
  return gd_awscheck_sample(&c->chk, s, "monitoring", "DescribeAlarms",
                            c->params, on_alarms, err);
}

static void alp_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct alp_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void alp_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_posture_alarms = {
    .type = "aws.posture.alarms",
    .keys = alp_keys,
    .init = alp_init,
    .describe = alp_describe,
    .start = alp_start,
    .sample = alp_sample,
    .cancel = gd_awscheck_cancel,
    .stop = alp_stop,
    .free = alp_free,
};

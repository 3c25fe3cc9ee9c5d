/* gameday: the aws.cloudwatch.alarm probe: is a CloudWatch alarm quiet?
 * Each sample is one DescribeAlarms call for the alarm by name (metric and
 * composite alarms both); healthy while its StateValue is OK, and while it
 * is INSUFFICIENT_DATA too unless `insufficient_data_ok` is false (an alarm
 * on a metric that is not published in staging would otherwise stop every
 * run). The detail is the state, and the StateReason when it is ALARM.
 *
 * Meant as a guard: the run aborts (and rolls back) the moment the alarm
 * fires, whatever the fault was doing. For example, stop a database
 * failover if the application's 5xx alarm goes off:
 *
 *   "probes": {
 *     "alarm_5xx": { "type": "aws.cloudwatch.alarm",
 *                    "alarm": "staging-alb-5xx", "region": "eu-west-1",
 *                    "interval_ms": 10000, "timeout_ms": 5000 }
 *   },
 *   "guards": ["alarm_5xx"]
 *
 * CloudWatch evaluates alarms once a period (a minute, typically), so an
 * interval of seconds is plenty. One attempt per sample, like every AWS
 * probe (awscheck.h, watching probes): retries would hide the throttling and errors a probe is there to
 * see; but a guard trips on one failed sample, so a guard's timeout_ms
 * should leave room for a slow answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct alarm_ctx {
  char *alarm;
  char *region;
  int insufficient_ok;
  cJSON *params;
  struct gd_awscheck chk;
};

static const char *const alarm_keys[] = {"alarm", "region",
                                         "insufficient_data_ok", NULL};

static void ctx_free(struct alarm_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  free(c->alarm);
  free(c->region);
  cJSON_Delete(c->params);
  free(c);
}

static int alarm_init(struct gd_probe *p, const cJSON *spec, const char *path,
                      struct gd_error *err) {
  struct alarm_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *alarm = NULL;
  c->insufficient_ok = 1;
  int rc;
  if ((rc = gd_json_get_string(spec, "alarm", path, 1, &alarm, err)) ||
      (rc = gd_json_get_bool(spec, "insufficient_data_ok", path, 0,
                             &c->insufficient_ok, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &c->region, err))) {
    ctx_free(c);
    return rc;
  }
  if (!alarm[0]) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL, "%s.alarm: must not be empty", path);
  }
  cJSON *names;
  c->alarm = strdup(alarm);
  if (!c->alarm || !(c->params = cJSON_CreateObject()) ||
      !(names = cJSON_AddArrayToObject(c->params, "AlarmNames.member")) ||
      !cJSON_AddItemToArray(names, cJSON_CreateString(alarm))) {
    ctx_free(c);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  p->ctx = c;
  return 0;
}

static void alarm_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct alarm_ctx *c = p->ctx;
  snprintf(buf, n, "cloudwatch alarm %s is OK%s", c->alarm,
           c->insufficient_ok ? " or INSUFFICIENT_DATA" : "");
}

static int alarm_start(struct gd_probe *p, struct gd_error *err) {
  struct alarm_ctx *c = p->ctx;
  return gd_awscheck_start_watch(&c->chk, p, c->region, err);
}

/* The alarm of that name among the answer's metric and composite alarms. */
static const xmlNode *find_alarm(const struct gd_aws_result *res,
                                 const char *name) {
  static const char *const lists[] = {
      "DescribeAlarmsResult/MetricAlarms/member",
      "DescribeAlarmsResult/CompositeAlarms/member", NULL};
  const xmlNode *root = res->xml ? xmlDocGetRootElement(res->xml) : NULL;
  char buf[256];
  for (size_t i = 0; root && lists[i]; i++)
    for (const xmlNode *m = gd_aws_xml_find(root, lists[i]); m;
         m = gd_aws_xml_next(m))
      if (gd_aws_xml_text(m, "AlarmName", buf, sizeof buf) &&
          strcmp(buf, name) == 0)
        return m;
  return NULL;
}

static void on_answer(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct alarm_ctx *c = r->s->probe->ctx;
  (void)e;
  const xmlNode *m = find_alarm(res, c->alarm);
  if (!m) {
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "no alarm '%s'", c->alarm);
    return;
  }
  char state[32], reason[256];
  gd_aws_xml_text(m, "StateValue", state, sizeof state);
  gd_aws_xml_text(m, "StateReason", reason, sizeof reason);
  if (strcmp(state, "OK") == 0 ||
      (c->insufficient_ok && strcmp(state, "INSUFFICIENT_DATA") == 0))
    gd_awscheck_finish(r, GD_SAMPLE_OK, "%s", state);
  else if (reason[0])
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "%s: %s", state, reason);
  else
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "%s",
                       state[0] ? state : "no state");
}

static int alarm_sample(struct gd_probe *p, struct gd_sample *s,
                        struct gd_error *err) {
  struct alarm_ctx *c = p->ctx;
  return gd_awscheck_sample(&c->chk, s, "monitoring", "DescribeAlarms",
                            c->params, on_answer, err);
}

static void alarm_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct alarm_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void alarm_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_cloudwatch_alarm = {
    .type = "aws.cloudwatch.alarm",
    .keys = alarm_keys,
    .init = alarm_init,
    .describe = alarm_describe,
    .start = alarm_start,
    .sample = alarm_sample,
    .cancel = gd_awscheck_cancel,
    .stop = alarm_stop,
    .free = alarm_free,
};

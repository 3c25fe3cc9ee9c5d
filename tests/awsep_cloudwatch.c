/* The test AWS endpoint: CloudWatch (DescribeAlarms). Alarms change state
 * only when a test says so (gd_awsep_set_alarm), as a real one would when
 * its metric crosses the threshold. */
#include <stdio.h>
#include <string.h>

#include "awsep_int.h"

static void x_alarm(struct awsep_req *r, const cJSON *a) {
  struct gd_awsep *ep = r->ep;
  const char *name = awsep_s(a, "name", "");
  const char *state = awsep_s(a, "state", "OK");
  const cJSON *d;
  char now[32];
  awsep_iso(ep, 0, now);
  awsep_x_open(r, "member");
  awsep_x_el(r, "AlarmName", name);
  awsep_x_elf(r, "AlarmArn", "arn:aws:cloudwatch:%s:%s:alarm:%s",
              awsep_region(ep), awsep_account(ep), name);
  if (awsep_s(a, "description", NULL))
    awsep_x_el(r, "AlarmDescription", awsep_s(a, "description", ""));
  awsep_x_el(r, "AlarmConfigurationUpdatedTimestamp",
             "2026-01-05T10:00:00.000Z");
  awsep_x_bool(r, "ActionsEnabled", 1);
  awsep_x_el(r, "OKActions", NULL);
  awsep_x_el(r, "AlarmActions", NULL);
  awsep_x_el(r, "InsufficientDataActions", NULL);
  awsep_x_el(r, "StateValue", state);
  const char *reason = awsep_s(a, "reason", NULL);
  char why[256];
  if (!reason) {
    snprintf(why, sizeof why,
             strcmp(state, "ALARM") == 0
                 ? "Threshold Crossed: 1 datapoint was greater than the "
                   "threshold."
             : strcmp(state, "OK") == 0
                 ? "Threshold Crossed: 1 datapoint was not greater than the "
                   "threshold."
                 : "Insufficient Data: 1 datapoint was unknown.");
    reason = why;
  }
  awsep_x_el(r, "StateReason", reason);
  awsep_x_el(r, "StateUpdatedTimestamp", awsep_s(a, "state_updated", now));
  awsep_x_el(r, "MetricName", awsep_s(a, "metric", "CPUUtilization"));
  awsep_x_el(r, "Namespace", awsep_s(a, "namespace", "AWS/EC2"));
  awsep_x_el(r, "Statistic", awsep_s(a, "statistic", "Average"));
  awsep_x_open(r, "Dimensions");
  cJSON_ArrayForEach(d, cJSON_GetObjectItem(a, "dimensions")) {
    awsep_x_open(r, "member");
    awsep_x_el(r, "Name", d->string);
    awsep_x_el(r, "Value", cJSON_GetStringValue(d));
    awsep_x_close(r, "member");
  }
  awsep_x_close(r, "Dimensions");
  awsep_x_elf(r, "Period", "%d", (int)awsep_n(a, "period", 60));
  awsep_x_elf(r, "EvaluationPeriods", "%d",
              (int)awsep_n(a, "evaluation_periods", 1));
  awsep_x_elf(r, "Threshold", "%g", awsep_n(a, "threshold", 1));
  awsep_x_el(r, "ComparisonOperator",
             awsep_s(a, "comparison", "GreaterThanThreshold"));
  awsep_x_el(r, "TreatMissingData", "missing");
  awsep_x_el(r, "StateTransitionedTimestamp",
             awsep_s(a, "state_updated", now));
  awsep_x_close(r, "member");
}

static int describe_alarms(struct awsep_req *r) {
  long max = awsep_int(r, "MaxRecords", 50, 1, 100);
  if (max < 0) return 0;
  long start = awsep_int(r, "NextToken", 0, 0, 1000000);
  if (start < 0) return 0;
  const char *prefix = awsep_param(r, "AlarmNamePrefix");
  const char *state = awsep_param(r, "StateValue");
  int nnames = 0;
  while (awsep_item(r, "AlarmNames.member", nnames + 1)) nnames++;
  if (prefix && nnames)
    return awsep_error(r, 400, "InvalidParameterCombination",
                       "AlarmNamePrefix and AlarmNames cannot both be "
                       "specified.");
  if (state && strcmp(state, "OK") != 0 && strcmp(state, "ALARM") != 0 &&
      strcmp(state, "INSUFFICIENT_DATA") != 0)
    return awsep_error(r, 400, "ValidationError",
                       "1 validation error detected: Value '%s' at "
                       "'stateValue' failed to satisfy constraint: Member "
                       "must satisfy enum value set: [INSUFFICIENT_DATA, "
                       "ALARM, OK]",
                       state);
  const cJSON *a;
  long k = 0, written = 0;
  int more = 0;
  awsep_begin(r);
  awsep_x_el(r, "CompositeAlarms", NULL);
  awsep_x_open(r, "MetricAlarms");
  cJSON_ArrayForEach(a, awsep_wlist(r->ep, "alarms")) {
    const char *name = awsep_s(a, "name", "");
    if (nnames) {
      int want = 0;
      for (int i = 1; i <= nnames; i++)
        want |= strcmp(awsep_item(r, "AlarmNames.member", i), name) == 0;
      if (!want) continue;
    }
    if (prefix && strncmp(name, prefix, strlen(prefix)) != 0) continue;
    if (state && strcmp(awsep_s(a, "state", "OK"), state) != 0) continue;
    if (k++ < start) continue;
    if (written == max) {
      more = 1;
      break;
    }
    written++;
    x_alarm(r, a);
  }
  awsep_x_close(r, "MetricAlarms");
  if (more) awsep_x_elf(r, "NextToken", "%ld", start + written);
  awsep_end(r);
  return 0;
}

const struct awsep_op gd_awsep_cloudwatch_ops[] = {
    {"DescribeAlarms", 0, describe_alarms}, {NULL, 0, NULL}};

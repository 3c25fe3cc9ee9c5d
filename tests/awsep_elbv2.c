/* The test AWS endpoint: Elastic Load Balancing v2 (DescribeTargetGroups,
 * DescribeTargetHealth). Targets drain and register as terminations and
 * replacements happen (awsep_ec2.c). */
#include <stdio.h>
#include <string.h>

#include "awsep_int.h"

static int arn_valid(const char *arn) {
  return strncmp(arn, "arn:aws:elasticloadbalancing:", 29) == 0 &&
         strstr(arn, ":targetgroup/") != NULL;
}

static void x_group(struct awsep_req *r, const cJSON *tg) {
  const cJSON *it;
  char port[16];
  snprintf(port, sizeof port, "%d", (int)awsep_n(tg, "port", 80));
  awsep_x_open(r, "member");
  awsep_x_el(r, "TargetGroupArn", awsep_s(tg, "arn", ""));
  awsep_x_el(r, "TargetGroupName", awsep_s(tg, "name", ""));
  awsep_x_el(r, "Protocol", awsep_s(tg, "protocol", "HTTP"));
  awsep_x_el(r, "Port", port);
  awsep_x_el(r, "VpcId", awsep_s(tg, "vpc_id", ""));
  awsep_x_el(r, "HealthCheckProtocol", awsep_s(tg, "protocol", "HTTP"));
  awsep_x_el(r, "HealthCheckPort", "traffic-port");
  awsep_x_bool(r, "HealthCheckEnabled", 1);
  awsep_x_el(r, "HealthCheckIntervalSeconds", "30");
  awsep_x_el(r, "HealthCheckTimeoutSeconds", "5");
  awsep_x_el(r, "HealthyThresholdCount", "5");
  awsep_x_el(r, "UnhealthyThresholdCount", "2");
  awsep_x_el(r, "HealthCheckPath", awsep_s(tg, "health_check_path", "/"));
  awsep_x_open(r, "Matcher");
  awsep_x_el(r, "HttpCode", "200");
  awsep_x_close(r, "Matcher");
  awsep_x_open(r, "LoadBalancerArns");
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(tg, "load_balancers"))
    awsep_x_el(r, "member", cJSON_GetStringValue(it));
  awsep_x_close(r, "LoadBalancerArns");
  awsep_x_el(r, "TargetType", "instance");
  awsep_x_el(r, "ProtocolVersion", "HTTP1");
  awsep_x_el(r, "IpAddressType", "ipv4");
  awsep_x_close(r, "member");
}

static int describe_target_groups(struct awsep_req *r) {
  long max = awsep_int(r, "PageSize", 400, 1, 400);
  if (max < 0) return 0;
  long start = awsep_int(r, "Marker", 0, 0, 1000000);
  if (start < 0) return 0;
  const char *lb = awsep_param(r, "LoadBalancerArn");
  int narns = 0, nnames = 0;
  const char *a;
  while ((a = awsep_item(r, "TargetGroupArns.member", narns + 1))) {
    if (!arn_valid(a))
      return awsep_error(r, 400, "ValidationError",
                         "'%s' is not a valid target group ARN", a);
    if (!awsep_find(r->ep, "target_groups", "arn", a))
      return awsep_error(r, 400, "TargetGroupNotFound",
                         "One or more target groups not found");
    narns++;
  }
  while ((a = awsep_item(r, "Names.member", nnames + 1))) {
    if (!awsep_find(r->ep, "target_groups", "name", a))
      return awsep_error(r, 400, "TargetGroupNotFound",
                         "One or more target groups not found");
    nnames++;
  }
  if ((narns && nnames) || ((narns || nnames) && lb))
    return awsep_error(r, 400, "ValidationError",
                       "Target group ARNs, names and a load balancer ARN "
                       "cannot be specified at the same time");
  const cJSON *tg;
  long k = 0, written = 0;
  int more = 0;
  awsep_begin(r);
  awsep_x_open(r, "TargetGroups");
  cJSON_ArrayForEach(tg, awsep_wlist(r->ep, "target_groups")) {
    int want = !narns && !nnames && !lb;
    for (int i = 1; i <= narns; i++)
      want |= strcmp(awsep_item(r, "TargetGroupArns.member", i),
                     awsep_s(tg, "arn", "")) == 0;
    for (int i = 1; i <= nnames; i++)
      want |= strcmp(awsep_item(r, "Names.member", i),
                     awsep_s(tg, "name", "")) == 0;
    if (lb) {
      const cJSON *l;
      cJSON_ArrayForEach(l, cJSON_GetObjectItem(tg, "load_balancers"))
        want |= strcmp(cJSON_GetStringValue(l) ? l->valuestring : "", lb) ==
                0;
    }
    if (!want || k++ < start) continue;
    if (written == max) {
      more = 1;
      break;
    }
    written++;
    x_group(r, tg);
  }
  awsep_x_close(r, "TargetGroups");
  if (more) awsep_x_elf(r, "NextMarker", "%ld", start + written);
  awsep_end(r);
  return 0;
}

static void x_health(struct awsep_req *r, const char *id, int port,
                     const char *az, const char *state) {
  static const struct {
    const char *state, *reason, *desc;
  } why[] = {
      {"initial", "Elb.RegistrationInProgress",
       "Target registration is in progress"},
      {"unhealthy", "Target.FailedHealthChecks", "Health checks failed"},
      {"draining", "Target.DeregistrationInProgress",
       "Target deregistration is in progress"},
      {"unused", "Target.NotRegistered",
       "Target is not registered to the target group"},
      {"unavailable", "Elb.InternalError", "Health checks are unavailable"},
  };
  awsep_x_open(r, "member");
  awsep_x_elf(r, "HealthCheckPort", "%d", port);
  awsep_x_open(r, "Target");
  awsep_x_elf(r, "Port", "%d", port);
  awsep_x_el(r, "Id", id);
  /* Only for targets registered with one (IP targets): EC2 instances'
   * zones come from DescribeInstances. */
  if (az) awsep_x_el(r, "AvailabilityZone", az);
  awsep_x_close(r, "Target");
  awsep_x_open(r, "TargetHealth");
  awsep_x_el(r, "State", state);
  for (size_t i = 0; i < sizeof why / sizeof why[0]; i++)
    if (strcmp(why[i].state, state) == 0) {
      awsep_x_el(r, "Reason", why[i].reason);
      awsep_x_el(r, "Description", why[i].desc);
    }
  awsep_x_close(r, "TargetHealth");
  awsep_x_close(r, "member");
}

static int describe_target_health(struct awsep_req *r) {
  const char *arn = awsep_require(r, "TargetGroupArn");
  if (!arn) return 0;
  if (!arn_valid(arn))
    return awsep_error(r, 400, "ValidationError",
                       "'%s' is not a valid target group ARN", arn);
  const cJSON *tg = awsep_find(r->ep, "target_groups", "arn", arn);
  if (!tg)
    return awsep_error(r, 400, "TargetGroupNotFound",
                       "Target groups '%s' not found", arn);
  const cJSON *t;
  int port = (int)awsep_n(tg, "port", 80);
  awsep_begin(r);
  awsep_x_open(r, "TargetHealthDescriptions");
  if (awsep_item2(r, "Targets.member", 1, "Id")) {
    const char *id;
    for (int i = 1; (id = awsep_item2(r, "Targets.member", i, "Id")); i++) {
      const cJSON *found = NULL;
      cJSON_ArrayForEach(t, cJSON_GetObjectItem(tg, "targets"))
        if (strcmp(awsep_s(t, "id", ""), id) == 0) found = t;
      if (found)
        x_health(r, id, (int)awsep_n(found, "port", port),
                 awsep_s(found, "az", NULL), awsep_s(found, "state", "healthy"));
      else
        x_health(r, id, port, NULL, "unused");
    }
  } else {
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(tg, "targets"))
      x_health(r, awsep_s(t, "id", ""), (int)awsep_n(t, "port", port),
               awsep_s(t, "az", NULL), awsep_s(t, "state", "healthy"));
  }
  awsep_x_close(r, "TargetHealthDescriptions");
  awsep_end(r);
  return 0;
}

const struct awsep_op gd_awsep_elbv2_ops[] = {
    {"DescribeTargetGroups", 0, describe_target_groups},
    {"DescribeTargetHealth", 0, describe_target_health},
    {NULL, 0, NULL}};

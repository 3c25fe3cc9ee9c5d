/* The test AWS endpoint: Auto Scaling (DescribeAutoScalingGroups,
 * DescribeAutoScalingInstances). Group membership lives on the instances
 * ("asg", "lifecycle", "health"); what a termination changes is in
 * awsep_ec2.c. */
#define _GNU_SOURCE
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "awsep_int.h"

static void x_launch_template(struct awsep_req *r, const char *group) {
  awsep_x_open(r, "LaunchTemplate");
  awsep_x_el(r, "LaunchTemplateId", "lt-0123456789abcdef0");
  awsep_x_el(r, "LaunchTemplateName", group);
  awsep_x_el(r, "Version", "$Default");
  awsep_x_close(r, "LaunchTemplate");
}

static int values_match(struct awsep_req *r, int f, const char *v) {
  char k[64];
  if (!v) return 0;
  for (int m = 1;; m++) {
    snprintf(k, sizeof k, "Values.member.%d", m);
    const char *want = awsep_item2(r, "Filters.member", f, k);
    if (!want) return 0;
    if (fnmatch(want, v, 0) == 0) return 1;
  }
}

/* 1 pass, 0 not, -1 an unknown filter (answered). */
static int group_filter(struct awsep_req *r, int f, const cJSON *g) {
  const char *name = awsep_item2(r, "Filters.member", f, "Name");
  const cJSON *tags = cJSON_GetObjectItem(g, "tags"), *t;
  if (strncmp(name, "tag:", 4) == 0)
    return values_match(r, f, awsep_s(tags, name + 4, NULL));
  if (strcmp(name, "tag-key") == 0 || strcmp(name, "tag-value") == 0) {
    cJSON_ArrayForEach(t, tags) {
      if (values_match(r, f,
                       name[4] == 'k' ? t->string : cJSON_GetStringValue(t)))
        return 1;
    }
    return 0;
  }
  awsep_error(r, 400, "ValidationError",
              "Filter name '%s' is not valid. Valid filter names are "
              "tag-key, tag-value and tag:<key>.",
              name);
  return -1;
}

static void x_group(struct awsep_req *r, const cJSON *g) {
  const char *name = awsep_s(g, "name", "");
  const cJSON *it;
  awsep_x_open(r, "member");
  awsep_x_el(r, "AutoScalingGroupName", name);
  awsep_x_elf(r, "AutoScalingGroupARN",
              "arn:aws:autoscaling:%s:%s:autoScalingGroup:"
              "5ac2a7e1-63d4-4f0e-9b2e-0a0ebd3c11a2:autoScalingGroupName/%s",
              awsep_region(r->ep), awsep_account(r->ep), name);
  x_launch_template(r, name);
  awsep_x_elf(r, "MinSize", "%d", (int)awsep_n(g, "min", 0));
  awsep_x_elf(r, "MaxSize", "%d", (int)awsep_n(g, "max", 0));
  awsep_x_elf(r, "DesiredCapacity", "%d", (int)awsep_n(g, "desired", 0));
  awsep_x_el(r, "DefaultCooldown", "300");
  awsep_x_open(r, "AvailabilityZones");
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(g, "azs"))
    awsep_x_el(r, "member", cJSON_GetStringValue(it));
  awsep_x_close(r, "AvailabilityZones");
  awsep_x_el(r, "LoadBalancerNames", NULL);
  awsep_x_open(r, "TargetGroupARNs");
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(g, "target_groups"))
    awsep_x_el(r, "member", cJSON_GetStringValue(it));
  awsep_x_close(r, "TargetGroupARNs");
  awsep_x_el(r, "HealthCheckType", awsep_s(g, "health_check_type", "EC2"));
  awsep_x_el(r, "HealthCheckGracePeriod", "300");
  awsep_x_open(r, "Instances");
  cJSON_ArrayForEach(it, awsep_wlist(r->ep, "instances")) {
    if (strcmp(awsep_s(it, "asg", ""), name) != 0 ||
        strcmp(awsep_s(it, "lifecycle", ""), "Terminated") == 0)
      continue;
    awsep_x_open(r, "member");
    awsep_x_el(r, "InstanceId", awsep_s(it, "id", ""));
    awsep_x_el(r, "InstanceType", awsep_s(it, "type", ""));
    awsep_x_el(r, "AvailabilityZone", awsep_s(it, "az", ""));
    awsep_x_el(r, "LifecycleState", awsep_s(it, "lifecycle", "InService"));
    awsep_x_el(r, "HealthStatus", awsep_s(it, "health", "Healthy"));
    x_launch_template(r, name);
    awsep_x_bool(r, "ProtectedFromScaleIn", 0);
    awsep_x_close(r, "member");
  }
  awsep_x_close(r, "Instances");
  awsep_x_el(r, "CreatedTime", "2026-01-05T10:00:00.000Z");
  awsep_x_el(r, "SuspendedProcesses", NULL);
  awsep_x_el(r, "VPCZoneIdentifier",
             "subnet-0123456789abcdef0,subnet-0fedcba9876543210");
  awsep_x_el(r, "EnabledMetrics", NULL);
  awsep_x_open(r, "Tags");
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(g, "tags")) {
    awsep_x_open(r, "member");
    awsep_x_el(r, "ResourceId", name);
    awsep_x_el(r, "ResourceType", "auto-scaling-group");
    awsep_x_el(r, "Key", it->string);
    awsep_x_el(r, "Value", cJSON_GetStringValue(it));
    awsep_x_bool(r, "PropagateAtLaunch", 1);
    awsep_x_close(r, "member");
  }
  awsep_x_close(r, "Tags");
  awsep_x_open(r, "TerminationPolicies");
  awsep_x_el(r, "member", "Default");
  awsep_x_close(r, "TerminationPolicies");
  awsep_x_bool(r, "NewInstancesProtectedFromScaleIn", 0);
  awsep_x_elf(r, "ServiceLinkedRoleARN",
              "arn:aws:iam::%s:role/aws-service-role/"
              "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
              awsep_account(r->ep));
  awsep_x_bool(r, "CapacityRebalance", 0);
  awsep_x_close(r, "member");
}

static int describe_groups(struct awsep_req *r) {
  long max = awsep_int(r, "MaxRecords", 50, 1, 100);
  if (max < 0) return 0;
  long start = awsep_int(r, "NextToken", 0, 0, 1000000);
  if (start < 0) return 0;
  int nnames = 0;
  while (awsep_item(r, "AutoScalingGroupNames.member", nnames + 1)) nnames++;
  const cJSON *g;
  long k = 0, written = 0;
  int more = 0;
  awsep_begin(r);
  awsep_x_open(r, "AutoScalingGroups");
  cJSON_ArrayForEach(g, awsep_wlist(r->ep, "auto_scaling_groups")) {
    const char *name = awsep_s(g, "name", "");
    if (nnames) {
      int want = 0;
      for (int i = 1; i <= nnames; i++)
        want |= strcmp(awsep_item(r, "AutoScalingGroupNames.member", i),
                       name) == 0;
      if (!want) continue;
    }
    int pass = 1;
    for (int f = 1; pass && awsep_item2(r, "Filters.member", f, "Name");
         f++) {
      int m = group_filter(r, f, g);
      if (m < 0) return 0;
      pass = m;
    }
    if (!pass || k++ < start) continue;
    if (written == max) {
      more = 1;
      break;
    }
    written++;
    x_group(r, g);
  }
  awsep_x_close(r, "AutoScalingGroups");
  if (more) awsep_x_elf(r, "NextToken", "%ld", start + written);
  awsep_end(r);
  return 0;
}

static int describe_instances(struct awsep_req *r) {
  long max = awsep_int(r, "MaxRecords", 50, 1, 50);
  if (max < 0) return 0;
  long start = awsep_int(r, "NextToken", 0, 0, 1000000);
  if (start < 0) return 0;
  int nids = 0;
  while (awsep_item(r, "InstanceIds.member", nids + 1)) nids++;
  const cJSON *in;
  long k = 0, written = 0;
  int more = 0;
  awsep_begin(r);
  awsep_x_open(r, "AutoScalingInstances");
  cJSON_ArrayForEach(in, awsep_wlist(r->ep, "instances")) {
    const char *id = awsep_s(in, "id", "");
    const char *asg = awsep_s(in, "asg", NULL);
    if (!asg || strcmp(awsep_s(in, "lifecycle", ""), "Terminated") == 0)
      continue;
    if (nids) {
      int want = 0;
      for (int i = 1; i <= nids; i++)
        want |= strcmp(awsep_item(r, "InstanceIds.member", i), id) == 0;
      if (!want) continue;
    }
    if (k++ < start) continue;
    if (written == max) {
      more = 1;
      break;
    }
    written++;
    awsep_x_open(r, "member");
    awsep_x_el(r, "InstanceId", id);
    awsep_x_el(r, "InstanceType", awsep_s(in, "type", ""));
    awsep_x_el(r, "AutoScalingGroupName", asg);
    awsep_x_el(r, "AvailabilityZone", awsep_s(in, "az", ""));
    awsep_x_el(r, "LifecycleState", awsep_s(in, "lifecycle", "InService"));
    /* This operation spells health in capitals, unlike the group's. */
    awsep_x_el(r, "HealthStatus",
               strcmp(awsep_s(in, "health", "Healthy"), "Healthy") == 0
                   ? "HEALTHY"
                   : "UNHEALTHY");
    x_launch_template(r, asg);
    awsep_x_bool(r, "ProtectedFromScaleIn", 0);
    awsep_x_close(r, "member");
  }
  awsep_x_close(r, "AutoScalingInstances");
  if (more) awsep_x_elf(r, "NextToken", "%ld", start + written);
  awsep_end(r);
  return 0;
}

const struct awsep_op gd_awsep_autoscaling_ops[] = {
    {"DescribeAutoScalingGroups", 0, describe_groups},
    {"DescribeAutoScalingInstances", 0, describe_instances},
    {NULL, 0, NULL}};

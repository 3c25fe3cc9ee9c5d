/* gameday: the static tables of probe and action kinds. A new kind is one
 * file in probes/ or actions/ and one line here; nothing changes them at
 * run time. */
#include <stdio.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/probe.h"

extern const struct gd_probe_ops gd_probe_http;
extern const struct gd_probe_ops gd_probe_tcp;
extern const struct gd_probe_ops gd_probe_exec;
extern const struct gd_probe_ops gd_probe_postgres;
extern const struct gd_probe_ops gd_probe_aws_sqs_depth;
extern const struct gd_probe_ops gd_probe_aws_asg_in_service;
extern const struct gd_probe_ops gd_probe_aws_elbv2_healthy;
extern const struct gd_probe_ops gd_probe_aws_rds_cluster;
extern const struct gd_probe_ops gd_probe_aws_cloudwatch_alarm;
extern const struct gd_probe_ops gd_probe_dns;
extern const struct gd_probe_ops gd_probe_aws_posture_asg;
extern const struct gd_probe_ops gd_probe_aws_posture_target_zones;
extern const struct gd_probe_ops gd_probe_aws_posture_rds;
extern const struct gd_probe_ops gd_probe_aws_posture_sqs_dlq;
extern const struct gd_probe_ops gd_probe_aws_posture_alarms;
extern const struct gd_probe_ops gd_probe_aws_security_open_sg;
extern const struct gd_probe_ops gd_probe_aws_security_db_sg;
extern const struct gd_probe_ops gd_probe_aws_security_root_mfa;
extern const struct gd_probe_ops gd_probe_aws_security_password_policy;
extern const struct gd_probe_ops gd_probe_aws_security_access_keys;
extern const struct gd_probe_ops gd_probe_aws_security_s3_public;
extern const struct gd_probe_ops gd_probe_aws_security_cloudtrail;
extern const struct gd_probe_ops gd_probe_aws_security_lambda_runtimes;

extern const struct gd_action_ops gd_action_http;
extern const struct gd_action_ops gd_action_exec;
extern const struct gd_action_ops gd_action_signal;
extern const struct gd_action_ops gd_action_sleep;
extern const struct gd_action_ops gd_action_compare;
extern const struct gd_action_ops gd_action_postgres;
extern const struct gd_action_ops gd_action_aws_sqs_send;
extern const struct gd_action_ops gd_action_aws_sqs_purge;
extern const struct gd_action_ops gd_action_queue_reconcile;
extern const struct gd_action_ops gd_action_aws_ec2_terminate;
extern const struct gd_action_ops gd_action_aws_call;
extern const struct gd_action_ops gd_action_aws_rds_failover;
extern const struct gd_action_ops gd_action_aws_rds_reboot;
extern const struct gd_action_ops gd_action_aws_rds_restore;
extern const struct gd_action_ops gd_action_aws_rds_delete;

static const struct gd_probe_ops *const probe_kinds[] = {
    &gd_probe_http,
    &gd_probe_tcp,
    &gd_probe_exec,
    &gd_probe_postgres,
    &gd_probe_aws_sqs_depth,
    &gd_probe_aws_asg_in_service,
    &gd_probe_aws_elbv2_healthy,
    &gd_probe_aws_rds_cluster,
    &gd_probe_aws_cloudwatch_alarm,
    &gd_probe_dns,
    &gd_probe_aws_posture_asg,
    &gd_probe_aws_posture_target_zones,
    &gd_probe_aws_posture_rds,
    &gd_probe_aws_posture_sqs_dlq,
    &gd_probe_aws_posture_alarms,
    &gd_probe_aws_security_open_sg,
    &gd_probe_aws_security_db_sg,
    &gd_probe_aws_security_root_mfa,
    &gd_probe_aws_security_password_policy,
    &gd_probe_aws_security_access_keys,
    &gd_probe_aws_security_s3_public,
    &gd_probe_aws_security_cloudtrail,
    &gd_probe_aws_security_lambda_runtimes,
    NULL,
};

static const struct gd_action_ops *const action_kinds[] = {
    &gd_action_http,
    &gd_action_exec,
    &gd_action_signal,
    &gd_action_sleep,
    &gd_action_compare,
    &gd_action_postgres,
    &gd_action_aws_sqs_send,
    &gd_action_aws_sqs_purge,
    &gd_action_queue_reconcile,
    &gd_action_aws_ec2_terminate,
    &gd_action_aws_call,
    &gd_action_aws_rds_failover,
    &gd_action_aws_rds_reboot,
    &gd_action_aws_rds_restore,
    &gd_action_aws_rds_delete,
    NULL,
};

const struct gd_probe_ops *gd_probe_kind(const char *type) {
  for (size_t i = 0; probe_kinds[i]; i++)
    if (strcmp(probe_kinds[i]->type, type) == 0) return probe_kinds[i];
  return NULL;
}

const struct gd_probe_ops *const *gd_probe_kinds(void) { return probe_kinds; }

const struct gd_action_ops *gd_action_kind(const char *type) {
  for (size_t i = 0; action_kinds[i]; i++)
    if (strcmp(action_kinds[i]->type, type) == 0) return action_kinds[i];
  return NULL;
}

const struct gd_action_ops *const *gd_action_kinds(void) {
  return action_kinds;
}

/* "http, tcp, exec": the kinds' names for error messages and --help. */
static const char *join_types(char *buf, size_t n, const char *const *types,
                              size_t count) {
  size_t len = 0;
  buf[0] = 0;
  for (size_t i = 0; i < count && len < n; i++) {
    int w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", types[i]);
    if (w < 0) break;
    len += (size_t)w;
  }
  return buf;
}

const char *gd_probe_kind_names(char *buf, size_t n) {
  const char *types[sizeof probe_kinds / sizeof probe_kinds[0]];
  size_t count = 0;
  for (; probe_kinds[count]; count++) types[count] = probe_kinds[count]->type;
  return join_types(buf, n, types, count);
}

const char *gd_action_kind_names(char *buf, size_t n) {
  const char *types[sizeof action_kinds / sizeof action_kinds[0]];
  size_t count = 0;
  for (; action_kinds[count]; count++) types[count] = action_kinds[count]->type;
  return join_types(buf, n, types, count);
}

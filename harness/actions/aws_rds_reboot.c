/* gameday: the aws.rds.reboot_db_instance action: RebootDBInstance, with
 * `force_failover` for a Multi-AZ instance (the reboot then moves the
 * instance to its standby, the instance-level failover). In an Aurora
 * cluster, rebooting the writer is the "writer restarts in place" fault;
 * failing over to a reader is aws.rds.failover_db_cluster's.
 *
 * DescribeDBInstances comes first: its TagList goes through the scenario's
 * safety rules and the instance must be "available" (RDS refuses a reboot
 * otherwise). The action ends when RDS accepted the reboot; the probes
 * measure the outage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/awsjob.h"
#include "gameday/awskind.h"
#include "gameday/awsrds.h"
#include "gameday/json.h"

struct reboot_action {
  char *instance;
  char *region;
  int force_failover;
  struct gd_awsjob job;
  char cluster[GD_RDS_ID_MAX];
  char status[64]; /* the instance's, as the last answer said; "" none */
};

static const char *const reboot_keys[] = {"instance", "force_failover",
                                          "region", NULL};

static void ctx_free(struct reboot_action *x) {
  if (!x) return;
  free(x->instance);
  free(x->region);
  free(x);
}

static int reboot_init(struct gd_action *a, const cJSON *spec,
                       const char *path, struct gd_error *err) {
  struct reboot_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *inst = NULL;
  int rc;
  if ((rc = gd_json_get_string(spec, "instance", path, 1, &inst, err)) ||
      (rc = gd_json_get_bool(spec, "force_failover", path, 0,
                             &x->force_failover, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &x->region, err))) {
    ctx_free(x);
    return rc;
  }
  if (!inst[0]) {
    ctx_free(x);
    return gd_error_set(err, GD_EINVAL, "%s.instance: must not be empty",
                        path);
  }
  if (!(x->instance = strdup(inst))) {
    ctx_free(x);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  a->ctx = x;
  return 0;
}

static void reboot_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct reboot_action *x = a->ctx;
  snprintf(buf, n, "reboot rds instance %s%s", x->instance,
           x->force_failover ? " with failover" : "");
}

static void set_detail(struct gd_action *a, const struct gd_aws_result *res) {
  struct reboot_action *x = a->ctx;
  cJSON *d = cJSON_CreateObject();
  if (d) {
    cJSON_AddStringToObject(d, "instance", x->instance);
    if (x->cluster[0]) cJSON_AddStringToObject(d, "cluster", x->cluster);
    cJSON_AddBoolToObject(d, "force_failover", x->force_failover);
    if (x->status[0]) cJSON_AddStringToObject(d, "status", x->status);
  }
  gd_rds_set_detail(a, d, res);
}

static void on_reboot(struct gd_awsjob *j, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct gd_action *a = j->a;
  struct reboot_action *x = a->ctx;
  struct gd_rds_instance i;
  /* The status the reboot answer gives, not the describe's. */
  x->status[0] = 0;
  if (e) {
    gd_rds_fail(j, set_detail, res, "%s", e->msg);
    return;
  }
  gd_rds_instance_read(res, &i);
  snprintf(x->status, sizeof x->status, "%s", i.status);
  set_detail(a, res);
  gd_awsjob_finish(j, 1, "reboot of instance '%s'%s started (status '%s')",
                   x->instance, x->force_failover ? " with failover" : "",
                   i.status);
}

static void on_describe(struct gd_awsjob *j, struct gd_aws_result *res,
                        const struct gd_error *e) {
  struct gd_action *a = j->a;
  struct reboot_action *x = a->ctx;
  struct gd_rds_instance i;
  if (gd_rds_described_instance(j, set_detail, res, e, x->instance, &i))
    return;
  snprintf(x->cluster, sizeof x->cluster, "%s", i.cluster);
  snprintf(x->status, sizeof x->status, "%s", i.status);
  set_detail(a, res);
  if (gd_rds_job_check_tags(j, set_detail, res, x->instance, &i.tags)) return;
  if (strcmp(i.status, "available") != 0) {
    gd_awsjob_finish(j, 0, "instance '%s' is '%s', not available: no reboot",
                     x->instance, i.status);
    return;
  }
  if (a->dry_run) {
    gd_awsjob_finish(j, 1, "would reboot instance '%s'%s%s%s", x->instance,
                     i.cluster[0] ? " of cluster " : "", i.cluster,
                     x->force_failover ? " with failover" : "");
    return;
  }
  cJSON *p = gd_rds_id_params("DBInstanceIdentifier", x->instance);
  if (p && x->force_failover &&
      !cJSON_AddBoolToObject(p, "ForceFailover", 1)) {
    cJSON_Delete(p);
    p = NULL;
  }
  gd_rds_call(j, "RebootDBInstance", p, on_reboot);
}

static int reboot_run(struct gd_action *a, struct gd_error *err) {
  struct reboot_action *x = a->ctx;
  x->cluster[0] = x->status[0] = 0;
  /* As for a failover: a second reboot is not what the scenario asked. */
  struct gd_aws_options o = {.max_attempts = 2};
  int rc = gd_awsjob_start(&x->job, a, x, x->region, &o, err);
  if (rc) return rc;
  gd_rds_call_id(&x->job, "DescribeDBInstances", "DBInstanceIdentifier",
                 x->instance, on_describe);
  return 0;
}

static void reboot_cancel(struct gd_action *a) {
  struct reboot_action *x = a->ctx;
  gd_awsjob_cancel(&x->job);
}

static void reboot_free(struct gd_action *a) {
  ctx_free(a->ctx);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_aws_rds_reboot = {
    .type = "aws.rds.reboot_db_instance",
    .keys = reboot_keys,
    .dry_run = 1,
    .init = reboot_init,
    .describe = reboot_describe,
    .run = reboot_run,
    .cancel = reboot_cancel,
    .free = reboot_free,
};

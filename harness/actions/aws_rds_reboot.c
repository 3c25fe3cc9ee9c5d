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

static void set_detail(struct gd_action *a, const struct gd_aws_result *res,
                       const char *status) {
  struct reboot_action *x = a->ctx;
  cJSON *d = cJSON_CreateObject();
  if (d) {
    cJSON_AddStringToObject(d, "instance", x->instance);
    if (x->cluster[0]) cJSON_AddStringToObject(d, "cluster", x->cluster);
    cJSON_AddBoolToObject(d, "force_failover", x->force_failover);
    if (status && status[0]) cJSON_AddStringToObject(d, "status", status);
    if (a->dry_run) cJSON_AddBoolToObject(d, "dry_run", 1);
    if (res && res->aws_code[0])
      cJSON_AddStringToObject(d, "aws_code", res->aws_code);
    if (res && res->request_id[0])
      cJSON_AddStringToObject(d, "request_id", res->request_id);
  }
  cJSON_Delete(a->detail);
  a->detail = d;
}

static void on_reboot(struct gd_awsjob *j, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct gd_action *a = j->a;
  struct reboot_action *x = a->ctx;
  if (e) {
    set_detail(a, res, NULL);
    gd_awsjob_finish(j, 0, "%s", e->msg);
    return;
  }
  struct gd_rds_instance i;
  gd_rds_instance_read(res, &i);
  set_detail(a, res, i.status);
  gd_awsjob_finish(j, 1, "reboot of instance '%s'%s started (status '%s')",
                   x->instance, x->force_failover ? " with failover" : "",
                   i.status);
}

static void on_describe(struct gd_awsjob *j, struct gd_aws_result *res,
                        const struct gd_error *e) {
  struct gd_action *a = j->a;
  struct reboot_action *x = a->ctx;
  struct gd_rds_instance i;
  if (e) {
    set_detail(a, res, NULL);
    gd_awsjob_finish(j, 0, "%s", e->msg);
    return;
  }
  if (gd_rds_instance_read(res, &i)) {
    set_detail(a, res, NULL);
    gd_awsjob_finish(j, 0, "rds DescribeDBInstances: no instance '%s' in the "
                     "answer", x->instance);
    return;
  }
  snprintf(x->cluster, sizeof x->cluster, "%s", i.cluster);
  set_detail(a, res, i.status);
  struct gd_error err = {0};
  if (gd_rds_check_tags(a->sc, x->instance, &i.tags, &err)) {
    gd_awsjob_finish(j, 0, "refused: %s", err.msg);
    return;
  }
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
  if (!p) {
    gd_awsjob_finish(j, 0, "out of memory");
    return;
  }
  gd_awsjob_call(j, "rds", "RebootDBInstance", p, on_reboot);
  cJSON_Delete(p);
}

static int reboot_run(struct gd_action *a, struct gd_error *err) {
  struct reboot_action *x = a->ctx;
  x->cluster[0] = 0;
  /* As for a failover: a second reboot is not what the scenario asked. */
  struct gd_aws_options o = {.max_attempts = 2};
  int rc = gd_awsjob_start(&x->job, a, x, x->region, &o, err);
  if (rc) return rc;
  cJSON *p = gd_rds_id_params("DBInstanceIdentifier", x->instance);
  if (!p) {
    gd_awsjob_finish(&x->job, 0, "out of memory");
    return 0;
  }
  gd_awsjob_call(&x->job, "rds", "DescribeDBInstances", p, on_describe);
  cJSON_Delete(p);
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

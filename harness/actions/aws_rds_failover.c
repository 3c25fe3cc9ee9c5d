/* gameday: the aws.rds.failover_db_cluster action: FailoverDBCluster on an
 * Aurora cluster, the fault of the database-failover scenario.
 *
 * DescribeDBClusters comes first: the cluster's tags go through the
 * scenario's safety rules, its status must be "available" (RDS refuses a
 * failover otherwise, and a cluster already failing over is someone else's
 * fault in progress), and the current writer is remembered, so the journal
 * says which instance lost the writer role. `target_instance`, when given,
 * must be a reader of the cluster: naming the writer would be a no-op that
 * still looks like a fault in the report. Without it RDS picks the replica
 * (the one with the best promotion tier).
 *
 * The action ends when RDS accepted the failover. How long writes were
 * refused is what the probes measure (write ledger, aws.rds.cluster with
 * writer_changed, dns on the cluster endpoint). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/awsjob.h"
#include "gameday/awskind.h"
#include "gameday/awsrds.h"
#include "gameday/json.h"

struct failover_action {
  char *cluster;
  char *target; /* NULL: RDS chooses */
  char *region;
  struct gd_awsjob job;
  char old_writer[GD_RDS_ID_MAX];
  char status[64]; /* the cluster's, as the last answer said; "" none */
};

static const char *const failover_keys[] = {"cluster", "target_instance",
                                            "region", NULL};

static void ctx_free(struct failover_action *x) {
  if (!x) return;
  free(x->cluster);
  free(x->target);
  free(x->region);
  free(x);
}

static int failover_init(struct gd_action *a, const cJSON *spec,
                         const char *path, struct gd_error *err) {
  struct failover_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *cluster = NULL, *target = NULL;
  int rc;
  if ((rc = gd_json_get_string(spec, "cluster", path, 1, &cluster, err)) ||
      (rc = gd_json_get_string(spec, "target_instance", path, 0, &target,
                               err)) ||
      (rc = gd_awskind_region_parse(spec, path, &x->region, err))) {
    ctx_free(x);
    return rc;
  }
  if (!cluster[0] || (target && !target[0])) {
    ctx_free(x);
    return gd_error_set(err, GD_EINVAL, "%s.%s: must not be empty", path,
                        cluster[0] ? "target_instance" : "cluster");
  }
  x->cluster = strdup(cluster);
  x->target = target ? strdup(target) : NULL;
  if (!x->cluster || (target && !x->target)) {
    ctx_free(x);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  a->ctx = x;
  return 0;
}

static void failover_describe(const struct gd_action *a, char *buf,
                              size_t n) {
  const struct failover_action *x = a->ctx;
  if (x->target)
    snprintf(buf, n, "fail over aurora cluster %s to %s", x->cluster,
             x->target);
  else
    snprintf(buf, n, "fail over aurora cluster %s (rds picks the replica)",
             x->cluster);
}

static void set_detail(struct gd_action *a, const struct gd_aws_result *res) {
  struct failover_action *x = a->ctx;
  cJSON *d = cJSON_CreateObject();
  if (d) {
    cJSON_AddStringToObject(d, "cluster", x->cluster);
    if (x->old_writer[0])
      cJSON_AddStringToObject(d, "old_writer", x->old_writer);
    if (x->target) cJSON_AddStringToObject(d, "target_instance", x->target);
    if (x->status[0]) cJSON_AddStringToObject(d, "status", x->status);
  }
  gd_rds_set_detail(a, d, res);
}

static void on_failover(struct gd_awsjob *j, struct gd_aws_result *res,
                        const struct gd_error *e) {
  struct gd_action *a = j->a;
  struct failover_action *x = a->ctx;
  struct gd_rds_cluster c;
  /* The status the failover answer gives, not the describe's. */
  x->status[0] = 0;
  if (e) {
    gd_rds_fail(j, set_detail, res, "%s", e->msg);
    return;
  }
  gd_rds_cluster_read(res, &c);
  snprintf(x->status, sizeof x->status, "%s", c.status);
  set_detail(a, res);
  gd_awsjob_finish(j, 1, "failover of cluster '%s' started: writer was '%s'%s%s",
                   x->cluster, x->old_writer, x->target ? ", target " : "",
                   x->target ? x->target : "");
}

static void on_describe(struct gd_awsjob *j, struct gd_aws_result *res,
                        const struct gd_error *e) {
  struct gd_action *a = j->a;
  struct failover_action *x = a->ctx;
  struct gd_rds_cluster c;
  if (gd_rds_described_cluster(j, set_detail, res, e, x->cluster, &c)) return;
  snprintf(x->old_writer, sizeof x->old_writer, "%s", c.writer);
  snprintf(x->status, sizeof x->status, "%s", c.status);
  set_detail(a, res);
  if (gd_rds_job_check_tags(j, set_detail, res, x->cluster, &c.tags)) return;
  if (strcmp(c.status, "available") != 0) {
    gd_awsjob_finish(j, 0, "cluster '%s' is '%s', not available: no failover",
                     x->cluster, c.status);
    return;
  }
  if (!c.writer[0]) {
    gd_awsjob_finish(j, 0, "cluster '%s' has no writer instance: no failover",
                     x->cluster);
    return;
  }
  if (x->target) {
    size_t i = 0;
    while (i < c.nmembers && strcmp(c.members[i], x->target) != 0) i++;
    if (i == c.nmembers) {
      gd_awsjob_finish(j, 0, "target_instance '%s' is not a member of "
                       "cluster '%s'", x->target, x->cluster);
      return;
    }
    if (c.member_writer[i]) {
      gd_awsjob_finish(j, 0, "target_instance '%s' is already the writer of "
                       "cluster '%s'", x->target, x->cluster);
      return;
    }
  } else if (c.nmembers < 2) {
    gd_awsjob_finish(j, 0, "cluster '%s' has no replica to fail over to",
                     x->cluster);
    return;
  }
  if (a->dry_run) {
    if (x->target)
      gd_awsjob_finish(j, 1, "would fail over cluster '%s' from writer '%s' "
                       "to '%s'", x->cluster, c.writer, x->target);
    else
      gd_awsjob_finish(j, 1, "would fail over cluster '%s' from writer '%s' "
                       "to a replica rds picks", x->cluster, c.writer);
    return;
  }
  cJSON *p = gd_rds_id_params("DBClusterIdentifier", x->cluster);
  if (p && x->target &&
      !cJSON_AddStringToObject(p, "TargetDBInstanceIdentifier", x->target)) {
    cJSON_Delete(p);
    p = NULL;
  }
  gd_rds_call(j, "FailoverDBCluster", p, on_failover);
}

static int failover_run(struct gd_action *a, struct gd_error *err) {
  struct failover_action *x = a->ctx;
  x->old_writer[0] = x->status[0] = 0;
  /* A failover must not be sent twice: one attempt more covers a dropped
   * connection before RDS answered, and RDS refuses the second while the
   * first is in progress (InvalidDBClusterStateFault), which is reported. */
  struct gd_aws_options o = {.max_attempts = 2};
  int rc = gd_awsjob_start(&x->job, a, x, x->region, &o, err);
  if (rc) return rc;
  gd_rds_call_id(&x->job, "DescribeDBClusters", "DBClusterIdentifier",
                 x->cluster, on_describe);
  return 0;
}

static void failover_cancel(struct gd_action *a) {
  struct failover_action *x = a->ctx;
  gd_awsjob_cancel(&x->job);
}

static void failover_free(struct gd_action *a) {
  ctx_free(a->ctx);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_aws_rds_failover = {
    .type = "aws.rds.failover_db_cluster",
    .keys = failover_keys,
    .dry_run = 1,
    .init = failover_init,
    .describe = failover_describe,
    .run = failover_run,
    .cancel = failover_cancel,
    .free = failover_free,
};

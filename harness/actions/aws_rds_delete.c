/* gameday: the aws.rds.delete_db_cluster action: deletes an Aurora cluster
 * and its instances, without a final snapshot, and waits until it is gone.
 * It is the rollback of a point-in-time restore, so it has two guards:
 *
 *   - the scenario's safety rules on the cluster's tags, as for any target;
 *   - the cluster must carry gameday:created-by (the restore action tags
 *     what it creates): a cluster gameday did not make is refused unless
 *     the step says "created_by_gameday": false, explicitly. Deleting with
 *     SkipFinalSnapshot is not undoable; a typo in a cluster name must not
 *     be able to do it to a cluster someone built by hand.
 *
 * A cluster that does not exist is not an error: a restore that failed
 * before it created anything leaves nothing to delete, and the rollback
 * must still pass. Aurora refuses DeleteDBCluster while instances remain,
 * hence the order: DeleteDBInstance for each member, wait until the
 * cluster has none, DeleteDBCluster, wait until DescribeDBClusters says
 * DBClusterNotFoundFault. The action's timeout_ms bounds it all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/awsjob.h"
#include "gameday/awskind.h"
#include "gameday/awsrds.h"
#include "gameday/json.h"

#define DELETE_DEFAULT_POLL_MS 15000

struct delete_action {
  char *cluster;
  char *region;
  int created_by_gameday;
  unsigned poll_ms;

  struct gd_awsjob job;
  size_t nmembers, next;
  char members[GD_RDS_MAX_MEMBERS][GD_RDS_ID_MAX];
  char created_by[256];
  char last_status[64];
  int deleting_cluster;
};

static const char *const delete_keys[] = {"cluster", "created_by_gameday",
                                          "poll_interval_ms", "region", NULL};

static void ctx_free(struct delete_action *x) {
  if (!x) return;
  free(x->cluster);
  free(x->region);
  free(x);
}

static int delete_init(struct gd_action *a, const cJSON *spec,
                       const char *path, struct gd_error *err) {
  struct delete_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *cluster = NULL;
  long long poll = DELETE_DEFAULT_POLL_MS;
  x->created_by_gameday = 1;
  int rc;
  if ((rc = gd_json_get_string(spec, "cluster", path, 1, &cluster, err)) ||
      (rc = gd_json_get_bool(spec, "created_by_gameday", path, 0,
                             &x->created_by_gameday, err)) ||
      (rc = gd_json_get_int(spec, "poll_interval_ms", path, 0, 10, 600000,
                            &poll, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &x->region, err))) {
    ctx_free(x);
    return rc;
  }
  if (!cluster[0]) {
    ctx_free(x);
    return gd_error_set(err, GD_EINVAL, "%s.cluster: must not be empty", path);
  }
  x->poll_ms = (unsigned)poll;
  if (!(x->cluster = strdup(cluster))) {
    ctx_free(x);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  a->ctx = x;
  return 0;
}

static void delete_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct delete_action *x = a->ctx;
  snprintf(buf, n, "delete aurora cluster %s and its instances (no final "
           "snapshot%s)", x->cluster,
           x->created_by_gameday ? ", only if gameday created it" : "");
}

static void set_detail(struct gd_action *a, const struct gd_aws_result *res) {
  struct delete_action *x = a->ctx;
  cJSON *d = cJSON_CreateObject();
  if (d) {
    cJSON_AddStringToObject(d, "cluster", x->cluster);
    cJSON *m = cJSON_AddArrayToObject(d, "instances");
    for (size_t i = 0; m && i < x->nmembers; i++)
      cJSON_AddItemToArray(m, cJSON_CreateString(x->members[i]));
    if (x->created_by[0])
      cJSON_AddStringToObject(d, "created_by", x->created_by);
    if (x->last_status[0])
      cJSON_AddStringToObject(d, "status", x->last_status);
  }
  gd_rds_set_detail(a, d, res);
}

/* A failed call: its error, with the journal detail. */
static void fail(struct gd_awsjob *j, const struct gd_aws_result *res,
                 const struct gd_error *e) {
  gd_rds_fail(j, set_detail, res, "%s", e->msg);
}

static void members_text(const struct delete_action *x, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = 0;
  for (size_t i = 0; i < x->nmembers && len < n; i++) {
    int w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", x->members[i]);
    if (w < 0) break;
    len += (size_t)w;
  }
}

static void poll(struct gd_awsjob *j);

static void wait_more(struct gd_awsjob *j) {
  struct delete_action *x = j->a->ctx;
  char what[256];
  snprintf(what, sizeof what, x->deleting_cluster
           ? "cluster '%s' to be gone (status '%s')"
           : "the instances of cluster '%s' to be gone (status '%s')",
           x->cluster, x->last_status);
  gd_awsjob_sleep(j, x->poll_ms, poll, what);
}

static void on_deleted_cluster(struct gd_awsjob *j, struct gd_aws_result *res,
                               const struct gd_error *e) {
  struct delete_action *x = j->a->ctx;
  if (e && !gd_rds_not_found(res)) return fail(j, res, e);
  x->deleting_cluster = 1;
  snprintf(x->last_status, sizeof x->last_status, "deleting");
  wait_more(j);
}

static void on_poll(struct gd_awsjob *j, struct gd_aws_result *res,
                    const struct gd_error *e) {
  struct gd_action *a = j->a;
  struct delete_action *x = a->ctx;
  struct gd_rds_cluster c;
  char list[512];
  if (e && gd_rds_not_found(res)) {
    snprintf(x->last_status, sizeof x->last_status, "deleted");
    set_detail(a, NULL);
    members_text(x, list, sizeof list);
    gd_awsjob_finish(j, 1, "deleted cluster '%s'%s%s%s in %.1f s", x->cluster,
                     x->nmembers ? " (instances " : "", list,
                     x->nmembers ? ")" : "", gd_awsjob_elapsed_s(j));
    return;
  }
  if (e) return fail(j, res, e);
  if (gd_rds_cluster_read(res, &c) == 0)
    snprintf(x->last_status, sizeof x->last_status, "%s", c.status);
  if (!x->deleting_cluster && c.nmembers == 0) {
    cJSON *p = gd_rds_id_params("DBClusterIdentifier", x->cluster);
    if (p && !cJSON_AddBoolToObject(p, "SkipFinalSnapshot", 1)) {
      cJSON_Delete(p);
      p = NULL;
    }
    gd_rds_call(j, "DeleteDBCluster", p, on_deleted_cluster);
    return;
  }
  wait_more(j);
}

static void poll(struct gd_awsjob *j) {
  struct delete_action *x = j->a->ctx;
  gd_rds_call_id(j, "DescribeDBClusters", "DBClusterIdentifier", x->cluster,
                 on_poll);
}

static void delete_next(struct gd_awsjob *j);

static void on_deleted_instance(struct gd_awsjob *j, struct gd_aws_result *res,
                                const struct gd_error *e) {
  /* Gone already is what we want. */
  if (e && !gd_rds_not_found(res)) return fail(j, res, e);
  delete_next(j);
}

static void delete_next(struct gd_awsjob *j) {
  struct delete_action *x = j->a->ctx;
  if (x->next < x->nmembers) {
    gd_rds_call_id(j, "DeleteDBInstance", "DBInstanceIdentifier",
                   x->members[x->next++], on_deleted_instance);
    return;
  }
  snprintf(x->last_status, sizeof x->last_status, "deleting instances");
  poll(j);
}

static void on_describe(struct gd_awsjob *j, struct gd_aws_result *res,
                        const struct gd_error *e) {
  struct gd_action *a = j->a;
  struct delete_action *x = a->ctx;
  struct gd_rds_cluster c;
  char list[512];
  if (e && gd_rds_not_found(res)) {
    set_detail(a, res);
    gd_awsjob_finish(j, 1, "cluster '%s' does not exist: nothing to delete",
                     x->cluster);
    return;
  }
  if (gd_rds_described_cluster(j, set_detail, res, e, x->cluster, &c)) return;
  x->nmembers = c.nmembers;
  for (size_t i = 0; i < c.nmembers; i++)
    snprintf(x->members[i], sizeof x->members[0], "%s", c.members[i]);
  snprintf(x->last_status, sizeof x->last_status, "%s", c.status);
  const char *by = gd_rds_tag(&c.tags, GD_RDS_CREATED_BY);
  snprintf(x->created_by, sizeof x->created_by, "%s", by ? by : "");
  if (gd_rds_job_check_tags(j, set_detail, res, x->cluster, &c.tags)) return;
  if (x->created_by_gameday && !by) {
    gd_rds_fail(j, set_detail, res,
                "refused: cluster '%s' has no tag %s, gameday did not create "
                "it (say \"created_by_gameday\": false to delete it anyway)",
                x->cluster, GD_RDS_CREATED_BY);
    return;
  }
  set_detail(a, res);
  members_text(x, list, sizeof list);
  if (a->dry_run) {
    gd_awsjob_finish(j, 1, "would delete cluster '%s'%s%s%s", x->cluster,
                     x->nmembers ? " and its instances " : "", list,
                     by ? "" : " (not created by gameday)");
    return;
  }
  x->next = 0;
  delete_next(j);
}

static int delete_run(struct gd_action *a, struct gd_error *err) {
  struct delete_action *x = a->ctx;
  x->nmembers = x->next = 0;
  x->deleting_cluster = 0;
  x->created_by[0] = x->last_status[0] = 0;
  int rc = gd_awsjob_start(&x->job, a, x, x->region, NULL, err);
  if (rc) return rc;
  gd_rds_call_id(&x->job, "DescribeDBClusters", "DBClusterIdentifier",
                 x->cluster, on_describe);
  return 0;
}

static void delete_cancel(struct gd_action *a) {
  struct delete_action *x = a->ctx;
  gd_awsjob_cancel(&x->job);
}

static void delete_free(struct gd_action *a) {
  ctx_free(a->ctx);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_aws_rds_delete = {
    .type = "aws.rds.delete_db_cluster",
    .keys = delete_keys,
    .dry_run = 1,
    .init = delete_init,
    .describe = delete_describe,
    .run = delete_run,
    .cancel = delete_cancel,
    .free = delete_free,
};

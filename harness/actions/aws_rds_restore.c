/* gameday: the aws.rds.restore_db_cluster_to_point_in_time action: a
 * point-in-time restore of an Aurora cluster into a new cluster, with the
 * one instance that makes it reachable, waited for until both are
 * available. The fault half of the restore-from-backup scenario; its time
 * is the restore time (figure `restore_ms`, the RTO of a restore).
 *
 * Steps (each one RDS call; "poll" repeats every `poll_interval_ms`):
 *   1. DescribeDBClusters(source): safety rules on its tags (a restore
 *      copies that data: it must be a staging cluster), its Engine (the
 *      default for the instance) and LatestRestorableTime.
 *   2. The new cluster's tags (`tags` plus gameday:created-by=<run>) go
 *      through the same rules, so that the rollback may delete it and no
 *      cluster is made that the scenario could not touch again.
 *   3. DescribeDBClusters(target) must say DBClusterNotFoundFault: an
 *      existing cluster of that name is refused, never reused or replaced.
 *   4. --dry-run / plan stop here and say what would be done.
 *   5. When the restore time is later than the source's
 *      LatestRestorableTime (restoring to "t0", the fault's instant), poll
 *      the source until its backups have caught up.
 *   6. RestoreDBClusterToPointInTime, then poll the new cluster until it is
 *      available: RDS creates instances only in an available cluster.
 *   7. CreateDBInstance in it, then poll until the instance is available.
 *   8. DescribeDBClusters(target) once more, for the endpoint.
 * Whatever fails after step 6 leaves a cluster behind on purpose: the
 * scenario's rollback (aws.rds.delete_db_cluster) removes it, and it runs
 * after a failure too. The action's timeout_ms bounds the whole wait
 * (restores take many minutes on AWS: give it an hour). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gameday/action.h"
#include "gameday/awsjob.h"
#include "gameday/awskind.h"
#include "gameday/awsrds.h"
#include "gameday/json.h"

struct restore_action {
  char *source, *target, *instance, *region;
  char *time_spec; /* RFC 3339 or "t0"; NULL: latest restorable */
  char *instance_class, *engine, *subnet_group;
  char **security_groups;
  size_t nsecurity_groups;
  struct gd_rds_tags tags; /* from `tags`, the created-by tag added at run */
  size_t ntags_given;
  unsigned poll_ms;

  struct gd_awsjob job;
  char restore_time[40]; /* what was sent; "" for latest */
  long long restore_ms;  /* -1: latest */
  char engine_used[64];
  char last_status[64];
  char endpoint[256];
  char label[128];
};

static const char *const restore_keys[] = {
    "source_cluster", "target_cluster", "restore_to_time",
    "use_latest_restorable_time", "instance_class", "engine", "instance",
    "db_subnet_group", "vpc_security_group_ids", "tags", "poll_interval_ms",
    "region", NULL};
static const char *const restore_figures[] = {"restore_ms", NULL};

#define RESTORE_DEFAULT_POLL_MS 15000

static void ctx_free(struct restore_action *x) {
  if (!x) return;
  free(x->source);
  free(x->target);
  free(x->instance);
  free(x->region);
  free(x->time_spec);
  free(x->instance_class);
  free(x->engine);
  free(x->subnet_group);
  gd_strv_free(x->security_groups);
  free(x);
}

static int dup_opt(const char *v, char **out) {
  if (!v) return 0;
  return (*out = strdup(v)) ? 0 : GD_ENOMEM;
}

static int restore_init(struct gd_action *a, const cJSON *spec,
                        const char *path, struct gd_error *err) {
  struct restore_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *source = NULL, *target = NULL, *when = NULL, *cls = NULL,
             *engine = NULL, *inst = NULL, *subnet = NULL;
  int latest = 0, rc;
  long long poll = RESTORE_DEFAULT_POLL_MS;
  const cJSON *tags = NULL;
  if ((rc = gd_json_get_string(spec, "source_cluster", path, 1, &source,
                               err)) ||
      (rc = gd_json_get_string(spec, "target_cluster", path, 1, &target,
                               err)) ||
      (rc = gd_json_get_string(spec, "restore_to_time", path, 0, &when,
                               err)) ||
      (rc = gd_json_get_bool(spec, "use_latest_restorable_time", path, 0,
                             &latest, err)) ||
      (rc = gd_json_get_string(spec, "instance_class", path, 1, &cls, err)) ||
      (rc = gd_json_get_string(spec, "engine", path, 0, &engine, err)) ||
      (rc = gd_json_get_string(spec, "instance", path, 0, &inst, err)) ||
      (rc = gd_json_get_string(spec, "db_subnet_group", path, 0, &subnet,
                               err)) ||
      (rc = gd_json_get_strv(spec, "vpc_security_group_ids", path, 0,
                             &x->security_groups, &x->nsecurity_groups,
                             err)) ||
      (rc = gd_json_get_object(spec, "tags", path, 0, &tags, err)) ||
      (rc = gd_json_get_int(spec, "poll_interval_ms", path, 0, 10, 600000,
                            &poll, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &x->region, err)))
    goto fail;
  rc = GD_EINVAL;
  if (!source[0] || !target[0] || !cls[0]) {
    gd_error_set(err, rc, "%s.%s: must not be empty", path,
                 !source[0] ? "source_cluster"
                 : !target[0] ? "target_cluster" : "instance_class");
    goto fail;
  }
  if (strcmp(source, target) == 0) {
    gd_error_set(err, rc, "%s.target_cluster: must differ from "
                 "source_cluster '%s'", path, source);
    goto fail;
  }
  if (!when == !latest) {
    gd_error_set(err, rc, "%s: give either restore_to_time or "
                 "use_latest_restorable_time: true", path);
    goto fail;
  }
  if (when && strcmp(when, "t0") != 0 && gd_rds_parse_time(when) < 0) {
    gd_error_set(err, rc, "%s.restore_to_time: not an RFC 3339 time or "
                 "\"t0\": '%s' (e.g. 2024-05-01T12:00:00Z)", path, when);
    goto fail;
  }
  if (tags) {
    const cJSON *t;
    cJSON_ArrayForEach(t, tags) {
      if (!cJSON_IsString(t)) {
        gd_error_set(err, rc, "%s.tags.%s: must be a string", path,
                     t->string);
        goto fail;
      }
      if (strcmp(t->string, GD_RDS_CREATED_BY) == 0 || !t->string[0] ||
          x->tags.n + 1 >= GD_RDS_MAX_TAGS ||
          strlen(t->string) >= sizeof x->tags.key[0] ||
          strlen(t->valuestring) >= sizeof x->tags.value[0]) {
        gd_error_set(err, rc, "%s.tags: cannot set tag '%s' (empty, too "
                     "long, too many, or gameday's own)", path, t->string);
        goto fail;
      }
      snprintf(x->tags.key[x->tags.n], sizeof x->tags.key[0], "%s", t->string);
      snprintf(x->tags.value[x->tags.n], sizeof x->tags.value[0], "%s",
               t->valuestring);
      x->tags.n++;
    }
  }
  x->ntags_given = x->tags.n;
  x->poll_ms = (unsigned)poll;
  char def_inst[GD_RDS_ID_MAX + 8];
  snprintf(def_inst, sizeof def_inst, "%s-1", target);
  if ((rc = dup_opt(source, &x->source)) || (rc = dup_opt(target, &x->target)) ||
      (rc = dup_opt(inst ? inst : def_inst, &x->instance)) ||
      (rc = dup_opt(when, &x->time_spec)) ||
      (rc = dup_opt(cls, &x->instance_class)) ||
      (rc = dup_opt(engine, &x->engine)) ||
      (rc = dup_opt(subnet, &x->subnet_group))) {
    gd_error_set(err, rc, "%s: out of memory", path);
    goto fail;
  }
  a->ctx = x;
  return 0;
fail:
  ctx_free(x);
  return rc;
}

static void restore_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct restore_action *x = a->ctx;
  snprintf(buf, n, "restore aurora cluster %s to %s as %s (instance %s, %s)",
           x->source,
           !x->time_spec ? "its latest restorable time"
           : strcmp(x->time_spec, "t0") == 0 ? "t0" : x->time_spec,
           x->target, x->instance, x->instance_class);
}

static void set_detail(struct gd_action *a, const struct gd_aws_result *res) {
  struct restore_action *x = a->ctx;
  cJSON *d = cJSON_CreateObject();
  if (d) {
    cJSON_AddStringToObject(d, "source_cluster", x->source);
    cJSON_AddStringToObject(d, "target_cluster", x->target);
    cJSON_AddStringToObject(d, "instance", x->instance);
    if (x->restore_time[0])
      cJSON_AddStringToObject(d, "restore_to_time", x->restore_time);
    else
      cJSON_AddBoolToObject(d, "use_latest_restorable_time", 1);
    if (x->engine_used[0]) cJSON_AddStringToObject(d, "engine", x->engine_used);
    if (x->endpoint[0]) cJSON_AddStringToObject(d, "endpoint", x->endpoint);
    if (x->last_status[0])
      cJSON_AddStringToObject(d, "status", x->last_status);
    if (x->label[0]) cJSON_AddStringToObject(d, "created_by", x->label);
  }
  gd_rds_set_detail(a, d, res);
}

/* A failed call: its error, with the journal detail. */
static void fail(struct gd_awsjob *j, const struct gd_aws_result *res,
                 const struct gd_error *e) {
  gd_rds_fail(j, set_detail, res, "%s", e->msg);
}


/* A status that will not become "available" by waiting. */
static int hopeless(const char *status) {
  return strstr(status, "failed") || strstr(status, "inaccessible") ||
         strcmp(status, "deleting") == 0 || strcmp(status, "stopped") == 0 ||
         strstr(status, "incompatible");
}

static void on_final(struct gd_awsjob *j, struct gd_aws_result *res,
                     const struct gd_error *e) {
  struct gd_action *a = j->a;
  struct restore_action *x = a->ctx;
  struct gd_rds_cluster c;
  if (!e && gd_rds_cluster_read(res, &c) == 0)
    snprintf(x->endpoint, sizeof x->endpoint, "%s", c.endpoint);
  double s = gd_awsjob_elapsed_s(j);
  gd_action_add_figure(a, "restore_ms", s * 1000.0);
  set_detail(a, res);
  gd_awsjob_finish(j, 1, "restored cluster '%s' to %s as '%s' in %.1f s, "
                   "endpoint %s", x->source,
                   x->restore_time[0] ? x->restore_time
                                      : "its latest restorable time",
                   x->target, s, x->endpoint[0] ? x->endpoint : "(none)");
}

static void poll_instance(struct gd_awsjob *j);

static void on_instance(struct gd_awsjob *j, struct gd_aws_result *res,
                        const struct gd_error *e) {
  struct restore_action *x = j->a->ctx;
  struct gd_rds_instance i;
  if (e && !gd_rds_not_found(res)) return fail(j, res, e);
  if (!e && gd_rds_instance_read(res, &i) == 0) {
    snprintf(x->last_status, sizeof x->last_status, "%s", i.status);
    if (strcmp(i.status, "available") == 0) {
      gd_rds_call_id(j, "DescribeDBClusters", "DBClusterIdentifier",
                     x->target, on_final);
      return;
    }
    if (hopeless(i.status)) {
      gd_rds_fail(j, set_detail, res,
                  "instance '%s' of the restored cluster is '%s'",
                  x->instance, i.status);
      return;
    }
  }
  char what[256];
  snprintf(what, sizeof what, "instance '%s' to be available (status '%s')",
           x->instance, x->last_status);
  gd_awsjob_sleep(j, x->poll_ms, poll_instance, what);
}

static void poll_instance(struct gd_awsjob *j) {
  struct restore_action *x = j->a->ctx;
  gd_rds_call_id(j, "DescribeDBInstances", "DBInstanceIdentifier",
                 x->instance, on_instance);
}

static void on_create_instance(struct gd_awsjob *j, struct gd_aws_result *res,
                               const struct gd_error *e) {
  struct restore_action *x = j->a->ctx;
  if (e) return fail(j, res, e);
  snprintf(x->last_status, sizeof x->last_status, "creating");
  char what[256];
  snprintf(what, sizeof what, "instance '%s' to be available (status '%s')",
           x->instance, x->last_status);
  gd_awsjob_sleep(j, x->poll_ms, poll_instance, what);
}

static void create_instance(struct gd_awsjob *j) {
  struct restore_action *x = j->a->ctx;
  cJSON *p = cJSON_CreateObject();
  if (!p || !cJSON_AddStringToObject(p, "DBInstanceIdentifier", x->instance) ||
      !cJSON_AddStringToObject(p, "DBInstanceClass", x->instance_class) ||
      !cJSON_AddStringToObject(p, "Engine", x->engine_used) ||
      !cJSON_AddStringToObject(p, "DBClusterIdentifier", x->target) ||
      gd_rds_add_tags(p, &x->tags)) {
    cJSON_Delete(p);
    gd_awsjob_finish(j, 0, "out of memory");
    return;
  }
  gd_awsjob_call(j, "rds", "CreateDBInstance", p, on_create_instance);
  cJSON_Delete(p);
}

static void poll_cluster(struct gd_awsjob *j);

static void on_cluster(struct gd_awsjob *j, struct gd_aws_result *res,
                       const struct gd_error *e) {
  struct restore_action *x = j->a->ctx;
  struct gd_rds_cluster c;
  /* Just after the restore call, a describe may not see the cluster yet. */
  if (e && !gd_rds_not_found(res)) return fail(j, res, e);
  if (!e && gd_rds_cluster_read(res, &c) == 0) {
    snprintf(x->last_status, sizeof x->last_status, "%s", c.status);
    if (strcmp(c.status, "available") == 0) {
      create_instance(j);
      return;
    }
    if (hopeless(c.status)) {
      gd_rds_fail(j, set_detail, res, "restored cluster '%s' is '%s'",
                  x->target, c.status);
      return;
    }
  }
  char what[256];
  snprintf(what, sizeof what, "cluster '%s' to be available (status '%s')",
           x->target, x->last_status);
  gd_awsjob_sleep(j, x->poll_ms, poll_cluster, what);
}

static void poll_cluster(struct gd_awsjob *j) {
  struct restore_action *x = j->a->ctx;
  gd_rds_call_id(j, "DescribeDBClusters", "DBClusterIdentifier", x->target,
                 on_cluster);
}

static void on_restore(struct gd_awsjob *j, struct gd_aws_result *res,
                       const struct gd_error *e) {
  struct restore_action *x = j->a->ctx;
  struct gd_rds_cluster c;
  if (e) return fail(j, res, e);
  if (gd_rds_cluster_read(res, &c) == 0)
    snprintf(x->last_status, sizeof x->last_status, "%s", c.status);
  set_detail(j->a, res);
  char what[256];
  snprintf(what, sizeof what, "cluster '%s' to be available (status '%s')",
           x->target, x->last_status);
  gd_awsjob_sleep(j, x->poll_ms, poll_cluster, what);
}

static void restore(struct gd_awsjob *j) {
  struct restore_action *x = j->a->ctx;
  cJSON *p = cJSON_CreateObject();
  int bad = !p ||
            !cJSON_AddStringToObject(p, "DBClusterIdentifier", x->target) ||
            !cJSON_AddStringToObject(p, "SourceDBClusterIdentifier",
                                     x->source);
  if (!bad && x->restore_time[0])
    bad = !cJSON_AddStringToObject(p, "RestoreToTime", x->restore_time);
  else if (!bad)
    bad = !cJSON_AddBoolToObject(p, "UseLatestRestorableTime", 1);
  if (!bad && x->subnet_group)
    bad = !cJSON_AddStringToObject(p, "DBSubnetGroupName", x->subnet_group);
  if (!bad && x->nsecurity_groups) {
    cJSON *sg = cJSON_AddArrayToObject(p, "VpcSecurityGroupIds."
                                          "VpcSecurityGroupId");
    for (size_t i = 0; !bad && i < x->nsecurity_groups; i++)
      bad = !sg || !cJSON_AddItemToArray(
                       sg, cJSON_CreateString(x->security_groups[i]));
  }
  if (bad || gd_rds_add_tags(p, &x->tags)) {
    cJSON_Delete(p);
    gd_awsjob_finish(j, 0, "out of memory");
    return;
  }
  gd_awsjob_call(j, "rds", "RestoreDBClusterToPointInTime", p, on_restore);
  cJSON_Delete(p);
}

static void poll_source(struct gd_awsjob *j);

/* Step 5: the source's backups must reach the restore time. */
static void on_source_poll(struct gd_awsjob *j, struct gd_aws_result *res,
                           const struct gd_error *e) {
  struct restore_action *x = j->a->ctx;
  struct gd_rds_cluster c;
  if (e) return fail(j, res, e);
  if (gd_rds_cluster_read(res, &c) == 0) {
    long long lrt = gd_rds_parse_time(c.latest_restorable);
    if (lrt >= x->restore_ms) {
      restore(j);
      return;
    }
  }
  char what[256];
  snprintf(what, sizeof what, "the latest restorable time of '%s' (%s) to "
           "reach %s", x->source, c.latest_restorable, x->restore_time);
  gd_awsjob_sleep(j, x->poll_ms, poll_source, what);
}

static void poll_source(struct gd_awsjob *j) {
  struct restore_action *x = j->a->ctx;
  gd_rds_call_id(j, "DescribeDBClusters", "DBClusterIdentifier", x->source,
                 on_source_poll);
}

static void on_target(struct gd_awsjob *j, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct gd_action *a = j->a;
  struct restore_action *x = a->ctx;
  if (!e) {
    gd_rds_fail(j, set_detail, res,
                "refused: target cluster '%s' already exists", x->target);
    return;
  }
  if (!gd_rds_not_found(res)) return fail(j, res, e);
  set_detail(a, NULL);
  if (a->dry_run) {
    gd_awsjob_finish(j, 1, "would restore cluster '%s' to %s as '%s' with "
                     "instance '%s' (%s, %s)", x->source,
                     x->restore_time[0] ? x->restore_time
                                        : "its latest restorable time",
                     x->target, x->instance, x->instance_class,
                     x->engine_used);
    return;
  }
  if (x->restore_ms >= 0) {
    poll_source(j);
    return;
  }
  restore(j);
}

static void on_source(struct gd_awsjob *j, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct gd_action *a = j->a;
  struct restore_action *x = a->ctx;
  struct gd_rds_cluster c;
  if (gd_rds_described_cluster(j, set_detail, res, e, x->source, &c)) return;
  snprintf(x->engine_used, sizeof x->engine_used, "%s",
           x->engine ? x->engine : c.engine);
  set_detail(a, res);
  if (gd_rds_job_check_tags(j, set_detail, res, x->source, &c.tags) ||
      gd_rds_job_check_tags(j, set_detail, res, x->target, &x->tags))
    return;
  if (!x->engine_used[0]) {
    gd_rds_fail(j, set_detail, res,
                "cluster '%s' has no Engine in the answer: give `engine`",
                x->source);
    return;
  }
  gd_rds_call_id(j, "DescribeDBClusters", "DBClusterIdentifier", x->target,
                 on_target);
}

static int restore_run(struct gd_action *a, struct gd_error *err) {
  struct restore_action *x = a->ctx;
  x->restore_time[0] = x->engine_used[0] = x->last_status[0] = 0;
  x->endpoint[0] = 0;
  x->restore_ms = -1;
  if (x->time_spec && strcmp(x->time_spec, "t0") == 0) {
    x->restore_ms = gd_action_t0_unix_ms(a);
    if (x->restore_ms <= 0) {
      /* plan, or a bare action: no fault instant yet; now stands in. */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      x->restore_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
  } else if (x->time_spec) {
    x->restore_ms = gd_rds_parse_time(x->time_spec);
  }
  if (x->restore_ms >= 0)
    gd_rds_format_time(x->restore_ms, x->restore_time, sizeof x->restore_time);
  gd_rds_run_label(a, x->label, sizeof x->label);
  x->tags.n = x->ntags_given;
  snprintf(x->tags.key[x->tags.n], sizeof x->tags.key[0], "%s",
           GD_RDS_CREATED_BY);
  snprintf(x->tags.value[x->tags.n], sizeof x->tags.value[0], "%s", x->label);
  x->tags.n++;
  int rc = gd_awsjob_start(&x->job, a, x, x->region, NULL, err);
  if (rc) return rc;
  gd_rds_call_id(&x->job, "DescribeDBClusters", "DBClusterIdentifier",
                 x->source, on_source);
  return 0;
}

static void restore_cancel(struct gd_action *a) {
  struct restore_action *x = a->ctx;
  gd_awsjob_cancel(&x->job);
}

static void restore_free(struct gd_action *a) {
  ctx_free(a->ctx);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_aws_rds_restore = {
    .type = "aws.rds.restore_db_cluster_to_point_in_time",
    .keys = restore_keys,
    .figures = restore_figures,
    .dry_run = 1,
    .init = restore_init,
    .describe = restore_describe,
    .run = restore_run,
    .cancel = restore_cancel,
    .free = restore_free,
};

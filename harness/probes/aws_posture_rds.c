/* gameday: the aws.posture.rds_cluster check: is the Aurora cluster built
 * to survive the loss of its writer, its zone, or its data? It must have
 *   - a reader in another Availability Zone than the writer (what a
 *     failover promotes; a reader in the same zone dies with it);
 *   - backups kept at least `min_backup_retention_days` (default 7);
 *   - a LatestRestorableTime at most `max_restore_lag_minutes` old (default
 *     15): point-in-time restore works up to a recent moment;
 *   - deletion protection on (`require_deletion_protection`, default true).
 * DescribeDBClusters for the cluster, then DescribeDBInstances filtered by
 * db-cluster-id for the members' zones and states. The finding lists every
 * rule the cluster breaks; a cluster that does not exist is a finding too.
 * The value is the number of zones with an available member. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/awsrds.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct rdsp_ctx {
  char *cluster;
  char *region;
  long long min_retention, max_lag_min;
  int require_dp;
  cJSON *cluster_params, *instance_params;
  struct gd_awscheck chk;
};

static const char *const rdsp_keys[] = {
    "cluster", "min_backup_retention_days", "max_restore_lag_minutes",
    "require_deletion_protection", "region", NULL};

static void ctx_free(struct rdsp_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  free(c->cluster);
  free(c->region);
  cJSON_Delete(c->cluster_params);
  cJSON_Delete(c->instance_params);
  free(c);
}

static int rdsp_init(struct gd_probe *p, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  struct rdsp_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *cluster = NULL;
  c->min_retention = 7;
  c->max_lag_min = 15;
  c->require_dp = 1;
  int rc;
  if ((rc = gd_json_get_string(spec, "cluster", path, 1, &cluster, err)) ||
      (rc = gd_json_get_int(spec, "min_backup_retention_days", path, 0, 0, 35,
                            &c->min_retention, err)) ||
      (rc = gd_json_get_int(spec, "max_restore_lag_minutes", path, 0, 1,
                            100000, &c->max_lag_min, err)) ||
      (rc = gd_json_get_bool(spec, "require_deletion_protection", path, 0,
                             &c->require_dp, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &c->region, err))) {
    ctx_free(c);
    return rc;
  }
  if (!cluster[0]) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL, "%s.cluster: must not be empty", path);
  }
  cJSON *filters, *f, *values;
  if (!(c->cluster = strdup(cluster)) ||
      !(c->cluster_params = cJSON_CreateObject()) ||
      !cJSON_AddStringToObject(c->cluster_params, "DBClusterIdentifier",
                               cluster) ||
      !(c->instance_params = cJSON_CreateObject()) ||
      !(filters = cJSON_AddArrayToObject(c->instance_params,
                                         "Filters.Filter")) ||
      !(f = cJSON_CreateObject()) || !cJSON_AddItemToArray(filters, f) ||
      !cJSON_AddStringToObject(f, "Name", "db-cluster-id") ||
      !(values = cJSON_AddArrayToObject(f, "Values.Value")) ||
      !cJSON_AddItemToArray(values, cJSON_CreateString(cluster))) {
    ctx_free(c);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  p->ctx = c;
  return 0;
}

static void rdsp_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct rdsp_ctx *c = p->ctx;
  snprintf(buf, n,
           "aurora cluster '%s': a reader in another AZ than the writer, "
           "backups kept %lld+ days, restorable to %lld min ago%s",
           c->cluster, c->min_retention, c->max_lag_min,
           c->require_dp ? ", deletion protection" : "");
}

static int rdsp_start(struct gd_probe *p, struct gd_error *err) {
  struct rdsp_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, c->region, err);
}

/* "2026-01-01T00:00:00.000Z" (fraction optional) as a time_t; -1 when it
 * does not parse. */
static time_t parse_iso(const char *s) {
  struct tm tm = {0};
  const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return -1;
  if (*end == '.')
    for (end++; *end >= '0' && *end <= '9'; end++) {
    }
  if (*end != 'Z' && *end != 0) return -1;
  return timegm(&tm);
}

static void add_part(char *buf, size_t n, const char *part) {
  size_t len = strlen(buf);
  snprintf(buf + len, n - len, "%s%s", len ? "; " : "", part);
}

/* The members (state "members": {id: writer bool}) and what the cluster
 * said (state "retention", "dp", "latest") against the instances' answer. */
static void on_instances(struct gd_awscheck_run *r, struct gd_aws_result *res,
                         const struct gd_error *e) {
  struct rdsp_ctx *c = r->s->probe->ctx;
  (void)e;
  const cJSON *members = cJSON_GetObjectItem(r->state, "members");
  char id[128], az[64], status[64];
  char writer[128] = "", writer_az[64] = "", readers[512] = "";
  cJSON *zones = cJSON_CreateObject();
  if (!zones) {
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return;
  }
  int other_az = 0;
  /* Twice over the answer: the writer's zone first, then the readers. */
  xmlNode *first =
      gd_aws_xml_find(xmlDocGetRootElement(res->xml),
                      "DescribeDBInstancesResult/DBInstances/DBInstance");
  for (xmlNode *d = first; d; d = gd_aws_xml_next(d)) {
    gd_aws_xml_text(d, "DBInstanceIdentifier", id, sizeof id);
    gd_aws_xml_text(d, "AvailabilityZone", az, sizeof az);
    gd_aws_xml_text(d, "DBInstanceStatus", status, sizeof status);
    if (cJSON_IsTrue(cJSON_GetObjectItem(members, id))) {
      snprintf(writer, sizeof writer, "%s", id);
      snprintf(writer_az, sizeof writer_az, "%s", az);
    }
    if (strcmp(status, "available") == 0 && az[0] &&
        !cJSON_GetObjectItem(zones, az))
      cJSON_AddTrueToObject(zones, az);
  }
  for (xmlNode *d = first; d; d = gd_aws_xml_next(d)) {
    gd_aws_xml_text(d, "DBInstanceIdentifier", id, sizeof id);
    const cJSON *m = cJSON_GetObjectItem(members, id);
    if (!m || cJSON_IsTrue(m)) continue; /* not a member, or the writer */
    gd_aws_xml_text(d, "AvailabilityZone", az, sizeof az);
    gd_aws_xml_text(d, "DBInstanceStatus", status, sizeof status);
    int ok = strcmp(status, "available") == 0;
    if (ok && strcmp(az, writer_az) != 0) other_az = 1;
    size_t len = strlen(readers);
    snprintf(readers + len, sizeof readers - len, "%s%s in %s%s%s%s",
             len ? ", " : "", id, az[0] ? az : "no AZ", ok ? "" : " (",
             ok ? "" : status, ok ? "" : ")");
  }
  int nz = cJSON_GetArraySize(zones);
  cJSON_Delete(zones);
  gd_sample_set_value(r->s, nz);

  char finding[1024] = "", part[640];
  if (!writer[0]) {
    add_part(finding, sizeof finding, "no writer instance");
  } else if (!other_az) {
    if (readers[0])
      snprintf(part, sizeof part,
               "no available reader in another AZ than the writer %s (%s); "
               "readers: %s",
               writer, writer_az, readers);
    else
      snprintf(part, sizeof part, "no reader: the writer %s (%s) is alone",
               writer, writer_az);
    add_part(finding, sizeof finding, part);
  }
  long retention =
      (long)cJSON_GetNumberValue(cJSON_GetObjectItem(r->state, "retention"));
  if (retention < c->min_retention) {
    snprintf(part, sizeof part,
             "backups kept %ld day%s, needs at least %lld", retention,
             retention == 1 ? "" : "s", c->min_retention);
    add_part(finding, sizeof finding, part);
  }
  const char *latest =
      cJSON_GetStringValue(cJSON_GetObjectItem(r->state, "latest"));
  long lag_min = -1;
  if (!latest || !latest[0]) {
    add_part(finding, sizeof finding,
             "no LatestRestorableTime: point-in-time restore is not "
             "available");
  } else {
    time_t t = parse_iso(latest);
    if (t < 0) {
      gd_awscheck_finish(r, GD_SAMPLE_PROTOCOL,
                         "cluster '%s': LatestRestorableTime '%s'",
                         c->cluster, latest);
      return;
    }
    double lag = difftime(time(NULL), t);
    lag_min = lag <= 0 ? 0 : (long)(lag / 60);
    if (lag > (double)c->max_lag_min * 60) {
      snprintf(part, sizeof part,
               "latest restorable time %s is %ld min old, needs at most "
               "%lld",
               latest, lag_min, c->max_lag_min);
      add_part(finding, sizeof finding, part);
    }
  }
  if (c->require_dp &&
      !cJSON_IsTrue(cJSON_GetObjectItem(r->state, "deletion_protection")))
    add_part(finding, sizeof finding, "deletion protection is off");
  if (finding[0]) {
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "cluster '%s': %s", c->cluster,
                       finding);
    return;
  }
  gd_awscheck_finish(r, GD_SAMPLE_OK,
                     "cluster '%s': writer %s in %s, readers %s; backups %ld "
                     "days; restorable to %ld min ago%s",
                     c->cluster, writer, writer_az, readers, retention,
                     lag_min,
                     cJSON_IsTrue(cJSON_GetObjectItem(r->state,
                                                      "deletion_protection"))
                         ? "; deletion protection on"
                         : "");
}

static void on_cluster(struct gd_awscheck_run *r, struct gd_aws_result *res,
                       const struct gd_error *e) {
  struct rdsp_ctx *c = r->s->probe->ctx;
  xmlNode *cl = gd_rds_check_cluster(r, res, e, c->cluster);
  if (!cl) return;
  char buf[128];
  cJSON *members = cJSON_AddObjectToObject(r->state, "members");
  if (!members) {
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return;
  }
  gd_aws_xml_text(cl, "BackupRetentionPeriod", buf, sizeof buf);
  cJSON_AddNumberToObject(r->state, "retention", atof(buf));
  gd_aws_xml_text(cl, "DeletionProtection", buf, sizeof buf);
  cJSON_AddBoolToObject(r->state, "deletion_protection",
                        strcmp(buf, "true") == 0);
  gd_aws_xml_text(cl, "LatestRestorableTime", buf, sizeof buf);
  cJSON_AddStringToObject(r->state, "latest", buf);
  char id[128];
  for (xmlNode *m = gd_aws_xml_find(cl, "DBClusterMembers/DBClusterMember");
       m; m = gd_aws_xml_next(m)) {
    gd_aws_xml_text(m, "DBInstanceIdentifier", id, sizeof id);
    gd_aws_xml_text(m, "IsClusterWriter", buf, sizeof buf);
    cJSON_AddBoolToObject(members, id, strcmp(buf, "true") == 0);
  }
  gd_awscheck_call(r, "rds", "DescribeDBInstances", c->instance_params,
                   on_instances);
}

static int rdsp_sample(struct gd_probe *p, struct gd_sample *s,
                       struct gd_error *err) {
  struct rdsp_ctx *c = p->ctx;
  struct gd_awscheck_run *r;
  int rc = gd_awscheck_begin(&c->chk, s, &r, err);
  if (rc) return rc;
  gd_awscheck_call_any(r, "rds", "DescribeDBClusters", c->cluster_params,
                       on_cluster);
  return 0;
}

static void rdsp_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct rdsp_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void rdsp_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_posture_rds = {
    .type = "aws.posture.rds_cluster",
    .keys = rdsp_keys,
    .init = rdsp_init,
    .describe = rdsp_describe,
    .start = rdsp_start,
    .sample = rdsp_sample,
    .cancel = gd_awscheck_cancel,
    .stop = rdsp_stop,
    .free = rdsp_free,
};

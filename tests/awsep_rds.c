/* The test AWS endpoint: RDS (Aurora). DescribeDBClusters,
 * DescribeDBInstances, FailoverDBCluster, RebootDBInstance (ForceFailover),
 * RestoreDBClusterToPointInTime, CreateDBInstance, DeleteDBInstance,
 * DeleteDBCluster, ListTagsForResource. Membership and the writer flag
 * live on the instances ("cluster", "writer"); states change over time:
 * failing-over, rebooting, creating and deleting each last their delay. */
#define _GNU_SOURCE /* timegm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "awsep_int.h"

#define HOSTED_ZONE "Z29XKXDKYMONMX"
#define DNS_ID "c0ffee123456"

static int is_mysql(const char *engine) {
  return strstr(engine, "mysql") != NULL;
}

static cJSON *ensure_obj(cJSON *o, const char *k) {
  cJSON *v = cJSON_GetObjectItem(o, k);
  if (!cJSON_IsObject(v)) {
    cJSON_DeleteItemFromObject(o, k);
    v = cJSON_AddObjectToObject(o, k);
  }
  return v;
}

static cJSON *ensure_arr(cJSON *o, const char *k) {
  cJSON *v = cJSON_GetObjectItem(o, k);
  if (!cJSON_IsArray(v)) {
    cJSON_DeleteItemFromObject(o, k);
    v = cJSON_AddArrayToObject(o, k);
  }
  return v;
}

static void fill_cluster(struct gd_awsep *ep, cJSON *c) {
  const char *id = awsep_s(c, "id", "");
  char buf[256];
  if (!awsep_s(c, "status", NULL)) awsep_set_s(c, "status", "available");
  if (!awsep_s(c, "engine", NULL))
    awsep_set_s(c, "engine", "aurora-postgresql");
  int my = is_mysql(awsep_s(c, "engine", ""));
  if (!awsep_s(c, "engine_version", NULL))
    awsep_set_s(c, "engine_version", my ? "8.0.mysql_aurora.3.05.2" : "15.4");
  if (awsep_n(c, "port", -1) < 0) awsep_set_n(c, "port", my ? 3306 : 5432);
  if (!awsep_s(c, "endpoint", NULL)) {
    snprintf(buf, sizeof buf, "%s.cluster-" DNS_ID ".%s.rds.amazonaws.com", id,
             awsep_region(ep));
    awsep_set_s(c, "endpoint", buf);
  }
  if (!awsep_s(c, "reader_endpoint", NULL)) {
    snprintf(buf, sizeof buf, "%s.cluster-ro-" DNS_ID ".%s.rds.amazonaws.com",
             id, awsep_region(ep));
    awsep_set_s(c, "reader_endpoint", buf);
  }
  ensure_obj(c, "tags");
  if (awsep_n(c, "backup_retention_period", -1) < 0)
    awsep_set_n(c, "backup_retention_period", 7);
  if (!cJSON_IsBool(cJSON_GetObjectItem(c, "deletion_protection")))
    awsep_set_b(c, "deletion_protection", 0);
  if (!awsep_s(c, "subnet_group", NULL))
    awsep_set_s(c, "subnet_group", "default");
  if (cJSON_GetArraySize(ensure_arr(c, "security_groups")) == 0)
    cJSON_AddItemToArray(cJSON_GetObjectItem(c, "security_groups"),
                         cJSON_CreateString("sg-0123456789abcdef0"));
  if (!awsep_s(c, "master_username", NULL))
    awsep_set_s(c, "master_username", my ? "admin" : "postgres");
  if (!awsep_s(c, "resource_id", NULL)) {
    snprintf(buf, sizeof buf, "cluster-%016lX", 0xA5E9C0000000ul +
             awsep_serial(ep));
    awsep_set_s(c, "resource_id", buf);
  }
  if (!awsep_s(c, "create_time", NULL)) {
    awsep_iso(ep, 0, buf);
    awsep_set_s(c, "create_time", buf);
  }
}

static void fill_instance(struct gd_awsep *ep, cJSON *in, int idx) {
  static const char az[] = "abc";
  char buf[128];
  const cJSON *c = awsep_find(ep, "db_clusters", "id",
                              awsep_s(in, "cluster", NULL));
  if (!awsep_s(in, "status", NULL)) awsep_set_s(in, "status", "available");
  if (!awsep_s(in, "class", NULL)) awsep_set_s(in, "class", "db.r6g.large");
  if (!awsep_s(in, "engine", NULL))
    awsep_set_s(in, "engine", awsep_s(c, "engine", "aurora-postgresql"));
  if (!awsep_s(in, "az", NULL)) {
    snprintf(buf, sizeof buf, "%s%c", awsep_region(ep), az[idx % 3]);
    awsep_set_s(in, "az", buf);
  }
  if (!cJSON_IsBool(cJSON_GetObjectItem(in, "writer")))
    awsep_set_b(in, "writer", 0);
  if (awsep_n(in, "promotion_tier", -1) < 0)
    awsep_set_n(in, "promotion_tier", 1);
  ensure_obj(in, "tags");
  if (!awsep_s(in, "resource_id", NULL)) {
    snprintf(buf, sizeof buf, "db-%016lX", 0xA5E9D0000000ul +
             awsep_serial(ep));
    awsep_set_s(in, "resource_id", buf);
  }
  if (!awsep_s(in, "create_time", NULL)) {
    awsep_iso(ep, 0, buf);
    awsep_set_s(in, "create_time", buf);
  }
}

int awsep_rds_normalize(struct gd_awsep *ep, char *err, size_t n) {
  cJSON *c, *m, *in;
  cJSON *insts = awsep_wlist(ep, "db_instances");
  int i = 0;
  cJSON_ArrayForEach(c, awsep_wlist(ep, "db_clusters")) {
    if (!awsep_s(c, "id", NULL)) {
      snprintf(err, n, "fixture: db_clusters[%d].id missing", i);
      return -1;
    }
    fill_cluster(ep, c);
    /* Members become instances unless those are listed. */
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(c, "members")) {
      const char *mid = awsep_s(m, "id", NULL);
      if (!mid) {
        snprintf(err, n, "fixture: db_clusters[%d].members: an id is missing",
                 i);
        return -1;
      }
      if (awsep_find(ep, "db_instances", "id", mid)) continue;
      cJSON *ni = cJSON_Duplicate(m, 1);
      awsep_set_s(ni, "cluster", awsep_s(c, "id", ""));
      cJSON_AddItemToArray(insts, ni);
    }
    cJSON_DeleteItemFromObject(c, "members");
    i++;
  }
  i = 0;
  cJSON_ArrayForEach(in, insts) {
    if (!awsep_s(in, "id", NULL)) {
      snprintf(err, n, "fixture: db_instances[%d].id missing", i);
      return -1;
    }
    fill_instance(ep, in, i++);
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Reading and writing */

static const char *restorable(struct gd_awsep *ep, const cJSON *c,
                              const char *key, int64_t dflt_off,
                              char buf[32]) {
  const char *v = awsep_s(c, key, NULL);
  if (v) return v;
  awsep_iso(ep, dflt_off, buf);
  return buf;
}

/* ISO 8601 UTC ("2026-01-01T00:00:00Z", fraction optional) to ms since
 * the epoch; -1 when it is not that. */
static int64_t parse_iso(const char *s) {
  struct tm tm = {0};
  int ms = 0;
  char rest[16] = "";
  if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%15s", &tm.tm_year, &tm.tm_mon,
                   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                   rest) < 6)
    return -1;
  if (rest[0] == '.') {
    char *end;
    long f = strtol(rest + 1, &end, 10);
    size_t digits = (size_t)(end - rest - 1);
    while (digits < 3) f *= 10, digits++;
    while (digits > 3) f /= 10, digits--;
    ms = (int)f;
    if (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0) return -1;
  } else if (rest[0] && strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm) * 1000 + ms;
}

static void x_cluster(struct awsep_req *r, const cJSON *c) {
  struct gd_awsep *ep = r->ep;
  const char *id = awsep_s(c, "id", "");
  const cJSON *it;
  char buf[32];
  const char *engine = awsep_s(c, "engine", "aurora-postgresql");
  awsep_x_open(r, "DBCluster");
  awsep_x_el(r, "AllocatedStorage", "1");
  awsep_x_open(r, "AvailabilityZones");
  for (int i = 0; i < 3; i++)
    awsep_x_elf(r, "AvailabilityZone", "%s%c", awsep_region(ep), "abc"[i]);
  awsep_x_close(r, "AvailabilityZones");
  awsep_x_elf(r, "BackupRetentionPeriod", "%d",
              (int)awsep_n(c, "backup_retention_period", 7));
  awsep_x_el(r, "DBClusterIdentifier", id);
  awsep_x_elf(r, "DBClusterParameterGroup", "default.%s%s", engine,
              is_mysql(engine) ? "8.0" : "15");
  awsep_x_el(r, "DBSubnetGroup", awsep_s(c, "subnet_group", "default"));
  awsep_x_el(r, "Status", awsep_s(c, "status", "available"));
  if (strcmp(awsep_s(c, "status", ""), "creating") != 0) {
    awsep_x_el(r, "EarliestRestorableTime",
               restorable(ep, c, "earliest_restorable_time",
                          -7LL * 86400 * 1000, buf));
  }
  awsep_x_el(r, "Endpoint", awsep_s(c, "endpoint", ""));
  awsep_x_el(r, "ReaderEndpoint", awsep_s(c, "reader_endpoint", ""));
  awsep_x_open(r, "CustomEndpoints");
  awsep_x_close(r, "CustomEndpoints");
  int members = 0;
  cJSON_ArrayForEach(it, awsep_wlist(ep, "db_instances"))
    members += strcmp(awsep_s(it, "cluster", ""), id) == 0;
  awsep_x_bool(r, "MultiAZ", members > 1);
  awsep_x_el(r, "Engine", engine);
  awsep_x_el(r, "EngineVersion", awsep_s(c, "engine_version", ""));
  if (strcmp(awsep_s(c, "status", ""), "creating") != 0)
    awsep_x_el(r, "LatestRestorableTime",
               restorable(ep, c, "latest_restorable_time", -5LL * 60 * 1000,
                          buf));
  awsep_x_elf(r, "Port", "%d", (int)awsep_n(c, "port", 5432));
  awsep_x_el(r, "MasterUsername", awsep_s(c, "master_username", ""));
  awsep_x_el(r, "PreferredBackupWindow", "03:00-03:30");
  awsep_x_el(r, "PreferredMaintenanceWindow", "sun:05:00-sun:05:30");
  awsep_x_el(r, "ReadReplicaIdentifiers", NULL);
  awsep_x_open(r, "DBClusterMembers");
  cJSON_ArrayForEach(it, awsep_wlist(ep, "db_instances")) {
    if (strcmp(awsep_s(it, "cluster", ""), id) != 0) continue;
    awsep_x_open(r, "DBClusterMember");
    awsep_x_el(r, "DBInstanceIdentifier", awsep_s(it, "id", ""));
    awsep_x_bool(r, "IsClusterWriter", awsep_b(it, "writer", 0));
    awsep_x_el(r, "DBClusterParameterGroupStatus", "in-sync");
    awsep_x_elf(r, "PromotionTier", "%d",
                (int)awsep_n(it, "promotion_tier", 1));
    awsep_x_close(r, "DBClusterMember");
  }
  awsep_x_close(r, "DBClusterMembers");
  awsep_x_open(r, "VpcSecurityGroups");
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(c, "security_groups")) {
    awsep_x_open(r, "VpcSecurityGroupMembership");
    awsep_x_el(r, "VpcSecurityGroupId", cJSON_GetStringValue(it));
    awsep_x_el(r, "Status", "active");
    awsep_x_close(r, "VpcSecurityGroupMembership");
  }
  awsep_x_close(r, "VpcSecurityGroups");
  awsep_x_el(r, "HostedZoneId", HOSTED_ZONE);
  awsep_x_bool(r, "StorageEncrypted", 1);
  awsep_x_el(r, "DbClusterResourceId", awsep_s(c, "resource_id", ""));
  awsep_x_elf(r, "DBClusterArn", "arn:aws:rds:%s:%s:cluster:%s",
              awsep_region(ep), awsep_account(ep), id);
  awsep_x_el(r, "AssociatedRoles", NULL);
  awsep_x_bool(r, "IAMDatabaseAuthenticationEnabled", 0);
  awsep_x_el(r, "ClusterCreateTime", awsep_s(c, "create_time", ""));
  awsep_x_el(r, "EngineMode", "provisioned");
  awsep_x_bool(r, "DeletionProtection", awsep_b(c, "deletion_protection", 0));
  awsep_x_bool(r, "HttpEndpointEnabled", 0);
  awsep_x_bool(r, "CopyTagsToSnapshot", 0);
  awsep_x_bool(r, "CrossAccountClone", 0);
  awsep_x_open(r, "DomainMemberships");
  awsep_x_close(r, "DomainMemberships");
  awsep_x_open(r, "TagList");
  awsep_x_tags(r, cJSON_GetObjectItem(c, "tags"), "Tag", "Key", "Value");
  awsep_x_close(r, "TagList");
  awsep_x_close(r, "DBCluster");
}

static void x_instance(struct awsep_req *r, const cJSON *in) {
  struct gd_awsep *ep = r->ep;
  const char *id = awsep_s(in, "id", "");
  const char *status = awsep_s(in, "status", "available");
  const cJSON *c = awsep_find(ep, "db_clusters", "id",
                              awsep_s(in, "cluster", NULL));
  const cJSON *it;
  awsep_x_open(r, "DBInstance");
  awsep_x_el(r, "DBInstanceIdentifier", id);
  awsep_x_el(r, "DBInstanceClass", awsep_s(in, "class", ""));
  awsep_x_el(r, "Engine", awsep_s(in, "engine", ""));
  awsep_x_el(r, "DBInstanceStatus", status);
  awsep_x_el(r, "MasterUsername", awsep_s(c, "master_username", "postgres"));
  /* No endpoint until it is created. */
  if (strcmp(status, "creating") != 0) {
    awsep_x_open(r, "Endpoint");
    awsep_x_elf(r, "Address", "%s." DNS_ID ".%s.rds.amazonaws.com", id,
                awsep_region(ep));
    awsep_x_elf(r, "Port", "%d", (int)awsep_n(c, "port", 5432));
    awsep_x_el(r, "HostedZoneId", HOSTED_ZONE);
    awsep_x_close(r, "Endpoint");
  }
  awsep_x_el(r, "AllocatedStorage", "1");
  if (strcmp(status, "creating") != 0)
    awsep_x_el(r, "InstanceCreateTime", awsep_s(in, "create_time", ""));
  awsep_x_el(r, "PreferredBackupWindow", "03:00-03:30");
  awsep_x_elf(r, "BackupRetentionPeriod", "%d",
              (int)awsep_n(c, "backup_retention_period", 1));
  awsep_x_el(r, "DBSecurityGroups", NULL);
  awsep_x_open(r, "VpcSecurityGroups");
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(c, "security_groups")) {
    awsep_x_open(r, "VpcSecurityGroupMembership");
    awsep_x_el(r, "VpcSecurityGroupId", cJSON_GetStringValue(it));
    awsep_x_el(r, "Status", "active");
    awsep_x_close(r, "VpcSecurityGroupMembership");
  }
  awsep_x_close(r, "VpcSecurityGroups");
  awsep_x_el(r, "AvailabilityZone", awsep_s(in, "az", ""));
  awsep_x_open(r, "DBSubnetGroup");
  awsep_x_el(r, "DBSubnetGroupName", awsep_s(c, "subnet_group", "default"));
  awsep_x_el(r, "DBSubnetGroupDescription", "subnets of the staging VPC");
  awsep_x_el(r, "VpcId", "vpc-0123456789abcdef0");
  awsep_x_el(r, "SubnetGroupStatus", "Complete");
  awsep_x_close(r, "DBSubnetGroup");
  awsep_x_el(r, "PreferredMaintenanceWindow", "sun:05:00-sun:05:30");
  awsep_x_el(r, "PendingModifiedValues", NULL);
  awsep_x_bool(r, "MultiAZ", 0);
  awsep_x_el(r, "EngineVersion", awsep_s(c, "engine_version", ""));
  awsep_x_bool(r, "AutoMinorVersionUpgrade", 1);
  awsep_x_el(r, "ReadReplicaDBInstanceIdentifiers", NULL);
  awsep_x_el(r, "LicenseModel",
             is_mysql(awsep_s(in, "engine", "")) ? "general-public-license"
                                                 : "postgresql-license");
  awsep_x_bool(r, "PubliclyAccessible", 0);
  awsep_x_el(r, "StorageType", "aurora");
  awsep_x_el(r, "DbInstancePort", "0");
  if (c) awsep_x_el(r, "DBClusterIdentifier", awsep_s(c, "id", ""));
  awsep_x_bool(r, "StorageEncrypted", 1);
  awsep_x_el(r, "DbiResourceId", awsep_s(in, "resource_id", ""));
  awsep_x_elf(r, "DBInstanceArn", "arn:aws:rds:%s:%s:db:%s", awsep_region(ep),
              awsep_account(ep), id);
  awsep_x_elf(r, "PromotionTier", "%d", (int)awsep_n(in, "promotion_tier", 1));
  awsep_x_bool(r, "DeletionProtection", 0);
  awsep_x_open(r, "TagList");
  awsep_x_tags(r, cJSON_GetObjectItem(in, "tags"), "Tag", "Key", "Value");
  awsep_x_close(r, "TagList");
  awsep_x_close(r, "DBInstance");
}

/* An identifier given as a name or an ARN of that kind. */
static const char *ident(const char *v, const char *kind) {
  char pat[32];
  snprintf(pat, sizeof pat, ":%s:", kind);
  if (strncmp(v, "arn:", 4) != 0) return v;
  const char *p = strstr(v, pat);
  return p ? p + strlen(pat) : v;
}

static cJSON *cluster_or_fail(struct awsep_req *r, const char *id) {
  cJSON *c = awsep_find(r->ep, "db_clusters", "id", ident(id, "cluster"));
  if (!c)
    awsep_error(r, 404, "DBClusterNotFoundFault", "DBCluster %s not found.",
                ident(id, "cluster"));
  return c;
}

static cJSON *instance_or_fail(struct awsep_req *r, const char *id) {
  cJSON *in = awsep_find(r->ep, "db_instances", "id", ident(id, "db"));
  if (!in)
    awsep_error(r, 404, "DBInstanceNotFound", "DBInstance %s not found.",
                ident(id, "db"));
  return in;
}

/* RDS lists: "Tags.Tag.N" as the API reference writes them, or the
 * generic "Tags.member.N". */
static const char *rds_item(struct awsep_req *r, const char *list,
                            const char *el, int i, const char *suffix) {
  char p[128];
  snprintf(p, sizeof p, "%s.%s", list, el);
  const char *v = suffix ? awsep_item2(r, p, i, suffix) : awsep_item(r, p, i);
  if (v) return v;
  snprintf(p, sizeof p, "%s.member", list);
  return suffix ? awsep_item2(r, p, i, suffix) : awsep_item(r, p, i);
}

static void tags_from(struct awsep_req *r, cJSON *tags) {
  const char *k;
  for (int i = 1; (k = rds_item(r, "Tags", "Tag", i, "Key")); i++) {
    const char *v = rds_item(r, "Tags", "Tag", i, "Value");
    cJSON_DeleteItemFromObject(tags, k);
    cJSON_AddStringToObject(tags, k, v ? v : "");
  }
}

/* 1 pass, 0 not, -1 answered with an error. */
static int rds_filters(struct awsep_req *r, const cJSON *item, int cluster) {
  const char *name;
  for (int f = 1; (name = rds_item(r, "Filters", "Filter", f, "Name")); f++) {
    const char *have;
    if (strcmp(name, "engine") == 0)
      have = awsep_s(item, "engine", "");
    else if (strcmp(name, "db-cluster-id") == 0)
      have = cluster ? awsep_s(item, "id", "") : awsep_s(item, "cluster", "");
    else if (!cluster && strcmp(name, "db-instance-id") == 0)
      have = awsep_s(item, "id", "");
    else {
      awsep_error(r, 400, "InvalidParameterValue",
                  "Unrecognized filter name: %s", name);
      return -1;
    }
    int hit = 0;
    const char *v;
    for (int m = 1;; m++) {
      char k[64];
      snprintf(k, sizeof k, "Values.Value.%d", m);
      v = rds_item(r, "Filters", "Filter", f, k);
      if (!v) {
        snprintf(k, sizeof k, "Values.member.%d", m);
        v = rds_item(r, "Filters", "Filter", f, k);
      }
      if (!v) break;
      hit |= strcmp(ident(v, cluster ? "cluster" : "db"), have) == 0 ||
             strcmp(v, have) == 0;
    }
    if (!hit) return 0;
  }
  return 1;
}

static int describe_list(struct awsep_req *r, int clusters) {
  long max = awsep_int(r, "MaxRecords", 100, 20, 100);
  if (max < 0) return 0;
  long start = awsep_int(r, "Marker", 0, 0, 1000000);
  if (start < 0) return 0;
  const char *one = awsep_param(r, clusters ? "DBClusterIdentifier"
                                            : "DBInstanceIdentifier");
  if (one && !(clusters ? cluster_or_fail(r, one) : instance_or_fail(r, one)))
    return 0;
  const char *kind = clusters ? "DBClusters" : "DBInstances";
  const cJSON *it;
  long k = 0, written = 0;
  int more = 0;
  awsep_begin(r);
  awsep_x_open(r, kind);
  cJSON_ArrayForEach(it, awsep_wlist(r->ep, clusters ? "db_clusters"
                                                      : "db_instances")) {
    if (one && strcmp(awsep_s(it, "id", ""),
                      ident(one, clusters ? "cluster" : "db")) != 0)
      continue;
    int m = rds_filters(r, it, clusters);
    if (m < 0) return 0;
    if (!m || k++ < start) continue;
    if (written == max) {
      more = 1;
      break;
    }
    written++;
    if (clusters)
      x_cluster(r, it);
    else
      x_instance(r, it);
  }
  awsep_x_close(r, kind);
  if (more) awsep_x_elf(r, "Marker", "%ld", start + written);
  awsep_end(r);
  return 0;
}

static int describe_clusters(struct awsep_req *r) { return describe_list(r, 1); }
static int describe_instances(struct awsep_req *r) {
  return describe_list(r, 0);
}

/* ------------------------------------------------------------------ */
/* What time does */

static cJSON *writer_of(struct gd_awsep *ep, const char *cluster) {
  cJSON *in;
  cJSON_ArrayForEach(in, awsep_wlist(ep, "db_instances"))
    if (strcmp(awsep_s(in, "cluster", ""), cluster) == 0 &&
        awsep_b(in, "writer", 0))
      return in;
  return NULL;
}

/* The reader to promote: target when it is one, else the available one
 * with the best (lowest) promotion tier, first listed on a tie. */
static cJSON *pick_reader(struct gd_awsep *ep, const char *cluster,
                          const char *target) {
  cJSON *in, *best = NULL;
  cJSON_ArrayForEach(in, awsep_wlist(ep, "db_instances")) {
    if (strcmp(awsep_s(in, "cluster", ""), cluster) != 0 ||
        awsep_b(in, "writer", 0) ||
        strcmp(awsep_s(in, "status", ""), "deleting") == 0)
      continue;
    if (target && *target && strcmp(awsep_s(in, "id", ""), target) == 0)
      return in;
    if (!best ||
        awsep_n(in, "promotion_tier", 1) < awsep_n(best, "promotion_tier", 1))
      best = in;
  }
  return best;
}

static void failover_done(struct gd_awsep *ep, const char *cluster,
                          const char *target) {
  cJSON *c = awsep_find(ep, "db_clusters", "id", cluster);
  if (!c) return;
  cJSON *old = writer_of(ep, cluster);
  cJSON *nw = pick_reader(ep, cluster, target);
  if (nw) {
    if (old) awsep_set_b(old, "writer", 0);
    awsep_set_b(nw, "writer", 1);
  }
  awsep_set_s(c, "status", "available");
}

static void instance_available(struct gd_awsep *ep, const char *id,
                               const char *unused) {
  (void)unused;
  cJSON *in = awsep_find(ep, "db_instances", "id", id);
  if (in) awsep_set_s(in, "status", "available");
}

static void cluster_available(struct gd_awsep *ep, const char *id,
                              const char *unused) {
  (void)unused;
  cJSON *c = awsep_find(ep, "db_clusters", "id", id);
  if (c) awsep_set_s(c, "status", "available");
}

static void remove_item(struct gd_awsep *ep, const char *list,
                        const char *id) {
  cJSON *l = awsep_wlist(ep, list), *it = awsep_find(ep, list, "id", id);
  if (it) cJSON_Delete(cJSON_DetachItemViaPointer(l, it));
}

static void instance_gone(struct gd_awsep *ep, const char *id,
                          const char *unused) {
  (void)unused;
  cJSON *in = awsep_find(ep, "db_instances", "id", id);
  if (!in) return;
  char cluster[256];
  snprintf(cluster, sizeof cluster, "%s", awsep_s(in, "cluster", ""));
  int was_writer = awsep_b(in, "writer", 0);
  remove_item(ep, "db_instances", id);
  /* A writer that goes away hands over to a reader. */
  if (was_writer && cluster[0]) {
    cJSON *nw = pick_reader(ep, cluster, NULL);
    if (nw) awsep_set_b(nw, "writer", 1);
  }
}

static void cluster_gone(struct gd_awsep *ep, const char *id,
                         const char *unused) {
  (void)unused;
  remove_item(ep, "db_clusters", id);
}

/* ------------------------------------------------------------------ */
/* Mutations */

static int failover(struct awsep_req *r) {
  const char *id = awsep_require(r, "DBClusterIdentifier");
  if (!id) return 0;
  cJSON *c = cluster_or_fail(r, id);
  if (!c) return 0;
  const char *target = awsep_param(r, "TargetDBInstanceIdentifier");
  if (target) {
    cJSON *t = instance_or_fail(r, target);
    if (!t) return 0;
    if (strcmp(awsep_s(t, "cluster", ""), awsep_s(c, "id", "")) != 0)
      return awsep_error(r, 400, "InvalidParameterValue",
                         "DB instance %s is not a member of DB cluster %s.",
                         target, awsep_s(c, "id", ""));
    if (awsep_b(t, "writer", 0))
      return awsep_error(r, 400, "InvalidParameterCombination",
                         "DB instance %s is already the writer of DB "
                         "cluster %s.",
                         target, awsep_s(c, "id", ""));
  }
  if (strcmp(awsep_s(c, "status", ""), "available") != 0)
    return awsep_error(r, 400, "InvalidDBClusterStateFault",
                       "DB cluster %s is not in the available state (it is "
                       "%s).",
                       awsep_s(c, "id", ""), awsep_s(c, "status", ""));
  awsep_set_s(c, "status", "failing-over");
  awsep_schedule(r->ep, awsep_delay(r->ep, "failover"), failover_done,
                 awsep_s(c, "id", ""), target);
  awsep_begin(r);
  x_cluster(r, c);
  awsep_end(r);
  return 0;
}

static int reboot(struct awsep_req *r) {
  const char *id = awsep_require(r, "DBInstanceIdentifier");
  if (!id) return 0;
  cJSON *in = instance_or_fail(r, id);
  if (!in) return 0;
  if (strcmp(awsep_s(in, "status", ""), "available") != 0)
    return awsep_error(r, 400, "InvalidDBInstanceState",
                       "DB instance %s is not in the available state (it is "
                       "%s).",
                       awsep_s(in, "id", ""), awsep_s(in, "status", ""));
  cJSON *c = awsep_find(r->ep, "db_clusters", "id",
                        awsep_s(in, "cluster", NULL));
  int force = awsep_bool(r, "ForceFailover");
  if (force && c && awsep_b(in, "writer", 0)) {
    if (strcmp(awsep_s(c, "status", ""), "available") != 0)
      return awsep_error(r, 400, "InvalidDBClusterStateFault",
                         "DB cluster %s is not in the available state (it "
                         "is %s).",
                         awsep_s(c, "id", ""), awsep_s(c, "status", ""));
    awsep_set_s(c, "status", "failing-over");
    awsep_schedule(r->ep, awsep_delay(r->ep, "failover"), failover_done,
                   awsep_s(c, "id", ""), NULL);
  }
  awsep_set_s(in, "status", "rebooting");
  awsep_schedule(r->ep, awsep_delay(r->ep, "reboot"), instance_available,
                 awsep_s(in, "id", ""), NULL);
  awsep_begin(r);
  x_instance(r, in);
  awsep_end(r);
  return 0;
}

static int restore(struct awsep_req *r) {
  struct gd_awsep *ep = r->ep;
  const char *id = awsep_require(r, "DBClusterIdentifier");
  if (!id) return 0;
  const char *src_id = awsep_param(r, "SourceDBClusterIdentifier");
  const char *src_res = awsep_param(r, "SourceDbClusterResourceId");
  cJSON *src = NULL;
  if (src_id)
    src = cluster_or_fail(r, src_id);
  else if (src_res) {
    src = awsep_find(ep, "db_clusters", "resource_id", src_res);
    if (!src)
      awsep_error(r, 404, "DBClusterNotFoundFault", "DBCluster %s not found.",
                  src_res);
  } else
    awsep_require(r, "SourceDBClusterIdentifier");
  if (!src) return 0;
  const char *when = awsep_param(r, "RestoreToTime");
  int latest = awsep_bool(r, "UseLatestRestorableTime");
  if (when && latest)
    return awsep_error(r, 400, "InvalidParameterCombination",
                       "Cannot specify both RestoreToTime and "
                       "UseLatestRestorableTime.");
  if (!when && !latest)
    return awsep_error(r, 400, "InvalidParameterCombination",
                       "Either RestoreToTime or UseLatestRestorableTime must "
                       "be specified.");
  const char *type = awsep_param(r, "RestoreType");
  if (type && strcmp(type, "full-copy") != 0 &&
      strcmp(type, "copy-on-write") != 0)
    return awsep_error(r, 400, "InvalidParameterValue",
                       "Invalid RestoreType: %s. Valid values are full-copy "
                       "and copy-on-write.",
                       type);
  char b1[32], b2[32];
  int64_t lo = parse_iso(restorable(ep, src, "earliest_restorable_time",
                                    -7LL * 86400 * 1000, b1));
  int64_t hi = parse_iso(
      restorable(ep, src, "latest_restorable_time", -5LL * 60 * 1000, b2));
  if (when) {
    int64_t t = parse_iso(when);
    if (t < 0)
      return awsep_error(r, 400, "InvalidParameterValue",
                         "Invalid RestoreToTime: %s", when);
    if (t < lo || t > hi)
      return awsep_error(r, 400, "InvalidRestoreFault",
                         "The restore time %s is outside the restorable "
                         "window of DB cluster %s (%s to %s).",
                         when, awsep_s(src, "id", ""), b1, b2);
  }
  if (awsep_find(ep, "db_clusters", "id", id))
    return awsep_error(r, 400, "DBClusterAlreadyExistsFault",
                       "DB Cluster already exists");
  cJSON *c = cJSON_CreateObject();
  cJSON_AddStringToObject(c, "id", id);
  cJSON_AddStringToObject(c, "status", "creating");
  static const char *const copy[] = {"engine", "engine_version",
                                     "master_username", "subnet_group"};
  for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++)
    cJSON_AddStringToObject(c, copy[i], awsep_s(src, copy[i], ""));
  cJSON_AddNumberToObject(c, "port", awsep_n(src, "port", 5432));
  cJSON_AddNumberToObject(c, "backup_retention_period",
                          awsep_n(src, "backup_retention_period", 7));
  if (awsep_param(r, "DBSubnetGroupName"))
    awsep_set_s(c, "subnet_group", awsep_param(r, "DBSubnetGroupName"));
  long port = awsep_int(r, "Port", 0, 1150, 65535);
  if (port < 0) {
    cJSON_Delete(c);
    return 0;
  }
  if (port) awsep_set_n(c, "port", (double)port);
  cJSON *sgs = cJSON_AddArrayToObject(c, "security_groups");
  const char *sg;
  for (int i = 1;
       (sg = rds_item(r, "VpcSecurityGroupIds", "VpcSecurityGroupId", i,
                      NULL));
       i++)
    cJSON_AddItemToArray(sgs, cJSON_CreateString(sg));
  awsep_set_b(c, "deletion_protection", awsep_bool(r, "DeletionProtection"));
  tags_from(r, ensure_obj(c, "tags"));
  /* What it was restored from and to, for the tests. */
  cJSON_AddStringToObject(c, "restored_from", awsep_s(src, "id", ""));
  char at[32];
  if (!when) {
    snprintf(at, sizeof at, "%s", b2);
    when = at;
  }
  cJSON_AddStringToObject(c, "restored_to", when);
  cJSON_AddStringToObject(c, "restore_type", type ? type : "full-copy");
  fill_cluster(ep, c);
  cJSON_AddItemToArray(awsep_wlist(ep, "db_clusters"), c);
  awsep_schedule(ep, awsep_delay(ep, "create"), cluster_available, id, NULL);
  awsep_begin(r);
  x_cluster(r, c);
  awsep_end(r);
  return 0;
}

static int create_instance(struct awsep_req *r) {
  struct gd_awsep *ep = r->ep;
  const char *id = awsep_require(r, "DBInstanceIdentifier");
  const char *cls = id ? awsep_require(r, "DBInstanceClass") : NULL;
  const char *engine = cls ? awsep_require(r, "Engine") : NULL;
  if (!engine) return 0;
  const char *cid = awsep_param(r, "DBClusterIdentifier");
  cJSON *c = NULL;
  if (cid) {
    if (!(c = cluster_or_fail(r, cid))) return 0;
    if (strcmp(awsep_s(c, "engine", ""), engine) != 0)
      return awsep_error(r, 400, "InvalidParameterCombination",
                         "The engine name requested for your DB instance "
                         "(%s) doesn't match the engine name of your DB "
                         "cluster (%s).",
                         engine, awsep_s(c, "engine", ""));
    if (strcmp(awsep_s(c, "status", ""), "available") != 0)
      return awsep_error(r, 400, "InvalidDBClusterStateFault",
                         "DB cluster %s is not in the available state (it "
                         "is %s).",
                         awsep_s(c, "id", ""), awsep_s(c, "status", ""));
  } else if (strncmp(engine, "aurora", 6) == 0)
    return awsep_error(r, 400, "InvalidParameterCombination",
                       "DBClusterIdentifier is required for an %s instance.",
                       engine);
  if (awsep_find(ep, "db_instances", "id", id))
    return awsep_error(r, 400, "DBInstanceAlreadyExists",
                       "DB instance already exists");
  cJSON *in = cJSON_CreateObject();
  cJSON_AddStringToObject(in, "id", id);
  cJSON_AddStringToObject(in, "status", "creating");
  cJSON_AddStringToObject(in, "class", cls);
  cJSON_AddStringToObject(in, "engine", engine);
  if (c) {
    cJSON_AddStringToObject(in, "cluster", awsep_s(c, "id", ""));
    cJSON_AddBoolToObject(in, "writer", writer_of(ep, awsep_s(c, "id", "")) ==
                                            NULL);
  }
  if (awsep_param(r, "AvailabilityZone"))
    cJSON_AddStringToObject(in, "az", awsep_param(r, "AvailabilityZone"));
  long tier = awsep_int(r, "PromotionTier", 1, 0, 15);
  if (tier < 0) {
    cJSON_Delete(in);
    return 0;
  }
  cJSON_AddNumberToObject(in, "promotion_tier", (double)tier);
  tags_from(r, ensure_obj(in, "tags"));
  cJSON *list = awsep_wlist(ep, "db_instances");
  fill_instance(ep, in, cJSON_GetArraySize(list));
  cJSON_AddItemToArray(list, in);
  awsep_schedule(ep, awsep_delay(ep, "create"), instance_available, id, NULL);
  awsep_begin(r);
  x_instance(r, in);
  awsep_end(r);
  return 0;
}

static int delete_instance(struct awsep_req *r) {
  const char *id = awsep_require(r, "DBInstanceIdentifier");
  if (!id) return 0;
  cJSON *in = instance_or_fail(r, id);
  if (!in) return 0;
  const char *st = awsep_s(in, "status", "");
  if (strcmp(st, "deleting") == 0)
    return awsep_error(r, 400, "InvalidDBInstanceState",
                       "Instance %s is already being deleted.", id);
  awsep_set_s(in, "status", "deleting");
  awsep_schedule(r->ep, awsep_delay(r->ep, "delete"), instance_gone,
                 awsep_s(in, "id", ""), NULL);
  awsep_begin(r);
  x_instance(r, in);
  awsep_end(r);
  return 0;
}

static int delete_cluster(struct awsep_req *r) {
  struct gd_awsep *ep = r->ep;
  const char *id = awsep_require(r, "DBClusterIdentifier");
  if (!id) return 0;
  cJSON *c = cluster_or_fail(r, id);
  if (!c) return 0;
  const char *cid = awsep_s(c, "id", "");
  if (awsep_b(c, "deletion_protection", 0))
    return awsep_error(r, 400, "InvalidParameterCombination",
                       "Cannot delete protected Cluster, please disable "
                       "deletion protection and try again.");
  if (!awsep_bool(r, "SkipFinalSnapshot") &&
      !awsep_param(r, "FinalDBSnapshotIdentifier"))
    return awsep_error(r, 400, "InvalidParameterCombination",
                       "FinalDBSnapshotIdentifier is required unless "
                       "SkipFinalSnapshot is specified.");
  if (strcmp(awsep_s(c, "status", ""), "deleting") == 0)
    return awsep_error(r, 400, "InvalidDBClusterStateFault",
                       "DB cluster %s is already being deleted.", cid);
  const cJSON *in;
  cJSON_ArrayForEach(in, awsep_wlist(ep, "db_instances"))
    if (strcmp(awsep_s(in, "cluster", ""), cid) == 0 &&
        strcmp(awsep_s(in, "status", ""), "deleting") != 0)
      return awsep_error(r, 400, "InvalidDBClusterStateFault",
                         "Cluster cannot be deleted, it still contains DB "
                         "instances in non-deleting state.");
  awsep_set_s(c, "status", "deleting");
  awsep_schedule(ep, awsep_delay(ep, "delete"), cluster_gone, cid, NULL);
  awsep_begin(r);
  x_cluster(r, c);
  awsep_end(r);
  return 0;
}

static int list_tags(struct awsep_req *r) {
  const char *arn = awsep_require(r, "ResourceName");
  if (!arn) return 0;
  const cJSON *it = NULL;
  if (strncmp(arn, "arn:aws:rds:", 12) != 0)
    return awsep_error(r, 400, "InvalidParameterValue",
                       "Invalid resource name: %s", arn);
  if (strstr(arn, ":cluster:"))
    it = cluster_or_fail(r, arn);
  else if (strstr(arn, ":db:"))
    it = instance_or_fail(r, arn);
  else
    return awsep_error(r, 400, "InvalidParameterValue",
                       "Invalid resource name: %s", arn);
  if (!it) return 0;
  awsep_begin(r);
  awsep_x_open(r, "TagList");
  awsep_x_tags(r, cJSON_GetObjectItem(it, "tags"), "Tag", "Key", "Value");
  awsep_x_close(r, "TagList");
  awsep_end(r);
  return 0;
}

const struct awsep_op gd_awsep_rds_ops[] = {
    {"DescribeDBClusters", 0, describe_clusters},
    {"DescribeDBInstances", 0, describe_instances},
    {"FailoverDBCluster", 1, failover},
    {"RebootDBInstance", 1, reboot},
    {"RestoreDBClusterToPointInTime", 1, restore},
    {"CreateDBInstance", 1, create_instance},
    {"DeleteDBInstance", 1, delete_instance},
    {"DeleteDBCluster", 1, delete_cluster},
    {"ListTagsForResource", 0, list_tags},
    {NULL, 0, NULL}};

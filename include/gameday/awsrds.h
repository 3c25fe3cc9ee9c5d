/* gameday: what the RDS kinds read from RDS answers (DescribeDBClusters,
 * DescribeDBInstances and the DBCluster / DBInstance an operation returns),
 * copied out of the XML into fixed structs so a kind can keep what it saw
 * (the writer before a failover) after the answer is freed.
 *
 * The element names are the RDS API reference's (API version 2014-10-31):
 * DBCluster/{DBClusterIdentifier, Status, Engine, Endpoint, ReaderEndpoint,
 * LatestRestorableTime, DBClusterMembers/DBClusterMember/{
 * DBInstanceIdentifier, IsClusterWriter}, TagList/Tag/{Key, Value}} and
 * DBInstance/{DBInstanceIdentifier, DBInstanceStatus, DBClusterIdentifier,
 * Engine, Endpoint/Address, TagList/Tag}. */
#ifndef GAMEDAY_AWSRDS_H
#define GAMEDAY_AWSRDS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "gameday/aws.h"
#include "gameday/awsjob.h"
#include "gameday/error.h"

struct gd_scenario;

/* RDS allows 50 tags on a resource; identifiers are at most 63 characters
 * (instances and clusters), endpoints a DNS name. */
#define GD_RDS_MAX_TAGS 50
#define GD_RDS_MAX_MEMBERS 16
#define GD_RDS_ID_MAX 64

struct gd_rds_tags {
  size_t n;
  char key[GD_RDS_MAX_TAGS][128];
  char value[GD_RDS_MAX_TAGS][256];
};

struct gd_rds_cluster {
  char id[GD_RDS_ID_MAX];
  char status[64];
  char engine[64];
  char endpoint[256];
  char reader_endpoint[256];
  char latest_restorable[64]; /* "" when absent */
  char writer[GD_RDS_ID_MAX]; /* "" when no member is the writer */
  size_t nmembers;
  char members[GD_RDS_MAX_MEMBERS][GD_RDS_ID_MAX];
  int member_writer[GD_RDS_MAX_MEMBERS];
  struct gd_rds_tags tags;
};

struct gd_rds_instance {
  char id[GD_RDS_ID_MAX];
  char status[64];
  char cluster[GD_RDS_ID_MAX]; /* "" when not in a cluster */
  char engine[64];
  char address[256];
  struct gd_rds_tags tags;
};

/* The first DBCluster of an answer: of DescribeDBClusters (a list) or of an
 * operation that returns one (FailoverDBCluster, ...). GD_ENOTFOUND when
 * the answer has none. */
int gd_rds_cluster_read(const struct gd_aws_result *res,
                        struct gd_rds_cluster *c);
int gd_rds_instance_read(const struct gd_aws_result *res,
                         struct gd_rds_instance *i);

/* The value of tag key, or NULL. */
const char *gd_rds_tag(const struct gd_rds_tags *t, const char *key);

/* The scenario's safety rule (gd_scenario_check_tags) on an RDS resource:
 * 0, or GD_EPERM with the target and the tag named. */
int gd_rds_check_tags(const struct gd_scenario *sc, const char *target,
                      const struct gd_rds_tags *t, struct gd_error *err);

/* True when the call failed because the resource does not exist
 * (DBClusterNotFoundFault, DBInstanceNotFound). */
int gd_rds_not_found(const struct gd_aws_result *res);

/* The parameters {"DBClusterIdentifier": id} (or another key), for the
 * describe calls; NULL when out of memory. */
cJSON *gd_rds_id_params(const char *key, const char *id);

/* "Tags.Tag" items, as the query protocol wants them in RDS:
 * [{"Key": k, "Value": v}, ...] appended to params under "Tags.Tag". */
int gd_rds_add_tags(cJSON *params, const struct gd_rds_tags *t);

/* The tag the restore action puts on every resource it creates, and the
 * delete action requires: key, and its value for this run
 * ("aurora-restore@2024-05-01T12:00:00Z": the scenario and the run's start;
 * "gameday" plus the current time when the action runs outside a run). */
#define GD_RDS_CREATED_BY "gameday:created-by"
struct gd_action;
void gd_rds_run_label(const struct gd_action *a, char *buf, size_t n);

/* What the RDS actions share on their job (awsjob.h): each one describes
 * its target first, puts the target's tags through the scenario's safety
 * rules, and keeps a journal detail of what it has seen so far, rebuilt by
 * its detail function before the job finishes. */

/* The kind's detail function: sets a->detail from the kind's ctx and the
 * answer res (NULL: none), with gd_rds_set_detail. */
typedef void (*gd_rds_detail_fn)(struct gd_action *a,
                                 const struct gd_aws_result *res);

/* Ends a->detail's making: d holds the kind's own fields (NULL when it
 * could not be made); adds "dry_run" on a dry run and the answer's
 * "aws_code" and "request_id" (res may be NULL), and replaces a->detail
 * with it. */
void gd_rds_set_detail(struct gd_action *a, cJSON *d,
                       const struct gd_aws_result *res);

/* Fails the job: detail(a, res), then gd_awsjob_finish(j, 0, ...). */
void gd_rds_fail(struct gd_awsjob *j, gd_rds_detail_fn detail,
                 const struct gd_aws_result *res, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One rds call of the job with params, which it deletes. NULL params (they
 * could not be made) finish the job as failed, "out of memory". */
void gd_rds_call(struct gd_awsjob *j, const char *operation, cJSON *params,
                 gd_awsjob_cb cb);
/* The same with the params {key: id} (gd_rds_id_params). */
void gd_rds_call_id(struct gd_awsjob *j, const char *operation,
                    const char *key, const char *id, gd_awsjob_cb cb);

/* The answer of the DescribeDBClusters (DescribeDBInstances) of the
 * action's target id: 0 with *c (*i) read; otherwise the job is failed
 * (gd_rds_fail) with the call's error, or "rds DescribeDBClusters: no
 * cluster 'ID' in the answer" ("rds DescribeDBInstances: no instance
 * ..."), and non-zero returned. */
int gd_rds_described_cluster(struct gd_awsjob *j, gd_rds_detail_fn detail,
                             const struct gd_aws_result *res,
                             const struct gd_error *e, const char *id,
                             struct gd_rds_cluster *c);
int gd_rds_described_instance(struct gd_awsjob *j, gd_rds_detail_fn detail,
                              const struct gd_aws_result *res,
                              const struct gd_error *e, const char *id,
                              struct gd_rds_instance *i);

/* gd_rds_check_tags for an action's job: 0, or the job failed (gd_rds_fail)
 * "refused: WHY" and non-zero returned. */
int gd_rds_job_check_tags(struct gd_awsjob *j, gd_rds_detail_fn detail,
                          const struct gd_aws_result *res, const char *target,
                          const struct gd_rds_tags *t);

/* For the DescribeDBClusters step of an RDS check (awscheck.h, called with
 * gd_awscheck_call_any): the answer's DBCluster, or NULL when the sample
 * has ended: the finding "cluster 'ID' not found" when RDS has no such
 * cluster, the failed call's treatment (gd_awscheck_fail) otherwise. */
struct gd_awscheck_run;
xmlNode *gd_rds_check_cluster(struct gd_awscheck_run *r,
                              const struct gd_aws_result *res,
                              const struct gd_error *e, const char *id);

/* RFC 3339 ("2024-05-01T12:00:00Z", "2024-05-01T14:00:00.250+02:00") to
 * Unix milliseconds; -1 when it is not one. */
long long gd_rds_parse_time(const char *s);
/* Unix milliseconds to the UTC form RDS takes: "2024-05-01T12:00:00.250Z"
 * (no fraction when it is zero). */
void gd_rds_format_time(long long ms, char *buf, size_t n);

#endif

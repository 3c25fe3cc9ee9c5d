/* The posture and security check kinds (aws.posture.*, aws.security.
 * open_security_groups and db_security_groups) through the real scheduler,
 * one sample each, against the test AWS endpoint (tests/awsep.h): each
 * passes on a compliant world and reports the exact finding on a
 * non-compliant one; an AccessDenied answer, on the first call or a later
 * one, is class "error" with "CODE on service:Operation" (what `gameday
 * check` shows as "could not check"). aws.posture.sqs_dlq runs against
 * fauxqs (scenarios/local/stack/queue), a real SQS implementation; the
 * helper itself (gd_awscheck_action, list keys) is tested directly. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "awsep.h"
#include "awsmeta.h"
#include "fauxqs.h"
#include "gameday/aws.h"
#include "gameday/awscheck.h"
#include "gameday/curl.h"
#include "gameday/json.h"
#include "gameday/probe.h"
#include "httpd.h"
#include "proberun.h"
#include "testutil.h"

static struct gd_awsep *ep;
static char *home;

#define TG "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/" \
           "web/73e2d6bc24d8a067"
#define TG_IP "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"         \
              "targetgroup/api/0123456789abcdef"
#define I1 "i-0aaaaaaaaaaaaaaa1"
#define I2 "i-0aaaaaaaaaaaaaaa2"
#define SG_WEB "sg-0000000000000000a"
#define SG_DB "sg-0000000000000000b"
#define SG_APP "sg-0000000000000000c"

/* A staging stack built for failure: two zones everywhere, ELB health
 * checks, a reader in the other zone, backups, deletion protection, only
 * 443/80 open to the world, the database reachable from the app tier and
 * the VPC. Each test breaks what it checks. */
static const char *const FIXTURE =
    "{\"instances\": ["
    "  {\"id\": \"" I1 "\", \"az\": \"eu-west-1a\", \"asg\": \"web\"},"
    "  {\"id\": \"" I2 "\", \"az\": \"eu-west-1b\", \"asg\": \"web\"}],"
    " \"auto_scaling_groups\": [{\"name\": \"web\", \"min\": 2, \"max\": 4,"
    "  \"desired\": 2, \"azs\": [\"eu-west-1a\", \"eu-west-1b\"],"
    "  \"health_check_type\": \"ELB\", \"target_groups\": [\"" TG "\"]}],"
    " \"target_groups\": [{\"arn\": \"" TG "\"},"
    "  {\"arn\": \"" TG_IP "\", \"targets\": ["
    "    {\"id\": \"10.0.1.5\", \"az\": \"eu-west-1a\"},"
    "    {\"id\": \"10.0.2.5\", \"az\": \"eu-west-1c\"}]}],"
    " \"db_clusters\": [{\"id\": \"staging-aurora\","
    "  \"backup_retention_period\": 7, \"deletion_protection\": true,"
    "  \"security_groups\": [\"" SG_DB "\"]}],"
    " \"db_instances\": ["
    "  {\"id\": \"staging-aurora-1\", \"cluster\": \"staging-aurora\","
    "   \"writer\": true, \"az\": \"eu-west-1a\"},"
    "  {\"id\": \"staging-aurora-2\", \"cluster\": \"staging-aurora\","
    "   \"az\": \"eu-west-1b\"}],"
    " \"security_groups\": ["
    "  {\"id\": \"" SG_WEB "\", \"name\": \"web\", \"ingress\": ["
    "    {\"protocol\": \"tcp\", \"from\": 443, \"cidrs\": [\"0.0.0.0/0\"],"
    "     \"ipv6_cidrs\": [\"::/0\"]},"
    "    {\"protocol\": \"tcp\", \"from\": 80, \"cidrs\": [\"0.0.0.0/0\"]}]},"
    "  {\"id\": \"" SG_DB "\", \"name\": \"db\", \"ingress\": ["
    "    {\"protocol\": \"tcp\", \"from\": 5432, \"groups\": [\"" SG_APP "\"]},"
    "    {\"protocol\": \"tcp\", \"from\": 5432,"
    "     \"cidrs\": [\"10.0.0.0/16\"]}]},"
    "  {\"id\": \"" SG_APP "\", \"name\": \"app\", \"ingress\": ["
    "    {\"protocol\": \"tcp\", \"from\": 8080, \"groups\": [\"" SG_WEB "\"]},"
    "    {\"protocol\": \"icmp\", \"from\": -1, \"to\": -1,"
    "     \"cidrs\": [\"10.0.0.0/8\"]}]}],"
    " \"alarms\": [{\"name\": \"web-5xx\"}, {\"name\": \"db-cpu\"},"
    "  {\"name\": \"queue-age\"}]}";

#define NEED_EP()                                                             \
  do {                                                                        \
    char why_[256];                                                           \
    if (!ep) GD_SKIP("the test AWS endpoint did not start");                  \
    CU_ASSERT_EQUAL_FATAL(gd_awsep_load(ep, FIXTURE, why_, sizeof why_), 0);  \
    gd_awsep_calls_clear(ep);                                                 \
  } while (0)

/* One sample of the probe (JSON with ' for "), its class and detail. */
struct one {
  enum gd_sample_class cls;
  char detail[160];
  char desc[256];
};

static void one(struct one *o, const char *json) {
  char buf[2048];
  snprintf(buf, sizeof buf, "%s", json);
  for (char *p = buf; *p; p++)
    if (*p == '\'') *p = '"';
  /* As a readiness check gets them (harness/scenario.c). */
  cJSON *spec = cJSON_Parse(buf);
  CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
  cJSON_AddNumberToObject(spec, "interval_ms", 1000);
  cJSON_AddNumberToObject(spec, "timeout_ms", 5000);
  struct gd_proberun r;
  gd_proberun_spec(spec, 1, 6000, &r, o->desc, sizeof o->desc);
  cJSON_Delete(spec);
  CU_ASSERT_EQUAL_FATAL(r.n, 1);
  o->cls = r.cls[0];
  snprintf(o->detail, sizeof o->detail, "%s", r.detail[0]);
}

/* The runner keeps 159 bytes of a detail: so much of d is compared (the
 * e2e test reads whole findings from the journal). */
#define EXPECT(o, c, d)                                                       \
  do {                                                                        \
    char want_[sizeof (o).detail];                                            \
    snprintf(want_, sizeof want_, "%s", (d));                                 \
    if ((o).cls != (c))                                                       \
      printf("\n    class %s, want %s ", gd_sample_class_name((o).cls),      \
             gd_sample_class_name(c));                                        \
    CU_ASSERT_EQUAL((o).cls, (c));                                            \
    GD_ASSERT_STR((o).detail, want_);                                         \
  } while (0)

/* Changes one item of the world: list[key == value].member = JSON value. */
static void world_set(const char *list, const char *key, const char *value,
                      const char *member, const char *json) {
  cJSON *w = gd_awsep_lock(ep);
  cJSON *it, *found = NULL;
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(w, list)) {
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(it, key));
    if (v && !strcmp(v, value)) found = it;
  }
  CU_ASSERT_PTR_NOT_NULL(found);
  if (found) {
    cJSON *nv = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL(nv);
    if (cJSON_GetObjectItem(found, member))
      cJSON_ReplaceItemInObject(found, member, nv);
    else
      cJSON_AddItemToObject(found, member, nv);
  }
  gd_awsep_unlock(ep);
}

/* ------------------------------------------------------------------ */
/* The helper */

static void test_action_names(void) {
  char b[128];
  GD_ASSERT_STR(gd_awscheck_action("monitoring", "DescribeAlarms", b, sizeof b),
                "cloudwatch:DescribeAlarms");
  GD_ASSERT_STR(gd_awscheck_action("elasticloadbalancing",
                                   "DescribeTargetHealth", b, sizeof b),
                "elasticloadbalancing:DescribeTargetHealth");
  GD_ASSERT_STR(gd_awscheck_action("iam", "GetAccountSummary", b, sizeof b),
                "iam:GetAccountSummary");
  /* The permission, where IAM names it apart from the call. */
  GD_ASSERT_STR(gd_awscheck_action("s3", "ListBuckets", b, sizeof b),
                "s3:ListAllMyBuckets");
  GD_ASSERT_STR(gd_awscheck_action("s3", "GetBucketAcl", b, sizeof b),
                "s3:GetBucketAcl");
}

static void test_list_keys(void) {
  struct gd_error err = {0};
  char **v = NULL;
  size_t n = 0;
  cJSON *spec = cJSON_Parse("{\"a\": [443, \" 80 \", \"x\"], \"b\": \"443, 80\","
                            " \"c\": \"443,,80\", \"d\": 5, \"e\": [], \"f\": \" \"}");
  CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
  CU_ASSERT_EQUAL(gd_awscheck_list_parse(spec, "a", "p", 1, &v, &n, &err), 0);
  CU_ASSERT_EQUAL(n, 3);
  if (n == 3) {
    GD_ASSERT_STR(v[0], "443");
    GD_ASSERT_STR(v[1], "80");
    GD_ASSERT_STR(v[2], "x");
    CU_ASSERT_PTR_NULL(v[3]);
  }
  gd_strv_free(v);
  v = NULL;
  CU_ASSERT_EQUAL(gd_awscheck_list_parse(spec, "b", "p", 1, &v, &n, &err), 0);
  CU_ASSERT_EQUAL(n, 2);
  if (n == 2) GD_ASSERT_STR(v[1], "80");
  gd_strv_free(v);
  v = NULL;
  CU_ASSERT_EQUAL(gd_awscheck_list_parse(spec, "c", "p", 1, &v, &n, &err),
                  GD_EINVAL);
  GD_ASSERT_STR(err.msg, "p.c: empty item in '443,,80'");
  CU_ASSERT_EQUAL(gd_awscheck_list_parse(spec, "d", "p", 1, &v, &n, &err),
                  GD_EINVAL);
  GD_ASSERT_STR(err.msg, "p.d: must be an array or a comma-separated string");
  CU_ASSERT_EQUAL(gd_awscheck_list_parse(spec, "e", "p", 1, &v, &n, &err),
                  GD_EINVAL);
  GD_ASSERT_STR(err.msg, "p.e: must not be empty");
  CU_ASSERT_EQUAL(gd_awscheck_list_parse(spec, "e", "p", 0, &v, &n, &err), 0);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_PTR_NOT_NULL(v);
  gd_strv_free(v);
  v = NULL;
  CU_ASSERT_EQUAL(gd_awscheck_list_parse(spec, "f", "p", 0, &v, &n, &err), 0);
  CU_ASSERT_EQUAL(n, 0);
  gd_strv_free(v);
  v = NULL;
  CU_ASSERT_EQUAL(gd_awscheck_list_parse(spec, "f", "p", 1, &v, &n, &err),
                  GD_EINVAL);
  GD_ASSERT_STR(err.msg, "p.f: must not be empty");
  CU_ASSERT_EQUAL(gd_awscheck_list_parse(spec, "zz", "p", 0, &v, &n, &err), 0);
  CU_ASSERT_PTR_NULL(v);
  cJSON_Delete(spec);
}

/* ------------------------------------------------------------------ */
/* aws.posture.autoscaling_group */

#define ASG "{'type':'aws.posture.autoscaling_group','group':'web'}"

static void test_asg(void) {
  NEED_EP();
  struct one o;
  one(&o, ASG);
  GD_ASSERT_STR(o.desc, "auto scaling group 'web': at least 2 AZs, MinSize "
                        "at least 2, ELB health checks");
  EXPECT(o, GD_SAMPLE_OK, "group 'web' spans 2 AZs (eu-west-1a, eu-west-1b), "
                          "MinSize 2, ELB health checks");
  world_set("auto_scaling_groups", "name", "web", "azs", "[\"eu-west-1a\"]");
  one(&o, ASG);
  EXPECT(o, GD_SAMPLE_MISMATCH, "group 'web' spans 1 AZ (eu-west-1a), needs 2");
  /* Every rule it breaks, in one finding. */
  world_set("auto_scaling_groups", "name", "web", "min", "1");
  world_set("auto_scaling_groups", "name", "web", "health_check_type",
            "\"EC2\"");
  one(&o, "{'type':'aws.posture.autoscaling_group','group':'web',"
          "'min_zones':1}");
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "MinSize 1, needs at least 2; health check type 'EC2', needs 'ELB' "
         "(instances the load balancer finds unhealthy are not replaced)");
  one(&o, "{'type':'aws.posture.autoscaling_group','group':'web',"
          "'min_zones':'1','min_size':1,'require_elb_health_check':false}");
  EXPECT(o, GD_SAMPLE_OK, "group 'web' spans 1 AZs (eu-west-1a), MinSize 1, "
                          "EC2 health checks");
  one(&o, "{'type':'aws.posture.autoscaling_group','group':'nope'}");
  EXPECT(o, GD_SAMPLE_MISMATCH, "auto scaling group 'nope' not found");
  gd_awsep_fail_next(ep, "autoscaling", "DescribeAutoScalingGroups", 1, 403,
                     "AccessDenied", NULL);
  one(&o, ASG);
  EXPECT(o, GD_SAMPLE_ERROR,
         "AccessDenied on autoscaling:DescribeAutoScalingGroups");
}

/* ------------------------------------------------------------------ */
/* aws.posture.target_zones */

#define TZ "{'type':'aws.posture.target_zones','target_group_arn':'" TG "'}"

static void test_target_zones(void) {
  NEED_EP();
  struct one o;
  one(&o, TZ);
  GD_ASSERT_STR(o.desc, "target group 'web': healthy targets in at least 2 "
                        "AZs");
  EXPECT(o, GD_SAMPLE_OK, "target group 'web': 2 healthy targets in 2 AZs "
                          "(eu-west-1a: 1, eu-west-1b: 1)");
  /* The instances' zones came from EC2, in one call. */
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "DescribeInstances"), 1);
  gd_awsep_set_target(ep, I2, "unhealthy");
  one(&o, TZ);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "target group 'web': healthy targets in 1 AZ (eu-west-1a: 1), needs "
         "2; 1 of 2 targets not healthy: " I2 " unhealthy");
  gd_awsep_set_target(ep, I1, "draining");
  one(&o, TZ);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "target group 'web' has no healthy target, needs healthy targets in "
         "2 AZs; 2 of 2 targets not healthy: " I1 " draining, " I2
         " unhealthy");
  /* IP targets carry their zone: no EC2 call. */
  gd_awsep_calls_clear(ep);
  one(&o, "{'type':'aws.posture.target_zones','target_group_arn':'" TG_IP
          "'}");
  EXPECT(o, GD_SAMPLE_OK, "target group 'api': 2 healthy targets in 2 AZs "
                          "(eu-west-1a: 1, eu-west-1c: 1)");
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", NULL), 0);
  one(&o, "{'type':'aws.posture.target_zones','target_group_arn':'" TG_IP
          "','min_zones':3}");
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "target group 'api': healthy targets in 2 AZs (eu-west-1a: 1, "
         "eu-west-1c: 1), needs 3");
  one(&o, "{'type':'aws.posture.target_zones','target_group_arn':"
          "'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/"
          "gone/0000000000000000'}");
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "target group 'gone' not found (arn:aws:elasticloadbalancing:"
         "eu-west-1:123456789012:targetgroup/gone/0000000000000000)");
}

static void test_target_zones_denied(void) {
  NEED_EP();
  struct one o;
  /* The second call of the chain refused: the permission it needs. */
  gd_awsep_fail_next(ep, "ec2", "DescribeInstances", 1, 403,
                     "UnauthorizedOperation", NULL);
  one(&o, TZ);
  EXPECT(o, GD_SAMPLE_ERROR, "UnauthorizedOperation on ec2:DescribeInstances");
  gd_awsep_fail_next(ep, "elasticloadbalancing", "DescribeTargetHealth", 1,
                     403, "AccessDenied", NULL);
  one(&o, TZ);
  EXPECT(o, GD_SAMPLE_ERROR,
         "AccessDenied on elasticloadbalancing:DescribeTargetHealth");
}

/* ------------------------------------------------------------------ */
/* aws.posture.rds_cluster */

#define RDS "{'type':'aws.posture.rds_cluster','cluster':'staging-aurora'}"

static void test_rds(void) {
  NEED_EP();
  struct one o;
  one(&o, RDS);
  CU_ASSERT_EQUAL(o.cls, GD_SAMPLE_OK);
  /* The restorable time is the endpoint's now-5min: 4 or 5 by the clock. */
  CU_ASSERT_PTR_NOT_NULL(strstr(o.detail, "cluster 'staging-aurora': writer "
                                          "staging-aurora-1 in eu-west-1a, "
                                          "readers staging-aurora-2 in "
                                          "eu-west-1b; backups 7 days; "
                                          "restorable to "));
  /* Twice a call: the cluster, then its instances by filter. */
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "DescribeDBClusters"), 1);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "DescribeDBInstances"), 1);

  world_set("db_instances", "id", "staging-aurora-2", "az", "\"eu-west-1a\"");
  one(&o, RDS);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "cluster 'staging-aurora': no available reader in another AZ than "
         "the writer staging-aurora-1 (eu-west-1a); readers: staging-aurora-2 "
         "in eu-west-1a");
  world_set("db_instances", "id", "staging-aurora-2", "az", "\"eu-west-1b\"");
  world_set("db_clusters", "id", "staging-aurora", "backup_retention_period",
            "1");
  world_set("db_clusters", "id", "staging-aurora", "deletion_protection",
            "false");
  one(&o, RDS);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "cluster 'staging-aurora': backups kept 1 day, needs at least 7; "
         "deletion protection is off");
  world_set("db_clusters", "id", "staging-aurora", "latest_restorable_time",
            "\"2020-01-01T00:00:00.000Z\"");
  one(&o, "{'type':'aws.posture.rds_cluster','cluster':'staging-aurora',"
          "'min_backup_retention_days':1,'require_deletion_protection':false}");
  CU_ASSERT_EQUAL(o.cls, GD_SAMPLE_MISMATCH);
  CU_ASSERT_PTR_NOT_NULL(strstr(o.detail, "cluster 'staging-aurora': latest "
                                          "restorable time 2020-01-01T00:00:"
                                          "00.000Z is "));
  CU_ASSERT_PTR_NOT_NULL(strstr(o.detail, " min old, needs at most 15"));

  one(&o, "{'type':'aws.posture.rds_cluster','cluster':'nope'}");
  EXPECT(o, GD_SAMPLE_MISMATCH, "cluster 'nope' not found");
  gd_awsep_fail_next(ep, "rds", "DescribeDBInstances", 1, 403, "AccessDenied",
                     NULL);
  one(&o, RDS);
  EXPECT(o, GD_SAMPLE_ERROR, "AccessDenied on rds:DescribeDBInstances");
}

static void test_rds_alone(void) {
  NEED_EP();
  cJSON *w = gd_awsep_lock(ep);
  cJSON *list = cJSON_GetObjectItem(w, "db_instances");
  cJSON_DeleteItemFromArray(list, 1);
  gd_awsep_unlock(ep);
  struct one o;
  one(&o, RDS);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "cluster 'staging-aurora': no reader: the writer staging-aurora-1 "
         "(eu-west-1a) is alone");
}

/* ------------------------------------------------------------------ */
/* aws.posture.alarms */

static void test_alarms(void) {
  NEED_EP();
  struct one o;
  one(&o, "{'type':'aws.posture.alarms','alarms':['web-5xx','db-cpu']}");
  GD_ASSERT_STR(o.desc, "cloudwatch alarms exist: 2 listed");
  EXPECT(o, GD_SAMPLE_OK, "all 2 alarms exist");
  one(&o, "{'type':'aws.posture.alarms','alarms':'web-5xx, db-cpu, "
          "queue-depth, db-lag'}");
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "missing alarms: queue-depth, db-lag (2 of 4 exist, needs 4)");
  one(&o, "{'type':'aws.posture.alarms','alarms':['web-5xx','x'],"
          "'min_count':1}");
  EXPECT(o, GD_SAMPLE_OK,
         "1 of 2 alarms exist (at least 1 needed); missing: x");
  one(&o, "{'type':'aws.posture.alarms','alarm_prefix':'web-',"
          "'min_count':2}");
  EXPECT(o, GD_SAMPLE_MISMATCH, "1 alarm named 'web-*', needs at least 2");
  gd_awsep_fail_next(ep, "monitoring", "DescribeAlarms", 1, 403,
                     "AccessDenied", NULL);
  one(&o, "{'type':'aws.posture.alarms','alarm_prefix':'web-'}");
  EXPECT(o, GD_SAMPLE_ERROR, "AccessDenied on cloudwatch:DescribeAlarms");
}

/* 230 alarms: three pages of 100, read to the end. */
static void test_alarms_pages(void) {
  NEED_EP();
  cJSON *w = gd_awsep_lock(ep);
  cJSON *list = cJSON_GetObjectItem(w, "alarms");
  for (int i = 0; i < 230; i++) {
    char name[32];
    snprintf(name, sizeof name, "bulk-%03d", i);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "name", name);
    cJSON_AddItemToArray(list, a);
  }
  gd_awsep_unlock(ep);
  struct one o;
  one(&o, "{'type':'aws.posture.alarms','alarm_prefix':'bulk-',"
          "'min_count':230}");
  EXPECT(o, GD_SAMPLE_OK, "230 alarms named 'bulk-*'");
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "monitoring", "DescribeAlarms"), 3);
}

/* ------------------------------------------------------------------ */
/* aws.security.open_security_groups */

#define OSG "{'type':'aws.security.open_security_groups'}"

static void test_open_sg(void) {
  NEED_EP();
  struct one o;
  one(&o, OSG);
  GD_ASSERT_STR(o.desc, "no security group open to 0.0.0.0/0 or ::/0 except "
                        "on ports 443, 80");
  EXPECT(o, GD_SAMPLE_OK, "3 security groups, none open to the internet "
                          "except on 443, 80");
  world_set("security_groups", "id", SG_WEB, "ingress",
            "[{\"protocol\": \"tcp\", \"from\": 443, \"cidrs\": "
            "[\"0.0.0.0/0\"]}, {\"protocol\": \"tcp\", \"from\": 22, "
            "\"cidrs\": [\"10.0.0.0/8\", \"0.0.0.0/0\"]}]");
  world_set("security_groups", "id", SG_APP, "ingress",
            "[{\"protocol\": \"-1\", \"ipv6_cidrs\": [\"::/0\"]}]");
  one(&o, OSG);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         SG_WEB " (web) allows tcp 22 from 0.0.0.0/0; " SG_APP " (app) allows "
         "all traffic from ::/0 (allowed from anywhere: 443, 80)");
  /* Only the listed groups; a range that goes past the allowed ports. */
  world_set("security_groups", "id", SG_WEB, "ingress",
            "[{\"protocol\": \"tcp\", \"from\": 80, \"to\": 443, \"cidrs\": "
            "[\"0.0.0.0/0\"]}]");
  one(&o, "{'type':'aws.security.open_security_groups','group_ids':['" SG_WEB
          "']}");
  EXPECT(o, GD_SAMPLE_MISMATCH,
         SG_WEB " (web) allows tcp 80-443 from 0.0.0.0/0 (allowed from "
         "anywhere: 443, 80)");
  one(&o, "{'type':'aws.security.open_security_groups','group_ids':['" SG_WEB
          "'],'allowed_ports':'80, 443'}");
  CU_ASSERT_EQUAL(o.cls, GD_SAMPLE_MISMATCH); /* 81-442 are not allowed */
}

static void test_open_sg_more(void) {
  NEED_EP();
  struct one o;
  /* Filters pass through as EC2's Filter.N: only the app group. */
  world_set("security_groups", "id", SG_WEB, "ingress",
            "[{\"protocol\": \"udp\", \"from\": 53, \"cidrs\": "
            "[\"0.0.0.0/0\"]}]");
  one(&o, "{'type':'aws.security.open_security_groups','filters':"
          "{'group-name':'app'}}");
  EXPECT(o, GD_SAMPLE_OK, "1 security group, none open to the internet "
                          "except on 443, 80");
  one(&o, "{'type':'aws.security.open_security_groups','allowed_ports':"
          "[443,80,53]}");
  EXPECT(o, GD_SAMPLE_OK, "3 security groups, none open to the internet "
                          "except on 443, 80, 53");
  one(&o, OSG);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         SG_WEB " (web) allows udp 53 from 0.0.0.0/0 (allowed from anywhere: "
         "443, 80)");
  one(&o, "{'type':'aws.security.open_security_groups','group_ids':"
          "['sg-00000000000000009']}");
  EXPECT(o, GD_SAMPLE_ERROR,
         "InvalidGroup.NotFound on ec2:DescribeSecurityGroups");
  gd_awsep_fail_next(ep, "ec2", "DescribeSecurityGroups", 1, 403,
                     "UnauthorizedOperation", NULL);
  one(&o, OSG);
  EXPECT(o, GD_SAMPLE_ERROR,
         "UnauthorizedOperation on ec2:DescribeSecurityGroups");
}

/* ------------------------------------------------------------------ */
/* aws.security.db_security_groups */

static void test_db_sg(void) {
  NEED_EP();
  struct one o;
  one(&o, "{'type':'aws.security.db_security_groups','cluster':"
          "'staging-aurora','allowed_cidrs':['10.0.0.0/8']}");
  GD_ASSERT_STR(o.desc, "aurora cluster 'staging-aurora': security groups "
                        "let in only security groups and 10.0.0.0/8");
  EXPECT(o, GD_SAMPLE_OK, "cluster 'staging-aurora': " SG_DB " let in "
                          "security groups and allowed_cidrs only");
  one(&o, "{'type':'aws.security.db_security_groups','cluster':"
          "'staging-aurora'}");
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "cluster 'staging-aurora': " SG_DB " allows tcp 5432 from "
         "10.0.0.0/16 (only security groups may be sources)");
  world_set("security_groups", "id", SG_DB, "ingress",
            "[{\"protocol\": \"tcp\", \"from\": 5432, \"to\": 5432, "
            "\"groups\": [\"" SG_APP "\"], \"cidrs\": [\"0.0.0.0/0\"]}]");
  one(&o, "{'type':'aws.security.db_security_groups','cluster':"
          "'staging-aurora','allowed_cidrs':'10.0.0.0/8'}");
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "cluster 'staging-aurora': " SG_DB " allows tcp 5432 from 0.0.0.0/0 "
         "(the whole internet) (only security groups and allowed_cidrs may "
         "be sources)");
  one(&o, "{'type':'aws.security.db_security_groups','cluster':'nope'}");
  EXPECT(o, GD_SAMPLE_MISMATCH, "cluster 'nope' not found");
  gd_awsep_fail_next(ep, "ec2", "DescribeSecurityGroups", 1, 403,
                     "UnauthorizedOperation", NULL);
  one(&o, "{'type':'aws.security.db_security_groups','cluster':"
          "'staging-aurora'}");
  EXPECT(o, GD_SAMPLE_ERROR,
         "UnauthorizedOperation on ec2:DescribeSecurityGroups");
  gd_awsep_fail_next(ep, "rds", "DescribeDBClusters", 1, 403, "AccessDenied",
                     NULL);
  one(&o, "{'type':'aws.security.db_security_groups','cluster':"
          "'staging-aurora'}");
  EXPECT(o, GD_SAMPLE_ERROR, "AccessDenied on rds:DescribeDBClusters");
}

/* ------------------------------------------------------------------ */
/* Load-time errors */

static const char *init_err(const char *json) {
  static char buf[2048];
  snprintf(buf, sizeof buf, "%s", json);
  for (char *p = buf; *p; p++)
    if (*p == '\'') *p = '"';
  return gd_proberun_init_error(buf);
}

static void test_init_errors(void) {
  GD_ASSERT_STR(init_err("{'type':'aws.posture.autoscaling_group',"
                         "'interval_ms':10,'timeout_ms':10}"),
                "probes.t.group: required key missing");
  GD_ASSERT_STR(init_err("{'type':'aws.posture.autoscaling_group','group':"
                         "'web','min_azs':2,'interval_ms':10,"
                         "'timeout_ms':10}"),
                "probes.t: unknown key 'min_azs'");
  GD_ASSERT_STR(init_err("{'type':'aws.posture.target_zones',"
                         "'target_group_arn':'web','interval_ms':10,"
                         "'timeout_ms':10}"),
                "probes.t.target_group_arn: want arn:aws:elasticloadbalancing:"
                "REGION:ACCOUNT:targetgroup/NAME/ID, got 'web'");
  GD_ASSERT_STR(init_err("{'type':'aws.posture.alarms','interval_ms':10,"
                         "'timeout_ms':10}"),
                "probes.t: give either 'alarms' (names) or 'alarm_prefix'");
  GD_ASSERT_STR(init_err("{'type':'aws.posture.alarms','alarms':['a'],"
                         "'min_count':2,'interval_ms':10,'timeout_ms':10}"),
                "probes.t.min_count: 2 is more than the 1 alarms listed");
  GD_ASSERT_STR(init_err("{'type':'aws.security.open_security_groups',"
                         "'allowed_ports':'80-443','interval_ms':10,"
                         "'timeout_ms':10}"),
                "probes.t.allowed_ports: '80-443' is not a port (0-65535)");
  GD_ASSERT_STR(init_err("{'type':'aws.security.db_security_groups',"
                         "'cluster':'c','allowed_cidrs':['0.0.0.0/0'],"
                         "'interval_ms':10,'timeout_ms':10}"),
                "probes.t.allowed_cidrs[0]: '0.0.0.0/0' is the whole "
                "internet");
  GD_ASSERT_STR(init_err("{'type':'aws.security.db_security_groups',"
                         "'cluster':'c','allowed_cidrs':['10.0.0.0'],"
                         "'interval_ms':10,'timeout_ms':10}"),
                "probes.t.allowed_cidrs[0]: '10.0.0.0' is not a CIDR "
                "(10.0.0.0/16, 2001:db8::/32) or a prefix list id");
  GD_ASSERT_STR(init_err("{'type':'aws.posture.sqs_dlq','interval_ms':10,"
                         "'timeout_ms':10}"),
                "probes.t.queue_url: required key missing");
}

/* ------------------------------------------------------------------ */
/* aws.posture.sqs_dlq against fauxqs */

static struct gd_fauxqs fq;

/* One SQS call (params: JSON with ' for "); the answer (caller frees) or
 * NULL. */
static cJSON *sqs(const char *op, const char *params_json) {
  char text[2048];
  snprintf(text, sizeof text, "%s", params_json);
  for (char *p = text; *p; p++)
    if (*p == '\'') *p = '"';
  return gd_fauxqs_sqs_text(op, text);
}

static void test_sqs_dlq(void) {
  if (gd_fauxqs_start(&fq, home)) GD_SKIP(fq.why);
  gd_fauxqs_setenv(&fq);
  char dlq[512], dlq_arn[512], main_q[512], main_arn[512], bare[512],
      bare_arn[512], json[1024];
  long tag = (long)getpid();
  char name[128];
  snprintf(name, sizeof name, "gd-posture-dlq-%ld", tag);
  gd_fauxqs_new_queue(name, dlq, sizeof dlq, dlq_arn, sizeof dlq_arn);
  snprintf(name, sizeof name, "gd-posture-main-%ld", tag);
  gd_fauxqs_new_queue(name, main_q, sizeof main_q, main_arn, sizeof main_arn);
  snprintf(name, sizeof name, "gd-posture-bare-%ld", tag);
  gd_fauxqs_new_queue(name, bare, sizeof bare, bare_arn, sizeof bare_arn);
  CU_ASSERT_EQUAL(gd_fauxqs_redrive(main_q, dlq_arn, 5), 0);

  struct one o;
  snprintf(json, sizeof json, "{'type':'aws.posture.sqs_dlq','queue_url':'%s'}",
           main_q);
  one(&o, json);
  char want[1024];
  snprintf(want, sizeof want, "dead-letter queue %s after 5 receives",
           dlq_arn);
  EXPECT(o, GD_SAMPLE_OK, want);

  snprintf(json, sizeof json, "{'type':'aws.posture.sqs_dlq','queue_url':'%s'}",
           bare);
  one(&o, json);
  snprintf(want, sizeof want,
           "queue %s has no dead-letter queue (no RedrivePolicy)", bare);
  EXPECT(o, GD_SAMPLE_MISMATCH, want);

  /* The dead-letter queue deleted after the policy was set. */
  snprintf(json, sizeof json, "{'QueueUrl':'%s'}", dlq);
  cJSON_Delete(sqs("DeleteQueue", json));
  snprintf(json, sizeof json, "{'type':'aws.posture.sqs_dlq','queue_url':'%s'}",
           main_q);
  one(&o, json);
  snprintf(want, sizeof want, "queue %s: its dead-letter queue %s does not "
           "exist", main_q, dlq_arn);
  EXPECT(o, GD_SAMPLE_MISMATCH, want);

  snprintf(json, sizeof json,
           "{'type':'aws.posture.sqs_dlq','queue_url':"
           "'http://127.0.0.1:%d/000000000000/gd-posture-none'}",
           fq.port);
  one(&o, json);
  snprintf(want, sizeof want,
           "queue http://127.0.0.1:%d/000000000000/gd-posture-none does not "
           "exist",
           fq.port);
  EXPECT(o, GD_SAMPLE_MISMATCH, want);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"IAM action names", test_action_names},
      {"list keys", test_list_keys},
      {"auto scaling group: zones, size, health checks", test_asg},
      {"target zones", test_target_zones},
      {"target zones: access denied on either call", test_target_zones_denied},
      {"rds cluster posture", test_rds},
      {"rds cluster: a writer alone", test_rds_alone},
      {"alarms exist", test_alarms},
      {"alarms: every page", test_alarms_pages},
      {"open security groups", test_open_sg},
      {"open security groups: filters, ports, errors", test_open_sg_more},
      {"database security groups", test_db_sg},
      {"init errors", test_init_errors},
      {"sqs dead-letter queue (fauxqs)", test_sqs_dlq},
      {NULL, NULL},
  };
  home = gd_test_tmpdir();
  gd_awsenv_begin(home);
  ep = gd_awsep_start(NULL);
  if (ep) gd_awsep_setenv(ep);
  int rc = gd_test_run("aws posture", tests);
  gd_fauxqs_stop(&fq);
  if (ep) gd_awsep_stop(ep);
  gd_awsenv_end();
  gd_test_rmrf(home);
  free(home);
  return rc;
}

/* End to end, the real gameday binary: `gameday check
 * scenarios/aws/readiness.json` (the file shipped for a real AWS staging
 * stack) against the test AWS endpoint (tests/awsep.h: EC2, Auto Scaling,
 * ELBv2, RDS, CloudWatch, IAM, S3, CloudTrail, Lambda) and fauxqs (SQS): a
 * compliant world is READY
 * (exit 0, every check passes); a world that breaks every rule is NOT
 * READY (exit 1) with each finding as the journal records it, the alarms
 * check a warning by its severity; an AccessDenied answer is "could not
 * check: AccessDenied on autoscaling:DescribeAutoScalingGroups", never a
 * pass. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "awsep.h"
#include "awsmeta.h"
#include "fauxqs.h"
#include "gameday/aws.h"
#include "gameday/curl.h"
#include "gdrun.h"
#include "httpd.h"
#include "testutil.h"

#define TG "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/" \
           "web/73e2d6bc24d8a067"
#define I1 "i-0aaaaaaaaaaaaaaa1"
#define I2 "i-0aaaaaaaaaaaaaaa2"
#define SG_WEB "sg-0000000000000000a"
#define SG_DB "sg-0000000000000000b"
#define SG_APP "sg-0000000000000000c"

/* Built for failure: the unit tests' world (test_aws_posture.c). */
static const char *const FIXTURE =
    "{\"instances\": ["
    "  {\"id\": \"" I1 "\", \"az\": \"eu-west-1a\", \"asg\": \"web\"},"
    "  {\"id\": \"" I2 "\", \"az\": \"eu-west-1b\", \"asg\": \"web\"}],"
    " \"auto_scaling_groups\": [{\"name\": \"web\", \"min\": 2, \"max\": 4,"
    "  \"desired\": 2, \"azs\": [\"eu-west-1a\", \"eu-west-1b\"],"
    "  \"health_check_type\": \"ELB\", \"target_groups\": [\"" TG "\"]}],"
    " \"target_groups\": [{\"arn\": \"" TG "\"}],"
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
    "    {\"protocol\": \"tcp\", \"from\": 8080, \"groups\": [\"" SG_WEB "\"]}]}],"
    " \"alarms\": [{\"name\": \"staging-web-5xx\"},"
    "  {\"name\": \"staging-aurora-writer-errors\"}],"
    /* The security checklist's world (awsep_iam.c, _s3, _cloudtrail,
     * _lambda): MFA, a strict policy, a fresh key in use, a blocked
     * bucket, a logging multi-region trail, a current runtime. */
    " \"iam\": {\"account_mfa_enabled\": true, \"password_policy\": {"
    "  \"MinimumPasswordLength\": 14, \"RequireUppercaseCharacters\": true,"
    "  \"RequireLowercaseCharacters\": true, \"RequireNumbers\": true,"
    "  \"RequireSymbols\": true},"
    "  \"users\": [{\"name\": \"deploy\", \"access_keys\": [{\"id\":"
    "   \"AKIAIOSFODNN7EXAMPLE\", \"created_days_ago\": 10,"
    "   \"last_used_days_ago\": 1}]}]},"
    " \"buckets\": [{\"name\": \"staging-assets\", \"public_access_block\":"
    "  {\"BlockPublicAcls\": true, \"IgnorePublicAcls\": true,"
    "   \"BlockPublicPolicy\": true, \"RestrictPublicBuckets\": true}}],"
    " \"trails\": [{\"name\": \"account-trail\", \"multi_region\": true,"
    "  \"logging\": true}],"
    " \"functions\": [{\"name\": \"thumbnail\", \"runtime\": "
    "\"python3.12\"}]}";

static struct {
  char *tmp;
  struct gd_awsep *ep;
  struct gd_fauxqs fq;
  int nrun;
  char dlq[512], dlq_arn[512], main_q[512], bare_q[512];
} S;

/* ------------------------------------------------------------------ */
/* fauxqs and its queues */

/* The orders queue with its dead-letter queue, and one without. */
static void queues(void) {
  if (S.main_q[0]) return;
  char name[128], arn[512];
  snprintf(name, sizeof name, "gd-ready-dlq-%d", (int)getpid());
  gd_fauxqs_new_queue(name, S.dlq, sizeof S.dlq, S.dlq_arn, sizeof S.dlq_arn);
  snprintf(name, sizeof name, "gd-ready-orders-%d", (int)getpid());
  gd_fauxqs_new_queue(name, S.main_q, sizeof S.main_q, arn, sizeof arn);
  snprintf(name, sizeof name, "gd-ready-bare-%d", (int)getpid());
  gd_fauxqs_new_queue(name, S.bare_q, sizeof S.bare_q, NULL, 0);
  gd_fauxqs_redrive(S.main_q, S.dlq_arn, 5);
}

/* ------------------------------------------------------------------ */

#define NEED_WORLD()                                                          \
  do {                                                                        \
    char why_[256];                                                           \
    if (!S.ep) GD_SKIP("the test AWS endpoint did not start");               \
    if (gd_fauxqs_start(&S.fq, S.tmp)) GD_SKIP(S.fq.why);                     \
    gd_fauxqs_setenv(&S.fq);                                                  \
    CU_ASSERT_EQUAL_FATAL(gd_awsep_load(S.ep, FIXTURE, why_, sizeof why_),   \
                          0);                                                 \
    queues();                                                                 \
  } while (0)

/* `gameday check scenarios/aws/readiness.json` with the world's names; the
 * queue is queue_url. */
static int check(struct gd_gdrun *r, const char *queue_url) {
  char json[4096], log[4096];
  int k = ++S.nrun;
  snprintf(json, sizeof json, "%s/check-%02d.json", S.tmp, k);
  snprintf(log, sizeof log, "%s/check-%02d.log", S.tmp, k);
  struct gd_gdrun_args a = {0};
  gd_gdrun_arg(&a, "check");
  gd_gdrun_arg(&a, "%s", gd_test_src("scenarios/aws/readiness.json"));
  gd_gdrun_var(&a, "region=%s", GD_AWSEP_REGION);
  gd_gdrun_var(&a, "asg=web");
  gd_gdrun_var(&a, "target_group_arn=%s", TG);
  gd_gdrun_var(&a, "cluster=staging-aurora");
  gd_gdrun_var(&a, "queue_url=%s", queue_url);
  gd_gdrun_var(&a, "alarms=staging-web-5xx, staging-aurora-writer-errors");
  gd_gdrun_var(&a, "db_allowed_cidrs=10.0.0.0/8");
  gd_gdrun_arg(&a, "--json");
  gd_gdrun_arg(&a, "%s", json);
  struct gd_gdrun_io io = {.out = log, .journal = json};
  int rc = gd_gdrun(r, a.v, &io, 60000);
  gd_gdrun_args_free(&a);
  return rc;
}

static const cJSON *row(const cJSON *j, const char *name) {
  return gd_jfind(j, "checks", "name", name);
}

#define ROW(j, name, result, message)                                        \
  do {                                                                        \
    const cJSON *x_ = row((j), (name));                                       \
    CU_ASSERT_PTR_NOT_NULL(x_);                                               \
    if (strcmp(gd_jstr(x_, "result"), (result)) ||                            \
        strcmp(gd_jstr(x_, "message"), (message)))                            \
      printf("\n    %s: got %s '%s', want %s '%s' ", (name),                  \
             gd_jstr(x_, "result"), gd_jstr(x_, "message"), (result),        \
             (message));                                                      \
    CU_ASSERT_STRING_EQUAL(gd_jstr(x_, "result"), (result));                  \
    CU_ASSERT_STRING_EQUAL(gd_jstr(x_, "message"), (message));                \
  } while (0)

static void test_ready(void) {
  NEED_WORLD();
  struct gd_gdrun r;
  int status = check(&r, S.main_q);
  if (status != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(status, 0);
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "\nREADY (13 passed, 0 failed, "
                                                "0 could not be checked, 0 "
                                                "warning(s))"));
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.journal);
  CU_ASSERT_TRUE(cJSON_IsTrue(gd_jget(r.journal, "ready")));
  ROW(r.journal, "web-asg-zones", "pass",
      "group 'web' spans 2 AZs (eu-west-1a, eu-west-1b), MinSize 2, ELB "
      "health checks");
  ROW(r.journal, "lb-target-zones", "pass",
      "target group 'web': 2 healthy targets in 2 AZs (eu-west-1a: 1, "
      "eu-west-1b: 1)");
  CU_ASSERT_STRING_EQUAL(gd_jstr(row(r.journal, "aurora-posture"), "result"),
                         "pass");
  char want[1024];
  snprintf(want, sizeof want, "dead-letter queue %s after 5 receives",
           S.dlq_arn);
  ROW(r.journal, "queue-dlq", "pass", want);
  ROW(r.journal, "alarms", "pass", "all 2 alarms exist");
  ROW(r.journal, "open-security-groups", "pass",
      "3 security groups, none open to the internet except on 443, 80");
  ROW(r.journal, "db-security-groups", "pass",
      "cluster 'staging-aurora': " SG_DB " let in security groups and "
      "allowed_cidrs only");
  static const char *const security[] = {"root-mfa",        "s3-public",
                                         "password-policy", "access-keys",
                                         "cloudtrail",      "lambda-runtimes"};
  for (size_t i = 0; i < sizeof security / sizeof security[0]; i++) {
    const char *res = gd_jstr(row(r.journal, security[i]), "result");
    if (strcmp(res, "pass"))
      printf("\n    %s: %s '%s' ", security[i], res,
             gd_jstr(row(r.journal, security[i]), "message"));
    CU_ASSERT_STRING_EQUAL(res, "pass");
  }
  /* Read-only: nothing the endpoint counts as a mutation. */
  CU_ASSERT_EQUAL(gd_awsep_mutations(S.ep), 0);
  gd_gdrun_free(&r);
}

/* Sets world[list][key == value].member to the JSON value. */
static void world_set(const char *list, const char *key, const char *value,
                      const char *member, const char *json) {
  cJSON *w = gd_awsep_lock(S.ep);
  cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(w, list)) {
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(it, key));
    if (!v || strcmp(v, value)) continue;
    cJSON *nv = cJSON_Parse(json);
    if (cJSON_GetObjectItem(it, member))
      cJSON_ReplaceItemInObject(it, member, nv);
    else
      cJSON_AddItemToObject(it, member, nv);
  }
  gd_awsep_unlock(S.ep);
}

static void test_not_ready(void) {
  NEED_WORLD();
  world_set("auto_scaling_groups", "name", "web", "azs", "[\"eu-west-1a\"]");
  world_set("auto_scaling_groups", "name", "web", "min", "1");
  world_set("auto_scaling_groups", "name", "web", "health_check_type",
            "\"EC2\"");
  world_set("instances", "id", I2, "az", "\"eu-west-1a\"");
  world_set("db_instances", "id", "staging-aurora-2", "az", "\"eu-west-1a\"");
  world_set("db_clusters", "id", "staging-aurora", "backup_retention_period",
            "1");
  world_set("db_clusters", "id", "staging-aurora", "deletion_protection",
            "false");
  world_set("alarms", "name", "staging-aurora-writer-errors", "name",
            "\"renamed\"");
  world_set("security_groups", "id", SG_WEB, "ingress",
            "[{\"protocol\": \"tcp\", \"from\": 443, \"cidrs\": "
            "[\"0.0.0.0/0\"]}, {\"protocol\": \"tcp\", \"from\": 22, "
            "\"cidrs\": [\"0.0.0.0/0\"]}]");
  world_set("security_groups", "id", SG_DB, "ingress",
            "[{\"protocol\": \"tcp\", \"from\": 5432, \"cidrs\": "
            "[\"0.0.0.0/0\", \"192.168.0.0/16\"]}]");
  /* And the security checklist's world, every item broken. */
  cJSON *w = gd_awsep_lock(S.ep);
  cJSON *iam = cJSON_GetObjectItem(w, "iam");
  cJSON_ReplaceItemInObject(iam, "account_mfa_enabled", cJSON_CreateFalse());
  cJSON_DeleteItemFromObject(iam, "password_policy");
  gd_awsep_unlock(S.ep);
  world_set("buckets", "name", "staging-assets", "public_access_block",
            "{\"BlockPublicAcls\": false}");
  world_set("buckets", "name", "staging-assets", "policy", "\"public\"");
  world_set("trails", "name", "account-trail", "logging", "false");
  world_set("functions", "name", "thumbnail", "runtime", "\"python3.7\"");
  w = gd_awsep_lock(S.ep);
  cJSON *key = cJSON_GetArrayItem(
      cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(iam, "users"),
                                             0),
                          "access_keys"),
      0);
  cJSON_ReplaceItemInObject(key, "created_days_ago", cJSON_CreateNumber(400));
  gd_awsep_unlock(S.ep);
  struct gd_gdrun r;
  int status = check(&r, S.bare_q);
  if (status != 1) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(status, 1);
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "\nNOT READY (0 passed, 12 "
                                                "failed, 0 could not be "
                                                "checked, 1 warning(s))"));
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.journal);
  CU_ASSERT_TRUE(cJSON_IsFalse(gd_jget(r.journal, "ready")));
  ROW(r.journal, "web-asg-zones", "fail",
      "group 'web' spans 1 AZ (eu-west-1a), needs 2; MinSize 1, needs at "
      "least 2; health check type 'EC2', needs 'ELB' (instances the load "
      "balancer finds unhealthy are not replaced)");
  ROW(r.journal, "lb-target-zones", "fail",
      "target group 'web': healthy targets in 1 AZ (eu-west-1a: 2), needs 2");
  ROW(r.journal, "aurora-posture", "fail",
      "cluster 'staging-aurora': no available reader in another AZ than the "
      "writer staging-aurora-1 (eu-west-1a); readers: staging-aurora-2 in "
      "eu-west-1a; backups kept 1 day, needs at least 7; deletion "
      "protection is off");
  char want[1024];
  snprintf(want, sizeof want,
           "queue %s has no dead-letter queue (no RedrivePolicy)", S.bare_q);
  ROW(r.journal, "queue-dlq", "fail", want);
  /* Severity warn: reported, and READY would still hold for it. */
  ROW(r.journal, "alarms", "warn",
      "missing alarm: staging-aurora-writer-errors (1 of 2 exist, needs 2)");
  ROW(r.journal, "open-security-groups", "fail",
      SG_WEB " (web) allows tcp 22 from 0.0.0.0/0; " SG_DB " (db) allows "
      "tcp 5432 from 0.0.0.0/0 (allowed from anywhere: 443, 80)");
  ROW(r.journal, "db-security-groups", "fail",
      "cluster 'staging-aurora': " SG_DB " allows tcp 5432 from 0.0.0.0/0 "
      "(the whole internet); " SG_DB " allows tcp 5432 from 192.168.0.0/16 "
      "(only security groups and allowed_cidrs may be sources)");
  /* The security checklist's own findings are test_aws_security's to
   * word; here: each is a finding, not a pass nor "could not check". */
  static const char *const security[] = {"root-mfa",        "s3-public",
                                         "password-policy", "access-keys",
                                         "cloudtrail",      "lambda-runtimes"};
  for (size_t i = 0; i < sizeof security / sizeof security[0]; i++) {
    const char *res = gd_jstr(row(r.journal, security[i]), "result");
    if (strcmp(res, "fail"))
      printf("\n    %s: %s '%s' ", security[i], res,
             gd_jstr(row(r.journal, security[i]), "message"));
    CU_ASSERT_STRING_EQUAL(res, "fail");
  }
  /* The fix is on the row. */
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(row(r.journal, "queue-dlq"),
                                        "remediation"),
                                "RedrivePolicy"));
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "fix: Create a dead-letter "
                                                "queue"));
  gd_gdrun_free(&r);
}

static void test_access_denied(void) {
  NEED_WORLD();
  gd_awsep_fail_next(S.ep, "autoscaling", "DescribeAutoScalingGroups", 1, 403,
                     "AccessDenied", NULL);
  gd_awsep_fail_next(S.ep, "ec2", "DescribeSecurityGroups", 1, 403,
                     "UnauthorizedOperation", NULL);
  struct gd_gdrun r;
  int status = check(&r, S.main_q);
  if (status != 1) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(status, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.journal);
  ROW(r.journal, "web-asg-zones", "error",
      "could not check: AccessDenied on "
      "autoscaling:DescribeAutoScalingGroups");
  /* Two checks call DescribeSecurityGroups; the one refused could not
   * check, the other passed: never both passing. */
  const char *a = gd_jstr(row(r.journal, "open-security-groups"), "result");
  const char *b = gd_jstr(row(r.journal, "db-security-groups"), "result");
  CU_ASSERT((!strcmp(a, "error")) + (!strcmp(b, "error")) == 1);
  const cJSON *denied = !strcmp(a, "error")
                            ? row(r.journal, "open-security-groups")
                            : row(r.journal, "db-security-groups");
  CU_ASSERT_STRING_EQUAL(gd_jstr(denied, "message"),
                         "could not check: UnauthorizedOperation on "
                         "ec2:DescribeSecurityGroups");
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "\nNOT READY (11 passed, 0 "
                                                "failed, 2 could not be "
                                                "checked, 0 warning(s))"));
  gd_gdrun_free(&r);
}

static void test_validate(void) {
  struct gd_gdrun r;
  char log[4096];
  snprintf(log, sizeof log, "%s/validate.log", S.tmp);
  char *args[] = {"validate",
                  (char *)gd_test_src("scenarios/aws/readiness.json"), NULL};
  int status = gd_gdrun(&r, args, &(struct gd_gdrun_io){.out = log}, 20000);
  if (status != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(status, 0);
  CU_ASSERT_PTR_NOT_NULL(r.out && strstr(r.out, "readiness file, 13 "
                                                "check(s)"));
  gd_gdrun_free(&r);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"readiness.json validates", test_validate},
      {"a stack built for failure: READY", test_ready},
      {"every rule broken: NOT READY with the findings", test_not_ready},
      {"access denied: could not check", test_access_denied},
      {NULL, NULL},
  };
  S.tmp = gd_test_tmpdir();
  gd_awsenv_begin(S.tmp);
  S.ep = gd_awsep_start(NULL);
  if (S.ep) gd_awsep_setenv(S.ep);
  int rc = gd_test_run("aws readiness", tests);
  gd_fauxqs_stop(&S.fq);
  if (S.ep) gd_awsep_stop(S.ep);
  gd_awsenv_end();
  gd_test_rmrf(S.tmp);
  free(S.tmp);
  return rc;
}

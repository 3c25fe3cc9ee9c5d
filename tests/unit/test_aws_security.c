/* The security check kinds (aws.security.root_mfa, password_policy,
 * access_keys, s3_public, cloudtrail, lambda_runtimes) through the real
 * scheduler, one sample each, against the test AWS endpoint (tests/awsep.h:
 * IAM, S3, CloudTrail and Lambda with their own protocols, every signature
 * checked): each passes on a compliant account and reports the exact
 * finding on a non-compliant one; a denied call, first or later in the
 * chain, is class "error" with "CODE on service:Operation" (what `gameday
 * check` shows as "could not check"). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "awsep.h"
#include "awsmeta.h"
#include "gameday/probe.h"
#include "proberun.h"
#include "testutil.h"

static struct gd_awsep *ep;
static char *home;
static char runtimes_file[512];

#define K_ALICE "AKIAALICE00000000001"
#define K_BOB "AKIABOB0000000000002"
#define K_CAROL "AKIACAROL00000000003"
#define K_DAVE "AKIADAVE000000000004"

/* A careful account: root MFA, a strict password policy, keys young and in
 * use (one old key inactive), buckets blocked or private (one in
 * us-east-1: the client follows S3's redirect), a logging multi-region
 * trail, functions on current runtimes. IAM and Lambda answer in pages of
 * one and two, so every check follows the pages. */
static const char *const FIXTURE =
    "{'iam': {'account_mfa_enabled': true, 'page_size': 1,"
    "  'password_policy': {'MinimumPasswordLength': 16,"
    "    'RequireSymbols': true, 'RequireNumbers': true,"
    "    'RequireUppercaseCharacters': true,"
    "    'RequireLowercaseCharacters': true, 'MaxPasswordAge': 90,"
    "    'PasswordReusePrevention': 24},"
    "  'users': ["
    "   {'name': 'alice', 'access_keys': [{'id': '" K_ALICE "',"
    "     'created_days_ago': 30, 'last_used_days_ago': 1}]},"
    "   {'name': 'bob', 'access_keys': [{'id': '" K_BOB "',"
    "     'status': 'Inactive', 'created_days_ago': 400}]},"
    "   {'name': 'ci'}]},"
    " 'buckets': ["
    "  {'name': 'assets', 'public_access_block': {'BlockPublicAcls': true,"
    "   'IgnorePublicAcls': true, 'BlockPublicPolicy': true,"
    "   'RestrictPublicBuckets': true}, 'policy': 'public'},"
    "  {'name': 'site', 'policy': 'private'},"
    "  {'name': 'logs'},"
    "  {'name': 'far-away', 'region': 'us-east-1',"
    "   'public_access_block': {'BlockPublicAcls': true,"
    "   'IgnorePublicAcls': true, 'BlockPublicPolicy': false,"
    "   'RestrictPublicBuckets': true}, 'policy': 'public',"
    "   'acl_public': 'READ'}],"
    " 'trails': [{'name': 'regional', 'logging': true},"
    "  {'name': 'main', 'multi_region': true, 'home_region': 'us-east-1',"
    "   'logging': true}],"
    " 'lambda_page_size': 2,"
    " 'functions': [{'name': 'api', 'runtime': 'later.rt'},"
    "  {'name': 'img', 'package_type': 'Image'},"
    "  {'name': 'cron', 'runtime': 'unknown.rt'}]}";

/* ' for ", in place of a copy. */
static char *dq(const char *s) {
  char *t = strdup(s);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  for (char *p = t; *p; p++)
    if (*p == '\'') *p = '"';
  return t;
}

#define NEED_EP()                                                             \
  do {                                                                        \
    char why_[256];                                                           \
    if (!ep) GD_SKIP("the test AWS endpoint did not start");                  \
    char *f_ = dq(FIXTURE);                                                   \
    int rc_ = gd_awsep_load(ep, f_, why_, sizeof why_);                       \
    free(f_);                                                                 \
    if (rc_) printf("\n    fixture: %s ", why_);                              \
    CU_ASSERT_EQUAL_FATAL(rc_, 0);                                            \
    gd_awsep_calls_clear(ep);                                                 \
  } while (0)

/* world[path] = JSON (' for "): path is "iam.password_policy" or
 * "buckets[site].policy" (the item whose name is site), "functions". */
static void world_set(const char *path, const char *json) {
  cJSON *w = gd_awsep_lock(ep);
  char p[256], *dot, *br;
  snprintf(p, sizeof p, "%s", path);
  cJSON *at = w;
  char *key = p;
  for (;;) {
    dot = strchr(key, '.');
    if (dot) *dot = 0;
    br = strchr(key, '[');
    if (br) {
      *br = 0;
      char *name = br + 1;
      name[strcspn(name, "]")] = 0;
      cJSON *list = cJSON_GetObjectItem(at, key), *it, *f = NULL;
      cJSON_ArrayForEach(it, list) {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
        if (n && strcmp(n, name) == 0) f = it;
      }
      at = f;
    } else if (dot) {
      at = cJSON_GetObjectItem(at, key);
    }
    CU_ASSERT_PTR_NOT_NULL(at);
    if (!at || !dot) break;
    key = dot + 1;
  }
  if (at && !br) {
    char *t = dq(json);
    cJSON *nv = cJSON_Parse(t);
    free(t);
    CU_ASSERT_PTR_NOT_NULL(nv);
    if (cJSON_GetObjectItem(at, key))
      cJSON_ReplaceItemInObject(at, key, nv);
    else
      cJSON_AddItemToObject(at, key, nv);
  }
  gd_awsep_unlock(ep);
}

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
  /* One reading, as `gameday check` takes it (its defaults). */
  cJSON *spec = cJSON_Parse(buf);
  CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
  if (!cJSON_GetObjectItem(spec, "interval_ms"))
    cJSON_AddNumberToObject(spec, "interval_ms", 1000);
  if (!cJSON_GetObjectItem(spec, "timeout_ms"))
    cJSON_AddNumberToObject(spec, "timeout_ms", 4000);
  struct gd_proberun r;
  gd_proberun_spec(spec, 1, 5000, &r, o->desc, sizeof o->desc);
  cJSON_Delete(spec);
  CU_ASSERT_EQUAL_FATAL(r.n, 1);
  o->cls = r.cls[0];
  snprintf(o->detail, sizeof o->detail, "%s", r.detail[0]);
}

#define EXPECT(o, c, d)                                                       \
  do {                                                                        \
    if ((o).cls != (c))                                                       \
      printf("\n    class %s, want %s ", gd_sample_class_name((o).cls),      \
             gd_sample_class_name(c));                                        \
    CU_ASSERT_EQUAL((o).cls, (c));                                            \
    GD_ASSERT_STR((o).detail, (d));                                           \
  } while (0)

/* ------------------------------------------------------------------ */

#define MFA "{'type':'aws.security.root_mfa'}"

static void test_root_mfa(void) {
  NEED_EP();
  struct one o;
  one(&o, MFA);
  EXPECT(o, GD_SAMPLE_OK, "root user has MFA enabled");
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(ep), 0);
  world_set("iam.account_mfa_enabled", "false");
  one(&o, MFA);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "root user has no MFA device (AccountMFAEnabled 0)");
  gd_awsep_fail_next(ep, "iam", "GetAccountSummary", 1, 403, "AccessDenied",
                     NULL);
  one(&o, MFA);
  EXPECT(o, GD_SAMPLE_ERROR, "AccessDenied on iam:GetAccountSummary");
}

#define PWP "{'type':'aws.security.password_policy'}"

static void test_password_policy(void) {
  NEED_EP();
  struct one o;
  one(&o, PWP);
  EXPECT(o, GD_SAMPLE_OK,
         "password policy: 16+ characters, as strict as asked");
  one(&o, "{'type':'aws.security.password_policy','max_age_days':60,"
          "'reuse_prevention':24}");
  EXPECT(o, GD_SAMPLE_MISMATCH, "password policy: expiry 90 days > 60");
  /* Weak on every count. */
  world_set("iam.password_policy",
            "{'MinimumPasswordLength': 8, 'RequireNumbers': true,"
            " 'RequireUppercaseCharacters': true,"
            " 'PasswordReusePrevention': 5}");
  one(&o, PWP);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "password policy: length 8 < 14; symbols, lowercase not required");
  one(&o, "{'type':'aws.security.password_policy','min_length':8,"
          "'require_symbols':false,'require_lowercase':false,"
          "'max_age_days':90,'reuse_prevention':24}");
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "password policy: no expiry (needs <= 90 days); reuse prevention "
         "5 < 24");
  /* None at all: NoSuchEntity is the finding, not "could not check". */
  world_set("iam.password_policy", "null");
  one(&o, PWP);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "no account password policy (IAM's default: 8 characters, no "
         "character classes), needs 14 characters");
  gd_awsep_fail_next(ep, "iam", "GetAccountPasswordPolicy", 1, 403,
                     "AccessDenied", NULL);
  one(&o, PWP);
  EXPECT(o, GD_SAMPLE_ERROR, "AccessDenied on iam:GetAccountPasswordPolicy");
}

#define AKC "{'type':'aws.security.access_keys'}"

static void test_access_keys(void) {
  NEED_EP();
  struct one o;
  one(&o, AKC);
  EXPECT(o, GD_SAMPLE_OK,
         "1 active access key, none older than 90d or unused 90d");
  /* Every user's keys, page by page (pages of one user). */
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "iam", "ListUsers"), 3);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "iam", "ListAccessKeys"), 3);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "iam", "GetAccessKeyLastUsed"), 1);
  world_set("iam.users",
            "[{'name': 'alice', 'access_keys': [{'id': '" K_ALICE "',"
            "   'created_days_ago': 120, 'last_used_days_ago': 1}]},"
            " {'name': 'bob', 'access_keys': [{'id': '" K_BOB "',"
            "   'created_days_ago': 100}]},"
            " {'name': 'carol', 'access_keys': [{'id': '" K_CAROL "',"
            "   'created_days_ago': 200, 'last_used_days_ago': 100}]},"
            " {'name': 'dave', 'access_keys': [{'id': '" K_DAVE "',"
            "   'created_days_ago': 5}]}]");
  one(&o, AKC);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "3 stale access keys (max 90d old, 90d unused): alice " K_ALICE
         " 120d old; bob " K_BOB " 100d old, never used (+1 more)");
  /* Looser limits: carol's key is only unused, bob's only never used. */
  one(&o, "{'type':'aws.security.access_keys','max_age_days':365,"
          "'max_unused_days':30}");
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "2 stale access keys (max 365d old, 30d unused): bob " K_BOB
         " never used in 100d; carol " K_CAROL " unused 100d");
  /* Denied on a later call of the chain. */
  gd_awsep_fail_next(ep, "iam", "GetAccessKeyLastUsed", 1, 403,
                     "AccessDenied", NULL);
  one(&o, AKC);
  EXPECT(o, GD_SAMPLE_ERROR, "AccessDenied on iam:GetAccessKeyLastUsed");
  gd_awsep_fail_next(ep, "iam", "ListUsers", 1, 403, "AccessDenied", NULL);
  one(&o, AKC);
  EXPECT(o, GD_SAMPLE_ERROR, "AccessDenied on iam:ListUsers");
}

#define S3P "{'type':'aws.security.s3_public'}"

static void test_s3_public(void) {
  NEED_EP();
  struct one o;
  one(&o, S3P);
  EXPECT(o, GD_SAMPLE_OK, "4 buckets, none public");
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(ep), 0);
  /* far-away is in us-east-1: S3's redirect, then the answer there. */
  cJSON *log = gd_awsep_calls(ep), *c;
  int redirects = 0;
  cJSON_ArrayForEach(c, log) {
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItem(c, "code"));
    if (code && strcmp(code, "PermanentRedirect") == 0) redirects++;
  }
  cJSON_Delete(log);
  CU_ASSERT_EQUAL(redirects, 2);
  /* Listed in pages of three: the continuation token is followed. */
  world_set("s3_page_size", "3");
  gd_awsep_calls_clear(ep);
  one(&o, S3P);
  EXPECT(o, GD_SAMPLE_OK, "4 buckets, none public");
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "s3", "ListBuckets"), 2);
  /* A public policy without RestrictPublicBuckets; a public ACL that
   * nothing ignores. */
  world_set("buckets[site].policy", "'public'");
  world_set("buckets[logs].acl_public", "'READ'");
  one(&o, S3P);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "2 of 4 buckets may be public: site (policy), logs (acl)");
  world_set("buckets[logs].policy", "'public'");
  gd_awsep_calls_clear(ep);
  one(&o, "{'type':'aws.security.s3_public','buckets':'logs, assets'}");
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "1 of 2 buckets may be public: logs (policy+acl)");
  /* Named buckets: no listing. */
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "s3", "ListBuckets"), 0);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "s3", "GetPublicAccessBlock"), 2);
  one(&o, "{'type':'aws.security.s3_public','buckets':['assets','nope']}");
  EXPECT(o, GD_SAMPLE_MISMATCH, "bucket not found: nope");
  gd_awsep_fail_next(ep, "s3", "GetBucketPolicyStatus", 1, 403,
                     "AccessDenied", "Access Denied");
  one(&o, S3P);
  EXPECT(o, GD_SAMPLE_ERROR, "AccessDenied on s3:GetBucketPolicyStatus");
  gd_awsep_fail_next(ep, "s3", "ListBuckets", 1, 403, "AccessDenied",
                     "Access Denied");
  one(&o, S3P);
  EXPECT(o, GD_SAMPLE_ERROR, "AccessDenied on s3:ListAllMyBuckets");
}

#define CTL "{'type':'aws.security.cloudtrail'}"

static void test_cloudtrail(void) {
  NEED_EP();
  struct one o;
  one(&o, CTL);
  EXPECT(o, GD_SAMPLE_OK,
         "trail 'main' (multi-region, home us-east-1) is logging");
  world_set("trails[main].logging", "false");
  one(&o, CTL);
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "no multi-region trail is logging: regional (single-region), main "
         "(not logging)");
  world_set("trails", "[]");
  one(&o, CTL);
  EXPECT(o, GD_SAMPLE_MISMATCH, "no cloudtrail trail");
  gd_awsep_fail_next(ep, "cloudtrail", "DescribeTrails", 1, 400,
                     "AccessDeniedException", NULL);
  one(&o, CTL);
  EXPECT(o, GD_SAMPLE_ERROR,
         "AccessDeniedException on cloudtrail:DescribeTrails");
}

/* ------------------------------------------------------------------ */
/* aws.security.lambda_runtimes, with a runtimes file dated around today */

static void day_str(int offset_days, char out[16]) {
  time_t t = time(NULL) + (time_t)offset_days * 86400;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 16, "%Y-%m-%d", &tm);
}

static char LRT[700];

static void test_lambda_runtimes(void) {
  NEED_EP();
  char old[16], soon[16];
  day_str(-10, old);
  day_str(30, soon);
  struct one o;
  one(&o, LRT);
  EXPECT(o, GD_SAMPLE_OK, "3 functions, none on a deprecated runtime");
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "lambda", "ListFunctions"), 2);
  world_set("functions",
            "[{'name': 'a', 'runtime': 'old.rt'},"
            " {'name': 'b', 'runtime': 'soon.rt'},"
            " {'name': 'c', 'package_type': 'Image'},"
            " {'name': 'd', 'runtime': 'later.rt'},"
            " {'name': 'e', 'runtime': 'old.rt'}]");
  one(&o, LRT);
  char want[200];
  snprintf(want, sizeof want,
           "2 of 5 functions on deprecated runtimes: a (old.rt since %s), e "
           "(old.rt since %s); 1 more within 90d",
           old, old);
  EXPECT(o, GD_SAMPLE_MISMATCH, want);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "lambda", "ListFunctions"), 2 + 3);
  /* Only one close to its date: a pass that says so. */
  world_set("functions", "[{'name': 'b', 'runtime': 'soon.rt'},"
                         " {'name': 'd', 'runtime': 'later.rt'}]");
  one(&o, LRT);
  snprintf(want, sizeof want,
           "2 functions; runtime deprecated within 90d: b (soon.rt on %s)",
           soon);
  EXPECT(o, GD_SAMPLE_OK, want);
  char spec[800];
  snprintf(spec, sizeof spec,
           "{'type':'aws.security.lambda_runtimes','warn_days':7,"
           "'runtimes_file':'%s'}",
           runtimes_file);
  one(&o, spec);
  EXPECT(o, GD_SAMPLE_OK, "2 functions, none on a deprecated runtime");
  gd_awsep_fail_next(ep, "lambda", "ListFunctions", 1, 403,
                     "AccessDeniedException", NULL);
  one(&o, LRT);
  EXPECT(o, GD_SAMPLE_ERROR, "AccessDeniedException on lambda:ListFunctions");
}

/* The repository's table, found through GAMEDAY_DATA_DIR: python3.8 and
 * go1.x are long deprecated whatever day the test runs. */
static void test_lambda_runtimes_repo_data(void) {
  NEED_EP();
  const char *src = getenv("GD_SOURCE_DIR");
  if (!src) GD_SKIP("GD_SOURCE_DIR is not set");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/data", src);
  setenv("GAMEDAY_DATA_DIR", dir, 1);
  world_set("functions", "[{'name': 'legacy', 'runtime': 'python3.8'},"
                         " {'name': 'old-go', 'runtime': 'go1.x'}]");
  struct one o;
  one(&o, "{'type':'aws.security.lambda_runtimes'}");
  unsetenv("GAMEDAY_DATA_DIR");
  EXPECT(o, GD_SAMPLE_MISMATCH,
         "2 of 2 functions on deprecated runtimes: legacy (python3.8 since "
         "2024-10-14), old-go (go1.x since 2024-01-08)");
  CU_ASSERT_PTR_NOT_NULL(strstr(o.desc, "/data/lambda-deprecated-runtimes"));
}

static void test_init_errors(void) {
  GD_ASSERT_STR(gd_proberun_init_error(
                    "{\"type\":\"aws.security.password_policy\","
                    "\"interval_ms\":1000,\"timeout_ms\":1000,"
                    "\"min_length\":3}"),
                "probes.t.min_length: must be at least 6, got 3");
  GD_ASSERT_STR(gd_proberun_init_error("{\"type\":\"aws.security.root_mfa\","
                                       "\"region\":\"eu-west-1\"}"),
                "probes.t: unknown key 'region'");
  GD_ASSERT_STR(gd_proberun_init_error("{\"type\":\"aws.security.s3_public\","
                                       "\"interval_ms\":1000,"
                                       "\"timeout_ms\":1000,"
                                       "\"buckets\":[]}"),
                "probes.t.buckets: must not be empty (leave it out for every "
                "bucket)");
  char bad[600], spec[800];
  snprintf(bad, sizeof bad, "%s/bad-runtimes.json", home);
  FILE *f = fopen(bad, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs("{\"runtimes\": {\"x1\": \"2024-13-01\"}}", f);
  fclose(f);
  snprintf(spec, sizeof spec,
           "{\"type\":\"aws.security.lambda_runtimes\","
           "\"interval_ms\":1000,\"timeout_ms\":1000,"
           "\"runtimes_file\":\"%s\"}",
           bad);
  char want[900];
  snprintf(want, sizeof want,
           "probes.t.runtimes_file: '%s': runtimes.x1: expected a date "
           "YYYY-MM-DD",
           bad);
  GD_ASSERT_STR(gd_proberun_init_error(spec), want);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"root user MFA", test_root_mfa},
      {"password policy", test_password_policy},
      {"access keys: age, last use, every page", test_access_keys},
      {"s3 buckets: block, policy, acl, other region", test_s3_public},
      {"cloudtrail: a multi-region trail logging", test_cloudtrail},
      {"lambda runtimes: deprecated, soon, pages", test_lambda_runtimes},
      {"lambda runtimes: the repository's table",
       test_lambda_runtimes_repo_data},
      {"init errors", test_init_errors},
      {NULL, NULL},
  };
  home = gd_test_tmpdir();
  /* Runtime dates around today, so the test means the same every day. */
  char old[16], soon[16], later[16];
  day_str(-10, old);
  day_str(30, soon);
  day_str(400, later);
  snprintf(runtimes_file, sizeof runtimes_file, "%s/runtimes.json", home);
  FILE *f = fopen(runtimes_file, "w");
  if (f) {
    fprintf(f,
            "{\"runtimes\": {\"old.rt\": \"%s\", \"soon.rt\": \"%s\", "
            "\"later.rt\": \"%s\"}}",
            old, soon, later);
    fclose(f);
  }
  snprintf(LRT, sizeof LRT,
           "{'type':'aws.security.lambda_runtimes','runtimes_file':'%s'}",
           runtimes_file);
  gd_awsenv_begin(home);
  ep = gd_awsep_start(NULL);
  if (ep) gd_awsep_setenv(ep);
  int rc = gd_test_run("aws security", tests);
  if (ep) gd_awsep_stop(ep);
  gd_awsenv_end();
  gd_test_rmrf(home);
  free(home);
  return rc;
}

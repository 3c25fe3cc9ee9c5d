/* The AWS client's other protocols against the test AWS endpoint (which
 * recomputes every SigV4 signature, S3's with S3's rules): REST-XML (S3:
 * path-style behind the endpoint override, sub-resources, S3's error
 * shape, the redirect to a bucket's region, a path signed as sent),
 * REST-JSON (Lambda: Marker paging, errors named by x-amzn-ErrorType, a
 * path encoded twice when signed), JSON 1.1 (CloudTrail) and IAM's global
 * endpoint (signed for us-east-1 whatever the region). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awsep.h"
#include "awsmeta.h"
#include "gameday/aws.h"
#include "gameday/curl.h"
#include "proberun.h"
#include "testutil.h"

static struct gd_awsep *ep;
static char *home;

static const char fixture[] =
    "{\"buckets\": ["
    "  {\"name\": \"assets\", \"public_access_block\": {\"BlockPublicAcls\": "
    "true, \"IgnorePublicAcls\": true, \"BlockPublicPolicy\": true, "
    "\"RestrictPublicBuckets\": false}, \"policy\": \"public\"},"
    "  {\"name\": \"logs\"},"
    "  {\"name\": \"far-away\", \"region\": \"us-east-1\", "
    "\"policy\": \"private\"}],"
    " \"lambda_page_size\": 2,"
    " \"functions\": [{\"name\": \"a\", \"runtime\": \"python3.8\"},"
    "   {\"name\": \"b\", \"runtime\": \"nodejs20.x\"},"
    "   {\"name\": \"c\", \"package_type\": \"Image\"},"
    "   {\"name\": \"d\", \"runtime\": \"java21\"},"
    "   {\"name\": \"e\", \"runtime\": \"go1.x\"}],"
    " \"trails\": [{\"name\": \"main\", \"multi_region\": true, "
    "\"home_region\": \"us-east-1\", \"logging\": true}],"
    " \"iam\": {\"account_mfa_enabled\": true}}";

#define NEED_EP()                                                           \
  do {                                                                      \
    if (!ep) GD_SKIP("the test AWS endpoint did not start");               \
    char e_[256] = "";                                                      \
    int rc_ = gd_awsep_load(ep, fixture, e_, sizeof e_);                    \
    if (rc_) printf("\n    fixture: %s ", e_);                              \
    CU_ASSERT_EQUAL_FATAL(rc_, 0);                                          \
    gd_awsep_calls_clear(ep);                                               \
  } while (0)

/* One call, run to its end on a fresh loop. */
struct got {
  int rc, calls;
  long status;
  int attempts;
  char code[128], msg[GD_ERROR_MAX], text[256];
  cJSON *json;   /* taken from the result */
  xmlDoc *xml;   /* taken */
  int has_err;
};

static void got_cb(struct gd_aws_result *res, const struct gd_error *e,
                   void *arg) {
  struct got *g = arg;
  g->calls++;
  g->status = res->status;
  g->attempts = res->attempts;
  snprintf(g->code, sizeof g->code, "%s", res->aws_code);
  if (e) {
    g->has_err = 1;
    snprintf(g->msg, sizeof g->msg, "%s", e->msg);
  }
  g->json = res->json;
  res->json = NULL;
  g->xml = res->xml;
  res->xml = NULL;
}

static void closed_cb(void *arg) { (*(int *)arg)++; }

static void call(const char *service, const char *op, const char *params,
                 struct got *g) {
  memset(g, 0, sizeof *g);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct gd_error err = {0};
  struct gd_curl *curl;
  struct gd_aws *aws;
  struct gd_aws_options o = {.max_attempts = 3, .base_delay_ms = 5};
  CU_ASSERT_EQUAL_FATAL(gd_curl_new(&loop, &curl, &err), 0);
  CU_ASSERT_EQUAL_FATAL(gd_aws_new(&loop, curl, &o, &aws, &err), 0);
  cJSON *p = params ? cJSON_Parse(params) : NULL;
  CU_ASSERT_FATAL(!params || p);
  g->rc = gd_aws_call(aws, service, op, p, got_cb, g, NULL, &err);
  cJSON_Delete(p);
  if (g->rc) snprintf(g->msg, sizeof g->msg, "%s", err.msg);
  while (!g->rc && !g->calls) uv_run(&loop, UV_RUN_ONCE);
  int closed = 0;
  gd_aws_close(aws, closed_cb, &closed);
  gd_curl_close(curl, closed_cb, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(closed, 2);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  if (!g->rc) CU_ASSERT_EQUAL(g->calls, 1);
}

static void got_free(struct got *g) {
  cJSON_Delete(g->json);
  if (g->xml) xmlFreeDoc(g->xml);
  g->json = NULL;
  g->xml = NULL;
}

/* The wire parameters of the last logged call (deleted with the log). */
static cJSON *last_call(cJSON **log) {
  *log = gd_awsep_calls(ep);
  int n = cJSON_GetArraySize(*log);
  return n ? cJSON_GetArrayItem(*log, n - 1) : NULL;
}

static const char *s(const cJSON *o, const char *k) {
  const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
  return v ? v : "";
}

/* ------------------------------------------------------------------ */

static void test_s3_list_buckets(void) {
  NEED_EP();
  struct got g;
  char buf[128];
  call("s3", "ListBuckets", NULL, &g);
  CU_ASSERT_EQUAL(g.rc, 0);
  CU_ASSERT_FALSE(g.has_err);
  if (g.has_err) printf("\n    %s ", g.msg);
  CU_ASSERT_EQUAL(g.status, 200);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g.xml);
  xmlNode *b = gd_aws_xml_find(xmlDocGetRootElement(g.xml), "Buckets/Bucket");
  GD_ASSERT_STR(gd_aws_xml_text(b, "Name", buf, sizeof buf), "assets");
  b = gd_aws_xml_next(b);
  GD_ASSERT_STR(gd_aws_xml_text(b, "Name", buf, sizeof buf), "logs");
  b = gd_aws_xml_next(b);
  GD_ASSERT_STR(gd_aws_xml_text(b, "BucketRegion", buf, sizeof buf),
                "us-east-1");
  CU_ASSERT_PTR_NULL(gd_aws_xml_next(b));
  got_free(&g);
  cJSON *log, *c = last_call(&log);
  GD_ASSERT_STR(s(c, "action"), "ListBuckets");
  cJSON_Delete(log);
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(ep), 0);
}

static void test_s3_subresources_and_errors(void) {
  NEED_EP();
  struct got g;
  char buf[64];
  unsigned bad = gd_awsep_bad_signatures(ep);
  call("s3", "GetPublicAccessBlock",
       "{\"_bucket\": \"assets\", \"_query\": {\"publicAccessBlock\": \"\"}}",
       &g);
  CU_ASSERT_FALSE(g.has_err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g.xml);
  xmlNode *root = xmlDocGetRootElement(g.xml);
  GD_ASSERT_STR((const char *)root->name, "PublicAccessBlockConfiguration");
  GD_ASSERT_STR(gd_aws_xml_text(root, "BlockPublicAcls", buf, sizeof buf),
                "true");
  GD_ASSERT_STR(gd_aws_xml_text(root, "RestrictPublicBuckets", buf,
                                sizeof buf),
                "false");
  got_free(&g);
  cJSON *log, *c = last_call(&log);
  GD_ASSERT_STR(s(c, "action"), "GetPublicAccessBlock");
  /* path-style behind the override: the bucket is the first segment */
  GD_ASSERT_STR(s(cJSON_GetObjectItem(c, "params"), "_bucket"), "assets");
  GD_ASSERT_STR(s(cJSON_GetObjectItem(c, "params"), "_path"), "/");
  cJSON_Delete(log);

  /* S3's error shape: code and message read, not retried. */
  call("s3", "GetPublicAccessBlock",
       "{\"_bucket\": \"logs\", \"_query\": {\"publicAccessBlock\": \"\"}}",
       &g);
  CU_ASSERT_TRUE(g.has_err);
  CU_ASSERT_EQUAL(g.status, 404);
  CU_ASSERT_EQUAL(g.attempts, 1);
  GD_ASSERT_STR(g.code, "NoSuchPublicAccessBlockConfiguration");
  GD_ASSERT_STR(g.msg,
                "s3 GetPublicAccessBlock: "
                "NoSuchPublicAccessBlockConfiguration: The public access "
                "block configuration was not found");
  got_free(&g);
  call("s3", "GetBucketPolicyStatus",
       "{\"_bucket\": \"logs\", \"_query\": {\"policyStatus\": \"\"}}", &g);
  GD_ASSERT_STR(g.code, "NoSuchBucketPolicy");
  got_free(&g);
  call("s3", "GetBucketPolicyStatus",
       "{\"_bucket\": \"nosuch\", \"_query\": {\"policyStatus\": \"\"}}", &g);
  GD_ASSERT_STR(g.code, "NoSuchBucket");
  got_free(&g);

  /* A path with bytes to escape: S3 signs it as sent (encoded once);
   * the endpoint verified the signature before it said NotImplemented. */
  call("s3", "GetObject", "{\"_bucket\": \"assets\", \"_path\": \"/a b/c+d~\"}",
       &g);
  CU_ASSERT_EQUAL(g.status, 501);
  GD_ASSERT_STR(g.code, "NotImplemented");
  got_free(&g);
  c = last_call(&log);
  GD_ASSERT_STR(s(cJSON_GetObjectItem(c, "params"), "_path"), "/a b/c+d~");
  cJSON_Delete(log);
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(ep), bad);
}

/* A bucket in us-east-1 asked for in eu-west-1: S3 says 301 with the
 * region, the client asks again there, once, and succeeds. */
static void test_s3_region_redirect(void) {
  NEED_EP();
  struct got g;
  char buf[64];
  call("s3", "GetBucketPolicyStatus",
       "{\"_bucket\": \"far-away\", \"_query\": {\"policyStatus\": \"\"}}",
       &g);
  CU_ASSERT_FALSE(g.has_err);
  if (g.has_err) printf("\n    %s ", g.msg);
  CU_ASSERT_EQUAL(g.status, 200);
  CU_ASSERT_EQUAL(g.attempts, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g.xml);
  GD_ASSERT_STR(gd_aws_xml_text(xmlDocGetRootElement(g.xml), "IsPublic", buf,
                                sizeof buf),
                "false");
  got_free(&g);
  cJSON *log = gd_awsep_calls(ep);
  CU_ASSERT_EQUAL(cJSON_GetArraySize(log), 2);
  CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(
                      cJSON_GetArrayItem(log, 0), "status")),
                  301);
  GD_ASSERT_STR(s(cJSON_GetArrayItem(log, 0), "code"), "PermanentRedirect");
  cJSON_Delete(log);
}

static void test_lambda_paging_and_errors(void) {
  NEED_EP();
  struct got g;
  char marker[64] = "";
  int pages = 0, nfn = 0;
  char names[64] = "";
  unsigned bad = gd_awsep_bad_signatures(ep);
  do {
    char params[256];
    if (marker[0])
      snprintf(params, sizeof params,
               "{\"_path\": \"/2015-03-31/functions/\", \"_query\": "
               "{\"Marker\": \"%s\"}}",
               marker);
    else
      snprintf(params, sizeof params,
               "{\"_path\": \"/2015-03-31/functions/\"}");
    call("lambda", "ListFunctions", params, &g);
    CU_ASSERT_FALSE_FATAL(g.has_err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g.json);
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(g.json, "Functions")) {
      nfn++;
      strcat(names, s(f, "FunctionName"));
      strcat(names, s(f, "Runtime")[0] ? "+" : "-");
    }
    snprintf(marker, sizeof marker, "%s", s(g.json, "NextMarker"));
    got_free(&g);
    pages++;
  } while (marker[0] && pages < 10);
  CU_ASSERT_EQUAL(pages, 3);
  CU_ASSERT_EQUAL(nfn, 5);
  GD_ASSERT_STR(names, "a+b+c-d+e+");
  cJSON *log, *c = last_call(&log);
  GD_ASSERT_STR(s(cJSON_GetObjectItem(c, "params"), "Marker"), "awsep-4");
  cJSON_Delete(log);

  /* The code from x-amzn-ErrorType (Lambda's body has only Type: User). */
  gd_awsep_fail_next(ep, "lambda", "ListFunctions", 1, 403,
                     "AccessDeniedException", NULL);
  call("lambda", "ListFunctions", "{\"_path\": \"/2015-03-31/functions/\"}",
       &g);
  CU_ASSERT_TRUE(g.has_err);
  GD_ASSERT_STR(g.code, "AccessDeniedException");
  CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "lambda ListFunctions: "
                                       "AccessDeniedException: User: "));
  got_free(&g);
  /* Throttling is retried. */
  gd_awsep_fail_next(ep, "lambda", "ListFunctions", 1, 429,
                     "TooManyRequestsException", NULL);
  call("lambda", "ListFunctions", "{\"_path\": \"/2015-03-31/functions/\"}",
       &g);
  CU_ASSERT_FALSE(g.has_err);
  CU_ASSERT_EQUAL(g.attempts, 2);
  got_free(&g);
  /* Not S3: the path is encoded again when signed; the endpoint agrees. */
  call("lambda", "GetFunction",
       "{\"_path\": \"/2015-03-31/functions/my fn\"}", &g);
  CU_ASSERT_EQUAL(g.status, 404);
  GD_ASSERT_STR(g.code, "UnknownOperationException");
  got_free(&g);
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(ep), bad);
}

static void test_cloudtrail_json11(void) {
  NEED_EP();
  struct got g;
  call("cloudtrail", "DescribeTrails", "{\"includeShadowTrails\": true}", &g);
  CU_ASSERT_FALSE_FATAL(g.has_err);
  const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(g.json, "trailList"),
                                      0);
  GD_ASSERT_STR(s(t, "TrailARN"),
                "arn:aws:cloudtrail:us-east-1:123456789012:trail/main");
  CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(t, "IsMultiRegionTrail")));
  got_free(&g);
  call("cloudtrail", "GetTrailStatus",
       "{\"Name\": \"arn:aws:cloudtrail:us-east-1:123456789012:trail/main\"}",
       &g);
  CU_ASSERT_FALSE(g.has_err);
  CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(g.json, "IsLogging")));
  got_free(&g);
  call("cloudtrail", "GetTrailStatus", "{\"Name\": \"nosuch\"}", &g);
  GD_ASSERT_STR(g.code, "TrailNotFoundException");
  got_free(&g);
}

/* IAM: one global endpoint, signed for us-east-1 though AWS_REGION is
 * eu-west-1 (the endpoint refuses any other scope). */
static void test_iam_global(void) {
  NEED_EP();
  struct got g;
  char buf[64];
  call("iam", "GetAccountSummary", NULL, &g);
  CU_ASSERT_FALSE(g.has_err);
  if (g.has_err) printf("\n    %s ", g.msg);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g.xml);
  xmlNode *e = gd_aws_xml_find(xmlDocGetRootElement(g.xml),
                               "GetAccountSummaryResult/SummaryMap/entry");
  int found = 0;
  for (; e; e = gd_aws_xml_next(e)) {
    if (strcmp(gd_aws_xml_text(e, "key", buf, sizeof buf),
               "AccountMFAEnabled") == 0) {
      found = 1;
      GD_ASSERT_STR(gd_aws_xml_text(e, "value", buf, sizeof buf), "1");
    }
  }
  CU_ASSERT_TRUE(found);
  got_free(&g);
  call("iam", "GetAccountPasswordPolicy", NULL, &g);
  GD_ASSERT_STR(g.code, "NoSuchEntity");
  CU_ASSERT_EQUAL(g.status, 404);
  got_free(&g);
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(ep), 0);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"s3 ListBuckets, path-style, signed with s3 rules",
       test_s3_list_buckets},
      {"s3 sub-resources, error shape, path signed as sent",
       test_s3_subresources_and_errors},
      {"s3 redirect to the bucket's region", test_s3_region_redirect},
      {"lambda rest-json: marker paging, error header, retry",
       test_lambda_paging_and_errors},
      {"cloudtrail json 1.1", test_cloudtrail_json11},
      {"iam: global endpoint signed for us-east-1", test_iam_global},
      {NULL, NULL},
  };
  home = gd_test_tmpdir();
  gd_awsenv_begin(home);
  ep = gd_awsep_start(NULL);
  if (ep) gd_awsep_setenv(ep);
  int rc = gd_test_run("aws rest protocols", tests);
  if (ep) gd_awsep_stop(ep);
  gd_awsenv_end();
  gd_test_rmrf(home);
  free(home);
  return rc;
}

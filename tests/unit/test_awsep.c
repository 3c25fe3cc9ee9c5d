/* The test AWS endpoint (tests/awsep.h) driven by the real client: the
 * signature check, protocol errors, each operation's answer read back with
 * gd_aws_xml_*, and the world changing over time (termination ->
 * replacement, failover, restore). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "awsep.h"
#include "awsmeta.h"
#include "gameday/aws.h"
#include "gameday/sigv4.h"
#include "testutil.h"

static const char fixture[] =
    "{\"delays_ms\": {\"shutting_down\": 150, \"replace\": 200, "
    "\"pending\": 300, \"target_initial\": 300, \"draining\": 200, "
    "\"failover\": 400, \"reboot\": 300, \"create\": 400, \"delete\": 200},"
    " \"instances\": ["
    "  {\"id\": \"i-0aaaaaaaaaaaaaaa1\", \"az\": \"eu-west-1a\", \"asg\": "
    "\"web\", \"tags\": {\"Environment\": \"staging\", \"Role\": \"web\"}},"
    "  {\"id\": \"i-0aaaaaaaaaaaaaaa2\", \"az\": \"eu-west-1b\", \"asg\": "
    "\"web\", \"tags\": {\"Environment\": \"staging\", \"Role\": \"web\"}},"
    "  {\"id\": \"i-0bbbbbbbbbbbbbbb1\", \"state\": \"stopped\", "
    "\"tags\": {\"Environment\": \"prod\"}}],"
    " \"auto_scaling_groups\": [{\"name\": \"web\", \"min\": 1, \"max\": 4, "
    "\"desired\": 2, \"azs\": [\"eu-west-1a\", \"eu-west-1b\"], "
    "\"health_check_type\": \"ELB\", \"target_groups\": "
    "[\"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/"
    "73e2d6bc24d8a067\"], \"tags\": {\"Environment\": \"staging\"}}],"
    " \"target_groups\": [{\"arn\": \"arn:aws:elasticloadbalancing:eu-west-1:"
    "123456789012:targetgroup/web/73e2d6bc24d8a067\", \"load_balancers\": "
    "[\"arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/"
    "web/50dc6c495c0c9188\"]}],"
    " \"db_clusters\": [{\"id\": \"staging-aurora\", \"tags\": "
    "{\"Environment\": \"staging\"}, \"deletion_protection\": true, "
    "\"members\": [{\"id\": \"staging-aurora-1\", \"writer\": true}, "
    "{\"id\": \"staging-aurora-2\"}, {\"id\": \"staging-aurora-3\"}]}],"
    " \"alarms\": [{\"name\": \"web-5xx\", \"metric\": "
    "\"HTTPCode_Target_5XX_Count\", \"namespace\": \"AWS/ApplicationELB\", "
    "\"dimensions\": {\"LoadBalancer\": \"app/web/50dc6c495c0c9188\"}},"
    "  {\"name\": \"web-latency\", \"state\": \"ALARM\"},"
    "  {\"name\": \"db-cpu\", \"state\": \"INSUFFICIENT_DATA\"}]}";

#define TG_ARN                                                   \
  "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/" \
  "73e2d6bc24d8a067"

/* ------------------------------------------------------------------ */
/* Fixture: an endpoint with the world above and a client on a loop */

struct got {
  int calls, ok, attempts;
  long status;
  struct gd_error err;
  char code[128];
  xmlDoc *xml;
};

static void got_cb(struct gd_aws_result *r, const struct gd_error *e,
                   void *arg) {
  struct got *g = arg;
  g->calls++;
  g->ok = e == NULL;
  if (e) g->err = *e;
  g->status = r->status;
  g->attempts = r->attempts;
  snprintf(g->code, sizeof g->code, "%s", r->aws_code);
  g->xml = r->xml;
  r->xml = NULL;
}

static void got_clear(struct got *g) {
  if (g->xml) xmlFreeDoc(g->xml);
  memset(g, 0, sizeof *g);
}

struct fx {
  char *home;
  struct gd_awsep *ep;
  uv_loop_t loop;
  struct gd_curl *curl;
  struct gd_aws *aws;
};

static void count_cb(void *arg) { (*(int *)arg)++; }

static void fx_client(struct fx *f) {
  struct gd_error err = {0};
  struct gd_aws_options o = {.base_delay_ms = 5, .max_delay_ms = 50};
  int rc = gd_aws_new(&f->loop, f->curl, &o, &f->aws, &err);
  if (rc) printf("\n    gd_aws_new: %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void fx_begin(struct fx *f) {
  memset(f, 0, sizeof *f);
  f->home = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(f->home);
  gd_awsenv_begin(f->home);
  f->ep = gd_awsep_start(NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f->ep);
  char why[256];
  int rc = gd_awsep_load(f->ep, fixture, why, sizeof why);
  if (rc) printf("\n    %s\n", why);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  gd_awsep_setenv(f->ep);
  uv_loop_init(&f->loop);
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(gd_curl_new(&f->loop, &f->curl, &err), 0);
  fx_client(f);
}

/* A new client for a changed environment. */
static void fx_renew(struct fx *f) {
  int closed = 0;
  gd_aws_close(f->aws, count_cb, &closed);
  while (!closed) uv_run(&f->loop, UV_RUN_ONCE);
  fx_client(f);
}

static void fx_end(struct fx *f) {
  int closed = 0;
  gd_aws_close(f->aws, count_cb, &closed);
  gd_curl_close(f->curl, count_cb, &closed);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(closed, 2);
  CU_ASSERT_EQUAL(uv_loop_close(&f->loop), 0);
  gd_awsep_stop(f->ep);
  gd_awsenv_end();
  gd_test_rmrf(f->home);
  free(f->home);
}

/* One call, run to its callback; params is JSON text or NULL. */
static void fx_call(struct fx *f, const char *service, const char *op,
                    const char *params, struct got *g) {
  struct gd_error err = {0};
  cJSON *p = params ? cJSON_Parse(params) : NULL;
  CU_ASSERT_FATAL(!params || p);
  memset(g, 0, sizeof *g);
  int rc = gd_aws_call(f->aws, service, op, p, got_cb, g, NULL, &err);
  cJSON_Delete(p);
  if (rc) printf("\n    gd_aws_call: %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  while (!g->calls) uv_run(&f->loop, UV_RUN_ONCE);
}

static xmlNode *root(const struct got *g) {
  return g->xml ? xmlDocGetRootElement(g->xml) : NULL;
}

static const char *txt(const xmlNode *n, const char *path) {
  static char buf[8][512];
  static int k;
  char *b = buf[k++ % 8];
  gd_aws_xml_text(n, path, b, 512);
  return b;
}

static int count_items(const xmlNode *first) {
  int n = 0;
  for (const xmlNode *x = first; x; x = gd_aws_xml_next(x)) n++;
  return n;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* Signature and protocol */

static void test_bad_signature(void) {
  struct fx f;
  fx_begin(&f);
  setenv("AWS_SECRET_ACCESS_KEY", "not/the/secret/awsep0000000000000000000", 1);
  fx_renew(&f);
  struct got g;
  fx_call(&f, "ec2", "DescribeInstances", NULL, &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.status, 403);
  CU_ASSERT_STRING_EQUAL(g.code, "SignatureDoesNotMatch");
  CU_ASSERT_EQUAL(g.attempts, 1);
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(f.ep), 1);
  CU_ASSERT_EQUAL(gd_awsep_count(f.ep, NULL, NULL), 0);
  got_clear(&g);
  /* The right secret again: accepted. */
  gd_awsep_setenv(f.ep);
  fx_renew(&f);
  fx_call(&f, "ec2", "DescribeInstances", NULL, &g);
  CU_ASSERT_TRUE(g.ok);
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(f.ep), 1);
  got_clear(&g);
  /* Another key id: the key is unknown. */
  setenv("AWS_ACCESS_KEY_ID", "AKIDSOMEONEELSE00001", 1);
  fx_renew(&f);
  fx_call(&f, "autoscaling", "DescribeAutoScalingGroups", NULL, &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.status, 403);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidClientTokenId");
  got_clear(&g);
  /* A session token the endpoint did not issue. */
  gd_awsep_setenv(f.ep);
  setenv("AWS_SESSION_TOKEN", "IQoJsomeTOKEN", 1);
  fx_renew(&f);
  fx_call(&f, "rds", "DescribeDBClusters", NULL, &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidClientTokenId");
  got_clear(&g);
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(f.ep), 3);
  fx_end(&f);
}

static void test_wrong_region(void) {
  struct fx f;
  fx_begin(&f);
  setenv("AWS_REGION", "us-east-1", 1);
  fx_renew(&f);
  struct got g;
  fx_call(&f, "ec2", "DescribeInstances", NULL, &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.status, 403);
  CU_ASSERT_STRING_EQUAL(g.code, "SignatureDoesNotMatch");
  CU_ASSERT_PTR_NOT_NULL(strstr(g.err.msg, "'us-east-1'"));
  got_clear(&g);
  /* Query services answer in ErrorResponse with their namespace. */
  fx_call(&f, "monitoring", "DescribeAlarms", NULL, &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_STRING_EQUAL(g.code, "SignatureDoesNotMatch");
  got_clear(&g);
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(f.ep), 2);
  fx_end(&f);
}

static void test_unknown_action(void) {
  struct fx f;
  fx_begin(&f);
  struct got g;
  fx_call(&f, "ec2", "DescribeUnicorns", NULL, &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.status, 400);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidAction");
  CU_ASSERT_PTR_NOT_NULL(strstr(g.err.msg, "DescribeUnicorns"));
  got_clear(&g);
  fx_call(&f, "rds", "DescribeUnicorns", NULL, &g);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidAction");
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "rds DescribeUnicorns: InvalidAction: Could not find "
                         "operation DescribeUnicorns for version 2014-10-31");
  got_clear(&g);
  /* Logged, with the error. */
  cJSON *calls = gd_awsep_calls(f.ep);
  CU_ASSERT_EQUAL(cJSON_GetArraySize(calls), 2);
  cJSON *c = cJSON_GetArrayItem(calls, 1);
  CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(c, "service")->valuestring,
                         "rds");
  CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(c, "code")->valuestring,
                         "InvalidAction");
  CU_ASSERT_EQUAL(cJSON_GetObjectItem(c, "status")->valueint, 400);
  cJSON_Delete(calls);
  fx_end(&f);
}

static void test_missing_parameter(void) {
  struct fx f;
  fx_begin(&f);
  struct got g;
  fx_call(&f, "ec2", "TerminateInstances", NULL, &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.status, 400);
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "ec2 TerminateInstances: MissingParameter: The "
                         "request must contain the parameter InstanceId");
  got_clear(&g);
  fx_call(&f, "elasticloadbalancing", "DescribeTargetHealth", NULL, &g);
  CU_ASSERT_STRING_EQUAL(g.code, "ValidationError");
  CU_ASSERT_PTR_NOT_NULL(strstr(g.err.msg, "'targetGroupArn'"));
  got_clear(&g);
  fx_call(&f, "rds", "FailoverDBCluster", NULL, &g);
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "rds FailoverDBCluster: InvalidParameterValue: The "
                         "parameter DBClusterIdentifier must be provided and "
                         "must not be blank.");
  got_clear(&g);
  fx_call(&f, "ec2", "TerminateInstances", "{\"InstanceId\": [\"i-xyz\"]}",
          &g);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidInstanceID.Malformed");
  got_clear(&g);
  fx_call(&f, "ec2", "DescribeInstances",
          "{\"InstanceId\": [\"i-0aaaaaaaaaaaaaaa1\", \"i-0123456789abcdef0\"]}",
          &g);
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "ec2 DescribeInstances: InvalidInstanceID.NotFound: "
                         "The instance ID 'i-0123456789abcdef0' does not "
                         "exist");
  got_clear(&g);
  CU_ASSERT_EQUAL(gd_awsep_mutations(f.ep), 3); /* failed, but attempted */
  fx_end(&f);
}

/* ------------------------------------------------------------------ */
/* Raw requests, for what the client never sends wrong */

/* POSTs body signed for service at amz_date (NULL: now), with the
 * endpoint's key unless secret is given; sign 0 sends no Authorization,
 * no_host leaves host unsigned. The status; the answer's body in out. */
static int raw_post(struct gd_awsep *ep, const char *service,
                    const char *amz_date, const char *secret, int sign,
                    int no_host, const char *body, char *out, size_t n) {
  char host[64], date[17];
  snprintf(host, sizeof host, "127.0.0.1:%d", gd_awsep_port(ep));
  if (amz_date)
    snprintf(date, sizeof date, "%s", amz_date);
  else {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
  }
  struct gd_sigv4_header h[] = {
      {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
      {"X-Amz-Date", date},
      {"Host", host}};
  struct gd_sigv4_request rq = {.method = "POST",
                                .path = "/",
                                .headers = h,
                                .nheaders = 3,
                                .payload = body,
                                .payload_len = strlen(body),
                                .region = GD_AWSEP_REGION,
                                .service = service,
                                .amz_date = date};
  struct gd_sigv4_creds c = {GD_AWSEP_AKID, secret ? secret : GD_AWSEP_SECRET,
                             NULL};
  struct gd_sigv4_result res = {0};
  struct gd_error err;
  char auth[1024] = "";
  /* The signer insists on Host: for no_host, sign with it and then claim
   * it was not signed (what a broken client would send). */
  CU_ASSERT_EQUAL_FATAL(gd_sigv4_sign(&rq, &c, NULL, &res, &err), 0);
  if (no_host) {
    char *sh = strstr(res.authorization, "SignedHeaders=");
    snprintf(auth, sizeof auth, "%.*sSignedHeaders=content-type;x-amz-date, "
             "Signature=%s", (int)(sh - res.authorization),
             res.authorization, res.signature);
  } else
    snprintf(auth, sizeof auth, "%s", res.authorization);
  gd_sigv4_result_free(&res);
  char req[8192];
  int k = snprintf(req, sizeof req,
                   "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                   "application/x-www-form-urlencoded; charset=utf-8\r\n"
                   "X-Amz-Date: %s\r\n%s%s%sContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s",
                   host, date, sign ? "Authorization: " : "",
                   sign ? auth : "", sign ? "\r\n" : "", strlen(body), body);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)gd_awsep_port(ep)),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CU_ASSERT_EQUAL_FATAL(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  CU_ASSERT_EQUAL_FATAL(write(fd, req, (size_t)k), k);
  char ans[16384];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof ans - 1 &&
         (r = read(fd, ans + got, sizeof ans - 1 - got)) > 0) {
    got += (size_t)r;
    ans[got] = 0;
    char *e = strstr(ans, "\r\n\r\n");
    char *cl = strcasestr(ans, "Content-Length:");
    if (e && cl && got >= (size_t)(e + 4 - ans) + strtoul(cl + 15, NULL, 10))
      break;
  }
  close(fd);
  ans[got] = 0;
  int status = 0;
  sscanf(ans, "HTTP/1.1 %d", &status);
  char *e = strstr(ans, "\r\n\r\n");
  snprintf(out, n, "%s", e ? e + 4 : "");
  return status;
}

static void test_raw_requests(void) {
  struct fx f;
  fx_begin(&f);
  char body[8192];
  /* Error shapes: EC2's own, and ErrorResponse with the namespace. */
  CU_ASSERT_EQUAL(raw_post(f.ep, "ec2", NULL, NULL, 1, 0,
                           "Action=TerminateInstances&Version=2016-11-15",
                           body, sizeof body),
                  400);
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "<Response><Errors><Error><Code>"
                                      "MissingParameter</Code>"));
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "</Errors><RequestID>"));
  CU_ASSERT_EQUAL(raw_post(f.ep, "rds", NULL, NULL, 1, 0,
                           "Action=DescribeDBClusters&Version=2013-01-10",
                           body, sizeof body),
                  400);
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "<ErrorResponse xmlns=\"http://rds."
                                      "amazonaws.com/doc/2014-10-31/\"><Error>"
                                      "<Type>Sender</Type><Code>InvalidAction"
                                      "</Code>"));
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "for version 2013-01-10"));
  CU_ASSERT_EQUAL(raw_post(f.ep, "rds", NULL, NULL, 1, 0,
                           "Version=2014-10-31", body, sizeof body),
                  400);
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "<Code>MissingAction</Code>"));
  /* Success: the Result element and ResponseMetadata. */
  CU_ASSERT_EQUAL(raw_post(f.ep, "monitoring", NULL, NULL, 1, 0,
                           "Action=DescribeAlarms&Version=2010-08-01"
                           "&AlarmNames.member.1=db-cpu",
                           body, sizeof body),
                  200);
  CU_ASSERT_EQUAL(strncmp(body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                "<DescribeAlarmsResponse xmlns=\"http://"
                                "monitoring.amazonaws.com/doc/2010-08-01/\">"
                                "<DescribeAlarmsResult>",
                          133),
                  0);
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "</DescribeAlarmsResult>"
                                      "<ResponseMetadata><RequestId>"));
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "<StateValue>INSUFFICIENT_DATA<"));
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(f.ep), 0);

  /* Signatures: none, stale, host unsigned, wrong key. */
  CU_ASSERT_EQUAL(raw_post(f.ep, "rds", NULL, NULL, 0, 0,
                           "Action=DescribeDBClusters&Version=2014-10-31",
                           body, sizeof body),
                  403);
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "<Code>MissingAuthenticationToken<"));
  CU_ASSERT_EQUAL(raw_post(f.ep, "rds", "20200101T000000Z", NULL, 1, 0,
                           "Action=DescribeDBClusters&Version=2014-10-31",
                           body, sizeof body),
                  403);
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "<Code>SignatureDoesNotMatch</Code>"
                                      "<Message>Signature expired: "
                                      "20200101T000000Z is now earlier than"));
  CU_ASSERT_EQUAL(raw_post(f.ep, "ec2", "20200101T000000Z", NULL, 1, 0,
                           "Action=DescribeInstances&Version=2016-11-15",
                           body, sizeof body),
                  400);
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "<Code>RequestExpired</Code>"));
  CU_ASSERT_EQUAL(raw_post(f.ep, "ec2", NULL, NULL, 1, 1,
                           "Action=DescribeInstances&Version=2016-11-15",
                           body, sizeof body),
                  400);
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "<Code>IncompleteSignature</Code>"));
  CU_ASSERT_EQUAL(raw_post(f.ep, "elasticloadbalancing", NULL,
                           "wrong/secret/key/00000000000000000000000", 1, 0,
                           "Action=DescribeTargetGroups&Version=2015-12-01",
                           body, sizeof body),
                  403);
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "<ErrorResponse xmlns=\"http://"
                                      "elasticloadbalancing.amazonaws.com/doc/"
                                      "2015-12-01/\">"));
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "<Code>SignatureDoesNotMatch</Code>"));
  CU_ASSERT_EQUAL(raw_post(f.ep, "kinesis", NULL, NULL, 1, 0, "x=1", body,
                           sizeof body),
                  403);
  CU_ASSERT_PTR_NOT_NULL(strstr(body, "scoped to correct service"));
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(f.ep), 6);
  CU_ASSERT_EQUAL(gd_awsep_requests(f.ep), 10);
  fx_end(&f);
}

/* ------------------------------------------------------------------ */
/* EC2, Auto Scaling, ELBv2 */

static void test_describe_instances(void) {
  struct fx f;
  fx_begin(&f);
  struct got g;
  fx_call(&f, "ec2", "DescribeInstances",
          "{\"Filter\": [{\"Name\": \"tag:Environment\", \"Value\": "
          "[\"staging\"]}, {\"Name\": \"instance-state-name\", \"Value\": "
          "[\"running\", \"pending\"]}]}",
          &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *r = root(&g);
  CU_ASSERT_STRING_EQUAL((const char *)r->name, "DescribeInstancesResponse");
  CU_ASSERT_STRING_EQUAL((const char *)r->ns->href,
                         "http://ec2.amazonaws.com/doc/2016-11-15/");
  CU_ASSERT_NOT_EQUAL(txt(r, "requestId")[0], 0);
  xmlNode *res = gd_aws_xml_find(r, "reservationSet/item");
  CU_ASSERT_EQUAL(count_items(res), 2);
  xmlNode *in = gd_aws_xml_find(res, "instancesSet/item");
  CU_ASSERT_STRING_EQUAL(txt(in, "instanceId"), "i-0aaaaaaaaaaaaaaa1");
  CU_ASSERT_STRING_EQUAL(txt(in, "instanceState/code"), "16");
  CU_ASSERT_STRING_EQUAL(txt(in, "instanceState/name"), "running");
  CU_ASSERT_STRING_EQUAL(txt(in, "placement/availabilityZone"),
                         "eu-west-1a");
  int found = 0;
  for (xmlNode *t = gd_aws_xml_find(in, "tagSet/item"); t;
       t = gd_aws_xml_next(t))
    if (strcmp(txt(t, "key"), "aws:autoscaling:groupName") == 0)
      found = strcmp(txt(t, "value"), "web") == 0;
  CU_ASSERT_TRUE(found);
  got_clear(&g);

  /* tag-key, by id, paginated */
  fx_call(&f, "ec2", "DescribeInstances",
          "{\"Filter\": [{\"Name\": \"tag-key\", \"Value\": "
          "[\"Environment\"]}], \"MaxResults\": 5}",
          &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  CU_ASSERT_EQUAL(count_items(gd_aws_xml_find(root(&g), "reservationSet/item")),
                  3);
  CU_ASSERT_PTR_NULL(gd_aws_xml_find(root(&g), "nextToken"));
  got_clear(&g);
  fx_call(&f, "ec2", "DescribeInstances",
          "{\"InstanceId\": [\"i-0bbbbbbbbbbbbbbb1\"]}", &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  CU_ASSERT_STRING_EQUAL(txt(root(&g), "reservationSet/item/instancesSet/"
                                       "item/instanceState/name"),
                         "stopped");
  got_clear(&g);
  fx_call(&f, "ec2", "DescribeInstances",
          "{\"Filter\": [{\"Name\": \"flavour\", \"Value\": [\"x\"]}]}", &g);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidParameterValue");
  got_clear(&g);
  fx_end(&f);
}

static void test_dry_run(void) {
  struct fx f;
  fx_begin(&f);
  struct got g;
  fx_call(&f, "ec2", "TerminateInstances",
          "{\"InstanceId\": [\"i-0aaaaaaaaaaaaaaa1\"], \"DryRun\": true}", &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.status, 412);
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "ec2 TerminateInstances: DryRunOperation: Request "
                         "would have succeeded, but DryRun flag is set.");
  got_clear(&g);
  CU_ASSERT_EQUAL(gd_awsep_count(f.ep, "ec2", "TerminateInstances"), 1);
  CU_ASSERT_EQUAL(gd_awsep_mutations(f.ep), 0);
  cJSON *in = gd_awsep_get(f.ep, "instances", "i-0aaaaaaaaaaaaaaa1");
  CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(in, "state")->valuestring,
                         "running");
  cJSON_Delete(in);
  cJSON *calls = gd_awsep_calls(f.ep);
  cJSON *p = cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 0), "params");
  CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(p, "DryRun")->valuestring,
                         "true");
  CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(p, "InstanceId.1")->valuestring,
                         "i-0aaaaaaaaaaaaaaa1");
  cJSON_Delete(calls);
  fx_end(&f);
}

/* The group's view: InService members, healthy, against desired. */
static void asg_state(struct fx *f, int *in_service, int *members,
                      int *desired) {
  struct got g;
  fx_call(f, "autoscaling", "DescribeAutoScalingGroups",
          "{\"AutoScalingGroupNames.member\": [\"web\"]}", &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *grp = gd_aws_xml_find(root(&g), "DescribeAutoScalingGroupsResult/"
                                           "AutoScalingGroups/member");
  CU_ASSERT_PTR_NOT_NULL_FATAL(grp);
  *desired = atoi(txt(grp, "DesiredCapacity"));
  *in_service = *members = 0;
  for (xmlNode *m = gd_aws_xml_find(grp, "Instances/member"); m;
       m = gd_aws_xml_next(m)) {
    (*members)++;
    if (strcmp(txt(m, "LifecycleState"), "InService") == 0 &&
        strcmp(txt(m, "HealthStatus"), "Healthy") == 0)
      (*in_service)++;
  }
  got_clear(&g);
}

static int healthy_targets(struct fx *f, int *total) {
  struct got g;
  fx_call(f, "elasticloadbalancing", "DescribeTargetHealth",
          "{\"TargetGroupArn\": \"" TG_ARN "\"}", &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  int n = 0;
  *total = 0;
  for (xmlNode *m = gd_aws_xml_find(root(&g), "DescribeTargetHealthResult/"
                                              "TargetHealthDescriptions/"
                                              "member");
       m; m = gd_aws_xml_next(m)) {
    (*total)++;
    n += strcmp(txt(m, "TargetHealth/State"), "healthy") == 0;
  }
  got_clear(&g);
  return n;
}

static void test_termination_replaced(void) {
  struct fx f;
  fx_begin(&f);
  struct got g;
  int ins, members, desired, total;
  asg_state(&f, &ins, &members, &desired);
  CU_ASSERT_EQUAL(ins, 2);
  CU_ASSERT_EQUAL(desired, 2);
  CU_ASSERT_EQUAL(healthy_targets(&f, &total), 2);

  fx_call(&f, "ec2", "TerminateInstances",
          "{\"InstanceId\": [\"i-0aaaaaaaaaaaaaaa1\"]}", &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *it = gd_aws_xml_find(root(&g), "instancesSet/item");
  CU_ASSERT_STRING_EQUAL(txt(it, "currentState/name"), "shutting-down");
  CU_ASSERT_STRING_EQUAL(txt(it, "currentState/code"), "32");
  CU_ASSERT_STRING_EQUAL(txt(it, "previousState/name"), "running");
  got_clear(&g);
  CU_ASSERT_EQUAL(gd_awsep_mutations(f.ep), 1);

  /* At once: one InService, the other Terminating; its target draining. */
  asg_state(&f, &ins, &members, &desired);
  CU_ASSERT_EQUAL(ins, 1);
  CU_ASSERT_EQUAL(healthy_targets(&f, &total), 1);
  CU_ASSERT_EQUAL(total, 2);

  /* Then back to desired: a replacement, InService and healthy. */
  int t = 0;
  for (; t < 100; t++) {
    asg_state(&f, &ins, &members, &desired);
    if (ins == 2 && healthy_targets(&f, &total) == 2) break;
    sleep_ms(50);
  }
  CU_ASSERT(t < 100);
  CU_ASSERT(t > 3); /* it took a while */
  CU_ASSERT_EQUAL(members, 2);
  CU_ASSERT_EQUAL(total, 2);
  cJSON *in = gd_awsep_get(f.ep, "instances", "i-0aaaaaaaaaaaaaaa1");
  CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(in, "state")->valuestring,
                         "terminated");
  cJSON_Delete(in);
  fx_call(&f, "ec2", "DescribeInstances",
          "{\"Filter\": [{\"Name\": \"tag:aws:autoscaling:groupName\", "
          "\"Value\": [\"web\"]}, {\"Name\": \"instance-state-name\", "
          "\"Value\": [\"running\"]}]}",
          &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *res = gd_aws_xml_find(root(&g), "reservationSet/item");
  CU_ASSERT_EQUAL(count_items(res), 2);
  /* The replacement went to the zone that lost one. */
  xmlNode *rep = gd_aws_xml_find(gd_aws_xml_next(res), "instancesSet/item");
  CU_ASSERT_STRING_EQUAL(txt(rep, "placement/availabilityZone"),
                         "eu-west-1a");
  CU_ASSERT_NOT_EQUAL(strcmp(txt(rep, "instanceId"), "i-0aaaaaaaaaaaaaaa1"),
                      0);
  got_clear(&g);

  fx_call(&f, "autoscaling", "DescribeAutoScalingInstances", NULL, &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *m = gd_aws_xml_find(root(&g), "DescribeAutoScalingInstancesResult/"
                                         "AutoScalingInstances/member");
  CU_ASSERT_EQUAL(count_items(m), 2);
  CU_ASSERT_STRING_EQUAL(txt(m, "HealthStatus"), "HEALTHY");
  CU_ASSERT_STRING_EQUAL(txt(m, "AutoScalingGroupName"), "web");
  got_clear(&g);
  fx_end(&f);
}

static void test_target_groups(void) {
  struct fx f;
  fx_begin(&f);
  struct got g;
  fx_call(&f, "elasticloadbalancing", "DescribeTargetGroups",
          "{\"Names.member\": [\"web\"]}", &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *r = root(&g);
  CU_ASSERT_STRING_EQUAL(
      (const char *)r->ns->href,
      "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/");
  xmlNode *tg =
      gd_aws_xml_find(r, "DescribeTargetGroupsResult/TargetGroups/member");
  CU_ASSERT_STRING_EQUAL(txt(tg, "TargetGroupArn"), TG_ARN);
  CU_ASSERT_STRING_EQUAL(txt(tg, "Port"), "80");
  CU_ASSERT_PTR_NOT_NULL(strstr(txt(tg, "LoadBalancerArns/member"),
                                "loadbalancer/app/web"));
  CU_ASSERT_NOT_EQUAL(txt(r, "ResponseMetadata/RequestId")[0], 0);
  got_clear(&g);
  fx_call(&f, "elasticloadbalancing", "DescribeTargetGroups",
          "{\"Names.member\": [\"nope\"]}", &g);
  CU_ASSERT_STRING_EQUAL(g.code, "TargetGroupNotFound");
  got_clear(&g);
  /* A target set unhealthy from the test. */
  CU_ASSERT_EQUAL(gd_awsep_set_target(f.ep, "i-0aaaaaaaaaaaaaaa2",
                                      "unhealthy"),
                  0);
  fx_call(&f, "elasticloadbalancing", "DescribeTargetHealth",
          "{\"TargetGroupArn\": \"" TG_ARN "\", \"Targets.member\": "
          "[{\"Id\": \"i-0aaaaaaaaaaaaaaa2\"}]}",
          &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *m = gd_aws_xml_find(root(&g), "DescribeTargetHealthResult/"
                                         "TargetHealthDescriptions/member");
  CU_ASSERT_EQUAL(count_items(m), 1);
  CU_ASSERT_STRING_EQUAL(txt(m, "Target/Id"), "i-0aaaaaaaaaaaaaaa2");
  CU_ASSERT_STRING_EQUAL(txt(m, "TargetHealth/State"), "unhealthy");
  CU_ASSERT_STRING_EQUAL(txt(m, "TargetHealth/Reason"),
                         "Target.FailedHealthChecks");
  got_clear(&g);
  fx_end(&f);
}

/* ------------------------------------------------------------------ */
/* Forced failures */

static void test_forced_failures(void) {
  struct fx f;
  fx_begin(&f);
  struct got g;
  gd_awsep_fail_next(f.ep, "autoscaling", NULL, 2, 400, "Throttling", NULL);
  fx_call(&f, "autoscaling", "DescribeAutoScalingGroups", NULL, &g);
  CU_ASSERT_TRUE(g.ok);
  CU_ASSERT_EQUAL(g.attempts, 3);
  got_clear(&g);
  CU_ASSERT_EQUAL(gd_awsep_count(f.ep, "autoscaling", NULL), 3);

  gd_awsep_fail_next(f.ep, "ec2", "TerminateInstances", 1, 403,
                     "UnauthorizedOperation", NULL);
  fx_call(&f, "ec2", "TerminateInstances",
          "{\"InstanceId\": [\"i-0aaaaaaaaaaaaaaa1\"]}", &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.attempts, 1);
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "ec2 TerminateInstances: UnauthorizedOperation: You "
                         "are not authorized to perform this operation.");
  got_clear(&g);
  cJSON *in = gd_awsep_get(f.ep, "instances", "i-0aaaaaaaaaaaaaaa1");
  CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(in, "state")->valuestring,
                         "running");
  cJSON_Delete(in);

  /* 500s are retried too; past the attempts the client gives up. */
  gd_awsep_fail_next(f.ep, NULL, NULL, 10, 500, "InternalFailure", NULL);
  fx_call(&f, "rds", "DescribeDBClusters", NULL, &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.status, 500);
  CU_ASSERT_EQUAL(g.attempts, 4);
  CU_ASSERT_STRING_EQUAL(g.code, "InternalFailure");
  got_clear(&g);
  fx_end(&f);
}

/* ------------------------------------------------------------------ */
/* RDS, CloudWatch */

/* Status of the cluster and its writer ("" when none). */
static void cluster_state(struct fx *f, const char *id, char *status,
                          char *writer) {
  struct got g;
  char p[256];
  snprintf(p, sizeof p, "{\"DBClusterIdentifier\": \"%s\"}", id);
  fx_call(f, "rds", "DescribeDBClusters", p, &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *c = gd_aws_xml_find(root(&g), "DescribeDBClustersResult/"
                                         "DBClusters/DBCluster");
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  strcpy(status, txt(c, "Status"));
  writer[0] = 0;
  for (xmlNode *m = gd_aws_xml_find(c, "DBClusterMembers/DBClusterMember"); m;
       m = gd_aws_xml_next(m))
    if (strcmp(txt(m, "IsClusterWriter"), "true") == 0)
      strcpy(writer, txt(m, "DBInstanceIdentifier"));
  got_clear(&g);
}

/* Polls until the cluster has this status (and writer, when given);
 * the number of 25 ms polls it took, or -1. */
static int wait_cluster(struct fx *f, const char *id, const char *status,
                        const char *writer) {
  char st[64], w[128];
  for (int i = 0; i < 200; i++) {
    cluster_state(f, id, st, w);
    if (strcmp(st, status) == 0 && (!writer || strcmp(w, writer) == 0))
      return i;
    sleep_ms(25);
  }
  return -1;
}

static void test_describe_clusters(void) {
  struct fx f;
  fx_begin(&f);
  struct got g;
  fx_call(&f, "rds", "DescribeDBClusters", NULL, &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *r = root(&g);
  CU_ASSERT_STRING_EQUAL((const char *)r->name, "DescribeDBClustersResponse");
  CU_ASSERT_STRING_EQUAL((const char *)r->ns->href,
                         "http://rds.amazonaws.com/doc/2014-10-31/");
  xmlNode *c = gd_aws_xml_find(r, "DescribeDBClustersResult/DBClusters/"
                                  "DBCluster");
  CU_ASSERT_EQUAL(count_items(c), 1);
  CU_ASSERT_STRING_EQUAL(txt(c, "DBClusterIdentifier"), "staging-aurora");
  CU_ASSERT_STRING_EQUAL(txt(c, "Status"), "available");
  CU_ASSERT_STRING_EQUAL(txt(c, "Endpoint"),
                         "staging-aurora.cluster-c0ffee123456.eu-west-1.rds."
                         "amazonaws.com");
  CU_ASSERT_STRING_EQUAL(txt(c, "ReaderEndpoint"),
                         "staging-aurora.cluster-ro-c0ffee123456.eu-west-1."
                         "rds.amazonaws.com");
  CU_ASSERT_STRING_EQUAL(txt(c, "BackupRetentionPeriod"), "7");
  CU_ASSERT_STRING_EQUAL(txt(c, "DeletionProtection"), "true");
  CU_ASSERT_STRING_EQUAL(txt(c, "Port"), "5432");
  CU_ASSERT_STRING_EQUAL(txt(c, "TagList/Tag/Key"), "Environment");
  CU_ASSERT_STRING_EQUAL(txt(c, "TagList/Tag/Value"), "staging");
  CU_ASSERT_EQUAL(count_items(gd_aws_xml_find(c, "DBClusterMembers/"
                                                 "DBClusterMember")),
                  3);
  /* Restorable window: earliest < latest, latest before now. */
  char lt[64], et[64];
  strcpy(lt, txt(c, "LatestRestorableTime"));
  strcpy(et, txt(c, "EarliestRestorableTime"));
  CU_ASSERT_EQUAL(strlen(lt), 24);
  CU_ASSERT(strcmp(et, lt) < 0);
  CU_ASSERT_NOT_EQUAL(txt(r, "ResponseMetadata/RequestId")[0], 0);
  got_clear(&g);

  fx_call(&f, "rds", "DescribeDBClusters",
          "{\"DBClusterIdentifier\": \"nope\"}", &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.status, 404);
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "rds DescribeDBClusters: DBClusterNotFoundFault: "
                         "DBCluster nope not found.");
  got_clear(&g);

  fx_call(&f, "rds", "DescribeDBInstances",
          "{\"Filters.Filter\": [{\"Name\": \"db-cluster-id\", "
          "\"Values.Value\": [\"staging-aurora\"]}]}",
          &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *in = gd_aws_xml_find(root(&g), "DescribeDBInstancesResult/"
                                          "DBInstances/DBInstance");
  CU_ASSERT_EQUAL(count_items(in), 3);
  CU_ASSERT_STRING_EQUAL(txt(in, "DBInstanceIdentifier"), "staging-aurora-1");
  CU_ASSERT_STRING_EQUAL(txt(in, "DBInstanceStatus"), "available");
  CU_ASSERT_STRING_EQUAL(txt(in, "DBClusterIdentifier"), "staging-aurora");
  CU_ASSERT_STRING_EQUAL(txt(in, "Engine"), "aurora-postgresql");
  CU_ASSERT_STRING_EQUAL(txt(in, "Endpoint/Port"), "5432");
  got_clear(&g);

  fx_call(&f, "rds", "ListTagsForResource",
          "{\"ResourceName\": \"arn:aws:rds:eu-west-1:123456789012:cluster:"
          "staging-aurora\"}",
          &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  CU_ASSERT_STRING_EQUAL(txt(root(&g), "ListTagsForResourceResult/TagList/"
                                       "Tag/Value"),
                         "staging");
  got_clear(&g);
  fx_end(&f);
}

static void test_failover(void) {
  struct fx f;
  fx_begin(&f);
  struct got g;
  char st[64], w[128];
  cluster_state(&f, "staging-aurora", st, w);
  CU_ASSERT_STRING_EQUAL(w, "staging-aurora-1");
  fx_call(&f, "rds", "FailoverDBCluster",
          "{\"DBClusterIdentifier\": \"staging-aurora\", "
          "\"TargetDBInstanceIdentifier\": \"staging-aurora-3\"}",
          &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  CU_ASSERT_STRING_EQUAL(txt(root(&g), "FailoverDBClusterResult/DBCluster/"
                                       "Status"),
                         "failing-over");
  got_clear(&g);
  /* A second one while the first runs is refused. */
  fx_call(&f, "rds", "FailoverDBCluster",
          "{\"DBClusterIdentifier\": \"staging-aurora\"}", &g);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.status, 400);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidDBClusterStateFault");
  got_clear(&g);
  cluster_state(&f, "staging-aurora", st, w);
  CU_ASSERT_STRING_EQUAL(st, "failing-over");
  CU_ASSERT_STRING_EQUAL(w, "staging-aurora-1");
  int polls = wait_cluster(&f, "staging-aurora", "available",
                           "staging-aurora-3");
  CU_ASSERT(polls > 2);

  /* Reboot of the writer with ForceFailover: failing-over, then the best
   * reader (first listed on equal tiers) writes. */
  fx_call(&f, "rds", "RebootDBInstance",
          "{\"DBInstanceIdentifier\": \"staging-aurora-3\", "
          "\"ForceFailover\": true}",
          &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  CU_ASSERT_STRING_EQUAL(txt(root(&g), "RebootDBInstanceResult/DBInstance/"
                                       "DBInstanceStatus"),
                         "rebooting");
  got_clear(&g);
  cluster_state(&f, "staging-aurora", st, w);
  CU_ASSERT_STRING_EQUAL(st, "failing-over");
  CU_ASSERT(wait_cluster(&f, "staging-aurora", "available",
                         "staging-aurora-1") > 2);
  fx_call(&f, "rds", "FailoverDBCluster",
          "{\"DBClusterIdentifier\": \"staging-aurora\", "
          "\"TargetDBInstanceIdentifier\": \"staging-aurora-9\"}",
          &g);
  CU_ASSERT_STRING_EQUAL(g.code, "DBInstanceNotFound");
  got_clear(&g);
  CU_ASSERT_EQUAL(gd_awsep_mutations(f.ep), 4);
  fx_end(&f);
}

static void test_restore(void) {
  struct fx f;
  fx_begin(&f);
  struct got g;
  /* Outside the window. */
  fx_call(&f, "rds", "RestoreDBClusterToPointInTime",
          "{\"DBClusterIdentifier\": \"restored\", "
          "\"SourceDBClusterIdentifier\": \"staging-aurora\", "
          "\"RestoreToTime\": \"2001-01-01T00:00:00Z\"}",
          &g);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidRestoreFault");
  got_clear(&g);
  fx_call(&f, "rds", "RestoreDBClusterToPointInTime",
          "{\"DBClusterIdentifier\": \"restored\", "
          "\"SourceDBClusterIdentifier\": \"staging-aurora\"}",
          &g);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidParameterCombination");
  got_clear(&g);
  fx_call(&f, "rds", "RestoreDBClusterToPointInTime",
          "{\"DBClusterIdentifier\": \"restored\", "
          "\"SourceDBClusterIdentifier\": \"staging-aurora\", "
          "\"UseLatestRestorableTime\": true, \"RestoreType\": "
          "\"copy-on-write\", \"DBSubnetGroupName\": \"staging-db\", "
          "\"VpcSecurityGroupIds.VpcSecurityGroupId\": [\"sg-0aaa\"], "
          "\"Tags.Tag\": [{\"Key\": \"gameday\", \"Value\": \"restore\"}]}",
          &g);
  if (!g.ok) printf("\n    %s\n", g.err.msg);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *c = gd_aws_xml_find(root(&g), "RestoreDBClusterToPointInTimeResult/"
                                         "DBCluster");
  CU_ASSERT_STRING_EQUAL(txt(c, "Status"), "creating");
  CU_ASSERT_STRING_EQUAL(txt(c, "DBSubnetGroup"), "staging-db");
  CU_ASSERT_STRING_EQUAL(txt(c, "VpcSecurityGroups/VpcSecurityGroupMembership/"
                                "VpcSecurityGroupId"),
                         "sg-0aaa");
  CU_ASSERT_STRING_EQUAL(txt(c, "TagList/Tag/Key"), "gameday");
  CU_ASSERT_PTR_NULL(gd_aws_xml_find(c, "DBClusterMembers/DBClusterMember"));
  got_clear(&g);
  /* Again: it exists. */
  fx_call(&f, "rds", "RestoreDBClusterToPointInTime",
          "{\"DBClusterIdentifier\": \"restored\", "
          "\"SourceDBClusterIdentifier\": \"staging-aurora\", "
          "\"UseLatestRestorableTime\": true}",
          &g);
  CU_ASSERT_STRING_EQUAL(g.code, "DBClusterAlreadyExistsFault");
  got_clear(&g);
  CU_ASSERT(wait_cluster(&f, "restored", "available", NULL) > 2);

  fx_call(&f, "rds", "CreateDBInstance",
          "{\"DBInstanceIdentifier\": \"restored-1\", \"DBClusterIdentifier\": "
          "\"restored\", \"Engine\": \"aurora-postgresql\", "
          "\"DBInstanceClass\": \"db.r6g.large\"}",
          &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  CU_ASSERT_STRING_EQUAL(txt(root(&g), "CreateDBInstanceResult/DBInstance/"
                                       "DBInstanceStatus"),
                         "creating");
  got_clear(&g);
  char st[64], w[128];
  int i = 0;
  for (; i < 100; i++) {
    fx_call(&f, "rds", "DescribeDBInstances",
            "{\"DBInstanceIdentifier\": \"restored-1\"}", &g);
    CU_ASSERT_TRUE_FATAL(g.ok);
    strcpy(st, txt(root(&g), "DescribeDBInstancesResult/DBInstances/"
                             "DBInstance/DBInstanceStatus"));
    got_clear(&g);
    if (strcmp(st, "available") == 0) break;
    sleep_ms(25);
  }
  CU_ASSERT(i > 2 && i < 100);
  cluster_state(&f, "restored", st, w);
  CU_ASSERT_STRING_EQUAL(w, "restored-1");

  /* Rollback: the cluster refuses while it has an instance, then goes. */
  fx_call(&f, "rds", "DeleteDBCluster",
          "{\"DBClusterIdentifier\": \"restored\", \"SkipFinalSnapshot\": "
          "true}",
          &g);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidDBClusterStateFault");
  got_clear(&g);
  fx_call(&f, "rds", "DeleteDBInstance",
          "{\"DBInstanceIdentifier\": \"restored-1\", \"SkipFinalSnapshot\": "
          "true}",
          &g);
  CU_ASSERT_TRUE(g.ok);
  got_clear(&g);
  fx_call(&f, "rds", "DeleteDBCluster",
          "{\"DBClusterIdentifier\": \"restored\"}", &g);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidParameterCombination");
  got_clear(&g);
  fx_call(&f, "rds", "DeleteDBCluster",
          "{\"DBClusterIdentifier\": \"restored\", \"SkipFinalSnapshot\": "
          "true}",
          &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  CU_ASSERT_STRING_EQUAL(txt(root(&g), "DeleteDBClusterResult/DBCluster/"
                                       "Status"),
                         "deleting");
  got_clear(&g);
  for (i = 0; i < 100; i++) {
    fx_call(&f, "rds", "DescribeDBClusters",
            "{\"DBClusterIdentifier\": \"restored\"}", &g);
    int gone = !g.ok && strcmp(g.code, "DBClusterNotFoundFault") == 0;
    got_clear(&g);
    if (gone) break;
    sleep_ms(25);
  }
  CU_ASSERT(i < 100);
  cJSON *gone = gd_awsep_get(f.ep, "db_instances", "restored-1");
  CU_ASSERT_PTR_NULL(gone);
  /* The protected source cluster cannot be deleted. */
  fx_call(&f, "rds", "DeleteDBCluster",
          "{\"DBClusterIdentifier\": \"staging-aurora\", "
          "\"SkipFinalSnapshot\": true}",
          &g);
  CU_ASSERT_STRING_EQUAL(g.code, "InvalidParameterCombination");
  CU_ASSERT_PTR_NOT_NULL(strstr(g.err.msg, "deletion protection"));
  got_clear(&g);
  fx_end(&f);
}

static void test_alarms(void) {
  struct fx f;
  fx_begin(&f);
  struct got g;
  fx_call(&f, "monitoring", "DescribeAlarms",
          "{\"AlarmNames.member\": [\"web-5xx\"]}", &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  xmlNode *r = root(&g);
  CU_ASSERT_STRING_EQUAL((const char *)r->name, "DescribeAlarmsResponse");
  CU_ASSERT_STRING_EQUAL((const char *)r->ns->href,
                         "http://monitoring.amazonaws.com/doc/2010-08-01/");
  xmlNode *a = gd_aws_xml_find(r, "DescribeAlarmsResult/MetricAlarms/member");
  CU_ASSERT_EQUAL(count_items(a), 1);
  CU_ASSERT_STRING_EQUAL(txt(a, "AlarmName"), "web-5xx");
  CU_ASSERT_STRING_EQUAL(txt(a, "StateValue"), "OK");
  CU_ASSERT_STRING_EQUAL(txt(a, "Namespace"), "AWS/ApplicationELB");
  CU_ASSERT_STRING_EQUAL(txt(a, "Dimensions/member/Name"), "LoadBalancer");
  got_clear(&g);
  CU_ASSERT_EQUAL(gd_awsep_set_alarm(f.ep, "web-5xx", "ALARM"), 0);
  CU_ASSERT_EQUAL(gd_awsep_set_alarm(f.ep, "nope", "ALARM"), -1);
  fx_call(&f, "monitoring", "DescribeAlarms",
          "{\"StateValue\": \"ALARM\"}", &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  a = gd_aws_xml_find(root(&g), "DescribeAlarmsResult/MetricAlarms/member");
  CU_ASSERT_EQUAL(count_items(a), 2);
  got_clear(&g);
  fx_call(&f, "monitoring", "DescribeAlarms",
          "{\"AlarmNamePrefix\": \"web-\", \"MaxRecords\": 1}", &g);
  CU_ASSERT_TRUE_FATAL(g.ok);
  a = gd_aws_xml_find(root(&g), "DescribeAlarmsResult/MetricAlarms/member");
  CU_ASSERT_EQUAL(count_items(a), 1);
  CU_ASSERT_STRING_EQUAL(txt(root(&g), "DescribeAlarmsResult/NextToken"), "1");
  got_clear(&g);
  fx_call(&f, "monitoring", "DescribeAlarms",
          "{\"StateValue\": \"BROKEN\"}", &g);
  CU_ASSERT_STRING_EQUAL(g.code, "ValidationError");
  got_clear(&g);
  fx_end(&f);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"a bad signature, key or token is refused", test_bad_signature},
      {"a credential scoped to another region is refused", test_wrong_region},
      {"an unknown action is InvalidAction", test_unknown_action},
      {"missing parameters and malformed ids", test_missing_parameter},
      {"raw requests: error shapes, stale, unsigned, wrong key",
       test_raw_requests},
      {"ec2 DescribeInstances: filters, ids, pages", test_describe_instances},
      {"ec2 TerminateInstances DryRun changes nothing", test_dry_run},
      {"a terminated instance is replaced, InService and healthy",
       test_termination_replaced},
      {"elbv2 target groups and target health", test_target_groups},
      {"forced throttling is retried; forced errors answered",
       test_forced_failures},
      {"rds clusters, instances, tags", test_describe_clusters},
      {"rds failover and reboot with ForceFailover move the writer",
       test_failover},
      {"rds restore, create, delete over time", test_restore},
      {"cloudwatch alarms, set from the test", test_alarms},
      {NULL, NULL}};
  return gd_test_run("awsep", tests);
}

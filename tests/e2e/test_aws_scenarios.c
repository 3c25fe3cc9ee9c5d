/* End to end: scenarios/aws/instance-termination.json run by the real
 * gameday binary against the test AWS endpoint (tests/awsep.h, in this
 * process, loopback; every request's SigV4 signature checked) and a
 * loopback HTTP server standing in for the load balancer: `plan` prints
 * the instance it would terminate, `run --dry-run` resolves and mutates
 * nothing, a real run terminates exactly one instance and passes once the
 * group has replaced it, and a fleet whose instances lack the required tag
 * is refused before anything is touched. What happened is judged by the
 * endpoint's call log and world and by the journal, not by the output
 * alone.
 *
 * scenarios/aws/queue-backlog.json runs against fauxqs (a third-party SQS
 * implementation, npm) with the local stack's queue worker as the
 * consumer: the backlog is sent, peaks and drains. Skips when node or the
 * package is missing. */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
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

#define RUN_TIMEOUT_MS 60000

#define IA "i-0a00000000000000a"
#define IB "i-0b00000000000000b"
#define IC "i-0c00000000000000c"
#define TG_ARN                                                                \
  "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/"     \
  "73e2d6bc24d8a067"

/* The group of three behind the target group; ENV is the Environment tag
 * of every instance ("" leaves the tag out). The group replaces a
 * terminated instance in about 0.4 s, its target is healthy 0.3 s later. */
static const char fixture_fmt[] =
    "{'delays_ms': {'shutting_down': 100, 'replace': 100, 'pending': 300,"
    "   'target_initial': 300, 'draining': 100},"
    " 'instances': ["
    "  {'id': '" IA "', 'az': 'eu-west-1a', 'asg': 'web-asg',"
    "   'tags': {%s'Role': 'web'}},"
    "  {'id': '" IB "', 'az': 'eu-west-1b', 'asg': 'web-asg',"
    "   'tags': {%s'Role': 'web'}},"
    "  {'id': '" IC "', 'az': 'eu-west-1c', 'asg': 'web-asg',"
    "   'tags': {%s'Role': 'web'}}],"
    " 'auto_scaling_groups': [{'name': 'web-asg', 'min': 2, 'max': 4,"
    "   'desired': 3, 'azs': ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],"
    "   'health_check_type': 'ELB', 'target_groups': ['" TG_ARN "'],"
    "   'tags': {'Environment': 'staging', 'Role': 'web'}}],"
    " 'target_groups': [{'arn': '" TG_ARN "', 'name': 'web', 'port': 80,"
    "   'protocol': 'HTTP', 'targets': ["
    "    {'id': '" IA "', 'port': 80, 'state': 'healthy'},"
    "    {'id': '" IB "', 'port': 80, 'state': 'healthy'},"
    "    {'id': '" IC "', 'port': 80, 'state': 'healthy'}]}]}";

static struct {
  struct gd_awsep *ep;
  struct gd_httpd lb;
  int lb_up;
  char *tmp;
  int nrun;
} S;

static void load_world(const char *env_tag) {
  char tag[64] = "", text[4096], err[256] = "";
  if (env_tag[0]) snprintf(tag, sizeof tag, "'Environment': '%s', ", env_tag);
  snprintf(text, sizeof text, fixture_fmt, tag, tag, tag);
  for (char *p = text; *p; p++)
    if (*p == '\'') *p = '"';
  int rc = gd_awsep_load(S.ep, text, err, sizeof err);
  if (rc) printf("\n    fixture: %s ", err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  gd_awsep_calls_clear(S.ep);
}

#define NEED_WORLD(tag)                                                       \
  do {                                                                        \
    if (!S.ep || !S.lb_up) GD_SKIP("the test endpoint or server did not start"); \
    load_world(tag);                                                          \
  } while (0)

/* gameday CMD scenarios/aws/instance-termination.json with the vars that
 * point it at the endpoint and the server, fast intervals, and extra
 * arguments (NULL-terminated); journal when it is a run. */
static int gameday(struct gd_gdrun *r, const char *cmd, ...) {
  char json[4200], log[4200];
  int k = ++S.nrun;
  snprintf(json, sizeof json, "%s/run-%02d.json", S.tmp, k);
  snprintf(log, sizeof log, "%s/run-%02d.log", S.tmp, k);
  struct gd_gdrun_args a = {0};
  gd_gdrun_arg(&a, "%s", cmd);
  gd_gdrun_arg(&a, "%s", gd_test_src("scenarios/aws/instance-termination.json"));
  gd_gdrun_var(&a, "asg=web-asg");
  gd_gdrun_var(&a, "url=http://127.0.0.1:%d/health", S.lb.port);
  gd_gdrun_var(&a, "target_group_arn=%s", TG_ARN);
  gd_gdrun_var(&a, "region=%s", GD_AWSEP_REGION);
  gd_gdrun_var(&a, "frontend_interval_ms=50");
  gd_gdrun_var(&a, "aws_interval_ms=100");
  gd_gdrun_var(&a, "steady_ms=500");
  gd_gdrun_var(&a, "stable_ms=1000");
  gd_gdrun_var(&a, "recovery_timeout_ms=20000");
  gd_gdrun_var(&a, "max_capacity_recovery_ms=10000");
  va_list ap;
  va_start(ap, cmd);
  const char *s;
  while ((s = va_arg(ap, const char *))) gd_gdrun_arg(&a, "%s", s);
  va_end(ap);
  int is_run = strcmp(cmd, "run") == 0;
  if (is_run) {
    gd_gdrun_arg(&a, "--json");
    gd_gdrun_arg(&a, "%s", json);
    gd_gdrun_arg(&a, "--yes");
  }
  struct gd_gdrun_io io = {.out = log, .journal = is_run ? json : NULL,
                           .grace_ms = 10000};
  int rc = gd_gdrun(r, a.v, &io, RUN_TIMEOUT_MS);
  gd_gdrun_args_free(&a);
  return rc;
}

static const char *out_of(const struct gd_gdrun *r) {
  return r->out ? r->out : "";
}

/* The fault action in the journal, or NULL. */
static const cJSON *fault_action(const cJSON *j) {
  return gd_jfind(j, "actions", "phase", "fault");
}

static unsigned running_instances(void) {
  cJSON *w = gd_awsep_lock(S.ep);
  unsigned n = 0;
  const cJSON *in;
  cJSON_ArrayForEach(in, cJSON_GetObjectItem(w, "instances")) {
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(in, "state"));
    if (st && strcmp(st, "running") == 0) n++;
  }
  gd_awsep_unlock(S.ep);
  return n;
}

/* ------------------------------------------------------------------ */

static void test_plan(void) {
  NEED_WORLD("staging");
  struct gd_gdrun r;
  int rc = gameday(&r, "plan", NULL);
  if (rc != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(rc, 0);
  const char *o = out_of(&r);
  CU_ASSERT_PTR_NOT_NULL(strstr(o, "safety: every target must carry "
                                   "Environment=staging; at most 1 target"));
  CU_ASSERT_PTR_NOT_NULL(strstr(o, "terminate 1 at random of auto scaling "
                                   "group 'web-asg' (InService)"));
  /* The instance, resolved now: one of the three, with group and zone. */
  const char *w = strstr(o, "now: would terminate i-0");
  CU_ASSERT_PTR_NOT_NULL(w);
  if (w)
    CU_ASSERT(strstr(w, IA " (web-asg, eu-west-1a)") == w + 21 ||
              strstr(w, IB " (web-asg, eu-west-1b)") == w + 21 ||
              strstr(w, IC " (web-asg, eu-west-1c)") == w + 21);
  gd_gdrun_free(&r);
  CU_ASSERT(gd_awsep_count(S.ep, "ec2", "DescribeInstances") >= 1);
  CU_ASSERT_EQUAL(gd_awsep_count(S.ep, "ec2", "TerminateInstances"), 0);
  CU_ASSERT_EQUAL(gd_awsep_mutations(S.ep), 0);
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(S.ep), 0);
  CU_ASSERT_EQUAL(running_instances(), 3);
}

static void test_dry_run(void) {
  NEED_WORLD("staging");
  struct gd_gdrun r;
  int rc = gameday(&r, "run", "--dry-run", NULL);
  if (rc != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(rc, 0);
  const cJSON *a = fault_action(r.journal);
  CU_ASSERT_PTR_NOT_NULL(a);
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(a, "message"), "would terminate i-0"));
  CU_ASSERT_TRUE(cJSON_IsTrue(gd_jget(a, "detail.dry_run")));
  CU_ASSERT_EQUAL(cJSON_GetArraySize(gd_jget(a, "detail.instances")), 1);
  gd_gdrun_free(&r);
  /* The probes sampled the endpoint, the fault resolved, nothing
   * changed. */
  CU_ASSERT(gd_awsep_count(S.ep, "autoscaling", "DescribeAutoScalingGroups") >
            1);
  CU_ASSERT(gd_awsep_count(S.ep, "elasticloadbalancing",
                           "DescribeTargetHealth") >= 1);
  CU_ASSERT_EQUAL(gd_awsep_count(S.ep, "ec2", "TerminateInstances"), 0);
  CU_ASSERT_EQUAL(gd_awsep_mutations(S.ep), 0);
  CU_ASSERT_EQUAL(running_instances(), 3);
}

static void test_real_run(void) {
  NEED_WORLD("staging");
  struct gd_gdrun r;
  int rc = gameday(&r, "run", NULL);
  if (rc != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(rc, 0);
  const cJSON *j = r.journal;
  CU_ASSERT_STRING_EQUAL(gd_jstr(j, "verdict"), "pass");
  const cJSON *a = fault_action(j);
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  CU_ASSERT_TRUE(cJSON_IsTrue(gd_jget(a, "ok")));
  CU_ASSERT_EQUAL(cJSON_GetArraySize(gd_jget(a, "detail.instances")), 1);
  const char *victim = gd_jstr(a, "detail.instances.0.id");
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(a, "message"), "terminated i-0"));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(a, "message"), victim));
  CU_ASSERT_STRING_EQUAL(gd_jstr(a, "detail.instances.0.current_state"),
                         "shutting-down");
  /* Capacity dipped and came back; its recovery_ms is the time to full
   * capacity, after the group's replacement delays (0.4 s here). */
  CU_ASSERT_TRUE(gd_jfailed_then_recovered(j, "capacity"));
  double cap_ms = gd_jnum(j, "probes.capacity.figures.recovery_ms");
  if (!(cap_ms >= 300 && cap_ms < 10000)) printf("\n    capacity %g ms ", cap_ms);
  CU_ASSERT(cap_ms >= 300 && cap_ms < 10000);
  /* Every threshold judged and passed. */
  CU_ASSERT_EQUAL(cJSON_GetArraySize(gd_jget(j, "thresholds")), 3);
  const cJSON *t;
  cJSON_ArrayForEach(t, gd_jget(j, "thresholds")) {
    CU_ASSERT_TRUE(cJSON_IsTrue(gd_jget(t, "pass")));
  }
  /* Exactly the one, on the wire and in the world. */
  CU_ASSERT_EQUAL(gd_awsep_count(S.ep, "ec2", "TerminateInstances"), 1);
  cJSON *in = gd_awsep_get(S.ep, "instances", victim);
  CU_ASSERT_PTR_NOT_NULL(in);
  if (in)
    CU_ASSERT_STRING_NOT_EQUAL(
        cJSON_GetStringValue(cJSON_GetObjectItem(in, "state")), "running");
  cJSON_Delete(in);
  CU_ASSERT_EQUAL(running_instances(), 3); /* two old, one replacement */
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(S.ep), 0);
  gd_gdrun_free(&r);
}

static void test_refused(void) {
  /* Not one instance carries Environment: nothing may be touched. */
  NEED_WORLD("");
  struct gd_gdrun r;
  int rc = gameday(&r, "plan", NULL);
  CU_ASSERT_NOT_EQUAL(rc, 0);
  const char *o = out_of(&r);
  if (!strstr(o, "missing required tag Environment=staging"))
    gd_gdrun_dump(&r);
  CU_ASSERT_PTR_NOT_NULL(strstr(o, "now: REFUSED: target '" IA
                                   "': missing required tag "
                                   "Environment=staging; nothing terminated"));
  gd_gdrun_free(&r);

  rc = gameday(&r, "run", NULL);
  /* The fault could not be injected: the run is aborted (3) after the
   * steady state, rollback run, nothing terminated. */
  if (rc != 3) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(rc, 3);
  CU_ASSERT_STRING_NOT_EQUAL(gd_jstr(r.journal, "verdict"), "pass");
  const cJSON *a = fault_action(r.journal);
  CU_ASSERT_PTR_NOT_NULL(a);
  CU_ASSERT_FALSE(cJSON_IsTrue(gd_jget(a, "ok")));
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(a, "message"),
                                "target '" IA "': missing required tag "
                                "Environment=staging"));
  CU_ASSERT_PTR_NOT_NULL(strstr(out_of(&r), "missing required tag "
                                            "Environment=staging"));
  gd_gdrun_free(&r);
  CU_ASSERT_EQUAL(gd_awsep_count(S.ep, "ec2", "TerminateInstances"), 0);
  CU_ASSERT_EQUAL(gd_awsep_mutations(S.ep), 0);
  CU_ASSERT_EQUAL(running_instances(), 3);

  /* Another environment's instances: the tag is there, with the wrong
   * value. */
  load_world("prod");
  rc = gameday(&r, "run", "--dry-run", NULL);
  CU_ASSERT_NOT_EQUAL(rc, 0);
  a = fault_action(r.journal);
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(a, "message"),
                                "tag Environment is 'prod', required "
                                "'staging'"));
  gd_gdrun_free(&r);
  CU_ASSERT_EQUAL(gd_awsep_mutations(S.ep), 0);
}


/* ------------------------------------------------------------------ */
/* queue-backlog against fauxqs, drained by the local stack's worker */

/* Visible plus in flight, or -1. */
static long queue_depth(const char *url) {
  char params[1024];
  snprintf(params, sizeof params,
           "{\"QueueUrl\":\"%s\",\"AttributeNames\":[\"All\"]}", url);
  cJSON *j = gd_fauxqs_sqs_text("GetQueueAttributes", params);
  const cJSON *at = cJSON_GetObjectItem(j, "Attributes");
  const char *v = cJSON_GetStringValue(
      cJSON_GetObjectItem(at, "ApproximateNumberOfMessages"));
  const char *h = cJSON_GetStringValue(
      cJSON_GetObjectItem(at, "ApproximateNumberOfMessagesNotVisible"));
  long n = v && h ? atol(v) + atol(h) : -1;
  cJSON_Delete(j);
  return n;
}

/* The distinct "gameday backlog N of TOTAL" lines in the worker's log
 * (MessageId TAB body), and all lines. */
static int processed(const char *log, int total, int *lines) {
  char *text = gd_test_read_file(log);
  char *seen = calloc((size_t)total + 1, 1);
  int distinct = 0;
  *lines = 0;
  for (char *l = text; l && *l;) {
    char *nl = strchr(l, '\n');
    if (nl) *nl = 0;
    char *tab = strchr(l, '\t');
    int n, t;
    (*lines)++;
    if (tab && sscanf(tab + 1, "gameday backlog %d of %d", &n, &t) == 2 &&
        t == total && n >= 1 && n <= total && !seen[n]) {
      seen[n] = 1;
      distinct++;
    }
    l = nl ? nl + 1 : l + strlen(l);
  }
  free(seen);
  free(text);
  return distinct;
}

static int queue_run(struct gd_gdrun *r, const char *url, const char *extra) {
  char json[4200], log[4200];
  int k = ++S.nrun;
  snprintf(json, sizeof json, "%s/run-%02d.json", S.tmp, k);
  snprintf(log, sizeof log, "%s/run-%02d.log", S.tmp, k);
  struct gd_gdrun_args a = {0};
  gd_gdrun_arg(&a, "run");
  gd_gdrun_arg(&a, "%s", gd_test_src("scenarios/aws/queue-backlog.json"));
  gd_gdrun_var(&a, "queue_url=%s", url);
  gd_gdrun_var(&a, "backlog=400");
  gd_gdrun_var(&a, "rate_per_s=2000");
  gd_gdrun_var(&a, "max_depth=20");
  gd_gdrun_var(&a, "depth_interval_ms=50");
  gd_gdrun_var(&a, "steady_ms=300");
  gd_gdrun_var(&a, "stable_ms=500");
  gd_gdrun_var(&a, "recovery_timeout_ms=30000");
  gd_gdrun_var(&a, "max_drain_ms=20000");
  gd_gdrun_arg(&a, "--json");
  gd_gdrun_arg(&a, "%s", json);
  gd_gdrun_arg(&a, "--yes");
  if (extra) gd_gdrun_arg(&a, "%s", extra);
  struct gd_gdrun_io io = {.out = log, .journal = json, .grace_ms = 10000};
  int rc = gd_gdrun(r, a.v, &io, RUN_TIMEOUT_MS);
  gd_gdrun_args_free(&a);
  return rc;
}

static void test_queue_backlog(void) {
  struct gd_fauxqs fq = {0};
  if (gd_fauxqs_start(&fq, S.tmp)) GD_SKIP(fq.why);
  gd_fauxqs_setenv(&fq);
  setenv("AWS_REGION", "us-east-1", 1);

  cJSON *j = gd_fauxqs_sqs_text("CreateQueue", "{\"QueueName\":\"gd-orders\"}");
  char url[512] = "";
  snprintf(url, sizeof url, "%s",
           j ? cJSON_GetStringValue(cJSON_GetObjectItem(j, "QueueUrl")) : "");
  cJSON_Delete(j);
  CU_ASSERT_FATAL(url[0] != 0);

  /* One consumer, 500 messages a second. */
  char dir[4200], wlog[4300];
  snprintf(dir, sizeof dir, "%s/queue", S.tmp);
  snprintf(wlog, sizeof wlog, "%s/processed/worker-1.log", dir);
  char script[4096];
  snprintf(script, sizeof script, "%s",
           gd_test_src("scenarios/local/stack/queue/worker.mjs"));
  char *argv[] = {"/usr/bin/env", "node", script, "--dir", dir,
                  "--name", "worker-1", "--queue-url", url,
                  "--endpoint", fq.url, "--rate", "500", NULL};
  char log[4300];
  snprintf(log, sizeof log, "%s/worker.log", S.tmp);
  pid_t worker = gd_test_spawn(argv, log);
  CU_ASSERT_FATAL(worker > 0);

  /* --dry-run: the flood is only described; nothing reaches the queue. */
  struct gd_gdrun r;
  int rc = queue_run(&r, url, "--dry-run");
  if (rc != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(rc, 0);
  gd_gdrun_free(&r);
  int lines = 0;
  CU_ASSERT_EQUAL(processed(wlog, 400, &lines), 0);
  CU_ASSERT_EQUAL(lines, 0);
  CU_ASSERT_EQUAL(queue_depth(url), 0);

  rc = queue_run(&r, url, NULL);
  if (rc != 0) gd_gdrun_dump(&r);
  CU_ASSERT_EQUAL(rc, 0);
  const cJSON *jr = r.journal;
  CU_ASSERT_STRING_EQUAL(gd_jstr(jr, "verdict"), "pass");
  const cJSON *a = fault_action(jr);
  CU_ASSERT_PTR_NOT_NULL(a);
  CU_ASSERT_PTR_NOT_NULL(strstr(gd_jstr(a, "message"), "sent 400 messages"));
  /* The backlog showed, and drained. */
  double peak = gd_jnum(jr, "probes.depth.figures.peak_depth");
  double drain = gd_jnum(jr, "probes.depth.figures.drain_ms");
  if (!(peak > 20 && peak <= 400) || !(drain > 0 && drain < 20000))
    printf("\n    peak %g, drain %g ms ", peak, drain);
  CU_ASSERT(peak > 20 && peak <= 400);
  CU_ASSERT(drain > 0 && drain < 20000);
  /* The drain is the same instant the recovery figure saw. */
  CU_ASSERT(fabs(drain - gd_jnum(jr, "probes.depth.figures.recovery_ms")) <=
            100);
  CU_ASSERT_TRUE(gd_jfailed_then_recovered(jr, "depth"));
  gd_gdrun_free(&r);
  /* Every message was processed (a message is logged before it is
   * deleted, and the depth, in flight included, came back to 0). */
  CU_ASSERT_EQUAL(queue_depth(url), 0);
  CU_ASSERT_EQUAL(processed(wlog, 400, &lines), 400);

  gd_test_kill(worker);
  gd_fauxqs_stop(&fq);
  unsetenv("AWS_ENDPOINT_URL_SQS");
  if (S.ep) gd_awsep_setenv(S.ep);
}

/* ------------------------------------------------------------------ */

static void setup(void) {
  S.tmp = gd_test_tmpdir();
  gd_awsenv_begin(S.tmp);
  S.ep = gd_awsep_start(NULL);
  if (S.ep) gd_awsep_setenv(S.ep);
  S.lb_up = gd_httpd_start(&S.lb, GD_HTTPD_ANSWER, 200, NULL) == 0;
}

static void teardown(void) {
  if (S.lb_up) gd_httpd_stop(&S.lb);
  if (S.ep) gd_awsep_stop(S.ep);
  gd_awsenv_end();
  gd_test_rmrf(S.tmp);
  free(S.tmp);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"instance-termination: plan resolves the instance", test_plan},
      {"instance-termination: run --dry-run mutates nothing", test_dry_run},
      {"instance-termination: a real run passes", test_real_run},
      {"instance-termination: untagged fleet refused, nothing touched",
       test_refused},
      {"queue-backlog: flood, peak and drain (fauxqs)", test_queue_backlog},
      {NULL, NULL},
  };
  setup();
  int rc = gd_test_run("aws_scenarios", tests);
  teardown();
  return rc;
}

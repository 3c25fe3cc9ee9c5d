/* The EC2 / Auto Scaling / ELBv2 kinds against the test AWS endpoint
 * (tests/awsep.h, in process, loopback, SigV4 checked on every request):
 * aws.ec2.terminate_instances (selection by count, percent and all; from a
 * list, a group or tags; the safety rules: required tags, the target cap;
 * dry run; AWS errors), the probes aws.autoscaling.in_service and
 * aws.elbv2.healthy_targets through a termination and the group's
 * replacement, and aws.call. What the kinds did is judged by the
 * endpoint's call log and world, not by what they say they did. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "awsep.h"
#include "awsmeta.h"
#include "gameday/action.h"
#include "gameday/curl.h"
#include "gameday/probe.h"
#include "gameday/scenario.h"
#include "proberun.h"
#include "testutil.h"

#define IA "i-0a00000000000000a"
#define IB "i-0b00000000000000b"
#define IC "i-0c00000000000000c"
#define IP "i-0d00000000000000d" /* Role=web but Environment=prod */
#define IN "i-0e00000000000000e" /* Role=web, no Environment tag */
#define TG_ARN                                                                \
  "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/"     \
  "73e2d6bc24d8a067"

/* Three web instances in the group behind the target group, all staging;
 * two more with Role=web outside it that the safety rules must keep out.
 * Short delays: the group replaces a terminated instance in about 0.4 s,
 * the target group has it healthy about 0.3 s later. */
static const char fixture[] =
    "{'delays_ms': {'shutting_down': 100, 'replace': 100, 'pending': 300,"
    "   'target_initial': 300, 'draining': 100},"
    " 'instances': ["
    "  {'id': '" IA "', 'az': 'eu-west-1a', 'asg': 'web-asg',"
    "   'tags': {'Environment': 'staging', 'Role': 'web',"
    "            'aws:autoscaling:groupName': 'web-asg'}},"
    "  {'id': '" IB "', 'az': 'eu-west-1b', 'asg': 'web-asg',"
    "   'tags': {'Environment': 'staging', 'Role': 'web',"
    "            'aws:autoscaling:groupName': 'web-asg'}},"
    "  {'id': '" IC "', 'az': 'eu-west-1c', 'asg': 'web-asg',"
    "   'tags': {'Environment': 'staging', 'Role': 'web',"
    "            'aws:autoscaling:groupName': 'web-asg'}},"
    "  {'id': '" IP "', 'az': 'eu-west-1a',"
    "   'tags': {'Environment': 'prod', 'Role': 'web'}},"
    "  {'id': '" IN "', 'az': 'eu-west-1b', 'tags': {'Role': 'web'}}],"
    " 'auto_scaling_groups': [{'name': 'web-asg', 'min': 2, 'max': 4,"
    "   'desired': 3, 'azs': ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],"
    "   'health_check_type': 'ELB', 'target_groups': ['" TG_ARN "'],"
    "   'tags': {'Environment': 'staging', 'Role': 'web'}}],"
    " 'target_groups': [{'arn': '" TG_ARN "', 'name': 'web', 'port': 80,"
    "   'protocol': 'HTTP', 'targets': ["
    "    {'id': '" IA "', 'port': 80, 'state': 'healthy'},"
    "    {'id': '" IB "', 'port': 80, 'state': 'healthy'},"
    "    {'id': '" IC "', 'port': 80, 'state': 'healthy'}]}]}";

static struct gd_awsep *ep;
static char *home;

/* ' for " in a spec. */
static char *dq(const char *s) {
  char *t = strdup(s);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  for (char *p = t; *p; p++)
    if (*p == '\'') *p = '"';
  return t;
}

static void world_reset(void) {
  char err[256] = "";
  char *f = dq(fixture);
  int rc = gd_awsep_load(ep, f, err, sizeof err);
  free(f);
  if (rc) printf("\n    fixture: %s ", err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  gd_awsep_calls_clear(ep);
}

#define NEED_EP()                                                             \
  do {                                                                        \
    if (!ep) GD_SKIP("the test AWS endpoint did not start");                 \
    world_reset();                                                            \
  } while (0)

/* A scenario as the loader leaves it, for the safety rules: environment
 * staging, Environment=staging required, max_targets (0: not given). */
static struct gd_tag staging_tag[] = {{"Environment", "staging"}};
static struct gd_scenario staging(size_t max_targets) {
  struct gd_scenario sc;
  memset(&sc, 0, sizeof sc);
  sc.name = "t";
  sc.environment = "staging";
  sc.required_tags = staging_tag;
  sc.nrequired_tags = 1;
  sc.max_targets = max_targets;
  return sc;
}

/* ------------------------------------------------------------------ */
/* Running an action */

struct arun {
  struct gd_action a;
  int calls;
  int start_rc;
  char start_msg[GD_ERROR_MAX];
};

static void arun_done(struct gd_action *a, void *arg) {
  (void)a;
  ((struct arun *)arg)->calls++;
}

static void closed_cb(void *arg) { (*(int *)arg)++; }

/* Inits the spec (' for ") and runs it once on a fresh loop, dry or not,
 * under scenario sc (may be NULL); the caller checks r->a and frees it. */
static void arun_cancel(struct arun *r, const char *spec_text,
                        const struct gd_scenario *sc, int dry_run,
                        int cancel);
static void arun(struct arun *r, const char *spec_text,
                 const struct gd_scenario *sc, int dry_run) {
  arun_cancel(r, spec_text, sc, dry_run, 0);
}

/* The same, cancelled (cancel 1) right after it started: with its first
 * call out. */
static void arun_cancel(struct arun *r, const char *spec_text,
                        const struct gd_scenario *sc, int dry_run,
                        int cancel) {
  struct gd_error err = {0};
  memset(r, 0, sizeof *r);
  char *text = dq(spec_text);
  cJSON *spec = cJSON_Parse(text);
  free(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
  int rc = gd_action_init(&r->a, spec, "fault[0]", &err);
  cJSON_Delete(spec);
  if (rc) printf("\n    init: %s ", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct gd_curl *curl;
  CU_ASSERT_EQUAL_FATAL(gd_curl_new(&loop, &curl, &err), 0);
  r->a.sc = sc;
  r->a.dry_run = dry_run;
  r->start_rc = gd_action_run(&r->a, &loop, curl, arun_done, r, &err);
  if (r->start_rc) snprintf(r->start_msg, sizeof r->start_msg, "%s", err.msg);
  if (!r->start_rc && cancel) gd_action_cancel(&r->a);
  while (r->start_rc == 0 && !r->calls) uv_run(&loop, UV_RUN_ONCE);
  int closed = 0;
  gd_curl_close(curl, closed_cb, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  if (r->start_rc == 0) CU_ASSERT_EQUAL(r->calls, 1);
}

/* The instance ids in the action's detail, comma-joined. */
static const char *chosen(const struct arun *r) {
  static char buf[512];
  size_t pos = 0;
  buf[0] = 0;
  const cJSON *o;
  cJSON_ArrayForEach(o, cJSON_GetObjectItem(r->a.detail, "instances")) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(o, "id"));
    pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "%s%s",
                            pos ? "," : "", id ? id : "?");
    if (pos >= sizeof buf) break;
  }
  return buf;
}

static int nchosen(const struct arun *r) {
  return cJSON_GetArraySize(cJSON_GetObjectItem(r->a.detail, "instances"));
}

/* The world's state of an instance ("running", "shutting-down", ...). */
static const char *state_of(const char *id) {
  static char buf[64];
  cJSON *in = gd_awsep_get(ep, "instances", id);
  snprintf(buf, sizeof buf, "%s",
           in ? cJSON_GetStringValue(cJSON_GetObjectItem(in, "state")) : "-");
  cJSON_Delete(in);
  return buf;
}

/* The wire parameters of the last logged call of that action, or NULL
 * (caller deletes the returned log). */
static const cJSON *last_params(cJSON *log, const char *action) {
  const cJSON *c, *found = NULL;
  cJSON_ArrayForEach(c, log) {
    const char *a = cJSON_GetStringValue(cJSON_GetObjectItem(c, "action"));
    if (a && strcmp(a, action) == 0) found = c;
  }
  return found ? cJSON_GetObjectItem(found, "params") : NULL;
}

static const char *param(const cJSON *params, const char *name) {
  const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(params, name));
  return v ? v : "";
}

#define TERMINATE "{'type':'aws.ec2.terminate_instances',"

/* ------------------------------------------------------------------ */
/* Selection */

static void test_select_count_percent_all(void) {
  NEED_EP();
  struct gd_scenario sc = staging(10);
  struct arun r;
  static const struct {
    const char *select;
    int n;
  } cases[] = {
      {"", 1}, /* default: one at random */
      {",'select':{'count':2}", 2},
      {",'select':{'count':5}", 3}, /* no more than there are */
      {",'select':{'percent':50}", 2}, /* 1.5 rounds up */
      {",'select':{'percent':10}", 1}, /* at least one */
      {",'select':{'percent':100}", 3},
      {",'select':{'mode':'all'}", 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char spec[512];
    snprintf(spec, sizeof spec, TERMINATE "'auto_scaling_group':'web-asg'%s}",
             cases[i].select);
    arun(&r, spec, &sc, 1);
    if (!r.a.ok || nchosen(&r) != cases[i].n)
      printf("\n    %s: %s ", spec, r.a.message);
    CU_ASSERT_TRUE(r.a.ok);
    CU_ASSERT_EQUAL(nchosen(&r), cases[i].n);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "would terminate i-0"));
    CU_ASSERT_EQUAL(
        cJSON_GetNumberValue(cJSON_GetObjectItem(r.a.detail, "candidates")),
        3);
    gd_action_free(&r.a);
  }
  /* first: by instance id, the same every time. */
  arun(&r, TERMINATE "'auto_scaling_group':'web-asg',"
                     "'select':{'mode':'first','count':2}}",
       &sc, 1);
  GD_ASSERT_STR(chosen(&r), IA "," IB);
  GD_ASSERT_STR(r.a.message, "would terminate " IA " (web-asg, eu-west-1a), "
                             IB " (web-asg, eu-west-1b)");
  gd_action_free(&r.a);
  /* random: over a few runs, more than one instance comes up. */
  int seen_a = 0, seen_b = 0, seen_c = 0;
  for (int i = 0; i < 30; i++) {
    arun(&r, TERMINATE "'auto_scaling_group':'web-asg'}", &sc, 1);
    const char *c = chosen(&r);
    seen_a |= strcmp(c, IA) == 0;
    seen_b |= strcmp(c, IB) == 0;
    seen_c |= strcmp(c, IC) == 0;
    gd_action_free(&r.a);
  }
  CU_ASSERT(seen_a + seen_b + seen_c >= 2);
  /* A dry run resolved, and touched nothing. */
  CU_ASSERT(gd_awsep_count(ep, "autoscaling", "DescribeAutoScalingGroups") >
            30);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 0);
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  CU_ASSERT_STRING_EQUAL(state_of(IA), "running");
}

/* ------------------------------------------------------------------ */
/* Terminating */

static void test_terminate_from_group(void) {
  NEED_EP();
  struct gd_scenario sc = staging(0);
  struct arun r;
  arun(&r, TERMINATE "'auto_scaling_group':'web-asg','select':{'mode':"
                     "'first','count':1}}",
       &sc, 0);
  CU_ASSERT_TRUE(r.a.ok);
  GD_ASSERT_STR(r.a.message, "terminated " IA " (web-asg, eu-west-1a)");
  GD_ASSERT_STR(chosen(&r), IA);
  const cJSON *in0 = cJSON_GetArrayItem(
      cJSON_GetObjectItem(r.a.detail, "instances"), 0);
  GD_ASSERT_STR(cJSON_GetStringValue(cJSON_GetObjectItem(in0, "previous_state")),
                "running");
  GD_ASSERT_STR(cJSON_GetStringValue(cJSON_GetObjectItem(in0, "current_state")),
                "shutting-down");
  gd_action_free(&r.a);

  /* On the wire: the group, the instances, then exactly the one. */
  cJSON *log = gd_awsep_calls(ep);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 1);
  const cJSON *p = last_params(log, "DescribeAutoScalingGroups");
  GD_ASSERT_STR(param(p, "AutoScalingGroupNames.member.1"), "web-asg");
  p = last_params(log, "TerminateInstances");
  GD_ASSERT_STR(param(p, "InstanceId.1"), IA);
  CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(p, "InstanceId.2"));
  /* The order: resolve before terminate. */
  GD_ASSERT_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                    cJSON_GetArrayItem(log, cJSON_GetArraySize(log) - 1),
                    "action")),
                "TerminateInstances");
  cJSON_Delete(log);
  CU_ASSERT_STRING_NOT_EQUAL(state_of(IA), "running");
  CU_ASSERT_STRING_EQUAL(state_of(IB), "running");
}

static void test_terminate_by_ids(void) {
  NEED_EP();
  struct gd_scenario sc = staging(2);
  struct arun r;
  arun(&r, TERMINATE "'instance_ids':['" IC "','" IB "']}", &sc, 0);
  CU_ASSERT_TRUE(r.a.ok);
  GD_ASSERT_STR(r.a.message, "terminated " IB " (web-asg, eu-west-1b), " IC
                             " (web-asg, eu-west-1c)");
  gd_action_free(&r.a);
  cJSON *log = gd_awsep_calls(ep);
  const cJSON *p = last_params(log, "DescribeInstances");
  GD_ASSERT_STR(param(p, "InstanceId.1"), IC);
  GD_ASSERT_STR(param(p, "InstanceId.2"), IB);
  p = last_params(log, "TerminateInstances");
  GD_ASSERT_STR(param(p, "InstanceId.1"), IB);
  GD_ASSERT_STR(param(p, "InstanceId.2"), IC);
  cJSON_Delete(log);
  CU_ASSERT_STRING_EQUAL(state_of(IA), "running");

  /* A listed id that does not exist: EC2's error, nothing terminated. */
  gd_awsep_calls_clear(ep);
  arun(&r, TERMINATE "'instance_ids':['i-0f00000000000000f']}", &sc, 0);
  CU_ASSERT_FALSE(r.a.ok);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "InvalidInstanceID.NotFound"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "nothing terminated"));
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 0);
  gd_action_free(&r.a);
}

static void test_tags(void) {
  NEED_EP();
  struct gd_scenario sc = staging(10);
  struct arun r;
  /* Role=web alone finds the prod and the untagged instance too: the
   * whole action is refused, whichever would have been picked. */
  arun(&r, TERMINATE "'tags':{'Role':'web'},'select':{'mode':'all'}}", &sc,
       0);
  CU_ASSERT_FALSE(r.a.ok);
  if (!strstr(r.a.message, IP)) printf("\n    %s ", r.a.message);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "nothing terminated"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "'" IP "'"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "Environment"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "'prod'"));
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 0);
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  gd_action_free(&r.a);
  /* The filters went to EC2. */
  cJSON *log = gd_awsep_calls(ep);
  const cJSON *p = last_params(log, "DescribeInstances");
  GD_ASSERT_STR(param(p, "Filter.1.Name"), "tag:Role");
  GD_ASSERT_STR(param(p, "Filter.1.Value.1"), "web");
  GD_ASSERT_STR(param(p, "Filter.2.Name"), "instance-state-name");
  GD_ASSERT_STR(param(p, "Filter.2.Value.1"), "running");
  cJSON_Delete(log);

  /* Narrowed to staging: the three of the group. */
  arun(&r, TERMINATE "'tags':{'Role':'web','Environment':'staging'},"
                     "'select':{'mode':'all'}}",
       &sc, 1);
  CU_ASSERT_TRUE(r.a.ok);
  GD_ASSERT_STR(chosen(&r), IA "," IB "," IC);
  /* The group comes from the instance's aws:autoscaling:groupName tag. */
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, IA " (web-asg, eu-west-1a)"));
  gd_action_free(&r.a);
}

static void test_refusal_names_target_and_tag(void) {
  NEED_EP();
  struct gd_scenario sc = staging(10);
  struct arun r;
  arun(&r, TERMINATE "'instance_ids':['" IA "','" IN "']}", &sc, 0);
  CU_ASSERT_FALSE(r.a.ok);
  GD_ASSERT_STR(r.a.message, "target '" IN "': missing required tag "
                             "Environment=staging; nothing terminated");
  CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(r.a.detail, "refused"));
  gd_action_free(&r.a);
  /* Refused in a dry run just the same: plan shows it. */
  arun(&r, TERMINATE "'instance_ids':['" IP "']}", &sc, 1);
  CU_ASSERT_FALSE(r.a.ok);
  GD_ASSERT_STR(r.a.message, "target '" IP "': tag Environment is 'prod', "
                             "required 'staging'; nothing terminated");
  gd_action_free(&r.a);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 0);
  CU_ASSERT_STRING_EQUAL(state_of(IA), "running");
  CU_ASSERT_STRING_EQUAL(state_of(IN), "running");
  /* No scenario (a bare action) and a local one require nothing. */
  arun(&r, TERMINATE "'instance_ids':['" IN "']}", NULL, 1);
  CU_ASSERT_TRUE(r.a.ok);
  gd_action_free(&r.a);
}

static void test_cap(void) {
  NEED_EP();
  /* Not local, no max_targets: one target at most. */
  struct gd_scenario sc = staging(0);
  struct arun r;
  arun(&r, TERMINATE "'auto_scaling_group':'web-asg','select':{'count':2}}",
       &sc, 0);
  CU_ASSERT_FALSE(r.a.ok);
  GD_ASSERT_STR(r.a.message,
                "fault[0]: select.count 2 is more than the scenario allows "
                "(safety.max_targets 1); nothing terminated");
  gd_action_free(&r.a);
  arun(&r, TERMINATE "'instance_ids':['" IA "','" IB "']}", &sc, 0);
  CU_ASSERT_FALSE(r.a.ok);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "2 targets listed"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "safety.max_targets 1"));
  gd_action_free(&r.a);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 0);

  /* A share is cut to the cap, and says so. */
  arun(&r, TERMINATE "'auto_scaling_group':'web-asg','select':{'percent':"
                     "100,'mode':'first'}}",
       &sc, 0);
  CU_ASSERT_TRUE(r.a.ok);
  GD_ASSERT_STR(r.a.message, "terminated " IA " (web-asg, eu-west-1a) (3 of "
                             "3 chosen, cut to 1 by safety.max_targets)");
  CU_ASSERT_EQUAL(
      cJSON_GetNumberValue(cJSON_GetObjectItem(r.a.detail, "cut_from")), 3);
  gd_action_free(&r.a);
  cJSON *log = gd_awsep_calls(ep);
  const cJSON *p = last_params(log, "TerminateInstances");
  GD_ASSERT_STR(param(p, "InstanceId.1"), IA);
  CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(p, "InstanceId.2"));
  cJSON_Delete(log);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 1);
}

static void test_dry_run(void) {
  NEED_EP();
  struct gd_scenario sc = staging(3);
  struct arun r;
  arun(&r, TERMINATE "'auto_scaling_group':'web-asg','select':{'mode':'all'}}",
       &sc, 1);
  CU_ASSERT_TRUE(r.a.ok);
  GD_ASSERT_STR(r.a.message, "would terminate " IA " (web-asg, eu-west-1a), "
                             IB " (web-asg, eu-west-1b), " IC
                             " (web-asg, eu-west-1c)");
  CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(r.a.detail, "dry_run")));
  gd_action_free(&r.a);
  CU_ASSERT(gd_awsep_count(ep, "ec2", "DescribeInstances") >= 1);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 0);
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  CU_ASSERT_STRING_EQUAL(state_of(IA), "running");
  CU_ASSERT_STRING_EQUAL(state_of(IB), "running");
  CU_ASSERT_STRING_EQUAL(state_of(IC), "running");
}

static void test_aws_errors(void) {
  NEED_EP();
  struct gd_scenario sc = staging(0);
  struct arun r;
  gd_awsep_fail_next(ep, "ec2", "TerminateInstances", 1, 403,
                     "UnauthorizedOperation", NULL);
  arun(&r, TERMINATE "'auto_scaling_group':'web-asg'}", &sc, 0);
  CU_ASSERT_FALSE(r.a.ok);
  if (!strstr(r.a.message, "UnauthorizedOperation"))
    printf("\n    %s ", r.a.message);
  CU_ASSERT_PTR_NOT_NULL(
      strstr(r.a.message, "ec2 TerminateInstances: UnauthorizedOperation"));
  GD_ASSERT_STR(
      cJSON_GetStringValue(cJSON_GetObjectItem(r.a.detail, "aws_code")),
      "UnauthorizedOperation");
  gd_action_free(&r.a);
  CU_ASSERT_STRING_EQUAL(state_of(IA), "running");

  arun(&r, TERMINATE "'auto_scaling_group':'no-such-asg'}", &sc, 0);
  CU_ASSERT_FALSE(r.a.ok);
  GD_ASSERT_STR(r.a.message, "auto scaling group 'no-such-asg' not found");
  gd_action_free(&r.a);

  /* Throttled twice: the client's retries carry it through. */
  gd_awsep_fail_next(ep, "autoscaling", NULL, 2, 400, "Throttling", NULL);
  arun(&r, TERMINATE "'auto_scaling_group':'web-asg'}", &sc, 1);
  CU_ASSERT_TRUE(r.a.ok);
  gd_action_free(&r.a);
  /* The refused one of the start is all: a refused call is logged too. */
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 1);
}

static void test_cancel(void) {
  NEED_EP();
  struct gd_scenario sc = staging(0);
  struct arun r;
  arun_cancel(&r, TERMINATE "'auto_scaling_group':'web-asg'}", &sc, 0, 1);
  CU_ASSERT_EQUAL(r.start_rc, 0);
  CU_ASSERT_FALSE(r.a.ok);
  CU_ASSERT_TRUE(r.a.cancelled);
  GD_ASSERT_STR(r.a.message, "cancelled before anything was terminated");
  gd_action_free(&r.a);
  arun_cancel(&r,
              "{'type':'aws.call','service':'ec2','operation':"
              "'DescribeInstances','read_only':true}",
              NULL, 0, 1);
  CU_ASSERT_FALSE(r.a.ok);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "cancelled"));
  gd_action_free(&r.a);
  usleep(100000); /* anything that did get out has been answered */
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 0);
  CU_ASSERT_STRING_EQUAL(state_of(IA), "running");
}

/* ------------------------------------------------------------------ */
/* Probes */

static const char asg_probe[] =
    "{'type':'aws.autoscaling.in_service','auto_scaling_group':'web-asg',"
    "'interval_ms':50,'timeout_ms':2000%s}";
static const char tg_probe[] =
    "{'type':'aws.elbv2.healthy_targets','target_group_arn':'" TG_ARN "',"
    "'interval_ms':50,'timeout_ms':2000%s}";

static void probe(struct gd_proberun *o, const char *fmt, const char *extra,
                  int want, int max_ms, char *desc, size_t dn) {
  char spec[1024];
  snprintf(spec, sizeof spec, fmt, extra);
  char *t = dq(spec);
  gd_proberun(t, want, max_ms, o, desc, dn);
  free(t);
}

/* Index of the first result of class ok (want_ok) or not, from i; -1. */
static int find(const struct gd_proberun *o, int from, int want_ok) {
  for (int i = from; i < o->n && i < GD_PROBERUN_MAX; i++)
    if ((o->cls[i] == GD_SAMPLE_OK) == want_ok) return i;
  return -1;
}

static void test_probes_through_replacement(void) {
  NEED_EP();
  static struct gd_proberun o;
  char desc[256];
  probe(&o, asg_probe, "", 2, 3000, desc, sizeof desc);
  CU_ASSERT_EQUAL_FATAL(o.n, 2);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_OK);
  GD_ASSERT_STR(o.detail[0], "3/3 InService");
  GD_ASSERT_STR(desc, "auto scaling group 'web-asg': InService and Healthy "
                      ">= desired capacity");
  probe(&o, tg_probe, ",'all':true", 1, 3000, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_OK);
  GD_ASSERT_STR(o.detail[0], "3/3 healthy");

  struct gd_scenario sc = staging(0);
  struct arun r;
  arun(&r, TERMINATE "'auto_scaling_group':'web-asg','select':{'mode':"
                     "'first'}}",
       &sc, 0);
  CU_ASSERT_TRUE_FATAL(r.a.ok);
  gd_action_free(&r.a);

  /* Short of capacity at once, full again when the replacement is
   * InService (about 0.4 s with the fixture's delays). */
  probe(&o, asg_probe, "", 0, 1500, NULL, 0);
  CU_ASSERT_NOT_EQUAL_FATAL(o.n, 0);
  CU_ASSERT_NOT_EQUAL(o.cls[0], GD_SAMPLE_OK);
  if (o.cls[0] != GD_SAMPLE_OK)
    CU_ASSERT_PTR_NOT_NULL(strstr(o.detail[0], "2/3 InService"));
  int back = find(&o, 0, 1);
  if (back < 0) printf("\n    never back: %s ", o.detail[o.n - 1]);
  CU_ASSERT(back > 0);
  if (back > 0) GD_ASSERT_STR(o.detail[back], "3/3 InService");
  CU_ASSERT_EQUAL(find(&o, back > 0 ? back : 0, 0), -1); /* stays ok */

  /* The load balancer: at least one healthy target throughout; all of
   * them only once the replacement's target is healthy too. */
  probe(&o, tg_probe, "", 3, 2000, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_OK);
  probe(&o, tg_probe, ",'all':true", 0, 2000, NULL, 0);
  CU_ASSERT_NOT_EQUAL_FATAL(o.n, 0);
  int last = o.n - 1;
  CU_ASSERT_EQUAL(o.cls[last], GD_SAMPLE_OK);
  GD_ASSERT_STR(o.detail[last], "3/3 healthy");

  /* The world agrees: three InService again, one of them new. */
  cJSON *g = gd_awsep_get(ep, "instances", IA);
  CU_ASSERT_STRING_NOT_EQUAL(
      g ? cJSON_GetStringValue(cJSON_GetObjectItem(g, "state")) : "", "running");
  cJSON_Delete(g);
}

static void test_probe_thresholds(void) {
  NEED_EP();
  static struct gd_proberun o;
  /* min below what is there: ok; above: not, with the counts. */
  probe(&o, asg_probe, ",'min':2", 1, 3000, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_OK);
  probe(&o, asg_probe, ",'min':4", 1, 3000, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_MISMATCH);
  GD_ASSERT_STR(o.detail[0], "3/3 InService, need 4");

  CU_ASSERT_EQUAL(gd_awsep_set_target(ep, IB, "unhealthy"), 0);
  probe(&o, tg_probe, ",'min_healthy':3", 1, 3000, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_MISMATCH);
  GD_ASSERT_STR(o.detail[0], "2/3 healthy (" IB " unhealthy)");
  probe(&o, tg_probe, ",'min_healthy':2", 1, 3000, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(gd_awsep_set_target(ep, IA, "unhealthy"), 0);
  CU_ASSERT_EQUAL(gd_awsep_set_target(ep, IC, "unhealthy"), 0);
  probe(&o, tg_probe, "", 1, 3000, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_MISMATCH);

  /* AWS errors are the sample's failure, with the code. */
  probe(&o,
        "{'type':'aws.elbv2.healthy_targets','target_group_arn':"
        "'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/"
        "nope/0000000000000000','interval_ms':50,'timeout_ms':2000%s}",
        "", 1, 3000, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_ERROR);
  CU_ASSERT_PTR_NOT_NULL(strstr(o.detail[0], "TargetGroupNotFound"));
  probe(&o,
        "{'type':'aws.autoscaling.in_service','auto_scaling_group':'nope',"
        "'interval_ms':50,'timeout_ms':2000%s}",
        "", 1, 3000, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_MISMATCH);
  GD_ASSERT_STR(o.detail[0], "auto scaling group 'nope' not found");
  gd_awsep_fail_next(ep, "autoscaling", NULL, 1, 400, "Throttling", NULL);
  probe(&o, asg_probe, "", 2, 3000, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_ERROR);
  CU_ASSERT_PTR_NOT_NULL(strstr(o.detail[0], "Throttling"));
  CU_ASSERT_EQUAL(o.cls[1], GD_SAMPLE_OK);
}

/* ------------------------------------------------------------------ */
/* aws.call */

static void test_aws_call(void) {
  NEED_EP();
  struct arun r;
  arun(&r,
       "{'type':'aws.call','service':'ec2','operation':'DescribeInstances',"
       "'parameters':{'InstanceId':['" IA "']},'read_only':true}",
       NULL, 1);
  CU_ASSERT_TRUE(r.a.ok);
  if (!r.a.ok) printf("\n    %s ", r.a.message);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "ec2 DescribeInstances: ok "
                                             "(request "));
  const char *rid =
      cJSON_GetStringValue(cJSON_GetObjectItem(r.a.detail, "request_id"));
  CU_ASSERT_PTR_NOT_NULL(rid);
  if (rid) CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, rid));
  const char *ans =
      cJSON_GetStringValue(cJSON_GetObjectItem(r.a.detail, "answer"));
  CU_ASSERT_PTR_NOT_NULL(ans);
  if (ans) CU_ASSERT_PTR_NOT_NULL(strstr(ans, IA));
  gd_action_free(&r.a);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "DescribeInstances"), 1);

  /* Mutating (not marked read only): a dry run does not call it. */
  arun(&r,
       "{'type':'aws.call','service':'ec2','operation':'TerminateInstances',"
       "'parameters':{'InstanceId':['" IB "']}}",
       NULL, 1);
  CU_ASSERT_TRUE(r.a.ok);
  CU_ASSERT_PTR_NOT_NULL(
      strstr(r.a.message, "would call ec2 TerminateInstances"));
  gd_action_free(&r.a);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 0);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, NULL, NULL), 1);

  /* For real. */
  arun(&r,
       "{'type':'aws.call','service':'ec2','operation':'TerminateInstances',"
       "'parameters':{'InstanceId':['" IB "']}}",
       NULL, 0);
  CU_ASSERT_TRUE(r.a.ok);
  gd_action_free(&r.a);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "TerminateInstances"), 1);
  CU_ASSERT_STRING_NOT_EQUAL(state_of(IB), "running");

  /* An error: the code in the message; expected, it is ok. */
  arun(&r,
       "{'type':'aws.call','service':'ec2','operation':'TerminateInstances',"
       "'parameters':{'InstanceId':['i-0f00000000000000f']}}",
       NULL, 0);
  CU_ASSERT_FALSE(r.a.ok);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "ec2 TerminateInstances: "
                                             "InvalidInstanceID.NotFound"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "(request "));
  gd_action_free(&r.a);
  arun(&r,
       "{'type':'aws.call','service':'ec2','operation':'TerminateInstances',"
       "'parameters':{'InstanceId':['i-0f00000000000000f']},"
       "'expect':{'error_code':'InvalidInstanceID.NotFound'}}",
       NULL, 0);
  CU_ASSERT_TRUE(r.a.ok);
  CU_ASSERT_PTR_NOT_NULL(strstr(
      r.a.message, "failed with InvalidInstanceID.NotFound as expected"));
  gd_action_free(&r.a);
  arun(&r,
       "{'type':'aws.call','service':'autoscaling','operation':"
       "'DescribeAutoScalingGroups','read_only':true,"
       "'expect':{'error_code':'ValidationError'}}",
       NULL, 0);
  CU_ASSERT_FALSE(r.a.ok);
  CU_ASSERT_PTR_NOT_NULL(
      strstr(r.a.message, "succeeded, expected error ValidationError"));
  gd_action_free(&r.a);
}

/* ------------------------------------------------------------------ */
/* Load-time errors */

static const char *action_error(const char *json) {
  static struct gd_error err;
  char *text = dq(json);
  cJSON *spec = cJSON_Parse(text);
  free(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
  struct gd_action a;
  memset(&err, 0, sizeof err);
  int rc = gd_action_init(&a, spec, "fault[1]", &err);
  cJSON_Delete(spec);
  CU_ASSERT_NOT_EQUAL(rc, 0);
  if (rc == 0) gd_action_free(&a);
  return err.msg;
}

static void test_load_errors(void) {
  GD_ASSERT_STR(action_error(TERMINATE "'instance_ids':['" IA "'],"
                                       "'auto_scaling_group':'web'}"),
                "fault[1]: give exactly one of instance_ids, "
                "auto_scaling_group or tags");
  GD_ASSERT_STR(action_error(TERMINATE "'region':'eu-west-1'}"),
                "fault[1]: give exactly one of instance_ids, "
                "auto_scaling_group or tags");
  GD_ASSERT_STR(action_error(TERMINATE "'instance_ids':['web-1']}"),
                "fault[1].instance_ids[0]: not an instance id 'web-1' "
                "(expected i-0123456789abcdef0)");
  GD_ASSERT_STR(action_error(TERMINATE "'tags':{}}"),
                "fault[1].tags: must name at least one tag, like {\"Role\": "
                "\"web\"}");
  GD_ASSERT_STR(action_error(TERMINATE "'tags':{'Role':3}}"),
                "fault[1].tags.Role: must be a string");
  GD_ASSERT_STR(action_error(TERMINATE "'auto_scaling_group':'w',"
                                       "'select':{'mode':'some'}}"),
                "fault[1].select.mode: unknown mode 'some' (random, first or "
                "all)");
  GD_ASSERT_STR(action_error(TERMINATE "'auto_scaling_group':'w',"
                                       "'select':{'count':1,'percent':5}}"),
                "fault[1].select: give count or percent, not both");
  GD_ASSERT_STR(action_error(TERMINATE "'auto_scaling_group':'w',"
                                       "'select':{'mode':'all','count':1}}"),
                "fault[1].select: mode 'all' takes neither count nor percent");
  GD_ASSERT_STR(action_error(TERMINATE "'auto_scaling_group':'w',"
                                       "'select':{'cuont':1}}"),
                "fault[1].select: unknown key 'cuont'");
  GD_ASSERT_STR(action_error(TERMINATE "'auto_scaling_group':'w',"
                                       "'asg':'x'}"),
                "fault[1]: unknown key 'asg'");
  GD_ASSERT_STR(action_error("{'type':'aws.call','service':'ec3',"
                             "'operation':'X'}"),
                "fault[1].service: unknown service 'ec3' (the endpoint "
                "prefix: ec2, autoscaling, elasticloadbalancing, rds, "
                "monitoring, sqs, ...)");
  GD_ASSERT_STR(action_error("{'type':'aws.call','service':'ec2',"
                             "'operation':'describe-instances'}"),
                "fault[1].operation: not an operation name "
                "'describe-instances' (like 'StopInstances')");
  GD_ASSERT_STR(action_error("{'type':'aws.call','service':'ec2',"
                             "'operation':'X','expect':{'status':1}}"),
                "fault[1].expect: unknown key 'status'");
  GD_ASSERT_STR(action_error("{'type':'aws.call','service':'ec2',"
                             "'operation':'X','parameters':{'A':{'':1}}}"),
                "fault[1].parameters.A: empty name");

  char *t = dq("{'type':'aws.elbv2.healthy_targets','target_group_arn':"
               "'web','interval_ms':50,'timeout_ms':100}");
  GD_ASSERT_STR(gd_proberun_init_error(t),
                "probes.t.target_group_arn: not a target group arn 'web' "
                "(expected arn:aws:elasticloadbalancing:REGION:ACCOUNT:"
                "targetgroup/NAME/ID)");
  free(t);
  t = dq("{'type':'aws.elbv2.healthy_targets','target_group_arn':'" TG_ARN
         "','all':true,'min_healthy':2,'interval_ms':50,'timeout_ms':100}");
  GD_ASSERT_STR(gd_proberun_init_error(t),
                "probes.t: give min_healthy or all, not both");
  free(t);
  t = dq("{'type':'aws.autoscaling.in_service','interval_ms':50,"
         "'timeout_ms':100}");
  GD_ASSERT_STR(gd_proberun_init_error(t),
                "probes.t.auto_scaling_group: required key missing");
  free(t);
}

/* ------------------------------------------------------------------ */

static void setup(void) {
  home = gd_test_tmpdir();
  gd_awsenv_begin(home);
  ep = gd_awsep_start(NULL);
  if (ep) gd_awsep_setenv(ep);
}

static void teardown(void) {
  if (ep) gd_awsep_stop(ep);
  ep = NULL;
  gd_awsenv_end();
  gd_test_rmrf(home);
  free(home);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"select: count, percent (rounded up), all, first, random",
       test_select_count_percent_all},
      {"terminate from an auto scaling group", test_terminate_from_group},
      {"terminate listed instances", test_terminate_by_ids},
      {"targets by tags, and a mixed fleet refused", test_tags},
      {"refusal names the target and the tag", test_refusal_names_target_and_tag},
      {"the target cap: counts refused, shares cut", test_cap},
      {"dry run resolves and terminates nothing", test_dry_run},
      {"AWS errors surface with their code", test_aws_errors},
      {"cancelled before anything is terminated", test_cancel},
      {"probes through a termination and its replacement",
       test_probes_through_replacement},
      {"probe limits and errors", test_probe_thresholds},
      {"aws.call", test_aws_call},
      {"load-time errors", test_load_errors},
      {NULL, NULL},
  };
  setup();
  int rc = gd_test_run("aws_ec2", tests);
  teardown();
  return rc;
}

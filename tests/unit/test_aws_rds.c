/* The RDS kinds against the test AWS endpoint (tests/awsep.h: SigV4
 * checked, RDS's wire format, a world where a failover, a restore or a
 * delete takes time): the failover moves the writer and the cluster probe
 * sees it happen; the safety refusal names the cluster and the tag and no
 * FailoverDBCluster reaches the endpoint; a dry run changes nothing; a
 * restore creates the cluster and its instance and waits for both; the
 * delete refuses a cluster gameday did not create, and deletes one it did;
 * AWS error codes come through in the message. Credentials are the
 * endpoint's, IMDS is off: nothing leaves 127.0.0.1. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awsep.h"
#include "awsmeta.h"
#include "gameday/action.h"
#include "gameday/curl.h"
#include "gameday/probe.h"
#include "gameday/scenario.h"
#include "proberun.h"
#include "testutil.h"

static struct gd_awsep *ep;
static char *home;
static struct gd_scenario *staging; /* requires Environment=staging */

static const char *const FIXTURE =
    "{\"delays_ms\": {\"failover\": 400, \"reboot\": 300, \"create\": 300,"
    "                 \"delete\": 200},"
    " \"db_clusters\": ["
    "  {\"id\": \"staging-aurora\", \"status\": \"available\","
    "   \"engine\": \"aurora-postgresql\","
    "   \"tags\": {\"Environment\": \"staging\"},"
    "   \"members\": [{\"id\": \"staging-aurora-1\", \"writer\": true},"
    "                 {\"id\": \"staging-aurora-2\", \"writer\": false}]},"
    "  {\"id\": \"prod-aurora\", \"status\": \"available\","
    "   \"engine\": \"aurora-postgresql\","
    "   \"tags\": {\"Environment\": \"prod\"},"
    "   \"members\": [{\"id\": \"prod-aurora-1\", \"writer\": true},"
    "                 {\"id\": \"prod-aurora-2\", \"writer\": false}]},"
    "  {\"id\": \"handmade\", \"status\": \"available\","
    "   \"engine\": \"aurora-postgresql\","
    "   \"tags\": {\"Environment\": \"staging\"},"
    "   \"members\": [{\"id\": \"handmade-1\", \"writer\": true}]}],"
    " \"db_instances\": ["
    "  {\"id\": \"staging-aurora-1\", \"cluster\": \"staging-aurora\","
    "   \"writer\": true, \"tags\": {\"Environment\": \"staging\"}},"
    "  {\"id\": \"staging-aurora-2\", \"cluster\": \"staging-aurora\","
    "   \"writer\": false, \"tags\": {\"Environment\": \"staging\"}},"
    "  {\"id\": \"prod-aurora-1\", \"cluster\": \"prod-aurora\","
    "   \"writer\": true, \"tags\": {\"Environment\": \"prod\"}},"
    "  {\"id\": \"prod-aurora-2\", \"cluster\": \"prod-aurora\","
    "   \"writer\": false, \"tags\": {\"Environment\": \"prod\"}},"
    "  {\"id\": \"handmade-1\", \"cluster\": \"handmade\","
    "   \"writer\": true, \"tags\": {\"Environment\": \"staging\"}}]}";

/* A fresh world and call log for each test. */
static void reset(void) {
  char why[256];
  int rc = gd_awsep_load(ep, FIXTURE, why, sizeof why);
  if (rc) printf("\n    fixture: %s ", why);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  gd_awsep_calls_clear(ep);
}

#define NEED_EP()                                                             \
  do {                                                                        \
    if (!ep) GD_SKIP("the test AWS endpoint did not start");                  \
    reset();                                                                  \
  } while (0)

/* The writer of a cluster in the endpoint's world, "" when none. */
static void world_writer(const char *cluster, char *buf, size_t n) {
  buf[0] = 0;
  cJSON *w = gd_awsep_lock(ep);
  const cJSON *i;
  cJSON_ArrayForEach(i, cJSON_GetObjectItem(w, "db_instances")) {
    if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(i, "cluster")) ?: "",
               cluster) == 0 &&
        cJSON_IsTrue(cJSON_GetObjectItem(i, "writer")))
      snprintf(buf, n, "%s",
               cJSON_GetStringValue(cJSON_GetObjectItem(i, "id")));
  }
  gd_awsep_unlock(ep);
}

/* The value of a wire parameter of the last call of action, "" if none. */
static void last_param(const char *action, const char *name, char *buf,
                       size_t n) {
  buf[0] = 0;
  cJSON *calls = gd_awsep_calls(ep);
  const cJSON *c;
  cJSON_ArrayForEach(c, calls) {
    if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "action")) ?: "",
               action) != 0)
      continue;
    const char *v = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(c, "params"), name));
    snprintf(buf, n, "%s", v ? v : "");
  }
  cJSON_Delete(calls);
}

/* ------------------------------------------------------------------ */
/* One action, and optionally one probe, on a loop of their own */

#define PMAX 128
struct rig {
  uv_loop_t loop;
  struct gd_curl *curl;
  struct gd_action a;
  struct gd_probe p;
  int have_probe, probe_stopped, curl_closed;
  uv_timer_t start_t, cancel_t, stop_t;
  int action_done, start_rc;
  char start_msg[GD_ERROR_MAX];
  int stop_after_ok; /* probe: stop after this many ok samples past the
                        action's end */
  int ok_after;
  int n;
  enum gd_sample_class cls[PMAX];
  char detail[PMAX][160];
};

static void spec_fix(char *text) {
  for (char *p = text; *p; p++)
    if (*p == '\'') *p = '"';
}

static void rig_curl_closed(void *arg) { ((struct rig *)arg)->curl_closed = 1; }

static void rig_probe_stopped(struct gd_probe *p, void *arg) {
  struct rig *r = arg;
  (void)p;
  r->probe_stopped = 1;
}

static void rig_stop(uv_timer_t *t) {
  struct rig *r = t->data;
  if (r->have_probe && !r->probe_stopped)
    gd_probe_stop(&r->p, rig_probe_stopped, r);
}

static void rig_result(struct gd_probe *p, const struct gd_sample_result *s,
                       void *arg) {
  struct rig *r = arg;
  (void)p;
  if (r->n < PMAX) {
    r->cls[r->n] = s->cls;
    snprintf(r->detail[r->n], sizeof r->detail[0], "%s", s->detail);
    r->n++;
  }
  if (r->action_done && s->cls == GD_SAMPLE_OK &&
      ++r->ok_after >= r->stop_after_ok)
    uv_timer_start(&r->stop_t, rig_stop, 0, 0);
}

static void rig_done(struct gd_action *a, void *arg) {
  struct rig *r = arg;
  (void)a;
  r->action_done = 1;
  uv_timer_stop(&r->cancel_t);
  if (!r->have_probe) uv_timer_start(&r->stop_t, rig_stop, 0, 0);
}

static void rig_cancel(uv_timer_t *t) {
  struct rig *r = t->data;
  gd_action_cancel(&r->a);
}

static void rig_start(uv_timer_t *t) {
  struct rig *r = t->data;
  struct gd_error err = {0};
  r->start_rc = gd_action_run(&r->a, &r->loop, r->curl, rig_done, r, &err);
  if (r->start_rc) {
    snprintf(r->start_msg, sizeof r->start_msg, "%s", err.msg);
    r->action_done = 1;
    uv_timer_stop(&r->cancel_t);
    uv_timer_start(&r->stop_t, rig_stop, 0, 0);
  }
}

/* Runs the action (spec with ' for ") after delay_ms, with the probe
 * (probe_spec, may be NULL) sampling from the start until it has had
 * stop_after_ok ok samples after the action ended, or max_ms. sc may be
 * NULL; cancel_ms >= 0 cancels the action then. */
static void rig_run(struct rig *r, const char *action_spec,
                    const struct gd_scenario *sc, int dry_run,
                    const char *probe_spec, int delay_ms, int stop_after_ok,
                    int cancel_ms, int max_ms) {
  char text[4096];
  struct gd_error err = {0};
  memset(r, 0, sizeof *r);
  snprintf(text, sizeof text, "%s", action_spec);
  spec_fix(text);
  cJSON *spec = cJSON_Parse(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
  int rc = gd_action_init(&r->a, spec, "fault[0]", &err);
  cJSON_Delete(spec);
  if (rc) printf("\n    action init: %s ", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  r->a.sc = sc;
  r->a.dry_run = dry_run;
  uv_loop_init(&r->loop);
  CU_ASSERT_EQUAL_FATAL(gd_curl_new(&r->loop, &r->curl, &err), 0);
  uv_timer_init(&r->loop, &r->start_t);
  uv_timer_init(&r->loop, &r->cancel_t);
  uv_timer_init(&r->loop, &r->stop_t);
  r->start_t.data = r->cancel_t.data = r->stop_t.data = r;
  r->stop_after_ok = stop_after_ok;
  if (probe_spec) {
    snprintf(text, sizeof text, "%s", probe_spec);
    spec_fix(text);
    spec = cJSON_Parse(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    rc = gd_probe_init(&r->p, "t", spec, "probes.t", &err);
    cJSON_Delete(spec);
    if (rc) printf("\n    probe init: %s ", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    r->have_probe = 1;
    r->p.on_result = rig_result;
    r->p.on_result_arg = r;
    CU_ASSERT_EQUAL_FATAL(gd_probe_start(&r->p, &r->loop, r->curl, &err), 0);
  }
  uv_timer_start(&r->start_t, rig_start, (uint64_t)delay_ms, 0);
  if (cancel_ms >= 0)
    uv_timer_start(&r->cancel_t, rig_cancel, (uint64_t)(delay_ms + cancel_ms),
                   0);
  uint64_t deadline = uv_now(&r->loop) + (uint64_t)max_ms;
  while (!(r->action_done && (!r->have_probe || r->probe_stopped))) {
    uv_run(&r->loop, UV_RUN_ONCE);
    if (uv_now(&r->loop) > deadline) {
      printf("\n    rig: past %d ms, stopping ", max_ms);
      if (!r->action_done) gd_action_cancel(&r->a);
      rig_stop(&r->stop_t);
      deadline = UINT64_MAX;
    }
  }
  uv_close((uv_handle_t *)&r->start_t, NULL);
  uv_close((uv_handle_t *)&r->cancel_t, NULL);
  uv_close((uv_handle_t *)&r->stop_t, NULL);
  gd_curl_close(r->curl, rig_curl_closed, r);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(r->curl_closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&r->loop), 0);
  if (r->start_rc) printf("\n    start: %s ", r->start_msg);
  if (r->have_probe) gd_probe_free(&r->p);
}

static const char *msg(const struct rig *r) {
  return r->a.message ? r->a.message : "";
}

static const char *dstr(const struct rig *r, const char *key) {
  return cJSON_GetStringValue(cJSON_GetObjectItem(r->a.detail, key)) ?: "";
}

static void rig_free(struct rig *r) { gd_action_free(&r->a); }

/* ------------------------------------------------------------------ */

static void test_cluster_probe(void) {
  NEED_EP();
  struct gd_proberun o;
  char desc[256];
  gd_proberun("{\"type\":\"aws.rds.cluster\",\"cluster\":\"staging-aurora\","
              "\"interval_ms\":20,\"timeout_ms\":2000}",
              2, 5000, &o, desc, sizeof desc);
  GD_ASSERT_STR(desc, "aurora cluster staging-aurora available with a writer");
  CU_ASSERT_EQUAL(o.ok, 2);
  GD_ASSERT_STR(o.detail[0], "available, writer staging-aurora-1");
  gd_proberun("{\"type\":\"aws.rds.cluster\",\"cluster\":\"nope\","
              "\"interval_ms\":20,\"timeout_ms\":2000}",
              1, 5000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_ERROR);
  CU_ASSERT_PTR_NOT_NULL(strstr(o.detail[0], "DBClusterNotFoundFault"));
}

/* The fault of the database-failover scenario, watched by the probe that
 * sees the writer change. */
static void test_failover_moves_writer(void) {
  NEED_EP();
  struct rig r;
  rig_run(&r,
          "{'type':'aws.rds.failover_db_cluster','cluster':'staging-aurora'}",
          staging, 0,
          "{'type':'aws.rds.cluster','cluster':'staging-aurora',"
          "'interval_ms':50,'timeout_ms':2000,"
          "'expect':{'writer_changed':true}}",
          200, 3, -1, 10000);
  if (!r.a.ok) printf("\n    %s ", msg(&r));
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT_PTR_NOT_NULL(
      strstr(msg(&r), "failover of cluster 'staging-aurora' started: writer "
                      "was 'staging-aurora-1'"));
  GD_ASSERT_STR(dstr(&r, "old_writer"), "staging-aurora-1");
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "FailoverDBCluster"), 1);
  char w[64];
  world_writer("staging-aurora", w, sizeof w);
  GD_ASSERT_STR(w, "staging-aurora-2");
  /* Before: the old writer; during: failing-over; after: the new one. */
  CU_ASSERT(r.n >= 6);
  GD_ASSERT_STR(r.detail[0], "available, writer still staging-aurora-1");
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_MISMATCH);
  int failing = 0, first_ok = -1;
  for (int i = 0; i < r.n; i++) {
    if (strstr(r.detail[i], "failing-over (want available)")) failing++;
    if (r.cls[i] == GD_SAMPLE_OK && first_ok < 0) first_ok = i;
  }
  CU_ASSERT(failing >= 2); /* 400 ms of failing-over at 50 ms */
  CU_ASSERT(first_ok > 0);
  if (first_ok > 0)
    GD_ASSERT_STR(r.detail[first_ok],
                  "available, writer staging-aurora-2 (was staging-aurora-1)");
  CU_ASSERT_EQUAL(r.cls[r.n - 1], GD_SAMPLE_OK);
  rig_free(&r);
}

static void test_failover_target(void) {
  NEED_EP();
  struct rig r;
  rig_run(&r,
          "{'type':'aws.rds.failover_db_cluster','cluster':'staging-aurora',"
          "'target_instance':'staging-aurora-1'}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  GD_ASSERT_STR(msg(&r), "target_instance 'staging-aurora-1' is already the "
                         "writer of cluster 'staging-aurora'");
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  rig_free(&r);
  rig_run(&r,
          "{'type':'aws.rds.failover_db_cluster','cluster':'staging-aurora',"
          "'target_instance':'staging-aurora-2'}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  char v[128];
  last_param("FailoverDBCluster", "TargetDBInstanceIdentifier", v, sizeof v);
  GD_ASSERT_STR(v, "staging-aurora-2");
  rig_free(&r);
}

static void test_failover_refused(void) {
  NEED_EP();
  struct rig r;
  rig_run(&r, "{'type':'aws.rds.failover_db_cluster','cluster':'prod-aurora'}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  GD_ASSERT_STR(msg(&r), "refused: target 'prod-aurora': tag Environment is "
                         "'prod', required 'staging'");
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "FailoverDBCluster"), 0);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "DescribeDBClusters"), 1);
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  char w[64];
  world_writer("prod-aurora", w, sizeof w);
  GD_ASSERT_STR(w, "prod-aurora-1");
  rig_free(&r);
}

static void test_failover_dry_run(void) {
  NEED_EP();
  struct rig r;
  rig_run(&r,
          "{'type':'aws.rds.failover_db_cluster','cluster':'staging-aurora'}",
          staging, 1, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  GD_ASSERT_STR(msg(&r), "would fail over cluster 'staging-aurora' from "
                         "writer 'staging-aurora-1' to a replica rds picks");
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "FailoverDBCluster"), 0);
  char w[64];
  world_writer("staging-aurora", w, sizeof w);
  GD_ASSERT_STR(w, "staging-aurora-1");
  rig_free(&r);
}

static void test_aws_errors(void) {
  NEED_EP();
  struct rig r;
  gd_awsep_fail_next(ep, "rds", "FailoverDBCluster", 1, 400,
                     "InvalidDBClusterStateFault", NULL);
  rig_run(&r,
          "{'type':'aws.rds.failover_db_cluster','cluster':'staging-aurora'}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg(&r), "FailoverDBCluster"));
  CU_ASSERT_PTR_NOT_NULL(strstr(msg(&r), "InvalidDBClusterStateFault"));
  GD_ASSERT_STR(dstr(&r, "aws_code"), "InvalidDBClusterStateFault");
  rig_free(&r);

  rig_run(&r, "{'type':'aws.rds.failover_db_cluster','cluster':'nope'}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg(&r), "DBClusterNotFoundFault"));
  rig_free(&r);

  gd_awsep_fail_next(ep, "rds", "RebootDBInstance", 1, 403,
                     "AccessDenied", NULL);
  rig_run(&r, "{'type':'aws.rds.reboot_db_instance',"
              "'instance':'staging-aurora-1'}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg(&r), "AccessDenied"));
  rig_free(&r);
}

static void test_reboot(void) {
  NEED_EP();
  struct rig r;
  rig_run(&r, "{'type':'aws.rds.reboot_db_instance',"
              "'instance':'staging-aurora-1','force_failover':true}",
          staging, 1, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  GD_ASSERT_STR(msg(&r), "would reboot instance 'staging-aurora-1' of "
                         "cluster staging-aurora with failover");
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  rig_free(&r);
  rig_run(&r, "{'type':'aws.rds.reboot_db_instance',"
              "'instance':'prod-aurora-1'}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  GD_ASSERT_STR(msg(&r), "refused: target 'prod-aurora-1': tag Environment "
                         "is 'prod', required 'staging'");
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "RebootDBInstance"), 0);
  rig_free(&r);
  rig_run(&r, "{'type':'aws.rds.reboot_db_instance',"
              "'instance':'staging-aurora-2','force_failover':true}",
          staging, 0, NULL, 0, 0, -1, 5000);
  if (!r.a.ok) printf("\n    %s ", msg(&r));
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "RebootDBInstance"), 1);
  char v[64];
  last_param("RebootDBInstance", "ForceFailover", v, sizeof v);
  GD_ASSERT_STR(v, "true");
  rig_free(&r);
}

#define RESTORE_SPEC                                                          \
  "{'type':'aws.rds.restore_db_cluster_to_point_in_time',"                    \
  "'source_cluster':'staging-aurora','target_cluster':'gd-restored',"         \
  "'use_latest_restorable_time':true,'instance_class':'db.r6g.large',"        \
  "'tags':{'Environment':'staging'},'poll_interval_ms':50}"

static void test_restore_and_delete(void) {
  NEED_EP();
  struct rig r;
  /* Dry run first: nothing made. */
  rig_run(&r, RESTORE_SPEC, staging, 1, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  GD_ASSERT_STR(msg(&r), "would restore cluster 'staging-aurora' to its "
                         "latest restorable time as 'gd-restored' with "
                         "instance 'gd-restored-1' (db.r6g.large, "
                         "aurora-postgresql)");
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  rig_free(&r);

  rig_run(&r, RESTORE_SPEC, staging, 0, NULL, 0, 0, -1, 10000);
  if (!r.a.ok) printf("\n    %s ", msg(&r));
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg(&r), "as 'gd-restored' in "));
  CU_ASSERT_PTR_NOT_NULL(strstr(msg(&r), "endpoint gd-restored.cluster-"));
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "RestoreDBClusterToPointInTime"),
                  1);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "CreateDBInstance"), 1);
  /* It waited: several polls while the endpoint said "creating". */
  CU_ASSERT(gd_awsep_count(ep, "rds", "DescribeDBClusters") >= 4);
  CU_ASSERT(gd_awsep_count(ep, "rds", "DescribeDBInstances") >= 2);
  CU_ASSERT_EQUAL(r.a.nfigures, 1);
  GD_ASSERT_STR(r.a.figures[0].name, "restore_ms");
  CU_ASSERT(r.a.figures[0].value >= 500); /* two 300 ms creations */
  char v[128];
  last_param("RestoreDBClusterToPointInTime", "UseLatestRestorableTime", v,
             sizeof v);
  GD_ASSERT_STR(v, "true");
  last_param("CreateDBInstance", "Engine", v, sizeof v);
  GD_ASSERT_STR(v, "aurora-postgresql");
  rig_free(&r);
  cJSON *c = gd_awsep_get(ep, "db_clusters", "gd-restored");
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  GD_ASSERT_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")) ?: "",
                "available");
  const cJSON *tags = cJSON_GetObjectItem(c, "tags");
  GD_ASSERT_STR(
      cJSON_GetStringValue(cJSON_GetObjectItem(tags, "Environment")) ?: "",
      "staging");
  CU_ASSERT_PTR_NOT_NULL(
      cJSON_GetStringValue(cJSON_GetObjectItem(tags, "gameday:created-by")));
  cJSON_Delete(c);
  c = gd_awsep_get(ep, "db_instances", "gd-restored-1");
  CU_ASSERT_PTR_NOT_NULL(c);
  cJSON_Delete(c);

  /* A second restore onto the same name is refused. */
  unsigned before = gd_awsep_mutations(ep);
  rig_run(&r, RESTORE_SPEC, staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  GD_ASSERT_STR(msg(&r), "refused: target cluster 'gd-restored' already "
                         "exists");
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), before);
  rig_free(&r);

  /* The rollback: dry run, then the delete. */
  rig_run(&r, "{'type':'aws.rds.delete_db_cluster','cluster':'gd-restored',"
              "'poll_interval_ms':50}",
          staging, 1, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  GD_ASSERT_STR(msg(&r), "would delete cluster 'gd-restored' and its "
                         "instances gd-restored-1");
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), before);
  rig_free(&r);
  rig_run(&r, "{'type':'aws.rds.delete_db_cluster','cluster':'gd-restored',"
              "'poll_interval_ms':50}",
          staging, 0, NULL, 0, 0, -1, 10000);
  if (!r.a.ok) printf("\n    %s ", msg(&r));
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg(&r), "deleted cluster 'gd-restored' "
                                         "(instances gd-restored-1) in "));
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "DeleteDBInstance"), 1);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "rds", "DeleteDBCluster"), 1);
  last_param("DeleteDBCluster", "SkipFinalSnapshot", v, sizeof v);
  GD_ASSERT_STR(v, "true");
  rig_free(&r);
  c = gd_awsep_get(ep, "db_clusters", "gd-restored");
  CU_ASSERT_PTR_NULL(c);
  cJSON_Delete(c);
  c = gd_awsep_get(ep, "db_instances", "gd-restored-1");
  CU_ASSERT_PTR_NULL(c);
  cJSON_Delete(c);

  /* Deleting what is gone already is fine: a rollback after a restore
   * that failed early. */
  rig_run(&r, "{'type':'aws.rds.delete_db_cluster','cluster':'gd-restored'}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  GD_ASSERT_STR(msg(&r), "cluster 'gd-restored' does not exist: nothing to "
                         "delete");
  rig_free(&r);
}

static void test_restore_time(void) {
  NEED_EP();
  struct rig r;
  /* A time with an offset goes to RDS as UTC. */
  rig_run(&r,
          "{'type':'aws.rds.restore_db_cluster_to_point_in_time',"
          "'source_cluster':'staging-aurora','target_cluster':'gd-pitr',"
          "'restore_to_time':'2020-01-01T02:30:00+02:00',"
          "'instance_class':'db.r6g.large','engine':'aurora-postgresql',"
          "'tags':{'Environment':'staging'},'poll_interval_ms':50}",
          staging, 0, NULL, 0, 0, -1, 10000);
  char v[64];
  last_param("RestoreDBClusterToPointInTime", "RestoreToTime", v, sizeof v);
  GD_ASSERT_STR(v, "2020-01-01T00:30:00Z");
  rig_free(&r);
}

/* The new cluster's tags must pass the rules too; a prod source is
 * refused: nothing is created either way. */
static void test_restore_refused(void) {
  NEED_EP();
  struct rig r;
  rig_run(&r,
          "{'type':'aws.rds.restore_db_cluster_to_point_in_time',"
          "'source_cluster':'staging-aurora','target_cluster':'gd-r2',"
          "'use_latest_restorable_time':true,'instance_class':'db.t3.medium'}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  GD_ASSERT_STR(msg(&r), "refused: target 'gd-r2': missing required tag "
                         "Environment=staging");
  rig_free(&r);
  rig_run(&r,
          "{'type':'aws.rds.restore_db_cluster_to_point_in_time',"
          "'source_cluster':'prod-aurora','target_cluster':'gd-r2',"
          "'use_latest_restorable_time':true,'instance_class':'db.t3.medium',"
          "'tags':{'Environment':'staging'}}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  GD_ASSERT_STR(msg(&r), "refused: target 'prod-aurora': tag Environment is "
                         "'prod', required 'staging'");
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  rig_free(&r);
}

/* Cancelled (the action's timeout) while the cluster is being created. */
static void test_restore_cancelled(void) {
  NEED_EP();
  cJSON *w = gd_awsep_lock(ep);
  cJSON *d = cJSON_GetObjectItem(w, "delays_ms");
  if (d) cJSON_ReplaceItemInObject(d, "create", cJSON_CreateNumber(5000));
  gd_awsep_unlock(ep);
  struct rig r;
  /* Polling every 2 s: at 400 ms it is surely between two polls, however
   * slow the machine, so the message is the waiting one. */
  rig_run(&r,
          "{'type':'aws.rds.restore_db_cluster_to_point_in_time',"
          "'source_cluster':'staging-aurora','target_cluster':'gd-restored',"
          "'use_latest_restorable_time':true,'instance_class':'db.r6g.large',"
          "'tags':{'Environment':'staging'},'poll_interval_ms':2000}",
          staging, 0, NULL, 0, 0, 400, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_EQUAL(r.a.cancelled, 1);
  GD_ASSERT_STR(msg(&r), "cancelled while waiting for cluster 'gd-restored' "
                         "to be available (status 'creating')");
  rig_free(&r);
}

static void test_delete_refuses(void) {
  NEED_EP();
  struct rig r;
  rig_run(&r, "{'type':'aws.rds.delete_db_cluster','cluster':'handmade'}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  GD_ASSERT_STR(msg(&r), "refused: cluster 'handmade' has no tag "
                         "gameday:created-by, gameday did not create it "
                         "(say \"created_by_gameday\": false to delete it "
                         "anyway)");
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  rig_free(&r);
  rig_run(&r, "{'type':'aws.rds.delete_db_cluster','cluster':'prod-aurora',"
              "'created_by_gameday':false}",
          staging, 0, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  GD_ASSERT_STR(msg(&r), "refused: target 'prod-aurora': tag Environment is "
                         "'prod', required 'staging'");
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  rig_free(&r);
  rig_run(&r, "{'type':'aws.rds.delete_db_cluster','cluster':'handmade',"
              "'created_by_gameday':false}",
          staging, 1, NULL, 0, 0, -1, 5000);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  GD_ASSERT_STR(msg(&r), "would delete cluster 'handmade' and its instances "
                         "handmade-1 (not created by gameday)");
  CU_ASSERT_EQUAL(gd_awsep_mutations(ep), 0);
  rig_free(&r);
}

static const char *action_init_error(const char *json) {
  static struct gd_error err;
  char text[2048];
  memset(&err, 0, sizeof err);
  snprintf(text, sizeof text, "%s", json);
  spec_fix(text);
  cJSON *spec = cJSON_Parse(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
  struct gd_action a;
  int rc = gd_action_init(&a, spec, "fault[0]", &err);
  CU_ASSERT(rc != 0);
  if (rc == 0) gd_action_free(&a);
  cJSON_Delete(spec);
  return err.msg;
}

static void test_init_errors(void) {
  GD_ASSERT_STR(
      action_init_error("{'type':'aws.rds.restore_db_cluster_to_point_in_time',"
                        "'source_cluster':'a','target_cluster':'b',"
                        "'instance_class':'db.t3.medium'}"),
      "fault[0]: give either restore_to_time or use_latest_restorable_time: "
      "true");
  GD_ASSERT_STR(
      action_init_error("{'type':'aws.rds.restore_db_cluster_to_point_in_time',"
                        "'source_cluster':'a','target_cluster':'b',"
                        "'instance_class':'db.t3.medium',"
                        "'restore_to_time':'2024-05-01 12:00'}"),
      "fault[0].restore_to_time: not an RFC 3339 time or \"t0\": '2024-05-01 "
      "12:00' (e.g. 2024-05-01T12:00:00Z)");
  GD_ASSERT_STR(
      action_init_error("{'type':'aws.rds.restore_db_cluster_to_point_in_time',"
                        "'source_cluster':'a','target_cluster':'a',"
                        "'instance_class':'db.t3.medium',"
                        "'use_latest_restorable_time':true}"),
      "fault[0].target_cluster: must differ from source_cluster 'a'");
  GD_ASSERT_STR(action_init_error("{'type':'aws.rds.failover_db_cluster'}"),
                "fault[0].cluster: required key missing");
  GD_ASSERT_STR(action_init_error("{'type':'aws.rds.delete_db_cluster',"
                                  "'cluster':'x','created_by':false}"),
                "fault[0]: unknown key 'created_by'");
  GD_ASSERT_STR(gd_proberun_init_error(
                    "{\"type\":\"aws.rds.cluster\",\"cluster\":\"c\","
                    "\"interval_ms\":10,\"timeout_ms\":10,"
                    "\"expect\":{\"writer\":\"x\"}}"),
                "probes.t.expect: unknown key 'writer'");
}

static struct gd_scenario *staging_scenario(void) {
  const char *doc =
      "{\"name\": \"t\", \"environment\": \"staging\","
      " \"safety\": {\"required_tags\": {\"Environment\": \"staging\"}},"
      " \"probes\": {\"p\": {\"type\": \"tcp\", \"host\": \"127.0.0.1\","
      "   \"port\": 1, \"interval_ms\": 100, \"timeout_ms\": 100}},"
      " \"steady_state\": {\"probes\": [\"p\"], \"for_ms\": 0},"
      " \"fault\": [{\"type\": \"sleep\", \"ms\": 1}],"
      " \"recovery\": {\"probes\": [\"p\"], \"stable_for_ms\": 0,"
      "   \"timeout_ms\": 1000}}";
  cJSON *j = cJSON_Parse(doc);
  struct gd_scenario *sc = NULL;
  struct gd_error err = {0};
  if (j && gd_scenario_from_json(j, "t.json", NULL, 0, &sc, &err))
    printf("scenario: %s\n", err.msg);
  cJSON_Delete(j);
  return sc;
}

int main(void) {
  static const struct gd_test tests[] = {
      {"cluster probe", test_cluster_probe},
      {"failover moves the writer, the probe sees it",
       test_failover_moves_writer},
      {"failover to a target instance", test_failover_target},
      {"failover refused by the safety rules", test_failover_refused},
      {"failover dry run changes nothing", test_failover_dry_run},
      {"aws error codes surface", test_aws_errors},
      {"reboot", test_reboot},
      {"restore creates and waits; delete removes it",
       test_restore_and_delete},
      {"restore to a time", test_restore_time},
      {"restore refused", test_restore_refused},
      {"restore cancelled while waiting", test_restore_cancelled},
      {"delete refuses a cluster gameday did not create",
       test_delete_refuses},
      {"init errors", test_init_errors},
      {NULL, NULL},
  };
  home = gd_test_tmpdir();
  gd_awsenv_begin(home);
  ep = gd_awsep_start(NULL);
  if (ep) gd_awsep_setenv(ep);
  staging = staging_scenario();
  if (!staging) {
    printf("cannot build the staging scenario\n");
    return 1;
  }
  int rc = gd_test_run("aws rds", tests);
  gd_scenario_free(staging);
  if (ep) gd_awsep_stop(ep);
  gd_awsenv_end();
  gd_test_rmrf(home);
  free(home);
  return rc;
}

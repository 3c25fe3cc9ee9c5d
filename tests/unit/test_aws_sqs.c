/* The SQS kinds against fauxqs, a third-party SQS implementation (npm,
 * scenarios/local/stack/queue, the local stack's queue tier) on loopback:
 * aws.sqs.send_messages floods a queue in batches (paced, cancelled, with a
 * ledger), aws.sqs.queue_depth reads the backlog through
 * the real scheduler, aws.sqs.purge_queue empties it; errors from a queue
 * that does not exist; bad keys at load time. Credentials are fake and in
 * the environment, IMDS is off, AWS_ENDPOINT_URL_SQS points at fauxqs:
 * nothing leaves 127.0.0.1. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "awsmeta.h"
#include "fauxqs.h"
#include "gameday/action.h"
#include "gameday/aws.h"
#include "gameday/curl.h"
#include "gameday/probe.h"
#include "httpd.h"
#include "proberun.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* fauxqs, once for the whole program */

static struct gd_fauxqs fq;
static char *home;

/* Fake credentials and the endpoint; IMDS off (gd_awsenv_begin). */
static void aws_env(void) {
  setenv("AWS_ACCESS_KEY_ID", "AKIDGAMEDAYSQSTEST", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "gameday/sqs/test/secret", 1);
  setenv("AWS_REGION", "us-east-1", 1);
  gd_fauxqs_setenv(&fq);
}

#define NEED_FAUXQS()                                                         \
  do {                                                                        \
    if (gd_fauxqs_start(&fq, home)) GD_SKIP(fq.why);                        \
    aws_env();                                                                \
  } while (0)

/* ------------------------------------------------------------------ */
/* Direct SQS calls, for setting up and checking */

/* One SQS call; params_fmt is JSON with one %s. */
static cJSON *sqs(const char *op, const char *params_fmt, const char *arg) {
  char text[2048];
  snprintf(text, sizeof text, params_fmt, arg);
  return gd_fauxqs_sqs_text(op, text);
}

/* ------------------------------------------------------------------ */
/* Running an action through the action runner */

static void closed_cb(void *arg) { (*(int *)arg)++; }

struct arun {
  struct gd_action a;
  uv_loop_t loop;
  struct gd_curl *curl;
  uv_timer_t canceller;
  int calls;
  int start_rc;
  char start_msg[GD_ERROR_MAX];
  uint64_t t_start, t_done;
};

static void arun_done(struct gd_action *a, void *arg) {
  struct arun *r = arg;
  (void)a;
  r->calls++;
  r->t_done = uv_hrtime();
  uv_close((uv_handle_t *)&r->canceller, NULL);
}

static void arun_cancel(uv_timer_t *t) {
  struct arun *r = t->data;
  gd_action_cancel(&r->a);
}

/* Spec with ' for "; %s is the queue URL. Runs it once (cancelled after
 * cancel_ms when >= 0); the caller checks r->a and calls arun_free. */
static void arun(struct arun *r, const char *fmt, const char *url,
                 int cancel_ms) {
  char text[2048];
  struct gd_error err = {0};
  memset(r, 0, sizeof *r);
  snprintf(text, sizeof text, fmt, url);
  for (char *p = text; *p; p++)
    if (*p == '\'') *p = '"';
  cJSON *spec = cJSON_Parse(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
  int rc = gd_action_init(&r->a, spec, "fault[0]", &err);
  cJSON_Delete(spec);
  if (rc) printf("\n    init: %s ", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  uv_loop_init(&r->loop);
  CU_ASSERT_EQUAL_FATAL(gd_curl_new(&r->loop, &r->curl, &err), 0);
  uv_timer_init(&r->loop, &r->canceller);
  r->canceller.data = r;
  if (cancel_ms >= 0)
    uv_timer_start(&r->canceller, arun_cancel, (uint64_t)cancel_ms, 0);
  r->t_start = uv_hrtime();
  r->start_rc = gd_action_run(&r->a, &r->loop, r->curl, arun_done, r, &err);
  if (r->start_rc) {
    snprintf(r->start_msg, sizeof r->start_msg, "%s", err.msg);
    uv_close((uv_handle_t *)&r->canceller, NULL);
  }
  while (r->start_rc == 0 && !r->calls) uv_run(&r->loop, UV_RUN_ONCE);
  int closed = 0;
  gd_curl_close(r->curl, closed_cb, &closed);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&r->loop), 0);
  if (r->start_rc == 0) CU_ASSERT_EQUAL(r->calls, 1);
}

static double arun_ms(const struct arun *r) {
  return (double)(r->t_done - r->t_start) / 1e6;
}

static double detail_num(const struct arun *r, const char *key) {
  const cJSON *v = cJSON_GetObjectItem(r->a.detail, key);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* ------------------------------------------------------------------ */
/* Running the depth probe through the scheduler */

#define PMAX 16
struct prun {
  struct gd_probe p;
  struct gd_curl *curl;
  uv_timer_t stopper;
  int n, want, stopping, curl_closed;
  enum gd_sample_class cls[PMAX];
  double value[PMAX];
  int has_value[PMAX];
  char detail[PMAX][160];
  double peak;
  int has_peak;
  int has_drain; /* drain_ms or drain_rate_per_s published */
};

static void prun_curl_closed(void *arg) { ((struct prun *)arg)->curl_closed = 1; }

static void prun_stopped(struct gd_probe *p, void *arg) {
  struct prun *r = arg;
  for (unsigned i = 0; i < p->nfigures; i++)
    if (strcmp(p->figures[i].name, "peak_depth") == 0) {
      r->peak = p->figures[i].value;
      r->has_peak = 1;
    } else if (strncmp(p->figures[i].name, "drain_", 6) == 0) {
      r->has_drain = 1;
    }
  uv_close((uv_handle_t *)&r->stopper, NULL);
  gd_curl_close(r->curl, prun_curl_closed, r);
}

static void prun_stop(uv_timer_t *t) {
  struct prun *r = t->data;
  if (r->stopping) return;
  r->stopping = 1;
  uv_timer_stop(t);
  gd_probe_stop(&r->p, prun_stopped, r);
}

static void prun_result(struct gd_probe *p, const struct gd_sample_result *s,
                        void *arg) {
  struct prun *r = arg;
  (void)p;
  if (r->n < PMAX) {
    r->cls[r->n] = s->cls;
    r->value[r->n] = s->value;
    r->has_value[r->n] = s->has_value;
    snprintf(r->detail[r->n], sizeof r->detail[0], "%s", s->detail);
    r->n++;
  }
  /* Stop from the loop, not from inside the probe's commit. */
  if (r->n >= r->want && !r->stopping)
    uv_timer_start(&r->stopper, prun_stop, 0, 0);
}

/* want samples (at 20 ms); the spec's %s is the queue URL. */
static void prun(struct prun *r, const char *fmt, const char *url, int want) {
  char text[2048];
  struct gd_error err = {0};
  memset(r, 0, sizeof *r);
  r->want = want;
  snprintf(text, sizeof text, fmt, url);
  for (char *p = text; *p; p++)
    if (*p == '\'') *p = '"';
  cJSON *spec = cJSON_Parse(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
  int rc = gd_probe_init(&r->p, "depth", spec, "probes.depth", &err);
  cJSON_Delete(spec);
  if (rc) printf("\n    init: %s ", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  CU_ASSERT_EQUAL_FATAL(gd_curl_new(&loop, &r->curl, &err), 0);
  uv_timer_init(&loop, &r->stopper);
  r->stopper.data = r;
  /* A guard: never longer than 5 s, whatever the probe does. */
  uv_timer_start(&r->stopper, prun_stop, 5000, 0);
  r->p.on_result = prun_result;
  r->p.on_result_arg = r;
  rc = gd_probe_start(&r->p, &loop, r->curl, &err);
  if (rc) printf("\n    start: %s ", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(r->curl_closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  gd_probe_free(&r->p);
}

static const char depth_fmt[] =
    "{'type':'aws.sqs.queue_depth','queue_url':'%s','interval_ms':20,"
    "'timeout_ms':2000,'max_depth':%s%s}";

static void depth(struct prun *r, const char *url, const char *max,
                  const char *extra, int want) {
  char fmt[1024];
  /* The URL goes in through prun's %s; the rest is fixed now. */
  snprintf(fmt, sizeof fmt, depth_fmt, "%s", max, extra);
  prun(r, fmt, url, want);
}

/* ------------------------------------------------------------------ */
/* Tests */

static void test_backlog_depth_purge(void) {
  NEED_FAUXQS();
  char url[512];
  gd_fauxqs_new_queue("gd-backlog", url, sizeof url, NULL, 0);

  struct arun r;
  arun(&r,
       "{'type':'aws.sqs.send_messages','queue_url':'%s','count':25,"
       "'batch':10,'body':'order {seq} of 25: {seq}'}",
       url, -1);
  CU_ASSERT_EQUAL(r.start_rc, 0);
  CU_ASSERT_TRUE(r.a.ok);
  GD_ASSERT_STR(r.a.message, "sent 25 messages in 3 batches (0 failed)");
  CU_ASSERT_EQUAL(detail_num(&r, "sent"), 25);
  CU_ASSERT_EQUAL(detail_num(&r, "failed"), 0);
  CU_ASSERT_EQUAL(detail_num(&r, "batches"), 3);
  const char *first =
      cJSON_GetStringValue(cJSON_GetObjectItem(r.a.detail, "first_id"));
  const char *last =
      cJSON_GetStringValue(cJSON_GetObjectItem(r.a.detail, "last_id"));
  CU_ASSERT_PTR_NOT_NULL(first);
  CU_ASSERT_PTR_NOT_NULL(last);
  if (first && last) CU_ASSERT_STRING_NOT_EQUAL(first, last);
  gd_action_free(&r.a);

  /* 25 visible: healthy under 100, failed over 10. */
  struct prun p;
  depth(&p, url, "10", "", 2);
  CU_ASSERT_EQUAL_FATAL(p.n, 2);
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_EQUAL(p.cls[i], GD_SAMPLE_MISMATCH);
    CU_ASSERT_TRUE(p.has_value[i]);
    CU_ASSERT_EQUAL(p.value[i], 25);
    GD_ASSERT_STR(p.detail[i], "depth 25 > 10");
  }
  CU_ASSERT_TRUE(p.has_peak);
  CU_ASSERT_EQUAL(p.peak, 25);
  depth(&p, url, "100", "", 2);
  CU_ASSERT_EQUAL(p.cls[0], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(p.cls[1], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(p.value[0], 25);

  /* Received, not deleted: 10 in flight. The bodies are the template
   * expanded. */
  cJSON *got = sqs("ReceiveMessage",
                   "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":10,"
                   "\"VisibilityTimeout\":60}",
                   url);
  const cJSON *msgs = cJSON_GetObjectItem(got, "Messages");
  CU_ASSERT_EQUAL(cJSON_GetArraySize(msgs), 10);
  const cJSON *m;
  int seen[26] = {0};
  cJSON_ArrayForEach(m, msgs) {
    const char *b = cJSON_GetStringValue(cJSON_GetObjectItem(m, "Body"));
    int a = 0, c = 0;
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT_EQUAL(sscanf(b, "order %d of 25: %d", &a, &c), 2);
    CU_ASSERT_EQUAL(a, c);
    CU_ASSERT(a >= 1 && a <= 25);
    if (a >= 1 && a <= 25) seen[a]++;
  }
  for (int i = 1; i <= 25; i++) CU_ASSERT(seen[i] <= 1);
  cJSON_Delete(got);
  depth(&p, url, "100", "", 1);
  CU_ASSERT_EQUAL(p.value[0], 15);
  depth(&p, url, "20", ",'include_in_flight':true", 1);
  CU_ASSERT_EQUAL(p.value[0], 25);
  CU_ASSERT_EQUAL(p.cls[0], GD_SAMPLE_MISMATCH);
  GD_ASSERT_STR(p.detail[0], "depth 25 > 20");

  arun(&r, "{'type':'aws.sqs.purge_queue','queue_url':'%s'}", url, -1);
  CU_ASSERT_EQUAL(r.start_rc, 0);
  CU_ASSERT_TRUE(r.a.ok);
  char want[600];
  snprintf(want, sizeof want, "purged %s", url);
  GD_ASSERT_STR(r.a.message, want);
  gd_action_free(&r.a);

  depth(&p, url, "0", ",'include_in_flight':true", 2);
  CU_ASSERT_EQUAL(p.cls[0], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(p.cls[1], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(p.value[0], 0);
  CU_ASSERT_TRUE(p.has_peak);
  CU_ASSERT_EQUAL(p.peak, 0);
}

static void test_rate(void) {
  NEED_FAUXQS();
  char url[512];
  gd_fauxqs_new_queue("gd-paced", url, sizeof url, NULL, 0);
  /* 20 messages in batches of 5 at 100/s: the batches are due at 0, 50,
   * 100 and 150 ms. */
  struct arun r;
  arun(&r,
       "{'type':'aws.sqs.send_messages','queue_url':'%s','count':20,"
       "'batch':5,'rate_per_s':100}",
       url, -1);
  CU_ASSERT_TRUE(r.a.ok);
  GD_ASSERT_STR(r.a.message, "sent 20 messages in 4 batches (0 failed)");
  double ms = arun_ms(&r);
  if (ms < 150 || ms > 3000) printf("\n    took %.1f ms ", ms);
  CU_ASSERT(ms >= 150 && ms < 3000);
  gd_action_free(&r.a);
  struct prun p;
  depth(&p, url, "100", "", 1);
  CU_ASSERT_EQUAL(p.value[0], 20);

  /* Unpaced, cancelled with calls in flight: those are unconfirmed, and
   * everything is accounted for. */
  arun(&r,
       "{'type':'aws.sqs.send_messages','queue_url':'%s','count':100000,"
       "'body':'x'}",
       url, 150);
  CU_ASSERT_FALSE(r.a.ok);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "cancelled: sent "));
  double sent = detail_num(&r, "sent"), unconf = detail_num(&r, "unconfirmed");
  CU_ASSERT(sent > 0 && sent < 100000);
  CU_ASSERT_EQUAL(detail_num(&r, "failed"), 0);
  /* Every slot is refilled as soon as it answers: four calls were out. */
  CU_ASSERT_EQUAL(unconf, 40);
  CU_ASSERT(arun_ms(&r) < 1000);
  gd_action_free(&r.a);
  depth(&p, url, "1000000", "", 1);
  /* A cancelled call may still have reached the queue. */
  CU_ASSERT(p.value[0] >= 20 + sent && p.value[0] <= 20 + sent + unconf);
}

static void test_cancel(void) {
  NEED_FAUXQS();
  char url[512];
  gd_fauxqs_new_queue("gd-cancelled", url, sizeof url, NULL, 0);
  /* A batch every 500 ms; cancelled at 700 ms, after the second. */
  struct arun r;
  arun(&r,
       "{'type':'aws.sqs.send_messages','queue_url':'%s','count':1000,"
       "'rate_per_s':20}",
       url, 700);
  CU_ASSERT_FALSE(r.a.ok);
  GD_ASSERT_STR(r.a.message,
                "cancelled: sent 20 of 1000 messages in 2 batches (0 failed, "
                "0 unconfirmed)");
  CU_ASSERT_EQUAL(detail_num(&r, "sent"), 20);
  double ms = arun_ms(&r);
  CU_ASSERT(ms >= 690 && ms < 2000);
  /* The default timeout left room for the 50 s the flood needs. */
  CU_ASSERT(r.a.timeout_ns > 50 * UINT64_C(1000000000));
  gd_action_free(&r.a);
  struct prun p;
  depth(&p, url, "100", "", 1);
  CU_ASSERT_EQUAL(p.value[0], 20);
}

/* The ledger's lines, checked: "seq<TAB>MessageId", seq 1..count once
 * each. The number of lines, or -1. ids[seq] gets the id (n+1 entries). */
static int read_ledger(const char *path, char ids[][128], int n) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[512];
  int lines = 0;
  while (fgets(line, sizeof line, f)) {
    int seq = 0;
    char id[128];
    if (sscanf(line, "%d\t%127[^\n]", &seq, id) != 2 || seq < 1 || seq > n ||
        ids[seq][0]) {
      printf("\n    bad ledger line '%s'", line);
      fclose(f);
      return -1;
    }
    snprintf(ids[seq], sizeof ids[seq], "%s", id);
    lines++;
  }
  fclose(f);
  return lines;
}

static void test_ledger(void) {
  NEED_FAUXQS();
  char url[512], ledger[4096];
  gd_fauxqs_new_queue("gd-ledger", url, sizeof url, NULL, 0);
  snprintf(ledger, sizeof ledger, "%s/sent.ledger", home);
  /* Left over from an earlier run: the action starts it afresh. */
  gd_test_write_file(ledger, "999\told\n");
  char spec[1024];
  snprintf(spec, sizeof spec,
           "{'type':'aws.sqs.send_messages','queue_url':'%%s','count':25,"
           "'body':'m {seq}','ledger':'%s'}",
           ledger);
  struct arun r;
  arun(&r, spec, url, -1);
  CU_ASSERT_TRUE(r.a.ok);
  GD_ASSERT_STR(r.a.message, "sent 25 messages in 3 batches (0 failed)");
  static char ids[26][128];
  memset(ids, 0, sizeof ids);
  CU_ASSERT_EQUAL(read_ledger(ledger, ids, 25), 25);
  GD_ASSERT_STR(ids[1], cJSON_GetStringValue(
                            cJSON_GetObjectItem(r.a.detail, "first_id")));
  GD_ASSERT_STR(ids[25], cJSON_GetStringValue(
                             cJSON_GetObjectItem(r.a.detail, "last_id")));
  gd_action_free(&r.a);
  /* What a consumer receives is in the ledger, under the seq of its body. */
  cJSON *got = sqs("ReceiveMessage",
                   "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":10}", url);
  const cJSON *m;
  int n = 0;
  cJSON_ArrayForEach(m, cJSON_GetObjectItem(got, "Messages")) {
    const char *b = cJSON_GetStringValue(cJSON_GetObjectItem(m, "Body"));
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(m, "MessageId"));
    int seq = 0;
    CU_ASSERT_FATAL(b && id && sscanf(b, "m %d", &seq) == 1);
    CU_ASSERT(seq >= 1 && seq <= 25);
    if (seq >= 1 && seq <= 25) GD_ASSERT_STR(ids[seq], id);
    n++;
  }
  CU_ASSERT_EQUAL(n, 10);
  cJSON_Delete(got);

  /* Cancelled with calls in flight: only what SQS acknowledged is in it. */
  snprintf(spec, sizeof spec,
           "{'type':'aws.sqs.send_messages','queue_url':'%%s','count':100000,"
           "'body':'x {seq}','ledger':'%s'}",
           ledger);
  arun(&r, spec, url, 150);
  CU_ASSERT_FALSE(r.a.ok);
  static char many[100001][128];
  memset(many, 0, sizeof many);
  double sent = detail_num(&r, "sent");
  CU_ASSERT(sent > 0);
  CU_ASSERT_EQUAL(read_ledger(ledger, many, 100000), (int)sent);
  gd_action_free(&r.a);

  /* A ledger that cannot be created: the action does not start. */
  snprintf(spec, sizeof spec,
           "{'type':'aws.sqs.send_messages','queue_url':'%%s','count':1,"
           "'ledger':'%s/no/such/dir/l'}",
           home);
  arun(&r, spec, url, -1);
  CU_ASSERT_NOT_EQUAL(r.start_rc, 0);
  char want[4200];
  snprintf(want, sizeof want,
           "fault[0].ledger: cannot create '%s/no/such/dir/l': No such file "
           "or directory",
           home);
  GD_ASSERT_STR(r.start_msg, want);
  gd_action_free(&r.a);
}

/* The drain figures through the real scheduler: 30 messages, max_depth 10,
 * a sample every 40 ms; the phase switch (t0) comes at 200 ms, the queue is
 * purged once 10 samples are in, and the probe stops 10 samples later. */
struct drun {
  struct gd_probe p;
  struct gd_curl *curl;
  uv_timer_t t0, stopper;
  char url[512];
  int n, purged, stopping, curl_closed;
  uint64_t t0_ns, purge_ns;
};

static void drun_curl_closed(void *arg) {
  ((struct drun *)arg)->curl_closed = 1;
}

static void drun_stopped(struct gd_probe *p, void *arg) {
  struct drun *r = arg;
  (void)p;
  uv_close((uv_handle_t *)&r->stopper, NULL);
  gd_curl_close(r->curl, drun_curl_closed, r);
}

static void drun_stop(uv_timer_t *t) {
  struct drun *r = t->data;
  if (r->stopping) return;
  r->stopping = 1;
  gd_probe_stop(&r->p, drun_stopped, r);
}

static void drun_t0(uv_timer_t *t) {
  struct drun *r = t->data;
  r->t0_ns = uv_hrtime();
  r->p.t0_ns = r->t0_ns; /* what the driver does at t0 */
  gd_probe_set_phase(&r->p, GD_HIST_FAULT);
  uv_close((uv_handle_t *)t, NULL);
}

static void drun_result(struct gd_probe *p, const struct gd_sample_result *s,
                        void *arg) {
  struct drun *r = arg;
  (void)p;
  (void)s;
  r->n++;
  if (r->n == 10 && !r->purged) {
    /* Blocks this loop for the call: the next samples start late, which
     * the probe must take in its stride. */
    cJSON_Delete(sqs("PurgeQueue", "{\"QueueUrl\":\"%s\"}", r->url));
    r->purged = 1;
    r->purge_ns = uv_hrtime();
  }
  if (r->n >= 20 && !r->stopping) uv_timer_start(&r->stopper, drun_stop, 0, 0);
}

static double probe_figure(const struct gd_probe *p, const char *name) {
  for (unsigned i = 0; i < p->nfigures; i++)
    if (strcmp(p->figures[i].name, name) == 0) return p->figures[i].value;
  return -1;
}

static void test_drain(void) {
  NEED_FAUXQS();
  struct drun r;
  memset(&r, 0, sizeof r);
  gd_fauxqs_new_queue("gd-drain", r.url, sizeof r.url, NULL, 0);
  struct arun a;
  arun(&a, "{'type':'aws.sqs.send_messages','queue_url':'%s','count':30}",
       r.url, -1);
  CU_ASSERT_TRUE_FATAL(a.a.ok);
  gd_action_free(&a.a);

  char text[1024];
  snprintf(text, sizeof text,
           "{\"type\":\"aws.sqs.queue_depth\",\"queue_url\":\"%s\","
           "\"interval_ms\":40,\"timeout_ms\":2000,\"max_depth\":10}",
           r.url);
  cJSON *spec = cJSON_Parse(text);
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(
      gd_probe_init(&r.p, "depth", spec, "probes.depth", &err), 0);
  cJSON_Delete(spec);
  uv_loop_t loop;
  uv_loop_init(&loop);
  CU_ASSERT_EQUAL_FATAL(gd_curl_new(&loop, &r.curl, &err), 0);
  uv_timer_init(&loop, &r.t0);
  uv_timer_init(&loop, &r.stopper);
  r.t0.data = r.stopper.data = &r;
  uv_timer_start(&r.t0, drun_t0, 200, 0);
  uv_timer_start(&r.stopper, drun_stop, 5000, 0); /* a guard */
  r.p.on_result = drun_result;
  r.p.on_result_arg = &r;
  CU_ASSERT_EQUAL_FATAL(gd_probe_start(&r.p, &loop, r.curl, &err), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(r.curl_closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  CU_ASSERT_TRUE(r.purged);

  CU_ASSERT_EQUAL(probe_figure(&r.p, "peak_depth"), 30);
  /* Back under 10 with the first sample after the purge: within an
   * interval of purge - t0, plus what the purge call itself took; or one
   * interval before, for a sample started just before the blocking purge
   * whose request only went out after it. */
  double want = (double)(r.purge_ns - r.t0_ns) / 1e6;
  double drain = probe_figure(&r.p, "drain_ms");
  if (drain < want - 40 || drain > want + 120)
    printf("\n    drain_ms %.1f, purge at %.1f ms after t0 ", drain, want);
  CU_ASSERT(drain >= want - 40 && drain <= want + 120);
  CU_ASSERT(drain > 100); /* t0 at 200 ms, the purge hundreds of ms later */
  /* 30 messages gone between the last sample at 30 and the first at 0. */
  double rate = probe_figure(&r.p, "drain_rate_per_s");
  CU_ASSERT(rate >= 30 / 0.3 && rate <= 30 / 0.02);
  gd_probe_free(&r.p);

  /* No phase switch (no fault): no drain figures at all. */
  struct prun p;
  depth(&p, r.url, "10", "", 2);
  CU_ASSERT_EQUAL(p.value[0], 0);
  CU_ASSERT_FALSE(p.has_drain);
}

static void test_fifo(void) {
  NEED_FAUXQS();
  cJSON *j = sqs("CreateQueue",
                 "{\"QueueName\":\"%s\",\"Attributes\":{\"FifoQueue\":"
                 "\"true\"}}",
                 "gd-orders.fifo");
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  char url[512];
  snprintf(url, sizeof url, "%s",
           cJSON_GetStringValue(cJSON_GetObjectItem(j, "QueueUrl")));
  cJSON_Delete(j);
  /* Same body every time: only the deduplication ids keep them apart. */
  struct arun r;
  arun(&r,
       "{'type':'aws.sqs.send_messages','queue_url':'%s','count':12,"
       "'body':'same','message_group_id':'g1'}",
       url, -1);
  if (!r.a.ok) printf("\n    %s ", r.a.message);
  CU_ASSERT_TRUE(r.a.ok);
  gd_action_free(&r.a);
  struct prun p;
  depth(&p, url, "100", "", 1);
  CU_ASSERT_EQUAL(p.value[0], 12);
}

static void test_no_such_queue(void) {
  NEED_FAUXQS();
  char url[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/000000000000/gd-no-such-queue",
           fq.port);
  struct arun r;
  arun(&r,
       "{'type':'aws.sqs.send_messages','queue_url':'%s','count':25}", url,
       -1);
  CU_ASSERT_EQUAL(r.start_rc, 0);
  CU_ASSERT_FALSE(r.a.ok);
  if (!strstr(r.a.message, "QueueDoesNotExist"))
    printf("\n    %s ", r.a.message);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "QueueDoesNotExist"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "(sent 0 of 25 messages)"));
  CU_ASSERT_EQUAL(detail_num(&r, "sent"), 0);
  gd_action_free(&r.a);

  arun(&r, "{'type':'aws.sqs.purge_queue','queue_url':'%s'}", url, -1);
  CU_ASSERT_FALSE(r.a.ok);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "sqs PurgeQueue: "
                                             "QueueDoesNotExist"));
  GD_ASSERT_STR(
      cJSON_GetStringValue(cJSON_GetObjectItem(r.a.detail, "aws_code")),
      "QueueDoesNotExist");
  gd_action_free(&r.a);

  struct prun p;
  depth(&p, url, "0", "", 1);
  CU_ASSERT_EQUAL(p.cls[0], GD_SAMPLE_ERROR);
  CU_ASSERT_PTR_NOT_NULL(strstr(p.detail[0], "QueueDoesNotExist"));
  CU_ASSERT_FALSE(p.has_peak);
}

static void test_refused(void) {
  NEED_FAUXQS();
  /* Nothing listens there: the probe says so, the action fails. */
  char ep[64];
  snprintf(ep, sizeof ep, "http://127.0.0.1:%d", gd_httpd_closed_port());
  setenv("AWS_ENDPOINT_URL_SQS", ep, 1);
  struct prun p;
  depth(&p, "http://127.0.0.1:1/000000000000/q", "0", "", 1);
  /* The client does not pass the errno on, so refused is "connect". */
  if (p.cls[0] != GD_SAMPLE_CONNECT)
    printf("\n    %s: %s ", gd_sample_class_name(p.cls[0]), p.detail[0]);
  CU_ASSERT_EQUAL(p.cls[0], GD_SAMPLE_CONNECT);
  CU_ASSERT_PTR_NOT_NULL(strstr(p.detail[0], "sqs GetQueueAttributes: "));
  struct arun r;
  arun(&r, "{'type':'aws.sqs.purge_queue','queue_url':'%s'}",
       "http://127.0.0.1:1/000000000000/q", -1);
  CU_ASSERT_FALSE(r.a.ok);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "sqs PurgeQueue: "));
  gd_action_free(&r.a);
}

static void test_no_region(void) {
  NEED_FAUXQS();
  unsetenv("AWS_REGION");
  struct arun r;
  arun(&r, "{'type':'aws.sqs.purge_queue','queue_url':'%s'}",
       "http://127.0.0.1:1/000000000000/q", -1);
  CU_ASSERT_NOT_EQUAL(r.start_rc, 0);
  CU_ASSERT_FALSE(r.a.ok);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.start_msg, "fault[0]: "));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.start_msg, "region"));
  gd_action_free(&r.a);
}

static const char *action_error(const char *json) {
  static struct gd_error err;
  char text[1024];
  snprintf(text, sizeof text, "%s", json);
  for (char *p = text; *p; p++)
    if (*p == '\'') *p = '"';
  cJSON *spec = cJSON_Parse(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
  struct gd_action a;
  memset(&err, 0, sizeof err);
  int rc = gd_action_init(&a, spec, "fault[1]", &err);
  cJSON_Delete(spec);
  CU_ASSERT_NOT_EQUAL(rc, 0);
  if (rc == 0) gd_action_free(&a);
  return err.msg;
}

#define Q "'queue_url':'https://sqs.eu-west-1.amazonaws.com/123456789012/q'"

static void test_bad_keys(void) {
  GD_ASSERT_STR(
      action_error("{'type':'aws.sqs.send_messages'," Q ",'count':5,"
                   "'batch':11}"),
      "fault[1].batch: must be at most 10, got 11");
  const char *m = action_error("{'type':'aws.sqs.send_messages'," Q
                               ",'count':5,'bodyy':'x'}");
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "unknown key 'bodyy'"));
  m = action_error("{'type':'aws.sqs.send_messages'," Q ",'count':0}");
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "fault[1].count"));
  m = action_error("{'type':'aws.sqs.send_messages','count':3}");
  GD_ASSERT_STR(m, "fault[1].queue_url: required key missing");
  m = action_error("{'type':'aws.sqs.purge_queue','queue_url':'gd-q'}");
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "fault[1].queue_url: not a queue url "
                                   "'gd-q'"));
  m = action_error("{'type':'aws.sqs.send_messages'," Q ",'count':3,"
                   "'rate_per_s':0}");
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "fault[1].rate_per_s"));
  m = action_error("{'type':'aws.sqs.purge_queue'," Q ",'count':3}");
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "unknown key 'count'"));

  m = gd_proberun_init_error(
      "{\"type\":\"aws.sqs.queue_depth\",\"interval_ms\":100,"
      "\"timeout_ms\":100,\"queue_url\":\"http://127.0.0.1/1/q\"}");
  GD_ASSERT_STR(m, "probes.t.max_depth: required key missing");
  m = gd_proberun_init_error(
      "{\"type\":\"aws.sqs.queue_depth\",\"interval_ms\":100,"
      "\"timeout_ms\":100,\"queue_url\":\"http://127.0.0.1/1/q\","
      "\"max_depth\":1,\"in_flight\":true}");
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "unknown key 'in_flight'"));
}

static void test_describe(void) {
  struct gd_error err = {0};
  cJSON *spec = cJSON_Parse(
      "{\"type\":\"aws.sqs.send_messages\",\"queue_url\":\"https://"
      "sqs.eu-west-1.amazonaws.com/123456789012/q\",\"count\":1000,"
      "\"rate_per_s\":50}");
  struct gd_action a;
  CU_ASSERT_EQUAL_FATAL(gd_action_init(&a, spec, "fault[0]", &err), 0);
  char buf[512];
  a.ops->describe(&a, buf, sizeof buf);
  GD_ASSERT_STR(buf, "send 1000 messages to https://sqs.eu-west-1.amazonaws."
                     "com/123456789012/q in batches of 10 at 50/s");
  /* 20 s of pacing: the default 30 s timeout would do, so it is kept. */
  CU_ASSERT_EQUAL(a.timeout_ns, 30 * UINT64_C(1000000000));
  gd_action_free(&a);
  cJSON_Delete(spec);
  const struct gd_probe_ops *ops = gd_probe_kind("aws.sqs.queue_depth");
  CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ops->figures);
  GD_ASSERT_STR(ops->figures[0], "peak_depth");
  GD_ASSERT_STR(ops->figures[1], "drain_ms");
  GD_ASSERT_STR(ops->figures[2], "drain_rate_per_s");
  CU_ASSERT_PTR_NULL(ops->figures[3]);
  CU_ASSERT_PTR_NOT_NULL(gd_action_kind("aws.sqs.purge_queue"));
}

/* Each test gets a clean AWS environment; fauxqs stays up between them. */
static void with_env(void (*fn)(void)) {
  gd_awsenv_begin(home);
  fn();
  gd_awsenv_end();
}

#define WRAP(name)                                                            \
  static void name##_w(void) { with_env(name); }
WRAP(test_backlog_depth_purge)
WRAP(test_rate)
WRAP(test_cancel)
WRAP(test_fifo)
WRAP(test_ledger)
WRAP(test_drain)
WRAP(test_no_such_queue)
WRAP(test_refused)
WRAP(test_no_region)

int main(void) {
  static const struct gd_test tests[] = {
      {"send 25 in batches of 10, depth 25, purge, depth 0",
       test_backlog_depth_purge_w},
      {"send paced at a rate", test_rate_w},
      {"cancel stops the flood with what was sent", test_cancel_w},
      {"fifo queue: group and deduplication ids", test_fifo_w},
      {"the ledger of what was sent", test_ledger_w},
      {"drain time and rate after t0", test_drain_w},
      {"a queue that does not exist", test_no_such_queue_w},
      {"connection refused", test_refused_w},
      {"no region: the action does not start", test_no_region_w},
      {"bad keys at load time", test_bad_keys},
      {"describe, figures, kinds", test_describe},
      {NULL, NULL}};
  home = gd_test_tmpdir();
  int rc = gd_test_run("aws_sqs", tests);
  gd_fauxqs_stop(&fq);
  gd_test_rmrf(home);
  free(home);
  return rc;
}

/* gameday: the aws.posture.sqs_dlq check: does the queue have a
 * dead-letter queue? Without one, a message its consumers cannot process
 * (a poison message) comes back forever, and a backlog never drains.
 * GetQueueAttributes for RedrivePolicy; when there is one, GetQueueUrl for
 * the dead-letter queue named in its deadLetterTargetArn, since a policy
 * pointing at a deleted queue protects nothing. The value is the policy's
 * maxReceiveCount (0 without one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct dlq_ctx {
  struct gd_awskind_sqs q;
  cJSON *params;
  struct gd_awscheck chk;
};

static const char *const dlq_keys[] = {"queue_url", "region", NULL};

static void ctx_free(struct dlq_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  gd_awskind_sqs_free(&c->q);
  cJSON_Delete(c->params);
  free(c);
}

static int dlq_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  struct dlq_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  int rc = gd_awskind_sqs_parse(&c->q, spec, path, err);
  if (rc) {
    ctx_free(c);
    return rc;
  }
  cJSON *names;
  if (!(c->params = cJSON_CreateObject()) ||
      !cJSON_AddStringToObject(c->params, "QueueUrl", c->q.queue_url) ||
      !(names = cJSON_AddArrayToObject(c->params, "AttributeNames")) ||
      !cJSON_AddItemToArray(names, cJSON_CreateString("RedrivePolicy"))) {
    ctx_free(c);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  p->ctx = c;
  return 0;
}

static void dlq_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct dlq_ctx *c = p->ctx;
  snprintf(buf, n, "queue %s has a dead-letter queue", c->q.queue_url);
}

static int dlq_start(struct gd_probe *p, struct gd_error *err) {
  struct dlq_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, c->q.region, err);
}

static int no_such_queue(const struct gd_aws_result *res) {
  return strcmp(res->aws_code, "QueueDoesNotExist") == 0 ||
         strcmp(res->aws_code, "NonExistentQueue") == 0 ||
         strstr(res->aws_code, "NonExistentQueue") != NULL;
}

static void on_dlq_url(struct gd_awscheck_run *r, struct gd_aws_result *res,
                       const struct gd_error *e) {
  struct dlq_ctx *c = r->s->probe->ctx;
  const char *arn = cJSON_GetStringValue(cJSON_GetObjectItem(r->state, "arn"));
  double max = cJSON_GetNumberValue(cJSON_GetObjectItem(r->state, "max"));
  if (e) {
    if (no_such_queue(res))
      gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                         "queue %s: its dead-letter queue %s does not exist",
                         c->q.queue_url, arn);
    else
      gd_awscheck_fail(r, res, e);
    return;
  }
  gd_sample_set_value(r->s, max > 0 ? max : 0);
  if (max > 0)
    gd_awscheck_finish(r, GD_SAMPLE_OK,
                       "dead-letter queue %s after %.0f receives", arn, max);
  else
    gd_awscheck_finish(r, GD_SAMPLE_OK, "dead-letter queue %s", arn);
}

static void on_attributes(struct gd_awscheck_run *r,
                          struct gd_aws_result *res,
                          const struct gd_error *e) {
  struct dlq_ctx *c = r->s->probe->ctx;
  if (e) {
    if (no_such_queue(res))
      gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "queue %s does not exist",
                         c->q.queue_url);
    else
      gd_awscheck_fail(r, res, e);
    return;
  }
  const char *policy = cJSON_GetStringValue(cJSON_GetObjectItem(
      cJSON_GetObjectItem(res->json, "Attributes"), "RedrivePolicy"));
  if (!policy || !policy[0]) {
    gd_sample_set_value(r->s, 0);
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "queue %s has no dead-letter queue (no RedrivePolicy)",
                       c->q.queue_url);
    return;
  }
  cJSON *pol = cJSON_Parse(policy);
  const char *arn =
      cJSON_GetStringValue(cJSON_GetObjectItem(pol, "deadLetterTargetArn"));
  const cJSON *max = cJSON_GetObjectItem(pol, "maxReceiveCount");
  /* SQS writes the count as a number; some tools as a string. */
  double maxv = cJSON_IsNumber(max)   ? max->valuedouble
                : cJSON_IsString(max) ? atof(max->valuestring)
                                      : -1;
  /* arn:aws:sqs:REGION:ACCOUNT:NAME */
  const char *parts[6] = {0};
  char copy[512];
  int np = 0;
  if (arn) {
    snprintf(copy, sizeof copy, "%s", arn);
    for (char *s = copy, *colon; np < 6 && s; s = colon ? colon + 1 : NULL) {
      colon = strchr(s, ':');
      if (colon && np < 5) *colon = 0;
      else colon = NULL;
      parts[np++] = s;
    }
  }
  if (np != 6 || strcmp(parts[0], "arn") != 0 || !parts[5][0]) {
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "queue %s: RedrivePolicy without a valid "
                       "deadLetterTargetArn: %s",
                       c->q.queue_url, policy);
    cJSON_Delete(pol);
    return;
  }
  cJSON_AddStringToObject(r->state, "arn", arn);
  cJSON_AddNumberToObject(r->state, "max", maxv);
  cJSON_Delete(pol);
  cJSON *params = cJSON_CreateObject();
  if (!params || !cJSON_AddStringToObject(params, "QueueName", parts[5]) ||
      (parts[4][0] &&
       !cJSON_AddStringToObject(params, "QueueOwnerAWSAccountId", parts[4]))) {
    cJSON_Delete(params);
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return;
  }
  gd_awscheck_call_any(r, "sqs", "GetQueueUrl", params, on_dlq_url);
  cJSON_Delete(params);
}

static int dlq_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct dlq_ctx *c = p->ctx;
  struct gd_awscheck_run *r;
  int rc = gd_awscheck_begin(&c->chk, s, &r, err);
  if (rc) return rc;
  gd_awscheck_call_any(r, "sqs", "GetQueueAttributes", c->params,
                       on_attributes);
  return 0;
}

static void dlq_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct dlq_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void dlq_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_posture_sqs_dlq = {
    .type = "aws.posture.sqs_dlq",
    .keys = dlq_keys,
    .init = dlq_init,
    .describe = dlq_describe,
    .start = dlq_start,
    .sample = dlq_sample,
    .cancel = gd_awscheck_cancel,
    .stop = dlq_stop,
    .free = dlq_free,
};

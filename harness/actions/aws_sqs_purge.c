/* gameday: the aws.sqs.purge_queue action: PurgeQueue, as the rollback of
 * a flood or the fault "messages lost". SQS allows one purge per queue
 * every 60 seconds; a second one is refused with PurgeQueueInProgress,
 * which is reported as the failure it is, not retried. The purge itself
 * takes up to a minute on AWS: the action ends when SQS accepted it, and a
 * queue-depth probe shows when the queue is really empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/awskind.h"
#include "gameday/json.h"

struct purge_action {
  struct gd_awskind_sqs q;
  struct gd_action *a;
  struct gd_aws *aws;        /* while running */
  struct gd_aws_call *call;  /* while the call is out */
  int ok;
  char msg[GD_ERROR_MAX];
};

static const char *const purge_keys[] = {"queue_url", "region", NULL};

static int purge_init(struct gd_action *a, const cJSON *spec, const char *path,
                      struct gd_error *err) {
  struct purge_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  int rc = gd_awskind_sqs_parse(&x->q, spec, path, err);
  if (rc) {
    free(x);
    return rc;
  }
  a->ctx = x;
  return 0;
}

static void purge_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct purge_action *x = a->ctx;
  snprintf(buf, n, "purge %s", x->q.queue_url);
}

static void aws_closed(void *arg) {
  struct purge_action *x = arg;
  x->aws = NULL;
  gd_action_done(x->a, x->ok, "%s", x->msg);
}

static void on_purge(struct gd_aws_result *res, const struct gd_error *e,
                     void *arg) {
  struct purge_action *x = arg;
  struct gd_action *a = x->a;
  x->call = NULL;
  x->ok = e == NULL;
  cJSON *d = cJSON_CreateObject();
  if (d) {
    cJSON_AddStringToObject(d, "queue_url", x->q.queue_url);
    if (res->aws_code[0]) cJSON_AddStringToObject(d, "aws_code", res->aws_code);
    if (res->request_id[0])
      cJSON_AddStringToObject(d, "request_id", res->request_id);
  }
  cJSON_Delete(a->detail);
  a->detail = d;
  if (e)
    snprintf(x->msg, sizeof x->msg, "%s", e->msg);
  else
    snprintf(x->msg, sizeof x->msg, "purged %s", x->q.queue_url);
  /* done only once the client is closed: no handle left behind. */
  gd_aws_close(x->aws, aws_closed, x);
}

static int purge_run(struct gd_action *a, struct gd_error *err) {
  struct purge_action *x = a->ctx;
  if (x->aws)
    return gd_error_set(err, GD_ESTATE, "%s: already running", a->path);
  /* PurgeQueueInProgress is not retryable; one more try covers a dropped
   * connection. */
  struct gd_aws_options o = {.max_attempts = 2};
  int rc = gd_awskind_client(a->loop, a->curl, &x->q, &o, a->path, &x->aws,
                             err);
  if (rc) return rc;
  x->a = a;
  cJSON *p = cJSON_CreateObject();
  if (!p || !cJSON_AddStringToObject(p, "QueueUrl", x->q.queue_url)) {
    rc = gd_error_set(err, GD_ENOMEM, "%s: out of memory", a->path);
  } else {
    struct gd_error e = {0};
    rc = gd_aws_call(x->aws, "sqs", "PurgeQueue", p, on_purge, x, &x->call,
                     &e);
    if (rc) gd_error_set(err, rc, "%s: %s", a->path, e.msg);
  }
  cJSON_Delete(p);
  if (rc) {
    gd_aws_close(x->aws, NULL, NULL);
    x->aws = NULL;
  }
  return rc;
}

static void purge_cancel(struct gd_action *a) {
  struct purge_action *x = a->ctx;
  if (x->call) gd_aws_cancel(x->call); /* on_purge, right here */
}

static void purge_free(struct gd_action *a) {
  struct purge_action *x = a->ctx;
  if (x) gd_awskind_sqs_free(&x->q);
  free(x);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_aws_sqs_purge = {
    .type = "aws.sqs.purge_queue",
    .keys = purge_keys,
    .init = purge_init,
    .describe = purge_describe,
    .run = purge_run,
    .cancel = purge_cancel,
    .free = purge_free,
};

/* gameday: an AWS probe whose sample is a chain of calls, the probe-side
 * twin of awsjob.h. The posture and security checks of `gameday check`
 * (aws.posture.*, aws.security.*) read several answers before they can
 * judge (the groups, then their instances, then ...); struct gd_awscheck
 * owns the client of one probe instance, and struct gd_awscheck_run the
 * chain of one sample: the call in flight, the kind's scratch state, and
 * the end of the sample.
 *
 * A kind keeps a struct gd_awscheck in its ctx and wires its ops to it:
 *
 *   start   gd_awscheck_start(&c->chk, p, c->region, err)
 *   sample  return gd_awscheck_sample(&c->chk, s, "rds",
 *                                     "DescribeDBClusters", c->params,
 *                                     on_clusters, err);
 *   cancel  gd_awscheck_cancel itself (.cancel = gd_awscheck_cancel)
 *   stop    gd_awscheck_stop(&c->chk, p, done)
 *   free    gd_awscheck_free(&c->chk)   (then free the rest of ctx)
 *
 * and each step's callback reads the answer and either makes the next
 * call (gd_awscheck_call) or ends the sample (gd_awscheck_finish). Exactly
 * one of those two, once, per callback: a callback that does neither
 * leaves the sample to its timeout.
 *
 * What a sample's class means to `gameday check` (harness/check.c): OK is
 * a pass; MISMATCH is a finding, and its detail is the finding's text, so
 * say what is wrong and what was expected ("group 'web' spans 1 AZ
 * (eu-west-1a), needs 2"); any other class is "could not check: DETAIL".
 *
 * Failed calls. Unless the kind asked to see them (gd_awscheck_call_any),
 * a call that fails ends the sample without calling the step's callback:
 *   - an AWS error answer: class GD_SAMPLE_ERROR, detail exactly
 *     "CODE on ACTION", the AWS error code and the IAM action name of the
 *     call ("AccessDenied on iam:GetAccountSummary",
 *     "UnauthorizedOperation on ec2:DescribeSecurityGroups"), which is the
 *     permission to grant when the code says access was denied;
 *   - no answer in time: GD_SAMPLE_TIMEOUT;
 *   - anything else (refused, unreachable, a 5xx without an AWS code, an
 *     answer that does not parse): the class of gd_awskind_sample_class
 *     with HTTP statuses folded into GD_SAMPLE_ERROR (a bad status is not
 *     a finding about the resource), detail "ACTION: MESSAGE".
 * The IAM action name is "PREFIX:Operation" with the service's IAM prefix:
 * iam, s3, ec2, rds, autoscaling, elasticloadbalancing, cloudwatch (the
 * client's "monitoring"), sqs, cloudtrail, lambda, sts, logs, ...; and
 * the action's own name where IAM names it differently from the call
 * (s3 ListBuckets is s3:ListAllMyBuckets, GetPublicAccessBlock
 * s3:GetBucketPublicAccessBlock).
 *
 * Cancellation (the sample's timeout, the run stopping) cancels the call in
 * flight and ends the sample as GD_SAMPLE_TIMEOUT ("cancelled during
 * ec2:DescribeInstances"); step callbacks never see it.
 *
 * The client makes up to 3 attempts per call (throttling and 5xx are
 * retried with backoff) within the probe's timeout: a check is one reading,
 * and a throttled answer should not make it "could not check".
 *
 * Watching probes. The probes that sample a resource through a run
 * (aws.rds.cluster, aws.sqs.queue_depth, aws.cloudwatch.alarm, ...) make
 * one call per sample and use the same machinery, started with
 * gd_awscheck_start_watch instead. Then the client makes one attempt per
 * call (retries would hide the throttling and errors such a probe is there
 * to see; the sample's timeout is the bound), and a failed call ends the
 * sample as every AWS probe reports it: class gd_awskind_sample_class,
 * detail the client's message, and "cancelled" (GD_SAMPLE_TIMEOUT) on
 * cancellation. */
#ifndef GAMEDAY_AWSCHECK_H
#define GAMEDAY_AWSCHECK_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "gameday/aws.h"
#include "gameday/error.h"
#include "gameday/probe.h"

struct gd_awscheck;
struct gd_awscheck_run;

/* A step's answer, success only (res->xml for query services, res->json
 * for JSON ones): e is NULL, except for gd_awscheck_call_any, where e is
 * the failure (never a cancellation). */
typedef void (*gd_awscheck_cb)(struct gd_awscheck_run *r,
                               struct gd_aws_result *res,
                               const struct gd_error *e);

/* One probe instance: its client. Lives in the kind's ctx, zeroed at init
 * (calloc); nothing to do before gd_awscheck_start. */
struct gd_awscheck {
  struct gd_probe *p;
  /* private */
  struct gd_aws *aws;
  struct gd_awscheck_run *runs; /* one per sample slot, for free */
  void (*stop_done)(struct gd_probe *p);
  int watch; /* started with gd_awscheck_start_watch */
};

/* One sample's chain. s is the sample (s->probe->ctx the kind's ctx);
 * state is the kind's scratch space for what it gathers between calls
 * (ids, zones, counts): an empty cJSON object when the sample begins,
 * deleted when it ends. data is the kind's too, NULL at each begin and
 * never freed by the helper. */
struct gd_awscheck_run {
  struct gd_awscheck *chk;
  struct gd_sample *s;
  cJSON *state;
  void *data;
  /* private */
  struct gd_aws_call *call;
  gd_awscheck_cb cb;
  int any, active;
  char action[128]; /* "ec2:DescribeInstances": the call in flight */
  struct gd_awscheck_run *next;
};

/* For ops->start: a client in region (NULL: the configured one). Errors are
 * prefixed with the probe's path; nothing is left open on error. */
int gd_awscheck_start(struct gd_awscheck *c, struct gd_probe *p,
                      const char *region, struct gd_error *err);

/* For ops->start of a watching probe (above): one attempt per call, and
 * failed calls reported the probes' way. */
int gd_awscheck_start_watch(struct gd_awscheck *c, struct gd_probe *p,
                            const char *region, struct gd_error *err);

/* For ops->sample: begins sample s and makes its first call. Returns an
 * error (and the sample is recorded as failed by the caller, no callback)
 * when the call cannot start; 0: cb, or the sample's end, follows. */
int gd_awscheck_sample(struct gd_awscheck *c, struct gd_sample *s,
                       const char *service, const char *operation,
                       const cJSON *params, gd_awscheck_cb cb,
                       struct gd_error *err);

/* For ops->sample, when the first call is not a plain gd_awscheck_call
 * (gd_awscheck_call_any, or no call at all): begins sample s and gives its
 * run; make the first call (or finish) before ops->sample returns 0. */
int gd_awscheck_begin(struct gd_awscheck *c, struct gd_sample *s,
                      struct gd_awscheck_run **out, struct gd_error *err);

/* The next call of the chain; params are read during this call only. A
 * call that cannot start ends the sample (GD_SAMPLE_ERROR, "ACTION:
 * why"). */
void gd_awscheck_call(struct gd_awscheck_run *r, const char *service,
                      const char *operation, const cJSON *params,
                      gd_awscheck_cb cb);
/* The same, but cb also gets the failed answers (e set; not a
 * cancellation), for a kind that gives an error code a meaning of its own
 * (DBClusterNotFoundFault: "cluster 'x' not found" is a finding). It ends
 * the sample itself, with gd_awscheck_fail for the default treatment. */
void gd_awscheck_call_any(struct gd_awscheck_run *r, const char *service,
                          const char *operation, const cJSON *params,
                          gd_awscheck_cb cb);

/* gd_awscheck_call for the next page of a listing: params plus
 * {key: token} ("NextToken"); params themselves are not changed. */
void gd_awscheck_call_page(struct gd_awscheck_run *r, const char *service,
                           const char *operation, const cJSON *params,
                           const char *key, const char *token,
                           gd_awscheck_cb cb);

/* Ends the sample with class cls and a printf-style detail. Call
 * gd_sample_set_value(r->s, v) before it for a reading. r is not to be
 * used after this (the slot may begin its next sample). */
void gd_awscheck_finish(struct gd_awscheck_run *r, enum gd_sample_class cls,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Ends the sample as a failed call ends it (above): for gd_awscheck_call_any
 * callbacks, with the answer and error they got. */
void gd_awscheck_fail(struct gd_awscheck_run *r,
                      const struct gd_aws_result *res,
                      const struct gd_error *e);

/* ops->cancel itself: every kind's sample is a run of the helper. */
void gd_awscheck_cancel(struct gd_probe *p, struct gd_sample *s);
/* For ops->stop: closes the client (if started), then done(p). */
void gd_awscheck_stop(struct gd_awscheck *c, struct gd_probe *p,
                      void (*done)(struct gd_probe *p));
/* For ops->free: frees the runs. No loop calls. */
void gd_awscheck_free(struct gd_awscheck *c);

/* A list key of a check: a JSON array of strings or numbers, or one string
 * of comma-separated items ("443, 80"), so that a ${var} can carry a list.
 * Items are trimmed; empty ones are an error, but an empty (or blank)
 * string is the empty list (a ${var} left empty). *out: malloc'd
 * NULL-terminated array of malloc'd strings (gd_strv_free), *n its length;
 * left unchanged when the key is absent and not required. */
int gd_awscheck_list_parse(const cJSON *spec, const char *key,
                           const char *path, int required, char ***out,
                           size_t *n, struct gd_error *err);

/* "cloudwatch:DescribeAlarms": the IAM action name of a call to service
 * (the client's name, as gd_aws_call takes it) into buf, returned. */
const char *gd_awscheck_action(const char *service, const char *operation,
                               char *buf, size_t n);

#endif

/* gameday: an AWS action as a chain of steps on the loop. A kind that makes
 * several calls in a row (describe, check, mutate, then poll until the
 * resource is ready) keeps one struct gd_awsjob: it owns the client, the
 * call in flight and the timer between polls, and finishing it closes all
 * of that before gd_action_done, so the action holds no handle when the
 * driver hears it ended.
 *
 * Cancellation (the driver's timeout, an interrupt) aborts the call in
 * flight or the wait, and the job finishes as failed with what it was doing
 * at that moment ("cancelled while waiting for cluster 'x' to be available
 * (last status 'creating')"); the kind's step callbacks never see it. */
#ifndef GAMEDAY_AWSJOB_H
#define GAMEDAY_AWSJOB_H

#include <cjson/cJSON.h>
#include <uv.h>

#include "gameday/action.h"
#include "gameday/aws.h"
#include "gameday/error.h"

struct gd_awsjob;

/* A step's answer: e is NULL on success. Not called after a cancel. */
typedef void (*gd_awsjob_cb)(struct gd_awsjob *j, struct gd_aws_result *res,
                             const struct gd_error *e);

struct gd_awsjob {
  struct gd_action *a;
  void *data; /* the kind's */
  /* private */
  struct gd_aws *aws;
  struct gd_aws_call *call;
  gd_awsjob_cb cb;
  void (*wake)(struct gd_awsjob *j);
  uv_timer_t timer;
  int timer_open, finishing, closes, ok;
  char doing[256]; /* "RDS FailoverDBCluster", "waiting for ..." */
  char msg[1024];
  uint64_t started_ns;
};

/* Begins a job for action a: a client in region (NULL: configured), with
 * opts (may be NULL), and the poll timer. On error nothing is left open. */
int gd_awsjob_start(struct gd_awsjob *j, struct gd_action *a, void *data,
                    const char *region, const struct gd_aws_options *opts,
                    struct gd_error *err);
/* One call; cb gets its answer. A call that cannot start finishes the job
 * as failed (the message names the operation). */
void gd_awsjob_call(struct gd_awsjob *j, const char *service,
                    const char *operation, const cJSON *params,
                    gd_awsjob_cb cb);
/* Waits ms, then calls wake. `what` says what for, in a cancel message:
 * "cluster 'x' to be available (status 'creating')". */
void gd_awsjob_sleep(struct gd_awsjob *j, unsigned ms,
                     void (*wake)(struct gd_awsjob *j), const char *what);
/* Ends the job: closes the client and the timer, then gd_action_done(a, ok,
 * message). Set a->detail before. */
void gd_awsjob_finish(struct gd_awsjob *j, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* For ops->cancel. */
void gd_awsjob_cancel(struct gd_awsjob *j);
/* 1 while started and not yet finished. */
int gd_awsjob_active(const struct gd_awsjob *j);
/* Seconds since gd_awsjob_start. */
double gd_awsjob_elapsed_s(const struct gd_awsjob *j);

#endif

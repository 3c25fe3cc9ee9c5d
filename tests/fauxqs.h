/* fauxqs, a third-party SQS implementation (npm, pinned in
 * scenarios/local/stack/queue), for the tests that talk SQS: started on a
 * free loopback port through scenarios/local/stack/queue/loopback.mjs,
 * waited for, and stopped by pid; and single SQS calls to it for setting
 * up and checking. A test skips (with the reason) where node or the npm
 * packages are missing. */
#ifndef GD_TEST_FAUXQS_H
#define GD_TEST_FAUXQS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <sys/types.h>

/* Zero-initialise. */
struct gd_fauxqs {
  pid_t pid;       /* > 0 while it runs */
  int port;        /* on 127.0.0.1 */
  const char *why; /* set when it cannot run here: a test skips with it */
  char url[64];    /* http://127.0.0.1:PORT */
};

/* Starts fauxqs with its output in DIR/fauxqs.log and waits (up to 6 s)
 * until it accepts connections. 0 when it is up, also when f already ran;
 * -1 when it cannot run here, with f->why saying why; once that is set,
 * later calls return -1 at once, so a program tries once. Whatever is
 * still running when the program exits is stopped then (a failed
 * CU_ASSERT_FATAL jumps past a test's own stop). */
int gd_fauxqs_start(struct gd_fauxqs *f, const char *dir);
/* Stops it by pid (SIGTERM, then SIGKILL); nothing when not running. A
 * later start starts a new one. */
void gd_fauxqs_stop(struct gd_fauxqs *f);
/* AWS_ENDPOINT_URL_SQS=f->url, where the SQS client looks for it. */
void gd_fauxqs_setenv(const struct gd_fauxqs *f);

/* One SQS call on a loop of its own, with the AWS settings of this
 * process's environment (endpoint, region, credentials); params is
 * consumed. The answer (caller frees) or NULL, the error printed. */
cJSON *gd_fauxqs_sqs(const char *op, cJSON *params);
/* The same with the parameters as JSON text (it must parse: a fatal
 * assertion). */
cJSON *gd_fauxqs_sqs_text(const char *op, const char *params_json);

/* CreateQueue NAME; its URL into url (a fatal assertion when there is
 * none) and, when arn is not NULL, its ARN into arn. */
void gd_fauxqs_new_queue(const char *name, char *url, size_t n, char *arn,
                         size_t an);
/* The queue at url sends to the dead-letter queue dlq_arn after
 * max_receives receives (RedrivePolicy, a JSON string in the JSON).
 * 0, or -1 when SetQueueAttributes failed. */
int gd_fauxqs_redrive(const char *url, const char *dlq_arn,
                       int max_receives);

#endif

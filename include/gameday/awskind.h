/* gameday: what the AWS probe and action kinds share: the common keys of
 * an SQS kind (`queue_url`, `region`), a gd_aws client made per kind
 * instance at run time, on the run's loop and gd_curl, and the sample class
 * of a failed call for the AWS probes. (The `select` key of the kinds that
 * pick targets is select.h's.)
 *
 * The region of an SQS call is, first match wins: the `region` key; the
 * region in an AWS queue URL's host (https://sqs.eu-west-1.amazonaws.com/
 * 123456789012/q, or the legacy eu-west-1.queue.amazonaws.com), since that
 * is where the queue is; then the configured one (AWS_REGION, the profile).
 * The endpoint is the configured one: AWS_ENDPOINT_URL_SQS (or the other
 * overrides of awsconfig.h), else the default for the region. */
#ifndef GAMEDAY_AWSKIND_H
#define GAMEDAY_AWSKIND_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <uv.h>

#include "gameday/aws.h"
#include "gameday/error.h"
#include "gameday/probe.h"

struct gd_curl;

struct gd_awskind_sqs {
  char *queue_url; /* as given */
  char *region;    /* the key, else from the URL; NULL: configured */
};

/* Reads `queue_url` (required: an http or https URL with a path) and
 * `region` (optional) from spec; the caller checks for unknown keys. */
int gd_awskind_sqs_parse(struct gd_awskind_sqs *q, const cJSON *spec,
                         const char *path, struct gd_error *err);
void gd_awskind_sqs_free(struct gd_awskind_sqs *q);

/* A client for one kind instance; close it with gd_aws_close. opts may be
 * NULL; its region is replaced by q->region when that is set. Errors are
 * prefixed with path. */
int gd_awskind_client(uv_loop_t *loop, struct gd_curl *curl,
                      const struct gd_awskind_sqs *q,
                      const struct gd_aws_options *opts, const char *path,
                      struct gd_aws **out, struct gd_error *err);

/* A client in `region` (NULL: the configured one); errors prefixed with
 * path. gd_awskind_client is this with the queue's region. */
int gd_awskind_client_region(uv_loop_t *loop, struct gd_curl *curl,
                             const char *region,
                             const struct gd_aws_options *opts,
                             const char *path, struct gd_aws **out,
                             struct gd_error *err);

/* Reads the optional `region` key: NULL when absent, a malloc'd copy when
 * given (an empty one is an error). */
int gd_awskind_region_parse(const cJSON *spec, const char *path, char **out,
                            struct gd_error *err);

/* The probe sample class of a failed AWS call: timeout, an AWS error
 * ("error"), a bad answer ("protocol"), an HTTP status, refused/connect. */
enum gd_sample_class gd_awskind_sample_class(const struct gd_aws_result *res,
                                             const struct gd_error *e);

#endif

/* gameday: what the AWS probe and action kinds share: the common keys of
 * an SQS kind (`queue_url`, `region`), a gd_aws client made per kind
 * instance at run time, on the run's loop and gd_curl, the `select` key of
 * the kinds that pick targets (EC2 instances), and the sample class of a
 * failed call for the AWS probes.
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

/* Target selection, as AWS FIS writes it: COUNT(n), PERCENT(n), ALL, and
 * which ones: at random (the default) or the first in the candidates'
 * order. Key `select`: {"mode": "random"|"first"|"all", "count": n} or
 * {"percent": p}; mode "all" takes neither. */
enum gd_awskind_mode {
  GD_AWSKIND_RANDOM,
  GD_AWSKIND_FIRST,
  GD_AWSKIND_ALL
};

struct gd_awskind_select {
  enum gd_awskind_mode mode;
  long long count; /* > 0 for COUNT(n); 0 for percent and all */
  double percent;  /* > 0 for PERCENT(p) */
  int given;       /* the spec had a `select` key */
};

/* Reads `select` (optional). When absent: mode def_mode, and COUNT(1)
 * unless def_mode is all. */
int gd_awskind_select_parse(struct gd_awskind_select *s, const cJSON *spec,
                            const char *path, enum gd_awskind_mode def_mode,
                            struct gd_error *err);
/* "1 at random", "first 2", "50% at random", "all". */
void gd_awskind_select_describe(const struct gd_awskind_select *s, char *buf,
                                size_t n);

/* Picks from n candidates (in their order) into out[] (n entries of room),
 * ascending indices, *k of them:
 *   all: every one; count: min(count, n); percent: ceil(p * n / 100), at
 *   least 1 (like FIS, so 10% of 3 instances is one, not none).
 * cap is the most targets the scenario allows (gd_scenario_max_targets).
 * A selection the scenario asked for as a share (percent, all) is cut to
 * cap (*cut set to the size before, else 0); one it asked for by number
 * (a count, or `explicit_list`: the targets were listed one by one) is
 * refused with GD_EPERM when that number is over cap: cutting a list
 * someone wrote out would silently do something else than what it says.
 * n == 0 gives *k = 0 and 0. */
int gd_awskind_select(const struct gd_awskind_select *s, size_t n, size_t cap,
                      int explicit_list, const char *path, size_t *out,
                      size_t *k, size_t *cut, struct gd_error *err);

/* The probe sample class of a failed AWS call: timeout, an AWS error
 * ("error"), a bad answer ("protocol"), an HTTP status, refused/connect. */
enum gd_sample_class gd_awskind_sample_class(const struct gd_aws_result *res,
                                             const struct gd_error *e);

#endif

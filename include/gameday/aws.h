/* gameday: the AWS client on the loop.
 *
 * One struct gd_aws per run holds the configuration, the credential
 * provider, the retry settings and the calls in flight; every call goes
 * through the run's gd_curl. A call names a service ("ec2", "autoscaling",
 * "rds", "monitoring", "elasticloadbalancing", "sqs", ...), an operation and
 * its parameters; the service's protocol decides how they go on the wire:
 *
 *   query     POST form body Action=Op&Version=API_VERSION plus the
 *             parameters flattened (below); the answer is XML, handed over
 *             parsed (libxml2), with gd_aws_xml_* to read values by path.
 *   json 1.0  POST, X-Amz-Target: PREFIX.Op, Content-Type
 *   json 1.1  application/x-amz-json-1.0 (1.1); the parameters object is
 *             the body, the answer a cJSON tree.
 *   rest-xml  S3, and rest-json, Lambda: the call names the HTTP request
 *   rest-json itself, in reserved members of the parameters object (the
 *             operation name is for messages and the IAM action name):
 *               "_method"  "GET" (default), "PUT", ...
 *               "_path"    the path, unescaped ("/2015-03-31/functions/");
 *                          every byte but unreserved ones and '/' is
 *                          percent-encoded once by the client
 *               "_query"   {"Marker": "x", "MaxItems": 50,
 *                           "publicAccessBlock": ""}: values strings,
 *                          numbers, booleans or arrays of them (repeated
 *                          names); "" sends the bare name, S3's
 *                          sub-resource form "?publicAccessBlock"
 *               "_headers" {"x-amz-expected-bucket-owner": "1234..."}, at
 *                          most GD_AWS_REST_MAX_HEADERS; not Host,
 *                          Authorization, Content-Length
 *               "_body"    a string (sent as it is), or for rest-json an
 *                          object sent as JSON (Content-Type
 *                          application/json unless _headers sets one)
 *               "_bucket"  S3 only: the bucket, addressed virtual-host
 *                          style (BUCKET.s3.REGION.amazonaws.com) on the
 *                          default endpoint and path-style (URL/BUCKET/...)
 *                          behind an endpoint override or for names that
 *                          are not one DNS label (dots), as the SDKs do
 *             Any other member is an error. The answer: rest-xml the
 *             parsed XML (NULL when the body is empty), rest-json a cJSON
 *             tree ({} when empty). S3 is signed with S3's rules (the path
 *             signed as sent, not encoded twice; x-amz-content-sha256 on
 *             every request); a 301/400 naming the bucket's region in
 *             x-amz-bucket-region is asked again there, once, without
 *             spending an attempt. Errors: S3's <Error><Code/><Message/>
 *             </Error>; rest-json's code from the x-amzn-ErrorType header,
 *             else the body's __type or code, else its Type unless that is
 *             a fault ("User", "Service", as Lambda writes beside the
 *             header).
 *   Examples: ("s3", "ListBuckets", {}), ("s3", "GetBucketPolicyStatus",
 *   {"_bucket": "b", "_query": {"policyStatus": ""}}), ("lambda",
 *   "ListFunctions", {"_path": "/2015-03-31/functions/", "_query":
 *   {"Marker": m}}).
 *
 * IAM is a query service with one global endpoint per partition
 * (iam.amazonaws.com, signed for us-east-1), AWS_ENDPOINT_URL_IAM or the
 * other overrides of awsconfig.h apply, and the signing region stays
 * us-east-1 behind them.
 *
 * Every request is signed with SigV4 (credentials from the provider, the
 * signing name and region from the endpoint resolution). AWS error answers
 * become "ec2 TerminateInstances: UnauthorizedOperation: You are not
 * authorized ..."; throttling, 5xx and transport failures are retried with
 * exponential backoff and full jitter on a uv timer, bounded by a number of
 * attempts and a total time; other 4xx answers are not retried. No secret
 * (secret key, session token, Authorization) appears in any message: AWS
 * messages are scrubbed of them too, since some echo the canonical request.
 *
 * Query flattening of the parameters object (wire names, as the API
 * reference's "Request Parameters" and examples write them):
 *   {"InstanceId": ["i-1", "i-2"]}            InstanceId.1=i-1&InstanceId.2=i-2
 *   {"Filter": [{"Name": "tag:Env",
 *                "Value": ["staging"]}]}      Filter.1.Name=tag:Env&
 *                                             Filter.1.Value.1=staging
 *   {"AutoScalingGroupNames.member": ["a"]}   AutoScalingGroupNames.member.1=a
 *   {"ForceFailover": true, "MaxRecords": 20} ForceFailover=true&MaxRecords=20
 * Strings go as they are, numbers as integers when integral, booleans as
 * true/false; null is left out. */
#ifndef GAMEDAY_AWS_H
#define GAMEDAY_AWS_H

#include <cjson/cJSON.h>
#include <libxml/tree.h>
#include <stddef.h>
#include <uv.h>

#include "gameday/awsconfig.h"
#include "gameday/curl.h"
#include "gameday/error.h"

enum gd_aws_protocol {
  GD_AWS_QUERY,
  GD_AWS_JSON10,
  GD_AWS_JSON11,
  GD_AWS_REST_XML, /* S3 */
  GD_AWS_REST_JSON /* Lambda */
};

/* The most "_headers" a REST call may give. */
#define GD_AWS_REST_MAX_HEADERS 8

struct gd_aws_service {
  const char *name; /* endpoint prefix, as gd_aws_endpoint_resolve takes */
  enum gd_aws_protocol protocol;
  const char *version; /* query: the API version; json: NULL */
  const char *target;  /* json: the X-Amz-Target prefix; else NULL */
  const char *xmlns;   /* query: the answers' namespace, for test servers */
};

/* The service's entry (name as in the table, case-insensitive), or NULL. */
const struct gd_aws_service *gd_aws_service_find(const char *name);

struct gd_aws_options {
  const char *profile;         /* NULL: AWS_PROFILE, else "default" */
  const char *region;          /* NULL: the configured one */
  int max_attempts;            /* 0: 4; 1 means no retry */
  unsigned base_delay_ms;      /* 0: 100; backoff before retry n is uniform
                                  in [0, min(max_delay, base * 2^(n-1))] */
  unsigned max_delay_ms;       /* 0: 5000 */
  unsigned attempt_timeout_ms; /* 0: 10000; one request, connect included */
  unsigned total_timeout_ms;   /* 0: 30000; the whole call, retries included */
};

struct gd_aws;
struct gd_aws_call;

/* What a call got. Valid during the callback only; a callback that wants to
 * keep xml or json takes it and sets the field to NULL (the result is
 * handed over as non-const for that). */
struct gd_aws_result {
  long status; /* HTTP status of the last attempt; 0: none */
  int attempts;
  char request_id[96]; /* "" when the answer had none */
  /* The AWS error of the last attempt ("" when none): code shortened to
   * what follows '#' ("QueueDoesNotExist"), message scrubbed. */
  char aws_code[128];
  char aws_message[512];
  xmlDoc *xml;      /* query, rest-xml, success: the parsed answer */
  cJSON *json;      /* json, rest-json, success: the answer ({} when
                       empty) */
  const char *body; /* the raw answer of the last attempt */
  size_t body_len;
};

/* err is NULL on success; otherwise err->code is GD_EIO (an AWS error, a
 * transport failure or a bad answer), GD_ETIMEDOUT, GD_ECANCELED or what
 * the credential provider said, and res->aws_code names AWS's error. */
typedef void (*gd_aws_cb)(struct gd_aws_result *res, const struct gd_error *err,
                          void *arg);

/* Loads the configuration (opts->profile) and makes the credential
 * provider; curl must outlive the client. opts may be NULL. */
int gd_aws_new(uv_loop_t *loop, struct gd_curl *curl,
               const struct gd_aws_options *opts, struct gd_aws **out,
               struct gd_error *err);
const struct gd_aws_config *gd_aws_config(const struct gd_aws *a);

/* One call. params: a JSON object (NULL: none), read during this call only.
 * Returns 0 and calls cb exactly once, never from within this call; or an
 * error (unknown service, unsupported protocol, no region, bad parameters,
 * GD_ESTATE when closing) and never calls it. *call (may be NULL) is the
 * handle for gd_aws_cancel, valid until cb runs. */
int gd_aws_call(struct gd_aws *a, const char *service, const char *operation,
                const cJSON *params, gd_aws_cb cb, void *arg,
                struct gd_aws_call **call, struct gd_error *err);
/* Calls cb at once with GD_ECANCELED. */
void gd_aws_cancel(struct gd_aws_call *call);
/* Cancels every call, closes the provider and the timers, frees a from the
 * last close callback, then calls done (may be NULL). */
void gd_aws_close(struct gd_aws *a, void (*done)(void *arg), void *arg);

/* Query flattening, exposed for tests: the form body of one call,
 * malloc'd. */
int gd_aws_query_body(const struct gd_aws_service *svc, const char *operation,
                      const cJSON *params, char **out, struct gd_error *err);

/* Reading a query answer. A path is element local names joined by '/'
 * (namespaces ignored), from node's children: with the root of
 * DescribeDBClustersResponse,
 * "DescribeDBClustersResult/DBClusters/DBCluster/Status". Each step takes
 * the first element of that name. */
xmlNode *gd_aws_xml_find(const xmlNode *node, const char *path);
/* The next sibling element with the same local name (the next item of a
 * list), or NULL. */
xmlNode *gd_aws_xml_next(const xmlNode *node);
/* The text of the element at path (path NULL or "": node itself) into buf;
 * returns buf, or NULL (buf "") when there is no such element. */
const char *gd_aws_xml_text(const xmlNode *node, const char *path, char *buf,
                            size_t n);

#endif

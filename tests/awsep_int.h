/* The test AWS endpoint's insides, shared by awsep.c and the one file per
 * service (awsep_ec2.c, ...): the request being answered, XML writing,
 * parameters, errors, the world and the scheduled changes. Everything here
 * runs on the server thread with the world's mutex held. */
#ifndef GD_AWSEP_INT_H
#define GD_AWSEP_INT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "awsep.h"

/* A growing string; out of memory aborts (a test server). */
struct awsep_buf {
  char *p;
  size_t len, cap;
};
void awsep_buf_add(struct awsep_buf *b, const char *s, size_t n);
void awsep_buf_puts(struct awsep_buf *b, const char *s);
void awsep_buf_printf(struct awsep_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void awsep_buf_free(struct awsep_buf *b);

struct awsep_req;

struct awsep_op {
  const char *name;
  int mutating;
  /* Writes the answer with awsep_begin/awsep_end, or an error with
   * awsep_error; returns 0 either way. */
  int (*fn)(struct awsep_req *r);
};

/* How a service's requests and answers look on the wire. */
enum awsep_proto {
  AWSEP_QUERY,    /* form body, XML answers (the default: 0) */
  AWSEP_JSON11,   /* POST, X-Amz-Target PREFIX.Op, JSON both ways */
  AWSEP_REST_XML, /* S3: method + path + query, XML answers */
  AWSEP_REST_JSON /* Lambda: method + path + query, JSON answers */
};

struct awsep_service {
  const char *name;  /* SigV4 signing name = credential scope service */
  const char *version;
  const char *xmlns;
  int ec2_errors;    /* Response/Errors/Error and MissingParameter */
  const struct awsep_op *ops; /* {NULL} terminated */
  int proto;         /* enum awsep_proto */
  const char *target; /* json: the X-Amz-Target prefix */
  /* rest: names the operation of r (r->method, r->path, r->bucket,
   * r->params = the query) in r->action; or writes an error answer and
   * returns -1. */
  int (*route)(struct awsep_req *r);
  /* The one region signatures must be scoped to (IAM: us-east-1); NULL:
   * the endpoint's (S3: any, checked against the bucket's). */
  const char *scope_region;
};

struct awsep_req {
  struct gd_awsep *ep;
  const struct awsep_service *svc;
  const struct awsep_op *op;
  char action[128];
  cJSON *params; /* flat object of wire names */
  char request_id[40];
  int status;
  char code[128];
  struct awsep_buf out; /* the answer's body */
  /* REST and JSON requests */
  char method[16];
  char *path;           /* rest: decoded, after the bucket for S3 */
  char bucket[256];     /* s3: from the host or the first segment; "" */
  char scope_region[64]; /* the region of the request's signature */
  char extra_headers[512]; /* more answer headers, "Name: v\r\n" each */
};

extern const struct awsep_op gd_awsep_ec2_ops[];
extern const struct awsep_op gd_awsep_autoscaling_ops[];
extern const struct awsep_op gd_awsep_elbv2_ops[];
extern const struct awsep_op gd_awsep_rds_ops[];
extern const struct awsep_op gd_awsep_cloudwatch_ops[];
extern const struct awsep_op gd_awsep_iam_ops[];
extern const struct awsep_op gd_awsep_s3_ops[];
extern const struct awsep_op gd_awsep_cloudtrail_ops[];
extern const struct awsep_op gd_awsep_lambda_ops[];
extern const struct awsep_op gd_awsep_sts_ops[];
/* Credentials issued by STS (awsep_sts.c): 1 and their secret and token
 * when akid is one of them, -1 when it has expired, 0 when unknown. */
int awsep_sts_key(struct gd_awsep *ep, const char *akid, const char **secret,
                  const char **token);
int awsep_s3_route(struct awsep_req *r);
int awsep_lambda_route(struct awsep_req *r);

/* ---- JSON and REST answers ---- */

/* Writes o (deleted) as the answer with this status. Returns 0. */
int awsep_json(struct awsep_req *r, int status, cJSON *o);
/* An ISO 8601 time days before the world's now ("2026-08-25T23:00:00Z"),
 * for fixtures that say "created_days_ago". */
void awsep_days_ago(struct gd_awsep *ep, double days, char out[32]);
/* The world's wall clock, Unix seconds. */
double awsep_epoch(struct gd_awsep *ep);

/* ---- parameters ---- */

/* The value of a wire parameter, or NULL. */
const char *awsep_param(struct awsep_req *r, const char *name);
/* "PREFIX.i" (i from 1), or NULL past the end. */
const char *awsep_item(struct awsep_req *r, const char *prefix, int i);
/* Like awsep_item with a suffix: "PREFIX.i.SUFFIX". */
const char *awsep_item2(struct awsep_req *r, const char *prefix, int i,
                        const char *suffix);
/* 1 when the parameter is "true". */
int awsep_bool(struct awsep_req *r, const char *name);
/* The value, or an error answer naming it and NULL: MissingParameter for
 * EC2, InvalidParameterValue for RDS, ValidationError for the others. */
const char *awsep_require(struct awsep_req *r, const char *name);
/* A positive integer parameter with bounds, dflt when absent; -1 after an
 * error answer (ValidationError / InvalidParameterValue). */
long awsep_int(struct awsep_req *r, const char *name, long dflt, long lo,
               long hi);

/* ---- answers ---- */

/* <ActionResponse xmlns=...> and, but for EC2, <ActionResult>; EC2 gets
 * its <requestId> first. */
void awsep_begin(struct awsep_req *r);
/* Closes what awsep_begin opened, ResponseMetadata included. */
void awsep_end(struct awsep_req *r);
/* Replaces the answer with an error in the service's shape. Returns 0. */
int awsep_error(struct awsep_req *r, int status, const char *code,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void awsep_x_open(struct awsep_req *r, const char *name);
void awsep_x_close(struct awsep_req *r, const char *name);
/* <name>text</name>, text escaped; NULL text writes <name/>. */
void awsep_x_el(struct awsep_req *r, const char *name, const char *text);
void awsep_x_elf(struct awsep_req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void awsep_x_bool(struct awsep_req *r, const char *name, int v);
void awsep_x_esc(struct awsep_buf *b, const char *s);

/* ---- the world ---- */

cJSON *awsep_world(struct awsep_req *r);
/* world[list], created empty when absent. */
cJSON *awsep_wlist(struct gd_awsep *ep, const char *list);
/* The item of world[list] whose key is value, or NULL. */
cJSON *awsep_find(struct gd_awsep *ep, const char *list, const char *key,
                  const char *value);
/* String and number members of an item (dflt when absent or another
 * type); set replaces or adds. */
const char *awsep_s(const cJSON *o, const char *key, const char *dflt);
double awsep_n(const cJSON *o, const char *key, double dflt);
int awsep_b(const cJSON *o, const char *key, int dflt);
void awsep_set_s(cJSON *o, const char *key, const char *v);
void awsep_set_n(cJSON *o, const char *key, double v);
void awsep_set_b(cJSON *o, const char *key, int v);

const char *awsep_region(struct gd_awsep *ep);
const char *awsep_account(struct gd_awsep *ep);
/* delays_ms[name] */
long awsep_delay(struct gd_awsep *ep, const char *name);
/* The time the world is at (ms, monotonic): the request's arrival, or the
 * due time of the change being applied. */
int64_t awsep_now(struct gd_awsep *ep);
/* Wall clock of that time as ISO 8601 UTC ("2026-11-23T23:00:00.000Z"),
 * offset_ms added. */
void awsep_iso(struct gd_awsep *ep, int64_t offset_ms, char out[32]);
/* A fresh 17-hex-digit serial for ids (replacement instances, ...). */
unsigned long awsep_serial(struct gd_awsep *ep);

/* A change to apply after delay_ms (from awsep_now): fn(ep, a, b) with
 * copies of a and b (may be NULL). Changes are applied in due order, each
 * at its own time, so a chain keeps its timeline even when applied late. */
typedef void (*awsep_change_fn)(struct gd_awsep *ep, const char *a,
                                const char *b);
void awsep_schedule(struct gd_awsep *ep, long delay_ms, awsep_change_fn fn,
                    const char *a, const char *b);

/* Tags as the world keeps them ({"K": "V"}) to a query list of
 * {Key, Value} items: each item in <item_el>, key/value element names as
 * given. */
void awsep_x_tags(struct awsep_req *r, const cJSON *tags, const char *item_el,
                  const char *kname, const char *vname);

/* Normalising the fixture, per service (defaults filled in): 0 or -1 with
 * why. */
int awsep_ec2_normalize(struct gd_awsep *ep, char *err, size_t n);
int awsep_rds_normalize(struct gd_awsep *ep, char *err, size_t n);

#endif

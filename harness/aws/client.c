/* gameday: the AWS client on the loop: protocols, signing, error answers and
 * bounded retries. */
#include "gameday/aws.h"

#include <libxml/parser.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "gameday/httpreq.h"
#include "gameday/sigv4.h"

/* ------------------------------------------------------------------ */
/* Services */

/* Query versions and namespaces are those of the API references; the JSON
 * target prefixes those of the services' Smithy models. */
static const struct gd_aws_service services[] = {
    {"ec2", GD_AWS_QUERY, "2016-11-15", NULL,
     "http://ec2.amazonaws.com/doc/2016-11-15/"},
    {"autoscaling", GD_AWS_QUERY, "2011-01-01", NULL,
     "http://autoscaling.amazonaws.com/doc/2011-01-01/"},
    {"rds", GD_AWS_QUERY, "2014-10-31", NULL,
     "http://rds.amazonaws.com/doc/2014-10-31/"},
    {"monitoring", GD_AWS_QUERY, "2010-08-01", NULL,
     "http://monitoring.amazonaws.com/doc/2010-08-01/"},
    {"elasticloadbalancing", GD_AWS_QUERY, "2015-12-01", NULL,
     "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"},
    {"sts", GD_AWS_QUERY, "2011-06-15", NULL,
     "https://sts.amazonaws.com/doc/2011-06-15/"},
    {"iam", GD_AWS_QUERY, "2010-05-08", NULL,
     "https://iam.amazonaws.com/doc/2010-05-08/"},
    {"elasticache", GD_AWS_QUERY, "2015-02-02", NULL,
     "http://elasticache.amazonaws.com/doc/2015-02-02/"},
    {"sqs", GD_AWS_JSON10, NULL, "AmazonSQS", NULL},
    {"dynamodb", GD_AWS_JSON10, NULL, "DynamoDB_20120810", NULL},
    {"logs", GD_AWS_JSON11, NULL, "Logs_20140328", NULL},
    {"ecs", GD_AWS_JSON11, NULL, "AmazonEC2ContainerServiceV20141113", NULL},
    {"ssm", GD_AWS_JSON11, NULL, "AmazonSSM", NULL},
    {"cloudtrail", GD_AWS_JSON11, NULL,
     "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101", NULL},
    {"s3", GD_AWS_REST_XML, NULL, NULL, NULL},
    {"lambda", GD_AWS_REST_JSON, NULL, NULL, NULL},
};

const struct gd_aws_service *gd_aws_service_find(const char *name) {
  for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
    if (strcasecmp(name, services[i].name) == 0) return &services[i];
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Growing strings */

struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Form encoding as the SDKs do it: RFC 3986 unreserved bytes as they are,
 * every other byte %XX, so the signer's canonical form is the wire form. */
static void sb_enc(struct sbuf *b, const char *s) {
  char *e = gd_sigv4_uri_encode(s, strlen(s), 0);
  if (!e) {
    b->oom = 1;
    return;
  }
  sb_str(b, e);
  free(e);
}

/* ------------------------------------------------------------------ */
/* Query protocol */

static int flatten(struct sbuf *b, const char *name, const cJSON *v,
                   struct gd_error *err) {
  char sub[512], num[64];
  if (cJSON_IsObject(v)) {
    for (const cJSON *c = v->child; c; c = c->next) {
      if (!c->string || !c->string[0])
        return gd_error_set(err, GD_EINVAL, "parameters%s%s: empty name",
                            name ? "." : "", name ? name : "");
      if (name)
        snprintf(sub, sizeof sub, "%s.%s", name, c->string);
      else
        snprintf(sub, sizeof sub, "%s", c->string);
      int rc = flatten(b, sub, c, err);
      if (rc) return rc;
    }
    return 0;
  }
  if (!name)
    return gd_error_set(err, GD_EINVAL, "parameters: expected an object");
  if (cJSON_IsArray(v)) {
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
      snprintf(sub, sizeof sub, "%s.%d", name, ++i);
      int rc = flatten(b, sub, c, err);
      if (rc) return rc;
    }
    return 0;
  }
  if (cJSON_IsNull(v)) return 0;
  const char *val;
  if (cJSON_IsString(v)) {
    val = v->valuestring;
  } else if (cJSON_IsBool(v)) {
    val = cJSON_IsTrue(v) ? "true" : "false";
  } else if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d == (double)(long long)d)
      snprintf(num, sizeof num, "%lld", (long long)d);
    else
      snprintf(num, sizeof num, "%.17g", d);
    val = num;
  } else {
    return gd_error_set(err, GD_EINVAL, "parameters.%s: unsupported value",
                        name);
  }
  sb_str(b, "&");
  sb_enc(b, name);
  sb_str(b, "=");
  sb_enc(b, val);
  return 0;
}

int gd_aws_query_body(const struct gd_aws_service *svc, const char *operation,
                      const cJSON *params, char **out, struct gd_error *err) {
  struct sbuf b = {0};
  *out = NULL;
  sb_str(&b, "Action=");
  sb_enc(&b, operation);
  sb_str(&b, "&Version=");
  sb_enc(&b, svc->version);
  if (params) {
    int rc = flatten(&b, NULL, params, err);
    if (rc) {
      free(b.p);
      return rc;
    }
  }
  if (b.oom) {
    free(b.p);
    return gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  *out = b.p;
  return 0;
}

/* ------------------------------------------------------------------ */
/* XML reading */

static int name_is(const xmlNode *n, const char *name, size_t len) {
  return n->type == XML_ELEMENT_NODE && strlen((const char *)n->name) == len &&
         memcmp(n->name, name, len) == 0;
}

xmlNode *gd_aws_xml_find(const xmlNode *node, const char *path) {
  if (!node) return NULL;
  const xmlNode *cur = node;
  const char *p = path ? path : "";
  while (*p) {
    size_t len = strcspn(p, "/");
    const xmlNode *c = cur->children;
    while (c && !name_is(c, p, len)) c = c->next;
    if (!c) return NULL;
    cur = c;
    p += len;
    if (*p == '/') p++;
  }
  return (xmlNode *)cur;
}

xmlNode *gd_aws_xml_next(const xmlNode *node) {
  if (!node) return NULL;
  size_t len = strlen((const char *)node->name);
  for (xmlNode *c = node->next; c; c = c->next)
    if (name_is(c, (const char *)node->name, len)) return c;
  return NULL;
}

const char *gd_aws_xml_text(const xmlNode *node, const char *path, char *buf,
                            size_t n) {
  if (n) buf[0] = 0;
  const xmlNode *e = gd_aws_xml_find(node, path);
  if (!e) return NULL;
  xmlChar *t = xmlNodeGetContent(e);
  if (n) snprintf(buf, n, "%s", t ? (const char *)t : "");
  xmlFree(t);
  return buf;
}

/* Depth-first, the first element with one of the names. */
static const xmlNode *xml_search(const xmlNode *n, const char *const *names) {
  for (; n; n = n->next) {
    if (n->type != XML_ELEMENT_NODE) continue;
    for (const char *const *k = names; *k; k++)
      if (strcmp((const char *)n->name, *k) == 0) return n;
    const xmlNode *f = xml_search(n->children, names);
    if (f) return f;
  }
  return NULL;
}

static xmlDoc *xml_parse(const char *body, size_t len) {
  if (len == 0 || len > INT32_MAX) return NULL;
  return xmlReadMemory(
      body, (int)len, NULL, NULL,
      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* ------------------------------------------------------------------ */
/* The client */

enum call_state { ST_CREDS, ST_HTTP, ST_WAIT, ST_DONE };

struct gd_aws {
  uv_loop_t *loop;
  struct gd_curl *curl;
  struct gd_aws_config *cfg;
  struct gd_aws_credprov *prov;
  struct gd_aws_options opt;
  char region[64];
  uint64_t rng;
  struct gd_sigv4_key_cache keys;
  struct gd_aws_call *calls; /* every call whose timer is not closed yet */
  int closing, prov_closed;
  void (*done)(void *arg);
  void *done_arg;
};

#define MAX_ANSWER (16u << 20)

struct gd_aws_call {
  struct gd_aws *a;
  struct gd_aws_call *prev, *next;
  const struct gd_aws_service *svc;
  char what[192]; /* "ec2 DescribeInstances", the head of every message */
  struct gd_aws_endpoint ep;
  char *url, *path, *host, *payload;
  enum call_state state;
  int cancelling, timed_out;
  uint64_t started, attempt_ms;
  CURL *easy;
  struct gd_httpreq req;
  char errbuf[CURL_ERROR_SIZE];
  struct sbuf answer;
  int too_big;
  char hdr_request_id[96];
  /* REST: the method, the call's path and query as they go on the wire
   * ("/2015-03-31/functions/", "Marker=x"; path joins them to the
   * endpoint's path), the caller's headers, S3's bucket (for the host or
   * the path), the error code header of REST-JSON and the region S3 said
   * the bucket lives in (x-amz-bucket-region). */
  char *method, *rest_path, *rest_query, *bucket;
  cJSON *rest_headers;
  char hdr_error_type[128];
  char hdr_bucket_region[64];
  int redirected;
  /* Copies of this attempt's secrets, only to scrub them from answers. */
  char *secret, *token;
  uv_timer_t timer;
  struct gd_error last;
  gd_aws_cb cb;
  void *arg;
  struct gd_aws_result res;
};

static uint64_t now_ms(const struct gd_aws *a) {
  (void)a;
  return uv_hrtime() / 1000000u;
}

/* splitmix64: jitter needs spread, not secrecy. */
static uint64_t rng_next(struct gd_aws *a) {
  uint64_t z = (a->rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void wipe_free(char *s) {
  if (!s) return;
  volatile char *v = s;
  while (*v) *v++ = 0;
  free(s);
}

static void maybe_free(struct gd_aws *a) {
  if (!a->closing || !a->prov_closed || a->calls) return;
  void (*done)(void *) = a->done;
  void *arg = a->done_arg;
  gd_aws_config_free(a->cfg);
  free((char *)a->opt.profile);
  free(a);
  if (done) done(arg);
}

int gd_aws_new(uv_loop_t *loop, struct gd_curl *curl,
               const struct gd_aws_options *opts, struct gd_aws **out,
               struct gd_error *err) {
  *out = NULL;
  struct gd_aws *a = calloc(1, sizeof *a);
  if (!a) return gd_error_set(err, GD_ENOMEM, "out of memory");
  a->loop = loop;
  a->curl = curl;
  if (opts) a->opt = *opts;
  a->opt.profile = NULL;
  a->opt.region = NULL;
  if (opts && opts->profile && !(a->opt.profile = strdup(opts->profile))) {
    free(a);
    return gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  if (opts && opts->region)
    snprintf(a->region, sizeof a->region, "%s", opts->region);
  if (a->opt.max_attempts <= 0) a->opt.max_attempts = 4;
  if (!a->opt.base_delay_ms) a->opt.base_delay_ms = 100;
  if (!a->opt.max_delay_ms) a->opt.max_delay_ms = 5000;
  if (!a->opt.attempt_timeout_ms) a->opt.attempt_timeout_ms = 10000;
  if (!a->opt.total_timeout_ms) a->opt.total_timeout_ms = 30000;
  a->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)a;
  int rc = gd_aws_config_load(&a->cfg, a->opt.profile, err);
  if (rc == 0) rc = gd_aws_credprov_new(loop, curl, a->cfg, &a->prov, err);
  if (rc) {
    gd_aws_config_free(a->cfg);
    free((char *)a->opt.profile);
    free(a);
    return rc;
  }
  *out = a;
  return 0;
}

const struct gd_aws_config *gd_aws_config(const struct gd_aws *a) {
  return a->cfg;
}

/* ---- one call's end ---- */

static void call_closed(uv_handle_t *h) {
  struct gd_aws_call *c = h->data;
  struct gd_aws *a = c->a;
  if (c->prev)
    c->prev->next = c->next;
  else
    a->calls = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c);
  maybe_free(a);
}

static void call_release(struct gd_aws_call *c) {
  if (c->easy) curl_easy_cleanup(c->easy);
  c->easy = NULL;
  gd_httpreq_free(&c->req);
  free(c->answer.p);
  c->answer.p = NULL;
  wipe_free(c->secret);
  wipe_free(c->token);
  c->secret = c->token = NULL;
  free(c->url);
  free(c->path);
  free(c->host);
  free(c->payload);
  c->url = c->path = c->host = c->payload = NULL;
  free(c->method);
  free(c->rest_path);
  free(c->rest_query);
  free(c->bucket);
  c->method = c->rest_path = c->rest_query = c->bucket = NULL;
  cJSON_Delete(c->rest_headers);
  c->rest_headers = NULL;
  if (c->res.xml) xmlFreeDoc(c->res.xml);
  cJSON_Delete(c->res.json);
  c->res.xml = NULL;
  c->res.json = NULL;
}

static void finish(struct gd_aws_call *c, const struct gd_error *err) {
  c->state = ST_DONE;
  uv_timer_stop(&c->timer);
  c->res.body = c->answer.p ? c->answer.p : "";
  c->res.body_len = c->answer.len;
  c->cb(&c->res, err, c->arg);
  call_release(c);
  uv_close((uv_handle_t *)&c->timer, call_closed);
}

static void fail(struct gd_aws_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct gd_aws_call *c, int code, const char *fmt, ...) {
  struct gd_error e;
  char m[GD_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  gd_error_set(&e, code, "%s: %s", c->what, m);
  finish(c, &e);
}

/* ---- answers ---- */

/* Overwrites every copy of s in buf with '*', keeping the length, so a
 * scrubbed body still parses. */
static void mask(char *buf, size_t len, const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n < 4 || !buf) return;
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(buf + i, s, n) == 0) memset(buf + i, '*', n);
}

static void scrub(struct gd_aws_call *c, char *buf, size_t len) {
  mask(buf, len, c->secret);
  mask(buf, len, c->token);
}

static size_t on_body(char *d, size_t sz, size_t nm, void *arg) {
  struct gd_aws_call *c = arg;
  size_t n = sz * nm;
  if (c->answer.len + n > MAX_ANSWER) {
    c->too_big = 1;
    return 0;
  }
  sb_add(&c->answer, d, n);
  return c->answer.oom ? 0 : n;
}

static size_t on_header(char *d, size_t sz, size_t nm, void *arg) {
  struct gd_aws_call *c = arg;
  size_t n = sz * nm;
  static const char *const names[] = {"x-amzn-requestid:", "x-amz-request-id:",
                                      "x-amzn-errortype:",
                                      "x-amz-bucket-region:"};
  char *const dst[] = {c->hdr_request_id, c->hdr_request_id,
                       c->hdr_error_type, c->hdr_bucket_region};
  const size_t cap[] = {sizeof c->hdr_request_id, sizeof c->hdr_request_id,
                        sizeof c->hdr_error_type,
                        sizeof c->hdr_bucket_region};
  for (size_t i = 0; i < 4; i++) {
    size_t k = strlen(names[i]);
    if (n > k && strncasecmp(d, names[i], k) == 0) {
      const char *v = d + k;
      size_t vl = n - k;
      while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
      while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
      if (vl >= cap[i]) vl = cap[i] - 1;
      memcpy(dst[i], v, vl);
      dst[i][vl] = 0;
    }
  }
  return n;
}

/* "com.amazonaws.sqs#QueueDoesNotExist" and "Foo:http://internal/" both
 * mean Foo, as the JSON protocols' specifications say. */
static void short_code(char *dst, size_t n, const char *type) {
  const char *h = strrchr(type, '#');
  if (h) type = h + 1;
  size_t k = strcspn(type, ":");
  if (k >= n) k = n - 1;
  memcpy(dst, type, k);
  dst[k] = 0;
}

static void copy_msg(struct gd_aws_call *c, const char *m) {
  snprintf(c->res.aws_message, sizeof c->res.aws_message, "%s", m ? m : "");
  scrub(c, c->res.aws_message, strlen(c->res.aws_message));
  /* One line: some services put the canonical request in the message. */
  for (char *p = c->res.aws_message; *p; p++)
    if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
}

static void read_xml_error(struct gd_aws_call *c, xmlDoc *doc) {
  static const char *const err_names[] = {"Error", NULL};
  static const char *const id_names[] = {"RequestId", "RequestID", "requestId",
                                         NULL};
  const xmlNode *root = xmlDocGetRootElement(doc);
  const xmlNode *e = xml_search(root, err_names);
  char buf[512];
  if (e) {
    if (gd_aws_xml_text(e, "Code", buf, sizeof buf))
      short_code(c->res.aws_code, sizeof c->res.aws_code, buf);
    if (gd_aws_xml_text(e, "Message", buf, sizeof buf)) copy_msg(c, buf);
  }
  const xmlNode *id = xml_search(root, id_names);
  if (id && !c->res.request_id[0])
    gd_aws_xml_text(id, NULL, c->res.request_id, sizeof c->res.request_id);
}

/* The error code of a JSON answer: REST-JSON's x-amzn-ErrorType header
 * (read by on_header) first, then the body's __type or code, then Type:
 * the last only when it is not a fault ("User", "Service"), which is what
 * Lambda's body puts there beside the header. */
static void read_json_error(struct gd_aws_call *c, const cJSON *j) {
  if (c->hdr_error_type[0])
    short_code(c->res.aws_code, sizeof c->res.aws_code, c->hdr_error_type);
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "__type");
  if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(j, "code");
  if (!cJSON_IsString(t)) {
    t = cJSON_GetObjectItemCaseSensitive(j, "Type");
    if (cJSON_IsString(t) && (strcmp(t->valuestring, "User") == 0 ||
                              strcmp(t->valuestring, "Service") == 0))
      t = NULL;
  }
  if (cJSON_IsString(t) && !c->res.aws_code[0])
    short_code(c->res.aws_code, sizeof c->res.aws_code, t->valuestring);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
  if (!cJSON_IsString(m)) m = cJSON_GetObjectItemCaseSensitive(j, "Message");
  if (cJSON_IsString(m)) copy_msg(c, m->valuestring);
}

static int is_json(const struct gd_aws_call *c) {
  return c->svc->protocol == GD_AWS_JSON10 ||
         c->svc->protocol == GD_AWS_JSON11 ||
         c->svc->protocol == GD_AWS_REST_JSON;
}

static int is_rest(const struct gd_aws_service *svc) {
  return svc->protocol == GD_AWS_REST_XML || svc->protocol == GD_AWS_REST_JSON;
}

static int is_s3(const struct gd_aws_call *c) {
  return strcmp(c->svc->name, "s3") == 0;
}

/* Codes the SDKs' standard retry mode retries whatever the status. */
static int retryable_code(const char *code) {
  static const char *const codes[] = {"Throttling",
                                      "ThrottlingException",
                                      "ThrottledException",
                                      "RequestThrottledException",
                                      "TooManyRequestsException",
                                      "ProvisionedThroughputExceededException",
                                      "TransactionInProgressException",
                                      "RequestLimitExceeded",
                                      "BandwidthLimitExceeded",
                                      "LimitExceededException",
                                      "RequestThrottled",
                                      "SlowDown",
                                      "PriorRequestNotComplete",
                                      "EC2ThrottledException",
                                      "RequestTimeout",
                                      "RequestTimeoutException",
                                      "InternalError",
                                      "ServiceUnavailable",
                                      NULL};
  for (const char *const *k = codes; *k; k++)
    if (strcmp(code, *k) == 0) return 1;
  return 0;
}

static void start_attempt(struct gd_aws_call *c);
static void on_timer(uv_timer_t *t);
static int endpoint_parts(struct gd_aws_call *c, struct gd_error *err);

/* A failed attempt: another one after a jittered backoff when the failure
 * is transient and the budget allows, else the end. */
static void attempt_failed(struct gd_aws_call *c, int retryable) {
  struct gd_aws *a = c->a;
  uint64_t elapsed = now_ms(a) - c->started;
  if (retryable && c->res.attempts < a->opt.max_attempts &&
      elapsed < a->opt.total_timeout_ms) {
    uint64_t cap = a->opt.base_delay_ms;
    for (int i = 1; i < c->res.attempts && cap < a->opt.max_delay_ms; i++)
      cap *= 2;
    if (cap > a->opt.max_delay_ms) cap = a->opt.max_delay_ms;
    uint64_t delay = rng_next(a) % (cap + 1);
    if (elapsed + delay < a->opt.total_timeout_ms) {
      c->state = ST_WAIT;
      uv_timer_start(&c->timer, on_timer, delay, 0);
      return;
    }
  }
  struct gd_error e = c->last;
  if (c->res.attempts > 1) {
    size_t k = strlen(e.msg);
    snprintf(e.msg + k, sizeof e.msg - k, " (after %d attempts)",
             c->res.attempts);
  }
  finish(c, &e);
}

static int rest_target(struct gd_aws_call *c, struct gd_error *err);

/* S3 answers a request sent to another region than the bucket's with 301
 * PermanentRedirect (or 400 AuthorizationHeaderMalformed) and the bucket's
 * region in x-amz-bucket-region: like the SDKs, ask again there, once.
 * Returns 1 when a new attempt is under way. */
static int redirect_region(struct gd_aws_call *c, long status) {
  if (!is_s3(c) || c->redirected || !c->hdr_bucket_region[0] ||
      (status != 301 && status != 307 && status != 400) ||
      strcmp(c->hdr_bucket_region, c->ep.signing_region) == 0)
    return 0;
  struct gd_aws_endpoint ep;
  struct gd_error e;
  if (gd_aws_endpoint_resolve(c->a->cfg, c->svc->name, c->hdr_bucket_region,
                              &ep, &e))
    return 0;
  c->redirected = 1;
  c->ep = ep;
  free(c->url);
  free(c->path);
  free(c->host);
  c->url = c->path = c->host = NULL;
  free(c->req.url);
  c->req.url = NULL;
  if (endpoint_parts(c, &e) || rest_target(c, &e) ||
      !(c->req.url = strdup(c->url))) {
    gd_error_set(&c->last, GD_EIO, "%s: redirect to region '%s': %s",
                 c->what, c->hdr_bucket_region, e.msg);
    attempt_failed(c, 0);
    return 1;
  }
  /* Not a failure of the service: the redirect does not spend an
   * attempt. */
  c->res.attempts--;
  c->state = ST_WAIT;
  uv_timer_start(&c->timer, on_timer, 0, 0);
  return 1;
}

static void answered(struct gd_aws_call *c, long status) {
  char *body = c->answer.p;
  size_t len = c->answer.len;
  c->res.status = status;
  scrub(c, body, len);
  if (c->hdr_request_id[0])
    snprintf(c->res.request_id, sizeof c->res.request_id, "%s",
             c->hdr_request_id);
  if (status >= 200 && status <= 299) {
    if (is_json(c)) {
      c->res.json =
          len ? cJSON_ParseWithLength(body, len) : cJSON_CreateObject();
      if (!c->res.json) {
        fail(c, GD_EIO, "answer is not JSON (status %ld)", status);
        return;
      }
    } else if (len > 0 || c->svc->protocol == GD_AWS_QUERY) {
      /* REST-XML answers without a body (204, PUTs) have no document. */
      c->res.xml = xml_parse(body, len);
      if (!c->res.xml) {
        fail(c, GD_EIO, "answer is not XML (status %ld)", status);
        return;
      }
      if (!c->res.request_id[0]) {
        static const char *const ids[] = {"RequestId", "requestId", NULL};
        const xmlNode *id = xml_search(xmlDocGetRootElement(c->res.xml), ids);
        if (id)
          gd_aws_xml_text(id, NULL, c->res.request_id,
                          sizeof c->res.request_id);
      }
    }
    finish(c, NULL);
    return;
  }
  if (redirect_region(c, status)) return;
  if (is_json(c)) {
    cJSON *j = len ? cJSON_ParseWithLength(body, len) : NULL;
    read_json_error(c, j); /* the header alone may name the error */
    cJSON_Delete(j);
  } else {
    xmlDoc *d = xml_parse(body, len);
    if (d) read_xml_error(c, d);
    xmlFreeDoc(d);
  }
  if (c->res.aws_code[0])
    gd_error_set(&c->last, GD_EIO, "%s: %s: %s", c->what, c->res.aws_code,
                 c->res.aws_message[0] ? c->res.aws_message : "(no message)");
  else
    gd_error_set(&c->last, GD_EIO, "%s: http status %ld", c->what, status);
  int retry = status >= 500 || status == 429 ||
              (c->res.aws_code[0] && retryable_code(c->res.aws_code));
  attempt_failed(c, retry);
}

static void on_http(CURL *easy, CURLcode rc, void *arg) {
  struct gd_aws_call *c = arg;
  if (c->cancelling) return; /* gd_aws_cancel finishes the call */
  uv_timer_stop(&c->timer);
  long status = 0;
  if (rc == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    answered(c, status);
    return;
  }
  if (c->timed_out) {
    gd_error_set(&c->last, GD_ETIMEDOUT, "%s: no answer within %llu ms",
                 c->what, (unsigned long long)c->attempt_ms);
  } else if (c->too_big) {
    fail(c, GD_EIO, "answer larger than %u bytes", MAX_ANSWER);
    return;
  } else {
    gd_error_set(&c->last, GD_EIO, "%s: %s", c->what,
                 gd_httpreq_strerror(c->errbuf, rc));
  }
  attempt_failed(c, 1);
}

static void on_timer(uv_timer_t *t) {
  struct gd_aws_call *c = t->data;
  if (c->state == ST_WAIT) {
    start_attempt(c);
  } else if (c->state == ST_HTTP) {
    c->timed_out = 1;
    gd_curl_cancel(c->a->curl, c->easy); /* on_http, synchronously */
  }
}

/* ---- sending ---- */

static int add_header(struct curl_slist **l, const char *name,
                      const char *value) {
  char line[8192];
  snprintf(line, sizeof line, "%s: %s", name, value);
  struct curl_slist *n = curl_slist_append(*l, line);
  if (!n) return GD_ENOMEM;
  *l = n;
  return 0;
}

static int send_request(struct gd_aws_call *c, const struct gd_aws_creds *cr,
                        struct gd_error *err) {
  struct gd_aws *a = c->a;
  char target[256];
  const char *ctype;
  struct gd_sigv4_header h[4 + GD_AWS_REST_MAX_HEADERS];
  size_t nh = 0;
  unsigned flags = 0;
  h[nh++] = (struct gd_sigv4_header){"Host", c->host};
  if (is_rest(c->svc)) {
    const cJSON *x;
    int has_ctype = 0;
    cJSON_ArrayForEach(x, c->rest_headers) {
      h[nh++] = (struct gd_sigv4_header){x->string, x->valuestring};
      if (strcasecmp(x->string, "Content-Type") == 0) has_ctype = 1;
    }
    if (c->payload[0] && !has_ctype)
      h[nh++] = (struct gd_sigv4_header){
          "Content-Type", c->svc->protocol == GD_AWS_REST_JSON
                              ? "application/json"
                              : "application/xml"};
    /* S3 wants x-amz-content-sha256 on every request and signs the path
     * as sent. */
    if (is_s3(c)) flags |= GD_SIGV4_S3;
  } else if (is_json(c)) {
    ctype = c->svc->protocol == GD_AWS_JSON10 ? "application/x-amz-json-1.0"
                                              : "application/x-amz-json-1.1";
    snprintf(target, sizeof target, "%s.%s", c->svc->target,
             strchr(c->what, ' ') + 1);
    h[nh++] = (struct gd_sigv4_header){"Content-Type", ctype};
    h[nh++] = (struct gd_sigv4_header){"X-Amz-Target", target};
  } else {
    ctype = "application/x-www-form-urlencoded; charset=utf-8";
    h[nh++] = (struct gd_sigv4_header){"Content-Type", ctype};
  }
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  struct gd_sigv4_request r = {
      .method = c->method ? c->method : "POST",
      .path = c->path,
      .query = c->rest_query,
      .flags = flags,
      .headers = h,
      .nheaders = nh,
      .payload = c->payload,
      .payload_len = strlen(c->payload),
      .region = c->ep.signing_region,
      .service = c->ep.signing_name,
      .when = &tm,
  };
  struct gd_sigv4_creds sc = {cr->access_key_id, cr->secret_access_key,
                              cr->session_token};
  struct gd_sigv4_result sr = {0};
  struct gd_error serr;
  if (gd_sigv4_sign(&r, &sc, &a->keys, &sr, &serr))
    return gd_error_set(err, serr.code, "%s: signing: %s", c->what, serr.msg);

  wipe_free(c->secret);
  wipe_free(c->token);
  c->secret = strdup(cr->secret_access_key);
  c->token = cr->session_token ? strdup(cr->session_token) : NULL;
  curl_slist_free_all(c->req.headers);
  c->req.headers = NULL;
  int rc = 0;
  for (size_t i = 0; i < nh && !rc; i++)
    rc = add_header(&c->req.headers, h[i].name, h[i].value);
  for (size_t i = 0; i < sr.nadd && !rc; i++)
    rc = add_header(&c->req.headers, sr.add[i].name, sr.add[i].value);
  if (!rc) rc = add_header(&c->req.headers, "Authorization", sr.authorization);
  /* curl would wait for a 100 Continue on bigger bodies: AWS never needs
   * it, and it costs a round trip or a second. */
  if (!rc) {
    struct curl_slist *n = curl_slist_append(c->req.headers, "Expect:");
    if (!n)
      rc = GD_ENOMEM;
    else
      c->req.headers = n;
  }
  gd_sigv4_result_free(&sr);
  if (rc || !c->secret || (cr->session_token && !c->token))
    return gd_error_set(err, GD_ENOMEM, "out of memory");

  if (c->easy)
    curl_easy_reset(c->easy);
  else if (!(c->easy = curl_easy_init()))
    return gd_error_set(err, GD_ENOMEM, "%s: curl_easy_init failed", c->what);
  free(c->answer.p);
  c->answer = (struct sbuf){0};
  c->too_big = 0;
  c->hdr_request_id[0] = 0;
  c->hdr_error_type[0] = 0;
  c->hdr_bucket_region[0] = 0;
  c->errbuf[0] = 0;
  c->timed_out = 0;
  /* borrowed: detached again before the free; a GET has none */
  c->req.body = c->method && !c->payload[0] &&
                        (strcmp(c->method, "GET") == 0 ||
                         strcmp(c->method, "HEAD") == 0 ||
                         strcmp(c->method, "DELETE") == 0)
                    ? NULL
                    : c->payload;
  rc = gd_httpreq_setup(&c->req, c->easy, (long)c->attempt_ms, on_body, c,
                        c->errbuf, c->what, err);
  c->req.body = NULL;
  if (rc) return rc;
  curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
  curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)c->attempt_ms);
  if (gd_curl_add(a->curl, c->easy, on_http, c))
    return gd_error_set(err, GD_ESTATE, "%s: the http client is closing",
                        c->what);
  c->state = ST_HTTP;
  uv_timer_start(&c->timer, on_timer, c->attempt_ms, 0);
  return 0;
}

static void on_creds(const struct gd_aws_creds *cr, const struct gd_error *err,
                     void *arg) {
  struct gd_aws_call *c = arg;
  if (c->cancelling) return;
  if (!cr) {
    fail(c, err->code, "credentials: %s", err->msg);
    return;
  }
  struct gd_error e;
  uint64_t elapsed = now_ms(c->a) - c->started;
  /* A slow credential source (IMDS, a credential_process) spends the
   * call's budget too. */
  if (elapsed >= c->a->opt.total_timeout_ms) {
    if (c->res.attempts) {
      attempt_failed(c, 0);
      return;
    }
    fail(c, GD_ETIMEDOUT, "no credentials within %u ms",
           c->a->opt.total_timeout_ms);
    return;
  }
  uint64_t left = c->a->opt.total_timeout_ms - elapsed;
  c->res.attempts++;
  c->attempt_ms = c->a->opt.attempt_timeout_ms;
  if (left < c->attempt_ms) c->attempt_ms = left;
  if (send_request(c, cr, &e)) {
    /* e already names the call. */
    finish(c, &e);
  }
}

static void start_attempt(struct gd_aws_call *c) {
  struct gd_error e;
  c->state = ST_CREDS;
  int rc = gd_aws_credprov_get(c->a->prov, on_creds, c, &e);
  if (rc) fail(c, rc, "credentials: %s", e.msg);
}

/* ---- the public call ---- */

static int endpoint_parts(struct gd_aws_call *c, struct gd_error *err) {
  CURLU *u = curl_url();
  char *host = NULL, *port = NULL, *path = NULL, *url = NULL;
  int rc = GD_EINVAL;
  if (!u) return gd_error_set(err, GD_ENOMEM, "out of memory");
  if (curl_url_set(u, CURLUPART_URL, c->ep.url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    gd_error_set(err, GD_EINVAL, "%s: bad endpoint url '%s' (from %s)", c->what,
                 c->ep.url, c->ep.source);
    goto out;
  }
  curl_url_get(u, CURLUPART_PORT, &port, 0); /* only when given */
  curl_url_get(u, CURLUPART_PATH, &path, 0);
  if (!path || !path[0]) curl_url_set(u, CURLUPART_PATH, "/", 0);
  if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
    gd_error_set(err, GD_EINVAL, "%s: bad endpoint url '%s' (from %s)", c->what,
                 c->ep.url, c->ep.source);
    goto out;
  }
  size_t hl = strlen(host) + (port ? strlen(port) + 2 : 1);
  c->host = malloc(hl);
  c->url = strdup(url);
  c->path = strdup(path && path[0] ? path : "/");
  if (!c->host || !c->url || !c->path) {
    gd_error_set(err, GD_ENOMEM, "out of memory");
    goto out;
  }
  snprintf(c->host, hl, "%s%s%s", host, port ? ":" : "", port ? port : "");
  rc = 0;
out:
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_free(url);
  curl_url_cleanup(u);
  return rc;
}

/* ---- REST requests ---- */

/* A bucket name that can be a host label: 3-63 of a-z 0-9 '-', not at the
 * ends. Dotted names go path-style: over https, *.s3.amazonaws.com's
 * certificate does not cover them (the SDKs do the same). */
static int bucket_virtual_ok(const char *b) {
  size_t n = strlen(b);
  if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-') return 0;
  for (size_t i = 0; i < n; i++)
    if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') ||
          b[i] == '-'))
      return 0;
  return 1;
}

/* The request target of a REST call on c->ep: c->path (the endpoint's own
 * path, then "/BUCKET" for path-style S3, then the call's path), c->host
 * ("BUCKET." in front for virtual-host style) and c->url with the query.
 * S3 is addressed virtual-host style on its default endpoints, path-style
 * behind an endpoint override (a test server, MinIO, LocalStack: they
 * rarely have wildcard DNS), as the SDKs do. */
static int rest_target(struct gd_aws_call *c, struct gd_error *err) {
  struct sbuf path = {0}, url = {0};
  const char *base = c->path ? c->path : "/";
  size_t bl = strlen(base);
  while (bl && base[bl - 1] == '/') bl--;
  int virt = c->bucket && strcmp(c->ep.source, "default") == 0 &&
             bucket_virtual_ok(c->bucket);
  sb_add(&path, base, bl);
  if (c->bucket && !virt) {
    sb_str(&path, "/");
    sb_enc(&path, c->bucket);
  }
  sb_str(&path, c->rest_path);
  if (virt) {
    size_t hl = strlen(c->bucket) + strlen(c->host) + 2;
    char *h = malloc(hl);
    if (!h) path.oom = 1;
    if (h) {
      snprintf(h, hl, "%s.%s", c->bucket, c->host);
      free(c->host);
      c->host = h;
    }
  }
  /* scheme://host[:port] of the endpoint, then the target. */
  const char *sep = strstr(c->ep.url, "://");
  sb_add(&url, c->ep.url, sep ? (size_t)(sep - c->ep.url) + 3 : 0);
  sb_str(&url, c->host);
  if (path.p) sb_str(&url, path.p);
  if (c->rest_query && c->rest_query[0]) {
    sb_str(&url, "?");
    sb_str(&url, c->rest_query);
  }
  if (path.oom || url.oom || !path.p) {
    free(path.p);
    free(url.p);
    return gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  free(c->path);
  free(c->url);
  c->path = path.p;
  c->url = url.p;
  return 0;
}

static int valid_header_name(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
          (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
      return 0;
  return 1;
}

static int query_value(const cJSON *v, char *num, size_t n, const char **out) {
  if (cJSON_IsString(v)) {
    *out = v->valuestring;
  } else if (cJSON_IsBool(v)) {
    *out = cJSON_IsTrue(v) ? "true" : "false";
  } else if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d == (double)(long long)d)
      snprintf(num, n, "%lld", (long long)d);
    else
      snprintf(num, n, "%.17g", d);
    *out = num;
  } else {
    return -1;
  }
  return 0;
}

/* Reads a REST call's parameters (aws.h) into c. */
static int rest_prepare(struct gd_aws_call *c, const cJSON *params,
                        struct gd_error *err) {
  static const char *const keys[] = {"_method", "_path", "_query",
                                     "_headers", "_body", "_bucket", NULL};
  const char *method = "GET", *path = "/";
  const cJSON *x;
  cJSON_ArrayForEach(x, params) {
    const char *const *k = keys;
    while (*k && strcmp(*k, x->string) != 0) k++;
    if (!*k)
      return gd_error_set(err, GD_EINVAL,
                          "parameters.%s: unknown key (a rest call takes "
                          "_method, _path, _query, _headers, _body, "
                          "_bucket)",
                          x->string);
  }
  x = cJSON_GetObjectItemCaseSensitive(params, "_method");
  if (x) {
    if (!cJSON_IsString(x) || !x->valuestring[0] ||
        strlen(x->valuestring) > 10)
      return gd_error_set(err, GD_EINVAL,
                          "parameters._method: expected a method name");
    for (const char *p = x->valuestring; *p; p++)
      if (*p < 'A' || *p > 'Z')
        return gd_error_set(err, GD_EINVAL,
                            "parameters._method: must be uppercase, got '%s'",
                            x->valuestring);
    method = x->valuestring;
  }
  x = cJSON_GetObjectItemCaseSensitive(params, "_path");
  if (x) {
    if (!cJSON_IsString(x) || x->valuestring[0] != '/')
      return gd_error_set(err, GD_EINVAL,
                          "parameters._path: expected a path starting "
                          "with '/'");
    path = x->valuestring;
  }
  x = cJSON_GetObjectItemCaseSensitive(params, "_bucket");
  if (x) {
    if (!is_s3(c))
      return gd_error_set(err, GD_EINVAL,
                          "parameters._bucket: only for s3");
    if (!cJSON_IsString(x) || !x->valuestring[0] ||
        strchr(x->valuestring, '/') || strlen(x->valuestring) > 255)
      return gd_error_set(err, GD_EINVAL,
                          "parameters._bucket: expected a bucket name");
    if (!(c->bucket = strdup(x->valuestring))) goto oom;
  }
  if (!(c->method = strdup(method)) ||
      !(c->rest_path = gd_sigv4_uri_encode(path, strlen(path), 1)))
    goto oom;
  struct sbuf q = {0};
  char num[64];
  const cJSON *v;
  cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(params, "_query")) {
    const cJSON *one = x, *list = cJSON_IsArray(x) ? x : NULL;
    for (v = list ? list->child : one; v; v = list ? v->next : NULL) {
      const char *val;
      if (cJSON_IsNull(v)) continue;
      if (query_value(v, num, sizeof num, &val)) {
        free(q.p);
        return gd_error_set(err, GD_EINVAL,
                            "parameters._query.%s: expected a string, number "
                            "or boolean",
                            x->string);
      }
      if (q.len) sb_str(&q, "&");
      sb_enc(&q, x->string);
      /* An empty value is a sub-resource: "?policyStatus", as S3's
       * references write it. */
      if (val[0]) {
        sb_str(&q, "=");
        sb_enc(&q, val);
      }
    }
  }
  x = cJSON_GetObjectItemCaseSensitive(params, "_query");
  if (x && !cJSON_IsObject(x)) {
    free(q.p);
    return gd_error_set(err, GD_EINVAL, "parameters._query: expected an object");
  }
  if (q.oom) {
    free(q.p);
    goto oom;
  }
  c->rest_query = q.p;
  x = cJSON_GetObjectItemCaseSensitive(params, "_headers");
  if (x) {
    int n = 0;
    if (!cJSON_IsObject(x))
      return gd_error_set(err, GD_EINVAL,
                          "parameters._headers: expected an object");
    cJSON_ArrayForEach(v, x) {
      if (++n > GD_AWS_REST_MAX_HEADERS)
        return gd_error_set(err, GD_EINVAL,
                            "parameters._headers: more than %d headers",
                            GD_AWS_REST_MAX_HEADERS);
      if (!valid_header_name(v->string) ||
          strcasecmp(v->string, "Host") == 0 ||
          strcasecmp(v->string, "Authorization") == 0 ||
          strcasecmp(v->string, "Content-Length") == 0)
        return gd_error_set(err, GD_EINVAL,
                            "parameters._headers: header name '%s' is not "
                            "allowed",
                            v->string);
      if (!cJSON_IsString(v) || strpbrk(v->valuestring, "\r\n"))
        return gd_error_set(err, GD_EINVAL,
                            "parameters._headers.%s: expected a one-line "
                            "string",
                            v->string);
    }
    if (!(c->rest_headers = cJSON_Duplicate(x, 1))) goto oom;
  }
  x = cJSON_GetObjectItemCaseSensitive(params, "_body");
  if (cJSON_IsString(x))
    c->payload = strdup(x->valuestring);
  else if (x && (cJSON_IsObject(x) || cJSON_IsArray(x)) &&
           c->svc->protocol == GD_AWS_REST_JSON)
    c->payload = cJSON_PrintUnformatted(x);
  else if (x)
    return gd_error_set(err, GD_EINVAL,
                        "parameters._body: expected a string%s",
                        c->svc->protocol == GD_AWS_REST_JSON
                            ? " or a JSON object"
                            : "");
  else
    c->payload = strdup("");
  if (!c->payload) goto oom;
  return 0;
oom:
  return gd_error_set(err, GD_ENOMEM, "out of memory");
}

static int valid_operation(const char *op) {
  if (!op[0] || strlen(op) > 100) return 0;
  for (const char *p = op; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
          (*p >= '0' && *p <= '9')))
      return 0;
  return 1;
}

int gd_aws_call(struct gd_aws *a, const char *service, const char *operation,
                const cJSON *params, gd_aws_cb cb, void *arg,
                struct gd_aws_call **call, struct gd_error *err) {
  if (call) *call = NULL;
  if (a->closing) return gd_error_set(err, GD_ESTATE, "aws client is closing");
  const struct gd_aws_service *svc = gd_aws_service_find(service);
  if (!svc)
    return gd_error_set(err, GD_EINVAL, "unknown service '%s'", service);
  if (!valid_operation(operation))
    return gd_error_set(err, GD_EINVAL, "%s: bad operation name '%s'",
                        svc->name, operation);
  if (params && !cJSON_IsObject(params))
    return gd_error_set(err, GD_EINVAL, "%s %s: parameters: expected an object",
                        svc->name, operation);
  struct gd_aws_call *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "out of memory");
  c->a = a;
  c->svc = svc;
  c->cb = cb;
  c->arg = arg;
  gd_httpreq_init(&c->req);
  snprintf(c->what, sizeof c->what, "%s %s", svc->name, operation);
  int rc = gd_aws_endpoint_resolve(
      a->cfg, svc->name, a->region[0] ? a->region : NULL, &c->ep, err);
  if (!rc) rc = endpoint_parts(c, err);
  if (!rc && svc->protocol == GD_AWS_QUERY) {
    rc = gd_aws_query_body(svc, operation, params, &c->payload, err);
  } else if (!rc && is_rest(svc)) {
    rc = rest_prepare(c, params, err);
    if (!rc) rc = rest_target(c, err);
  } else if (!rc) {
    c->payload = params ? cJSON_PrintUnformatted(params) : strdup("{}");
    if (!c->payload) rc = gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  if (!rc && (!(c->req.url = strdup(c->url)) ||
              !(c->req.method = strdup(c->method ? c->method : "POST"))))
    rc = gd_error_set(err, GD_ENOMEM, "out of memory");
  if (rc) {
    if (err && strncmp(err->msg, c->what, strlen(c->what)) != 0) {
      char m[GD_ERROR_MAX];
      snprintf(m, sizeof m, "%s", err->msg);
      gd_error_set(err, rc, "%s: %s", c->what, m);
    }
    call_release(c);
    free(c);
    return rc;
  }
  uv_timer_init(a->loop, &c->timer);
  c->timer.data = c;
  c->next = a->calls;
  if (a->calls) a->calls->prev = c;
  a->calls = c;
  c->started = now_ms(a);
  c->state = ST_CREDS;
  rc = gd_aws_credprov_get(a->prov, on_creds, c, err);
  if (rc) {
    c->state = ST_DONE;
    call_release(c);
    uv_close((uv_handle_t *)&c->timer, call_closed);
    return rc;
  }
  if (call) *call = c;
  return 0;
}

void gd_aws_cancel(struct gd_aws_call *c) {
  if (!c || c->state == ST_DONE || c->cancelling) return;
  c->cancelling = 1;
  if (c->state == ST_CREDS)
    gd_aws_credprov_cancel(c->a->prov, on_creds, c);
  else if (c->state == ST_HTTP)
    gd_curl_cancel(c->a->curl, c->easy);
  struct gd_error e;
  gd_error_set(&e, GD_ECANCELED, "%s: cancelled", c->what);
  finish(c, &e);
}

static void prov_closed(void *arg) {
  struct gd_aws *a = arg;
  a->prov_closed = 1;
  maybe_free(a);
}

void gd_aws_close(struct gd_aws *a, void (*done)(void *arg), void *arg) {
  if (a->closing) return;
  a->closing = 1;
  a->done = done;
  a->done_arg = arg;
  for (struct gd_aws_call *c = a->calls, *n; c; c = n) {
    n = c->next;
    gd_aws_cancel(c);
  }
  gd_aws_credprov_close(a->prov, prov_closed, a);
}

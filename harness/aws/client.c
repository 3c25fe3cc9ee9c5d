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
  static const char *const names[] = {"x-amzn-requestid:", "x-amz-request-id:"};
  for (size_t i = 0; i < 2; i++) {
    size_t k = strlen(names[i]);
    if (n > k && strncasecmp(d, names[i], k) == 0) {
      const char *v = d + k;
      size_t vl = n - k;
      while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
      while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
      if (vl >= sizeof c->hdr_request_id) vl = sizeof c->hdr_request_id - 1;
      memcpy(c->hdr_request_id, v, vl);
      c->hdr_request_id[vl] = 0;
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

static void read_json_error(struct gd_aws_call *c, const cJSON *j) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "__type");
  if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(j, "code");
  if (cJSON_IsString(t))
    short_code(c->res.aws_code, sizeof c->res.aws_code, t->valuestring);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
  if (!cJSON_IsString(m)) m = cJSON_GetObjectItemCaseSensitive(j, "Message");
  if (cJSON_IsString(m)) copy_msg(c, m->valuestring);
}

static int is_json(const struct gd_aws_call *c) {
  return c->svc->protocol == GD_AWS_JSON10 || c->svc->protocol == GD_AWS_JSON11;
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
    } else {
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
  if (is_json(c)) {
    cJSON *j = len ? cJSON_ParseWithLength(body, len) : NULL;
    if (j) read_json_error(c, j);
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
  struct gd_sigv4_header h[3];
  size_t nh = 0;
  h[nh++] = (struct gd_sigv4_header){"Host", c->host};
  if (is_json(c)) {
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
      .method = "POST",
      .path = c->path,
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
  c->errbuf[0] = 0;
  c->timed_out = 0;
  c->req.body = c->payload; /* borrowed: detached again before the free */
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
  if (svc->protocol == GD_AWS_REST_XML || svc->protocol == GD_AWS_REST_JSON)
    return gd_error_set(err, GD_EINVAL,
                        "%s %s: the service's rest protocol is not supported "
                        "yet",
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
  } else if (!rc) {
    c->payload = params ? cJSON_PrintUnformatted(params) : strdup("{}");
    if (!c->payload) rc = gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  if (!rc &&
      (!(c->req.url = strdup(c->url)) || !(c->req.method = strdup("POST"))))
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

/* The test AWS endpoint (awsep.h): the server thread, the SigV4 check, the
 * query protocol, errors, the call log, forced failures, the world and its
 * scheduled changes. The operations are in awsep_<service>.c. */
#define _GNU_SOURCE /* memmem, strcasestr, timegm */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "awsep_int.h"
#include "testutil.h"
#include "gameday/sigv4.h"

#define EP_CONNS 64
#define EP_RULES 16
#define EP_HEAD_MAX 16384
#define EP_BODY_MAX (4u << 20)

struct ep_conn {
  int fd;
  char *buf;
  size_t len, cap;
};

struct ep_rule {
  char service[32], action[128];
  int n, status;
  char code[128], message[512];
};

struct ep_change {
  int64_t due;
  uint64_t seq;
  awsep_change_fn fn;
  char *a, *b;
};

struct gd_awsep {
  int port;
  char url[64];
  char region[64], akid[128], secret[256], token[2048];
  int lfd, wake[2];
  pthread_t th;
  struct ep_conn conns[EP_CONNS];

  pthread_mutex_t mu; /* everything below */
  cJSON *world;
  cJSON *calls;
  struct ep_change *changes;
  size_t nchanges, capchanges;
  uint64_t seq;
  int64_t now;        /* the world's time, ms on the monotonic clock */
  int64_t wall_off;   /* wall ms = monotonic ms + wall_off */
  unsigned long serial;
  unsigned requests, bad_sigs, reqno;
  struct ep_rule rules[EP_RULES];
  int nrules;
};

static const struct awsep_service services[] = {
    {"ec2", "2016-11-15", "http://ec2.amazonaws.com/doc/2016-11-15/", 1,
     gd_awsep_ec2_ops},
    {"autoscaling", "2011-01-01",
     "http://autoscaling.amazonaws.com/doc/2011-01-01/", 0,
     gd_awsep_autoscaling_ops},
    {"elasticloadbalancing", "2015-12-01",
     "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/", 0,
     gd_awsep_elbv2_ops},
    {"rds", "2014-10-31", "http://rds.amazonaws.com/doc/2014-10-31/", 0,
     gd_awsep_rds_ops},
    {"monitoring", "2010-08-01",
     "http://monitoring.amazonaws.com/doc/2010-08-01/", 0,
     gd_awsep_cloudwatch_ops},
    /* IAM is global: its signatures are scoped to us-east-1 whatever the
     * client's region. */
    {"iam", "2010-05-08", "https://iam.amazonaws.com/doc/2010-05-08/", 0,
     gd_awsep_iam_ops, AWSEP_QUERY, NULL, NULL, "us-east-1"},
    {"s3", NULL, "http://s3.amazonaws.com/doc/2006-03-01/", 0, gd_awsep_s3_ops,
     AWSEP_REST_XML, NULL, awsep_s3_route, NULL},
    {"cloudtrail", NULL, NULL, 0, gd_awsep_cloudtrail_ops, AWSEP_JSON11,
     "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101", NULL, NULL},
    {"lambda", NULL, NULL, 0, gd_awsep_lambda_ops, AWSEP_REST_JSON, NULL,
     awsep_lambda_route, NULL},
    {"sts", "2011-06-15", "https://sts.amazonaws.com/doc/2011-06-15/", 0,
     gd_awsep_sts_ops},
};
#define NSERVICES (sizeof services / sizeof services[0])

static const struct awsep_service *service_find(const char *name) {
  for (size_t i = 0; i < NSERVICES; i++)
    if (strcmp(services[i].name, name) == 0) return &services[i];
  return NULL;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "awsep: out of memory\n");
    abort();
  }
  return q;
}

static char *xstrdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  return memcpy(xrealloc(NULL, n), s, n);
}

/* ------------------------------------------------------------------ */
/* Strings */

void awsep_buf_add(struct awsep_buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t c = b->cap ? b->cap : 256;
    while (c < b->len + n + 1) c *= 2;
    b->p = xrealloc(b->p, c);
    b->cap = c;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void awsep_buf_puts(struct awsep_buf *b, const char *s) {
  awsep_buf_add(b, s, strlen(s));
}

void awsep_buf_printf(struct awsep_buf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    awsep_buf_add(b, tmp, (size_t)n);
    return;
  }
  char *big = xrealloc(NULL, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  awsep_buf_add(b, big, (size_t)n);
  free(big);
}

void awsep_buf_free(struct awsep_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

void awsep_x_esc(struct awsep_buf *b, const char *s) {
  for (; *s; s++) switch (*s) {
      case '<': awsep_buf_puts(b, "&lt;"); break;
      case '>': awsep_buf_puts(b, "&gt;"); break;
      case '&': awsep_buf_puts(b, "&amp;"); break;
      case '"': awsep_buf_puts(b, "&quot;"); break;
      case '\'': awsep_buf_puts(b, "&apos;"); break;
      default: awsep_buf_add(b, s, 1);
    }
}

/* ------------------------------------------------------------------ */
/* Answers */

void awsep_x_open(struct awsep_req *r, const char *name) {
  awsep_buf_printf(&r->out, "<%s>", name);
}

void awsep_x_close(struct awsep_req *r, const char *name) {
  awsep_buf_printf(&r->out, "</%s>", name);
}

void awsep_x_el(struct awsep_req *r, const char *name, const char *text) {
  if (!text) {
    awsep_buf_printf(&r->out, "<%s/>", name);
    return;
  }
  awsep_buf_printf(&r->out, "<%s>", name);
  awsep_x_esc(&r->out, text);
  awsep_buf_printf(&r->out, "</%s>", name);
}

void awsep_x_elf(struct awsep_req *r, const char *name, const char *fmt,
                 ...) {
  char tmp[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  awsep_x_el(r, name, tmp);
}

void awsep_x_bool(struct awsep_req *r, const char *name, int v) {
  awsep_x_el(r, name, v ? "true" : "false");
}

void awsep_x_tags(struct awsep_req *r, const cJSON *tags, const char *item_el,
                  const char *kname, const char *vname) {
  const cJSON *t;
  cJSON_ArrayForEach(t, tags) {
    awsep_x_open(r, item_el);
    awsep_x_el(r, kname, t->string);
    awsep_x_el(r, vname, cJSON_IsString(t) ? t->valuestring : "");
    awsep_x_close(r, item_el);
  }
}

static const char xml_decl[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

void awsep_begin(struct awsep_req *r) {
  r->out.len = 0;
  if (r->out.p) r->out.p[0] = 0;
  awsep_buf_puts(&r->out, xml_decl);
  awsep_buf_printf(&r->out, "<%sResponse xmlns=\"%s\">", r->action,
                   r->svc->xmlns);
  if (r->svc->ec2_errors)
    awsep_x_el(r, "requestId", r->request_id);
  else
    awsep_buf_printf(&r->out, "<%sResult>", r->action);
}

void awsep_end(struct awsep_req *r) {
  if (!r->svc->ec2_errors)
    awsep_buf_printf(&r->out,
                     "</%sResult><ResponseMetadata><RequestId>%s</RequestId>"
                     "</ResponseMetadata>",
                     r->action, r->request_id);
  awsep_buf_printf(&r->out, "</%sResponse>\n", r->action);
  r->status = 200;
}

/* An error body in the shape of svc (NULL: the generic ErrorResponse). */
static void json_str(struct awsep_buf *b, const char *name, const char *v) {
  cJSON *s = cJSON_CreateString(v);
  char *t = cJSON_PrintUnformatted(s);
  awsep_buf_printf(b, "\"%s\":%s", name, t);
  free(t);
  cJSON_Delete(s);
}

static void error_body(struct awsep_buf *b, const struct awsep_service *svc,
                       int status, const char *code, const char *msg,
                       const char *request_id) {
  b->len = 0;
  if (b->p) b->p[0] = 0;
  if (svc && svc->proto == AWSEP_JSON11) {
    /* JSON 1.1: the code in __type (the x-amzn-ErrorType header too). */
    awsep_buf_puts(b, "{");
    json_str(b, "__type", code);
    awsep_buf_puts(b, ",");
    json_str(b, "message", msg);
    awsep_buf_puts(b, "}");
    return;
  }
  if (svc && svc->proto == AWSEP_REST_JSON) {
    /* Lambda: the code only in x-amzn-ErrorType; Type is the fault. */
    awsep_buf_puts(b, "{");
    json_str(b, "Type", status >= 500 ? "Service" : "User");
    awsep_buf_puts(b, ",");
    json_str(b, "Message", msg);
    awsep_buf_puts(b, "}");
    return;
  }
  awsep_buf_puts(b, xml_decl);
  if (svc && svc->proto == AWSEP_REST_XML) {
    awsep_buf_puts(b, "<Error><Code>");
    awsep_x_esc(b, code);
    awsep_buf_puts(b, "</Code><Message>");
    awsep_x_esc(b, msg);
    awsep_buf_printf(b,
                     "</Message><RequestId>%.16s</RequestId><HostId>"
                     "awsep/%s=</HostId></Error>",
                     request_id, request_id);
    return;
  }
  if (svc && svc->ec2_errors) {
    awsep_buf_puts(b, "<Response><Errors><Error><Code>");
    awsep_x_esc(b, code);
    awsep_buf_puts(b, "</Code><Message>");
    awsep_x_esc(b, msg);
    awsep_buf_printf(b,
                     "</Message></Error></Errors><RequestID>%s</RequestID>"
                     "</Response>\n",
                     request_id);
    return;
  }
  awsep_buf_printf(b, "<ErrorResponse xmlns=\"%s\"><Error><Type>%s</Type>"
                      "<Code>",
                   svc ? svc->xmlns
                       : "http://webservices.amazon.com/AWSFault/2005-15-09",
                   status >= 500 ? "Receiver" : "Sender");
  awsep_x_esc(b, code);
  awsep_buf_puts(b, "</Code><Message>");
  awsep_x_esc(b, msg);
  awsep_buf_printf(b, "</Message></Error><RequestId>%s</RequestId>"
                      "</ErrorResponse>\n",
                   request_id);
}

int awsep_error(struct awsep_req *r, int status, const char *code,
                const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  r->status = status;
  snprintf(r->code, sizeof r->code, "%s", code);
  error_body(&r->out, r->svc, status, code, msg, r->request_id);
  return 0;
}

int awsep_json(struct awsep_req *r, int status, cJSON *o) {
  char *t = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  r->out.len = 0;
  awsep_buf_puts(&r->out, t ? t : "{}");
  free(t);
  r->status = status;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Parameters */

const char *awsep_param(struct awsep_req *r, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->params, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *awsep_item(struct awsep_req *r, const char *prefix, int i) {
  char k[256];
  snprintf(k, sizeof k, "%s.%d", prefix, i);
  return awsep_param(r, k);
}

const char *awsep_item2(struct awsep_req *r, const char *prefix, int i,
                        const char *suffix) {
  char k[256];
  snprintf(k, sizeof k, "%s.%d.%s", prefix, i, suffix);
  return awsep_param(r, k);
}

int awsep_bool(struct awsep_req *r, const char *name) {
  const char *v = awsep_param(r, name);
  return v && strcasecmp(v, "true") == 0;
}

const char *awsep_require(struct awsep_req *r, const char *name) {
  const char *v = awsep_param(r, name);
  if (v && *v) return v;
  if (r->svc->ec2_errors)
    awsep_error(r, 400, "MissingParameter",
                "The request must contain the parameter %s", name);
  else if (strcmp(r->svc->name, "rds") == 0)
    /* RDS validates its own parameters, with its own wording. */
    awsep_error(r, 400, "InvalidParameterValue",
                "The parameter %s must be provided and must not be blank.",
                name);
  else {
    /* Coral's validation message names the member in lower camel case. */
    char m[128];
    snprintf(m, sizeof m, "%s", name);
    if (m[0] >= 'A' && m[0] <= 'Z') m[0] = (char)(m[0] - 'A' + 'a');
    awsep_error(r, 400, "ValidationError",
                "1 validation error detected: Value null at '%s' failed to "
                "satisfy constraint: Member must not be null",
                m);
  }
  return NULL;
}

long awsep_int(struct awsep_req *r, const char *name, long dflt, long lo,
               long hi) {
  const char *v = awsep_param(r, name);
  if (!v) return dflt;
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || !*v || *end || n < lo || n > hi) {
    if (r->svc->ec2_errors)
      awsep_error(r, 400, "InvalidParameterValue",
                  "Value (%s) for parameter %s is invalid. Expecting a value "
                  "between %ld and %ld.",
                  v, name, lo, hi);
    else
      awsep_error(r, 400, "ValidationError",
                  "1 validation error detected: Value '%s' at '%s' failed to "
                  "satisfy constraint: Member must have value between %ld "
                  "and %ld",
                  v, name, lo, hi);
    return -1;
  }
  return n;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Form decoding: %XX and '+' as a space. */
static char *form_decode(const char *s, size_t n) {
  char *o = xrealloc(NULL, n + 1);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '+')
      o[k++] = ' ';
    else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
             hexval(s[i + 2]) >= 0) {
      o[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else
      o[k++] = s[i];
  }
  o[k] = 0;
  return o;
}

static cJSON *form_parse(const char *s, size_t n) {
  cJSON *o = cJSON_CreateObject();
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] != '&') j++;
    if (j > i) {
      const char *eq = memchr(s + i, '=', j - i);
      size_t kl = eq ? (size_t)(eq - (s + i)) : j - i;
      char *k = form_decode(s + i, kl);
      char *v = eq ? form_decode(eq + 1, (size_t)(s + j - eq - 1))
                   : xstrdup("");
      cJSON_DeleteItemFromObjectCaseSensitive(o, k);
      cJSON_AddStringToObject(o, k, v);
      free(k);
      free(v);
    }
    i = j + 1;
  }
  return o;
}

/* ------------------------------------------------------------------ */
/* The world */

cJSON *awsep_world(struct awsep_req *r) { return r->ep->world; }

cJSON *awsep_wlist(struct gd_awsep *ep, const char *list) {
  cJSON *l = cJSON_GetObjectItemCaseSensitive(ep->world, list);
  if (!cJSON_IsArray(l)) {
    cJSON_DeleteItemFromObjectCaseSensitive(ep->world, list);
    l = cJSON_AddArrayToObject(ep->world, list);
  }
  return l;
}

cJSON *awsep_find(struct gd_awsep *ep, const char *list, const char *key,
                  const char *value) {
  cJSON *it;
  if (!value) return NULL;
  cJSON_ArrayForEach(it, awsep_wlist(ep, list)) {
    const char *v = awsep_s(it, key, NULL);
    if (v && strcmp(v, value) == 0) return it;
  }
  return NULL;
}

const char *awsep_s(const cJSON *o, const char *key, const char *dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : dflt;
}

double awsep_n(const cJSON *o, const char *key, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int awsep_b(const cJSON *o, const char *key, int dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

void awsep_set_s(cJSON *o, const char *key, const char *v) {
  cJSON *n = cJSON_CreateString(v);
  if (cJSON_HasObjectItem(o, key))
    cJSON_ReplaceItemInObjectCaseSensitive(o, key, n);
  else
    cJSON_AddItemToObject(o, key, n);
}

void awsep_set_n(cJSON *o, const char *key, double v) {
  cJSON *n = cJSON_CreateNumber(v);
  if (cJSON_HasObjectItem(o, key))
    cJSON_ReplaceItemInObjectCaseSensitive(o, key, n);
  else
    cJSON_AddItemToObject(o, key, n);
}

void awsep_set_b(cJSON *o, const char *key, int v) {
  cJSON *n = cJSON_CreateBool(v);
  if (cJSON_HasObjectItem(o, key))
    cJSON_ReplaceItemInObjectCaseSensitive(o, key, n);
  else
    cJSON_AddItemToObject(o, key, n);
}

const char *awsep_region(struct gd_awsep *ep) { return ep->region; }

const char *awsep_account(struct gd_awsep *ep) {
  return awsep_s(ep->world, "account", "123456789012");
}

static const struct {
  const char *name;
  long ms;
} delay_defaults[] = {{"shutting_down", 300}, {"replace", 300},
                      {"pending", 600},       {"target_initial", 600},
                      {"draining", 300},      {"failover", 1000},
                      {"reboot", 800},        {"create", 1000},
                      {"delete", 500}};

long awsep_delay(struct gd_awsep *ep, const char *name) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(ep->world, "delays_ms");
  double v = awsep_n(d, name, -1);
  if (v >= 0) return (long)v;
  for (size_t i = 0; i < sizeof delay_defaults / sizeof delay_defaults[0];
       i++)
    if (strcmp(delay_defaults[i].name, name) == 0) return delay_defaults[i].ms;
  return 500;
}

int64_t awsep_now(struct gd_awsep *ep) { return ep->now; }

void awsep_iso(struct gd_awsep *ep, int64_t offset_ms, char out[32]) {
  int64_t w = ep->now + ep->wall_off + offset_ms;
  time_t s = (time_t)(w / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           (int)(w % 1000));
}

void awsep_days_ago(struct gd_awsep *ep, double days, char out[32]) {
  int64_t w = ep->now + ep->wall_off - (int64_t)(days * 86400000.0);
  time_t s = (time_t)(w / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

double awsep_epoch(struct gd_awsep *ep) {
  return (double)(ep->now + ep->wall_off) / 1000.0;
}

unsigned long awsep_serial(struct gd_awsep *ep) { return ++ep->serial; }

void awsep_schedule(struct gd_awsep *ep, long delay_ms, awsep_change_fn fn,
                    const char *a, const char *b) {
  if (ep->nchanges == ep->capchanges) {
    ep->capchanges = ep->capchanges ? ep->capchanges * 2 : 16;
    ep->changes =
        xrealloc(ep->changes, ep->capchanges * sizeof *ep->changes);
  }
  ep->changes[ep->nchanges++] = (struct ep_change){
      ep->now + delay_ms, ++ep->seq, fn, xstrdup(a), xstrdup(b)};
}

/* Applies every change due by until, in due order, each at its time. */
static void advance(struct gd_awsep *ep, int64_t until) {
  for (;;) {
    size_t best = ep->nchanges;
    for (size_t i = 0; i < ep->nchanges; i++)
      if (ep->changes[i].due <= until &&
          (best == ep->nchanges || ep->changes[i].due < ep->changes[best].due ||
           (ep->changes[i].due == ep->changes[best].due &&
            ep->changes[i].seq < ep->changes[best].seq)))
        best = i;
    if (best == ep->nchanges) break;
    struct ep_change c = ep->changes[best];
    ep->changes[best] = ep->changes[--ep->nchanges];
    if (c.due > ep->now) ep->now = c.due;
    c.fn(ep, c.a, c.b);
    free(c.a);
    free(c.b);
  }
  if (until > ep->now) ep->now = until;
}

static void changes_clear(struct gd_awsep *ep) {
  for (size_t i = 0; i < ep->nchanges; i++) {
    free(ep->changes[i].a);
    free(ep->changes[i].b);
  }
  ep->nchanges = 0;
}

/* ------------------------------------------------------------------ */
/* HTTP */

static const char *hval(const char *head, const char *name, char *out,
                        size_t n) {
  char pat[160];
  snprintf(pat, sizeof pat, "\r\n%s:", name);
  const char *h = strcasestr(head, pat);
  if (!h) return NULL;
  h += strlen(pat);
  while (*h == ' ' || *h == '\t') h++;
  size_t k = strcspn(h, "\r\n");
  while (k > 0 && (h[k - 1] == ' ' || h[k - 1] == '\t')) k--;
  if (k >= n) k = n - 1;
  memcpy(out, h, k);
  out[k] = 0;
  return out;
}

static const char *reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 412: return "Precondition Failed";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

static void send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static void send_answer(int fd, int status, const struct awsep_service *svc,
                        const char *code, const char *extra, const char *rid,
                        const struct awsep_buf *body) {
  int proto = svc ? svc->proto : AWSEP_QUERY;
  const char *ctype = proto == AWSEP_JSON11     ? "application/x-amz-json-1.1"
                      : proto == AWSEP_REST_JSON ? "application/json"
                      : proto == AWSEP_REST_XML  ? "application/xml"
                                                 : "text/xml";
  char more[768];
  /* S3 names its request id x-amz-request-id; the JSON protocols put the
   * error code in x-amzn-ErrorType. */
  snprintf(more, sizeof more, "%s: %s\r\n%s%s%s%s",
           proto == AWSEP_REST_XML ? "x-amz-request-id" : "x-amzn-RequestId",
           rid,
           code && code[0] &&
                   (proto == AWSEP_JSON11 || proto == AWSEP_REST_JSON)
               ? "x-amzn-ErrorType: "
               : "",
           code && code[0] &&
                   (proto == AWSEP_JSON11 || proto == AWSEP_REST_JSON)
               ? code
               : "",
           code && code[0] &&
                   (proto == AWSEP_JSON11 || proto == AWSEP_REST_JSON)
               ? "\r\n"
               : "",
           extra ? extra : "");
  char head[1536];
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\n%s"
                   "Content-Type: %s\r\nContent-Length: %zu\r\nDate: %s\r\n"
                   "\r\n",
                   status, reason(status), more, ctype, body->len, date);
  send_all(fd, head, (size_t)n);
  send_all(fd, body->p ? body->p : "", body->len);
}

/* ------------------------------------------------------------------ */
/* SigV4 */

struct auth_fail {
  int status;
  const char *code;
  char msg[512];
};

static int auth_failed(struct auth_fail *f, int status, const char *code,
                       const char *fmt, ...) {
  f->status = status;
  f->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->msg, sizeof f->msg, fmt, ap);
  va_end(ap);
  return -1;
}

static const char sig_mismatch[] =
    "The request signature we calculated does not match the signature you "
    "provided. Check your AWS Secret Access Key and signing method. Consult "
    "the service documentation for details.";

/* Checks the request as AWS does; *svc is the scope's service when it is
 * one of ours (for the error's shape) even when the check fails. */
static int verify(struct gd_awsep *ep, const char *head, const char *body,
                  size_t blen, const struct awsep_service **svc,
                  char scope_region[64], struct auth_fail *f) {
  char method[16], target[2048], auth[2048], date[64], v[2048];
  *svc = NULL;
  if (sscanf(head, "%15s %2047s", method, target) != 2)
    return auth_failed(f, 400, "MalformedQueryString", "bad request line");
  if (!hval(head, "Authorization", auth, sizeof auth))
    return auth_failed(f, 403, "MissingAuthenticationToken",
                       "Request is missing Authentication Token");
  char akid[128], d8[16], region[64], service[64], signed_h[1024], sig[80];
  if (sscanf(auth,
             "AWS4-HMAC-SHA256 Credential=%127[^/]/%15[^/]/%63[^/]/%63[^/]/"
             "aws4_request, SignedHeaders=%1023[^,], Signature=%79s",
             akid, d8, region, service, signed_h, sig) != 6)
    return auth_failed(f, 400, "IncompleteSignature",
                       "Authorization header requires 'Credential', "
                       "'Signature' and 'SignedHeaders' parameters. "
                       "Authorization=%.40s",
                       auth);
  *svc = service_find(service);
  snprintf(scope_region, 64, "%s", region);
  /* The endpoint's own keys, or ones its STS issued. */
  const char *secret = ep->secret, *want_tok = ep->token;
  int issued = strcmp(akid, ep->akid) == 0
                   ? 1
                   : awsep_sts_key(ep, akid, &secret, &want_tok);
  if (issued < 0)
    return auth_failed(f, 400, "ExpiredToken",
                       "The security token included in the request is "
                       "expired");
  if (issued == 0)
    return (*svc && (*svc)->ec2_errors)
               ? auth_failed(f, 401, "AuthFailure",
                             "AWS was not able to validate the provided "
                             "access credentials")
               : auth_failed(f, 403, "InvalidClientTokenId",
                             "The security token included in the request is "
                             "invalid.");
  if (!*svc)
    return auth_failed(f, 403, "SignatureDoesNotMatch",
                       "Credential should be scoped to correct service: "
                       "'%s' is not served here. ",
                       service);
  /* S3 takes any region here and answers a bucket's request in another
   * region with a redirect; IAM only us-east-1. */
  const char *want_region = (*svc)->scope_region ? (*svc)->scope_region
                                                 : ep->region;
  if ((*svc)->proto == AWSEP_REST_XML && region[0]) want_region = region;
  if (strcmp(region, want_region) != 0)
    return (*svc)->proto == AWSEP_REST_XML
               ? auth_failed(f, 400, "AuthorizationHeaderMalformed",
                             "The authorization header is malformed; the "
                             "region '%s' is wrong; expecting '%s'",
                             region, want_region)
               : auth_failed(f, 403, "SignatureDoesNotMatch",
                             "Credential should be scoped to a valid region, "
                             "not '%s'. ",
                             region);
  /* host and x-amz-date must be signed. */
  char list[1024];
  int has_host = 0, has_date = 0, has_tok = 0;
  snprintf(list, sizeof list, ";%s;", signed_h);
  has_host = strstr(list, ";host;") != NULL;
  has_date = strstr(list, ";x-amz-date;") != NULL;
  has_tok = strstr(list, ";x-amz-security-token;") != NULL;
  if (!has_host)
    return auth_failed(f, 400, "IncompleteSignature",
                       "'Host' or ':authority' must be a 'SignedHeader' in "
                       "the AWS Authorization.");
  if (!hval(head, "X-Amz-Date", date, sizeof date) || !has_date)
    return auth_failed(f, 400, "IncompleteSignature",
                       "Authorization header requires existence of either a "
                       "'X-Amz-Date' or a 'Date' header, signed. "
                       "Authorization=%.40s",
                       auth);
  struct tm tm = {0};
  if (sscanf(date, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6 ||
      strlen(date) != 16)
    return auth_failed(f, 400, "IncompleteSignature",
                       "Date must be in ISO-8601 'basic format'. Got '%s'.",
                       date);
  if (strncmp(date, d8, 8) != 0 || strlen(d8) != 8)
    return auth_failed(f, 403, "SignatureDoesNotMatch",
                       "Date in Credential scope does not match YYYYMMDD "
                       "from ISO-8601 version of date from HTTP: '%s' != "
                       "'%.8s', from '%s'.",
                       d8, date, date);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t when = timegm(&tm), now = time(NULL);
  if (when < now - 900 || when > now + 900) {
    char nowiso[20];
    struct tm nt;
    gmtime_r(&now, &nt);
    strftime(nowiso, sizeof nowiso, "%Y%m%dT%H%M%SZ", &nt);
    if ((*svc)->ec2_errors)
      return auth_failed(f, 400, "RequestExpired",
                         "Request has expired. Timestamp date is %s", date);
    return auth_failed(f, 403, "SignatureDoesNotMatch",
                       "Signature expired: %s is now earlier than %s (%s - "
                       "15 min.)",
                       date, nowiso, nowiso);
  }
  /* The session token: required when the endpoint has one, and only
   * that one. */
  char tok[2048];
  const char *rtok = hval(head, "X-Amz-Security-Token", tok, sizeof tok);
  if ((want_tok[0] && (!rtok || strcmp(rtok, want_tok) != 0)) ||
      (!want_tok[0] && rtok))
    return (*svc)->ec2_errors
               ? auth_failed(f, 401, "AuthFailure",
                             "AWS was not able to validate the provided "
                             "access credentials")
               : auth_failed(f, 403, "InvalidClientTokenId",
                             "The security token included in the request is "
                             "invalid.");
  char phash[65];
  gd_sigv4_sha256_hex(body, blen, phash);
  int s3 = (*svc)->proto == AWSEP_REST_XML;
  if (s3 && !hval(head, "X-Amz-Content-Sha256", v, sizeof v))
    return auth_failed(f, 400, "InvalidRequest",
                       "Missing required header for this request: "
                       "x-amz-content-sha256");
  if (s3 && strcmp(v, GD_SIGV4_UNSIGNED_PAYLOAD) == 0)
    snprintf(phash, sizeof phash, "%s", v);
  else if (hval(head, "X-Amz-Content-Sha256", v, sizeof v) &&
           strcmp(v, phash) != 0)
    return auth_failed(f, 400, "XAmzContentSHA256Mismatch",
                       "The provided 'x-amz-content-sha256' header does not "
                       "match what was computed.");

  struct gd_sigv4_header hs[32];
  char vals[32][2048];
  char names[1024];
  size_t nh = 0;
  snprintf(names, sizeof names, "%s", signed_h);
  for (char *save, *nm = strtok_r(names, ";", &save); nm;
       nm = strtok_r(NULL, ";", &save)) {
    if (nh == 32 || !hval(head, nm, vals[nh], sizeof vals[nh]))
      return auth_failed(f, 403, "SignatureDoesNotMatch", "%s", sig_mismatch);
    hs[nh].name = nm;
    hs[nh].value = vals[nh];
    nh++;
  }
  struct gd_sigv4_request rq = {.method = method,
                                .target = target,
                                .headers = hs,
                                .nheaders = nh,
                                .payload_hash = phash,
                                .region = region,
                                .service = service,
                                .amz_date = date,
                                /* S3 signs the path as sent. */
                                .flags = s3 ? GD_SIGV4_S3 : 0};
  struct gd_sigv4_creds c = {akid, secret, has_tok ? want_tok : NULL};
  struct gd_sigv4_result res = {0};
  struct gd_error err;
  if (gd_sigv4_sign(&rq, &c, NULL, &res, &err))
    return auth_failed(f, 403, "SignatureDoesNotMatch", "%s", sig_mismatch);
  int ok = strcmp(res.signature, sig) == 0 &&
           strcmp(res.signed_headers, signed_h) == 0;
  gd_sigv4_result_free(&res);
  if (!ok) return auth_failed(f, 403, "SignatureDoesNotMatch", "%s",
                              sig_mismatch);
  return 0;
}

/* ------------------------------------------------------------------ */
/* One request */

static const struct ep_rule *take_rule(struct gd_awsep *ep,
                                       const char *service,
                                       const char *action) {
  for (int i = 0; i < ep->nrules; i++) {
    struct ep_rule *u = &ep->rules[i];
    if (u->n <= 0) continue;
    if (u->service[0] && strcmp(u->service, service) != 0) continue;
    if (u->action[0] && strcmp(u->action, action) != 0) continue;
    u->n--;
    return u;
  }
  return NULL;
}

static void log_call(struct gd_awsep *ep, struct awsep_req *r) {
  cJSON *c = cJSON_CreateObject();
  cJSON_AddStringToObject(c, "service", r->svc->name);
  cJSON_AddStringToObject(c, "action", r->action);
  cJSON_AddItemToObject(c, "params", cJSON_Duplicate(r->params, 1));
  cJSON_AddNumberToObject(c, "status", r->status);
  cJSON_AddStringToObject(c, "code", r->code);
  cJSON_AddBoolToObject(c, "mutating",
                        r->op && r->op->mutating && !awsep_bool(r, "DryRun"));
  cJSON_AddItemToArray(ep->calls, c);
}

/* The operation named in r->action, with forced failures first. */
static void run_op(struct gd_awsep *ep, struct awsep_req *r) {
  r->op = NULL;
  for (const struct awsep_op *op = r->svc->ops; op->name; op++)
    if (strcmp(op->name, r->action) == 0) r->op = op;
  if (!r->op) {
    awsep_error(r, 400, "UnknownOperationException",
                "Unknown operation %s", r->action);
    return;
  }
  const struct ep_rule *u = take_rule(ep, r->svc->name, r->action);
  if (u) {
    awsep_error(r, u->status, u->code, "%s", u->message);
    return;
  }
  r->op->fn(r);
  if (!r->status) awsep_error(r, 500, "InternalFailure", "no answer");
}

/* JSON 1.1: POST / with X-Amz-Target PREFIX.Operation and a JSON body. */
static void dispatch_json(struct gd_awsep *ep, struct awsep_req *r,
                          const char *head, const char *body, size_t blen) {
  char v[256], ct[128];
  size_t pl = strlen(r->svc->target);
  if (!hval(head, "X-Amz-Target", v, sizeof v) ||
      strncmp(v, r->svc->target, pl) != 0 || v[pl] != '.' || !v[pl + 1]) {
    awsep_error(r, 400, "UnknownOperationException", "%s", "");
    return;
  }
  snprintf(r->action, sizeof r->action, "%s", v + pl + 1);
  if (strcmp(r->method, "POST") != 0 ||
      !hval(head, "Content-Type", ct, sizeof ct) ||
      strncmp(ct, "application/x-amz-json-1.1", 26) != 0) {
    awsep_error(r, 400, "SerializationException",
                "expected POST with Content-Type application/x-amz-json-1.1, "
                "got %s '%s'",
                r->method, ct);
    return;
  }
  r->params = blen ? cJSON_ParseWithLength(body, blen) : cJSON_CreateObject();
  if (!cJSON_IsObject(r->params)) {
    cJSON_Delete(r->params);
    r->params = NULL;
    awsep_error(r, 400, "SerializationException",
                "Start of structure or map found where not expected.");
    return;
  }
  run_op(ep, r);
}

/* %XX decoding of a path ('+' is a plus there). */
static char *path_decode(const char *s, size_t n) {
  char *o = xrealloc(NULL, n + 1);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
        hexval(s[i + 2]) >= 0) {
      o[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else
      o[k++] = s[i];
  }
  o[k] = 0;
  return o;
}

/* REST: the method, the path and the query name the operation (the
 * service's route). S3's bucket is the host's first label when the host
 * is a name (virtual-host style), else the path's first segment. */
static void dispatch_rest(struct gd_awsep *ep, struct awsep_req *r,
                          const char *head, const char *target) {
  const char *q = strchr(target, '?');
  size_t plen = q ? (size_t)(q - target) : strlen(target);
  char *path = path_decode(target, plen);
  r->params = form_parse(q ? q + 1 : "", q ? strlen(q + 1) : 0);
  if (r->svc->proto == AWSEP_REST_XML) {
    char host[256] = "";
    hval(head, "Host", host, sizeof host);
    host[strcspn(host, ":")] = 0;
    int named = host[0] && strchr(host, '.') &&
                strspn(host, "0123456789.") != strlen(host) &&
                strncmp(host, "s3.", 3) != 0;
    const char *rest = path;
    if (named) {
      snprintf(r->bucket, sizeof r->bucket, "%.*s", (int)strcspn(host, "."),
               host);
    } else if (path[0] == '/' && path[1]) {
      size_t k = strcspn(path + 1, "/");
      snprintf(r->bucket, sizeof r->bucket, "%.*s", (int)k, path + 1);
      rest = path + 1 + k;
    }
    r->path = xstrdup(rest[0] ? rest : "/");
    free(path);
  } else {
    r->path = path;
  }
  cJSON_AddStringToObject(r->params, "_method", r->method);
  cJSON_AddStringToObject(r->params, "_path", r->path);
  if (r->bucket[0]) cJSON_AddStringToObject(r->params, "_bucket", r->bucket);
  if (r->svc->route(r) != 0) return;
  run_op(ep, r);
}

static void dispatch(struct gd_awsep *ep, struct awsep_req *r,
                     const char *head, const char *body, size_t blen) {
  char method[16] = "", target[2048] = "", v[256];
  sscanf(head, "%15s %2047s", method, target);
  snprintf(r->method, sizeof r->method, "%s", method);
  if (r->svc->proto == AWSEP_JSON11) {
    dispatch_json(ep, r, head, body, blen);
    return;
  }
  if (r->svc->proto == AWSEP_REST_XML || r->svc->proto == AWSEP_REST_JSON) {
    dispatch_rest(ep, r, head, target);
    return;
  }
  if (hval(head, "X-Amz-Target", v, sizeof v)) {
    /* None of these services speaks a JSON protocol. */
    awsep_error(r, 400, "UnknownOperationException",
                "the %s endpoint takes the query protocol, not X-Amz-Target "
                "'%s'",
                r->svc->name, v);
    return;
  }
  const char *q = strchr(target, '?');
  if (strcmp(method, "POST") == 0 && blen > 0)
    r->params = form_parse(body, blen);
  else
    r->params = form_parse(q ? q + 1 : "", q ? strlen(q + 1) : 0);
  const char *action = awsep_param(r, "Action");
  const char *version = awsep_param(r, "Version");
  if (!action || !*action) {
    awsep_error(r, 400, "MissingAction",
                "The request must contain the parameter Action");
    return;
  }
  snprintf(r->action, sizeof r->action, "%s", action);
  for (const struct awsep_op *op = r->svc->ops; op->name; op++)
    if (strcmp(op->name, action) == 0) r->op = op;
  if (r->svc->ec2_errors) {
    if (!version || !*version) {
      awsep_error(r, 400, "MissingParameter",
                  "The request must contain the parameter Version");
      return;
    }
    if (strcmp(version, r->svc->version) != 0) {
      awsep_error(r, 400, "NoSuchVersion",
                  "The requested version (%s) of service AmazonEC2 does not "
                  "exist",
                  version);
      return;
    }
    if (!r->op) {
      awsep_error(r, 400, "InvalidAction",
                  "The action %s is not valid for this web service.", action);
      return;
    }
  } else if (!r->op || !version || strcmp(version, r->svc->version) != 0) {
    awsep_error(r, 400, "InvalidAction",
                "Could not find operation %s for version %s", action,
                version ? version : "NO_VERSION_SPECIFIED");
    return;
  }
  const struct ep_rule *u = take_rule(ep, r->svc->name, action);
  if (u) {
    awsep_error(r, u->status, u->code, "%s", u->message);
    return;
  }
  r->op->fn(r);
  if (!r->status) awsep_error(r, 500, "InternalFailure", "no answer");
}

/* A POST of Action=AssumeRoleWithWebIdentity. */
static int unsigned_sts(const char *head, const char *body, size_t blen) {
  if (strncmp(head, "POST ", 5) != 0) return 0;
  cJSON *p = form_parse(body, blen);
  const char *a = awsep_s(p, "Action", "");
  int yes = strcmp(a, "AssumeRoleWithWebIdentity") == 0;
  cJSON_Delete(p);
  return yes;
}

static void handle(struct gd_awsep *ep, int fd, const char *head,
                   const char *body, size_t blen) {
  struct awsep_req r = {.ep = ep};
  const struct awsep_service *svc = NULL;
  struct auth_fail f;
  pthread_mutex_lock(&ep->mu);
  ep->requests++;
  unsigned k = ++ep->reqno;
  snprintf(r.request_id, sizeof r.request_id, "%08x-%04x-4%03x-8%03x-%012x",
           0xa5e90000u + k, k & 0xffff, k & 0xfff, (k >> 12) & 0xfff, k);
  char auth[16];
  if (!hval(head, "Authorization", auth, sizeof auth) &&
      unsigned_sts(head, body, blen)) {
    /* AssumeRoleWithWebIdentity is the one unsigned call: the token is
     * the credential. */
    svc = service_find("sts");
    snprintf(r.scope_region, sizeof r.scope_region, "%s", ep->region);
  } else if (verify(ep, head, body, blen, &svc, r.scope_region, &f) != 0) {
    ep->bad_sigs++;
    pthread_mutex_unlock(&ep->mu);
    /* The JSON services and S3 name the same failures their own way. */
    const char *code = f.code;
    if (svc && (svc->proto == AWSEP_JSON11 || svc->proto == AWSEP_REST_JSON)) {
      if (strcmp(code, "SignatureDoesNotMatch") == 0)
        code = "InvalidSignatureException";
      else if (strcmp(code, "InvalidClientTokenId") == 0)
        code = "UnrecognizedClientException";
    } else if (svc && svc->proto == AWSEP_REST_XML &&
               strcmp(code, "InvalidClientTokenId") == 0) {
      code = "InvalidAccessKeyId";
    }
    struct awsep_buf b = {0};
    error_body(&b, svc, f.status, code, f.msg, r.request_id);
    send_answer(fd, f.status, svc, code, NULL, r.request_id, &b);
    awsep_buf_free(&b);
    return;
  }
  r.svc = svc;
  advance(ep, mono_ms());
  dispatch(ep, &r, head, body, blen);
  if (!r.params) r.params = cJSON_CreateObject();
  log_call(ep, &r);
  pthread_mutex_unlock(&ep->mu);
  send_answer(fd, r.status, svc, r.code, r.extra_headers, r.request_id,
              &r.out);
  cJSON_Delete(r.params);
  free(r.path);
  awsep_buf_free(&r.out);
}

/* 1: a whole request was handled; 0: need more bytes; -1: drop the
 * connection. */
static int serve(struct gd_awsep *ep, struct ep_conn *c) {
  char *end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
  if (!end) return c->len > EP_HEAD_MAX ? -1 : 0;
  size_t hlen = (size_t)(end - c->buf) + 4;
  if (hlen > EP_HEAD_MAX) return -1;
  char *head = xrealloc(NULL, hlen + 1);
  memcpy(head, c->buf, hlen);
  head[hlen] = 0;
  char cl[32];
  size_t blen = hval(head, "Content-Length", cl, sizeof cl)
                    ? (size_t)strtoul(cl, NULL, 10)
                    : 0;
  if (blen > EP_BODY_MAX) {
    free(head);
    return -1;
  }
  if (c->len < hlen + blen) {
    free(head);
    return 0;
  }
  handle(ep, c->fd, head, c->buf + hlen, blen);
  free(head);
  memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
  c->len -= hlen + blen;
  return 1;
}

static void conn_close(struct ep_conn *c) {
  close(c->fd);
  c->fd = -1;
  free(c->buf);
  c->buf = NULL;
  c->len = c->cap = 0;
}

static void *server_main(void *arg) {
  struct gd_awsep *ep = arg;
  for (;;) {
    struct pollfd fds[EP_CONNS + 2];
    int idx[EP_CONNS + 2];
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = ep->wake[0], .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = ep->lfd, .events = POLLIN};
    for (int i = 0; i < EP_CONNS; i++)
      if (ep->conns[i].fd >= 0) {
        idx[n] = i;
        fds[n++] = (struct pollfd){.fd = ep->conns[i].fd, .events = POLLIN};
      }
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    if (fds[0].revents) return NULL;
    if (fds[1].revents) {
      int fd = accept(ep->lfd, NULL, NULL);
      int i = 0;
      while (fd >= 0 && i < EP_CONNS && ep->conns[i].fd >= 0) i++;
      if (fd >= 0 && i == EP_CONNS)
        close(fd);
      else if (fd >= 0)
        ep->conns[i].fd = fd;
    }
    for (nfds_t j = 2; j < n; j++) {
      if (!fds[j].revents) continue;
      struct ep_conn *c = &ep->conns[idx[j]];
      if (c->cap - c->len < 16384) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->buf = xrealloc(c->buf, c->cap);
      }
      ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
      if (r <= 0) {
        conn_close(c);
        continue;
      }
      c->len += (size_t)r;
      int s;
      while ((s = serve(ep, c)) == 1) {
      }
      if (s < 0) conn_close(c);
    }
  }
}

/* ------------------------------------------------------------------ */
/* The API */

struct gd_awsep *gd_awsep_start(const struct gd_awsep_options *opts) {
  struct gd_awsep *ep = calloc(1, sizeof *ep);
  if (!ep) return NULL;
  struct gd_awsep_options o = {0};
  if (opts) o = *opts;
  snprintf(ep->region, sizeof ep->region, "%s",
           o.region ? o.region : GD_AWSEP_REGION);
  snprintf(ep->akid, sizeof ep->akid, "%s",
           o.access_key ? o.access_key : GD_AWSEP_AKID);
  snprintf(ep->secret, sizeof ep->secret, "%s",
           o.secret_key ? o.secret_key : GD_AWSEP_SECRET);
  snprintf(ep->token, sizeof ep->token, "%s",
           o.session_token ? o.session_token : "");
  for (int i = 0; i < EP_CONNS; i++) ep->conns[i].fd = -1;
  pthread_mutex_init(&ep->mu, NULL);
  ep->world = cJSON_CreateObject();
  ep->calls = cJSON_CreateArray();
  ep->now = mono_ms();
  ep->wall_off = wall_ms() - ep->now;
  ep->wake[0] = ep->wake[1] = -1;
  ep->lfd = gd_test_listen(64, &ep->port);
  if (ep->lfd < 0 || pipe(ep->wake) != 0) {
    fprintf(stderr, "awsep: cannot listen: %s\n", strerror(errno));
    goto fail;
  }
  snprintf(ep->url, sizeof ep->url, "http://127.0.0.1:%d", ep->port);
  if (pthread_create(&ep->th, NULL, server_main, ep) != 0) {
    fprintf(stderr, "awsep: cannot start its thread\n");
    goto fail;
  }
  return ep;
fail:
  if (ep->lfd >= 0) close(ep->lfd);
  if (ep->wake[0] >= 0) close(ep->wake[0]);
  if (ep->wake[1] >= 0) close(ep->wake[1]);
  cJSON_Delete(ep->world);
  cJSON_Delete(ep->calls);
  pthread_mutex_destroy(&ep->mu);
  free(ep);
  return NULL;
}

void gd_awsep_stop(struct gd_awsep *ep) {
  if (!ep) return;
  char b = 0;
  if (write(ep->wake[1], &b, 1) == 1) pthread_join(ep->th, NULL);
  for (int i = 0; i < EP_CONNS; i++)
    if (ep->conns[i].fd >= 0) conn_close(&ep->conns[i]);
  close(ep->lfd);
  close(ep->wake[0]);
  close(ep->wake[1]);
  changes_clear(ep);
  free(ep->changes);
  cJSON_Delete(ep->world);
  cJSON_Delete(ep->calls);
  pthread_mutex_destroy(&ep->mu);
  free(ep);
}

int gd_awsep_port(const struct gd_awsep *ep) { return ep->port; }
const char *gd_awsep_url(const struct gd_awsep *ep) { return ep->url; }

void gd_awsep_setenv(const struct gd_awsep *ep) {
  setenv("AWS_ENDPOINT_URL", ep->url, 1);
  setenv("AWS_ACCESS_KEY_ID", ep->akid, 1);
  setenv("AWS_SECRET_ACCESS_KEY", ep->secret, 1);
  if (ep->token[0])
    setenv("AWS_SESSION_TOKEN", ep->token, 1);
  else
    unsetenv("AWS_SESSION_TOKEN");
  setenv("AWS_REGION", ep->region, 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

int gd_awsep_load_tree(struct gd_awsep *ep, const cJSON *fixture, char *err,
                       size_t errlen) {
  char why[512] = "";
  if (!cJSON_IsObject(fixture)) {
    snprintf(err ? err : why, err ? errlen : sizeof why,
             "fixture: expected an object");
    return -1;
  }
  pthread_mutex_lock(&ep->mu);
  cJSON *old = ep->world;
  ep->world = cJSON_Duplicate(fixture, 1);
  changes_clear(ep);
  ep->now = mono_ms();
  int rc = awsep_ec2_normalize(ep, why, sizeof why);
  if (!rc) rc = awsep_rds_normalize(ep, why, sizeof why);
  if (!rc) {
    static const char *const lists[] = {
        "instances", "auto_scaling_groups", "target_groups", "db_clusters",
        "db_instances", "alarms", "buckets", "trails", "functions"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
      awsep_wlist(ep, lists[i]);
  }
  if (rc) {
    cJSON_Delete(ep->world);
    ep->world = old;
  } else
    cJSON_Delete(old);
  pthread_mutex_unlock(&ep->mu);
  if (rc && err) snprintf(err, errlen, "%s", why);
  return rc;
}

int gd_awsep_load(struct gd_awsep *ep, const char *fixture_json, char *err,
                  size_t errlen) {
  cJSON *t = cJSON_Parse(fixture_json);
  if (!t) {
    if (err) snprintf(err, errlen, "fixture: not JSON");
    return -1;
  }
  int rc = gd_awsep_load_tree(ep, t, err, errlen);
  cJSON_Delete(t);
  return rc;
}

cJSON *gd_awsep_lock(struct gd_awsep *ep) {
  pthread_mutex_lock(&ep->mu);
  advance(ep, mono_ms());
  return ep->world;
}

void gd_awsep_unlock(struct gd_awsep *ep) { pthread_mutex_unlock(&ep->mu); }

int gd_awsep_set_alarm(struct gd_awsep *ep, const char *name,
                       const char *state) {
  gd_awsep_lock(ep);
  cJSON *a = awsep_find(ep, "alarms", "name", name);
  if (a) {
    char ts[32];
    awsep_set_s(a, "state", state);
    awsep_iso(ep, 0, ts);
    awsep_set_s(a, "state_updated", ts);
  }
  gd_awsep_unlock(ep);
  return a ? 0 : -1;
}

int gd_awsep_set_target(struct gd_awsep *ep, const char *instance_id,
                        const char *state) {
  int found = 0;
  cJSON *w = gd_awsep_lock(ep), *tg, *t;
  cJSON_ArrayForEach(tg, cJSON_GetObjectItem(w, "target_groups")) {
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(tg, "targets")) {
      if (strcmp(awsep_s(t, "id", ""), instance_id) == 0) {
        awsep_set_s(t, "state", state);
        found = 1;
      }
    }
  }
  gd_awsep_unlock(ep);
  return found ? 0 : -1;
}

cJSON *gd_awsep_get(struct gd_awsep *ep, const char *list,
                    const char *value) {
  gd_awsep_lock(ep);
  cJSON *it = awsep_find(ep, list, "id", value);
  if (!it) it = awsep_find(ep, list, "name", value);
  if (!it) it = awsep_find(ep, list, "arn", value);
  cJSON *copy = it ? cJSON_Duplicate(it, 1) : NULL;
  gd_awsep_unlock(ep);
  return copy;
}

cJSON *gd_awsep_calls(struct gd_awsep *ep) {
  pthread_mutex_lock(&ep->mu);
  cJSON *c = cJSON_Duplicate(ep->calls, 1);
  pthread_mutex_unlock(&ep->mu);
  return c;
}

void gd_awsep_calls_clear(struct gd_awsep *ep) {
  pthread_mutex_lock(&ep->mu);
  cJSON_Delete(ep->calls);
  ep->calls = cJSON_CreateArray();
  pthread_mutex_unlock(&ep->mu);
}

unsigned gd_awsep_count(struct gd_awsep *ep, const char *service,
                        const char *action) {
  unsigned n = 0;
  const cJSON *c;
  pthread_mutex_lock(&ep->mu);
  cJSON_ArrayForEach(c, ep->calls) {
    if (service && strcmp(awsep_s(c, "service", ""), service) != 0) continue;
    if (action && strcmp(awsep_s(c, "action", ""), action) != 0) continue;
    n++;
  }
  pthread_mutex_unlock(&ep->mu);
  return n;
}

unsigned gd_awsep_mutations(struct gd_awsep *ep) {
  unsigned n = 0;
  const cJSON *c;
  pthread_mutex_lock(&ep->mu);
  cJSON_ArrayForEach(c, ep->calls) n += awsep_b(c, "mutating", 0) ? 1 : 0;
  pthread_mutex_unlock(&ep->mu);
  return n;
}

unsigned gd_awsep_requests(struct gd_awsep *ep) {
  pthread_mutex_lock(&ep->mu);
  unsigned n = ep->requests;
  pthread_mutex_unlock(&ep->mu);
  return n;
}

unsigned gd_awsep_bad_signatures(struct gd_awsep *ep) {
  pthread_mutex_lock(&ep->mu);
  unsigned n = ep->bad_sigs;
  pthread_mutex_unlock(&ep->mu);
  return n;
}

static const char *stock_message(const char *code) {
  if (strcmp(code, "Throttling") == 0 ||
      strcmp(code, "ThrottlingException") == 0)
    return "Rate exceeded";
  if (strcmp(code, "RequestLimitExceeded") == 0)
    return "Request limit exceeded.";
  if (strcmp(code, "AccessDenied") == 0 ||
      strcmp(code, "AccessDeniedException") == 0)
    return "User: arn:aws:iam::123456789012:user/gameday is not authorized "
           "to perform this action";
  if (strcmp(code, "UnauthorizedOperation") == 0)
    return "You are not authorized to perform this operation.";
  if (strcmp(code, "InternalFailure") == 0 ||
      strcmp(code, "InternalError") == 0)
    return "An internal error has occurred.";
  if (strcmp(code, "ServiceUnavailable") == 0)
    return "Service is unable to handle request.";
  return "Injected failure.";
}

void gd_awsep_fail_next(struct gd_awsep *ep, const char *service,
                        const char *action, int n, int status,
                        const char *code, const char *message) {
  pthread_mutex_lock(&ep->mu);
  int i = 0;
  for (; i < ep->nrules; i++)
    if (strcmp(ep->rules[i].service, service ? service : "") == 0 &&
        strcmp(ep->rules[i].action, action ? action : "") == 0)
      break;
  if (i == ep->nrules && ep->nrules < EP_RULES) ep->nrules++;
  if (i < EP_RULES) {
    struct ep_rule *u = &ep->rules[i];
    snprintf(u->service, sizeof u->service, "%s", service ? service : "");
    snprintf(u->action, sizeof u->action, "%s", action ? action : "");
    u->n = n;
    u->status = status;
    snprintf(u->code, sizeof u->code, "%s", code);
    snprintf(u->message, sizeof u->message, "%s",
             message ? message : stock_message(code));
  }
  pthread_mutex_unlock(&ep->mu);
}

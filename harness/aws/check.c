/* gameday: an AWS probe sample as a chain of calls (awscheck.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/json.h"

/* Endpoint prefixes whose IAM prefix differs; the rest are the same. */
static const struct {
  const char *service, *iam;
} iam_prefixes[] = {
    {"monitoring", "cloudwatch"},
    {"email", "ses"},
    {"runtime.sagemaker", "sagemaker"},
};

/* Operations whose IAM action has another name: the message names the
 * permission to grant, not the API call. */
static const struct {
  const char *service, *operation, *action;
} iam_actions[] = {
    {"s3", "ListBuckets", "ListAllMyBuckets"},
    {"s3", "GetPublicAccessBlock", "GetBucketPublicAccessBlock"},
    {"s3", "HeadBucket", "ListBucket"},
    {"s3", "ListObjectsV2", "ListBucket"},
    {"s3", "HeadObject", "GetObject"},
};

const char *gd_awscheck_action(const char *service, const char *operation,
                               char *buf, size_t n) {
  const char *prefix = service;
  for (size_t i = 0; i < sizeof iam_prefixes / sizeof iam_prefixes[0]; i++)
    if (strcasecmp(service, iam_prefixes[i].service) == 0)
      prefix = iam_prefixes[i].iam;
  for (size_t i = 0; i < sizeof iam_actions / sizeof iam_actions[0]; i++)
    if (strcasecmp(service, iam_actions[i].service) == 0 &&
        strcmp(operation, iam_actions[i].operation) == 0)
      operation = iam_actions[i].action;
  snprintf(buf, n, "%s:%s", prefix, operation);
  return buf;
}

static int start(struct gd_awscheck *c, struct gd_probe *p,
                 const char *region, int watch, struct gd_error *err) {
  unsigned ms = (unsigned)(p->timeout_ns / 1000000);
  /* The probe's timeout cancels first; the client's own is a safety net a
   * little behind it. A check's retries fit inside it (see the header); a
   * watching probe makes one attempt, since retries would hide the
   * throttling and errors it is there to see. */
  struct gd_aws_options o = {.max_attempts = watch ? 1 : 3,
                             .base_delay_ms = watch ? 0 : 200,
                             .max_delay_ms = watch ? 0 : 2000,
                             .attempt_timeout_ms = ms + 1000,
                             .total_timeout_ms = ms + 1000};
  c->p = p;
  c->watch = watch;
  return gd_awskind_client_region(p->loop, p->curl, region, &o, p->path,
                                  &c->aws, err);
}

int gd_awscheck_start(struct gd_awscheck *c, struct gd_probe *p,
                      const char *region, struct gd_error *err) {
  return start(c, p, region, 0, err);
}

int gd_awscheck_start_watch(struct gd_awscheck *c, struct gd_probe *p,
                            const char *region, struct gd_error *err) {
  return start(c, p, region, 1, err);
}

/* The run of slot s, made on its first sample and kept for the next. */
static struct gd_awscheck_run *run_for(struct gd_awscheck *c,
                                       struct gd_sample *s) {
  struct gd_awscheck_run *r = s->data;
  if (!r) {
    if (!(r = calloc(1, sizeof *r))) return NULL;
    r->chk = c;
    r->next = c->runs;
    c->runs = r;
    s->data = r;
  }
  return r;
}

static void run_end(struct gd_awscheck_run *r, enum gd_sample_class cls,
                    const char *detail) {
  struct gd_sample *s = r->s;
  /* Everything is cleared before the sample ends: gd_sample_done may stop
   * the probe (a check is one sample), and the slot may begin again. */
  cJSON_Delete(r->state);
  r->state = NULL;
  r->data = NULL;
  r->cb = NULL;
  r->call = NULL;
  r->active = 0;
  gd_sample_done(s, cls, "%s", detail);
}

void gd_awscheck_finish(struct gd_awscheck_run *r, enum gd_sample_class cls,
                        const char *fmt, ...) {
  if (!r->active) return;
  /* Formatted first: the detail may quote strings of r->state. */
  char detail[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  run_end(r, cls, detail);
}

void gd_awscheck_fail(struct gd_awscheck_run *r,
                      const struct gd_aws_result *res,
                      const struct gd_error *e) {
  if (r->chk->watch) {
    /* A watching probe's failed sample says what the client said; the
     * class is the one of every AWS probe (gd_awskind_sample_class). */
    if (e->code == GD_ECANCELED)
      gd_awscheck_finish(r, GD_SAMPLE_TIMEOUT, "cancelled");
    else
      gd_awscheck_finish(
          r, res ? gd_awskind_sample_class(res, e) : GD_SAMPLE_ERROR, "%s",
          e->msg);
    return;
  }
  if (e->code == GD_ECANCELED || e->code == GD_ETIMEDOUT) {
    gd_awscheck_finish(r, GD_SAMPLE_TIMEOUT, "%s during %s",
                       e->code == GD_ECANCELED ? "cancelled" : "timed out",
                       r->action);
    return;
  }
  if (res && res->aws_code[0]) {
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "%s on %s", res->aws_code,
                       r->action);
    return;
  }
  enum gd_sample_class cls =
      res ? gd_awskind_sample_class(res, e) : GD_SAMPLE_ERROR;
  /* A status without an AWS error is the service failing, not the
   * resource being wrong: never a finding. */
  if (cls == GD_SAMPLE_STATUS || cls == GD_SAMPLE_MISMATCH)
    cls = GD_SAMPLE_ERROR;
  gd_awscheck_finish(r, cls, "%s: %s", r->action, e->msg);
}

static void on_answer(struct gd_aws_result *res, const struct gd_error *e,
                      void *arg) {
  struct gd_awscheck_run *r = arg;
  r->call = NULL;
  if (!r->active) return;
  if (e && (e->code == GD_ECANCELED || !r->any)) {
    gd_awscheck_fail(r, res, e);
    return;
  }
  gd_awscheck_cb cb = r->cb;
  r->cb = NULL;
  cb(r, res, e);
}

static int call(struct gd_awscheck_run *r, const char *service,
                const char *operation, const cJSON *params, gd_awscheck_cb cb,
                int any, struct gd_error *err) {
  gd_awscheck_action(service, operation, r->action, sizeof r->action);
  r->cb = cb;
  r->any = any;
  int rc = gd_aws_call(r->chk->aws, service, operation, params, on_answer, r,
                       &r->call, err);
  if (rc) {
    r->call = NULL;
    r->cb = NULL;
  }
  return rc;
}

static void call_or_end(struct gd_awscheck_run *r, const char *service,
                        const char *operation, const cJSON *params,
                        gd_awscheck_cb cb, int any) {
  if (!r->active) return;
  struct gd_error e = {0};
  if (call(r, service, operation, params, cb, any, &e))
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "%s: %s", r->action, e.msg);
}

void gd_awscheck_call(struct gd_awscheck_run *r, const char *service,
                      const char *operation, const cJSON *params,
                      gd_awscheck_cb cb) {
  call_or_end(r, service, operation, params, cb, 0);
}

void gd_awscheck_call_any(struct gd_awscheck_run *r, const char *service,
                          const char *operation, const cJSON *params,
                          gd_awscheck_cb cb) {
  call_or_end(r, service, operation, params, cb, 1);
}

void gd_awscheck_call_page(struct gd_awscheck_run *r, const char *service,
                           const char *operation, const cJSON *params,
                           const char *key, const char *token,
                           gd_awscheck_cb cb) {
  cJSON *page = cJSON_Duplicate(params, 1);
  if (!page || !cJSON_AddStringToObject(page, key, token)) {
    cJSON_Delete(page);
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return;
  }
  gd_awscheck_call(r, service, operation, page, cb);
  cJSON_Delete(page);
}

int gd_awscheck_begin(struct gd_awscheck *c, struct gd_sample *s,
                      struct gd_awscheck_run **out, struct gd_error *err) {
  if (!c->aws) return gd_error_set(err, GD_ESTATE, "not started");
  struct gd_awscheck_run *r = run_for(c, s);
  if (!r || !(r->state = cJSON_CreateObject()))
    return gd_error_set(err, GD_ENOMEM, "out of memory");
  r->s = s;
  r->data = NULL;
  r->action[0] = 0;
  r->active = 1;
  *out = r;
  return 0;
}

int gd_awscheck_sample(struct gd_awscheck *c, struct gd_sample *s,
                       const char *service, const char *operation,
                       const cJSON *params, gd_awscheck_cb cb,
                       struct gd_error *err) {
  struct gd_awscheck_run *r;
  int rc = gd_awscheck_begin(c, s, &r, err);
  if (rc) return rc;
  rc = call(r, service, operation, params, cb, 0, err);
  if (rc) {
    cJSON_Delete(r->state);
    r->state = NULL;
    r->active = 0;
  }
  return rc;
}

void gd_awscheck_cancel(struct gd_probe *p, struct gd_sample *s) {
  struct gd_awscheck_run *r = s->data;
  (void)p;
  if (!r || !r->active) return;
  if (r->call) {
    gd_aws_cancel(r->call); /* on_answer, right here: ends the sample */
    return;
  }
  /* Between calls (a callback that neither called nor finished). */
  gd_awscheck_finish(r, GD_SAMPLE_TIMEOUT, "cancelled after %s", r->action);
}

static void aws_closed(void *arg) {
  struct gd_awscheck *c = arg;
  c->aws = NULL;
  c->stop_done(c->p);
}

void gd_awscheck_stop(struct gd_awscheck *c, struct gd_probe *p,
                      void (*done)(struct gd_probe *p)) {
  c->p = p;
  if (!c->aws) {
    done(p);
    return;
  }
  c->stop_done = done;
  gd_aws_close(c->aws, aws_closed, c);
}

void gd_awscheck_free(struct gd_awscheck *c) {
  struct gd_awscheck_run *r;
  while ((r = c->runs)) {
    c->runs = r->next;
    cJSON_Delete(r->state);
    free(r);
  }
}

static int strv_push(char ***v, size_t *n, const char *s, size_t len) {
  char **nv = realloc(*v, (*n + 2) * sizeof *nv);
  if (!nv) return -1;
  *v = nv;
  if (!(nv[*n] = strndup(s, len))) return -1;
  nv[++*n] = NULL;
  return 0;
}

int gd_awscheck_list_parse(const cJSON *spec, const char *key,
                           const char *path, int required, char ***out,
                           size_t *n, struct gd_error *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
  char kp[256];
  gd_json_path(kp, sizeof kp, path, key);
  if (!v) {
    if (required)
      return gd_error_set(err, GD_EINVAL, "%s: required key missing", kp);
    return 0;
  }
  char **list = NULL;
  size_t k = 0;
  int rc = 0;
  if (cJSON_IsArray(v)) {
    size_t i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
      char num[64];
      const char *s = NULL;
      if (cJSON_IsString(it)) {
        s = it->valuestring;
      } else if (cJSON_IsNumber(it)) {
        snprintf(num, sizeof num, "%.17g", it->valuedouble);
        s = num;
      }
      while (s && (*s == ' ' || *s == '\t')) s++;
      size_t len = s ? strlen(s) : 0;
      while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
      if (!len) {
        rc = gd_error_set(err, GD_EINVAL,
                          "%s[%zu]: must be a non-empty string or a number",
                          kp, i);
        goto fail;
      }
      if (strv_push(&list, &k, s, len)) goto nomem;
    }
  } else if (cJSON_IsString(v)) {
    const char *s = v->valuestring;
    /* "" is the empty list: a ${var} left empty on purpose. */
    while (*s == ' ' || *s == '\t') s++;
    for (; *s;) {
      const char *end = strchr(s, ',');
      size_t len = end ? (size_t)(end - s) : strlen(s);
      const char *a = s;
      while (len && (*a == ' ' || *a == '\t')) a++, len--;
      while (len && (a[len - 1] == ' ' || a[len - 1] == '\t')) len--;
      if (!len) {
        rc = gd_error_set(err, GD_EINVAL, "%s: empty item in '%s'", kp,
                          v->valuestring);
        goto fail;
      }
      if (strv_push(&list, &k, a, len)) goto nomem;
      if (!end) break;
      s = end + 1;
    }
  } else {
    return gd_error_set(err, GD_EINVAL,
                        "%s: must be an array or a comma-separated string",
                        kp);
  }
  if (required && k == 0) {
    rc = gd_error_set(err, GD_EINVAL, "%s: must not be empty", kp);
    goto fail;
  }
  if (!list && !(list = calloc(1, sizeof *list))) goto nomem;
  *out = list;
  *n = k;
  return 0;
nomem:
  rc = gd_error_set(err, GD_ENOMEM, "%s: out of memory", kp);
fail:
  gd_strv_free(list);
  return rc;
}

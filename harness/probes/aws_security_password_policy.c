/* gameday: the aws.security.password_policy check: is the account's IAM
 * password policy at least as strict as asked? IAM
 * GetAccountPasswordPolicy; NoSuchEntity (no policy at all: IAM's default
 * of 8 characters and no complexity) is a finding. Keys, CIS-like
 * defaults:
 *   min_length         14
 *   require_symbols, require_numbers, require_uppercase,
 *   require_lowercase  true
 *   max_age_days       0: not checked; N: passwords must expire within N
 *                      days (ExpirePasswords, MaxPasswordAge <= N)
 *   reuse_prevention   0: not checked; N: PasswordReusePrevention >= N
 * The finding lists every rule the policy misses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct pwp_ctx {
  long long min_length, max_age_days, reuse;
  int symbols, numbers, upper, lower;
  struct gd_awscheck chk;
};

static const char *const pwp_keys[] = {
    "min_length",        "require_symbols",   "require_numbers",
    "require_uppercase", "require_lowercase", "max_age_days",
    "reuse_prevention",  NULL};

static int pwp_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  struct pwp_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  c->min_length = 14;
  c->symbols = c->numbers = c->upper = c->lower = 1;
  int rc;
  /* IAM's own bounds: 6-128 characters, 1-1095 days, 1-24 passwords. */
  if ((rc = gd_json_get_int(spec, "min_length", path, 0, 6, 128,
                            &c->min_length, err)) ||
      (rc = gd_json_get_bool(spec, "require_symbols", path, 0, &c->symbols,
                             err)) ||
      (rc = gd_json_get_bool(spec, "require_numbers", path, 0, &c->numbers,
                             err)) ||
      (rc = gd_json_get_bool(spec, "require_uppercase", path, 0, &c->upper,
                             err)) ||
      (rc = gd_json_get_bool(spec, "require_lowercase", path, 0, &c->lower,
                             err)) ||
      (rc = gd_json_get_int(spec, "max_age_days", path, 0, 0, 1095,
                            &c->max_age_days, err)) ||
      (rc = gd_json_get_int(spec, "reuse_prevention", path, 0, 0, 24,
                            &c->reuse, err))) {
    free(c);
    return rc;
  }
  p->ctx = c;
  return 0;
}

static void pwp_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct pwp_ctx *c = p->ctx;
  snprintf(buf, n, "iam password policy: at least %lld characters%s%s%s",
           c->min_length,
           c->symbols || c->numbers || c->upper || c->lower
               ? ", character classes"
               : "",
           c->max_age_days ? ", expiry" : "",
           c->reuse ? ", reuse prevention" : "");
}

static int pwp_start(struct gd_probe *p, struct gd_error *err) {
  struct pwp_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, NULL, err);
}

/* One more rule missed, "; " between. */
static void add(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t n, const char *fmt, ...) {
  size_t k = strlen(buf);
  if (k && k + 2 < n) {
    memcpy(buf + k, "; ", 3);
    k += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  if (k < n) vsnprintf(buf + k, n - k, fmt, ap);
  va_end(ap);
}

static int is_true(const xmlNode *pol, const char *name) {
  char b[16];
  return gd_aws_xml_text(pol, name, b, sizeof b) && strcmp(b, "true") == 0;
}

static long long number(const xmlNode *pol, const char *name) {
  char b[32];
  if (!gd_aws_xml_text(pol, name, b, sizeof b) || !b[0]) return -1;
  return strtoll(b, NULL, 10);
}

static void on_policy(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct pwp_ctx *c = r->s->probe->ctx;
  if (e) {
    if (strcmp(res->aws_code, "NoSuchEntity") == 0)
      gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                         "no account password policy (IAM's default: 8 "
                         "characters, no character classes), needs %lld "
                         "characters",
                         c->min_length);
    else
      gd_awscheck_fail(r, res, e);
    return;
  }
  const xmlNode *pol =
      gd_aws_xml_find(xmlDocGetRootElement(res->xml),
                      "GetAccountPasswordPolicyResult/PasswordPolicy");
  if (!pol) {
    gd_awscheck_finish(r, GD_SAMPLE_PROTOCOL,
                       "iam:GetAccountPasswordPolicy: answer without "
                       "PasswordPolicy");
    return;
  }
  /* Terse, so that every miss fits a finding line. */
  char f[160] = "", classes[64] = "";
  long long len = number(pol, "MinimumPasswordLength");
  if (len < c->min_length)
    add(f, sizeof f, "length %lld < %lld", len < 0 ? 0 : len, c->min_length);
  static const struct {
    size_t off;
    const char *field, *name;
  } cls[] = {
      {offsetof(struct pwp_ctx, symbols), "RequireSymbols", "symbols"},
      {offsetof(struct pwp_ctx, numbers), "RequireNumbers", "numbers"},
      {offsetof(struct pwp_ctx, upper), "RequireUppercaseCharacters",
       "uppercase"},
      {offsetof(struct pwp_ctx, lower), "RequireLowercaseCharacters",
       "lowercase"},
  };
  for (size_t i = 0; i < sizeof cls / sizeof cls[0]; i++) {
    int want = *(const int *)((const char *)c + cls[i].off);
    if (!want || is_true(pol, cls[i].field)) continue;
    size_t k = strlen(classes);
    snprintf(classes + k, sizeof classes - k, "%s%s", k ? ", " : "",
             cls[i].name);
  }
  if (classes[0]) add(f, sizeof f, "%s not required", classes);
  if (c->max_age_days) {
    long long age = number(pol, "MaxPasswordAge");
    if (!is_true(pol, "ExpirePasswords") || age <= 0)
      add(f, sizeof f, "no expiry (needs <= %lld days)", c->max_age_days);
    else if (age > c->max_age_days)
      add(f, sizeof f, "expiry %lld days > %lld", age, c->max_age_days);
  }
  if (c->reuse) {
    long long reuse = number(pol, "PasswordReusePrevention");
    if (reuse <= 0)
      add(f, sizeof f, "no reuse prevention (needs %lld)", c->reuse);
    else if (reuse < c->reuse)
      add(f, sizeof f, "reuse prevention %lld < %lld", reuse, c->reuse);
  }
  if (f[0])
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "password policy: %s", f);
  else
    gd_awscheck_finish(r, GD_SAMPLE_OK,
                       "password policy: %lld+ characters, as strict as "
                       "asked",
                       len);
}

static int pwp_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct pwp_ctx *c = p->ctx;
  struct gd_awscheck_run *r;
  int rc = gd_awscheck_begin(&c->chk, s, &r, err);
  if (rc) return rc;
  /* NoSuchEntity is the finding "no policy", not a failure to check. */
  gd_awscheck_call_any(r, "iam", "GetAccountPasswordPolicy", NULL, on_policy);
  return 0;
}

static void pwp_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct pwp_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void pwp_free(struct gd_probe *p) {
  struct pwp_ctx *c = p->ctx;
  if (c) gd_awscheck_free(&c->chk);
  free(c);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_security_password_policy = {
    .type = "aws.security.password_policy",
    .keys = pwp_keys,
    .init = pwp_init,
    .describe = pwp_describe,
    .start = pwp_start,
    .sample = pwp_sample,
    .cancel = gd_awscheck_cancel,
    .stop = pwp_stop,
    .free = pwp_free,
};

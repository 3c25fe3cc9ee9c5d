/* gameday: the aws.security.access_keys check: no active IAM user access
 * key older than `max_age_days` (default 90), none unused for
 * `max_unused_days` (default 90). A key never used counts as unused since
 * it was created, so a key made yesterday is not yet a finding, one made
 * four months ago and never used is (CIS's "credentials unused for N
 * days"). Inactive keys are not counted: they cannot sign anything.
 *
 * Calls: ListUsers (every page), ListAccessKeys per user (every page),
 * GetAccessKeyLastUsed per active key. The finding names user and key id
 * of each stale key; the value is how many there are. */
#define _GNU_SOURCE /* timegm */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gameday/awscheck.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct akc_ctx {
  long long max_age_days, max_unused_days;
  struct gd_awscheck chk;
};

static const char *const akc_keys[] = {"max_age_days", "max_unused_days",
                                       NULL};

static int akc_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  struct akc_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  c->max_age_days = 90;
  c->max_unused_days = 90;
  int rc;
  if ((rc = gd_json_get_int(spec, "max_age_days", path, 0, 1, 100000,
                            &c->max_age_days, err)) ||
      (rc = gd_json_get_int(spec, "max_unused_days", path, 0, 1, 100000,
                            &c->max_unused_days, err))) {
    free(c);
    return rc;
  }
  p->ctx = c;
  return 0;
}

static void akc_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct akc_ctx *c = p->ctx;
  snprintf(buf, n,
           "active iam access keys at most %lld days old, used within %lld "
           "days",
           c->max_age_days, c->max_unused_days);
}

static int akc_start(struct gd_probe *p, struct gd_error *err) {
  struct akc_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, NULL, err);
}

/* Whole days from an IAM time ("2026-01-05T10:00:00Z") to now; -1 when it
 * does not parse. */
static long long days_since(const char *iso, time_t now) {
  struct tm tm = {0};
  if (!iso || sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
                     &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  return t > now ? 0 : (long long)((now - t) / 86400);
}

static void next_user(struct gd_awscheck_run *r);
static void next_key(struct gd_awscheck_run *r);

static void on_users(struct gd_awscheck_run *r, struct gd_aws_result *res,
                     const struct gd_error *e) {
  (void)e;
  const xmlNode *root = xmlDocGetRootElement(res->xml);
  cJSON *users = cJSON_GetObjectItem(r->state, "users");
  char name[128], buf[16], marker[512];
  for (xmlNode *m = gd_aws_xml_find(root, "ListUsersResult/Users/member"); m;
       m = gd_aws_xml_next(m))
    if (gd_aws_xml_text(m, "UserName", name, sizeof name))
      cJSON_AddItemToArray(users, cJSON_CreateString(name));
  if (gd_aws_xml_text(root, "ListUsersResult/IsTruncated", buf, sizeof buf) &&
      strcmp(buf, "true") == 0 &&
      gd_aws_xml_text(root, "ListUsersResult/Marker", marker, sizeof marker) &&
      marker[0]) {
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "Marker", marker);
    gd_awscheck_call(r, "iam", "ListUsers", params, on_users);
    cJSON_Delete(params);
    return;
  }
  next_user(r);
}

static void on_keys(struct gd_awscheck_run *r, struct gd_aws_result *res,
                    const struct gd_error *e) {
  (void)e;
  const xmlNode *root = xmlDocGetRootElement(res->xml);
  cJSON *keys = cJSON_GetObjectItem(r->state, "keys");
  char user[128], id[64], status[32], created[64], buf[16], marker[512];
  user[0] = id[0] = status[0] = created[0] = 0;
  for (xmlNode *m = gd_aws_xml_find(
           root, "ListAccessKeysResult/AccessKeyMetadata/member");
       m; m = gd_aws_xml_next(m)) {
    gd_aws_xml_text(m, "UserName", user, sizeof user);
    gd_aws_xml_text(m, "AccessKeyId", id, sizeof id);
    gd_aws_xml_text(m, "Status", status, sizeof status);
    gd_aws_xml_text(m, "CreateDate", created, sizeof created);
    if (strcmp(status, "Active") != 0) continue;
    cJSON *k = cJSON_CreateObject();
    cJSON_AddStringToObject(k, "user", user);
    cJSON_AddStringToObject(k, "id", id);
    cJSON_AddStringToObject(k, "created", created);
    cJSON_AddItemToArray(keys, k);
  }
  if (gd_aws_xml_text(root, "ListAccessKeysResult/IsTruncated", buf,
                      sizeof buf) &&
      strcmp(buf, "true") == 0 &&
      gd_aws_xml_text(root, "ListAccessKeysResult/Marker", marker,
                      sizeof marker) &&
      marker[0]) {
    /* The user being listed: next_user moved "ui" past it. */
    int ui = (int)cJSON_GetObjectItem(r->state, "ui")->valuedouble;
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(
        params, "UserName",
        cJSON_GetStringValue(cJSON_GetArrayItem(
            cJSON_GetObjectItem(r->state, "users"), ui - 1)));
    cJSON_AddStringToObject(params, "Marker", marker);
    gd_awscheck_call(r, "iam", "ListAccessKeys", params, on_keys);
    cJSON_Delete(params);
    return;
  }
  next_user(r);
}

/* The next user's keys, or on to the keys' last use. */
static void next_user(struct gd_awscheck_run *r) {
  cJSON *ui = cJSON_GetObjectItem(r->state, "ui");
  int i = (int)ui->valuedouble;
  cJSON_SetNumberValue(ui, i + 1);
  cJSON *u = cJSON_GetArrayItem(cJSON_GetObjectItem(r->state, "users"), i);
  if (!u) {
    next_key(r);
    return;
  }
  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "UserName", u->valuestring);
  gd_awscheck_call(r, "iam", "ListAccessKeys", params, on_keys);
  cJSON_Delete(params);
}

/* Appends "item" to buf, "; " between, while there is room for it and for
 * a " (+N more)"; counts what did not fit. */
static void add_item(char *buf, size_t n, int *more, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_item(char *buf, size_t n, int *more, const char *fmt, ...) {
  char item[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(item, sizeof item, fmt, ap);
  va_end(ap);
  size_t k = strlen(buf);
  if (*more || k + strlen(item) + 2 + 12 >= n) {
    (*more)++;
    return;
  }
  snprintf(buf + k, n - k, "%s%s", k ? "; " : "", item);
}

static void judge(struct gd_awscheck_run *r) {
  struct akc_ctx *c = r->s->probe->ctx;
  time_t now = time(NULL);
  const cJSON *k;
  char list[120] = "";
  int stale = 0, more = 0, active = 0;
  cJSON_ArrayForEach(k, cJSON_GetObjectItem(r->state, "keys")) {
    active++;
    const char *user = cJSON_GetStringValue(cJSON_GetObjectItem(k, "user"));
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(k, "id"));
    long long age = days_since(
        cJSON_GetStringValue(cJSON_GetObjectItem(k, "created")), now);
    const char *last = cJSON_GetStringValue(cJSON_GetObjectItem(k, "last"));
    long long unused = last ? days_since(last, now) : age;
    int old = age > c->max_age_days;
    int idle = unused > c->max_unused_days;
    if (!old && !idle) continue;
    stale++;
    if (old && idle && last)
      add_item(list, sizeof list, &more, "%s %s %lldd old, unused %lldd",
               user, id, age, unused);
    else if (old && idle)
      add_item(list, sizeof list, &more, "%s %s %lldd old, never used", user,
               id, age);
    else if (old)
      add_item(list, sizeof list, &more, "%s %s %lldd old", user, id, age);
    else if (last)
      add_item(list, sizeof list, &more, "%s %s unused %lldd", user, id,
               unused);
    else
      add_item(list, sizeof list, &more, "%s %s never used in %lldd", user,
               id, age);
  }
  gd_sample_set_value(r->s, stale);
  if (!stale) {
    gd_awscheck_finish(r, GD_SAMPLE_OK,
                       "%d active access key%s, none older than %lldd or "
                       "unused %lldd",
                       active, active == 1 ? "" : "s", c->max_age_days,
                       c->max_unused_days);
    return;
  }
  char tail[24] = "";
  if (more) snprintf(tail, sizeof tail, " (+%d more)", more);
  gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                     "%d stale access key%s (max %lldd old, %lldd unused): "
                     "%s%s",
                     stale, stale == 1 ? "" : "s", c->max_age_days,
                     c->max_unused_days, list, tail);
}

static void on_last_used(struct gd_awscheck_run *r, struct gd_aws_result *res,
                         const struct gd_error *e) {
  (void)e;
  cJSON *ki = cJSON_GetObjectItem(r->state, "ki");
  cJSON *k = cJSON_GetArrayItem(cJSON_GetObjectItem(r->state, "keys"),
                                (int)ki->valuedouble - 1);
  char last[64];
  /* No LastUsedDate: never used. */
  if (k && gd_aws_xml_text(xmlDocGetRootElement(res->xml),
                           "GetAccessKeyLastUsedResult/AccessKeyLastUsed/"
                           "LastUsedDate",
                           last, sizeof last) &&
      last[0])
    cJSON_AddStringToObject(k, "last", last);
  next_key(r);
}

static void next_key(struct gd_awscheck_run *r) {
  cJSON *ki = cJSON_GetObjectItem(r->state, "ki");
  int i = (int)ki->valuedouble;
  cJSON_SetNumberValue(ki, i + 1);
  cJSON *k = cJSON_GetArrayItem(cJSON_GetObjectItem(r->state, "keys"), i);
  if (!k) {
    judge(r);
    return;
  }
  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "AccessKeyId",
                          cJSON_GetStringValue(cJSON_GetObjectItem(k, "id")));
  gd_awscheck_call(r, "iam", "GetAccessKeyLastUsed", params, on_last_used);
  cJSON_Delete(params);
}

static int akc_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct akc_ctx *c = p->ctx;
  struct gd_awscheck_run *r;
  int rc = gd_awscheck_begin(&c->chk, s, &r, err);
  if (rc) return rc;
  if (!cJSON_AddArrayToObject(r->state, "users") ||
      !cJSON_AddArrayToObject(r->state, "keys") ||
      !cJSON_AddNumberToObject(r->state, "ui", 0) ||
      !cJSON_AddNumberToObject(r->state, "ki", 0)) {
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return 0;
  }
  gd_awscheck_call(r, "iam", "ListUsers", NULL, on_users);
  return 0;
}

static void akc_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct akc_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void akc_free(struct gd_probe *p) {
  struct akc_ctx *c = p->ctx;
  if (c) gd_awscheck_free(&c->chk);
  free(c);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_security_access_keys = {
    .type = "aws.security.access_keys",
    .keys = akc_keys,
    .init = akc_init,
    .describe = akc_describe,
    .start = akc_start,
    .sample = akc_sample,
    .cancel = gd_awscheck_cancel,
    .stop = akc_stop,
    .free = akc_free,
};

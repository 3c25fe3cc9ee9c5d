/* gameday: the aws.security.lambda_runtimes check: no Lambda function on a
 * deprecated runtime. ListFunctions (every page, Marker) in `region` (the
 * configured one when not given); a function whose Runtime's deprecation
 * date has come is a finding; one whose date is within `warn_days`
 * (default 90) is named in the detail of a pass, so it shows before it
 * fails. Container-image functions have no runtime and are not judged.
 *
 * The deprecation dates are data, not code: data/lambda-deprecated-
 * runtimes.json in the repository, from the AWS Lambda runtime
 * deprecation policy page ({"runtimes": {"python3.8": "2024-10-14", ...}}),
 * updated when AWS announces dates. The file is `runtimes_file` when
 * given; else lambda-deprecated-runtimes.json in $GAMEDAY_DATA_DIR, then
 * next to the program: BINDIR/../data, BINDIR/../share/gameday,
 * BINDIR/data. It is read at load time, so a bad file stops `gameday
 * validate`, not the check. */
#define _GNU_SOURCE /* timegm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/json.h"
#include "gameday/probe.h"

#define RUNTIMES_NAME "lambda-deprecated-runtimes.json"

struct lrt_ctx {
  char *region;
  char *file;
  cJSON *dates; /* runtime -> deprecation day (days since 1970-01-01) */
  long long warn_days;
  struct gd_awscheck chk;
};

static const char *const lrt_keys[] = {"region", "warn_days", "runtimes_file",
                                       NULL};

static void ctx_free(struct lrt_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  free(c->region);
  free(c->file);
  cJSON_Delete(c->dates);
  free(c);
}

/* "2024-10-14" -> days since the epoch; -1 when it is not such a date. */
static long long day_of(const char *s) {
  struct tm tm = {0};
  char end;
  if (!s || strlen(s) != 10 ||
      sscanf(s, "%4d-%2d-%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &end) !=
          3 ||
      tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (long long)(timegm(&tm) / 86400);
}

static void date_of(long long day, char out[16]) {
  time_t t = (time_t)(day * 86400);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 16, "%Y-%m-%d", &tm);
}

/* Where the runtimes file is, when the key does not say: malloc'd path,
 * or NULL. */
static char *find_file(void) {
  char dir[4096], path[4200];
  const char *env = getenv("GAMEDAY_DATA_DIR");
  if (env && env[0]) {
    snprintf(path, sizeof path, "%s/%s", env, RUNTIMES_NAME);
    if (access(path, R_OK) == 0) return strdup(path);
  }
  size_t n = sizeof dir;
  if (uv_exepath(dir, &n) != 0) return NULL;
  char *slash = strrchr(dir, '/');
  if (!slash) return NULL;
  *slash = 0;
  static const char *const rel[] = {"../data", "../share/gameday", "data",
                                    NULL};
  for (const char *const *r = rel; *r; r++) {
    snprintf(path, sizeof path, "%s/%s/%s", dir, *r, RUNTIMES_NAME);
    if (access(path, R_OK) == 0) return strdup(path);
  }
  return NULL;
}

static int load_dates(struct lrt_ctx *c, const char *path,
                      struct gd_error *err) {
  cJSON *doc = NULL;
  int rc = gd_json_parse_file(c->file, 1u << 20, &doc, err);
  if (rc) return gd_error_set(err, rc, "%s.runtimes_file: %s", path, err->msg);
  const cJSON *rt = cJSON_GetObjectItemCaseSensitive(doc, "runtimes"), *it;
  if (!cJSON_IsObject(rt)) {
    cJSON_Delete(doc);
    return gd_error_set(err, GD_EINVAL,
                        "%s.runtimes_file: '%s' has no \"runtimes\" object",
                        path, c->file);
  }
  if (!(c->dates = cJSON_CreateObject())) {
    cJSON_Delete(doc);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  cJSON_ArrayForEach(it, rt) {
    long long d = day_of(cJSON_GetStringValue(it));
    if (d < 0) {
      rc = gd_error_set(err, GD_EINVAL,
                        "%s.runtimes_file: '%s': runtimes.%s: expected a "
                        "date YYYY-MM-DD",
                        path, c->file, it->string);
      cJSON_Delete(doc);
      return rc;
    }
    cJSON_AddNumberToObject(c->dates, it->string, (double)d);
  }
  cJSON_Delete(doc);
  return 0;
}

static int lrt_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  struct lrt_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *file = NULL;
  c->warn_days = 90;
  int rc;
  if ((rc = gd_awskind_region_parse(spec, path, &c->region, err)) ||
      (rc = gd_json_get_int(spec, "warn_days", path, 0, 0, 3650,
                            &c->warn_days, err)) ||
      (rc = gd_json_get_string(spec, "runtimes_file", path, 0, &file, err))) {
    ctx_free(c);
    return rc;
  }
  c->file = file ? strdup(file) : find_file();
  if (!c->file) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL,
                        "%s: cannot find " RUNTIMES_NAME
                        " (set runtimes_file, or GAMEDAY_DATA_DIR to the "
                        "repository's data directory)",
                        path);
  }
  if ((rc = load_dates(c, path, err))) {
    ctx_free(c);
    return rc;
  }
  p->ctx = c;
  return 0;
}

static void lrt_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct lrt_ctx *c = p->ctx;
  snprintf(buf, n,
           "no lambda function on a deprecated runtime (%d dated runtimes "
           "from '%s'; warn %lld days ahead)",
           cJSON_GetArraySize(c->dates), c->file, c->warn_days);
}

static int lrt_start(struct gd_probe *p, struct gd_error *err) {
  struct lrt_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, c->region, err);
}

static void add_item(char *buf, size_t n, const char *item, int *more) {
  size_t k = strlen(buf);
  if (*more || k + strlen(item) + 2 + 12 >= n) {
    (*more)++;
    return;
  }
  snprintf(buf + k, n - k, "%s%s", k ? ", " : "", item);
}

static void judge(struct gd_awscheck_run *r) {
  struct lrt_ctx *c = r->s->probe->ctx;
  long long today = (long long)(time(NULL) / 86400);
  const cJSON *f;
  char bad[112] = "", soon[112] = "", item[200], when[16];
  int nbad = 0, nsoon = 0, more_bad = 0, more_soon = 0, total = 0;
  cJSON_ArrayForEach(f, cJSON_GetObjectItem(r->state, "functions")) {
    total++;
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(f, "name"));
    const char *rt = cJSON_GetStringValue(cJSON_GetObjectItem(f, "runtime"));
    const cJSON *d = rt ? cJSON_GetObjectItemCaseSensitive(c->dates, rt)
                        : NULL;
    if (!d) continue;
    long long day = (long long)d->valuedouble;
    date_of(day, when);
    if (day <= today) {
      nbad++;
      snprintf(item, sizeof item, "%s (%s since %s)", name, rt, when);
      add_item(bad, sizeof bad, item, &more_bad);
    } else if (day - today <= c->warn_days) {
      nsoon++;
      snprintf(item, sizeof item, "%s (%s on %s)", name, rt, when);
      add_item(soon, sizeof soon, item, &more_soon);
    }
  }
  gd_sample_set_value(r->s, nbad);
  char tb[24] = "", ts[24] = "";
  if (more_bad) snprintf(tb, sizeof tb, " (+%d more)", more_bad);
  if (more_soon) snprintf(ts, sizeof ts, " (+%d more)", more_soon);
  if (nbad && nsoon)
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "%d of %d functions on deprecated runtimes: %s%s; "
                       "%d more within %lldd",
                       nbad, total, bad, tb, nsoon, c->warn_days);
  else if (nbad)
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "%d of %d function%s on deprecated runtimes: %s%s",
                       nbad, total, total == 1 ? "" : "s", bad, tb);
  else if (nsoon)
    gd_awscheck_finish(r, GD_SAMPLE_OK,
                       "%d function%s; runtime deprecated within %lldd: "
                       "%s%s",
                       total, total == 1 ? "" : "s", c->warn_days, soon, ts);
  else
    gd_awscheck_finish(r, GD_SAMPLE_OK,
                       "%d function%s, none on a deprecated runtime", total,
                       total == 1 ? "" : "s");
}

static cJSON *list_params(const char *marker) {
  cJSON *p = cJSON_CreateObject(), *q;
  if (!p || !cJSON_AddStringToObject(p, "_path", "/2015-03-31/functions/") ||
      !(q = cJSON_AddObjectToObject(p, "_query")) ||
      !cJSON_AddNumberToObject(q, "MaxItems", 50) ||
      (marker && !cJSON_AddStringToObject(q, "Marker", marker))) {
    cJSON_Delete(p);
    return NULL;
  }
  return p;
}

static void on_functions(struct gd_awscheck_run *r, struct gd_aws_result *res,
                         const struct gd_error *e) {
  (void)e;
  cJSON *fns = cJSON_GetObjectItem(r->state, "functions");
  const cJSON *f;
  cJSON_ArrayForEach(f, cJSON_GetObjectItem(res->json, "Functions")) {
    const char *name =
        cJSON_GetStringValue(cJSON_GetObjectItem(f, "FunctionName"));
    const char *rt = cJSON_GetStringValue(cJSON_GetObjectItem(f, "Runtime"));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name ? name : "?");
    if (rt) cJSON_AddStringToObject(o, "runtime", rt);
    cJSON_AddItemToArray(fns, o);
  }
  const char *next =
      cJSON_GetStringValue(cJSON_GetObjectItem(res->json, "NextMarker"));
  if (next && next[0]) {
    cJSON *params = list_params(next);
    if (!params) {
      gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
      return;
    }
    gd_awscheck_call(r, "lambda", "ListFunctions", params, on_functions);
    cJSON_Delete(params);
    return;
  }
  judge(r);
}

static int lrt_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct lrt_ctx *c = p->ctx;
  struct gd_awscheck_run *r;
  int rc = gd_awscheck_begin(&c->chk, s, &r, err);
  if (rc) return rc;
  cJSON *params = list_params(NULL);
  if (!params || !cJSON_AddArrayToObject(r->state, "functions")) {
    cJSON_Delete(params);
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return 0;
  }
  gd_awscheck_call(r, "lambda", "ListFunctions", params, on_functions);
  cJSON_Delete(params);
  return 0;
}

static void lrt_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct lrt_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void lrt_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_security_lambda_runtimes = {
    .type = "aws.security.lambda_runtimes",
    .keys = lrt_keys,
    .init = lrt_init,
    .describe = lrt_describe,
    .start = lrt_start,
    .sample = lrt_sample,
    .cancel = gd_awscheck_cancel,
    .stop = lrt_stop,
    .free = lrt_free,
};

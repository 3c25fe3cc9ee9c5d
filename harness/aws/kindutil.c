/* gameday: the keys and the client shared by the AWS kinds (awskind.h). */
#define _GNU_SOURCE /* strndup */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "gameday/awskind.h"
#include "gameday/json.h"

/* "sqs.eu-west-1.amazonaws.com" or "eu-west-1.queue.amazonaws.com" (and
 * the .com.cn domains) name the queue's region; anything else (a local
 * endpoint, a VPC endpoint name) says nothing. */
static char *region_from_host(const char *host) {
  const char *start = NULL;
  size_t len = 0;
  if (strncasecmp(host, "sqs.", 4) == 0) {
    start = host + 4;
    len = strcspn(start, ".");
    if (!strstr(start + len, ".amazonaws.com")) return NULL;
  } else {
    const char *q = strstr(host, ".queue.amazonaws.com");
    if (!q || strchr(host, '.') != q) return NULL;
    start = host;
    len = (size_t)(q - host);
  }
  if (len == 0 || len > 40) return NULL;
  char *r = strndup(start, len);
  return r;
}

int gd_awskind_sqs_parse(struct gd_awskind_sqs *q, const cJSON *spec,
                         const char *path, struct gd_error *err) {
  memset(q, 0, sizeof *q);
  const char *url = NULL, *region = NULL;
  int rc;
  if ((rc = gd_json_get_string(spec, "queue_url", path, 1, &url, err)) ||
      (rc = gd_json_get_string(spec, "region", path, 0, &region, err)))
    return rc;
  if (region && !region[0])
    return gd_error_set(err, GD_EINVAL, "%s.region: must not be empty", path);
  CURLU *u = curl_url();
  if (!u) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  char *scheme = NULL, *host = NULL, *upath = NULL;
  rc = 0;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_PATH, &upath, 0) != CURLUE_OK ||
      (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
      strlen(upath) < 2) {
    rc = gd_error_set(err, GD_EINVAL,
                      "%s.queue_url: not a queue url '%s' (expected "
                      "https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
                      path, url);
    goto out;
  }
  q->queue_url = strdup(url);
  q->region = region ? strdup(region) : region_from_host(host);
  if (!q->queue_url || (region && !q->region)) {
    rc = gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    gd_awskind_sqs_free(q);
  }
out:
  curl_free(scheme);
  curl_free(host);
  curl_free(upath);
  curl_url_cleanup(u);
  return rc;
}

void gd_awskind_sqs_free(struct gd_awskind_sqs *q) {
  free(q->queue_url);
  free(q->region);
  q->queue_url = q->region = NULL;
}

int gd_awskind_client_region(uv_loop_t *loop, struct gd_curl *curl,
                             const char *region,
                             const struct gd_aws_options *opts,
                             const char *path, struct gd_aws **out,
                             struct gd_error *err) {
  struct gd_aws_options o = {0};
  if (opts) o = *opts;
  if (region) o.region = region;
  int rc = gd_aws_new(loop, curl, &o, out, err);
  if (rc && err) {
    char m[GD_ERROR_MAX];
    snprintf(m, sizeof m, "%s", err->msg);
    gd_error_set(err, rc, "%s: %s", path, m);
  }
  return rc;
}

int gd_awskind_client(uv_loop_t *loop, struct gd_curl *curl,
                      const struct gd_awskind_sqs *q,
                      const struct gd_aws_options *opts, const char *path,
                      struct gd_aws **out, struct gd_error *err) {
  return gd_awskind_client_region(loop, curl, q->region, opts, path, out, err);
}

int gd_awskind_region_parse(const cJSON *spec, const char *path, char **out,
                            struct gd_error *err) {
  const char *region = NULL;
  *out = NULL;
  int rc = gd_json_get_string(spec, "region", path, 0, &region, err);
  if (rc || !region) return rc;
  if (!region[0])
    return gd_error_set(err, GD_EINVAL, "%s.region: must not be empty", path);
  if (!(*out = strdup(region)))
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Selection */

static const char *const mode_names[] = {"random", "first", "all"};
static const char *const select_keys[] = {"mode", "count", "percent", NULL};

int gd_awskind_select_parse(struct gd_awskind_select *s, const cJSON *spec,
                            const char *path, enum gd_awskind_mode def_mode,
                            struct gd_error *err) {
  char sub[256];
  const cJSON *sel = NULL;
  memset(s, 0, sizeof *s);
  s->mode = def_mode;
  s->count = def_mode == GD_AWSKIND_ALL ? 0 : 1;
  int r = gd_json_get_object(spec, "select", path, 0, &sel, err);
  if (r || !sel) return r;
  s->given = 1;
  gd_json_path(sub, sizeof sub, path, "select");
  if ((r = gd_json_check_keys(sel, sub, select_keys, NULL, err))) return r;
  const char *mode = NULL;
  if ((r = gd_json_get_string(sel, "mode", sub, 0, &mode, err))) return r;
  s->mode = GD_AWSKIND_RANDOM;
  if (mode) {
    size_t i;
    for (i = 0; i < 3; i++)
      if (strcmp(mode, mode_names[i]) == 0) break;
    if (i == 3)
      return gd_error_set(err, GD_EINVAL,
                          "%s.mode: unknown mode '%s' (random, first or all)",
                          sub, mode);
    s->mode = (enum gd_awskind_mode)i;
  }
  int has_count = cJSON_GetObjectItemCaseSensitive(sel, "count") != NULL;
  int has_percent = cJSON_GetObjectItemCaseSensitive(sel, "percent") != NULL;
  if (s->mode == GD_AWSKIND_ALL && (has_count || has_percent))
    return gd_error_set(err, GD_EINVAL,
                        "%s: mode 'all' takes neither count nor percent", sub);
  if (has_count && has_percent)
    return gd_error_set(err, GD_EINVAL, "%s: give count or percent, not both",
                        sub);
  s->count = s->mode == GD_AWSKIND_ALL ? 0 : 1;
  if (has_count &&
      (r = gd_json_get_int(sel, "count", sub, 1, 1, 1000000, &s->count, err)))
    return r;
  if (has_percent) {
    if ((r = gd_json_get_double(sel, "percent", sub, 1, 0.001, 100,
                                &s->percent, err)))
      return r;
    s->count = 0;
  }
  return 0;
}

void gd_awskind_select_describe(const struct gd_awskind_select *s, char *buf,
                                size_t n) {
  const char *how = s->mode == GD_AWSKIND_FIRST ? "first " : "";
  const char *rnd = s->mode == GD_AWSKIND_RANDOM ? " at random" : "";
  if (s->mode == GD_AWSKIND_ALL)
    snprintf(buf, n, "all");
  else if (s->count)
    snprintf(buf, n, "%s%lld%s", how, s->count, rnd);
  else
    snprintf(buf, n, "%s%g%%%s", how, s->percent, rnd);
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, n), without modulo bias. */
static size_t below(uint64_t *s, size_t n) {
  uint64_t lim = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = splitmix64(s);
  while (v >= lim);
  return (size_t)(v % n);
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

int gd_awskind_select(const struct gd_awskind_select *s, size_t n, size_t cap,
                      int explicit_list, const char *path, size_t *out,
                      size_t *k, size_t *cut, struct gd_error *err) {
  *k = 0;
  *cut = 0;
  /* By number: the number asked for is what must fit, whatever is found
   * at run time, so the refusal does not depend on the fleet's size. */
  if (s->mode != GD_AWSKIND_ALL && s->count && (unsigned long long)s->count > cap)
    return gd_error_set(err, GD_EPERM,
                        "%s: select.count %lld is more than the scenario "
                        "allows (safety.max_targets %zu)",
                        path, s->count, cap);
  if (explicit_list && s->mode == GD_AWSKIND_ALL && n > cap)
    return gd_error_set(err, GD_EPERM,
                        "%s: %zu targets listed, more than the scenario "
                        "allows (safety.max_targets %zu)",
                        path, n, cap);
  if (n == 0) return 0;
  size_t want;
  if (s->mode == GD_AWSKIND_ALL)
    want = n;
  else if (s->count)
    want = (unsigned long long)s->count < n ? (size_t)s->count : n;
  else {
    want = (size_t)ceil(s->percent * (double)n / 100.0 - 1e-9);
    if (want < 1) want = 1;
    if (want > n) want = n;
  }
  if (want > cap) {
    *cut = want;
    want = cap;
  }
  for (size_t i = 0; i < n; i++) out[i] = i;
  if (s->mode == GD_AWSKIND_RANDOM && want < n) {
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
      seed = uv_hrtime() ^ ((uint64_t)getpid() << 32);
    /* partial Fisher-Yates: the first `want` are a uniform sample */
    for (size_t i = 0; i < want; i++) {
      size_t j = i + below(&seed, n - i);
      size_t t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    qsort(out, want, sizeof *out, cmp_size);
  }
  *k = want;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Probes */

enum gd_sample_class gd_awskind_sample_class(const struct gd_aws_result *res,
                                             const struct gd_error *e) {
  if (e->code == GD_ETIMEDOUT || e->code == GD_ECANCELED)
    return GD_SAMPLE_TIMEOUT;
  if (res->aws_code[0]) return GD_SAMPLE_ERROR;
  if (res->status >= 200 && res->status <= 299) return GD_SAMPLE_PROTOCOL;
  if (res->status) return GD_SAMPLE_STATUS;
  /* The client keeps no errno; its message is all there is to go on. */
  if (strcasestr(e->msg, "refused")) return GD_SAMPLE_REFUSED;
  return GD_SAMPLE_CONNECT;
}

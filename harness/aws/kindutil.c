/* gameday: the keys and the client shared by the AWS kinds (awskind.h). */
#define _GNU_SOURCE /* strndup */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

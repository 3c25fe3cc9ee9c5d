/* gameday: an HTTP request's shared keys and its CURL easy setup, for every
 * part that sends one over gd_curl. */
#include "gameday/httpreq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gameday/json.h"

static const char *const expect_keys[] = {"status", NULL};

void gd_httpreq_init(struct gd_httpreq *r) { memset(r, 0, sizeof *r); }

void gd_httpreq_free(struct gd_httpreq *r) {
  if (!r) return;
  free(r->url);
  free(r->method);
  free(r->body);
  curl_slist_free_all(r->headers);
  free(r->status);
  gd_httpreq_init(r);
}

/* url must parse and be http or https: a request to anything else would
 * measure something other than what the scenario says. */
static int check_url(const char *url, const char *path, struct gd_error *err) {
  CURLU *u = curl_url();
  if (!u) return gd_error_set(err, GD_ENOMEM, "%s.url: out of memory", path);
  char *scheme = NULL;
  int rc = 0;
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
  if (uc != CURLUE_OK)
    rc = gd_error_set(err, GD_EINVAL, "%s.url: invalid URL '%s': %s", path,
                      url, curl_url_strerror(uc));
  else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
           (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
    rc = gd_error_set(err, GD_EINVAL,
                      "%s.url: must be an http or https URL, got '%s'", path,
                      url);
  curl_free(scheme);
  curl_url_cleanup(u);
  return rc;
}

static int check_method(const char *m, const char *path,
                        struct gd_error *err) {
  size_t n = strlen(m);
  int ok = n > 0 && n <= 32;
  for (size_t i = 0; ok && i < n; i++)
    ok = (m[i] >= 'A' && m[i] <= 'Z') || m[i] == '-' || m[i] == '_';
  if (!ok)
    return gd_error_set(err, GD_EINVAL,
                        "%s.method: must be an uppercase HTTP method, got '%s'",
                        path, m);
  return 0;
}

static int parse_headers(struct gd_httpreq *r, const cJSON *spec,
                         const char *path, struct gd_error *err) {
  char **hv = NULL;
  int rc = gd_json_get_headers(spec, "headers", path, &hv, err);
  if (rc) return rc;
  int has_expect = 0;
  for (size_t i = 0; hv && hv[i]; i++) {
    struct curl_slist *l = curl_slist_append(r->headers, hv[i]);
    if (!l) {
      gd_strv_free(hv);
      return gd_error_set(err, GD_ENOMEM, "%s.headers: out of memory", path);
    }
    r->headers = l;
    if (strncasecmp(hv[i], "Expect:", 7) == 0) has_expect = 1;
  }
  gd_strv_free(hv);
  /* curl would send "Expect: 100-continue" with larger bodies and then wait
   * up to a second for the go-ahead, which would show up as latency. */
  if (r->body && !has_expect) {
    struct curl_slist *l = curl_slist_append(r->headers, "Expect:");
    if (!l)
      return gd_error_set(err, GD_ENOMEM, "%s.headers: out of memory", path);
    r->headers = l;
  }
  return 0;
}

int gd_httpreq_parse(struct gd_httpreq *r, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  const char *url = NULL, *method = "GET", *body = NULL;
  int rc;
  if ((rc = gd_json_get_string(spec, "url", path, 1, &url, err)) ||
      (rc = check_url(url, path, err)) ||
      (rc = gd_json_get_string(spec, "method", path, 0, &method, err)) ||
      (rc = check_method(method, path, err)) ||
      (rc = gd_json_get_string(spec, "body", path, 0, &body, err)))
    return rc;
  r->url = strdup(url);
  r->method = strdup(method);
  r->body = body ? strdup(body) : NULL;
  if (!r->url || !r->method || (body && !r->body))
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  return parse_headers(r, spec, path, err);
}

static int status_item(const cJSON *it, const char *ipath, int *out,
                       struct gd_error *err) {
  double v = 0;
  int ok = 0;
  if (cJSON_IsNumber(it)) {
    v = it->valuedouble;
    ok = 1;
  } else if (cJSON_IsString(it) && it->valuestring[0]) {
    char *end;
    errno = 0;
    v = strtod(it->valuestring, &end);
    ok = !*end && errno == 0;
  }
  if (!ok || !(v >= 100 && v <= 599) || v != (double)(int)v) {
    char *txt = cJSON_IsString(it) ? NULL : cJSON_PrintUnformatted(it);
    gd_error_set(err, GD_EINVAL,
                 "%s: must be an HTTP status from 100 to 599, got '%s'", ipath,
                 cJSON_IsString(it) ? it->valuestring : txt ? txt : "?");
    free(txt);
    return GD_EINVAL;
  }
  *out = (int)v;
  return 0;
}

static int parse_status(struct gd_httpreq *r, const cJSON *expect,
                        const char *epath, struct gd_error *err) {
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(expect, "status");
  char spath[300];
  if (!st) return 0;
  gd_json_path(spath, sizeof spath, epath, "status");
  int n = cJSON_IsArray(st) ? cJSON_GetArraySize(st) : 1;
  if (n == 0)
    return gd_error_set(err, GD_EINVAL, "%s: must not be empty", spath);
  if (!(r->status = calloc((size_t)n, sizeof *r->status)))
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", spath);
  r->nstatus = (size_t)n;
  if (!cJSON_IsArray(st)) return status_item(st, spath, r->status, err);
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, st) {
    char ipath[320];
    gd_json_index_path(ipath, sizeof ipath, spath, (size_t)i);
    int rc = status_item(it, ipath, &r->status[i++], err);
    if (rc) return rc;
  }
  return 0;
}

int gd_httpreq_parse_expect(struct gd_httpreq *r, const cJSON *spec,
                            const char *path, const char *const *more_keys,
                            const cJSON **expect, struct gd_error *err) {
  const cJSON *ex = NULL;
  char epath[256];
  *expect = NULL;
  int rc = gd_json_get_object(spec, "expect", path, 0, &ex, err);
  if (rc || !ex) return rc;
  gd_json_path(epath, sizeof epath, path, "expect");
  if ((rc = gd_json_check_keys(ex, epath, expect_keys, more_keys, err)) ||
      (rc = parse_status(r, ex, epath, err)))
    return rc;
  *expect = ex;
  return 0;
}

#define SETOPT(opt, val)                                                      \
  do {                                                                        \
    if ((cc = curl_easy_setopt(e, opt, val)) != CURLE_OK) goto fail;          \
  } while (0)

int gd_httpreq_setup(const struct gd_httpreq *r, CURL *e, long timeout_ms,
                     curl_write_callback write_cb, void *write_arg,
                     char *errbuf, const char *path, struct gd_error *err) {
  CURLcode cc;
  const char *method = r->method ? r->method : "GET";
  SETOPT(CURLOPT_URL, r->url);
  SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  if (timeout_ms > 0)
    SETOPT(CURLOPT_TIMEOUT_MS, timeout_ms + timeout_ms / 10 + 100);
  SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
  SETOPT(CURLOPT_WRITEDATA, write_arg);
  SETOPT(CURLOPT_ERRORBUFFER, errbuf);
  SETOPT(CURLOPT_USERAGENT, "gameday/" GAMEDAY_VERSION);
  if (r->headers) SETOPT(CURLOPT_HTTPHEADER, r->headers);
  /* A POST, PUT or PATCH without a body still says Content-Length: 0. */
  const char *body = r->body;
  if (!body && (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                strcmp(method, "PATCH") == 0))
    body = "";
  if (body) {
    SETOPT(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    SETOPT(CURLOPT_POSTFIELDS, body);
    if (strcmp(method, "POST") != 0) SETOPT(CURLOPT_CUSTOMREQUEST, method);
  } else if (strcmp(method, "HEAD") == 0) {
    SETOPT(CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "GET") != 0) {
    SETOPT(CURLOPT_CUSTOMREQUEST, method);
  }
  return 0;
fail:
  return gd_error_set(err, GD_EIO, "%s: curl setup failed: %s", path,
                      curl_easy_strerror(cc));
}

int gd_httpreq_status_ok(const struct gd_httpreq *r, long status) {
  if (!r->nstatus) return status >= 200 && status <= 299;
  for (size_t i = 0; i < r->nstatus; i++)
    if (status == r->status[i]) return 1;
  return 0;
}

void gd_httpreq_expected(const struct gd_httpreq *r, char *buf, size_t n) {
  size_t off = 0;
  buf[0] = 0;
  if (!r->nstatus) {
    snprintf(buf, n, "2xx");
    return;
  }
  for (size_t i = 0; i < r->nstatus && off < n; i++) {
    int w = snprintf(buf + off, n - off, "%s%d", i ? ", " : "", r->status[i]);
    if (w < 0) break;
    off += (size_t)w;
  }
}

/* Lowercases a leading capitalised word ("Empty reply" -> "empty reply") for
 * the house style, but leaves names alone ("OpenSSL", "SSL"). */
static void lower_first_word(char *m) {
  if (!(m[0] >= 'A' && m[0] <= 'Z')) return;
  for (const char *q = m + 1; *q && *q != ' '; q++)
    if (*q >= 'A' && *q <= 'Z') return;
  m[0] = (char)(m[0] - 'A' + 'a');
}

const char *gd_httpreq_strerror(char *errbuf, CURLcode rc) {
  if (!errbuf[0])
    snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
  lower_first_word(errbuf);
  return errbuf;
}

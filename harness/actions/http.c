/* gameday: the http action, one request on the shared gd_curl (a fault
 * endpoint, a control API, a rollback call). The driver owns the timeout and
 * cancels; CURLOPT_TIMEOUT_MS is only a safety net behind it. The journal
 * gets the status and the start of the body. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gameday/action.h"
#include "gameday/curl.h"
#include "gameday/json.h"

/* Enough of the answer to tell what the endpoint said, small enough for the
 * journal. */
#define DETAIL_BODY_MAX 1024

struct http_action {
  char *url;
  char *method;
  char *body;
  struct curl_slist *headers;
  int *status;          /* accepted statuses; none: any 2xx */
  size_t nstatus;
  CURL *easy;           /* while running */
  char buf[DETAIL_BODY_MAX + 1];
  size_t len;
  char errbuf[CURL_ERROR_SIZE];
};

static const char *const http_keys[] = {"url", "method", "headers", "body",
                                        "expect", NULL};
static const char *const expect_keys[] = {"status", NULL};

static void ctx_free(struct http_action *h) {
  if (!h) return;
  if (h->easy) curl_easy_cleanup(h->easy);
  free(h->url);
  free(h->method);
  free(h->body);
  curl_slist_free_all(h->headers);
  free(h->status);
  free(h);
}

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

static int parse_expect(const cJSON *spec, const char *path,
                        struct http_action *h, struct gd_error *err) {
  const cJSON *expect = NULL;
  char epath[256], spath[300];
  int rc = gd_json_get_object(spec, "expect", path, 0, &expect, err);
  if (rc || !expect) return rc;
  gd_json_path(epath, sizeof epath, path, "expect");
  if ((rc = gd_json_check_keys(expect, epath, expect_keys, NULL, err)))
    return rc;
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(expect, "status");
  if (!st) return 0;
  gd_json_path(spath, sizeof spath, epath, "status");
  int n = cJSON_IsArray(st) ? cJSON_GetArraySize(st) : 1;
  if (n == 0)
    return gd_error_set(err, GD_EINVAL, "%s: must not be empty", spath);
  if (!(h->status = calloc((size_t)n, sizeof *h->status)))
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", spath);
  h->nstatus = (size_t)n;
  if (!cJSON_IsArray(st)) return status_item(st, spath, h->status, err);
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, st) {
    char ipath[320];
    gd_json_index_path(ipath, sizeof ipath, spath, (size_t)i);
    if ((rc = status_item(it, ipath, &h->status[i++], err))) return rc;
  }
  return 0;
}

static int parse_headers(const cJSON *spec, const char *path,
                         struct http_action *h, struct gd_error *err) {
  char **hv = NULL;
  int rc = gd_json_get_headers(spec, "headers", path, &hv, err);
  if (rc) return rc;
  int has_expect = 0;
  for (size_t i = 0; hv && hv[i]; i++) {
    struct curl_slist *l = curl_slist_append(h->headers, hv[i]);
    if (!l) {
      gd_strv_free(hv);
      return gd_error_set(err, GD_ENOMEM, "%s.headers: out of memory", path);
    }
    h->headers = l;
    if (strncasecmp(hv[i], "Expect:", 7) == 0) has_expect = 1;
  }
  gd_strv_free(hv);
  /* No "Expect: 100-continue" round trip before a larger body. */
  if (h->body && !has_expect) {
    struct curl_slist *l = curl_slist_append(h->headers, "Expect:");
    if (!l)
      return gd_error_set(err, GD_ENOMEM, "%s.headers: out of memory", path);
    h->headers = l;
  }
  return 0;
}

static int http_init(struct gd_action *a, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  struct http_action *h = calloc(1, sizeof *h);
  if (!h) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *url = NULL, *method = "GET", *body = NULL;
  int rc;
  if ((rc = gd_json_get_string(spec, "url", path, 1, &url, err)) ||
      (rc = check_url(url, path, err)) ||
      (rc = gd_json_get_string(spec, "method", path, 0, &method, err)) ||
      (rc = check_method(method, path, err)) ||
      (rc = gd_json_get_string(spec, "body", path, 0, &body, err)))
    goto fail;
  h->url = strdup(url);
  h->method = strdup(method);
  h->body = body ? strdup(body) : NULL;
  if (!h->url || !h->method || (body && !h->body)) {
    rc = gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  if ((rc = parse_headers(spec, path, h, err)) ||
      (rc = parse_expect(spec, path, h, err)))
    goto fail;
  a->ctx = h;
  return 0;
fail:
  ctx_free(h);
  return rc;
}

static void http_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct http_action *h = a->ctx;
  snprintf(buf, n, "%s %s", h->method, h->url);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg) {
  struct http_action *h = arg;
  size_t total = size * nmemb;
  if (h->len < DETAIL_BODY_MAX) {
    size_t k = DETAIL_BODY_MAX - h->len;
    if (k > total) k = total;
    memcpy(h->buf + h->len, data, k);
    h->len += k;
  }
  return total;
}

/* The body as a JSON string: cut back to a UTF-8 boundary if the 1 KiB limit
 * split a character, so that the journal stays valid UTF-8. */
static cJSON *body_json(struct http_action *h) {
  size_t n = h->len;
  if (n == DETAIL_BODY_MAX) {
    size_t i = n;
    while (i > 0 && n - i < 4 && ((unsigned char)h->buf[i - 1] & 0xC0) == 0x80)
      i--;
    if (i > 0 && ((unsigned char)h->buf[i - 1] & 0x80)) {
      unsigned char lead = (unsigned char)h->buf[i - 1];
      size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (n - (i - 1) < need) n = i - 1;
    }
  }
  h->buf[n] = 0;
  return cJSON_CreateString(h->buf);
}

/* Lowercases a leading capitalised word ("Empty reply" -> "empty reply") for
 * the house style, but leaves names alone ("OpenSSL", "SSL"). */
static void lower_first_word(char *m) {
  if (!(m[0] >= 'A' && m[0] <= 'Z')) return;
  for (const char *q = m + 1; *q && *q != ' '; q++)
    if (*q >= 'A' && *q <= 'Z') return;
  m[0] = (char)(m[0] - 'A' + 'a');
}

static void on_done(CURL *easy, CURLcode rc, void *arg) {
  struct gd_action *a = arg;
  struct http_action *h = a->ctx;
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  long os = 0;
  if (rc == CURLE_COULDNT_CONNECT)
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os);
  h->easy = NULL;
  curl_easy_cleanup(easy);

  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    gd_action_done(a, 0, "cancelled");
    return;
  }
  if (rc != CURLE_OK) {
    if (os == ECONNREFUSED) {
      gd_action_done(a, 0, "connection refused");
      return;
    }
    if (!h->errbuf[0])
      snprintf(h->errbuf, sizeof h->errbuf, "%s", curl_easy_strerror(rc));
    lower_first_word(h->errbuf);
    gd_action_done(a, 0, "%s", h->errbuf);
    return;
  }
  cJSON *d = cJSON_CreateObject();
  if (d && (!cJSON_AddNumberToObject(d, "status", (double)status) ||
            !cJSON_AddItemToObject(d, "body", body_json(h)))) {
    cJSON_Delete(d);
    d = NULL;
  }
  cJSON_Delete(a->detail);
  a->detail = d;
  int ok = 0;
  if (!h->nstatus) ok = status >= 200 && status <= 299;
  for (size_t i = 0; i < h->nstatus && !ok; i++) ok = status == h->status[i];
  if (ok) {
    gd_action_done(a, 1, "HTTP %ld", status);
    return;
  }
  char exp[128] = "2xx";
  size_t off = 0;
  for (size_t i = 0; i < h->nstatus && off < sizeof exp; i++) {
    int w = snprintf(exp + off, sizeof exp - off, "%s%d", i ? ", " : "",
                     h->status[i]);
    if (w < 0) break;
    off += (size_t)w;
  }
  gd_action_done(a, 0, "HTTP %ld (expected %s)", status, exp);
}

#define SETOPT(opt, val)                                                      \
  do {                                                                        \
    if ((cc = curl_easy_setopt(e, opt, val)) != CURLE_OK) goto fail;          \
  } while (0)

static int http_run(struct gd_action *a, struct gd_error *err) {
  struct http_action *h = a->ctx;
  CURLcode cc;
  if (h->easy) return gd_error_set(err, GD_ESTATE, "%s: already running", a->path);
  CURL *e = curl_easy_init();
  if (!e) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", a->path);
  long tmo = (long)(a->timeout_ns / 1000000);
  h->len = 0;
  h->errbuf[0] = 0;
  SETOPT(CURLOPT_URL, h->url);
  SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  if (tmo > 0) SETOPT(CURLOPT_TIMEOUT_MS, tmo + tmo / 10 + 100);
  SETOPT(CURLOPT_WRITEFUNCTION, on_write);
  SETOPT(CURLOPT_WRITEDATA, h);
  SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
  SETOPT(CURLOPT_USERAGENT, "gameday/" GAMEDAY_VERSION);
  if (h->headers) SETOPT(CURLOPT_HTTPHEADER, h->headers);
  const char *body = h->body;
  if (!body && (strcmp(h->method, "POST") == 0 ||
                strcmp(h->method, "PUT") == 0 ||
                strcmp(h->method, "PATCH") == 0))
    body = "";
  if (body) {
    SETOPT(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    SETOPT(CURLOPT_POSTFIELDS, body);
    if (strcmp(h->method, "POST") != 0)
      SETOPT(CURLOPT_CUSTOMREQUEST, h->method);
  } else if (strcmp(h->method, "HEAD") == 0) {
    SETOPT(CURLOPT_NOBODY, 1L);
  } else if (strcmp(h->method, "GET") != 0) {
    SETOPT(CURLOPT_CUSTOMREQUEST, h->method);
  }
  int rc = gd_curl_add(a->curl, e, on_done, a);
  if (rc) {
    curl_easy_cleanup(e);
    return gd_error_set(err, rc, "%s: cannot start request: %s", a->path,
                        gd_strerror(rc));
  }
  h->easy = e;
  return 0;
fail:
  curl_easy_cleanup(e);
  return gd_error_set(err, GD_EIO, "%s: curl setup failed: %s", a->path,
                      curl_easy_strerror(cc));
}

static void http_cancel(struct gd_action *a) {
  struct http_action *h = a->ctx;
  if (h->easy) gd_curl_cancel(a->curl, h->easy);
}

static void http_free(struct gd_action *a) {
  ctx_free(a->ctx);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_http = {
    .type = "http",
    .keys = http_keys,
    .init = http_init,
    .describe = http_describe,
    .run = http_run,
    .cancel = http_cancel,
    .free = http_free,
};

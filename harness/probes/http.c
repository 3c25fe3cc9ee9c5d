/* gameday: the http probe. One request per sample on the shared gd_curl; each
 * slot keeps its CURL easy between samples so that keep-alive connections
 * are reused (unless fresh_connection asks for a new one every time, which
 * is what makes DNS and connection-level failover visible). The timeout that
 * counts is the generic per-sample timer of probe.c, which cancels the
 * transfer; CURLOPT_TIMEOUT_MS is only a safety net a little behind it. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gameday/curl.h"
#include "gameday/json.h"
#include "gameday/probe.h"

/* Enough for body_contains and body_regex on health pages, and bounded. */
#define BODY_MAX (64 * 1024)

struct http_slot {
  CURL *easy;
  struct gd_sample *s;
  struct http_slot *next; /* every slot of the probe, for free */
  int busy;
  char *body;             /* BODY_MAX + 1, only when the body is matched */
  size_t len;
  char errbuf[CURL_ERROR_SIZE];
};

struct http_ctx {
  char *url;
  char *method;
  char *body;
  struct curl_slist *headers;
  int fresh;
  int tls_verify;
  char *ca_file;
  int *status;            /* accepted statuses; none: any 2xx */
  size_t nstatus;
  char *contains;
  char *regex_src;
  regex_t re;
  int has_re;
  struct http_slot *slots;
};

static const char *const http_keys[] = {
    "url", "method", "headers", "body", "fresh_connection", "tls_verify",
    "ca_file", "expect", NULL};
static const char *const expect_keys[] = {"status", "body_contains",
                                          "body_regex", NULL};

static void ctx_free(struct http_ctx *ctx) {
  if (!ctx) return;
  struct http_slot *sl;
  while ((sl = ctx->slots)) {
    ctx->slots = sl->next;
    if (sl->easy) curl_easy_cleanup(sl->easy);
    free(sl->body);
    free(sl);
  }
  free(ctx->url);
  free(ctx->method);
  free(ctx->body);
  curl_slist_free_all(ctx->headers);
  free(ctx->ca_file);
  free(ctx->status);
  free(ctx->contains);
  free(ctx->regex_src);
  if (ctx->has_re) regfree(&ctx->re);
  free(ctx);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* url must parse and be http or https: a probe of anything else would
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

static int parse_status(const cJSON *expect, const char *epath,
                        struct http_ctx *ctx, struct gd_error *err) {
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(expect, "status");
  char spath[256];
  if (!st) return 0;
  gd_json_path(spath, sizeof spath, epath, "status");
  if (!cJSON_IsArray(st)) {
    if (!(ctx->status = malloc(sizeof *ctx->status)))
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", spath);
    ctx->nstatus = 1;
    return status_item(st, spath, ctx->status, err);
  }
  int n = cJSON_GetArraySize(st);
  if (n == 0)
    return gd_error_set(err, GD_EINVAL, "%s: must not be empty", spath);
  if (!(ctx->status = calloc((size_t)n, sizeof *ctx->status)))
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", spath);
  ctx->nstatus = (size_t)n;
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, st) {
    char ipath[300];
    gd_json_index_path(ipath, sizeof ipath, spath, (size_t)i);
    int rc = status_item(it, ipath, &ctx->status[i++], err);
    if (rc) return rc;
  }
  return 0;
}

static int parse_expect(const cJSON *spec, const char *path,
                        struct http_ctx *ctx, struct gd_error *err) {
  const cJSON *expect = NULL;
  char epath[256];
  int rc = gd_json_get_object(spec, "expect", path, 0, &expect, err);
  if (rc || !expect) return rc;
  gd_json_path(epath, sizeof epath, path, "expect");
  if ((rc = gd_json_check_keys(expect, epath, expect_keys, NULL, err)))
    return rc;
  if ((rc = parse_status(expect, epath, ctx, err))) return rc;
  const char *contains = NULL, *re = NULL;
  if ((rc = gd_json_get_string(expect, "body_contains", epath, 0, &contains,
                               err)) ||
      (rc = gd_json_get_string(expect, "body_regex", epath, 0, &re, err)))
    return rc;
  if (contains && !(ctx->contains = strdup(contains)))
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", epath);
  if (re) {
    int e = regcomp(&ctx->re, re, REG_EXTENDED | REG_NOSUB);
    if (e) {
      char msg[128];
      regerror(e, &ctx->re, msg, sizeof msg);
      return gd_error_set(err, GD_EINVAL, "%s.body_regex: bad regex '%s': %s",
                          epath, re, msg);
    }
    ctx->has_re = 1;
    if (!(ctx->regex_src = strdup(re)))
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", epath);
  }
  return 0;
}

static int parse_headers(const cJSON *spec, const char *path,
                         struct http_ctx *ctx, struct gd_error *err) {
  char **hv = NULL;
  int rc = gd_json_get_headers(spec, "headers", path, &hv, err);
  if (rc) return rc;
  int has_expect = 0;
  for (size_t i = 0; hv && hv[i]; i++) {
    struct curl_slist *l = curl_slist_append(ctx->headers, hv[i]);
    if (!l) {
      gd_strv_free(hv);
      return gd_error_set(err, GD_ENOMEM, "%s.headers: out of memory", path);
    }
    ctx->headers = l;
    if (strncasecmp(hv[i], "Expect:", 7) == 0) has_expect = 1;
  }
  gd_strv_free(hv);
  /* curl would send "Expect: 100-continue" with larger bodies and then wait
   * up to a second for the go-ahead, which would show up as latency. */
  if (ctx->body && !has_expect) {
    struct curl_slist *l = curl_slist_append(ctx->headers, "Expect:");
    if (!l) return gd_error_set(err, GD_ENOMEM, "%s.headers: out of memory", path);
    ctx->headers = l;
  }
  return 0;
}

static int http_init(struct gd_probe *p, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  struct http_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *url = NULL, *method = "GET", *body = NULL, *ca = NULL;
  int rc;
  ctx->tls_verify = 1;
  if ((rc = gd_json_get_string(spec, "url", path, 1, &url, err)) ||
      (rc = check_url(url, path, err)) ||
      (rc = gd_json_get_string(spec, "method", path, 0, &method, err)) ||
      (rc = check_method(method, path, err)) ||
      (rc = gd_json_get_string(spec, "body", path, 0, &body, err)) ||
      (rc = gd_json_get_bool(spec, "fresh_connection", path, 0, &ctx->fresh,
                             err)) ||
      (rc = gd_json_get_bool(spec, "tls_verify", path, 0, &ctx->tls_verify,
                             err)) ||
      (rc = gd_json_get_string(spec, "ca_file", path, 0, &ca, err)))
    goto fail;
  if (ca && access(ca, R_OK) != 0) {
    rc = gd_error_set(err, GD_EINVAL, "%s.ca_file: cannot read '%s': %s", path,
                      ca, strerror(errno));
    goto fail;
  }
  ctx->url = strdup(url);
  ctx->method = strdup(method);
  ctx->body = dup_or_null(body);
  ctx->ca_file = dup_or_null(ca);
  if (!ctx->url || !ctx->method || (body && !ctx->body) ||
      (ca && !ctx->ca_file)) {
    rc = gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  if ((rc = parse_headers(spec, path, ctx, err)) ||
      (rc = parse_expect(spec, path, ctx, err)))
    goto fail;
  p->ctx = ctx;
  return 0;
fail:
  ctx_free(ctx);
  return rc;
}

static void format_expected(const struct http_ctx *ctx, char *buf, size_t n) {
  size_t off = 0;
  buf[0] = 0;
  if (!ctx->nstatus) {
    snprintf(buf, n, "2xx");
    return;
  }
  for (size_t i = 0; i < ctx->nstatus && off < n; i++) {
    int w = snprintf(buf + off, n - off, "%s%d", i ? ", " : "", ctx->status[i]);
    if (w < 0) break;
    off += (size_t)w;
  }
}

static void http_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct http_ctx *ctx = p->ctx;
  char exp[128];
  format_expected(ctx, exp, sizeof exp);
  int w = snprintf(buf, n, "%s %s expect %s", ctx->method, ctx->url, exp);
  size_t off = w < 0 ? n : (size_t)w;
  if (ctx->contains && off < n)
    off += (size_t)snprintf(buf + off, n - off, ", body contains '%s'",
                            ctx->contains);
  if (ctx->regex_src && off < n)
    off += (size_t)snprintf(buf + off, n - off, ", body matches '%s'",
                            ctx->regex_src);
  if (ctx->fresh && off < n)
    snprintf(buf + off, n - off, ", fresh connection");
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg) {
  struct http_slot *sl = arg;
  size_t total = size * nmemb;
  if (sl->body && sl->len < BODY_MAX) {
    size_t k = BODY_MAX - sl->len;
    if (k > total) k = total;
    memcpy(sl->body + sl->len, data, k);
    sl->len += k;
  }
  return total;
}

#define SETOPT(opt, val)                                                      \
  do {                                                                        \
    if ((cc = curl_easy_setopt(e, opt, val)) != CURLE_OK) goto fail;          \
  } while (0)

static int slot_new(struct gd_probe *p, struct http_slot **out,
                    struct gd_error *err) {
  struct http_ctx *ctx = p->ctx;
  CURLcode cc = CURLE_OUT_OF_MEMORY;
  struct http_slot *sl = calloc(1, sizeof *sl);
  if (!sl) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p->path);
  if ((ctx->contains || ctx->has_re) && !(sl->body = malloc(BODY_MAX + 1)))
    goto fail_nomem;
  CURL *e = sl->easy = curl_easy_init();
  if (!e) goto fail_nomem;
  long tmo = (long)(p->timeout_ns / 1000000);
  SETOPT(CURLOPT_URL, ctx->url);
  SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  SETOPT(CURLOPT_TIMEOUT_MS, tmo + tmo / 10 + 100);
  SETOPT(CURLOPT_WRITEFUNCTION, on_write);
  SETOPT(CURLOPT_WRITEDATA, sl);
  SETOPT(CURLOPT_ERRORBUFFER, sl->errbuf);
  SETOPT(CURLOPT_USERAGENT, "gameday/" GAMEDAY_VERSION);
  if (ctx->headers) SETOPT(CURLOPT_HTTPHEADER, ctx->headers);
  /* A POST, PUT or PATCH without a body still says Content-Length: 0. */
  const char *body = ctx->body;
  if (!body && (strcmp(ctx->method, "POST") == 0 ||
                strcmp(ctx->method, "PUT") == 0 ||
                strcmp(ctx->method, "PATCH") == 0))
    body = "";
  if (body) {
    SETOPT(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    SETOPT(CURLOPT_POSTFIELDS, body);
    if (strcmp(ctx->method, "POST") != 0)
      SETOPT(CURLOPT_CUSTOMREQUEST, ctx->method);
  } else if (strcmp(ctx->method, "HEAD") == 0) {
    SETOPT(CURLOPT_NOBODY, 1L);
  } else if (strcmp(ctx->method, "GET") != 0) {
    SETOPT(CURLOPT_CUSTOMREQUEST, ctx->method);
  }
  if (ctx->fresh) {
    SETOPT(CURLOPT_FRESH_CONNECT, 1L);
    SETOPT(CURLOPT_FORBID_REUSE, 1L);
    SETOPT(CURLOPT_DNS_CACHE_TIMEOUT, 0L);
  }
  if (!ctx->tls_verify) {
    SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (ctx->ca_file) SETOPT(CURLOPT_CAINFO, ctx->ca_file);
  sl->next = ctx->slots;
  ctx->slots = sl;
  *out = sl;
  return 0;
fail:
  gd_error_set(err, GD_EIO, "%s: curl setup failed: %s", p->path,
               curl_easy_strerror(cc));
  if (sl->easy) curl_easy_cleanup(sl->easy);
  free(sl->body);
  free(sl);
  return GD_EIO;
fail_nomem:
  if (sl->easy) curl_easy_cleanup(sl->easy);
  free(sl->body);
  free(sl);
  return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p->path);
}

/* Lowercases a leading capitalised word ("Empty reply" -> "empty reply") for
 * the house style, but leaves names alone ("OpenSSL", "SSL"). */
static void lower_first_word(char *m) {
  if (!(m[0] >= 'A' && m[0] <= 'Z')) return;
  for (const char *q = m + 1; *q && *q != ' '; q++)
    if (*q >= 'A' && *q <= 'Z') return;
  m[0] = (char)(m[0] - 'A' + 'a');
}

/* curl's own message: more precise than the code's generic text. */
static const char *curl_detail(struct http_slot *sl, CURLcode rc) {
  if (!sl->errbuf[0])
    snprintf(sl->errbuf, sizeof sl->errbuf, "%s", curl_easy_strerror(rc));
  lower_first_word(sl->errbuf);
  return sl->errbuf;
}

static enum gd_sample_class classify(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
    return GD_SAMPLE_CONNECT;
  case CURLE_OPERATION_TIMEDOUT:
    return GD_SAMPLE_TIMEOUT;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return GD_SAMPLE_DNS;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT:
  case CURLE_USE_SSL_FAILED:
    return GD_SAMPLE_TLS;
  case CURLE_GOT_NOTHING:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_HTTP3:
  case CURLE_BAD_CONTENT_ENCODING:
  case CURLE_TOO_MANY_REDIRECTS:
    return GD_SAMPLE_PROTOCOL;
  default:
    return GD_SAMPLE_ERROR;
  }
}

static void on_done(CURL *easy, CURLcode rc, void *arg) {
  struct http_slot *sl = arg;
  struct gd_sample *s = sl->s;
  struct http_ctx *ctx = s->probe->ctx;
  sl->busy = 0;
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    /* Only ever our cancel: the timeout, or the probe stopping. */
    gd_sample_done(s, GD_SAMPLE_TIMEOUT, "cancelled");
    return;
  }
  if (rc != CURLE_OK) {
    enum gd_sample_class cls = classify(rc);
    long os = 0;
    if (rc == CURLE_COULDNT_CONNECT &&
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os) == CURLE_OK &&
        os == ECONNREFUSED) {
      gd_sample_done(s, GD_SAMPLE_REFUSED, "connection refused");
      return;
    }
    gd_sample_done(s, cls, "%s", curl_detail(sl, rc));
    return;
  }
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  int ok = 0;
  if (!ctx->nstatus)
    ok = status >= 200 && status <= 299;
  for (size_t i = 0; i < ctx->nstatus && !ok; i++)
    ok = status == ctx->status[i];
  if (!ok) {
    char exp[128];
    format_expected(ctx, exp, sizeof exp);
    gd_sample_done(s, GD_SAMPLE_STATUS, "status %ld (expected %s)", status,
                   exp);
    return;
  }
  if (ctx->contains && !memmem(sl->body, sl->len, ctx->contains,
                               strlen(ctx->contains))) {
    gd_sample_done(s, GD_SAMPLE_MISMATCH, "body does not contain '%.60s'",
                   ctx->contains);
    return;
  }
  if (ctx->has_re) {
    sl->body[sl->len] = 0;
    if (regexec(&ctx->re, sl->body, 0, NULL, 0) != 0) {
      gd_sample_done(s, GD_SAMPLE_MISMATCH, "body does not match '%.60s'",
                     ctx->regex_src);
      return;
    }
  }
  gd_sample_done(s, GD_SAMPLE_OK, NULL);
}

static int http_sample(struct gd_probe *p, struct gd_sample *s,
                       struct gd_error *err) {
  struct http_slot *sl = s->data;
  int rc;
  if (!sl) {
    if ((rc = slot_new(p, &sl, err))) return rc;
    s->data = sl;
  }
  sl->s = s;
  sl->len = 0;
  sl->errbuf[0] = 0;
  if ((rc = gd_curl_add(p->curl, sl->easy, on_done, sl)))
    return gd_error_set(err, rc, "cannot start request: %s", gd_strerror(rc));
  sl->busy = 1;
  return 0;
}

static void http_cancel(struct gd_probe *p, struct gd_sample *s) {
  struct http_slot *sl = s->data;
  if (sl && sl->busy) gd_curl_cancel(p->curl, sl->easy);
}

static void http_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_http = {
    .type = "http",
    .keys = http_keys,
    .init = http_init,
    .describe = http_describe,
    .sample = http_sample,
    .cancel = http_cancel,
    .free = http_free,
};

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
#include <unistd.h>

#include "gameday/curl.h"
#include "gameday/httpreq.h"
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
  struct gd_httpreq req;
  int fresh;
  int tls_verify;
  char *ca_file;
  char *contains;
  char *regex_src;
  regex_t re;
  int has_re;
  struct http_slot *slots;
};

static const char *const http_keys[] = {
    "url", "method", "headers", "body", "fresh_connection", "tls_verify",
    "ca_file", "expect", NULL};
/* Besides expect.status. */
static const char *const expect_keys[] = {"body_contains", "body_regex", NULL};

static void ctx_free(struct http_ctx *ctx) {
  if (!ctx) return;
  struct http_slot *sl;
  while ((sl = ctx->slots)) {
    ctx->slots = sl->next;
    if (sl->easy) curl_easy_cleanup(sl->easy);
    free(sl->body);
    free(sl);
  }
  gd_httpreq_free(&ctx->req);
  free(ctx->ca_file);
  free(ctx->contains);
  free(ctx->regex_src);
  if (ctx->has_re) regfree(&ctx->re);
  free(ctx);
}

static int parse_expect(const cJSON *spec, const char *path,
                        struct http_ctx *ctx, struct gd_error *err) {
  const cJSON *expect;
  char epath[256];
  int rc = gd_httpreq_parse_expect(&ctx->req, spec, path, expect_keys, &expect,
                                   err);
  if (rc || !expect) return rc;
  gd_json_path(epath, sizeof epath, path, "expect");
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

static int http_init(struct gd_probe *p, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  struct http_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *ca = NULL;
  int rc;
  gd_httpreq_init(&ctx->req);
  ctx->tls_verify = 1;
  if ((rc = gd_httpreq_parse(&ctx->req, spec, path, err)) ||
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
  if (ca && !(ctx->ca_file = strdup(ca))) {
    rc = gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  if ((rc = parse_expect(spec, path, ctx, err))) goto fail;
  p->ctx = ctx;
  return 0;
fail:
  ctx_free(ctx);
  return rc;
}

static void http_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct http_ctx *ctx = p->ctx;
  char exp[128];
  gd_httpreq_expected(&ctx->req, exp, sizeof exp);
  int w = snprintf(buf, n, "%s %s expect %s", ctx->req.method, ctx->req.url,
                   exp);
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
  int rc;
  struct http_slot *sl = calloc(1, sizeof *sl);
  if (!sl) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p->path);
  /* The body is kept only when something reads it: an expectation, or
   * the sample's text (a capture to compare, a check's finding). */
  if ((ctx->contains || ctx->has_re || p->want_text) &&
      !(sl->body = malloc(BODY_MAX + 1)))
    goto fail_nomem;
  CURL *e = sl->easy = curl_easy_init();
  if (!e) goto fail_nomem;
  if ((rc = gd_httpreq_setup(&ctx->req, e, (long)(p->timeout_ns / 1000000),
                             on_write, sl, sl->errbuf, p->path, err)))
    goto out;
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
  rc = gd_error_set(err, GD_EIO, "%s: curl setup failed: %s", p->path,
                    curl_easy_strerror(cc));
  goto out;
fail_nomem:
  rc = gd_error_set(err, GD_ENOMEM, "%s: out of memory", p->path);
out:
  if (sl->easy) curl_easy_cleanup(sl->easy);
  free(sl->body);
  free(sl);
  return rc;
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
    gd_sample_done(s, cls, "%s", gd_httpreq_strerror(sl->errbuf, rc));
    return;
  }
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (!gd_httpreq_status_ok(&ctx->req, status)) {
    char exp[128];
    gd_httpreq_expected(&ctx->req, exp, sizeof exp);
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
  if (sl->body) gd_sample_set_text(s, sl->body, sl->len);
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

/* gameday: the http action, one request on the shared gd_curl (a fault
 * endpoint, a control API, a rollback call). The driver owns the timeout and
 * cancels; CURLOPT_TIMEOUT_MS is only a safety net behind it. The journal
 * gets the status and the start of the body. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/curl.h"
#include "gameday/httpreq.h"

/* Enough of the answer to tell what the endpoint said, small enough for the
 * journal. */
#define DETAIL_BODY_MAX 1024

struct http_action {
  struct gd_httpreq req;
  CURL *easy;           /* while running */
  char buf[DETAIL_BODY_MAX + 1];
  size_t len;
  char errbuf[CURL_ERROR_SIZE];
};

static const char *const http_keys[] = {"url", "method", "headers", "body",
                                        "expect", NULL};

static void ctx_free(struct http_action *h) {
  if (!h) return;
  if (h->easy) curl_easy_cleanup(h->easy);
  gd_httpreq_free(&h->req);
  free(h);
}

static int http_init(struct gd_action *a, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  struct http_action *h = calloc(1, sizeof *h);
  if (!h) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  gd_httpreq_init(&h->req);
  const cJSON *expect;
  int rc;
  if ((rc = gd_httpreq_parse(&h->req, spec, path, err)) ||
      (rc = gd_httpreq_parse_expect(&h->req, spec, path, NULL, &expect, err))) {
    ctx_free(h);
    return rc;
  }
  a->ctx = h;
  return 0;
}

static void http_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct http_action *h = a->ctx;
  snprintf(buf, n, "%s %s", h->req.method, h->req.url);
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
    gd_action_done(a, 0, "%s", gd_httpreq_strerror(h->errbuf, rc));
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
  if (gd_httpreq_status_ok(&h->req, status)) {
    gd_action_done(a, 1, "HTTP %ld", status);
    return;
  }
  char exp[128];
  gd_httpreq_expected(&h->req, exp, sizeof exp);
  gd_action_done(a, 0, "HTTP %ld (expected %s)", status, exp);
}

static int http_run(struct gd_action *a, struct gd_error *err) {
  struct http_action *h = a->ctx;
  if (h->easy) return gd_error_set(err, GD_ESTATE, "%s: already running", a->path);
  CURL *e = curl_easy_init();
  if (!e) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", a->path);
  h->len = 0;
  h->errbuf[0] = 0;
  int rc = gd_httpreq_setup(&h->req, e, (long)(a->timeout_ns / 1000000),
                            on_write, h, h->errbuf, a->path, err);
  if (rc) {
    curl_easy_cleanup(e);
    return rc;
  }
  if ((rc = gd_curl_add(a->curl, e, on_done, a))) {
    curl_easy_cleanup(e);
    return gd_error_set(err, rc, "%s: cannot start request: %s", a->path,
                        gd_strerror(rc));
  }
  h->easy = e;
  return 0;
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

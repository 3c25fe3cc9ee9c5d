/* gameday: one libcurl multi handle driven by the libuv loop, as in curl's
 * docs/examples/multi-uv.c, shared by the http probe, the http action and
 * the AWS client. */
#ifndef GAMEDAY_CURL_H
#define GAMEDAY_CURL_H

#include <curl/curl.h>
#include <uv.h>

#include "gameday/error.h"

struct gd_curl;

/* Called exactly once per transfer added with 0 returned: when it completes,
 * fails, or is cancelled (rc CURLE_ABORTED_BY_CALLBACK, called synchronously
 * from gd_curl_cancel). The easy handle is already removed from the multi and
 * belongs to the caller again. */
typedef void (*gd_curl_cb)(CURL *easy, CURLcode rc, void *arg);

int gd_curl_new(uv_loop_t *loop, struct gd_curl **out, struct gd_error *err);
/* gd_curl keeps its record of the transfer in the easy's CURLOPT_PRIVATE:
 * callers must not set it. Returns GD_ESTATE when closing or when easy is
 * already in flight. */
int gd_curl_add(struct gd_curl *c, CURL *easy, gd_curl_cb cb, void *arg);
void gd_curl_cancel(struct gd_curl *c, CURL *easy);
/* Number of transfers in flight. */
unsigned gd_curl_active(const struct gd_curl *c);
/* Cancels what is left, closes the uv handles, and frees c from the last
 * close callback, then calls done (may be NULL). */
void gd_curl_close(struct gd_curl *c, void (*done)(void *arg), void *arg);

#endif

/* gameday: one HTTP request as the http probe, the http action and the AWS
 * client describe it: URL, method, headers, body and the accepted statuses,
 * parsed from a scenario's keys and put on a CURL easy handle for gd_curl. */
#ifndef GAMEDAY_HTTPREQ_H
#define GAMEDAY_HTTPREQ_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stddef.h>

#include "gameday/error.h"

/* Every field is owned by the struct and freed by gd_httpreq_free, so a
 * caller that builds a request in code (not from JSON) fills them with
 * malloc'd values. */
struct gd_httpreq {
  char *url;
  char *method;               /* uppercase; setup reads NULL as GET */
  char *body;                 /* NULL: no body */
  struct curl_slist *headers; /* "Name: value" lines */
  int *status;                /* accepted statuses; none: any 2xx */
  size_t nstatus;
};

void gd_httpreq_init(struct gd_httpreq *r);
/* The keys url (required, http or https), method (default GET), body and
 * headers of the object at path. */
int gd_httpreq_parse(struct gd_httpreq *r, const cJSON *spec, const char *path,
                     struct gd_error *err);
/* The optional object spec.expect: its keys must be "status" or one of
 * more_keys (may be NULL); status (a number or an array of them) fills
 * r->status. *expect is the object, or NULL when absent, for the caller's
 * own keys. */
int gd_httpreq_parse_expect(struct gd_httpreq *r, const cJSON *spec,
                            const char *path, const char *const *more_keys,
                            const cJSON **expect, struct gd_error *err);
/* Puts r on e: URL, method and body, headers, user agent, http(s) only, no
 * signals, the response to write_cb(write_arg) and curl's message to errbuf
 * (CURL_ERROR_SIZE bytes). timeout_ms > 0 sets a safety-net timeout a little
 * behind it: the caller's own timer is the one that counts. r and errbuf
 * must outlive the transfer (curl keeps pointers to the body and headers).
 * Error: "PATH: curl setup failed: ...". */
int gd_httpreq_setup(const struct gd_httpreq *r, CURL *e, long timeout_ms,
                     curl_write_callback write_cb, void *write_arg,
                     char *errbuf, const char *path, struct gd_error *err);
/* Whether status is one r accepts. */
int gd_httpreq_status_ok(const struct gd_httpreq *r, long status);
/* What r accepts, for messages: "2xx" or "200, 204". */
void gd_httpreq_expected(const struct gd_httpreq *r, char *buf, size_t n);
/* curl's message for a failed transfer: errbuf as filled by the transfer,
 * or the generic text of rc, with a leading capitalised word lowercased for
 * the house style. Writes into errbuf and returns it. */
const char *gd_httpreq_strerror(char *errbuf, CURLcode rc);
void gd_httpreq_free(struct gd_httpreq *r);

#endif

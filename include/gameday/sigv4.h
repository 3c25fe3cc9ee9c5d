/* gameday: AWS Signature Version 4 (header-based signing).
 *
 * Pure functions: no loop, no I/O, no global state. The canonicalisation is
 * our own because libcurl 7.88's CURLOPT_AWS_SIGV4 signs unsorted queries,
 * UTF-8 paths and repeated headers differently from AWS; this one passes
 * every case of the official test suite (tests/unit/test_sigv4.c).
 *
 * Secrets (the secret key, the session token, derived keys) never appear in
 * an error message. */
#ifndef GAMEDAY_SIGV4_H
#define GAMEDAY_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "gameday/error.h"

#define GD_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/* Payload hash sentinel for S3 requests whose body is not signed. */
#define GD_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* Hex SHA-256 of the empty string: the payload hash of a bodiless request. */
#define GD_SIGV4_EMPTY_SHA256 \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum gd_sigv4_flags {
  /* S3 rules: the path is signed as sent (no dot-segment removal, no slash
   * collapsing, encoded once instead of twice), and x-amz-content-sha256 is
   * added and signed. */
  GD_SIGV4_S3 = 1 << 0,
  /* Add and sign x-amz-content-sha256 (implied by GD_SIGV4_S3). */
  GD_SIGV4_CONTENT_SHA256 = 1 << 1,
  /* Add x-amz-security-token after signing instead of signing it: the few
   * services that want it that way say so in their API reference. */
  GD_SIGV4_TOKEN_UNSIGNED = 1 << 2
};

struct gd_sigv4_header {
  const char *name;
  const char *value;
};

struct gd_sigv4_creds {
  const char *access_key;
  const char *secret_key;
  const char *session_token; /* NULL or "": none */
};

struct gd_sigv4_request {
  const char *method; /* "GET", as sent */
  /* Either target, the request target as it goes on the wire ("/a/b?x=1&y"),
   * or path (as on the wire, NULL or "" meaning "/") and query (raw, without
   * the '?'; NULL for none). Both are taken as percent-encoded wire text;
   * bytes that are not unreserved (UTF-8, spaces, '$') are encoded by the
   * signer. A '+' is a literal plus: encode spaces as %20. */
  const char *target;
  const char *path;
  const char *query;
  /* Every header to sign, in any order; names may repeat (their values are
   * joined in this order) and values may hold runs of blanks and folded
   * lines ("a\r\n  b"). Host is required. x-amz-date, x-amz-security-token
   * and x-amz-content-sha256 may be given; they must then agree with the
   * time, token and payload below, otherwise they are added (see result).
   * Authorization must not be given. */
  const struct gd_sigv4_header *headers;
  size_t nheaders;
  /* The body, or payload_hash: 64 hex digits of its SHA-256, or a sentinel
   * such as GD_SIGV4_UNSIGNED_PAYLOAD. payload_hash wins when set. */
  const void *payload;
  size_t payload_len;
  const char *payload_hash;
  const char *region;  /* "us-east-1" */
  const char *service; /* "ec2", "sqs", "s3", ... */
  /* The signing time: amz_date ("20150830T123600Z") or, when it is NULL,
   * when (broken-down UTC, as from gmtime_r). */
  const char *amz_date;
  const struct tm *when;
  unsigned flags; /* enum gd_sigv4_flags */
};

/* The signing key for one (secret, date, region, service): it is valid for
 * a day, and deriving it is four HMACs. The cache keeps a SHA-256 of the
 * secret, never the secret. One cache per thread; zero it to start. */
struct gd_sigv4_key_cache {
  int valid;
  unsigned char secret_digest[32];
  char date[9];
  char region[64];
  char service[64];
  unsigned char key[32];
};

#define GD_SIGV4_MAX_ADD 3

struct gd_sigv4_result {
  char *canonical_request;
  char *string_to_sign;
  char *signed_headers; /* "host;x-amz-date" */
  char *authorization;  /* value of the Authorization header */
  char signature[65];
  char amz_date[17];
  char payload_hash[65];
  /* Headers the caller must send besides its own and Authorization:
   * X-Amz-Date, X-Amz-Security-Token and X-Amz-Content-Sha256 when they
   * were not among the request's headers. The strings live in the result
   * (some inside the struct itself: use it in place, do not copy it). */
  struct gd_sigv4_header add[GD_SIGV4_MAX_ADD];
  size_t nadd;
  char *token_copy; /* backs the X-Amz-Security-Token value */
};

/* Signs req with creds. On success fills *out (free with
 * gd_sigv4_result_free) and returns 0; on error *out holds nothing to free
 * and err says which input is wrong. cache may be NULL. */
int gd_sigv4_sign(const struct gd_sigv4_request *req,
                  const struct gd_sigv4_creds *creds,
                  struct gd_sigv4_key_cache *cache,
                  struct gd_sigv4_result *out, struct gd_error *err);
/* Wipes the copies of the token and frees; safe on a zeroed result. */
void gd_sigv4_result_free(struct gd_sigv4_result *r);

/* The pieces, exposed for tests and for the test AWS endpoint that verifies
 * signatures. Returned strings are malloc'd; NULL means out of memory. */

/* RFC 3986 percent-encoding: every byte but A-Z a-z 0-9 - . _ ~ becomes
 * %XX (upper-case hex); '/' is kept when keep_slash. */
char *gd_sigv4_uri_encode(const char *s, size_t len, int keep_slash);
/* Removes "." and ".." segments (RFC 3986 5.2.4) and collapses runs of
 * slashes; "" becomes "/". A path that ends in a slash, "." or ".." keeps
 * one trailing slash. */
char *gd_sigv4_normalize_path(const char *path);
/* The canonical URI of a wire path: normalised and encoded again (every
 * service but S3), or, with GD_SIGV4_S3, as sent with its escapes made
 * canonical (upper-case, unreserved bytes unescaped, others escaped). */
char *gd_sigv4_canonical_uri(const char *path, unsigned flags);
/* The canonical query string of a raw query (no '?'): each name and value
 * decoded and re-encoded, pairs sorted by name then value, "a" as "a=". */
char *gd_sigv4_canonical_query(const char *query);

/* Lower-case hex SHA-256 of data into out[65]. 0 or GD_ENOMEM. */
int gd_sigv4_sha256_hex(const void *data, size_t len, char out[65]);
/* kSigning = HMAC chain over "AWS4"+secret, date (YYYYMMDD), region,
 * service, "aws4_request". 0 or GD_ENOMEM. */
int gd_sigv4_signing_key(const char *secret, const char *date,
                         const char *region, const char *service,
                         unsigned char key[32]);
/* "20150830T123600Z" from broken-down UTC into out[17]; 0 or GD_EINVAL. */
int gd_sigv4_format_date(const struct tm *when, char out[17]);

#endif

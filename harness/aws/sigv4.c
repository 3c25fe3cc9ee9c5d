/* gameday: AWS Signature Version 4, header-based.
 *
 * The rules are those of the AWS SigV4 reference and its test suite; where
 * the reference is silent (dot segments at the end of a path, a '%' not
 * followed by two hex digits) RFC 3986 decides. */
#include "gameday/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A growing string; oom is sticky so that callers check once at the end. */
struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_puts(struct sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_putc(struct sbuf *b, char c) { sb_putn(b, &c, 1); }

/* The finished string ("" when nothing was put), or NULL when out of
 * memory; the buffer is emptied either way. */
static char *sb_take(struct sbuf *b) {
  if (!b->oom && !b->p) sb_putn(b, "", 0);
  char *p = b->oom ? NULL : b->p;
  if (b->oom) free(b->p);
  memset(b, 0, sizeof *b);
  return p;
}

/* Buffers that may hold the session token or key material are wiped before
 * they go back to the allocator. */
static void free_wiped(char *s) {
  if (!s) return;
  OPENSSL_cleanse(s, strlen(s));
  free(s);
}

static int is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void sb_encode_byte(struct sbuf *b, unsigned char c, int keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  if (is_unreserved(c) || (keep_slash && c == '/')) {
    sb_putc(b, (char)c);
    return;
  }
  char e[3] = {'%', hex[c >> 4], hex[c & 15]};
  sb_putn(b, e, 3);
}

static void sb_encode(struct sbuf *b, const char *s, size_t n,
                      int keep_slash) {
  for (size_t i = 0; i < n; i++)
    sb_encode_byte(b, (unsigned char)s[i], keep_slash);
}

/* Wire text to canonical escapes: %XX is decoded and encoded again (so
 * "%7e" becomes "~" and "%e1" "%E1"), other bytes are encoded. A '/' that
 * was escaped stays escaped: it is data, not a separator. */
static void sb_recode(struct sbuf *b, const char *s, size_t n,
                      int keep_slash) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
        hexval((unsigned char)s[i + 2]) >= 0) {
      unsigned char d = (unsigned char)(hexval((unsigned char)s[i + 1]) * 16 +
                                        hexval((unsigned char)s[i + 2]));
      sb_encode_byte(b, d, 0);
      i += 2;
      continue;
    }
    sb_encode_byte(b, c, keep_slash);
  }
}

char *gd_sigv4_uri_encode(const char *s, size_t len, int keep_slash) {
  struct sbuf b = {0};
  sb_encode(&b, s, len, keep_slash);
  return sb_take(&b);
}

char *gd_sigv4_normalize_path(const char *path) {
  if (!path || !*path) return strdup("/");
  size_t n = strlen(path);
  /* Segment starts and lengths; a path of n bytes has at most n/2+1
   * non-empty segments. */
  size_t cap = n / 2 + 1;
  size_t *start = malloc(cap * sizeof *start);
  size_t *slen = malloc(cap * sizeof *slen);
  if (!start || !slen) {
    free(start);
    free(slen);
    return NULL;
  }
  size_t top = 0;
  int trailing = 0; /* whether the output ends with a slash */
  for (size_t i = 0; i < n;) {
    while (i < n && path[i] == '/') i++;
    size_t j = i;
    while (j < n && path[j] != '/') j++;
    size_t l = j - i;
    if (l == 0) {
      /* Only slashes left: the path ended with one. */
      trailing = 1;
    } else if (l == 1 && path[i] == '.') {
      trailing = 1;
    } else if (l == 2 && path[i] == '.' && path[i + 1] == '.') {
      if (top > 0) top--;
      trailing = 1;
    } else {
      start[top] = i;
      slen[top] = l;
      top++;
      trailing = j < n;
    }
    i = j;
  }
  struct sbuf b = {0};
  /* A relative path stays relative; a wire path always starts with '/'. */
  if (path[0] == '/') sb_putc(&b, '/');
  for (size_t k = 0; k < top; k++) {
    if (k) sb_putc(&b, '/');
    sb_putn(&b, path + start[k], slen[k]);
  }
  if (trailing && top > 0) sb_putc(&b, '/');
  if (!b.oom && b.len == 0) sb_putc(&b, '/');
  free(start);
  free(slen);
  return sb_take(&b);
}

char *gd_sigv4_canonical_uri(const char *path, unsigned flags) {
  if (!path || !*path) return strdup("/");
  struct sbuf b = {0};
  if (flags & GD_SIGV4_S3) {
    sb_recode(&b, path, strlen(path), 1);
    return sb_take(&b);
  }
  /* Every other service signs the wire path encoded a second time: "%20"
   * is signed as "%2520". */
  char *norm = gd_sigv4_normalize_path(path);
  if (!norm) return NULL;
  sb_encode(&b, norm, strlen(norm), 1);
  free(norm);
  return sb_take(&b);
}

struct qparam {
  char *name;
  char *value;
};

static int qparam_cmp(const void *a, const void *b) {
  const struct qparam *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->value, y->value);
}

char *gd_sigv4_canonical_query(const char *query) {
  if (!query || !*query) return strdup("");
  size_t n = strlen(query), np = 1;
  for (size_t i = 0; i < n; i++)
    if (query[i] == '&') np++;
  struct qparam *ps = calloc(np, sizeof *ps);
  if (!ps) return NULL;
  size_t k = 0;
  int oom = 0;
  for (const char *p = query; *p && !oom;) {
    const char *amp = strchr(p, '&');
    size_t l = amp ? (size_t)(amp - p) : strlen(p);
    if (l > 0) {
      const char *eq = memchr(p, '=', l);
      size_t nl = eq ? (size_t)(eq - p) : l;
      struct sbuf nb = {0}, vb = {0};
      sb_recode(&nb, p, nl, 0);
      if (eq) sb_recode(&vb, eq + 1, l - nl - 1, 0);
      ps[k].name = sb_take(&nb);
      ps[k].value = sb_take(&vb);
      if (!ps[k].name || !ps[k].value) oom = 1;
      k++;
    }
    p += l;
    if (*p == '&') p++;
  }
  struct sbuf b = {0};
  if (!oom) {
    qsort(ps, k, sizeof *ps, qparam_cmp);
    for (size_t i = 0; i < k; i++) {
      if (i) sb_putc(&b, '&');
      sb_puts(&b, ps[i].name);
      sb_putc(&b, '=');
      sb_puts(&b, ps[i].value);
    }
  }
  for (size_t i = 0; i < k; i++) {
    free(ps[i].name);
    free(ps[i].value);
  }
  free(ps);
  if (oom) {
    free(b.p);
    return NULL;
  }
  return sb_take(&b);
}

static void to_hex(const unsigned char *d, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[d[i] >> 4];
    out[2 * i + 1] = hex[d[i] & 15];
  }
  out[2 * n] = 0;
}

static int sha256(const void *data, size_t len, unsigned char md[32]) {
  unsigned int mdlen = 0;
  if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
    return GD_ENOMEM;
  return 0;
}

int gd_sigv4_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[32];
  if (sha256(data ? data : "", data ? len : 0, md) != 0) return GD_ENOMEM;
  to_hex(md, 32, out);
  return 0;
}

static int hmac(const void *key, size_t klen, const void *data, size_t dlen,
                unsigned char out[32]) {
  unsigned int olen = 0;
  if (klen > INT32_MAX) return GD_EINVAL;
  if (!HMAC(EVP_sha256(), key, (int)klen, data, dlen, out, &olen) ||
      olen != 32)
    return GD_ENOMEM;
  return 0;
}

int gd_sigv4_signing_key(const char *secret, const char *date,
                         const char *region, const char *service,
                         unsigned char key[32]) {
  size_t sl = strlen(secret);
  char *ks = malloc(sl + 5);
  if (!ks) return GD_ENOMEM;
  memcpy(ks, "AWS4", 4);
  memcpy(ks + 4, secret, sl + 1);
  unsigned char a[32], b[32];
  int rc = hmac(ks, sl + 4, date, strlen(date), a);
  if (!rc) rc = hmac(a, 32, region, strlen(region), b);
  if (!rc) rc = hmac(b, 32, service, strlen(service), a);
  if (!rc) rc = hmac(a, 32, "aws4_request", 12, key);
  OPENSSL_cleanse(ks, sl + 4);
  free(ks);
  OPENSSL_cleanse(a, sizeof a);
  OPENSSL_cleanse(b, sizeof b);
  return rc;
}

int gd_sigv4_format_date(const struct tm *t, char out[17]) {
  if (!t || t->tm_year + 1900 < 0 || t->tm_year + 1900 > 9999 ||
      t->tm_mon < 0 || t->tm_mon > 11 || t->tm_mday < 1 || t->tm_mday > 31 ||
      t->tm_hour < 0 || t->tm_hour > 23 || t->tm_min < 0 || t->tm_min > 59 ||
      t->tm_sec < 0 || t->tm_sec > 60)
    return GD_EINVAL;
  snprintf(out, 17, "%04d%02d%02dT%02d%02d%02dZ", t->tm_year + 1900,
           t->tm_mon + 1, t->tm_mday, t->tm_hour, t->tm_min, t->tm_sec);
  return 0;
}

static int valid_amz_date(const char *s) {
  if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') return 0;
  for (int i = 0; i < 15; i++)
    if (i != 8 && (s[i] < '0' || s[i] > '9')) return 0;
  return 1;
}

/* RFC 9110 token characters: header names and methods. */
static int is_tchar(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int valid_token(const char *s) {
  if (!s || !*s) return 0;
  for (; *s; s++)
    if (!is_tchar((unsigned char)*s)) return 0;
  return 1;
}

/* Region, service and access key go into the credential scope, where '/'
 * separates fields and ',' or a blank would end the header parameter. */
static int valid_scope_part(const char *s, size_t max) {
  if (!s || !*s || strlen(s) > max) return 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= 0x20 || c == 0x7f || c == '/' || c == ',' || c == ';' ||
        c == '=')
      return 0;
  }
  return 1;
}

static int valid_payload_hash(const char *h) {
  size_t n = strlen(h);
  if (n == 64) {
    size_t i = 0;
    while (i < 64 && hexval((unsigned char)h[i]) >= 0) i++;
    if (i == 64) return 1;
  }
  /* Sentinels: UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, ... */
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9') ||
          h[i] == '-'))
      return 0;
  return 1;
}

struct hdr {
  char *name;  /* lower case */
  char *value; /* trimmed, blanks collapsed, folded lines joined */
  size_t order;
};

static int hdr_cmp(const void *a, const void *b) {
  const struct hdr *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c) return c;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Trims, collapses runs of blanks and folds continuation lines into one
 * space. A line break that does not start a continuation would end the
 * header on the wire (header injection), so it is refused; so are other
 * control bytes. Values are never quoted in errors: they may hold tokens. */
static int fold_value(const char *name, const char *v, char **out,
                      struct gd_error *err) {
  struct sbuf b = {0};
  int pending = 0;
  for (size_t i = 0; v[i]; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c == '\r' && v[i + 1] != '\n') c = 0;
    if (c == '\n' && v[i + 1] != ' ' && v[i + 1] != '\t') c = 0;
    if (c == 0 || (c < 0x20 && c != '\t' && c != '\r' && c != '\n') ||
        c == 0x7f) {
      free(b.p);
      return gd_error_set(err, GD_EINVAL,
                          "sigv4: header '%s': value has a control character "
                          "or a line break that is not a continuation",
                          name);
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      pending = b.len > 0;
      continue;
    }
    if (pending) sb_putc(&b, ' ');
    pending = 0;
    sb_putc(&b, (char)c);
  }
  *out = sb_take(&b);
  return *out ? 0 : gd_error_set(err, GD_ENOMEM, "sigv4: out of memory");
}

struct hdrs {
  struct hdr *v;
  size_t n, cap;
};

static void hdrs_free(struct hdrs *h) {
  for (size_t i = 0; i < h->n; i++) {
    free(h->v[i].name);
    free_wiped(h->v[i].value);
  }
  free(h->v);
  memset(h, 0, sizeof *h);
}

static int hdrs_add(struct hdrs *h, const char *name, const char *value,
                    struct gd_error *err) {
  if (!valid_token(name))
    return gd_error_set(err, GD_EINVAL,
                        "sigv4: header[%zu]: invalid header name '%.64s'",
                        h->n, name ? name : "");
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 16;
    struct hdr *nv = realloc(h->v, cap * sizeof *nv);
    if (!nv) return gd_error_set(err, GD_ENOMEM, "sigv4: out of memory");
    h->v = nv;
    h->cap = cap;
  }
  char *lname = strdup(name);
  if (!lname) return gd_error_set(err, GD_ENOMEM, "sigv4: out of memory");
  for (char *p = lname; *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
  char *fv = NULL;
  int rc = fold_value(lname, value ? value : "", &fv, err);
  if (rc) {
    free(lname);
    return rc;
  }
  h->v[h->n].name = lname;
  h->v[h->n].value = fv;
  h->v[h->n].order = h->n;
  h->n++;
  return 0;
}

/* The value of header name, repeated ones joined with commas as they will
 * be in the canonical request; NULL when absent (or out of memory, which
 * *oom tells). The headers are sorted. */
static char *hdrs_joined(const struct hdrs *h, const char *name, int *oom) {
  struct sbuf b = {0};
  int found = 0;
  for (size_t i = 0; i < h->n; i++) {
    if (strcmp(h->v[i].name, name) != 0) continue;
    if (found) sb_putc(&b, ',');
    sb_puts(&b, h->v[i].value);
    found = 1;
  }
  if (!found) return NULL;
  char *s = sb_take(&b);
  if (!s) *oom = 1;
  return s;
}

static int check_creds(const struct gd_sigv4_creds *c, struct gd_error *err) {
  if (!c) return gd_error_set(err, GD_EINVAL, "sigv4: no credentials");
  if (!valid_scope_part(c->access_key, 128))
    return gd_error_set(err, GD_EINVAL,
                        "sigv4: credentials: invalid access key id '%.32s'",
                        c->access_key ? c->access_key : "");
  if (!c->secret_key || !*c->secret_key)
    return gd_error_set(err, GD_EINVAL, "sigv4: credentials: empty secret key");
  if (c->session_token)
    for (const char *p = c->session_token; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f)
        return gd_error_set(err, GD_EINVAL,
                            "sigv4: credentials: session token has a control "
                            "character");
  return 0;
}

static int check_request(const struct gd_sigv4_request *r,
                         struct gd_error *err) {
  if (!valid_token(r->method))
    return gd_error_set(err, GD_EINVAL, "sigv4: invalid method '%.32s'",
                        r->method ? r->method : "");
  if (!valid_scope_part(r->region, 63))
    return gd_error_set(err, GD_EINVAL, "sigv4: invalid region '%.64s'",
                        r->region ? r->region : "");
  if (!valid_scope_part(r->service, 63))
    return gd_error_set(err, GD_EINVAL, "sigv4: invalid service '%.64s'",
                        r->service ? r->service : "");
  if (r->nheaders && !r->headers)
    return gd_error_set(err, GD_EINVAL, "sigv4: %zu headers but no list",
                        r->nheaders);
  if (r->payload_len && !r->payload && !r->payload_hash)
    return gd_error_set(err, GD_EINVAL,
                        "sigv4: payload of %zu bytes but no data",
                        r->payload_len);
  const char *parts[3] = {r->target, r->path, r->query};
  const char *names[3] = {"request target", "path", "query"};
  for (int i = 0; i < 3; i++) {
    if (!parts[i]) continue;
    for (const char *p = parts[i]; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f)
        return gd_error_set(err, GD_EINVAL,
                            "sigv4: %s: control character at offset %zu",
                            names[i], (size_t)(p - parts[i]));
  }
  if (r->target && (r->path || r->query))
    return gd_error_set(err, GD_EINVAL,
                        "sigv4: give either the request target or the path "
                        "and query, not both");
  const char *path = r->target ? r->target : r->path;
  if (path && *path && *path != '/' && *path != '?')
    return gd_error_set(err, GD_EINVAL,
                        "sigv4: %s '%.64s' does not start with '/'",
                        r->target ? "request target" : "path", path);
  return 0;
}

static void result_clear(struct gd_sigv4_result *r) {
  free_wiped(r->canonical_request);
  free(r->string_to_sign);
  free(r->signed_headers);
  free(r->authorization);
  free_wiped(r->token_copy);
  OPENSSL_cleanse(r, sizeof *r);
}

void gd_sigv4_result_free(struct gd_sigv4_result *r) {
  if (r) result_clear(r);
}

/* The signing key, from the cache when it holds this (secret, date, region,
 * service). */
static int get_key(struct gd_sigv4_key_cache *cache, const char *secret,
                   const char *date, const char *region, const char *service,
                   unsigned char key[32]) {
  unsigned char digest[32];
  if (cache) {
    if (sha256(secret, strlen(secret), digest) != 0) return GD_ENOMEM;
    if (cache->valid && strcmp(cache->date, date) == 0 &&
        strcmp(cache->region, region) == 0 &&
        strcmp(cache->service, service) == 0 &&
        CRYPTO_memcmp(cache->secret_digest, digest, 32) == 0) {
      memcpy(key, cache->key, 32);
      return 0;
    }
  }
  int rc = gd_sigv4_signing_key(secret, date, region, service, key);
  if (rc) return rc;
  if (cache) {
    cache->valid = 1;
    memcpy(cache->secret_digest, digest, 32);
    snprintf(cache->date, sizeof cache->date, "%s", date);
    snprintf(cache->region, sizeof cache->region, "%s", region);
    snprintf(cache->service, sizeof cache->service, "%s", service);
    memcpy(cache->key, key, 32);
  }
  return 0;
}

static int oom(struct gd_error *err) {
  return gd_error_set(err, GD_ENOMEM, "sigv4: out of memory");
}

int gd_sigv4_sign(const struct gd_sigv4_request *req,
                  const struct gd_sigv4_creds *creds,
                  struct gd_sigv4_key_cache *cache,
                  struct gd_sigv4_result *out, struct gd_error *err) {
  if (!out) return gd_error_set(err, GD_EINVAL, "sigv4: no result");
  memset(out, 0, sizeof *out);
  if (!req) return gd_error_set(err, GD_EINVAL, "sigv4: no request");
  int rc = check_creds(creds, err);
  if (!rc) rc = check_request(req, err);
  if (rc) return rc;

  if (req->amz_date) {
    if (!valid_amz_date(req->amz_date))
      return gd_error_set(err, GD_EINVAL,
                          "sigv4: invalid date '%.32s' (want "
                          "YYYYMMDDTHHMMSSZ)",
                          req->amz_date);
    memcpy(out->amz_date, req->amz_date, 17);
  } else if (gd_sigv4_format_date(req->when, out->amz_date) != 0) {
    return gd_error_set(err, GD_EINVAL,
                        "sigv4: no signing time (amz_date or when)");
  }

  if (req->payload_hash) {
    if (!valid_payload_hash(req->payload_hash))
      return gd_error_set(err, GD_EINVAL,
                          "sigv4: invalid payload hash '%.80s'",
                          req->payload_hash);
    snprintf(out->payload_hash, sizeof out->payload_hash, "%s",
             req->payload_hash);
    /* Hex digits are signed in lower case whatever the caller wrote. */
    if (strlen(out->payload_hash) == 64)
      for (char *p = out->payload_hash; *p; p++)
        if (*p >= 'A' && *p <= 'F') *p = (char)(*p - 'A' + 'a');
  } else if (gd_sigv4_sha256_hex(req->payload, req->payload_len,
                                 out->payload_hash) != 0) {
    return oom(err);
  }

  const char *token = creds->session_token && *creds->session_token
                          ? creds->session_token
                          : NULL;
  struct hdrs h = {0};
  struct sbuf b = {0};
  char *uri = NULL, *query = NULL, *path_copy = NULL, *v = NULL;
  unsigned char key[32];
  int have_key = 0, mem = 0;

  for (size_t i = 0; i < req->nheaders && !rc; i++) {
    const char *n = req->headers[i].name;
    if (n && strcasecmp(n, "authorization") == 0)
      rc = gd_error_set(err, GD_EINVAL,
                        "sigv4: header[%zu]: 'authorization' is the "
                        "signature's own header and cannot be signed",
                        i);
    else
      rc = hdrs_add(&h, n, req->headers[i].value, err);
  }
  if (rc) goto fail;
  if (h.n > 1) qsort(h.v, h.n, sizeof *h.v, hdr_cmp);

  v = hdrs_joined(&h, "host", &mem);
  if (mem) goto nomem;
  if (!v || !*v) {
    rc = gd_error_set(err, GD_EINVAL, "sigv4: no host header");
    goto fail;
  }
  free(v);
  v = NULL;

  /* Headers the caller gave must say what is being signed; the missing ones
   * are added (and signed, but for an unsigned token). */
  size_t nh = h.n;
  v = hdrs_joined(&h, "x-amz-date", &mem);
  if (mem) goto nomem;
  if (v && strcmp(v, out->amz_date) != 0) {
    rc = gd_error_set(err, GD_EINVAL,
                      "sigv4: x-amz-date header '%.32s' differs from the "
                      "signing time '%s'",
                      v, out->amz_date);
    goto fail;
  }
  if (!v) {
    out->add[out->nadd].name = "X-Amz-Date";
    out->add[out->nadd++].value = out->amz_date;
    if ((rc = hdrs_add(&h, "x-amz-date", out->amz_date, err))) goto fail;
  }
  free(v);
  v = NULL;

  v = hdrs_joined(&h, "x-amz-content-sha256", &mem);
  if (mem) goto nomem;
  if (v && strcmp(v, out->payload_hash) != 0) {
    rc = gd_error_set(err, GD_EINVAL,
                      "sigv4: x-amz-content-sha256 header '%.80s' differs "
                      "from the payload hash '%s'",
                      v, out->payload_hash);
    goto fail;
  }
  if (!v && (req->flags & (GD_SIGV4_S3 | GD_SIGV4_CONTENT_SHA256))) {
    out->add[out->nadd].name = "X-Amz-Content-Sha256";
    out->add[out->nadd++].value = out->payload_hash;
    if ((rc = hdrs_add(&h, "x-amz-content-sha256", out->payload_hash, err)))
      goto fail;
  }
  free(v);
  v = NULL;

  v = hdrs_joined(&h, "x-amz-security-token", &mem);
  if (mem) goto nomem;
  if (v && token && strcmp(v, token) != 0) {
    rc = gd_error_set(err, GD_EINVAL,
                      "sigv4: x-amz-security-token header differs from the "
                      "session token");
    goto fail;
  }
  if (!v && token) {
    if (!(out->token_copy = strdup(token))) goto nomem;
    out->add[out->nadd].name = "X-Amz-Security-Token";
    out->add[out->nadd++].value = out->token_copy;
    if (!(req->flags & GD_SIGV4_TOKEN_UNSIGNED) &&
        (rc = hdrs_add(&h, "x-amz-security-token", token, err)))
      goto fail;
  }
  free_wiped(v);
  v = NULL;
  if (h.n != nh && h.n > 1) qsort(h.v, h.n, sizeof *h.v, hdr_cmp);

  /* Path and query. */
  const char *path = req->path, *rawq = req->query;
  if (req->target) {
    const char *q = strchr(req->target, '?');
    if (q) {
      path_copy = strndup(req->target, (size_t)(q - req->target));
      if (!path_copy) goto nomem;
      path = path_copy;
      rawq = q + 1;
    } else {
      path = req->target;
    }
  }
  uri = gd_sigv4_canonical_uri(path, req->flags);
  query = gd_sigv4_canonical_query(rawq);
  if (!uri || !query) goto nomem;

  /* Signed headers, then the canonical request. */
  for (size_t i = 0; i < h.n; i++) {
    if (i && strcmp(h.v[i].name, h.v[i - 1].name) == 0) continue;
    if (i) sb_putc(&b, ';');
    sb_puts(&b, h.v[i].name);
  }
  if (!(out->signed_headers = sb_take(&b))) goto nomem;

  sb_puts(&b, req->method);
  sb_putc(&b, '\n');
  sb_puts(&b, uri);
  sb_putc(&b, '\n');
  sb_puts(&b, query);
  sb_putc(&b, '\n');
  for (size_t i = 0; i < h.n; i++) {
    int same = i && strcmp(h.v[i].name, h.v[i - 1].name) == 0;
    if (same) {
      sb_putc(&b, ',');
    } else {
      if (i) sb_putc(&b, '\n');
      sb_puts(&b, h.v[i].name);
      sb_putc(&b, ':');
    }
    sb_puts(&b, h.v[i].value);
  }
  sb_puts(&b, "\n\n");
  sb_puts(&b, out->signed_headers);
  sb_putc(&b, '\n');
  sb_puts(&b, out->payload_hash);
  if (!(out->canonical_request = sb_take(&b))) goto nomem;

  char creq_hash[65], scope[256];
  if (gd_sigv4_sha256_hex(out->canonical_request,
                          strlen(out->canonical_request), creq_hash) != 0)
    goto nomem;
  char date[9];
  memcpy(date, out->amz_date, 8);
  date[8] = 0;
  /* Region and service are at most 63 bytes (check_request). */
  snprintf(scope, sizeof scope, "%s/%s/%s/aws4_request", date, req->region,
           req->service);
  sb_puts(&b, GD_SIGV4_ALGORITHM "\n");
  sb_puts(&b, out->amz_date);
  sb_putc(&b, '\n');
  sb_puts(&b, scope);
  sb_putc(&b, '\n');
  sb_puts(&b, creq_hash);
  if (!(out->string_to_sign = sb_take(&b))) goto nomem;

  if ((rc = get_key(cache, creds->secret_key, date, req->region,
                    req->service, key)) != 0) {
    rc = rc == GD_ENOMEM ? oom(err)
                         : gd_error_set(err, rc, "sigv4: cannot derive key");
    goto fail;
  }
  have_key = 1;
  unsigned char sig[32];
  if (hmac(key, 32, out->string_to_sign, strlen(out->string_to_sign), sig))
    goto nomem;
  to_hex(sig, 32, out->signature);

  sb_puts(&b, GD_SIGV4_ALGORITHM " Credential=");
  sb_puts(&b, creds->access_key);
  sb_putc(&b, '/');
  sb_puts(&b, scope);
  sb_puts(&b, ", SignedHeaders=");
  sb_puts(&b, out->signed_headers);
  sb_puts(&b, ", Signature=");
  sb_puts(&b, out->signature);
  if (!(out->authorization = sb_take(&b))) goto nomem;

  OPENSSL_cleanse(key, sizeof key);
  hdrs_free(&h);
  free(uri);
  free(query);
  free(path_copy);
  return 0;

nomem:
  rc = oom(err);
fail:
  if (have_key) OPENSSL_cleanse(key, sizeof key);
  free_wiped(v);
  free(b.p);
  hdrs_free(&h);
  free(uri);
  free(query);
  free(path_copy);
  result_clear(out);
  return rc;
}

/* gameday: typed, path-aware access to cJSON values (include/gameday/json.h).
 * Every error names the JSON path and quotes the bad value, because the user
 * fixing a scenario file at 2 a.m. has nothing else to go on. */
#include "gameday/json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_MAX_LEN 512

/* Appends s at *pos, truncating at n - 1. Done by hand because snprintf's
 * truncation is exactly what the compiler warns about here. */
static void put(char *buf, size_t n, size_t *pos, const char *s) {
  size_t len = strlen(s);
  if (*pos + len >= n) len = n - 1 - *pos;
  memcpy(buf + *pos, s, len);
  *pos += len;
  buf[*pos] = 0;
}

const char *gd_json_path(char *buf, size_t n, const char *parent,
                         const char *key) {
  if (!n) return buf;
  size_t pos = 0;
  buf[0] = 0;
  /* parent may be buf itself (a path grown in place). */
  if (parent && *parent) {
    if (parent != buf) put(buf, n, &pos, parent);
    else pos = strlen(buf);
    put(buf, n, &pos, ".");
  }
  put(buf, n, &pos, key ? key : "");
  return buf;
}

const char *gd_json_index_path(char *buf, size_t n, const char *parent,
                               size_t i) {
  if (!n) return buf;
  char idx[32];
  snprintf(idx, sizeof idx, "[%zu]", i);
  size_t pos = 0;
  if (parent && parent == buf)
    pos = strlen(buf);
  else {
    buf[0] = 0;
    put(buf, n, &pos, parent ? parent : "");
  }
  put(buf, n, &pos, idx);
  return buf;
}

/* "got ..." part of a message: strings quoted (and cut, so one long value
 * cannot push the path out of the fixed-size message), others by type. */
static const char *describe(const cJSON *v, char *buf, size_t n) {
  if (cJSON_IsString(v)) {
    const char *s = v->valuestring;
    if (strlen(s) > 60)
      snprintf(buf, n, "'%.57s...'", s);
    else
      snprintf(buf, n, "'%s'", s);
  } else if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d == floor(d) && fabs(d) < 9e15)
      snprintf(buf, n, "%lld", (long long)d);
    else
      snprintf(buf, n, "%g", d);
  } else if (cJSON_IsTrue(v)) {
    snprintf(buf, n, "true");
  } else if (cJSON_IsFalse(v)) {
    snprintf(buf, n, "false");
  } else if (cJSON_IsNull(v)) {
    snprintf(buf, n, "null");
  } else if (cJSON_IsArray(v)) {
    snprintf(buf, n, "an array");
  } else if (cJSON_IsObject(v)) {
    snprintf(buf, n, "an object");
  } else {
    snprintf(buf, n, "an invalid value");
  }
  return buf;
}

static int in_list(const char *key, const char *const *list) {
  if (!list) return 0;
  for (size_t i = 0; list[i]; i++)
    if (strcmp(list[i], key) == 0) return 1;
  return 0;
}

int gd_json_check_keys(const cJSON *obj, const char *path,
                       const char *const *allowed, const char *const *allowed2,
                       struct gd_error *err) {
  char d[80];
  if (!cJSON_IsObject(obj))
    return gd_error_set(err, GD_EINVAL, "%s: must be an object, got %s",
                        path && *path ? path : "(top level)",
                        describe(obj, d, sizeof d));
  for (const cJSON *c = obj->child; c; c = c->next) {
    const char *key = c->string ? c->string : "";
    /* At top level there is no parent to name, so the key is the path. */
    const char *where = path && *path ? path : key;
    if (!in_list(key, allowed) && !in_list(key, allowed2))
      return gd_error_set(err, GD_EINVAL, "%s: unknown key '%s'", where, key);
    /* cJSON keeps both copies of a repeated key and lookups see the first,
     * so a duplicate would silently discard the value the user wrote last. */
    for (const cJSON *p = obj->child; p != c; p = p->next)
      if (p->string && strcmp(p->string, key) == 0)
        return gd_error_set(err, GD_EINVAL, "%s: duplicate key '%s'", where,
                            key);
  }
  return 0;
}

/* Looks key up; on absence applies the required/optional rule. Returns 1
 * when found (*v set), 0 when absent and optional, or an error. */
static int lookup(const cJSON *obj, const char *key, const char *path,
                  int required, const cJSON **v, struct gd_error *err) {
  char p[PATH_MAX_LEN];
  const cJSON *item = cJSON_IsObject(obj)
                          ? cJSON_GetObjectItemCaseSensitive(obj, key)
                          : NULL;
  if (item) {
    *v = item;
    return 1;
  }
  if (required)
    return gd_error_set(err, GD_EINVAL, "%s: required key missing",
                        gd_json_path(p, sizeof p, path, key));
  return 0;
}

/* A number, or a string that parses whole as a finite number (so that
 * "${port}" can carry one). */
static int number_of(const cJSON *v, double *out) {
  if (cJSON_IsNumber(v)) {
    *out = v->valuedouble;
    return 1;
  }
  if (!cJSON_IsString(v)) return 0;
  const char *s = v->valuestring;
  /* strtod would accept leading blanks, hex floats, "nan" and "inf"; none of
   * those is what a scenario author means by a number. */
  if (!*s || !(s[0] == '-' || s[0] == '+' || s[0] == '.' ||
               (s[0] >= '0' && s[0] <= '9')))
    return 0;
  if (strchr(s, 'x') || strchr(s, 'X')) return 0;
  char *end;
  errno = 0;
  double d = strtod(s, &end);
  if (end == s || *end || errno == ERANGE) return 0;
  *out = d;
  return 1;
}

int gd_json_get_string(const cJSON *obj, const char *key, const char *path,
                       int required, const char **out, struct gd_error *err) {
  const cJSON *v = NULL;
  int rc = lookup(obj, key, path, required, &v, err);
  if (rc <= 0) return rc;
  if (!cJSON_IsString(v)) {
    char p[PATH_MAX_LEN], d[80];
    return gd_error_set(err, GD_EINVAL, "%s: must be a string, got %s",
                        gd_json_path(p, sizeof p, path, key),
                        describe(v, d, sizeof d));
  }
  *out = v->valuestring;
  return 0;
}

/* 2^63 as a double: the first value that does not fit a long long. */
#define LL_LIMIT 9223372036854775808.0

int gd_json_get_int(const cJSON *obj, const char *key, const char *path,
                    int required, long long min, long long max, long long *out,
                    struct gd_error *err) {
  const cJSON *v = NULL;
  int rc = lookup(obj, key, path, required, &v, err);
  if (rc <= 0) return rc;
  char p[PATH_MAX_LEN], d[80];
  gd_json_path(p, sizeof p, path, key);
  double x;
  if (!number_of(v, &x) || !isfinite(x) || x != floor(x) || x >= LL_LIMIT ||
      x < -LL_LIMIT)
    return gd_error_set(err, GD_EINVAL, "%s: must be an integer, got %s", p,
                        describe(v, d, sizeof d));
  long long n = (long long)x;
  if (n < min)
    return gd_error_set(err, GD_EINVAL, "%s: must be at least %lld, got %lld",
                        p, min, n);
  if (n > max)
    return gd_error_set(err, GD_EINVAL, "%s: must be at most %lld, got %lld",
                        p, max, n);
  *out = n;
  return 0;
}

int gd_json_get_double(const cJSON *obj, const char *key, const char *path,
                       int required, double min, double max, double *out,
                       struct gd_error *err) {
  const cJSON *v = NULL;
  int rc = lookup(obj, key, path, required, &v, err);
  if (rc <= 0) return rc;
  char p[PATH_MAX_LEN], d[80];
  gd_json_path(p, sizeof p, path, key);
  double x;
  if (!number_of(v, &x) || !isfinite(x))
    return gd_error_set(err, GD_EINVAL, "%s: must be a finite number, got %s",
                        p, describe(v, d, sizeof d));
  if (x < min)
    return gd_error_set(err, GD_EINVAL, "%s: must be at least %g, got %g", p,
                        min, x);
  if (x > max)
    return gd_error_set(err, GD_EINVAL, "%s: must be at most %g, got %g", p,
                        max, x);
  *out = x;
  return 0;
}

int gd_json_get_bool(const cJSON *obj, const char *key, const char *path,
                     int required, int *out, struct gd_error *err) {
  const cJSON *v = NULL;
  int rc = lookup(obj, key, path, required, &v, err);
  if (rc <= 0) return rc;
  if (cJSON_IsBool(v)) {
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 0;
  }
  /* Variables are strings, so "${fresh}" arrives as "true" or "false". */
  if (cJSON_IsString(v) && strcmp(v->valuestring, "true") == 0) {
    *out = 1;
    return 0;
  }
  if (cJSON_IsString(v) && strcmp(v->valuestring, "false") == 0) {
    *out = 0;
    return 0;
  }
  char p[PATH_MAX_LEN], d[80];
  return gd_error_set(err, GD_EINVAL, "%s: must be true or false, got %s",
                      gd_json_path(p, sizeof p, path, key),
                      describe(v, d, sizeof d));
}

int gd_json_get_ms(const cJSON *obj, const char *key, const char *path,
                   int required, long long min_ms, uint64_t *out_ns,
                   struct gd_error *err) {
  /* The cap keeps ms * 1e6 inside uint64_t (about 292 years). */
  long long ms = 0;
  if (min_ms < 0) min_ms = 0;
  int rc = gd_json_get_int(obj, key, path, required, min_ms,
                           (long long)(UINT64_MAX / 1000000u), &ms, err);
  if (rc) return rc;
  if (cJSON_IsObject(obj) && cJSON_GetObjectItemCaseSensitive(obj, key))
    *out_ns = (uint64_t)ms * 1000000u;
  return 0;
}

int gd_json_get_object(const cJSON *obj, const char *key, const char *path,
                       int required, const cJSON **out, struct gd_error *err) {
  const cJSON *v = NULL;
  int rc = lookup(obj, key, path, required, &v, err);
  if (rc <= 0) return rc;
  if (!cJSON_IsObject(v)) {
    char p[PATH_MAX_LEN], d[80];
    return gd_error_set(err, GD_EINVAL, "%s: must be an object, got %s",
                        gd_json_path(p, sizeof p, path, key),
                        describe(v, d, sizeof d));
  }
  *out = v;
  return 0;
}

void gd_strv_free(char **v) {
  if (!v) return;
  for (size_t i = 0; v[i]; i++) free(v[i]);
  free(v);
}

int gd_json_get_strv(const cJSON *obj, const char *key, const char *path,
                     int required, char ***out, size_t *n,
                     struct gd_error *err) {
  const cJSON *v = NULL;
  int rc = lookup(obj, key, path, required, &v, err);
  if (rc <= 0) return rc;
  char p[PATH_MAX_LEN], ip[PATH_MAX_LEN], d[80];
  gd_json_path(p, sizeof p, path, key);
  if (!cJSON_IsArray(v))
    return gd_error_set(err, GD_EINVAL,
                        "%s: must be an array of strings, got %s", p,
                        describe(v, d, sizeof d));
  size_t len = (size_t)cJSON_GetArraySize(v);
  if (len == 0 && required)
    return gd_error_set(err, GD_EINVAL, "%s: must not be empty", p);
  size_t i = 0;
  for (const cJSON *e = v->child; e; e = e->next, i++)
    if (!cJSON_IsString(e))
      return gd_error_set(err, GD_EINVAL, "%s: must be a string, got %s",
                          gd_json_index_path(ip, sizeof ip, p, i),
                          describe(e, d, sizeof d));
  char **sv = calloc(len + 1, sizeof *sv);
  if (!sv) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p);
  i = 0;
  for (const cJSON *e = v->child; e; e = e->next, i++) {
    sv[i] = strdup(e->valuestring);
    if (!sv[i]) {
      gd_strv_free(sv);
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p);
    }
  }
  *out = sv;
  if (n) *n = len;
  return 0;
}

/* RFC 9110 token characters: anything else in a name would let a value
 * smuggle a second header or break the request line. */
static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int gd_json_get_headers(const cJSON *obj, const char *key, const char *path,
                        char ***out, struct gd_error *err) {
  const cJSON *v = NULL;
  int rc = lookup(obj, key, path, 0, &v, err);
  if (rc <= 0) return rc;
  char p[PATH_MAX_LEN], hp[PATH_MAX_LEN], d[80];
  gd_json_path(p, sizeof p, path, key);
  if (!cJSON_IsObject(v))
    return gd_error_set(err, GD_EINVAL, "%s: must be an object, got %s", p,
                        describe(v, d, sizeof d));
  size_t len = 0;
  for (const cJSON *h = v->child; h; h = h->next, len++) {
    const char *name = h->string ? h->string : "";
    gd_json_path(hp, sizeof hp, p, name);
    if (!*name)
      return gd_error_set(err, GD_EINVAL, "%s: empty header name", p);
    for (const char *c = name; *c; c++)
      if (!is_tchar((unsigned char)*c))
        return gd_error_set(err, GD_EINVAL, "%s: invalid header name '%s'", p,
                            name);
    for (const cJSON *q = v->child; q != h; q = q->next)
      if (strcasecmp(q->string, name) == 0)
        return gd_error_set(err, GD_EINVAL, "%s: duplicate header '%s'", p,
                            name);
    if (!cJSON_IsString(h))
      return gd_error_set(err, GD_EINVAL, "%s: must be a string, got %s", hp,
                          describe(h, d, sizeof d));
    if (strpbrk(h->valuestring, "\r\n"))
      return gd_error_set(err, GD_EINVAL,
                          "%s: header value must not contain a line break",
                          hp);
  }
  char **sv = calloc(len + 1, sizeof *sv);
  if (!sv) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p);
  size_t i = 0;
  for (const cJSON *h = v->child; h; h = h->next, i++) {
    const char *val = h->valuestring;
    size_t sz = strlen(h->string) + strlen(val) + 3;
    sv[i] = malloc(sz);
    if (!sv[i]) {
      gd_strv_free(sv);
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p);
    }
    /* libcurl drops a header given as "Name:" with nothing after it; "Name;"
     * is its way to send one with an empty value. */
    if (*val)
      snprintf(sv[i], sz, "%s: %s", h->string, val);
    else
      snprintf(sv[i], sz, "%s;", h->string);
  }
  *out = sv;
  return 0;
}

/* ---- files ------------------------------------------------------------- */

static void line_col(const char *buf, size_t pos, size_t *line, size_t *col) {
  size_t l = 1, c = 1;
  for (size_t i = 0; i < pos; i++) {
    if (buf[i] == '\n') {
      l++;
      c = 1;
    } else {
      c++;
    }
  }
  *line = l;
  *col = c;
}

/* The structure around an offset, ignoring brackets inside strings: how
 * deep it is, the innermost open bracket, whether a string is open. cJSON
 * reports a nesting overflow, a cut-off file and a bad token alike, as one
 * offset; this is what tells them apart. */
struct scan {
  size_t depth;
  char inner;   /* '[' or '{', 0 at top level (or past a mismatch) */
  int in_str;
  int mismatch; /* a closer that did not match its opener */
};

static void scan_to(const char *buf, size_t pos, struct scan *sc) {
  /* One bit per level (1 = '{'); depth is bounded by pos. */
  size_t words = pos / 64 + 1;
  uint64_t *kind = calloc(words, sizeof *kind);
  int esc = 0;
  memset(sc, 0, sizeof *sc);
  for (size_t i = 0; i < pos; i++) {
    char c = buf[i];
    if (sc->in_str) {
      if (esc)
        esc = 0;
      else if (c == '\\')
        esc = 1;
      else if (c == '"')
        sc->in_str = 0;
    } else if (c == '"') {
      sc->in_str = 1;
    } else if (c == '[' || c == '{') {
      if (kind) {
        uint64_t bit = (uint64_t)1 << (sc->depth % 64);
        if (c == '{')
          kind[sc->depth / 64] |= bit;
        else
          kind[sc->depth / 64] &= ~bit;
      }
      sc->depth++;
    } else if (c == ']' || c == '}') {
      if (!sc->depth) {
        sc->mismatch = 1;
        continue;
      }
      sc->depth--;
      if (kind) {
        int brace = (kind[sc->depth / 64] >> (sc->depth % 64)) & 1;
        if (brace != (c == '}')) sc->mismatch = 1;
      }
    }
  }
  if (sc->depth && kind && !sc->mismatch) {
    size_t top = sc->depth - 1;
    sc->inner = ((kind[top / 64] >> (top % 64)) & 1) ? '{' : '[';
  }
  free(kind);
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A short, printable excerpt of the text at pos, up to the end of line. */
static void excerpt(const char *buf, size_t len, size_t pos, char *out,
                    size_t n) {
  size_t o = 0;
  for (size_t i = pos; i < len && i < pos + 24 && o + 5 < n; i++) {
    unsigned char c = (unsigned char)buf[i];
    if (c == '\n' || c == '\r') break;
    if (c < 0x20 || c == 0x7f)
      o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
    else
      out[o++] = (char)c;
  }
  out[o] = 0;
}

static int parse_error(const char *file, const char *buf, size_t len,
                       size_t pos, struct gd_error *err) {
  size_t line, col;
  struct scan sc;
  if (pos > len) pos = len;
  /* A file cut short: something is still open at the end and nothing wrong
   * was seen before the open string or at the reported offset. */
  scan_to(buf, len, &sc);
  if (!sc.mismatch && (sc.depth || sc.in_str) &&
      (pos >= len ||
       (sc.in_str && !memchr(buf + pos, '"', len - pos)))) {
    line_col(buf, len, &line, &col);
    return gd_error_set(err, GD_EINVAL,
                        "%s:%zu:%zu: invalid JSON: unexpected end of file",
                        file, line, col);
  }
  /* Where an object key was due, cJSON reports one past the offending
   * character; step back onto it. */
  if (pos > 0 && buf[pos - 1] != '"' && !is_space(buf[pos - 1])) {
    size_t q = pos - 1;
    while (q > 0 && is_space(buf[q - 1])) q--;
    if (q > 0 && (buf[q - 1] == '{' || buf[q - 1] == ',')) {
      scan_to(buf, pos - 1, &sc);
      if (sc.inner == '{' && !sc.in_str) pos--;
    }
  }
  /* Past the end (or on the blanks before it) means the last token. */
  if (pos >= len || is_space(buf[pos])) {
    size_t q = pos;
    while (q < len && is_space(buf[q])) q++;
    if (q >= len) {
      while (pos > 0 && (pos >= len || is_space(buf[pos]))) pos--;
    }
  }
  line_col(buf, pos, &line, &col);
  if (buf[pos] == '[' || buf[pos] == '{') {
    scan_to(buf, pos, &sc);
    if (sc.depth >= CJSON_NESTING_LIMIT)
      return gd_error_set(err, GD_EINVAL,
                          "%s:%zu:%zu: invalid JSON: nesting too deep (more "
                          "than %d levels)",
                          file, line, col, CJSON_NESTING_LIMIT);
  }
  char near[128];
  excerpt(buf, len, pos, near, sizeof near);
  return gd_error_set(err, GD_EINVAL, "%s:%zu:%zu: invalid JSON near '%s'",
                      file, line, col, near);
}

int gd_json_parse_file(const char *file, size_t max_bytes, cJSON **out,
                       struct gd_error *err) {
  *out = NULL;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return gd_error_set(err, GD_EIO, "%s: cannot open: %s", file,
                        strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return gd_error_set(err, GD_EIO, "%s: cannot stat: %s", file, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return gd_error_set(err, GD_EINVAL, "%s: not a regular file", file);
  }
  /* Checked before reading so that a huge file costs nothing. */
  if ((unsigned long long)st.st_size > (unsigned long long)max_bytes) {
    close(fd);
    return gd_error_set(err, GD_EINVAL,
                        "%s: file is %lld bytes, more than the %zu allowed",
                        file, (long long)st.st_size, max_bytes);
  }
  size_t cap = (size_t)st.st_size + 1;
  char *buf = malloc(cap);
  if (!buf) {
    close(fd);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", file);
  }
  /* Read to EOF rather than trusting st_size: the file may be growing. */
  size_t len = 0;
  for (;;) {
    if (len == cap) {
      if (cap > max_bytes) break;
      size_t ncap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
      char *nb = realloc(buf, ncap + 1);
      if (!nb) {
        free(buf);
        close(fd);
        return gd_error_set(err, GD_ENOMEM, "%s: out of memory", file);
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      free(buf);
      close(fd);
      return gd_error_set(err, GD_EIO, "%s: cannot read: %s", file,
                          strerror(e));
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  close(fd);
  if (len > max_bytes) {
    free(buf);
    return gd_error_set(err, GD_EINVAL,
                        "%s: file is more than the %zu bytes allowed", file,
                        max_bytes);
  }
  if (len == cap) {
    char *nb = realloc(buf, len + 1);
    if (!nb) {
      free(buf);
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", file);
    }
    buf = nb;
  }
  buf[len] = 0;

  size_t start = 0;
  while (start < len && strchr(" \t\r\n", buf[start])) start++;
  if (start == len) {
    free(buf);
    return gd_error_set(err, GD_EINVAL, "%s: file is empty", file);
  }
  /* cJSON would stop at a NUL and accept what came before it. */
  const char *nul = memchr(buf, 0, len);
  if (nul) {
    size_t line, col;
    line_col(buf, (size_t)(nul - buf), &line, &col);
    free(buf);
    return gd_error_set(err, GD_EINVAL, "%s:%zu:%zu: invalid JSON: NUL byte",
                        file, line, col);
  }
  /* The terminator is passed as part of the buffer: cJSON's trailing-garbage
   * check looks at it, and an error at offset len then means end of file. */
  const char *end = NULL;
  cJSON *doc = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
  if (!doc) {
    size_t pos = end && end >= buf ? (size_t)(end - buf) : 0;
    int rc = parse_error(file, buf, len, pos > len ? len : pos, err);
    free(buf);
    return rc;
  }
  free(buf);
  if (!cJSON_IsObject(doc)) {
    char d[80];
    describe(doc, d, sizeof d);
    cJSON_Delete(doc);
    return gd_error_set(err, GD_EINVAL,
                        "%s: the top level must be an object, got %s", file,
                        d);
  }
  *out = doc;
  return 0;
}

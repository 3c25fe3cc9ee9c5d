/* The SigV4 signer: every case of the official AWS test suite, one CUnit
 * test per case (canonical request, string to sign, Authorization header,
 * and the signed request where the suite's is consistent), the vectors the
 * project keeps under tests/data/sigv4, and the encoder, normaliser, header
 * and error rules the suite does not reach. */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gameday/sigv4.h"
#include "testutil.h"

/* The suite's fixed inputs (its SOURCE.md). */
#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define REGION "us-east-1"
#define SERVICE "service"
#define AMZ_DATE "20150830T123600Z"
/* get-vanilla-with-session-token has no readme: its token is the value its
 * expected canonical request carries (botocore's harness uses the same). */
#define VANILLA_TOKEN \
  "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"

#define SUITE_REL "data/aws-sig-v4-test-suite"
#define COPIED_REL "tests/data/sigv4"

/* ------------------------------------------------------------------ */
/* Test-suite files                                                    */

struct req_header {
  char *name;
  char *value; /* continuation lines kept as "\n" + the raw line */
};

struct parsed_req {
  char *method, *target;
  struct req_header *h;
  size_t nh;
  char *head;  /* request line and header lines, raw, '\n'-separated */
  char *body;  /* NULL when the request has none */
  size_t body_len;
};

static void parsed_free(struct parsed_req *p) {
  free(p->method);
  free(p->target);
  for (size_t i = 0; i < p->nh; i++) {
    free(p->h[i].name);
    free(p->h[i].value);
  }
  free(p->h);
  free(p->head);
  free(p->body);
  memset(p, 0, sizeof *p);
}

/* Drops every '\r' (some copies of the suite use CRLF) in place. */
static void strip_cr(char *s) {
  char *w = s;
  for (char *r = s; *r; r++)
    if (*r != '\r') *w++ = *r;
  *w = 0;
}

/* The expected-output files end without a newline, but an editor may add
 * one. */
static void chomp(char *s) {
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
}

/* NAME.req: "METHOD TARGET HTTP/1.1", headers ("Name:value", continuation
 * lines starting with a blank), a blank line, the body. The target may hold
 * spaces (normalize-path/get-space), so it runs to the last space. */
static int parse_req(char *text, struct parsed_req *p) {
  memset(p, 0, sizeof *p);
  strip_cr(text);
  char *nl = strchr(text, '\n');
  size_t l0 = nl ? (size_t)(nl - text) : strlen(text);
  char *line = strndup(text, l0);
  char *sp1 = strchr(line, ' '), *sp2 = strrchr(line, ' ');
  if (!sp1 || sp1 == sp2) {
    free(line);
    return -1;
  }
  p->method = strndup(line, (size_t)(sp1 - line));
  p->target = strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
  free(line);
  p->h = calloc(64, sizeof *p->h);
  const char *cur = nl ? nl + 1 : text + l0;
  const char *head_end = cur;
  while (*cur) {
    const char *e = strchr(cur, '\n');
    size_t l = e ? (size_t)(e - cur) : strlen(cur);
    if (l == 0) {
      /* Blank line: the rest is the body. */
      p->body = strdup(e + 1);
      p->body_len = strlen(p->body);
      break;
    }
    if (cur[0] == ' ' || cur[0] == '\t') {
      if (p->nh == 0) return -1;
      struct req_header *h = &p->h[p->nh - 1];
      size_t vl = strlen(h->value);
      h->value = realloc(h->value, vl + l + 2);
      h->value[vl] = '\n';
      memcpy(h->value + vl + 1, cur, l);
      h->value[vl + 1 + l] = 0;
    } else {
      const char *colon = memchr(cur, ':', l);
      if (!colon || p->nh == 64) return -1;
      p->h[p->nh].name = strndup(cur, (size_t)(colon - cur));
      p->h[p->nh].value = strndup(colon + 1, l - (size_t)(colon - cur) - 1);
      p->nh++;
    }
    head_end = cur + l;
    cur = e ? e + 1 : cur + l;
  }
  p->head = strndup(text, (size_t)(head_end - text));
  return 0;
}

struct sv_case {
  char *name; /* relative to the suite root: "normalize-path/get-slash" */
  char *dir;  /* absolute */
  char *base; /* "get-slash" */
};

struct sv_set {
  const char *root;
  CU_pSuite suite;
  struct sv_case *v;
  size_t n, cap;
};

static struct sv_set shared_set, copied_set;

static char *path_join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *s = malloc(n);
  snprintf(s, n, "%s/%s", a, b);
  return s;
}

static char *read_in(const char *dir, const char *base, const char *ext) {
  char file[4096];
  snprintf(file, sizeof file, "%s/%s%s", dir, base, ext);
  return gd_test_read_file(file);
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int only_dirs(const struct dirent *d) { return d->d_name[0] != '.'; }

/* A case is a directory D holding D/basename(D).req; others (such as
 * post-sts-token/) group cases. Sorted, so the output is stable. */
static void find_cases(struct sv_set *set, const char *dir, const char *rel) {
  struct dirent **ents;
  int n = scandir(dir, &ents, only_dirs, alphasort);
  if (n < 0) return;
  for (int i = 0; i < n; i++) {
    char *sub = path_join(dir, ents[i]->d_name);
    char *subrel = *rel ? path_join(rel, ents[i]->d_name)
                        : strdup(ents[i]->d_name);
    if (is_dir(sub)) {
      char *req = read_in(sub, ents[i]->d_name, ".req");
      if (req) {
        if (set->n == set->cap) {
          set->cap = set->cap ? set->cap * 2 : 32;
          set->v = realloc(set->v, set->cap * sizeof *set->v);
        }
        set->v[set->n].name = subrel;
        set->v[set->n].dir = sub;
        set->v[set->n].base = strdup(ents[i]->d_name);
        set->n++;
        free(req);
        sub = subrel = NULL;
      } else {
        find_cases(set, sub, subrel);
      }
    }
    free(sub);
    free(subrel);
    free(ents[i]);
  }
  free(ents);
}

static void set_free(struct sv_set *set) {
  for (size_t i = 0; i < set->n; i++) {
    free(set->v[i].name);
    free(set->v[i].dir);
    free(set->v[i].base);
  }
  free(set->v);
  memset(set, 0, sizeof *set);
}

/* The token the readme of post-sts-token/ gives: its last non-empty line. */
static char *readme_token(const char *case_dir) {
  char *parent = path_join(case_dir, "..");
  char *file = path_join(parent, "readme.txt");
  char *text = gd_test_read_file(file);
  free(parent);
  free(file);
  if (!text) return NULL;
  strip_cr(text);
  chomp(text);
  char *last = strrchr(text, '\n');
  char *tok = strdup(last ? last + 1 : text);
  free(text);
  return tok;
}

static int check_equal(const char *what, const char *got, const char *want) {
  if (got && want && strcmp(got, want) == 0) return 1;
  printf("\n      %s differs\n      --- expected\n%s\n      --- got\n%s\n",
         what, want ? want : "(missing file)", got ? got : "(none)");
  return 0;
}

/* The sreq of these cases does not follow from their own authz upstream:
 * get-vanilla-with-session-token's Authorization line is get-vanilla's. */
static int sreq_authz_is_stale(const char *base) {
  return strcmp(base, "get-vanilla-with-session-token") == 0;
}

/* Removes the line starting with prefix from s, in place. */
static void drop_line(char *s, const char *prefix) {
  for (char *l = s; l && *l;) {
    char *e = strchr(l, '\n');
    if (strncmp(l, prefix, strlen(prefix)) == 0) {
      if (e)
        memmove(l, e + 1, strlen(e + 1) + 1);
      else
        *(l > s ? l - 1 : l) = 0;
      return;
    }
    l = e ? e + 1 : NULL;
  }
}

static void run_case(const struct sv_case *c) {
  char *req_text = read_in(c->dir, c->base, ".req");
  char *creq = read_in(c->dir, c->base, ".creq");
  char *sts = read_in(c->dir, c->base, ".sts");
  char *authz = read_in(c->dir, c->base, ".authz");
  char *sreq = read_in(c->dir, c->base, ".sreq");
  CU_ASSERT_PTR_NOT_NULL_FATAL(req_text);
  CU_ASSERT_PTR_NOT_NULL(creq);
  CU_ASSERT_PTR_NOT_NULL(sts);
  CU_ASSERT_PTR_NOT_NULL(authz);
  char *files[] = {creq, sts, authz, sreq};
  for (int i = 0; i < 4; i++)
    if (files[i]) {
      strip_cr(files[i]);
      chomp(files[i]);
    }

  struct parsed_req p;
  int prc = parse_req(req_text, &p);
  CU_ASSERT_EQUAL(prc, 0);
  struct gd_sigv4_header *hs = calloc(p.nh + 1, sizeof *hs);
  for (size_t i = 0; i < p.nh; i++) {
    hs[i].name = p.h[i].name;
    hs[i].value = p.h[i].value;
  }
  struct gd_sigv4_creds creds = {AKID, SECRET, NULL};
  struct gd_sigv4_request rq = {
      .method = p.method, .target = p.target, .headers = hs,
      .nheaders = p.nh, .payload = p.body, .payload_len = p.body_len,
      .region = REGION, .service = SERVICE, .amz_date = AMZ_DATE};
  char *token = NULL;
  if (strcmp(c->base, "get-vanilla-with-session-token") == 0) {
    token = strdup(VANILLA_TOKEN);
  } else if (strncmp(c->base, "post-sts-header-", 16) == 0) {
    token = readme_token(c->dir);
    CU_ASSERT_PTR_NOT_NULL(token);
    /* before: the request already carries the header, signed; after: the
     * signer adds it once the signature is made. */
    if (strcmp(c->base, "post-sts-header-after") == 0)
      rq.flags |= GD_SIGV4_TOKEN_UNSIGNED;
  }
  creds.session_token = token;

  struct gd_sigv4_result r;
  struct gd_error err = {0};
  int rc = prc ? -1 : gd_sigv4_sign(&rq, &creds, NULL, &r, &err);
  if (rc) printf("\n      sign: %s\n", err.msg);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc == 0) {
    CU_ASSERT(check_equal("canonical request", r.canonical_request, creq));
    CU_ASSERT(check_equal("string to sign", r.string_to_sign, sts));
    CU_ASSERT(check_equal("authorization", r.authorization, authz));

    /* Every .req already has X-Amz-Date; only a token the request lacks
     * is added. */
    size_t want_add = token && !strstr(p.head, "X-Amz-Security-Token") ? 1 : 0;
    CU_ASSERT_EQUAL(r.nadd, want_add);
    if (r.nadd == 1) {
      CU_ASSERT_STRING_EQUAL(r.add[0].name, "X-Amz-Security-Token");
      CU_ASSERT_STRING_EQUAL(r.add[0].value, token);
    }

    /* The signed request: the request as sent, the added headers, then
     * Authorization (the suite writes it with a space after the colon). */
    if (sreq) {
      size_t n = strlen(p.head) + strlen(r.authorization) + p.body_len + 256;
      for (size_t i = 0; i < r.nadd; i++)
        n += strlen(r.add[i].name) + strlen(r.add[i].value) + 2;
      char *mine = malloc(n);
      size_t off = (size_t)snprintf(mine, n, "%s", p.head);
      for (size_t i = 0; i < r.nadd; i++)
        off += (size_t)snprintf(mine + off, n - off, "\n%s:%s",
                                r.add[i].name, r.add[i].value);
      off += (size_t)snprintf(mine + off, n - off, "\nAuthorization: %s",
                              r.authorization);
      if (p.body)
        snprintf(mine + off, n - off, "\n\n%s", p.body);
      chomp(mine);
      if (sreq_authz_is_stale(c->base)) {
        drop_line(mine, "Authorization:");
        drop_line(sreq, "Authorization:");
      }
      CU_ASSERT(check_equal("signed request", mine, sreq));
      free(mine);
    }
    gd_sigv4_result_free(&r);
  }
  free(token);
  free(hs);
  parsed_free(&p);
  free(req_text);
  free(creq);
  free(sts);
  free(authz);
  free(sreq);
}

/* CUnit tests take no argument: the running test's name and suite say
 * which case it is. */
static void test_suite_case(void) {
  CU_pTest t = CU_get_current_test();
  CU_pSuite s = CU_get_current_suite();
  struct sv_set *set = s == shared_set.suite ? &shared_set : &copied_set;
  for (size_t i = 0; i < set->n; i++)
    if (strcmp(set->v[i].name, t->pName) == 0) {
      run_case(&set->v[i]);
      return;
    }
  CU_FAIL("case not found");
}

static void test_suite_empty(void) {
  CU_FAIL("the suite directory holds no case");
}

static void test_suite_absent(void) {
  GD_SKIP("../shared/" SUITE_REL " not found (a plain clone): the copied "
          "vectors in " COPIED_REL " are checked instead");
}

/* Where the suite is present the copies must still be its files, byte for
 * byte, so that a plain clone checks what the suite checks. */
static void test_copies_match_suite(void) {
  CU_ASSERT_FATAL(copied_set.n >= 8);
  static const char *const exts[] = {".req", ".creq", ".sts", ".authz",
                                     ".sreq"};
  for (size_t i = 0; i < copied_set.n; i++) {
    const struct sv_case *c = &copied_set.v[i];
    char *sdir = path_join(shared_set.root, c->name);
    for (size_t k = 0; k < sizeof exts / sizeof *exts; k++) {
      char *a = read_in(c->dir, c->base, exts[k]);
      char *b = read_in(sdir, c->base, exts[k]);
      int same = a && b && strcmp(a, b) == 0;
      if (!same) printf("\n      %s%s differs from the suite", c->name, exts[k]);
      CU_ASSERT(same);
      free(a);
      free(b);
    }
    free(sdir);
  }
}

/* ------------------------------------------------------------------ */
/* Unit tests                                                          */

static void expect_str(const char *what, char *got, const char *want) {
  CU_ASSERT_PTR_NOT_NULL(got);
  int ok = got && strcmp(got, want) == 0;
  if (!ok)
    printf("\n      %s: got '%s', expected '%s'", what, got ? got : "(null)",
           want);
  CU_ASSERT(ok);
  free(got);
}

static void test_uri_encode(void) {
  const char *unres =
      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  expect_str("unreserved", gd_sigv4_uri_encode(unres, strlen(unres), 0),
             unres);
  expect_str("empty", gd_sigv4_uri_encode("", 0, 0), "");
  expect_str("space", gd_sigv4_uri_encode("a b", 3, 0), "a%20b");
  expect_str("slash kept", gd_sigv4_uri_encode("/a/b", 4, 1), "/a/b");
  expect_str("slash encoded", gd_sigv4_uri_encode("/a/b", 4, 0), "%2Fa%2Fb");
  /* Characters other encoders leave alone. */
  expect_str("reserved", gd_sigv4_uri_encode("+*$=&%!'()", 10, 1),
             "%2B%2A%24%3D%26%25%21%27%28%29");
  expect_str("utf-8", gd_sigv4_uri_encode("\xe1\x88\xb4", 3, 0), "%E1%88%B4");
  /* Length, not NUL, bounds the input. */
  expect_str("embedded nul", gd_sigv4_uri_encode("a\0b", 3, 0), "a%00b");
  expect_str("prefix", gd_sigv4_uri_encode("abc", 2, 0), "ab");
}

static void test_normalize_path(void) {
  static const char *const cases[][2] = {
      {"", "/"},
      {"/", "/"},
      {"//", "/"},
      {"///a", "/a"},
      {"/a/b", "/a/b"},
      {"/a/b/", "/a/b/"},
      {"//example//", "/example/"},
      {"/a//b///c", "/a/b/c"},
      {"/./", "/"},
      {"/./example", "/example"},
      {"/a/./b/.", "/a/b/"},
      {"/example/..", "/"},
      {"/example1/example2/../..", "/"},
      {"/a/b/../c", "/a/c"},
      {"/a/b/..", "/a/"},
      {"/../a", "/a"},
      {"/../../", "/"},
      {"/a/../../b/", "/b/"},
      /* Not dot segments: names that merely contain dots. */
      {"/.../a", "/.../a"},
      {"/..a/b.", "/..a/b."},
      {"/.a/", "/.a/"},
      /* Escaped dots are data. */
      {"/a/%2E%2E/b", "/a/%2E%2E/b"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    expect_str(cases[i][0], gd_sigv4_normalize_path(cases[i][0]),
               cases[i][1]);
  expect_str("null", gd_sigv4_normalize_path(NULL), "/");
}

static void test_canonical_uri(void) {
  /* Every service but S3: normalised, then the wire text encoded again. */
  expect_str("plain", gd_sigv4_canonical_uri("/a/b", 0), "/a/b");
  expect_str("empty", gd_sigv4_canonical_uri("", 0), "/");
  expect_str("double", gd_sigv4_canonical_uri("/a%20b", 0), "/a%2520b");
  expect_str("raw space", gd_sigv4_canonical_uri("/a b/", 0), "/a%20b/");
  expect_str("utf-8", gd_sigv4_canonical_uri("/\xe1\x88\xb4", 0), "/%E1%88%B4");
  expect_str("dots", gd_sigv4_canonical_uri("//a/./b/../c//", 0), "/a/c/");
  expect_str("special", gd_sigv4_canonical_uri("/example/$delete", 0),
             "/example/%24delete");
  /* S3: not normalised, encoded once; escapes made canonical. */
  expect_str("s3 dots", gd_sigv4_canonical_uri("//a/./b/../c//", GD_SIGV4_S3),
             "//a/./b/../c//");
  expect_str("s3 once", gd_sigv4_canonical_uri("/a%20b", GD_SIGV4_S3),
             "/a%20b");
  expect_str("s3 case", gd_sigv4_canonical_uri("/a%e1%7e", GD_SIGV4_S3),
             "/a%E1~");
  expect_str("s3 raw", gd_sigv4_canonical_uri("/a b$", GD_SIGV4_S3),
             "/a%20b%24");
  /* An escaped slash is part of a key name, not a separator. */
  expect_str("s3 %2f", gd_sigv4_canonical_uri("/a%2fb", GD_SIGV4_S3),
             "/a%2Fb");
  expect_str("s3 stray %", gd_sigv4_canonical_uri("/100%", GD_SIGV4_S3),
             "/100%25");
  expect_str("s3 bad %", gd_sigv4_canonical_uri("/%zz%4", GD_SIGV4_S3),
             "/%25zz%254");
}

static void test_canonical_query(void) {
  static const char *const cases[][2] = {
      {"", ""},
      {"a=1", "a=1"},
      {"b=2&a=1", "a=1&b=2"},
      /* Repeated names: sorted by value too. */
      {"p=value2&p=value1&p=Value0", "p=Value0&p=value1&p=value2"},
      /* Empty values, missing '=', empty pairs. */
      {"b&a=", "a=&b="},
      {"&&a=1&&", "a=1"},
      {"=v&a=1", "=v&a=1"},
      /* Sorted on the encoded bytes: '%' < 'P', "Param" < "Param-3". */
      {"Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
       "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"},
      /* Upper-case and lower-case names sort as bytes (upper first). */
      {"b=1&B=2&a=3", "B=2&a=3&b=1"},
      /* Raw bytes encoded, escapes normalised, '+' a literal plus. */
      {"\xe1\x88\xb4=bar", "%E1%88%B4=bar"},
      {"k=%e1%88%b4&x=%7E", "k=%E1%88%B4&x=~"},
      {"q=a+b c", "q=a%2Bb%20c"},
      {"a==b", "a=%3Db"},
      {"a=b/c", "a=b%2Fc"},
      {"a=100%", "a=100%25"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    expect_str(cases[i][0], gd_sigv4_canonical_query(cases[i][0]),
               cases[i][1]);
  expect_str("null", gd_sigv4_canonical_query(NULL), "");
}

/* Signs with the suite's inputs and returns 0 or the error code. */
static int sign(struct gd_sigv4_request *rq, const char *token,
                struct gd_sigv4_result *r, struct gd_error *err) {
  struct gd_sigv4_creds creds = {AKID, SECRET, token};
  if (!rq->region) rq->region = REGION;
  if (!rq->service) rq->service = SERVICE;
  if (!rq->amz_date && !rq->when) rq->amz_date = AMZ_DATE;
  if (!rq->method) rq->method = "GET";
  return gd_sigv4_sign(rq, &creds, NULL, r, err);
}

/* The canonical request's line i (0-based), malloc'd. */
static char *creq_line(const char *creq, int i) {
  const char *p = creq;
  for (; i > 0 && p; i--) {
    p = strchr(p, '\n');
    if (p) p++;
  }
  if (!p) return strdup("");
  const char *e = strchr(p, '\n');
  return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

static void test_headers(void) {
  struct gd_sigv4_header hs[] = {
      {"X-Zeta", "  z  "},
      {"host", "example.amazonaws.com"},
      {"My-Header", "first   value\twith  tabs "},
      {"Content-Type", "application/json"},
      {"MY-HEADER", "second"},
      {"my-header", "\r\n  third\r\n\tpart"},
      {"X-Empty", ""},
      {"x-amz-date", " " AMZ_DATE " "},
  };
  struct gd_sigv4_request rq = {.target = "/", .headers = hs,
                                .nheaders = sizeof hs / sizeof *hs};
  struct gd_sigv4_result r;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(sign(&rq, NULL, &r, &err), 0);
  const char *want =
      "GET\n/\n\n"
      "content-type:application/json\n"
      "host:example.amazonaws.com\n"
      "my-header:first value with tabs,second,third part\n"
      "x-amz-date:" AMZ_DATE "\n"
      "x-empty:\n"
      "x-zeta:z\n"
      "\n"
      "content-type;host;my-header;x-amz-date;x-empty;x-zeta\n" GD_SIGV4_EMPTY_SHA256;
  CU_ASSERT(check_equal("canonical request", r.canonical_request, want));
  CU_ASSERT_STRING_EQUAL(r.signed_headers,
                         "content-type;host;my-header;x-amz-date;x-empty;"
                         "x-zeta");
  CU_ASSERT_EQUAL(r.nadd, 0);
  /* The Authorization value follows the scope and the signature. */
  char want_authz[512];
  snprintf(want_authz, sizeof want_authz,
           "AWS4-HMAC-SHA256 Credential=" AKID "/20150830/" REGION "/" SERVICE
           "/aws4_request, SignedHeaders=%s, Signature=%s",
           r.signed_headers, r.signature);
  CU_ASSERT_STRING_EQUAL(r.authorization, want_authz);
  CU_ASSERT_EQUAL(strlen(r.signature), 64);
  gd_sigv4_result_free(&r);

  /* Header order in the input does not change the signature; value order
   * within one name does. */
  struct gd_sigv4_header a[] = {{"Host", "h"}, {"X-A", "1"}, {"X-B", "2"},
                                {"X-A", "3"}};
  struct gd_sigv4_header b[] = {{"X-B", "2"}, {"X-A", "1"}, {"x-a", "3"},
                                {"HOST", "h"}};
  struct gd_sigv4_header c[] = {{"Host", "h"}, {"X-A", "3"}, {"X-B", "2"},
                                {"X-A", "1"}};
  struct gd_sigv4_result ra, rb, rc;
  struct gd_sigv4_request qa = {.target = "/", .headers = a, .nheaders = 4};
  struct gd_sigv4_request qb = {.target = "/", .headers = b, .nheaders = 4};
  struct gd_sigv4_request qc = {.target = "/", .headers = c, .nheaders = 4};
  CU_ASSERT_EQUAL_FATAL(sign(&qa, NULL, &ra, &err), 0);
  CU_ASSERT_EQUAL_FATAL(sign(&qb, NULL, &rb, &err), 0);
  CU_ASSERT_EQUAL_FATAL(sign(&qc, NULL, &rc, &err), 0);
  CU_ASSERT_STRING_EQUAL(ra.signature, rb.signature);
  CU_ASSERT_STRING_NOT_EQUAL(ra.signature, rc.signature);
  char *l = creq_line(ra.canonical_request, 4);
  CU_ASSERT_STRING_EQUAL(l, "x-a:1,3");
  free(l);
  gd_sigv4_result_free(&ra);
  gd_sigv4_result_free(&rb);
  gd_sigv4_result_free(&rc);
}

static const struct gd_sigv4_header *find_add(const struct gd_sigv4_result *r,
                                              const char *name) {
  for (size_t i = 0; i < r->nadd; i++)
    if (strcmp(r->add[i].name, name) == 0) return &r->add[i];
  return NULL;
}

static void test_added_headers(void) {
  struct gd_sigv4_header host[] = {{"Host", "example.amazonaws.com"}};
  struct gd_sigv4_request rq = {.target = "/", .headers = host, .nheaders = 1};
  struct gd_sigv4_result r;
  struct gd_error err = {0};

  /* No x-amz-date given: added and signed. */
  CU_ASSERT_EQUAL_FATAL(sign(&rq, NULL, &r, &err), 0);
  CU_ASSERT_EQUAL(r.nadd, 1);
  const struct gd_sigv4_header *h = find_add(&r, "X-Amz-Date");
  CU_ASSERT_FATAL(h != NULL);
  CU_ASSERT_STRING_EQUAL(h->value, AMZ_DATE);
  CU_ASSERT_STRING_EQUAL(r.signed_headers, "host;x-amz-date");
  /* Same signature as the suite's get-vanilla, whose request has it. */
  CU_ASSERT_STRING_EQUAL(r.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  gd_sigv4_result_free(&r);

  /* A token: added and signed, as in get-vanilla-with-session-token. */
  CU_ASSERT_EQUAL_FATAL(sign(&rq, VANILLA_TOKEN, &r, &err), 0);
  CU_ASSERT_EQUAL(r.nadd, 2);
  h = find_add(&r, "X-Amz-Security-Token");
  CU_ASSERT_FATAL(h != NULL);
  CU_ASSERT_STRING_EQUAL(h->value, VANILLA_TOKEN);
  CU_ASSERT_STRING_EQUAL(r.signed_headers,
                         "host;x-amz-date;x-amz-security-token");
  CU_ASSERT_STRING_EQUAL(r.signature, "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
  gd_sigv4_result_free(&r);

  /* The token added after signing. */
  rq.flags = GD_SIGV4_TOKEN_UNSIGNED;
  CU_ASSERT_EQUAL_FATAL(sign(&rq, VANILLA_TOKEN, &r, &err), 0);
  CU_ASSERT_PTR_NOT_NULL(find_add(&r, "X-Amz-Security-Token"));
  CU_ASSERT_STRING_EQUAL(r.signed_headers, "host;x-amz-date");
  CU_ASSERT_PTR_NULL(strstr(r.canonical_request, VANILLA_TOKEN));
  gd_sigv4_result_free(&r);

  /* x-amz-content-sha256 on request. */
  rq.flags = GD_SIGV4_CONTENT_SHA256;
  rq.payload = "Param1=value1";
  rq.payload_len = 13;
  CU_ASSERT_EQUAL_FATAL(sign(&rq, NULL, &r, &err), 0);
  h = find_add(&r, "X-Amz-Content-Sha256");
  CU_ASSERT_FATAL(h != NULL);
  CU_ASSERT_STRING_EQUAL(h->value, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  CU_ASSERT_STRING_EQUAL(r.signed_headers,
                         "host;x-amz-content-sha256;x-amz-date");
  gd_sigv4_result_free(&r);

  /* S3 with an unsigned payload: the sentinel is signed and sent. */
  rq.flags = GD_SIGV4_S3;
  rq.service = "s3";
  rq.payload_hash = GD_SIGV4_UNSIGNED_PAYLOAD;
  CU_ASSERT_EQUAL_FATAL(sign(&rq, NULL, &r, &err), 0);
  h = find_add(&r, "X-Amz-Content-Sha256");
  CU_ASSERT_FATAL(h != NULL);
  CU_ASSERT_STRING_EQUAL(h->value, "UNSIGNED-PAYLOAD");
  size_t cl = strlen(r.canonical_request);
  CU_ASSERT(cl > 16 &&
            strcmp(r.canonical_request + cl - 17, "\nUNSIGNED-PAYLOAD") == 0);
  gd_sigv4_result_free(&r);

  /* Given headers that agree are not added twice. */
  struct gd_sigv4_header all[] = {
      {"Host", "h"},
      {"X-Amz-Date", AMZ_DATE},
      {"X-Amz-Security-Token", VANILLA_TOKEN},
      {"X-Amz-Content-Sha256", GD_SIGV4_EMPTY_SHA256}};
  struct gd_sigv4_request full = {.target = "/", .headers = all,
                                  .nheaders = 4, .flags = GD_SIGV4_S3};
  CU_ASSERT_EQUAL_FATAL(sign(&full, VANILLA_TOKEN, &r, &err), 0);
  CU_ASSERT_EQUAL(r.nadd, 0);
  CU_ASSERT_STRING_EQUAL(r.signed_headers, "host;x-amz-content-sha256;"
                                           "x-amz-date;x-amz-security-token");
  gd_sigv4_result_free(&r);
}

static void test_s3_does_not_normalize(void) {
  struct gd_sigv4_header host[] = {{"Host", "bucket.s3.amazonaws.com"}};
  struct gd_sigv4_request rq = {.target = "/my-object//example//photo.user",
                                .headers = host, .nheaders = 1,
                                .service = "s3", .flags = GD_SIGV4_S3};
  struct gd_sigv4_result r;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(sign(&rq, NULL, &r, &err), 0);
  char *l = creq_line(r.canonical_request, 1);
  CU_ASSERT_STRING_EQUAL(l, "/my-object//example//photo.user");
  free(l);
  gd_sigv4_result_free(&r);

  rq.target = "/a/./b/../c%20d";
  CU_ASSERT_EQUAL_FATAL(sign(&rq, NULL, &r, &err), 0);
  l = creq_line(r.canonical_request, 1);
  CU_ASSERT_STRING_EQUAL(l, "/a/./b/../c%20d");
  free(l);
  gd_sigv4_result_free(&r);

  /* The same paths for another service are normalised and re-encoded. */
  rq.flags = 0;
  rq.service = "service";
  CU_ASSERT_EQUAL_FATAL(sign(&rq, NULL, &r, &err), 0);
  l = creq_line(r.canonical_request, 1);
  CU_ASSERT_STRING_EQUAL(l, "/a/c%2520d");
  free(l);
  gd_sigv4_result_free(&r);
  rq.target = "/my-object//example//photo.user";
  CU_ASSERT_EQUAL_FATAL(sign(&rq, NULL, &r, &err), 0);
  l = creq_line(r.canonical_request, 1);
  CU_ASSERT_STRING_EQUAL(l, "/my-object/example/photo.user");
  free(l);
  gd_sigv4_result_free(&r);
}

static void test_target_forms(void) {
  struct gd_sigv4_header host[] = {{"Host", "example.amazonaws.com"}};
  struct gd_sigv4_result a, b, c;
  struct gd_error err = {0};
  struct gd_sigv4_request qa = {.target = "/x/y?b=2&a=1", .headers = host,
                                .nheaders = 1};
  struct gd_sigv4_request qb = {.path = "/x/y", .query = "a=1&b=2",
                                .headers = host, .nheaders = 1};
  CU_ASSERT_EQUAL_FATAL(sign(&qa, NULL, &a, &err), 0);
  CU_ASSERT_EQUAL_FATAL(sign(&qb, NULL, &b, &err), 0);
  CU_ASSERT_STRING_EQUAL(a.canonical_request, b.canonical_request);
  CU_ASSERT_STRING_EQUAL(a.signature, b.signature);
  char *l = creq_line(a.canonical_request, 2);
  CU_ASSERT_STRING_EQUAL(l, "a=1&b=2");
  free(l);
  /* No path at all is "/", an empty query nothing. */
  struct gd_sigv4_request qc = {.target = "?", .headers = host,
                                .nheaders = 1};
  CU_ASSERT_EQUAL_FATAL(sign(&qc, NULL, &c, &err), 0);
  CU_ASSERT_STRING_EQUAL(c.canonical_request,
                         "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:"
                         AMZ_DATE "\n\nhost;x-amz-date\n"
                         GD_SIGV4_EMPTY_SHA256);
  gd_sigv4_result_free(&a);
  gd_sigv4_result_free(&b);
  gd_sigv4_result_free(&c);
}

static void test_payload_and_time(void) {
  struct gd_sigv4_header host[] = {{"Host", "example.amazonaws.com"}};
  struct gd_sigv4_result a, b;
  struct gd_error err = {0};
  struct gd_sigv4_request qa = {.method = "POST", .target = "/",
                                .headers = host, .nheaders = 1,
                                .payload = "Param1=value1",
                                .payload_len = 13};
  /* The same request with the hash precomputed (upper-case hex is fine)
   * and the time as broken-down UTC. */
  struct tm tm = {.tm_year = 115, .tm_mon = 7, .tm_mday = 30,
                  .tm_hour = 12, .tm_min = 36, .tm_sec = 0};
  struct gd_sigv4_request qb = {
      .method = "POST", .target = "/", .headers = host, .nheaders = 1,
      .payload_hash =
          "9095672BBD1F56DFC5B65F3E153ADC8731A4A654192329106275F4C7B24D0B6E",
      .when = &tm};
  CU_ASSERT_EQUAL_FATAL(sign(&qa, NULL, &a, &err), 0);
  CU_ASSERT_EQUAL_FATAL(sign(&qb, NULL, &b, &err), 0);
  CU_ASSERT_STRING_EQUAL(a.payload_hash, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  CU_ASSERT_STRING_EQUAL(b.amz_date, AMZ_DATE);
  CU_ASSERT_STRING_EQUAL(a.canonical_request, b.canonical_request);
  CU_ASSERT_STRING_EQUAL(a.authorization, b.authorization);
  gd_sigv4_result_free(&a);
  gd_sigv4_result_free(&b);

  char out[17];
  CU_ASSERT_EQUAL(gd_sigv4_format_date(&tm, out), 0);
  CU_ASSERT_STRING_EQUAL(out, AMZ_DATE);
  struct tm bad = tm;
  bad.tm_mon = 12;
  CU_ASSERT_EQUAL(gd_sigv4_format_date(&bad, out), GD_EINVAL);
  CU_ASSERT_EQUAL(gd_sigv4_format_date(NULL, out), GD_EINVAL);

  char hex[65];
  CU_ASSERT_EQUAL(gd_sigv4_sha256_hex("", 0, hex), 0);
  CU_ASSERT_STRING_EQUAL(hex, GD_SIGV4_EMPTY_SHA256);
  CU_ASSERT_EQUAL(gd_sigv4_sha256_hex(NULL, 0, hex), 0);
  CU_ASSERT_STRING_EQUAL(hex, GD_SIGV4_EMPTY_SHA256);
}

static void key_hex(const unsigned char k[32], char out[65]) {
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", k[i]);
}

static void test_signing_key(void) {
  /* The worked example of AWS's "derive a signing key" page. */
  unsigned char k[32];
  char hex[65];
  CU_ASSERT_EQUAL_FATAL(
      gd_sigv4_signing_key(SECRET, "20120215", "us-east-1", "iam", k), 0);
  key_hex(k, hex);
  CU_ASSERT_STRING_EQUAL(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

static int holds(const void *hay, size_t n, const void *needle, size_t m) {
  for (size_t i = 0; i + m <= n; i++)
    if (memcmp((const char *)hay + i, needle, m) == 0) return 1;
  return 0;
}

static void test_key_cache(void) {
  struct gd_sigv4_header host[] = {{"Host", "example.amazonaws.com"}};
  struct gd_sigv4_key_cache cache = {0};
  struct gd_sigv4_creds creds = {AKID, SECRET, NULL};
  struct gd_sigv4_request rq = {.method = "GET", .target = "/",
                                .headers = host, .nheaders = 1,
                                .region = REGION, .service = SERVICE,
                                .amz_date = AMZ_DATE};
  struct gd_sigv4_result r;
  struct gd_error err = {0};
  const char *vanilla =
      "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_EQUAL_FATAL(gd_sigv4_sign(&rq, &creds, &cache, &r, &err), 0);
    CU_ASSERT_STRING_EQUAL(r.signature, vanilla);
    CU_ASSERT(cache.valid);
    gd_sigv4_result_free(&r);
  }
  unsigned char want[32];
  gd_sigv4_signing_key(SECRET, "20150830", REGION, SERVICE, want);
  CU_ASSERT(memcmp(cache.key, want, 32) == 0);
  /* The cache holds a digest of the secret, never the secret. */
  CU_ASSERT(!holds(&cache, sizeof cache, SECRET, 8));

  /* Any change of secret, date, region or service derives a new key: the
   * result equals an uncached signature. */
  const char *other_secret = "AnotherSecretKeyOfTheSameLength000000000";
  struct {
    const char *secret, *date, *region, *service;
  } changes[] = {
      {other_secret, AMZ_DATE, REGION, SERVICE},
      {SECRET, "20150831T000000Z", REGION, SERVICE},
      {SECRET, AMZ_DATE, "eu-west-1", SERVICE},
      {SECRET, AMZ_DATE, REGION, "sqs"},
  };
  for (size_t i = 0; i < sizeof changes / sizeof *changes; i++) {
    struct gd_sigv4_creds c2 = {AKID, changes[i].secret, NULL};
    struct gd_sigv4_request q2 = rq;
    q2.amz_date = changes[i].date;
    q2.region = changes[i].region;
    q2.service = changes[i].service;
    struct gd_sigv4_result cached, fresh;
    CU_ASSERT_EQUAL_FATAL(gd_sigv4_sign(&q2, &c2, &cache, &cached, &err), 0);
    CU_ASSERT_EQUAL_FATAL(gd_sigv4_sign(&q2, &c2, NULL, &fresh, &err), 0);
    CU_ASSERT_STRING_EQUAL(cached.signature, fresh.signature);
    CU_ASSERT_STRING_NOT_EQUAL(cached.signature, vanilla);
    gd_sigv4_result_free(&cached);
    gd_sigv4_result_free(&fresh);
  }
}

static const char *const TOKEN = "SECRET-SESSION-TOKEN-abcdef";

/* The request must be refused with message want, which never holds the
 * secret or the token, and leave nothing to free. */
static void expect_refused(struct gd_sigv4_request *rq,
                           const struct gd_sigv4_creds *creds,
                           const char *want) {
  struct gd_sigv4_result r;
  memset(&r, 0x5a, sizeof r);
  struct gd_error err = {0};
  int rc = gd_sigv4_sign(rq, creds, NULL, &r, &err);
  CU_ASSERT_EQUAL(rc, GD_EINVAL);
  CU_ASSERT_EQUAL(err.code, GD_EINVAL);
  int ok = strcmp(err.msg, want) == 0;
  if (!ok) printf("\n      got '%s'\n      expected '%s'", err.msg, want);
  CU_ASSERT(ok);
  CU_ASSERT_PTR_NULL(strstr(err.msg, SECRET));
  CU_ASSERT_PTR_NULL(strstr(err.msg, "wJalr"));
  CU_ASSERT_PTR_NULL(strstr(err.msg, TOKEN));
  CU_ASSERT_PTR_NULL(r.canonical_request);
  CU_ASSERT_PTR_NULL(r.authorization);
  CU_ASSERT_EQUAL(r.nadd, 0);
}

static void test_refusals(void) {
  struct gd_sigv4_header host[] = {{"Host", "example.amazonaws.com"}};
  struct gd_sigv4_creds creds = {AKID, SECRET, TOKEN};
  struct gd_sigv4_request base = {.method = "GET", .target = "/",
                                  .headers = host, .nheaders = 1,
                                  .region = REGION, .service = SERVICE,
                                  .amz_date = AMZ_DATE};
  struct gd_sigv4_request rq;

  rq = base;
  rq.headers = NULL;
  rq.nheaders = 0;
  expect_refused(&rq, &creds, "sigv4: no host header");

  struct gd_sigv4_header bad_name[] = {{"Host", "h"}, {"My Header", "x"}};
  rq = base;
  rq.headers = bad_name;
  rq.nheaders = 2;
  expect_refused(&rq, &creds,
                 "sigv4: header[1]: invalid header name 'My Header'");

  /* A bare line break would split the header on the wire; the value, which
   * may be a token, is not quoted. */
  struct gd_sigv4_header inject[] = {{"Host", "h"},
                                     {"X-Token", "SECRET-SESSION-TOKEN-abcdef\r\nX-Evil: 1"}};
  rq = base;
  rq.headers = inject;
  rq.nheaders = 2;
  expect_refused(&rq, &creds,
                 "sigv4: header 'x-token': value has a control character or "
                 "a line break that is not a continuation");

  struct gd_sigv4_header authz[] = {{"Host", "h"}, {"Authorization", "x"}};
  rq = base;
  rq.headers = authz;
  rq.nheaders = 2;
  expect_refused(&rq, &creds,
                 "sigv4: header[1]: 'authorization' is the signature's own "
                 "header and cannot be signed");

  struct gd_sigv4_header date[] = {{"Host", "h"},
                                   {"X-Amz-Date", "20150830T123601Z"}};
  rq = base;
  rq.headers = date;
  rq.nheaders = 2;
  expect_refused(&rq, &creds,
                 "sigv4: x-amz-date header '20150830T123601Z' differs from "
                 "the signing time '20150830T123600Z'");

  struct gd_sigv4_header tok[] = {{"Host", "h"},
                                  {"X-Amz-Security-Token", "other"}};
  rq = base;
  rq.headers = tok;
  rq.nheaders = 2;
  expect_refused(&rq, &creds,
                 "sigv4: x-amz-security-token header differs from the "
                 "session token");

  struct gd_sigv4_header sha[] = {{"Host", "h"},
                                  {"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"}};
  rq = base;
  rq.headers = sha;
  rq.nheaders = 2;
  expect_refused(&rq, &creds,
                 "sigv4: x-amz-content-sha256 header 'UNSIGNED-PAYLOAD' "
                 "differs from the payload hash '" GD_SIGV4_EMPTY_SHA256 "'");

  rq = base;
  rq.amz_date = "2015-08-30T12:36:00Z";
  expect_refused(&rq, &creds,
                 "sigv4: invalid date '2015-08-30T12:36:00Z' (want "
                 "YYYYMMDDTHHMMSSZ)");
  rq.amz_date = NULL;
  expect_refused(&rq, &creds, "sigv4: no signing time (amz_date or when)");

  rq = base;
  rq.payload_hash = "abc";
  expect_refused(&rq, &creds, "sigv4: invalid payload hash 'abc'");

  rq = base;
  rq.target = "example.com/";
  expect_refused(&rq, &creds,
                 "sigv4: request target 'example.com/' does not start with "
                 "'/'");
  rq.target = "/a\nb";
  expect_refused(&rq, &creds,
                 "sigv4: request target: control character at offset 2");
  rq.target = "/";
  rq.path = "/";
  expect_refused(&rq, &creds,
                 "sigv4: give either the request target or the path and "
                 "query, not both");

  rq = base;
  rq.region = "us-east-1/x";
  expect_refused(&rq, &creds, "sigv4: invalid region 'us-east-1/x'");
  rq = base;
  rq.service = "";
  expect_refused(&rq, &creds, "sigv4: invalid service ''");
  rq = base;
  rq.method = "GE T";
  expect_refused(&rq, &creds, "sigv4: invalid method 'GE T'");

  struct gd_sigv4_creds c2 = creds;
  c2.secret_key = "";
  rq = base;
  expect_refused(&rq, &c2, "sigv4: credentials: empty secret key");
  c2 = creds;
  c2.access_key = "AKID/EXAMPLE";
  expect_refused(&rq, &c2,
                 "sigv4: credentials: invalid access key id 'AKID/EXAMPLE'");
  c2 = creds;
  c2.session_token = "SECRET-SESSION-TOKEN-abcdef\n";
  expect_refused(&rq, &c2,
                 "sigv4: credentials: session token has a control character");
  expect_refused(&rq, NULL, "sigv4: no credentials");
}

/* The result owns what it returns: freeing twice (a zeroed result) is safe,
 * and the token copy outlives the caller's string. */
static void test_result_ownership(void) {
  struct gd_sigv4_header host[] = {{"Host", "example.amazonaws.com"}};
  struct gd_sigv4_request rq = {.target = "/", .headers = host, .nheaders = 1};
  struct gd_sigv4_result r;
  struct gd_error err = {0};
  char *tok = strdup(VANILLA_TOKEN);
  CU_ASSERT_EQUAL_FATAL(sign(&rq, tok, &r, &err), 0);
  memset(tok, 'x', strlen(tok));
  free(tok);
  const struct gd_sigv4_header *h = find_add(&r, "X-Amz-Security-Token");
  CU_ASSERT_FATAL(h != NULL);
  CU_ASSERT_STRING_EQUAL(h->value, VANILLA_TOKEN);
  gd_sigv4_result_free(&r);
  CU_ASSERT_PTR_NULL(r.canonical_request);
  CU_ASSERT_EQUAL(r.nadd, 0);
  gd_sigv4_result_free(&r);
  gd_sigv4_result_free(NULL);
}

static const struct gd_test unit_tests[] = {
    {"uri encoding (RFC 3986 unreserved set)", test_uri_encode},
    {"path normalisation", test_normalize_path},
    {"canonical uri (double encoding, s3 as sent)", test_canonical_uri},
    {"canonical query", test_canonical_query},
    {"canonical headers", test_headers},
    {"added headers (date, token, content sha256)", test_added_headers},
    {"s3 mode does not normalise paths", test_s3_does_not_normalize},
    {"request target or path and query", test_target_forms},
    {"payload hash and signing time inputs", test_payload_and_time},
    {"signing key (aws worked example)", test_signing_key},
    {"signing key cache", test_key_cache},
    {"refusals name the input, never a secret", test_refusals},
    {"result ownership", test_result_ownership},
    {NULL, NULL},
};

/* gd_test_run takes a static list; the suite's cases are found at run time,
 * so this file registers its own suites. */
static int add_cases(struct sv_set *set, const char *suite_name) {
  set->suite = CU_add_suite(suite_name, NULL, NULL);
  if (!set->suite) return -1;
  for (size_t i = 0; i < set->n; i++)
    if (!CU_add_test(set->suite, set->v[i].name, test_suite_case)) return -1;
  return 0;
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  int rc = 1;
  CU_pSuite s = CU_add_suite("sigv4", NULL, NULL);
  if (!s) goto out;
  for (const struct gd_test *t = unit_tests; t->name; t++)
    if (!CU_add_test(s, t->name, t->fn)) goto out;

  char *shared_root = NULL;
  const char *shared = gd_test_shared();
  if (shared) {
    shared_root = path_join(shared, SUITE_REL);
    if (!is_dir(shared_root)) {
      free(shared_root);
      shared_root = NULL;
    }
  }
  char *copied_root = strdup(gd_test_src(COPIED_REL));
  copied_set.root = copied_root;
  find_cases(&copied_set, copied_root, "");
  if (shared_root) {
    shared_set.root = shared_root;
    find_cases(&shared_set, shared_root, "");
    printf("aws-sig-v4-test-suite: %zu cases in %s\n", shared_set.n,
           shared_root);
    if (add_cases(&shared_set, "aws-sig-v4-test-suite") != 0) goto out_free;
    /* A suite directory without cases must not pass as an empty run. */
    if (shared_set.n == 0)
      CU_add_test(shared_set.suite, "suite has cases", test_suite_empty);
    CU_pSuite cs = CU_add_suite("sigv4 copied vectors", NULL, NULL);
    if (!cs || !CU_add_test(cs, "copies match the suite",
                            test_copies_match_suite))
      goto out_free;
  } else {
    CU_pSuite ss = CU_add_suite("aws-sig-v4-test-suite", NULL, NULL);
    if (!ss || !CU_add_test(ss, "aws-sig-v4-test-suite", test_suite_absent))
      goto out_free;
  }
  printf("copied vectors: %zu cases in %s\n", copied_set.n, copied_root);
  if (add_cases(&copied_set, "sigv4 copied vectors (" COPIED_REL ")") != 0)
    goto out_free;
  if (copied_set.n == 0) {
    printf("no copied vectors found in %s\n", copied_root);
    goto out_free;
  }

  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  rc = (CU_get_number_of_tests_failed() || CU_get_number_of_failures()) ? 1
                                                                          : 0;
out_free:
  set_free(&shared_set);
  set_free(&copied_set);
  free(shared_root);
  free(copied_root);
out:
  CU_cleanup_registry();
  return rc;
}

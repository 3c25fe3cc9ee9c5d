/* Unit tests of harness/json.c: path helpers, key checks, typed getters and
 * gd_json_parse_file's refusals (size, emptiness, syntax, nesting). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/json.h"
#include "testutil.h"

#define ASSERT_MSG(err, expected) CU_ASSERT_STRING_EQUAL((err).msg, (expected))

/* err.msg must be exactly file followed by suffix. */
static void assert_file_msg(const struct gd_error *err, const char *file,
                            const char *suffix) {
  size_t n = strlen(file);
  int ok = strncmp(err->msg, file, n) == 0 && strcmp(err->msg + n, suffix) == 0;
  CU_ASSERT(ok);
  if (!ok) printf("\n      got '%s'\n      expected '%s%s'\n", err->msg, file, suffix);
}

static cJSON *parse(const char *text) {
  cJSON *j = cJSON_Parse(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  return j;
}

static void test_paths(void) {
  char buf[64];
  CU_ASSERT_STRING_EQUAL(gd_json_path(buf, sizeof buf, "", "name"), "name");
  CU_ASSERT_STRING_EQUAL(gd_json_path(buf, sizeof buf, NULL, "name"), "name");
  CU_ASSERT_STRING_EQUAL(gd_json_path(buf, sizeof buf, "probes.web", "url"),
                         "probes.web.url");
  CU_ASSERT_STRING_EQUAL(gd_json_index_path(buf, sizeof buf, "fault", 1),
                         "fault[1]");
  /* Truncates, never overflows. */
  char small[8];
  gd_json_path(small, sizeof small, "probes.web", "url");
  CU_ASSERT_EQUAL(strlen(small), 7);
}

static void test_check_keys(void) {
  static const char *const a1[] = {"url", "interval_ms", NULL};
  static const char *const a2[] = {"expect", NULL};
  struct gd_error err = {0};
  cJSON *j = parse("{\"url\": \"x\", \"expect\": {}, \"interval_ms\": 5}");
  CU_ASSERT_EQUAL(gd_json_check_keys(j, "probes.web", a1, a2, &err), 0);
  CU_ASSERT_EQUAL(gd_json_check_keys(j, "probes.web", a1, NULL, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "probes.web: unknown key 'expect'");
  cJSON_Delete(j);

  j = parse("{\"url\": \"x\", \"intervall_ms\": 5}");
  CU_ASSERT_EQUAL(gd_json_check_keys(j, "probes.web", a1, a2, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "probes.web: unknown key 'intervall_ms'");
  /* At top level the key itself is the path. */
  CU_ASSERT_EQUAL(gd_json_check_keys(j, "", a1, a2, &err), GD_EINVAL);
  ASSERT_MSG(err, "intervall_ms: unknown key 'intervall_ms'");
  cJSON_Delete(j);

  j = parse("{\"url\": \"a\", \"interval_ms\": 5, \"url\": \"b\"}");
  CU_ASSERT_EQUAL(gd_json_check_keys(j, "probes.web", a1, a2, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "probes.web: duplicate key 'url'");
  cJSON_Delete(j);

  j = parse("[1]");
  CU_ASSERT_EQUAL(gd_json_check_keys(j, "probes.web", a1, a2, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "probes.web: must be an object, got an array");
  cJSON_Delete(j);
}

static void test_get_int(void) {
  struct gd_error err = {0};
  cJSON *j = parse("{\"a\": 5, \"s\": \"42\", \"neg\": -5, \"f\": 1.5,"
                   " \"bad\": \"12abc\", \"big\": 1e300, \"t\": true,"
                   " \"nan\": \"nan\", \"hex\": \"0x10\", \"sp\": \" 4\"}");
  long long v = -1;
  CU_ASSERT_EQUAL(gd_json_get_int(j, "a", "p", 1, 0, 10, &v, &err), 0);
  CU_ASSERT_EQUAL(v, 5);
  CU_ASSERT_EQUAL(gd_json_get_int(j, "s", "p", 1, 0, 100, &v, &err), 0);
  CU_ASSERT_EQUAL(v, 42);
  v = 77;
  CU_ASSERT_EQUAL(gd_json_get_int(j, "missing", "p", 0, 0, 10, &v, &err), 0);
  CU_ASSERT_EQUAL(v, 77);
  CU_ASSERT_EQUAL(gd_json_get_int(j, "missing", "p", 1, 0, 10, &v, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "p.missing: required key missing");
  CU_ASSERT_EQUAL(gd_json_get_int(j, "missing", "", 1, 0, 10, &v, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "missing: required key missing");
  CU_ASSERT_EQUAL(gd_json_get_int(j, "neg", "probes.web", 1, 1, 10, &v, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "probes.web.neg: must be at least 1, got -5");
  CU_ASSERT_EQUAL(gd_json_get_int(j, "a", "p", 1, 0, 4, &v, &err), GD_EINVAL);
  ASSERT_MSG(err, "p.a: must be at most 4, got 5");
  CU_ASSERT_EQUAL(gd_json_get_int(j, "f", "p", 1, 0, 4, &v, &err), GD_EINVAL);
  ASSERT_MSG(err, "p.f: must be an integer, got 1.5");
  CU_ASSERT_EQUAL(gd_json_get_int(j, "bad", "p", 1, 0, 4, &v, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "p.bad: must be an integer, got '12abc'");
  CU_ASSERT_EQUAL(gd_json_get_int(j, "big", "p", 1, 0, 4, &v, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "p.big: must be an integer, got 1e+300");
  CU_ASSERT_EQUAL(gd_json_get_int(j, "t", "p", 1, 0, 4, &v, &err), GD_EINVAL);
  ASSERT_MSG(err, "p.t: must be an integer, got true");
  CU_ASSERT_EQUAL(gd_json_get_int(j, "nan", "p", 1, 0, 4, &v, &err),
                  GD_EINVAL);
  CU_ASSERT_EQUAL(gd_json_get_int(j, "hex", "p", 1, 0, 100, &v, &err),
                  GD_EINVAL);
  CU_ASSERT_EQUAL(gd_json_get_int(j, "sp", "p", 1, 0, 100, &v, &err),
                  GD_EINVAL);
  CU_ASSERT_EQUAL(v, 77); /* unchanged by every failure */
  cJSON_Delete(j);
}

static void test_get_double_bool_string(void) {
  struct gd_error err = {0};
  cJSON *j = parse("{\"d\": 0.95, \"ds\": \"0.5\", \"hi\": 1.5, \"inf\": 1e999,"
                   " \"b\": false, \"bs\": \"true\", \"bn\": 1,"
                   " \"s\": \"hello\", \"n\": 3}");
  double d = -1;
  CU_ASSERT_EQUAL(gd_json_get_double(j, "d", "t", 1, 0, 1, &d, &err), 0);
  CU_ASSERT_DOUBLE_EQUAL(d, 0.95, 1e-12);
  CU_ASSERT_EQUAL(gd_json_get_double(j, "ds", "t", 1, 0, 1, &d, &err), 0);
  CU_ASSERT_DOUBLE_EQUAL(d, 0.5, 1e-12);
  CU_ASSERT_EQUAL(gd_json_get_double(j, "hi", "t", 1, 0, 1, &d, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "t.hi: must be at most 1, got 1.5");
  CU_ASSERT_EQUAL(gd_json_get_double(j, "inf", "t", 1, -1e308, 1e308, &d, &err),
                  GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "t.inf: must be a finite number"));
  CU_ASSERT_EQUAL(gd_json_get_double(j, "s", "t", 1, 0, 1, &d, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "t.s: must be a finite number, got 'hello'");

  int b = -1;
  CU_ASSERT_EQUAL(gd_json_get_bool(j, "b", "t", 1, &b, &err), 0);
  CU_ASSERT_EQUAL(b, 0);
  CU_ASSERT_EQUAL(gd_json_get_bool(j, "bs", "t", 1, &b, &err), 0);
  CU_ASSERT_EQUAL(b, 1);
  CU_ASSERT_EQUAL(gd_json_get_bool(j, "bn", "t", 1, &b, &err), GD_EINVAL);
  ASSERT_MSG(err, "t.bn: must be true or false, got 1");

  const char *s = NULL;
  CU_ASSERT_EQUAL(gd_json_get_string(j, "s", "t", 1, &s, &err), 0);
  CU_ASSERT_STRING_EQUAL(s, "hello");
  CU_ASSERT_EQUAL(gd_json_get_string(j, "n", "t", 1, &s, &err), GD_EINVAL);
  ASSERT_MSG(err, "t.n: must be a string, got 3");
  s = "default";
  CU_ASSERT_EQUAL(gd_json_get_string(j, "absent", "t", 0, &s, &err), 0);
  CU_ASSERT_STRING_EQUAL(s, "default");
  cJSON_Delete(j);
}

static void test_get_ms_object(void) {
  struct gd_error err = {0};
  cJSON *j = parse("{\"interval_ms\": 20, \"neg\": -5, \"zero\": 0,"
                   " \"o\": {\"x\": 1}, \"str\": \"250\"}");
  uint64_t ns = 7;
  CU_ASSERT_EQUAL(gd_json_get_ms(j, "interval_ms", "probes.web", 1, 1, &ns,
                                 &err), 0);
  CU_ASSERT_EQUAL(ns, 20000000ull);
  CU_ASSERT_EQUAL(gd_json_get_ms(j, "str", "p", 1, 1, &ns, &err), 0);
  CU_ASSERT_EQUAL(ns, 250000000ull);
  ns = 7;
  CU_ASSERT_EQUAL(gd_json_get_ms(j, "absent", "p", 0, 1, &ns, &err), 0);
  CU_ASSERT_EQUAL(ns, 7);
  CU_ASSERT_EQUAL(gd_json_get_ms(j, "neg", "probes.web", 1, 1, &ns, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "probes.web.neg: must be at least 1, got -5");
  CU_ASSERT_EQUAL(gd_json_get_ms(j, "zero", "probes.web", 1, 1, &ns, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "probes.web.zero: must be at least 1, got 0");
  CU_ASSERT_EQUAL(ns, 7);

  const cJSON *o = NULL;
  CU_ASSERT_EQUAL(gd_json_get_object(j, "o", "p", 1, &o, &err), 0);
  CU_ASSERT_PTR_EQUAL(o, cJSON_GetObjectItem(j, "o"));
  CU_ASSERT_EQUAL(gd_json_get_object(j, "str", "p", 1, &o, &err), GD_EINVAL);
  ASSERT_MSG(err, "p.str: must be an object, got '250'");
  cJSON_Delete(j);
}

static void test_get_strv(void) {
  struct gd_error err = {0};
  cJSON *j = parse("{\"argv\": [\"sh\", \"-c\", \"exit 0\"], \"empty\": [],"
                   " \"mixed\": [\"a\", 2], \"notarr\": \"sh\"}");
  char **v = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(gd_json_get_strv(j, "argv", "p", 1, &v, &n, &err), 0);
  CU_ASSERT_EQUAL_FATAL(n, 3);
  CU_ASSERT_STRING_EQUAL(v[0], "sh");
  CU_ASSERT_STRING_EQUAL(v[2], "exit 0");
  CU_ASSERT_PTR_NULL(v[3]);
  gd_strv_free(v);

  v = NULL;
  CU_ASSERT_EQUAL(gd_json_get_strv(j, "empty", "p", 0, &v, &n, &err), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_PTR_NULL(v[0]);
  gd_strv_free(v);
  v = NULL;
  CU_ASSERT_EQUAL(gd_json_get_strv(j, "empty", "p", 1, &v, &n, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "p.empty: must not be empty");
  CU_ASSERT_EQUAL(gd_json_get_strv(j, "mixed", "p", 1, &v, &n, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "p.mixed[1]: must be a string, got 2");
  CU_ASSERT_EQUAL(gd_json_get_strv(j, "notarr", "p", 1, &v, &n, &err),
                  GD_EINVAL);
  ASSERT_MSG(err, "p.notarr: must be an array of strings, got 'sh'");
  CU_ASSERT_PTR_NULL(v);
  cJSON_Delete(j);
}

static void test_get_headers(void) {
  struct gd_error err = {0};
  cJSON *j = parse("{\"headers\": {\"Accept\": \"text/plain\", \"X-Empty\": \"\"},"
                   " \"bad\": {\"Bad Name\": \"x\"},"
                   " \"crlf\": {\"X-A\": \"a\\r\\nX-B: b\"},"
                   " \"dup\": {\"X-A\": \"1\", \"x-a\": \"2\"},"
                   " \"num\": {\"X-A\": 1}}");
  char **h = NULL;
  CU_ASSERT_EQUAL(gd_json_get_headers(j, "headers", "p", &h, &err), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  CU_ASSERT_STRING_EQUAL(h[0], "Accept: text/plain");
  CU_ASSERT_STRING_EQUAL(h[1], "X-Empty;");
  CU_ASSERT_PTR_NULL(h[2]);
  gd_strv_free(h);
  h = NULL;
  CU_ASSERT_EQUAL(gd_json_get_headers(j, "absent", "p", &h, &err), 0);
  CU_ASSERT_PTR_NULL(h);
  CU_ASSERT_EQUAL(gd_json_get_headers(j, "bad", "p", &h, &err), GD_EINVAL);
  ASSERT_MSG(err, "p.bad: invalid header name 'Bad Name'");
  CU_ASSERT_EQUAL(gd_json_get_headers(j, "crlf", "p", &h, &err), GD_EINVAL);
  ASSERT_MSG(err, "p.crlf.X-A: header value must not contain a line break");
  CU_ASSERT_EQUAL(gd_json_get_headers(j, "dup", "p", &h, &err), GD_EINVAL);
  ASSERT_MSG(err, "p.dup: duplicate header 'x-a'");
  CU_ASSERT_EQUAL(gd_json_get_headers(j, "num", "p", &h, &err), GD_EINVAL);
  ASSERT_MSG(err, "p.num.X-A: must be a string, got 1");
  CU_ASSERT_PTR_NULL(h);
  cJSON_Delete(j);
}

/* ---- gd_json_parse_file ------------------------------------------------ */

static char *tmp;

static const char *tmpfile_with(const char *name, const char *content) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  CU_ASSERT_FATAL(gd_test_write_file(path, content) == 0);
  return path;
}

/* Parses content written to a file and expects failure with exactly
 * "<path><suffix>". */
static void expect_parse_error(const char *content, const char *suffix) {
  const char *path = tmpfile_with("x.json", content);
  struct gd_error err = {0};
  cJSON *doc = (cJSON *)1;
  CU_ASSERT_EQUAL(gd_json_parse_file(path, 4096, &doc, &err), GD_EINVAL);
  CU_ASSERT_PTR_NULL(doc);
  assert_file_msg(&err, path, suffix);
}

static void test_parse_ok(void) {
  tmp = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
  const char *path = tmpfile_with("ok.json", "\n  {\"a\": [1, 2], \"b\": \"c\"}\n\n");
  struct gd_error err = {0};
  cJSON *doc = NULL;
  CU_ASSERT_EQUAL(gd_json_parse_file(path, 4096, &doc, &err), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "a")), 2);
  CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(doc, "b")->valuestring, "c");
  cJSON_Delete(doc);
}

static void test_parse_errors(void) {
  /* "not JSON" */
  expect_parse_error("hello world\n", ":1:1: invalid JSON near 'hello world'");
  /* A syntax error on line 3: the column points at the bad token. */
  expect_parse_error("{\n  \"a\": 1,\n  \"b\": tru\n}\n",
                     ":3:8: invalid JSON near 'tru'");
  expect_parse_error("{\"a\": 1,}", ":1:9: invalid JSON near '}'");
  expect_parse_error("{\"a\": 1,}\n\n", ":1:9: invalid JSON near '}'");
  expect_parse_error("{\"a\": \"abc", ":1:11: invalid JSON: unexpected end of file");
  expect_parse_error("{\"a\": \"x\\qy\"}", ":1:9: invalid JSON near '\\qy\"}'");
  expect_parse_error("{1: 2}", ":1:2: invalid JSON near '1: 2}'");
  expect_parse_error("{\"a\": 1,\n  ,}", ":2:3: invalid JSON near ',}'");
  expect_parse_error("[1,2x]", ":1:5: invalid JSON near 'x]'");
  expect_parse_error("{\"a\": [1, 2}", ":1:12: invalid JSON near '}'");
  /* Truncated file. */
  expect_parse_error("{\n  \"a\": [1, 2\n", ":3:1: invalid JSON: unexpected end of file");
  expect_parse_error("{\"a\": 1} {\"b\": 2}", ":1:10: invalid JSON near '{\"b\": 2}'");
  expect_parse_error("", ": file is empty");
  expect_parse_error(" \n\t\n", ": file is empty");
  expect_parse_error("[1, 2]", ": the top level must be an object, got an array");
  expect_parse_error("\"str\"", ": the top level must be an object, got 'str'");
}

static void test_parse_nul_byte(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/nul.json", tmp);
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fwrite("{}\n\0{", 1, 5, f);
  fclose(f);
  struct gd_error err = {0};
  cJSON *doc = NULL;
  CU_ASSERT_EQUAL(gd_json_parse_file(path, 4096, &doc, &err), GD_EINVAL);
  CU_ASSERT_PTR_NULL(doc);
  assert_file_msg(&err, path, ":2:1: invalid JSON: NUL byte");
}

static void test_parse_missing_file(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/absent.json", tmp);
  struct gd_error err = {0};
  cJSON *doc = NULL;
  CU_ASSERT_EQUAL(gd_json_parse_file(path, 4096, &doc, &err), GD_EIO);
  assert_file_msg(&err, path, ": cannot open: No such file or directory");
  /* A directory is not a scenario. */
  CU_ASSERT_EQUAL(gd_json_parse_file(tmp, 4096, &doc, &err), GD_EINVAL);
  CU_ASSERT_PTR_NULL(doc);
}

/* Writes n bytes of c (then tail) to tmp/name. */
static const char *write_fill(const char *name, char c, size_t n,
                              const char *tail) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  char block[65536];
  memset(block, c, sizeof block);
  for (size_t left = n; left;) {
    size_t k = left < sizeof block ? left : sizeof block;
    CU_ASSERT_FATAL(fwrite(block, 1, k, f) == k);
    left -= k;
  }
  if (tail) fputs(tail, f);
  CU_ASSERT_FATAL(fclose(f) == 0);
  return path;
}

static void test_parse_too_big(void) {
  const char *path = write_fill("huge.json", '[', 100u * 1024 * 1024, NULL);
  struct gd_error err = {0};
  cJSON *doc = NULL;
  CU_ASSERT_EQUAL(gd_json_parse_file(path, 16u * 1024 * 1024, &doc, &err),
                  GD_EINVAL);
  CU_ASSERT_PTR_NULL(doc);
  assert_file_msg(&err, path, ": file is 104857600 bytes, more than the 16777216 allowed");
  remove(path);
}

static void test_parse_deep_nesting(void) {
  /* 1 MB of '[': far past cJSON's limit, and the stack must survive it. */
  char path[4096];
  snprintf(path, sizeof path, "%s",
           write_fill("deep.json", '[', 1024 * 1024, NULL));
  struct gd_error err = {0};
  cJSON *doc = NULL;
  CU_ASSERT_EQUAL(gd_json_parse_file(path, 16u * 1024 * 1024, &doc, &err),
                  GD_EINVAL);
  CU_ASSERT_PTR_NULL(doc);
  assert_file_msg(&err, path, ":1:1001: invalid JSON: nesting too deep (more than 1000 levels)");

  /* Object nesting, one level per line, valid JSON so far. */
  size_t levels = 1500;
  char *obj = malloc(levels * 6 + 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
  for (size_t i = 0; i < levels; i++) memcpy(obj + i * 6, "{\"a\":\n", 6);
  obj[levels * 6] = 0;
  const char *p2 = tmpfile_with("deepobj.json", obj);
  free(obj);
  CU_ASSERT_EQUAL(gd_json_parse_file(p2, 16u * 1024 * 1024, &doc, &err),
                  GD_EINVAL);
  assert_file_msg(&err, p2, ":1001:1: invalid JSON: nesting too deep (more than 1000 levels)");

  /* Exactly at the limit parses. */
  char *ok = malloc(2 * 999 + 16);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ok);
  size_t o = 0;
  ok[o++] = '{';
  memcpy(ok + o, "\"a\":", 4);
  o += 4;
  for (int i = 0; i < 999; i++) ok[o++] = '[';
  for (int i = 0; i < 999; i++) ok[o++] = ']';
  ok[o++] = '}';
  ok[o] = 0;
  const char *p3 = tmpfile_with("limit.json", ok);
  free(ok);
  CU_ASSERT_EQUAL(gd_json_parse_file(p3, 16u * 1024 * 1024, &doc, &err), 0);
  CU_ASSERT_PTR_NOT_NULL(doc);
  cJSON_Delete(doc);
}

static void test_cleanup(void) {
  gd_test_rmrf(tmp);
  free(tmp);
  tmp = NULL;
}

int main(void) {
  static const struct gd_test tests[] = {
      {"path helpers", test_paths},
      {"check_keys: unknown and duplicate keys", test_check_keys},
      {"get_int: types, ranges, numeric strings", test_get_int},
      {"get_double, get_bool, get_string", test_get_double_bool_string},
      {"get_ms and get_object", test_get_ms_object},
      {"get_strv", test_get_strv},
      {"get_headers", test_get_headers},
      {"parse_file: valid file", test_parse_ok},
      {"parse_file: syntax errors with line:column", test_parse_errors},
      {"parse_file: NUL byte", test_parse_nul_byte},
      {"parse_file: missing file, directory", test_parse_missing_file},
      {"parse_file: 100 MB file refused by size", test_parse_too_big},
      {"parse_file: deep nesting", test_parse_deep_nesting},
      {"cleanup", test_cleanup},
      {NULL, NULL},
  };
  return gd_test_run("json", tests);
}

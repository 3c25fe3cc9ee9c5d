/* Unit tests of harness/scenario.c: substitution, variables, validation and
 * the exact messages a user sees for a broken scenario. The fixtures are in
 * tests/data/scenarios/; the http probe and sleep action are the real kinds. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/json.h"
#include "gameday/scenario.h"
#include "testutil.h"

#define MS 1000000ull

/* err->msg must be exactly file followed by suffix. */
static void assert_file_msg(const struct gd_error *err, const char *file,
                            const char *suffix) {
  size_t n = strlen(file);
  int ok = strncmp(err->msg, file, n) == 0 && strcmp(err->msg + n, suffix) == 0;
  CU_ASSERT(ok);
  if (!ok)
    printf("\n      got '%s'\n      expected '%s%s'\n", err->msg, file, suffix);
}

static char *fixture(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/data/scenarios/%s", name);
  char *p = strdup(gd_test_src(rel));
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  return p;
}

static void expect_load_error_vars(const char *name, const struct gd_var *vars,
                                   size_t nvars, const char *suffix) {
  char *path = fixture(name);
  struct gd_error err = {0};
  struct gd_scenario *sc = (struct gd_scenario *)1;
  CU_ASSERT_EQUAL(gd_scenario_load(path, vars, nvars, &sc, &err), GD_EINVAL);
  CU_ASSERT_PTR_NULL(sc);
  assert_file_msg(&err, path, suffix);
  free(path);
}

static void expect_load_error(const char *name, const char *suffix) {
  expect_load_error_vars(name, NULL, 0, suffix);
}

static struct gd_scenario *load_ok(const char *name, const struct gd_var *vars,
                                   size_t nvars) {
  char *path = fixture(name);
  struct gd_error err = {0};
  struct gd_scenario *sc = NULL;
  int rc = gd_scenario_load(path, vars, nvars, &sc, &err);
  if (rc) printf("\n      unexpected error: %s\n", err.msg);
  CU_ASSERT_EQUAL(rc, 0);
  free(path);
  return sc;
}

static const char *var(const struct gd_scenario *sc, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(sc->vars, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The probe's plan line shows its URL after substitution. */
static int probe_mentions(const struct gd_probe *p, const char *text) {
  char buf[512] = "";
  if (!p->ops || !p->ops->describe) return 0;
  p->ops->describe(p, buf, sizeof buf);
  return strstr(buf, text) != NULL;
}

/* ---- gd_subst ---------------------------------------------------------- */

static void test_subst(void) {
  cJSON *vars = cJSON_Parse("{\"lb\": \"http://h:1\", \"p\": \"/x\", \"n\": 5}");
  CU_ASSERT_PTR_NOT_NULL_FATAL(vars);
  struct gd_error err = {0};
  char *out = NULL;
  CU_ASSERT_EQUAL(gd_subst("${lb}${p}?a=${p}", vars, "probes.web.url", &out,
                           &err), 0);
  CU_ASSERT_STRING_EQUAL(out, "http://h:1/x?a=/x");
  free(out);
  CU_ASSERT_EQUAL(gd_subst("cost $5, $${lb} is $$ and ${lb}$", vars, "x",
                           &out, &err), 0);
  CU_ASSERT_STRING_EQUAL(out, "cost $5, ${lb} is $$ and http://h:1$");
  free(out);
  CU_ASSERT_EQUAL(gd_subst("", vars, "x", &out, &err), 0);
  CU_ASSERT_STRING_EQUAL(out, "");
  free(out);

  setenv("GD_TEST_SUBST", "from-env", 1);
  CU_ASSERT_EQUAL(gd_subst("[${env:GD_TEST_SUBST}]", NULL, "x", &out, &err),
                  0);
  CU_ASSERT_STRING_EQUAL(out, "[from-env]");
  free(out);
  unsetenv("GD_TEST_SUBST");

  out = (char *)1;
  CU_ASSERT_EQUAL(gd_subst("${env:GD_TEST_SUBST}", vars, "probes.web.url",
                           &out, &err), GD_EINVAL);
  CU_ASSERT_STRING_EQUAL(err.msg, "probes.web.url: environment variable "
                                  "'GD_TEST_SUBST' is not set");
  CU_ASSERT_PTR_NULL(out);
  CU_ASSERT_EQUAL(gd_subst("${lbx}/health", vars, "probes.web.url", &out,
                           &err), GD_EINVAL);
  CU_ASSERT_STRING_EQUAL(err.msg, "probes.web.url: undefined variable 'lbx'");
  /* Only strings are variables. */
  CU_ASSERT_EQUAL(gd_subst("${n}", vars, "fault[1].url", &out, &err),
                  GD_EINVAL);
  CU_ASSERT_STRING_EQUAL(err.msg, "fault[1].url: undefined variable 'n'");
  CU_ASSERT_EQUAL(gd_subst("${lb", vars, "probes.web.url", &out, &err),
                  GD_EINVAL);
  CU_ASSERT_STRING_EQUAL(err.msg, "probes.web.url: unterminated '${'");
  CU_ASSERT_EQUAL(gd_subst("ok ${lb} then ${", vars, "x", &out, &err),
                  GD_EINVAL);
  CU_ASSERT_STRING_EQUAL(err.msg, "x: unterminated '${'");
  cJSON_Delete(vars);
}

/* ---- valid files ------------------------------------------------------- */

static void test_valid(void) {
  struct gd_scenario *sc = load_ok("valid.json", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
  char *path = fixture("valid.json");
  CU_ASSERT_STRING_EQUAL(sc->file, path);
  free(path);
  CU_ASSERT_STRING_EQUAL(sc->name, "instance-termination");
  CU_ASSERT_STRING_EQUAL(sc->description,
                         "Kill one web instance; the LB must keep serving.");
  CU_ASSERT_STRING_EQUAL(sc->environment, "staging");

  /* Variables: numbers and booleans become strings, references resolve. */
  CU_ASSERT_STRING_EQUAL(var(sc, "port"), "18080");
  CU_ASSERT_STRING_EQUAL(var(sc, "lb"), "http://127.0.0.1:18080");
  CU_ASSERT_STRING_EQUAL(var(sc, "ratio"), "0.1");
  CU_ASSERT_STRING_EQUAL(var(sc, "fresh"), "true");
  CU_ASSERT_STRING_EQUAL(var(sc, "label"), "${not a var}");

  CU_ASSERT_EQUAL_FATAL(sc->nprobes, 3);
  CU_ASSERT_STRING_EQUAL(sc->probes[0].name, "frontend");
  CU_ASSERT_STRING_EQUAL(sc->probes[0].path, "probes.frontend");
  CU_ASSERT_EQUAL(sc->probes[0].interval_ns, 20 * MS);
  CU_ASSERT_EQUAL(sc->probes[0].timeout_ns, 500 * MS);
  CU_ASSERT_EQUAL(sc->probes[0].max_inflight, 4);
  CU_ASSERT(probe_mentions(&sc->probes[0], "http://127.0.0.1:18080/health"));
  CU_ASSERT_STRING_EQUAL(sc->probes[1].name, "backend");
  CU_ASSERT_EQUAL(sc->probes[1].interval_ns, 5 * MS); /* "${pause}" */
  CU_ASSERT_EQUAL(sc->probes[1].max_inflight, 1);
  CU_ASSERT(probe_mentions(&sc->probes[1], "http://127.0.0.1:18081/ready"));
  CU_ASSERT_STRING_EQUAL(sc->probes[2].name, "canary");
  CU_ASSERT_EQUAL(gd_scenario_probe_index(sc, "backend"), 1);
  CU_ASSERT_EQUAL(gd_scenario_probe_index(sc, "canary"), 2);
  CU_ASSERT_EQUAL(gd_scenario_probe_index(sc, "nope"), -1);

  CU_ASSERT_EQUAL_FATAL(sc->guards.n, 1);
  CU_ASSERT_EQUAL(sc->guards.idx[0], 2);
  CU_ASSERT_EQUAL_FATAL(sc->steady.n, 2);
  CU_ASSERT_EQUAL(sc->steady.idx[0], 0);
  CU_ASSERT_EQUAL(sc->steady.idx[1], 1);
  CU_ASSERT_EQUAL(sc->steady_for_ns, 2000 * MS);
  CU_ASSERT_EQUAL(sc->steady_timeout_ns, 12000 * MS);

  CU_ASSERT_EQUAL_FATAL(sc->nfault, 2);
  CU_ASSERT_STRING_EQUAL(sc->fault[0].name, "pause 5 ms");
  CU_ASSERT_STRING_EQUAL(sc->fault[0].path, "fault[0]");
  CU_ASSERT_STRING_EQUAL(sc->fault[1].name, "sleep");
  CU_ASSERT_STRING_EQUAL(sc->fault[1].path, "fault[1]");
  CU_ASSERT_EQUAL(sc->fault[1].timeout_ns, 1000 * MS);

  CU_ASSERT_EQUAL_FATAL(sc->recovery.n, 1);
  CU_ASSERT_EQUAL(sc->recovery.idx[0], 0);
  CU_ASSERT_EQUAL(sc->stable_ns, 1000 * MS);
  CU_ASSERT_EQUAL(sc->recovery_timeout_ns, 60000 * MS);

  CU_ASSERT_EQUAL(sc->nverify, 0);
  CU_ASSERT_EQUAL_FATAL(sc->nrollback, 1);
  CU_ASSERT_STRING_EQUAL(sc->rollback[0].name,
                         "settle ${literal} ${not a var}");
  CU_ASSERT_STRING_EQUAL(sc->rollback[0].path, "rollback[0]");

  CU_ASSERT_EQUAL_FATAL(sc->nthresholds, 5);
  struct {
    const char *name;
    double limit;
    int at_least;
  } want[] = {{"recovery_ms", 15000, 0},
              {"availability", 0.95, 1},
              {"frontend.p99_latency_ms", 250, 0},
              {"backend.availability", 0.5, 1},
              {"fault_max_latency_ms", 1000, 0}};
  for (size_t i = 0; i < 5; i++) {
    CU_ASSERT_STRING_EQUAL(sc->thresholds[i].name, want[i].name);
    CU_ASSERT_DOUBLE_EQUAL(sc->thresholds[i].limit, want[i].limit, 1e-9);
    CU_ASSERT_EQUAL(sc->thresholds[i].at_least, want[i].at_least);
  }
  gd_scenario_free(sc);
}

static void test_minimal_defaults(void) {
  struct gd_scenario *sc = load_ok("minimal.json", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
  CU_ASSERT_STRING_EQUAL(sc->name, "minimal");
  CU_ASSERT_STRING_EQUAL(sc->description, "");
  CU_ASSERT_STRING_EQUAL(sc->environment, "local");
  CU_ASSERT_PTR_NOT_NULL(sc->vars);
  CU_ASSERT_EQUAL(cJSON_GetArraySize(sc->vars), 0);
  CU_ASSERT_EQUAL(sc->nprobes, 1);
  CU_ASSERT_EQUAL(sc->guards.n, 0);
  CU_ASSERT_EQUAL(sc->steady_for_ns, 0);
  CU_ASSERT_EQUAL(sc->steady_timeout_ns, 10000 * MS);
  CU_ASSERT_EQUAL(sc->nfault, 1);
  CU_ASSERT_EQUAL(sc->fault[0].timeout_ns,
                  (uint64_t)GD_ACTION_DEFAULT_TIMEOUT_MS * MS);
  CU_ASSERT_EQUAL(sc->nverify, 0);
  CU_ASSERT_EQUAL(sc->nrollback, 0);
  CU_ASSERT_EQUAL(sc->nthresholds, 0);
  CU_ASSERT_PTR_NULL(sc->thresholds);
  gd_scenario_free(sc);
  gd_scenario_free(NULL);
}

static void test_var_override(void) {
  /* Replaces a variable others depend on, and adds a new one. */
  struct gd_var over[] = {{"port", "19090"}, {"extra", "${host}!"}};
  struct gd_scenario *sc = load_ok("valid.json", over, 2);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
  CU_ASSERT_STRING_EQUAL(var(sc, "port"), "19090");
  CU_ASSERT_STRING_EQUAL(var(sc, "lb"), "http://127.0.0.1:19090");
  CU_ASSERT_STRING_EQUAL(var(sc, "extra"), "127.0.0.1!");
  CU_ASSERT(probe_mentions(&sc->probes[0], "http://127.0.0.1:19090/health"));
  gd_scenario_free(sc);

  /* A variable the file does not define can come from --var. */
  struct gd_var lb[] = {{"lb", "http://127.0.0.1:1"}};
  sc = load_ok("undefined_var.json", lb, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
  CU_ASSERT(probe_mentions(&sc->probes[0], "http://127.0.0.1:1/health"));
  gd_scenario_free(sc);

  struct gd_var bad[] = {{"a b", "1"}};
  expect_load_error_vars("minimal.json", bad, 1,
                         ": --var: invalid variable name 'a b' (letters, "
                         "digits, '_', '-' and '.' only)");
  struct gd_var undef[] = {{"x", "${nope}"}};
  expect_load_error_vars("minimal.json", undef, 1,
                         ": --var x: undefined variable 'nope'");
}

static void test_env_vars(void) {
  unsetenv("GD_TEST_LB_HOST");
  unsetenv("GD_TEST_LB_PATH");
  expect_load_error("env_var.json", ": vars.lb: environment variable "
                                    "'GD_TEST_LB_HOST' is not set");
  setenv("GD_TEST_LB_HOST", "127.0.0.2", 1);
  expect_load_error("env_var.json", ": probes.web.url: environment variable "
                                    "'GD_TEST_LB_PATH' is not set");
  setenv("GD_TEST_LB_PATH", "/ping", 1);
  struct gd_scenario *sc = load_ok("env_var.json", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
  CU_ASSERT_STRING_EQUAL(var(sc, "lb"), "http://127.0.0.2:18080");
  CU_ASSERT(probe_mentions(&sc->probes[0], "http://127.0.0.2:18080/ping"));
  gd_scenario_free(sc);
  unsetenv("GD_TEST_LB_HOST");
  unsetenv("GD_TEST_LB_PATH");
}

/* ---- invalid files ----------------------------------------------------- */

static void test_file_errors(void) {
  expect_load_error("unknown_key.json", ": bogus: unknown key 'bogus'");
  expect_load_error("missing_recovery.json",
                    ": recovery: required key missing");
  expect_load_error("negative_interval.json",
                    ": probes.web.interval_ms: must be at least 1, got -5");
  expect_load_error("timeout_zero.json",
                    ": probes.web.timeout_ms: must be at least 1, got 0");
  expect_load_error("unknown_recovery_probe.json",
                    ": recovery.probes[1]: unknown probe 'bakend'");
  expect_load_error(
      "unknown_threshold.json",
      ": thresholds.recovery_msx: unknown figure 'recovery_msx' (did you "
      "mean 'recovery_ms'?); known: recovery_ms, detection_ms, downtime_ms, "
      "availability, p50/p99/max_latency_ms (also prefixed baseline_, fault_ "
      "or after_), skipped, the probe and action kinds' figures, and the "
      "same per probe as 'web.recovery_ms'");
  expect_load_error("undefined_var.json",
                    ": probes.web.url: undefined variable 'lb'");
  expect_load_error("var_cycle.json", ": vars.a: variable cycle through 'b'");
  expect_load_error("duplicate_key.json",
                    ": probes.web: duplicate key 'url'");
  expect_load_error("truncated.json",
                    ":8:1: invalid JSON: unexpected end of file");
  expect_load_error("not_json.json", ":1:1: invalid JSON near 'name: not-json'");
  expect_load_error("empty.json", ": file is empty");

  struct gd_error err = {0};
  struct gd_scenario *sc = (struct gd_scenario *)1;
  char *path = fixture("no_such_file.json");
  CU_ASSERT_EQUAL(gd_scenario_load(path, NULL, 0, &sc, &err), GD_EIO);
  CU_ASSERT_PTR_NULL(sc);
  assert_file_msg(&err, path, ": cannot open: No such file or directory");
  free(path);
}

/* Writes n bytes of c to path. */
static void write_fill(const char *path, char c, size_t n) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  char block[65536];
  memset(block, c, sizeof block);
  for (size_t left = n; left;) {
    size_t k = left < sizeof block ? left : sizeof block;
    CU_ASSERT_FATAL(fwrite(block, 1, k, f) == k);
    left -= k;
  }
  CU_ASSERT_FATAL(fclose(f) == 0);
}

static void test_huge_and_deep_files(void) {
  char *dir = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  char path[4096];
  struct gd_error err = {0};
  struct gd_scenario *sc = (struct gd_scenario *)1;

  /* Refused by its size, before anything is read. */
  snprintf(path, sizeof path, "%s/huge.json", dir);
  write_fill(path, '[', 100u * 1024 * 1024);
  CU_ASSERT_EQUAL(gd_scenario_load(path, NULL, 0, &sc, &err), GD_EINVAL);
  CU_ASSERT_PTR_NULL(sc);
  assert_file_msg(&err, path,
                  ": file is 104857600 bytes, more than the 16777216 allowed");
  remove(path);

  /* Small enough to read, far too deep to parse: an error, not a crash. */
  snprintf(path, sizeof path, "%s/deep.json", dir);
  write_fill(path, '[', 1024 * 1024);
  sc = (struct gd_scenario *)1;
  CU_ASSERT_EQUAL(gd_scenario_load(path, NULL, 0, &sc, &err), GD_EINVAL);
  CU_ASSERT_PTR_NULL(sc);
  assert_file_msg(&err, path,
                  ":1:1001: invalid JSON: nesting too deep (more than 1000 "
                  "levels)");
  gd_test_rmrf(dir);
  free(dir);
}

/* ---- documents built in the test --------------------------------------- */

static cJSON *minimal_doc(void) {
  char *path = fixture("minimal.json");
  char *text = gd_test_read_file(path);
  free(path);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  cJSON *doc = cJSON_Parse(text);
  free(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  return doc;
}

/* Sets obj.key to the JSON value text (NULL removes the key). */
static void set(cJSON *obj, const char *key, const char *json) {
  cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
  if (!json) return;
  cJSON *v = cJSON_Parse(json);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  cJSON_AddItemToObject(obj, key, v);
}

static cJSON *web(cJSON *doc) {
  return cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "probes"), "web");
}

/* Runs from_json on doc and expects "inline.json: <msg>", with doc left as
 * it was. Frees doc. */
static void expect_doc_error_vars(cJSON *doc, const struct gd_var *vars,
                                  size_t nvars, const char *msg) {
  char *before = cJSON_PrintUnformatted(doc);
  struct gd_error err = {0};
  struct gd_scenario *sc = (struct gd_scenario *)1;
  CU_ASSERT_EQUAL(gd_scenario_from_json(doc, "inline.json", vars, nvars, &sc,
                                        &err), GD_EINVAL);
  CU_ASSERT_PTR_NULL(sc);
  assert_file_msg(&err, "inline.json: ", msg);
  char *after = cJSON_PrintUnformatted(doc);
  CU_ASSERT_STRING_EQUAL(before, after);
  free(before);
  free(after);
  cJSON_Delete(doc);
}

static void expect_doc_error(cJSON *doc, const char *msg) {
  expect_doc_error_vars(doc, NULL, 0, msg);
}

static void test_top_level_errors(void) {
  cJSON *doc = minimal_doc();
  set(doc, "name", NULL);
  expect_doc_error(doc, "name: required key missing");
  doc = minimal_doc();
  set(doc, "name", "\"a b\"");
  expect_doc_error(doc, "name: must be letters, digits, '.', '_' or '-', "
                        "got 'a b'");
  doc = minimal_doc();
  set(doc, "name", "\"..\"");
  expect_doc_error(doc, "name: must be letters, digits, '.', '_' or '-', "
                        "got '..'");
  doc = minimal_doc();
  set(doc, "name", "7");
  expect_doc_error(doc, "name: must be a string, got 7");
  doc = minimal_doc();
  set(doc, "environment", "[]");
  expect_doc_error(doc, "environment: must be a string, got an array");
  doc = minimal_doc();
  set(doc, "probes", "{}");
  expect_doc_error(doc, "probes: must not be empty");
  doc = minimal_doc();
  set(doc, "probes", "[]");
  expect_doc_error(doc, "probes: must be an object, got an array");
  doc = minimal_doc();
  set(doc, "probes", "{\"a.b\": {}}");
  expect_doc_error(doc, "probes: invalid probe name 'a.b' (letters, digits, "
                        "'_' and '-' only)");
  doc = minimal_doc();
  set(web(doc), "type", "\"htttp\"");
  {
    /* The message lists every kind of the table (which grows), starting
     * with the core ones. */
    char known[GD_ERROR_MAX], want[GD_ERROR_MAX + 200];
    gd_probe_kind_names(known, sizeof known);
    CU_ASSERT_EQUAL(strncmp(known, "http, tcp, exec, postgres", 25), 0);
    snprintf(want, sizeof want,
             "probes.web.type: unknown probe type 'htttp' (known: %s)", known);
    expect_doc_error(doc, want);
  }

  doc = cJSON_Parse("[1]");
  expect_doc_error(doc, "the top level must be an object");
}

static void test_probe_set_errors(void) {
  cJSON *doc = minimal_doc();
  set(doc, "guards", "[\"web\", \"x\"]");
  expect_doc_error(doc, "guards[1]: unknown probe 'x'");
  doc = minimal_doc();
  set(doc, "guards", "[\"web\", \"web\"]");
  expect_doc_error(doc, "guards[1]: duplicate probe 'web'");
  doc = minimal_doc();
  set(doc, "guards", "\"web\"");
  expect_doc_error(doc, "guards: must be an array of strings, got 'web'");

  doc = minimal_doc();
  set(doc, "steady_state", "{\"probes\": [\"web\"]}");
  expect_doc_error(doc, "steady_state.for_ms: required key missing");
  doc = minimal_doc();
  set(doc, "steady_state", "{\"probes\": [], \"for_ms\": 0}");
  expect_doc_error(doc, "steady_state.probes: must not be empty");
  doc = minimal_doc();
  set(doc, "steady_state", "{\"probes\": [\"web\"], \"for\": 0}");
  expect_doc_error(doc, "steady_state: unknown key 'for'");
  doc = minimal_doc();
  set(doc, "steady_state",
      "{\"probes\": [\"web\"], \"for_ms\": -1}");
  expect_doc_error(doc, "steady_state.for_ms: must be at least 0, got -1");
  doc = minimal_doc();
  set(doc, "steady_state",
      "{\"probes\": [\"web\"], \"for_ms\": 10, \"timeout_ms\": 0}");
  expect_doc_error(doc, "steady_state.timeout_ms: must be at least 1, got 0");
  doc = minimal_doc();
  set(doc, "steady_state",
      "{\"probes\": [\"web\"], \"for_ms\": 2000, \"timeout_ms\": 1000}");
  expect_doc_error(doc, "steady_state.timeout_ms: must be at least for_ms "
                        "(2000), got 1000");

  doc = minimal_doc();
  set(doc, "recovery", "{\"probes\": [\"web\"], \"stable_for_ms\": 0}");
  expect_doc_error(doc, "recovery.timeout_ms: required key missing");
  doc = minimal_doc();
  set(doc, "recovery",
      "{\"probes\": [\"web\"], \"stable_for_ms\": 5, \"timeout_ms\": 0}");
  expect_doc_error(doc, "recovery.timeout_ms: must be at least 1, got 0");
  doc = minimal_doc();
  set(doc, "recovery",
      "{\"probes\": [\"web\"], \"stable_for_ms\": 5000, \"timeout_ms\": 10}");
  expect_doc_error(doc, "recovery.timeout_ms: must be at least stable_for_ms "
                        "(5000), got 10");
}

static void test_action_errors(void) {
  cJSON *doc = minimal_doc();
  set(doc, "fault", "[]");
  expect_doc_error(doc, "fault: must not be empty");
  doc = minimal_doc();
  set(doc, "fault", NULL);
  expect_doc_error(doc, "fault: required key missing");
  doc = minimal_doc();
  set(doc, "fault", "{\"type\": \"sleep\", \"ms\": 1}");
  expect_doc_error(doc, "fault: must be an array of actions");
  doc = minimal_doc();
  set(doc, "fault", "[{\"type\": \"sleep\", \"ms\": 1},"
                    " {\"type\": \"sleep\", \"ms\": -1}]");
  expect_doc_error(doc, "fault[1].ms: must be at least 0, got -1");
  /* Substitution errors name array elements the same way. */
  doc = minimal_doc();
  set(doc, "fault", "[{\"type\": \"sleep\", \"ms\": 1},"
                    " {\"type\": \"sleep\", \"name\": \"${nope}\", \"ms\": 1}]");
  expect_doc_error(doc, "fault[1].name: undefined variable 'nope'");
  doc = minimal_doc();
  set(doc, "rollback", "[{\"type\": \"sleep\"}]");
  expect_doc_error(doc, "rollback[0].ms: required key missing");
  doc = minimal_doc();
  set(doc, "verify", "[{\"type\": \"sleep\", \"ms\": 1, \"bogus\": 1}]");
  expect_doc_error(doc, "verify[0]: unknown key 'bogus'");
}

static void test_threshold_errors(void) {
  cJSON *doc = minimal_doc();
  set(doc, "thresholds", "{\"availability\": 1.5}");
  expect_doc_error(doc, "thresholds.availability: must be at most 1, got 1.5");
  doc = minimal_doc();
  set(doc, "thresholds", "{\"web.availability\": -0.1}");
  expect_doc_error(doc,
                   "thresholds.web.availability: must be at least 0, got -0.1");
  doc = minimal_doc();
  set(doc, "thresholds", "{\"recovery_ms\": \"soon\"}");
  expect_doc_error(doc,
                   "thresholds.recovery_ms: must be a finite number, got 'soon'");
  doc = minimal_doc();
  set(doc, "thresholds", "{\"recovery_ms\": 1e999}");
  expect_doc_error(doc, "thresholds.recovery_ms: must be a finite number, got "
                        "inf");
  doc = minimal_doc();
  set(doc, "thresholds", "{\"other.recovery_ms\": 5}");
  expect_doc_error(
      doc,
      "thresholds.other.recovery_ms: unknown figure 'other.recovery_ms'; "
      "known: recovery_ms, detection_ms, downtime_ms, availability, "
      "p50/p99/max_latency_ms (also prefixed baseline_, fault_ or after_), "
      "skipped, the probe and action kinds' figures, and the same per probe "
      "as 'web.recovery_ms'");
  doc = minimal_doc();
  set(doc, "thresholds", "[]");
  expect_doc_error(doc, "thresholds: must be an object, got an array");
}

static void test_var_errors(void) {
  cJSON *doc = minimal_doc();
  set(doc, "vars", "{\"a\": \"${a}\"}");
  expect_doc_error(doc, "vars.a: variable cycle through 'a'");
  doc = minimal_doc();
  set(doc, "vars", "{\"a\": \"${b}\", \"b\": \"${zz}\"}");
  expect_doc_error(doc, "vars.b: undefined variable 'zz'");
  doc = minimal_doc();
  set(doc, "vars", "{\"a\": [1]}");
  expect_doc_error(doc, "vars.a: must be a string, number or boolean, got an "
                        "array");
  doc = minimal_doc();
  set(doc, "vars", "{\"a}\": \"1\"}");
  expect_doc_error(doc, "vars.a}: invalid variable name 'a}' (letters, "
                        "digits, '_', '-' and '.' only)");
  doc = minimal_doc();
  set(doc, "vars", "[]");
  expect_doc_error(doc, "vars: must be an object, got an array");
  doc = minimal_doc();
  set(web(doc), "url", "\"${lb\"");
  expect_doc_error(doc, "probes.web.url: unterminated '${'");
  /* A cycle through --var too. */
  doc = minimal_doc();
  set(doc, "vars", "{\"a\": \"${b}\"}");
  struct gd_var over[] = {{"b", "${a}"}};
  expect_doc_error_vars(doc, over, 1, "vars.a: variable cycle through 'b'");
  /* Keys are never substituted, and "vars" itself is not a target. */
  doc = minimal_doc();
  set(doc, "vars", "{\"x\": \"$${y}\"}");
  set(doc, "description", "\"${x}\"");
  struct gd_error err = {0};
  struct gd_scenario *sc = NULL;
  CU_ASSERT_EQUAL(gd_scenario_from_json(doc, NULL, NULL, 0, &sc, &err), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
  CU_ASSERT_STRING_EQUAL(sc->description, "${y}");
  CU_ASSERT_STRING_EQUAL(sc->file, "");
  gd_scenario_free(sc);
  cJSON_Delete(doc);
  /* Without a file name messages carry no prefix. */
  doc = minimal_doc();
  set(doc, "bogus", "1");
  CU_ASSERT_EQUAL(gd_scenario_from_json(doc, NULL, NULL, 0, &sc, &err),
                  GD_EINVAL);
  CU_ASSERT_STRING_EQUAL(err.msg, "bogus: unknown key 'bogus'");
  cJSON_Delete(doc);
}

static void test_duplicates_anywhere(void) {
  /* A key repeated deep inside a kind's own object is caught too. */
  cJSON *doc = minimal_doc();
  cJSON *expect = cJSON_CreateObject();
  cJSON_AddNumberToObject(expect, "status", 200);
  cJSON_AddNumberToObject(expect, "status", 204);
  cJSON_AddItemToObject(web(doc), "expect", expect);
  expect_doc_error(doc, "probes.web.expect: duplicate key 'status'");
  doc = minimal_doc();
  cJSON_AddStringToObject(doc, "name", "again");
  expect_doc_error(doc, "name: duplicate key 'name'");
  doc = minimal_doc();
  set(doc, "fault", "[{\"type\": \"sleep\", \"ms\": 1}]");
  cJSON_AddNumberToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "fault"), 0),
                          "ms", 2);
  expect_doc_error(doc, "fault[0]: duplicate key 'ms'");
}

/* Safety rules: required outside "local", checked per target, capped. */
static void test_safety(void) {
  cJSON *doc = minimal_doc();
  set(doc, "environment", "\"staging\"");
  expect_doc_error(doc, "safety.required_tags: required when environment is "
                        "'staging' (the tags every target must carry, e.g. "
                        "{\"Environment\": \"staging\"})");
  doc = minimal_doc();
  set(doc, "environment", "\"staging\"");
  set(doc, "safety", "{\"required_tags\": {}}");
  expect_doc_error(doc, "safety.required_tags: required when environment is "
                        "'staging' (the tags every target must carry, e.g. "
                        "{\"Environment\": \"staging\"})");
  doc = minimal_doc();
  set(doc, "safety", "{\"required_tags\": {\"Env\": 1}}");
  expect_doc_error(doc, "safety.required_tags.Env: must be a string");
  doc = minimal_doc();
  set(doc, "safety", "{\"max_target\": 1}");
  expect_doc_error(doc, "safety: unknown key 'max_target'");
  doc = minimal_doc();
  set(doc, "safety", "{\"max_targets\": 0}");
  expect_doc_error(doc, "safety.max_targets: must be at least 1, got 0");

  /* The valid file: Environment=staging, at most 2. */
  struct gd_scenario *sc = load_ok("valid.json", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
  CU_ASSERT_EQUAL(sc->nrequired_tags, 1);
  CU_ASSERT_EQUAL(gd_scenario_max_targets(sc), 2);
  struct gd_error err = {0};
  struct gd_tag ok[] = {{"Name", "web-1"}, {"Environment", "staging"}};
  struct gd_tag prod[] = {{"Environment", "production"}};
  struct gd_tag none[] = {{"Name", "web-1"}};
  CU_ASSERT_EQUAL(gd_scenario_check_tags(sc, "i-1", ok, 2, &err), 0);
  CU_ASSERT_EQUAL(gd_scenario_check_tags(sc, "i-2", prod, 1, &err), GD_EPERM);
  CU_ASSERT_STRING_EQUAL(err.msg, "target 'i-2': tag Environment is "
                                  "'production', required 'staging'");
  CU_ASSERT_EQUAL(gd_scenario_check_tags(sc, "i-3", none, 1, &err), GD_EPERM);
  CU_ASSERT_STRING_EQUAL(err.msg, "target 'i-3': missing required tag "
                                  "Environment=staging");
  CU_ASSERT_EQUAL(gd_scenario_check_tags(sc, "i-4", NULL, 0, &err), GD_EPERM);
  /* Without max_targets: one target outside local, no cap in local. */
  sc->max_targets = 0;
  CU_ASSERT_EQUAL(gd_scenario_max_targets(sc), 1);
  gd_scenario_free(sc);
  sc = load_ok("minimal.json", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
  CU_ASSERT_EQUAL(gd_scenario_max_targets(sc), SIZE_MAX);
  CU_ASSERT_EQUAL(gd_scenario_check_tags(sc, "i-4", NULL, 0, &err), 0);
  CU_ASSERT_EQUAL(gd_scenario_check_tags(NULL, "i-4", NULL, 0, &err), 0);
  gd_scenario_free(sc);
}

/* compare names a probe of the scenario, which is then captured; its
 * figure is a figure thresholds may name. */
static void test_compare_links(void) {
  cJSON *doc = minimal_doc();
  set(doc, "verify", "[{\"type\": \"compare\", \"probe\": \"nope\"}]");
  expect_doc_error(doc, "verify[0].probe: no probe named 'nope'");
  doc = minimal_doc();
  set(doc, "verify", "[{\"type\": \"compare\", \"probe\": \"web\", "
                     "\"against\": \"nope\"}]");
  expect_doc_error(doc, "verify[0].against: no probe named 'nope'");
  doc = minimal_doc();
  set(doc, "verify", "[{\"type\": \"compare\", \"probe\": \"nope\", "
                     "\"against\": \"web\"}]");
  expect_doc_error(doc, "verify[0].probe: no probe named 'nope'");
  doc = minimal_doc();
  set(doc, "verify", "[{\"type\": \"compare\", \"probe\": \"web\", "
                     "\"figure\": \"\"}]");
  expect_doc_error(doc, "verify[0].figure: must not be empty");
  doc = minimal_doc();
  set(doc, "thresholds", "{\"rows_lost\": 0}");
  set(doc, "verify", "[{\"type\": \"compare\", \"probe\": \"web\"}]");
  expect_doc_error(doc, "thresholds.rows_lost: unknown figure 'rows_lost'; "
                        "known: recovery_ms, detection_ms, downtime_ms, "
                        "availability, p50/p99/max_latency_ms (also prefixed "
                        "baseline_, fault_ or after_), skipped, the probe and "
                        "action kinds' figures, and the same per probe as "
                        "'web.recovery_ms'");
  doc = minimal_doc();
  set(doc, "thresholds", "{\"rows_lost\": 0}");
  set(doc, "verify", "[{\"type\": \"compare\", \"probe\": \"web\", "
                     "\"figure\": \"rows_lost\"}]");
  struct gd_error err = {0};
  struct gd_scenario *sc = NULL;
  CU_ASSERT_EQUAL(gd_scenario_from_json(doc, "inline.json", NULL, 0, &sc, &err), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
  CU_ASSERT_EQUAL(sc->probes[0].capture, 1);
  CU_ASSERT_EQUAL(sc->probes[0].want_text, 1);
  CU_ASSERT_EQUAL(sc->nthresholds, 1);
  gd_scenario_free(sc);
  cJSON_Delete(doc);
}

static void test_threshold_known(void) {
  struct gd_scenario *sc = load_ok("valid.json", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
  struct {
    const char *name;
    int known, at_least;
  } cases[] = {
      {"detection_ms", 1, 0},
      {"recovery_ms", 1, 0},
      {"downtime_ms", 1, 0},
      {"availability", 1, 1},
      {"p50_latency_ms", 1, 0},
      {"max_latency_ms", 1, 0},
      {"baseline_p99_latency_ms", 1, 0},
      {"after_max_latency_ms", 1, 0},
      {"skipped", 1, 0},
      {"frontend.availability", 1, 1},
      {"backend.skipped", 1, 0},
      {"canary.recovery_ms", 1, 0},
      {"baseline_availability", 0, 0},
      {"frontend.baseline_p99_latency_ms", 0, 0},
      {"nope.recovery_ms", 0, 0},
      {"frontend.", 0, 0},
      {"frontend", 0, 0},
      {"", 0, 0},
      {"recovery_msx", 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int at_least = -1;
    int rc = gd_threshold_known(sc, cases[i].name, &at_least);
    CU_ASSERT_EQUAL(rc == 0, cases[i].known);
    if (cases[i].known) CU_ASSERT_EQUAL(at_least, cases[i].at_least);
    if ((rc == 0) != cases[i].known)
      printf("\n      '%s': known=%d\n", cases[i].name, rc == 0);
  }
  CU_ASSERT_EQUAL(gd_threshold_known(sc, "recovery_ms", NULL), 0);
  gd_scenario_free(sc);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"gd_subst", test_subst},
      {"valid scenario: every value", test_valid},
      {"minimal scenario: defaults", test_minimal_defaults},
      {"--var overrides", test_var_override},
      {"${env:NAME}", test_env_vars},
      {"invalid files: exact messages", test_file_errors},
      {"100 MB and 1 MB-deep files", test_huge_and_deep_files},
      {"top level and probes", test_top_level_errors},
      {"guards, steady_state, recovery", test_probe_set_errors},
      {"fault, verify, rollback", test_action_errors},
      {"thresholds", test_threshold_errors},
      {"variables", test_var_errors},
      {"duplicate keys at any depth", test_duplicates_anywhere},
      {"gd_threshold_known", test_threshold_known},
      {"safety: required tags, target cap", test_safety},
      {"compare: probe reference and figure", test_compare_links},
      {NULL, NULL},
  };
  return gd_test_run("scenario", tests);
}

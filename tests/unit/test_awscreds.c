/* The AWS credential chain on the loop: environment, profiles,
 * credential_process, container credentials and IMDSv2 against a loopback
 * stand-in (tests/awsmeta.c), expiry and refresh. Every test runs with a
 * temporary HOME, no AWS_* variable from outside and IMDS disabled unless
 * pointed at the stand-in, so nothing leaves 127.0.0.1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "awsmeta.h"
#include "gameday/awsconfig.h"
#include "gameday/json.h"
#include "httpd.h"
#include "testutil.h"

struct got {
  int calls;
  int ok;
  struct gd_aws_creds c;
  struct gd_error err;
};

static void got_cb(const struct gd_aws_creds *c, const struct gd_error *e,
                   void *arg) {
  struct got *g = arg;
  g->calls++;
  gd_aws_creds_clear(&g->c);
  if (c) {
    g->ok = 1;
    CU_ASSERT_EQUAL(gd_aws_creds_copy(&g->c, c), 0);
  } else {
    g->ok = 0;
    g->err = *e;
  }
}

struct fx {
  char *home;
  uv_loop_t loop;
  struct gd_curl *curl;
  struct gd_aws_config *cfg;
  struct gd_aws_credprov *p;
};

static void fx_begin(struct fx *f) {
  memset(f, 0, sizeof *f);
  f->home = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(f->home);
  char p[4096];
  snprintf(p, sizeof p, "%s/.aws", f->home);
  mkdir(p, 0700);
  gd_awsenv_begin(f->home);
  uv_loop_init(&f->loop);
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(gd_curl_new(&f->loop, &f->curl, &err), 0);
}

/* Loads the configuration and makes the provider from the environment and
 * files the test has set up by now. */
static int fx_provider(struct fx *f) {
  struct gd_error err = {0};
  int rc = gd_aws_config_load(&f->cfg, NULL, &err);
  if (rc) printf("\n    config: %s ", err.msg);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc) return rc;
  rc = gd_aws_credprov_new(&f->loop, f->curl, f->cfg, &f->p, &err);
  CU_ASSERT_EQUAL(rc, 0);
  /* The provider keeps what it needs: the config may go at once. */
  gd_aws_config_free(f->cfg);
  f->cfg = NULL;
  return rc;
}

static void run_until(struct fx *f, const int *flag, int want) {
  uint64_t deadline = uv_hrtime() + 10ull * 1000 * 1000 * 1000;
  while (*flag < want && uv_hrtime() < deadline)
    uv_run(&f->loop, UV_RUN_ONCE);
}

/* One get, run to its answer; cb must not run inside the get. */
static void fx_get(struct fx *f, struct got *g) {
  struct gd_error err = {0};
  g->calls = 0;
  g->ok = 0;
  CU_ASSERT_EQUAL_FATAL(gd_aws_credprov_get(f->p, got_cb, g, &err), 0);
  CU_ASSERT_EQUAL(g->calls, 0);
  run_until(f, &g->calls, 1);
  CU_ASSERT_EQUAL(g->calls, 1);
}

#define EXPECT_OK(g)                                                          \
  do {                                                                        \
    if (!(g).ok) printf("\n    get: %s ", (g).err.msg);                        \
    CU_ASSERT_TRUE((g).ok);                                                   \
  } while (0)

static void count_cb(void *arg) { (*(int *)arg)++; }

static void fx_end(struct fx *f) {
  int closed = 0, curl_closed = 0;
  if (f->p) {
    gd_aws_credprov_close(f->p, count_cb, &closed);
    CU_ASSERT_EQUAL(closed, 0); /* from the last close callback */
  }
  gd_curl_close(f->curl, count_cb, &curl_closed);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  if (f->p) CU_ASSERT_EQUAL(closed, 1);
  CU_ASSERT_EQUAL(curl_closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&f->loop), 0);
  gd_aws_config_free(f->cfg);
  gd_awsenv_end();
  gd_test_rmrf(f->home);
  free(f->home);
}

static void put(struct fx *f, const char *rel, const char *content) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", f->home, rel);
  CU_ASSERT_EQUAL_FATAL(gd_test_write_file(p, content), 0);
}

static void put_script(struct fx *f, const char *rel, const char *content) {
  char p[4096];
  put(f, rel, content);
  snprintf(p, sizeof p, "%s/%s", f->home, rel);
  chmod(p, 0755);
}

#define ASSERT_STR(got, want)                                                 \
  do {                                                                        \
    const char *g_ = (got);                                                   \
    CU_ASSERT_PTR_NOT_NULL(g_);                                               \
    if (g_) {                                                                 \
      if (strcmp(g_, (want)) != 0)                                            \
        printf("\n    got '%s', want '%s' ", g_, (want));                     \
      CU_ASSERT_STRING_EQUAL(g_, (want));                                     \
    }                                                                         \
  } while (0)

#define ASSERT_HAS(hay, needle)                                               \
  do {                                                                        \
    if (!strstr((hay), (needle)))                                             \
      printf("\n    '%s' lacks '%s' ", (hay), (needle));                      \
    CU_ASSERT_PTR_NOT_NULL(strstr((hay), (needle)));                          \
  } while (0)

#define ASSERT_LACKS(hay, needle)                                             \
  do {                                                                        \
    if (strstr((hay), (needle)))                                              \
      printf("\n    '%s' leaks '%s' ", (hay), (needle));                      \
    CU_ASSERT_PTR_NULL(strstr((hay), (needle)));                              \
  } while (0)

/* ---- environment and profiles ---------------------------------------- */

static void test_environment(void) {
  struct fx f;
  fx_begin(&f);
  put(&f, ".aws/credentials",
      "[default]\naws_access_key_id = AKIDPROFILE\n"
      "aws_secret_access_key = profile-secret\n");
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  setenv("AWS_SESSION_TOKEN", "env-token", 1);
  if (fx_provider(&f) == 0) {
    /* Nothing cached before the first get. */
    CU_ASSERT_PTR_NULL(gd_aws_credprov_current(f.p));
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    ASSERT_STR(g.c.access_key_id, "AKIDENV");
    ASSERT_STR(g.c.secret_access_key, "env-secret");
    ASSERT_STR(g.c.session_token, "env-token");
    CU_ASSERT_EQUAL(g.c.expiration, 0);
    ASSERT_STR(g.c.source, "environment");
    const struct gd_aws_creds *cur = gd_aws_credprov_current(f.p);
    CU_ASSERT_PTR_NOT_NULL(cur);
    if (cur) ASSERT_STR(cur->access_key_id, "AKIDENV");
    /* The environment was read when the provider was made. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDLATER", 1);
    fx_get(&f, &g);
    ASSERT_STR(g.c.access_key_id, "AKIDENV");
    gd_aws_creds_clear(&g.c);
  }
  fx_end(&f);
}

static void test_environment_partial(void) {
  struct fx f;
  fx_begin(&f);
  setenv("AWS_ACCESS_KEY_ID", "AKIDENVPARTIAL", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    CU_ASSERT_EQUAL(g.err.code, GD_EINVAL);
    ASSERT_HAS(g.err.msg, "AWS_SECRET_ACCESS_KEY is not");
    ASSERT_LACKS(g.err.msg, "AKIDENVPARTIAL");
  }
  fx_end(&f);
}

static void test_profile_static(void) {
  struct fx f;
  fx_begin(&f);
  put(&f, ".aws/credentials",
      "# keys\n[default]\naws_access_key_id = AKIDDEFAULT\n"
      "aws_secret_access_key = default-secret\n"
      "aws_session_token = default-token\n"
      "[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=dev-secret\n");
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    ASSERT_STR(g.c.access_key_id, "AKIDDEFAULT");
    ASSERT_STR(g.c.secret_access_key, "default-secret");
    ASSERT_STR(g.c.session_token, "default-token");
    ASSERT_HAS(g.c.source, "profile 'default' in '");
    ASSERT_HAS(g.c.source, "/.aws/credentials'");
    ASSERT_LACKS(g.c.source, "AKID");
    gd_aws_creds_clear(&g.c);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
    uv_run(&f.loop, UV_RUN_DEFAULT);
  }
  /* AWS_PROFILE picks the section. */
  setenv("AWS_PROFILE", "dev", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    ASSERT_STR(g.c.access_key_id, "AKIDDEV");
    CU_ASSERT_PTR_NULL(g.c.session_token);
    ASSERT_HAS(g.c.source, "profile 'dev'");
    gd_aws_creds_clear(&g.c);
  }
  fx_end(&f);
}

static void test_config_vs_credentials(void) {
  struct fx f;
  fx_begin(&f);
  put(&f, ".aws/config",
      "[profile both]\naws_access_key_id = AKIDCONFIG\n"
      "aws_secret_access_key = config-secret\n"
      "[profile cfgonly]\naws_access_key_id = AKIDCFGONLY\n"
      "aws_secret_access_key = cfgonly-secret\n");
  put(&f, ".aws/credentials",
      "[both]\naws_access_key_id = AKIDCREDS\n"
      "aws_secret_access_key = creds-secret\n");
  setenv("AWS_PROFILE", "both", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    ASSERT_STR(g.c.access_key_id, "AKIDCREDS");
    ASSERT_STR(g.c.secret_access_key, "creds-secret");
    ASSERT_HAS(g.c.source, "/.aws/credentials'");
    gd_aws_creds_clear(&g.c);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  setenv("AWS_PROFILE", "cfgonly", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    ASSERT_STR(g.c.access_key_id, "AKIDCFGONLY");
    ASSERT_HAS(g.c.source, "profile 'cfgonly' in '");
    ASSERT_HAS(g.c.source, "/.aws/config'");
    gd_aws_creds_clear(&g.c);
  }
  fx_end(&f);
}

static void test_profile_errors(void) {
  struct fx f;
  fx_begin(&f);
  put(&f, ".aws/credentials",
      "[half]\naws_access_key_id = AKIDHALF\n"
      "[role]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
      "source_profile = half\n"
      "[sso]\nsso_session = corp\nsso_account_id = 123456789012\n");
  setenv("AWS_PROFILE", "half", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "profile 'half' in '");
    ASSERT_HAS(g.err.msg, "aws_secret_access_key is not");
    ASSERT_LACKS(g.err.msg, "AKIDHALF");
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* A role whose source profile is broken says so through the chain
   * (the role tests proper are in test_awssts.c). */
  setenv("AWS_PROFILE", "role", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "profile 'role': source_profile 'half': ");
    ASSERT_HAS(g.err.msg, "aws_secret_access_key is not");
    ASSERT_LACKS(g.err.msg, "AKIDHALF");
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* SSO profiles are refused by name, not silently skipped. */
  setenv("AWS_PROFILE", "sso", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "profile 'sso'");
    ASSERT_HAS(g.err.msg, "sso_session is not supported");
  }
  fx_end(&f);
}

static void test_no_credentials(void) {
  struct fx f;
  fx_begin(&f);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    CU_ASSERT_EQUAL(g.err.code, GD_ENOTFOUND);
    ASSERT_HAS(g.err.msg, "no aws credentials found");
    ASSERT_HAS(g.err.msg, "environment: AWS_ACCESS_KEY_ID not set");
    ASSERT_HAS(g.err.msg, "profile 'default': no credentials");
    ASSERT_HAS(g.err.msg, "container: not configured");
    ASSERT_HAS(g.err.msg, "instance metadata: disabled");
    /* A failed get is not cached: the next one asks again, and fails the
     * same way. */
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    CU_ASSERT_PTR_NULL(gd_aws_credprov_current(f.p));
  }
  fx_end(&f);
}

/* Web identity comes before the profile's keys and fails on its own
 * terms: no silent fall-through (the STS side is in test_awssts.c). */
static void test_web_identity(void) {
  struct fx f;
  fx_begin(&f);
  put(&f, ".aws/credentials",
      "[default]\naws_access_key_id = AKIDDEF\n"
      "aws_secret_access_key = SECRETDEF\n");
  setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "AWS_WEB_IDENTITY_TOKEN_FILE '/nonexistent/token'");
    ASSERT_HAS(g.err.msg, "set AWS_ROLE_ARN");
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/x", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE "
                          "'/nonexistent/token'): cannot read the token file");
  }
  fx_end(&f);
}

/* ---- credential_process ---------------------------------------------- */

static void set_process(struct fx *f, const char *line) {
  char cfg[8192];
  snprintf(cfg, sizeof cfg, "[default]\ncredential_process = %s\n", line);
  put(f, ".aws/config", cfg);
}

static void test_process(void) {
  struct fx f;
  fx_begin(&f);
  char d[4096], line[8192];
  snprintf(d, sizeof d, "%s/my tools", f.home);
  mkdir(d, 0700);
  /* Words arrive as the SDK splits them: a quoted path with a blank, a
   * single-quoted word, a double-quoted one. */
  put_script(&f, "my tools/creds.sh",
             "#!/bin/sh\n"
             "cat <<EOF\n"
             "{\"Version\": 1, \"AccessKeyId\": \"$1\",\n"
             " \"SecretAccessKey\": \"proc-secret\",\n"
             " \"SessionToken\": \"$2\",\n"
             " \"Expiration\": \"2099-01-01T00:00:00Z\"}\n"
             "EOF\n"
             "echo 'diagnostics on stderr' >&2\n");
  snprintf(line, sizeof line,
           "\"%s/creds.sh\" 'AKIDPROC' \"tok en\"", d);
  set_process(&f, line);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    ASSERT_STR(g.c.access_key_id, "AKIDPROC");
    ASSERT_STR(g.c.secret_access_key, "proc-secret");
    ASSERT_STR(g.c.session_token, "tok en");
    int64_t want;
    CU_ASSERT_EQUAL(gd_aws_parse_time("2099-01-01T00:00:00Z", &want), 0);
    CU_ASSERT_EQUAL(g.c.expiration, want);
    ASSERT_STR(g.c.source, "credential_process of profile 'default'");
    /* Far from expiry: served from the cache. */
    CU_ASSERT_PTR_NOT_NULL(gd_aws_credprov_current(f.p));
    gd_aws_creds_clear(&g.c);
  }
  fx_end(&f);
}

/* Runs the profile's credential_process and expects a failure whose message
 * has want and none of the secrets the script printed. */
static void expect_process_error(const char *script, const char *line,
                                 const char *want) {
  struct fx f;
  fx_begin(&f);
  put_script(&f, "cp.sh", script);
  char l[8192];
  snprintf(l, sizeof l, line, f.home);
  set_process(&f, l);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "credential_process of profile 'default'");
    ASSERT_HAS(g.err.msg, want);
    ASSERT_LACKS(g.err.msg, "AKIDLEAK");
    ASSERT_LACKS(g.err.msg, "SECRETLEAK");
    ASSERT_LACKS(g.err.msg, "TOKENLEAK");
  }
  fx_end(&f);
}

static void test_process_failures(void) {
  /* Exit status and the tool's own last stderr line; never its stdout. */
  expect_process_error("#!/bin/sh\n"
                       "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDLEAK\"}'\n"
                       "echo 'sso session expired, run aws sso login' >&2\n"
                       "exit 3\n",
                       "%s/cp.sh", "exited with status 3: sso session "
                                   "expired, run aws sso login");
  expect_process_error("#!/bin/sh\necho 'garbage AKIDLEAK SECRETLEAK'\n",
                       "%s/cp.sh", "answer is not a JSON object");
  expect_process_error("#!/bin/sh\n"
                       "echo '{\"Version\":2,\"AccessKeyId\":\"AKIDLEAK\","
                       "\"SecretAccessKey\":\"SECRETLEAK\"}'\n",
                       "%s/cp.sh", "unsupported Version 2 (want 1)");
  expect_process_error("#!/bin/sh\n"
                       "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDLEAK\","
                       "\"SessionToken\":\"TOKENLEAK\"}'\n",
                       "%s/cp.sh", "answer has no SecretAccessKey");
  expect_process_error("#!/bin/sh\n"
                       "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDLEAK\","
                       "\"SecretAccessKey\":\"SECRETLEAK\","
                       "\"Expiration\":\"tomorrow\"}'\n",
                       "%s/cp.sh", "Expiration is not an ISO 8601 time");
  expect_process_error("#!/bin/sh\n"
                       "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDLEAK\","
                       "\"SecretAccessKey\":\"SECRETLEAK\","
                       "\"Expiration\":\"2001-01-01T00:00:00Z\"}'\n",
                       "%s/cp.sh", "have expired already");
  expect_process_error("#!/bin/sh\nkill -9 $$\n", "%s/cp.sh",
                       "killed by signal 9");
  expect_process_error("#!/bin/sh\nexit 0\n", "%s/nonexistent-tool --x",
                       "cannot run '");
  /* A broken line is reported without being quoted (it may hold a
   * password argument). */
  expect_process_error("#!/bin/sh\nexit 0\n",
                       "%s/cp.sh --password 'SECRETLEAK",
                       "no closing quotation");
}

static void test_process_refresh(void) {
  struct fx f;
  fx_begin(&f);
  /* Each run prints a new key; the first two expire within the refresh
   * window, the third far away. */
  put_script(&f, "cp.sh",
             "#!/bin/sh\n"
             "n=$(cat \"$HOME/count\" 2>/dev/null || echo 0)\n"
             "n=$((n + 1))\n"
             "echo $n > \"$HOME/count\"\n"
             "if [ $n -le 2 ]; then exp=$(date -u -d '+3 minutes' "
             "+%Y-%m-%dT%H:%M:%SZ); else exp=2099-01-01T00:00:00+00:00; fi\n"
             "printf '{\"Version\":1,\"AccessKeyId\":\"AKID%s\","
             "\"SecretAccessKey\":\"s\",\"Expiration\":\"%s\"}' $n $exp\n");
  char l[4096];
  snprintf(l, sizeof l, "%s/cp.sh", f.home);
  set_process(&f, l);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    ASSERT_STR(g.c.access_key_id, "AKID1");
    /* Inside the refresh window: no fast path, the next get runs it again. */
    CU_ASSERT_PTR_NULL(gd_aws_credprov_current(f.p));
    fx_get(&f, &g);
    ASSERT_STR(g.c.access_key_id, "AKID2");
    fx_get(&f, &g);
    ASSERT_STR(g.c.access_key_id, "AKID3");
    fx_get(&f, &g);
    ASSERT_STR(g.c.access_key_id, "AKID3");
    CU_ASSERT_PTR_NOT_NULL(gd_aws_credprov_current(f.p));
    char p[4096];
    snprintf(p, sizeof p, "%s/count", f.home);
    char *n = gd_test_read_file(p);
    CU_ASSERT_PTR_NOT_NULL(n);
    if (n) CU_ASSERT_EQUAL(atoi(n), 3);
    free(n);
    gd_aws_creds_clear(&g.c);
  }
  fx_end(&f);
}

/* Closing while the process runs kills it and still closes cleanly. */
static void test_process_close_while_running(void) {
  struct fx f;
  fx_begin(&f);
  put_script(&f, "cp.sh", "#!/bin/sh\nexec sleep 30\n");
  char l[4096];
  snprintf(l, sizeof l, "%s/cp.sh", f.home);
  set_process(&f, l);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    struct gd_error err = {0};
    CU_ASSERT_EQUAL(gd_aws_credprov_get(f.p, got_cb, &g, &err), 0);
    for (int i = 0; i < 5; i++) uv_run(&f.loop, UV_RUN_NOWAIT);
    CU_ASSERT_EQUAL(g.calls, 0);
    uint64_t t0 = uv_hrtime();
    fx_end(&f);
    CU_ASSERT_EQUAL(g.calls, 1);
    CU_ASSERT_EQUAL(g.err.code, GD_ECANCELED);
    CU_ASSERT_TRUE(uv_hrtime() - t0 < 5ull * 1000 * 1000 * 1000);
    return;
  }
  fx_end(&f);
}

/* ---- container credentials ------------------------------------------- */

static void test_container_url_rules(void) {
  char *home = gd_test_tmpdir();
  gd_awsenv_begin(home);
  char url[512];
  struct gd_error err = {0};
  CU_ASSERT_EQUAL(gd_aws_container_url(url, sizeof url, &err), GD_ENOTFOUND);
  static const struct {
    const char *full;
    int ok;
  } cases[] = {
      {"http://127.0.0.1:8080/creds", 1},
      {"http://127.1.2.3/creds", 1},
      {"http://localhost/creds", 1},
      {"http://[::1]:80/creds", 1},
      {"http://169.254.170.23/v1/credentials", 1},
      {"http://[fd00:ec2::23]/v1/credentials", 1},
      {"https://creds.example.com/x", 1},
      {"http://creds.example.com/x", 0},
      {"http://169.254.169.254/latest", 0},
      {"http://10.0.0.1/creds", 0},
      {"ftp://127.0.0.1/creds", 0},
      {"not a url", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", cases[i].full, 1);
    int rc = gd_aws_container_url(url, sizeof url, &err);
    if ((rc == 0) != cases[i].ok)
      printf("\n    %s: rc %d (%s) ", cases[i].full, rc, err.msg);
    CU_ASSERT_EQUAL(rc == 0, cases[i].ok);
    if (rc == 0) ASSERT_STR(url, cases[i].full);
    else ASSERT_HAS(err.msg, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  }
  /* The relative URI wins and goes to the ECS agent's fixed address (only
   * computed here, never contacted). */
  setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc", 1);
  CU_ASSERT_EQUAL(gd_aws_container_url(url, sizeof url, &err), 0);
  ASSERT_STR(url, "http://169.254.170.2/v2/credentials/abc");
  gd_awsenv_end();
  gd_test_rmrf(home);
  free(home);
}

static void test_container(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  snprintf(m.container_auth, sizeof m.container_auth, "Bearer env-auth-token");
  struct fx f;
  fx_begin(&f);
  char url[256];
  snprintf(url, sizeof url, "%s%s", m.base, m.container_path);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer env-auth-token", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    char want[64];
    fx_get(&f, &g);
    EXPECT_OK(g);
    gd_awsmeta_key(want, sizeof want, "cont", "akid", 1);
    ASSERT_STR(g.c.access_key_id, want);
    gd_awsmeta_key(want, sizeof want, "cont", "secret", 1);
    ASSERT_STR(g.c.secret_access_key, want);
    gd_awsmeta_key(want, sizeof want, "cont", "token", 1);
    ASSERT_STR(g.c.session_token, want);
    CU_ASSERT_TRUE(g.c.expiration > time(NULL) + 3000);
    ASSERT_HAS(g.c.source, "container credentials (http://127.0.0.1:");
    pthread_mutex_lock(&m.mu);
    ASSERT_STR(m.last_auth, "Bearer env-auth-token");
    pthread_mutex_unlock(&m.mu);
    CU_ASSERT_EQUAL(atomic_load(&m.container_gets), 1);
    gd_aws_creds_clear(&g.c);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* The token file beats the token variable, and is trimmed. */
  put(&f, "token", "file-auth-token\n");
  char tf[4096];
  snprintf(tf, sizeof tf, "%s/token", f.home);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tf, 1);
  pthread_mutex_lock(&m.mu);
  snprintf(m.container_auth, sizeof m.container_auth, "file-auth-token");
  pthread_mutex_unlock(&m.mu);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    CU_ASSERT_EQUAL(atomic_load(&m.unauthorized), 0);
    gd_aws_creds_clear(&g.c);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* A wrong token: the refusal is reported, the token is not. */
  put(&f, "token", "wrong-SECRETLEAK-token\n");
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "container credentials (http://127.0.0.1:");
    ASSERT_HAS(g.err.msg, "HTTP 401");
    ASSERT_LACKS(g.err.msg, "SECRETLEAK");
    CU_ASSERT_EQUAL(atomic_load(&m.unauthorized), 1);
  }
  fx_end(&f);
  gd_awsmeta_stop(&m);
}

static void test_container_errors(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  m.garbage = 1;
  struct fx f;
  fx_begin(&f);
  char url[256];
  snprintf(url, sizeof url, "%s%s", m.base, m.container_path);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "answer is not a JSON object");
    ASSERT_LACKS(g.err.msg, "VERYSECRET");
    ASSERT_LACKS(g.err.msg, "ASIA");
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* 5xx is retried (three attempts), then reported. */
  m.garbage = 0;
  m.cred_status = 503;
  if (fx_provider(&f) == 0) {
    unsigned before = atomic_load(&m.container_gets);
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "HTTP 503");
    CU_ASSERT_EQUAL(atomic_load(&m.container_gets) - before, 3);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* Nobody listening. */
  int port = gd_httpd_closed_port();
  snprintf(url, sizeof url, "http://127.0.0.1:%d/creds", port);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, url);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* A host the SDKs refuse over http: refused before any traffic. */
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "host '192.0.2.1' is not allowed over http");
  }
  fx_end(&f);
  gd_awsmeta_stop(&m);
}

/* ---- IMDS ------------------------------------------------------------ */

static void use_imds(struct gd_awsmeta *m) {
  unsetenv("AWS_EC2_METADATA_DISABLED");
  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", m->base, 1);
}

static void test_imds_v2(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  struct fx f;
  fx_begin(&f);
  use_imds(&m);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    char want[64];
    fx_get(&f, &g);
    EXPECT_OK(g);
    gd_awsmeta_key(want, sizeof want, "imds", "akid", 1);
    ASSERT_STR(g.c.access_key_id, want);
    gd_awsmeta_key(want, sizeof want, "imds", "token", 1);
    ASSERT_STR(g.c.session_token, want);
    ASSERT_HAS(g.c.source, "instance metadata role 'gameday-test-role'");
    /* Token, role, credentials; every GET carried the token. */
    CU_ASSERT_EQUAL(atomic_load(&m.token_puts), 1);
    CU_ASSERT_EQUAL(atomic_load(&m.role_gets), 1);
    CU_ASSERT_EQUAL(atomic_load(&m.cred_gets), 1);
    CU_ASSERT_EQUAL(atomic_load(&m.unauthorized), 0);
    pthread_mutex_lock(&m.mu);
    ASSERT_STR(m.last_ttl, "21600");
    pthread_mutex_unlock(&m.mu);
    gd_aws_creds_clear(&g.c);
  }
  fx_end(&f);
  gd_awsmeta_stop(&m);
}

static void test_imds_token_reuse_and_stale(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  m.expires_in = 120; /* inside the refresh window: every get refreshes */
  struct fx f;
  fx_begin(&f);
  use_imds(&m);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    char want[64];
    fx_get(&f, &g);
    fx_get(&f, &g);
    gd_awsmeta_key(want, sizeof want, "imds", "akid", 2);
    ASSERT_STR(g.c.access_key_id, want);
    /* The session token is kept for its lifetime. */
    CU_ASSERT_EQUAL(atomic_load(&m.token_puts), 1);
    CU_ASSERT_EQUAL(atomic_load(&m.cred_gets), 2);
    /* The server forgets its tokens: one 401, a new token, success. */
    pthread_mutex_lock(&m.mu);
    m.token_gen++;
    pthread_mutex_unlock(&m.mu);
    fx_get(&f, &g);
    EXPECT_OK(g);
    gd_awsmeta_key(want, sizeof want, "imds", "akid", 3);
    ASSERT_STR(g.c.access_key_id, want);
    CU_ASSERT_EQUAL(atomic_load(&m.unauthorized), 1);
    CU_ASSERT_EQUAL(atomic_load(&m.token_puts), 2);
    gd_aws_creds_clear(&g.c);
  }
  fx_end(&f);
  gd_awsmeta_stop(&m);
}

static void test_imds_v1_fallback(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  m.token_status = 403;
  m.v1_allowed = 1;
  struct fx f;
  fx_begin(&f);
  use_imds(&m);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    CU_ASSERT_EQUAL(atomic_load(&m.token_puts), 1);
    CU_ASSERT_EQUAL(atomic_load(&m.cred_gets), 1);
    gd_aws_creds_clear(&g.c);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  setenv("AWS_EC2_METADATA_V1_DISABLED", "true", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    CU_ASSERT_EQUAL(g.err.code, GD_ENOTFOUND);
    ASSERT_HAS(g.err.msg, "session token refused (HTTP 403) and IMDSv1 is "
                          "disabled");
    CU_ASSERT_EQUAL(atomic_load(&m.cred_gets), 1);
  }
  fx_end(&f);
  gd_awsmeta_stop(&m);
}

static void test_imds_disabled(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  struct fx f;
  fx_begin(&f);
  use_imds(&m);
  setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "instance metadata: disabled by "
                          "AWS_EC2_METADATA_DISABLED");
  }
  fx_end(&f);
  CU_ASSERT_EQUAL(atomic_load(&m.requests), 0);
  gd_awsmeta_stop(&m);
}

static void test_imds_unreachable(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  struct fx f;
  fx_begin(&f);
  /* Refused at once. */
  char base[64];
  snprintf(base, sizeof base, "http://127.0.0.1:%d/", gd_httpd_closed_port());
  unsetenv("AWS_EC2_METADATA_DISABLED");
  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", base, 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    CU_ASSERT_EQUAL(g.err.code, GD_ENOTFOUND);
    ASSERT_HAS(g.err.msg, "no aws credentials found");
    base[strlen(base) - 1] = 0; /* shown without the slash */
    ASSERT_HAS(g.err.msg, base);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* A metadata service that never answers costs the timeout, once. */
  m.hang = 1;
  use_imds(&m);
  setenv("AWS_METADATA_SERVICE_TIMEOUT", "0.5", 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    uint64_t t0 = uv_hrtime();
    fx_get(&f, &g);
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "instance metadata (http://127.0.0.1:");
    ASSERT_HAS(g.err.msg, "timed out");
    if (ms < 400 || ms > 2000) printf("\n    took %.0f ms ", ms);
    CU_ASSERT_TRUE(ms >= 400 && ms < 2000);
    CU_ASSERT_EQUAL(atomic_load(&m.requests), 1); /* one attempt */
  }
  fx_end(&f);
  gd_awsmeta_stop(&m);
}

static void test_imds_no_role(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  m.cred_status = 500;
  struct fx f;
  fx_begin(&f);
  use_imds(&m);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "instance metadata role 'gameday-test-role'");
    ASSERT_HAS(g.err.msg, "HTTP 500");
  }
  fx_end(&f);
  gd_awsmeta_stop(&m);
}

/* ---- the chain's order ----------------------------------------------- */

static void test_chain_order(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  struct fx f;
  fx_begin(&f);
  char url[256];
  snprintf(url, sizeof url, "%s%s", m.base, m.container_path);
  use_imds(&m);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  put(&f, ".aws/credentials",
      "[default]\naws_access_key_id = AKIDPROFILE\n"
      "aws_secret_access_key = p\n[empty]\nregion_hint = x\n");
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "e", 1);
  static const char *const want[] = {"environment", "profile 'default'",
                                      "container credentials",
                                      "instance metadata role"};
  for (int i = 0; i < 4; i++) {
    if (i == 1) {
      unsetenv("AWS_ACCESS_KEY_ID");
      unsetenv("AWS_SECRET_ACCESS_KEY");
    } else if (i == 2) {
      setenv("AWS_PROFILE", "empty", 1);
    } else if (i == 3) {
      unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    }
    if (fx_provider(&f) != 0) break;
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    if (g.ok) ASSERT_HAS(g.c.source, want[i]);
    gd_aws_creds_clear(&g.c);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* Neither the env nor the profile steps touched the network. */
  CU_ASSERT_EQUAL(atomic_load(&m.container_gets), 1);
  CU_ASSERT_EQUAL(atomic_load(&m.cred_gets), 1);
  fx_end(&f);
  gd_awsmeta_stop(&m);
}

/* ---- expiry and refresh ---------------------------------------------- */

static void test_expiry_refresh(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  struct fx f;
  fx_begin(&f);
  char url[256], want[64];
  snprintf(url, sizeof url, "%s%s", m.base, m.container_path);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    /* An hour to live: cached. */
    fx_get(&f, &g);
    fx_get(&f, &g);
    gd_awsmeta_key(want, sizeof want, "cont", "akid", 1);
    ASSERT_STR(g.c.access_key_id, want);
    CU_ASSERT_EQUAL(atomic_load(&m.container_gets), 1);
    CU_ASSERT_PTR_NOT_NULL(gd_aws_credprov_current(f.p));
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
    gd_aws_creds_clear(&g.c);
  }
  /* Two minutes to live: inside the refresh window, so each get asks
   * again and gets the new keys. */
  pthread_mutex_lock(&m.mu);
  m.expires_in = 120;
  pthread_mutex_unlock(&m.mu);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    gd_awsmeta_key(want, sizeof want, "cont", "akid", 2);
    ASSERT_STR(g.c.access_key_id, want);
    CU_ASSERT_PTR_NULL(gd_aws_credprov_current(f.p));
    fx_get(&f, &g);
    gd_awsmeta_key(want, sizeof want, "cont", "akid", 3);
    ASSERT_STR(g.c.access_key_id, want);
    CU_ASSERT_EQUAL(atomic_load(&m.container_gets), 3);
    /* The source fails while the keys still have two minutes: the old
     * ones are handed out, and the source is left alone for a while. */
    pthread_mutex_lock(&m.mu);
    m.cred_status = 500;
    pthread_mutex_unlock(&m.mu);
    fx_get(&f, &g);
    EXPECT_OK(g);
    ASSERT_STR(g.c.access_key_id, want);
    unsigned after = atomic_load(&m.container_gets);
    CU_ASSERT_EQUAL(after, 3 + 3); /* three attempts */
    fx_get(&f, &g);
    EXPECT_OK(g);
    ASSERT_STR(g.c.access_key_id, want);
    CU_ASSERT_EQUAL(atomic_load(&m.container_gets), after);
    CU_ASSERT_PTR_NOT_NULL(gd_aws_credprov_current(f.p));
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
    gd_aws_creds_clear(&g.c);
  }
  /* Thirty seconds to live: a failed refresh is an error, with no secret
   * in it. */
  pthread_mutex_lock(&m.mu);
  m.cred_status = 0;
  m.expires_in = 30;
  pthread_mutex_unlock(&m.mu);
  if (fx_provider(&f) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    pthread_mutex_lock(&m.mu);
    m.cred_status = 500;
    pthread_mutex_unlock(&m.mu);
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "container credentials (");
    ASSERT_HAS(g.err.msg, "HTTP 500");
    ASSERT_LACKS(g.err.msg, "VERYSECRET");
    ASSERT_LACKS(g.err.msg, "ASIA");
    CU_ASSERT_PTR_NULL(gd_aws_credprov_current(f.p));
  }
  fx_end(&f);
  gd_awsmeta_stop(&m);
}

/* ---- concurrency, cancel, close -------------------------------------- */

static void test_concurrent_gets(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  struct fx f;
  fx_begin(&f);
  char url[256];
  snprintf(url, sizeof url, "%s%s", m.base, m.container_path);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  if (fx_provider(&f) == 0) {
    struct got g[5];
    memset(g, 0, sizeof g);
    struct gd_error err = {0};
    for (int i = 0; i < 5; i++)
      CU_ASSERT_EQUAL(gd_aws_credprov_get(f.p, got_cb, &g[i], &err), 0);
    run_until(&f, &g[4].calls, 1);
    char want[64];
    gd_awsmeta_key(want, sizeof want, "cont", "akid", 1);
    for (int i = 0; i < 5; i++) {
      CU_ASSERT_EQUAL(g[i].calls, 1);
      EXPECT_OK(g[i]);
      if (g[i].ok) ASSERT_STR(g[i].c.access_key_id, want);
      gd_aws_creds_clear(&g[i].c);
    }
    CU_ASSERT_EQUAL(atomic_load(&m.container_gets), 1);
  }
  fx_end(&f);
  gd_awsmeta_stop(&m);
}

struct regetter {
  struct fx *f;
  int calls;
};

/* A callback that asks again from inside its answer. */
static void reget_cb(const struct gd_aws_creds *c, const struct gd_error *e,
                     void *arg) {
  struct regetter *r = arg;
  struct gd_error err = {0};
  (void)e;
  CU_ASSERT_PTR_NOT_NULL(c);
  if (++r->calls < 3)
    CU_ASSERT_EQUAL(gd_aws_credprov_get(r->f->p, reget_cb, r, &err), 0);
}

struct closer {
  struct gd_aws_credprov *p;
  int calls, rc, closed;
};

/* Asks again when cancelled: during close that must be refused. */
static void reget_on_cancel(const struct gd_aws_creds *c,
                            const struct gd_error *e, void *arg) {
  struct closer *x = arg;
  struct gd_error err = {0};
  (void)c;
  (void)e;
  x->calls++;
  x->rc = gd_aws_credprov_get(x->p, reget_on_cancel, x, &err);
}

/* Closes the provider from inside its answer. */
static void close_in_cb(const struct gd_aws_creds *c, const struct gd_error *e,
                        void *arg) {
  struct closer *x = arg;
  (void)e;
  CU_ASSERT_PTR_NOT_NULL(c);
  x->calls++;
  gd_aws_credprov_close(x->p, count_cb, &x->closed);
}

static void test_cancel_and_close(void) {
  struct gd_awsmeta m;
  CU_ASSERT_FATAL(gd_awsmeta_start(&m) == 0);
  m.hang = 1;
  struct fx f;
  fx_begin(&f);
  char url[256];
  snprintf(url, sizeof url, "%s%s", m.base, m.container_path);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  if (fx_provider(&f) == 0) {
    struct got a = {0}, b = {0};
    struct closer x = {f.p, 0, 0, 0};
    struct gd_error err = {0};
    CU_ASSERT_EQUAL(gd_aws_credprov_get(f.p, got_cb, &a, &err), 0);
    CU_ASSERT_EQUAL(gd_aws_credprov_get(f.p, got_cb, &b, &err), 0);
    CU_ASSERT_EQUAL(gd_aws_credprov_get(f.p, reget_on_cancel, &x, &err), 0);
    for (int i = 0; i < 20 && atomic_load(&m.requests) == 0; i++)
      uv_run(&f.loop, UV_RUN_NOWAIT);
    /* cancel answers at once, and only the one cancelled */
    gd_aws_credprov_cancel(f.p, got_cb, &a);
    CU_ASSERT_EQUAL(a.calls, 1);
    CU_ASSERT_EQUAL(a.err.code, GD_ECANCELED);
    CU_ASSERT_EQUAL(b.calls, 0);
    int closed = 0;
    gd_aws_credprov_close(f.p, count_cb, &closed);
    CU_ASSERT_EQUAL(b.calls, 1);
    CU_ASSERT_EQUAL(b.err.code, GD_ECANCELED);
    CU_ASSERT_EQUAL(x.calls, 1);
    CU_ASSERT_EQUAL(x.rc, GD_ESTATE);
    /* closing: refused, and the callback is not called */
    struct got c = {0};
    CU_ASSERT_EQUAL(gd_aws_credprov_get(f.p, got_cb, &c, &err), GD_ESTATE);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    CU_ASSERT_EQUAL(closed, 1);
    CU_ASSERT_EQUAL(a.calls, 1);
    CU_ASSERT_EQUAL(c.calls, 0);
    f.p = NULL;
  }
  fx_end(&f);
  gd_awsmeta_stop(&m);

  /* A get from inside a callback is answered later, from the cache. */
  fx_begin(&f);
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "e", 1);
  if (fx_provider(&f) == 0) {
    struct regetter r = {&f, 0};
    struct gd_error err = {0};
    CU_ASSERT_EQUAL(gd_aws_credprov_get(f.p, reget_cb, &r, &err), 0);
    run_until(&f, &r.calls, 3);
    CU_ASSERT_EQUAL(r.calls, 3);
    /* The first answer closes the provider: the second is cancelled. */
    struct closer x = {f.p, 0, 0, 0};
    struct got b = {0};
    CU_ASSERT_EQUAL(gd_aws_credprov_get(f.p, close_in_cb, &x, &err), 0);
    CU_ASSERT_EQUAL(gd_aws_credprov_get(f.p, got_cb, &b, &err), 0);
    run_until(&f, &x.calls, 1);
    CU_ASSERT_EQUAL(x.calls, 1);
    CU_ASSERT_EQUAL(b.calls, 1);
    CU_ASSERT_EQUAL(b.err.code, GD_ECANCELED);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    CU_ASSERT_EQUAL(x.closed, 1);
    f.p = NULL;
  }
  fx_end(&f);
}

/* ---- pieces ---------------------------------------------------------- */

static void test_cmdline_split(void) {
  static const struct {
    const char *line;
    const char *want; /* words joined by '|', NULL: an error */
  } cases[] = {
      {"aws-vault exec prod --json", "aws-vault|exec|prod|--json"},
      {"  /usr/bin/tool   a\tb  ", "/usr/bin/tool|a|b"},
      {"\"/opt/my tools/x\" 'a b' c\\ d", "/opt/my tools/x|a b|c d"},
      {"tool \"say \\\"hi\\\"\" 'it''s'", "tool|say \"hi\"|its"},
      {"tool \"a\\nb\" 'c\\d'", "tool|a\\nb|c\\d"},
      {"tool '' x", "tool||x"},
      {"tool #not-a-comment", "tool|#not-a-comment"},
      {"tool $HOME", "tool|$HOME"},
      {"tool 'open", NULL},
      {"tool \"open", NULL},
      {"tool \\", NULL},
      {"   ", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char **argv = NULL;
    size_t argc = 0;
    struct gd_error err = {0};
    int rc = gd_aws_cmdline_split(cases[i].line, &argv, &argc, &err);
    if (!cases[i].want) {
      CU_ASSERT_EQUAL(rc, GD_EINVAL);
      CU_ASSERT_PTR_NULL(argv);
      continue;
    }
    CU_ASSERT_EQUAL(rc, 0);
    if (rc) continue;
    char joined[512] = "";
    for (size_t k = 0; k < argc; k++) {
      if (k) strcat(joined, "|");
      strcat(joined, argv[k]);
    }
    CU_ASSERT_PTR_NULL(argv[argc]);
    ASSERT_STR(joined, cases[i].want);
    gd_strv_free(argv);
  }
}

static void test_parse_time(void) {
  static const struct {
    const char *s;
    int64_t want; /* -1: invalid */
  } cases[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"2024-05-01T12:00:00Z", 1714564800},
      {"2024-05-01T12:00:00.123Z", 1714564800},
      {"2024-05-01t12:00:00z", 1714564800},
      {"2024-05-01T14:00:00+02:00", 1714564800},
      {"2024-05-01T07:30:00-0430", 1714564800},
      {"2024-02-29T00:00:00Z", 1709164800},
      {"2023-02-29T00:00:00Z", -1},
      {"2024-04-31T00:00:00Z", -1},
      {"2024-05-01T12:00:00", -1},
      {"2024-05-01 12:00", -1},
      {"2024-13-01T00:00:00Z", -1},
      {"2024-05-01T24:00:00Z", -1},
      {"2024-05-01T12:00:00Zjunk", -1},
      {"tomorrow", -1},
      {"", -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t t = -12345;
    int rc = gd_aws_parse_time(cases[i].s, &t);
    if (cases[i].want < 0) {
      if (rc == 0) printf("\n    '%s' accepted ", cases[i].s);
      CU_ASSERT_EQUAL(rc, GD_EINVAL);
    } else {
      if (rc || t != cases[i].want)
        printf("\n    '%s': rc %d t %lld ", cases[i].s, rc, (long long)t);
      CU_ASSERT_EQUAL(rc, 0);
      CU_ASSERT_EQUAL(t, cases[i].want);
    }
  }
}

static void test_creds_copy(void) {
  struct gd_aws_creds a = {0}, b;
  a.access_key_id = strdup("AKID");
  a.secret_access_key = strdup("s");
  a.expiration = 42;
  snprintf(a.source, sizeof a.source, "environment");
  CU_ASSERT_EQUAL(gd_aws_creds_copy(&b, &a), 0);
  gd_aws_creds_clear(&a);
  CU_ASSERT_PTR_NULL(a.access_key_id);
  ASSERT_STR(b.access_key_id, "AKID");
  ASSERT_STR(b.secret_access_key, "s");
  CU_ASSERT_PTR_NULL(b.session_token);
  CU_ASSERT_EQUAL(b.expiration, 42);
  ASSERT_STR(b.source, "environment");
  gd_aws_creds_clear(&b);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"environment", test_environment},
      {"environment_partial", test_environment_partial},
      {"profile_static", test_profile_static},
      {"config_vs_credentials", test_config_vs_credentials},
      {"profile_errors", test_profile_errors},
      {"no_credentials", test_no_credentials},
      {"web_identity", test_web_identity},
      {"process", test_process},
      {"process_failures", test_process_failures},
      {"process_refresh", test_process_refresh},
      {"process_close_while_running", test_process_close_while_running},
      {"container_url_rules", test_container_url_rules},
      {"container", test_container},
      {"container_errors", test_container_errors},
      {"imds_v2", test_imds_v2},
      {"imds_token_reuse_and_stale", test_imds_token_reuse_and_stale},
      {"imds_v1_fallback", test_imds_v1_fallback},
      {"imds_disabled", test_imds_disabled},
      {"imds_unreachable", test_imds_unreachable},
      {"imds_no_role", test_imds_no_role},
      {"chain_order", test_chain_order},
      {"expiry_refresh", test_expiry_refresh},
      {"concurrent_gets", test_concurrent_gets},
      {"cancel_and_close", test_cancel_and_close},
      {"cmdline_split", test_cmdline_split},
      {"parse_time", test_parse_time},
      {"creds_copy", test_creds_copy},
      {NULL, NULL},
  };
  return gd_test_run("awscreds", tests);
}

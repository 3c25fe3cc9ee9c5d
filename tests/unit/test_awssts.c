/* Role assumption in the AWS credential chain against the test endpoint's
 * STS (tests/awsep_sts.c, loopback, every AssumeRole signature checked with
 * the source keys): source_profile chains, credential_source Environment,
 * web identity from the environment and from a profile, cycles, external
 * id, refresh near expiry, and STS errors that name the profile and never
 * a secret. Each test has its own HOME and a clean AWS_* environment with
 * AWS_ENDPOINT_URL pointing at the endpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "awsep.h"
#include "awsmeta.h"
#include "gameday/aws.h"
#include "gameday/awsconfig.h"
#include "testutil.h"

#define ACCT "123456789012"
#define ROLE_OPS "arn:aws:iam::" ACCT ":role/ops"
#define ROLE_DEPLOY "arn:aws:iam::" ACCT ":role/deploy"
#define ROLE_EXT "arn:aws:iam::" ACCT ":role/partner"
#define ROLE_WEB "arn:aws:iam::" ACCT ":role/ci"
#define WEB_TOKEN "eyJhbGciOiJSUzI1NiJ9.awsep-web-identity.sig"

static struct gd_awsep *ep;

static const char fixture[] =
    "{\"sts\": {\"roles\": ["
    " {\"arn\": \"" ROLE_OPS "\"},"
    " {\"arn\": \"" ROLE_DEPLOY "\", \"max_session_duration\": 7200},"
    " {\"arn\": \"" ROLE_EXT "\", \"external_id\": \"ext-4711\"},"
    " {\"arn\": \"" ROLE_WEB "\", \"web_identity_token\": \"" WEB_TOKEN
    "\"}]},"
    " \"instances\": [{\"id\": \"i-0a00000000000000a\"}]}";

/* The static source keys, as a profile section's body. */
#define BASE_KEYS                                                             \
  "aws_access_key_id = " GD_AWSEP_AKID "\n"                                  \
  "aws_secret_access_key = " GD_AWSEP_SECRET "\n"

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
  struct gd_aws_credprov *p;
};

static void fx_begin(struct fx *f, const char *config) {
  memset(f, 0, sizeof *f);
  f->home = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(f->home);
  char p[4096];
  snprintf(p, sizeof p, "%s/.aws", f->home);
  mkdir(p, 0700);
  snprintf(p, sizeof p, "%s/.aws/config", f->home);
  CU_ASSERT_EQUAL_FATAL(gd_test_write_file(p, config), 0);
  gd_awsenv_begin(f->home);
  setenv("AWS_ENDPOINT_URL", gd_awsep_url(ep), 1);
  setenv("AWS_REGION", GD_AWSEP_REGION, 1);
  uv_loop_init(&f->loop);
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(gd_curl_new(&f->loop, &f->curl, &err), 0);
  CU_ASSERT_EQUAL(gd_awsep_load(ep, fixture, NULL, 0), 0);
  gd_awsep_calls_clear(ep);
}

/* profile NULL: AWS_PROFILE or default; else named as in code. */
static int fx_provider(struct fx *f, const char *profile) {
  struct gd_error err = {0};
  struct gd_aws_config *cfg = NULL;
  int rc = gd_aws_config_load(&cfg, profile, &err);
  if (rc) printf("\n    config: %s ", err.msg);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc) return rc;
  rc = gd_aws_credprov_new(&f->loop, f->curl, cfg, &f->p, &err);
  CU_ASSERT_EQUAL(rc, 0);
  gd_aws_config_free(cfg);
  return rc;
}

static void run_until(struct fx *f, const int *flag, int want) {
  uint64_t deadline = uv_hrtime() + 15ull * 1000 * 1000 * 1000;
  while (*flag < want && uv_hrtime() < deadline)
    uv_run(&f->loop, UV_RUN_ONCE);
}

static void fx_get(struct fx *f, struct got *g) {
  struct gd_error err = {0};
  g->calls = 0;
  g->ok = 0;
  CU_ASSERT_EQUAL_FATAL(gd_aws_credprov_get(f->p, got_cb, g, &err), 0);
  CU_ASSERT_EQUAL(g->calls, 0);
  run_until(f, &g->calls, 1);
  CU_ASSERT_EQUAL(g->calls, 1);
}

static void count_cb(void *arg) { (*(int *)arg)++; }

static void fx_end(struct fx *f) {
  int closed = 0, curl_closed = 0;
  if (f->p) gd_aws_credprov_close(f->p, count_cb, &closed);
  gd_curl_close(f->curl, count_cb, &curl_closed);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  if (f->p) CU_ASSERT_EQUAL(closed, 1);
  CU_ASSERT_EQUAL(curl_closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&f->loop), 0);
  gd_awsenv_end();
  gd_test_rmrf(f->home);
  free(f->home);
}

#define EXPECT_OK(g)                                                          \
  do {                                                                        \
    if (!(g).ok) printf("\n    get: %s ", (g).err.msg);                        \
    CU_ASSERT_TRUE((g).ok);                                                   \
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

/* The wire parameter of the i-th logged call (0 first), or "". */
static const char *call_param(cJSON *calls, int i, const char *name) {
  cJSON *c = cJSON_GetArrayItem(calls, i);
  cJSON *v = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(c, "params"), name);
  return cJSON_IsString(v) ? v->valuestring : "";
}

/* Assumed-role credentials as the endpoint issues them. */
static void expect_issued(const struct gd_aws_creds *c) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(c->access_key_id);
  CU_ASSERT_EQUAL(strncmp(c->access_key_id, "ASIAAWSEP", 9), 0);
  CU_ASSERT_PTR_NOT_NULL(c->session_token);
  CU_ASSERT_TRUE(c->expiration > (int64_t)time(NULL) + 600);
}

/* ---- aws.ec2 with the assumed role ---- */

struct ec2_got {
  int calls;
  long status;
  char code[128];
};

static void ec2_cb(struct gd_aws_result *res, const struct gd_error *err,
                   void *arg) {
  struct ec2_got *g = arg;
  g->calls++;
  g->status = res ? res->status : 0;
  snprintf(g->code, sizeof g->code, "%s",
           err ? (res && res->aws_code[0] ? res->aws_code : err->msg) : "");
}

/* ------------------------------------------------------------------ */

static const char chain_config[] =
    "[profile base]\n" BASE_KEYS
    "[profile ops]\nrole_arn = " ROLE_OPS "\nsource_profile = base\n"
    "role_session_name = gd-ops\n"
    "[profile deploy]\nrole_arn = " ROLE_DEPLOY "\nsource_profile = ops\n"
    "duration_seconds = 7200\n";

static void test_source_profile_chain(void) {
  struct fx f;
  fx_begin(&f, chain_config);
  setenv("AWS_PROFILE", "deploy", 1);
  if (fx_provider(&f, NULL) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    if (g.ok) {
      expect_issued(&g.c);
      ASSERT_HAS(g.c.source, "role '" ROLE_DEPLOY "' of profile 'deploy'");
      CU_ASSERT_TRUE(g.c.expiration > (int64_t)time(NULL) + 7000);
    }
    /* base's keys assume ops, ops' credentials assume deploy. */
    CU_ASSERT_EQUAL(gd_awsep_count(ep, "sts", "AssumeRole"), 2);
    cJSON *calls = gd_awsep_calls(ep);
    ASSERT_HAS(call_param(calls, 0, "RoleArn"), ROLE_OPS);
    ASSERT_HAS(call_param(calls, 0, "RoleSessionName"), "gd-ops");
    ASSERT_HAS(call_param(calls, 1, "RoleArn"), ROLE_DEPLOY);
    ASSERT_HAS(call_param(calls, 1, "RoleSessionName"), "gameday-");
    ASSERT_HAS(call_param(calls, 1, "DurationSeconds"), "7200");
    cJSON_Delete(calls);
    /* Cached: no new STS call while they are fresh. */
    CU_ASSERT_PTR_NOT_NULL(gd_aws_credprov_current(f.p));
    fx_get(&f, &g);
    EXPECT_OK(g);
    CU_ASSERT_EQUAL(gd_awsep_count(ep, "sts", "AssumeRole"), 2);
    gd_aws_creds_clear(&g.c);
  }
  /* The client signs EC2 calls with what the role gave, and the endpoint
   * takes them. */
  struct gd_aws_options o = {.profile = "deploy", .max_attempts = 1};
  struct gd_aws *a = NULL;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(gd_aws_new(&f.loop, f.curl, &o, &a, &err), 0);
  struct ec2_got eg = {0};
  CU_ASSERT_EQUAL(gd_aws_call(a, "ec2", "DescribeInstances", NULL, ec2_cb,
                              &eg, NULL, &err),
                  0);
  run_until(&f, &eg.calls, 1);
  CU_ASSERT_EQUAL(eg.calls, 1);
  if (eg.status != 200) printf("\n    ec2: %ld %s ", eg.status, eg.code);
  CU_ASSERT_EQUAL(eg.status, 200);
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "ec2", "DescribeInstances"), 1);
  int closed = 0;
  gd_aws_close(a, count_cb, &closed);
  run_until(&f, &closed, 1);
  CU_ASSERT_EQUAL(closed, 1);
  fx_end(&f);
}

static void test_credential_source_environment(void) {
  struct fx f;
  fx_begin(&f, "[profile envrole]\nrole_arn = " ROLE_OPS
               "\ncredential_source = Environment\n");
  setenv("AWS_ACCESS_KEY_ID", GD_AWSEP_AKID, 1);
  setenv("AWS_SECRET_ACCESS_KEY", GD_AWSEP_SECRET, 1);
  /* Named in code: the role, its source the environment's keys. */
  if (fx_provider(&f, "envrole") == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    if (g.ok) {
      expect_issued(&g.c);
      ASSERT_HAS(g.c.source, "role '" ROLE_OPS "' of profile 'envrole'");
    }
    CU_ASSERT_EQUAL(gd_awsep_count(ep, "sts", "AssumeRole"), 1);
    gd_aws_creds_clear(&g.c);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* Through AWS_PROFILE the environment's keys come first, as in the
   * SDKs. */
  setenv("AWS_PROFILE", "envrole", 1);
  if (fx_provider(&f, NULL) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    if (g.ok) CU_ASSERT_STRING_EQUAL(g.c.access_key_id, GD_AWSEP_AKID);
    CU_ASSERT_EQUAL(gd_awsep_count(ep, "sts", "AssumeRole"), 1);
    gd_aws_creds_clear(&g.c);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* Without them, the source says what it lacks. */
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  if (fx_provider(&f, NULL) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "profile 'envrole': credential_source Environment");
    ASSERT_HAS(g.err.msg, "AWS_ACCESS_KEY_ID not set");
  }
  fx_end(&f);
}

static void test_web_identity(void) {
  struct fx f;
  fx_begin(&f, "");
  char path[4096];
  snprintf(path, sizeof path, "%s/token", f.home);
  CU_ASSERT_EQUAL(gd_test_write_file(path, WEB_TOKEN "\n"), 0);
  setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
  setenv("AWS_ROLE_ARN", ROLE_WEB, 1);
  setenv("AWS_ROLE_SESSION_NAME", "gh-run-42", 1);
  if (fx_provider(&f, NULL) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    if (g.ok) {
      expect_issued(&g.c);
      ASSERT_HAS(g.c.source, "web identity role '" ROLE_WEB "'");
    }
    CU_ASSERT_EQUAL(gd_awsep_count(ep, "sts", "AssumeRoleWithWebIdentity"),
                    1);
    cJSON *calls = gd_awsep_calls(ep);
    ASSERT_HAS(call_param(calls, 0, "WebIdentityToken"), WEB_TOKEN);
    ASSERT_HAS(call_param(calls, 0, "RoleSessionName"), "gh-run-42");
    cJSON_Delete(calls);
    gd_aws_creds_clear(&g.c);
    /* The token file is read on every fetch: a rotated bad token is
     * refused by STS, and the message does not quote it. */
    CU_ASSERT_EQUAL(gd_test_write_file(path, "forged-token-value"), 0);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
    if (fx_provider(&f, NULL) == 0) {
      fx_get(&f, &g);
      CU_ASSERT_FALSE(g.ok);
      ASSERT_HAS(g.err.msg, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE '");
      ASSERT_HAS(g.err.msg, "sts AssumeRoleWithWebIdentity: "
                            "InvalidIdentityToken: ");
      ASSERT_LACKS(g.err.msg, "forged-token-value");
      gd_aws_credprov_close(f.p, NULL, NULL);
      f.p = NULL;
    }
  }
  /* The profile's role_arn, web_identity_token_file and
   * role_session_name when the environment sets none. */
  unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
  unsetenv("AWS_ROLE_ARN");
  unsetenv("AWS_ROLE_SESSION_NAME");
  CU_ASSERT_EQUAL(gd_test_write_file(path, WEB_TOKEN), 0);
  char cfg[8192], cpath[4096];
  snprintf(cfg, sizeof cfg,
           "[profile web]\nrole_arn = " ROLE_WEB
           "\nweb_identity_token_file = %s\nrole_session_name = prof-web\n",
           path);
  snprintf(cpath, sizeof cpath, "%s/.aws/config", f.home);
  CU_ASSERT_EQUAL(gd_test_write_file(cpath, cfg), 0);
  setenv("AWS_PROFILE", "web", 1);
  gd_awsep_calls_clear(ep);
  if (fx_provider(&f, NULL) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    if (g.ok) expect_issued(&g.c);
    cJSON *calls = gd_awsep_calls(ep);
    ASSERT_HAS(call_param(calls, 0, "RoleSessionName"), "prof-web");
    cJSON_Delete(calls);
    gd_aws_creds_clear(&g.c);
  }
  fx_end(&f);
}

static void test_cycle_and_refusals(void) {
  struct fx f;
  fx_begin(&f,
           "[profile a]\nrole_arn = " ROLE_OPS "\nsource_profile = b\n"
           "[profile b]\nrole_arn = " ROLE_OPS "\nsource_profile = a\n"
           "[profile mfa]\nrole_arn = " ROLE_OPS "\nsource_profile = base\n"
           "mfa_serial = arn:aws:iam::" ACCT ":mfa/me\n"
           "[profile both]\nrole_arn = " ROLE_OPS "\nsource_profile = base\n"
           "credential_source = Environment\n"
           "[profile nosource]\nrole_arn = " ROLE_OPS "\n"
           "[profile badsrc]\nrole_arn = " ROLE_OPS
           "\ncredential_source = Laptop\n"
           "[profile missing]\nrole_arn = " ROLE_OPS
           "\nsource_profile = nowhere\n"
           "[profile self]\nrole_arn = " ROLE_OPS "\nsource_profile = self\n"
           BASE_KEYS
           "[profile base]\n" BASE_KEYS);
  static const struct {
    const char *profile, *want;
  } cases[] = {
      {"a", "source_profile makes a cycle: a -> b -> a"},
      {"mfa", "mfa_serial is set, but gameday runs unattended"},
      {"both", "source_profile and credential_source are both set"},
      {"nosource", "neither source_profile nor credential_source"},
      {"badsrc", "credential_source 'Laptop': want Environment, "
                 "Ec2InstanceMetadata or EcsContainer"},
      {"missing", "source_profile 'nowhere': aws profile 'nowhere' not "
                  "found"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    setenv("AWS_PROFILE", cases[i].profile, 1);
    if (fx_provider(&f, NULL) != 0) continue;
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    char who[64];
    snprintf(who, sizeof who, "profile '%s'", cases[i].profile);
    ASSERT_HAS(g.err.msg, who);
    ASSERT_HAS(g.err.msg, cases[i].want);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* Nothing was asked of STS for any of them. */
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "sts", NULL), 0);
  /* A profile that is its own source uses its own keys. */
  setenv("AWS_PROFILE", "self", 1);
  if (fx_provider(&f, NULL) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    if (g.ok) expect_issued(&g.c);
    CU_ASSERT_EQUAL(gd_awsep_count(ep, "sts", "AssumeRole"), 1);
    gd_aws_creds_clear(&g.c);
  }
  fx_end(&f);
}

static void test_external_id_and_denied(void) {
  struct fx f;
  fx_begin(&f, "[profile base]\n" BASE_KEYS
               "[profile partner]\nrole_arn = " ROLE_EXT
               "\nsource_profile = base\nexternal_id = ext-4711\n"
               "[profile noext]\nrole_arn = " ROLE_EXT
               "\nsource_profile = base\n"
               "[profile unknown]\nrole_arn = arn:aws:iam::" ACCT
               ":role/nope\nsource_profile = base\n"
               "[profile long]\nrole_arn = " ROLE_OPS
               "\nsource_profile = base\nduration_seconds = 7200\n"
               "[profile badkey]\naws_access_key_id = " GD_AWSEP_AKID
               "\naws_secret_access_key = not-the-secret-0000\n"
               "[profile signed]\nrole_arn = " ROLE_OPS
               "\nsource_profile = badkey\n");
  unsigned bad_sigs = gd_awsep_bad_signatures(ep);
  setenv("AWS_PROFILE", "partner", 1);
  if (fx_provider(&f, NULL) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    EXPECT_OK(g);
    if (g.ok) expect_issued(&g.c);
    cJSON *calls = gd_awsep_calls(ep);
    ASSERT_HAS(call_param(calls, 0, "ExternalId"), "ext-4711");
    cJSON_Delete(calls);
    gd_aws_creds_clear(&g.c);
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  static const struct {
    const char *profile, *want;
  } cases[] = {
      {"noext", "profile 'noext': sts AssumeRole: AccessDenied: User: "
                "arn:aws:iam::" ACCT ":user/awsep is not authorized to "
                "perform: sts:AssumeRole on resource: " ROLE_EXT},
      {"unknown", "profile 'unknown': sts AssumeRole: AccessDenied: "},
      {"long", "profile 'long': sts AssumeRole: ValidationError: The "
               "requested DurationSeconds exceeds the MaxSessionDuration"},
      /* Signed with the source's keys: a wrong secret is caught. */
      {"signed", "profile 'signed': sts AssumeRole: SignatureDoesNotMatch: "},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    setenv("AWS_PROFILE", cases[i].profile, 1);
    if (fx_provider(&f, NULL) != 0) continue;
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, cases[i].want);
    ASSERT_LACKS(g.err.msg, GD_AWSEP_SECRET);
    ASSERT_LACKS(g.err.msg, GD_AWSEP_AKID);
    ASSERT_LACKS(g.err.msg, "Signature=");
    ASSERT_LACKS(g.err.msg, "not-the-secret");
    gd_aws_credprov_close(f.p, NULL, NULL);
    f.p = NULL;
  }
  /* Refusals are not retried: one call each (the bad signature is not
   * logged, only counted). */
  CU_ASSERT_EQUAL(gd_awsep_count(ep, "sts", "AssumeRole"), 4);
  CU_ASSERT_EQUAL(gd_awsep_bad_signatures(ep), bad_sigs + 1);
  /* An answer that echoes the source's secret has it masked. */
  gd_awsep_fail_next(ep, "sts", "AssumeRole", 1, 403, "AccessDenied",
                     "echo of " GD_AWSEP_SECRET " in an answer");
  setenv("AWS_PROFILE", "partner", 1);
  if (fx_provider(&f, NULL) == 0) {
    struct got g = {0};
    fx_get(&f, &g);
    CU_ASSERT_FALSE(g.ok);
    ASSERT_HAS(g.err.msg, "profile 'partner': sts AssumeRole: AccessDenied: "
                          "echo of ****");
    ASSERT_LACKS(g.err.msg, GD_AWSEP_SECRET);
  }
  fx_end(&f);
}

static void test_refresh_near_expiry(void) {
  struct fx f;
  fx_begin(&f, chain_config);
  /* Issued credentials that live 200 s: within the refresh margin. */
  cJSON *w = gd_awsep_lock(ep);
  cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(w, "sts"),
                          "issued_ttl_s", GD_AWS_REFRESH_BEFORE_S - 100);
  gd_awsep_unlock(ep);
  setenv("AWS_PROFILE", "ops", 1);
  if (fx_provider(&f, NULL) == 0) {
    struct got g1 = {0}, g2 = {0};
    fx_get(&f, &g1);
    EXPECT_OK(g1);
    CU_ASSERT_PTR_NULL(gd_aws_credprov_current(f.p));
    fx_get(&f, &g2);
    EXPECT_OK(g2);
    CU_ASSERT_EQUAL(gd_awsep_count(ep, "sts", "AssumeRole"), 2);
    if (g1.ok && g2.ok)
      CU_ASSERT_STRING_NOT_EQUAL(g1.c.access_key_id, g2.c.access_key_id);
    /* A refresh that STS refuses hands out the old ones while they have
     * more than GD_AWS_EXPIRED_BEFORE_S left. */
    gd_awsep_fail_next(ep, "sts", "AssumeRole", 1, 403, "AccessDenied", NULL);
    struct got g3 = {0};
    fx_get(&f, &g3);
    EXPECT_OK(g3);
    if (g2.ok && g3.ok)
      CU_ASSERT_STRING_EQUAL(g2.c.access_key_id, g3.c.access_key_id);
    gd_aws_creds_clear(&g1.c);
    gd_aws_creds_clear(&g2.c);
    gd_aws_creds_clear(&g3.c);
  }
  fx_end(&f);
}

static void test_close_while_assuming(void) {
  struct fx f;
  fx_begin(&f, chain_config);
  setenv("AWS_PROFILE", "deploy", 1);
  if (fx_provider(&f, NULL) == 0) {
    struct got g = {0};
    struct gd_error err = {0};
    CU_ASSERT_EQUAL(gd_aws_credprov_get(f.p, got_cb, &g, &err), 0);
    /* Let the first STS call start, then close under it. */
    uv_run(&f.loop, UV_RUN_NOWAIT);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    int closed = 0;
    gd_aws_credprov_close(f.p, count_cb, &closed);
    f.p = NULL;
    CU_ASSERT_EQUAL(g.calls, 1);
    CU_ASSERT_FALSE(g.ok);
    CU_ASSERT_EQUAL(g.err.code, GD_ECANCELED);
    run_until(&f, &closed, 1);
    CU_ASSERT_EQUAL(closed, 1);
  }
  fx_end(&f);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"source_profile chain, and ec2 with the role",
       test_source_profile_chain},
      {"credential_source Environment", test_credential_source_environment},
      {"web identity: environment and profile", test_web_identity},
      {"cycle and refused settings", test_cycle_and_refusals},
      {"external id, AccessDenied without secrets",
       test_external_id_and_denied},
      {"refresh near expiry", test_refresh_near_expiry},
      {"close while assuming", test_close_while_assuming},
      {NULL, NULL},
  };
  char *home = gd_test_tmpdir();
  gd_awsenv_begin(home);
  ep = gd_awsep_start(NULL);
  gd_awsenv_end();
  if (!ep) {
    gd_test_rmrf(home);
    free(home);
    return 1;
  }
  int rc = gd_test_run("awssts", tests);
  gd_awsep_stop(ep);
  gd_test_rmrf(home);
  free(home);
  return rc;
}

/* AWS configuration: the shared files, profiles, region and endpoints. Each
 * test runs with a temporary HOME and no AWS_* variable from outside. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "awsmeta.h"
#include "gameday/awsconfig.h"
#include "testutil.h"

static char *home;

static void begin(void) {
  home = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(home);
  char p[4096];
  snprintf(p, sizeof p, "%s/.aws", home);
  mkdir(p, 0700);
  gd_awsenv_begin(home);
}

static void end(void) {
  gd_awsenv_end();
  gd_test_rmrf(home);
  free(home);
  home = NULL;
}

/* Writes HOME/rel. */
static void put(const char *rel, const char *content) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", home, rel);
  CU_ASSERT_EQUAL_FATAL(gd_test_write_file(p, content), 0);
}

static struct gd_aws_config *load(const char *profile) {
  struct gd_aws_config *c = NULL;
  struct gd_error err = {0};
  int rc = gd_aws_config_load(&c, profile, &err);
  if (rc) printf("\n    load: %s ", err.msg);
  CU_ASSERT_EQUAL(rc, 0);
  return c;
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

/* ---- INI as the SDKs read it ----------------------------------------- */

static void test_ini_format(void) {
  begin();
  put(".aws/config",
      "# a comment\n"
      "; another comment\n"
      "\n"
      "[default]\n"
      "region = eu-west-1\n"
      "output=json\n"
      "\n"
      "  [ profile   dev ]   ; comment after the header\n"
      "region   =   us-west-2    # inline comment\n"
      "s3 =\n"
      "  max_concurrent_requests = 20\n"
      "  addressing_style = path\n"
      "\t# an indented comment line\n"
      "cli_pager=\n"
      "note = a#b;c\n"
      "weird = x=y\r\n"
      "MixedCase = yes\n"
      "[sso-session corp]\n"
      "sso_region = us-east-1\n"
      "[unprefixed]\n"
      "region = ap-south-1\n"
      "[profile with space]\n"
      "region = ap-south-2\n");
  struct gd_aws_config *c = load("dev");
  if (c) {
    ASSERT_STR(gd_aws_config_get(c, "region", NULL), "us-west-2");
    ASSERT_STR(gd_aws_config_get(c, "s3", NULL),
               "max_concurrent_requests = 20\naddressing_style = path");
    ASSERT_STR(gd_aws_config_get(c, "cli_pager", NULL), "");
    /* # and ; only start a comment after whitespace */
    ASSERT_STR(gd_aws_config_get(c, "note", NULL), "a#b;c");
    ASSERT_STR(gd_aws_config_get(c, "weird", NULL), "x=y");
    ASSERT_STR(gd_aws_config_get(c, "mixedcase", NULL), "yes");
    CU_ASSERT_PTR_NULL(gd_aws_config_get(c, "output", NULL));
    CU_ASSERT_PTR_NULL(gd_aws_config_get(c, "sso_region", NULL));
    gd_aws_config_free(c);
  }
  /* [unprefixed] is not a profile in the config file. */
  struct gd_aws_config *u = NULL;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL(gd_aws_config_load(&u, "unprefixed", &err), GD_ENOTFOUND);
  CU_ASSERT_PTR_NULL(u);
  CU_ASSERT_EQUAL(gd_aws_config_load(&u, "with space", &err), GD_ENOTFOUND);
  end();
}

static void test_default_sections(void) {
  begin();
  /* [profile default] outranks [default], whatever the order. */
  put(".aws/config",
      "[profile default]\nregion = us-east-2\n"
      "[default]\nregion = eu-central-1\noutput = text\n");
  struct gd_aws_config *c = load(NULL);
  if (c) {
    ASSERT_STR(gd_aws_config_profile(c), "default");
    ASSERT_STR(gd_aws_config_get(c, "region", NULL), "us-east-2");
    ASSERT_STR(gd_aws_config_get(c, "output", NULL), "text");
    gd_aws_config_free(c);
  }
  /* A repeated section merges; the later setting wins. */
  put(".aws/config",
      "[profile a]\nregion = r1\nx = 1\n[profile b]\nregion = rb\n"
      "[profile a]\nregion = r2\n");
  c = load("a");
  if (c) {
    ASSERT_STR(gd_aws_config_get(c, "region", NULL), "r2");
    ASSERT_STR(gd_aws_config_get(c, "x", NULL), "1");
    gd_aws_config_free(c);
  }
  end();
}

static void test_parse_errors(void) {
  begin();
  struct gd_aws_config *c = NULL;
  struct gd_error err = {0};
  /* The bad line holds a secret: the message gives file and line only. */
  put(".aws/credentials",
      "[default]\naws_access_key_id = AKIDEXAMPLE\n"
      "aws_secret_access_key wJalrXUtnFEMISECRET\n");
  CU_ASSERT_EQUAL(gd_aws_config_load(&c, NULL, &err), GD_EINVAL);
  CU_ASSERT_PTR_NULL(c);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/.aws/credentials' line 3"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "expected 'name = value'"));
  CU_ASSERT_PTR_NULL(strstr(err.msg, "wJalr"));

  put(".aws/credentials", "aws_access_key_id = AKIDEXAMPLE\n");
  CU_ASSERT_EQUAL(gd_aws_config_load(&c, NULL, &err), GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "line 1: setting outside any"));
  CU_ASSERT_PTR_NULL(strstr(err.msg, "AKIDEXAMPLE"));

  put(".aws/credentials", "");
  put(".aws/config", "[default]\nregion = x\n[profile broken\n");
  CU_ASSERT_EQUAL(gd_aws_config_load(&c, NULL, &err), GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/.aws/config' line 3"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "without ']'"));

  put(".aws/config", "[default]\n = nothing\n");
  CU_ASSERT_EQUAL(gd_aws_config_load(&c, NULL, &err), GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "line 2"));

  /* A directory where the file should be cannot be read. */
  char p[4096];
  snprintf(p, sizeof p, "%s/.aws/config", home);
  remove(p);
  mkdir(p, 0700);
  CU_ASSERT_NOT_EQUAL(gd_aws_config_load(&c, NULL, &err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/.aws/config"));
  end();
}

/* ---- profiles and files ---------------------------------------------- */

static void test_profile_selection(void) {
  begin();
  put(".aws/config",
      "[default]\nregion = us-east-1\n[profile dev]\nregion = eu-west-2\n"
      "[profile ops]\nregion = ap-northeast-1\n");
  struct gd_aws_config *c = load(NULL);
  if (c) {
    ASSERT_STR(gd_aws_config_profile(c), "default");
    ASSERT_STR(gd_aws_config_region(c, NULL), "us-east-1");
    gd_aws_config_free(c);
  }
  setenv("AWS_PROFILE", "dev", 1);
  c = load(NULL);
  if (c) {
    ASSERT_STR(gd_aws_config_profile(c), "dev");
    ASSERT_STR(gd_aws_config_region(c, NULL), "eu-west-2");
    gd_aws_config_free(c);
  }
  /* The caller's choice beats AWS_PROFILE. */
  c = load("ops");
  if (c) {
    ASSERT_STR(gd_aws_config_profile(c), "ops");
    ASSERT_STR(gd_aws_config_region(c, NULL), "ap-northeast-1");
    gd_aws_config_free(c);
  }
  /* A named profile that does not exist is an error; the default one may
   * be missing. */
  struct gd_error err = {0};
  setenv("AWS_PROFILE", "nope", 1);
  CU_ASSERT_EQUAL(gd_aws_config_load(&c, NULL, &err), GD_ENOTFOUND);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "aws profile 'nope' (from AWS_PROFILE) not found"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/.aws/config"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/.aws/credentials"));
  unsetenv("AWS_PROFILE");
  put(".aws/config", "[profile other]\nregion = x\n");
  c = load(NULL);
  if (c) {
    CU_ASSERT_PTR_NULL(gd_aws_config_region(c, NULL));
    gd_aws_config_free(c);
  }
  /* No files at all is fine too. */
  char p[4096];
  snprintf(p, sizeof p, "%s/.aws/config", home);
  remove(p);
  c = load(NULL);
  gd_aws_config_free(c);
  end();
}

static void test_file_precedence(void) {
  begin();
  put(".aws/config",
      "[profile p]\nregion = eu-west-1\naws_access_key_id = FROMCONFIG\n"
      "only_in_config = c\n");
  put(".aws/credentials",
      "[p]\naws_access_key_id = FROMCREDS\nonly_in_creds = k\n"
      "[profile q]\naws_access_key_id = IGNORED\n");
  struct gd_aws_config *c = load("p");
  if (c) {
    const char *file = NULL;
    ASSERT_STR(gd_aws_config_get(c, "aws_access_key_id", &file), "FROMCREDS");
    ASSERT_STR(file, gd_aws_config_credentials_file(c));
    ASSERT_STR(gd_aws_config_get(c, "only_in_config", &file), "c");
    ASSERT_STR(file, gd_aws_config_file(c));
    ASSERT_STR(gd_aws_config_get(c, "only_in_creds", NULL), "k");
    const char *src = NULL;
    ASSERT_STR(gd_aws_config_region(c, &src), "eu-west-1");
    CU_ASSERT_PTR_NOT_NULL(src && strstr(src, "profile 'p' in '"));
    gd_aws_config_free(c);
  }
  /* "[profile q]" is not a section name in the credentials file. */
  struct gd_aws_config *q = NULL;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL(gd_aws_config_load(&q, "q", &err), GD_ENOTFOUND);
  end();
}

static void test_file_variables(void) {
  begin();
  char p[4096];
  snprintf(p, sizeof p, "%s/elsewhere", home);
  mkdir(p, 0700);
  put("elsewhere/cfg", "[profile x]\nregion = sa-east-1\n");
  put("elsewhere/creds", "[x]\naws_access_key_id = AKIDX\n");
  put(".aws/config", "[profile x]\nregion = wrong-1\n");
  setenv("AWS_CONFIG_FILE", "~/elsewhere/cfg", 1);
  snprintf(p, sizeof p, "%s/elsewhere/creds", home);
  setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
  struct gd_aws_config *c = load("x");
  if (c) {
    char want[4096];
    snprintf(want, sizeof want, "%s/elsewhere/cfg", home);
    ASSERT_STR(gd_aws_config_file(c), want);
    ASSERT_STR(gd_aws_config_credentials_file(c), p);
    ASSERT_STR(gd_aws_config_region(c, NULL), "sa-east-1");
    ASSERT_STR(gd_aws_config_get(c, "aws_access_key_id", NULL), "AKIDX");
    gd_aws_config_free(c);
  }
  unsetenv("AWS_CONFIG_FILE");
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  c = load("x");
  if (c) {
    char want[4096];
    snprintf(want, sizeof want, "%s/.aws/config", home);
    ASSERT_STR(gd_aws_config_file(c), want);
    ASSERT_STR(gd_aws_config_region(c, NULL), "wrong-1");
    gd_aws_config_free(c);
  }
  end();
}

/* ---- region ---------------------------------------------------------- */

static void test_region_order(void) {
  begin();
  put(".aws/config", "[default]\nregion = eu-north-1\n");
  const char *src = NULL;
  struct gd_aws_config *c = load(NULL);
  if (c) {
    ASSERT_STR(gd_aws_config_region(c, &src), "eu-north-1");
    CU_ASSERT_PTR_NOT_NULL(src && strstr(src, "profile 'default'"));
    gd_aws_config_free(c);
  }
  setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
  c = load(NULL);
  if (c) {
    ASSERT_STR(gd_aws_config_region(c, &src), "us-west-1");
    ASSERT_STR(src, "AWS_DEFAULT_REGION");
    gd_aws_config_free(c);
  }
  setenv("AWS_REGION", "ap-southeast-2", 1);
  c = load(NULL);
  if (c) {
    ASSERT_STR(gd_aws_config_region(c, &src), "ap-southeast-2");
    ASSERT_STR(src, "AWS_REGION");
    gd_aws_config_free(c);
  }
  /* An empty variable counts as unset. */
  setenv("AWS_REGION", "", 1);
  c = load(NULL);
  if (c) {
    ASSERT_STR(gd_aws_config_region(c, NULL), "us-west-1");
    gd_aws_config_free(c);
  }
  end();
}

/* ---- endpoints ------------------------------------------------------- */

static void check_ep(const struct gd_aws_config *c, const char *svc,
                     const char *region, const char *url,
                     const char *sregion, const char *sname) {
  struct gd_aws_endpoint ep;
  struct gd_error err = {0};
  int rc = gd_aws_endpoint_resolve(c, svc, region, &ep, &err);
  if (rc) printf("\n    %s/%s: %s ", svc, region ? region : "-", err.msg);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc) return;
  ASSERT_STR(ep.url, url);
  if (sregion) ASSERT_STR(ep.signing_region, sregion);
  if (sname) ASSERT_STR(ep.signing_name, sname);
}

static void test_endpoint_defaults(void) {
  begin();
  setenv("AWS_REGION", "eu-west-1", 1);
  struct gd_aws_config *c = load(NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  check_ep(c, "ec2", NULL, "https://ec2.eu-west-1.amazonaws.com", "eu-west-1",
           "ec2");
  check_ep(c, "autoscaling", NULL, "https://autoscaling.eu-west-1.amazonaws.com",
           NULL, "autoscaling");
  check_ep(c, "Auto Scaling", NULL,
           "https://autoscaling.eu-west-1.amazonaws.com", NULL, "autoscaling");
  check_ep(c, "rds", NULL, "https://rds.eu-west-1.amazonaws.com", NULL, "rds");
  check_ep(c, "sqs", NULL, "https://sqs.eu-west-1.amazonaws.com", NULL, "sqs");
  check_ep(c, "monitoring", NULL, "https://monitoring.eu-west-1.amazonaws.com",
           NULL, "monitoring");
  check_ep(c, "CloudWatch", NULL, "https://monitoring.eu-west-1.amazonaws.com",
           NULL, "monitoring");
  check_ep(c, "iam", NULL, "https://iam.amazonaws.com", "us-east-1", "iam");
  check_ep(c, "sts", NULL, "https://sts.eu-west-1.amazonaws.com", "eu-west-1",
           "sts");
  check_ep(c, "elasticloadbalancing", NULL,
           "https://elasticloadbalancing.eu-west-1.amazonaws.com", NULL,
           "elasticloadbalancing");
  check_ep(c, "elbv2", NULL,
           "https://elasticloadbalancing.eu-west-1.amazonaws.com", NULL,
           "elasticloadbalancing");
  check_ep(c, "s3", NULL, "https://s3.eu-west-1.amazonaws.com", NULL, "s3");
  check_ep(c, "cloudtrail", NULL, "https://cloudtrail.eu-west-1.amazonaws.com",
           NULL, "cloudtrail");
  check_ep(c, "lambda", NULL, "https://lambda.eu-west-1.amazonaws.com", NULL,
           "lambda");
  /* An explicit region beats the configured one. */
  check_ep(c, "ec2", "us-east-1", "https://ec2.us-east-1.amazonaws.com",
           "us-east-1", NULL);
  /* Partitions. */
  check_ep(c, "ec2", "cn-north-1", "https://ec2.cn-north-1.amazonaws.com.cn",
           "cn-north-1", NULL);
  check_ep(c, "iam", "cn-northwest-1", "https://iam.cn-north-1.amazonaws.com.cn",
           "cn-north-1", NULL);
  check_ep(c, "iam", "us-gov-east-1", "https://iam.us-gov.amazonaws.com",
           "us-gov-west-1", NULL);
  check_ep(c, "sqs", "us-gov-west-1", "https://sqs.us-gov-west-1.amazonaws.com",
           "us-gov-west-1", NULL);
  /* A service not in the table, named by its endpoint prefix. */
  check_ep(c, "kinesis", NULL, "https://kinesis.eu-west-1.amazonaws.com", NULL,
           "kinesis");
  gd_aws_config_free(c);
  end();
}

static void test_endpoint_overrides(void) {
  begin();
  put(".aws/config",
      "[profile local]\n"
      "region = us-east-1\n"
      "endpoint_url = http://127.0.0.1:4000/\n"
      "services = local-svc\n"
      "[services local-svc]\n"
      "rds =\n"
      "  endpoint_url = http://127.0.0.1:4001\n"
      "elastic_load_balancing_v2 =\n"
      "  # a comment inside the block\n"
      "  endpoint_url = http://127.0.0.1:4002\n");
  setenv("AWS_PROFILE", "local", 1);
  struct gd_aws_config *c = load(NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  struct gd_aws_endpoint ep;
  struct gd_error err = {0};
  /* services section, then the profile's endpoint_url */
  check_ep(c, "rds", NULL, "http://127.0.0.1:4001", "us-east-1", "rds");
  check_ep(c, "elasticloadbalancing", NULL, "http://127.0.0.1:4002", NULL,
           NULL);
  check_ep(c, "ec2", NULL, "http://127.0.0.1:4000", "us-east-1", "ec2");
  /* IAM still signs for its home region behind an override. */
  check_ep(c, "iam", NULL, "http://127.0.0.1:4000", "us-east-1", "iam");
  CU_ASSERT_EQUAL(gd_aws_endpoint_resolve(c, "rds", NULL, &ep, &err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(ep.source, "services local-svc"));
  gd_aws_config_free(c);

  /* The environment beats the files; the service variable beats the
   * global one. */
  setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000", 1);
  setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:5001/", 1);
  setenv("AWS_ENDPOINT_URL_AUTO_SCALING", "http://127.0.0.1:5002", 1);
  setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:5003", 1);
  c = load(NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  check_ep(c, "sqs", NULL, "http://127.0.0.1:5001", "us-east-1", "sqs");
  check_ep(c, "autoscaling", NULL, "http://127.0.0.1:5002", NULL, NULL);
  check_ep(c, "monitoring", NULL, "http://127.0.0.1:5003", NULL, "monitoring");
  check_ep(c, "rds", NULL, "http://127.0.0.1:5000", NULL, NULL);
  check_ep(c, "ec2", "eu-west-3", "http://127.0.0.1:5000", "eu-west-3", NULL);
  CU_ASSERT_EQUAL(gd_aws_endpoint_resolve(c, "sqs", NULL, &ep, &err), 0);
  ASSERT_STR(ep.source, "AWS_ENDPOINT_URL_SQS");
  gd_aws_config_free(c);

  /* Ignoring configured endpoints turns all of them off. */
  setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
  c = load(NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  check_ep(c, "sqs", NULL, "https://sqs.us-east-1.amazonaws.com", NULL, NULL);
  check_ep(c, "rds", NULL, "https://rds.us-east-1.amazonaws.com", NULL, NULL);
  CU_ASSERT_EQUAL(gd_aws_endpoint_resolve(c, "sqs", NULL, &ep, &err), 0);
  ASSERT_STR(ep.source, "default");
  gd_aws_config_free(c);
  end();
}

static void test_endpoint_errors(void) {
  begin();
  struct gd_aws_config *c = load(NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  struct gd_aws_endpoint ep;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL(gd_aws_endpoint_resolve(c, "ec2", NULL, &ep, &err),
                  GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no aws region"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "AWS_REGION"));
  CU_ASSERT_EQUAL(gd_aws_endpoint_resolve(c, "ec2", "evil.com/x?", &ep, &err),
                  GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "invalid aws region 'evil.com/x?'"));
  CU_ASSERT_EQUAL(gd_aws_endpoint_resolve(c, "Not A Service!", "us-east-1",
                                          &ep, &err),
                  GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unknown aws service"));
  gd_aws_config_free(c);

  setenv("AWS_ENDPOINT_URL_EC2", "ftp://127.0.0.1/", 1);
  c = load(NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT_EQUAL(gd_aws_endpoint_resolve(c, "ec2", "us-east-1", &ep, &err),
                  GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "AWS_ENDPOINT_URL_EC2: invalid endpoint URL 'ftp://127.0.0.1/'"));
  /* Other services are not affected. */
  check_ep(c, "sqs", "us-east-1", "https://sqs.us-east-1.amazonaws.com", NULL,
           NULL);
  gd_aws_config_free(c);
  end();
}

int main(void) {
  static const struct gd_test tests[] = {
      {"ini_format", test_ini_format},
      {"default_sections", test_default_sections},
      {"parse_errors", test_parse_errors},
      {"profile_selection", test_profile_selection},
      {"file_precedence", test_file_precedence},
      {"file_variables", test_file_variables},
      {"region_order", test_region_order},
      {"endpoint_defaults", test_endpoint_defaults},
      {"endpoint_overrides", test_endpoint_overrides},
      {"endpoint_errors", test_endpoint_errors},
      {NULL, NULL},
  };
  return gd_test_run("awsconfig", tests);
}

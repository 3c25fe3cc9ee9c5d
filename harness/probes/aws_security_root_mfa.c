/* gameday: the aws.security.root_mfa check: does the account's root user
 * have an MFA device? IAM GetAccountSummary, whose SummaryMap entry
 * AccountMFAEnabled is 1 when it has. IAM is global: no region key (the
 * call is signed for the partition's IAM region, awsconfig.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/probe.h"

struct mfa_ctx {
  struct gd_awscheck chk;
};

static const char *const mfa_keys[] = {NULL};

static int mfa_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  (void)spec;
  struct mfa_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  p->ctx = c;
  return 0;
}

static void mfa_describe(const struct gd_probe *p, char *buf, size_t n) {
  (void)p;
  snprintf(buf, n, "the root user has an MFA device (iam:GetAccountSummary)");
}

static int mfa_start(struct gd_probe *p, struct gd_error *err) {
  struct mfa_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, NULL, err);
}

static void on_summary(struct gd_awscheck_run *r, struct gd_aws_result *res,
                       const struct gd_error *e) {
  (void)e;
  char key[64], val[32] = "";
  int found = 0;
  for (xmlNode *en = gd_aws_xml_find(xmlDocGetRootElement(res->xml),
                                     "GetAccountSummaryResult/SummaryMap/"
                                     "entry");
       en; en = gd_aws_xml_next(en)) {
    if (gd_aws_xml_text(en, "key", key, sizeof key) &&
        strcmp(key, "AccountMFAEnabled") == 0) {
      gd_aws_xml_text(en, "value", val, sizeof val);
      found = 1;
      break;
    }
  }
  if (!found) {
    gd_awscheck_finish(r, GD_SAMPLE_PROTOCOL,
                       "iam:GetAccountSummary: answer without "
                       "AccountMFAEnabled");
    return;
  }
  gd_sample_set_value(r->s, strcmp(val, "1") == 0 ? 1 : 0);
  if (strcmp(val, "1") == 0)
    gd_awscheck_finish(r, GD_SAMPLE_OK, "root user has MFA enabled");
  else
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "root user has no MFA device (AccountMFAEnabled %s)",
                       val);
}

static int mfa_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct mfa_ctx *c = p->ctx;
  return gd_awscheck_sample(&c->chk, s, "iam", "GetAccountSummary", NULL,
                            on_summary, err);
}

static void mfa_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct mfa_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void mfa_free(struct gd_probe *p) {
  struct mfa_ctx *c = p->ctx;
  if (c) gd_awscheck_free(&c->chk);
  free(c);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_security_root_mfa = {
    .type = "aws.security.root_mfa",
    .keys = mfa_keys,
    .init = mfa_init,
    .describe = mfa_describe,
    .start = mfa_start,
    .sample = mfa_sample,
    .cancel = gd_awscheck_cancel,
    .stop = mfa_stop,
    .free = mfa_free,
};

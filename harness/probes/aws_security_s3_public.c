/* gameday: the aws.security.s3_public check: no S3 bucket that may be
 * public. Every bucket of the account (ListBuckets), or those named in
 * `buckets`; for each, in this order, stopping at the first that settles
 * it:
 *   1. GetPublicAccessBlock: all four settings true (BlockPublicAcls,
 *      IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets): not
 *      public. None configured (NoSuchPublicAccessBlockConfiguration)
 *      counts as all false.
 *   2. GetBucketPolicyStatus: IsPublic true, unless RestrictPublicBuckets
 *      confines such a policy to the account: public by "policy". No
 *      policy (NoSuchBucketPolicy) is not public.
 *   3. GetBucketAcl, unless IgnorePublicAcls: a grant to everyone
 *      (AllUsers) or to every AWS account (AuthenticatedUsers): public by
 *      "acl".
 * Buckets in other regions are asked in theirs (the client follows S3's
 * redirect). The account-level public access block (s3control) is not
 * read: a bucket-level block is what this check asks for. The finding
 * names the buckets and why; the value is how many may be public. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct s3p_ctx {
  char **buckets; /* NULL: every bucket */
  size_t nbuckets;
  char *region;
  struct gd_awscheck chk;
};

static const char *const s3p_keys[] = {"buckets", "region", NULL};

static void ctx_free(struct s3p_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  gd_strv_free(c->buckets);
  free(c->region);
  free(c);
}

static int s3p_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  struct s3p_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  int rc;
  if ((rc = gd_awscheck_list_parse(spec, "buckets", path, 0, &c->buckets,
                                   &c->nbuckets, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &c->region, err))) {
    ctx_free(c);
    return rc;
  }
  if (c->buckets && c->nbuckets == 0) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL,
                        "%s.buckets: must not be empty (leave it out for "
                        "every bucket)",
                        path);
  }
  for (size_t i = 0; i < c->nbuckets; i++)
    if (strchr(c->buckets[i], '/')) {
      int r2 = gd_error_set(err, GD_EINVAL,
                            "%s.buckets: '%s' is not a bucket name", path,
                            c->buckets[i]);
      ctx_free(c);
      return r2;
    }
  p->ctx = c;
  return 0;
}

static void s3p_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct s3p_ctx *c = p->ctx;
  if (c->buckets)
    snprintf(buf, n, "%zu listed s3 bucket%s not public", c->nbuckets,
             c->nbuckets == 1 ? "" : "s");
  else
    snprintf(buf, n, "no s3 bucket of the account is public");
}

static int s3p_start(struct gd_probe *p, struct gd_error *err) {
  struct s3p_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, c->region, err);
}

/* {"_bucket": b, "_query": {sub: ""}}: S3's sub-resource form. */
static cJSON *sub_params(const char *bucket, const char *sub) {
  cJSON *p = cJSON_CreateObject(), *q;
  if (!p || !cJSON_AddStringToObject(p, "_bucket", bucket) ||
      !(q = cJSON_AddObjectToObject(p, "_query")) ||
      !cJSON_AddStringToObject(q, sub, "")) {
    cJSON_Delete(p);
    return NULL;
  }
  return p;
}

static const char *current(struct gd_awscheck_run *r) {
  int i = (int)cJSON_GetObjectItem(r->state, "bi")->valuedouble;
  return cJSON_GetStringValue(
      cJSON_GetArrayItem(cJSON_GetObjectItem(r->state, "buckets"), i - 1));
}

static void call_sub(struct gd_awscheck_run *r, const char *op,
                     const char *sub, gd_awscheck_cb cb, int any) {
  cJSON *params = sub_params(current(r), sub);
  if (!params) {
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return;
  }
  if (any)
    gd_awscheck_call_any(r, "s3", op, params, cb);
  else
    gd_awscheck_call(r, "s3", op, params, cb);
  cJSON_Delete(params);
}

/* Why the current bucket may be public. */
static void verdict(struct gd_awscheck_run *r, const char *why) {
  cJSON_AddStringToObject(cJSON_GetObjectItem(r->state, "public"), current(r),
                          why);
}

static void next_bucket(struct gd_awscheck_run *r);

static void on_acl(struct gd_awscheck_run *r, struct gd_aws_result *res,
                   const struct gd_error *e) {
  (void)e;
  char uri[256];
  int open = 0;
  for (xmlNode *g = gd_aws_xml_find(xmlDocGetRootElement(res->xml),
                                    "AccessControlList/Grant");
       g; g = gd_aws_xml_next(g)) {
    if (!gd_aws_xml_text(g, "Grantee/URI", uri, sizeof uri)) continue;
    if (strcmp(uri, "http://acs.amazonaws.com/groups/global/AllUsers") == 0 ||
        strcmp(uri,
               "http://acs.amazonaws.com/groups/global/AuthenticatedUsers") ==
            0)
      open = 1;
  }
  const char *why = cJSON_GetStringValue(
      cJSON_GetObjectItem(cJSON_GetObjectItem(r->state, "public"),
                          current(r)));
  if (open) {
    if (why)
      cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r->state, "public"),
                                current(r), cJSON_CreateString("policy+acl"));
    else
      verdict(r, "acl");
  }
  next_bucket(r);
}

static void after_policy(struct gd_awscheck_run *r) {
  if (cJSON_IsTrue(cJSON_GetObjectItem(r->state, "ignore_acls")))
    next_bucket(r);
  else
    call_sub(r, "GetBucketAcl", "acl", on_acl, 0);
}

static void on_policy_status(struct gd_awscheck_run *r,
                             struct gd_aws_result *res,
                             const struct gd_error *e) {
  if (e) {
    if (strcmp(res->aws_code, "NoSuchBucketPolicy") == 0)
      after_policy(r);
    else
      gd_awscheck_fail(r, res, e);
    return;
  }
  char v[16];
  if (gd_aws_xml_text(xmlDocGetRootElement(res->xml), "IsPublic", v,
                      sizeof v) &&
      strcmp(v, "true") == 0 &&
      !cJSON_IsTrue(cJSON_GetObjectItem(r->state, "restrict")))
    verdict(r, "policy");
  after_policy(r);
}

static int flag(const xmlNode *root, const char *name) {
  char v[16];
  return gd_aws_xml_text(root, name, v, sizeof v) && strcmp(v, "true") == 0;
}

static void on_block(struct gd_awscheck_run *r, struct gd_aws_result *res,
                     const struct gd_error *e) {
  int acls = 0, ignore = 0, policy = 0, restrict_ = 0;
  if (e) {
    if (strcmp(res->aws_code, "NoSuchBucket") == 0) {
      cJSON_AddItemToArray(cJSON_GetObjectItem(r->state, "missing"),
                           cJSON_CreateString(current(r)));
      next_bucket(r);
      return;
    }
    if (strcmp(res->aws_code, "NoSuchPublicAccessBlockConfiguration") != 0) {
      gd_awscheck_fail(r, res, e);
      return;
    }
  } else {
    const xmlNode *root = xmlDocGetRootElement(res->xml);
    acls = flag(root, "BlockPublicAcls");
    ignore = flag(root, "IgnorePublicAcls");
    policy = flag(root, "BlockPublicPolicy");
    restrict_ = flag(root, "RestrictPublicBuckets");
  }
  if (acls && ignore && policy && restrict_) {
    next_bucket(r);
    return;
  }
  cJSON_ReplaceItemInObject(r->state, "ignore_acls", cJSON_CreateBool(ignore));
  cJSON_ReplaceItemInObject(r->state, "restrict",
                            cJSON_CreateBool(restrict_));
  call_sub(r, "GetBucketPolicyStatus", "policyStatus", on_policy_status, 1);
}

/* Appends "item" to buf (sep between) while there is room for it and a
 * " (+N more)"; counts what did not fit. */
static void add_item(char *buf, size_t n, const char *item, int *more) {
  size_t k = strlen(buf);
  if (*more || k + strlen(item) + 2 + 12 >= n) {
    (*more)++;
    return;
  }
  snprintf(buf + k, n - k, "%s%s", k ? ", " : "", item);
}

static void judge(struct gd_awscheck_run *r) {
  const cJSON *pub = cJSON_GetObjectItem(r->state, "public"), *b;
  const cJSON *missing = cJSON_GetObjectItem(r->state, "missing");
  int n = cJSON_GetArraySize(pub), nm = cJSON_GetArraySize(missing);
  int total = cJSON_GetArraySize(cJSON_GetObjectItem(r->state, "buckets"));
  gd_sample_set_value(r->s, n);
  if (!n && !nm) {
    gd_awscheck_finish(r, GD_SAMPLE_OK, "%d bucket%s, none public", total,
                       total == 1 ? "" : "s");
    return;
  }
  char list[120] = "", gone[64] = "", item[160];
  int more = 0, more_gone = 0;
  cJSON_ArrayForEach(b, pub) {
    snprintf(item, sizeof item, "%s (%s)", b->string, b->valuestring);
    add_item(list, sizeof list, item, &more);
  }
  cJSON_ArrayForEach(b, missing) {
    add_item(gone, sizeof gone, b->valuestring, &more_gone);
  }
  char tail[24] = "", tail_gone[24] = "";
  if (more) snprintf(tail, sizeof tail, " (+%d more)", more);
  if (more_gone) snprintf(tail_gone, sizeof tail_gone, " (+%d more)",
                          more_gone);
  if (!nm)
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "%d of %d bucket%s may be public: %s%s", n, total,
                       total == 1 ? "" : "s", list, tail);
  else if (!n)
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "bucket%s not found: %s%s",
                       nm == 1 ? "" : "s", gone, tail_gone);
  else
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "%d of %d buckets may be public: %s%s; not found: "
                       "%s%s",
                       n, total, list, tail, gone, tail_gone);
}

static void next_bucket(struct gd_awscheck_run *r) {
  cJSON *bi = cJSON_GetObjectItem(r->state, "bi");
  int i = (int)bi->valuedouble;
  if (i >= cJSON_GetArraySize(cJSON_GetObjectItem(r->state, "buckets"))) {
    judge(r);
    return;
  }
  cJSON_SetNumberValue(bi, i + 1);
  call_sub(r, "GetPublicAccessBlock", "publicAccessBlock", on_block, 1);
}

static void on_list(struct gd_awscheck_run *r, struct gd_aws_result *res,
                    const struct gd_error *e) {
  (void)e;
  const xmlNode *root = xmlDocGetRootElement(res->xml);
  cJSON *buckets = cJSON_GetObjectItem(r->state, "buckets");
  char name[256], token[1024];
  for (xmlNode *b = gd_aws_xml_find(root, "Buckets/Bucket"); b;
       b = gd_aws_xml_next(b))
    if (gd_aws_xml_text(b, "Name", name, sizeof name) && name[0])
      cJSON_AddItemToArray(buckets, cJSON_CreateString(name));
  /* Only with max-buckets, which this check does not send; followed
   * anyway in case S3 starts paging by default. */
  if (gd_aws_xml_text(root, "ContinuationToken", token, sizeof token) &&
      token[0]) {
    cJSON *params = cJSON_CreateObject(), *q;
    if (!params || !(q = cJSON_AddObjectToObject(params, "_query")) ||
        !cJSON_AddStringToObject(q, "continuation-token", token)) {
      cJSON_Delete(params);
      gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
      return;
    }
    gd_awscheck_call(r, "s3", "ListBuckets", params, on_list);
    cJSON_Delete(params);
    return;
  }
  next_bucket(r);
}

static int s3p_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct s3p_ctx *c = p->ctx;
  struct gd_awscheck_run *r;
  int rc = gd_awscheck_begin(&c->chk, s, &r, err);
  if (rc) return rc;
  cJSON *buckets = cJSON_AddArrayToObject(r->state, "buckets");
  if (!buckets || !cJSON_AddObjectToObject(r->state, "public") ||
      !cJSON_AddArrayToObject(r->state, "missing") ||
      !cJSON_AddNumberToObject(r->state, "bi", 0) ||
      !cJSON_AddFalseToObject(r->state, "ignore_acls") ||
      !cJSON_AddFalseToObject(r->state, "restrict")) {
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return 0;
  }
  if (!c->buckets) {
    gd_awscheck_call(r, "s3", "ListBuckets", NULL, on_list);
    return 0;
  }
  for (size_t i = 0; i < c->nbuckets; i++)
    cJSON_AddItemToArray(buckets, cJSON_CreateString(c->buckets[i]));
  next_bucket(r);
  return 0;
}

static void s3p_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct s3p_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void s3p_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_security_s3_public = {
    .type = "aws.security.s3_public",
    .keys = s3p_keys,
    .init = s3p_init,
    .describe = s3p_describe,
    .start = s3p_start,
    .sample = s3p_sample,
    .cancel = gd_awscheck_cancel,
    .stop = s3p_stop,
    .free = s3p_free,
};

/* The test AWS endpoint: S3 (REST-XML, signed with S3's rules: the path as
 * sent, x-amz-content-sha256 required), the reads of the public-bucket
 * check: ListBuckets (GET /), GetPublicAccessBlock (GET /?publicAccessBlock),
 * GetBucketPolicyStatus (GET /?policyStatus) and GetBucketAcl (GET /?acl),
 * path-style or virtual-host style. A bucket asked for with a signature of
 * another region than its own gets S3's 301 PermanentRedirect with
 * x-amz-bucket-region, as a client that guessed the region does. The
 * world's "buckets" (awsep.h); nothing here changes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awsep_int.h"

#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define OWNER_ID \
  "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"

static void begin(struct awsep_req *r, const char *root) {
  r->out.len = 0;
  awsep_buf_puts(&r->out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  awsep_buf_printf(&r->out, "<%s xmlns=\"" S3_NS "\">", root);
}

static void end(struct awsep_req *r, const char *root) {
  awsep_x_close(r, root);
  r->status = 200;
}

int awsep_s3_route(struct awsep_req *r) {
  const char *op = NULL;
  int get = strcmp(r->method, "GET") == 0;
  if (!r->bucket[0]) {
    if (get && strcmp(r->path, "/") == 0) op = "ListBuckets";
  } else if (get && strcmp(r->path, "/") == 0) {
    if (awsep_param(r, "publicAccessBlock"))
      op = "GetPublicAccessBlock";
    else if (awsep_param(r, "policyStatus"))
      op = "GetBucketPolicyStatus";
    else if (awsep_param(r, "acl"))
      op = "GetBucketAcl";
  }
  if (!op) {
    snprintf(r->action, sizeof r->action, "%s %s", r->method, r->path);
    awsep_error(r, 501, "NotImplemented",
                "A header you provided implies functionality that is not "
                "implemented");
    return -1;
  }
  snprintf(r->action, sizeof r->action, "%s", op);
  return 0;
}

/* The bucket of the request, or NULL after NoSuchBucket or a redirect to
 * its region. */
static const cJSON *bucket(struct awsep_req *r) {
  const cJSON *b = awsep_find(r->ep, "buckets", "name", r->bucket);
  if (!b) {
    awsep_error(r, 404, "NoSuchBucket", "The specified bucket does not exist");
    return NULL;
  }
  const char *region = awsep_s(b, "region", awsep_region(r->ep));
  if (strcmp(region, r->scope_region) != 0) {
    snprintf(r->extra_headers, sizeof r->extra_headers,
             "x-amz-bucket-region: %s\r\n", region);
    awsep_error(r, 301, "PermanentRedirect",
                "The bucket you are attempting to access must be addressed "
                "using the specified endpoint. Please send all future "
                "requests to this endpoint.");
    return NULL;
  }
  return b;
}

/* Pages: max-buckets (1-10000) or the fixture's "s3_page_size"; all of
 * them without either, as S3 does for up to 10,000 buckets. The
 * continuation token is ours: the index. */
static int list_buckets(struct awsep_req *r) {
  const cJSON *b;
  char t[32];
  long max = (long)awsep_n(awsep_world(r), "s3_page_size", 10000);
  const char *mb = awsep_param(r, "max-buckets");
  const char *tok = awsep_param(r, "continuation-token");
  if (mb) {
    char *e;
    long v = strtol(mb, &e, 10);
    if (!mb[0] || *e || v < 1 || v > 10000)
      return awsep_error(r, 400, "InvalidArgument",
                         "Argument max-buckets must be an integer between 1 "
                         "and 10000");
    if (v < max) max = v;
  }
  long start = 0, i = 0, next;
  if (tok) {
    if (strncmp(tok, "awsep-", 6) != 0)
      return awsep_error(r, 400, "InvalidArgument",
                         "The continuation token provided is incorrect");
    start = strtol(tok + 6, NULL, 10);
  }
  next = start;
  cJSON *all = awsep_wlist(r->ep, "buckets");
  long total = cJSON_GetArraySize(all);
  begin(r, "ListAllMyBucketsResult");
  awsep_x_open(r, "Owner");
  awsep_x_el(r, "ID", OWNER_ID);
  awsep_x_close(r, "Owner");
  awsep_x_open(r, "Buckets");
  cJSON_ArrayForEach(b, all) {
    if (i++ < start || next >= start + max) continue;
    next++;
    awsep_x_open(r, "Bucket");
    awsep_x_el(r, "Name", awsep_s(b, "name", ""));
    awsep_days_ago(r->ep, 200, t);
    awsep_x_el(r, "CreationDate", awsep_s(b, "created", t));
    awsep_x_el(r, "BucketRegion", awsep_s(b, "region", awsep_region(r->ep)));
    awsep_x_close(r, "Bucket");
  }
  awsep_x_close(r, "Buckets");
  if (next < total) awsep_x_elf(r, "ContinuationToken", "awsep-%ld", next);
  end(r, "ListAllMyBucketsResult");
  return 0;
}

static int get_public_access_block(struct awsep_req *r) {
  const cJSON *b = bucket(r);
  if (!b) return 0;
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "public_access_block");
  if (!cJSON_IsObject(p))
    return awsep_error(r, 404, "NoSuchPublicAccessBlockConfiguration",
                       "The public access block configuration was not found");
  static const char *const f[] = {"BlockPublicAcls", "IgnorePublicAcls",
                                  "BlockPublicPolicy", "RestrictPublicBuckets",
                                  NULL};
  begin(r, "PublicAccessBlockConfiguration");
  for (const char *const *k = f; *k; k++) awsep_x_bool(r, *k, awsep_b(p, *k, 0));
  end(r, "PublicAccessBlockConfiguration");
  return 0;
}

static int get_bucket_policy_status(struct awsep_req *r) {
  const cJSON *b = bucket(r);
  if (!b) return 0;
  const char *policy = awsep_s(b, "policy", NULL);
  if (!policy)
    return awsep_error(r, 404, "NoSuchBucketPolicy",
                       "The bucket policy does not exist");
  begin(r, "PolicyStatus");
  awsep_x_bool(r, "IsPublic", strcmp(policy, "public") == 0);
  end(r, "PolicyStatus");
  return 0;
}

static void grant(struct awsep_req *r, const char *type, const char *who,
                  const char *perm) {
  awsep_x_open(r, "Grant");
  awsep_buf_printf(&r->out,
                   "<Grantee xmlns:xsi=\"http://www.w3.org/2001/"
                   "XMLSchema-instance\" xsi:type=\"%s\">",
                   type);
  awsep_x_el(r, strcmp(type, "Group") == 0 ? "URI" : "ID", who);
  awsep_x_close(r, "Grantee");
  awsep_x_el(r, "Permission", perm);
  awsep_x_close(r, "Grant");
}

static int get_bucket_acl(struct awsep_req *r) {
  const cJSON *b = bucket(r);
  if (!b) return 0;
  begin(r, "AccessControlPolicy");
  awsep_x_open(r, "Owner");
  awsep_x_el(r, "ID", OWNER_ID);
  awsep_x_close(r, "Owner");
  awsep_x_open(r, "AccessControlList");
  grant(r, "CanonicalUser", OWNER_ID, "FULL_CONTROL");
  const char *pub = awsep_s(b, "acl_public", NULL);
  if (pub)
    grant(r, "Group", "http://acs.amazonaws.com/groups/global/AllUsers", pub);
  awsep_x_close(r, "AccessControlList");
  end(r, "AccessControlPolicy");
  return 0;
}

const struct awsep_op gd_awsep_s3_ops[] = {
    {"ListBuckets", 0, list_buckets},
    {"GetPublicAccessBlock", 0, get_public_access_block},
    {"GetBucketPolicyStatus", 0, get_bucket_policy_status},
    {"GetBucketAcl", 0, get_bucket_acl},
    {NULL, 0, NULL}};

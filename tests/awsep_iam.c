/* The test AWS endpoint: IAM (query protocol, global: signed for
 * us-east-1), the reads the security checks make: GetAccountSummary,
 * GetAccountPasswordPolicy, ListUsers, ListAccessKeys and
 * GetAccessKeyLastUsed, with IAM's paging (Marker, MaxItems, IsTruncated)
 * and its errors (NoSuchEntity 404). The world's "iam" object is the
 * account (awsep.h); nothing here changes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awsep_int.h"

static cJSON *iam(struct awsep_req *r) {
  return cJSON_GetObjectItemCaseSensitive(awsep_world(r), "iam");
}

static cJSON *users(struct awsep_req *r) {
  return cJSON_GetObjectItemCaseSensitive(iam(r), "users");
}

/* A time of the fixture: "KEY" (ISO 8601 as given) or "KEY_days_ago";
 * dflt_days when neither (-1: none, returns NULL). */
static const char *when(struct awsep_req *r, const cJSON *o, const char *key,
                        double dflt_days, char out[32]) {
  char k[64];
  const char *s = awsep_s(o, key, NULL);
  if (s) return s;
  snprintf(k, sizeof k, "%s_days_ago", key);
  double d = awsep_n(o, k, dflt_days);
  if (d < 0) return NULL;
  awsep_days_ago(r->ep, d, out);
  return out;
}

static int get_account_summary(struct awsep_req *r) {
  const cJSON *a = iam(r);
  long nusers = cJSON_GetArraySize(users(r));
  /* The real map has some forty entries; these are the ones people read
   * (AWS's order is no order). */
  const struct {
    const char *key;
    long v;
  } e[] = {
      {"GroupPolicySizeQuota", 5120},
      {"InstanceProfilesQuota", 1000},
      {"Policies", 12},
      {"GroupsPerUserQuota", 10},
      {"Users", nusers},
      {"AccountMFAEnabled", awsep_b(a, "account_mfa_enabled", 0)},
      {"AccountAccessKeysPresent", awsep_b(a, "root_access_keys", 0)},
      {"AccountSigningCertificatesPresent", 0},
      {"UsersQuota", 5000},
      {"MFADevices", awsep_b(a, "account_mfa_enabled", 0)},
      {"MFADevicesInUse", awsep_b(a, "account_mfa_enabled", 0)},
      {"AccessKeysPerUserQuota", 2},
  };
  awsep_begin(r);
  awsep_x_open(r, "SummaryMap");
  for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
    awsep_x_open(r, "entry");
    awsep_x_el(r, "key", e[i].key);
    awsep_x_elf(r, "value", "%ld", e[i].v);
    awsep_x_close(r, "entry");
  }
  awsep_x_close(r, "SummaryMap");
  awsep_end(r);
  return 0;
}

static int get_account_password_policy(struct awsep_req *r) {
  const cJSON *p =
      cJSON_GetObjectItemCaseSensitive(iam(r), "password_policy");
  if (!cJSON_IsObject(p))
    return awsep_error(r, 404, "NoSuchEntity",
                       "The Password Policy with domain name %s cannot be "
                       "found.",
                       awsep_account(r->ep));
  awsep_begin(r);
  awsep_x_open(r, "PasswordPolicy");
  /* The fields in the API's names and order; absent numbers are left
   * out, as AWS leaves out MaxPasswordAge when passwords do not expire. */
  static const char *const bools[] = {
      "RequireUppercaseCharacters", "RequireLowercaseCharacters",
      "RequireNumbers", "RequireSymbols", "AllowUsersToChangePassword",
      "HardExpiry", NULL};
  awsep_x_elf(r, "MinimumPasswordLength", "%d",
              (int)awsep_n(p, "MinimumPasswordLength", 8));
  for (const char *const *b = bools; *b; b++)
    awsep_x_bool(r, *b, awsep_b(p, *b, 0));
  int age = (int)awsep_n(p, "MaxPasswordAge", 0);
  awsep_x_bool(r, "ExpirePasswords", age > 0);
  if (age > 0) awsep_x_elf(r, "MaxPasswordAge", "%d", age);
  int reuse = (int)awsep_n(p, "PasswordReusePrevention", 0);
  if (reuse > 0) awsep_x_elf(r, "PasswordReusePrevention", "%d", reuse);
  awsep_x_close(r, "PasswordPolicy");
  awsep_end(r);
  return 0;
}

/* Paging as IAM does it: MaxItems (1-1000, default 100, or the fixture's
 * "page_size" when smaller), Marker an opaque token (ours: the index). */
static int page(struct awsep_req *r, long *start, long *max) {
  long dflt = (long)awsep_n(iam(r), "page_size", 100);
  *max = awsep_int(r, "MaxItems", dflt, 1, 1000);
  if (*max < 0) return -1;
  const char *m = awsep_param(r, "Marker");
  *start = 0;
  if (m) {
    if (strncmp(m, "awsep-", 6) != 0) {
      awsep_error(r, 400, "ValidationError", "Invalid Marker '%s'", m);
      return -1;
    }
    *start = strtol(m + 6, NULL, 10);
  }
  return 0;
}

static void end_page(struct awsep_req *r, long next, long total) {
  awsep_x_bool(r, "IsTruncated", next < total);
  if (next < total) awsep_x_elf(r, "Marker", "awsep-%ld", next);
}

static int list_users(struct awsep_req *r) {
  long start, max;
  if (page(r, &start, &max)) return 0;
  long i = 0, total = cJSON_GetArraySize(users(r)), next = start;
  char t[32];
  const cJSON *u;
  awsep_begin(r);
  awsep_x_open(r, "Users");
  cJSON_ArrayForEach(u, users(r)) {
    if (i++ < start || next >= start + max) continue;
    next++;
    const char *name = awsep_s(u, "name", "");
    awsep_x_open(r, "member");
    awsep_x_el(r, "Path", "/");
    awsep_x_el(r, "UserName", name);
    awsep_x_elf(r, "UserId", "AIDA%016lX", (unsigned long)i * 7919ul);
    awsep_x_elf(r, "Arn", "arn:aws:iam::%s:user/%s", awsep_account(r->ep),
                name);
    awsep_x_el(r, "CreateDate", when(r, u, "created", 400, t));
    const char *pl = when(r, u, "password_last_used", -1, t);
    if (pl) awsep_x_el(r, "PasswordLastUsed", pl);
    awsep_x_close(r, "member");
  }
  awsep_x_close(r, "Users");
  end_page(r, next, total);
  awsep_end(r);
  return 0;
}

static const cJSON *user_named(struct awsep_req *r, const char *name) {
  const cJSON *u;
  cJSON_ArrayForEach(u, users(r)) {
    if (strcmp(awsep_s(u, "name", ""), name) == 0) return u;
  }
  return NULL;
}

static int list_access_keys(struct awsep_req *r) {
  /* Without UserName: the caller's own keys; the checks always name one. */
  const char *name = awsep_require(r, "UserName");
  if (!name) return 0;
  const cJSON *u = user_named(r, name), *k;
  if (!u)
    return awsep_error(r, 404, "NoSuchEntity",
                       "The user with name %s cannot be found.", name);
  long start, max;
  if (page(r, &start, &max)) return 0;
  const cJSON *keys = cJSON_GetObjectItemCaseSensitive(u, "access_keys");
  long i = 0, total = cJSON_GetArraySize(keys), next = start;
  char t[32];
  awsep_begin(r);
  awsep_x_open(r, "AccessKeyMetadata");
  cJSON_ArrayForEach(k, keys) {
    if (i++ < start || next >= start + max) continue;
    next++;
    awsep_x_open(r, "member");
    awsep_x_el(r, "UserName", name);
    awsep_x_el(r, "AccessKeyId", awsep_s(k, "id", ""));
    awsep_x_el(r, "Status", awsep_s(k, "status", "Active"));
    awsep_x_el(r, "CreateDate", when(r, k, "created", 30, t));
    awsep_x_close(r, "member");
  }
  awsep_x_close(r, "AccessKeyMetadata");
  end_page(r, next, total);
  awsep_end(r);
  return 0;
}

static int get_access_key_last_used(struct awsep_req *r) {
  const char *id = awsep_require(r, "AccessKeyId");
  if (!id) return 0;
  const cJSON *u, *k, *found = NULL, *owner = NULL;
  cJSON_ArrayForEach(u, users(r)) {
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(u, "access_keys")) {
      if (strcmp(awsep_s(k, "id", ""), id) == 0) {
        found = k;
        owner = u;
      }
    }
  }
  /* IAM answers an unknown key id with AccessDenied, not NoSuchEntity:
   * it will not say whether a key exists in another account. */
  if (!found)
    return awsep_error(r, 403, "AccessDenied",
                       "User: arn:aws:iam::%s:user/gameday is not authorized "
                       "to perform: iam:GetAccessKeyLastUsed on resource: "
                       "access key %s",
                       awsep_account(r->ep), id);
  char t[32];
  awsep_begin(r);
  awsep_x_el(r, "UserName", awsep_s(owner, "name", ""));
  awsep_x_open(r, "AccessKeyLastUsed");
  const char *last = when(r, found, "last_used", -1, t);
  if (last) {
    awsep_x_el(r, "LastUsedDate", last);
    awsep_x_el(r, "ServiceName", awsep_s(found, "last_used_service", "s3"));
    awsep_x_el(r, "Region", awsep_s(found, "last_used_region", "eu-west-1"));
  } else {
    /* Never used: no date, and N/A for the rest. */
    awsep_x_el(r, "ServiceName", "N/A");
    awsep_x_el(r, "Region", "N/A");
  }
  awsep_x_close(r, "AccessKeyLastUsed");
  awsep_end(r);
  return 0;
}

const struct awsep_op gd_awsep_iam_ops[] = {
    {"GetAccountSummary", 0, get_account_summary},
    {"GetAccountPasswordPolicy", 0, get_account_password_policy},
    {"ListUsers", 0, list_users},
    {"ListAccessKeys", 0, list_access_keys},
    {"GetAccessKeyLastUsed", 0, get_access_key_last_used},
    {NULL, 0, NULL}};

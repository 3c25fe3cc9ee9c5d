/* The test AWS endpoint: STS (query protocol, 2011-06-15), AssumeRole and
 * AssumeRoleWithWebIdentity, for the credential chain's role tests.
 *
 * AssumeRole arrives signed (awsep.c has checked the signature with the
 * caller's keys: the endpoint's own or ones issued here); the role must be
 * in the world's "sts"."roles", RoleArn and RoleSessionName are required,
 * ExternalId must match the role's when it has one, DurationSeconds is
 * 900..43200 and at most the role's max_session_duration.
 * AssumeRoleWithWebIdentity arrives unsigned and its WebIdentityToken must
 * be the role's web_identity_token. Both answer new credentials that the
 * endpoint then accepts on every service until they expire (awsep_sts_key
 * below); they live in the world's "sts_issued". Times are the real clock,
 * as the client's expiry checks are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "awsep_int.h"

#define STS_MIN_DURATION 900
#define STS_MAX_DURATION 43200

static cJSON *sts_conf(struct awsep_req *r) {
  return cJSON_GetObjectItemCaseSensitive(awsep_world(r), "sts");
}

static cJSON *find_role(struct awsep_req *r, const char *arn) {
  cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(sts_conf(r),
                                                          "roles")) {
    const char *a = awsep_s(it, "arn", NULL);
    if (a && strcmp(a, arn) == 0) return it;
  }
  return NULL;
}

static int denied(struct awsep_req *r, const char *op, const char *arn) {
  return awsep_error(r, 403, "AccessDenied",
                     "User: arn:aws:iam::%s:user/awsep is not authorized to "
                     "perform: sts:%s on resource: %s",
                     awsep_s(awsep_world(r), "account", "123456789012"), op,
                     arn);
}

/* RoleSessionName: 2 to 64 of [\w+=,.@-]. */
static int valid_session(const char *s) {
  size_t n = strlen(s);
  if (n < 2 || n > 64) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || strchr("_+=,.@-", s[i])))
      return 0;
  return 1;
}

/* The parameters both operations share; NULL after an error answer. */
static cJSON *common(struct awsep_req *r, const char *op, const char **arn,
                     const char **session, long *duration) {
  if (!(*arn = awsep_require(r, "RoleArn")) ||
      !(*session = awsep_require(r, "RoleSessionName")))
    return NULL;
  if (!valid_session(*session)) {
    awsep_error(r, 400, "ValidationError",
                "1 validation error detected: Value '%s' at "
                "'roleSessionName' failed to satisfy constraint: Member must "
                "satisfy regular expression pattern: [\\w+=,.@-]*",
                *session);
    return NULL;
  }
  if ((*duration = awsep_int(r, "DurationSeconds", 3600, STS_MIN_DURATION,
                             STS_MAX_DURATION)) < 0)
    return NULL;
  cJSON *role = find_role(r, *arn);
  if (!role) {
    denied(r, op, *arn);
    return NULL;
  }
  if (*duration > (long)awsep_n(role, "max_session_duration", 3600)) {
    awsep_error(r, 400, "ValidationError",
                "The requested DurationSeconds exceeds the MaxSessionDuration "
                "set for this role.");
    return NULL;
  }
  return role;
}

/* Issues credentials for role, remembers them and writes AssumedRoleUser
 * and Credentials. */
static void issue(struct awsep_req *r, const char *arn, const char *session,
                  long duration) {
  unsigned long k = awsep_serial(r->ep);
  char akid[32], secret[64], token[128], exp[32], id[64];
  snprintf(akid, sizeof akid, "ASIAAWSEP%011lu", k);
  snprintf(secret, sizeof secret, "awsep/sts/%lu/SecretKeyEXAMPLE0000000", k);
  snprintf(token, sizeof token, "IQoJb3JpZ2luX2VjEAwsep/sts/%lu/Token+//Z", k);
  double ttl = awsep_n(sts_conf(r), "issued_ttl_s", 0);
  time_t until = time(NULL) + (ttl > 0 ? (time_t)ttl : (time_t)duration);
  struct tm tm;
  gmtime_r(&until, &tm);
  strftime(exp, sizeof exp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  cJSON *c = cJSON_CreateObject();
  cJSON_AddStringToObject(c, "akid", akid);
  cJSON_AddStringToObject(c, "secret", secret);
  cJSON_AddStringToObject(c, "token", token);
  cJSON_AddNumberToObject(c, "expires", (double)until);
  cJSON_AddStringToObject(c, "role", arn);
  cJSON_AddItemToArray(awsep_wlist(r->ep, "sts_issued"), c);

  const char *slash = strrchr(arn, '/');
  const char *acct = awsep_s(awsep_world(r), "account", "123456789012");
  snprintf(id, sizeof id, "AROAAWSEP%011lu", k);
  awsep_x_open(r, "AssumedRoleUser");
  awsep_x_elf(r, "AssumedRoleId", "%s:%s", id, session);
  awsep_x_elf(r, "Arn", "arn:aws:sts::%s:assumed-role/%s/%s", acct,
              slash ? slash + 1 : arn, session);
  awsep_x_close(r, "AssumedRoleUser");
  awsep_x_open(r, "Credentials");
  awsep_x_el(r, "AccessKeyId", akid);
  awsep_x_el(r, "SecretAccessKey", secret);
  awsep_x_el(r, "SessionToken", token);
  awsep_x_el(r, "Expiration", exp);
  awsep_x_close(r, "Credentials");
}

static int assume_role(struct awsep_req *r) {
  const char *arn, *session;
  long duration;
  cJSON *role = common(r, "AssumeRole", &arn, &session, &duration);
  if (!role) return 0;
  const char *want = awsep_s(role, "external_id", NULL);
  const char *got = awsep_param(r, "ExternalId");
  if (want && (!got || strcmp(want, got) != 0))
    return denied(r, "AssumeRole", arn);
  awsep_begin(r);
  issue(r, arn, session, duration);
  awsep_x_el(r, "PackedPolicySize", "6");
  awsep_end(r);
  return 0;
}

static int assume_role_web(struct awsep_req *r) {
  const char *arn, *session, *tok;
  long duration;
  if (!(tok = awsep_require(r, "WebIdentityToken"))) return 0;
  cJSON *role =
      common(r, "AssumeRoleWithWebIdentity", &arn, &session, &duration);
  if (!role) return 0;
  const char *want = awsep_s(role, "web_identity_token", NULL);
  if (!want || strcmp(want, tok) != 0)
    return awsep_error(r, 400, "InvalidIdentityToken",
                       "The web identity token that was passed could not be "
                       "validated by AWS. Get a new identity token from the "
                       "identity provider and then retry the request.");
  awsep_begin(r);
  awsep_x_el(r, "SubjectFromWebIdentityToken", "system:serviceaccount:awsep");
  awsep_x_el(r, "Audience", "sts.amazonaws.com");
  issue(r, arn, session, duration);
  awsep_x_el(r, "Provider", "arn:aws:iam::123456789012:oidc-provider/awsep");
  awsep_end(r);
  return 0;
}

const struct awsep_op gd_awsep_sts_ops[] = {
    {.name = "AssumeRole", .fn = assume_role},
    {.name = "AssumeRoleWithWebIdentity", .fn = assume_role_web},
    {NULL, 0, NULL},
};

int awsep_sts_key(struct gd_awsep *ep, const char *akid, const char **secret,
                  const char **token) {
  cJSON *it;
  cJSON_ArrayForEach(it, awsep_wlist(ep, "sts_issued")) {
    const char *a = awsep_s(it, "akid", NULL);
    if (!a || strcmp(a, akid) != 0) continue;
    if (awsep_n(it, "expires", 0) <= (double)time(NULL)) return -1;
    *secret = awsep_s(it, "secret", "");
    *token = awsep_s(it, "token", "");
    return 1;
  }
  return 0;
}

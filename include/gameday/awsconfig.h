/* gameday: AWS configuration and credentials, resolved the way the AWS SDKs
 * resolve them.
 *
 * Configuration (gd_aws_config_*): the profile (AWS_PROFILE, else
 * "default"), the shared files (~/.aws/config and ~/.aws/credentials, or
 * AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE), the region (AWS_REGION,
 * AWS_DEFAULT_REGION, then the profile's `region`) and the endpoint of each
 * service, with the overrides AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL,
 * the config file's `services` section and the profile's `endpoint_url`, in
 * that order (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the profile's
 * `ignore_configured_endpoint_urls` turns all four off). A profile's settings
 * are those of its section in both files; where both set a key, the
 * credentials file wins, as in every SDK.
 *
 * Credentials (gd_aws_credprov_*): the SDKs' default chain, first match wins:
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *      AWS_SESSION_TOKEN (skipped when the caller named the profile, as
 *      the SDKs do; AWS_PROFILE does not count);
 *   2. assume role: the profile's role_arn with source_profile (the keys,
 *      role or process of that profile, chained up to 8 deep, cycles
 *      refused; a profile that is its own source uses its own keys) or
 *      credential_source (Environment, Ec2InstanceMetadata, EcsContainer),
 *      and role_session_name (default gameday-<epoch>), external_id,
 *      duration_seconds; mfa_serial is refused (gameday runs unattended).
 *      STS AssumeRole, signed with the source credentials, at
 *      sts.REGION.amazonaws.com (AWS_ENDPOINT_URL_STS and the other
 *      overrides apply; us-east-1 when no region is set);
 *   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (and
 *      AWS_ROLE_SESSION_NAME), else the profile's web_identity_token_file,
 *      role_arn, role_session_name: the unsigned STS
 *      AssumeRoleWithWebIdentity, the token file read on every fetch;
 *   4. the profile: static keys (aws_access_key_id, aws_secret_access_key,
 *      aws_session_token), else `credential_process` (split like a POSIX
 *      shell line but run without a shell, as botocore does; its stdout is
 *      the JSON document of Version 1);
 *   5. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      (http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI (https,
 *      or http to a loopback address or the EKS Pod Identity agent), with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or _TOKEN as Authorization;
 *   6. instance metadata, IMDSv2 (a session token, then the role, then its
 *      credentials) with IMDSv1 as fallback when the token call is refused
 *      (403, 404, 405) unless AWS_EC2_METADATA_V1_DISABLED; endpoint
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT (or _ENDPOINT_MODE=IPv6), off with
 *      AWS_EC2_METADATA_DISABLED=true; 1 s timeout and 1 attempt unless
 *      AWS_METADATA_SERVICE_TIMEOUT / _NUM_ATTEMPTS say otherwise, so a
 *      laptop does not hang.
 * Not supported (an error naming the setting, never a silent fall-through
 * to other credentials): SSO profiles (sso_session, sso_start_url).
 * STS errors read "profile 'ops': sts AssumeRole: AccessDenied: ...".
 *
 * The source that answered first is kept and asked again when its
 * credentials come near expiry. Secrets never appear in a message: errors
 * name the profile, the file and the source, never a value. */
#ifndef GAMEDAY_AWSCONFIG_H
#define GAMEDAY_AWSCONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gameday/curl.h"
#include "gameday/error.h"

/* ------------------------------------------------------------------ */
/* Configuration */

struct gd_aws_config;

/* Reads the environment and the shared files. profile NULL: AWS_PROFILE,
 * else "default". A missing file is no error; a file that cannot be read or
 * parsed is ("'/home/u/.aws/config' line 4: expected 'name = value'", the
 * line itself is not quoted: it may hold a secret). A profile asked for by
 * name (argument or AWS_PROFILE) that neither file has is GD_ENOTFOUND; the
 * default profile may be absent. */
int gd_aws_config_load(struct gd_aws_config **out, const char *profile,
                       struct gd_error *err);
void gd_aws_config_free(struct gd_aws_config *c);

const char *gd_aws_config_profile(const struct gd_aws_config *c);
/* 1 when the caller named the profile (not AWS_PROFILE, not the default):
 * the credential chain then skips the environment's keys, as the SDKs do
 * for a profile given in code. */
int gd_aws_config_profile_explicit(const struct gd_aws_config *c);
/* The files as resolved (~ expanded), whether they exist or not. */
const char *gd_aws_config_file(const struct gd_aws_config *c);
const char *gd_aws_config_credentials_file(const struct gd_aws_config *c);
/* NULL when nothing sets it. *source (may be NULL) tells where it came from:
 * "AWS_REGION", "AWS_DEFAULT_REGION" or "profile 'p' in '/path'". */
const char *gd_aws_config_region(const struct gd_aws_config *c,
                                 const char **source);
/* The profile's setting key (lowercase), NULL when unset; *file (may be
 * NULL) is the file it came from. */
const char *gd_aws_config_get(const struct gd_aws_config *c, const char *key,
                              const char **file);

/* Where to send a service's calls. */
struct gd_aws_endpoint {
  char url[512];           /* no trailing slash */
  char signing_region[64]; /* us-east-1 for IAM's global endpoint, ... */
  char signing_name[64];   /* the SigV4 service name: "ec2", "monitoring" */
  char source[96];         /* "default", "AWS_ENDPOINT_URL_SQS", ... */
};

/* service: an endpoint prefix ("ec2", "autoscaling", "monitoring", "sqs",
 * "elasticloadbalancing", ...) or an SDK service id ("Auto Scaling",
 * "CloudWatch", "Elastic Load Balancing v2"); the override variable is
 * AWS_ENDPOINT_URL_ plus the service id uppercased with spaces as
 * underscores (AWS_ENDPOINT_URL_AUTO_SCALING). region NULL: the configured
 * one; none at all is GD_EINVAL with a message saying how to set it. The
 * default is https://PREFIX.REGION.amazonaws.com, with IAM global per
 * partition and the China (amazonaws.com.cn) and ISO domains. */
int gd_aws_endpoint_resolve(const struct gd_aws_config *c, const char *service,
                            const char *region, struct gd_aws_endpoint *out,
                            struct gd_error *err);

/* ------------------------------------------------------------------ */
/* Credentials */

struct gd_aws_creds {
  char *access_key_id;
  char *secret_access_key;
  char *session_token;     /* NULL: none */
  int64_t expiration;      /* Unix seconds; 0: does not expire */
  char source[160];        /* "environment", "profile 'p' in '/path'",
                              "credential_process of profile 'p'",
                              "container credentials (URL)",
                              "instance metadata role 'r' (URL)" */
};

/* Deep copy into dst; GD_ENOMEM leaves dst empty. */
int gd_aws_creds_copy(struct gd_aws_creds *dst, const struct gd_aws_creds *src);
/* Wipes the secrets and frees the strings; the struct itself is not freed. */
void gd_aws_creds_clear(struct gd_aws_creds *c);

struct gd_aws_credprov;

/* creds is valid during the call only (copy it to keep it); on failure creds
 * is NULL and err says why (GD_ECANCELED when cancelled or closed). */
typedef void (*gd_aws_creds_cb)(const struct gd_aws_creds *creds,
                                const struct gd_error *err, void *arg);

/* When to ask the source again: credentials that expire within
 * GD_AWS_REFRESH_BEFORE_S are refreshed by the next get; if that refresh
 * fails, the old ones are still handed out while they have more than
 * GD_AWS_EXPIRED_BEFORE_S left (and the source is left alone for
 * GD_AWS_RETRY_AFTER_S), after that the failure is the answer. */
#define GD_AWS_REFRESH_BEFORE_S 300
#define GD_AWS_EXPIRED_BEFORE_S 60
#define GD_AWS_RETRY_AFTER_S 30
/* A credential_process that has not finished by then is killed. */
#define GD_AWS_PROCESS_TIMEOUT_MS 120000

/* Takes what it needs from cfg (which may be freed afterwards) and the
 * environment, now. curl carries the container and IMDS requests and must
 * outlive the provider. Nothing is contacted before the first get. */
int gd_aws_credprov_new(uv_loop_t *loop, struct gd_curl *curl,
                        const struct gd_aws_config *cfg,
                        struct gd_aws_credprov **out, struct gd_error *err);
/* Current credentials, fetched or refreshed as needed: returns 0 and calls
 * cb exactly once, never from within this call; or returns an error
 * (GD_ESTATE when closing) and never calls it. Concurrent gets share one
 * fetch. */
int gd_aws_credprov_get(struct gd_aws_credprov *p, gd_aws_creds_cb cb,
                        void *arg, struct gd_error *err);
/* The cached credentials when they need no refresh, else NULL: the fast
 * path for a caller that signs many requests. Valid until control returns
 * to the loop. */
const struct gd_aws_creds *gd_aws_credprov_current(struct gd_aws_credprov *p);
/* Calls, at once and with GD_ECANCELED, every pending cb registered with
 * this cb and arg. */
void gd_aws_credprov_cancel(struct gd_aws_credprov *p, gd_aws_creds_cb cb,
                            void *arg);
/* Cancels what is pending (as above), stops a running credential_process
 * or request, closes the handles and frees p from the last close callback,
 * then calls done (may be NULL). */
void gd_aws_credprov_close(struct gd_aws_credprov *p, void (*done)(void *arg),
                           void *arg);

/* ------------------------------------------------------------------ */
/* Pieces, public for the AWS client and the tests */

/* The container provider's URL from the environment (RELATIVE_URI wins over
 * FULL_URI, as in the SDKs), checked: a FULL_URI over http must name a
 * loopback address (127.0.0.0/8, ::1, localhost) or the EKS Pod Identity
 * agent (169.254.170.23, fd00:ec2::23). GD_ENOTFOUND when neither is set. */
int gd_aws_container_url(char *buf, size_t n, struct gd_error *err);
/* A credential_process line split into words as botocore does (Python's
 * shlex.split: POSIX quoting, no comments, no expansion). *argv is a
 * NULL-terminated malloc'd array (free with gd_strv_free from json.h). */
int gd_aws_cmdline_split(const char *line, char ***argv, size_t *argc,
                         struct gd_error *err);
/* ISO 8601 / RFC 3339 time as AWS writes it ("2024-05-01T12:00:00Z",
 * fractions and +hh:mm offsets accepted) to Unix seconds: 0, or GD_EINVAL
 * when s is not such a time. */
int gd_aws_parse_time(const char *s, int64_t *out);

#endif

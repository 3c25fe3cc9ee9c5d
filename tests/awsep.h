/* A test AWS endpoint: EC2, Auto Scaling, ELBv2, RDS, CloudWatch, IAM, S3,
 * CloudTrail, Lambda and STS on one loopback port, in-process on a thread of its
 * own, for the AWS kinds' tests. The client (or the gameday binary) points AWS_ENDPOINT_URL at it;
 * the service of a request is the one in its SigV4 credential scope.
 *
 * Every request is checked as AWS checks it: the SigV4 signature is
 * recomputed with gd_sigv4 from the raw request and the endpoint's
 * credentials (scope region and service, x-amz-date within 15 minutes,
 * host and x-amz-date signed, session token, x-amz-content-sha256); then
 * Action and Version (query protocol), the operation's required
 * parameters and the ids. Answers are in the services' wire format (XML,
 * root element, xmlns, Result element, ResponseMetadata; EC2's own
 * Response/Errors error shape), errors with the real codes and statuses
 * (SignatureDoesNotMatch 403, InvalidAction, MissingParameter,
 * ValidationError, InvalidInstanceID.Malformed/NotFound, DryRunOperation
 * 412, DBClusterNotFoundFault 404, InvalidDBClusterStateFault, ...).
 *
 * The world is a cJSON tree loaded from a fixture (format below) and
 * changed by the calls and by time: a terminated instance goes
 * shutting-down -> terminated, its Auto Scaling group marks it Terminating,
 * drops it and launches a replacement (Pending -> InService) up to the
 * desired capacity; its targets drain and go, the replacement's target is
 * registered initial -> healthy. Failover and reboot with ForceFailover put
 * the cluster in failing-over, then move the writer; restores and creates
 * go creating -> available, deletes deleting -> gone. Time is applied
 * lazily (before each request and each gd_awsep_lock), so no timer runs.
 *
 * Fixture (every key optional; ids as AWS writes them):
 *   {
 *     "account": "123456789012",
 *     "delays_ms": {             defaults in ms:
 *       "shutting_down": 300,    TerminateInstances -> terminated
 *       "replace": 300,          termination -> ASG launches a replacement
 *       "pending": 600,          replacement pending -> running/InService
 *       "target_initial": 600,   registered target initial -> healthy
 *       "draining": 300,         draining target -> deregistered
 *       "failover": 1000,        cluster failing-over -> available
 *       "reboot": 800,           instance rebooting -> available
 *       "create": 1000,          cluster/instance creating -> available
 *       "delete": 500 },         deleting -> gone
 *     "instances": [{"id": "i-0123456789abcdef0", "state": "running",
 *                    "az": "eu-west-1a", "type": "t3.micro",
 *                    "tags": {"Environment": "staging"},
 *                    "asg": "web",             (member of that group)
 *                    "lifecycle": "InService", "health": "Healthy",
 *                    "private_ip": "10.0.1.10"}],
 *     "auto_scaling_groups": [{"name": "web", "min": 2, "max": 4,
 *                    "desired": 3, "azs": ["eu-west-1a"],
 *                    "health_check_type": "ELB",
 *                    "target_groups": ["arn:...:targetgroup/web/..."],
 *                    "tags": {"Environment": "staging"}}],
 *     "target_groups": [{"arn": "arn:aws:elasticloadbalancing:eu-west-1:"
 *                    "123456789012:targetgroup/web/73e2d6bc24d8a067",
 *                    "name": "web", "port": 80, "protocol": "HTTP",
 *                    "vpc_id": "vpc-...", "load_balancers": ["arn..."],
 *                    "targets": [{"id": "i-...", "port": 80,
 *                                 "state": "healthy",
 *                                 "az": "eu-west-1b"}]}],
 *                    (az: only for IP targets, Target/AvailabilityZone
 *                    in DescribeTargetHealth; instances' zones come from
 *                    DescribeInstances)
 *     "db_clusters": [{"id": "staging-aurora", "status": "available",
 *                    "engine": "aurora-postgresql", "engine_version": "15.4",
 *                    "port": 5432, "endpoint": "...", "reader_endpoint": "...",
 *                    "tags": {...}, "backup_retention_period": 7,
 *                    "deletion_protection": true,
 *                    "latest_restorable_time": "2026-01-01T00:00:00Z",
 *                    "earliest_restorable_time": "...",
 *                    "subnet_group": "...", "security_groups": ["sg-..."],
 *                    "members": [{"id": "staging-aurora-1",
 *                                 "writer": true}]}],
 *     "db_instances": [{"id": "staging-aurora-1",
 *                    "cluster": "staging-aurora", "writer": true,
 *                    "status": "available", "class": "db.r6g.large",
 *                    "engine": "aurora-postgresql", "az": "eu-west-1a",
 *                    "tags": {...}}],
 *     "security_groups": [{"id": "sg-0123456789abcdef0",  (sg- + 8/17 hex)
 *                    "name": "web", "description": "...",
 *                    "vpc_id": "vpc-...", "tags": {...},
 *                    "ingress": [{"protocol": "tcp", "from": 443,
 *                                 "to": 443,        (default: from)
 *                                 "cidrs": ["0.0.0.0/0"],
 *                                 "ipv6_cidrs": ["::/0"],
 *                                 "groups": ["sg-..."],
 *                                 "prefix_lists": ["pl-..."]}],
 *                    "egress": [...]}],  (default: all traffic out)
 *                    Protocol "-1" (all traffic) is answered without
 *                    ports, as EC2 does. DescribeSecurityGroups takes
 *                    GroupId.N, GroupName.N, Filter.N (group-id,
 *                    group-name, vpc-id, tag:K, tag-key), MaxResults and
 *                    NextToken.
 *     "alarms": [{"name": "web-5xx", "state": "OK",
 *                 "metric": "HTTPCode_Target_5XX_Count",
 *                 "namespace": "AWS/ApplicationELB",
 *                 "dimensions": {"LoadBalancer": "app/web/50dc6c495c0c9188"},
 *                 "statistic": "Sum", "period": 60, "threshold": 10,
 *                 "comparison": "GreaterThanThreshold",
 *                 "evaluation_periods": 1}],
 *     "iam": {"account_mfa_enabled": true,  (AccountMFAEnabled 1)
 *             "root_access_keys": false,    (AccountAccessKeysPresent)
 *             "page_size": 100,             (ListUsers/ListAccessKeys
 *                                            pages, unless MaxItems is
 *                                            smaller)
 *             "password_policy": {"MinimumPasswordLength": 14,
 *                    "RequireSymbols": true, "RequireNumbers": true,
 *                    "RequireUppercaseCharacters": true,
 *                    "RequireLowercaseCharacters": true,
 *                    "AllowUsersToChangePassword": true,
 *                    "MaxPasswordAge": 90,  (0/absent: ExpirePasswords
 *                                            false)
 *                    "PasswordReusePrevention": 24, "HardExpiry": false},
 *                    (absent or null: NoSuchEntity 404)
 *             "users": [{"name": "alice",
 *                    "created_days_ago": 400,    (or "created": ISO)
 *                    "password_last_used_days_ago": 2,
 *                    "access_keys": [{"id": "AKIA...",
 *                                     "status": "Active",
 *                                     "created_days_ago": 30,
 *                                     "last_used_days_ago": 1,
 *                                     (absent: never used)
 *                                     "last_used_service": "s3"}]}]},
 *     "s3_page_size": 10000,     (ListBuckets pages: ContinuationToken)
 *     "buckets": [{"name": "assets", "region": "eu-west-1",
 *                  (another region than the request's signature: 301
 *                  PermanentRedirect with x-amz-bucket-region)
 *                  "created": "2024-01-01T00:00:00.000Z",
 *                  "public_access_block": {"BlockPublicAcls": true,
 *                     "IgnorePublicAcls": true, "BlockPublicPolicy": true,
 *                     "RestrictPublicBuckets": true},
 *                  (absent: NoSuchPublicAccessBlockConfiguration 404)
 *                  "policy": "public" | "private",
 *                  (absent: NoSuchBucketPolicy 404)
 *                  "acl_public": "READ"}],  (a grant to AllUsers)
 *     "trails": [{"name": "main", "home_region": "eu-west-1",
 *                 "multi_region": true, "logging": true,
 *                 "s3_bucket": "...", "organization": false}],
 *                 (multi-region trails of another home are shown as
 *                 shadow trails; GetTrailStatus by ARN from anywhere)
 *     "lambda_page_size": 50,    (ListFunctions pages)
 *     "functions": [{"name": "api", "runtime": "python3.12",
 *                    "package_type": "Zip"}], (Image: no Runtime)
 *     "sts": {"roles": [{"arn": "arn:aws:iam::123456789012:role/deploy",
 *                    "external_id": "x",    (AssumeRole must send it)
 *                    "max_session_duration": 3600,
 *                    "web_identity_token": "eyJ..."}],
 *                    (AssumeRoleWithWebIdentity must send it; absent:
 *                    InvalidIdentityToken)
 *             "issued_ttl_s": 200}  (issued credentials expire after
 *                    this, whatever DurationSeconds says: refresh tests)
 *   }
 * IAM answers only signatures scoped to us-east-1 (it is global), S3
 * requires x-amz-content-sha256 and checks the path as sent (S3's rules),
 * S3 takes path-style (/bucket/...) or virtual-host (bucket.host) requests
 * and answers <Error><Code/>... errors; CloudTrail wants X-Amz-Target
 * com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.Op and answers
 * {"__type", "message"}; Lambda routes GET /2015-03-31/functions/ and
 * puts its error codes in x-amzn-ErrorType. Call log "params" of REST
 * requests are the query's plus "_method", "_path" and "_bucket"; of JSON
 * requests, the body.
 * STS: AssumeRole (signed; a role of "sts"."roles", else AccessDenied 403;
 * RoleArn and RoleSessionName required, ExternalId checked, DurationSeconds
 * 900..max_session_duration, else ValidationError) and the unsigned
 * AssumeRoleWithWebIdentity (the role's web_identity_token, else
 * InvalidIdentityToken 400). The credentials they issue are accepted by
 * every service here until their Expiration (then ExpiredToken), so a test
 * can assume a role and call EC2 with the result.
 * A cluster's "members" become db_instances (cluster, writer) when those
 * are not listed; the membership lives in db_instances. Endpoints default
 * to ID.cluster-c0ffee123456.REGION.rds.amazonaws.com (cluster-ro- for the
 * reader), restorable times to now-5min and now-7days when not given.
 * After loading, the world (gd_awsep_lock) has this shape with every
 * default filled in. */
#ifndef GD_AWSEP_H
#define GD_AWSEP_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* The credentials and region the endpoint expects (and gd_awsep_setenv
 * hands out) unless the options say otherwise. */
#define GD_AWSEP_AKID "AKIDAWSEPTEST0000001"
#define GD_AWSEP_SECRET "awsep/Secret+Key/EXAMPLEKEY0000000000000"
#define GD_AWSEP_REGION "eu-west-1"

struct gd_awsep_options {
  const char *region;        /* NULL: GD_AWSEP_REGION */
  const char *access_key;    /* NULL: GD_AWSEP_AKID */
  const char *secret_key;    /* NULL: GD_AWSEP_SECRET */
  const char *session_token; /* required on every request when set */
};

struct gd_awsep;

/* Starts on a free loopback port with an empty world. opts may be NULL.
 * NULL on failure (printed). */
struct gd_awsep *gd_awsep_start(const struct gd_awsep_options *opts);
/* Stops the thread, closes every connection, frees everything. */
void gd_awsep_stop(struct gd_awsep *ep);
int gd_awsep_port(const struct gd_awsep *ep);
/* "http://127.0.0.1:PORT" */
const char *gd_awsep_url(const struct gd_awsep *ep);

/* Replaces the world with a fixture (JSON text or a tree, copied) and
 * forgets scheduled changes. 0, or -1 with why in err (may be NULL). */
int gd_awsep_load(struct gd_awsep *ep, const char *fixture_json, char *err,
                  size_t errlen);
int gd_awsep_load_tree(struct gd_awsep *ep, const cJSON *fixture, char *err,
                       size_t errlen);

/* Sets this process's environment for a client of this endpoint (in
 * process, or the gameday binary it spawns): AWS_ENDPOINT_URL,
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (or unset),
 * AWS_REGION, AWS_EC2_METADATA_DISABLED=true. Use inside
 * gd_awsenv_begin/end (awsmeta.h) so the rest is clean and restored. */
void gd_awsep_setenv(const struct gd_awsep *ep);

/* ---- the world ---- */

/* Applies what time has done, then holds the world's mutex and returns the
 * world (shape as the fixture, defaults filled in). Change it freely (set
 * an alarm to ALARM, a target unhealthy); the server waits meanwhile. */
cJSON *gd_awsep_lock(struct gd_awsep *ep);
void gd_awsep_unlock(struct gd_awsep *ep);
/* Shortcuts, locked inside. 0, or -1 when there is no such thing. */
int gd_awsep_set_alarm(struct gd_awsep *ep, const char *name,
                       const char *state);
int gd_awsep_set_target(struct gd_awsep *ep, const char *instance_id,
                        const char *state); /* in every target group */
/* A copy of world[list] item whose key ("id", "name", "arn") is value,
 * after applying time; NULL when absent. cJSON_Delete it. */
cJSON *gd_awsep_get(struct gd_awsep *ep, const char *list, const char *value);

/* ---- calls ---- */

/* A copy of the call log: an array of {"service", "action", "params" (the
 * wire parameters as one flat object: {"InstanceId.1": "i-..",
 * "DryRun": "true"}), "status" (HTTP), "code" (AWS error or ""),
 * "mutating" (bool: a mutating action that was not a DryRun)}, one per
 * request that got past the signature check, oldest first. */
cJSON *gd_awsep_calls(struct gd_awsep *ep);
void gd_awsep_calls_clear(struct gd_awsep *ep);
/* Logged calls of service/action (NULL matches any). */
unsigned gd_awsep_count(struct gd_awsep *ep, const char *service,
                        const char *action);
/* Logged mutating calls that were not DryRun (what --dry-run must not
 * make): TerminateInstances, FailoverDBCluster, RebootDBInstance,
 * RestoreDBClusterToPointInTime, CreateDBInstance, DeleteDBInstance,
 * DeleteDBCluster. */
unsigned gd_awsep_mutations(struct gd_awsep *ep);
/* Every request, and those refused for their signature/credentials. */
unsigned gd_awsep_requests(struct gd_awsep *ep);
unsigned gd_awsep_bad_signatures(struct gd_awsep *ep);

/* The next n calls of service/action (NULL matches any) fail with this
 * HTTP status and AWS error code (message NULL: a stock one), in the
 * service's error shape: ("autoscaling", NULL, 2, 400, "Throttling", NULL),
 * (NULL, NULL, 1, 500, "InternalFailure", NULL), ("ec2",
 * "TerminateInstances", 1, 403, "UnauthorizedOperation", NULL). Such calls
 * are logged with that status and code, and change nothing. A later call
 * to this replaces an earlier rule only for the same service/action. */
void gd_awsep_fail_next(struct gd_awsep *ep, const char *service,
                        const char *action, int n, int status,
                        const char *code, const char *message);

#endif

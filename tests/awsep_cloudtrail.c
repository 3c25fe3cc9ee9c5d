/* The test AWS endpoint: CloudTrail (JSON 1.1, X-Amz-Target
 * com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.Op):
 * DescribeTrails and GetTrailStatus. A multi-region trail whose home is
 * another region is listed as CloudTrail lists it there, a "shadow trail"
 * (only with includeShadowTrails, the default); its status is asked by
 * ARN. The world's "trails" (awsep.h); nothing here changes them. */
#include <stdio.h>
#include <string.h>

#include "awsep_int.h"

static void arn(struct awsep_req *r, const cJSON *t, char *out, size_t n) {
  snprintf(out, n, "arn:aws:cloudtrail:%s:%s:trail/%s",
           awsep_s(t, "home_region", awsep_region(r->ep)),
           awsep_account(r->ep), awsep_s(t, "name", ""));
}

static int describe_trails(struct awsep_req *r) {
  const cJSON *shadow = cJSON_GetObjectItemCaseSensitive(r->params,
                                                         "includeShadowTrails");
  const cJSON *names = cJSON_GetObjectItemCaseSensitive(r->params,
                                                        "trailNameList");
  if (shadow && !cJSON_IsBool(shadow))
    return awsep_error(r, 400, "SerializationException",
                       "includeShadowTrails: expected a boolean");
  if (names && !cJSON_IsArray(names))
    return awsep_error(r, 400, "SerializationException",
                       "trailNameList: expected a list");
  int with_shadow = !shadow || cJSON_IsTrue(shadow);
  cJSON *o = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(o,
                                                                  "trailList");
  const cJSON *t, *nm;
  char a[256];
  cJSON_ArrayForEach(t, awsep_wlist(r->ep, "trails")) {
    const char *home = awsep_s(t, "home_region", awsep_region(r->ep));
    int multi = awsep_b(t, "multi_region", 0);
    int here = strcmp(home, awsep_region(r->ep)) == 0;
    if (!here && !(multi && with_shadow)) continue;
    arn(r, t, a, sizeof a);
    if (cJSON_GetArraySize(names) > 0) {
      int want = 0;
      cJSON_ArrayForEach(nm, names) {
        const char *s = cJSON_GetStringValue(nm);
        if (s && (strcmp(s, awsep_s(t, "name", "")) == 0 ||
                  strcmp(s, a) == 0))
          want = 1;
      }
      if (!want) continue;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "Name", awsep_s(t, "name", ""));
    cJSON_AddStringToObject(j, "S3BucketName",
                            awsep_s(t, "s3_bucket", "cloudtrail-logs"));
    cJSON_AddBoolToObject(j, "IncludeGlobalServiceEvents",
                          awsep_b(t, "global_events", 1));
    cJSON_AddBoolToObject(j, "IsMultiRegionTrail", multi);
    cJSON_AddStringToObject(j, "HomeRegion", home);
    cJSON_AddStringToObject(j, "TrailARN", a);
    cJSON_AddBoolToObject(j, "LogFileValidationEnabled",
                          awsep_b(t, "log_file_validation", 1));
    cJSON_AddBoolToObject(j, "HasCustomEventSelectors", 0);
    cJSON_AddBoolToObject(j, "HasInsightSelectors", 0);
    cJSON_AddBoolToObject(j, "IsOrganizationTrail",
                          awsep_b(t, "organization", 0));
    cJSON_AddItemToArray(list, j);
  }
  return awsep_json(r, 200, o);
}

static int get_trail_status(struct awsep_req *r) {
  const char *name = cJSON_GetStringValue(
      cJSON_GetObjectItemCaseSensitive(r->params, "Name"));
  if (!name || !name[0])
    return awsep_error(r, 400, "InvalidTrailNameException",
                       "Trail name or ARN can only contain ...");
  const cJSON *t, *found = NULL;
  char a[256];
  cJSON_ArrayForEach(t, awsep_wlist(r->ep, "trails")) {
    arn(r, t, a, sizeof a);
    const char *home = awsep_s(t, "home_region", awsep_region(r->ep));
    /* By name only in the trail's home region; by ARN from anywhere. */
    if (strcmp(name, a) == 0 ||
        (strcmp(name, awsep_s(t, "name", "")) == 0 &&
         strcmp(home, awsep_region(r->ep)) == 0))
      found = t;
  }
  if (!found)
    return awsep_error(r, 400, "TrailNotFoundException",
                       "Unknown trail: %s for the user: %s", name,
                       awsep_account(r->ep));
  int logging = awsep_b(found, "logging", 1);
  double now = awsep_epoch(r->ep);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "IsLogging", logging);
  /* Timestamps are epoch seconds in the JSON protocols. */
  cJSON_AddNumberToObject(o, "LatestDeliveryTime", (double)(long)(now - 300));
  cJSON_AddNumberToObject(o, "StartLoggingTime",
                          (double)(long)(now - 86400 * 90));
  if (!logging)
    cJSON_AddNumberToObject(o, "StopLoggingTime", (double)(long)(now - 3600));
  cJSON_AddStringToObject(o, "LatestDeliveryAttemptTime", "");
  return awsep_json(r, 200, o);
}

const struct awsep_op gd_awsep_cloudtrail_ops[] = {
    {"DescribeTrails", 0, describe_trails},
    {"GetTrailStatus", 0, get_trail_status},
    {NULL, 0, NULL}};

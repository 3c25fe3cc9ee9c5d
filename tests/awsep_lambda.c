/* The test AWS endpoint: Lambda (REST-JSON): ListFunctions, GET
 * /2015-03-31/functions/ with Marker paging (MaxItems 1-10000, 50 by
 * default, or the fixture's "lambda_page_size"). Errors carry their code in
 * x-amzn-ErrorType, as Lambda's do. The world's "functions" (awsep.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awsep_int.h"

int awsep_lambda_route(struct awsep_req *r) {
  if (strcmp(r->method, "GET") == 0 &&
      (strcmp(r->path, "/2015-03-31/functions/") == 0 ||
       strcmp(r->path, "/2015-03-31/functions") == 0)) {
    snprintf(r->action, sizeof r->action, "ListFunctions");
    return 0;
  }
  snprintf(r->action, sizeof r->action, "%s %s", r->method, r->path);
  awsep_error(r, 404, "UnknownOperationException", "%s", "");
  return -1;
}

static int list_functions(struct awsep_req *r) {
  long dflt = (long)awsep_n(awsep_world(r), "lambda_page_size", 50);
  const char *mi = awsep_param(r, "MaxItems");
  long max = dflt;
  if (mi) {
    char *e;
    max = strtol(mi, &e, 10);
    if (!mi[0] || *e || max < 1 || max > 10000)
      return awsep_error(r, 400, "InvalidParameterValueException",
                         "1 validation error detected: Value '%s' at "
                         "'maxItems' failed to satisfy constraint: Member "
                         "must have value between 1 and 10000",
                         mi);
    if (max > dflt) max = dflt;
  }
  long start = 0;
  const char *m = awsep_param(r, "Marker");
  if (m) {
    if (strncmp(m, "awsep-", 6) != 0)
      return awsep_error(r, 400, "InvalidParameterValueException",
                         "Invalid marker: %s", m);
    start = strtol(m + 6, NULL, 10);
  }
  cJSON *o = cJSON_CreateObject();
  cJSON *list = cJSON_AddArrayToObject(o, "Functions");
  const cJSON *f;
  long i = 0, next = start;
  char mod[32];
  cJSON *all = awsep_wlist(r->ep, "functions");
  long total = cJSON_GetArraySize(all);
  cJSON_ArrayForEach(f, all) {
    if (i++ < start || next >= start + max) continue;
    next++;
    const char *name = awsep_s(f, "name", "");
    const char *pkg = awsep_s(f, "package_type", "Zip");
    char arn[256];
    snprintf(arn, sizeof arn, "arn:aws:lambda:%s:%s:function:%s",
             awsep_region(r->ep), awsep_account(r->ep), name);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "FunctionName", name);
    cJSON_AddStringToObject(j, "FunctionArn", arn);
    /* Container images have no runtime, and say so by leaving it out. */
    if (strcmp(pkg, "Zip") == 0) {
      cJSON_AddStringToObject(j, "Runtime",
                              awsep_s(f, "runtime", "python3.12"));
      cJSON_AddStringToObject(j, "Handler", "app.handler");
    }
    cJSON_AddStringToObject(j, "Role", "arn:aws:iam::123456789012:role/fn");
    cJSON_AddNumberToObject(j, "CodeSize", 1024);
    cJSON_AddNumberToObject(j, "Timeout", 3);
    cJSON_AddNumberToObject(j, "MemorySize", 128);
    awsep_days_ago(r->ep, 30, mod);
    /* Lambda's own format: "2026-10-24T23:00:00.000+0000". */
    char lm[40];
    snprintf(lm, sizeof lm, "%.19s.000+0000", mod);
    cJSON_AddStringToObject(j, "LastModified", lm);
    cJSON_AddStringToObject(j, "Version", "$LATEST");
    cJSON_AddStringToObject(j, "PackageType", pkg);
    cJSON *arch = cJSON_AddArrayToObject(j, "Architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("x86_64"));
    cJSON_AddItemToArray(list, j);
  }
  if (next < total) {
    char nm[32];
    snprintf(nm, sizeof nm, "awsep-%ld", next);
    cJSON_AddStringToObject(o, "NextMarker", nm);
  }
  return awsep_json(r, 200, o);
}

const struct awsep_op gd_awsep_lambda_ops[] = {
    {"ListFunctions", 0, list_functions},
    {NULL, 0, NULL}};

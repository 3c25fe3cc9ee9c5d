/* gameday: the aws.call action: one AWS API call, for everything no
 * dedicated kind covers (stop an instance, detach a volume, set a desired
 * capacity, read something in verify). `service` and `operation` as the
 * API reference names them ("ec2", "StopInstances"), `parameters` a JSON
 * object the client puts on the wire (aws.h: flattened for the query
 * protocol, the body for JSON ones), `region` optional.
 *
 * ok when the call succeeds, or, with `expect: {"error_code": "..."}`,
 * when it fails with exactly that AWS error code (a negative check: "this
 * role must not be allowed to delete the table").
 *
 * gameday cannot know what an arbitrary operation changes, so a call is
 * taken as mutating unless the scenario says `"read_only": true`: a dry run
 * (plan, run --dry-run) makes the read-only ones and only says what it
 * would call for the others. Nor can it know which resources an operation
 * touches: the safety rules' tag check is the dedicated kinds' business,
 * and a scenario that uses aws.call for a fault takes that on itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/awskind.h"
#include "gameday/json.h"

/* The answer goes into the journal up to this size; beyond, it is cut. */
#define ANSWER_MAX 4096

struct call_action {
  char *service;
  char *operation;
  cJSON *params; /* an object, or NULL */
  char *region;
  char *expect_code;
  int read_only;

  /* run time */
  struct gd_action *a;
  struct gd_aws *aws;
  struct gd_aws_call *call;
  int ok;
  char msg[GD_ERROR_MAX];
};

static const char *const call_keys[] = {"service",  "operation", "parameters",
                                        "region",   "expect",    "read_only",
                                        NULL};
static const char *const expect_keys[] = {"error_code", NULL};

static void call_free(struct gd_action *a) {
  struct call_action *x = a->ctx;
  if (!x) return;
  free(x->service);
  free(x->operation);
  cJSON_Delete(x->params);
  free(x->region);
  free(x->expect_code);
  free(x);
  a->ctx = NULL;
}

static int call_init(struct gd_action *a, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  struct call_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  a->ctx = x;
  const char *service = NULL, *op = NULL, *code = NULL;
  const cJSON *params = NULL, *expect = NULL;
  char sub[256];
  int r;
  if ((r = gd_json_get_string(spec, "service", path, 1, &service, err)) ||
      (r = gd_json_get_string(spec, "operation", path, 1, &op, err)) ||
      (r = gd_json_get_object(spec, "parameters", path, 0, &params, err)) ||
      (r = gd_json_get_object(spec, "expect", path, 0, &expect, err)) ||
      (r = gd_json_get_bool(spec, "read_only", path, 0, &x->read_only, err)) ||
      (r = gd_awskind_region_parse(spec, path, &x->region, err)))
    goto out;
  const struct gd_aws_service *svc = gd_aws_service_find(service);
  if (!svc) {
    r = gd_error_set(err, GD_EINVAL,
                     "%s.service: unknown service '%s' (the endpoint prefix: "
                     "ec2, autoscaling, elasticloadbalancing, rds, "
                     "monitoring, sqs, ...)",
                     path, service);
    goto out;
  }
  if (svc->protocol == GD_AWS_REST_XML || svc->protocol == GD_AWS_REST_JSON) {
    r = gd_error_set(err, GD_EINVAL,
                     "%s.service: '%s' uses a REST protocol, which aws.call "
                     "does not speak yet",
                     path, service);
    goto out;
  }
  /* An operation is a PascalCase name; anything else would only come back
   * from AWS as InvalidAction, after the fault phase had begun. */
  int valid = op[0] >= 'A' && op[0] <= 'Z';
  for (const char *p = op; valid && *p; p++)
    valid = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9');
  if (!valid) {
    r = gd_error_set(err, GD_EINVAL,
                     "%s.operation: not an operation name '%s' (like "
                     "'StopInstances')",
                     path, op);
    goto out;
  }
  if (expect) {
    gd_json_path(sub, sizeof sub, path, "expect");
    if ((r = gd_json_check_keys(expect, sub, expect_keys, NULL, err)) ||
        (r = gd_json_get_string(expect, "error_code", sub, 1, &code, err)))
      goto out;
    if (!code[0]) {
      r = gd_error_set(err, GD_EINVAL, "%s.error_code: must not be empty",
                       sub);
      goto out;
    }
  }
  if (!(x->service = strdup(svc->name)) || !(x->operation = strdup(op)) ||
      (params && !(x->params = cJSON_Duplicate(params, 1))) ||
      (code && !(x->expect_code = strdup(code)))) {
    r = gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    goto out;
  }
  /* The client checks the parameters' shape only when it builds a request:
   * build one now, so a bad one is a load error. */
  if (svc->protocol == GD_AWS_QUERY) {
    char *body = NULL;
    struct gd_error e = {0};
    if ((r = gd_aws_query_body(svc, op, x->params, &body, &e))) {
      /* The client names "parameters.A": put the action's path before. */
      if (strncmp(e.msg, "parameters", 10) == 0)
        gd_error_set(err, r, "%s.%s", path, e.msg);
      else
        gd_error_set(err, r, "%s.parameters: %s", path, e.msg);
      goto out;
    }
    free(body);
  }
out:
  if (r) call_free(a);
  return r;
}

static void call_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct call_action *x = a->ctx;
  int k = snprintf(buf, n, "%s %s%s%s", x->service, x->operation,
                   x->region ? " in " : "", x->region ? x->region : "");
  if (k < 0 || (size_t)k >= n) return;
  if (x->expect_code)
    snprintf(buf + k, n - (size_t)k, ", expect error %s", x->expect_code);
  else if (x->read_only)
    snprintf(buf + k, n - (size_t)k, " (read only)");
}

static void aws_closed(void *arg) {
  struct call_action *x = arg;
  x->aws = NULL;
  gd_action_done(x->a, x->ok, "%s", x->msg);
}

static void add_answer(cJSON *d, const struct gd_aws_result *res) {
  if (res->json) {
    char *text = cJSON_PrintUnformatted(res->json);
    if (text && strlen(text) <= ANSWER_MAX)
      cJSON_AddItemToObject(d, "answer", cJSON_Duplicate(res->json, 1));
    else if (text)
      cJSON_AddBoolToObject(d, "answer_cut", 1);
    free(text);
  } else if (res->body && res->body_len) {
    size_t n = res->body_len < ANSWER_MAX ? res->body_len : ANSWER_MAX;
    char *text = malloc(n + 1);
    if (!text) return;
    memcpy(text, res->body, n);
    text[n] = 0;
    cJSON_AddStringToObject(d, "answer", text);
    if (n < res->body_len) cJSON_AddBoolToObject(d, "answer_cut", 1);
    free(text);
  }
}

static void on_answer(struct gd_aws_result *res, const struct gd_error *e,
                      void *arg) {
  struct call_action *x = arg;
  struct gd_action *a = x->a;
  x->call = NULL;
  cJSON *d = cJSON_CreateObject();
  if (d) {
    cJSON_AddStringToObject(d, "service", x->service);
    cJSON_AddStringToObject(d, "operation", x->operation);
    cJSON_AddNumberToObject(d, "status", (double)res->status);
    cJSON_AddNumberToObject(d, "attempts", res->attempts);
    if (res->request_id[0])
      cJSON_AddStringToObject(d, "request_id", res->request_id);
    if (res->aws_code[0]) cJSON_AddStringToObject(d, "aws_code", res->aws_code);
    if (!e) add_answer(d, res);
  }
  cJSON_Delete(a->detail);
  a->detail = d;

  char rid[128] = "";
  if (res->request_id[0])
    snprintf(rid, sizeof rid, " (request %s)", res->request_id);
  if (e && e->code == GD_ECANCELED) {
    x->ok = 0;
    snprintf(x->msg, sizeof x->msg,
             "%s %s: cancelled, the call may or may not have taken effect",
             x->service, x->operation);
  } else if (x->expect_code && e) {
    x->ok = strcmp(res->aws_code, x->expect_code) == 0;
    if (x->ok)
      snprintf(x->msg, sizeof x->msg, "%s %s: failed with %s as expected%s",
               x->service, x->operation, x->expect_code, rid);
    else
      snprintf(x->msg, sizeof x->msg, "%s (expected error %s)%s", e->msg,
               x->expect_code, rid);
  } else if (x->expect_code) {
    x->ok = 0;
    snprintf(x->msg, sizeof x->msg,
             "%s %s: succeeded, expected error %s%s", x->service,
             x->operation, x->expect_code, rid);
  } else if (e) {
    x->ok = 0;
    snprintf(x->msg, sizeof x->msg, "%s%s", e->msg, rid);
  } else {
    x->ok = 1;
    snprintf(x->msg, sizeof x->msg, "%s %s: ok%s", x->service, x->operation,
             rid);
  }
  /* done only once the client is closed: no handle left behind. */
  gd_aws_close(x->aws, aws_closed, x);
}

static int call_run(struct gd_action *a, struct gd_error *err) {
  struct call_action *x = a->ctx;
  if (x->aws)
    return gd_error_set(err, GD_ESTATE, "%s: already running", a->path);
  x->a = a;
  if (a->dry_run && !x->read_only) {
    cJSON *d = cJSON_CreateObject();
    if (d) {
      cJSON_AddStringToObject(d, "service", x->service);
      cJSON_AddStringToObject(d, "operation", x->operation);
      cJSON_AddBoolToObject(d, "called", 0);
    }
    cJSON_Delete(a->detail);
    a->detail = d;
    gd_action_done(a, 1,
                   "would call %s %s (not called in a dry run: it may change "
                   "something; \"read_only\": true runs it)",
                   x->service, x->operation);
    return 0;
  }
  /* An expected error is the answer itself, not something to retry into;
   * otherwise the client's retries of throttling and 5xx stand. */
  struct gd_aws_options o = {.max_attempts = x->expect_code ? 1 : 0};
  int rc = gd_awskind_client_region(a->loop, a->curl, x->region, &o, a->path,
                                    &x->aws, err);
  if (rc) return rc;
  struct gd_error e = {0};
  rc = gd_aws_call(x->aws, x->service, x->operation, x->params, on_answer, x,
                   &x->call, &e);
  if (rc) {
    gd_error_set(err, rc, "%s: %s", a->path, e.msg);
    gd_aws_close(x->aws, NULL, NULL);
    x->aws = NULL;
  }
  return rc;
}

static void call_cancel(struct gd_action *a) {
  struct call_action *x = a->ctx;
  if (x->call) gd_aws_cancel(x->call); /* on_answer, right here */
}

const struct gd_action_ops gd_action_aws_call = {
    .type = "aws.call",
    .keys = call_keys,
    .dry_run = 1,
    .init = call_init,
    .describe = call_describe,
    .run = call_run,
    .cancel = call_cancel,
    .free = call_free,
};

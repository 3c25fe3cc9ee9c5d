/* The fauxqs launcher and SQS calls of fauxqs.h. */
#include "fauxqs.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "gameday/aws.h"
#include "gameday/curl.h"
#include "httpd.h"
#include "testutil.h"

/* What is still running at exit, and the process that started it: a
 * forked child that exits must not stop its parent's fauxqs. */
#define MAX_LIVE 8
static pid_t live[MAX_LIVE];
static pid_t owner;

static void stop_live(void) {
  if (getpid() != owner) return;
  for (int i = 0; i < MAX_LIVE; i++)
    if (live[i] > 0) {
      gd_test_kill(live[i]);
      live[i] = 0;
    }
}

static void track(pid_t pid, pid_t was) {
  for (int i = 0; i < MAX_LIVE; i++)
    if (live[i] == was) {
      live[i] = pid;
      return;
    }
}

static int port_open(int port) {
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  close(fd);
  return ok;
}

int gd_fauxqs_start(struct gd_fauxqs *f, const char *dir) {
  if (f->pid > 0) return 0;
  if (f->why) return -1;
  char mods[4096], script[4096], log[4200];
  snprintf(mods, sizeof mods, "%s",
           gd_test_src("scenarios/local/stack/queue/node_modules/fauxqs"));
  snprintf(script, sizeof script, "%s",
           gd_test_src("scenarios/local/stack/queue/loopback.mjs"));
  snprintf(log, sizeof log, "%s/fauxqs.log", dir);
  if (system("command -v node >/dev/null 2>&1") != 0) {
    f->why = "node is not installed";
    return -1;
  }
  if (access(mods, R_OK) != 0) {
    f->why = "scenarios/local/stack/queue/node_modules missing (npm ci "
             "--prefix scenarios/local/stack/queue)";
    return -1;
  }
  if (!owner) {
    owner = getpid();
    atexit(stop_live);
  }
  f->port = gd_httpd_closed_port();
  snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", f->port);
  /* loopback.mjs reads its address from the environment; the settings
   * are for node alone, not for this process's later children. */
  char p[16];
  snprintf(p, sizeof p, "%d", f->port);
  setenv("FAUXQS_PORT", p, 1);
  setenv("FAUXQS_HOST", "127.0.0.1", 1);
  setenv("FAUXQS_LOGGER", "false", 1);
  char *argv[] = {"/usr/bin/env", "node", script, NULL};
  f->pid = gd_test_spawn(argv, log);
  unsetenv("FAUXQS_PORT");
  unsetenv("FAUXQS_HOST");
  unsetenv("FAUXQS_LOGGER");
  if (f->pid < 0) {
    f->pid = 0;
    f->why = "cannot spawn node";
    return -1;
  }
  track(f->pid, 0);
  for (int i = 0; i < 300 && !port_open(f->port); i++) usleep(20000);
  if (!port_open(f->port)) {
    gd_fauxqs_stop(f);
    f->why = "fauxqs did not start (see its log)";
    return -1;
  }
  return 0;
}

void gd_fauxqs_stop(struct gd_fauxqs *f) {
  if (f->pid <= 0) return;
  gd_test_kill(f->pid);
  track(0, f->pid);
  f->pid = 0;
}

void gd_fauxqs_setenv(const struct gd_fauxqs *f) {
  setenv("AWS_ENDPOINT_URL_SQS", f->url, 1);
}

struct call {
  int done, ok;
  cJSON *json;
  char msg[GD_ERROR_MAX];
};

static void call_cb(struct gd_aws_result *r, const struct gd_error *e,
                    void *arg) {
  struct call *c = arg;
  c->done = 1;
  c->ok = !e;
  if (e) snprintf(c->msg, sizeof c->msg, "%s", e->msg);
  c->json = r->json;
  r->json = NULL;
}

static void closed_cb(void *arg) { (*(int *)arg)++; }

cJSON *gd_fauxqs_sqs(const char *op, cJSON *params) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct gd_curl *curl;
  struct gd_aws *aws;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(gd_curl_new(&loop, &curl, &err), 0);
  CU_ASSERT_EQUAL_FATAL(gd_aws_new(&loop, curl, NULL, &aws, &err), 0);
  struct call c = {0};
  CU_ASSERT_EQUAL(gd_aws_call(aws, "sqs", op, params, call_cb, &c, NULL, &err),
                  0);
  cJSON_Delete(params);
  while (!c.done) uv_run(&loop, UV_RUN_ONCE);
  int closed = 0;
  gd_aws_close(aws, closed_cb, &closed);
  gd_curl_close(curl, closed_cb, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(closed, 2);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  if (!c.ok) printf("\n    %s: %s ", op, c.msg);
  return c.json;
}

cJSON *gd_fauxqs_sqs_text(const char *op, const char *params_json) {
  cJSON *params = cJSON_Parse(params_json);
  CU_ASSERT_PTR_NOT_NULL_FATAL(params);
  return gd_fauxqs_sqs(op, params);
}

void gd_fauxqs_new_queue(const char *name, char *url, size_t n, char *arn,
                         size_t an) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "QueueName", name);
  cJSON *j = gd_fauxqs_sqs("CreateQueue", p);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  const char *u = cJSON_GetStringValue(cJSON_GetObjectItem(j, "QueueUrl"));
  if (!u) cJSON_Delete(j);
  CU_ASSERT_PTR_NOT_NULL_FATAL(u);
  snprintf(url, n, "%s", u);
  cJSON_Delete(j);
  if (!arn) return;
  p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "QueueUrl", url);
  cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "AttributeNames"),
                       cJSON_CreateString("QueueArn"));
  j = gd_fauxqs_sqs("GetQueueAttributes", p);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  snprintf(arn, an, "%s",
           cJSON_GetStringValue(cJSON_GetObjectItem(
               cJSON_GetObjectItem(j, "Attributes"), "QueueArn")));
  cJSON_Delete(j);
}

int gd_fauxqs_redrive(const char *url, const char *dlq_arn,
                      int max_receives) {
  cJSON *p = cJSON_CreateObject(), *pol = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "QueueUrl", url);
  cJSON_AddStringToObject(pol, "deadLetterTargetArn", dlq_arn);
  cJSON_AddNumberToObject(pol, "maxReceiveCount", max_receives);
  char *pt = cJSON_PrintUnformatted(pol);
  cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "Attributes"),
                          "RedrivePolicy", pt);
  free(pt);
  cJSON_Delete(pol);
  cJSON *j = gd_fauxqs_sqs("SetQueueAttributes", p);
  int rc = j ? 0 : -1;
  cJSON_Delete(j);
  return rc;
}

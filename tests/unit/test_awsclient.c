/* The AWS client on the loop: query and JSON 1.0 calls against a loopback
 * AWS endpoint that verifies every request's SigV4 signature by recomputing
 * it from the raw request, AWS error answers, bounded retries, timeouts and
 * cancellation; then SQS against fauxqs, a third-party SQS implementation
 * (npm, scenarios/local/stack/queue). Every test runs with a temporary HOME,
 * credentials from the environment and IMDS disabled, so nothing leaves
 * 127.0.0.1. */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "awsmeta.h"
#include "fauxqs.h"
#include "gameday/aws.h"
#include "gameday/sigv4.h"
#include "httpd.h"
#include "testutil.h"

#define AKID "AKIDGAMEDAYTEST"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYGAMEDAYSECRET"
#define TOKEN "IQoJb3JpZ2luX2VjGAMEDAYSESSIONTOKEN/with+slash="

/* ------------------------------------------------------------------ */
/* A loopback AWS endpoint */

struct answer {
  int status;
  const char *ctype;
  const char *body;
};

#define AWSD_CONNS 16

struct awsd_conn {
  int fd;
  size_t len;
  char buf[65536];
};

struct awsd {
  int port;
  int lfd, wake[2];
  pthread_t th;
  struct awsd_conn conns[AWSD_CONNS];
  pthread_mutex_t mu;
  /* Answers in order; the last one repeats. */
  struct answer script[8];
  int nscript, next;
  int hang;
  atomic_uint requests, bad_sigs, good_sigs;
  char last_head[8192], last_body[8192];
};

static void awsd_send(int fd, int status, const char *ctype, const char *body) {
  char head[512];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
                   "x-amzn-RequestId: 7a62c49f-347e-4fc4-9331-6e8eEXAMPLE\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   status, ctype, strlen(body));
  if (send(fd, head, (size_t)n, MSG_NOSIGNAL) < 0) return;
  if (send(fd, body, strlen(body), MSG_NOSIGNAL) < 0) return;
}

/* The value of a header in a raw head, trimmed, or NULL. */
static const char *hval(const char *head, const char *name, char *out,
                        size_t n) {
  char pat[128];
  snprintf(pat, sizeof pat, "\r\n%s:", name);
  const char *h = strcasestr(head, pat);
  if (!h) return NULL;
  h += strlen(pat);
  while (*h == ' ') h++;
  size_t k = strcspn(h, "\r\n");
  if (k >= n) k = n - 1;
  memcpy(out, h, k);
  out[k] = 0;
  return out;
}

/* Recomputes the request's signature with the known secret. 0: it
 * matches; -1: it does not (or the request is not signed as AWS wants). */
static int verify(const char *head, const char *body, size_t blen) {
  char method[16], target[1024], auth[1024], date[64], tok[256];
  if (sscanf(head, "%15s %1023s", method, target) != 2) return -1;
  if (!hval(head, "Authorization", auth, sizeof auth)) return -1;
  if (!hval(head, "X-Amz-Date", date, sizeof date)) return -1;
  /* AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
   * SignedHeaders=a;b, Signature=hex */
  char akid[64], d8[16], region[64], service[64], signed_h[512], sig[80];
  if (sscanf(auth,
             "AWS4-HMAC-SHA256 Credential=%63[^/]/%15[^/]/%63[^/]/%63[^/]/"
             "aws4_request, SignedHeaders=%511[^,], Signature=%79s",
             akid, d8, region, service, signed_h, sig) != 6)
    return -1;
  if (strcmp(akid, AKID) != 0) return -1;
  /* The token must be sent, and signed. */
  if (!hval(head, "X-Amz-Security-Token", tok, sizeof tok) ||
      strcmp(tok, TOKEN) != 0 || !strstr(signed_h, "x-amz-security-token"))
    return -1;
  struct gd_sigv4_header hs[16];
  char vals[16][512];
  size_t nh = 0;
  char names[512];
  snprintf(names, sizeof names, "%s", signed_h);
  for (char *save, *nm = strtok_r(names, ";", &save); nm && nh < 16;
       nm = strtok_r(NULL, ";", &save)) {
    if (!hval(head, nm, vals[nh], sizeof vals[nh])) return -1;
    hs[nh].name = nm;
    hs[nh].value = vals[nh];
    nh++;
  }
  struct gd_sigv4_request r = {.method = method,
                               .target = target,
                               .headers = hs,
                               .nheaders = nh,
                               .payload = body,
                               .payload_len = blen,
                               .region = region,
                               .service = service,
                               .amz_date = date};
  struct gd_sigv4_creds c = {AKID, SECRET, TOKEN};
  struct gd_sigv4_result res = {0};
  struct gd_error err;
  if (gd_sigv4_sign(&r, &c, NULL, &res, &err)) return -1;
  int ok = strcmp(res.signature, sig) == 0 &&
           strcmp(res.signed_headers, signed_h) == 0;
  gd_sigv4_result_free(&res);
  return ok ? 0 : -1;
}

/* AWS's answer to a bad signature. Some services (STS, IAM, RDS) append the
 * canonical request they computed, which is how a session token could leak
 * into a message; the client must scrub it. */
static void bad_signature(int fd, const char *head) {
  char body[4096], tok[256] = "";
  hval(head, "X-Amz-Security-Token", tok, sizeof tok);
  if (strstr(head, "X-Amz-Target:")) {
    awsd_send(fd, 400, "application/x-amz-json-1.0",
              "{\"__type\":\"com.amazon.coral.service#SignatureDoesNotMatch\","
              "\"message\":\"The request signature we calculated does not "
              "match the signature you provided. Check your AWS Secret Access "
              "Key and signing method. Consult the service documentation for "
              "details.\"}");
    return;
  }
  snprintf(body, sizeof body,
           "<ErrorResponse xmlns=\"http://webservices.amazon.com/"
           "AWSFault/2005-15-09\">\n  <Error>\n    <Type>Sender</Type>\n"
           "    <Code>SignatureDoesNotMatch</Code>\n    <Message>The request "
           "signature we calculated does not match the signature you "
           "provided. Check your AWS Secret Access Key and signing method. "
           "Consult the service documentation for details.\n\nThe Canonical "
           "String for this request should have been\n'POST\n/\n\n"
           "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
           "x-amz-security-token:%s\n'</Message>\n  </Error>\n"
           "  <RequestId>1b4b5b2c-6b3a-4d7f-9b0e-EXAMPLE</RequestId>\n"
           "</ErrorResponse>\n",
           tok);
  awsd_send(fd, 403, "text/xml", body);
}

/* 1: a whole request was handled (or dropped); 0: need more bytes. */
static int awsd_serve(struct awsd *s, struct awsd_conn *c) {
  char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t hlen = (size_t)(end - c->buf) + 4;
  char cl[32];
  char head[8192];
  size_t k = hlen < sizeof head ? hlen : sizeof head - 1;
  memcpy(head, c->buf, k);
  head[k] = 0;
  size_t blen = hval(head, "Content-Length", cl, sizeof cl)
                    ? (size_t)strtoul(cl, NULL, 10)
                    : 0;
  if (c->len < hlen + blen) return 0;
  char *body = c->buf + hlen;
  atomic_fetch_add(&s->requests, 1);
  pthread_mutex_lock(&s->mu);
  snprintf(s->last_head, sizeof s->last_head, "%s", head);
  size_t bk = blen < sizeof s->last_body ? blen : sizeof s->last_body - 1;
  memcpy(s->last_body, body, bk);
  s->last_body[bk] = 0;
  int hang = s->hang;
  struct answer a = s->script[s->next];
  if (!a.body) a = (struct answer){500, "text/plain", "no answer scripted\n"};
  if (s->next < s->nscript - 1) s->next++;
  pthread_mutex_unlock(&s->mu);
  if (!hang) {
    if (verify(head, body, blen) != 0) {
      atomic_fetch_add(&s->bad_sigs, 1);
      bad_signature(c->fd, head);
    } else {
      atomic_fetch_add(&s->good_sigs, 1);
      awsd_send(c->fd, a.status, a.ctype, a.body);
    }
  }
  memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
  c->len -= hlen + blen;
  return 1;
}

static void *awsd_main(void *arg) {
  struct awsd *s = arg;
  for (;;) {
    struct pollfd fds[AWSD_CONNS + 2];
    int idx[AWSD_CONNS + 2];
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
    for (int i = 0; i < AWSD_CONNS; i++)
      if (s->conns[i].fd >= 0) {
        idx[n] = i;
        fds[n++] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};
      }
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    if (fds[0].revents) return NULL;
    if (fds[1].revents) {
      int fd = accept(s->lfd, NULL, NULL);
      int i = 0;
      while (fd >= 0 && i < AWSD_CONNS && s->conns[i].fd >= 0) i++;
      if (fd >= 0 && i == AWSD_CONNS)
        close(fd);
      else if (fd >= 0) {
        s->conns[i].fd = fd;
        s->conns[i].len = 0;
      }
    }
    for (nfds_t j = 2; j < n; j++) {
      if (!fds[j].revents) continue;
      struct awsd_conn *c = &s->conns[idx[j]];
      if (c->len == sizeof c->buf) c->len = 0;
      ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
      if (r <= 0) {
        close(c->fd);
        c->fd = -1;
        continue;
      }
      c->len += (size_t)r;
      while (awsd_serve(s, c)) {
      }
    }
  }
}

static int awsd_start(struct awsd *s) {
  memset(s, 0, sizeof *s);
  for (int i = 0; i < AWSD_CONNS; i++) s->conns[i].fd = -1;
  pthread_mutex_init(&s->mu, NULL);
  s->lfd = gd_test_listen(64, &s->port);
  if (s->lfd < 0 || pipe(s->wake) != 0) return -1;
  return pthread_create(&s->th, NULL, awsd_main, s) == 0 ? 0 : -1;
}

static void awsd_stop(struct awsd *s) {
  char b = 0;
  if (write(s->wake[1], &b, 1) == 1) pthread_join(s->th, NULL);
  for (int i = 0; i < AWSD_CONNS; i++)
    if (s->conns[i].fd >= 0) close(s->conns[i].fd);
  close(s->lfd);
  close(s->wake[0]);
  close(s->wake[1]);
  pthread_mutex_destroy(&s->mu);
}

static void awsd_script(struct awsd *s, int n, const struct answer *a) {
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < n; i++) s->script[i] = a[i];
  s->nscript = n;
  s->next = 0;
  pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------ */
/* Wire-format answers, as the API references show them */

static const char ec2_describe[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeInstancesResponse "
    "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
    "    <requestId>8f7724cf-496f-496e-8fe3-example</requestId>\n"
    "    <reservationSet>\n"
    "        <item>\n"
    "            <reservationId>r-1234567890abcdef0</reservationId>\n"
    "            <ownerId>123456789012</ownerId>\n"
    "            <groupSet/>\n"
    "            <instancesSet>\n"
    "                <item>\n"
    "                    <instanceId>i-1234567890abcdef0</instanceId>\n"
    "                    <imageId>ami-bff32ccc</imageId>\n"
    "                    <instanceState>\n"
    "                        <code>16</code>\n"
    "                        <name>running</name>\n"
    "                    </instanceState>\n"
    "                    <privateDnsName>ip-192-168-1-88.eu-west-1.compute."
    "internal</privateDnsName>\n"
    "                    <instanceType>t2.micro</instanceType>\n"
    "                    <tagSet>\n"
    "                        <item><key>Environment</key>"
    "<value>staging</value></item>\n"
    "                    </tagSet>\n"
    "                </item>\n"
    "                <item>\n"
    "                    <instanceId>i-0598c7d356eba48d7</instanceId>\n"
    "                    <instanceState><code>80</code><name>stopped</name>"
    "</instanceState>\n"
    "                </item>\n"
    "            </instancesSet>\n"
    "        </item>\n"
    "    </reservationSet>\n"
    "</DescribeInstancesResponse>\n";

static const char ec2_unauthorized[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You "
    "are not authorized to perform this operation.</Message></Error></Errors>"
    "<RequestID>a2c0b1ba-0d4a-4d5c-8e3f-EXAMPLE</RequestID></Response>";

static const char rds_clusters[] =
    "<DescribeDBClustersResponse "
    "xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\n"
    "  <DescribeDBClustersResult>\n"
    "    <DBClusters>\n"
    "      <DBCluster>\n"
    "        <Engine>aurora-postgresql</Engine>\n"
    "        <Status>available</Status>\n"
    "        <DBClusterIdentifier>staging-aurora</DBClusterIdentifier>\n"
    "        <DBClusterMembers>\n"
    "          <DBClusterMember>\n"
    "            "
    "<DBInstanceIdentifier>staging-aurora-1</DBInstanceIdentifier>\n"
    "            <IsClusterWriter>false</IsClusterWriter>\n"
    "          </DBClusterMember>\n"
    "          <DBClusterMember>\n"
    "            "
    "<DBInstanceIdentifier>staging-aurora-2</DBInstanceIdentifier>\n"
    "            <IsClusterWriter>true</IsClusterWriter>\n"
    "          </DBClusterMember>\n"
    "        </DBClusterMembers>\n"
    "      </DBCluster>\n"
    "    </DBClusters>\n"
    "  </DescribeDBClustersResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>d8d4e5d5-1b8a-4c0e-9f2d-EXAMPLE</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</DescribeDBClustersResponse>\n";

static const char asg_throttling[] =
    "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/"
    "\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>Throttling</Code>\n"
    "    <Message>Rate exceeded</Message>\n  </Error>\n"
    "  <RequestId>4f3e2f1a-EXAMPLE</RequestId>\n</ErrorResponse>\n";

static const char asg_unavailable[] =
    "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/"
    "\">\n  <Error>\n    <Type>Receiver</Type>\n"
    "    <Code>ServiceUnavailable</Code>\n    <Message>Service is unable to "
    "handle request.</Message>\n  </Error>\n"
    "  <RequestId>5a4e2f1a-EXAMPLE</RequestId>\n</ErrorResponse>\n";

static const char asg_groups[] =
    "<DescribeAutoScalingGroupsResponse "
    "xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">\n"
    "  <DescribeAutoScalingGroupsResult>\n    <AutoScalingGroups>\n"
    "      <member>\n        <AutoScalingGroupName>web</AutoScalingGroupName>\n"
    "        <DesiredCapacity>3</DesiredCapacity>\n"
    "      </member>\n    </AutoScalingGroups>\n"
    "  </DescribeAutoScalingGroupsResult>\n  <ResponseMetadata>\n"
    "    <RequestId>08f6d1c6-EXAMPLE</RequestId>\n  </ResponseMetadata>\n"
    "</DescribeAutoScalingGroupsResponse>\n";

static const char ec2_internal[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Response><Errors><Error><Code>InternalError</Code><Message>An internal "
    "error has occurred.</Message></Error></Errors>"
    "<RequestID>b7c1e1ba-EXAMPLE</RequestID></Response>";

/* ------------------------------------------------------------------ */
/* Fixture */

struct got {
  int calls;
  int ok;
  struct gd_error err;
  long status;
  int attempts;
  char code[128], request_id[96];
  xmlDoc *xml;
  cJSON *json;
};

static void got_cb(struct gd_aws_result *r, const struct gd_error *e,
                   void *arg) {
  struct got *g = arg;
  g->calls++;
  g->ok = e == NULL;
  if (e) g->err = *e;
  g->status = r->status;
  g->attempts = r->attempts;
  snprintf(g->code, sizeof g->code, "%s", r->aws_code);
  snprintf(g->request_id, sizeof g->request_id, "%s", r->request_id);
  g->xml = r->xml;
  r->xml = NULL;
  g->json = r->json;
  r->json = NULL;
}

static void got_clear(struct got *g) {
  if (g->xml) xmlFreeDoc(g->xml);
  cJSON_Delete(g->json);
  memset(g, 0, sizeof *g);
}

struct fx {
  char *home;
  uv_loop_t loop;
  struct gd_curl *curl;
  struct gd_aws *aws;
  struct awsd srv;
};

static void env_creds(const char *secret) {
  setenv("AWS_ACCESS_KEY_ID", AKID, 1);
  setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
  setenv("AWS_SESSION_TOKEN", TOKEN, 1);
  setenv("AWS_REGION", "eu-west-1", 1);
}

static void endpoint_env(const char *var, int port) {
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  setenv(var, url, 1);
}

static void fx_begin(struct fx *f, const char *secret,
                     const struct gd_aws_options *opt) {
  memset(f, 0, sizeof *f);
  f->home = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(f->home);
  gd_awsenv_begin(f->home);
  env_creds(secret ? secret : SECRET);
  CU_ASSERT_EQUAL_FATAL(awsd_start(&f->srv), 0);
  endpoint_env("AWS_ENDPOINT_URL_EC2", f->srv.port);
  endpoint_env("AWS_ENDPOINT_URL_RDS", f->srv.port);
  endpoint_env("AWS_ENDPOINT_URL_AUTO_SCALING", f->srv.port);
  endpoint_env("AWS_ENDPOINT_URL_SQS", f->srv.port);
  uv_loop_init(&f->loop);
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(gd_curl_new(&f->loop, &f->curl, &err), 0);
  struct gd_aws_options o = {.base_delay_ms = 5, .max_delay_ms = 50};
  if (opt) o = *opt;
  int rc = gd_aws_new(&f->loop, f->curl, &o, &f->aws, &err);
  if (rc) printf("\n    gd_aws_new: %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void count_cb(void *arg) { (*(int *)arg)++; }

/* The configuration is read when the client is made: a test that changes
 * the environment makes a new one. */
static void fx_renew(struct fx *f, const struct gd_aws_options *opt) {
  int closed = 0;
  gd_aws_close(f->aws, count_cb, &closed);
  while (!closed) uv_run(&f->loop, UV_RUN_ONCE);
  struct gd_error err = {0};
  struct gd_aws_options o = {.base_delay_ms = 5, .max_delay_ms = 50};
  CU_ASSERT_EQUAL_FATAL(
      gd_aws_new(&f->loop, f->curl, opt ? opt : &o, &f->aws, &err), 0);
}

static void fx_end(struct fx *f) {
  int closed = 0;
  gd_aws_close(f->aws, count_cb, &closed);
  gd_curl_close(f->curl, count_cb, &closed);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(closed, 2);
  CU_ASSERT_EQUAL(uv_loop_close(&f->loop), 0);
  awsd_stop(&f->srv);
  gd_awsenv_end();
  gd_test_rmrf(f->home);
  free(f->home);
}

/* One call, run until its callback; params is JSON text or NULL. */
static int fx_call(struct fx *f, const char *service, const char *op,
                   const char *params, struct got *g) {
  struct gd_error err = {0};
  cJSON *p = params ? cJSON_Parse(params) : NULL;
  CU_ASSERT_FATAL(!params || p);
  memset(g, 0, sizeof *g);
  int rc = gd_aws_call(f->aws, service, op, p, got_cb, g, NULL, &err);
  cJSON_Delete(p);
  if (rc) {
    g->err = err;
    return rc;
  }
  CU_ASSERT_EQUAL(g->calls, 0); /* never from within the call */
  while (!g->calls) uv_run(&f->loop, UV_RUN_ONCE);
  CU_ASSERT_EQUAL(g->calls, 1);
  return 0;
}

static int has_secret(const char *s) {
  return strstr(s, SECRET) || strstr(s, TOKEN) || strstr(s, "Signature=") ||
         strstr(s, "GAMEDAY_WRONG");
}

/* ------------------------------------------------------------------ */
/* Tests */

static void test_query_flatten(void) {
  const struct gd_aws_service *ec2 = gd_aws_service_find("ec2");
  CU_ASSERT_PTR_NOT_NULL_FATAL(ec2);
  CU_ASSERT_EQUAL(ec2->protocol, GD_AWS_QUERY);
  CU_ASSERT_EQUAL(gd_aws_service_find("SQS")->protocol, GD_AWS_JSON10);
  CU_ASSERT_PTR_NULL(gd_aws_service_find("nosuch"));
  cJSON *p = cJSON_Parse(
      "{\"InstanceId\":[\"i-1\",\"i-2\"],\"Filter\":[{\"Name\":\"tag:Env\","
      "\"Value\":[\"staging\",\"a b/c+\"]}],\"DryRun\":true,\"MaxResults\":"
      "20,\"Skip\":null}");
  char *body = NULL;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(
      gd_aws_query_body(ec2, "DescribeInstances", p, &body, &err), 0);
  CU_ASSERT_STRING_EQUAL(body,
                         "Action=DescribeInstances&Version=2016-11-15"
                         "&InstanceId.1=i-1&InstanceId.2=i-2"
                         "&Filter.1.Name=tag%3AEnv&Filter.1.Value.1=staging"
                         "&Filter.1.Value.2=a%20b%2Fc%2B"
                         "&DryRun=true&MaxResults=20");
  free(body);
  cJSON_Delete(p);
  p = cJSON_Parse("{\"AutoScalingGroupNames.member\":[\"web\"]}");
  CU_ASSERT_EQUAL(
      gd_aws_query_body(gd_aws_service_find("autoscaling"),
                        "DescribeAutoScalingGroups", p, &body, &err),
      0);
  CU_ASSERT_STRING_EQUAL(body,
                         "Action=DescribeAutoScalingGroups&Version=2011-01-01"
                         "&AutoScalingGroupNames.member.1=web");
  free(body);
  cJSON_Delete(p);
  p = cJSON_Parse("[1]");
  CU_ASSERT_EQUAL(gd_aws_query_body(ec2, "X", p, &body, &err), GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "expected an object"));
  cJSON_Delete(p);
}

static void test_describe_instances(void) {
  struct fx f;
  fx_begin(&f, NULL, NULL);
  struct answer a = {200, "text/xml;charset=UTF-8", ec2_describe};
  awsd_script(&f.srv, 1, &a);
  struct got g;
  CU_ASSERT_EQUAL_FATAL(
      fx_call(&f, "ec2", "DescribeInstances",
              "{\"Filter\":[{\"Name\":\"tag:Environment\",\"Value\":"
              "[\"staging\"]}],\"InstanceId\":[\"i-1234567890abcdef0\","
              "\"i-0598c7d356eba48d7\"]}",
              &g),
      0);
  if (!g.ok) printf("\n    %s\n", g.err.msg);
  CU_ASSERT_TRUE(g.ok);
  CU_ASSERT_EQUAL(g.status, 200);
  CU_ASSERT_EQUAL(g.attempts, 1);
  CU_ASSERT_EQUAL(atomic_load(&f.srv.good_sigs), 1);
  CU_ASSERT_EQUAL(atomic_load(&f.srv.bad_sigs), 0);
  /* What went on the wire. */
  CU_ASSERT_STRING_EQUAL(f.srv.last_body,
                         "Action=DescribeInstances&Version=2016-11-15"
                         "&Filter.1.Name=tag%3AEnvironment"
                         "&Filter.1.Value.1=staging"
                         "&InstanceId.1=i-1234567890abcdef0"
                         "&InstanceId.2=i-0598c7d356eba48d7");
  char v[256];
  CU_ASSERT_PTR_NOT_NULL(strstr(f.srv.last_head, "POST / HTTP/1.1"));
  CU_ASSERT_PTR_NOT_NULL(hval(f.srv.last_head, "User-Agent", v, sizeof v));
  CU_ASSERT_STRING_EQUAL(v, "gameday/" GAMEDAY_VERSION);
  CU_ASSERT_PTR_NOT_NULL(
      hval(f.srv.last_head, "X-Amz-Security-Token", v, sizeof v));
  CU_ASSERT_STRING_EQUAL(v, TOKEN);
  CU_ASSERT_PTR_NOT_NULL(hval(f.srv.last_head, "Authorization", v, sizeof v));
  /* Signed for the configured region and the service's signing name. */
  CU_ASSERT_PTR_NOT_NULL(strstr(v, "/eu-west-1/ec2/aws4_request"));
  CU_ASSERT_PTR_NOT_NULL(hval(f.srv.last_head, "Content-Type", v, sizeof v));
  CU_ASSERT_STRING_EQUAL(v, "application/x-www-form-urlencoded; charset=utf-8");
  /* Read back by path. */
  CU_ASSERT_PTR_NOT_NULL_FATAL(g.xml);
  xmlNode *root = xmlDocGetRootElement(g.xml);
  xmlNode *inst =
      gd_aws_xml_find(root, "reservationSet/item/instancesSet/item");
  CU_ASSERT_PTR_NOT_NULL_FATAL(inst);
  CU_ASSERT_STRING_EQUAL(gd_aws_xml_text(inst, "instanceId", v, sizeof v),
                         "i-1234567890abcdef0");
  CU_ASSERT_STRING_EQUAL(
      gd_aws_xml_text(inst, "instanceState/name", v, sizeof v), "running");
  CU_ASSERT_STRING_EQUAL(
      gd_aws_xml_text(inst, "tagSet/item/value", v, sizeof v), "staging");
  inst = gd_aws_xml_next(inst);
  CU_ASSERT_PTR_NOT_NULL_FATAL(inst);
  CU_ASSERT_STRING_EQUAL(
      gd_aws_xml_text(inst, "instanceState/name", v, sizeof v), "stopped");
  CU_ASSERT_PTR_NULL(gd_aws_xml_next(inst));
  CU_ASSERT_PTR_NULL(gd_aws_xml_text(inst, "nosuch", v, sizeof v));
  CU_ASSERT_STRING_EQUAL(v, "");
  CU_ASSERT_STRING_EQUAL(g.request_id, "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE");
  got_clear(&g);
  fx_end(&f);
}

static void test_rds_clusters(void) {
  struct fx f;
  fx_begin(&f, NULL, NULL);
  struct answer a = {200, "text/xml", rds_clusters};
  awsd_script(&f.srv, 1, &a);
  struct got g;
  CU_ASSERT_EQUAL_FATAL(
      fx_call(&f, "rds", "DescribeDBClusters",
              "{\"DBClusterIdentifier\":\"staging-aurora\"}", &g),
      0);
  CU_ASSERT_TRUE_FATAL(g.ok);
  CU_ASSERT_STRING_EQUAL(f.srv.last_body,
                         "Action=DescribeDBClusters&Version=2014-10-31"
                         "&DBClusterIdentifier=staging-aurora");
  xmlNode *cl = gd_aws_xml_find(xmlDocGetRootElement(g.xml),
                                "DescribeDBClustersResult/DBClusters/"
                                "DBCluster");
  char v[128], writer[128] = "";
  CU_ASSERT_STRING_EQUAL(gd_aws_xml_text(cl, "Status", v, sizeof v),
                         "available");
  for (xmlNode *m = gd_aws_xml_find(cl, "DBClusterMembers/DBClusterMember"); m;
       m = gd_aws_xml_next(m))
    if (strcmp(gd_aws_xml_text(m, "IsClusterWriter", v, sizeof v), "true") == 0)
      gd_aws_xml_text(m, "DBInstanceIdentifier", writer, sizeof writer);
  CU_ASSERT_STRING_EQUAL(writer, "staging-aurora-2");
  got_clear(&g);
  fx_end(&f);
}

static void test_error_not_retried(void) {
  struct fx f;
  fx_begin(&f, NULL, NULL);
  struct answer a = {403, "text/xml", ec2_unauthorized};
  awsd_script(&f.srv, 1, &a);
  struct got g;
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "ec2", "TerminateInstances",
                                "{\"InstanceId\":[\"i-1\"]}", &g),
                        0);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.err.code, GD_EIO);
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "ec2 TerminateInstances: UnauthorizedOperation: You "
                         "are not authorized to perform this operation.");
  CU_ASSERT_STRING_EQUAL(g.code, "UnauthorizedOperation");
  CU_ASSERT_EQUAL(g.status, 403);
  CU_ASSERT_EQUAL(g.attempts, 1);
  CU_ASSERT_EQUAL(atomic_load(&f.srv.requests), 1);
  CU_ASSERT_PTR_NULL(g.xml);
  got_clear(&g);
  fx_end(&f);
}

static void test_throttled_then_ok(void) {
  struct fx f;
  fx_begin(&f, NULL, NULL);
  struct answer a[] = {{400, "text/xml", asg_throttling},
                       {503, "text/xml", asg_unavailable},
                       {200, "text/xml", asg_groups}};
  awsd_script(&f.srv, 3, a);
  struct got g;
  CU_ASSERT_EQUAL_FATAL(
      fx_call(&f, "autoscaling", "DescribeAutoScalingGroups",
              "{\"AutoScalingGroupNames.member\":[\"web\"]}", &g),
      0);
  if (!g.ok) printf("\n    %s\n", g.err.msg);
  CU_ASSERT_TRUE(g.ok);
  CU_ASSERT_EQUAL(g.attempts, 3);
  CU_ASSERT_EQUAL(atomic_load(&f.srv.requests), 3);
  CU_ASSERT_EQUAL(atomic_load(&f.srv.good_sigs), 3);
  char v[64];
  CU_ASSERT_STRING_EQUAL(
      gd_aws_xml_text(xmlDocGetRootElement(g.xml),
                      "DescribeAutoScalingGroupsResult/AutoScalingGroups/"
                      "member/DesiredCapacity",
                      v, sizeof v),
      "3");
  got_clear(&g);
  fx_end(&f);
}

static void test_retries_bounded(void) {
  struct fx f;
  struct gd_aws_options o = {
      .max_attempts = 3, .base_delay_ms = 5, .max_delay_ms = 20};
  fx_begin(&f, NULL, &o);
  struct answer a = {500, "text/xml", ec2_internal};
  awsd_script(&f.srv, 1, &a);
  struct got g;
  uint64_t t0 = uv_hrtime();
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "ec2", "DescribeInstances", NULL, &g), 0);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.err.code, GD_EIO);
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "ec2 DescribeInstances: InternalError: An internal "
                         "error has occurred. (after 3 attempts)");
  CU_ASSERT_EQUAL(g.attempts, 3);
  CU_ASSERT_EQUAL(atomic_load(&f.srv.requests), 3);
  CU_ASSERT((uv_hrtime() - t0) / 1000000 < 2000);
  got_clear(&g);

  /* The total time bounds it too: long backoffs are not waited out. */
  struct gd_aws_options o2 = {.max_attempts = 10,
                              .base_delay_ms = 400,
                              .max_delay_ms = 400,
                              .total_timeout_ms = 300};
  fx_end(&f);
  fx_begin(&f, NULL, &o2);
  awsd_script(&f.srv, 1, &a);
  t0 = uv_hrtime();
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "ec2", "DescribeInstances", NULL, &g), 0);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT((uv_hrtime() - t0) / 1000000 < 1000);
  CU_ASSERT(g.attempts < 10);
  CU_ASSERT_PTR_NOT_NULL(strstr(g.err.msg, "InternalError"));
  got_clear(&g);
  fx_end(&f);
}

static void test_hang_times_out(void) {
  struct fx f;
  struct gd_aws_options o = {
      .max_attempts = 2, .base_delay_ms = 5, .attempt_timeout_ms = 300};
  fx_begin(&f, NULL, &o);
  f.srv.hang = 1;
  struct got g;
  uint64_t t0 = uv_hrtime();
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "ec2", "DescribeInstances", NULL, &g), 0);
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.err.code, GD_ETIMEDOUT);
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "ec2 DescribeInstances: no answer within 300 ms "
                         "(after 2 attempts)");
  CU_ASSERT_EQUAL(g.attempts, 2);
  CU_ASSERT(ms >= 590 && ms < 2000);
  got_clear(&g);
  fx_end(&f);
}

static void test_bad_signature(void) {
  struct fx f;
  /* The client signs with another secret than the server knows. */
  fx_begin(&f, "GAMEDAY_WRONG/secretKEYforTHEtest0000000", NULL);
  struct answer a = {200, "text/xml", ec2_describe};
  awsd_script(&f.srv, 1, &a);
  struct got g;
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "rds", "FailoverDBCluster",
                                "{\"DBClusterIdentifier\":\"c\"}", &g),
                        0);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(atomic_load(&f.srv.bad_sigs), 1);
  CU_ASSERT_EQUAL(g.attempts, 1); /* a 4xx: not retried */
  CU_ASSERT_STRING_EQUAL(g.code, "SignatureDoesNotMatch");
  CU_ASSERT_EQUAL(strncmp(g.err.msg,
                          "rds FailoverDBCluster: SignatureDoesNotMatch: The "
                          "request signature we calculated",
                          80),
                  0);
  /* The server echoed the token in the canonical request: scrubbed. */
  CU_ASSERT_PTR_NOT_NULL(strstr(g.err.msg, "x-amz-security-token:****"));
  CU_ASSERT_FALSE(has_secret(g.err.msg));
  CU_ASSERT_PTR_NULL(strchr(g.err.msg, '\n'));
  got_clear(&g);

  /* JSON services answer a bad signature in JSON. */
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "sqs", "ListQueues", NULL, &g), 0);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_STRING_EQUAL(g.code, "SignatureDoesNotMatch");
  CU_ASSERT_FALSE(has_secret(g.err.msg));
  got_clear(&g);
  fx_end(&f);
}

static void test_json10_loopback(void) {
  struct fx f;
  fx_begin(&f, NULL, NULL);
  struct answer a[] = {
      {400, "application/x-amz-json-1.0",
       "{\"__type\":\"com.amazonaws.sqs#RequestThrottled\",\"message\":"
       "\"Rate exceeded\"}"},
      {200, "application/x-amz-json-1.0",
       "{\"Attributes\":{\"ApproximateNumberOfMessages\":\"42\"}}"},
      {400, "application/x-amz-json-1.0",
       "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\",\"message\":"
       "\"The specified queue does not exist.\"}"}};
  awsd_script(&f.srv, 3, a);
  struct got g;
  CU_ASSERT_EQUAL_FATAL(
      fx_call(&f, "sqs", "GetQueueAttributes",
              "{\"QueueUrl\":\"http://x/1/q\",\"AttributeNames\":"
              "[\"ApproximateNumberOfMessages\"]}",
              &g),
      0);
  CU_ASSERT_TRUE_FATAL(g.ok);
  CU_ASSERT_EQUAL(g.attempts, 2);
  char v[256];
  CU_ASSERT_STRING_EQUAL(hval(f.srv.last_head, "X-Amz-Target", v, sizeof v),
                         "AmazonSQS.GetQueueAttributes");
  CU_ASSERT_STRING_EQUAL(hval(f.srv.last_head, "Content-Type", v, sizeof v),
                         "application/x-amz-json-1.0");
  cJSON *sent = cJSON_Parse(f.srv.last_body);
  CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(sent, "QueueUrl")->valuestring,
                         "http://x/1/q");
  cJSON_Delete(sent);
  const cJSON *n = cJSON_GetObjectItem(
      cJSON_GetObjectItem(g.json, "Attributes"), "ApproximateNumberOfMessages");
  CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(n), "42");
  got_clear(&g);

  CU_ASSERT_EQUAL_FATAL(
      fx_call(&f, "sqs", "PurgeQueue", "{\"QueueUrl\":\"http://x/1/q\"}", &g),
      0);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "sqs PurgeQueue: QueueDoesNotExist: The specified "
                         "queue does not exist.");
  CU_ASSERT_EQUAL(g.attempts, 1);
  got_clear(&g);
  fx_end(&f);
}

static void test_bad_input(void) {
  struct fx f;
  fx_begin(&f, NULL, NULL);
  struct got g;
  CU_ASSERT_EQUAL(fx_call(&f, "nosuch", "X", NULL, &g), GD_EINVAL);
  CU_ASSERT_STRING_EQUAL(g.err.msg, "unknown service 'nosuch'");
  CU_ASSERT_EQUAL(fx_call(&f, "ec2", "Bad&Op", NULL, &g), GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(g.err.msg, "'Bad&Op'"));
  /* A rest call takes only its reserved members. */
  CU_ASSERT_EQUAL(fx_call(&f, "s3", "ListBuckets", "{\"Bucket\": \"b\"}", &g),
                  GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(g.err.msg, "parameters.Bucket: unknown key"));
  CU_ASSERT_EQUAL(fx_call(&f, "lambda", "ListFunctions",
                          "{\"_bucket\": \"b\"}", &g),
                  GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(g.err.msg, "_bucket: only for s3"));
  CU_ASSERT_EQUAL(fx_call(&f, "lambda", "ListFunctions",
                          "{\"_path\": \"nopath\"}", &g),
                  GD_EINVAL);
  CU_ASSERT_EQUAL(fx_call(&f, "lambda", "ListFunctions",
                          "{\"_headers\": {\"Host\": \"x\"}}", &g),
                  GD_EINVAL);
  CU_ASSERT_EQUAL(fx_call(&f, "sqs", "ListQueues", "[1]", &g), GD_EINVAL);
  CU_ASSERT_EQUAL(atomic_load(&f.srv.requests), 0);
  fx_end(&f);
}

/* Nobody listens: connection errors are retried, then reported. */
static void test_refused(void) {
  struct fx f;
  struct gd_aws_options o = {.max_attempts = 3, .base_delay_ms = 5};
  fx_begin(&f, NULL, &o);
  endpoint_env("AWS_ENDPOINT_URL_EC2", gd_httpd_closed_port());
  fx_renew(&f, &o);
  struct got g;
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "ec2", "DescribeInstances", NULL, &g), 0);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.attempts, 3);
  CU_ASSERT_EQUAL(g.status, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(g.err.msg, "(after 3 attempts)"));
  CU_ASSERT_EQUAL(strncmp(g.err.msg, "ec2 DescribeInstances: ", 23), 0);
  got_clear(&g);
  fx_end(&f);
}

static void test_cancel_and_close(void) {
  struct fx f;
  fx_begin(&f, NULL, NULL);
  f.srv.hang = 1;
  struct got g1 = {0}, g2 = {0};
  struct gd_aws_call *c1 = NULL;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(gd_aws_call(f.aws, "ec2", "DescribeInstances", NULL,
                                    got_cb, &g1, &c1, &err),
                        0);
  CU_ASSERT_EQUAL_FATAL(
      gd_aws_call(f.aws, "sqs", "ListQueues", NULL, got_cb, &g2, NULL, &err),
      0);
  /* Cancelled while waiting for credentials. */
  gd_aws_cancel(c1);
  CU_ASSERT_EQUAL(g1.calls, 1);
  CU_ASSERT_EQUAL(g1.err.code, GD_ECANCELED);
  /* The other reaches the hanging server. */
  while (atomic_load(&f.srv.requests) < 1) uv_run(&f.loop, UV_RUN_NOWAIT);
  CU_ASSERT_EQUAL(g2.calls, 0);
  int closed = 0;
  gd_aws_close(f.aws, count_cb, &closed);
  CU_ASSERT_EQUAL(g2.calls, 1);
  CU_ASSERT_EQUAL(g2.err.code, GD_ECANCELED);
  CU_ASSERT_STRING_EQUAL(g2.err.msg, "sqs ListQueues: cancelled");
  CU_ASSERT_EQUAL(gd_aws_call(f.aws, "ec2", "X", NULL, got_cb, &g1, NULL, &err),
                  GD_ESTATE);
  gd_curl_close(f.curl, count_cb, &closed);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(closed, 2);
  CU_ASSERT_EQUAL(g1.calls, 1);
  CU_ASSERT_EQUAL(g2.calls, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&f.loop), 0);
  awsd_stop(&f.srv);
  gd_awsenv_end();
  gd_test_rmrf(f.home);
  free(f.home);
}

/* ------------------------------------------------------------------ */
/* SQS against fauxqs */

static void test_sqs_fauxqs(void) {
  struct fx f;
  fx_begin(&f, NULL, NULL);
  struct gd_fauxqs fq = {0};
  if (gd_fauxqs_start(&fq, f.home)) {
    fx_end(&f);
    GD_SKIP(fq.why);
  }
  endpoint_env("AWS_ENDPOINT_URL_SQS", fq.port);
  fx_renew(&f, NULL);
  struct got g;
  char params[2048];

  CU_ASSERT_EQUAL_FATAL(
      fx_call(&f, "sqs", "CreateQueue", "{\"QueueName\":\"gd-backlog\"}", &g),
      0);
  if (!g.ok) printf("\n    %s\n", g.err.msg);
  CU_ASSERT_TRUE_FATAL(g.ok);
  char url[512];
  snprintf(url, sizeof url, "%s",
           cJSON_GetStringValue(cJSON_GetObjectItem(g.json, "QueueUrl")));
  CU_ASSERT_PTR_NOT_NULL(strstr(url, "gd-backlog"));
  got_clear(&g);

  snprintf(params, sizeof params,
           "{\"QueueUrl\":\"%s\",\"Entries\":[{\"Id\":\"m1\",\"MessageBody\":"
           "\"one\"},{\"Id\":\"m2\",\"MessageBody\":\"two\"},{\"Id\":\"m3\","
           "\"MessageBody\":\"three\"}]}",
           url);
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "sqs", "SendMessageBatch", params, &g), 0);
  CU_ASSERT_TRUE_FATAL(g.ok);
  CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(g.json, "Successful")),
                  3);
  CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(g.json, "Failed")), 0);
  got_clear(&g);

  snprintf(params, sizeof params,
           "{\"QueueUrl\":\"%s\",\"AttributeNames\":"
           "[\"ApproximateNumberOfMessages\"]}",
           url);
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "sqs", "GetQueueAttributes", params, &g),
                        0);
  CU_ASSERT_TRUE_FATAL(g.ok);
  CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(
                             cJSON_GetObjectItem(g.json, "Attributes"),
                             "ApproximateNumberOfMessages")),
                         "3");
  got_clear(&g);

  snprintf(params, sizeof params,
           "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":1}", url);
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "sqs", "ReceiveMessage", params, &g), 0);
  CU_ASSERT_TRUE_FATAL(g.ok);
  const cJSON *msgs = cJSON_GetObjectItem(g.json, "Messages");
  CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(msgs), 1);
  const char *rh = cJSON_GetStringValue(
      cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "ReceiptHandle"));
  CU_ASSERT_PTR_NOT_NULL_FATAL(rh);
  snprintf(params, sizeof params,
           "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\"}", url, rh);
  got_clear(&g);
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "sqs", "DeleteMessage", params, &g), 0);
  CU_ASSERT_TRUE(g.ok);
  got_clear(&g);

  snprintf(params, sizeof params, "{\"QueueUrl\":\"%s\"}", url);
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "sqs", "PurgeQueue", params, &g), 0);
  CU_ASSERT_TRUE(g.ok);
  got_clear(&g);
  snprintf(params, sizeof params,
           "{\"QueueUrl\":\"%s\",\"AttributeNames\":[\"All\"]}", url);
  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "sqs", "GetQueueAttributes", params, &g),
                        0);
  CU_ASSERT_TRUE_FATAL(g.ok);
  const cJSON *at = cJSON_GetObjectItem(g.json, "Attributes");
  CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(
                             at, "ApproximateNumberOfMessages")),
                         "0");
  CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(
                             at, "ApproximateNumberOfMessagesNotVisible")),
                         "0");
  got_clear(&g);

  CU_ASSERT_EQUAL_FATAL(fx_call(&f, "sqs", "GetQueueUrl",
                                "{\"QueueName\":\"gd-no-such-queue\"}", &g),
                        0);
  CU_ASSERT_FALSE(g.ok);
  CU_ASSERT_EQUAL(g.attempts, 1);
  CU_ASSERT_STRING_EQUAL(g.code, "QueueDoesNotExist");
  CU_ASSERT_STRING_EQUAL(g.err.msg,
                         "sqs GetQueueUrl: QueueDoesNotExist: The specified "
                         "queue does not exist.");
  CU_ASSERT_FALSE(has_secret(g.err.msg));
  got_clear(&g);

  gd_fauxqs_stop(&fq);
  fx_end(&f);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"query parameters are flattened", test_query_flatten},
      {"ec2 DescribeInstances: signed, flattened, XML read back",
       test_describe_instances},
      {"rds DescribeDBClusters: result read by path", test_rds_clusters},
      {"an AWS 4xx error is reported and not retried", test_error_not_retried},
      {"throttling and 503 are retried, then succeed", test_throttled_then_ok},
      {"retries are bounded by attempts and total time", test_retries_bounded},
      {"a hanging server times out", test_hang_times_out},
      {"a bad signature is refused; no secret in the message",
       test_bad_signature},
      {"json 1.0: target, body, error code shortened", test_json10_loopback},
      {"bad service, operation or parameters", test_bad_input},
      {"connection refused is retried, then reported", test_refused},
      {"cancel and close call back once each", test_cancel_and_close},
      {"sqs against fauxqs", test_sqs_fauxqs},
      {NULL, NULL}};
  return gd_test_run("awsclient", tests);
}

/* The http action on gd_curl against an HTTP server in the test. */
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
#include <sys/socket.h>
#include <unistd.h>

#include "gameday/action.h"
#include "gameday/curl.h"
#include "testutil.h"

/* A small HTTP/1.1 server on a thread of its own (so that it and the loop
 * under test use both cores): loopback, port 0, keep-alive, Content-Length
 * bodies. It counts accepts and requests, remembers the last request, and
 * can answer with any status, hang (read and never answer), close the
 * connection on a request, or answer a TLS hello with plain text. */
enum srv_mode { SRV_ANSWER, SRV_HANG, SRV_CLOSE };

#define SRV_CONNS 256

struct srv_conn {
  int fd;
  size_t len;
  char buf[8192];
};

struct srv {
  int lfd, port;
  int wake[2];
  pthread_t th;
  atomic_int mode;
  atomic_int status;
  const char *body; /* set before srv_start */
  atomic_uint accepts, requests, open, max_open;
  pthread_mutex_t mu;
  char last[2048];  /* last request, headers and body, under mu */
  struct srv_conn *conns;
};

static void srv_drop(struct srv *sv, struct srv_conn *c) {
  close(c->fd);
  c->fd = -1;
  c->len = 0;
  atomic_fetch_sub(&sv->open, 1);
}

static void srv_write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* Serves every complete request in c's buffer; 0 when c was closed. */
static int srv_serve(struct srv *sv, struct srv_conn *c) {
  if (c->len > 0 && (unsigned char)c->buf[0] == 0x16) { /* a TLS hello */
    static const char plain[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    srv_write_all(c->fd, plain, sizeof plain - 1);
    srv_drop(sv, c);
    return 0;
  }
  for (;;) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return 1;
    size_t hlen = (size_t)(end + 4 - c->buf);
    size_t clen = 0;
    *end = 0;
    char *cl = strcasestr(c->buf, "\r\ncontent-length:");
    if (cl) clen = strtoul(cl + 17, NULL, 10);
    *end = '\r';
    if (c->len < hlen + clen) return 1;
    atomic_fetch_add(&sv->requests, 1);
    pthread_mutex_lock(&sv->mu);
    size_t k = hlen + clen < sizeof sv->last - 1 ? hlen + clen : sizeof sv->last - 1;
    memcpy(sv->last, c->buf, k);
    sv->last[k] = 0;
    pthread_mutex_unlock(&sv->mu);
    memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
    c->len -= hlen + clen;
    int mode = atomic_load(&sv->mode);
    if (mode == SRV_CLOSE) {
      srv_drop(sv, c);
      return 0;
    }
    if (mode == SRV_HANG) continue;
    char head[256];
    const char *body = sv->body ? sv->body : "ok\n";
    size_t blen = strlen(body);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     atomic_load(&sv->status), blen);
    if (blen < 512) { /* one write, as a real server would */
      char resp[768];
      memcpy(resp, head, (size_t)n);
      memcpy(resp + n, body, blen);
      srv_write_all(c->fd, resp, (size_t)n + blen);
    } else {
      srv_write_all(c->fd, head, (size_t)n);
      srv_write_all(c->fd, body, blen);
    }
  }
}

static void *srv_main(void *arg) {
  struct srv *sv = arg;
  struct pollfd fds[SRV_CONNS + 2];
  int idx[SRV_CONNS + 2];
  for (;;) {
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = sv->wake[0], .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = sv->lfd, .events = POLLIN};
    for (int i = 0; i < SRV_CONNS; i++)
      if (sv->conns[i].fd >= 0) {
        idx[n] = i;
        fds[n++] = (struct pollfd){.fd = sv->conns[i].fd, .events = POLLIN};
      }
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      int fd = accept(sv->lfd, NULL, NULL);
      if (fd >= 0) {
        atomic_fetch_add(&sv->accepts, 1);
        int i = 0;
        while (i < SRV_CONNS && sv->conns[i].fd >= 0) i++;
        if (i == SRV_CONNS) {
          close(fd);
        } else {
          sv->conns[i].fd = fd;
          sv->conns[i].len = 0;
          unsigned o = atomic_fetch_add(&sv->open, 1) + 1;
          if (o > atomic_load(&sv->max_open)) atomic_store(&sv->max_open, o);
        }
      }
    }
    for (nfds_t j = 2; j < n; j++) {
      if (!fds[j].revents) continue;
      struct srv_conn *c = &sv->conns[idx[j]];
      if (c->len == sizeof c->buf) c->len = 0; /* runaway: forget it */
      ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
      if (r <= 0) {
        srv_drop(sv, c);
        continue;
      }
      c->len += (size_t)r;
      srv_serve(sv, c);
    }
  }
  return NULL;
}

static int srv_start(struct srv *sv, enum srv_mode mode, int status,
                     const char *body) {
  memset(sv, 0, sizeof *sv);
  atomic_store(&sv->mode, (int)mode);
  atomic_store(&sv->status, status);
  sv->body = body;
  pthread_mutex_init(&sv->mu, NULL);
  sv->conns = calloc(SRV_CONNS, sizeof *sv->conns);
  if (!sv->conns) return -1;
  for (int i = 0; i < SRV_CONNS; i++) sv->conns[i].fd = -1;
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  sv->lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(sv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sv->lfd < 0 || bind(sv->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(sv->lfd, 512) != 0 ||
      getsockname(sv->lfd, (struct sockaddr *)&sa, &sl) != 0 ||
      pipe(sv->wake) != 0)
    return -1;
  sv->port = ntohs(sa.sin_port);
  return pthread_create(&sv->th, NULL, srv_main, sv) == 0 ? 0 : -1;
}

static void srv_stop(struct srv *sv) {
  char b = 0;
  if (write(sv->wake[1], &b, 1) != 1) return;
  pthread_join(sv->th, NULL);
  for (int i = 0; i < SRV_CONNS; i++)
    if (sv->conns[i].fd >= 0) close(sv->conns[i].fd);
  free(sv->conns);
  close(sv->lfd);
  close(sv->wake[0]);
  close(sv->wake[1]);
  pthread_mutex_destroy(&sv->mu);
}

/* A loopback port nobody listens on: bound, then closed. */
static int closed_port(void) {
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
    return -1;
  close(fd);
  return ntohs(sa.sin_port);
}

#define ASSERT_STR(got, want)                                                 \
  do {                                                                        \
    const char *g_ = (got);                                                   \
    if (strcmp(g_ ? g_ : "(null)", (want)) != 0)                              \
      printf("\n    got '%s', want '%s' ", g_ ? g_ : "(null)", (want));       \
    CU_ASSERT_STRING_EQUAL(g_ ? g_ : "(null)", (want));                       \
  } while (0)

struct arun {
  struct gd_action a;
  struct gd_curl *c;
  uv_timer_t cancel;
  int cancel_ms;
  int calls, curl_closed;
};

static void curl_closed(void *arg) { ((struct arun *)arg)->curl_closed = 1; }

static void action_done(struct gd_action *a, void *arg) {
  struct arun *r = arg;
  (void)a;
  r->calls++;
  uv_close((uv_handle_t *)&r->cancel, NULL);
  gd_curl_close(r->c, curl_closed, r);
}

static void on_cancel(uv_timer_t *t) {
  struct arun *r = t->data;
  gd_action_cancel(&r->a);
}

/* Loads the action, runs it once on a fresh loop (cancelling it after
 * cancel_ms when > 0), and checks the callback came once and the loop
 * closes. The action is left loaded for the caller to inspect and free. */
static void run_action(struct arun *r, const char *json, int cancel_ms,
                       char *desc, size_t dn) {
  memset(r, 0, sizeof *r);
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_FATAL(spec != NULL);
  struct gd_error err = {0};
  int rc = gd_action_init(&r->a, spec, "fault[0]", &err);
  if (rc) printf("\n    init: %s ", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  cJSON_Delete(spec); /* the action keeps nothing of it */
  if (desc) r->a.ops->describe(&r->a, desc, dn);
  uv_loop_t loop;
  uv_loop_init(&loop);
  CU_ASSERT_FATAL(gd_curl_new(&loop, &r->c, &err) == 0);
  uv_timer_init(&loop, &r->cancel);
  r->cancel.data = r;
  if (cancel_ms > 0) uv_timer_start(&r->cancel, on_cancel, (uint64_t)cancel_ms, 0);
  CU_ASSERT_FATAL(gd_action_run(&r->a, &loop, r->c, action_done, r, &err) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(r->calls, 1);
  CU_ASSERT_EQUAL(r->curl_closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

static const char *init_error(const char *json) {
  static struct gd_error err;
  memset(&err, 0, sizeof err);
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_FATAL(spec != NULL);
  struct gd_action a;
  int rc = gd_action_init(&a, spec, "fault[0]", &err);
  CU_ASSERT(rc != 0);
  if (rc == 0) gd_action_free(&a);
  cJSON_Delete(spec);
  return err.msg;
}

static int detail_status(const struct gd_action *a) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(a->detail, "status");
  return cJSON_IsNumber(s) ? s->valueint : -1;
}

static const char *detail_body(const struct gd_action *a) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(a->detail, "body");
  return cJSON_IsString(s) ? s->valuestring : NULL;
}

static void test_post_ok(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, "{\"id\":1}\n") == 0);
  char json[512], desc[256], want[256];
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"method\":\"POST\","
           "\"url\":\"http://127.0.0.1:%d/fault?mode=503&for_ms=10\","
           "\"headers\":{\"Content-Type\":\"application/json\"},"
           "\"body\":\"{\\\"x\\\":1}\",\"expect\":{\"status\":200}}",
           sv.port);
  struct arun r;
  run_action(&r, json, 0, desc, sizeof desc);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  CU_ASSERT_EQUAL(r.a.cancelled, 0);
  ASSERT_STR(r.a.message, "HTTP 200");
  CU_ASSERT_EQUAL(detail_status(&r.a), 200);
  ASSERT_STR(detail_body(&r.a), "{\"id\":1}\n");
  snprintf(want, sizeof want,
           "POST http://127.0.0.1:%d/fault?mode=503&for_ms=10", sv.port);
  ASSERT_STR(desc, want);
  pthread_mutex_lock(&sv.mu);
  CU_ASSERT(strncmp(sv.last, "POST /fault?mode=503&for_ms=10 HTTP/1.1\r\n", 41) == 0);
  CU_ASSERT(strstr(sv.last, "\r\nContent-Type: application/json\r\n") != NULL);
  CU_ASSERT(strstr(sv.last, "\r\n\r\n{\"x\":1}") != NULL);
  pthread_mutex_unlock(&sv.mu);
  gd_action_free(&r.a);

  /* POST without a body still sends Content-Length: 0. */
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"method\":\"POST\","
           "\"url\":\"http://127.0.0.1:%d/reset\"}",
           sv.port);
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  pthread_mutex_lock(&sv.mu);
  CU_ASSERT(strncmp(sv.last, "POST /reset HTTP/1.1\r\n", 22) == 0);
  CU_ASSERT(strstr(sv.last, "\r\nContent-Length: 0\r\n") != NULL);
  pthread_mutex_unlock(&sv.mu);
  gd_action_free(&r.a);
  srv_stop(&sv);
}

static void test_status_check(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 503, "unavailable\n") == 0);
  char json[512];
  struct arun r;
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"expect\":{\"status\":200}}",
           sv.port);
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  ASSERT_STR(r.a.message, "HTTP 503 (expected 200)");
  CU_ASSERT_EQUAL(detail_status(&r.a), 503);
  ASSERT_STR(detail_body(&r.a), "unavailable\n");
  gd_action_free(&r.a);

  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\"}", sv.port);
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  ASSERT_STR(r.a.message, "HTTP 503 (expected 2xx)");
  gd_action_free(&r.a);

  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
           "\"expect\":{\"status\":[200,503]}}",
           sv.port);
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  ASSERT_STR(r.a.message, "HTTP 503");
  gd_action_free(&r.a);
  srv_stop(&sv);
}

static void test_refused(void) {
  int port = closed_port();
  CU_ASSERT_FATAL(port > 0);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\"}", port);
  struct arun r;
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  ASSERT_STR(r.a.message, "connection refused");
  CU_ASSERT(r.a.detail == NULL);
  gd_action_free(&r.a);
}

static void test_cancel(void) {
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_HANG, 200, NULL) == 0);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\"}", sv.port);
  struct arun r;
  uint64_t t0 = uv_hrtime();
  run_action(&r, json, 50, NULL, 0);
  uint64_t ms = (uv_hrtime() - t0) / 1000000u;
  CU_ASSERT(ms >= 45 && ms < 1000);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_EQUAL(r.a.cancelled, 1);
  ASSERT_STR(r.a.message, "cancelled");
  CU_ASSERT_EQUAL(atomic_load(&sv.requests), 1);
  gd_action_free(&r.a);
  srv_stop(&sv);
}

/* The journal keeps the first 1 KiB of the body, cut on a UTF-8 boundary. */
static void test_body_truncated(void) {
  static char body[2048];
  memset(body, 'a', 1023);
  memcpy(body + 1023, "\xc3\xa9", 2); /* é straddles the 1024th byte */
  memset(body + 1025, 'b', 100);
  body[1125] = 0;
  struct srv sv;
  CU_ASSERT_FATAL(srv_start(&sv, SRV_ANSWER, 200, body) == 0);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\"}", sv.port);
  struct arun r;
  run_action(&r, json, 0, NULL, 0);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  const char *b = detail_body(&r.a);
  CU_ASSERT_FATAL(b != NULL);
  CU_ASSERT_EQUAL(strlen(b), 1023);
  CU_ASSERT(strspn(b, "a") == 1023);
  gd_action_free(&r.a);
  srv_stop(&sv);
}

static void test_config_errors(void) {
  const char *m;
  m = init_error("{\"type\":\"http\",\"url\":\"http://x/\","
                 "\"expect\":{\"status\":200,\"body_contains\":\"ok\"}}");
  ASSERT_STR(m, "fault[0].expect: unknown key 'body_contains'");
  m = init_error("{\"type\":\"http\",\"url\":\"http://x/\","
                 "\"expect\":{\"status\":600}}");
  ASSERT_STR(m, "fault[0].expect.status: must be an HTTP status from 100 to "
                "599, got '600'");
  m = init_error("{\"type\":\"http\",\"url\":\"file:///etc/passwd\"}");
  ASSERT_STR(m, "fault[0].url: must be an http or https URL, got "
                "'file:///etc/passwd'");
  m = init_error("{\"type\":\"http\",\"url\":\"http://x/\",\"method\":\"P OST\"}");
  ASSERT_STR(m, "fault[0].method: must be an uppercase HTTP method, got 'P OST'");
  m = init_error("{\"type\":\"http\"}");
  CU_ASSERT(strstr(m, "fault[0]") && strstr(m, "url"));
  m = init_error("{\"type\":\"http\",\"url\":\"http://x/\",\"fresh_connection\":true}");
  CU_ASSERT(strstr(m, "'fresh_connection'") != NULL);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"POST with headers and body", test_post_ok},
      {"expect.status", test_status_check},
      {"refused", test_refused},
      {"cancel", test_cancel},
      {"body in the detail is cut at 1 KiB", test_body_truncated},
      {"configuration errors", test_config_errors},
      {NULL, NULL},
  };
  return gd_test_run("http_action", tests);
}

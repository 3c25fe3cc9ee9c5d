/* The tcp probe, driven through the real scheduler (probe.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gameday/curl.h"
#include "gameday/probe.h"
#include "proberun.h"
#include "testutil.h"

/* A loopback listener nobody accepts on: connects complete in the kernel
 * (until the backlog is full). Returns the fd, port in *port. */
static int listener(int family, int backlog, int *port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  if (family == AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_addr = in6addr_loopback;
    sl = sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sl = sizeof *s4;
  }
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, backlog) != 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                   : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

/* Accepts (and closes) what is queued; returns how many. */
static int drain(int lfd) {
  int n = 0;
  int fl = fcntl(lfd, F_GETFL);
  fcntl(lfd, F_SETFL, fl | O_NONBLOCK);
  for (int fd; (fd = accept(lfd, NULL, NULL)) >= 0; n++) close(fd);
  fcntl(lfd, F_SETFL, fl);
  return n;
}

static int closed_port(void) {
  int port;
  int fd = listener(AF_INET, 1, &port);
  if (fd < 0) return -1;
  close(fd);
  return port;
}

static void test_ok(void) {
  int port;
  int lfd = listener(AF_INET, 64, &port);
  CU_ASSERT_FATAL(lfd >= 0);
  char json[256], desc[128], want[128];
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  struct gd_proberun o;
  gd_proberun(json, 5, 3000, &o, desc, sizeof desc);
  CU_ASSERT_EQUAL(o.n, 5);
  CU_ASSERT_EQUAL(o.ok, 5);
  for (int i = 0; i < o.n; i++) CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(drain(lfd), 5);
  snprintf(want, sizeof want, "connect 127.0.0.1:%d", port);
  GD_ASSERT_STR(desc, want);
  close(lfd);
}

/* A name goes through uv_getaddrinfo; "localhost" may give ::1 first, where
 * nobody listens, and then 127.0.0.1: any address that accepts is ok. */
static void test_name(void) {
  int port;
  int lfd = listener(AF_INET, 64, &port);
  CU_ASSERT_FATAL(lfd >= 0);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"localhost\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  struct gd_proberun o;
  gd_proberun(json, 3, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.n, 3);
  CU_ASSERT_EQUAL(o.ok, 3);
  CU_ASSERT_EQUAL(drain(lfd), 3);
  close(lfd);

  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"nonexistent.invalid\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":3000}",
           port);
  gd_proberun(json, 1, 5000, &o, NULL, 0);
  CU_ASSERT_FATAL(o.n >= 1);
  if (o.cls[0] == GD_SAMPLE_TIMEOUT) GD_SKIP("the resolver here does not answer");
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_DNS);
  CU_ASSERT(strncmp(o.detail[0], "cannot resolve 'nonexistent.invalid': ", 38) == 0);
}

static void test_ipv6(void) {
  int port;
  int lfd = listener(AF_INET6, 64, &port);
  if (lfd < 0) GD_SKIP("no IPv6 loopback");
  char json[256], desc[128], want[128];
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"::1\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  struct gd_proberun o;
  gd_proberun(json, 2, 3000, &o, desc, sizeof desc);
  CU_ASSERT_EQUAL(o.ok, 2);
  snprintf(want, sizeof want, "connect [::1]:%d", port);
  GD_ASSERT_STR(desc, want);
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"[::1]\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  gd_proberun(json, 2, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.ok, 2);
  CU_ASSERT_EQUAL(drain(lfd), 4);
  close(lfd);
}

static void test_refused(void) {
  int port = closed_port();
  CU_ASSERT_FATAL(port > 0);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
           "\"interval_ms\":5,\"timeout_ms\":1000}",
           port);
  struct gd_proberun o;
  gd_proberun(json, 3, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.n, 3);
  for (int i = 0; i < o.n; i++) {
    CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_REFUSED);
    GD_ASSERT_STR(o.detail[i], "connection refused");
  }
}

/* Loopback only: a listener whose accept queue is full drops new SYNs, so
 * the connect hangs until the generic timeout cancels it. */
static void test_timeout(void) {
  int port;
  int lfd = listener(AF_INET, 0, &port);
  CU_ASSERT_FATAL(lfd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fill[4];
  for (int i = 0; i < 4; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
  }
  usleep(50000);
  char json[256];
  snprintf(json, sizeof json,
           "{\"type\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%d,"
           "\"interval_ms\":100,\"timeout_ms\":50}",
           port);
  struct gd_proberun o;
  gd_proberun(json, 2, 3000, &o, NULL, 0);
  for (int i = 0; i < 4; i++) close(fill[i]);
  close(lfd);
  CU_ASSERT_FATAL(o.n >= 2);
  if (o.cls[0] == GD_SAMPLE_OK) GD_SKIP("this kernel accepted past the backlog");
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_TIMEOUT);
    GD_ASSERT_STR(o.detail[i], "no answer within 50 ms");
  }
}

static void test_config_errors(void) {
  const char *m;
  m = gd_proberun_init_error(
      "{\"type\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":0,"
      "\"interval_ms\":10,\"timeout_ms\":100}");
  CU_ASSERT(strstr(m, "probes.t.port") != NULL);
  m = gd_proberun_init_error(
      "{\"type\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":65536,"
      "\"interval_ms\":10,\"timeout_ms\":100}");
  CU_ASSERT(strstr(m, "probes.t.port") != NULL);
  m = gd_proberun_init_error("{\"type\":\"tcp\",\"port\":80,"
                             "\"interval_ms\":10,\"timeout_ms\":100}");
  CU_ASSERT(strstr(m, "probes.t.host") != NULL);
  m = gd_proberun_init_error(
      "{\"type\":\"tcp\",\"host\":\"a b\",\"port\":80,"
      "\"interval_ms\":10,\"timeout_ms\":100}");
  GD_ASSERT_STR(m, "probes.t.host: must be a host name or address, got 'a b'");
  m = gd_proberun_init_error(
      "{\"type\":\"tcp\",\"host\":\"x\",\"port\":80,\"url\":\"y\","
      "\"interval_ms\":10,\"timeout_ms\":100}");
  CU_ASSERT(strstr(m, "'url'") != NULL);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"connect ok", test_ok},
      {"names resolve on the loop", test_name},
      {"ipv6 literal", test_ipv6},
      {"refused", test_refused},
      {"timeout on a full backlog", test_timeout},
      {"configuration errors", test_config_errors},
      {NULL, NULL},
  };
  return gd_test_run("tcp_probe", tests);
}

/* The dns probe, driven through the real scheduler (probe.c).
 *
 * The names it resolves come from an /etc/hosts the test controls: a child
 * process unshares its mount namespace (as root), makes / private so
 * nothing leaks back to the machine, and bind-mounts a temporary hosts file
 * over /etc/hosts, and a resolv.conf that points at a closed loopback port
 * so a name not in it fails at once instead of asking the network. glibc
 * reads /etc/hosts on every lookup, so bind-mounting a second file over
 * the first in the middle of a run changes the answer atomically: that is
 * how the "changed" mode (an Aurora cluster endpoint after a failover) is
 * tested. The child runs the probe and sends its results (and the number of
 * CUnit assertions that failed in it) back through a pipe. Without the
 * privilege for a mount namespace those tests skip and say so. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gameday/probe.h"
#include "proberun.h"
#include "testutil.h"

struct ns_result {
  int setup;        /* 0 ran; 1 could not set up the namespace (why) */
  char why[200];
  unsigned failures; /* CUnit assertion failures inside the child */
  struct gd_proberun r;
};

struct swap {
  const char *file;
  int after_ms;
};

static void *swapper(void *arg) {
  struct swap *s = arg;
  usleep((useconds_t)s->after_ms * 1000);
  /* A second bind mount on top of the first: the switch is atomic. */
  mount(s->file, "/etc/hosts", NULL, MS_BIND, NULL);
  return NULL;
}

static void child(int fd, const char *dir, const char *json, int want,
                  int max_ms, int swap_ms) {
  static struct ns_result o;
  char hosts[512], hosts2[512], resolv[512];
  snprintf(hosts, sizeof hosts, "%s/hosts", dir);
  snprintf(hosts2, sizeof hosts2, "%s/hosts2", dir);
  snprintf(resolv, sizeof resolv, "%s/resolv.conf", dir);
  alarm(30); /* whatever happens, this process ends */
  memset(&o, 0, sizeof o);
  if (unshare(CLONE_NEWNS) != 0) {
    o.setup = 1;
    snprintf(o.why, sizeof o.why, "cannot unshare the mount namespace: %s",
             strerror(errno));
  } else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
             mount(hosts, "/etc/hosts", NULL, MS_BIND, NULL) != 0 ||
             mount(resolv, "/etc/resolv.conf", NULL, MS_BIND, NULL) != 0) {
    o.setup = 1;
    snprintf(o.why, sizeof o.why, "cannot bind-mount over /etc/hosts: %s",
             strerror(errno));
  } else {
    pthread_t th;
    struct swap sw = {hosts2, swap_ms};
    int swapping = swap_ms > 0 && pthread_create(&th, NULL, swapper, &sw) == 0;
    unsigned f0 = CU_get_number_of_failures();
    gd_proberun(json, want, max_ms, &o.r, NULL, 0);
    if (swapping) pthread_join(th, NULL);
    o.failures = CU_get_number_of_failures() - f0;
  }
  const char *p = (const char *)&o;
  size_t left = sizeof o;
  while (left) {
    ssize_t w = write(fd, p, left);
    if (w <= 0) break;
    p += w;
    left -= (size_t)w;
  }
  _exit(0);
}

/* Runs the probe json in a child with hosts (and hosts2 bind-mounted over
 * it after swap_ms, when given) as /etc/hosts. 0 ran (o filled), 1 skip
 * (o->why), -1 failed. */
static int ns_run(const char *hosts, const char *hosts2, int swap_ms,
                  const char *json, int want, int max_ms,
                  struct ns_result *o) {
  /* Check the spec here: a fatal assertion in the child would unwind into
   * the child's copy of the test runner. */
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
  struct gd_probe p;
  struct gd_error err = {0};
  int rc = gd_probe_init(&p, "t", spec, "probes.t", &err);
  cJSON_Delete(spec);
  if (rc) printf("\n    init: %s ", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  gd_probe_free(&p);

  char *dir = gd_test_tmpdir();
  char path[512];
  snprintf(path, sizeof path, "%s/hosts", dir);
  gd_test_write_file(path, hosts);
  snprintf(path, sizeof path, "%s/hosts2", dir);
  gd_test_write_file(path, hosts2 ? hosts2 : hosts);
  snprintf(path, sizeof path, "%s/resolv.conf", dir);
  /* Nothing listens on port 53 of 127.0.0.1 here: refused at once. */
  gd_test_write_file(path, "nameserver 127.0.0.1\noptions timeout:1 "
                           "attempts:1\n");
  int fds[2];
  CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    child(fds[1], dir, json, want, max_ms, hosts2 ? swap_ms : 0);
  }
  close(fds[1]);
  memset(o, 0, sizeof *o);
  char *q = (char *)o;
  size_t got = 0;
  while (got < sizeof *o) {
    ssize_t r = read(fds[0], q + got, sizeof *o - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fds[0]);
  int st = 0;
  if (pid > 0) waitpid(pid, &st, 0);
  gd_test_rmrf(dir);
  free(dir);
  if (pid < 0 || got != sizeof *o || !WIFEXITED(st)) {
    printf("\n    child: %s ", pid < 0 ? "fork failed" : "died early");
    return -1;
  }
  return o->setup ? 1 : 0;
}

#define NS_RUN(h1, h2, swap, json, want, max, o)                              \
  do {                                                                        \
    int rc_ = ns_run((h1), (h2), (swap), (json), (want), (max), (o));         \
    if (rc_ == 1) GD_SKIP((o)->why);                                          \
    CU_ASSERT_EQUAL_FATAL(rc_, 0);                                            \
    CU_ASSERT_EQUAL((o)->failures, 0);                                        \
  } while (0)

static const char *const HOSTS =
    "127.0.0.1 localhost\n"
    "127.0.0.1 gd-db.test\n"
    "127.0.0.2 gd-db.test\n"
    "127.0.0.5 gd-writer.test\n";

static int count(const struct gd_proberun *r, enum gd_sample_class c) {
  int n = 0;
  for (int i = 0; i < r->n; i++) n += r->cls[i] == c;
  return n;
}

static void test_contains(void) {
  static struct ns_result o;
  NS_RUN(HOSTS, NULL, 0,
         "{\"type\":\"dns\",\"name\":\"gd-db.test\",\"family\":\"ipv4\","
         "\"interval_ms\":20,\"timeout_ms\":2000,"
         "\"expect\":{\"addresses\":[\"127.0.0.2\"]}}",
         3, 3000, &o);
  CU_ASSERT_EQUAL(o.r.n, 3);
  CU_ASSERT_EQUAL(count(&o.r, GD_SAMPLE_OK), 3);
  /* Both addresses, sorted, whatever order the resolver gave. */
  GD_ASSERT_STR(o.r.detail[0], "127.0.0.1, 127.0.0.2");
}

static void test_equals_and_missing(void) {
  static struct ns_result o;
  NS_RUN(HOSTS, NULL, 0,
         "{\"type\":\"dns\",\"name\":\"gd-db.test\",\"family\":\"ipv4\","
         "\"interval_ms\":20,\"timeout_ms\":2000,"
         "\"expect\":{\"addresses\":[\"127.0.0.1\"],\"match\":\"equals\"}}",
         2, 3000, &o);
  CU_ASSERT_EQUAL(o.r.n, 2);
  CU_ASSERT_EQUAL(o.r.cls[0], GD_SAMPLE_MISMATCH);
  GD_ASSERT_STR(o.r.detail[0], "127.0.0.1, 127.0.0.2 (more than expected)");

  NS_RUN(HOSTS, NULL, 0,
         "{\"type\":\"dns\",\"name\":\"gd-db.test\",\"family\":\"ipv4\","
         "\"interval_ms\":20,\"timeout_ms\":2000,"
         "\"expect\":{\"addresses\":[\"127.0.0.1\",\"10.9.9.9\"]}}",
         2, 3000, &o);
  CU_ASSERT_EQUAL(o.r.cls[0], GD_SAMPLE_MISMATCH);
  GD_ASSERT_STR(o.r.detail[0], "127.0.0.1, 127.0.0.2 (missing 10.9.9.9)");
}

static void test_unresolvable(void) {
  static struct ns_result o;
  NS_RUN(HOSTS, NULL, 0,
         "{\"type\":\"dns\",\"name\":\"gd-nowhere.test\",\"interval_ms\":50,"
         "\"timeout_ms\":3000}",
         2, 8000, &o);
  CU_ASSERT_EQUAL(o.r.n, 2);
  CU_ASSERT_EQUAL(count(&o.r, GD_SAMPLE_DNS), 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(o.r.detail[0], "gd-nowhere.test: "));
  CU_ASSERT_EQUAL(o.r.ok, 0);
}

/* The writer endpoint moves from 127.0.0.5 to 127.0.0.6 after 400 ms: the
 * samples before fail ("unchanged"), the ones after are healthy and say
 * what it was. */
static void test_changed(void) {
  static struct ns_result o;
  NS_RUN(HOSTS,
         "127.0.0.1 localhost\n127.0.0.6 gd-writer.test\n", 400,
         "{\"type\":\"dns\",\"name\":\"gd-writer.test\",\"interval_ms\":50,"
         "\"timeout_ms\":2000,\"expect\":{\"changed\":true}}",
         0, 1000, &o);
  CU_ASSERT(o.r.n >= 10);
  int first_ok = -1;
  for (int i = 0; i < o.r.n; i++)
    if (o.r.cls[i] == GD_SAMPLE_OK) {
      first_ok = i;
      break;
    }
  CU_ASSERT(first_ok >= 3); /* ~8 samples of the old answer */
  if (first_ok < 0) return;
  for (int i = 0; i < first_ok; i++) {
    CU_ASSERT_EQUAL(o.r.cls[i], GD_SAMPLE_MISMATCH);
    GD_ASSERT_STR(o.r.detail[i], "unchanged: 127.0.0.5");
  }
  for (int i = first_ok; i < o.r.n; i++) {
    CU_ASSERT_EQUAL(o.r.cls[i], GD_SAMPLE_OK);
    GD_ASSERT_STR(o.r.detail[i], "127.0.0.6 (was 127.0.0.5)");
  }
}

/* Outside any namespace: the machine's own resolver answers for
 * localhost (every /etc/hosts has it), so this runs everywhere. */
static void test_localhost(void) {
  struct gd_proberun r;
  char desc[256];
  gd_proberun("{\"type\":\"dns\",\"name\":\"localhost\",\"family\":\"ipv4\","
              "\"interval_ms\":20,\"timeout_ms\":2000,"
              "\"expect\":{\"addresses\":[\"127.0.0.1\"]}}",
              2, 3000, &r, desc, sizeof desc);
  GD_ASSERT_STR(desc, "resolve localhost, answer contains 127.0.0.1");
  CU_ASSERT_EQUAL(r.n, 2);
  CU_ASSERT_EQUAL(r.ok, 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.detail[0], "127.0.0.1"));
}

static void test_init_errors(void) {
  GD_ASSERT_STR(gd_proberun_init_error("{\"type\":\"dns\",\"interval_ms\":10,"
                                       "\"timeout_ms\":10}"),
                "probes.t.name: required key missing");
  GD_ASSERT_STR(
      gd_proberun_init_error("{\"type\":\"dns\",\"name\":\"x\",\"family\":"
                             "\"ipx\",\"interval_ms\":10,\"timeout_ms\":10}"),
      "probes.t.family: unknown family 'ipx' (any, ipv4, ipv6)");
  GD_ASSERT_STR(gd_proberun_init_error(
                    "{\"type\":\"dns\",\"name\":\"x\",\"interval_ms\":10,"
                    "\"timeout_ms\":10,\"expect\":{\"addresses\":[\"1.2.3\"]}}"),
                "probes.t.expect.addresses[0]: not an ip address '1.2.3'");
  GD_ASSERT_STR(gd_proberun_init_error(
                    "{\"type\":\"dns\",\"name\":\"x\",\"interval_ms\":10,"
                    "\"timeout_ms\":10,\"expect\":{\"addresses\":[\"::1\"],"
                    "\"changed\":true}}"),
                "probes.t.expect: give either addresses or changed, not both");
  GD_ASSERT_STR(gd_proberun_init_error(
                    "{\"type\":\"dns\",\"name\":\"x\",\"interval_ms\":10,"
                    "\"timeout_ms\":10,\"expect\":{\"chnaged\":true}}"),
                "probes.t.expect: unknown key 'chnaged'");
  GD_ASSERT_STR(gd_proberun_init_error(
                    "{\"type\":\"dns\",\"name\":\"x\",\"interval_ms\":10,"
                    "\"timeout_ms\":10,\"expect\":{\"addresses\":[\"::1\"],"
                    "\"match\":\"same\"}}"),
                "probes.t.expect.match: unknown match 'same' (contains, "
                "equals)");
}

int main(void) {
  static const struct gd_test tests[] = {
      {"localhost", test_localhost},
      {"contains", test_contains},
      {"equals and missing", test_equals_and_missing},
      {"unresolvable name is class dns", test_unresolvable},
      {"changed answer (failover)", test_changed},
      {"init errors", test_init_errors},
      {NULL, NULL},
  };
  return gd_test_run("dns probe", tests);
}

/* End to end: the local staging stack (scenarios/local/stack/stack.sh) from
 * nothing to healthy in a fresh run directory on free ports, its pieces seen
 * from outside (HAProxy's stats, a write through the writer endpoint read
 * back through the reader endpoint, a killed web instance replaced by
 * supervisord), "up" again as a no-op, and "down" leaving no process behind.
 * The tests run in order and share one stack; each later test skips when the
 * stack did not come up, and the last one always takes it down. Skips as a
 * whole when the Debian packages are missing (scripts/deps.sh installs them). */
#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "stack.h"
#include "testutil.h"

/* The requirement: from nothing to healthy in under a minute. */
#define UP_LIMIT_MS 60000
#define MAXPIDS 256

static struct {
  struct gd_stack st;   /* the test's directory, the run dir, the base */
  int up;               /* "up" succeeded: the later tests have a stack */
  int skipped;
} S;

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Something accepts connections on 127.0.0.1:port. (After a server exits,
 * bind may still fail for a while because of TIME_WAIT connections; a
 * refused connect is what "nothing listens" means.) */
static int port_listening(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

static int port_of(const char *name) { return gd_stack_port(&S.st, name); }

/* Pids of every process the run directory records: its pidfiles, the
 * postgres pidfiles the Patroni callback keeps, the postmasters' own. */
static size_t recorded_pids(long *pids, size_t max) {
  static const char *const pats[] = {"%s/*.pid", "%s/pg*/postgres.pid",
                                     "%s/pg*/data/postmaster.pid"};
  size_t n = 0;
  for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
    char pat[4200];
    snprintf(pat, sizeof pat, pats[i], S.st.dir);
    glob_t g;
    if (glob(pat, 0, NULL, &g) != 0) continue;
    for (size_t k = 0; k < g.gl_pathc && n < max; k++) {
      long p = gd_stack_pid_in(g.gl_pathv[k]);
      if (p > 0) pids[n++] = p;
    }
    globfree(&g);
  }
  return n;
}

/* A live process whose command line names the run directory, or 0. */
static long process_naming_dir(void) {
  glob_t g;
  if (glob("/proc/[0-9]*/cmdline", 0, NULL, &g) != 0) return 0;
  char needle[4200];
  snprintf(needle, sizeof needle, "%s/", S.st.dir);
  long found = 0;
  for (size_t i = 0; i < g.gl_pathc && !found; i++) {
    long pid = strtol(g.gl_pathv[i] + 6, NULL, 10);
    /* argv is NUL-separated: look in each argument. */
    FILE *f = fopen(g.gl_pathv[i], "rb");
    char buf[8192];
    size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[len] = 0;
    for (size_t k = 0; k < len; k++)
      if (!buf[k]) buf[k] = ' ';
    if (strstr(buf, needle) && pid != getpid() && gd_stack_alive(pid)) found = pid;
  }
  globfree(&g);
  return found;
}

struct body {
  char *data;
  size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
  struct body *b = ud;
  char *nd = realloc(b->data, b->len + size * n + 1);
  if (!nd) return 0;
  memcpy(nd + b->len, p, size * n);
  b->data = nd;
  b->len += size * n;
  b->data[b->len] = 0;
  return size * n;
}

/* GET url; returns the status (0 when no answer) and the body in *out. */
static long http_get(const char *url, char **out) {
  struct body b = {calloc(1, 1), 0};
  long code = 0;
  CURL *c = curl_easy_init();
  if (c) {
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(c) == CURLE_OK)
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
  }
  if (out) *out = b.data;
  else free(b.data);
  return code;
}

static PGconn *db_connect(const char *port_name) {
  char dsn[256];
  snprintf(dsn, sizeof dsn,
           "host=127.0.0.1 port=%d dbname=gameday user=gameday "
           "password=gameday connect_timeout=3",
           port_of(port_name));
  PGconn *c = PQconnectdb(dsn);
  if (PQstatus(c) != CONNECTION_OK)
    printf("\n    %s: %s", port_name, PQerrorMessage(c));
  return c;
}

/* The single value SQL returns, malloc'd, or NULL (error printed). */
static char *db_value(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  char *v = NULL;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
    v = strdup(PQgetvalue(r, 0, 0));
  else
    printf("\n    '%s': %s", sql, PQresultErrorMessage(r));
  PQclear(r);
  return v;
}

/* ---- the tests, in order ---- */

static void test_up_from_nothing(void) {
  const char *missing = gd_stack_missing();
  if (missing) {
    S.skipped = 1;
    printf("\n    SKIPPED: %s is missing; install the stack's packages with "
           "scripts/deps.sh ", missing);
    return;
  }
  CU_ASSERT_FATAL(gd_stack_init(&S.st) == 0);

  char *out;
  long long t0 = now_ms();
  int rc = gd_stack_up(&S.st, &out);
  long long took = now_ms() - t0;
  printf("\n    up: exit %d in %lld ms (base %d)", rc, took, S.st.base);
  if (rc != 0) printf("\n%s", out);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT(took < UP_LIMIT_MS);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "stack: healthy in"));
  free(out);

  /* The port layout scenarios rely on. */
  CU_ASSERT_EQUAL(port_of("WEB_PORT"), S.st.base + 80);
  CU_ASSERT_EQUAL(port_of("STATS_PORT"), S.st.base + 81);
  CU_ASSERT_EQUAL(port_of("WRITER_PORT"), S.st.base + 82);
  CU_ASSERT_EQUAL(port_of("READER_PORT"), S.st.base + 83);
  CU_ASSERT_EQUAL(port_of("WEB_INSTANCES"), 3);
  CU_ASSERT_EQUAL(port_of("WEB_3_CTL"), S.st.base + 63);
  S.up = rc == 0;
}

static void test_status_healthy(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  char *out;
  CU_ASSERT_EQUAL(gd_stack_run(&S.st, &out, "status", NULL), 0);
  static const char *const parts[] = {
      "etcd", "pg1", "pg2", "replication", "supervisord", "web-1",
      "web-2", "web-3", "haproxy", "lb", "writer", "reader", NULL};
  for (const char *const *p = parts; *p; p++) {
    /* "NAME<spaces>ok " at the start of a line. */
    int found = 0;
    for (char *l = out; l && *l && !found; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
      size_t n = strlen(*p);
      if (strncmp(l, *p, n) != 0 || l[n] != ' ') continue;
      char *s = l + n;
      while (*s == ' ') s++;
      found = strncmp(s, "ok ", 3) == 0;
    }
    if (!found) printf("\n    part '%s' not ok in:\n%s", *p, out);
    CU_ASSERT(found);
  }
  CU_ASSERT_PTR_NULL(strstr(out, "FAIL"));
  free(out);
}

static void test_lb_serves_and_stats_show_web_up(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  char url[256], *body;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/health", port_of("WEB_PORT"));
  CU_ASSERT_EQUAL(http_get(url, &body), 200);
  CU_ASSERT_STRING_EQUAL(body, "ok\n");
  free(body);

  snprintf(url, sizeof url, "http://127.0.0.1:%d/stats;csv",
           port_of("STATS_PORT"));
  CU_ASSERT_EQUAL(http_get(url, &body), 200);
  /* pxname,svname,...: field 18 is the status. */
  int up = 0, rows = 0;
  for (char *l = body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    if (strncmp(l, "web,web-", 8) != 0) continue;
    rows++;
    const char *f = l;
    for (int i = 0; i < 17 && f; i++) f = strchr(f, ',') ? strchr(f, ',') + 1 : NULL;
    if (f && strncmp(f, "UP,", 3) == 0) up++;
  }
  CU_ASSERT_EQUAL(rows, 3);
  CU_ASSERT_EQUAL(up, 3);
  free(body);

  snprintf(url, sizeof url, "http://127.0.0.1:%d/capacity",
           port_of("STATS_PORT"));
  CU_ASSERT_EQUAL(http_get(url, NULL), 200);
}

static void test_write_via_writer_read_via_reader(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  PGconn *w = db_connect("WRITER_PORT"), *r = db_connect("READER_PORT");
  CU_ASSERT_FATAL(PQstatus(w) == CONNECTION_OK && PQstatus(r) == CONNECTION_OK);

  char *v = db_value(w, "SELECT pg_is_in_recovery()");
  CU_ASSERT(v && strcmp(v, "f") == 0);
  free(v);
  v = db_value(r, "SELECT pg_is_in_recovery()");
  CU_ASSERT(v && strcmp(v, "t") == 0);
  free(v);
  v = db_value(r, "SELECT count(*) FROM items");
  CU_ASSERT(v && strcmp(v, "1000") == 0);
  free(v);

  char run_id[64], sql[512];
  snprintf(run_id, sizeof run_id, "test-stack-%ld-%lld", (long)getpid(),
           now_ms());
  snprintf(sql, sizeof sql,
           "INSERT INTO ledger (run_id, seq, probe) "
           "SELECT '%s', g, 'writer' FROM generate_series(1, 3) g", run_id);
  PGresult *res = PQexec(w, sql);
  CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_COMMAND_OK);
  CU_ASSERT_STRING_EQUAL(PQcmdTuples(res), "3");
  PQclear(res);

  /* Asynchronous replication: the rows reach the replica shortly after. */
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM ledger WHERE run_id = '%s'", run_id);
  int seen = 0;
  for (long long end = now_ms() + 5000; !seen && now_ms() < end; sleep_ms(50)) {
    v = db_value(r, sql);
    seen = v && strcmp(v, "3") == 0;
    free(v);
  }
  CU_ASSERT(seen);
  PQfinish(w);
  PQfinish(r);
}

static void test_killed_web_instance_is_replaced(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  char pidfile[4200];
  snprintf(pidfile, sizeof pidfile, "%s/web-1.pid", S.st.dir);
  long old = gd_stack_pid_in(pidfile);
  CU_ASSERT_FATAL(old > 0 && gd_stack_alive(old));

  CU_ASSERT_FATAL(kill((pid_t)old, SIGKILL) == 0);
  long long t0 = now_ms();
  long fresh = -1;
  while (now_ms() - t0 < 10000) {
    long p = gd_stack_pid_in(pidfile);
    if (p > 0 && p != old && gd_stack_alive(p)) {
      fresh = p;
      break;
    }
    sleep_ms(20);
  }
  long long took = now_ms() - t0;
  printf("\n    web-1: pid %ld killed, replaced by pid %ld after %lld ms", old,
         fresh, took);
  CU_ASSERT(fresh > 0);
  CU_ASSERT(!gd_stack_alive(old));
  /* The replacement waits GAMEDAY_STACK_RESPAWN_DELAY (2 s): not instant. */
  CU_ASSERT(took >= 1500);

  /* And the load balancer takes it back: the whole stack is healthy again. */
  int rc = 1;
  for (long long end = now_ms() + 10000; rc != 0 && now_ms() < end; sleep_ms(200))
    rc = gd_stack_run(&S.st, NULL, "status", NULL);
  CU_ASSERT_EQUAL(rc, 0);
}

static void test_up_again_is_a_no_op(void) {
  if (!S.up) GD_SKIP("the stack did not come up");
  long before[MAXPIDS], after[MAXPIDS];
  size_t nb = recorded_pids(before, MAXPIDS);
  char *out;
  CU_ASSERT_EQUAL(gd_stack_run(&S.st, &out, "up", NULL), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "already up"));
  CU_ASSERT_PTR_NULL(strstr(out, "started "));
  free(out);
  size_t na = recorded_pids(after, MAXPIDS);
  CU_ASSERT_EQUAL(na, nb);
  for (size_t i = 0; i < nb && i < na; i++) CU_ASSERT_EQUAL(before[i], after[i]);
}

static void test_down_leaves_nothing_running(void) {
  if (S.skipped) GD_SKIP("the stack's packages are missing");
  if (!S.st.tmp) return;
  long pids[MAXPIDS];
  size_t n = recorded_pids(pids, MAXPIDS);
  if (S.up) CU_ASSERT(n >= 3 + 5 + 2);  /* web, daemons, postmasters */

  char *out;
  long long t0 = now_ms();
  int rc = gd_stack_run(&S.st, &out, "down", NULL);
  printf("\n    down: exit %d in %lld ms", rc, now_ms() - t0);
  if (rc != 0) printf("\n%s", out);
  CU_ASSERT_EQUAL(rc, 0);
  free(out);

  for (size_t i = 0; i < n; i++) {
    if (gd_stack_alive(pids[i])) printf("\n    pid %ld still alive", pids[i]);
    CU_ASSERT(!gd_stack_alive(pids[i]));
  }
  long left = process_naming_dir();
  if (left) printf("\n    pid %ld still names %s", left, S.st.dir);
  CU_ASSERT_EQUAL(left, 0);
  /* Nothing listens on the stack's ports any more. */
  int listening = 0;
  for (int p = S.st.base; p < S.st.base + GD_STACK_SPAN; p++) {
    if (!port_listening(p)) continue;
    printf("\n    port %d still accepts connections", p);
    listening++;
  }
  CU_ASSERT_EQUAL(listening, 0);

  /* A second down is harmless. */
  CU_ASSERT_EQUAL(gd_stack_run(&S.st, NULL, "down", NULL), 0);

  gd_stack_cleanup(&S.st, CU_get_number_of_failures() != 0);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  static const struct gd_test tests[] = {
      {"up from nothing to healthy", test_up_from_nothing},
      {"status: every part ok", test_status_healthy},
      {"lb serves, stats show the web servers UP",
       test_lb_serves_and_stats_show_web_up},
      {"write via writer, read via reader",
       test_write_via_writer_read_via_reader},
      {"killed web instance is replaced", test_killed_web_instance_is_replaced},
      {"up again is a no-op", test_up_again_is_a_no_op},
      {"down leaves nothing running", test_down_leaves_nothing_running},
      {NULL, NULL}};
  int rc = gd_test_run("stack", tests);
  curl_global_cleanup();
  return rc;
}

/* The postgres probe (query and ledger modes), the postgres action and
 * pgconn, against throwaway PostgreSQL 15 servers (tests/pgserver.c), all
 * through the real scheduler on a real loop. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gameday/action.h"
#include "gameday/pgconn.h"
#include "gameday/probe.h"
#include "pgserver.h"
#include "testutil.h"

#define ASSERT_STR(got, want)                                                  \
  do {                                                                         \
    const char *g_ = (got);                                                    \
    if (strcmp(g_ ? g_ : "(null)", (want)) != 0)                               \
      printf("\n    got '%s', want '%s' ", g_ ? g_ : "(null)", (want));        \
    CU_ASSERT_STRING_EQUAL(g_ ? g_ : "(null)", (want));                        \
  } while (0)

#define ASSERT_HAS(got, part)                                                  \
  do {                                                                         \
    const char *g_ = (got);                                                    \
    int ok_ = g_ && strstr(g_, (part)) != NULL;                                \
    if (!ok_)                                                                  \
      printf("\n    '%s' lacks '%s' ", g_ ? g_ : "(null)", (part));            \
    CU_ASSERT(ok_);                                                            \
  } while (0)

/* ---- the shared server --------------------------------------------------- */

static struct gd_pgserver srv;
static int srv_state = -2; /* -2 not tried, 0 up, 1 skip, -1 failed */
static char srv_why[2048];

static int server_up(void) {
  if (srv_state == -2)
    srv_state = gd_pgserver_start(&srv, NULL, srv_why, sizeof srv_why);
  return srv_state;
}

#define NEED_SERVER()                                                          \
  do {                                                                         \
    int st_ = server_up();                                                     \
    if (st_ == 1)                                                              \
      GD_SKIP(srv_why);                                                        \
    if (st_ != 0) {                                                            \
      printf("\n    server: %s ", srv_why);                                    \
      CU_FAIL("cannot start PostgreSQL");                                      \
      return;                                                                  \
    }                                                                          \
  } while (0)

static void sql_ok(const struct gd_pgserver *s, const char *sql, char *out,
                   size_t n) {
  int rc = gd_pgserver_sql(s, sql, out, n);
  if (rc)
    printf("\n    sql '%s': %s ", sql, out);
  CU_ASSERT_FATAL(rc == 0);
}

static void make_ledger(const struct gd_pgserver *s, const char *table) {
  char sql[512], out[256];
  snprintf(sql, sizeof sql,
           "DROP TABLE IF EXISTS %s; CREATE TABLE %s (run_id text NOT NULL, "
           "probe text NOT NULL, seq bigint NOT NULL, "
           "at timestamptz NOT NULL DEFAULT now())",
           table, table);
  sql_ok(s, sql, out, sizeof out);
  /* Test triggers: sleep on one seq, or fail it with an ERROR. */
  sql_ok(s,
         "CREATE OR REPLACE FUNCTION slow_seq() RETURNS trigger LANGUAGE "
         "plpgsql AS $$ BEGIN IF NEW.seq = TG_ARGV[0]::bigint THEN PERFORM "
         "pg_sleep(TG_ARGV[1]::float8); END IF; RETURN NEW; END $$;"
         "CREATE OR REPLACE FUNCTION fail_seq() RETURNS trigger LANGUAGE "
         "plpgsql AS $$ BEGIN IF NEW.seq = TG_ARGV[0]::bigint THEN RAISE "
         "EXCEPTION 'refused by the test' USING ERRCODE = '25006'; END IF; "
         "RETURN NEW; END $$",
         out, sizeof out);
}

static long long count_rows(const struct gd_pgserver *s, const char *table,
                            const char *where) {
  char sql[512], out[64];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s", table, where);
  sql_ok(s, sql, out, sizeof out);
  return atoll(out);
}

static int closed_port(void) {
  uv_loop_t loop;
  uv_tcp_t t;
  struct sockaddr_in sa;
  struct sockaddr_storage got;
  int len = sizeof got;
  uv_loop_init(&loop);
  uv_tcp_init(&loop, &t);
  uv_ip4_addr("127.0.0.1", 0, &sa);
  uv_tcp_bind(&t, (const struct sockaddr *)&sa, 0);
  uv_tcp_getsockname(&t, (struct sockaddr *)&got, &len);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return ntohs(((struct sockaddr_in *)&got)->sin_port);
}

/* ---- running a probe ----------------------------------------------------- */

#define MAXR 256

struct run {
  struct gd_probe p;
  uv_loop_t loop;
  uv_timer_t guard, stopper, aux;
  int want;
  int n;
  enum gd_sample_class cls[MAXR];
  char detail[MAXR][100];
  double value[MAXR];
  int has_value[MAXR];
  uint64_t started, ended;
  int stop_requested, stopped;
  void (*hook)(struct run *r); /* after each result */
  int verify_at;               /* verify while running at this result */
  int verified, verify_ok;
  char verify_msg[400];
  struct gd_pgserver *server; /* for hooks */
};

static struct run *run_of(struct gd_probe *p) {
  return (struct run *)((char *)p - offsetof(struct run, p));
}

static void run_stopped(struct gd_probe *p, void *arg) {
  (void)p;
  struct run *r = arg;
  r->stopped++;
  r->ended = uv_hrtime();
}

static void stop_now(uv_timer_t *t) {
  struct run *r = t->data;
  uv_timer_stop(&r->guard);
  gd_probe_stop(&r->p, run_stopped, r);
}

static void request_stop(struct run *r) {
  if (r->stop_requested)
    return;
  r->stop_requested = 1;
  uv_timer_start(&r->stopper, stop_now, 0, 0);
}

static void on_guard(uv_timer_t *t) { request_stop(t->data); }

static void on_verified(struct gd_probe *p, int ok, const char *msg) {
  struct run *r = run_of(p);
  r->verified++;
  r->verify_ok = ok;
  snprintf(r->verify_msg, sizeof r->verify_msg, "%s", msg ? msg : "");
  if (r->verify_at)
    request_stop(r);
}

static void on_result(struct gd_probe *p, const struct gd_sample_result *res,
                      void *arg) {
  struct run *r = arg;
  (void)p;
  if (r->n < MAXR) {
    r->cls[r->n] = res->cls;
    snprintf(r->detail[r->n], sizeof r->detail[0], "%s", res->detail);
    r->value[r->n] = res->value;
    r->has_value[r->n] = res->has_value;
    r->n++;
  }
  if (r->hook)
    r->hook(r);
  if (r->verify_at && r->n == r->verify_at) {
    struct gd_error err = {0};
    int rc = r->p.ops->verify(&r->p, on_verified, &err);
    if (rc)
      printf("\n    verify: %s ", err.msg);
    CU_ASSERT(rc == 0);
    if (rc)
      request_stop(r);
  } else if (r->want && r->n >= r->want) {
    request_stop(r);
  }
}

static void run_init(struct run *r, const char *json) {
  memset(r, 0, sizeof *r);
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_FATAL(spec != NULL);
  struct gd_error err = {0};
  int rc = gd_probe_init(&r->p, "t", spec, "probes.t", &err);
  if (rc)
    printf("\n    init: %s ", err.msg);
  cJSON_Delete(spec);
  CU_ASSERT_FATAL(rc == 0);
  uv_loop_init(&r->loop);
  uv_timer_init(&r->loop, &r->guard);
  uv_timer_init(&r->loop, &r->stopper);
  uv_timer_init(&r->loop, &r->aux);
  r->guard.data = r->stopper.data = r->aux.data = r;
  r->p.on_result = on_result;
  r->p.on_result_arg = r;
}

/* Runs until `want` results (or the verify at verify_at is done), or
 * max_ms; then stops the probe and runs the loop until all is closed. */
static void run_go(struct run *r, int want, int max_ms) {
  struct gd_error err = {0};
  r->want = want;
  uv_timer_start(&r->guard, on_guard, (uint64_t)max_ms, 0);
  r->started = uv_hrtime();
  CU_ASSERT_FATAL(gd_probe_start(&r->p, &r->loop, NULL, &err) == 0);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(r->stopped, 1);
}

/* Verify after the probe stopped. */
static void run_verify(struct run *r) {
  struct gd_error err = {0};
  int before = r->verified;
  int rc = r->p.ops->verify(&r->p, on_verified, &err);
  if (rc)
    printf("\n    verify: %s ", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  CU_ASSERT_EQUAL(r->verified, before); /* never from within the call */
  uv_run(&r->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(r->verified, before + 1);
}

static void run_end(struct run *r) {
  uv_close((uv_handle_t *)&r->guard, NULL);
  uv_close((uv_handle_t *)&r->stopper, NULL);
  uv_close((uv_handle_t *)&r->aux, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(uv_loop_close(&r->loop), 0);
  gd_probe_free(&r->p);
}

static double figure(const struct gd_probe *p, const char *name) {
  for (unsigned i = 0; i < p->nfigures; i++)
    if (!strcmp(p->figures[i].name, name))
      return p->figures[i].value;
  return -1;
}

static const char *init_error(const char *json) {
  static struct gd_error err;
  memset(&err, 0, sizeof err);
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_FATAL(spec != NULL);
  struct gd_probe p;
  int rc = gd_probe_init(&p, "t", spec, "probes.t", &err);
  CU_ASSERT(rc != 0);
  if (rc == 0)
    gd_probe_free(&p);
  cJSON_Delete(spec);
  return err.msg;
}

/* ---- load time ----------------------------------------------------------- */

static void test_init_errors(void) {
  const char *head =
      "{\"type\":\"postgres\",\"interval_ms\":50,\"timeout_ms\":500";
  char json[512];
  snprintf(json, sizeof json, "%s,\"sql\":\"SELECT 1\"}", head);
  ASSERT_STR(init_error(json), "probes.t.conninfo: required key missing");
  snprintf(json, sizeof json, "%s,\"conninfo\":\"host\",\"sql\":\"SELECT 1\"}",
           head);
  ASSERT_HAS(init_error(json),
             "probes.t.conninfo: invalid connection string: ");
  snprintf(json, sizeof json,
           "%s,\"conninfo\":\"\",\"sql\":\"SELECT 1\",\"mode\":\"legder\"}",
           head);
  ASSERT_STR(init_error(json),
             "probes.t.mode: must be 'query' or 'ledger', got 'legder'");
  snprintf(json, sizeof json, "%s,\"conninfo\":\"\"}", head);
  ASSERT_STR(init_error(json), "probes.t.sql: required key missing");
  snprintf(json, sizeof json,
           "%s,\"conninfo\":\"\",\"sql\":\"SELECT 1\",\"table\":\"x\"}", head);
  ASSERT_STR(init_error(json), "probes.t.table: not used in query mode");
  snprintf(json, sizeof json,
           "%s,\"conninfo\":\"\",\"mode\":\"ledger\",\"sql\":\"x\"}", head);
  ASSERT_STR(init_error(json), "probes.t.sql: not used in ledger mode");
  snprintf(json, sizeof json,
           "%s,\"conninfo\":\"\",\"mode\":\"ledger\",\"max_inflight\":2}",
           head);
  ASSERT_STR(init_error(json),
             "probes.t.max_inflight: must be 1 in ledger mode "
             "(writes commit in sequence order), got 2");
  snprintf(json, sizeof json,
           "%s,\"conninfo\":\"\",\"mode\":\"ledger\",\"table\":\"x;drop\"}",
           head);
  ASSERT_STR(init_error(json),
             "probes.t.table: must be a table name like 'ledger' "
             "or 'app.ledger', got 'x;drop'");
  snprintf(
      json, sizeof json,
      "%s,\"conninfo\":\"\",\"sql\":\"SELECT 1\",\"expect\":{\"valeu\":1}}",
      head);
  ASSERT_STR(init_error(json), "probes.t.expect: unknown key 'valeu'");
  snprintf(json, sizeof json,
           "%s,\"conninfo\":\"\",\"sql\":\"SELECT "
           "1\",\"expect\":{\"min_rows\":3,\"max_rows\":2}}",
           head);
  ASSERT_STR(init_error(json),
             "probes.t.expect.min_rows: 3 is above max_rows 2");
  snprintf(json, sizeof json,
           "%s,\"conninfo\":\"\",\"sql\":\"SELECT 1\",\"fresh\":true}", head);
  ASSERT_STR(init_error(json), "probes.t: unknown key 'fresh'");
}

static void test_describe_and_modes(void) {
  struct gd_error err = {0};
  struct gd_probe p;
  char d[512];
  cJSON *spec = cJSON_Parse(
      "{\"type\":\"postgres\",\"interval_ms\":50,\"timeout_ms\":500,"
      "\"conninfo\":\"host=db1,db2 port=5432 dbname=app user=gd "
      "password=s3cret target_session_attrs=read-write\","
      "\"sql\":\"SELECT 1\",\"expect\":{\"value\":1,\"rows\":1}}");
  CU_ASSERT_FATAL(gd_probe_init(&p, "db", spec, "probes.db", &err) == 0);
  p.ops->describe(&p, d, sizeof d);
  ASSERT_STR(d, "query 'SELECT 1' expect value '1' 1 row(s) on host=db1,db2 "
                "port=5432 dbname=app user=gd target_session_attrs=read-write");
  CU_ASSERT(strstr(d, "s3cret") == NULL);
  /* Nothing to reconcile in query mode: verify says so, with no callback. */
  struct gd_error verr = {0};
  CU_ASSERT(p.ops->verify(&p, NULL, &verr) == GD_PROBE_NOTHING_TO_VERIFY);
  gd_probe_free(&p);
  cJSON_Delete(spec);

  spec = cJSON_Parse(
      "{\"type\":\"postgres\",\"interval_ms\":50,\"timeout_ms\":500,"
      "\"conninfo\":\"postgresql://gd:pw@db/app\",\"mode\":\"ledger\","
      "\"run_id\":\"r1\",\"table\":\"gd.ledger\"}");
  CU_ASSERT_FATAL(gd_probe_init(&p, "w", spec, "probes.w", &err) == 0);
  p.ops->describe(&p, d, sizeof d);
  ASSERT_STR(d, "ledger: INSERT INTO gd.ledger (run_id 'r1', probe 'w') on "
                "host=db dbname=app user=gd");
  CU_ASSERT(p.ops->verify != NULL);
  CU_ASSERT_FATAL(p.ops->figures != NULL);
  ASSERT_STR(p.ops->figures[0], "lost_writes");
  ASSERT_STR(p.ops->figures[1], "ambiguous_writes");
  CU_ASSERT(gd_probe_kind("postgres") == p.ops);
  gd_probe_free(&p);
  cJSON_Delete(spec);

  /* A random run_id when none is given, different each time. */
  char d2[512];
  spec = cJSON_Parse(
      "{\"type\":\"postgres\",\"interval_ms\":50,\"timeout_ms\":500,"
      "\"conninfo\":\"\",\"mode\":\"ledger\"}");
  CU_ASSERT_FATAL(gd_probe_init(&p, "w", spec, "probes.w", &err) == 0);
  p.ops->describe(&p, d, sizeof d);
  gd_probe_free(&p);
  CU_ASSERT_FATAL(gd_probe_init(&p, "w", spec, "probes.w", &err) == 0);
  p.ops->describe(&p, d2, sizeof d2);
  gd_probe_free(&p);
  cJSON_Delete(spec);
  ASSERT_HAS(d, "INSERT INTO ledger (run_id 'gd-");
  CU_ASSERT(strcmp(d, d2) != 0);
}

/* ---- query mode ---------------------------------------------------------- */

static void probe_json(char *buf, size_t n, const char *conninfo,
                       const char *rest, int interval, int timeout) {
  snprintf(buf, n,
           "{\"type\":\"postgres\",\"interval_ms\":%d,\"timeout_ms\":%d,"
           "\"conninfo\":\"%s\",%s}",
           interval, timeout, conninfo, rest);
}

static void test_query_ok(void) {
  NEED_SERVER();
  char json[1024];
  struct run r;
  probe_json(json, sizeof json, srv.conninfo,
             "\"sql\":\"SELECT 42\",\"expect\":{\"value\":\"42\",\"rows\":1}",
             20, 2000);
  run_init(&r, json);
  run_go(&r, 5, 5000);
  CU_ASSERT_EQUAL(r.n, 5);
  for (int i = 0; i < r.n; i++) {
    if (r.cls[i] != GD_SAMPLE_OK)
      printf("\n    sample %d: %s ", i, r.detail[i]);
    CU_ASSERT_EQUAL(r.cls[i], GD_SAMPLE_OK);
    CU_ASSERT(r.has_value[i] && r.value[i] == 42.0);
  }
  CU_ASSERT_EQUAL(r.p.ok, 5);
  run_end(&r);
}

static void test_query_mismatch(void) {
  NEED_SERVER();
  char json[1024];
  struct run r;
  probe_json(json, sizeof json, srv.conninfo,
             "\"sql\":\"SELECT 2\",\"expect\":{\"value\":\"1\"}", 20, 2000);
  run_init(&r, json);
  run_go(&r, 2, 5000);
  CU_ASSERT_EQUAL(r.n, 2);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_MISMATCH);
  ASSERT_STR(r.detail[0], "value '2' (expected '1')");
  run_end(&r);

  probe_json(json, sizeof json, srv.conninfo,
             "\"sql\":\"SELECT generate_series(1, 3)\",\"expect\":{\"rows\":2}",
             20, 2000);
  run_init(&r, json);
  run_go(&r, 1, 5000);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_MISMATCH);
  ASSERT_STR(r.detail[0], "3 row(s) (expected 2)");
  run_end(&r);

  probe_json(json, sizeof json, srv.conninfo,
             "\"sql\":\"SELECT 1 WHERE false\",\"expect\":{\"min_rows\":1}", 20,
             2000);
  run_init(&r, json);
  run_go(&r, 1, 5000);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_MISMATCH);
  ASSERT_STR(r.detail[0], "0 row(s) (expected at least 1)");
  run_end(&r);

  probe_json(json, sizeof json, srv.conninfo,
             "\"sql\":\"SELECT NULL\",\"expect\":{\"value\":\"x\"}", 20, 2000);
  run_init(&r, json);
  run_go(&r, 1, 5000);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_MISMATCH);
  ASSERT_STR(r.detail[0], "NULL (expected 'x')");
  run_end(&r);
}

static void test_query_sql_error(void) {
  NEED_SERVER();
  char json[1024];
  struct run r;
  probe_json(json, sizeof json, srv.conninfo,
             "\"sql\":\"SELECT * FROM no_such_table\"", 20, 2000);
  run_init(&r, json);
  run_go(&r, 3, 5000);
  CU_ASSERT_EQUAL(r.n, 3);
  for (int i = 0; i < r.n; i++) {
    CU_ASSERT_EQUAL(r.cls[i], GD_SAMPLE_ERROR);
    ASSERT_STR(r.detail[i],
               "ERROR 42P01: relation \"no_such_table\" does not exist");
  }
  run_end(&r);
}

static void test_query_refused(void) {
  char json[1024], ci[128];
  struct run r;
  int port = closed_port();
  snprintf(ci, sizeof ci,
           "host=127.0.0.1 port=%d dbname=postgres user=postgres", port);
  probe_json(json, sizeof json, ci, "\"sql\":\"SELECT 1\"", 20, 2000);
  run_init(&r, json);
  run_go(&r, 3, 5000);
  CU_ASSERT_EQUAL(r.n, 3);
  char want[128];
  snprintf(want, sizeof want, "127.0.0.1:%d: Connection refused", port);
  for (int i = 0; i < r.n; i++) {
    CU_ASSERT_EQUAL(r.cls[i], GD_SAMPLE_REFUSED);
    ASSERT_STR(r.detail[i], want);
  }
  run_end(&r);
}

static void test_query_dns(void) {
  NEED_SERVER();
  char json[1024], ci[160];
  struct run r;
  /* A name resolved on the loop, then handed to libpq as hostaddr. */
  snprintf(ci, sizeof ci,
           "host=localhost port=%d dbname=postgres user=postgres", srv.port);
  probe_json(json, sizeof json, ci, "\"sql\":\"SELECT 1\"", 20, 3000);
  run_init(&r, json);
  run_go(&r, 2, 6000);
  CU_ASSERT_EQUAL(r.n, 2);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_OK);
  CU_ASSERT_EQUAL(r.cls[1], GD_SAMPLE_OK);
  run_end(&r);

  probe_json(json, sizeof json, "host=no-such-host.invalid dbname=postgres",
             "\"sql\":\"SELECT 1\"", 20, 3000);
  run_init(&r, json);
  run_go(&r, 1, 6000);
  CU_ASSERT_EQUAL(r.n, 1);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_DNS);
  ASSERT_HAS(r.detail[0],
             "could not translate host name \"no-such-host.invalid\"");
  run_end(&r);
}

static void test_query_timeout(void) {
  NEED_SERVER();
  char json[1024];
  struct run r;
  probe_json(json, sizeof json, srv.conninfo, "\"sql\":\"SELECT pg_sleep(2)\"",
             100, 200);
  run_init(&r, json);
  run_go(&r, 2, 5000);
  CU_ASSERT_EQUAL(r.n, 2);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_TIMEOUT);
  CU_ASSERT_EQUAL(r.cls[1], GD_SAMPLE_TIMEOUT);
  ASSERT_STR(r.detail[0], "no answer within 200 ms");
  /* The slot was freed at each timeout, not when the sleep ended. */
  CU_ASSERT(r.ended - r.started < 1500000000u);
  run_end(&r);
}

/* Backend pid per sample: kept connections answer with the same one. */
static void test_connection_kept(void) {
  NEED_SERVER();
  char json[1024];
  struct run r;
  probe_json(json, sizeof json, srv.conninfo,
             "\"sql\":\"SELECT pg_backend_pid()\"", 10, 2000);
  run_init(&r, json);
  run_go(&r, 6, 5000);
  CU_ASSERT_EQUAL(r.n, 6);
  for (int i = 0; i < r.n; i++) {
    CU_ASSERT_EQUAL(r.cls[i], GD_SAMPLE_OK);
    CU_ASSERT(r.has_value[i] && r.value[i] == r.value[0]);
  }
  run_end(&r);

  probe_json(json, sizeof json, srv.conninfo,
             "\"sql\":\"SELECT pg_backend_pid()\",\"fresh_connection\":true",
             10, 2000);
  run_init(&r, json);
  run_go(&r, 4, 5000);
  CU_ASSERT_EQUAL(r.n, 4);
  for (int i = 0; i < r.n; i++) {
    CU_ASSERT_EQUAL(r.cls[i], GD_SAMPLE_OK);
    if (i)
      CU_ASSERT(r.value[i] != r.value[i - 1]);
  }
  run_end(&r);
}

/* The server ends an idle kept session: the probe notices while idle and
 * the next sample opens a new connection instead of failing. */
static void terminate_hook(struct run *r) {
  if (r->n != 2)
    return;
  char sql[128], out[64];
  long long pid = (long long)r->value[1];
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", pid);
  sql_ok(&srv, sql, out, sizeof out);
  ASSERT_STR(out, "t");
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM pg_stat_activity WHERE pid = %lld", pid);
  for (int i = 0; i < 200; i++) {
    sql_ok(&srv, sql, out, sizeof out);
    if (!strcmp(out, "0"))
      break;
    uv_sleep(5);
  }
}

static void test_connection_reopened(void) {
  NEED_SERVER();
  char json[1024];
  struct run r;
  probe_json(json, sizeof json, srv.conninfo,
             "\"sql\":\"SELECT pg_backend_pid()\"", 300, 2000);
  run_init(&r, json);
  r.hook = terminate_hook;
  run_go(&r, 4, 5000);
  CU_ASSERT_EQUAL(r.n, 4);
  for (int i = 0; i < r.n; i++) {
    if (r.cls[i] != GD_SAMPLE_OK)
      printf("\n    sample %d: %s ", i, r.detail[i]);
    CU_ASSERT_EQUAL(r.cls[i], GD_SAMPLE_OK);
  }
  CU_ASSERT(r.value[1] == r.value[0]);
  CU_ASSERT(r.value[2] != r.value[1]);
  CU_ASSERT(r.value[3] == r.value[2]);
  run_end(&r);
}

/* ---- multi-host and socket changes -------------------------------------- */

/* A server that accepts and hangs up at once: libpq's connection to it
 * gets as far as the startup packet, then libpq moves to the next host on
 * a new socket. */
struct closer {
  uv_tcp_t server;
  int port;
  int accepted;
};

static void closer_client_closed(uv_handle_t *h) { free(h); }

static void closer_conn(uv_stream_t *s, int status) {
  struct closer *cl = s->data;
  if (status < 0)
    return;
  uv_tcp_t *c = malloc(sizeof *c);
  uv_tcp_init(s->loop, c);
  if (uv_accept(s, (uv_stream_t *)c) == 0)
    cl->accepted++;
  uv_close((uv_handle_t *)c, closer_client_closed);
}

static void closer_start(struct closer *cl, uv_loop_t *loop) {
  struct sockaddr_in sa;
  struct sockaddr_storage got;
  int len = sizeof got;
  memset(cl, 0, sizeof *cl);
  uv_tcp_init(loop, &cl->server);
  cl->server.data = cl;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  CU_ASSERT_FATAL(uv_tcp_bind(&cl->server, (const struct sockaddr *)&sa, 0) ==
                  0);
  CU_ASSERT_FATAL(uv_listen((uv_stream_t *)&cl->server, 16, closer_conn) == 0);
  uv_tcp_getsockname(&cl->server, (struct sockaddr *)&got, &len);
  cl->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

struct pgc {
  int opened, queried, closed;
  enum gd_pg_fail open_fail, query_fail;
  char msg[256];
  char value[64];
  unsigned changes;
};

static void pgc_closed(void *arg) { ((struct pgc *)arg)->closed++; }

static void pgc_queried(struct gd_pgconn *c, const struct gd_pgreply *r,
                        void *arg) {
  struct pgc *x = arg;
  x->queried++;
  x->query_fail = r->fail;
  snprintf(x->msg, sizeof x->msg, "%s", r->msg);
  const char *v = gd_pgresult_value(r->res);
  snprintf(x->value, sizeof x->value, "%s", v ? v : "");
  gd_pgconn_close(c, pgc_closed, x);
}

static void pgc_opened(struct gd_pgconn *c, const struct gd_pgreply *r,
                       void *arg) {
  struct pgc *x = arg;
  struct gd_error err = {0};
  x->opened++;
  x->open_fail = r->fail;
  x->changes = gd_pgconn_socket_changes(c);
  snprintf(x->msg, sizeof x->msg, "%s", r->msg);
  if (r->fail) {
    gd_pgconn_close(c, pgc_closed, x);
    return;
  }
  CU_ASSERT(gd_pgconn_ok(c));
  CU_ASSERT(gd_pgconn_query(c, "SELECT current_setting('port')", 0, NULL, 0,
                            pgc_queried, x, &err) == 0);
  /* One query at a time. */
  CU_ASSERT(gd_pgconn_query(c, "SELECT 1", 0, NULL, 0, pgc_queried, x, &err) ==
            GD_ESTATE);
}

/* Opens conninfo on loop (extra handles may live there), asks the port. */
static void pgc_run(uv_loop_t *loop, const char *conninfo, struct pgc *x) {
  struct gd_error err = {0};
  struct gd_pgconn *c = NULL;
  memset(x, 0, sizeof *x);
  CU_ASSERT_FATAL(gd_pgconn_open(loop, conninfo, 5000000000u, pgc_opened, x, &c,
                                 &err) == 0);
  CU_ASSERT(x->opened == 0); /* never from within the call */
  while (!x->closed && uv_run(loop, UV_RUN_ONCE)) {
  }
  CU_ASSERT_EQUAL(x->opened, 1);
  CU_ASSERT_EQUAL(x->closed, 1);
}

static void test_multihost_refused_first(void) {
  NEED_SERVER();
  char json[1024], ci[256], want[16];
  struct run r;
  snprintf(ci, sizeof ci,
           "host=127.0.0.1,127.0.0.1 port=%d,%d dbname=postgres user=postgres "
           "target_session_attrs=read-write",
           closed_port(), srv.port);
  snprintf(want, sizeof want, "%d", srv.port);
  char rest[128];
  snprintf(rest, sizeof rest,
           "\"sql\":\"SELECT "
           "current_setting('port')\",\"expect\":{\"value\":\"%s\"}",
           want);
  probe_json(json, sizeof json, ci, rest, 20, 3000);
  run_init(&r, json);
  run_go(&r, 3, 6000);
  CU_ASSERT_EQUAL(r.n, 3);
  for (int i = 0; i < r.n; i++) {
    if (r.cls[i] != GD_SAMPLE_OK)
      printf("\n    sample %d: %s ", i, r.detail[i]);
    CU_ASSERT_EQUAL(r.cls[i], GD_SAMPLE_OK);
  }
  run_end(&r);
}

static void test_pgconn_connect_failures(void) {
  NEED_SERVER();
  uv_loop_t loop;
  struct closer cl;
  struct pgc x;
  char ci[256], want[16], part[96];
  uv_loop_init(&loop);

  /* The first host refuses: libpq goes on to the second. */
  int dead = closed_port();
  snprintf(ci, sizeof ci,
           "host=127.0.0.1,127.0.0.1 port=%d,%d dbname=postgres user=postgres",
           dead, srv.port);
  snprintf(want, sizeof want, "%d", srv.port);
  pgc_run(&loop, ci, &x);
  CU_ASSERT_EQUAL(x.open_fail, GD_PG_OK);
  CU_ASSERT_EQUAL(x.query_fail, GD_PG_OK);
  ASSERT_STR(x.value, want);

  /* Both refuse. */
  snprintf(ci, sizeof ci, "host=127.0.0.1,127.0.0.1 port=%d,%d", dead, dead);
  pgc_run(&loop, ci, &x);
  CU_ASSERT_EQUAL(x.open_fail, GD_PG_REFUSED);
  snprintf(part, sizeof part,
           "127.0.0.1:%d: Connection refused; 127.0.0.1:%d: "
           "Connection refused",
           dead, dead);
  ASSERT_STR(x.msg, part);

  /* A server that hangs up during the startup exchange: a connection
   * failure (libpq does not try further hosts after that). */
  closer_start(&cl, &loop);
  snprintf(ci, sizeof ci,
           "host=127.0.0.1 port=%d dbname=postgres sslmode=disable "
           "gssencmode=disable",
           cl.port);
  pgc_run(&loop, ci, &x);
  CU_ASSERT_EQUAL(x.open_fail, GD_PG_CONNECT);
  CU_ASSERT_EQUAL(cl.accepted, 1);
  snprintf(part, sizeof part, "127.0.0.1:%d: server closed the connection",
           cl.port);
  ASSERT_HAS(x.msg, part);
  uv_close((uv_handle_t *)&cl.server, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

/* A listener that never accepts: the TCP handshake completes in the
 * kernel, the server never answers the startup packet. */
static int silent_listener(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(fd, 16) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

struct tq {
  int calls, closed;
  struct gd_pgreply r;
};

static void tq_closed(void *arg) { ((struct tq *)arg)->closed++; }

static void tq_reply(struct gd_pgconn *c, const struct gd_pgreply *r,
                     void *arg) {
  struct tq *x = arg;
  x->calls++;
  x->r = *r;
  x->r.res = NULL;
  CU_ASSERT_FALSE(gd_pgconn_ok(c)); /* unusable after a timeout */
  gd_pgconn_close(c, tq_closed, x);
}

static void tq_opened(struct gd_pgconn *c, const struct gd_pgreply *r,
                      void *arg) {
  struct tq *x = arg;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL_FATAL(r->fail, GD_PG_OK);
  CU_ASSERT(gd_pgconn_query(c, "SELECT pg_sleep(2)", 0, NULL, 200000000u,
                            tq_reply, x, &err) == 0);
}

static void test_pgconn_timeouts(void) {
  NEED_SERVER();
  uv_loop_t loop;
  struct gd_pgconn *c;
  struct gd_error err = {0};
  struct tq x;
  int port;
  int lfd = silent_listener(&port);
  CU_ASSERT_FATAL(lfd >= 0);
  char ci[160];
  snprintf(ci, sizeof ci,
           "host=127.0.0.1 port=%d dbname=postgres sslmode=disable "
           "gssencmode=disable",
           port);

  /* Connect timeout, on the loop's timer. */
  uv_loop_init(&loop);
  memset(&x, 0, sizeof x);
  uint64_t t0 = uv_hrtime();
  CU_ASSERT_FATAL(
      gd_pgconn_open(&loop, ci, 200000000u, tq_reply, &x, &c, &err) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(x.calls, 1);
  CU_ASSERT_EQUAL(x.closed, 1);
  CU_ASSERT_EQUAL(x.r.fail, GD_PG_TIMEOUT);
  CU_ASSERT_EQUAL(x.r.sent, 0);
  ASSERT_STR(x.r.msg, "no connection within 200 ms");
  CU_ASSERT(uv_hrtime() - t0 < 1000000000u);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);

  /* Query timeout: sent, so its effect is unknown. */
  uv_loop_init(&loop);
  memset(&x, 0, sizeof x);
  t0 = uv_hrtime();
  CU_ASSERT_FATAL(
      gd_pgconn_open(&loop, srv.conninfo, 0, tq_opened, &x, &c, &err) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(x.calls, 1);
  CU_ASSERT_EQUAL(x.closed, 1);
  CU_ASSERT_EQUAL(x.r.fail, GD_PG_TIMEOUT);
  CU_ASSERT_EQUAL(x.r.sent, 1);
  ASSERT_STR(x.r.msg, "no answer within 200 ms");
  CU_ASSERT(uv_hrtime() - t0 < 1500000000u);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);

  /* Through the probe: the sample's own timeout cancels the connect. */
  char json[512];
  struct run r;
  probe_json(json, sizeof json, ci, "\"sql\":\"SELECT 1\"", 50, 150);
  run_init(&r, json);
  run_go(&r, 2, 3000);
  CU_ASSERT_EQUAL(r.n, 2);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_TIMEOUT);
  CU_ASSERT_EQUAL(r.cls[1], GD_SAMPLE_TIMEOUT);
  run_end(&r);
  close(lfd);
}

/* target_session_attrs=read-write skipping a read-only server, the way it
 * skips a standby after a failover. */
static void test_multihost_read_only_first(void) {
  NEED_SERVER();
  struct gd_pgserver ro;
  char why[2048];
  const char *settings[] = {"default_transaction_read_only=on", NULL};
  int st = gd_pgserver_start(&ro, settings, why, sizeof why);
  if (st == 1)
    GD_SKIP(why);
  if (st)
    printf("\n    read-only server: %s ", why);
  CU_ASSERT_FATAL(st == 0);
  char ci[256], want[16], json[1024], rest[160];
  snprintf(ci, sizeof ci,
           "host=127.0.0.1,127.0.0.1 port=%d,%d dbname=postgres user=postgres "
           "target_session_attrs=read-write",
           ro.port, srv.port);
  snprintf(want, sizeof want, "%d", srv.port);

  uv_loop_t loop;
  struct pgc x;
  uv_loop_init(&loop);
  pgc_run(&loop, ci, &x);
  CU_ASSERT_EQUAL(x.open_fail, GD_PG_OK);
  ASSERT_STR(x.value, want);
  CU_ASSERT(x.changes >= 1);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);

  struct run r;
  snprintf(rest, sizeof rest,
           "\"sql\":\"SELECT "
           "current_setting('port')\",\"expect\":{\"value\":\"%s\"},"
           "\"fresh_connection\":true",
           want);
  probe_json(json, sizeof json, ci, rest, 20, 3000);
  run_init(&r, json);
  run_go(&r, 3, 6000);
  CU_ASSERT_EQUAL(r.n, 3);
  for (int i = 0; i < r.n; i++) {
    if (r.cls[i] != GD_SAMPLE_OK)
      printf("\n    sample %d: %s ", i, r.detail[i]);
    CU_ASSERT_EQUAL(r.cls[i], GD_SAMPLE_OK);
  }
  run_end(&r);

  /* Only the read-only one: no read-write server, a connect failure. */
  snprintf(ci, sizeof ci,
           "host=127.0.0.1 port=%d dbname=postgres user=postgres "
           "target_session_attrs=read-write",
           ro.port);
  uv_loop_init(&loop);
  pgc_run(&loop, ci, &x);
  CU_ASSERT_EQUAL(x.open_fail, GD_PG_CONNECT);
  ASSERT_HAS(x.msg, "read-only");
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  gd_pgserver_destroy(&ro);
}

/* Closing while connecting: the open's callback says cancelled, once. */
static void test_pgconn_close_while_connecting(void) {
  NEED_SERVER();
  uv_loop_t loop;
  struct pgc x;
  struct gd_pgconn *c = NULL;
  struct gd_error err = {0};
  uv_loop_init(&loop);
  memset(&x, 0, sizeof x);
  CU_ASSERT_FATAL(
      gd_pgconn_open(&loop, srv.conninfo, 0, pgc_opened, &x, &c, &err) == 0);
  gd_pgconn_close(c, pgc_closed, &x);
  CU_ASSERT_EQUAL(x.closed, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(x.opened, 1);
  CU_ASSERT_EQUAL(x.open_fail, GD_PG_CANCELED);
  CU_ASSERT_EQUAL(x.closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);

  /* The same while a name is being resolved. */
  char ci[160];
  snprintf(ci, sizeof ci, "host=localhost port=%d dbname=postgres", srv.port);
  uv_loop_init(&loop);
  memset(&x, 0, sizeof x);
  CU_ASSERT_FATAL(gd_pgconn_open(&loop, ci, 0, pgc_opened, &x, &c, &err) == 0);
  gd_pgconn_close(c, pgc_closed, &x);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(x.opened, 1);
  CU_ASSERT_EQUAL(x.open_fail, GD_PG_CANCELED);
  CU_ASSERT_EQUAL(x.closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);

  /* Invalid strings fail at once, without a callback. */
  uv_loop_init(&loop);
  memset(&x, 0, sizeof x);
  CU_ASSERT(gd_pgconn_open(&loop, "nonsense", 0, pgc_opened, &x, &c, &err) ==
            GD_EINVAL);
  ASSERT_HAS(err.msg, "invalid connection string: ");
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(x.opened, 0);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

/* ---- ledger mode --------------------------------------------------------- */

static void ledger_json(char *buf, size_t n, const char *conninfo,
                        const char *table, const char *run_id, int interval,
                        int timeout, const char *extra) {
  snprintf(buf, n,
           "{\"type\":\"postgres\",\"mode\":\"ledger\",\"interval_ms\":%d,"
           "\"timeout_ms\":%d,\"conninfo\":\"%s\",\"table\":\"%s\","
           "\"run_id\":\"%s\"%s%s}",
           interval, timeout, conninfo, table, run_id, extra ? "," : "",
           extra ? extra : "");
}

/* The driver's order: verify while the probe still writes, then stop. */
static void test_ledger_no_loss(void) {
  NEED_SERVER();
  char json[1024];
  struct run r;
  make_ledger(&srv, "ledger_ok");
  ledger_json(json, sizeof json, srv.conninfo, "ledger_ok", "run-ok", 10, 2000,
              NULL);
  run_init(&r, json);
  r.verify_at = 30;
  run_go(&r, 0, 10000);
  CU_ASSERT_EQUAL(r.verified, 1);
  CU_ASSERT(r.verify_ok);
  /* Writes settled after the read-back began are left out. */
  ASSERT_STR(r.verify_msg, "30 acknowledged, 0 lost, 0 ambiguous (0 present, "
                           "0 absent); run_id 'run-ok'");
  CU_ASSERT(figure(&r.p, "lost_writes") == 0);
  CU_ASSERT(figure(&r.p, "ambiguous_writes") == 0);
  for (int i = 0; i < r.n; i++)
    CU_ASSERT_EQUAL(r.cls[i], GD_SAMPLE_OK);
  run_end(&r);
  CU_ASSERT(
      count_rows(&srv, "ledger_ok", "run_id = 'run-ok' AND probe = 't'") >= 30);
  CU_ASSERT_EQUAL(count_rows(&srv, "ledger_ok", "seq BETWEEN 1 AND 30"), 30);
}

/* ---- the action ---------------------------------------------------------- */

struct arun {
  struct gd_action a;
  uv_loop_t loop;
  uv_timer_t cancel;
  int calls;
};

static void action_done(struct gd_action *a, void *arg) {
  struct arun *r = arg;
  (void)a;
  r->calls++;
  uv_timer_stop(&r->cancel);
}

static void on_cancel(uv_timer_t *t) {
  gd_action_cancel(&((struct arun *)t->data)->a);
}

/* Loads and runs the action once; it stays loaded for the caller to look
 * at, then action_end. */
static void run_action(struct arun *r, const char *json, int cancel_ms) {
  memset(r, 0, sizeof *r);
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_FATAL(spec != NULL);
  struct gd_error err = {0};
  int rc = gd_action_init(&r->a, spec, "fault[0]", &err);
  if (rc)
    printf("\n    init: %s ", err.msg);
  cJSON_Delete(spec);
  CU_ASSERT_FATAL(rc == 0);
  uv_loop_init(&r->loop);
  uv_timer_init(&r->loop, &r->cancel);
  r->cancel.data = r;
  if (cancel_ms > 0)
    uv_timer_start(&r->cancel, on_cancel, (uint64_t)cancel_ms, 0);
  CU_ASSERT_FATAL(gd_action_run(&r->a, &r->loop, NULL, action_done, r, &err) ==
                  0);
  CU_ASSERT_EQUAL(r->calls, 0);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(r->calls, 1);
}

static void action_end(struct arun *r) {
  uv_close((uv_handle_t *)&r->cancel, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(uv_loop_close(&r->loop), 0);
  gd_action_free(&r->a);
}

static void action_json(char *buf, size_t n, const char *conninfo,
                        const char *sql, const char *expect) {
  snprintf(buf, n,
           "{\"type\":\"postgres\",\"conninfo\":\"%s\",\"sql\":\"%s\"%s%s}",
           conninfo, sql, expect ? ",\"expect\":" : "", expect ? expect : "");
}

static const char *detail_str(const struct gd_action *a, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->detail, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double detail_num(const struct gd_action *a, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->detail, key);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* An acknowledged write deleted behind the probe's back is counted lost:
 * the ledger finds data loss instead of assuming none. */
static void test_ledger_finds_lost_writes(void) {
  NEED_SERVER();
  char json[1024], ci[512];
  struct run r;
  make_ledger(&srv, "ledger_lost");
  ledger_json(json, sizeof json, srv.conninfo, "ledger_lost", "run-lost", 10,
              2000, NULL);
  run_init(&r, json);
  run_go(&r, 20, 10000);
  CU_ASSERT_EQUAL(r.n, 20);
  CU_ASSERT_EQUAL(r.p.ok, 20);

  /* The deletion, through the postgres action as a scenario would do it. */
  struct arun a;
  snprintf(ci, sizeof ci,
           "DELETE FROM ledger_lost WHERE run_id = 'run-lost' AND seq IN (3, "
           "4, 5, 17)");
  action_json(json, sizeof json, srv.conninfo, ci, "{\"rows\": 4}");
  run_action(&a, json, 0);
  CU_ASSERT(a.a.ok);
  ASSERT_STR(a.a.message, "DELETE 4");
  CU_ASSERT(detail_num(&a.a, "rows") == 4);
  ASSERT_STR(detail_str(&a.a, "command"), "DELETE 4");
  action_end(&a);

  run_verify(&r);
  CU_ASSERT_FALSE(r.verify_ok);
  /* Samples still outstanding at the stop were never settled: 20 or so. */
  char want[200];
  snprintf(want, sizeof want,
           "%d acknowledged, 4 lost, 0 ambiguous (0 present, 0 absent); "
           "run_id 'run-lost'",
           (int)r.p.ok);
  ASSERT_STR(r.verify_msg, want);
  CU_ASSERT(figure(&r.p, "lost_writes") == 4);
  CU_ASSERT(figure(&r.p, "ambiguous_writes") == 0);
  run_end(&r);
}

/* An ERROR is a write that never committed: neither lost nor ambiguous. */
static void test_ledger_error_not_written(void) {
  NEED_SERVER();
  char json[1024], out[64];
  struct run r;
  make_ledger(&srv, "ledger_err");
  sql_ok(&srv,
         "CREATE TRIGGER fail BEFORE INSERT ON ledger_err FOR EACH ROW "
         "EXECUTE FUNCTION fail_seq('2')",
         out, sizeof out);
  ledger_json(json, sizeof json, srv.conninfo, "ledger_err", "run-err", 10,
              2000, NULL);
  run_init(&r, json);
  run_go(&r, 5, 10000);
  CU_ASSERT_EQUAL(r.n, 5);
  CU_ASSERT_EQUAL(r.cls[1], GD_SAMPLE_ERROR);
  ASSERT_STR(r.detail[1], "ERROR 25006: refused by the test");
  CU_ASSERT_EQUAL(r.cls[2], GD_SAMPLE_OK); /* the connection stays usable */
  run_verify(&r);
  CU_ASSERT(r.verify_ok);
  char want[200];
  snprintf(want, sizeof want,
           "%d acknowledged, 0 lost, 0 ambiguous (0 present, 0 absent); "
           "run_id 'run-err'",
           (int)r.p.ok);
  ASSERT_STR(r.verify_msg, want);
  run_end(&r);
}

/* A write whose answer never came (the sample timed out) but which
 * committed later: ambiguous and present, not lost. */
static void test_ledger_ambiguous_present(void) {
  NEED_SERVER();
  char json[1024], out[64];
  struct run r;
  make_ledger(&srv, "ledger_late");
  sql_ok(&srv,
         "CREATE TRIGGER slow BEFORE INSERT ON ledger_late FOR EACH ROW "
         "EXECUTE FUNCTION slow_seq('3', '0.5')",
         out, sizeof out);
  ledger_json(json, sizeof json, srv.conninfo, "ledger_late", "run-late", 20,
              200, NULL);
  run_init(&r, json);
  run_go(&r, 8, 10000);
  CU_ASSERT_EQUAL(r.n, 8);
  CU_ASSERT_EQUAL(r.cls[2], GD_SAMPLE_TIMEOUT);
  /* The abandoned backend commits after its sleep. */
  for (int i = 0; i < 300 && count_rows(&srv, "ledger_late", "seq = 3") == 0;
       i++)
    uv_sleep(10);
  CU_ASSERT_EQUAL(count_rows(&srv, "ledger_late", "seq = 3"), 1);
  run_verify(&r);
  CU_ASSERT(r.verify_ok);
  char want[200];
  snprintf(want, sizeof want,
           "%d acknowledged, 0 lost, 1 ambiguous (1 present, 0 absent); "
           "run_id 'run-late'",
           (int)r.p.ok);
  ASSERT_STR(r.verify_msg, want);
  CU_ASSERT(figure(&r.p, "lost_writes") == 0);
  CU_ASSERT(figure(&r.p, "ambiguous_writes") == 1);
  run_end(&r);
}

/* The database crashes (immediate shutdown) while a write is in flight:
 * that write is ambiguous and absent, the acknowledged ones are all there,
 * and verify keeps trying until the server is back. */
static struct gd_pgserver crash_srv;

static void crash_now(uv_timer_t *t) {
  (void)t;
  gd_pgserver_signal(&crash_srv, SIGQUIT);
}

static void crash_hook(struct run *r) {
  /* Seq 5 sleeps in its trigger: crash while it does. */
  if (r->n == 4)
    uv_timer_start(&r->aux, crash_now, 200, 0);
}

static void restart_now(uv_timer_t *t) {
  (void)t;
  char why[2048];
  int rc = gd_pgserver_restart(&crash_srv, why, sizeof why);
  if (rc)
    printf("\n    restart: %s ", why);
  CU_ASSERT(rc == 0);
}

static void test_ledger_ambiguous_after_crash(void) {
  char why[2048], json[1024], out[64];
  int st = gd_pgserver_start(&crash_srv, NULL, why, sizeof why);
  if (st == 1)
    GD_SKIP(why);
  if (st)
    printf("\n    server: %s ", why);
  CU_ASSERT_FATAL(st == 0);
  make_ledger(&crash_srv, "ledger_crash");
  sql_ok(&crash_srv,
         "CREATE TRIGGER slow BEFORE INSERT ON ledger_crash FOR EACH ROW "
         "EXECUTE FUNCTION slow_seq('5', '5')",
         out, sizeof out);
  struct run r;
  ledger_json(json, sizeof json, crash_srv.conninfo, "ledger_crash",
              "run-crash", 50, 3000, "\"verify_timeout_ms\":15000");
  run_init(&r, json);
  r.hook = crash_hook;
  run_go(&r, 9, 15000);
  CU_ASSERT_EQUAL(r.n, 9);
  for (int i = 0; i < 4; i++)
    CU_ASSERT_EQUAL(r.cls[i], GD_SAMPLE_OK);
  /* Seq 5: the connection went down under it. */
  CU_ASSERT(r.cls[4] == GD_SAMPLE_PROTOCOL || r.cls[4] == GD_SAMPLE_ERROR);
  printf("\n    in flight at the crash: %s; then: %s ", r.detail[4],
         r.detail[8]);
  for (int i = 5; i < r.n; i++)
    CU_ASSERT(r.cls[i] != GD_SAMPLE_OK);

  /* Verify starts while the server is down and gets through once it is
   * back. */
  uv_timer_start(&r.aux, restart_now, 400, 0);
  run_verify(&r);
  CU_ASSERT(r.verify_ok);
  ASSERT_STR(r.verify_msg,
             "4 acknowledged, 0 lost, 1 ambiguous (0 present, 1 absent); "
             "run_id 'run-crash'");
  CU_ASSERT(figure(&r.p, "lost_writes") == 0);
  CU_ASSERT(figure(&r.p, "ambiguous_writes") == 1);
  run_end(&r);
  gd_pgserver_destroy(&crash_srv);
}

/* The run stops while verify still waits for the database: verify ends,
 * cancelled, and everything closes. */
static void test_ledger_verify_cancelled_by_stop(void) {
  char json[1024], ci[160];
  struct run r;
  snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d dbname=postgres",
           closed_port());
  ledger_json(json, sizeof json, ci, "ledger", "run-x", 20, 500,
              "\"verify_timeout_ms\":60000");
  run_init(&r, json);
  r.verify_at = 2;
  run_go(&r, 4, 5000); /* stops at 4, verify still retrying */
  CU_ASSERT_EQUAL(r.verified, 1);
  CU_ASSERT_FALSE(r.verify_ok);
  CU_ASSERT_EQUAL(r.cls[0], GD_SAMPLE_REFUSED);
  ASSERT_STR(r.verify_msg, "cancelled: the probe stopped");
  CU_ASSERT(r.ended - r.started < 3000000000u);
  run_end(&r);

  /* With a short bound, verify gives up on its own and says why. */
  ledger_json(json, sizeof json, ci, "ledger", "run-x", 20, 500,
              "\"verify_timeout_ms\":600");
  run_init(&r, json);
  run_go(&r, 1, 5000);
  run_verify(&r);
  CU_ASSERT_FALSE(r.verify_ok);
  ASSERT_HAS(r.verify_msg, "cannot read back the ledger (");
  ASSERT_HAS(r.verify_msg, "Connection refused");
  CU_ASSERT(r.p.nfigures == 0); /* nothing measured, nothing published */
  run_end(&r);
}

static void test_action(void) {
  NEED_SERVER();
  char json[1024], out[64];
  struct arun a;
  sql_ok(&srv,
         "DROP TABLE IF EXISTS act; CREATE TABLE act (n int); "
         "INSERT INTO act SELECT generate_series(1, 10)",
         out, sizeof out);

  action_json(json, sizeof json, srv.conninfo, "DELETE FROM act WHERE n <= 3",
              "{\"rows\":3}");
  run_action(&a, json, 0);
  CU_ASSERT(a.a.ok);
  ASSERT_STR(a.a.message, "DELETE 3");
  action_end(&a);

  /* Rows already gone: the expectation fails. */
  run_action(&a, json, 0);
  CU_ASSERT_FALSE(a.a.ok);
  ASSERT_STR(a.a.message, "DELETE 0 (expected 3 row(s))");
  action_end(&a);

  /* Several statements, one simple query: the last one's result. */
  action_json(json, sizeof json, srv.conninfo,
              "INSERT INTO act VALUES (100); SELECT max(n) FROM act",
              "{\"value\":100,\"rows\":1}");
  run_action(&a, json, 0);
  CU_ASSERT(a.a.ok);
  ASSERT_STR(a.a.message, "SELECT 1");
  ASSERT_STR(detail_str(&a.a, "value"), "100");
  action_end(&a);

  action_json(json, sizeof json, srv.conninfo, "SELECT 1", "{\"value\":\"2\"}");
  run_action(&a, json, 0);
  CU_ASSERT_FALSE(a.a.ok);
  ASSERT_STR(a.a.message, "SELECT 1: value '1' (expected '2')");
  action_end(&a);

  action_json(json, sizeof json, srv.conninfo, "DELETE FROM no_such_table",
              NULL);
  run_action(&a, json, 0);
  CU_ASSERT_FALSE(a.a.ok);
  ASSERT_STR(a.a.message,
             "ERROR 42P01: relation \"no_such_table\" does not exist");
  ASSERT_STR(detail_str(&a.a, "sqlstate"), "42P01");
  action_end(&a);

  /* The driver's timeout: cancel closes the connection at once. */
  action_json(json, sizeof json, srv.conninfo, "SELECT pg_sleep(5)", NULL);
  uint64_t t0 = uv_hrtime();
  run_action(&a, json, 100);
  CU_ASSERT(uv_hrtime() - t0 < 2000000000u);
  CU_ASSERT_FALSE(a.a.ok);
  CU_ASSERT(a.a.cancelled);
  ASSERT_STR(a.a.message, "cancelled");
  action_end(&a);

  char ci[160], want[128];
  int port = closed_port();
  snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d", port);
  action_json(json, sizeof json, ci, "SELECT 1", NULL);
  run_action(&a, json, 0);
  CU_ASSERT_FALSE(a.a.ok);
  snprintf(want, sizeof want, "127.0.0.1:%d: Connection refused", port);
  ASSERT_STR(a.a.message, want);
  action_end(&a);
}

static void test_action_init(void) {
  struct gd_error err = {0};
  struct gd_action a;
  cJSON *spec =
      cJSON_Parse("{\"type\":\"postgres\",\"conninfo\":\"dbname=x\"}");
  CU_ASSERT(gd_action_init(&a, spec, "fault[0]", &err) != 0);
  ASSERT_STR(err.msg, "fault[0].sql: required key missing");
  cJSON_Delete(spec);
  spec = cJSON_Parse(
      "{\"type\":\"postgres\",\"conninfo\":\"dbname=x\",\"sql\":\"x\","
      "\"expect\":{\"status\":1}}");
  CU_ASSERT(gd_action_init(&a, spec, "fault[0]", &err) != 0);
  ASSERT_STR(err.msg, "fault[0].expect: unknown key 'status'");
  cJSON_Delete(spec);
  spec = cJSON_Parse(
      "{\"type\":\"postgres\",\"conninfo\":\"dbname=app password=pw\","
      "\"sql\":\"DELETE FROM t\",\"expect\":{\"rows\":5}}");
  CU_ASSERT_FATAL(gd_action_init(&a, spec, "fault[0]", &err) == 0);
  char d[256];
  a.ops->describe(&a, d, sizeof d);
  ASSERT_STR(d, "SQL 'DELETE FROM t' expect 5 row(s) on dbname=app");
  gd_action_free(&a);
  cJSON_Delete(spec);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"init errors", test_init_errors},
      {"describe and modes", test_describe_and_modes},
      {"query ok", test_query_ok},
      {"query mismatch", test_query_mismatch},
      {"query sql error", test_query_sql_error},
      {"query refused", test_query_refused},
      {"query dns", test_query_dns},
      {"query timeout", test_query_timeout},
      {"connection kept", test_connection_kept},
      {"connection reopened", test_connection_reopened},
      {"multi-host refused first", test_multihost_refused_first},
      {"pgconn connect failures", test_pgconn_connect_failures},
      {"multi-host read-only first", test_multihost_read_only_first},
      {"pgconn close while connecting", test_pgconn_close_while_connecting},
      {"pgconn timeouts", test_pgconn_timeouts},
      {"ledger no loss", test_ledger_no_loss},
      {"ledger finds lost writes", test_ledger_finds_lost_writes},
      {"ledger error not written", test_ledger_error_not_written},
      {"ledger ambiguous present", test_ledger_ambiguous_present},
      {"ledger ambiguous after crash", test_ledger_ambiguous_after_crash},
      {"ledger verify cancelled", test_ledger_verify_cancelled_by_stop},
      {"action", test_action},
      {"action init", test_action_init},
      {NULL, NULL},
  };
  int rc = gd_test_run("postgres", tests);
  if (srv_state == 0)
    gd_pgserver_destroy(&srv);
  return rc;
}

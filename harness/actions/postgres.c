/* gameday: the postgres action: run SQL once (setup, a fault such as a
 * deletion, a check). Several statements separated by ';' go as one simple
 * query, which PostgreSQL runs as one implicit transaction; the result
 * reported is the last statement's (or the error of the one that failed).
 * A fresh connection per run, through pgconn on the loop; the driver's
 * timeout cancels by closing it. The journal gets rows, command and the
 * first value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/json.h"
#include "gameday/pgconn.h"

struct pg_action {
  char *conninfo;
  char *sql;
  char *expect_value;
  long long expect_rows; /* -1: not checked */
  /* while running */
  struct gd_pgconn *conn;
  int closing;
  int ok;
  char msg[512];
};

static const char *const pga_keys[] = {"conninfo", "sql", "expect", NULL};
static const char *const expect_keys[] = {"rows", "value", NULL};

static void ctx_free(struct pg_action *x) {
  if (!x) return;
  free(x->conninfo);
  free(x->sql);
  free(x->expect_value);
  free(x);
}

static int parse_expect(struct pg_action *x, const cJSON *spec,
                        const char *path, struct gd_error *err) {
  const cJSON *expect = NULL;
  char epath[256];
  int rc = gd_json_get_object(spec, "expect", path, 0, &expect, err);
  if (rc || !expect) return rc;
  gd_json_path(epath, sizeof epath, path, "expect");
  if ((rc = gd_json_check_keys(expect, epath, expect_keys, NULL, err)) ||
      (rc = gd_json_get_int(expect, "rows", epath, 0, 0, (long long)1 << 62,
                            &x->expect_rows, err)))
    return rc;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(expect, "value");
  if (!v) return 0;
  if (cJSON_IsString(v))
    x->expect_value = strdup(v->valuestring);
  else if (cJSON_IsNumber(v))
    x->expect_value = cJSON_PrintUnformatted(v); /* "value": 1 means "1" */
  else
    return gd_error_set(err, GD_EINVAL,
                        "%s.value: must be a string or a number", epath);
  return x->expect_value ? 0
                         : gd_error_set(err, GD_ENOMEM, "%s: out of memory",
                                        path);
}

static int pga_init(struct gd_action *a, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  const char *conninfo = NULL, *sql = NULL;
  char cpath[256];
  int rc;
  if ((rc = gd_json_get_string(spec, "conninfo", path, 1, &conninfo, err)) ||
      (rc = gd_json_get_string(spec, "sql", path, 1, &sql, err)))
    return rc;
  if (!sql[0])
    return gd_error_set(err, GD_EINVAL, "%s.sql: must not be empty", path);
  gd_json_path(cpath, sizeof cpath, path, "conninfo");
  if ((rc = gd_pgconn_check(conninfo, cpath, err))) return rc;
  struct pg_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  x->expect_rows = -1;
  x->conninfo = strdup(conninfo);
  x->sql = strdup(sql);
  if (!x->conninfo || !x->sql) {
    ctx_free(x);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  if ((rc = parse_expect(x, spec, path, err))) {
    ctx_free(x);
    return rc;
  }
  a->ctx = x;
  return 0;
}

static void pga_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct pg_action *x = a->ctx;
  char where[256], exp[128] = "";
  gd_pgconn_describe(x->conninfo, where, sizeof where);
  if (x->expect_rows >= 0 && x->expect_value)
    snprintf(exp, sizeof exp, " expect %lld row(s), value '%.40s'",
             x->expect_rows, x->expect_value);
  else if (x->expect_rows >= 0)
    snprintf(exp, sizeof exp, " expect %lld row(s)", x->expect_rows);
  else if (x->expect_value)
    snprintf(exp, sizeof exp, " expect value '%.40s'", x->expect_value);
  snprintf(buf, n, "SQL '%.100s'%s on %s", x->sql, exp, where);
}

static void on_closed(void *arg) {
  struct gd_action *a = arg;
  struct pg_action *x = a->ctx;
  x->conn = NULL;
  x->closing = 0;
  if (a->cancelled)
    gd_action_done(a, 0, "cancelled");
  else
    gd_action_done(a, x->ok, "%s", x->msg);
}

/* The outcome is kept and reported once the connection is closed: when
 * done is called the action holds no handle. */
static void finish(struct gd_action *a, int ok) {
  struct pg_action *x = a->ctx;
  x->ok = ok;
  if (x->closing) return;
  x->closing = 1;
  gd_pgconn_close(x->conn, on_closed, a);
}

static void record(struct gd_action *a, const struct gd_pgreply *r) {
  cJSON *d = cJSON_CreateObject();
  if (!d) return;
  if (r->fail == GD_PG_OK) {
    const char *cmd = r->res ? PQcmdStatus((PGresult *)r->res) : "";
    const char *v = gd_pgresult_value(r->res);
    cJSON_AddNumberToObject(d, "rows", (double)gd_pgresult_rows(r->res));
    cJSON_AddStringToObject(d, "command", cmd ? cmd : "");
    if (v)
      cJSON_AddStringToObject(d, "value", v);
    else
      cJSON_AddNullToObject(d, "value");
  } else {
    if (r->sqlstate[0]) cJSON_AddStringToObject(d, "sqlstate", r->sqlstate);
    cJSON_AddStringToObject(d, "error", r->msg);
  }
  cJSON_Delete(a->detail);
  a->detail = d;
}

static void on_reply(struct gd_pgconn *c, const struct gd_pgreply *r,
                     void *arg) {
  struct gd_action *a = arg;
  struct pg_action *x = a->ctx;
  (void)c;
  if (r->fail == GD_PG_CANCELED) return; /* on_closed reports */
  record(a, r);
  if (r->fail) {
    snprintf(x->msg, sizeof x->msg, "%s", r->msg);
    finish(a, 0);
    return;
  }
  const char *cmd = r->res ? PQcmdStatus((PGresult *)r->res) : "";
  long long rows = gd_pgresult_rows(r->res);
  const char *v = gd_pgresult_value(r->res);
  if (!cmd || !cmd[0]) cmd = "OK";
  if (x->expect_rows >= 0 && rows != x->expect_rows) {
    snprintf(x->msg, sizeof x->msg, "%s (expected %lld row(s))", cmd,
             x->expect_rows);
    finish(a, 0);
  } else if (x->expect_value && (!v || strcmp(v, x->expect_value) != 0)) {
    snprintf(x->msg, sizeof x->msg, "%s: %s%.100s%s (expected '%.100s')", cmd,
             v ? "value '" : "", v ? v : "no value", v ? "'" : "",
             x->expect_value);
    finish(a, 0);
  } else {
    snprintf(x->msg, sizeof x->msg, "%s", cmd);
    finish(a, 1);
  }
}

static void on_open(struct gd_pgconn *c, const struct gd_pgreply *r,
                    void *arg) {
  struct gd_action *a = arg;
  struct pg_action *x = a->ctx;
  struct gd_error err = {0};
  if (r->fail == GD_PG_CANCELED) return;
  if (r->fail) {
    record(a, r);
    snprintf(x->msg, sizeof x->msg, "%s", r->msg);
    finish(a, 0);
    return;
  }
  if (gd_pgconn_query(c, x->sql, 0, NULL, 0, on_reply, a, &err) != 0) {
    snprintf(x->msg, sizeof x->msg, "%s", err.msg);
    finish(a, 0);
  }
}

static int pga_run(struct gd_action *a, struct gd_error *err) {
  struct pg_action *x = a->ctx;
  if (x->conn)
    return gd_error_set(err, GD_ESTATE, "%s: already running", a->path);
  x->ok = 0;
  x->closing = 0;
  x->msg[0] = 0;
  struct gd_error e = {0};
  int rc = gd_pgconn_open(a->loop, x->conninfo, 0, on_open, a, &x->conn, &e);
  if (rc) {
    x->conn = NULL;
    return gd_error_set(err, rc, "%s: %s", a->path, e.msg);
  }
  return 0;
}

static void pga_cancel(struct gd_action *a) {
  struct pg_action *x = a->ctx;
  if (x->conn && !x->closing) finish(a, 0);
}

static void pga_free(struct gd_action *a) {
  ctx_free(a->ctx);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_postgres = {
    .type = "postgres",
    .keys = pga_keys,
    .init = pga_init,
    .describe = pga_describe,
    .run = pga_run,
    .cancel = pga_cancel,
    .free = pga_free,
};

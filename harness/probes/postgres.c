/* gameday: the postgres probe, on the loop through pgconn (no blocking libpq
 * call anywhere). Two modes:
 *
 * - "query" (default): run `sql`, compare the first value and the row count
 *   with `expect`. Each slot keeps its connection while it stays healthy,
 *   so that a sample costs one round trip; `fresh_connection` opens one per
 *   sample instead (that is what sees a writer endpoint move). A numeric
 *   first value is attached to the sample (replication lag, say).
 *
 * - "ledger": the write-ledger of DESIGN.md. Sample k inserts (run_id,
 *   probe, seq = k+1) into `table`; the INSERT's answer is the
 *   acknowledgement. Every seq ends in one of three states: acknowledged;
 *   in doubt (sent, no answer: connection lost, timeout, or a FATAL error,
 *   which can come after the commit); or not written (an ERROR, or no
 *   connection: it never reached a commit). The states are kept as
 *   run-length spans, so memory grows with the number of changes, not of
 *   writes. The verify hook reads back what is present and reconciles:
 *   acknowledged and missing is lost, in doubt is ambiguous either way.
 *   The table needs (run_id text, probe text, seq bigint) columns; an index
 *   on (run_id, probe, seq) keeps the read-back cheap.
 *
 * A sample's timeout (probe.c) cancels it by closing its connection: a
 * query libpq already sent cannot be recalled without a blocking call. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/json.h"
#include "gameday/pgconn.h"
#include "gameday/probe.h"

enum { MODE_QUERY, MODE_LEDGER };
enum { W_ACKED = 1, W_DOUBT = 2 }; /* not written: a gap between spans */

#define VERIFY_DEFAULT_MS 30000
#define VERIFY_RETRY_MS 250

struct span {
  uint64_t first, last;
  int state;
};

struct pg_slot {
  struct pg_ctx *ctx;
  struct gd_sample *s;
  struct gd_pgconn *conn; /* kept between samples while healthy */
  struct pg_slot *next;   /* every slot of the probe, for free */
  uint64_t seq;           /* ledger: this sample's write */
  char seqstr[24];
};

struct pg_verify;

struct pg_ctx {
  struct gd_probe *p;
  char *conninfo;
  int mode;
  int fresh;
  /* query mode */
  char *sql;
  char *expect_value;
  long long rows, min_rows, max_rows; /* -1: not checked */
  /* ledger mode */
  char *table;
  char *run_id;
  char *insert_sql, *verify_sql;
  uint64_t verify_ns;
  uint64_t last_seq;      /* the last seq handed out */
  uint64_t settled;       /* every seq up to here has its state */
  struct span *spans;
  size_t nspans, cap;
  /* run time */
  struct pg_slot *slots;
  unsigned closing;       /* connections being closed */
  struct pg_verify *verify;
  void (*stop_done)(struct gd_probe *p);
};

static const char *const pg_keys[] = {
    "conninfo", "mode",   "sql",               "expect", "fresh_connection",
    "table",    "run_id", "verify_timeout_ms", NULL};
static const char *const expect_keys[] = {"value", "rows", "min_rows",
                                          "max_rows", NULL};
static const char *const ledger_figures[] = {"lost_writes", "ambiguous_writes",
                                             NULL};


/* ---- load time ----------------------------------------------------------- */

static void ctx_free(struct pg_ctx *ctx) {
  if (!ctx) return;
  struct pg_slot *sl;
  while ((sl = ctx->slots)) {
    ctx->slots = sl->next;
    free(sl);
  }
  free(ctx->conninfo);
  free(ctx->sql);
  free(ctx->expect_value);
  free(ctx->table);
  free(ctx->run_id);
  free(ctx->insert_sql);
  free(ctx->verify_sql);
  free(ctx->spans);
  free(ctx);
}

/* Unquoted on purpose (so it folds to lower case as users expect), hence
 * strict: "ledger" or "schema.ledger". */
static int valid_table(const char *t) {
  int parts = 0;
  while (*t) {
    size_t n = 0;
    if (!isalpha((unsigned char)*t) && *t != '_') return 0;
    while (isalnum((unsigned char)t[n]) || t[n] == '_' || t[n] == '$') n++;
    if (n > 63 || ++parts > 2) return 0;
    t += n;
    if (*t == '.' && t[1])
      t++;
    else if (*t)
      return 0;
  }
  return parts > 0;
}

static int random_run_id(char *buf, size_t n) {
  unsigned char r[8];
  if (uv_random(NULL, NULL, r, sizeof r, 0, NULL) != 0) return -1;
  snprintf(buf, n, "gd-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
           r[3], r[4], r[5], r[6], r[7]);
  return 0;
}

/* A string, or a number written as JSON writes it ("value": 1 is "1"). */
static int get_value(const cJSON *expect, const char *path, char **out,
                     struct gd_error *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(expect, "value");
  if (!v) return 0;
  if (cJSON_IsString(v)) {
    *out = strdup(v->valuestring);
  } else if (cJSON_IsNumber(v)) {
    *out = cJSON_PrintUnformatted(v);
  } else {
    return gd_error_set(err, GD_EINVAL,
                        "%s.value: must be a string or a number", path);
  }
  return *out ? 0 : gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
}

static int parse_expect(struct pg_ctx *ctx, const cJSON *spec,
                        const char *path, struct gd_error *err) {
  const cJSON *expect = NULL;
  char epath[256];
  int rc = gd_json_get_object(spec, "expect", path, 0, &expect, err);
  if (rc || !expect) return rc;
  gd_json_path(epath, sizeof epath, path, "expect");
  if ((rc = gd_json_check_keys(expect, epath, expect_keys, NULL, err)) ||
      (rc = get_value(expect, epath, &ctx->expect_value, err)) ||
      (rc = gd_json_get_int(expect, "rows", epath, 0, 0, LLONG_MAX, &ctx->rows,
                            err)) ||
      (rc = gd_json_get_int(expect, "min_rows", epath, 0, 0, LLONG_MAX,
                            &ctx->min_rows, err)) ||
      (rc = gd_json_get_int(expect, "max_rows", epath, 0, 0, LLONG_MAX,
                            &ctx->max_rows, err)))
    return rc;
  if (ctx->max_rows >= 0 && ctx->min_rows > ctx->max_rows)
    return gd_error_set(err, GD_EINVAL,
                        "%s.min_rows: %lld is above max_rows %lld", epath,
                        ctx->min_rows, ctx->max_rows);
  return 0;
}

/* Keys of the other mode are mistakes, not options to ignore. */
static int not_in_mode(const cJSON *spec, const char *path,
                       const char *const *keys, const char *mode,
                       struct gd_error *err) {
  for (size_t i = 0; keys[i]; i++)
    if (cJSON_GetObjectItemCaseSensitive(spec, keys[i]))
      return gd_error_set(err, GD_EINVAL, "%s.%s: not used in %s mode", path,
                          keys[i], mode);
  return 0;
}

static int init_ledger(struct gd_probe *p, struct pg_ctx *ctx,
                       const cJSON *spec, const char *path,
                       struct gd_error *err) {
  static const char *const query_only[] = {"sql", "expect", NULL};
  const char *table = "ledger", *run_id = NULL;
  char buf[40];
  int rc;
  if ((rc = not_in_mode(spec, path, query_only, "ledger", err)) ||
      (rc = gd_json_get_string(spec, "table", path, 0, &table, err)) ||
      (rc = gd_json_get_string(spec, "run_id", path, 0, &run_id, err)))
    return rc;
  ctx->verify_ns = (uint64_t)VERIFY_DEFAULT_MS * 1000000u;
  if ((rc = gd_json_get_ms(spec, "verify_timeout_ms", path, 0, 1,
                           &ctx->verify_ns, err)))
    return rc;
  if (!valid_table(table))
    return gd_error_set(err, GD_EINVAL,
                        "%s.table: must be a table name like 'ledger' or "
                        "'app.ledger', got '%s'",
                        path, table);
  if (run_id && (!run_id[0] || strlen(run_id) > 128))
    return gd_error_set(err, GD_EINVAL,
                        "%s.run_id: must be 1 to 128 characters, got '%s'",
                        path, run_id);
  /* Writes must commit in seq order for "acknowledged" to mean a prefix. */
  if (p->max_inflight != 1)
    return gd_error_set(err, GD_EINVAL,
                        "%s.max_inflight: must be 1 in ledger mode (writes "
                        "commit in sequence order), got %u",
                        path, p->max_inflight);
  if (!run_id) {
    if (random_run_id(buf, sizeof buf) != 0)
      return gd_error_set(err, GD_EIO, "%s: cannot make a random run_id",
                          path);
    run_id = buf;
  }
  char sql[512];
  ctx->table = strdup(table);
  ctx->run_id = strdup(run_id);
  snprintf(sql, sizeof sql,
           "INSERT INTO %s (run_id, probe, seq) VALUES ($1, $2, $3)", table);
  ctx->insert_sql = strdup(sql);
  /* What is present, as ranges of consecutive seqs ("gaps and islands"):
   * one row per run of present writes, however long the ledger. */
  snprintf(sql, sizeof sql,
           "SELECT min(seq), max(seq) FROM (SELECT seq, seq - row_number() "
           "OVER (ORDER BY seq) AS island FROM (SELECT DISTINCT seq FROM %s "
           "WHERE run_id = $1 AND probe = $2 AND seq BETWEEN 1 AND $3) AS "
           "written) AS numbered GROUP BY island ORDER BY 1",
           table);
  ctx->verify_sql = strdup(sql);
  if (!ctx->table || !ctx->run_id || !ctx->insert_sql || !ctx->verify_sql)
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  return 0;
}

static int init_query(struct pg_ctx *ctx, const cJSON *spec, const char *path,
                      struct gd_error *err) {
  static const char *const ledger_only[] = {"table", "run_id",
                                            "verify_timeout_ms", NULL};
  const char *sql = NULL;
  int rc;
  if ((rc = not_in_mode(spec, path, ledger_only, "query", err)) ||
      (rc = gd_json_get_string(spec, "sql", path, 1, &sql, err)))
    return rc;
  if (!sql[0])
    return gd_error_set(err, GD_EINVAL, "%s.sql: must not be empty", path);
  if (!(ctx->sql = strdup(sql)))
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  return parse_expect(ctx, spec, path, err);
}

static int pg_init(struct gd_probe *p, const cJSON *spec, const char *path,
                   struct gd_error *err) {
  const char *conninfo = NULL, *mode = "query";
  char cpath[256];
  int rc;
  if ((rc = gd_json_get_string(spec, "conninfo", path, 1, &conninfo, err)) ||
      (rc = gd_json_get_string(spec, "mode", path, 0, &mode, err)))
    return rc;
  if (strcmp(mode, "query") != 0 && strcmp(mode, "ledger") != 0)
    return gd_error_set(err, GD_EINVAL,
                        "%s.mode: must be 'query' or 'ledger', got '%s'", path,
                        mode);
  gd_json_path(cpath, sizeof cpath, path, "conninfo");
  if ((rc = gd_pgconn_check(conninfo, cpath, err))) return rc;
  struct pg_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  ctx->p = p;
  ctx->rows = ctx->min_rows = ctx->max_rows = -1;
  ctx->mode = strcmp(mode, "ledger") == 0 ? MODE_LEDGER : MODE_QUERY;
  if (!(ctx->conninfo = strdup(conninfo))) {
    rc = gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  if ((rc = gd_json_get_bool(spec, "fresh_connection", path, 0, &ctx->fresh,
                             err)))
    goto fail;
  rc = ctx->mode == MODE_LEDGER ? init_ledger(p, ctx, spec, path, err)
                                : init_query(ctx, spec, path, err);
  if (rc) goto fail;
  p->ctx = ctx;
  return 0;
fail:
  ctx_free(ctx);
  return rc;
}

static void pg_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct pg_ctx *ctx = p->ctx;
  char where[256];
  gd_pgconn_describe(ctx->conninfo, where, sizeof where);
  if (ctx->mode == MODE_LEDGER) {
    snprintf(buf, n, "ledger: INSERT INTO %s (run_id '%s', probe '%s') on %s%s",
             ctx->table, ctx->run_id, p->name, where,
             ctx->fresh ? ", fresh connection" : "");
    return;
  }
  char exp[200] = "";
  size_t len = 0;
  if (ctx->expect_value)
    len += (size_t)snprintf(exp + len, sizeof exp - len, " value '%.60s'",
                            ctx->expect_value);
  if (ctx->rows >= 0 && len < sizeof exp)
    len += (size_t)snprintf(exp + len, sizeof exp - len, " %lld row(s)",
                            ctx->rows);
  if (ctx->min_rows >= 0 && len < sizeof exp)
    len += (size_t)snprintf(exp + len, sizeof exp - len, " >= %lld row(s)",
                            ctx->min_rows);
  if (ctx->max_rows >= 0 && len < sizeof exp)
    snprintf(exp + len, sizeof exp - len, " <= %lld row(s)", ctx->max_rows);
  snprintf(buf, n, "query '%.80s'%s%s on %s%s", ctx->sql,
           exp[0] ? " expect" : "", exp, where,
           ctx->fresh ? ", fresh connection" : "");
}

/* ---- the ledger ---------------------------------------------------------- */

static void settle(struct pg_ctx *ctx, uint64_t seq, int state) {
  if (seq <= ctx->settled) return; /* settled already (never twice) */
  ctx->settled = seq;
  if (!state) return;
  struct span *last = ctx->nspans ? &ctx->spans[ctx->nspans - 1] : NULL;
  if (last && last->state == state && last->last + 1 == seq) {
    last->last = seq;
    return;
  }
  if (ctx->nspans == ctx->cap) {
    size_t cap = ctx->cap ? ctx->cap * 2 : 16;
    struct span *ns = realloc(ctx->spans, cap * sizeof *ns);
    if (!ns) return; /* counted as not written: never a loss it cannot show */
    ctx->spans = ns;
    ctx->cap = cap;
  }
  ctx->spans[ctx->nspans++] = (struct span){seq, seq, state};
}

/* ---- samples ------------------------------------------------------------- */

static enum gd_sample_class sample_class(const struct gd_pgreply *r) {
  switch (r->fail) {
  case GD_PG_OK: return GD_SAMPLE_OK;
  case GD_PG_REFUSED: return GD_SAMPLE_REFUSED;
  case GD_PG_DNS: return GD_SAMPLE_DNS;
  case GD_PG_CONNECT: return GD_SAMPLE_CONNECT;
  case GD_PG_TIMEOUT: return GD_SAMPLE_TIMEOUT;
  case GD_PG_LOST: return GD_SAMPLE_PROTOCOL;
  case GD_PG_CANCELED: return GD_SAMPLE_TIMEOUT;
  case GD_PG_SQL: default: return GD_SAMPLE_ERROR;
  }
}

static void maybe_stopped(struct pg_ctx *ctx) {
  if (!ctx->stop_done || ctx->closing || ctx->verify) return;
  void (*done)(struct gd_probe *) = ctx->stop_done;
  ctx->stop_done = NULL;
  done(ctx->p);
}

static void conn_closed(void *arg) {
  struct pg_ctx *ctx = arg;
  ctx->closing--;
  maybe_stopped(ctx);
}

static void release(struct pg_slot *sl) {
  if (!sl->conn) return;
  sl->ctx->closing++;
  gd_pgconn_close(sl->conn, conn_closed, sl->ctx);
  sl->conn = NULL;
}

/* The rows as text for capture and compare: cells joined by tab, rows by
 * newline, NULL as \N (COPY's spelling), cut at GD_SAMPLE_TEXT_MAX. */
static void set_rows_text(struct gd_sample *s, const PGresult *res) {
  size_t cap = 256, len = 0;
  char *buf = malloc(cap);
  if (!buf) return;
  for (int r = 0; r < PQntuples(res) && len < GD_SAMPLE_TEXT_MAX; r++)
    for (int c = 0; c < PQnfields(res); c++) {
      const char *v = PQgetisnull(res, r, c) ? "\\N" : PQgetvalue(res, r, c);
      size_t vl = strlen(v);
      if (len + vl + 2 > cap) {
        while (len + vl + 2 > cap) cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb) {
          free(buf);
          return;
        }
        buf = nb;
      }
      memcpy(buf + len, v, vl);
      len += vl;
      buf[len++] = c + 1 < PQnfields(res) ? '\t' : '\n';
    }
  gd_sample_set_text(s, buf, len);
  free(buf);
}

static void check_result(struct pg_slot *sl, const PGresult *res) {
  struct pg_ctx *ctx = sl->ctx;
  struct gd_sample *s = sl->s;
  long long rows = gd_pgresult_rows(res);
  const char *v = gd_pgresult_value(res);
  if (v && *v) {
    char *end;
    double d = strtod(v, &end);
    if (!*end && isfinite(d)) gd_sample_set_value(s, d);
  }
  if (ctx->expect_value && (!v || strcmp(v, ctx->expect_value) != 0)) {
    if (!v && PQntuples(res) < 1)
      gd_sample_done(s, GD_SAMPLE_MISMATCH, "no rows (expected value '%.40s')",
                     ctx->expect_value);
    else if (!v)
      gd_sample_done(s, GD_SAMPLE_MISMATCH, "NULL (expected '%.40s')",
                     ctx->expect_value);
    else
      gd_sample_done(s, GD_SAMPLE_MISMATCH, "value '%.80s' (expected '%.30s')",
                     v, ctx->expect_value);
  } else if (ctx->rows >= 0 && rows != ctx->rows) {
    gd_sample_done(s, GD_SAMPLE_MISMATCH, "%lld row(s) (expected %lld)", rows,
                   ctx->rows);
  } else if (ctx->min_rows >= 0 && rows < ctx->min_rows) {
    gd_sample_done(s, GD_SAMPLE_MISMATCH,
                   "%lld row(s) (expected at least %lld)", rows, ctx->min_rows);
  } else if (ctx->max_rows >= 0 && rows > ctx->max_rows) {
    gd_sample_done(s, GD_SAMPLE_MISMATCH, "%lld row(s) (expected at most %lld)",
                   rows, ctx->max_rows);
  } else {
    if (gd_sample_wants_text(s)) set_rows_text(s, res);
    gd_sample_done(s, GD_SAMPLE_OK, NULL);
  }
}

static void on_reply(struct gd_pgconn *c, const struct gd_pgreply *r,
                     void *arg) {
  struct pg_slot *sl = arg;
  struct pg_ctx *ctx = sl->ctx;
  (void)c;
  if (ctx->mode == MODE_LEDGER) {
    int state = 0;
    if (r->fail == GD_PG_OK)
      state = W_ACKED;
    else if (r->sent && !(r->fail == GD_PG_SQL && !r->fatal))
      state = W_DOUBT; /* an ERROR means rolled back; anything else: unknown */
    settle(ctx, sl->seq, state);
  }
  if (r->fail == GD_PG_CANCELED) return; /* the close callback ends it */
  if (!gd_pgconn_ok(sl->conn)) release(sl);
  if (r->fail)
    gd_sample_done(sl->s, sample_class(r), "%s", r->msg);
  else if (ctx->mode == MODE_LEDGER)
    gd_sample_done(sl->s, GD_SAMPLE_OK, NULL);
  else
    check_result(sl, r->res);
}

static int send_query(struct pg_slot *sl, struct gd_error *err) {
  struct pg_ctx *ctx = sl->ctx;
  if (ctx->mode == MODE_QUERY)
    return gd_pgconn_query(sl->conn, ctx->sql, 0, NULL, 0, on_reply, sl, err);
  const char *values[3] = {ctx->run_id, ctx->p->name, sl->seqstr};
  return gd_pgconn_query(sl->conn, ctx->insert_sql, 3, values, 0, on_reply, sl,
                         err);
}

static void on_open(struct gd_pgconn *c, const struct gd_pgreply *r,
                    void *arg) {
  struct pg_slot *sl = arg;
  struct pg_ctx *ctx = sl->ctx;
  struct gd_error err = {0};
  (void)c;
  if (r->fail) {
    /* No connection, so nothing was sent: not written. */
    if (ctx->mode == MODE_LEDGER) settle(ctx, sl->seq, 0);
    if (r->fail == GD_PG_CANCELED) return;
    release(sl);
    gd_sample_done(sl->s, sample_class(r), "%s", r->msg);
    return;
  }
  if (send_query(sl, &err) != 0) {
    if (ctx->mode == MODE_LEDGER) settle(ctx, sl->seq, 0);
    release(sl);
    gd_sample_done(sl->s, GD_SAMPLE_ERROR, "%s", err.msg);
  }
}

static int pg_sample(struct gd_probe *p, struct gd_sample *s,
                     struct gd_error *err) {
  struct pg_ctx *ctx = p->ctx;
  struct pg_slot *sl = s->data;
  if (!sl) {
    if (!(sl = calloc(1, sizeof *sl)))
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p->path);
    sl->ctx = ctx;
    sl->next = ctx->slots;
    ctx->slots = sl;
    s->data = sl;
  }
  sl->s = s;
  if (ctx->mode == MODE_LEDGER) {
    sl->seq = ++ctx->last_seq;
    snprintf(sl->seqstr, sizeof sl->seqstr, "%llu",
             (unsigned long long)sl->seq);
  }
  if (sl->conn && (ctx->fresh || !gd_pgconn_ok(sl->conn))) release(sl);
  int rc;
  if (sl->conn)
    rc = send_query(sl, err);
  else
    rc = gd_pgconn_open(p->loop, ctx->conninfo, 0, on_open, sl, &sl->conn,
                        err);
  if (rc) {
    if (ctx->mode == MODE_LEDGER) settle(ctx, sl->seq, 0);
    if (err && err->msg[0]) {
      char m[GD_ERROR_MAX];
      snprintf(m, sizeof m, "%s", err->msg);
      gd_error_set(err, rc, "%s: %s", p->path, m);
    }
  }
  return rc;
}

static void cancel_closed(void *arg) {
  struct pg_slot *sl = arg;
  struct pg_ctx *ctx = sl->ctx;
  ctx->closing--;
  gd_sample_done(sl->s, GD_SAMPLE_TIMEOUT, "cancelled");
  maybe_stopped(ctx);
}

static void pg_cancel(struct gd_probe *p, struct gd_sample *s) {
  struct pg_slot *sl = s->data;
  (void)p;
  if (!sl) return;
  if (!sl->conn) {
    gd_sample_done(s, GD_SAMPLE_TIMEOUT, "cancelled");
    return;
  }
  /* Closing is the only non-blocking way to abandon a query; the reply
   * (GD_PG_CANCELED) settles the ledger, the close ends the sample. */
  struct gd_pgconn *c = sl->conn;
  sl->conn = NULL;
  sl->ctx->closing++;
  gd_pgconn_close(c, cancel_closed, sl);
}

/* ---- verify: read back and reconcile ------------------------------------ */

struct pg_verify {
  struct pg_ctx *ctx;
  void (*cb)(struct gd_probe *p, int ok, const char *msg);
  uv_timer_t retry;
  struct gd_pgconn *conn;
  uint64_t deadline;
  uint64_t cutoff;
  char cutoff_str[24];
  unsigned attempts;
  unsigned pending;      /* the timer and connections being closed */
  int finishing;
  int ok;
  char last_error[200];
  char msg[320];
};

static void verify_end(struct pg_verify *v) {
  if (v->pending) return;
  struct pg_ctx *ctx = v->ctx;
  void (*cb)(struct gd_probe *, int, const char *) = v->cb;
  int ok = v->ok;
  char msg[sizeof v->msg];
  memcpy(msg, v->msg, sizeof msg);
  ctx->verify = NULL;
  free(v);
  int stopping = ctx->stop_done != NULL;
  cb(ctx->p, ok, msg);
  /* Only while a stop waits is the probe sure to outlive the callback. */
  if (stopping) maybe_stopped(ctx);
}

static void verify_conn_closed(void *arg) {
  struct pg_verify *v = arg;
  v->pending--;
  verify_end(v);
}

static void verify_timer_closed(uv_handle_t *h) {
  struct pg_verify *v = h->data;
  v->pending--;
  verify_end(v);
}

static void verify_drop_conn(struct pg_verify *v) {
  if (!v->conn) return;
  v->pending++;
  gd_pgconn_close(v->conn, verify_conn_closed, v);
  v->conn = NULL;
}

static void verify_finish(struct pg_verify *v, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void verify_finish(struct pg_verify *v, int ok, const char *fmt, ...) {
  if (v->finishing) return;
  v->finishing = 1;
  v->ok = ok;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->msg, sizeof v->msg, fmt, ap);
  va_end(ap);
  verify_drop_conn(v);
  uv_close((uv_handle_t *)&v->retry, verify_timer_closed);
}

static void verify_attempt(struct pg_verify *v);

static void verify_again(uv_timer_t *t) { verify_attempt(t->data); }

static void verify_retry(struct pg_verify *v, const char *why) {
  snprintf(v->last_error, sizeof v->last_error, "%s", why);
  verify_drop_conn(v);
  uint64_t now = uv_hrtime();
  if (now + (uint64_t)VERIFY_RETRY_MS * 1000000u >= v->deadline) {
    verify_finish(v, 0, "cannot read back the ledger (%u attempt(s)): %s",
                  v->attempts, v->last_error);
    return;
  }
  uv_timer_start(&v->retry, verify_again, VERIFY_RETRY_MS, 0);
}

static void reconcile(struct pg_verify *v, const PGresult *res) {
  struct pg_ctx *ctx = v->ctx;
  uint64_t acked = 0, doubt = 0, acked_present = 0, doubt_present = 0;
  uint64_t present = 0, unexpected;
  for (size_t i = 0; i < ctx->nspans && ctx->spans[i].first <= v->cutoff;
       i++) {
    const struct span *sp = &ctx->spans[i];
    uint64_t last = sp->last < v->cutoff ? sp->last : v->cutoff;
    if (sp->state == W_ACKED)
      acked += last - sp->first + 1;
    else
      doubt += last - sp->first + 1;
  }
  /* Both lists are sorted and disjoint: one sweep. */
  size_t si = 0;
  for (int row = 0; row < PQntuples(res); row++) {
    uint64_t lo = strtoull(PQgetvalue(res, row, 0), NULL, 10);
    uint64_t hi = strtoull(PQgetvalue(res, row, 1), NULL, 10);
    if (lo < 1 || hi < lo || hi > v->cutoff) continue;
    present += hi - lo + 1;
    while (si < ctx->nspans && ctx->spans[si].last < lo) si++;
    for (size_t j = si; j < ctx->nspans && ctx->spans[j].first <= hi; j++) {
      const struct span *sp = &ctx->spans[j];
      uint64_t a = sp->first > lo ? sp->first : lo;
      uint64_t b = sp->last < hi ? sp->last : hi;
      if (b < a) continue;
      if (sp->state == W_ACKED)
        acked_present += b - a + 1;
      else
        doubt_present += b - a + 1;
    }
  }
  uint64_t lost = acked - acked_present;
  unexpected = present - acked_present - doubt_present;
  gd_probe_add_figure(ctx->p, "lost_writes", (double)lost);
  gd_probe_add_figure(ctx->p, "ambiguous_writes", (double)doubt);
  char extra[80] = "";
  /* Present but answered with an error or never sent: the ledger's
   * bookkeeping and the database disagree, which deserves a look. */
  if (unexpected)
    snprintf(extra, sizeof extra, ", %llu present but never acknowledged",
             (unsigned long long)unexpected);
  verify_finish(v, lost == 0,
                "%llu acknowledged, %llu lost, %llu ambiguous (%llu present, "
                "%llu absent)%s; run_id '%s'",
                (unsigned long long)acked, (unsigned long long)lost,
                (unsigned long long)doubt, (unsigned long long)doubt_present,
                (unsigned long long)(doubt - doubt_present), extra,
                ctx->run_id);
}

static void verify_read(struct gd_pgconn *c, const struct gd_pgreply *r,
                        void *arg) {
  struct pg_verify *v = arg;
  (void)c;
  if (r->fail == GD_PG_CANCELED) return;
  if (r->fail == GD_PG_SQL && !r->fatal) {
    /* A missing table or column does not come back by retrying. */
    verify_finish(v, 0, "reading back the ledger: %s", r->msg);
    return;
  }
  if (r->fail) {
    verify_retry(v, r->msg);
    return;
  }
  if (!r->res || PQnfields(r->res) != 2) {
    verify_finish(v, 0, "reading back the ledger: unexpected answer");
    return;
  }
  reconcile(v, r->res);
}

static uint64_t verify_left(const struct pg_verify *v) {
  uint64_t now = uv_hrtime();
  return v->deadline > now + 1000000u ? v->deadline - now : 1000000u;
}

static void verify_opened(struct gd_pgconn *c, const struct gd_pgreply *r,
                          void *arg) {
  struct pg_verify *v = arg;
  struct pg_ctx *ctx = v->ctx;
  struct gd_error err = {0};
  if (r->fail == GD_PG_CANCELED) return;
  if (r->fail) {
    verify_retry(v, r->msg);
    return;
  }
  const char *values[3] = {ctx->run_id, ctx->p->name, v->cutoff_str};
  if (gd_pgconn_query(c, ctx->verify_sql, 3, values, verify_left(v),
                      verify_read, v, &err) != 0)
    verify_retry(v, err.msg);
}

static void verify_attempt(struct pg_verify *v) {
  struct pg_ctx *ctx = v->ctx;
  struct gd_error err = {0};
  v->attempts++;
  if (gd_pgconn_open(ctx->p->loop, ctx->conninfo, verify_left(v),
                     verify_opened, v, &v->conn, &err) != 0) {
    v->conn = NULL;
    verify_finish(v, 0, "cannot read back the ledger: %s", err.msg);
  }
}

static int pg_verify(struct gd_probe *p,
                     void (*cb)(struct gd_probe *p, int ok, const char *msg),
                     struct gd_error *err) {
  struct pg_ctx *ctx = p->ctx;
  /* A query probe has nothing to reconcile (and no empty check in the
   * report); a threshold on lost_writes needs a ledger probe. */
  if (ctx->mode == MODE_QUERY) return GD_PROBE_NOTHING_TO_VERIFY;
  if (!p->loop)
    return gd_error_set(err, GD_ESTATE, "%s: verify before the probe ran",
                        p->path);
  if (ctx->verify || ctx->stop_done)
    return gd_error_set(err, GD_ESTATE, "%s: %s", p->path,
                        ctx->verify ? "verify already running" : "stopping");
  struct pg_verify *v = calloc(1, sizeof *v);
  if (!v) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p->path);
  v->ctx = ctx;
  v->cb = cb;
  /* Writes settle in order, so everything up to here has its final state;
   * a write still outstanding, and any after it, are left out. */
  v->cutoff = ctx->settled;
  snprintf(v->cutoff_str, sizeof v->cutoff_str, "%llu",
           (unsigned long long)v->cutoff);
  v->deadline = uv_hrtime() + ctx->verify_ns;
  uv_timer_init(p->loop, &v->retry);
  v->retry.data = v;
  v->pending = 1;
  ctx->verify = v;
  verify_attempt(v);
  return 0;
}

/* ---- stop and free ------------------------------------------------------- */

static void pg_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct pg_ctx *ctx = p->ctx;
  ctx->stop_done = done;
  for (struct pg_slot *sl = ctx->slots; sl; sl = sl->next) release(sl);
  if (ctx->verify)
    verify_finish(ctx->verify, 0, "cancelled: the probe stopped");
  maybe_stopped(ctx);
}

static void pg_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_postgres = {
    .type = "postgres",
    .keys = pg_keys,
    .figures = ledger_figures,
    .init = pg_init,
    .describe = pg_describe,
    .sample = pg_sample,
    .cancel = pg_cancel,
    .stop = pg_stop,
    .verify = pg_verify,
    .free = pg_free,
};


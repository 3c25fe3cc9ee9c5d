/* gameday: one PostgreSQL connection driven by the libuv loop, for the
 * postgres probe and action. Nothing here blocks the loop: host names are
 * resolved with uv_getaddrinfo and handed to libpq as hostaddr, the connection
 * is made with PQconnectStartParams/PQconnectPoll on a uv_poll_t, queries go
 * out with PQsendQuery(Params) in nonblocking mode and results are read with
 * PQconsumeInput/PQisBusy/PQgetResult when the socket is readable.
 *
 * libpq may switch sockets while connecting (several hosts, or
 * target_session_attrs rejecting a server); the poll handle is re-created
 * whenever PQsocket changes, including when the new socket reuses the old
 * descriptor number.
 *
 * Every call that returns 0 with a callback calls it exactly once: with the
 * result, a failure, or GD_PG_CANCELED when the connection is closed first.
 * A connection that failed or timed out is unusable: close it. */
#ifndef GAMEDAY_PGCONN_H
#define GAMEDAY_PGCONN_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gameday/error.h"

struct gd_pgconn;

enum gd_pg_fail {
  GD_PG_OK = 0,
  GD_PG_REFUSED,  /* connect: refused by every host tried */
  GD_PG_DNS,      /* connect: no host name resolved */
  GD_PG_CONNECT,  /* connect: any other failure (auth, no read-write host) */
  GD_PG_TIMEOUT,  /* no answer within the timeout given */
  GD_PG_LOST,     /* the connection broke while the query was outstanding */
  GD_PG_SQL,      /* the server answered with an error */
  GD_PG_CANCELED  /* gd_pgconn_close while outstanding */
};

/* What an open or a query came to; valid during the callback only. */
struct gd_pgreply {
  enum gd_pg_fail fail;
  /* A query was handed to libpq: unless it was answered, it may or may not
   * have run (and committed) on the server. */
  int sent;
  /* The last result of the query or, when a statement failed, its error;
   * NULL for an open and when nothing arrived. */
  const PGresult *res;
  char sqlstate[6];  /* GD_PG_SQL, "" when libpq made the error up */
  /* GD_PG_SQL with severity FATAL or PANIC: the session ended, and a
   * statement whose commit had begun may have committed all the same. */
  int fatal;
  /* One line: "connection refused", "ERROR 42P01: relation \"x\" does not
   * exist"; "" when ok. */
  char msg[256];
};

typedef void (*gd_pgconn_cb)(struct gd_pgconn *c, const struct gd_pgreply *r,
                             void *arg);

/* Load-time check of a connection string or URI (no network):
 * "probes.db.conninfo: invalid connection string: missing \"=\" after ...". */
int gd_pgconn_check(const char *conninfo, const char *path,
                    struct gd_error *err);
/* For plan and reports: the conninfo without secrets, e.g.
 * "host=a,b port=5432 dbname=app user=gd target_session_attrs=read-write". */
void gd_pgconn_describe(const char *conninfo, char *buf, size_t n);

/* Starts connecting; cb(c, reply, arg) once connected or failed. timeout_ns
 * 0: no timeout of its own (the caller cancels by closing). On 0, *out is
 * set before any callback. */
int gd_pgconn_open(uv_loop_t *loop, const char *conninfo, uint64_t timeout_ns,
                   gd_pgconn_cb cb, void *arg, struct gd_pgconn **out,
                   struct gd_error *err);

/* Sends sql (with nparams text parameters $1.., or none: then several
 * statements separated by ';' run as one simple query) on an idle
 * connection; cb once every result is in. Fails (GD_ESTATE, no callback)
 * while connecting, busy or closing; a broken connection answers GD_PG_LOST
 * through the callback. */
int gd_pgconn_query(struct gd_pgconn *c, const char *sql, int nparams,
                    const char *const *values, uint64_t timeout_ns,
                    gd_pgconn_cb cb, void *arg, struct gd_error *err);

/* Connected, idle, outside a transaction: a query can go now. */
int gd_pgconn_ok(const struct gd_pgconn *c);

/* Closes (once per connection): an outstanding open or query gets
 * GD_PG_CANCELED, then cb(arg) (may be NULL) once every handle is closed
 * and the PGconn finished; c is freed after cb returns. Never calls back
 * from within this call. */
void gd_pgconn_close(struct gd_pgconn *c, void (*cb)(void *arg), void *arg);

/* How many times the poll handle was re-created because libpq changed
 * sockets (diagnostics and tests). */
unsigned gd_pgconn_socket_changes(const struct gd_pgconn *c);

/* Helpers on results: rows returned (SELECT) or affected (DELETE 5 -> 5);
 * the first column of the first row, NULL when there is none or it is SQL
 * NULL. */
long long gd_pgresult_rows(const PGresult *res);
const char *gd_pgresult_value(const PGresult *res);

#endif

/* A throwaway PostgreSQL 15 server for tests: initdb into a fresh temporary
 * directory, the postmaster listening on 127.0.0.1 on a free port with its
 * Unix socket in that directory, trust authentication for user postgres.
 * Run as the `postgres` account when the tests run as root (PostgreSQL
 * refuses root). Stopped by its pid only, and the directory removed. The
 * helpers here block: call them from tests, never from a loop callback that
 * measures something. */
#ifndef GD_PGSERVER_H
#define GD_PGSERVER_H

#include <stddef.h>
#include <sys/types.h>

#define GD_PGSERVER_BIN "/usr/lib/postgresql/15/bin"
#define GD_PGSERVER_MAX_SETTINGS 8

struct gd_pgserver {
  char dir[256];  /* the temporary directory; socket lives here */
  char data[300]; /* dir/data */
  char log[300];  /* dir/postgres.log */
  int port;
  pid_t pid; /* the postmaster, 0 when not running */
  char
      conninfo[256]; /* "host=127.0.0.1 port=N dbname=postgres user=postgres" */
  char settings[GD_PGSERVER_MAX_SETTINGS]
               [128]; /* -c name=value, kept for restart */
  int nsettings;
};

/* 1: the binaries are missing (why says so, the test skips); 0: running;
 * -1: failed (why has the reason and the log's tail). settings: "name=value"
 * strings, NULL-terminated, may be NULL. */
int gd_pgserver_start(struct gd_pgserver *s, const char *const *settings,
                      char *why, size_t n);
/* Stops the postmaster with sig (SIGINT fast, SIGQUIT immediate: the crash
 * of a database server) and waits for it; the data stays. */
void gd_pgserver_stop(struct gd_pgserver *s, int sig);
/* Sends sig to the postmaster without waiting (from a loop callback: a
 * crash in the middle of a run); gd_pgserver_stop or _restart reaps it. */
void gd_pgserver_signal(struct gd_pgserver *s, int sig);
/* Starts it again on the same data and port (after a stop). 0 or -1. */
int gd_pgserver_restart(struct gd_pgserver *s, char *why, size_t n);
/* Stops it if running and removes the directory. */
void gd_pgserver_destroy(struct gd_pgserver *s);

/* Runs sql (blocking libpq) and copies the first value of the last result
 * into out ("" when none). 0, or -1 with the error message in out. */
int gd_pgserver_sql(const struct gd_pgserver *s, const char *sql, char *out,
                    size_t n);

#endif

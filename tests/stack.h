/* The local staging stack (scenarios/local/stack/stack.sh) for end-to-end
 * tests: a run directory of the test's own under $TMPDIR, a port base whose
 * whole span is free, stack.sh run with its output kept in a log, and the
 * values stack.sh writes into RUNDIR/ports.env. Everything is stopped by
 * stack.sh itself (by pid); nothing here signals a process by name. */
#ifndef GD_TEST_STACK_H
#define GD_TEST_STACK_H

#include <stddef.h>

/* Ports one stack uses: base .. base + GD_STACK_SPAN - 1. */
#define GD_STACK_SPAN 100

struct gd_stack {
  char *tmp;       /* the test's directory: stack.sh logs and the run dir */
  char dir[4096];  /* the run directory, tmp/stack */
  int base;        /* first port */
  int nlog;        /* numbers the stack.sh logs */
};

/* The first program the stack needs that is not installed (by the path
 * Debian installs it at), or NULL: a test skips with it in its message. */
const char *gd_stack_missing(void);

/* A base whose whole span is free on 127.0.0.1, starting somewhere
 * different per process so parallel test runs do not collide; 0 if none. */
int gd_stack_free_base(void);

/* Makes the test directory (searchable by the postgres account, which
 * must reach its node directories in it) and picks a free base. Also sets
 * GAMEDAY_BIN_DIR to GD_BIN_DIR in this process's environment, so that every
 * stack.sh up (the test's, and a scenario rollback's run by gameday) starts
 * this build's faultserver. Does not start anything: run
 * gd_stack_run(s, &out, "up", "--base", ...). 0 or -1. */
int gd_stack_init(struct gd_stack *s);

/* Runs stack.sh CMD --dir DIR [args...] (NULL-terminated) and waits for it
 * (up to 180 s, then kills it). Returns its exit status, or -1. Its output
 * (stdout and stderr) goes to tmp/stack-NN-CMD.log and, when out is not
 * NULL, into *out (malloc'd, never NULL). */
int gd_stack_run(struct gd_stack *s, char **out, const char *cmd, ...)
    __attribute__((sentinel));

/* stack.sh up on the stack's base with this build's binaries
 * (GD_BIN_DIR): gd_stack_run(s, out, "up", "--base", BASE, "--bin", DIR). */
int gd_stack_up(struct gd_stack *s, char **out);

/* NAME's value in RUNDIR/ports.env, quotes removed, malloc'd; NULL when
 * absent. gd_stack_port: the same as a number, or -1. */
char *gd_stack_env(const struct gd_stack *s, const char *name);
int gd_stack_port(const struct gd_stack *s, const char *name);

/* Every NAME=value of ports.env as "NAME=value" strings (malloc'd array of
 * malloc'd strings, *n of them), ready to follow --var; NULL on error.
 * Free with gd_stack_vars_free. */
char **gd_stack_vars(const struct gd_stack *s, size_t *n);
void gd_stack_vars_free(char **vars, size_t n);

/* The pid in a pidfile (first line), or -1. */
long gd_stack_pid_in(const char *path);
/* The process exists and is not a zombie. */
int gd_stack_alive(long pid);

/* Removes the test directory (keep: leaves it, for inspection, and says
 * where) and frees what init allocated. Run stack.sh down first. */
void gd_stack_cleanup(struct gd_stack *s, int keep);

#endif

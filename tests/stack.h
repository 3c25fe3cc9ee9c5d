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
  /* For a program whose tests share one stack (gd_stack_test_up): */
  int skipped;     /* a program the stack needs is missing */
  int up;          /* it came up: set by the program once all it wants is */
  char **vars;     /* ports.env as NAME=value, for --var */
  size_t nvars;
  int nrun;        /* numbers gd_stack_gameday's journals and logs */
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
 * where) and frees what init and gd_stack_test_up allocated. Run stack.sh
 * down first. */
void gd_stack_cleanup(struct gd_stack *s, int keep);

/* The scaffolding of a program whose tests share one stack: its first test
 * brings the stack up, the others skip unless s->up, its last takes it
 * down.
 *
 * The first test: when a program is missing, prints the skip (how to
 * install it) and returns -1 with s->skipped set: the test returns.
 * Otherwise gd_stack_init and gd_stack_up, with fatal assertions that
 * both worked (stack.sh's output printed when up failed) and that
 * ports.env was read into s->vars; stack.sh up's output into *out when out
 * is not NULL (caller frees). 0: the caller checks what else it needs and
 * sets s->up. */
int gd_stack_test_up(struct gd_stack *s, char **out);

/* The last test, after `if (s->skipped) GD_SKIP(...)`: stack.sh down,
 * asserted to exit 0 (its output printed when not; into *out when out is
 * not NULL, caller frees). -1 without running anything when the stack was
 * never initialised. The caller then checks what else it wants and calls
 * gd_stack_cleanup(s, CU_get_number_of_failures() != 0). */
int gd_stack_test_down(struct gd_stack *s, char **out);

struct gd_gdrun;
struct gd_gdrun_args;

/* How gd_stack_gameday runs gameday. */
struct gd_stack_gdrun {
  const char *name;        /* its files: tmp/NAME-NN.json and .log */
  const char *const *vars; /* NAME=value after the stack's (NULL-terminated;
                              may be NULL) */
  int junit;               /* also --junit tmp/NAME-NN.xml */
  int timeout_ms;
  int grace_ms;            /* as in gd_gdrun_io */
};

/* gameday with a's arguments (the command and its files, added by the
 * caller), then every ports.env value (s->vars) and stack_sh=<this tree's
 * stack.sh> as --var, o->vars as --var, and --json; frees a. The run's
 * exit status and time are printed, and its output when it left no
 * journal. Returns r->status; the caller frees r (gd_gdrun_free). */
int gd_stack_gameday(struct gd_stack *s, struct gd_gdrun_args *a,
                     const struct gd_stack_gdrun *o, struct gd_gdrun *r);

#endif

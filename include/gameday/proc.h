/* gameday: child processes for the exec probe and the exec action. A command
 * runs in its own process group (so a timeout can kill a shell and everything
 * it started), with stdin on /dev/null and stdout and stderr captured through
 * one pipe into a bounded buffer that keeps the last GD_PROC_OUTPUT_MAX
 * bytes. Also signal names, shared with the signal action. */
#ifndef GAMEDAY_PROC_H
#define GAMEDAY_PROC_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gameday/error.h"

#define GD_PROC_OUTPUT_MAX 4096

/* The keys an exec kind shares: argv*, shell, cwd, expect {exit}. */
struct gd_proc_cmd {
  char **argv;      /* NULL-terminated, as given in the scenario */
  size_t argc;
  int shell;        /* run as /bin/sh -c argv[0] */
  char *cwd;        /* NULL: gameday's own */
  int expect_exit;  /* 0..255, default 0 */
};

/* The keys gd_proc_cmd_parse reads, NULL-ended, for a kind's `keys`. */
extern const char *const gd_proc_cmd_keys[];

/* Reads and validates the shared keys of spec (at path, e.g. "probes.db"). */
int gd_proc_cmd_parse(struct gd_proc_cmd *c, const cJSON *spec,
                      const char *path, struct gd_error *err);
void gd_proc_cmd_free(struct gd_proc_cmd *c);
/* "sh -c 'pg_isready -q' (expect exit 0)", shell-quoted where needed. */
void gd_proc_cmd_describe(const struct gd_proc_cmd *c, char *buf, size_t n);

/* For plan and --dry-run: would cmd start now? Finds the program the way
 * the spawn will (PATH unless it has a '/') and checks cwd. Writes
 * "would run /usr/bin/pg_isready -q (expect exit 0)"; errors read like
 * those of gd_proc_spawn ("cannot run 'foo': not found in PATH"). */
int gd_proc_cmd_check(const struct gd_proc_cmd *c, char *buf, size_t n,
                      struct gd_error *err);

/* How a process ended. Valid during the exit callback only. */
struct gd_proc_result {
  int64_t exit_status;   /* when term_signal is 0 */
  int term_signal;       /* 0: exited normally */
  int killed;            /* gd_proc_kill was called before it ended */
  uint64_t duration_ns;
  const char *output;    /* last GD_PROC_OUTPUT_MAX bytes, NUL-terminated,
                            valid UTF-8 (invalid bytes become '?') */
  size_t output_len;
  int truncated;         /* earlier output was dropped */
  const char *last_line; /* last non-empty line, trimmed, at most ~200 bytes */
};

struct gd_proc;

/* Called once the process has exited and every handle is closed; the
 * struct gd_proc is freed when it returns. */
typedef void (*gd_proc_cb)(struct gd_proc *pr, const struct gd_proc_result *r,
                           void *arg);

/* Starts cmd on loop. On success *out is set and cb follows exactly once
 * (also after gd_proc_kill). On failure (argv[0] not found, bad cwd, ...)
 * returns GD_EIO with "cannot run 'foo': no such file or directory" and cb
 * is never called; any half-made handle is closed and freed by itself. */
int gd_proc_spawn(uv_loop_t *loop, const struct gd_proc_cmd *cmd,
                  gd_proc_cb cb, void *arg, struct gd_proc **out,
                  struct gd_error *err);
/* The same with extra environment entries ("NAME=value", NULL-ended) that
 * add to or replace gameday's own; extra_env may be NULL. */
int gd_proc_spawn_env(uv_loop_t *loop, const struct gd_proc_cmd *cmd,
                      const char *const *extra_env, gd_proc_cb cb, void *arg,
                      struct gd_proc **out, struct gd_error *err);
/* SIGKILL to the whole process group, once; no effect when it has already
 * exited (cb is then on its way). */
void gd_proc_kill(struct gd_proc *pr);
/* The process id (and group id), for messages and tests. */
int gd_proc_pid(const struct gd_proc *pr);

/* Signal names: "KILL", "SIGkill", "9" -> 9; returns 0 when unknown.
 * Numbers are accepted from 1 to 64. */
int gd_signal_parse(const char *s);
/* "SIGKILL", "SIGRTMIN+2", or "SIG32"; writes into buf and returns it. */
const char *gd_signal_name(int sig, char *buf, size_t n);

#endif

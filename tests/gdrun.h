/* Running the real gameday binary from an end-to-end test: an argument
 * list, one run (start, wait with a timeout, stop it past that), its output
 * and its --json journal read back, and lookups into the journal (dotted
 * paths, array elements by a member). */
#ifndef GD_GDRUN_H
#define GD_GDRUN_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <sys/types.h>

/* An argument list, without argv[0]; v is NULL-terminated once anything
 * was added. Zero-initialise it; the strings are copies. */
struct gd_gdrun_args {
  char **v;
  size_t n, cap;
};

/* Adds one argument, printf-formatted. Out of memory aborts. */
void gd_gdrun_arg(struct gd_gdrun_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds "--var" and then the formatted NAME=value. */
void gd_gdrun_var(struct gd_gdrun_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gd_gdrun_args_free(struct gd_gdrun_args *a);

/* Where a run's output goes and how it is stopped. The paths are copied. */
struct gd_gdrun_io {
  const char *out;     /* stdout, and stderr too when err is NULL */
  const char *err;     /* stderr apart, or NULL */
  const char *journal; /* the --json file, read when it ends; or NULL */
  /* Past the timeout: 0 sends SIGKILL at once; otherwise SIGTERM (a run
   * then aborts and still rolls back), and SIGKILL after this long. */
  int grace_ms;
};

struct gd_gdrun {
  pid_t pid;       /* while it runs; -1 when it did not start, 0 once reaped */
  int status;      /* exit status, 128+signal; -1 on timeout or no start */
  char *out;       /* what it wrote to io.out; NULL when unreadable */
  char *err;       /* what it wrote to io.err; NULL when not kept apart */
  cJSON *journal;  /* io.journal, parsed; NULL when missing or invalid */
  char out_file[4096], err_file[4096], journal_file[4096];
  int grace_ms;
};

/* Starts gd_test_bin("gameday") with args (may be NULL: none), stdin from
 * /dev/null and the output files truncated. Returns 0, or -1 when it could
 * not fork (r->pid and r->status are then -1). */
int gd_gdrun_start(struct gd_gdrun *r, char *const args[],
                   const struct gd_gdrun_io *io);
/* Waits up to timeout_ms, stopping it when that passes, then reads its
 * output and journal. Returns r->status. */
int gd_gdrun_wait(struct gd_gdrun *r, int timeout_ms);
/* Both. */
int gd_gdrun(struct gd_gdrun *r, char *const args[],
             const struct gd_gdrun_io *io, int timeout_ms);
/* Prints the exit status and the output: for when an expectation on the
 * run fails, the why is in there. */
void gd_gdrun_dump(const struct gd_gdrun *r);
void gd_gdrun_free(struct gd_gdrun *r);

/* Dotted path into a journal: "measurements.recovery_ms",
 * "actions.0.detail.targets.0.pid" (a number indexes an array). NULL when
 * absent. */
const cJSON *gd_jget(const cJSON *o, const char *path);
/* Its number, or NAN. */
double gd_jnum(const cJSON *o, const char *path);
/* Its string, or "" (never NULL: fit for string assertions). */
const char *gd_jstr(const cJSON *o, const char *path);
/* The first element of the array at path whose string member key is
 * value, or NULL: gd_jfind(j, "thresholds", "name", "writes.downtime_ms"),
 * gd_jfind(j, "actions", "phase", "fault"). */
const cJSON *gd_jfind(const cJSON *o, const char *path, const char *key,
                      const char *value);
/* The probe failed after t0 and ended healthy: its timeline
 * (probes.PROBE.timeline) has a "fail" span starting at or after t0 and
 * ends with an "ok" span. (Its own recovery_ms does not tell: it is the
 * first instant it had been ok for stable_for_ms, which can precede a
 * failure that shows late.) */
int gd_jfailed_then_recovered(const cJSON *j, const char *probe);

#endif

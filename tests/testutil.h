/* Helpers shared by the test programs (CUnit runner, files, processes). */
#ifndef GD_TESTUTIL_H
#define GD_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <sys/types.h>

struct gd_test {
  const char *name;
  void (*fn)(void);
};

/* Runs the NULL-terminated list as one CUnit suite (verbose basic
 * interface). Returns the process exit code: 0 when every test passed. */
int gd_test_run(const char *suite, const struct gd_test *tests);

/* Paths: a built program (GD_BIN_DIR, set by ctest) and a source file
 * (GD_SOURCE_DIR). Static buffers; copy if you need two at once. */
const char *gd_test_bin(const char *name);
const char *gd_test_src(const char *rel);
/* "../shared" next to the source tree, or NULL when absent (tests skip). */
const char *gd_test_shared(void);

/* A fresh directory under $TMPDIR (malloc'd path); removed by gd_test_rmrf. */
char *gd_test_tmpdir(void);
void gd_test_rmrf(const char *dir);
int gd_test_write_file(const char *path, const char *content);
/* malloc'd contents, NULL on error. */
char *gd_test_read_file(const char *path);

/* A listening TCP socket on 127.0.0.1 and a free port (close-on-exec,
 * SO_REUSEADDR), for the tests' own servers: the fd and *port, or -1 with
 * errno set. */
int gd_test_listen(int backlog, int *port);

/* Spawns argv (argv[0] a path) with stdout and stderr appended to log (may be
 * NULL: inherited). Returns the pid or -1. */
pid_t gd_test_spawn(char *const argv[], const char *log);
/* Waits for pid up to timeout_ms; returns its exit status (0-255), 128+signal
 * when killed, or -1 on timeout (the process is then left running). */
int gd_test_wait(pid_t pid, int timeout_ms);
/* SIGTERM, wait up to 5 s, then SIGKILL; by pid only. */
void gd_test_kill(pid_t pid);

/* Skipping: CUnit has no skip state, so a skipped test prints why and
 * returns; the message is kept visible in the log. */
#define GD_SKIP(why)                                                          \
  do {                                                                        \
    printf("\n    SKIPPED: %s ", (why));                                      \
    return;                                                                   \
  } while (0)

#endif

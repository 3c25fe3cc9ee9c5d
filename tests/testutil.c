#include "testutil.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int gd_test_run(const char *suite, const struct gd_test *tests) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite(suite, NULL, NULL);
  if (!s) return 1;
  for (const struct gd_test *t = tests; t->name; t++)
    if (!CU_add_test(s, t->name, t->fn)) return 1;
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_tests_failed();
  unsigned afailed = CU_get_number_of_failures();
  CU_cleanup_registry();
  return (failed || afailed) ? 1 : 0;
}

static const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

const char *gd_test_bin(const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", env_or("GD_BIN_DIR", "."), name);
  return buf;
}

const char *gd_test_src(const char *rel) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", env_or("GD_SOURCE_DIR", "."), rel);
  return buf;
}

const char *gd_test_shared(void) {
  static char buf[4096];
  const char *e = getenv("GD_SHARED_DIR");
  if (e && *e)
    snprintf(buf, sizeof buf, "%s", e);
  else
    snprintf(buf, sizeof buf, "%s/../shared", env_or("GD_SOURCE_DIR", "."));
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
  return buf;
}

char *gd_test_tmpdir(void) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s/gdtest.XXXXXX", env_or("TMPDIR", "/tmp"));
  if (!mkdtemp(buf)) return NULL;
  return strdup(buf);
}

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st; (void)flag; (void)ftw;
  return remove(p);
}

void gd_test_rmrf(const char *dir) {
  if (dir && *dir) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int gd_test_write_file(const char *path, const char *content) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  size_t n = strlen(content);
  int rc = fwrite(content, 1, n, f) == n ? 0 : -1;
  if (fclose(f) != 0) rc = -1;
  return rc;
}

char *gd_test_read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (n + 1 >= cap) {
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) { free(buf); fclose(f); return NULL; }
      buf = nb;
    }
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    if (r == 0) break;
    n += r;
  }
  buf[n] = 0;
  fclose(f);
  return buf;
}

/* Every child spawned here, so that one a failed test left behind (a fatal
 * assertion skips the test's own stop) is stopped when the program exits.
 * Only children not yet reaped are signalled: waitpid(WNOHANG) returning 0
 * proves the pid is still ours (it cannot be reused before it is reaped),
 * so nothing else can ever be hit. */
#define SPAWNED_MAX 256
static pid_t spawned[SPAWNED_MAX];
static size_t nspawned;

static void stop_leftovers(void) {
  for (size_t i = 0; i < nspawned; i++) {
    int st;
    if (spawned[i] <= 0 || waitpid(spawned[i], &st, WNOHANG) != 0) continue;
    fprintf(stderr, "testutil: stopping pid %ld, left running by a failed "
                    "test\n", (long)spawned[i]);
    kill(spawned[i], SIGKILL);
    waitpid(spawned[i], &st, 0);
  }
}

pid_t gd_test_spawn(char *const argv[], const char *log) {
  if (nspawned == 0) atexit(stop_leftovers);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (log) {
      int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
    }
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) { dup2(nul, 0); close(nul); }
    execv(argv[0], argv);
    _exit(127);
  }
  if (nspawned < SPAWNED_MAX) spawned[nspawned++] = pid;
  return pid;
}

int gd_test_wait(pid_t pid, int timeout_ms) {
  struct timespec ts = {0, 5 * 1000 * 1000};
  for (int waited = 0;; waited += 5) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
      return -1;
    }
    if (r < 0 && errno != EINTR) return -1;
    if (waited >= timeout_ms) return -1;
    nanosleep(&ts, NULL);
  }
}

void gd_test_kill(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  if (gd_test_wait(pid, 5000) < 0) {
    kill(pid, SIGKILL);
    gd_test_wait(pid, 5000);
  }
}

int gd_test_listen(int backlog, int *port) {
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(fd, backlog) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

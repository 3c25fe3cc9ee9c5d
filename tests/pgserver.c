/* The throwaway PostgreSQL server of pgserver.h. */
#include "pgserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A port nobody listens on right now (the kernel's choice). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
    port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

/* The account to run as: postgres when we are root, else ourselves. */
static int account(uid_t *uid, gid_t *gid, char *why, size_t n) {
  if (geteuid() != 0) {
    *uid = geteuid();
    *gid = getegid();
    return 0;
  }
  struct passwd *pw = getpwnam("postgres");
  if (!pw) {
    snprintf(why, n, "running as root and there is no 'postgres' account");
    return 1;
  }
  *uid = pw->pw_uid;
  *gid = pw->pw_gid;
  return 0;
}

/* fork + exec as the account; stdout and stderr to log. */
static pid_t spawn_as(uid_t uid, gid_t gid, const char *log,
                      char *const argv[]) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  if (geteuid() == 0) {
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
      _exit(126);
  }
  /* A test that dies must not leave a server behind: an immediate
   * shutdown when we go (set after setuid, which clears it). */
  prctl(PR_SET_PDEATHSIG, SIGQUIT);
  if (getppid() != parent)
    _exit(125);
  int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  int nul = open("/dev/null", O_RDONLY);
  if (nul >= 0) {
    dup2(nul, 0);
    close(nul);
  }
  execv(argv[0], argv);
  _exit(127);
}

static void log_tail(const char *log, char *why, size_t n) {
  char *text = gd_test_read_file(log);
  if (!text)
    return;
  size_t len = strlen(text), used = strlen(why);
  const char *tail = len > 600 ? text + len - 600 : text;
  snprintf(why + used, n - used, "; log: %s", tail);
  free(text);
}

static int launch(struct gd_pgserver *s, char *why, size_t n) {
  uid_t uid;
  gid_t gid;
  if (account(&uid, &gid, why, n))
    return -1;
  char port[16];
  snprintf(port, sizeof port, "%d", s->port);
  char *argv[8 + 2 * GD_PGSERVER_MAX_SETTINGS + 16];
  char cset[8][64];
  int k = 0;
  argv[k++] = GD_PGSERVER_BIN "/postgres";
  argv[k++] = "-D";
  argv[k++] = s->data;
  argv[k++] = "-p";
  argv[k++] = port;
  argv[k++] = "-k";
  argv[k++] = s->dir;
  /* Quick and small; fsync off is safe for a process crash (the page
   * cache survives it), synchronous_commit stays on so that an
   * acknowledged commit survives an immediate shutdown. */
  static const char *const base[] = {"listen_addresses=127.0.0.1",
                                     "fsync=off",
                                     "full_page_writes=off",
                                     "shared_buffers=16MB",
                                     "max_connections=40",
                                     "log_min_messages=warning",
                                     NULL};
  for (int i = 0; base[i]; i++) {
    snprintf(cset[i], sizeof cset[i], "%s", base[i]);
    argv[k++] = "-c";
    argv[k++] = cset[i];
  }
  for (int i = 0; i < s->nsettings; i++) {
    argv[k++] = "-c";
    argv[k++] = s->settings[i];
  }
  argv[k] = NULL;
  s->pid = spawn_as(uid, gid, s->log, argv);
  if (s->pid < 0) {
    s->pid = 0;
    snprintf(why, n, "cannot fork: %s", strerror(errno));
    return -1;
  }
  for (int waited = 0; waited < 30000; waited += 50) {
    char ci[300];
    snprintf(ci, sizeof ci, "%s connect_timeout=2", s->conninfo);
    if (PQping(ci) == PQPING_OK)
      return 0;
    int st;
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = 0;
      snprintf(why, n, "postgres exited at start");
      log_tail(s->log, why, n);
      return -1;
    }
    sleep_ms(50);
  }
  snprintf(why, n, "postgres did not accept connections within 30 s");
  log_tail(s->log, why, n);
  gd_pgserver_stop(s, SIGQUIT);
  return -1;
}

int gd_pgserver_start(struct gd_pgserver *s, const char *const *settings,
                      char *why, size_t n) {
  memset(s, 0, sizeof *s);
  why[0] = 0;
  struct stat st;
  if (stat(GD_PGSERVER_BIN "/initdb", &st) != 0 ||
      stat(GD_PGSERVER_BIN "/postgres", &st) != 0) {
    snprintf(why, n, "PostgreSQL 15 is not installed (no %s)", GD_PGSERVER_BIN);
    return 1;
  }
  uid_t uid;
  gid_t gid;
  if (account(&uid, &gid, why, n))
    return 1;
  for (int i = 0; settings && settings[i] && i < GD_PGSERVER_MAX_SETTINGS; i++)
    snprintf(s->settings[s->nsettings++], sizeof s->settings[0], "%s",
             settings[i]);
  /* Under /tmp, not $TMPDIR: the postgres account must reach it. */
  snprintf(s->dir, sizeof s->dir, "/tmp/gdpg.XXXXXX");
  if (!mkdtemp(s->dir)) {
    snprintf(why, n, "mkdtemp: %s", strerror(errno));
    return -1;
  }
  if (geteuid() == 0 && chown(s->dir, uid, gid) != 0) {
    snprintf(why, n, "chown %s: %s", s->dir, strerror(errno));
    gd_test_rmrf(s->dir);
    return -1;
  }
  snprintf(s->data, sizeof s->data, "%s/data", s->dir);
  snprintf(s->log, sizeof s->log, "%s/postgres.log", s->dir);
  char *initdb[] = {GD_PGSERVER_BIN "/initdb",
                    "-D",
                    s->data,
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    NULL};
  pid_t pid = spawn_as(uid, gid, s->log, initdb);
  int rc = pid > 0 ? gd_test_wait(pid, 60000) : -1;
  if (rc != 0) {
    if (pid > 0 && rc < 0) {
      kill(pid, SIGKILL);
      gd_test_wait(pid, 5000);
    }
    snprintf(why, n, "initdb failed (status %d)", rc);
    log_tail(s->log, why, n);
    gd_test_rmrf(s->dir);
    return -1;
  }
  /* The port is free now; the postmaster takes it a moment later. Another
   * process grabbing it in between shows as a failed start. */
  s->port = free_port();
  snprintf(s->conninfo, sizeof s->conninfo,
           "host=127.0.0.1 port=%d dbname=postgres user=postgres", s->port);
  if (launch(s, why, n) != 0) {
    gd_test_rmrf(s->dir);
    return -1;
  }
  return 0;
}

void gd_pgserver_signal(struct gd_pgserver *s, int sig) {
  if (s->pid > 0)
    kill(s->pid, sig);
}

void gd_pgserver_stop(struct gd_pgserver *s, int sig) {
  if (s->pid <= 0)
    return;
  kill(s->pid, sig);
  if (gd_test_wait(s->pid, 30000) < 0) {
    kill(s->pid, SIGKILL);
    gd_test_wait(s->pid, 5000);
  }
  s->pid = 0;
}

int gd_pgserver_restart(struct gd_pgserver *s, char *why, size_t n) {
  why[0] = 0;
  gd_pgserver_stop(s, SIGINT);
  return launch(s, why, n);
}

void gd_pgserver_destroy(struct gd_pgserver *s) {
  gd_pgserver_stop(s, SIGINT);
  if (s->dir[0])
    gd_test_rmrf(s->dir);
  s->dir[0] = 0;
}

static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

int gd_pgserver_sql(const struct gd_pgserver *s, const char *sql, char *out,
                    size_t n) {
  char ci[300];
  snprintf(ci, sizeof ci, "%s connect_timeout=5", s->conninfo);
  PGconn *c = PQconnectdb(ci);
  int rc = -1;
  out[0] = 0;
  if (PQstatus(c) != CONNECTION_OK) {
    snprintf(out, n, "%s", PQerrorMessage(c));
  } else {
    PQsetNoticeProcessor(c, quiet, NULL); /* "does not exist, skipping" */
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      rc = 0;
      if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
        snprintf(out, n, "%s", PQgetvalue(r, 0, 0));
    } else {
      snprintf(out, n, "%s", PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  PQfinish(c);
  return rc;
}

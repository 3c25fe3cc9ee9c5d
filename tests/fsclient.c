#include "fsclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define CTL_TIMEOUT_MS 5000

uint64_t gd_fs_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void print_log(const struct gd_fs *fs) {
  char path[4096];
  snprintf(path, sizeof path, "%s/faultserver.log", fs->dir);
  char *log = gd_test_read_file(path);
  fprintf(stderr, "\n--- faultserver log (%s) ---\n%s--- end ---\n", path,
          log ? log : "(none)\n");
  free(log);
}

int gd_fs_start(struct gd_fs *fs) {
  memset(fs, 0, sizeof *fs);
  fs->dir = gd_test_tmpdir();
  if (!fs->dir) return -1;
  char ports[4096], pidfile[4096], log[4096];
  snprintf(ports, sizeof ports, "%s/ports", fs->dir);
  snprintf(pidfile, sizeof pidfile, "%s/pid", fs->dir);
  snprintf(log, sizeof log, "%s/faultserver.log", fs->dir);
  char bin[4096];
  snprintf(bin, sizeof bin, "%s", gd_test_bin("faultserver"));
  char *argv[] = {bin, "--port-file", ports, "--pidfile", pidfile, NULL};
  fs->pid = gd_test_spawn(argv, log);
  if (fs->pid > 0) {
    struct timespec ts = {0, 5 * 1000 * 1000};
    for (int waited = 0; waited < 5000; waited += 5) {
      char *s = gd_test_read_file(ports);
      int n = s ? sscanf(s, "%d %d", &fs->port, &fs->ctl_port) : 0;
      free(s);
      if (n == 2 && fs->port > 0 && fs->ctl_port > 0) return 0;
      /* Exited already (bad build, port taken): no use waiting. */
      if (gd_test_wait(fs->pid, 0) >= 0) {
        fs->pid = 0;
        break;
      }
      nanosleep(&ts, NULL);
    }
  }
  fprintf(stderr, "faultserver did not start\n");
  print_log(fs);
  if (fs->pid > 0) gd_test_kill(fs->pid);
  gd_test_rmrf(fs->dir);
  free(fs->dir);
  memset(fs, 0, sizeof *fs);
  return -1;
}

int gd_fs_stop(struct gd_fs *fs) {
  if (!fs->dir) return -1;
  int status = -1;
  if (fs->pid > 0) {
    kill(fs->pid, SIGTERM);
    status = gd_test_wait(fs->pid, 5000);
    if (status < 0) {
      fprintf(stderr, "faultserver %d ignored SIGTERM; killing it\n",
              (int)fs->pid);
      kill(fs->pid, SIGKILL);
      gd_test_wait(fs->pid, 5000);
    }
  }
  if (status != 0) print_log(fs);
  gd_test_rmrf(fs->dir);
  free(fs->dir);
  memset(fs, 0, sizeof *fs);
  return status;
}

int gd_fs_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int gd_fs_send(int fd, const char *s) {
  size_t n = strlen(s);
  while (n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

/* 1 readable, 0 deadline passed, -errno. */
static int wait_readable(int fd, uint64_t deadline) {
  for (;;) {
    uint64_t now = gd_fs_now_ns();
    if (now >= deadline) return 0;
    int ms = (int)((deadline - now + 999999) / 1000000);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, ms);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return -errno;
  }
}

/* Reads exactly n bytes. 0, -EPIPE on EOF, -ETIMEDOUT, -errno. */
static int recv_exact(int fd, char *buf, size_t n, uint64_t deadline) {
  while (n) {
    int w = wait_readable(fd, deadline);
    if (w == 0) return -ETIMEDOUT;
    if (w < 0) return w;
    ssize_t r = recv(fd, buf, n, 0);
    if (r == 0) return -EPIPE;
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    buf += r;
    n -= (size_t)r;
  }
  return 0;
}

int gd_fs_recv_response(int fd, int timeout_ms, char **body) {
  if (body) *body = NULL;
  uint64_t deadline = gd_fs_now_ns() + (uint64_t)timeout_ms * 1000000u;
  char head[8192];
  size_t n = 0;
  /* Byte by byte, so nothing of a pipelined next answer is consumed. */
  for (;;) {
    if (n + 1 >= sizeof head) return -EPROTO;
    int rc = recv_exact(fd, head + n, 1, deadline);
    if (rc) return rc;
    n++;
    if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0) break;
  }
  head[n] = 0;
  int status;
  if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) return -EPROTO;
  long long clen = -1;
  for (char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n"))
    if (strncasecmp(l + 2, "content-length:", 15) == 0)
      clen = atoll(l + 17);
  if (status == 100) return gd_fs_recv_response(fd, timeout_ms, body);

  char *b = NULL;
  size_t blen = 0;
  if (clen >= 0) {
    b = malloc((size_t)clen + 1);
    if (!b) return -ENOMEM;
    int rc = recv_exact(fd, b, (size_t)clen, deadline);
    if (rc) {
      free(b);
      return rc;
    }
    blen = (size_t)clen;
  } else {
    /* No length: the body runs to the end of the connection. */
    size_t cap = 4096;
    b = malloc(cap);
    if (!b) return -ENOMEM;
    for (;;) {
      if (blen + 1 >= cap) {
        char *nb = realloc(b, cap *= 2);
        if (!nb) break;
        b = nb;
      }
      if (wait_readable(fd, deadline) != 1) break;
      ssize_t r = recv(fd, b + blen, cap - blen - 1, 0);
      if (r <= 0) break;
      blen += (size_t)r;
    }
  }
  b[blen] = 0;
  if (body)
    *body = b;
  else
    free(b);
  return status;
}

int gd_fs_wait_closed(int fd, int timeout_ms) {
  uint64_t deadline = gd_fs_now_ns() + (uint64_t)timeout_ms * 1000000u;
  for (;;) {
    int w = wait_readable(fd, deadline);
    if (w == 0) return -ETIMEDOUT;
    if (w < 0) return w;
    char ch;
    ssize_t r = recv(fd, &ch, 1, 0);
    if (r == 0) return 0;
    if (r > 0) return -EPROTO;
    if (errno != EINTR) return -errno;
  }
}

int gd_fs_http(int port, const char *method, const char *target,
               int timeout_ms, char **body) {
  if (body) *body = NULL;
  int fd = gd_fs_connect(port);
  if (fd < 0) return fd;
  char req[2048];
  snprintf(req, sizeof req,
           "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
           "Content-Length: 0\r\n\r\n",
           method, target, port);
  int rc = gd_fs_send(fd, req);
  if (rc == 0) rc = gd_fs_recv_response(fd, timeout_ms, body);
  close(fd);
  return rc;
}

/* A control request that must answer 200; *json (optional) parsed. */
static int control(struct gd_fs *fs, const char *method, const char *target,
                   cJSON **json) {
  char *body = NULL;
  int st = gd_fs_http(fs->ctl_port, method, target, CTL_TIMEOUT_MS, &body);
  if (st != 200) {
    fprintf(stderr, "faultserver: %s %s -> %d %s\n", method, target, st,
            body ? body : "");
    free(body);
    return -1;
  }
  int rc = 0;
  if (json) {
    *json = cJSON_Parse(body);
    if (!*json) {
      fprintf(stderr, "faultserver: %s %s: not JSON: %s\n", method, target,
              body);
      rc = -1;
    }
  }
  free(body);
  return rc;
}

int gd_fs_fault(struct gd_fs *fs, const char *mode, int after_ms, int for_ms) {
  char target[256];
  snprintf(target, sizeof target, "/fault?mode=%s&after_ms=%d&for_ms=%d", mode,
           after_ms, for_ms);
  cJSON *j = NULL;
  if (control(fs, "POST", target, &j) != 0) return -1;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
  int rc = cJSON_IsNumber(id) ? (int)id->valuedouble : -1;
  cJSON_Delete(j);
  return rc;
}

int gd_fs_reset(struct gd_fs *fs) {
  return control(fs, "POST", "/reset", NULL);
}

int gd_fs_windows(struct gd_fs *fs, cJSON **out) {
  *out = NULL;
  if (control(fs, "GET", "/faults", out) != 0) return -1;
  if (!cJSON_IsArray(*out)) {
    cJSON_Delete(*out);
    *out = NULL;
    return -1;
  }
  return 0;
}

int gd_fs_stats(struct gd_fs *fs, cJSON **out) {
  *out = NULL;
  return control(fs, "GET", "/stats", out);
}

long long gd_fs_stat(struct gd_fs *fs, const char *name) {
  cJSON *j;
  if (gd_fs_stats(fs, &j) != 0) return -1;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
  long long rc = cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
  cJSON_Delete(j);
  return rc;
}

static uint64_t ns_field(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  /* Doubles hold integers exactly up to 2^53 ns, about 104 days of uptime. */
  return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble
                                                 : 0;
}

int gd_fs_window(struct gd_fs *fs, int id, struct gd_fs_window *w) {
  memset(w, 0, sizeof *w);
  cJSON *arr;
  if (gd_fs_windows(fs, &arr) != 0) return -1;
  int rc = -1;
  const cJSON *o;
  cJSON_ArrayForEach(o, arr) {
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!cJSON_IsNumber(jid) || (int)jid->valuedouble != id) continue;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(o, "mode");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(o, "state");
    const cJSON *failed = cJSON_GetObjectItemCaseSensitive(o, "requests_failed");
    w->id = id;
    if (cJSON_IsString(mode))
      snprintf(w->mode, sizeof w->mode, "%s", mode->valuestring);
    if (cJSON_IsString(state))
      snprintf(w->state, sizeof w->state, "%s", state->valuestring);
    w->planned_start_ns = ns_field(o, "planned_start_ns");
    w->planned_end_ns = ns_field(o, "planned_end_ns");
    w->start_ns = ns_field(o, "start_ns");
    w->end_ns = ns_field(o, "end_ns");
    w->requests_failed =
        cJSON_IsNumber(failed) ? (long long)failed->valuedouble : -1;
    rc = 0;
    break;
  }
  cJSON_Delete(arr);
  return rc;
}

#define _GNU_SOURCE /* memmem, strcasestr */
#include "awsmeta.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct gd_awsmeta_conn {
  int fd;
  size_t len;
  char buf[8192];
};

#define CRED_PREFIX "/latest/meta-data/iam/security-credentials/"

void gd_awsmeta_key(char *buf, size_t n, const char *kind, const char *what,
                    unsigned serial) {
  if (strcmp(what, "akid") == 0)
    snprintf(buf, n, "ASIA%sTEST%u", strcmp(kind, "imds") == 0 ? "IMDS" : "CONT",
             serial);
  else
    snprintf(buf, n, "%s-%s-%u-VERYSECRET", kind, what, serial);
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static void answer(int fd, int status, const char *ctype, const char *body) {
  char head[256];
  size_t blen = strlen(body);
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   status, ctype, blen);
  write_all(fd, head, (size_t)n);
  write_all(fd, body, blen);
}

/* The value of header name (with its colon) in the request head, or "". */
static void header(const char *head, const char *name, char *out, size_t n) {
  char pat[96];
  out[0] = 0;
  snprintf(pat, sizeof pat, "\r\n%s", name);
  const char *h = strcasestr(head, pat);
  if (!h) return;
  h += strlen(pat);
  while (*h == ' ') h++;
  size_t k = strcspn(h, "\r\n");
  if (k >= n) k = n - 1;
  memcpy(out, h, k);
  out[k] = 0;
}

static void creds_json(struct gd_awsmeta *m, const char *kind, char *out,
                       size_t n) {
  char akid[64], secret[64], token[64], exp[32];
  unsigned s = ++m->serial;
  gd_awsmeta_key(akid, sizeof akid, kind, "akid", s);
  gd_awsmeta_key(secret, sizeof secret, kind, "secret", s);
  gd_awsmeta_key(token, sizeof token, kind, "token", s);
  time_t t = time(NULL) + m->expires_in;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(exp, sizeof exp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (m->garbage)
    snprintf(out, n, "<html>%s %s</html>", akid, secret);
  else
    snprintf(out, n,
             "{\"Code\":\"Success\",\"LastUpdated\":\"2024-01-01T00:00:00Z\","
             "\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"%s\","
             "\"SecretAccessKey\":\"%s\",\"Token\":\"%s\","
             "\"Expiration\":\"%s\"}",
             akid, secret, token, exp);
}

/* IMDS: a GET needs a token of the current generation, or v1 allowed. */
static int token_ok(struct gd_awsmeta *m, const char *head) {
  char tok[128];
  header(head, "X-aws-ec2-metadata-token:", tok, sizeof tok);
  if (!tok[0]) return m->v1_allowed;
  unsigned gen, k;
  return sscanf(tok, "tok-%u-%u", &gen, &k) == 2 && gen == m->token_gen;
}

static void route(struct gd_awsmeta *m, int fd, const char *head) {
  char method[16], path[512], body[1024];
  if (sscanf(head, "%15s %511s", method, path) != 2) {
    answer(fd, 400, "text/plain", "bad request\n");
    return;
  }
  pthread_mutex_lock(&m->mu);
  if (m->hang) {
    pthread_mutex_unlock(&m->mu);
    return;
  }
  int status = 200;
  const char *ctype = "text/plain";
  if (strcmp(path, "/latest/api/token") == 0) {
    atomic_fetch_add(&m->token_puts, 1);
    header(head, "X-aws-ec2-metadata-token-ttl-seconds:", m->last_ttl,
           sizeof m->last_ttl);
    long ttl = atol(m->last_ttl);
    if (strcmp(method, "PUT") != 0) {
      status = 405;
      snprintf(body, sizeof body, "method not allowed\n");
    } else if (m->token_status) {
      status = m->token_status;
      snprintf(body, sizeof body, "no\n");
    } else if (ttl < 1 || ttl > 21600) {
      status = 400;
      snprintf(body, sizeof body, "bad ttl\n");
    } else {
      snprintf(body, sizeof body, "tok-%u-%u", m->token_gen,
               atomic_load(&m->token_puts));
    }
  } else if (strncmp(path, CRED_PREFIX, sizeof CRED_PREFIX - 1) == 0) {
    const char *role = path + sizeof CRED_PREFIX - 1;
    if (!*role)
      atomic_fetch_add(&m->role_gets, 1);
    else
      atomic_fetch_add(&m->cred_gets, 1);
    if (strcmp(method, "GET") != 0) {
      status = 405;
      snprintf(body, sizeof body, "method not allowed\n");
    } else if (!token_ok(m, head)) {
      atomic_fetch_add(&m->unauthorized, 1);
      status = 401;
      snprintf(body, sizeof body, "unauthorized\n");
    } else if (!*role) {
      snprintf(body, sizeof body, "%s\n", m->role);
    } else if (strcmp(role, m->role) != 0) {
      status = 404;
      snprintf(body, sizeof body, "not found\n");
    } else if (m->cred_status) {
      status = m->cred_status;
      snprintf(body, sizeof body, "failing\n");
    } else {
      ctype = "application/json";
      creds_json(m, "imds", body, sizeof body);
    }
  } else if (strcmp(path, m->container_path) == 0) {
    atomic_fetch_add(&m->container_gets, 1);
    header(head, "Authorization:", m->last_auth, sizeof m->last_auth);
    if (m->container_auth[0] && strcmp(m->last_auth, m->container_auth) != 0) {
      atomic_fetch_add(&m->unauthorized, 1);
      status = 401;
      snprintf(body, sizeof body, "{\"code\":\"Unauthorized\"}");
    } else if (m->cred_status) {
      status = m->cred_status;
      snprintf(body, sizeof body, "failing\n");
    } else {
      ctype = "application/json";
      creds_json(m, "cont", body, sizeof body);
    }
  } else {
    status = 404;
    snprintf(body, sizeof body, "not found\n");
  }
  pthread_mutex_unlock(&m->mu);
  answer(fd, status, ctype, body);
}

static void serve(struct gd_awsmeta *m, struct gd_awsmeta_conn *c) {
  for (;;) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return;
    size_t hlen = (size_t)(end + 4 - c->buf);
    size_t clen = 0;
    *end = 0;
    char *cl = strcasestr(c->buf, "\r\ncontent-length:");
    if (cl) clen = strtoul(cl + 17, NULL, 10);
    if (c->len < hlen + clen) {
      *end = '\r';
      return;
    }
    atomic_fetch_add(&m->requests, 1);
    route(m, c->fd, c->buf);
    memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
    c->len -= hlen + clen;
  }
}

static void *meta_main(void *arg) {
  struct gd_awsmeta *m = arg;
  struct pollfd fds[GD_AWSMETA_CONNS + 2];
  int idx[GD_AWSMETA_CONNS + 2];
  for (;;) {
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = m->wake[0], .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = m->lfd, .events = POLLIN};
    for (int i = 0; i < GD_AWSMETA_CONNS; i++)
      if (m->conns[i].fd >= 0) {
        idx[n] = i;
        fds[n++] = (struct pollfd){.fd = m->conns[i].fd, .events = POLLIN};
      }
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      int fd = accept(m->lfd, NULL, NULL);
      if (fd >= 0) {
        int i = 0;
        while (i < GD_AWSMETA_CONNS && m->conns[i].fd >= 0) i++;
        if (i == GD_AWSMETA_CONNS) {
          close(fd);
        } else {
          m->conns[i].fd = fd;
          m->conns[i].len = 0;
        }
      }
    }
    for (nfds_t j = 2; j < n; j++) {
      if (!fds[j].revents) continue;
      struct gd_awsmeta_conn *c = &m->conns[idx[j]];
      if (c->len == sizeof c->buf) c->len = 0;
      ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
      if (r <= 0) {
        close(c->fd);
        c->fd = -1;
        continue;
      }
      c->len += (size_t)r;
      serve(m, c);
    }
  }
  return NULL;
}

int gd_awsmeta_start(struct gd_awsmeta *m) {
  memset(m, 0, sizeof *m);
  m->lfd = m->wake[0] = m->wake[1] = -1;
  snprintf(m->role, sizeof m->role, "gameday-test-role");
  snprintf(m->container_path, sizeof m->container_path,
           "/v2/credentials/test");
  m->expires_in = 3600;
  pthread_mutex_init(&m->mu, NULL);
  m->conns = calloc(GD_AWSMETA_CONNS, sizeof *m->conns);
  if (!m->conns) goto fail;
  for (int i = 0; i < GD_AWSMETA_CONNS; i++) m->conns[i].fd = -1;
  m->lfd = gd_test_listen(64, &m->port);
  if (m->lfd < 0 || pipe(m->wake) != 0) goto fail;
  snprintf(m->base, sizeof m->base, "http://127.0.0.1:%d", m->port);
  if (pthread_create(&m->th, NULL, meta_main, m) == 0) return 0;
fail:
  if (m->lfd >= 0) close(m->lfd);
  if (m->wake[0] >= 0) close(m->wake[0]);
  if (m->wake[1] >= 0) close(m->wake[1]);
  free(m->conns);
  m->conns = NULL;
  pthread_mutex_destroy(&m->mu);
  return -1;
}

void gd_awsmeta_stop(struct gd_awsmeta *m) {
  char b = 0;
  if (write(m->wake[1], &b, 1) != 1) return;
  pthread_join(m->th, NULL);
  for (int i = 0; i < GD_AWSMETA_CONNS; i++)
    if (m->conns[i].fd >= 0) close(m->conns[i].fd);
  free(m->conns);
  close(m->lfd);
  close(m->wake[0]);
  close(m->wake[1]);
  pthread_mutex_destroy(&m->mu);
}

/* ------------------------------------------------------------------ */
/* Environment */

extern char **environ;

#define SAVED_MAX 128

static char *saved[SAVED_MAX]; /* "NAME=value" */
static size_t nsaved;
static char *saved_home;
static int have_home;

static void unset_aws(void) {
  char names[SAVED_MAX][128];
  size_t n = 0;
  for (char **e = environ; *e && n < SAVED_MAX; e++) {
    if (strncmp(*e, "AWS_", 4) != 0) continue;
    size_t k = strcspn(*e, "=");
    if (k >= sizeof names[0]) continue;
    memcpy(names[n], *e, k);
    names[n++][k] = 0;
  }
  for (size_t i = 0; i < n; i++) unsetenv(names[i]);
}

void gd_awsenv_begin(const char *home) {
  nsaved = 0;
  for (char **e = environ; *e && nsaved < SAVED_MAX; e++)
    if (strncmp(*e, "AWS_", 4) == 0) saved[nsaved++] = strdup(*e);
  const char *h = getenv("HOME");
  have_home = h != NULL;
  saved_home = h ? strdup(h) : NULL;
  unset_aws();
  setenv("HOME", home, 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

void gd_awsenv_end(void) {
  unset_aws();
  for (size_t i = 0; i < nsaved; i++) {
    char *eq = saved[i] ? strchr(saved[i], '=') : NULL;
    if (eq) {
      *eq = 0;
      setenv(saved[i], eq + 1, 1);
    }
    free(saved[i]);
  }
  nsaved = 0;
  if (have_home)
    setenv("HOME", saved_home, 1);
  else
    unsetenv("HOME");
  free(saved_home);
  saved_home = NULL;
}

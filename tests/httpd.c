#define _GNU_SOURCE /* memmem, strcasestr */
#include "httpd.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Enough for every connection the tests open at once (parallel transfers,
 * hung samples that are not reused). */
#define HTTPD_CONNS 256

struct gd_httpd_conn {
  int fd;
  size_t len;
  char buf[8192];
};

static void conn_drop(struct gd_httpd *sv, struct gd_httpd_conn *c) {
  close(c->fd);
  c->fd = -1;
  c->len = 0;
  atomic_fetch_sub(&sv->open, 1);
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

/* Serves every complete request in c's buffer; 0 when c was closed. */
static int serve(struct gd_httpd *sv, struct gd_httpd_conn *c) {
  if (c->len > 0 && (unsigned char)c->buf[0] == 0x16) { /* a TLS hello */
    static const char plain[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    write_all(c->fd, plain, sizeof plain - 1);
    conn_drop(sv, c);
    return 0;
  }
  for (;;) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return 1;
    size_t hlen = (size_t)(end + 4 - c->buf);
    size_t clen = 0;
    *end = 0;
    char *cl = strcasestr(c->buf, "\r\ncontent-length:");
    if (cl) clen = strtoul(cl + 17, NULL, 10);
    *end = '\r';
    if (c->len < hlen + clen) return 1;
    atomic_fetch_add(&sv->requests, 1);
    pthread_mutex_lock(&sv->mu);
    size_t k = hlen + clen < sizeof sv->last - 1 ? hlen + clen : sizeof sv->last - 1;
    memcpy(sv->last, c->buf, k);
    sv->last[k] = 0;
    pthread_mutex_unlock(&sv->mu);
    memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
    c->len -= hlen + clen;
    int mode = atomic_load(&sv->mode);
    if (mode == GD_HTTPD_CLOSE) {
      conn_drop(sv, c);
      return 0;
    }
    if (mode == GD_HTTPD_HANG) continue;
    char head[256];
    const char *body = sv->body ? sv->body : "ok\n";
    size_t blen = strlen(body);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     atomic_load(&sv->status), blen);
    if (blen < 512) { /* one write, as a real server would */
      char resp[768];
      memcpy(resp, head, (size_t)n);
      memcpy(resp + n, body, blen);
      write_all(c->fd, resp, (size_t)n + blen);
    } else {
      write_all(c->fd, head, (size_t)n);
      write_all(c->fd, body, blen);
    }
  }
}

static void *httpd_main(void *arg) {
  struct gd_httpd *sv = arg;
  struct pollfd fds[HTTPD_CONNS + 2];
  int idx[HTTPD_CONNS + 2];
  for (;;) {
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = sv->wake[0], .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = sv->lfd, .events = POLLIN};
    for (int i = 0; i < HTTPD_CONNS; i++)
      if (sv->conns[i].fd >= 0) {
        idx[n] = i;
        fds[n++] = (struct pollfd){.fd = sv->conns[i].fd, .events = POLLIN};
      }
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      int fd = accept(sv->lfd, NULL, NULL);
      if (fd >= 0) {
        atomic_fetch_add(&sv->accepts, 1);
        int i = 0;
        while (i < HTTPD_CONNS && sv->conns[i].fd >= 0) i++;
        if (i == HTTPD_CONNS) {
          close(fd);
        } else {
          sv->conns[i].fd = fd;
          sv->conns[i].len = 0;
          unsigned o = atomic_fetch_add(&sv->open, 1) + 1;
          if (o > atomic_load(&sv->max_open)) atomic_store(&sv->max_open, o);
        }
      }
    }
    for (nfds_t j = 2; j < n; j++) {
      if (!fds[j].revents) continue;
      struct gd_httpd_conn *c = &sv->conns[idx[j]];
      if (c->len == sizeof c->buf) c->len = 0; /* runaway: forget it */
      ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
      if (r <= 0) {
        conn_drop(sv, c);
        continue;
      }
      c->len += (size_t)r;
      serve(sv, c);
    }
  }
  return NULL;
}

int gd_httpd_start(struct gd_httpd *sv, enum gd_httpd_mode mode, int status,
                   const char *body) {
  memset(sv, 0, sizeof *sv);
  sv->lfd = sv->wake[0] = sv->wake[1] = -1;
  atomic_store(&sv->mode, (int)mode);
  atomic_store(&sv->status, status);
  sv->body = body;
  pthread_mutex_init(&sv->mu, NULL);
  sv->conns = calloc(HTTPD_CONNS, sizeof *sv->conns);
  if (!sv->conns) goto fail;
  for (int i = 0; i < HTTPD_CONNS; i++) sv->conns[i].fd = -1;
  sv->lfd = gd_test_listen(512, &sv->port);
  if (sv->lfd < 0 || pipe(sv->wake) != 0) goto fail;
  if (pthread_create(&sv->th, NULL, httpd_main, sv) == 0) return 0;
fail:
  /* Nothing left behind: a test that fails here goes on to the next. */
  if (sv->lfd >= 0) close(sv->lfd);
  if (sv->wake[0] >= 0) close(sv->wake[0]);
  if (sv->wake[1] >= 0) close(sv->wake[1]);
  free(sv->conns);
  sv->conns = NULL;
  pthread_mutex_destroy(&sv->mu);
  return -1;
}

void gd_httpd_stop(struct gd_httpd *sv) {
  char b = 0;
  if (write(sv->wake[1], &b, 1) != 1) return;
  pthread_join(sv->th, NULL);
  for (int i = 0; i < HTTPD_CONNS; i++)
    if (sv->conns[i].fd >= 0) close(sv->conns[i].fd);
  free(sv->conns);
  close(sv->lfd);
  close(sv->wake[0]);
  close(sv->wake[1]);
  pthread_mutex_destroy(&sv->mu);
}

int gd_httpd_closed_port(void) {
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(sa.sin_port);
}

/* A small HTTP/1.1 server for tests, on a thread of its own (so that it and
 * the loop under test use both cores): loopback, port 0, keep-alive,
 * Content-Length bodies. It counts accepts and requests, remembers the last
 * request, and can answer with any status, hang (read and never answer),
 * close the connection on a request, or answer a TLS hello with plain text
 * (so that https to it fails in the handshake). */
#ifndef GD_HTTPD_H
#define GD_HTTPD_H

#include <pthread.h>
#include <stdatomic.h>

enum gd_httpd_mode {
  GD_HTTPD_ANSWER, /* status, Content-Type: text/plain, the body */
  GD_HTTPD_HANG,   /* count the request, never answer */
  GD_HTTPD_CLOSE,  /* count the request, close without an answer */
};

struct gd_httpd_conn;

struct gd_httpd {
  int port;
  /* Read with atomic_load while the server runs. open is the number of
   * connections open now, max_open the most there ever were at once. */
  atomic_uint accepts, requests, open, max_open;
  pthread_mutex_t mu;
  char last[2048]; /* last request, headers and body (cut), under mu */

  /* The server's own. */
  int lfd;
  int wake[2];
  pthread_t th;
  atomic_int mode;
  atomic_int status;
  const char *body;
  struct gd_httpd_conn *conns;
};

/* Starts the server on a free loopback port (sv->port). body is answered
 * as is and must outlive the server; NULL answers "ok\n". Returns 0 or -1. */
int gd_httpd_start(struct gd_httpd *sv, enum gd_httpd_mode mode, int status,
                   const char *body);
/* Stops the thread, closes every connection and frees what start took. */
void gd_httpd_stop(struct gd_httpd *sv);

/* A loopback port nobody listens on (bound, then closed), or -1. */
int gd_httpd_closed_port(void);

#endif

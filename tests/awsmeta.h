/* A stand-in for the EC2 instance metadata service (IMDSv2 and v1) and the
 * container credentials endpoint, for the credential-chain tests: loopback,
 * a free port, its own thread. It checks what the real ones check (the TTL
 * header on the token PUT, the session token on every GET, the
 * Authorization header of the container endpoint) and answers credentials
 * whose keys carry a serial number, so a test can tell a refresh from a
 * cached answer.
 *
 * Also: the environment of a credential test (a temporary HOME, no AWS_*
 * variable from outside, IMDS disabled so nothing can leave the machine),
 * restored afterwards. */
#ifndef GD_AWSMETA_H
#define GD_AWSMETA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#define GD_AWSMETA_CONNS 32

struct gd_awsmeta_conn;

struct gd_awsmeta {
  int port;
  char base[64]; /* "http://127.0.0.1:PORT" */

  /* What was asked (read with atomic_load). */
  atomic_uint token_puts, role_gets, cred_gets, container_gets, unauthorized,
      requests;

  /* Behaviour: set before start or under mu. */
  pthread_mutex_t mu;
  char role[64];            /* default "gameday-test-role" */
  char container_path[128]; /* default "/v2/credentials/test" */
  char container_auth[256]; /* required Authorization; "" none */
  int token_status;         /* answer the token PUT with this (0: a token) */
  int v1_allowed;           /* GETs without a token are served */
  int cred_status;          /* answer credential GETs with this (0: 200) */
  int hang;                 /* read requests, never answer */
  int garbage;              /* credentials answer is not JSON */
  long expires_in;          /* Expiration = now + this (default 3600 s) */
  unsigned token_gen;       /* bump to make issued tokens stale (401) */
  char last_ttl[32];        /* TTL header of the last PUT */
  char last_auth[256];      /* Authorization of the last container GET */
  unsigned serial;          /* credentials answered so far */

  /* The server's own. */
  int lfd;
  int wake[2];
  pthread_t th;
  struct gd_awsmeta_conn *conns;
};

/* Fills defaults, then starts on a free loopback port. 0 or -1. */
int gd_awsmeta_start(struct gd_awsmeta *m);
void gd_awsmeta_stop(struct gd_awsmeta *m);

/* The keys of serial n as the server hands them out, for assertions:
 * kind "imds" or "cont", what "akid", "secret" or "token". */
void gd_awsmeta_key(char *buf, size_t n, const char *kind, const char *what,
                    unsigned serial);

/* Saves and clears every AWS_* variable and HOME, sets HOME=home and
 * AWS_EC2_METADATA_DISABLED=true (a test that wants IMDS points
 * AWS_EC2_METADATA_SERVICE_ENDPOINT at a gd_awsmeta and unsets it). */
void gd_awsenv_begin(const char *home);
/* Puts back what gd_awsenv_begin saved. */
void gd_awsenv_end(void);

#endif

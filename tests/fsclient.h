/* Test-side helpers for faultserver (tests/servers/faultserver.c): start it,
 * schedule fault windows through its control port, read them back, stop it.
 * Plain blocking sockets: test programs are not on a loop. */
#ifndef GD_FSCLIENT_H
#define GD_FSCLIENT_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/types.h>

struct gd_fs {
  pid_t pid;
  int port;       /* service port (the one faults apply to) */
  int ctl_port;   /* control port, never faulted */
  char *dir;      /* temp dir: port file, pidfile, faultserver.log */
};

/* Spawns gd_test_bin("faultserver") on free ports and waits up to 5 s for
 * its port file. Returns 0, or -1 (its log is then printed, nothing is left
 * running and fs is zeroed). fs->dir/pid is its pidfile. */
int gd_fs_start(struct gd_fs *fs);
/* SIGTERM by pid and wait up to 5 s (then SIGKILL). Returns the exit status
 * (0 for a clean exit; 128+signal when killed; -1 when it had to be killed
 * or was not running), prints the log unless 0, and removes fs->dir. */
int gd_fs_stop(struct gd_fs *fs);

/* POST /fault?mode=MODE&after_ms=A&for_ms=W. Returns the window id (> 0),
 * or -1. */
int gd_fs_fault(struct gd_fs *fs, const char *mode, int after_ms, int for_ms);
/* POST /reset: ends every window now. 0 or -1. */
int gd_fs_reset(struct gd_fs *fs);
/* GET /faults and GET /stats, parsed; *out is the caller's (cJSON_Delete).
 * 0 or -1. */
int gd_fs_windows(struct gd_fs *fs, cJSON **out);
int gd_fs_stats(struct gd_fs *fs, cJSON **out);
/* One counter of GET /stats ("requests", "fault_requests", ...), or -1. */
long long gd_fs_stat(struct gd_fs *fs, const char *name);

/* One window of GET /faults. Times are uv_hrtime() ns (CLOCK_MONOTONIC);
 * start_ns/end_ns are the actual instants, 0 while not (yet) happened. */
struct gd_fs_window {
  int id;
  char mode[16];
  char state[16];   /* pending, active, ended, cancelled */
  uint64_t planned_start_ns, planned_end_ns;
  uint64_t start_ns, end_ns;
  long long requests_failed;
};
/* Fills *w for window id. 0, or -1 when absent or unreadable. */
int gd_fs_window(struct gd_fs *fs, int id, struct gd_fs_window *w);

/* CLOCK_MONOTONIC in ns: the clock of uv_hrtime(), faultserver and the
 * gameday journal's t0_monotonic_ns. */
uint64_t gd_fs_now_ns(void);

/* One request on a fresh connection to 127.0.0.1:port with
 * "Connection: close". Returns the HTTP status, or -errno: -ECONNREFUSED,
 * -ECONNRESET (RST), -EPIPE (closed without an answer), -ETIMEDOUT, -EPROTO
 * (not HTTP). *body (optional) gets the malloc'd body, or NULL. */
int gd_fs_http(int port, const char *method, const char *target,
               int timeout_ms, char **body);

/* A connected blocking socket to 127.0.0.1:port, or -errno. */
int gd_fs_connect(int port);
/* Sends all of s. 0 or -errno. */
int gd_fs_send(int fd, const char *s);
/* Reads exactly one response (head, then Content-Length bytes) and nothing
 * of the next, so pipelined answers can be read one by one. Returns the
 * status, or -errno as gd_fs_http (-EPIPE: orderly close before any byte).
 * *body (optional) as gd_fs_http. */
int gd_fs_recv_response(int fd, int timeout_ms, char **body);
/* Waits up to timeout_ms for the peer to close fd. Returns 0 on an orderly
 * close, -ECONNRESET on a reset, -ETIMEDOUT when still open, -EPROTO when
 * data arrived instead. */
int gd_fs_wait_closed(int fd, int timeout_ms);

#endif

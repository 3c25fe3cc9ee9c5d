/* gameday: probes. A probe samples one thing at a fixed rate. The ops table
 * is the kind (harness/probes/<kind>.c, one file each, listed in the static
 * table of harness/probe.c); struct gd_probe is the instance.
 *
 * Scheduling is generic (harness/probe.c): sample k starts at
 * start + k*interval (absolute deadlines, no drift); each sample has its own
 * timeout timer; at most max_inflight samples are outstanding and a deadline
 * that finds every slot busy, or that passed while the loop was busy, counts
 * as a skipped sample. Results are committed to the timeline in sample-start
 * order, even when samples finish out of order. */
#ifndef GAMEDAY_PROBE_H
#define GAMEDAY_PROBE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gameday/error.h"
#include "gameday/measure.h"

struct gd_curl;
struct gd_probe;

/* Why a sample failed (or GD_SAMPLE_OK). Names: gd_sample_class_name(). */
enum gd_sample_class {
  GD_SAMPLE_OK = 0,
  GD_SAMPLE_REFUSED,  /* "refused": connection refused */
  GD_SAMPLE_TIMEOUT,  /* "timeout": no answer within timeout_ms */
  GD_SAMPLE_STATUS,   /* "status": unexpected HTTP status */
  GD_SAMPLE_MISMATCH, /* "mismatch": body or value not as expected */
  GD_SAMPLE_DNS,      /* "dns": name did not resolve */
  GD_SAMPLE_CONNECT,  /* "connect": other connection failure (unreachable) */
  GD_SAMPLE_TLS,      /* "tls": handshake or certificate failure */
  GD_SAMPLE_PROTOCOL, /* "protocol": reset, empty reply, malformed answer */
  GD_SAMPLE_EXIT,     /* "exit": unexpected exit status or signal */
  GD_SAMPLE_ERROR,    /* "error": anything else (could not start, ...) */
  GD_SAMPLE_CLASS_MAX
};
const char *gd_sample_class_name(enum gd_sample_class c);

/* One outstanding-sample slot. A probe has max_inflight of them, allocated
 * once; `data` is the kind's per-slot state (e.g. a CURL easy handle), kept
 * between samples and released by ops->free. */
struct gd_sample {
  struct gd_probe *probe;
  void *data;            /* the kind's, may be NULL */
  uint64_t seq;          /* k */
  uint64_t deadline_ns;  /* start + k*interval */
  uint64_t start_ns;     /* actual start (uv_hrtime) */
  /* private to probe.c */
  uv_timer_t timer;
  int state;
  int timed_out;
  uint64_t pos;          /* position of this sample in the commit FIFO */
  double value;
  int has_value;
  char *text;            /* gd_sample_set_text, malloc'd */
};

/* The result handed to observers, in sample-start order. */
struct gd_sample_result {
  uint64_t seq;
  uint64_t start_ns, end_ns;
  enum gd_sample_class cls;
  int has_value;
  double value;
  const char *detail; /* valid during the callback only; "" when none */
};

struct gd_probe_ops {
  const char *type;            /* "http", "tcp", ... */
  const char *const *keys;     /* the kind's own top-level keys, NULL-ended;
                                  type, interval_ms, timeout_ms and
                                  max_inflight are checked generically */
  const char *const *figures;  /* extra figure names it can produce (for
                                  thresholds), NULL-ended, may be NULL */
  /* Load time, no loop: validate spec (all of it: unknown nested keys are
   * errors too) and set p->ctx. */
  int (*init)(struct gd_probe *p, const cJSON *spec, const char *path,
              struct gd_error *err);
  /* One line for `plan`: "GET http://127.0.0.1:8080/health expect 200". */
  void (*describe)(const struct gd_probe *p, char *buf, size_t n);
  /* Optional. Run time, on p->loop, before the first sample. */
  int (*start)(struct gd_probe *p, struct gd_error *err);
  /* Begin one sample; end it with gd_sample_done() exactly once (may be from
   * within this call). A non-zero return records a failed sample of class
   * "error" with err's message and gd_sample_done must not be called. */
  int (*sample)(struct gd_probe *p, struct gd_sample *s, struct gd_error *err);
  /* Abort an outstanding sample (its timeout passed, or the run stops);
   * gd_sample_done still follows, possibly from within this call. The kind
   * must hold no open uv handle for the slot once it has called done. */
  void (*cancel)(struct gd_probe *p, struct gd_sample *s);
  /* Optional. After the last sample: release long-lived loop resources and
   * call done(p) once, from a close callback or directly. */
  void (*stop)(struct gd_probe *p, void (*done)(struct gd_probe *p));
  /* Optional. Verify phase (e.g. write-ledger reconciliation): async, calls
   * cb exactly once when it returns 0; may add figures with
   * gd_probe_add_figure. Returns GD_PROBE_NOTHING_TO_VERIFY (no callback, no
   * check recorded) when this instance has nothing to verify (a postgres
   * probe in query mode), or a negative GD_E* code (no callback). */
  int (*verify)(struct gd_probe *p, void (*cb)(struct gd_probe *p, int ok,
                                               const char *msg),
                struct gd_error *err);
  /* Free ctx and every slot's data. No loop calls. */
  void (*free)(struct gd_probe *p);
};

#define GD_PROBE_NOTHING_TO_VERIFY 1

const struct gd_probe_ops *gd_probe_kind(const char *type);
/* NULL-terminated list of all kinds (for --help and error messages). */
const struct gd_probe_ops *const *gd_probe_kinds(void);
/* The kinds' names, comma-separated, into buf (returned). */
const char *gd_probe_kind_names(char *buf, size_t n);

typedef void (*gd_probe_result_cb)(struct gd_probe *p,
                                   const struct gd_sample_result *r, void *arg);

#define GD_PROBE_MAX_FIGURES 8
struct gd_probe_figure {
  char name[48];
  double value;
};

/* Per-phase latency histograms (of ok samples). */
enum gd_phase_hist { GD_HIST_BASELINE, GD_HIST_FAULT, GD_HIST_AFTER, GD_HIST_N };

struct gd_probe {
  const struct gd_probe_ops *ops;
  void *ctx;                 /* the kind's */
  char *name;                /* key in "probes" */
  char *path;                /* "probes.NAME" */
  /* common configuration */
  uint64_t interval_ns;
  uint64_t timeout_ns;
  unsigned max_inflight;     /* default 1 */

  /* run time; loop and curl are set before ops->start */
  uint64_t t0_ns;             /* the run's t0 once the fault has started
                                 (set by the driver), else 0 */
  uv_loop_t *loop;
  struct gd_curl *curl;
  gd_probe_result_cb on_result;
  void *on_result_arg;

  /* statistics, owned by probe.c */
  uint64_t samples, ok, failed, skipped;
  uint64_t class_count[GD_SAMPLE_CLASS_MAX];
  struct gd_timeline timeline;
  struct gd_hist *latency;    /* GD_HIST_N histograms, allocated at start */
  struct gd_hist *streak;     /* ok latencies since the current ok streak began */
  struct gd_hist *lateness;   /* actual start - deadline */
  int hist_phase;             /* enum gd_phase_hist */
  int last_ok;                /* outcome of the last committed sample, -1 none */
  uint64_t last_start_ns;     /* start of the last committed sample */
  uint64_t streak_start_ns;   /* first_start of the current run of outcomes */
  char last_detail[160];      /* detail of the last failed sample */
  struct gd_probe_figure figures[GD_PROBE_MAX_FIGURES];
  unsigned nfigures;

  /* The result of the last ok sample (gd_sample_set_text and _value), for
   * capture and compare: result_start_ns is that sample's start, 0 none. */
  char *result_text;
  int result_has_value;
  double result_value;
  uint64_t result_start_ns;
  /* Capture (a verify step compares against it): taken by the driver at t0
   * from the result above. */
  int capture;                /* set by the loader: some action reads it */
  int want_text;              /* keep what ok samples read (capture, and
                                 check's findings); off, kinds skip building
                                 it, so a plain probe pays nothing */
  int has_capture;
  char *captured_text;        /* NULL when the kind gave no text */
  int captured_has_value;
  double captured_value;
  uint64_t captured_start_ns; /* start of the sample it came from */

  /* private to probe.c */
  struct gd_sample *slots;
  unsigned inflight;
  uv_poll_t tick;             /* on tick_fd: a timerfd armed at absolute
                                 deadlines (uv timers are ms-granular) */
  int tick_fd;
  uint64_t start_ns;          /* deadline of sample 0 */
  uint64_t next_seq;
  struct gd_pending *ring;    /* commit FIFO of started samples */
  size_t ring_cap;
  uint64_t ring_head, ring_tail; /* positions; [head, tail) wait */
  int running, stopping, closing, deferring;
  unsigned open_handles;
  void (*stop_cb)(struct gd_probe *p, void *arg);
  void *stop_arg;
};

/* Load time: build a probe from its JSON (generic keys, then ops->init). */
int gd_probe_init(struct gd_probe *p, const char *name, const cJSON *spec,
                  const char *path, struct gd_error *err);
void gd_probe_free(struct gd_probe *p);

/* Run time: allocate slots, call ops->start and schedule sample 0 now. */
int gd_probe_start(struct gd_probe *p, uv_loop_t *loop, struct gd_curl *curl,
                   struct gd_error *err);
/* Stop scheduling, cancel what is outstanding, close handles; cb(p, arg) once
 * all of the probe's handles are closed. */
void gd_probe_stop(struct gd_probe *p,
                   void (*cb)(struct gd_probe *p, void *arg), void *arg);
/* Switch the histogram that ok latencies go to, and split the timeline so
 * that counts divide exactly at the boundary. */
void gd_probe_set_phase(struct gd_probe *p, int phase);

/* Kinds: finish a sample. detail is printf-style, may be NULL. */
void gd_sample_done(struct gd_sample *s, enum gd_sample_class cls,
                    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Kinds: attach a numeric reading (queue depth, lag) before gd_sample_done. */
void gd_sample_set_value(struct gd_sample *s, double v);
/* Kinds: attach what an ok sample read (a body, query rows, a command's
 * output), before gd_sample_done, so that it can be captured before the
 * fault and compared after (the `compare` action). Kept up to
 * GD_SAMPLE_TEXT_MAX bytes. */
#define GD_SAMPLE_TEXT_MAX (64 * 1024)
void gd_sample_set_text(struct gd_sample *s, const char *text, size_t len);
/* Whether anything reads the text (p->want_text): a kind that has to
 * build it (query rows) asks first. gd_sample_set_text ignores the text
 * when nothing does. */
int gd_sample_wants_text(const struct gd_sample *s);
/* Driver: copy the last ok result into the capture; -1 when there is none
 * (the probe never had an ok sample). */
int gd_probe_capture(struct gd_probe *p);

/* Kinds: publish a figure (e.g. lost_writes) for the journal and thresholds;
 * the same name from several probes is summed. */
void gd_probe_add_figure(struct gd_probe *p, const char *name, double v);

#endif

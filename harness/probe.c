/* gameday: the generic probe: common keys, fixed-rate scheduling with
 * absolute deadlines, per-sample timeouts, max_inflight, skipped samples,
 * and in-order commit of results to the timeline and histograms.
 *
 * Samples may finish out of order (a hung one overtaken by quick ones), but
 * the figures are defined on sample *start* order, so results wait in a FIFO
 * of started samples and are committed from its head. The FIFO is bounded:
 * a sample is settled at the latest when its timeout fires, so at most
 * timeout/interval + max_inflight samples can be waiting. */
#include "gameday/probe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "gameday/json.h"

enum { SLOT_IDLE, SLOT_RUNNING, SLOT_TIMEDOUT };
enum { ENTRY_PENDING, ENTRY_DONE, ENTRY_DROPPED };

struct gd_pending {
  uint64_t seq;
  uint64_t start, end;
  double value;
  uint8_t state;
  uint8_t cls;
  uint8_t has_value;
  /* Most details are short ("status 503 (expected 200)") and live here; a
   * longer one (a check's finding listing every violation it saw, up to
   * GD_SAMPLE_DETAIL_MAX) goes to the heap, so that the ring of a fast
   * probe stays small. */
  char detail[88];
  char *long_detail;
  char *text; /* the sample's text, handed over from the slot */
};

/* Longest sample detail kept. */
#define GD_SAMPLE_DETAIL_MAX 512

static const char *entry_detail(const struct gd_pending *e) {
  return e->long_detail ? e->long_detail : e->detail;
}

static void entry_release(struct gd_pending *e) {
  free(e->text);
  e->text = NULL;
  free(e->long_detail);
  e->long_detail = NULL;
}

static const char *const class_names[GD_SAMPLE_CLASS_MAX] = {
    "ok",      "refused",  "timeout", "status", "mismatch", "dns",
    "connect", "tls",      "protocol", "exit",  "error",
};

const char *gd_sample_class_name(enum gd_sample_class c) {
  return (unsigned)c < GD_SAMPLE_CLASS_MAX ? class_names[c] : "error";
}

static const char *const generic_keys[] = {"type", "interval_ms", "timeout_ms",
                                           "max_inflight", NULL};

int gd_probe_init(struct gd_probe *p, const char *name, const cJSON *spec,
                  const char *path, struct gd_error *err) {
  memset(p, 0, sizeof *p);
  p->last_ok = -1;
  if (!cJSON_IsObject(spec))
    return gd_error_set(err, GD_EINVAL, "%s: must be an object", path);
  const char *type = NULL;
  int rc = gd_json_get_string(spec, "type", path, 1, &type, err);
  if (rc) return rc;
  const struct gd_probe_ops *ops = gd_probe_kind(type);
  if (!ops || !ops->init) {
    char known[GD_ERROR_MAX];
    return gd_error_set(err, GD_EINVAL, "%s.type: unknown probe type '%s' (known: %s)",
                        path, type, gd_probe_kind_names(known, sizeof known));
  }
  rc = gd_json_check_keys(spec, path, generic_keys, ops->keys, err);
  if (rc) return rc;
  rc = gd_json_get_ms(spec, "interval_ms", path, 1, 1, &p->interval_ns, err);
  if (rc) return rc;
  rc = gd_json_get_ms(spec, "timeout_ms", path, 1, 1, &p->timeout_ns, err);
  if (rc) return rc;
  long long inflight = 1;
  rc = gd_json_get_int(spec, "max_inflight", path, 0, 1, 1024, &inflight, err);
  if (rc) return rc;
  p->max_inflight = (unsigned)inflight;
  p->name = strdup(name);
  p->path = strdup(path);
  if (!p->name || !p->path) {
    gd_probe_free(p);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  gd_timeline_init(&p->timeline);
  p->ops = ops;
  rc = ops->init(p, spec, path, err);
  if (rc) {
    p->ops = NULL;
    gd_probe_free(p);
    return rc;
  }
  return 0;
}

void gd_probe_free(struct gd_probe *p) {
  if (!p) return;
  if (p->ops && p->ops->free) p->ops->free(p);
  free(p->name);
  free(p->path);
  gd_timeline_free(&p->timeline);
  free(p->latency); /* streak and lateness live in the same block */
  for (unsigned i = 0; p->slots && i < p->max_inflight; i++) free(p->slots[i].text);
  for (size_t i = 0; p->ring && i < p->ring_cap; i++) entry_release(&p->ring[i]);
  free(p->slots);
  free(p->ring);
  free(p->result_text);
  free(p->captured_text);
  memset(p, 0, sizeof *p);
}

/* ---- run time ---------------------------------------------------------- */

static void tick_cb(uv_poll_t *h, int status, int events);
static void arm_at(struct gd_probe *p, uint64_t deadline);
static void slot_timeout_cb(uv_timer_t *t);
static void commit_ready(struct gd_probe *p);

static uint64_t ns_to_ms_ceil(uint64_t ns) {
  return (ns + 999999u) / 1000000u;
}

/* Undoes the allocations of gd_probe_start when it fails half-way. */
static void release_runtime(struct gd_probe *p) {
  free(p->ring);
  free(p->slots);
  free(p->latency);
  p->ring = NULL;
  p->slots = NULL;
  p->latency = p->streak = p->lateness = NULL;
}

int gd_probe_start(struct gd_probe *p, uv_loop_t *loop, struct gd_curl *curl,
                   struct gd_error *err) {
  if (p->running || p->slots)
    return gd_error_set(err, GD_ESTATE, "%s: already started", p->path);
  p->loop = loop;
  p->curl = curl;
  /* Bound of waiting results, see the comment at the top. */
  uint64_t cap = p->timeout_ns / p->interval_ns + p->max_inflight + 4;
  if (cap < 16) cap = 16;
  if (cap > 65536) cap = 65536;
  p->ring_cap = (size_t)cap;
  p->ring = calloc(p->ring_cap, sizeof *p->ring);
  p->slots = calloc(p->max_inflight, sizeof *p->slots);
  p->latency = calloc(GD_HIST_N + 2, sizeof *p->latency);
  if (!p->ring || !p->slots || !p->latency) {
    release_runtime(p);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p->path);
  }
  p->streak = p->latency + GD_HIST_N;
  p->lateness = p->latency + GD_HIST_N + 1;
  for (int i = 0; i < GD_HIST_N + 2; i++) gd_hist_reset(&p->latency[i]);
  p->hist_phase = GD_HIST_BASELINE;
  p->last_ok = -1;
  p->ring_head = p->ring_tail = 0;
  p->inflight = 0;
  p->stopping = p->closing = p->deferring = 0;
  p->open_handles = 0;
  if (p->ops->start) {
    int rc = p->ops->start(p, err);
    if (rc) {
      release_runtime(p);
      return rc;
    }
  }
  p->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (p->tick_fd < 0 || uv_poll_init(loop, &p->tick, p->tick_fd) != 0) {
    if (p->tick_fd >= 0) close(p->tick_fd);
    p->tick_fd = -1;
    release_runtime(p);
    return gd_error_set(err, GD_EIO, "%s: cannot create a timer", p->path);
  }
  p->tick.data = p;
  p->open_handles++;
  for (unsigned i = 0; i < p->max_inflight; i++) {
    struct gd_sample *s = &p->slots[i];
    s->probe = p;
    s->state = SLOT_IDLE;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    p->open_handles++;
  }
  p->running = 1;
  p->start_ns = uv_hrtime();
  p->next_seq = 0;
  uv_poll_start(&p->tick, UV_READABLE, tick_cb);
  arm_at(p, p->start_ns);
  return 0;
}

static struct gd_pending *entry_at(struct gd_probe *p, uint64_t pos) {
  return &p->ring[pos % p->ring_cap];
}

static void record(struct gd_probe *p, struct gd_sample *s, uint64_t end,
                   enum gd_sample_class cls, const char *detail) {
  struct gd_pending *e = entry_at(p, s->pos);
  if (e->state != ENTRY_PENDING || e->seq != s->seq) return;
  e->end = end;
  e->cls = (uint8_t)cls;
  e->has_value = (uint8_t)s->has_value;
  e->value = s->value;
  entry_release(e);
  e->text = s->text;
  s->text = NULL;
  if (!detail) detail = "";
  if (strlen(detail) < sizeof e->detail || !(e->long_detail = strdup(detail)))
    snprintf(e->detail, sizeof e->detail, "%s", detail);
  else
    e->detail[0] = 0;
  e->state = p->stopping ? ENTRY_DROPPED : ENTRY_DONE;
}

static void start_sample(struct gd_probe *p, uint64_t seq, uint64_t deadline,
                         uint64_t now) {
  struct gd_sample *s = NULL;
  if (p->inflight < p->max_inflight && p->ring_tail - p->ring_head < p->ring_cap)
    for (unsigned i = 0; i < p->max_inflight; i++)
      if (p->slots[i].state == SLOT_IDLE) {
        s = &p->slots[i];
        break;
      }
  if (!s) {
    p->skipped++;
    return;
  }
  gd_hist_add(p->lateness, now - deadline);
  s->seq = seq;
  s->deadline_ns = deadline;
  s->start_ns = now;
  s->state = SLOT_RUNNING;
  s->timed_out = 0;
  s->has_value = 0;
  s->value = 0;
  free(s->text);
  s->text = NULL;
  s->pos = p->ring_tail++;
  struct gd_pending *e = entry_at(p, s->pos);
  e->seq = seq;
  e->start = now;
  e->state = ENTRY_PENDING;
  p->inflight++;
  uv_timer_start(&s->timer, slot_timeout_cb, ns_to_ms_ceil(p->timeout_ns), 0);
  struct gd_error err = {0};
  int rc = p->ops->sample(p, s, &err);
  if (rc && s->state == SLOT_RUNNING) {
    uv_timer_stop(&s->timer);
    record(p, s, uv_hrtime(), GD_SAMPLE_ERROR,
           err.msg[0] ? err.msg : gd_strerror(rc));
    s->state = SLOT_IDLE;
    p->inflight--;
    commit_ready(p);
  }
}

/* uv_hrtime() is CLOCK_MONOTONIC, so deadlines arm the timerfd as they are:
 * libuv timers have millisecond resolution, which at a 1 ms interval means
 * either spinning through the last fraction of each millisecond or missing
 * deadlines. */
static void arm_at(struct gd_probe *p, uint64_t deadline) {
  if (deadline == 0) deadline = 1; /* 0 would disarm */
  struct itimerspec its = {
      .it_value = {.tv_sec = (time_t)(deadline / 1000000000u),
                   .tv_nsec = (long)(deadline % 1000000000u)}};
  timerfd_settime(p->tick_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void tick_cb(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  struct gd_probe *p = h->data;
  uint64_t expirations;
  while (read(p->tick_fd, &expirations, sizeof expirations) > 0) {
  }
  if (!p->running) return;
  uint64_t now = uv_hrtime();
  uint64_t deadline = p->start_ns + p->next_seq * p->interval_ns;
  if (now >= deadline) {
    /* Deadlines that passed while the loop was busy are skipped, not
     * bunched up: fixed rate, never a burst. */
    uint64_t k = (now - p->start_ns) / p->interval_ns;
    if (k > p->next_seq) p->skipped += k - p->next_seq;
    deadline = p->start_ns + k * p->interval_ns;
    p->next_seq = k + 1;
    start_sample(p, k, deadline, now);
    if (!p->running) return;
  }
  arm_at(p, p->start_ns + p->next_seq * p->interval_ns);
}

static void slot_timeout_cb(uv_timer_t *t) {
  struct gd_sample *s = t->data;
  struct gd_probe *p = s->probe;
  if (s->state != SLOT_RUNNING) return;
  s->state = SLOT_TIMEDOUT;
  s->timed_out = 1;
  char detail[64];
  snprintf(detail, sizeof detail, "no answer within %llu ms",
           (unsigned long long)(p->timeout_ns / 1000000u));
  record(p, s, s->start_ns + p->timeout_ns, GD_SAMPLE_TIMEOUT, detail);
  commit_ready(p);
  p->ops->cancel(p, s); /* gd_sample_done follows, maybe right here */
}

static void maybe_finish_stop(struct gd_probe *p);

void gd_sample_set_value(struct gd_sample *s, double v) {
  s->value = v;
  s->has_value = 1;
}

int gd_sample_wants_text(const struct gd_sample *s) {
  return s->probe->want_text;
}

void gd_sample_set_text(struct gd_sample *s, const char *text, size_t len) {
  if (!s->probe->want_text) return;
  if (len > GD_SAMPLE_TEXT_MAX) len = GD_SAMPLE_TEXT_MAX;
  char *t = malloc(len + 1);
  if (!t) return; /* a result without text, not a failed sample */
  memcpy(t, text, len);
  t[len] = 0;
  free(s->text);
  s->text = t;
}

int gd_probe_capture(struct gd_probe *p) {
  if (!p->result_start_ns) return -1;
  free(p->captured_text);
  p->captured_text = p->result_text ? strdup(p->result_text) : NULL;
  p->captured_has_value = p->result_has_value;
  p->captured_value = p->result_value;
  p->captured_start_ns = p->result_start_ns;
  p->has_capture = 1;
  return 0;
}

void gd_sample_done(struct gd_sample *s, enum gd_sample_class cls,
                    const char *fmt, ...) {
  struct gd_probe *p = s->probe;
  if (s->state == SLOT_IDLE) return; /* a kind calling twice is ignored */
  if (s->state == SLOT_RUNNING) {
    uint64_t end = uv_hrtime();
    uv_timer_stop(&s->timer);
    char detail[GD_SAMPLE_DETAIL_MAX] = "";
    if (fmt) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(detail, sizeof detail, fmt, ap);
      va_end(ap);
    }
    record(p, s, end, cls, detail);
  }
  s->state = SLOT_IDLE;
  p->inflight--;
  commit_ready(p);
  maybe_finish_stop(p);
}

static void commit(struct gd_probe *p, struct gd_pending *e) {
  int ok = e->cls == GD_SAMPLE_OK;
  p->samples++;
  if (ok)
    p->ok++;
  else
    p->failed++;
  p->class_count[e->cls < GD_SAMPLE_CLASS_MAX ? e->cls : GD_SAMPLE_ERROR]++;
  gd_timeline_add(&p->timeline, e->start, e->end, ok);
  if (p->last_ok != ok) p->streak_start_ns = e->start;
  p->last_ok = ok;
  p->last_start_ns = e->start;
  if (ok) {
    free(p->result_text);
    p->result_text = e->text;
    e->text = NULL;
    p->result_has_value = e->has_value;
    p->result_value = e->value;
    p->result_start_ns = e->start;
  }
  if (ok) {
    uint64_t lat = e->end - e->start;
    /* In the fault phase, latencies of the current ok streak are held apart:
     * if the streak proves to be the recovery, they belong to "after". */
    if (p->hist_phase == GD_HIST_FAULT)
      gd_hist_add(p->streak, lat);
    else
      gd_hist_add(&p->latency[p->hist_phase], lat);
  } else {
    /* Kinds write details that name the failure ("status 503 (expected
     * 200)"); the class name is the fallback. */
    const char *detail = entry_detail(e);
    snprintf(p->last_detail, sizeof p->last_detail, "%s",
             detail[0] ? detail : gd_sample_class_name((enum gd_sample_class)e->cls));
    if (p->hist_phase == GD_HIST_FAULT && p->streak->count) {
      gd_hist_merge(&p->latency[GD_HIST_FAULT], p->streak);
      gd_hist_reset(p->streak);
    }
  }
  if (p->on_result) {
    struct gd_sample_result r = {
        .seq = e->seq,
        .start_ns = e->start,
        .end_ns = e->end,
        .cls = (enum gd_sample_class)e->cls,
        .has_value = e->has_value,
        .value = e->value,
        .detail = entry_detail(e),
    };
    p->on_result(p, &r, p->on_result_arg);
  }
}

static void commit_ready(struct gd_probe *p) {
  while (p->ring_head < p->ring_tail) {
    struct gd_pending *e = entry_at(p, p->ring_head);
    if (e->state == ENTRY_PENDING) break;
    p->ring_head++;
    if (e->state == ENTRY_DONE) commit(p, e);
    entry_release(e);
  }
}

void gd_probe_set_phase(struct gd_probe *p, int phase) {
  if (!p->latency || phase == p->hist_phase) return;
  if (p->hist_phase == GD_HIST_FAULT) {
    /* Leaving the fault phase: the ok streak that ends it is the recovery
     * streak and goes to the next phase. */
    gd_hist_merge(&p->latency[phase], p->streak);
    gd_hist_reset(p->streak);
  }
  if (phase == GD_HIST_FAULT) gd_hist_reset(p->streak);
  p->hist_phase = phase;
  gd_timeline_split(&p->timeline);
}

static void handle_closed(uv_handle_t *h) {
  struct gd_probe *p = h->data;
  if (h == (uv_handle_t *)&p->tick && p->tick_fd >= 0) {
    close(p->tick_fd); /* after libuv has stopped watching it */
    p->tick_fd = -1;
  }
  if (--p->open_handles == 0) {
    p->closing = 0;
    void (*cb)(struct gd_probe *, void *) = p->stop_cb;
    p->stop_cb = NULL;
    if (cb) cb(p, p->stop_arg);
  }
}

static void kind_stopped(struct gd_probe *p) {
  uv_close((uv_handle_t *)&p->tick, handle_closed);
  for (unsigned i = 0; i < p->max_inflight; i++) {
    p->slots[i].timer.data = p; /* every handle now points at its owner */
    uv_close((uv_handle_t *)&p->slots[i].timer, handle_closed);
  }
}

static void maybe_finish_stop(struct gd_probe *p) {
  if (!p->stopping || p->closing || p->deferring || p->inflight) return;
  p->closing = 1;
  /* A streak still held when the run ends without recovery was fault time. */
  if (p->hist_phase == GD_HIST_FAULT && p->streak->count) {
    gd_hist_merge(&p->latency[GD_HIST_FAULT], p->streak);
    gd_hist_reset(p->streak);
  }
  if (p->ops->stop)
    p->ops->stop(p, kind_stopped);
  else
    kind_stopped(p);
}

void gd_probe_stop(struct gd_probe *p,
                   void (*cb)(struct gd_probe *p, void *arg), void *arg) {
  if (!p->running) {
    if (cb) cb(p, arg);
    return;
  }
  p->running = 0;
  p->stopping = 1;
  p->stop_cb = cb;
  p->stop_arg = arg;
  uv_poll_stop(&p->tick);
  /* Results of samples still outstanding are dropped: they would describe
   * the stack after the run ended. */
  for (uint64_t pos = p->ring_head; pos < p->ring_tail; pos++)
    if (entry_at(p, pos)->state == ENTRY_PENDING)
      entry_at(p, pos)->state = ENTRY_DROPPED;
  commit_ready(p);
  p->deferring = 1;
  for (unsigned i = 0; i < p->max_inflight; i++) {
    struct gd_sample *s = &p->slots[i];
    if (s->state == SLOT_RUNNING) {
      uv_timer_stop(&s->timer);
      s->state = SLOT_TIMEDOUT;
      p->ops->cancel(p, s);
    }
  }
  p->deferring = 0;
  maybe_finish_stop(p);
}

void gd_probe_add_figure(struct gd_probe *p, const char *name, double v) {
  for (unsigned i = 0; i < p->nfigures; i++)
    if (strcmp(p->figures[i].name, name) == 0) {
      p->figures[i].value = v;
      return;
    }
  if (p->nfigures == GD_PROBE_MAX_FIGURES) return;
  snprintf(p->figures[p->nfigures].name, sizeof p->figures[0].name, "%s", name);
  p->figures[p->nfigures].value = v;
  p->nfigures++;
}

/* The generic probe scheduler: absolute deadlines (no drift), per-sample
 * timeouts, max_inflight, skipped samples, in-order commit, clean stop. The
 * probe kinds here are test kinds built on the real ops interface. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "gameday/probe.h"
#include "testutil.h"

#define MS 1000000ull

/* ---- test kinds ---------------------------------------------------------- */

struct delayed {
  uv_timer_t timer;
  struct gd_sample *s;
  int cancelled;
};

static unsigned max_seen_inflight, cur_inflight;
static int fail_every; /* the delayed kind fails sample k when k % fail_every == 1 */

/* instant: answers at once, ok */
static int instant_sample(struct gd_probe *p, struct gd_sample *s, struct gd_error *e) {
  (void)p; (void)e;
  gd_sample_done(s, GD_SAMPLE_OK, NULL);
  return 0;
}
static void noop_cancel(struct gd_probe *p, struct gd_sample *s) { (void)p; (void)s; }
static const struct gd_probe_ops instant_ops = {
    .type = "instant", .sample = instant_sample, .cancel = noop_cancel};

/* delayed: answers after (seq % 2 ? 1 : 15) ms, or never (hang) */
static int hang_mode;

static void delayed_closed(uv_handle_t *h) {
  struct delayed *d = h->data;
  struct gd_sample *s = d->s;
  int fail = fail_every && s->seq % (unsigned)fail_every == 1;
  cur_inflight--;
  free(d);
  gd_sample_done(s, fail ? GD_SAMPLE_STATUS : GD_SAMPLE_OK, fail ? "status 503" : NULL);
}
static void delayed_fire(uv_timer_t *t) { uv_close((uv_handle_t *)t, delayed_closed); }
static int delayed_sample(struct gd_probe *p, struct gd_sample *s, struct gd_error *e) {
  (void)e;
  struct delayed *d = calloc(1, sizeof *d);
  d->s = s;
  s->data = d;
  uv_timer_init(p->loop, &d->timer);
  d->timer.data = d;
  if (++cur_inflight > max_seen_inflight) max_seen_inflight = cur_inflight;
  if (!hang_mode) uv_timer_start(&d->timer, delayed_fire, s->seq % 2 ? 1 : 15, 0);
  return 0;
}
static void delayed_cancel(struct gd_probe *p, struct gd_sample *s) {
  (void)p;
  struct delayed *d = s->data;
  if (!d || uv_is_closing((uv_handle_t *)&d->timer)) return;
  uv_timer_stop(&d->timer);
  uv_close((uv_handle_t *)&d->timer, delayed_closed);
}
static const struct gd_probe_ops delayed_ops = {
    .type = "delayed", .sample = delayed_sample, .cancel = delayed_cancel};

/* failing to start */
static int broken_sample(struct gd_probe *p, struct gd_sample *s, struct gd_error *e) {
  (void)p; (void)s;
  return gd_error_set(e, GD_EIO, "cannot run 'x': no such file");
}
static const struct gd_probe_ops broken_ops = {
    .type = "broken", .sample = broken_sample, .cancel = noop_cancel};

/* ---- harness ------------------------------------------------------------ */

struct obs {
  uint64_t want, got;
  uint64_t last_seq;
  int order_ok;
  int first;
  double lateness_sum_ms;
  uint64_t classes[GD_SAMPLE_CLASS_MAX];
  char detail[128];
};

static void stopped(struct gd_probe *p, void *arg) { (void)p; (void)arg; }

static void on_result(struct gd_probe *p, const struct gd_sample_result *r, void *arg) {
  struct obs *o = arg;
  if (!o->first && r->seq <= o->last_seq) o->order_ok = 0;
  o->first = 0;
  o->last_seq = r->seq;
  o->got++;
  o->classes[r->cls]++;
  o->lateness_sum_ms += (double)(r->start_ns - (p->start_ns + r->seq * p->interval_ns)) / 1e6;
  if (r->cls != GD_SAMPLE_OK) snprintf(o->detail, sizeof o->detail, "%s", r->detail);
  if (o->got == o->want) gd_probe_stop(p, stopped, NULL);
}

static void run_probe(const struct gd_probe_ops *ops, uint64_t interval_ms,
                      uint64_t timeout_ms, unsigned inflight, struct obs *o,
                      struct gd_probe *p) {
  uv_loop_t loop;
  CU_ASSERT_FATAL(uv_loop_init(&loop) == 0);
  memset(p, 0, sizeof *p);
  p->ops = ops;
  p->name = "t";
  p->path = "probes.t";
  p->interval_ns = interval_ms * MS;
  p->timeout_ns = timeout_ms * MS;
  p->max_inflight = inflight;
  gd_timeline_init(&p->timeline);
  p->on_result = on_result;
  p->on_result_arg = o;
  o->order_ok = 1;
  o->first = 1;
  struct gd_error err = {0};
  CU_ASSERT_FATAL(gd_probe_start(p, &loop, NULL, &err) == 0);
  CU_ASSERT_EQUAL(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
}

static void release(struct gd_probe *p) {
  p->name = p->path = NULL;
  gd_probe_free(p);
}

static void test_no_drift(void) {
  /* 10 000 samples at 1 ms: sample k must start at start + k ms, so the
   * last sequence number tracks wall time; a relative-delay scheduler would
   * fall behind by the cost of every sample. */
  struct obs o = {.want = 10000};
  struct gd_probe p;
  uint64_t t_begin = uv_hrtime();
  run_probe(&instant_ops, 1, 100, 1, &o, &p);
  uint64_t elapsed_ms = (uv_hrtime() - t_begin) / MS;
  CU_ASSERT_TRUE(o.order_ok);
  CU_ASSERT_EQUAL(o.got, 10000);
  CU_ASSERT_EQUAL(p.samples + p.skipped, o.last_seq + 1);
  /* every deadline accounted for: committed or skipped, and the sequence
   * number matches elapsed time to within a few ms */
  CU_ASSERT(o.last_seq + 1 >= elapsed_ms - 5 && o.last_seq + 1 <= elapsed_ms + 5);
  double mean_late = o.lateness_sum_ms / (double)o.got;
  printf("\n    10000 samples at 1 ms: %llu ms elapsed, %llu skipped, mean lateness %.3f ms, "
         "lateness p99 %.3f ms ",
         (unsigned long long)elapsed_ms, (unsigned long long)p.skipped, mean_late,
         gd_hist_quantile_ms(p.lateness, 0.99));
  /* Lateness is a performance figure (bench/scale.sh measures it); here a
   * loose bound only catches a scheduler that waits a whole tick too long. */
  CU_ASSERT(mean_late < 5.0);
  CU_ASSERT_EQUAL(p.timeline.n, 1);
  release(&p);
}

static void test_out_of_order_commit(void) {
  /* even samples take 15 ms, odd ones 1 ms: results arrive out of order but
   * are committed in start order */
  struct obs o = {.want = 60};
  struct gd_probe p;
  fail_every = 3;
  hang_mode = 0;
  max_seen_inflight = 0;
  run_probe(&delayed_ops, 5, 100, 4, &o, &p);
  fail_every = 0;
  CU_ASSERT_TRUE(o.order_ok);
  CU_ASSERT_EQUAL(o.got, 60);
  CU_ASSERT(max_seen_inflight <= 4);
  CU_ASSERT(max_seen_inflight >= 2);
  CU_ASSERT(o.classes[GD_SAMPLE_STATUS] > 0);
  CU_ASSERT_EQUAL(p.class_count[GD_SAMPLE_STATUS], o.classes[GD_SAMPLE_STATUS]);
  CU_ASSERT(p.timeline.n > 10); /* alternating outcomes */
  release(&p);
}

static void test_timeouts_and_skips(void) {
  /* samples hang: each times out after 35 ms; with 2 in flight at a 10 ms
   * interval, deadlines find both slots busy and count as skipped */
  struct obs o = {.want = 20};
  struct gd_probe p;
  hang_mode = 1;
  max_seen_inflight = 0;
  run_probe(&delayed_ops, 10, 35, 2, &o, &p);
  hang_mode = 0;
  CU_ASSERT_EQUAL(o.classes[GD_SAMPLE_TIMEOUT], 20);
  CU_ASSERT_STRING_EQUAL(o.detail, "no answer within 35 ms");
  CU_ASSERT(max_seen_inflight <= 2);
  CU_ASSERT(p.skipped >= 10);
  /* a timed-out sample ends exactly timeout after its start */
  CU_ASSERT_EQUAL(p.timeline.spans[0].last_end - p.timeline.spans[0].last_start, 35 * MS);
  CU_ASSERT_TRUE(o.order_ok);
  release(&p);
}

static void test_start_error_recorded(void) {
  struct obs o = {.want = 5};
  struct gd_probe p;
  run_probe(&broken_ops, 2, 100, 1, &o, &p);
  CU_ASSERT_EQUAL(o.classes[GD_SAMPLE_ERROR], 5);
  CU_ASSERT_STRING_EQUAL(o.detail, "cannot run 'x': no such file");
  CU_ASSERT_STRING_EQUAL(p.last_detail, "cannot run 'x': no such file");
  release(&p);
}

static void test_phases(void) {
  /* latencies of ok samples go to the phase's histogram; the timeline is
   * split at a phase change even when the outcome does not change */
  struct obs o = {.want = 10};
  struct gd_probe p;
  run_probe(&instant_ops, 1, 100, 1, &o, &p);
  CU_ASSERT_EQUAL(p.latency[GD_HIST_BASELINE].count, 10);
  gd_probe_set_phase(&p, GD_HIST_FAULT);
  gd_timeline_add(&p.timeline, 1, 2, 1);
  CU_ASSERT_EQUAL(p.timeline.n, 2);
  release(&p);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"no drift over 10 000 samples", test_no_drift},
      {"out-of-order completion, in-order commit", test_out_of_order_commit},
      {"timeouts, max_inflight, skipped", test_timeouts_and_skips},
      {"a sample that cannot start is a failed sample", test_start_error_recorded},
      {"phases and histograms", test_phases},
      {NULL, NULL},
  };
  return gd_test_run("scheduler", tests);
}

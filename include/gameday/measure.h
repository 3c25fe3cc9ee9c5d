/* gameday: bounded measurement structures (run-length timelines, log-linear
 * latency histograms) and the figure maths of DESIGN.md, as pure functions
 * that the unit tests drive with synthetic timelines. All times are
 * nanoseconds on the monotonic clock (uv_hrtime). */
#ifndef GAMEDAY_MEASURE_H
#define GAMEDAY_MEASURE_H

#include <stddef.h>
#include <stdint.h>

/* Consecutive samples with the same outcome, in sample-start order. A span
 * ends where the next one starts (next->first_start). */
struct gd_span {
  uint64_t first_start; /* start of the first sample of the span */
  uint64_t last_start;  /* start of the last sample */
  uint64_t last_end;    /* end of the last sample */
  uint32_t count;
  uint8_t ok;
};

/* Memory grows with the number of outcome changes, never with the number of
 * samples; past GD_TIMELINE_MAX_SPANS changes the last span absorbs the rest
 * and `truncated` is set (reported in the journal). */
#define GD_TIMELINE_MAX_SPANS (1u << 18)

struct gd_timeline {
  struct gd_span *spans;
  size_t n, cap;
  int split_next; /* force a new span at the next sample (phase boundary) */
  int truncated;
};

void gd_timeline_init(struct gd_timeline *t);
void gd_timeline_free(struct gd_timeline *t);
int gd_timeline_add(struct gd_timeline *t, uint64_t start, uint64_t end, int ok);
/* The next sample opens a new span even with the same outcome, so that counts
 * split exactly at t0 and at the end of observation. */
void gd_timeline_split(struct gd_timeline *t);

/* Log-linear histogram of durations: 2^GD_HIST_SUB_BITS linear sub-buckets
 * per power of two of microseconds, so a percentile is within ~3% of the true
 * value, in fixed memory. The maximum and minimum are exact. */
#define GD_HIST_SUB_BITS 5
#define GD_HIST_POWERS 40
#define GD_HIST_BUCKETS (GD_HIST_POWERS << GD_HIST_SUB_BITS)

struct gd_hist {
  uint64_t count;
  uint64_t min_ns, max_ns;
  uint32_t buckets[GD_HIST_BUCKETS];
};

void gd_hist_reset(struct gd_hist *h);
void gd_hist_add(struct gd_hist *h, uint64_t ns);
void gd_hist_merge(struct gd_hist *dst, const struct gd_hist *src);
/* q in [0,1]; 0 when empty. The value returned is the upper edge of the
 * bucket holding the q-quantile, clamped to the exact maximum. */
double gd_hist_quantile_ms(const struct gd_hist *h, double q);

/* One recovery probe's view, as the figure maths needs it. */
struct gd_measure_input {
  const struct gd_timeline *tl;
  uint64_t interval_ns;
};

/* The figures of DESIGN.md over a set of recovery probes, observed from t0 to
 * obs_end (samples starting at or after obs_end are ignored). Each *_ms is
 * relative to t0, with uncertainty equal to the sampling interval of the
 * probe that decided it. */
struct gd_figures {
  int impacted;          /* some recovery probe failed after t0 */
  int has_detection;
  double detection_ms, detection_unc_ms;
  int recovered;         /* all stable for stable_ns at once before obs_end */
  double recovery_ms, recovery_unc_ms;
  uint64_t recovered_at; /* earliest instant all were stable (ns, absolute) */
  double downtime_ms, downtime_unc_ms; /* union of failure spans */
  uint64_t ok, failed;   /* samples started in [t0, obs_end) */
  double availability;   /* ok / (ok + failed); 1 when no sample */
};

void gd_measure(const struct gd_measure_input *in, size_t n, uint64_t t0,
                uint64_t obs_end, uint64_t stable_ns, struct gd_figures *out);

#endif

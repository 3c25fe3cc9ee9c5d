/* gameday: run-length timelines, log-linear histograms, and the figures of
 * DESIGN.md "Probes and measurement" as pure functions of timelines. */
#include "gameday/measure.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- timeline ----------------------------------------------------------- */

void gd_timeline_init(struct gd_timeline *t) { memset(t, 0, sizeof *t); }

void gd_timeline_free(struct gd_timeline *t) {
  free(t->spans);
  memset(t, 0, sizeof *t);
}

void gd_timeline_split(struct gd_timeline *t) { t->split_next = 1; }

int gd_timeline_add(struct gd_timeline *t, uint64_t start, uint64_t end,
                    int ok) {
  ok = !!ok;
  struct gd_span *last = t->n ? &t->spans[t->n - 1] : NULL;
  int extend = last && last->ok == ok && !t->split_next;
  if (!extend && t->n == GD_TIMELINE_MAX_SPANS) {
    /* Out of room: the last span absorbs the rest, and the journal says so. */
    t->truncated = 1;
    extend = 1;
  }
  t->split_next = 0;
  if (extend) {
    last->last_start = start;
    if (end > last->last_end) last->last_end = end;
    last->count++;
    return 0;
  }
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    if (cap > GD_TIMELINE_MAX_SPANS) cap = GD_TIMELINE_MAX_SPANS;
    struct gd_span *s = realloc(t->spans, cap * sizeof *s);
    if (!s) {
      t->truncated = 1;
      if (last) {
        last->last_start = start;
        last->count++;
      }
      return -1;
    }
    t->spans = s;
    t->cap = cap;
  }
  struct gd_span *s = &t->spans[t->n++];
  s->first_start = start;
  s->last_start = start;
  s->last_end = end;
  s->count = 1;
  s->ok = (uint8_t)ok;
  return 0;
}

/* ---- histogram ---------------------------------------------------------- */

#define SUB (1u << GD_HIST_SUB_BITS)

static unsigned bucket_of(uint64_t us) {
  if (us < 2 * SUB) return (unsigned)us;
  unsigned msb = 63u - (unsigned)__builtin_clzll(us);
  unsigned shift = msb - GD_HIST_SUB_BITS; /* mantissa in [SUB, 2*SUB) */
  unsigned idx = 2 * SUB + (shift - 1) * SUB + (unsigned)((us >> shift) - SUB);
  return idx < GD_HIST_BUCKETS ? idx : GD_HIST_BUCKETS - 1;
}

static uint64_t bucket_upper_us(unsigned idx) {
  if (idx < 2 * SUB) return idx + 1;
  unsigned shift = (idx - 2 * SUB) / SUB + 1;
  uint64_t m = (idx - 2 * SUB) % SUB + SUB;
  return (m + 1) << shift;
}

void gd_hist_reset(struct gd_hist *h) { memset(h, 0, sizeof *h); }

void gd_hist_add(struct gd_hist *h, uint64_t ns) {
  if (h->count == 0 || ns < h->min_ns) h->min_ns = ns;
  if (ns > h->max_ns) h->max_ns = ns;
  h->count++;
  h->buckets[bucket_of(ns / 1000u)]++;
}

void gd_hist_merge(struct gd_hist *dst, const struct gd_hist *src) {
  if (!src->count) return;
  if (dst->count == 0 || src->min_ns < dst->min_ns) dst->min_ns = src->min_ns;
  if (src->max_ns > dst->max_ns) dst->max_ns = src->max_ns;
  dst->count += src->count;
  for (unsigned i = 0; i < GD_HIST_BUCKETS; i++) dst->buckets[i] += src->buckets[i];
}

double gd_hist_quantile_ms(const struct gd_hist *h, double q) {
  if (!h->count) return 0;
  if (q <= 0) return h->min_ns / 1e6;
  if (q >= 1) return h->max_ns / 1e6;
  uint64_t rank = (uint64_t)ceil(q * (double)h->count);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < GD_HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= rank) {
      double v = (double)bucket_upper_us(i) * 1000.0;
      if (v > (double)h->max_ns) v = (double)h->max_ns;
      if (v < (double)h->min_ns) v = (double)h->min_ns;
      return v / 1e6;
    }
  }
  return h->max_ns / 1e6;
}

/* ---- figures ------------------------------------------------------------ */

struct ival {
  uint64_t a, b;
};

/* Samples of span s that started in [lo, hi), and the start of the first of
 * them. The driver splits spans at t0 and at the end of observation, so
 * this is exact there; elsewhere samples are taken as evenly spaced. */
static uint32_t span_window(const struct gd_span *s, uint64_t lo, uint64_t hi,
                            uint64_t *first) {
  if (s->last_start < lo || s->first_start >= hi) return 0;
  if (s->first_start >= lo && s->last_start < hi) {
    *first = s->first_start;
    return s->count;
  }
  if (s->count == 1) {
    *first = s->first_start;
    return 1;
  }
  double step = (double)(s->last_start - s->first_start) / (double)(s->count - 1);
  double k0 = s->first_start >= lo ? 0 : ceil((double)(lo - s->first_start) / step);
  double k1 = s->last_start < hi ? (double)(s->count - 1)
                                 : ceil((double)(hi - s->first_start) / step) - 1;
  if (k1 > (double)(s->count - 1)) k1 = (double)(s->count - 1);
  if (k1 < k0) return 0;
  *first = s->first_start + (uint64_t)(k0 * step);
  if (*first < lo) *first = lo;
  return (uint32_t)(k1 - k0 + 1);
}

static int ival_cmp(const void *x, const void *y) {
  const struct ival *p = x, *q = y;
  return p->a < q->a ? -1 : p->a > q->a;
}

/* The instants at which probe `in` was "stable": inside an ok streak, at
 * least stable_ns after the later of the streak's start and t0, and not after
 * the streak's last observed sample. A streak is a run of consecutive ok
 * spans: phase boundaries (t0, recovery) split one streak into several
 * spans. Written to out (caller-sized, one per span at most). */
static size_t stable_intervals(const struct gd_measure_input *in, uint64_t t0,
                               uint64_t obs_end, uint64_t stable_ns,
                               struct ival *out) {
  size_t k = 0;
  const struct gd_timeline *t = in->tl;
  for (size_t j = 0; j < t->n; j++) {
    if (!t->spans[j].ok || t->spans[j].first_start >= obs_end) continue;
    size_t e = j;
    while (e + 1 < t->n && t->spans[e + 1].ok && t->spans[e + 1].first_start < obs_end)
      e++;
    uint64_t a = t->spans[j].first_start > t0 ? t->spans[j].first_start : t0;
    uint64_t b = t->spans[e].last_start;
    if (b >= obs_end) b = obs_end - 1;
    j = e;
    if (b < a || b - a < stable_ns) continue;
    out[k].a = a + stable_ns;
    out[k].b = b;
    k++;
  }
  return k;
}

/* Uncertainty of the outcome change at the start of span j: the change
 * happened somewhere between the previous sample's start and this one's.
 * That is the sampling interval when the probe kept its rate, and the gap
 * when samples around the edge were skipped or late by half an interval or
 * more: never less than the interval (DESIGN.md), never hidden when a
 * sample was missed. */
static uint64_t edge_unc(const struct gd_measure_input *in, size_t j) {
  const struct gd_timeline *t = in->tl;
  if (j == 0 || j >= t->n || t->spans[j - 1].ok == t->spans[j].ok)
    return in->interval_ns;
  uint64_t gap = t->spans[j].first_start - t->spans[j - 1].last_start;
  /* Start jitter of a probe that kept its rate (tens of microseconds, and
   * reported as lateness) is not what this is about: only a gap that shows a
   * missed or badly late sample widens the figure. */
  return 2 * gap >= 3 * in->interval_ns ? gap : in->interval_ns;
}

/* Start of the ok streak holding instant x in probe `in` (clamped to t0).
 * Phase boundaries split one streak into several ok spans, so the streak
 * starts at the first of consecutive ok spans. */
static uint64_t streak_start_at(const struct gd_measure_input *in, uint64_t x,
                                uint64_t t0, size_t *span) {
  const struct gd_timeline *t = in->tl;
  uint64_t cur = t0;
  *span = 0;
  for (size_t j = 0; j < t->n && t->spans[j].first_start <= x; j++)
    if (t->spans[j].ok && (j == 0 || !t->spans[j - 1].ok)) {
      cur = t->spans[j].first_start;
      *span = j;
    }
  return cur > t0 ? cur : t0;
}

void gd_measure(const struct gd_measure_input *in, size_t n, uint64_t t0,
                uint64_t obs_end, uint64_t stable_ns, struct gd_figures *out) {
  memset(out, 0, sizeof *out);
  out->availability = 1.0;
  size_t total_fail = 0;
  uint64_t max_edge_unc = 0;

  /* Detection, counts, impact. */
  for (size_t p = 0; p < n; p++) {
    const struct gd_timeline *t = in[p].tl;
    for (size_t j = 0; j < t->n; j++) {
      const struct gd_span *s = &t->spans[j];
      uint64_t first = 0;
      uint32_t cnt = span_window(s, t0, obs_end, &first);
      if (!cnt) continue;
      if (s->ok) {
        out->ok += cnt;
        continue;
      }
      out->failed += cnt;
      total_fail++;
      out->impacted = 1;
      double d = (double)(first - t0) / 1e6;
      if (!out->has_detection || d < out->detection_ms) {
        out->has_detection = 1;
        out->detection_ms = d;
        out->detection_unc_ms = edge_unc(&in[p], j) / 1e6;
      }
    }
  }
  if (out->ok + out->failed)
    out->availability = (double)out->ok / (double)(out->ok + out->failed);

  /* Downtime: the union of failure spans, each lasting from its first failed
   * sample's start to the next span's first sample start. */
  if (total_fail) {
    struct ival *iv = malloc(total_fail * sizeof *iv);
    size_t k = 0;
    for (size_t p = 0; iv && p < n; p++) {
      const struct gd_timeline *t = in[p].tl;
      for (size_t j = 0; j < t->n; j++) {
        const struct gd_span *s = &t->spans[j];
        uint64_t first = 0;
        if (s->ok || !span_window(s, t0, obs_end, &first)) continue;
        /* Consecutive failure spans (split by a phase boundary) run on. */
        size_t e = j + 1;
        while (e < t->n && !t->spans[e].ok) e++;
        uint64_t b = e < t->n ? t->spans[e].first_start : obs_end;
        if (b > obs_end) b = obs_end;
        iv[k].a = first;
        iv[k].b = b;
        k++;
        /* Each end of the span is known to within its edge's gap. */
        uint64_t u = edge_unc(&in[p], j), v = edge_unc(&in[p], e);
        if (u > max_edge_unc) max_edge_unc = u;
        if (v > max_edge_unc) max_edge_unc = v;
        j = e - 1;
      }
    }
    if (iv) {
      qsort(iv, k, sizeof *iv, ival_cmp);
      uint64_t sum = 0, ca = 0, cb = 0;
      for (size_t i = 0; i < k; i++) {
        if (i == 0 || iv[i].a > cb) {
          sum += cb - ca;
          ca = iv[i].a;
          cb = iv[i].b;
        } else if (iv[i].b > cb) {
          cb = iv[i].b;
        }
      }
      sum += cb - ca;
      out->downtime_ms = (double)sum / 1e6;
      out->downtime_unc_ms = max_edge_unc / 1e6;
      free(iv);
    }
  }

  /* Recovery: the earliest instant D >= t0 at which every probe is stable,
   * found by advancing a candidate through each probe's stable intervals. */
  if (n == 0) return;
  struct ival **sets = calloc(n, sizeof *sets);
  size_t *lens = calloc(n, sizeof *lens);
  int ok = sets && lens;
  for (size_t p = 0; ok && p < n; p++) {
    sets[p] = malloc((in[p].tl->n + 1) * sizeof **sets);
    if (!sets[p]) {
      ok = 0;
      break;
    }
    lens[p] = stable_intervals(&in[p], t0, obs_end, stable_ns, sets[p]);
    if (lens[p] == 0) ok = 0;
  }
  /* Recovery means healthy to the end of observation: the search starts
   * after every probe's last failure in the window, and a probe whose last
   * sample in the window failed has not recovered. (The driver stops
   * observing at the first all-stable moment, so for the run this is that
   * moment; for a probe judged alone over the same window, an early stable
   * streak followed by a failure is not a recovery.) */
  uint64_t x = t0;
  for (size_t p = 0; ok && p < n; p++) {
    const struct gd_timeline *t = in[p].tl;
    for (size_t j = 0; j < t->n && t->spans[j].first_start < obs_end; j++)
      if (!t->spans[j].ok && t->spans[j].last_start >= t0) {
        if (j + 1 >= t->n || t->spans[j + 1].first_start >= obs_end)
          ok = 0; /* failing at the end */
        else if (t->spans[j + 1].first_start > x)
          x = t->spans[j + 1].first_start;
      }
  }
  if (ok) {
    size_t *pos = calloc(n, sizeof *pos);
    int found = 0;
    while (pos) {
      int moved = 0, dead = 0;
      for (size_t p = 0; p < n; p++) {
        while (pos[p] < lens[p] && sets[p][pos[p]].b < x) pos[p]++;
        if (pos[p] == lens[p]) {
          dead = 1;
          break;
        }
        if (sets[p][pos[p]].a > x) {
          x = sets[p][pos[p]].a;
          moved = 1;
        }
      }
      if (dead) break;
      if (!moved) {
        found = 1;
        break;
      }
    }
    free(pos);
    if (found) {
      out->recovered = 1;
      out->recovered_at = x;
      uint64_t latest = t0, unc = 0;
      for (size_t p = 0; p < n; p++) {
        size_t span;
        uint64_t s = streak_start_at(&in[p], x, t0, &span);
        if (s > latest) {
          latest = s;
          unc = edge_unc(&in[p], span);
        }
      }
      out->recovery_ms = (double)(latest - t0) / 1e6;
      out->recovery_unc_ms = out->impacted ? unc / 1e6 : 0;
      if (!out->impacted) out->recovery_ms = 0;
    }
  }
  for (size_t p = 0; sets && p < n; p++) free(sets[p]);
  free(sets);
  free(lens);
}

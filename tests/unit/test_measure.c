/* The figure maths of DESIGN.md on synthetic timelines, and the histogram. */
#include <math.h>
#include <stdlib.h>

#include "gameday/measure.h"
#include "testutil.h"

#define MS 1000000ull

/* Feeds a probe with samples every `iv` ms from `from` to `to` (ms), ok unless
 * inside one of the failure windows [a, b) given as pairs, ending 0,0. */
static void feed(struct gd_timeline *t, uint64_t from, uint64_t to, uint64_t iv,
                 const uint64_t *fails) {
  for (uint64_t x = from; x < to; x += iv) {
    int ok = 1;
    for (const uint64_t *f = fails; f[0] || f[1]; f += 2)
      if (x >= f[0] && x < f[1]) ok = 0;
    gd_timeline_add(t, x * MS, x * MS + MS / 2, ok);
  }
}

static void measure1(const struct gd_timeline *t, uint64_t iv, uint64_t t0,
                     uint64_t end, uint64_t stable, struct gd_figures *f) {
  struct gd_measure_input in = {t, iv * MS};
  gd_measure(&in, 1, t0 * MS, end * MS, stable * MS, f);
}

static void test_no_impact(void) {
  struct gd_timeline t;
  gd_timeline_init(&t);
  static const uint64_t none[] = {0, 0};
  feed(&t, 0, 5000, 10, none);
  struct gd_figures f;
  measure1(&t, 10, 1000, 5000, 1000, &f);
  CU_ASSERT_FALSE(f.impacted);
  CU_ASSERT_FALSE(f.has_detection);
  CU_ASSERT_TRUE(f.recovered);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_ms, 0, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.downtime_ms, 0, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.availability, 1.0, 1e-12);
  CU_ASSERT_EQUAL(f.ok, 400);
  CU_ASSERT_EQUAL(f.failed, 0);
  gd_timeline_free(&t);
}

static void test_single_outage(void) {
  struct gd_timeline t;
  gd_timeline_init(&t);
  /* t0 = 1000; failing from 1200 to 1700: detection 200, downtime 500,
   * recovery 700 (the ok streak starting at 1700 lasts >= 1000). */
  static const uint64_t w[] = {1200, 1700, 0, 0};
  feed(&t, 0, 4000, 10, w);
  CU_ASSERT_EQUAL(t.n, 3);
  struct gd_figures f;
  measure1(&t, 10, 1000, 4000, 1000, &f);
  CU_ASSERT_TRUE(f.impacted);
  CU_ASSERT_DOUBLE_EQUAL(f.detection_ms, 200, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.detection_unc_ms, 10, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.downtime_ms, 500, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.downtime_unc_ms, 10, 1e-9);
  CU_ASSERT_TRUE(f.recovered);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_ms, 700, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_unc_ms, 10, 1e-9);
  /* recovered_at: stable from 1700 + 1000 */
  CU_ASSERT_EQUAL(f.recovered_at, 2700 * MS);
  CU_ASSERT_EQUAL(f.failed, 50);
  CU_ASSERT_EQUAL(f.ok, 250);
  CU_ASSERT_DOUBLE_EQUAL(f.availability, 250.0 / 300.0, 1e-12);
  gd_timeline_free(&t);
}

static void test_never_recovered(void) {
  struct gd_timeline t;
  gd_timeline_init(&t);
  static const uint64_t w[] = {1100, 9999, 0, 0};
  feed(&t, 0, 3000, 10, w);
  struct gd_figures f;
  measure1(&t, 10, 1000, 3000, 500, &f);
  CU_ASSERT_TRUE(f.impacted);
  CU_ASSERT_FALSE(f.recovered);
  CU_ASSERT_DOUBLE_EQUAL(f.detection_ms, 100, 1e-9);
  /* the open failure span lasts until the end of observation */
  CU_ASSERT_DOUBLE_EQUAL(f.downtime_ms, 1900, 1e-9);
  gd_timeline_free(&t);
}

static void test_flapping(void) {
  struct gd_timeline t;
  gd_timeline_init(&t);
  /* two short outages, the ok between them (300 ms) shorter than stable */
  static const uint64_t w[] = {1100, 1200, 1500, 1600, 0, 0};
  feed(&t, 0, 4000, 10, w);
  struct gd_figures f;
  measure1(&t, 10, 1000, 4000, 1000, &f);
  CU_ASSERT_DOUBLE_EQUAL(f.detection_ms, 100, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.downtime_ms, 200, 1e-9);
  CU_ASSERT_TRUE(f.recovered);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_ms, 600, 1e-9);
  /* a stable window shorter than the gap: the first streak was stable, but
   * the probe failed again, so over this window recovery is the last one */
  measure1(&t, 10, 1000, 4000, 200, &f);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_ms, 600, 1e-9);
  /* observed only until 1450 (as a run that stopped at the first stable
   * moment would be), the first streak is the recovery */
  measure1(&t, 10, 1000, 1450, 200, &f);
  CU_ASSERT_TRUE(f.recovered);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_ms, 200, 1e-9);
  gd_timeline_free(&t);
}

static void test_failure_before_t0_ignored(void) {
  struct gd_timeline t;
  gd_timeline_init(&t);
  /* an outage and its recovery both during the steady-state window */
  static const uint64_t w[] = {300, 500, 0, 0};
  feed(&t, 0, 4000, 10, w);
  struct gd_figures f;
  measure1(&t, 10, 1000, 4000, 1000, &f);
  CU_ASSERT_FALSE(f.impacted);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_ms, 0, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.downtime_ms, 0, 1e-9);
  CU_ASSERT_EQUAL(f.failed, 0);
  gd_timeline_free(&t);
}

static void test_two_probes(void) {
  struct gd_timeline a, b;
  gd_timeline_init(&a);
  gd_timeline_init(&b);
  /* a fails 1100-1500 every 10 ms; b fails 1300-2000 every 50 ms: the
   * union of outages is 1100-2000 = 900; b decides recovery (2000). */
  static const uint64_t wa[] = {1100, 1500, 0, 0};
  static const uint64_t wb[] = {1300, 2000, 0, 0};
  feed(&a, 0, 5000, 10, wa);
  feed(&b, 0, 5000, 50, wb);
  struct gd_measure_input in[2] = {{&a, 10 * MS}, {&b, 50 * MS}};
  struct gd_figures f;
  gd_measure(in, 2, 1000 * MS, 5000 * MS, 1000 * MS, &f);
  CU_ASSERT_DOUBLE_EQUAL(f.detection_ms, 100, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.detection_unc_ms, 10, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.downtime_ms, 900, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.downtime_unc_ms, 50, 1e-9);
  CU_ASSERT_TRUE(f.recovered);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_ms, 1000, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_unc_ms, 50, 1e-9);
  gd_timeline_free(&a);
  gd_timeline_free(&b);
}

static void test_stable_must_overlap(void) {
  /* a is stable 1000-2000 then fails; b only becomes stable after 2500:
   * they are never stable at once until a recovers again at 3000. */
  struct gd_timeline a, b;
  gd_timeline_init(&a);
  gd_timeline_init(&b);
  static const uint64_t wa[] = {1000, 1100, 2000, 3000, 0, 0};
  static const uint64_t wb[] = {1000, 1500, 0, 0};
  feed(&a, 0, 6000, 10, wa);
  feed(&b, 0, 6000, 10, wb);
  struct gd_measure_input in[2] = {{&a, 10 * MS}, {&b, 10 * MS}};
  struct gd_figures f;
  gd_measure(in, 2, 1000 * MS, 6000 * MS, 800 * MS, &f);
  CU_ASSERT_TRUE(f.recovered);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_ms, 2000, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.downtime_ms, 1500, 1e-9); /* 1000-2000 ∪ ... */
  gd_timeline_free(&a);
  gd_timeline_free(&b);
}

static void test_split_at_t0(void) {
  /* The driver splits spans at t0 so counts divide exactly there. */
  struct gd_timeline t;
  gd_timeline_init(&t);
  for (uint64_t x = 0; x < 1000; x += 10) gd_timeline_add(&t, x * MS, x * MS + 1, 1);
  gd_timeline_split(&t);
  for (uint64_t x = 1000; x < 2000; x += 10) gd_timeline_add(&t, x * MS, x * MS + 1, 1);
  CU_ASSERT_EQUAL(t.n, 2);
  struct gd_figures f;
  measure1(&t, 10, 1000, 2000, 500, &f);
  CU_ASSERT_EQUAL(f.ok, 100);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_ms, 0, 1e-9);
  gd_timeline_free(&t);
}

static void test_streak_across_split(void) {
  /* No impact, timeline split at t0 as the driver does: the ok streak runs
   * from before t0 on; stable from t0 + stable even though the first sample
   * of the split span starts after t0. Regression: judged span by span, this
   * was "not recovered". */
  struct gd_timeline t;
  gd_timeline_init(&t);
  for (uint64_t x = 5; x < 1000; x += 10) gd_timeline_add(&t, x * MS, x * MS + 1, 1);
  gd_timeline_split(&t);
  for (uint64_t x = 1005; x < 1215; x += 10) gd_timeline_add(&t, x * MS, x * MS + 1, 1);
  struct gd_figures f;
  measure1(&t, 10, 1000, 1206, 203, &f); /* last sample 1205: 205 ms after t0 */
  CU_ASSERT_TRUE(f.recovered);
  CU_ASSERT_FALSE(f.impacted);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_ms, 0, 1e-9);
  gd_timeline_free(&t);
}

static void test_uncertainty_widens_with_gaps(void) {
  /* A 10 ms probe whose samples around both edges were skipped: the last ok
   * sample before the outage started at 1150, the first failed one at 1230;
   * the last failed at 1600, the first ok after at 1690. The outage began
   * somewhere in (1150, 1230] and ended in (1600, 1690]: the uncertainty is
   * the gap, not the nominal interval. */
  struct gd_timeline t;
  gd_timeline_init(&t);
  for (uint64_t x = 0; x <= 1150; x += 10) gd_timeline_add(&t, x * MS, x * MS + 1, 1);
  for (uint64_t x = 1230; x <= 1600; x += 10) gd_timeline_add(&t, x * MS, x * MS + 1, 0);
  for (uint64_t x = 1690; x < 4000; x += 10) gd_timeline_add(&t, x * MS, x * MS + 1, 1);
  struct gd_figures f;
  measure1(&t, 10, 1000, 4000, 1000, &f);
  CU_ASSERT_DOUBLE_EQUAL(f.detection_ms, 230, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.detection_unc_ms, 80, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_ms, 690, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.recovery_unc_ms, 90, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.downtime_ms, 460, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(f.downtime_unc_ms, 90, 1e-9);
  gd_timeline_free(&t);
}

static void test_late_failure_is_not_recovered(void) {
  /* Healthy for a while after t0, then failing until the end: judged over
   * this window the probe has not recovered (regression: it reported a
   * recovery of 0 ms from the early healthy streak). */
  struct gd_timeline t;
  gd_timeline_init(&t);
  static const uint64_t w[] = {3000, 9999, 0, 0};
  feed(&t, 0, 5000, 10, w);
  struct gd_figures f;
  measure1(&t, 10, 1000, 5000, 500, &f);
  CU_ASSERT_TRUE(f.impacted);
  CU_ASSERT_FALSE(f.recovered);
  CU_ASSERT_DOUBLE_EQUAL(f.detection_ms, 2000, 1e-9);
  gd_timeline_free(&t);
}

static void test_timeline_bounded(void) {
  /* Constant outcome: one span whatever the number of samples. */
  struct gd_timeline t;
  gd_timeline_init(&t);
  for (uint64_t i = 0; i < 1000000; i++) gd_timeline_add(&t, i, i + 1, 1);
  CU_ASSERT_EQUAL(t.n, 1);
  CU_ASSERT_EQUAL(t.spans[0].count, 1000000);
  CU_ASSERT_FALSE(t.truncated);
  gd_timeline_free(&t);
}

static void test_hist(void) {
  struct gd_hist *h = malloc(sizeof *h);
  gd_hist_reset(h);
  CU_ASSERT_DOUBLE_EQUAL(gd_hist_quantile_ms(h, 0.5), 0, 1e-12);
  /* 1..1000 ms uniformly: p50 ~ 500, p99 ~ 990, within the ~3% bucket width */
  for (int i = 1; i <= 1000; i++) gd_hist_add(h, (uint64_t)i * MS);
  double p50 = gd_hist_quantile_ms(h, 0.5), p99 = gd_hist_quantile_ms(h, 0.99);
  CU_ASSERT(fabs(p50 - 500) / 500 < 0.04);
  CU_ASSERT(fabs(p99 - 990) / 990 < 0.04);
  CU_ASSERT_DOUBLE_EQUAL(gd_hist_quantile_ms(h, 1.0), 1000, 1e-9);
  CU_ASSERT_EQUAL(h->count, 1000);
  /* small values are exact to the microsecond */
  gd_hist_reset(h);
  for (int i = 0; i < 100; i++) gd_hist_add(h, 20000); /* 20 us */
  CU_ASSERT_DOUBLE_EQUAL(gd_hist_quantile_ms(h, 0.5), 0.020, 1e-9);
  /* huge values do not overflow the bucket array */
  gd_hist_add(h, 1ull << 62);
  CU_ASSERT_EQUAL(h->count, 101);
  CU_ASSERT(gd_hist_quantile_ms(h, 1.0) > 1e9);
  struct gd_hist *g = malloc(sizeof *g);
  gd_hist_reset(g);
  gd_hist_add(g, 5 * MS);
  gd_hist_merge(g, h);
  CU_ASSERT_EQUAL(g->count, 102);
  CU_ASSERT_EQUAL(g->min_ns, 20000);
  free(g);
  free(h);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"no impact", test_no_impact},
      {"single outage", test_single_outage},
      {"never recovered", test_never_recovered},
      {"flapping", test_flapping},
      {"failure and recovery before t0 are ignored", test_failure_before_t0_ignored},
      {"two probes: union and latest streak", test_two_probes},
      {"recovery needs every probe stable at once", test_stable_must_overlap},
      {"timeline split at t0", test_split_at_t0},
      {"streak across a split is one streak", test_streak_across_split},
      {"uncertainty widens when samples around an edge were missed", test_uncertainty_widens_with_gaps},
      {"failing at the end of the window is not recovered", test_late_failure_is_not_recovered},
      {"timeline memory bounded", test_timeline_bounded},
      {"histogram", test_hist},
      {NULL, NULL},
  };
  return gd_test_run("measure", tests);
}

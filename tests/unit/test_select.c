/* Unit tests of harness/select.c: the `select` key (defaults per kind,
 * path-named errors, the smallest percent), the pick of k of n (count,
 * percent rounded down or up, all, first, random) and the target cap
 * (shares cut, numbers refused). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/select.h"
#include "testutil.h"

#define ASSERT_MSG(err, expected)                                             \
  do {                                                                        \
    CU_ASSERT_STRING_EQUAL((err).msg, (expected));                            \
    if (strcmp((err).msg, (expected)) != 0)                                   \
      printf("\n      got '%s'\n      expected '%s'\n", (err).msg,           \
             (expected));                                                     \
  } while (0)

/* The rules of the two kinds that use the module today. */
static const struct gd_select_rules signal_rules = {
    .def_mode = GD_SELECT_RANDOM, .min_percent = 1,
    .round = GD_SELECT_ROUND_DOWN};
static const struct gd_select_rules list_rules = {
    .def_mode = GD_SELECT_ALL, .min_percent = 0.001,
    .round = GD_SELECT_ROUND_UP};

/* Parses spec (JSON with ' for ") as the action at "fault[1]". */
static int parse(const char *spec, const struct gd_select_rules *rules,
                 struct gd_select *s, struct gd_error *err) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *p = buf; *p; p++)
    if (*p == '\'') *p = '"';
  cJSON *j = cJSON_Parse(buf);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  int rc = gd_select_parse(s, j, "fault[1]", rules, err);
  cJSON_Delete(j);
  return rc;
}

static void test_parse_defaults(void) {
  struct gd_select s;
  struct gd_error err = {0};
  /* Absent: the kind's default, COUNT(1) unless all. */
  CU_ASSERT_EQUAL(parse("{}", &signal_rules, &s, &err), 0);
  CU_ASSERT_EQUAL(s.mode, GD_SELECT_RANDOM);
  CU_ASSERT_EQUAL(s.count, 1);
  CU_ASSERT_EQUAL(s.given, 0);
  CU_ASSERT_EQUAL(s.round, GD_SELECT_ROUND_DOWN);
  CU_ASSERT_EQUAL(parse("{}", &list_rules, &s, &err), 0);
  CU_ASSERT_EQUAL(s.mode, GD_SELECT_ALL);
  CU_ASSERT_EQUAL(s.count, 0);
  CU_ASSERT_EQUAL(s.round, GD_SELECT_ROUND_UP);
  /* Written out without a mode: random COUNT(1), whatever the default. */
  CU_ASSERT_EQUAL(parse("{'select':{}}", &list_rules, &s, &err), 0);
  CU_ASSERT_EQUAL(s.mode, GD_SELECT_RANDOM);
  CU_ASSERT_EQUAL(s.count, 1);
  CU_ASSERT_EQUAL(s.given, 1);
  CU_ASSERT_EQUAL(parse("{'select':{'mode':'first'}}", &signal_rules, &s,
                        &err), 0);
  CU_ASSERT_EQUAL(s.mode, GD_SELECT_FIRST);
  CU_ASSERT_EQUAL(s.count, 1);
  CU_ASSERT_EQUAL(parse("{'select':{'mode':'all'}}", &signal_rules, &s, &err),
                  0);
  CU_ASSERT_EQUAL(s.mode, GD_SELECT_ALL);
  CU_ASSERT_EQUAL(s.count, 0);
  CU_ASSERT_EQUAL(parse("{'select':{'mode':'first','count':3}}",
                        &signal_rules, &s, &err), 0);
  CU_ASSERT_EQUAL(s.count, 3);
  CU_ASSERT_EQUAL(parse("{'select':{'percent':12.5}}", &list_rules, &s, &err),
                  0);
  CU_ASSERT_EQUAL(s.mode, GD_SELECT_RANDOM);
  CU_ASSERT_EQUAL(s.count, 0);
  CU_ASSERT_DOUBLE_EQUAL(s.percent, 12.5, 1e-12);
}

static void test_parse_errors(void) {
  static const struct {
    const char *spec;
    const struct gd_select_rules *rules;
    const char *msg;
  } cases[] = {
      {"{'select':{'mode':'some'}}", &signal_rules,
       "fault[1].select.mode: unknown mode 'some' (random, first or all)"},
      {"{'select':{'count':1,'percent':5}}", &signal_rules,
       "fault[1].select: give count or percent, not both"},
      {"{'select':{'mode':'all','count':1}}", &list_rules,
       "fault[1].select: mode 'all' takes neither count nor percent"},
      {"{'select':{'mode':'all','percent':10}}", &list_rules,
       "fault[1].select: mode 'all' takes neither count nor percent"},
      {"{'select':{'cuont':1}}", &signal_rules,
       "fault[1].select: unknown key 'cuont'"},
      {"{'select':{'count':0}}", &signal_rules,
       "fault[1].select.count: must be at least 1, got 0"},
      {"{'select':{'percent':101}}", &list_rules,
       "fault[1].select.percent: must be at most 100, got 101"},
      /* The smallest percent is the kind's. */
      {"{'select':{'percent':0.5}}", &signal_rules,
       "fault[1].select.percent: must be at least 1, got 0.5"},
      {"{'select':{'percent':0}}", &list_rules,
       "fault[1].select.percent: must be at least 0.001, got 0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct gd_select s;
    struct gd_error err = {0};
    CU_ASSERT_EQUAL(parse(cases[i].spec, cases[i].rules, &s, &err),
                    GD_EINVAL);
    ASSERT_MSG(err, cases[i].msg);
  }
  struct gd_select s;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL(parse("{'select':'all'}", &signal_rules, &s, &err),
                  GD_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "fault[1].select: "));
  /* What one kind refuses another may accept. */
  CU_ASSERT_EQUAL(parse("{'select':{'percent':0.5}}", &list_rules, &s, &err),
                  0);
  CU_ASSERT_DOUBLE_EQUAL(s.percent, 0.5, 1e-12);
}

static void test_describe(void) {
  struct gd_select s;
  struct gd_error err = {0};
  char buf[64];
  CU_ASSERT_EQUAL(parse("{}", &signal_rules, &s, &err), 0);
  gd_select_describe(&s, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "1 at random");
  CU_ASSERT_EQUAL(parse("{'select':{'mode':'first','count':2}}", &signal_rules,
                        &s, &err), 0);
  gd_select_describe(&s, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "first 2");
  CU_ASSERT_EQUAL(parse("{'select':{'percent':50}}", &signal_rules, &s, &err),
                  0);
  gd_select_describe(&s, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "50% at random");
  CU_ASSERT_EQUAL(parse("{}", &list_rules, &s, &err), 0);
  gd_select_describe(&s, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "all");
  CU_ASSERT_STRING_EQUAL(gd_select_mode_name(GD_SELECT_RANDOM), "random");
  CU_ASSERT_STRING_EQUAL(gd_select_mode_name(GD_SELECT_FIRST), "first");
  CU_ASSERT_STRING_EQUAL(gd_select_mode_name(GD_SELECT_ALL), "all");
}

static struct gd_select sel(enum gd_select_mode mode, long long count,
                            double percent, enum gd_select_round round) {
  struct gd_select s = {.mode = mode, .count = count, .percent = percent,
                        .round = round, .given = 1};
  return s;
}

/* k of n, by first (so the indices are 0..k-1 too), without a cap. */
static size_t pick_first(const struct gd_select *s, size_t n) {
  size_t out[256], k = 99, cut = 99;
  struct gd_error err = {0};
  CU_ASSERT_FATAL(n <= 256);
  CU_ASSERT_EQUAL(gd_select_pick(s, n, GD_SELECT_NO_CAP, 0, "fault[0]", out,
                                 &k, &cut, &err), 0);
  CU_ASSERT_EQUAL(cut, 0);
  for (size_t i = 0; i < k; i++) CU_ASSERT_EQUAL(out[i], i);
  return k;
}

static void test_pick_rounding(void) {
  static const struct {
    double percent;
    size_t n, down, up;
  } cases[] = {
      {50, 3, 1, 2},     /* 1.5 */
      {10, 3, 1, 1},     /* 0.3: at least one either way */
      {0.001, 5, 1, 1},
      {50, 4, 2, 2},     /* whole: no rounding either way */
      {100, 3, 3, 3},
      {64.4, 250, 161, 161}, /* 161.00000000000003 in binary: still 161 */
      {70, 10, 7, 7},
      {33, 10, 3, 4},
      {99, 10, 9, 10},
      {25, 1, 1, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct gd_select d = sel(GD_SELECT_FIRST, 0, cases[i].percent,
                             GD_SELECT_ROUND_DOWN);
    struct gd_select u = sel(GD_SELECT_FIRST, 0, cases[i].percent,
                             GD_SELECT_ROUND_UP);
    size_t kd = pick_first(&d, cases[i].n), ku = pick_first(&u, cases[i].n);
    CU_ASSERT_EQUAL(kd, cases[i].down);
    CU_ASSERT_EQUAL(ku, cases[i].up);
    if (kd != cases[i].down || ku != cases[i].up)
      printf("\n      %g%% of %zu: down %zu (want %zu), up %zu (want %zu)\n",
             cases[i].percent, cases[i].n, kd, cases[i].down, ku,
             cases[i].up);
  }
}

static void test_pick_count_all(void) {
  struct gd_select s = sel(GD_SELECT_FIRST, 2, 0, GD_SELECT_ROUND_DOWN);
  CU_ASSERT_EQUAL(pick_first(&s, 5), 2);
  CU_ASSERT_EQUAL(pick_first(&s, 1), 1); /* no more than there are */
  s = sel(GD_SELECT_ALL, 0, 0, GD_SELECT_ROUND_UP);
  CU_ASSERT_EQUAL(pick_first(&s, 7), 7);
  /* Nothing found: nothing picked, not an error. */
  size_t out[1], k = 99, cut = 99;
  struct gd_error err = {0};
  CU_ASSERT_EQUAL(gd_select_pick(&s, 0, 3, 0, "fault[0]", out, &k, &cut,
                                 &err), 0);
  CU_ASSERT_EQUAL(k, 0);
  CU_ASSERT_EQUAL(cut, 0);
}

static void test_pick_random(void) {
  /* Every pick: k distinct indices, ascending, in range; over many picks
   * every candidate is chosen about as often as the others (each with
   * probability 2/5: expected 160 of 400, sd 9.8; the bounds are 6 sd). */
  struct gd_select s = sel(GD_SELECT_RANDOM, 2, 0, GD_SELECT_ROUND_DOWN);
  size_t hits[5] = {0};
  for (int r = 0; r < 400; r++) {
    size_t out[5], k = 0, cut = 99;
    struct gd_error err = {0};
    CU_ASSERT_EQUAL_FATAL(gd_select_pick(&s, 5, GD_SELECT_NO_CAP, 0, "f",
                                         out, &k, &cut, &err), 0);
    CU_ASSERT_EQUAL_FATAL(k, 2);
    CU_ASSERT_EQUAL(cut, 0);
    CU_ASSERT(out[0] < out[1]);
    CU_ASSERT_FATAL(out[1] < 5);
    hits[out[0]]++;
    hits[out[1]]++;
  }
  for (size_t i = 0; i < 5; i++) {
    CU_ASSERT(hits[i] >= 100 && hits[i] <= 220);
    if (hits[i] < 100 || hits[i] > 220)
      printf("\n      candidate %zu chosen %zu times of 400\n", i, hits[i]);
  }
  /* Random over all of them is all of them, in order. */
  s = sel(GD_SELECT_RANDOM, 9, 0, GD_SELECT_ROUND_DOWN);
  CU_ASSERT_EQUAL(pick_first(&s, 4), 4);
}

static void test_pick_cap(void) {
  size_t out[8], k, cut;
  struct gd_error err = {0};
  /* A share is cut to the cap, and says from what. */
  struct gd_select s = sel(GD_SELECT_FIRST, 0, 100, GD_SELECT_ROUND_UP);
  CU_ASSERT_EQUAL(gd_select_pick(&s, 5, 2, 0, "fault[0]", out, &k, &cut,
                                 &err), 0);
  CU_ASSERT_EQUAL(k, 2);
  CU_ASSERT_EQUAL(cut, 5);
  CU_ASSERT_EQUAL(out[0], 0);
  CU_ASSERT_EQUAL(out[1], 1);
  s = sel(GD_SELECT_ALL, 0, 0, GD_SELECT_ROUND_UP);
  CU_ASSERT_EQUAL(gd_select_pick(&s, 3, 1, 0, "fault[0]", out, &k, &cut,
                                 &err), 0);
  CU_ASSERT_EQUAL(k, 1);
  CU_ASSERT_EQUAL(cut, 3);
  /* Within the cap: nothing cut. */
  CU_ASSERT_EQUAL(gd_select_pick(&s, 3, 3, 1, "fault[0]", out, &k, &cut,
                                 &err), 0);
  CU_ASSERT_EQUAL(k, 3);
  CU_ASSERT_EQUAL(cut, 0);
  /* A list written out, all of it, over the cap: refused. */
  k = cut = 99;
  CU_ASSERT_EQUAL(gd_select_pick(&s, 3, 2, 1, "fault[0]", out, &k, &cut,
                                 &err), GD_EPERM);
  ASSERT_MSG(err, "fault[0]: 3 targets listed, more than the scenario "
                  "allows (safety.max_targets 2)");
  CU_ASSERT_EQUAL(k, 0);
  CU_ASSERT_EQUAL(cut, 0);
  /* A count over the cap: refused, even when fewer are found (the refusal
   * must not depend on the fleet's size at run time). */
  s = sel(GD_SELECT_RANDOM, 2, 0, GD_SELECT_ROUND_UP);
  CU_ASSERT_EQUAL(gd_select_pick(&s, 1, 1, 0, "fault[0]", out, &k, &cut,
                                 &err), GD_EPERM);
  ASSERT_MSG(err, "fault[0]: select.count 2 is more than the scenario allows "
                  "(safety.max_targets 1)");
  CU_ASSERT_EQUAL(gd_select_pick(&s, 0, 1, 0, "fault[0]", out, &k, &cut,
                                 &err), GD_EPERM);
  /* At the cap: fine. */
  CU_ASSERT_EQUAL(gd_select_pick(&s, 6, 2, 0, "fault[0]", out, &k, &cut,
                                 &err), 0);
  CU_ASSERT_EQUAL(k, 2);
  CU_ASSERT_EQUAL(cut, 0);
}

int main(void) {
  static const struct gd_test tests[] = {
      {"parse: defaults per kind, mode, count, percent", test_parse_defaults},
      {"parse: errors name the key, the kind's smallest percent",
       test_parse_errors},
      {"describe and mode names", test_describe},
      {"pick: percent rounded down or up, at least one", test_pick_rounding},
      {"pick: count, all, none found", test_pick_count_all},
      {"pick: random is a uniform sample, ascending", test_pick_random},
      {"pick: shares cut to the cap, numbers over it refused", test_pick_cap},
      {NULL, NULL},
  };
  return gd_test_run("select", tests);
}

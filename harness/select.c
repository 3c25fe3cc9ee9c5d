/* gameday: target selection (select.h): the `select` key and the pick of k
 * of n candidates, for every kind that picks targets. */
#include "gameday/select.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <uv.h>

#include "gameday/json.h"

static const char *const mode_names[] = {"random", "first", "all"};
const char *const gd_select_keys[] = {"mode", "count", "percent", NULL};

const char *gd_select_mode_name(enum gd_select_mode mode) {
  return (unsigned)mode < 3 ? mode_names[mode] : "?";
}

int gd_select_parse(struct gd_select *s, const cJSON *spec, const char *path,
                    const struct gd_select_rules *rules,
                    struct gd_error *err) {
  char sub[256];
  const cJSON *sel = NULL;
  memset(s, 0, sizeof *s);
  s->mode = rules->def_mode;
  s->count = rules->def_mode == GD_SELECT_ALL ? 0 : 1;
  s->round = rules->round;
  int r = gd_json_get_object(spec, "select", path, 0, &sel, err);
  if (r || !sel) return r;
  s->given = 1;
  gd_json_path(sub, sizeof sub, path, "select");
  if ((r = gd_json_check_keys(sel, sub, gd_select_keys, NULL, err))) return r;
  const char *mode = NULL;
  if ((r = gd_json_get_string(sel, "mode", sub, 0, &mode, err))) return r;
  /* A `select` written out means what it says: random unless told, not
   * the kind's default for no `select` at all. */
  s->mode = GD_SELECT_RANDOM;
  if (mode) {
    size_t i;
    for (i = 0; i < 3; i++)
      if (strcmp(mode, mode_names[i]) == 0) break;
    if (i == 3)
      return gd_error_set(err, GD_EINVAL,
                          "%s.mode: unknown mode '%s' (random, first or all)",
                          sub, mode);
    s->mode = (enum gd_select_mode)i;
  }
  int has_count = cJSON_GetObjectItemCaseSensitive(sel, "count") != NULL;
  int has_percent = cJSON_GetObjectItemCaseSensitive(sel, "percent") != NULL;
  if (s->mode == GD_SELECT_ALL && (has_count || has_percent))
    return gd_error_set(err, GD_EINVAL,
                        "%s: mode 'all' takes neither count nor percent", sub);
  if (has_count && has_percent)
    return gd_error_set(err, GD_EINVAL, "%s: give count or percent, not both",
                        sub);
  s->count = s->mode == GD_SELECT_ALL ? 0 : 1;
  if (has_count &&
      (r = gd_json_get_int(sel, "count", sub, 1, 1, 1000000, &s->count, err)))
    return r;
  if (has_percent) {
    if ((r = gd_json_get_double(sel, "percent", sub, 1, rules->min_percent,
                                100, &s->percent, err)))
      return r;
    s->count = 0;
  }
  return 0;
}

void gd_select_describe(const struct gd_select *s, char *buf, size_t n) {
  const char *how = s->mode == GD_SELECT_FIRST ? "first " : "";
  const char *rnd = s->mode == GD_SELECT_RANDOM ? " at random" : "";
  if (s->mode == GD_SELECT_ALL)
    snprintf(buf, n, "all");
  else if (s->count)
    snprintf(buf, n, "%s%lld%s", how, s->count, rnd);
  else
    snprintf(buf, n, "%s%g%%%s", how, s->percent, rnd);
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, n), without modulo bias. */
static size_t below(uint64_t *s, size_t n) {
  uint64_t lim = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = splitmix64(s);
  while (v >= lim);
  return (size_t)(v % n);
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

/* PERCENT(p) of n, by the kind's rounding; the epsilon keeps a product
 * that is whole in decimal (50% of 4) from landing on the wrong side. */
static size_t share(const struct gd_select *s, size_t n) {
  double exact = s->percent * (double)n / 100.0;
  size_t want = s->round == GD_SELECT_ROUND_UP
                    ? (size_t)ceil(exact - 1e-9)
                    : (size_t)floor(exact + 1e-9);
  if (want < 1) want = 1;
  if (want > n) want = n;
  return want;
}

int gd_select_pick(const struct gd_select *s, size_t n, size_t cap,
                   int explicit_list, const char *path, size_t *out,
                   size_t *k, size_t *cut, struct gd_error *err) {
  *k = 0;
  *cut = 0;
  /* By number: the number asked for is what must fit, whatever is found
   * at run time, so the refusal does not depend on the fleet's size. */
  if (s->mode != GD_SELECT_ALL && s->count &&
      (unsigned long long)s->count > cap)
    return gd_error_set(err, GD_EPERM,
                        "%s: select.count %lld is more than the scenario "
                        "allows (safety.max_targets %zu)",
                        path, s->count, cap);
  if (explicit_list && s->mode == GD_SELECT_ALL && n > cap)
    return gd_error_set(err, GD_EPERM,
                        "%s: %zu targets listed, more than the scenario "
                        "allows (safety.max_targets %zu)",
                        path, n, cap);
  if (n == 0) return 0;
  size_t want;
  if (s->mode == GD_SELECT_ALL)
    want = n;
  else if (s->count)
    want = (unsigned long long)s->count < n ? (size_t)s->count : n;
  else
    want = share(s, n);
  if (want > cap) {
    *cut = want;
    want = cap;
  }
  for (size_t i = 0; i < n; i++) out[i] = i;
  if (s->mode == GD_SELECT_RANDOM && want < n) {
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
      seed = uv_hrtime() ^ ((uint64_t)getpid() << 32);
    /* partial Fisher-Yates: the first `want` are a uniform sample */
    for (size_t i = 0; i < want; i++) {
      size_t j = i + below(&seed, n - i);
      size_t t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    qsort(out, want, sizeof *out, cmp_size);
  }
  *k = want;
  return 0;
}

/* gameday: target selection, shared by the kinds that pick some of many
 * targets (the signal action's processes, aws.ec2.terminate_instances's
 * instances). AWS FIS writes it COUNT(n), PERCENT(p), ALL, and which ones:
 * at random or the first in the candidates' order.
 *
 * Key `select`: {"mode": "random"|"first"|"all", "count": n} or
 * {"mode": ..., "percent": p}; mode "all" takes neither, count and percent
 * exclude each other, a `select` without mode means random, and one with
 * neither count nor percent means COUNT(1).
 *
 * What differs between kinds is a rule of the kind, not of the scenario,
 * and is given by the kind (struct gd_select_rules): the selection when
 * `select` is absent, the smallest percent accepted, and how a percentage
 * of the candidates is rounded to a whole number. */
#ifndef GAMEDAY_SELECT_H
#define GAMEDAY_SELECT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "gameday/error.h"

enum gd_select_mode { GD_SELECT_RANDOM, GD_SELECT_FIRST, GD_SELECT_ALL };

/* PERCENT(p) of n candidates is p * n / 100 rounded this way, then at
 * least 1 (10% of 3 is one, not none) and at most n. */
enum gd_select_round { GD_SELECT_ROUND_DOWN, GD_SELECT_ROUND_UP };

struct gd_select_rules {
  enum gd_select_mode def_mode; /* `select` absent: this, COUNT(1) unless
                                   all */
  double min_percent;           /* smallest `percent` accepted (max 100) */
  enum gd_select_round round;
};

struct gd_select {
  enum gd_select_mode mode;
  long long count;             /* > 0 for COUNT(n); 0 for percent and all */
  double percent;              /* > 0 for PERCENT(p) */
  enum gd_select_round round;  /* from the rules */
  int given;                   /* the spec had a `select` key */
};

/* The keys of the `select` object, NULL-ended. */
extern const char *const gd_select_keys[];

/* Reads the optional `select` object of spec (at path, e.g. "fault[1]");
 * errors name the key: "fault[1].select.mode: unknown mode 'x' (random,
 * first or all)". */
int gd_select_parse(struct gd_select *s, const cJSON *spec, const char *path,
                    const struct gd_select_rules *rules,
                    struct gd_error *err);

/* "random", "first", "all". */
const char *gd_select_mode_name(enum gd_select_mode mode);

/* "1 at random", "first 2", "50% at random", "all". */
void gd_select_describe(const struct gd_select *s, char *buf, size_t n);

/* No cap: for gd_select_pick when the kind has no target limit. */
#define GD_SELECT_NO_CAP ((size_t)-1)

/* Picks from n candidates (in their order) into out[] (n entries of room),
 * ascending indices, *k of them: all: every one; count: min(count, n);
 * percent: rounded by s->round, at least 1, at most n. Random picks are a
 * uniform sample, drawn anew on every call.
 * cap is the most targets allowed (gd_scenario_max_targets, or
 * GD_SELECT_NO_CAP). A selection asked for as a share (percent, all) is cut
 * to cap (*cut set to the size before, else 0); one asked for by number (a
 * count, or `explicit_list`: the targets were listed one by one) is refused
 * with GD_EPERM, the message prefixed with path, when that number is over
 * cap: cutting a list someone wrote out would silently do something else
 * than what it says. n == 0 gives *k = 0 and 0 (after the count check, so
 * the refusal does not depend on what is found). */
int gd_select_pick(const struct gd_select *s, size_t n, size_t cap,
                   int explicit_list, const char *path, size_t *out,
                   size_t *k, size_t *cut, struct gd_error *err);

#endif

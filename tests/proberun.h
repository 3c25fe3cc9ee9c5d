/* Running one probe through the real scheduler (probe.c) on a fresh loop,
 * with a gd_curl, and collecting its results: for the tests of each probe
 * kind. */
#ifndef GD_PROBERUN_H
#define GD_PROBERUN_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gameday/probe.h"
#include "testutil.h"

#define GD_PROBERUN_MAX 512

/* The first GD_PROBERUN_MAX results (n of them), then the probe's counters
 * when it stopped. */
struct gd_proberun {
  int n;
  enum gd_sample_class cls[GD_PROBERUN_MAX];
  char detail[GD_PROBERUN_MAX][160];
  uint64_t lat_ns[GD_PROBERUN_MAX];
  uint64_t samples, ok, failed, skipped;
};

/* Runs the probe given as JSON (named "t", at "probes.t") until `want`
 * results (0: no limit) or max_ms, then stops it, closes everything and
 * checks that the loop closes. When describe is not NULL, it receives
 * ops->describe. A spec that does not parse or init fails the test (fatal). */
void gd_proberun(const char *json, int want, int max_ms, struct gd_proberun *o,
                 char *describe, size_t dn);
/* The same with the spec already parsed. */
void gd_proberun_spec(const cJSON *spec, int want, int max_ms,
                      struct gd_proberun *o, char *describe, size_t dn);

/* gd_probe_init must fail on json; returns its message (a static buffer). */
const char *gd_proberun_init_error(const char *json);

/* A string assertion that shows both sides when it fails. */
#define GD_ASSERT_STR(got, want)                                              \
  do {                                                                        \
    const char *g_ = (got);                                                   \
    if (strcmp(g_, (want)) != 0)                                              \
      printf("\n    got '%s', want '%s' ", g_, (want));                       \
    CU_ASSERT_STRING_EQUAL(g_, (want));                                       \
  } while (0)

#endif

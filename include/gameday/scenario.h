/* gameday: the scenario file (DESIGN.md "Scenario file"): load, substitute
 * ${var} / ${env:NAME}, validate, and build probes and actions. */
#ifndef GAMEDAY_SCENARIO_H
#define GAMEDAY_SCENARIO_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "gameday/action.h"
#include "gameday/error.h"
#include "gameday/probe.h"

/* Scenario files larger than this are refused before parsing. */
#define GD_SCENARIO_MAX_BYTES (16u * 1024 * 1024)

struct gd_threshold {
  char *name;     /* "recovery_ms", "frontend.availability" */
  double limit;
  int at_least;   /* 1: value >= limit passes (availability); 0: <= */
};

/* A tag of an AWS (or other) target, and a tag the safety rules require. */
struct gd_tag {
  const char *key;
  const char *value;
};

struct gd_probe_set {
  size_t *idx;    /* indices into scenario->probes */
  size_t n;
};

/* A check of a readiness file (`gameday check`): a probe evaluated once,
 * with what a failure means and what to do about it. */
struct gd_readiness_check {
  char *title;        /* one line: what is checked; default the name */
  int warn;           /* severity "warn": reported, does not fail */
  char *remediation;  /* what to change when it fails */
};

struct gd_scenario {
  char *file;
  char *name;
  char *description;      /* "" when absent */
  char *environment;      /* default "local" */
  cJSON *vars;            /* resolved variables (object of strings) */

  struct gd_probe *probes;
  size_t nprobes;
  struct gd_probe_set guards;

  struct gd_probe_set steady;
  uint64_t steady_for_ns;
  uint64_t steady_timeout_ns; /* extension: steady_state.timeout_ms,
                                 default for_ms + 10 s */

  struct gd_action *fault;
  size_t nfault;

  struct gd_probe_set recovery;
  uint64_t stable_ns;
  uint64_t recovery_timeout_ns;

  struct gd_action *verify;
  size_t nverify;
  struct gd_action *rollback;
  size_t nrollback;

  struct gd_threshold *thresholds;
  size_t nthresholds;

  /* Safety rules (extension: "safety": {"required_tags": {...},
   * "max_targets": N}); required when the environment is not "local". */
  struct gd_tag *required_tags; /* strings owned by the scenario */
  size_t nrequired_tags;
  size_t max_targets;           /* 0: not given */

  /* A readiness file ("checks" instead of fault/steady_state/recovery):
   * checks[i] belongs to probes[i]; the other lists are empty. */
  int readiness;
  struct gd_readiness_check *checks;
};

/* A --var override. */
struct gd_var {
  const char *name;
  const char *value;
};

/* Load, substitute, validate and build. On error *out is NULL and err names
 * the file and JSON path: "x.json: fault[1].signal: unknown signal 'KIL'". */
int gd_scenario_load(const char *file, const struct gd_var *vars, size_t nvars,
                     struct gd_scenario **out, struct gd_error *err);
/* The same from a parsed document (the loader's core; tests use it). `file`
 * is used for messages only. The document is not modified. */
int gd_scenario_from_json(const cJSON *doc, const char *file,
                          const struct gd_var *vars, size_t nvars,
                          struct gd_scenario **out, struct gd_error *err);
void gd_scenario_free(struct gd_scenario *sc);

/* Index of a probe by name, or -1. */
long gd_scenario_probe_index(const struct gd_scenario *sc, const char *name);

/* Figure names (core and per-probe) a threshold may name; also tells the
 * direction. Returns 0 when known. */
int gd_threshold_known(const struct gd_scenario *sc, const char *name,
                       int *at_least);

/* Safety: 0 when the target carries every tag the scenario requires (or sc
 * is NULL or requires none); else GD_EPERM with "target 'i-0abc': missing
 * required tag Environment=staging" or "target 'i-0abc': tag Environment is
 * 'prod', required 'staging'". Checked before anything is touched. */
int gd_scenario_check_tags(const struct gd_scenario *sc, const char *target,
                           const struct gd_tag *tags, size_t ntags,
                           struct gd_error *err);
/* Most targets one action may touch: safety.max_targets when given, else
 * unlimited (SIZE_MAX) for environment "local" and 1 otherwise. */
size_t gd_scenario_max_targets(const struct gd_scenario *sc);

/* Substitute ${name} and ${env:NAME} in s; "$${" stands for a literal "${".
 * vars is an object of strings. Error names path and the variable. Returns
 * a malloc'd string in *out. */
int gd_subst(const char *s, const cJSON *vars, const char *path, char **out,
             struct gd_error *err);

#endif

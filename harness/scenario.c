/* gameday: the scenario loader (DESIGN.md "Scenario file"). Loading happens
 * in a fixed order: syntax and duplicate keys, variables, substitution on a
 * private copy, then validation and building of probes and actions, so that
 * every message names the JSON path as the user wrote it. */
#include "gameday/scenario.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/json.h"

static const char *const top_keys[] = {
    "name",   "description",  "environment", "vars",     "probes",
    "guards", "steady_state", "fault",       "recovery", "verify",
    "rollback", "thresholds", "safety", NULL};
/* A readiness file (gameday check) has checks instead of a fault. */
static const char *const readiness_keys[] = {
    "name", "description", "environment", "vars", "safety", "checks", NULL};
static const char *const check_keys[] = {"title", "severity", "remediation",
                                         "probe", NULL};
static const char *const safety_keys[] = {"required_tags", "max_targets",
                                          NULL};

static const char *const steady_keys[] = {"probes", "for_ms", "timeout_ms",
                                          NULL};
static const char *const recovery_keys[] = {"probes", "stable_for_ms",
                                            "timeout_ms", NULL};

/* Figures the measurement produces for the whole run and for each probe. */
static const char *const core_figures[] = {
    "detection_ms",            "recovery_ms",           "downtime_ms",
    "availability",            "p50_latency_ms",        "p99_latency_ms",
    "max_latency_ms",          "baseline_p50_latency_ms",
    "baseline_p99_latency_ms", "baseline_max_latency_ms",
    "fault_p50_latency_ms",    "fault_p99_latency_ms",  "fault_max_latency_ms",
    "after_p50_latency_ms",    "after_p99_latency_ms",  "after_max_latency_ms",
    "skipped",                 NULL};
static const char *const probe_figures[] = {
    "detection_ms",   "recovery_ms",    "downtime_ms",    "availability",
    "p50_latency_ms", "p99_latency_ms", "max_latency_ms", "skipped",
    NULL};

#define GD_PATH_CAP 512

/* A JSON path grown and shrunk while walking, so that deep documents do not
 * put a path buffer in every stack frame. */
struct path {
  char s[GD_PATH_CAP];
  size_t len;
};

static size_t path_push_key(struct path *p, const char *key) {
  size_t old = p->len;
  int n = snprintf(p->s + old, sizeof p->s - old, "%s%s", old ? "." : "", key);
  p->len = n < 0 ? old : old + (size_t)n;
  if (p->len >= sizeof p->s) p->len = sizeof p->s - 1;
  return old;
}

static size_t path_push_index(struct path *p, size_t i) {
  size_t old = p->len;
  int n = snprintf(p->s + old, sizeof p->s - old, "[%zu]", i);
  p->len = n < 0 ? old : old + (size_t)n;
  if (p->len >= sizeof p->s) p->len = sizeof p->s - 1;
  return old;
}

static void path_pop(struct path *p, size_t old) {
  p->len = old;
  p->s[old] = 0;
}

/* ---- substitution ------------------------------------------------------ */

/* Returns 0 with *val set, GD_ENOTFOUND (err untouched) when the name is
 * not defined, or another error with err set. */
typedef int (*lookup_fn)(void *arg, const char *name, const char **val,
                         struct gd_error *err);

struct strbuf {
  char *s;
  size_t len, cap;
};

static int sb_add(struct strbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *ns = realloc(b->s, cap);
    if (!ns) return GD_ENOMEM;
    b->s = ns;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
  return 0;
}

static int subst_impl(const char *s, lookup_fn fn, void *arg,
                      const char *path, char **out, struct gd_error *err) {
  struct strbuf b = {0};
  int rc = sb_add(&b, "", 0);
  const char *p = s;
  while (!rc && *p) {
    const char *dollar = strchr(p, '$');
    if (!dollar) {
      rc = sb_add(&b, p, strlen(p));
      break;
    }
    rc = sb_add(&b, p, (size_t)(dollar - p));
    if (rc) break;
    if (dollar[1] == '$' && dollar[2] == '{') {
      rc = sb_add(&b, "${", 2);
      p = dollar + 3;
      continue;
    }
    if (dollar[1] != '{') {
      rc = sb_add(&b, "$", 1);
      p = dollar + 1;
      continue;
    }
    const char *name = dollar + 2;
    const char *close = strchr(name, '}');
    if (!close) {
      free(b.s);
      return gd_error_set(err, GD_EINVAL, "%s: unterminated '${'", path);
    }
    size_t nlen = (size_t)(close - name);
    char *nm = strndup(name, nlen);
    if (!nm) {
      rc = GD_ENOMEM;
      break;
    }
    const char *val = NULL;
    if (strncmp(nm, "env:", 4) == 0) {
      val = getenv(nm + 4);
      if (!val) {
        gd_error_set(err, GD_EINVAL,
                     "%s: environment variable '%s' is not set", path, nm + 4);
        free(nm);
        free(b.s);
        return GD_EINVAL;
      }
    } else {
      int lr = fn(arg, nm, &val, err);
      if (lr == GD_ENOTFOUND)
        lr = gd_error_set(err, GD_EINVAL, "%s: undefined variable '%s'", path,
                          nm);
      if (lr) {
        free(nm);
        free(b.s);
        return lr;
      }
    }
    free(nm);
    rc = sb_add(&b, val, strlen(val));
    p = close + 1;
  }
  if (rc) {
    free(b.s);
    return gd_error_set(err, rc, "%s: out of memory", path);
  }
  *out = b.s;
  return 0;
}

static int lookup_object(void *arg, const char *name, const char **val,
                         struct gd_error *err) {
  (void)err;
  const cJSON *v = arg ? cJSON_GetObjectItemCaseSensitive(arg, name) : NULL;
  if (!cJSON_IsString(v)) return GD_ENOTFOUND;
  *val = v->valuestring;
  return 0;
}

int gd_subst(const char *s, const cJSON *vars, const char *path, char **out,
             struct gd_error *err) {
  *out = NULL;
  return subst_impl(s, lookup_object, (void *)vars, path, out, err);
}

/* ---- variables --------------------------------------------------------- */

struct var {
  char *name;
  char *raw;       /* as written, before its own substitution */
  char *value;     /* resolved */
  char path[GD_PATH_CAP];
  int state;       /* 0 unresolved, 1 resolving, 2 resolved */
  size_t via;      /* while resolving: the variable it refers to now */
};

struct varset {
  struct var *v;
  size_t n, cap;
};

static void varset_free(struct varset *vs) {
  for (size_t i = 0; i < vs->n; i++) {
    free(vs->v[i].name);
    free(vs->v[i].raw);
    free(vs->v[i].value);
  }
  free(vs->v);
}

static long varset_find(const struct varset *vs, const char *name) {
  for (size_t i = 0; i < vs->n; i++)
    if (strcmp(vs->v[i].name, name) == 0) return (long)i;
  return -1;
}

/* Names reach ${...} verbatim; keeping them plain keeps "env:" and "}"
 * unambiguous. */
static int valid_var_name(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
      return 0;
  return 1;
}

/* Sets name's raw value, adding the variable when new. Takes raw. */
static int varset_put(struct varset *vs, const char *name, char *raw,
                      const char *path, struct gd_error *err) {
  long i = varset_find(vs, name);
  if (i < 0) {
    if (vs->n == vs->cap) {
      size_t cap = vs->cap ? vs->cap * 2 : 8;
      struct var *nv = realloc(vs->v, cap * sizeof *nv);
      if (!nv) {
        free(raw);
        return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
      }
      vs->v = nv;
      vs->cap = cap;
    }
    struct var *v = &vs->v[vs->n];
    memset(v, 0, sizeof *v);
    v->name = strdup(name);
    if (!v->name) {
      free(raw);
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    }
    vs->n++;
    i = (long)vs->n - 1;
  }
  free(vs->v[i].raw);
  vs->v[i].raw = raw;
  snprintf(vs->v[i].path, sizeof vs->v[i].path, "%s", path);
  return 0;
}

/* Shortest text that reads back as the same double, so 0.1 stays "0.1". */
static void format_number(double d, char *buf, size_t n) {
  if (d == floor(d) && fabs(d) < 1e15) {
    snprintf(buf, n, "%lld", (long long)d);
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) return;
  }
}

static int vars_collect(const cJSON *doc, const struct gd_var *over,
                        size_t nover, struct varset *vs,
                        struct gd_error *err) {
  char path[GD_PATH_CAP], d[64];
  const cJSON *vars = NULL;
  int rc = gd_json_get_object(doc, "vars", "", 0, &vars, err);
  if (rc) return rc;
  for (const cJSON *c = vars ? vars->child : NULL; c; c = c->next) {
    gd_json_path(path, sizeof path, "vars", c->string);
    if (!valid_var_name(c->string))
      return gd_error_set(err, GD_EINVAL,
                          "%s: invalid variable name '%s' (letters, digits, "
                          "'_', '-' and '.' only)",
                          path, c->string);
    const char *text;
    if (cJSON_IsString(c)) {
      text = c->valuestring;
    } else if (cJSON_IsNumber(c)) {
      if (!isfinite(c->valuedouble))
        return gd_error_set(err, GD_EINVAL, "%s: must be a finite number",
                            path);
      format_number(c->valuedouble, d, sizeof d);
      text = d;
    } else if (cJSON_IsBool(c)) {
      text = cJSON_IsTrue(c) ? "true" : "false";
    } else {
      return gd_error_set(err, GD_EINVAL,
                          "%s: must be a string, number or boolean, got %s",
                          path,
                          cJSON_IsNull(c)    ? "null"
                          : cJSON_IsArray(c) ? "an array"
                                             : "an object");
    }
    char *raw = strdup(text);
    if (!raw) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    rc = varset_put(vs, c->string, raw, path, err);
    if (rc) return rc;
  }
  for (size_t i = 0; i < nover; i++) {
    const char *name = over[i].name ? over[i].name : "";
    snprintf(path, sizeof path, "--var %s", name);
    if (!valid_var_name(name))
      return gd_error_set(err, GD_EINVAL,
                          "--var: invalid variable name '%s' (letters, "
                          "digits, '_', '-' and '.' only)",
                          name);
    char *raw = strdup(over[i].value ? over[i].value : "");
    if (!raw) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    rc = varset_put(vs, name, raw, path, err);
    if (rc) return rc;
  }
  return 0;
}

struct resolve_ctx {
  struct varset *vs;
  size_t cur; /* the variable whose value is being substituted */
};

static int var_resolve(struct varset *vs, size_t i, struct gd_error *err);

static int lookup_var(void *arg, const char *name, const char **val,
                      struct gd_error *err) {
  struct resolve_ctx *ctx = arg;
  long j = varset_find(ctx->vs, name);
  if (j < 0) return GD_ENOTFOUND;
  struct var *v = &ctx->vs->v[j];
  ctx->vs->v[ctx->cur].via = (size_t)j;
  /* Named after the variable where the cycle closes and its first step:
   * a -> b -> c -> a gives "vars.a: variable cycle through 'b'". */
  if (v->state == 1)
    return gd_error_set(err, GD_EINVAL, "%s: variable cycle through '%s'",
                        v->path, ctx->vs->v[v->via].name);
  int rc = var_resolve(ctx->vs, (size_t)j, err);
  if (rc) return rc;
  *val = v->value;
  return 0;
}

static int var_resolve(struct varset *vs, size_t i, struct gd_error *err) {
  struct var *v = &vs->v[i];
  if (v->state == 2) return 0;
  v->state = 1;
  struct resolve_ctx ctx = {vs, i};
  int rc = subst_impl(v->raw, lookup_var, &ctx, v->path, &v->value, err);
  if (rc) return rc;
  v->state = 2;
  return 0;
}

static int vars_resolve(const cJSON *doc, const struct gd_var *over,
                        size_t nover, cJSON **out, struct gd_error *err) {
  struct varset vs = {0};
  int rc = vars_collect(doc, over, nover, &vs, err);
  for (size_t i = 0; !rc && i < vs.n; i++) rc = var_resolve(&vs, i, err);
  cJSON *obj = NULL;
  if (!rc) {
    obj = cJSON_CreateObject();
    if (!obj) rc = gd_error_set(err, GD_ENOMEM, "vars: out of memory");
  }
  for (size_t i = 0; !rc && i < vs.n; i++) {
    cJSON *s = cJSON_CreateString(vs.v[i].value);
    if (!s || !cJSON_AddItemToObject(obj, vs.v[i].name, s)) {
      cJSON_Delete(s);
      rc = gd_error_set(err, GD_ENOMEM, "vars: out of memory");
    }
  }
  varset_free(&vs);
  if (rc) {
    cJSON_Delete(obj);
    return rc;
  }
  *out = obj;
  return 0;
}

/* ---- document walks ---------------------------------------------------- */

/* cJSON keeps both members of a repeated key and every lookup finds the
 * first, so the value written last would be ignored without a word. */
static int check_dups(const cJSON *v, struct path *p, struct gd_error *err) {
  if (cJSON_IsObject(v)) {
    for (const cJSON *c = v->child; c; c = c->next) {
      for (const cJSON *q = v->child; q != c; q = q->next)
        if (strcmp(q->string, c->string) == 0)
          return gd_error_set(err, GD_EINVAL, "%s: duplicate key '%s'",
                              p->len ? p->s : c->string, c->string);
      size_t old = path_push_key(p, c->string);
      int rc = check_dups(c, p, err);
      path_pop(p, old);
      if (rc) return rc;
    }
  } else if (cJSON_IsArray(v)) {
    size_t i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
      size_t old = path_push_index(p, i);
      int rc = check_dups(c, p, err);
      path_pop(p, old);
      if (rc) return rc;
    }
  }
  return 0;
}

static int subst_tree(cJSON *v, const cJSON *vars, struct path *p,
                      struct gd_error *err) {
  if (cJSON_IsString(v)) {
    if (!strchr(v->valuestring, '$')) return 0;
    char *s;
    int rc = gd_subst(v->valuestring, vars, p->s, &s, err);
    if (rc) return rc;
    /* Through cJSON, which owns the string and may use its own allocator. */
    int ok = cJSON_SetValuestring(v, s) != NULL;
    free(s);
    if (!ok) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", p->s);
    return 0;
  }
  size_t i = 0;
  for (cJSON *c = v->child; c; c = c->next, i++) {
    size_t old = cJSON_IsObject(v) ? path_push_key(p, c->string)
                                   : path_push_index(p, i);
    int rc = subst_tree(c, vars, p, err);
    path_pop(p, old);
    if (rc) return rc;
  }
  return 0;
}

/* ---- building ---------------------------------------------------------- */

static int valid_chars(const char *s, const char *extra) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || strchr(extra, *s)))
      return 0;
  return 1;
}

static int dup_string(const char *s, char **out, const char *path,
                      struct gd_error *err) {
  *out = strdup(s);
  if (!*out) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  return 0;
}

/* Probe names from key (an array at parent.key) into set. */
static int build_set(const struct gd_scenario *sc, const cJSON *obj,
                     const char *parent, const char *key, int required,
                     struct gd_probe_set *set, struct gd_error *err) {
  char **names = NULL;
  size_t n = 0;
  char path[GD_PATH_CAP], ip[GD_PATH_CAP];
  int rc = gd_json_get_strv(obj, key, parent, required, &names, &n, err);
  if (rc || !names) return rc;
  gd_json_path(path, sizeof path, parent, key);
  set->idx = calloc(n ? n : 1, sizeof *set->idx);
  if (!set->idx) {
    gd_strv_free(names);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  for (size_t i = 0; i < n; i++) {
    gd_json_index_path(ip, sizeof ip, path, i);
    long k = gd_scenario_probe_index(sc, names[i]);
    if (k < 0) {
      rc = gd_error_set(err, GD_EINVAL, "%s: unknown probe '%s'", ip,
                        names[i]);
      break;
    }
    for (size_t j = 0; j < i; j++)
      if (set->idx[j] == (size_t)k)
        rc = gd_error_set(err, GD_EINVAL, "%s: duplicate probe '%s'", ip,
                          names[i]);
    if (rc) break;
    set->idx[i] = (size_t)k;
    set->n = i + 1;
  }
  gd_strv_free(names);
  return rc;
}

static int build_probes(struct gd_scenario *sc, const cJSON *doc,
                        struct gd_error *err) {
  const cJSON *probes = NULL;
  int rc = gd_json_get_object(doc, "probes", "", 1, &probes, err);
  if (rc) return rc;
  size_t n = (size_t)cJSON_GetArraySize(probes);
  if (n == 0) return gd_error_set(err, GD_EINVAL, "probes: must not be empty");
  sc->probes = calloc(n, sizeof *sc->probes);
  if (!sc->probes) return gd_error_set(err, GD_ENOMEM, "probes: out of memory");
  char path[GD_PATH_CAP];
  for (const cJSON *c = probes->child; c; c = c->next) {
    /* No dots: a threshold names a probe's figure as "probe.figure". */
    if (!valid_chars(c->string, "_-"))
      return gd_error_set(err, GD_EINVAL,
                          "probes: invalid probe name '%s' (letters, digits, "
                          "'_' and '-' only)",
                          c->string);
    gd_json_path(path, sizeof path, "probes", c->string);
    rc = gd_probe_init(&sc->probes[sc->nprobes], c->string, c, path, err);
    if (rc) return rc;
    sc->nprobes++;
  }
  return 0;
}

static int build_actions(const cJSON *doc, const char *key, int required,
                         struct gd_action **out, size_t *nout,
                         struct gd_error *err) {
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, key);
  if (!arr) {
    if (required)
      return gd_error_set(err, GD_EINVAL, "%s: required key missing", key);
    return 0;
  }
  if (!cJSON_IsArray(arr))
    return gd_error_set(err, GD_EINVAL, "%s: must be an array of actions",
                        key);
  size_t n = (size_t)cJSON_GetArraySize(arr);
  if (n == 0) {
    if (required)
      return gd_error_set(err, GD_EINVAL, "%s: must not be empty", key);
    return 0;
  }
  *out = calloc(n, sizeof **out);
  if (!*out) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", key);
  char path[GD_PATH_CAP];
  for (const cJSON *c = arr->child; c; c = c->next) {
    gd_json_index_path(path, sizeof path, key, *nout);
    int rc = gd_action_init(&(*out)[*nout], c, path, err);
    if (rc) return rc;
    (*nout)++;
  }
  return 0;
}

static int build_steady(struct gd_scenario *sc, const cJSON *doc,
                        struct gd_error *err) {
  const cJSON *ss = NULL;
  int rc = gd_json_get_object(doc, "steady_state", "", 1, &ss, err);
  if (!rc) rc = gd_json_check_keys(ss, "steady_state", steady_keys, NULL, err);
  if (!rc) rc = build_set(sc, ss, "steady_state", "probes", 1, &sc->steady, err);
  if (!rc)
    rc = gd_json_get_ms(ss, "for_ms", "steady_state", 1, 0, &sc->steady_for_ns,
                        err);
  if (rc) return rc;
  sc->steady_timeout_ns = sc->steady_for_ns + 10000ull * 1000000u;
  rc = gd_json_get_ms(ss, "timeout_ms", "steady_state", 0, 1,
                      &sc->steady_timeout_ns, err);
  if (rc) return rc;
  /* A wait shorter than the streak it waits for can never succeed. */
  if (sc->steady_timeout_ns < sc->steady_for_ns)
    return gd_error_set(
        err, GD_EINVAL,
        "steady_state.timeout_ms: must be at least for_ms (%llu), got %llu",
        (unsigned long long)(sc->steady_for_ns / 1000000u),
        (unsigned long long)(sc->steady_timeout_ns / 1000000u));
  return 0;
}

static int build_recovery(struct gd_scenario *sc, const cJSON *doc,
                          struct gd_error *err) {
  const cJSON *rec = NULL;
  int rc = gd_json_get_object(doc, "recovery", "", 1, &rec, err);
  if (!rc) rc = gd_json_check_keys(rec, "recovery", recovery_keys, NULL, err);
  if (!rc) rc = build_set(sc, rec, "recovery", "probes", 1, &sc->recovery, err);
  if (!rc)
    rc = gd_json_get_ms(rec, "stable_for_ms", "recovery", 1, 0, &sc->stable_ns,
                        err);
  if (!rc)
    rc = gd_json_get_ms(rec, "timeout_ms", "recovery", 1, 1,
                        &sc->recovery_timeout_ns, err);
  if (rc) return rc;
  if (sc->recovery_timeout_ns < sc->stable_ns)
    return gd_error_set(
        err, GD_EINVAL,
        "recovery.timeout_ms: must be at least stable_for_ms (%llu), got %llu",
        (unsigned long long)(sc->stable_ns / 1000000u),
        (unsigned long long)(sc->recovery_timeout_ns / 1000000u));
  return 0;
}

static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return (size_t)-1;
  size_t row[64];
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static void consider(const char *cand, const char *name, char *best,
                     size_t n, size_t *bestd) {
  size_t d = edit_distance(cand, name);
  if (d < *bestd) {
    *bestd = d;
    snprintf(best, n, "%s", cand);
  }
}

static int unknown_figure(const struct gd_scenario *sc, const char *path,
                          const char *name, struct gd_error *err) {
  char best[128] = "", cand[128];
  size_t bestd = 3; /* suggest only close misspellings */
  for (size_t i = 0; core_figures[i]; i++)
    consider(core_figures[i], name, best, sizeof best, &bestd);
  for (size_t p = 0; p < sc->nprobes; p++) {
    const char *const *kf = sc->probes[p].ops->figures;
    for (size_t i = 0; kf && kf[i]; i++) {
      consider(kf[i], name, best, sizeof best, &bestd);
      snprintf(cand, sizeof cand, "%s.%s", sc->probes[p].name, kf[i]);
      consider(cand, name, best, sizeof best, &bestd);
    }
    for (size_t i = 0; probe_figures[i]; i++) {
      snprintf(cand, sizeof cand, "%s.%s", sc->probes[p].name,
               probe_figures[i]);
      consider(cand, name, best, sizeof best, &bestd);
    }
  }
  char hint[160] = "";
  if (*best) snprintf(hint, sizeof hint, " (did you mean '%s'?)", best);
  return gd_error_set(
      err, GD_EINVAL,
      "%s: unknown figure '%s'%s; known: recovery_ms, detection_ms, "
      "downtime_ms, availability, p50/p99/max_latency_ms (also prefixed "
      "baseline_, fault_ or after_), skipped, the probe and action kinds' "
      "figures, and the same per probe as '%s.recovery_ms'",
      path, name, hint, sc->nprobes ? sc->probes[0].name : "probe");
}

static int build_thresholds(struct gd_scenario *sc, const cJSON *doc,
                            struct gd_error *err) {
  const cJSON *th = NULL;
  int rc = gd_json_get_object(doc, "thresholds", "", 0, &th, err);
  if (rc || !th) return rc;
  size_t n = (size_t)cJSON_GetArraySize(th);
  if (!n) return 0;
  sc->thresholds = calloc(n, sizeof *sc->thresholds);
  if (!sc->thresholds)
    return gd_error_set(err, GD_ENOMEM, "thresholds: out of memory");
  char path[GD_PATH_CAP];
  for (const cJSON *c = th->child; c; c = c->next) {
    gd_json_path(path, sizeof path, "thresholds", c->string);
    int at_least = 0;
    if (gd_threshold_known(sc, c->string, &at_least) != 0)
      return unknown_figure(sc, path, c->string, err);
    double limit = 0;
    rc = gd_json_get_double(th, c->string, "thresholds", 1,
                            at_least ? 0.0 : -HUGE_VAL,
                            at_least ? 1.0 : HUGE_VAL, &limit, err);
    if (rc) return rc;
    struct gd_threshold *t = &sc->thresholds[sc->nthresholds];
    rc = dup_string(c->string, &t->name, path, err);
    if (rc) return rc;
    t->limit = limit;
    t->at_least = at_least;
    sc->nthresholds++;
  }
  return 0;
}

/* Actions that read a probe (compare) must name one of the scenario's; the
 * probe is then captured at t0. */
static int link_probe_refs(struct gd_scenario *sc, struct gd_action *a,
                           size_t n, struct gd_error *err) {
  for (size_t i = 0; i < n; i++) {
    const char *name, *key = "probe";
    int capture = 0;
    for (int k = 0; a[i].ops->probe_ref &&
                    (name = a[i].ops->probe_ref(&a[i], k, &key, &capture));
         k++) {
      long p = gd_scenario_probe_index(sc, name);
      if (p < 0)
        return gd_error_set(err, GD_EINVAL, "%s.%s: no probe named '%s'",
                            a[i].path, key, name);
      /* read after recovery, and maybe captured at t0: its text either way */
      sc->probes[p].want_text = 1;
      if (capture) sc->probes[p].capture = 1;
      key = "probe";
      capture = 0;
    }
  }
  return 0;
}

static int build_safety(struct gd_scenario *sc, const cJSON *doc,
                        struct gd_error *err) {
  const cJSON *safety = NULL, *tags = NULL;
  int rc = gd_json_get_object(doc, "safety", "", 0, &safety, err);
  if (!rc && safety)
    rc = gd_json_check_keys(safety, "safety", safety_keys, NULL, err);
  if (!rc && safety)
    rc = gd_json_get_object(safety, "required_tags", "safety", 0, &tags, err);
  if (rc) return rc;
  int local = strcmp(sc->environment, "local") == 0;
  size_t n = tags ? (size_t)cJSON_GetArraySize(tags) : 0;
  if (!local && n == 0)
    return gd_error_set(err, GD_EINVAL,
                        "safety.required_tags: required when environment is "
                        "'%s' (the tags every target must carry, e.g. "
                        "{\"Environment\": \"staging\"})",
                        sc->environment);
  if (n) {
    sc->required_tags = calloc(n, sizeof *sc->required_tags);
    if (!sc->required_tags)
      return gd_error_set(err, GD_ENOMEM, "safety: out of memory");
  }
  for (const cJSON *t = tags ? tags->child : NULL; t; t = t->next) {
    if (!cJSON_IsString(t) || !t->string[0])
      return gd_error_set(err, GD_EINVAL,
                          "safety.required_tags.%s: must be a string",
                          t->string);
    struct gd_tag *g = &sc->required_tags[sc->nrequired_tags];
    g->key = strdup(t->string);
    g->value = strdup(t->valuestring);
    sc->nrequired_tags++;
    if (!g->key || !g->value)
      return gd_error_set(err, GD_ENOMEM, "safety: out of memory");
  }
  long long max = 0;
  if (safety &&
      (rc = gd_json_get_int(safety, "max_targets", "safety", 0, 1, 100000,
                            &max, err)))
    return rc;
  sc->max_targets = (size_t)max;
  return 0;
}

int gd_scenario_check_tags(const struct gd_scenario *sc, const char *target,
                           const struct gd_tag *tags, size_t ntags,
                           struct gd_error *err) {
  for (size_t i = 0; sc && i < sc->nrequired_tags; i++) {
    const struct gd_tag *want = &sc->required_tags[i];
    const struct gd_tag *have = NULL;
    for (size_t k = 0; k < ntags && !have; k++)
      if (tags[k].key && strcmp(tags[k].key, want->key) == 0) have = &tags[k];
    if (!have)
      return gd_error_set(err, GD_EPERM,
                          "target '%s': missing required tag %s=%s", target,
                          want->key, want->value);
    if (!have->value || strcmp(have->value, want->value) != 0)
      return gd_error_set(err, GD_EPERM,
                          "target '%s': tag %s is '%s', required '%s'", target,
                          want->key, have->value ? have->value : "",
                          want->value);
  }
  return 0;
}

size_t gd_scenario_max_targets(const struct gd_scenario *sc) {
  if (sc && sc->max_targets) return sc->max_targets;
  if (!sc || strcmp(sc->environment, "local") == 0) return SIZE_MAX;
  return 1;
}

/* One check of a readiness file: its probe gets a one-second interval and
 * a ten-second timeout unless it says otherwise (it is sampled once). */
static int build_check(struct gd_scenario *sc, const cJSON *c,
                       struct gd_error *err) {
  char path[GD_PATH_CAP], ppath[GD_PATH_CAP];
  gd_json_path(path, sizeof path, "checks", c->string);
  if (!valid_chars(c->string, "_-"))
    return gd_error_set(err, GD_EINVAL,
                        "checks: invalid check name '%s' (letters, digits, "
                        "'_' and '-' only)",
                        c->string);
  if (!cJSON_IsObject(c))
    return gd_error_set(err, GD_EINVAL, "%s: must be an object", path);
  int rc = gd_json_check_keys(c, path, check_keys, NULL, err);
  if (rc) return rc;
  struct gd_readiness_check *ck = &sc->checks[sc->nprobes];
  const char *title = c->string, *sev = "fail", *rem = NULL;
  const cJSON *probe = NULL;
  if ((rc = gd_json_get_string(c, "title", path, 0, &title, err)) ||
      (rc = gd_json_get_string(c, "severity", path, 0, &sev, err)) ||
      (rc = gd_json_get_string(c, "remediation", path, 1, &rem, err)) ||
      (rc = gd_json_get_object(c, "probe", path, 1, &probe, err)))
    return rc;
  if (strcmp(sev, "fail") && strcmp(sev, "warn"))
    return gd_error_set(err, GD_EINVAL,
                        "%s.severity: must be 'fail' or 'warn', got '%s'", path,
                        sev);
  ck->warn = strcmp(sev, "warn") == 0;
  if ((rc = dup_string(title, &ck->title, path, err)) ||
      (rc = dup_string(rem, &ck->remediation, path, err)))
    return rc;
  cJSON *spec = cJSON_Duplicate(probe, 1);
  if (!spec) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  if (!cJSON_GetObjectItemCaseSensitive(spec, "interval_ms"))
    cJSON_AddNumberToObject(spec, "interval_ms", 1000);
  if (!cJSON_GetObjectItemCaseSensitive(spec, "timeout_ms"))
    cJSON_AddNumberToObject(spec, "timeout_ms", 10000);
  gd_json_path(ppath, sizeof ppath, path, "probe");
  rc = gd_probe_init(&sc->probes[sc->nprobes], c->string, spec, ppath, err);
  cJSON_Delete(spec);
  if (rc) return rc;
  sc->nprobes++;
  return 0;
}

static int build_readiness(struct gd_scenario *sc, const cJSON *doc,
                           struct gd_error *err) {
  const cJSON *checks = NULL;
  int rc = gd_json_get_object(doc, "checks", "", 1, &checks, err);
  if (rc) return rc;
  size_t n = (size_t)cJSON_GetArraySize(checks);
  if (n == 0) return gd_error_set(err, GD_EINVAL, "checks: must not be empty");
  sc->readiness = 1;
  sc->probes = calloc(n, sizeof *sc->probes);
  sc->checks = calloc(n, sizeof *sc->checks);
  if (!sc->probes || !sc->checks)
    return gd_error_set(err, GD_ENOMEM, "checks: out of memory");
  for (const cJSON *c = checks->child; c; c = c->next)
    if ((rc = build_check(sc, c, err))) return rc;
  return build_safety(sc, doc, err);
}

static int build(struct gd_scenario *sc, const cJSON *doc,
                 struct gd_error *err) {
  const char *s = NULL;
  int rc = gd_json_get_string(doc, "name", "", 1, &s, err);
  if (rc) return rc;
  /* The name becomes a file name (journal, JUnit), so no path tricks. */
  if (!valid_chars(s, "._-") || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
    return gd_error_set(err, GD_EINVAL,
                        "name: must be letters, digits, '.', '_' or '-', got "
                        "'%s'",
                        s);
  rc = dup_string(s, &sc->name, "name", err);
  if (rc) return rc;
  s = "";
  rc = gd_json_get_string(doc, "description", "", 0, &s, err);
  if (!rc) rc = dup_string(s, &sc->description, "description", err);
  if (rc) return rc;
  s = "local";
  rc = gd_json_get_string(doc, "environment", "", 0, &s, err);
  if (!rc) rc = dup_string(s, &sc->environment, "environment", err);
  if (rc) return rc;

  if (cJSON_GetObjectItemCaseSensitive(doc, "checks"))
    return build_readiness(sc, doc, err);
  if ((rc = build_probes(sc, doc, err))) return rc;
  if ((rc = build_set(sc, doc, "", "guards", 0, &sc->guards, err))) return rc;
  if ((rc = build_steady(sc, doc, err))) return rc;
  if ((rc = build_actions(doc, "fault", 1, &sc->fault, &sc->nfault, err)))
    return rc;
  if ((rc = build_recovery(sc, doc, err))) return rc;
  if ((rc = build_actions(doc, "verify", 0, &sc->verify, &sc->nverify, err)))
    return rc;
  if ((rc = build_actions(doc, "rollback", 0, &sc->rollback, &sc->nrollback,
                          err)))
    return rc;
  if ((rc = link_probe_refs(sc, sc->fault, sc->nfault, err)) ||
      (rc = link_probe_refs(sc, sc->verify, sc->nverify, err)) ||
      (rc = link_probe_refs(sc, sc->rollback, sc->nrollback, err)))
    return rc;
  if ((rc = build_safety(sc, doc, err))) return rc;
  return build_thresholds(sc, doc, err);
}

/* "file: message", when a file is known. */
static int prefix_error(struct gd_error *err, int rc, const char *file) {
  if (!err || !file || !*file) return rc;
  char msg[GD_ERROR_MAX];
  snprintf(msg, sizeof msg, "%s", err->msg);
  return gd_error_set(err, rc, "%s: %s", file, msg);
}

int gd_scenario_from_json(const cJSON *doc, const char *file,
                          const struct gd_var *vars, size_t nvars,
                          struct gd_scenario **out, struct gd_error *err) {
  *out = NULL;
  struct gd_scenario *sc = NULL;
  cJSON *copy = NULL;
  struct path p = {.len = 0};
  int rc;

  if (!cJSON_IsObject(doc)) {
    rc = gd_error_set(err, GD_EINVAL, "the top level must be an object");
    goto fail;
  }
  if ((rc = check_dups(doc, &p, err))) goto fail;
  if ((rc = gd_json_check_keys(doc, "",
                               cJSON_GetObjectItemCaseSensitive(doc, "checks")
                                   ? readiness_keys
                                   : top_keys,
                               NULL, err)))
    goto fail;

  sc = calloc(1, sizeof *sc);
  if (!sc) {
    rc = gd_error_set(err, GD_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = dup_string(file ? file : "", &sc->file, "file", err))) goto fail;
  if ((rc = vars_resolve(doc, vars, nvars, &sc->vars, err))) goto fail;

  /* Substitution works on a copy: the caller's document stays as written. */
  copy = cJSON_Duplicate(doc, 1);
  if (!copy) {
    rc = gd_error_set(err, GD_ENOMEM, "out of memory");
    goto fail;
  }
  for (cJSON *c = copy->child; c; c = c->next) {
    if (strcmp(c->string, "vars") == 0) continue;
    size_t old = path_push_key(&p, c->string);
    rc = subst_tree(c, sc->vars, &p, err);
    path_pop(&p, old);
    if (rc) goto fail;
  }
  if ((rc = build(sc, copy, err))) goto fail;
  cJSON_Delete(copy);
  *out = sc;
  return 0;

fail:
  cJSON_Delete(copy);
  gd_scenario_free(sc);
  return prefix_error(err, rc, file);
}

int gd_scenario_load(const char *file, const struct gd_var *vars,
                     size_t nvars, struct gd_scenario **out,
                     struct gd_error *err) {
  *out = NULL;
  cJSON *doc = NULL;
  int rc = gd_json_parse_file(file, GD_SCENARIO_MAX_BYTES, &doc, err);
  if (rc) return rc;
  rc = gd_scenario_from_json(doc, file, vars, nvars, out, err);
  cJSON_Delete(doc);
  return rc;
}

void gd_scenario_free(struct gd_scenario *sc) {
  if (!sc) return;
  for (size_t i = 0; sc->checks && i < sc->nprobes; i++) {
    free(sc->checks[i].title);
    free(sc->checks[i].remediation);
  }
  free(sc->checks);
  for (size_t i = 0; i < sc->nprobes; i++) gd_probe_free(&sc->probes[i]);
  free(sc->probes);
  for (size_t i = 0; i < sc->nfault; i++) gd_action_free(&sc->fault[i]);
  free(sc->fault);
  for (size_t i = 0; i < sc->nverify; i++) gd_action_free(&sc->verify[i]);
  free(sc->verify);
  for (size_t i = 0; i < sc->nrollback; i++) gd_action_free(&sc->rollback[i]);
  free(sc->rollback);
  for (size_t i = 0; i < sc->nthresholds; i++) free(sc->thresholds[i].name);
  free(sc->thresholds);
  for (size_t i = 0; i < sc->nrequired_tags; i++) {
    free((char *)sc->required_tags[i].key);
    free((char *)sc->required_tags[i].value);
  }
  free(sc->required_tags);
  free(sc->guards.idx);
  free(sc->steady.idx);
  free(sc->recovery.idx);
  cJSON_Delete(sc->vars);
  free(sc->file);
  free(sc->name);
  free(sc->description);
  free(sc->environment);
  free(sc);
}

long gd_scenario_probe_index(const struct gd_scenario *sc, const char *name) {
  for (size_t i = 0; sc && name && i < sc->nprobes; i++)
    if (strcmp(sc->probes[i].name, name) == 0) return (long)i;
  return -1;
}

static int ends_with(const char *s, const char *suffix) {
  size_t ls = strlen(s), lx = strlen(suffix);
  return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static int kind_has_figure(const struct gd_probe *p, const char *fig) {
  const char *const *kf = p->ops ? p->ops->figures : NULL;
  for (size_t i = 0; kf && kf[i]; i++)
    if (strcmp(kf[i], fig) == 0) return 1;
  return 0;
}

static int action_has_figure(const struct gd_action *a, size_t n,
                             const char *fig) {
  for (size_t i = 0; i < n; i++) {
    const char *const *kf = a[i].ops ? a[i].ops->figures : NULL;
    for (size_t k = 0; kf && kf[k]; k++)
      if (strcmp(kf[k], fig) == 0) return 1;
    if (a[i].ops && a[i].ops->has_figure && a[i].ops->has_figure(&a[i], fig))
      return 1;
  }
  return 0;
}

static int figure_known(const struct gd_scenario *sc, const char *name) {
  for (size_t i = 0; core_figures[i]; i++)
    if (strcmp(core_figures[i], name) == 0) return 1;
  if (sc && (action_has_figure(sc->fault, sc->nfault, name) ||
             action_has_figure(sc->verify, sc->nverify, name) ||
             action_has_figure(sc->rollback, sc->nrollback, name)))
    return 1;
  for (size_t p = 0; sc && p < sc->nprobes; p++)
    if (kind_has_figure(&sc->probes[p], name)) return 1;
  const char *dot = strchr(name, '.');
  if (!dot || !sc) return 0;
  for (size_t p = 0; p < sc->nprobes; p++) {
    const struct gd_probe *pr = &sc->probes[p];
    size_t nl = strlen(pr->name);
    if ((size_t)(dot - name) != nl || strncmp(name, pr->name, nl) != 0)
      continue;
    const char *fig = dot + 1;
    for (size_t i = 0; probe_figures[i]; i++)
      if (strcmp(probe_figures[i], fig) == 0) return 1;
    return kind_has_figure(pr, fig);
  }
  return 0;
}

int gd_threshold_known(const struct gd_scenario *sc, const char *name,
                       int *at_least) {
  if (!name || !figure_known(sc, name)) return GD_ENOTFOUND;
  if (at_least) *at_least = ends_with(name, "availability");
  return 0;
}

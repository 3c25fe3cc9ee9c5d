/* gameday: the AWS shared config and credentials files, the profile, the
 * region and the service endpoints, resolved as the SDKs resolve them.
 *
 * The files are INI as the SDKs read them (the rules of the Java SDK's
 * profile file reader): comment lines start with # or ;, a # or ; after
 * whitespace ends a value, an indented line continues the setting above it,
 * and a setting whose value is empty followed by indented "name = value"
 * lines is a nested block (s3 = ..., and each service's block in a
 * [services NAME] section). Keys are case-insensitive. Both
 * files are kept whole once parsed; lookups scan them, which is cheap for
 * files of a few dozen lines and is done a handful of times per run. */
#include "gameday/awsconfig.h"

#include <curl/curl.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A shared file is a few KiB; anything this large is not one. */
#define FILE_MAX (1 << 20)

enum sect_kind { SECT_OTHER, SECT_PROFILE, SECT_SERVICES };

struct prop {
  char *key;   /* lowercase */
  char *value; /* continuation lines joined with '\n' */
};

struct section {
  enum sect_kind kind;
  /* [profile default] outranks [default] in the config file, as in the
   * Java and Go SDKs. */
  int rank;
  char *name;
  struct prop *props;
  size_t n, cap;
};

struct ini {
  char *path;
  struct section *s;
  size_t n, cap;
};

struct envkv {
  char *suffix; /* after AWS_ENDPOINT_URL_ */
  char *value;
};

struct gd_aws_config {
  char *profile;
  int explicit_profile; /* given by the caller, not AWS_PROFILE */
  struct ini conf, cred;
  const char *region;  /* points into the environment copy or a prop */
  char *region_env;    /* copy of AWS_REGION / AWS_DEFAULT_REGION */
  char *region_source;
  char *endpoint_url;  /* AWS_ENDPOINT_URL */
  struct envkv *eps;   /* AWS_ENDPOINT_URL_<SERVICE> */
  size_t neps;
  int ignore_endpoints;
};

/* ------------------------------------------------------------------ */
/* Small helpers */

static int is_ws(char ch) { return ch == ' ' || ch == '\t'; }

static const char *env_get(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static int is_true(const char *v) { return v && strcasecmp(v, "true") == 0; }

/* Settings hold secrets: wipe them before the memory goes back. */
static void free_secret(char *s) {
  if (!s) return;
  explicit_bzero(s, strlen(s));
  free(s);
}

static char *dup_range(const char *b, const char *e) {
  char *s = malloc((size_t)(e - b) + 1);
  if (!s) return NULL;
  memcpy(s, b, (size_t)(e - b));
  s[e - b] = 0;
  return s;
}

static const char *trim_left(const char *b, const char *e) {
  while (b < e && is_ws(*b)) b++;
  return b;
}

static const char *trim_right(const char *b, const char *e) {
  while (e > b && is_ws(e[-1])) e--;
  return e;
}

/* A value ends at a # or ; that follows whitespace. */
static const char *strip_comment(const char *b, const char *e) {
  for (const char *q = b + 1; q < e; q++)
    if ((*q == '#' || *q == ';') && is_ws(q[-1])) return trim_right(b, q);
  return e;
}

/* "~" and "~/..." as the SDKs expand them: HOME, else the password entry. */
static char *expand_home(const char *path) {
  if (path[0] != '~' || (path[1] && path[1] != '/')) return strdup(path);
  const char *home = env_get("HOME");
  if (!home) {
    struct passwd *pw = getpwuid(getuid());
    home = pw && pw->pw_dir ? pw->pw_dir : "";
  }
  size_t n = strlen(home) + strlen(path);
  char *s = malloc(n + 1);
  if (s) snprintf(s, n + 1, "%s%s", home, path + 1);
  return s;
}

/* ------------------------------------------------------------------ */
/* INI */

static void ini_free(struct ini *f) {
  for (size_t i = 0; i < f->n; i++) {
    struct section *s = &f->s[i];
    for (size_t j = 0; j < s->n; j++) {
      free(s->props[j].key);
      free_secret(s->props[j].value);
    }
    free(s->props);
    free(s->name);
  }
  free(f->s);
  free(f->path);
  memset(f, 0, sizeof *f);
}

static struct section *add_section(struct ini *f) {
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 8;
    struct section *ns = realloc(f->s, cap * sizeof *ns);
    if (!ns) return NULL;
    f->s = ns;
    f->cap = cap;
  }
  struct section *s = &f->s[f->n++];
  memset(s, 0, sizeof *s);
  return s;
}

static struct prop *add_prop(struct section *s) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    struct prop *np = realloc(s->props, cap * sizeof *np);
    if (!np) return NULL;
    s->props = np;
    s->cap = cap;
  }
  struct prop *p = &s->props[s->n++];
  memset(p, 0, sizeof *p);
  return p;
}

static int has_ws(const char *b, const char *e) {
  for (; b < e; b++)
    if (is_ws(*b)) return 1;
  return 0;
}

/* "[ profile  name ]" and friends; b..e is the text between the brackets,
 * trimmed. */
static int classify(struct section *s, const char *b, const char *e,
                    int is_config) {
  s->kind = SECT_OTHER;
  const char *name = b;
  if (is_config) {
    size_t n = (size_t)(e - b);
    if (n == 7 && memcmp(b, "default", 7) == 0) {
      s->kind = SECT_PROFILE;
    } else if (n > 8 && memcmp(b, "profile", 7) == 0 && is_ws(b[7])) {
      s->kind = SECT_PROFILE;
      s->rank = 1;
      name = trim_left(b + 7, e);
    } else if (n > 9 && memcmp(b, "services", 8) == 0 && is_ws(b[8])) {
      s->kind = SECT_SERVICES;
      name = trim_left(b + 8, e);
    }
  } else if (e > b) {
    s->kind = SECT_PROFILE;
  }
  /* Names with blanks are invalid in both files; the SDKs skip them. */
  if (s->kind != SECT_OTHER && (name == e || has_ws(name, e)))
    s->kind = SECT_OTHER;
  s->name = dup_range(name, e);
  return s->name ? 0 : GD_ENOMEM;
}

/* Messages never quote a line: in the credentials file it may be a key. */
static int ini_parse(struct ini *f, const char *text, size_t len,
                     int is_config, struct gd_error *err) {
  long cs = -1, lp = -1; /* current section, last setting in it */
  const char *p = text, *end = text + len;
  for (unsigned line = 1; p < end; line++, p++) {
    const char *b = p;
    const char *e = memchr(p, '\n', (size_t)(end - p));
    if (!e) e = end;
    p = e;
    if (e > b && e[-1] == '\r') e--;
    int indented = b < e && is_ws(*b);
    const char *t = trim_left(b, e);
    e = trim_right(t, e);
    if (t == e || *t == '#' || *t == ';') continue;

    /* A header even when indented: the one reading that cannot be a
     * value. */
    if (*t == '[') {
      const char *close = memchr(t, ']', (size_t)(e - t));
      if (!close)
        return gd_error_set(err, GD_EINVAL,
                            "'%s' line %u: section header without ']'",
                            f->path, line);
      const char *rest = trim_left(close + 1, e);
      if (rest < e && *rest != '#' && *rest != ';')
        return gd_error_set(err, GD_EINVAL,
                            "'%s' line %u: unexpected text after ']'",
                            f->path, line);
      struct section *s = add_section(f);
      if (!s) goto nomem;
      const char *nb = trim_left(t + 1, close);
      if (classify(s, nb, trim_right(nb, close), is_config)) goto nomem;
      cs = (long)f->n - 1;
      lp = -1;
      continue;
    }

    if (indented && lp >= 0) {
      struct prop *pr = &f->s[cs].props[lp];
      e = strip_comment(t, e);
      size_t old = strlen(pr->value), add = (size_t)(e - t);
      char *nv = malloc(old + add + 2);
      if (!nv) goto nomem;
      memcpy(nv, pr->value, old);
      size_t o = old;
      if (old) nv[o++] = '\n';
      memcpy(nv + o, t, add);
      nv[o + add] = 0;
      free_secret(pr->value);
      pr->value = nv;
      continue;
    }

    if (cs < 0)
      return gd_error_set(err, GD_EINVAL,
                          "'%s' line %u: setting outside any [section]",
                          f->path, line);
    const char *eq = memchr(t, '=', (size_t)(e - t));
    if (!eq)
      return gd_error_set(err, GD_EINVAL,
                          "'%s' line %u: expected 'name = value'", f->path,
                          line);
    const char *ke = trim_right(t, eq);
    if (ke == t)
      return gd_error_set(err, GD_EINVAL,
                          "'%s' line %u: setting without a name", f->path,
                          line);
    const char *vb = trim_left(eq + 1, e);
    const char *ve = vb < e ? strip_comment(vb, e) : e;
    struct prop *pr = add_prop(&f->s[cs]);
    if (!pr) goto nomem;
    pr->key = dup_range(t, ke);
    pr->value = dup_range(vb, ve);
    if (!pr->key || !pr->value) goto nomem;
    for (char *k = pr->key; *k; k++)
      if (*k >= 'A' && *k <= 'Z') *k = (char)(*k - 'A' + 'a');
    lp = (long)f->s[cs].n - 1;
  }
  return 0;
nomem:
  return gd_error_set(err, GD_ENOMEM, "'%s': out of memory", f->path);
}

/* A missing file is an empty one, as in every SDK. */
static int ini_load(struct ini *f, const char *path, int is_config,
                    struct gd_error *err) {
  memset(f, 0, sizeof *f);
  if (!(f->path = expand_home(path)))
    return gd_error_set(err, GD_ENOMEM, "out of memory");
  FILE *fp = fopen(f->path, "rb");
  if (!fp) {
    if (errno == ENOENT || errno == ENOTDIR) return 0;
    return gd_error_set(err, GD_EIO, "cannot read '%s': %s", f->path,
                        strerror(errno));
  }
  char *buf = malloc(FILE_MAX + 1);
  if (!buf) {
    fclose(fp);
    return gd_error_set(err, GD_ENOMEM, "'%s': out of memory", f->path);
  }
  size_t n = fread(buf, 1, FILE_MAX + 1, fp);
  int rerr = ferror(fp) ? errno : 0;
  fclose(fp);
  int rc;
  if (rerr)
    rc = gd_error_set(err, GD_EIO, "cannot read '%s': %s", f->path,
                      strerror(rerr));
  else if (n > FILE_MAX)
    rc = gd_error_set(err, GD_EINVAL, "'%s': larger than %d bytes", f->path,
                      FILE_MAX);
  else
    rc = ini_parse(f, buf, n, is_config, err);
  explicit_bzero(buf, n < FILE_MAX ? n : FILE_MAX);
  free(buf);
  return rc;
}

/* The last setting of key in the sections kind/name, the highest rank
 * first: duplicated sections merge, later settings win. */
static const struct prop *ini_find(const struct ini *f, enum sect_kind kind,
                                   const char *name, const char *key) {
  const struct prop *best = NULL;
  int best_rank = -1;
  for (size_t i = 0; i < f->n; i++) {
    const struct section *s = &f->s[i];
    if (s->kind != kind || strcmp(s->name, name) != 0 || s->rank < best_rank)
      continue;
    for (size_t j = 0; j < s->n; j++)
      if (strcmp(s->props[j].key, key) == 0) {
        best = &s->props[j];
        best_rank = s->rank;
      }
  }
  return best;
}

static int ini_has(const struct ini *f, enum sect_kind kind,
                   const char *name) {
  for (size_t i = 0; i < f->n; i++)
    if (f->s[i].kind == kind && strcmp(f->s[i].name, name) == 0) return 1;
  return 0;
}

/* "name = value" inside a nested block; value malloc'd. */
static char *nested_get(const char *block, const char *key) {
  const char *p = block;
  size_t klen = strlen(key);
  while (*p) {
    const char *e = strchr(p, '\n');
    if (!e) e = p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(e - p));
    if (eq) {
      const char *kb = trim_left(p, eq), *ke = trim_right(kb, eq);
      if ((size_t)(ke - kb) == klen && strncasecmp(kb, key, klen) == 0) {
        const char *vb = trim_left(eq + 1, e);
        return dup_range(vb, trim_right(vb, e));
      }
    }
    p = *e ? e + 1 : e;
  }
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Loading */

void gd_aws_config_free(struct gd_aws_config *c) {
  if (!c) return;
  free(c->profile);
  ini_free(&c->conf);
  ini_free(&c->cred);
  free(c->region_env);
  free(c->region_source);
  free(c->endpoint_url);
  for (size_t i = 0; i < c->neps; i++) {
    free(c->eps[i].suffix);
    free(c->eps[i].value);
  }
  free(c->eps);
  free(c);
}

extern char **environ;

static int load_endpoint_env(struct gd_aws_config *c) {
  static const char pre[] = "AWS_ENDPOINT_URL_";
  const char *v = env_get("AWS_ENDPOINT_URL");
  if (v && !(c->endpoint_url = strdup(v))) return GD_ENOMEM;
  size_t n = 0;
  for (char **e = environ; *e; e++)
    if (strncmp(*e, pre, sizeof pre - 1) == 0) n++;
  if (!n) return 0;
  if (!(c->eps = calloc(n, sizeof *c->eps))) return GD_ENOMEM;
  for (char **e = environ; *e && c->neps < n; e++) {
    if (strncmp(*e, pre, sizeof pre - 1) != 0) continue;
    const char *name = *e + sizeof pre - 1;
    const char *eq = strchr(name, '=');
    if (!eq || eq == name || !eq[1]) continue;
    struct envkv *kv = &c->eps[c->neps];
    kv->suffix = dup_range(name, eq);
    kv->value = strdup(eq + 1);
    c->neps++;
    if (!kv->suffix || !kv->value) return GD_ENOMEM;
  }
  return 0;
}

static int resolve_region(struct gd_aws_config *c) {
  static const char *const vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
  for (size_t i = 0; i < 2; i++) {
    const char *v = env_get(vars[i]);
    if (!v) continue;
    if (!(c->region_env = strdup(v)) ||
        !(c->region_source = strdup(vars[i])))
      return GD_ENOMEM;
    c->region = c->region_env;
    return 0;
  }
  const char *file = NULL;
  const char *v = gd_aws_config_get(c, "region", &file);
  if (!v || !*v) return 0;
  size_t n = strlen(c->profile) + strlen(file) + 32;
  if (!(c->region_source = malloc(n))) return GD_ENOMEM;
  snprintf(c->region_source, n, "profile '%s' in '%s'", c->profile, file);
  c->region = v;
  return 0;
}

int gd_aws_config_load(struct gd_aws_config **out, const char *profile,
                       struct gd_error *err) {
  *out = NULL;
  struct gd_aws_config *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "out of memory");
  const char *from = "";
  c->explicit_profile = profile && *profile;
  if (!profile || !*profile) {
    profile = env_get("AWS_PROFILE");
    from = " (from AWS_PROFILE)";
  }
  int named = profile != NULL;
  if (!profile) profile = "default";
  int rc;
  const char *cf = env_get("AWS_CONFIG_FILE");
  const char *kf = env_get("AWS_SHARED_CREDENTIALS_FILE");
  if (!(c->profile = strdup(profile))) {
    rc = gd_error_set(err, GD_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = ini_load(&c->conf, cf ? cf : "~/.aws/config", 1, err)) ||
      (rc = ini_load(&c->cred, kf ? kf : "~/.aws/credentials", 0, err)))
    goto fail;
  if (named && !ini_has(&c->conf, SECT_PROFILE, profile) &&
      !ini_has(&c->cred, SECT_PROFILE, profile)) {
    rc = gd_error_set(err, GD_ENOTFOUND,
                      "aws profile '%s'%s not found in '%s' or '%s'",
                      profile, from, c->conf.path, c->cred.path);
    goto fail;
  }
  if ((rc = resolve_region(c)) || (rc = load_endpoint_env(c))) {
    rc = gd_error_set(err, GD_ENOMEM, "out of memory");
    goto fail;
  }
  const char *ign = env_get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  if (!ign) ign = gd_aws_config_get(c, "ignore_configured_endpoint_urls", NULL);
  c->ignore_endpoints = is_true(ign);
  *out = c;
  return 0;
fail:
  gd_aws_config_free(c);
  return rc;
}

const char *gd_aws_config_profile(const struct gd_aws_config *c) {
  return c->profile;
}

int gd_aws_config_profile_explicit(const struct gd_aws_config *c) {
  return c->explicit_profile;
}

const char *gd_aws_config_file(const struct gd_aws_config *c) {
  return c->conf.path;
}

const char *gd_aws_config_credentials_file(const struct gd_aws_config *c) {
  return c->cred.path;
}

const char *gd_aws_config_region(const struct gd_aws_config *c,
                                 const char **source) {
  if (source) *source = c->region_source;
  return c->region;
}

const char *gd_aws_config_get(const struct gd_aws_config *c, const char *key,
                              const char **file) {
  const struct prop *p = ini_find(&c->cred, SECT_PROFILE, c->profile, key);
  const struct ini *f = &c->cred;
  if (!p) {
    p = ini_find(&c->conf, SECT_PROFILE, c->profile, key);
    f = &c->conf;
  }
  if (file) *file = p ? f->path : NULL;
  return p ? p->value : NULL;
}

/* ------------------------------------------------------------------ */
/* Endpoints */

struct svc {
  const char *prefix; /* endpoint prefix and SigV4 signing name */
  const char *id;     /* the SDK service id */
  const char *alias;
  int global;         /* one endpoint per partition (IAM) */
};

/* The services gameday's kinds call, and a few neighbours. The first entry
 * of a prefix is the one a bare prefix means (elasticloadbalancing: v2,
 * which the ALB probes use). */
static const struct svc services[] = {
    {"ec2", "EC2", NULL, 0},
    {"autoscaling", "Auto Scaling", NULL, 0},
    {"rds", "RDS", NULL, 0},
    {"sqs", "SQS", NULL, 0},
    {"monitoring", "CloudWatch", NULL, 0},
    {"iam", "IAM", NULL, 1},
    {"sts", "STS", NULL, 0},
    {"elasticloadbalancing", "Elastic Load Balancing v2", "elbv2", 0},
    {"elasticloadbalancing", "Elastic Load Balancing", "elb", 0},
    {"s3", "S3", NULL, 0},
    {"cloudtrail", "CloudTrail", NULL, 0},
    {"lambda", "Lambda", NULL, 0},
    {"logs", "CloudWatch Logs", NULL, 0},
    {"dynamodb", "DynamoDB", NULL, 0},
    {"ecs", "ECS", NULL, 0},
    {"ssm", "SSM", NULL, 0},
    {"elasticache", "ElastiCache", NULL, 0},
};

static const struct svc *find_service(const char *name) {
  for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
    const struct svc *s = &services[i];
    if (strcasecmp(name, s->prefix) == 0 || strcasecmp(name, s->id) == 0 ||
        (s->alias && strcasecmp(name, s->alias) == 0))
      return s;
  }
  return NULL;
}

/* Region names are DNS labels joined by '-': anything else would let a
 * value steer the host name. */
static int valid_region(const char *r) {
  size_t n = strlen(r);
  if (n == 0 || n > 48 || r[0] == '-' || r[n - 1] == '-') return 0;
  for (size_t i = 0; i < n; i++)
    if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') ||
          r[i] == '-'))
      return 0;
  return 1;
}

static int valid_prefix(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
      return 0;
  return 1;
}

/* The service id as the override names spell it: upper for the variable
 * (AUTO_SCALING), lower for the services section (auto_scaling). */
static void id_key(char *buf, size_t n, const char *id, int upper) {
  size_t o = 0;
  for (; *id && o + 1 < n; id++) {
    char ch = *id;
    if (ch == ' ' || ch == '-')
      ch = '_';
    else if (upper && ch >= 'a' && ch <= 'z')
      ch = (char)(ch - 'a' + 'A');
    else if (!upper && ch >= 'A' && ch <= 'Z')
      ch = (char)(ch - 'A' + 'a');
    buf[o++] = ch;
  }
  buf[o] = 0;
}

/* An override must be an http(s) URL; it is used without its trailing
 * slash so that paths join cleanly. */
static int set_override(struct gd_aws_endpoint *out, const char *url,
                        const char *where, struct gd_error *err) {
  CURLU *u = curl_url();
  char *scheme = NULL;
  int ok = 0;
  if (!u) return gd_error_set(err, GD_ENOMEM, "out of memory");
  if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
    ok = strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0;
  curl_free(scheme);
  curl_url_cleanup(u);
  size_t n = strlen(url);
  while (n > 0 && url[n - 1] == '/') n--;
  if (!ok || n >= sizeof out->url)
    return gd_error_set(err, GD_EINVAL,
                        "%s: invalid endpoint URL '%s' (want http or https)",
                        where, url);
  memcpy(out->url, url, n);
  out->url[n] = 0;
  snprintf(out->source, sizeof out->source, "%s", where);
  return 0;
}

static int find_override(const struct gd_aws_config *c, const char *id,
                         struct gd_aws_endpoint *out, int *found,
                         struct gd_error *err) {
  char key[64], where[sizeof out->source];
  *found = 0;
  if (c->ignore_endpoints) return 0;
  id_key(key, sizeof key, id, 1);
  for (size_t i = 0; i < c->neps; i++)
    if (strcmp(c->eps[i].suffix, key) == 0) {
      snprintf(where, sizeof where, "AWS_ENDPOINT_URL_%s", key);
      *found = 1;
      return set_override(out, c->eps[i].value, where, err);
    }
  if (c->endpoint_url) {
    *found = 1;
    return set_override(out, c->endpoint_url, "AWS_ENDPOINT_URL", err);
  }
  const char *svcname = gd_aws_config_get(c, "services", NULL);
  if (svcname && *svcname) {
    id_key(key, sizeof key, id, 0);
    const struct prop *p = ini_find(&c->conf, SECT_SERVICES, svcname, key);
    char *url = p ? nested_get(p->value, "endpoint_url") : NULL;
    if (url) {
      snprintf(where, sizeof where, "[services %s] %s.endpoint_url", svcname,
               key);
      *found = 1;
      int rc = set_override(out, url, where, err);
      free(url);
      return rc;
    }
  }
  const char *file = NULL;
  const char *url = gd_aws_config_get(c, "endpoint_url", &file);
  if (url && *url) {
    snprintf(where, sizeof where, "profile '%s' endpoint_url", c->profile);
    *found = 1;
    return set_override(out, url, where, err);
  }
  return 0;
}

int gd_aws_endpoint_resolve(const struct gd_aws_config *c, const char *service,
                            const char *region, struct gd_aws_endpoint *out,
                            struct gd_error *err) {
  memset(out, 0, sizeof *out);
  if (!region) region = c->region;
  if (!region)
    return gd_error_set(err, GD_EINVAL,
                        "no aws region: set AWS_REGION or AWS_DEFAULT_REGION, "
                        "or region in profile '%s' of '%s'",
                        c->profile, c->conf.path);
  if (!valid_region(region))
    return gd_error_set(err, GD_EINVAL, "invalid aws region '%s'", region);
  const struct svc *s = find_service(service);
  struct svc other = {service, service, NULL, 0};
  if (!s) {
    if (!valid_prefix(service))
      return gd_error_set(err, GD_EINVAL, "unknown aws service '%s'", service);
    s = &other;
  }
  const char *domain = "amazonaws.com", *iam_host = "iam.amazonaws.com";
  const char *iam_region = "us-east-1";
  if (strncmp(region, "cn-", 3) == 0) {
    domain = "amazonaws.com.cn";
    iam_host = "iam.cn-north-1.amazonaws.com.cn";
    iam_region = "cn-north-1";
  } else if (strncmp(region, "us-gov-", 7) == 0) {
    iam_host = "iam.us-gov.amazonaws.com";
    iam_region = "us-gov-west-1";
  } else if (strncmp(region, "us-isob-", 8) == 0) {
    domain = "sc2s.sgov.gov";
    iam_host = "iam.us-isob-east-1.sc2s.sgov.gov";
    iam_region = "us-isob-east-1";
  } else if (strncmp(region, "us-iso-", 7) == 0) {
    domain = "c2s.ic.gov";
    iam_host = "iam.us-iso-east-1.c2s.ic.gov";
    iam_region = "us-iso-east-1";
  }
  snprintf(out->signing_name, sizeof out->signing_name, "%s", s->prefix);
  snprintf(out->signing_region, sizeof out->signing_region, "%s",
           s->global ? iam_region : region);
  int found;
  int rc = find_override(c, s->id, out, &found, err);
  if (rc || found) return rc;
  if (s->global)
    snprintf(out->url, sizeof out->url, "https://%s", iam_host);
  else
    snprintf(out->url, sizeof out->url, "https://%s.%s.%s", s->prefix, region,
             domain);
  snprintf(out->source, sizeof out->source, "default");
  return 0;
}

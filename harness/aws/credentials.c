/* gameday: the AWS credential provider chain, on the loop.
 *
 * One fetch at a time: gets that arrive while one runs wait for it, and a
 * get is always answered from the kick timer or a fetch's own callback,
 * never from inside gd_aws_credprov_get. While the chain is unresolved a
 * fetch walks it step by step (environment, assume role, web identity,
 * profile, container, instance metadata); the step that answers becomes
 * the source, and later refreshes ask that source alone, as the SDKs do.
 * An assumed role's source credentials come from a provider of its own
 * (inner), limited to the steps the source may use.
 *
 * Secrets (keys, session tokens, the container authorization token, the
 * IMDS session token) live in memory that is wiped before it is freed, and
 * no message ever quotes them, nor the output of a credential_process or an
 * answer body that might hold them. */
#include "gameday/awsconfig.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "gameday/aws.h"
#include "gameday/httpreq.h"
#include "gameday/json.h"
#include "gameday/sigv4.h"

#define BODY_MAX (64 * 1024)
#define STDERR_KEEP 1024
#define LINE_MAX_MSG 160
#define IMDS_TOKEN_TTL_S 21600
#define IMDS_HOST4 "http://169.254.169.254"
#define IMDS_HOST6 "http://[fd00:ec2::254]"
#define CONTAINER_HOST "http://169.254.170.2"
/* botocore's container fetcher: 2 s and three attempts; the endpoint is a
 * local agent, so that is already generous. */
#define CONTAINER_TIMEOUT_MS 2000
#define CONTAINER_ATTEMPTS 3
/* STS is a remote service: the client's timeout, a few attempts. */
#define STS_TIMEOUT_MS 10000
#define STS_ATTEMPTS 3
#define STS_VERSION "2011-06-15"
/* Profiles chained by source_profile: deeper than this is a mistake. */
#define ROLE_DEPTH_MAX 8

/* botocore's order: environment, assume role, web identity, then the
 * profile's own keys or process, container, instance metadata. */
enum step {
  STEP_ENV,
  STEP_ROLE,
  STEP_WEBID,
  STEP_PROFILE,
  STEP_CONTAINER,
  STEP_IMDS,
  STEP_END
};

/* What a step did synchronously. */
enum step_rc { ST_OK, ST_ASYNC, ST_SKIP, ST_FAIL };

#define STEP_BIT(s) (1u << (s))
#define STEPS_ALL (STEP_BIT(STEP_END) - 1)

enum http_stage {
  H_CONTAINER,
  H_IMDS_TOKEN,
  H_IMDS_ROLE,
  H_IMDS_CREDS,
  H_STS
};

struct waiter {
  gd_aws_creds_cb cb;
  void *arg;
  struct waiter *next;
};

struct gd_aws_credprov {
  uv_loop_t *loop;
  struct gd_curl *curl;

  /* Taken from the config and the environment by _new. */
  char *profile;
  char *env_akid, *env_secret, *env_token;
  char *st_akid, *st_secret, *st_token, *st_file;
  char *unsupported;      /* message: the profile needs what we lack */
  char *process, *process_file;
  unsigned mask;          /* the steps this provider may run */
  int depth;              /* 0: the chain; more: a role's source */
  /* Assume role: the profile's role_arn with source_profile or
   * credential_source; inner gives the source credentials. */
  char *role_arn, *role_session, *role_extid, *role_err, *role_src;
  long role_duration;     /* 0: STS's default */
  struct gd_aws_credprov *inner;
  /* Web identity: the token file is read on every fetch (it rotates). */
  char *wi_arn, *wi_session, *wi_file, *wi_err, *wi_what;
  struct gd_aws_endpoint sts_ep;
  char *sts_err;
  int sts_webid;          /* the STS call in flight is the web identity one */
  /* Copies of the call's secrets (the source's secret key and session
   * token, or the identity token), only to scrub them from answers. */
  char *sts_secret, *sts_token;
  char *cont_url, *cont_err;
  char *cont_token, *cont_token_file;
  int imds_disabled, imds_v1_disabled, imds_attempts;
  long imds_timeout_ms;
  char *imds_base, *imds_err;

  /* Chain state */
  int src;                /* the step that answered, -1 before */
  int step;               /* during resolution */
  struct gd_aws_creds cur;
  int have;
  uint64_t retry_at;      /* uv_now: no refresh attempt before */
  struct waiter *waiters; /* not yet answered */
  struct waiter *dlist;   /* being answered now */
  int fetching, kicked, closing;
  struct gd_error ferr;
  char notes[GD_ERROR_MAX];
  uv_timer_t kick;
  unsigned open;          /* handles not through their close callback */
  void (*done)(void *arg);
  void *done_arg;

  /* HTTP (container, IMDS) */
  CURL *easy;
  struct gd_httpreq req;
  char errbuf[CURL_ERROR_SIZE];
  char *body;
  size_t blen;
  int body_over;
  int stage, attempt, attempts, in_flight;
  long timeout_ms;
  char *imds_token;
  uint64_t imds_token_exp;
  int imds_retoken;
  char imds_role[130];

  /* credential_process */
  uv_process_t proc;
  uv_pipe_t pout, perr;
  uv_timer_t ptimer;
  unsigned proc_open;
  int proc_spawned, exited, timed_out, term_sig, pout_open, perr_open;
  int64_t exit_status;
  char *pbuf;
  size_t plen;
  int pover;
  char ebuf[STDERR_KEEP];
  size_t elen;
  char rbuf[4096];
};

static void chain_next(struct gd_aws_credprov *p);
static void fetch_ok(struct gd_aws_credprov *p, struct gd_aws_creds *nc);
static void fetch_fail(struct gd_aws_credprov *p);
static void source_failed(struct gd_aws_credprov *p);
static void proc_finished(struct gd_aws_credprov *p);
static void req_wipe(struct gd_aws_credprov *p);
static void on_inner(const struct gd_aws_creds *creds,
                     const struct gd_error *err, void *arg);
static int sts_start(struct gd_aws_credprov *p, int webid,
                     const struct gd_aws_creds *creds);

/* ------------------------------------------------------------------ */
/* Helpers */

static const char *env_get(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static int is_true(const char *v) { return v && strcasecmp(v, "true") == 0; }

static void wipe_free(char *s) {
  if (!s) return;
  explicit_bzero(s, strlen(s));
  free(s);
}

/* strdup that tells a NULL source (fine) from a failed copy (ENOMEM). */
static int dup_opt(char **dst, const char *src) {
  *dst = NULL;
  if (!src) return 0;
  return (*dst = strdup(src)) ? 0 : GD_ENOMEM;
}

static int64_t now_s(void) { return (int64_t)time(NULL); }

int gd_aws_creds_copy(struct gd_aws_creds *dst,
                      const struct gd_aws_creds *src) {
  memset(dst, 0, sizeof *dst);
  if (dup_opt(&dst->access_key_id, src->access_key_id) ||
      dup_opt(&dst->secret_access_key, src->secret_access_key) ||
      dup_opt(&dst->session_token, src->session_token)) {
    gd_aws_creds_clear(dst);
    return GD_ENOMEM;
  }
  dst->expiration = src->expiration;
  memcpy(dst->source, src->source, sizeof dst->source);
  return 0;
}

void gd_aws_creds_clear(struct gd_aws_creds *c) {
  if (!c) return;
  wipe_free(c->access_key_id);
  wipe_free(c->secret_access_key);
  wipe_free(c->session_token);
  memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------ */
/* Time */

static int take_digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char ch = (*p)[i];
    if (ch < '0' || ch > '9') return -1;
    v = v * 10 + (ch - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

int gd_aws_parse_time(const char *s, int64_t *out) {
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const char *p = s;
  int Y, M, D, h, m, sec, oh = 0, om = 0;
  long off = 0;
  if (take_digits(&p, 4, &Y) || *p++ != '-' || take_digits(&p, 2, &M) ||
      *p++ != '-' || take_digits(&p, 2, &D))
    return GD_EINVAL;
  if (*p != 'T' && *p != 't' && *p != ' ') return GD_EINVAL;
  p++;
  if (take_digits(&p, 2, &h) || *p++ != ':' || take_digits(&p, 2, &m) ||
      *p++ != ':' || take_digits(&p, 2, &sec))
    return GD_EINVAL;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') return GD_EINVAL;
    while (*p >= '0' && *p <= '9') p++;
  }
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1;
    if (take_digits(&p, 2, &oh)) return GD_EINVAL;
    if (*p == ':') p++;
    if (take_digits(&p, 2, &om) || oh > 23 || om > 59) return GD_EINVAL;
    off = sign * (oh * 3600L + om * 60L);
  } else {
    return GD_EINVAL;
  }
  if (*p || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 ||
      m > 59 || sec > 60)
    return GD_EINVAL;
  struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                  .tm_hour = h, .tm_min = m, .tm_sec = sec};
  time_t t = timegm(&tm);
  /* timegm normalises 31 April into 1 May: refuse what it had to move. */
  if (t == (time_t)-1 || tm.tm_mday != D) return GD_EINVAL;
  *out = (int64_t)t - off;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Command line: Python's shlex.split (posix=True, comments=False), which
 * is what botocore runs credential_process through. */

struct words {
  char **v;
  size_t n, cap;
};

static int words_add(struct words *w, const char *s, size_t len) {
  if (w->n + 2 > w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 8;
    char **nv = realloc(w->v, cap * sizeof *nv);
    if (!nv) return GD_ENOMEM;
    w->v = nv;
    w->cap = cap;
  }
  char *d = malloc(len + 1);
  if (!d) return GD_ENOMEM;
  memcpy(d, s, len);
  d[len] = 0;
  w->v[w->n++] = d;
  w->v[w->n] = NULL;
  return 0;
}

int gd_aws_cmdline_split(const char *line, char ***argv, size_t *argc,
                         struct gd_error *err) {
  struct words w = {0};
  size_t len = strlen(line);
  char *buf = malloc(len + 1);
  int rc = 0;
  *argv = NULL;
  *argc = 0;
  if (!buf) return gd_error_set(err, GD_ENOMEM, "out of memory");
  const char *p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (!*p) break;
    size_t o = 0;
    while (*p && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
      if (*p == '\\') {
        if (!p[1]) {
          rc = gd_error_set(err, GD_EINVAL, "no character after '\\'");
          goto out;
        }
        buf[o++] = p[1];
        p += 2;
      } else if (*p == '\'') {
        const char *q = strchr(p + 1, '\'');
        if (!q) {
          rc = gd_error_set(err, GD_EINVAL, "no closing quotation");
          goto out;
        }
        memcpy(buf + o, p + 1, (size_t)(q - p - 1));
        o += (size_t)(q - p - 1);
        p = q + 1;
      } else if (*p == '"') {
        p++;
        while (*p && *p != '"') {
          /* Inside double quotes a backslash only escapes " and itself. */
          if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
          buf[o++] = *p++;
        }
        if (!*p) {
          rc = gd_error_set(err, GD_EINVAL, "no closing quotation");
          goto out;
        }
        p++;
      } else {
        buf[o++] = *p++;
      }
    }
    if ((rc = words_add(&w, buf, o))) {
      gd_error_set(err, rc, "out of memory");
      goto out;
    }
  }
  if (w.n == 0) rc = gd_error_set(err, GD_EINVAL, "empty command");
out:
  explicit_bzero(buf, len + 1);
  free(buf);
  if (rc) {
    gd_strv_free(w.v);
    return rc;
  }
  *argv = w.v;
  *argc = w.n;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Container endpoint */

static int allowed_http_host(const char *host) {
  char h[64];
  size_t n = strlen(host);
  if (strcasecmp(host, "localhost") == 0) return 1;
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
    host++;
    n -= 2;
  }
  if (n >= sizeof h) return 0;
  memcpy(h, host, n);
  h[n] = 0;
  unsigned char a[16], b[16];
  if (inet_pton(AF_INET, h, a) == 1)
    return a[0] == 127 ||
           (a[0] == 169 && a[1] == 254 && a[2] == 170 && a[3] == 23);
  if (inet_pton(AF_INET6, h, a) == 1) {
    inet_pton(AF_INET6, "::1", b);
    if (memcmp(a, b, 16) == 0) return 1;
    inet_pton(AF_INET6, "fd00:ec2::23", b);
    return memcmp(a, b, 16) == 0;
  }
  return 0;
}

int gd_aws_container_url(char *buf, size_t n, struct gd_error *err) {
  const char *rel = env_get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const char *full = env_get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (rel) {
    snprintf(buf, n, "%s%s%s", CONTAINER_HOST, rel[0] == '/' ? "" : "/",
             rel);
    return 0;
  }
  if (!full)
    return gd_error_set(err, GD_ENOTFOUND,
                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                        "_FULL_URI not set");
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL;
  int rc = 0;
  if (!u) return gd_error_set(err, GD_ENOMEM, "out of memory");
  if (curl_url_set(u, CURLUPART_URL, full, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
    rc = gd_error_set(err, GD_EINVAL,
                      "AWS_CONTAINER_CREDENTIALS_FULL_URI: invalid URL '%s' "
                      "(want http or https)",
                      full);
  else if (strcmp(scheme, "http") == 0 && !allowed_http_host(host))
    rc = gd_error_set(err, GD_EINVAL,
                      "AWS_CONTAINER_CREDENTIALS_FULL_URI: host '%s' is not "
                      "allowed over http (use https, a loopback address or "
                      "the EKS Pod Identity agent)",
                      host);
  else if (strlen(full) >= n)
    rc = gd_error_set(err, GD_EINVAL,
                      "AWS_CONTAINER_CREDENTIALS_FULL_URI: URL too long");
  else
    snprintf(buf, n, "%s", full);
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Creating and closing */

static int snapshot_imds(struct gd_aws_credprov *p,
                         const struct gd_aws_config *cfg) {
  char msg[GD_ERROR_MAX];
  const char *v;
  msg[0] = 0;
  p->imds_disabled = is_true(env_get("AWS_EC2_METADATA_DISABLED"));
  v = env_get("AWS_EC2_METADATA_V1_DISABLED");
  if (!v) v = gd_aws_config_get(cfg, "ec2_metadata_v1_disabled", NULL);
  p->imds_v1_disabled = is_true(v);

  p->imds_timeout_ms = 1000;
  p->imds_attempts = 1;
  v = env_get("AWS_METADATA_SERVICE_TIMEOUT");
  if (!v) v = gd_aws_config_get(cfg, "metadata_service_timeout", NULL);
  if (v) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d > 0 && d <= 60))
      snprintf(msg, sizeof msg,
               "metadata_service_timeout: want seconds from 0 to 60, got '%s'",
               v);
    else
      p->imds_timeout_ms = (long)(d * 1000 + 0.5);
  }
  v = env_get("AWS_METADATA_SERVICE_NUM_ATTEMPTS");
  if (!v) v = gd_aws_config_get(cfg, "metadata_service_num_attempts", NULL);
  if (v) {
    char *end;
    long k = strtol(v, &end, 10);
    if (end == v || *end || k < 1 || k > 10)
      snprintf(msg, sizeof msg,
               "metadata_service_num_attempts: want 1 to 10, got '%s'", v);
    else
      p->imds_attempts = (int)k;
  }

  const char *base = env_get("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (!base) base = gd_aws_config_get(cfg, "ec2_metadata_service_endpoint", NULL);
  if (!base) {
    const char *mode = env_get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    if (!mode)
      mode = gd_aws_config_get(cfg, "ec2_metadata_service_endpoint_mode", NULL);
    if (!mode || strcasecmp(mode, "IPv4") == 0)
      base = IMDS_HOST4;
    else if (strcasecmp(mode, "IPv6") == 0)
      base = IMDS_HOST6;
    else
      snprintf(msg, sizeof msg,
               "ec2_metadata_service_endpoint_mode: want IPv4 or IPv6, got "
               "'%s'",
               mode);
  } else if (strncmp(base, "http://", 7) != 0 &&
             strncmp(base, "https://", 8) != 0) {
    snprintf(msg, sizeof msg,
             "ec2_metadata_service_endpoint: want an http or https URL, got "
             "'%s'",
             base);
  }
  if (base) {
    if (!(p->imds_base = strdup(base))) return GD_ENOMEM;
    size_t n = strlen(p->imds_base);
    while (n > 0 && p->imds_base[n - 1] == '/') p->imds_base[--n] = 0;
  }
  if (msg[0] && !(p->imds_err = strdup(msg))) return GD_ENOMEM;
  return 0;
}

static int snapshot_profile(struct gd_aws_credprov *p,
                            const struct gd_aws_config *cfg) {
  static const char *const unsupported[] = {"sso_session", "sso_start_url",
                                             NULL};
  const char *f1 = NULL, *f2 = NULL, *f3 = NULL;
  const char *tok = gd_aws_config_get(cfg, "aws_session_token", &f3);
  if (!tok) tok = gd_aws_config_get(cfg, "aws_security_token", &f3);
  if (dup_opt(&p->st_akid, gd_aws_config_get(cfg, "aws_access_key_id", &f1)) ||
      dup_opt(&p->st_secret,
              gd_aws_config_get(cfg, "aws_secret_access_key", &f2)) ||
      dup_opt(&p->st_token, tok) || dup_opt(&p->st_file, f1 ? f1 : f2))
    return GD_ENOMEM;
  const char *pf = NULL;
  if (dup_opt(&p->process, gd_aws_config_get(cfg, "credential_process", &pf)) ||
      dup_opt(&p->process_file, pf))
    return GD_ENOMEM;
  for (const char *const *k = unsupported; *k; k++) {
    const char *file = NULL;
    if (!gd_aws_config_get(cfg, *k, &file)) continue;
    char msg[GD_ERROR_MAX];
    snprintf(msg, sizeof msg,
             "profile '%s' in '%s': %s is not supported by gameday (SSO "
             "needs an interactive login); use static keys, role_arn, "
             "credential_process (e.g. 'aws configure export-credentials "
             "--format process'), or the environment",
             p->profile, file, *k);
    return (p->unsupported = strdup(msg)) ? 0 : GD_ENOMEM;
  }
  return 0;
}

static int snapshot_sts(struct gd_aws_credprov *p,
                        const struct gd_aws_config *cfg) {
  /* The regional endpoint; with no region at all, the global one's
   * region, as the SDKs fall back to. */
  const char *region = gd_aws_config_region(cfg, NULL);
  struct gd_error e = {0};
  if (gd_aws_endpoint_resolve(cfg, "sts", region ? region : "us-east-1",
                              &p->sts_ep, &e) == 0)
    return 0;
  return (p->sts_err = strdup(e.msg)) ? 0 : GD_ENOMEM;
}

/* *dst = the formatted message: a setting that makes the role (or web
 * identity) unusable is reported by the get, not by _new. */
static int set_msg(char **dst, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int set_msg(char **dst, const char *fmt, ...) {
  char msg[GD_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  free(*dst);
  return (*dst = strdup(msg)) ? 0 : GD_ENOMEM;
}

static int default_session(char **dst) {
  char buf[64];
  /* The CLI's botocore-session-<epoch>, under our name. */
  snprintf(buf, sizeof buf, "gameday-%lld", (long long)now_s());
  return (*dst = strdup(buf)) ? 0 : GD_ENOMEM;
}

static int provider_make(uv_loop_t *loop, struct gd_curl *curl,
                         const struct gd_aws_config *cfg, unsigned mask,
                         int depth, const char *const *visited,
                         struct gd_aws_credprov **out);

static int snapshot_role(struct gd_aws_credprov *p,
                         const struct gd_aws_config *cfg, int depth,
                         const char *const *visited) {
  const char *file = NULL;
  const char *arn = gd_aws_config_get(cfg, "role_arn", &file);
  if (!arn || !(p->mask & STEP_BIT(STEP_ROLE))) return 0;
  const char *sp = gd_aws_config_get(cfg, "source_profile", NULL);
  const char *cs = gd_aws_config_get(cfg, "credential_source", NULL);
  const char *dur = gd_aws_config_get(cfg, "duration_seconds", NULL);
  const char *name = p->profile;
  if (!sp && !cs) {
    /* role_arn with a token file is the web identity step's. */
    if (gd_aws_config_get(cfg, "web_identity_token_file", NULL)) return 0;
    return set_msg(&p->role_err,
                   "profile '%s' in '%s': role_arn is set but neither "
                   "source_profile nor credential_source is",
                   name, file);
  }
  if (sp && cs)
    return set_msg(&p->role_err,
                   "profile '%s' in '%s': source_profile and "
                   "credential_source are both set (want one)",
                   name, file);
  if (gd_aws_config_get(cfg, "mfa_serial", NULL))
    return set_msg(&p->role_err,
                   "profile '%s' in '%s': mfa_serial is set, but gameday runs "
                   "unattended and cannot ask for an MFA code; use a role "
                   "without MFA, or credential_process with a helper that "
                   "caches MFA sessions",
                   name, file);
  if (dur) {
    char *end;
    long d = strtol(dur, &end, 10);
    if (end == dur || *end || d < 900 || d > 43200)
      return set_msg(&p->role_err,
                     "profile '%s' in '%s': duration_seconds: want 900 to "
                     "43200, got '%s'",
                     name, file, dur);
    p->role_duration = d;
  }
  if (dup_opt(&p->role_arn, arn) ||
      dup_opt(&p->role_extid, gd_aws_config_get(cfg, "external_id", NULL)) ||
      dup_opt(&p->role_session,
              gd_aws_config_get(cfg, "role_session_name", NULL)) ||
      (!p->role_session && default_session(&p->role_session)))
    return GD_ENOMEM;
  int rc = snapshot_sts(p, cfg);
  if (rc) return rc;
  if (cs) {
    unsigned m;
    if (strcmp(cs, "Environment") == 0)
      m = STEP_BIT(STEP_ENV);
    else if (strcmp(cs, "Ec2InstanceMetadata") == 0)
      m = STEP_BIT(STEP_IMDS);
    else if (strcmp(cs, "EcsContainer") == 0)
      m = STEP_BIT(STEP_CONTAINER);
    else
      return set_msg(&p->role_err,
                     "profile '%s' in '%s': credential_source '%s': want "
                     "Environment, Ec2InstanceMetadata or EcsContainer",
                     name, file, cs);
    if (set_msg(&p->role_src, "credential_source %s", cs)) return GD_ENOMEM;
    return provider_make(p->loop, p->curl, cfg, m, depth + 1, visited,
                         &p->inner);
  }
  if (set_msg(&p->role_src, "source_profile '%s'", sp)) return GD_ENOMEM;
  /* A profile that is its own source uses its own keys (botocore). */
  if (strcmp(sp, name) == 0)
    return provider_make(p->loop, p->curl, cfg, STEP_BIT(STEP_PROFILE),
                         depth + 1, visited, &p->inner);
  char path[GD_ERROR_MAX / 2];
  size_t o = 0;
  int cycle = 0;
  for (int i = 0; i <= depth; i++) {
    o += (size_t)snprintf(path + o, o < sizeof path ? sizeof path - o : 0,
                          "%s -> ", visited[i]);
    if (o >= sizeof path) o = sizeof path - 1;
    if (strcmp(visited[i], sp) == 0) cycle = 1;
  }
  snprintf(path + o, sizeof path - o, "%s", sp);
  if (cycle)
    return set_msg(&p->role_err,
                   "profile '%s' in '%s': source_profile makes a cycle: %s",
                   name, file, path);
  if (depth + 1 >= ROLE_DEPTH_MAX)
    return set_msg(&p->role_err,
                   "profile '%s' in '%s': source_profile chain longer than "
                   "%d: %s",
                   name, file, ROLE_DEPTH_MAX, path);
  struct gd_aws_config *sc = NULL;
  struct gd_error e = {0};
  if (gd_aws_config_load(&sc, sp, &e))
    return e.code == GD_ENOMEM
               ? GD_ENOMEM
               : set_msg(&p->role_err, "profile '%s' in '%s': %s: %s", name,
                         file, p->role_src, e.msg);
  const char *chain[ROLE_DEPTH_MAX + 1];
  for (int i = 0; i <= depth; i++) chain[i] = visited[i];
  chain[depth + 1] = gd_aws_config_profile(sc);
  rc = provider_make(p->loop, p->curl, sc,
                     STEP_BIT(STEP_ROLE) | STEP_BIT(STEP_WEBID) |
                         STEP_BIT(STEP_PROFILE),
                     depth + 1, chain, &p->inner);
  gd_aws_config_free(sc);
  return rc;
}

/* AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (+ AWS_ROLE_SESSION_NAME), each
 * falling back to the profile's role_arn, web_identity_token_file and
 * role_session_name, as botocore reads them. The environment counts for the
 * top-level chain only, not for a source profile. */
static int snapshot_webid(struct gd_aws_credprov *p,
                          const struct gd_aws_config *cfg, int top) {
  if (!(p->mask & STEP_BIT(STEP_WEBID))) return 0;
  const char *pfile = NULL;
  const char *file = top ? env_get("AWS_WEB_IDENTITY_TOKEN_FILE") : NULL;
  int from_env = file != NULL;
  if (!file) file = gd_aws_config_get(cfg, "web_identity_token_file", &pfile);
  if (!file) return 0;
  const char *arn = top ? env_get("AWS_ROLE_ARN") : NULL;
  if (!arn) arn = gd_aws_config_get(cfg, "role_arn", NULL);
  const char *sess = top ? env_get("AWS_ROLE_SESSION_NAME") : NULL;
  if (!sess) sess = gd_aws_config_get(cfg, "role_session_name", NULL);
  int rc = from_env
               ? set_msg(&p->wi_what,
                         "web identity (AWS_WEB_IDENTITY_TOKEN_FILE '%s')",
                         file)
               : set_msg(&p->wi_what,
                         "web identity of profile '%s' in '%s'", p->profile,
                         pfile);
  if (rc || dup_opt(&p->wi_file, file)) return GD_ENOMEM;
  if (!arn)
    return set_msg(&p->wi_err,
                   "%s: no role to assume: set AWS_ROLE_ARN or the "
                   "profile's role_arn",
                   p->wi_what);
  if (dup_opt(&p->wi_arn, arn) || dup_opt(&p->wi_session, sess) ||
      (!p->wi_session && default_session(&p->wi_session)))
    return GD_ENOMEM;
  return p->sts_ep.url[0] || p->sts_err ? 0 : snapshot_sts(p, cfg);
}

static int snapshot(struct gd_aws_credprov *p, const struct gd_aws_config *cfg,
                    int depth, const char *const *visited) {
  const char *tok = env_get("AWS_SESSION_TOKEN");
  if (!tok) tok = env_get("AWS_SECURITY_TOKEN");
  if (dup_opt(&p->profile, gd_aws_config_profile(cfg)) ||
      dup_opt(&p->env_akid, env_get("AWS_ACCESS_KEY_ID")) ||
      dup_opt(&p->env_secret, env_get("AWS_SECRET_ACCESS_KEY")) ||
      dup_opt(&p->env_token, tok))
    return GD_ENOMEM;
  int rc = snapshot_profile(p, cfg);
  if (!rc) rc = snapshot_role(p, cfg, depth, visited);
  if (!rc) rc = snapshot_webid(p, cfg, depth == 0);
  if (rc) return rc;

  char url[1024];
  struct gd_error e = {0};
  rc = gd_aws_container_url(url, sizeof url, &e);
  if (rc == 0 && !(p->cont_url = strdup(url))) return GD_ENOMEM;
  if (rc && rc != GD_ENOTFOUND && !(p->cont_err = strdup(e.msg)))
    return GD_ENOMEM;
  if (dup_opt(&p->cont_token_file,
              env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) ||
      dup_opt(&p->cont_token, env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN")))
    return GD_ENOMEM;
  return snapshot_imds(p, cfg);
}

static void free_provider(struct gd_aws_credprov *p) {
  void (*done)(void *) = p->done;
  void *arg = p->done_arg;
  gd_aws_creds_clear(&p->cur);
  free(p->profile);
  wipe_free(p->env_akid);
  wipe_free(p->env_secret);
  wipe_free(p->env_token);
  wipe_free(p->st_akid);
  wipe_free(p->st_secret);
  wipe_free(p->st_token);
  free(p->st_file);
  free(p->unsupported);
  free(p->role_arn);
  free(p->role_session);
  wipe_free(p->role_extid);
  free(p->role_err);
  free(p->role_src);
  free(p->wi_arn);
  free(p->wi_session);
  free(p->wi_file);
  free(p->wi_err);
  free(p->wi_what);
  free(p->sts_err);
  wipe_free(p->sts_secret);
  wipe_free(p->sts_token);
  free(p->process);
  free(p->process_file);
  free(p->cont_url);
  free(p->cont_err);
  wipe_free(p->cont_token);
  free(p->cont_token_file);
  free(p->imds_base);
  free(p->imds_err);
  wipe_free(p->imds_token);
  req_wipe(p);
  if (p->easy) curl_easy_cleanup(p->easy);
  if (p->body) {
    explicit_bzero(p->body, BODY_MAX + 1);
    free(p->body);
  }
  if (p->pbuf) {
    explicit_bzero(p->pbuf, BODY_MAX + 1);
    free(p->pbuf);
  }
  free(p);
  if (done) done(arg);
}

/* Every handle of p closes through here. */
static void on_close(uv_handle_t *h) {
  struct gd_aws_credprov *p = h->data;
  int procish = h == (uv_handle_t *)&p->proc ||
                h == (uv_handle_t *)&p->pout || h == (uv_handle_t *)&p->perr;
  p->open--;
  if (procish && --p->proc_open == 0 && p->proc_spawned && !p->closing)
    proc_finished(p);
  if (p->closing && p->open == 0) free_provider(p);
}

static void on_kick(uv_timer_t *t);

/* The inner provider (source credentials) counts as one open handle. */
static void inner_closed(void *arg) {
  struct gd_aws_credprov *p = arg;
  if (--p->open == 0 && p->closing) free_provider(p);
}

/* A provider that runs the steps of mask; depth > 0 for the source of an
 * assumed role, visited the profiles of the chain down to this one. */
static int provider_make(uv_loop_t *loop, struct gd_curl *curl,
                         const struct gd_aws_config *cfg, unsigned mask,
                         int depth, const char *const *visited,
                         struct gd_aws_credprov **out) {
  *out = NULL;
  struct gd_aws_credprov *p = calloc(1, sizeof *p);
  if (!p) return GD_ENOMEM;
  p->loop = loop;
  p->curl = curl;
  p->src = -1;
  p->mask = mask;
  p->depth = depth;
  /* A profile named in code outranks the environment's keys. */
  if (depth == 0 && gd_aws_config_profile_explicit(cfg))
    p->mask &= ~STEP_BIT(STEP_ENV);
  gd_httpreq_init(&p->req);
  const char *top[1] = {gd_aws_config_profile(cfg)};
  if (snapshot(p, cfg, depth, depth ? visited : top)) {
    /* The inner provider has handles on the loop: they close there. */
    if (p->inner) gd_aws_credprov_close(p->inner, NULL, NULL);
    p->inner = NULL;
    free_provider(p);
    return GD_ENOMEM;
  }
  uv_timer_init(loop, &p->kick);
  uv_timer_init(loop, &p->ptimer);
  p->kick.data = p->ptimer.data = p;
  p->proc.data = p->pout.data = p->perr.data = p;
  p->open = 2 + (p->inner != NULL);
  *out = p;
  return 0;
}

int gd_aws_credprov_new(uv_loop_t *loop, struct gd_curl *curl,
                        const struct gd_aws_config *cfg,
                        struct gd_aws_credprov **out, struct gd_error *err) {
  if (provider_make(loop, curl, cfg, STEPS_ALL, 0, NULL, out))
    return gd_error_set(err, GD_ENOMEM, "aws credentials: out of memory");
  return 0;
}

/* ------------------------------------------------------------------ */
/* Waiters */

static int usable(struct gd_aws_credprov *p) {
  if (!p->have) return 0;
  if (p->cur.expiration == 0) return 1;
  int64_t left = p->cur.expiration - now_s();
  if (left > GD_AWS_REFRESH_BEFORE_S) return 1;
  return uv_now(p->loop) < p->retry_at && left > GD_AWS_EXPIRED_BEFORE_S;
}

static void kick(struct gd_aws_credprov *p) {
  if (p->kicked || p->closing) return;
  p->kicked = 1;
  uv_timer_start(&p->kick, on_kick, 0, 0);
}

/* Answers every waiter; a callback may get again (that waits for the next
 * kick) or close p (which cancels the rest). */
static void deliver(struct gd_aws_credprov *p, int ok) {
  struct waiter **tail = &p->dlist;
  while (*tail) tail = &(*tail)->next;
  *tail = p->waiters;
  p->waiters = NULL;
  while (p->dlist) {
    struct waiter *w = p->dlist;
    p->dlist = w->next;
    gd_aws_creds_cb cb = w->cb;
    void *arg = w->arg;
    free(w);
    if (ok)
      cb(&p->cur, NULL, arg);
    else
      cb(NULL, &p->ferr, arg);
  }
}

static void start_fetch(struct gd_aws_credprov *p) {
  p->fetching = 1;
  gd_error_clear(&p->ferr);
  p->step = p->src >= 0 ? p->src : STEP_ENV;
  if (p->src < 0) p->notes[0] = 0;
  chain_next(p);
}

static void on_kick(uv_timer_t *t) {
  struct gd_aws_credprov *p = t->data;
  p->kicked = 0;
  if (p->fetching || p->closing || !p->waiters) return;
  if (usable(p))
    deliver(p, 1);
  else
    start_fetch(p);
}

int gd_aws_credprov_get(struct gd_aws_credprov *p, gd_aws_creds_cb cb,
                        void *arg, struct gd_error *err) {
  if (p->closing)
    return gd_error_set(err, GD_ESTATE, "aws credentials: provider closing");
  struct waiter *w = calloc(1, sizeof *w);
  if (!w) return gd_error_set(err, GD_ENOMEM, "out of memory");
  w->cb = cb;
  w->arg = arg;
  struct waiter **tail = &p->waiters;
  while (*tail) tail = &(*tail)->next;
  *tail = w;
  if (!p->fetching) kick(p);
  return 0;
}

const struct gd_aws_creds *gd_aws_credprov_current(struct gd_aws_credprov *p) {
  return !p->closing && usable(p) ? &p->cur : NULL;
}

static void cancel_matching(struct gd_aws_credprov *p, int all,
                            gd_aws_creds_cb cb, void *arg) {
  struct waiter *gone = NULL, **gtail = &gone;
  struct waiter **lists[] = {&p->dlist, &p->waiters};
  for (int i = 0; i < 2; i++)
    for (struct waiter **pp = lists[i]; *pp;) {
      struct waiter *w = *pp;
      if (all || (w->cb == cb && w->arg == arg)) {
        *pp = w->next;
        w->next = NULL;
        *gtail = w;
        gtail = &w->next;
      } else {
        pp = &w->next;
      }
    }
  struct gd_error e;
  gd_error_set(&e, GD_ECANCELED, "aws credentials: cancelled");
  while (gone) {
    struct waiter *w = gone;
    gone = w->next;
    w->cb(NULL, &e, w->arg);
    free(w);
  }
}

void gd_aws_credprov_cancel(struct gd_aws_credprov *p, gd_aws_creds_cb cb,
                            void *arg) {
  cancel_matching(p, 0, cb, arg);
}

void gd_aws_credprov_close(struct gd_aws_credprov *p, void (*done)(void *arg),
                           void *arg) {
  if (p->closing) return;
  p->done = done;
  p->done_arg = arg;
  /* Closing first, so that a callback's get is refused, not lost. */
  p->closing = 1;
  cancel_matching(p, 1, NULL, NULL);
  if (p->in_flight) gd_curl_cancel(p->curl, p->easy);
  /* Only a process that did start: kill(0) would hit our own group. */
  if (p->proc_spawned && !p->exited) uv_process_kill(&p->proc, SIGKILL);
  uv_timer_stop(&p->ptimer);
  uv_close((uv_handle_t *)&p->kick, on_close);
  uv_close((uv_handle_t *)&p->ptimer, on_close);
  if (p->inner) gd_aws_credprov_close(p->inner, inner_closed, p);
}

/* ------------------------------------------------------------------ */
/* Outcomes */

static void note(struct gd_aws_credprov *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(struct gd_aws_credprov *p, const char *fmt, ...) {
  size_t o = strlen(p->notes);
  if (o && o + 2 < sizeof p->notes) {
    memcpy(p->notes + o, "; ", 3);
    o += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->notes + o, sizeof p->notes - o, fmt, ap);
  va_end(ap);
}

static void fetch_ok(struct gd_aws_credprov *p, struct gd_aws_creds *nc) {
  /* Signing with them would only earn ExpiredToken from every call. */
  if (nc->expiration && nc->expiration <= now_s()) {
    gd_error_set(&p->ferr, GD_EIO,
                 "%s: gave credentials that have expired already",
                 nc->source);
    gd_aws_creds_clear(nc);
    source_failed(p);
    return;
  }
  gd_aws_creds_clear(&p->cur);
  p->cur = *nc;
  memset(nc, 0, sizeof *nc);
  p->have = 1;
  p->src = p->step;
  p->retry_at = 0;
  p->fetching = 0;
  deliver(p, 1);
}

/* A refresh that fails while the old credentials still have a while to
 * live is not the caller's problem yet: hand those out, try again later. */
static void fetch_fail(struct gd_aws_credprov *p) {
  p->fetching = 0;
  if (p->have && (p->cur.expiration == 0 ||
                  p->cur.expiration - now_s() > GD_AWS_EXPIRED_BEFORE_S)) {
    p->retry_at = uv_now(p->loop) + GD_AWS_RETRY_AFTER_S * 1000;
    deliver(p, 1);
    return;
  }
  deliver(p, 0);
}

/* An asynchronous step failed (p->ferr says how). While resolving, an
 * unreachable IMDS only means "not on EC2"; everything else is final. */
static void source_failed(struct gd_aws_credprov *p) {
  if (p->src < 0 && p->step == STEP_IMDS) {
    note(p, "%s", p->ferr.msg);
    gd_error_clear(&p->ferr);
    p->step++;
    chain_next(p);
    return;
  }
  fetch_fail(p);
}

static int set_creds(struct gd_aws_creds *c, const char *akid,
                     const char *secret, const char *token, int64_t exp) {
  memset(c, 0, sizeof *c);
  if (dup_opt(&c->access_key_id, akid) ||
      dup_opt(&c->secret_access_key, secret) ||
      dup_opt(&c->session_token, token && *token ? token : NULL)) {
    gd_aws_creds_clear(c);
    return GD_ENOMEM;
  }
  c->expiration = exp;
  return 0;
}

/* The JSON document the container endpoint, IMDS and credential_process
 * answer with; what names where it came from (for messages). */
static int parse_creds(const char *body, size_t len, const char *token_key,
                       int want_version, const char *what,
                       struct gd_aws_creds *out, struct gd_error *err) {
  cJSON *j = cJSON_ParseWithLength(body, len);
  int rc = 0;
  if (!cJSON_IsObject(j)) {
    rc = gd_error_set(err, GD_EINVAL, "%s: answer is not a JSON object", what);
    goto out;
  }
  if (want_version) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "Version");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
      if (cJSON_IsNumber(v))
        rc = gd_error_set(err, GD_EINVAL,
                          "%s: unsupported Version %g (want 1)", what,
                          v->valuedouble);
      else
        rc = gd_error_set(err, GD_EINVAL, "%s: answer has no Version 1",
                          what);
      goto out;
    }
  }
  static const char *const need[] = {"AccessKeyId", "SecretAccessKey"};
  const char *val[2];
  for (int i = 0; i < 2; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, need[i]);
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
      rc = gd_error_set(err, GD_EINVAL, "%s: answer has no %s", what, need[i]);
      goto out;
    }
    val[i] = v->valuestring;
  }
  const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, token_key);
  if (tok && !cJSON_IsString(tok) && !cJSON_IsNull(tok)) {
    rc = gd_error_set(err, GD_EINVAL, "%s: %s is not a string", what,
                      token_key);
    goto out;
  }
  int64_t exp = 0;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "Expiration");
  if (e && !cJSON_IsNull(e)) {
    if (!cJSON_IsString(e) || gd_aws_parse_time(e->valuestring, &exp)) {
      rc = gd_error_set(err, GD_EINVAL,
                        "%s: Expiration is not an ISO 8601 time", what);
      goto out;
    }
  }
  if (set_creds(out, val[0], val[1], cJSON_IsString(tok) ? tok->valuestring : NULL,
                exp))
    rc = gd_error_set(err, GD_ENOMEM, "%s: out of memory", what);
out:
  cJSON_Delete(j);
  return rc;
}

/* ------------------------------------------------------------------ */
/* HTTP: container and IMDS */

static size_t on_body(char *d, size_t sz, size_t nm, void *arg) {
  struct gd_aws_credprov *p = arg;
  size_t n = sz * nm;
  if (!p->body && !(p->body = malloc(BODY_MAX + 1))) return 0;
  if (p->blen + n > BODY_MAX) {
    p->body_over = 1;
    return 0;
  }
  memcpy(p->body + p->blen, d, n);
  p->blen += n;
  p->body[p->blen] = 0;
  return n;
}

static void on_http(CURL *easy, CURLcode rc, void *arg);

static int http_add(struct gd_aws_credprov *p) {
  p->blen = 0;
  p->body_over = 0;
  p->errbuf[0] = 0;
  if (p->body) p->body[0] = 0;
  if (gd_curl_add(p->curl, p->easy, on_http, p)) return GD_EIO;
  p->in_flight = 1;
  return 0;
}

/* The request's headers and body may hold tokens and signatures. */
static void req_wipe(struct gd_aws_credprov *p) {
  for (struct curl_slist *l = p->req.headers; l; l = l->next)
    explicit_bzero(l->data, strlen(l->data));
  if (p->req.body) explicit_bzero(p->req.body, strlen(p->req.body));
  gd_httpreq_free(&p->req);
}

/* Sends p->req. local: a metadata endpoint, never through a proxy. */
static int http_send(struct gd_aws_credprov *p, int stage, const char *what,
                     int local, long timeout_ms, int attempts) {
  if (!p->easy && !(p->easy = curl_easy_init()))
    return gd_error_set(&p->ferr, GD_ENOMEM, "%s: curl_easy_init failed",
                        what);
  curl_easy_reset(p->easy);
  int rc = gd_httpreq_setup(&p->req, p->easy, 0, on_body, p, p->errbuf, what,
                            &p->ferr);
  if (rc) return rc;
  /* Metadata endpoints are local: never through a proxy from the
   * environment (which would also send them off the machine). */
  if (local) curl_easy_setopt(p->easy, CURLOPT_PROXY, "");
  curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  p->stage = stage;
  p->attempt = 0;
  p->attempts = attempts;
  if (http_add(p))
    return gd_error_set(&p->ferr, GD_EIO, "%s: cannot start the request",
                        what);
  return 0;
}

/* Starts a request; header (may be NULL) is one "Name: value" line. On
 * failure p->ferr says so and the caller reports it. */
static int http_start(struct gd_aws_credprov *p, int stage, const char *what,
                      const char *url, const char *method, const char *header,
                      long timeout_ms, int attempts) {
  req_wipe(p);
  if (!(p->req.url = strdup(url)) || !(p->req.method = strdup(method)) ||
      (header && !(p->req.headers = curl_slist_append(NULL, header))))
    return gd_error_set(&p->ferr, GD_ENOMEM, "%s: out of memory", what);
  return http_send(p, stage, what, 1, timeout_ms, attempts);
}

/* "http://169.254.169.254: connection timed out" and the like. */
static void http_error(struct gd_aws_credprov *p, const char *what,
                       CURLcode rc, long status) {
  if (rc == CURLE_OK)
    gd_error_set(&p->ferr, GD_EIO, "%s: HTTP %ld", what, status);
  else if (p->body_over)
    gd_error_set(&p->ferr, GD_EIO, "%s: answer larger than %d bytes", what,
                 BODY_MAX);
  else
    gd_error_set(&p->ferr, rc == CURLE_OPERATION_TIMEDOUT ? GD_ETIMEDOUT
                                                          : GD_EIO,
                 "%s: %s", what, gd_httpreq_strerror(p->errbuf, rc));
}

static int container_start(struct gd_aws_credprov *p);
static void sts_done(struct gd_aws_credprov *p, CURLcode rc, long status);
static int imds_start(struct gd_aws_credprov *p);
static int imds_role(struct gd_aws_credprov *p);
static int imds_creds(struct gd_aws_credprov *p);

static void container_done(struct gd_aws_credprov *p, CURLcode rc,
                           long status) {
  char what[GD_ERROR_MAX / 2];
  snprintf(what, sizeof what, "container credentials (%s)", p->cont_url);
  if (rc != CURLE_OK || status != 200) {
    http_error(p, what, rc, status);
    source_failed(p);
    return;
  }
  struct gd_aws_creds nc;
  if (parse_creds(p->body, p->blen, "Token", 0, what, &nc, &p->ferr)) {
    source_failed(p);
    return;
  }
  snprintf(nc.source, sizeof nc.source, "%s", what);
  fetch_ok(p, &nc);
}

static void imds_what(struct gd_aws_credprov *p, char *buf, size_t n) {
  snprintf(buf, n, "instance metadata (%s)", p->imds_base);
}

static void imds_token_done(struct gd_aws_credprov *p, CURLcode rc,
                            long status) {
  char what[GD_ERROR_MAX / 2];
  imds_what(p, what, sizeof what);
  int r = 0;
  if (rc == CURLE_OK && status == 200) {
    size_t n = p->blen;
    while (n > 0 && strchr(" \t\r\n", p->body[n - 1])) n--;
    wipe_free(p->imds_token);
    p->imds_token = NULL;
    if (n == 0 || !(p->imds_token = strndup(p->body, n))) {
      gd_error_set(&p->ferr, GD_EIO, "%s: empty session token", what);
      source_failed(p);
      return;
    }
    explicit_bzero(p->body, p->blen);
    p->imds_token_exp =
        uv_now(p->loop) + (uint64_t)(IMDS_TOKEN_TTL_S - 60) * 1000;
    r = imds_role(p);
  } else if (rc == CURLE_OK &&
             (status == 403 || status == 404 || status == 405)) {
    /* IMDSv2 not offered: the SDKs fall back to v1 unless told not to. */
    if (p->imds_v1_disabled) {
      gd_error_set(&p->ferr, GD_EIO,
                   "%s: session token refused (HTTP %ld) and IMDSv1 is "
                   "disabled",
                   what, status);
      source_failed(p);
      return;
    }
    r = imds_role(p);
  } else {
    http_error(p, what, rc, status);
    source_failed(p);
    return;
  }
  if (r) source_failed(p);
}

/* A 401 means the session token went stale: one new token, then give up. */
static int imds_reauth(struct gd_aws_credprov *p, long status) {
  if (status != 401 || !p->imds_token || p->imds_retoken) return 0;
  p->imds_retoken = 1;
  wipe_free(p->imds_token);
  p->imds_token = NULL;
  if (imds_start(p)) source_failed(p);
  return 1;
}

static int valid_role(const char *s, size_t n) {
  if (n == 0 || n > 128) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || strchr("+=,.@_-", s[i])))
      return 0;
  return 1;
}

static void imds_role_done(struct gd_aws_credprov *p, CURLcode rc,
                           long status) {
  char what[GD_ERROR_MAX / 2];
  imds_what(p, what, sizeof what);
  if (rc == CURLE_OK && imds_reauth(p, status)) return;
  if (rc == CURLE_OK && status == 404) {
    gd_error_set(&p->ferr, GD_ENOTFOUND,
                 "%s: no IAM role attached to this instance (HTTP 404)", what);
    source_failed(p);
    return;
  }
  if (rc != CURLE_OK || status != 200) {
    http_error(p, what, rc, status);
    source_failed(p);
    return;
  }
  const char *b = p->body ? p->body : "";
  size_t n = strcspn(b, "\r\n");
  while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t')) n--;
  if (!valid_role(b, n)) {
    gd_error_set(&p->ferr, GD_EIO, "%s: %s", what,
                 n ? "invalid role name in the answer" : "no role name");
    source_failed(p);
    return;
  }
  memcpy(p->imds_role, b, n);
  p->imds_role[n] = 0;
  if (imds_creds(p)) source_failed(p);
}

static void imds_creds_done(struct gd_aws_credprov *p, CURLcode rc,
                            long status) {
  char what[GD_ERROR_MAX / 2];
  snprintf(what, sizeof what, "instance metadata role '%s' (%s)", p->imds_role,
           p->imds_base);
  if (rc == CURLE_OK && imds_reauth(p, status)) return;
  if (rc != CURLE_OK || status != 200) {
    http_error(p, what, rc, status);
    source_failed(p);
    return;
  }
  cJSON *j = cJSON_ParseWithLength(p->body, p->blen);
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "Code");
  if (cJSON_IsString(code) && strcmp(code->valuestring, "Success") != 0) {
    char c[64];
    snprintf(c, sizeof c, "%s", code->valuestring);
    cJSON_Delete(j);
    gd_error_set(&p->ferr, GD_EIO, "%s: Code '%s'", what, c);
    source_failed(p);
    return;
  }
  cJSON_Delete(j);
  struct gd_aws_creds nc;
  if (parse_creds(p->body, p->blen, "Token", 0, what, &nc, &p->ferr)) {
    source_failed(p);
    return;
  }
  snprintf(nc.source, sizeof nc.source, "%s", what);
  fetch_ok(p, &nc);
}

static void on_http(CURL *easy, CURLcode rc, void *arg) {
  struct gd_aws_credprov *p = arg;
  long status = 0;
  p->in_flight = 0;
  if (p->closing) return;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  int transient = (rc != CURLE_OK && !p->body_over) || status >= 500;
  if (transient && ++p->attempt < p->attempts && http_add(p) == 0) return;
  if (p->body) {
    /* Make the answer a C string even when cut. */
    p->body[p->blen] = 0;
  }
  switch (p->stage) {
  case H_CONTAINER: container_done(p, rc, status); break;
  case H_IMDS_TOKEN: imds_token_done(p, rc, status); break;
  case H_IMDS_ROLE: imds_role_done(p, rc, status); break;
  case H_IMDS_CREDS: imds_creds_done(p, rc, status); break;
  case H_STS: sts_done(p, rc, status); break;
  }
  if (p->body) explicit_bzero(p->body, p->blen);
}

/* The token file is read on every fetch: the agent rotates it. */
static int container_start(struct gd_aws_credprov *p) {
  char what[GD_ERROR_MAX / 2];
  snprintf(what, sizeof what, "container credentials (%s)", p->cont_url);
  char *token = NULL;
  if (p->cont_token_file) {
    FILE *f = fopen(p->cont_token_file, "rb");
    if (!f)
      return gd_error_set(&p->ferr, GD_EIO,
                          "%s: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_"
                          "FILE '%s': %s",
                          what, p->cont_token_file, strerror(errno));
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n > 0 && strchr(" \t\r\n", buf[n - 1])) buf[--n] = 0;
    token = strdup(buf);
    explicit_bzero(buf, sizeof buf);
  } else if (p->cont_token) {
    token = strdup(p->cont_token);
  }
  if ((p->cont_token_file || p->cont_token) && !token)
    return gd_error_set(&p->ferr, GD_ENOMEM, "%s: out of memory", what);
  char *hdr = NULL;
  if (token) {
    if (strpbrk(token, "\r\n")) {
      wipe_free(token);
      return gd_error_set(&p->ferr, GD_EINVAL,
                          "%s: the authorization token has a line break",
                          what);
    }
    size_t n = strlen(token) + 32;
    if ((hdr = malloc(n))) snprintf(hdr, n, "Authorization: %s", token);
    wipe_free(token);
    if (!hdr)
      return gd_error_set(&p->ferr, GD_ENOMEM, "%s: out of memory", what);
  }
  int rc = http_start(p, H_CONTAINER, what, p->cont_url, "GET", hdr,
                      CONTAINER_TIMEOUT_MS, CONTAINER_ATTEMPTS);
  wipe_free(hdr);
  return rc;
}

static int imds_get(struct gd_aws_credprov *p, int stage, const char *path) {
  char what[GD_ERROR_MAX / 2], url[1024];
  imds_what(p, what, sizeof what);
  snprintf(url, sizeof url, "%s%s", p->imds_base, path);
  char *hdr = NULL;
  if (p->imds_token) {
    size_t n = strlen(p->imds_token) + 40;
    if (!(hdr = malloc(n)))
      return gd_error_set(&p->ferr, GD_ENOMEM, "%s: out of memory", what);
    snprintf(hdr, n, "X-aws-ec2-metadata-token: %s", p->imds_token);
  }
  int rc = http_start(p, stage, what, url, "GET", hdr, p->imds_timeout_ms,
                      p->imds_attempts);
  wipe_free(hdr);
  return rc;
}

static int imds_role(struct gd_aws_credprov *p) {
  return imds_get(p, H_IMDS_ROLE, "/latest/meta-data/iam/security-credentials/");
}

static int imds_creds(struct gd_aws_credprov *p) {
  char path[256];
  snprintf(path, sizeof path, "/latest/meta-data/iam/security-credentials/%s",
           p->imds_role);
  return imds_get(p, H_IMDS_CREDS, path);
}

static int imds_start(struct gd_aws_credprov *p) {
  if (p->imds_token && uv_now(p->loop) < p->imds_token_exp)
    return imds_role(p);
  wipe_free(p->imds_token);
  p->imds_token = NULL;
  char what[GD_ERROR_MAX / 2], url[1024], hdr[64];
  imds_what(p, what, sizeof what);
  snprintf(url, sizeof url, "%s/latest/api/token", p->imds_base);
  snprintf(hdr, sizeof hdr, "X-aws-ec2-metadata-token-ttl-seconds: %d",
           IMDS_TOKEN_TTL_S);
  return http_start(p, H_IMDS_TOKEN, what, url, "PUT", hdr,
                    p->imds_timeout_ms, p->imds_attempts);
}

/* ------------------------------------------------------------------ */
/* STS: AssumeRole (signed with the source credentials) and
 * AssumeRoleWithWebIdentity (unsigned), query protocol. */

struct form {
  char *s;
  size_t len, cap;
  int oom;
};

static void form_add(struct form *f, const char *name, const char *value) {
  char *v = gd_sigv4_uri_encode(value, strlen(value), 0);
  size_t need = strlen(name) + (v ? strlen(v) : 0) + 3;
  if (!v || f->oom) {
    f->oom = 1;
    free(v);
    return;
  }
  if (f->len + need > f->cap) {
    size_t cap = (f->len + need) * 2;
    char *n = malloc(cap);
    if (!n) {
      f->oom = 1;
      wipe_free(v);
      return;
    }
    if (f->s) {
      memcpy(n, f->s, f->len + 1);
      explicit_bzero(f->s, f->len);
      free(f->s);
    }
    f->s = n;
    f->cap = cap;
  }
  f->len += (size_t)snprintf(f->s + f->len, f->cap - f->len, "%s%s=%s",
                             f->len ? "&" : "", name, v);
  wipe_free(v);
}

static void sts_forget(struct gd_aws_credprov *p) {
  wipe_free(p->sts_secret);
  wipe_free(p->sts_token);
  p->sts_secret = p->sts_token = NULL;
}

/* Overwrites every copy of s in buf with '*': some AWS errors echo the
 * canonical request, which holds the session token. */
static void mask(char *buf, const char *s) {
  size_t n = s ? strlen(s) : 0, len = strlen(buf);
  if (n < 4) return;
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(buf + i, s, n) == 0) memset(buf + i, '*', n);
}

static const char *sts_what(struct gd_aws_credprov *p, char *buf, size_t n) {
  if (p->sts_webid)
    snprintf(buf, n, "%s", p->wi_what);
  else
    snprintf(buf, n, "profile '%s'", p->profile);
  return buf;
}

/* The token file, trimmed, or NULL with p->ferr set. */
static char *read_token(struct gd_aws_credprov *p, const char *what) {
  FILE *f = fopen(p->wi_file, "rb");
  if (!f) {
    gd_error_set(&p->ferr, GD_EIO, "%s: cannot read the token file: %s",
                 what, strerror(errno));
    return NULL;
  }
  char *buf = malloc(BODY_MAX + 1);
  size_t n = buf ? fread(buf, 1, BODY_MAX, f) : 0;
  fclose(f);
  if (!buf) {
    gd_error_set(&p->ferr, GD_ENOMEM, "%s: out of memory", what);
    return NULL;
  }
  buf[n] = 0;
  while (n > 0 && strchr(" \t\r\n", buf[n - 1])) buf[--n] = 0;
  if (n == 0) {
    free(buf);
    gd_error_set(&p->ferr, GD_EINVAL, "%s: the token file is empty", what);
    return NULL;
  }
  return buf;
}

/* Host (with a port that is not the scheme's) of the STS URL, as curl
 * sends it and SigV4 signs it. */
static int url_host(const char *url, char *host, size_t n) {
  CURLU *u = curl_url();
  char *h = NULL, *port = NULL;
  int rc = -1;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    snprintf(host, n, "%s%s%s", h, port ? ":" : "", port ? port : "");
    rc = 0;
  }
  curl_free(h);
  curl_free(port);
  curl_url_cleanup(u);
  return rc;
}

static int add_hdr(struct curl_slist **l, const char *name, const char *v) {
  size_t n = strlen(name) + strlen(v) + 3;
  char *line = malloc(n);
  if (!line) return GD_ENOMEM;
  snprintf(line, n, "%s: %s", name, v);
  struct curl_slist *nl = curl_slist_append(*l, line);
  explicit_bzero(line, n);
  free(line);
  if (!nl) return GD_ENOMEM;
  *l = nl;
  return 0;
}

/* Starts the STS call; creds are the source credentials (NULL for web
 * identity). Failure: p->ferr. */
static int sts_start(struct gd_aws_credprov *p, int webid,
                     const struct gd_aws_creds *creds) {
  char what[GD_ERROR_MAX / 2], host[512], num[32];
  p->sts_webid = webid;
  sts_what(p, what, sizeof what);
  if (p->sts_err)
    return gd_error_set(&p->ferr, GD_EINVAL, "%s: sts: %s", what, p->sts_err);
  if (url_host(p->sts_ep.url, host, sizeof host))
    return gd_error_set(&p->ferr, GD_EINVAL, "%s: sts: invalid URL '%s'",
                        what, p->sts_ep.url);
  struct form f = {0};
  form_add(&f, "Action", webid ? "AssumeRoleWithWebIdentity" : "AssumeRole");
  form_add(&f, "Version", STS_VERSION);
  form_add(&f, "RoleArn", webid ? p->wi_arn : p->role_arn);
  form_add(&f, "RoleSessionName", webid ? p->wi_session : p->role_session);
  if (!webid && p->role_extid) form_add(&f, "ExternalId", p->role_extid);
  if (!webid && p->role_duration) {
    snprintf(num, sizeof num, "%ld", p->role_duration);
    form_add(&f, "DurationSeconds", num);
  }
  if (webid) {
    char *tok = read_token(p, what);
    if (!tok) {
      if (f.s) explicit_bzero(f.s, f.len);
      free(f.s);
      return p->ferr.code;
    }
    form_add(&f, "WebIdentityToken", tok);
    sts_forget(p);
    p->sts_token = tok;
  } else {
    sts_forget(p);
    if (dup_opt(&p->sts_secret, creds->secret_access_key) ||
        dup_opt(&p->sts_token, creds->session_token))
      f.oom = 1;
  }
  req_wipe(p);
  p->req.body = f.s;
  char url[600];
  snprintf(url, sizeof url, "%s/", p->sts_ep.url);
  if (f.oom || !(p->req.url = strdup(url)) ||
      !(p->req.method = strdup("POST")))
    return gd_error_set(&p->ferr, GD_ENOMEM, "%s: out of memory", what);
  static const char ctype[] =
      "application/x-www-form-urlencoded; charset=utf-8";
  int rc = add_hdr(&p->req.headers, "Content-Type", ctype);
  /* No Expect: 100-continue round trip for a small form. */
  if (!rc) {
    struct curl_slist *nl = curl_slist_append(p->req.headers, "Expect:");
    if (nl)
      p->req.headers = nl;
    else
      rc = GD_ENOMEM;
  }
  if (!rc && !webid) {
    struct gd_sigv4_header h[] = {{"Host", host}, {"Content-Type", ctype}};
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    struct gd_sigv4_request r = {
        .method = "POST",
        .target = "/",
        .headers = h,
        .nheaders = 2,
        .payload = f.s,
        .payload_len = f.len,
        .region = p->sts_ep.signing_region,
        .service = p->sts_ep.signing_name,
        .when = &tm,
    };
    struct gd_sigv4_creds sc = {creds->access_key_id,
                                creds->secret_access_key,
                                creds->session_token};
    struct gd_sigv4_result sr = {0};
    struct gd_error e = {0};
    if (gd_sigv4_sign(&r, &sc, NULL, &sr, &e))
      return gd_error_set(&p->ferr, e.code, "%s: sts AssumeRole: %s", what,
                          e.msg);
    for (size_t i = 0; !rc && i < sr.nadd; i++)
      rc = add_hdr(&p->req.headers, sr.add[i].name, sr.add[i].value);
    if (!rc) rc = add_hdr(&p->req.headers, "Authorization", sr.authorization);
    gd_sigv4_result_free(&sr);
  }
  if (rc) return gd_error_set(&p->ferr, GD_ENOMEM, "%s: out of memory", what);
  return http_send(p, H_STS, what, 0, STS_TIMEOUT_MS, STS_ATTEMPTS);
}

static void sts_done(struct gd_aws_credprov *p, CURLcode rc, long status) {
  char what[GD_ERROR_MAX / 2], code[128], msg[320], buf[2048];
  const char *op = p->sts_webid ? "AssumeRoleWithWebIdentity" : "AssumeRole";
  sts_what(p, what, sizeof what);
  if (rc != CURLE_OK) {
    char w2[GD_ERROR_MAX / 2 + 40];
    snprintf(w2, sizeof w2, "%s: sts %s", what, op);
    http_error(p, w2, rc, status);
    sts_forget(p);
    source_failed(p);
    return;
  }
  xmlDoc *doc = p->blen ? xmlReadMemory(p->body, (int)p->blen, NULL, NULL,
                                        XML_PARSE_NONET | XML_PARSE_NOERROR |
                                            XML_PARSE_NOWARNING)
                        : NULL;
  xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
  struct gd_aws_creds nc;
  memset(&nc, 0, sizeof nc);
  int ok = 0;
  if (status != 200) {
    /* <ErrorResponse><Error><Code/><Message/></Error>: STS's messages name
     * roles and users, never keys. */
    if (root && gd_aws_xml_text(root, "Error/Code", code, sizeof code)) {
      if (!gd_aws_xml_text(root, "Error/Message", msg, sizeof msg))
        snprintf(msg, sizeof msg, "(no message)");
      mask(msg, p->sts_secret);
      mask(msg, p->sts_token);
      mask(code, p->sts_token);
      gd_error_set(&p->ferr, GD_EIO, "%s: sts %s: %s: %s", what, op, code,
                   msg);
    } else
      gd_error_set(&p->ferr, GD_EIO, "%s: sts %s: HTTP %ld", what, op,
                   status);
  } else {
    char path[128];
    snprintf(path, sizeof path, "%sResult/Credentials", op);
    xmlNode *c = root ? gd_aws_xml_find(root, path) : NULL;
    char akid[256], exp[64];
    int64_t t = 0;
    if (!c || !gd_aws_xml_text(c, "AccessKeyId", akid, sizeof akid) ||
        !akid[0] || !gd_aws_xml_text(c, "SecretAccessKey", msg, sizeof msg) ||
        !msg[0] || !gd_aws_xml_text(c, "SessionToken", buf, sizeof buf) ||
        !buf[0])
      gd_error_set(&p->ferr, GD_EIO, "%s: sts %s: answer has no credentials",
                   what, op);
    else if (!gd_aws_xml_text(c, "Expiration", exp, sizeof exp) ||
             gd_aws_parse_time(exp, &t))
      gd_error_set(&p->ferr, GD_EIO,
                   "%s: sts %s: Expiration is not an ISO 8601 time", what, op);
    else if (set_creds(&nc, akid, msg, buf, t))
      gd_error_set(&p->ferr, GD_ENOMEM, "%s: out of memory", what);
    else
      ok = 1;
  }
  explicit_bzero(msg, sizeof msg);
  explicit_bzero(buf, sizeof buf);
  xmlFreeDoc(doc);
  sts_forget(p);
  if (!ok) {
    source_failed(p);
    return;
  }
  if (p->sts_webid)
    snprintf(nc.source, sizeof nc.source, "web identity role '%s'",
             p->wi_arn);
  else
    snprintf(nc.source, sizeof nc.source, "role '%s' of profile '%s'",
             p->role_arn, p->profile);
  fetch_ok(p, &nc);
}

/* The source credentials of an assumed role have come. */
static void on_inner(const struct gd_aws_creds *creds,
                     const struct gd_error *err, void *arg) {
  struct gd_aws_credprov *p = arg;
  if (p->closing) return;
  if (!creds) {
    gd_error_set(&p->ferr, err->code, "profile '%s': %s: %s", p->profile,
                 p->role_src, err->msg);
    source_failed(p);
    return;
  }
  if (sts_start(p, 0, creds)) source_failed(p);
}

/* ------------------------------------------------------------------ */
/* credential_process */

static void proc_close(uv_pipe_t *pp, int *open) {
  if (!*open) return;
  *open = 0;
  uv_read_stop((uv_stream_t *)pp);
  uv_close((uv_handle_t *)pp, on_close);
}

static void proc_append(struct gd_aws_credprov *p, uv_pipe_t *pp,
                        const char *d, size_t n) {
  if (pp == &p->pout) {
    if (p->plen + n > BODY_MAX) {
      p->pover = 1;
      return;
    }
    memcpy(p->pbuf + p->plen, d, n);
    p->plen += n;
    return;
  }
  /* stderr: the last STDERR_KEEP bytes, for the message on failure */
  if (n >= STDERR_KEEP) {
    memcpy(p->ebuf, d + n - STDERR_KEEP, STDERR_KEEP);
    p->elen = STDERR_KEEP;
    return;
  }
  if (p->elen + n > STDERR_KEEP) {
    size_t drop = p->elen + n - STDERR_KEEP;
    memmove(p->ebuf, p->ebuf + drop, p->elen - drop);
    p->elen -= drop;
  }
  memcpy(p->ebuf + p->elen, d, n);
  p->elen += n;
}

static void proc_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct gd_aws_credprov *p = h->data;
  (void)hint;
  *buf = uv_buf_init(p->rbuf, sizeof p->rbuf);
}

static void proc_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  struct gd_aws_credprov *p = st->data;
  uv_pipe_t *pp = (uv_pipe_t *)st;
  if (nread > 0)
    proc_append(p, pp, buf->base, (size_t)nread);
  else if (nread < 0)
    proc_close(pp, pp == &p->pout ? &p->pout_open : &p->perr_open);
}

/* Whatever the process wrote is in the pipes once it has exited; children
 * it left behind may hold them open, so read what is there and close. */
static void proc_drain(struct gd_aws_credprov *p, uv_pipe_t *pp, int *open) {
  uv_os_fd_t fd;
  if (!*open) return;
  if (uv_fileno((uv_handle_t *)pp, &fd) == 0)
    for (int i = 0; i < 64; i++) {
      ssize_t k = read(fd, p->rbuf, sizeof p->rbuf);
      if (k > 0) {
        proc_append(p, pp, p->rbuf, (size_t)k);
        continue;
      }
      if (k < 0 && errno == EINTR) continue;
      break;
    }
  proc_close(pp, open);
}

static void proc_exit(uv_process_t *h, int64_t status, int sig) {
  struct gd_aws_credprov *p = h->data;
  p->exited = 1;
  p->exit_status = status;
  p->term_sig = sig;
  uv_timer_stop(&p->ptimer);
  uv_close((uv_handle_t *)&p->proc, on_close);
  proc_drain(p, &p->pout, &p->pout_open);
  proc_drain(p, &p->perr, &p->perr_open);
}

static void proc_timeout(uv_timer_t *t) {
  struct gd_aws_credprov *p = t->data;
  if (p->exited) return;
  p->timed_out = 1;
  uv_process_kill(&p->proc, SIGKILL);
}

/* The last non-empty line of stderr, cut and made printable. */
static void stderr_line(struct gd_aws_credprov *p, char *dst, size_t dn) {
  const char *s = p->ebuf;
  size_t n = p->elen;
  while (n > 0 && strchr(" \t\r\n", s[n - 1])) n--;
  size_t b = n;
  while (b > 0 && s[b - 1] != '\n' && s[b - 1] != '\r') b--;
  while (b < n && (s[b] == ' ' || s[b] == '\t')) b++;
  size_t o = 0;
  for (size_t i = b; i < n && o + 4 < dn && o < LINE_MAX_MSG; i++) {
    unsigned char ch = (unsigned char)s[i];
    dst[o++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
  }
  if (n - b > LINE_MAX_MSG && o + 4 < dn) {
    memcpy(dst + o, "...", 3);
    o += 3;
  }
  dst[o] = 0;
}

static void proc_what(struct gd_aws_credprov *p, char *buf, size_t n) {
  snprintf(buf, n, "credential_process of profile '%s' in '%s'", p->profile,
           p->process_file);
}

/* Called once the process has exited and its three handles are closed. */
static void proc_finished(struct gd_aws_credprov *p) {
  char what[GD_ERROR_MAX / 2], line[LINE_MAX_MSG + 8];
  proc_what(p, what, sizeof what);
  stderr_line(p, line, sizeof line);
  struct gd_aws_creds nc;
  int rc = 0;
  if (p->timed_out)
    rc = gd_error_set(&p->ferr, GD_ETIMEDOUT,
                      "%s: no answer within %d s, killed", what,
                      GD_AWS_PROCESS_TIMEOUT_MS / 1000);
  else if (p->term_sig)
    rc = gd_error_set(&p->ferr, GD_EIO, "%s: killed by signal %d%s%s", what,
                      p->term_sig, line[0] ? ": " : "", line);
  else if (p->exit_status != 0)
    rc = gd_error_set(&p->ferr, GD_EIO, "%s: exited with status %lld%s%s",
                      what, (long long)p->exit_status, line[0] ? ": " : "",
                      line);
  else if (p->pover)
    rc = gd_error_set(&p->ferr, GD_EIO, "%s: output larger than %d bytes",
                      what, BODY_MAX);
  else
    rc = parse_creds(p->pbuf, p->plen, "SessionToken", 1, what, &nc,
                     &p->ferr);
  explicit_bzero(p->pbuf, p->plen);
  explicit_bzero(p->ebuf, sizeof p->ebuf);
  p->plen = p->elen = 0;
  if (rc) {
    source_failed(p);
    return;
  }
  snprintf(nc.source, sizeof nc.source,
           "credential_process of profile '%s'", p->profile);
  fetch_ok(p, &nc);
}

static int pipe_start(struct gd_aws_credprov *p, uv_pipe_t *pp, int *open,
                      uv_file fd) {
  if (uv_pipe_init(p->loop, pp, 0) != 0) {
    close(fd);
    return -1;
  }
  pp->data = p;
  p->open++;
  p->proc_open++;
  *open = 1;
  if (uv_pipe_open(pp, fd) != 0) {
    close(fd);
    proc_close(pp, open);
    return -1;
  }
  if (uv_read_start((uv_stream_t *)pp, proc_alloc, proc_read) != 0) {
    proc_close(pp, open);
    return -1;
  }
  return 0;
}

static int process_start(struct gd_aws_credprov *p) {
  char what[GD_ERROR_MAX / 2];
  proc_what(p, what, sizeof what);
  if (p->proc_open)
    return gd_error_set(&p->ferr, GD_ESTATE, "%s: still running", what);
  char **argv = NULL;
  size_t argc = 0;
  struct gd_error e = {0};
  if (gd_aws_cmdline_split(p->process, &argv, &argc, &e))
    return gd_error_set(&p->ferr, e.code, "%s: %s", what, e.msg);
  if (!p->pbuf && !(p->pbuf = malloc(BODY_MAX + 1))) {
    gd_strv_free(argv);
    return gd_error_set(&p->ferr, GD_ENOMEM, "%s: out of memory", what);
  }
  uv_file ofd[2], efd[2];
  if (uv_pipe(ofd, 0, 0) != 0) {
    gd_strv_free(argv);
    return gd_error_set(&p->ferr, GD_EIO, "%s: cannot make a pipe", what);
  }
  if (uv_pipe(efd, 0, 0) != 0) {
    close(ofd[0]);
    close(ofd[1]);
    gd_strv_free(argv);
    return gd_error_set(&p->ferr, GD_EIO, "%s: cannot make a pipe", what);
  }
  /* stdin stays the terminal's, as in botocore, so that a helper can ask
   * for an MFA code; no new session for the same reason. */
  uv_stdio_container_t stdio[3] = {
      {.flags = UV_INHERIT_FD, .data.fd = 0},
      {.flags = UV_INHERIT_FD, .data.fd = ofd[1]},
      {.flags = UV_INHERIT_FD, .data.fd = efd[1]},
  };
  uv_process_options_t opt = {
      .exit_cb = proc_exit,
      .file = argv[0],
      .args = argv,
      .stdio_count = 3,
      .stdio = stdio,
  };
  p->exited = p->timed_out = p->term_sig = p->pover = 0;
  p->exit_status = 0;
  p->plen = p->elen = 0;
  p->proc_spawned = 0;
  int r = uv_spawn(p->loop, &p->proc, &opt);
  close(ofd[1]);
  close(efd[1]);
  p->proc.data = p;
  p->open++;
  p->proc_open++;
  if (r) {
    close(ofd[0]);
    close(efd[0]);
    /* The handle must be closed even when the spawn failed. */
    uv_close((uv_handle_t *)&p->proc, on_close);
    gd_error_set(&p->ferr, GD_EIO, "%s: cannot run '%s': %s", what, argv[0],
                 uv_strerror(r));
    gd_strv_free(argv);
    return GD_EIO;
  }
  gd_strv_free(argv);
  p->proc_spawned = 1;
  pipe_start(p, &p->pout, &p->pout_open, ofd[0]);
  pipe_start(p, &p->perr, &p->perr_open, efd[0]);
  uv_timer_start(&p->ptimer, proc_timeout, GD_AWS_PROCESS_TIMEOUT_MS, 0);
  return 0;
}

/* ------------------------------------------------------------------ */
/* The chain */

static enum step_rc step_env(struct gd_aws_credprov *p,
                             struct gd_aws_creds *nc) {
  if (!p->env_akid && !p->env_secret) {
    note(p, "environment: AWS_ACCESS_KEY_ID not set");
    return ST_SKIP;
  }
  if (!p->env_akid || !p->env_secret) {
    gd_error_set(&p->ferr, GD_EINVAL,
                 "environment: %s is set but %s is not",
                 p->env_akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                 p->env_akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    return ST_FAIL;
  }
  if (set_creds(nc, p->env_akid, p->env_secret, p->env_token, 0)) {
    gd_error_set(&p->ferr, GD_ENOMEM, "environment: out of memory");
    return ST_FAIL;
  }
  snprintf(nc->source, sizeof nc->source, "environment");
  return ST_OK;
}

static enum step_rc step_profile(struct gd_aws_credprov *p,
                                 struct gd_aws_creds *nc) {
  if (p->st_akid || p->st_secret) {
    if (!p->st_akid || !p->st_secret) {
      gd_error_set(&p->ferr, GD_EINVAL,
                   "profile '%s' in '%s': %s is set but %s is not",
                   p->profile, p->st_file,
                   p->st_akid ? "aws_access_key_id" : "aws_secret_access_key",
                   p->st_akid ? "aws_secret_access_key" : "aws_access_key_id");
      return ST_FAIL;
    }
    if (set_creds(nc, p->st_akid, p->st_secret, p->st_token, 0)) {
      gd_error_set(&p->ferr, GD_ENOMEM, "profile: out of memory");
      return ST_FAIL;
    }
    snprintf(nc->source, sizeof nc->source, "profile '%s' in '%s'",
             p->profile, p->st_file);
    return ST_OK;
  }
  if (p->unsupported) {
    gd_error_set(&p->ferr, GD_EINVAL, "%s", p->unsupported);
    return ST_FAIL;
  }
  if (p->process) return process_start(p) ? ST_FAIL : ST_ASYNC;
  note(p, "profile '%s': no credentials", p->profile);
  return ST_SKIP;
}

static enum step_rc step_role(struct gd_aws_credprov *p) {
  if (p->role_err) {
    gd_error_set(&p->ferr, GD_EINVAL, "%s", p->role_err);
    return ST_FAIL;
  }
  if (!p->role_arn) return ST_SKIP;
  /* The source answers from its cache or refreshes as it needs to. */
  struct gd_error e = {0};
  if (gd_aws_credprov_get(p->inner, on_inner, p, &e)) {
    gd_error_set(&p->ferr, e.code, "profile '%s': %s: %s", p->profile,
                 p->role_src, e.msg);
    return ST_FAIL;
  }
  return ST_ASYNC;
}

static enum step_rc step_run(struct gd_aws_credprov *p,
                             struct gd_aws_creds *nc) {
  if (!(p->mask & STEP_BIT(p->step))) return ST_SKIP;
  switch (p->step) {
  case STEP_ENV: return step_env(p, nc);
  case STEP_ROLE: return step_role(p);
  case STEP_PROFILE: return step_profile(p, nc);
  case STEP_WEBID:
    if (p->wi_err) {
      gd_error_set(&p->ferr, GD_EINVAL, "%s", p->wi_err);
      return ST_FAIL;
    }
    if (!p->wi_file) return ST_SKIP;
    return sts_start(p, 1, NULL) ? ST_FAIL : ST_ASYNC;
  case STEP_CONTAINER:
    if (p->cont_err) {
      gd_error_set(&p->ferr, GD_EINVAL, "container credentials: %s",
                   p->cont_err);
      return ST_FAIL;
    }
    if (!p->cont_url) {
      note(p, "container: not configured");
      return ST_SKIP;
    }
    return container_start(p) ? ST_FAIL : ST_ASYNC;
  case STEP_IMDS:
    if (p->imds_disabled) {
      note(p, "instance metadata: disabled by AWS_EC2_METADATA_DISABLED");
      return ST_SKIP;
    }
    if (p->imds_err) {
      gd_error_set(&p->ferr, GD_EINVAL, "instance metadata: %s", p->imds_err);
      return ST_FAIL;
    }
    p->imds_retoken = 0;
    return imds_start(p) ? ST_FAIL : ST_ASYNC;
  }
  return ST_SKIP;
}

/* Runs steps from p->step until one answers, starts something, or fails.
 * A refresh (source known) runs that step alone. */
static void chain_next(struct gd_aws_credprov *p) {
  while (p->step < STEP_END) {
    struct gd_aws_creds nc;
    memset(&nc, 0, sizeof nc);
    switch (step_run(p, &nc)) {
    case ST_OK: fetch_ok(p, &nc); return;
    case ST_ASYNC: return;
    case ST_FAIL:
      fetch_fail(p);
      return;
    case ST_SKIP:
      if (p->src >= 0) {
        gd_error_set(&p->ferr, GD_ESTATE, "aws credentials: source gone");
        fetch_fail(p);
        return;
      }
      p->step++;
      break;
    }
  }
  gd_error_set(&p->ferr, GD_ENOTFOUND, "no aws credentials found: %s",
               p->notes);
  fetch_fail(p);
}

/* gameday: the dns probe: resolve a name on the loop (uv_getaddrinfo, the
 * system resolver: /etc/hosts, then DNS, as every client of the stack
 * resolves it). The detail lists the answer's addresses, sorted; a name
 * that does not resolve is a failure of class "dns".
 *
 * expect (optional; without it any answer is healthy):
 *   {"addresses": ["10.0.0.5", ...], "match": "contains" | "equals"}
 *       healthy when the answer contains every address (the default), or
 *       is exactly that set;
 *   {"changed": true}
 *       healthy once the answer differs from the first answer this probe
 *       got. This is how an Aurora cluster endpoint shows a failover: it is
 *       a CNAME to the writer instance, and after FailoverDBCluster it
 *       resolves to the new writer's address (once the record's 5-second
 *       TTL has passed in the caches on the way). As a recovery probe its
 *       recovery_ms is when clients could see the new writer.
 * `family`: "any" (default), "ipv4" or "ipv6".
 *
 * getaddrinfo runs on libuv's thread pool and cannot be interrupted once it
 * started: a sample past its timeout is reported at once, and the request
 * is left to finish and freed then; stop waits for those before it says
 * the probe is done, so the loop closes cleanly. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gameday/json.h"
#include "gameday/probe.h"

#define DNS_MAX_ADDRS 32
#define DNS_ADDR_LEN 46 /* INET6_ADDRSTRLEN */

struct dns_ctx;

struct dns_req {
  uv_getaddrinfo_t req;
  struct dns_ctx *c;
  struct gd_sample *s; /* NULL once the sample was given up */
};

struct dns_ctx {
  char *name;
  int family;
  char **want; /* expected addresses, NULL-ended; NULL: none */
  size_t nwant;
  int equals;
  int changed;
  char *first; /* changed: the first answer, as its detail text */
  unsigned pending;
  int stopping;
  void (*stop_done)(struct gd_probe *p);
  struct gd_probe *p;
};

static const char *const dns_keys[] = {"name", "family", "expect", NULL};
static const char *const expect_keys[] = {"addresses", "match", "changed",
                                          NULL};

static void ctx_free(struct dns_ctx *c) {
  if (!c) return;
  free(c->name);
  gd_strv_free(c->want);
  free(c->first);
  free(c);
}

static int dns_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  struct dns_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *name = NULL, *family = "any", *match = "contains";
  const cJSON *expect = NULL;
  char epath[256];
  gd_json_path(epath, sizeof epath, path, "expect");
  int rc;
  if ((rc = gd_json_get_string(spec, "name", path, 1, &name, err)) ||
      (rc = gd_json_get_string(spec, "family", path, 0, &family, err)) ||
      (rc = gd_json_get_object(spec, "expect", path, 0, &expect, err)) ||
      (expect &&
       ((rc = gd_json_check_keys(expect, epath, expect_keys, NULL, err)) ||
        (rc = gd_json_get_strv(expect, "addresses", epath, 0, &c->want,
                               &c->nwant, err)) ||
        (rc = gd_json_get_string(expect, "match", epath, 0, &match, err)) ||
        (rc = gd_json_get_bool(expect, "changed", epath, 0, &c->changed,
                               err)))))
    goto fail;
  rc = GD_EINVAL;
  if (!name[0]) {
    gd_error_set(err, rc, "%s.name: must not be empty", path);
    goto fail;
  }
  if (strcmp(family, "any") == 0)
    c->family = AF_UNSPEC;
  else if (strcmp(family, "ipv4") == 0)
    c->family = AF_INET;
  else if (strcmp(family, "ipv6") == 0)
    c->family = AF_INET6;
  else {
    gd_error_set(err, rc, "%s.family: unknown family '%s' (any, ipv4, ipv6)",
                 path, family);
    goto fail;
  }
  if (strcmp(match, "equals") == 0)
    c->equals = 1;
  else if (strcmp(match, "contains") != 0) {
    gd_error_set(err, rc, "%s.match: unknown match '%s' (contains, equals)",
                 epath, match);
    goto fail;
  }
  if (c->changed && c->want) {
    gd_error_set(err, rc, "%s: give either addresses or changed, not both",
                 epath);
    goto fail;
  }
  if (expect && !c->changed && !c->want) {
    gd_error_set(err, rc, "%s: give addresses or \"changed\": true", epath);
    goto fail;
  }
  for (size_t i = 0; i < c->nwant; i++) {
    unsigned char buf[16];
    if (uv_inet_pton(AF_INET, c->want[i], buf) &&
        uv_inet_pton(AF_INET6, c->want[i], buf)) {
      gd_error_set(err, rc, "%s.addresses[%zu]: not an ip address '%s'",
                   epath, i, c->want[i]);
      goto fail;
    }
  }
  if (!(c->name = strdup(name))) {
    rc = gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  p->ctx = c;
  return 0;
fail:
  ctx_free(c);
  return rc;
}

static void dns_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct dns_ctx *c = p->ctx;
  size_t len = (size_t)snprintf(buf, n, "resolve %s", c->name);
  if (c->changed && len < n) {
    snprintf(buf + len, n - len, ", until the answer changes");
  } else if (c->want && len < n) {
    len += (size_t)snprintf(buf + len, n - len, ", answer %s",
                            c->equals ? "is" : "contains");
    for (size_t i = 0; i < c->nwant && len < n; i++)
      len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : " ",
                              c->want[i]);
  }
}

static int dns_start(struct gd_probe *p, struct gd_error *err) {
  struct dns_ctx *c = p->ctx;
  (void)err;
  c->p = p;
  c->stopping = 0;
  free(c->first);
  c->first = NULL;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

/* The answer's distinct addresses, sorted. */
static size_t collect(const struct addrinfo *ai,
                      char addrs[][DNS_ADDR_LEN]) {
  size_t n = 0;
  for (; ai && n < DNS_MAX_ADDRS; ai = ai->ai_next) {
    char a[DNS_ADDR_LEN] = "";
    if (ai->ai_family == AF_INET)
      uv_ip4_name((const struct sockaddr_in *)ai->ai_addr, a, sizeof a);
    else if (ai->ai_family == AF_INET6)
      uv_ip6_name((const struct sockaddr_in6 *)ai->ai_addr, a, sizeof a);
    if (!a[0]) continue;
    size_t i = 0;
    while (i < n && strcmp(addrs[i], a) != 0) i++;
    if (i == n) memcpy(addrs[n++], a, sizeof a);
  }
  qsort(addrs, n, DNS_ADDR_LEN, cmp_str);
  return n;
}

static int has(char addrs[][DNS_ADDR_LEN], size_t n, const char *a) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(addrs[i], a) == 0) return 1;
  return 0;
}

static void judge(struct dns_ctx *c, struct gd_sample *s,
                  const struct addrinfo *ai) {
  char addrs[DNS_MAX_ADDRS][DNS_ADDR_LEN];
  size_t n = collect(ai, addrs);
  char text[GD_ERROR_MAX];
  size_t len = 0;
  text[0] = 0;
  for (size_t i = 0; i < n && len < sizeof text; i++)
    len += (size_t)snprintf(text + len, sizeof text - len, "%s%s",
                            i ? ", " : "", addrs[i]);
  if (n == 0) {
    gd_sample_done(s, GD_SAMPLE_DNS, "%s: no address", c->name);
    return;
  }
  if (c->changed) {
    if (!c->first) c->first = strdup(text);
    if (!c->first || strcmp(c->first, text) == 0)
      gd_sample_done(s, GD_SAMPLE_MISMATCH, "unchanged: %s", text);
    else
      gd_sample_done(s, GD_SAMPLE_OK, "%s (was %s)", text, c->first);
    return;
  }
  for (size_t i = 0; i < c->nwant; i++)
    if (!has(addrs, n, c->want[i])) {
      gd_sample_done(s, GD_SAMPLE_MISMATCH, "%s (missing %s)", text,
                     c->want[i]);
      return;
    }
  if (c->equals && c->want && n != c->nwant) {
    /* Every wanted one is there (distinct), so there are extra ones. */
    gd_sample_done(s, GD_SAMPLE_MISMATCH, "%s (more than expected)", text);
    return;
  }
  gd_sample_done(s, GD_SAMPLE_OK, "%s", text);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  struct dns_req *r = req->data;
  struct dns_ctx *c = r->c;
  struct gd_sample *s = r->s;
  c->pending--;
  if (s) {
    s->data = NULL;
    if (status < 0)
      gd_sample_done(s, GD_SAMPLE_DNS, "%s: %s", c->name, uv_strerror(status));
    else
      judge(c, s, res);
  }
  uv_freeaddrinfo(res);
  free(r);
  if (c->stopping && c->pending == 0) {
    c->stopping = 0;
    c->stop_done(c->p);
  }
}

static int dns_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct dns_ctx *c = p->ctx;
  struct dns_req *r = calloc(1, sizeof *r);
  if (!r) return gd_error_set(err, GD_ENOMEM, "out of memory");
  struct addrinfo hints = {.ai_family = c->family,
                           .ai_socktype = SOCK_STREAM};
  r->c = c;
  r->s = s;
  r->req.data = r;
  int rc = uv_getaddrinfo(p->loop, &r->req, on_resolved, c->name, NULL,
                          &hints);
  if (rc) {
    free(r);
    return gd_error_set(err, GD_EIO, "getaddrinfo '%s': %s", c->name,
                        uv_strerror(rc));
  }
  c->pending++;
  s->data = r; /* the request in flight, for cancel */
  return 0;
}

static void dns_cancel(struct gd_probe *p, struct gd_sample *s) {
  struct dns_req *r = s->data;
  (void)p;
  if (!r) return;
  /* Give the sample up now; the request ends on its own (at once when it
   * had not started on the thread pool, else when getaddrinfo returns). */
  const char *name = r->c->name;
  r->s = NULL;
  s->data = NULL;
  gd_sample_done(s, GD_SAMPLE_TIMEOUT, "no answer for %s", name);
  uv_cancel((uv_req_t *)&r->req);
}

static void dns_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct dns_ctx *c = p->ctx;
  if (c->pending == 0) {
    done(p);
    return;
  }
  c->stopping = 1;
  c->stop_done = done;
}

static void dns_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_dns = {
    .type = "dns",
    .keys = dns_keys,
    .init = dns_init,
    .describe = dns_describe,
    .start = dns_start,
    .sample = dns_sample,
    .cancel = dns_cancel,
    .stop = dns_stop,
    .free = dns_free,
};

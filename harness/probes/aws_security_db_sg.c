/* gameday: the aws.security.db_security_groups check: can the database be
 * reached only by who should reach it? Every ingress rule of the cluster's
 * VPC security groups must name its source by security group (the app
 * tier's), or by an address range inside one of `allowed_cidrs` (default
 * none; IPv4 or IPv6 CIDRs, or prefix list ids "pl-..."). A rule from
 * 0.0.0.0/0 or ::/0 is always a finding, whatever allowed_cidrs says.
 * RDS DescribeDBClusters for the cluster's VpcSecurityGroups, then EC2
 * DescribeSecurityGroups for their rules. The finding names each rule
 * that lets in something else; the value is their number. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/awsrds.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct dsg_ctx {
  char *cluster;
  char *region;
  char **allowed;
  size_t nallowed;
  cJSON *params;
  struct gd_awscheck chk;
};

static const char *const dsg_keys[] = {"cluster", "allowed_cidrs", "region",
                                       NULL};

static void ctx_free(struct dsg_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  free(c->cluster);
  free(c->region);
  gd_strv_free(c->allowed);
  cJSON_Delete(c->params);
  free(c);
}

/* A CIDR as family, 16 address bytes and a prefix length; -1 if not one. */
struct cidr {
  int family;
  unsigned char addr[16];
  int bits;
};

static int cidr_parse(const char *s, struct cidr *c) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", s);
  char *slash = strchr(buf, '/');
  if (!slash) return -1;
  *slash = 0;
  char *end;
  long bits = strtol(slash + 1, &end, 10);
  if (end == slash + 1 || *end) return -1;
  memset(c, 0, sizeof *c);
  if (inet_pton(AF_INET, buf, c->addr) == 1) {
    c->family = AF_INET;
    if (bits < 0 || bits > 32) return -1;
  } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
    c->family = AF_INET6;
    if (bits < 0 || bits > 128) return -1;
  } else {
    return -1;
  }
  c->bits = (int)bits;
  return 0;
}

/* 1 when inner lies within outer. */
static int cidr_within(const struct cidr *inner, const struct cidr *outer) {
  if (inner->family != outer->family || inner->bits < outer->bits) return 0;
  int full = outer->bits / 8, rest = outer->bits % 8;
  if (memcmp(inner->addr, outer->addr, (size_t)full) != 0) return 0;
  if (!rest) return 1;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (inner->addr[full] & mask) == (outer->addr[full] & mask);
}

static int dsg_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  struct dsg_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *cluster = NULL;
  int rc;
  if ((rc = gd_json_get_string(spec, "cluster", path, 1, &cluster, err)) ||
      (rc = gd_awscheck_list_parse(spec, "allowed_cidrs", path, 0,
                                   &c->allowed, &c->nallowed, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &c->region, err))) {
    ctx_free(c);
    return rc;
  }
  if (!cluster[0]) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL, "%s.cluster: must not be empty", path);
  }
  for (size_t i = 0; i < c->nallowed; i++) {
    struct cidr x;
    if (strncmp(c->allowed[i], "pl-", 3) == 0) continue;
    if (cidr_parse(c->allowed[i], &x)) {
      rc = gd_error_set(err, GD_EINVAL,
                        "%s.allowed_cidrs[%zu]: '%s' is not a CIDR "
                        "(10.0.0.0/16, 2001:db8::/32) or a prefix list id",
                        path, i, c->allowed[i]);
      ctx_free(c);
      return rc;
    }
    if (x.bits == 0) {
      rc = gd_error_set(err, GD_EINVAL,
                        "%s.allowed_cidrs[%zu]: '%s' is the whole internet",
                        path, i, c->allowed[i]);
      ctx_free(c);
      return rc;
    }
  }
  if (!(c->cluster = strdup(cluster)) || !(c->params = cJSON_CreateObject()) ||
      !cJSON_AddStringToObject(c->params, "DBClusterIdentifier", cluster)) {
    ctx_free(c);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  p->ctx = c;
  return 0;
}

static void dsg_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct dsg_ctx *c = p->ctx;
  char list[256] = "";
  for (size_t i = 0; i < c->nallowed; i++) {
    size_t len = strlen(list);
    snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
             c->allowed[i]);
  }
  snprintf(buf, n,
           "aurora cluster '%s': security groups let in only security "
           "groups%s%s",
           c->cluster, c->nallowed ? " and " : "", list);
}

static int dsg_start(struct gd_probe *p, struct gd_error *err) {
  struct dsg_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, c->region, err);
}

static int source_allowed(const struct dsg_ctx *c, const char *src) {
  if (strncmp(src, "pl-", 3) == 0) {
    for (size_t i = 0; i < c->nallowed; i++)
      if (!strcmp(c->allowed[i], src)) return 1;
    return 0;
  }
  struct cidr x, a;
  if (cidr_parse(src, &x) || x.bits == 0) return 0;
  for (size_t i = 0; i < c->nallowed; i++)
    if (!cidr_parse(c->allowed[i], &a) && cidr_within(&x, &a)) return 1;
  return 0;
}

static void rule_text(const xmlNode *p, char *buf, size_t n) {
  char proto[16], from[16], to[16];
  gd_aws_xml_text(p, "ipProtocol", proto, sizeof proto);
  gd_aws_xml_text(p, "fromPort", from, sizeof from);
  gd_aws_xml_text(p, "toPort", to, sizeof to);
  if (!strcmp(proto, "-1") || !from[0])
    snprintf(buf, n, "%s", !strcmp(proto, "-1") ? "all traffic" : proto);
  else if (!strcmp(from, to))
    snprintf(buf, n, "%s %s", proto, from);
  else
    snprintf(buf, n, "%s %s-%s", proto, from, to);
}

static void add_bad(cJSON *bad, const char *gid, const char *rule,
                    const char *src) {
  char text[256];
  int world = !strcmp(src, "0.0.0.0/0") || !strcmp(src, "::/0");
  snprintf(text, sizeof text, "%s allows %s from %s%s", gid, rule, src,
           world ? " (the whole internet)" : "");
  cJSON_AddItemToArray(bad, cJSON_CreateString(text));
}

static void on_groups(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct dsg_ctx *c = r->s->probe->ctx;
  (void)e;
  cJSON *bad = cJSON_CreateArray();
  if (!bad) {
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return;
  }
  char gid[64], rule[64], src[64], ids[256] = "";
  int groups = 0;
  for (xmlNode *g = gd_aws_xml_find(xmlDocGetRootElement(res->xml),
                                    "securityGroupInfo/item");
       g; g = gd_aws_xml_next(g)) {
    gd_aws_xml_text(g, "groupId", gid, sizeof gid);
    size_t len = strlen(ids);
    snprintf(ids + len, sizeof ids - len, "%s%s", groups++ ? ", " : "", gid);
    for (xmlNode *p = gd_aws_xml_find(g, "ipPermissions/item"); p;
         p = gd_aws_xml_next(p)) {
      rule_text(p, rule, sizeof rule);
      static const char *const ranges[][2] = {{"ipRanges/item", "cidrIp"},
                                              {"ipv6Ranges/item", "cidrIpv6"},
                                              {"prefixListIds/item",
                                               "prefixListId"}};
      for (size_t k = 0; k < 3; k++)
        for (xmlNode *x = gd_aws_xml_find(p, ranges[k][0]); x;
             x = gd_aws_xml_next(x))
          if (gd_aws_xml_text(x, ranges[k][1], src, sizeof src) && src[0] &&
              !source_allowed(c, src))
            add_bad(bad, gid, rule, src);
    }
  }
  int n = cJSON_GetArraySize(bad);
  gd_sample_set_value(r->s, n);
  if (n == 0) {
    cJSON_Delete(bad);
    gd_awscheck_finish(r, GD_SAMPLE_OK,
                       "cluster '%s': %s let in security groups%s only",
                       c->cluster, ids, c->nallowed ? " and allowed_cidrs" : "");
    return;
  }
  char finding[1024] = "";
  int shown = 0;
  const cJSON *b;
  cJSON_ArrayForEach(b, bad) {
    size_t len = strlen(finding);
    if (len + strlen(b->valuestring) + 40 > sizeof finding) break;
    snprintf(finding + len, sizeof finding - len, "%s%s", shown ? "; " : "",
             b->valuestring);
    shown++;
  }
  if (shown < n) {
    size_t len = strlen(finding);
    snprintf(finding + len, sizeof finding - len, "; and %d more", n - shown);
  }
  cJSON_Delete(bad);
  gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                     "cluster '%s': %s (only security groups%s may be "
                     "sources)",
                     c->cluster, finding,
                     c->nallowed ? " and allowed_cidrs" : "");
}

static void on_cluster(struct gd_awscheck_run *r, struct gd_aws_result *res,
                       const struct gd_error *e) {
  struct dsg_ctx *c = r->s->probe->ctx;
  xmlNode *cl = gd_rds_check_cluster(r, res, e, c->cluster);
  if (!cl) return;
  cJSON *params = cJSON_CreateObject(), *ids;
  if (!params || !(ids = cJSON_AddArrayToObject(params, "GroupId"))) {
    cJSON_Delete(params);
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return;
  }
  char id[64];
  for (xmlNode *m = gd_aws_xml_find(
           cl, "VpcSecurityGroups/VpcSecurityGroupMembership");
       m; m = gd_aws_xml_next(m))
    if (gd_aws_xml_text(m, "VpcSecurityGroupId", id, sizeof id) && id[0])
      cJSON_AddItemToArray(ids, cJSON_CreateString(id));
  if (cJSON_GetArraySize(ids) == 0) {
    cJSON_Delete(params);
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH,
                       "cluster '%s' has no VPC security group", c->cluster);
    return;
  }
  gd_awscheck_call(r, "ec2", "DescribeSecurityGroups", params, on_groups);
  cJSON_Delete(params);
}

static int dsg_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct dsg_ctx *c = p->ctx;
  struct gd_awscheck_run *r;
  int rc = gd_awscheck_begin(&c->chk, s, &r, err);
  if (rc) return rc;
  gd_awscheck_call_any(r, "rds", "DescribeDBClusters", c->params, on_cluster);
  return 0;
}

static void dsg_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct dsg_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void dsg_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_security_db_sg = {
    .type = "aws.security.db_security_groups",
    .keys = dsg_keys,
    .init = dsg_init,
    .describe = dsg_describe,
    .start = dsg_start,
    .sample = dsg_sample,
    .cancel = gd_awscheck_cancel,
    .stop = dsg_stop,
    .free = dsg_free,
};

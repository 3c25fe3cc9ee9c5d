/* gameday: the aws.security.open_security_groups check: is any security
 * group open to the whole internet (an ingress rule from 0.0.0.0/0 or ::/0)
 * on a port that should not be? Such a rule is allowed only for TCP or UDP
 * with every port of its range in `allowed_ports` (default 443 and 80);
 * "all traffic" (protocol -1), other protocols and ICMP from anywhere are
 * findings. Which groups: `group_ids` (a list), `filters` (EC2 filters,
 * {"vpc-id": ["vpc-..."], "tag:Environment": "staging"}), or every group
 * of the region. EC2 DescribeSecurityGroups, every page. The finding names
 * each open rule (group, protocol and ports, source); the value is their
 * number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct osg_ctx {
  long *ports;
  size_t nports;
  char **group_ids;
  size_t ngroups;
  char *region;
  cJSON *params;
  struct gd_awscheck chk;
};

static const char *const osg_keys[] = {"allowed_ports", "group_ids",
                                       "filters", "region", NULL};

static void ctx_free(struct osg_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  free(c->ports);
  gd_strv_free(c->group_ids);
  free(c->region);
  cJSON_Delete(c->params);
  free(c);
}

static int parse_ports(struct osg_ctx *c, const cJSON *spec, const char *path,
                       struct gd_error *err) {
  char **v = NULL;
  size_t n = 0;
  int rc = gd_awscheck_list_parse(spec, "allowed_ports", path, 0, &v, &n, err);
  if (rc) return rc;
  if (!v) {
    static const long dflt[] = {443, 80};
    if (!(c->ports = malloc(sizeof dflt)))
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    memcpy(c->ports, dflt, sizeof dflt);
    c->nports = 2;
    return 0;
  }
  c->ports = calloc(n ? n : 1, sizeof *c->ports);
  if (!c->ports) {
    gd_strv_free(v);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  for (size_t i = 0; i < n; i++) {
    char *end;
    long port = strtol(v[i], &end, 10);
    if (end == v[i] || *end || port < 0 || port > 65535) {
      rc = gd_error_set(err, GD_EINVAL,
                        "%s.allowed_ports: '%s' is not a port (0-65535)",
                        path, v[i]);
      gd_strv_free(v);
      return rc;
    }
    c->ports[c->nports++] = port;
  }
  gd_strv_free(v);
  return 0;
}

/* `filters`: {"name": "value" | ["values", ...]} to EC2's Filter.N. */
static int parse_filters(struct osg_ctx *c, const cJSON *spec,
                         const char *path, struct gd_error *err) {
  const cJSON *filters = NULL;
  int rc = gd_json_get_object(spec, "filters", path, 0, &filters, err);
  if (rc || !filters) return rc;
  cJSON *list = cJSON_AddArrayToObject(c->params, "Filter");
  if (!list) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  char fp[256];
  gd_json_path(fp, sizeof fp, path, "filters");
  for (const cJSON *f = filters->child; f; f = f->next) {
    char **v = NULL;
    size_t n = 0;
    /* list_parse reads a key of an object: filters itself is that. */
    if ((rc = gd_awscheck_list_parse(filters, f->string, fp, 1, &v, &n, err)))
      return rc;
    cJSON *item = cJSON_CreateObject(), *values;
    if (!item || !cJSON_AddItemToArray(list, item) ||
        !cJSON_AddStringToObject(item, "Name", f->string) ||
        !(values = cJSON_AddArrayToObject(item, "Value"))) {
      gd_strv_free(v);
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < n; i++)
      cJSON_AddItemToArray(values, cJSON_CreateString(v[i]));
    gd_strv_free(v);
  }
  return 0;
}

static int osg_init(struct gd_probe *p, const cJSON *spec, const char *path,
                    struct gd_error *err) {
  struct osg_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  int rc;
  if (!(c->params = cJSON_CreateObject())) {
    ctx_free(c);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  if ((rc = parse_ports(c, spec, path, err)) ||
      (rc = gd_awscheck_list_parse(spec, "group_ids", path, 0, &c->group_ids,
                                   &c->ngroups, err)) ||
      (rc = parse_filters(c, spec, path, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &c->region, err))) {
    ctx_free(c);
    return rc;
  }
  if (c->ngroups) {
    cJSON *ids = cJSON_AddArrayToObject(c->params, "GroupId");
    for (size_t i = 0; ids && i < c->ngroups; i++)
      cJSON_AddItemToArray(ids, cJSON_CreateString(c->group_ids[i]));
  } else {
    /* MaxResults only without ids (EC2 refuses both). */
    cJSON_AddNumberToObject(c->params, "MaxResults", 1000);
  }
  p->ctx = c;
  return 0;
}

static void ports_text(const struct osg_ctx *c, char *buf, size_t n) {
  buf[0] = 0;
  for (size_t i = 0; i < c->nports; i++) {
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "%s%ld", i ? ", " : "", c->ports[i]);
  }
  if (!c->nports) snprintf(buf, n, "none");
}

static void osg_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct osg_ctx *c = p->ctx;
  char ports[256];
  ports_text(c, ports, sizeof ports);
  snprintf(buf, n,
           "no security group%s open to 0.0.0.0/0 or ::/0 except on ports %s",
           c->ngroups ? " listed" : "", ports);
}

static int osg_start(struct gd_probe *p, struct gd_error *err) {
  struct osg_ctx *c = p->ctx;
  return gd_awscheck_start(&c->chk, p, c->region, err);
}

static int port_allowed(const struct osg_ctx *c, long port) {
  for (size_t i = 0; i < c->nports; i++)
    if (c->ports[i] == port) return 1;
  return 0;
}

/* 1 when a rule of proto from..to open to the world is acceptable. */
static int rule_allowed(const struct osg_ctx *c, const char *proto, long from,
                        long to) {
  int tcp_udp = !strcmp(proto, "tcp") || !strcmp(proto, "udp") ||
                !strcmp(proto, "6") || !strcmp(proto, "17");
  if (!tcp_udp || from < 0 || to < from) return 0;
  for (long port = from; port <= to; port++)
    if (!port_allowed(c, port)) return 0;
  return 1;
}

/* "tcp 22", "tcp 1000-2000", "all traffic", "icmp". */
static void rule_text(const char *proto, long from, long to, char *buf,
                      size_t n) {
  if (!strcmp(proto, "-1"))
    snprintf(buf, n, "all traffic");
  else if (from < 0 || (!strcmp(proto, "tcp") && from == 0 && to == 65535))
    snprintf(buf, n, "%s%s", proto, from < 0 ? "" : " all ports");
  else if (!strcmp(proto, "icmp") || !strcmp(proto, "icmpv6") ||
           !strcmp(proto, "1") || !strcmp(proto, "58"))
    snprintf(buf, n, "%s", proto);
  else if (from == to)
    snprintf(buf, n, "%s %ld", proto, from);
  else
    snprintf(buf, n, "%s %ld-%ld", proto, from, to);
}

static long num_at(const xmlNode *node, const char *path, long dflt) {
  char buf[32], *end;
  if (!gd_aws_xml_text(node, path, buf, sizeof buf) || !buf[0]) return dflt;
  long v = strtol(buf, &end, 10);
  return *end ? dflt : v;
}

/* Appends one open rule to state "open" (a list of strings). */
static void add_open(struct gd_awscheck_run *r, const char *gid,
                     const char *gname, const char *rule, const char *src) {
  cJSON *open = cJSON_GetObjectItem(r->state, "open");
  char text[512];
  if (gname[0] && strcmp(gname, gid) != 0)
    snprintf(text, sizeof text, "%s (%s) allows %s from %s", gid, gname, rule,
             src);
  else
    snprintf(text, sizeof text, "%s allows %s from %s", gid, rule, src);
  cJSON_AddItemToArray(open, cJSON_CreateString(text));
}

static void judge(struct gd_awscheck_run *r) {
  struct osg_ctx *c = r->s->probe->ctx;
  const cJSON *open = cJSON_GetObjectItem(r->state, "open"), *o;
  int n = cJSON_GetArraySize(open);
  int groups = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(r->state,
                                                             "groups"));
  char ports[256];
  ports_text(c, ports, sizeof ports);
  gd_sample_set_value(r->s, n);
  if (n == 0) {
    gd_awscheck_finish(r, GD_SAMPLE_OK,
                       "%d security group%s, none open to the internet "
                       "except on %s",
                       groups, groups == 1 ? "" : "s", ports);
    return;
  }
  char finding[1024] = "";
  int shown = 0;
  cJSON_ArrayForEach(o, open) {
    size_t len = strlen(finding);
    /* Room kept for the tail: a finding must say how many it left out. */
    if (len + strlen(o->valuestring) + 40 > sizeof finding) break;
    snprintf(finding + len, sizeof finding - len, "%s%s", shown ? "; " : "",
             o->valuestring);
    shown++;
  }
  if (shown < n) {
    size_t len = strlen(finding);
    snprintf(finding + len, sizeof finding - len, "; and %d more", n - shown);
  }
  gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "%s (allowed from anywhere: %s)",
                     finding, ports);
}

static void on_groups(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct osg_ctx *c = r->s->probe->ctx;
  (void)e;
  if (!cJSON_GetObjectItem(r->state, "open") &&
      (!cJSON_AddArrayToObject(r->state, "open") ||
       !cJSON_AddNumberToObject(r->state, "groups", 0))) {
    gd_awscheck_finish(r, GD_SAMPLE_ERROR, "out of memory");
    return;
  }
  cJSON *groups = cJSON_GetObjectItem(r->state, "groups");
  xmlNode *root = xmlDocGetRootElement(res->xml);
  char gid[64], gname[256], proto[16], cidr[64], rule[64];
  for (xmlNode *g = gd_aws_xml_find(root, "securityGroupInfo/item"); g;
       g = gd_aws_xml_next(g)) {
    cJSON_SetNumberValue(groups, groups->valuedouble + 1);
    gd_aws_xml_text(g, "groupId", gid, sizeof gid);
    gd_aws_xml_text(g, "groupName", gname, sizeof gname);
    for (xmlNode *p = gd_aws_xml_find(g, "ipPermissions/item"); p;
         p = gd_aws_xml_next(p)) {
      gd_aws_xml_text(p, "ipProtocol", proto, sizeof proto);
      long from = num_at(p, "fromPort", -1), to = num_at(p, "toPort", -1);
      if (rule_allowed(c, proto, from, to)) continue;
      rule_text(proto, from, to, rule, sizeof rule);
      for (xmlNode *x = gd_aws_xml_find(p, "ipRanges/item"); x;
           x = gd_aws_xml_next(x))
        if (gd_aws_xml_text(x, "cidrIp", cidr, sizeof cidr) &&
            !strcmp(cidr, "0.0.0.0/0"))
          add_open(r, gid, gname, rule, cidr);
      for (xmlNode *x = gd_aws_xml_find(p, "ipv6Ranges/item"); x;
           x = gd_aws_xml_next(x))
        if (gd_aws_xml_text(x, "cidrIpv6", cidr, sizeof cidr) &&
            !strcmp(cidr, "::/0"))
          add_open(r, gid, gname, rule, cidr);
    }
  }
  char token[1024];
  if (!gd_aws_xml_text(root, "nextToken", token, sizeof token) || !token[0]) {
    judge(r);
    return;
  }
  gd_awscheck_call_page(r, "ec2", "DescribeSecurityGroups", c->params,
                        "NextToken", token, on_groups);
}

static int osg_sample(struct gd_probe *p, struct gd_sample *s,
                      struct gd_error *err) {
  struct osg_ctx *c = p->ctx;
  return gd_awscheck_sample(&c->chk, s, "ec2", "DescribeSecurityGroups",
                            c->params, on_groups, err);
}

static void osg_stop(struct gd_probe *p, void (*done)(struct gd_probe *p)) {
  struct osg_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void osg_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_security_open_sg = {
    .type = "aws.security.open_security_groups",
    .keys = osg_keys,
    .init = osg_init,
    .describe = osg_describe,
    .start = osg_start,
    .sample = osg_sample,
    .cancel = gd_awscheck_cancel,
    .stop = osg_stop,
    .free = osg_free,
};

/* gameday: reading RDS answers for the RDS kinds (awsrds.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gameday/awsrds.h"
#include "gameday/action.h"
#include "gameday/awscheck.h"
#include "gameday/run.h"
#include "gameday/scenario.h"

static void read_tags(const xmlNode *owner, struct gd_rds_tags *t) {
  t->n = 0;
  for (const xmlNode *tag = gd_aws_xml_find(owner, "TagList/Tag");
       tag && t->n < GD_RDS_MAX_TAGS; tag = gd_aws_xml_next(tag)) {
    gd_aws_xml_text(tag, "Key", t->key[t->n], sizeof t->key[0]);
    gd_aws_xml_text(tag, "Value", t->value[t->n], sizeof t->value[0]);
    t->n++;
  }
}

/* The first element called name, depth first: DescribeDBClustersResult/
 * DBClusters/DBCluster, FailoverDBClusterResult/DBCluster, ... */
static const xmlNode *search(const xmlNode *n, const char *name) {
  for (; n; n = n->next) {
    if (n->type != XML_ELEMENT_NODE) continue;
    if (strcmp((const char *)n->name, name) == 0) return n;
    const xmlNode *f = search(n->children, name);
    if (f) return f;
  }
  return NULL;
}

static const xmlNode *first(const struct gd_aws_result *res,
                            const char *name) {
  if (!res || !res->xml) return NULL;
  return search(xmlDocGetRootElement(res->xml), name);
}

int gd_rds_cluster_read(const struct gd_aws_result *res,
                        struct gd_rds_cluster *c) {
  memset(c, 0, sizeof *c);
  const xmlNode *n = first(res, "DBCluster");
  if (!n) return GD_ENOTFOUND;
  char buf[16];
  gd_aws_xml_text(n, "DBClusterIdentifier", c->id, sizeof c->id);
  gd_aws_xml_text(n, "Status", c->status, sizeof c->status);
  gd_aws_xml_text(n, "Engine", c->engine, sizeof c->engine);
  gd_aws_xml_text(n, "Endpoint", c->endpoint, sizeof c->endpoint);
  gd_aws_xml_text(n, "ReaderEndpoint", c->reader_endpoint,
                  sizeof c->reader_endpoint);
  gd_aws_xml_text(n, "LatestRestorableTime", c->latest_restorable,
                  sizeof c->latest_restorable);
  for (const xmlNode *m = gd_aws_xml_find(n, "DBClusterMembers/DBClusterMember");
       m && c->nmembers < GD_RDS_MAX_MEMBERS; m = gd_aws_xml_next(m)) {
    size_t i = c->nmembers++;
    gd_aws_xml_text(m, "DBInstanceIdentifier", c->members[i],
                    sizeof c->members[0]);
    gd_aws_xml_text(m, "IsClusterWriter", buf, sizeof buf);
    c->member_writer[i] = strcasecmp(buf, "true") == 0;
    if (c->member_writer[i] && !c->writer[0])
      snprintf(c->writer, sizeof c->writer, "%s", c->members[i]);
  }
  read_tags(n, &c->tags);
  return 0;
}

int gd_rds_instance_read(const struct gd_aws_result *res,
                         struct gd_rds_instance *i) {
  memset(i, 0, sizeof *i);
  const xmlNode *n = first(res, "DBInstance");
  if (!n) return GD_ENOTFOUND;
  gd_aws_xml_text(n, "DBInstanceIdentifier", i->id, sizeof i->id);
  gd_aws_xml_text(n, "DBInstanceStatus", i->status, sizeof i->status);
  gd_aws_xml_text(n, "DBClusterIdentifier", i->cluster, sizeof i->cluster);
  gd_aws_xml_text(n, "Engine", i->engine, sizeof i->engine);
  gd_aws_xml_text(n, "Endpoint/Address", i->address, sizeof i->address);
  read_tags(n, &i->tags);
  return 0;
}

const char *gd_rds_tag(const struct gd_rds_tags *t, const char *key) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->key[i], key) == 0) return t->value[i];
  return NULL;
}

int gd_rds_check_tags(const struct gd_scenario *sc, const char *target,
                      const struct gd_rds_tags *t, struct gd_error *err) {
  struct gd_tag tags[GD_RDS_MAX_TAGS];
  for (size_t i = 0; i < t->n; i++) {
    tags[i].key = t->key[i];
    tags[i].value = t->value[i];
  }
  return gd_scenario_check_tags(sc, target, tags, t->n, err);
}

int gd_rds_not_found(const struct gd_aws_result *res) {
  return res && (strcmp(res->aws_code, "DBClusterNotFoundFault") == 0 ||
                 strcmp(res->aws_code, "DBInstanceNotFound") == 0 ||
                 strcmp(res->aws_code, "DBInstanceNotFoundFault") == 0);
}

cJSON *gd_rds_id_params(const char *key, const char *id) {
  cJSON *p = cJSON_CreateObject();
  if (p && !cJSON_AddStringToObject(p, key, id)) {
    cJSON_Delete(p);
    return NULL;
  }
  return p;
}

int gd_rds_add_tags(cJSON *params, const struct gd_rds_tags *t) {
  if (t->n == 0) return 0;
  cJSON *arr = cJSON_AddArrayToObject(params, "Tags.Tag");
  if (!arr) return GD_ENOMEM;
  for (size_t i = 0; i < t->n; i++) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o) ||
        !cJSON_AddStringToObject(o, "Key", t->key[i]) ||
        !cJSON_AddStringToObject(o, "Value", t->value[i]))
      return GD_ENOMEM;
  }
  return 0;
}

void gd_rds_format_time(long long ms, char *buf, size_t n) {
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  if (ms % 1000)
    snprintf(buf, n, "%s.%03lldZ", base, ms % 1000);
  else
    snprintf(buf, n, "%sZ", base);
}

long long gd_rds_parse_time(const char *s) {
  int Y, M, D, h, m, sec, len = 0;
  if (!s || sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &Y, &M, &D, &h, &m,
                   &sec, &len) != 6 || len != 19)
    return -1;
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
    return -1;
  const char *p = s + len;
  long long frac = 0;
  if (*p == '.') {
    int digits = 0;
    for (p++; *p >= '0' && *p <= '9'; p++, digits++)
      if (digits < 3) frac = frac * 10 + (*p - '0');
    if (digits == 0) return -1;
    for (; digits < 3; digits++) frac *= 10;
  }
  long long off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om, ol = 0;
    if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &ol) != 2 || ol != 5 || oh > 23 ||
        om > 59)
      return -1;
    off = (oh * 60LL + om) * 60 * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return -1; /* RFC 3339 requires the offset */
  }
  if (*p) return -1;
  struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                  .tm_hour = h, .tm_min = m, .tm_sec = sec};
  time_t t = timegm(&tm);
  return ((long long)t - off) * 1000 + frac;
}

void gd_rds_run_label(const struct gd_action *a, char *buf, size_t n) {
  const struct gd_run *run = a->run;
  char when[40];
  if (run && run->sc) {
    long long ms = (long long)run->started_wall.tv_sec * 1000;
    gd_rds_format_time(ms, when, sizeof when);
    snprintf(buf, n, "%s@%s", run->sc->name, when);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    gd_rds_format_time((long long)ts.tv_sec * 1000, when, sizeof when);
    snprintf(buf, n, "gameday@%s", when);
  }
}

/* ------------------------------------------------------------------ */
/* The actions' job */

void gd_rds_set_detail(struct gd_action *a, cJSON *d,
                       const struct gd_aws_result *res) {
  if (d) {
    if (a->dry_run) cJSON_AddBoolToObject(d, "dry_run", 1);
    if (res && res->aws_code[0])
      cJSON_AddStringToObject(d, "aws_code", res->aws_code);
    if (res && res->request_id[0])
      cJSON_AddStringToObject(d, "request_id", res->request_id);
  }
  cJSON_Delete(a->detail);
  a->detail = d;
}

void gd_rds_fail(struct gd_awsjob *j, gd_rds_detail_fn detail,
                 const struct gd_aws_result *res, const char *fmt, ...) {
  /* Formatted first: the message may quote what detail rebuilds from. */
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  detail(j->a, res);
  gd_awsjob_finish(j, 0, "%s", msg);
}

void gd_rds_call(struct gd_awsjob *j, const char *operation, cJSON *params,
                 gd_awsjob_cb cb) {
  if (!params) {
    gd_awsjob_finish(j, 0, "out of memory");
    return;
  }
  gd_awsjob_call(j, "rds", operation, params, cb);
  cJSON_Delete(params);
}

void gd_rds_call_id(struct gd_awsjob *j, const char *operation,
                    const char *key, const char *id, gd_awsjob_cb cb) {
  gd_rds_call(j, operation, gd_rds_id_params(key, id), cb);
}

int gd_rds_described_cluster(struct gd_awsjob *j, gd_rds_detail_fn detail,
                             const struct gd_aws_result *res,
                             const struct gd_error *e, const char *id,
                             struct gd_rds_cluster *c) {
  if (e) {
    gd_rds_fail(j, detail, res, "%s", e->msg);
    return -1;
  }
  if (gd_rds_cluster_read(res, c)) {
    gd_rds_fail(j, detail, res,
                "rds DescribeDBClusters: no cluster '%s' in the answer", id);
    return -1;
  }
  return 0;
}

int gd_rds_described_instance(struct gd_awsjob *j, gd_rds_detail_fn detail,
                              const struct gd_aws_result *res,
                              const struct gd_error *e, const char *id,
                              struct gd_rds_instance *i) {
  if (e) {
    gd_rds_fail(j, detail, res, "%s", e->msg);
    return -1;
  }
  if (gd_rds_instance_read(res, i)) {
    gd_rds_fail(j, detail, res,
                "rds DescribeDBInstances: no instance '%s' in the answer", id);
    return -1;
  }
  return 0;
}

int gd_rds_job_check_tags(struct gd_awsjob *j, gd_rds_detail_fn detail,
                          const struct gd_aws_result *res, const char *target,
                          const struct gd_rds_tags *t) {
  struct gd_error err = {0};
  int rc = gd_rds_check_tags(j->a->sc, target, t, &err);
  if (rc) gd_rds_fail(j, detail, res, "refused: %s", err.msg);
  return rc;
}

/* ------------------------------------------------------------------ */
/* The checks */

xmlNode *gd_rds_check_cluster(struct gd_awscheck_run *r,
                              const struct gd_aws_result *res,
                              const struct gd_error *e, const char *id) {
  if (e && !(res && strcmp(res->aws_code, "DBClusterNotFoundFault") == 0)) {
    gd_awscheck_fail(r, res, e);
    return NULL;
  }
  xmlNode *cl =
      e ? NULL
        : gd_aws_xml_find(xmlDocGetRootElement(res->xml),
                          "DescribeDBClustersResult/DBClusters/DBCluster");
  if (!cl)
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "cluster '%s' not found", id);
  return cl;
}

/* gameday: the aws.rds.cluster probe: is an Aurora cluster available with
 * a writer? Each sample is one DescribeDBClusters call; healthy when the
 * cluster's Status is "available" (or `expect.status`) and one member has
 * IsClusterWriter true. The detail names both: "available, writer db-1".
 *
 * `expect.writer_changed: true` makes it the probe that sees a failover
 * happen: the writer of the first answer that had one is remembered, and
 * samples are healthy only once the writer is another instance (and the
 * status is as expected). As a recovery probe its recovery_ms is when the
 * cluster reported the new writer; it cannot be in the steady state, since
 * it fails until the fault has happened.
 *
 * One attempt per sample, like every AWS probe (awscheck.h, watching
 * probes): retries would hide the throttling and errors a probe is there
 * to see. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awscheck.h"
#include "gameday/awskind.h"
#include "gameday/awsrds.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct cluster_ctx {
  char *cluster;
  char *region;
  char *status; /* expected */
  int writer_changed;
  cJSON *params;
  char first_writer[GD_RDS_ID_MAX]; /* "" until seen */
  struct gd_awscheck chk;
};

static const char *const cluster_keys[] = {"cluster", "region", "expect",
                                           NULL};
static const char *const expect_keys[] = {"status", "writer_changed", NULL};

static void ctx_free(struct cluster_ctx *c) {
  if (!c) return;
  gd_awscheck_free(&c->chk);
  free(c->cluster);
  free(c->region);
  free(c->status);
  cJSON_Delete(c->params);
  free(c);
}

static int cluster_init(struct gd_probe *p, const cJSON *spec,
                        const char *path, struct gd_error *err) {
  struct cluster_ctx *c = calloc(1, sizeof *c);
  if (!c) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  const char *cluster = NULL, *status = "available";
  const cJSON *expect = NULL;
  char epath[256];
  gd_json_path(epath, sizeof epath, path, "expect");
  int rc;
  if ((rc = gd_json_get_string(spec, "cluster", path, 1, &cluster, err)) ||
      (rc = gd_awskind_region_parse(spec, path, &c->region, err)) ||
      (rc = gd_json_get_object(spec, "expect", path, 0, &expect, err)) ||
      (expect &&
       ((rc = gd_json_check_keys(expect, epath, expect_keys, NULL, err)) ||
        (rc = gd_json_get_string(expect, "status", epath, 0, &status, err)) ||
        (rc = gd_json_get_bool(expect, "writer_changed", epath, 0,
                               &c->writer_changed, err))))) {
    ctx_free(c);
    return rc;
  }
  if (!cluster[0] || !status[0]) {
    ctx_free(c);
    return gd_error_set(err, GD_EINVAL, "%s.%s: must not be empty", path,
                        cluster[0] ? "expect.status" : "cluster");
  }
  c->cluster = strdup(cluster);
  c->status = strdup(status);
  c->params = gd_rds_id_params("DBClusterIdentifier", cluster);
  if (!c->cluster || !c->status || !c->params) {
    ctx_free(c);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  p->ctx = c;
  return 0;
}

static void cluster_describe(const struct gd_probe *p, char *buf, size_t n) {
  const struct cluster_ctx *c = p->ctx;
  snprintf(buf, n, "aurora cluster %s %s with a writer%s", c->cluster,
           c->status, c->writer_changed ? " other than the first seen" : "");
}

static int cluster_start(struct gd_probe *p, struct gd_error *err) {
  struct cluster_ctx *c = p->ctx;
  c->first_writer[0] = 0;
  return gd_awscheck_start_watch(&c->chk, p, c->region, err);
}

static void on_answer(struct gd_awscheck_run *r, struct gd_aws_result *res,
                      const struct gd_error *e) {
  struct cluster_ctx *c = r->s->probe->ctx;
  struct gd_rds_cluster cl;
  (void)e;
  if (gd_rds_cluster_read(res, &cl)) {
    gd_awscheck_finish(r, GD_SAMPLE_PROTOCOL, "no cluster '%s' in the answer",
                       c->cluster);
    return;
  }
  if (cl.writer[0] && !c->first_writer[0])
    snprintf(c->first_writer, sizeof c->first_writer, "%s", cl.writer);
  int status_ok = strcmp(cl.status, c->status) == 0;
  if (!cl.writer[0]) {
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "%s, no writer", cl.status);
  } else if (!status_ok) {
    gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "%s (want %s), writer %s",
                       cl.status, c->status, cl.writer);
  } else if (c->writer_changed) {
    if (strcmp(cl.writer, c->first_writer) == 0)
      gd_awscheck_finish(r, GD_SAMPLE_MISMATCH, "%s, writer still %s",
                         cl.status, cl.writer);
    else
      gd_awscheck_finish(r, GD_SAMPLE_OK, "%s, writer %s (was %s)",
                         cl.status, cl.writer, c->first_writer);
  } else {
    gd_awscheck_finish(r, GD_SAMPLE_OK, "%s, writer %s", cl.status,
                       cl.writer);
  }
}

static int cluster_sample(struct gd_probe *p, struct gd_sample *s,
                          struct gd_error *err) {
  struct cluster_ctx *c = p->ctx;
  return gd_awscheck_sample(&c->chk, s, "rds", "DescribeDBClusters",
                            c->params, on_answer, err);
}

static void cluster_stop(struct gd_probe *p,
                         void (*done)(struct gd_probe *p)) {
  struct cluster_ctx *c = p->ctx;
  gd_awscheck_stop(&c->chk, p, done);
}

static void cluster_free(struct gd_probe *p) {
  ctx_free(p->ctx);
  p->ctx = NULL;
}

const struct gd_probe_ops gd_probe_aws_rds_cluster = {
    .type = "aws.rds.cluster",
    .keys = cluster_keys,
    .init = cluster_init,
    .describe = cluster_describe,
    .start = cluster_start,
    .sample = cluster_sample,
    .cancel = gd_awscheck_cancel,
    .stop = cluster_stop,
    .free = cluster_free,
};

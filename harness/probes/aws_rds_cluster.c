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
 * One attempt per sample, like every AWS probe: retries would hide the
 * throttling and errors a probe is there to see. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/awskind.h"
#include "gameday/awsrds.h"
#include "gameday/json.h"
#include "gameday/probe.h"

struct cluster_slot {
  struct gd_sample *s;
  struct gd_aws_call *call; /* while a call is out */
  struct cluster_slot *next;
};

struct cluster_ctx {
  char *cluster;
  char *region;
  char *status; /* expected */
  int writer_changed;
  cJSON *params;
  struct gd_aws *aws;
  char first_writer[GD_RDS_ID_MAX]; /* "" until seen */
  struct cluster_slot *slots;
  void (*stop_done)(struct gd_probe *p);
  struct gd_probe *p;
};

static const char *const cluster_keys[] = {"cluster", "region", "expect",
                                           NULL};
static const char *const expect_keys[] = {"status", "writer_changed", NULL};

static void ctx_free(struct cluster_ctx *c) {
  if (!c) return;
  struct cluster_slot *sl;
  while ((sl = c->slots)) {
    c->slots = sl->next;
    free(sl);
  }
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
  unsigned ms = (unsigned)(p->timeout_ns / 1000000);
  /* The generic timeout cancels first; the client's own is a safety net a
   * little behind it. */
  struct gd_aws_options o = {.max_attempts = 1,
                             .attempt_timeout_ms = ms + 1000,
                             .total_timeout_ms = ms + 1000};
  c->p = p;
  c->first_writer[0] = 0;
  return gd_awskind_client_region(p->loop, p->curl, c->region, &o, p->path,
                                  &c->aws, err);
}

static void on_answer(struct gd_aws_result *res, const struct gd_error *e,
                      void *arg) {
  struct cluster_slot *sl = arg;
  struct gd_sample *s = sl->s;
  struct cluster_ctx *c = s->probe->ctx;
  struct gd_rds_cluster cl;
  sl->call = NULL;
  if (e) {
    if (e->code == GD_ECANCELED)
      gd_sample_done(s, GD_SAMPLE_TIMEOUT, "cancelled");
    else
      gd_sample_done(s, gd_awskind_sample_class(res, e), "%s", e->msg);
    return;
  }
  if (gd_rds_cluster_read(res, &cl)) {
    gd_sample_done(s, GD_SAMPLE_PROTOCOL, "no cluster '%s' in the answer",
                   c->cluster);
    return;
  }
  if (cl.writer[0] && !c->first_writer[0])
    snprintf(c->first_writer, sizeof c->first_writer, "%s", cl.writer);
  int status_ok = strcmp(cl.status, c->status) == 0;
  if (!cl.writer[0]) {
    gd_sample_done(s, GD_SAMPLE_MISMATCH, "%s, no writer", cl.status);
  } else if (!status_ok) {
    gd_sample_done(s, GD_SAMPLE_MISMATCH, "%s (want %s), writer %s",
                   cl.status, c->status, cl.writer);
  } else if (c->writer_changed) {
    if (strcmp(cl.writer, c->first_writer) == 0)
      gd_sample_done(s, GD_SAMPLE_MISMATCH, "%s, writer still %s", cl.status,
                     cl.writer);
    else
      gd_sample_done(s, GD_SAMPLE_OK, "%s, writer %s (was %s)", cl.status,
                     cl.writer, c->first_writer);
  } else {
    gd_sample_done(s, GD_SAMPLE_OK, "%s, writer %s", cl.status, cl.writer);
  }
}

static int cluster_sample(struct gd_probe *p, struct gd_sample *s,
                          struct gd_error *err) {
  struct cluster_ctx *c = p->ctx;
  struct cluster_slot *sl = s->data;
  if (!sl) {
    if (!(sl = calloc(1, sizeof *sl)))
      return gd_error_set(err, GD_ENOMEM, "out of memory");
    sl->next = c->slots;
    c->slots = sl;
    s->data = sl;
  }
  sl->s = s;
  return gd_aws_call(c->aws, "rds", "DescribeDBClusters", c->params,
                     on_answer, sl, &sl->call, err);
}

static void cluster_cancel(struct gd_probe *p, struct gd_sample *s) {
  struct cluster_slot *sl = s->data;
  (void)p;
  if (sl && sl->call) gd_aws_cancel(sl->call); /* on_answer, right here */
}

static void aws_closed(void *arg) {
  struct cluster_ctx *c = arg;
  c->aws = NULL;
  c->stop_done(c->p);
}

static void cluster_stop(struct gd_probe *p,
                         void (*done)(struct gd_probe *p)) {
  struct cluster_ctx *c = p->ctx;
  if (!c->aws) {
    done(p);
    return;
  }
  c->stop_done = done;
  gd_aws_close(c->aws, aws_closed, c);
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
    .cancel = cluster_cancel,
    .stop = cluster_stop,
    .free = cluster_free,
};

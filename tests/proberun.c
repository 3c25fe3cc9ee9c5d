/* The probe runner of proberun.h. */
#include "proberun.h"

#include "gameday/curl.h"

struct runner {
  struct gd_probe p;
  struct gd_curl *c;
  uv_timer_t guard, stopper;
  struct gd_proberun *o;
  int want;
  int stop_requested, curl_closed;
};

static void curl_closed(void *arg) { ((struct runner *)arg)->curl_closed = 1; }

static void probe_stopped(struct gd_probe *p, void *arg) {
  struct runner *r = arg;
  (void)p;
  uv_close((uv_handle_t *)&r->guard, NULL);
  uv_close((uv_handle_t *)&r->stopper, NULL);
  gd_curl_close(r->c, curl_closed, r);
}

static void stop_now(uv_timer_t *t) {
  struct runner *r = t->data;
  uv_timer_stop(&r->guard);
  uv_timer_stop(&r->stopper);
  gd_probe_stop(&r->p, probe_stopped, r);
}

/* Stops from the loop, not from inside the probe's own commit. */
static void request_stop(struct runner *r) {
  if (r->stop_requested) return;
  r->stop_requested = 1;
  uv_timer_start(&r->stopper, stop_now, 0, 0);
}

static void on_guard(uv_timer_t *t) { request_stop(t->data); }

static void on_result(struct gd_probe *p, const struct gd_sample_result *res,
                      void *arg) {
  struct runner *r = arg;
  struct gd_proberun *o = r->o;
  (void)p;
  if (o->n < GD_PROBERUN_MAX) {
    o->cls[o->n] = res->cls;
    snprintf(o->detail[o->n], sizeof o->detail[0], "%s", res->detail);
    o->lat_ns[o->n] = res->end_ns - res->start_ns;
    o->n++;
  }
  if (r->want && o->n >= r->want) request_stop(r);
}

void gd_proberun_spec(const cJSON *spec, int want, int max_ms,
                      struct gd_proberun *o, char *describe, size_t dn) {
  memset(o, 0, sizeof *o);
  struct runner r = {.o = o, .want = want};
  struct gd_error err = {0};
  int rc = gd_probe_init(&r.p, "t", spec, "probes.t", &err);
  if (rc) printf("\n    init: %s ", err.msg);
  CU_ASSERT_FATAL(rc == 0);
  if (describe) r.p.ops->describe(&r.p, describe, dn);
  uv_loop_t loop;
  uv_loop_init(&loop);
  CU_ASSERT_FATAL(gd_curl_new(&loop, &r.c, &err) == 0);
  uv_timer_init(&loop, &r.guard);
  uv_timer_init(&loop, &r.stopper);
  r.guard.data = r.stopper.data = &r;
  uv_timer_start(&r.guard, on_guard, (uint64_t)max_ms, 0);
  r.p.on_result = on_result;
  r.p.on_result_arg = &r;
  CU_ASSERT_FATAL(gd_probe_start(&r.p, &loop, r.c, &err) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(r.curl_closed, 1);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  o->samples = r.p.samples;
  o->ok = r.p.ok;
  o->failed = r.p.failed;
  o->skipped = r.p.skipped;
  gd_probe_free(&r.p);
}

void gd_proberun(const char *json, int want, int max_ms, struct gd_proberun *o,
                 char *describe, size_t dn) {
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_FATAL(spec != NULL);
  gd_proberun_spec(spec, want, max_ms, o, describe, dn);
  cJSON_Delete(spec);
}

const char *gd_proberun_init_error(const char *json) {
  static struct gd_error err;
  memset(&err, 0, sizeof err);
  cJSON *spec = cJSON_Parse(json);
  CU_ASSERT_FATAL(spec != NULL);
  struct gd_probe p;
  int rc = gd_probe_init(&p, "t", spec, "probes.t", &err);
  CU_ASSERT(rc != 0);
  if (rc == 0) gd_probe_free(&p);
  cJSON_Delete(spec);
  return err.msg;
}

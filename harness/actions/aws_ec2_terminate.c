/* gameday: the aws.ec2.terminate_instances action: terminate some EC2
 * instances, the way AWS FIS's aws:ec2:terminate-instances does, with the
 * scenario's safety rules in front of it.
 *
 * Targets come from one of:
 *   instance_ids         the ids, as listed (default selection: all of them)
 *   auto_scaling_group   the group's InService instances
 *   tags                 {"Role": "web"}: running instances carrying every
 *                        one of these tags (DescribeInstances filters)
 * and `select` picks among them (select.h: count, percent rounded up, all;
 * at random or the first by instance id; default one at random, all of the
 * listed ids).
 *
 * Order of a run: resolve (DescribeAutoScalingGroups, DescribeInstances,
 * following nextToken), check the tags of EVERY resolved candidate against
 * the scenario's required tags, not only of the chosen ones (a random pick
 * must not decide whether the action is refused; a group that mixes
 * environments is refused outright), apply the target cap, and only then
 * TerminateInstances. A refusal touches nothing and names the instance and
 * the tag. In a dry run (plan, run --dry-run) everything but the
 * TerminateInstances call happens and the message says "would terminate".
 *
 * The action ends when EC2 has accepted the termination (shutting-down):
 * how long the group takes to replace the instance is what the probes
 * (aws.autoscaling.in_service, aws.elbv2.healthy_targets) measure. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/awskind.h"
#include "gameday/json.h"
#include "gameday/scenario.h"
#include "gameday/select.h"

/* DescribeInstances by id takes at most this many ids per call; an Auto
 * Scaling group larger than that is looked up in several calls. */
#define IDS_PER_CALL 200
/* No fleet this harness should touch is larger; a bound on memory. */
#define MAX_INSTANCES 5000

enum source { SRC_IDS, SRC_ASG, SRC_TAGS };

struct inst {
  char *id;
  char *az;
  char *asg;   /* aws:autoscaling:groupName, or the group asked for */
  char *state; /* "running", "pending", ... */
  struct gd_tag *tags;
  size_t ntags;
};

enum step { STEP_ASG, STEP_DESCRIBE, STEP_TERMINATE };

struct term_action {
  enum source src;
  char **ids;          /* SRC_IDS: as given; SRC_ASG: the InService ones */
  size_t nids;
  char *asg;           /* SRC_ASG */
  struct gd_tag *want; /* SRC_TAGS, strings owned here */
  size_t nwant;
  struct gd_select sel;
  char *region;

  /* run time */
  struct gd_action *a;
  struct gd_aws *aws;
  struct gd_aws_call *call;
  enum step step;
  size_t next_id;      /* SRC_ASG/IDS: the next id to describe */
  char *token;         /* DescribeInstances nextToken */
  struct inst *inst;
  size_t ninst, cap;
  int ok;
  char msg[GD_ERROR_MAX];
};

static const char *const term_keys[] = {"instance_ids", "auto_scaling_group",
                                        "tags", "select", "region", NULL};

/* ------------------------------------------------------------------ */
/* Load */

static void inst_clear(struct inst *in) {
  free(in->id);
  free(in->az);
  free(in->asg);
  free(in->state);
  for (size_t i = 0; i < in->ntags; i++) {
    free((char *)in->tags[i].key);
    free((char *)in->tags[i].value);
  }
  free(in->tags);
  memset(in, 0, sizeof *in);
}

static void run_reset(struct term_action *x) {
  for (size_t i = 0; i < x->ninst; i++) inst_clear(&x->inst[i]);
  free(x->inst);
  x->inst = NULL;
  x->ninst = x->cap = 0;
  free(x->token);
  x->token = NULL;
  x->next_id = 0;
  if (x->src == SRC_ASG) {
    gd_strv_free(x->ids);
    x->ids = NULL;
    x->nids = 0;
  }
}

static void term_free(struct gd_action *a) {
  struct term_action *x = a->ctx;
  if (!x) return;
  run_reset(x);
  gd_strv_free(x->ids);
  free(x->asg);
  for (size_t i = 0; i < x->nwant; i++) {
    free((char *)x->want[i].key);
    free((char *)x->want[i].value);
  }
  free(x->want);
  free(x->region);
  free(x);
  a->ctx = NULL;
}

static int parse_tags(struct term_action *x, const cJSON *tags,
                      const char *path, struct gd_error *err) {
  char sub[256];
  gd_json_path(sub, sizeof sub, path, "tags");
  int n = cJSON_GetArraySize(tags);
  if (n == 0)
    return gd_error_set(err, GD_EINVAL,
                        "%s: must name at least one tag, like {\"Role\": "
                        "\"web\"}",
                        sub);
  if (!(x->want = calloc((size_t)n, sizeof *x->want)))
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", sub);
  const cJSON *t;
  cJSON_ArrayForEach(t, tags) {
    if (!cJSON_IsString(t))
      return gd_error_set(err, GD_EINVAL, "%s.%s: must be a string", sub,
                          t->string);
    if (!t->string[0])
      return gd_error_set(err, GD_EINVAL, "%s: empty tag key", sub);
    struct gd_tag *w = &x->want[x->nwant++];
    if (!(w->key = strdup(t->string)) || !(w->value = strdup(t->valuestring)))
      return gd_error_set(err, GD_ENOMEM, "%s: out of memory", sub);
  }
  return 0;
}

static int term_init(struct gd_action *a, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  struct term_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  a->ctx = x;
  const char *asg = NULL;
  const cJSON *tags = NULL;
  int has_ids = cJSON_GetObjectItemCaseSensitive(spec, "instance_ids") != NULL;
  int r = gd_json_get_string(spec, "auto_scaling_group", path, 0, &asg, err);
  if (!r) r = gd_json_get_object(spec, "tags", path, 0, &tags, err);
  if (!r && has_ids + (asg != NULL) + (tags != NULL) != 1)
    r = gd_error_set(err, GD_EINVAL,
                     "%s: give exactly one of instance_ids, "
                     "auto_scaling_group or tags",
                     path);
  if (!r && has_ids) {
    x->src = SRC_IDS;
    r = gd_json_get_strv(spec, "instance_ids", path, 1, &x->ids, &x->nids,
                         err);
    for (size_t i = 0; !r && i < x->nids; i++)
      if (strncmp(x->ids[i], "i-", 2) != 0 || !x->ids[i][2])
        r = gd_error_set(err, GD_EINVAL,
                         "%s.instance_ids[%zu]: not an instance id '%s' "
                         "(expected i-0123456789abcdef0)",
                         path, i, x->ids[i]);
    if (!r && x->nids > MAX_INSTANCES)
      r = gd_error_set(err, GD_EINVAL, "%s.instance_ids: more than %d ids",
                       path, MAX_INSTANCES);
  } else if (!r && asg) {
    x->src = SRC_ASG;
    if (!asg[0])
      r = gd_error_set(err, GD_EINVAL,
                       "%s.auto_scaling_group: must not be empty", path);
    else if (!(x->asg = strdup(asg)))
      r = gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  } else if (!r) {
    x->src = SRC_TAGS;
    r = parse_tags(x, tags, path, err);
  }
  /* Listed ids: all of them unless told otherwise; found ones: one. A
   * percentage rounds up, as in FIS, and may be as small as FIS allows. */
  if (!r) {
    struct gd_select_rules rules = {
        .def_mode = x->src == SRC_IDS ? GD_SELECT_ALL : GD_SELECT_RANDOM,
        .min_percent = 0.001,
        .round = GD_SELECT_ROUND_UP,
    };
    r = gd_select_parse(&x->sel, spec, path, &rules, err);
  }
  if (!r) r = gd_awskind_region_parse(spec, path, &x->region, err);
  if (r) term_free(a);
  return r;
}

/* Appends to buf at *pos, truncating; buf stays terminated. */
static void bprintf(char *buf, size_t n, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void bprintf(char *buf, size_t n, size_t *pos, const char *fmt, ...) {
  if (*pos + 1 >= n) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(buf + *pos, n - *pos, fmt, ap);
  va_end(ap);
  if (k < 0) return;
  *pos += (size_t)k < n - *pos ? (size_t)k : n - *pos - 1;
}

static void source_text(const struct term_action *x, char *buf, size_t n) {
  size_t pos = 0;
  buf[0] = 0;
  switch (x->src) {
  case SRC_IDS:
    for (size_t i = 0; i < x->nids; i++) {
      if (i == 4) {
        bprintf(buf, n, &pos, ", ... (%zu ids)", x->nids);
        break;
      }
      bprintf(buf, n, &pos, "%s%s", i ? ", " : "", x->ids[i]);
    }
    break;
  case SRC_ASG:
    bprintf(buf, n, &pos, "auto scaling group '%s' (InService)", x->asg);
    break;
  case SRC_TAGS:
    bprintf(buf, n, &pos, "running instances tagged ");
    for (size_t i = 0; i < x->nwant; i++)
      bprintf(buf, n, &pos, "%s%s=%s", i ? ", " : "", x->want[i].key,
              x->want[i].value);
    break;
  }
  if (x->region) bprintf(buf, n, &pos, " in %s", x->region);
}

static void term_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct term_action *x = a->ctx;
  char sel[64], src[512];
  gd_select_describe(&x->sel, sel, sizeof sel);
  source_text(x, src, sizeof src);
  snprintf(buf, n, "terminate %s of %s", sel, src);
}

/* ------------------------------------------------------------------ */
/* Run: finishing */

static void aws_closed(void *arg) {
  struct term_action *x = arg;
  x->aws = NULL;
  run_reset(x);
  gd_action_done(x->a, x->ok, "%s", x->msg);
}

/* Ends the run: the message is x->msg; done once the client is closed, so
 * no handle is left behind. */
static void finish(struct term_action *x, int ok) {
  x->ok = ok;
  x->call = NULL;
  gd_aws_close(x->aws, aws_closed, x);
}

static void fail(struct term_action *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct term_action *x, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->msg, sizeof x->msg, fmt, ap);
  va_end(ap);
  finish(x, 0);
}

/* detail: what was found and chosen, for the journal. */
static cJSON *detail_new(struct term_action *x, const size_t *chosen,
                         size_t k) {
  cJSON *d = cJSON_CreateObject();
  if (!d) return NULL;
  char src[512];
  source_text(x, src, sizeof src);
  cJSON_AddStringToObject(d, "source", src);
  cJSON_AddNumberToObject(d, "candidates", (double)x->ninst);
  cJSON *arr = cJSON_AddArrayToObject(d, "instances");
  for (size_t i = 0; arr && i < k; i++) {
    const struct inst *in = &x->inst[chosen[i]];
    cJSON *o = cJSON_CreateObject();
    if (!o) break;
    cJSON_AddStringToObject(o, "id", in->id);
    cJSON_AddStringToObject(o, "availability_zone", in->az ? in->az : "");
    if (in->asg) cJSON_AddStringToObject(o, "auto_scaling_group", in->asg);
    cJSON_AddStringToObject(o, "state", in->state ? in->state : "");
    cJSON_AddItemToArray(arr, o);
  }
  return d;
}

static void set_detail(struct gd_action *a, cJSON *d) {
  cJSON_Delete(a->detail);
  a->detail = d;
}

/* "i-0abc (web-asg, eu-west-1a), i-0def (eu-west-1b)" */
static void targets_text(const struct term_action *x, const size_t *chosen,
                         size_t k, char *buf, size_t n) {
  size_t pos = 0;
  buf[0] = 0;
  for (size_t i = 0; i < k; i++) {
    const struct inst *in = &x->inst[chosen[i]];
    if (i == 8) {
      bprintf(buf, n, &pos, ", ... (%zu in all)", k);
      break;
    }
    bprintf(buf, n, &pos, "%s%s (", i ? ", " : "", in->id);
    if (in->asg) bprintf(buf, n, &pos, "%s, ", in->asg);
    bprintf(buf, n, &pos, "%s)", in->az && in->az[0] ? in->az : "?");
  }
}

/* ------------------------------------------------------------------ */
/* Run: the calls */

static void on_answer(struct gd_aws_result *res, const struct gd_error *e,
                      void *arg);

static int call(struct term_action *x, const char *service, const char *op,
                cJSON *params) {
  struct gd_error e = {0};
  int rc = params ? gd_aws_call(x->aws, service, op, params, on_answer, x,
                                &x->call, &e)
                  : gd_error_set(&e, GD_ENOMEM, "out of memory");
  cJSON_Delete(params);
  if (rc) fail(x, "%s", e.msg);
  return rc;
}

static cJSON *id_list(char **ids, size_t n) {
  cJSON *p = cJSON_CreateObject();
  cJSON *arr = p ? cJSON_AddArrayToObject(p, "InstanceId") : NULL;
  if (!arr) {
    cJSON_Delete(p);
    return NULL;
  }
  for (size_t i = 0; i < n; i++)
    if (!cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i]))) {
      cJSON_Delete(p);
      return NULL;
    }
  return p;
}

static int add_filter(cJSON *filters, const char *name, const char *value) {
  cJSON *f = cJSON_CreateObject(), *v;
  if (!f || !cJSON_AddItemToArray(filters, f) ||
      !cJSON_AddStringToObject(f, "Name", name) ||
      !(v = cJSON_AddArrayToObject(f, "Value")) ||
      !cJSON_AddItemToArray(v, cJSON_CreateString(value)))
    return -1;
  return 0;
}

/* The next DescribeInstances: the next batch of ids, or the next page of
 * the tag filter. */
static int describe_next(struct term_action *x) {
  cJSON *p;
  x->step = STEP_DESCRIBE;
  if (x->src == SRC_TAGS) {
    p = cJSON_CreateObject();
    cJSON *filters = p ? cJSON_AddArrayToObject(p, "Filter") : NULL;
    int bad = !filters;
    char name[300];
    for (size_t i = 0; !bad && i < x->nwant; i++) {
      snprintf(name, sizeof name, "tag:%s", x->want[i].key);
      bad = add_filter(filters, name, x->want[i].value) != 0;
    }
    if (!bad) bad = add_filter(filters, "instance-state-name", "running");
    if (!bad && x->token)
      bad = !cJSON_AddStringToObject(p, "NextToken", x->token);
    if (bad) {
      cJSON_Delete(p);
      p = NULL;
    }
  } else {
    size_t n = x->nids - x->next_id;
    if (n > IDS_PER_CALL) n = IDS_PER_CALL;
    p = id_list(x->ids + x->next_id, n);
    x->next_id += n;
  }
  return call(x, "ec2", "DescribeInstances", p);
}

static char *xdup(const xmlNode *n, const char *path) {
  char buf[1024];
  if (!gd_aws_xml_text(n, path, buf, sizeof buf)) return NULL;
  return strdup(buf);
}

static int add_instance(struct term_action *x, const xmlNode *item) {
  if (x->ninst == MAX_INSTANCES) return -1;
  if (x->ninst == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 16;
    struct inst *ni = realloc(x->inst, cap * sizeof *ni);
    if (!ni) return -1;
    x->inst = ni;
    x->cap = cap;
  }
  struct inst *in = &x->inst[x->ninst];
  memset(in, 0, sizeof *in);
  in->id = xdup(item, "instanceId");
  in->az = xdup(item, "placement/availabilityZone");
  in->state = xdup(item, "instanceState/name");
  if (!in->id || !in->id[0]) {
    inst_clear(in);
    return 0; /* nothing to act on: skipped */
  }
  size_t nt = 0;
  for (xmlNode *t = gd_aws_xml_find(item, "tagSet/item"); t;
       t = gd_aws_xml_next(t))
    nt++;
  if (nt && !(in->tags = calloc(nt, sizeof *in->tags))) {
    inst_clear(in);
    return -1;
  }
  for (xmlNode *t = gd_aws_xml_find(item, "tagSet/item"); t;
       t = gd_aws_xml_next(t)) {
    char *k = xdup(t, "key"), *v = xdup(t, "value");
    if (!k) k = strdup("");
    if (!v) v = strdup("");
    if (!k || !v) {
      free(k);
      free(v);
      inst_clear(in);
      return -1;
    }
    in->tags[in->ntags].key = k;
    in->tags[in->ntags].value = v;
    in->ntags++;
    if (!in->asg && strcmp(k, "aws:autoscaling:groupName") == 0)
      in->asg = strdup(v);
  }
  if (x->src == SRC_ASG) {
    free(in->asg);
    in->asg = strdup(x->asg);
  }
  x->ninst++;
  return 0;
}

static int cmp_inst(const void *a, const void *b) {
  return strcmp(((const struct inst *)a)->id, ((const struct inst *)b)->id);
}

/* A candidate is an instance that can still be terminated: from a group or
 * a tag filter a running one; from a list anything not already going. */
static int candidate(const struct term_action *x, const struct inst *in) {
  const char *s = in->state ? in->state : "";
  if (x->src == SRC_IDS)
    return strcmp(s, "shutting-down") != 0 && strcmp(s, "terminated") != 0;
  return strcmp(s, "running") == 0;
}

static void no_target(struct term_action *x) {
  char src[512];
  source_text(x, src, sizeof src);
  set_detail(x->a, detail_new(x, NULL, 0));
  fail(x, "no instance to terminate: none %s in %s",
       x->src == SRC_IDS ? "still running" : "running", src);
}

/* Everything is known: filter, check, choose, then terminate (or say what
 * would be terminated). */
static void decide(struct term_action *x) {
  struct gd_action *a = x->a;
  size_t o = 0;
  for (size_t i = 0; i < x->ninst; i++) {
    if (candidate(x, &x->inst[i]))
      x->inst[o++] = x->inst[i];
    else
      inst_clear(&x->inst[i]);
  }
  x->ninst = o;
  if (!x->ninst) {
    no_target(x);
    return;
  }
  /* By id: "first" is then the same instance on every run. */
  qsort(x->inst, x->ninst, sizeof *x->inst, cmp_inst);

  struct gd_error e = {0};
  for (size_t i = 0; i < x->ninst; i++) {
    const struct inst *in = &x->inst[i];
    if (gd_scenario_check_tags(a->sc, in->id, in->tags, in->ntags, &e)) {
      set_detail(a, detail_new(x, NULL, 0));
      cJSON_AddStringToObject(a->detail, "refused", e.msg);
      fail(x, "%s; nothing terminated", e.msg);
      return;
    }
  }
  size_t *chosen = calloc(x->ninst, sizeof *chosen), k = 0, cut = 0;
  if (!chosen) {
    fail(x, "out of memory");
    return;
  }
  size_t cap = gd_scenario_max_targets(a->sc);
  if (gd_select_pick(&x->sel, x->ninst, cap, x->src == SRC_IDS, a->path,
                     chosen, &k, &cut, &e)) {
    set_detail(a, detail_new(x, NULL, 0));
    cJSON_AddStringToObject(a->detail, "refused", e.msg);
    fail(x, "%s; nothing terminated", e.msg);
    free(chosen);
    return;
  }
  cJSON *d = detail_new(x, chosen, k);
  if (d && cut) cJSON_AddNumberToObject(d, "cut_from", (double)cut);
  if (d) cJSON_AddBoolToObject(d, "dry_run", a->dry_run != 0);
  set_detail(a, d);

  char tg[1024], note[128] = "";
  targets_text(x, chosen, k, tg, sizeof tg);
  if (cut)
    snprintf(note, sizeof note, " (%zu of %zu chosen, cut to %zu by "
             "safety.max_targets)", cut, x->ninst, k);
  if (a->dry_run) {
    snprintf(x->msg, sizeof x->msg, "would terminate %s%s", tg, note);
    free(chosen);
    finish(x, 1);
    return;
  }
  cJSON *p = cJSON_CreateObject();
  cJSON *arr = p ? cJSON_AddArrayToObject(p, "InstanceId") : NULL;
  for (size_t i = 0; arr && i < k; i++)
    if (!cJSON_AddItemToArray(arr, cJSON_CreateString(x->inst[chosen[i]].id)))
      arr = NULL;
  if (!arr) {
    cJSON_Delete(p);
    p = NULL;
  }
  free(chosen);
  /* The message if it works, the answer confirming it. */
  snprintf(x->msg, sizeof x->msg, "terminated %s%s", tg, note);
  x->step = STEP_TERMINATE;
  call(x, "ec2", "TerminateInstances", p);
}

static void on_asg(struct term_action *x, xmlNode *root) {
  xmlNode *g = gd_aws_xml_find(
      root, "DescribeAutoScalingGroupsResult/AutoScalingGroups/member");
  if (!g) {
    fail(x, "auto scaling group '%s' not found%s%s", x->asg,
         x->region ? " in " : "", x->region ? x->region : "");
    return;
  }
  size_t n = 0;
  for (xmlNode *m = gd_aws_xml_find(g, "Instances/member"); m;
       m = gd_aws_xml_next(m))
    n++;
  gd_strv_free(x->ids);
  x->nids = 0;
  if (!(x->ids = calloc(n + 1, sizeof *x->ids))) {
    fail(x, "out of memory");
    return;
  }
  char buf[64];
  for (xmlNode *m = gd_aws_xml_find(g, "Instances/member"); m;
       m = gd_aws_xml_next(m)) {
    /* InService only: one still launching or already leaving is not
     * capacity the fault could take away. */
    if (strcmp(gd_aws_xml_text(m, "LifecycleState", buf, sizeof buf),
               "InService") != 0)
      continue;
    if (!gd_aws_xml_text(m, "InstanceId", buf, sizeof buf) || !buf[0])
      continue;
    if (!(x->ids[x->nids] = strdup(buf))) {
      fail(x, "out of memory");
      return;
    }
    x->nids++;
  }
  if (!x->nids) {
    no_target(x);
    return;
  }
  describe_next(x);
}

static void on_describe(struct term_action *x, xmlNode *root) {
  for (xmlNode *r = gd_aws_xml_find(root, "reservationSet/item"); r;
       r = gd_aws_xml_next(r))
    for (xmlNode *i = gd_aws_xml_find(r, "instancesSet/item"); i;
         i = gd_aws_xml_next(i))
      if (add_instance(x, i)) {
        fail(x, x->ninst == MAX_INSTANCES
                    ? "more than 5000 instances: narrow the selection"
                    : "out of memory");
        return;
      }
  char tok[4096];
  free(x->token);
  x->token = NULL;
  if (x->src == SRC_TAGS &&
      gd_aws_xml_text(root, "nextToken", tok, sizeof tok) && tok[0]) {
    if (!(x->token = strdup(tok))) {
      fail(x, "out of memory");
      return;
    }
    describe_next(x);
    return;
  }
  if (x->src != SRC_TAGS && x->next_id < x->nids) {
    describe_next(x);
    return;
  }
  decide(x);
}

static void on_terminate(struct term_action *x, struct gd_aws_result *res,
                         xmlNode *root) {
  struct gd_action *a = x->a;
  cJSON *arr = cJSON_GetObjectItem(a->detail, "instances");
  if (res->request_id[0])
    cJSON_AddStringToObject(a->detail, "request_id", res->request_id);
  /* What EC2 says happened to each: shutting-down, or already gone. */
  char id[64], prev[32], cur[32];
  for (xmlNode *i = gd_aws_xml_find(root, "instancesSet/item"); i;
       i = gd_aws_xml_next(i)) {
    gd_aws_xml_text(i, "instanceId", id, sizeof id);
    gd_aws_xml_text(i, "previousState/name", prev, sizeof prev);
    gd_aws_xml_text(i, "currentState/name", cur, sizeof cur);
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
      if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")), id))
        continue;
      cJSON_AddStringToObject((cJSON *)o, "previous_state", prev);
      cJSON_AddStringToObject((cJSON *)o, "current_state", cur);
    }
  }
  finish(x, 1);
}

static void on_answer(struct gd_aws_result *res, const struct gd_error *e,
                      void *arg) {
  struct term_action *x = arg;
  struct gd_action *a = x->a;
  x->call = NULL;
  if (e) {
    if (!a->detail) set_detail(a, detail_new(x, NULL, 0));
    if (a->detail && res->aws_code[0])
      cJSON_AddStringToObject(a->detail, "aws_code", res->aws_code);
    if (a->detail && res->request_id[0])
      cJSON_AddStringToObject(a->detail, "request_id", res->request_id);
    if (e->code == GD_ECANCELED)
      fail(x, "cancelled%s", x->step == STEP_TERMINATE
                                 ? " with TerminateInstances sent: the "
                                   "instances may be terminating"
                                 : " before anything was terminated");
    else if (x->step == STEP_TERMINATE)
      fail(x, "%s", e->msg);
    else
      fail(x, "%s; nothing terminated", e->msg);
    return;
  }
  xmlNode *root = xmlDocGetRootElement(res->xml);
  if (!root) {
    fail(x, "ec2: an answer without a document");
    return;
  }
  switch (x->step) {
  case STEP_ASG: on_asg(x, root); break;
  case STEP_DESCRIBE: on_describe(x, root); break;
  case STEP_TERMINATE: on_terminate(x, res, root); break;
  }
}

static int term_run(struct gd_action *a, struct gd_error *err) {
  struct term_action *x = a->ctx;
  if (x->aws)
    return gd_error_set(err, GD_ESTATE, "%s: already running", a->path);
  run_reset(x);
  x->a = a;
  x->msg[0] = 0;
  int rc = gd_awskind_client_region(a->loop, a->curl, x->region, NULL,
                                    a->path, &x->aws, err);
  if (rc) return rc;
  /* From here on every failure, the first call's included, ends through
   * finish(): the client is open and closes asynchronously, and done
   * follows from its close callback. */
  if (x->src == SRC_ASG) {
    x->step = STEP_ASG;
    cJSON *p = cJSON_CreateObject(), *names;
    if (p && (!(names = cJSON_AddArrayToObject(
                    p, "AutoScalingGroupNames.member")) ||
              !cJSON_AddItemToArray(names, cJSON_CreateString(x->asg)))) {
      cJSON_Delete(p);
      p = NULL;
    }
    call(x, "autoscaling", "DescribeAutoScalingGroups", p);
  } else {
    describe_next(x);
  }
  return 0;
}

static void term_cancel(struct gd_action *a) {
  struct term_action *x = a->ctx;
  if (x->call) gd_aws_cancel(x->call); /* on_answer, right here */
}

const struct gd_action_ops gd_action_aws_ec2_terminate = {
    .type = "aws.ec2.terminate_instances",
    .keys = term_keys,
    .dry_run = 1,
    .init = term_init,
    .describe = term_describe,
    .run = term_run,
    .cancel = term_cancel,
    .free = term_free,
};

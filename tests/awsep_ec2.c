/* The test AWS endpoint: EC2 (DescribeInstances, TerminateInstances,
 * DescribeSecurityGroups) and
 * what a termination sets going in Auto Scaling and ELBv2: the instance
 * goes shutting-down -> terminated, its group marks it Terminating, drops
 * it and launches a replacement (Pending -> InService), its targets drain
 * and go while the replacement's go initial -> healthy. */
#define _GNU_SOURCE
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awsep_int.h"

static int state_code(const char *s) {
  static const struct {
    const char *name;
    int code;
  } codes[] = {{"pending", 0},   {"running", 16}, {"shutting-down", 32},
               {"terminated", 48}, {"stopping", 64}, {"stopped", 80}};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (strcmp(codes[i].name, s) == 0) return codes[i].code;
  return 16;
}

/* i- and 8 or 17 lower-case hex digits. */
static int sg_wellformed(const char *id);

static int id_wellformed(const char *id) {
  if (strncmp(id, "i-", 2) != 0) return 0;
  size_t n = 0;
  for (const char *p = id + 2; *p; p++, n++)
    if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p)) return 0;
  return n == 8 || n == 17;
}

static cJSON *tags_of(cJSON *inst) {
  cJSON *tags = cJSON_GetObjectItem(inst, "tags");
  if (!cJSON_IsObject(tags)) {
    cJSON_DeleteItemFromObject(inst, "tags");
    tags = cJSON_AddObjectToObject(inst, "tags");
  }
  return tags;
}

static void add_tag(cJSON *inst, const char *k, const char *v) {
  cJSON *tags = tags_of(inst);
  if (!cJSON_HasObjectItem(tags, k)) cJSON_AddStringToObject(tags, k, v);
}

static void fill_instance(struct gd_awsep *ep, cJSON *in, int idx) {
  char buf[64];
  if (!awsep_s(in, "state", NULL)) awsep_set_s(in, "state", "running");
  if (!awsep_s(in, "az", NULL)) {
    snprintf(buf, sizeof buf, "%sa", awsep_region(ep));
    awsep_set_s(in, "az", buf);
  }
  if (!awsep_s(in, "type", NULL)) awsep_set_s(in, "type", "t3.micro");
  if (!awsep_s(in, "image", NULL))
    awsep_set_s(in, "image", "ami-0abcdef1234567890");
  if (!awsep_s(in, "private_ip", NULL)) {
    snprintf(buf, sizeof buf, "10.0.%d.%d", 1 + idx / 200, 10 + idx % 200);
    awsep_set_s(in, "private_ip", buf);
  }
  if (!awsep_s(in, "launch_time", NULL)) {
    awsep_iso(ep, -3600 * 1000, buf);
    awsep_set_s(in, "launch_time", buf);
  }
  tags_of(in);
  const char *asg = awsep_s(in, "asg", NULL);
  if (asg) {
    add_tag(in, "aws:autoscaling:groupName", asg);
    const char *st = awsep_s(in, "state", "running");
    if (!awsep_s(in, "lifecycle", NULL))
      awsep_set_s(in, "lifecycle",
                  strcmp(st, "pending") == 0 ? "Pending"
                  : strcmp(st, "running") == 0 ? "InService"
                                               : "Terminated");
    if (!awsep_s(in, "health", NULL)) awsep_set_s(in, "health", "Healthy");
  }
}

static int asg_members(struct gd_awsep *ep, const char *name, int live_only) {
  int n = 0;
  cJSON *in;
  cJSON_ArrayForEach(in, awsep_wlist(ep, "instances")) {
    if (strcmp(awsep_s(in, "asg", ""), name) != 0) continue;
    const char *lc = awsep_s(in, "lifecycle", "InService");
    if (strcmp(lc, "Terminated") == 0) continue;
    if (live_only && strncmp(lc, "Terminating", 11) == 0) continue;
    n++;
  }
  return n;
}

int awsep_ec2_normalize(struct gd_awsep *ep, char *err, size_t n) {
  cJSON *in, *g, *tg;
  int i = 0;
  cJSON_ArrayForEach(in, awsep_wlist(ep, "instances")) {
    const char *id = awsep_s(in, "id", NULL);
    if (!id || !id_wellformed(id)) {
      snprintf(err, n, "fixture: instances[%d].id: want i- and 8 or 17 hex "
               "digits, not '%s'", i, id ? id : "");
      return -1;
    }
    fill_instance(ep, in, i++);
  }
  i = 0;
  cJSON_ArrayForEach(g, awsep_wlist(ep, "auto_scaling_groups")) {
    char buf[64];
    const char *name = awsep_s(g, "name", NULL);
    if (!name) {
      snprintf(err, n, "fixture: auto_scaling_groups[%d].name missing", i);
      return -1;
    }
    int members = asg_members(ep, name, 1);
    if (awsep_n(g, "desired", -1) < 0) awsep_set_n(g, "desired", members);
    if (awsep_n(g, "min", -1) < 0) awsep_set_n(g, "min", 0);
    if (awsep_n(g, "max", -1) < 0)
      awsep_set_n(g, "max", awsep_n(g, "desired", 0));
    if (!cJSON_IsArray(cJSON_GetObjectItem(g, "azs"))) {
      cJSON_DeleteItemFromObject(g, "azs");
      cJSON *azs = cJSON_AddArrayToObject(g, "azs");
      snprintf(buf, sizeof buf, "%sa", awsep_region(ep));
      cJSON_AddItemToArray(azs, cJSON_CreateString(buf));
    }
    if (!awsep_s(g, "health_check_type", NULL))
      awsep_set_s(g, "health_check_type", "EC2");
    if (!cJSON_IsArray(cJSON_GetObjectItem(g, "target_groups"))) {
      cJSON_DeleteItemFromObject(g, "target_groups");
      cJSON_AddArrayToObject(g, "target_groups");
    }
    if (!cJSON_IsObject(cJSON_GetObjectItem(g, "tags"))) {
      cJSON_DeleteItemFromObject(g, "tags");
      cJSON_AddObjectToObject(g, "tags");
    }
    i++;
  }
  i = 0;
  cJSON_ArrayForEach(tg, awsep_wlist(ep, "target_groups")) {
    const char *arn = awsep_s(tg, "arn", NULL);
    if (!arn || !strstr(arn, ":targetgroup/")) {
      snprintf(err, n, "fixture: target_groups[%d].arn: want "
               "arn:aws:elasticloadbalancing:...:targetgroup/NAME/ID, not "
               "'%s'", i, arn ? arn : "");
      return -1;
    }
    if (!awsep_s(tg, "name", NULL)) {
      char name[128];
      snprintf(name, sizeof name, "%s", strstr(arn, ":targetgroup/") + 13);
      char *sl = strchr(name, '/');
      if (sl) *sl = 0;
      awsep_set_s(tg, "name", name);
    }
    if (awsep_n(tg, "port", -1) < 0) awsep_set_n(tg, "port", 80);
    if (!awsep_s(tg, "protocol", NULL)) awsep_set_s(tg, "protocol", "HTTP");
    if (!awsep_s(tg, "vpc_id", NULL))
      awsep_set_s(tg, "vpc_id", "vpc-0123456789abcdef0");
    if (!cJSON_IsArray(cJSON_GetObjectItem(tg, "load_balancers"))) {
      cJSON_DeleteItemFromObject(tg, "load_balancers");
      cJSON_AddArrayToObject(tg, "load_balancers");
    }
    cJSON *targets = cJSON_GetObjectItem(tg, "targets");
    if (!cJSON_IsArray(targets)) {
      /* Not given: the running members of the groups that use it. */
      cJSON_DeleteItemFromObject(tg, "targets");
      targets = cJSON_AddArrayToObject(tg, "targets");
      cJSON_ArrayForEach(g, awsep_wlist(ep, "auto_scaling_groups")) {
        const cJSON *a;
        int uses = 0;
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(g, "target_groups"))
          uses |= cJSON_IsString(a) && strcmp(a->valuestring, arn) == 0;
        if (!uses) continue;
        cJSON_ArrayForEach(in, awsep_wlist(ep, "instances")) {
          if (strcmp(awsep_s(in, "asg", ""), awsep_s(g, "name", "")) != 0 ||
              strcmp(awsep_s(in, "state", ""), "running") != 0)
            continue;
          cJSON *t = cJSON_CreateObject();
          cJSON_AddStringToObject(t, "id", awsep_s(in, "id", ""));
          cJSON_AddItemToArray(targets, t);
        }
      }
    }
    cJSON *t;
    cJSON_ArrayForEach(t, targets) {
      if (awsep_n(t, "port", -1) < 0)
        awsep_set_n(t, "port", awsep_n(tg, "port", 80));
      if (!awsep_s(t, "state", NULL)) awsep_set_s(t, "state", "healthy");
    }
    i++;
  }
  i = 0;
  cJSON *sg;
  cJSON_ArrayForEach(sg, awsep_wlist(ep, "security_groups")) {
    const char *id = awsep_s(sg, "id", NULL);
    if (!id || !sg_wellformed(id)) {
      snprintf(err, n, "fixture: security_groups[%d].id: want sg- and 8 or "
               "17 hex digits, not '%s'", i, id ? id : "");
      return -1;
    }
    if (!awsep_s(sg, "name", NULL)) awsep_set_s(sg, "name", id);
    i++;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* What time does after a termination */

static void set_targets(struct gd_awsep *ep, const char *id, const char *from,
                        const char *to) {
  cJSON *tg, *t;
  cJSON_ArrayForEach(tg, awsep_wlist(ep, "target_groups")) {
    cJSON *targets = cJSON_GetObjectItem(tg, "targets");
    for (t = targets ? targets->child : NULL; t;) {
      cJSON *next = t->next;
      if (strcmp(awsep_s(t, "id", ""), id) == 0 &&
          (!from || strcmp(awsep_s(t, "state", ""), from) == 0)) {
        if (to)
          awsep_set_s(t, "state", to);
        else
          cJSON_Delete(cJSON_DetachItemViaPointer(targets, t));
      }
      t = next;
    }
  }
}

static void target_healthy(struct gd_awsep *ep, const char *id,
                           const char *unused) {
  (void)unused;
  set_targets(ep, id, "initial", "healthy");
}

static void target_gone(struct gd_awsep *ep, const char *id,
                        const char *unused) {
  (void)unused;
  set_targets(ep, id, "draining", NULL);
}

static void instance_running(struct gd_awsep *ep, const char *id,
                             const char *unused) {
  (void)unused;
  cJSON *in = awsep_find(ep, "instances", "id", id);
  if (!in || strcmp(awsep_s(in, "state", ""), "pending") != 0) return;
  awsep_set_s(in, "state", "running");
  if (strcmp(awsep_s(in, "lifecycle", ""), "Pending") == 0)
    awsep_set_s(in, "lifecycle", "InService");
  awsep_schedule(ep, awsep_delay(ep, "target_initial"), target_healthy, id,
                 NULL);
}

/* The group launches what it needs to get back to its desired capacity. */
static void asg_replace(struct gd_awsep *ep, const char *name,
                        const char *unused) {
  (void)unused;
  cJSON *g = awsep_find(ep, "auto_scaling_groups", "name", name);
  if (!g) return;
  int want = (int)awsep_n(g, "desired", 0);
  for (int have = asg_members(ep, name, 1); have < want; have++) {
    char id[32], buf[64];
    snprintf(id, sizeof id, "i-0%016lx", 0xa5e9000000ul + awsep_serial(ep));
    /* The zone with the fewest live members, as AZ rebalancing does. */
    const cJSON *az, *best = NULL;
    int best_n = 1 << 30;
    cJSON_ArrayForEach(az, cJSON_GetObjectItem(g, "azs")) {
      int k = 0;
      cJSON *in;
      cJSON_ArrayForEach(in, awsep_wlist(ep, "instances")) {
        const char *lc = awsep_s(in, "lifecycle", "");
        if (strcmp(awsep_s(in, "asg", ""), name) == 0 &&
            strcmp(awsep_s(in, "az", ""), az->valuestring) == 0 &&
            strcmp(lc, "Terminated") != 0 &&
            strncmp(lc, "Terminating", 11) != 0)
          k++;
      }
      if (k < best_n) best_n = k, best = az;
    }
    cJSON *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "id", id);
    cJSON_AddStringToObject(in, "state", "pending");
    if (best) cJSON_AddStringToObject(in, "az", best->valuestring);
    const char *type = NULL;
    cJSON *o;
    cJSON_ArrayForEach(o, awsep_wlist(ep, "instances"))
      if (strcmp(awsep_s(o, "asg", ""), name) == 0)
        type = awsep_s(o, "type", NULL);
    if (type) cJSON_AddStringToObject(in, "type", type);
    cJSON *tags = cJSON_AddObjectToObject(in, "tags");
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(g, "tags"))
      if (cJSON_IsString(t))
        cJSON_AddStringToObject(tags, t->string, t->valuestring);
    cJSON_AddStringToObject(in, "asg", name);
    cJSON_AddStringToObject(in, "lifecycle", "Pending");
    cJSON_AddStringToObject(in, "health", "Healthy");
    awsep_iso(ep, 0, buf);
    cJSON_AddStringToObject(in, "launch_time", buf);
    cJSON *list = awsep_wlist(ep, "instances");
    fill_instance(ep, in, cJSON_GetArraySize(list));
    cJSON_AddItemToArray(list, in);
    /* Registered with the group's target groups at once: initial. */
    const cJSON *arn;
    cJSON_ArrayForEach(arn, cJSON_GetObjectItem(g, "target_groups")) {
      cJSON *tg = awsep_find(ep, "target_groups", "arn", arn->valuestring);
      if (!tg) continue;
      cJSON *tt = cJSON_CreateObject();
      cJSON_AddStringToObject(tt, "id", id);
      cJSON_AddNumberToObject(tt, "port", awsep_n(tg, "port", 80));
      cJSON_AddStringToObject(tt, "state", "initial");
      cJSON_AddItemToArray(cJSON_GetObjectItem(tg, "targets"), tt);
    }
    awsep_schedule(ep, awsep_delay(ep, "pending"), instance_running, id,
                   NULL);
  }
}

static void instance_terminated(struct gd_awsep *ep, const char *id,
                                const char *unused) {
  (void)unused;
  cJSON *in = awsep_find(ep, "instances", "id", id);
  if (!in) return;
  awsep_set_s(in, "state", "terminated");
  if (awsep_s(in, "asg", NULL)) awsep_set_s(in, "lifecycle", "Terminated");
}

/* ------------------------------------------------------------------ */
/* Requests */

static int ids_param(struct awsep_req *r, const char *prefix,
                     const char **ids, int max) {
  int n = 0;
  for (const char *id; n < max && (id = awsep_item(r, prefix, n + 1)); n++) {
    if (!id_wellformed(id)) {
      awsep_error(r, 400, "InvalidInstanceID.Malformed",
                  "Invalid id: \"%s\" (expecting \"i-...\")", id);
      return -1;
    }
    ids[n] = id;
  }
  return n;
}

/* All of ids exist, or the NotFound error answer. */
static int ids_exist(struct awsep_req *r, const char **ids, int n) {
  struct awsep_buf miss = {0};
  int k = 0;
  for (int i = 0; i < n; i++)
    if (!awsep_find(r->ep, "instances", "id", ids[i])) {
      if (k++) awsep_buf_puts(&miss, ", ");
      awsep_buf_puts(&miss, ids[i]);
    }
  if (k)
    awsep_error(r, 400, "InvalidInstanceID.NotFound",
                k == 1 ? "The instance ID '%s' does not exist"
                       : "The instance IDs '%s' do not exist",
                miss.p);
  awsep_buf_free(&miss);
  return k ? -1 : 0;
}

static int value_match(struct awsep_req *r, int f, const char *v) {
  if (!v) return 0;
  for (int m = 1;; m++) {
    char k[64];
    snprintf(k, sizeof k, "Value.%d", m);
    const char *want = awsep_item2(r, "Filter", f, k);
    if (!want) return 0;
    if (fnmatch(want, v, 0) == 0) return 1;
  }
}

/* 1: the instance passes filter f; -1: an unknown filter (answered). */
static int filter_match(struct awsep_req *r, int f, const cJSON *in) {
  const char *name = awsep_item2(r, "Filter", f, "Name");
  const cJSON *tags = cJSON_GetObjectItem(in, "tags"), *t;
  if (!name) return 1;
  if (strcmp(name, "instance-id") == 0)
    return value_match(r, f, awsep_s(in, "id", NULL));
  if (strcmp(name, "instance-state-name") == 0)
    return value_match(r, f, awsep_s(in, "state", NULL));
  if (strcmp(name, "availability-zone") == 0)
    return value_match(r, f, awsep_s(in, "az", NULL));
  if (strcmp(name, "instance-type") == 0)
    return value_match(r, f, awsep_s(in, "type", NULL));
  if (strncmp(name, "tag:", 4) == 0)
    return value_match(r, f, awsep_s(tags, name + 4, NULL));
  if (strcmp(name, "tag-key") == 0 || strcmp(name, "tag-value") == 0) {
    cJSON_ArrayForEach(t, tags) {
      if (value_match(r, f,
                      name[4] == 'k' ? t->string : cJSON_GetStringValue(t)))
        return 1;
    }
    return 0;
  }
  awsep_error(r, 400, "InvalidParameterValue", "The filter '%s' is invalid",
              name);
  return -1;
}

static void x_state(struct awsep_req *r, const char *el, const char *state) {
  awsep_x_open(r, el);
  awsep_x_elf(r, "code", "%d", state_code(state));
  awsep_x_el(r, "name", state);
  awsep_x_close(r, el);
}

static void x_instance(struct awsep_req *r, const cJSON *in) {
  const char *state = awsep_s(in, "state", "running");
  const char *ip = awsep_s(in, "private_ip", "10.0.0.10");
  char dashed[64], dns[128];
  snprintf(dashed, sizeof dashed, "%s", ip);
  for (char *p = dashed; *p; p++)
    if (*p == '.') *p = '-';
  snprintf(dns, sizeof dns, "ip-%s.%s.compute.internal", dashed,
           awsep_region(r->ep));
  awsep_x_open(r, "item");
  awsep_x_el(r, "instanceId", awsep_s(in, "id", ""));
  awsep_x_el(r, "imageId", awsep_s(in, "image", ""));
  x_state(r, "instanceState", state);
  int gone = strcmp(state, "terminated") == 0;
  awsep_x_el(r, "privateDnsName", gone ? NULL : dns);
  awsep_x_el(r, "dnsName", NULL);
  awsep_x_el(r, "reason", gone ? "User initiated" : NULL);
  awsep_x_el(r, "amiLaunchIndex", "0");
  awsep_x_el(r, "productCodes", NULL);
  awsep_x_el(r, "instanceType", awsep_s(in, "type", "t3.micro"));
  awsep_x_el(r, "launchTime", awsep_s(in, "launch_time", ""));
  awsep_x_open(r, "placement");
  awsep_x_el(r, "availabilityZone", awsep_s(in, "az", ""));
  awsep_x_el(r, "groupName", NULL);
  awsep_x_el(r, "tenancy", "default");
  awsep_x_close(r, "placement");
  awsep_x_open(r, "monitoring");
  awsep_x_el(r, "state", "disabled");
  awsep_x_close(r, "monitoring");
  if (!gone) {
    awsep_x_el(r, "subnetId", "subnet-0123456789abcdef0");
    awsep_x_el(r, "vpcId", "vpc-0123456789abcdef0");
    awsep_x_el(r, "privateIpAddress", ip);
  }
  awsep_x_el(r, "architecture", "x86_64");
  awsep_x_el(r, "rootDeviceType", "ebs");
  awsep_x_el(r, "rootDeviceName", "/dev/xvda");
  awsep_x_el(r, "virtualizationType", "hvm");
  const cJSON *tags = cJSON_GetObjectItem(in, "tags");
  if (cJSON_GetArraySize(tags) > 0) {
    awsep_x_open(r, "tagSet");
    awsep_x_tags(r, tags, "item", "key", "value");
    awsep_x_close(r, "tagSet");
  }
  awsep_x_el(r, "hypervisor", "xen");
  awsep_x_close(r, "item");
}

static int describe_instances(struct awsep_req *r) {
  const char *ids[1000];
  int nids = ids_param(r, "InstanceId", ids, 1000);
  if (nids < 0) return 0;
  if (awsep_param(r, "MaxResults") && nids > 0)
    return awsep_error(r, 400, "InvalidParameterCombination",
                       "The parameter instancesSet cannot be used with the "
                       "parameter maxResults");
  long max = awsep_int(r, "MaxResults", 1000, 5, 1000);
  if (max < 0) return 0;
  long start = awsep_int(r, "NextToken", 0, 0, 1000000);
  if (start < 0) return 0;
  if (ids_exist(r, ids, nids)) return 0;
  if (awsep_bool(r, "DryRun"))
    return awsep_error(r, 412, "DryRunOperation",
                       "Request would have succeeded, but DryRun flag is "
                       "set.");
  const cJSON *in;
  int k = 0, written = 0, more = 0;
  awsep_begin(r);
  awsep_x_open(r, "reservationSet");
  cJSON_ArrayForEach(in, awsep_wlist(r->ep, "instances")) {
    const char *id = awsep_s(in, "id", "");
    if (nids) {
      int want = 0;
      for (int i = 0; i < nids; i++) want |= strcmp(ids[i], id) == 0;
      if (!want) continue;
    }
    int pass = 1;
    for (int f = 1; pass && awsep_item2(r, "Filter", f, "Name"); f++) {
      int m = filter_match(r, f, in);
      if (m < 0) return 0; /* the error replaced the answer */
      pass = m;
    }
    if (!pass) continue;
    if (k++ < start) continue;
    if (written == max) {
      more = 1;
      break;
    }
    written++;
    awsep_x_open(r, "item");
    awsep_x_elf(r, "reservationId", "r-%s", id + 2);
    awsep_x_el(r, "ownerId", awsep_account(r->ep));
    awsep_x_el(r, "groupSet", NULL);
    awsep_x_open(r, "instancesSet");
    x_instance(r, in);
    awsep_x_close(r, "instancesSet");
    awsep_x_close(r, "item");
  }
  awsep_x_close(r, "reservationSet");
  if (more) awsep_x_elf(r, "nextToken", "%ld", start + written);
  awsep_end(r);
  return 0;
}

static int terminate_instances(struct awsep_req *r) {
  const char *ids[1000];
  int n = ids_param(r, "InstanceId", ids, 1000);
  if (n < 0) return 0;
  if (n == 0) {
    awsep_require(r, "InstanceId");
    return 0;
  }
  if (ids_exist(r, ids, n)) return 0;
  if (awsep_bool(r, "DryRun"))
    return awsep_error(r, 412, "DryRunOperation",
                       "Request would have succeeded, but DryRun flag is "
                       "set.");
  struct gd_awsep *ep = r->ep;
  awsep_begin(r);
  awsep_x_open(r, "instancesSet");
  for (int i = 0; i < n; i++) {
    cJSON *in = awsep_find(ep, "instances", "id", ids[i]);
    char prev[32];
    snprintf(prev, sizeof prev, "%s", awsep_s(in, "state", "running"));
    int live = strcmp(prev, "shutting-down") != 0 &&
               strcmp(prev, "terminated") != 0;
    if (live) {
      awsep_set_s(in, "state", "shutting-down");
      awsep_schedule(ep, awsep_delay(ep, "shutting_down"),
                     instance_terminated, ids[i], NULL);
      const char *asg = awsep_s(in, "asg", NULL);
      if (asg) {
        awsep_set_s(in, "lifecycle", "Terminating");
        awsep_set_s(in, "health", "Unhealthy");
        awsep_schedule(ep, awsep_delay(ep, "replace"), asg_replace, asg,
                       NULL);
      }
      set_targets(ep, ids[i], NULL, "draining");
      awsep_schedule(ep, awsep_delay(ep, "draining"), target_gone, ids[i],
                     NULL);
    }
    awsep_x_open(r, "item");
    awsep_x_el(r, "instanceId", ids[i]);
    x_state(r, "currentState", awsep_s(in, "state", "shutting-down"));
    x_state(r, "previousState", prev);
    awsep_x_close(r, "item");
  }
  awsep_x_close(r, "instancesSet");
  awsep_end(r);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Security groups: world "security_groups", rules as the fixture writes
 * them (awsep.h), answered as EC2's IpPermission lists. */

/* sg- and 8 or 17 lower-case hex digits. */
static int sg_wellformed(const char *id) {
  if (strncmp(id, "sg-", 3) != 0) return 0;
  size_t n = 0;
  for (const char *p = id + 3; *p; p++, n++)
    if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p)) return 0;
  return n == 8 || n == 17;
}

static void x_strings(struct awsep_req *r, const cJSON *list, const char *el,
                      const char *item_el, const char *field) {
  const cJSON *it;
  if (cJSON_GetArraySize(list) == 0) {
    awsep_x_el(r, el, NULL);
    return;
  }
  awsep_x_open(r, el);
  cJSON_ArrayForEach(it, list) {
    awsep_x_open(r, item_el);
    awsep_x_el(r, field, cJSON_GetStringValue(it));
    awsep_x_close(r, item_el);
  }
  awsep_x_close(r, el);
}

static void x_permissions(struct awsep_req *r, const char *el,
                          const cJSON *rules) {
  const cJSON *rule, *it;
  if (cJSON_GetArraySize(rules) == 0) {
    awsep_x_el(r, el, NULL);
    return;
  }
  awsep_x_open(r, el);
  cJSON_ArrayForEach(rule, rules) {
    const char *proto = awsep_s(rule, "protocol", "tcp");
    awsep_x_open(r, "item");
    awsep_x_el(r, "ipProtocol", proto);
    /* Protocol -1 (all traffic) has no port range. */
    if (strcmp(proto, "-1") != 0) {
      awsep_x_elf(r, "fromPort", "%d", (int)awsep_n(rule, "from", -1));
      awsep_x_elf(r, "toPort", "%d",
                  (int)awsep_n(rule, "to", awsep_n(rule, "from", -1)));
    }
    const cJSON *groups = cJSON_GetObjectItem(rule, "groups");
    if (cJSON_GetArraySize(groups) == 0) {
      awsep_x_el(r, "groups", NULL);
    } else {
      awsep_x_open(r, "groups");
      cJSON_ArrayForEach(it, groups) {
        awsep_x_open(r, "item");
        awsep_x_el(r, "userId", awsep_account(r->ep));
        awsep_x_el(r, "groupId", cJSON_GetStringValue(it));
        awsep_x_close(r, "item");
      }
      awsep_x_close(r, "groups");
    }
    x_strings(r, cJSON_GetObjectItem(rule, "cidrs"), "ipRanges", "item",
              "cidrIp");
    x_strings(r, cJSON_GetObjectItem(rule, "ipv6_cidrs"), "ipv6Ranges",
              "item", "cidrIpv6");
    x_strings(r, cJSON_GetObjectItem(rule, "prefix_lists"), "prefixListIds",
              "item", "prefixListId");
    awsep_x_close(r, "item");
  }
  awsep_x_close(r, el);
}

static void x_security_group(struct awsep_req *r, const cJSON *g) {
  const char *id = awsep_s(g, "id", "");
  awsep_x_open(r, "item");
  awsep_x_el(r, "ownerId", awsep_account(r->ep));
  awsep_x_el(r, "groupId", id);
  awsep_x_el(r, "groupName", awsep_s(g, "name", id));
  awsep_x_el(r, "groupDescription", awsep_s(g, "description", "managed"));
  awsep_x_el(r, "vpcId", awsep_s(g, "vpc_id", "vpc-0123456789abcdef0"));
  awsep_x_elf(r, "securityGroupArn", "arn:aws:ec2:%s:%s:security-group/%s",
              awsep_region(r->ep), awsep_account(r->ep), id);
  x_permissions(r, "ipPermissions", cJSON_GetObjectItem(g, "ingress"));
  const cJSON *egress = cJSON_GetObjectItem(g, "egress");
  if (egress) {
    x_permissions(r, "ipPermissionsEgress", egress);
  } else {
    /* What a new group gets: all traffic out to anywhere. */
    awsep_x_open(r, "ipPermissionsEgress");
    awsep_x_open(r, "item");
    awsep_x_el(r, "ipProtocol", "-1");
    awsep_x_el(r, "groups", NULL);
    awsep_x_open(r, "ipRanges");
    awsep_x_open(r, "item");
    awsep_x_el(r, "cidrIp", "0.0.0.0/0");
    awsep_x_close(r, "item");
    awsep_x_close(r, "ipRanges");
    awsep_x_el(r, "ipv6Ranges", NULL);
    awsep_x_el(r, "prefixListIds", NULL);
    awsep_x_close(r, "item");
    awsep_x_close(r, "ipPermissionsEgress");
  }
  const cJSON *tags = cJSON_GetObjectItem(g, "tags");
  if (cJSON_GetArraySize(tags) > 0) {
    awsep_x_open(r, "tagSet");
    awsep_x_tags(r, tags, "item", "key", "value");
    awsep_x_close(r, "tagSet");
  }
  awsep_x_close(r, "item");
}

/* 1: group g passes filter f; -1: an unknown filter (answered). */
static int sg_filter(struct awsep_req *r, int f, const cJSON *g) {
  const char *name = awsep_item2(r, "Filter", f, "Name");
  const cJSON *tags = cJSON_GetObjectItem(g, "tags"), *t;
  if (strcmp(name, "group-id") == 0)
    return value_match(r, f, awsep_s(g, "id", NULL));
  if (strcmp(name, "group-name") == 0)
    return value_match(r, f, awsep_s(g, "name", awsep_s(g, "id", NULL)));
  if (strcmp(name, "vpc-id") == 0)
    return value_match(r, f, awsep_s(g, "vpc_id", "vpc-0123456789abcdef0"));
  if (strncmp(name, "tag:", 4) == 0)
    return value_match(r, f, awsep_s(tags, name + 4, NULL));
  if (strcmp(name, "tag-key") == 0) {
    cJSON_ArrayForEach(t, tags) if (value_match(r, f, t->string)) return 1;
    return 0;
  }
  awsep_error(r, 400, "InvalidParameterValue", "The filter '%s' is invalid",
              name);
  return -1;
}

static int describe_security_groups(struct awsep_req *r) {
  const char *ids[1000];
  int nids = 0, nnames = 0;
  for (const char *id; nids < 1000 && (id = awsep_item(r, "GroupId", nids + 1));
       nids++) {
    if (!sg_wellformed(id))
      return awsep_error(r, 400, "InvalidGroupId.Malformed",
                         "Invalid id: \"%s\" (expecting \"sg-...\")", id);
    ids[nids] = id;
  }
  while (awsep_item(r, "GroupName", nnames + 1)) nnames++;
  if (awsep_param(r, "MaxResults") && (nids || nnames))
    return awsep_error(r, 400, "InvalidParameterCombination",
                       "The parameter groupIds cannot be used with the "
                       "parameter maxResults");
  long max = awsep_int(r, "MaxResults", 1000, 5, 1000);
  if (max < 0) return 0;
  long start = awsep_int(r, "NextToken", 0, 0, 1000000);
  if (start < 0) return 0;
  for (int i = 0; i < nids; i++)
    if (!awsep_find(r->ep, "security_groups", "id", ids[i]))
      return awsep_error(r, 400, "InvalidGroup.NotFound",
                         "The security group '%s' does not exist", ids[i]);
  for (int i = 1; i <= nnames; i++)
    if (!awsep_find(r->ep, "security_groups", "name",
                    awsep_item(r, "GroupName", i)))
      return awsep_error(r, 400, "InvalidGroup.NotFound",
                         "The security group '%s' does not exist in default "
                         "VPC '%s'",
                         awsep_item(r, "GroupName", i),
                         "vpc-0123456789abcdef0");
  if (awsep_bool(r, "DryRun"))
    return awsep_error(r, 412, "DryRunOperation",
                       "Request would have succeeded, but DryRun flag is "
                       "set.");
  const cJSON *g;
  long k = 0, written = 0;
  int more = 0;
  awsep_begin(r);
  awsep_x_open(r, "securityGroupInfo");
  cJSON_ArrayForEach(g, awsep_wlist(r->ep, "security_groups")) {
    int want = !nids && !nnames;
    for (int i = 0; i < nids; i++)
      want |= strcmp(ids[i], awsep_s(g, "id", "")) == 0;
    for (int i = 1; i <= nnames; i++)
      want |= strcmp(awsep_item(r, "GroupName", i), awsep_s(g, "name", "")) ==
              0;
    if (!want) continue;
    int pass = 1;
    for (int f = 1; pass && awsep_item2(r, "Filter", f, "Name"); f++) {
      int m = sg_filter(r, f, g);
      if (m < 0) return 0;
      pass = m;
    }
    if (!pass || k++ < start) continue;
    if (written == max) {
      more = 1;
      break;
    }
    written++;
    x_security_group(r, g);
  }
  awsep_x_close(r, "securityGroupInfo");
  if (more) awsep_x_elf(r, "nextToken", "%ld", start + written);
  awsep_end(r);
  return 0;
}

const struct awsep_op gd_awsep_ec2_ops[] = {
    {"DescribeInstances", 0, describe_instances},
    {"TerminateInstances", 1, terminate_instances},
    {"DescribeSecurityGroups", 0, describe_security_groups},
    {NULL, 0, NULL}};

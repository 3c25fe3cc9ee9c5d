/* gameday: the static tables of probe and action kinds. A new kind is one
 * file in probes/ or actions/ and one line here; nothing changes them at
 * run time. */
#include <string.h>

#include "gameday/action.h"
#include "gameday/probe.h"

extern const struct gd_probe_ops gd_probe_http;
extern const struct gd_probe_ops gd_probe_tcp;
extern const struct gd_probe_ops gd_probe_exec;

extern const struct gd_action_ops gd_action_http;
extern const struct gd_action_ops gd_action_exec;
extern const struct gd_action_ops gd_action_signal;
extern const struct gd_action_ops gd_action_sleep;

static const struct gd_probe_ops *const probe_kinds[] = {
    &gd_probe_http,
    &gd_probe_tcp,
    &gd_probe_exec,
    NULL,
};

static const struct gd_action_ops *const action_kinds[] = {
    &gd_action_http,
    &gd_action_exec,
    &gd_action_signal,
    &gd_action_sleep,
    NULL,
};

const struct gd_probe_ops *gd_probe_kind(const char *type) {
  for (size_t i = 0; probe_kinds[i]; i++)
    if (strcmp(probe_kinds[i]->type, type) == 0) return probe_kinds[i];
  return NULL;
}

const struct gd_probe_ops *const *gd_probe_kinds(void) { return probe_kinds; }

const struct gd_action_ops *gd_action_kind(const char *type) {
  for (size_t i = 0; action_kinds[i]; i++)
    if (strcmp(action_kinds[i]->type, type) == 0) return action_kinds[i];
  return NULL;
}

const struct gd_action_ops *const *gd_action_kinds(void) {
  return action_kinds;
}

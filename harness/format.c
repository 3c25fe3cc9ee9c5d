/* gameday: numbers and figures for reports. */
#include "gameday/format.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void gd_format_number(char *buf, size_t n, double v) {
  if (!isfinite(v))
    snprintf(buf, n, "n/a");
  else if (v == floor(v) && fabs(v) < 1e15)
    snprintf(buf, n, "%.0f", v);
  else
    snprintf(buf, n, "%.6g", v);
}

static int is_ms(const char *name) {
  size_t len = strlen(name);
  return len >= 3 && strcmp(name + len - 3, "_ms") == 0;
}

void gd_format_figure(char *buf, size_t n, const char *name, double v,
                      int has_unc, double unc) {
  if (is_ms(name)) {
    if (has_unc)
      snprintf(buf, n, "%.1f \xC2\xB1 %.1f ms", v, unc);
    else
      snprintf(buf, n, "%.1f ms", v);
    return;
  }
  char a[32], b[32];
  gd_format_number(a, sizeof a, v);
  if (has_unc) {
    gd_format_number(b, sizeof b, unc);
    snprintf(buf, n, "%s \xC2\xB1 %s", a, b);
  } else {
    snprintf(buf, n, "%s", a);
  }
}

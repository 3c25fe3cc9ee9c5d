/* gameday: the caller-supplied error struct. */
#include "gameday/error.h"

#include <stdarg.h>
#include <stdio.h>

int gd_error_set(struct gd_error *err, int code, const char *fmt, ...) {
  if (!err) return code;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

void gd_error_clear(struct gd_error *err) {
  if (!err) return;
  err->code = 0;
  err->msg[0] = 0;
}

const char *gd_strerror(int code) {
  switch (code) {
  case GD_OK: return "ok";
  case GD_EINVAL: return "invalid input";
  case GD_ENOMEM: return "out of memory";
  case GD_EIO: return "i/o error";
  case GD_ETIMEDOUT: return "timed out";
  case GD_ECANCELED: return "cancelled";
  case GD_ESTATE: return "wrong state";
  case GD_ENOTFOUND: return "not found";
  case GD_EPERM: return "refused by a safety rule";
  default: return "unknown error";
  }
}

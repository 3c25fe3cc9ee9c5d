/* gameday: error codes and the caller-supplied error struct. */
#ifndef GAMEDAY_ERROR_H
#define GAMEDAY_ERROR_H

#include <stddef.h>

/* Functions return 0 or one of these (negative). Detail goes into a
 * struct gd_error supplied by the caller. */
enum gd_errcode {
  GD_OK = 0,
  GD_EINVAL = -1,     /* invalid input: scenario, usage, value */
  GD_ENOMEM = -2,
  GD_EIO = -3,        /* file or system call failed */
  GD_ETIMEDOUT = -4,
  GD_ECANCELED = -5,
  GD_ESTATE = -6,     /* call made in the wrong state */
  GD_ENOTFOUND = -7,
  GD_EPERM = -8       /* refused by a safety rule */
};

#define GD_ERROR_MAX 1024

struct gd_error {
  int code;
  char msg[GD_ERROR_MAX];
};

/* Formats into err (which may be NULL) and returns code, so that
 * `return gd_error_set(err, GD_EINVAL, "...")` reads naturally.
 * Messages are lowercase, quote the value, and name where it came from:
 * "fault[1].signal: unknown signal 'KIL'". */
int gd_error_set(struct gd_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void gd_error_clear(struct gd_error *err);
const char *gd_strerror(int code);

#endif

/* gameday: numbers and figures as people read them, the same in every
 * report (console summary, JUnit messages). */
#ifndef GAMEDAY_FORMAT_H
#define GAMEDAY_FORMAT_H

#include <stddef.h>

/* "42", "0.9312", or "n/a" when v is not finite. */
void gd_format_number(char *buf, size_t n, double v);
/* A figure named name: "20123.0 ± 20.0 ms" for a *_ms name, "0.9312"
 * otherwise; the "± unc" part only when has_unc. */
void gd_format_figure(char *buf, size_t n, const char *name, double v,
                      int has_unc, double unc);

#endif

/* gameday: typed, path-aware access to cJSON values for the loader and for
 * every probe and action kind. Each getter names the JSON path and the bad
 * value in its error, e.g. "probes.web.interval_ms: must be at least 1, got -5". */
#ifndef GAMEDAY_JSON_H
#define GAMEDAY_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "gameday/error.h"

/* Writes "parent.key" (or "key" when parent is empty) into buf. */
const char *gd_json_path(char *buf, size_t n, const char *parent, const char *key);
/* Writes "parent[i]" into buf. */
const char *gd_json_index_path(char *buf, size_t n, const char *parent, size_t i);

/* Every key of obj must appear in one of the NULL-terminated lists
 * (either list may be NULL). Also rejects duplicate keys.
 * Error: "probes.web: unknown key 'intervall_ms'". */
int gd_json_check_keys(const cJSON *obj, const char *path,
                       const char *const *allowed, const char *const *allowed2,
                       struct gd_error *err);

/* Getters: when the key is absent and !required, *out is left unchanged and
 * 0 is returned; when absent and required: "PATH.key: required key missing".
 * Numbers may also be given as strings that parse whole as a number (so a
 * ${var} can carry a number). */
int gd_json_get_string(const cJSON *obj, const char *key, const char *path,
                       int required, const char **out, struct gd_error *err);
int gd_json_get_int(const cJSON *obj, const char *key, const char *path,
                    int required, long long min, long long max, long long *out,
                    struct gd_error *err);
int gd_json_get_double(const cJSON *obj, const char *key, const char *path,
                       int required, double min, double max, double *out,
                       struct gd_error *err);
int gd_json_get_bool(const cJSON *obj, const char *key, const char *path,
                     int required, int *out, struct gd_error *err);
/* Milliseconds key (integer >= min_ms) converted to nanoseconds. */
int gd_json_get_ms(const cJSON *obj, const char *key, const char *path,
                   int required, long long min_ms, uint64_t *out_ns,
                   struct gd_error *err);
/* An object value (not copied). */
int gd_json_get_object(const cJSON *obj, const char *key, const char *path,
                       int required, const cJSON **out, struct gd_error *err);
/* An array of strings: *out is a malloc'd NULL-terminated array of malloc'd
 * strings (free with gd_strv_free); *n its length. An empty array is an
 * error when required. */
int gd_json_get_strv(const cJSON *obj, const char *key, const char *path,
                     int required, char ***out, size_t *n, struct gd_error *err);
/* HTTP-style headers: an object {"Name": "value"} turned into a
 * NULL-terminated array of "Name: value" strings. */
int gd_json_get_headers(const cJSON *obj, const char *key, const char *path,
                        char ***out, struct gd_error *err);
void gd_strv_free(char **v);

/* Reads a whole file (at most max_bytes) and parses it. On a syntax error the
 * message gives line and column: "x.json:3:14: invalid JSON near '...'". */
int gd_json_parse_file(const char *file, size_t max_bytes, cJSON **out,
                       struct gd_error *err);

#endif

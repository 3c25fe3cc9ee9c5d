/* gameday: file helpers shared by the parts that write files (journal, JUnit
 * XML). */
#ifndef GAMEDAY_FILEUTIL_H
#define GAMEDAY_FILEUTIL_H

#include <stddef.h>

#include "gameday/error.h"

/* Writes len bytes of data to path through a temporary file in the same
 * directory, fsync and a rename, so that path holds either its old contents
 * or all of the new, never a part. Error: "cannot write 'PATH': ...". */
int gd_file_write_atomic(const char *path, const void *data, size_t len,
                         struct gd_error *err);

/* mkdir -p: creates dir and its missing parents. Error: "cannot create
 * directory 'DIR': ...", also when DIR exists but is not a directory. */
int gd_mkdir_p(const char *dir, struct gd_error *err);

#endif

/* gameday: file helpers. */
#include "gameday/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* strerror, lowercased as house messages are. */
static int io_error_as(struct gd_error *err, const char *what,
                       const char *path, int e) {
  char why[128];
  snprintf(why, sizeof why, "%s", strerror(e));
  if (why[0] >= 'A' && why[0] <= 'Z') why[0] = (char)(why[0] - 'A' + 'a');
  return gd_error_set(err, GD_EIO, "cannot %s '%s': %s", what, path, why);
}

static int io_error(struct gd_error *err, const char *path, int e) {
  return io_error_as(err, "write", path, e);
}

int gd_file_write_atomic(const char *path, const void *data, size_t len,
                         struct gd_error *err) {
  const char *text = data;
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 32);
  if (!tmp)
    return gd_error_set(err, GD_ENOMEM, "cannot write '%s': out of memory",
                        path);
  snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0 && errno == EEXIST) {
    /* Left by a crashed process that had our pid; it is garbage. */
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  }
  if (fd < 0) {
    int e = errno;
    free(tmp);
    return io_error(err, path, e);
  }
  size_t off = 0;
  int e = 0;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      e = errno;
      break;
    }
    off += (size_t)w;
  }
  /* EINVAL: a file that does not support syncing; what was written stands. */
  if (!e && fsync(fd) != 0 && errno != EINVAL) e = errno;
  if (close(fd) != 0 && !e) e = errno;
  if (!e && rename(tmp, path) != 0) e = errno;
  if (e) unlink(tmp);
  free(tmp);
  return e ? io_error(err, path, e) : 0;
}

int gd_mkdir_p(const char *dir, struct gd_error *err) {
  if (!*dir) return gd_error_set(err, GD_EINVAL, "cannot create a directory with an empty name");
  char *p = strdup(dir);
  if (!p) return gd_error_set(err, GD_ENOMEM, "out of memory");
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s) continue;
    char c = *s;
    *s = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      io_error_as(err, "create directory", p, errno);
      free(p);
      return GD_EIO;
    }
    *s = c;
    if (!c) break;
  }
  free(p);
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return gd_error_set(err, GD_EIO, "cannot create directory '%s': not a directory",
                        dir);
  return 0;
}

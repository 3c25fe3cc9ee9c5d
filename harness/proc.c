/* gameday: child processes for the exec kinds, and signal names.
 *
 * stdout and stderr share one pipe so that the captured output keeps the
 * order in which the command wrote it. The process gets its own session
 * (UV_PROCESS_DETACHED = setsid), which makes its pid the id of a process
 * group that holds everything it starts, so that a cancel can take down a
 * shell together with its children. */
#include "gameday/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gameday/json.h"

#define LAST_LINE_MAX 200

struct gd_proc {
  uv_process_t process;
  uv_pipe_t pipe;
  unsigned open;        /* handles not closed yet */
  int pipe_active;      /* pipe handle open and not closing */
  int spawned;          /* 0: uv_spawn failed, the close frees silently */
  int exited, killed;
  int64_t exit_status;
  int term_signal;
  int pid;
  uint64_t start_ns, end_ns;
  gd_proc_cb cb;
  void *arg;
  size_t len;
  int truncated;
  char out[GD_PROC_OUTPUT_MAX];
  char rbuf[4096];
  char clean[GD_PROC_OUTPUT_MAX + 1];
};

/* ------------------------------------------------------------------ */
/* Command keys */

const char *const gd_proc_cmd_keys[] = {"argv", "shell", "cwd", "expect",
                                        NULL};

static const char *const expect_keys[] = {"exit", NULL};

int gd_proc_cmd_parse(struct gd_proc_cmd *c, const cJSON *spec,
                      const char *path, struct gd_error *err) {
  char sub[256];
  int r;

  memset(c, 0, sizeof *c);
  r = gd_json_get_strv(spec, "argv", path, 1, &c->argv, &c->argc, err);
  if (r) goto fail;
  r = gd_json_get_bool(spec, "shell", path, 0, &c->shell, err);
  if (r) goto fail;
  if (c->argc == 0 || c->argv[0][0] == 0) {
    gd_json_path(sub, sizeof sub, path, "argv");
    r = gd_error_set(err, GD_EINVAL, "%s[0]: empty %s", sub,
                     c->shell ? "command line" : "program name");
    goto fail;
  }
  if (c->shell && c->argc != 1) {
    gd_json_path(sub, sizeof sub, path, "argv");
    r = gd_error_set(err, GD_EINVAL,
                     "%s: with shell true argv must have exactly one element "
                     "(the command line for /bin/sh -c), got %zu",
                     sub, c->argc);
    goto fail;
  }
  const char *cwd = NULL;
  r = gd_json_get_string(spec, "cwd", path, 0, &cwd, err);
  if (r) goto fail;
  if (cwd) {
    if (!*cwd) {
      gd_json_path(sub, sizeof sub, path, "cwd");
      r = gd_error_set(err, GD_EINVAL, "%s: empty directory name", sub);
      goto fail;
    }
    c->cwd = strdup(cwd);
    if (!c->cwd) {
      r = gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
      goto fail;
    }
  }
  const cJSON *expect = NULL;
  r = gd_json_get_object(spec, "expect", path, 0, &expect, err);
  if (r) goto fail;
  if (expect) {
    gd_json_path(sub, sizeof sub, path, "expect");
    r = gd_json_check_keys(expect, sub, expect_keys, NULL, err);
    if (r) goto fail;
    long long v = 0;
    r = gd_json_get_int(expect, "exit", sub, 0, 0, 255, &v, err);
    if (r) goto fail;
    c->expect_exit = (int)v;
  }
  return 0;

fail:
  gd_proc_cmd_free(c);
  return r;
}

void gd_proc_cmd_free(struct gd_proc_cmd *c) {
  gd_strv_free(c->argv);
  free(c->cwd);
  memset(c, 0, sizeof *c);
}

static int needs_quotes(const char *s) {
  if (!*s) return 1;
  for (; *s; s++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789_./:=,+@%-",
                *s))
      return 1;
  return 0;
}

/* Appends to buf[*pos..n), truncating silently; buf stays terminated. */
static void put(char *buf, size_t n, size_t *pos, const char *s, size_t len) {
  if (*pos + 1 >= n) return;
  size_t room = n - 1 - *pos;
  if (len > room) len = room;
  memcpy(buf + *pos, s, len);
  *pos += len;
  buf[*pos] = 0;
}

static void put_quoted(char *buf, size_t n, size_t *pos, const char *s) {
  if (!needs_quotes(s)) {
    put(buf, n, pos, s, strlen(s));
    return;
  }
  put(buf, n, pos, "'", 1);
  for (; *s; s++) {
    if (*s == '\'')
      put(buf, n, pos, "'\\''", 4);
    else
      put(buf, n, pos, s, 1);
  }
  put(buf, n, pos, "'", 1);
}

void gd_proc_cmd_describe(const struct gd_proc_cmd *c, char *buf, size_t n) {
  size_t pos = 0;
  if (!n) return;
  buf[0] = 0;
  if (c->shell) put(buf, n, &pos, "sh -c ", 6);
  for (size_t i = 0; i < c->argc; i++) {
    if (i) put(buf, n, &pos, " ", 1);
    put_quoted(buf, n, &pos, c->argv[i]);
  }
  char tail[300];
  int k;
  if (c->cwd)
    k = snprintf(tail, sizeof tail, " (in %s, expect exit %d)", c->cwd,
                 c->expect_exit);
  else
    k = snprintf(tail, sizeof tail, " (expect exit %d)", c->expect_exit);
  if (k > 0) put(buf, n, &pos, tail, strlen(tail));
}

static int check_cwd(const struct gd_proc_cmd *c, const char *prog,
                     struct gd_error *err) {
  struct stat st;
  if (!c->cwd) return 0;
  if (stat(c->cwd, &st) != 0)
    return gd_error_set(err, GD_EIO, "cannot run '%s': cwd '%s': %s", prog,
                        c->cwd, uv_strerror(uv_translate_sys_error(errno)));
  if (!S_ISDIR(st.st_mode))
    return gd_error_set(err, GD_EIO, "cannot run '%s': cwd '%s': not a directory",
                        prog, c->cwd);
  return 0;
}

int gd_proc_cmd_check(const struct gd_proc_cmd *c, char *buf, size_t n,
                      struct gd_error *err) {
  const char *prog = c->shell ? "/bin/sh" : c->argv[0];
  char found[4096];
  int r = check_cwd(c, prog, err);
  if (r) return r;
  if (strchr(prog, '/')) {
    /* relative paths are relative to where the command will run */
    if (prog[0] != '/' && c->cwd)
      snprintf(found, sizeof found, "%s/%s", c->cwd, prog);
    else
      snprintf(found, sizeof found, "%s", prog);
    if (access(found, X_OK) != 0)
      return gd_error_set(err, GD_ENOTFOUND, "cannot run '%s': %s", prog,
                          uv_strerror(uv_translate_sys_error(errno)));
  } else {
    const char *path = getenv("PATH");
    int ok = 0;
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    while (!ok) {
      const char *end = strchr(path, ':');
      size_t len = end ? (size_t)(end - path) : strlen(path);
      struct stat st;
      snprintf(found, sizeof found, "%.*s%s%s", (int)len, path,
               len ? "/" : "", prog);
      ok = stat(found, &st) == 0 && S_ISREG(st.st_mode) &&
           access(found, X_OK) == 0;
      if (!end) break;
      path = end + 1;
    }
    if (!ok)
      return gd_error_set(err, GD_ENOTFOUND,
                          "cannot run '%s': not found in PATH", prog);
  }
  size_t pos = 0;
  char desc[2048];
  if (!n) return 0;
  buf[0] = 0;
  gd_proc_cmd_describe(c, desc, sizeof desc);
  put(buf, n, &pos, "would run ", 10);
  if (c->shell) {
    put(buf, n, &pos, desc, strlen(desc));
  } else {
    /* the program as found, then the rest as described */
    put_quoted(buf, n, &pos, found);
    const char *rest = desc;
    char first[1024];
    size_t fpos = 0;
    first[0] = 0;
    put_quoted(first, sizeof first, &fpos, c->argv[0]);
    if (strncmp(desc, first, fpos) == 0) rest = desc + fpos;
    put(buf, n, &pos, rest, strlen(rest));
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Output */

static void append_output(struct gd_proc *pr, const char *p, size_t n) {
  if (n >= sizeof pr->out) {
    memcpy(pr->out, p + n - sizeof pr->out, sizeof pr->out);
    pr->truncated = pr->truncated || n > sizeof pr->out || pr->len > 0;
    pr->len = sizeof pr->out;
    return;
  }
  if (pr->len + n > sizeof pr->out) {
    size_t drop = pr->len + n - sizeof pr->out;
    memmove(pr->out, pr->out + drop, pr->len - drop);
    pr->len -= drop;
    pr->truncated = 1;
  }
  memcpy(pr->out + pr->len, p, n);
  pr->len += n;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  size_t len;
  unsigned min;
  unsigned cp;
  if (s[0] < 0x80) return 1;
  if ((s[0] & 0xe0) == 0xc0) { len = 2; cp = s[0] & 0x1f; min = 0x80; }
  else if ((s[0] & 0xf0) == 0xe0) { len = 3; cp = s[0] & 0x0f; min = 0x800; }
  else if ((s[0] & 0xf8) == 0xf0) { len = 4; cp = s[0] & 0x07; min = 0x10000; }
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/* Journals are JSON, so what goes into them must be valid UTF-8 even when a
 * command prints binary or the 4 KiB window starts mid-character. */
static size_t clean_output(const struct gd_proc *pr, char *dst) {
  const unsigned char *s = (const unsigned char *)pr->out;
  size_t n = pr->len, i = 0, o = 0;
  if (pr->truncated)
    while (i < n && i < 3 && (s[i] & 0xc0) == 0x80) i++;
  while (i < n) {
    size_t k = s[i] ? utf8_seq(s + i, n - i) : 0;
    if (k == 0) {
      dst[o++] = '?';
      i++;
      continue;
    }
    memcpy(dst + o, s + i, k);
    o += k;
    i += k;
  }
  dst[o] = 0;
  return o;
}

static void last_line(const char *s, size_t n, char *dst, size_t dn) {
  while (n > 0 && strchr(" \t\r\n\v\f", s[n - 1])) n--;
  size_t b = n;
  while (b > 0 && s[b - 1] != '\n' && s[b - 1] != '\r') b--;
  while (b < n && (s[b] == ' ' || s[b] == '\t')) b++;
  size_t len = n - b, o = 0;
  int cut = 0;
  if (len > LAST_LINE_MAX) {
    len = LAST_LINE_MAX;
    while (len > 0 && ((unsigned char)s[b + len] & 0xc0) == 0x80) len--;
    cut = 1;
  }
  for (size_t i = 0; i < len && o + 4 < dn; i++) {
    unsigned char ch = (unsigned char)s[b + i];
    dst[o++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
  }
  if (cut && o + 4 < dn) {
    memcpy(dst + o, "...", 3);
    o += 3;
  }
  dst[o] = 0;
}

/* ------------------------------------------------------------------ */
/* Process life */

static void on_close(uv_handle_t *h) {
  struct gd_proc *pr = h->data;
  if (--pr->open > 0) return;
  if (!pr->spawned) {
    free(pr);
    return;
  }
  char line[LAST_LINE_MAX + 8];
  struct gd_proc_result r = {
      .exit_status = pr->exit_status,
      .term_signal = pr->term_signal,
      .killed = pr->killed,
      .duration_ns = pr->end_ns - pr->start_ns,
      .truncated = pr->truncated,
  };
  r.output_len = clean_output(pr, pr->clean);
  r.output = pr->clean;
  last_line(pr->clean, r.output_len, line, sizeof line);
  r.last_line = line;
  pr->cb(pr, &r, pr->arg);
  free(pr);
}

static void close_pipe(struct gd_proc *pr) {
  if (!pr->pipe_active) return;
  pr->pipe_active = 0;
  uv_read_stop((uv_stream_t *)&pr->pipe);
  uv_close((uv_handle_t *)&pr->pipe, on_close);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct gd_proc *pr = h->data;
  (void)hint;
  *buf = uv_buf_init(pr->rbuf, sizeof pr->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  struct gd_proc *pr = st->data;
  if (nread > 0)
    append_output(pr, buf->base, (size_t)nread);
  else if (nread < 0)
    close_pipe(pr);
}

/* Whatever the process wrote is in the pipe by the time it has exited, but
 * the exit can be noticed before the read event. Children it left behind
 * may hold the pipe open for ever, so rather than wait for EOF read what is
 * there now (bounded, in case they keep writing) and close. */
static void drain_pipe(struct gd_proc *pr) {
  uv_os_fd_t fd;
  if (!pr->pipe_active) return;
  if (uv_fileno((uv_handle_t *)&pr->pipe, &fd) == 0) {
    for (int i = 0; i < 256; i++) {
      ssize_t k = read(fd, pr->rbuf, sizeof pr->rbuf);
      if (k > 0) {
        append_output(pr, pr->rbuf, (size_t)k);
        continue;
      }
      if (k < 0 && errno == EINTR) continue;
      break;
    }
  }
  close_pipe(pr);
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig) {
  struct gd_proc *pr = p->data;
  pr->exited = 1;
  pr->end_ns = uv_hrtime();
  pr->exit_status = status;
  pr->term_signal = sig;
  uv_close((uv_handle_t *)&pr->process, on_close);
  drain_pipe(pr);
}

/* environ with extra "NAME=value" entries replacing or adding to it;
 * malloc'd array of borrowed strings (free the array only). */
static char **merge_env(const char *const *extra) {
  extern char **environ;
  size_t n = 0, k = 0;
  while (environ[n]) n++;
  while (extra[k]) k++;
  char **env = calloc(n + k + 1, sizeof *env);
  if (!env) return NULL;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const char *eq = strchr(environ[i], '=');
    size_t len = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
    int replaced = 0;
    for (size_t j = 0; j < k && !replaced; j++)
      replaced = strncmp(environ[i], extra[j], len) == 0;
    if (!replaced) env[m++] = environ[i];
  }
  for (size_t j = 0; j < k; j++) env[m++] = (char *)extra[j];
  return env;
}

int gd_proc_spawn(uv_loop_t *loop, const struct gd_proc_cmd *cmd,
                  gd_proc_cb cb, void *arg, struct gd_proc **out,
                  struct gd_error *err) {
  return gd_proc_spawn_env(loop, cmd, NULL, cb, arg, out, err);
}

int gd_proc_spawn_env(uv_loop_t *loop, const struct gd_proc_cmd *cmd,
                      const char *const *extra_env, gd_proc_cb cb, void *arg,
                      struct gd_proc **out, struct gd_error *err) {
  char *sh_argv[] = {"/bin/sh", "-c", cmd->argv[0], NULL};
  char **argv = cmd->shell ? sh_argv : cmd->argv;
  uv_file fds[2];
  int r;

  /* libuv would report a bad cwd as if the program were missing */
  r = check_cwd(cmd, argv[0], err);
  if (r) return r;

  struct gd_proc *pr = calloc(1, sizeof *pr);
  if (!pr) return gd_error_set(err, GD_ENOMEM, "out of memory");
  pr->cb = cb;
  pr->arg = arg;
  pr->process.data = pr;
  pr->pipe.data = pr;

  r = uv_pipe(fds, 0, 0);
  if (r) {
    free(pr);
    return gd_error_set(err, GD_EIO, "cannot run '%s': pipe: %s", argv[0],
                        uv_strerror(r));
  }

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE; /* libuv puts /dev/null there */
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = fds[1];
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = fds[1];
  char **env = NULL;
  if (extra_env && extra_env[0] && !(env = merge_env(extra_env))) {
    close(fds[0]);
    close(fds[1]);
    free(pr);
    return gd_error_set(err, GD_ENOMEM, "out of memory");
  }
  uv_process_options_t opt = {
      .exit_cb = on_proc_exit,
      .file = argv[0],
      .args = argv,
      .env = env,
      .cwd = cmd->cwd,
      .flags = UV_PROCESS_DETACHED,
      .stdio_count = 3,
      .stdio = stdio,
  };

  pr->start_ns = uv_hrtime();
  r = uv_spawn(loop, &pr->process, &opt);
  free(env); /* uv_spawn has forked (or failed): the array is no longer read */
  close(fds[1]);
  pr->open = 1;
  if (r) {
    /* The handle is initialised even when uv_spawn fails and must be
     * closed; the close callback frees pr without calling cb. */
    close(fds[0]);
    uv_close((uv_handle_t *)&pr->process, on_close);
    return gd_error_set(err, GD_EIO, "cannot run '%s': %s", argv[0],
                        uv_strerror(r));
  }
  pr->spawned = 1;
  pr->pid = pr->process.pid;

  if (uv_pipe_init(loop, &pr->pipe, 0) == 0) {
    pr->open++;
    pr->pipe_active = 1;
    if (uv_pipe_open(&pr->pipe, fds[0]) != 0) {
      close(fds[0]);
      close_pipe(pr);
    } else if (uv_read_start((uv_stream_t *)&pr->pipe, on_alloc, on_read)) {
      close_pipe(pr);
    }
  } else {
    close(fds[0]);
  }
  if (out) *out = pr;
  return 0;
}

void gd_proc_kill(struct gd_proc *pr) {
  if (!pr || pr->exited || pr->killed) return;
  pr->killed = 1;
  if (kill(-pr->pid, SIGKILL) != 0) uv_process_kill(&pr->process, SIGKILL);
}

int gd_proc_pid(const struct gd_proc *pr) { return pr->pid; }

/* ------------------------------------------------------------------ */
/* Signal names */

static const struct {
  const char *name;
  int sig;
} signames[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},
    {"ILL", SIGILL},     {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},
    {"BUS", SIGBUS},     {"FPE", SIGFPE},       {"KILL", SIGKILL},
    {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},     {"TERM", SIGTERM},
#ifdef SIGSTKFLT
    {"STKFLT", SIGSTKFLT},
#endif
    {"CHLD", SIGCHLD},   {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},
    {"URG", SIGURG},     {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},   {"WINCH", SIGWINCH},
#ifdef SIGIO
    {"IO", SIGIO},
#endif
#ifdef SIGPWR
    {"PWR", SIGPWR},
#endif
    {"SYS", SIGSYS},
    /* aliases after the canonical names, so gd_signal_name finds those */
    {"IOT", SIGABRT},    {"CLD", SIGCHLD},
#ifdef SIGPOLL
    {"POLL", SIGPOLL},
#endif
};

#define NSIGNAMES (sizeof signames / sizeof signames[0])
#define SIG_NUM_MAX 64

static int parse_num(const char *s, long *out) {
  if (!*s) return -1;
  long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
    if (v > 1000) return -1;
  }
  *out = v;
  return 0;
}

int gd_signal_parse(const char *s) {
  long v;
  if (!s) return 0;
  if (parse_num(s, &v) == 0) return v >= 1 && v <= SIG_NUM_MAX ? (int)v : 0;
  if (strncasecmp(s, "SIG", 3) == 0) s += 3;
  for (size_t i = 0; i < NSIGNAMES; i++)
    if (strcasecmp(s, signames[i].name) == 0) return signames[i].sig;
#ifdef SIGRTMIN
  /* RTMIN, RTMIN+n, RTMAX, RTMAX-n */
  int base = 0, dir = 0;
  if (strncasecmp(s, "RTMIN", 5) == 0) base = SIGRTMIN, dir = 1;
  else if (strncasecmp(s, "RTMAX", 5) == 0) base = SIGRTMAX, dir = -1;
  if (dir) {
    s += 5;
    if (!*s) return base;
    if ((dir > 0 && *s != '+') || (dir < 0 && *s != '-')) return 0;
    if (parse_num(s + 1, &v) != 0) return 0;
    long sig = base + dir * v;
    if (sig < SIGRTMIN || sig > SIGRTMAX) return 0;
    return (int)sig;
  }
#endif
  return 0;
}

const char *gd_signal_name(int sig, char *buf, size_t n) {
  for (size_t i = 0; i < NSIGNAMES; i++)
    if (signames[i].sig == sig) {
      snprintf(buf, n, "SIG%s", signames[i].name);
      return buf;
    }
#ifdef SIGRTMIN
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
    if (sig == SIGRTMIN)
      snprintf(buf, n, "SIGRTMIN");
    else
      snprintf(buf, n, "SIGRTMIN+%d", sig - SIGRTMIN);
    return buf;
  }
#endif
  snprintf(buf, n, "SIG%d", sig);
  return buf;
}

#include "stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gdrun.h"
#include "testutil.h"

#define MAX_ARGS 16
/* Generous: "up" alone may take GAMEDAY_STACK_TIMEOUT (90 s) before it
 * gives up, and "down" up to 20 s per daemon that does not stop. */
#define RUN_TIMEOUT_MS 180000

const char *gd_stack_missing(void) {
  static const char *const progs[] = {
      "/usr/bin/etcd", "/usr/sbin/haproxy", "/usr/bin/supervisord",
      "/usr/bin/patroni", "/usr/lib/postgresql/15/bin/postgres",
      "/usr/bin/psql", "/usr/bin/curl", "/usr/bin/setpriv", NULL};
  for (const char *const *p = progs; *p; p++)
    if (access(*p, X_OK) != 0) return *p;
  /* The queue tier: Node and the stack's npm packages (npm ci). */
  if (system("command -v node >/dev/null 2>&1") != 0) return "node";
  static char mods[4096];
  snprintf(mods, sizeof mods, "%s",
           gd_test_src("scenarios/local/stack/queue/node_modules/fauxqs"));
  if (access(mods, R_OK) != 0) return mods;
  return NULL;
}

static int port_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

int gd_stack_free_base(void) {
  int slots = (60000 - 20000) / GD_STACK_SPAN;
  int first = (int)(getpid() % slots);
  for (int i = 0; i < slots; i++) {
    int base = 20000 + ((first + i) % slots) * GD_STACK_SPAN, ok = 1;
    for (int p = base; ok && p < base + GD_STACK_SPAN; p++) ok = port_free(p);
    if (ok) return base;
  }
  return 0;
}

int gd_stack_init(struct gd_stack *s) {
  memset(s, 0, sizeof *s);
  const char *bin = getenv("GD_BIN_DIR");
  if (bin && *bin && setenv("GAMEDAY_BIN_DIR", bin, 1) != 0) return -1;
  if (!(s->tmp = gd_test_tmpdir())) return -1;
  /* mkdtemp makes it 0700: the database account could not traverse it. */
  if (chmod(s->tmp, 0711) != 0) return -1;
  snprintf(s->dir, sizeof s->dir, "%s/stack", s->tmp);
  s->base = gd_stack_free_base();
  return s->base > 0 ? 0 : -1;
}

int gd_stack_run(struct gd_stack *s, char **out, const char *cmd, ...) {
  char script[4096], log[4096];
  snprintf(script, sizeof script, "%s",
           gd_test_src("scenarios/local/stack/stack.sh"));
  snprintf(log, sizeof log, "%s/stack-%02d-%s.log", s->tmp, ++s->nlog, cmd);
  char *argv[MAX_ARGS + 6] = {"/bin/bash", script, (char *)cmd, "--dir",
                              s->dir};
  size_t n = 5;
  va_list ap;
  va_start(ap, cmd);
  for (const char *a; (a = va_arg(ap, const char *)) && n < MAX_ARGS + 5;)
    argv[n++] = (char *)a;
  va_end(ap);
  argv[n] = NULL;
  pid_t pid = gd_test_spawn(argv, log);
  int rc = pid > 0 ? gd_test_wait(pid, RUN_TIMEOUT_MS) : -1;
  if (rc < 0 && pid > 0) gd_test_kill(pid);
  char *text = gd_test_read_file(log);
  if (out)
    *out = text ? text : strdup("");
  else
    free(text);
  return rc;
}

/* The value of a "NAME=value" line: shell-quoted values ('...') are
 * unquoted, as sourcing the file would. */
static char *line_value(const char *v, size_t len) {
  if (len >= 2 && v[0] == '\'' && v[len - 1] == '\'') {
    v++;
    len -= 2;
  }
  return strndup(v, len);
}

char *gd_stack_env(const struct gd_stack *s, const char *name) {
  char path[4200];
  snprintf(path, sizeof path, "%s/ports.env", s->dir);
  char *text = gd_test_read_file(path);
  if (!text) return NULL;
  size_t n = strlen(name);
  char *v = NULL;
  for (char *l = text; *l;) {
    size_t len = strcspn(l, "\n");
    if (len > n && strncmp(l, name, n) == 0 && l[n] == '=') {
      v = line_value(l + n + 1, len - n - 1);
      break;
    }
    l += len + (l[len] == '\n');
  }
  free(text);
  return v;
}

int gd_stack_port(const struct gd_stack *s, const char *name) {
  char *v = gd_stack_env(s, name), *end;
  if (!v) return -1;
  long p = strtol(v, &end, 10);
  int ok = end != v && !*end && p > 0 && p < 65536;
  free(v);
  return ok ? (int)p : -1;
}

char **gd_stack_vars(const struct gd_stack *s, size_t *n) {
  char path[4200];
  snprintf(path, sizeof path, "%s/ports.env", s->dir);
  char *text = gd_test_read_file(path);
  if (!text) return NULL;
  size_t cap = 64, k = 0;
  char **vars = calloc(cap, sizeof *vars);
  for (char *l = text; vars && *l;) {
    size_t len = strcspn(l, "\n");
    size_t nm = strspn(l, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
    if (nm > 0 && nm < len && l[nm] == '=') {
      char *v = line_value(l + nm + 1, len - nm - 1);
      char *kv = v ? malloc(nm + 1 + strlen(v) + 1) : NULL;
      if (kv) sprintf(kv, "%.*s=%s", (int)nm, l, v);
      free(v);
      if (k + 1 == cap) {
        char **nv = realloc(vars, 2 * cap * sizeof *nv);
        if (!nv) {
          free(kv);
          kv = NULL;
        } else {
          vars = nv;
          cap *= 2;
        }
      }
      if (!kv) {
        gd_stack_vars_free(vars, k);
        vars = NULL;
        break;
      }
      vars[k++] = kv;
    }
    l += len + (l[len] == '\n');
  }
  free(text);
  *n = vars ? k : 0;
  return vars;
}

void gd_stack_vars_free(char **vars, size_t n) {
  if (!vars) return;
  for (size_t i = 0; i < n; i++) free(vars[i]);
  free(vars);
}

long gd_stack_pid_in(const char *path) {
  char *text = gd_test_read_file(path);
  if (!text) return -1;
  char *end;
  long v = strtol(text, &end, 10);
  int ok = end != text && (*end == '\n' || *end == 0) && v > 0;
  free(text);
  return ok ? v : -1;
}

int gd_stack_alive(long pid) {
  if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) return 0;
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = 0;
  /* A zombie no longer runs; its parent may just not have reaped it yet.
   * The command name may hold ')' itself: the state follows the last one. */
  char *rp = strrchr(buf, ')');
  return !(rp && rp[1] == ' ' && rp[2] == 'Z');
}

void gd_stack_cleanup(struct gd_stack *s, int keep) {
  gd_stack_vars_free(s->vars, s->nvars);
  s->vars = NULL;
  s->nvars = 0;
  if (!s->tmp) return;
  if (keep)
    printf("\n    kept for inspection: %s", s->tmp);
  else
    gd_test_rmrf(s->tmp);
  free(s->tmp);
  s->tmp = NULL;
}

int gd_stack_up(struct gd_stack *s, char **out) {
  char base[16];
  snprintf(base, sizeof base, "%d", s->base);
  const char *bin = getenv("GD_BIN_DIR");
  return gd_stack_run(s, out, "up", "--base", base, "--bin",
                      bin && *bin ? bin : ".", NULL);
}

int gd_stack_test_up(struct gd_stack *s, char **out) {
  const char *missing = gd_stack_missing();
  if (missing) {
    s->skipped = 1;
    printf("\n    SKIPPED: %s is missing; install the stack's packages with "
           "scripts/deps.sh and its npm packages with npm ci --prefix "
           "scenarios/local/stack/queue ",
           missing);
    return -1;
  }
  CU_ASSERT_FATAL(gd_stack_init(s) == 0);
  char *text;
  int rc = gd_stack_up(s, &text);
  if (rc != 0) printf("\n    stack.sh up: exit %d\n%s", rc, text);
  if (rc != 0 || !out)
    free(text);
  else
    *out = text;
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  s->vars = gd_stack_vars(s, &s->nvars);
  if (!s->vars && out) {
    free(*out);
    *out = NULL;
  }
  CU_ASSERT_PTR_NOT_NULL_FATAL(s->vars);
  return 0;
}

int gd_stack_test_down(struct gd_stack *s, char **out) {
  if (!s->tmp) return -1;
  char *text;
  int rc = gd_stack_run(s, &text, "down", NULL);
  if (rc != 0) printf("\n    stack.sh down: exit %d\n%s", rc, text);
  if (out)
    *out = text;
  else
    free(text);
  CU_ASSERT_EQUAL(rc, 0);
  return 0;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gd_stack_gameday(struct gd_stack *s, struct gd_gdrun_args *a,
                     const struct gd_stack_gdrun *o, struct gd_gdrun *r) {
  char json[4200], junit[4200], log[4200];
  /* The label before a grows: its second argument, the first file. */
  char label[4200];
  snprintf(label, sizeof label, "%s", a->n > 1 ? a->v[1] : "gameday");
  int k = ++s->nrun;
  snprintf(json, sizeof json, "%s/%s-%02d.json", s->tmp, o->name, k);
  snprintf(junit, sizeof junit, "%s/%s-%02d.xml", s->tmp, o->name, k);
  snprintf(log, sizeof log, "%s/%s-%02d.log", s->tmp, o->name, k);
  for (size_t i = 0; i < s->nvars; i++) gd_gdrun_var(a, "%s", s->vars[i]);
  gd_gdrun_var(a, "stack_sh=%s", gd_test_src("scenarios/local/stack/stack.sh"));
  for (const char *const *v = o->vars; v && *v; v++) gd_gdrun_var(a, "%s", *v);
  gd_gdrun_arg(a, "--json");
  gd_gdrun_arg(a, "%s", json);
  if (o->junit) {
    gd_gdrun_arg(a, "--junit");
    gd_gdrun_arg(a, "%s", junit);
  }
  long long t0 = now_ms();
  /* Past the timeout, with a grace, SIGTERM aborts a run and still runs
   * its rollback (stack.sh up), which may take a while. */
  gd_gdrun(r, a->v,
           &(struct gd_gdrun_io){
               .out = log, .journal = json, .grace_ms = o->grace_ms},
           o->timeout_ms);
  gd_gdrun_args_free(a);
  printf("\n    %s: exit %d in %lld ms", label, r->status, now_ms() - t0);
  if (!r->journal) gd_gdrun_dump(r);
  return r->status;
}

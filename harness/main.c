/* gameday: the command line (DESIGN.md "Contracts"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <uv.h>

#include "gameday/check.h"
#include "gameday/curl.h"
#include "gameday/fileutil.h"
#include "gameday/reporter.h"
#include "gameday/run.h"
#include "gameday/scenario.h"

#define EXIT_USAGE 2

static const char usage[] =
    "usage: gameday run SCENARIO.json... [--var k=v] [--json FILE] [--junit FILE]\n"
    "                   [--out DIR] [--dry-run] [--yes] [--quiet]\n"
    "       gameday validate SCENARIO.json...\n"
    "       gameday plan SCENARIO.json...\n"
    "       gameday check FILE... [--var k=v] [--json FILE] [--junit FILE]\n"
    "                     [--out DIR] [--quiet]\n"
    "       gameday --help | --version\n";

static const char help_text[] =
    "gameday: scripted failure injection with recovery measured in milliseconds.\n"
    "\n"
    "Commands:\n"
    "  run        load, check the steady state, inject the fault, observe until\n"
    "             recovered, verify, roll back, report. Several scenarios run one\n"
    "             after another; the exit code is the worst verdict.\n"
    "  validate   check scenario files (keys, types, ranges, variables); touches\n"
    "             nothing.\n"
    "  plan       print what a run would do, resolving targets (which pid, which\n"
    "             instance) without changing anything; exit 3 when a fault\n"
    "             action would be refused by the safety rules.\n"
    "  check      pre-demo readiness: READY or NOT READY, injects nothing.\n"
    "             A readiness file (\"checks\": posture and security probes,\n"
    "             each evaluated once, with severity and remediation) and/or\n"
    "             scenarios (their steady state and fault targets only, as\n"
    "             --dry-run). Exit 0 ready (warnings allowed), 1 a check failed\n"
    "             or could not be made, 2 bad file, 3 interrupted.\n"
    "\n"
    "Options (run; --var, --json, --junit, --out and --quiet also for check,\n"
    "whose --out writes DIR/check.json and DIR/junit.xml):\n"
    "  --var k=v     set variable k (overrides the scenario's \"vars\"); repeatable;\n"
    "                also for validate and plan\n"
    "  --json FILE   write the JSON journal (gameday-journal/1) to FILE\n"
    "  --junit FILE  write JUnit XML (one testcase per threshold) to FILE\n"
    "  --out DIR     write DIR/<scenario>.json journals and DIR/junit.xml\n"
    "  --dry-run     preflight only: start probes, require the steady state, say\n"
    "                what the fault would do (targets resolved), inject nothing\n"
    "  --yes         do not ask before injecting into a non-local environment\n"
    "  --quiet       no live status or event lines, only the summary\n"
    "\n"
    "Exit codes: 0 every threshold met; 1 a threshold breached or recovery timed\n"
    "out; 2 invalid usage or scenario; 3 aborted (not steady, guard tripped,\n"
    "interrupted, fault failed) with rollbacks run.\n"
    "\n"
    "Signals: the first SIGINT/SIGTERM aborts the run and runs the rollback; a\n"
    "second one stops waiting for the rollback (journal: rollback incomplete).\n"
    "Environment: NO_COLOR disables colours; ${env:NAME} in scenarios reads NAME.\n"
    "AWS kinds take credentials and region as the AWS SDKs do (AWS_PROFILE,\n"
    "~/.aws/config and credentials, AWS_ACCESS_KEY_ID..., AWS_REGION, container\n"
    "and instance metadata) and endpoints from AWS_ENDPOINT_URL[_<SERVICE>].\n";

struct opts {
  const char *cmd;
  const char **files;
  size_t nfiles;
  struct gd_var *vars;
  size_t nvars;
  const char *json, *junit, *out;
  int dry_run, yes, quiet;
};

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "gameday: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s(see gameday --help)\n", usage);
  return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  o->files = calloc((size_t)argc, sizeof *o->files);
  o->vars = calloc((size_t)argc, sizeof *o->vars);
  if (!o->files || !o->vars) return usage_error("%s", "out of memory");
  o->cmd = argv[1];
  int only_files = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (only_files || a[0] != '-' || !strcmp(a, "-")) {
      o->files[o->nfiles++] = a;
      continue;
    }
    if (!strcmp(a, "--")) {
      only_files = 1;
      continue;
    }
    const char *val = NULL;
    const char *eq = strchr(a, '=');
    char name[32];
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    if (nlen >= sizeof name) return usage_error("unknown option '%s'", a);
    memcpy(name, a, nlen);
    name[nlen] = 0;
    int takes = !strcmp(name, "--var") || !strcmp(name, "--json") ||
                !strcmp(name, "--junit") || !strcmp(name, "--out");
    if (takes) {
      if (eq)
        val = eq + 1;
      else if (i + 1 < argc)
        val = argv[++i];
      else
        return usage_error("option '%s' needs a value", name);
    } else if (eq) {
      return usage_error("option '%s' takes no value", name);
    }
    if (!strcmp(name, "--var")) {
      const char *e = strchr(val, '=');
      if (!e || e == val) return usage_error("--var '%s': expected name=value", val);
      char *n = strndup(val, (size_t)(e - val));
      if (!n) return usage_error("%s", "out of memory");
      o->vars[o->nvars].name = n;
      o->vars[o->nvars].value = e + 1;
      o->nvars++;
    } else if (!strcmp(name, "--json")) {
      o->json = val;
    } else if (!strcmp(name, "--junit")) {
      o->junit = val;
    } else if (!strcmp(name, "--out")) {
      o->out = val;
    } else if (!strcmp(name, "--dry-run")) {
      o->dry_run = 1;
    } else if (!strcmp(name, "--yes") || !strcmp(name, "-y")) {
      o->yes = 1;
    } else if (!strcmp(name, "--quiet") || !strcmp(name, "-q")) {
      o->quiet = 1;
    } else {
      return usage_error("unknown option '%s'", a);
    }
  }
  int is_run = !strcmp(o->cmd, "run"), is_check = !strcmp(o->cmd, "check");
  if (is_check && (o->dry_run || o->yes))
    return usage_error("options --dry-run and --yes are for 'run', not '%s' "
                       "(check never injects)", o->cmd);
  if (!is_run && !is_check &&
      (o->json || o->junit || o->out || o->dry_run || o->yes || o->quiet))
    return usage_error("options --json, --junit, --out, --dry-run, --yes and --quiet "
                       "are for 'run', not '%s'", o->cmd);
  if (o->nfiles == 0) return usage_error("'%s' needs at least one scenario file", o->cmd);
  return 0;
}

static void free_opts(struct opts *o) {
  for (size_t i = 0; i < o->nvars; i++) free((char *)o->vars[i].name);
  free(o->vars);
  free(o->files);
}

/* Loads every file first: an invalid one stops everything before any run. */
static int load_all(const struct opts *o, struct gd_scenario ***out) {
  struct gd_scenario **sc = calloc(o->nfiles, sizeof *sc);
  if (!sc) return EXIT_USAGE;
  int bad = 0;
  for (size_t i = 0; i < o->nfiles; i++) {
    struct gd_error err = {0};
    if (gd_scenario_load(o->files[i], o->vars, o->nvars, &sc[i], &err)) {
      fprintf(stderr, "gameday: %s\n", err.msg);
      bad = 1;
    }
  }
  *out = sc;
  return bad ? EXIT_USAGE : 0;
}

static void free_all(struct gd_scenario **sc, size_t n) {
  for (size_t i = 0; sc && i < n; i++) gd_scenario_free(sc[i]);
  free(sc);
}

static int cmd_validate(const struct opts *o) {
  struct gd_scenario **sc;
  int rc = load_all(o, &sc);
  for (size_t i = 0; i < o->nfiles; i++)
    if (sc[i] && sc[i]->readiness)
      printf("ok: %s (%s): readiness file, %zu check(s)\n", o->files[i],
             sc[i]->name, sc[i]->nprobes);
    else if (sc[i])
      printf("ok: %s (%s): %zu probe(s), %zu fault action(s), %zu threshold(s)\n",
             o->files[i], sc[i]->name, sc[i]->nprobes, sc[i]->nfault,
             sc[i]->nthresholds);
  free_all(sc, o->nfiles);
  return rc;
}

/* Plan resolves the targets of kinds that need the network (AWS) by running
 * them in dry-run mode on a loop of its own: they look up, apply the safety
 * rules and change nothing. */
struct plan_dry {
  uv_loop_t loop;
  struct gd_action *a;
  struct gd_curl *curl;
  uv_timer_t timer;
  int timed_out;
};

static void plan_dry_done(struct gd_action *a, void *arg) {
  struct plan_dry *pd = arg;
  (void)a;
  uv_timer_stop(&pd->timer);
}

static void plan_dry_timeout(uv_timer_t *t) {
  struct plan_dry *pd = t->data;
  pd->timed_out = 1;
  gd_action_cancel(pd->a);
}

static void plan_dry_closed(uv_handle_t *h) { (void)h; }
static void plan_curl_closed(void *arg) { (void)arg; }

/* Returns 0 when it resolved, 1 when it would be refused or failed. */
static int plan_dry_run(struct gd_action *a, const struct gd_scenario *sc,
                        char *buf, size_t n) {
  struct plan_dry pd = {.a = a};
  struct gd_error err = {0};
  int bad = 1;
  if (uv_loop_init(&pd.loop)) {
    snprintf(buf, n, "cannot resolve: cannot start an event loop");
    return 1;
  }
  uv_timer_init(&pd.loop, &pd.timer);
  pd.timer.data = &pd;
  if (gd_curl_new(&pd.loop, &pd.curl, &err)) {
    snprintf(buf, n, "cannot resolve: %s", err.msg);
  } else {
    a->sc = sc;
    a->run = NULL;
    a->dry_run = 1;
    uv_timer_start(&pd.timer, plan_dry_timeout, a->timeout_ns / 1000000u, 0);
    if (gd_action_run(a, &pd.loop, pd.curl, plan_dry_done, &pd, &err)) {
      uv_timer_stop(&pd.timer);
      snprintf(buf, n, "cannot resolve: %s", err.msg);
    } else {
      uv_run(&pd.loop, UV_RUN_DEFAULT);
      if (pd.timed_out)
        snprintf(buf, n, "cannot resolve: no answer within %llu ms",
                 (unsigned long long)(a->timeout_ns / 1000000u));
      else if (!a->ok)
        snprintf(buf, n, "REFUSED: %s", a->message ? a->message : "failed");
      else
        snprintf(buf, n, "%s", a->message ? a->message : "resolved");
      bad = pd.timed_out || !a->ok;
    }
    a->dry_run = 0;
    gd_curl_close(pd.curl, plan_curl_closed, NULL);
  }
  uv_close((uv_handle_t *)&pd.timer, plan_dry_closed);
  uv_run(&pd.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&pd.loop) != 0)
    fprintf(stderr, "gameday: internal error: handles left open after plan\n");
  return bad;
}

static int plan_actions(const char *title, struct gd_action *a, size_t n,
                        const struct gd_scenario *sc) {
  int bad = 0;
  printf("%s:%s\n", title, n ? "" : " none");
  for (size_t i = 0; i < n; i++) {
    char desc[2048] = "", res[2048] = "";
    if (a[i].ops->describe) a[i].ops->describe(&a[i], desc, sizeof desc);
    printf("  %s %s (%s, timeout %llu ms): %s\n", a[i].path, a[i].name,
           a[i].ops->type, (unsigned long long)(a[i].timeout_ns / 1000000u), desc);
    if (a[i].ops->dry_run) {
      bad |= plan_dry_run(&a[i], sc, res, sizeof res);
      printf("      now: %s\n", res);
    } else if (a[i].ops->resolve) {
      struct gd_error err = {0};
      if (a[i].ops->resolve(&a[i], res, sizeof res, &err))
        printf("      now: cannot resolve: %s\n", err.msg);
      else
        printf("      now: %s\n", res);
    }
  }
  return bad;
}

static void plan_set(const struct gd_scenario *sc, const struct gd_probe_set *s) {
  for (size_t i = 0; i < s->n; i++)
    printf("%s%s", i ? ", " : "", sc->probes[s->idx[i]].name);
}

static int no_readiness(const struct opts *o, struct gd_scenario **sc);

static int cmd_plan(const struct opts *o) {
  struct gd_scenario **sc;
  int rc = load_all(o, &sc);
  if (rc || (rc = no_readiness(o, sc))) {
    free_all(sc, o->nfiles);
    return rc;
  }
  int refused = 0;
  for (size_t k = 0; k < o->nfiles; k++) {
    const struct gd_scenario *s = sc[k];
    printf("%sscenario %s (%s), environment %s\n", k ? "\n" : "", s->name, s->file,
           s->environment);
    if (s->nrequired_tags) {
      printf("safety: every target must carry");
      for (size_t i = 0; i < s->nrequired_tags; i++)
        printf(" %s=%s", s->required_tags[i].key, s->required_tags[i].value);
      if (gd_scenario_max_targets(s) != SIZE_MAX)
        printf("; at most %zu target(s) per action", gd_scenario_max_targets(s));
      printf("\n");
    }
    if (s->description[0]) printf("  %s\n", s->description);
    printf("probes:\n");
    for (size_t i = 0; i < s->nprobes; i++) {
      char desc[512] = "";
      const struct gd_probe *p = &s->probes[i];
      if (p->ops->describe) p->ops->describe(p, desc, sizeof desc);
      printf("  %s (%s) every %llu ms, timeout %llu ms, max %u in flight: %s\n",
             p->name, p->ops->type, (unsigned long long)(p->interval_ns / 1000000u),
             (unsigned long long)(p->timeout_ns / 1000000u), p->max_inflight, desc);
    }
    printf("guards: ");
    if (s->guards.n) plan_set(s, &s->guards); else printf("none");
    printf("\nsteady state: ");
    plan_set(s, &s->steady);
    printf(" healthy for %llu ms (give up after %llu ms)\n",
           (unsigned long long)(s->steady_for_ns / 1000000u),
           (unsigned long long)(s->steady_timeout_ns / 1000000u));
    /* Only the fault list decides the exit code: verify and rollback
     * targets may rightly not exist before the run (a cluster the fault
     * creates). */
    if (plan_actions("fault (t0 = the first one)", s->fault, s->nfault, s))
      refused = 1;
    printf("recovery: ");
    plan_set(s, &s->recovery);
    printf(" stable for %llu ms, within %llu ms of t0\n",
           (unsigned long long)(s->stable_ns / 1000000u),
           (unsigned long long)(s->recovery_timeout_ns / 1000000u));
    plan_actions("verify", s->verify, s->nverify, s);
    plan_actions("rollback (always runs)", s->rollback, s->nrollback, s);
    printf("thresholds:%s\n", s->nthresholds ? "" : " none");
    for (size_t i = 0; i < s->nthresholds; i++)
      printf("  %s %s %g\n", s->thresholds[i].name,
             s->thresholds[i].at_least ? ">=" : "<=", s->thresholds[i].limit);
  }
  free_all(sc, o->nfiles);
  if (refused)
    fprintf(stderr, "gameday: plan: a fault action would be refused or could "
                    "not be resolved (see 'now:' above)\n");
  return refused ? 3 : 0;
}

/* Injecting into anything but the local stack needs a yes: --yes, or the
 * environment's name typed at a prompt. */
static int confirm(const struct opts *o, struct gd_scenario **sc) {
  if (o->yes || o->dry_run) return 0;
  for (size_t i = 0; i < o->nfiles; i++) {
    if (!strcmp(sc[i]->environment, "local")) continue;
    if (!isatty(STDIN_FILENO)) {
      fprintf(stderr,
              "gameday: %s: scenario '%s' injects faults into environment '%s'; "
              "pass --yes to run it without a prompt\n",
              sc[i]->file, sc[i]->name, sc[i]->environment);
      return EXIT_USAGE;
    }
    fprintf(stderr, "scenario '%s' will inject faults into environment '%s'.\n"
                    "type the environment name to go on: ",
            sc[i]->name, sc[i]->environment);
    char line[256];
    if (!fgets(line, sizeof line, stdin)) return EXIT_USAGE;
    line[strcspn(line, "\r\n")] = 0;
    if (strcmp(line, sc[i]->environment)) {
      fprintf(stderr, "gameday: not confirmed; nothing was done\n");
      return EXIT_USAGE;
    }
  }
  return 0;
}

/* A readiness file is for check only: run and plan say so. */
static int no_readiness(const struct opts *o, struct gd_scenario **sc) {
  for (size_t i = 0; i < o->nfiles; i++)
    if (sc[i] && sc[i]->readiness) {
      fprintf(stderr, "gameday: %s: a readiness file (\"checks\"); use "
                      "'gameday check %s'\n", o->files[i], o->files[i]);
      return EXIT_USAGE;
    }
  return 0;
}

static int cmd_check(const struct opts *o) {
  struct gd_scenario **sc;
  int rc = load_all(o, &sc);
  if (rc) {
    free_all(sc, o->nfiles);
    return rc;
  }
  struct gd_error err = {0};
  char json_path[4096] = "", junit_path[4096] = "";
  if (o->out) {
    if (gd_mkdir_p(o->out, &err)) {
      fprintf(stderr, "gameday: %s\n", err.msg);
      free_all(sc, o->nfiles);
      return EXIT_USAGE;
    }
    snprintf(json_path, sizeof json_path, "%s/check.json", o->out);
    snprintf(junit_path, sizeof junit_path, "%s/junit.xml", o->out);
  }
  if (o->json) snprintf(json_path, sizeof json_path, "%s", o->json);
  if (o->junit) snprintf(junit_path, sizeof junit_path, "%s", o->junit);

  struct gd_check_report rep;
  gd_check_report_init(&rep);
  uv_loop_t loop;
  int worst = 0;
  if (uv_loop_init(&loop) != 0) {
    fprintf(stderr, "gameday: cannot start the event loop\n");
    free_all(sc, o->nfiles);
    return 3;
  }
  if (gd_signals_install(&loop, &err)) {
    fprintf(stderr, "gameday: %s\n", err.msg);
    worst = 3;
  }
  const char *nc = getenv("NO_COLOR");
  int color = isatty(STDOUT_FILENO) && !(nc && nc[0]);
  struct gd_run_options ropt = {.dry_run = 1, .quiet = 1};
  for (size_t i = 0; worst == 0 && i < o->nfiles; i++) {
    if (gd_signals_count() > 0) {
      rep.interrupted = 1;
      break;
    }
    if (!o->quiet)
      printf("checking %s (%s)...\n", sc[i]->name, o->files[i]);
    if (sc[i]->readiness) {
      if (gd_check_readiness(&rep, sc[i], &loop, &err)) {
        fprintf(stderr, "gameday: %s: %s\n", o->files[i], err.msg);
        worst = 3;
      }
    } else {
      /* A scenario: its dry run is exactly "what run would do before
       * injecting", then it stops. */
      struct gd_run run = {0};
      if (gd_run_scenario(&run, sc[i], &ropt, &loop, NULL, 0, &err)) {
        fprintf(stderr, "gameday: %s: %s\n", o->files[i], err.msg);
        worst = 3;
      } else if (gd_check_add_run(&rep, &run)) {
        worst = 3;
      }
      gd_run_free(&run);
    }
  }
  gd_signals_close();
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "gameday: internal error: handles left open at exit\n");
    worst = 3;
  }
  gd_check_print(&rep, stdout, color);
  if (json_path[0] && gd_check_write_json(&rep, json_path, &err)) {
    fprintf(stderr, "gameday: %s\n", err.msg);
    worst = 3;
  }
  if (junit_path[0] && gd_check_write_junit(&rep, junit_path, &err)) {
    fprintf(stderr, "gameday: %s\n", err.msg);
    worst = 3;
  }
  if (worst == 0) worst = rep.interrupted ? 3 : gd_check_ready(&rep) ? 0 : 1;
  gd_check_report_free(&rep);
  free_all(sc, o->nfiles);
  return worst;
}

static int cmd_run(const struct opts *o) {
  struct gd_scenario **sc;
  int rc = load_all(o, &sc);
  if (rc || (rc = no_readiness(o, sc)) || (rc = confirm(o, sc))) {
    free_all(sc, o->nfiles);
    return rc;
  }
  struct gd_error derr = {0};
  if (o->out && gd_mkdir_p(o->out, &derr)) {
    fprintf(stderr, "gameday: %s\n", derr.msg);
    free_all(sc, o->nfiles);
    return EXIT_USAGE;
  }
  char junit_path[4096] = "";
  if (o->out) snprintf(junit_path, sizeof junit_path, "%s/junit.xml", o->out);

  struct gd_reporter rep[4];
  struct gd_reporter *reps[4];
  size_t nrep = 0;
  memset(rep, 0, sizeof rep);
  const char *nc = getenv("NO_COLOR");
  int tty = isatty(STDOUT_FILENO);
  rep[nrep] = (struct gd_reporter){.ops = &gd_reporter_console, .out = stdout,
                                   .quiet = o->quiet,
                                   .color = tty && !(nc && nc[0]),
                                   .live = tty && !o->quiet};
  nrep++;
  if (o->json || o->out) {
    rep[nrep] = (struct gd_reporter){.ops = &gd_reporter_journal, .path = o->json,
                                     .dir = o->out};
    nrep++;
  }
  if (o->junit) {
    rep[nrep] = (struct gd_reporter){.ops = &gd_reporter_junit, .path = o->junit};
    nrep++;
  }
  if (o->out) {
    rep[nrep] = (struct gd_reporter){.ops = &gd_reporter_junit, .path = junit_path};
    nrep++;
  }
  int worst = 0;
  size_t opened = 0;
  for (; opened < nrep; opened++) {
    reps[opened] = &rep[opened];
    struct gd_error err = {0};
    if (rep[opened].ops->open && rep[opened].ops->open(&rep[opened], &err)) {
      fprintf(stderr, "gameday: %s\n", err.msg);
      worst = EXIT_USAGE;
      break;
    }
  }

  uv_loop_t loop;
  struct gd_run *runs = calloc(o->nfiles, sizeof *runs);
  struct gd_run_options ropt = {.dry_run = o->dry_run, .quiet = o->quiet, .yes = o->yes};
  if (worst == 0 && runs && uv_loop_init(&loop) == 0) {
    struct gd_error err = {0};
    if (gd_signals_install(&loop, &err)) {
      fprintf(stderr, "gameday: %s\n", err.msg);
      worst = 3;
    }
    for (size_t i = 0; worst != 3 && i < o->nfiles; i++) {
      if (gd_signals_count() > 0) {
        fprintf(stderr, "gameday: interrupted: %zu scenario(s) not run\n", o->nfiles - i);
        break;
      }
      if (gd_run_scenario(&runs[i], sc[i], &ropt, &loop, reps, nrep, &err)) {
        fprintf(stderr, "gameday: %s\n", err.msg);
        if (worst < 3) worst = 3;
        break;
      }
      int code = gd_verdict_exit_code(runs[i].verdict);
      if (code > worst) worst = code;
    }
    for (size_t i = 0; i < nrep; i++) {
      struct gd_error e2 = {0};
      if (rep[i].ops->close && rep[i].ops->close(&rep[i], &e2)) {
        fprintf(stderr, "gameday: %s\n", e2.msg);
        if (worst < 3) worst = 3;
      }
    }
    gd_signals_close();
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
      fprintf(stderr, "gameday: internal error: handles left open at exit\n");
      if (worst < 3) worst = 3;
    }
  } else if (worst == 0) {
    fprintf(stderr, "gameday: cannot start the event loop\n");
    worst = 3;
  }
  for (size_t i = 0; i < nrep; i++)
    if (rep[i].ops->free) rep[i].ops->free(&rep[i]);
  for (size_t i = 0; runs && i < o->nfiles; i++) gd_run_free(&runs[i]);
  free(runs);
  free_all(sc, o->nfiles);
  return worst;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return EXIT_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    fputs(usage, stdout);
    fputs("\n", stdout);
    fputs(help_text, stdout);
    char kinds[2048];
    printf("\nProbe kinds: %s\n", gd_probe_kind_names(kinds, sizeof kinds));
    printf("Action kinds: %s\n", gd_action_kind_names(kinds, sizeof kinds));
    printf("Scenario format, figures and journal: README.md and DESIGN.md.\n");
    return 0;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    printf("gameday %s (libuv %s, %s)\n", GAMEDAY_VERSION, uv_version_string(),
           curl_version());
    return 0;
  }
  if (strcmp(argv[1], "run") && strcmp(argv[1], "validate") &&
      strcmp(argv[1], "plan") && strcmp(argv[1], "check"))
    return usage_error("unknown command '%s'", argv[1]);
  struct opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc == 0) {
    if (!strcmp(o.cmd, "run"))
      rc = cmd_run(&o);
    else if (!strcmp(o.cmd, "validate"))
      rc = cmd_validate(&o);
    else if (!strcmp(o.cmd, "check"))
      rc = cmd_check(&o);
    else
      rc = cmd_plan(&o);
  }
  free_opts(&o);
  return rc;
}

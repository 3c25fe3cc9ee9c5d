/* The queue.reconcile action with ledgers and worker logs written by the
 * test: counting (processed, missing, duplicated, lines of other runs),
 * exactly_once, the settle time (a line that arrives while it waits, and a
 * message that never does), a last line still being written, errors that
 * name the file and line, bad keys at load time, the figures it publishes,
 * and cancel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "proberun.h"
#include "testutil.h"

static char *tmp;

static const char *P(const char *name) {
  static char buf[4][4096];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
  return buf[k];
}

static cJSON *J(const char *s) {
  char *t = strdup(s);
  for (char *p = t; *p; p++)
    if (*p == '\'') *p = '"';
  cJSON *j = cJSON_Parse(t);
  free(t);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  return j;
}

struct run {
  struct gd_action a;
  uv_loop_t loop;
  uv_timer_t side; /* cancels, or appends a line, at a given time */
  int side_cancel;
  const char *side_file, *side_line;
  int calls;
  int open_at_done;
  uint64_t t_start, t_done;
};

static void count_open(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) (*(int *)arg)++;
}

static void on_done(struct gd_action *a, void *arg) {
  struct run *r = arg;
  (void)a;
  r->calls++;
  r->t_done = uv_hrtime();
  if (!uv_is_closing((uv_handle_t *)&r->side))
    uv_close((uv_handle_t *)&r->side, NULL);
  r->open_at_done = 0;
  uv_walk(&r->loop, count_open, &r->open_at_done);
}

static void append(const char *path, const char *text) {
  FILE *f = fopen(path, "a");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

static void on_side(uv_timer_t *t) {
  struct run *r = t->data;
  if (r->side_cancel)
    gd_action_cancel(&r->a);
  else
    append(r->side_file, r->side_line);
}

/* Spec with ' for "; %s is the test directory (as often as needed). */
static void init(struct run *r, const char *fmt) {
  char text[4096];
  struct gd_error err = {0};
  memset(r, 0, sizeof *r);
  snprintf(text, sizeof text, fmt, tmp, tmp, tmp);
  cJSON *j = J(text);
  int rc = gd_action_init(&r->a, j, "verify[0]", &err);
  cJSON_Delete(j);
  if (rc) printf("\n    init: %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
}

/* Runs r->a once; side_ms >= 0 fires the side timer then. */
static void run_once(struct run *r, int side_ms) {
  struct gd_error err = {0};
  r->calls = 0;
  CU_ASSERT_EQUAL_FATAL(uv_loop_init(&r->loop), 0);
  uv_timer_init(&r->loop, &r->side);
  r->side.data = r;
  if (side_ms >= 0) uv_timer_start(&r->side, on_side, (uint64_t)side_ms, 0);
  r->t_start = uv_hrtime();
  int rc = gd_action_run(&r->a, &r->loop, NULL, on_done, r, &err);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc) {
    printf("\n    run: %s\n", err.msg);
    uv_close((uv_handle_t *)&r->side, NULL);
  }
  /* done is never called from within run */
  CU_ASSERT_EQUAL(r->calls, 0);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(uv_loop_close(&r->loop), 0);
  if (!rc) {
    CU_ASSERT_EQUAL(r->calls, 1);
    CU_ASSERT_EQUAL(r->open_at_done, 0);
  }
}

static double ms(const struct run *r) {
  return (double)(r->t_done - r->t_start) / 1e6;
}

static double figure(const struct gd_action *a, const char *name) {
  for (unsigned i = 0; i < a->nfigures; i++)
    if (strcmp(a->figures[i].name, name) == 0) return a->figures[i].value;
  return NAN;
}

static double detail(const struct gd_action *a, const char *key) {
  const cJSON *v = cJSON_GetObjectItem(a->detail, key);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void reset_files(void) {
  gd_test_rmrf(tmp);
  free(tmp);
  tmp = gd_test_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
}

static const char spec_default[] =
    "{'type':'queue.reconcile','sent':'%s/sent.ledger',"
    "'processed':'%s/w-*.log','settle_ms':0}";

static void all_processed_with_duplicates(void) {
  reset_files();
  gd_test_write_file(P("sent.ledger"), "1\tid-a\n2\tid-b\n3\tid-c\n4\tid-d\n");
  /* Two workers; id-c twice (redelivered), a line of an earlier run. */
  gd_test_write_file(P("w-1.log"), "id-a\tbody 1\nid-c\tbody 3\nold-x\tx\n");
  gd_test_write_file(P("w-2.log"),
                     "id-b\tbody 2\nid-d\tbody 4\nid-c\tbody 3\n");
  gd_test_write_file(P("other.log"), "id-zz\tnot matched by the glob\n");
  struct run r;
  init(&r, spec_default);
  run_once(&r, -1);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  GD_ASSERT_STR(r.a.message, "4 sent, 4 processed, 0 missing, 1 duplicated");
  CU_ASSERT_EQUAL(figure(&r.a, "messages_sent"), 4);
  CU_ASSERT_EQUAL(figure(&r.a, "messages_processed"), 4);
  CU_ASSERT_EQUAL(figure(&r.a, "messages_missing"), 0);
  CU_ASSERT_EQUAL(figure(&r.a, "messages_duplicated"), 1);
  CU_ASSERT_EQUAL(detail(&r.a, "files"), 2);
  CU_ASSERT_EQUAL(detail(&r.a, "lines"), 6);
  CU_ASSERT_EQUAL(detail(&r.a, "other_lines"), 1);
  /* Nothing was missing: no waiting. */
  CU_ASSERT(ms(&r) < 200);
  gd_action_free(&r.a);

  /* The same files, exactly once required: the duplicate fails it. */
  init(&r,
       "{'type':'queue.reconcile','sent':'%s/sent.ledger',"
       "'processed':'%s/w-*.log','exactly_once':true}");
  run_once(&r, -1);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  GD_ASSERT_STR(r.a.message,
                "4 sent, 4 processed, 0 missing, 1 duplicated "
                "(exactly once required)");
  CU_ASSERT_EQUAL(figure(&r.a, "messages_duplicated"), 1);
  gd_action_free(&r.a);
}

static void missing_after_settle(void) {
  reset_files();
  gd_test_write_file(P("sent.ledger"),
                     "1\tid-a\n2\tid-b\n3\tid-c\n4\tid-d\n5\tid-e\n");
  /* id-b and id-d never processed; the last line has no newline yet (a
   * worker mid-write) and does not count. */
  gd_test_write_file(P("w-1.log"), "id-a\t1\nid-c\t3\nid-e\t5");
  struct run r;
  init(&r,
       "{'type':'queue.reconcile','sent':'%s/sent.ledger',"
       "'processed':'%s/w-*.log','settle_ms':600}");
  run_once(&r, -1);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  GD_ASSERT_STR(r.a.message,
                "5 sent, 2 processed, 3 missing, 0 duplicated (first "
                "missing: seq 2 (id id-b), seq 4 (id id-d), seq 5 (id id-e))");
  CU_ASSERT_EQUAL(figure(&r.a, "messages_missing"), 3);
  CU_ASSERT_EQUAL(figure(&r.a, "messages_processed"), 2);
  /* It waited the settle time, re-reading, and no longer. */
  CU_ASSERT(ms(&r) >= 600);
  CU_ASSERT(ms(&r) < 1500);
  CU_ASSERT(detail(&r.a, "reads") >= 3);
  const cJSON *miss = cJSON_GetObjectItem(r.a.detail, "missing");
  CU_ASSERT_EQUAL(cJSON_GetArraySize(miss), 3);
  GD_ASSERT_STR(cJSON_GetStringValue(
                    cJSON_GetObjectItem(cJSON_GetArrayItem(miss, 0), "id")),
                "id-b");
  gd_action_free(&r.a);
}

static void arrives_while_settling(void) {
  reset_files();
  gd_test_write_file(P("sent.ledger"), "1\tid-a\n2\tid-b\n");
  gd_test_write_file(P("w-1.log"), "id-a\t1\n");
  struct run r;
  init(&r,
       "{'type':'queue.reconcile','sent':'%s/sent.ledger',"
       "'processed':'%s/w-*.log','settle_ms':5000}");
  /* The last message is logged 400 ms in, by a worker whose log did not
   * exist at the first read. */
  r.side_file = P("w-2.log");
  r.side_line = "id-b\t2\n";
  run_once(&r, 400);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  GD_ASSERT_STR(r.a.message, "2 sent, 2 processed, 0 missing, 0 duplicated");
  CU_ASSERT(ms(&r) >= 400);
  CU_ASSERT(ms(&r) < 2000); /* done at the next read, not at settle_ms */
  gd_action_free(&r.a);
}

static void nothing_processed(void) {
  reset_files();
  gd_test_write_file(P("sent.ledger"), "1\tid-a\n");
  struct run r;
  init(&r, spec_default); /* no log matches the glob: all missing */
  run_once(&r, -1);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_EQUAL(figure(&r.a, "messages_missing"), 1);
  CU_ASSERT_EQUAL(detail(&r.a, "files"), 0);
  gd_action_free(&r.a);

  /* An empty ledger: nothing sent, nothing missing. */
  gd_test_write_file(P("sent.ledger"), "");
  init(&r, spec_default);
  run_once(&r, -1);
  CU_ASSERT_EQUAL(r.a.ok, 1);
  GD_ASSERT_STR(r.a.message, "0 sent, 0 processed, 0 missing, 0 duplicated");
  gd_action_free(&r.a);
}

static void bad_files(void) {
  reset_files();
  struct run r;
  char want[4200];
  init(&r, spec_default);
  run_once(&r, -1); /* no ledger at all */
  CU_ASSERT_EQUAL(r.a.ok, 0);
  snprintf(want, sizeof want,
           "sent: cannot read '%s/sent.ledger': No such file or directory",
           tmp);
  GD_ASSERT_STR(r.a.message, want);
  CU_ASSERT_EQUAL(r.a.nfigures, 0); /* nothing to count: no figures */
  gd_action_free(&r.a);

  gd_test_write_file(P("sent.ledger"), "1\tid-a\nid-b\n");
  init(&r, spec_default);
  run_once(&r, -1);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  snprintf(want, sizeof want,
           "sent: '%s/sent.ledger' line 2: expected 'seq<TAB>MessageId'", tmp);
  GD_ASSERT_STR(r.a.message, want);
  gd_action_free(&r.a);

  gd_test_write_file(P("sent.ledger"), "x1\tid-a\n");
  init(&r, spec_default);
  run_once(&r, -1);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.a.message, "line 1: expected"));
  gd_action_free(&r.a);
}

static void cancel(void) {
  reset_files();
  gd_test_write_file(P("sent.ledger"), "1\tid-a\n");
  struct run r;
  init(&r,
       "{'type':'queue.reconcile','sent':'%s/sent.ledger',"
       "'processed':'%s/w-*.log','settle_ms':10000}");
  r.side_cancel = 1;
  run_once(&r, 300);
  CU_ASSERT_EQUAL(r.a.ok, 0);
  CU_ASSERT_EQUAL(r.a.cancelled, 1);
  /* The timer counts from the loop's time at init, a hair before t_start. */
  CU_ASSERT(ms(&r) >= 250 && ms(&r) < 1500);
  CU_ASSERT_EQUAL(strncmp(r.a.message, "cancelled: 1 sent, 0 processed", 30),
                  0);
  gd_action_free(&r.a);
}

static void bad_keys(void) {
  static const struct {
    const char *spec, *msg;
  } cases[] = {
      {"{'type':'queue.reconcile','processed':'/x/*.log'}",
       "verify[0].sent: required"},
      {"{'type':'queue.reconcile','sent':'/x','processed':''}",
       "verify[0].processed: must not be empty"},
      {"{'type':'queue.reconcile','sent':'/x','processed':'/y',"
       "'exactly_once':'yes'}",
       "verify[0].exactly_once"},
      {"{'type':'queue.reconcile','sent':'/x','processed':'/y',"
       "'settle_ms':-1}",
       "verify[0].settle_ms"},
      {"{'type':'queue.reconcile','sent':'/x','processed':'/y','glob':'z'}",
       "glob"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct gd_action a;
    struct gd_error err = {0};
    memset(&a, 0, sizeof a);
    cJSON *j = J(cases[i].spec);
    int rc = gd_action_init(&a, j, "verify[0]", &err);
    cJSON_Delete(j);
    CU_ASSERT(rc < 0);
    if (!strstr(err.msg, cases[i].msg))
      printf("\n    case %zu: got '%s', want '%s'", i, err.msg, cases[i].msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cases[i].msg));
    if (rc == 0) gd_action_free(&a);
  }

  /* The figures it can publish are declared (thresholds may name them),
   * and a long settle time raises the default timeout. */
  const struct gd_action_ops *ops = gd_action_kind("queue.reconcile");
  CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
  const char *want[] = {"messages_sent", "messages_processed",
                        "messages_missing", "messages_duplicated"};
  for (size_t i = 0; i < 4; i++) GD_ASSERT_STR(ops->figures[i], want[i]);
  CU_ASSERT_PTR_NULL(ops->figures[4]);
  struct run r;
  init(&r,
       "{'type':'queue.reconcile','sent':'%s/s','processed':'%s/p',"
       "'settle_ms':60000}");
  CU_ASSERT(r.a.timeout_ns > 60000ull * 1000000);
  gd_action_free(&r.a);
}

int main(void) {
  tmp = gd_test_tmpdir();
  static const struct gd_test tests[] = {
      {"all processed, duplicates counted", all_processed_with_duplicates},
      {"missing after the settle time", missing_after_settle},
      {"a message logged while settling", arrives_while_settling},
      {"nothing processed, nothing sent", nothing_processed},
      {"unreadable and malformed ledgers", bad_files},
      {"cancel", cancel},
      {"bad keys, figures, timeout", bad_keys},
      {NULL, NULL},
  };
  int rc = gd_test_run("queue.reconcile", tests);
  gd_test_rmrf(tmp);
  free(tmp);
  return rc;
}

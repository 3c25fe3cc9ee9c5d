/* gameday: the queue.reconcile action, a verify step: was every message
 * that was sent processed? It matches, by MessageId, the ledger that
 * aws.sqs.send_messages wrote (`sent`: "seq<TAB>MessageId" a line, only
 * the messages SQS acknowledged) against the consumers' logs (`processed`:
 * a glob; "MessageId<TAB>..." a line, one line per processing).
 *
 *   messages_sent        lines of the ledger
 *   messages_processed   ledger messages found in some log at least once
 *   messages_missing     sent - processed: acknowledged, never processed
 *   messages_duplicated  processings beyond the first (at-least-once
 *                        delivery shows here)
 *
 * ok when nothing is missing, and, with `exactly_once` true, nothing was
 * duplicated either; duplicates are reported either way. Lines of the logs
 * whose MessageId is not in the ledger (an earlier run's, other producers')
 * are counted apart (detail.other_lines) and judge nothing.
 *
 * Consumers may still be finishing the last batch when verify starts: the
 * logs are read again every RECONCILE_POLL_MS until nothing is missing or
 * `settle_ms` (default 5000) has passed since the first read. Each read is
 * synchronous, in a uv timer callback: the files are local and small (tens
 * of bytes a message), so one pass over a few thousand lines costs well
 * under a millisecond to a few, and verify runs when no probe's timing is
 * being judged any more; uv_fs reads would add a callback chain for no
 * measurable gain. A last line without its newline is being written and is
 * left for the next read. */
#define _GNU_SOURCE /* getline */
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameday/action.h"
#include "gameday/json.h"

#define RECONCILE_POLL_MS 250
/* MessageIds named in the message and detail when some are missing. */
#define RECONCILE_SHOW 5

struct entry {
  char *id;       /* NULL: free slot */
  uint64_t seq;   /* from the ledger */
  uint32_t count; /* times processed, this read */
};

struct reconcile {
  char *sent;      /* ledger path */
  char *processed; /* glob */
  int exactly_once;
  uint64_t settle_ms;

  /* run time */
  struct gd_action *a;
  uv_timer_t timer;
  int timer_open, cancelled, failed;
  uint64_t first_ms; /* loop time of the first read */
  unsigned reads;
  struct entry *tab; /* open addressing, cap a power of two */
  size_t cap, n;
  uint64_t other, files, lines, dup_ledger;
  char error[GD_ERROR_MAX];
};

static const char *const reconcile_keys[] = {"sent", "processed",
                                             "exactly_once", "settle_ms", NULL};
static const char *const reconcile_figures[] = {
    "messages_sent", "messages_processed", "messages_missing",
    "messages_duplicated", NULL};

static void table_free(struct reconcile *x) {
  for (size_t i = 0; i < x->cap; i++) free(x->tab[i].id);
  free(x->tab);
  x->tab = NULL;
  x->cap = x->n = 0;
}

static void ctx_free(struct reconcile *x) {
  if (!x) return;
  table_free(x);
  free(x->sent);
  free(x->processed);
  free(x);
}

static int reconcile_init(struct gd_action *a, const cJSON *spec,
                          const char *path, struct gd_error *err) {
  const char *sent = NULL, *processed = NULL;
  int exactly_once = 0;
  uint64_t settle_ns = 5000ULL * 1000000;
  int rc;
  if ((rc = gd_json_get_string(spec, "sent", path, 1, &sent, err)) ||
      (rc = gd_json_get_string(spec, "processed", path, 1, &processed, err)) ||
      (rc = gd_json_get_bool(spec, "exactly_once", path, 0, &exactly_once,
                             err)) ||
      (rc = gd_json_get_ms(spec, "settle_ms", path, 0, 0, &settle_ns, err)))
    return rc;
  if (!sent[0])
    return gd_error_set(err, GD_EINVAL, "%s.sent: must not be empty", path);
  if (!processed[0])
    return gd_error_set(err, GD_EINVAL, "%s.processed: must not be empty",
                        path);
  struct reconcile *x = calloc(1, sizeof *x);
  if (!x || !(x->sent = strdup(sent)) || !(x->processed = strdup(processed))) {
    ctx_free(x);
    return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  }
  x->exactly_once = exactly_once;
  x->settle_ms = settle_ns / 1000000;
  /* The settle time is spent waiting: unless a timeout was asked for, the
   * default one must leave room for it. */
  if (!cJSON_HasObjectItem(spec, "timeout_ms") && a->timeout_ns <= settle_ns)
    a->timeout_ns =
        settle_ns + (uint64_t)GD_ACTION_DEFAULT_TIMEOUT_MS * 1000000;
  a->ctx = x;
  return 0;
}

static void reconcile_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct reconcile *x = a->ctx;
  snprintf(buf, n,
           "reconcile the messages in %s with those processed in %s "
           "(%s, settle %" PRIu64 " ms)",
           x->sent, x->processed,
           x->exactly_once ? "exactly once" : "at least once", x->settle_ms);
}

/* ---- the table of sent MessageIds ---- */

static uint64_t hash(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* The slot holding id, or the free slot where it would go. */
static struct entry *slot(struct reconcile *x, const char *id, size_t len) {
  size_t i = (size_t)hash(id, len) & (x->cap - 1);
  while (x->tab[i].id &&
         (strncmp(x->tab[i].id, id, len) != 0 || x->tab[i].id[len] != 0))
    i = (i + 1) & (x->cap - 1);
  return &x->tab[i];
}

static int grow(struct reconcile *x) {
  size_t ncap = x->cap ? x->cap * 2 : 1024;
  struct entry *old = x->tab;
  size_t ocap = x->cap;
  if (!(x->tab = calloc(ncap, sizeof *x->tab))) {
    x->tab = old;
    return GD_ENOMEM;
  }
  x->cap = ncap;
  for (size_t i = 0; i < ocap; i++)
    if (old[i].id) *slot(x, old[i].id, strlen(old[i].id)) = old[i];
  free(old);
  return 0;
}

/* ---- reading ---- */

static int fail(struct reconcile *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(struct reconcile *x, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->error, sizeof x->error, fmt, ap);
  va_end(ap);
  x->failed = 1;
  return -1;
}

/* The ledger, once: every line "seq<TAB>MessageId". */
static int read_ledger(struct reconcile *x) {
  FILE *f = fopen(x->sent, "r");
  if (!f)
    return fail(x, "sent: cannot read '%s': %s", x->sent, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  uint64_t no = 0;
  int rc = 0;
  while ((len = getline(&line, &cap, f)) > 0) {
    no++;
    if (line[len - 1] == '\n') line[--len] = 0;
    if (len == 0) continue;
    char *tab = strchr(line, '\t'), *end;
    errno = 0;
    unsigned long long seq = tab ? strtoull(line, &end, 10) : 0;
    if (!tab || end != tab || tab == line || errno || !tab[1] ||
        strchr(tab + 1, '\t')) {
      rc = fail(x, "sent: '%s' line %" PRIu64 ": expected 'seq<TAB>MessageId'",
                x->sent, no);
      break;
    }
    const char *id = tab + 1;
    if ((x->n + 1) * 2 > x->cap && grow(x)) {
      rc = fail(x, "out of memory");
      break;
    }
    struct entry *e = slot(x, id, strlen(id));
    if (e->id) { /* the same message twice in a ledger: counted once */
      x->dup_ledger++;
      continue;
    }
    if (!(e->id = strdup(id))) {
      rc = fail(x, "out of memory");
      break;
    }
    e->seq = seq;
    x->n++;
  }
  if (!rc && ferror(f))
    rc = fail(x, "sent: cannot read '%s': %s", x->sent, strerror(errno));
  free(line);
  fclose(f);
  return rc;
}

/* Every log the glob matches, counts from scratch. */
static int read_logs(struct reconcile *x) {
  for (size_t i = 0; i < x->cap; i++) x->tab[i].count = 0;
  x->other = x->files = x->lines = 0;
  glob_t g;
  int gr = glob(x->processed, 0, NULL, &g);
  if (gr == GLOB_NOMATCH) return 0; /* nothing processed yet */
  if (gr != 0) {
    globfree(&g);
    return fail(x, "processed: cannot expand '%s'", x->processed);
  }
  char *line = NULL;
  size_t cap = 0;
  int rc = 0;
  for (size_t k = 0; k < g.gl_pathc && !rc; k++) {
    FILE *f = fopen(g.gl_pathv[k], "r");
    if (!f) {
      /* A log rotated away between glob and open is not an error. */
      if (errno == ENOENT) continue;
      rc = fail(x, "processed: cannot read '%s': %s", g.gl_pathv[k],
                strerror(errno));
      break;
    }
    x->files++;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
      if (line[len - 1] != '\n') break; /* still being written */
      x->lines++;
      size_t idlen = strcspn(line, "\t\n");
      if (idlen == 0) continue;
      struct entry *e = x->cap ? slot(x, line, idlen) : NULL;
      if (e && e->id) {
        if (e->count < UINT32_MAX) e->count++;
      } else {
        x->other++;
      }
    }
    if (ferror(f))
      rc = fail(x, "processed: cannot read '%s': %s", g.gl_pathv[k],
                strerror(errno));
    fclose(f);
  }
  free(line);
  globfree(&g);
  return rc;
}

struct tally {
  uint64_t processed, missing, duplicated;
};

static struct tally tally(const struct reconcile *x) {
  struct tally t = {0};
  for (size_t i = 0; i < x->cap; i++) {
    const struct entry *e = &x->tab[i];
    if (!e->id) continue;
    if (e->count) {
      t.processed++;
      t.duplicated += e->count - 1;
    } else {
      t.missing++;
    }
  }
  return t;
}

/* ---- finishing ---- */

/* Up to RECONCILE_SHOW missing messages, lowest seq first, into detail and
 * into buf as "seq 17 (id ...), ...". */
static void missing_list(const struct reconcile *x, cJSON *d, char *buf,
                         size_t n) {
  const struct entry *pick[RECONCILE_SHOW];
  size_t k = 0;
  for (size_t i = 0; i < x->cap; i++) {
    const struct entry *e = &x->tab[i];
    if (!e->id || e->count) continue;
    size_t j = k < RECONCILE_SHOW ? k++ : RECONCILE_SHOW;
    if (j == RECONCILE_SHOW) {
      if (e->seq >= pick[RECONCILE_SHOW - 1]->seq) continue;
      j = RECONCILE_SHOW - 1;
    }
    for (; j > 0 && pick[j - 1]->seq > e->seq; j--) pick[j] = pick[j - 1];
    pick[j] = e;
  }
  cJSON *arr = d ? cJSON_AddArrayToObject(d, "missing") : NULL;
  size_t off = 0;
  buf[0] = 0;
  for (size_t j = 0; j < k; j++) {
    cJSON *m = cJSON_CreateObject();
    if (m) {
      cJSON_AddNumberToObject(m, "seq", (double)pick[j]->seq);
      cJSON_AddStringToObject(m, "id", pick[j]->id);
      if (arr)
        cJSON_AddItemToArray(arr, m);
      else
        cJSON_Delete(m);
    }
    if (off < n)
      off += (size_t)snprintf(buf + off, n - off, "%sseq %" PRIu64 " (id %s)",
                              j ? ", " : "", pick[j]->seq, pick[j]->id);
  }
}

static void report(struct reconcile *x) {
  struct gd_action *a = x->a;
  if (x->failed) {
    gd_action_done(a, 0, "%s", x->error);
    return;
  }
  struct tally t = tally(x);
  uint64_t waited = x->reads ? uv_now(a->loop) - x->first_ms : 0;
  cJSON *d = cJSON_CreateObject();
  char miss[512] = "";
  if (d) {
    cJSON_AddStringToObject(d, "sent_file", x->sent);
    cJSON_AddStringToObject(d, "processed_glob", x->processed);
    cJSON_AddNumberToObject(d, "files", (double)x->files);
    cJSON_AddNumberToObject(d, "lines", (double)x->lines);
    cJSON_AddNumberToObject(d, "other_lines", (double)x->other);
    cJSON_AddNumberToObject(d, "ledger_repeats", (double)x->dup_ledger);
    cJSON_AddNumberToObject(d, "reads", x->reads);
    cJSON_AddNumberToObject(d, "waited_ms", (double)waited);
  }
  if (t.missing) missing_list(x, d, miss, sizeof miss);
  cJSON_Delete(a->detail);
  a->detail = d;
  gd_action_add_figure(a, "messages_sent", (double)x->n);
  gd_action_add_figure(a, "messages_processed", (double)t.processed);
  gd_action_add_figure(a, "messages_missing", (double)t.missing);
  gd_action_add_figure(a, "messages_duplicated", (double)t.duplicated);
  int ok = t.missing == 0 && (!x->exactly_once || t.duplicated == 0);
  gd_action_done(
      a, ok && !x->cancelled,
      "%s%zu sent, %" PRIu64 " processed, %" PRIu64 " missing, %" PRIu64
      " duplicated%s%s%s%s",
      x->cancelled ? "cancelled: " : "", x->n, t.processed, t.missing,
      t.duplicated,
      x->exactly_once && t.duplicated ? " (exactly once required)" : "",
      t.missing ? " (first missing: " : "", miss, t.missing ? ")" : "");
}

static void timer_closed(uv_handle_t *h) {
  struct reconcile *x = h->data;
  x->timer_open = 0;
  report(x);
}

static void finish(struct reconcile *x) {
  uv_timer_stop(&x->timer);
  if (!uv_is_closing((uv_handle_t *)&x->timer))
    uv_close((uv_handle_t *)&x->timer, timer_closed);
}

static void on_tick(uv_timer_t *t) {
  struct reconcile *x = t->data;
  uv_update_time(x->a->loop);
  uint64_t now = uv_now(x->a->loop);
  if (x->reads++ == 0) {
    x->first_ms = now;
    if (read_ledger(x)) {
      finish(x);
      return;
    }
  }
  if (read_logs(x) || tally(x).missing == 0 ||
      now - x->first_ms >= x->settle_ms) {
    finish(x);
    return;
  }
  uv_timer_start(&x->timer, on_tick, RECONCILE_POLL_MS, 0);
}

static int reconcile_run(struct gd_action *a, struct gd_error *err) {
  struct reconcile *x = a->ctx;
  if (x->timer_open)
    return gd_error_set(err, GD_ESTATE, "%s: already running", a->path);
  table_free(x);
  x->a = a;
  x->cancelled = x->failed = 0;
  x->reads = 0;
  x->error[0] = 0;
  x->other = x->files = x->lines = x->dup_ledger = 0;
  int r = uv_timer_init(a->loop, &x->timer);
  if (r)
    return gd_error_set(err, GD_EIO, "%s: timer: %s", a->path, uv_strerror(r));
  x->timer.data = x;
  x->timer_open = 1;
  /* The first read on the next loop turn: done is never called from
   * within run. */
  uv_timer_start(&x->timer, on_tick, 0, 0);
  return 0;
}

static void reconcile_cancel(struct gd_action *a) {
  struct reconcile *x = a->ctx;
  if (!x->timer_open || uv_is_closing((uv_handle_t *)&x->timer)) return;
  x->cancelled = 1;
  finish(x);
}

static void reconcile_free(struct gd_action *a) {
  ctx_free(a->ctx);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_queue_reconcile = {
    .type = "queue.reconcile",
    .keys = reconcile_keys,
    .figures = reconcile_figures,
    .init = reconcile_init,
    .describe = reconcile_describe,
    .run = reconcile_run,
    .cancel = reconcile_cancel,
    .free = reconcile_free,
};

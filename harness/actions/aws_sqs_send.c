/* gameday: the aws.sqs.send_messages action: a backlog of `count` messages
 * put on a queue with SendMessageBatch, `batch` entries per call, at most a
 * few calls in flight, optionally paced to `rate_per_s` messages a second
 * (absolute deadlines from the start, so pacing does not drift with call
 * latency). This is the flood of the queue-backlog scenario.
 *
 * `body` is a template: every "{seq}" in it becomes the message's number,
 * 1 to count. It is not "${seq}" because the scenario loader substitutes
 * ${...} variables before any kind sees the text.
 *
 * SendMessageBatch can fail per entry while the call succeeds; those
 * entries are counted as failed, with the first one's code in the message.
 * A call that fails as a whole (after the client's own retries) stops the
 * action: the next calls would fail the same way. Cancel (the driver's
 * timeout, an interrupt) stops further batches and aborts the calls in
 * flight; their entries are reported as unconfirmed, since SQS may or may
 * not have taken them.
 *
 * `ledger` (a file path) records what was sent exactly: one line per
 * message SQS acknowledged, "seq<TAB>MessageId" (seq as {seq} expands),
 * written as each batch's answer arrives; failed and unconfirmed entries
 * are not in it. A verify step (queue.reconcile) matches it against what
 * the consumers processed. The file is truncated when the action starts;
 * a ledger that cannot be written fails the action, since whatever reads
 * it afterwards would under-count. The writes are synchronous: a few dozen
 * bytes per message to a local file, flushed once per batch answer. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gameday/action.h"
#include "gameday/awskind.h"
#include "gameday/json.h"

/* Enough to keep a loopback or in-region queue busy without turning the
 * flood into a throttling test. */
#define SEND_INFLIGHT 4
#define SQS_BATCH_MAX 10
#define SQS_BODY_MAX (256 * 1024)

struct send_action;

struct send_slot {
  struct send_action *x;
  struct gd_aws_call *call; /* while busy */
  uint64_t first;           /* seq of its first entry */
  unsigned n;
  int busy;
};

struct send_action {
  struct gd_awskind_sqs q;
  uint64_t count;
  unsigned batch;
  double rate; /* messages per second; 0: as fast as the calls go */
  char *body;
  char *group; /* MessageGroupId (FIFO queues) */
  char *ledger_path;

  /* run time */
  struct gd_action *a;
  struct gd_aws *aws;
  uv_timer_t pace;
  int pace_open;
  int stopping;  /* no further batches */
  int finishing; /* closing the client and the timer */
  int cancelled;
  int closes;    /* close callbacks still to come */
  uint64_t t0_ms;
  uint64_t next; /* seq of the next message to send, 0-based */
  uint64_t sent, failed, unconfirmed, batches;
  uint64_t first_seq, last_seq;
  int have_id;
  char first_id[128], last_id[128];
  char entry_error[256]; /* first failed entry: "Code: message" */
  char call_error[GD_ERROR_MAX];
  char nonce[40];
  FILE *ledger;
  char ledger_error[256]; /* first write error */
  unsigned inflight;
  struct send_slot slots[SEND_INFLIGHT];
};

static const char *const send_keys[] = {"queue_url", "region", "count",
                                        "body", "batch", "rate_per_s",
                                        "message_group_id", "ledger", NULL};

static void ctx_free(struct send_action *x) {
  if (!x) return;
  gd_awskind_sqs_free(&x->q);
  free(x->body);
  free(x->group);
  free(x->ledger_path);
  free(x);
}

static int send_init(struct gd_action *a, const cJSON *spec, const char *path,
                     struct gd_error *err) {
  struct send_action *x = calloc(1, sizeof *x);
  if (!x) return gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
  long long count = 0, batch = SQS_BATCH_MAX;
  double rate = 0;
  const char *body = "gameday message {seq}", *group = NULL, *ledger = NULL;
  int rc;
  if ((rc = gd_awskind_sqs_parse(&x->q, spec, path, err)) ||
      (rc = gd_json_get_int(spec, "count", path, 1, 1, 1000000, &count,
                            err)) ||
      (rc = gd_json_get_int(spec, "batch", path, 0, 1, SQS_BATCH_MAX, &batch,
                            err)) ||
      (rc = gd_json_get_double(spec, "rate_per_s", path, 0, 0.001, 1e6, &rate,
                               err)) ||
      (rc = gd_json_get_string(spec, "body", path, 0, &body, err)) ||
      (rc = gd_json_get_string(spec, "message_group_id", path, 0, &group,
                               err)) ||
      (rc = gd_json_get_string(spec, "ledger", path, 0, &ledger, err)))
    goto fail;
  if (ledger && !ledger[0]) {
    rc = gd_error_set(err, GD_EINVAL, "%s.ledger: must not be empty", path);
    goto fail;
  }
  /* The numbers a template expands to are at most 7 digits. */
  if (!body[0] || strlen(body) > SQS_BODY_MAX / 8) {
    rc = gd_error_set(err, GD_EINVAL,
                      "%s.body: must be 1 to %d bytes, got %zu", path,
                      SQS_BODY_MAX / 8, strlen(body));
    goto fail;
  }
  if (group && (!group[0] || strlen(group) > 128)) {
    rc = gd_error_set(err, GD_EINVAL,
                      "%s.message_group_id: must be 1 to 128 characters, got "
                      "'%s'",
                      path, group);
    goto fail;
  }
  x->count = (uint64_t)count;
  x->batch = (unsigned)batch;
  x->rate = rate;
  if (!(x->body = strdup(body)) || (group && !(x->group = strdup(group))) ||
      (ledger && !(x->ledger_path = strdup(ledger)))) {
    rc = gd_error_set(err, GD_ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  /* A paced flood takes count/rate seconds by design; unless a timeout was
   * asked for, the default one must not cut it short. */
  if (rate > 0 && !cJSON_HasObjectItem(spec, "timeout_ms")) {
    uint64_t need_ns = (uint64_t)((double)x->count / rate * 1e9);
    if (a->timeout_ns <= need_ns)
      a->timeout_ns =
          need_ns + (uint64_t)GD_ACTION_DEFAULT_TIMEOUT_MS * 1000000;
  }
  a->ctx = x;
  return 0;
fail:
  ctx_free(x);
  return rc;
}

static void send_describe(const struct gd_action *a, char *buf, size_t n) {
  const struct send_action *x = a->ctx;
  int w = snprintf(buf, n, "send %" PRIu64 " messages to %s in batches of %u",
                   x->count, x->q.queue_url, x->batch);
  size_t off = w < 0 ? n : (size_t)w;
  if (x->rate > 0 && off < n)
    off += (size_t)snprintf(buf + off, n - off, " at %g/s", x->rate);
  if (x->group && off < n)
    off += (size_t)snprintf(buf + off, n - off, ", group '%s'", x->group);
  if (x->ledger_path && off < n)
    snprintf(buf + off, n - off, ", ledger %s", x->ledger_path);
}

/* The body of message seq (0-based): the template with {seq} expanded. */
static char *expand_body(const char *tpl, uint64_t seq) {
  static const char mark[] = "{seq}";
  char num[24];
  int nl = snprintf(num, sizeof num, "%" PRIu64, seq + 1);
  size_t k = 0;
  for (const char *p = tpl; (p = strstr(p, mark)); p += sizeof mark - 1) k++;
  size_t len = strlen(tpl) + k * (size_t)nl + 1;
  char *out = malloc(len), *o = out;
  if (!out) return NULL;
  for (const char *p = tpl;;) {
    const char *m = strstr(p, mark);
    size_t l = m ? (size_t)(m - p) : strlen(p);
    memcpy(o, p, l);
    o += l;
    if (!m) break;
    memcpy(o, num, (size_t)nl);
    o += nl;
    p = m + sizeof mark - 1;
  }
  *o = 0;
  return out;
}

static cJSON *batch_params(struct send_action *x, uint64_t first, unsigned n) {
  cJSON *p = cJSON_CreateObject();
  cJSON *entries = p ? cJSON_AddArrayToObject(p, "Entries") : NULL;
  if (!entries || !cJSON_AddStringToObject(p, "QueueUrl", x->q.queue_url))
    goto fail;
  for (unsigned i = 0; i < n; i++) {
    uint64_t seq = first + i;
    char id[32], dedup[80];
    snprintf(id, sizeof id, "m%" PRIu64, seq);
    cJSON *e = cJSON_CreateObject();
    if (!e) goto fail;
    cJSON_AddItemToArray(entries, e);
    char *body = expand_body(x->body, seq);
    if (!body) goto fail;
    cJSON *b = cJSON_AddStringToObject(e, "MessageBody", body);
    free(body);
    if (!b || !cJSON_AddStringToObject(e, "Id", id)) goto fail;
    if (x->group) {
      /* Unique per run and message, so that a second flood within SQS's
       * five-minute deduplication window is not silently dropped. */
      snprintf(dedup, sizeof dedup, "%s-%" PRIu64, x->nonce, seq);
      if (!cJSON_AddStringToObject(e, "MessageGroupId", x->group) ||
          !cJSON_AddStringToObject(e, "MessageDeduplicationId", dedup))
        goto fail;
    }
  }
  return p;
fail:
  cJSON_Delete(p);
  return NULL;
}

static void finish(struct send_action *x);
static void pump(struct send_action *x);

/* Our entry ids are "m<seq>". */
static int entry_seq(const cJSON *entry, uint64_t *seq) {
  const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(entry, "Id"));
  char *end;
  if (!id || id[0] != 'm' || !id[1]) return -1;
  unsigned long long v = strtoull(id + 1, &end, 10);
  if (*end) return -1;
  *seq = v;
  return 0;
}

static void note_id(struct send_action *x, uint64_t seq, const char *mid) {
  if (!mid) return;
  if (!x->have_id || seq < x->first_seq) {
    x->first_seq = seq;
    snprintf(x->first_id, sizeof x->first_id, "%s", mid);
  }
  if (!x->have_id || seq > x->last_seq) {
    x->last_seq = seq;
    snprintf(x->last_id, sizeof x->last_id, "%s", mid);
  }
  x->have_id = 1;
}

static void ledger_error(struct send_action *x, const char *what) {
  if (!x->ledger_error[0])
    snprintf(x->ledger_error, sizeof x->ledger_error, "ledger %s: %s: %s",
             x->ledger_path, what, strerror(errno));
}

/* One acknowledged message; seq is 0-based, the ledger says {seq}. */
static void ledger_add(struct send_action *x, uint64_t seq, const char *mid) {
  if (!x->ledger || x->ledger_error[0]) return;
  if (!mid || !mid[0] || strpbrk(mid, "\t\r\n")) {
    if (!x->ledger_error[0])
      snprintf(x->ledger_error, sizeof x->ledger_error,
               "ledger %s: message %" PRIu64 " acknowledged without a usable "
               "MessageId",
               x->ledger_path, seq + 1);
    return;
  }
  if (fprintf(x->ledger, "%" PRIu64 "\t%s\n", seq + 1, mid) < 0)
    ledger_error(x, "write");
}

/* Once per answer: what a batch acknowledged is on disk before the next
 * one is counted. */
static void ledger_flush(struct send_action *x) {
  if (x->ledger && !x->ledger_error[0] && fflush(x->ledger) != 0)
    ledger_error(x, "write");
}

static void on_batch(struct gd_aws_result *res, const struct gd_error *e,
                     void *arg) {
  struct send_slot *sl = arg;
  struct send_action *x = sl->x;
  sl->busy = 0;
  sl->call = NULL;
  x->inflight--;
  if (e && e->code == GD_ECANCELED) {
    x->unconfirmed += sl->n;
  } else if (e) {
    x->failed += sl->n;
    if (!x->call_error[0]) snprintf(x->call_error, sizeof x->call_error, "%s",
                                    e->msg);
    x->stopping = 1;
  } else {
    const cJSON *ok = cJSON_GetObjectItem(res->json, "Successful");
    const cJSON *bad = cJSON_GetObjectItem(res->json, "Failed");
    unsigned answered = 0;
    const cJSON *it;
    x->batches++;
    cJSON_ArrayForEach(it, ok) {
      uint64_t seq;
      answered++;
      x->sent++;
      if (entry_seq(it, &seq) == 0) {
        const char *mid =
            cJSON_GetStringValue(cJSON_GetObjectItem(it, "MessageId"));
        note_id(x, seq, mid);
        ledger_add(x, seq, mid);
      }
    }
    ledger_flush(x);
    cJSON_ArrayForEach(it, bad) {
      answered++;
      x->failed++;
      if (!x->entry_error[0]) {
        const char *code =
            cJSON_GetStringValue(cJSON_GetObjectItem(it, "Code"));
        const char *msg =
            cJSON_GetStringValue(cJSON_GetObjectItem(it, "Message"));
        snprintf(x->entry_error, sizeof x->entry_error, "%s: %s",
                 code ? code : "(no code)", msg ? msg : "(no message)");
      }
    }
    /* An answer that accounts for fewer entries than were sent leaves the
     * rest unknown, not sent. */
    if (answered < sl->n) x->unconfirmed += sl->n - answered;
  }
  pump(x);
}

static int send_one(struct send_action *x, struct send_slot *sl) {
  struct gd_error err = {0};
  uint64_t left = x->count - x->next;
  unsigned n = left < x->batch ? (unsigned)left : x->batch;
  cJSON *p = batch_params(x, x->next, n);
  if (!p) {
    snprintf(x->call_error, sizeof x->call_error, "out of memory");
    return GD_ENOMEM;
  }
  sl->x = x;
  sl->first = x->next;
  sl->n = n;
  sl->busy = 1;
  x->inflight++;
  x->next += n;
  int rc = gd_aws_call(x->aws, "sqs", "SendMessageBatch", p, on_batch, sl,
                       &sl->call, &err);
  cJSON_Delete(p);
  if (rc) {
    sl->busy = 0;
    x->inflight--;
    x->failed += n;
    snprintf(x->call_error, sizeof x->call_error, "%s", err.msg);
  }
  return rc;
}

static void on_pace(uv_timer_t *t) { pump(t->data); }

/* Starts what may start now; arms the pacing timer for the next batch. */
static void pump(struct send_action *x) {
  if (x->finishing) return;
  while (!x->stopping && x->next < x->count && x->inflight < SEND_INFLIGHT) {
    if (x->rate > 0) {
      uv_update_time(x->a->loop);
      uint64_t due =
          x->t0_ms + (uint64_t)((double)x->next * 1000.0 / x->rate);
      uint64_t now = uv_now(x->a->loop);
      if (due > now) {
        uv_timer_start(&x->pace, on_pace, due - now, 0);
        break;
      }
    }
    struct send_slot *sl = NULL;
    for (unsigned i = 0; i < SEND_INFLIGHT && !sl; i++)
      if (!x->slots[i].busy) sl = &x->slots[i];
    if (send_one(x, sl)) x->stopping = 1;
  }
  if (!x->inflight && (x->stopping || x->next >= x->count)) finish(x);
}

static void report(struct send_action *x) {
  struct gd_action *a = x->a;
  if (x->ledger) {
    if (fclose(x->ledger) != 0) ledger_error(x, "close");
    x->ledger = NULL;
  }
  cJSON *d = cJSON_CreateObject();
  if (d) {
    cJSON_AddStringToObject(d, "queue_url", x->q.queue_url);
    cJSON_AddNumberToObject(d, "sent", (double)x->sent);
    cJSON_AddNumberToObject(d, "failed", (double)x->failed);
    cJSON_AddNumberToObject(d, "unconfirmed", (double)x->unconfirmed);
    cJSON_AddNumberToObject(d, "batches", (double)x->batches);
    if (x->have_id) {
      cJSON_AddStringToObject(d, "first_id", x->first_id);
      cJSON_AddStringToObject(d, "last_id", x->last_id);
    }
    if (x->ledger_path) cJSON_AddStringToObject(d, "ledger", x->ledger_path);
  }
  cJSON_Delete(a->detail);
  a->detail = d;
  const char *s = x->batches == 1 ? "" : "es";
  if (x->cancelled) {
    gd_action_done(a, 0,
                   "cancelled: sent %" PRIu64 " of %" PRIu64
                   " messages in %" PRIu64 " batch%s (%" PRIu64
                   " failed, %" PRIu64 " unconfirmed)",
                   x->sent, x->count, x->batches, s, x->failed,
                   x->unconfirmed);
  } else if (x->ledger_error[0]) {
    gd_action_done(a, 0, "%s (sent %" PRIu64 " of %" PRIu64 " messages)",
                   x->ledger_error, x->sent, x->count);
  } else if (x->call_error[0]) {
    gd_action_done(a, 0, "%s (sent %" PRIu64 " of %" PRIu64 " messages)",
                   x->call_error, x->sent, x->count);
  } else if (x->sent == x->count) {
    gd_action_done(a, 1,
                   "sent %" PRIu64 " messages in %" PRIu64 " batch%s "
                   "(0 failed)",
                   x->sent, x->batches, s);
  } else {
    gd_action_done(a, 0,
                   "sent %" PRIu64 " of %" PRIu64 " messages in %" PRIu64
                   " batch%s (%" PRIu64 " failed%s%s, %" PRIu64
                   " unconfirmed)",
                   x->sent, x->count, x->batches, s, x->failed,
                   x->entry_error[0] ? ", first: " : "", x->entry_error,
                   x->unconfirmed);
  }
}

static void closed_one(struct send_action *x) {
  if (--x->closes == 0) {
    x->aws = NULL;
    report(x);
  }
}

static void aws_closed(void *arg) { closed_one(arg); }

static void pace_closed(uv_handle_t *h) {
  struct send_action *x = h->data;
  x->pace_open = 0;
  closed_one(x);
}

/* The result is reported only once the client and the timer are closed:
 * the kind holds no handle when done is called. */
static void finish(struct send_action *x) {
  if (x->finishing) return;
  x->finishing = 1;
  x->closes = 1 + (x->pace_open ? 1 : 0);
  if (x->pace_open) uv_close((uv_handle_t *)&x->pace, pace_closed);
  gd_aws_close(x->aws, aws_closed, x);
}

/* The action did not start: nothing was sent, the ledger stays empty. */
static void ledger_close_quiet(struct send_action *x) {
  if (x->ledger) fclose(x->ledger);
  x->ledger = NULL;
}

static int send_run(struct gd_action *a, struct gd_error *err) {
  struct send_action *x = a->ctx;
  if (x->aws) return gd_error_set(err, GD_ESTATE, "%s: already running",
                                  a->path);
  /* Only a few retries: a flood that is throttled should say so, not
   * stretch past its timeout. */
  struct gd_aws_options o = {.max_attempts = 3};
  x->ledger_error[0] = 0;
  if (x->ledger_path && !(x->ledger = fopen(x->ledger_path, "w")))
    return gd_error_set(err, GD_EIO, "%s.ledger: cannot create '%s': %s",
                        a->path, x->ledger_path, strerror(errno));
  int rc = gd_awskind_client(a->loop, a->curl, &x->q, &o, a->path, &x->aws,
                             err);
  if (rc) {
    ledger_close_quiet(x);
    return rc;
  }
  x->a = a;
  x->stopping = x->finishing = x->cancelled = 0;
  x->next = x->sent = x->failed = x->unconfirmed = x->batches = 0;
  x->have_id = 0;
  x->first_id[0] = x->last_id[0] = x->entry_error[0] = x->call_error[0] = 0;
  x->inflight = 0;
  memset(x->slots, 0, sizeof x->slots);
  snprintf(x->nonce, sizeof x->nonce, "gd-%x-%" PRIx64, (unsigned)getpid(),
           uv_hrtime());
  uv_update_time(a->loop);
  x->t0_ms = uv_now(a->loop);
  /* The first batch goes out now; if even it cannot start (no region, ...)
   * the action did not start. */
  if ((rc = send_one(x, &x->slots[0]))) {
    gd_error_set(err, rc, "%s: %s", a->path, x->call_error);
    gd_aws_close(x->aws, NULL, NULL);
    x->aws = NULL;
    ledger_close_quiet(x);
    return rc;
  }
  uv_timer_init(a->loop, &x->pace);
  x->pace.data = x;
  x->pace_open = 1;
  pump(x);
  return 0;
}

static void send_cancel(struct gd_action *a) {
  struct send_action *x = a->ctx;
  if (!x->aws || x->finishing) return;
  x->cancelled = 1;
  x->stopping = 1;
  if (x->pace_open) uv_timer_stop(&x->pace);
  /* Each cancel calls on_batch at once; the last one finishes. */
  for (unsigned i = 0; i < SEND_INFLIGHT; i++)
    if (x->slots[i].busy && x->slots[i].call) gd_aws_cancel(x->slots[i].call);
  if (!x->inflight) finish(x);
}

static void send_free(struct gd_action *a) {
  if (a->ctx) ledger_close_quiet(a->ctx);
  ctx_free(a->ctx);
  a->ctx = NULL;
}

const struct gd_action_ops gd_action_aws_sqs_send = {
    .type = "aws.sqs.send_messages",
    .keys = send_keys,
    .init = send_init,
    .describe = send_describe,
    .run = send_run,
    .cancel = send_cancel,
    .free = send_free,
};

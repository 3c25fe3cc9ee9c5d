// One queue worker of the local staging stack, as supervisord runs it:
//
//   node worker.mjs --dir QUEUEDIR --name worker-K --queue-url URL
//                   --endpoint URL [--rate N]
//
// The consumer side of the queue tier: long-polls the queue (up to 10
// messages, a short wait), processes each message at a known rate (--rate
// messages a second, default 100: the pool drains at workers x rate, which
// is what a scenario's drain time is predicted from), appends one line per
// processed message to QUEUEDIR/processed/worker-K.log, "MessageId<TAB>body"
// (tabs, newlines and backslashes in the body escaped as \t \n \\), and only
// then deletes the batch. A worker killed between the write and the delete
// leaves messages that come back after the visibility timeout and are
// processed again: the pool is at-least-once, and the duplicates show up in
// the logs, which is what queue.reconcile counts.
//
// SIGTERM (supervisorctl stop): the message being processed is finished,
// the processed ones deleted, and the ones received but not processed are
// handed back at once (visibility 0) rather than hidden until the
// visibility timeout: a stopped consumer must not delay the drain.
//
// The pid goes to QUEUEDIR/worker-K.pid (removed on a clean exit). The SQS
// credentials are dummies: fauxqs does not check them.
import fs from "node:fs";
import path from "node:path";
import {
  SQSClient,
  ReceiveMessageCommand,
  DeleteMessageBatchCommand,
  ChangeMessageVisibilityBatchCommand,
} from "@aws-sdk/client-sqs";

function args(argv) {
  const o = { rate: 100 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (v === undefined) throw new Error(`${k}: missing value`);
    if (k === "--dir") o.dir = v;
    else if (k === "--name") o.name = v;
    else if (k === "--queue-url") o.queueUrl = v;
    else if (k === "--endpoint") o.endpoint = v;
    else if (k === "--rate") o.rate = Number(v);
    else throw new Error(`unknown option '${k}'`);
  }
  for (const k of ["dir", "name", "queueUrl", "endpoint"])
    if (!o[k]) throw new Error(`missing --${k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}`);
  if (!/^[A-Za-z0-9_-]+$/.test(o.name)) throw new Error(`--name: unsupported name '${o.name}'`);
  if (!(o.rate > 0 && o.rate <= 100000)) throw new Error(`--rate: not a rate in (0, 100000] '${o.rate}'`);
  return o;
}

let opt;
try {
  opt = args(process.argv.slice(2));
} catch (e) {
  console.error(`worker: ${e.message}`);
  process.exit(2);
}

const pidfile = path.join(opt.dir, `${opt.name}.pid`);
const logDir = path.join(opt.dir, "processed");
fs.mkdirSync(logDir, { recursive: true });
// Appends with one write(2) per line on an O_APPEND descriptor: the line is
// in the file (visible to every reader) before the delete is sent.
const logFd = fs.openSync(path.join(logDir, `${opt.name}.log`), "a");
fs.writeFileSync(pidfile, `${process.pid}\n`);

const sqs = new SQSClient({
  endpoint: opt.endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "gameday", secretAccessKey: "gameday" },
  maxAttempts: 3,
});

let stopping = false;
let wake = null; // resolves the pacing sleep early on SIGTERM
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    stopping = true;
    if (wake) wake();
  });
}

const sleep = (ms) =>
  new Promise((resolve) => {
    const t = setTimeout(() => { wake = null; resolve(); }, ms);
    wake = () => { clearTimeout(t); wake = null; resolve(); };
  });

const escape = (s) => s.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r");

const interval = 1000 / opt.rate; // ms per message
let next = performance.now(); // absolute pacing: no drift with call latency
let processed = 0;
let lastError = "";

async function handBack(msgs) {
  if (!msgs.length) return;
  try {
    await sqs.send(new ChangeMessageVisibilityBatchCommand({
      QueueUrl: opt.queueUrl,
      Entries: msgs.map((m, i) => ({ Id: `v${i}`, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })),
    }));
  } catch (e) {
    console.error(`worker ${opt.name}: handing back ${msgs.length} messages: ${e.message}`);
  }
}

async function loop() {
  console.log(`worker ${opt.name}: pid ${process.pid}, ${opt.rate} messages/s, queue ${opt.queueUrl}`);
  while (!stopping) {
    let msgs;
    try {
      const r = await sqs.send(new ReceiveMessageCommand({
        QueueUrl: opt.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
      }));
      msgs = r.Messages || [];
    } catch (e) {
      // Once per kind of failure, not every retry (fauxqs restarting).
      if (e.message !== lastError) console.error(`worker ${opt.name}: receive: ${e.message} (retrying every 0.5 s)`);
      lastError = e.message;
      await sleep(500);
      continue;
    }
    if (lastError) console.log(`worker ${opt.name}: receiving again`);
    lastError = "";
    if (!msgs.length) {
      next = performance.now(); // idle time is not credit for a burst
      continue;
    }
    const done = [];
    let i = 0;
    for (; i < msgs.length && !stopping; i++) {
      next = Math.max(next + interval, performance.now() - interval);
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      const m = msgs[i];
      fs.writeSync(logFd, `${m.MessageId}\t${escape(m.Body ?? "")}\n`);
      done.push(m);
    }
    await handBack(msgs.slice(i));
    if (done.length) {
      try {
        const r = await sqs.send(new DeleteMessageBatchCommand({
          QueueUrl: opt.queueUrl,
          Entries: done.map((m, k) => ({ Id: `d${k}`, ReceiptHandle: m.ReceiptHandle })),
        }));
        if (r.Failed && r.Failed.length)
          console.error(`worker ${opt.name}: ${r.Failed.length} deletes failed (first: ${r.Failed[0].Code}); they will be processed again`);
      } catch (e) {
        console.error(`worker ${opt.name}: delete: ${e.message}; ${done.length} messages will be processed again`);
      }
      processed += done.length;
    }
  }
}

await loop();
fs.closeSync(logFd);
try { fs.unlinkSync(pidfile); } catch { /* already gone */ }
console.log(`worker ${opt.name}: stopped after ${processed} messages`);
sqs.destroy();
process.exit(0);

// The queue tier's set-up and status, for stack.sh:
//
//   node admin.mjs create ENDPOINT NAME VISIBILITY_S MAX_RECEIVE
//       creates NAME-dlq, then NAME with a RedrivePolicy to it (a message
//       received MAX_RECEIVE times without being deleted moves there) and a
//       visibility timeout of VISIBILITY_S seconds; prints the two queue
//       URLs, one a line. Creating a queue that exists with the same
//       attributes is no error, so this is safe on every stack.sh up.
//   node admin.mjs depth ENDPOINT QUEUE_URL...
//       prints "VISIBLE IN_FLIGHT" for each queue, one a line
//       (ApproximateNumberOfMessages and ..NotVisible).
//
// Errors go to stderr, exit 1. The credentials are dummies: fauxqs does
// not check them.
import {
  SQSClient,
  CreateQueueCommand,
  GetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";

const [cmd, endpoint, ...rest] = process.argv.slice(2);
const sqs = new SQSClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "gameday", secretAccessKey: "gameday" },
  maxAttempts: 2,
});

async function create(name, visibility, maxReceive) {
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const a = await sqs.send(new GetQueueAttributesCommand({
    QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"],
  }));
  const q = await sqs.send(new CreateQueueCommand({
    QueueName: name,
    Attributes: {
      VisibilityTimeout: String(visibility),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: a.Attributes.QueueArn,
        maxReceiveCount: String(maxReceive),
      }),
    },
  }));
  console.log(q.QueueUrl);
  console.log(dlq.QueueUrl);
}

async function depth(url) {
  const r = await sqs.send(new GetQueueAttributesCommand({
    QueueUrl: url,
    AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
  }));
  console.log(`${r.Attributes.ApproximateNumberOfMessages} ${r.Attributes.ApproximateNumberOfMessagesNotVisible}`);
}

try {
  if (cmd === "create" && rest.length === 3) await create(rest[0], Number(rest[1]), Number(rest[2]));
  else if (cmd === "depth" && rest.length >= 1) for (const u of rest) await depth(u);
  else throw new Error("usage: admin.mjs create ENDPOINT NAME VISIBILITY_S MAX_RECEIVE | depth ENDPOINT QUEUE_URL...");
} catch (e) {
  console.error(`admin.mjs ${cmd}: ${e.name === "Error" ? "" : e.name + ": "}${e.message}`);
  process.exitCode = 1;
} finally {
  sqs.destroy();
}

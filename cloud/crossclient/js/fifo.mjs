// Drives the embedded cloud's FIFO queues and a FIFO topic with the AWS SDK
// for JavaScript v3 and prints what it saw, as JSON, for crossclient's Go
// test to check: sequence numbers, deduplication, order within a group, a
// group locked while its messages are in flight, and an SNS FIFO topic
// delivering to a FIFO queue with the group carried through.
import { SNSClient, CreateTopicCommand, SubscribeCommand, PublishCommand } from "@aws-sdk/client-sns";
import {
  SQSClient, CreateQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand,
  SendMessageCommand, ReceiveMessageCommand, DeleteMessageCommand,
} from "@aws-sdk/client-sqs";

const common = {
  endpoint: process.env.ENDPOINT,
  region: process.env.AWS_REGION,
  credentials: { accessKeyId: "orderflow", secretAccessKey: "orderflow" },
};
const sns = new SNSClient(common);
const sqs = new SQSClient(common);

const { QueueUrl } = await sqs.send(new CreateQueueCommand({
  QueueName: "orders.fifo", Attributes: { FifoQueue: "true" },
}));
const sent = [];
for (const [group, body, dedup] of [["A", "a1", "d1"], ["B", "b1", "d2"], ["A", "a2", "d3"], ["A", "a1 again", "d1"], ["B", "b2", "d4"]]) {
  const out = await sqs.send(new SendMessageCommand({
    QueueUrl, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: dedup,
  }));
  sent.push({ id: out.MessageId, seq: out.SequenceNumber });
}
let refused = "";
try {
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "x", MessageDeduplicationId: "d9" }));
} catch (e) {
  refused = e.name;
}

const names = ["MessageGroupId", "MessageDeduplicationId", "SequenceNumber"];
const first = await sqs.send(new ReceiveMessageCommand({
  QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: names,
}));
const received = (first.Messages ?? []).map((m) => ({
  body: m.Body, group: m.Attributes.MessageGroupId, dedup: m.Attributes.MessageDeduplicationId, seq: m.Attributes.SequenceNumber,
}));
// Every group has a message in flight: nothing more is handed out.
const locked = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
for (const m of first.Messages ?? []) {
  await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m.ReceiptHandle }));
}

// An SNS FIFO topic into a FIFO queue, raw, content-based deduplication.
const { TopicArn } = await sns.send(new CreateTopicCommand({
  Name: "events.fifo", Attributes: { FifoTopic: "true", ContentBasedDeduplication: "true" },
}));
const target = await sqs.send(new CreateQueueCommand({
  QueueName: "events.fifo", Attributes: { FifoQueue: "true" },
}));
const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: target.QueueUrl, AttributeNames: ["QueueArn"] }));
await sqs.send(new SetQueueAttributesCommand({
  QueueUrl: target.QueueUrl,
  Attributes: {
    Policy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{
        Effect: "Allow", Principal: { Service: "sns.amazonaws.com" }, Action: "sqs:SendMessage",
        Resource: Attributes.QueueArn, Condition: { ArnEquals: { "aws:SourceArn": TopicArn } },
      }],
    }),
  },
}));
await sns.send(new SubscribeCommand({
  TopicArn, Protocol: "sqs", Endpoint: Attributes.QueueArn, Attributes: { RawMessageDelivery: "true" },
}));
const published = [];
for (const body of ["e1", "e2", "e1", "e3"]) {
  const out = await sns.send(new PublishCommand({ TopicArn, Message: body, MessageGroupId: "G" }));
  published.push({ id: out.MessageId, seq: out.SequenceNumber });
}
const delivered = [];
for (let i = 0; i < 10 && delivered.length < 3; i++) {
  const got = await sqs.send(new ReceiveMessageCommand({
    QueueUrl: target.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ["MessageGroupId"],
  }));
  for (const m of got.Messages ?? []) {
    delivered.push({ body: m.Body, group: m.Attributes.MessageGroupId });
    await sqs.send(new DeleteMessageCommand({ QueueUrl: target.QueueUrl, ReceiptHandle: m.ReceiptHandle }));
  }
}
console.log(JSON.stringify({ sent, refused, received, locked: (locked.Messages ?? []).length, published, delivered }));

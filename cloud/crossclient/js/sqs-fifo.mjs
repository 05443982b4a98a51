// Drives a FIFO queue of the embedded cloud with the AWS SDK for JavaScript
// v3 (JSON protocol): two message groups, content-based deduplication, a
// receive of one group's messages in order, and a send without a group;
// prints what it saw, as JSON, for crossclient's Go test to check.
import {
  SQSClient, CreateQueueCommand, SendMessageCommand, SendMessageBatchCommand, ReceiveMessageCommand,
} from "@aws-sdk/client-sqs";

const client = new SQSClient({
  endpoint: process.env.ENDPOINT,
  region: process.env.AWS_REGION,
  credentials: { accessKeyId: "orderflow", secretAccessKey: "orderflow" },
});

const { QueueUrl } = await client.send(new CreateQueueCommand({
  QueueName: "orders.fifo", Attributes: { FifoQueue: "true", ContentBasedDeduplication: "true" },
}));
const first = await client.send(new SendMessageCommand({ QueueUrl, MessageBody: "o1-created", MessageGroupId: "order-1" }));
const batch = await client.send(new SendMessageBatchCommand({
  QueueUrl,
  Entries: [
    { Id: "a", MessageBody: "o2-created", MessageGroupId: "order-2" },
    { Id: "b", MessageBody: "o1-paid", MessageGroupId: "order-1" },
  ],
}));
const dup = await client.send(new SendMessageCommand({ QueueUrl, MessageBody: "o1-created", MessageGroupId: "order-1" }));
const got = await client.send(new ReceiveMessageCommand({
  QueueUrl, MaxNumberOfMessages: 2, MessageSystemAttributeNames: ["All"], ReceiveRequestAttemptId: "attempt-1",
}));
let missing = "";
try {
  await client.send(new SendMessageCommand({ QueueUrl, MessageBody: "x" }));
} catch (e) {
  missing = `${e.name}: ${e.message}`;
}
console.log(JSON.stringify({
  sequenceNumbers: [first.SequenceNumber, ...batch.Successful.map((e) => e.SequenceNumber)],
  duplicate: dup.MessageId === first.MessageId && dup.SequenceNumber === first.SequenceNumber,
  bodies: got.Messages.map((m) => m.Body).join(","),
  groups: got.Messages.map((m) => m.Attributes.MessageGroupId).join(","),
  missing,
}));

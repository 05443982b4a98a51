// Drives the embedded cloud's SQS with the AWS SDK for JavaScript v3 (which
// speaks the JSON protocol and verifies message digests) and prints what it
// saw, as JSON, for crossclient's Go test to check.
import {
  SQSClient, CreateQueueCommand, SendMessageCommand, ReceiveMessageCommand,
  DeleteMessageCommand, GetQueueAttributesCommand, GetQueueUrlCommand,
} from "@aws-sdk/client-sqs";

const client = new SQSClient({
  endpoint: process.env.ENDPOINT,
  region: process.env.AWS_REGION,
  credentials: { accessKeyId: "orderflow", secretAccessKey: "orderflow" },
});

const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: "OrderQueue" }));
await client.send(new SendMessageCommand({
  QueueUrl,
  MessageBody: '{"orderId":"O1234"}',
  MessageAttributes: {
    source: { DataType: "String", StringValue: "shop" },
    n: { DataType: "Number", StringValue: "7" },
    b: { DataType: "Binary", BinaryValue: new Uint8Array([1, 2, 3]) },
  },
}));
const got = await client.send(new ReceiveMessageCommand({
  QueueUrl, WaitTimeSeconds: 1, MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["All"],
}));
const m = got.Messages[0];
await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m.ReceiptHandle }));
const attrs = await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] }));
let missing = "";
try {
  await client.send(new GetQueueUrlCommand({ QueueName: "Nope" }));
} catch (e) {
  missing = e.name;
}
console.log(JSON.stringify({
  body: m.Body,
  attr: m.MessageAttributes.source.StringValue,
  count: m.Attributes.ApproximateReceiveCount,
  left: attrs.Attributes.ApproximateNumberOfMessages,
  missing,
}));

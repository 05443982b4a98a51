// Drives the embedded cloud's SNS into SQS with the AWS SDK for JavaScript v3
// (enveloped and raw deliveries) and prints what arrived, as JSON, for
// crossclient's Go test to check.
import { SNSClient, CreateTopicCommand, SubscribeCommand, PublishCommand, SetSubscriptionAttributesCommand } from "@aws-sdk/client-sns";
import { SQSClient, CreateQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand, ReceiveMessageCommand, DeleteMessageCommand } from "@aws-sdk/client-sqs";

const common = {
  endpoint: process.env.ENDPOINT,
  region: process.env.AWS_REGION,
  credentials: { accessKeyId: "orderflow", secretAccessKey: "orderflow" },
};
const sns = new SNSClient(common);
const sqs = new SQSClient(common);

const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: "OrderTopic" }));
const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "OrderQueue" }));
const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
await sqs.send(new SetQueueAttributesCommand({
  QueueUrl,
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
const { SubscriptionArn } = await sns.send(new SubscribeCommand({
  TopicArn, Protocol: "sqs", Endpoint: Attributes.QueueArn, ReturnSubscriptionArn: true,
}));

async function receiveOne() {
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2 }));
  const m = got.Messages[0];
  await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m.ReceiptHandle }));
  return m.Body;
}

await sns.send(new PublishCommand({ TopicArn, Message: '{"orderId":"O1234"}' }));
const envelope = JSON.parse(await receiveOne());
await sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn, AttributeName: "RawMessageDelivery", AttributeValue: "true" }));
await sns.send(new PublishCommand({ TopicArn, Message: '{"orderId":"O5678"}' }));
const raw = await receiveOne();

let missing = "";
try {
  await sns.send(new PublishCommand({ TopicArn: TopicArn + "-missing", Message: "x" }));
} catch (e) {
  missing = e.name;
}
console.log(JSON.stringify({ type: envelope.Type, message: envelope.Message, raw, missing }));

// Drives SQS (JSON protocol), SNS (Query) and DynamoDB (JSON) with the AWS
// SDK for JavaScript v3 signing with the key in the environment, against a
// cloud that requires authentication, and prints what it saw (or the first
// error's code) as JSON for crossclient's Go test to check.
import { SQSClient, CreateQueueCommand, SendMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { SNSClient, CreateTopicCommand, PublishCommand } from "@aws-sdk/client-sns";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";

const config = {
  endpoint: process.env.ENDPOINT,
  region: process.env.AWS_REGION,
  maxAttempts: 1,
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
};
const out = {};
try {
  const sqs = new SQSClient(config);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "signed" }));
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "body with spaces & symbols = ok" }));
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
  out.sqs = got.Messages?.[0]?.Body ?? "";
  const sns = new SNSClient(config);
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: "signed" }));
  await sns.send(new PublishCommand({ TopicArn, Message: "signed" }));
  out.sns = TopicArn;
  const ddb = new DynamoDBClient(config);
  const tables = await ddb.send(new ListTablesCommand({}));
  out.dynamodb = String(tables.TableNames.length);
} catch (e) {
  out.error = e.name;
  out.status = String(e.$metadata?.httpStatusCode);
}
console.log(JSON.stringify(out));

// Drives the embedded cloud's DynamoDB with the AWS SDK for JavaScript v3 and
// prints what it read back, as JSON, for crossclient's Go test to check.
import { DynamoDBClient, CreateTableCommand, ListTablesCommand, PutItemCommand, GetItemCommand } from "@aws-sdk/client-dynamodb";

const client = new DynamoDBClient({
  endpoint: process.env.ENDPOINT,
  region: process.env.AWS_REGION,
  credentials: { accessKeyId: "orderflow", secretAccessKey: "orderflow" },
});

await client.send(new CreateTableCommand({
  TableName: "Orders",
  BillingMode: "PAY_PER_REQUEST",
  AttributeDefinitions: [{ AttributeName: "orderId", AttributeType: "S" }],
  KeySchema: [{ AttributeName: "orderId", KeyType: "HASH" }],
}));
await client.send(new PutItemCommand({ TableName: "Orders", Item: { orderId: { S: "O1234" }, quantity: { N: "1" } } }));
const got = await client.send(new GetItemCommand({ TableName: "Orders", Key: { orderId: { S: "O1234" } } }));
const tables = await client.send(new ListTablesCommand({}));
console.log(JSON.stringify({ quantity: got.Item.quantity.N, tables: tables.TableNames.join(",") }));

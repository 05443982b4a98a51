package cloud_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/deploy"
)

func startIn(t *testing.T, dir string) *cloud.Cloud {
	t.Helper()
	c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func closeCloud(t *testing.T, c *cloud.Cloud) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

const durableTemplate = `
Resources:
  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: kept}}
  T: {Type: AWS::SNS::Topic, Properties: {TopicName: kept}}
  Tab:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: kept
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
`

func TestADataDirectoryKeepsEveryServicesStateAcrossARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	c := startIn(t, dir)
	st, err := c.Deploy(ctx, []byte(durableTemplate), "kept", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.Config()
	url := st.Resources["Q"].Ref
	if _, err := awssqs.NewFromConfig(cfg).SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
	if _, err := awsddb.NewFromConfig(cfg).PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("kept"),
		Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k1"}}}); err != nil {
		t.Fatal(err)
	}
	closeCloud(t, c)

	c = startIn(t, dir)
	defer closeCloud(t, c)
	// Deploying the same template again keeps what is there.
	if _, err := c.Deploy(ctx, []byte(durableTemplate), "kept", nil); err != nil {
		t.Fatalf("deploy again on a restarted cloud: %v", err)
	}
	cfg = c.Config()
	got, err := awssqs.NewFromConfig(cfg).ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
	if err != nil || len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != "kept" {
		t.Errorf("after a restart the queue holds %+v, %v", got, err)
	}
	item, err := awsddb.NewFromConfig(cfg).GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("kept"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k1"}}})
	if err != nil || item.Item == nil {
		t.Errorf("after a restart the table holds %+v, %v", item, err)
	}
	topics, err := awssns.NewFromConfig(cfg).ListTopics(ctx, &awssns.ListTopicsInput{})
	if err != nil || len(topics.Topics) != 1 {
		t.Errorf("after a restart the topics are %+v, %v", topics, err)
	}
}

func TestASecondCloudOnTheSameDataDirectoryIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startIn(t, dir)
	defer closeCloud(t, c)
	_, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0", DataDir: dir})
	if err == nil {
		t.Fatal("a second cloud opened the same data file")
	}
	t.Log(err)
}

func TestTheRealTemplateDeploysAgainOnARestartedCloud(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for range 2 {
		c := startIn(t, dir)
		c.Lambda.Register("ProcessOrderFunction", func(lambda.Config) (lambda.Handler, error) {
			return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
				return events.SQSEventResponse{}, nil
			}, nil
		})
		if _, err := c.Deploy(context.Background(), deploy.TemplateYAML, "orderflow", nil); err != nil {
			t.Fatalf("deploy: %v", err)
		}
		closeCloud(t, c)
	}
}

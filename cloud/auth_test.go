package cloud_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
)

func withKeys(t *testing.T) *cloud.Cloud {
	t.Helper()
	c, _ := cloudtest.Start(t, func(o *cloud.Options) { o.Credentials = map[string]string{"AKIDORDERFLOWTEST": "s3cr3t"} })
	return c
}

func configWith(c *cloud.Cloud, key, secret string) aws.Config {
	cfg := c.Config()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(key, secret, "")
	return cfg
}

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func TestRequireAuthAcceptsCorrectlySignedRequestsFromEveryProtocol(t *testing.T) {
	t.Parallel()
	c := withKeys(t)
	cfg := configWith(c, "AKIDORDERFLOWTEST", "s3cr3t")
	ctx := context.Background()
	q, err := awssqs.NewFromConfig(cfg).CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("signed")}) // JSON 1.0
	if err != nil {
		t.Fatalf("SQS: %v", err)
	}
	if _, err := awssqs.NewFromConfig(cfg).SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("body with spaces & symbols = ok")}); err != nil {
		t.Errorf("SQS SendMessage: %v", err)
	}
	if _, err := awssns.NewFromConfig(cfg).CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("signed")}); err != nil { // Query
		t.Errorf("SNS: %v", err)
	}
	if _, err := awsddb.NewFromConfig(cfg).ListTables(ctx, &awsddb.ListTablesInput{}); err != nil {
		t.Errorf("DynamoDB: %v", err)
	}
}

func TestRequireAuthRefusesWhatIsNotSignedByAKnownKey(t *testing.T) {
	t.Parallel()
	c := withKeys(t)
	ctx := context.Background()
	noRetry := func(o *awssqs.Options) { o.RetryMaxAttempts = 1 }
	_, err := awssqs.NewFromConfig(configWith(c, "AKIDORDERFLOWTEST", "wrong")).ListQueues(ctx, &awssqs.ListQueuesInput{}, noRetry)
	if code(err) != "SignatureDoesNotMatch" {
		t.Errorf("a wrong secret: error = %v, want SignatureDoesNotMatch", err)
	}
	_, err = awssqs.NewFromConfig(configWith(c, "AKIDSTRANGER", "s3cr3t")).ListQueues(ctx, &awssqs.ListQueuesInput{}, noRetry)
	if code(err) != "InvalidClientTokenId" {
		t.Errorf("an unknown key: error = %v, want InvalidClientTokenId", err)
	}
	resp, err := http.Post(c.URL(), "application/x-www-form-urlencoded", strings.NewReader("Action=ListQueues"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>MissingAuthenticationToken</Code>") {
		t.Errorf("an unsigned request: %d %s", resp.StatusCode, body)
	}
}

func TestRequireAuthStillLetsTheCloudsOwnClientsThrough(t *testing.T) {
	t.Parallel()
	c := withKeys(t)
	// Config() signs with the cloud's own key: the provisioner and the
	// function host use it.
	if _, err := c.Deploy(context.Background(), []byte("Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: own}}\n  T: {Type: AWS::SNS::Topic}"), "own", nil); err != nil {
		t.Errorf("deploy with the cloud's own key: %v", err)
	}
	if strings.HasPrefix(mustKey(t, c), "orderflow") {
		t.Errorf("the cloud's own key is the well-known default")
	}
}

func mustKey(t *testing.T, c *cloud.Cloud) string {
	t.Helper()
	creds, err := c.Config().Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return creds.AccessKeyID
}

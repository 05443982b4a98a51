package cloud_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// receiveWithGroup receives one message from queueURL with its system
// attributes, and deletes it.
func receiveWithGroup(t *testing.T, client *awssqs.Client, queueURL string) sqstypes.Message {
	t.Helper()
	out, err := client.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 5,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"}})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("received %d messages, want 1", len(out.Messages))
	}
	if _, err := client.DeleteMessage(context.Background(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: out.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	return out.Messages[0]
}

// SNS hands SQS the group id: a standard topic's publish with a
// MessageGroupId reaches a standard queue with it (AWS's fair queues); a
// FIFO topic's message reaches a standard queue without it, and unsigned
// with its sequence number, as AWS delivers it.
func TestSNSPassesMessageGroupIdsToSQSAsAWSDoes(t *testing.T) {
	inMemoryAndOnADataDir(t, func(t *testing.T, dir string) {
		c, _ := startFake(t, dir, base)
		defer c.Close(context.Background())
		ctx := context.Background()
		cfg := c.Config()
		snsc, sqsc := awssns.NewFromConfig(cfg), awssqs.NewFromConfig(cfg)
		q, err := sqsc.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("fair"), Attributes: map[string]string{"Policy": allowSNS("fair")}})
		if err != nil {
			t.Fatal(err)
		}
		std, err := snsc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("std")})
		if err != nil {
			t.Fatal(err)
		}
		fifo, err := snsc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("orders.fifo"),
			Attributes: map[string]string{"FifoTopic": "true", "ContentBasedDeduplication": "true"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, topic := range []*string{std.TopicArn, fifo.TopicArn} {
			if _, err := snsc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic, Protocol: aws.String("sqs"), Endpoint: aws.String(sqsARN("fair"))}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := snsc.Publish(ctx, &awssns.PublishInput{TopicArn: std.TopicArn, Message: aws.String("m"), MessageGroupId: aws.String("my-group-id-1")}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		m := receiveWithGroup(t, sqsc, aws.ToString(q.QueueUrl))
		if got := m.Attributes["MessageGroupId"]; got != "my-group-id-1" {
			t.Errorf("MessageGroupId = %q, want my-group-id-1", got)
		}
		out, err := snsc.Publish(ctx, &awssns.PublishInput{TopicArn: fifo.TopicArn, Message: aws.String("Test"), MessageGroupId: aws.String("g")})
		if err != nil {
			t.Fatalf("Publish to the FIFO topic: %v", err)
		}
		m = receiveWithGroup(t, sqsc, aws.ToString(q.QueueUrl))
		if got, ok := m.Attributes["MessageGroupId"]; ok {
			t.Errorf("a FIFO topic's message reached a standard queue with MessageGroupId %q", got)
		}
		body := aws.ToString(m.Body)
		if !strings.Contains(body, `"SequenceNumber" : "`+aws.ToString(out.SequenceNumber)+`"`) || strings.Contains(body, "Signature") {
			t.Errorf("FIFO envelope = %s, want SequenceNumber %s and no signature", body, aws.ToString(out.SequenceNumber))
		}
	})
}

// inMemoryAndOnADataDir runs test twice, as subtests: with dir "" (a cloud
// in memory) and with a data directory of its own.
func inMemoryAndOnADataDir(t *testing.T, test func(t *testing.T, dir string)) {
	t.Helper()
	t.Run("in memory", func(t *testing.T) { test(t, "") })
	t.Run("on a data dir", func(t *testing.T) { test(t, t.TempDir()) })
}

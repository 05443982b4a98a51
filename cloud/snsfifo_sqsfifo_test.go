package cloud_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/internal/poll"
)

// A FIFO topic delivers to a FIFO queue end to end, over the embedded
// cloud's SNS and SQS: each message keeps its group and deduplication
// ids, a message published again within five minutes (content-based
// deduplication) reaches the queue once, each group's messages arrive in
// publish order, and a group stays locked while one of its messages is
// in flight; raw delivery hands over the bare message. In memory and on a
// data dir.
func TestAFIFOTopicDeliversToAFIFOQueueInOrderOnce(t *testing.T) {
	inMemoryAndOnADataDir(t, func(t *testing.T, dir string) {
		c, _ := startFake(t, dir, base)
		defer c.Close(context.Background())
		ctx := context.Background()
		cfg := c.Config()
		snsc, sqsc := awssns.NewFromConfig(cfg), awssqs.NewFromConfig(cfg)
		q, err := sqsc.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("orders.fifo"),
			Attributes: map[string]string{"FifoQueue": "true", "Policy": allowSNS("orders.fifo")}})
		if err != nil {
			t.Fatal(err)
		}
		topic, err := snsc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("orders.fifo"),
			Attributes: map[string]string{"FifoTopic": "true", "ContentBasedDeduplication": "true"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := snsc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
			Endpoint: aws.String(sqsARN("orders.fifo")), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
			t.Fatal(err)
		}
		publish := func(body, group string) {
			t.Helper()
			if _, err := snsc.Publish(ctx, &awssns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(body), MessageGroupId: aws.String(group)}); err != nil {
				t.Fatalf("Publish %s: %v", body, err)
			}
		}
		publish("o1-created", "order-1")
		publish("o2-created", "order-2")
		publish("o1-paid", "order-1")
		publish("o1-created", "order-1") // a duplicate: the same body within five minutes
		if _, err := snsc.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: topic.TopicArn, PublishBatchRequestEntries: []snstypes.PublishBatchRequestEntry{
			{Id: aws.String("a"), Message: aws.String("o2-paid"), MessageGroupId: aws.String("order-2")},
			{Id: aws.String("b"), Message: aws.String("o1-shipped"), MessageGroupId: aws.String("order-1"), MessageDeduplicationId: aws.String("o1-shipped-1")},
		}}); err != nil {
			t.Fatal(err)
		}

		// Deliveries are asynchronous: wait (real time) until the queue
		// holds what it should, then receive without waiting (the
		// cloud's clock is fake).
		waitFor := func(n int) {
			t.Helper()
			poll.Until(t, 10*time.Second, fmt.Sprint(n, " messages in the queue"), func() bool {
				out, err := sqsc.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
					AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
				if err != nil {
					t.Fatal(err)
				}
				return out.Attributes["ApproximateNumberOfMessages"] == fmt.Sprint(n)
			})
		}
		receive := func() []sqstypes.Message {
			t.Helper()
			out, err := sqsc.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10,
				MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			return out.Messages
		}
		describe := func(msgs []sqstypes.Message) string {
			var s []string
			for _, m := range msgs {
				s = append(s, fmt.Sprintf("%s@%s", aws.ToString(m.Body), m.Attributes["MessageGroupId"]))
			}
			return strings.Join(s, ",")
		}
		waitFor(5)
		first := receive()
		if got, want := describe(first), "o1-created@order-1,o1-paid@order-1,o1-shipped@order-1,o2-created@order-2,o2-paid@order-2"; got != want {
			t.Fatalf("received %s\nwant     %s", got, want)
		}
		if d := first[2].Attributes["MessageDeduplicationId"]; d != "o1-shipped-1" {
			t.Errorf("o1-shipped's MessageDeduplicationId = %q, want o1-shipped-1", d)
		}
		if d := first[0].Attributes["MessageDeduplicationId"]; len(d) != 64 {
			t.Errorf("o1-created's MessageDeduplicationId = %q, want the body's SHA-256", d)
		}
		// Both groups are in flight: nothing more, not even a duplicate.
		publish("o1-refunded", "order-1")
		waitFor(1)
		if got := receive(); len(got) != 0 {
			t.Errorf("while both groups are in flight: %s", describe(got))
		}
		for _, m := range first[:3] {
			if _, err := sqsc.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
		if got := describe(receive()); got != "o1-refunded@order-1" {
			t.Errorf("after order-1's messages were deleted: %s, want o1-refunded@order-1", got)
		}
	})
}

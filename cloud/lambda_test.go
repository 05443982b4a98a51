package cloud_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud/cfn"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/lambda"
)

func TestTheFunctionHostConsumesAnEmbeddedQueueAndDeletesOnlySuccesses(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	ctx := context.Background()
	client := awssqs.NewFromConfig(cfg)
	q, err := client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("work"), Attributes: map[string]string{"VisibilityTimeout": "60"}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	c.Lambda.Register("worker", func(lambda.Config) (lambda.Handler, error) {
		return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			var resp events.SQSEventResponse
			mu.Lock()
			defer mu.Unlock()
			for _, r := range ev.Records {
				seen[r.Body]++
				if r.EventSource != "aws:sqs" || r.EventSourceARN != "arn:aws:sqs:us-east-1:000000000000:work" || r.Attributes["ApproximateReceiveCount"] != "1" {
					return resp, fmt.Errorf("record not built as AWS builds it: %+v", r)
				}
				if n, _ := strconv.Atoi(r.Body); n%5 == 0 { // every fifth fails
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return resp, nil
		}, nil
	})
	if _, err := c.Lambda.CreateFunction(ctx, cfn.Function{Name: "worker", TimeoutSec: 5, MemoryMB: 128}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lambda.CreateEventSourceMapping(ctx, cfn.EventSourceMapping{FunctionName: "worker", EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:work",
		BatchSize: 10, Enabled: true, ReportBatchItemFailure: true, MaximumConcurrency: 2}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if _, err := client.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
		if err != nil {
			t.Fatal(err)
		}
		visible, inflight := out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"]
		if visible == "0" && inflight == "4" {
			break // the four failures wait out their visibility timeout; the rest are deleted
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %s visible and %s in flight, want 0 and 4", visible, inflight)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 20 {
		t.Errorf("the function saw %d distinct messages, want 20", len(seen))
	}
}

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

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/poll"
)

// The cloud runs on a fake clock that only the test moves, so that a failed
// record's visibility timeout is a fact of the queue's state: before the
// clock reaches it the record cannot be delivered again, however the
// goroutines are scheduled. (The cloud serves on a real socket, so the test
// cannot run in a synctest bubble; it polls for what must happen, and relies
// on no sleep for what must not.)
func TestTheFunctionHostConsumesAnEmbeddedQueueAndDeletesOnlySuccesses(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Now())
	c, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.Clock = clk })
	ctx := context.Background()
	client := awssqs.NewFromConfig(cfg)
	q, err := client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("work"), Attributes: map[string]string{"VisibilityTimeout": "60"}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		receives = map[string][]string{} // body → ApproximateReceiveCount of each delivery
	)
	c.Lambda.Register("worker", func(lambda.Config) (lambda.Handler, error) {
		return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			var resp events.SQSEventResponse
			mu.Lock()
			defer mu.Unlock()
			for _, r := range ev.Records {
				receives[r.Body] = append(receives[r.Body], r.Attributes["ApproximateReceiveCount"])
				if r.EventSource != "aws:sqs" || r.EventSourceARN != "arn:aws:sqs:us-east-1:000000000000:work" {
					return resp, fmt.Errorf("record not built as AWS builds it: %+v", r)
				}
				if n, _ := strconv.Atoi(r.Body); n%5 == 0 { // every fifth fails
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return resp, nil
		}, nil
	})
	if _, err := c.Lambda.CreateFunction(ctx, lambda.Function{Name: "worker", TimeoutSec: 5, MemoryMB: 128}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lambda.CreateEventSourceMapping(ctx, lambda.EventSourceMapping{FunctionName: "worker", EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:work",
		BatchSize: 10, Enabled: true, ReportBatchItemFailure: true, MaximumConcurrency: 2}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if _, err := client.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	settled := func(deleted, retried int64) {
		t.Helper()
		var st lambda.MappingState
		if !poll.Within(20*time.Second, func() bool {
			st = c.Lambda.Mappings()[0]
			return st.Deleted == deleted && st.Retried == retried
		}) {
			t.Fatalf("mapping state = %+v, want %d deleted and %d retried", st, deleted, retried)
		}
	}
	queueHolds := func(visible, inflight string) {
		t.Helper()
		out, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
		if err != nil {
			t.Fatal(err)
		}
		if v, f := out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"]; v != visible || f != inflight {
			t.Errorf("queue holds %s visible and %s in flight, want %s and %s", v, f, visible, inflight)
		}
	}
	deliveries := func(body string) []string {
		mu.Lock()
		defer mu.Unlock()
		return receives[body]
	}

	settled(16, 4)
	queueHolds("0", "4") // the four failures wait out their visibility timeout; the rest are deleted
	mu.Lock()
	distinct := len(receives)
	mu.Unlock()
	if got := distinct; got != 20 {
		t.Errorf("the function saw %d distinct messages, want 20", got)
	}

	clk.Advance(59 * time.Second)
	queueHolds("0", "4")
	if st := c.Lambda.Mappings()[0]; st.Received != 20 {
		t.Errorf("59 s into a 60 s visibility timeout, the mapping has received %d records, want 20", st.Received)
	}

	clk.Advance(time.Second)
	settled(16, 8) // the four are delivered again, and fail again
	for i := 1; i <= 20; i++ {
		body := strconv.Itoa(i)
		want := []string{"1"}
		if i%5 == 0 {
			want = []string{"1", "2"}
		}
		if got := deliveries(body); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("message %s was delivered with receive counts %v, want %v", body, got, want)
		}
	}
}

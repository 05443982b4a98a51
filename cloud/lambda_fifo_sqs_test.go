package cloud_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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

// The function host consumes an embedded FIFO queue end to end: 5 order
// groups of 4 messages each, the function failing one message once (and,
// as a FIFO consumer must, reporting the rest of that group's batch as not
// processed); every message is processed once, each group's in the order
// sent, the failed one after its visibility timeout.
func TestTheFunctionHostConsumesAnEmbeddedFIFOQueueInGroupOrder(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Now())
	c, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.Clock = clk })
	ctx := context.Background()
	client := awssqs.NewFromConfig(cfg)
	q, err := client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("work.fifo"),
		Attributes: map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "60"}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		processed = map[string][]int{} // group → message numbers, in the order processed
		failed    bool
	)
	c.Lambda.Register("worker", func(lambda.Config) (lambda.Handler, error) {
		return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			var resp events.SQSEventResponse
			mu.Lock()
			defer mu.Unlock()
			stopped := map[string]bool{}
			for _, r := range ev.Records {
				g, n, _ := strings.Cut(r.Body, ":")
				if r.Attributes["MessageGroupId"] != g {
					return resp, fmt.Errorf("record %s has MessageGroupId %q", r.Body, r.Attributes["MessageGroupId"])
				}
				if r.Body == "g2:1" && !failed {
					failed = true
					stopped[g] = true
				}
				if stopped[g] {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
					continue
				}
				i, _ := strconv.Atoi(n)
				processed[g] = append(processed[g], i)
			}
			return resp, nil
		}, nil
	})
	if _, err := c.Lambda.CreateFunction(ctx, lambda.Function{Name: "worker", TimeoutSec: 5, MemoryMB: 128}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lambda.CreateEventSourceMapping(ctx, lambda.EventSourceMapping{FunctionName: "worker", EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:work.fifo",
		BatchSize: 10, Enabled: true, ReportBatchItemFailure: true, MaximumConcurrency: 2}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for g := range 5 {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(g)),
				MessageBody: aws.String(fmt.Sprint("g", g, ":", i)), MessageGroupId: aws.String(fmt.Sprint("g", g))})
		}
		if _, err := client.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: entries}); err != nil {
			t.Fatal(err)
		}
	}
	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, p := range processed {
			n += len(p)
		}
		return n
	}
	inQueue := func() (visible, inflight int) {
		out, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
		if err != nil {
			t.Fatal(err)
		}
		visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
		inflight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
		return visible, inflight
	}
	deleted := func() int64 { return c.Lambda.Mappings()[0].Deleted }
	// The clock stays put until the host has settled: 17 processed and
	// deleted (all but g2:1 to g2:3), g2:1 in flight until its visibility
	// timeout and g2:2 and g2:3 visible behind it, locked. Nothing else is
	// left that a poller could take while the clock jumps (moving it
	// sooner could run out the timeout of a batch still being deleted).
	if !poll.Within(20*time.Second, func() bool {
		visible, inflight := inQueue()
		return total() == 17 && deleted() == 17 && visible == 2 && inflight == 1
	}) {
		visible, inflight := inQueue()
		t.Fatalf("the host did not settle: %d processed, %d deleted, %d visible, %d in flight; want 17, 17, 2 and 1", total(), deleted(), visible, inflight)
	}
	clk.Advance(61 * time.Second)
	poll.Until(t, 20*time.Second, "the host to process and delete every message", func() bool {
		visible, inflight := inQueue()
		return total() == 20 && deleted() == 20 && visible == 0 && inflight == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if !failed {
		t.Error("the function never failed g2:1: the test tested nothing")
	}
	for g := range 5 {
		if got := fmt.Sprint(processed[fmt.Sprint("g", g)]); got != "[0 1 2 3]" {
			t.Errorf("group g%d processed %s, want [0 1 2 3]", g, got)
		}
	}
}

package sns

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTheRetryPolicyIsAWSsForSQSEndpoints(t *testing.T) {
	var total time.Duration
	n := 0
	for {
		d, ok := retryDelay(n + 1)
		if !ok {
			break
		}
		n++
		total += d
	}
	if n != 100015 {
		t.Errorf("retries = %d, want 100,015", n)
	}
	if days := total.Hours() / 24; days < 23 || days > 23.2 {
		t.Errorf("retries span %.2f days, want about 23", days)
	}
	for i, want := range []time.Duration{0, 0, 0, time.Second, time.Second, time.Second} {
		if got, _ := retryDelay(i + 1); got != want {
			t.Errorf("retry %d waits %v, want %v", i+1, got, want)
		}
	}
	if got, _ := retryDelay(15); got != 20*time.Second {
		t.Errorf("last backoff retry waits %v, want 20s", got)
	}
}

type queuesFunc func(context.Context, Delivery) error

func (f queuesFunc) Deliver(ctx context.Context, d Delivery) error { return f(ctx, d) }

func TestADeliveryThatExhaustsItsRetriesIsDeadLettered(t *testing.T) {
	var dlq []Delivery
	s := &Service{queues: queuesFunc(func(_ context.Context, d Delivery) error {
		if d.QueueARN == "arn:aws:sqs:us-east-1:000000000000:dlq" {
			dlq = append(dlq, d)
			return nil
		}
		return errors.New("service unavailable")
	})}
	s.log = discardLogger()
	c := &counters{}
	j := &job{subARN: "sub", topicARN: "topic", queueARN: "arn:aws:sqs:us-east-1:000000000000:q", body: "b",
		counters: c, dlqARN: "arn:aws:sqs:us-east-1:000000000000:dlq", attempts: totalRetries}
	s.run(context.Background(), j)
	if len(dlq) != 1 || dlq[0].Body != "b" || dlq[0].Attributes["ErrorCode"].StringValue != "InternalError" {
		t.Fatalf("dead-lettered = %+v", dlq)
	}
	if got := c.snapshot(); got != (SubscriptionStats{Failed: 1, DeadLettered: 1}) {
		t.Errorf("stats = %+v, want Failed 1, DeadLettered 1", got)
	}
}

package sns_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/cloud/sns"
	"github.com/orderflow/orderflow/internal/poll"
)

// blockingQueues fails every delivery to "q" transiently until block is
// set; then the next one to "q" says so on started and waits for release,
// whose error it returns. Deliveries elsewhere (the dead-letter queue)
// succeed.
func blockingQueues() (q *fakeQueues, block func(), started <-chan struct{}, release chan<- error) {
	var (
		mu      sync.Mutex
		armed   bool
		startCh = make(chan struct{})
		relCh   = make(chan error)
	)
	q = &fakeQueues{DeliverFunc: func(ctx context.Context, d sns.Delivery) error {
		if d.QueueARN != queueARN("q") {
			return nil
		}
		mu.Lock()
		hold := armed
		armed = false
		mu.Unlock()
		if !hold {
			return errors.New("service unavailable")
		}
		close(startCh)
		return <-relCh
	}}
	block = func() { mu.Lock(); armed = true; mu.Unlock() }
	return q, block, startCh, relCh
}

func TestCloseWaitsForADeliveryInFlightAndKeepsItsRetryPending(t *testing.T) {
	queues, block, started, release := blockingQueues()
	n := newSNSNode(t, queues)
	topic := n.createTopic(t, "orders", nil)
	sub := n.subscribe(t, topic, "q", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + queueARN("dlq") + `"}`})
	out, err := n.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	if got := pendingRetries(t, n); got != 1 {
		t.Fatalf("retry records = %d, want 1", got)
	}
	// The retry fires and its delivery hangs in SQS; Close begins.
	block()
	n.clock.Advance(time.Second)
	<-started
	closed := make(chan error, 1)
	go func() { closed <- n.svc.Close() }()
	poll.Until(t, 10*time.Second, "Close to begin", func() bool { return sns.ClosingForTest(n.svc) })
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a delivery was still running", err)
	default:
	}
	// The delivery fails transiently, as the shutdown interrupted it.
	release <- errors.New("connection reset")
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the delivery ended")
	}
	if got := queues.to(queueARN("dlq")); len(got) != 0 {
		t.Errorf("the interrupted delivery was dead-lettered: %d", len(got))
	}
	if st := n.svc.Stats().Subscriptions[sub]; st.Failed != 0 || st.DeadLettered != 0 || st.DeadLetterFailed != 0 {
		t.Errorf("stats = %+v, want nothing failed", st)
	}

	healthy := &fakeQueues{}
	n.restart(t, time.Hour, healthy)
	d := waitDelivered(t, healthy, queueARN("q"), 1)[0]
	if env := decodeEnvelope(t, d.Body); env["MessageId"] != aws.ToString(out.MessageId) {
		t.Errorf("delivered after the restart: %v", env)
	}
	if got := healthy.to(queueARN("dlq")); len(got) != 0 {
		t.Errorf("dead-lettered after the restart: %d", len(got))
	}
}

func TestCloseGivesUpWaitingWhenItsContextEndsAndTheRetryStaysPending(t *testing.T) {
	stuck := &fakeQueues{}
	started := make(chan struct{}, 1)
	var attempts atomic.Int32
	stuck.DeliverFunc = func(ctx context.Context, d sns.Delivery) error {
		if attempts.Add(1) <= 4 {
			// Publish's attempt and its immediate retries: then a
			// retry is scheduled.
			return errors.New("service unavailable")
		}
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done() // a delivery that never ends by itself
		return ctx.Err()
	}
	n := newSNSNode(t, stuck)
	topic := n.createTopic(t, "orders", nil)
	n.subscribe(t, topic, "q", nil)
	if _, err := n.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")}); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Hour) // the retry fires; its delivery hangs
	<-started
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := n.svc.Shutdown(shutdownCtx)
	if err == nil || !strings.Contains(err.Error(), "1 deliveries still running") {
		t.Errorf("Shutdown = %v, want an error saying one delivery was still running", err)
	}
	healthy := &fakeQueues{}
	n.restart(t, time.Hour, healthy)
	waitDelivered(t, healthy, queueARN("q"), 1)
}

func TestADeliveryInterruptedByCloseInMemoryIsCountedAsLostNotDeadLettered(t *testing.T) {
	queues, block, started, release := blockingQueues()
	clk := clock.NewFake(t1)
	svc, err := sns.New(sns.Options{Clock: clk, Queues: queues, Signer: testSigner(t)})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := svc.CreateTopic(ctx, "orders", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := svc.Subscribe(ctx, topic, "sqs", queueARN("q"), map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + queueARN("dlq") + `"}`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Publish(ctx, sns.PublishInput{TopicARN: topic, Message: "m"}); err != nil {
		t.Fatal(err)
	}
	block()
	clk.Advance(time.Second)
	<-started
	closed := make(chan error, 1)
	go func() { closed <- svc.Close() }()
	poll.Until(t, 10*time.Second, "Close to begin", func() bool { return sns.ClosingForTest(svc) })
	release <- errors.New("connection reset")
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := queues.to(queueARN("dlq")); len(got) != 0 {
		t.Errorf("the interrupted delivery was dead-lettered: %d", len(got))
	}
	if st := svc.Stats().Subscriptions[sub]; st.Failed != 1 || st.DeadLetterFailed != 1 || st.DeadLettered != 0 {
		t.Errorf("stats = %+v, want Failed 1, DeadLetterFailed 1 (lost with the process), not dead-lettered", st)
	}
}

func TestAMessageTheQueueRefusesIsNotRetriedAndIsDeadLetteredWithSQSsCode(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		refusal := &awsproto.Error{Status: http.StatusBadRequest, Code: "InvalidMessageContents", Message: "Invalid characters found."}
		e := b.newEnv(t)
		e.queues.DeliverFunc = func(_ context.Context, d sns.Delivery) error {
			if d.QueueARN == queueARN("q") {
				return fmt.Errorf("%w: %w", sns.ErrRefused, refusal)
			}
			return nil
		}
		topic := e.createTopic(t, "t", nil)
		sub := e.subscribe(t, topic, "q", map[string]string{"RawMessageDelivery": "true", "RedrivePolicy": `{"deadLetterTargetArn":"` + queueARN("dlq") + `"}`})
		if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("refused")}); err != nil {
			t.Fatal(err)
		}
		if got := e.queues.attempts(queueARN("q")); got != 1 {
			t.Errorf("attempts = %d, want 1", got)
		}
		if got := e.clock.Pending(); got != 0 {
			t.Errorf("%d retries scheduled, want none", got)
		}
		dlq := e.queues.to(queueARN("dlq"))
		if len(dlq) != 1 || dlq[0].Body != "refused" || dlq[0].Attributes["ErrorCode"].StringValue != "InvalidMessageContents" ||
			dlq[0].Attributes["ErrorMessage"].StringValue != "Invalid characters found." {
			t.Errorf("dead-lettered = %+v, want the message with SQS's code and message", dlq)
		}
		if st := e.svc.Stats().Subscriptions[sub]; st != (sns.SubscriptionStats{Failed: 1, DeadLettered: 1}) {
			t.Errorf("stats = %+v, want Failed 1, DeadLettered 1", st)
		}
	})
}

func TestServerSideFailuresAreRetried(t *testing.T) {
	for _, cause := range []error{
		errors.New("connection reset"),
		context.DeadlineExceeded,
		&awsproto.Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: "try again", Receiver: true},
	} {
		t.Run(cause.Error(), func(t *testing.T) {
			eachBackend(t, func(t *testing.T, b backend) {
				e := b.newEnv(t)
				e.queues.DeliverFunc = func(context.Context, sns.Delivery) error { return cause }
				topic := e.createTopic(t, "t", nil)
				sub := e.subscribe(t, topic, "q", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + queueARN("dlq") + `"}`})
				if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")}); err != nil {
					t.Fatal(err)
				}
				if st := e.svc.Stats().Subscriptions[sub]; st != (sns.SubscriptionStats{Retried: 4}) {
					t.Errorf("stats = %+v, want 3 immediate retries and one scheduled", st)
				}
				if got := e.clock.Pending(); got != 1 {
					t.Errorf("%d retries scheduled, want 1", got)
				}
			})
		})
	}
}

// PublishBatch's entries run concurrently, so the retry record of a
// lower-numbered entry can be appended after a higher-numbered one's. It
// used to wait only on the highest-numbered entry's ticket; here the later
// record (entry "first") fails, the journal having stopped in between, and
// the batch must not be acknowledged.
func TestPublishBatchAnswersOnlyOnceEveryEntrysRetryRecordIsDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.db")
	db, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	j, err := journal.New(db)
	if err != nil {
		t.Fatal(err)
	}
	var closeOnce sync.Once
	closeJournal := func() { closeOnce.Do(func() { j.Close() }) }
	defer closeJournal()
	retryRecords := func() int {
		if err := j.Flush(); err != nil {
			return -1
		}
		n := 0
		db.View(func(tx *bbolt.Tx) error {
			n = tx.Bucket([]byte("sns")).Bucket([]byte("retries")).Stats().KeyN
			return nil
		})
		return n
	}
	var once sync.Once
	queues := &fakeQueues{DeliverFunc: func(_ context.Context, d sns.Delivery) error {
		if d.Body == "first" {
			// Hold entry "first" until entry "second" has recorded its
			// retry; then the journal stops (as a disk failure stops
			// it), and "first" fails in turn.
			once.Do(func() {
				poll.Within(10*time.Second, func() bool { return retryRecords() >= 1 })
				closeJournal()
			})
		}
		return errors.New("service unavailable")
	}}
	svc, err := sns.New(sns.Options{DB: db, Journal: j, Clock: clock.NewFake(t1), Queues: queues, Signer: testSigner(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	topic, err := svc.CreateTopic(ctx, "orders", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Subscribe(ctx, topic, "sqs", queueARN("q"), map[string]string{"RawMessageDelivery": "true"}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.PublishBatch(ctx, topic, []sns.BatchEntry{
		{ID: "first", PublishInput: sns.PublishInput{Message: "first"}},
		{ID: "second", PublishInput: sns.PublishInput{Message: "second"}},
	})
	if !errors.Is(err, journal.ErrClosed) {
		t.Errorf("PublishBatch = %v, want the failure to record entry first's retry (journal closed)", err)
	}
}

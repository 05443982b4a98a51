package reliability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/internal/ordergen"
	"github.com/orderflow/orderflow/internal/slowtest"
	"github.com/orderflow/orderflow/reliability"
	"github.com/orderflow/orderflow/sqs"
)

// loseReceives is an HTTP client that loses the answer to the first
// ReceiveMessage that returns messages and, if again is set, to the first
// that returns only messages it delivered before: the queue has handed them out
// and hidden them, but reading the body fails halfway, as it does when the
// connection is reset (aws-sdk-go-v2 retries such a read).
type loseReceives struct {
	next  aws.HTTPClient
	again bool

	mu        sync.Mutex
	seen      map[string]bool
	lostFirst bool
	lostAgain bool
}

func (c *loseReceives) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(req)
	if err != nil || req.Header.Get("X-Amz-Target") != "AmazonSQS.ReceiveMessage" {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var page struct{ Messages []struct{ MessageId string } }
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	old := len(page.Messages) > 0 // every message delivered before
	for _, m := range page.Messages {
		old = old && c.seen[m.MessageId]
	}
	lose := false
	switch {
	case len(page.Messages) > 0 && !c.lostFirst:
		c.lostFirst, lose = true, true
	case old && c.again && !c.lostAgain:
		c.lostAgain, lose = true, true
	}
	if !lose {
		for _, m := range page.Messages {
			c.seen[m.MessageId] = true
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:len(body)/2]), errReader{reset}))
	return resp, nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// deadLettered runs the pipeline on orders with a quarter invalid and
// returns it once the queue is drained: the invalid ones are in the DLQ.
func deadLettered(t *testing.T) (*run, ordergen.Batch) {
	t.Helper()
	slowtest.Skip(t, "runs the whole pipeline to fill the DLQ, then waits out its visibility timeouts")
	r := start(t, map[string]string{"MaximumBatchingWindowSeconds": "0"}, cloud.Faults{}, nil)
	b := generate(t, ordergen.Options{Count: 200, Invalid: 0.25, Seed: 11})
	r.publish(t, b.Events)
	r.drain(t, time.Minute)
	return r, b
}

func TestTheCheckerFindsEveryDeadLetterWhenTheAnswerToAReceiveIsLost(t *testing.T) {
	t.Parallel()
	defer reliability.SetDLQVisibility(3)()
	r, b := deadLettered(t)
	for _, again := range []bool{false, true} {
		// again: while the checker waits for what the first lost receive
		// hid, the messages it read first come back into view, and the
		// answer to receiving them again is lost too; the receipts it held
		// for them are stale, and it must still release them.
		cfg := r.cfg.Copy()
		lossy := &loseReceives{next: r.cfg.HTTPClient, again: again}
		cfg.HTTPClient = lossy
		rep, err := reliability.Check(context.Background(), cfg, r.targets(), reliability.Expect{Final: b.Final, Invalid: b.Invalid})
		if err != nil {
			t.Fatalf("again=%v: %v", again, err)
		}
		lossy.mu.Lock()
		lost := lossy.lostFirst && lossy.lostAgain == again
		lossy.mu.Unlock()
		if !lost {
			t.Fatalf("again=%v: the answers meant to be lost were not: the test tested nothing", again)
		}
		failed := 1
		if again {
			failed = 2
		}
		if !rep.OK() || rep.DeadLettered != len(b.Invalid) || rep.Stored != len(b.Final) || rep.DLQCopies != 0 || rep.FailedReceives != failed {
			t.Errorf("again=%v: report: %s\nwant %d stored and %d dead-lettered, nothing lost, no copies, %d failed receives", again, rep, len(b.Final), len(b.Invalid), failed)
		}
		// Every dead letter is visible again for the next reader.
		if visible := dlqVisible(t, r); visible != len(b.Invalid) {
			t.Errorf("again=%v: %d dead letters visible after the check, want %d", again, visible, len(b.Invalid))
		}
	}
}

func dlqVisible(t *testing.T, r *run) int {
	t.Helper()
	out, err := awssqs.NewFromConfig(r.cfg).GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
		QueueUrl: aws.String(r.Output("OrderDLQUrl")), AttributeNames: []sqsAttr{"ApproximateNumberOfMessages"}})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	return n
}

func TestADLQTheCheckerCannotReadWholeIsAnErrorNotLostOrders(t *testing.T) {
	t.Parallel()
	defer reliability.SetDLQVisibility(3)()
	r, b := deadLettered(t)
	// Another consumer holds five dead letters for ten minutes.
	held, err := awssqs.NewFromConfig(r.cfg).ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{
		QueueUrl: aws.String(r.Output("OrderDLQUrl")), MaxNumberOfMessages: 5, VisibilityTimeout: 600})
	if err != nil {
		t.Fatal(err)
	}
	if len(held.Messages) == 0 {
		t.Fatal("the DLQ is empty: the test tests nothing")
	}
	rep, err := reliability.Check(context.Background(), r.cfg, r.targets(), reliability.Expect{Final: b.Final, Invalid: b.Invalid})
	if err == nil || !strings.Contains(err.Error(), "hidden") {
		t.Fatalf("Check error = %v, report %s; want an error saying dead letters stayed hidden", err, rep)
	}
	t.Logf("Check error: %v", err)
}

func TestACopyInTheDLQWithoutAReasonAwaitsARedriveAndOneWithAReasonIsADuplicate(t *testing.T) {
	t.Parallel()
	r, b := deadLettered(t)
	var stored []orderflow.Order
	for _, o := range b.Final {
		stored = append(stored, o)
		if len(stored) == 2 {
			break
		}
	}
	client := awssqs.NewFromConfig(r.cfg)
	dlq := r.Output("OrderDLQUrl")
	moved, _ := stored[0].MarshalJSON() // as SQS moves a message: no attributes
	if _, err := client.SendMessage(context.Background(), &awssqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(string(moved))}); err != nil {
		t.Fatal(err)
	}
	reasoned, _ := stored[1].MarshalJSON() // as the function dead-letters
	dl := orderflow.DeadLetter{Body: string(reasoned), Code: orderflow.CodeInvalidOrder, Reason: "invalid order: (a wrong verdict)"}
	if err := sqs.New(client, dlq).SendDeadLetter(context.Background(), dl); err != nil {
		t.Fatal(err)
	}
	rep, err := reliability.Check(context.Background(), r.cfg, r.targets(), reliability.Expect{Final: b.Final, Invalid: b.Invalid})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.AwaitingRedrive, []string{stored[0].OrderID}) || !slices.Equal(rep.Duplicated, []string{stored[1].OrderID}) ||
		len(rep.Lost) != 0 || len(rep.Unexpected) != 0 || rep.OK() {
		t.Errorf("report: %s\nwant %s awaiting a redrive and %s duplicated, nothing else, and not OK", rep, stored[0].OrderID, stored[1].OrderID)
	}
}

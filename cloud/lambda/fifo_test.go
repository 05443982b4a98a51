package lambda_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/syncbuf"
)

const fifoARN = "arn:aws:sqs:us-east-1:000000000000:OrderQueue.fifo"

// fifoQueue is an in-memory FIFO queue on a fake clock that keeps SQS's
// FIFO rules: a group's messages are received in the order sent; a group
// with a message in flight (received, neither deleted nor back after the
// visibility timeout) hands out nothing more; a receive takes as many
// messages of one group as it can before the next group. Receipt handles
// change with each receive, as SQS's do, so a stale one deletes nothing.
//
// It also watches the host: deleting a message while an earlier message
// of its group is still in the queue is an order violation, recorded.
type fifoQueue struct {
	clk        *clock.Fake
	visibility time.Duration

	mu         sync.Mutex
	msgs       []*fifoMsg // in send order; deleted ones removed
	seq        int
	changed    chan struct{}
	violations []string
	deleted    []string // ids, in the order deleted
	inFlightHi int      // most groups in flight at once
}

type fifoMsg struct {
	id, group, receipt string
	seq, receives      int
	visibleAt          time.Time // zero: never received
}

func newFIFOQueue(visibility time.Duration, clk *clock.Fake) *fifoQueue {
	return &fifoQueue{clk: clk, visibility: visibility, changed: make(chan struct{})}
}

// send enqueues messages given as "group/id".
func (q *fifoQueue) send(msgs ...string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, gm := range msgs {
		group, id, ok := strings.Cut(gm, "/")
		if !ok {
			panic("send wants group/id, got " + gm)
		}
		q.seq++
		q.msgs = append(q.msgs, &fifoMsg{id: id, group: group, seq: q.seq})
	}
	q.wakeLocked()
}

func (q *fifoQueue) wakeLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *fifoQueue) Lookup(_ context.Context, arn string) (lambda.QueueInfo, error) {
	if arn != fifoARN {
		return lambda.QueueInfo{}, errors.New("AWS.SimpleQueueService.NonExistentQueue")
	}
	return lambda.QueueInfo{ARN: arn, URL: "http://q/OrderQueue.fifo", Region: "us-east-1", VisibilityTimeoutSec: int(q.visibility / time.Second), FIFO: true}, nil
}

// inFlightLocked reports whether m is received and not yet visible again.
func (q *fifoQueue) inFlightLocked(m *fifoMsg, now time.Time) bool {
	return !m.visibleAt.IsZero() && now.Before(m.visibleAt)
}

// takeLocked receives up to limit messages as SQS's FIFO receive does.
func (q *fifoQueue) takeLocked(limit int) []events.SQSMessage {
	now := q.clk.Now()
	locked := map[string]bool{}
	for _, m := range q.msgs {
		if q.inFlightLocked(m, now) {
			locked[m.group] = true
		}
	}
	// Groups in the order of their oldest message; each gives its messages
	// in order until limit.
	var groups []string
	seen := map[string]bool{}
	for _, m := range q.msgs {
		if !seen[m.group] {
			seen[m.group] = true
			groups = append(groups, m.group)
		}
	}
	var out []events.SQSMessage
	for _, g := range groups {
		if locked[g] {
			continue
		}
		for _, m := range q.msgs {
			if len(out) == limit {
				break
			}
			if m.group != g {
				continue
			}
			m.receives++
			m.visibleAt = now.Add(q.visibility)
			m.receipt = fmt.Sprintf("rh-%s-%d", m.id, m.receives)
			out = append(out, events.SQSMessage{
				MessageId: m.id, ReceiptHandle: m.receipt, Body: "body-" + m.id,
				Attributes: map[string]string{
					"ApproximateReceiveCount": strconv.Itoa(m.receives),
					"MessageGroupId":          m.group,
					"MessageDeduplicationId":  "dedup-" + m.id,
					"SequenceNumber":          fmt.Sprintf("%020d", m.seq),
				},
				EventSource: "aws:sqs", EventSourceARN: fifoARN, AWSRegion: "us-east-1",
			})
		}
	}
	inFlight := map[string]bool{}
	for _, m := range q.msgs {
		if q.inFlightLocked(m, now) {
			inFlight[m.group] = true
		}
	}
	q.inFlightHi = max(q.inFlightHi, len(inFlight))
	return out
}

func (q *fifoQueue) Receive(ctx context.Context, _ lambda.QueueInfo, max int, wait time.Duration) ([]events.SQSMessage, error) {
	expired := make(chan struct{})
	timer := q.clk.AfterFunc(wait, func() { close(expired) })
	defer timer.Stop()
	for {
		q.mu.Lock()
		if out := q.takeLocked(max); len(out) > 0 {
			q.mu.Unlock()
			return out, nil
		}
		changed := q.changed
		// Wake when the next message in flight becomes visible again.
		var next time.Time
		for _, m := range q.msgs {
			if q.inFlightLocked(m, q.clk.Now()) && (next.IsZero() || m.visibleAt.Before(next)) {
				next = m.visibleAt
			}
		}
		q.mu.Unlock()
		back := make(chan struct{})
		var backTimer clock.Timer
		if !next.IsZero() {
			backTimer = q.clk.AfterFunc(next.Sub(q.clk.Now()), func() { close(back) })
		}
		select {
		case <-changed:
		case <-back:
		case <-expired:
			if backTimer != nil {
				backTimer.Stop()
			}
			return nil, nil
		case <-ctx.Done():
			if backTimer != nil {
				backTimer.Stop()
			}
			return nil, nil
		}
		if backTimer != nil {
			backTimer.Stop()
		}
	}
}

func (q *fifoQueue) Delete(_ context.Context, _ lambda.QueueInfo, recs []events.SQSMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range recs {
		i := slices.IndexFunc(q.msgs, func(m *fifoMsg) bool { return m.receipt == r.ReceiptHandle })
		if i < 0 {
			continue // a stale receipt handle: SQS ignores it too
		}
		m := q.msgs[i]
		if j := slices.IndexFunc(q.msgs[:i], func(e *fifoMsg) bool { return e.group == m.group }); j >= 0 {
			q.violations = append(q.violations, fmt.Sprintf("%s deleted while %s, earlier in group %s, is still queued", m.id, q.msgs[j].id, m.group))
		}
		q.msgs = slices.Delete(q.msgs, i, i+1)
		q.deleted = append(q.deleted, m.id)
	}
	q.wakeLocked()
	return nil
}

// remaining returns the ids still queued, in send order.
func (q *fifoQueue) remaining() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []string
	for _, m := range q.msgs {
		ids = append(ids, m.id)
	}
	return ids
}

func (q *fifoQueue) deletedIDs() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.deleted)
}

func (q *fifoQueue) checkOrder(t *testing.T) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, v := range q.violations {
		t.Errorf("order violation: %s", v)
	}
}

// startFIFO is start on a FIFO queue (visibility timeout 60 s) mapped with
// ReportBatchItemFailures.
func startFIFO(t *testing.T, esm lambda.EventSourceMapping, handler lambda.Handler, opts ...func(*lambda.Options)) (*setup, *fifoQueue) {
	t.Helper()
	var q *fifoQueue
	esm.EventSourceArn = fifoARN
	s := start(t, 3, esm, handler, append([]func(*lambda.Options){func(o *lambda.Options) {
		q = newFIFOQueue(60*time.Second, o.Clock.(*clock.Fake))
		o.Queues = q
	}}, opts...)...)
	return s, q
}

// ids returns the message ids of an event's records, in order.
func ids(ev events.SQSEvent) []string {
	out := make([]string, len(ev.Records))
	for i, r := range ev.Records {
		out[i] = r.MessageId
	}
	return out
}

// failing returns a handler whose partial batch response lists the given
// ids that are in its batch.
func failing(ids ...string) lambda.Handler {
	return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for _, r := range ev.Records {
			if slices.Contains(ids, r.MessageId) {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return resp, nil
	}
}

func TestAFIFOBatchCarriesItsGroupsInOrderWithTheirFIFOAttributes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, q := startFIFO(t, lambda.EventSourceMapping{ReportBatchItemFailure: true}, ok)
		q.send("A/a1", "B/b1", "A/a2", "B/b2", "A/a3")
		ev := s.next(t)
		s.settled(t, 1)
		if got, want := ids(ev), []string{"a1", "a2", "a3", "b1", "b2"}; !slices.Equal(got, want) {
			t.Errorf("batch = %v, want %v (each group whole and in order)", got, want)
		}
		r := ev.Records[0]
		if r.Attributes["MessageGroupId"] != "A" || r.Attributes["MessageDeduplicationId"] != "dedup-a1" || r.Attributes["SequenceNumber"] == "" {
			t.Errorf("the first record's attributes = %v, want its group, deduplication id and sequence number", r.Attributes)
		}
		if got := q.remaining(); len(got) != 0 {
			t.Errorf("left in the queue: %v, want nothing", got)
		}
		q.checkOrder(t)
	})
}

func TestAFailedFIFORecordReturnsWithTheRestOfItsGroupAndOtherGroupsAreDeleted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		handler  lambda.Handler
		deleted  []string // in the order deleted
		kept     []string // in send order
		failed   int64    // failed invocations
		warnings int      // "left out records" warnings
	}{
		{"the function reports the failed record and the rest of its group", failing("a2", "a3"),
			[]string{"a1", "b1", "b2"}, []string{"a2", "a3"}, 0, 0},
		{"the function reports only the failed record", failing("a2"),
			[]string{"a1", "b1", "b2"}, []string{"a2", "a3"}, 0, 1},
		{"the function reports the first record of a group and a later one", failing("a1", "a3"),
			[]string{"b1", "b2"}, []string{"a1", "a2", "a3"}, 0, 1},
		{"the function reports only the last record of a group", failing("a3"),
			[]string{"a1", "a2", "b1", "b2"}, []string{"a3"}, 0, 0},
		{"the function reports one record twice", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "b1"}, {ItemIdentifier: "b1"}}}, nil
		},
			[]string{"a1", "a2", "a3"}, []string{"b1", "b2"}, 0, 1},
		{"the response names a record that is not in the batch", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "a2"}, {ItemIdentifier: "zz"}}}, nil
		}, nil, []string{"a1", "b1", "a2", "b2", "a3"}, 1, 0},
		{"the function fails", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, errors.New("boom")
		}, nil, []string{"a1", "b1", "a2", "b2", "a3"}, 1, 0},
		{"the function panics", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			panic("kaboom")
		}, nil, []string{"a1", "b1", "a2", "b2", "a3"}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var warn syncbuf.Buffer
				s, q := startFIFO(t, lambda.EventSourceMapping{ReportBatchItemFailure: true}, tt.handler, func(o *lambda.Options) { o.Logger = slogTo(&warn) })
				q.send("A/a1", "B/b1", "A/a2", "B/b2", "A/a3")
				s.next(t)
				s.settled(t, 1)
				if got := q.deletedIDs(); !slices.Equal(got, tt.deleted) {
					t.Errorf("deleted = %v, want %v", got, tt.deleted)
				}
				if got := q.remaining(); !slices.Equal(got, tt.kept) {
					t.Errorf("left in the queue = %v, want %v", got, tt.kept)
				}
				st := s.state(t)
				if st.FailedInvocations != tt.failed || st.Retried != int64(len(tt.kept)) || st.Deleted != int64(len(tt.deleted)) {
					t.Errorf("mapping state = %+v, want %d failed invocations, %d retried, %d deleted", st, tt.failed, len(tt.kept), len(tt.deleted))
				}
				if got := strings.Count(warn.String(), "left out records that follow a failed record"); got != tt.warnings {
					t.Errorf("%d warnings about left-out records, want %d:\n%s", got, tt.warnings, warn.String())
				}
				q.checkOrder(t)
			})
		})
	}
}

func TestAFailedFIFOGroupComesBackInOrderAfterTheVisibilityTimeoutWhileOtherGroupsMoveOn(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		failOnce := map[string]bool{"a2": true}
		s, q := startFIFO(t, lambda.EventSourceMapping{ReportBatchItemFailure: true, BatchSize: 2}, func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			var resp events.SQSEventResponse
			stop := map[string]bool{}
			for _, r := range ev.Records {
				g := r.Attributes["MessageGroupId"]
				if stop[g] || failOnce[r.MessageId] {
					failOnce[r.MessageId] = false
					stop[g] = true
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return resp, nil
		})
		q.send("A/a1", "A/a2", "A/a3", "B/b1", "B/b2", "B/b3")
		// Two groups, five pollers: A's batch fails at a2; B moves on.
		synctest.Wait()
		var batches [][]string
	drain:
		for range 10 {
			select {
			case ev := <-s.invoked:
				batches = append(batches, ids(ev))
			default:
				break drain
			}
		}
		if got, want := q.remaining(), []string{"a2", "a3"}; !slices.Equal(got, want) {
			t.Fatalf("before the visibility timeout the queue holds %v, want %v (batches %v)", got, want, batches)
		}
		s.noInvocation(t, "while a2 is in flight")
		s.clock.Advance(60 * time.Second)
		ev := s.next(t)
		if got, want := ids(ev), []string{"a2", "a3"}; !slices.Equal(got, want) {
			t.Errorf("after the visibility timeout the batch = %v, want %v", got, want)
		}
		if ev.Records[0].Attributes["ApproximateReceiveCount"] != "2" {
			t.Errorf("a2's receive count = %s, want 2", ev.Records[0].Attributes["ApproximateReceiveCount"])
		}
		synctest.Wait()
		if got := q.remaining(); len(got) != 0 {
			t.Errorf("left in the queue: %v", got)
		}
		// Each group's deletes, and so its processing, in send order.
		var a, b []string
		for _, id := range q.deletedIDs() {
			if strings.HasPrefix(id, "a") {
				a = append(a, id)
			} else {
				b = append(b, id)
			}
		}
		if !slices.Equal(a, []string{"a1", "a2", "a3"}) || !slices.Equal(b, []string{"b1", "b2", "b3"}) {
			t.Errorf("deleted A %v and B %v, want each in send order", a, b)
		}
		q.checkOrder(t)
	})
}

func TestConcurrentFIFOBatchesNeverShareAGroup(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		inFlight := map[string]int{}
		var overlaps []string
		s, q := startFIFO(t, lambda.EventSourceMapping{ReportBatchItemFailure: true, BatchSize: 2, MaximumConcurrency: 5}, func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			groups := map[string]bool{}
			for _, r := range ev.Records {
				groups[r.Attributes["MessageGroupId"]] = true
			}
			mu.Lock()
			for g := range groups {
				if inFlight[g]++; inFlight[g] > 1 {
					overlaps = append(overlaps, g)
				}
			}
			mu.Unlock()
			<-release
			mu.Lock()
			for g := range groups {
				inFlight[g]--
			}
			mu.Unlock()
			return events.SQSEventResponse{}, nil
		})
		t.Cleanup(func() { unblock(release) })
		var msgs []string
		for i := range 6 {
			for _, g := range []string{"A", "B", "C"} {
				msgs = append(msgs, fmt.Sprintf("%s/%s%d", g, strings.ToLower(g), i))
			}
		}
		q.send(msgs...)
		// Three groups: three batches run at once, and no more, though
		// five pollers could invoke five.
		for range 3 {
			s.next(t)
		}
		s.noInvocation(t, "while every group is in flight")
		unblock(release)
		for range 20 {
			synctest.Wait()
			if len(q.remaining()) == 0 {
				break
			}
			select {
			case <-s.invoked:
			default:
			}
		}
		if got := q.remaining(); len(got) != 0 {
			t.Errorf("left in the queue: %v", got)
		}
		if len(overlaps) != 0 {
			t.Errorf("groups %v were in two invocations at once", overlaps)
		}
		q.checkOrder(t)
	})
}

func TestFIFOMappingsAreValidatedAsAWSDoes(t *testing.T) {
	t.Parallel()
	h, err := lambda.New(lambda.Options{Queues: newFIFOQueue(30*time.Second, clock.NewFake(t0))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	h.Register("F", func(lambda.Config) (lambda.Handler, error) { return ok, nil })
	ctx := context.Background()
	if _, err := h.CreateFunction(ctx, lambda.Function{Name: "F", TimeoutSec: 5}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		m    lambda.EventSourceMapping
		want string
	}{
		{"a batching window", lambda.EventSourceMapping{BatchSize: 10, MaximumBatchingWindow: 1},
			"lambda: InvalidParameterValueException: Batching window is not supported for FIFO queues"},
		{"a batch of 11 with a window", lambda.EventSourceMapping{BatchSize: 11, MaximumBatchingWindow: 5},
			"lambda: InvalidParameterValueException: Batching window is not supported for FIFO queues"},
		{"a batch of 11", lambda.EventSourceMapping{BatchSize: 11},
			"lambda: InvalidParameterValueException: BatchSize 11 is above 10, the most for a FIFO queue"},
		{"a batch of 10000", lambda.EventSourceMapping{BatchSize: 10000},
			"lambda: InvalidParameterValueException: BatchSize 10000 is above 10, the most for a FIFO queue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m
			m.FunctionName, m.EventSourceArn = "F", fifoARN
			if _, err := h.CreateEventSourceMapping(ctx, m); err == nil || err.Error() != tt.want {
				t.Errorf("create: error = %v, want %q", err, tt.want)
			}
		})
	}
	id, err := h.CreateEventSourceMapping(ctx, lambda.EventSourceMapping{FunctionName: "F", EventSourceArn: fifoARN, BatchSize: 10, MaximumConcurrency: 2})
	if err != nil {
		t.Fatalf("a FIFO mapping of 10 records, no window: %v", err)
	}
	err = h.UpdateEventSourceMapping(ctx, id, lambda.EventSourceMapping{FunctionName: "F", BatchSize: 10, MaximumBatchingWindow: 2})
	if want := "lambda: InvalidParameterValueException: Batching window is not supported for FIFO queues"; err == nil || err.Error() != want {
		t.Errorf("update with a window: error = %v, want %q", err, want)
	}
	if ms := h.Mappings(); len(ms) != 1 || ms[0].MaximumBatchingWindow != 0 || ms[0].BatchSize != 10 {
		t.Errorf("after the refused update the mapping is %+v, want it unchanged", ms)
	}
}

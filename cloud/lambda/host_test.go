package lambda_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/syncbuf"
)

const queueARN = "arn:aws:sqs:us-east-1:000000000000:OrderQueue"

// t0 is when every test's fake clock starts.
var t0 = time.Date(2025, 5, 3, 12, 0, 0, 0, time.UTC)

// The tests run the host in a synctest bubble on a fake clock: the clock
// moves only when a test advances it, and synctest.Wait returns once every
// poller and handler is blocked, so "nothing happened" is a fact, not the
// outcome of a short sleep.

// fakeQueue is an in-memory queue on a fake clock: records pushed are handed
// out once by Receive (which waits for a push up to its wait time on the
// clock) and remembered when deleted. It stands in for SQS where a test needs
// precise control; the mappings also run against the embedded SQS in the
// cloud's tests.
type fakeQueue struct {
	clk        *clock.Fake
	visibility int

	mu       sync.Mutex
	pending  []events.SQSMessage
	deleted  []string
	receives int           // calls, failed ones included
	failing  error         // if set, every Receive fails with it
	changed  chan struct{} // closed and replaced at each push
	// quietOnCancel: a Receive whose context ends returns nothing and no
	// error, as the cloud's in-process queues do.
	quietOnCancel bool
}

func newFakeQueue(visibility int, clk *clock.Fake) *fakeQueue {
	return &fakeQueue{clk: clk, visibility: visibility, changed: make(chan struct{})}
}

func (q *fakeQueue) push(ids ...string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, id := range ids {
		q.pending = append(q.pending, events.SQSMessage{MessageId: id, ReceiptHandle: "rh-" + id, Body: "body-" + id,
			EventSource: "aws:sqs", EventSourceARN: queueARN, AWSRegion: "us-east-1"})
	}
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *fakeQueue) fail(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.failing = err
}

func (q *fakeQueue) receiveCalls() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.receives
}

func (q *fakeQueue) Lookup(_ context.Context, arn string) (lambda.QueueInfo, error) {
	if arn != queueARN {
		return lambda.QueueInfo{}, errors.New("AWS.SimpleQueueService.NonExistentQueue")
	}
	return lambda.QueueInfo{ARN: arn, URL: "http://q/OrderQueue", Region: "us-east-1", VisibilityTimeoutSec: q.visibility}, nil
}

func (q *fakeQueue) Receive(ctx context.Context, _ lambda.QueueInfo, max int, wait time.Duration) ([]events.SQSMessage, error) {
	q.mu.Lock()
	q.receives++
	err := q.failing
	q.mu.Unlock()
	if err != nil {
		return nil, err
	}
	expired := make(chan struct{})
	timer := q.clk.AfterFunc(wait, func() { close(expired) })
	defer timer.Stop()
	for {
		q.mu.Lock()
		if n := min(max, len(q.pending)); n > 0 {
			out := slices.Clone(q.pending[:n])
			q.pending = q.pending[n:]
			q.mu.Unlock()
			return out, nil
		}
		changed := q.changed
		q.mu.Unlock()
		select {
		case <-changed:
		case <-expired:
			return nil, nil
		case <-ctx.Done():
			if q.quietOnCancel {
				return nil, nil
			}
			return nil, ctx.Err()
		}
	}
}

func (q *fakeQueue) Delete(_ context.Context, _ lambda.QueueInfo, recs []events.SQSMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range recs {
		q.deleted = append(q.deleted, r.MessageId)
	}
	return nil
}

func (q *fakeQueue) deletedIDs() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := slices.Clone(q.deleted)
	slices.Sort(ids)
	return ids
}

type setup struct {
	host    *lambda.Host
	mapping string // its UUID
	clock   *clock.Fake
	queue   *fakeQueue
	logs    *syncbuf.Buffer
	invoked chan events.SQSEvent
}

// start creates a host with one function, ProcessOrderFunction, whose
// behaviour is handler, and maps the fake queue (visibility timeout 60 s) to
// it; opts adjust the host's options. It must run in a synctest bubble. The
// host is closed when the test ends, after the test's own cleanups
// registered later (which release blocked handlers).
func start(t *testing.T, timeoutSec int, esm lambda.EventSourceMapping, handler lambda.Handler, opts ...func(*lambda.Options)) *setup {
	t.Helper()
	clk := clock.NewFake(t0)
	s := &setup{clock: clk, queue: newFakeQueue(60, clk), logs: &syncbuf.Buffer{}, invoked: make(chan events.SQSEvent, 100)}
	o := lambda.Options{Queues: s.queue, Logs: s.logs, Clock: clk}
	for _, f := range opts {
		f(&o)
	}
	h, err := lambda.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.host = h
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // bubble time
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	h.Register("ProcessOrderFunction", func(cfg lambda.Config) (lambda.Handler, error) {
		return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			fmt.Fprintf(cfg.Logs, "function log line for %d records\n", len(ev.Records))
			s.invoked <- ev
			return handler(ctx, ev)
		}, nil
	})
	if _, err := h.CreateFunction(context.Background(), lambda.Function{Name: "ProcessOrderFunction", TimeoutSec: timeoutSec, MemoryMB: 128}); err != nil {
		t.Fatal(err)
	}
	if esm.EventSourceArn == "" {
		esm.EventSourceArn = queueARN
	}
	esm.FunctionName = "ProcessOrderFunction"
	esm.Enabled = true
	if esm.BatchSize == 0 {
		esm.BatchSize = 10
	}
	if s.mapping, err = h.CreateEventSourceMapping(context.Background(), esm); err != nil {
		t.Fatal(err)
	}
	return s
}

// next returns the invocation that started once every poller and handler
// is blocked, without the clock moving.
func (s *setup) next(t *testing.T) events.SQSEvent {
	t.Helper()
	synctest.Wait()
	select {
	case ev := <-s.invoked:
		return ev
	default:
		t.Fatalf("the function was not invoked; logs:\n%s", s.logs)
		return events.SQSEvent{}
	}
}

// noInvocation fails if an invocation has started by the time every poller
// and handler is blocked.
func (s *setup) noInvocation(t *testing.T, when string) {
	t.Helper()
	synctest.Wait()
	select {
	case ev := <-s.invoked:
		t.Fatalf("%s, the function was invoked with %d records", when, len(ev.Records))
	default:
	}
}

// settled fails unless exactly n invocations have settled (written their
// REPORT line, and deleted or kept their batch) once every poller and
// handler is blocked.
func (s *setup) settled(t *testing.T, n int) {
	t.Helper()
	synctest.Wait()
	if got := strings.Count(s.logs.String(), "REPORT RequestId"); got != n {
		t.Fatalf("%d invocations settled, want %d; logs:\n%s", got, n, s.logs)
	}
}

func (s *setup) state(t *testing.T) lambda.MappingState {
	t.Helper()
	ms := s.host.Mappings()
	if len(ms) != 1 {
		t.Fatalf("the host has %d mappings, want 1", len(ms))
	}
	return ms[0]
}

// setEnabled enables or disables the mapping through the Lambda API, as
// UpdateEventSourceMapping does, and returns the HTTP status.
func (s *setup) setEnabled(t *testing.T, on bool) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPut, "/2015-03-31/event-source-mappings/"+s.mapping, strings.NewReader(fmt.Sprintf(`{"Enabled":%t}`, on)))
	rec := httptest.NewRecorder()
	s.host.API().ServeHTTP(rec, req)
	return rec.Code
}

// unblock closes ch unless it is closed: tests release blocked handlers
// with it, and again in a cleanup so that a test failing half-way leaves no
// goroutine blocked in its bubble.
func unblock(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func ok(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return events.SQSEventResponse{}, nil
}

func TestASuccessfulInvocationDeletesTheBatchAndLogsLikeLambda(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var (
			gotID       string
			gotDeadline time.Time
		)
		s := start(t, 3, lambda.EventSourceMapping{ReportBatchItemFailure: true}, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			lc, _ := lambdacontext.FromContext(ctx)
			gotID = lc.AwsRequestID
			gotDeadline, _ = ctx.Deadline()
			return events.SQSEventResponse{}, nil
		})
		s.queue.push("m1", "m2", "m3")
		ev := s.next(t)
		s.settled(t, 1)
		if len(ev.Records) != 3 || ev.Records[0].EventSourceARN != queueARN {
			t.Errorf("event = %+v", ev)
		}
		if want := t0.Add(3 * time.Second); !gotDeadline.Equal(want) {
			t.Errorf("the handler's deadline = %v, want %v (the host's clock plus the function's timeout)", gotDeadline, want)
		}
		if got := s.queue.deletedIDs(); !slices.Equal(got, []string{"m1", "m2", "m3"}) {
			t.Errorf("deleted = %v, want all three", got)
		}
		logs := s.logs.String()
		re := regexp.MustCompile(`(?s)^START RequestId: (\S+) Version: \$LATEST\nfunction log line for 3 records\nEND RequestId: (\S+)\nREPORT RequestId: (\S+)\tDuration: [0-9.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\n$`)
		m := re.FindStringSubmatch(logs)
		if m == nil || m[1] != m[2] || m[2] != m[3] || m[1] != gotID {
			t.Errorf("logs do not frame the invocation with its request id %q:\n%s", gotID, logs)
		}
	})
}

func TestAPartialBatchResponseKeepsOnlyTheListedRecords(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{ReportBatchItemFailure: true}, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "m2"}}}, nil
		})
		s.queue.push("m1", "m2", "m3")
		s.next(t)
		s.settled(t, 1)
		if got := s.queue.deletedIDs(); !slices.Equal(got, []string{"m1", "m3"}) {
			t.Errorf("deleted = %v, want m1 and m3", got)
		}
	})
}

func TestWholeBatchFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler lambda.Handler
		log     string
	}{
		{"an unknown item identifier", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "not-in-batch"}}}, nil
		}, ""},
		{"an empty item identifier", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ""}}}, nil
		}, ""},
		{"a function error", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, errors.New("boom")
		}, `ERROR Invoke Error {"errorMessage":"boom"`},
		{"a panic", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			panic("kaboom")
		}, `ERROR Invoke Error {"errorMessage":"panic: kaboom"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := start(t, 3, lambda.EventSourceMapping{ReportBatchItemFailure: true}, tt.handler)
				s.queue.push("m1", "m2")
				s.next(t)
				s.settled(t, 1)
				if got := s.queue.deletedIDs(); len(got) != 0 {
					t.Errorf("deleted = %v, want none: the whole batch returns", got)
				}
				if st := s.state(t); st.FailedInvocations != 1 || st.Retried != 2 {
					t.Errorf("mapping state = %+v, want 1 failed invocation and 2 retried records", st)
				}
				if tt.log != "" && !strings.Contains(s.logs.String(), tt.log) {
					t.Errorf("logs lack %q:\n%s", tt.log, s.logs)
				}
			})
		})
	}
}

func TestAHandlerThatOverrunsItsTimeoutFailsTheBatchAtTheDeadlineOnTheHostsClock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var (
			mu                 sync.Mutex
			ctxErr, derivedErr error
			deadline           time.Time
		)
		s := start(t, 2, lambda.EventSourceMapping{ReportBatchItemFailure: true}, func(ctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
			derived, cancel := context.WithCancel(ctx) // as an SDK call derives one
			defer cancel()
			d, _ := derived.Deadline()
			<-derived.Done()
			mu.Lock()
			ctxErr, derivedErr, deadline = ctx.Err(), derived.Err(), d
			mu.Unlock()
			<-release // and goes on past the deadline
			return events.SQSEventResponse{}, nil
		})
		t.Cleanup(func() { unblock(release) })
		s.queue.push("m1", "m2")
		s.next(t)
		s.clock.Advance(2*time.Second - time.Nanosecond)
		s.settled(t, 0)
		s.clock.Advance(time.Nanosecond)
		s.settled(t, 1)
		mu.Lock()
		if !errors.Is(ctxErr, context.DeadlineExceeded) || !errors.Is(derivedErr, context.DeadlineExceeded) {
			t.Errorf("at the deadline, the handler's context reports %v and a context derived from it %v, want %v", ctxErr, derivedErr, context.DeadlineExceeded)
		}
		if want := t0.Add(2 * time.Second); !deadline.Equal(want) {
			t.Errorf("a derived context's deadline = %v, want %v", deadline, want)
		}
		mu.Unlock()
		if got := s.queue.deletedIDs(); len(got) != 0 {
			t.Errorf("deleted = %v, want none: the whole batch returns", got)
		}
		if st := s.state(t); st.FailedInvocations != 1 || st.Retried != 2 {
			t.Errorf("mapping state = %+v, want 1 failed invocation and 2 retried records", st)
		}
		if want := "Task timed out after 2.00 seconds"; !strings.Contains(s.logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, s.logs)
		}
		if want := "Duration: 2000.00 ms"; !strings.Contains(s.logs.String(), want) {
			t.Errorf("logs lack %q (the duration on the host's clock):\n%s", want, s.logs)
		}
	})
}

func TestWithoutReportBatchItemFailuresASuccessDeletesEverything(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{}, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "m1"}}}, nil
		})
		s.queue.push("m1", "m2")
		s.next(t)
		s.settled(t, 1)
		if got := s.queue.deletedIDs(); !slices.Equal(got, []string{"m1", "m2"}) {
			t.Errorf("deleted = %v, want both (the response is ignored)", got)
		}
	})
}

func TestMaximumConcurrencyBoundsConcurrentInvocations(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var now, peak atomic.Int64
		release := make(chan struct{})
		s := start(t, 5, lambda.EventSourceMapping{BatchSize: 1, MaximumConcurrency: 2}, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			n := now.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			now.Add(-1)
			return events.SQSEventResponse{}, nil
		})
		t.Cleanup(func() { unblock(release) })
		s.queue.push("m1", "m2", "m3", "m4", "m5", "m6")
		s.next(t)
		s.next(t)
		s.noInvocation(t, "while two invocations were running")
		unblock(release)
		for range 4 {
			s.next(t)
		}
		s.settled(t, 6)
		if peak.Load() != 2 {
			t.Errorf("peak concurrency = %d, want 2", peak.Load())
		}
	})
}

// busyAt returns a handler that blocks on release for a batch holding
// the record "busy", and succeeds at once otherwise.
func busyAt(release chan struct{}) lambda.Handler {
	return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		if ev.Records[0].MessageId == "busy" {
			<-release
		}
		return events.SQSEventResponse{}, nil
	}
}

// occupyAPoller keeps one of a mapping's two pollers invoking "busy", so
// that the records pushed next all go to the other one (two pollers in a
// long poll at once would split them).
func (s *setup) occupyAPoller(t *testing.T, window time.Duration) {
	t.Helper()
	s.queue.push("busy")
	synctest.Wait() // a poller has it, and its window has begun
	s.clock.Advance(window)
	if ev := s.next(t); ev.Records[0].MessageId != "busy" {
		t.Fatalf("invoked with %s, want busy", ev.Records[0].MessageId)
	}
}

func TestTheBatchingWindowGathersABatchFromSeveralReceivesAndEndsOnTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := start(t, 3, lambda.EventSourceMapping{BatchSize: 25, MaximumBatchingWindow: 2, MaximumConcurrency: 2}, busyAt(release))
		t.Cleanup(func() { unblock(release) })
		s.occupyAPoller(t, 2*time.Second)
		s.queue.push("a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10", "a11", "a12")
		s.noInvocation(t, "before the batching window ended")
		s.clock.Advance(2*time.Second - time.Nanosecond)
		s.noInvocation(t, "a nanosecond before the batching window ended")
		s.clock.Advance(time.Nanosecond)
		if got := len(s.next(t).Records); got != 12 {
			t.Errorf("the invocation got %d records, want all 12 (two receives of one window)", got)
		}
		s.noInvocation(t, "after the one batch")
	})
}

func TestAFullBatchIsInvokedWithoutWaitingForTheBatchingWindow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := start(t, 3, lambda.EventSourceMapping{BatchSize: 20, MaximumBatchingWindow: 300, MaximumConcurrency: 2}, busyAt(release))
		t.Cleanup(func() { unblock(release) })
		s.occupyAPoller(t, 300*time.Second)
		ids := make([]string, 20)
		for i := range ids {
			ids[i] = fmt.Sprint("m", i)
		}
		s.queue.push(ids...)
		if got := len(s.next(t).Records); got != 20 {
			t.Errorf("the invocation got %d records, want 20", got)
		}
	})
}

func TestCloseEndsABatchingWindowAndInvokesWhatItGathered(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{BatchSize: 10, MaximumBatchingWindow: 300, MaximumConcurrency: 2}, ok)
		s.queue.mu.Lock()
		s.queue.quietOnCancel = true
		s.queue.mu.Unlock()
		s.queue.push("a", "b")
		s.noInvocation(t, "inside the batching window")
		closed := make(chan error, 1)
		go func() { closed <- s.host.Close(context.Background()) }()
		synctest.Wait() // the clock does not move
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("Close = %v", err)
			}
		default:
			t.Fatal("Close waits for the batching window to end")
		}
		if got := s.queue.deletedIDs(); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("deleted = %v, want a and b: the gathered batch is invoked, not held", got)
		}
	})
}

func TestAPollerThatCannotReceiveWaitsASecondBeforeTryingAgain(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var warn syncbuf.Buffer
		s := start(t, 3, lambda.EventSourceMapping{MaximumConcurrency: 2}, ok, func(o *lambda.Options) { o.Logger = slogTo(&warn) })
		synctest.Wait() // both pollers are in a long poll
		s.queue.fail(errors.New("AWS.SimpleQueueService.NonExistentQueue"))
		s.clock.Advance(20 * time.Second) // which ends; the next receive fails
		synctest.Wait()
		before := s.queue.receiveCalls()
		s.clock.Advance(time.Second - time.Nanosecond)
		synctest.Wait()
		if got := s.queue.receiveCalls(); got != before {
			t.Errorf("the pollers tried %d more receives within a second of failing, want none", got-before)
		}
		s.clock.Advance(time.Nanosecond)
		synctest.Wait()
		if got := s.queue.receiveCalls(); got != before+2 {
			t.Errorf("a second after failing, the two pollers tried %d more receives, want 2", got-before)
		}
		if !strings.Contains(warn.String(), "could not receive") {
			t.Errorf("no warning about the failed receives: %q", warn.String())
		}
	})
}

// faults inject a crash or a hold after every handler.
type faults struct {
	crash bool
	hold  time.Duration
}

func (f faults) AfterHandler(string) (bool, time.Duration) { return f.crash, f.hold }

func TestAnInjectedHoldSettlesTheBatchPastTheVisibilityTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{}, ok, func(o *lambda.Options) { o.Faults = faults{hold: -1} })
		s.queue.push("m1")
		s.next(t)
		// The queue's visibility timeout is 60 s: the hold lasts a second more.
		s.clock.Advance(61*time.Second - time.Nanosecond)
		s.settled(t, 0)
		if got := s.queue.deletedIDs(); len(got) != 0 {
			t.Errorf("deleted %v during the hold", got)
		}
		s.clock.Advance(time.Nanosecond)
		s.settled(t, 1)
		if got := s.queue.deletedIDs(); !slices.Equal(got, []string{"m1"}) {
			t.Errorf("deleted = %v after the hold, want m1", got)
		}
	})
}

func TestAnInjectedCrashAfterTheHandlerReturnsTheWholeBatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{}, ok, func(o *lambda.Options) { o.Faults = faults{crash: true} })
		s.queue.push("m1", "m2")
		s.next(t)
		s.settled(t, 1)
		if got := s.queue.deletedIDs(); len(got) != 0 {
			t.Errorf("deleted = %v, want none", got)
		}
		if st := s.state(t); st.FailedInvocations != 1 || st.Retried != 2 {
			t.Errorf("mapping state = %+v, want 1 failed invocation and 2 retried records", st)
		}
	})
}

func TestCloseWaitsForInvocationsInFlightAndForHandlersPastTheirTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		overrun, inTime := make(chan struct{}), make(chan struct{})
		var returned sync.Map // message id → true once its handler returned
		s := start(t, 3, lambda.EventSourceMapping{BatchSize: 1, MaximumConcurrency: 2}, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			id := ev.Records[0].MessageId
			if id == "late" {
				<-overrun // ignores its deadline
			} else {
				<-inTime
			}
			returned.Store(id, true)
			return events.SQSEventResponse{}, nil
		})
		t.Cleanup(func() { unblock(overrun); unblock(inTime) })
		s.queue.push("late")
		s.next(t)
		s.clock.Advance(2 * time.Second)
		s.queue.push("on-time")
		s.next(t)
		s.clock.Advance(time.Second) // "late" times out; "on-time" has 2 s left
		s.settled(t, 1)

		closed := make(chan error, 1)
		go func() { closed <- s.host.Close(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-closed:
			t.Fatalf("Close returned %v while two handlers were running", err)
		default:
		}
		unblock(inTime)
		synctest.Wait()
		select {
		case err := <-closed:
			t.Fatalf("Close returned %v while a handler past its timeout was running", err)
		default:
		}
		if got := s.queue.deletedIDs(); !slices.Equal(got, []string{"on-time"}) {
			t.Errorf("deleted = %v, want on-time: Close lets an invocation in flight settle", got)
		}
		unblock(overrun)
		synctest.Wait()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close = %v, want nil", err)
			}
		default:
			t.Fatal("Close did not return once every handler had")
		}
		if _, ok := returned.Load("late"); !ok {
			t.Error("Close returned before the handler past its timeout did")
		}
	})
}

func TestCloseReportsTheHandlersItHadToAbandon(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var reqID atomic.Value
		var warn syncbuf.Buffer
		s := start(t, 1, lambda.EventSourceMapping{}, func(ctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
			lc, _ := lambdacontext.FromContext(ctx)
			reqID.Store(lc.AwsRequestID)
			<-release
			return events.SQSEventResponse{}, nil
		}, func(o *lambda.Options) { o.Logger = slogTo(&warn) })
		t.Cleanup(func() { unblock(release) })
		s.queue.push("m1")
		s.next(t)
		s.clock.Advance(time.Second)
		s.settled(t, 1)

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // bubble time
		defer cancel()
		err := s.host.Close(ctx)
		var ab *lambda.AbandonedError
		if !errors.As(err, &ab) {
			t.Fatalf("Close = %v, want an *AbandonedError", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want it to wrap %v", err, context.DeadlineExceeded)
		}
		want := []lambda.Invocation{{Function: "ProcessOrderFunction", RequestID: reqID.Load().(string), Started: t0, TimedOut: true}}
		if !slices.Equal(ab.Invocations, want) || ab.Pollers != 0 {
			t.Errorf("abandoned %+v and %d pollers, want %+v and none", ab.Invocations, ab.Pollers, want)
		}
		if !strings.Contains(err.Error(), reqID.Load().(string)) {
			t.Errorf("Close's error does not name the request: %v", err)
		}
		if !strings.Contains(warn.String(), "the host closed while a handler was still running") {
			t.Errorf("no warning about the abandoned handler: %q", warn.String())
		}
	})
}

func TestADisabledMappingTakesNothingFromItsQueue(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{}, ok)
		if code := s.setEnabled(t, false); code != http.StatusAccepted {
			t.Fatalf("disabling answered %d", code)
		}
		synctest.Wait()
		if st := s.state(t); st.State != "Disabled" || st.Pollers != 0 {
			t.Errorf("a disabled mapping is %s with %d pollers, want Disabled with none", st.State, st.Pollers)
		}
		s.queue.push("m1")
		s.noInvocation(t, "once disabled")
		s.clock.Advance(time.Minute)
		s.noInvocation(t, "a minute after being disabled")
		if code := s.setEnabled(t, true); code != http.StatusAccepted {
			t.Fatalf("enabling answered %d", code)
		}
		if got := s.next(t).Records[0].MessageId; got != "m1" {
			t.Errorf("the re-enabled mapping took %s, want m1", got)
		}
		if st := s.state(t); st.State != "Enabled" || st.Pollers != 5 {
			t.Errorf("a re-enabled mapping is %s with %d pollers, want Enabled with 5", st.State, st.Pollers)
		}
	})
}

func TestAClosedHostStartsNoPollers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{}, ok)
		if err := s.host.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The host is shutting down: a ServiceException, which SDKs retry.
		if code := s.setEnabled(t, true); code != http.StatusServiceUnavailable {
			t.Errorf("enabling a mapping of a closed host answered %d, want %d", code, http.StatusServiceUnavailable)
		}
		s.queue.push("m1")
		s.noInvocation(t, "after Close")
	})
}

func TestMappingsAreValidatedAsAWSDoes(t *testing.T) {
	t.Parallel()
	h, err := lambda.New(lambda.Options{Queues: newFakeQueue(30, clock.NewFake(t0))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	h.Register("F", func(lambda.Config) (lambda.Handler, error) { return ok, nil })
	h.Register("Slow", func(lambda.Config) (lambda.Handler, error) { return ok, nil })
	ctx := context.Background()
	if _, err := h.CreateFunction(ctx, lambda.Function{Name: "F", TimeoutSec: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateFunction(ctx, lambda.Function{Name: "Slow", TimeoutSec: 60}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    lambda.EventSourceMapping
		want string
	}{
		{"a function timeout above the visibility timeout", lambda.EventSourceMapping{FunctionName: "Slow", EventSourceArn: queueARN, BatchSize: 10},
			"Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"},
		{"a large batch without a window", lambda.EventSourceMapping{FunctionName: "F", EventSourceArn: queueARN, BatchSize: 11},
			"a BatchSize of 11 needs a MaximumBatchingWindowInSeconds of at least 1"},
		{"a concurrency of one", lambda.EventSourceMapping{FunctionName: "F", EventSourceArn: queueARN, BatchSize: 10, MaximumConcurrency: 1},
			"MaximumConcurrency 1 is outside 2–1000"},
		{"an unknown function", lambda.EventSourceMapping{FunctionName: "G", EventSourceArn: queueARN, BatchSize: 10},
			"function G does not exist"},
		{"an unknown queue", lambda.EventSourceMapping{FunctionName: "F", EventSourceArn: queueARN + "x", BatchSize: 10},
			"NonExistentQueue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.CreateEventSourceMapping(ctx, tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := h.CreateFunction(ctx, lambda.Function{Name: "Unregistered"}); err == nil || !strings.Contains(err.Error(), "no Go handler is registered for function Unregistered") {
		t.Errorf("CreateFunction(unregistered) error = %v", err)
	}
}

func TestAShortVisibilityTimeoutIsWarnedAbout(t *testing.T) {
	t.Parallel()
	var warn syncbuf.Buffer
	h, err := lambda.New(lambda.Options{Queues: newFakeQueue(30, clock.NewFake(t0)), Logger: slogTo(&warn)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	h.Register("F", func(lambda.Config) (lambda.Handler, error) { return ok, nil })
	ctx := context.Background()
	h.CreateFunction(ctx, lambda.Function{Name: "F", TimeoutSec: 10})
	if _, err := h.CreateEventSourceMapping(ctx, lambda.EventSourceMapping{FunctionName: "F", EventSourceArn: queueARN, BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warn.String(), "recommended=60") {
		t.Errorf("no warning about 30 s < 6 × 10 s: %q", warn.String())
	}
}

func slogTo(w *syncbuf.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func TestAPollerRunsItsHandlersOnOneGoroutineFromBatchToBatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		goroutines := map[string]bool{}
		s := start(t, 3, lambda.EventSourceMapping{MaximumConcurrency: 2}, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			// A goroutine's id heads its stack trace ("goroutine 7
			// [running]:"); ids are never reused.
			buf := make([]byte, 64)
			id, _, _ := strings.Cut(string(buf[:runtime.Stack(buf, false)]), " [")
			mu.Lock()
			goroutines[id] = true
			mu.Unlock()
			return events.SQSEventResponse{}, nil
		})
		const batches = 6
		for i := range batches {
			s.queue.push(fmt.Sprint("m", i))
			s.next(t)
			s.settled(t, i+1)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(goroutines) > 2 {
			t.Errorf("%d batches ran on %d goroutines, want at most one a poller (2)", batches, len(goroutines))
		}
	})
}

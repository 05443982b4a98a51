package lambda_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/orderflow/orderflow/cloud/cfn"
	"github.com/orderflow/orderflow/cloud/lambda"
)

const queueARN = "arn:aws:sqs:us-east-1:000000000000:OrderQueue"

// fakeQueue is an in-memory queue: records pushed are handed out once by
// Receive (which waits for a push up to its wait time) and remembered when
// deleted. It stands in for SQS where a test needs precise control; the
// mappings also run against the embedded SQS in the cloud's tests.
type fakeQueue struct {
	mu         sync.Mutex
	pending    []events.SQSMessage
	deleted    []string
	receives   int
	visibility int
	pushed     chan struct{}
}

func newFakeQueue(visibility int) *fakeQueue {
	return &fakeQueue{visibility: visibility, pushed: make(chan struct{}, 1)}
}

func (q *fakeQueue) push(ids ...string) {
	q.mu.Lock()
	for _, id := range ids {
		q.pending = append(q.pending, events.SQSMessage{MessageId: id, ReceiptHandle: "rh-" + id, Body: "body-" + id,
			EventSource: "aws:sqs", EventSourceARN: queueARN, AWSRegion: "us-east-1"})
	}
	q.mu.Unlock()
	select {
	case q.pushed <- struct{}{}:
	default:
	}
}

func (q *fakeQueue) Lookup(_ context.Context, arn string) (lambda.QueueInfo, error) {
	if arn != queueARN {
		return lambda.QueueInfo{}, errors.New("AWS.SimpleQueueService.NonExistentQueue")
	}
	return lambda.QueueInfo{ARN: arn, URL: "http://q/OrderQueue", Region: "us-east-1", VisibilityTimeoutSec: q.visibility}, nil
}

func (q *fakeQueue) Receive(ctx context.Context, _ lambda.QueueInfo, max int, wait time.Duration) ([]events.SQSMessage, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		q.mu.Lock()
		if n := min(max, len(q.pending)); n > 0 {
			out := slices.Clone(q.pending[:n])
			q.pending = q.pending[n:]
			q.receives++
			q.mu.Unlock()
			return out, nil
		}
		q.mu.Unlock()
		select {
		case <-q.pushed:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
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

// syncBuffer is a log sink tests can read while the host writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type setup struct {
	host    *lambda.Host
	queue   *fakeQueue
	logs    *syncBuffer
	invoked chan events.SQSEvent
}

// start creates a host with one function, ProcessOrderFunction, whose
// behaviour is handler, and maps the fake queue to it.
func start(t *testing.T, timeoutSec int, esm cfn.EventSourceMapping, handler lambda.Handler) *setup {
	t.Helper()
	s := &setup{queue: newFakeQueue(60), logs: &syncBuffer{}, invoked: make(chan events.SQSEvent, 100)}
	h, err := lambda.New(lambda.Options{Queues: s.queue, Logs: s.logs})
	if err != nil {
		t.Fatal(err)
	}
	s.host = h
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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
	if _, err := h.CreateFunction(context.Background(), cfn.Function{Name: "ProcessOrderFunction", TimeoutSec: timeoutSec, MemoryMB: 128}); err != nil {
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
	if _, err := h.CreateEventSourceMapping(context.Background(), esm); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *setup) next(t *testing.T) events.SQSEvent {
	t.Helper()
	select {
	case ev := <-s.invoked:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("the function was not invoked")
		return events.SQSEvent{}
	}
}

// settled waits until the host has settled n invocations (REPORT lines).
func (s *setup) settled(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var settledN int64
		for _, m := range s.host.Mappings() {
			settledN += m.Deleted + m.Retried
		}
		if strings.Count(s.logs.String(), "REPORT RequestId") >= n && settledN > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%d invocations did not settle; logs:\n%s", n, s.logs.String())
}

func ok(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return events.SQSEventResponse{}, nil
}

func TestASuccessfulInvocationDeletesTheBatchAndLogsLikeLambda(t *testing.T) {
	var gotID string
	s := start(t, 3, cfn.EventSourceMapping{ReportBatchItemFailure: true}, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		lc, _ := lambdacontext.FromContext(ctx)
		gotID = lc.AwsRequestID
		if _, has := ctx.Deadline(); !has {
			return events.SQSEventResponse{}, errors.New("no deadline")
		}
		return events.SQSEventResponse{}, nil
	})
	s.queue.push("m1", "m2", "m3")
	ev := s.next(t)
	s.settled(t, 1)
	if len(ev.Records) != 3 || ev.Records[0].EventSourceARN != queueARN {
		t.Errorf("event = %+v", ev)
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
}

func TestAPartialBatchResponseKeepsOnlyTheListedRecords(t *testing.T) {
	s := start(t, 3, cfn.EventSourceMapping{ReportBatchItemFailure: true}, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "m2"}}}, nil
	})
	s.queue.push("m1", "m2", "m3")
	s.next(t)
	s.settled(t, 1)
	if got := s.queue.deletedIDs(); !slices.Equal(got, []string{"m1", "m3"}) {
		t.Errorf("deleted = %v, want m1 and m3", got)
	}
}

func TestWholeBatchFailures(t *testing.T) {
	tests := []struct {
		name    string
		timeout int
		handler lambda.Handler
		log     string
	}{
		{"an unknown item identifier", 3, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "not-in-batch"}}}, nil
		}, ""},
		{"an empty item identifier", 3, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ""}}}, nil
		}, ""},
		{"a function error", 3, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, errors.New("boom")
		}, `ERROR Invoke Error {"errorMessage":"boom"`},
		{"a panic", 3, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			panic("kaboom")
		}, `ERROR Invoke Error {"errorMessage":"panic: kaboom"`},
		{"a timeout", 1, func(ctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
			<-ctx.Done() // slower than the function's timeout
			time.Sleep(50 * time.Millisecond)
			return events.SQSEventResponse{}, nil
		}, "Task timed out after 1.00 seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, tt.timeout, cfn.EventSourceMapping{ReportBatchItemFailure: true}, tt.handler)
			s.queue.push("m1", "m2")
			s.next(t)
			s.settled(t, 1)
			if got := s.queue.deletedIDs(); len(got) != 0 {
				t.Errorf("deleted = %v, want none: the whole batch returns", got)
			}
			st := s.host.Mappings()[0]
			if st.FailedInvocations != 1 || st.Retried != 2 {
				t.Errorf("mapping state = %+v, want 1 failed invocation and 2 retried records", st)
			}
			if tt.log != "" && !strings.Contains(s.logs.String(), tt.log) {
				t.Errorf("logs lack %q:\n%s", tt.log, s.logs.String())
			}
		})
	}
}

func TestWithoutReportBatchItemFailuresASuccessDeletesEverything(t *testing.T) {
	s := start(t, 3, cfn.EventSourceMapping{}, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "m1"}}}, nil
	})
	s.queue.push("m1", "m2")
	s.next(t)
	s.settled(t, 1)
	if got := s.queue.deletedIDs(); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Errorf("deleted = %v, want both (the response is ignored)", got)
	}
}

func TestMaximumConcurrencyBoundsConcurrentInvocations(t *testing.T) {
	var now, peak atomic.Int64
	release := make(chan struct{})
	s := start(t, 5, cfn.EventSourceMapping{BatchSize: 1, MaximumConcurrency: 2}, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
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
	s.queue.push("m1", "m2", "m3", "m4", "m5", "m6")
	s.next(t)
	s.next(t)
	select {
	case <-s.invoked:
		t.Fatal("a third invocation started while two were running")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	for range 4 {
		s.next(t)
	}
	s.settled(t, 6)
	if peak.Load() != 2 {
		t.Errorf("peak concurrency = %d, want 2", peak.Load())
	}
}

func TestTheBatchingWindowGathersABatchFromSeveralReceives(t *testing.T) {
	s := start(t, 3, cfn.EventSourceMapping{BatchSize: 25, MaximumBatchingWindow: 1, MaximumConcurrency: 2}, ok)
	s.queue.push("a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10", "a11", "a12")
	ev := s.next(t)
	total := len(ev.Records)
	if total < 10 {
		t.Errorf("the first invocation got %d records; a window of 1 s should gather more than one receive's 10", total)
	}
}

func TestMappingsAreValidatedAsAWSDoes(t *testing.T) {
	h, err := lambda.New(lambda.Options{Queues: newFakeQueue(30)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	h.Register("F", func(lambda.Config) (lambda.Handler, error) { return ok, nil })
	h.Register("Slow", func(lambda.Config) (lambda.Handler, error) { return ok, nil })
	ctx := context.Background()
	if _, err := h.CreateFunction(ctx, cfn.Function{Name: "F", TimeoutSec: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateFunction(ctx, cfn.Function{Name: "Slow", TimeoutSec: 60}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    cfn.EventSourceMapping
		want string
	}{
		{"a function timeout above the visibility timeout", cfn.EventSourceMapping{FunctionName: "Slow", EventSourceArn: queueARN, BatchSize: 10},
			"Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"},
		{"a large batch without a window", cfn.EventSourceMapping{FunctionName: "F", EventSourceArn: queueARN, BatchSize: 11},
			"a BatchSize of 11 needs a MaximumBatchingWindowInSeconds of at least 1"},
		{"a concurrency of one", cfn.EventSourceMapping{FunctionName: "F", EventSourceArn: queueARN, BatchSize: 10, MaximumConcurrency: 1},
			"MaximumConcurrency 1 is outside 2–1000"},
		{"an unknown function", cfn.EventSourceMapping{FunctionName: "G", EventSourceArn: queueARN, BatchSize: 10},
			"function G does not exist"},
		{"an unknown queue", cfn.EventSourceMapping{FunctionName: "F", EventSourceArn: queueARN + "x", BatchSize: 10},
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
	if _, err := h.CreateFunction(ctx, cfn.Function{Name: "Unregistered"}); err == nil || !strings.Contains(err.Error(), "no Go handler is registered for function Unregistered") {
		t.Errorf("CreateFunction(unregistered) error = %v", err)
	}
}

func TestAShortVisibilityTimeoutIsWarnedAbout(t *testing.T) {
	var warn syncBuffer
	h, err := lambda.New(lambda.Options{Queues: newFakeQueue(30), Logger: slogTo(&warn)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	h.Register("F", func(lambda.Config) (lambda.Handler, error) { return ok, nil })
	ctx := context.Background()
	h.CreateFunction(ctx, cfn.Function{Name: "F", TimeoutSec: 10})
	if _, err := h.CreateEventSourceMapping(ctx, cfn.EventSourceMapping{FunctionName: "F", EventSourceArn: queueARN, BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warn.String(), "recommended=60") {
		t.Errorf("no warning about 30 s < 6 × 10 s: %q", warn.String())
	}
}

func slogTo(w *syncBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

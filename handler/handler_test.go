package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/handler"
	"github.com/orderflow/orderflow/mock"
)

var seedOrder = orderflow.Order{
	OrderID:   "O1234",
	UserID:    "U123",
	ItemName:  "Laptop",
	Quantity:  1,
	Status:    orderflow.StatusNew,
	Timestamp: time.Date(2025, 5, 3, 12, 0, 0, 0, time.UTC),
}

// recorder is a store and dead-letter queue that remember what they got and
// answer with the functions set on it.
type recorder struct {
	mu          sync.Mutex
	stored      []orderflow.Order
	deadLetters []orderflow.DeadLetter
	store       mock.Store
	dlq         mock.DeadLetterQueue
}

func newRecorder() *recorder {
	r := &recorder{}
	r.store.PutOrderFn = func(_ context.Context, o orderflow.Order) (orderflow.Outcome, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.stored = append(r.stored, o)
		return orderflow.OutcomeStored, nil
	}
	r.dlq.SendDeadLetterFn = func(_ context.Context, dl orderflow.DeadLetter) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.deadLetters = append(r.deadLetters, dl)
		return nil
	}
	return r
}

func newHandler(t *testing.T, r *recorder, logs *bytes.Buffer) *handler.Handler {
	t.Helper()
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewJSONHandler(logs, nil))
	}
	h, err := handler.New(handler.Options{Store: &r.store, DeadLetters: &r.dlq, Logger: log,
		Now: func() time.Time { return time.Date(2025, 5, 3, 12, 0, 1, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// invoke runs the handler as the Lambda runtime would: JSON in, JSON out.
func invoke(t *testing.T, h *handler.Handler, payload []byte) events.SQSEventResponse {
	t.Helper()
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("Invoke error = %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func failedIDs(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func logLines(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestTheSeedOrderInAnSNSEnvelopeIsStored(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	var logs bytes.Buffer
	resp := invoke(t, newHandler(t, r, &logs), fixture(t, "sqs-sns-seed.json"))

	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("batch item failures = %v, want none", resp.BatchItemFailures)
	}
	if len(r.stored) != 1 || r.stored[0] != seedOrder {
		t.Errorf("stored = %+v, want [%+v]", r.stored, seedOrder)
	}
	lines := logLines(t, &logs)
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1: %s", len(lines), logs.String())
	}
	want := map[string]any{
		"level": "INFO", "msg": "order stored", "outcome": "stored", "orderId": "O1234", "userId": "U123",
		"messageId": "059f36b4-87a3-44ab-83d2-661975830a7d", "receiveCount": "1",
		"snsMessageId": "2b7f7a29-31a9-5ee3-9b6a-3c6b6c1ad0f1",
	}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("log %s = %v, want %v", k, lines[0][k], v)
		}
	}
	if lines[0]["version"] != seedOrder.Version() {
		t.Errorf("log version = %v, want the event's version %s", lines[0]["version"], seedOrder.Version())
	}
	if _, ok := lines[0]["durationMs"].(float64); !ok {
		t.Errorf("log line has no numeric durationMs: %v", lines[0])
	}
}

func TestARawDeliveryIsStored(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	resp := invoke(t, newHandler(t, r, nil), fixture(t, "sqs-raw-seed.json"))
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("batch item failures = %v, want none", resp.BatchItemFailures)
	}
	if len(r.stored) != 1 || r.stored[0] != seedOrder {
		t.Errorf("stored = %+v, want [%+v]", r.stored, seedOrder)
	}
}

func TestAPoisonRecordIsDeadLetteredWithItsReasonAndNotReportedAsFailed(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	var logs bytes.Buffer
	payload := fixture(t, "sqs-mixed-poison.json")
	resp := invoke(t, newHandler(t, r, &logs), payload)

	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("batch item failures = %v, want none", resp.BatchItemFailures)
	}
	var ids []string
	for _, o := range r.stored {
		ids = append(ids, o.OrderID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"O1234", "O5678"}) {
		t.Errorf("stored orders = %v, want [O1234 O5678]", ids)
	}
	if len(r.deadLetters) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(r.deadLetters))
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	dl := r.deadLetters[0]
	if dl.Body != ev.Records[1].Body {
		t.Errorf("dead letter body is not the original body:\n%s", dl.Body)
	}
	if dl.Code != orderflow.CodeInvalidOrder || dl.OriginalMessageID != "a0000000-0000-4000-8000-000000000002" || dl.ReceiveCount != 2 ||
		dl.Source != "arn:aws:sqs:eu-west-1:123456789012:OrderQueue" || dl.FailedAt.IsZero() {
		t.Errorf("dead letter = %+v", dl)
	}
	wantReason := "invalid order: userId: is required; itemName: is required; quantity: must be an integer, got a string; status: is required; timestamp: is required"
	if dl.Reason != wantReason {
		t.Errorf("reason = %q\nwant     %q", dl.Reason, wantReason)
	}
	var warned int
	for _, l := range logLines(t, &logs) {
		if l["outcome"] == "invalid" {
			warned++
			if l["level"] != "WARN" || l["errorCode"] != "InvalidOrder" || l["error"] != wantReason || l["orderId"] != "O-bad" {
				t.Errorf("invalid record log line = %v", l)
			}
		}
	}
	if warned != 1 {
		t.Errorf("log lines for the invalid record = %d, want 1", warned)
	}
}

func record(id, body string) events.SQSMessage {
	return events.SQSMessage{MessageId: id, Body: body, Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
}

func rawOrder(id, ts string, status orderflow.Status) string {
	o := seedOrder
	o.OrderID = id
	o.Status = status
	o.Timestamp, _ = time.Parse(time.RFC3339, ts)
	b, _ := o.MarshalJSON()
	return string(b)
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	transient := errors.New("ProvisionedThroughputExceededException: slow down")
	tests := []struct {
		name       string
		store      func(o orderflow.Order) (orderflow.Outcome, error)
		dlqErr     error
		body       string
		wantResult handler.Result
		wantDLQ    bool
	}{
		{"a stored event is a success", okStore(orderflow.OutcomeStored), nil, rawOrder("O1", "2025-05-03T12:00:00Z", "new"), handler.ResultStored, false},
		{"a duplicate is a success", okStore(orderflow.OutcomeDuplicate), nil, rawOrder("O1", "2025-05-03T12:00:00Z", "new"), handler.ResultDuplicate, false},
		{"a stale event is a success", okStore(orderflow.OutcomeStale), nil, rawOrder("O1", "2025-05-03T12:00:00Z", "new"), handler.ResultStale, false},
		{"a transient store failure is a batch item failure", errStore(transient), nil, rawOrder("O1", "2025-05-03T12:00:00Z", "new"), handler.ResultFailed, false},
		{"invalid input is dead-lettered", nil, nil, `{"orderId": 7}`, handler.ResultInvalid, true},
		{"invalid input whose dead-lettering fails is a batch item failure", nil, errors.New("sqs: send: connection refused"), `not json`, handler.ResultFailed, true},
		{"an SNS subscription confirmation is invalid", nil, nil, `{"Type":"SubscriptionConfirmation","MessageId":"m","TopicArn":"t","Message":"confirm"}`, handler.ResultInvalid, true},
		{"an event stamped an hour ahead is invalid", nil, nil, rawOrder("O1", "2025-05-03T13:00:02Z", "new"), handler.ResultInvalid, true},
		{"an event stamped a minute ahead is accepted", okStore(orderflow.OutcomeStored), nil, rawOrder("O1", "2025-05-03T12:01:00Z", "new"), handler.ResultStored, false},
		{"a panic in the store is a batch item failure", func(orderflow.Order) (orderflow.Outcome, error) { panic("boom") }, nil, rawOrder("O1", "2025-05-03T12:00:00Z", "new"), handler.ResultFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dls []orderflow.DeadLetter
			store := &mock.Store{PutOrderFn: func(_ context.Context, o orderflow.Order) (orderflow.Outcome, error) {
				if tt.store == nil {
					t.Errorf("store called for input that should never reach it: %+v", o)
					return "", errors.New("unexpected")
				}
				return tt.store(o)
			}}
			dlq := &mock.DeadLetterQueue{SendDeadLetterFn: func(_ context.Context, dl orderflow.DeadLetter) error {
				dls = append(dls, dl)
				return tt.dlqErr
			}}
			h, err := handler.New(handler.Options{Store: store, DeadLetters: dlq,
				Now: func() time.Time { return time.Date(2025, 5, 3, 12, 0, 1, 0, time.UTC) }})
			if err != nil {
				t.Fatal(err)
			}
			got := h.Process(context.Background(), []events.SQSMessage{record("m1", tt.body)})
			if got[0] != tt.wantResult {
				t.Errorf("result = %s, want %s", got[0], tt.wantResult)
			}
			if (len(dls) > 0) != tt.wantDLQ {
				t.Errorf("dead letters sent = %d, want sent: %v", len(dls), tt.wantDLQ)
			}
			resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record("m1", tt.body)}})
			wantFailed := tt.wantResult == handler.ResultFailed
			if gotFailed := slices.Equal(failedIDs(resp), []string{"m1"}); gotFailed != wantFailed || (!wantFailed && len(resp.BatchItemFailures) != 0) {
				t.Errorf("batch item failures = %v, want failed: %v", resp.BatchItemFailures, wantFailed)
			}
		})
	}
}

func okStore(o orderflow.Outcome) func(orderflow.Order) (orderflow.Outcome, error) {
	return func(orderflow.Order) (orderflow.Outcome, error) { return o, nil }
}

func errStore(err error) func(orderflow.Order) (orderflow.Outcome, error) {
	return func(orderflow.Order) (orderflow.Outcome, error) { return "", err }
}

func TestOnlyTheFailedRecordsOfABatchAreReported(t *testing.T) {
	t.Parallel()
	store := &mock.Store{PutOrderFn: func(_ context.Context, o orderflow.Order) (orderflow.Outcome, error) {
		switch o.OrderID {
		case "O2", "O5":
			return "", errors.New("ThrottlingException")
		case "O3":
			panic("a bug that only this record hits")
		}
		return orderflow.OutcomeStored, nil
	}}
	dlq := &mock.DeadLetterQueue{SendDeadLetterFn: func(context.Context, orderflow.DeadLetter) error { return nil }}
	h, err := handler.New(handler.Options{Store: store, DeadLetters: dlq, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	for i := 1; i <= 10; i++ {
		id := "O" + string(rune('0'+i%10))
		if i == 10 {
			id = "O10"
		}
		ev.Records = append(ev.Records, record("m-"+id, rawOrder(id, "2025-05-03T12:00:00Z", "new")))
	}
	ev.Records = append(ev.Records, record("m-poison", `{"orderId":`))
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failedIDs(resp), []string{"m-O2", "m-O3", "m-O5"}; !slices.Equal(got, want) {
		t.Errorf("batch item failures = %v, want %v", got, want)
	}
}

func TestRecordsNotStartedBeforeTheDeadlineAreLeftForSQS(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	store := &mock.Store{PutOrderFn: func(ctx context.Context, o orderflow.Order) (orderflow.Outcome, error) {
		if o.OrderID == "slow" {
			select { // a write that hangs until its context ends
			case <-ctx.Done():
				return "", ctx.Err()
			case <-release:
			}
		}
		return orderflow.OutcomeStored, nil
	}}
	dlq := &mock.DeadLetterQueue{SendDeadLetterFn: func(context.Context, orderflow.DeadLetter) error { return nil }}
	h, err := handler.New(handler.Options{Store: store, DeadLetters: dlq, Concurrency: 1, ReserveTime: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	ev := events.SQSEvent{Records: []events.SQSMessage{
		record("m-fast", rawOrder("fast", "2025-05-03T12:00:00Z", "new")),
		record("m-slow", rawOrder("slow", "2025-05-03T12:00:00Z", "new")),
		record("m-late", rawOrder("late", "2025-05-03T12:00:00Z", "new")),
	}}
	resp, _ := h.Handle(ctx, ev)
	if time.Now().After(deadline) {
		t.Errorf("Handle returned after the invocation deadline")
	}
	if got, want := failedIDs(resp), []string{"m-slow", "m-late"}; !slices.Equal(got, want) {
		t.Errorf("batch item failures = %v, want %v", got, want)
	}
}

func TestNewRequiresItsCollaborators(t *testing.T) {
	t.Parallel()
	if _, err := handler.New(handler.Options{}); err == nil {
		t.Errorf("New without a store and a dead-letter queue: error = nil")
	}
}

// The function and `orderflow publish` refuse an event stamped too far ahead
// with the same words: both call orderflow.CheckClock, and this pins the
// sentence the CLI's tests expect too.
func TestAnEventStampedFarAheadIsDeadLetteredWithTheClocksHumaneReason(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ts, want string
	}{
		{"2099-12-31T23:59:59Z", "invalid order: timestamp: is 74 years 260 days in the future, more than the allowed 15 minutes"},
		{"2025-05-06T16:00:31Z", "invalid order: timestamp: is 3 days 4 hours in the future, more than the allowed 15 minutes"},
	} {
		r := newRecorder()
		h := newHandler(t, r, nil) // its clock reads 2025-05-03T12:00:01Z
		if got := h.Process(context.Background(), []events.SQSMessage{record("m1", rawOrder("O1", c.ts, "new"))}); got[0] != handler.ResultInvalid {
			t.Fatalf("%s: result = %s, want invalid", c.ts, got[0])
		}
		if len(r.deadLetters) != 1 || r.deadLetters[0].Reason != c.want {
			t.Fatalf("%s: dead letters = %+v\nwant one with the reason %q", c.ts, r.deadLetters, c.want)
		}
	}
}

// Every record's log line carries the order id its body has, valid or not,
// raw or in an SNS envelope, bounded in length; a body without one (or
// with a number there) logs an empty one.
func TestEveryRecordsLogLineCarriesTheOrderIDItsBodyHas(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1000)
	for _, tc := range []struct{ body, want string }{
		{rawOrder("O-ok", "2025-05-03T12:00:00Z", orderflow.StatusNew), "O-ok"},
		{`{"orderId":"BAD-7-000001","quantity":0}`, "BAD-7-000001"},
		{`{"Type":"Notification","MessageId":"m","Message":"{\"orderId\":\"BAD-8\",\"quantity\":\"lots\"}"}`, "BAD-8"},
		{`{"orderId":"` + long + `"}`, long[:256] + "…"},
		{`{"orderId":7}`, ""},
		{`not json`, ""},
	} {
		r := newRecorder()
		var logs bytes.Buffer
		ev, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{record("m1", tc.body)}})
		invoke(t, newHandler(t, r, &logs), ev)
		lines := logLines(t, &logs)
		if len(lines) != 1 || lines[0]["orderId"] != tc.want {
			t.Errorf("%.60s: log lines %v, want one with orderId %q", tc.body, lines, tc.want)
		}
	}
}

func TestARecordOfABatchOfOneIsProcessedOnTheCallersGoroutine(t *testing.T) {
	t.Parallel()
	var stack []byte
	store := &mock.Store{PutOrderFn: func(context.Context, orderflow.Order) (orderflow.Outcome, error) {
		stack = make([]byte, 64<<10)
		stack = stack[:runtime.Stack(stack, false)]
		return orderflow.OutcomeStored, nil
	}}
	dlq := &mock.DeadLetterQueue{SendDeadLetterFn: func(context.Context, orderflow.DeadLetter) error { return nil }}
	h, err := handler.New(handler.Options{Store: store, DeadLetters: dlq})
	if err != nil {
		t.Fatal(err)
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{record("m-1", rawOrder("O1", "2025-05-03T12:00:00Z", "new"))}}
	if resp, _ := h.Handle(context.Background(), ev); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures = %v, want none", failedIDs(resp))
	}
	// The test function's own frame, not the store closure's (named after it).
	if !bytes.Contains(stack, []byte("handler_test.TestARecordOfABatchOfOneIsProcessedOnTheCallersGoroutine(")) {
		t.Errorf("the store was called on another goroutine than Handle's:\n%s", stack)
	}
}

func TestABatchRunsExactlyConcurrencyRecordsAtOnce(t *testing.T) {
	t.Parallel()
	for _, fifo := range []bool{false, true} {
		t.Run(map[bool]string{false: "standard queue", true: "FIFO queue, one group a record"}[fifo], func(t *testing.T) {
			t.Parallel()
			const concurrency = 3
			var mu sync.Mutex
			inFlight, most := 0, 0
			full := make(chan struct{})
			store := &mock.Store{PutOrderFn: func(context.Context, orderflow.Order) (orderflow.Outcome, error) {
				mu.Lock()
				inFlight++
				most = max(most, inFlight)
				if inFlight == concurrency && most == concurrency && full != nil {
					close(full)
					full = nil
				}
				wait := full
				mu.Unlock()
				if wait != nil { // the first records wait until all workers have one
					select {
					case <-wait:
					case <-time.After(5 * time.Second):
					}
				}
				mu.Lock()
				inFlight--
				mu.Unlock()
				return orderflow.OutcomeStored, nil
			}}
			dlq := &mock.DeadLetterQueue{SendDeadLetterFn: func(context.Context, orderflow.DeadLetter) error { return nil }}
			h, err := handler.New(handler.Options{Store: store, DeadLetters: dlq, Concurrency: concurrency})
			if err != nil {
				t.Fatal(err)
			}
			var ev events.SQSEvent
			for i := range 10 {
				id := "O" + strconv.Itoa(i)
				r := record("m-"+id, rawOrder(id, "2025-05-03T12:00:00Z", "new"))
				if fifo {
					r.EventSourceARN = "arn:aws:sqs:us-east-1:000000000000:OrderQueue.fifo"
					r.Attributes = map[string]string{"MessageGroupId": id}
				}
				ev.Records = append(ev.Records, r)
			}
			resp, _ := h.Handle(context.Background(), ev)
			if len(resp.BatchItemFailures) != 0 {
				t.Fatalf("batch item failures = %v, want none", failedIDs(resp))
			}
			if most != concurrency {
				t.Errorf("at most %d records at once, want %d", most, concurrency)
			}
		})
	}
}

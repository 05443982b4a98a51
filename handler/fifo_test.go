package handler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/handler"
	"github.com/orderflow/orderflow/mock"
)

const (
	fifoQueueARN     = "arn:aws:sqs:us-east-1:000000000000:OrderQueue.fifo"
	standardQueueARN = "arn:aws:sqs:us-east-1:000000000000:OrderQueue"
)

// groupRecord is a record of the order id (its message id "m-" + id) in
// message group, from the queue arn.
func groupRecord(arn, group, id string) events.SQSMessage {
	r := record("m-"+id, rawOrder(id, "2025-05-03T12:00:00Z", "new"))
	r.EventSourceARN = arn
	r.Attributes["MessageGroupId"] = group
	return r
}

// watchStore is a store whose writes take a millisecond of synctest time
// (so that writes started together overlap), fail for the order ids in
// fail, and are watched: the order of each group's writes (the group is
// the order id's prefix before "-"), writes of one group that overlapped,
// and the most groups written at once.
type watchStore struct {
	fail map[string]error

	mu       sync.Mutex
	order    map[string][]string
	busy     map[string]int
	overlaps []string
	peak     int
}

func newWatchStore(fail map[string]error) *watchStore {
	return &watchStore{fail: fail, order: map[string][]string{}, busy: map[string]int{}}
}

func (s *watchStore) PutOrder(_ context.Context, o orderflow.Order) (orderflow.Outcome, error) {
	group, _, _ := strings.Cut(o.OrderID, "-")
	s.mu.Lock()
	s.order[group] = append(s.order[group], o.OrderID)
	if s.busy[group]++; s.busy[group] > 1 {
		s.overlaps = append(s.overlaps, o.OrderID)
	}
	s.peak = max(s.peak, len(s.busyGroupsLocked()))
	s.mu.Unlock()
	time.Sleep(time.Millisecond)
	s.mu.Lock()
	s.busy[group]--
	s.mu.Unlock()
	if err := s.fail[o.OrderID]; err != nil {
		return "", err
	}
	return orderflow.OutcomeStored, nil
}

func (s *watchStore) busyGroupsLocked() []string {
	var out []string
	for g, n := range s.busy {
		if n > 0 {
			out = append(out, g)
		}
	}
	return out
}

func (s *watchStore) written() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for g, ids := range s.order {
		out[g] = slices.Clone(ids)
	}
	return out
}

func newWatchedHandler(t *testing.T, store *watchStore, concurrency int, logs *bytes.Buffer) *handler.Handler {
	t.Helper()
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewJSONHandler(logs, nil))
	}
	dlq := &mock.DeadLetterQueue{SendDeadLetterFn: func(context.Context, orderflow.DeadLetter) error { return nil }}
	h, err := handler.New(handler.Options{Store: store, DeadLetters: dlq, Concurrency: concurrency, Logger: log,
		Now: func() time.Time { return time.Date(2025, 5, 3, 12, 0, 1, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// interleaved returns n records of each group, the groups interleaved:
// A-1, B-1, C-1, A-2, ...
func interleaved(arn string, n int, groups ...string) []events.SQSMessage {
	var recs []events.SQSMessage
	for i := 1; i <= n; i++ {
		for _, g := range groups {
			recs = append(recs, groupRecord(arn, g, fmt.Sprintf("%s-%d", g, i)))
		}
	}
	return recs
}

func TestAFIFOGroupsRecordsAreProcessedOneAtATimeInOrderWhileGroupsRunConcurrently(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		concurrency, wantPeak int
	}{{8, 3}, {2, 2}, {1, 1}} {
		t.Run(fmt.Sprintf("concurrency %d", tt.concurrency), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := newWatchStore(nil)
				h := newWatchedHandler(t, store, tt.concurrency, nil)
				resp, err := h.Handle(context.Background(), events.SQSEvent{Records: interleaved(fifoQueueARN, 4, "A", "B", "C")})
				if err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("Handle = %v, %v; want no failures", resp, err)
				}
				for _, g := range []string{"A", "B", "C"} {
					want := []string{g + "-1", g + "-2", g + "-3", g + "-4"}
					if got := store.written()[g]; !slices.Equal(got, want) {
						t.Errorf("group %s written in the order %v, want %v", g, got, want)
					}
				}
				if len(store.overlaps) != 0 {
					t.Errorf("writes %v overlapped an earlier write of their group", store.overlaps)
				}
				if store.peak != tt.wantPeak {
					t.Errorf("at most %d groups were written at once, want %d", store.peak, tt.wantPeak)
				}
			})
		})
	}
}

func TestAfterAFIFOGroupsFirstFailedRecordTheRestOfTheGroupIsReportedWithoutBeingProcessed(t *testing.T) {
	t.Parallel()
	throttled := errors.New("ThrottlingException: slow down")
	for _, tt := range []struct {
		name        string
		fail        map[string]error
		wantFailed  []string
		wantWritten map[string][]string
	}{
		{"a failed record in the middle of a group", map[string]error{"A-2": throttled},
			[]string{"m-A-2", "m-A-3", "m-A-4"},
			map[string][]string{"A": {"A-1", "A-2"}, "B": {"B-1", "B-2", "B-3", "B-4"}}},
		{"a failed first record", map[string]error{"B-1": throttled},
			[]string{"m-B-1", "m-B-2", "m-B-3", "m-B-4"},
			map[string][]string{"A": {"A-1", "A-2", "A-3", "A-4"}, "B": {"B-1"}}},
		{"a failed last record", map[string]error{"A-4": throttled},
			[]string{"m-A-4"},
			map[string][]string{"A": {"A-1", "A-2", "A-3", "A-4"}, "B": {"B-1", "B-2", "B-3", "B-4"}}},
		{"a failure in each group", map[string]error{"A-3": throttled, "B-2": throttled},
			[]string{"m-B-2", "m-A-3", "m-B-3", "m-A-4", "m-B-4"},
			map[string][]string{"A": {"A-1", "A-2", "A-3"}, "B": {"B-1", "B-2"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := newWatchStore(tt.fail)
				var logs bytes.Buffer
				h := newWatchedHandler(t, store, 8, &logs)
				resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: interleaved(fifoQueueARN, 4, "A", "B")})
				if got := failedIDs(resp); !slices.Equal(got, tt.wantFailed) {
					t.Errorf("batch item failures = %v, want %v", got, tt.wantFailed)
				}
				got := store.written()
				for _, g := range []string{"A", "B"} {
					if !slices.Equal(got[g], tt.wantWritten[g]) {
						t.Errorf("group %s: written %v, want %v", g, got[g], tt.wantWritten[g])
					}
				}
				// Each record not processed says why in its log line.
				skipped := 0
				for _, l := range logLines(t, &logs) {
					if e, _ := l["error"].(string); strings.Contains(e, "before it in message group") {
						skipped++
						if l["outcome"] != "failed" || !strings.HasPrefix(e, "not started: m-") {
							t.Errorf("a skipped record's log line = %v", l)
						}
					}
				}
				if want := len(tt.wantFailed) - len(tt.fail); skipped != want {
					t.Errorf("%d log lines of records not started, want %d:\n%s", skipped, want, logs.String())
				}
			})
		})
	}
}

func TestADeadLetteredOrPanickingRecordOfAFIFOGroup(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var stored []string
		store := &mock.Store{PutOrderFn: func(_ context.Context, o orderflow.Order) (orderflow.Outcome, error) {
			if o.OrderID == "B-1" {
				panic("a bug that only this record hits")
			}
			stored = append(stored, o.OrderID) // one group at a time here: Concurrency 1
			return orderflow.OutcomeStored, nil
		}}
		dlq := &mock.DeadLetterQueue{SendDeadLetterFn: func(context.Context, orderflow.DeadLetter) error { return nil }}
		h, err := handler.New(handler.Options{Store: store, DeadLetters: dlq, Concurrency: 1,
			Now: func() time.Time { return time.Date(2025, 5, 3, 12, 0, 1, 0, time.UTC) }})
		if err != nil {
			t.Fatal(err)
		}
		poison := groupRecord(fifoQueueARN, "A", "A-1")
		poison.Body = `{"orderId":`
		recs := []events.SQSMessage{poison, groupRecord(fifoQueueARN, "A", "A-2"),
			groupRecord(fifoQueueARN, "B", "B-1"), groupRecord(fifoQueueARN, "B", "B-2")}
		results := h.Process(context.Background(), recs)
		// Invalid input is done with (dead-lettered): its group goes on.
		// A panic is a failure: its group stops.
		want := []handler.Result{handler.ResultInvalid, handler.ResultStored, handler.ResultFailed, handler.ResultFailed}
		if !slices.Equal(results, want) {
			t.Errorf("results = %v, want %v", results, want)
		}
		if !slices.Equal(stored, []string{"A-2"}) {
			t.Errorf("stored %v, want only A-2", stored)
		}
	})
}

func TestAFIFOGroupOutOfTimeLeavesItsUnstartedRecordsForSQS(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := &mock.Store{PutOrderFn: func(ctx context.Context, o orderflow.Order) (orderflow.Outcome, error) {
			if o.OrderID == "A-1" {
				time.Sleep(400 * time.Millisecond) // a slow write that finishes before the deadline
			}
			return orderflow.OutcomeStored, nil
		}}
		dlq := &mock.DeadLetterQueue{SendDeadLetterFn: func(context.Context, orderflow.DeadLetter) error { return nil }}
		h, err := handler.New(handler.Options{Store: store, DeadLetters: dlq, ReserveTime: 200 * time.Millisecond,
			Now: func() time.Time { return time.Date(2025, 5, 3, 12, 0, 1, 0, time.UTC) }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		recs := interleaved(fifoQueueARN, 2, "A", "B")
		resp, _ := h.Handle(ctx, events.SQSEvent{Records: recs})
		// A-1 ends past the reserve (300 ms): A-2 is not started.
		if got, want := failedIDs(resp), []string{"m-A-2"}; !slices.Equal(got, want) {
			t.Errorf("batch item failures = %v, want %v", got, want)
		}
	})
}

func TestAStandardQueuesBatchIsProcessedConcurrentlyEvenWithMessageGroupIDs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// A standard queue's records may carry a MessageGroupId (fair
		// queues): it orders nothing, and a failure stops nothing.
		store := newWatchStore(map[string]error{"A-2": errors.New("ThrottlingException")})
		h := newWatchedHandler(t, store, 8, nil)
		resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: interleaved(standardQueueARN, 4, "A", "B")})
		if got, want := failedIDs(resp), []string{"m-A-2"}; !slices.Equal(got, want) {
			t.Errorf("batch item failures = %v, want %v", got, want)
		}
		if got := store.written(); len(got["A"]) != 4 || len(got["B"]) != 4 {
			t.Errorf("written %v, want every record", got)
		}
		if len(store.overlaps) == 0 {
			t.Errorf("no two records of a group were written at once: the standard batch ran one group at a time")
		}
	})
}

func TestARecordOfAStandardQueueInAFIFOBatchIsProcessedOnItsOwn(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := newWatchStore(map[string]error{"A-1": errors.New("ThrottlingException")})
		h := newWatchedHandler(t, store, 8, nil)
		recs := []events.SQSMessage{
			groupRecord(standardQueueARN, "A", "S-1"),
			groupRecord(fifoQueueARN, "A", "A-1"),
			groupRecord(standardQueueARN, "A", "T-1"),
			groupRecord(fifoQueueARN, "A", "A-2"),
		}
		resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: recs})
		if got, want := failedIDs(resp), []string{"m-A-1", "m-A-2"}; !slices.Equal(got, want) {
			t.Errorf("batch item failures = %v, want %v", got, want)
		}
		if got := store.written(); !slices.Equal(got["S"], []string{"S-1"}) || !slices.Equal(got["T"], []string{"T-1"}) || !slices.Equal(got["A"], []string{"A-1"}) {
			t.Errorf("written %v, want S-1, T-1 and A-1", got)
		}
	})
}

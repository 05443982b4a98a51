package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strconv"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/handler"
	"github.com/orderflow/orderflow/mock"
)

// BenchmarkHandleBatch measures a whole invocation of 10 enveloped records
// with an instant store: decoding, validation, the concurrency, the partial
// batch response and one JSON log line per record. ns/record is the figure.
func BenchmarkHandleBatch(b *testing.B) { benchmarkHandleBatch(b, nil) }

// BenchmarkHandleBatchMetrics is BenchmarkHandleBatch with the metrics on:
// one Embedded Metric Format line per invocation besides the log lines.
func BenchmarkHandleBatchMetrics(b *testing.B) { benchmarkHandleBatch(b, io.Discard) }

// BenchmarkHandleFIFOBatch is BenchmarkHandleBatch on records of a FIFO
// queue: in 1 message group (processed one after another) and in 10 (one
// record each, processed concurrently).
func BenchmarkHandleFIFOBatch(b *testing.B) {
	for _, groups := range []int{1, 10} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			benchmarkHandleBatch(b, nil, func(i int, r *events.SQSMessage) {
				r.EventSourceARN = "arn:aws:sqs:us-east-1:000000000000:OrderQueue.fifo"
				r.Attributes = maps.Clone(r.Attributes)
				r.Attributes["MessageGroupId"] = strconv.Itoa(i % groups)
			})
		})
	}
}

func benchmarkHandleBatch(b *testing.B, metrics io.Writer, edit ...func(int, *events.SQSMessage)) {
	payload := fixture(&testing.T{}, "sqs-sns-seed.json")
	var one events.SQSEvent
	if err := json.Unmarshal(payload, &one); err != nil {
		b.Fatal(err)
	}
	ev := events.SQSEvent{}
	for i := range 10 {
		r := one.Records[0]
		for _, f := range edit {
			f(i, &r)
		}
		ev.Records = append(ev.Records, r)
	}
	store := &mock.Store{PutOrderFn: func(context.Context, orderflow.Order) (orderflow.Outcome, error) {
		return orderflow.OutcomeStored, nil
	}}
	dlq := &mock.DeadLetterQueue{SendDeadLetterFn: func(context.Context, orderflow.DeadLetter) error { return nil }}
	h, err := handler.New(handler.Options{Store: store, DeadLetters: dlq, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: metrics})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, _ := h.Handle(context.Background(), ev)
		if len(resp.BatchItemFailures) != 0 {
			b.Fatal("failures")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ev.Records)), "ns/record")
}

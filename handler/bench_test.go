package handler_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
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

func benchmarkHandleBatch(b *testing.B, metrics io.Writer) {
	payload := fixture(&testing.T{}, "sqs-sns-seed.json")
	var one events.SQSEvent
	if err := json.Unmarshal(payload, &one); err != nil {
		b.Fatal(err)
	}
	ev := events.SQSEvent{}
	for range 10 {
		ev.Records = append(ev.Records, one.Records[0])
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

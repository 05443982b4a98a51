package sqs_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
)

// BenchmarkBatchCycle measures, through the real SDK over loopback HTTP,
// one cycle of SendMessageBatch (10), ReceiveMessage (up to 10) and
// DeleteMessageBatch per op, with 1 and 8 concurrent workers on one queue,
// in memory and on a data file, and reports messages a second (sent,
// received and deleted).
func BenchmarkBatchCycle(b *testing.B) {
	for _, bc := range []struct {
		store   string
		workers int
	}{{"memory", 1}, {"memory", 8}, {"file", 1}, {"file", 8}} {
		b.Run(fmt.Sprintf("store=%s/workers=%d", bc.store, bc.workers), func(b *testing.B) {
			benchCycle(b, bc.store == "file", 0, bc.workers)
		})
	}
}

// fill sends n small messages to a queue through the engine.
func fill(b *testing.B, e *cloudsqs.Engine, name string, n int) {
	b.Helper()
	for i := 0; i < n; i++ {
		if _, err := e.SendMessage(context.Background(), name, cloudsqs.SendInput{Body: "m"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEngineReceive measures one ReceiveMessage of one message (with
// a visibility timeout of 0, so the queue's size stays put) with 100 or
// 100,000 messages queued, and with 100,000 more in flight.
func BenchmarkEngineReceive(b *testing.B) {
	for _, tc := range []struct {
		queued, inflight int
	}{{100, 0}, {100_000, 0}, {100, 100_000}} {
		b.Run(fmt.Sprintf("queued=%d/inflight=%d", tc.queued, tc.inflight), func(b *testing.B) {
			e, err := cloudsqs.NewEngine(cloudsqs.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.CreateQueue("bench", nil, nil); err != nil {
				b.Fatal(err)
			}
			fill(b, e, "bench", tc.inflight)
			for got := 0; got < tc.inflight; {
				msgs, err := e.ReceiveMessage(context.Background(), "bench", cloudsqs.ReceiveInput{MaxNumberOfMessages: 10, VisibilityTimeout: aws.Int(3600)})
				if err != nil || len(msgs) == 0 {
					b.Fatalf("filling in-flight: %v", err)
				}
				got += len(msgs)
			}
			fill(b, e, "bench", tc.queued)
			zero := 0
			in := cloudsqs.ReceiveInput{MaxNumberOfMessages: 1, VisibilityTimeout: &zero}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				msgs, err := e.ReceiveMessage(context.Background(), "bench", in)
				if err != nil || len(msgs) != 1 {
					b.Fatalf("receive: %v, %d messages", err, len(msgs))
				}
			}
		})
	}
}

// BenchmarkEngineReceiveDelete measures a receive and a delete of one
// message with 100 or 100,000 messages queued (one message is sent back
// each time, so the queue's size stays put).
func BenchmarkEngineReceiveDelete(b *testing.B) {
	for _, queued := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("queued=%d", queued), func(b *testing.B) {
			e, err := cloudsqs.NewEngine(cloudsqs.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.CreateQueue("bench", nil, nil); err != nil {
				b.Fatal(err)
			}
			fill(b, e, "bench", queued)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				msgs, err := e.ReceiveMessage(ctx, "bench", cloudsqs.ReceiveInput{})
				if err != nil || len(msgs) != 1 {
					b.Fatalf("receive: %v", err)
				}
				if err := e.DeleteMessage("bench", msgs[0].ReceiptHandle); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := e.SendMessage(ctx, "bench", cloudsqs.SendInput{Body: "m"}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkHTTPReceive is BenchmarkEngineReceive through the SDK over
// loopback HTTP.
func BenchmarkHTTPReceive(b *testing.B) {
	for _, queued := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("queued=%d", queued), func(b *testing.B) {
			f := inMemory.newFixture(b, false)
			u := f.createQueue(b, "bench", map[string]string{"VisibilityTimeout": "0"})
			fill(b, f.svc.Engine(), "bench", queued)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, err := f.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(u)})
				if err != nil || len(out.Messages) != 1 {
					b.Fatalf("receive: %v", err)
				}
			}
		})
	}
}

// BenchmarkQueuedMessageMemory measures what a queued message costs in
// the Go heap (after a collection), sent through the engine in memory
// with a body of 32 bytes, 1 KiB and 64 KiB and no attributes, and of 32
// bytes with 10 string attributes, and what it counts towards the
// queues' ceilings (MessageBytes): heap-B/msg at or under counted-B/msg
// means a full queue takes no more heap than its ceiling (the process's
// RSS adds the collector's headroom on top). b.N messages are queued per
// case, each with a body and attributes of its own, as read from a
// request.
func BenchmarkQueuedMessageMemory(b *testing.B) {
	for _, c := range []struct{ body, attrs int }{{32, 0}, {1 << 10, 0}, {64 << 10, 0}, {32, 10}} {
		b.Run(fmt.Sprintf("body=%d/attrs=%d", c.body, c.attrs), func(b *testing.B) {
			e, err := cloudsqs.NewEngine(cloudsqs.Options{MaxQueueBytes: -1, MaxQueuedBytes: -1})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.CreateQueue("q", nil, nil); err != nil {
				b.Fatal(err)
			}
			buf := []byte(strings.Repeat("x", c.body))
			input := func() cloudsqs.SendInput {
				in := cloudsqs.SendInput{Body: string(buf)}
				if c.attrs > 0 {
					in.MessageAttributes = map[string]cloudsqs.MessageAttributeValue{}
					for i := range c.attrs {
						in.MessageAttributes[fmt.Sprint("attr", i)] = cloudsqs.MessageAttributeValue{DataType: "String", StringValue: fmt.Sprint("value", i)}
					}
				}
				return in
			}
			ctx := context.Background()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.SendMessage(ctx, "q", input()); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
			b.ReportMetric(heap/float64(b.N), "heap-B/msg")
			b.ReportMetric(float64(cloudsqs.MessageBytes(input())), "counted-B/msg")
			runtime.KeepAlive(e)
		})
	}
}

// BenchmarkFIFOCycle measures, through the real SDK over loopback HTTP,
// the cycle of BenchmarkBatchCycle (SendMessageBatch of 10,
// ReceiveMessage of up to 10, DeleteMessageBatch) on a standard queue and
// on a FIFO queue whose messages go round-robin to 1 or 1,000 message
// groups (each with a deduplication id of its own), with 1 and 8
// concurrent workers, and reports messages a second deleted. A FIFO
// queue's receive takes no group that has a message in flight: with one
// group the workers take turns.
func BenchmarkFIFOCycle(b *testing.B) {
	type queueCase struct {
		name   string
		groups int // 0: a standard queue
	}
	for _, store := range []string{"memory", "file"} {
		for _, qc := range []queueCase{{"standard", 0}, {"fifo/groups=1", 1}, {"fifo/groups=1000", 1000}} {
			for _, workers := range []int{1, 8} {
				b.Run(fmt.Sprintf("store=%s/queue=%s/workers=%d", store, qc.name, workers), func(b *testing.B) {
					benchCycle(b, store == "file", qc.groups, workers)
				})
			}
		}
	}
}

func benchCycle(b *testing.B, onFile bool, groups, workers int) {
	f := served(b, onFile)
	name, attrs := "bench", map[string]string(nil)
	if groups > 0 {
		name, attrs = "bench.fifo", map[string]string{"FifoQueue": "true"}
	}
	u := f.createQueue(b, name, attrs)
	var (
		mu      sync.Mutex
		deleted int
		next    int // the next message's number: its group and deduplication id
	)
	entries := func() []types.SendMessageBatchRequestEntry {
		mu.Lock()
		defer mu.Unlock()
		e := make([]types.SendMessageBatchRequestEntry, 10)
		for i := range e {
			e[i] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(`{"orderId":"o-1","quantity":1}`)}
			if groups > 0 {
				e[i].MessageGroupId = aws.String(fmt.Sprint("order-", next%groups))
				e[i].MessageDeduplicationId = aws.String(fmt.Sprint(next))
			}
			next++
		}
		return e
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		n := b.N / workers
		if w < b.N%workers {
			n++
		}
		wg.Go(func() {
			ctx := context.Background()
			for i := 0; i < n; i++ {
				if _, err := f.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: entries()}); err != nil {
					b.Error(err)
					return
				}
				out, err := f.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), MaxNumberOfMessages: 10})
				if err != nil {
					b.Error(err)
					return
				}
				if len(out.Messages) == 0 {
					continue
				}
				del := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
				for j, m := range out.Messages {
					del[j] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), ReceiptHandle: m.ReceiptHandle}
				}
				if _, err := f.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(u), Entries: del}); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				deleted += len(del)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(deleted)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkEngineFIFOReceiveDelete is BenchmarkEngineReceiveDelete on a
// FIFO queue: a receive and a delete of one message, with 100 or 100,000
// messages queued in 1, 1,000 or 100,000 groups (one message is sent back
// to the group each time, so the queue's size stays put). Each operation
// is O(log n) in the messages and groups, so the cost should barely move
// with the queue's size.
func BenchmarkEngineFIFOReceiveDelete(b *testing.B) {
	for _, tc := range []struct{ queued, groups int }{{100, 1}, {100_000, 1}, {100_000, 1000}, {100_000, 100_000}} {
		b.Run(fmt.Sprintf("queued=%d/groups=%d", tc.queued, tc.groups), func(b *testing.B) {
			e, err := cloudsqs.NewEngine(cloudsqs.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.CreateQueue("bench.fifo", map[string]string{"FifoQueue": "true"}, nil); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			seq := 0
			send := func(group string) {
				seq++
				if _, err := e.SendMessage(ctx, "bench.fifo", cloudsqs.SendInput{Body: "m", MessageGroupID: group, MessageDeduplicationID: strconv.Itoa(seq)}); err != nil {
					b.Fatal(err)
				}
			}
			for i := range tc.queued {
				send(strconv.Itoa(i % tc.groups))
			}
			in := cloudsqs.ReceiveInput{AttributeNames: []string{"MessageGroupId"}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				msgs, err := e.ReceiveMessage(ctx, "bench.fifo", in)
				if err != nil || len(msgs) != 1 {
					b.Fatalf("receive: %v", err)
				}
				if err := e.DeleteMessage("bench.fifo", msgs[0].ReceiptHandle); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				send(msgs[0].Attributes["MessageGroupId"])
				b.StartTimer()
			}
		})
	}
}

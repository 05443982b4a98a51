package cloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
	"github.com/orderflow/orderflow/cloud/sqs"
	"github.com/orderflow/orderflow/internal/gctune"
)

// BenchmarkMemoryAtScale loads the embedded cloud's engines as the issue's
// memory target describes — 1,000,000 stored orders (the Orders table with
// its UserOrders index, each item as the function writes it) and 100,000
// queued order messages — and reports the heap in use and the process's
// peak RSS, with the garbage collector paced as the CLI paces it
// (internal/gctune). Run it alone (-benchtime 1x): peak RSS is per process.
//
//	go test -run '^$' -bench MemoryAtScale -benchtime 1x ./cloud/
func BenchmarkMemoryAtScale(b *testing.B) {
	const orders, queued = 1_000_000, 100_000
	gctune.Start(b.Context(), os.Getenv)
	for b.Loop() {
		ddb := engine.New()
		mustDo(b, ddb, "CreateTable", `{"TableName":"Orders","BillingMode":"PAY_PER_REQUEST",
			"AttributeDefinitions":[{"AttributeName":"orderId","AttributeType":"S"},{"AttributeName":"userId","AttributeType":"S"},{"AttributeName":"timestamp","AttributeType":"S"}],
			"KeySchema":[{"AttributeName":"orderId","KeyType":"HASH"}],
			"GlobalSecondaryIndexes":[{"IndexName":"UserOrders","KeySchema":[{"AttributeName":"userId","KeyType":"HASH"},{"AttributeName":"timestamp","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}]}`)
		base := time.Date(2025, 5, 3, 12, 0, 0, 0, time.UTC)
		for i := range orders {
			o := orderflow.Order{OrderID: fmt.Sprintf("ORD-%08d", i), UserID: fmt.Sprintf("U%05d", i%20000), ItemName: "Laptop",
				Quantity: 1 + i%5, Status: orderflow.StatusPaid, Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
			item, err := json.Marshal(map[string]any{"TableName": "Orders", "Item": wireItem(o)})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ddb.Do("PutItem", item); err != nil {
				b.Fatal(err)
			}
		}
		q, err := sqs.NewEngine(sqs.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := q.CreateQueue("OrderQueue", nil, nil); err != nil {
			b.Fatal(err)
		}
		for i := range queued {
			o := orderflow.Order{OrderID: fmt.Sprintf("Q-%08d", i), UserID: "U1", ItemName: "Laptop", Quantity: 1, Status: orderflow.StatusNew, Timestamp: base}
			body, _ := o.MarshalJSON()
			if _, err := q.SendMessage(context.Background(), "OrderQueue", sqs.SendInput{Body: string(body)}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
		runtime.KeepAlive(ddb)
		runtime.KeepAlive(q)
	}
}

func mustDo(b *testing.B, e *engine.Engine, op, body string) {
	b.Helper()
	if _, err := e.Do(op, []byte(body)); err != nil {
		b.Fatal(err)
	}
}

// wireItem is o as the DynamoDB JSON API carries it: the attributes of
// dynamodb.Item.
func wireItem(o orderflow.Order) map[string]map[string]string {
	out := map[string]map[string]string{}
	out["orderId"] = map[string]string{"S": o.OrderID}
	out["userId"] = map[string]string{"S": o.UserID}
	out["itemName"] = map[string]string{"S": o.ItemName}
	out["quantity"] = map[string]string{"N": fmt.Sprint(o.Quantity)}
	out["status"] = map[string]string{"S": string(o.Status)}
	out["timestamp"] = map[string]string{"S": o.TimestampString()}
	out["eventVersion"] = map[string]string{"S": o.Version()}
	return out
}

// BenchmarkQueuesAtTheirCeiling is the attack of a client that sends and
// never receives: it offers twice the default ceiling on all queues
// (sqs.DefaultMaxQueuedBytes) in 64 KiB messages, each a body of its own,
// to four queues, in memory, with the garbage collector paced as the CLI
// paces it, and reports what was accepted, the heap in use and the
// process's peak RSS. Run it alone (-benchtime 1x): peak RSS is per
// process.
//
//	go test -run '^$' -bench QueuesAtTheirCeiling -benchtime 1x ./cloud/
func BenchmarkQueuesAtTheirCeiling(b *testing.B) {
	gctune.Start(b.Context(), os.Getenv)
	for b.Loop() {
		q, err := sqs.NewEngine(sqs.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range 4 {
			if _, err := q.CreateQueue(fmt.Sprint("q", i), nil, nil); err != nil {
				b.Fatal(err)
			}
		}
		buf := make([]byte, 64<<10)
		for i := range buf {
			buf[i] = 'x'
		}
		refused := 0
		for i := range 2 * sqs.DefaultMaxQueuedBytes / len(buf) {
			_, err := q.SendMessage(context.Background(), fmt.Sprint("q", i%4), sqs.SendInput{Body: string(buf)})
			if errors.Is(err, sqs.ErrQueueFull) {
				refused++
			} else if err != nil {
				b.Fatal(err)
			}
		}
		if refused == 0 {
			b.Fatal("nothing was refused")
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		b.ReportMetric(float64(q.QueuedBytes())/(1<<20), "queued-MiB")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
		runtime.KeepAlive(q)
	}
}

package engine_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
)

// The benchmarks measure our store's write (a PutItem guarded by
// "attribute_not_exists(#id) OR attribute_not_exists(#v) OR #v < :v" with
// ReturnValuesOnConditionCheckFailure=ALL_OLD, of a new order-sized item)
// through the real SDK over loopback, on tables preloaded to a size; the
// engine's heap per stored order; and the engine's own costs without HTTP.
//
//	go test ./cloud/dynamodb/engine -run '^$' -bench . -benchtime 3000x -count 3
//
// Items are order-shaped: the seven attributes our store writes, with an
// 87-byte eventVersion as orderflow.Order.Version makes.

const version = "0001746273600000000000.01.4f0c2a1b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a"

// orderJSON is the PutItem body of order i of a table preloaded by the
// benchmarks: ids and GSI keys in ascending order, which is minidyn's
// cheapest insertion order (its sort of an already sorted slice is
// linear), so the comparison favours minidyn.
func orderJSON(table, prefix string, i int, conditional bool) []byte {
	b := fmt.Appendf(nil, `{"TableName":%q,"Item":{"orderId":{"S":"%s%09d"},"userId":{"S":"U%07d"},"itemName":{"S":"Wireless keyboard"},"quantity":{"N":"%d"},"status":{"S":"new"},"timestamp":{"S":"2025-05-03T12:%02d:%02d.%06dZ"},"eventVersion":{"S":"%s"}}`,
		table, prefix, i, i/10, 1+i%5, (i/60)%60, i%60, i%1000000, version)
	if conditional {
		b = append(b, `,"ConditionExpression":"attribute_not_exists(#id) OR attribute_not_exists(#v) OR #v < :v","ExpressionAttributeNames":{"#id":"orderId","#v":"eventVersion"},"ExpressionAttributeValues":{":v":{"S":"`+version+`"}},"ReturnValuesOnConditionCheckFailure":"ALL_OLD"`...)
	}
	return append(b, '}')
}

func orderItem(prefix string, i int) av {
	return av{
		"orderId": s(fmt.Sprintf("%s%09d", prefix, i)), "userId": s(fmt.Sprintf("U%07d", i/10)), "itemName": s("Wireless keyboard"),
		"quantity": n(fmt.Sprint(1 + i%5)), "status": s("new"), "timestamp": s(fmt.Sprintf("2025-05-03T12:%02d:%02d.%06dZ", (i/60)%60, i%60, i%1000000)),
		"eventVersion": s(version),
	}
}

var createOrders = []byte(`{"TableName":"Orders","BillingMode":"PAY_PER_REQUEST","AttributeDefinitions":[{"AttributeName":"orderId","AttributeType":"S"},{"AttributeName":"userId","AttributeType":"S"},{"AttributeName":"timestamp","AttributeType":"S"}],"KeySchema":[{"AttributeName":"orderId","KeyType":"HASH"}],"GlobalSecondaryIndexes":[{"IndexName":"UserOrders","KeySchema":[{"AttributeName":"userId","KeyType":"HASH"},{"AttributeName":"timestamp","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}]}`)

// preload creates the Orders table in h and puts n orders into it through
// h's handler directly (no network), returning h.
func preload(b *testing.B, h http.Handler, n int) http.Handler {
	b.Helper()
	do := func(op string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", op, rec.Code, rec.Body)
		}
	}
	if e, ok := h.(*engine.Engine); ok { // the same requests, without httptest's copies
		do = func(op string, body []byte) {
			if _, err := e.Do(op, body); err != nil {
				b.Fatalf("%s: %v", op, err)
			}
		}
	}
	do("CreateTable", createOrders)
	for i := range n {
		do("PutItem", orderJSON("Orders", "A", i, false))
	}
	return h
}

// benchGuardedPuts writes b.N new orders (ids after the preloaded ones)
// with our store's conditional PutItem through the SDK over loopback.
// next counts the orders written so far, across the runs of a
// sub-benchmark on one table.
func benchGuardedPuts(b *testing.B, c *awsddb.Client, next *int) {
	b.ReportAllocs()
	for b.Loop() {
		if err := guardedPut(c, orderItem("B", *next)); err != nil {
			b.Fatalf("put %d: %v", *next, err)
		}
		*next++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkGuardedPutSDK is the engine's rate at 10k and at 1M stored
// orders (target: at 1M ≥ 80% of the rate at 10k).
func BenchmarkGuardedPutSDK(b *testing.B) {
	for _, size := range []int{10_000, 1_000_000} {
		h, next := preload(b, engine.New(), size), 0
		b.Run(fmt.Sprintf("engine/items=%d", size), func(b *testing.B) {
			benchGuardedPuts(b, newClient(b, h), &next)
		})
	}
}

// BenchmarkGuardedPutVersusMinidyn compares the engine with minidyn's
// server (the embedded cloud's DynamoDB before this engine) at 100k stored
// orders. Loading minidyn to 100k items takes about a minute: its cost is
// what is measured.
func BenchmarkGuardedPutVersusMinidyn(b *testing.B) {
	const size = 100_000
	for _, impl := range []struct {
		name string
		h    http.Handler
	}{{"engine", engine.New()}, {"minidyn", minidynService(b)}} {
		h, next := preload(b, impl.h, size), 0
		b.Run(fmt.Sprintf("%s/items=%d", impl.name, size), func(b *testing.B) {
			benchGuardedPuts(b, newClient(b, h), &next)
		})
	}
}

// BenchmarkHeapPerOrder loads 1M orders into an engine and reports the
// live heap they take (target: well under 1 GiB for 1M orders).
func BenchmarkHeapPerOrder(b *testing.B) {
	const size = 1_000_000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e := preload(b, engine.New(), size)
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(e)
		heap := float64(after.HeapAlloc - before.HeapAlloc)
		b.ReportMetric(heap/size, "heapB/order")
		b.ReportMetric(heap/(1<<20), "heapMiB/1M-orders")
	}
}

// BenchmarkEngine measures the engine without HTTP or the SDK (Engine.Do:
// JSON decoding, validation, the interpreter, storage, JSON encoding) on a
// table of 100k orders.
func BenchmarkEngine(b *testing.B) {
	const size = 100_000
	e := preload(b, engine.New(), size).(*engine.Engine)
	i := 0 // new ids across the runs of the sub-benchmark
	b.Run("GuardedPutItem/new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Do("PutItem", orderJSON("Orders", "C", i, true)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("GuardedPutItem/duplicate", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, err := e.Do("PutItem", orderJSON("Orders", "A", i%size, true))
			if engine.Code(err) != "ConditionalCheckFailedException" {
				b.Fatalf("duplicate put: %v", err)
			}
			i++
		}
	})
	// An order's next event: the stored item has an older version.
	b.Run("GuardedPutItem/newer", func(b *testing.B) {
		b.ReportAllocs()
		j := 0 // each stored order once, across the runs of the sub-benchmark
		for b.Loop() {
			body := bytes.ReplaceAll(orderJSON("Orders", "A", j%size, true), []byte(version), []byte(version+"1"))
			if _, err := e.Do("PutItem", body); err != nil {
				b.Fatal(err)
			}
			j++
		}
	})
	b.Run("GetItem", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := e.Do("GetItem", fmt.Appendf(nil, `{"TableName":"Orders","Key":{"orderId":{"S":"A%09d"}},"ConsistentRead":true}`, (i*7919)%size)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("QueryUserNewestFirst", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			out, err := e.Do("Query", fmt.Appendf(nil, `{"TableName":"Orders","IndexName":"UserOrders","KeyConditionExpression":"userId = :u","ExpressionAttributeValues":{":u":{"S":"U%07d"}},"ScanIndexForward":false,"Limit":10}`, (i*31)%(size/10)))
			if err != nil || !strings.Contains(string(out), `"Count":10`) {
				b.Fatalf("query: %v %s", err, out)
			}
			i++
		}
	})
}

package dynamodb_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/cloud/dynamodb"
	"github.com/orderflow/orderflow/cloud/journal"
)

// BenchmarkPutItem measures PutItem through the real SDK over loopback:
// one op is one acknowledged PutItem of a ~250-byte item, over 1,000 keys
// a table, from 1, 8 or 32 concurrent clients spread over 1 or 4 tables,
// with state in memory or on a data file in the test's temporary
// directory. It reports puts/s; the durable runs also report log syncs
// (commits) per put, which shows the group commit. With 4 tables the
// writes of different tables do not wait for each other's locks.
func BenchmarkPutItem(b *testing.B) {
	for _, durable := range []bool{false, true} {
		for _, tables := range []int{1, 4} {
			for _, workers := range []int{1, 8, 32} {
				if workers < tables {
					continue
				}
				b.Run(fmt.Sprintf("durable=%v/tables=%d/workers=%d", durable, tables, workers), func(b *testing.B) {
					benchmarkPutItem(b, durable, tables, workers)
				})
			}
		}
	}
}

func benchmarkPutItem(b *testing.B, durable bool, tables, workers int) {
	opts := dynamodb.Options{}
	if durable {
		db, err := journal.Open(filepath.Join(b.TempDir(), "cloud.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		opts.DB = db
	}
	svc, err := dynamodb.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	srv := httptest.NewServer(svc)
	defer srv.Close()
	c := client(srv.URL)
	for i := range tables {
		createOrders(b, c, fmt.Sprintf("Orders%d", i))
	}
	payload := strings.Repeat("x", 200)
	commits0 := svc.JournalStats().Commits
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		table := aws.String(fmt.Sprintf("Orders%d", w%tables))
		wg.Go(func() {
			for i := w; i < b.N; i += workers {
				_, err := c.PutItem(context.Background(), &awsddb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{
					"pk": s(fmt.Sprintf("o%04d", i%1000)), "user": s(fmt.Sprint(i % 10)), "n": n(i), "payload": s(payload),
				}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
	if durable {
		b.ReportMetric(float64(svc.JournalStats().Commits-commits0)/float64(b.N), "commits/put")
	}
}

// ordersTable is the CreateTable of deploy/template.yaml's Orders table.
const ordersTable = `{"TableName":"Orders","BillingMode":"PAY_PER_REQUEST",
"AttributeDefinitions":[{"AttributeName":"orderId","AttributeType":"S"},{"AttributeName":"userId","AttributeType":"S"},{"AttributeName":"timestamp","AttributeType":"S"}],
"KeySchema":[{"AttributeName":"orderId","KeyType":"HASH"}],
"GlobalSecondaryIndexes":[{"IndexName":"UserOrders","KeySchema":[{"AttributeName":"userId","KeyType":"HASH"},{"AttributeName":"timestamp","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}]}`

func order(i int, status string) string {
	return fmt.Sprintf(`{"orderId":{"S":"order-%08d"},"userId":{"S":"user-%05d"},"itemName":{"S":"Widget, blue, size M"},"quantity":{"N":"%d"},"status":{"S":"%s"},"timestamp":{"S":"2026-01-02T15:04:%02d.%06dZ"}}`,
		i, i%5000, 1+i%7, status, i%60, i)
}

// serve runs one request on h in-process and fails on anything but 200.
func serve(b *testing.B, h http.Handler, op, body string) {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", op, rec.Code, rec.Body)
	}
}

// BenchmarkStartup measures a start with many orders in the file, in the
// Orders table of deploy/template.yaml (with its GSI), each order written
// twice (NEW, then PAID). One op is one Open of the file, which loads
// every item and rebuilds the index. It reports the file's size.
func BenchmarkStartup(b *testing.B) {
	for _, orders := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("orders=%d", orders), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "cloud.db")
			db, err := journal.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			svc, err := dynamodb.New(dynamodb.Options{DB: db})
			if err != nil {
				b.Fatal(err)
			}
			serve(b, svc, "CreateTable", ordersTable)
			for _, status := range []string{"NEW", "PAID"} {
				var batch bytes.Buffer
				for i := range orders {
					if batch.Len() == 0 {
						batch.WriteString(`{"RequestItems":{"Orders":[`)
					} else {
						batch.WriteByte(',')
					}
					fmt.Fprintf(&batch, `{"PutRequest":{"Item":%s}}`, order(i, status))
					if i%25 == 24 || i == orders-1 {
						batch.WriteString(`]}}`)
						serve(b, svc, "BatchWriteItem", batch.String())
						batch.Reset()
					}
				}
			}
			if err := svc.Close(); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				svc, err := dynamodb.New(dynamodb.Options{DB: db})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				serve(b, svc, "GetItem", `{"TableName":"Orders","Key":{"orderId":{"S":"order-00000000"}}}`)
				if err := svc.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			db.Close()
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
		})
	}
}

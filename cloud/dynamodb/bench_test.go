package dynamodb_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
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
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/dynamodb"
)

// BenchmarkPutItem measures PutItem through the real SDK over loopback:
// one op is one acknowledged PutItem of a ~250-byte item, over 1,000 keys
// (so that minidyn's per-insert cost, which grows with the table, stays
// flat), from 1 or 8 concurrent clients, with state in memory or journaled
// to a bbolt file in the test's temporary directory (on this machine, ext4).
// It reports puts/s; the durable runs also report fsyncs (commits) per put,
// which shows the group commit.
func BenchmarkPutItem(b *testing.B) {
	for _, durable := range []bool{false, true} {
		for _, workers := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("durable=%v/workers=%d", durable, workers), func(b *testing.B) {
				var db *bbolt.DB
				opts := dynamodb.Options{}
				if durable {
					db = openDB(b, filepath.Join(b.TempDir(), "cloud.db"))
					opts.DB = db
				}
				svc, err := dynamodb.Open(opts)
				if err != nil {
					b.Fatal(err)
				}
				defer svc.Close()
				srv := httptest.NewServer(svc)
				defer srv.Close()
				c := client(srv.URL)
				createOrders(b, c, "Orders")
				payload := strings.Repeat("x", 200)
				txid0 := lastTxID(db)
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for w := range workers {
					wg.Go(func() {
						for i := w; i < b.N; i += workers {
							_, err := c.PutItem(context.Background(), &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{
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
				if db != nil {
					b.ReportMetric(float64(lastTxID(db)-txid0)/float64(b.N), "commits/put")
				}
			})
		}
	}
}

// lastTxID returns the id of the last write transaction committed to db
// (each is one fsync'd commit), or 0 for no db.
func lastTxID(db *bbolt.DB) int {
	id := 0
	if db != nil {
		db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil })
	}
	return id
}

// BenchmarkFsync measures the latency of making a 4 KiB write durable in
// the test's temporary directory: write at a page offset, then fsync.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	for i := 0; b.Loop(); i++ {
		if _, err := f.WriteAt(page, int64(i%256)*4096); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommit compares what one bbolt commit of 8 records of 300
// bytes costs in the two shapes a durable DynamoDB could take: appended to
// a journal (keys in increasing order, as this package does), or put by
// item key into a bucket that already holds 100,000 items (bbolt as the
// item store). It reports the bytes of pages each commit writes.
func BenchmarkCommit(b *testing.B) {
	value := make([]byte, 300)
	for _, shape := range []string{"journal", "keyed"} {
		b.Run(shape, func(b *testing.B) {
			db := openDB(b, filepath.Join(b.TempDir(), "cloud.db"))
			bucket := []byte("b")
			err := db.Update(func(tx *bbolt.Tx) error {
				bk, err := tx.CreateBucket(bucket)
				if err != nil {
					return err
				}
				if shape == "keyed" {
					for i := range 100_000 {
						if err := bk.Put(fmt.Appendf(nil, "order-%08d", i), value); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			var seq uint64
			before := db.Stats().TxStats
			for b.Loop() {
				err := db.Update(func(tx *bbolt.Tx) error {
					bk := tx.Bucket(bucket)
					for range 8 {
						var k []byte
						if shape == "journal" {
							bk.FillPercent = 1
							seq++
							k = binary.BigEndian.AppendUint64(nil, seq)
						} else {
							k = fmt.Appendf(nil, "order-%08d", rand.IntN(100_000))
						}
						if err := bk.Put(k, value); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			after := db.Stats().TxStats
			b.ReportMetric(float64(after.GetPageAlloc()-before.GetPageAlloc())/float64(b.N), "page-bytes/commit")
		})
	}
}

package dynamodb

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// ordersTable is the CreateTable of deploy/template.yaml's Orders table.
const ordersTable = `{"TableName":"Orders","BillingMode":"PAY_PER_REQUEST",
"AttributeDefinitions":[{"AttributeName":"orderId","AttributeType":"S"},{"AttributeName":"userId","AttributeType":"S"},{"AttributeName":"timestamp","AttributeType":"S"}],
"KeySchema":[{"AttributeName":"orderId","KeyType":"HASH"}],
"GlobalSecondaryIndexes":[{"IndexName":"UserOrders","KeySchema":[{"AttributeName":"userId","KeyType":"HASH"},{"AttributeName":"timestamp","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}]}`

func order(i int, status string) json.RawMessage {
	return fmt.Appendf(nil, `{"orderId":{"S":"order-%08d"},"userId":{"S":"user-%05d"},"itemName":{"S":"Widget, blue, size M"},"quantity":{"N":"%d"},"status":{"S":"%s"},"timestamp":{"S":"2026-01-02T15:04:%02d.%06dZ"}}`,
		i, i%5000, 1+i%7, status, i%60, i)
}

// BenchmarkStartup measures a start with many orders in the file: the
// history of each order is two writes (NEW, then PAID), journaled as this
// package journals them, in the Orders table of deploy/template.yaml (with
// its GSI). One op: replay the journal (Open), compact it, replay the
// snapshot (Open again). It reports each duration, the time only to read
// and decode the journal (the rest of a replay is minidyn applying the
// writes), and the journal and file sizes before and after compaction.
// Run it with -benchtime=1x: at 100,000 orders one op takes minutes.
func BenchmarkStartup(b *testing.B) {
	for _, orders := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("orders=%d", orders), func(b *testing.B) {
			for b.Loop() {
				startup(b, orders)
			}
		})
	}
}

func startup(b *testing.B, orders int) {
	path := filepath.Join(b.TempDir(), "cloud.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := openJournal(Options{DB: db}); err != nil { // creates the buckets
		b.Fatal(err)
	}
	// Write the history straight into the journal, 10,000 records a commit.
	records := [][]effect{{{Op: "CreateTable", Table: "Orders", Request: json.RawMessage(ordersTable)}}}
	for i := range orders {
		records = append(records, []effect{{Op: "put", Table: "Orders", Item: order(i, "NEW")}})
	}
	for i := range orders {
		records = append(records, []effect{{Op: "put", Table: "Orders", Item: order(i, "PAID")}})
	}
	for from := 0; from < len(records); from += 10_000 {
		err := db.Update(func(tx *bbolt.Tx) error {
			jb := tx.Bucket(journalBucket)
			for i := from; i < min(from+10_000, len(records)); i++ {
				v, err := json.Marshal(records[i])
				if err != nil {
					return err
				}
				if err := jb.Put(seqKey(uint64(i+1)), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	journalBytes, fileBefore := bucketBytes(b, db, journalBucket), fileSize(b, path)

	began := time.Now()
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(journalBucket).ForEach(func(k, v []byte) error {
			var effects []effect
			return json.Unmarshal(v, &effects)
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	decode := time.Since(began)

	began = time.Now()
	svc, err := Open(Options{DB: db, CompactRecords: 1 << 30, CompactBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	openFromJournal := time.Since(began)

	began = time.Now()
	if err := svc.Compact(); err != nil {
		b.Fatal(err)
	}
	compact := time.Since(began)
	svc.Close()
	journalAfter, snapshotBytes, fileAfter := bucketBytes(b, db, journalBucket), bucketBytes(b, db, itemsBucket), fileSize(b, path)

	began = time.Now()
	svc, err = Open(Options{DB: db})
	if err != nil {
		b.Fatal(err)
	}
	openSnapshot := time.Since(began)
	svc.Close()

	b.ReportMetric(decode.Seconds(), "decode-journal-s")
	b.ReportMetric(openFromJournal.Seconds(), "open-from-journal-s")
	b.ReportMetric(compact.Seconds(), "compact-s")
	b.ReportMetric(openSnapshot.Seconds(), "open-from-snapshot-s")
	b.ReportMetric(float64(journalBytes)/1e6, "journal-MB-before")
	b.ReportMetric(float64(journalAfter)/1e6, "journal-MB-after")
	b.ReportMetric(float64(snapshotBytes)/1e6, "snapshot-MB")
	b.ReportMetric(float64(fileBefore)/1e6, "file-MB-before")
	b.ReportMetric(float64(fileAfter)/1e6, "file-MB-after")
}

// bucketBytes returns the bytes of pages a bucket and its sub-buckets use.
func bucketBytes(b *testing.B, db *bbolt.DB, name []byte) int {
	var n int
	db.View(func(tx *bbolt.Tx) error {
		st := tx.Bucket(name).Stats()
		n = st.BranchInuse + st.LeafInuse
		return nil
	})
	return n
}

func fileSize(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

package dynamodb_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/dynamodb"
	"github.com/orderflow/orderflow/cloud/journal"
)

// withData writes a table with items to a new file and stops cleanly.
func withData(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cloud.db")
	nd := startNode(t, path)
	createOrders(t, nd.c, "Orders")
	for i := range 60 {
		put(t, nd.c, "Orders", map[string]types.AttributeValue{"pk": s(fmt.Sprintf("o%02d", i)), "payload": s(strings.Repeat("x", 300))})
	}
	nd.stop()
	return path
}

// openErr opens a service on the file and returns its error; a panic fails
// the test.
func openErr(t *testing.T, path string) error {
	t.Helper()
	db, err := journal.Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := dynamodb.New(dynamodb.Options{DB: db})
	if err == nil {
		svc.Close()
	}
	return err
}

// The layout's buckets (see the engine's durable.go).
var (
	rootB   = []byte("dynamodb")
	tablesB = []byte("tables")
	itemsB  = []byte("items")
)

func items(tx *bbolt.Tx) *bbolt.Bucket {
	return tx.Bucket(rootB).Bucket(itemsB).Bucket([]byte("Orders"))
}

func TestADamagedOrForeignFileIsAnErrorNotAPanic(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string // in the error
	}{
		{"a file that is not a bbolt database", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a bbolt data file"},
		{"a file of a newer layout", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(rootB).Put([]byte("format"), []byte("3")) })
		}, `layout version "3"`},
		{"a file of the earlier layout", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("dynamodb.meta")); return err })
		}, "layout of an earlier orderflow"},
		{"a table definition that is not JSON", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error {
				return tx.Bucket(rootB).Bucket(tablesB).Put([]byte("Orders"), []byte("{garbage"))
			})
		}, `table "Orders": bad definition`},
		{"a definition under another table's name", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error {
				tb := tx.Bucket(rootB).Bucket(tablesB)
				return tb.Put([]byte("Other"), tb.Get([]byte("Orders")))
			})
		}, `table "Other": bad definition`},
		{"a table without its items", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(rootB).Bucket(itemsB).DeleteBucket([]byte("Orders")) })
		}, "has no items bucket"},
		{"items of a table that does not exist", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error {
				_, err := tx.Bucket(rootB).Bucket(itemsB).CreateBucket([]byte("Ghost"))
				return err
			})
		}, `items of table "Ghost", which has no definition`},
		{"a bucket among a table's items", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error { _, err := items(tx).CreateBucket([]byte("nested")); return err })
		}, "a bucket among the items"},
		{"an item that is not an item", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error {
				k, _ := items(tx).Cursor().First()
				return items(tx).Put(k, []byte{0xFF, 0xFF, 0xFF})
			})
		}, "stored item is corrupt"},
		{"an item under another item's key", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error {
				c := items(tx).Cursor()
				k, _ := c.First()
				_, v := c.Next()
				return items(tx).Put(k, bytes.Clone(v))
			})
		}, "does not have that key"},
		{"overwritten item pages", func(t *testing.T, path string) {
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			var root int64
			db.View(func(tx *bbolt.Tx) error {
				root = int64(items(tx).Root())
				return nil
			})
			pageSize := int64(db.Info().PageSize)
			db.Close()
			if root == 0 {
				t.Fatal("the items bucket is inline; write more to give it pages")
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, int(pageSize)), root*pageSize); err != nil {
				t.Fatal(err)
			}
		}, "damaged"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is an error", func(t *testing.T) {
			path := withData(t)
			if err := openErr(t, path); err != nil {
				t.Fatalf("the undamaged file: %v", err)
			}
			tc.damage(t, path)
			err := openErr(t, path)
			if err == nil {
				t.Fatal("Open = nil error, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to mention %q", err, tc.want)
			}
			t.Logf("%v", err)
		})
	}
}

func update(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	if err := journal.UpdateFile(path, fn); err != nil {
		t.Fatal(err)
	}
}

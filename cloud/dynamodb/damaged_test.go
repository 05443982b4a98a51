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
)

// withData writes a table with items to a new file, leaving some in the
// snapshot and some in the journal, and closes it.
func withData(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cloud.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, c := start(t, dynamodb.Options{DB: db})
	createOrders(t, c, "Orders")
	for i := range 60 {
		put(t, c, "Orders", map[string]types.AttributeValue{"pk": s(fmt.Sprintf("o%d", i)), "payload": s(strings.Repeat("x", 300))})
		if i == 29 {
			if err := svc.Compact(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// openErr opens a service on the file and returns its error; a panic fails
// the test.
func openErr(t *testing.T, path string) error {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := dynamodb.Open(dynamodb.Options{DB: db})
	if err == nil {
		svc.Close()
	}
	return err
}

func update(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
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
		}, "invalid"},
		{"a file of a newer format", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(dynamodb.MetaBucket).Put([]byte("format"), []byte("2")) })
		}, `data format "2"`},
		{"another program's buckets under our names", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error { return tx.DeleteBucket(dynamodb.MetaBucket) })
		}, "not a file this package wrote"},
		{"a journal record that is not JSON", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error {
				return tx.Bucket(dynamodb.JournalBucket).Put([]byte{0, 0, 0, 0, 0, 0, 0x10, 0}, []byte("{garbage"))
			})
		}, "journal record 4096"},
		{"a journal key that is not a sequence number", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(dynamodb.JournalBucket).Put([]byte("x"), []byte("[]")) })
		}, "not a sequence number"},
		{"a bucket among a table's snapshot items", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error {
				_, err := tx.Bucket(dynamodb.ItemsBucket).Bucket([]byte("Orders")).CreateBucket([]byte("nested"))
				return err
			})
		}, `"nested" is a bucket`},
		{"a snapshot item that is not an item", func(t *testing.T, path string) {
			update(t, path, func(tx *bbolt.Tx) error {
				return tx.Bucket(dynamodb.ItemsBucket).Bucket([]byte("Orders")).Put([]byte("=zz"), []byte(`{"pk":5}`))
			})
		}, "snapshot of table Orders: PutItem"},
		{"overwritten journal pages", func(t *testing.T, path string) {
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			var root int64
			db.View(func(tx *bbolt.Tx) error {
				root = int64(tx.Bucket(dynamodb.JournalBucket).Root())
				return nil
			})
			pageSize := int64(db.Info().PageSize)
			db.Close()
			if root == 0 {
				t.Fatal("the journal bucket is inline; write more to give it pages")
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

package journal_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/journal"
)

var errUnusable = errors.New("svc: unusable data in the data file")

// A service's top-level bucket is made once with its identity and child
// buckets; opened again it is checked, and what does not match is said.
func TestServiceRootMakesThenChecksAServicesBucket(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "d.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := journal.Identity{Format: "1", Region: "us-east-1", Account: "000000000000"}
	root := func(id journal.Identity, children ...string) (bool, error) {
		var fresh bool
		err := db.Update(func(tx *bbolt.Tx) error {
			var cs [][]byte
			for _, c := range children {
				cs = append(cs, []byte(c))
			}
			var err error
			_, fresh, err = journal.ServiceRoot(tx, []byte("svc"), id, errUnusable, cs...)
			return err
		})
		return fresh, err
	}
	if fresh, err := root(id, "a", "b"); !fresh || err != nil {
		t.Fatalf("first: fresh %v, %v", fresh, err)
	}
	if fresh, err := root(id, "a", "b"); fresh || err != nil {
		t.Fatalf("again: fresh %v, %v", fresh, err)
	}
	for _, tc := range []struct {
		id       journal.Identity
		children []string
		want     string
	}{
		{journal.Identity{Format: "2", Region: id.Region, Account: id.Account}, nil, `format version "1", want "2"`},
		{journal.Identity{Format: "1", Region: "eu-west-1", Account: id.Account}, nil, `written for region "us-east-1" and account "000000000000", opened for "eu-west-1" and "000000000000"`},
		{id, []string{"a", "c"}, "the bucket c is missing"},
	} {
		_, err := root(tc.id, tc.children...)
		if !errors.Is(err, errUnusable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v %v: %v, want %q", tc.id, tc.children, err, tc.want)
		}
	}
}

// LoadService creates a service's bucket in a new file, in a transaction
// that commits; in a file that has it, it loads without committing one.
func TestLoadServiceCommitsOnlyToCreate(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "d.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := journal.Identity{Format: "1", Region: "us-east-1", Account: "000000000000"}
	txid := func() int {
		var n int
		db.View(func(tx *bbolt.Tx) error { n = tx.ID(); return nil })
		return n
	}
	load := func() (fresh, writable bool, err error) {
		err = journal.LoadService(db, []byte("svc"), func(tx *bbolt.Tx) error {
			writable = tx.Writable()
			_, fresh, err = journal.ServiceRoot(tx, []byte("svc"), id, errUnusable, []byte("items"))
			return err
		})
		return fresh, writable, err
	}

	before := txid()
	fresh, writable, err := load()
	if err != nil || !fresh || !writable {
		t.Fatalf("first load: fresh %v, writable %v, err %v; want a fresh bucket made in a read-write transaction", fresh, writable, err)
	}
	if got := txid(); got != before+1 {
		t.Fatalf("after the first load the file's transaction id is %d, want %d (one commit)", got, before+1)
	}
	made := txid()
	for range 2 {
		fresh, writable, err = load()
		if err != nil || fresh || writable {
			t.Fatalf("load again: fresh %v, writable %v, err %v; want the bucket read in a read-only transaction", fresh, writable, err)
		}
	}
	if got := txid(); got != made {
		t.Errorf("loading again moved the file's transaction id from %d to %d: it committed", made, got)
	}

	// A file whose bucket does not match is refused as before.
	err = journal.LoadService(db, []byte("svc"), func(tx *bbolt.Tx) error {
		_, _, err := journal.ServiceRoot(tx, []byte("svc"), journal.Identity{Format: "2", Region: "us-east-1", Account: "000000000000"}, errUnusable)
		return err
	})
	if !errors.Is(err, errUnusable) {
		t.Errorf("load with another format: %v, want errUnusable", err)
	}
}

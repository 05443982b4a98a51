package journal

import (
	"fmt"

	"go.etcd.io/bbolt"
)

// Identity is what a service's top-level bucket says of the data it holds:
// the format version of its layout, and the region and account it was
// written for.
type Identity struct{ Format, Region, Account string }

// ServiceRoot returns the service's top-level bucket name in tx. In a file
// without it, it creates it, recording id, with the child buckets. In a
// file that has it, it checks that id matches and that every child bucket
// is there; otherwise the error wraps unusable (the service's ErrDataFile)
// and says what differs. fresh reports a new bucket.
func ServiceRoot(tx *bbolt.Tx, name []byte, id Identity, unusable error, children ...[]byte) (root *bbolt.Bucket, fresh bool, err error) {
	root = tx.Bucket(name)
	if root == nil {
		if root, err = tx.CreateBucket(name); err != nil {
			return nil, false, err
		}
		for k, v := range map[string]string{"format": id.Format, "region": id.Region, "account": id.Account} {
			if err := root.Put([]byte(k), []byte(v)); err != nil {
				return nil, false, err
			}
		}
		for _, c := range children {
			if _, err := root.CreateBucket(c); err != nil {
				return nil, false, err
			}
		}
		return root, true, nil
	}
	if v := root.Get([]byte("format")); string(v) != id.Format {
		return nil, false, fmt.Errorf("%w: format version %q, want %q", unusable, v, id.Format)
	}
	if r, a := string(root.Get([]byte("region"))), string(root.Get([]byte("account"))); r != id.Region || a != id.Account {
		return nil, false, fmt.Errorf("%w: written for region %q and account %q, opened for %q and %q", unusable, r, a, id.Region, id.Account)
	}
	for _, c := range children {
		if root.Bucket(c) == nil {
			return nil, false, fmt.Errorf("%w: the bucket %s is missing", unusable, c)
		}
	}
	return root, false, nil
}

// LoadService runs load, which reads a service's data from its top-level
// bucket name (through ServiceRoot), in a read-only transaction when the
// file already holds that bucket, and in a read-write one, where
// ServiceRoot can create it, otherwise. A read-write transaction commits,
// with its fdatasyncs, even when it changes nothing: this way a start on a
// data file that already has the service waits for no sync to load it.
func LoadService(db *bbolt.DB, name []byte, load func(*bbolt.Tx) error) error {
	loaded := false
	err := db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(name) == nil {
			return nil
		}
		loaded = true
		return load(tx)
	})
	if loaded || err != nil {
		return err
	}
	return db.Update(load)
}

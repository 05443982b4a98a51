package journal

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

type opKind byte

const (
	opPut opKind = iota + 1
	opPutPacked
	opDelete
	opDeleteBucket
	opCreateBucket
)

// An Op is one change to the data file: data, not code, so that it can be
// written to the write-ahead log and applied to the bbolt file later (or
// again, after a crash). Ops address a bucket by its path from the root.
type Op struct {
	kind  opKind
	path  [][]byte
	key   []byte
	value []byte
	lazy  func() []byte // makes value, outside the caller's lock
}

// Put sets key to value in the bucket at path, creating the buckets of the
// path that do not exist. value must not change after the call.
func Put(path [][]byte, key, value []byte) Op {
	return Op{kind: opPut, path: path, key: key, value: value}
}

// PutLazy is Put with a value made by value() when the committer writes
// the op, after the caller has released its lock: for values that are
// costly to encode from state that never changes. value() must return the
// same bytes whenever it is called.
func PutLazy(path [][]byte, key []byte, value func() []byte) Op {
	return Op{kind: opPut, path: path, key: key, lazy: value}
}

// PutPacked is Put for a bucket whose keys only ever grow: its pages are
// filled before they split.
func PutPacked(path [][]byte, key, value []byte) Op {
	return Op{kind: opPutPacked, path: path, key: key, value: value}
}

// Delete removes key from the bucket at path; a missing bucket or key is
// not an error.
func Delete(path [][]byte, key []byte) Op {
	return Op{kind: opDelete, path: path, key: key}
}

// DeleteBucket removes the bucket name, and all it holds, from the bucket
// at path (from the root when path is empty); a missing one is not an
// error.
func DeleteBucket(path [][]byte, name []byte) Op {
	return Op{kind: opDeleteBucket, path: path, key: name}
}

// CreateBucket creates the bucket name in the bucket at path, and the
// buckets of the path, where they do not exist.
func CreateBucket(path [][]byte, name []byte) Op {
	return Op{kind: opCreateBucket, path: path, key: name}
}

// Path is a convenience for building an Op's path from strings and bytes.
func Path(names ...[]byte) [][]byte { return names }

// check refuses an op bbolt would refuse, so that it fails when appended
// rather than after it is logged. A lazy value is checked when made.
func (o Op) check() error {
	if len(o.path) == 0 && o.kind != opDeleteBucket {
		return errors.New("an op without a bucket path")
	}
	for _, p := range o.path {
		if len(p) == 0 || len(p) > bbolt.MaxKeySize {
			return fmt.Errorf("a bucket name of %d bytes", len(p))
		}
	}
	if len(o.key) == 0 || len(o.key) > bbolt.MaxKeySize {
		return fmt.Errorf("a key of %d bytes", len(o.key))
	}
	if len(o.value) > bbolt.MaxValueSize {
		return fmt.Errorf("a value of %d bytes", len(o.value))
	}
	return nil
}

func (o Op) size() int {
	n := len(o.key) + len(o.value) + 8
	for _, p := range o.path {
		n += len(p) + 2
	}
	return n
}

func (o Op) encode(e *Encoder) {
	e.Uint(uint64(o.kind))
	e.Uint(uint64(len(o.path)))
	for _, p := range o.path {
		e.Blob(p)
	}
	e.Blob(o.key)
	e.Blob(o.value)
}

func decodeOp(d *Decoder) Op {
	var o Op
	o.kind = opKind(d.Uint())
	n := d.Len(1)
	if n > 0 {
		o.path = make([][]byte, n)
		for i := range o.path {
			o.path[i] = d.Blob()
		}
	}
	o.key = d.Blob()
	o.value = d.Blob()
	if o.value == nil && (o.kind == opPut || o.kind == opPutPacked) {
		o.value = []byte{} // bbolt stores an empty value, never a nil one
	}
	if d.Err() == nil && (o.kind < opPut || o.kind > opCreateBucket) {
		d.fail("op kind")
	}
	return o
}

// bucketAt returns the bucket at path, creating the missing ones when
// create is set; nil when one is missing and create is not set.
func bucketAt(tx *bbolt.Tx, path [][]byte, create bool) (*bbolt.Bucket, error) {
	if len(path) == 0 {
		return nil, errors.New("an empty bucket path")
	}
	var b *bbolt.Bucket
	for i, name := range path {
		var next *bbolt.Bucket
		if i == 0 {
			next = tx.Bucket(name)
		} else {
			next = b.Bucket(name)
		}
		if next == nil {
			if !create {
				return nil, nil
			}
			var err error
			if i == 0 {
				next, err = tx.CreateBucket(name)
			} else {
				next, err = b.CreateBucket(name)
			}
			if err != nil {
				return nil, fmt.Errorf("create bucket %q: %w", name, err)
			}
		}
		b = next
	}
	return b, nil
}

func (o Op) apply(tx *bbolt.Tx) error {
	switch o.kind {
	case opPut, opPutPacked:
		b, err := bucketAt(tx, o.path, true)
		if err != nil {
			return err
		}
		if o.kind == opPutPacked {
			b.FillPercent = 1
		}
		return b.Put(o.key, o.value)
	case opDelete:
		b, err := bucketAt(tx, o.path, false)
		if b == nil || err != nil {
			return err
		}
		return b.Delete(o.key)
	case opDeleteBucket:
		if len(o.path) == 0 {
			err := tx.DeleteBucket(o.key)
			if errors.Is(err, berrors.ErrBucketNotFound) {
				return nil
			}
			return err
		}
		b, err := bucketAt(tx, o.path, false)
		if b == nil || err != nil {
			return err
		}
		if err := b.DeleteBucket(o.key); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
		return nil
	case opCreateBucket:
		_, err := bucketAt(tx, append(o.path[:len(o.path):len(o.path)], o.key), true)
		return err
	}
	return fmt.Errorf("unknown op kind %d", o.kind)
}

// Apply applies ops to tx in order: what the journal does with them, for
// code that writes to the file directly (loading, tests).
func Apply(tx *bbolt.Tx, ops ...Op) error {
	for _, o := range ops {
		if err := o.apply(tx); err != nil {
			return err
		}
	}
	return nil
}

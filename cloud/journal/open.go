package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrNotDataFile is the error of Open for a file that is not a bbolt
// database (another program's file, or one damaged beyond its header).
var ErrNotDataFile = errors.New("not a bbolt data file, or its header is damaged")

// ErrInUse is the error of Open when another process holds the file.
var ErrInUse = errors.New("in use by another process")

// Open opens (creating if need be) the bbolt file at path, readable and
// writable by its owner only (it holds the services' data and, for SNS,
// the signing key), with fsync on every commit. It waits at most a second
// for another process's lock.
//
// A file whose pages are damaged is ErrNotDataFile too: bbolt panics on
// some of them while opening, which Open recovers from (the panicking open
// leaks its file handle, so the process should not retry the same file).
//
// A file that is missing or empty while its write-ahead log is beside it
// (bbolt would start it afresh), or shorter than its own pages say, is
// refused with a *DamageError wrapping ErrDamagedData; Recover sets it
// aside instead.
func Open(path string) (*bbolt.DB, error) {
	if err := checkBeforeOpen(path); err != nil {
		return nil, err
	}
	if err := checkLength(path); err != nil {
		return nil, err
	}
	var db *bbolt.DB
	err := Guard("open", func() (err error) {
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
		return err
	})
	var damaged *damagedError
	switch {
	case errors.As(err, &damaged):
		return nil, fmt.Errorf("journal: open %s: %w (%w)", path, ErrNotDataFile, err)
	case err == nil:
		return db, nil
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("journal: open %s: %w", path, ErrInUse)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrInvalidMapping):
		return nil, fmt.Errorf("journal: open %s: %w (%w)", path, ErrNotDataFile, err)
	}
	return nil, fmt.Errorf("journal: open %s: %w", path, err)
}

// Guard runs load, turning a panic into an error naming what was being
// read: bbolt trusts the page ids it finds, so a damaged page makes it
// panic or read outside its memory map (a fault, which Guard also turns
// into a panic for the duration of load).
func Guard(what string, load func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = &damagedError{what: what, panic: p}
		}
	}()
	return load()
}

type damagedError struct {
	what  string
	panic any
}

func (e *damagedError) Error() string {
	return fmt.Sprintf("%s: the data file is damaged: %v", e.what, e.panic)
}

// checkBeforeOpen refuses a data file that is missing or empty while its
// log is beside it: bbolt would make a new, empty database of it.
func checkBeforeOpen(path string) error {
	info, err := os.Stat(path)
	missing := errors.Is(err, os.ErrNotExist)
	if err != nil && !missing || err == nil && info.Size() > 0 {
		return nil // bbolt says what is wrong, if anything
	}
	segs, err := segments(path + ".wal.")
	if err != nil || len(segs) == 0 {
		return nil // a new data file, or one whose making was interrupted
	}
	state := "is empty"
	if missing {
		state = "is missing"
	}
	return &DamageError{Kind: ErrDamagedData, Path: path, Offset: -1,
		Problem: fmt.Sprintf("the data file %s, but its write-ahead log (%s) is beside it: what the file held is gone", state, segs[len(segs)-1].path)}
}

// checkLength refuses a data file shorter than its pages: bbolt grows the
// file, and syncs it, before a transaction uses a page past its end, so a
// shorter file was cut. It reads bbolt's meta pages itself (file format
// version 2: a 16-byte page header, then magic, version, page size,
// flags, root bucket (16 bytes), freelist, page count, txid and an FNV-64a
// checksum of what precedes it, in the machine's byte order), as bbolt
// would fault on such a file while opening it, and an open that faults
// leaks its handle and its lock.
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt says what is wrong, if anything
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil
	}
	type meta struct{ pageSize, pages, txid uint64 }
	read := func(off int64) (meta, bool) {
		var buf [16 + 64]byte
		if n, _ := f.ReadAt(buf[:], off); n < len(buf) {
			return meta{}, false
		}
		b, order := buf[16:], binary.NativeEndian
		h := fnv.New64a()
		h.Write(b[:56])
		if order.Uint32(b[0:]) != 0xED0CDAED || order.Uint32(b[4:]) != 2 || h.Sum64() != order.Uint64(b[56:]) {
			return meta{}, false
		}
		return meta{uint64(order.Uint32(b[8:])), order.Uint64(b[40:]), order.Uint64(b[48:])}, true
	}
	newest, ok := read(0)
	sizes := []uint64{newest.pageSize}
	if !ok {
		sizes = nil
		for i := range 15 {
			sizes = append(sizes, 1024<<i)
		}
	}
	for _, ps := range sizes {
		if m, ok1 := read(int64(ps)); ok1 && m.pageSize == ps {
			if !ok || m.txid > newest.txid {
				newest, ok = m, true
			}
			break
		}
	}
	if !ok || newest.pages > 1<<48 {
		return nil // bbolt says what is wrong
	}
	if want := int64(newest.pages * newest.pageSize); info.Size() < want {
		return &DamageError{Kind: ErrDamagedData, Path: path, Offset: info.Size(),
			Problem: fmt.Sprintf("the file ends at byte %d, but its pages reach byte %d: it was cut short", info.Size(), want)}
	}
	return nil
}

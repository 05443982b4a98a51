package journal

import (
	"errors"
	"fmt"
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
func Open(path string) (*bbolt.DB, error) {
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

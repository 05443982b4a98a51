package journal

import (
	"errors"
	"fmt"
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
func Open(path string) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	switch {
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

// Guard runs load, turning a panic (bbolt panics on some damaged pages)
// into an error naming what was being read.
func Guard(what string, load func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: the data file is damaged: %v", what, p)
		}
	}()
	return load()
}

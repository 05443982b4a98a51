package s3

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// blobs holds object bytes, content-addressed by their SHA-256, counted by
// reference (two objects with the same bytes share them). Bytes are held
// outside the metadata: in files under the data directory, or in memory
// under a ceiling.
type blobs interface {
	// create returns a writer for new bytes; commit stores them and returns
	// their id with one reference held by the caller.
	create() (blobWriter, error)
	// open returns the bytes of id.
	open(id string) (io.ReadSeekCloser, error)
	// ref adds a reference to id (loading, or sharing a blob).
	ref(id string)
	// release drops a reference, deleting the bytes with the last.
	release(id string)
	// sweep deletes what nothing references (after loading).
	sweep() error
}

type blobWriter interface {
	io.Writer
	commit() (string, error)
	abort()
}

// errMemoryFull is the error of a write past the in-memory ceiling.
var errMemoryFull = errors.New("s3: the objects held in memory reach the ceiling on them; delete objects, or start the cloud with a data directory to keep them on disk")

// memBlobs keeps bytes in memory, at most max bytes of them (counting what
// writes in progress hold).
type memBlobs struct {
	mu   sync.Mutex
	m    map[string]*memBlob
	used atomic.Int64
	max  int64
}

type memBlob struct {
	data []byte
	refs int
}

func newMemBlobs(max int64) *memBlobs { return &memBlobs{m: map[string]*memBlob{}, max: max} }

type memWriter struct {
	b    *memBlobs
	buf  []byte
	held int64
}

func (b *memBlobs) create() (blobWriter, error) { return &memWriter{b: b}, nil }

func (w *memWriter) Write(p []byte) (int, error) {
	if w.b.used.Add(int64(len(p))) > w.b.max {
		w.b.used.Add(-int64(len(p)))
		return 0, errMemoryFull
	}
	w.held += int64(len(p))
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *memWriter) commit() (string, error) {
	sum := sha256.Sum256(w.buf)
	id := hex.EncodeToString(sum[:])
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	if mb, ok := w.b.m[id]; ok {
		mb.refs++
		w.b.used.Add(-w.held) // shared: held once
	} else {
		w.b.m[id] = &memBlob{data: w.buf, refs: 1}
	}
	w.held, w.buf = 0, nil
	return id, nil
}

func (w *memWriter) abort() {
	w.b.used.Add(-w.held)
	w.held, w.buf = 0, nil
}

type bytesReadSeekCloser struct{ *bytes.Reader }

func (bytesReadSeekCloser) Close() error { return nil }

func (b *memBlobs) open(id string) (io.ReadSeekCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mb, ok := b.m[id]
	if !ok {
		return nil, fmt.Errorf("s3: blob %s is missing", id)
	}
	// The bytes are never changed once committed.
	return bytesReadSeekCloser{bytes.NewReader(mb.data)}, nil
}

func (b *memBlobs) ref(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if mb, ok := b.m[id]; ok {
		mb.refs++
	}
}

func (b *memBlobs) release(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mb, ok := b.m[id]
	if !ok {
		return
	}
	if mb.refs--; mb.refs <= 0 {
		delete(b.m, id)
		b.used.Add(-int64(len(mb.data)))
	}
}

func (b *memBlobs) sweep() error { return nil }

// fileBlobs keeps bytes in files named by their SHA-256 under dir/blobs,
// written in dir/tmp, fsynced and renamed into place (the directory fsynced
// too) before commit returns: the journal records an object only once its
// bytes are durable. A blob whose last reference goes is deleted after
// that change is durable; one a crash orphaned is deleted by sweep.
type fileBlobs struct {
	dir  string
	mu   sync.Mutex
	refs map[string]int
}

func newFileBlobs(dir string) (*fileBlobs, error) {
	for _, d := range []string{filepath.Join(dir, "blobs"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("s3: %w", err)
		}
	}
	// What a crash left half-written.
	tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	for _, e := range tmp {
		os.Remove(filepath.Join(dir, "tmp", e.Name()))
	}
	return &fileBlobs{dir: dir, refs: map[string]int{}}, nil
}

func (b *fileBlobs) path(id string) string { return filepath.Join(b.dir, "blobs", id) }

type fileWriter struct {
	b *fileBlobs
	f *os.File
	h hash.Hash
}

func (b *fileBlobs) create() (blobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(b.dir, "tmp"), "put-*")
	if err != nil {
		return nil, fmt.Errorf("s3: store object: %w", err)
	}
	return &fileWriter{b: b, f: f, h: sha256.New()}, nil
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	return n, err
}

func (w *fileWriter) commit() (string, error) {
	defer os.Remove(w.f.Name())
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return "", fmt.Errorf("s3: store object: %w", err)
	}
	if err := w.f.Close(); err != nil {
		return "", fmt.Errorf("s3: store object: %w", err)
	}
	id := hex.EncodeToString(w.h.Sum(nil))
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	// Renamed under the lock, with its reference taken: a release of the
	// same bytes cannot delete the file between.
	if err := os.Rename(w.f.Name(), w.b.path(id)); err != nil {
		return "", fmt.Errorf("s3: store object: %w", err)
	}
	if err := syncDir(filepath.Join(w.b.dir, "blobs")); err != nil {
		return "", fmt.Errorf("s3: store object: %w", err)
	}
	w.b.refs[id]++
	return id, nil
}

func (w *fileWriter) abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (b *fileBlobs) open(id string) (io.ReadSeekCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, err := os.Open(b.path(id))
	if err != nil {
		return nil, fmt.Errorf("s3: open object bytes: %w", err)
	}
	return f, nil
}

func (b *fileBlobs) ref(id string) {
	b.mu.Lock()
	b.refs[id]++
	b.mu.Unlock()
}

func (b *fileBlobs) release(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refs[id]--; b.refs[id] <= 0 {
		delete(b.refs, id)
		os.Remove(b.path(id))
	}
}

func (b *fileBlobs) sweep() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	entries, err := os.ReadDir(filepath.Join(b.dir, "blobs"))
	if err != nil {
		return fmt.Errorf("s3: sweep: %w", err)
	}
	for _, e := range entries {
		if b.refs[e.Name()] == 0 {
			os.Remove(filepath.Join(b.dir, "blobs", e.Name()))
		}
	}
	return nil
}

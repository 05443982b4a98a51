package journal

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"go.etcd.io/bbolt"
)

// The write-ahead log is a series of segment files beside the data file,
// named <data file>.wal.<number of their first frame, 20 digits>. A segment
// starts with segmentMagic, then holds a sequence of frames:
//
//	length   4 bytes, big-endian: the payload's length
//	crc      4 bytes, big-endian: CRC-32C of the payload
//	payload  uvarint frame number, uvarint op count, the ops, frameTrailer
//
// Frames are numbered from 1 without gaps across segments. The data file
// records, in its bucket "wal", the number of the last frame applied to it
// and, once a journal of this format has started on it, the log's format
// (formatKey): from then on a log is always beside it.
//
// The layout lets recovery (recover.go) tell what a crash can leave from
// what only damage can:
//
//   - A segment is made under a temporary name, zero-filled, synced and
//     then renamed: under its own name it always starts with the magic and
//     has zeros after it.
//   - A frame is written only over zeros already synced, and never closer
//     than a header's length to their end: after the last frame there is
//     always a zero header. A torn write is some of the frame's bytes over
//     those zeros; the file never ends inside a frame or right after one.
//   - A header never straddles a 512-byte boundary (the bytes before one are
//     left zero and the frame starts at it). A disk writes a sector whole or
//     not at all, so a torn header is intact or all zeros.
//   - A frame's last byte is frameTrailer, never zero: a frame cut short
//     ends in zeros, and one whose sectors were all written but that fails
//     its checksum was damaged after it was written.
//   - A segment that fills up ends with a seal, a frame with no ops
//     numbered like the next segment's first frame, written once the next
//     segment exists: a sealed last segment means segments are missing.
//   - A clean Close leaves an empty segment named with the next frame
//     number (the marker), so that the log always says how far the
//     sequence got, and a data file behind it is noticed.
//
// What it cannot tell apart: damage to the last frame that looks like a
// torn write (a sector of it zeroed, or its trailer), which is dropped as
// one; and a torn last frame whose payload happens to hold the image of a
// valid next frame (a message body copied from a log), which is refused as
// damage.

var (
	walBucket  = []byte("wal")
	appliedKey = []byte("applied")
	formatKey  = []byte("log-format")
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// segmentMagic starts every segment of this format; logFormat is the value
// of formatKey in a data file whose log always follows these rules.
const (
	segmentMagic = "orderflow wal 2\n"
	logFormat    = "2"
	frameTrailer = 0xff
	sectorBytes  = 512
	headerBytes  = 8
)

// segmentBytes is the size past which the log starts a new segment, so
// that applied segments can be deleted while the log keeps growing.
var segmentBytes int64 = 32 << 20

// maxFrameBytes bounds a frame's length field, so that a damaged one cannot
// make recovery allocate without bound.
const maxFrameBytes = 1 << 30

// Zeros a new segment holds when it gets its name (the rest follows in the
// background), and a marker's.
const (
	initialZeros = 64 << 10
	markerZeros  = 4096
)

type segment struct {
	path string
	last uint64 // the number of its last frame
}

type wal struct {
	base string // the data file's path + ".wal."
	f    *os.File
	path string // f's path
	size int64  // where f's frames end

	// f is zero-filled and synced up to alloc. More zeros are written and
	// synced ahead of the frames by a goroutine (ext, closed when done,
	// filling [extFrom, extTo), extErr its error): writing a frame over
	// zeros changes no file metadata, so its fdatasync writes only the data
	// block.
	alloc          int64
	ext            chan struct{}
	extFrom, extTo int64
	extErr         error

	next  uint64 // the number of the next frame; owned by the committer
	buf   []byte
	mu    sync.Mutex
	older []segment // full segments not yet deleted, oldest first

	// With lazy set (Options.SyncEvery) put writes a frame without
	// syncing it, and syncWritten makes what was written durable. Under
	// mu: written, the last frame written, and synced, the last one known
	// durable. fmu is held around such a sync and around closing f, so
	// that the sync never meets a descriptor closed (or reused) under it.
	lazy            bool
	fmu             sync.Mutex
	written, synced uint64
	syncs           atomic.Int64 // fdatasyncs that made frames durable
}

func segmentPath(base string, first uint64) string {
	return fmt.Sprintf("%s%020d", base, first)
}

// headerAt is where a frame whose bytes may start at p starts: at p, or at
// the next sector boundary when its header would straddle one.
func headerAt(p int64) int64 {
	if r := p % sectorBytes; r > sectorBytes-headerBytes {
		return p + sectorBytes - r
	}
	return p
}

// createSegment makes the segment at path holding the magic and zeros up
// to n bytes, all synced, and returns it open for writing. A segment of
// that name already there is replaced (it holds no frame the caller needs).
func createSegment(path string, n int64) (*os.File, error) {
	tmp := path + ".tmp"
	if err := injected("create", tmp); err != nil {
		return nil, fmt.Errorf("journal: create log segment: %w", err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: create log segment: %w", err)
	}
	err = writeZeros(f, 0, n)
	if err == nil {
		_, err = f.WriteAt([]byte(segmentMagic), 0)
	}
	if err == nil {
		err = fdatasync(f)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("journal: create log segment %s: %w", path, err)
	}
	return f, nil
}

// createWAL starts a log whose first frame will be numbered next, in a new
// segment (replacing a marker of that name).
func createWAL(dbPath string, next uint64) (*wal, error) {
	w := &wal{base: dbPath + ".wal.", next: next, written: next - 1, synced: next - 1}
	w.path = segmentPath(w.base, next)
	f, err := createSegment(w.path, initialZeros)
	if err != nil {
		return nil, err
	}
	w.f, w.size, w.alloc = f, int64(len(segmentMagic)), initialZeros
	return w, nil
}

// Preallocation: keep at least preallocLow zeroed bytes ahead of the
// frames, zeroing preallocChunk at a time.
const (
	preallocLow   = 2 << 20
	preallocChunk = 4 << 20
)

// zeros is what writeZeros writes, made on first use: a process that
// keeps no data file (the cloud in memory) need not hold it.
var zeros = sync.OnceValue(func() []byte { return make([]byte, preallocChunk) })

// writeZeros writes n zero bytes into f from off.
func writeZeros(f *os.File, off, n int64) error {
	if err := injected("zero", f.Name()); err != nil {
		return err
	}
	for n > 0 {
		z := zeros()
		k := min(n, int64(len(z)))
		if _, err := f.WriteAt(z[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// settleExt waits for the zero-filling in flight, if any, when wait is set
// or it has finished, and takes its bytes into alloc if it succeeded.
func (w *wal) settleExt(wait bool) {
	if w.ext == nil {
		return
	}
	if !wait {
		select {
		case <-w.ext:
		default:
			return
		}
	}
	<-w.ext
	if w.extErr == nil && w.extFrom == w.alloc {
		w.alloc = w.extTo
	}
	w.ext = nil
}

// reserve makes sure synced zeros reach need before a frame is written
// below it, extending the segment at once if the zeros ahead do not reach
// (a frame larger than they are, or a failed zero-filling), and starts the
// next zero-filling when the room ahead runs low.
func (w *wal) reserve(need int64) error {
	w.settleExt(false)
	if w.ext != nil && need > w.alloc {
		w.settleExt(true)
	}
	if need > w.alloc {
		to := (need + 4095) &^ 4095
		if err := writeZeros(w.f, w.alloc, to-w.alloc); err != nil {
			return err
		}
		if err := fdatasync(w.f); err != nil {
			return err
		}
		w.alloc = to
	}
	// No further than a little past where the segment ends.
	n := min(preallocChunk, segmentBytes+4096-w.alloc)
	if w.ext == nil && w.alloc-need < preallocLow && n > 0 {
		ch, f, from := make(chan struct{}), w.f, w.alloc
		w.ext, w.extFrom, w.extTo, w.extErr = ch, from, from+n, nil
		go func() {
			defer close(ch)
			// A failure leaves the next frames to extend the file
			// themselves, synchronously, and meet the error there.
			err := writeZeros(f, from, n)
			if err == nil {
				err = fdatasync(f)
			}
			w.extErr = err
		}()
	}
	return nil
}

// put writes frame after the segment's last frame, and syncs it when sync
// is set.
func (w *wal) put(frame []byte, sync bool) error {
	off := headerAt(w.size)
	end := off + int64(len(frame))
	if err := w.reserve(headerAt(end) + headerBytes); err != nil {
		return err
	}
	if err := injected("write", w.path); err != nil {
		return err
	}
	if _, err := w.f.WriteAt(frame, off); err != nil {
		return err
	}
	if sync {
		if err := fdatasync(w.f); err != nil {
			return err
		}
		w.countSync()
	}
	w.size = end
	return nil
}

// encodeFrame encodes a frame numbered seq holding ops (none: a seal) into
// buf's space.
func encodeFrame(buf []byte, seq uint64, ops []Op) []byte {
	e := &Encoder{b: append(buf[:0], 0, 0, 0, 0, 0, 0, 0, 0)}
	e.Uint(seq)
	e.Uint(uint64(len(ops)))
	for _, o := range ops {
		o.encode(e)
	}
	e.b = append(e.b, frameTrailer)
	frame := e.b
	payload := frame[headerBytes:]
	binary.BigEndian.PutUint32(frame[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(frame[4:8], crc32.Checksum(payload, castagnoli))
	return frame
}

// write appends ops as one frame and syncs it (unless lazy), returning its
// number.
func (w *wal) write(ops []Op) (uint64, error) {
	seq := w.next
	frame := encodeFrame(w.buf, seq, ops)
	if cap(frame) <= 1<<20 {
		w.buf = frame // reuse the buffer unless one huge group grew it
	}
	if w.size > int64(len(segmentMagic)) && headerAt(w.size)+int64(len(frame)) > segmentBytes {
		if err := w.rotate(); err != nil {
			return 0, err
		}
	}
	if err := w.put(frame, !w.lazy); err != nil {
		return 0, err
	}
	if w.lazy {
		w.mu.Lock()
		w.written = seq
		w.mu.Unlock()
	}
	w.next++
	return seq, nil
}

// rotate makes the next segment, seals the current one (all of it synced,
// lazy or not: a frame of the next segment must never reach the disk while
// one before it may not) and moves to the next.
func (w *wal) rotate() error {
	path := segmentPath(w.base, w.next)
	f, err := createSegment(path, initialZeros)
	if err != nil {
		return err
	}
	if err := w.put(encodeFrame(nil, w.next, nil), true); err != nil {
		f.Close()
		return err
	}
	w.settleExt(true)
	// The seal is written and synced: from here the log has moved on
	// (retrying would write a second seal). Closing a synced file loses
	// nothing if it fails.
	w.fmu.Lock()
	w.mu.Lock()
	old := w.f
	w.older = append(w.older, segment{path: w.path, last: w.next - 1})
	w.synced = max(w.synced, w.next-1)
	w.f, w.path, w.size, w.alloc = f, path, int64(len(segmentMagic)), initialZeros
	w.mu.Unlock()
	old.Close()
	w.fmu.Unlock()
	return nil
}

// trim deletes the full segments whose frames are all applied.
func (w *wal) trim(applied uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.older) > 0 && w.older[0].last <= applied {
		if err := removeFile(w.older[0].path); err != nil {
			return err
		}
		w.older = w.older[1:]
	}
	return nil
}

// close closes the current segment. With marker set (the caller has
// applied every frame) it leaves only a marker: an empty segment named
// with the next frame's number.
func (w *wal) close(marker bool) error {
	w.settleExt(true)
	w.fmu.Lock()
	err := w.f.Close()
	w.fmu.Unlock()
	if !marker || err != nil {
		return err
	}
	path := segmentPath(w.base, w.next)
	f, err := createSegment(path, markerZeros)
	if err != nil {
		return err
	}
	f.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range append(w.older, segment{path: w.path}) {
		if s.path == path {
			continue
		}
		if e := removeFile(s.path); e != nil && err == nil {
			err = e
		}
	}
	w.older = nil
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	return err
}

// syncWritten makes every frame written so far durable (lazy): one
// fdatasync of the current segment, none when nothing was written since the
// last. The older segments were synced whole when they were sealed. It may
// run while the committer writes: what it writes meanwhile waits for the
// next call.
func (w *wal) syncWritten() error {
	w.fmu.Lock()
	defer w.fmu.Unlock()
	w.mu.Lock()
	f, upto, done := w.f, w.written, w.written <= w.synced
	w.mu.Unlock()
	if done {
		return nil
	}
	if err := fdatasync(f); err != nil {
		return err
	}
	w.countSync()
	w.mu.Lock()
	w.synced = max(w.synced, upto)
	w.mu.Unlock()
	return nil
}

// syncTo makes sure the frames up to seq, all written, are durable (lazy).
func (w *wal) syncTo(seq uint64) error {
	w.mu.Lock()
	done := w.synced >= seq
	w.mu.Unlock()
	if done {
		return nil
	}
	return w.syncWritten()
}

// countSync counts a sync of frames made (not one UnsafeSkipSyncs skipped).
func (w *wal) countSync() {
	if !noSync.Load() {
		w.syncs.Add(1)
	}
}

func fdatasync(f *os.File) error {
	if noSync.Load() {
		return nil
	}
	if err := injected("sync", f.Name()); err != nil {
		return err
	}
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// noSync, set by UnsafeSkipSyncs, makes fdatasync do nothing.
var noSync atomic.Bool

// UnsafeSkipSyncs makes every journal's log in the process skip its
// fdatasyncs until restore is called: nothing it acknowledges is then
// durable. It exists to measure the rate the durable path would reach if
// syncs were free (bench/peers -nosync); never use it to serve data.
func UnsafeSkipSyncs() (restore func()) {
	noSync.Store(true)
	return func() { noSync.Store(false) }
}

// faultHook, when set (InjectFault), is asked before each of the log's
// file operations; an error it returns is that operation's.
var faultHook atomic.Pointer[func(op, path string) error]

// InjectFault makes f decide, until restore is called, the outcome of each
// file operation of every journal's log in the process: op is "create" (a
// segment), "zero" (its space ahead), "write" (a frame) or "sync", path
// the file's; a non-nil error is that operation's (an *os.PathError
// wrapping syscall.ENOSPC, say). For tests of what services do when the
// disk fills.
func InjectFault(f func(op, path string) error) (restore func()) {
	faultHook.Store(&f)
	return func() { faultHook.Store(nil) }
}

func injected(op, path string) error {
	if f := faultHook.Load(); f != nil {
		return (*f)(op, path)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func setApplied(tx *bbolt.Tx, seq uint64) error {
	b, err := tx.CreateBucketIfNotExists(walBucket)
	if err != nil {
		return err
	}
	return b.Put(appliedKey, binary.BigEndian.AppendUint64(nil, seq))
}

// fileState is what the data file says about its log.
type fileState struct {
	applied uint64 // the last frame applied to it
	strict  bool   // its log always follows this format's rules (formatKey)
}

func readState(tx *bbolt.Tx) (fileState, error) {
	b := tx.Bucket(walBucket)
	if b == nil {
		return fileState{}, nil
	}
	var st fileState
	if v := b.Get(appliedKey); v != nil {
		if len(v) != 8 {
			return st, fmt.Errorf("%w: the last applied log frame is %d bytes", ErrCorrupt, len(v))
		}
		st.applied = binary.BigEndian.Uint64(v)
	}
	if v := b.Get(formatKey); v != nil {
		if string(v) != logFormat {
			return st, fmt.Errorf("%w: log format %q, want %q", ErrCorrupt, v, logFormat)
		}
		st.strict = true
	}
	return st, nil
}

type segmentFile struct {
	path  string
	first uint64
}

// segments lists the log's segment files, oldest first.
func segments(base string) ([]segmentFile, error) {
	dir, prefix := filepath.Dir(base), filepath.Base(base)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segmentFile
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || e.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(rest, 10, 64)
		if err != nil {
			continue // not a segment of this log
		}
		segs = append(segs, segmentFile{filepath.Join(dir, e.Name()), first})
	}
	slices.SortFunc(segs, func(a, b segmentFile) int { return cmp.Compare(a.first, b.first) })
	return segs, nil
}

// removeLeftovers removes the temporary files of segments whose making was
// interrupted.
func removeLeftovers(base string) error {
	m, err := filepath.Glob(base + "*.tmp")
	if err != nil {
		return err
	}
	for _, p := range m {
		if err := removeFile(p); err != nil {
			return err
		}
	}
	return nil
}

// removeFile removes path; a missing file is not an error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

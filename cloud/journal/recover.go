package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// ErrDamagedLog is the error of New for a write-ahead log that a crash
// cannot have left: a frame that cannot be read followed by valid ones, a
// log cut short, frames or segments missing.
var ErrDamagedLog = errors.New("the write-ahead log is damaged")

// ErrDamagedData is the error of Open and New for a data file that lacks
// what its log says it held: missing, empty or cut short while its log is
// beside it, or holding fewer frames than the log proves were applied
// (rolled back to an older transaction, or an older copy).
var ErrDamagedData = errors.New("the data file is damaged or behind its log")

// DamageError says what is damaged and where. It wraps ErrDamagedLog or
// ErrDamagedData.
type DamageError struct {
	// Kind is ErrDamagedLog or ErrDamagedData.
	Kind error
	// Path is the damaged file; for a data file behind its log, the data
	// file.
	Path string
	// Offset is the byte of Path where the damage is; -1 when it is not at
	// one place.
	Offset int64
	// Problem says what is wrong, in a phrase.
	Problem string

	cut bool // the log was cut short: how much followed is unknown
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("journal: %s: %v: %s; keep the data file and its log as they are: "+
		"recovering explicitly (journal.Recover) starts from what can be read, keeps the damaged files and reports what is lost",
		e.where(), e.Kind, e.Problem)
}

func (e *DamageError) where() string {
	if e.Offset < 0 {
		return e.Path
	}
	return fmt.Sprintf("%s at byte %d", e.Path, e.Offset)
}

func (e *DamageError) Unwrap() error { return e.Kind }

// Recovery is what Recover found damaged, what it could apply and what it
// set aside.
type Recovery struct {
	// Damage is the first damage found, the error Open or New would have
	// returned; nil when nothing was damaged (and nothing lost).
	Damage error
	// Applied is the number of the last log frame the data file holds
	// after recovery.
	Applied uint64
	// LostFrames counts the log frames the log proves were written that
	// are not in the data file: the frame that cannot be read, the ones
	// after it, the missing ones. Each frame is one group commit of
	// acknowledged changes.
	LostFrames uint64
	// MoreLost is set when more frames than LostFrames may be lost and the
	// files do not say how many: the log was cut short or is missing, or
	// the data file was.
	MoreLost bool
	// LostBytes counts the log's bytes, from the damage on, that were set
	// aside unapplied.
	LostBytes int64
	// NewDataFile is set when the data file was missing, empty, cut short
	// or unreadable and recovery started a new, empty one: everything it
	// held is lost, and its log with it.
	NewDataFile bool
	// Kept lists the damaged files, renamed beside the originals; nothing
	// is deleted.
	Kept []string
}

// Damaged reports whether recovery found damage.
func (r Recovery) Damaged() bool { return r.Damage != nil }

// String says, in one sentence, what was damaged and what was lost.
func (r Recovery) String() string {
	if r.Damage == nil {
		return "nothing was damaged"
	}
	what := r.Damage.Error()
	var de *DamageError
	if errors.As(r.Damage, &de) {
		what = de.where() + ": " + de.Problem
	}
	var b strings.Builder
	fmt.Fprintf(&b, "found damage (%s); ", what)
	switch {
	case r.NewDataFile:
		b.WriteString("started a new, empty data file: everything the old one held is lost")
	case r.LostFrames == 0 && !r.MoreLost:
		fmt.Fprintf(&b, "the data file holds the log up to frame %d: nothing was lost", r.Applied)
	case r.LostFrames == 0:
		fmt.Fprintf(&b, "the data file holds the log up to frame %d; the frames after it, if any, are lost (the files do not say how many)", r.Applied)
	default:
		frames := "frames"
		if r.LostFrames == 1 {
			frames = "frame"
		}
		fmt.Fprintf(&b, "the data file holds the log up to frame %d; lost %d log %s (each a group commit of acknowledged changes", r.Applied, r.LostFrames, frames)
		if r.LostBytes > 0 {
			fmt.Fprintf(&b, "; %d bytes of log set aside", r.LostBytes)
		}
		b.WriteString(")")
		if r.MoreLost {
			b.WriteString(" and possibly more after them")
		}
	}
	if len(r.Kept) > 0 {
		fmt.Fprintf(&b, "; the damaged files are kept as %s", strings.Join(r.Kept, ", "))
	}
	return b.String()
}

// Recover opens the data file at path and starts its journal, as Open and
// New do, but where they refuse damage it accepts the loss: it applies the
// log's frames up to the first that cannot be read or is missing, renames
// the damaged files beside the originals (…damaged-<time>; nothing is
// deleted), and returns what it found and lost. A data file that is
// missing, empty, cut short or unreadable while its log is beside it is
// set aside with its log, and a new, empty one started. The caller closes
// the journal, then the database.
func Recover(path string) (*bbolt.DB, *Journal, Recovery, error) {
	return RecoverWithOptions(path, Options{})
}

// RecoverWithOptions is Recover with options for the journal it starts.
func RecoverWithOptions(path string, opts Options) (*bbolt.DB, *Journal, Recovery, error) {
	if err := opts.check(); err != nil {
		return nil, nil, Recovery{}, err
	}
	var rec Recovery
	db, err := Open(path)
	if errors.Is(err, ErrDamagedData) || errors.Is(err, ErrNotDataFile) {
		rec.Damage, rec.NewDataFile, rec.MoreLost = err, true, true
		segs, lerr := segments(path + ".wal.")
		if lerr != nil {
			return nil, nil, rec, fmt.Errorf("journal: list the log: %w", lerr)
		}
		files := []string{path}
		for _, s := range segs {
			files = append(files, s.path)
		}
		for _, f := range files {
			kept, kerr := keepAside(f)
			if kerr != nil {
				return nil, nil, rec, kerr
			}
			if kept != "" {
				rec.Kept = append(rec.Kept, kept)
			}
		}
		db, err = Open(path)
	}
	if err != nil {
		return nil, nil, rec, err
	}
	j, err := newJournal(db, &rec, opts)
	if err != nil {
		db.Close()
		return nil, nil, rec, err
	}
	return db, j, rec, nil
}

// keepAside renames path to path.damaged-<UTC time> (with a counter if
// that exists), returning the new name; "" if path does not exist.
func keepAside(path string) (string, error) {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	base := path + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
	to := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, os.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("journal: keep the damaged %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return "", fmt.Errorf("journal: keep the damaged %s: %w", path, err)
	}
	return to, nil
}

// restartLog reads the log beside db, applies what db lacks and starts a
// new log segment after it; the log's old segments are removed. With rec
// nil, any damage is an error and nothing is changed; otherwise the frames
// up to the first gap are applied, the damaged segments set aside and rec
// filled in.
func restartLog(db *bbolt.DB, rec *Recovery) (*wal, uint64, error) {
	var st fileState
	err := Guard("read the last applied log frame", func() error {
		return db.View(func(tx *bbolt.Tx) (err error) {
			st, err = readState(tx)
			return err
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("journal: %s: %w", db.Path(), err)
	}
	base := db.Path() + ".wal."
	segs, err := segments(base)
	if err != nil {
		return nil, 0, fmt.Errorf("journal: list the log: %w", err)
	}
	p, err := planRecovery(db.Path(), segs, st)
	if err != nil {
		return nil, 0, err
	}
	if p.damage != nil {
		if rec == nil {
			return nil, 0, p.damage
		}
		if rec.Damage == nil {
			rec.Damage = p.damage
		}
		rec.LostFrames, rec.LostBytes = p.reach-p.target, p.lostBytes
		rec.MoreLost = rec.MoreLost || p.moreLost
	}
	if err := removeLeftovers(base); err != nil {
		return nil, 0, fmt.Errorf("journal: remove unfinished log segments: %w", err)
	}
	if err := applyFrames(db, segs, st.applied, p.target); err != nil {
		return nil, 0, err
	}
	if rec != nil {
		rec.Applied = p.target
		for _, s := range segs[p.keepFrom:] {
			kept, err := keepAside(s.path)
			if err != nil {
				return nil, 0, err
			}
			rec.Kept = append(rec.Kept, kept)
		}
		segs = segs[:p.keepFrom]
	}
	w, err := createWAL(db.Path(), p.target+1)
	if err != nil {
		return nil, 0, err
	}
	for _, s := range segs {
		if s.path == w.path {
			continue
		}
		if err := removeFile(s.path); err != nil {
			w.close(false)
			return nil, 0, fmt.Errorf("journal: remove the applied log: %w", err)
		}
	}
	if err := syncDir(filepath.Dir(w.path)); err != nil {
		w.close(false)
		return nil, 0, fmt.Errorf("journal: remove the applied log: %w", err)
	}
	// From now on the file always has its log beside it, following the
	// rules above (an older orderflow removed it at Close).
	if !st.strict {
		err := guardUpdate(db, func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(walBucket)
			if err != nil {
				return err
			}
			return b.Put(formatKey, []byte(logFormat))
		})
		if err != nil {
			w.close(false)
			return nil, 0, fmt.Errorf("journal: %s: record the log's format: %w", db.Path(), err)
		}
	}
	return w, p.target, nil
}

// plan is what reading the whole log decided.
type plan struct {
	target    uint64       // apply the frames up to this one
	reach     uint64       // the highest frame number the log proves was written
	damage    *DamageError // the first damage; nil if none
	moreLost  bool         // frames may be lost past reach
	lostBytes int64
	keepFrom  int // set the segments from this one on aside (recovering)
}

// planRecovery reads every segment and decides what to apply. Frames must
// continue the sequence from the data file's last applied one; what a
// crash can leave (a torn last frame, a segment made but not yet written,
// zeros after the frames) ends the log quietly, anything else is damage.
func planRecovery(dbPath string, segs []segmentFile, st fileState) (plan, error) {
	p := plan{target: st.applied, reach: st.applied, keepFrom: len(segs)}
	stopped := false // a frame is missing: nothing after it can be applied
	note := func(d *DamageError, keepFrom int, gap bool) {
		if p.damage == nil {
			p.damage, p.keepFrom = d, keepFrom
		}
		stopped = stopped || gap
		p.moreLost = p.moreLost || d.cut
	}
	if len(segs) == 0 {
		if st.strict {
			note(&DamageError{Kind: ErrDamagedLog, Path: dbPath + ".wal.*", Offset: -1, cut: true,
				Problem: fmt.Sprintf("the data file has its log beside it, but there is none: what was logged after frame %d, if anything, is lost", st.applied)}, 0, true)
		}
		return p, nil
	}
	if segs[0].first > st.applied+1 {
		note(&DamageError{Kind: ErrDamagedData, Path: dbPath, Offset: -1,
			Problem: fmt.Sprintf("the data file holds the log's frames up to %d, but its log starts at frame %d: frames %d to %d are in neither "+
				"(the data file was rolled back or replaced by an older copy, or log segments were deleted)",
				st.applied, segs[0].first, st.applied+1, segs[0].first-1)}, 0, true)
	}
	var prev segEnd
	var ends []int64 // where each segment's frames end
	unsealed := -1   // a segment that is not the last ended without its seal
	for i, seg := range segs {
		if i > 0 && !stopped {
			switch {
			case seg.first < prev.next:
				note(&DamageError{Kind: ErrDamagedLog, Path: seg.path, Offset: -1,
					Problem: fmt.Sprintf("the segment starts at frame %d, but the one before it holds frames up to %d", seg.first, prev.next-1)}, i, true)
			case seg.first > prev.next && seg.first > st.applied+1:
				// (Missing frames the file holds are segments it deleted
				// once applied, their removal not yet on disk in order.)
				note(&DamageError{Kind: ErrDamagedLog, Path: seg.path, Offset: -1,
					Problem: fmt.Sprintf("frames %d to %d are missing: the segment before this one ends at frame %d", prev.next, seg.first-1, prev.next-1)}, i, true)
			}
		}
		data, err := os.ReadFile(seg.path)
		if err != nil {
			return p, fmt.Errorf("journal: read the log: %w", err)
		}
		wasStopped := stopped
		end, err := scanSegment(data, seg, st.strict, i == len(segs)-1, func(seq uint64, _ []Op) error {
			p.reach = max(p.reach, seq)
			if unsealed >= 0 {
				u := segs[unsealed]
				note(&DamageError{Kind: ErrDamagedLog, Path: u.path, Offset: ends[unsealed],
					Problem: "the segment ends without its seal, yet the next segment holds frames"}, unsealed, false)
				unsealed = -1
			}
			if !stopped && seq == p.target+1 {
				p.target = seq
			}
			return nil
		})
		if err != nil {
			return p, err
		}
		ends = append(ends, end.at)
		p.reach = max(p.reach, end.next-1, end.lastAfter)
		if end.damage != nil && !wasStopped {
			note(end.damage, i, true)
			p.lostBytes += max(0, int64(lastNonzero(data))-end.at)
		} else if stopped {
			p.lostBytes += max(0, int64(lastNonzero(data))-end.start)
		}
		switch {
		case end.sealed && i == len(segs)-1:
			note(&DamageError{Kind: ErrDamagedLog, Path: seg.path, Offset: end.at, cut: true,
				Problem: fmt.Sprintf("the segment is sealed: the log continues in a segment starting at frame %d, which is missing", end.next)}, i, true)
		case !end.sealed && end.damage == nil && !end.legacy && i < len(segs)-1:
			unsealed = i // (an older orderflow sealed no segment)
		}
		prev = end
	}
	last := segs[len(segs)-1]
	p.reach = max(p.reach, last.first-1)
	if p.reach < st.applied {
		note(&DamageError{Kind: ErrDamagedLog, Path: last.path, Offset: -1, cut: true,
			Problem: fmt.Sprintf("the log ends at frame %d, but the data file holds frames up to %d: the end of the log is missing", p.reach, st.applied)}, 0, true)
		p.reach = st.applied
	}
	return p, nil
}

// segEnd is how a segment's frames end.
type segEnd struct {
	start     int64  // where its frames start
	next      uint64 // the number after its last valid frame, or its seal's
	sealed    bool
	at        int64        // where its frames end
	damage    *DamageError // what only damage leaves there; nil if none
	lastAfter uint64       // the highest number of valid frames found past at
	legacy    bool         // written by an older orderflow (scanLegacy)
}

// scanSegment reads the frames of seg (whose bytes are data) in order,
// calling visit for each valid one, and says how they end. Segments of an
// older orderflow (without the magic) are read by its rules, unless strict
// says the data file's log has always had the magic.
func scanSegment(data []byte, seg segmentFile, strict, last bool, visit func(uint64, []Op) error) (segEnd, error) {
	e := segEnd{start: int64(len(segmentMagic)), next: seg.first}
	if !bytes.HasPrefix(data, []byte(segmentMagic)) {
		if !strict {
			return scanLegacy(data, seg, last, visit)
		}
		e.damage = &DamageError{Kind: ErrDamagedLog, Path: seg.path, Offset: 0, cut: len(data) < len(segmentMagic),
			Problem: "the segment does not start with the log's header"}
		return e, nil
	}
	// damage records what is wrong at byte at; with present set, frame
	// e.next was there (and is lost).
	damage := func(at int64, cut, present bool, format string, args ...any) {
		e.at, e.damage = at, &DamageError{Kind: ErrDamagedLog, Path: seg.path, Offset: at, cut: cut, Problem: fmt.Sprintf(format, args...)}
		if present {
			e.lastAfter = max(e.lastAfter, e.next)
		}
	}
	size := int64(len(data))
	for p := e.start; ; {
		p = headerAt(p)
		if p+headerBytes > size {
			damage(size, true, false, "the file ends where frame %d or the zeros after the last frame should be: the log was cut short", e.next)
			break
		}
		length, sum := binary.BigEndian.Uint32(data[p:]), binary.BigEndian.Uint32(data[p+4:])
		if length == 0 && sum == 0 {
			e.at = p // the zeros after the last frame
			break
		}
		if length == 0 || length > maxFrameBytes {
			damage(p, false, true, "the header of frame %d is unreadable (length %d)", e.next, length)
			break
		}
		end := p + headerBytes + int64(length)
		if end > size {
			damage(p, true, true, "frame %d declares %d bytes, past the end of the file at byte %d: the log was cut short", e.next, length, size)
			break
		}
		payload := data[p+headerBytes : end]
		if crc32.Checksum(payload, castagnoli) != sum {
			switch {
			case payload[len(payload)-1] != 0 && writtenWhole(data, p, end):
				damage(p, false, true, "frame %d fails its checksum, though all of it was written (a torn write leaves zeros)", e.next)
			case headerAt(end)+headerBytes > size:
				damage(p, true, true, "frame %d is incomplete and the file ends right after it: the log was cut short", e.next)
			default:
				e.at = p // torn by a crash while it was written: never acknowledged
			}
			break
		}
		seq, ops, sealed, err := decodeFrame(payload)
		if err != nil {
			damage(p, false, true, "frame %d passes its checksum but cannot be read: %v", e.next, err)
			break
		}
		if seq != e.next {
			damage(p, false, true, "frame %d where frame %d was expected", seq, e.next)
			break
		}
		if sealed {
			e.sealed = true
			if headerAt(end)+headerBytes > size {
				damage(end, true, false, "the file ends right after the segment's seal: the log was cut short")
			} else {
				e.at = end
			}
			break
		}
		if err := visit(seq, ops); err != nil {
			return e, err
		}
		e.next++
		p = end
	}
	// Where the frames end, only zeros and the remains of one torn frame
	// may follow.
	found, first, firstAt, highest, checked := findFrames(data, e.at+1, e.next)
	e.lastAfter = max(e.lastAfter, highest)
	switch {
	case e.damage != nil:
	case !checked:
		damage(e.at, false, false, "could not check, within bounds, that no valid frame follows where the frames end")
	case found > 0 && e.sealed:
		damage(firstAt, false, false, "a valid frame (%d) follows the segment's seal", first)
	case found > 0:
		damage(e.at, false, false, "frame %d cannot be read, yet valid frames follow it (frame %d at byte %d)", e.next, first, firstAt)
	}
	return e, nil
}

// minFrameBytes is the smallest frame: a header, a one-byte number and
// count, the trailer.
const minFrameBytes = headerBytes + 3

// findFrames looks in data from byte from on for valid frames numbered
// from next on (as many as could fit between), returning how many it found,
// the first one's number and offset and the highest number. The CRC work
// is bounded; checked is false if the bound was hit.
func findFrames(data []byte, from int64, next uint64) (found int, first uint64, firstAt int64, highest uint64, checked bool) {
	budget := int64(1 << 30)
	size := int64(len(data))
	for q := from; q+headerBytes < size; q++ {
		if binary.LittleEndian.Uint64(data[q:]) == 0 {
			q += 4 // no length in the next 5 positions is other than 0
			continue
		}
		if q%sectorBytes > sectorBytes-headerBytes {
			continue // no header straddles a sector boundary
		}
		length := int64(binary.BigEndian.Uint32(data[q:]))
		end := q + headerBytes + length
		if length < 3 || end > size || data[end-1] != frameTrailer {
			continue
		}
		seq, n := binary.Uvarint(data[q+headerBytes : end])
		if n <= 0 || seq < next || seq > next+uint64((q-from+1)/minFrameBytes)+1 {
			continue
		}
		if budget -= length; budget < 0 {
			return found, first, firstAt, highest, false
		}
		if crc32.Checksum(data[q+headerBytes:end], castagnoli) != binary.BigEndian.Uint32(data[q+4:]) {
			continue
		}
		if found == 0 {
			first, firstAt = seq, q
		}
		found++
		highest = max(highest, seq)
		next = max(next, seq+1)
		q = end - 1
	}
	return found, first, firstAt, highest, true
}

// writtenWhole reports whether every 512-byte sector that data[from:to]
// touches has a byte other than zero in it: then no sector of it was left
// unwritten by a torn write.
func writtenWhole(data []byte, from, to int64) bool {
	for s := from; s < to; {
		e := min(to, (s/sectorBytes+1)*sectorBytes)
		if lastNonzero(data[s:e]) == 0 {
			return false
		}
		s = e
	}
	return true
}

// lastNonzero returns the length of b without its trailing zeros.
func lastNonzero(b []byte) int {
	n := len(b)
	for n >= 8 && binary.LittleEndian.Uint64(b[n-8:]) == 0 {
		n -= 8
	}
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return n
}

// decodeFrame reads a frame's payload; a seal has no ops.
func decodeFrame(payload []byte) (seq uint64, ops []Op, sealed bool, err error) {
	if len(payload) == 0 || payload[len(payload)-1] != frameTrailer {
		return 0, nil, false, fmt.Errorf("%w: no trailer", ErrCorrupt)
	}
	d := NewDecoder(payload[:len(payload)-1])
	seq = d.Uint()
	count := d.Len(4)
	ops = make([]Op, 0, count)
	for i := 0; i < count && d.err == nil; i++ {
		ops = append(ops, decodeOp(d))
	}
	if err := d.Err(); err != nil {
		return 0, nil, false, err
	}
	return seq, ops, count == 0, nil
}

// scanLegacy reads a segment an older orderflow wrote: frames from its
// first byte, no magic, seal or trailer; a frame that cannot be read ends
// the last segment (taken for a torn write) and is damage in any other.
func scanLegacy(data []byte, seg segmentFile, last bool, visit func(uint64, []Op) error) (segEnd, error) {
	e := segEnd{next: seg.first, legacy: true}
	off := 0
	for off < len(data) {
		seq, ops, n, err := readLegacyFrame(data[off:])
		if errors.Is(err, errEnd) || err != nil && last {
			break
		}
		if err == nil && seq != e.next {
			err = fmt.Errorf("frame %d where frame %d was expected", seq, e.next)
		}
		if err != nil {
			e.at, e.damage = int64(off), &DamageError{Kind: ErrDamagedLog, Path: seg.path, Offset: int64(off), Problem: err.Error()}
			return e, nil
		}
		if err := visit(seq, ops); err != nil {
			return e, err
		}
		e.next++
		off += n
	}
	e.at = int64(off)
	return e, nil
}

var errEnd = errors.New("the zeros after a segment's last frame")

// readLegacyFrame reads the frame at the start of b and its length.
func readLegacyFrame(b []byte) (seq uint64, ops []Op, n int, err error) {
	if len(b) < headerBytes {
		return 0, nil, 0, errors.New("torn frame header")
	}
	length := binary.BigEndian.Uint32(b[0:4])
	if length == 0 && binary.BigEndian.Uint32(b[4:8]) == 0 {
		return 0, nil, 0, errEnd
	}
	if length > maxFrameBytes || uint64(len(b)-headerBytes) < uint64(length) {
		return 0, nil, 0, fmt.Errorf("frame length %d", length)
	}
	payload := b[headerBytes : headerBytes+length]
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:8]) {
		return 0, nil, 0, errors.New("checksum mismatch")
	}
	d := NewDecoder(payload)
	seq = d.Uint()
	count := d.Len(4)
	ops = make([]Op, 0, count)
	for i := 0; i < count && d.err == nil; i++ {
		ops = append(ops, decodeOp(d))
	}
	if err := d.Err(); err != nil {
		return 0, nil, 0, err
	}
	return seq, ops, headerBytes + int(length), nil
}

var errStopScan = errors.New("stop")

// applyFrames applies to db the log's frames numbered from+1 to to, in
// transactions of up to 16 MiB of ops.
func applyFrames(db *bbolt.DB, segs []segmentFile, from, to uint64) error {
	if to <= from {
		return nil
	}
	var st fileState
	err := Guard("read the log's format", func() error {
		return db.View(func(tx *bbolt.Tx) (err error) {
			st, err = readState(tx)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("journal: %s: %w", db.Path(), err)
	}
	var batch []*group
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := applyGroups(db, batch, batch[len(batch)-1].seq); err != nil {
			return fmt.Errorf("journal: apply the log to %s: %w", db.Path(), err)
		}
		batch, size = nil, 0
		return nil
	}
	for i, seg := range segs {
		if seg.first > to {
			break
		}
		if i+1 < len(segs) && segs[i+1].first <= from+1 {
			continue // all applied
		}
		data, err := os.ReadFile(seg.path)
		if err != nil {
			return fmt.Errorf("journal: read the log: %w", err)
		}
		_, err = scanSegment(data, seg, st.strict, i == len(segs)-1, func(seq uint64, ops []Op) error {
			if seq <= from {
				return nil
			}
			if seq > to {
				return errStopScan
			}
			batch = append(batch, &group{ops: ops, seq: seq})
			for _, o := range ops {
				size += o.size()
			}
			if size > 16<<20 {
				return flush()
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopScan) {
			return err
		}
	}
	return flush()
}

// guardUpdate runs fn in a write transaction; a panic (a damaged page) is
// an error.
func guardUpdate(db *bbolt.DB, fn func(tx *bbolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic while writing: %v", p)
		}
	}()
	return db.Update(fn)
}

package journal_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/journal"
)

// A crash leaves at worst one torn frame at the end of the log, a segment
// made but not yet written, or files not yet removed: from those, a
// restart must bring back every acknowledged change. Anything else is
// damage: a restart must refuse it, naming the file and the byte and
// changing nothing, and Recover must accept it, saying what was lost.

// fixture is a data file and its log as a crash (or a clean stop) left
// them after n acknowledged groups: frame i (1…n) puts k<i> = <i><pad>.
type fixture struct {
	path string // the data file
	n    int
}

func (f fixture) segments(t testing.TB) []string {
	t.Helper()
	s := logFiles(t, f.path)
	slices.Sort(s)
	return s
}

func (f fixture) last(t testing.TB) string {
	t.Helper()
	s := f.segments(t)
	if len(s) == 0 {
		t.Fatal("no log segment")
	}
	return s[len(s)-1]
}

// spans returns where the frames of segment seg start and end.
func spans(t testing.TB, seg string) [][2]int64 {
	t.Helper()
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	return journal.FrameSpans(b)
}

// crashAfter acknowledges n groups with the applier held, so that the
// file holds none of them, and returns the files a crash then leaves.
// pad(i) is the padding of frame i's value.
func crashAfter(t *testing.T, n int, pad func(i int) int) fixture {
	t.Helper()
	db := openDB(t)
	j := newJournal(t, db)
	release := j.HoldApply()
	for i := 1; i <= n; i++ {
		if err := j.Append(put(fmt.Sprint("k", i), value(i, pad))).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	path := crashCopy(t, db.Path())
	release()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return fixture{path, n}
}

// stoppedAfter acknowledges n groups and stops cleanly.
func stoppedAfter(t *testing.T, n int) fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.db")
	session(t, path, 1, n)
	return fixture{path, n}
}

// session starts on the data file at path, acknowledges the groups from to
// to, and stops cleanly.
func session(t *testing.T, path string, from, to int) {
	t.Helper()
	db, j, err := restart(t, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i <= to; i++ {
		if err := j.Append(put(fmt.Sprint("k", i), value(i, nil))).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func value(i int, pad func(int) int) string {
	v := fmt.Sprint(i)
	if pad != nil {
		v += strings.Repeat("x", pad(i))
	}
	return v
}

// restart opens the data file at path and starts its journal, as a start
// does; both are closed at the end of the test.
func restart(t *testing.T, path string) (*bbolt.DB, *journal.Journal, error) {
	t.Helper()
	db, err := journal.Open(path)
	if err != nil {
		return nil, nil, err
	}
	j, err := journal.New(db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	t.Cleanup(func() { j.Close(); db.Close() })
	return db, j, nil
}

// holds checks that the file holds the frames 1…applied and none after,
// up to n.
func holds(t *testing.T, db *bbolt.DB, applied, n int, pad func(int) int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		got, want := get(t, db, fmt.Sprint("k", i)), ""
		if i <= applied {
			want = value(i, pad)
		}
		if got != want {
			t.Fatalf("k%d = %.20q, want %.20q (the file should hold frames 1 to %d of %d)", i, got, want, applied, n)
		}
	}
}

// stillWorks appends to a journal after recovery, stops, and checks that a
// plain restart accepts the files and holds what it appended.
func stillWorks(t *testing.T, path string, db *bbolt.DB, j *journal.Journal) {
	t.Helper()
	if err := j.Append(put("after", "1")).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2, _, err := restart(t, path)
	if err != nil {
		t.Fatalf("a restart after recovery: %v", err)
	}
	if get(t, db2, "after") != "1" {
		t.Error("what was appended after recovery is not in the file")
	}
}

// copyDir copies the data file at path and its log to a new directory.
func copyDir(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	m, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range m {
		copyFile(t, src, filepath.Join(dir, filepath.Base(src)))
	}
	return filepath.Join(dir, filepath.Base(path))
}

// snapshot returns the names and digests of the files in dir.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

// beside names, beside the data file at path, the file named like file.
func beside(path, file string) string {
	return filepath.Join(filepath.Dir(path), filepath.Base(file))
}

func zeroBytes(t *testing.T, path string, from, to int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, to-from), from); err != nil {
		t.Fatal(err)
	}
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x10
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// emptySegment writes what a segment holds before its first frame is
// written: the magic and zeros, as a copy of a marker.
func emptySegment(t *testing.T, path string, first uint64) string {
	t.Helper()
	marker := stoppedAfter(t, 0)
	b, err := os.ReadFile(marker.last(t))
	if err != nil {
		t.Fatal(err)
	}
	seg := fmt.Sprintf("%s.wal.%020d", path, first)
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return seg
}

func TestACrashLosesNothingAcknowledged(t *testing.T) {
	bigLast := func(n int) func(int) int {
		return func(i int) int {
			if i == n {
				return 1500 // spans four sectors
			}
			return 0
		}
	}

	t.Run("a last frame cut short anywhere while written is dropped; every frame before it is applied", func(t *testing.T) {
		const n = 20
		pad := bigLast(n)
		f := crashAfter(t, n, pad)
		sp := spans(t, f.last(t))
		start, end := sp[n-1][0], sp[n-1][1]
		size := end - start
		cuts := []struct {
			name    string
			written int64
		}{
			{"nothing of it", 0},
			{"part of its header", 5},
			{"its header, its payload still zeros", 8},
			{"its header and part of its payload", 8 + 700},
			{"all but its last byte", size - 1},
			{"all of it (its sync had not returned)", size},
		}
		for k := int64(0); k <= size; k++ {
			if k < 80 || k%61 == 0 {
				cuts = append(cuts, struct {
					name    string
					written int64
				}{fmt.Sprintf("%d bytes of it", k), k})
			}
		}
		for _, c := range cuts {
			path := copyDir(t, f.path)
			zeroBytes(t, beside(path, f.last(t)), start+c.written, end) // as if only these bytes had reached the disk
			db, _, err := restart(t, path)
			if err != nil {
				t.Fatalf("%s written (%d of %d bytes): %v", c.name, c.written, size, err)
			}
			applied := n - 1
			if c.written == size {
				applied = n // written whole: its sync may have returned
			}
			holds(t, db, applied, n, pad)
		}
		t.Logf("%d cuts of a %d-byte frame", len(cuts), size)
	})

	t.Run("a last frame some of whose sectors never reached the disk is dropped; every frame before it is applied", func(t *testing.T) {
		const n = 20
		pad := bigLast(n)
		f := crashAfter(t, n, pad)
		seg := f.last(t)
		sp := spans(t, seg)
		start, end := sp[n-1][0], sp[n-1][1]
		var sectors [][2]int64
		for s := start; s < end; {
			e := min(end, (s/journal.SectorBytes+1)*journal.SectorBytes)
			sectors = append(sectors, [2]int64{s, e})
			s = e
		}
		if len(sectors) < 3 {
			t.Fatalf("the frame spans %d sectors; the test wants several", len(sectors))
		}
		for lost := 1; lost < 1<<len(sectors)-1; lost++ {
			path := copyDir(t, f.path)
			for i, s := range sectors {
				if lost&(1<<i) != 0 {
					zeroBytes(t, beside(path, seg), s[0], s[1])
				}
			}
			db, _, err := restart(t, path)
			if err != nil {
				t.Fatalf("sectors lost %b: %v", lost, err)
			}
			holds(t, db, n-1, n, pad)
		}
	})

	t.Run("a crash while the log moves to a new segment loses nothing", func(t *testing.T) {
		defer journal.SetSegmentBytes(400)()
		f := crashAfter(t, 40, nil)
		segs := f.segments(t)
		if len(segs) < 3 {
			t.Fatalf("%d segments; the test wants several", len(segs))
		}
		// The last segment's frames were never written: the crash came
		// after it was made, before, during or after the one before it was
		// sealed.
		last, prev := segs[len(segs)-1], segs[len(segs)-2]
		var first uint64
		fmt.Sscanf(filepath.Ext(last), ".%d", &first)
		sp := spans(t, prev)
		seal := sp[len(sp)-1]
		for name, damage := range map[string]func(path string){
			"before the seal":             func(p string) { zeroBytes(t, beside(p, prev), seal[0], seal[1]) },
			"during the seal":             func(p string) { zeroBytes(t, beside(p, prev), seal[0]+9, seal[1]) },
			"after the seal":              func(string) {},
			"with the seal's header only": func(p string) { zeroBytes(t, beside(p, prev), seal[0]+8, seal[1]) },
		} {
			path := copyDir(t, f.path)
			emptySegment(t, path, first)
			damage(path)
			db, _, err := restart(t, path)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			holds(t, db, int(first)-1, f.n, nil)
		}
	})

	t.Run("a crash after a start or a stop made its new segment, before it removed the old ones, loses nothing", func(t *testing.T) {
		defer journal.SetSegmentBytes(400)()
		f := crashAfter(t, 40, nil)
		path := copyDir(t, f.path)
		emptySegment(t, path, uint64(f.n)+1)
		db, _, err := restart(t, path)
		if err != nil {
			t.Fatal(err)
		}
		holds(t, db, f.n, f.n, nil)
		if n := len(logFiles(t, path)); n != 1 {
			t.Errorf("%d log segments after the restart, want 1", n)
		}
	})

	t.Run("a segment whose making was interrupted is removed", func(t *testing.T) {
		f := crashAfter(t, 5, nil)
		tmp := fmt.Sprintf("%s.wal.%020d.tmp", f.path, 6)
		if err := os.WriteFile(tmp, []byte("half made"), 0o600); err != nil {
			t.Fatal(err)
		}
		db, _, err := restart(t, f.path)
		if err != nil {
			t.Fatal(err)
		}
		holds(t, db, 5, 5, nil)
		if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there", tmp)
		}
	})

	t.Run("a data file behind its log, while the log still holds the frames, is caught up", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		for i := 1; i <= 10; i++ {
			j.Append(put(fmt.Sprint("k", i), value(i, nil)))
		}
		if err := j.Sync(); err != nil {
			t.Fatal(err)
		}
		older := crashCopy(t, db.Path()) // the file holds none of them, or some
		if err := j.Flush(); err != nil {
			t.Fatal(err)
		}
		newer := crashCopy(t, db.Path())
		j.Close()
		copyFile(t, older, newer) // the file as it was, the log as it is now
		db2, _, err := restart(t, newer)
		if err != nil {
			t.Fatal(err)
		}
		holds(t, db2, 10, 10, nil)
	})

	t.Run("the log of an older orderflow, without the magic, is read by its rules", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "data.db")
		db, err := journal.Open(path) // no journal: the file records no log format
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		// Two segments (it sealed none), the last write torn.
		var log []byte
		for i := 1; i <= 5; i++ {
			log = append(log, journal.LegacyFrame(uint64(i), put(fmt.Sprint("k", i), value(i, nil)))...)
			if i == 2 {
				if err := os.WriteFile(path+".wal.00000000000000000001", log, 0o600); err != nil {
					t.Fatal(err)
				}
				log = nil
			}
		}
		torn := journal.LegacyFrame(6, put("k6", "6"))
		log = append(log, torn[:len(torn)-2]...)
		if err := os.WriteFile(path+".wal.00000000000000000003", log, 0o600); err != nil {
			t.Fatal(err)
		}
		db2, j, err := restart(t, path)
		if err != nil {
			t.Fatal(err)
		}
		holds(t, db2, 5, 6, nil)
		stillWorks(t, path, db2, j)
	})

	t.Run("a data file an older orderflow stopped cleanly, without a log, starts", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "data.db")
		db, err := journal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucket([]byte("wal"))
			if err != nil {
				return err
			}
			return b.Put([]byte("applied"), binary.BigEndian.AppendUint64(nil, 7))
		})
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		db2, err := journal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		j, err := journal.New(db2)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Append(put("after", "1")).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		db2.Close()
		assertMarkerOnly(t, path, 9) // frame 8 logged, then the file keeps its log
		if _, _, err := restart(t, path); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDamageIsRefusedAndRecoveredExplicitly(t *testing.T) {
	const n = 147
	type want struct {
		path    string // the file the error names
		offset  int64  // the byte it names; -1 none
		applied int    // what Recover applies: frames 1…applied
		lost    int    // the frames it reports lost; -1 not checked
		more    bool   // and that more may be lost
	}
	crash := func(t *testing.T) fixture { return crashAfter(t, n, nil) }
	small := func(t *testing.T) fixture {
		defer journal.SetSegmentBytes(400)()
		return crashAfter(t, 60, nil)
	}
	frame := func(t *testing.T, f fixture, i int) [2]int64 { return spans(t, f.last(t))[i-1] }
	firstOf := func(seg string) int {
		var first int
		fmt.Sscanf(filepath.Ext(seg), ".%d", &first)
		return first
	}

	for _, tc := range []struct {
		name   string
		files  func(t *testing.T) fixture
		damage func(t *testing.T, f fixture) want
	}{
		{"a byte flipped in the first of 147 frames", crash, func(t *testing.T, f fixture) want {
			fr := frame(t, f, 1)
			flipByte(t, f.last(t), fr[0]+12)
			return want{f.last(t), fr[0], 0, n, false}
		}},
		{"a byte flipped in the last frame", crash, func(t *testing.T, f fixture) want {
			fr := frame(t, f, n)
			flipByte(t, f.last(t), fr[0]+12)
			return want{f.last(t), fr[0], n - 1, 1, false}
		}},
		{"a byte flipped in a frame's checksum", crash, func(t *testing.T, f fixture) want {
			fr := frame(t, f, 11)
			flipByte(t, f.last(t), fr[0]+5)
			return want{f.last(t), fr[0], 10, n - 10, false}
		}},
		{"the log cut at half, inside a frame", crash, func(t *testing.T, f fixture) want {
			fr := frame(t, f, n/2)
			truncate(t, f.last(t), fr[0]+10)
			return want{f.last(t), fr[0], n/2 - 1, 1, true}
		}},
		{"the log cut at a frame boundary", crash, func(t *testing.T, f fixture) want {
			fr := frame(t, f, 100)
			truncate(t, f.last(t), fr[1])
			return want{f.last(t), fr[1], 100, 0, true}
		}},
		{"the log cut right after its last frame", crash, func(t *testing.T, f fixture) want {
			fr := frame(t, f, n)
			truncate(t, f.last(t), fr[1])
			return want{f.last(t), fr[1], n, 0, true}
		}},
		{"a frame header zeroed in the middle", crash, func(t *testing.T, f fixture) want {
			fr := frame(t, f, 74)
			zeroBytes(t, f.last(t), fr[0], fr[0]+8)
			return want{f.last(t), fr[0], 73, n - 73, false}
		}},
		{"a frame whose length runs past the end of the file", crash, func(t *testing.T, f fixture) want {
			fr := frame(t, f, 74)
			writeAt(t, f.last(t), fr[0], binary.BigEndian.AppendUint32(nil, 100<<20))
			return want{f.last(t), fr[0], 73, n - 73, true}
		}},
		{"a segment emptied", crash, func(t *testing.T, f fixture) want {
			truncate(t, f.last(t), 0)
			return want{f.last(t), 0, 0, 0, true}
		}},
		{"the log deleted", crash, func(t *testing.T, f fixture) want {
			for _, s := range f.segments(t) {
				os.Remove(s)
			}
			return want{f.path + ".wal.*", -1, 0, 0, true}
		}},
		{"a segment missing in the middle", small, func(t *testing.T, f fixture) want {
			segs := f.segments(t)
			os.Remove(segs[2])
			return want{segs[3], -1, firstOf(segs[2]) - 1, f.n - (firstOf(segs[2]) - 1), false}
		}},
		{"the last segment missing after a sealed one", small, func(t *testing.T, f fixture) want {
			segs := f.segments(t)
			last, prev := segs[len(segs)-1], segs[len(segs)-2]
			os.Remove(last)
			sp := spans(t, prev)
			return want{prev, sp[len(sp)-1][1], firstOf(last) - 1, 0, true}
		}},
		{"two segments swapped", small, func(t *testing.T, f fixture) want {
			segs := f.segments(t)
			os.Rename(segs[1], segs[1]+"x")
			os.Rename(segs[2], segs[1])
			os.Rename(segs[1]+"x", segs[2])
			return want{segs[1], 16, firstOf(segs[1]) - 1, -1, false}
		}},
		{"an older copy of the data file put back", func(t *testing.T) fixture {
			f := stoppedAfter(t, 50)
			old := copyDir(t, f.path)
			session(t, f.path, 51, 80)
			copyFile(t, old, f.path)
			return fixture{f.path, 80}
		}, func(t *testing.T, f fixture) want {
			return want{f.path, -1, 50, 30, false}
		}},
		{"the log's marker deleted after a clean stop", func(t *testing.T) fixture { return stoppedAfter(t, 20) }, func(t *testing.T, f fixture) want {
			os.Remove(f.last(t))
			return want{f.path + ".wal.*", -1, 20, 0, true}
		}},
	} {
		t.Run(tc.name+" is refused, then recovered explicitly", func(t *testing.T) {
			f := tc.files(t)
			w := tc.damage(t, f)
			before := snapshot(t, filepath.Dir(f.path))

			_, _, err := restart(t, f.path)
			var de *journal.DamageError
			if !errors.As(err, &de) {
				t.Fatalf("restart: got %v, want a *journal.DamageError", err)
			}
			if de.Path != w.path || de.Offset != w.offset {
				t.Errorf("the error names %s at byte %d, want %s at byte %d: %v", de.Path, de.Offset, w.path, w.offset, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, w.path) || w.offset >= 0 && !strings.Contains(msg, fmt.Sprintf("at byte %d", w.offset)) || !strings.Contains(msg, "recover") {
				t.Errorf("the message does not name the file, the byte and what to do: %s", msg)
			}
			if !slices.Equal(mapKeys(before), mapKeys(snapshot(t, filepath.Dir(f.path)))) || !sameFiles(before, snapshot(t, filepath.Dir(f.path))) {
				t.Error("the refused restart changed the files")
			}

			db, j, rec, err := journal.Recover(f.path)
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			defer func() { j.Close(); db.Close() }()
			t.Log(rec)
			if !errors.Is(rec.Damage, de.Kind) || rec.NewDataFile {
				t.Errorf("Recover found %v (new data file %v), want %v", rec.Damage, rec.NewDataFile, de.Kind)
			}
			if int(rec.Applied) != w.applied || w.lost >= 0 && int(rec.LostFrames) != w.lost || rec.MoreLost != w.more {
				t.Errorf("Recover applied %d, lost %d (more: %v); want %d, %d (%v)", rec.Applied, rec.LostFrames, rec.MoreLost, w.applied, w.lost, w.more)
			}
			holds(t, db, w.applied, f.n, nil)
			for _, k := range rec.Kept {
				if _, err := os.Stat(k); err != nil {
					t.Errorf("a kept file: %v", err)
				}
			}
			if de.Kind == journal.ErrDamagedLog && w.path != f.path+".wal.*" && len(rec.Kept) == 0 {
				t.Error("no damaged file was kept")
			}
			if !strings.Contains(rec.String(), "lost") {
				t.Errorf("the report does not say what was lost: %s", rec)
			}
			stillWorks(t, f.path, db, j)
		})
	}
}

func mapKeys[V any](m map[string]V) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	slices.Sort(k)
	return k
}

func sameFiles(a, b map[string][32]byte) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

func TestADamagedDataFileIsRefusedAndRecoveredExplicitly(t *testing.T) {
	const n = 30
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		kinds  []error
	}{
		{"a data file emptied to 0 bytes", func(t *testing.T, path string) { truncate(t, path, 0) }, []error{journal.ErrDamagedData}},
		{"a missing data file", func(t *testing.T, path string) { os.Remove(path) }, []error{journal.ErrDamagedData}},
		{"a data file cut short", func(t *testing.T, path string) {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			truncate(t, path, info.Size()/2)
		}, []error{journal.ErrDamagedData, journal.ErrNotDataFile}},
	} {
		t.Run(tc.name+" is refused, then recovered explicitly into a new one", func(t *testing.T) {
			f := stoppedAfter(t, n)
			// Enough pages that cutting the file cuts some.
			session(t, f.path, n+1, n+200)
			tc.damage(t, f.path)
			before := snapshot(t, filepath.Dir(f.path))
			_, err := journal.Open(f.path)
			if !slices.ContainsFunc(tc.kinds, func(k error) bool { return errors.Is(err, k) }) || !strings.Contains(fmt.Sprint(err), f.path) {
				t.Fatalf("Open: got %v, want one of %v naming the file", err, tc.kinds)
			}
			if !sameFiles(before, snapshot(t, filepath.Dir(f.path))) {
				t.Error("the refused Open changed the files")
			}
			db, j, rec, err := journal.Recover(f.path)
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			t.Log(rec)
			if !rec.NewDataFile || !rec.MoreLost || !strings.Contains(rec.String(), "everything the old one held is lost") {
				t.Errorf("Recover: %+v", rec)
			}
			if len(rec.Kept) == 0 {
				t.Error("nothing kept")
			}
			for _, k := range rec.Kept {
				if _, err := os.Stat(k); err != nil {
					t.Errorf("a kept file: %v", err)
				}
			}
			holds(t, db, 0, n, nil)
			stillWorks(t, f.path, db, j)
		})
	}

	t.Run("a rolled-back data file (its newest meta page overwritten) is refused, then recovered explicitly", func(t *testing.T) {
		f := stoppedAfter(t, n)
		session(t, f.path, n+1, n+10) // one last transaction applies these
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		// bbolt's two meta pages: a 16-byte page header, then magic,
		// version, page size, flags, root (16), freelist, pgid, txid,
		// checksum. The one with the higher txid is the newest.
		pageSize := int(binary.LittleEndian.Uint32(b[16+8:]))
		txid := func(page int) uint64 { return binary.LittleEndian.Uint64(b[page*pageSize+16+48:]) }
		newest := 0
		if txid(1) > txid(0) {
			newest = 1
		}
		writeAt(t, f.path, int64(newest*pageSize+16+56), []byte("garbage!"))
		_, _, err = restart(t, f.path)
		if !errors.Is(err, journal.ErrDamagedData) || !strings.Contains(err.Error(), f.path) {
			t.Fatalf("restart: got %v, want ErrDamagedData naming the file", err)
		}
		db, j, rec, err := journal.Recover(f.path)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(rec)
		if rec.Applied >= n+10 || int(rec.LostFrames) != n+10-int(rec.Applied) || rec.NewDataFile {
			t.Errorf("Recover: %+v", rec)
		}
		holds(t, db, int(rec.Applied), n+10, nil)
		stillWorks(t, f.path, db, j)
	})
}

func TestTheLogsLayout(t *testing.T) {
	t.Run("after every acknowledged frame, zeros follow it on disk, and no header straddles a sector", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		sizes := []int{10, 3000, 70 << 10, 10, 1 << 20, 5 << 20, 10, 500, 200 << 10}
		for i, size := range sizes {
			if err := j.Append(put(fmt.Sprint("k", i), strings.Repeat("x", size))).Wait(); err != nil {
				t.Fatal(err)
			}
			segs := logFiles(t, db.Path())
			b, err := os.ReadFile(segs[len(segs)-1])
			if err != nil {
				t.Fatal(err)
			}
			sp := journal.FrameSpans(b)
			if len(sp) != i+1 {
				t.Fatalf("%d frames in the segment after %d appends", len(sp), i+1)
			}
			for _, s := range sp {
				if r := s[0] % journal.SectorBytes; r > journal.SectorBytes-8 {
					t.Errorf("a header at byte %d straddles a sector boundary", s[0])
				}
			}
			end := sp[i][1]
			zeros := b[end:min(int64(len(b)), end+journal.SectorBytes)]
			if len(zeros) < 16 || strings.Trim(string(zeros), "\x00") != "" {
				t.Fatalf("after a frame of %d bytes ending at byte %d, the file holds %d bytes, then %q", size, end, len(b), zeros[:min(len(zeros), 16)])
			}
		}
	})
}

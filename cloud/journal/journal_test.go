package journal_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/journal"
)

func openDB(t testing.TB) *bbolt.DB {
	t.Helper()
	db, err := journal.Open(filepath.Join(t.TempDir(), "data.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var bucketT = journal.Path([]byte("t"))

func put(key, value string) journal.Op { return journal.Put(bucketT, []byte(key), []byte(value)) }

func newJournal(t testing.TB, db *bbolt.DB) *journal.Journal {
	t.Helper()
	j, err := journal.New(db)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func get(t testing.TB, db *bbolt.DB, key string) string {
	t.Helper()
	var v string
	db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte("t")); b != nil {
			v = string(b.Get([]byte(key)))
		}
		return nil
	})
	return v
}

// logFiles lists the write-ahead log's segments beside db's file.
func logFiles(t testing.TB, dbPath string) []string {
	t.Helper()
	m, err := filepath.Glob(dbPath + ".wal.*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// crashCopy copies the data file and its log to a new directory while the
// journal's applier is held: what a crash at that moment leaves on disk.
func crashCopy(t testing.TB, dbPath string) string {
	t.Helper()
	dir := t.TempDir()
	for i, src := range append([]string{dbPath}, logFiles(t, dbPath)...) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			// The zeros written ahead of the frames, but a page.
			n := len(b)
			for n > 0 && b[n-1] == 0 {
				n--
			}
			b = b[:min(len(b), n+4096)]
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, filepath.Base(dbPath))
}

func TestJournal(t *testing.T) {
	t.Run("ops appended while a log write runs share the next write", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		release := make(chan struct{})
		started := make(chan struct{})
		var once sync.Once
		j.BeforeWrite(func() {
			once.Do(func() {
				close(started)
				<-release // hold the first write back
			})
		})
		first := j.Append(put("first", "1"))
		<-started
		var tickets []journal.Ticket
		for i := range 50 {
			tickets = append(tickets, j.Append(put(fmt.Sprint("k", i), "v")))
		}
		close(release)
		if err := first.Wait(); err != nil {
			t.Fatal(err)
		}
		for _, tk := range tickets {
			if err := tk.Wait(); err != nil {
				t.Fatal(err)
			}
		}
		st := j.Stats()
		if st.Commits != 2 || st.Records != 51 {
			t.Errorf("commits, records = %d, %d; want 2, 51", st.Commits, st.Records)
		}
		if err := j.Flush(); err != nil {
			t.Fatal(err)
		}
		if get(t, db, "k49") != "v" {
			t.Error("k49 was not applied to the file")
		}
	})

	t.Run("ops are applied in the order they were appended", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		for i := range 1000 {
			j.Append(put("k", fmt.Sprint(i)))
		}
		if err := j.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := get(t, db, "k"); got != "999" {
			t.Errorf("k = %s, want 999", got)
		}
	})

	t.Run("every kind of op does what it says", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		q := journal.Path([]byte("root"), []byte("q"))
		j.Append(journal.Put(q, []byte("a"), []byte("1")), journal.Put(q, []byte("b"), []byte("2")),
			journal.PutLazy(q, []byte("lazy"), func() []byte { return []byte("made later") }),
			journal.PutPacked(journal.Path([]byte("seq")), []byte{0, 1}, []byte("x")),
			journal.Delete(q, []byte("a")),
			journal.Delete(journal.Path([]byte("nowhere")), []byte("a")), // missing bucket: no error
			journal.CreateBucket(journal.Path([]byte("root")), []byte("empty")),
			journal.DeleteBucket(journal.Path([]byte("root")), []byte("never")), // missing: no error
			journal.Put(journal.Path([]byte("gone")), []byte("k"), []byte("v")),
			journal.DeleteBucket(nil, []byte("gone")))
		if err := j.Flush(); err != nil {
			t.Fatal(err)
		}
		err := db.View(func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte("root")).Bucket([]byte("q"))
			if b.Get([]byte("a")) != nil || string(b.Get([]byte("b"))) != "2" || string(b.Get([]byte("lazy"))) != "made later" {
				t.Errorf("q holds a=%q b=%q lazy=%q", b.Get([]byte("a")), b.Get([]byte("b")), b.Get([]byte("lazy")))
			}
			if tx.Bucket([]byte("root")).Bucket([]byte("empty")) == nil {
				t.Error("CreateBucket made no bucket")
			}
			if tx.Bucket([]byte("gone")) != nil {
				t.Error("DeleteBucket left the bucket")
			}
			if string(tx.Bucket([]byte("seq")).Get([]byte{0, 1})) != "x" {
				t.Error("PutPacked wrote nothing")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("concurrent appenders all get durable tickets", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					if err := j.Append(put(fmt.Sprint(w, "-", i), "v")).Wait(); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		st := j.Stats()
		t.Logf("%d ops in %d log writes, %d file transactions", st.Records, st.Commits, st.Applies)
		if st.Records != 400 || st.Commits > st.Records {
			t.Errorf("commits, records = %d, %d", st.Commits, st.Records)
		}
		if get(t, db, "7-49") != "v" {
			t.Error("7-49 not in the file after Close")
		}
	})

	t.Run("an op bbolt would refuse fails when appended and stops nothing", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		for name, op := range map[string]journal.Op{
			"empty key":   journal.Put(bucketT, nil, []byte("v")),
			"no path":     journal.Put(nil, []byte("k"), []byte("v")),
			"empty name":  journal.Put(journal.Path([]byte("")), []byte("k"), []byte("v")),
			"huge key":    journal.Put(bucketT, make([]byte, bbolt.MaxKeySize+1), nil),
			"empty in rm": journal.Delete(bucketT, nil),
		} {
			if err := j.Append(put("ok", "1"), op).Wait(); err == nil {
				t.Errorf("%s: appended", name)
			}
		}
		if err := j.Append(put("after", "1")).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := j.Flush(); err != nil {
			t.Fatal(err)
		}
		if get(t, db, "ok") != "" || get(t, db, "after") != "1" {
			t.Errorf("ok=%q after=%q: a refused call's ops were written, or a later one was not", get(t, db, "ok"), get(t, db, "after"))
		}
	})

	t.Run("a failure to apply stops the journal: later appends and Close report it", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		// "x" is a key in t, so it cannot also be a bucket there.
		j.Append(put("x", "1"), journal.Put(journal.Path([]byte("t"), []byte("x")), []byte("k"), []byte("v")))
		err := j.Flush()
		if err == nil {
			t.Fatal("Flush: no error")
		}
		if err2 := j.Append(put("b", "1")).Wait(); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("later append: got %v, want the sticky %v", err2, err)
		}
		if err2 := j.Close(); err2 == nil {
			t.Error("Close: no error")
		}
		if len(logFiles(t, db.Path())) == 0 {
			t.Error("the log was removed though the file lacks what it holds")
		}
	})

	t.Run("ApplyLog leaves everything in the file and only the log's marker", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "data.db")
		db, err := journal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		j := newJournal(t, db)
		release := j.HoldApply()
		if err := j.Append(put("k", "v")).Wait(); err != nil {
			t.Fatal(err)
		}
		copied := crashCopy(t, path)
		release()
		j.Close()
		db.Close()
		db2, err := journal.Open(copied)
		if err != nil {
			t.Fatal(err)
		}
		defer db2.Close()
		if get(t, db2, "k") != "" {
			t.Fatal("the copy already held k: the test tests nothing")
		}
		if err := journal.ApplyLog(db2); err != nil {
			t.Fatal(err)
		}
		if get(t, db2, "k") != "v" {
			t.Errorf("after ApplyLog: k=%q", get(t, db2, "k"))
		}
		assertMarkerOnly(t, copied, 2)
	})

	t.Run("Failed is closed when a write fails, and only then", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		if err := j.Append(put("k", "v")).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := j.Flush(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-j.Failed():
			t.Fatal("Failed is closed while every write succeeds")
		default:
		}
		db.Close() // the next apply fails
		j.Append(put("k2", "v2"))
		if err := j.Flush(); err == nil {
			t.Fatal("Flush succeeded with the file closed: the test tests nothing")
		}
		select {
		case <-j.Failed():
		default:
			t.Fatal("Failed is open after a write failed")
		}
		if j.Err() == nil {
			t.Error("Err is nil after Failed closed")
		}
	})

	t.Run("a second journal on the same file is refused", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		if _, err := journal.New(db); err == nil {
			t.Error("a second journal was started")
		}
		j.Close()
		j2, err := journal.New(db)
		if err != nil {
			t.Fatalf("after Close: %v", err)
		}
		j2.Close()
	})

	t.Run("Close applies what is queued, leaves only the log's marker, and later appends fail", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		j.Append(put("queued", "1"))
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if get(t, db, "queued") != "1" {
			t.Error("queued op lost by Close")
		}
		assertMarkerOnly(t, db.Path(), 2)
		if err := j.Append(put("late", "1")).Wait(); !errors.Is(err, journal.ErrClosed) {
			t.Errorf("got %v, want ErrClosed", err)
		}
	})

	t.Run("the first waiter writes and syncs its group itself, with no hand-off to another goroutine", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		var stacks []string
		j.BeforeWrite(func() {
			buf := make([]byte, 64<<10)
			stacks = append(stacks, string(buf[:runtime.Stack(buf, false)]))
		})
		for i := range 3 {
			if err := j.Append(put(fmt.Sprint("k", i), "v")).Wait(); err != nil {
				t.Fatal(err)
			}
		}
		if len(stacks) != 3 {
			t.Fatalf("%d log writes, want 3", len(stacks))
		}
		for i, s := range stacks {
			if !strings.Contains(s, "journal.Ticket.Wait") {
				t.Errorf("write %d was not made by the goroutine waiting for it:\n%s", i, s)
			}
		}
	})

	t.Run("ops appended that no one waits for still reach the log", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		j.Append(put("unwaited", "1"))
		deadline := time.Now().Add(5 * time.Second)
		for j.Stats().Records == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if st := j.Stats(); st.Commits != 1 || st.Records != 1 {
			t.Errorf("commits, records = %d, %d; want 1, 1", st.Commits, st.Records)
		}
	})

	t.Run("while a group is written, a waiter of the next one leads it once the first is done", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		release := make(chan struct{})
		started := make(chan struct{})
		var once sync.Once
		j.BeforeWrite(func() {
			once.Do(func() {
				close(started)
				<-release
			})
		})
		errs := make(chan error, 9)
		first := j.Append(put("first", "1"))
		go func() { errs <- first.Wait() }()
		<-started
		for i := range 8 {
			tk := j.Append(put(fmt.Sprint("k", i), "v"))
			go func() { errs <- tk.Wait() }()
		}
		close(release)
		for range 9 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if st := j.Stats(); st.Commits != 2 || st.Records != 9 {
			t.Errorf("commits, records = %d, %d; want 2, 9", st.Commits, st.Records)
		}
	})

	t.Run("a waiter blocked on the next group leads it, not the leader of the group before", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		release, started := make(chan struct{}), make(chan struct{})
		var writers []string
		j.BeforeWrite(func() {
			buf := make([]byte, 64)
			id, _, _ := strings.Cut(strings.TrimPrefix(string(buf[:runtime.Stack(buf, false)]), "goroutine "), " ")
			writers = append(writers, id)
			if len(writers) == 1 {
				close(started)
				<-release
			}
		})
		errs := make(chan error, 5)
		first := j.Append(put("first", "1"))
		go func() { errs <- first.Wait() }()
		<-started
		for i := range 4 {
			tk := j.Append(put(fmt.Sprint("k", i), "v"))
			go func() { errs <- tk.Wait() }()
		}
		deadline := time.Now().Add(5 * time.Second)
		for !j.NextGroupBlocked() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		close(release)
		for range 5 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if len(writers) != 2 {
			t.Fatalf("%d log writes, want 2", len(writers))
		}
		if writers[0] == writers[1] {
			t.Errorf("both groups were written by goroutine %s; want the second by one of its waiters", writers[0])
		}
	})

	t.Run("a lone writer appending many times per request never waits for more requests", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		for r := range 20 {
			var last journal.Ticket
			for i := range 10 {
				last = j.Append(put(fmt.Sprint("k", r, "-", i), "v"))
			}
			if err := last.Wait(); err != nil {
				t.Fatal(err)
			}
		}
		if n := j.Gathers(); n != 0 {
			t.Errorf("the leader waited for more requests %d times, want 0", n)
		}
		if st := j.Stats(); st.Records != 200 {
			t.Errorf("records = %d, want 200", st.Records)
		}
	})

	t.Run("UnsafeSkipSyncs skips the log's syncs until restored", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		restoreFault := journal.InjectFault(func(op, path string) error {
			if op == "sync" && strings.HasPrefix(path, db.Path()) {
				return &os.PathError{Op: "fdatasync", Path: path, Err: syscall.EIO}
			}
			return nil
		})
		defer restoreFault()
		restore := journal.UnsafeSkipSyncs()
		if err := j.Append(put("a", "1")).Wait(); err != nil {
			t.Fatalf("with syncs skipped: %v", err)
		}
		restore()
		if err := j.Append(put("b", "1")).Wait(); !errors.Is(err, syscall.EIO) {
			t.Errorf("with syncs restored: got %v, want the sync's EIO", err)
		}
	})
}

// assertMarkerOnly checks that the log beside the data file at path is
// only the marker a clean stop leaves: a small segment named next, the
// number of the next frame, with no frame in it.
func assertMarkerOnly(t testing.TB, path string, next uint64) {
	t.Helper()
	files := logFiles(t, path)
	want := fmt.Sprintf("%s.wal.%020d", path, next)
	if len(files) != 1 || files[0] != want {
		t.Fatalf("log files %v, want only the marker %s", files, want)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(journal.FrameSpans(b)); n != 0 || len(b) > 64<<10 {
		t.Errorf("the marker holds %d frames in %d bytes", n, len(b))
	}
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	t.Run("a file that is not a data file is reported as such", func(t *testing.T) {
		for name, content := range map[string][]byte{
			"text":  []byte("hello, I am somebody's notes\n"),
			"zeros": make([]byte, 64<<10),
		} {
			path := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := journal.Open(path)
			if !errors.Is(err, journal.ErrNotDataFile) {
				t.Errorf("%s: got %v, want ErrNotDataFile", name, err)
			}
		}
	})

	t.Run("a file held open by another handle is reported in use", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "data.db")
		db, err := journal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		start := time.Now()
		if _, err := journal.Open(path); !errors.Is(err, journal.ErrInUse) {
			t.Errorf("got %v, want ErrInUse", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Open waited %v", d)
		}
	})
}

func TestCodec(t *testing.T) {
	t.Run("what an encoder writes a decoder reads back", func(t *testing.T) {
		at := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
		e := journal.NewEncoder(0)
		e.Uint(1 << 40)
		e.Int(-7)
		e.Bool(true)
		e.Str("héllo")
		e.Blob([]byte{0, 1, 2})
		e.Time(at)
		e.Time(time.Time{})
		e.StrMap(map[string]string{"b": "2", "a": "1"})
		d := journal.NewDecoder(e.Bytes())
		if v := d.Uint(); v != 1<<40 {
			t.Errorf("Uint = %d", v)
		}
		if v := d.Int(); v != -7 {
			t.Errorf("Int = %d", v)
		}
		if !d.Bool() {
			t.Error("Bool = false")
		}
		if v := d.Str(); v != "héllo" {
			t.Errorf("String = %q", v)
		}
		if v := d.Blob(); string(v) != "\x00\x01\x02" {
			t.Errorf("Blob = %v", v)
		}
		if v := d.Time(); !v.Equal(at) {
			t.Errorf("Time = %v, want %v", v, at)
		}
		if v := d.Time(); !v.IsZero() {
			t.Errorf("zero Time = %v", v)
		}
		if m := d.StrMap(); len(m) != 2 || m["a"] != "1" || m["b"] != "2" {
			t.Errorf("StrMap = %v", m)
		}
		if err := d.Err(); err != nil {
			t.Error(err)
		}
	})

	t.Run("truncated or garbage bytes are ErrCorrupt, never a panic", func(t *testing.T) {
		e := journal.NewEncoder(0)
		e.Str("a string long enough to cut")
		e.StrMap(map[string]string{"k": "v"})
		full := e.Bytes()
		for n := 0; n < len(full); n++ {
			d := journal.NewDecoder(full[:n])
			d.Str()
			d.StrMap()
			if !errors.Is(d.Err(), journal.ErrCorrupt) {
				t.Errorf("cut at %d: got %v, want ErrCorrupt", n, d.Err())
			}
		}
		d := journal.NewDecoder([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
		if m := d.StrMap(); len(m) != 0 || !errors.Is(d.Err(), journal.ErrCorrupt) {
			t.Errorf("huge count: %v, %v", m, d.Err())
		}
	})
}

// holdSyncs makes every fdatasync of the log beside the data file at path
// wait until release is called; synced counts those that went through.
func holdSyncs(t testing.TB, path string) (release func(), synced func() int) {
	t.Helper()
	gate := make(chan struct{})
	var mu sync.Mutex
	n := 0
	restore := journal.InjectFault(func(op, p string) error {
		if op == "sync" && strings.HasPrefix(p, path+".wal.") {
			<-gate
			mu.Lock()
			n++
			mu.Unlock()
		}
		return nil
	})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() { release(); restore() })
	return release, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// waitFor polls cond for up to five seconds and reports whether it held.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func newSyncEvery(t testing.TB, db *bbolt.DB, every time.Duration) *journal.Journal {
	t.Helper()
	j, err := journal.NewWithOptions(db, journal.Options{SyncEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestSyncEvery(t *testing.T) {
	t.Run("by default an append is acknowledged only after the log's fdatasync", func(t *testing.T) {
		db := openDB(t)
		j := newJournal(t, db)
		defer j.Close()
		release, synced := holdSyncs(t, db.Path())
		done := make(chan error, 1)
		go func() { done <- j.Append(put("a", "1")).Wait() }()
		select {
		case err := <-done:
			t.Fatalf("Wait returned (%v) while every fdatasync of the log was held", err)
		case <-time.After(200 * time.Millisecond):
		}
		release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if synced() == 0 || j.Stats().LogSyncs != 1 {
			t.Errorf("syncs seen %d, LogSyncs %d; want at least 1 and 1", synced(), j.Stats().LogSyncs)
		}
	})

	t.Run("an append is acknowledged once written, before any fdatasync", func(t *testing.T) {
		db := openDB(t)
		j := newSyncEvery(t, db, journal.MaxSyncEvery) // no background sync during the test
		release, _ := holdSyncs(t, db.Path())
		done := make(chan error, 1)
		go func() { done <- j.Append(put("a", "1")).Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not return while the log's fdatasyncs were held")
		}
		if st := j.Stats(); st.Commits != 1 || st.LogSyncs != 0 {
			t.Errorf("commits, log syncs = %d, %d; want 1, 0", st.Commits, st.LogSyncs)
		}
		b, err := os.ReadFile(logFiles(t, db.Path())[0])
		if err != nil {
			t.Fatal(err)
		}
		if n := len(journal.FrameSpans(b)); n != 1 {
			t.Errorf("the log holds %d frames after the acknowledgement, want 1 (written before the answer)", n)
		}
		release()
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a background sync follows within the interval, and none while nothing is written", func(t *testing.T) {
		db := openDB(t)
		j := newSyncEvery(t, db, 50*time.Millisecond)
		defer j.Close()
		for i := range 5 {
			if err := j.Append(put(fmt.Sprint("k", i), "v")).Wait(); err != nil {
				t.Fatal(err)
			}
		}
		if !waitFor(func() bool { return j.Stats().LogSyncs >= 1 }) {
			t.Fatal("no background sync within five seconds of a 50ms interval")
		}
		before := j.Stats().LogSyncs
		time.Sleep(300 * time.Millisecond) // six intervals with nothing written
		if got := j.Stats().LogSyncs; got != before {
			t.Errorf("log syncs went from %d to %d with nothing written", before, got)
		}
		if err := j.Append(put("later", "v")).Wait(); err != nil {
			t.Fatal(err)
		}
		if !waitFor(func() bool { return j.Stats().LogSyncs > before }) {
			t.Error("no background sync after a later write")
		}
	})

	t.Run("Close syncs what was written before it returns", func(t *testing.T) {
		db := openDB(t)
		j := newSyncEvery(t, db, journal.MaxSyncEvery)
		_, synced := holdSyncsCounting(t, db.Path())
		release := j.HoldApply() // the applier's own sync must not be what syncs
		if err := j.Append(put("a", "1")).Wait(); err != nil {
			t.Fatal(err)
		}
		if n := synced(); n != 0 {
			t.Fatalf("%d syncs of the log before Close", n)
		}
		release()
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if synced() == 0 || j.Stats().LogSyncs == 0 {
			t.Errorf("Close returned with no sync of the log (hook saw %d, LogSyncs %d)", synced(), j.Stats().LogSyncs)
		}
		if get(t, db, "a") != "1" {
			t.Error("the append is not in the file after Close")
		}
	})

	t.Run("the applier syncs the log before it records groups as applied", func(t *testing.T) {
		db := openDB(t)
		j := newSyncEvery(t, db, journal.MaxSyncEvery)
		defer j.Close()
		if err := j.Append(put("a", "1")).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := j.Flush(); err != nil {
			t.Fatal(err)
		}
		if get(t, db, "a") != "1" {
			t.Fatal("Flush returned before the group was applied")
		}
		if got := j.Stats().LogSyncs; got != 1 {
			t.Errorf("log syncs %d after an applied group, want 1", got)
		}
	})

	t.Run("a segment is synced whole before the next one starts", func(t *testing.T) {
		defer journal.SetSegmentBytes(4096)()
		db := openDB(t)
		j := newSyncEvery(t, db, journal.MaxSyncEvery)
		defer j.Close()
		big := strings.Repeat("x", 1500)
		for i := range 4 {
			if err := j.Append(put(fmt.Sprint("k", i), big)).Wait(); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(logFiles(t, db.Path())); n < 2 {
			t.Fatalf("%d log segments, want a rotation", n)
		}
		if got := j.Stats().LogSyncs; got == 0 {
			t.Error("the log rotated with no sync of the segment it sealed")
		}
	})

	t.Run("a failed background sync stops the journal", func(t *testing.T) {
		db := openDB(t)
		j := newSyncEvery(t, db, 20*time.Millisecond)
		restore := journal.InjectFault(func(op, p string) error {
			if op == "sync" && strings.HasPrefix(p, db.Path()+".wal.") {
				return &os.PathError{Op: "fdatasync", Path: p, Err: syscall.EIO}
			}
			return nil
		})
		defer restore()
		if err := j.Append(put("a", "1")).Wait(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-j.Failed():
		case <-time.After(5 * time.Second):
			t.Fatal("the journal did not stop after its background sync failed")
		}
		if err := j.Append(put("b", "1")).Wait(); !errors.Is(err, syscall.EIO) {
			t.Errorf("append after the failed sync: got %v, want the sync's EIO", err)
		}
		if err := j.Close(); !errors.Is(err, syscall.EIO) {
			t.Errorf("Close: got %v, want the sync's EIO", err)
		}
	})

	t.Run("intervals below zero or above the maximum are refused", func(t *testing.T) {
		for _, d := range []time.Duration{-time.Millisecond, journal.MaxSyncEvery + time.Nanosecond} {
			db := openDB(t)
			if _, err := journal.NewWithOptions(db, journal.Options{SyncEvery: d}); err == nil {
				t.Errorf("SyncEvery %v accepted", d)
			}
		}
	})
}

// holdSyncsCounting counts the fdatasyncs of the log beside the data file
// at path (not the zero-filling ahead of its frames) without holding them.
func holdSyncsCounting(t testing.TB, path string) (restore func(), synced func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	zeroing := map[string]bool{}
	restore = journal.InjectFault(func(op, p string) error {
		if !strings.HasPrefix(p, path+".wal.") {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		switch op {
		case "zero":
			zeroing[p] = true
		case "sync":
			if zeroing[p] {
				zeroing[p] = false // the sync of the zeros written ahead
			} else {
				n++
			}
		}
		return nil
	})
	t.Cleanup(restore)
	return restore, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

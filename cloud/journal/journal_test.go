package journal_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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

func put(key, value string) journal.Record {
	return func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("t"))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte(value))
	}
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

func TestJournal(t *testing.T) {
	t.Run("records appended while a commit runs share the next commit", func(t *testing.T) {
		db := openDB(t)
		j := journal.New(db)
		defer j.Close()
		release := make(chan struct{})
		started := make(chan struct{})
		first := j.Append(func(tx *bbolt.Tx) error {
			close(started)
			<-release // hold the first commit open
			return put("first", "1")(tx)
		})
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
		commits, records := st.Commits, st.Records
		if commits != 2 || records != 51 {
			t.Errorf("commits, records = %d, %d; want 2, 51", commits, records)
		}
		if get(t, db, "k49") != "v" {
			t.Error("k49 was not written")
		}
	})

	t.Run("records are applied in the order they were appended", func(t *testing.T) {
		db := openDB(t)
		j := journal.New(db)
		defer j.Close()
		var last journal.Ticket
		for i := range 1000 {
			last = j.Append(put("k", fmt.Sprint(i)))
		}
		if err := last.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := get(t, db, "k"); got != "999" {
			t.Errorf("k = %s, want 999", got)
		}
	})

	t.Run("concurrent appenders all get durable tickets", func(t *testing.T) {
		db := openDB(t)
		j := journal.New(db)
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
		commits, records := st.Commits, st.Records
		t.Logf("%d records in %d commits", records, commits)
		if records != 400 || commits > records {
			t.Errorf("commits, records = %d, %d", commits, records)
		}
	})

	t.Run("a failed commit fails its group and every later record", func(t *testing.T) {
		db := openDB(t)
		j := journal.New(db)
		boom := errors.New("boom")
		tk := j.Append(put("a", "1"), func(*bbolt.Tx) error { return boom })
		if err := tk.Wait(); !errors.Is(err, boom) {
			t.Fatalf("got %v, want boom", err)
		}
		if get(t, db, "a") != "" {
			t.Error("the failed group's other record was written")
		}
		if err := j.Append(put("b", "1")).Wait(); !errors.Is(err, boom) {
			t.Errorf("later record: got %v, want the sticky boom", err)
		}
		if err := j.Close(); !errors.Is(err, boom) {
			t.Errorf("Close: got %v, want boom", err)
		}
	})

	t.Run("a panicking record is an error, not a crash", func(t *testing.T) {
		j := journal.New(openDB(t))
		err := j.Append(func(*bbolt.Tx) error { panic("bad record") }).Wait()
		if err == nil {
			t.Fatal("no error")
		}
		j.Close()
	})

	t.Run("Close commits what is queued and later appends fail", func(t *testing.T) {
		db := openDB(t)
		j := journal.New(db)
		j.Append(put("queued", "1"))
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if get(t, db, "queued") != "1" {
			t.Error("queued record lost by Close")
		}
		if err := j.Append(put("late", "1")).Wait(); !errors.Is(err, journal.ErrClosed) {
			t.Errorf("got %v, want ErrClosed", err)
		}
	})
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

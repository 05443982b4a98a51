package journal_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/tmpfs"
)

// The journal stalls on a resource running out and resumes by itself once
// it returns; these tests run it out of space, of descriptors and of file
// size, through an injected fault in the log's file operations and through
// the kernel's own limits (RLIMIT_NOFILE, RLIMIT_FSIZE, a full tmpfs).

// seqPut is the i-th append of a model run: key k<i mod keys> takes i.
func seqPut(i, keys int, pad int) journal.Op {
	return put(fmt.Sprint("k", i%keys), fmt.Sprint(i, strings.Repeat("x", pad)))
}

// closeAndReopenHolds closes j and its db, opens the file at path again
// and checks that it holds all n appends of seqPut, in order.
func closeAndReopenHolds(t *testing.T, db *bbolt.DB, j *journal.Journal, path string, n, keys int) {
	t.Helper()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2, _, err := restart(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if p := prefixHeld(t, db2, n, keys); p != n {
		t.Errorf("after a restart the file holds %d of the %d appends", p, n)
	}
}

// prefixHeld returns how many of the appends seqPut(0…n-1) the file at db
// holds: they must be a prefix of them, in order (a key holds the value
// of its last append in the prefix, or nothing). It fails the test
// otherwise.
func prefixHeld(t *testing.T, db *bbolt.DB, n, keys int) int {
	t.Helper()
	p := 0
	vals := map[int]int{}
	for k := range keys {
		v := get(t, db, fmt.Sprint("k", k))
		if v == "" {
			vals[k] = -1
			continue
		}
		var i int
		if _, err := fmt.Sscan(strings.TrimRight(v, "x"), &i); err != nil || i%keys != k || i >= n {
			t.Fatalf("k%d = %.30q: not one of its appends", k, v)
		}
		vals[k] = i
		p = max(p, i+1)
	}
	for k := range keys {
		want := -1
		for i := p - 1; i >= 0; i-- {
			if i%keys == k {
				want = i
				break
			}
		}
		if vals[k] != want {
			t.Fatalf("the file is not a prefix of the appends: k%d holds append %d, but append %d is there, so it should hold %d", k, vals[k], p-1, want)
		}
	}
	return p
}

// faults is an injected fault plan: while on, each file operation of the
// log in dir named in ops fails with errno.
type faults struct {
	dir   string
	mu    sync.Mutex
	on    bool
	errno syscall.Errno
	ops   map[string]bool
	hits  int
	byOp  map[string]int
}

func (f *faults) set(on bool, errno syscall.Errno, ops ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.on, f.errno, f.ops = on, errno, map[string]bool{}
	for _, op := range ops {
		f.ops[op] = true
	}
}

func (f *faults) hook(op, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.on && f.ops[op] && strings.HasPrefix(path, f.dir+string(filepath.Separator)) {
		f.hits++
		if f.byOp == nil {
			f.byOp = map[string]int{}
		}
		f.byOp[op]++
		return &os.PathError{Op: op, Path: path, Err: f.errno}
	}
	return nil
}

func (f *faults) hitCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

// crashCopyLive copies the data file at path and its log to a new
// directory while j's applier is held and its committer may be retrying:
// what a crash at that moment leaves. A file that goes while it is copied
// (a segment's temporary file given up) is one the crash would not have
// left either.
func crashCopyLive(t *testing.T, j *journal.Journal, path string) string {
	t.Helper()
	release := j.HoldApply()
	defer release()
	dir := t.TempDir()
	m, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range m {
		b, err := os.ReadFile(src)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, filepath.Base(path))
}

func TestAResourceRunningOutStallsTheJournalUntilItReturns(t *testing.T) {
	for _, c := range []struct {
		name  string
		errno syscall.Errno
		ops   []string
	}{
		{"no space to write a frame", syscall.ENOSPC, []string{"write"}},
		{"no space to sync a frame", syscall.ENOSPC, []string{"sync"}},
		{"no space to extend the log", syscall.ENOSPC, []string{"zero"}},
		{"too many open files to make a segment", syscall.EMFILE, []string{"create"}},
		{"a file size limit", syscall.EFBIG, []string{"zero", "write"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer journal.SetSegmentBytes(64 << 10)() // rotate every few dozen frames
			f := &faults{dir: t.TempDir()}
			defer journal.InjectFault(f.hook)()
			path := filepath.Join(f.dir, "data.db")
			db, j, err := restart(t, path)
			if err != nil {
				t.Fatal(err)
			}
			var events []error
			var emu sync.Mutex
			j.Observe(func(err error) { emu.Lock(); events = append(events, err); emu.Unlock() })

			const keys = 7
			n := 0
			appendOne := func() error {
				err := j.Append(seqPut(n, keys, 1000)).Wait()
				n++
				return err
			}
			for range 100 {
				if err := appendOne(); err != nil {
					t.Fatalf("append %d before any fault: %v", n-1, err)
				}
			}
			f.set(true, c.errno, c.ops...)
			// Appends until the fault bites (a frame can fit in the zeros
			// already synced, or in the open segment).
			var stalled error
			for range 500 {
				if stalled = appendOne(); stalled != nil {
					break
				}
			}
			if stalled == nil || f.hitCount() == 0 {
				t.Fatalf("500 appends with %v injected into %v were all acknowledged: the fault never bit", c.errno, c.ops)
			}
			if !errors.Is(stalled, journal.ErrStalled) || !errors.Is(stalled, c.errno) {
				t.Fatalf("Wait = %v; want an error matching ErrStalled and %v", stalled, c.errno)
			}
			lastAcked := n - 2
			if err := j.Writable(); !errors.Is(err, journal.ErrStalled) {
				t.Errorf("Writable while stalled = %v, want ErrStalled", err)
			}
			select {
			case <-j.Failed():
				t.Fatalf("Failed is closed on a transient fault: %v", j.Err())
			default:
			}
			// Appends while stalled answer at once, unacknowledged.
			start := time.Now()
			for range 20 {
				if err := appendOne(); !errors.Is(err, journal.ErrStalled) {
					t.Fatalf("an append while stalled: Wait = %v, want ErrStalled", err)
				}
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("20 appends while stalled took %v to be refused", d)
			}
			// What a crash now leaves: a prefix, holding every acknowledged
			// append, and no damage.
			copied := crashCopyLive(t, j, path)
			func() {
				cdb, cj, err := restart(t, copied)
				if err != nil {
					t.Fatalf("a crash while stalled left files a restart refuses: %v", err)
				}
				if p := prefixHeld(t, cdb, n, keys); p < lastAcked+1 {
					t.Errorf("after a crash while stalled the file holds %d appends; %d were acknowledged", p, lastAcked+1)
				}
				cj.Close()
				cdb.Close()
			}()

			f.set(false, 0)
			poll.Until(t, 10*time.Second, "the journal resumes once the resource is back", func() bool { return j.Writable() == nil })
			if err := appendOne(); err != nil {
				t.Fatalf("the first append once the resource is back: %v", err)
			}
			if err := j.Flush(); err != nil {
				t.Fatal(err)
			}
			// Every append reached the file, those refused while stalled
			// included: memory and the file agree again.
			if p := prefixHeld(t, db, n, keys); p != n {
				t.Errorf("the file holds %d of the %d appends after the stall", p, n)
			}
			st := j.Stats()
			if st.Stalls != 1 || st.Retries == 0 || st.StallTime <= 0 {
				t.Errorf("stats %+v: want 1 stall, some retries and time", st)
			}
			emu.Lock()
			if len(events) != 2 || !errors.Is(events[0], journal.ErrStalled) || events[1] != nil {
				t.Errorf("observed %v, want a stall then nil", events)
			}
			emu.Unlock()
			closeAndReopenHolds(t, db, j, path, n, keys)
		})
	}
}

// A fault that comes and goes at random, across rotations, never loses an
// acknowledged append, never leaves damage, and in the end every append is
// in the file in order.
func TestIntermittentResourceFaultsLoseNothingAcknowledged(t *testing.T) {
	defer journal.SetSegmentBytes(32 << 10)()
	f := &faults{dir: t.TempDir()}
	defer journal.InjectFault(f.hook)()
	rng := rand.New(rand.NewPCG(12, 1))
	path := filepath.Join(f.dir, "data.db")
	db, j, err := restart(t, path)
	if err != nil {
		t.Fatal(err)
	}
	const keys, n = 11, 1500
	acked, stalledN := -1, 0
	ops := []string{"create", "zero", "write", "sync"}
	errnos := []syscall.Errno{syscall.ENOSPC, syscall.EMFILE, syscall.EDQUOT}
	for i := range n {
		if i%50 == 0 {
			if rng.IntN(2) == 0 {
				f.set(true, errnos[rng.IntN(len(errnos))], ops[rng.IntN(len(ops))], ops[rng.IntN(len(ops))])
			} else {
				f.set(false, 0)
				// Let the stall end, so the next faults meet new places.
				poll.Until(t, 10*time.Second, "the journal resumes", func() bool { return j.Writable() == nil })
			}
		}
		err := j.Append(seqPut(i, keys, rng.IntN(2000))).Wait()
		switch {
		case err == nil:
			acked = i
		case errors.Is(err, journal.ErrStalled):
			stalledN++
		default:
			t.Fatalf("append %d: %v (not a stall)", i, err)
		}
		if i%300 == 299 { // a crash here
			copied := crashCopyLive(t, j, path)
			cdb, cj, err := restart(t, copied)
			if err != nil {
				t.Fatalf("after append %d a crash left files a restart refuses: %v", i, err)
			}
			if p := prefixHeld(t, cdb, n, keys); p < acked+1 {
				t.Fatalf("after a crash at append %d the file holds %d appends; %d were acknowledged", i, p, acked+1)
			}
			cj.Close()
			cdb.Close()
		}
	}
	if stalledN == 0 || f.hitCount() == 0 {
		t.Fatal("no append stalled: the faults never bit")
	}
	f.set(false, 0)
	if err := j.Sync(); err != nil {
		poll.Until(t, 10*time.Second, "the journal resumes", func() bool { return j.Sync() == nil })
	}
	closeAndReopenHolds(t, db, j, path, n, keys)
	t.Logf("%d appends, %d refused while stalled, faults injected %v; all %d in the file", n, stalledN, f.byOp, n)
	if len(f.byOp) < len(ops) {
		t.Errorf("faults injected into %v only, want all of %v", f.byOp, ops)
	}
}

func TestAFailureThatIsNotAResourceStillStopsTheJournal(t *testing.T) {
	f := &faults{dir: t.TempDir()}
	defer journal.InjectFault(f.hook)()
	db, j, err := restart(t, filepath.Join(f.dir, "data.db"))
	if err != nil {
		t.Fatal(err)
	}
	_ = db
	if err := j.Append(put("a", "1")).Wait(); err != nil {
		t.Fatal(err)
	}
	f.set(true, syscall.EIO, "write", "sync")
	err = j.Append(put("b", "1")).Wait()
	if err == nil || errors.Is(err, journal.ErrStalled) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Wait after EIO = %v, want the EIO, not a stall", err)
	}
	select {
	case <-j.Failed():
	case <-time.After(5 * time.Second):
		t.Fatal("Failed is open after EIO")
	}
	f.set(false, 0)
	if err := j.Append(put("c", "1")).Wait(); err == nil {
		t.Error("an append after EIO was acknowledged once the fault cleared: EIO must stop the journal until a restart")
	}
	if err := j.Writable(); err == nil || errors.Is(err, journal.ErrStalled) {
		t.Errorf("Writable after EIO = %v, want the journal's error", err)
	}
}

func TestCloseWhileStalledGivesUpOnlyWhatWasNeverAcknowledged(t *testing.T) {
	f := &faults{dir: t.TempDir()}
	defer journal.InjectFault(f.hook)()
	path := filepath.Join(f.dir, "data.db")
	db, j, err := restart(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(put("acked", "1")).Wait(); err != nil {
		t.Fatal(err)
	}
	f.set(true, syscall.ENOSPC, "write")
	if err := j.Append(put("stalled", "1")).Wait(); !errors.Is(err, journal.ErrStalled) {
		t.Fatalf("Wait = %v, want ErrStalled", err)
	}
	done := make(chan error, 1)
	go func() { done <- j.Close() }()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("Close while stalled = %v, want the ENOSPC that stalled it", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close while stalled did not return in 10 s")
	}
	db.Close()
	f.set(false, 0)
	db2, _, err := restart(t, path)
	if err != nil {
		t.Fatalf("a restart after Close while stalled: %v", err)
	}
	if get(t, db2, "acked") != "1" {
		t.Error("the acknowledged append is missing after Close while stalled")
	}
	if get(t, db2, "stalled") != "" {
		t.Error("the append that never reached the log is in the file")
	}
}

// TestRunningOutOfDescriptorsStallsRotationUntilTheyAreFreed takes the
// process's descriptors to its limit with open files, as idle client
// connections did, while the log must rotate: the rotation stalls, and
// goes through once the files are closed. Not parallel: it lowers the
// limit of the whole test process for its duration.
func TestRunningOutOfDescriptorsStallsRotationUntilTheyAreFreed(t *testing.T) {
	defer journal.SetSegmentBytes(64 << 10)()
	path := filepath.Join(t.TempDir(), "data.db")
	db, j, err := restart(t, path)
	if err != nil {
		t.Fatal(err)
	}
	const keys = 5
	n := 0
	for range 10 {
		if err := j.Append(seqPut(n, keys, 1000)).Wait(); err != nil {
			t.Fatal(err)
		}
		n++
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(len(fds) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	var hoard []*os.File
	closeHoard := func() {
		for _, f := range hoard {
			f.Close()
		}
		hoard = nil
	}
	defer closeHoard()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		hoard = append(hoard, f)
		if len(hoard) > 1000 {
			t.Fatal("the descriptor limit does not bite")
		}
	}
	var stalled error
	for range 200 { // 64 KiB segments of 1 KiB frames: a rotation within 70
		if stalled = j.Append(seqPut(n, keys, 1000)).Wait(); stalled != nil {
			n++
			break
		}
		n++
	}
	if !errors.Is(stalled, journal.ErrStalled) || !errors.Is(stalled, syscall.EMFILE) {
		t.Fatalf("with no descriptor left, a rotation's Wait = %v; want ErrStalled and EMFILE", stalled)
	}
	closeHoard()
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	poll.Until(t, 10*time.Second, "the journal resumes once descriptors are free", func() bool { return j.Writable() == nil })
	if err := j.Append(seqPut(n, keys, 1000)).Wait(); err != nil {
		t.Fatalf("an append once descriptors are free: %v", err)
	}
	n++
	closeAndReopenHolds(t, db, j, path, n, keys)
}

// TestAFileSizeLimitStallsTheLogAndTheFileUntilItIsRaised limits the size
// of the files the process may write (RLIMIT_FSIZE, as `ulimit -f`): the
// kernel refuses to grow the log and the data file as a full disk would,
// unprivileged. Not parallel: the limit is the whole test process's.
func TestAFileSizeLimitStallsTheLogAndTheFileUntilItIsRaised(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.db")
	db, j, err := restart(t, path)
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = 3 << 20
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	const keys = 1000 // distinct keys: the data file grows
	n, acked := 0, 0
	var stalled error
	for range 2000 {
		err := j.Append(seqPut(n, keys, 8000)).Wait()
		n++
		if err != nil {
			stalled = err
			break
		}
		acked = n
	}
	if !errors.Is(stalled, journal.ErrStalled) || !errors.Is(stalled, syscall.EFBIG) {
		t.Fatalf("at the file size limit, Wait = %v; want ErrStalled and EFBIG", stalled)
	}
	if acked == 0 {
		t.Fatal("nothing was acknowledged under the limit: the test tests nothing")
	}
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	poll.Until(t, 10*time.Second, "the journal logs and applies again once the limit is raised", func() bool { return j.Flush() == nil })
	if p := prefixHeld(t, db, n, keys); p != n {
		t.Errorf("the file holds %d of %d appends", p, n)
	}
	t.Logf("%d appends acknowledged under a 3 MiB file size limit", acked)
}

// TestAFullDiskStallsTheJournalUntilSpaceIsFreed fills a small tmpfs (a
// real ENOSPC from the kernel) with the journal's files and a ballast
// file, and frees the ballast: the journal resumes by itself. It needs
// the right to mount (root, as in this project's CI); elsewhere the same
// promise is tested by the file size limit and the injected faults above.
func TestAFullDiskStallsTheJournalUntilSpaceIsFreed(t *testing.T) {
	dir := mountTmpfs(t, 24<<20)
	path := filepath.Join(dir, "data.db")
	db, j, err := restart(t, path)
	if err != nil {
		t.Fatal(err)
	}
	// Leave about 3 MiB free.
	ballast := filepath.Join(dir, "ballast")
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if err := os.WriteFile(ballast, make([]byte, free-3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	const keys = 1000
	n, acked := 0, 0
	var stalled error
	for range 2000 {
		err := j.Append(seqPut(n, keys, 8000)).Wait()
		n++
		if err != nil {
			stalled = err
			break
		}
		acked = n
	}
	if !errors.Is(stalled, journal.ErrStalled) || !errors.Is(stalled, syscall.ENOSPC) {
		t.Fatalf("on a full disk, Wait = %v; want ErrStalled and ENOSPC", stalled)
	}
	if acked == 0 {
		t.Fatal("nothing was acknowledged before the disk filled: the test tests nothing")
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the journal resumes once space is freed", func() bool { return j.Writable() == nil })
	for range 50 {
		if err := j.Append(seqPut(n, keys, 8000)).Wait(); err != nil {
			t.Fatalf("an append after space was freed: %v", err)
		}
		n++
	}
	closeAndReopenHolds(t, db, j, path, n, keys)
	t.Logf("%d appends acknowledged before the disk filled; all %d in the file after it was freed", acked, n)
}

// mountTmpfs mounts a tmpfs of size bytes for the test (package tmpfs).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	return tmpfs.Mount(t, size, "the file size limit test covers a full disk unprivileged")
}

package journal_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cloud/journal"
)

// BenchmarkFsync measures one write of 4 KiB and one fsync of a plain file
// in the test's temporary directory: the floor under every commit.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "f"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.WriteAt(buf, int64(i%256)*4096); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommit measures appending one small record and waiting for it,
// with 1, 8 and 64 concurrent appenders, with the log's syncs (sync=on),
// with them made in the background every 100ms (sync=every100ms,
// Options.SyncEvery) and without (sync=off, UnsafeSkipSyncs: what the
// durable path costs beyond the sync); ns/op is per record, cpu-ns/op the
// process's CPU time (user and system) per record, records/commit says how
// many records shared each log write and log-syncs the fdatasyncs that
// made them durable.
func BenchmarkCommit(b *testing.B) {
	for _, mode := range []string{"on", "every100ms", "off"} {
		for _, workers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("sync=%s/workers=%d", mode, workers), func(b *testing.B) {
				var opts journal.Options
				switch mode {
				case "off":
					defer journal.UnsafeSkipSyncs()()
				case "every100ms":
					opts.SyncEvery = 100 * time.Millisecond
				}
				benchCommit(b, workers, opts)
			})
		}
	}
}

func benchCommit(b *testing.B, workers int, opts journal.Options) {
	db, err := journal.Open(filepath.Join(b.TempDir(), "data.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	j, err := journal.NewWithOptions(db, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	val := make([]byte, 200)
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	cpu0 := cpuTime()
	b.ResetTimer()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= b.N {
					return
				}
				key := []byte(fmt.Sprint(i % 1000))
				err := j.Append(journal.Put(journal.Path([]byte("b")), key, val)).Wait()
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	st := j.Stats()
	b.ReportMetric(float64(st.Records)/float64(max(st.Commits, 1)), "records/commit")
	b.ReportMetric(float64(st.CommitTime.Microseconds())/float64(max(st.Commits, 1)), "µs/commit")
	b.ReportMetric(float64(st.LogSyncs), "log-syncs")
}

// cpuTime is the process's CPU time so far, user and system, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

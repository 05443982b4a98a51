// Package gctune sets the garbage collector's pace for a process that runs
// the embedded cloud: generous while the live heap is small, Go's default
// once it is large.
//
// The cloud's requests allocate quickly and keep little, so at Go's default
// (GOGC=100, a collection each time the heap doubles) the collector ran
// constantly in a pipeline run, and its assists and pauses stalled the
// goroutines that carry requests; GOGC=400 made the pipeline markedly
// faster (docs/benchmarks.md). A fixed GOGC=400 would let a large heap (a
// million stored orders take hundreds of MiB) grow to five times its size,
// so the percentage falls as the live heap grows: 400 up to 64 MiB live,
// then 400 × 64 MiB / live, never below 100 (reached at 256 MiB). This
// curve gave BenchmarkMemoryAtScale a lower peak RSS than one starting to
// fall at 128 MiB, at the same pipeline rate (docs/benchmarks.md). GOGC or
// GOMEMLIMIT in the environment turn the tuning off: Start is told the
// environment by its caller (cmd/), and never reads it itself.
package gctune

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

const (
	high      = 400
	low       = 100
	smallHeap = 64 << 20
)

// Percent is the GOGC percentage for a live heap of live bytes.
func Percent(live uint64) int {
	if live <= smallHeap {
		return high
	}
	return max(low, int(high*smallHeap/live))
}

var started sync.Once

// Start sets the percentage now and re-sets it every second until ctx
// ends, unless getenv says GOGC or GOMEMLIMIT is set: then the runtime has
// already taken its pace from them, and that choice wins. getenv is the
// caller's view of the environment (os.Getenv, in cmd/); nil is an
// environment with neither set. Only the first call in a process does
// anything.
func Start(ctx context.Context, getenv func(string) string) {
	if getenv != nil && (getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "") {
		return
	}
	run := false
	started.Do(func() { run = true })
	if !run {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			debug.SetGCPercent(Percent(sample[0].Value.Uint64()))
		}
	}
	set()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				debug.SetGCPercent(low)
				return
			case <-t.C:
				set()
			}
		}
	}()
}

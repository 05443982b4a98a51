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
//
// The generous pace has a cost at rest: the heap a burst of requests grew
// to stays mapped, since the runtime returns free heap to the system only
// slowly, towards a goal of five times the live heap. So once the process
// goes idle (a whole tick in which it allocated almost nothing: after the
// template is deployed, after a test suite's burst), Start returns the
// free heap to the system at once, with one collection; it does so again
// only after the next busy tick.
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
	// idleAllocs is the most a tick may allocate and still count as idle:
	// an idle cloud's pollers and timers allocate a few KiB a second; one
	// request through the SDK allocates more than this on its own.
	idleAllocs = 256 << 10
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
// already taken its pace from them, and that choice wins. Either way, it
// returns the free heap to the system each time the process goes idle
// (see the package comment). getenv is the caller's view of the
// environment (os.Getenv, in cmd/); nil is an environment with neither
// set. Only the first call in a process does anything.
func Start(ctx context.Context, getenv func(string) string) {
	pace := getenv == nil || (getenv("GOGC") == "" && getenv("GOMEMLIMIT") == "")
	run := false
	started.Do(func() { run = true })
	if !run {
		return
	}
	tu := newTuner(pace, debug.FreeOSMemory) // paces now, before Start returns
	t := time.NewTicker(time.Second)
	go func() {
		defer t.Stop()
		tu.run(ctx, t.C)
	}()
}

// run re-paces the collector (if t.pace) at each tick, and releases the
// free heap at the first tick of each idle spell, until ctx ends.
func (t *tuner) run(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			if t.pace {
				debug.SetGCPercent(low)
			}
			return
		case <-ticks:
			t.tick()
		}
	}
}

// tuner is run's state between ticks.
type tuner struct {
	pace     bool
	release  func()
	sample   []metrics.Sample
	allocs   uint64 // the process's allocated bytes at the last tick
	released bool   // whether release ran in this idle spell
}

// newTuner paces the collector now, if pace.
func newTuner(pace bool, release func()) *tuner {
	t := &tuner{pace: pace, release: release,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}}
	live, allocs := t.read()
	t.allocs = allocs
	if pace {
		debug.SetGCPercent(Percent(live))
	}
	return t
}

func (t *tuner) read() (live, allocs uint64) {
	metrics.Read(t.sample)
	return t.sample[0].Value.Uint64(), t.sample[1].Value.Uint64()
}

// tick re-sets the pace, and releases the free heap if the process
// allocated at most idleAllocs since the last tick, unless it already did
// in this idle spell.
func (t *tuner) tick() {
	live, allocs := t.read()
	if t.pace {
		debug.SetGCPercent(Percent(live))
	}
	idle := allocs-t.allocs <= idleAllocs
	if idle && !t.released {
		t.release()
	}
	t.released = idle
	// What release allocated (a collection's own) is not the process's.
	_, t.allocs = t.read()
}

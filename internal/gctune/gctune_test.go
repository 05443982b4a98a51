package gctune

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 400},
		{32 << 20, 400},
		{64 << 20, 400},
		{128 << 20, 200},
		{256 << 20, 100},
		{540 << 20, 100},
		{4 << 30, 100},
	} {
		if got := Percent(c.live); got != c.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// garbage is where the tests keep what they allocate, so that the
// compiler cannot leave it out.
var garbage [][]byte

func TestATunerReleasesOnceAtTheFirstIdleTickOfEachSpell(t *testing.T) {
	released := 0
	tu := newTuner(false, func() { released++ })
	tu.tick() // nothing allocated since newTuner: idle
	tu.tick()
	if released != 1 {
		t.Fatalf("after two idle ticks: released %d times, want 1", released)
	}
	garbage = append(garbage, make([]byte, 2*idleAllocs))
	tu.tick()
	if released != 1 {
		t.Fatalf("after a busy tick: released %d times, want still 1", released)
	}
	tu.tick()
	tu.tick()
	if released != 2 {
		t.Fatalf("after the next idle ticks: released %d times, want 2", released)
	}
	garbage = nil
}

func TestAnIdleTickReturnsTheFreeHeapToTheSystem(t *testing.T) {
	free := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	tu := newTuner(false, debug.FreeOSMemory)
	for range 64 {
		garbage = append(garbage, make([]byte, 1<<20))
	}
	garbage = nil
	runtime.GC()
	tu.tick() // busy: the 64 MiB above
	if got := free(); got < 32<<20 {
		t.Fatalf("after 64 MiB freed, and a busy tick: %d MiB of free heap held, want at least 32 (the runtime returns free heap slowly by itself)", got>>20)
	}
	tu.tick() // idle
	if got := free(); got > 8<<20 {
		t.Errorf("after an idle tick: %d MiB of free heap held, want at most 8", got>>20)
	}
}

func TestStartPacesTheCollectorBeforeItReturns(t *testing.T) {
	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	started = sync.Once{} // as in a new process, whatever ran before
	ctx, cancel := context.WithCancel(context.Background())
	Start(ctx, func(string) string { return "" })
	if got := gogc(); got != high {
		t.Errorf("GOGC right after Start = %d, want %d (a test's live heap is small)", got, high)
	}
	cancel()
	// Start's goroutine puts Go's default back as it ends: wait for it, so
	// that it cannot change the pace under another test.
	for deadline := time.Now().Add(10 * time.Second); gogc() != low; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC = %d 10 s after Start's context ended, want %d", gogc(), low)
		}
	}
}

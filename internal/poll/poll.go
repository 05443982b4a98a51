// Package poll waits, in tests, for what other goroutines or processes bring
// about: it checks a condition in real time until it holds or a bound
// passes. It is the one such loop the tests use; a test that can drive time
// itself (a fake clock, testing/synctest) should do that instead.
package poll

import (
	"runtime"
	"testing"
	"time"
)

// The pause between checks starts as a yield, so a condition that a
// goroutine about to run makes true is seen at once (fake-clock timers
// start such goroutines), then grows to maxPause, so a long wait does not
// spin on a shared machine.
const (
	yields   = 10
	minPause = time.Millisecond
	maxPause = 10 * time.Millisecond
)

// Within checks cond until it holds or within has passed, and reports
// whether it held. cond runs on the caller's goroutine, so it may call
// t.Fatal; it is checked once more at the bound.
func Within(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	pause := time.Duration(0)
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		switch {
		case i < yields:
			runtime.Gosched()
			continue
		case pause == 0:
			pause = minPause
		case pause < maxPause:
			pause = min(2*pause, maxPause)
		}
		time.Sleep(pause)
	}
}

// Until checks cond until it holds, failing t, with what it waited for, if
// within passes first.
func Until(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(within, cond) {
		t.Fatalf("not within %v: %s", within, what)
	}
}

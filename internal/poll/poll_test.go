package poll_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/poll"
)

func TestWithin(t *testing.T) {
	t.Parallel()
	t.Run("returns as soon as the condition holds", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int32
		go func() {
			for range 3 {
				n.Add(1)
			}
		}()
		if !poll.Within(10*time.Second, func() bool { return n.Load() == 3 }) {
			t.Errorf("Within = false, want true")
		}
	})
	t.Run("reports false once the bound has passed", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		checks := 0
		if poll.Within(50*time.Millisecond, func() bool { checks++; return false }) {
			t.Errorf("Within = true for a condition that never holds")
		}
		if took := time.Since(start); took < 50*time.Millisecond {
			t.Errorf("gave up after %v, want at least the 50ms bound", took)
		}
		if checks < 2 {
			t.Errorf("checked %d times, want the condition polled", checks)
		}
	})
	t.Run("checks a condition that holds at once only once", func(t *testing.T) {
		t.Parallel()
		checks := 0
		poll.Within(time.Second, func() bool { checks++; return true })
		if checks != 1 {
			t.Errorf("checks = %d, want 1", checks)
		}
	})
}

func TestUntilFailsTheTestSayingWhatItWaitedFor(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf ends the goroutine it runs on, as it ends a test's
		defer close(done)
		poll.Until(rec, 20*time.Millisecond, "the queue to drain", func() bool { return false })
	}()
	<-done
	if want := "not within 20ms: the queue to drain"; rec.msg != want {
		t.Errorf("failure = %q, want %q", rec.msg, want)
	}
}

// recorder keeps the message a helper fails with instead of failing.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

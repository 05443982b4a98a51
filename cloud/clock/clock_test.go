package clock_test

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/cloud/clock"
)

func TestAFakeClockRunsScheduledCallsOnlyWhenAdvancedPastThem(t *testing.T) {
	start := time.Date(2025, 5, 3, 12, 0, 0, 0, time.UTC)
	c := clock.NewFake(start)
	fired := make(chan string, 3)
	c.AfterFunc(2*time.Second, func() { fired <- "2s" })
	stopped := c.AfterFunc(time.Second, func() { fired <- "stopped" })
	c.AfterFunc(5*time.Second, func() { fired <- "5s" })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending call = false")
	}
	c.Advance(1500 * time.Millisecond)
	select {
	case f := <-fired:
		t.Fatalf("%s fired before its time", f)
	case <-time.After(20 * time.Millisecond):
	}
	c.Advance(time.Second)
	if got := <-fired; got != "2s" {
		t.Errorf("fired %s, want 2s", got)
	}
	if got, want := c.Now(), start.Add(2500*time.Millisecond); !got.Equal(want) {
		t.Errorf("Now = %v, want %v", got, want)
	}
	if c.Pending() != 1 {
		t.Errorf("Pending = %d, want 1", c.Pending())
	}
	c.Set(start) // never backwards
	if !c.Now().Equal(start.Add(2500 * time.Millisecond)) {
		t.Errorf("Set moved the clock backwards")
	}
}

func TestTheRealClockRunsScheduledCalls(t *testing.T) {
	done := make(chan struct{})
	clock.Real().AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the real clock did not run a call due in 1 ms")
	}
}

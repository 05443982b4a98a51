package lambda

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/orderflow/orderflow/cloud/clock"
)

func TestAClockDeadlineEndsAsContextWithTimeoutDoes(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 5, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		timeout time.Duration
		advance time.Duration
		cancel  bool
		want    error // nil: not ended
	}{
		{"before its deadline", time.Second, time.Second - time.Nanosecond, false, nil},
		{"at its deadline", time.Second, time.Second, false, context.DeadlineExceeded},
		{"with no time at all", 0, 0, false, context.DeadlineExceeded},
		{"cancelled before its deadline", time.Second, 0, true, context.Canceled},
		{"cancelled after its deadline", time.Second, time.Second, true, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clk := clock.NewFake(t0)
				ctx, cancel := withTimeout(clk, tt.timeout)
				defer cancel()
				derived, cancelDerived := context.WithCancel(ctx)
				defer cancelDerived()
				if d, ok := derived.Deadline(); !ok || !d.Equal(t0.Add(tt.timeout)) {
					t.Errorf("Deadline = %v, %t; want %v", d, ok, t0.Add(tt.timeout))
				}
				clk.Advance(tt.advance)
				synctest.Wait()
				if tt.cancel {
					cancel()
					synctest.Wait()
				}
				for name, c := range map[string]context.Context{"the context": ctx, "a derived context": derived} {
					if got := c.Err(); !errors.Is(got, tt.want) || (got == nil) != (tt.want == nil) {
						t.Errorf("%s: Err = %v, want %v", name, got, tt.want)
					}
					select {
					case <-c.Done():
						if tt.want == nil {
							t.Errorf("%s is done", name)
						}
					default:
						if tt.want != nil {
							t.Errorf("%s is not done", name)
						}
					}
				}
			})
		})
	}
}

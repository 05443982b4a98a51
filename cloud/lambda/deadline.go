package lambda

import (
	"context"
	"sync"
	"time"

	"github.com/orderflow/orderflow/cloud/clock"
)

// withTimeout is context.WithTimeout on the host's clock: the context's
// Deadline is the clock's now plus d, and it ends with
// context.DeadlineExceeded when the clock passes it. (context.WithTimeout
// reads the machine's clock, which a test's fake clock cannot move.)
//
// The context is its own root rather than a wrapper of a context.WithCancel:
// contexts derived from it then take their error from its Err, so they too
// report context.DeadlineExceeded, as they would under context.WithTimeout.
func withTimeout(clk clock.Clock, d time.Duration) (context.Context, context.CancelFunc) {
	c := &deadlineContext{deadline: clk.Now().Add(d), done: make(chan struct{})}
	if d <= 0 {
		c.end(context.DeadlineExceeded)
		return c, func() {}
	}
	timer := clk.AfterFunc(d, func() { c.end(context.DeadlineExceeded) })
	return c, func() {
		timer.Stop()
		c.end(context.Canceled)
	}
}

type deadlineContext struct {
	deadline time.Time
	done     chan struct{}

	mu  sync.Mutex
	err error
}

func (c *deadlineContext) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.done)
	}
}

func (c *deadlineContext) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *deadlineContext) Done() <-chan struct{}       { return c.done }
func (c *deadlineContext) Value(any) any               { return nil }

func (c *deadlineContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *deadlineContext) String() string { return "lambda.withTimeout(" + c.deadline.String() + ")" }

package lambda

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// This file changes and deletes what CreateFunction and
// CreateEventSourceMapping made, as a stack update or delete does.
//
// A function is never mutated: an update builds a new one under the same
// name and swaps it in, so an invocation that began on the old one ends on
// it. Its mappings take the new one from their next batch on. A zip
// function's old processes are drained: idle ones are killed at once, busy
// ones when their invocation ends.
//
// DeleteFunction, as on AWS, leaves the event source mappings that name the
// function (CloudFormation deletes them first, since they depend on it):
// their pollers stop, so no batch is received for a function that is gone,
// and DeleteEventSourceMapping removes them.

// UpdateFunction changes the function f.Name in place: its configuration
// (environment, timeout, memory, architecture, runtime) and its code —
// f.Zip when set, else what is registered under its name, in-process or
// zip. Its log stream stays the same.
func (h *Host) UpdateFunction(_ context.Context, f Function) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errClosed
	}
	old, ok := h.functions[f.Name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrFunctionNotFound, f.Name)
	}
	for _, m := range h.mappings {
		if m.fn() == old && f.TimeoutSec > m.q.VisibilityTimeoutSec {
			return fmt.Errorf("lambda: InvalidParameterValueException: Queue visibility timeout: %d seconds is less than Function timeout: %d seconds",
				m.q.VisibilityTimeoutSec, f.TimeoutSec)
		}
	}
	fn, err := h.build(f, old.logs, "")
	if err != nil {
		return err
	}
	fn.created = old.created
	h.functions[f.Name] = fn
	for _, m := range h.mappings {
		if m.fn() == old {
			m.fnp.Store(fn)
		}
	}
	h.retire(old)
	return nil
}

// DeleteFunction deletes the function name (or ARN), with its published
// versions and aliases, and stops the pollers of the mappings that invoke
// them. A name NAME:VERSION deletes that version alone.
func (h *Host) DeleteFunction(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	name = functionName(name)
	old, ok := h.functions[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrFunctionNotFound, name)
	}
	gone := []*function{old}
	if !strings.Contains(name, ":") {
		// The function goes with its versions and aliases, as on AWS.
		for key, fn := range h.functions {
			if strings.HasPrefix(key, name+":") {
				gone = append(gone, fn)
			}
		}
		delete(h.versions, name)
		delete(h.aliases, name)
	}
	for _, fn := range gone {
		delete(h.functions, fn.key)
		for _, m := range h.mappings {
			if m.fn() == fn {
				m.stop()
			}
		}
		h.retire(fn)
	}
	return nil
}

// UpdateEventSourceMapping changes the mapping id's batch size, batching
// window, maximum concurrency, response types, function and Enabled. Its
// queue cannot change (CloudFormation replaces the mapping). The pollers
// restart with the new configuration; a batch in flight settles first.
func (h *Host) UpdateEventSourceMapping(ctx context.Context, id string, m EventSourceMapping) error {
	h.mu.Lock()
	mp, ok := h.mappings[id]
	fn, fnOK := h.functions[functionName(m.FunctionName)]
	closed := h.closed
	h.mu.Unlock()
	switch {
	case closed:
		return errClosed
	case !ok:
		return fmt.Errorf("%w: event source mapping %s", ErrMappingNotFound, id)
	case !fnOK:
		return fmt.Errorf("%w: %s", ErrFunctionNotFound, m.FunctionName)
	case m.EventSourceArn != "" && m.EventSourceArn != mp.q.ARN:
		return fmt.Errorf("lambda: the event source of mapping %s cannot change from %s to %s: create a new mapping", id, mp.q.ARN, m.EventSourceArn)
	}
	m.EventSourceArn = mp.q.ARN
	if err := m.validate(); err != nil {
		return err
	}
	if err := h.checkTimeouts(fn, mp.q, m); err != nil {
		return err
	}
	// Stop the pollers and let the batches in flight settle, so that none
	// runs half on the old configuration.
	mp.stop()
	done := make(chan struct{})
	go func() { mp.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("lambda: update event source mapping %s: waiting for its batches in flight: %w", id, ctx.Err())
	}
	mp.fnp.Store(fn)
	mp.cfgp.Store(&m)
	mp.mu.Lock()
	mp.modified = h.opts.Clock.Now()
	mp.mu.Unlock()
	return mp.setEnabled(m.Enabled)
}

// DeleteEventSourceMapping stops the mapping id's pollers and removes it;
// a batch in flight still settles with its queue.
func (h *Host) DeleteEventSourceMapping(_ context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	mp, ok := h.mappings[id]
	if !ok {
		return fmt.Errorf("%w: event source mapping %s", ErrMappingNotFound, id)
	}
	mp.stop()
	delete(h.mappings, id)
	h.deleted = append(h.deleted, mp)
	return nil
}

// retire drains fn's processes, if it has any; h.mu is held. Close kills
// what still runs; the list forgets those already drained.
func (h *Host) retire(fn *function) {
	h.retired = slices.DeleteFunc(h.retired, (*procFunction).drained)
	if fn.proc != nil {
		fn.proc.retire()
		h.retired = append(h.retired, fn.proc)
	}
}

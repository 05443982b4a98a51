package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// maxPayloadBytes is Lambda's synchronous invocation payload limit: a batch
// stops growing before its bodies could exceed it.
const maxPayloadBytes = 6 << 20

// maxMessageBytes is SQS's largest message, the most one receive can add.
const maxMessageBytes = 1 << 20

// defaultPollers is how many pollers a mapping without MaximumConcurrency runs.
const defaultPollers = 5

// mapping is one SQS event source mapping.
type mapping struct {
	id string
	h  *Host
	q  QueueInfo
	// api marks a mapping Lambda's API created, which the data file keeps
	// (durable.go); a stack's mappings are its stack's.
	api atomic.Bool
	// fn and cfg change in place (UpdateFunction, UpdateEventSourceMapping):
	// a poller reads them afresh for each batch.
	fnp  atomic.Pointer[function]
	cfgp atomic.Pointer[EventSourceMapping]

	mu       sync.Mutex // guards cancel, modified
	cancel   context.CancelFunc
	modified time.Time
	wg       sync.WaitGroup
	result   atomic.Pointer[string] // LastProcessingResult

	invocations, failedInvocations atomic.Int64
	received, deleted, retried     atomic.Int64
	running                        atomic.Bool
	active                         atomic.Int64 // pollers not yet returned
}

// MappingState describes an event source mapping for an operator.
type MappingState struct {
	UUID                  string
	FunctionName          string
	EventSourceArn        string
	State                 string // Enabled or Disabled
	BatchSize             int
	MaximumBatchingWindow int
	MaximumConcurrency    int
	Invocations           int64 // invocations so far
	FailedInvocations     int64 // invocations whose whole batch failed (error, panic, timeout, bad response)
	Received              int64 // records received
	Deleted               int64 // records deleted after success
	Retried               int64 // records left in the queue to be delivered again
	// Pollers is how many pollers run: all of them while the mapping is
	// enabled; once it is disabled, those still settling a batch. At zero a
	// disabled mapping can take nothing from its queue.
	Pollers int
}

func newMapping(h *Host, fn *function, q QueueInfo, cfg EventSourceMapping) *mapping {
	m := &mapping{id: awsproto.NewRequestID(), h: h, q: q, modified: h.opts.Clock.Now()}
	m.fnp.Store(fn)
	m.cfgp.Store(&cfg)
	m.setResult("No records processed")
	return m
}

func (m *mapping) setResult(s string) { m.result.Store(&s) }

// fn is the function the mapping invokes now.
func (m *mapping) fn() *function { return m.fnp.Load() }

// cfg is the mapping's configuration now.
func (m *mapping) cfg() EventSourceMapping { return *m.cfgp.Load() }

func (m *mapping) pollers() int {
	if m.cfg().MaximumConcurrency > 0 {
		return m.cfg().MaximumConcurrency
	}
	return defaultPollers
}

// start starts the pollers if they are not running.
func (m *mapping) start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.running.Store(true)
	for range m.pollers() {
		m.active.Add(1)
		m.wg.Go(func() {
			defer m.active.Add(-1)
			m.poll(ctx)
		})
	}
}

// stop stops the pollers; invocations in flight finish (wait waits for them).
func (m *mapping) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	}
	m.running.Store(false)
}

// setEnabled starts or stops the pollers, as UpdateEventSourceMapping does.
// A closed host starts none: Close waits for the pollers it stopped.
func (m *mapping) setEnabled(on bool) error {
	m.h.mu.Lock()
	defer m.h.mu.Unlock()
	if on && m.h.closed {
		return errClosed
	}
	if on {
		m.start()
	} else {
		m.stop()
	}
	m.mu.Lock()
	m.modified = m.h.opts.Clock.Now()
	m.mu.Unlock()
	return nil
}

func (m *mapping) state() MappingState {
	st := "Disabled"
	if m.running.Load() {
		st = "Enabled"
	}
	return MappingState{
		UUID: m.id, FunctionName: m.fn().cfg.Name, EventSourceArn: m.q.ARN, State: st,
		BatchSize: m.cfg().BatchSize, MaximumBatchingWindow: m.cfg().MaximumBatchingWindow, MaximumConcurrency: m.cfg().MaximumConcurrency,
		Invocations: m.invocations.Load(), FailedInvocations: m.failedInvocations.Load(),
		Received: m.received.Load(), Deleted: m.deleted.Load(), Retried: m.retried.Load(),
		Pollers: int(m.active.Load()),
	}
}

// poll is one poller: gather a batch, invoke, repeat until stopped.
func (m *mapping) poll(ctx context.Context) {
	var r runner
	defer r.stop()
	for ctx.Err() == nil {
		batch := m.gather(ctx)
		if len(batch) == 0 {
			continue
		}
		m.received.Add(int64(len(batch)))
		m.invoke(batch, &r)
	}
}

// runner is the goroutine a poller runs its handlers on: one that lives as
// long as the poller, so that the stack a handler grows through the SDK's
// deep calls is kept from one batch to the next rather than grown again on
// a new goroutine every invocation.
type runner struct{ tasks chan func() }

// run runs task on the runner's goroutine, starting one if it has none.
// The goroutine is idle: the poller invokes again only after the last task
// returned, or after abandon.
func (r *runner) run(task func()) {
	if r.tasks == nil {
		r.tasks = make(chan func())
		go func(tasks <-chan func()) {
			for task := range tasks {
				task()
			}
		}(r.tasks)
	}
	r.tasks <- task
}

// abandon leaves the goroutine to its task, which overran its timeout: it
// ends when the task returns, and the next task gets a new goroutine.
func (r *runner) abandon() { r.stop() }

// stop ends the goroutine once its task, if any, returns.
func (r *runner) stop() {
	if r.tasks != nil {
		close(r.tasks)
		r.tasks = nil
	}
}

// gather long-polls for a first record, then keeps receiving until the batch
// is full, the batching window has passed, or the payload limit is near.
func (m *mapping) gather(ctx context.Context) []events.SQSMessage {
	per := min(10, m.cfg().BatchSize)
	batch, err := m.h.opts.Queues.Receive(ctx, m.q, per, 20*time.Second)
	if err != nil {
		if ctx.Err() == nil {
			m.h.opts.Logger.Warn("event source mapping could not receive", "mapping", m.id, "queue", m.q.ARN, "error", err)
			m.h.sleep(ctx, time.Second) // do not spin on a queue that is gone
		}
		return nil
	}
	if len(batch) == 0 || m.cfg().MaximumBatchingWindow == 0 {
		return batch
	}
	clk := m.h.opts.Clock
	deadline := clk.Now().Add(time.Duration(m.cfg().MaximumBatchingWindow) * time.Second)
	size := payloadBytes(batch)
	for len(batch) < m.cfg().BatchSize && size+maxMessageBytes <= maxPayloadBytes {
		left := deadline.Sub(clk.Now())
		if left <= 0 || ctx.Err() != nil {
			break // the window is over, or the host is closing: invoke what we have
		}
		// A long poll returns as soon as a message is there, so waiting the
		// window's remaining whole seconds (at least one: SQS clients cannot
		// ask for a wait of zero, which they omit, and the queue's default
		// wait would apply) ends the batch at most a second late, and only
		// when the queue is empty.
		wait := min((left+time.Second-1)/time.Second*time.Second, 20*time.Second)
		more, err := m.h.opts.Queues.Receive(ctx, m.q, min(10, m.cfg().BatchSize-len(batch)), wait)
		if err != nil {
			break // invoke what we have; the rest stays in the queue
		}
		batch = append(batch, more...)
		size += payloadBytes(more)
	}
	return batch
}

func payloadBytes(recs []events.SQSMessage) int {
	n := 0
	for _, r := range recs {
		n += len(r.Body) + 512 // the record's other fields
	}
	return n
}

// outcome is how an invocation ended.
type outcome struct {
	resp    events.SQSEventResponse
	err     error
	timeout bool
}

// invoke runs the function on a batch and settles the batch with the queue.
func (m *mapping) invoke(batch []events.SQSMessage, r *runner) {
	fn := m.fn()
	reqID := awsproto.NewRequestID()
	clk := m.h.opts.Clock
	m.invocations.Add(1)
	// A zip function's execution environment starts (its init phase)
	// before the invocation's timeout does, as on Lambda.
	var (
		prepared *sandbox
		initErr  error
	)
	// An update retires the function's processes: a batch that took the
	// old function just before then runs on the new one.
	for range 3 {
		if fn.proc == nil {
			break
		}
		prepared, initErr = fn.proc.acquire(context.Background())
		if !errors.Is(initErr, errRetired) || m.fn() == fn {
			break
		}
		fn = m.fn()
	}
	fmt.Fprintf(fn.logs, "START RequestId: %s Version: %s\n", reqID, fn.cfg.Version)
	start := clk.Now()

	timeout := time.Duration(fn.cfg.TimeoutSec) * time.Second
	// The invocation is not cut short when the host closes: Close waits for
	// it, and for its handler even after the timeout has failed the batch.
	ctx, cancel := withTimeout(clk, timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: reqID, InvokedFunctionArn: fn.cfg.ARN})
	notes := &reportNotes{}
	ctx = withReportNotes(ctx, notes)
	done := make(chan outcome, 1)
	fl := m.h.track(fn.cfg.Name, reqID, start)
	r.run(func() {
		defer m.h.untrack(fl)
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: fmt.Errorf("panic: %v", p)}
			}
		}()
		if initErr != nil {
			done <- outcome{err: initErr}
			return
		}
		hctx := ctx
		if prepared != nil {
			hctx = withSandbox(ctx, prepared)
		}
		resp, err := fn.handler(hctx, events.SQSEvent{Records: batch})
		done <- outcome{resp: resp, err: err}
	})
	var out outcome
	select {
	case out = <-done:
	case <-ctx.Done():
		r.abandon()
		fl.timedOut.Store(true)
		out = outcome{timeout: true, err: ctx.Err()}
		if fn.proc != nil {
			<-done // a process, unlike a goroutine, is killed at once: its REPORT then has its memory
		}
	}
	if f := m.h.opts.Faults; f != nil && !out.timeout {
		crash, hold := f.AfterHandler(fn.cfg.Name)
		if crash {
			out = outcome{err: errors.New("the sandbox crashed after the handler returned (injected fault)")}
		}
		if hold < 0 {
			hold = time.Duration(m.q.VisibilityTimeoutSec)*time.Second + time.Second
		}
		if hold > 0 {
			// The messages become visible and are delivered again meanwhile.
			m.h.sleep(context.Background(), hold)
		}
	}
	elapsed := clk.Now().Sub(start)
	if out.timeout {
		fmt.Fprintf(fn.logs, "%s %s Task timed out after %.2f seconds\n", clk.Now().UTC().Format(time.RFC3339Nano), reqID, timeout.Seconds())
	} else if out.err != nil {
		b, _ := json.Marshal(map[string]string{"errorMessage": errorMessage(out.err), "errorType": errorType(out.err)})
		fmt.Fprintf(fn.logs, "%s %s ERROR Invoke Error %s\n", clk.Now().UTC().Format(time.RFC3339Nano), reqID, b)
	}
	fmt.Fprintf(fn.logs, "END RequestId: %s\n", reqID)
	billed := (elapsed + time.Millisecond - 1) / time.Millisecond
	fmt.Fprintf(fn.logs, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB%s\n",
		reqID, float64(elapsed.Microseconds())/1000, billed, fn.cfg.MemoryMB, notes.suffix())
	if f := m.h.opts.Invoked; f != nil {
		f(fn.cfg.Name, elapsed, out.err != nil || out.timeout)
	}

	keep, why := m.settle(batch, out)
	if why == "" {
		m.setResult("OK")
	} else {
		m.setResult("PROBLEM: Function call failed")
		m.failedInvocations.Add(1)
		m.h.opts.Logger.Warn("the whole batch returns to the queue", "mapping", m.id, "function", fn.cfg.Name, "requestId", reqID, "records", len(batch), "reason", why)
	}
	m.retried.Add(int64(len(keep)))
	var del []events.SQSMessage
	for _, r := range batch {
		if !keep[r.MessageId] {
			del = append(del, r)
		}
	}
	if len(del) == 0 {
		return
	}
	// Deleting is not cut short by a closing host either: a record whose
	// delete is lost is delivered again (a duplicate the function absorbs).
	dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer dcancel()
	if err := m.h.opts.Queues.Delete(dctx, m.q, del); err != nil {
		m.h.opts.Logger.Warn("event source mapping could not delete processed records", "mapping", m.id, "error", err)
	}
	m.deleted.Add(int64(len(del)))
}

// settle decides which records stay in the queue: all of them when the
// invocation failed as a whole (why says how), else those the partial batch
// response lists.
func (m *mapping) settle(batch []events.SQSMessage, out outcome) (keep map[string]bool, why string) {
	all := func() map[string]bool {
		k := make(map[string]bool, len(batch))
		for _, r := range batch {
			k[r.MessageId] = true
		}
		return k
	}
	switch {
	case out.timeout:
		return all(), "the function timed out"
	case out.err != nil:
		return all(), "the function failed: " + out.err.Error()
	case !m.cfg().ReportBatchItemFailure:
		return nil, ""
	}
	inBatch := all()
	keep = map[string]bool{}
	for _, f := range out.resp.BatchItemFailures {
		if f.ItemIdentifier == "" || !inBatch[f.ItemIdentifier] {
			return inBatch, fmt.Sprintf("the response names the item identifier %q, which is not in the batch", f.ItemIdentifier)
		}
		keep[f.ItemIdentifier] = true
	}
	if m.q.FIFO {
		n := len(keep)
		keepGroupTails(batch, keep)
		if len(keep) > n {
			m.h.opts.Logger.Warn("the partial batch response left out records that follow a failed record of their FIFO message group: they return to the queue too, to keep the group's order",
				"mapping", m.id, "queue", m.q.ARN, "reported", n, "kept", len(keep))
		}
	}
	return keep, ""
}

// keepGroupTails adds to keep every record of a FIFO batch that follows a
// kept record of its message group: deleting it would let it overtake the
// record kept before it, which comes back after the visibility timeout.
// Records of other groups are settled on their own. A record without a
// group (none should come from a FIFO queue) is in the group "".
func keepGroupTails(batch []events.SQSMessage, keep map[string]bool) {
	stopped := map[string]bool{}
	for _, r := range batch {
		g := r.Attributes["MessageGroupId"]
		switch {
		case stopped[g]:
			keep[r.MessageId] = true
		case keep[r.MessageId]:
			stopped[g] = true
		}
	}
}

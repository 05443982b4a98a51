package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// MaxResponseBytes is the largest response a synchronous invocation
// returns: Lambda's 6 MB, which it counts as 6 MiB plus 100 bytes.
const MaxResponseBytes = 6<<20 + 100

// logTailBytes is how much of an invocation's log LogType Tail returns.
const logTailBytes = 4 << 10

// maxAsyncInFlight bounds the asynchronous invocations running at once:
// each runs its handler in a goroutine of its own, and a caller could
// otherwise start them faster than they finish.
const maxAsyncInFlight = 64

// ErrFunctionNotFound is Invoke's error for a function the host does not
// have.
var ErrFunctionNotFound = errors.New("lambda: function not found")

// ErrMappingNotFound marks an event source mapping that does not exist.
var ErrMappingNotFound = errors.New("lambda: event source mapping not found")

// ErrTooManyInvocations is InvokeAsync's error when maxAsyncInFlight
// asynchronous invocations are already running.
var ErrTooManyInvocations = errors.New("lambda: too many asynchronous invocations are running")

// InvokeResult is what a synchronous invocation returned.
type InvokeResult struct {
	RequestID string
	// Payload is the function's response as JSON, or, when FunctionError
	// is set, the error document Lambda returns: {"errorMessage",
	// "errorType"}.
	Payload []byte
	// FunctionError is "Unhandled" when the function failed (an error, a
	// panic, a timeout, a response too large), else "".
	FunctionError string
	// LogTail is the end (the last 4 KB) of the invocation's log: its
	// START, END and REPORT lines and what the function wrote meanwhile.
	// The function's log stream is shared by its invocations, so lines of
	// others running at the same time (an event source mapping's) can
	// appear in it too.
	LogTail []byte
}

// HasFunction reports whether the host has the function (by name).
func (h *Host) HasFunction(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.functions[name]
	return ok
}

// Invoke runs the function name (by name) on payload, a JSON event, as
// Lambda's synchronous Invoke does: START, END and REPORT lines in its log,
// its timeout as the deadline, and its failure reported in the result (not
// as err), as Lambda reports it. err is ErrFunctionNotFound, errClosed, or
// ctx's error if ctx ends first (the function goes on, and the host's Close
// waits for it).
//
// A zip function's process gets the payload as it is and its response is
// returned as it is. An in-process function is a Go handler of the SQS
// shape: the payload is decoded into an events.SQSEvent as aws-lambda-go
// decodes it (unknown fields ignored), and the response encoded back to
// JSON.
func (h *Host) Invoke(ctx context.Context, name string, payload []byte) (InvokeResult, error) {
	fn, err := h.begin(name)
	if err != nil {
		return InvokeResult{}, err
	}
	done := make(chan InvokeResult, 1)
	go func() {
		defer h.handlers.Done()
		done <- h.run(fn, payload, true)
	}()
	select {
	case res := <-done:
		return res, nil
	case <-ctx.Done():
		return InvokeResult{}, fmt.Errorf("lambda: invoke %s: %w", name, ctx.Err())
	}
}

// InvokeAsync starts the function name on payload in the background, as
// Lambda's asynchronous (Event) invocation does, and returns the
// invocation's request id. A failure is logged in the function's log; it is
// not retried (Lambda retries an asynchronous invocation twice).
func (h *Host) InvokeAsync(name string, payload []byte) (string, error) {
	select {
	case h.async.ch() <- struct{}{}:
	default:
		return "", ErrTooManyInvocations
	}
	fn, err := h.begin(name)
	if err != nil {
		<-h.async.ch()
		return "", err
	}
	reqID := awsproto.NewRequestID()
	go func() {
		defer h.handlers.Done()
		defer func() { <-h.async.ch() }()
		h.runWithID(fn, payload, reqID, false)
	}()
	return reqID, nil
}

// asyncSlots is a semaphore of asynchronous invocations, made on first use.
type asyncSlots struct {
	once  sync.Once
	slots chan struct{}
}

func (a *asyncSlots) ch() chan struct{} {
	a.once.Do(func() { a.slots = make(chan struct{}, maxAsyncInFlight) })
	return a.slots
}

// begin finds the function and counts the invocation as one Close waits
// for, unless the host is closed.
func (h *Host) begin(name string) (*function, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errClosed
	}
	fn, ok := h.functions[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrFunctionNotFound, name)
	}
	// Added under h.mu, before Close can mark the host closed and wait.
	h.handlers.Add(1)
	return fn, nil
}

func (h *Host) run(fn *function, payload []byte, tail bool) InvokeResult {
	return h.runWithID(fn, payload, awsproto.NewRequestID(), tail)
}

// runWithID is one invocation, logged as Lambda logs it.
func (h *Host) runWithID(fn *function, payload []byte, reqID string, tail bool) InvokeResult {
	res := InvokeResult{RequestID: reqID}
	var tb *tailBuffer
	if t, ok := fn.logs.(*tap); ok && tail {
		tb = t.add()
		defer t.remove(tb)
	}
	clk := h.opts.Clock
	fmt.Fprintf(fn.logs, "START RequestId: %s Version: %s\n", reqID, fn.cfg.Version)
	start := clk.Now()
	timeout := time.Duration(fn.cfg.TimeoutSec) * time.Second
	ctx, cancel := withTimeout(clk, timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: reqID, InvokedFunctionArn: fn.cfg.ARN})

	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	fl := h.track(fn.cfg.Name, reqID, start)
	go func() {
		defer h.untrack(fl)
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: panicError{p}}
			}
		}()
		out, err := invokeHandler(ctx, fn, payload)
		done <- result{out, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		fl.timedOut.Store(true)
		res.FunctionError = "Unhandled"
		res.Payload, _ = json.Marshal(errorDoc{
			ErrorType:    "Sandbox.Timedout",
			ErrorMessage: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", reqID, timeout.Seconds()),
		})
		fmt.Fprintf(fn.logs, "%s %s Task timed out after %.2f seconds\n", clk.Now().UTC().Format(time.RFC3339Nano), reqID, timeout.Seconds())
	}
	if res.FunctionError == "" {
		switch {
		case r.err != nil:
			res.FunctionError = "Unhandled"
			res.Payload, _ = json.Marshal(errorDoc{ErrorMessage: r.err.Error(), ErrorType: errorType(r.err)})
			fmt.Fprintf(fn.logs, "%s %s ERROR Invoke Error %s\n", clk.Now().UTC().Format(time.RFC3339Nano), reqID, res.Payload)
		case len(r.out) > MaxResponseBytes:
			res.FunctionError = "Unhandled"
			res.Payload, _ = json.Marshal(errorDoc{
				ErrorMessage: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponseBytes),
				ErrorType:    "Function.ResponseSizeTooLarge",
			})
		default:
			res.Payload = r.out
		}
	}
	elapsed := clk.Now().Sub(start)
	fmt.Fprintf(fn.logs, "END RequestId: %s\n", reqID)
	billed := (elapsed + time.Millisecond - 1) / time.Millisecond
	fmt.Fprintf(fn.logs, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\n",
		reqID, float64(elapsed.Microseconds())/1000, billed, fn.cfg.MemoryMB)
	if f := h.opts.Invoked; f != nil {
		f(fn.cfg.Name, elapsed, res.FunctionError != "")
	}
	if tb != nil {
		res.LogTail = tb.bytes()
	}
	return res
}

// invokeHandler runs fn on payload. A zip function's process gets the
// payload and answers as it likes, as on Lambda; an in-process handler, of
// the SQS shape, gets the payload decoded as aws-lambda-go decodes it, and
// its response is encoded.
func invokeHandler(ctx context.Context, fn *function, payload []byte) ([]byte, error) {
	if fn.proc != nil {
		return fn.proc.invoke(ctx, payload)
	}
	handler := fn.handler
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	resp, err := handler(ctx, ev)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// errorDoc is the error document Lambda returns for a failed invocation.
type errorDoc struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// panicError is a handler's panic, reported as aws-lambda-go reports it:
// the panic value's type and text.
type panicError struct{ value any }

func (p panicError) Error() string { return fmt.Sprint(p.value) }

// errorType names an error's type as Lambda reports it: the type a
// process function's runtime gave (a FunctionError), else as aws-lambda-go
// names a Go handler's error: the type's name without its package or
// pointer ("errorString").
func errorType(err error) string {
	var fe *FunctionError
	if errors.As(err, &fe) {
		return fe.Type
	}
	var v any = err
	if p, ok := err.(panicError); ok {
		v = p.value
	}
	t := reflect.TypeOf(v)
	if t == nil {
		return "nil"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// tap passes a function's log on, and copies it to the invocations that
// want their log's tail while they run.
type tap struct {
	w     io.Writer
	mu    sync.Mutex
	tails map[*tailBuffer]struct{}
}

func newTap(w io.Writer) *tap { return &tap{w: w, tails: map[*tailBuffer]struct{}{}} }

func (t *tap) Write(p []byte) (int, error) {
	t.mu.Lock()
	for tb := range t.tails {
		tb.write(p)
	}
	t.mu.Unlock()
	return t.w.Write(p)
}

func (t *tap) add() *tailBuffer {
	tb := &tailBuffer{}
	t.mu.Lock()
	t.tails[tb] = struct{}{}
	t.mu.Unlock()
	return tb
}

func (t *tap) remove(tb *tailBuffer) {
	t.mu.Lock()
	delete(t.tails, tb)
	t.mu.Unlock()
}

// tailBuffer keeps the last logTailBytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) write(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*logTailBytes {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-logTailBytes:]...)
	}
}

func (b *tailBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) > logTailBytes {
		return append([]byte(nil), b.buf[len(b.buf)-logTailBytes:]...)
	}
	return append([]byte(nil), b.buf...)
}

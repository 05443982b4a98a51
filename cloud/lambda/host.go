// Package lambda is the embedded cloud's function host: Go handlers of
// aws-lambda-go's SQS shape, registered by function name, invoked by SQS
// event source mappings that poll their queue as AWS's poller does.
//
// A function is either in-process (a Go handler, Register) or a zip
// (RegisterZip): the provided.al2023 artefact, whose bootstrap runs as
// child processes speaking the Lambda Runtime API, which the host serves
// on loopback, one server and one process per execution environment
// (process.go, runtimeapi.go). An environment is kept warm and reused, and
// killed with its process group on a timeout or a crash; a bootstrap built
// for another architecture runs under qemu-user. Close kills them all.
//
// Lambda's API (API: api.go and api_*.go) reads and invokes functions, and
// creates, updates and deletes zip functions (the zip in the request or in
// the embedded S3, Options.Code), their published versions (versions.go:
// each a function of its own, running the code and configuration it was
// published with while $LATEST changes), their aliases and their SQS event
// source mappings.
//
// A mapping long-polls its queue through the SQS API, gathers a batch (up to
// BatchSize records, or whatever arrived within the batching window),
// invokes the function with the function's timeout as the context deadline,
// and then deletes the batch on success. With ReportBatchItemFailures it
// deletes all but the records the response lists; a response that names an
// empty or unknown item identifier, an error, a panic or a timeout fails the
// whole batch, whose messages return after the visibility timeout. Each
// invocation writes Lambda's START, END and REPORT lines to the log sink.
//
// FIFO queues (names ending in ".fifo"): the queue hands out a message
// group's messages in order and none of a group while one of its messages
// is in flight, so concurrent batches never share a group; each batch is
// one receive, invoked whole (no batching window, at most 10 records, as
// AWS requires). Records carry MessageGroupId, MessageDeduplicationId and
// SequenceNumber. A record the response lists keeps every later record
// of its group in the queue with it, listed or not, so that none overtakes
// it; the other groups' records are deleted. The group comes back, in
// order, after the visibility timeout.
//
// Concurrency: a mapping runs MaximumConcurrency pollers (5 when it sets
// none, AWS's starting number), each invoking its own batch, so no more than
// MaximumConcurrency invocations run at once and a poller never receives
// more than it can invoke: unlike AWS, which scales pollers up to 1,250, the
// host does not throttle, so no message gains a receive from throttling.
//
// Time: every wait the host makes (the batching window, the function's
// timeout, the pause after a failed receive, an injected fault's hold) is on
// Options.Clock, so tests move time instead of sleeping.
//
// Shutdown: an in-process handler runs in a goroutine of its own. When it overruns its
// timeout the batch fails at once, as on AWS, but Go cannot kill the
// goroutine as Lambda kills a sandbox; Close waits for it too, and reports it
// if Close's context ends first.
package lambda

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
)

// Handler is a function of aws-lambda-go's SQS shape.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Config is a function's configuration as the template gives it, for a
// factory to build the function's handler from (as a bootstrap reads its
// environment on AWS).
type Config struct {
	Name string
	// Version is the version this is of the function: "$LATEST", or a
	// number once published (PublishVersion), whose ARN is qualified.
	Version     string
	ARN         string
	Environment map[string]string
	TimeoutSec  int
	MemoryMB    int
	LogGroup    string
	// Logs is the function's log stream: what the handler writes here appears
	// in the host's log sink between the invocation's START and END lines.
	Logs io.Writer
}

// Factory builds a function's handler from its configuration.
type Factory func(cfg Config) (Handler, error)

// Options configure a Host.
type Options struct {
	// Queues is the SQS API the event source mappings poll. Required.
	Queues Queues
	// Env gives the region and account in function ARNs; its zero fields
	// take awsenv's defaults.
	awsenv.Env
	// Clock drives the host's time: batching windows, function timeouts
	// (the deadline of the handler's context), the pause after a failed
	// receive, injected fault holds, and durations in REPORT lines. Default
	// the machine's clock.
	Clock clock.Clock
	// Logs is the log sink: START/END/REPORT lines and the functions' own
	// lines. Default: discard.
	Logs io.Writer
	// Logger receives the host's own warnings (a short visibility timeout).
	// Default: discard.
	Logger *slog.Logger
	// Faults, if set, injects failures around invocations (tests, and
	// `orderflow up --fault`).
	Faults Faults
	// LogStream, if set, gives each function a log stream in its log group
	// (the template's LoggingConfig.LogGroup, or /aws/lambda/NAME): the
	// function's lines go there as well as to Logs.
	LogStream func(group, stream string) io.Writer
	// Invoked, if set, is told of every invocation once it ends, for
	// Lambda's built-in metrics (Invocations, Errors, Duration): the
	// function's name, how long it ran and whether it failed (an error, a
	// timeout, a crash; not a partial batch response). It must not block.
	Invoked func(function string, elapsed time.Duration, failed bool)

	// Credentials are the keys a zip function's process gets in
	// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, so that its SDK calls
	// to Env.BaseURL (its AWS_ENDPOINT_URL) are accepted.
	Credentials Credentials
	// InitTimeout bounds a zip function's init: from starting its
	// bootstrap to its first GET /next. Default DefaultInitTimeout.
	InitTimeout time.Duration
	// MaxUnpackedBytes bounds a zip function's unpacked code. Default
	// DefaultMaxUnpackedBytes.
	MaxUnpackedBytes int64
	// Emulator returns the user-mode emulator that runs a bootstrap built
	// for Lambda's architecture arch (arm64, x86_64) on this machine, or
	// an error when there is none. Default: qemu-aarch64-static (for
	// arm64) or qemu-x86_64-static looked up on PATH.
	Emulator func(arch string) (string, error)
	// DB and Journal, if set, keep what Lambda's API creates (functions,
	// versions, aliases, mappings) in the cloud's data file, and New
	// restores it (durable.go).
	DB      *bbolt.DB
	Journal *journal.Journal
	// Code reads a function's zip from S3 for Lambda's API
	// (CreateFunction and UpdateFunctionCode with Code.S3Bucket/S3Key).
	// Default: none, and such calls are refused.
	Code CodeSource
}

// CodeSource reads a function's zip from a bucket: the embedded S3.
type CodeSource interface {
	Object(ctx context.Context, bucket, key string) ([]byte, error)
}

// Faults injects failures around an invocation.
type Faults interface {
	// AfterHandler is asked once the handler has returned: crash fails the
	// invocation as a crashed sandbox would (its writes done, nothing
	// deleted); a hold delays settling the batch, and a negative hold means
	// past the queue's visibility timeout.
	AfterHandler(function string) (crash bool, hold time.Duration)
}

// ErrNoCode marks a function the host has no code for: no zip given, and
// nothing registered under its name.
var ErrNoCode = errors.New("lambda: no Go handler is registered")

// errClosed refuses work once Close has begun.
var errClosed = errors.New("lambda: the host is closed")

// Host runs functions and their event source mappings.
type Host struct {
	opts Options
	sink *sink

	mu        sync.Mutex
	factories map[string]Factory
	zips      map[string][]byte
	functions map[string]*function
	mappings  map[string]*mapping
	// versions is the last version number published of each function
	// (numbers are never reused while it exists); aliases, each
	// function's aliases by name (versions.go).
	versions map[string]int
	aliases  map[string]map[string]*Alias
	closed   bool
	// retired are the processes of functions updated or deleted, drained
	// but perhaps still running an invocation; deleted are the mappings
	// deleted, whose last batches may still settle. Close waits for both.
	retired []*procFunction
	deleted []*mapping

	// Handlers run in goroutines of their own, which outlive their
	// invocation when the function times out; Close waits for them.
	handlers sync.WaitGroup
	fmu      sync.Mutex
	flights  map[*flight]struct{}

	async asyncSlots // bounds InvokeAsync's invocations in flight
}

// flight is a handler that has not returned yet.
type flight struct {
	function, requestID string
	started             time.Time
	timedOut            atomic.Bool // its timeout has failed the batch
}

// New returns a host with no functions.
func New(opts Options) (*Host, error) {
	if opts.Queues == nil {
		return nil, errors.New("lambda: Options.Queues is required")
	}
	opts.Env = opts.Env.WithDefaults()
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Logs == nil {
		opts.Logs = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = DefaultInitTimeout
	}
	if opts.MaxUnpackedBytes <= 0 {
		opts.MaxUnpackedBytes = DefaultMaxUnpackedBytes
	}
	if opts.Emulator == nil {
		opts.Emulator = func(arch string) (string, error) { return exec.LookPath(qemuName(arch)) }
	}
	h := &Host{
		opts:      opts,
		sink:      &sink{w: opts.Logs},
		factories: map[string]Factory{},
		zips:      map[string][]byte{},
		functions: map[string]*function{},
		mappings:  map[string]*mapping{},
		versions:  map[string]int{},
		aliases:   map[string]map[string]*Alias{},
		flights:   map[*flight]struct{}{},
	}
	if opts.DB != nil {
		if err := h.restore(); err != nil {
			h.Close(context.Background())
			return nil, err
		}
	}
	return h, nil
}

// Register binds a function name to the Go code that implements it. A
// template's AWS::Lambda::Function of that name then runs it.
func (h *Host) Register(name string, f Factory) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.zips, name)
	h.factories[name] = f
}

// Function is a function as the host runs it: the parts of an
// AWS::Lambda::Function (or a CreateFunction call) that the host uses.
type Function struct {
	Name          string
	Runtime       string
	Handler       string
	Architectures []string
	MemoryMB      int
	TimeoutSec    int
	Environment   map[string]string
	Role          string
	LogGroup      string
	Description   string
	// api marks a function Lambda's API created, which the API keeps in
	// the data file (durable.go); the stacks' functions are their stacks'.
	api bool
	// Zip, if set, is the function's code: a provided.al2023 zip, which
	// the host runs in place of what is registered under Name.
	Zip []byte
}

// EventSourceMapping is an SQS event source mapping as the host runs it: the
// parts of an AWS::Lambda::EventSourceMapping that the host uses.
type EventSourceMapping struct {
	EventSourceArn         string
	FunctionName           string
	Enabled                bool
	BatchSize              int
	MaximumBatchingWindow  int // seconds
	ReportBatchItemFailure bool
	MaximumConcurrency     int // 0: no limit set
}

type function struct {
	key     string // its name in Host.functions: NAME, or NAME:VERSION
	cfg     Config
	spec    Function
	handler Handler
	proc    *procFunction // the zip function's processes; nil in-process
	created time.Time
	logs    io.Writer // the sink, and the function's log stream if any

	// What Lambda's API reports of it: the zip it runs (nil in-process),
	// its CodeSha256 (base64 of the zip's SHA-256), when it was last
	// built, and its revision, new with each change.
	code     []byte
	sha256   string
	modified time.Time
	revision string
}

// CreateFunction creates the function f: from f.Zip when it is set, else
// from the Go code or the zip registered under its name.
func (h *Host) CreateFunction(_ context.Context, f Function) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.functions[f.Name]; dup {
		return "", fmt.Errorf("%w: %s", ErrFunctionExists, f.Name)
	}
	fn, err := h.build(f, nil, "")
	if err != nil {
		return "", err
	}
	h.functions[f.Name] = fn
	return fn.cfg.ARN, nil
}

// ErrFunctionExists is CreateFunction's error for a name already taken.
var ErrFunctionExists = errors.New("lambda: function already exists")

// build makes the function f, writing to logs (a new log stream when nil),
// as its $LATEST (version "") or as a published version. h.mu is held.
func (h *Host) build(f Function, logs io.Writer, version string) (*function, error) {
	factory, ok := h.factories[f.Name]
	zip, isZip := h.zips[f.Name]
	if f.Zip != nil {
		zip, isZip = f.Zip, true
	}
	if !ok && !isZip {
		return nil, fmt.Errorf("%w for function %s, and no zip: register an in-process handler (Host.Register) or the function's provided.al2023 zip (Host.RegisterZip)", ErrNoCode, f.Name)
	}
	if logs == nil {
		logs = h.sink
		if h.opts.LogStream != nil {
			group := f.LogGroup
			if group == "" {
				group = "/aws/lambda/" + f.Name
			}
			// Lambda names a stream after the day, the version and the instance.
			stream := h.opts.Clock.Now().UTC().Format("2006/01/02") + "/[" + cmp.Or(version, "$LATEST") + "]" + strings.ReplaceAll(awsproto.NewRequestID(), "-", "")
			logs = &sink{w: io.MultiWriter(h.sink, h.opts.LogStream(group, stream))}
		}
		// Invoke with LogType Tail reads an invocation's lines as they pass.
		logs = newTap(logs)
	}
	key, arn := f.Name, fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", h.opts.Region, h.opts.AccountID, f.Name)
	if version != "" {
		key, arn = key+":"+version, arn+":"+version
	}
	cfg := Config{
		Name:        f.Name,
		Version:     cmp.Or(version, "$LATEST"),
		ARN:         arn,
		Environment: f.Environment,
		TimeoutSec:  f.TimeoutSec,
		MemoryMB:    f.MemoryMB,
		LogGroup:    f.LogGroup,
		Logs:        logs,
	}
	f.Zip = nil // the unpacked copy is what runs
	now := h.opts.Clock.Now()
	fn := &function{key: key, cfg: cfg, spec: f, created: now, modified: now, logs: logs, revision: awsproto.NewRequestID()}
	if isZip {
		if h.closed {
			return nil, errClosed
		}
		proc, err := h.newProcFunction(cfg, f, zip)
		if err != nil {
			return nil, err
		}
		fn.handler, fn.proc, fn.code = proc.handle, proc, zip
	} else {
		handler, err := factory(cfg)
		if err != nil {
			return nil, fmt.Errorf("lambda: build function %s: %w", f.Name, err)
		}
		fn.handler = handler
	}
	sum := sha256.Sum256(fn.code)
	fn.sha256 = base64.StdEncoding.EncodeToString(sum[:])
	return fn, nil
}

// CreateEventSourceMapping validates m as AWS does and starts its pollers.
func (h *Host) CreateEventSourceMapping(ctx context.Context, m EventSourceMapping) (string, error) {
	return h.createMapping(ctx, m, "")
}

// createMapping is CreateEventSourceMapping, keeping the id given (a
// mapping restored from the data file) or making one ("").
func (h *Host) createMapping(ctx context.Context, m EventSourceMapping, id string) (string, error) {
	h.mu.Lock()
	fn, ok := h.functions[functionName(m.FunctionName)]
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return "", errClosed
	}
	if !ok {
		return "", fmt.Errorf("lambda: function %s does not exist", m.FunctionName)
	}
	if err := m.validate(); err != nil {
		return "", err
	}
	q, err := h.opts.Queues.Lookup(ctx, m.EventSourceArn)
	if err != nil {
		return "", fmt.Errorf("lambda: event source %s: %w", m.EventSourceArn, err)
	}
	if err := h.checkTimeouts(fn, q, m); err != nil {
		return "", err
	}
	mp := newMapping(h, fn, q, m)
	if id != "" {
		mp.id = id
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return "", errClosed
	}
	h.mappings[mp.id] = mp
	if m.Enabled {
		mp.start()
	}
	return mp.id, nil
}

// maxFIFOBatchSize is the largest BatchSize of a mapping of a FIFO queue.
const maxFIFOBatchSize = 10

// validate checks m's numbers as AWS does. A FIFO queue (its name ends in
// ".fifo") takes no batching window and batches of at most 10: AWS's
// message for the first is documented, the second's is the host's.
func (m EventSourceMapping) validate() error {
	fifo := IsFIFOQueueARN(m.EventSourceArn)
	switch {
	case fifo && m.MaximumBatchingWindow != 0:
		return errors.New("lambda: InvalidParameterValueException: Batching window is not supported for FIFO queues")
	case fifo && m.BatchSize > maxFIFOBatchSize:
		return fmt.Errorf("lambda: InvalidParameterValueException: BatchSize %d is above %d, the most for a FIFO queue", m.BatchSize, maxFIFOBatchSize)
	case m.BatchSize < 1 || m.BatchSize > 10000:
		return fmt.Errorf("lambda: BatchSize %d is outside 1–10000", m.BatchSize)
	case m.BatchSize > 10 && m.MaximumBatchingWindow < 1:
		return fmt.Errorf("lambda: a BatchSize of %d needs a MaximumBatchingWindowInSeconds of at least 1", m.BatchSize)
	case m.MaximumBatchingWindow < 0 || m.MaximumBatchingWindow > 300:
		return fmt.Errorf("lambda: MaximumBatchingWindowInSeconds %d is outside 0–300", m.MaximumBatchingWindow)
	case m.MaximumConcurrency != 0 && (m.MaximumConcurrency < 2 || m.MaximumConcurrency > 1000):
		return fmt.Errorf("lambda: MaximumConcurrency %d is outside 2–1000", m.MaximumConcurrency)
	}
	return nil
}

// checkTimeouts refuses a function whose timeout exceeds the queue's
// visibility timeout, as AWS does, and warns below its recommendation.
func (h *Host) checkTimeouts(fn *function, q QueueInfo, m EventSourceMapping) error {
	if fn.cfg.TimeoutSec > q.VisibilityTimeoutSec {
		return fmt.Errorf("lambda: InvalidParameterValueException: Queue visibility timeout: %d seconds is less than Function timeout: %d seconds",
			q.VisibilityTimeoutSec, fn.cfg.TimeoutSec)
	}
	if rec := 6*fn.cfg.TimeoutSec + m.MaximumBatchingWindow; q.VisibilityTimeoutSec < rec {
		h.opts.Logger.Warn("queue visibility timeout is below AWS's recommendation of 6 × function timeout + batching window",
			"queue", m.EventSourceArn, "visibilityTimeout", q.VisibilityTimeoutSec, "recommended", rec, "function", fn.cfg.Name)
	}
	return nil
}

// functionName accepts a function's name or ARN, as Lambda does.
func functionName(nameOrARN string) string {
	if strings.HasPrefix(nameOrARN, "arn:") {
		parts := strings.Split(nameOrARN, ":")
		if len(parts) >= 7 {
			return parts[6]
		}
	}
	return nameOrARN
}

// Mappings returns the state of every event source mapping.
func (h *Host) Mappings() []MappingState {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]MappingState, 0, len(h.mappings))
	for _, m := range h.mappings {
		out = append(out, m.state())
	}
	return out
}

// Close stops every mapping's pollers and waits, until ctx ends, for the
// invocations in flight to settle and for every handler to return, those
// whose batch their timeout already failed among them. If ctx ends first,
// Close returns an *AbandonedError naming what still runs.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	ms := make([]*mapping, 0, len(h.mappings))
	for _, m := range h.mappings {
		ms = append(ms, m)
	}
	ms = append(ms, h.deleted...)
	h.mu.Unlock()
	for _, m := range ms {
		m.stop()
	}
	done := make(chan struct{})
	go func() {
		// Only pollers start handlers, and none starts once the host is
		// closed: after the pollers, the handlers' count only falls.
		for _, m := range ms {
			m.wg.Wait()
		}
		h.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		h.killProcesses()
		return nil
	case <-ctx.Done():
	}
	// A process, unlike a goroutine, can be stopped: kill them, so that
	// no function outlives the host.
	h.killProcesses()
	err := &AbandonedError{Err: ctx.Err()}
	for _, m := range ms {
		err.Pollers += int(m.active.Load())
	}
	h.fmu.Lock()
	for f := range h.flights {
		err.Invocations = append(err.Invocations, Invocation{Function: f.function, RequestID: f.requestID, Started: f.started, TimedOut: f.timedOut.Load()})
	}
	h.fmu.Unlock()
	slices.SortFunc(err.Invocations, func(a, b Invocation) int {
		return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.RequestID, b.RequestID))
	})
	for _, inv := range err.Invocations {
		h.opts.Logger.Warn("the host closed while a handler was still running", "function", inv.Function, "requestId", inv.RequestID,
			"started", inv.Started, "timedOut", inv.TimedOut)
	}
	if len(err.Invocations) == 0 && err.Pollers == 0 {
		return nil // everything ended as ctx did
	}
	return err
}

// AbandonedError is Close's report of the work still running when its
// context ended. The host stops waiting for it, but a Go handler cannot be
// stopped: it goes on in the background, and may still write.
type AbandonedError struct {
	// Invocations are the handlers that had not returned, oldest first.
	Invocations []Invocation
	// Pollers is how many pollers were still receiving or settling a batch.
	Pollers int
	// Err is the error of Close's context.
	Err error
}

// Invocation is a handler still running.
type Invocation struct {
	Function, RequestID string
	Started             time.Time
	// TimedOut says the function's timeout had already failed the batch,
	// which returns to the queue while the handler goes on.
	TimedOut bool
}

func (e *AbandonedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lambda: close: abandoned %d running invocations", len(e.Invocations))
	for i, inv := range e.Invocations {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(&b, "%s%s request %s started %s", sep, inv.Function, inv.RequestID, inv.Started.UTC().Format(time.RFC3339Nano))
		if inv.TimedOut {
			b.WriteString(" and timed out")
		}
	}
	if len(e.Invocations) > 0 {
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " and %d pollers: %v", e.Pollers, e.Err)
	return b.String()
}

func (e *AbandonedError) Unwrap() error { return e.Err }

// killProcesses kills every zip function's processes.
func (h *Host) killProcesses() {
	h.mu.Lock()
	procs := slices.Clone(h.retired)
	for _, fn := range h.functions {
		if fn.proc != nil {
			procs = append(procs, fn.proc)
		}
	}
	h.mu.Unlock()
	for _, p := range procs {
		p.close()
	}
}

// track records a handler about to run; untrack, that it returned.
func (h *Host) track(function, requestID string, started time.Time) *flight {
	f := &flight{function: function, requestID: requestID, started: started}
	h.fmu.Lock()
	h.flights[f] = struct{}{}
	h.fmu.Unlock()
	h.handlers.Add(1)
	return f
}

func (h *Host) untrack(f *flight) {
	h.fmu.Lock()
	delete(h.flights, f)
	h.fmu.Unlock()
	h.handlers.Done()
}

// sleep waits d on the host's clock, or until ctx ends.
func (h *Host) sleep(ctx context.Context, d time.Duration) {
	passed := make(chan struct{})
	t := h.opts.Clock.AfterFunc(d, func() { close(passed) })
	defer t.Stop()
	select {
	case <-passed:
	case <-ctx.Done():
	}
}

// sink serialises writes to the log sink, a line at a time from each writer.
type sink struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

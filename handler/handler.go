// Package handler is ProcessOrderFunction: it turns a batch of SQS messages
// into per-record outcomes and a partial batch response.
//
// For each record it unwraps the SNS envelope (or takes a raw delivery),
// decodes and validates the order, writes it conditionally through a Store,
// and logs one JSON line. Outcomes:
//
//   - stored, duplicate, stale: successes; the table holds the newest event.
//   - invalid: a permanent failure. The body goes to the dead-letter queue with
//     the reason attached and the record counts as done; if that send fails the
//     record is reported as failed instead, so nothing is lost.
//   - failed: anything else (throttling, timeouts, 5xx, a panic): reported in
//     the partial batch response so that SQS delivers it again after the
//     visibility timeout and, after maxReceiveCount receives, moves it to the
//     dead-letter queue itself.
//
// A standard queue's records are processed concurrently, in any order. A
// FIFO queue's are processed a message group at a time, in order; after a
// group's first failed record the rest of the group is reported failed
// without being processed, so that SQS delivers them again in order.
//
// The package depends on the small interfaces it declares (Store,
// DeadLetterQueue), never on SDK clients.
package handler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow"
)

// Store writes an order unless the table already holds it or a newer event
// for it. A failed condition is an outcome (duplicate, stale), not an error;
// an error means the write may not have happened and is worth retrying.
type Store interface {
	PutOrder(ctx context.Context, o orderflow.Order) (orderflow.Outcome, error)
}

// DeadLetterQueue takes invalid input for an operator to read.
type DeadLetterQueue interface {
	SendDeadLetter(ctx context.Context, dl orderflow.DeadLetter) error
}

// Options configure a Handler.
type Options struct {
	// Store receives valid orders. Required.
	Store Store
	// DeadLetters receives invalid input. Required.
	DeadLetters DeadLetterQueue
	// Logger receives one line per record. Default: discard.
	Logger *slog.Logger
	// Concurrency is how many records of a batch are processed at once.
	// Default 8. Order within a batch does not matter on a standard queue:
	// writes are conditional. A FIFO queue's message group is one unit of
	// that concurrency, its records processed one after another in order.
	Concurrency int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxFutureSkew refuses, as invalid, events stamped further than this
	// ahead of Now: such an event would win over every real update of the
	// order until its time came. Default orderflow.DefaultMaxFutureSkew
	// (15 minutes); negative disables.
	MaxFutureSkew time.Duration
	// ReserveTime is how long before the invocation's deadline the handler
	// stops starting records and returns, so that its partial batch response
	// reaches Lambda before the function times out (which would fail the
	// whole batch). Default: a tenth of the time left, at most one second.
	ReserveTime time.Duration
	// Metrics receives the function's metrics as CloudWatch Embedded
	// Metric Format lines (metrics.go): one per invocation, per 100
	// records. On Lambda it is stdout, beside the log lines. Default:
	// no metrics.
	Metrics io.Writer
	// MetricsNamespace is the metrics' namespace. Default
	// DefaultMetricsNamespace.
	MetricsNamespace string
	// FunctionName is the value of the metrics' FunctionName dimension
	// (Lambda's AWS_LAMBDA_FUNCTION_NAME). Default DefaultFunctionName.
	FunctionName string
}

// Handler is the function. It is safe for concurrent use.
type Handler struct {
	store         Store
	dlq           DeadLetterQueue
	log           *slog.Logger
	concurrency   int
	now           func() time.Time
	maxFutureSkew time.Duration
	reserve       time.Duration
	metrics       *emf // nil: no metrics
}

// New returns a Handler, with defaults applied as documented on Options.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil || opts.DeadLetters == nil {
		return nil, errors.New("handler: a Store and a DeadLetterQueue are required")
	}
	h := &Handler{
		store:         opts.Store,
		dlq:           opts.DeadLetters,
		log:           opts.Logger,
		concurrency:   opts.Concurrency,
		now:           opts.Now,
		maxFutureSkew: opts.MaxFutureSkew,
		reserve:       opts.ReserveTime,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.concurrency <= 0 {
		h.concurrency = 8
	}
	if h.now == nil {
		h.now = time.Now
	}
	if opts.Metrics != nil {
		h.metrics = newEMF(opts.Metrics, cmp.Or(opts.MetricsNamespace, DefaultMetricsNamespace), cmp.Or(opts.FunctionName, DefaultFunctionName))
	}
	if h.maxFutureSkew == 0 {
		h.maxFutureSkew = orderflow.DefaultMaxFutureSkew
	}
	return h, nil
}

// Result is what became of one record. Outcomes other than "failed" delete the
// record from the queue.
type Result string

// The results of a record.
const (
	ResultStored           = Result(orderflow.OutcomeStored)
	ResultDuplicate        = Result(orderflow.OutcomeDuplicate)
	ResultStale            = Result(orderflow.OutcomeStale)
	ResultInvalid   Result = "invalid" // dead-lettered with its reason
	ResultFailed    Result = "failed"  // left for SQS to deliver again
)

// Handle processes a batch. Its signature is aws-lambda-go's for an SQS
// event source with ReportBatchItemFailures. It returns an error only for a
// batch it cannot process at all; per-record failures are listed in the
// response, so only those records are delivered again.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	results := h.Process(ctx, ev.Records)
	var resp events.SQSEventResponse
	for i, r := range results {
		if r == ResultFailed {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	return resp, nil
}

// Process processes records and returns each one's result, in record order.
//
// Records of a FIFO queue (fifoGroups) are processed a message group at a
// time, in order: after a group's first failed record, the rest of the
// group is reported failed without being processed, as AWS advises for
// partial batch responses from FIFO queues, so that SQS delivers them
// again in order after it. Groups run concurrently, as records of a
// standard queue do.
func (h *Handler) Process(ctx context.Context, records []events.SQSMessage) []Result {
	ctx, cancel := h.withReserve(ctx)
	defer cancel()

	results := make([]Result, len(records))
	var stats []recordStat
	if h.metrics != nil {
		stats = make([]recordStat, len(records))
	}
	if groups := fifoGroups(records); groups != nil {
		h.processGroups(ctx, records, groups, results, stats)
	} else {
		h.processEach(ctx, records, results, stats)
	}
	if h.metrics != nil && len(records) > 0 {
		h.metrics.write(h.now(), results, stats)
	}
	return results
}

// processEach processes the records of a standard queue, up to
// h.concurrency at once, in any order.
func (h *Handler) processEach(ctx context.Context, records []events.SQSMessage, results []Result, stats []recordStat) {
	h.fanOut(len(records), func(i int) {
		if ctx.Err() != nil {
			// Out of time: leave the rest for SQS rather than be cut off.
			results[i] = ResultFailed
			h.logSkipped(&records[i], deadlineSkip(ctx))
			return
		}
		results[i] = h.processRecord(ctx, &records[i], statOf(stats, i))
	})
}

// processGroups processes a FIFO batch: each group's records in order, one
// at a time; up to h.concurrency groups at once.
func (h *Handler) processGroups(ctx context.Context, records []events.SQSMessage, groups [][]int, results []Result, stats []recordStat) {
	h.fanOut(len(groups), func(g int) {
		group := groups[g]
		for k, i := range group {
			if ctx.Err() != nil {
				for _, j := range group[k:] {
					results[j] = ResultFailed
					h.logSkipped(&records[j], deadlineSkip(ctx))
				}
				return
			}
			results[i] = h.processRecord(ctx, &records[i], statOf(stats, i))
			if results[i] != ResultFailed {
				continue
			}
			for _, j := range group[k+1:] {
				results[j] = ResultFailed
				h.logSkipped(&records[j], fmt.Errorf("not started: %s, before it in message group %s, failed", records[i].MessageId, records[i].Attributes["MessageGroupId"]))
			}
			return
		}
	})
}

// fanOut calls work for 0..n-1, up to h.concurrency calls at once, and
// returns when all have returned. The calling goroutine is one of the
// workers and each extra worker takes items until none is left, so a batch
// of one starts no goroutine and a batch of ten starts h.concurrency-1 at
// most: a goroutine per item would grow a new stack through the SDK's deep
// calls every time.
func (h *Handler) fanOut(n int, work func(i int)) {
	var next atomic.Int64
	loop := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			work(i)
		}
	}
	var wg sync.WaitGroup
	for range min(h.concurrency, n) - 1 {
		wg.Go(loop)
	}
	loop()
	wg.Wait()
}

// fifoGroups returns the indexes of records grouped by FIFO message group,
// each group in record order and the groups in the order of their first
// record, or nil when no record comes from a FIFO queue. A FIFO queue's
// name, and only a FIFO queue's, ends in ".fifo"; a standard queue's
// records may carry a MessageGroupId too (fair queues), which orders
// nothing. A record of a standard queue in a FIFO batch (no queue sends
// one; a hand-made event could) is a group of its own.
func fifoGroups(records []events.SQSMessage) [][]int {
	var groups [][]int
	var at map[string]int // group id -> its index in groups
	for i := range records {
		fifo := strings.HasSuffix(records[i].EventSourceARN, ".fifo")
		switch {
		case at == nil && !fifo:
			continue
		case at == nil:
			at = map[string]int{}
			groups = make([][]int, 0, len(records))
			for j := range i {
				groups = append(groups, []int{j})
			}
		case !fifo:
			groups = append(groups, []int{i})
			continue
		}
		g := records[i].Attributes["MessageGroupId"]
		if k, ok := at[g]; ok {
			groups[k] = append(groups[k], i)
			continue
		}
		at[g] = len(groups)
		groups = append(groups, []int{i})
	}
	if at == nil {
		return nil
	}
	return groups
}

// statOf is record i's figures for the metrics, or nil without metrics.
func statOf(stats []recordStat, i int) *recordStat {
	if stats == nil {
		return nil
	}
	return &stats[i]
}

// deadlineSkip is why a record is not started once ctx is done.
func deadlineSkip(ctx context.Context) error {
	return fmt.Errorf("not started before the invocation deadline: %w", ctx.Err())
}

// withReserve returns a context whose deadline leaves time to answer Lambda.
func (h *Handler) withReserve(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := h.reserve
	if reserve <= 0 {
		reserve = min(time.Until(deadline)/10, time.Second)
	}
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

// outcome carries what the log line says about a record.
type outcome struct {
	result Result
	body   Body
	code   orderflow.Code
	err    error
}

// processRecord processes one record; st, when not nil, gets its figures
// for the metrics.
func (h *Handler) processRecord(ctx context.Context, rec *events.SQSMessage, st *recordStat) (result Result) {
	start := h.now()
	var out outcome
	defer func() {
		// A bug must cost one record, not the batch: the record is retried
		// and, if the bug persists, SQS dead-letters it after maxReceiveCount.
		if p := recover(); p != nil {
			out = outcome{result: ResultFailed, body: out.body, err: fmt.Errorf("panic: %v", p)}
		}
		end := h.now()
		h.logRecord(ctx, rec, out, end.Sub(start))
		if st != nil {
			st.duration = end.Sub(start)
			if out.result == ResultStored {
				st.hasAge, st.eventAge = true, end.Sub(out.body.Order.Timestamp)
				if !out.body.PublishedAt.IsZero() {
					st.hasPublish, st.publishAge = true, end.Sub(out.body.PublishedAt)
				}
			}
		}
		result = out.result
	}()
	out = h.apply(ctx, rec)
	return out.result
}

func (h *Handler) apply(ctx context.Context, rec *events.SQSMessage) outcome {
	body, err := DecodeBody(rec.Body)
	if err == nil {
		err = orderflow.CheckClock(body.Order, h.now(), h.maxFutureSkew)
	}
	if err != nil {
		return h.deadLetter(ctx, rec, body, err)
	}
	res, err := h.store.PutOrder(ctx, body.Order)
	if err != nil {
		return outcome{result: ResultFailed, body: body, err: err}
	}
	return outcome{result: Result(res), body: body}
}

func (h *Handler) deadLetter(ctx context.Context, rec *events.SQSMessage, body Body, cause error) outcome {
	var inv *orderflow.InvalidError
	if !errors.As(cause, &inv) {
		inv = orderflow.Invalid(orderflow.CodeInvalidOrder, "%v", cause)
	}
	receives, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	dl := orderflow.DeadLetter{
		Body:              rec.Body,
		Code:              inv.Code,
		Reason:            inv.Error(),
		OriginalMessageID: rec.MessageId,
		ReceiveCount:      receives,
		Source:            rec.EventSourceARN,
		FailedAt:          h.now().UTC(),
	}
	if err := h.dlq.SendDeadLetter(ctx, dl); err != nil {
		return outcome{result: ResultFailed, body: body, code: inv.Code,
			err: fmt.Errorf("dead-letter invalid input (%v): %w", inv, err)}
	}
	return outcome{result: ResultInvalid, body: body, code: inv.Code, err: inv}
}

// maxLoggedOrderID bounds the order id an invalid body gives a log line:
// the body is anyone's, up to SQS's 256 KiB.
const maxLoggedOrderID = 256

func (h *Handler) logRecord(ctx context.Context, rec *events.SQSMessage, out outcome, d time.Duration) {
	level, msg := slog.LevelInfo, "order "+string(out.result)
	switch out.result {
	case ResultInvalid:
		level, msg = slog.LevelWarn, "invalid order dead-lettered"
	case ResultFailed:
		level, msg = slog.LevelError, "record failed; SQS will deliver it again"
	}
	if !h.log.Enabled(ctx, level) {
		return
	}
	// An invalid or failed record's line carries the order id too
	// whenever one can be read from the body, so that an order's story
	// (orderflow trace, logs --filter) finds it.
	orderID := out.body.Order.OrderID
	if orderID == "" {
		orderID = truncate(OrderIDOf(rec.Body), maxLoggedOrderID)
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("outcome", string(out.result)),
		slog.String("messageId", rec.MessageId),
		slog.String("orderId", orderID),
		slog.String("userId", out.body.Order.UserID),
		slog.String("receiveCount", rec.Attributes["ApproximateReceiveCount"]),
		slog.Float64("durationMs", float64(d.Microseconds())/1000),
	)
	if out.body.Order.OrderID != "" {
		// The event's version is what the table keeps of the event that
		// won: orderflow trace matches the two.
		attrs = append(attrs, slog.String("status", string(out.body.Order.Status)), slog.String("timestamp", out.body.Order.TimestampString()),
			slog.String("version", out.body.Order.Version()))
	}
	if out.body.SNSMessageID != "" {
		attrs = append(attrs, slog.String("snsMessageId", out.body.SNSMessageID))
	}
	if out.code != "" {
		attrs = append(attrs, slog.String("errorCode", string(out.code)))
	}
	if out.err != nil {
		attrs = append(attrs, slog.String("error", out.err.Error()))
	}
	h.log.LogAttrs(ctx, level, msg, attrs...)
}

// logSkipped logs a record reported failed without being processed, and why.
func (h *Handler) logSkipped(rec *events.SQSMessage, why error) {
	body, _ := DecodeBody(rec.Body) // for the order's ids in the log line, when it has them
	h.logRecord(context.Background(), rec, outcome{result: ResultFailed, body: body, err: why}, 0)
}

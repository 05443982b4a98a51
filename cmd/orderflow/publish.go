package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/internal/ordergen"
)

type publishFlags struct {
	orderID, userID, item, status, timestamp string
	quantity                                 int
	file                                     string
	count                                    int
	rate                                     float64
	duplicates, outOfOrder, invalid          float64
	seed                                     uint64
	json                                     bool
}

func publishCommand(e *env, tf *targetFlags) *cobra.Command {
	var f publishFlags
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish orders to OrderTopic: one from flags, a file, NDJSON on stdin, or generated ones",
		Long: `publish sends order events to OrderTopic with PublishBatch.

Orders from flags, a file or stdin are validated first: if any is invalid,
each problem is reported with its line and nothing is sent. Generated orders
(--count) may include, on purpose, a share of exact duplicates, older
versions that arrive after newer ones, and invalid events, to exercise the
pipeline; the run reports what the table should end up holding.`,
		Example: `  orderflow publish --order-id O1234 --user-id U123 --item Laptop --quantity 1 --status new
  orderflow publish --file testdata/seed-order.json
  cat orders.ndjson | orderflow publish --file -
  orderflow publish --count 1000 --rate 200 --duplicates 0.05 --out-of-order 0.05 --invalid 0.05
  orderflow publish --aws --stack orderflow --file orders.ndjson`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPublish(cmd.Context(), e, tf, &f, cmd.Flags().Changed)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.orderID, "order-id", "", "publish one order with this id (with the other order flags)")
	fl.StringVar(&f.userID, "user-id", "", "the order's user id")
	fl.StringVar(&f.item, "item", "", "the order's item name")
	fl.IntVar(&f.quantity, "quantity", 1, "the order's quantity")
	fl.StringVar(&f.status, "status", "new", "the order's status: new, paid, shipped, delivered or cancelled")
	fl.StringVar(&f.timestamp, "timestamp", "", "the order's RFC 3339 UTC timestamp (default now)")
	fl.StringVar(&f.file, "file", "", "publish the orders in a JSON file (one object, an array, or one object a line); - reads stdin")
	fl.IntVar(&f.count, "count", 0, "publish this many generated orders")
	fl.Float64Var(&f.rate, "rate", 0, "publish at most this many orders a second (default: as fast as the endpoint takes them)")
	fl.Float64Var(&f.duplicates, "duplicates", 0, "with --count: the share of exact duplicates (0 to 1)")
	fl.Float64Var(&f.outOfOrder, "out-of-order", 0, "with --count: the share of older versions sent after newer ones (0 to 1)")
	fl.Float64Var(&f.invalid, "invalid", 0, "with --count: the share of invalid events (0 to 1)")
	fl.Uint64Var(&f.seed, "seed", 1, "with --count: the generator's seed (the same seed gives the same orders)")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON")
	return cmd
}

// outgoing is one event to publish.
type outgoing struct {
	orderID string
	body    string
	invalid bool // sent invalid on purpose (generated)
}

func runPublish(ctx context.Context, e *env, tf *targetFlags, f *publishFlags, changed func(string) bool) error {
	modes := 0
	for _, set := range []bool{f.orderID != "", f.file != "", f.count > 0} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return usageError{errors.New("give exactly one of --order-id (with the order flags), --file, or --count")}
	}
	if f.count == 0 && (changed("duplicates") || changed("out-of-order") || changed("invalid") || changed("seed")) {
		return usageError{errors.New("--duplicates, --out-of-order, --invalid and --seed go with --count")}
	}
	if f.rate < 0 {
		return usageError{errors.New("--rate must not be negative")}
	}
	var (
		events []outgoing
		gen    *ordergen.Batch
		err    error
	)
	switch {
	case f.orderID != "":
		events, err = flagOrder(f)
	case f.file != "":
		events, err = fileOrders(e, f.file)
	default:
		var b ordergen.Batch
		b, err = ordergen.Generate(ordergen.Options{Count: f.count, Duplicates: f.duplicates, OutOfOrder: f.outOfOrder, Invalid: f.invalid, Seed: f.seed})
		if err != nil {
			return usageError{errors.New(strings.TrimPrefix(err.Error(), "ordergen: "))}
		}
		gen = &b
		for _, ev := range b.Events {
			events = append(events, outgoing{orderID: ev.OrderID, body: ev.Body, invalid: ev.Kind == ordergen.KindInvalid})
		}
	}
	if err != nil {
		return err
	}
	t, err := tf.resolve(ctx, e)
	if err != nil {
		return err
	}
	res, err := t.resources(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	prog := newProgress(e, len(events), "publishing")
	failures, ids := publishAll(ctx, awssns.NewFromConfig(t.cfg), res.TopicArn, events, f.rate, prog.add)
	prog.done()
	elapsed := time.Since(start)
	return reportPublish(e, f, t, events, gen, failures, ids, elapsed)
}

func flagOrder(f *publishFlags) ([]outgoing, error) {
	ts := time.Now().UTC().Truncate(time.Millisecond)
	if f.timestamp != "" {
		var err error
		if ts, err = time.Parse(time.RFC3339Nano, f.timestamp); err != nil {
			return nil, usageError{fmt.Errorf("--timestamp %q is not an RFC 3339 time such as 2025-05-03T12:00:00Z", f.timestamp)}
		}
	}
	o := orderflow.Order{OrderID: f.orderID, UserID: f.userID, ItemName: f.item, Quantity: f.quantity, Status: orderflow.Status(f.status), Timestamp: ts.UTC()}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("the order from the flags is not valid: %s", strings.TrimPrefix(err.Error(), "invalid order: "))
	}
	body, _ := o.MarshalJSON()
	return []outgoing{{orderID: o.OrderID, body: string(body)}}, nil
}

// maxReported bounds how many invalid input lines are listed.
const maxReported = 20

// fileOrders reads orders from a file or stdin: one JSON object, an array
// of them, or any sequence of them (NDJSON). Every order is validated; if any
// is invalid, all problems are reported with their lines and none is sent.
func fileOrders(e *env, path string) ([]outgoing, error) {
	var (
		data []byte
		err  error
		name = path
	)
	if path == "-" {
		data, err = io.ReadAll(e.stdin)
		name = "standard input"
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("could not read %s: %w", name, errors.Unwrap(err))
	}
	var (
		events   []outgoing
		problems []string
	)
	check := func(raw json.RawMessage, where string) {
		o, err := orderflow.Decode(raw)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s", where, err))
			return
		}
		events = append(events, outgoing{orderID: o.OrderID, body: string(bytes.TrimSpace(raw))})
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		start := int(dec.InputOffset())
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			break
		}
		line := lineAt(data, start+leadingSpace(data[start:]))
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: not valid JSON: %s", line, strings.TrimPrefix(err.Error(), "json: ")))
			break // the rest of the stream cannot be trusted
		}
		if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '[' {
			var list []json.RawMessage
			if err := json.Unmarshal(raw, &list); err != nil {
				problems = append(problems, fmt.Sprintf("line %d: %v", line, err))
				continue
			}
			for i, item := range list {
				check(item, fmt.Sprintf("line %d, element %d", line, i+1))
			}
			continue
		}
		check(raw, fmt.Sprintf("line %d", line))
	}
	if problems != nil {
		shown := problems
		if len(shown) > maxReported {
			shown = shown[:maxReported]
		}
		for _, p := range shown {
			fmt.Fprintln(e.stderr, p)
		}
		if len(problems) > len(shown) {
			fmt.Fprintf(e.stderr, "… and %d more\n", len(problems)-len(shown))
		}
		if len(problems) == 1 {
			return nil, fmt.Errorf("1 of the orders in %s is not valid (see above); nothing was published", name)
		}
		return nil, fmt.Errorf("%d of the orders in %s are not valid (listed above); nothing was published", len(problems), name)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%s holds no orders", name)
	}
	return events, nil
}

func leadingSpace(b []byte) int {
	return len(b) - len(bytes.TrimLeft(b, " \t\r\n"))
}

func lineAt(data []byte, offset int) int {
	return 1 + bytes.Count(data[:min(offset, len(data))], []byte("\n"))
}

// failure is an order the topic did not accept.
type failure struct {
	OrderID string `json:"orderId"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// publishAll publishes events with PublishBatch, 10 at a time, from a few
// workers, at most ratePerSec a second (0: no limit). It returns the orders
// that failed and the SNS message ids of those published, in event order.
func publishAll(ctx context.Context, client *awssns.Client, topic string, events []outgoing, ratePerSec float64, done func(int)) ([]failure, []string) {
	limit := rate.NewLimiter(rate.Inf, 0)
	if ratePerSec > 0 {
		limit = rate.NewLimiter(rate.Limit(ratePerSec), max(1, min(10, int(ratePerSec))))
	}
	var (
		mu       sync.Mutex
		failures []failure
		ids      = make([]string, len(events))
		wg       sync.WaitGroup
		batches  = make(chan int)
	)
	for range 4 {
		wg.Go(func() {
			for start := range batches {
				end := min(start+10, len(events))
				if err := waitTokens(ctx, limit, end-start); err != nil {
					mu.Lock()
					for _, ev := range events[start:end] {
						failures = append(failures, failure{ev.orderID, "Canceled", err.Error()})
					}
					mu.Unlock()
					continue
				}
				entries := make([]snstypes.PublishBatchRequestEntry, 0, end-start)
				for i := start; i < end; i++ {
					entries = append(entries, snstypes.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), Message: aws.String(events[i].body)})
				}
				out, err := client.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: entries})
				mu.Lock()
				if err != nil {
					code, msg := "RequestFailed", err.Error()
					if c, m, ok := apiError(err); ok {
						code, msg = c, m
					}
					for _, ev := range events[start:end] {
						failures = append(failures, failure{ev.orderID, code, msg})
					}
				} else {
					for _, s := range out.Successful {
						i, _ := strconv.Atoi(aws.ToString(s.Id))
						ids[i] = aws.ToString(s.MessageId)
					}
					for _, fl := range out.Failed {
						i, _ := strconv.Atoi(aws.ToString(fl.Id))
						failures = append(failures, failure{events[i].orderID, aws.ToString(fl.Code), aws.ToString(fl.Message)})
					}
				}
				mu.Unlock()
				done(end - start)
			}
		})
	}
	for start := 0; start < len(events); start += 10 {
		batches <- start
	}
	close(batches)
	wg.Wait()
	return failures, ids
}

// waitTokens takes n tokens from lim, in pieces no larger than its burst.
func waitTokens(ctx context.Context, lim *rate.Limiter, n int) error {
	if lim.Limit() == rate.Inf {
		return ctx.Err()
	}
	for n > 0 {
		k := min(n, lim.Burst())
		if err := lim.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func reportPublish(e *env, f *publishFlags, t *target, events []outgoing, gen *ordergen.Batch, failures []failure, ids []string, elapsed time.Duration) error {
	published := len(events) - len(failures)
	invalidSent := 0
	for _, ev := range events {
		if ev.invalid {
			invalidSent++
		}
	}
	perSec := float64(published) / max(elapsed.Seconds(), 1e-9)
	if f.json {
		out := map[string]any{
			"published": published, "failed": failures, "seconds": round3(elapsed.Seconds()), "perSecond": round3(perSec),
		}
		if failures == nil {
			out["failed"] = []failure{}
		}
		if len(events) == 1 && published == 1 {
			out["messageId"] = ids[0]
		}
		if gen != nil {
			out["generated"] = gen.Counts()
			out["expectStored"] = len(gen.Final)
			out["expectDeadLettered"] = len(gen.Invalid)
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
	} else {
		switch {
		case len(events) == 1 && published == 1:
			fmt.Fprintf(e.stdout, "Published order %s to OrderTopic at %s: SNS message id %s\n", events[0].orderID, t.where(), ids[0])
		default:
			fmt.Fprintf(e.stdout, "Published %d of %d orders to OrderTopic at %s in %.1fs (%.0f/s).\n", published, len(events), t.where(), elapsed.Seconds(), perSec)
		}
		if gen != nil {
			c := gen.Counts()
			fmt.Fprintf(e.stdout, "Generated %d new, %d duplicates, %d out of order, %d invalid (seed %d): expect %d orders stored and %d dead-lettered.\n",
				c[ordergen.KindNew], c[ordergen.KindDuplicate], c[ordergen.KindStale], c[ordergen.KindInvalid], f.seed, len(gen.Final), len(gen.Invalid))
		}
		for i, fl := range failures {
			if i == maxReported {
				fmt.Fprintf(e.stderr, "… and %d more failures\n", len(failures)-i)
				break
			}
			fmt.Fprintf(e.stderr, "order %s: %s: %s\n", fl.OrderID, fl.Code, fl.Message)
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d orders were not published", len(failures), len(events))
	}
	return nil
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

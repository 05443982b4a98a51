package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/internal/fifoplan"
	"github.com/orderflow/orderflow/internal/human"
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

Orders from flags, a file or stdin are validated first, by the function's
own rules (a timestamp at most 15 minutes ahead of the clock included): if
any is invalid, each problem is reported with its line and nothing is sent.
Generated orders (--count) may include, on purpose, a share of exact
duplicates, older versions that arrive after newer ones, and invalid events,
to exercise the pipeline; the run says how many of them Orders and OrderDLQ
should end up holding, and how many Orders held already.

The first request that fails, once the SDK's retries are spent, stops the
run: what was acknowledged stays published, and one sentence says how many.`,
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
			events = append(events, outgoing{orderID: ev.OrderID, body: ev.Body})
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
	var before stored
	if gen != nil {
		ids := make([]string, 0, len(gen.Final))
		for id := range gen.Final {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		n, err := countStored(ctx, awsddb.NewFromConfig(t.cfg), res.Table, ids)
		before = stored{n: n, known: err == nil}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted before anything was published")
			}
			before.why = "the lookup failed"
			if code, _, ok := apiError(err); ok {
				before.why = "the lookup failed with " + code
			}
		}
	}
	start := time.Now()
	prog := newProgress(e, len(events), "publishing")
	p := publishAll(ctx, awssns.NewFromConfig(t.cfg), res.TopicArn, events, f.rate, prog.add)
	prog.done()
	elapsed := time.Since(start)
	switch {
	case p.err != nil:
		return publishError(ctx, e, t, events, p)
	case len(p.refused) > 0:
		return refusedError(e, events, p)
	}
	return reportPublish(e, f, t, events, gen, before, p, elapsed)
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
	err := o.Validate()
	if err == nil {
		err = checkAsTheFunction(o)
	}
	if err != nil {
		return nil, fmt.Errorf("the order from the flags is not valid: %s", strings.TrimPrefix(err.Error(), "invalid order: "))
	}
	body, _ := o.MarshalJSON()
	return []outgoing{{orderID: o.OrderID, body: string(body)}}, nil
}

// checkAsTheFunction refuses, beyond what Decode and Validate refuse, what
// ProcessOrderFunction would dead-letter: an order stamped too far ahead of
// the clock, with the function's own words.
func checkAsTheFunction(o orderflow.Order) error {
	return orderflow.CheckClock(o, time.Now(), orderflow.DefaultMaxFutureSkew)
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
		if err == nil {
			err = checkAsTheFunction(o)
		}
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

// batchPublisher is the part of the SNS client publish uses.
type batchPublisher interface {
	PublishBatch(ctx context.Context, in *awssns.PublishBatchInput, opts ...func(*awssns.Options)) (*awssns.PublishBatchOutput, error)
}

var _ batchPublisher = (*awssns.Client)(nil)

// published is what publishAll did.
type published struct {
	// ids are the SNS message ids of the acknowledged orders, in event
	// order; "" for an order that was not acknowledged.
	ids []string
	// acknowledged counts the non-empty ids.
	acknowledged int
	// refused are the entries PublishBatch answered as Failed.
	refused []failure
	// err is the failed request that stopped the run (the SDK's retries
	// spent): the endpoint is gone, refuses the caller, or throttles it.
	// The batches not yet sent were not sent.
	err error
}

// publishWorkers is how many PublishBatch requests publishAll has in
// flight.
const publishWorkers = 4

// publishAll publishes events with PublishBatch, 10 at a time, from a few
// workers, at most ratePerSec a second (0: no limit). The first request
// that fails as a whole stops the run: what failed one request, after the
// SDK's retries, fails the next one too, and one sentence says it better
// than a line for each batch. Entries refused one by one do not stop it.
//
// To a FIFO topic (a name ending in .fifo) each entry carries its order's
// group (orderflow.GroupKey), and each order's events go in their order:
// every order belongs to one worker, which publishes its share in event
// order, one request after the other.
func publishAll(ctx context.Context, client batchPublisher, topic string, events []outgoing, ratePerSec float64, done func(int)) published {
	limit := rate.NewLimiter(rate.Inf, 0)
	if ratePerSec > 0 {
		limit = rate.NewLimiter(rate.Limit(ratePerSec), max(1, min(10, int(ratePerSec))))
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu  sync.Mutex
		res = published{ids: make([]string, len(events))}
		wg  sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if res.err == nil {
			res.err = err
			stop()
		}
	}
	fifo := strings.HasSuffix(topic, ".fifo")
	send := func(batch []int) {
		if err := waitTokens(ctx, limit, len(batch)); err != nil {
			fail(err)
			return
		}
		entries := make([]snstypes.PublishBatchRequestEntry, 0, len(batch))
		for _, i := range batch {
			entry := snstypes.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), Message: aws.String(events[i].body)}
			if fifo {
				entry.MessageGroupId = aws.String(orderflow.GroupKey([]byte(events[i].body)))
			}
			entries = append(entries, entry)
		}
		out, err := client.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: entries})
		if err != nil {
			fail(err)
			return
		}
		mu.Lock()
		for _, s := range out.Successful {
			if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && slices.Contains(batch, i) && res.ids[i] == "" {
				res.ids[i] = aws.ToString(s.MessageId)
				res.acknowledged++
			}
		}
		for _, fl := range out.Failed {
			if i, err := strconv.Atoi(aws.ToString(fl.Id)); err == nil && slices.Contains(batch, i) {
				res.refused = append(res.refused, failure{events[i].orderID, aws.ToString(fl.Code), aws.ToString(fl.Message)})
			}
		}
		mu.Unlock()
		done(len(batch))
	}
	if fifo {
		for _, share := range fifoplan.Shares(len(events), func(i int) string { return events[i].body }, publishWorkers) {
			wg.Go(func() {
				for _, batch := range share {
					if ctx.Err() != nil {
						return
					}
					send(batch)
				}
			})
		}
		wg.Wait()
		return res
	}
	batches := make(chan []int)
	for range publishWorkers {
		wg.Go(func() {
			for batch := range batches {
				send(batch)
			}
		})
	}
feed:
	for start := 0; start < len(events); start += 10 {
		batch := make([]int, 0, 10)
		for i := start; i < min(start+10, len(events)); i++ {
			batch = append(batch, i)
		}
		select {
		case batches <- batch:
		case <-ctx.Done():
			break feed
		}
	}
	close(batches)
	wg.Wait()
	return res
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

// publishError is the one sentence for a run that a failed request stopped,
// after the list of any entries the topic refused before it.
func publishError(ctx context.Context, e *env, t *target, events []outgoing, p published) error {
	listRefused(e, p.refused)
	total := human.Count(int64(len(events)), "order", "orders")
	if ctx.Err() != nil {
		return fmt.Errorf("publishing was interrupted after %s of %s %s acknowledged; the others may not have been published",
			human.Int(int64(p.acknowledged)), total, wasWere(p.acknowledged))
	}
	var what string
	switch {
	case len(events) == 1:
		what = fmt.Sprintf("publish order %s to OrderTopic", events[0].orderID)
	case p.acknowledged == 0:
		what = fmt.Sprintf("publish any of the %s to OrderTopic", total)
	default:
		what = fmt.Sprintf("publish to OrderTopic after %s of %s %s acknowledged", human.Int(int64(p.acknowledged)), total, wasWere(p.acknowledged))
	}
	return t.explain(what, p.err)
}

// refusedError lists the entries the topic refused and says so in one
// sentence; the orders it took are published, and stay so.
func refusedError(e *env, events []outgoing, p published) error {
	listRefused(e, p.refused)
	return fmt.Errorf("OrderTopic refused %s of %s (listed above, with their codes) and took the other %s; publish the refused ones again once the cause is fixed",
		human.Int(int64(len(p.refused))), human.Count(int64(len(events)), "order", "orders"), human.Int(int64(p.acknowledged)))
}

func listRefused(e *env, refused []failure) {
	for i, fl := range refused {
		if i == maxReported {
			fmt.Fprintf(e.stderr, "… and %d more\n", len(refused)-i)
			break
		}
		fmt.Fprintf(e.stderr, "order %s: %s: %s\n", fl.OrderID, fl.Code, fl.Message)
	}
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// stored is what the table held, before publishing, of the generated
// orders: known is false when the lookup failed (why says why, briefly).
type stored struct {
	n     int
	known bool
	why   string
}

// reportPublish prints the summary of a run that published every event.
func reportPublish(e *env, f *publishFlags, t *target, events []outgoing, gen *ordergen.Batch, before stored, p published, elapsed time.Duration) error {
	perSec := float64(p.acknowledged) / max(elapsed.Seconds(), 1e-9)
	if f.json {
		out := map[string]any{
			"published": p.acknowledged, "failed": []failure{}, "seconds": round3(elapsed.Seconds()), "perSecond": round3(perSec),
		}
		if len(events) == 1 {
			out["messageId"] = p.ids[0]
		}
		if gen != nil {
			out["generated"] = gen.Counts()
			out["expectStored"] = len(gen.Final)
			out["expectDeadLettered"] = len(gen.Invalid)
			if before.known {
				out["alreadyStored"] = before.n
			}
		}
		return writeJSON(e.stdout, out)
	}
	if len(events) == 1 {
		fmt.Fprintf(e.stdout, "Published order %s to OrderTopic at %s: SNS message id %s\n", events[0].orderID, t.where(), p.ids[0])
	} else {
		took := fmt.Sprintf("%.1f seconds", elapsed.Seconds())
		if elapsed < 100*time.Millisecond {
			took = fmt.Sprintf("%d ms", elapsed.Milliseconds())
		}
		fmt.Fprintf(e.stdout, "Published %s to OrderTopic at %s in %s (%s/s).\n",
			human.Count(int64(p.acknowledged), "order", "orders"), t.where(), took, human.Int(int64(perSec)))
	}
	if gen != nil {
		c := gen.Counts()
		fmt.Fprintf(e.stdout, "Generated %s new, %s duplicates, %s out of order, %s invalid (seed %d): %s.\n",
			human.Int(int64(c[ordergen.KindNew])), human.Int(int64(c[ordergen.KindDuplicate])), human.Int(int64(c[ordergen.KindStale])),
			human.Int(int64(c[ordergen.KindInvalid])), f.seed, expectation(len(gen.Final), len(gen.Invalid), before))
	}
	return nil
}

// expectation says what the table and the DLQ will hold of a generated
// run's orders once the pipeline has caught up: about these orders, not the
// table's total, which on AWS no cheap call knows.
func expectation(valid, invalid int, before stored) string {
	var b strings.Builder
	if valid == 1 {
		b.WriteString("expect 1 order in Orders")
	} else {
		fmt.Fprintf(&b, "expect %s of these orders in Orders", human.Int(int64(valid)))
	}
	switch {
	case !before.known:
		fmt.Fprintf(&b, " (how many were there already is unknown: %s)", before.why)
	case before.n == 1 && valid == 1:
		b.WriteString(" (it was already there)")
	case before.n > 0:
		fmt.Fprintf(&b, " (%s %s already there)", human.Int(int64(before.n)), wasWere(before.n))
	}
	switch invalid {
	case 0:
	case 1:
		b.WriteString(" and the invalid one in OrderDLQ")
	default:
		fmt.Fprintf(&b, " and the %s invalid ones in OrderDLQ", human.Int(int64(invalid)))
	}
	return b.String()
}

// batchGetter is the part of the DynamoDB client publish uses.
type batchGetter interface {
	BatchGetItem(ctx context.Context, in *awsddb.BatchGetItemInput, opts ...func(*awsddb.Options)) (*awsddb.BatchGetItemOutput, error)
}

var _ batchGetter = (*awsddb.Client)(nil)

// maxUnprocessedRounds bounds how often countStored asks again for keys
// DynamoDB left unprocessed (it does under throttling).
const maxUnprocessedRounds = 8

// countStored returns how many of ids the table holds, reading only their
// keys, 100 a call (BatchGetItem's limit).
func countStored(ctx context.Context, client batchGetter, table string, ids []string) (int, error) {
	n := 0
	for start := 0; start < len(ids); start += 100 {
		keys := make([]map[string]ddbtypes.AttributeValue, 0, min(100, len(ids)-start))
		for _, id := range ids[start:min(start+100, len(ids))] {
			keys = append(keys, map[string]ddbtypes.AttributeValue{"orderId": &ddbtypes.AttributeValueMemberS{Value: id}})
		}
		req := map[string]ddbtypes.KeysAndAttributes{table: {
			Keys: keys, ProjectionExpression: aws.String("#id"), ExpressionAttributeNames: map[string]string{"#id": "orderId"},
		}}
		for round := 0; len(req[table].Keys) > 0; round++ {
			if round == maxUnprocessedRounds {
				return n, fmt.Errorf("DynamoDB left %d keys unprocessed %d times in a row", len(req[table].Keys), round)
			}
			if round > 0 {
				select {
				case <-ctx.Done():
					return n, ctx.Err()
				case <-time.After(time.Duration(25<<round) * time.Millisecond):
				}
			}
			out, err := client.BatchGetItem(ctx, &awsddb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return n, err
			}
			n += len(out.Responses[table])
			req = out.UnprocessedKeys
		}
	}
	return n, nil
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

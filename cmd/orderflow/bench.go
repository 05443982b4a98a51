package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/orderflow/orderflow/internal/cost"
	"github.com/orderflow/orderflow/internal/human"
	"github.com/orderflow/orderflow/internal/ordergen"
)

type benchFlags struct {
	orders, publishers, batchSize, window, concurrency, memory int
	rate                                                       float64
	envelope, asJSON                                           bool
	timeout                                                    time.Duration
	cpuProfile                                                 string
	dataDir                                                    string
}

func benchCommand(e *env) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the whole pipeline on the embedded cloud: throughput, latency, CPU, memory, API calls and their AWS cost",
		Long: `bench starts the pipeline on an embedded cloud (a free loopback port), publishes
generated orders through the real SDK with PublishBatch from several
publishers (OrderTopic → OrderQueue → ProcessOrderFunction → Orders), waits
until every order is stored, and prints: orders stored per second, the
publish-to-stored latency's p50/p95/p99, CPU seconds per 1,000 orders (the
whole process: publishers, cloud and function), peak RSS, every AWS API call
by service and action, and what the same calls would cost on AWS per million
orders (price table in internal/cost).`,
		Example: `  orderflow bench
  orderflow bench --orders 50000 --envelope --batch-size 10 --window 0 --concurrency 20
  orderflow bench --rate 1000 --json
  orderflow bench --data-dir $(mktemp -d)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.Context(), e, f)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.orders, "orders", 20000, "orders to publish")
	fl.IntVar(&f.publishers, "publishers", 4, "concurrent publishers")
	fl.Float64Var(&f.rate, "rate", 0, "publish at most this many orders a second (default: as fast as they are taken)")
	fl.BoolVar(&f.envelope, "envelope", false, "deliver in the SNS envelope (signed) instead of raw, the template's default")
	fl.IntVar(&f.batchSize, "batch-size", 10, "the event source mapping's batch size (the template's default)")
	fl.IntVar(&f.window, "window", 1, "the event source mapping's batching window, in seconds (the template's default)")
	fl.IntVar(&f.concurrency, "concurrency", 10, "the event source mapping's maximum concurrency (the template's default)")
	fl.IntVar(&f.memory, "memory", 128, "the function's memory (MB), for the cost of its duration")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after this long")
	fl.BoolVar(&f.asJSON, "json", false, "print the summary as JSON only")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the run (go tool pprof) to this file")
	fl.StringVar(&f.dataDir, "data-dir", "", "run the cloud durable, on a data file in this new or empty directory (made if missing; a non-empty one is refused); default in memory")
	return cmd
}

// benchResult is the machine-readable summary.
type benchResult struct {
	Orders          int                `json:"orders"`
	Mode            map[string]any     `json:"mode"`
	Seconds         float64            `json:"seconds"`
	OrdersPerSecond float64            `json:"ordersPerSecond"`
	LatencyMs       map[string]float64 `json:"publishToStoredMs"`
	CPUSecondsPer1k float64            `json:"cpuSecondsPer1000Orders"`
	PeakRSSMiB      float64            `json:"peakRssMiB"`
	Invocations     int64              `json:"invocations"`
	Calls           map[string]int64   `json:"apiCalls"`
	Cost            cost.Bill          `json:"awsCostPerMillionOrders"`
	NaiveCost       float64            `json:"naiveDesignCostPerMillionOrders"`
	Commits         map[string]float64 `json:"dataFileCommits,omitempty"`
	// ModeText says Mode in words, for the table.
	ModeText string `json:"-"`
}

// modeText says how a run was set up, in the words of its flags.
func modeText(f benchFlags) string {
	delivery := "raw delivery"
	if f.envelope {
		delivery = "SNS envelopes"
	}
	rate := "as fast as they go"
	if f.rate > 0 {
		rate = fmt.Sprintf("%g orders/s in all", f.rate)
	}
	state := "in memory"
	if f.dataDir != "" {
		state = "durable"
	}
	return fmt.Sprintf("%s, batches of %d, %d s window, at most %d concurrent invocations; %d publishers, %s; %s",
		delivery, f.batchSize, f.window, f.concurrency, f.publishers, rate, state)
}

func runBench(ctx context.Context, e *env, f benchFlags) error {
	if f.orders < 1 || f.publishers < 1 {
		return usageError{errors.New("--orders and --publishers must be at least 1")}
	}
	if f.dataDir != "" {
		if err := emptyDataDir(f.dataDir); err != nil {
			return err
		}
	}
	rec := newStoreRecorder(f.orders)
	params := map[string]string{
		"BatchSize": strconv.Itoa(f.batchSize), "MaximumBatchingWindowSeconds": strconv.Itoa(f.window),
		"MaximumConcurrency": strconv.Itoa(f.concurrency), "RawMessageDelivery": strconv.FormatBool(!f.envelope),
		"FunctionMemoryMB": strconv.Itoa(f.memory),
	}
	b, err := generate(ctx, ordergen.Options{Count: f.orders, Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return err
	}
	l, err := startLocal(ctx, localOptions{addr: "127.0.0.1:0", params: params, functionLogs: rec, dataDir: f.dataDir, getenv: e.getenv})
	if err != nil {
		return err
	}
	defer l.Close()
	// On stderr, beside the results: where to watch the run from
	// (orderflow status --endpoint URL).
	fmt.Fprintf(e.stderr, "orderflow bench: embedded cloud at %s\n", l.Cloud.URL())
	client := awssns.NewFromConfig(l.Cloud.Config())
	topic := l.Output("OrderTopicArn")
	limit := rate.NewLimiter(rate.Inf, 0)
	if f.rate > 0 {
		limit = rate.NewLimiter(rate.Limit(f.rate), 10)
	}
	var prog *progress
	if !f.asJSON {
		prog = newProgress(e, f.orders, "benchmarking")
	}
	if f.cpuProfile != "" {
		out, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, wall0 := cpuSeconds(), time.Now()
	var (
		wg      sync.WaitGroup
		next    atomic.Int64
		pubErr  atomic.Pointer[error]
		ctxDone = ctx.Done()
	)
	for range f.publishers {
		wg.Go(func() {
			for {
				start := int(next.Add(10)) - 10
				if start >= len(b.Events) || pubErr.Load() != nil {
					return
				}
				end := min(start+10, len(b.Events))
				if err := waitTokens(ctx, limit, end-start); err != nil {
					return
				}
				entries := make([]snstypes.PublishBatchRequestEntry, 0, end-start)
				now := time.Now()
				for i := start; i < end; i++ {
					rec.published(b.Events[i].OrderID, now)
					entries = append(entries, snstypes.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), Message: aws.String(b.Events[i].Body)})
				}
				if _, err := client.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: entries}); err != nil {
					pubErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	deadline := time.After(f.timeout)
	for done := 0; done < f.orders; {
		select {
		case <-rec.progress:
			n := rec.storedCount()
			if prog != nil {
				prog.add(n - done)
			}
			done = n
		case <-deadline:
			return fmt.Errorf("only %s of %s orders were stored within %s; give it longer with --timeout", human.Int(int64(rec.storedCount())), human.Int(int64(f.orders)), human.Duration(f.timeout))
		case <-ctxDone:
			return ctx.Err()
		}
		if p := pubErr.Load(); p != nil {
			return fmt.Errorf("publishing failed: %w", *p)
		}
	}
	elapsed := time.Since(wall0)
	cpu := cpuSeconds() - cpu0
	wg.Wait()
	if prog != nil {
		prog.done()
	}
	calls := l.Cloud.Calls()
	sns, sqs := cost.FromCalls(calls)
	invocations, gbs := rec.billing()
	res := benchResult{
		Orders:          f.orders,
		ModeText:        modeText(f),
		Mode:            map[string]any{"raw": !f.envelope, "batchSize": f.batchSize, "windowSeconds": f.window, "concurrency": f.concurrency, "publishers": f.publishers, "rate": f.rate, "durable": f.dataDir != ""},
		Seconds:         round3(elapsed.Seconds()),
		OrdersPerSecond: round3(float64(f.orders) / elapsed.Seconds()),
		LatencyMs:       rec.percentiles(),
		CPUSecondsPer1k: round3(cpu / float64(f.orders) * 1000),
		PeakRSSMiB:      round3(peakRSSMiB()),
		Invocations:     invocations,
		Calls:           calls,
		Cost: cost.ListPrices.PerMillion(cost.Usage{
			Orders: f.orders, SNSPublishes: sns, SQSRequests: sqs, Invocations: invocations, GBSeconds: gbs,
			DynamoDBWrites: calls["dynamodb:PutItem"],
		}),
		NaiveCost: round3(cost.ListPrices.PerMillion(cost.NaiveDesign).Total),
	}
	res.Cost.Total = round3(res.Cost.Total)
	if st := l.Cloud.JournalStats(); st.Commits > 0 {
		res.Commits = map[string]float64{
			"commits": float64(st.Commits), "recordsPerCommit": round3(float64(st.Records) / float64(st.Commits)),
			"msPerCommit": round3(st.CommitTime.Seconds() * 1000 / float64(st.Commits)),
		}
	}
	if f.asJSON {
		return writeJSON(e.stdout, res)
	}
	printBench(e, res)
	return nil
}

// emptyDataDir makes dir when it is missing and refuses it when it holds
// anything: bench fills its data directory with synthetic orders, which
// must never land beside, or in place of, an up's real ones.
func emptyDataDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("could not create the data directory %s: %w", dir, errors.Unwrap(err))
		}
		return nil
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s is not a directory: bench writes synthetic orders into a data directory; give it a new or empty one (e.g. --data-dir $(mktemp -d))", dir)
	case err != nil:
		return fmt.Errorf("could not read the data directory %s: %w", dir, errors.Unwrap(err))
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty: bench writes synthetic orders; give it a new or empty directory (e.g. --data-dir $(mktemp -d))", dir)
	}
	return nil
}

// generate makes the orders, before the cloud starts; an interrupt stops
// the wait for them (a large --orders takes seconds to generate).
func generate(ctx context.Context, o ordergen.Options) (ordergen.Batch, error) {
	type result struct {
		b   ordergen.Batch
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := ordergen.Generate(o)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-ctx.Done():
		return ordergen.Batch{}, ctx.Err()
	}
}

func printBench(e *env, r benchResult) {
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "orders\t%d (%s)\n", r.Orders, r.ModeText)
	fmt.Fprintf(w, "throughput\t%.0f orders/s stored (%.2fs)\n", r.OrdersPerSecond, r.Seconds)
	fmt.Fprintf(w, "publish→stored\tp50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n", r.LatencyMs["p50"], r.LatencyMs["p95"], r.LatencyMs["p99"])
	fmt.Fprintf(w, "CPU\t%.3f s per 1,000 orders (whole process)\n", r.CPUSecondsPer1k)
	fmt.Fprintf(w, "peak RSS\t%.0f MiB\n", r.PeakRSSMiB)
	if r.Commits != nil {
		fmt.Fprintf(w, "data file\t%.0f commits, %.1f records each, %.2f ms each\n", r.Commits["commits"], r.Commits["recordsPerCommit"], r.Commits["msPerCommit"])
	}
	fmt.Fprintf(w, "invocations\t%d (%.1f orders each)\n", r.Invocations, float64(r.Orders)/float64(max(1, r.Invocations)))
	keys := make([]string, 0, len(r.Calls))
	for k := range r.Calls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s\t%d\n", k, r.Calls[k])
	}
	fmt.Fprintf(w, "AWS cost\t$%.3f per million orders (the seed's naive design: $%.2f)\n", r.Cost.Total, r.NaiveCost)
	for _, line := range r.Cost.Lines {
		fmt.Fprintf(w, "  %s\t$%.3f\n", line.Item, line.PerMillionOrders)
	}
	w.Flush()
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}

// storeRecorder reads the function host's lines: when each order was
// stored, and the invocations' billed durations.
type storeRecorder struct {
	mu          sync.Mutex
	sent        map[string]time.Time
	latencies   []time.Duration
	stored      int
	invocations int64
	gbs         float64
	partial     string
	progress    chan struct{}
}

func newStoreRecorder(n int) *storeRecorder {
	return &storeRecorder{sent: make(map[string]time.Time, n), latencies: make([]time.Duration, 0, n), progress: make(chan struct{}, 1)}
}

func (r *storeRecorder) published(id string, at time.Time) {
	r.mu.Lock()
	r.sent[id] = at
	r.mu.Unlock()
}

func (r *storeRecorder) Write(p []byte) (int, error) {
	now := time.Now()
	r.mu.Lock()
	data := r.partial + string(p)
	lines := strings.Split(data, "\n")
	r.partial = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		switch {
		case strings.Contains(l, `"outcome":"stored"`):
			if _, rest, ok := strings.Cut(l, `"orderId":"`); ok {
				id, _, _ := strings.Cut(rest, `"`)
				if at, ok := r.sent[id]; ok {
					r.latencies = append(r.latencies, now.Sub(at))
				}
				r.stored++
			}
		case strings.HasPrefix(l, "REPORT RequestId:"):
			r.invocations++
			var ms, mb float64
			for _, f := range strings.Split(l, "\t") {
				if v, ok := strings.CutPrefix(f, "Billed Duration: "); ok {
					ms, _ = strconv.ParseFloat(strings.TrimSuffix(v, " ms"), 64)
				}
				if v, ok := strings.CutPrefix(f, "Memory Size: "); ok {
					mb, _ = strconv.ParseFloat(strings.TrimSuffix(v, " MB"), 64)
				}
			}
			r.gbs += ms / 1000 * mb / 1024
		}
	}
	r.mu.Unlock()
	select {
	case r.progress <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (r *storeRecorder) storedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stored
}

func (r *storeRecorder) billing() (int64, float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.invocations, r.gbs
}

func (r *storeRecorder) percentiles() map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := slices.Clone(r.latencies)
	slices.Sort(l)
	out := map[string]float64{}
	if len(l) == 0 {
		return out
	}
	for name, q := range map[string]float64{"p50": 0.50, "p95": 0.95, "p99": 0.99} {
		out[name] = round3(float64(l[min(len(l)-1, int(q*float64(len(l))))].Microseconds()) / 1000)
	}
	return out
}

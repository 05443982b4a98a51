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

	"github.com/orderflow/orderflow/cloud/lambda"
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
	syncEvery                                                  time.Duration
	zip                                                        zipFlags
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
orders (price table in internal/cost).

--from-zip runs the function from its deployment zip, built as orderflow
deploy builds it, as child processes speaking the Lambda Runtime API (as
orderflow up --from-zip does; --zip FILE for a zip built before): the mode
line says so, and whether the zip runs natively or emulated. CPU and peak
RSS then count the function's processes too: CPU adds what the live ones
used (read from /proc/PID/stat) and what ended ones used (reaped, so in
getrusage's RUSAGE_CHILDREN); peak RSS adds each live process's peak
(VmHWM) to this process's, so it is an upper bound of the peak of the
whole.`,
		Example: `  orderflow bench
  orderflow bench --orders 50000 --envelope --batch-size 10 --window 0 --concurrency 20
  orderflow bench --rate 1000 --json
  orderflow bench --data-dir $(mktemp -d)
  orderflow bench --data-dir $(mktemp -d) --sync-every 100ms
  orderflow bench --from-zip --orders 5000`,
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
	f.zip.register(cmd)
	fl.StringVar(&f.dataDir, "data-dir", "", "run the cloud durable, on a data file in this new or empty directory (made if missing; a non-empty one is refused); default in memory")
	fl.DurationVar(&f.syncEvery, "sync-every", 0, syncEveryUsage)
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
	// ChildProcesses counts the function's processes at the end, whose
	// CPU and peak RSS the figures include.
	ChildProcesses int                `json:"childProcesses,omitempty"`
	Invocations    int64              `json:"invocations"`
	Calls          map[string]int64   `json:"apiCalls"`
	Cost           cost.Bill          `json:"awsCostPerMillionOrders"`
	NaiveCost      float64            `json:"naiveDesignCostPerMillionOrders"`
	Commits        map[string]float64 `json:"dataFileCommits,omitempty"`
	// ModeText says Mode in words, for the table.
	ModeText string `json:"-"`
}

// modeText says how a run was set up, in the words of its flags, and how
// the function ran.
func modeText(f benchFlags, fn lambda.Execution) string {
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
		if f.syncEvery > 0 {
			state = fmt.Sprintf("durable, the log synced every %v", f.syncEvery)
		}
	}
	code := "ProcessOrderFunction in-process"
	if fn.Zip {
		code = "ProcessOrderFunction from its zip, as child processes, " + howItRuns(fn)
	}
	return fmt.Sprintf("%s, batches of %d, %d s window, at most %d concurrent invocations; %d publishers, %s; %s; %s",
		delivery, f.batchSize, f.window, f.concurrency, f.publishers, rate, state, code)
}

func runBench(ctx context.Context, e *env, f benchFlags) error {
	if f.orders < 1 || f.publishers < 1 {
		return usageError{errors.New("--orders and --publishers must be at least 1")}
	}
	if err := checkSyncEvery(f.syncEvery, f.dataDir); err != nil {
		return err
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
	// The build's line goes to stderr: stdout is the results (--json).
	zip, _, err := f.zip.artefact(ctx, e.stderr, "orderflow bench")
	if err != nil {
		return err
	}
	b, err := generate(ctx, ordergen.Options{Count: f.orders, Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return err
	}
	l, err := startLocal(ctx, localOptions{addr: "127.0.0.1:0", params: params, functionLogs: rec, dataDir: f.dataDir, syncEvery: f.syncEvery, getenv: e.getenv, functionZip: zip})
	if err != nil {
		return err
	}
	defer l.Close()
	fnName := l.Output("ProcessOrderFunctionName")
	fnExec, _ := l.Cloud.Lambda.Execution(fnName)
	children := func() []int { return l.Cloud.Lambda.FunctionPids(fnName) }
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
	cpu0, wall0 := cpuSeconds(children()), time.Now()
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
	// Measured while the function's processes still run: their figures
	// are read from /proc, before Close kills them.
	pids := children()
	cpu := cpuSeconds(pids) - cpu0
	peak := peakRSSMiB(pids)
	wg.Wait()
	if prog != nil {
		prog.done()
	}
	calls := l.Cloud.Calls()
	sns, sqs := cost.FromCalls(calls)
	invocations, gbs := rec.billing()
	res := benchResult{
		Orders:   f.orders,
		ModeText: modeText(f, fnExec),
		Mode: map[string]any{"raw": !f.envelope, "batchSize": f.batchSize, "windowSeconds": f.window, "concurrency": f.concurrency, "publishers": f.publishers, "rate": f.rate, "durable": f.dataDir != "",
			"syncEveryMs": f.syncEvery.Milliseconds(), "function": executionMode(fnExec)},
		Seconds:         round3(elapsed.Seconds()),
		OrdersPerSecond: round3(float64(f.orders) / elapsed.Seconds()),
		LatencyMs:       rec.percentiles(),
		CPUSecondsPer1k: round3(cpu / float64(f.orders) * 1000),
		PeakRSSMiB:      round3(peak),
		ChildProcesses:  len(pids),
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
	if r.ChildProcesses > 0 {
		fmt.Fprintf(w, "CPU\t%.3f s per 1,000 orders (this process and the function's processes)\n", r.CPUSecondsPer1k)
		fmt.Fprintf(w, "peak RSS\t%.0f MiB (this process's peak plus the peaks of the function's %s)\n", r.PeakRSSMiB, human.Count(int64(r.ChildProcesses), "process", "processes"))
	} else {
		fmt.Fprintf(w, "CPU\t%.3f s per 1,000 orders (whole process)\n", r.CPUSecondsPer1k)
		fmt.Fprintf(w, "peak RSS\t%.0f MiB\n", r.PeakRSSMiB)
	}
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

// cpuSeconds is the CPU time of this process and of its child processes:
// those that ended and were reaped (exec.Cmd.Wait: the function host's
// sandboxes, and deploy's go build, which a difference of two readings
// cancels), from getrusage's RUSAGE_CHILDREN, and the live ones listed in
// pids, from /proc/PID/stat, which RUSAGE_CHILDREN does not count until
// they are reaped.
func cpuSeconds(pids []int) float64 {
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	total := 0.0
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += tv(ru.Utime) + tv(ru.Stime)
		}
	}
	for _, pid := range pids {
		total += procCPUSeconds(pid)
	}
	return total
}

// userHZ is the unit of /proc/PID/stat's times: USER_HZ, 100 on Linux
// whatever the kernel's tick (the kernel converts).
const userHZ = 100

// procCPUSeconds is a live process's CPU time from /proc/PID/stat: its own
// user and system time and its reaped children's (fields 14 to 17); 0 when
// it is gone or there is no /proc.
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after it start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(b[i+1:])) // fields[0] is field 3, state
	if len(fields) < 15 {
		return 0
	}
	ticks := 0.0
	for _, f := range fields[11:15] { // utime, stime, cutime, cstime
		v, _ := strconv.ParseFloat(f, 64)
		ticks += v
	}
	return ticks / userHZ
}

// peakRSSMiB is this process's peak resident set plus that of each live
// process in pids (VmHWM in /proc/PID/status): an upper bound of the
// peak of the whole, whose parts need not peak at once. Ended children are
// left out: RUSAGE_CHILDREN's peak is of the largest reaped child, go build
// among them.
func peakRSSMiB(pids []int) float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	kib := float64(ru.Maxrss) // kilobytes on Linux
	for _, pid := range pids {
		kib += procPeakKiB(pid)
	}
	return kib / 1024
}

// procPeakKiB is a live process's peak resident set, VmHWM in
// /proc/PID/status; 0 when it is gone or there is no /proc.
func procPeakKiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return n
		}
	}
	return 0
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

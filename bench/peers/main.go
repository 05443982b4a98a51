// Command peers runs the same workloads on orderflow's embedded cloud and on
// its peers, side by side in one run on one machine, and prints the ratios.
// It is its own Go module so that orderflow itself does not depend on the
// peers.
//
//	go run . -orders 10000            # from bench/peers
//	go run . -stacks orderflow -workloads sqs-cycle -cpuprofile q.prof
//	go run . -breakdown q.prof -units 40000   # where that CPU went (breakdown.go)
//
// Stacks:
//
//	orderflow  orderflow's embedded cloud (SQS, SNS, DynamoDB, function host)
//	goaws      github.com/Admiral-Piett/goaws v0.4.5 for SNS and SQS (in
//	           process), minidyn's DynamoDB server, and orderflow's function
//	           host and handler polling goaws over SQS's Query protocol
//	kumo       github.com/sivchari/kumo v0.33.1 for SNS, SQS and DynamoDB (in
//	           process), with orderflow's function host and handler polling
//	           it through the SDK (SQS's JSON protocol)
//	ceiling    an HTTP server that answers every request with a canned,
//	           valid answer and keeps nothing (ceiling.go): the rate the
//	           benchmark's own clients and Go's HTTP stack reach on this
//	           machine. Every stack's rate is also printed as a fraction of
//	           the ceiling's on the same workload.
//
// Workloads:
//
//	pipeline        publish N orders to the topic and wait until all are
//	                stored: orders stored per second (the peers' publishers
//	                publish one order a request; orderflow and the ceiling
//	                are run both ways)
//	sqs-cycle       send-batch 10 / receive 10 / delete-batch, 1 and 8
//	                workers, over the Query protocol, orderflow against
//	                goaws: messages per second
//	sqs-cycle-json  the same over the JSON protocol (the SDK), orderflow
//	                against kumo
//	ddb-puts        the store's conditional PutItem at a table size: puts
//	                per second
//	send-latency    one client sending single SendMessage requests one
//	                after the other: p50 and p99 in µs, over Query
//	                (orderflow in memory and durable, goaws) and over JSON
//	                through the SDK (orderflow both ways, kumo)
//
// -durable (the default) runs orderflow on a data file; -nosync with it
// skips the journal's fdatasyncs (journal.UnsafeSkipSyncs): the rate the
// durable path would reach if syncs were free, for measurement only.
// -sync-every D with it runs orderflow as `orderflow up --sync-every D`
// does: each request written to the log before it is answered, the log
// synced in the background every D.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/Admiral-Piett/goaws/app"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sirupsen/logrus"
	"github.com/sivchari/kumo"
	miniserver "github.com/truora/minidyn/server"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/dynamodb"
	"github.com/orderflow/orderflow/internal/gctune"
	"github.com/orderflow/orderflow/internal/local"
	"github.com/orderflow/orderflow/internal/ordergen"
	"github.com/orderflow/orderflow/internal/processorder"
)

// pick is all when on, nothing otherwise.
func pick[T any](on bool, all []T) []T {
	if !on {
		return nil
	}
	return all
}

func main() {
	var (
		orders   = flag.Int("orders", 5000, "orders in the pipeline workload")
		pubs     = flag.Int("publishers", 4, "concurrent publishers")
		envelope = flag.Bool("envelope", false, "deliver in the SNS envelope instead of raw (orderflow's template default is raw)")
		durable  = flag.Bool("durable", true, "run orderflow's cloud on a data file (goaws and minidyn keep state in memory only)")
		cycle    = flag.Duration("cycle", 5*time.Second, "how long each SQS cycle runs")
		ddbItems = flag.String("ddb-items", "10000", "table sizes for the DynamoDB puts, comma-separated (minidyn takes about a minute to load 100,000)")
		ddbPuts  = flag.Int("ddb-puts", 3000, "conditional puts measured at each size")
		asJSON   = flag.Bool("json", false, "print the results as JSON")
		only     = flag.String("workloads", "pipeline,sqs-cycle,sqs-cycle-json,ddb-puts", "the workloads to run, comma-separated")
		cpuProf  = flag.String("cpuprofile", "", "write a CPU profile of the run (go tool pprof) to this file")
		sends    = flag.Int("latency-sends", 2000, "measured SendMessage requests per stack in send-latency, after 200 unmeasured")
		noSync   = flag.Bool("nosync", false, "with -durable: skip the journal's fdatasyncs (journal.UnsafeSkipSyncs), to measure the rate the durable path would reach if syncs were free; nothing is durable then")
		syncEv   = flag.Duration("sync-every", 0, "with -durable: sync orderflow's log in the background every this long instead of before every answer (orderflow up --sync-every); 0: before every answer")
		stacks   = flag.String("stacks", "orderflow,goaws,kumo,minidyn,ceiling", "the stacks to run, comma-separated: a first name (orderflow, goaws, kumo, minidyn, ceiling) or a whole one (\"orderflow (Publish)\"), to profile one alone")
	)
	var (
		breakdownOf = flag.String("breakdown", "", "print where the CPU of a profile written by -cpuprofile went (runs nothing)")
		units       = flag.Float64("units", 0, "with -breakdown: the orders, messages or puts the profiled run moved, for the CPU per unit")
	)
	flag.Parse()
	if *breakdownOf != "" {
		if err := breakdown(os.Stdout, *breakdownOf, *units); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	on := map[string]bool{}
	for _, s := range strings.Split(*stacks, ",") {
		on[strings.TrimSpace(s)] = true
	}
	// stackOn says whether a stack ("kumo", "orderflow (Publish)",
	// "goaws+minidyn (Publish)") is to run: its first name is listed.
	stackOn := func(name string) bool {
		first, _, _ := strings.Cut(name, " ")
		first, _, _ = strings.Cut(first, "+")
		return on[first] || on[name]
	}
	want := map[string]bool{}
	for _, w := range strings.Split(*only, ",") {
		switch w = strings.TrimSpace(w); w {
		case "pipeline", "sqs-cycle", "sqs-cycle-json", "ddb-puts", "send-latency":
			want[w] = true
		default:
			fmt.Fprintf(os.Stderr, "-workloads: unknown workload %q (pipeline, sqs-cycle, sqs-cycle-json, ddb-puts, send-latency)\n", w)
			os.Exit(2)
		}
	}
	if *syncEv != 0 && (!*durable || *noSync || *syncEv < 0 || *syncEv > journal.MaxSyncEvery) {
		fmt.Fprintf(os.Stderr, "-sync-every %v goes with -durable and without -nosync, from 0 to %v\n", *syncEv, journal.MaxSyncEvery)
		os.Exit(2)
	}
	orderflowSyncEvery = *syncEv
	if *noSync {
		defer journal.UnsafeSkipSyncs()()
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	// The garbage collector's pace orderflow's CLI sets for its cloud; in
	// one process it applies to every stack alike.
	gctune.Start(context.Background(), os.Getenv)
	logrus.SetLevel(logrus.WarnLevel)
	logrus.SetOutput(io.Discard)
	results := map[string]any{}
	type row struct {
		workload, stack, unit string
		value                 float64
		cpu                   time.Duration // per unit
	}
	rows := []row{}
	cpuOf := map[string]time.Duration{}
	add := func(workload, stack string, value float64, unit string) {
		results[workload+"/"+stack] = value
		results[workload+"/"+stack+"/cpu-µs"] = float64(lastCPUPerUnit) / 1e3
		cpuOf[workload+"/"+stack] = lastCPUPerUnit
		rows = append(rows, row{workload, stack, unit, value, lastCPUPerUnit})
	}
	ctx := context.Background()

	// The pipeline.
	for _, s := range pick(want["pipeline"], []struct {
		name string
		run  func() (float64, error)
	}{
		{"orderflow (PublishBatch)", func() (float64, error) { return runOrderflow(ctx, *orders, *pubs, !*envelope, true, *durable) }},
		{"orderflow (Publish)", func() (float64, error) { return runOrderflow(ctx, *orders, *pubs, !*envelope, false, *durable) }},
		{"goaws+minidyn (Publish)", func() (float64, error) { return runGoaws(ctx, *orders, *pubs, !*envelope) }},
		{"kumo (Publish)", func() (float64, error) { return runKumo(ctx, *orders, *pubs, !*envelope, false) }},
		{"ceiling (Publish)", func() (float64, error) { return runCeilingPipeline(ctx, *orders, *pubs, false) }},
		{"ceiling (PublishBatch)", func() (float64, error) { return runCeilingPipeline(ctx, *orders, *pubs, true) }},
	}) {
		if !stackOn(s.name) {
			continue
		}
		rate, err := s.run()
		if err != nil {
			fmt.Fprintf(os.Stderr, "pipeline on %s: %v\n", s.name, err)
			continue
		}
		add("pipeline", s.name, rate, "orders/s")
	}

	// The SQS cycle: over the Query protocol against goaws (it speaks
	// nothing else), over JSON through the SDK against kumo (it speaks
	// nothing else); orderflow both ways.
	for _, c := range []struct {
		workload string
		json     bool
		peer     string
	}{{"sqs-cycle", false, "goaws"}, {"sqs-cycle-json", true, "kumo"}} {
		for _, workers := range pick(want[c.workload], []int{1, 8}) {
			for _, stack := range []string{"orderflow", c.peer, "ceiling"} {
				if !stackOn(stack) {
					continue
				}
				rate, err := runCycle(ctx, stack, workers, *cycle, *durable, c.json)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s on %s: %v\n", c.workload, stack, err)
					continue
				}
				add(fmt.Sprintf("%s/workers=%d", c.workload, workers), stack, rate, "msgs/s")
			}
		}
	}

	// DynamoDB conditional puts.
	for _, f := range pick(want["ddb-puts"], strings.Split(*ddbItems, ",")) {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintf(os.Stderr, "-ddb-items: %q is not a number\n", f)
			os.Exit(2)
		}
		for _, stack := range []string{"orderflow", "minidyn", "kumo", "ceiling"} {
			if !stackOn(stack) {
				continue
			}
			rate, err := runPuts(ctx, stack, n, *ddbPuts)
			if err != nil {
				fmt.Fprintf(os.Stderr, "puts on %s: %v\n", stack, err)
				continue
			}
			add(fmt.Sprintf("ddb-puts/items=%d", n), stack, rate, "puts/s")
		}
	}

	// Single-send latency: each stack from one client, in memory, and
	// orderflow on a data file too whatever -durable says.
	for _, c := range pick(want["send-latency"], []struct {
		proto, stack  string
		durable, json bool
	}{
		{"query", "orderflow", false, false}, {"query", "orderflow (durable)", true, false}, {"query", "goaws", false, false},
		{"json", "orderflow", false, true}, {"json", "orderflow (durable)", true, true}, {"json", "kumo", false, true},
	}) {
		p50, p99, err := runSendLatency(ctx, strings.TrimSuffix(c.stack, " (durable)"), c.durable, c.json, 200, *sends)
		if err != nil {
			fmt.Fprintf(os.Stderr, "send-latency/%s on %s: %v\n", c.proto, c.stack, err)
			continue
		}
		add("send-latency/"+c.proto+"/p50", c.stack, float64(p50.Microseconds()), "µs")
		add("send-latency/"+c.proto+"/p99", c.stack, float64(p99.Microseconds()), "µs")
	}

	// Each stack as a fraction of the ceiling on the same workload (the
	// pipeline: on the same publish requests).
	ofCeiling, cpuOfCeiling := map[string]float64{}, map[string]float64{}
	for _, r := range rows {
		key := r.workload + "/ceiling"
		if strings.HasPrefix(r.workload, "pipeline") {
			key = r.workload + "/ceiling (Publish)"
			if strings.Contains(r.stack, "PublishBatch") {
				key = r.workload + "/ceiling (PublishBatch)"
			}
		}
		if c, ok := results[key].(float64); ok && c > 0 {
			ofCeiling[r.workload+"/"+r.stack] = r.value / c
			results[r.workload+"/"+r.stack+"/of-ceiling"] = r.value / c
		}
		if c := cpuOf[key]; c > 0 && r.cpu > 0 {
			cpuOfCeiling[r.workload+"/"+r.stack] = float64(c) / float64(r.cpu)
			results[r.workload+"/"+r.stack+"/cpu-of-ceiling"] = float64(c) / float64(r.cpu)
		}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(results, "", "  ")
		fmt.Println(string(b))
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "WORKLOAD\tSTACK\tRESULT\tOF CEILING\tCPU/UNIT\tCEILING'S CPU/UNIT ÷ THIS")
	pct := func(m map[string]float64, k string) string {
		if f, ok := m[k]; ok {
			return fmt.Sprintf("%.0f%%", 100*f)
		}
		return "–"
	}
	for _, r := range rows {
		k := r.workload + "/" + r.stack
		fmt.Fprintf(w, "%s\t%s\t%.0f %s\t%s\t%.0f µs\t%s\n", r.workload, r.stack, r.value, r.unit, pct(ofCeiling, k),
			float64(r.cpu)/1e3, pct(cpuOfCeiling, k))
	}
	w.Flush()
	ratio := func(a, b string) {
		x, okx := results[a].(float64)
		y, oky := results[b].(float64)
		if okx && oky && y > 0 {
			fmt.Printf("%s ÷ %s = %.2f×\n", a, b, x/y)
		}
	}
	fmt.Println()
	ratio("pipeline/orderflow (PublishBatch)", "pipeline/goaws+minidyn (Publish)")
	ratio("pipeline/orderflow (PublishBatch)", "pipeline/kumo (Publish)")
	ratio("pipeline/orderflow (Publish)", "pipeline/goaws+minidyn (Publish)")
	ratio("pipeline/orderflow (Publish)", "pipeline/kumo (Publish)")
	for _, w := range []string{"1", "8"} {
		ratio("sqs-cycle/workers="+w+"/orderflow", "sqs-cycle/workers="+w+"/goaws")
		ratio("sqs-cycle-json/workers="+w+"/orderflow", "sqs-cycle-json/workers="+w+"/kumo")
	}
	for _, f := range pick(want["ddb-puts"], strings.Split(*ddbItems, ",")) {
		n := strings.TrimSpace(f)
		ratio("ddb-puts/items="+n+"/orderflow", "ddb-puts/items="+n+"/minidyn")
		ratio("ddb-puts/items="+n+"/orderflow", "ddb-puts/items="+n+"/kumo")
	}
}

// The CPU the process spent per unit (order, message, put) in the last
// measured stretch of a workload: robust where the wall-clock rate is not
// (a machine shared with other work), as one process runs one stack at a
// time.
var lastCPUPerUnit time.Duration

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measured records the CPU spent since cpu0 on units units.
func measured(cpu0 time.Duration, units int) {
	lastCPUPerUnit = 0
	if units > 0 {
		lastCPUPerUnit = (processCPU() - cpu0) / time.Duration(units)
	}
}

// stored counts the orders the function logged as stored.
type stored struct {
	n       atomic.Int64
	partial []byte
	mu      sync.Mutex
}

func (s *stored) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := strings.IndexByte(string(s.partial), '\n')
		if i < 0 {
			break
		}
		if strings.Contains(string(s.partial[:i]), `"outcome":"stored"`) {
			s.n.Add(1)
		}
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}

func (s *stored) wait(n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for s.n.Load() < int64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d stored after %s", s.n.Load(), n, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// publish publishes the generated orders from several publishers, in
// batches of 10 or one a request.
func publish(ctx context.Context, client *awssns.Client, topic string, b ordergen.Batch, publishers int, batch bool) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	step := int64(1)
	if batch {
		step = 10
	}
	for range publishers {
		wg.Go(func() {
			for {
				start := int(next.Add(step) - step)
				if start >= len(b.Events) || first.Load() != nil {
					return
				}
				end := min(start+int(step), len(b.Events))
				var err error
				if batch {
					var entries []snstypes.PublishBatchRequestEntry
					for i := start; i < end; i++ {
						entries = append(entries, snstypes.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), Message: aws.String(b.Events[i].Body)})
					}
					_, err = client.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: entries})
				} else {
					_, err = client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(b.Events[start].Body)})
				}
				if err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return *e
	}
	return nil
}

// orderflowSyncEvery is -sync-every: local.Options.SyncEvery of a durable
// orderflow.
var orderflowSyncEvery time.Duration

// startOrderflow starts orderflow's pipeline, on a data file in a new
// temporary directory when durable; stop closes it and removes the files.
func startOrderflow(ctx context.Context, opts local.Options, durable bool) (*local.Pipeline, func(), error) {
	if durable {
		opts.SyncEvery = orderflowSyncEvery
		dir, err := os.MkdirTemp("", "orderflow-peers-")
		if err != nil {
			return nil, nil, err
		}
		opts.DataDir = dir
	}
	p, err := local.Start(ctx, opts)
	if err != nil {
		os.RemoveAll(opts.DataDir)
		return nil, nil, err
	}
	return p, func() { p.Close(); os.RemoveAll(opts.DataDir) }, nil
}

// runOrderflow runs the pipeline on orderflow's embedded cloud.
func runOrderflow(ctx context.Context, n, publishers int, raw, batch, durable bool) (float64, error) {
	rec := &stored{}
	opts := local.Options{Addr: "127.0.0.1:0", FunctionLogs: rec, Params: map[string]string{
		"RawMessageDelivery": strconv.FormatBool(raw), "MaximumBatchingWindowSeconds": "0",
	}}
	p, stop, err := startOrderflow(ctx, opts, durable)
	if err != nil {
		return 0, err
	}
	defer stop()
	b, err := ordergen.Generate(ordergen.Options{Count: n, Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return 0, err
	}
	start, cpu0 := time.Now(), processCPU()
	if err := publish(ctx, awssns.NewFromConfig(p.Cloud.Config()), p.Output("OrderTopicArn"), b, publishers, batch); err != nil {
		return 0, err
	}
	if err := rec.wait(n, 10*time.Minute); err != nil {
		return 0, err
	}
	measured(cpu0, n)
	return float64(n) / time.Since(start).Seconds(), nil
}

// goawsStack is goaws for SNS and SQS and minidyn for DynamoDB.
type goawsStack struct {
	url     string
	ddbURL  string
	stop    func()
	cfg     aws.Config // SNS at goaws
	ddbCfg  aws.Config // DynamoDB at minidyn
	queries *querySQS
}

// sharedClient is the peers' HTTP client: the same connection pool
// orderflow's cloud.Config uses, so every stack's SDK clients keep their
// connections.
var sharedClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 256
})

var goawsOnce sync.Once
var goawsShared *goawsStack

// startGoaws starts goaws in this process. Its state is global, so one
// instance serves every workload of the run, each with its own queues.
func startGoaws() *goawsStack {
	goawsOnce.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		app.CurrentEnvironment = app.Environment{Host: "127.0.0.1", Port: port, AccountID: "000000000000",
			QueueAttributeDefaults: app.EnvQueueAttributes{VisibilityTimeout: 60, MaximumMessageSize: 262144}}
		srv := &http.Server{Handler: router.New()}
		go srv.Serve(l)
		ddb := httptest.NewServer(miniserver.NewServer())
		creds := credentials.NewStaticCredentialsProvider("bench", "bench", "")
		client := sharedClient
		goawsShared = &goawsStack{
			url:     "http://" + l.Addr().String(),
			ddbURL:  ddb.URL,
			stop:    func() { srv.Close(); ddb.Close() },
			cfg:     aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://" + l.Addr().String()), Credentials: creds, HTTPClient: client},
			ddbCfg:  aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(ddb.URL), Credentials: creds, HTTPClient: client},
			queries: newQuerySQS("http://" + l.Addr().String()),
		}
	})
	return goawsShared
}

var runs atomic.Int64

// runGoaws runs the pipeline on goaws and minidyn with orderflow's function
// host and handler.
func runGoaws(ctx context.Context, n, publishers int, raw bool) (float64, error) {
	g := startGoaws()
	id := strconv.FormatInt(runs.Add(1), 10)
	queue := "OrderQueue" + id
	qURL, err := g.queries.createQueue(ctx, queue, nil)
	if err != nil {
		return 0, err
	}
	qARN := "arn:aws:sqs::000000000000:" + queue
	return runPeer(ctx, peer{
		sns: awssns.NewFromConfig(g.cfg), ddbCfg: g.ddbCfg, id: id, queueARN: qARN, queueURL: qURL,
		queues: queues{q: g.queries, arnToURL: map[string]string{qARN: qURL}},
	}, n, publishers, raw, false)
}

// runKumo runs the pipeline on kumo (SNS, SQS and DynamoDB in one
// in-process server) with orderflow's function host and handler; the host
// polls kumo's SQS through the SDK, as AWS's poller uses the API.
func runKumo(ctx context.Context, n, publishers int, raw, batch bool) (float64, error) {
	srv := kumo.NewServer()
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: sharedClient,
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")}
	sqsClient := awssqs.NewFromConfig(cfg)
	id := strconv.FormatInt(runs.Add(1), 10)
	q, err := sqsClient.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("OrderQueue" + id),
		Attributes: map[string]string{"VisibilityTimeout": "60"}})
	if err != nil {
		return 0, fmt.Errorf("create queue: %w", err)
	}
	attrs, err := sqsClient.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return 0, fmt.Errorf("queue ARN: %w", err)
	}
	return runPeer(ctx, peer{
		sns: awssns.NewFromConfig(cfg), ddbCfg: cfg, id: id,
		queueARN: attrs.Attributes["QueueArn"], queueURL: aws.ToString(q.QueueUrl),
		queues: lambda.ClientQueues(sqsClient),
	}, n, publishers, raw, batch)
}

// peer is a stack the pipeline runs on besides orderflow.
type peer struct {
	sns                *awssns.Client
	ddbCfg             aws.Config
	id                 string
	queueARN, queueURL string
	queues             lambda.Queues
}

// runPeer subscribes the queue to a new topic, creates the table, runs
// orderflow's function host and handler on the stack, publishes n orders
// and returns the rate at which they were stored.
func runPeer(ctx context.Context, p peer, n, publishers int, raw, batch bool) (float64, error) {
	table := "Orders" + p.id
	topic, err := p.sns.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("OrderTopic" + p.id)})
	if err != nil {
		return 0, fmt.Errorf("create topic: %w", err)
	}
	sub, err := p.sns.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(p.queueARN)})
	if err != nil {
		return 0, fmt.Errorf("subscribe: %w", err)
	}
	if raw {
		if _, err := p.sns.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: sub.SubscriptionArn,
			AttributeName: aws.String("RawMessageDelivery"), AttributeValue: aws.String("true")}); err != nil {
			return 0, fmt.Errorf("raw delivery: %w", err)
		}
	}
	if err := createOrdersTable(ctx, awsddb.NewFromConfig(p.ddbCfg), table); err != nil {
		return 0, fmt.Errorf("create table: %w", err)
	}
	rec := &stored{}
	host, err := lambda.New(lambda.Options{Queues: p.queues, Logs: rec, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, err
	}
	defer host.Close(context.Background())
	host.Register("ProcessOrderFunction", func(fc lambda.Config) (lambda.Handler, error) {
		h, err := processorder.New(p.ddbCfg, func(k string) string { return fc.Environment[k] }, fc.Logs)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
	if _, err := host.CreateFunction(ctx, lambda.Function{Name: "ProcessOrderFunction", TimeoutSec: 10, MemoryMB: 128,
		Environment: map[string]string{"ORDERS_TABLE": table, "DLQ_URL": p.queueURL + "-dlq"}}); err != nil {
		return 0, err
	}
	if _, err := host.CreateEventSourceMapping(ctx, lambda.EventSourceMapping{EventSourceArn: p.queueARN, FunctionName: "ProcessOrderFunction",
		Enabled: true, BatchSize: 10, ReportBatchItemFailure: true, MaximumConcurrency: 10}); err != nil {
		return 0, err
	}
	b, err := ordergen.Generate(ordergen.Options{Count: n, Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return 0, err
	}
	start, cpu0 := time.Now(), processCPU()
	if err := publish(ctx, p.sns, aws.ToString(topic.TopicArn), b, publishers, batch); err != nil {
		return 0, err
	}
	if err := rec.wait(n, 10*time.Minute); err != nil {
		return 0, err
	}
	measured(cpu0, n)
	return float64(n) / time.Since(start).Seconds(), nil
}

func createOrdersTable(ctx context.Context, client *awsddb.Client, name string) error {
	s := aws.String
	_, err := client.CreateTable(ctx, &awsddb.CreateTableInput{
		TableName: s(name), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: s("orderId"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: s("userId"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: s("timestamp"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{{AttributeName: s("orderId"), KeyType: ddbtypes.KeyTypeHash}},
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{{
			IndexName:  s("UserOrders"),
			KeySchema:  []ddbtypes.KeySchemaElement{{AttributeName: s("userId"), KeyType: ddbtypes.KeyTypeHash}, {AttributeName: s("timestamp"), KeyType: ddbtypes.KeyTypeRange}},
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		}},
	})
	return err
}

// runCycle measures send-batch 10 / receive 10 / delete-batch on a stack.
func runCycle(ctx context.Context, stack string, workers int, d time.Duration, durable, json bool) (float64, error) {
	var url string
	switch stack {
	case "goaws":
		url = startGoaws().url
	case "kumo":
		srv := kumo.NewServer()
		defer srv.Close()
		url = srv.URL
	case "ceiling":
		url = startCeiling().url
	default:
		p, stop, err := startOrderflow(ctx, local.Options{Addr: "127.0.0.1:0"}, durable)
		if err != nil {
			return 0, err
		}
		defer stop()
		url = p.Cloud.URL()
	}
	var q cycler = newQuerySQS(url)
	if json {
		q = newSDKSQS(url)
	}
	name := fmt.Sprintf("cycle%d-%d", workers, runs.Add(1))
	qURL, err := q.createQueue(ctx, name, nil)
	if err != nil {
		return 0, err
	}
	bodies := cycleBodies
	var (
		done  atomic.Int64
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	end, cpu0 := time.Now().Add(d), processCPU()
	for range workers {
		wg.Go(func() {
			for time.Now().Before(end) && first.Load() == nil {
				if err := q.sendBatch(ctx, qURL, bodies); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
				rh, err := q.receiveHandles(ctx, qURL, 10)
				if err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
				if len(rh) > 0 {
					if err := q.deleteBatch(ctx, qURL, rh); err != nil {
						first.CompareAndSwap(nil, &err)
						return
					}
				}
				done.Add(int64(len(rh)))
			}
		})
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return 0, *e
	}
	measured(cpu0, int(done.Load()))
	return float64(done.Load()) / d.Seconds(), nil
}

// runPuts measures the store's conditional PutItem at a table size.
func runPuts(ctx context.Context, stack string, items, puts int) (float64, error) {
	var cfg aws.Config
	switch stack {
	case "minidyn":
		srv := httptest.NewServer(miniserver.NewServer())
		defer srv.Close()
		cfg = aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: credentials.NewStaticCredentialsProvider("b", "b", "")}
	case "kumo":
		srv := kumo.NewServer()
		defer srv.Close()
		cfg = aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: credentials.NewStaticCredentialsProvider("b", "b", "")}
	case "ceiling":
		// No state: the table size means nothing, so nothing is loaded.
		cfg = startCeiling().cfg
		cfg.HTTPClient = nil
		items = 0
	default:
		p, err := local.Start(ctx, local.Options{Addr: "127.0.0.1:0"})
		if err != nil {
			return 0, err
		}
		defer p.Close()
		cfg = p.Cloud.Config()
	}
	client := awsddb.NewFromConfig(cfg)
	table := "Puts" + strconv.FormatInt(runs.Add(1), 10)
	if err := createOrdersTable(ctx, client, table); err != nil {
		return 0, err
	}
	store := dynamodb.New(client, table)
	order := func(i int) orderflow.Order {
		return orderflow.Order{OrderID: fmt.Sprintf("P%09d", i), UserID: fmt.Sprintf("U%04d", i%5000), ItemName: "Laptop", Quantity: 1,
			Status: orderflow.StatusPaid, Timestamp: time.Date(2025, 5, 3, 12, 0, 0, 0, time.UTC)}
	}
	// Load the table, 8 writers at a time.
	if err := parallel(items, 8, func(i int) error { _, err := store.PutOrder(ctx, order(i)); return err }); err != nil {
		return 0, err
	}
	start, cpu0 := time.Now(), processCPU()
	if err := parallel(puts, 8, func(i int) error { _, err := store.PutOrder(ctx, order(items+i)); return err }); err != nil {
		return 0, err
	}
	measured(cpu0, puts)
	return float64(puts) / time.Since(start).Seconds(), nil
}

func parallel(n, workers int, f func(int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || first.Load() != nil {
					return
				}
				if err := f(i); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return *e
	}
	return nil
}

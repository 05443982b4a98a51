package reliability_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/local"
	"github.com/orderflow/orderflow/internal/ordergen"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
	"github.com/orderflow/orderflow/reliability"
)

// The suite's sizes. The defaults fit CI; `make reliability` runs it larger.
var (
	flagOrders        = flag.Int("reliability.orders", 10000, "orders in the baseline scenario")
	flagFaultOrders   = flag.Int("reliability.fault-orders", 1000, "orders in each fault scenario")
	flagSeeds         = flag.Int("reliability.seeds", 2, "seeds per fault scenario")
	flagVersionOrders = flag.Int("reliability.version-orders", 1000, "orders in the many-versions scenario")
	flagKills         = flag.Int("reliability.kills", 20, "kill -9 rounds")
)

// fast are template parameters that make redeliveries take seconds, not
// minutes: a 2 s visibility timeout (the function's timeout is 2 s too).
var fast = map[string]string{"FunctionTimeoutSeconds": "2", "QueueVisibilityTimeoutSeconds": "2", "MaximumBatchingWindowSeconds": "0"}

type run struct {
	*local.Pipeline
	outcomes *reliability.Outcomes
	cfg      aws.Config
}

func start(t *testing.T, params map[string]string, faults cloud.Faults, wrap func(lambda.Handler) lambda.Handler) *run {
	t.Helper()
	out := reliability.NewOutcomes()
	p, err := local.Start(context.Background(), local.Options{Addr: "127.0.0.1:0", Params: params, FunctionLogs: out, Faults: faults, Wrap: wrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &run{Pipeline: p, outcomes: out, cfg: p.Cloud.Config()}
}

func (r *run) targets() reliability.Targets {
	return reliability.Targets{Table: r.Output("OrdersTableName"), QueueURL: r.Output("OrderQueueUrl"), DLQURL: r.Output("OrderDLQUrl")}
}

func (r *run) publish(t *testing.T, events []ordergen.Event) {
	t.Helper()
	bodies := make([]string, len(events))
	for i, e := range events {
		bodies[i] = e.Body
	}
	acked, err := reliability.Publish(context.Background(), r.cfg, r.Output("OrderTopicArn"), bodies, 4)
	if err != nil {
		t.Fatal(err)
	}
	if n := countTrue(acked); n != len(bodies) {
		t.Fatalf("%d of %d publishes were acknowledged", n, len(bodies))
	}
}

func countTrue(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

func (r *run) drain(t *testing.T, limit time.Duration) {
	t.Helper()
	if err := reliability.Drain(context.Background(), r.cfg, r.Output("OrderQueueUrl"), limit); err != nil {
		t.Fatal(err)
	}
}

// redrive moves the DLQ's messages back to OrderQueue, as an operator does
// after a transient fault (`orderflow dlq redrive`); invalid orders return
// to the DLQ with their reasons. It returns how many moved.
func (r *run) redrive(t *testing.T) int {
	t.Helper()
	return redrive(t, r.cfg, r.Output("OrderDLQUrl"), r.Output("OrderDLQArn"), r.Output("OrderQueueArn"))
}

// redrive moves every message of the DLQ at dlqURL (dlqARN) to the queue
// queueARN with a message move task and waits for the task to complete.
func redrive(t *testing.T, cfg aws.Config, dlqURL, dlqARN, queueARN string) int {
	t.Helper()
	ctx := context.Background()
	client := awssqs.NewFromConfig(cfg)
	attrs, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(dlqURL), AttributeNames: []sqsAttr{"ApproximateNumberOfMessages"}})
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Attributes["ApproximateNumberOfMessages"] == "0" {
		return 0
	}
	// Started once, without the SDK's retries: a retry of a start whose
	// answer was lost would find the first task running and fail.
	began := time.Now().Add(-time.Second).UnixMilli()
	if _, err := client.StartMessageMoveTask(ctx, &awssqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlqARN), DestinationArn: aws.String(queueARN)},
		func(o *awssqs.Options) { o.RetryMaxAttempts = 1 }); err != nil {
		out, lerr := client.ListMessageMoveTasks(ctx, &awssqs.ListMessageMoveTasksInput{SourceArn: aws.String(dlqARN), MaxResults: aws.Int32(1)})
		if lerr != nil || len(out.Results) == 0 || out.Results[0].StartedTimestamp < began {
			t.Fatalf("start a message move task: %v", err)
		}
		t.Logf("the answer to StartMessageMoveTask was lost (%v), but the task started", err)
	}
	var task sqstypes.ListMessageMoveTasksResultEntry
	completed := poll.Within(time.Minute, func() bool {
		out, err := client.ListMessageMoveTasks(ctx, &awssqs.ListMessageMoveTasksInput{SourceArn: aws.String(dlqARN), MaxResults: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Results) == 0 {
			t.Fatalf("no message move task listed for %s", dlqARN)
		}
		task = out.Results[0]
		if st := aws.ToString(task.Status); st != "COMPLETED" && st != "RUNNING" {
			t.Fatalf("the move task ended %s: %s", st, aws.ToString(task.FailureReason))
		}
		return aws.ToString(task.Status) == "COMPLETED"
	})
	if !completed {
		t.Fatalf("the move task ended %s: %s", aws.ToString(task.Status), aws.ToString(task.FailureReason))
	}
	return int(task.ApproximateNumberOfMessagesMoved)
}

func (r *run) check(t *testing.T, b ordergen.Batch) reliability.Report {
	t.Helper()
	rep, err := reliability.Check(context.Background(), r.cfg, r.targets(), reliability.Expect{Final: b.Final, Invalid: b.Invalid})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func generate(t *testing.T, o ordergen.Options) ordergen.Batch {
	t.Helper()
	b, err := ordergen.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// 1. Every order published through SNS, 5% invalid: the valid ones stored
// as their newest event, the invalid ones dead-lettered with reasons, the
// queue drained, nothing lost.
func TestEveryOrderIsStoredOrDeadLetteredWithItsReason(t *testing.T) {
	slowtest.Skip(t, "the reliability suite drives the whole pipeline with many orders")
	t.Parallel()
	r := start(t, map[string]string{"MaximumBatchingWindowSeconds": "0"}, cloud.Faults{}, nil)
	b := generate(t, ordergen.Options{Count: *flagOrders, Invalid: 0.05, Seed: 1})
	began := time.Now()
	r.publish(t, b.Events)
	r.drain(t, 5*time.Minute)
	elapsed := time.Since(began)
	rep := r.check(t, b)
	t.Logf("%d orders in %s: %s", len(b.Events), elapsed.Round(time.Millisecond), rep)
	if !rep.OK() || rep.Stored != len(b.Final) || rep.DeadLettered != len(b.Invalid) {
		t.Errorf("report: %s\nwant %d stored and %d dead-lettered", rep, len(b.Final), len(b.Invalid))
	}
}

// 2. The same under each injected fault, across seeds: the same end state,
// and the faults really fired (the function saw redeliveries).
func TestTheEndStateSurvivesEveryInjectedFault(t *testing.T) {
	slowtest.Skip(t, "the reliability suite drives the whole pipeline with many orders")
	t.Parallel()
	faults := []struct {
		name   string
		faults cloud.Faults
	}{
		{"DynamoDB throttling", cloud.Faults{DynamoDBWrites: 0.3}},
		{"DynamoDB 5xx", cloud.Faults{DynamoDBWrites: 0.3, DynamoDBError: "5xx"}},
		{"failed deletes", cloud.Faults{FailedDeletes: 0.3}},
		{"duplicate deliveries", cloud.Faults{DuplicateDeliveries: 0.3}},
		{"a crash after the write, before the delete", cloud.Faults{CrashAfterHandler: 0.2}},
		{"a handler slower than the visibility timeout", cloud.Faults{SlowHandler: 0.05}},
	}
	for _, f := range faults {
		for seed := uint64(1); seed <= uint64(*flagSeeds); seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", f.name, seed), func(t *testing.T) {
				t.Parallel() // each scenario has a pipeline of its own
				ff := f.faults
				ff.Seed = seed
				r := start(t, fast, ff, nil)
				b := generate(t, ordergen.Options{Count: *flagFaultOrders, Invalid: 0.05, Duplicates: 0.05, OutOfOrder: 0.05, Seed: seed})
				r.publish(t, b.Events)
				r.drain(t, 5*time.Minute)
				// Messages SQS dead-lettered after repeated faults go back, as
				// an operator would move them; the rest of the DLQ returns.
				r.Cloud.SetFaults(cloud.Faults{})
				moved := r.redrive(t)
				r.drain(t, 2*time.Minute)
				rep := r.check(t, b)
				fired := r.Cloud.FaultsFired()
				t.Logf("%s; faults fired %v; redeliveries %d; moved back from the DLQ %d; outcomes %v", rep, nonZero(fired), r.outcomes.Redelivered(), moved, r.outcomes.Counts())
				if !rep.OK() || rep.Stored != len(b.Final) || rep.DeadLettered != len(b.Invalid) {
					t.Errorf("report: %s", rep)
				}
				var total int64
				for _, n := range fired {
					total += n
				}
				if total == 0 {
					t.Errorf("no fault fired")
				}
				if r.outcomes.Redelivered() == 0 && ff.DuplicateDeliveries == 0 {
					t.Errorf("the fault caused no redelivery")
				}
				if ff.DuplicateDeliveries > 0 && r.outcomes.Counts()["duplicate"] <= b.Counts()[ordergen.KindDuplicate] {
					t.Errorf("duplicate deliveries caused no extra duplicate outcomes: %v", r.outcomes.Counts())
				}
			})
		}
	}
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

// 3. Orders with five versions each, shuffled and with duplicates: every
// order ends at its newest version, and the stale and duplicate counts are
// exactly those the input implies. Events of one order are processed one at
// a time (in rounds: the k-th event of every order, then the k+1-th), so the
// input fixes what each event finds in the table.
func TestManyVersionsShuffledAndDuplicatedEndAtTheNewest(t *testing.T) {
	slowtest.Skip(t, "the reliability suite drives the whole pipeline with many orders")
	t.Parallel()
	r := start(t, map[string]string{"MaximumBatchingWindowSeconds": "0"}, cloud.Faults{}, nil)
	rnd := rand.New(rand.NewPCG(3, 3))
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	n := *flagVersionOrders
	seqs := make([][]orderflow.Order, n)
	final := map[string]orderflow.Order{}
	want := map[string]int{}
	statuses := orderflow.Statuses()
	for i := range n {
		var versions []orderflow.Order
		for v := range 5 {
			versions = append(versions, orderflow.Order{
				OrderID: fmt.Sprintf("V-%05d", i), UserID: "U1", ItemName: "Laptop", Quantity: 1,
				Status: statuses[min(v, len(statuses)-1)], Timestamp: base.Add(time.Duration(v) * time.Minute),
			})
		}
		final[versions[4].OrderID] = versions[4]
		seq := slices.Clone(versions)
		for _, v := range versions { // a fifth of the events are delivered twice
			if rnd.IntN(5) == 0 {
				seq = append(seq, v)
			}
		}
		rnd.Shuffle(len(seq), func(a, b int) { seq[a], seq[b] = seq[b], seq[a] })
		seqs[i] = seq
		// What each event finds, processed in this order.
		var held *orderflow.Order
		for _, e := range seq {
			switch {
			case held == nil || e.Supersedes(*held):
				want["stored"]++
				e := e
				held = &e
			case e == *held:
				want["duplicate"]++
			default:
				want["stale"]++
			}
		}
	}
	rounds := 0
	for _, s := range seqs {
		rounds = max(rounds, len(s))
	}
	sent := 0
	for k := range rounds {
		var round []ordergen.Event
		for _, s := range seqs {
			if k < len(s) {
				body, _ := s[k].MarshalJSON()
				round = append(round, ordergen.Event{Body: string(body)})
			}
		}
		r.publish(t, round)
		sent += len(round)
		if !poll.Within(2*time.Minute, func() bool { return r.outcomes.Total() >= sent }) {
			t.Fatalf("round %d: %d of %d events processed", k, r.outcomes.Total(), sent)
		}
	}
	r.drain(t, time.Minute)
	rep := r.check(t, ordergen.Batch{Final: final})
	got := r.outcomes.Counts()
	t.Logf("%d orders, %d events in %d rounds: outcomes %v, want %v; %s", n, sent, rounds, got, want, rep)
	if !rep.OK() || rep.Stored != n {
		t.Errorf("report: %s", rep)
	}
	for _, k := range []string{"stored", "duplicate", "stale"} {
		if got[k] != want[k] {
			t.Errorf("%s outcomes = %d, want %d", k, got[k], want[k])
		}
	}
}

// 4. A batch of 10 with one poison record (every write of it fails): the 9
// are stored and deleted after the first invocation; the poison one is
// received exactly 3 times, then SQS moves it to the DLQ.
func TestAPoisonRecordIsReceivedThreeTimesThenDeadLetteredWhileItsBatchIsDone(t *testing.T) {
	slowtest.Skip(t, "the reliability suite drives the whole pipeline with many orders")
	t.Parallel()
	r := start(t, map[string]string{"FunctionTimeoutSeconds": "2", "QueueVisibilityTimeoutSeconds": "2", "MaximumBatchingWindowSeconds": "1"}, cloud.Faults{}, nil)
	r.Cloud.DynamoDB.SetFault(func(op string, body []byte) *awsproto.Error {
		if op == "PutItem" && strings.Contains(string(body), `"POISON"`) {
			return awsproto.Errorf(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput. (injected)")
		}
		return nil
	})
	b := generate(t, ordergen.Options{Count: 9, Seed: 9})
	poison := orderflow.Order{OrderID: "POISON", UserID: "U1", ItemName: "Laptop", Quantity: 1, Status: orderflow.StatusNew, Timestamp: time.Now().UTC().Truncate(time.Second)}
	body, _ := poison.MarshalJSON()
	r.publish(t, append(b.Events, ordergen.Event{Body: string(body)}))
	r.drain(t, time.Minute)
	for id := range b.Final {
		if got := r.outcomes.Of(id); !slices.Equal(got, []string{"stored"}) {
			t.Errorf("%s outcomes = %v, want one stored (deleted after the first invocation)", id, got)
		}
	}
	if got := r.outcomes.Of("POISON"); !slices.Equal(got, []string{"failed", "failed", "failed"}) {
		t.Errorf("POISON outcomes = %v, want failed three times", got)
	}
	rep, err := reliability.Check(context.Background(), r.cfg, r.targets(), reliability.Expect{Final: b.Final, Invalid: []string{"POISON"}})
	if err != nil {
		t.Fatal(err)
	}
	// The poison record is in the DLQ, moved by SQS: without the function's
	// reason, waiting for an operator.
	if rep.Stored != 9 || len(rep.Lost) != 0 || len(rep.Unexpected) != 0 || !slices.Equal(rep.AwaitingRedrive, []string{"POISON"}) || !strings.Contains(rep.Problems[0], "without a reason") {
		t.Errorf("report: %s", rep)
	}
}

// 5. A maximum concurrency below what the poller could take: the host never
// runs more invocations at once, and no valid order reaches the DLQ for it.
func TestAMaximumConcurrencyNeverSendsValidOrdersToTheDLQ(t *testing.T) {
	slowtest.Skip(t, "the reliability suite drives the whole pipeline with many orders")
	t.Parallel()
	var now, peak atomic.Int64
	wrap := func(next lambda.Handler) lambda.Handler {
		return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			n := now.Add(1)
			defer now.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(5 * time.Millisecond) // a slower function: the queue backs up
			return next(ctx, ev)
		}
	}
	r := start(t, map[string]string{"MaximumConcurrency": "2", "BatchSize": "10", "MaximumBatchingWindowSeconds": "0"}, cloud.Faults{}, wrap)
	b := generate(t, ordergen.Options{Count: 2000, Seed: 5})
	r.publish(t, b.Events)
	r.drain(t, 3*time.Minute)
	rep := r.check(t, b)
	t.Logf("%s; peak concurrency %d", rep, peak.Load())
	if !rep.OK() || rep.Stored != len(b.Final) {
		t.Errorf("report: %s", rep)
	}
	if peak.Load() > 2 {
		t.Errorf("peak concurrency %d, above the maximum of 2", peak.Load())
	}
}

// 7. SNS deliveries the queue's policy denies are counted as failed and kept
// in the subscription's DLQ; none disappears, and once the policy is right a
// redrive delivers them.
func TestDeniedDeliveriesAreCountedAndKeptInTheSubscriptionDLQ(t *testing.T) {
	slowtest.Skip(t, "the reliability suite drives the whole pipeline with many orders")
	t.Parallel()
	r := start(t, fast, cloud.Faults{}, nil)
	ctx := context.Background()
	client := awssqs.NewFromConfig(r.cfg)
	q, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(r.Output("OrderQueueUrl")), AttributeNames: []sqsAttr{"Policy"}})
	if err != nil {
		t.Fatal(err)
	}
	good := q.Attributes["Policy"]
	deny := strings.Replace(good, r.Output("OrderTopicArn"), r.Output("OrderTopicArn")+"-someone-else", 1)
	if _, err := client.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(r.Output("OrderQueueUrl")), Attributes: map[string]string{"Policy": deny}}); err != nil {
		t.Fatal(err)
	}
	b := generate(t, ordergen.Options{Count: 200, Seed: 7})
	r.publish(t, b.Events)
	stats := r.Cloud.SNS.Stats()
	if stats.Failed != 200 || stats.DeadLettered != 200 || stats.Delivered != 0 {
		t.Errorf("SNS stats = %+v, want 200 failed and 200 dead-lettered", stats)
	}
	rep := r.check(t, b)
	if rep.Stored != 0 || len(rep.AwaitingRedrive) != 200 || len(rep.Unexpected) != 0 || len(rep.Lost) != 0 {
		t.Errorf("report while denied: %s\nwant all 200 in the DLQ awaiting a redrive, none lost", rep)
	}
	if _, err := client.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(r.Output("OrderQueueUrl")), Attributes: map[string]string{"Policy": good}}); err != nil {
		t.Fatal(err)
	}
	r.redrive(t)
	r.drain(t, time.Minute)
	if rep := r.check(t, b); !rep.OK() || rep.Stored != 200 {
		t.Errorf("report after the policy is fixed and the DLQ redriven: %s", rep)
	}
}

type sqsAttr = sqstypes.QueueAttributeName

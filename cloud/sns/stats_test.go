package sns_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/orderflow/orderflow/cloud/sns"
)

// TestStatisticsGoWithTheirSubscription is the attack of subscribing and
// unsubscribing in a loop: each subscription's counts used to stay in
// memory for good (docs/benchmarks.md). Now they go with it, the
// heap stays flat, and the totals still count every delivery, those of
// subscriptions gone included.
func TestStatisticsGoWithTheirSubscription(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "t", nil)
		kept := e.subscribe(t, topic, "kept", nil)
		gone := e.subscribe(t, topic, "gone", nil)
		if _, err := e.svc.Publish(ctx, sns.PublishInput{TopicARN: topic, Message: "one"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Unsubscribe(ctx, gone); err != nil {
			t.Fatal(err)
		}
		st := e.svc.Stats()
		if _, ok := st.Subscriptions[gone]; ok || len(st.Subscriptions) != 1 || st.Subscriptions[kept].Delivered != 1 {
			t.Errorf("after one of two subscriptions went, Subscriptions = %v; want only %s, with 1 delivered", st.Subscriptions, kept)
		}
		if st.Delivered != 2 || st.Published != 1 {
			t.Errorf("totals: %d published, %d delivered; want 1 and 2 (the gone subscription's delivery counts)", st.Published, st.Delivered)
		}
		// A deleted topic takes its subscriptions' counts too.
		other := e.createTopic(t, "other", nil)
		e.subscribe(t, other, "q", nil)
		if _, err := e.svc.Publish(ctx, sns.PublishInput{TopicARN: other, Message: "two"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeleteTopic(ctx, other); err != nil {
			t.Fatal(err)
		}
		if st := e.svc.Stats(); len(st.Subscriptions) != 1 || st.Delivered != 3 {
			t.Errorf("after DeleteTopic: %d subscriptions counted, %d delivered; want 1 and 3", len(st.Subscriptions), st.Delivered)
		}

		for i := range 200 {
			arn, err := e.svc.Subscribe(ctx, topic, "sqs", queueARN(fmt.Sprint("churn-", i)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.svc.Unsubscribe(ctx, arn); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(e.svc.Stats().Subscriptions); n != 1 {
			t.Errorf("after 200 subscribe/unsubscribe cycles Stats holds %d subscriptions, want the 1 that exists", n)
		}
	})
}

// TestSubscribeUnsubscribeCyclesLeaveTheHeapFlat measures the heap (after
// a collection) across 20,000 cycles of Subscribe and Unsubscribe, in
// memory. Not parallel: the heap is the process's.
func TestSubscribeUnsubscribeCyclesLeaveTheHeapFlat(t *testing.T) {
	svc, err := sns.New(sns.Options{Signer: testSigner(t), Queues: &fakeQueues{}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	topic, err := svc.CreateTopic(ctx, "t", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cycle := func(n int) {
		for i := range n {
			arn, err := svc.Subscribe(ctx, topic, "sqs", queueARN(fmt.Sprint("churn-", i)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Unsubscribe(ctx, arn); err != nil {
				t.Fatal(err)
			}
		}
	}
	const cycles = 20_000
	cycle(1000) // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cycle(cycles)
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d subscribe/unsubscribe cycles: heap %+.1f KiB", cycles, float64(grew)/1024)
	if n := len(svc.Stats().Subscriptions); n != 0 {
		t.Errorf("after %d cycles Stats holds %d subscriptions, want none", cycles, n)
	}
	if grew > 1<<20 {
		t.Errorf("%d cycles grew the heap by %d KiB", cycles, grew>>10)
	}
}

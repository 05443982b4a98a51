package sqs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
	"github.com/orderflow/orderflow/internal/crashtest"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// serveSQSWith returns the crash tests' child: SQS on the data file in
// c.Dir, its journal syncing the log every syncEvery (0: before every
// answer). With an Arg (a time, RFC 3339) it runs on a fake clock starting
// there, which the parent moves with POST /_clock?advance=DURATION;
// without one, on the machine's clock.
func serveSQSWith(syncEvery time.Duration) func(c crashtest.Child) (*crashtest.Server, error) {
	return func(c crashtest.Child) (*crashtest.Server, error) { return serveSQS(c, syncEvery) }
}

func serveSQS(c crashtest.Child, syncEvery time.Duration) (*crashtest.Server, error) {
	db, err := journal.Open(filepath.Join(c.Dir, "data.db"))
	if err != nil {
		return nil, err
	}
	opts := cloudsqs.Options{DB: db, Env: awsenv.Env{BaseURL: func() string { return c.Endpoint }}}
	closeJournal := func() error { return nil }
	if syncEvery > 0 {
		j, err := journal.NewWithOptions(db, journal.Options{SyncEvery: syncEvery})
		if err != nil {
			db.Close()
			return nil, err
		}
		opts.Journal, closeJournal = j, j.Close
	}
	var fake *clock.Fake
	if c.Arg != "" {
		start, err := time.Parse(time.RFC3339Nano, c.Arg)
		if err != nil {
			return nil, fmt.Errorf("clock start %q: %w", c.Arg, err)
		}
		fake = clock.NewFake(start)
		opts.Clock = fake
	}
	svc, err := cloudsqs.New(opts)
	if err != nil {
		closeJournal()
		db.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", svc)
	mux.HandleFunc("POST /_clock", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.FormValue("advance"))
		if fake == nil || err != nil || d < 0 {
			http.Error(w, "advance a fake clock by a duration", http.StatusBadRequest)
			return
		}
		fake.Advance(d)
		fmt.Fprint(w, fake.Now().Format(time.RFC3339Nano))
	})
	return &crashtest.Server{Handler: mux, Close: func() error {
		if err := errors.Join(svc.Close(), closeJournal()); err != nil {
			db.Close()
			return err
		}
		return db.Close()
	}}, nil
}

// crashClient is an SDK client for a crash test's child: it never
// retries, and it loses no answer to the SDK's own connection race (see
// crashtest.HTTPClient), so a request without an answer was cut short by a
// kill.
func crashClient(endpoint string) *sqs.Client {
	return sqs.New(sqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1, HTTPClient: crashtest.NewHTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
}

// TestAKilledProcessKeepsEveryAcknowledgedChange runs SQS in a child
// process, loads it with sends, receives and deletes from four clients,
// kills it with SIGKILL in the middle, restarts it two hours later (every
// visibility timeout over) and checks: every send the child acknowledged
// is there unless a delete of it was asked for, no acknowledged delete is
// undone, and every acknowledged receive counted.
func TestAKilledProcessKeepsEveryAcknowledgedChange(t *testing.T) {
	slowtest.Skip(t, "kill -9 of a child process")
	crashtest.EachSyncMode(t, testAKilledProcessKeepsEveryAcknowledgedChange)
}

func testAKilledProcessKeepsEveryAcknowledgedChange(t *testing.T, syncEvery time.Duration) {
	p := crashtest.Start(t, crashtest.Options{Serve: serveSQSWith(syncEvery)})
	client := crashClient(p.Endpoint())
	ctx := context.Background()
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "3600"}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu sync.Mutex
		// deleting holds the deletes asked for: one the child committed
		// but died before answering may have happened or not.
		sent, received, deleting, deleted = map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
		wg                                = sync.WaitGroup{}
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				entries := make([]types.SendMessageBatchRequestEntry, 10)
				for j := range entries {
					entries[j] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(fmt.Sprint(w, "-", i, "-", j))}
				}
				s, err := client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: entries})
				if err != nil {
					return // killed
				}
				mu.Lock()
				for _, e := range s.Successful {
					sent[*e.MessageId] = true
				}
				mu.Unlock()
				r, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
				if err != nil {
					return
				}
				var del []types.DeleteMessageBatchRequestEntry
				ids := map[string]string{}
				mu.Lock()
				for k, m := range r.Messages {
					received[*m.MessageId] = true
					if k%2 == 0 { // delete half, leave half in flight
						del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(k)), ReceiptHandle: m.ReceiptHandle})
						ids[strconv.Itoa(k)] = *m.MessageId
						deleting[*m.MessageId] = true
					}
				}
				mu.Unlock()
				if len(del) == 0 {
					continue
				}
				d, err := client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: q.QueueUrl, Entries: del})
				if err != nil {
					return
				}
				mu.Lock()
				for _, e := range d.Successful {
					deleted[ids[*e.Id]] = true
				}
				mu.Unlock()
			}
		})
	}
	poll.Within(10*time.Second, func() bool { // real time: the load runs in another process
		mu.Lock()
		defer mu.Unlock()
		return len(sent) >= 3000
	})
	p.Kill() // SIGKILL, mid-load
	wg.Wait()
	if len(sent) == 0 || len(deleted) == 0 {
		t.Fatalf("the load did not get going: %d sent, %d deleted", len(sent), len(deleted))
	}

	// Two hours later every visibility timeout has run out.
	p.Restart(time.Now().Add(2 * time.Hour).Format(time.RFC3339Nano))
	f := &fixture{client: crashClient(p.Endpoint()), url: p.Endpoint()}
	got := receiveAll(t, f, p.Endpoint()+"/000000000000/q")
	lost, undeleted, uncounted := 0, 0, 0
	for id := range sent {
		if _, ok := got[id]; !ok && !deleting[id] {
			lost++
		}
	}
	for id := range deleted {
		if _, ok := got[id]; ok {
			undeleted++
		}
	}
	for id := range received {
		if m, ok := got[id]; ok {
			if n, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"]); n < 2 {
				uncounted++
			}
		}
	}
	unacked := 0
	for id := range got {
		if !sent[id] {
			unacked++
		}
	}
	t.Logf("killed after %d acknowledged sends, %d receives, %d deletes; the file holds %d messages (%d whose send was not acknowledged)",
		len(sent), len(received), len(deleted), len(got), unacked)
	if lost > 0 || undeleted > 0 || uncounted > 0 {
		t.Errorf("%d acknowledged sends lost, %d acknowledged deletes undone, %d acknowledged receives not counted", lost, undeleted, uncounted)
	}
}

// TestAKilledProcessKeepsFIFOOrderAndDeduplication loads a FIFO queue in a
// child process with batches from four clients, each sending to five
// message groups of its own (one per order), kills it with SIGKILL in the
// middle, restarts it a minute later and checks: sending every
// acknowledged message again is answered as a duplicate (the same message
// id: the deduplication window survived the kill), and receiving the
// queue empty gets every acknowledged message once, in its group's order.
func TestAKilledProcessKeepsFIFOOrderAndDeduplication(t *testing.T) {
	slowtest.Skip(t, "kill -9 of a child process")
	crashtest.EachSyncMode(t, testAKilledProcessKeepsFIFOOrderAndDeduplication)
}

func testAKilledProcessKeepsFIFOOrderAndDeduplication(t *testing.T, syncEvery time.Duration) {
	p := crashtest.Start(t, crashtest.Options{Serve: serveSQSWith(syncEvery), Arg: t0.Format(time.RFC3339Nano)})
	client := crashClient(p.Endpoint())
	ctx := context.Background()
	if _, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders.fifo"), Attributes: map[string]string{"FifoQueue": "true"}}); err != nil {
		t.Fatal(err)
	}
	u := func() *string { return aws.String(p.Endpoint() + "/000000000000/orders.fifo") }
	type sent struct{ group, body, dedup, id string }
	var (
		mu    sync.Mutex
		acked []sent
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				entries := make([]types.SendMessageBatchRequestEntry, 10)
				for j := range entries {
					g := fmt.Sprint("order-", w, "-", j%5)
					entries[j] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(fmt.Sprint(g, ":", i*2+j/5)),
						MessageGroupId: aws.String(g), MessageDeduplicationId: aws.String(fmt.Sprint(w, "-", i, "-", j))}
				}
				s, err := client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: u(), Entries: entries})
				if err != nil {
					return // killed
				}
				mu.Lock()
				for _, e := range s.Successful {
					j, _ := strconv.Atoi(*e.Id)
					acked = append(acked, sent{*entries[j].MessageGroupId, *entries[j].MessageBody, *entries[j].MessageDeduplicationId, *e.MessageId})
				}
				mu.Unlock()
				if len(s.Failed) > 0 {
					t.Errorf("batch entries failed: %+v", s.Failed)
					return
				}
			}
		})
	}
	poll.Within(10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 1000
	})
	p.Kill()
	wg.Wait()

	p.Restart(t0.Add(time.Minute).Format(time.RFC3339Nano))
	client = crashClient(p.Endpoint())
	for _, s := range acked {
		out, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: u(), MessageBody: aws.String(s.body), MessageGroupId: aws.String(s.group), MessageDeduplicationId: aws.String(s.dedup)})
		if err != nil {
			t.Fatal(err)
		}
		if *out.MessageId != s.id {
			t.Fatalf("%s sent again after the kill got message id %s, want the original's %s", s.body, *out.MessageId, s.id)
		}
	}
	ackedIDs := map[string]bool{}
	for _, s := range acked {
		ackedIDs[s.id] = true
	}
	last := map[string]int{}
	got := map[string]bool{}
	for round := 0; round < 10_000; round++ {
		r, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: u(), MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameMessageGroupId}})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			break
		}
		for _, m := range r.Messages {
			g, n, _ := strings.Cut(*m.Body, ":")
			i, _ := strconv.Atoi(n)
			if prev, ok := last[g]; ok && i <= prev {
				t.Errorf("group %s: message %d after %d", g, i, prev)
			}
			last[g] = i
			if got[*m.MessageId] {
				t.Errorf("message %s received twice", *m.Body)
			}
			got[*m.MessageId] = true
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: u(), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	lost := 0
	for id := range ackedIDs {
		if !got[id] {
			lost++
		}
	}
	t.Logf("killed after %d acknowledged sends in %d groups; received %d (%d whose send was not acknowledged)", len(acked), len(last), len(got), len(got)-len(ackedIDs)+lost)
	if lost > 0 {
		t.Errorf("%d acknowledged sends lost", lost)
	}
}

package sqs_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
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

// serveSQS is the crash tests' child: SQS on the data file in c.Dir. With
// an Arg (a time, RFC 3339) it runs on a fake clock starting there, which
// the parent moves with POST /_clock?advance=DURATION; without one, on the
// machine's clock.
func serveSQS(c crashtest.Child) (*crashtest.Server, error) {
	db, err := journal.Open(filepath.Join(c.Dir, "data.db"))
	if err != nil {
		return nil, err
	}
	opts := cloudsqs.Options{DB: db, Env: awsenv.Env{BaseURL: func() string { return c.Endpoint }}}
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
		if err := svc.Close(); err != nil {
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
	p := crashtest.Start(t, crashtest.Options{Serve: serveSQS})
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

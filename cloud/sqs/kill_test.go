package sqs_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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

	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
)

// crashDirEnv, when set, makes the test binary a child that serves SQS on
// a data file in that directory until it is killed.
const crashDirEnv = "ORDERFLOW_SQS_CRASH_CHILD_DIR"

// TestAKilledProcessKeepsEveryAcknowledgedChange runs SQS in a child
// process, loads it with sends, receives and deletes from four clients,
// kills it with SIGKILL in the middle, and checks the file: every send the
// child acknowledged is there unless a delete of it was asked for, no
// acknowledged delete is undone, and every acknowledged receive counted.
func TestAKilledProcessKeepsEveryAcknowledgedChange(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		serveUntilKilled(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAKilledProcessKeepsEveryAcknowledgedChange$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(out)
	var endpoint string
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "listening "); ok {
			endpoint = u
			break
		}
	}
	if endpoint == "" {
		t.Fatalf("the child did not say where it listens: %v", lines.Err())
	}
	go func() {
		for lines.Scan() { // drain, so the child never blocks on stdout
		}
	}()

	client := sqs.New(sqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
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
		wg.Add(1)
		go func() {
			defer wg.Done()
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
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(sent)
		mu.Unlock()
		if n >= 3000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // real time: the load runs in another process
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, mid-load
		t.Fatal(err)
	}
	cmd.Wait()
	wg.Wait()
	if len(sent) == 0 || len(deleted) == 0 {
		t.Fatalf("the load did not get going: %d sent, %d deleted", len(sent), len(deleted))
	}

	// Reopen the file two hours later: every visibility timeout has run out.
	db, err := journal.Open(filepath.Join(dir, "data.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := &fixture{clock: clock.NewFake(time.Now().Add(2 * time.Hour))}
	var srv *httptest.Server
	if f.svc, err = cloudsqs.Open(cloudsqs.Options{DB: db, Clock: f.clock, BaseURL: func() string { return srv.URL }}); err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(f.svc)
	defer srv.Close()
	f.client = sqs.New(sqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	got := receiveAll(t, f, srv.URL+"/000000000000/q")
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

// serveUntilKilled is the child: SQS on dir's data file, on a loopback
// port it prints, until the parent kills it.
func serveUntilKilled(t *testing.T, dir string) {
	db, err := journal.Open(filepath.Join(dir, "data.db"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	svc, err := cloudsqs.Open(cloudsqs.Options{DB: db, BaseURL: func() string { return url }})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("listening", url)
	srv := &http.Server{Handler: svc, ReadHeaderTimeout: 10 * time.Second}
	t.Fatal(srv.Serve(ln))
}

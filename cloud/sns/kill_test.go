package sns_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/cloud/sns"
	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
	"github.com/orderflow/orderflow/internal/crashtest"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// sqsQueues delivers into a real SQS service as the cloud's adapter does;
// while failing is set, every delivery fails, after up to half a
// millisecond, as a throttled SQS would (a transient failure, which SNS
// retries).
type sqsQueues struct {
	svc     *cloudsqs.Service
	failing *atomic.Bool
}

func (q sqsQueues) Deliver(ctx context.Context, d sns.Delivery) error {
	if q.failing.Load() {
		time.Sleep(rand.N(500 * time.Microsecond)) // the round trip of a refusal
		return errors.New("crash test: SQS is throttling")
	}
	in := cloudsqs.SendInput{Body: d.Body}
	for k, v := range d.Attributes {
		if in.MessageAttributes == nil {
			in.MessageAttributes = map[string]cloudsqs.MessageAttributeValue{}
		}
		in.MessageAttributes[k] = cloudsqs.MessageAttributeValue{DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue}
	}
	_, err := q.svc.SendAs(ctx, d.QueueARN, cloudsqs.Principal{Service: "sns.amazonaws.com", SourceArn: d.TopicARN, SourceAccount: account}, in)
	switch {
	case errors.Is(err, cloudsqs.ErrQueueNotFound):
		return fmt.Errorf("%w: %w", sns.ErrQueueNotFound, err)
	case errors.Is(err, cloudsqs.ErrAccessDenied):
		return fmt.Errorf("%w: %w", sns.ErrDenied, err)
	}
	return err
}

// childArg is what a crash test's parent tells each start of serveTopics.
type childArg struct {
	Now     time.Time `json:"now"`     // where the fake clock starts
	Failing bool      `json:"failing"` // deliveries to SQS fail (transiently)
}

func (a childArg) String() string {
	b, _ := json.Marshal(a)
	return string(b)
}

// serveTopics is the crash tests' child: SNS and SQS on one data file
// (sharing its journal, as the cloud does), SNS delivering into SQS, on a
// fake clock. SQS answers the JSON protocol (X-Amz-Target) and the Query
// actions SNS does not know. The parent moves the clock with POST
// /_clock?advance=DURATION and makes deliveries fail, or succeed again,
// with POST /_deliveries?failing=true|false.
// serveTopicsWith returns serveTopics with its journal syncing the log
// every syncEvery (0: before every answer).
func serveTopicsWith(syncEvery time.Duration) func(c crashtest.Child) (*crashtest.Server, error) {
	return func(c crashtest.Child) (*crashtest.Server, error) { return serveTopics(c, syncEvery) }
}

func serveTopics(c crashtest.Child, syncEvery time.Duration) (*crashtest.Server, error) {
	var arg childArg
	if err := json.Unmarshal([]byte(c.Arg), &arg); err != nil {
		return nil, fmt.Errorf("argument %q: %w", c.Arg, err)
	}
	db, err := journal.Open(filepath.Join(c.Dir, "data.db"))
	if err != nil {
		return nil, err
	}
	j, err := journal.NewWithOptions(db, journal.Options{SyncEvery: syncEvery})
	if err != nil {
		db.Close()
		return nil, err
	}
	clk := clock.NewFake(arg.Now)
	base := func() string { return c.Endpoint }
	queues, err := cloudsqs.New(cloudsqs.Options{DB: db, Journal: j, Clock: clk, Env: awsenv.Env{BaseURL: base}})
	if err != nil {
		j.Close()
		db.Close()
		return nil, err
	}
	failing := &atomic.Bool{}
	failing.Store(arg.Failing)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})) // shown when a test fails
	topics, err := sns.New(sns.Options{DB: db, Journal: j, Clock: clk, Env: awsenv.Env{BaseURL: base}, Queues: sqsQueues{queues, failing}, Logger: logger})
	if err != nil {
		queues.Close()
		j.Close()
		db.Close()
		return nil, err
	}
	topics.Start() // its queues are in-process: nothing else to wait for
	snsActions := map[string]bool{}
	for _, a := range topics.Actions() {
		snsActions[a] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.") {
			queues.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet && slices.Contains(topics.Paths(), r.URL.Path) {
			topics.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<20)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if snsActions[r.Form.Get("Action")] {
			topics.ServeHTTP(w, r)
			return
		}
		queues.ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /_clock", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.FormValue("advance"))
		if err != nil || d < 0 {
			http.Error(w, "advance the clock by a duration", http.StatusBadRequest)
			return
		}
		clk.Advance(d)
		fmt.Fprint(w, clk.Now().Format(time.RFC3339Nano))
	})
	mux.HandleFunc("POST /_deliveries", func(w http.ResponseWriter, r *http.Request) {
		failing.Store(r.FormValue("failing") == "true")
	})
	return &crashtest.Server{Handler: mux, Close: func() error {
		return errors.Join(topics.Close(), queues.Close(), j.Close(), db.Close())
	}}, nil
}

// clients returns SDK clients of both services for a crash test's child.
func clients(endpoint string) (*awssns.Client, *awssqs.Client) {
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	hc := crashtest.NewHTTPClient()
	return awssns.New(awssns.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds, HTTPClient: hc, RetryMaxAttempts: 1}),
		awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds, HTTPClient: hc, RetryMaxAttempts: 1})
}

// allowSNS is a queue policy that lets SNS send to queue q.
func allowSNS(q string) map[string]string {
	return map[string]string{"Policy": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"` + queueARN(q) + `"}]}`}
}

// TestPublishesAcknowledgedBeforeAKillAreInTheirQueuesAfterIt checks the
// reason SNS keeps no journal of publishes: each delivery, enveloped, raw
// or dead-lettered, is made durable by SQS before Publish answers. It
// kills the process with SIGKILL after the publishes and reads the queues
// after a restart.
func TestPublishesAcknowledgedBeforeAKillAreInTheirQueuesAfterIt(t *testing.T) {
	slowtest.Skip(t, "kill -9 of a child process")
	crashtest.EachSyncMode(t, testPublishesAcknowledgedBeforeAKillAreInTheirQueuesAfterIt)
}

func testPublishesAcknowledgedBeforeAKillAreInTheirQueuesAfterIt(t *testing.T, syncEvery time.Duration) {
	p := crashtest.Start(t, crashtest.Options{Serve: serveTopicsWith(syncEvery), Arg: childArg{Now: t1}.String()})
	topics, queues := clients(p.Endpoint())
	for _, q := range []string{"enveloped", "raw", "dlq"} {
		if _, err := queues.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(q), Attributes: allowSNS(q)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := queues.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("denied")}); err != nil { // no policy: SNS may not send
		t.Fatal(err)
	}
	topic, err := topics.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	for q, attrs := range map[string]map[string]string{
		"enveloped": nil,
		"raw":       {"RawMessageDelivery": "true"},
		"denied":    {"RedrivePolicy": `{"deadLetterTargetArn":"` + queueARN("dlq") + `"}`},
	} {
		if _, err := topics.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN(q)), Attributes: attrs}); err != nil {
			t.Fatal(err)
		}
	}
	const published = 20
	ids := map[string]bool{}
	for i := range published {
		out, err := topics.Publish(ctx, &awssns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(fmt.Sprint("order ", i)),
			MessageAttributes: map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number"), StringValue: aws.String(fmt.Sprint(i))}}})
		if err != nil {
			t.Fatal(err)
		}
		ids[*out.MessageId] = true
	}
	if !p.Kill() {
		t.Fatal("the child had exited before the kill")
	}
	p.Restart(childArg{Now: t1.Add(time.Minute)}.String())
	_, queues = clients(p.Endpoint())

	receive := func(q string) []sqstypes.Message {
		t.Helper()
		var all []sqstypes.Message
		for {
			out, err := queues.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(p.Endpoint() + "/" + account + "/" + q),
				MaxNumberOfMessages: 10, VisibilityTimeout: 3600, MessageAttributeNames: []string{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Messages) == 0 {
				return all
			}
			all = append(all, out.Messages...)
		}
	}
	enveloped := receive("enveloped")
	if len(enveloped) != published {
		t.Fatalf("enveloped queue holds %d after the kill, want %d", len(enveloped), published)
	}
	for _, m := range enveloped {
		env := decodeEnvelope(t, *m.Body)
		if !ids[env["MessageId"].(string)] {
			t.Errorf("envelope of an unknown publish: %v", env["MessageId"])
		}
		env["SigningCertURL"] = atEndpoint(env["SigningCertURL"].(string), p.Endpoint())
		if err := verifyEnvelope(t, env); err != nil {
			t.Errorf("an envelope from before the kill does not verify after it: %v", err)
		}
	}
	raw := receive("raw")
	if len(raw) != published || *raw[0].MessageAttributes["n"].DataType != "Number" || !strings.HasPrefix(*raw[0].Body, "order ") {
		t.Errorf("raw queue after the kill: %d messages, first %+v", len(raw), raw)
	}
	dead := receive("dlq")
	if len(dead) != published || *dead[0].MessageAttributes["ErrorCode"].StringValue != "AccessDenied" {
		t.Errorf("dead-letter queue after the kill: %d messages, first %+v", len(dead), dead)
	}
}

// atEndpoint moves a URL of an earlier start of the child to endpoint (a
// restart may change the port).
func atEndpoint(u, endpoint string) string {
	rest := strings.TrimPrefix(u, "http://")
	if i := strings.Index(rest, "/"); i >= 0 {
		return endpoint + rest[i:]
	}
	return u
}

// TestEveryEntryOfAPublishBatchWaitingForARetrySurvivesAKill makes every
// delivery fail (transiently), so that each entry of a PublishBatch ends as
// a pending retry, recorded in the data file before the batch is
// answered, and kills the process right after each answer, while the
// restarted process is busy recording the retries it resumed. Once
// deliveries succeed again, every acknowledged entry must reach every
// queue. (The batch used to wait only for the record of its last entry,
// though the entries record concurrently, in any order, and the kill then
// lost the others.)
func TestEveryEntryOfAPublishBatchWaitingForARetrySurvivesAKill(t *testing.T) {
	slowtest.Skip(t, "kill -9 of a child process")
	crashtest.EachSyncMode(t, testEveryEntryOfAPublishBatchWaitingForARetrySurvivesAKill)
}

func testEveryEntryOfAPublishBatchWaitingForARetrySurvivesAKill(t *testing.T, syncEvery time.Duration) {
	now := t1
	p := crashtest.Start(t, crashtest.Options{Serve: serveTopicsWith(syncEvery), Arg: childArg{Now: now, Failing: true}.String()})
	topics, queues := clients(p.Endpoint())
	names := []string{"a", "b", "c"}
	for _, q := range names {
		if _, err := queues.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(q), Attributes: allowSNS(q)}); err != nil {
			t.Fatal(err)
		}
	}
	topic, err := topics.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range names {
		if _, err := topics.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN(q)),
			Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
			t.Fatal(err)
		}
	}
	publish := func(prefix string) {
		t.Helper()
		batch := make([]types.PublishBatchRequestEntry, 10)
		for i := range batch {
			batch[i] = types.PublishBatchRequestEntry{Id: aws.String(fmt.Sprint("e", i)), Message: aws.String(fmt.Sprint(prefix, i))}
		}
		out, err := topics.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: topic.TopicArn, PublishBatchRequestEntries: batch})
		if err != nil || len(out.Successful) != len(batch) {
			t.Fatalf("PublishBatch: %v, %+v", err, out)
		}
	}
	// Hundreds of pending retries, which every restart resumes (they are
	// due) and records again as they fail: the journal is busy then.
	const earlier, rounds = 20, 10
	for b := range earlier {
		publish(fmt.Sprint("earlier ", b, "-"))
	}
	for round := range rounds {
		now = now.Add(time.Minute)
		if !p.Kill() {
			t.Fatal("the child had exited before the kill")
		}
		p.Restart(childArg{Now: now, Failing: true}.String())
		topics, _ = clients(p.Endpoint())
		publish(fmt.Sprint(round, "-"))
	}
	p.Kill()
	p.Restart(childArg{Now: now.Add(time.Minute)}.String())
	_, queues = clients(p.Endpoint())
	got := map[string]map[string]bool{}
	total := 0
	poll.Within(10*time.Second, func() bool { // real time: the child's retries deliver on its goroutines
		for _, q := range names {
			out, err := queues.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(p.Endpoint() + "/" + account + "/" + q), MaxNumberOfMessages: 10, VisibilityTimeout: 3600})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range out.Messages {
				if got[q] == nil {
					got[q] = map[string]bool{}
				}
				if !got[q][*m.Body] {
					got[q][*m.Body] = true
					total++
				}
			}
		}
		return total >= len(names)*(earlier+rounds)*10
	})
	for _, q := range names {
		var missing []string
		for round := range rounds {
			for i := range 10 {
				if b := fmt.Sprint(round, "-", i); !got[q][b] {
					missing = append(missing, b)
				}
			}
		}
		for b := range earlier {
			for i := range 10 {
				if m := fmt.Sprint("earlier ", b, "-", i); !got[q][m] {
					missing = append(missing, m)
				}
			}
		}
		if len(missing) > 0 {
			t.Errorf("queue %s never received %d acknowledged entries: %v", q, len(missing), missing)
		}
	}
}

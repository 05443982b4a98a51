package sqs_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
)

// node is an SQS service on a data file that a test crashes and restarts.
// A crash abandons the service without calling any shutdown method, as a
// kill -9 would, and closes the file handle so that the next start reads
// the file afresh; each start gets a new fake clock, so the dead service's
// timers never fire.
type node struct {
	*fixture
	path string
	srv  *httptest.Server
}

func newNode(t *testing.T) *node {
	t.Helper()
	n := &node{path: filepath.Join(t.TempDir(), "data.db")}
	n.start(t, t0)
	return n
}

func (n *node) start(t *testing.T, now time.Time) {
	t.Helper()
	db, err := journal.Open(n.path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: clock.NewFake(now), db: db}
	var srv *httptest.Server
	f.svc, err = cloudsqs.New(cloudsqs.Options{DB: db, Clock: f.clock, Env: awsenv.Env{BaseURL: func() string { return srv.URL }}})
	if err != nil {
		db.Close()
		t.Fatalf("open after restart: %v", err)
	}
	srv = httptest.NewServer(f.svc)
	f.url = srv.URL
	f.client = sqs.New(sqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	n.fixture, n.srv = f, srv
	t.Cleanup(func() { n.crash() })
}

func (n *node) crash() {
	if n.srv == nil {
		return
	}
	n.srv.CloseClientConnections()
	n.srv.Close()
	n.db.Close()
	n.srv = nil
}

// restart crashes the node and starts it again d after the old clock's time.
func (n *node) restart(t *testing.T, d time.Duration) {
	t.Helper()
	now := n.clock.Now().Add(d)
	n.crash()
	n.start(t, now)
}

// queueURL looks a queue's URL up on the running node (its port changes
// with each start).
func (n *node) queueURL(t *testing.T, name string) string {
	t.Helper()
	out, err := n.client.GetQueueUrl(ctxFor(t), &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("GetQueueUrl(%s): %v", name, err)
	}
	return *out.QueueUrl
}

func TestDurability(t *testing.T) {
	t.Run("a sent message survives a restart with its body, attributes, MD5s and sent time", func(t *testing.T) {
		n := newNode(t)
		u := n.createQueue(t, "q", nil)
		sent, err := n.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{
			QueueUrl: aws.String(u), MessageBody: aws.String(`{"orderId":"o-1"}`), MessageGroupId: aws.String("g"),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"kind": {DataType: aws.String("String"), StringValue: aws.String("order")},
				"blob": {DataType: aws.String("Binary.gz"), BinaryValue: []byte{0, 1, 2, 255}},
				"n":    {DataType: aws.String("Number"), StringValue: aws.String("42")},
			},
			MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
				"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793")},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		n.restart(t, time.Minute)
		got := n.receive(t, n.queueURL(t, "q"), 10, nil)
		if len(got) != 1 {
			t.Fatalf("received %d messages after the restart, want 1", len(got))
		}
		m := got[0]
		if *m.MessageId != *sent.MessageId || *m.Body != `{"orderId":"o-1"}` || *m.MD5OfBody != *sent.MD5OfMessageBody ||
			*m.MD5OfMessageAttributes != *sent.MD5OfMessageAttributes {
			t.Errorf("message after restart = %+v; sent %+v", m, sent)
		}
		if string(m.MessageAttributes["blob"].BinaryValue) != "\x00\x01\x02\xff" || *m.MessageAttributes["n"].StringValue != "42" ||
			*m.MessageAttributes["blob"].DataType != "Binary.gz" {
			t.Errorf("attributes after restart = %v", m.MessageAttributes)
		}
		want := map[string]string{
			"SentTimestamp": fmt.Sprint(t0.UnixMilli()), "ApproximateReceiveCount": "1", "SenderId": "000000000000",
			"MessageGroupId": "g", "AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793",
			"ApproximateFirstReceiveTimestamp": fmt.Sprint(t0.Add(time.Minute).UnixMilli()),
		}
		if !maps.Equal(m.Attributes, want) {
			t.Errorf("system attributes after restart = %v, want %v", m.Attributes, want)
		}
	})

	t.Run("a deleted message stays deleted after a restart", func(t *testing.T) {
		n := newNode(t)
		u := n.createQueue(t, "q", nil)
		n.send(t, u, "delete me")
		keep := n.send(t, u, "keep me")
		for _, m := range n.receive(t, u, 10, i32(30)) {
			if *m.Body == "delete me" {
				if _, err := n.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: m.ReceiptHandle}); err != nil {
					t.Fatal(err)
				}
			}
		}
		n.restart(t, time.Hour)
		got := n.receive(t, n.queueURL(t, "q"), 10, nil)
		if len(got) != 1 || *got[0].MessageId != keep {
			t.Errorf("after restart received %v, want only %s", got, keep)
		}
	})

	t.Run("receive counts survive restarts and a poison message reaches the DLQ after its third receive", func(t *testing.T) {
		n := newNode(t)
		dlq := n.createQueue(t, "dlq", nil)
		src := n.createQueue(t, "src", map[string]string{
			"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"%s","maxReceiveCount":3}`, n.arn(t, dlq)),
		})
		id := n.send(t, src, "poison")
		for i := 1; i <= 3; i++ {
			got := n.receive(t, n.queueURL(t, "src"), 1, i32(30))
			if len(got) != 1 || got[0].Attributes["ApproximateReceiveCount"] != fmt.Sprint(i) {
				t.Fatalf("receive %d = %v", i, got)
			}
			n.restart(t, 31*time.Second) // the consumer "crashes" with it
		}
		if got := n.receive(t, n.queueURL(t, "src"), 1, nil); len(got) != 0 {
			t.Fatalf("the fourth receive got %v, want the message dead-lettered", got)
		}
		n.restart(t, time.Second)
		got := n.receive(t, n.queueURL(t, "dlq"), 1, nil)
		if len(got) != 1 || *got[0].MessageId != id {
			t.Fatalf("DLQ after restart = %v, want %s", got, id)
		}
		if sent := got[0].Attributes["SentTimestamp"]; sent != fmt.Sprint(t0.UnixMilli()) {
			t.Errorf("SentTimestamp in the DLQ = %s, want the original", sent)
		}
		if from := got[0].Attributes["DeadLetterQueueSourceArn"]; from != n.arn(t, n.queueURL(t, "src")) {
			t.Errorf("DeadLetterQueueSourceArn = %s", from)
		}
	})

	t.Run("an in-flight message stays in flight after a restart until its deadline, then is visible", func(t *testing.T) {
		n := newNode(t)
		u := n.createQueue(t, "q", nil)
		n.send(t, u, "x")
		first := n.receive(t, u, 1, i32(60))
		n.restart(t, 30*time.Second)
		u = n.queueURL(t, "q")
		if got := n.receive(t, u, 1, nil); len(got) != 0 {
			t.Fatalf("30 s into a 60 s visibility timeout, received %v", got)
		}
		if got := n.count(t, u, "ApproximateNumberOfMessagesNotVisible"); got != 1 {
			t.Errorf("ApproximateNumberOfMessagesNotVisible = %d, want 1", got)
		}
		n.advance(31 * time.Second)
		got := n.receive(t, u, 1, nil)
		if len(got) != 1 || *got[0].MessageId != *first[0].MessageId || got[0].Attributes["ApproximateReceiveCount"] != "2" {
			t.Fatalf("after the deadline received %v", got)
		}
		if a, b := got[0].Attributes["ApproximateFirstReceiveTimestamp"], first[0].Attributes["ApproximateFirstReceiveTimestamp"]; a != b {
			t.Errorf("ApproximateFirstReceiveTimestamp = %s, want %s from before the restart", a, b)
		}
	})

	t.Run("a receipt handle issued before a restart still extends visibility and deletes", func(t *testing.T) {
		n := newNode(t)
		u := n.createQueue(t, "q", nil)
		n.send(t, u, "x")
		handle := n.receive(t, u, 1, i32(30))[0].ReceiptHandle
		n.restart(t, 10*time.Second)
		u = n.queueURL(t, "q")
		if _, err := n.client.ChangeMessageVisibility(ctxFor(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(u), ReceiptHandle: handle, VisibilityTimeout: 600}); err != nil {
			t.Fatalf("ChangeMessageVisibility with a handle from before the restart: %v", err)
		}
		n.restart(t, 5*time.Minute) // past the old deadline, within the new one
		u = n.queueURL(t, "q")
		if got := n.receive(t, u, 1, nil); len(got) != 0 {
			t.Fatalf("the extended visibility did not survive: received %v", got)
		}
		if _, err := n.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: handle}); err != nil {
			t.Fatal(err)
		}
		n.restart(t, time.Hour)
		if got := n.count(t, n.queueURL(t, "q"), "ApproximateNumberOfMessages"); got != 0 {
			t.Errorf("after deleting with the old handle the queue holds %d", got)
		}
	})

	t.Run("a delayed message stays delayed across a restart", func(t *testing.T) {
		n := newNode(t)
		u := n.createQueue(t, "q", nil)
		if _, err := n.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("later"), DelaySeconds: 120}); err != nil {
			t.Fatal(err)
		}
		n.restart(t, time.Minute)
		u = n.queueURL(t, "q")
		if got := n.count(t, u, "ApproximateNumberOfMessagesDelayed"); got != 1 {
			t.Fatalf("ApproximateNumberOfMessagesDelayed = %d, want 1", got)
		}
		n.advance(61 * time.Second)
		if got := n.receive(t, u, 1, nil); len(got) != 1 || *got[0].Body != "later" {
			t.Errorf("after the delay received %v", got)
		}
	})

	t.Run("queue attributes, policies and tags survive a restart", func(t *testing.T) {
		n := newNode(t)
		dlq := n.createQueue(t, "dlq", map[string]string{"RedriveAllowPolicy": `{"redrivePermission":"allowAll"}`})
		policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:000000000000:q"}]}`
		u := n.createQueue(t, "q", map[string]string{
			"VisibilityTimeout": "45", "DelaySeconds": "3", "MessageRetentionPeriod": "3600", "MaximumMessageSize": "2048",
			"ReceiveMessageWaitTimeSeconds": "2", "KmsMasterKeyId": "alias/aws/sqs", "KmsDataKeyReusePeriodSeconds": "600",
			"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"%s","maxReceiveCount":5}`, n.arn(t, dlq)),
		})
		if _, err := n.client.SetQueueAttributes(ctxFor(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(u), Attributes: map[string]string{"Policy": policy}}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.client.TagQueue(ctxFor(t), &sqs.TagQueueInput{QueueUrl: aws.String(u), Tags: map[string]string{"team": "orders", "env": "dev"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.client.UntagQueue(ctxFor(t), &sqs.UntagQueueInput{QueueUrl: aws.String(u), TagKeys: []string{"env"}}); err != nil {
			t.Fatal(err)
		}
		all := func() map[string]string {
			t.Helper()
			out, err := n.client.GetQueueAttributes(ctxFor(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(n.queueURL(t, "q")), AttributeNames: []types.QueueAttributeName{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			return out.Attributes
		}
		before := all()
		n.restart(t, time.Hour)
		if after := all(); !maps.Equal(after, before) {
			t.Errorf("attributes after restart:\n%v\nbefore:\n%v", after, before)
		}
		tags, err := n.client.ListQueueTags(ctxFor(t), &sqs.ListQueueTagsInput{QueueUrl: aws.String(n.queueURL(t, "q"))})
		if err != nil || !maps.Equal(tags.Tags, map[string]string{"team": "orders"}) {
			t.Errorf("tags after restart = %v, %v", tags, err)
		}
		srcs, err := n.client.ListDeadLetterSourceQueues(ctxFor(t), &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(n.queueURL(t, "dlq"))})
		if err != nil || len(srcs.QueueUrls) != 1 || !strings.HasSuffix(srcs.QueueUrls[0], "/q") {
			t.Errorf("ListDeadLetterSourceQueues after restart = %v, %v", srcs, err)
		}
		// The policy still governs who may send.
		id, err := n.svc.SendAs(ctxFor(t), n.arn(t, n.queueURL(t, "q")), cloudsqs.Principal{Service: "sns.amazonaws.com"}, cloudsqs.SendInput{Body: "x"})
		if err != nil || id == "" {
			t.Errorf("SendAs under the restored policy: %v", err)
		}
	})

	t.Run("a deleted queue stays deleted and a purged queue stays empty", func(t *testing.T) {
		n := newNode(t)
		gone := n.createQueue(t, "gone", nil)
		n.send(t, gone, "x")
		purged := n.createQueue(t, "purged", nil)
		n.send(t, purged, "x")
		n.receive(t, purged, 1, i32(30))
		n.send(t, purged, "y")
		if _, err := n.client.DeleteQueue(ctxFor(t), &sqs.DeleteQueueInput{QueueUrl: aws.String(gone)}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.client.PurgeQueue(ctxFor(t), &sqs.PurgeQueueInput{QueueUrl: aws.String(purged)}); err != nil {
			t.Fatal(err)
		}
		n.send(t, purged, "after the purge")
		n.restart(t, time.Hour)
		if _, err := n.client.GetQueueUrl(ctxFor(t), &sqs.GetQueueUrlInput{QueueName: aws.String("gone")}); err == nil {
			t.Error("a deleted queue came back")
		}
		got := n.receive(t, n.queueURL(t, "purged"), 10, nil)
		if len(got) != 1 || *got[0].Body != "after the purge" {
			t.Errorf("purged queue after restart holds %v", got)
		}
		// A queue re-created under the name starts empty.
		u := n.createQueue(t, "gone", nil)
		if got := n.count(t, u, "ApproximateNumberOfMessages"); got != 0 {
			t.Errorf("re-created queue holds %d", got)
		}
	})

	t.Run("a running move task carries on from its progress after a restart", func(t *testing.T) {
		n := newNode(t)
		dlq := n.createQueue(t, "dlq", nil)
		src := n.createQueue(t, "src", map[string]string{
			"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"%s","maxReceiveCount":1}`, n.arn(t, dlq)),
		})
		for i := range 5 {
			n.send(t, src, fmt.Sprint("m", i))
		}
		n.receive(t, src, 10, i32(1))
		n.advance(time.Second)
		n.receive(t, src, 10, nil) // dead-letters all five
		dlqARN := n.arn(t, dlq)
		if _, err := n.client.StartMessageMoveTask(ctxFor(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlqARN), MaxNumberOfMessagesPerSecond: aws.Int32(2)}); err != nil {
			t.Fatal(err)
		}
		n.advance(time.Second)
		task := func() types.ListMessageMoveTasksResultEntry {
			t.Helper()
			out, err := n.client.ListMessageMoveTasks(ctxFor(t), &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(dlqARN)})
			if err != nil || len(out.Results) != 1 {
				t.Fatalf("ListMessageMoveTasks = %v, %v", out, err)
			}
			return out.Results[0]
		}
		if r := task(); *r.Status != "RUNNING" || r.ApproximateNumberOfMessagesMoved != 2 {
			t.Fatalf("before the crash: %s, moved %d", *r.Status, r.ApproximateNumberOfMessagesMoved)
		}
		n.restart(t, 0)
		if r := task(); *r.Status != "RUNNING" || r.ApproximateNumberOfMessagesMoved != 2 || *r.ApproximateNumberOfMessagesToMove != 5 {
			t.Fatalf("after the restart: %+v", r)
		}
		if got := n.count(t, n.queueURL(t, "src"), "ApproximateNumberOfMessages"); got != 2 {
			t.Errorf("source holds %d after the restart, want the 2 moved", got)
		}
		n.advance(2 * time.Second)
		if r := task(); *r.Status != "COMPLETED" || r.ApproximateNumberOfMessagesMoved != 5 {
			t.Errorf("2 s after the restart: %s, moved %d", *r.Status, r.ApproximateNumberOfMessagesMoved)
		}
		if got := n.count(t, n.queueURL(t, "src"), "ApproximateNumberOfMessages"); got != 5 {
			t.Errorf("source holds %d, want 5", got)
		}
	})
}

func TestTheDataFile(t *testing.T) {
	// damage writes into a data file that holds one queue and a message.
	damage := func(t *testing.T, change func(root *bbolt.Bucket) error) string {
		t.Helper()
		n := newNode(t)
		u := n.createQueue(t, "q", nil)
		n.send(t, u, "x")
		n.crash()
		if err := journal.UpdateFile(n.path, func(tx *bbolt.Tx) error { return change(tx.Bucket([]byte("sqs"))) }); err != nil {
			t.Fatal(err)
		}
		return n.path
	}
	open := func(t *testing.T, path string, opts cloudsqs.Options) error {
		t.Helper()
		db, err := journal.Open(path)
		if err != nil {
			return err
		}
		defer db.Close()
		opts.DB = db
		svc, err := cloudsqs.New(opts)
		if err == nil {
			svc.Close()
		}
		return err
	}

	for _, tc := range []struct {
		name, want string
		change     func(root *bbolt.Bucket) error
	}{
		{"a damaged queue record", `queue q`, func(root *bbolt.Bucket) error {
			return root.Bucket([]byte("queues")).Put([]byte("q"), []byte{0xff, 0xff, 0xff})
		}},
		{"a damaged message record", `queue q: `, func(root *bbolt.Bucket) error {
			b := root.Bucket([]byte("messages")).Bucket([]byte("q"))
			k, _ := b.Cursor().First()
			return b.Put(k, []byte("not a message"))
		}},
		{"a message without its state", `has no state record`, func(root *bbolt.Bucket) error {
			b := root.Bucket([]byte("messages")).Bucket([]byte("q"))
			k, _ := b.Cursor().Last()
			return b.Delete(k)
		}},
		{"another format version", `format version "99"`, func(root *bbolt.Bucket) error {
			return root.Put([]byte("format"), []byte("99"))
		}},
	} {
		t.Run(tc.name+" is refused with ErrDataFile saying what is wrong", func(t *testing.T) {
			path := damage(t, tc.change)
			err := open(t, path, cloudsqs.Options{})
			if !errors.Is(err, cloudsqs.ErrDataFile) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("got %v, want ErrDataFile naming %q and the file", err, tc.want)
			}
		})
	}

	t.Run("a file written for another account is refused", func(t *testing.T) {
		path := damage(t, func(*bbolt.Bucket) error { return nil })
		err := open(t, path, cloudsqs.Options{Env: awsenv.Env{AccountID: "111111111111"}})
		if !errors.Is(err, cloudsqs.ErrDataFile) || !strings.Contains(err.Error(), "111111111111") {
			t.Errorf("got %v, want ErrDataFile naming the account", err)
		}
	})

	t.Run("a file that is not a data file is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "notes.txt")
		os.WriteFile(path, []byte(strings.Repeat("my notes\n", 1000)), 0o600)
		if err := open(t, path, cloudsqs.Options{}); !errors.Is(err, journal.ErrNotDataFile) {
			t.Errorf("got %v, want journal.ErrNotDataFile", err)
		}
	})

	t.Run("a file whose pages are overwritten with garbage is an error, not a crash", func(t *testing.T) {
		n := newNode(t)
		for q := range 3 {
			u := n.createQueue(t, fmt.Sprint("q", q), nil)
			for i := range 50 {
				n.send(t, u, strings.Repeat(fmt.Sprint(i), 100))
			}
		}
		n.crash()
		// The file with its log applied; each damaged copy gets the log's
		// marker too, so that only the damaged page can be noticed.
		if err := journal.UpdateFile(n.path, func(*bbolt.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(n.path)
		if err != nil {
			t.Fatal(err)
		}
		markers, _ := filepath.Glob(n.path + ".wal.*")
		if len(markers) != 1 {
			t.Fatalf("log files %v, want the marker only", markers)
		}
		marker, err := os.ReadFile(markers[0])
		if err != nil {
			t.Fatal(err)
		}
		const page = 4096
		// Damage one page at a time, past the two meta pages: the freelist,
		// branch and leaf pages of the buckets, and free pages.
		r := rand.New(rand.NewPCG(1, 2))
		refused := 0
		for p := 2; p < len(data)/page; p++ {
			damaged := append([]byte(nil), data...)
			for i := p * page; i < (p+1)*page; i++ {
				damaged[i] = byte(r.Uint32())
			}
			path := filepath.Join(t.TempDir(), "damaged.db")
			os.WriteFile(path, damaged, 0o600)
			os.WriteFile(path+strings.TrimPrefix(markers[0], n.path), marker, 0o600)
			if err := open(t, path, cloudsqs.Options{}); err != nil {
				refused++
				if !errors.Is(err, journal.ErrNotDataFile) && !strings.Contains(err.Error(), "damaged") && !errors.Is(err, cloudsqs.ErrDataFile) {
					t.Errorf("page %d: error %v does not say the file is damaged", p, err)
				}
			}
		}
		t.Logf("%d of %d damaged pages were noticed; the others opened without error", refused, len(data)/page-2)
		if refused == 0 {
			t.Error("no damaged page was noticed")
		}
	})
}

// TestTheDataFileStaysBoundedUnderChurn sends and deletes many 1 KiB
// messages through the SDK and checks that the data file's size levels off
// at what the queue holds at once, not what went through it.
func TestTheDataFileStaysBoundedUnderChurn(t *testing.T) {
	// 5,000 messages, 5 MiB of bodies, 50 times what the queue holds. Not
	// fewer under -short: with 2,000 the file is still growing at the
	// second tenth, which the check below compares the last size with.
	const rounds = 500
	n := newNode(t)
	u := n.createQueue(t, "churn", nil)
	body := strings.Repeat("x", 1024)
	entries := make([]types.SendMessageBatchRequestEntry, 10)
	for i := range entries {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(body)}
	}
	size := func() int64 {
		fi, err := os.Stat(n.path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var sizes []int64
	for r := range rounds {
		// Keep about 100 messages queued: send 10, take 10 of the oldest.
		if _, err := n.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: entries}); err != nil {
			t.Fatal(err)
		}
		if r < 10 {
			continue
		}
		got := n.receive(t, u, 10, i32(60))
		del := make([]types.DeleteMessageBatchRequestEntry, len(got))
		for i, m := range got {
			del[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle}
		}
		if len(del) > 0 {
			if _, err := n.client.DeleteMessageBatch(ctxFor(t), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(u), Entries: del}); err != nil {
				t.Fatal(err)
			}
		}
		if (r+1)%(rounds/10) == 0 {
			sizes = append(sizes, size())
		}
	}
	t.Logf("file size after each tenth of %d messages: %v bytes", rounds*10, sizes)
	early, last := sizes[1], sizes[len(sizes)-1]
	if last > 2*early || last > 4<<20 {
		t.Errorf("the file grew from %d to %d bytes while the queue held about 100 messages", early, last)
	}
	n.restart(t, 0)
	if got := n.count(t, n.queueURL(t, "churn"), "ApproximateNumberOfMessages") + n.count(t, n.queueURL(t, "churn"), "ApproximateNumberOfMessagesNotVisible"); got != 100 {
		t.Errorf("after the churn and a restart the queue holds %d, want 100", got)
	}
}

// receiveAll drains a queue (taking each message out of sight for an
// hour) and returns the messages by id.
func receiveAll(t *testing.T, f *fixture, u string) map[string]types.Message {
	t.Helper()
	out := map[string]types.Message{}
	for {
		got := f.receive(t, u, 10, i32(3600))
		if len(got) == 0 {
			return out
		}
		for _, m := range got {
			out[*m.MessageId] = m
		}
	}
}

// TestAfterTheDataFileFailsNoReadShowsAnUnacknowledgedChange makes the data
// file unwritable under a running service, as a full disk does (the
// journal then stops: fail-stop), and checks that the changes it then
// refuses never show: every later request, read or write, on either
// protocol, is refused with an AWS-shaped error that says to restart.
func TestAfterTheDataFileFailsNoReadShowsAnUnacknowledgedChange(t *testing.T) {
	db, err := journal.Open(filepath.Join(t.TempDir(), "data.db"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.New(db)
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	svc, err := cloudsqs.New(cloudsqs.Options{DB: db, Journal: j, Clock: clock.NewFake(t0), Env: awsenv.Env{BaseURL: func() string { return srv.URL }}})
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(svc)
	defer srv.Close()
	f := &fixture{svc: svc, client: newClient(srv.URL), url: srv.URL}
	u := f.createQueue(t, "q", nil)
	for i := range 9 {
		f.send(t, u, fmt.Sprint("acknowledged ", i))
	}
	inFlight := f.receive(t, u, 1, i32(60))

	// The file goes away under the journal: its next apply fails, and the
	// journal refuses everything after.
	db.Close()
	if err := j.Flush(); err == nil {
		t.Fatal("the journal did not fail: the test tests nothing")
	}

	refused := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: answered after the data file failed", what)
			return
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" || !strings.Contains(ae.ErrorMessage(), "restart") {
			t.Errorf("%s: %v; want ServiceUnavailable saying to restart", what, err)
		}
	}
	for i := range 11 {
		_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(fmt.Sprint("refused ", i))})
		refused("SendMessage", err)
	}
	_, err = f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("refused in a batch")}}})
	refused("SendMessageBatch", err)
	_, err = f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: inFlight[0].ReceiptHandle})
	refused("DeleteMessage", err)
	_, err = f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("new")})
	refused("CreateQueue", err)

	_, err = f.client.GetQueueAttributes(ctxFor(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{"All"}})
	refused("GetQueueAttributes", err)
	_, err = f.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), MaxNumberOfMessages: 10})
	refused("ReceiveMessage", err)
	_, err = f.client.ListQueues(ctxFor(t), &sqs.ListQueuesInput{})
	refused("ListQueues", err)
	_, err = f.client.GetQueueUrl(ctxFor(t), &sqs.GetQueueUrlInput{QueueName: aws.String("new")})
	refused("GetQueueUrl", err)
	_, err = f.client.ListQueueTags(ctxFor(t), &sqs.ListQueueTagsInput{QueueUrl: aws.String(u)})
	refused("ListQueueTags", err)
	if _, err := svc.Engine().ReceiveMessage(ctxFor(t), "q", cloudsqs.ReceiveInput{MaxNumberOfMessages: 10}); err == nil {
		t.Error("the engine's ReceiveMessage answered after the data file failed")
	}
	status, body := postQuery(t, srv.URL, "/000000000000/q", url.Values{"Action": {"GetQueueAttributes"}, "AttributeName.1": {"All"}})
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "<Code>ServiceUnavailable</Code>") || !strings.Contains(body, "<Type>Receiver</Type>") {
		t.Errorf("Query GetQueueAttributes: %d %s", status, body)
	}
	if err := svc.Close(); err == nil {
		t.Error("Close after the failure reported nothing")
	}
}

// TestWhileTheDiskIsFullRequestsAreRefusedAndResumeByThemselves runs the
// service's journal out of space (an injected ENOSPC on its log, as a full
// disk gives): every request is refused with 503 ServiceUnavailable saying
// to retry, on both protocols, while nothing unsaved is acknowledged; once
// space returns the service answers again without a restart, and what it
// holds in memory is what its data file holds (the change refused as the
// stall began reached the file after all: its outcome was unknown). Not
// parallel: the injected fault is the process's.
func TestWhileTheDiskIsFullRequestsAreRefusedAndResumeByThemselves(t *testing.T) {
	dir := t.TempDir()
	var full atomic.Bool
	defer journal.InjectFault(func(op, path string) error {
		if full.Load() && strings.HasPrefix(path, dir) && (op == "write" || op == "zero") {
			return &os.PathError{Op: op, Path: path, Err: syscall.ENOSPC}
		}
		return nil
	})()
	opts := cloudsqs.Options{DB: openDB(t, dir), Clock: clock.NewFake(t0)}
	var srv *httptest.Server
	o := opts
	o.BaseURL = func() string { return srv.URL }
	svc, err := cloudsqs.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(svc)
	defer srv.Close()
	f := &fixture{svc: svc, client: newClient(srv.URL), url: srv.URL, clock: opts.Clock.(*clock.Fake)}
	u := f.createQueue(t, "q", nil)
	acked := map[string]bool{}
	for i := range 5 {
		acked[fmt.Sprint("acknowledged ", i)] = true
		f.send(t, u, fmt.Sprint("acknowledged ", i))
	}

	full.Store(true)
	refused := func(what string, err error) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" || !strings.Contains(ae.ErrorMessage(), "retry later") || !strings.Contains(ae.ErrorMessage(), "no space left") {
			t.Fatalf("%s while the disk is full: %v; want ServiceUnavailable naming the cause and saying to retry later", what, err)
		}
	}
	_, err = f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("outcome unknown")})
	refused("the SendMessage that meets the full disk", err)
	for i := range 5 {
		_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(fmt.Sprint("refused ", i))})
		refused("SendMessage", err)
	}
	_, err = f.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), MaxNumberOfMessages: 10})
	refused("ReceiveMessage", err)
	_, err = f.client.GetQueueAttributes(ctxFor(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{"All"}})
	refused("GetQueueAttributes", err)
	_, err = f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("refused")})
	refused("CreateQueue", err)
	status, body := postQuery(t, srv.URL, "/000000000000/q", url.Values{"Action": {"SendMessage"}, "MessageBody": {"refused over Query"}})
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "<Code>ServiceUnavailable</Code>") || !strings.Contains(body, "retry later") {
		t.Errorf("Query SendMessage while the disk is full: %d %s", status, body)
	}
	if _, err := svc.Engine().SendMessage(ctxFor(t), "q", cloudsqs.SendInput{Body: "refused in-process"}); !errors.Is(err, cloudsqs.ErrNotDurable) || !errors.Is(err, journal.ErrStalled) {
		t.Errorf("the engine's SendMessage while the disk is full: %v; want ErrNotDurable and journal.ErrStalled", err)
	}

	full.Store(false)
	start := time.Now()
	for {
		_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("after")})
		if err == nil {
			acked["after"] = true
			break
		}
		refused("SendMessage just after space returned", err)
		if time.Since(start) > 10*time.Second {
			t.Fatal("still refused 10 s after space returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("answered again %v after space returned", time.Since(start).Round(time.Millisecond))
	got := map[string]bool{}
	for _, m := range receiveAll(t, f, u) {
		got[*m.Body] = true
	}
	for b := range acked {
		if !got[b] {
			t.Errorf("%q was acknowledged and is not in the queue", b)
		}
	}
	for b := range got {
		if !acked[b] && b != "outcome unknown" {
			t.Errorf("%q was refused up front and is in the queue", b)
		}
	}
	srv.Close()
	f.checkFileMatchesMemory(t, opts)
}

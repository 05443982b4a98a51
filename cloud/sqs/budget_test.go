package sqs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// body1K is a message body of 1 KiB; bodyBytes what it counts towards a
// ceiling.
var (
	body1K    = strings.Repeat("x", 1<<10)
	bodyBytes = cloudsqs.MessageBytes(cloudsqs.SendInput{Body: body1K})
)

// assertQueueFull checks that err is the refusal of a send to a full
// queue, as clients see it: RequestThrottled, HTTP 400, naming the
// ceiling.
func assertQueueFull(t *testing.T, what string, err error) {
	t.Helper()
	var re *awshttp.ResponseError
	if apiCode(t, err) != "RequestThrottled" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest || !strings.Contains(err.Error(), "ceiling") {
		t.Fatalf("%s: %v; want RequestThrottled (400) naming the ceiling", what, err)
	}
}

func TestAQueueAtItsCeilingRefusesSendsAndDrains(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const fits = 20
		f := b.newFixtureWith(t, false, func(o *cloudsqs.Options) { o.MaxQueueBytes = fits * bodyBytes })
		u := f.createQueue(t, "q", nil)
		other := f.createQueue(t, "other", nil)
		for i := range fits {
			f.send(t, u, body1K)
			_ = i
		}
		_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(body1K)})
		assertQueueFull(t, "SendMessage to a full queue", err)
		_, err = f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("x")})
		assertQueueFull(t, "a one-byte SendMessage to a full queue", err)
		out, err := f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: []types.SendMessageBatchRequestEntry{
			{Id: aws.String("a"), MessageBody: aws.String(body1K)}, {Id: aws.String("b"), MessageBody: aws.String(body1K)}}})
		if err != nil {
			t.Fatalf("SendMessageBatch to a full queue: %v; want per-entry failures", err)
		}
		if len(out.Successful) != 0 || len(out.Failed) != 2 || *out.Failed[0].Code != "RequestThrottled" || !out.Failed[0].SenderFault {
			t.Fatalf("SendMessageBatch to a full queue: %d successful, failed %+v; want both entries RequestThrottled", len(out.Successful), out.Failed)
		}
		status, body := postQuery(t, f.url, "/000000000000/q", url.Values{"Action": {"SendMessage"}, "MessageBody": {"over Query"}})
		if status != http.StatusBadRequest || !strings.Contains(body, "<Code>RequestThrottled</Code>") || !strings.Contains(body, "<Type>Sender</Type>") {
			t.Errorf("Query SendMessage to a full queue: %d %s", status, body)
		}
		if got := f.count(t, u, "ApproximateNumberOfMessages"); got != fits {
			t.Errorf("the full queue holds %d messages, want %d", got, fits)
		}
		// Another queue still takes messages: the ceiling is the queue's.
		f.send(t, other, body1K)

		// Reads and deletes go on, and make room.
		msgs := f.receive(t, u, 2, nil)
		if len(msgs) != 2 {
			t.Fatalf("received %d from the full queue, want 2", len(msgs))
		}
		if _, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(body1K)}); err == nil {
			t.Fatal("a message in flight no longer counted: it is still in the queue")
		}
		for _, m := range msgs {
			if _, err := f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("DeleteMessage from a full queue: %v", err)
			}
		}
		out, err = f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: []types.SendMessageBatchRequestEntry{
			{Id: aws.String("a"), MessageBody: aws.String(body1K)}, {Id: aws.String("b"), MessageBody: aws.String(body1K)}, {Id: aws.String("c"), MessageBody: aws.String(body1K)}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Successful) != 2 || len(out.Failed) != 1 || *out.Failed[0].Id != "c" || *out.Failed[0].Code != "RequestThrottled" {
			t.Errorf("a batch of 3 into room for 2: %d successful, failed %+v; want a and b in, c refused", len(out.Successful), out.Failed)
		}
		// A purge empties it for good.
		if _, err := f.client.PurgeQueue(ctxFor(t), &sqs.PurgeQueueInput{QueueUrl: aws.String(u)}); err != nil {
			t.Fatal(err)
		}
		for range fits {
			f.send(t, u, body1K)
		}
	})
}

func TestAllQueuesTogetherHaveACeiling(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const fits = 30
		f := b.newFixtureWith(t, false, func(o *cloudsqs.Options) { o.MaxQueuedBytes = fits * bodyBytes })
		a, c := f.createQueue(t, "a", nil), f.createQueue(t, "c", nil)
		for i := range fits {
			f.send(t, []string{a, c}[i%2], body1K)
		}
		for _, u := range []string{a, c} {
			_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(body1K)})
			assertQueueFull(t, "SendMessage with every queue full together", err)
		}
		// Deleting a queue frees what it held.
		if _, err := f.client.DeleteQueue(ctxFor(t), &sqs.DeleteQueueInput{QueueUrl: aws.String(c)}); err != nil {
			t.Fatal(err)
		}
		for range fits / 2 {
			f.send(t, a, body1K)
		}
	})
}

func TestAFullDeadLetterQueueStillTakesWhatItsSourceMovesThere(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := b.newFixtureWith(t, true, func(o *cloudsqs.Options) { o.MaxQueueBytes = 3 * bodyBytes })
		dlq := f.createQueue(t, "dlq", nil)
		src := f.createQueue(t, "src", map[string]string{"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":1}`, f.arn(t, dlq))})
		for range 3 {
			f.send(t, dlq, body1K)
		}
		f.send(t, src, body1K)
		if got := f.receive(t, src, 1, nil); len(got) != 1 {
			t.Fatalf("first receive got %d", len(got))
		}
		f.advance(31 * time.Second)
		if got := f.receive(t, src, 1, nil); len(got) != 0 {
			t.Fatalf("the poison message was received again instead of moving to its dead-letter queue")
		}
		if got := f.count(t, dlq, "ApproximateNumberOfMessages"); got != 4 {
			t.Errorf("the dead-letter queue holds %d, want its 3 and the moved one", got)
		}
		_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String("x")})
		assertQueueFull(t, "SendMessage to a dead-letter queue over its ceiling", err)
	})
}

// TestQueuedMessagesCannotExhaustMemory is the attack: a client sends as
// fast as it can and never receives. Before the ceiling, memory grew with
// every message (docs/benchmarks.md); now sends are refused
// at the ceiling and the heap stays near it.
func TestQueuedMessagesCannotExhaustMemory(t *testing.T) {
	const ceiling = 32 << 20
	e, err := cloudsqs.NewEngine(cloudsqs.Options{MaxQueuedBytes: ceiling})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := e.CreateQueue(fmt.Sprint("q", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	buf := []byte(strings.Repeat("x", 4<<10))
	sent, refused := 0, 0
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 30_000 && time.Now().Before(deadline); i++ { // 30,000 × 4 KiB: 117 MiB offered
		_, err := e.SendMessage(ctx, fmt.Sprint("q", i%4), cloudsqs.SendInput{Body: string(buf)})
		switch {
		case err == nil:
			sent++
		case errors.Is(err, cloudsqs.ErrQueueFull):
			refused++
		default:
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d sends of 4 KiB accepted, %d refused; heap grew %.1f MiB under a %d MiB ceiling", sent, refused, float64(grew)/(1<<20), ceiling>>20)
	if refused == 0 {
		t.Fatal("nothing was refused: no ceiling")
	}
	if grew > ceiling*5/4 {
		t.Errorf("the heap grew %d MiB with a ceiling of %d MiB", grew>>20, ceiling>>20)
	}
	if q := e.QueuedBytes(); q > ceiling || q < ceiling-int64(len(buf))-1024 {
		t.Errorf("QueuedBytes = %d, want just under %d", q, ceiling)
	}
}

// TestAStandardQueueAnswersOverLimitAt120000InFlight: ReceiveMessage
// answers OverLimit, as AWS does, until one is deleted or visible again.
func TestAStandardQueueAnswersOverLimitAt120000InFlight(t *testing.T) {
	slowtest.Skip(t, "receives 120,000 messages")
	f := inMemory.newFixtureWith(t, true, func(o *cloudsqs.Options) { o.MaxQueueBytes, o.MaxQueuedBytes = -1, -1 })
	u := f.createQueue(t, "q", nil)
	e := f.svc.Engine()
	for i := range cloudsqs.MaxInflight + 5 {
		if _, err := e.SendMessage(ctxFor(t), "q", cloudsqs.SendInput{Body: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var handles []string
	for len(handles) < cloudsqs.MaxInflight {
		msgs, err := e.ReceiveMessage(ctxFor(t), "q", cloudsqs.ReceiveInput{MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatalf("after %d in flight: %v", len(handles), err)
		}
		if len(msgs) == 0 {
			t.Fatalf("after %d in flight: nothing received", len(handles))
		}
		for _, m := range msgs {
			handles = append(handles, m.ReceiptHandle)
		}
	}
	if len(handles) != cloudsqs.MaxInflight {
		t.Fatalf("%d in flight: a receive went past the limit", len(handles))
	}
	_, err := f.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), MaxNumberOfMessages: 10})
	var re *awshttp.ResponseError
	if apiCode(t, err) != "OverLimit" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Fatalf("ReceiveMessage with 120,000 in flight: %v; want OverLimit (403)", err)
	}
	status, body := postQuery(t, f.url, "/000000000000/q", url.Values{"Action": {"ReceiveMessage"}})
	if status != http.StatusForbidden || !strings.Contains(body, "<Code>OverLimit</Code>") {
		t.Errorf("Query ReceiveMessage with 120,000 in flight: %d %s", status, body)
	}
	if _, err := f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: aws.String(handles[0])}); err != nil {
		t.Fatal(err)
	}
	if got := f.receive(t, u, 10, nil); len(got) != 1 {
		t.Errorf("after one delete, a receive of 10 got %d; want the one that fits", len(got))
	}
	f.advance(31 * time.Second) // their visibility runs out
	if got := f.receive(t, u, 10, nil); len(got) != 10 {
		t.Errorf("once their visibility ran out, a receive got %d, want 10", len(got))
	}
}

// TestAFIFOQueueReceivesNothingAt120000InFlight: AWS documents that a
// FIFO queue at its limit of 120,000 in flight returns no error; its
// receives come back empty until one is deleted.
func TestAFIFOQueueReceivesNothingAt120000InFlight(t *testing.T) {
	slowtest.Skip(t, "receives 120,000 messages")
	f := inMemory.newFixtureWith(t, true, func(o *cloudsqs.Options) { o.MaxQueueBytes, o.MaxQueuedBytes = -1, -1 })
	u := f.createQueue(t, "q.fifo", map[string]string{"FifoQueue": "true"})
	e := f.svc.Engine()
	for i := range cloudsqs.MaxInflight + 5 {
		in := cloudsqs.SendInput{Body: "m", MessageGroupID: strconv.Itoa(i), MessageDeduplicationID: strconv.Itoa(i)}
		if _, err := e.SendMessage(ctxFor(t), "q.fifo", in); err != nil {
			t.Fatal(err)
		}
	}
	var handles []string
	for len(handles) < cloudsqs.MaxInflight {
		msgs, err := e.ReceiveMessage(ctxFor(t), "q.fifo", cloudsqs.ReceiveInput{MaxNumberOfMessages: 10})
		if err != nil || len(msgs) == 0 {
			t.Fatalf("after %d in flight: %d received, %v", len(handles), len(msgs), err)
		}
		for _, m := range msgs {
			handles = append(handles, m.ReceiptHandle)
		}
	}
	if len(handles) != cloudsqs.MaxInflight {
		t.Fatalf("%d in flight: a receive went past the limit", len(handles))
	}
	if got := f.receive(t, u, 10, nil); len(got) != 0 {
		t.Fatalf("a receive with 120,000 in flight got %d messages, want none", len(got))
	}
	if _, err := f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: aws.String(handles[0])}); err != nil {
		t.Fatal(err)
	}
	if got := f.receive(t, u, 10, nil); len(got) != 1 {
		t.Errorf("after one delete, a receive of 10 got %d; want the one that fits", len(got))
	}
}

// TestADataFileHoldingMoreThanTheCeilingStartsLosingNothing: a data file
// written under a larger ceiling (or by an earlier orderflow without one)
// opens with every message; sends are refused until it drains below the
// new ceiling.
func TestADataFileHoldingMoreThanTheCeilingStartsLosingNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.db")
	open := func(max int64) (*cloudsqs.Engine, func()) {
		db, err := journal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		e, err := cloudsqs.NewEngine(cloudsqs.Options{DB: db, Clock: clock.NewFake(t0), MaxQueueBytes: max})
		if err != nil {
			db.Close()
			t.Fatalf("open with a ceiling of %d: %v", max, err)
		}
		return e, func() { e.Close(); db.Close() }
	}
	e, done := open(-1)
	if _, err := e.CreateQueue("q", nil, nil); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := e.SendMessage(ctxFor(t), "q", cloudsqs.SendInput{Body: body1K}); err != nil {
			t.Fatal(err)
		}
	}
	done()
	e, done = open(10 * bodyBytes)
	defer done()
	if got, want := e.QueuedBytes(), 50*bodyBytes; got != want {
		t.Errorf("QueuedBytes after the restart = %d, want %d", got, want)
	}
	if _, err := e.SendMessage(ctxFor(t), "q", cloudsqs.SendInput{Body: "x"}); !errors.Is(err, cloudsqs.ErrQueueFull) {
		t.Fatalf("a send to a queue over its ceiling after a restart: %v, want ErrQueueFull", err)
	}
	received := 0
	for {
		msgs, err := e.ReceiveMessage(ctxFor(t), "q", cloudsqs.ReceiveInput{MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			received++
			if err := e.DeleteMessage("q", m.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
	}
	if received != 50 {
		t.Errorf("received %d after the restart, want all 50", received)
	}
	if _, err := e.SendMessage(ctxFor(t), "q", cloudsqs.SendInput{Body: body1K}); err != nil {
		t.Errorf("a send once drained: %v", err)
	}
}

// TestMoveTasksStartedInALoopGrowNothing: a queue keeps its 10 most
// recent move tasks, all ListMessageMoveTasks shows; older ones are
// forgotten in memory and in the file, and a deleted queue's go with it.
func TestMoveTasksStartedInALoopGrowNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := b.newFixture(t, true)
		dlq := f.createQueue(t, "dlq", nil)
		f.createQueue(t, "src", map[string]string{"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":1}`, f.arn(t, dlq))})
		var handles []string
		for range 100 {
			out, err := f.client.StartMessageMoveTask(ctxFor(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(f.arn(t, dlq))})
			if err != nil {
				t.Fatalf("task %d: %v", len(handles), err)
			}
			handles = append(handles, *out.TaskHandle)
			f.advance(time.Second) // it completes: nothing to move
		}
		out, err := f.client.ListMessageMoveTasks(ctxFor(t), &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(f.arn(t, dlq)), MaxResults: aws.Int32(10)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Results) != 10 {
			t.Errorf("ListMessageMoveTasks lists %d tasks, want the 10 most recent", len(out.Results))
		}
		if n := cloudsqs.TasksForTest(f.svc.Engine()); n != 10 {
			t.Errorf("after 100 tasks the engine remembers %d, want 10", n)
		}
		if _, err := f.client.CancelMessageMoveTask(ctxFor(t), &sqs.CancelMessageMoveTaskInput{TaskHandle: aws.String(handles[0])}); apiCode(t, err) != "ResourceNotFoundException" {
			t.Errorf("cancelling a forgotten task: %v, want ResourceNotFoundException", err)
		}
		running, err := f.client.StartMessageMoveTask(ctxFor(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(f.arn(t, dlq))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.client.DeleteQueue(ctxFor(t), &sqs.DeleteQueueInput{QueueUrl: aws.String(dlq)}); err != nil {
			t.Fatal(err)
		}
		if n := cloudsqs.TasksForTest(f.svc.Engine()); n != 0 {
			t.Errorf("after its source queue was deleted the engine remembers %d tasks, want none", n)
		}
		if _, err := f.client.CancelMessageMoveTask(ctxFor(t), &sqs.CancelMessageMoveTaskInput{TaskHandle: running.TaskHandle}); apiCode(t, err) != "ResourceNotFoundException" {
			t.Errorf("cancelling the task of a deleted queue: %v, want ResourceNotFoundException", err)
		}
		f.advance(time.Second)
	})
}

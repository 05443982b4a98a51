package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/internal/local"
	"github.com/orderflow/orderflow/sqs"
)

// dlqCloud is an embedded cloud for the dlq commands' tests, with a client
// of its own to fill and inspect the queues.
type dlqCloud struct {
	*local.Pipeline
	sqs *awssqs.Client
	dlq string
}

func startDLQCloud(t *testing.T) *dlqCloud {
	t.Helper()
	// Nothing ambient: the CLI signs with its local key.
	none := filepath.Join(t.TempDir(), "none")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	l, err := startLocal(context.Background(), localOptions{addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &dlqCloud{Pipeline: l, sqs: awssqs.NewFromConfig(l.Cloud.Config()), dlq: l.Output("OrderDLQUrl")}
}

// cli runs orderflow against the cloud with stdin and returns what it
// printed and its exit code.
func (c *dlqCloud) cli(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "AWS_ENDPOINT_URL" {
			return c.Cloud.URL()
		}
		return ""
	}
	code = run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

// transient sends a dead letter as SQS moves one: no attributes.
func (c *dlqCloud) transient(t *testing.T, queue, orderID string) {
	t.Helper()
	if _, err := c.sqs.SendMessage(context.Background(), &awssqs.SendMessageInput{QueueUrl: aws.String(queue),
		MessageBody: aws.String(fmt.Sprintf(`{"orderId":%q}`, orderID)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"trace": {DataType: aws.String("String"), StringValue: aws.String("t-" + orderID)},
		}}); err != nil {
		t.Fatal(err)
	}
}

// invalid sends a dead letter as the function does for invalid input.
func (c *dlqCloud) invalid(t *testing.T, orderID string) {
	t.Helper()
	err := sqs.New(c.sqs, c.dlq).SendDeadLetter(context.Background(), orderflow.DeadLetter{
		Body: fmt.Sprintf(`{"orderId":%q,"quantity":0}`, orderID), Code: orderflow.CodeInvalidOrder,
		Reason: "invalid order: quantity: must be at least 1, got 0", ReceiveCount: 1, OriginalMessageID: "m-" + orderID,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// drain receives every message of queue (deleting them) and returns their
// bodies, sorted, and their "trace" attributes.
func (c *dlqCloud) drain(t *testing.T, queue string) (bodies, traces []string) {
	t.Helper()
	for range 10 {
		out, err := c.sqs.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(queue),
			MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, VisibilityTimeout: 60})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if a, ok := m.MessageAttributes["trace"]; ok {
				traces = append(traces, aws.ToString(a.StringValue))
			}
			if _, err := c.sqs.DeleteMessage(context.Background(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Sort(bodies)
	slices.Sort(traces)
	return bodies, traces
}

func TestDLQList(t *testing.T) {
	c := startDLQCloud(t)

	t.Run("an empty DLQ is said at once, without a long-poll wait", func(t *testing.T) {
		start := time.Now()
		out, errOut, code := c.cli(t, "", "dlq", "list")
		// Generous: the listing once waited two one-second long polls.
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("dlq list of an empty DLQ took %v, want well under a second", took)
		}
		if code != 0 || out != "OrderDLQ is empty.\n" || errOut != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 0, %q", code, out, errOut, "OrderDLQ is empty.\n")
		}
	})

	// Another reader holds a message: it is in flight.
	c.transient(t, c.dlq, "O-HELD")
	held, err := c.sqs.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(c.dlq), MaxNumberOfMessages: 1, VisibilityTimeout: 300})
	if err != nil || len(held.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(held.Messages))
	}

	t.Run("a message in flight is said to be in flight, not empty", func(t *testing.T) {
		start := time.Now()
		out, errOut, code := c.cli(t, "", "dlq", "list")
		want := "OrderDLQ has no visible messages, but 1 message is in flight (received by another reader and not yet deleted) and visible again when that receive's visibility timeout ends (OrderDLQ's is 30 s, unless the reader chose another).\n"
		if code != 0 || out != want || errOut != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 0, %q", code, out, errOut, want)
		}
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("took %v, want well under a second", took)
		}
		out, _, _ = c.cli(t, "", "dlq", "list", "--json")
		for _, want := range []string{`"visible": 0,`, `"inFlight": 1,`, `"visibilityTimeoutSeconds": 30,`, `"listed": 0,`, `"messages": []`} {
			if !strings.Contains(out, want) {
				t.Errorf("list --json lacks %s:\n%s", want, out)
			}
		}
	})

	t.Run("visible messages are listed, counted against SQS's count, with those in flight besides", func(t *testing.T) {
		c.transient(t, c.dlq, "O-1")
		c.invalid(t, "O-2")
		start := time.Now()
		out, errOut, code := c.cli(t, "", "dlq", "list")
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("took %v, want well under a second once every visible message is seen", took)
		}
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^\S+\s+O-1\s+\d+\s+MaxReceivesExceeded\s+moved by SQS`),
			regexp.MustCompile(`(?m)^\S+\s+O-2\s+1\s+InvalidOrder\s+invalid order: quantity: must be at least 1, got 0$`),
			regexp.MustCompile(`(?m)^Listed the 2 messages visible in OrderDLQ.\nNot listed: 1 message is in flight \(received by another reader and not yet deleted\) and visible again when that receive's visibility timeout ends \(OrderDLQ's is 30 s, unless the reader chose another\).\n\z`),
		} {
			if !want.MatchString(out) {
				t.Errorf("stdout does not match %s:\n%s", want, out)
			}
		}
		out, _, _ = c.cli(t, "", "dlq", "list", "--max", "1")
		if !strings.HasSuffix(out, "Listed 1 message (--max 1) of about 2 visible in OrderDLQ.\nNot listed: 1 message is in flight (received by another reader and not yet deleted) and visible again when that receive's visibility timeout ends (OrderDLQ's is 30 s, unless the reader chose another).\n") {
			t.Errorf("list --max 1:\n%s", out)
		}
		// Nothing was consumed: the two listed are visible again.
		st, err := readDLQState(context.Background(), c.sqs, c.dlq)
		if err != nil || st.Visible != 2 || st.InFlight != 1 {
			t.Errorf("after the listings: %+v, %v; want 2 visible and 1 in flight", st, err)
		}
	})
}

func TestDLQRedriveOnlyTransientMovesOnlyTheMessagesWithoutTheFunctionsErrorCode(t *testing.T) {
	c := startDLQCloud(t)
	scratch, err := c.sqs.CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String("Scratch")})
	if err != nil {
		t.Fatal(err)
	}
	// One held by another reader: in flight, it cannot be moved.
	c.transient(t, c.dlq, "O-HELD")
	if _, err := c.sqs.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(c.dlq), MaxNumberOfMessages: 1, VisibilityTimeout: 300}); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		c.transient(t, c.dlq, fmt.Sprintf("O-T%02d", i))
	}
	for i := range 3 {
		c.invalid(t, fmt.Sprintf("O-I%d", i))
	}

	out, errOut, code := c.cli(t, "", "dlq", "redrive", "--only-transient", "--to", "Scratch")
	want := "Moved 12 messages that failed transiently from OrderDLQ to Scratch one by one (sent, then deleted; not a move task); left 3 that failed validation in OrderDLQ.\n" +
		"Not moved: 1 message is in flight (received by another reader and not yet deleted) and visible again when that receive's visibility timeout ends (OrderDLQ's is 30 s, unless the reader chose another).\n"
	if code != 0 || out != want || strings.Contains(errOut, "failed validation") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0, %q and no warning", code, out, errOut, want)
	}

	// The invalid ones are visible in OrderDLQ at once, the others are in
	// Scratch with their attributes.
	st, err := readDLQState(context.Background(), c.sqs, c.dlq)
	if err != nil || st.Visible != 3 || st.InFlight != 1 {
		t.Errorf("OrderDLQ after the move: %+v, %v; want 3 visible and the held one in flight", st, err)
	}
	moved, traces := c.drain(t, aws.ToString(scratch.QueueUrl))
	var wantBodies, wantTraces []string
	for i := range 12 {
		wantBodies = append(wantBodies, fmt.Sprintf(`{"orderId":"O-T%02d"}`, i))
		wantTraces = append(wantTraces, fmt.Sprintf("t-O-T%02d", i))
	}
	if !slices.Equal(moved, wantBodies) || !slices.Equal(traces, wantTraces) {
		t.Errorf("Scratch holds %q with traces %q, want %q and %q", moved, traces, wantBodies, wantTraces)
	}
	left, _ := c.drain(t, c.dlq)
	if len(left) != 3 || !strings.Contains(left[0], "O-I0") {
		t.Errorf("OrderDLQ holds %q, want the 3 invalid orders", left)
	}
}

func TestDLQRedriveOfInvalidDeadLettersAsksFirst(t *testing.T) {
	c := startDLQCloud(t)
	c.transient(t, c.dlq, "O-T")
	c.invalid(t, "O-I")
	warning := "1 of the 2 dead letters failed validation (e.g. ErrorCode InvalidOrder): redriving sends them back to OrderQueue, where they will fail again and return here.\n"

	out, errOut, code := c.cli(t, "", "dlq", "redrive")
	wantErr := warning + "Redrive all 2 anyway? [y/N] \norderflow: no answer on stdin, so nothing was moved: pass --yes to redrive them all anyway, or --only-transient to move only the 1 that failed transiently\n"
	if code != 1 || out != "" || errOut != wantErr {
		t.Errorf("with no answer: exit %d, stdout %q, stderr %q; want 1, nothing, %q", code, out, errOut, wantErr)
	}
	if st, err := readDLQState(context.Background(), c.sqs, c.dlq); err != nil || st.Visible != 2 {
		t.Errorf("OrderDLQ after the refusal: %+v, %v; want 2 visible", st, err)
	}

	out, errOut, code = c.cli(t, "yes\n", "dlq", "redrive")
	want := "Moved 2 messages from OrderDLQ to OrderQueue; 1 of them failed validation and will likely return to OrderDLQ.\n"
	if code != 0 || out != want || !strings.HasPrefix(errOut, warning) {
		t.Errorf("with a piped yes: exit %d, stdout %q, stderr %q; want 0, %q", code, out, errOut, want)
	}
}

func TestDLQPurgeAfterAnotherClientsPurgeSaysSoInOneSentence(t *testing.T) {
	c := startDLQCloud(t)
	c.invalid(t, "O-I")
	// Another client purges: no tag tells the CLI.
	if _, err := c.sqs.PurgeQueue(context.Background(), &awssqs.PurgeQueueInput{QueueUrl: aws.String(c.dlq)}); err != nil {
		t.Fatal(err)
	}
	c.invalid(t, "O-J")
	out, errOut, code := c.cli(t, "", "dlq", "purge", "--yes")
	want := "orderflow: OrderDLQ was purged less than a minute ago, perhaps by another client (AWS.SimpleQueueService.PurgeQueueInProgress); SQS allows one purge a minute: try again in a minute\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, %q", code, out, errOut, want)
	}
}

func TestConfirmReadsAPipedAnswerLikeATypedOne(t *testing.T) {
	for _, tc := range []struct {
		name, stdin string
		want        bool
		wantErr     error
	}{
		{"a piped yes confirms", "yes\n", true, nil},
		{"a piped y without a newline confirms", "y", true, nil},
		{"YES in capitals confirms", "YES\r\n", true, nil},
		{"a piped no declines", "no\n", false, nil},
		{"an empty line declines", "\n", false, nil},
		{"no input at all is no answer", "", false, errNoAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errOut bytes.Buffer
			got, err := confirm(&env{stdin: strings.NewReader(tc.stdin), stderr: &errOut}, "Go?")
			if got != tc.want || err != tc.wantErr {
				t.Errorf("confirm = %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
			if errOut.String() != "Go? [y/N] \n" {
				t.Errorf("prompt %q, want %q", errOut.String(), "Go? [y/N] \n")
			}
		})
	}
}

func TestDLQRedriveOfADLQWhoseMessagesAreAllInFlightSaysSo(t *testing.T) {
	c := startDLQCloud(t)
	c.transient(t, c.dlq, "O-HELD")
	if _, err := c.sqs.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(c.dlq), MaxNumberOfMessages: 1, VisibilityTimeout: 300}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := c.cli(t, "", "dlq", "redrive")
	want := "orderflow: OrderDLQ has no visible messages to move: 1 message is in flight (received by another reader and not yet deleted) and visible again when that receive's visibility timeout ends (OrderDLQ's is 30 s, unless the reader chose another); try again then\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, %q", code, out, errOut, want)
	}
}

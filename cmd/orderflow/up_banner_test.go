package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/internal/poll"
)

// upInProcess is `orderflow up` run by run() in this process, as a
// terminal would run it, until stop.
type upInProcess struct {
	stdout, stderr logBuffer
	endpoint       string
	cancel         context.CancelFunc
	code           chan int
}

var bannerEndpoint = regexp.MustCompile(`embedded cloud at (http://\S+) `)

func runUp(t *testing.T, args ...string) *upInProcess {
	t.Helper()
	return runUpWithin(t, 20*time.Second, args...)
}

// runUpWithin is runUp for an up that takes longer than usual to print its
// banner (one that builds the function first, say).
func runUpWithin(t *testing.T, within time.Duration, args ...string) *upInProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u := &upInProcess{cancel: cancel, code: make(chan int, 1)}
	go func() {
		u.code <- run(ctx, append([]string{"up", "--addr", "127.0.0.1:0"}, args...), func(string) string { return "" }, strings.NewReader(""), &u.stdout, &u.stderr)
	}()
	if !poll.Within(within, func() bool {
		select {
		case c := <-u.code:
			t.Fatalf("up exited with %d before its banner: %s%s", c, u.stdout.String(), u.stderr.String())
		default:
		}
		return strings.Contains(u.stdout.String(), "to stop.")
	}) {
		t.Fatalf("up printed no banner within %s:\n%s%s", within, u.stdout.String(), u.stderr.String())
	}
	m := bannerEndpoint.FindStringSubmatch(u.stdout.String())
	if m == nil {
		t.Fatalf("no endpoint in the banner:\n%s", u.stdout.String())
	}
	u.endpoint = m[1]
	t.Cleanup(func() { u.stop(t) })
	return u
}

// stop interrupts up as Ctrl-C does and waits for it to exit.
func (u *upInProcess) stop(t *testing.T) {
	t.Helper()
	if u.cancel == nil {
		return
	}
	u.cancel()
	u.cancel = nil
	select {
	case c := <-u.code:
		if c != 0 {
			t.Errorf("up exited with %d: %s", c, u.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("up did not stop within 30 s of its interrupt")
	}
}

// The banner names the orderflow commands to try, with the --endpoint they
// need when up is not on the default address, and says where the
// function's logs go.
func TestUpBannerNamesTheCommandsToTryAndTheEndpointWhenMoved(t *testing.T) {
	u := runUp(t, "--quiet")
	banner := u.stdout.String()
	for _, want := range []string{
		"  orderflow publish --file testdata/seed-order.json --endpoint " + u.endpoint,
		"  orderflow status --endpoint " + u.endpoint + "\n",
		"  orderflow orders get O1234 --endpoint " + u.endpoint + "\n",
		"  orderflow dlq list --endpoint " + u.endpoint + "\n",
		"  orderflow logs --follow --endpoint " + u.endpoint + "\n",
		"  export AWS_ENDPOINT_URL=" + u.endpoint + " AWS_REGION=us-east-1",
		"The function's logs are not shown (--quiet): orderflow logs --follow --endpoint " + u.endpoint + " reads them.",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner lacks %q:\n%s", want, banner)
		}
	}
	if strings.Contains(banner, "Resumed") || strings.Contains(banner, "data directory") {
		t.Errorf("an in-memory cloud's banner speaks of a data directory:\n%s", banner)
	}
}

// A restart on a data directory says what it resumed: the orders stored,
// OrderQueue's messages, those in flight and when they come back, and the
// dead letters. A first start says the directory is new.
func TestUpSaysWhatItResumedFromItsDataDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := runUp(t, "--data-dir", dir, "--quiet")
	if want := "A new data directory: start again with --data-dir " + dir + " to carry on from here."; !strings.Contains(first.stdout.String(), want) {
		t.Fatalf("a first start does not say %q:\n%s", want, first.stdout.String())
	}
	cfg := sdkConfig(first.endpoint)
	ctx := context.Background()
	publishSeed(t, cfg)
	if !poll.Within(10*time.Second, func() bool { return storedOrder(t, cfg) != nil }) {
		t.Fatal("the seed order was not stored within 10 s")
	}

	// Stop the mapping, then hold one message of OrderQueue in flight, and
	// leave one dead letter.
	lc := awslambda.NewFromConfig(cfg)
	maps, err := lc.ListEventSourceMappings(ctx, &awslambda.ListEventSourceMappingsInput{})
	if err != nil || len(maps.EventSourceMappings) != 1 {
		t.Fatalf("ListEventSourceMappings: %v %v", maps, err)
	}
	if _, err := lc.UpdateEventSourceMapping(ctx, &awslambda.UpdateEventSourceMappingInput{UUID: maps.EventSourceMappings[0].UUID, Enabled: aws.Bool(false)}); err != nil {
		t.Fatalf("UpdateEventSourceMapping: %v", err)
	}
	q := awssqs.NewFromConfig(cfg)
	queue, dlq := first.endpoint+"/000000000000/OrderQueue", first.endpoint+"/000000000000/OrderDLQ"
	for _, url := range []string{queue, queue, dlq} {
		if _, err := q.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("{}")}); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}
	got, err := q.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 1})
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("ReceiveMessage: %v %v", got, err)
	}
	// A poller stopped by the update may still have taken a message in
	// the meantime: the banner must say what the cloud holds when it
	// stops, so read that once it has settled.
	var held [3]string
	stable := 0
	if !poll.Within(10*time.Second, func() bool {
		a, err := q.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(queue),
			AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
		if err != nil {
			t.Fatalf("GetQueueAttributes: %v", err)
		}
		now := [3]string{a.Attributes["ApproximateNumberOfMessages"], a.Attributes["ApproximateNumberOfMessagesNotVisible"], strconv.Itoa(itemCount(t, cfg))}
		if now == held {
			stable++
		} else {
			held, stable = now, 0
		}
		time.Sleep(100 * time.Millisecond)
		return stable >= 5
	}) {
		t.Fatal("OrderQueue and Orders did not settle within 10 s of stopping the mapping")
	}
	if held[1] == "0" {
		t.Fatalf("nothing in flight in OrderQueue after a receive: %v", held)
	}
	first.stop(t)

	second := runUp(t, "--data-dir", dir, "--quiet")
	items := map[bool]string{true: " item", false: " items"}[held[2] == "1"]
	msgs := map[bool]string{true: " message", false: " messages"}[held[0] == "1"]
	want := "Resumed from " + dir + ": Orders holds " + held[2] + items + "; OrderDLQ holds 1 message; OrderQueue holds " + held[0] + msgs + " and " + held[1] + " in flight " +
		"(received before the stop: visible again within 1 minute 30 seconds of their receive, the queue's visibility timeout).\n"
	if !strings.Contains(second.stdout.String(), want) {
		t.Fatalf("a restart does not say\n%s\nit said:\n%s", want, second.stdout.String())
	}
}

func itemCount(t *testing.T, cfg aws.Config) int {
	t.Helper()
	out, err := awsddb.NewFromConfig(cfg).Scan(context.Background(), &awsddb.ScanInput{TableName: aws.String("Orders"), Select: ddbtypes.SelectCount})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return int(out.Count)
}

// --log-file sends the function's logs to a file, not to the terminal.
func TestUpLogFileTakesTheFunctionsLogs(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "up.log")
	u := runUp(t, "--log-file", logFile)
	publishSeed(t, sdkConfig(u.endpoint))
	if !poll.Within(10*time.Second, func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Contains(string(b), `"orderId":"O1234"`)
	}) {
		b, _ := os.ReadFile(logFile)
		t.Fatalf("the function's log line for O1234 did not reach --log-file within 10 s; it holds:\n%s", b)
	}
	if strings.Contains(u.stdout.String(), `"orderId":"O1234"`) {
		t.Errorf("with --log-file the function's logs still reach stdout:\n%s", u.stdout.String())
	}
	if want := "The function's logs go to " + logFile; !strings.Contains(u.stdout.String(), want) {
		t.Errorf("the banner does not say %q:\n%s", want, u.stdout.String())
	}
}

func TestUpRefusesQuietWithALogFile(t *testing.T) {
	var out, errOut strings.Builder
	code := run(context.Background(), []string{"up", "--quiet", "--log-file", "x.log"}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "--quiet and --log-file go apart") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

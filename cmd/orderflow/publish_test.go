package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/internal/poll"
)

// noAmbientAWS keeps this machine's AWS settings from reaching the SDK's
// standard chain, which the CLI reads for credentials.
func noAmbientAWS(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_PROFILE": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_ENDPOINT_URL": "", "AWS_CA_BUNDLE": "",
	} {
		t.Setenv(k, v)
	}
}

// runCLI runs `orderflow args…` against endpoint, bounded in time.
func runCLI(t *testing.T, endpoint, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "AWS_ENDPOINT_URL" {
			return endpoint
		}
		return ""
	}
	code = run(ctx, args, getenv, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPublishRefusesWhatTheFunctionWouldDeadLetterBeforeSendingAnything(t *testing.T) {
	noAmbientAWS(t)
	// Nothing listens here: a refusal that names the order, not the
	// endpoint, was made before any request.
	const nowhere = "http://127.0.0.1:9"
	far := `{"orderId":"F1","userId":"U1","itemName":"Laptop","quantity":1,"status":"new","timestamp":"2099-12-31T23:59:59Z"}`
	farReason := regexp.MustCompile(`invalid order: timestamp: is 7\d years( \d+ days?)? in the future, more than the allowed 15 minutes`)
	file := filepath.Join(t.TempDir(), "far.ndjson")
	if err := os.WriteFile(file, []byte(far+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// 30 s of slack keeps the figure at 3 days 4 hours however slow the run.
	ahead := time.Now().UTC().Add(3*24*time.Hour + 4*time.Hour + 30*time.Second).Format(time.RFC3339)

	for _, c := range []struct {
		name  string
		stdin string
		args  []string
		want  *regexp.Regexp
	}{
		{"an order from flags stamped days ahead", "",
			[]string{"publish", "--order-id", "F1", "--user-id", "U1", "--item", "Laptop", "--timestamp", ahead},
			regexp.MustCompile(`^orderflow: the order from the flags is not valid: timestamp: is 3 days 4 hours in the future, more than the allowed 15 minutes\n$`)},
		{"an order in a file stamped in 2099", "", []string{"publish", "--file", file},
			regexp.MustCompile(`^line 1: ` + farReason.String() + `\norderflow: 1 of the orders in ` + regexp.QuoteMeta(file) + ` is not valid \(see above\); nothing was published\n$`)},
		{"an order on standard input stamped in 2099", far + "\n", []string{"publish", "--file", "-"},
			regexp.MustCompile(`^line 1: ` + farReason.String() + `\norderflow: 1 of the orders in standard input is not valid \(see above\); nothing was published\n$`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nowhere, c.stdin, c.args...)
			if code != 1 || stdout != "" || !c.want.MatchString(stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q\nwant exit 1, no stdout, stderr matching %s", code, stdout, stderr, c.want)
			}
		})
	}
}

// killableEndpoint serves the cloud's API on a listener of its own, which
// kill closes with every connection on it at once, as a killed `orderflow
// up` would leave its clients.
type killableEndpoint struct {
	srv *http.Server
	url string
}

func newKillableEndpoint(t *testing.T, h http.Handler) *killableEndpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k := &killableEndpoint{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, url: "http://" + ln.Addr().String()}
	go k.srv.Serve(ln)
	t.Cleanup(k.kill)
	return k
}

func (k *killableEndpoint) kill() { k.srv.Close() }

func TestPublishWhoseEndpointDiesMidwayFailsInOneSentence(t *testing.T) {
	noAmbientAWS(t)
	l, err := startLocal(context.Background(), localOptions{addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ep := newKillableEndpoint(t, l.Cloud.Handler())

	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		// At most 400 a second, 2,000 take five seconds: the kill below
		// comes well before the end.
		code, stdout, stderr := runCLI(t, ep.url, "", "publish", "--count", "2000", "--rate", "400")
		done <- result{code, stdout, stderr}
	}()
	poll.Until(t, 30*time.Second, "publish to have sent 20 batches", func() bool {
		return l.Cloud.Calls()["sns:PublishBatch"] >= 20
	})
	ep.kill()
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("publish did not end within a minute of its endpoint's death")
	}

	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if strings.Contains(r.stdout, "expect") || strings.Contains(r.stdout, "Published") {
		t.Errorf("a failed publish printed its success summary:\n%s", r.stdout)
	}
	want := regexp.MustCompile(`^orderflow: could not publish to OrderTopic after (\d{3}|1,\d{3}) of 2,000 orders were acknowledged: ` +
		`(nothing answers at|` + regexp.QuoteMeta(ep.url) + ` closed the connection before answering)`)
	if strings.Count(r.stderr, "\n") != 1 || !want.MatchString(r.stderr) ||
		strings.Contains(r.stderr, "operation error") || strings.Contains(r.stderr, "StatusCode") {
		t.Errorf("stderr = %q\nwant one line matching %s, without the SDK's words", r.stderr, want)
	}
}

// fakePublisher answers PublishBatch with the function set on it and counts
// the calls.
type fakePublisher struct {
	calls atomic.Int64
	fn    func(call int64, in *awssns.PublishBatchInput) (*awssns.PublishBatchOutput, error)
}

func (f *fakePublisher) PublishBatch(_ context.Context, in *awssns.PublishBatchInput, _ ...func(*awssns.Options)) (*awssns.PublishBatchOutput, error) {
	return f.fn(f.calls.Add(1), in)
}

func generatedEvents(n int) []outgoing {
	events := make([]outgoing, n)
	for i := range events {
		events[i] = outgoing{orderID: fmt.Sprintf("O%d", i+1), body: "{}"}
	}
	return events
}

func acceptAll(in *awssns.PublishBatchInput) *awssns.PublishBatchOutput {
	out := &awssns.PublishBatchOutput{}
	for _, e := range in.PublishBatchRequestEntries {
		out.Successful = append(out.Successful, snstypes.PublishBatchResultEntry{Id: e.Id, MessageId: aws.String("m-" + aws.ToString(e.Id))})
	}
	return out
}

func TestPublishStopsAtTheFirstRequestThatFails(t *testing.T) {
	events := generatedEvents(2000)
	throttled := &smithy.GenericAPIError{Code: "Throttled", Message: "Rate exceeded"}
	fake := &fakePublisher{fn: func(call int64, in *awssns.PublishBatchInput) (*awssns.PublishBatchOutput, error) {
		if call >= 5 {
			return nil, throttled
		}
		return acceptAll(in), nil
	}}
	var mu sync.Mutex
	doneCount := 0
	p := publishAll(context.Background(), fake, "arn:aws:sns:us-east-1:000000000000:OrderTopic", events, 0, func(n int) {
		mu.Lock()
		doneCount += n
		mu.Unlock()
	})
	if !errors.Is(p.err, throttled) {
		t.Fatalf("err = %v, want the throttling error", p.err)
	}
	// Four workers: besides the one that failed, at most three calls were
	// under way when it did.
	if calls := fake.calls.Load(); calls > 8 {
		t.Errorf("%d PublishBatch calls after the fifth failed, want no more than the 3 in flight", calls)
	}
	if p.acknowledged != 40 || len(p.refused) != 0 {
		t.Errorf("acknowledged %d, refused %v; want 40 acknowledged (4 batches) and none refused", p.acknowledged, p.refused)
	}

	tg := &target{endpoint: "http://127.0.0.1:4566"}
	var stderr bytes.Buffer
	err := publishError(context.Background(), &env{stderr: &stderr}, tg, events, p)
	want := "could not publish to OrderTopic after 40 of 2,000 orders were acknowledged: Throttled: Rate exceeded"
	if err == nil || err.Error() != want || stderr.Len() != 0 {
		t.Errorf("error = %v, stderr %q\nwant      %s, nothing on stderr", err, stderr.String(), want)
	}
}

func TestPublishListsTheEntriesTheTopicRefusedAndEndsInOneSentence(t *testing.T) {
	events := generatedEvents(30)
	fake := &fakePublisher{fn: func(_ int64, in *awssns.PublishBatchInput) (*awssns.PublishBatchOutput, error) {
		out := &awssns.PublishBatchOutput{}
		for _, e := range in.PublishBatchRequestEntries {
			if i, _ := strconv.Atoi(aws.ToString(e.Id)); i == 7 || i == 22 {
				out.Failed = append(out.Failed, snstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again"), SenderFault: false})
				continue
			}
			out.Successful = append(out.Successful, snstypes.PublishBatchResultEntry{Id: e.Id, MessageId: aws.String("m")})
		}
		return out, nil
	}}
	p := publishAll(context.Background(), fake, "arn:aws:sns:us-east-1:000000000000:OrderTopic", events, 0, func(int) {})
	if p.err != nil || p.acknowledged != 28 || len(p.refused) != 2 {
		t.Fatalf("err %v, acknowledged %d, refused %v; want no error, 28 acknowledged, 2 refused", p.err, p.acknowledged, p.refused)
	}
	var stderr bytes.Buffer
	err := refusedError(&env{stderr: &stderr}, events, p)
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || !strings.Contains(stderr.String(), "order O8: InternalError: try again\n") || !strings.Contains(stderr.String(), "order O23: InternalError: try again\n") {
		t.Errorf("stderr = %q, want the two refused orders, one a line", stderr.String())
	}
	want := "OrderTopic refused 2 of 30 orders (listed above, with their codes) and took the other 28; publish the refused ones again once the cause is fixed"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant      %s", err, want)
	}
}

func TestPublishSaysWhatToExpectOfItsOrders(t *testing.T) {
	for _, c := range []struct {
		valid, invalid int
		before         stored
		want           string
	}{
		{950, 50, stored{known: true}, "expect 950 of these orders in Orders and the 50 invalid ones in OrderDLQ"},
		{1200, 0, stored{n: 1, known: true}, "expect 1,200 of these orders in Orders (1 was already there)"},
		{850, 1, stored{n: 850, known: true}, "expect 850 of these orders in Orders (850 were already there) and the invalid one in OrderDLQ"},
		{1, 0, stored{known: true}, "expect 1 order in Orders"},
		{1, 0, stored{n: 1, known: true}, "expect 1 order in Orders (it was already there)"},
		{20, 2, stored{why: "the lookup failed with AccessDeniedException"},
			"expect 20 of these orders in Orders (how many were there already is unknown: the lookup failed with AccessDeniedException) and the 2 invalid ones in OrderDLQ"},
	} {
		if got := expectation(c.valid, c.invalid, c.before); got != c.want {
			t.Errorf("expectation(%d, %d, %+v) = %q\nwant %q", c.valid, c.invalid, c.before, got, c.want)
		}
	}
}

// fakeGetter answers BatchGetItem: the table holds the ids in held, and the
// first answer leaves the last key of each call unprocessed.
type fakeGetter struct {
	held  map[string]bool
	calls int
}

func (f *fakeGetter) BatchGetItem(_ context.Context, in *awsddb.BatchGetItemInput, _ ...func(*awsddb.Options)) (*awsddb.BatchGetItemOutput, error) {
	f.calls++
	out := &awsddb.BatchGetItemOutput{Responses: map[string][]map[string]ddbtypes.AttributeValue{}, UnprocessedKeys: map[string]ddbtypes.KeysAndAttributes{}}
	for table, ka := range in.RequestItems {
		if len(ka.Keys) > 100 {
			return nil, fmt.Errorf("ValidationException: %d keys, more than 100", len(ka.Keys))
		}
		if aws.ToString(ka.ProjectionExpression) != "#id" || ka.ExpressionAttributeNames["#id"] != "orderId" {
			return nil, fmt.Errorf("want a projection on orderId, got %q %v", aws.ToString(ka.ProjectionExpression), ka.ExpressionAttributeNames)
		}
		keys := ka.Keys
		if f.calls%2 == 1 && len(keys) > 1 {
			out.UnprocessedKeys[table] = ddbtypes.KeysAndAttributes{Keys: keys[len(keys)-1:], ProjectionExpression: ka.ProjectionExpression, ExpressionAttributeNames: ka.ExpressionAttributeNames}
			keys = keys[:len(keys)-1]
		}
		for _, k := range keys {
			id := k["orderId"].(*ddbtypes.AttributeValueMemberS).Value
			if f.held[id] {
				out.Responses[table] = append(out.Responses[table], map[string]ddbtypes.AttributeValue{"orderId": k["orderId"]})
			}
		}
	}
	return out, nil
}

func TestPublishCountsTheGeneratedOrdersTheTableHoldsAHundredKeysACall(t *testing.T) {
	ids := make([]string, 250)
	held := map[string]bool{}
	for i := range ids {
		ids[i] = fmt.Sprintf("ORD-%03d", i)
		if i%10 == 0 || i == 249 { // the last key of a call is left unprocessed at first
			held[ids[i]] = true
		}
	}
	f := &fakeGetter{held: held}
	n, err := countStored(context.Background(), f, "Orders", ids)
	if err != nil || n != 26 {
		t.Errorf("countStored = %d, %v; want 26", n, err)
	}
	if f.calls != 6 {
		t.Errorf("%d BatchGetItem calls, want 6 (3 of at most 100 keys, each asked again for its unprocessed key)", f.calls)
	}
}

func TestPublishInterruptedSaysHowFarItGot(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := published{acknowledged: 1, err: context.Canceled}
	err := publishError(ctx, &env{stderr: &bytes.Buffer{}}, &target{endpoint: "http://127.0.0.1:4566"}, generatedEvents(20), p)
	want := "publishing was interrupted after 1 of 20 orders was acknowledged; the others may not have been published"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant      %s", err, want)
	}
}

func TestPublishToAFIFOTopicKeepsEachOrdersEventsInOrder(t *testing.T) {
	// 300 events of 30 orders, ten versions each, interleaved.
	events := make([]outgoing, 300)
	for i := range events {
		id := fmt.Sprintf("O%02d", i%30)
		events[i] = outgoing{orderID: id, body: fmt.Sprintf(`{"orderId":%q,"quantity":%d}`, id, i)}
	}
	var (
		mu       sync.Mutex
		inFlight = map[string]bool{}
		seen     = map[string][]int{} // per group, event indices in the order they were published
		problems []string
	)
	fake := &fakePublisher{fn: func(call int64, in *awssns.PublishBatchInput) (*awssns.PublishBatchOutput, error) {
		mu.Lock()
		mine := map[string]bool{}
		for _, e := range in.PublishBatchRequestEntries {
			g := aws.ToString(e.MessageGroupId)
			i, _ := strconv.Atoi(aws.ToString(e.Id))
			if want := events[i].orderID; g != want {
				problems = append(problems, fmt.Sprintf("entry %d has group %q, want %q", i, g, want))
			}
			if inFlight[g] && !mine[g] {
				problems = append(problems, fmt.Sprintf("group %s is in two requests at once", g))
			}
			inFlight[g], mine[g] = true, true
			seen[g] = append(seen[g], i)
		}
		mu.Unlock()
		time.Sleep(time.Duration(call%3) * time.Millisecond) // let the workers overtake each other
		mu.Lock()
		for g := range mine {
			delete(inFlight, g)
		}
		mu.Unlock()
		return acceptAll(in), nil
	}}
	p := publishAll(context.Background(), fake, "arn:aws:sns:us-east-1:000000000000:OrderTopic.fifo", events, 0, func(int) {})
	if p.err != nil || p.acknowledged != 300 {
		t.Fatalf("err %v, acknowledged %d; want all 300", p.err, p.acknowledged)
	}
	for _, pr := range problems {
		t.Error(pr)
	}
	if len(seen) != 30 {
		t.Errorf("%d groups published, want 30", len(seen))
	}
	for g, idx := range seen {
		if len(idx) != 10 || !slices.IsSorted(idx) {
			t.Errorf("group %s published as %v, want its 10 events in order", g, idx)
		}
	}

	// To a standard topic no entry carries a group.
	std := &fakePublisher{fn: func(_ int64, in *awssns.PublishBatchInput) (*awssns.PublishBatchOutput, error) {
		for _, e := range in.PublishBatchRequestEntries {
			if e.MessageGroupId != nil {
				return nil, fmt.Errorf("entry %s has group %q on a standard topic", aws.ToString(e.Id), aws.ToString(e.MessageGroupId))
			}
		}
		return acceptAll(in), nil
	}}
	if p := publishAll(context.Background(), std, "arn:aws:sns:us-east-1:000000000000:OrderTopic", events, 0, func(int) {}); p.err != nil || p.acknowledged != 300 {
		t.Errorf("standard topic: err %v, acknowledged %d; want all 300", p.err, p.acknowledged)
	}
}

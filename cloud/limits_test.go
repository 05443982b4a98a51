package cloud

// The edge's bounds under hostile clients (limits.go), in-process: the
// connection cap and the shedding of idle connections, the body budget,
// and the plan of file descriptors. The same attacks against a real
// `orderflow up`, with its RSS measured, are in cmd/orderflow/limits_test.go.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// startLimited starts a cloud for these tests; set, if any, adjusts the
// tunables first (restored when the test ends).
func startLimited(t *testing.T, opts Options) *Cloud {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	c, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

// setTunable sets *v for the test's duration; call it before Start.
func setTunable[T any](t *testing.T, v *T, to T) {
	old := *v
	*v = to
	t.Cleanup(func() { *v = old })
}

// rawConn is a client connection speaking HTTP/1.1 by hand, so that a test
// can stop where an attacker would.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, c *Cloud) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(c.URL(), "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{Conn: conn, r: bufio.NewReader(conn)}
}

// send writes a POST's head (and body, if any) for the X-Amz-Target
// target, declaring length bytes of body (-1: chunked).
func (rc *rawConn) send(t *testing.T, target string, length int64, body string) {
	t.Helper()
	te := fmt.Sprintf("Content-Length: %d\r\n", length)
	if length < 0 {
		te = "Transfer-Encoding: chunked\r\n"
	}
	head := fmt.Sprintf("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: %s\r\nContent-Type: application/x-amz-json-1.0\r\n%s\r\n", target, te)
	if _, err := io.WriteString(rc, head+body); err != nil {
		t.Fatal(err)
	}
}

// response reads one response, failing the test after wait.
func (rc *rawConn) response(t *testing.T, wait time.Duration) (*http.Response, string) {
	t.Helper()
	rc.SetReadDeadline(time.Now().Add(wait))
	defer rc.SetReadDeadline(time.Time{})
	res, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", wait, err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

// answered reports whether a response arrives within wait.
func (rc *rawConn) answered(wait time.Duration) (*http.Response, bool) {
	rc.SetReadDeadline(time.Now().Add(wait))
	defer rc.SetReadDeadline(time.Time{})
	res, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		return nil, false
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, true
}

// chunked encodes body as one chunk and the terminating one.
func chunked(body string) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
}

func sqsClient(c *Cloud) *awssqs.Client {
	return awssqs.NewFromConfig(c.Config(), func(o *awssqs.Options) { o.RetryMaxAttempts = 1 })
}

func TestTheBodyBudget(t *testing.T) {
	slowtest.Skip(t, "waits out the edge's body-budget timeouts with 16 MiB uploads")
	setTunable(t, &bodyWait, time.Second)
	const big = MaxRequestBytes // 16 MiB, the largest body the edge takes
	// The default budget: 64 MiB, of which bodies over 1 MiB may hold 48,
	// three of the largest.
	c := startLimited(t, Options{})
	if c.opts.MaxBodyBuffer != DefaultMaxBodyBuffer {
		t.Fatalf("MaxBodyBuffer = %d, want the default %d", c.opts.MaxBodyBuffer, DefaultMaxBodyBuffer)
	}

	// Eight uploads declare 16 MiB each and send nothing more: a slow
	// client's body is held as it arrives, so each may pin its size.
	var slow []*rawConn
	for range 8 {
		rc := dial(t, c)
		rc.send(t, "DynamoDB_20120810.PutItem", big, "")
		slow = append(slow, rc)
	}

	t.Run("admits only the uploads the budget holds and refuses the rest with 503 ServiceUnavailable", func(t *testing.T) {
		var mu sync.Mutex
		var refused, waiting []*rawConn
		var wg sync.WaitGroup
		for _, rc := range slow {
			wg.Go(func() {
				res, ok := rc.answered(bodyWait + 3*time.Second)
				mu.Lock()
				defer mu.Unlock()
				if !ok {
					waiting = append(waiting, rc)
					return
				}
				if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("X-Amzn-ErrorType") != "ServiceUnavailable" {
					t.Errorf("refused upload: status %d, X-Amzn-ErrorType %q; want 503 ServiceUnavailable", res.StatusCode, res.Header.Get("X-Amzn-ErrorType"))
				}
				refused = append(refused, rc)
			})
		}
		wg.Wait()
		if len(refused) != 5 || len(waiting) != 3 {
			t.Fatalf("%d uploads refused, %d still reading their bodies; want 5 and 3 (48 MiB of the 64 MiB budget for large bodies)", len(refused), len(waiting))
		}
		if got := c.budget.held.Load(); got != 3*big {
			t.Errorf("budget held = %d bytes, want %d", got, 3*big)
		}
		slow = waiting
	})

	t.Run("answers ordinary calls meanwhile, from the quarter kept for bodies up to 1 MiB", func(t *testing.T) {
		ctx := context.Background()
		sqs := sqsClient(c)
		q, err := sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("meanwhile")})
		if err != nil {
			t.Fatal(err)
		}
		body := strings.Repeat("m", 512<<10)
		for range 20 {
			if _, err := sqs.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: &body}); err != nil {
				t.Fatalf("a 512 KiB SendMessage while the uploads wait: %v", err)
			}
		}
		rc := dial(t, c)
		rc.send(t, "AmazonSQS.ListQueues", -1, chunked("{}"))
		if res, b := rc.response(t, 5*time.Second); res.StatusCode != http.StatusOK {
			t.Errorf("a small chunked ListQueues: %d %s", res.StatusCode, b)
		}
	})

	t.Run("refuses another large body in either protocol, chunked or not, after waiting", func(t *testing.T) {
		rc := dial(t, c)
		rc.send(t, "AmazonSQS.SendMessage", 2<<20, "")
		res, b := rc.response(t, bodyWait+3*time.Second)
		var e struct {
			Type string `json:"__type"`
		}
		json.Unmarshal([]byte(b), &e)
		if res.StatusCode != http.StatusServiceUnavailable || e.Type != "ServiceUnavailable" {
			t.Errorf("JSON protocol: %d %s; want 503 with __type ServiceUnavailable", res.StatusCode, b)
		}

		rc = dial(t, c)
		io.WriteString(rc, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2097152\r\n\r\nAction=ListQueues")
		res, b = rc.response(t, bodyWait+3*time.Second)
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "<Code>ServiceUnavailable</Code>") || !strings.Contains(b, "<Type>Receiver</Type>") {
			t.Errorf("Query protocol: %d %s; want 503 with Code ServiceUnavailable, Type Receiver", res.StatusCode, b)
		}

		rc = dial(t, c)
		rc.send(t, "AmazonSQS.ListQueues", -1, "")
		chunk := strings.Repeat(" ", 256<<10)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 12 { // 3 MiB, until the server stops reading
				if _, err := fmt.Fprintf(rc, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
					return
				}
			}
		}()
		res, b = rc.response(t, bodyWait+3*time.Second)
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("chunked 3 MiB: %d %s; want 503", res.StatusCode, b)
		}
		rc.Close()
		<-done
	})

	if p := c.budget.peak.Load(); p > DefaultMaxBodyBuffer {
		t.Errorf("the budget peaked at %d bytes, over its %d", p, DefaultMaxBodyBuffer)
	}

	t.Run("admits a waiting upload once one holding the budget ends", func(t *testing.T) {
		for _, rc := range slow {
			rc.Close()
		}
		poll.Within(5*time.Second, func() bool { return c.budget.held.Load() == 0 })
		if got := c.budget.held.Load(); got != 0 {
			t.Fatalf("budget held = %d after the uploads closed, want 0", got)
		}
		rc := dial(t, c)
		rc.send(t, "DynamoDB_20120810.PutItem", big, strings.Repeat("x", big))
		res, b := rc.response(t, 10*time.Second)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(b, "Exception") {
			t.Errorf("a whole 16 MiB body (not JSON): %d %.200s; want the service's 400", res.StatusCode, b)
		}
	})
}

func TestTheConnectionCap(t *testing.T) {
	slowtest.Skip(t, "waits out the edge's connection-cap timeouts")
	const max = 4
	listQueues := func(t *testing.T, rc *rawConn) { rc.send(t, "AmazonSQS.ListQueues", 2, "{}") }

	t.Run("serves at most MaxConnections at once; the next waits until one ends", func(t *testing.T) {
		setTunable(t, &idleShedAfter, time.Hour)
		c := startLimited(t, Options{MaxConnections: max})
		var conns []*rawConn
		for range max + 2 {
			rc := dial(t, c)
			listQueues(t, rc)
			conns = append(conns, rc)
		}
		answered := make(chan *rawConn, len(conns))
		for _, rc := range conns {
			go func() {
				if _, ok := rc.answered(20 * time.Second); ok {
					answered <- rc
				}
			}()
		}
		var first []*rawConn
		for range max {
			select {
			case rc := <-answered:
				first = append(first, rc)
			case <-time.After(10 * time.Second):
				t.Fatalf("only %d of %d connections answered", len(first), max)
			}
		}
		select {
		case <-answered:
			t.Fatalf("%d connections answered at once, want %d", max+1, max)
		case <-time.After(500 * time.Millisecond):
		}
		if got := c.limiter.open(); got != max {
			t.Errorf("limiter holds %d connections, want %d", got, max)
		}
		first[0].Close()
		select {
		case <-answered:
		case <-time.After(5 * time.Second):
			t.Fatal("a waiting connection was not served after one closed")
		}
	})

	t.Run("closes connections idle for a while to make room for waiting ones", func(t *testing.T) {
		setTunable(t, &idleShedAfter, 200*time.Millisecond)
		c := startLimited(t, Options{MaxConnections: max})
		var idle []*rawConn
		for range max {
			rc := dial(t, c)
			listQueues(t, rc)
			rc.response(t, 5*time.Second)
			idle = append(idle, rc)
		}
		for range 2 {
			rc := dial(t, c)
			listQueues(t, rc)
			if res, _ := rc.response(t, 5*time.Second); res.StatusCode != http.StatusOK {
				t.Errorf("waiting connection: %d", res.StatusCode)
			}
		}
		closed := 0
		for _, rc := range idle {
			rc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := rc.r.ReadByte(); err == io.EOF {
				closed++
			}
		}
		if closed < 2 {
			t.Errorf("%d idle connections closed, want at least 2", closed)
		}
	})

	t.Run("never closes a connection with a request in progress", func(t *testing.T) {
		setTunable(t, &idleShedAfter, 50*time.Millisecond)
		c := startLimited(t, Options{MaxConnections: 2})
		q, err := sqsClient(c).CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String("polled")})
		if err != nil {
			t.Fatal(err)
		}
		var polls []*rawConn
		for range 2 {
			rc := dial(t, c)
			rc.send(t, "AmazonSQS.ReceiveMessage", -1, chunked(fmt.Sprintf(`{"QueueUrl":%q,"WaitTimeSeconds":2}`, *q.QueueUrl)))
			polls = append(polls, rc)
		}
		time.Sleep(200 * time.Millisecond) // both polls under way
		waiting := dial(t, c)
		listQueues(t, waiting)
		for i, rc := range polls {
			if res, b := rc.response(t, 10*time.Second); res.StatusCode != http.StatusOK {
				t.Errorf("long poll %d: %d %s", i, res.StatusCode, b)
			}
		}
		if res, _ := waiting.response(t, 10*time.Second); res.StatusCode != http.StatusOK {
			t.Errorf("waiting connection: %d", res.StatusCode)
		}
	})
}

func TestTheConnectionCapFitsTheOpenFileLimit(t *testing.T) {
	for _, tc := range []struct {
		limit     uint64
		requested int
		want      int
		wantErr   string
	}{
		{limit: 1 << 20, want: DefaultMaxConnections},
		{limit: 1 << 20, requested: 50_000, want: 50_000},
		{limit: 4096, want: DefaultMaxConnections},
		{limit: 1024, want: 1024 - fdReserve - 256 - 1},
		{limit: 256, want: 256 - fdReserve - 64 - 1},
		{limit: 256, requested: 100, want: 100},
		{limit: 256, requested: 200, wantErr: "at most 127"},
		{limit: 80, wantErr: "raise it"},
		{limit: 1024, requested: -1, wantErr: "negative"},
		{limit: 80, requested: 10, wantErr: "raise it"},
	} {
		got, err := connCap(tc.requested, planFDs(tc.limit))
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("limit %d, requested %d: err %v, want one saying %q", tc.limit, tc.requested, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("limit %d, requested %d: %d, %v; want %d", tc.limit, tc.requested, got, err, tc.want)
		}
	}
	// The cloud's own clients open no more connections than were kept for
	// them.
	if p := planFDs(256); p.own != 64 {
		t.Errorf("own connections at a limit of 256: %d, want 64", p.own)
	}
}

func TestStartRefusesLimitsThatCannotHold(t *testing.T) {
	for _, o := range []Options{
		{MaxBodyBuffer: MinMaxBodyBuffer - 1},
		{MaxConnections: -1},
		{MaxConnections: 1 << 40},
	} {
		o.Addr = "127.0.0.1:0"
		if c, err := Start(o); err == nil {
			c.Close(context.Background())
			t.Errorf("Start(%+v) accepted it", o)
		}
	}
}

func TestCallsAreCountedOnlyUnderOperationsTheServicesAnswer(t *testing.T) {
	c := startLimited(t, Options{})
	const bogus = 300
	rc := dial(t, c)
	roundTrip := func(head string) {
		t.Helper()
		io.WriteString(rc, head)
		rc.response(t, 5*time.Second)
	}
	post := func(target, body string) {
		roundTrip(fmt.Sprintf("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: %s\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n%s", target, len(body), body))
	}
	for i := range bogus {
		name := fmt.Sprintf("Bogus%d%s", i, strings.Repeat("x", 1000))
		post("AmazonSQS."+name, "{}")
		post("DynamoDB_20120810."+name, "{}")
		post("Logs_20140328."+name, "{}")
		roundTrip(fmt.Sprintf("GET /2015-03-31/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", name))
	}
	post("AmazonSQS.ListQueues", "{}")
	post("DynamoDB_20120810.ListTables", "{}")
	post("Logs_20140328.DescribeLogGroups", "{}")
	roundTrip("GET /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

	calls := c.Calls()
	for k := range calls {
		if strings.Contains(k, "Bogus") {
			t.Fatalf("a client-chosen name is a key of Calls: %.60s…", k)
		}
	}
	for k, want := range map[string]int64{
		"sqs:(unknown)": bogus, "dynamodb:(unknown)": bogus, "logs:(unknown)": bogus, "lambda:(unknown)": bogus,
		"sqs:ListQueues": 1, "dynamodb:ListTables": 1, "logs:DescribeLogGroups": 1, "lambda:GET functions": 1,
	} {
		if calls[k] != want {
			t.Errorf("Calls()[%q] = %d, want %d", k, calls[k], want)
		}
	}
	if len(calls) != 8 {
		t.Errorf("Calls() has %d keys, want 8: %v", len(calls), calls)
	}
}

func TestTheEdgeRefusesHeadersOverItsCap(t *testing.T) {
	// Headers are held before any budget applies: times the connection
	// cap, their cap is what connections alone can pin.
	c := startLimited(t, Options{})
	for _, tc := range []struct {
		pad  int
		want int
	}{
		{pad: maxHeaderBytes / 2, want: http.StatusOK},
		{pad: 2 * maxHeaderBytes, want: http.StatusRequestHeaderFieldsTooLarge},
	} {
		rc := dial(t, c)
		io.WriteString(rc, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n")
		for pad := tc.pad; pad > 0; pad -= 1024 {
			fmt.Fprintf(rc, "X-Pad: %s\r\n", strings.Repeat("p", min(pad, 1024)))
		}
		io.WriteString(rc, "\r\n{}")
		if res, _ := rc.response(t, 5*time.Second); res.StatusCode != tc.want {
			t.Errorf("%d bytes of headers: status %d, want %d", tc.pad, res.StatusCode, tc.want)
		}
	}
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/orderflow/orderflow/internal/local"
)

// consoleFixture is an embedded cloud with the pipeline and a console
// for it.
type consoleFixture struct {
	l     *local.Pipeline
	c     *console
	srv   *consoleServer
	url   string // the console's, ending in /
	cloud string // the cloud's endpoint
}

func startConsoleFixture(t *testing.T) *consoleFixture {
	t.Helper()
	l, err := startLocal(context.Background(), localOptions{addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	tg := &target{cfg: sdkConfig(l.Cloud.URL()), endpoint: l.Cloud.URL(), stack: stackName}
	res, err := tg.resources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := newConsole(consoleOptions{target: tg, res: res})
	srv, err := c.listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &consoleFixture{l: l, c: c, srv: srv, url: srv.URL, cloud: l.Cloud.URL()}
}

// do sends a request to the console with the given headers and returns
// its status and body.
func (f *consoleFixture) do(t *testing.T, method, path, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+strings.TrimPrefix(path, "/"), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header == nil {
		// What the console's own page sends with every API call.
		header = map[string]string{"X-Orderflow-Token": f.c.token, "Sec-Fetch-Site": "same-origin"}
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ownHeaders are what the console's own page sends with a change.
func (f *consoleFixture) ownHeaders() map[string]string {
	return map[string]string{"Origin": strings.TrimSuffix(f.url, "/"), "Sec-Fetch-Site": "same-origin",
		"X-Orderflow-Token": f.c.token, "Content-Type": "application/json"}
}

// Every change must come from the console's own page: a cross-site POST,
// one without Origin, one without the token or with a wrong one, one sent
// as a form, and one whose Host is not loopback (DNS rebinding) are all
// refused with 403, and nothing is purged; the page's own request passes.
func TestTheConsoleRefusesChangesFromAnywhereButItsOwnPage(t *testing.T) {
	f := startConsoleFixture(t)
	publishOrder(t, f.l.Cloud.Config(), `{"orderId":"BAD-1","quantity":"lots"}`)
	waitDLQ(t, f, 1)
	purge := `{"confirm":"yes"}`
	with := func(change func(h map[string]string)) map[string]string {
		h := f.ownHeaders()
		change(h)
		return h
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
		body   string
		want   string
	}{
		{"a cross-site POST (Origin evil.example)", with(func(h map[string]string) { h["Origin"] = "http://evil.example"; h["Sec-Fetch-Site"] = "cross-site" }), purge,
			`refused: a cross-site request; the console takes changes only from its own page`},
		{"a cross-site POST without Sec-Fetch-Site", with(func(h map[string]string) { h["Origin"] = "http://evil.example"; delete(h, "Sec-Fetch-Site") }), purge,
			`refused: Origin http://evil.example is not the console's own`},
		{"a POST without Origin", with(func(h map[string]string) { delete(h, "Origin") }), purge,
			`refused: no Origin header; the console takes changes only from its own page`},
		{"a POST without the token", with(func(h map[string]string) { delete(h, "X-Orderflow-Token") }), purge,
			`refused: the X-Orderflow-Token header is missing or wrong; reload the console's page`},
		{"a POST with a wrong token", with(func(h map[string]string) { h["X-Orderflow-Token"] = strings.Repeat("0", len(f.c.token)) }), purge,
			`refused: the X-Orderflow-Token header is missing or wrong; reload the console's page`},
		{"a form POST", with(func(h map[string]string) { h["Content-Type"] = "application/x-www-form-urlencoded" }), "confirm=yes",
			`refused: a change is sent as application/json`},
		{"a POST whose Host is not loopback (DNS rebinding)", with(func(h map[string]string) { h["Host"] = "evil.example:80"; h["Origin"] = "http://evil.example:80" }), purge,
			`the console answers only to loopback host names (127.0.0.1, localhost, [::1])`},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			code, body := f.do(t, "POST", "/api/dlq/purge", tc.body, tc.header)
			if code != http.StatusForbidden || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %q, want 403 saying %q", code, body, tc.want)
			}
		})
	}
	t.Run("a GET of the API whose Host is not loopback is refused", func(t *testing.T) {
		code, body := f.do(t, "GET", "/api/pipeline", "", map[string]string{"Host": "rebound.example:8080"})
		if code != http.StatusForbidden || strings.Contains(body, "OrderQueue") {
			t.Errorf("got %d %q, want 403 and nothing of the pipeline", code, body)
		}
	})
	if d := dlqDepth(t, f); d != 1 {
		t.Fatalf("OrderDLQ holds %d messages after the refused purges, want 1", d)
	}
	t.Run("a body over 64 KiB is refused", func(t *testing.T) {
		code, body := f.do(t, "POST", "/api/dlq/redrive", `{"mode":"selected","confirm":"yes","ids":["`+strings.Repeat("x", 1<<20)+`"]}`, f.ownHeaders())
		if code != http.StatusBadRequest || !strings.Contains(body, "the request's body is not a change: http: request body too large") {
			t.Errorf("got %d %q, want 400 body too large", code, body)
		}
	})
	t.Run("a redrive of an unknown mode is refused", func(t *testing.T) {
		code, body := f.do(t, "POST", "/api/dlq/redrive", `{"mode":"everything","confirm":"yes"}`, f.ownHeaders())
		if code != http.StatusBadRequest || !strings.Contains(body, `a redrive's mode is \"all\", \"transient\" or \"selected\"`) {
			t.Errorf("got %d %q, want 400 naming the modes", code, body)
		}
	})
	t.Run("a change without its confirmation is refused", func(t *testing.T) {
		code, body := f.do(t, "POST", "/api/dlq/purge", `{}`, f.ownHeaders())
		if code != http.StatusPreconditionFailed || !strings.Contains(body, `not confirmed: the request must carry \"confirm\":\"yes\"`) {
			t.Errorf("got %d %q, want 412 not confirmed", code, body)
		}
	})
	t.Run("the page's own confirmed purge passes", func(t *testing.T) {
		code, body := f.do(t, "POST", "/api/dlq/purge", purge, f.ownHeaders())
		if code != http.StatusOK {
			t.Fatalf("got %d %q, want 200", code, body)
		}
		j := waitJob(t, f)
		if j.Error != "" || j.Outcome != "Purged OrderDLQ (1 message)." {
			t.Errorf("the purge ended %+v, want Purged OrderDLQ (1 message).", j)
		}
	})
}

// The console's page carries its token, names the target, loads only its
// own files (no CDN), and sets headers that keep other sites from framing
// it; a page token is not the same in two consoles.
func TestTheConsolePageIsSelfContained(t *testing.T) {
	f := startConsoleFixture(t)
	code, page := f.do(t, "GET", "/", "", nil)
	if code != 200 {
		t.Fatalf("GET /: %d", code)
	}
	if !strings.Contains(page, `<meta name="orderflow-token" content="`+f.c.token+`">`) || !strings.Contains(page, "<title>orderflow console — "+f.cloud+"</title>") {
		t.Errorf("the page lacks its token or its target:\n%s", page)
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "/static/") {
			t.Errorf("the page loads %s, not one of its own files", m[1])
		}
		if c, _ := f.do(t, "GET", m[1], "", nil); c != 200 {
			t.Errorf("GET %s: %d", m[1], c)
		}
	}
	if other := newConsole(consoleOptions{target: f.c.t, res: f.c.res}); other.token == f.c.token || len(other.token) != 32 {
		t.Errorf("two consoles' tokens: %q and %q", f.c.token, other.token)
	}
}

// A client that sends its request's headers a byte at a time (a slow
// client) does not hold up another's request.
func TestASlowClientDoesNotBlockTheConsole(t *testing.T) {
	f := startConsoleFixture(t)
	host := strings.TrimSuffix(strings.TrimPrefix(f.url, "http://"), "/")
	slow, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	go func() {
		for _, b := range []byte("GET /api/pipeline HTTP/1.1\r\nHost: " + host + "\r\n") {
			if _, err := slow.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	start := time.Now()
	code, body := f.do(t, "GET", "/api/pipeline", "", nil)
	if code != 200 || time.Since(start) > 5*time.Second {
		t.Fatalf("with a slow client connected: %d after %s: %s", code, time.Since(start), body)
	}
	var v pipelineView
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Topology.Queue != "OrderQueue" {
		t.Errorf("pipeline: %v %+v", err, v)
	}
	slow.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := bufio.NewReader(slow).ReadString('\n'); err == nil {
		t.Error("the slow client was answered before it finished its request")
	}
}

// A page token for the orders' next page that the console did not give is
// a 400, not a DynamoDB error; one it gave reads the next page.
func TestTheOrdersPagesFollowDynamoDBsTokens(t *testing.T) {
	f := startConsoleFixture(t)
	for _, tok := range []string{"!!!", "bm90IGpzb24", "e30", `eyJhIjp7IlMiOiJ4IiwiTiI6IjEifX0`} {
		code, body := f.do(t, "GET", "/api/orders?next="+tok, "", nil)
		if code != http.StatusBadRequest || !strings.Contains(body, "the next page's token is not one the console gave") {
			t.Errorf("next=%s: %d %s", tok, code, body)
		}
	}
	cfg := f.l.Cloud.Config()
	for i := range 30 {
		publishOrder(t, cfg, order("P-"+string(rune('A'+i/10))+string(rune('0'+i%10)), "new", "2025-05-03T12:00:"+string(rune('0'+i/10))+string(rune('0'+i%10))+"Z"))
	}
	var all []string
	deadline := time.Now().Add(30 * time.Second)
	for len(all) < 30 && time.Now().Before(deadline) {
		all = nil
		next := ""
		for range 5 {
			code, body := f.do(t, "GET", "/api/orders?user=U123&next="+next, "", nil)
			var p ordersPage
			if code != 200 || json.Unmarshal([]byte(body), &p) != nil {
				t.Fatalf("orders: %d %s", code, body)
			}
			if len(p.Orders) > ordersPageSize {
				t.Fatalf("a page of %d orders, more than %d", len(p.Orders), ordersPageSize)
			}
			for _, o := range p.Orders {
				all = append(all, o.TimestampString())
			}
			if next = p.Next; next == "" {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(all) != 30 {
		t.Fatalf("read %d of U123's 30 orders over the pages", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i] > all[i-1] {
			t.Fatalf("U123's orders are not newest first: %s after %s", all[i], all[i-1])
		}
	}
}

func dlqDepth(t *testing.T, f *consoleFixture) int {
	t.Helper()
	st, err := readDLQState(context.Background(), f.c.sqs, f.c.res.DLQURL)
	if err != nil {
		t.Fatal(err)
	}
	return st.Visible + st.InFlight + st.Delayed
}

func waitDLQ(t *testing.T, f *consoleFixture, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for dlqDepth(t, f) != n {
		if time.Now().After(deadline) {
			t.Fatalf("OrderDLQ holds %d messages after 30 s, want %d", dlqDepth(t, f), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitJob waits for the console's job to end and returns it.
func waitJob(t *testing.T, f *consoleFixture) consoleJob {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		_, body := f.do(t, "GET", "/api/job", "", nil)
		var j struct{ Job *consoleJob }
		if err := json.Unmarshal([]byte(body), &j); err != nil {
			t.Fatal(err)
		}
		if j.Job != nil && j.Job.Over {
			return *j.Job
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the console's job did not end in 60 s")
	return consoleJob{}
}

// up prints the console's address in its banner, on a loopback listener of
// its own (the cloud's endpoint keeps refusing browsers), and the console
// there reads up's pipeline; --console-addr off serves none, and a
// --console-addr beyond loopback is refused before anything starts.
func TestUpServesTheConsoleOnALoopbackPortOfItsOwn(t *testing.T) {
	u := runUp(t, "--quiet")
	m := regexp.MustCompile(`\n  Console +(http://127\.0\.0\.1:(\d+)/)\n`).FindStringSubmatch(u.stdout.String())
	if m == nil {
		t.Fatalf("the banner names no console:\n%s", u.stdout.String())
	}
	if strings.HasPrefix(u.endpoint+"/", m[1]) {
		t.Fatalf("the console %s is on the cloud's endpoint %s", m[1], u.endpoint)
	}
	req, err := http.NewRequest(http.MethodGet, m[1]+"api/pipeline", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Orderflow-Token", pageToken(t, m[1]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v pipelineView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Where != u.endpoint || v.Topology.Table != "Orders" || len(v.Errors) > 0 {
		t.Errorf("the console's pipeline: %v %+v", err, v)
	}
	off := runUp(t, "--quiet", "--console-addr", "off")
	if strings.Contains(off.stdout.String(), "Console") {
		t.Errorf("up --console-addr off names a console:\n%s", off.stdout.String())
	}
	var out, errOut strings.Builder
	code := run(context.Background(), []string{"up", "--addr", "127.0.0.1:0", "--console-addr", "0.0.0.0:0"}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if want := "orderflow: --console-addr 0.0.0.0:0 is beyond this machine's loopback; the console has no login, so it listens on loopback only (e.g. 127.0.0.1:4600), or give off\n"; code != 2 || !strings.HasPrefix(errOut.String(), want) || out.Len() > 0 {
		t.Errorf("up --console-addr 0.0.0.0:0: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

// orderflow console serves a target named like the other commands' and
// prints its address; it refuses an --addr beyond loopback.
func TestConsoleCommandServesATargetUntilInterrupted(t *testing.T) {
	f := startConsoleFixture(t)
	getenv := emptyEnvironment(t, closedPort(t))
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncWriter
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"console", "--endpoint", f.cloud}, getenv, strings.NewReader(""), &out, &errOut)
	}()
	re := regexp.MustCompile(`^Console for ` + regexp.QuoteMeta(f.cloud) + ` \(stack orderflow\) at (http://127\.0\.0\.1:\d+/)\nPress Ctrl-C to stop\.\n$`)
	var url string
	deadline := time.Now().Add(20 * time.Second)
	for url == "" && time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	if url == "" {
		cancel()
		t.Fatalf("console printed %q, %q", out.String(), errOut.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("console exited %d: %s", code, errOut.String())
	}
	code, stdout, stderr := runCaptured(t, []string{"console", "--endpoint", f.cloud, "--addr", "0.0.0.0:4600"}, getenv)
	if want := "orderflow: --addr 0.0.0.0:4600 is beyond this machine's loopback; the console has no login, so it listens on loopback only (e.g. 127.0.0.1:4600)\n"; code != 2 || !strings.HasPrefix(stderr, want) || stdout != "" {
		t.Errorf("console --addr 0.0.0.0:4600: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// syncWriter is a strings.Builder safe to read while a command writes it.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Against AWS the page says so on every screen, and a change needs the
// stack's name typed, not a mere yes. (The target here is the local cloud
// dressed as AWS: what differs is only the console's knowledge of it.)
func TestAgainstAWSTheConsoleSaysSoAndWantsTheStacksName(t *testing.T) {
	f := startConsoleFixture(t)
	awsTarget := *f.c.t
	awsTarget.endpoint = ""
	c := newConsole(consoleOptions{target: &awsTarget, res: f.c.res})
	srv, err := c.listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	g := &consoleFixture{l: f.l, c: c, srv: srv, url: srv.URL}
	_, page := g.do(t, "GET", "/", "", nil)
	if !strings.Contains(page, `<div class="aws-banner" role="alert" id="aws-banner">AWS: this console acts on AWS (us-east-1), stack orderflow.`) {
		t.Errorf("the page has no AWS banner:\n%s", page)
	}
	if _, local := f.do(t, "GET", "/", "", nil); strings.Contains(local, "aws-banner") {
		t.Error("a local console's page has the AWS banner")
	}
	publishOrder(t, f.l.Cloud.Config(), `{"orderId":"BAD-2","quantity":"lots"}`)
	waitDLQ(t, f, 1)
	code, body := g.do(t, "POST", "/api/dlq/purge", `{"confirm":"yes"}`, g.ownHeaders())
	if code != http.StatusPreconditionFailed || !strings.Contains(body, "not confirmed: this is AWS; type the stack's name (orderflow) to confirm") {
		t.Errorf("a purge on AWS confirmed with yes: %d %s", code, body)
	}
	if d := dlqDepth(t, f); d != 1 {
		t.Fatalf("OrderDLQ holds %d after the unconfirmed purge, want 1", d)
	}
	if code, body := g.do(t, "POST", "/api/dlq/purge", `{"confirm":"orderflow"}`, g.ownHeaders()); code != 200 {
		t.Fatalf("a purge confirmed with the stack's name: %d %s", code, body)
	}
	if j := waitJob(t, g); j.Outcome != "Purged OrderDLQ (1 message)." {
		t.Errorf("the purge ended %+v", j)
	}
}

// countingClient counts the requests a console sends to its target.
type countingClient struct {
	next aws.HTTPClient
	n    atomic.Int64
}

func (c *countingClient) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.Do(r)
}

// Nothing is read from the target while no page asks: the console only
// answers; a page's reading is shared by the pages that ask within the
// same second.
func TestTheConsoleReadsTheTargetOnlyWhenAPageAsks(t *testing.T) {
	f := startConsoleFixture(t)
	counting := &countingClient{next: http.DefaultClient}
	tg := *f.c.t
	tg.cfg = f.c.t.cfg.Copy()
	tg.cfg.HTTPClient = counting
	c := newConsole(consoleOptions{target: &tg, res: f.c.res})
	srv, err := c.listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	g := &consoleFixture{c: c, srv: srv, url: srv.URL}
	g.do(t, "GET", "/", "", nil)
	time.Sleep(3 * time.Second)
	if n := counting.n.Load(); n != 0 {
		t.Fatalf("the console sent %d requests to the target with no page asking", n)
	}
	g.do(t, "GET", "/api/pipeline", "", nil)
	first := counting.n.Load()
	if first == 0 {
		t.Fatal("the pipeline was answered without reading the target")
	}
	g.do(t, "GET", "/api/pipeline", "", nil)
	if n := counting.n.Load(); n != first {
		t.Errorf("a second page within the second read the target again: %d requests, then %d", first, n)
	}
}

// Redrive from the page moves only what was asked: only the transient
// failures (none of two invalid orders), then one selected message.
func TestTheConsoleRedrivesOnlyTransientOrSelectedMessages(t *testing.T) {
	f := startConsoleFixture(t)
	cfg := f.l.Cloud.Config()
	publishOrder(t, cfg, `{"orderId":"BAD-A","quantity":"lots"}`)
	publishOrder(t, cfg, `{"orderId":"BAD-B","quantity":"lots"}`)
	waitDLQ(t, f, 2)
	if code, body := f.do(t, "POST", "/api/dlq/redrive", `{"mode":"transient","confirm":"yes"}`, f.ownHeaders()); code != 200 {
		t.Fatalf("redrive transient: %d %s", code, body)
	}
	if j := waitJob(t, f); j.Outcome != "Moved 0 messages from OrderDLQ to OrderQueue; 2 left in OrderDLQ." {
		t.Errorf("redrive transient ended %+v", j)
	}
	_, body := f.do(t, "GET", "/api/dlq", "", nil)
	var l dlqListing
	if err := json.Unmarshal([]byte(body), &l); err != nil || len(l.Messages) != 2 {
		t.Fatalf("the DLQ listing: %v %s", err, body)
	}
	pick := l.Messages[0].MessageID
	if code, body := f.do(t, "POST", "/api/dlq/redrive", `{"mode":"selected","confirm":"yes","ids":["`+pick+`"]}`, f.ownHeaders()); code != 200 {
		t.Fatalf("redrive selected: %d %s", code, body)
	}
	if j := waitJob(t, f); j.Outcome != "Moved 1 message from OrderDLQ to OrderQueue; 1 left in OrderDLQ." || j.Done != 1 {
		t.Errorf("redrive selected ended %+v", j)
	}
	if code, body := f.do(t, "POST", "/api/dlq/redrive", `{"mode":"selected","confirm":"yes"}`, f.ownHeaders()); code != http.StatusBadRequest || !strings.Contains(body, "select the messages to redrive") {
		t.Errorf("redrive selected without ids: %d %s", code, body)
	}
}

// pageToken reads the token the console's page carries.
func pageToken(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`<meta name="orderflow-token" content="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("the console's page carries no token:\n%s", b)
	}
	return string(m[1])
}

// A page elsewhere can make a browser send a plain GET to the console (an
// <img>, a no-cors fetch) but not with the token header: the API refuses
// it, and nothing is read from the target (listing the DLQ would receive
// its messages).
func TestTheConsolesAPIAnswersOnlyItsOwnPage(t *testing.T) {
	f := startConsoleFixture(t)
	for _, h := range []map[string]string{
		{},
		{"X-Orderflow-Token": "guess"},
		{"X-Orderflow-Token": f.c.token, "Sec-Fetch-Site": "cross-site"},
	} {
		for _, path := range []string{"/api/dlq", "/api/pipeline", "/api/orders", "/api/trace/O1234", "/api/job"} {
			if code, body := f.do(t, "GET", path, "", h); code != http.StatusForbidden || !strings.Contains(body, "refused") {
				t.Errorf("GET %s with %v: %d %s", path, h, code, body)
			}
		}
	}
	if code, _ := f.do(t, "GET", "/api/pipeline", "", nil); code != http.StatusOK {
		t.Errorf("GET /api/pipeline as the page sends it: %d", code)
	}
	if code, _ := f.do(t, "GET", "/", "", map[string]string{}); code != http.StatusOK {
		t.Errorf("the page itself: %d", code)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orderflow/orderflow/internal/slowtest"
)

// chromium finds Debian's chromium; without it the browser tests skip on
// a developer's machine, saying what to install, and fail in CI, where make
// deps installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const install = "run make deps, or apt-get install chromium as root"
	if os.Getenv("CI") != "" {
		t.Fatalf("missing: chromium (Debian's package), which CI needs for the console's browser tests; %s", install)
	}
	t.Skipf("missing: chromium (Debian's package) for the console's browser tests; %s", install)
	return ""
}

// browser starts a headless chromium for the test and returns a tab's
// context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // chromium refuses to run as root with its sandbox
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	return ctx
}

// screenshots is the directory the test saves its screenshots in:
// $ORDERFLOW_SCREENSHOTS, else a temporary one; the test prints it.
func screenshots(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ORDERFLOW_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// textOf is the text a person sees in the element sel ("" if absent).
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : ""; })()`, sel)
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// waitText waits until the element sel shows want, and fails the test
// saying what it showed instead.
func waitText(t *testing.T, ctx context.Context, within time.Duration, sel, want string) {
	t.Helper()
	deadline := time.Now().Add(within)
	got := ""
	for time.Now().Before(deadline) {
		if got = textOf(t, ctx, sel); got == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s shows %q after %s, want %q", sel, got, within, want)
}

func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// What a person sees in the console after publishing orders (good,
// duplicated, out of order and invalid, some through the SDK straight to
// SNS): the pipeline's live counts (850 orders stored, 50 dead letters,
// then one more without reloading), the DLQ page listing each with its
// reason, a redrive from the page after its confirmation, an order's story
// one click from its dead letter and from the orders page, matching
// orderflow trace --json; with a screenshot of each page.
func TestTheConsoleInABrowser(t *testing.T) {
	slowtest.Skip(t, "publishes 1,000 orders and drives chromium")
	ctx := browser(t)
	dir := screenshots(t)
	f := startConsoleFixture(t)
	getenv := emptyEnvironment(t, closedPort(t))
	cli := func(args ...string) string {
		t.Helper()
		code, out, errOut := runCaptured(t, append(args[:1:1], append([]string{"--endpoint", f.cloud}, args[1:]...)...), getenv)
		if code != 0 {
			t.Fatalf("orderflow %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	out := cli("publish", "--count", "1000", "--invalid", "0.05", "--duplicates", "0.05", "--out-of-order", "0.05")
	t.Logf("publish: %s", out)
	// Duplicates and older versions reuse an order's id: publish says
	// how many distinct orders to expect in Orders (850 of 1,000 with
	// these shares, not 950) and how many dead letters.
	m := regexp.MustCompile(`expect (\d+) of these orders in Orders and the (\d+) invalid ones in OrderDLQ`).FindStringSubmatch(out)
	if m == nil || m[1] != "850" || m[2] != "50" {
		t.Fatalf("publish did not say it expects 850 orders and 50 dead letters: %s", out)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(f.url)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, 60*time.Second, "#items", "850")
	waitText(t, ctx, 30*time.Second, "#dlq-count", "50")
	waitText(t, ctx, 30*time.Second, "#o-invalid", "50")
	if got := textOf(t, ctx, "#o-stored"); got == "0" || got == "" {
		t.Errorf("the function's stored count shows %q", got)
	}
	if got := textOf(t, ctx, "#node-table h3"); got != "Orders" {
		t.Errorf("the table's node is titled %q, want Orders", got)
	}
	shoot(t, ctx, dir, "1-pipeline")

	// One more invalid order, through the SDK straight to SNS: the open
	// page counts it without being reloaded.
	publishOrder(t, f.l.Cloud.Config(), `{"orderId":"BAD-SDK-1","userId":"U9","quantity":"lots"}`)
	waitText(t, ctx, 30*time.Second, "#dlq-count", "51")

	click(t, ctx, "#nav-dlq")
	waitText(t, ctx, 30*time.Second, "#dlq-summary", "51 dead letters listed.")
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll("#dlq-table tbody tr")].map(r => [...r.cells].slice(1, 5).map(c => c.innerText))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 51 {
		t.Fatalf("the DLQ page lists %d rows, want 51", len(rows))
	}
	sawSDK := false
	for _, r := range rows {
		if r[1] == "" || r[2] == "" || r[3] == "" {
			t.Errorf("a dead letter is listed without its code, reason or receive count: %q", r)
		}
		if r[0] == "BAD-SDK-1" {
			sawSDK = true
			if r[1] != "InvalidOrder" || !strings.Contains(r[2], "quantity") {
				t.Errorf("BAD-SDK-1's row: %q", r)
			}
		}
	}
	if !sawSDK {
		t.Error("the DLQ page does not list BAD-SDK-1")
	}
	shoot(t, ctx, dir, "2-dead-letters")

	// Its story, one click from its row, is the one trace tells.
	click(t, ctx, `#dlq-table a.story[href="#/order/BAD-SDK-1"]`)
	waitText(t, ctx, 30*time.Second, "#story-id", "BAD-SDK-1")
	waitText(t, ctx, 30*time.Second, "#story-summary", "1 event seen by the function; 1 in OrderDLQ. Orders holds nothing of it.")
	compareStory(t, ctx, cli, "BAD-SDK-1")
	shoot(t, ctx, dir, "3-story-dead-letter")

	// Redrive all from the page: a confirmation first, then the outcome.
	click(t, ctx, "#nav-dlq")
	waitText(t, ctx, 30*time.Second, "#dlq-summary", "51 dead letters listed.")
	click(t, ctx, "#redrive-all")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#confirm-ok"))); err != nil {
		t.Fatalf("no confirmation before the redrive: %v", err)
	}
	if open, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("confirm").open`)); err != nil || !open {
		t.Fatalf("the confirmation dialog is not open: %v", err)
	}
	if got := textOf(t, ctx, "#confirm-text"); !strings.HasPrefix(got, "Move every dead letter in OrderDLQ back to OrderQueue?") {
		t.Errorf("the confirmation says %q", got)
	}
	shoot(t, ctx, dir, "4-redrive-confirm")
	if d := dlqDepth(t, f); d != 51 {
		t.Fatalf("OrderDLQ holds %d before the confirmation, want 51", d)
	}
	click(t, ctx, "#confirm-ok")
	waitText(t, ctx, 60*time.Second, "#job-outcome", "Moved 51 messages from OrderDLQ to OrderQueue.")
	shoot(t, ctx, dir, "5-redrive-outcome")

	// An order with duplicated and out-of-order events: its story from
	// the orders page.
	cfg := f.l.Cloud.Config()
	for i, msg := range []string{order("T-1", "new", "2025-05-03T12:00:00Z"), order("T-1", "shipped", "2025-05-03T13:00:00Z"),
		order("T-1", "shipped", "2025-05-03T13:00:00Z"), order("T-1", "new", "2025-05-03T12:00:00Z")} {
		publishOrder(t, cfg, strings.Replace(msg, `"U123"`, `"U-T1"`, 1))
		deadline := time.Now().Add(30 * time.Second)
		for {
			var s orderStory
			json.Unmarshal([]byte(cli("trace", "T-1", "--json")), &s)
			if len(s.Events) == i+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %d of T-1 not handled in 30 s", i+1)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	click(t, ctx, "#nav-orders")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#orders-table"))); err != nil {
		t.Fatal(err)
	}
	if n := textOf(t, ctx, "#orders-out > p"); n != "Orders: 25 on this page." {
		t.Errorf("the orders page says %q", n)
	}
	shoot(t, ctx, dir, "6-orders")
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#user-id"), "U-T1\r")); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, 30*time.Second, "#orders-out > p", "User U-T1's orders, newest first: 1 on this page.")
	click(t, ctx, `#orders-table a.story[href="#/order/T-1"]`)
	waitText(t, ctx, 30*time.Second, "#story-summary", "4 events seen by the function; 0 in OrderDLQ. Orders holds status shipped of 2025-05-03T13:00:00Z (user U-T1, 1 × Laptop).")
	outcomes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#story-table tbody tr")].map(r => r.cells[1].innerText + (r.classList.contains("won") ? " (won)" : ""))`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(outcomes, ", "), "stored, stored (won), duplicate, stale"; got != want {
		t.Errorf("T-1's story shows %s, want %s", got, want)
	}
	compareStory(t, ctx, cli, "T-1")
	shoot(t, ctx, dir, "7-story")

	// Back on the pipeline page: T-1 is the 851st item, and the charts
	// draw the rates from the readings while a pipeline page was open.
	click(t, ctx, "#nav-pipeline")
	waitText(t, ctx, 30*time.Second, "#items", "851")
	publishOrder(t, cfg, order("T-2", "new", "2025-05-03T12:00:00Z"))
	waitText(t, ctx, 30*time.Second, "#items", "852")
	time.Sleep(2500 * time.Millisecond) // another reading after the change
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".chart")].map(c => c.innerText + " | " + c.querySelector("polyline").getAttribute("points").split(" ").length)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(charts) != 5 || !strings.HasPrefix(charts[0], "stored") || strings.Contains(charts[0], "collecting") || strings.Contains(charts[0], "peak 0.0/s") {
		t.Errorf("the charts after new orders: %q", charts)
	}
	shoot(t, ctx, dir, "8-pipeline-later")
}

// compareStory checks that the story page shows, row by row, the events
// orderflow trace --json tells, with the same winner.
func compareStory(t *testing.T, ctx context.Context, cli func(...string) string, id string) {
	t.Helper()
	var s orderStory
	if err := json.Unmarshal([]byte(cli("trace", id, "--json")), &s); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll("#story-table tbody tr")].map(r => [r.cells[1].innerText, r.cells[5].innerText, r.cells[4].innerText, r.classList.contains("won") ? "won" : ""])`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(s.Events) {
		t.Fatalf("the story page shows %d events of %s, trace %d", len(rows), id, len(s.Events))
	}
	for i, ev := range s.Events {
		won := ""
		if ev.Won {
			won = "won"
		}
		if want := []string{ev.Outcome, ev.MessageID, fmt.Sprint(ev.ReceiveCount), won}; strings.Join(rows[i], "|") != strings.Join(want, "|") {
			t.Errorf("event %d of %s: the page shows %q, trace %q", i, id, rows[i], want)
		}
	}
}

// Against AWS the page shows its banner on every screen, and a purge asks
// for the stack's name: a wrong name changes nothing, the right one purges.
// (The local cloud dressed as AWS: only the console's knowledge differs.)
func TestTheConsoleOnAWSInABrowserAsksForTheStacksName(t *testing.T) {
	slowtest.Skip(t, "drives chromium")
	ctx := browser(t)
	dir := screenshots(t)
	f := startConsoleFixture(t)
	awsTarget := *f.c.t
	awsTarget.endpoint = ""
	c := newConsole(consoleOptions{target: &awsTarget, res: f.c.res})
	srv, err := c.listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	publishOrder(t, f.l.Cloud.Config(), `{"orderId":"BAD-3","quantity":"lots"}`)
	waitDLQ(t, f, 1)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"#/dlq")); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, 30*time.Second, "#dlq-summary", "1 dead letter listed.")
	if got := textOf(t, ctx, "#aws-banner"); !strings.HasPrefix(got, "AWS: this console acts on AWS (us-east-1), stack orderflow.") {
		t.Errorf("the AWS banner says %q", got)
	}
	purgeWith := func(name string) {
		t.Helper()
		click(t, ctx, "#purge")
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#confirm-input")), chromedp.SendKeys(chromedp.CSS("#confirm-input"), name)); err != nil {
			t.Fatal(err)
		}
		if name == "wrong" {
			shoot(t, ctx, dir, "9-aws-purge-confirm")
		}
		click(t, ctx, "#confirm-ok")
	}
	purgeWith("wrong")
	time.Sleep(time.Second)
	if got := textOf(t, ctx, "#error"); got != "Not confirmed: the stack's name is orderflow; nothing was changed." {
		t.Errorf("after a wrong name the page says %q", got)
	}
	if d := dlqDepth(t, f); d != 1 || textOf(t, ctx, "#job-outcome") != "" {
		t.Fatalf("a purge confirmed with a wrong name: OrderDLQ holds %d, the page says %q", d, textOf(t, ctx, "#job-outcome"))
	}
	purgeWith("orderflow")
	waitText(t, ctx, 30*time.Second, "#job-outcome", "Purged OrderDLQ (1 message).")
	shoot(t, ctx, dir, "10-aws-purged")
}

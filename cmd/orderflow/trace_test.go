package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/syncbuf"
)

// An order's story through the public APIs: a first event stored, a newer
// one that wins, the same newer one again (a duplicate), an older one
// arriving late (stale), and an invalid one dead-lettered; trace lists
// them in time order, marks the event Orders holds, and names the dead
// letter, as text and as JSON. Another order's lines are not in it.
func TestTraceTellsAnOrdersStory(t *testing.T) {
	l, err := startLocal(context.Background(), localOptions{addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	url := l.Cloud.URL()
	cfg := sdkConfig(url)
	order := func(id, status, ts string) string {
		return `{"orderId":"` + id + `","userId":"U1","itemName":"Pen","quantity":1,"status":"` + status + `","timestamp":"` + ts + `"}`
	}
	getenv := emptyEnvironment(t, closedPort(t))
	traceOf := func(args ...string) (int, string, string) {
		return runCaptured(t, append([]string{"trace", "--endpoint", url}, args...), getenv)
	}
	// In order, each settled before the next: the story's order is the
	// order they were handled in.
	for i, msg := range []string{
		order("T-1", "new", "2025-05-03T12:00:00Z"),
		order("T-1", "shipped", "2025-05-03T13:00:00Z"),
		order("T-1", "shipped", "2025-05-03T13:00:00Z"),
		order("T-1", "new", "2025-05-03T12:00:00Z"),
		`{"orderId":"T-1","quantity":"lots"}`,
		order("T-2", "new", "2025-05-03T12:00:00Z"),
	} {
		publishOrder(t, cfg, msg)
		poll.Until(t, 30*time.Second, "the event handled", func() bool {
			_, out, _ := traceOf("T-1", "--json")
			_, out2, _ := traceOf("T-2", "--json")
			var a, b orderStory
			json.Unmarshal([]byte(out), &a)
			json.Unmarshal([]byte(out2), &b)
			return len(a.Events)+len(b.Events) == i+1
		})
	}

	code, out, errOut := traceOf("T-1")
	if code != 0 || errOut != "" {
		t.Fatalf("trace: exit %d, stderr %q", code, errOut)
	}
	for _, re := range []string{
		`^Order T-1: 5 events seen by ProcessOrderFunction; 1 in OrderDLQ; Orders holds status shipped of 2025-05-03T13:00:00Z\.\n\n`,
		`\nTIME \(UTC\) +OUTCOME +STATUS +EVENT TIME +RECEIVES +MESSAGE +DURATION +NOTE\n`,
		`\n\S+ \S+ +stored +new +2025-05-03T12:00:00Z +1 +\S+ +[0-9.]+ ms +stored; a newer event replaced it since\n` +
			`\S+ \S+ +stored +shipped +2025-05-03T13:00:00Z +1 +\S+ +[0-9.]+ ms +← in Orders now\n` +
			`\S+ \S+ +duplicate +shipped +2025-05-03T13:00:00Z +1 +\S+ +[0-9.]+ ms +the same event again: nothing written\n` +
			`\S+ \S+ +stale +new +2025-05-03T12:00:00Z +1 +\S+ +[0-9.]+ ms +older than what Orders held: nothing written\n` +
			`\S+ \S+ +invalid +- +- +1 +\S+ +[0-9.]+ ms +in the DLQ now: InvalidOrder: invalid order: userId: is required;`,
		`\nIn OrderDLQ now:\n  message \S+ since \S+, after 1 receive: InvalidOrder: invalid order: userId: is required;`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("trace T-1 does not match %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "T-2") {
		t.Errorf("trace T-1 shows order T-2:\n%s", out)
	}

	_, out, _ = traceOf("T-1", "--json")
	var s orderStory
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("trace --json: %v\n%s", err, out)
	}
	var outcomes []string
	won := -1
	for i, ev := range s.Events {
		outcomes = append(outcomes, ev.Outcome)
		if ev.Won {
			won = i
		}
	}
	if strings.Join(outcomes, " ") != "stored stored duplicate stale invalid" || won != 1 || s.Item == nil || s.Item.Version != s.Events[1].Version ||
		len(s.DeadLetters) != 1 || s.DeadLetters[0].OriginalMessageID != s.Events[4].MessageID {
		t.Errorf("trace --json: outcomes %v, won %d, item %+v, dead letters %+v", outcomes, won, s.Item, s.DeadLetters)
	}

	// An order nobody published: said plainly, exit 0.
	code, out, _ = traceOf("NOBODY")
	if code != 0 || out != "Order NOBODY: no event of it in /aws/lambda/ProcessOrderFunction; Orders holds nothing of it.\n" {
		t.Errorf("trace of an unknown order: exit %d\n%s", code, out)
	}
	// An id a filter phrase cannot hold is still traced (matched here).
	code, out, _ = traceOf(`A"B`)
	if code != 0 || !strings.HasPrefix(out, `Order A"B: no event of it`) {
		t.Errorf("trace of an id with a quote: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{}, {"a", "b"}, {"T-1", "--since", "0s"}, {"T-1", "--json", "--follow"}} {
		if code, _, errOut := traceOf(args...); code != 2 || strings.Count(errOut, "\n") > 2 {
			t.Errorf("trace %v: exit %d, stderr %q; want a usage error", args, code, errOut)
		}
	}
}

// trace --follow prints the order's new events as they come, and what
// Orders holds when it changes.
func TestTraceFollowsAnOrder(t *testing.T) {
	l, err := startLocal(context.Background(), localOptions{addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	url := l.Cloud.URL()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"trace", "--endpoint", url, "F-1", "--follow"}, emptyEnvironment(t, closedPort(t)), strings.NewReader(""), &out, &errOut)
	}()
	poll.Until(t, 10*time.Second, "trace to follow", func() bool { return strings.Contains(out.String(), "Following; Ctrl-C stops.") })
	publishOrder(t, sdkConfig(url), `{"orderId":"F-1","userId":"U1","itemName":"Pen","quantity":1,"status":"new","timestamp":"2025-05-03T12:00:00Z"}`)
	// The item is written before the function logs the line about it: the
	// two may come in either order, in one poll or in two.
	row := regexp.MustCompile(`\n\S+ \S+ +stored +new +2025-05-03T12:00:00Z +1 +\S+ +[0-9.]+ ms +← in Orders now\n`)
	poll.Until(t, 30*time.Second, "the new event and the item followed", func() bool {
		return strings.Contains(out.String(), "Orders now holds status new of 2025-05-03T12:00:00Z.") && row.MatchString(out.String())
	})
	cancel()
	if code := <-done; code != 0 || errOut.String() != "" {
		t.Errorf("trace --follow interrupted: exit %d, stderr %q", code, errOut.String())
	}
}

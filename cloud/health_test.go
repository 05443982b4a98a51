package cloud

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/internal/poll"
)

func TestTheHealthEndpointSaysOnlyWhetherTheCloudServes(t *testing.T) {
	ready := true
	e := newEdge(nil, hostGuard("127.0.0.1", nil), &callCounts{}, slog.New(slog.DiscardHandler))
	e.health = func() bool { return ready }
	e.auth = &verifier{keys: map[string]string{"AKID": "secret"}, region: "us-east-1"}
	get := func(method string, header http.Header) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://127.0.0.1:4566"+HealthPath, nil)
		for k, v := range header {
			r.Header[k] = v
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w
	}
	for _, tc := range []struct {
		name   string
		ready  bool
		method string
		header http.Header
		status int
		body   string
	}{
		{"serving, without credentials although auth is required", true, "GET", nil, 200, `{"status":"ok"}`},
		{"serving, HEAD", true, "HEAD", nil, 200, ""},
		{"no longer serving (the data file failed, or shutting down)", false, "GET", nil, 503, `{"status":"unavailable"}`},
		{"by POST", true, "POST", nil, 405, ""},
		{"from a web page", true, "GET", http.Header{"Origin": {"https://evil.example"}}, 403, ""},
		{"from another site", true, "GET", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready = tc.ready
			w := get(tc.method, tc.header)
			if w.Code != tc.status || (tc.body != "" && strings.TrimSpace(w.Body.String()) != tc.body) {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tc.status, tc.body)
			}
			if tc.status == 200 && (w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store") {
				t.Errorf("headers %v", w.Header())
			}
		})
	}
}

func TestACloudIsReadyUntilItCloses(t *testing.T) {
	c, err := Start(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(c.URL() + HealthPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !c.ready() {
		t.Errorf("a started cloud: health %d, ready %v", resp.StatusCode, c.ready())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if c.ready() {
		t.Error("a closed cloud says it is ready")
	}
}

// TestACloudWhoseDiskIsFullIsNotReadyUntilSpaceReturns fills the data
// file's disk (an injected ENOSPC on the log): while writes stall the
// health endpoint answers 503, and 200 again once they go through, with no
// restart. Not parallel: the injected fault is the process's.
func TestACloudWhoseDiskIsFullIsNotReadyUntilSpaceReturns(t *testing.T) {
	dir := t.TempDir()
	var full atomic.Bool
	defer journal.InjectFault(func(op, path string) error {
		if full.Load() && strings.HasPrefix(path, dir) && (op == "write" || op == "zero") {
			return &os.PathError{Op: op, Path: path, Err: syscall.ENOSPC}
		}
		return nil
	})()
	c, err := Start(Options{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(ctx)
	}()
	health := func() int {
		t.Helper()
		resp, err := http.Get(c.URL() + HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	create := func() error {
		_, err := c.SQS.Engine().CreateQueue("q", nil, nil)
		return err
	}
	if st := health(); st != 200 {
		t.Fatalf("before the disk fills: health %d", st)
	}
	full.Store(true)
	if err := create(); err == nil {
		t.Fatal("a change was acknowledged on a full disk")
	}
	if st := health(); st != 503 {
		t.Errorf("while the disk is full: health %d, want 503", st)
	}
	full.Store(false)
	if !poll.Within(10*time.Second, func() bool { return health() == 200 }) {
		t.Fatal("space returned, but health never said ready again")
	}
}

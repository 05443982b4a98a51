package cloud

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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

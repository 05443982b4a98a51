package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/poll"
)

func TestUpWithRequireAuthPrintsWhatToExportAndTheCommandsWorkWithIt(t *testing.T) {
	// Nothing ambient: only what the banner says to export.
	none := filepath.Join(t.TempDir(), "none")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)

	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	out := &logBuffer{}
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"up", "--addr", "127.0.0.1:0", "--require-auth", "--credential", "AKIDUP:up-secret", "--credential", "AKIDOTHER:other-secret",
			"--allow-host", "orders.internal"}, os.Getenv, strings.NewReader(""), out, &errOut)
	}()
	exports := regexp.MustCompile(`(?m)^  export (.*?)(?:\s+#.*)?$`)
	poll.Until(t, 20*time.Second, "up to print what to export", func() bool {
		select {
		case code := <-done:
			t.Fatalf("up exited %d early: %s", code, errOut.String())
		default:
		}
		return len(exports.FindAllStringSubmatch(out.String(), -1)) == 2
	})
	banner := out.String()
	if strings.Contains(banner, "up-secret") || strings.Contains(banner, "other-secret") {
		t.Errorf("the banner prints a secret:\n%s", banner)
	}
	if strings.Contains(errOut.String(), "WARNING") {
		t.Errorf("up on loopback warned: %s", errOut.String())
	}
	vars := map[string]string{}
	for _, m := range exports.FindAllStringSubmatch(banner, -1) {
		for _, kv := range strings.Fields(m[1]) {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
	}
	endpoint := vars["AWS_ENDPOINT_URL"]
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+$`).MatchString(endpoint) || vars["AWS_REGION"] != "us-east-1" || vars["AWS_DEFAULT_REGION"] != "us-east-1" ||
		vars["AWS_ACCESS_KEY_ID"] != "AKIDOTHER" || vars["AWS_SECRET_ACCESS_KEY"] != "..." {
		t.Fatalf("exports %v\n%s", vars, banner)
	}
	if !strings.Contains(banner, "is AKIDOTHER's secret, as given to --credential") || !strings.Contains(banner, "  Health         "+endpoint+"/_orderflow/health") {
		t.Errorf("the banner:\n%s", banner)
	}
	vars["AWS_SECRET_ACCESS_KEY"] = "other-secret" // what the user fills in
	for k, v := range vars {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"status"}, os.Getenv, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Errorf("orderflow status with the exported keys exited %d: %s", code, stderr.String())
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "up-secret") // the other key's secret
	stderr.Reset()
	if code := run(context.Background(), []string{"status"}, os.Getenv, strings.NewReader(""), &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "SignatureDoesNotMatch") {
		t.Errorf("orderflow status with a wrong secret exited %d: %s", code, stderr.String())
	}

	// The health endpoint needs no key; an allowed host is answered.
	for _, tc := range []struct {
		host   string
		status int
	}{{"", 200}, {"orders.internal", 200}, {"evil.example", 403}} {
		r, _ := http.NewRequest("GET", endpoint+"/_orderflow/health", nil)
		if tc.host != "" {
			r.Host = tc.host
		}
		resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.status == 200 && strings.TrimSpace(string(b)) != `{"status":"ok"}`) {
			t.Errorf("GET health as Host %q: %d %s, want %d", tc.host, resp.StatusCode, b, tc.status)
		}
	}

	interrupt()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("up exited %d after the interrupt: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("up did not shut down after the interrupt")
	}
}

func TestUpWithoutAuthSaysAnyKeysDo(t *testing.T) {
	got := upUntilInterrupted(t)
	for _, want := range []string{"(any credentials are accepted)", "export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local", "export AWS_ENDPOINT_URL=http://127.0.0.1:"} {
		if !strings.Contains(got, want) {
			t.Errorf("the banner lacks %q:\n%s", want, got)
		}
	}
}

func TestUpWarnsLoudlyBeyondLoopbackWithoutAuth(t *testing.T) {
	// 192.0.2.1 (TEST-NET-1) is no address of this machine: up warns, then
	// fails to listen, so the test listens on nothing beyond loopback.
	for _, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"--addr", "192.0.2.1:0"}, true},
		{[]string{"--addr", "192.0.2.1:0", "--require-auth", "--credential", "AKID:secret"}, false},
	} {
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		code := run(ctx, append([]string{"up"}, tc.args...), func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
		cancel()
		if code != 1 || !strings.Contains(errOut.String(), "listen on 192.0.2.1:0") {
			t.Fatalf("up %v: exit %d, stderr %s", tc.args, code, errOut.String())
		}
		warned := strings.Contains(errOut.String(), "orderflow: WARNING: listening on 192.0.2.1:0, beyond this machine's loopback, WITHOUT --require-auth")
		if warned != tc.warn {
			t.Errorf("up %v: warned %v, want %v: %s", tc.args, warned, tc.warn, errOut.String())
		}
	}
}

func TestWhichListenAddressesReachBeyondLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:4566": false, "127.0.0.2:4566": false, "localhost:4566": false, "[::1]:4566": false,
		"0.0.0.0:4566": true, ":4566": true, "[::]:4566": true, "192.168.1.5:4566": true, "orders.internal:4566": true,
	} {
		if got := beyondLoopback(addr); got != want {
			t.Errorf("beyondLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

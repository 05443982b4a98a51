package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestUpOnATakenPortSaysWhatToDo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"up", "--addr", ln.Addr().String()}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	msg := errOut.String()
	if code != 1 || strings.Count(strings.TrimSpace(msg), "\n") != 0 ||
		!strings.Contains(msg, ln.Addr().String()+" is already in use") || !strings.Contains(msg, "--addr") || !strings.Contains(msg, "--endpoint") {
		t.Errorf("exit %d, stderr %q; want exit 1 and one sentence naming the address, --addr and --endpoint", code, msg)
	}
}

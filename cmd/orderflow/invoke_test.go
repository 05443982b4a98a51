package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestInvokeRefusesAnEventLambdaWouldRefuseBeforeSendingIt(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		want  string
	}{
		{"over 6 MB", `"` + strings.Repeat("a", 6<<20) + `"`, "orderflow: the event on standard input is larger than Lambda's limit for a synchronous invocation, 6291456 bytes\n"},
		{"empty", "", "orderflow: the event on standard input is not JSON (unexpected end of JSON input); give a Lambda event such as those in handler/testdata\n"},
		{"not JSON", "{\"Records\": [", "orderflow: the event on standard input is not JSON (unexpected end of JSON input); give a Lambda event such as those in handler/testdata\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			// The endpoint answers nothing: the event is refused before any call.
			code := run(context.Background(), []string{"invoke", "--event", "-", "--endpoint", "http://127.0.0.1:1"}, func(string) string { return "" }, strings.NewReader(tt.stdin), &out, &errOut)
			if code != 1 || out.Len() != 0 || errOut.String() != tt.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, %q", code, out.String(), errOut.String(), tt.want)
			}
		})
	}
}

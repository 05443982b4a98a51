package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBenchSaysItsModeInWords(t *testing.T) {
	for _, tc := range []struct {
		f    benchFlags
		want string
	}{
		{benchFlags{batchSize: 10, window: 1, concurrency: 10, publishers: 4},
			"raw delivery, batches of 10, 1 s window, at most 10 concurrent invocations; 4 publishers, as fast as they go; in memory"},
		{benchFlags{batchSize: 25, window: 0, concurrency: 3, publishers: 8, rate: 4500, envelope: true, dataDir: "/tmp/x"},
			"SNS envelopes, batches of 25, 0 s window, at most 3 concurrent invocations; 8 publishers, 4500 orders/s in all; durable"},
	} {
		if got := modeText(tc.f); got != tc.want {
			t.Errorf("modeText(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
	var out bytes.Buffer
	f := benchFlags{batchSize: 10, window: 1, concurrency: 10, publishers: 4}
	printBench(&env{stdout: &out}, benchResult{Orders: 300, ModeText: modeText(f),
		Mode: map[string]any{"batchSize": 10}, LatencyMs: map[string]float64{"p50": 1}})
	first, _, _ := strings.Cut(out.String(), "\n")
	if strings.Contains(out.String(), "map[") || !strings.Contains(first, "300 (raw delivery, batches of 10") {
		t.Errorf("the table's first line is %q; want the mode in words, no Go map anywhere:\n%s", first, out.String())
	}
}

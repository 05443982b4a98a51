package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/lambda"
)

func TestBenchSaysItsModeInWords(t *testing.T) {
	for _, tc := range []struct {
		f    benchFlags
		fn   lambda.Execution
		want string
	}{
		{benchFlags{batchSize: 10, window: 1, concurrency: 10, publishers: 4},
			lambda.Execution{},
			"raw delivery, batches of 10, 1 s window, at most 10 concurrent invocations; 4 publishers, as fast as they go; in memory; ProcessOrderFunction in-process"},
		{benchFlags{batchSize: 25, window: 0, concurrency: 3, publishers: 8, rate: 4500, envelope: true, dataDir: "/tmp/x"},
			lambda.Execution{Zip: true},
			"SNS envelopes, batches of 25, 0 s window, at most 3 concurrent invocations; 8 publishers, 4500 orders/s in all; durable; ProcessOrderFunction from its zip, as child processes, natively"},
		{benchFlags{batchSize: 10, window: 1, concurrency: 10, publishers: 4},
			lambda.Execution{Zip: true, Emulation: "arm64 on x86_64 (qemu-aarch64-static)", Emulator: "qemu-aarch64-static"},
			"raw delivery, batches of 10, 1 s window, at most 10 concurrent invocations; 4 publishers, as fast as they go; in memory; ProcessOrderFunction from its zip, as child processes, emulated: arm64 on x86_64 (qemu-aarch64-static)"},
		{benchFlags{batchSize: 10, window: 1, concurrency: 10, publishers: 4},
			lambda.Execution{Zip: true, Emulation: "none, built for x86_64, not the declared arm64 (no qemu-aarch64-static here)"},
			"raw delivery, batches of 10, 1 s window, at most 10 concurrent invocations; 4 publishers, as fast as they go; in memory; ProcessOrderFunction from its zip, as child processes, natively, built for x86_64, not the declared arm64 (no qemu-aarch64-static here)"},
	} {
		if got := modeText(tc.f, tc.fn); got != tc.want {
			t.Errorf("modeText(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
	var out bytes.Buffer
	f := benchFlags{batchSize: 10, window: 1, concurrency: 10, publishers: 4}
	printBench(&env{stdout: &out}, benchResult{Orders: 300, ModeText: modeText(f, lambda.Execution{}),
		Mode: map[string]any{"batchSize": 10}, LatencyMs: map[string]float64{"p50": 1}})
	first, _, _ := strings.Cut(out.String(), "\n")
	if strings.Contains(out.String(), "map[") || !strings.Contains(first, "300 (raw delivery, batches of 10") {
		t.Errorf("the table's first line is %q; want the mode in words, no Go map anywhere:\n%s", first, out.String())
	}
}

// A live child's CPU is in no getrusage reading until it is reaped: bench
// reads it from /proc, and its peak RSS from /proc too.
func TestBenchCountsTheCPUAndMemoryOfLiveChildProcesses(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system: bench counts only reaped children here")
	}
	// A child that burns CPU for a while, then sleeps until killed.
	child := exec.Command("sh", "-c", `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo busy-done; exec sleep 60`)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	before := cpuSeconds(nil)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	line := make([]byte, len("busy-done"))
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "busy-done" {
		t.Fatalf("the child said %q, %v; want busy-done", line, err)
	}
	pid := child.Process.Pid
	used := procCPUSeconds(pid)
	if used < 0.05 {
		t.Fatalf("/proc/%d/stat says the busy child used %.3f s of CPU; want at least 0.05 s", pid, used)
	}
	// getrusage alone misses it (this test's own work is far less)...
	if alone := cpuSeconds(nil) - before; alone >= used {
		t.Errorf("getrusage (self and reaped children) rose by %.3f s, the live child used %.3f s: want it unseen by getrusage", alone, used)
	}
	// ... which is why bench adds the live children's.
	if with, alone := cpuSeconds([]int{pid}), cpuSeconds(nil); with-alone < used*0.99 {
		t.Errorf("cpuSeconds with the child %.3f s, without %.3f s: want the child's %.3f s added", with, alone, used)
	}
	if kib := procPeakKiB(pid); kib <= 0 {
		t.Errorf("procPeakKiB(%d) = %v, want the live child's VmHWM", pid, kib)
	}
	if self, with := peakRSSMiB(nil), peakRSSMiB([]int{pid}); with <= self {
		t.Errorf("peakRSSMiB with the child %.2f MiB, without %.2f MiB: want the child's peak added", with, self)
	}
	// A process that is gone counts nothing.
	child.Process.Kill()
	child.Wait()
	if got := procCPUSeconds(pid) + procPeakKiB(pid); got != 0 {
		t.Errorf("a reaped child's /proc figures = %v, want 0", got)
	}
}

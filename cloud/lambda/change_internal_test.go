package lambda

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/internal/slowtest"
	"github.com/orderflow/orderflow/internal/syncbuf"
)

func TestUpdatingAZipFunctionDrainsItsProcessesAndSwitchesCode(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	logs := &syncbuf.Buffer{}
	h := newTestHost(t, logs, nil)
	old := fakeFunction(t, h, "SwapFunction", "loop")
	if _, _, err := invokeOnce(old, "req-1", "a", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	oldPids := old.pids()
	if len(oldPids) != 1 {
		t.Fatalf("pids = %v, want one", oldPids)
	}

	// New code from the update's own zip, with a new environment.
	err := h.UpdateFunction(context.Background(), Function{Name: "SwapFunction", Runtime: "provided.al2023", Handler: "bootstrap", MemoryMB: 256, TimeoutSec: 5,
		Environment: map[string]string{"FAKE_RUNTIME": "loop", "ORDERS_TABLE": "OrdersV2"}, Zip: fakeZip(t)})
	if err != nil {
		t.Fatalf("UpdateFunction: %v", err)
	}
	waitFor(t, "the old process to be killed", func() bool { return !alive(oldPids[0]) })
	if _, err := os.Stat(old.dir); !os.IsNotExist(err) {
		t.Errorf("the old code's directory %s is still there (%v)", old.dir, err)
	}
	if _, _, err := invokeOnce(old, "req-late", "a", 5*time.Second); !errors.Is(err, errRetired) {
		t.Errorf("an invocation that reaches the old code after the update = %v, want %v", err, errRetired)
	}
	cur := h.functions["SwapFunction"].proc
	if cur == nil || cur == old {
		t.Fatal("the update did not make a new zip function")
	}
	if _, _, err := invokeOnce(cur, "req-2", "env", 5*time.Second); err != nil {
		t.Fatalf("invoke the new code: %v\nlogs:\n%s", err, logs)
	}
	// The process's output reaches the log through a pipe, after its answer.
	waitFor(t, "the new process to print the new environment", func() bool { return strings.Contains(logs.String(), "env ORDERS_TABLE=OrdersV2\n") })
	newPids := cur.pids()

	// Then to an in-process handler registered under the name.
	h.Register("SwapFunction", func(Config) (Handler, error) {
		return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, nil
		}, nil
	})
	if err := h.UpdateFunction(context.Background(), Function{Name: "SwapFunction", Runtime: "provided.al2023", MemoryMB: 128, TimeoutSec: 5}); err != nil {
		t.Fatalf("UpdateFunction to in-process: %v", err)
	}
	if h.functions["SwapFunction"].proc != nil {
		t.Error("the function still runs a zip")
	}
	waitFor(t, "the zip's process to be killed", func() bool { return !alive(newPids[0]) })

	// A bad zip leaves the function as it was.
	err = h.UpdateFunction(context.Background(), Function{Name: "SwapFunction", Runtime: "provided.al2023", MemoryMB: 128, TimeoutSec: 5, Zip: []byte("not a zip")})
	if err == nil || !strings.Contains(err.Error(), "the code is not a zip file") {
		t.Errorf("an update with a bad zip = %v, want the zip refused", err)
	}
	if h.functions["SwapFunction"].proc != nil {
		t.Error("a refused update changed the function")
	}

	if err := h.DeleteFunction(context.Background(), "SwapFunction"); err != nil {
		t.Fatal(err)
	}
}

func TestAnInvocationInFlightFinishesOnTheCodeItStartedOn(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	logs := &syncbuf.Buffer{}
	h := newTestHost(t, logs, nil)
	old := fakeFunction(t, h, "BusyFunction", "loop")
	done := make(chan error, 1)
	go func() {
		_, _, err := invokeOnce(old, "req-slow", "slow", 5*time.Second)
		done <- err
	}()
	waitFor(t, "the slow invocation to start", func() bool { return strings.Contains(logs.String(), "got req-slow") })
	if err := h.DeleteFunction(context.Background(), "BusyFunction"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("the invocation in flight when its function was deleted failed: %v", err)
	}
	waitFor(t, "the drained process to be killed", func() bool { return len(old.pids()) == 0 })
}

// Without an emulator for the declared architecture, a bootstrap built for
// this machine (what orderflow deploy builds then) runs, and says so.
func TestABuildForThisMachineRunsWhereTheDeclaredArchitectureCannot(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	other := "arm64"
	if hostArch() == "arm64" {
		other = "x86_64"
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	elfBody, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	h := newTestHost(t, logs, func(o *Options) { o.Emulator = func(string) (string, error) { return "", exec.ErrNotFound } })
	h.RegisterZip("Native", makeZip(t, zipEntry{"bootstrap", 0o755, string(elfBody)}))
	_, err = h.CreateFunction(context.Background(), Function{Name: "Native", Runtime: "provided.al2023", Architectures: []string{other}, MemoryMB: 128, TimeoutSec: 5,
		Environment: map[string]string{"FAKE_RUNTIME": "loop"}})
	if err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
	_, notes, err := invokeOnce(h.functions["Native"].proc, "req-native", "a", 5*time.Second)
	if err != nil {
		t.Fatalf("invoke: %v\nlogs:\n%s", err, logs)
	}
	want := "\tEmulation: none, built for " + hostArch() + ", not the declared " + other + " (no " + qemuName(other) + " here)"
	if got := notes.suffix(); !strings.HasSuffix(got, want) {
		t.Errorf("REPORT suffix = %q, want it to end %q", got, want)
	}
}

package lambda

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/internal/syncbuf"
)

func TestExecutionSaysHowAFunctionRuns(t *testing.T) {
	other := map[string]string{"x86_64": "arm64", "arm64": "x86_64"}[hostArch()]
	h := newTestHost(t, &syncbuf.Buffer{}, func(o *Options) {
		o.Emulator = func(arch string) (string, error) { return "/opt/emu/qemu-" + arch + "-fake", nil }
	})
	ctx := context.Background()
	h.Register("InProcess", func(Config) (Handler, error) {
		return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, nil
		}, nil
	})
	for _, f := range []Function{
		{Name: "InProcess", Runtime: "provided.al2023", TimeoutSec: 3},
		{Name: "Native", Runtime: "provided.al2023", TimeoutSec: 3, Architectures: []string{hostArch()}, Zip: fakeZip(t)},
		{Name: "Emulated", Runtime: "provided.al2023", TimeoutSec: 3, Architectures: []string{other}, Zip: fakeZip(t)},
	} {
		if _, err := h.CreateFunction(ctx, f); err != nil {
			t.Fatalf("create %s: %v", f.Name, err)
		}
	}
	for _, tc := range []struct {
		name string
		want Execution
		ok   bool
	}{
		{"InProcess", Execution{}, true},
		{"Native", Execution{Zip: true}, true},
		{"Emulated", Execution{Zip: true, Emulation: other + " on " + hostArch() + " (qemu-" + other + "-fake)", Emulator: "qemu-" + other + "-fake"}, true},
		{"arn:aws:lambda:us-east-1:000000000000:function:Native", Execution{Zip: true}, true},
		{"Missing", Execution{}, false},
	} {
		got, ok := h.Execution(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Execution(%q) = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

package lambda_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/syncbuf"
)

// invokeHost is a host with one function, "fn", of the given timeout and
// behaviour, and no event source mapping. It must run in a synctest bubble.
func invokeHost(t *testing.T, timeoutSec int, handler lambda.Handler) (*lambda.Host, *clock.Fake, *syncbuf.Buffer) {
	t.Helper()
	clk := clock.NewFake(t0)
	logs := &syncbuf.Buffer{}
	h, err := lambda.New(lambda.Options{Queues: newFakeQueue(60, clk), Logs: logs, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	h.Register("fn", func(cfg lambda.Config) (lambda.Handler, error) {
		return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			fmt.Fprintf(cfg.Logs, "handling %d records\n", len(ev.Records))
			return handler(ctx, ev)
		}, nil
	})
	if _, err := h.CreateFunction(context.Background(), lambda.Function{Name: "fn", TimeoutSec: timeoutSec, MemoryMB: 128}); err != nil {
		t.Fatal(err)
	}
	return h, clk, logs
}

func TestInvokeReturnsTheResponseAndTheTailOfTheInvocationsLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _, logs := invokeHost(t, 3, func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ev.Records[0].MessageId}}}, nil
		})
		res, err := h.Invoke(context.Background(), "fn", []byte(`{"Records":[{"messageId":"m1","body":"x"}],"unknown":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(res.Payload), `{"batchItemFailures":[{"itemIdentifier":"m1"}]}`; got != want {
			t.Errorf("payload = %s, want %s", got, want)
		}
		if res.FunctionError != "" {
			t.Errorf("FunctionError = %q, want none", res.FunctionError)
		}
		tail := string(res.LogTail)
		for _, want := range []string{"START RequestId: " + res.RequestID + " Version: $LATEST\n", "handling 1 records\n", "END RequestId: " + res.RequestID + "\n", "REPORT RequestId: " + res.RequestID + "\tDuration: "} {
			if !strings.Contains(tail, want) {
				t.Errorf("log tail lacks %q:\n%s", want, tail)
			}
		}
		if !strings.Contains(logs.String(), "REPORT RequestId: "+res.RequestID) {
			t.Errorf("the host's log lacks the invocation:\n%s", logs)
		}
	})
}

func TestTheLogTailKeepsTheLast4KB(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _, _ := invokeHost(t, 3, ok)
		// A function whose one invocation writes about 10 KB of lines.
		h.Register("chatty", func(cfg lambda.Config) (lambda.Handler, error) {
			return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
				for i := range 1000 {
					fmt.Fprintf(cfg.Logs, "line %04d\n", i)
				}
				return events.SQSEventResponse{}, nil
			}, nil
		})
		if _, err := h.CreateFunction(context.Background(), lambda.Function{Name: "chatty", TimeoutSec: 3, MemoryMB: 128}); err != nil {
			t.Fatal(err)
		}
		res, err := h.Invoke(context.Background(), "chatty", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(res.LogTail); got != 4096 {
			t.Errorf("tail is %d bytes, want 4096", got)
		}
		if !strings.Contains(string(res.LogTail), "line 0999\nEND RequestId: ") || strings.Contains(string(res.LogTail), "line 0001\n") {
			t.Errorf("tail is not the log's end:\n%s", res.LogTail)
		}
	})
}

func TestAFailedInvocationIsReportedAsLambdaReportsIt(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		handler lambda.Handler
		want    string
	}{
		{"an error", `{}`, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, errors.New("boom")
		}, `{"errorMessage":"boom","errorType":"errorString"}`},
		{"a panic", `{}`, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			panic("kaboom")
		}, `{"errorMessage":"kaboom","errorType":"string"}`},
		{"a payload of the wrong shape", `{"Records":"not a list"}`, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, nil
		}, `{"errorMessage":"json: cannot unmarshal string into Go struct field SQSEvent.Records of type []events.SQSMessage","errorType":"UnmarshalTypeError"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, _, logs := invokeHost(t, 3, tt.handler)
				res, err := h.Invoke(context.Background(), "fn", []byte(tt.payload))
				if err != nil {
					t.Fatal(err)
				}
				if res.FunctionError != "Unhandled" || string(res.Payload) != tt.want {
					t.Errorf("got %q %s, want Unhandled %s", res.FunctionError, res.Payload, tt.want)
				}
				if !strings.Contains(logs.String(), "ERROR Invoke Error "+tt.want) {
					t.Errorf("the log lacks the error:\n%s", logs)
				}
			})
		})
	}
}

func TestAnInvocationThatOverrunsItsTimeoutIsReportedAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		h, clk, logs := invokeHost(t, 2, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			<-release
			return events.SQSEventResponse{}, nil
		})
		t.Cleanup(func() { close(release) })
		var (
			res lambda.InvokeResult
			err error
			wg  sync.WaitGroup
		)
		wg.Go(func() { res, err = h.Invoke(context.Background(), "fn", []byte(`{}`)) })
		synctest.Wait()
		clk.Advance(2 * time.Second)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		want := `{"errorMessage":"RequestId: ` + res.RequestID + ` Error: Task timed out after 2.00 seconds","errorType":"Sandbox.Timedout"}`
		if res.FunctionError != "Unhandled" || string(res.Payload) != want {
			t.Errorf("got %q %s, want Unhandled %s", res.FunctionError, res.Payload, want)
		}
		if !strings.Contains(logs.String(), res.RequestID+" Task timed out after 2.00 seconds") {
			t.Errorf("the log lacks the timeout:\n%s", logs)
		}
	})
}

func TestInvokeRefusesAnUnknownFunctionAndAClosedHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _, _ := invokeHost(t, 3, ok)
		if _, err := h.Invoke(context.Background(), "nobody", []byte(`{}`)); !errors.Is(err, lambda.ErrFunctionNotFound) {
			t.Errorf("Invoke(nobody) = %v, want ErrFunctionNotFound", err)
		}
		if _, err := h.InvokeAsync("nobody", []byte(`{}`)); !errors.Is(err, lambda.ErrFunctionNotFound) {
			t.Errorf("InvokeAsync(nobody) = %v, want ErrFunctionNotFound", err)
		}
		if err := h.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Invoke(context.Background(), "fn", []byte(`{}`)); err == nil {
			t.Error("Invoke after Close succeeded")
		}
		if _, err := h.InvokeAsync("fn", []byte(`{}`)); err == nil {
			t.Error("InvokeAsync after Close succeeded")
		}
	})
}

func TestAsynchronousInvocationsAreBoundedAndCloseWaitsForThem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		ran := 0
		h, _, _ := invokeHost(t, 60, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			<-release
			mu.Lock()
			ran++
			mu.Unlock()
			return events.SQSEventResponse{}, nil
		})
		for i := range 64 {
			if _, err := h.InvokeAsync("fn", []byte(`{}`)); err != nil {
				t.Fatalf("invocation %d: %v", i, err)
			}
		}
		if _, err := h.InvokeAsync("fn", []byte(`{}`)); !errors.Is(err, lambda.ErrTooManyInvocations) {
			t.Fatalf("the 65th invocation = %v, want ErrTooManyInvocations", err)
		}
		closed := make(chan error, 1)
		go func() { closed <- h.Close(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-closed:
			t.Fatalf("Close returned (%v) while invocations ran", err)
		default:
		}
		close(release)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if ran != 64 {
			t.Errorf("%d invocations ran, want 64", ran)
		}
	})
}

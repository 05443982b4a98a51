package lambda_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/cloud/lambda"
)

func TestAnUpdatedFunctionRunsItsNewCodeAndConfigurationFromTheNextBatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		t.Cleanup(func() { unblock(release) })
		s := start(t, 3, lambda.EventSourceMapping{MaximumConcurrency: 2}, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			<-release
			return events.SQSEventResponse{}, nil
		})
		s.queue.push("m1")
		s.next(t) // the old code holds m1

		type call struct {
			env      string
			deadline time.Time
		}
		calls := make(chan call, 10)
		s.host.Register("ProcessOrderFunction", func(cfg lambda.Config) (lambda.Handler, error) {
			return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				d, _ := ctx.Deadline()
				calls <- call{cfg.Environment["VERSION"], d}
				return events.SQSEventResponse{}, nil
			}, nil
		})
		err := s.host.UpdateFunction(context.Background(), lambda.Function{Name: "ProcessOrderFunction", TimeoutSec: 7, MemoryMB: 256, Environment: map[string]string{"VERSION": "2"}})
		if err != nil {
			t.Fatalf("UpdateFunction: %v", err)
		}
		unblock(release)
		s.settled(t, 1)
		if got := s.queue.deletedIDs(); len(got) != 1 || got[0] != "m1" {
			t.Errorf("after the old code returned, deleted = %v, want [m1]", got)
		}
		updated := s.clock.Now()
		s.queue.push("m2")
		synctest.Wait()
		select {
		case c := <-calls:
			if c.env != "2" {
				t.Errorf("the new code saw VERSION=%q, want 2", c.env)
			}
			if want := updated.Add(7 * time.Second); !c.deadline.Equal(want) {
				t.Errorf("the new code's deadline = %v, want %v (the new timeout of 7 s)", c.deadline, want)
			}
		default:
			t.Fatalf("the updated function was not invoked; logs:\n%s", s.logs)
		}
		s.settled(t, 2)
		if !strings.Contains(s.logs.String(), "Memory Size: 256 MB") {
			t.Errorf("the REPORT line after the update does not say the new memory size:\n%s", s.logs)
		}
		if got := s.state(t).FunctionName; got != "ProcessOrderFunction" {
			t.Errorf("the mapping's function = %q", got)
		}
	})
}

func TestAnUpdateThatTheQueuesVisibilityTimeoutCannotHoldIsRefused(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{}, ok)
		err := s.host.UpdateFunction(context.Background(), lambda.Function{Name: "ProcessOrderFunction", TimeoutSec: 61, MemoryMB: 128})
		want := "lambda: InvalidParameterValueException: Queue visibility timeout: 60 seconds is less than Function timeout: 61 seconds"
		if err == nil || err.Error() != want {
			t.Errorf("UpdateFunction = %v, want %s", err, want)
		}
		if err := s.host.UpdateFunction(context.Background(), lambda.Function{Name: "NoSuchFunction", TimeoutSec: 3}); !errors.Is(err, lambda.ErrFunctionNotFound) {
			t.Errorf("updating a function that does not exist = %v, want ErrFunctionNotFound", err)
		}
	})
}

func TestUpdateEventSourceMappingChangesItsBatchSizeAndConcurrency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{}, ok)
		if st := s.state(t); st.Pollers != 5 || st.BatchSize != 10 {
			t.Fatalf("before: %d pollers, batch size %d", st.Pollers, st.BatchSize)
		}
		err := s.host.UpdateEventSourceMapping(context.Background(), s.mapping, lambda.EventSourceMapping{
			EventSourceArn: queueARN, FunctionName: "ProcessOrderFunction", Enabled: true, BatchSize: 2, MaximumConcurrency: 2})
		if err != nil {
			t.Fatalf("UpdateEventSourceMapping: %v", err)
		}
		synctest.Wait()
		if st := s.state(t); st.State != "Enabled" || st.Pollers != 2 || st.BatchSize != 2 || st.MaximumConcurrency != 2 {
			t.Errorf("after: %+v, want Enabled with 2 pollers, batch size 2, maximum concurrency 2", st)
		}
		s.queue.push("m1", "m2", "m3")
		if got := len(s.next(t).Records); got > 2 {
			t.Errorf("a batch has %d records, want at most the new batch size of 2", got)
		}

		err = s.host.UpdateEventSourceMapping(context.Background(), s.mapping, lambda.EventSourceMapping{
			EventSourceArn: queueARN, FunctionName: "ProcessOrderFunction", Enabled: false, BatchSize: 2})
		if err != nil {
			t.Fatalf("disabling: %v", err)
		}
		synctest.Wait()
		if st := s.state(t); st.State != "Disabled" || st.Pollers != 0 {
			t.Errorf("disabled: %s with %d pollers, want Disabled with none", st.State, st.Pollers)
		}
	})
}

func TestUpdateEventSourceMappingRefusesWhatAWSRefuses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{}, ok)
		base := lambda.EventSourceMapping{EventSourceArn: queueARN, FunctionName: "ProcessOrderFunction", Enabled: true, BatchSize: 10}
		for _, c := range []struct {
			name string
			id   string
			edit func(*lambda.EventSourceMapping)
			want string
		}{
			{"a batch size of zero", "", func(m *lambda.EventSourceMapping) { m.BatchSize = 0 }, "lambda: BatchSize 0 is outside 1–10000"},
			{"a maximum concurrency of one", "", func(m *lambda.EventSourceMapping) { m.MaximumConcurrency = 1 }, "lambda: MaximumConcurrency 1 is outside 2–1000"},
			{"another queue", "", func(m *lambda.EventSourceMapping) { m.EventSourceArn = queueARN + "2" },
				"lambda: the event source of mapping %s cannot change from " + queueARN + " to " + queueARN + "2: create a new mapping"},
			{"a function that does not exist", "", func(m *lambda.EventSourceMapping) { m.FunctionName = "Nope" }, "lambda: function not found: Nope"},
			{"a mapping that does not exist", "no-such-uuid", func(*lambda.EventSourceMapping) {}, "lambda: event source mapping not found: event source mapping no-such-uuid"},
		} {
			func() {
				m := base
				c.edit(&m)
				id := c.id
				if id == "" {
					id = s.mapping
				}
				want := c.want
				if strings.Contains(want, "%s") {
					want = fmt.Sprintf(want, s.mapping)
				}
				err := s.host.UpdateEventSourceMapping(context.Background(), id, m)
				if err == nil || err.Error() != want {
					t.Errorf("%s: got %v, want %s", c.name, err, want)
				}
			}()
		}
		if st := s.state(t); st.State != "Enabled" || st.Pollers != 5 || st.BatchSize != 10 {
			t.Errorf("after refused updates the mapping is %+v, want it unchanged", st)
		}
	})
}

func TestDeleteEventSourceMappingStopsItsPollersAndRemovesIt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{}, ok)
		if err := s.host.DeleteEventSourceMapping(context.Background(), s.mapping); err != nil {
			t.Fatalf("DeleteEventSourceMapping: %v", err)
		}
		if ms := s.host.Mappings(); len(ms) != 0 {
			t.Errorf("after the delete the host has mappings %+v", ms)
		}
		s.queue.push("m1")
		s.noInvocation(t, "once the mapping is deleted")
		if err := s.host.DeleteEventSourceMapping(context.Background(), s.mapping); !errors.Is(err, lambda.ErrMappingNotFound) {
			t.Errorf("deleting it again = %v, want ErrMappingNotFound", err)
		}
	})
}

func TestDeleteFunctionStopsTheMappingsThatInvokeIt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 3, lambda.EventSourceMapping{}, ok)
		if err := s.host.DeleteFunction(context.Background(), "arn:aws:lambda:us-east-1:000000000000:function:ProcessOrderFunction"); err != nil {
			t.Fatalf("DeleteFunction: %v", err)
		}
		if s.host.HasFunction("ProcessOrderFunction") {
			t.Error("the function is still there")
		}
		synctest.Wait()
		if st := s.state(t); st.State != "Disabled" || st.Pollers != 0 {
			t.Errorf("the mapping of a deleted function is %s with %d pollers, want Disabled with none", st.State, st.Pollers)
		}
		s.queue.push("m1")
		s.noInvocation(t, "once the function is deleted")
		if err := s.host.DeleteFunction(context.Background(), "ProcessOrderFunction"); !errors.Is(err, lambda.ErrFunctionNotFound) {
			t.Errorf("deleting it again = %v, want ErrFunctionNotFound", err)
		}
		if err := s.host.DeleteEventSourceMapping(context.Background(), s.mapping); err != nil {
			t.Errorf("deleting the mapping after its function: %v", err)
		}
	})
}

package provision_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/cloud/provision"
)

// functions is a function host that records what it is asked and can only
// create, as the embedded cloud's host today.
type functions struct {
	calls []string
}

func (f *functions) CreateFunction(_ context.Context, fn lambda.Function) (string, error) {
	f.calls = append(f.calls, fmt.Sprintf("create %s timeout %d", fn.Name, fn.TimeoutSec))
	return "arn:aws:lambda:us-east-1:000000000000:function:" + fn.Name, nil
}

func (f *functions) CreateEventSourceMapping(_ context.Context, m lambda.EventSourceMapping) (string, error) {
	f.calls = append(f.calls, fmt.Sprintf("map %s batch %d", m.FunctionName, m.BatchSize))
	return "mapping-1", nil
}

// changingFunctions can also change and delete.
type changingFunctions struct{ functions }

func (f *changingFunctions) UpdateFunction(_ context.Context, fn lambda.Function) error {
	f.calls = append(f.calls, fmt.Sprintf("update %s timeout %d", fn.Name, fn.TimeoutSec))
	return nil
}

func (f *changingFunctions) DeleteFunction(_ context.Context, name string) error {
	f.calls = append(f.calls, "delete "+name)
	return nil
}

func (f *changingFunctions) UpdateEventSourceMapping(_ context.Context, id string, m lambda.EventSourceMapping) error {
	f.calls = append(f.calls, fmt.Sprintf("remap %s batch %d", id, m.BatchSize))
	return nil
}

func (f *changingFunctions) DeleteEventSourceMapping(_ context.Context, id string) error {
	f.calls = append(f.calls, "unmap "+id)
	return nil
}

const functionTemplate = `
Parameters:
  Timeout: {Type: Number, Default: 3}
  Batch: {Type: Number, Default: 10}
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties: {FunctionName: fn, Runtime: provided.al2023, Handler: bootstrap, Role: r, Timeout: !Ref Timeout}
  Map:
    Type: AWS::Lambda::EventSourceMapping
    Properties: {EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:q", FunctionName: !Ref Fn, BatchSize: !Ref Batch}
`

func TestFunctionsAndMappingsChangeInPlaceOnAHostThatCan(t *testing.T) {
	ctx := context.Background()
	host := &changingFunctions{}
	opts := provision.Options{Providers: provision.AWS(awsConfig(), host, &provision.Records{})}
	tpl := parse(t, functionTemplate)
	first, err := provision.Apply(ctx, tpl, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Parameters = map[string]string{"Timeout": "5", "Batch": "4"}
	var events []string
	next, err := provision.Apply(ctx, tpl, opts, first.Stack, func(e provision.Event) { events = append(events, e.LogicalID+" "+e.Status) })
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := provision.Delete(ctx, next.Stack, opts.Providers, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"create fn timeout 3", "map fn batch 10", "update fn timeout 5", "remap mapping-1 batch 4", "unmap mapping-1", "delete fn"}
	if !slices.Equal(host.calls, want) {
		t.Errorf("host calls:\ngot  %q\nwant %q", host.calls, want)
	}
	if want := []string{"Fn UPDATE_IN_PROGRESS", "Fn UPDATE_COMPLETE", "Map UPDATE_IN_PROGRESS", "Map UPDATE_COMPLETE"}; !slices.Equal(events, want) {
		t.Errorf("events:\ngot  %q\nwant %q", events, want)
	}
}

func TestAHostThatCannotChangeFunctionsFailsTheUpdateSayingSo(t *testing.T) {
	ctx := context.Background()
	host := &functions{}
	opts := provision.Options{Providers: provision.AWS(awsConfig(), host, &provision.Records{})}
	tpl := parse(t, functionTemplate)
	first, err := provision.Apply(ctx, tpl, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Parameters = map[string]string{"Batch": "4"}
	_, err = provision.Apply(ctx, tpl, opts, first.Stack, nil)
	if err == nil || !strings.Contains(err.Error(), "update resource Map (AWS::Lambda::EventSourceMapping): the embedded cloud's function host cannot change or delete event source mappings yet") {
		t.Errorf("got %v", err)
	}
	var events []string
	err = provision.Delete(ctx, first.Stack, opts.Providers, func(e provision.Event) { events = append(events, e.LogicalID+" "+e.Status+" "+e.Reason) })
	if err == nil {
		t.Error("Delete succeeded on a host that cannot delete")
	}
	if !slices.Contains(events, "Fn DELETE_FAILED the embedded cloud's function host cannot change or delete functions yet") {
		t.Errorf("events = %q", events)
	}
}

func TestAPlanSaysWhatAnUpdateReplacesWithoutTouchingAnything(t *testing.T) {
	ctx := context.Background()
	host := &changingFunctions{}
	opts := provision.Options{Providers: provision.AWS(awsConfig(), host, &provision.Records{})}
	tpl := parse(t, functionTemplate)
	first, err := provision.Apply(ctx, tpl, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	renamed := parse(t, strings.Replace(functionTemplate, "FunctionName: fn,", "FunctionName: fn2,", 1))
	changes, err := provision.Plan(renamed, opts, first.Stack)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		s := c.Action + " " + c.LogicalID + " " + c.Replacement
		for _, d := range c.Details {
			s += " " + d.Name + ":" + d.RequiresRecreation + ":" + d.Evaluation
		}
		got = append(got, s)
	}
	want := []string{"Modify Fn True FunctionName:Always:Static", "Modify Map False FunctionName:Never:Dynamic"}
	if !slices.Equal(got, want) {
		t.Errorf("plan:\ngot  %q\nwant %q", got, want)
	}
	if len(host.calls) != 2 {
		t.Errorf("the plan called the host: %q", host.calls)
	}
}

// awsConfig is a config for providers whose clients the test never calls.
func awsConfig() aws.Config { return aws.Config{Region: "us-east-1"} }

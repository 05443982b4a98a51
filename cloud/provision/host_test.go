package provision_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/cloud/provision"
	"github.com/orderflow/orderflow/internal/slowtest"
	"github.com/orderflow/orderflow/internal/syncbuf"
)

// idleQueues is a queue API with queues that never hold a message.
type idleQueues struct{}

func (idleQueues) Lookup(_ context.Context, arn string) (lambda.QueueInfo, error) {
	return lambda.QueueInfo{ARN: arn, VisibilityTimeoutSec: 60}, nil
}

func (idleQueues) Receive(ctx context.Context, _ lambda.QueueInfo, _ int, _ time.Duration) ([]events.SQSMessage, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (idleQueues) Delete(context.Context, lambda.QueueInfo, []events.SQSMessage) error { return nil }

func newHost(t *testing.T, logs *syncbuf.Buffer) *lambda.Host {
	t.Helper()
	h, err := lambda.New(lambda.Options{Queues: idleQueues{}, Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

func TestTheRealHostChangesAndDeletesFunctionsAndMappingsInPlace(t *testing.T) {
	ctx := context.Background()
	host := newHost(t, &syncbuf.Buffer{})
	var timeouts []int
	host.Register("fn", func(cfg lambda.Config) (lambda.Handler, error) {
		timeouts = append(timeouts, cfg.TimeoutSec)
		return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, nil
		}, nil
	})
	opts := provision.Options{Providers: provision.AWS(awsConfig(), host, &provision.Records{})}
	tpl := parse(t, functionTemplate)
	first, err := provision.Apply(ctx, tpl, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Parameters = map[string]string{"Timeout": "5", "Batch": "4"}
	var events []string
	next, err := provision.Apply(ctx, tpl, opts, first.Stack, func(e provision.Event) { events = append(events, e.LogicalID+" "+e.Status+" "+e.Reason) })
	if err != nil {
		t.Fatalf("update: %v (events %q)", err, events)
	}
	if err := next.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(timeouts), "[3 5]"; got != want {
		t.Errorf("the function was built with timeouts %s, want %s", got, want)
	}
	ms := host.Mappings()
	if len(ms) != 1 || ms[0].BatchSize != 4 || ms[0].State != "Enabled" {
		t.Errorf("after the update the mappings are %+v, want one, enabled, of batch size 4", ms)
	}
	if err := provision.Delete(ctx, next.Stack, opts.Providers, nil); err != nil {
		t.Fatal(err)
	}
	if host.HasFunction("fn") || len(host.Mappings()) != 0 {
		t.Errorf("after the delete: function there %v, mappings %+v", host.HasFunction("fn"), host.Mappings())
	}
}

// objects is a code source holding zips by bucket/key.
type objects map[string][]byte

func (o objects) Object(_ context.Context, bucket, key string) ([]byte, error) {
	b, ok := o[bucket+"/"+key]
	if !ok {
		return nil, fmt.Errorf("%w: s3://%s/%s", fs.ErrNotExist, bucket, key)
	}
	return b, nil
}

func zipOf(t *testing.T, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: name, Method: zip.Deflate}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(body))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const codeTemplate = `
Parameters:
  Key: {Type: String, Default: missing.zip}
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: fn
      Runtime: provided.al2023
      Handler: bootstrap
      Role: r
      Code: {S3Bucket: artifacts, S3Key: !Ref Key}
`

func TestAFunctionRunsTheZipItsCodeNamesOrElseItsRegisteredHandler(t *testing.T) {
	slowtest.Skip(t, "runs a function as a child process")
	ctx := context.Background()
	logs := &syncbuf.Buffer{}
	host := newHost(t, logs)
	host.Register("fn", func(cfg lambda.Config) (lambda.Handler, error) {
		return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			fmt.Fprintln(cfg.Logs, "the in-process handler ran")
			return events.SQSEventResponse{}, nil
		}, nil
	})
	code := objects{
		"artifacts/fn.zip":      zipOf(t, "bootstrap", "#!/bin/sh\necho the zip bootstrap ran\nexit 3\n"),
		"artifacts/nobootstrap": zipOf(t, "main", "#!/bin/sh\n"),
	}
	opts := provision.Options{Providers: provision.AWSWithCode(awsConfig(), host, &provision.Records{}, code)}
	tpl := parse(t, codeTemplate)

	// The object does not exist: the registered handler runs.
	first, err := provision.Apply(ctx, tpl, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := host.Invoke(ctx, "fn", []byte(`{"Records":[]}`)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "the in-process handler ran") {
		t.Errorf("the registered handler did not run:\n%s", logs)
	}

	// An update to an object that exists: the zip runs.
	opts.Parameters = map[string]string{"Key": "fn.zip"}
	next, err := provision.Apply(ctx, tpl, opts, first.Stack, nil)
	if err != nil {
		t.Fatal(err)
	}
	host.Invoke(ctx, "fn", []byte(`{"Records":[]}`)) // the bootstrap exits at once: the invocation fails
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "the zip bootstrap ran") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "the zip bootstrap ran") {
		t.Errorf("the zip's bootstrap did not run:\n%s", logs)
	}

	// A zip the host cannot run fails the update, saying why.
	opts.Parameters = map[string]string{"Key": "nobootstrap"}
	_, err = provision.Apply(ctx, tpl, opts, next.Stack, nil)
	if err == nil || !strings.Contains(err.Error(), "the zip has no bootstrap at its root") {
		t.Errorf("an update to a zip without bootstrap = %v", err)
	}
}

func TestAFunctionWithNoCodeAnywhereNamesTheObjectAndTheFix(t *testing.T) {
	ctx := context.Background()
	host := newHost(t, &syncbuf.Buffer{})
	opts := provision.Options{Providers: provision.AWSWithCode(awsConfig(), host, &provision.Records{}, objects{})}
	_, err := provision.Apply(ctx, parse(t, codeTemplate), opts, nil, nil)
	want := "the function fn's code s3://artifacts/missing.zip does not exist in the embedded cloud's S3, and no in-process handler is registered under its name: upload the zip there first (orderflow deploy does)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v\nwant it to say %s", err, want)
	}
}

func TestTheRealHostRefusesAFIFOMappingAWSWouldRefuse(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ props, want string }{
		{"MaximumBatchingWindowInSeconds: 5", "Batching window is not supported for FIFO queues"},
		{"BatchSize: 20, MaximumBatchingWindowInSeconds: 0", "BatchSize 20 is above 10, the most for a FIFO queue"},
	} {
		host := newHost(t, &syncbuf.Buffer{})
		host.Register("fn", func(lambda.Config) (lambda.Handler, error) {
			return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
				return events.SQSEventResponse{}, nil
			}, nil
		})
		opts := provision.Options{Providers: provision.AWS(awsConfig(), host, &provision.Records{})}
		tpl := parse(t, `
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties: {FunctionName: fn, Runtime: provided.al2023, Handler: bootstrap, Role: r}
  Map:
    Type: AWS::Lambda::EventSourceMapping
    Properties: {EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:q.fifo", FunctionName: !Ref Fn, `+tt.props+`}
`)
		_, err := provision.Apply(ctx, tpl, opts, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Apply error = %v, want it to say %q", tt.props, err, tt.want)
		}
		if ms := host.Mappings(); len(ms) != 0 {
			t.Errorf("%s: the host has mappings %+v, want none", tt.props, ms)
		}
	}
}

package crossclient_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/lambda"
)

func TestTheAWSCLIInvokesAFunction(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t)
			c.Lambda.Register("worker", func(fc lambda.Config) (lambda.Handler, error) {
				return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
					fmt.Fprintf(fc.Logs, "worked on %s\n", ev.Records[0].Body)
					if ev.Records[0].Body == "fail" {
						return events.SQSEventResponse{}, errors.New("boom")
					}
					return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ev.Records[0].MessageId}}}, nil
				}, nil
			})
			if _, err := c.Lambda.CreateFunction(context.Background(), lambda.Function{Name: "worker", TimeoutSec: 5, MemoryMB: 128}); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			event := filepath.Join(dir, "event.json")
			out := filepath.Join(dir, "out.json")
			write := func(body string) {
				t.Helper()
				if err := os.WriteFile(event, []byte(`{"Records":[{"messageId":"m1","body":"`+body+`"}]}`), 0o600); err != nil {
					t.Fatal(err)
				}
			}

			write("job-7")
			got := a.run(t, c, "lambda", "invoke", "--function-name", "worker", "--payload", "fileb://"+event, "--log-type", "Tail", out)
			if got["StatusCode"] != float64(200) || got["ExecutedVersion"] != "$LATEST" || got["FunctionError"] != nil {
				t.Errorf("invoke printed %v", got)
			}
			logs, _ := base64.StdEncoding.DecodeString(fmt.Sprint(got["LogResult"]))
			if !strings.Contains(string(logs), "worked on job-7\n") || !strings.Contains(string(logs), "REPORT RequestId: ") {
				t.Errorf("LogResult = %q", logs)
			}
			if b, _ := os.ReadFile(out); string(b) != `{"batchItemFailures":[{"itemIdentifier":"m1"}]}` {
				t.Errorf("the response file holds %s", b)
			}

			write("fail")
			got = a.run(t, c, "lambda", "invoke", "--function-name", "arn:aws:lambda:us-east-1:000000000000:function:worker", "--payload", "fileb://"+event, out)
			if got["StatusCode"] != float64(200) || got["FunctionError"] != "Unhandled" {
				t.Errorf("a failing invoke printed %v", got)
			}
			if b, _ := os.ReadFile(out); string(b) != `{"errorMessage":"boom","errorType":"errorString"}` {
				t.Errorf("the response file holds %s", b)
			}

			got = a.run(t, c, "lambda", "invoke", "--function-name", "worker", "--invocation-type", "Event", "--payload", "fileb://"+event, out)
			if got["StatusCode"] != float64(202) {
				t.Errorf("an Event invoke printed %v", got)
			}
			if msg := a.fail(t, c, "lambda", "invoke", "--function-name", "nobody", out); !strings.Contains(msg, "(ResourceNotFoundException) when calling the Invoke operation: Function not found: arn:aws:lambda:us-east-1:000000000000:function:nobody:$LATEST") {
				t.Errorf("invoking an unknown function printed %s", msg)
			}
			if layers := a.run(t, c, "lambda", "list-layers"); fmt.Sprint(layers["Layers"]) != "[]" {
				t.Errorf("list-layers printed %v", layers)
			}
		})
	}
}

func TestTheAWSCLIGetsTheCallerIdentity(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t, func(o *cloud.Options) { o.AccountID = "123456789012" })
			got := a.run(t, c, "sts", "get-caller-identity")
			if got["Account"] != "123456789012" || got["Arn"] != "arn:aws:iam::123456789012:root" || got["UserId"] != "123456789012" {
				t.Errorf("get-caller-identity printed %v", got)
			}
			if msg := a.fail(t, c, "sts", "get-session-token"); !strings.Contains(msg, "(InvalidAction) when calling the GetSessionToken operation: The embedded cloud's STS answers only GetCallerIdentity") {
				t.Errorf("get-session-token printed %s", msg)
			}
		})
	}
}

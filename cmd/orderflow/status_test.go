package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslogs "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

func TestStatusExplainsMessagesInFlight(t *testing.T) {
	ctx := context.Background()
	l, err := startLocal(ctx, localOptions{addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out := l.Stack.Outputs
	cfg := l.Cloud.Config()
	// The function stops reading, as after a restart of what read: the
	// messages received are left in flight.
	if _, err := awslambda.NewFromConfig(cfg).UpdateEventSourceMapping(ctx, &awslambda.UpdateEventSourceMappingInput{
		UUID: aws.String(out["OrderEventSourceMappingId"]), Enabled: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	sqsClient := awssqs.NewFromConfig(cfg)
	for _, q := range []string{out["OrderQueueUrl"], out["OrderQueueUrl"], out["OrderDLQUrl"]} {
		if _, err := sqsClient.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	var received []string // OrderQueue's receipt handles
	for _, q := range []string{out["OrderQueueUrl"], out["OrderDLQUrl"]} {
		got, err := sqsClient.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Messages) == 0 {
			t.Fatalf("received nothing from %s", q)
		}
		for _, m := range got.Messages {
			if q == out["OrderQueueUrl"] {
				received = append(received, aws.ToString(m.ReceiptHandle))
			}
		}
	}
	getenv := emptyEnvironment(t, closedPort(t))
	endpoint := l.Cloud.URL()

	code, stdout, stderr := runCaptured(t, []string{"status", "--endpoint", endpoint}, getenv)
	if code != 0 {
		t.Fatalf("status exited %d: %s", code, stderr)
	}
	for _, want := range []string{
		"\nOrderQueue: 2 messages are in flight: received and not yet deleted; if the reader is gone (e.g. after a restart) they become visible again within the queue's visibility timeout (1 minute 30 seconds) of their receive.\n",
		"\nOrderDLQ: 1 message is in flight: received and not yet deleted; if the reader is gone (e.g. after a restart) they become visible again within the queue's visibility timeout (30 seconds) of their receive.\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}

	code, stdout, stderr = runCaptured(t, []string{"status", "--endpoint", endpoint, "--json"}, getenv)
	if code != 0 || !strings.Contains(stdout, `"orderQueueVisibilityTimeoutSeconds": 90`) {
		t.Errorf("status --json exited %d: %s%s", code, stdout, stderr)
	}

	code, stdout, stderr = runCaptured(t, []string{"status", "--endpoint", endpoint, "--wait", "1s"}, getenv)
	want := "orderflow: OrderQueue still holds 0 visible, 2 in flight and 0 delayed messages after 1 second (--wait 1s); the 2 in flight were received and not yet deleted, " +
		"and if the reader is gone (e.g. after a restart) they become visible again within the queue's visibility timeout (1 minute 30 seconds) of their receive: wait longer (e.g. --wait 2m)\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("status --wait 1s: exit %d, stdout %q\nstderr %q\nwant   %q", code, stdout, stderr, want)
	}

	// Given back, they are visible: the mapping is what would take them.
	for _, h := range received {
		if _, err := sqsClient.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(out["OrderQueueUrl"]), ReceiptHandle: aws.String(h), VisibilityTimeout: 0}); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr = runCaptured(t, []string{"status", "--endpoint", endpoint, "--wait", "1s"}, getenv)
	want = "orderflow: OrderQueue still holds 2 visible, 0 in flight and 0 delayed messages after 1 second (--wait 1s); wait longer (e.g. --wait 2s) if the event source mapping is enabled (`orderflow status` shows its state)\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("status --wait 1s: exit %d, stdout %q\nstderr %q\nwant   %q", code, stdout, stderr, want)
	}
	code, stdout, _ = runCaptured(t, []string{"status", "--endpoint", endpoint}, getenv)
	if code != 0 || strings.Contains(stdout, "OrderQueue: ") {
		t.Errorf("status with nothing in flight in OrderQueue exited %d and said:\n%s", code, stdout)
	}
}

func TestLogsBeforeTheLogGroupExistsSaysSo(t *testing.T) {
	ctx := context.Background()
	l, err := startLocal(ctx, localOptions{addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// On AWS the function's group may appear only when it first runs.
	group := l.Stack.Outputs["ProcessOrderFunctionLogGroupName"]
	if _, err := awslogs.NewFromConfig(l.Cloud.Config()).DeleteLogGroup(ctx, &awslogs.DeleteLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCaptured(t, []string{"logs", "--endpoint", l.Cloud.URL()}, emptyEnvironment(t, closedPort(t)))
	want := "No log lines: the log group /aws/lambda/ProcessOrderFunction does not exist yet; the function creates it when it first runs.\n"
	if code != 0 || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q\nstderr %q\nwant   %q", code, stdout, stderr, want)
	}
}

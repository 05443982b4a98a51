package processorder

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/orderflow/orderflow/internal/awstest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestTheBootstrapWiresTheFunctionFromItsEnvironment(t *testing.T) {
	ddb, _ := awstest.DynamoDB(t, "MyOrders")
	// The config is built explicitly, pointing at the test DynamoDB API; the
	// seed order is valid, so the dead-letter queue is never called.
	cfg := aws.Config{
		Region:      awstest.Region,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	cfg.BaseEndpoint = ddb.Options().BaseEndpoint
	var logs bytes.Buffer
	h, err := New(cfg, env(map[string]string{
		"ORDERS_TABLE": "MyOrders", "DLQ_URL": "http://dlq", "LOG_LEVEL": "debug",
		"AWS_LAMBDA_FUNCTION_NAME": "orders-fn",
	}), &logs)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := os.ReadFile("../../handler/testdata/sqs-sns-seed.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"batchItemFailures":null}` {
		t.Errorf("response = %s, want no failures", out)
	}
	// The record's log line, then the invocation's metrics (EMF), both on stdout.
	lines := bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n"))
	var line, metrics map[string]any
	if len(lines) != 2 || json.Unmarshal(lines[0], &line) != nil || line["outcome"] != "stored" ||
		json.Unmarshal(lines[1], &metrics) != nil || metrics["_aws"] == nil || metrics["Stored"] != 1.0 || metrics["FunctionName"] != "orders-fn" {
		t.Errorf("log = %s, want a JSON line with outcome stored, then an EMF line with Stored 1 and FunctionName orders-fn", logs.String())
	}
}

func TestTheBootstrapRefusesABadEnvironment(t *testing.T) {
	cfg := aws.Config{Region: awstest.Region}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing set", nil, "environment variable ORDERS_TABLE and DLQ_URL must be set"},
		{"no DLQ", map[string]string{"ORDERS_TABLE": "Orders"}, "environment variable DLQ_URL must be set"},
		{"a bad log level", map[string]string{"ORDERS_TABLE": "Orders", "DLQ_URL": "u", "LOG_LEVEL": "loud"}, `LOG_LEVEL is "loud"; it must be debug, info, warn or error`},
		{"a bad concurrency", map[string]string{"ORDERS_TABLE": "Orders", "DLQ_URL": "u", "CONCURRENCY": "0"}, `CONCURRENCY is "0"; it must be a whole number of at least 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(cfg, env(tt.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newHandler error = %v, want %q", err, tt.want)
			}
		})
	}
}

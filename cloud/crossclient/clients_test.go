package crossclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/awscli"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// Node.js and the JavaScript SDK: what is missing when one is not found
// (and where it was looked for), and how to install it (the AWS CLI's are
// awscli.MissingV2 and awscli.InstallV2).
const (
	missingNode  = "Node.js (no node on PATH)"
	installNode  = "install Node.js and npm (apt-get install nodejs npm as root), then run make deps"
	missingJSSDK = "the AWS SDK for JavaScript v3 (no cloud/crossclient/js/node_modules/@aws-sdk/client-sqs)"
	installJSSDK = "run make deps, or cd cloud/crossclient/js && npm ci"
)

// missing skips the test on a developer's machine and fails it in CI,
// where make deps must have installed the client, saying what is missing
// and the command that installs it.
func missing(t *testing.T, what, install string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("missing: %s, which CI needs; %s", what, install)
	}
	t.Skipf("missing: %s; %s", what, install)
}

// cleanEnv is the whole environment a client gets: dummy credentials, the
// region, and no configuration files, so nothing ambient (a profile,
// AWS_CA_BUNDLE, AWS_ENDPOINT_URL) reaches it.
func cleanEnv(t *testing.T, c *cloud.Cloud) []string {
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"AWS_ACCESS_KEY_ID=orderflow",
		"AWS_SECRET_ACCESS_KEY=orderflow",
		"AWS_DEFAULT_REGION=" + c.Region(),
		"AWS_REGION=" + c.Region(),
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
		"ENDPOINT=" + c.URL(),
	}
}

// cli is one AWS CLI build.
type cli struct {
	name string
	path string
}

// clis finds the AWS CLI v2 and v1 (package awscli: Debian's /usr/bin/aws
// or any aws on PATH, told apart by their --version).
func clis(t *testing.T) []cli {
	t.Helper()
	slowtest.Skip(t, "drives the AWS CLI, a child process per call")
	var out []cli
	v2, v1 := awscli.Find(os.Getenv("PATH"))
	if v2 != "" {
		out = append(out, cli{"AWS CLI v2", v2})
	} else {
		missing(t, awscli.MissingV2, awscli.InstallV2)
	}
	if v1 != "" {
		out = append(out, cli{"AWS CLI v1", v1})
	}
	return out
}

// run runs the CLI against the cloud and decodes its JSON output (if any).
func (a cli) run(t *testing.T, c *cloud.Cloud, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.path, append([]string{"--endpoint-url", c.URL(), "--output", "json"}, args...)...)
	cmd.Env = cleanEnv(t, c)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", a.name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if stdout.Len() == 0 {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: output is not JSON: %v\n%s", a.name, strings.Join(args, " "), err, stdout.String())
	}
	return out
}

func TestTheAWSCLIDrivesDynamoDB(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t)
			a.run(t, c, "dynamodb", "create-table", "--table-name", "Orders",
				"--attribute-definitions", "AttributeName=orderId,AttributeType=S",
				"--key-schema", "AttributeName=orderId,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
			tables := a.run(t, c, "dynamodb", "list-tables")
			if names, _ := tables["TableNames"].([]any); len(names) != 1 || names[0] != "Orders" {
				t.Errorf("list-tables = %v", tables)
			}
			a.run(t, c, "dynamodb", "put-item", "--table-name", "Orders",
				"--item", `{"orderId":{"S":"O1234"},"quantity":{"N":"1"}}`)
			got := a.run(t, c, "dynamodb", "get-item", "--table-name", "Orders", "--key", `{"orderId":{"S":"O1234"}}`)
			item, _ := got["Item"].(map[string]any)
			if q, _ := item["quantity"].(map[string]any); q["N"] != "1" {
				t.Errorf("get-item = %v", got)
			}
		})
	}
}

// needJS skips (or in CI fails) a test of the JavaScript SDK where Node.js
// or the SDK is missing, and under go test -short.
func needJS(t *testing.T) {
	t.Helper()
	slowtest.Skip(t, "drives the AWS SDK for JavaScript v3 in Node.js, a child process")
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, missingNode, installNode)
	}
	if _, err := os.Stat("js/node_modules/@aws-sdk/client-sqs"); err != nil {
		missing(t, missingJSSDK, installJSSDK)
	}
}

// node runs a script of the js directory with the AWS SDK for JavaScript v3
// against the cloud and returns what it printed as JSON. env adds to (and
// overrides) cleanEnv's variables.
func node(t *testing.T, c *cloud.Cloud, script string, env ...string) map[string]any {
	t.Helper()
	needJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = "js"
	cmd.Env = append(cleanEnv(t, c), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n%s%s", script, err, stdout.String(), stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("node %s printed no JSON: %v\n%s%s", script, err, stdout.String(), stderr.String())
	}
	return out
}

func TestTheJavaScriptSDKDrivesDynamoDB(t *testing.T) {
	needJS(t)
	c, _ := cloudtest.Start(t)
	out := node(t, c, "dynamodb.mjs")
	if out["quantity"] != "1" || out["tables"] != "Orders" {
		t.Errorf("node dynamodb.mjs = %v", out)
	}
}

// fail runs the CLI expecting it to fail and returns what it printed.
func (a cli) fail(t *testing.T, c *cloud.Cloud, args ...string) string {
	t.Helper()
	cmd := exec.Command(a.path, append([]string{"--endpoint-url", c.URL(), "--output", "json"}, args...)...)
	cmd.Env = cleanEnv(t, c)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s %s succeeded, want a failure:\n%s", a.name, strings.Join(args, " "), out)
	}
	return string(out)
}

func TestTheAWSCLIDrivesSQS(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t)
			url := a.run(t, c, "sqs", "create-queue", "--queue-name", "OrderQueue", "--attributes", "VisibilityTimeout=30")["QueueUrl"].(string)
			// The CLI checks the body and attribute digests of what it sends and receives.
			sent := a.run(t, c, "sqs", "send-message", "--queue-url", url, "--message-body", `{"orderId":"O1234"}`,
				"--message-attributes", `{"source":{"DataType":"String","StringValue":"shop"},"n":{"DataType":"Number","StringValue":"7"},"b":{"DataType":"Binary","BinaryValue":"AQID"}}`)
			if sent["MessageId"] == nil || sent["MD5OfMessageAttributes"] == nil {
				t.Errorf("send-message = %v", sent)
			}
			got := a.run(t, c, "sqs", "receive-message", "--queue-url", url, "--attribute-names", "All",
				"--message-attribute-names", "All", "--wait-time-seconds", "1")
			msgs, _ := got["Messages"].([]any)
			if len(msgs) != 1 {
				t.Fatalf("receive-message = %v", got)
			}
			m := msgs[0].(map[string]any)
			if m["Body"] != `{"orderId":"O1234"}` || m["Attributes"].(map[string]any)["ApproximateReceiveCount"] != "1" {
				t.Errorf("message = %v", m)
			}
			// v2 reads a blob argument as base64; v1 takes it as the raw bytes
			// "AQID", which it prints back base64-encoded.
			wantBinary := map[string]string{"AWS CLI v2": "AQID", "AWS CLI v1": "QVFJRA=="}[a.name]
			attrs := m["MessageAttributes"].(map[string]any)
			if attrs["source"].(map[string]any)["StringValue"] != "shop" || attrs["b"].(map[string]any)["BinaryValue"] != wantBinary {
				t.Errorf("message attributes = %v", attrs)
			}
			a.run(t, c, "sqs", "delete-message", "--queue-url", url, "--receipt-handle", m["ReceiptHandle"].(string))
			q := a.run(t, c, "sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"].(map[string]any)
			if q["ApproximateNumberOfMessages"] != "0" || q["ApproximateNumberOfMessagesNotVisible"] != "0" || q["VisibilityTimeout"] != "30" {
				t.Errorf("queue attributes after delete = %v", q)
			}
			if out := a.fail(t, c, "sqs", "get-queue-url", "--queue-name", "Nope"); !strings.Contains(out, "NonExistentQueue") && !strings.Contains(out, "QueueDoesNotExist") {
				t.Errorf("get-queue-url of a missing queue printed %s", out)
			}
		})
	}
}

func TestTheJavaScriptSDKDrivesSQS(t *testing.T) {
	needJS(t)
	c, _ := cloudtest.Start(t)
	out := node(t, c, "sqs.mjs")
	if out["body"] != `{"orderId":"O1234"}` || out["attr"] != "shop" || out["count"] != "1" || out["left"] != "0" || out["missing"] != "QueueDoesNotExist" {
		t.Errorf("node sqs.mjs = %v", out)
	}
}

// policyFor lets topicARN send to queueARN, as the template's queue policy does.
func policyFor(queueARN, topicARN string) string {
	b, _ := json.Marshal(map[string]any{"Policy": fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":%q,"Condition":{"ArnEquals":{"aws:SourceArn":%q}}}]}`, queueARN, topicARN)})
	return string(b)
}

func TestTheAWSCLIDrivesSNSIntoSQS(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t)
			topic := a.run(t, c, "sns", "create-topic", "--name", "OrderTopic")["TopicArn"].(string)
			url := a.run(t, c, "sqs", "create-queue", "--queue-name", "OrderQueue")["QueueUrl"].(string)
			queueARN := a.run(t, c, "sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "QueueArn")["Attributes"].(map[string]any)["QueueArn"].(string)
			a.run(t, c, "sqs", "set-queue-attributes", "--queue-url", url, "--attributes", policyFor(queueARN, topic))
			sub := a.run(t, c, "sns", "subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint", queueARN, "--return-subscription-arn")
			if !strings.HasPrefix(fmt.Sprint(sub["SubscriptionArn"]), topic+":") {
				t.Errorf("subscribe = %v", sub)
			}
			subs := a.run(t, c, "sns", "list-subscriptions-by-topic", "--topic-arn", topic)["Subscriptions"].([]any)
			if len(subs) != 1 {
				t.Errorf("subscriptions = %v", subs)
			}
			pub := a.run(t, c, "sns", "publish", "--topic-arn", topic, "--subject", "order", "--message", `{"orderId":"O1234"}`,
				"--message-attributes", `{"kind":{"DataType":"String","StringValue":"order"}}`)
			got := a.run(t, c, "sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "2")
			msgs, _ := got["Messages"].([]any)
			if len(msgs) != 1 {
				t.Fatalf("receive-message = %v", got)
			}
			var env map[string]any
			if err := json.Unmarshal([]byte(msgs[0].(map[string]any)["Body"].(string)), &env); err != nil {
				t.Fatalf("body is not an SNS envelope: %v", err)
			}
			attrs, _ := env["MessageAttributes"].(map[string]any)
			kind, _ := attrs["kind"].(map[string]any)
			if env["Type"] != "Notification" || env["MessageId"] != pub["MessageId"] || env["TopicArn"] != topic ||
				env["Message"] != `{"orderId":"O1234"}` || env["Subject"] != "order" || kind["Value"] != "order" || env["Signature"] == "" {
				t.Errorf("envelope = %v", env)
			}
			if out := a.fail(t, c, "sns", "publish", "--topic-arn", topic+"-missing", "--message", "x"); !strings.Contains(out, "NotFound") {
				t.Errorf("publish to a missing topic printed %s", out)
			}
		})
	}
}

func TestTheJavaScriptSDKDrivesSNSIntoSQS(t *testing.T) {
	needJS(t)
	c, _ := cloudtest.Start(t)
	out := node(t, c, "sns.mjs")
	if out["type"] != "Notification" || out["message"] != `{"orderId":"O1234"}` || out["raw"] != `{"orderId":"O5678"}` || out["missing"] != "NotFoundException" {
		t.Errorf("node sns.mjs = %v", out)
	}
}

// opsTemplate deploys a queue and a function whose lines reach its log group.
const opsTemplate = `
Resources:
  Work: {Type: AWS::SQS::Queue, Properties: {QueueName: work}}
  Fn: {Type: AWS::Lambda::Function, Properties: {FunctionName: worker, Runtime: provided.al2023, Handler: bootstrap, Timeout: 3}}
  Mapping: {Type: AWS::Lambda::EventSourceMapping, Properties: {EventSourceArn: !GetAtt Work.Arn, FunctionName: !Ref Fn, BatchSize: 1}}
Outputs:
  QueueUrl: {Value: !Ref Work}
  MappingId: {Value: !Ref Mapping}
`

func TestTheAWSCLIReadsStacksMappingsAndLogs(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t)
			c.Lambda.Register("worker", func(fc lambda.Config) (lambda.Handler, error) {
				return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
					fmt.Fprintf(fc.Logs, "worked on %s\n", ev.Records[0].Body)
					return events.SQSEventResponse{}, nil
				}, nil
			})
			st, err := c.Deploy(context.Background(), []byte(opsTemplate), "ops", nil)
			if err != nil {
				t.Fatal(err)
			}
			stacks := a.run(t, c, "cloudformation", "describe-stacks", "--stack-name", "ops")["Stacks"].([]any)
			outputs := stacks[0].(map[string]any)["Outputs"].([]any)
			if len(outputs) != 2 || stacks[0].(map[string]any)["StackStatus"] != "CREATE_COMPLETE" {
				t.Errorf("describe-stacks = %v", stacks)
			}
			m := a.run(t, c, "lambda", "get-event-source-mapping", "--uuid", st.Outputs["MappingId"])
			if m["State"] != "Enabled" || m["BatchSize"] != float64(1) {
				t.Errorf("get-event-source-mapping = %v", m)
			}
			a.run(t, c, "sqs", "send-message", "--queue-url", st.Outputs["QueueUrl"], "--message-body", "job-7")
			var got map[string]any
			if !poll.Within(15*time.Second, func() bool {
				got = a.run(t, c, "logs", "filter-log-events", "--log-group-name", "/aws/lambda/worker", "--filter-pattern", "job-7")
				evs, _ := got["events"].([]any)
				return len(evs) == 1
			}) {
				t.Fatalf("the function's line never reached its log group: %v", got)
			}
			if a.name == "AWS CLI v2" { // `logs tail` is v2's
				cmd := exec.Command(a.path, "--endpoint-url", c.URL(), "logs", "tail", "/aws/lambda/worker", "--since", "5m")
				cmd.Env = cleanEnv(t, c)
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), "worked on job-7") || !strings.Contains(string(out), "REPORT RequestId") {
					t.Errorf("logs tail: %v\n%s", err, out)
				}
			}
			if out := a.fail(t, c, "cloudformation", "describe-stacks", "--stack-name", "nope"); !strings.Contains(out, "Stack with id nope does not exist") {
				t.Errorf("describe-stacks of a missing stack printed %s", out)
			}
		})
	}
}

func TestTheAWSCLISignsAsRequireAuthExpects(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t, func(o *cloud.Options) { o.Credentials = map[string]string{"AKIDCLITEST": "cli-secret"} })
			run := func(secret string, args ...string) (string, error) {
				cmd := exec.Command(a.path, append([]string{"--endpoint-url", c.URL(), "--output", "json"}, args...)...)
				env := cleanEnv(t, c)
				for i, kv := range env {
					switch {
					case strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID="):
						env[i] = "AWS_ACCESS_KEY_ID=AKIDCLITEST"
					case strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY="):
						env[i] = "AWS_SECRET_ACCESS_KEY=" + secret
					}
				}
				cmd.Env = append(env, "AWS_MAX_ATTEMPTS=1")
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			// Query (v2) or JSON (v1) for SQS, Query for SNS, JSON for DynamoDB.
			for _, args := range [][]string{
				{"sqs", "create-queue", "--queue-name", "signed"},
				{"sns", "create-topic", "--name", "signed"},
				{"dynamodb", "list-tables"},
			} {
				if out, err := run("cli-secret", args...); err != nil {
					t.Errorf("%s with the right key: %v\n%s", strings.Join(args[:2], " "), err, out)
				}
			}
			if out, err := run("wrong", "sqs", "list-queues"); err == nil || !strings.Contains(out, "SignatureDoesNotMatch") {
				t.Errorf("a wrong secret: %v\n%s", err, out)
			}
		})
	}
}

func TestTheJavaScriptSDKSignsAsRequireAuthExpects(t *testing.T) {
	needJS(t)
	c, _ := cloudtest.Start(t, func(o *cloud.Options) { o.Credentials = map[string]string{"AKIDJSTEST": "js-secret"} })
	out := node(t, c, "auth.mjs", "AWS_ACCESS_KEY_ID=AKIDJSTEST", "AWS_SECRET_ACCESS_KEY=js-secret")
	if out["error"] != nil || out["sqs"] != "body with spaces & symbols = ok" || out["sns"] != "arn:aws:sns:us-east-1:000000000000:signed" || out["dynamodb"] != "0" {
		t.Errorf("node auth.mjs with the right key = %v", out)
	}
	out = node(t, c, "auth.mjs", "AWS_ACCESS_KEY_ID=AKIDJSTEST", "AWS_SECRET_ACCESS_KEY=wrong")
	if out["error"] != "SignatureDoesNotMatch" || out["status"] != "403" {
		t.Errorf("node auth.mjs with a wrong secret = %v", out)
	}
}

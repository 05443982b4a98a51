package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// startMoto starts moto_server, an independent implementation of S3,
// CloudFormation and the services the template names, on a free loopback
// port. Without it the test skips, except in CI, where it fails.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		msg := "missing: moto_server (pip install 'moto[server]'), the independent S3 and CloudFormation that orderflow deploy is tested against"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + ", which CI needs")
		}
		t.Skip(msg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var logs logBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if !poll.Within(30*time.Second, func() bool {
		resp, err := http.Get(url + "/moto-api/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}) {
		t.Fatalf("moto_server did not answer within 30 s:\n%s", logs.String())
	}
	return url
}

// deployEnv is the process environment the commands' credential chain
// reads: moto's keys, nothing ambient.
func deployEnv(t *testing.T) func(string) string {
	t.Helper()
	// deploy runs go build: keep the go command's caches (under HOME by
	// default) while HOME changes.
	for k, v := range goEnvironment(t) {
		if k != "HOME" {
			t.Setenv(k, v)
		}
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_PROFILE", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	return func(k string) string {
		return map[string]string{"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}[k]
	}
}

// runWith runs `orderflow args…` with getenv, bounded in time.
func runWith(t *testing.T, getenv func(string) string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code = run(ctx, args, getenv, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// orderflow deploy against an implementation of S3 and CloudFormation that
// is not ours: it builds the function, creates the bucket, uploads the zip
// under its digest, creates the stack through a change set, finds nothing
// to do the second time, updates a parameter the third, and destroy keeps
// the table, as the template's DeletionPolicy says.
func TestDeployCreatesUpdatesAndDestroysTheStackOnMoto(t *testing.T) {
	slowtest.Skip(t, "builds the function and deploys it to moto_server")
	url := startMoto(t)
	getenv := deployEnv(t)
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(args ...string) (int, string, string) {
		return runWith(t, getenv, "", append([]string{"deploy", "--endpoint", url, "--source", src}, args...)...)
	}

	code, out, errOut := deploy("--yes")
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"Building ProcessOrderFunction for linux/",
		"Created the artefact bucket orderflow-artifacts-123456789012-us-east-1 in us-east-1.\n",
		"Uploaded s3://orderflow-artifacts-123456789012-us-east-1/orderflow/ProcessOrderFunction-",
		"The change set would create stack orderflow:\n",
		"  Add     OrderQueue ",
		"  Add     OrdersTable ",
		"\nStack orderflow is CREATE_COMPLETE at " + url + ".\n",
		"  orderflow publish --endpoint " + url + " --file testdata/seed-order.json\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the first deploy does not say %q:\n%s", want, out)
		}
	}
	cfg := sdkConfig(url)
	key := stackParameter(t, cfg, "CodeS3Key")
	obj, err := awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = true }).HeadObject(context.Background(),
		&awss3.HeadObjectInput{Bucket: aws.String("orderflow-artifacts-123456789012-us-east-1"), Key: aws.String(key)})
	if err != nil || aws.ToInt64(obj.ContentLength) < 1<<20 {
		t.Fatalf("the stack's CodeS3Key %q is not an uploaded zip: %v %v", key, obj, err)
	}

	// moto keeps no outputs for a stack a change set created: the
	// operating commands read the stack's resources instead.
	code, out, errOut = runWith(t, getenv, "", "trace", "--endpoint", url, "O1234")
	if code != 0 || errOut != "" || out != "Order O1234: no event of it in /aws/lambda/ProcessOrderFunction; Orders holds nothing of it.\n" {
		t.Errorf("trace on moto: exit %d, stderr %q\n%s", code, errOut, out)
	}
	code, out, errOut = runWith(t, getenv, "", "status", "--endpoint", url)
	if code != 0 || errOut != "" || !strings.Contains(out, "OrderQueue  0 visible, 0 in flight, 0 delayed\n") {
		t.Errorf("status on moto: exit %d, stderr %q\n%s", code, errOut, out)
	}

	// The same build again: nothing to change.
	code, out, errOut = deploy("--yes")
	if code != 0 || !strings.Contains(out, "is already there (the same build).\n") || !strings.Contains(out, "No changes: stack orderflow at "+url+" is up to date with this build ("+key+").\n") {
		t.Fatalf("a second deploy of the same build: exit %d\n%s%s", code, out, errOut)
	}

	// A parameter changes; the others keep their values.
	code, out, errOut = deploy("--param", "MaxReceiveCount=5", "--param", "BatchSize=5")
	if code != 0 || !strings.Contains(out, "Stack orderflow is UPDATE_COMPLETE at "+url+".\n") {
		t.Fatalf("deploy --param: exit %d\n%s%s", code, out, errOut)
	}
	if got := stackParameter(t, cfg, "MaxReceiveCount"); got != "5" {
		t.Errorf("MaxReceiveCount = %q after deploy --param MaxReceiveCount=5", got)
	}
	code, out, errOut = deploy("--param", "MaxReceiveCount=5", "--yes")
	if code != 0 || stackParameter(t, cfg, "BatchSize") != "5" || stackParameter(t, cfg, "CodeS3Key") != key {
		t.Errorf("a deploy without --param BatchSize did not keep BatchSize=5 and the code: exit %d\n%s%s", code, out, errOut)
	}

	// destroy: not without --yes when nothing can ask; then the table stays.
	code, out, errOut = runWith(t, getenv, "", "destroy", "--endpoint", url)
	if code != 1 || errOut != "orderflow: destroy deletes stack orderflow at "+url+": pass --yes to do it without a terminal to ask\n" || out != "" {
		t.Fatalf("destroy without --yes: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runWith(t, getenv, "", "destroy", "--endpoint", url, "--yes")
	if code != 0 || !strings.Contains(out, "Stack orderflow is deleted from "+url+".\n") ||
		!strings.Contains(out, "Kept, as the template's DeletionPolicy says: OrdersTable (AWS::DynamoDB::Table") {
		t.Fatalf("destroy --yes: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := awsddb.NewFromConfig(cfg).DescribeTable(context.Background(), &awsddb.DescribeTableInput{TableName: aws.String("Orders")}); err != nil {
		t.Errorf("Orders is gone after destroy, although its DeletionPolicy is Retain: %v", err)
	}
	code, out, _ = runWith(t, getenv, "", "destroy", "--endpoint", url, "--yes")
	if code != 0 || out != "Stack orderflow does not exist at "+url+": nothing to delete.\n" {
		t.Errorf("a second destroy: exit %d\n%s", code, out)
	}
}

func stackParameter(t *testing.T, cfg aws.Config, name string) string {
	t.Helper()
	out, err := awscfn.NewFromConfig(cfg).DescribeStacks(context.Background(), &awscfn.DescribeStacksInput{StackName: aws.String("orderflow")})
	if err != nil || len(out.Stacks) != 1 {
		t.Fatalf("DescribeStacks: %v %v", out, err)
	}
	for _, p := range out.Stacks[0].Parameters {
		if aws.ToString(p.ParameterKey) == name {
			return aws.ToString(p.ParameterValue)
		}
	}
	return ""
}

// What deploy refuses before it builds or calls anything, each in one
// sentence.
func TestDeployRefusesBadInputInOneSentence(t *testing.T) {
	getenv := deployEnv(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"deploy", "--stack", "1orders"}, 2, `orderflow: --stack "1orders" is not a stack name AWS accepts: a letter, then letters, digits and hyphens, at most 128 characters`},
		{[]string{"deploy", "--stack", "orders_prod"}, 2, `orderflow: --stack "orders_prod" is not a stack name AWS accepts`},
		{[]string{"deploy", "--bucket", "My_Bucket"}, 2, `orderflow: --bucket "My_Bucket" is not a bucket name S3 accepts`},
		{[]string{"deploy", "--bucket", "ab"}, 2, `orderflow: --bucket "ab" is not a bucket name S3 accepts`},
		{[]string{"deploy", "--param", "Nope=1", "--endpoint", "http://127.0.0.1:1"}, 2, "orderflow: --param Nope: deploy/template.yaml has no such parameter (it has AlarmActionArn, BatchSize, "},
		{[]string{"deploy", "--param", "Nope"}, 2, `orderflow: --param "Nope" must be Name=Value`},
		{[]string{"deploy", "--source", t.TempDir(), "--endpoint", "http://127.0.0.1:1"}, 1, " is not in the orderflow source tree: run it in your clone, or give --source DIR"},
	} {
		code, out, errOut := runWith(t, getenv, "", c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") > 2 || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit %d and %q", c.args, code, errOut, out, c.code, c.want)
		}
	}
}

// A change set that replaces or removes the table is called out, and
// deploy treats it as risky; one that does not is not.
func TestDeployCallsOutAChangeSetThatReplacesOrRemovesTheTable(t *testing.T) {
	change := func(action cfntypes.ChangeAction, id, typ string, replacement cfntypes.Replacement) cfntypes.Change {
		return cfntypes.Change{ResourceChange: &cfntypes.ResourceChange{Action: action, LogicalResourceId: aws.String(id), ResourceType: aws.String(typ), Replacement: replacement}}
	}
	for _, c := range []struct {
		changes []cfntypes.Change
		risky   string
	}{
		{[]cfntypes.Change{change(cfntypes.ChangeActionModify, "OrderQueue", "AWS::SQS::Queue", cfntypes.ReplacementFalse)}, ""},
		{[]cfntypes.Change{change(cfntypes.ChangeActionModify, "OrderQueue", "AWS::SQS::Queue", cfntypes.ReplacementTrue)}, ""},
		{[]cfntypes.Change{change(cfntypes.ChangeActionModify, "OrdersTable", "AWS::DynamoDB::Table", cfntypes.ReplacementFalse)}, ""},
		{[]cfntypes.Change{change(cfntypes.ChangeActionModify, "OrdersTable", "AWS::DynamoDB::Table", cfntypes.ReplacementTrue)}, "replaces the OrdersTable table"},
		{[]cfntypes.Change{change(cfntypes.ChangeActionModify, "OrdersTable", "AWS::DynamoDB::Table", cfntypes.ReplacementConditional)}, "replaces the OrdersTable table"},
		{[]cfntypes.Change{change(cfntypes.ChangeActionRemove, "OrdersTable", "AWS::DynamoDB::Table", "")}, "removes the OrdersTable table"},
	} {
		var out strings.Builder
		risky := printChanges(&out, "orderflow", cfntypes.ChangeSetTypeUpdate, c.changes)
		if risky != c.risky {
			t.Errorf("%+v: risky %q, want %q", *c.changes[0].ResourceChange, risky, c.risky)
		}
		if warned := strings.Contains(out.String(), "WARNING: this change set "+c.risky+":"); warned != (c.risky != "") {
			t.Errorf("%+v: warned %v:\n%s", *c.changes[0].ResourceChange, warned, out.String())
		}
	}
}

// orderflow deploy to a running embedded cloud, end to end: it builds the
// function, uploads the zip to the cloud's S3, and updates the stack that
// up created; the function then runs that zip as a child process (only the
// zip runtime writes Max Memory Used in its REPORT lines), which stores the
// seed order; destroy then deletes the stack and keeps Orders.
func TestDeployToTheEmbeddedCloudRunsTheZip(t *testing.T) {
	slowtest.Skip(t, "builds the function and deploys it to an embedded cloud")
	getenv := deployEnv(t)
	logs := &logBuffer{}
	l, err := startLocal(context.Background(), localOptions{addr: "127.0.0.1:0", functionLogs: logs})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	url := l.Cloud.URL()
	code, out, errOut := runWith(t, getenv, "", "deploy", "--endpoint", url, "--source", src, "--yes")
	if code != 0 || errOut != "" {
		t.Fatalf("deploy: exit %d, stderr %q\nstdout:\n%s", code, errOut, out)
	}
	for _, w := range []string{
		"Uploaded s3://orderflow-artifacts-000000000000-us-east-1/orderflow/ProcessOrderFunction-",
		"  Modify  ProcessOrderFunction  AWS::Lambda::Function  False\n",
		"\nStack orderflow is UPDATE_COMPLETE at " + url + ".\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	cfg := sdkConfig(url)
	publishSeed(t, cfg)
	poll.Until(t, 60*time.Second, "the seed order stored by the deployed function", func() bool { return storedOrder(t, cfg) != nil })
	poll.Until(t, 10*time.Second, "a REPORT line of the zip runtime", func() bool {
		return regexp.MustCompile(`REPORT RequestId: \S+\tDuration: [0-9.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB`).MatchString(logs.String())
	})

	// A parameter changes: the change set shows the queue modified in
	// place, and the queue's redrive policy follows.
	code, out, errOut = runWith(t, getenv, "", "deploy", "--endpoint", url, "--source", src, "--yes", "--param", "MaxReceiveCount=5")
	if code != 0 || errOut != "" || !strings.Contains(out, "  Modify  OrderQueue  AWS::SQS::Queue  False\n") ||
		strings.Contains(out, "ProcessOrderFunction  AWS::Lambda::Function") || !strings.Contains(out, "\nStack orderflow is UPDATE_COMPLETE at "+url+".\n") {
		t.Fatalf("deploy --param MaxReceiveCount=5: exit %d, stderr %q\nstdout:\n%s", code, errOut, out)
	}
	if got := redriveMaxReceiveCount(t, cfg); got != 5 {
		t.Errorf("OrderQueue's maxReceiveCount = %d after deploy --param MaxReceiveCount=5", got)
	}

	// An update that fails (the renamed queue's name is the DLQ's) rolls
	// back: the failing resource and the service's reason on stdout, one
	// sentence with the rollback's outcome on stderr, exit 1, and the
	// pipeline as it was.
	code, out, errOut = runWith(t, getenv, "", "deploy", "--endpoint", url, "--source", src, "--yes", "--param", "QueueName=OrderDLQ")
	failed := regexp.MustCompile(`UPDATE_FAILED +OrderQueue +AWS::SQS::Queue +Resource handler returned message: "A queue already exists with the same name and a different value for attribute \w+" \(Service: SQS, Status Code: 400, Request ID: [0-9a-f-]+, Error Code: QueueAlreadyExists\)\n`)
	if code != 1 || !failed.MatchString(out) || !strings.Contains(out, "UPDATE_ROLLBACK_COMPLETE ") || strings.Contains(out, "is UPDATE_COMPLETE") ||
		!strings.HasPrefix(errOut, "orderflow: stack orderflow failed: OrderQueue (AWS::SQS::Queue) UPDATE_FAILED: Resource handler returned message: \"A queue already exists") ||
		!strings.HasSuffix(errOut, "; the rollback left it UPDATE_ROLLBACK_COMPLETE: fix the cause and deploy again\n") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("a failing update: exit %d, stderr %q\nstdout:\n%s", code, errOut, out)
	}
	if got := stackParameter(t, cfg, "QueueName"); got != "OrderQueue" {
		t.Errorf("QueueName = %q after the rolled-back update, want OrderQueue", got)
	}
	if got := redriveMaxReceiveCount(t, cfg); got != 5 {
		t.Errorf("OrderQueue's maxReceiveCount = %d after the rolled-back update, want the 5 it had", got)
	}
	second := strings.Replace(string(seedOrder), `"O1234"`, `"O1235"`, 1)
	publishOrder(t, cfg, second)
	poll.Until(t, 60*time.Second, "order O1235, published after the rollback, stored by the deployed function", func() bool { return storedOrderID(t, cfg, "O1235") })

	code, out, errOut = runWith(t, getenv, "", "destroy", "--endpoint", url, "--yes")
	if code != 0 || !strings.Contains(out, "Stack orderflow is deleted from "+url+".\n") ||
		!strings.Contains(out, "Kept, as the template's DeletionPolicy says: OrdersTable (AWS::DynamoDB::Table") {
		t.Fatalf("destroy --yes: exit %d, stderr %q\nstdout:\n%s", code, errOut, out)
	}
	if storedOrder(t, cfg) == nil {
		t.Error("the seed order is gone from Orders after destroy, although its DeletionPolicy is Retain")
	}
}

// publishOrder publishes msg to OrderTopic.
func publishOrder(t *testing.T, cfg aws.Config, msg string) {
	t.Helper()
	if _, err := awssns.NewFromConfig(cfg).Publish(context.Background(), &awssns.PublishInput{
		TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:OrderTopic"), Message: aws.String(msg)}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// storedOrderID says whether Orders holds the order id.
func storedOrderID(t *testing.T, cfg aws.Config, id string) bool {
	t.Helper()
	out, err := awsddb.NewFromConfig(cfg).GetItem(context.Background(), &awsddb.GetItemInput{TableName: aws.String("Orders"),
		Key: map[string]ddbtypes.AttributeValue{"orderId": &ddbtypes.AttributeValueMemberS{Value: id}}})
	if err != nil {
		t.Fatalf("GetItem %s: %v", id, err)
	}
	return out.Item != nil
}

// redriveMaxReceiveCount reads OrderQueue's redrive policy's
// maxReceiveCount.
func redriveMaxReceiveCount(t *testing.T, cfg aws.Config) int {
	t.Helper()
	c := awssqs.NewFromConfig(cfg)
	u, err := c.GetQueueUrl(context.Background(), &awssqs.GetQueueUrlInput{QueueName: aws.String("OrderQueue")})
	if err != nil {
		t.Fatalf("GetQueueUrl: %v", err)
	}
	a, err := c.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{QueueUrl: u.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	var p struct{ MaxReceiveCount json.Number }
	if err := json.Unmarshal([]byte(a.Attributes["RedrivePolicy"]), &p); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", a.Attributes["RedrivePolicy"], err)
	}
	n, _ := p.MaxReceiveCount.Int64()
	return int(n)
}

// The artefact bucket must be in the stack's region. S3 tells where a
// bucket is in x-amz-bucket-region: on a 200 when asked in its region or
// through a global endpoint, and on the 301 it answers when asked in
// another (aws-sdk-go-v2: "StatusCode: 301 … api error MovedPermanently").
// Either way deploy refuses in one sentence, before uploading anything; a
// missing bucket is created in the stack's region.
func TestDeployRefusesAnArtefactBucketInAnotherRegion(t *testing.T) {
	for _, c := range []struct {
		name        string
		status      int
		region      string
		wantErr     string
		wantCreated string
	}{
		{"a 301 naming another region", http.StatusMovedPermanently, "eu-west-1", "bucket art is in eu-west-1, not in us-west-2 where the stack is: Lambda reads code only from a bucket in its own region; give --bucket a bucket in us-west-2", ""},
		{"a 200 naming another region", http.StatusOK, "eu-west-1", "bucket art is in eu-west-1, not in us-west-2 where the stack is: Lambda reads code only from a bucket in its own region; give --bucket a bucket in us-west-2", ""},
		{"a 200 in the stack's region", http.StatusOK, "us-west-2", "", ""},
		{"a missing bucket", http.StatusNotFound, "", "", "<LocationConstraint>us-west-2</LocationConstraint>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var created, writes strings.Builder
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/art" {
					t.Errorf("%s %s: not the bucket", r.Method, r.URL.Path)
				}
				switch r.Method {
				case http.MethodHead:
					if c.region != "" {
						w.Header().Set("X-Amz-Bucket-Region", c.region)
					}
					w.WriteHeader(c.status)
				case http.MethodPut:
					b, _ := io.ReadAll(r.Body)
					created.Write(b)
				default:
					writes.WriteString(r.Method + " ")
					w.WriteHeader(http.StatusMethodNotAllowed)
				}
			}))
			defer srv.Close()
			cfg := sdkConfig(srv.URL)
			cfg.Region = "us-west-2"
			tg := &target{cfg: cfg, endpoint: srv.URL, stack: "orderflow"}
			var out strings.Builder
			e := &env{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard}
			s3c := awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = true })
			err := ensureBucket(context.Background(), e, tg, s3c, "art", "us-west-2")
			if got := fmt.Sprint(err); (c.wantErr == "" && err != nil) || (c.wantErr != "" && got != c.wantErr) {
				t.Errorf("error %q, want %q", got, c.wantErr)
			}
			if !strings.Contains(created.String(), c.wantCreated) || (c.wantCreated == "") != (created.Len() == 0) {
				t.Errorf("CreateBucket body %q, want one holding %q", created.String(), c.wantCreated)
			}
			if c.wantCreated != "" && out.String() != "Created the artefact bucket art in us-west-2.\n" {
				t.Errorf("stdout %q", out.String())
			}
			if writes.Len() != 0 {
				t.Errorf("unexpected calls: %s", writes.String())
			}
		})
	}
}

package cloud_test

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslogs "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
	"github.com/orderflow/orderflow/internal/syncbuf"
)

// buildBootstrapZip builds cmd/bootstrap for goarch as `make zip` does and
// packages it.
func buildBootstrapZip(t testing.TB, goarch string) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", bin, "../cmd/bootstrap")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const seedBody = `{"Type":"Notification","MessageId":"2b7f7a29-31a9-5ee3-9b6a-3c6b6c1ad0f1","TopicArn":"arn:aws:sns:us-east-1:000000000000:OrderTopic","Subject":"order",` +
	`"Message":"{\"orderId\":\"O1234\",\"userId\":\"U123\",\"itemName\":\"Laptop\",\"quantity\":1,\"status\":\"new\",\"timestamp\":\"2025-05-03T12:00:00Z\"}",` +
	`"Timestamp":"2025-05-03T12:00:00.512Z","SignatureVersion":"1","Signature":"EXAMPLE","SigningCertURL":"https://sns.us-east-1.amazonaws.com/x.pem","UnsubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}`

// The function's real artefact, cmd/bootstrap zipped, runs as a child
// process of the embedded cloud: the event source mapping drives it, its
// SDK calls reach the cloud, and its REPORT lines say what the process
// used. On the host's architecture natively, and as arm64 (what ships to
// AWS) under qemu-user where the machine is not arm64.
func TestTheZippedBootstrapStoresAnOrderWhenTheMappingDrivesIt(t *testing.T) {
	slowtest.Skip(t, "builds the bootstrap binary and runs it as a child process of the cloud")
	archs := []struct{ goarch, lambdaArch string }{{runtime.GOARCH, map[string]string{"amd64": "x86_64"}[runtime.GOARCH]}}
	if archs[0].lambdaArch == "" {
		archs[0].lambdaArch = runtime.GOARCH
	}
	if runtime.GOARCH != "arm64" {
		archs = append(archs, struct{ goarch, lambdaArch string }{"arm64", "arm64"})
	}
	for _, a := range archs {
		t.Run(a.lambdaArch, func(t *testing.T) {
			emulated := a.goarch != runtime.GOARCH
			if emulated {
				if _, err := exec.LookPath("qemu-aarch64-static"); err != nil {
					if os.Getenv("CI") != "" {
						t.Fatal("qemu-aarch64-static is not on PATH: make deps installs qemu-user-static")
					}
					t.Skip("qemu-aarch64-static is not on PATH (apt-get install qemu-user-static): the arm64 artefact cannot be emulated here")
				}
			}
			runZipOrder(t, a.goarch, a.lambdaArch, emulated)
		})
	}
}

func runZipOrder(t *testing.T, goarch, arch string, emulated bool) {
	logs := &syncbuf.Buffer{}
	c, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.FunctionLogs = logs })
	ctx := context.Background()
	ddb := awsddb.NewFromConfig(cfg)
	if _, err := ddb.CreateTable(ctx, &awsddb.CreateTableInput{
		TableName:            aws.String("Orders"),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("orderId"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("orderId"), KeyType: ddbtypes.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	sqs := awssqs.NewFromConfig(cfg)
	dlq, err := sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("OrderDLQ")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("OrderQueue"), Attributes: map[string]string{"VisibilityTimeout": "60"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Lambda.RegisterZip("ProcessOrderFunction", buildBootstrapZip(t, goarch))
	if _, err := c.Lambda.CreateFunction(ctx, lambda.Function{Name: "ProcessOrderFunction", Runtime: "provided.al2023", Handler: "bootstrap",
		Architectures: []string{arch}, TimeoutSec: 10, MemoryMB: 128,
		Environment: map[string]string{"ORDERS_TABLE": "Orders", "DLQ_URL": aws.ToString(dlq.QueueUrl)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lambda.CreateEventSourceMapping(ctx, lambda.EventSourceMapping{FunctionName: "ProcessOrderFunction",
		EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:OrderQueue", BatchSize: 10, Enabled: true, ReportBatchItemFailure: true, MaximumConcurrency: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := sqs.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(seedBody)}); err != nil {
		t.Fatal(err)
	}
	stored := poll.Within(30*time.Second, func() bool {
		out, err := ddb.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: map[string]ddbtypes.AttributeValue{"orderId": &ddbtypes.AttributeValueMemberS{Value: "O1234"}}})
		return err == nil && len(out.Item) > 0
	})
	if !stored {
		t.Fatalf("the order O1234 was not stored within 30 s; the function's log:\n%s", logs.String())
	}
	report := regexp.MustCompile(`REPORT RequestId: \S+\tDuration: [0-9.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: [1-9]\d* MB\tInit Duration: [0-9.]+ ms(.*)\n`)
	var m []string
	if !poll.Within(10*time.Second, func() bool { m = report.FindStringSubmatch(logs.String()); return m != nil }) {
		t.Fatalf("no cold start's REPORT line with Max Memory Used and Init Duration; the log:\n%s", logs.String())
	}
	t.Logf("the cold start's REPORT line: %s", strings.TrimSpace(m[0]))
	wantTail := ""
	if emulated {
		wantTail = "\tEmulation: arm64 on " + map[string]string{"amd64": "x86_64"}[runtime.GOARCH] + " (qemu-aarch64-static)"
	}
	if m[1] != wantTail {
		t.Errorf("REPORT line ends %q, want %q", m[1], wantTail)
	}
	if !strings.Contains(logs.String(), `"outcome":"stored"`) {
		t.Errorf("the function's own log lines are not in its log:\n%s", logs.String())
	}
	// The same lines are in the function's CloudWatch log group.
	cwl := awslogs.NewFromConfig(cfg)
	var inGroup string
	if !poll.Within(10*time.Second, func() bool {
		out, err := cwl.FilterLogEvents(ctx, &awslogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/ProcessOrderFunction")})
		if err != nil {
			return false
		}
		var b strings.Builder
		for _, e := range out.Events {
			b.WriteString(aws.ToString(e.Message))
		}
		inGroup = b.String()
		return strings.Contains(inGroup, "REPORT RequestId: ") && strings.Contains(inGroup, `"outcome":"stored"`)
	}) {
		t.Errorf("the log group /aws/lambda/ProcessOrderFunction lacks the REPORT line or the function's own lines:\n%s", inGroup)
	}
	if pids := c.Lambda.FunctionPids("ProcessOrderFunction"); len(pids) != 1 {
		t.Errorf("the function runs in %v, want one warm environment", pids)
	}
}

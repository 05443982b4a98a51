package main

import (
	"context"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cloud/lambda"
)

// testCeiling serves a new ceiling on 127.0.0.1 and an SDK config for it.
func testCeiling(t *testing.T) (*ceiling, aws.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	c := newCeiling("http://" + srv.Listener.Addr().String())
	srv.Config.Handler = c
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	return c, cfg
}

// The SQS cycle through the SDK: the SDK checks the MD5 of every body sent
// and received, so a wrong canned answer fails here.
func TestCeilingSQSJSONAnswersPassTheSDKsChecks(t *testing.T) {
	_, cfg := testCeiling(t)
	ctx := context.Background()
	q := &sdkSQS{awssqs.NewFromConfig(cfg)}
	url, err := q.createQueue(ctx, "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.sendBatch(ctx, url, cycleBodies); err != nil {
		t.Fatalf("SendMessageBatch: %v", err)
	}
	rh, err := q.receiveHandles(ctx, url, 10)
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	if len(rh) != 10 {
		t.Fatalf("received %d messages, want 10", len(rh))
	}
	for n := 1; n <= 10; n++ {
		if err := q.deleteBatch(ctx, url, rh[:n]); err != nil {
			t.Fatalf("DeleteMessageBatch of %d: %v", n, err)
		}
	}
	// A body the canned answer was not made for fails the SDK's check: the
	// check is on.
	other := append([]string{"another body"}, cycleBodies[1:]...)
	if err := q.sendBatch(ctx, url, other); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("SendMessageBatch of another body: %v, want the SDK's checksum error", err)
	}
}

func TestCeilingSQSQueryAnswers(t *testing.T) {
	c, _ := testCeiling(t)
	ctx := context.Background()
	q := newQuerySQS(c.url)
	url, err := q.createQueue(ctx, "c", nil)
	if err != nil || !strings.HasPrefix(url, c.url+"/") {
		t.Fatalf("CreateQueue: %q, %v", url, err)
	}
	if err := q.sendBatch(ctx, url, cycleBodies); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.receive(ctx, url, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 10 {
		t.Fatalf("received %d messages, want 10", len(msgs))
	}
	for _, m := range msgs {
		if md5hex(m.Body) != m.MD5OfBody || m.ReceiptHandle == "" || len(m.Attributes) != 4 {
			t.Fatalf("message %+v: MD5OfBody, receipt handle or attributes wrong", m)
		}
	}
	if err := q.deleteBatch(ctx, url, []string{msgs[0].ReceiptHandle, msgs[1].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	// An action the ceiling does not answer is refused, not answered with
	// another action's answer.
	if err := q.call(ctx, url, map[string][]string{"Action": {"PurgeQueue"}}, nil); err == nil || !strings.Contains(err.Error(), "InvalidAction") {
		t.Fatalf("PurgeQueue: %v, want InvalidAction", err)
	}
}

// Publish and PublishBatch are answered and counted, and the function host
// fed in process receives exactly the orders published, then waits.
func TestCeilingSNSAndTheFunctionsQueue(t *testing.T) {
	c, cfg := testCeiling(t)
	ctx := context.Background()
	sns := awssns.NewFromConfig(cfg)
	if _, err := sns.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:T"), Message: aws.String("{}")}); err != nil {
		t.Fatal(err)
	}
	var entries []snstypes.PublishBatchRequestEntry
	for i := range 10 {
		entries = append(entries, snstypes.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), Message: aws.String("{}")})
	}
	out, err := sns.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:T"), PublishBatchRequestEntries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Successful) != 10 || len(out.Failed) != 0 {
		t.Fatalf("PublishBatch: %d successful, %d failed, want 10 and 0", len(out.Successful), len(out.Failed))
	}
	q := ceilingQueues{c}
	var got []int
	for range 3 {
		recs, err := q.Receive(ctx, lambda.QueueInfo{}, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, len(recs))
	}
	if got[0] != 10 || got[1] != 1 || got[2] != 0 {
		t.Fatalf("receives got %v orders, want [10 1 0] (11 published)", got)
	}
	start := time.Now()
	go func() { time.Sleep(50 * time.Millisecond); c.give(1) }()
	recs, _ := q.Receive(ctx, lambda.QueueInfo{}, 10, 20*time.Second)
	if len(recs) != 1 || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("a waiting receive got %d orders after %s, want 1 when it was published", len(recs), time.Since(start))
	}
	if recs[0].Md5OfBody != md5hex(recs[0].Body) || !strings.Contains(recs[0].Body, `"orderId"`) {
		t.Fatalf("record %+v is not a canned order", recs[0])
	}
}

// DynamoDB's answers carry the CRC32 the SDK checks.
func TestCeilingDynamoDBPutItem(t *testing.T) {
	c, cfg := testCeiling(t)
	ctx := context.Background()
	db := awsddb.NewFromConfig(cfg)
	if err := createOrdersTable(ctx, db, "Orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"),
		Item: map[string]ddbtypes.AttributeValue{"orderId": &ddbtypes.AttributeValueMemberS{Value: "o-1"}}}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.url, strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.PutItem")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10); resp.Header.Get("X-Amz-Crc32") != want {
		t.Fatalf("X-Amz-Crc32 %q, want %q for %q", resp.Header.Get("X-Amz-Crc32"), want, body)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		frames []string
		want   string
	}{
		{[]string{"encoding/xml.(*printer).marshalValue", of + "cloud/awsproto.writeXML", of + "cloud/sqs.(*Service).serveQuery", of + "cloud.(*edge).ServeHTTP", "net/http.(*conn).serve"}, "server: encode"},
		{[]string{"net/url.parseQuery", "net/http.(*Request).ParseForm", of + "cloud.(*edge).route", "net/http.(*conn).serve"}, "server: decode"},
		{[]string{of + "cloud/sqs.(*Engine).receiveLocked", of + "cloud/sqs.runReceiveMessage", "net/http.(*conn).serve"}, "server: engine, SQS"},
		{[]string{"syscall.Fdatasync", of + "cloud/journal.(*Journal).commitLoop"}, "journal (committer, applier)"},
		{[]string{"internal/poll.(*FD).Read", "net/http.(*conn).readRequest", "net/http.(*conn).serve"}, "server: net/http (read, parse, write)"},
		{[]string{"encoding/json.Unmarshal", of + "cloud/cloudwatch.(*store).ingestEMF", of + "handler.(*emf).write", of + "cloud/lambda.(*mapping).invoke"}, "function: its log lines into CloudWatch Logs, EMF metrics"},
		{[]string{"net/http.(*persistConn).readLoop"}, "client (the bench's SDK or Query client, HTTP client)"},
		// A stack cut short: the SDK call under orderflow's cloud.Config
		// client is a client's, not orderflow's work in the background.
		{[]string{"net/http.(*Transport).roundTrip", of + "internal/ownbody.Client.Do", "github.com/aws/smithy-go/transport/http.ClientHandler.Handle"}, "client (the bench's SDK or Query client, HTTP client)"},
		{[]string{of + "internal/ownbody.Client.Do", "github.com/aws/aws-sdk-go-v2/service/dynamodb.(*Client).PutItem"}, "function: the handler's SDK calls (client side)"},
		{[]string{of + "cloud/sqs.(*Engine).SendMessage", of + "cloud.snsToSQS.Deliver"}, "orderflow in the background (deliveries, timers)"},
		{[]string{"crypto/rsa.GenerateKey", of + "cloud.Start"}, startUp},
		{[]string{"runtime.findRunnable", "runtime.schedule"}, "runtime (scheduler, netpoll, other)"},
	} {
		if got := classify(tc.frames); got != tc.want {
			t.Errorf("classify(%v) = %q, want %q", tc.frames, got, tc.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/sqs"

	"github.com/orderflow/orderflow/internal/local"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// logBuffer collects the function host's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the function's JSON log lines about orderID.
func (l *logBuffer) records(orderID string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["orderId"] == orderID {
			out = append(out, m)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type pipeline struct {
	*local.Pipeline
	logs *logBuffer
	sns  *awssns.Client
	sqs  *awssqs.Client
	ddb  *awsddb.Client
}

func startPipeline(t *testing.T, params map[string]string) *pipeline {
	t.Helper()
	logs := &logBuffer{}
	l, err := startLocal(context.Background(), localOptions{addr: "127.0.0.1:0", params: params, functionLogs: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	cfg := l.Cloud.Config()
	return &pipeline{Pipeline: l, logs: logs, sns: awssns.NewFromConfig(cfg), sqs: awssqs.NewFromConfig(cfg), ddb: awsddb.NewFromConfig(cfg)}
}

func (p *pipeline) publish(t *testing.T, body string) {
	t.Helper()
	if _, err := p.sns.Publish(context.Background(), &awssns.PublishInput{TopicArn: aws.String(p.Output("OrderTopicArn")), Message: aws.String(body)}); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// outcomes waits until the function has logged n outcomes for orderID and
// returns them in order.
func (p *pipeline) outcomes(t *testing.T, orderID string, n int) []string {
	t.Helper()
	var got []string
	poll.Until(t, 20*time.Second, fmt.Sprintf("%d outcomes for %s", n, orderID), func() bool {
		got = got[:0]
		for _, r := range p.logs.records(orderID) {
			got = append(got, fmt.Sprint(r["outcome"]))
		}
		return len(got) >= n
	})
	return got
}

func (p *pipeline) item(t *testing.T, id string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := p.ddb.GetItem(context.Background(), &awsddb.GetItemInput{
		TableName: aws.String(p.Output("OrdersTableName")),
		Key:       map[string]ddbtypes.AttributeValue{"orderId": &ddbtypes.AttributeValueMemberS{Value: id}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func (p *pipeline) itemCount(t *testing.T) int {
	t.Helper()
	out, err := p.ddb.Scan(context.Background(), &awsddb.ScanInput{TableName: aws.String(p.Output("OrdersTableName"))})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Items)
}

func order(id, status, ts string) string {
	return fmt.Sprintf(`{"orderId":%q,"userId":"U123","itemName":"Laptop","quantity":1,"status":%q,"timestamp":%q}`, id, status, ts)
}

func TestTheSeedOrderPublishedToOrderTopicIsStoredWithTheSeedsExactAttributes(t *testing.T) {
	p := startPipeline(t, nil)
	p.publish(t, string(seedOrder))
	var item map[string]ddbtypes.AttributeValue
	poll.Until(t, 20*time.Second, "the seed order in Orders", func() bool { item = p.item(t, "O1234"); return item != nil })
	var seed map[string]any
	if err := json.Unmarshal(seedOrder, &seed); err != nil {
		t.Fatal(err)
	}
	for name, v := range seed {
		var ok bool
		switch v := v.(type) {
		case string:
			s, isS := item[name].(*ddbtypes.AttributeValueMemberS)
			ok = isS && s.Value == v
		case float64:
			n, isN := item[name].(*ddbtypes.AttributeValueMemberN)
			ok = isN && n.Value == fmt.Sprint(v)
		}
		if !ok {
			t.Errorf("attribute %s = %#v, want the seed's %v", name, item[name], v)
		}
	}
}

func TestADuplicatePublishLeavesOneItem(t *testing.T) {
	p := startPipeline(t, nil)
	p.publish(t, string(seedOrder))
	p.publish(t, string(seedOrder))
	got := p.outcomes(t, "O1234", 2)
	slices.Sort(got)
	if !slices.Equal(got, []string{"duplicate", "stored"}) {
		t.Errorf("outcomes = %v, want one stored and one duplicate", got)
	}
	if n := p.itemCount(t); n != 1 {
		t.Errorf("Orders holds %d items, want 1", n)
	}
}

func TestAnOlderEventAfterANewerOneDoesNotOverwriteIt(t *testing.T) {
	p := startPipeline(t, nil)
	p.publish(t, order("O7", "shipped", "2025-05-03T13:00:00Z"))
	p.outcomes(t, "O7", 1)
	p.publish(t, order("O7", "new", "2025-05-03T12:00:00Z"))
	if got := p.outcomes(t, "O7", 2); !slices.Equal(got, []string{"stored", "stale"}) {
		t.Errorf("outcomes = %v, want stored then stale", got)
	}
	if s, _ := p.item(t, "O7")["status"].(*ddbtypes.AttributeValueMemberS); s == nil || s.Value != "shipped" {
		t.Errorf("status = %v, want the newer event's shipped", p.item(t, "O7")["status"])
	}
}

// deadLetters reads every message in OrderDLQ without consuming it.
func (p *pipeline) deadLetters(t *testing.T) []orderflow.DeadLetter {
	t.Helper()
	var out []orderflow.DeadLetter
	seen := map[string]bool{}
	for range 5 {
		resp, err := p.sqs.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(p.Output("OrderDLQUrl")), MaxNumberOfMessages: 10, VisibilityTimeout: 0,
			MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: nil,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range resp.Messages {
			if seen[aws.ToString(m.MessageId)] {
				continue
			}
			seen[aws.ToString(m.MessageId)] = true
			dl, _ := sqs.FromAttributes(aws.ToString(m.Body), m.MessageAttributes)
			out = append(out, dl)
		}
	}
	return out
}

func TestAMalformedOrderEndsInOrderDLQWithItsReasonAndNeverInOrders(t *testing.T) {
	p := startPipeline(t, nil)
	p.publish(t, `{"orderId":"O-BAD","quantity":"many"}`)
	var dls []orderflow.DeadLetter
	poll.Until(t, 20*time.Second, "a dead letter", func() bool { dls = p.deadLetters(t); return len(dls) > 0 })
	if len(dls) != 1 || dls[0].Code != orderflow.CodeInvalidOrder || !strings.Contains(dls[0].Reason, "quantity: must be an integer, got a string") {
		t.Errorf("dead letters = %+v", dls)
	}
	if p.item(t, "O-BAD") != nil || p.itemCount(t) != 0 {
		t.Errorf("the malformed order reached Orders")
	}
}

func TestATransientFailureIsReceivedThreeTimesThenRedrivenWhileTheRestIsStored(t *testing.T) {
	slowtest.Skip(t, "waits out three visibility timeouts")
	// A short visibility timeout so that three receives take seconds, yet
	// longer than a throttled write's bounded retries.
	p := startPipeline(t, map[string]string{"FunctionTimeoutSeconds": "2", "QueueVisibilityTimeoutSeconds": "2"})
	p.Cloud.DynamoDB.SetFault(func(op string, body []byte) *awsproto.Error {
		if op == "PutItem" && strings.Contains(string(body), `"O-FLAKY"`) {
			return awsproto.Errorf(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")
		}
		return nil
	})
	var entries []snstypes.PublishBatchRequestEntry
	for i, id := range []string{"O-A", "O-FLAKY", "O-B", "O-C"} {
		entries = append(entries, snstypes.PublishBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), Message: aws.String(order(id, "new", "2025-05-03T12:00:00Z"))})
	}
	if _, err := p.sns.PublishBatch(context.Background(), &awssns.PublishBatchInput{TopicArn: aws.String(p.Output("OrderTopicArn")), PublishBatchRequestEntries: entries}); err != nil {
		t.Fatal(err)
	}
	var dls []orderflow.DeadLetter
	poll.Until(t, 20*time.Second, "O-FLAKY in OrderDLQ", func() bool { dls = p.deadLetters(t); return len(dls) > 0 })
	if len(dls) != 1 || !strings.Contains(dls[0].Body, "O-FLAKY") || dls[0].Code != "" {
		t.Errorf("dead letters = %+v, want only O-FLAKY, moved by the redrive policy (no function attributes)", dls)
	}
	var counts []string
	for _, r := range p.logs.records("O-FLAKY") {
		if r["outcome"] != "failed" {
			t.Errorf("O-FLAKY outcome %v, want failed", r["outcome"])
		}
		counts = append(counts, fmt.Sprint(r["receiveCount"]))
	}
	if !slices.Equal(counts, []string{"1", "2", "3"}) {
		t.Errorf("O-FLAKY was received with counts %v, want 1, 2, 3", counts)
	}
	for _, id := range []string{"O-A", "O-B", "O-C"} {
		if p.item(t, id) == nil {
			t.Errorf("%s, in O-FLAKY's batch, is not stored", id)
		}
	}
	if p.item(t, "O-FLAKY") != nil {
		t.Errorf("O-FLAKY is stored despite every write failing")
	}
}

package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/provision"
)

// sqsRequests records the SQS JSON-protocol requests a client sends (by
// X-Amz-Target) before passing them on.
type sqsRequests struct {
	next aws.HTTPClient
	mu   sync.Mutex
	sent map[string][]map[string]any
}

func (r *sqsRequests) Do(req *http.Request) (*http.Response, error) {
	if target := req.Header.Get("X-Amz-Target"); strings.HasPrefix(target, "AmazonSQS.") && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err == nil {
			r.mu.Lock()
			r.sent[target] = append(r.sent[target], doc)
			r.mu.Unlock()
		}
	}
	return r.next.Do(req)
}

const fifoTemplate = `
Resources:
  Orders:
    Type: AWS::SNS::Topic
    Properties:
      FifoTopic: true
      ContentBasedDeduplication: true
      FifoThroughputScope: MessageGroup
  Named:
    Type: AWS::SNS::Topic
    Properties: {TopicName: named.fifo, FifoTopic: "true"}
Outputs:
  OrdersArn: {Value: !Ref Orders}
  OrdersName: {Value: !GetAtt Orders.TopicName}
`

func TestAFIFOTopicInATemplateIsCreatedWithItsAttributesAndAFifoName(t *testing.T) {
	_, cfg := cloudtest.Start(t)
	st, err := provision.Provision(context.Background(), parse(t, fifoTemplate), provision.Options{Providers: provision.AWS(cfg, nil, &provision.Records{})})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	if got, want := st.Outputs["OrdersName"], "orderflow-Orders-ORDERFLOW.fifo"; got != want {
		t.Errorf("generated topic name = %q, want %q (CloudFormation gives a FIFO topic a .fifo name)", got, want)
	}
	client := awssns.NewFromConfig(cfg)
	for _, arn := range []string{st.Outputs["OrdersArn"], "arn:aws:sns:us-east-1:000000000000:named.fifo"} {
		out, err := client.GetTopicAttributes(context.Background(), &awssns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("GetTopicAttributes(%s): %v", arn, err)
		}
		if out.Attributes["FifoTopic"] != "true" {
			t.Errorf("%s: FifoTopic = %q, want true", arn, out.Attributes["FifoTopic"])
		}
	}
	out, _ := client.GetTopicAttributes(context.Background(), &awssns.GetTopicAttributesInput{TopicArn: aws.String(st.Outputs["OrdersArn"])})
	if out.Attributes["ContentBasedDeduplication"] != "true" || out.Attributes["FifoThroughputScope"] != "MessageGroup" {
		t.Errorf("attributes = %v, want ContentBasedDeduplication true and FifoThroughputScope MessageGroup", out.Attributes)
	}
}

// The provisioner asks SQS for a FIFO queue with the template's FIFO
// attributes and a generated .fifo name. (Whether SQS then creates it is
// SQS's part; this checks the request the provisioner makes.)
func TestAFIFOQueueInATemplateIsRequestedWithItsAttributesAndAFifoName(t *testing.T) {
	_, cfg := cloudtest.Start(t)
	rec := &sqsRequests{next: cfg.HTTPClient, sent: map[string][]map[string]any{}}
	if rec.next == nil {
		rec.next = http.DefaultClient
	}
	cfg.HTTPClient = rec
	const doc = `
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
      DeduplicationScope: messageGroup
      FifoThroughputLimit: perMessageGroupId
`
	// SQS's answer is not what this test is about (see above).
	_, _ = provision.Provision(context.Background(), parse(t, doc), provision.Options{Providers: provision.AWS(cfg, nil, &provision.Records{})})
	sent := rec.sent["AmazonSQS.CreateQueue"]
	if len(sent) != 1 {
		t.Fatalf("CreateQueue requests = %d, want 1", len(sent))
	}
	if got, want := sent[0]["QueueName"], "orderflow-Queue-ORDERFLOW.fifo"; got != want {
		t.Errorf("QueueName = %v, want %s", got, want)
	}
	attrs, _ := sent[0]["Attributes"].(map[string]any)
	want := map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("attribute %s = %v, want %s (all: %v)", k, attrs[k], v, attrs)
		}
	}
}

func TestAFIFOTopicsDeduplicationSettingsChangeInPlace(t *testing.T) {
	ctx := context.Background()
	_, cfg := cloudtest.Start(t)
	opts := provision.Options{Providers: provision.AWS(cfg, nil, &provision.Records{})}
	const doc = `
Parameters:
  Dedup: {Type: String, Default: "true"}
Resources:
  Orders:
    Type: AWS::SNS::Topic
    Properties: {TopicName: orders.fifo, FifoTopic: true, ContentBasedDeduplication: !Ref Dedup, FifoThroughputScope: MessageGroup}
`
	first, err := provision.Apply(ctx, parse(t, doc), opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	without := strings.Replace(doc, ", FifoThroughputScope: MessageGroup", "", 1)
	opts.Parameters = map[string]string{"Dedup": "false"}
	next, err := provision.Apply(ctx, parse(t, without), opts, first.Stack, nil)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := next.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := awssns.NewFromConfig(cfg).GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:orders.fifo")})
	if err != nil {
		t.Fatal(err)
	}
	if out.Attributes["ContentBasedDeduplication"] != "false" || out.Attributes["FifoThroughputScope"] != "Topic" {
		t.Errorf("after the update: ContentBasedDeduplication=%q FifoThroughputScope=%q, want false and Topic",
			out.Attributes["ContentBasedDeduplication"], out.Attributes["FifoThroughputScope"])
	}
}

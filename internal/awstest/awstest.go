// Package awstest starts real AWS APIs on loopback for tests and gives
// aws-sdk-go-v2 clients configured explicitly for them, so that ambient AWS_*
// settings can neither redirect nor break a test. Both APIs are the embedded
// cloud's: DynamoDB is its engine (cloud/dynamodb/engine) with the tables
// deploy/template.yaml declares, SQS its service (cloud/sqs) with the
// template's dead-letter queue.
package awstest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
	"github.com/orderflow/orderflow/deploy"
	"github.com/orderflow/orderflow/internal/ownbody"
)

// Region is the region every test client uses.
const Region = "us-east-1"

var creds = credentials.NewStaticCredentialsProvider("test", "test", "")

// Fault sits in front of an API and, while set, answers every request with
// an AWS-shaped error instead of passing it on.
type Fault struct {
	next     http.Handler
	fail     atomic.Pointer[faultSpec]
	requests atomic.Int64
}

type faultSpec struct {
	status int
	code   string
}

// Set makes every request fail with status and the AWS error code.
func (f *Fault) Set(status int, code string) { f.fail.Store(&faultSpec{status, code}) }

// Clear lets requests through again.
func (f *Fault) Clear() { f.fail.Store(nil) }

// Requests counts the requests that reached the fault, failed or not.
func (f *Fault) Requests() int64 { return f.requests.Load() }

func (f *Fault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if spec := f.fail.Load(); spec != nil {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-Query-Error", spec.code+";Sender")
		w.WriteHeader(spec.status)
		fmt.Fprintf(w, `{"__type":"%s","message":"injected fault"}`, spec.code)
		return
	}
	f.next.ServeHTTP(w, r)
}

// DynamoDB starts a DynamoDB API with an empty table called table, shaped as
// deploy/template.yaml's OrdersTable (its keys, attributes and indexes), and
// returns a client for it and the fault switch in front of it.
func DynamoDB(t testing.TB, table string, optFns ...func(*awsddb.Options)) (*awsddb.Client, *Fault) {
	t.Helper()
	f := &Fault{next: engine.New()}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := awsddb.New(awsddb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  creds,
		HTTPClient:   ownbody.Client{Next: srv.Client()},
	}, optFns...)
	in, err := ordersTable(table)
	if err != nil {
		t.Fatalf("awstest: %v", err)
	}
	if _, err := client.CreateTable(context.Background(), in); err != nil {
		t.Fatalf("awstest: create table %s: %v", table, err)
	}
	return client, f
}

// ordersTable is the CreateTable request for the template's OrdersTable
// under the name table. A table resource's schema properties have the
// CreateTable request's names and shapes; the others (deletion protection,
// point-in-time recovery) do not shape what a test reads and writes.
func ordersTable(table string) (*awsddb.CreateTableInput, error) {
	tpl, err := deploy.Load()
	if err != nil {
		return nil, fmt.Errorf("load the template: %w", err)
	}
	res, ok := tpl.Resources["OrdersTable"]
	if !ok || res.Type != "AWS::DynamoDB::Table" {
		return nil, fmt.Errorf("the template has no OrdersTable table")
	}
	schema := map[string]any{"TableName": table}
	for _, name := range []string{"BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes"} {
		if v, ok := res.Properties[name]; ok {
			schema[name] = v
		}
	}
	b, err := json.Marshal(schema)
	if err != nil {
		return nil, fmt.Errorf("OrdersTable's schema: %w", err)
	}
	var in awsddb.CreateTableInput
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("OrdersTable's schema as a CreateTable request: %w", err)
	}
	return &in, nil
}

// SentMessage is one message in a queue, as it was sent.
type SentMessage struct {
	QueueURL          string
	MessageBody       string
	MessageAttributes map[string]MessageAttribute
	// MessageGroupID and MessageDeduplicationID are a FIFO queue's.
	MessageGroupID, MessageDeduplicationID string
}

// MessageAttribute is a message attribute as sent on the wire.
type MessageAttribute struct {
	DataType    string
	StringValue string
}

// SQS is the embedded cloud's SQS with the template's dead-letter queue.
type SQS struct {
	Client *awssqs.Client
	Fault  *Fault
	// DLQ is the URL of the template's dead-letter queue (OrderDLQ).
	DLQ string
	t   testing.TB
	eng *cloudsqs.Engine
	dlq string // its name
}

// Sent returns the messages the dead-letter queue holds, leaving them there.
func (q *SQS) Sent() []SentMessage {
	q.t.Helper()
	var (
		sent  []SentMessage
		seen  []string // receipt handles, to make visible again
		hide  = 60     // seconds: long enough to gather the queue, once each
		again = 0
		ctx   = context.Background()
	)
	defer func() {
		for _, h := range seen {
			if err := q.eng.ChangeMessageVisibility(q.dlq, h, again); err != nil {
				q.t.Errorf("awstest: make a message in %s visible again: %v", q.dlq, err)
			}
		}
	}()
	for {
		ms, err := q.eng.ReceiveMessage(ctx, q.dlq, cloudsqs.ReceiveInput{
			MaxNumberOfMessages: 10, VisibilityTimeout: &hide, WaitTimeSeconds: &again,
			MessageAttributeNames: []string{"All"}, AttributeNames: []string{"MessageGroupId", "MessageDeduplicationId"},
		})
		if err != nil {
			q.t.Fatalf("awstest: receive from %s: %v", q.dlq, err)
		}
		if len(ms) == 0 {
			return sent
		}
		for _, m := range ms {
			seen = append(seen, m.ReceiptHandle)
			attrs := make(map[string]MessageAttribute, len(m.MessageAttributes))
			for k, v := range m.MessageAttributes {
				attrs[k] = MessageAttribute{DataType: v.DataType, StringValue: v.StringValue}
			}
			sent = append(sent, SentMessage{QueueURL: q.DLQ, MessageBody: m.Body, MessageAttributes: attrs,
				MessageGroupID: m.Attributes["MessageGroupId"], MessageDeduplicationID: m.Attributes["MessageDeduplicationId"]})
		}
	}
}

// NewSQS starts the embedded cloud's SQS on loopback with the template's
// dead-letter queue and returns it with a client.
func NewSQS(t testing.TB, optFns ...func(*awssqs.Options)) *SQS {
	t.Helper()
	return newSQS(t, false, optFns...)
}

// NewFIFOSQS is NewSQS with the dead-letter queue of QueueType FIFO: a FIFO
// queue with content-based deduplication, named with .fifo.
func NewFIFOSQS(t testing.TB, optFns ...func(*awssqs.Options)) *SQS {
	t.Helper()
	return newSQS(t, true, optFns...)
}

func newSQS(t testing.TB, fifo bool, optFns ...func(*awssqs.Options)) *SQS {
	t.Helper()
	tpl, err := deploy.Load()
	if err != nil {
		t.Fatalf("awstest: load the template: %v", err)
	}
	dlq, _ := tpl.Parameters["DeadLetterQueueName"].Default.(string)
	if dlq == "" {
		t.Fatalf("awstest: the template's DeadLetterQueueName has no default")
	}
	var attrs map[string]string
	if fifo {
		dlq += ".fifo"
		attrs = map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"}
	}
	var base atomic.Pointer[string]
	svc, err := cloudsqs.New(cloudsqs.Options{Env: awsenv.Env{Region: Region, BaseURL: func() string { return *base.Load() }}})
	if err != nil {
		t.Fatalf("awstest: start SQS: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	q := &SQS{Fault: &Fault{next: svc}, t: t, eng: svc.Engine(), dlq: dlq}
	srv := httptest.NewServer(q.Fault)
	t.Cleanup(srv.Close)
	base.Store(&srv.URL)
	if q.DLQ, err = q.eng.CreateQueue(dlq, attrs, nil); err != nil {
		t.Fatalf("awstest: create queue %s: %v", dlq, err)
	}
	q.Client = awssqs.New(awssqs.Options{
		Region:       Region,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  creds,
		HTTPClient:   ownbody.Client{Next: srv.Client()},
	}, optFns...)
	return q
}

// Package awstest starts real AWS APIs on loopback for tests and gives
// aws-sdk-go-v2 clients configured explicitly for them, so that ambient AWS_*
// settings can neither redirect nor break a test. DynamoDB is the embedded
// cloud's engine (cloud/dynamodb/engine); SQS is a recording endpoint for the
// one call the function makes (SendMessage), speaking the AWS JSON 1.0
// protocol.
package awstest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
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

// DynamoDB starts a DynamoDB API with an empty Orders-shaped table called
// table (partition key orderId; index UserOrders on userId and timestamp)
// and returns a client for it and the fault switch in front of it.
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
	s := aws.String
	_, err := client.CreateTable(context.Background(), &awsddb.CreateTableInput{
		TableName:   s(table),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: s("orderId"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: s("userId"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: s("timestamp"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{{AttributeName: s("orderId"), KeyType: ddbtypes.KeyTypeHash}},
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{{
			IndexName: s("UserOrders"),
			KeySchema: []ddbtypes.KeySchemaElement{
				{AttributeName: s("userId"), KeyType: ddbtypes.KeyTypeHash},
				{AttributeName: s("timestamp"), KeyType: ddbtypes.KeyTypeRange},
			},
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		}},
	})
	if err != nil {
		t.Fatalf("awstest: create table %s: %v", table, err)
	}
	return client, f
}

// SentMessage is one SendMessage request as the endpoint received it.
type SentMessage struct {
	QueueURL          string                      `json:"QueueUrl"`
	MessageBody       string                      `json:"MessageBody"`
	MessageAttributes map[string]MessageAttribute `json:"MessageAttributes"`
}

// MessageAttribute is a message attribute as sent on the wire.
type MessageAttribute struct {
	DataType    string `json:"DataType"`
	StringValue string `json:"StringValue"`
}

// SQS is a recording SQS endpoint.
type SQS struct {
	Client *awssqs.Client
	Fault  *Fault
	mu     sync.Mutex
	sent   []SentMessage
}

// Sent returns the messages sent so far.
func (q *SQS) Sent() []SentMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]SentMessage(nil), q.sent...)
}

// NewSQS starts a recording SQS endpoint and returns it with a client.
func NewSQS(t testing.TB, optFns ...func(*awssqs.Options)) *SQS {
	t.Helper()
	q := &SQS{}
	var ids atomic.Int64
	q.Fault = &Fault{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessage" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"com.amazonaws.sqs#InvalidAction","message":"not supported here: %s"}`, r.Header.Get("X-Amz-Target"))
			return
		}
		var m SentMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":%q}`, err.Error())
			return
		}
		q.mu.Lock()
		q.sent = append(q.sent, m)
		q.mu.Unlock()
		sum := md5.Sum([]byte(m.MessageBody))
		json.NewEncoder(w).Encode(map[string]string{
			"MessageId":        "dlq-" + strconv.FormatInt(ids.Add(1), 10),
			"MD5OfMessageBody": hex.EncodeToString(sum[:]),
		})
	})}
	srv := httptest.NewServer(q.Fault)
	t.Cleanup(srv.Close)
	q.Client = awssqs.New(awssqs.Options{
		Region:       Region,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  creds,
		HTTPClient:   ownbody.Client{Next: srv.Client()},
	}, optFns...)
	return q
}

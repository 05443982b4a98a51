package sqs_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/clock"
	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
)

// fuzzService returns a service on a fake clock with a queue "q" (with a
// dead-letter queue "dlq") holding a message, and a context that is
// already done so that long polls return at once.
func fuzzService(t *testing.T) (*cloudsqs.Service, context.Context) {
	t.Helper()
	svc, err := cloudsqs.New(cloudsqs.Options{Clock: clock.NewFake(t0), Env: awsenv.Env{BaseURL: func() string { return "http://127.0.0.1:4566" }}})
	if err != nil {
		t.Fatal(err)
	}
	e := svc.Engine()
	if _, err := e.CreateQueue("dlq", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateQueue("q", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":1}`}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SendMessage(context.Background(), "q", cloudsqs.SendInput{Body: "seed"}); err != nil {
		t.Fatal(err)
	}
	// A FIFO queue "f.fifo" (with a FIFO dead-letter queue) holding two
	// messages of one group.
	if _, err := e.CreateQueue("dlq.fifo", map[string]string{"FifoQueue": "true"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateQueue("f.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq.fifo","maxReceiveCount":1}`}, nil); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"one", "two"} {
		if _, err := e.SendMessage(context.Background(), "f.fifo", cloudsqs.SendInput{Body: b, MessageGroupID: "g"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return svc, ctx
}

func FuzzQueryForm(f *testing.F) {
	for _, s := range []string{
		"Action=CreateQueue&QueueName=x&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=5&Tag.1.Key=a&Tag.1.Value=b",
		"Action=SendMessage&QueueUrl=http%3A%2F%2F127.0.0.1%3A4566%2F000000000000%2Fq&MessageBody=hi&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=Binary&MessageAttribute.1.Value.BinaryValue=AAEC",
		"Action=SendMessageBatch&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.DelaySeconds=3",
		"Action=ReceiveMessage&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&AttributeName.1=All&MessageAttributeName.1=All&MaxNumberOfMessages=10&WaitTimeSeconds=20",
		"Action=DeleteMessageBatch&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&DeleteMessageBatchRequestEntry.1.Id=a&DeleteMessageBatchRequestEntry.1.ReceiptHandle=abc",
		"Action=ChangeMessageVisibilityBatch&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&ChangeMessageVisibilityBatchRequestEntry.1.Id=a&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=x",
		"Action=StartMessageMoveTask&SourceArn=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Adlq&MaxNumberOfMessagesPerSecond=5",
		"Action=ListQueues&MaxResults=1&NextToken=%%%",
		"Action=SetQueueAttributes&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&Attribute.1.Name=Policy&Attribute.1.Value=%7B%22Statement%22%3A1%7D",
		"Action=GetQueueAttributes&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&AttributeName.99999999999999999999=All",
		"Action=SendMessage&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Ff.fifo&MessageBody=hi&MessageGroupId=g&MessageDeduplicationId=d%21",
		"Action=SendMessageBatch&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Ff.fifo&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.MessageGroupId=h",
		"Action=ReceiveMessage&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Ff.fifo&MaxNumberOfMessages=10&ReceiveRequestAttemptId=a&VisibilityTimeout=0",
		"Action=CreateQueue&QueueName=x.fifo&Attribute.1.Name=FifoQueue&Attribute.1.Value=true&Attribute.2.Name=FifoThroughputLimit&Attribute.2.Value=perMessageGroupId",
		"Action=PurgeQueue&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Ff.fifo",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		svc, ctx := fuzzService(t)
		r := httptest.NewRequest(http.MethodPost, "/000000000000/q", strings.NewReader(body)).WithContext(ctx)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.String())
		}
		var doc struct{ XMLName xml.Name }
		if err := xml.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("reply is not XML for %q: %v\n%s", body, err, rec.Body.String())
		}
	})
}

func FuzzJSONRequest(f *testing.F) {
	actions := (&cloudsqs.Service{}).Actions()
	const q = `"QueueUrl":"http://127.0.0.1:4566/000000000000/q"`
	for i, s := range []string{
		`{"QueueName":"x","Attributes":{"DelaySeconds":"1"},"tags":{"a":"b"}}`,
		`{` + q + `,"MessageBody":"hi","MessageAttributes":{"a":{"DataType":"Binary","BinaryValue":"AAEC"}}}`,
		`{` + q + `,"Entries":[{"Id":"a","MessageBody":"x","DelaySeconds":2}]}`,
		`{` + q + `,"MaxNumberOfMessages":10,"WaitTimeSeconds":20,"MessageSystemAttributeNames":["All"],"MessageAttributeNames":["All"]}`,
		`{` + q + `,"Entries":[{"Id":"a","ReceiptHandle":"abc","VisibilityTimeout":"x"}]}`,
		`{"SourceArn":"arn:aws:sqs:us-east-1:000000000000:dlq","MaxNumberOfMessagesPerSecond":1e99}`,
		`{` + q + `,"Attributes":{"RedrivePolicy":"{\"maxReceiveCount\":[]}"}}`,
		`[]`, `null`, `{"MaxResults":-1}`,
		`{"QueueUrl":"http://127.0.0.1:4566/000000000000/f.fifo","MessageBody":"x","MessageGroupId":"g","MessageDeduplicationId":"d"}`,
		`{"QueueUrl":"http://127.0.0.1:4566/000000000000/f.fifo","MaxNumberOfMessages":10,"VisibilityTimeout":0,"ReceiveRequestAttemptId":"r"}`,
		`{"QueueUrl":"http://127.0.0.1:4566/000000000000/f.fifo","Entries":[{"Id":"a","MessageBody":"x","MessageGroupId":"g"},{"Id":"b","MessageBody":"x","MessageGroupId":"g"}]}`,
	} {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		svc, ctx := fuzzService(t)
		action := actions[int(which)%len(actions)]
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body))).WithContext(ctx)
		r.Header.Set("Content-Type", "application/x-amz-json-1.0")
		r.Header.Set("X-Amz-Target", "AmazonSQS."+action)
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("%s: status %d for %q: %s", action, rec.Code, body, rec.Body.String())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s: reply is not JSON for %q: %s", action, body, rec.Body.String())
		}
	})
}

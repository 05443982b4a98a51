package sqs_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/handler"
	"github.com/orderflow/orderflow/internal/awstest"
	"github.com/orderflow/orderflow/sqs"
)

var _ handler.DeadLetterQueue = (*sqs.DeadLetters)(nil)

func TestADeadLetterCarriesItsReasonAsMessageAttributes(t *testing.T) {
	t.Parallel()
	q := awstest.NewSQS(t, sqs.BoundedRetries)
	dl := orderflow.DeadLetter{
		Body:              `{"orderId": 7}`,
		Code:              orderflow.CodeInvalidOrder,
		Reason:            "invalid order: orderId: must be a string, got a number",
		OriginalMessageID: "m-1",
		ReceiveCount:      2,
		Source:            "arn:aws:sqs:us-east-1:000000000000:OrderQueue",
		FailedAt:          time.Date(2025, 5, 3, 12, 0, 1, 0, time.UTC),
	}
	if err := sqs.New(q.Client, q.DLQ).SendDeadLetter(context.Background(), dl); err != nil {
		t.Fatalf("SendDeadLetter error = %v", err)
	}
	sent := q.Sent()
	if len(sent) != 1 {
		t.Fatalf("sent %d messages, want 1", len(sent))
	}
	m := sent[0]
	if m.QueueURL != q.DLQ || m.MessageBody != dl.Body {
		t.Errorf("sent %q to %q, want the original body to %q", m.MessageBody, m.QueueURL, q.DLQ)
	}
	want := map[string]awstest.MessageAttribute{
		orderflow.AttrErrorCode:         {DataType: "String", StringValue: "InvalidOrder"},
		orderflow.AttrReason:            {DataType: "String", StringValue: dl.Reason},
		orderflow.AttrOriginalMessageID: {DataType: "String", StringValue: "m-1"},
		orderflow.AttrReceiveCount:      {DataType: "Number", StringValue: "2"},
		orderflow.AttrSource:            {DataType: "String", StringValue: dl.Source},
		orderflow.AttrFailedAt:          {DataType: "String", StringValue: "2025-05-03T12:00:01Z"},
	}
	if len(m.MessageAttributes) != len(want) {
		t.Errorf("attributes = %v, want %v", m.MessageAttributes, want)
	}
	for k, v := range want {
		if m.MessageAttributes[k] != v {
			t.Errorf("attribute %s = %+v, want %+v", k, m.MessageAttributes[k], v)
		}
	}

	// What was sent reads back as the same dead letter.
	attrs := map[string]types.MessageAttributeValue{}
	for k, v := range m.MessageAttributes {
		attrs[k] = types.MessageAttributeValue{DataType: aws.String(v.DataType), StringValue: aws.String(v.StringValue)}
	}
	back, ok := sqs.FromAttributes(m.MessageBody, attrs)
	if !ok || back != dl {
		t.Errorf("FromAttributes = %+v, %v; want %+v", back, ok, dl)
	}
}

func TestAMessageSQSMovedItselfHasNoDeadLetterAttributes(t *testing.T) {
	t.Parallel()
	if _, ok := sqs.FromAttributes("body", nil); ok {
		t.Errorf("FromAttributes(no attributes) ok = true, want false")
	}
}

func TestReasonsAreMadeSafeForSQS(t *testing.T) {
	t.Parallel()
	q := awstest.NewSQS(t)
	reason := "invalid order: \x01\uFFFF: is not a field of an order; " + strings.Repeat("x", 2*sqs.MaxReasonBytes)
	err := sqs.New(q.Client, q.DLQ).SendDeadLetter(context.Background(), orderflow.DeadLetter{Body: "b", Code: "InvalidOrder", Reason: reason})
	if err != nil {
		t.Fatal(err)
	}
	got := q.Sent()[0].MessageAttributes[orderflow.AttrReason].StringValue
	if !strings.HasPrefix(got, "invalid order: \uFFFD\uFFFD: is not") {
		t.Errorf("characters SQS refuses were not replaced: %q", got[:40])
	}
	if len(got) > sqs.MaxReasonBytes || !strings.HasSuffix(got, "…") {
		t.Errorf("reason is %d bytes (limit %d), ends %q", len(got), sqs.MaxReasonBytes, got[len(got)-8:])
	}
}

func TestAFailedSendIsAnError(t *testing.T) {
	t.Parallel()
	q := awstest.NewSQS(t, sqs.BoundedRetries)
	q.Fault.Set(http.StatusBadRequest, "AWS.SimpleQueueService.NonExistentQueue")
	err := sqs.New(q.Client, q.DLQ).SendDeadLetter(context.Background(), orderflow.DeadLetter{Body: "b", Code: "InvalidOrder", OriginalMessageID: "m-9"})
	if err == nil || !strings.Contains(err.Error(), "sqs: send dead letter for message m-9") {
		t.Errorf("SendDeadLetter error = %v, want a wrapped send failure", err)
	}
}

func TestADeadLetterToAFIFOQueueIsAGroupOfItsOwnDeduplicatedByItsOriginalMessage(t *testing.T) {
	t.Parallel()
	q := awstest.NewFIFOSQS(t, sqs.BoundedRetries)
	dls := sqs.New(q.Client, q.DLQ)
	send := func(id, body string) {
		t.Helper()
		dl := orderflow.DeadLetter{Body: body, Code: orderflow.CodeInvalidOrder, Reason: "invalid order", OriginalMessageID: id, ReceiveCount: 1}
		if err := dls.SendDeadLetter(context.Background(), dl); err != nil {
			t.Fatalf("SendDeadLetter(%s) error = %v", id, err)
		}
	}
	// The same record dead-lettered twice (a retry), two records of the
	// same order, and two without an order id, with odd original ids.
	send("4a2b-1", `{"orderId":"O1","quantity":0}`)
	send("4a2b-1", `{"orderId":"O1","quantity":0}`)
	send("4a2b-2", `{"orderId":"O1","quantity":-1}`)
	send("", "not json")
	send("id with spaces", "not json")
	sent := q.Sent()
	if len(sent) != 4 {
		t.Fatalf("the FIFO DLQ holds %d dead letters, want 4 (the retry deduplicated): %+v", len(sent), sent)
	}
	groups := map[string]bool{}
	for _, m := range sent {
		if m.MessageGroupID == "" || m.MessageGroupID != m.MessageDeduplicationID {
			t.Errorf("dead letter %q has group %q and deduplication id %q, want both its original message's", m.MessageBody, m.MessageGroupID, m.MessageDeduplicationID)
		}
		groups[m.MessageGroupID] = true
	}
	if len(groups) != 4 || !groups["4a2b-1"] || !groups["4a2b-2"] {
		t.Errorf("groups = %v, want one per dead letter, named by the original message ids where they are valid", groups)
	}
}

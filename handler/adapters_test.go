package handler_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/dynamodb"
	"github.com/orderflow/orderflow/handler"
	"github.com/orderflow/orderflow/internal/awstest"
	"github.com/orderflow/orderflow/sqs"
)

// withAdapters builds the function as the bootstrap does, over the real SDK
// clients and a real DynamoDB API on loopback.
func withAdapters(t *testing.T) (*handler.Handler, *awsddb.Client, *awstest.Fault, *awstest.SQS) {
	t.Helper()
	ddb, ddbFault := awstest.DynamoDB(t, "Orders", dynamodb.BoundedRetries)
	q := awstest.NewSQS(t, sqs.BoundedRetries)
	h, err := handler.New(handler.Options{
		Store:       dynamodb.New(ddb, "Orders"),
		DeadLetters: sqs.New(q.Client, q.DLQ),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, ddb, ddbFault, q
}

func TestTheEnvelopedSeedOrderEndsInDynamoDBWithTheSeedsExactAttributes(t *testing.T) {
	t.Parallel()
	h, ddb, _, q := withAdapters(t)
	resp := invoke(t, h, fixture(t, "sqs-sns-seed.json"))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures = %v", resp.BatchItemFailures)
	}
	out, err := ddb.GetItem(context.Background(), &awsddb.GetItemInput{
		TableName: aws.String("Orders"),
		Key:       map[string]ddbtypes.AttributeValue{"orderId": &ddbtypes.AttributeValueMemberS{Value: "O1234"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The seed's six attributes, as the seed's JSON types map to DynamoDB's.
	var seed map[string]any
	if err := json.Unmarshal(fixture(t, "../../testdata/seed-order.json"), &seed); err != nil {
		t.Fatal(err)
	}
	for name, v := range seed {
		switch v := v.(type) {
		case string:
			if got, ok := out.Item[name].(*ddbtypes.AttributeValueMemberS); !ok || got.Value != v {
				t.Errorf("attribute %s = %#v, want S %q", name, out.Item[name], v)
			}
		case float64:
			if got, ok := out.Item[name].(*ddbtypes.AttributeValueMemberN); !ok || got.Value != "1" || v != 1 {
				t.Errorf("attribute %s = %#v, want N %v", name, out.Item[name], v)
			}
		}
	}
	if len(q.Sent()) != 0 {
		t.Errorf("a valid order was dead-lettered: %+v", q.Sent())
	}
}

func TestAMalformedOrderEndsInTheDLQWithAReasonAndIsNotReportedAsFailed(t *testing.T) {
	t.Parallel()
	h, _, _, q := withAdapters(t)
	resp := invoke(t, h, fixture(t, "sqs-mixed-poison.json"))
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("batch item failures = %v, want none", resp.BatchItemFailures)
	}
	sent := q.Sent()
	if len(sent) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(sent))
	}
	attrs := sent[0].MessageAttributes
	if attrs[orderflow.AttrErrorCode].StringValue != "InvalidOrder" ||
		attrs[orderflow.AttrOriginalMessageID].StringValue != "a0000000-0000-4000-8000-000000000002" ||
		attrs[orderflow.AttrReceiveCount].StringValue != "2" || attrs[orderflow.AttrReason].StringValue == "" {
		t.Errorf("dead letter attributes = %+v", attrs)
	}
}

func TestATransientDynamoDBFailureIsReportedAsFailed(t *testing.T) {
	t.Parallel()
	h, _, fault, q := withAdapters(t)
	fault.Set(http.StatusBadRequest, "ThrottlingException")
	payload := fixture(t, "sqs-mixed-poison.json")
	resp := invoke(t, h, payload)
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	// The two valid records failed and will come back; the invalid one was
	// still dead-lettered, since that does not need DynamoDB.
	want := []string{ev.Records[0].MessageId, ev.Records[2].MessageId}
	if got := failedIDs(resp); !slices.Equal(got, want) {
		t.Errorf("batch item failures = %v, want %v", got, want)
	}
	if len(q.Sent()) != 1 {
		t.Errorf("dead letters = %d, want 1", len(q.Sent()))
	}

	fault.Clear() // SQS delivers the failed records again: now they are stored.
	if resp := invoke(t, h, payload); len(resp.BatchItemFailures) != 0 {
		t.Errorf("after the fault cleared: batch item failures = %v", resp.BatchItemFailures)
	}
}

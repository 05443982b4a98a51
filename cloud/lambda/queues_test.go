package lambda_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud/lambda"
)

// sqsAPI is a function-field fake of the SQS calls ClientQueues makes.
type sqsAPI struct {
	receive func(*awssqs.ReceiveMessageInput) (*awssqs.ReceiveMessageOutput, error)
}

func (sqsAPI) GetQueueUrl(_ context.Context, in *awssqs.GetQueueUrlInput, _ ...func(*awssqs.Options)) (*awssqs.GetQueueUrlOutput, error) {
	return &awssqs.GetQueueUrlOutput{QueueUrl: aws.String("http://q/" + aws.ToString(in.QueueName))}, nil
}

func (sqsAPI) GetQueueAttributes(context.Context, *awssqs.GetQueueAttributesInput, ...func(*awssqs.Options)) (*awssqs.GetQueueAttributesOutput, error) {
	return &awssqs.GetQueueAttributesOutput{Attributes: map[string]string{"VisibilityTimeout": "30"}}, nil
}

func (a sqsAPI) ReceiveMessage(_ context.Context, in *awssqs.ReceiveMessageInput, _ ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error) {
	return a.receive(in)
}

func (sqsAPI) DeleteMessageBatch(context.Context, *awssqs.DeleteMessageBatchInput, ...func(*awssqs.Options)) (*awssqs.DeleteMessageBatchOutput, error) {
	return &awssqs.DeleteMessageBatchOutput{}, nil
}

func TestClientQueuesAskAFIFOQueueForItsRecordsGroupDeduplicationIDAndSequenceNumber(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		arn      string
		fifo     bool
		wantAsks []string
	}{
		{queueARN, false, lambda.RecordAttributes},
		{fifoARN, true, append(slices.Clone(lambda.RecordAttributes), "MessageGroupId", "MessageDeduplicationId", "SequenceNumber")},
	} {
		t.Run(tt.arn, func(t *testing.T) {
			var asked []string
			qs := lambda.ClientQueues(sqsAPI{receive: func(in *awssqs.ReceiveMessageInput) (*awssqs.ReceiveMessageOutput, error) {
				for _, n := range in.MessageSystemAttributeNames {
					asked = append(asked, string(n))
				}
				return &awssqs.ReceiveMessageOutput{Messages: []sqstypes.Message{{MessageId: aws.String("m1"), ReceiptHandle: aws.String("rh"), Body: aws.String("b"),
					Attributes: map[string]string{"MessageGroupId": "g1", "MessageDeduplicationId": "d1", "SequenceNumber": "18849496460467696128"}}}}, nil
			}})
			q, err := qs.Lookup(context.Background(), tt.arn)
			if err != nil {
				t.Fatal(err)
			}
			if q.FIFO != tt.fifo {
				t.Errorf("Lookup(%s).FIFO = %v, want %v", tt.arn, q.FIFO, tt.fifo)
			}
			recs, err := qs.Receive(context.Background(), q, 10, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(asked, tt.wantAsks) {
				t.Errorf("asked for %v, want %v", asked, tt.wantAsks)
			}
			if a := recs[0].Attributes; a["MessageGroupId"] != "g1" || a["MessageDeduplicationId"] != "d1" || a["SequenceNumber"] != "18849496460467696128" {
				t.Errorf("the record's attributes = %v, want the message's", a)
			}
		})
	}
}

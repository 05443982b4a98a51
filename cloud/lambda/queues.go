package lambda

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Queues is the SQS API the event source mappings use.
type Queues interface {
	// Lookup finds the queue with ARN arn.
	Lookup(ctx context.Context, arn string) (QueueInfo, error)
	// Receive long-polls up to max records (waiting up to wait), built as an
	// SQS event source mapping builds them for the function.
	Receive(ctx context.Context, q QueueInfo, max int, wait time.Duration) ([]events.SQSMessage, error)
	// Delete deletes processed records.
	Delete(ctx context.Context, q QueueInfo, recs []events.SQSMessage) error
}

// QueueInfo is what a mapping knows of its queue.
type QueueInfo struct {
	ARN, URL, Region     string
	VisibilityTimeoutSec int
	// FIFO marks a FIFO queue: its records carry their group, and a
	// mapping keeps each group's order when it settles a batch.
	FIFO bool
}

// IsFIFOQueueARN reports whether arn names a FIFO queue: SQS requires a
// FIFO queue's name, and only a FIFO queue's, to end in ".fifo".
func IsFIFOQueueARN(arn string) bool { return strings.HasSuffix(arn, ".fifo") }

// SQSAPI is the part of the SQS client the host uses.
type SQSAPI interface {
	GetQueueUrl(ctx context.Context, in *awssqs.GetQueueUrlInput, optFns ...func(*awssqs.Options)) (*awssqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *awssqs.GetQueueAttributesInput, optFns ...func(*awssqs.Options)) (*awssqs.GetQueueAttributesOutput, error)
	ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *awssqs.DeleteMessageBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.DeleteMessageBatchOutput, error)
}

// ClientQueues returns Queues over an SQS API client: the pollers use SQS's
// public API exactly as AWS's poller does.
func ClientQueues(api SQSAPI) Queues { return clientQueues{api} }

type clientQueues struct{ api SQSAPI }

func (c clientQueues) Lookup(ctx context.Context, arn string) (QueueInfo, error) {
	// arn:aws:sqs:region:account:name
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		return QueueInfo{}, fmt.Errorf("%q is not an SQS queue ARN", arn)
	}
	url, err := c.api.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])})
	if err != nil {
		return QueueInfo{}, err
	}
	attrs, err := c.api.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl:       url.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout},
	})
	if err != nil {
		return QueueInfo{}, err
	}
	vt, err := strconv.Atoi(attrs.Attributes["VisibilityTimeout"])
	if err != nil {
		return QueueInfo{}, fmt.Errorf("queue %s reports VisibilityTimeout %q", arn, attrs.Attributes["VisibilityTimeout"])
	}
	return QueueInfo{ARN: arn, URL: aws.ToString(url.QueueUrl), Region: parts[3], VisibilityTimeoutSec: vt, FIFO: IsFIFOQueueARN(arn)}, nil
}

// RecordAttributes are the system attributes an SQS event source mapping
// passes to the function.
var RecordAttributes = []string{"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp", "AWSTraceHeader"}

// FIFORecordAttributes are the system attributes a mapping passes to the
// function from a FIFO queue: RecordAttributes, and the record's group,
// deduplication id and sequence number.
var FIFORecordAttributes = append(slices.Clip(RecordAttributes), "MessageGroupId", "MessageDeduplicationId", "SequenceNumber")

// RecordAttributesOf are the system attributes a mapping asks q for.
func RecordAttributesOf(q QueueInfo) []string {
	if q.FIFO {
		return FIFORecordAttributes
	}
	return RecordAttributes
}

func (c clientQueues) Receive(ctx context.Context, q QueueInfo, max int, wait time.Duration) ([]events.SQSMessage, error) {
	attrs := RecordAttributesOf(q)
	names := make([]sqstypes.MessageSystemAttributeName, len(attrs))
	for i, n := range attrs {
		names[i] = sqstypes.MessageSystemAttributeName(n)
	}
	out, err := c.api.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.URL),
		MaxNumberOfMessages:         int32(max),
		WaitTimeSeconds:             int32(wait / time.Second),
		MessageSystemAttributeNames: names,
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return nil, err
	}
	recs := make([]events.SQSMessage, len(out.Messages))
	for i, msg := range out.Messages {
		recs[i] = record(q, msg)
	}
	return recs, nil
}

// record builds the event record of a message as AWS's poller does.
func record(q QueueInfo, msg sqstypes.Message) events.SQSMessage {
	r := events.SQSMessage{
		MessageId:              aws.ToString(msg.MessageId),
		ReceiptHandle:          aws.ToString(msg.ReceiptHandle),
		Body:                   aws.ToString(msg.Body),
		Md5OfBody:              aws.ToString(msg.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(msg.MD5OfMessageAttributes),
		Attributes:             map[string]string{},
		MessageAttributes:      map[string]events.SQSMessageAttribute{},
		EventSource:            "aws:sqs",
		EventSourceARN:         q.ARN,
		AWSRegion:              q.Region,
	}
	for k, v := range msg.Attributes {
		r.Attributes[k] = v
	}
	for k, v := range msg.MessageAttributes {
		r.MessageAttributes[k] = events.SQSMessageAttribute{
			DataType:         aws.ToString(v.DataType),
			StringValue:      v.StringValue,
			BinaryValue:      v.BinaryValue,
			StringListValues: []string{},
			BinaryListValues: [][]byte{},
		}
	}
	return r
}

func (c clientQueues) Delete(ctx context.Context, q QueueInfo, recs []events.SQSMessage) error {
	var failed []string
	for start := 0; start < len(recs); start += 10 {
		chunk := recs[start:min(start+10, len(recs))]
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(chunk))
		for i, r := range chunk {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.ReceiptHandle)}
		}
		out, err := c.api.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
		if err != nil {
			return fmt.Errorf("delete %d records from %s: %w", len(recs), q.ARN, err)
		}
		for _, f := range out.Failed {
			failed = append(failed, aws.ToString(f.Code))
		}
	}
	if failed != nil {
		return fmt.Errorf("delete from %s: %d records were not deleted (%s)", q.ARN, len(failed), strings.Join(failed, ", "))
	}
	return nil
}

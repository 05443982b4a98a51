package cloud

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/cloud/sqs"
)

// engineQueues lets the function host poll the cloud's own SQS engine
// in-process: the same receive, visibility and delete semantics as through
// the API, without encoding each long poll and delete as HTTP on loopback
// (which cost about a third of the pipeline's CPU). The API calls are still
// counted as AWS would bill them.
type engineQueues struct {
	c *Cloud
}

var _ lambda.Queues = engineQueues{}

func (q engineQueues) engine() *sqs.Engine { return q.c.SQS.Engine() }

func (q engineQueues) Lookup(_ context.Context, arn string) (lambda.QueueInfo, error) {
	name, ok := q.engine().QueueNameFromARN(arn)
	if !ok {
		return lambda.QueueInfo{}, fmt.Errorf("%q is not an SQS queue of this cloud", arn)
	}
	attrs, err := q.engine().GetQueueAttributes(name, []string{"VisibilityTimeout"})
	if err != nil {
		return lambda.QueueInfo{}, err
	}
	vt, err := strconv.Atoi(attrs["VisibilityTimeout"])
	if err != nil {
		return lambda.QueueInfo{}, fmt.Errorf("queue %s reports VisibilityTimeout %q", arn, attrs["VisibilityTimeout"])
	}
	return lambda.QueueInfo{ARN: arn, URL: q.engine().URLOf(name), Region: q.c.opts.Region, VisibilityTimeoutSec: vt, FIFO: lambda.IsFIFOQueueARN(arn)}, nil
}

func (q engineQueues) Receive(ctx context.Context, info lambda.QueueInfo, max int, wait time.Duration) ([]events.SQSMessage, error) {
	name, _ := q.engine().QueueNameFromARN(info.ARN)
	secs := int(wait / time.Second)
	q.c.calls.add("sqs:ReceiveMessage")
	msgs, err := q.engine().ReceiveMessage(ctx, name, sqs.ReceiveInput{
		MaxNumberOfMessages:   max,
		WaitTimeSeconds:       &secs,
		AttributeNames:        lambda.RecordAttributesOf(info),
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		return nil, err
	}
	recs := make([]events.SQSMessage, len(msgs))
	for i, m := range msgs {
		r := events.SQSMessage{
			MessageId: m.MessageID, ReceiptHandle: m.ReceiptHandle, Body: m.Body,
			Md5OfBody: m.MD5OfBody, Md5OfMessageAttributes: m.MD5OfMessageAttributes,
			Attributes: m.Attributes, MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSource: "aws:sqs", EventSourceARN: info.ARN, AWSRegion: info.Region,
		}
		if r.Attributes == nil {
			r.Attributes = map[string]string{}
		}
		for k, v := range m.MessageAttributes {
			a := events.SQSMessageAttribute{DataType: v.DataType, StringListValues: []string{}, BinaryListValues: [][]byte{}}
			if v.BinaryValue != nil {
				a.BinaryValue = v.BinaryValue
			} else {
				s := v.StringValue
				a.StringValue = &s
			}
			r.MessageAttributes[k] = a
		}
		recs[i] = r
	}
	return recs, nil
}

func (q engineQueues) Delete(_ context.Context, info lambda.QueueInfo, recs []events.SQSMessage) error {
	name, _ := q.engine().QueueNameFromARN(info.ARN)
	var errs []error
	for start := 0; start < len(recs); start += 10 {
		// The same fault as a DeleteMessageBatch through the API would meet.
		q.c.calls.add("sqs:DeleteMessageBatch")
		if q.c.faults.fire("failed-deletes", func(f Faults) float64 { return f.FailedDeletes }) {
			errs = append(errs, fmt.Errorf("delete %d records from %s: InternalError (injected)", min(10, len(recs)-start), info.ARN))
			continue
		}
		for _, r := range recs[start:min(start+10, len(recs))] {
			if err := q.engine().DeleteMessage(name, r.ReceiptHandle); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

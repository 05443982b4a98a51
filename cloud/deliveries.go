package cloud

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/cloud/sns"
	"github.com/orderflow/orderflow/cloud/sqs"
)

// snsToSQS delivers SNS messages into SQS queues in-process, as the SNS
// service principal, so that each queue's policy decides whether the topic
// may send.
type snsToSQS struct {
	sqs     *sqs.Service
	account string
	faults  *injector
	count   func() // counts each delivery as the SQS request AWS bills it as
}

var _ sns.Queues = snsToSQS{}

func (q snsToSQS) Deliver(ctx context.Context, d sns.Delivery) error {
	in := sqs.SendInput{Body: d.Body}
	if len(d.Attributes) > 0 {
		in.MessageAttributes = make(map[string]sqs.MessageAttributeValue, len(d.Attributes))
		for k, v := range d.Attributes {
			in.MessageAttributes[k] = sqs.MessageAttributeValue{DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue}
		}
	}
	p := sqs.Principal{Service: "sns.amazonaws.com", SourceArn: d.TopicARN, SourceAccount: q.account}
	if q.count != nil {
		q.count()
	}
	_, err := q.sqs.SendAs(ctx, d.QueueARN, p, in)
	switch {
	case err == nil:
		if q.faults != nil && q.faults.fire("duplicate-deliveries", func(f Faults) float64 { return f.DuplicateDeliveries }) {
			q.sqs.SendAs(ctx, d.QueueARN, p, in) // at-least-once: a second copy
		}
		return nil
	case errors.Is(err, sqs.ErrQueueNotFound):
		return fmt.Errorf("%w: %w", sns.ErrQueueNotFound, err)
	case errors.Is(err, sqs.ErrAccessDenied):
		return fmt.Errorf("%w: %w", sns.ErrDenied, err)
	}
	return err
}

package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/orderflow/orderflow/cloud/awsproto"
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
	calls   *callCounts // counts each delivery as the SQS request AWS bills it as
}

var _ sns.Queues = snsToSQS{}

func (q snsToSQS) Deliver(ctx context.Context, d sns.Delivery) error {
	in := sqs.SendInput{Body: d.Body, MessageGroupID: d.MessageGroupID, MessageDeduplicationID: d.MessageDeduplicationID}
	if len(d.Attributes) > 0 {
		in.MessageAttributes = make(map[string]sqs.MessageAttributeValue, len(d.Attributes))
		for k, v := range d.Attributes {
			in.MessageAttributes[k] = sqs.MessageAttributeValue{DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue}
		}
	}
	p := sqs.Principal{Service: "sns.amazonaws.com", SourceArn: d.TopicARN, SourceAccount: q.account}
	q.calls.add("sqs:SendMessage (SNS delivery)")
	if q.faults != nil && q.faults.fire("failed-deliveries", func(f Faults) float64 { return f.FailedDeliveries }) {
		return errInjectedDelivery
	}
	_, err := q.sqs.SendAs(ctx, d.QueueARN, p, in)
	if err == nil {
		if q.faults != nil && q.faults.fire("duplicate-deliveries", func(f Faults) float64 { return f.DuplicateDeliveries }) {
			q.sqs.SendAs(ctx, d.QueueARN, p, in) // at-least-once: a second copy
		}
		return nil
	}
	return classifyDelivery(err)
}

var errInjectedDelivery = &awsproto.Error{Status: http.StatusInternalServerError, Code: "InternalError",
	Message: "We encountered an internal error. Please try again. (injected)", Receiver: true}

// classifyDelivery sorts SQS's answer to a delivery as SNS sorts it: a
// client-side error (the queue gone, its policy denying the topic, any
// other 4xx that is not throttling, such as a message SQS refuses) matches
// one of SNS's client-side errors, which it does not retry; anything else
// (5xx, throttling, a full queue, a timeout, a failure to make the message
// durable) is left as it is: a server-side error, retried.
func classifyDelivery(err error) error {
	switch {
	case errors.Is(err, sqs.ErrQueueFull), errors.Is(err, sqs.ErrNotDurable):
		// A full queue takes messages again once drained, and a data file
		// that cannot be written at the moment takes them again once space
		// returns: server-side, retried (AWS's "endpoint unavailable").
		return err
	case errors.Is(err, sqs.ErrQueueNotFound):
		return fmt.Errorf("%w: %w", sns.ErrQueueNotFound, err)
	case errors.Is(err, sqs.ErrAccessDenied):
		return fmt.Errorf("%w: %w", sns.ErrDenied, err)
	}
	if ae, ok := errors.AsType[*awsproto.Error](err); ok && ae.Status >= 400 && ae.Status < 500 &&
		ae.Status != http.StatusTooManyRequests && !ae.Receiver && !strings.Contains(ae.Code, "Throttl") {
		return fmt.Errorf("%w: %w", sns.ErrRefused, err)
	}
	return err
}

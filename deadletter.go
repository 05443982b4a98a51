package orderflow

import "time"

// DeadLetter is input the function refused for good, with why. Its Body is
// the queued message body exactly as received, so that moving it back to the
// source queue (a redrive) replays the original event.
type DeadLetter struct {
	Body              string
	Code              Code
	Reason            string
	OriginalMessageID string    // the SQS message id in the source queue
	ReceiveCount      int       // receives of the original message when it was refused
	Source            string    // the source queue's ARN, when known
	FailedAt          time.Time // when the function refused it
}

// The names of the message attributes that carry a DeadLetter's fields on a
// dead-lettered SQS message. A message that SQS itself moved to the
// dead-letter queue (after maxReceiveCount receives) has none of them.
const (
	AttrErrorCode         = "orderflow.ErrorCode"
	AttrReason            = "orderflow.Reason"
	AttrOriginalMessageID = "orderflow.OriginalMessageId"
	AttrReceiveCount      = "orderflow.ReceiveCount"
	AttrSource            = "orderflow.Source"
	AttrFailedAt          = "orderflow.FailedAt"
)

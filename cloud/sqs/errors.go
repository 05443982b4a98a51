package sqs

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/journal"
)

// ErrQueueNotFound is the error of every operation on a queue that does not
// exist (AWS.SimpleQueueService.NonExistentQueue).
var ErrQueueNotFound error = &awsproto.Error{
	Status:  http.StatusBadRequest,
	Code:    "AWS.SimpleQueueService.NonExistentQueue",
	Type:    "QueueDoesNotExist",
	Message: "The specified queue does not exist.",
}

// ErrAccessDenied is the error of SendAs when the queue's policy does not
// allow the principal to send.
var ErrAccessDenied error = &awsproto.Error{
	Status:  http.StatusForbidden,
	Code:    "AccessDenied",
	Type:    "AccessDeniedException",
	Message: "Access to the resource is denied.",
}

// ErrNotDurable is the error of every request while a change cannot be
// made durable: the data file (or its log) cannot be written, so memory
// may hold changes no one acknowledged, and answering from it could show
// one that a restart loses. It matches with errors.Is; the error also
// carries the AWS error clients see (503 ServiceUnavailable, naming the
// cause) and the journal's error. When the cause is a resource running out (it also matches
// journal.ErrStalled) the journal retries, and requests are answered again
// once it succeeds; otherwise until the process restarts.
var ErrNotDurable = errors.New("sqs: a change could not be made durable")

func errNotDurable(cause error) error {
	return &notDurable{cause: cause, api: awsproto.NotDurable("SQS", cause, errors.Is(cause, journal.ErrStalled))}
}

// notDurable matches ErrNotDurable, the AWS error clients see, and the
// journal's error (journal.ErrStalled, say) for in-process callers.
type notDurable struct {
	cause error
	api   *awsproto.Error
}

func (e *notDurable) Error() string   { return ErrNotDurable.Error() + ": " + e.api.Error() }
func (e *notDurable) Unwrap() []error { return []error{ErrNotDurable, e.api, e.cause} }

// ErrQueueFull is the error of a send to a queue that holds its ceiling
// of messages, or when all queues hold theirs (Options.MaxQueueBytes,
// MaxQueuedBytes). It matches with errors.Is and is AWS's
// RequestThrottled (HTTP 400): of the errors AWS documents for
// SendMessage it is the one that says "not now, the queue takes no more
// at this rate", which is what a full queue means: it takes messages
// again as soon as it is drained. SDKs retry it with backoff, and SNS
// retries a delivery that meets it (a server-side error), where OverLimit
// (403, documented for ReceiveMessage) would be taken as final.
var ErrQueueFull = errors.New("sqs: the queue is full")

func errQueueFull(name, why string) error {
	return fmt.Errorf("%w: %w", ErrQueueFull, awsproto.Errorf(http.StatusBadRequest, "RequestThrottled",
		"The queue %s takes no more messages for now: %s (this endpoint's local ceiling on queued messages; AWS sets none). "+
			"Receive and delete messages to make room, then retry.", name, why))
}

// errOverLimit is ReceiveMessage's answer when the queue has MaxInflight
// messages in flight, as AWS's.
func errOverLimit(name string) *awsproto.Error {
	return awsproto.Errorf(http.StatusForbidden, "OverLimit",
		"The queue %s has %d messages in flight, the most a queue allows: delete them, or let their visibility timeout run out, before receiving more.", name, MaxInflight)
}

// The errors below carry AWS's codes: Code is the Query protocol's (and the
// x-amzn-query-error header's), Type the JSON protocol's shape name where
// the service model gives one.

// InvalidParameterValue and MissingParameter travel in the JSON protocol
// as InvalidParameterValueException and MissingRequiredParameterException
// (the QueryErrorCode of LocalStack's snapshots recorded against AWS, e.g.
// test_posting_to_fifo_requires_deduplicationid_group_id), their Query
// codes in the x-amzn-query-error header.

func errInvalidParameter(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidParameterValue", format, args...).WithType("InvalidParameterValueException")
}

func errMissingParameter(name string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %s.", name).WithType("MissingRequiredParameterException")
}

func errInvalidAttributeName(name string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidAttributeName", "Unknown Attribute %s.", name)
}

func errInvalidAttributeNameMessage(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidAttributeName", format, args...)
}

func errInvalidAttributeValue(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidAttributeValue", format, args...)
}

func errQueueNameExists(name, attr string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "QueueAlreadyExists",
		"A queue already exists with the same name and a different value for attribute %s", attr).WithType("QueueNameExists")
}

func errReceiptHandleInvalid(handle string) *awsproto.Error {
	return awsproto.Errorf(http.StatusNotFound, "ReceiptHandleIsInvalid",
		"The input receipt handle \"%s\" is not a valid receipt handle.", handle)
}

func errEmptyBatch(entry string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "AWS.SimpleQueueService.EmptyBatchRequest",
		"There should be at least one %s in the request.", entry).WithType("EmptyBatchRequest")
}

func errTooManyEntries(n int) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
		"Maximum number of entries per request are %d. You have sent %d.", maxBatchEntries, n).WithType("TooManyEntriesInBatchRequest")
}

func errBatchIDsNotDistinct(id string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
		"Id %s repeated.", id).WithType("BatchEntryIdsNotDistinct")
}

func errInvalidBatchEntryID() *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "AWS.SimpleQueueService.InvalidBatchEntryId",
		"A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.").WithType("InvalidBatchEntryId")
}

func errBatchTooLong(n int) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "AWS.SimpleQueueService.BatchRequestTooLong",
		"Batch requests cannot be longer than %d bytes. You have sent %d bytes.", MaxMessageBytes, n).WithType("BatchRequestTooLong")
}

func errPurgeInProgress(name string) *awsproto.Error {
	return awsproto.Errorf(http.StatusForbidden, "AWS.SimpleQueueService.PurgeQueueInProgress",
		"Only one PurgeQueue operation on %s is allowed every 60 seconds.", name).WithType("PurgeQueueInProgress")
}

func errInvalidMessageContents(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidMessageContents", format, args...)
}

// errReceiptHandleExpired is AWS's answer to a FIFO queue's DeleteMessage
// with a receipt handle whose visibility timeout ran out (LocalStack's
// snapshot test_fifo_delete_after_visibility_timeout).
func errReceiptHandleExpired(handle string) *awsproto.Error {
	return errInvalidParameter("Value %s for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", handle)
}

func errResourceNotFound(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusNotFound, "ResourceNotFoundException", format, args...)
}

func errInvalidAddress(addr string) *awsproto.Error {
	return awsproto.Errorf(http.StatusNotFound, "InvalidAddress", "The address %s is not valid for this endpoint.", addr)
}

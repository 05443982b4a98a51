// Package sqs sends refused input to the dead-letter queue over
// aws-sdk-go-v2. It runs unchanged against AWS and against the embedded
// cloud: only the client's endpoint differs.
package sqs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow"
)

// API is the part of the SQS client the dead-letter sender uses.
type API interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ API = (*sqs.Client)(nil)

// MaxReasonBytes bounds the reason attribute; a reason longer than this (a
// document with thousands of unknown fields, say) is cut, marked with "…".
const MaxReasonBytes = 4 << 10

// DeadLetters sends dead letters to one queue.
type DeadLetters struct {
	api API
	url string
}

// New returns a sender to the queue at queueURL.
func New(api API, queueURL string) *DeadLetters {
	return &DeadLetters{api: api, url: queueURL}
}

// BoundedRetries is a client option that keeps the SDK's retries short, for
// the same reason as the DynamoDB store's: a send that cannot succeed within
// the function's timeout is better left to SQS's own redelivery.
func BoundedRetries(o *sqs.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 3
		so.MaxBackoff = 500 * time.Millisecond
	})
}

// SendDeadLetter sends dl's body unchanged, with its code, reason, original
// message id, receive count, source and time as message attributes (named
// orderflow.Attr*), so that an operator can read why and a redrive replays
// the original event.
func (d *DeadLetters) SendDeadLetter(ctx context.Context, dl orderflow.DeadLetter) error {
	attrs := map[string]types.MessageAttributeValue{
		orderflow.AttrErrorCode:    str(string(dl.Code)),
		orderflow.AttrReason:       str(limit(sanitize(dl.Reason), MaxReasonBytes)),
		orderflow.AttrReceiveCount: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(dl.ReceiveCount))},
	}
	if dl.OriginalMessageID != "" {
		attrs[orderflow.AttrOriginalMessageID] = str(sanitize(dl.OriginalMessageID))
	}
	if dl.Source != "" {
		attrs[orderflow.AttrSource] = str(sanitize(dl.Source))
	}
	if !dl.FailedAt.IsZero() {
		attrs[orderflow.AttrFailedAt] = str(dl.FailedAt.UTC().Format(time.RFC3339Nano))
	}
	in := &sqs.SendMessageInput{
		QueueUrl:          aws.String(d.url),
		MessageBody:       aws.String(dl.Body),
		MessageAttributes: attrs,
	}
	if strings.HasSuffix(d.url, ".fifo") {
		// A FIFO dead-letter queue (QueueType FIFO) takes a group and a
		// deduplication id, both the original message's id: dead-lettering
		// the same record again within SQS's 5-minute window (a retry
		// after a timeout) leaves one dead letter, and each dead letter is
		// a group of its own, since SQS hands out no message of a group
		// while another is in flight: with one group per order (or one for
		// every body without an order id), reading the queue to list it
		// would stop at the first message of each group.
		id := deduplicationID(dl)
		in.MessageGroupId, in.MessageDeduplicationId = aws.String(id), aws.String(id)
	}
	_, err := d.api.SendMessage(ctx, in)
	if err != nil {
		return fmt.Errorf("sqs: send dead letter for message %s to %s: %w", dl.OriginalMessageID, d.url, err)
	}
	return nil
}

// FromAttributes reads the dead-letter fields back from a dead-lettered
// message's attributes. ok is false for a message without them, such as one
// SQS moved after maxReceiveCount receives.
func FromAttributes(body string, attrs map[string]types.MessageAttributeValue) (dl orderflow.DeadLetter, ok bool) {
	get := func(name string) string {
		if v, found := attrs[name]; found && v.StringValue != nil {
			return *v.StringValue
		}
		return ""
	}
	dl = orderflow.DeadLetter{
		Body:              body,
		Code:              orderflow.Code(get(orderflow.AttrErrorCode)),
		Reason:            get(orderflow.AttrReason),
		OriginalMessageID: get(orderflow.AttrOriginalMessageID),
		Source:            get(orderflow.AttrSource),
	}
	dl.ReceiveCount, _ = strconv.Atoi(get(orderflow.AttrReceiveCount))
	dl.FailedAt, _ = time.Parse(time.RFC3339Nano, get(orderflow.AttrFailedAt))
	return dl, dl.Code != ""
}

func str(s string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
}

// sanitize replaces the characters SQS refuses in message content (it allows
// #x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD and #x10000-#x10FFFF), so that a
// hostile field name quoted in a reason cannot make the send fail.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == 0x9 || r == 0xA || r == 0xD,
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}

func limit(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}

// deduplicationID is a dead letter's MessageDeduplicationId and
// MessageGroupId on a FIFO queue: its original
// message id when that is one (1 to 128 ASCII letters, digits and
// punctuation marks; SQS's ids are UUIDs), else the SHA-256 of the id and
// the body, in hex.
func deduplicationID(dl orderflow.DeadLetter) string {
	id := dl.OriginalMessageID
	ok := len(id) > 0 && len(id) <= 128
	for i := 0; ok && i < len(id); i++ {
		ok = id[i] >= '!' && id[i] <= '~'
	}
	if ok {
		return id
	}
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(dl.Body))
	return hex.EncodeToString(h.Sum(nil))
}

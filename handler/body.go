package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/orderflow/orderflow"
)

// MaxBodyBytes bounds an SQS message body the function will look at. An SNS
// envelope around the largest valid order (orderflow.MaxOrderBytes, escaped)
// stays well below it; anything larger is refused before it is parsed.
const MaxBodyBytes = 256 << 10

// Body is what a queued message body held.
type Body struct {
	Order orderflow.Order
	// SNSMessageID is the SNS message id when the body was an SNS envelope,
	// empty for a raw delivery.
	SNSMessageID string
	// PublishedAt is when SNS accepted the message (the envelope's
	// Timestamp), zero for a raw delivery or an envelope without one.
	PublishedAt time.Time
}

// snsEnvelope holds the members of an SNS notification that the function
// needs. SNS delivers to an SQS subscription in this envelope unless the
// subscription sets RawMessageDelivery.
type snsEnvelope struct {
	Type      string  `json:"Type"`
	MessageID string  `json:"MessageId"`
	TopicArn  string  `json:"TopicArn"`
	Message   *string `json:"Message"`
	// Timestamp is when SNS accepted the message. Any JSON value is
	// taken: one that is not a time must not make a notification invalid,
	// since only the metrics read it.
	Timestamp publishTime `json:"Timestamp"`
}

// DecodeBody turns an SQS message body into an order. The body is either an
// SNS notification envelope whose Message is the order (the default for an
// SNS-to-SQS subscription) or the order itself (raw message delivery). Any
// other body is invalid input: the error matches orderflow.ErrInvalid.
func DecodeBody(body string) (Body, error) {
	if len(body) > MaxBodyBytes {
		return Body{}, orderflow.Invalid(orderflow.CodeTooLarge, "message body is %d bytes, more than the limit of %d", len(body), MaxBodyBytes)
	}
	data := []byte(body)
	if !mayHoldType(data) {
		// Raw delivery, the template's default: no envelope to read.
		o, err := orderflow.Decode(data)
		return Body{Order: o}, err
	}
	var env snsEnvelope
	// A body that is not JSON, or is JSON but not an envelope (no Type), is
	// taken as a raw order; orderflow.Decode then says precisely what is wrong.
	err := json.Unmarshal(data, &env)
	var typeErr *json.UnmarshalTypeError
	if env.Type == "" || (err != nil && !errors.As(err, &typeErr)) {
		o, err := orderflow.Decode(data)
		return Body{Order: o}, err
	}
	switch {
	case err != nil:
		return Body{}, orderflow.Invalid(orderflow.CodeUnsupportedMessage, "SNS envelope member %s is not a string", typeErr.Field)
	case env.Type != "Notification":
		return Body{}, orderflow.Invalid(orderflow.CodeUnsupportedMessage, "an SNS %q message is not an order event", truncate(env.Type, 64))
	case env.Message == nil:
		return Body{}, orderflow.Invalid(orderflow.CodeUnsupportedMessage, "SNS notification has no Message")
	case env.TopicArn == "" || env.MessageID == "":
		return Body{}, orderflow.Invalid(orderflow.CodeUnsupportedMessage, "SNS notification lacks its TopicArn or MessageId")
	}
	o, err := orderflow.Decode([]byte(*env.Message))
	return Body{Order: o, SNSMessageID: env.MessageID, PublishedAt: time.Time(env.Timestamp)}, err
}

// mayHoldType reports whether body can hold an envelope's Type member.
// encoding/json matches member names without regard to case (the fold
// sets of t, y, p and e hold only their ASCII letters) after reading
// their escapes, so a body with no "type" in any case and no backslash
// decodes to an envelope without a Type: it is taken as a raw order
// without reading it as an envelope first.
func mayHoldType(body []byte) bool {
	if bytes.IndexByte(body, '\\') >= 0 {
		return true
	}
	for i := 0; i+4 <= len(body); i++ {
		if body[i]|0x20 == 't' && body[i+1]|0x20 == 'y' && body[i+2]|0x20 == 'p' && body[i+3]|0x20 == 'e' {
			return true
		}
	}
	return false
}

// publishTime is an envelope's Timestamp ("2025-05-03T12:00:00.123Z"),
// zero if it is missing or not a time.
type publishTime time.Time

// UnmarshalJSON never fails: a Timestamp that is not a time is no time.
func (t *publishTime) UnmarshalJSON(b []byte) error {
	// SNS's timestamps need no unescaping: a string with an escape in it
	// is not one of them.
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' || bytes.IndexByte(b, '\\') >= 0 {
		return nil
	}
	if v, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1])); err == nil {
		*t = publishTime(v)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// OrderIDOf finds the order id in a message body, valid or not, raw or in
// an SNS envelope, for reports and operators; "" if there is none.
func OrderIDOf(body string) string {
	if b, err := DecodeBody(body); err == nil {
		return b.Order.OrderID
	}
	var m map[string]any
	if json.Unmarshal([]byte(body), &m) != nil {
		return ""
	}
	if msg, ok := m["Message"].(string); ok && m["Type"] != nil {
		m = nil
		if json.Unmarshal([]byte(msg), &m) != nil {
			return ""
		}
	}
	id, _ := m["orderId"].(string)
	return id
}

package sqs

import (
	"github.com/orderflow/orderflow/cloud/awsproto"
)

// The requests every message cycle makes (SendMessageBatch,
// ReceiveMessage, DeleteMessageBatch) are read by a small hand-written
// decoder when their bodies take the plain form SDKs send: members named
// exactly, each once, strings of UTF-8 text without surrogate escapes,
// integers in plain decimal, no nulls, no message attributes. Anything
// else (other spellings, unknown members, attributes, odd numbers, bad
// text, malformed JSON) makes it give up, and encoding/json reads the body
// as before, with its errors and the text checks of refuseInvalidText.
// What the fast path accepts it decodes exactly as encoding/json does
// (wire_decode_test.go compares them).

// fastDecoder is an input that can try the fast path; it reports false
// when the body must go to encoding/json, leaving itself to be reset.
type fastDecoder interface {
	decodeFast(body []byte) bool
}

var (
	_ fastDecoder = (*sendMessageBatchInput)(nil)
	_ fastDecoder = (*receiveMessageInput)(nil)
	_ fastDecoder = (*deleteMessageBatchInput)(nil)
)

func (in *sendMessageBatchInput) decodeFast(body []byte) bool {
	s := awsproto.NewJSONScanner(body, false)
	s.Object(func(name []byte) bool {
		switch string(name) {
		case "QueueUrl":
			in.QueueUrl = s.Str()
		case "Entries":
			in.Entries = make([]sendBatchEntry, 0, maxBatchEntries)
			s.Array(func() {
				var e sendBatchEntry
				s.Object(func(name []byte) bool {
					switch string(name) {
					case "Id":
						e.Id = s.Str()
					case "MessageBody":
						e.MessageBody = s.Str()
					case "MessageGroupId":
						e.MessageGroupId = s.Str()
					case "MessageDeduplicationId":
						e.MessageDeduplicationId = s.Str()
					case "DelaySeconds":
						e.DelaySeconds = s.Int()
					default:
						return false
					}
					return true
				})
				in.Entries = append(in.Entries, e)
			})
		default:
			return false
		}
		return true
	})
	return s.End()
}

func (in *deleteMessageBatchInput) decodeFast(body []byte) bool {
	s := awsproto.NewJSONScanner(body, false)
	s.Object(func(name []byte) bool {
		switch string(name) {
		case "QueueUrl":
			in.QueueUrl = s.Str()
		case "Entries":
			in.Entries = make([]deleteBatchEntry, 0, maxBatchEntries)
			s.Array(func() {
				var e deleteBatchEntry
				s.Object(func(name []byte) bool {
					switch string(name) {
					case "Id":
						e.Id = s.Str()
					case "ReceiptHandle":
						e.ReceiptHandle = s.Str()
					default:
						return false
					}
					return true
				})
				in.Entries = append(in.Entries, e)
			})
		default:
			return false
		}
		return true
	})
	return s.End()
}

func (in *receiveMessageInput) decodeFast(body []byte) bool {
	s := awsproto.NewJSONScanner(body, false)
	s.Object(func(name []byte) bool {
		switch string(name) {
		case "QueueUrl":
			in.QueueUrl = s.Str()
		case "AttributeNames":
			in.AttributeNames = s.Strs()
		case "MessageSystemAttributeNames":
			in.MessageSystemAttributeNames = s.Strs()
		case "MessageAttributeNames":
			in.MessageAttributeNames = s.Strs()
		case "MaxNumberOfMessages":
			in.MaxNumberOfMessages = s.Int()
		case "VisibilityTimeout":
			in.VisibilityTimeout = s.Int()
		case "WaitTimeSeconds":
			in.WaitTimeSeconds = s.Int()
		case "ReceiveRequestAttemptId":
			in.ReceiveRequestAttemptId = s.Str()
		default:
			return false
		}
		return true
	})
	return s.End()
}

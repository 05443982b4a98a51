package sqs

import (
	"strconv"
	"unicode/utf8"
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

// jsonScanner reads a JSON body from the front; ok turns false at the
// first thing it does not handle.
type jsonScanner struct {
	b  []byte
	i  int
	ok bool
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips white space and then c, or fails.
func (s *jsonScanner) consume(c byte) {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return
	}
	s.ok = false
}

// peek skips white space and reports whether the next byte is c.
func (s *jsonScanner) peek(c byte) bool {
	s.ws()
	return s.i < len(s.b) && s.b[s.i] == c
}

// str reads a string: simple escapes and \u escapes outside the
// surrogates are decoded; control characters, surrogate escapes and
// bytes that are not UTF-8 fail.
func (s *jsonScanner) str() string {
	s.consume('"')
	if !s.ok {
		return ""
	}
	start := s.i
	// The text with its escapes decoded, used only when it has some: on
	// the stack for a typical message body.
	var small [512]byte
	var buf []byte
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(raw) {
				s.ok = false
				return ""
			}
			if buf != nil {
				return string(append(buf, raw...))
			}
			return string(raw)
		case c < 0x20:
			s.ok = false
			return ""
		case c >= utf8.RuneSelf:
			ascii = false
			s.i++
		case c == '\\':
			if !ascii && !utf8.Valid(s.b[start:s.i]) {
				s.ok = false
				return ""
			}
			if buf == nil {
				buf = small[:0]
			}
			buf = append(buf, s.b[start:s.i]...)
			if s.i+1 >= len(s.b) {
				s.ok = false
				return ""
			}
			e := s.b[s.i+1]
			s.i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				if s.i+4 > len(s.b) {
					s.ok = false
					return ""
				}
				r, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
				if err != nil || r >= 0xD800 && r <= 0xDFFF {
					s.ok = false
					return ""
				}
				buf = utf8.AppendRune(buf, rune(r))
				s.i += 4
			default:
				s.ok = false
				return ""
			}
			start = s.i
		default:
			s.i++
		}
	}
	s.ok = false
	return ""
}

// integer reads a JSON integer that fits an int in plain decimal.
func (s *jsonScanner) integer() *int {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	if n == 0 || n > 9 || n > 1 && s.b[digits] == '0' {
		s.ok = false
		return nil
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			s.ok = false
			return nil
		}
	}
	v, err := strconv.Atoi(string(s.b[start:s.i]))
	if err != nil {
		s.ok = false
		return nil
	}
	return &v
}

// strs reads an array of strings.
func (s *jsonScanner) strs() []string {
	s.consume('[')
	out := []string{}
	if s.peek(']') {
		s.i++
		return out
	}
	for s.ok {
		out = append(out, s.str())
		if s.peek(',') {
			s.i++
			continue
		}
		s.consume(']')
		break
	}
	return out
}

// key reads a member name, which must be plain ASCII without escapes
// (every name the fast path knows is): its bytes, not a copy.
func (s *jsonScanner) key() []byte {
	s.consume('"')
	start := s.i
	for s.ok && s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1]
		case c < 0x20 || c >= utf8.RuneSelf || c == '\\':
			s.ok = false
		default:
			s.i++
		}
	}
	s.ok = false
	return nil
}

// object reads an object, calling member for each member's name with the
// scanner at its value; member reads the value or fails. A member named
// twice fails.
func (s *jsonScanner) object(member func(name []byte) bool) {
	s.consume('{')
	if s.peek('}') {
		s.i++
		return
	}
	var seen [8][]byte
	n := 0
	for s.ok {
		name := s.key()
		s.consume(':')
		if !s.ok {
			return
		}
		for _, prev := range seen[:n] {
			if string(prev) == string(name) {
				s.ok = false
				return
			}
		}
		if n == len(seen) || !member(name) {
			s.ok = false
			return
		}
		seen[n] = name
		n++
		if s.peek(',') {
			s.i++
			continue
		}
		s.consume('}')
		return
	}
}

// objects reads an array of objects, each through item.
func (s *jsonScanner) objects(item func()) {
	s.consume('[')
	if s.peek(']') {
		s.i++
		return
	}
	for s.ok {
		item()
		if s.peek(',') {
			s.i++
			continue
		}
		s.consume(']')
		return
	}
}

// end checks that nothing but white space is left.
func (s *jsonScanner) end() bool {
	s.ws()
	return s.ok && s.i == len(s.b)
}

func (in *sendMessageBatchInput) decodeFast(body []byte) bool {
	s := &jsonScanner{b: body, ok: true}
	s.object(func(name []byte) bool {
		switch string(name) {
		case "QueueUrl":
			in.QueueUrl = s.str()
		case "Entries":
			in.Entries = make([]sendBatchEntry, 0, maxBatchEntries)
			s.objects(func() {
				var e sendBatchEntry
				s.object(func(name []byte) bool {
					switch string(name) {
					case "Id":
						e.Id = s.str()
					case "MessageBody":
						e.MessageBody = s.str()
					case "MessageGroupId":
						e.MessageGroupId = s.str()
					case "MessageDeduplicationId":
						e.MessageDeduplicationId = s.str()
					case "DelaySeconds":
						e.DelaySeconds = s.integer()
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
	return s.end()
}

func (in *deleteMessageBatchInput) decodeFast(body []byte) bool {
	s := &jsonScanner{b: body, ok: true}
	s.object(func(name []byte) bool {
		switch string(name) {
		case "QueueUrl":
			in.QueueUrl = s.str()
		case "Entries":
			in.Entries = make([]deleteBatchEntry, 0, maxBatchEntries)
			s.objects(func() {
				var e deleteBatchEntry
				s.object(func(name []byte) bool {
					switch string(name) {
					case "Id":
						e.Id = s.str()
					case "ReceiptHandle":
						e.ReceiptHandle = s.str()
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
	return s.end()
}

func (in *receiveMessageInput) decodeFast(body []byte) bool {
	s := &jsonScanner{b: body, ok: true}
	s.object(func(name []byte) bool {
		switch string(name) {
		case "QueueUrl":
			in.QueueUrl = s.str()
		case "AttributeNames":
			in.AttributeNames = s.strs()
		case "MessageSystemAttributeNames":
			in.MessageSystemAttributeNames = s.strs()
		case "MessageAttributeNames":
			in.MessageAttributeNames = s.strs()
		case "MaxNumberOfMessages":
			in.MaxNumberOfMessages = s.integer()
		case "VisibilityTimeout":
			in.VisibilityTimeout = s.integer()
		case "WaitTimeSeconds":
			in.WaitTimeSeconds = s.integer()
		case "ReceiveRequestAttemptId":
			in.ReceiveRequestAttemptId = s.str()
		default:
			return false
		}
		return true
	})
	return s.end()
}

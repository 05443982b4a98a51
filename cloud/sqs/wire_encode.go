package sqs

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// The results every message cycle returns (SendMessageBatch,
// ReceiveMessage, DeleteMessageBatch) are written by hand rather than by
// encoding/json's and encoding/xml's reflection, which cost more than the
// engine's work. The bytes are exactly what those packages write for the
// same values (wire_encode_test.go compares them on many shapes), so the
// tag-driven types stay the definition of the wire shapes and the other
// actions still go through reflection.

// fastResult is a result that writes its own JSON and Query documents.
type fastResult interface {
	appendJSON(b []byte) []byte
	// appendXML writes the result element of action ("<action>Result").
	appendXML(b []byte, action string) []byte
}

var (
	_ fastResult = (*sendMessageBatchOutput)(nil)
	_ fastResult = (*receiveMessageOutput)(nil)
	_ fastResult = (*deleteMessageBatchOutput)(nil)
)

// buffers recycles response buffers; one holds a batch of ten typical
// messages without growing.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBuffer keeps a buffer that grew for one large reply (a batch of
// 1 MiB) out of the pool.
const maxPooledBuffer = 64 << 10

func writeFast(w http.ResponseWriter, contentType string, fill func([]byte) []byte) {
	bp := buffers.Get().(*[]byte)
	b := fill((*bp)[:0])
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	if cap(b) <= maxPooledBuffer {
		*bp = b
		buffers.Put(bp)
	}
}

// writeFastJSON writes r as awsproto.WriteJSON would.
func writeFastJSON(w http.ResponseWriter, r fastResult) {
	writeFast(w, "application/x-amz-json-1.0", r.appendJSON)
}

// writeFastXML writes r in the Query envelope as serveQuery's
// awsproto.WriteXML(queryEnvelope{…}) would.
func writeFastXML(w http.ResponseWriter, action, reqID string, r fastResult) {
	writeFast(w, "text/xml", func(b []byte) []byte { return appendQueryDocument(b, action, reqID, r) })
}

func appendQueryDocument(b []byte, action, reqID string, r fastResult) []byte {
	b = append(b, xml.Header...)
	b = append(b, '<')
	b = append(b, action...)
	b = append(b, `Response xmlns="`...)
	b = awsproto.AppendXMLText(b, xmlns)
	b = append(b, `">`...)
	b = r.appendXML(b, action)
	b = append(b, "<ResponseMetadata>"...)
	b = awsproto.AppendXMLElement(b, "RequestId", reqID)
	b = append(b, "</ResponseMetadata></"...)
	b = append(b, action...)
	return append(b, "Response>"...)
}

// ---- JSON

// appendJSONString appends s as encoding/json writes a string: HTML
// characters, U+2028 and U+2029 escaped, bytes that are not UTF-8 as
// \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONField appends "name":"value", preceded by a comma unless it
// is the object's first member.
func appendJSONField(b []byte, first bool, name, value string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	return appendJSONString(b, value)
}

func appendJSONBytes(b []byte, v []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

func (e *batchError) appendJSON(b []byte) []byte {
	b = appendJSONField(b, true, "Id", e.Id)
	b = append(b, `,"SenderFault":`...)
	b = strconv.AppendBool(b, e.SenderFault)
	b = appendJSONField(b, false, "Code", e.Code)
	if e.Message != "" {
		b = appendJSONField(b, false, "Message", e.Message)
	}
	return b
}

func appendJSONFailed(b []byte, failed []batchError) []byte {
	b = append(b, `"Failed":`...)
	if failed == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range failed {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = failed[i].appendJSON(b)
		b = append(b, '}')
	}
	return append(b, ']')
}

func (o *sendMessageOutput) appendJSONFields(b []byte) []byte {
	b = appendJSONField(b, false, "MD5OfMessageBody", o.MD5OfMessageBody)
	if o.MD5OfMessageAttributes != "" {
		b = appendJSONField(b, false, "MD5OfMessageAttributes", o.MD5OfMessageAttributes)
	}
	if o.MD5OfMessageSystemAttributes != "" {
		b = appendJSONField(b, false, "MD5OfMessageSystemAttributes", o.MD5OfMessageSystemAttributes)
	}
	b = appendJSONField(b, false, "MessageId", o.MessageId)
	if o.SequenceNumber != "" {
		b = appendJSONField(b, false, "SequenceNumber", o.SequenceNumber)
	}
	return b
}

func (o *sendMessageBatchOutput) appendJSON(b []byte) []byte {
	b = append(b, `{"Successful":`...)
	if o.Successful == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range o.Successful {
			e := &o.Successful[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			b = appendJSONField(b, true, "Id", e.Id)
			b = e.appendJSONFields(b)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, ',')
	b = appendJSONFailed(b, o.Failed)
	return append(b, '}')
}

func (o *deleteMessageBatchOutput) appendJSON(b []byte) []byte {
	b = append(b, `{"Successful":`...)
	if o.Successful == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range o.Successful {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			b = appendJSONField(b, true, "Id", o.Successful[i].Id)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, ',')
	b = appendJSONFailed(b, o.Failed)
	return append(b, '}')
}

func (v *attributeValue) appendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	if v.StringValue != nil {
		sep()
		b = append(b, `"StringValue":`...)
		b = appendJSONString(b, *v.StringValue)
	}
	if len(v.BinaryValue) > 0 {
		sep()
		b = append(b, `"BinaryValue":`...)
		b = appendJSONBytes(b, v.BinaryValue)
	}
	if len(v.StringListValues) > 0 {
		sep()
		b = append(b, `"StringListValues":[`...)
		for i, s := range v.StringListValues {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if len(v.BinaryListValues) > 0 {
		sep()
		b = append(b, `"BinaryListValues":[`...)
		for i, s := range v.BinaryListValues {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONBytes(b, s)
		}
		b = append(b, ']')
	}
	sep()
	b = append(b, `"DataType":`...)
	b = appendJSONString(b, v.DataType)
	return append(b, '}')
}

func (m *wireMessage) appendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	field := func(name, value string) {
		if value != "" {
			b = appendJSONField(b, first, name, value)
			first = false
		}
	}
	field("MessageId", m.MessageId)
	field("ReceiptHandle", m.ReceiptHandle)
	field("MD5OfBody", m.MD5OfBody)
	field("Body", m.Body)
	if len(m.Attributes) > 0 {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `"Attributes":{`...)
		for i, k := range sortedKeys(m.Attributes) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, m.Attributes[k])
		}
		b = append(b, '}')
	}
	field("MD5OfMessageAttributes", m.MD5OfMessageAttributes)
	if len(m.MessageAttributes) > 0 {
		if !first {
			b = append(b, ',')
		}
		b = append(b, `"MessageAttributes":{`...)
		for i, k := range sortedKeys(m.MessageAttributes) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			v := m.MessageAttributes[k]
			b = v.appendJSON(b)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func (o *receiveMessageOutput) appendJSON(b []byte) []byte {
	if len(o.Messages) == 0 {
		return append(b, "{}"...)
	}
	b = append(b, `{"Messages":[`...)
	for i := range o.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = o.Messages[i].appendJSON(b)
	}
	return append(b, "]}"...)
}

// ---- XML

func appendResultStart(b []byte, action string) []byte {
	b = append(b, '<')
	b = append(b, action...)
	return append(b, "Result>"...)
}

func appendResultEnd(b []byte, action string) []byte {
	b = append(b, "</"...)
	b = append(b, action...)
	return append(b, "Result>"...)
}

func (e *batchError) appendXML(b []byte) []byte {
	b = append(b, "<BatchResultErrorEntry>"...)
	b = awsproto.AppendXMLElement(b, "Id", e.Id)
	b = append(b, "<SenderFault>"...)
	b = strconv.AppendBool(b, e.SenderFault)
	b = append(b, "</SenderFault>"...)
	b = awsproto.AppendXMLElement(b, "Code", e.Code)
	if e.Message != "" {
		b = awsproto.AppendXMLElement(b, "Message", e.Message)
	}
	return append(b, "</BatchResultErrorEntry>"...)
}

func (o *sendMessageBatchOutput) appendXML(b []byte, action string) []byte {
	b = appendResultStart(b, action)
	for i := range o.Successful {
		e := &o.Successful[i]
		b = append(b, "<SendMessageBatchResultEntry>"...)
		b = awsproto.AppendXMLElement(b, "Id", e.Id)
		b = awsproto.AppendXMLElement(b, "MD5OfMessageBody", e.MD5OfMessageBody)
		if e.MD5OfMessageAttributes != "" {
			b = awsproto.AppendXMLElement(b, "MD5OfMessageAttributes", e.MD5OfMessageAttributes)
		}
		if e.MD5OfMessageSystemAttributes != "" {
			b = awsproto.AppendXMLElement(b, "MD5OfMessageSystemAttributes", e.MD5OfMessageSystemAttributes)
		}
		b = awsproto.AppendXMLElement(b, "MessageId", e.MessageId)
		if e.SequenceNumber != "" {
			b = awsproto.AppendXMLElement(b, "SequenceNumber", e.SequenceNumber)
		}
		b = append(b, "</SendMessageBatchResultEntry>"...)
	}
	for i := range o.Failed {
		b = o.Failed[i].appendXML(b)
	}
	return appendResultEnd(b, action)
}

func (o *deleteMessageBatchOutput) appendXML(b []byte, action string) []byte {
	b = appendResultStart(b, action)
	for i := range o.Successful {
		b = append(b, "<DeleteMessageBatchResultEntry>"...)
		b = awsproto.AppendXMLElement(b, "Id", o.Successful[i].Id)
		b = append(b, "</DeleteMessageBatchResultEntry>"...)
	}
	for i := range o.Failed {
		b = o.Failed[i].appendXML(b)
	}
	return appendResultEnd(b, action)
}

// appendXMLValue writes a message attribute's value as encoding/xml
// writes attributeValue once xmlResult has filled XMLBinaryValue: binary
// in base64, list members each in an element, a binary list member as its
// raw bytes (as encoding/xml writes a []byte), and, as omitempty does to
// each member of a list, empty members left out.
func (v *attributeValue) appendXMLValue(b []byte) []byte {
	b = append(b, "<Value>"...)
	if v.StringValue != nil {
		b = awsproto.AppendXMLElement(b, "StringValue", *v.StringValue)
	}
	if len(v.BinaryValue) > 0 {
		b = append(b, "<BinaryValue>"...)
		b = base64.StdEncoding.AppendEncode(b, v.BinaryValue)
		b = append(b, "</BinaryValue>"...)
	}
	for _, s := range v.StringListValues {
		if s != "" {
			b = awsproto.AppendXMLElement(b, "StringListValue", s)
		}
	}
	for _, s := range v.BinaryListValues {
		if len(s) > 0 {
			b = awsproto.AppendXMLElement(b, "BinaryListValue", string(s))
		}
	}
	b = awsproto.AppendXMLElement(b, "DataType", v.DataType)
	return append(b, "</Value>"...)
}

func (m *wireMessage) appendXML(b []byte) []byte {
	b = append(b, "<Message>"...)
	field := func(name, value string) {
		if value != "" {
			b = awsproto.AppendXMLElement(b, name, value)
		}
	}
	field("MessageId", m.MessageId)
	field("ReceiptHandle", m.ReceiptHandle)
	field("MD5OfBody", m.MD5OfBody)
	field("Body", m.Body)
	field("MD5OfMessageAttributes", m.MD5OfMessageAttributes)
	if len(m.Attributes) > 0 {
		for _, k := range sortedKeys(m.Attributes) {
			b = append(b, "<Attribute>"...)
			b = awsproto.AppendXMLElement(b, "Name", k)
			b = awsproto.AppendXMLElement(b, "Value", m.Attributes[k])
			b = append(b, "</Attribute>"...)
		}
	}
	if len(m.MessageAttributes) > 0 {
		for _, k := range sortedKeys(m.MessageAttributes) {
			b = append(b, "<MessageAttribute>"...)
			b = awsproto.AppendXMLElement(b, "Name", k)
			v := m.MessageAttributes[k]
			b = v.appendXMLValue(b)
			b = append(b, "</MessageAttribute>"...)
		}
	}
	return append(b, "</Message>"...)
}

func (o *receiveMessageOutput) appendXML(b []byte, action string) []byte {
	b = appendResultStart(b, action)
	for i := range o.Messages {
		b = o.Messages[i].appendXML(b)
	}
	return appendResultEnd(b, action)
}

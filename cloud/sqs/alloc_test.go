package sqs

import (
	"fmt"
	"strings"
	"testing"
)

// The per-message costs the wire layers and the engine were cut to
// (docs/benchmarks.md, issue 18 item 2): these budgets fail if one comes
// back.
func TestTheHotPathsStayWithinTheirAllocationBudgets(t *testing.T) {
	var s strings.Builder
	s.WriteString(`{"QueueUrl":"http://127.0.0.1:4566/000000000000/bench","Entries":[`)
	for i := range 10 {
		if i > 0 {
			s.WriteByte(',')
		}
		fmt.Fprintf(&s, `{"Id":"%d","MessageBody":%q}`, i, `{"orderId":"o-1","quantity":1}`)
	}
	s.WriteString("]}")
	send := []byte(s.String())

	recv := &receiveMessageOutput{}
	for i := range 10 {
		recv.Messages = append(recv.Messages, wireMessage{
			MessageId: fmt.Sprint("id-", i), ReceiptHandle: encodeReceipt("q1", "m1", 1),
			MD5OfBody: md5Hex("b"), Body: `{"orderId":"o-1","quantity":1}`,
		})
	}
	buf := make([]byte, 0, 64<<10)
	handle := encodeReceipt("0123456789ab", "5a1c0f6e-9d3b-4c1e-8f2a-6b7c8d9e0f1a", 7)
	m := &message{id: "m", body: "b", md5Body: "x", receiveCount: 1}
	q := &queue{id: "q"}

	for _, tc := range []struct {
		name   string
		budget float64
		run    func()
	}{
		// encoding/json took 35 here: now the ten bodies, the queue URL
		// and the entries' slice (one-character ids cost nothing).
		{"decoding a SendMessageBatch of ten", 12, func() { var in sendMessageBatchInput; in.decodeFast(send) }},
		{"writing ten received messages as JSON", 0, func() { recv.appendJSON(buf[:0]) }},
		{"writing ten received messages as XML", 0, func() { appendQueryDocument(buf[:0], "ReceiveMessage", "r", recv) }},
		{"making a receipt handle", 1, func() { encodeReceipt("0123456789ab", "5a1c0f6e-9d3b-4c1e-8f2a-6b7c8d9e0f1a", 7) }},
		{"reading a receipt handle", 2, func() { decodeReceipt(handle) }},
		{"an MD5 in hex", 1, func() { md5Hex("body") }},
		// The receipt handle alone: no attributes were asked for.
		{"viewing a received message", 1, func() { new(Engine).view(q, m, ReceiveInput{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(50, tc.run); got > tc.budget {
				t.Errorf("%v allocations, want at most %v", got, tc.budget)
			}
		})
	}
}

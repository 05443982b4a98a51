package sqs

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// reflectedJSON is what awsproto.WriteJSON writes for r: encoding/json.
func reflectedJSON(t testing.TB, r fastResult) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reflectedXML is what serveQuery writes for r through the Query envelope
// and encoding/xml.
func reflectedXML(t testing.TB, action, reqID string, r fastResult) []byte {
	t.Helper()
	env := queryEnvelope{XMLName: xml.Name{Local: action + "Response"}, Xmlns: xmlns}
	env.Meta.RequestID = reqID
	var out any = r
	if x, ok := out.(xmlResulter); ok {
		out = x.xmlResult()
	}
	setXMLName(out, action+"Result")
	env.Result = out
	b, err := xml.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(xml.Header), b...)
}

// oddTexts are strings each escaping rule of either encoder meets.
var oddTexts = []string{
	"", "plain", `<&>"'`, "tab\tnl\ncr\r", "\x00\x01\x08\x0c\x1f", "\x7f", "a\\b/c",
	"é漢字😀", "\u2028 and \u2029", "\xff\xfe not UTF-8", "\uFFFD", "\ufffe\uffff",
	"\xed\xa0\x80 a surrogate in WTF-8", "]]>", "a+b/c==", "\xc3", "\U0010FFFF",
}

// shapes builds the hot results with every odd text in every place a text
// goes: ids, bodies, MD5s, system and message attributes (string, binary,
// lists, an empty string value), FIFO sequence numbers, failures with and
// without a message, and empty and nil lists.
func shapes(texts []string) map[string]func() fastResult {
	out := map[string]func() fastResult{
		"empty receive": func() fastResult { return &receiveMessageOutput{} },
		"empty send batch": func() fastResult {
			return &sendMessageBatchOutput{Successful: []sendBatchResultEntry{}, Failed: []batchError{}}
		},
		"nil send batch lists": func() fastResult { return &sendMessageBatchOutput{} },
		"empty delete batch": func() fastResult {
			return &deleteMessageBatchOutput{Successful: []batchIDEntry{}, Failed: []batchError{}}
		},
		"nil delete batch lists": func() fastResult { return &deleteMessageBatchOutput{} },
	}
	for i, s := range texts {
		sv := s
		empty := ""
		out[fmt.Sprintf("send batch %d %q", i, s)] = func() fastResult {
			return &sendMessageBatchOutput{
				Successful: []sendBatchResultEntry{
					{Id: s, sendMessageOutput: sendMessageOutput{MD5OfMessageBody: s, MessageId: s}},
					{Id: "fifo", sendMessageOutput: sendMessageOutput{MD5OfMessageBody: "m", MD5OfMessageAttributes: s, MD5OfMessageSystemAttributes: s, MessageId: "id", SequenceNumber: s}},
				},
				Failed: []batchError{{Id: s, SenderFault: true, Code: s, Message: s}, {Id: "2", Code: "InternalError"}},
			}
		}
		out[fmt.Sprintf("delete batch %d %q", i, s)] = func() fastResult {
			return &deleteMessageBatchOutput{
				Successful: []batchIDEntry{{Id: s}, {Id: "x"}},
				Failed:     []batchError{{Id: "3", SenderFault: false, Code: "ReceiptHandleIsInvalid", Message: s}},
			}
		}
		out[fmt.Sprintf("receive %d %q", i, s)] = func() fastResult {
			return &receiveMessageOutput{Messages: []wireMessage{
				{MessageId: s, ReceiptHandle: s, MD5OfBody: s, Body: s},
				{MessageId: "id", ReceiptHandle: "rh", MD5OfBody: "md5", Body: "b", MD5OfMessageAttributes: s,
					Attributes: map[string]string{"SentTimestamp": "1", "MessageGroupId": s, "SequenceNumber": "18", s: s, "ApproximateReceiveCount": "1"},
					MessageAttributes: map[string]attributeValue{
						"str": {StringValue: &sv, DataType: "String"},
						s:     {StringValue: &empty, DataType: "Number." + s},
						"bin": {BinaryValue: []byte(s + "\x00\xff"), DataType: "Binary"},
						"lists": {StringListValues: []string{s, "b"}, BinaryListValues: [][]byte{[]byte(s), {}},
							DataType: "String"},
					}},
				{Body: s, Attributes: map[string]string{}, MessageAttributes: map[string]attributeValue{}},
			}}
		}
	}
	return out
}

func TestFastResultsWriteWhatReflectionWrites(t *testing.T) {
	actions := map[string]string{"send": "SendMessageBatch", "delete": "DeleteMessageBatch", "receive": "ReceiveMessage"}
	for name, build := range shapes(oddTexts) {
		t.Run(name, func(t *testing.T) {
			action := actions[name[:bytes.IndexByte([]byte(name+" "), ' ')]]
			if action == "" {
				action = map[bool]string{true: "ReceiveMessage", false: "SendMessageBatch"}[name == "empty receive"]
			}
			if got, want := build().appendJSON(nil), reflectedJSON(t, build()); !bytes.Equal(got, want) {
				t.Errorf("JSON:\ngot  %s\nwant %s", got, want)
			}
			if got, want := appendQueryDocument(nil, action, "req-<&>", build()), reflectedXML(t, action, "req-<&>", build()); !bytes.Equal(got, want) {
				t.Errorf("XML:\ngot  %s\nwant %s", got, want)
			}
		})
	}
}

// FuzzFastResults compares the hand-written encoders with encoding/json
// and encoding/xml on arbitrary texts.
func FuzzFastResults(f *testing.F) {
	for _, s := range oddTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, build := range shapes([]string{s}) {
			action := "SendMessageBatch"
			switch {
			case bytes.HasPrefix([]byte(name), []byte("receive")), name == "empty receive":
				action = "ReceiveMessage"
			case bytes.HasPrefix([]byte(name), []byte("delete")):
				action = "DeleteMessageBatch"
			}
			if got, want := build().appendJSON(nil), reflectedJSON(t, build()); !bytes.Equal(got, want) {
				t.Fatalf("%s: JSON:\ngot  %s\nwant %s", name, got, want)
			}
			if got, want := appendQueryDocument(nil, action, s, build()), reflectedXML(t, action, s, build()); !bytes.Equal(got, want) {
				t.Fatalf("%s: XML:\ngot  %s\nwant %s", name, got, want)
			}
		}
	})
}

func TestEveryAnswerCarriesItsRequestIDHeader(t *testing.T) {
	svc, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	query := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=ListQueues"))
	query.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	jsonReq := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
	jsonReq.Header.Set("X-Amz-Target", "AmazonSQS.ListQueues")
	for _, r := range []*http.Request{query, jsonReq} {
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, r)
		id := w.Result().Header.Get("x-amzn-RequestId")
		if w.Code != http.StatusOK || len(id) != 36 {
			t.Fatalf("answer %d with request id %q", w.Code, id)
		}
		if r == query && !strings.Contains(w.Body.String(), "<RequestId>"+id+"</RequestId>") {
			t.Errorf("the header's id %s is not the body's: %s", id, w.Body)
		}
	}
}

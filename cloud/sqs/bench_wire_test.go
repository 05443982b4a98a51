package sqs_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
)

// BenchmarkServeCycle measures the service alone, without HTTP or a
// client: one op is SendMessageBatch (10), ReceiveMessage (up to 10) and
// DeleteMessageBatch handed to Service.ServeHTTP in-process, over the JSON
// and the Query protocol, so allocs/op are the server's own.
func BenchmarkServeCycle(b *testing.B) {
	const body = `{"orderId":"o-1","quantity":1}`
	for _, proto := range []string{"json", "query"} {
		b.Run("protocol="+proto, func(b *testing.B) {
			svc, err := cloudsqs.New(cloudsqs.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer svc.Close()
			u, err := svc.Engine().CreateQueue("bench", nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			do := func(action, payload string) []byte {
				var r *http.Request
				if proto == "json" {
					r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(payload))
					r.Header.Set("X-Amz-Target", "AmazonSQS."+action)
					r.Header.Set("Content-Type", "application/x-amz-json-1.0")
				} else {
					r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(payload))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				w := httptest.NewRecorder()
				svc.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", action, w.Code, w.Body)
				}
				return w.Body.Bytes()
			}
			var send string
			if proto == "json" {
				var s strings.Builder
				fmt.Fprintf(&s, `{"QueueUrl":%q,"Entries":[`, u)
				for i := range 10 {
					if i > 0 {
						s.WriteByte(',')
					}
					fmt.Fprintf(&s, `{"Id":"%d","MessageBody":%q}`, i, body)
				}
				s.WriteString("]}")
				send = s.String()
			} else {
				f := url.Values{"Action": {"SendMessageBatch"}, "QueueUrl": {u}}
				for i := range 10 {
					f.Set(fmt.Sprintf("SendMessageBatchRequestEntry.%d.Id", i+1), strconv.Itoa(i))
					f.Set(fmt.Sprintf("SendMessageBatchRequestEntry.%d.MessageBody", i+1), body)
				}
				send = f.Encode()
			}
			receive := fmt.Sprintf(`{"QueueUrl":%q,"MaxNumberOfMessages":10}`, u)
			if proto == "query" {
				receive = url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {u}, "MaxNumberOfMessages": {"10"}}.Encode()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				do("SendMessageBatch", send)
				out := do("ReceiveMessage", receive)
				// Scanned, not decoded, so that the client's share stays small:
				// a receipt handle is base64, escaped by neither protocol.
				open, end := `"ReceiptHandle":"`, `"`
				if proto == "query" {
					open, end = "<ReceiptHandle>", "</ReceiptHandle>"
				}
				var handles []string
				for rest := string(out); ; {
					_, after, ok := strings.Cut(rest, open)
					if !ok {
						break
					}
					h, tail, _ := strings.Cut(after, end)
					handles = append(handles, h)
					rest = tail
				}
				if len(handles) != 10 {
					b.Fatalf("received %d messages, want 10", len(handles))
				}
				var del string
				if proto == "json" {
					var s strings.Builder
					fmt.Fprintf(&s, `{"QueueUrl":%q,"Entries":[`, u)
					for i, h := range handles {
						if i > 0 {
							s.WriteByte(',')
						}
						fmt.Fprintf(&s, `{"Id":"%d","ReceiptHandle":%q}`, i, h)
					}
					s.WriteString("]}")
					del = s.String()
				} else {
					f := url.Values{"Action": {"DeleteMessageBatch"}, "QueueUrl": {u}}
					for i, h := range handles {
						f.Set(fmt.Sprintf("DeleteMessageBatchRequestEntry.%d.Id", i+1), strconv.Itoa(i))
						f.Set(fmt.Sprintf("DeleteMessageBatchRequestEntry.%d.ReceiptHandle", i+1), h)
					}
					del = f.Encode()
				}
				do("DeleteMessageBatch", del)
			}
		})
	}
}

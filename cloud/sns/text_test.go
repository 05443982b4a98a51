package sns_test

import (
	"encoding/xml"
	"net/url"
	"slices"
	"testing"
)

// SNS's Query protocol carries bytes (percent-encoded), so text that is not
// UTF-8 reaches the service as is; a surrogate can only come as its
// three-byte encoding, which is not UTF-8 either. A json MessageStructure
// is JSON inside the message, where an unpaired surrogate escape is valid
// syntax that encoding/json would decode as U+FFFD.

type snsError struct {
	Error struct{ Type, Code, Message string }
}

func TestPublishedTextMustBeUnicode(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "text", nil)
		e.subscribe(t, topic, "q", map[string]string{"RawMessageDelivery": "true"})
		refused := func(t *testing.T, what string, form url.Values, code string) {
			t.Helper()
			form.Set("TopicArn", topic)
			status, body := post(t, e, form)
			var doc snsError
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || status != 400 || doc.Error.Code != code || doc.Error.Type != "Sender" {
				t.Errorf("%s: %d %s; want 400 %s", what, status, body, code)
			}
		}
		bad := []struct{ name, raw string }{
			{"a stray byte", "\xff"}, {"a surrogate encoded as UTF-8", "\xed\xa0\x80"},
			{"an overlong encoding", "\xc0\xaf"}, {"a truncated sequence", "\xe2\x82"},
		}

		t.Run("bytes that are not UTF-8 are refused wherever they are", func(t *testing.T) {
			for _, c := range bad {
				refused(t, c.name+" in the message", url.Values{"Action": {"Publish"}, "Message": {"a" + c.raw}}, "InvalidParameter")
				refused(t, c.name+" in the subject", url.Values{"Action": {"Publish"}, "Message": {"m"}, "Subject": {"s" + c.raw}}, "InvalidParameter")
				refused(t, c.name+" in an attribute's value", url.Values{"Action": {"Publish"}, "Message": {"m"},
					"MessageAttributes.entry.1.Name": {"k"}, "MessageAttributes.entry.1.Value.DataType": {"String"},
					"MessageAttributes.entry.1.Value.StringValue": {"v" + c.raw}}, "ParameterValueInvalid")
				refused(t, c.name+" in an attribute's name", url.Values{"Action": {"Publish"}, "Message": {"m"},
					"MessageAttributes.entry.1.Name": {"k" + c.raw}, "MessageAttributes.entry.1.Value.DataType": {"String"},
					"MessageAttributes.entry.1.Value.StringValue": {"v"}}, "ParameterValueInvalid")
				refused(t, c.name+" in a json message structure", url.Values{"Action": {"Publish"}, "MessageStructure": {"json"},
					"Message": {`{"default":"a` + c.raw + `"}`}}, "InvalidParameter")
			}
			if n := len(e.queues.to(queueARN("q"))); n != 0 {
				t.Errorf("%d deliveries after the refusals, want none", n)
			}
		})

		t.Run("an unpaired surrogate in a json message structure is refused", func(t *testing.T) {
			for _, msg := range []string{`{"default":"a\ud800"}`, `{"default":"ok","sqs":"\udc00b"}`, `{"default":"ok","sqs":"\ud800\u0041"}`, `{"default":"ok","email":"\udfff"}`} {
				refused(t, msg, url.Values{"Action": {"Publish"}, "MessageStructure": {"json"}, "Message": {msg}}, "InvalidParameter")
			}
			if n := len(e.queues.to(queueARN("q"))); n != 0 {
				t.Errorf("%d deliveries after the refusals, want none", n)
			}
		})

		t.Run("a batch refuses only the entries whose text is bad", func(t *testing.T) {
			before := len(e.queues.to(queueARN("q")))
			status, body := post(t, e, url.Values{"Action": {"PublishBatch"}, "TopicArn": {topic},
				"PublishBatchRequestEntries.member.1.Id": {"ok"}, "PublishBatchRequestEntries.member.1.Message": {"\U0010FFFF"},
				"PublishBatchRequestEntries.member.2.Id": {"bytes"}, "PublishBatchRequestEntries.member.2.Message": {"\xed\xb0\x80"},
				"PublishBatchRequestEntries.member.3.Id": {"surrogate"}, "PublishBatchRequestEntries.member.3.MessageStructure": {"json"},
				"PublishBatchRequestEntries.member.3.Message": {`{"default":"\ud800"}`},
			})
			var doc struct {
				OK     []string `xml:"PublishBatchResult>Successful>member>Id"`
				Failed []struct {
					ID   string `xml:"Id"`
					Code string
				} `xml:"PublishBatchResult>Failed>member"`
			}
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || status != 200 {
				t.Fatalf("%d %s: %v", status, body, err)
			}
			var failed []string
			for _, f := range doc.Failed {
				failed = append(failed, f.ID+":"+f.Code)
			}
			slices.Sort(failed)
			if !slices.Equal(doc.OK, []string{"ok"}) || !slices.Equal(failed, []string{"bytes:InvalidParameter", "surrogate:InvalidParameter"}) {
				t.Errorf("successful %v, failed %v; want ok, and the two bad entries InvalidParameter", doc.OK, failed)
			}
			d := e.queues.to(queueARN("q"))
			if len(d) != before+1 || d[len(d)-1].Body != "\U0010FFFF" {
				t.Errorf("deliveries = %d, last %q; want one more, the accepted entry", len(d)-before, d[len(d)-1].Body)
			}
		})

		t.Run("text is delivered exactly as published", func(t *testing.T) {
			cases := []struct{ structure, msg, want string }{
				{"", "😀 \U0010FFFF \uFFFD \uE000 é", "😀 \U0010FFFF \uFFFD \uE000 é"},
				{"json", `{"default":"\ud83d\ude00 \ufffd \uDBFF\uDFFF"}`, "😀 \uFFFD \U0010FFFF"},
				{"json", `{"default":"\\ud800"}`, `\ud800`},
			}
			for _, c := range cases {
				before := len(e.queues.to(queueARN("q")))
				status, body := post(t, e, url.Values{"Action": {"Publish"}, "TopicArn": {topic}, "MessageStructure": {c.structure}, "Message": {c.msg}})
				if status != 200 {
					t.Fatalf("%q: %d %s", c.msg, status, body)
				}
				d := e.queues.to(queueARN("q"))
				if len(d) != before+1 || d[len(d)-1].Body != c.want {
					t.Errorf("%q: delivered %d, last %q; want %q", c.msg, len(d)-before, d[len(d)-1].Body, c.want)
				}
			}
		})
	})
}

package sqs_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Text AWS refuses in a message: SQS takes #x9 | #xA | #xD | #x20 to
// #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF, so neither bytes that are
// not UTF-8 nor UTF-16 surrogates are a message's characters. encoding/json
// decodes both, silently, as U+FFFD: the message stored would differ from
// the one sent (and so would its MD5).

// badJSONText are fragments of JSON string content, as they appear between
// the quotes on the wire, that are not Unicode text.
var badJSONText = []struct{ name, frag string }{
	{"a stray byte", "\xff"},
	{"a surrogate encoded as UTF-8", "\xed\xa0\x80"},
	{"an overlong encoding", "\xc0\xaf"},
	{"a truncated sequence", "\xe2\x82"},
	{"a lone high surrogate", `\ud800`},
	{"a lone low surrogate", `\udc00`},
	{"a high surrogate before a letter", `\ud800\u0041`},
	{"a reversed pair", `\udc00\ud83d`},
}

// goodJSONText are fragments that are text, and the string they stand for.
var goodJSONText = []struct{ name, frag, want string }{
	{"an emoji as UTF-8", "😀", "😀"},
	{"a surrogate pair as escapes", `\ud83d\ude00`, "😀"},
	{"a pair in capitals", `\uD83D\uDE00`, "😀"},
	{"the last code point", "\U0010FFFF", "\U0010FFFF"},
	{"the last code point as escapes", `\udbff\udfff`, "\U0010FFFF"},
	{"U+FFFD itself", "\uFFFD", "\uFFFD"},
	{"U+FFFD as an escape", `\ufffd`, "\uFFFD"},
	{"a private-use character", "\uE000", "\uE000"},
	{"an escaped backslash before ud800", `\\ud800`, `\ud800`},
	{"tab, newline and carriage return", `\t\n\r`, "\t\n\r"},
}

// refusedChars are Unicode text outside SQS's characters.
var refusedChars = []struct{ name, frag string }{
	{"NUL", `\u0000`},
	{"a control character", `\u0001`},
	{"U+FFFE", "\uFFFE"},
	{"U+FFFF as an escape", `\uffff`},
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// jsonErrorType returns the __type of a JSON error body.
func jsonErrorType(t *testing.T, body string) string {
	t.Helper()
	var doc struct {
		Type string `json:"__type"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return doc.Type
}

// sendJSONMessage is a SendMessage body with frag inside the message part
// where (body, an attribute's value, name or type, or the trace header).
func sendJSONMessage(queueURL, where, frag string) string {
	attr := func(name, typ, value string) string {
		return `,"MessageAttributes":{"` + name + `":{"DataType":"` + typ + `","StringValue":"` + value + `"}}`
	}
	body, rest := "ok", ""
	switch where {
	case "MessageBody":
		body = "a" + frag + "b"
	case "a String attribute's value":
		rest = attr("k", "String", "a"+frag+"b")
	case "a Number attribute's value":
		rest = attr("k", "Number", "1"+frag)
	case "a custom type's value":
		rest = attr("k", "String.custom", frag)
	case "an attribute's name":
		rest = attr("k"+frag, "String", "v")
	case "an attribute's type":
		rest = attr("k", "String."+frag, "v")
	case "the trace header":
		rest = `,"MessageSystemAttributes":{"AWSTraceHeader":{"DataType":"String","StringValue":"Root=1-5759e988-bd862e3fe1be46a994272793` + frag + `"}}`
	}
	return `{"QueueUrl":"` + queueURL + `","MessageBody":"` + body + `"` + rest + `}`
}

var messageParts = []string{"MessageBody", "a String attribute's value", "a Number attribute's value",
	"a custom type's value", "an attribute's name", "an attribute's type", "the trace header"}

func TestMessagesMustBeUnicodeText(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := b.newFixture(t, true)
		// Each case has a queue of its own, so that one's outcome cannot
		// make another's.
		queues := 0
		newQueue := func(t *testing.T) string {
			t.Helper()
			queues++
			return f.createQueue(t, fmt.Sprintf("text-%d", queues), nil)
		}
		empty := func(t *testing.T, queueURL string) {
			t.Helper()
			if n := f.count(t, queueURL, "ApproximateNumberOfMessages"); n != 0 {
				t.Fatalf("the queue holds %d messages after refusals", n)
			}
		}

		t.Run("JSON: text that is not Unicode anywhere in a message is InvalidMessageContents", func(t *testing.T) {
			queueURL := newQueue(t)
			for _, part := range messageParts {
				for _, bad := range badJSONText {
					status, qerr, body := postJSON(t, f.url, "SendMessage", sendJSONMessage(queueURL, part, bad.frag))
					if status != 400 || qerr != "InvalidMessageContents;Sender" || jsonErrorType(t, body) != "com.amazonaws.sqs#InvalidMessageContents" {
						t.Errorf("%s in %s: %d %s %s; want 400 InvalidMessageContents", bad.name, part, status, qerr, body)
					}
				}
			}
			empty(t, queueURL)
		})

		t.Run("JSON: characters outside SQS's set are InvalidMessageContents", func(t *testing.T) {
			queueURL := newQueue(t)
			for _, part := range []string{"MessageBody", "a String attribute's value"} {
				for _, c := range refusedChars {
					status, qerr, body := postJSON(t, f.url, "SendMessage", sendJSONMessage(queueURL, part, c.frag))
					if status != 400 || qerr != "InvalidMessageContents;Sender" {
						t.Errorf("%s in %s: %d %s %s; want 400 InvalidMessageContents", c.name, part, status, qerr, body)
					}
				}
			}
			empty(t, queueURL)
		})

		t.Run("JSON: text is kept exactly, with the MD5 of what was sent", func(t *testing.T) {
			queueURL := newQueue(t)
			for _, g := range goodJSONText {
				for _, part := range []string{"MessageBody", "a String attribute's value"} {
					status, _, body := postJSON(t, f.url, "SendMessage", sendJSONMessage(queueURL, part, g.frag))
					var out struct{ MD5OfMessageBody, MD5OfMessageAttributes string }
					if err := json.Unmarshal([]byte(body), &out); err != nil || status != 200 {
						t.Fatalf("%s in %s: %d %s: %v", g.name, part, status, body, err)
					}
					msgs := f.receive(t, queueURL, 10, nil)
					if len(msgs) != 1 {
						t.Fatalf("%s in %s: received %d messages, want 1", g.name, part, len(msgs))
					}
					m := msgs[0]
					if part == "MessageBody" {
						if want := "a" + g.want + "b"; *m.Body != want || out.MD5OfMessageBody != md5hex(want) || *m.MD5OfBody != md5hex(want) {
							t.Errorf("%s: body %q (MD5 sent %s, received %s), want %q (MD5 %s)", g.name, *m.Body, out.MD5OfMessageBody, *m.MD5OfBody, want, md5hex(want))
						}
					} else {
						want := map[string]types.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String("a" + g.want + "b")}}
						if got := *m.MessageAttributes["k"].StringValue; got != "a"+g.want+"b" || out.MD5OfMessageAttributes != md5OfAttributes(want) {
							t.Errorf("%s: attribute %q (MD5 %s), want %q (MD5 %s)", g.name, got, out.MD5OfMessageAttributes, "a"+g.want+"b", md5OfAttributes(want))
						}
					}
					if _, err := f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
						t.Fatal(err)
					}
				}
			}
		})

		t.Run("JSON: a batch refuses only the entries whose text is bad", func(t *testing.T) {
			queueURL := newQueue(t)
			entries := []string{
				`{"Id":"ok1","MessageBody":"plain"}`,
				`{"Id":"badBody","MessageBody":"x\ud800"}`,
				`{"Id":"ok2","MessageBody":"\ud83d\ude00"}`,
				"{\"Id\":\"badAttr\",\"MessageBody\":\"y\",\"MessageAttributes\":{\"k\":{\"DataType\":\"String\",\"StringValue\":\"\xff\"}}}",
				`{"Id":"fffd","MessageBody":"\ufffd"}`,
				`{"Id":"control","MessageBody":"\u0001"}`,
			}
			status, _, body := postJSON(t, f.url, "SendMessageBatch", `{"QueueUrl":"`+queueURL+`","Entries":[`+strings.Join(entries, ",")+`]}`)
			var out struct {
				Successful []struct{ Id, MD5OfMessageBody string }
				Failed     []struct {
					Id, Code    string
					SenderFault bool
				}
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil || status != 200 {
				t.Fatalf("%d %s: %v", status, body, err)
			}
			wantBodies := map[string]string{"ok1": "plain", "ok2": "😀", "fffd": "\uFFFD"}
			if len(out.Successful) != len(wantBodies) {
				t.Errorf("successful = %+v, want %v", out.Successful, wantBodies)
			}
			for _, s := range out.Successful {
				if want, ok := wantBodies[s.Id]; !ok || s.MD5OfMessageBody != md5hex(want) {
					t.Errorf("entry %s succeeded with MD5 %s; want one of %v with its MD5", s.Id, s.MD5OfMessageBody, wantBodies)
				}
			}
			var failed []string
			for _, e := range out.Failed {
				if e.Code != "InvalidMessageContents" || !e.SenderFault {
					t.Errorf("entry %s failed with %s (sender fault %v), want InvalidMessageContents", e.Id, e.Code, e.SenderFault)
				}
				failed = append(failed, e.Id)
			}
			slices.Sort(failed)
			if want := []string{"badAttr", "badBody", "control"}; !slices.Equal(failed, want) {
				t.Errorf("failed = %v, want %v", failed, want)
			}
			var got []string
			for _, m := range f.receive(t, queueURL, 10, nil) {
				got = append(got, *m.Body)
				f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle})
			}
			slices.Sort(got)
			if want := []string{"plain", "\uFFFD", "😀"}; !slices.Equal(got, want) {
				t.Errorf("the queue holds %q, want %q", got, want)
			}
		})

		t.Run("JSON: bad text outside any message refuses the whole request and changes nothing", func(t *testing.T) {
			queueURL := newQueue(t)
			requests := []struct{ name, action, body string }{
				{"in the QueueUrl", "SendMessage", `{"QueueUrl":"` + queueURL + `\ud800","MessageBody":"m"}`},
				{"in a batch entry's Id", "SendMessageBatch", `{"QueueUrl":"` + queueURL + `","Entries":[{"Id":"a","MessageBody":"m"},{"Id":"b\udc00","MessageBody":"m"}]}`},
				{"in an unknown member's name", "SendMessage", "{\"QueueUrl\":\"" + queueURL + "\",\"MessageBody\":\"m\",\"x\xff\":1}"},
				{"in a new queue's tag", "CreateQueue", `{"QueueName":"tagged","tags":{"team":"\ud800"}}`},
				{"in a tag", "TagQueue", "{\"QueueUrl\":\"" + queueURL + "\",\"Tags\":{\"team\":\"\xc0\xaf\"}}"},
				{"in a queue attribute", "SetQueueAttributes", `{"QueueUrl":"` + queueURL + `","Attributes":{"Policy":"{\"Version\":\"2012-10-17\",\"Statement\":[],\"Id\":\"\udfff\"}"}}`},
			}
			for _, r := range requests {
				status, qerr, body := postJSON(t, f.url, r.action, r.body)
				if status != 400 || qerr != "InvalidParameterValue;Sender" || !strings.Contains(body, "Unicode") {
					t.Errorf("%s: %d %s %s; want 400 InvalidParameterValue naming the text", r.name, status, qerr, body)
				}
			}
			empty(t, queueURL)
			if _, err := f.client.GetQueueUrl(ctxFor(t), &sqs.GetQueueUrlInput{QueueName: aws.String("tagged")}); apiCode(t, err) != "AWS.SimpleQueueService.NonExistentQueue" {
				t.Errorf("GetQueueUrl(tagged) = %v; want no such queue", err)
			}
			tags, err := f.client.ListQueueTags(ctxFor(t), &sqs.ListQueueTagsInput{QueueUrl: aws.String(queueURL)})
			if err != nil || len(tags.Tags) != 0 {
				t.Errorf("tags = %v, %v; want none", tags.Tags, err)
			}
			if p := f.attr(t, queueURL, "Policy"); p != "" {
				t.Errorf("Policy = %q, want none", p)
			}
		})

		t.Run("Query: bytes that are not UTF-8 anywhere in a message are InvalidMessageContents", func(t *testing.T) {
			queueURL := newQueue(t)
			bad := []struct{ name, raw string }{
				{"a stray byte", "\xff"}, {"a surrogate encoded as UTF-8", "\xed\xa0\x80"},
				{"an overlong encoding", "\xc0\xaf"}, {"a truncated sequence", "\xe2\x82"},
				{"a control character", "\x01"}, {"U+FFFE", "\uFFFE"}, {"U+FFFF", "\uFFFF"},
			}
			forms := map[string]func(string) url.Values{
				"MessageBody": func(s string) url.Values {
					return url.Values{"MessageBody": {"a" + s}}
				},
				"a String attribute's value": func(s string) url.Values {
					return url.Values{"MessageBody": {"m"}, "MessageAttribute.1.Name": {"k"},
						"MessageAttribute.1.Value.DataType": {"String"}, "MessageAttribute.1.Value.StringValue": {"a" + s}}
				},
				"a Number attribute's value": func(s string) url.Values {
					return url.Values{"MessageBody": {"m"}, "MessageAttribute.1.Name": {"n"},
						"MessageAttribute.1.Value.DataType": {"Number"}, "MessageAttribute.1.Value.StringValue": {"1" + s}}
				},
				"the trace header": func(s string) url.Values {
					return url.Values{"MessageBody": {"m"}, "MessageSystemAttribute.1.Name": {"AWSTraceHeader"},
						"MessageSystemAttribute.1.Value.DataType": {"String"}, "MessageSystemAttribute.1.Value.StringValue": {"Root=1-" + s}}
				},
			}
			for part, form := range forms {
				for _, c := range bad {
					v := form(c.raw)
					v.Set("Action", "SendMessage")
					v.Set("QueueUrl", queueURL)
					status, body := postQuery(t, f.url, "/", v)
					var e xmlError
					if err := xml.Unmarshal([]byte(body), &e); err != nil || status != 400 || e.Error.Code != "InvalidMessageContents" || e.Error.Type != "Sender" {
						t.Errorf("%s in %s: %d %s; want 400 InvalidMessageContents", c.name, part, status, body)
					}
				}
			}
			empty(t, queueURL)
		})

		t.Run("Query: a batch refuses only the entries whose text is bad", func(t *testing.T) {
			queueURL := newQueue(t)
			v := url.Values{"Action": {"SendMessageBatch"}, "QueueUrl": {queueURL},
				"SendMessageBatchRequestEntry.1.Id": {"ok"}, "SendMessageBatchRequestEntry.1.MessageBody": {"\U0010FFFF"},
				"SendMessageBatchRequestEntry.2.Id": {"bad"}, "SendMessageBatchRequestEntry.2.MessageBody": {"\xed\xb0\x80"},
				"SendMessageBatchRequestEntry.3.Id": {"badAttr"}, "SendMessageBatchRequestEntry.3.MessageBody": {"m"},
				"SendMessageBatchRequestEntry.3.MessageAttribute.1.Name":              {"k"},
				"SendMessageBatchRequestEntry.3.MessageAttribute.1.Value.DataType":    {"String"},
				"SendMessageBatchRequestEntry.3.MessageAttribute.1.Value.StringValue": {"\xf8\x88\x80\x80\x80"},
			}
			status, body := postQuery(t, f.url, "/", v)
			var doc struct {
				OK []struct {
					Id, MD5OfMessageBody string
				} `xml:"SendMessageBatchResult>SendMessageBatchResultEntry"`
				Failed []struct{ Id, Code string } `xml:"SendMessageBatchResult>BatchResultErrorEntry"`
			}
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || status != 200 {
				t.Fatalf("%d %s: %v", status, body, err)
			}
			if len(doc.OK) != 1 || doc.OK[0].Id != "ok" || doc.OK[0].MD5OfMessageBody != md5hex("\U0010FFFF") {
				t.Errorf("successful = %+v, want ok with MD5 %s", doc.OK, md5hex("\U0010FFFF"))
			}
			if len(doc.Failed) != 2 || doc.Failed[0].Code != "InvalidMessageContents" || doc.Failed[1].Code != "InvalidMessageContents" {
				t.Errorf("failed = %+v, want bad and badAttr with InvalidMessageContents", doc.Failed)
			}
			msgs := f.receive(t, queueURL, 10, nil)
			if len(msgs) != 1 || *msgs[0].Body != "\U0010FFFF" {
				t.Fatalf("received %d messages, want the one accepted", len(msgs))
			}
			f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: msgs[0].ReceiptHandle})
		})

		t.Run("Query: text is kept exactly, with the MD5 of what was sent", func(t *testing.T) {
			queueURL := newQueue(t)
			for _, s := range []string{"😀", "\U0010FFFF", "\uFFFD", "\uE000", "\uD7FF", "tab\tnl\ncr\r"} {
				status, body := postQuery(t, f.url, "/", url.Values{"Action": {"SendMessage"}, "QueueUrl": {queueURL}, "MessageBody": {s}})
				var doc struct {
					MD5 string `xml:"SendMessageResult>MD5OfMessageBody"`
				}
				if err := xml.Unmarshal([]byte(body), &doc); err != nil || status != 200 || doc.MD5 != md5hex(s) {
					t.Errorf("%q: %d %s; want MD5 %s", s, status, body, md5hex(s))
				}
				msgs := f.receive(t, queueURL, 10, nil)
				if len(msgs) != 1 || *msgs[0].Body != s {
					t.Fatalf("%q: received %v", s, msgs)
				}
				f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: msgs[0].ReceiptHandle})
			}
		})

		t.Run("SDK: every plane's characters round-trip and the SDK's MD5 checks pass", func(t *testing.T) {
			queueURL := newQueue(t)
			// The SDK verifies MD5OfMessageBody and MD5OfMessageAttributes of
			// its sends itself: a service that changed the text fails the call.
			body := "ascii é € 😀 \U0010FFFF \uE000 \uFFFD \uD7FF\t\n\r"
			attrs := map[string]types.MessageAttributeValue{
				"s": {DataType: aws.String("String"), StringValue: aws.String("𝄞 \uFFFD")},
				"n": {DataType: aws.String("Number.float"), StringValue: aws.String("1.5")},
			}
			out, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body), MessageAttributes: attrs})
			if err != nil {
				t.Fatal(err)
			}
			if *out.MD5OfMessageBody != md5hex(body) || *out.MD5OfMessageAttributes != md5OfAttributes(attrs) {
				t.Errorf("MD5s %s %s, want %s %s", *out.MD5OfMessageBody, *out.MD5OfMessageAttributes, md5hex(body), md5OfAttributes(attrs))
			}
			msgs := f.receive(t, queueURL, 10, nil)
			if len(msgs) != 1 || *msgs[0].Body != body || *msgs[0].MessageAttributes["s"].StringValue != "𝄞 \uFFFD" {
				t.Fatalf("received %v", msgs)
			}
			f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: msgs[0].ReceiptHandle})
		})

		t.Run("SDK: characters outside SQS's set are InvalidMessageContents", func(t *testing.T) {
			queueURL := newQueue(t)
			for _, s := range []string{"\x00", "a\x01", "\uFFFE", "\uFFFF"} {
				_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(s)})
				if code := apiCode(t, err); code != "InvalidMessageContents" {
					t.Errorf("%q: %s, want InvalidMessageContents", s, code)
				}
				_, err = f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("m"),
					MessageAttributes: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String(s)}}})
				if code := apiCode(t, err); code != "InvalidMessageContents" {
					t.Errorf("%q in an attribute: %s, want InvalidMessageContents", s, code)
				}
			}
			empty(t, queueURL)
		})
	})
}

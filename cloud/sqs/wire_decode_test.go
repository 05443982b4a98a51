package sqs

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// fastDecodes tries the fast path on body for each hot input and, where
// it accepts, checks that encoding/json accepts the body too and decodes
// the same value, and that the body is Unicode text (the check the fast
// path stands in for). It returns which inputs accepted.
func fastDecodes(t testing.TB, body []byte) (accepted []string) {
	t.Helper()
	check := func(name string, fast fastDecoder, slow any) {
		if !fast.decodeFast(body) {
			return
		}
		accepted = append(accepted, name)
		if err := json.Unmarshal(body, slow); err != nil {
			t.Fatalf("%s: the fast path took %q, which encoding/json refuses: %v", name, body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%s: %q decodes as\n%#v\nwant (encoding/json)\n%#v", name, body, fast, slow)
		}
		if !awsproto.ValidText(body) {
			t.Fatalf("%s: the fast path took %q, which is not Unicode text", name, body)
		}
	}
	check("send", &sendMessageBatchInput{}, &sendMessageBatchInput{})
	check("receive", &receiveMessageInput{}, &receiveMessageInput{})
	check("delete", &deleteMessageBatchInput{}, &deleteMessageBatchInput{})
	return accepted
}

var decodeBodies = []struct {
	body string
	want []string // the inputs whose fast path takes the body
}{
	{`{"QueueUrl":"http://q/1/a","Entries":[{"Id":"0","MessageBody":"{\"orderId\":\"o-1\",\"quantity\":1}"},{"Id":"1","MessageBody":"x"}]}`, []string{"send"}},
	{` { "Entries" : [ { "MessageBody" : "é😀\u00e9\u2028\n\t\\\/\b\f\r" , "Id" : "a", "MessageGroupId":"g","MessageDeduplicationId":"d","DelaySeconds":-0 } ] , "QueueUrl" : "u" } `, []string{"send"}},
	{`{"QueueUrl":"u","MaxNumberOfMessages":10,"WaitTimeSeconds":20,"VisibilityTimeout":0,"AttributeNames":["All"],"MessageSystemAttributeNames":[],"MessageAttributeNames":["a","b.*"],"ReceiveRequestAttemptId":"r"}`, []string{"receive"}},
	{`{"QueueUrl":"u","Entries":[{"Id":"0","ReceiptHandle":"YSBiIDEgMDA="}]}`, []string{"delete"}},
	{`{"QueueUrl":"u"}`, []string{"send", "receive", "delete"}},
	{`{}`, []string{"send", "receive", "delete"}},
	{`{"QueueUrl":"u","Entries":[]}`, []string{"send", "delete"}},
	// What the fast path leaves to encoding/json.
	{`{"queueurl":"u"}`, nil},
	{`{"QueueUrl":"u","QueueUrl":"v"}`, nil},
	{`{"QueueUrl":"u","Unknown":1}`, nil},
	{`{"QueueUrl":null}`, nil},
	{`{"QueueUrl":"u","Entries":null}`, nil},
	{`{"QueueUrl":"u","MaxNumberOfMessages":1.0}`, nil},
	{`{"QueueUrl":"u","MaxNumberOfMessages":1e1}`, nil},
	{`{"QueueUrl":"u","MaxNumberOfMessages":"10"}`, nil},
	{`{"QueueUrl":"u","MaxNumberOfMessages":01}`, nil},
	{`{"QueueUrl":"u","MaxNumberOfMessages":99999999999999999999}`, nil},
	{`{"QueueUrl":"\ud800"}`, nil},
	{`{"QueueUrl":"\ud83d\ude00"}`, nil},
	{"{\"QueueUrl\":\"\xff\"}", nil},
	{"{\"QueueUrl\":\"a\\n\xed\xa0\x80\"}", nil},
	{"{\"QueueUrl\":\"\x01\"}", nil},
	{`{"QueueUrl":"u","Entries":[{"Id":"0","MessageBody":"b","MessageAttributes":{"a":{"DataType":"String","StringValue":"v"}}}]}`, nil},
	{`{"QueueUrl":"u"} x`, nil},
	{`{"QueueUrl":"u",}`, nil},
	{`{"QueueUrl":"u"`, nil},
	{`{"QueueUrl":"\q"}`, nil},
	{`[]`, nil},
	{`null`, nil},
}

func TestTheFastDecoderTakesPlainBodiesAndLeavesTheRest(t *testing.T) {
	for _, tc := range decodeBodies {
		if got := fastDecodes(t, []byte(tc.body)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: taken by %v, want %v", tc.body, got, tc.want)
		}
	}
}

// FuzzFastDecoder checks that whatever the fast path accepts, encoding/json
// accepts and decodes the same way.
func FuzzFastDecoder(f *testing.F) {
	for _, tc := range decodeBodies {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fastDecodes(t, body)
	})
}

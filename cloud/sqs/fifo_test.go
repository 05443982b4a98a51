package sqs_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud/clock"
	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
	"github.com/orderflow/orderflow/internal/poll"
)

// Conformance tests for FIFO queues, through the real SDK on each backend.
// Where an expected error message is AWS's own, it comes from LocalStack's
// snapshots recorded against AWS (tests/aws/services/sqs/test_sqs.snapshot.json).

// fifoQueue creates a FIFO queue with attrs (FifoQueue=true added).
func (f *fixture) fifoQueue(t testing.TB, name string, attrs map[string]string) string {
	t.Helper()
	a := map[string]string{"FifoQueue": "true"}
	for k, v := range attrs {
		a[k] = v
	}
	return f.createQueue(t, name, a)
}

func (f *fixture) sendFifo(t testing.TB, u, body, group, dedup string) *sqs.SendMessageOutput {
	t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(body), MessageGroupId: aws.String(group)}
	if dedup != "" {
		in.MessageDeduplicationId = aws.String(dedup)
	}
	out, err := f.client.SendMessage(ctxFor(t), in)
	if err != nil {
		t.Fatalf("SendMessage(%s, group %s): %v", body, group, err)
	}
	return out
}

// wantAPIError checks an SDK error's code and message.
func wantAPIError(t testing.TB, err error, code, message string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want the API error %s: %s", err, code, message)
	}
	if ae.ErrorCode() != code || ae.ErrorMessage() != message {
		t.Errorf("got %s: %q\nwant %s: %q", ae.ErrorCode(), ae.ErrorMessage(), code, message)
	}
}

func bodies(msgs []types.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, *m.Body)
	}
	return out
}

func deleteAll(t testing.TB, f *fixture, u string, msgs []types.Message) {
	t.Helper()
	for _, m := range msgs {
		if _, err := f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatalf("DeleteMessage: %v", err)
		}
	}
}

var snPattern = regexp.MustCompile(`^[1-9][0-9]{19}$`)

func TestFIFOQueueAttributes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := b.newFixture(t, true)

		t.Run("a FIFO queue reports its four FIFO attributes with their defaults", func(t *testing.T) {
			u := f.createQueue(t, "attrs.fifo", map[string]string{"FifoQueue": "True"})
			out, err := f.client.GetQueueAttributes(ctxFor(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue"} {
				if got := out.Attributes[k]; got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if got := f.attr(t, u, "DeduplicationScope"); got != "queue" {
				t.Errorf("DeduplicationScope by name = %q, want queue", got)
			}
		})

		t.Run("a standard queue reports none of them, even asked by name", func(t *testing.T) {
			u := f.createQueue(t, "plain", nil)
			out, err := f.client.GetQueueAttributes(ctxFor(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{"All", "FifoQueue"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"} {
				if v, ok := out.Attributes[k]; ok {
					t.Errorf("standard queue reports %s=%s", k, v)
				}
			}
			out, err = f.client.GetQueueAttributes(ctxFor(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{"FifoQueue"}})
			if err != nil || len(out.Attributes) != 0 {
				t.Errorf("FifoQueue by name on a standard queue: %v, %v", out, err)
			}
		})

		t.Run("FIFO names are 80 characters at most with the .fifo suffix", func(t *testing.T) {
			f.createQueue(t, strings.Repeat("a", 75)+".fifo", map[string]string{"FifoQueue": "true"})
			for _, name := range []string{strings.Repeat("a", 76) + ".fifo", ".fifo", "a b.fifo", "q.FIFO", "q"} {
				_, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{"FifoQueue": "true"}})
				wantAPIError(t, err, "InvalidParameterValue", "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
			}
		})

		t.Run("a .fifo name without FifoQueue=true is a bad standard queue name", func(t *testing.T) {
			for _, attrs := range []map[string]string{nil, {"FifoQueue": "false"}} {
				_, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("nofifo.fifo"), Attributes: attrs})
				wantAPIError(t, err, "InvalidParameterValue", "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
			}
		})

		t.Run("a standard queue refuses the FIFO attributes as AWS does", func(t *testing.T) {
			for attr, msg := range map[string]string{
				"FifoQueue":                 "Unknown Attribute FifoQueue.",
				"ContentBasedDeduplication": "Unknown Attribute ContentBasedDeduplication.",
				"DeduplicationScope":        "You can specify the DeduplicationScope only when FifoQueue is set to true.",
				"FifoThroughputLimit":       "You can specify the FifoThroughputLimit only when FifoQueue is set to true.",
			} {
				v := map[string]string{"FifoQueue": "false", "ContentBasedDeduplication": "false", "DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue"}[attr]
				_, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("std"), Attributes: map[string]string{attr: v}})
				wantAPIError(t, err, "InvalidAttributeName", msg)
			}
			u := f.createQueue(t, "std2", nil)
			_, err := f.client.SetQueueAttributes(ctxFor(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(u), Attributes: map[string]string{"FifoQueue": "true"}})
			wantAPIError(t, err, "InvalidAttributeName", "Unknown Attribute FifoQueue.")
		})

		t.Run("FifoQueue cannot be changed; the others can", func(t *testing.T) {
			u := f.fifoQueue(t, "set.fifo", nil)
			set := func(attrs map[string]string) error {
				_, err := f.client.SetQueueAttributes(ctxFor(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(u), Attributes: attrs})
				return err
			}
			if err := set(map[string]string{"FifoQueue": "true"}); err != nil {
				t.Errorf("FifoQueue=true again: %v", err)
			}
			wantAPIError(t, set(map[string]string{"FifoQueue": "false"}), "InvalidAttributeValue", "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.")
			wantAPIError(t, set(map[string]string{"FifoThroughputLimit": "perMessageGroupId"}), "InvalidAttributeValue",
				"Invalid value for the parameter FifoThroughputLimit. Reason: perMessageGroupId is allowed only when DeduplicationScope is messageGroup.")
			wantAPIError(t, set(map[string]string{"DeduplicationScope": "group"}), "InvalidAttributeValue", "Invalid value for the parameter DeduplicationScope.")
			wantAPIError(t, set(map[string]string{"ContentBasedDeduplication": "yes"}), "InvalidAttributeValue", "Invalid value for the parameter ContentBasedDeduplication.")
			if err := set(map[string]string{"FifoThroughputLimit": "perMessageGroupId", "DeduplicationScope": "messageGroup", "ContentBasedDeduplication": "true"}); err != nil {
				t.Fatalf("high throughput: %v", err)
			}
			for k, want := range map[string]string{"FifoThroughputLimit": "perMessageGroupId", "DeduplicationScope": "messageGroup", "ContentBasedDeduplication": "true"} {
				if got := f.attr(t, u, k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			wantAPIError(t, set(map[string]string{"DeduplicationScope": "queue"}), "InvalidAttributeValue",
				"Invalid value for the parameter FifoThroughputLimit. Reason: perMessageGroupId is allowed only when DeduplicationScope is messageGroup.")
		})

		t.Run("creating it again with another ContentBasedDeduplication is QueueAlreadyExists", func(t *testing.T) {
			f.fifoQueue(t, "again.fifo", map[string]string{"ContentBasedDeduplication": "true"})
			f.fifoQueue(t, "again.fifo", map[string]string{"ContentBasedDeduplication": "True"})
			_, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("again.fifo"), Attributes: map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "false"}})
			wantAPIError(t, err, "QueueAlreadyExists", "A queue already exists with the same name and a different value for attribute ContentBasedDeduplication")
		})
	})
}

func TestFIFOSend(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := b.newFixture(t, true)
		u := f.fifoQueue(t, "send.fifo", nil)
		send := func(in sqs.SendMessageInput) (*sqs.SendMessageOutput, error) {
			in.QueueUrl = aws.String(u)
			if in.MessageBody == nil {
				in.MessageBody = aws.String("b")
			}
			return f.client.SendMessage(ctxFor(t), &in)
		}

		t.Run("MessageGroupId is required", func(t *testing.T) {
			_, err := send(sqs.SendMessageInput{MessageDeduplicationId: aws.String("d")})
			wantAPIError(t, err, "MissingParameter", "The request must contain the parameter MessageGroupId.")
		})

		t.Run("MessageDeduplicationId is required without ContentBasedDeduplication", func(t *testing.T) {
			_, err := send(sqs.SendMessageInput{MessageGroupId: aws.String("g")})
			wantAPIError(t, err, "InvalidParameterValue", "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		})

		t.Run("a per-message delay is refused, but 0 is accepted", func(t *testing.T) {
			_, err := send(sqs.SendMessageInput{MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("delay"), DelaySeconds: 2})
			wantAPIError(t, err, "InvalidParameterValue", "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.")
			if _, err := send(sqs.SendMessageInput{MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("delay0"), DelaySeconds: 0}); err != nil {
				t.Errorf("DelaySeconds 0: %v", err)
			}
		})

		t.Run("group and deduplication ids are 1 to 128 alphanumerics and punctuation", func(t *testing.T) {
			long := strings.Repeat("a", 129)
			for _, bad := range []string{long, "group 123", "é", "tab\t"} {
				_, err := send(sqs.SendMessageInput{MessageGroupId: aws.String(bad), MessageDeduplicationId: aws.String("d")})
				wantAPIError(t, err, "InvalidParameterValue", "Value "+bad+" for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.")
				_, err = send(sqs.SendMessageInput{MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String(bad)})
				wantAPIError(t, err, "InvalidParameterValue", "Value "+bad+" for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.")
			}
			punct := "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" + strings.Repeat("z", 96)
			if _, err := send(sqs.SendMessageInput{MessageGroupId: aws.String(punct), MessageDeduplicationId: aws.String(punct)}); err != nil {
				t.Errorf("128 characters of punctuation and letters: %v", err)
			}
		})

		t.Run("a standard queue refuses a deduplication id and a bad group id", func(t *testing.T) {
			std := f.createQueue(t, "standard", nil)
			_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(std), MessageBody: aws.String("b"), MessageDeduplicationId: aws.String("d")})
			wantAPIError(t, err, "InvalidParameterValue", "The request include parameter that is not valid for this queue type. Reason: MessageDeduplicationId is only valid for FIFO queues.")
			_, err = f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(std), MessageBody: aws.String("b"), MessageGroupId: aws.String("group 123")})
			wantAPIError(t, err, "InvalidParameterValue", "Value group 123 for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.")
		})

		t.Run("sequence numbers are 20-digit decimals that grow with each message", func(t *testing.T) {
			q := f.fifoQueue(t, "seq.fifo", nil)
			var last string
			for i := range 5 {
				out := f.sendFifo(t, q, "m", "g", fmt.Sprint("s", i))
				sn := aws.ToString(out.SequenceNumber)
				if !snPattern.MatchString(sn) {
					t.Fatalf("SequenceNumber %q is not a 20-digit decimal", sn)
				}
				if last != "" && sn <= last {
					t.Errorf("SequenceNumber %s after %s", sn, last)
				}
				last = sn
			}
			std := f.createQueue(t, "seq-std", nil)
			out, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(std), MessageBody: aws.String("b")})
			if err != nil || out.SequenceNumber != nil {
				t.Errorf("standard queue: SequenceNumber %v, %v", out.SequenceNumber, err)
			}
		})

		t.Run("a duplicate within five minutes answers as the original and is not enqueued", func(t *testing.T) {
			q := f.fifoQueue(t, "dup.fifo", nil)
			first := f.sendFifo(t, q, "one", "g", "d1")
			f.advance(4*time.Minute + 59*time.Second)
			dup := f.sendFifo(t, q, "two", "other-group", "d1")
			if *dup.MessageId != *first.MessageId || *dup.SequenceNumber != *first.SequenceNumber {
				t.Errorf("duplicate answered %s/%s, want the original's %s/%s", *dup.MessageId, *dup.SequenceNumber, *first.MessageId, *first.SequenceNumber)
			}
			if *dup.MD5OfMessageBody != "b8a9f715dbb64fd5c56e7783c6820a61" { // md5("two")
				t.Errorf("MD5OfMessageBody = %s, want the duplicate's own body's", *dup.MD5OfMessageBody)
			}
			if n := f.count(t, q, "ApproximateNumberOfMessages"); n != 1 {
				t.Errorf("%d messages queued, want 1", n)
			}
			f.advance(time.Second)
			again := f.sendFifo(t, q, "three", "g", "d1")
			if *again.MessageId == *first.MessageId {
				t.Error("after five minutes the id is a duplicate still")
			}
			if got := bodies(f.receive(t, q, 10, nil)); strings.Join(got, ",") != "one,three" {
				t.Errorf("received %v, want [one three]", got)
			}
		})

		t.Run("the window outlives the message: a duplicate of a deleted message is dropped", func(t *testing.T) {
			q := f.fifoQueue(t, "afterdelete.fifo", map[string]string{"ContentBasedDeduplication": "true"})
			f.sendFifo(t, q, `{"foo": "bar"}`, "g", "")
			deleteAll(t, f, q, f.receive(t, q, 10, nil))
			f.sendFifo(t, q, `{"foo": "bar"}`, "g", "")
			if got := f.receive(t, q, 10, nil); len(got) != 0 {
				t.Errorf("received %v, want nothing", bodies(got))
			}
		})

		t.Run("content-based deduplication hashes the body; an explicit id overrides it", func(t *testing.T) {
			q := f.fifoQueue(t, "content.fifo", map[string]string{"ContentBasedDeduplication": "true"})
			a := f.sendFifo(t, q, "same", "g1", "")
			b := f.sendFifo(t, q, "same", "g2", "")
			c := f.sendFifo(t, q, "same", "g1", "explicit")
			if *a.MessageId != *b.MessageId || *c.MessageId == *a.MessageId {
				t.Errorf("ids %s %s %s: want the first two equal and the third new", *a.MessageId, *b.MessageId, *c.MessageId)
			}
			msgs := f.receive(t, q, 10, nil)
			if len(msgs) != 2 {
				t.Fatalf("received %d, want 2", len(msgs))
			}
			// SHA-256("same") in hex.
			if got := msgs[0].Attributes["MessageDeduplicationId"]; got != "0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5" {
				t.Errorf("MessageDeduplicationId = %s, want the body's SHA-256", got)
			}
		})

		t.Run("under the messageGroup scope the same id in another group is not a duplicate", func(t *testing.T) {
			q := f.fifoQueue(t, "scope.fifo", map[string]string{"DeduplicationScope": "messageGroup"})
			a := f.sendFifo(t, q, "x", "g1", "d")
			b := f.sendFifo(t, q, "y", "g2", "d")
			c := f.sendFifo(t, q, "z", "g1", "d")
			if *a.MessageId == *b.MessageId || *c.MessageId != *a.MessageId {
				t.Errorf("ids %s %s %s: want the first and last equal only", *a.MessageId, *b.MessageId, *c.MessageId)
			}
		})

		t.Run("a purge forgets the deduplication ids", func(t *testing.T) {
			q := f.fifoQueue(t, "purge.fifo", nil)
			f.sendFifo(t, q, "message-1", "g", "d")
			if _, err := f.client.PurgeQueue(ctxFor(t), &sqs.PurgeQueueInput{QueueUrl: aws.String(q)}); err != nil {
				t.Fatal(err)
			}
			f.sendFifo(t, q, "message-2", "g", "d")
			if got := bodies(f.receive(t, q, 10, nil)); strings.Join(got, ",") != "message-2" {
				t.Errorf("received %v, want [message-2]", got)
			}
		})

		t.Run("a batch without a group or deduplication id fails as a whole", func(t *testing.T) {
			q := f.fifoQueue(t, "batch.fifo", nil)
			batch := func(entries ...types.SendMessageBatchRequestEntry) (*sqs.SendMessageBatchOutput, error) {
				return f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: entries})
			}
			ok := types.SendMessageBatchRequestEntry{Id: aws.String("ok"), MessageBody: aws.String("b"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d")}
			_, err := batch(ok, types.SendMessageBatchRequestEntry{Id: aws.String("nogroup"), MessageBody: aws.String("b"), MessageDeduplicationId: aws.String("d2")})
			wantAPIError(t, err, "InvalidParameterValue", "The request must contain the parameter MessageGroupId.")
			_, err = batch(ok, types.SendMessageBatchRequestEntry{Id: aws.String("nodedup"), MessageBody: aws.String("b"), MessageGroupId: aws.String("g")})
			wantAPIError(t, err, "InvalidParameterValue", "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
			if n := f.count(t, q, "ApproximateNumberOfMessages"); n != 0 {
				t.Errorf("%d messages queued by refused batches", n)
			}

			out, err := batch(ok,
				types.SendMessageBatchRequestEntry{Id: aws.String("dup"), MessageBody: aws.String("b"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d")},
				types.SendMessageBatchRequestEntry{Id: aws.String("delayed"), MessageBody: aws.String("b"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d3"), DelaySeconds: 5},
				types.SendMessageBatchRequestEntry{Id: aws.String("new"), MessageBody: aws.String("b"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d4")})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Successful) != 3 || len(out.Failed) != 1 || *out.Failed[0].Id != "delayed" || *out.Failed[0].Code != "InvalidParameterValue" {
				t.Fatalf("successful %d, failed %+v", len(out.Successful), out.Failed)
			}
			byID := map[string]types.SendMessageBatchResultEntry{}
			for _, e := range out.Successful {
				if !snPattern.MatchString(aws.ToString(e.SequenceNumber)) {
					t.Errorf("entry %s: SequenceNumber %q", *e.Id, aws.ToString(e.SequenceNumber))
				}
				byID[*e.Id] = e
			}
			if *byID["dup"].MessageId != *byID["ok"].MessageId || *byID["new"].SequenceNumber <= *byID["ok"].SequenceNumber {
				t.Errorf("entries %+v", byID)
			}
		})
	})
}

func TestFIFOReceive(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := b.newFixture(t, true)

		t.Run("a receive takes one group's messages in order first, then the next group's", func(t *testing.T) {
			q := f.fifoQueue(t, "order.fifo", nil)
			for i, g := range []string{"a", "b", "a", "c", "b", "a"} {
				f.sendFifo(t, q, fmt.Sprint(g, i), g, fmt.Sprint(i))
			}
			got := f.receive(t, q, 4, nil)
			if s := strings.Join(bodies(got), ","); s != "a0,a2,a5,b1" {
				t.Errorf("received %s, want a0,a2,a5,b1", s)
			}
			m := got[0]
			if m.Attributes["MessageGroupId"] != "a" || m.Attributes["MessageDeduplicationId"] != "0" || !snPattern.MatchString(m.Attributes["SequenceNumber"]) {
				t.Errorf("system attributes %v", m.Attributes)
			}
			// Groups a and b are locked now: only c is left to take.
			if s := strings.Join(bodies(f.receive(t, q, 10, nil)), ","); s != "c3" {
				t.Errorf("second receive %s, want c3", s)
			}
			if got := f.receive(t, q, 10, nil); len(got) != 0 {
				t.Errorf("third receive %v, want nothing while every group is locked", bodies(got))
			}
			if n := f.count(t, q, "ApproximateNumberOfMessages"); n != 1 {
				t.Errorf("ApproximateNumberOfMessages = %d, want 1 (b4, behind its locked group)", n)
			}
			deleteAll(t, f, q, got[3:]) // b1
			if s := strings.Join(bodies(f.receive(t, q, 10, nil)), ","); s != "b4" {
				t.Errorf("after b1's delete: %s, want b4", s)
			}
		})

		t.Run("a message back from flight is its group's first again", func(t *testing.T) {
			q := f.fifoQueue(t, "back.fifo", map[string]string{"VisibilityTimeout": "30"})
			for i := range 3 {
				f.sendFifo(t, q, fmt.Sprint("m", i), "g", fmt.Sprint(i))
			}
			first := f.receive(t, q, 1, nil)
			f.advance(31 * time.Second)
			again := f.receive(t, q, 1, nil)
			if len(again) != 1 || *again[0].Body != "m0" || again[0].Attributes["ApproximateReceiveCount"] != "2" {
				t.Fatalf("after the timeout: %v", bodies(again))
			}
			_, err := f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: first[0].ReceiptHandle})
			wantAPIError(t, err, "InvalidParameterValue", "Value "+*first[0].ReceiptHandle+" for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.")
			if _, err := f.client.ChangeMessageVisibility(ctxFor(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q), ReceiptHandle: again[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				t.Fatal(err)
			}
			third := f.receive(t, q, 10, nil)
			if s := strings.Join(bodies(third), ","); s != "m0,m1,m2" {
				t.Errorf("after ChangeMessageVisibility 0: %s, want m0,m1,m2", s)
			}
		})

		t.Run("a long poll wakes when a delete unlocks a group", func(t *testing.T) {
			q := f.fifoQueue(t, "wake.fifo", nil)
			f.sendFifo(t, q, "first", "g", "1")
			f.sendFifo(t, q, "second", "g", "2")
			got := f.receive(t, q, 1, nil)
			done := make(chan []types.Message, 1)
			go func() {
				out, err := f.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 20})
				if err != nil {
					t.Error(err)
					done <- nil
					return
				}
				done <- out.Messages
			}()
			poll.Until(t, 5*time.Second, "the long poll to start waiting", func() bool { return f.svc.Engine().Waiters("wake.fifo") == 1 })
			deleteAll(t, f, q, got)
			select {
			case msgs := <-done:
				if s := strings.Join(bodies(msgs), ","); s != "second" {
					t.Errorf("the long poll got %q, want second", s)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the long poll did not wake when the group unlocked")
			}
		})

		t.Run("the queue's delay holds a message back before it joins its group", func(t *testing.T) {
			q := f.fifoQueue(t, "delay.fifo", map[string]string{"DelaySeconds": "10"})
			f.sendFifo(t, q, "late", "g", "1")
			// DelaySeconds 0 on a FIFO message still takes the queue's delay.
			if _, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("zero"),
				MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("2"), DelaySeconds: 0}); err != nil {
				t.Fatal(err)
			}
			if got := f.receive(t, q, 10, nil); len(got) != 0 {
				t.Fatalf("received %v during the delay", bodies(got))
			}
			f.advance(10 * time.Second)
			if s := strings.Join(bodies(f.receive(t, q, 10, nil)), ","); s != "late,zero" {
				t.Errorf("after the delay: %q, want late,zero", s)
			}
		})

		t.Run("a receiver that never deletes blocks only its own group", func(t *testing.T) {
			q := f.fifoQueue(t, "stuck.fifo", map[string]string{"VisibilityTimeout": "43200"})
			f.sendFifo(t, q, "stuck-1", "stuck", "s1")
			f.sendFifo(t, q, "stuck-2", "stuck", "s2")
			if got := f.receive(t, q, 1, nil); len(got) != 1 || *got[0].Body != "stuck-1" {
				t.Fatalf("first receive %v", bodies(got))
			}
			for i := range 20 {
				f.sendFifo(t, q, fmt.Sprint("free-", i), "free", fmt.Sprint("f", i))
				got := f.receive(t, q, 10, nil)
				if len(got) != 1 || *got[0].Body != fmt.Sprint("free-", i) {
					t.Fatalf("round %d: %v", i, bodies(got))
				}
				deleteAll(t, f, q, got)
			}
		})

		t.Run("1000 groups sent interleaved keep each group's order", func(t *testing.T) {
			q := f.fifoQueue(t, "many.fifo", nil)
			const groups, perGroup = 1000, 3
			var entries []types.SendMessageBatchRequestEntry
			flush := func() {
				if _, err := f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: entries}); err != nil {
					t.Fatal(err)
				}
				entries = entries[:0]
			}
			for i := range perGroup {
				for g := range groups {
					entries = append(entries, types.SendMessageBatchRequestEntry{
						Id: aws.String(strconv.Itoa(len(entries))), MessageBody: aws.String(fmt.Sprint(g, ":", i)),
						MessageGroupId: aws.String(fmt.Sprint("g", g)), MessageDeduplicationId: aws.String(fmt.Sprint(g, "-", i)),
					})
					if len(entries) == 10 {
						flush()
					}
				}
			}
			next := map[string]int{}
			for round := 0; round < 2*groups*perGroup && len(next) < groups*perGroup; round++ {
				got := f.receive(t, q, 10, nil)
				if len(got) == 0 {
					break
				}
				for _, m := range got {
					g, i, _ := strings.Cut(*m.Body, ":")
					if want := strconv.Itoa(next[g]); i != want {
						t.Fatalf("group %s: got message %s, want %s", g, i, want)
					}
					next[g]++
				}
				deleteAll(t, f, q, got)
			}
			for g := range groups {
				if n := next[strconv.Itoa(g)]; n != perGroup {
					t.Fatalf("group %d: %d messages received, want %d", g, n, perGroup)
				}
			}
		})

		t.Run("a retried ReceiveRequestAttemptId gets the same messages and receipt handles", func(t *testing.T) {
			q := f.fifoQueue(t, "attempt.fifo", map[string]string{"VisibilityTimeout": "60"})
			for i := range 4 {
				f.sendFifo(t, q, fmt.Sprint("m", i), "g", fmt.Sprint(i))
			}
			recv := func(id string) []types.Message {
				t.Helper()
				out, err := f.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 2, ReceiveRequestAttemptId: aws.String(id)})
				if err != nil {
					t.Fatal(err)
				}
				return out.Messages
			}
			first := recv("attempt-1")
			f.advance(50 * time.Second)
			retry := recv("attempt-1")
			if len(first) != 2 || len(retry) != 2 || *first[0].ReceiptHandle != *retry[0].ReceiptHandle || *first[1].ReceiptHandle != *retry[1].ReceiptHandle {
				t.Fatalf("retry got %v, want the first receive's %v", bodies(retry), bodies(first))
			}
			// The retry restarted the visibility timeout: 50 s later they
			// are still in flight.
			f.advance(50 * time.Second)
			if n := f.count(t, q, "ApproximateNumberOfMessagesNotVisible"); n != 2 {
				t.Errorf("%d in flight after the retry's timeout restarted, want 2", n)
			}
			deleteAll(t, f, q, retry[:1])
			if got := recv("attempt-1"); len(got) != 0 {
				t.Errorf("after a delete the attempt receives afresh: got %v, want nothing (m1 locks the group)", bodies(got))
			}
			_, err := f.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), ReceiveRequestAttemptId: aws.String(strings.Repeat("x", 129))})
			wantAPIError(t, err, "InvalidParameterValue", "Value "+strings.Repeat("x", 129)+" for parameter ReceiveRequestAttemptId is invalid. Reason: ReceiveRequestAttemptId can only include alphanumeric and punctuation characters. 1 to 128 in length.")
		})

		t.Run("a retry after five minutes is a new receive", func(t *testing.T) {
			q := f.fifoQueue(t, "attempt2.fifo", map[string]string{"VisibilityTimeout": "43200"})
			f.sendFifo(t, q, "one", "g1", "1")
			f.sendFifo(t, q, "two", "g2", "2")
			recv := func() []types.Message {
				out, err := f.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), ReceiveRequestAttemptId: aws.String("same")})
				if err != nil {
					t.Fatal(err)
				}
				return out.Messages
			}
			if s := strings.Join(bodies(recv()), ","); s != "one" {
				t.Fatalf("first: %s", s)
			}
			f.advance(5*time.Minute + time.Second)
			if s := strings.Join(bodies(recv()), ","); s != "two" {
				t.Errorf("after the window: %s, want two", s)
			}
		})
	})
}

func TestFIFODeadLetterQueuesAndMoveTasks(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := b.newFixture(t, true)

		t.Run("a dead-letter queue has its source's type", func(t *testing.T) {
			fifoDLQ := f.arn(t, f.fifoQueue(t, "dlq-type.fifo", nil))
			stdDLQ := f.arn(t, f.createQueue(t, "dlq-type", nil))
			for name, dlq := range map[string]string{"src-type.fifo": stdDLQ, "src-type": fifoDLQ} {
				policy := `{"deadLetterTargetArn":"` + dlq + `","maxReceiveCount":1}`
				attrs := map[string]string{"RedrivePolicy": policy}
				if strings.HasSuffix(name, ".fifo") {
					attrs["FifoQueue"] = "true"
				}
				_, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
				wantAPIError(t, err, "InvalidParameterValue", "Value "+policy+" for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source..")
			}
		})

		t.Run("dead-lettering keeps the group and deduplication ids and unlocks the group; a move task brings them back", func(t *testing.T) {
			dlqURL := f.fifoQueue(t, "dlq.fifo", nil)
			dlq := f.arn(t, dlqURL)
			src := f.fifoQueue(t, "src.fifo", map[string]string{"VisibilityTimeout": "600", "RedrivePolicy": `{"deadLetterTargetArn":"` + dlq + `","maxReceiveCount":1}`})
			f.sendFifo(t, src, "poison", "g", "p")
			f.sendFifo(t, src, "next", "g", "n")
			if got := f.receive(t, src, 1, nil); len(got) != 1 || *got[0].Body != "poison" {
				t.Fatalf("first receive %v", bodies(got))
			}
			f.advance(601 * time.Second)
			// The second receive moves poison to the DLQ and takes next.
			nxt := f.receive(t, src, 1, nil)
			if len(nxt) != 1 || *nxt[0].Body != "next" {
				t.Fatalf("after dead-lettering: %v, want next", bodies(nxt))
			}
			dead := f.receive(t, dlqURL, 10, nil)
			if len(dead) != 1 || dead[0].Attributes["MessageGroupId"] != "g" || dead[0].Attributes["MessageDeduplicationId"] != "p" || !snPattern.MatchString(dead[0].Attributes["SequenceNumber"]) {
				t.Fatalf("in the DLQ: %+v", dead)
			}
			f.advance(31 * time.Second)
			deleteAll(t, f, src, nxt[:0]) // next stays in flight: its group stays locked
			if _, err := f.client.StartMessageMoveTask(ctxFor(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlq)}); err != nil {
				t.Fatal(err)
			}
			f.advance(2 * time.Second)
			if n := f.count(t, dlqURL, "ApproximateNumberOfMessages"); n != 0 {
				t.Fatalf("%d left in the DLQ after the move", n)
			}
			if got := f.receive(t, src, 10, nil); len(got) != 0 {
				t.Fatalf("the moved message jumped its locked group: %v", bodies(got))
			}
			deleteAll(t, f, src, nxt)
			back := f.receive(t, src, 10, nil)
			if len(back) != 1 || *back[0].Body != "poison" || back[0].Attributes["MessageGroupId"] != "g" || back[0].Attributes["MessageDeduplicationId"] != "p" {
				t.Fatalf("back in the source: %+v", back)
			}
		})

		t.Run("a move task's destination has its source's type", func(t *testing.T) {
			dlqURL := f.fifoQueue(t, "dlq3.fifo", nil)
			dlq := f.arn(t, dlqURL)
			f.fifoQueue(t, "src3.fifo", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlq + `","maxReceiveCount":1}`})
			std := f.arn(t, f.createQueue(t, "dest3", nil))
			_, err := f.client.StartMessageMoveTask(ctxFor(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlq), DestinationArn: aws.String(std)})
			wantAPIError(t, err, "InvalidParameterValue", "Source queue and destination queue must be of the same type (both standard or both FIFO).")
		})
	})
}

func TestFIFOSurvivesACrash(t *testing.T) {
	n := newNode(t)
	u := n.createQueue(t, "durable.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"})
	first := n.sendFifo(t, u, "a", "g1", "")
	n.sendFifo(t, u, "b", "g1", "")
	n.sendFifo(t, u, "c", "g2", "")
	got := n.receive(t, u, 1, i32(3600))
	if len(got) != 1 || *got[0].Body != "a" {
		t.Fatalf("before the crash: %v", bodies(got))
	}

	n.restart(t, time.Minute)
	u = n.queueURL(t, "durable.fifo")
	for k, want := range map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"} {
		if got := n.attr(t, u, k); got != want {
			t.Errorf("%s = %q after the crash, want %q", k, got, want)
		}
	}
	dup := n.sendFifo(t, u, "a", "g1", "")
	if *dup.MessageId != *first.MessageId || *dup.SequenceNumber != *first.SequenceNumber {
		t.Errorf("a duplicate after the crash got %s/%s, want the original's %s/%s", *dup.MessageId, *dup.SequenceNumber, *first.MessageId, *first.SequenceNumber)
	}
	later := n.sendFifo(t, u, "d", "g2", "")
	if *later.SequenceNumber <= *first.SequenceNumber {
		t.Errorf("sequence number %s after the crash is not above %s", *later.SequenceNumber, *first.SequenceNumber)
	}
	// g1 is still locked by a, in flight across the crash.
	msgs := n.receive(t, u, 10, nil)
	if s := strings.Join(bodies(msgs), ","); s != "c,d" {
		t.Errorf("after the crash: %s, want c,d (g1 locked by a)", s)
	}
	if msgs[0].Attributes["MessageGroupId"] != "g2" || !snPattern.MatchString(msgs[0].Attributes["SequenceNumber"]) {
		t.Errorf("system attributes after the crash: %v", msgs[0].Attributes)
	}

	n.restart(t, 5*time.Minute)
	u = n.queueURL(t, "durable.fifo")
	if again := n.sendFifo(t, u, "a", "g1", ""); *again.MessageId == *first.MessageId {
		t.Error("six minutes later the deduplication id is remembered still")
	}
}

// TestFIFOEngineAPI drives a FIFO queue through the Go API that SNS and
// the Lambda poller use.
func TestFIFOEngineAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEngine(t, cloudsqs.Options{})
		ctx := context.Background()
		if _, err := e.CreateQueue("api.fifo", map[string]string{"FifoQueue": "true"}, nil); err != nil {
			t.Fatal(err)
		}
		out, err := e.SendMessage(ctx, "api.fifo", cloudsqs.SendInput{Body: "x", MessageGroupID: "g", MessageDeduplicationID: "d"})
		if err != nil || !snPattern.MatchString(out.SequenceNumber) {
			t.Fatalf("SendMessage: %+v, %v", out, err)
		}
		if err := e.ValidateSend("api.fifo", cloudsqs.SendInput{Body: "x", MessageDeduplicationID: "d"}); err == nil {
			t.Error("ValidateSend accepted a FIFO message without a group")
		}
		msgs, err := e.ReceiveMessage(ctx, "api.fifo", cloudsqs.ReceiveInput{AttributeNames: []string{"MessageGroupId", "MessageDeduplicationId", "SequenceNumber"}, ReceiveRequestAttemptID: "r1"})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("ReceiveMessage: %v, %v", msgs, err)
		}
		if a := msgs[0].Attributes; a["MessageGroupId"] != "g" || a["MessageDeduplicationId"] != "d" || a["SequenceNumber"] != out.SequenceNumber {
			t.Errorf("attributes %v", a)
		}
		if groups, avail := cloudsqs.FifoGroupsForTest(e, "api.fifo"); groups != 1 || avail != 0 {
			t.Errorf("groups %d, available %d; want 1 locked group", groups, avail)
		}
		if err := e.DeleteMessage("api.fifo", msgs[0].ReceiptHandle); err != nil {
			t.Fatal(err)
		}
		if groups, _ := cloudsqs.FifoGroupsForTest(e, "api.fifo"); groups != 0 {
			t.Errorf("%d groups left after the last message went, want 0", groups)
		}
	})
}

// TestFIFOQueryProtocol checks the FIFO shapes of the Query protocol's
// XML, and of the JSON protocol's bodies, as AWS writes them.
func TestFIFOQueryProtocol(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := b.newFixture(t, true)
		status, body := postQuery(t, f.url, "/", url.Values{"Action": {"CreateQueue"}, "QueueName": {"q.fifo"},
			"Attribute.1.Name": {"FifoQueue"}, "Attribute.1.Value": {"true"},
			"Attribute.2.Name": {"ContentBasedDeduplication"}, "Attribute.2.Value": {"true"}})
		if status != 200 {
			t.Fatalf("CreateQueue: %d %s", status, body)
		}
		path := "/000000000000/q.fifo"

		t.Run("SendMessageResult ends with the SequenceNumber", func(t *testing.T) {
			status, body := postQuery(t, f.url, path, url.Values{"Action": {"SendMessage"}, "MessageBody": {"hello"}, "MessageGroupId": {"g"}})
			re := regexp.MustCompile(`<SendMessageResult><MD5OfMessageBody>5d41402abc4b2a76b9719d911017c592</MD5OfMessageBody><MessageId>[0-9a-f-]+</MessageId><SequenceNumber>[1-9][0-9]{19}</SequenceNumber></SendMessageResult>`)
			if status != 200 || !re.MatchString(body) {
				t.Errorf("%d %s", status, body)
			}
		})

		t.Run("each SendMessageBatchResultEntry has its SequenceNumber", func(t *testing.T) {
			status, body := postQuery(t, f.url, path, url.Values{"Action": {"SendMessageBatch"},
				"SendMessageBatchRequestEntry.1.Id": {"a"}, "SendMessageBatchRequestEntry.1.MessageBody": {"one"}, "SendMessageBatchRequestEntry.1.MessageGroupId": {"g"},
				"SendMessageBatchRequestEntry.2.Id": {"b"}, "SendMessageBatchRequestEntry.2.MessageBody": {"two"}, "SendMessageBatchRequestEntry.2.MessageGroupId": {"g"},
				"SendMessageBatchRequestEntry.2.MessageDeduplicationId": {"explicit"}})
			var doc struct {
				Entries []struct {
					ID  string `xml:"Id"`
					SN  string `xml:"SequenceNumber"`
					MID string `xml:"MessageId"`
				} `xml:"SendMessageBatchResult>SendMessageBatchResultEntry"`
			}
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || status != 200 || len(doc.Entries) != 2 {
				t.Fatalf("%d %s: %v", status, body, err)
			}
			for _, e := range doc.Entries {
				if !snPattern.MatchString(e.SN) {
					t.Errorf("entry %s: SequenceNumber %q", e.ID, e.SN)
				}
			}
		})

		t.Run("a missing MessageGroupId is an ErrorResponse with MissingParameter", func(t *testing.T) {
			status, body := postQuery(t, f.url, path, url.Values{"Action": {"SendMessage"}, "MessageBody": {"x"}})
			var doc xmlError
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || status != 400 {
				t.Fatalf("%d %s: %v", status, body, err)
			}
			if doc.Error.Code != "MissingParameter" || doc.Error.Message != "The request must contain the parameter MessageGroupId." {
				t.Errorf("got %+v", doc.Error)
			}
		})

		t.Run("ReceiveMessage lists the FIFO system attributes; a retried attempt id gets the same receipt handle", func(t *testing.T) {
			form := url.Values{"Action": {"ReceiveMessage"}, "MaxNumberOfMessages": {"10"}, "AttributeName.1": {"All"}, "ReceiveRequestAttemptId": {"try-1"}}
			status, body := postQuery(t, f.url, path, form)
			var doc struct {
				Messages []struct {
					Handle string `xml:"ReceiptHandle"`
					Attrs  []struct {
						Name, Value string
					} `xml:"Attribute"`
				} `xml:"ReceiveMessageResult>Message"`
			}
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || status != 200 || len(doc.Messages) != 3 {
				t.Fatalf("%d %s: %v", status, body, err)
			}
			attrs := map[string]string{}
			for _, a := range doc.Messages[0].Attrs {
				attrs[a.Name] = a.Value
			}
			if attrs["MessageGroupId"] != "g" || attrs["MessageDeduplicationId"] != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" || !snPattern.MatchString(attrs["SequenceNumber"]) {
				t.Errorf("attributes %v", attrs)
			}
			_, again := postQuery(t, f.url, path, form)
			if !strings.Contains(again, "<ReceiptHandle>"+doc.Messages[0].Handle+"</ReceiptHandle>") {
				t.Errorf("the retry's reply does not hold the first receipt handle:\n%s", again)
			}
		})

		t.Run("the JSON protocol's errors carry AWS's shape names and Query codes", func(t *testing.T) {
			for _, c := range []struct{ body, header, typ string }{
				{`{"QueueUrl":"` + f.url + path + `","MessageBody":"x"}`, "MissingParameter;Sender", "com.amazonaws.sqs#MissingRequiredParameterException"},
				{`{"QueueUrl":"` + f.url + path + `","MessageBody":"x","MessageGroupId":"g","DelaySeconds":2}`, "InvalidParameterValue;Sender", "com.amazonaws.sqs#InvalidParameterValueException"},
			} {
				status, header, body := postJSON(t, f.url, "SendMessage", c.body)
				if status != 400 || header != c.header || !strings.Contains(body, `"__type":"`+c.typ+`"`) {
					t.Errorf("%s: %d %q %s; want 400, %q, __type %s", c.body, status, header, body, c.header, c.typ)
				}
			}
		})

		t.Run("the JSON protocol's SendMessage reply has SequenceNumber", func(t *testing.T) {
			status, _, body := postJSON(t, f.url, "SendMessage", `{"QueueUrl":"`+f.url+path+`","MessageBody":"json","MessageGroupId":"g"}`)
			if status != 200 || !regexp.MustCompile(`"SequenceNumber":"[1-9][0-9]{19}"`).MatchString(body) {
				t.Errorf("%d %s", status, body)
			}
		})
	})
}

// TestFIFORandomOperationsAgreeWithAModel drives a FIFO queue through the
// engine's Go API with random sends to 7 groups, receives of 1 to 10
// messages with random visibility timeouts, deletes, visibility changes
// and clock moves, and checks every receive against a plain model: the
// visible messages of the groups without a message in flight, the group
// whose first message is oldest first, each group's messages in order.
func TestFIFORandomOperationsAgreeWithAModel(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		clk := clock.NewFake(t0)
		e := b.newEngine(t, cloudsqs.Options{Clock: clk})
		ctx := context.Background()
		if _, err := e.CreateQueue("model.fifo", map[string]string{"FifoQueue": "true"}, nil); err != nil {
			t.Fatal(err)
		}
		type mm struct {
			body, group, handle string
			visibleAt           time.Time // in flight while after now
			received            bool
		}
		var (
			model []*mm // by send order
			r     = rand.New(rand.NewPCG(17, 0xF1F0))
			n     int
		)
		inflight := func(m *mm) bool { return m.received && m.visibleAt.After(clk.Now()) }
		expect := func(max int) []*mm {
			locked := map[string]bool{}
			for _, m := range model {
				if inflight(m) {
					locked[m.group] = true
				}
			}
			var out []*mm
			taken := map[string]bool{}
			for len(out) < max {
				var head *mm
				for _, m := range model { // the oldest visible message of an unlocked, untaken group
					if !inflight(m) && !locked[m.group] && !taken[m.group] {
						head = m
						break
					}
				}
				if head == nil {
					break
				}
				taken[head.group] = true
				for _, m := range model {
					if len(out) < max && m.group == head.group && !inflight(m) {
						out = append(out, m)
					}
				}
			}
			return out
		}
		remove := func(x *mm) {
			for i, m := range model {
				if m == x {
					model = append(model[:i], model[i+1:]...)
					return
				}
			}
		}
		for step := 0; step < 1500; step++ {
			switch op := r.IntN(10); {
			case op < 4:
				n++
				m := &mm{body: fmt.Sprint("m", n), group: fmt.Sprint("g", r.IntN(7))}
				if _, err := e.SendMessage(ctx, "model.fifo", cloudsqs.SendInput{Body: m.body, MessageGroupID: m.group, MessageDeduplicationID: m.body}); err != nil {
					t.Fatal(err)
				}
				model = append(model, m)
			case op < 7:
				max, vis := 1+r.IntN(10), r.IntN(40)
				want := expect(max)
				got, err := e.ReceiveMessage(ctx, "model.fifo", cloudsqs.ReceiveInput{MaxNumberOfMessages: max, VisibilityTimeout: &vis})
				if err != nil {
					t.Fatal(err)
				}
				var gb, wb []string
				for _, m := range got {
					gb = append(gb, m.Body)
				}
				for _, m := range want {
					wb = append(wb, m.body)
				}
				if strings.Join(gb, ",") != strings.Join(wb, ",") {
					t.Fatalf("step %d: receive of %d got %v, want %v", step, max, gb, wb)
				}
				for i, m := range want {
					m.received, m.handle, m.visibleAt = true, got[i].ReceiptHandle, clk.Now().Add(time.Duration(vis)*time.Second)
				}
			case op < 8:
				var cands []*mm
				for _, m := range model {
					if inflight(m) {
						cands = append(cands, m)
					}
				}
				if len(cands) == 0 {
					continue
				}
				m := cands[r.IntN(len(cands))]
				if err := e.DeleteMessage("model.fifo", m.handle); err != nil {
					t.Fatalf("step %d: delete %s: %v", step, m.body, err)
				}
				remove(m)
			case op < 9:
				var cands []*mm
				for _, m := range model {
					if inflight(m) {
						cands = append(cands, m)
					}
				}
				if len(cands) == 0 {
					continue
				}
				m := cands[r.IntN(len(cands))]
				vis := r.IntN(3) * 10
				if err := e.ChangeMessageVisibility("model.fifo", m.handle, vis); err != nil {
					t.Fatalf("step %d: change visibility of %s: %v", step, m.body, err)
				}
				m.visibleAt = clk.Now().Add(time.Duration(vis) * time.Second)
			default:
				clk.Advance(time.Duration(r.IntN(15)) * time.Second)
			}
		}
		if len(model) == 0 {
			t.Fatal("the run ended with an empty queue: too short to test much")
		}
	})
}

// TestFIFODeduplicationIdsCountTowardsTheCeiling: a client that sends and
// deletes fast keeps five minutes of deduplication ids in memory, so they
// count towards the queues' ceiling until they expire.
func TestFIFODeduplicationIdsCountTowardsTheCeiling(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		clk := clock.NewFake(t0)
		e := b.newEngine(t, cloudsqs.Options{Clock: clk})
		ctx := context.Background()
		if _, err := e.CreateQueue("ceiling.fifo", map[string]string{"FifoQueue": "true"}, nil); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if _, err := e.SendMessage(ctx, "ceiling.fifo", cloudsqs.SendInput{Body: "m", MessageGroupID: "g", MessageDeduplicationID: fmt.Sprint("id-", i)}); err != nil {
				t.Fatal(err)
			}
			msgs, err := e.ReceiveMessage(ctx, "ceiling.fifo", cloudsqs.ReceiveInput{})
			if err != nil || len(msgs) != 1 {
				t.Fatalf("receive: %v, %v", msgs, err)
			}
			if err := e.DeleteMessage("ceiling.fifo", msgs[0].ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
		// 10 ids of 4 characters with 36-character message ids, 192 bytes
		// of overhead each.
		if got, want := e.QueuedBytes(), int64(10*(4+36+192)); got != want {
			t.Errorf("QueuedBytes with the queue empty = %d, want %d for its deduplication ids", got, want)
		}
		clk.Advance(5 * time.Minute)
		if _, err := e.GetQueueAttributes("ceiling.fifo", []string{"All"}); err != nil {
			t.Fatal(err)
		}
		if got := e.QueuedBytes(); got != 0 {
			t.Errorf("QueuedBytes once the ids expired = %d, want 0", got)
		}
	})
}

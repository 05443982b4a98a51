package sqs_test

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/internal/poll"
)

func TestQueues(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		t.Run("a created queue is found by name, listed, and has AWS's default attributes", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "orders", nil)
			if want := f.url + "/000000000000/orders"; u != want {
				t.Errorf("queue url = %s, want %s", u, want)
			}
			got, err := f.client.GetQueueUrl(ctxFor(t), &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
			if err != nil || *got.QueueUrl != u {
				t.Fatalf("GetQueueUrl = %v, %v", got, err)
			}
			attrs, err := f.client.GetQueueAttributes(ctxFor(t), &sqs.GetQueueAttributesInput{
				QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"QueueArn": "arn:aws:sqs:us-east-1:000000000000:orders", "VisibilityTimeout": "30",
				"MaximumMessageSize": "1048576", "MessageRetentionPeriod": "345600", "DelaySeconds": "0",
				"ReceiveMessageWaitTimeSeconds": "0", "ApproximateNumberOfMessages": "0",
				"ApproximateNumberOfMessagesNotVisible": "0", "ApproximateNumberOfMessagesDelayed": "0",
				"SqsManagedSseEnabled": "true", "CreatedTimestamp": fmt.Sprint(t0.Unix()), "LastModifiedTimestamp": fmt.Sprint(t0.Unix()),
			}
			for k, v := range want {
				if attrs.Attributes[k] != v {
					t.Errorf("attribute %s = %q, want %q", k, attrs.Attributes[k], v)
				}
			}
		})

		t.Run("creating a queue again with the same attributes returns it, with different ones fails", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", map[string]string{"VisibilityTimeout": "40"})
			if again := f.createQueue(t, "q", map[string]string{"VisibilityTimeout": "40"}); again != u {
				t.Errorf("second create = %s, want %s", again, u)
			}
			_, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "41"}})
			var exists *types.QueueNameExists
			if !errors.As(err, &exists) || apiCode(t, err) != "QueueAlreadyExists" {
				t.Errorf("got %v, want QueueNameExists with code QueueAlreadyExists", err)
			}
		})

		t.Run("a missing queue is QueueDoesNotExist with AWS's legacy code", func(t *testing.T) {
			f := b.newFixture(t, true)
			_, err := f.client.GetQueueUrl(ctxFor(t), &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
			var dne *types.QueueDoesNotExist
			if !errors.As(err, &dne) {
				t.Fatalf("got %v, want QueueDoesNotExist", err)
			}
			if got, want := apiCode(t, err), "AWS.SimpleQueueService.NonExistentQueue"; got != want {
				t.Errorf("code = %s, want %s", got, want)
			}
		})

		t.Run("FIFO names and FifoQueue must go together", func(t *testing.T) {
			f := b.newFixture(t, true)
			_, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("q.fifo")})
			if got := apiCode(t, err); got != "InvalidParameterValue" {
				t.Errorf(".fifo name: code %s, want InvalidParameterValue", got)
			}
			_, err = f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"FifoQueue": "true"}})
			if got := apiCode(t, err); got != "InvalidParameterValue" {
				t.Errorf("FifoQueue without .fifo: code %s, want InvalidParameterValue", got)
			}
			if _, err = f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("q.fifo"), Attributes: map[string]string{"FifoQueue": "true"}}); err != nil {
				t.Errorf("FIFO queue: %v", err)
			}
		})

		t.Run("bad queue names and attribute values are refused", func(t *testing.T) {
			f := b.newFixture(t, true)
			for _, name := range []string{"", "has space", strings.Repeat("a", 81)} {
				_, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String(name)})
				if err == nil {
					t.Errorf("CreateQueue(%q) succeeded", name)
				}
			}
			for attr, v := range map[string]string{"VisibilityTimeout": "43201", "MessageRetentionPeriod": "59", "DelaySeconds": "901", "ReceiveMessageWaitTimeSeconds": "21", "MaximumMessageSize": "1048577"} {
				_, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{attr: v}})
				if err == nil || apiCode(t, err) != "InvalidAttributeValue" {
					t.Errorf("%s=%s: got %v, want InvalidAttributeValue", attr, v, err)
				}
			}
			u := f.createQueue(t, "q", nil)
			_, err := f.client.GetQueueAttributes(ctxFor(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{"Bogus"}})
			if err == nil || apiCode(t, err) != "InvalidAttributeName" {
				t.Errorf("unknown attribute: got %v, want InvalidAttributeName", err)
			}
		})

		t.Run("ListQueues filters by prefix and pages with MaxResults and NextToken", func(t *testing.T) {
			f := b.newFixture(t, true)
			for _, n := range []string{"a1", "a2", "a3", "b1"} {
				f.createQueue(t, n, nil)
			}
			var got []string
			var token *string
			for pages := 0; pages < 5; pages++ {
				out, err := f.client.ListQueues(ctxFor(t), &sqs.ListQueuesInput{QueueNamePrefix: aws.String("a"), MaxResults: aws.Int32(2), NextToken: token})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, out.QueueUrls...)
				if token = out.NextToken; token == nil {
					break
				}
			}
			want := []string{f.url + "/000000000000/a1", f.url + "/000000000000/a2", f.url + "/000000000000/a3"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("listed %v, want %v", got, want)
			}
		})

		t.Run("SetQueueAttributes changes attributes and LastModifiedTimestamp", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			f.advance(10 * time.Second)
			_, err := f.client.SetQueueAttributes(ctxFor(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(u), Attributes: map[string]string{"VisibilityTimeout": "90", "DelaySeconds": "5"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.attr(t, u, "VisibilityTimeout"); got != "90" {
				t.Errorf("VisibilityTimeout = %s, want 90", got)
			}
			if got, want := f.attr(t, u, "LastModifiedTimestamp"), fmt.Sprint(t0.Unix()+10); got != want {
				t.Errorf("LastModifiedTimestamp = %s, want %s", got, want)
			}
		})

		t.Run("a deleted queue is gone", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			if _, err := f.client.DeleteQueue(ctxFor(t), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)}); err != nil {
				t.Fatal(err)
			}
			_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("x")})
			var dne *types.QueueDoesNotExist
			if !errors.As(err, &dne) {
				t.Errorf("send to deleted queue: %v", err)
			}
		})

		t.Run("tags are added, listed and removed", func(t *testing.T) {
			f := b.newFixture(t, true)
			out, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("q"), Tags: map[string]string{"team": "orders"}})
			if err != nil {
				t.Fatal(err)
			}
			u := out.QueueUrl
			if _, err := f.client.TagQueue(ctxFor(t), &sqs.TagQueueInput{QueueUrl: u, Tags: map[string]string{"env": "dev"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.client.UntagQueue(ctxFor(t), &sqs.UntagQueueInput{QueueUrl: u, TagKeys: []string{"team"}}); err != nil {
				t.Fatal(err)
			}
			tags, err := f.client.ListQueueTags(ctxFor(t), &sqs.ListQueueTagsInput{QueueUrl: u})
			if err != nil || fmt.Sprint(tags.Tags) != "map[env:dev]" {
				t.Errorf("tags = %v, %v; want map[env:dev]", tags.Tags, err)
			}
		})
	})
}

func TestMessages(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		t.Run("a message received with a short visibility timeout comes back with its receive count increased", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			id := f.send(t, u, "hello")
			first := f.receive(t, u, 1, i32(5))
			if len(first) != 1 || *first[0].MessageId != id || first[0].Attributes["ApproximateReceiveCount"] != "1" {
				t.Fatalf("first receive = %+v", first)
			}
			if got := f.count(t, u, "ApproximateNumberOfMessagesNotVisible"); got != 1 {
				t.Errorf("not visible = %d, want 1", got)
			}
			f.advance(4 * time.Second)
			if again := f.receive(t, u, 1, nil); len(again) != 0 {
				t.Fatalf("received %d messages while the first was invisible", len(again))
			}
			f.advance(time.Second)
			second := f.receive(t, u, 1, nil)
			if len(second) != 1 || *second[0].MessageId != id {
				t.Fatalf("second receive = %+v", second)
			}
			a := second[0].Attributes
			if a["ApproximateReceiveCount"] != "2" {
				t.Errorf("ApproximateReceiveCount = %s, want 2", a["ApproximateReceiveCount"])
			}
			if got, want := a["ApproximateFirstReceiveTimestamp"], fmt.Sprint(t0.UnixMilli()); got != want {
				t.Errorf("ApproximateFirstReceiveTimestamp = %s, want %s", got, want)
			}
			if got, want := a["SentTimestamp"], fmt.Sprint(t0.UnixMilli()); got != want {
				t.Errorf("SentTimestamp = %s, want %s", got, want)
			}
			if a["SenderId"] == "" {
				t.Errorf("no SenderId")
			}
			if *second[0].ReceiptHandle == *first[0].ReceiptHandle {
				t.Errorf("the second receive reused the first receipt handle")
			}
		})

		t.Run("ChangeMessageVisibility to 0 makes a message visible at once", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			f.send(t, u, "x")
			m := f.receive(t, u, 1, nil)[0]
			if _, err := f.client.ChangeMessageVisibility(ctxFor(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(u), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				t.Fatal(err)
			}
			if got := f.receive(t, u, 1, nil); len(got) != 1 {
				t.Errorf("received %d messages, want 1", len(got))
			}
		})

		t.Run("ChangeMessageVisibility extends visibility from now, up to 12 hours after the receive", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			f.send(t, u, "x")
			m := f.receive(t, u, 1, nil)[0]
			f.advance(20 * time.Second)
			if _, err := f.client.ChangeMessageVisibility(ctxFor(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(u), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 60}); err != nil {
				t.Fatal(err)
			}
			f.advance(59 * time.Second)
			if got := f.receive(t, u, 1, nil); len(got) != 0 {
				t.Errorf("visible before the extended timeout")
			}
			_, err := f.client.ChangeMessageVisibility(ctxFor(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(u), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 43200})
			if err == nil || apiCode(t, err) != "InvalidParameterValue" {
				t.Errorf("beyond 12 hours: got %v, want InvalidParameterValue", err)
			}
			f.advance(time.Second)
			if got := f.receive(t, u, 1, nil); len(got) != 1 {
				t.Errorf("not visible after the extended timeout")
			}
		})

		t.Run("a stale receipt handle deletes nothing, and an invalid one is ReceiptHandleIsInvalid", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			f.send(t, u, "x")
			old := f.receive(t, u, 1, i32(1))[0]
			f.advance(time.Second)
			current := f.receive(t, u, 1, nil)[0]
			if _, err := f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: old.ReceiptHandle}); err != nil {
				t.Fatalf("delete with a stale handle: %v (AWS: the request succeeds)", err)
			}
			if got := f.count(t, u, "ApproximateNumberOfMessagesNotVisible"); got != 1 {
				t.Errorf("after a stale delete, not visible = %d, want 1", got)
			}
			_, err := f.client.ChangeMessageVisibility(ctxFor(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(u), ReceiptHandle: old.ReceiptHandle, VisibilityTimeout: 10})
			if err == nil || apiCode(t, err) != "InvalidParameterValue" {
				t.Errorf("change visibility with a stale handle: got %v, want InvalidParameterValue", err)
			}
			if _, err := f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: current.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: current.ReceiptHandle}); err != nil {
				t.Errorf("deleting an already deleted message: %v (AWS: succeeds)", err)
			}
			if got := f.count(t, u, "ApproximateNumberOfMessagesNotVisible") + f.count(t, u, "ApproximateNumberOfMessages"); got != 0 {
				t.Errorf("messages left = %d, want 0", got)
			}
			_, err = f.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: aws.String("not-a-handle")})
			var invalid *types.ReceiptHandleIsInvalid
			if !errors.As(err, &invalid) || apiCode(t, err) != "ReceiptHandleIsInvalid" {
				t.Errorf("invalid handle: got %v, want ReceiptHandleIsInvalid", err)
			}
		})

		t.Run("delay seconds hold a message back, per queue and per message", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", map[string]string{"DelaySeconds": "10"})
			f.send(t, u, "queue delay")
			if _, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("no delay"), DelaySeconds: 0}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("long delay"), DelaySeconds: 30}); err != nil {
				t.Fatal(err)
			}
			// The SDK leaves out a DelaySeconds of 0, so "no delay" took the
			// queue's 10 seconds too.
			if got := f.count(t, u, "ApproximateNumberOfMessagesDelayed"); got != 3 {
				t.Errorf("delayed = %d, want 3", got)
			}
			if got := f.receive(t, u, 10, nil); len(got) != 0 {
				t.Errorf("received %d delayed messages", len(got))
			}
			f.advance(10 * time.Second)
			if got := f.receive(t, u, 10, nil); len(got) != 2 {
				t.Errorf("after 10 s received %d, want 2", len(got))
			}
			f.advance(20 * time.Second)
			if got := f.receive(t, u, 10, nil); len(got) != 1 || *got[0].Body != "long delay" {
				t.Errorf("after 30 s received %v, want the long delay", got)
			}
			_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("x"), DelaySeconds: 901})
			if err == nil || apiCode(t, err) != "InvalidParameterValue" {
				t.Errorf("delay 901: got %v, want InvalidParameterValue", err)
			}
		})

		t.Run("messages older than the retention period disappear, in flight or not", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", map[string]string{"MessageRetentionPeriod": "60"})
			f.send(t, u, "old")
			f.send(t, u, "in flight")
			f.receive(t, u, 1, i32(600))
			f.advance(30 * time.Second)
			f.send(t, u, "young")
			f.advance(30 * time.Second)
			if got := f.count(t, u, "ApproximateNumberOfMessages") + f.count(t, u, "ApproximateNumberOfMessagesNotVisible"); got != 1 {
				t.Errorf("messages after 60 s = %d, want 1", got)
			}
			got := f.receive(t, u, 10, nil)
			if len(got) != 1 || *got[0].Body != "young" {
				t.Errorf("received %v, want only the young message", got)
			}
		})

		t.Run("a purged queue is empty and a second purge within 60 seconds is refused", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			for i := 0; i < 3; i++ {
				f.send(t, u, "x")
			}
			f.receive(t, u, 1, nil)
			if _, err := f.client.PurgeQueue(ctxFor(t), &sqs.PurgeQueueInput{QueueUrl: aws.String(u)}); err != nil {
				t.Fatal(err)
			}
			if got := f.count(t, u, "ApproximateNumberOfMessages") + f.count(t, u, "ApproximateNumberOfMessagesNotVisible"); got != 0 {
				t.Errorf("messages after purge = %d", got)
			}
			_, err := f.client.PurgeQueue(ctxFor(t), &sqs.PurgeQueueInput{QueueUrl: aws.String(u)})
			var inProgress *types.PurgeQueueInProgress
			if !errors.As(err, &inProgress) || apiCode(t, err) != "AWS.SimpleQueueService.PurgeQueueInProgress" {
				t.Errorf("second purge: got %v, want PurgeQueueInProgress", err)
			}
			f.advance(60 * time.Second)
			if _, err := f.client.PurgeQueue(ctxFor(t), &sqs.PurgeQueueInput{QueueUrl: aws.String(u)}); err != nil {
				t.Errorf("purge after 60 s: %v", err)
			}
		})

		t.Run("receive parameters out of range are InvalidParameterValue", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			for name, in := range map[string]*sqs.ReceiveMessageInput{
				"MaxNumberOfMessages 11": {QueueUrl: aws.String(u), MaxNumberOfMessages: 11},
				"WaitTimeSeconds 21":     {QueueUrl: aws.String(u), WaitTimeSeconds: 21},
				"VisibilityTimeout -1":   {QueueUrl: aws.String(u), VisibilityTimeout: -1},
			} {
				_, err := f.client.ReceiveMessage(ctxFor(t), in)
				if err == nil || apiCode(t, err) != "InvalidParameterValue" {
					t.Errorf("%s: got %v, want InvalidParameterValue", name, err)
				}
			}
		})
	})
}

func TestLongPolling(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		t.Run("a long poll returns within milliseconds of a send", func(t *testing.T) {
			f := b.newFixture(t, false)
			u := f.createQueue(t, "q", nil)
			type result struct {
				msgs []types.Message
				err  error
				at   time.Time
			}
			done := make(chan result, 1)
			go func() {
				out, err := f.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), WaitTimeSeconds: 20})
				r := result{err: err, at: time.Now()}
				if out != nil {
					r.msgs = out.Messages
				}
				done <- r
			}()
			// Let the poll reach the server: it shows as a waiter whose empty
			// receive has already happened.
			poll.Until(t, 5*time.Second, "the long poll to start waiting", func() bool { return f.svc.Engine().Waiters("q") == 1 })
			sent := time.Now()
			f.send(t, u, "wake up")
			r := <-done
			if r.err != nil || len(r.msgs) != 1 {
				t.Fatalf("long poll = %v, %v", r.msgs, r.err)
			}
			latency := r.at.Sub(sent)
			t.Logf("long poll returned %v after the send", latency)
			if latency > 500*time.Millisecond {
				t.Errorf("long poll returned %v after the send, want < 500ms", latency)
			}
		})

		t.Run("a long poll wakes when an in-flight message's visibility runs out", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			f.send(t, u, "x")
			f.receive(t, u, 1, i32(3))
			done := make(chan []types.Message, 1)
			go func() {
				out, err := f.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), WaitTimeSeconds: 20})
				if err != nil {
					t.Error(err)
				}
				done <- out.Messages
			}()
			poll.Until(t, 5*time.Second, "the long poll to start waiting", func() bool { return f.svc.Engine().Waiters("q") == 1 })
			f.advance(3 * time.Second)
			if got := <-done; len(got) != 1 || got[0].Attributes != nil && got[0].Attributes["ApproximateReceiveCount"] != "" {
				t.Fatalf("long poll = %v, want the message back", got)
			}
		})

		t.Run("a long poll with nothing to receive returns empty when its wait ends", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", map[string]string{"ReceiveMessageWaitTimeSeconds": "20"})
			done := make(chan []types.Message, 1)
			go func() {
				out, err := f.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(u)})
				if err != nil {
					t.Error(err)
				}
				done <- out.Messages
			}()
			poll.Until(t, 5*time.Second, "the long poll to start waiting", func() bool { return f.svc.Engine().Waiters("q") == 1 })
			f.advance(19 * time.Second)
			select {
			case <-done:
				t.Fatal("the long poll returned before its wait ended")
			default:
			}
			f.advance(time.Second)
			if got := <-done; len(got) != 0 {
				t.Errorf("received %v", got)
			}
		})
	})
}

func TestBatches(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		entries := func(n int) []types.SendMessageBatchRequestEntry {
			var out []types.SendMessageBatchRequestEntry
			for i := 0; i < n; i++ {
				out = append(out, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("m", i)), MessageBody: aws.String(fmt.Sprint("body ", i))})
			}
			return out
		}

		t.Run("a batch of ten is sent, received and deleted", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			out, err := f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: entries(10)})
			if err != nil || len(out.Successful) != 10 || len(out.Failed) != 0 {
				t.Fatalf("SendMessageBatch = %+v, %v", out, err)
			}
			msgs := f.receive(t, u, 10, nil)
			if len(msgs) != 10 {
				t.Fatalf("received %d, want 10", len(msgs))
			}
			var del []types.DeleteMessageBatchRequestEntry
			var vis []types.ChangeMessageVisibilityBatchRequestEntry
			for i, m := range msgs {
				del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
				vis = append(vis, types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 100})
			}
			cv, err := f.client.ChangeMessageVisibilityBatch(ctxFor(t), &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(u), Entries: vis})
			if err != nil || len(cv.Successful) != 10 {
				t.Fatalf("ChangeMessageVisibilityBatch = %+v, %v", cv, err)
			}
			del[9].ReceiptHandle = aws.String("garbage")
			d, err := f.client.DeleteMessageBatch(ctxFor(t), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(u), Entries: del})
			if err != nil || len(d.Successful) != 9 || len(d.Failed) != 1 || *d.Failed[0].Code != "ReceiptHandleIsInvalid" || !d.Failed[0].SenderFault {
				t.Fatalf("DeleteMessageBatch = %+v, %v", d, err)
			}
		})

		t.Run("an 11-entry batch is TooManyEntriesInBatchRequest", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			_, err := f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: entries(11)})
			var tooMany *types.TooManyEntriesInBatchRequest
			if !errors.As(err, &tooMany) || apiCode(t, err) != "AWS.SimpleQueueService.TooManyEntriesInBatchRequest" {
				t.Errorf("got %v, want TooManyEntriesInBatchRequest", err)
			}
		})

		t.Run("batch ids must be distinct and well formed", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			dup := entries(2)
			dup[1].Id = dup[0].Id
			_, err := f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: dup})
			if got := apiCode(t, err); got != "AWS.SimpleQueueService.BatchEntryIdsNotDistinct" {
				t.Errorf("duplicate ids: code %s", got)
			}
			bad := entries(1)
			bad[0].Id = aws.String("no spaces allowed")
			_, err = f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: bad})
			if got := apiCode(t, err); got != "AWS.SimpleQueueService.InvalidBatchEntryId" {
				t.Errorf("bad id: code %s", got)
			}
			long := entries(1)
			long[0].Id = aws.String(strings.Repeat("a", 81))
			_, err = f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: long})
			if got := apiCode(t, err); got != "AWS.SimpleQueueService.InvalidBatchEntryId" {
				t.Errorf("81-character id: code %s", got)
			}
			_, err = f.client.DeleteMessageBatch(ctxFor(t), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(u), Entries: []types.DeleteMessageBatchRequestEntry{}})
			if got := apiCode(t, err); got != "AWS.SimpleQueueService.EmptyBatchRequest" {
				t.Errorf("empty batch: code %s", got)
			}
		})

		t.Run("a message of 1 MiB is sent and one of 1 MiB + 1 byte is refused", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			body := strings.Repeat("x", 1<<20)
			if _, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(body)}); err != nil {
				t.Fatalf("1 MiB: %v", err)
			}
			_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(body + "y")})
			if err == nil || apiCode(t, err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "Message must be shorter than 1048576 bytes") {
				t.Errorf("1 MiB + 1: got %v, want InvalidParameterValue", err)
			}
			// Attributes count too.
			_, err = f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(body[:1<<20-10]),
				MessageAttributes: map[string]types.MessageAttributeValue{"abcdef": {DataType: aws.String("String"), StringValue: aws.String("v")}}})
			if err == nil || apiCode(t, err) != "InvalidParameterValue" {
				t.Errorf("body + attributes over 1 MiB: got %v, want InvalidParameterValue", err)
			}
		})

		t.Run("a batch whose payload passes 1 MiB is BatchRequestTooLong", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			es := entries(2)
			es[0].MessageBody = aws.String(strings.Repeat("a", 1<<19))
			es[1].MessageBody = aws.String(strings.Repeat("b", 1<<19+1))
			_, err := f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: es})
			var tooLong *types.BatchRequestTooLong
			if !errors.As(err, &tooLong) || apiCode(t, err) != "AWS.SimpleQueueService.BatchRequestTooLong" {
				t.Errorf("got %v, want BatchRequestTooLong", err)
			}
		})

		t.Run("an invalid entry fails alone", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			es := entries(3)
			es[1].DelaySeconds = 1000
			out, err := f.client.SendMessageBatch(ctxFor(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: es})
			if err != nil || len(out.Successful) != 2 || len(out.Failed) != 1 || *out.Failed[0].Id != "m1" || *out.Failed[0].Code != "InvalidParameterValue" {
				t.Fatalf("got %+v, %v", out, err)
			}
		})
	})
}

// md5OfAttributes is an independent implementation of AWS's documented
// MD5OfMessageAttributes encoding, for checking the service's.
func md5OfAttributes(attrs map[string]types.MessageAttributeValue) string {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf []byte
	lenPrefixed := func(b []byte) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
		buf = append(buf, b...)
	}
	for _, n := range names {
		v := attrs[n]
		lenPrefixed([]byte(n))
		lenPrefixed([]byte(*v.DataType))
		if v.StringValue != nil {
			buf = append(buf, 1)
			lenPrefixed([]byte(*v.StringValue))
		} else {
			buf = append(buf, 2)
			lenPrefixed(v.BinaryValue)
		}
	}
	sum := md5.Sum(buf)
	return hex.EncodeToString(sum[:])
}

func TestMessageAttributes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		attrs := map[string]types.MessageAttributeValue{
			"attribName1":            {DataType: aws.String("String"), StringValue: aws.String("attribValue 1")},
			"customNumberTypeAttrib": {DataType: aws.String("Number.float"), StringValue: aws.String("4563442423554324324264524243.32543234")},
			"binaryAttribute":        {DataType: aws.String("Binary"), BinaryValue: []byte("Hello binary world!")},
		}

		t.Run("MD5OfMessageAttributes matches published values for AWS's algorithm", func(t *testing.T) {
			// Digests published with the aws-md5-of-message-attributes npm
			// package for these attributes, one at a time and together.
			known := map[string]string{
				"attribName1":            "19e27d4e946b072f3f58da80d94fd778",
				"customNumberTypeAttrib": "9fe1b90bbd9965bdf77bac517c7d2495",
				"binaryAttribute":        "31a92b15d92f8db860eda32aceb656c3",
				"":                       "c932db14a896c663f83c260297d594ff",
			}
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			for only, want := range known {
				send := attrs
				if only != "" {
					send = map[string]types.MessageAttributeValue{only: attrs[only]}
				}
				if got := md5OfAttributes(send); got != want {
					t.Fatalf("the test's own digest of %q = %s, want %s", only, got, want)
				}
				out, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("b"), MessageAttributes: send})
				if err != nil {
					t.Fatal(err)
				}
				if *out.MD5OfMessageAttributes != want {
					t.Errorf("MD5OfMessageAttributes of %q = %s, want %s", only, *out.MD5OfMessageAttributes, want)
				}
			}
		})

		t.Run("received attributes are selected by name, prefix and All, with a digest of those returned", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", map[string]string{"VisibilityTimeout": "0"})
			withDots := map[string]types.MessageAttributeValue{"order.id": {DataType: aws.String("String"), StringValue: aws.String("7")}}
			for k, v := range attrs {
				withDots[k] = v
			}
			if _, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("b"), MessageAttributes: withDots}); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				names []string
				want  []string
			}{
				{[]string{"All"}, []string{"attribName1", "binaryAttribute", "customNumberTypeAttrib", "order.id"}},
				{[]string{".*"}, []string{"attribName1", "binaryAttribute", "customNumberTypeAttrib", "order.id"}},
				{[]string{"order.*"}, []string{"order.id"}},
				{[]string{"attrib.*"}, nil}, // the prefix ends at the period: attribName1 is not under attrib.
				{[]string{"binaryAttribute", "nothing"}, []string{"binaryAttribute"}},
				{nil, nil},
			} {
				out, err := f.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), MessageAttributeNames: tc.names})
				if err != nil || len(out.Messages) != 1 {
					t.Fatalf("receive %v: %v, %v", tc.names, out, err)
				}
				m := out.Messages[0]
				var got []string
				for k := range m.MessageAttributes {
					got = append(got, k)
				}
				sort.Strings(got)
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("names %v: got attributes %v, want %v", tc.names, got, tc.want)
				}
				if len(got) > 0 {
					if want := md5OfAttributes(m.MessageAttributes); m.MD5OfMessageAttributes == nil || *m.MD5OfMessageAttributes != want {
						t.Errorf("names %v: digest %v, want %s", tc.names, m.MD5OfMessageAttributes, want)
					}
				}
				if b := m.MessageAttributes["binaryAttribute"].BinaryValue; len(got) == 4 && string(b) != "Hello binary world!" {
					t.Errorf("binary attribute came back as %q", b)
				}
			}
		})

		t.Run("invalid attributes are InvalidParameterValue", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			eleven := map[string]types.MessageAttributeValue{}
			for i := 0; i < 11; i++ {
				eleven[fmt.Sprint("a", i)] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("v")}
			}
			for name, a := range map[string]map[string]types.MessageAttributeValue{
				"eleven attributes":   eleven,
				"a reserved prefix":   {"AWS.x": {DataType: aws.String("String"), StringValue: aws.String("v")}},
				"an unknown type":     {"a": {DataType: aws.String("Blob"), StringValue: aws.String("v")}},
				"an empty value":      {"a": {DataType: aws.String("String"), StringValue: aws.String("")}},
				"a non-number Number": {"a": {DataType: aws.String("Number"), StringValue: aws.String("twelve")}},
				"consecutive periods": {"a..b": {DataType: aws.String("String"), StringValue: aws.String("v")}},
			} {
				_, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("b"), MessageAttributes: a})
				if err == nil || apiCode(t, err) != "InvalidParameterValue" {
					t.Errorf("%s: got %v, want InvalidParameterValue", name, err)
				}
			}
		})
	})
}

func TestDeadLetterQueues(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		setup := func(t *testing.T, maxReceives int) (f *fixture, src, dlq string) {
			t.Helper()
			f = b.newFixture(t, true)
			dlq = f.createQueue(t, "dlq", nil)
			src = f.createQueue(t, "src", map[string]string{
				"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"%s","maxReceiveCount":"%d"}`, f.arn(t, dlq), maxReceives),
			})
			return f, src, dlq
		}

		t.Run("after maxReceiveCount receives a message is in the DLQ, not in the source, with its original SentTimestamp", func(t *testing.T) {
			f, src, dlq := setup(t, 2)
			id := f.send(t, src, "poison")
			for i := 1; i <= 2; i++ {
				f.advance(time.Minute)
				got := f.receive(t, src, 1, i32(1))
				if len(got) != 1 || got[0].Attributes["ApproximateReceiveCount"] != fmt.Sprint(i) {
					t.Fatalf("receive %d = %v", i, got)
				}
			}
			f.advance(time.Minute)
			if got := f.receive(t, src, 1, nil); len(got) != 0 {
				t.Fatalf("the third receive got %v, want nothing", got)
			}
			if got := f.count(t, src, "ApproximateNumberOfMessages") + f.count(t, src, "ApproximateNumberOfMessagesNotVisible"); got != 0 {
				t.Errorf("source still holds %d messages", got)
			}
			got := f.receive(t, dlq, 1, nil)
			if len(got) != 1 || *got[0].MessageId != id || *got[0].Body != "poison" {
				t.Fatalf("DLQ receive = %v", got)
			}
			if sent, want := got[0].Attributes["SentTimestamp"], fmt.Sprint(t0.UnixMilli()); sent != want {
				t.Errorf("SentTimestamp in the DLQ = %s, want the original %s", sent, want)
			}
			if srcArn := got[0].Attributes["DeadLetterQueueSourceArn"]; srcArn != f.arn(t, src) {
				t.Errorf("DeadLetterQueueSourceArn = %s", srcArn)
			}
		})

		t.Run("the RedrivePolicy reads back as AWS writes it and ListDeadLetterSourceQueues finds the source", func(t *testing.T) {
			f, src, dlq := setup(t, 3)
			if got, want := f.attr(t, src, "RedrivePolicy"), fmt.Sprintf(`{"deadLetterTargetArn":"%s","maxReceiveCount":3}`, f.arn(t, dlq)); got != want {
				t.Errorf("RedrivePolicy = %s, want %s", got, want)
			}
			out, err := f.client.ListDeadLetterSourceQueues(ctxFor(t), &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(dlq)})
			if err != nil || len(out.QueueUrls) != 1 || out.QueueUrls[0] != src {
				t.Errorf("ListDeadLetterSourceQueues = %v, %v", out, err)
			}
		})

		t.Run("a RedrivePolicy naming a missing queue is refused", func(t *testing.T) {
			f := b.newFixture(t, true)
			_, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("src"), Attributes: map[string]string{
				"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:nope","maxReceiveCount":3}`}})
			if err == nil || apiCode(t, err) != "InvalidParameterValue" {
				t.Errorf("got %v, want InvalidParameterValue", err)
			}
		})

		t.Run("a RedriveAllowPolicy denies the queues it does not allow", func(t *testing.T) {
			f := b.newFixture(t, true)
			dlq := f.createQueue(t, "dlq", map[string]string{"RedriveAllowPolicy": `{"redrivePermission":"denyAll"}`})
			rp := map[string]string{"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"%s","maxReceiveCount":3}`, f.arn(t, dlq))}
			_, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String("src"), Attributes: rp})
			if err == nil || apiCode(t, err) != "InvalidParameterValue" {
				t.Fatalf("denyAll: got %v, want InvalidParameterValue", err)
			}
			allowed := f.createQueue(t, "allowed", nil)
			other := f.createQueue(t, "other", nil)
			if _, err := f.client.SetQueueAttributes(ctxFor(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(dlq), Attributes: map[string]string{
				"RedriveAllowPolicy": fmt.Sprintf(`{"redrivePermission":"byQueue","sourceQueueArns":["%s"]}`, f.arn(t, allowed))}}); err != nil {
				t.Fatal(err)
			}
			_, err = f.client.SetQueueAttributes(ctxFor(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(other), Attributes: rp})
			if err == nil || apiCode(t, err) != "InvalidParameterValue" {
				t.Errorf("byQueue, another queue: got %v, want InvalidParameterValue", err)
			}
			if _, err := f.client.SetQueueAttributes(ctxFor(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(allowed), Attributes: rp}); err != nil {
				t.Errorf("byQueue, the allowed queue: %v", err)
			}
		})

		t.Run("a message move task moves exactly the DLQ's messages back to their source", func(t *testing.T) {
			f, src, dlq := setup(t, 1)
			for i := 0; i < 3; i++ {
				f.send(t, src, fmt.Sprint("m", i))
			}
			f.receive(t, src, 10, i32(1))
			f.advance(time.Second)
			if got := f.receive(t, src, 10, nil); len(got) != 0 {
				t.Fatalf("received %d, want all three dead-lettered", len(got))
			}
			f.send(t, src, "stays")
			if got := f.count(t, dlq, "ApproximateNumberOfMessages"); got != 3 {
				t.Fatalf("DLQ holds %d, want 3", got)
			}
			start, err := f.client.StartMessageMoveTask(ctxFor(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(f.arn(t, dlq)), MaxNumberOfMessagesPerSecond: aws.Int32(2)})
			if err != nil {
				t.Fatal(err)
			}
			list := func() types.ListMessageMoveTasksResultEntry {
				t.Helper()
				out, err := f.client.ListMessageMoveTasks(ctxFor(t), &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(f.arn(t, dlq))})
				if err != nil || len(out.Results) != 1 {
					t.Fatalf("ListMessageMoveTasks = %v, %v", out, err)
				}
				return out.Results[0]
			}
			if r := list(); *r.Status != "RUNNING" || r.ApproximateNumberOfMessagesMoved != 0 || *r.ApproximateNumberOfMessagesToMove != 3 || *r.TaskHandle != *start.TaskHandle {
				t.Errorf("at start: %+v", r)
			}
			f.advance(time.Second)
			if r := list(); *r.Status != "RUNNING" || r.ApproximateNumberOfMessagesMoved != 2 {
				t.Errorf("after 1 s at 2 a second: status %s, moved %d", *r.Status, r.ApproximateNumberOfMessagesMoved)
			}
			f.advance(time.Second)
			if r := list(); *r.Status != "COMPLETED" || r.ApproximateNumberOfMessagesMoved != 3 {
				t.Errorf("after 2 s: status %s, moved %d", *r.Status, r.ApproximateNumberOfMessagesMoved)
			}
			if got := f.count(t, dlq, "ApproximateNumberOfMessages"); got != 0 {
				t.Errorf("DLQ still holds %d", got)
			}
			var bodies []string
			for _, m := range f.receive(t, src, 10, nil) {
				bodies = append(bodies, *m.Body)
			}
			sort.Strings(bodies)
			if fmt.Sprint(bodies) != "[m0 m1 m2 stays]" {
				t.Errorf("source holds %v, want [m0 m1 m2 stays]", bodies)
			}
		})

		t.Run("a move task can be cancelled, and only a DLQ can be a task's source", func(t *testing.T) {
			f, src, dlq := setup(t, 1)
			for i := 0; i < 3; i++ {
				f.send(t, src, "x")
			}
			f.receive(t, src, 10, i32(1))
			f.advance(time.Second)
			f.receive(t, src, 10, nil)
			start, err := f.client.StartMessageMoveTask(ctxFor(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(f.arn(t, dlq)), MaxNumberOfMessagesPerSecond: aws.Int32(1)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.client.StartMessageMoveTask(ctxFor(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(f.arn(t, dlq))})
			if err == nil {
				t.Errorf("a second active task was started")
			}
			f.advance(time.Second)
			c, err := f.client.CancelMessageMoveTask(ctxFor(t), &sqs.CancelMessageMoveTaskInput{TaskHandle: start.TaskHandle})
			if err != nil || c.ApproximateNumberOfMessagesMoved != 1 {
				t.Fatalf("cancel = %v, %v", c, err)
			}
			out, err := f.client.ListMessageMoveTasks(ctxFor(t), &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(f.arn(t, dlq))})
			if err != nil || *out.Results[0].Status != "CANCELLED" {
				t.Errorf("after cancel: %v, %v", out, err)
			}
			_, err = f.client.StartMessageMoveTask(ctxFor(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(f.arn(t, src))})
			if err == nil || apiCode(t, err) != "InvalidParameterValue" {
				t.Errorf("a non-DLQ source: got %v, want InvalidParameterValue", err)
			}
			_, err = f.client.StartMessageMoveTask(ctxFor(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:missing")})
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) {
				t.Errorf("a missing source: got %v, want ResourceNotFoundException", err)
			}
		})
	})
}

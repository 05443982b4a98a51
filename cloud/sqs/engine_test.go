package sqs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cloud/clock"
	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
	"github.com/orderflow/orderflow/internal/poll"
)

// The engine's Go API is what an in-process poller uses: these tests drive
// it without HTTP.
func TestEngine(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		newEngine := func(t *testing.T) (*cloudsqs.Engine, *clock.Fake) {
			t.Helper()
			clk := clock.NewFake(t0)
			e := b.newEngine(t, cloudsqs.Options{Clock: clk})
			if _, err := e.CreateQueue("q", nil, nil); err != nil {
				t.Fatal(err)
			}
			return e, clk
		}
		wait := func(n int) *int { return &n }

		t.Run("a long poll through the Go API wakes on a send", func(t *testing.T) {
			e, _ := newEngine(t)
			got := make(chan []cloudsqs.Message, 1)
			go func() {
				msgs, err := e.ReceiveMessage(context.Background(), "q", cloudsqs.ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: wait(20)})
				if err != nil {
					t.Error(err)
				}
				got <- msgs
			}()
			poll.Until(t, 5*time.Second, "the poll to wait", func() bool { return e.Waiters("q") == 1 })
			if _, err := e.SendMessage(context.Background(), "q", cloudsqs.SendInput{Body: "b"}); err != nil {
				t.Fatal(err)
			}
			if msgs := <-got; len(msgs) != 1 || msgs[0].Body != "b" {
				t.Errorf("got %+v", msgs)
			}
		})

		t.Run("a long poll ends when its context is cancelled or its queue is deleted", func(t *testing.T) {
			e, _ := newEngine(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 2)
			go func() {
				_, err := e.ReceiveMessage(ctx, "q", cloudsqs.ReceiveInput{WaitTimeSeconds: wait(20)})
				done <- err
			}()
			poll.Until(t, 5*time.Second, "the poll to wait", func() bool { return e.Waiters("q") == 1 })
			cancel()
			if err := <-done; err != nil {
				t.Errorf("cancelled poll: %v", err)
			}
			go func() {
				_, err := e.ReceiveMessage(context.Background(), "q", cloudsqs.ReceiveInput{WaitTimeSeconds: wait(20)})
				done <- err
			}()
			poll.Until(t, 5*time.Second, "the poll to wait", func() bool { return e.Waiters("q") == 1 })
			if err := e.DeleteQueue("q"); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Errorf("poll on a deleted queue: %v", err)
			}
		})

		t.Run("a delayed message wakes a long poll when its delay ends", func(t *testing.T) {
			e, clk := newEngine(t)
			if _, err := e.SendMessage(context.Background(), "q", cloudsqs.SendInput{Body: "later", DelaySeconds: wait(5)}); err != nil {
				t.Fatal(err)
			}
			got := make(chan []cloudsqs.Message, 1)
			go func() {
				msgs, _ := e.ReceiveMessage(context.Background(), "q", cloudsqs.ReceiveInput{WaitTimeSeconds: wait(20)})
				got <- msgs
			}()
			poll.Until(t, 5*time.Second, "the poll to wait", func() bool { return e.Waiters("q") == 1 })
			clk.Advance(5 * time.Second)
			if msgs := <-got; len(msgs) != 1 || msgs[0].Body != "later" {
				t.Errorf("got %+v", msgs)
			}
		})

		t.Run("engine errors wrap the AWS errors callers branch on", func(t *testing.T) {
			e, _ := newEngine(t)
			_, err := e.ReceiveMessage(context.Background(), "missing", cloudsqs.ReceiveInput{})
			if !errors.Is(err, cloudsqs.ErrQueueNotFound) {
				t.Errorf("got %v, want ErrQueueNotFound", err)
			}
			if err == nil || err.Error()[:len("sqs: receive from missing")] != "sqs: receive from missing" {
				t.Errorf("error %v lacks its context", err)
			}
		})

		t.Run("many messages in random states keep their counts straight", func(t *testing.T) {
			e, clk := newEngine(t)
			ctx := context.Background()
			var handles []string
			for i := 0; i < 2000; i++ {
				d := i % 3
				if _, err := e.SendMessage(ctx, "q", cloudsqs.SendInput{Body: "m", DelaySeconds: &d}); err != nil {
					t.Fatal(err)
				}
				if i%7 == 0 {
					clk.Advance(time.Second)
					vis := i % 5
					msgs, err := e.ReceiveMessage(ctx, "q", cloudsqs.ReceiveInput{MaxNumberOfMessages: 10, VisibilityTimeout: &vis})
					if err != nil {
						t.Fatal(err)
					}
					for _, m := range msgs {
						handles = append(handles, m.ReceiptHandle)
					}
				}
			}
			deleted := 0
			for i, h := range handles {
				if i%2 == 0 {
					if err := e.DeleteMessage("q", h); err != nil {
						t.Fatal(err)
					}
					deleted++
				}
			}
			clk.Advance(time.Hour)
			a, err := e.GetQueueAttributes("q", []string{"All"})
			if err != nil {
				t.Fatal(err)
			}
			// Stale handles delete nothing, so at most `deleted` went.
			if a["ApproximateNumberOfMessagesNotVisible"] != "0" || a["ApproximateNumberOfMessagesDelayed"] != "0" {
				t.Errorf("after an hour: %v", a)
			}
			n := 0
			for {
				msgs, err := e.ReceiveMessage(ctx, "q", cloudsqs.ReceiveInput{MaxNumberOfMessages: 10})
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) == 0 {
					break
				}
				n += len(msgs)
			}
			if n < 2000-deleted || n > 2000 {
				t.Errorf("received %d of 2000 after deleting %d", n, deleted)
			}
		})
	})
}

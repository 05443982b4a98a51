package sqs

import (
	"fmt"
	"time"
)

// OldestMessageAge is how long the queue's oldest message has been in it
// (since it was sent), zero when it is empty: what CloudWatch publishes as
// AWS/SQS ApproximateAgeOfOldestMessage.
func (e *Engine) OldestMessageAge(name string) (time.Duration, error) {
	var age time.Duration
	err := e.update(func() error {
		q, err := e.get(name)
		if err != nil {
			return err
		}
		if m := q.byAge.top(); m != nil {
			age = max(e.clk.Now().Sub(m.sentAt), 0)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqs: oldest message of %s: %w", name, err)
	}
	return age, nil
}

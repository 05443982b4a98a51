package sqs

import (
	"strings"
	"testing"
)

// A batch entry id keeps SQS's bound of 80 characters, checked apart from
// its character pattern since the pattern stopped counting.
func TestABatchEntryIDIsOneTo80Characters(t *testing.T) {
	for _, c := range []struct {
		id   string
		want bool
	}{
		{"", false}, {"a", true}, {"A-b_9", true}, {strings.Repeat("a", 80), true}, {strings.Repeat("a", 81), false}, {"has space", false}, {"é", false},
	} {
		err := checkBatch("SendMessageBatchRequestEntry", []string{c.id})
		if got := err == nil; got != c.want {
			t.Errorf("id of %d bytes %.12q: accepted = %v (%v), want %v", len(c.id), c.id, got, err, c.want)
		}
	}
}

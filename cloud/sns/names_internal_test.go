package sns

import (
	"context"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// The name rules keep AWS's length bounds, checked apart from the
// character patterns since the patterns stopped counting.
func TestNamesKeepTheirLengthBounds(t *testing.T) {
	svc, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	tests := []struct {
		name string
		ok   func(string) bool
		max  int
	}{
		{"a topic name", validTopicName, 256},
		{"a batch entry id", func(id string) bool {
			// To a topic that does not exist: an id that passes gets NotFound.
			_, err := svc.PublishBatch(context.Background(), "arn:aws:sns:us-east-1:000000000000:none", []BatchEntry{{ID: id, PublishInput: PublishInput{Message: "m"}}})
			e := awsproto.As(err)
			return e == nil || e.Code != "InvalidBatchEntryId"
		}, 80},
		{"a message attribute name", func(s string) bool {
			_, err := validateAttributes(map[string]MessageAttribute{s: {DataType: "String", StringValue: "v"}})
			return err == nil
		}, 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				s    string
				want bool
			}{
				{"", false}, {"a", true}, {strings.Repeat("a", tt.max), true}, {strings.Repeat("a", tt.max+1), false},
				{"has space", false}, {"é", false}, {"A-b_9", true},
			} {
				if got := tt.ok(c.s); got != c.want {
					t.Errorf("%d bytes %.12q: valid = %v, want %v", len(c.s), c.s, got, c.want)
				}
			}
		})
	}
}

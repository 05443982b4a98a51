package crossclient_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/cloudtest"
)

// TestTheAWSCLIDrivesAFIFOQueue: the AWS CLI v2 (Query protocol) and v1
// (JSON protocol) create a FIFO queue, send to two message groups with
// content-based deduplication (a duplicate answers with the original's
// message id and sequence number), receive one group's messages in order
// with their FIFO system attributes, and get AWS's error for a message
// without a group.
func TestTheAWSCLIDrivesAFIFOQueue(t *testing.T) {
	sn := regexp.MustCompile(`^[1-9][0-9]{19}$`)
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t)
			url := a.run(t, c, "sqs", "create-queue", "--queue-name", "orders.fifo",
				"--attributes", "FifoQueue=true,ContentBasedDeduplication=true")["QueueUrl"].(string)
			var first map[string]any
			for _, m := range [][2]string{{"o1-created", "order-1"}, {"o2-created", "order-2"}, {"o1-paid", "order-1"}} {
				out := a.run(t, c, "sqs", "send-message", "--queue-url", url, "--message-body", m[0], "--message-group-id", m[1])
				if s, _ := out["SequenceNumber"].(string); !sn.MatchString(s) {
					t.Errorf("send-message %s: SequenceNumber in %v", m[0], out)
				}
				if first == nil {
					first = out
				}
			}
			dup := a.run(t, c, "sqs", "send-message", "--queue-url", url, "--message-body", "o1-created", "--message-group-id", "order-1")
			if dup["MessageId"] != first["MessageId"] || dup["SequenceNumber"] != first["SequenceNumber"] {
				t.Errorf("a duplicate answered %v, want the original's %v", dup, first)
			}
			got := a.run(t, c, "sqs", "receive-message", "--queue-url", url, "--max-number-of-messages", "2",
				"--attribute-names", "All", "--receive-request-attempt-id", "attempt-1")
			msgs, _ := got["Messages"].([]any)
			if len(msgs) != 2 {
				t.Fatalf("receive-message = %v", got)
			}
			var bodies []string
			for _, m := range msgs {
				m := m.(map[string]any)
				bodies = append(bodies, m["Body"].(string))
				attrs := m["Attributes"].(map[string]any)
				if attrs["MessageGroupId"] != "order-1" || !sn.MatchString(attrs["SequenceNumber"].(string)) || len(attrs["MessageDeduplicationId"].(string)) != 64 {
					t.Errorf("system attributes %v", attrs)
				}
			}
			if strings.Join(bodies, ",") != "o1-created,o1-paid" {
				t.Errorf("received %v, want order-1's two messages in order", bodies)
			}
			if out := a.fail(t, c, "sqs", "send-message", "--queue-url", url, "--message-body", "x"); !strings.Contains(out, "MissingParameter") ||
				!strings.Contains(out, "The request must contain the parameter MessageGroupId.") {
				t.Errorf("send-message without a group printed %s", out)
			}
		})
	}
}

// TestTheJavaScriptSDKDrivesAFIFOQueue is the same through the AWS SDK for
// JavaScript v3 (JSON protocol; it checks the digests of what it sends).
func TestTheJavaScriptSDKDrivesAFIFOQueue(t *testing.T) {
	needJS(t)
	c, _ := cloudtest.Start(t)
	out := node(t, c, "sqs-fifo.mjs")
	sn := regexp.MustCompile(`^[1-9][0-9]{19}$`)
	sns, _ := out["sequenceNumbers"].([]any)
	if len(sns) != 3 {
		t.Fatalf("node sqs-fifo.mjs = %v", out)
	}
	for _, s := range sns {
		if s, _ := s.(string); !sn.MatchString(s) {
			t.Errorf("SequenceNumber %v", s)
		}
	}
	if out["duplicate"] != true || out["bodies"] != "o1-created,o1-paid" || out["groups"] != "order-1,order-1" ||
		out["missing"] != "MissingParameter: The request must contain the parameter MessageGroupId." {
		t.Errorf("node sqs-fifo.mjs = %v", out)
	}
}

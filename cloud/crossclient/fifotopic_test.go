package crossclient_test

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/cloudtest"
)

// fifoReport is what fifo.mjs prints, and what the CLI test gathers.
type fifoReport struct {
	Sent []struct {
		ID  string `json:"id"`
		Seq string `json:"seq"`
	} `json:"sent"`
	Refused  string `json:"refused"`
	Received []struct {
		Body, Group, Dedup, Seq string
	} `json:"received"`
	Locked    int `json:"locked"`
	Published []struct {
		ID  string `json:"id"`
		Seq string `json:"seq"`
	} `json:"published"`
	Delivered []struct {
		Body, Group string
	} `json:"delivered"`
}

// checkFIFO checks a run of the FIFO scenario: five sends (a1, b1, a2, a1
// again with a1's deduplication id, b2) to orders.fifo, one receive of 10,
// a second receive while every group is in flight, then an SNS FIFO topic
// with content-based deduplication publishing e1, e2, e1, e3 to group G
// into events.fifo (raw).
func checkFIFO(t *testing.T, r fifoReport) {
	t.Helper()
	if len(r.Sent) != 5 {
		t.Fatalf("sent = %+v, want 5 answers", r.Sent)
	}
	// Sequence numbers grow; the duplicate answers as its original.
	prev := new(big.Int)
	for i, s := range r.Sent {
		n, ok := new(big.Int).SetString(s.Seq, 10)
		if !ok || s.ID == "" {
			t.Errorf("send %d answered id %q, sequence number %q", i, s.ID, s.Seq)
			continue
		}
		if i == 3 {
			if s.ID != r.Sent[0].ID || s.Seq != r.Sent[0].Seq {
				t.Errorf("the duplicate send answered %+v, want the original's %+v", s, r.Sent[0])
			}
			continue
		}
		if n.Cmp(prev) <= 0 {
			t.Errorf("send %d has sequence number %s, not above %s", i, n, prev)
		}
		prev = n
	}
	if r.Refused != "MissingParameter" {
		t.Errorf("a send without MessageGroupId failed with %q, want MissingParameter", r.Refused)
	}
	var got []string
	for _, m := range r.Received {
		got = append(got, m.Group+":"+m.Body)
	}
	// AWS hands out as many messages of one group as it can, then the next.
	if s := strings.Join(got, " "); s != "A:a1 A:a2 B:b1 B:b2" && s != "B:b1 B:b2 A:a1 A:a2" {
		t.Errorf("received %s, want each group's messages in order, the duplicate dropped", s)
	}
	for _, m := range r.Received {
		if m.Dedup == "" || m.Seq == "" {
			t.Errorf("received %+v without its deduplication id or sequence number", m)
		}
	}
	if r.Locked != 0 {
		t.Errorf("a receive while every group is in flight got %d messages, want 0", r.Locked)
	}
	if len(r.Published) != 4 || r.Published[2].ID != r.Published[0].ID || r.Published[1].Seq == "" {
		t.Errorf("published = %+v, want the repeated e1 answered with the first e1's id", r.Published)
	}
	var delivered []string
	for _, m := range r.Delivered {
		delivered = append(delivered, m.Group+":"+m.Body)
	}
	if s := strings.Join(delivered, " "); s != "G:e1 G:e2 G:e3" {
		t.Errorf("the FIFO topic delivered %s, want G:e1 G:e2 G:e3", s)
	}
}

func TestTheJavaScriptSDKDrivesFIFOQueuesAndTopics(t *testing.T) {
	needJS(t)
	c, _ := cloudtest.Start(t)
	out := node(t, c, "fifo.mjs")
	b, _ := json.Marshal(out)
	var r fifoReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("node fifo.mjs printed %s: %v", b, err)
	}
	checkFIFO(t, r)
}

func TestTheAWSCLIDrivesFIFOQueuesAndTopics(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t)
			var r fifoReport
			url := a.run(t, c, "sqs", "create-queue", "--queue-name", "orders.fifo", "--attributes", "FifoQueue=true")["QueueUrl"].(string)
			for _, m := range [][3]string{{"A", "a1", "d1"}, {"B", "b1", "d2"}, {"A", "a2", "d3"}, {"A", "a1 again", "d1"}, {"B", "b2", "d4"}} {
				out := a.run(t, c, "sqs", "send-message", "--queue-url", url, "--message-body", m[1], "--message-group-id", m[0], "--message-deduplication-id", m[2])
				r.Sent = append(r.Sent, struct {
					ID  string `json:"id"`
					Seq string `json:"seq"`
				}{fmt.Sprint(out["MessageId"]), fmt.Sprint(out["SequenceNumber"])})
			}
			if out := a.fail(t, c, "sqs", "send-message", "--queue-url", url, "--message-body", "x", "--message-deduplication-id", "d9"); strings.Contains(out, "MissingParameter") {
				r.Refused = "MissingParameter"
			} else {
				r.Refused = out
			}
			first := a.run(t, c, "sqs", "receive-message", "--queue-url", url, "--max-number-of-messages", "10", "--wait-time-seconds", "1",
				"--attribute-names", "MessageGroupId", "MessageDeduplicationId", "SequenceNumber")
			msgs, _ := first["Messages"].([]any)
			for _, m := range msgs {
				m := m.(map[string]any)
				attrs := m["Attributes"].(map[string]any)
				r.Received = append(r.Received, struct{ Body, Group, Dedup, Seq string }{
					fmt.Sprint(m["Body"]), fmt.Sprint(attrs["MessageGroupId"]), fmt.Sprint(attrs["MessageDeduplicationId"]), fmt.Sprint(attrs["SequenceNumber"])})
			}
			locked := a.run(t, c, "sqs", "receive-message", "--queue-url", url, "--max-number-of-messages", "10")
			if l, _ := locked["Messages"].([]any); len(l) > 0 {
				r.Locked = len(l)
			}
			for _, m := range msgs {
				a.run(t, c, "sqs", "delete-message", "--queue-url", url, "--receipt-handle", m.(map[string]any)["ReceiptHandle"].(string))
			}

			topic := a.run(t, c, "sns", "create-topic", "--name", "events.fifo", "--attributes", "FifoTopic=true,ContentBasedDeduplication=true")["TopicArn"].(string)
			target := a.run(t, c, "sqs", "create-queue", "--queue-name", "events.fifo", "--attributes", "FifoQueue=true")["QueueUrl"].(string)
			queueARN := a.run(t, c, "sqs", "get-queue-attributes", "--queue-url", target, "--attribute-names", "QueueArn")["Attributes"].(map[string]any)["QueueArn"].(string)
			a.run(t, c, "sqs", "set-queue-attributes", "--queue-url", target, "--attributes", policyFor(queueARN, topic))
			a.run(t, c, "sns", "subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint", queueARN, "--attributes", "RawMessageDelivery=true")
			for _, body := range []string{"e1", "e2", "e1", "e3"} {
				out := a.run(t, c, "sns", "publish", "--topic-arn", topic, "--message", body, "--message-group-id", "G")
				r.Published = append(r.Published, struct {
					ID  string `json:"id"`
					Seq string `json:"seq"`
				}{fmt.Sprint(out["MessageId"]), fmt.Sprint(out["SequenceNumber"])})
			}
			for i := 0; i < 10 && len(r.Delivered) < 3; i++ {
				got := a.run(t, c, "sqs", "receive-message", "--queue-url", target, "--max-number-of-messages", "10", "--wait-time-seconds", "1", "--attribute-names", "MessageGroupId")
				ms, _ := got["Messages"].([]any)
				for _, m := range ms {
					m := m.(map[string]any)
					r.Delivered = append(r.Delivered, struct{ Body, Group string }{fmt.Sprint(m["Body"]), fmt.Sprint(m["Attributes"].(map[string]any)["MessageGroupId"])})
					a.run(t, c, "sqs", "delete-message", "--queue-url", target, "--receipt-handle", m["ReceiptHandle"].(string))
				}
			}
			checkFIFO(t, r)
		})
	}
}

package dynamodb

import (
	"os"
	"testing"

	"encoding/json"
	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/handler"
)

// BenchmarkRecordCPU measures the function's CPU cost per record excluding
// the network: unwrap the SNS envelope, decode and validate the order, and
// build its conditional PutItem request. Target: ≤ 20 µs per record.
func BenchmarkRecordCPU(b *testing.B) {
	payload, err := os.ReadFile("../handler/testdata/sqs-sns-seed.json")
	if err != nil {
		b.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		b.Fatal(err)
	}
	body := ev.Records[0].Body
	table := New(nil, "Orders")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		d, err := handler.DecodeBody(body)
		if err != nil {
			b.Fatal(err)
		}
		if in := table.putInput(d.Order, d.Order.Version()); len(in.Item) != 7 {
			b.Fatal("incomplete item")
		}
	}
}

package awsproto_test

import (
	"encoding/json"
	"testing"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// The order event of fixtures/seed-order.json, as a message body and as an
// item: the pipeline's typical requests.
const orderEvent = `{"orderId":"O1234","userId":"U123","itemName":"Laptop","quantity":1,"status":"new","timestamp":"2025-05-03T12:00:00Z"}`

// benchBodies are JSON bodies as an SDK writes them, with a shape to decode
// them into like the services' own.
var benchBodies = []struct {
	name string
	body []byte
	into func() any
}{
	{"SendMessage", mustJSON(map[string]any{
		"QueueUrl":    "http://127.0.0.1:4566/000000000000/OrderDLQ",
		"MessageBody": orderEvent,
		"MessageAttributes": map[string]any{
			"reason": map[string]string{"DataType": "String", "StringValue": "validation: quantity must be at least 1"},
			"source": map[string]string{"DataType": "String", "StringValue": "ProcessOrderFunction"},
		},
	}), func() any {
		return &struct {
			QueueUrl, MessageBody string
			MessageAttributes     map[string]struct{ DataType, StringValue string }
		}{}
	}},
	{"SendMessage with a 64 KiB body", mustJSON(map[string]any{
		"QueueUrl":    "http://127.0.0.1:4566/000000000000/OrderQueue",
		"MessageBody": string(repeatJSON(orderEvent, 64<<10)),
	}), func() any { return &struct{ QueueUrl, MessageBody string }{} }},
	{"PutItem", mustJSON(map[string]any{
		"TableName": "Orders",
		"Item": map[string]any{
			"orderId": map[string]string{"S": "O1234"}, "userId": map[string]string{"S": "U123"},
			"itemName": map[string]string{"S": "Laptop"}, "quantity": map[string]string{"N": "1"},
			"status": map[string]string{"S": "new"}, "timestamp": map[string]string{"S": "2025-05-03T12:00:00Z"},
		},
		"ConditionExpression":       "attribute_not_exists(orderId) OR #ts < :ts",
		"ExpressionAttributeNames":  map[string]string{"#ts": "timestamp"},
		"ExpressionAttributeValues": map[string]any{":ts": map[string]string{"S": "2025-05-03T12:00:00Z"}},
	}), func() any {
		return &struct {
			TableName, ConditionExpression string
			Item                           map[string]map[string]any
			ExpressionAttributeNames       map[string]string
			ExpressionAttributeValues      map[string]map[string]any
		}{}
	}},
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// repeatJSON repeats s (an order event, quotes and all) to n bytes.
func repeatJSON(s string, n int) []byte {
	b := make([]byte, 0, n+len(s))
	for len(b) < n {
		b = append(b, s...)
	}
	return b[:n]
}

// BenchmarkValidText measures the check every JSON request now passes
// before it is trusted (ValidText), beside the decoding it guards
// (encoding/json into a shape like the service's input): the check's cost
// is the first figure over the second.
//
//	go test -run '^$' -bench 'ValidText' -count 5 ./cloud/awsproto/
func BenchmarkValidText(b *testing.B) {
	for _, c := range benchBodies {
		if !awsproto.ValidText(c.body) {
			b.Fatalf("%s: the body is not valid text", c.name)
		}
		b.Run(c.name+"/ValidText", func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				awsproto.ValidText(c.body)
			}
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := json.Unmarshal(c.body, c.into()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

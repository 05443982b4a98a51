package handler

import (
	"encoding/json"
	"testing"
)

// typeBodies are bodies around the question whether a member can be the
// envelope's Type.
var typeBodies = []struct {
	body string
	may  bool
}{
	{`{"orderId":"O1234","userId":"U123","itemName":"Laptop","quantity":1,"status":"new","timestamp":"2025-05-03T12:00:00Z"}`, false},
	{`{"Type":"Notification"}`, true},
	{`{"type":"Notification"}`, true},
	{`{"tYpE":"Notification"}`, true},
	{`{"TYPE":"Notification"}`, true},
	{`{"\u0054ype":"Notification"}`, true},
	{`{"T\u0079pe":"Notification"}`, true},
	{`{"itemName":"Prototype"}`, true},
	{`{"Typ":"Notification","e":1}`, false},
	{`not json`, false},
	{``, false},
}

func TestABodyWithoutTypeDecodesToNoEnvelope(t *testing.T) {
	for _, tc := range typeBodies {
		if got := mayHoldType([]byte(tc.body)); got != tc.may {
			t.Errorf("mayHoldType(%q) = %v, want %v", tc.body, got, tc.may)
		}
		checkNoType(t, []byte(tc.body))
	}
}

// checkNoType checks what DecodeBody's shortcut stands on: a body
// mayHoldType refuses decodes to an envelope without a Type.
func checkNoType(t *testing.T, body []byte) {
	t.Helper()
	if mayHoldType(body) {
		return
	}
	var env snsEnvelope
	_ = json.Unmarshal(body, &env) // an error leaves the body to orderflow.Decode too
	if env.Type != "" {
		t.Fatalf("%q: mayHoldType says no Type, encoding/json reads Type %q", body, env.Type)
	}
}

// FuzzRawBodiesHoldNoType looks for a body that mayHoldType refuses but
// encoding/json reads as an envelope with a Type.
//
//	go test ./handler -run '^$' -fuzz FuzzRawBodiesHoldNoType -fuzztime 30s
func FuzzRawBodiesHoldNoType(f *testing.F) {
	for _, tc := range typeBodies {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkNoType(t, body) })
}

// A raw order, the template's default delivery, is read once: 106
// allocations when it was read as an envelope first (the rest is
// orderflow.Decode's).
func TestARawBodyStaysWithinItsAllocationBudget(t *testing.T) {
	body := typeBodies[0].body
	if got := testing.AllocsPerRun(50, func() {
		if _, err := DecodeBody(body); err != nil {
			t.Fatal(err)
		}
	}); got > 100 {
		t.Errorf("%v allocations, want at most 100", got)
	}
}

// BenchmarkDecodeBody reads a raw order and the same order in an SNS
// envelope.
func BenchmarkDecodeBody(b *testing.B) {
	raw := typeBodies[0].body
	msg, _ := json.Marshal(raw)
	env := `{"Type":"Notification","MessageId":"m-1","TopicArn":"arn:aws:sns:us-east-1:000000000000:OrderTopic","Message":` + string(msg) + `,"Timestamp":"2026-01-02T15:04:05.000Z"}`
	for _, c := range []struct{ name, body string }{{"raw", raw}, {"envelope", env}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeBody(c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

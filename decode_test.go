package orderflow_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow"
)

const seed = `{
  "orderId": "O1234",
  "userId": "U123",
  "itemName": "Laptop",
  "quantity": 1,
  "status": "new",
  "timestamp": "2025-05-03T12:00:00Z"
}`

func TestDecodeAcceptsTheSeedOrder(t *testing.T) {
	t.Parallel()
	got, err := orderflow.Decode([]byte(seed))
	if err != nil {
		t.Fatalf("Decode(seed) error = %v", err)
	}
	want := orderflow.Order{
		OrderID:   "O1234",
		UserID:    "U123",
		ItemName:  "Laptop",
		Quantity:  1,
		Status:    orderflow.StatusNew,
		Timestamp: time.Date(2025, 5, 3, 12, 0, 0, 0, time.UTC),
	}
	if got != want {
		t.Errorf("Decode(seed) = %+v, want %+v", got, want)
	}
	if got, want := got.TimestampString(), "2025-05-03T12:00:00Z"; got != want {
		t.Errorf("TimestampString() = %q, want %q", got, want)
	}
}

func TestDecodeAcceptsTheSharedFixture(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/seed-order.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orderflow.Decode(data); err != nil {
		t.Errorf("Decode(testdata/seed-order.json) error = %v", err)
	}
}

func TestDecodeAcceptsValidVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		check     func(orderflow.Order) bool
	}{
		{"fractional seconds are kept", withField("timestamp", `"2025-05-03T12:00:00.123456789Z"`),
			func(o orderflow.Order) bool { return o.Timestamp.Nanosecond() == 123456789 }},
		{"a +00:00 offset is UTC", withField("timestamp", `"2025-05-03T12:00:00+00:00"`),
			func(o orderflow.Order) bool { return o.TimestampString() == "2025-05-03T12:00:00Z" }},
		{"every status in the lifecycle", withField("status", `"cancelled"`),
			func(o orderflow.Order) bool { return o.Status == orderflow.StatusCancelled }},
		{"the largest quantity", withField("quantity", `1000000`),
			func(o orderflow.Order) bool { return o.Quantity == orderflow.MaxQuantity }},
		{"unicode item names", withField("itemName", `"Café ☕ \u00e9"`),
			func(o orderflow.Order) bool { return o.ItemName == "Café ☕ é" }},
		{"an escaped replacement character is kept", withField("itemName", `"a\ufffdb"`),
			func(o orderflow.Order) bool { return o.ItemName == "a\ufffdb" }},
		{"an id of exactly the limit", withField("orderId", `"`+strings.Repeat("x", orderflow.MaxIDBytes)+`"`),
			func(o orderflow.Order) bool { return len(o.OrderID) == orderflow.MaxIDBytes }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := orderflow.Decode([]byte(tt.doc))
			if err != nil {
				t.Fatalf("Decode error = %v", err)
			}
			if !tt.check(o) {
				t.Errorf("Decode = %+v, which fails the check", o)
			}
			if err := o.Validate(); err != nil {
				t.Errorf("Validate() of a decoded order = %v, want nil", err)
			}
		})
	}
}

// withField returns the seed with one field's JSON value replaced.
func withField(name, value string) string {
	return replaceField(seed, name, name, value)
}

func withoutField(name string) string {
	lines := strings.Split(seed, "\n")
	var out []string
	for _, l := range lines {
		if !strings.Contains(l, `"`+name+`"`) {
			out = append(out, l)
		}
	}
	s := strings.Join(out, "\n")
	return strings.Replace(s, ",\n}", "\n}", 1)
}

func replaceField(doc, name, newName, value string) string {
	lines := strings.Split(doc, "\n")
	for i, l := range lines {
		if strings.Contains(l, `"`+name+`"`) {
			comma := strings.HasSuffix(l, ",")
			lines[i] = `  "` + newName + `": ` + value
			if comma {
				lines[i] += ","
			}
		}
	}
	return strings.Join(lines, "\n")
}

func TestDecodeRefusesBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		code orderflow.Code
		want string // the exact error message
	}{
		{"empty input", ``, orderflow.CodeMalformedJSON, "invalid order: document is empty or ends early"},
		{"not JSON", `order O1234 please`, orderflow.CodeMalformedJSON, "invalid order: not valid JSON: invalid character 'o' looking for beginning of value"},
		{"truncated JSON", `{"orderId": "O1`, orderflow.CodeMalformedJSON, "invalid order: document is empty or ends early"},
		{"a JSON array", `[1,2]`, orderflow.CodeMalformedJSON, "invalid order: document is an array, not a JSON object"},
		{"a JSON string", `"O1234"`, orderflow.CodeMalformedJSON, "invalid order: document is a string, not a JSON object"},
		{"null", `null`, orderflow.CodeMalformedJSON, "invalid order: document is null, not a JSON object"},
		{"trailing data", seed + ` {}`, orderflow.CodeMalformedJSON, "invalid order: unexpected data after the JSON object"},
		{"a repeated field", strings.Replace(seed, `"userId"`, `"orderId": "O9", "userId"`, 1), orderflow.CodeMalformedJSON, `invalid order: field "orderId" appears more than once`},
		{"invalid UTF-8", "{\"orderId\": \"O\xff\"}", orderflow.CodeMalformedJSON, "invalid order: document is not valid UTF-8"},
		{"too large", `{"pad": "` + strings.Repeat("x", orderflow.MaxOrderBytes) + `"}`, orderflow.CodeTooLarge, "invalid order: document is 16395 bytes, more than the limit of 16384"},
		{"an empty object", `{}`, orderflow.CodeInvalidOrder, "invalid order: orderId: is required; userId: is required; itemName: is required; quantity: is required; status: is required; timestamp: is required"},
		{"missing orderId", withoutField("orderId"), orderflow.CodeInvalidOrder, "invalid order: orderId: is required"},
		{"missing timestamp", withoutField("timestamp"), orderflow.CodeInvalidOrder, "invalid order: timestamp: is required"},
		{"empty orderId", withField("orderId", `""`), orderflow.CodeInvalidOrder, "invalid order: orderId: must not be empty"},
		{"blank userId", withField("userId", `"   "`), orderflow.CodeInvalidOrder, "invalid order: userId: must not be blank"},
		{"padded orderId", withField("orderId", `" O1234"`), orderflow.CodeInvalidOrder, "invalid order: orderId: must not begin or end with white space"},
		{"control character in itemName", withField("itemName", `"Lap\ntop"`), orderflow.CodeInvalidOrder, "invalid order: itemName: must not contain control characters"},
		{"a lone surrogate escape", withField("itemName", `"Lap\ud800top"`), orderflow.CodeInvalidOrder, `invalid order: itemName: contains an invalid \u escape`},
		{"orderId too long", withField("orderId", `"`+strings.Repeat("x", orderflow.MaxIDBytes+1)+`"`), orderflow.CodeInvalidOrder, "invalid order: orderId: is 129 bytes long, more than the limit of 128"},
		{"itemName too long", withField("itemName", `"`+strings.Repeat("x", orderflow.MaxItemNameBytes+1)+`"`), orderflow.CodeInvalidOrder, "invalid order: itemName: is 513 bytes long, more than the limit of 512"},
		{"orderId a number", withField("orderId", `1234`), orderflow.CodeInvalidOrder, "invalid order: orderId: must be a string, got a number"},
		{"userId null", withField("userId", `null`), orderflow.CodeInvalidOrder, "invalid order: userId: must be a string, got null"},
		{"itemName an object", withField("itemName", `{"name": "Laptop"}`), orderflow.CodeInvalidOrder, "invalid order: itemName: must be a string, got an object"},
		{"quantity a string", withField("quantity", `"1"`), orderflow.CodeInvalidOrder, "invalid order: quantity: must be an integer, got a string"},
		{"quantity a boolean", withField("quantity", `true`), orderflow.CodeInvalidOrder, "invalid order: quantity: must be an integer, got a boolean"},
		{"quantity zero", withField("quantity", `0`), orderflow.CodeInvalidOrder, "invalid order: quantity: must be at least 1, got 0"},
		{"quantity negative", withField("quantity", `-3`), orderflow.CodeInvalidOrder, "invalid order: quantity: must be at least 1, got -3"},
		{"quantity fractional", withField("quantity", `1.5`), orderflow.CodeInvalidOrder, "invalid order: quantity: must be a whole number written without a fraction or exponent, got 1.5"},
		{"quantity with an exponent", withField("quantity", `1e3`), orderflow.CodeInvalidOrder, "invalid order: quantity: must be a whole number written without a fraction or exponent, got 1e3"},
		{"quantity absurd", withField("quantity", `1000001`), orderflow.CodeInvalidOrder, "invalid order: quantity: must be at most 1000000, got 1000001"},
		{"quantity beyond int64", withField("quantity", `99999999999999999999999`), orderflow.CodeInvalidOrder, "invalid order: quantity: must be at most 1000000, got 99999999999999999999999"},
		{"quantity hugely negative", withField("quantity", `-99999999999999999999999`), orderflow.CodeInvalidOrder, "invalid order: quantity: must be at least 1, got -99999999999999999999999"},
		{"unknown status", withField("status", `"lost"`), orderflow.CodeInvalidOrder, `invalid order: status: must be one of new, paid, shipped, delivered, cancelled, got "lost"`},
		{"status in the wrong case", withField("status", `"NEW"`), orderflow.CodeInvalidOrder, `invalid order: status: must be one of new, paid, shipped, delivered, cancelled, got "NEW"`},
		{"status a number", withField("status", `1`), orderflow.CodeInvalidOrder, "invalid order: status: must be a string, got a number"},
		{"timestamp not a date", withField("timestamp", `"yesterday"`), orderflow.CodeInvalidOrder, `invalid order: timestamp: must be an RFC 3339 date and time such as 2025-05-03T12:00:00Z, got "yesterday"`},
		{"timestamp without a zone", withField("timestamp", `"2025-05-03T12:00:00"`), orderflow.CodeInvalidOrder, `invalid order: timestamp: must be an RFC 3339 date and time such as 2025-05-03T12:00:00Z, got "2025-05-03T12:00:00"`},
		{"timestamp a date only", withField("timestamp", `"2025-05-03"`), orderflow.CodeInvalidOrder, `invalid order: timestamp: must be an RFC 3339 date and time such as 2025-05-03T12:00:00Z, got "2025-05-03"`},
		{"timestamp not in UTC", withField("timestamp", `"2025-05-03T14:00:00+02:00"`), orderflow.CodeInvalidOrder, `invalid order: timestamp: must be in UTC (end in Z), got "2025-05-03T14:00:00+02:00"`},
		{"timestamp impossible", withField("timestamp", `"2025-02-30T12:00:00Z"`), orderflow.CodeInvalidOrder, `invalid order: timestamp: must be an RFC 3339 date and time such as 2025-05-03T12:00:00Z, got "2025-02-30T12:00:00Z"`},
		{"timestamp too old", withField("timestamp", `"1999-12-31T23:59:59Z"`), orderflow.CodeInvalidOrder, `invalid order: timestamp: must be between the years 2000 and 2099, got "1999-12-31T23:59:59Z"`},
		{"timestamp too far ahead", withField("timestamp", `"2100-01-01T00:00:00Z"`), orderflow.CodeInvalidOrder, `invalid order: timestamp: must be between the years 2000 and 2099, got "2100-01-01T00:00:00Z"`},
		{"timestamp a number", withField("timestamp", `1746273600`), orderflow.CodeInvalidOrder, "invalid order: timestamp: must be a string, got a number"},
		{"an unknown field", replaceField(seed, "itemName", "item", `"Laptop"`), orderflow.CodeInvalidOrder, "invalid order: itemName: is required; item: is not a field of an order"},
		{"several problems at once", replaceField(withField("quantity", `0`), "status", "state", `"new"`), orderflow.CodeInvalidOrder, "invalid order: quantity: must be at least 1, got 0; status: is required; state: is not a field of an order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := orderflow.Decode([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Decode(%q) error = nil, want %q", tt.doc, tt.want)
			}
			if !errors.Is(err, orderflow.ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false, want true", err)
			}
			var inv *orderflow.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("error %T is not an *InvalidError", err)
			}
			if inv.Code != tt.code {
				t.Errorf("code = %s, want %s", inv.Code, tt.code)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error = %q\nwant    %q", got, tt.want)
			}
		})
	}
}

func TestValidateRefusesOrdersBuiltInCode(t *testing.T) {
	t.Parallel()
	err := orderflow.Order{OrderID: "O1", Quantity: 0, Status: "lost"}.Validate()
	want := `invalid order: userId: must not be empty; itemName: must not be empty; quantity: must be at least 1, got 0; status: must be one of new, paid, shipped, delivered, cancelled, got "lost"; timestamp: must be between the years 2000 and 2099, got 0001-01-01T00:00:00Z`
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v\nwant         %s", err, want)
	}
	if !errors.Is(err, orderflow.ErrInvalid) {
		t.Errorf("errors.Is(Validate(), ErrInvalid) = false")
	}
}

func TestOrderJSONRoundTrips(t *testing.T) {
	t.Parallel()
	o, err := orderflow.Decode([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	b, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"orderId":"O1234","userId":"U123","itemName":"Laptop","quantity":1,"status":"new","timestamp":"2025-05-03T12:00:00Z"}`
	if string(b) != want {
		t.Errorf("MarshalJSON = %s\nwant          %s", b, want)
	}
	back, err := orderflow.Decode(b)
	if err != nil || back != o {
		t.Errorf("Decode(MarshalJSON(o)) = %+v, %v; want %+v", back, err, o)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(seed))
	f.Add([]byte(`{}`))
	f.Add([]byte(withField("quantity", `1e400`)))
	f.Add([]byte(withField("itemName", `"\ud83d\ude00"`)))
	f.Add([]byte(`{"orderId":"a","orderId":"b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := orderflow.Decode(data)
		if err != nil {
			if !errors.Is(err, orderflow.ErrInvalid) {
				t.Fatalf("Decode error %v does not match ErrInvalid", err)
			}
			return
		}
		// Whatever decodes must validate, round-trip, and have a well-formed version.
		if err := o.Validate(); err != nil {
			t.Fatalf("decoded order fails Validate: %v", err)
		}
		b, _ := o.MarshalJSON()
		back, err := orderflow.Decode(b)
		if err != nil || back != o {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, o)
		}
		if v := o.Version(); len(v) != 19+1+2+1+64 {
			t.Fatalf("Version() = %q has length %d", v, len(v))
		}
	})
}

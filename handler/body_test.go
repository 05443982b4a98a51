package handler_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/handler"
)

func envelope(typ, message string) string {
	b, _ := json.Marshal(map[string]any{
		"Type": typ, "MessageId": "m-1", "TopicArn": "arn:aws:sns:eu-west-1:123456789012:OrderTopic",
		"Message": message, "Timestamp": "2025-05-03T12:00:00.512Z", "SignatureVersion": "1",
	})
	return string(b)
}

const rawSeed = `{"orderId":"O1234","userId":"U123","itemName":"Laptop","quantity":1,"status":"new","timestamp":"2025-05-03T12:00:00Z"}`

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		wantSNS string
		code    orderflow.Code // "" for success
		wantErr string
	}{
		{"an SNS notification", envelope("Notification", rawSeed), "m-1", "", ""},
		{"a raw order", rawSeed, "", "", ""},
		{"an SNS notification around invalid JSON", envelope("Notification", "{oops"), "", orderflow.CodeMalformedJSON,
			"invalid order: not valid JSON: invalid character 'o'"},
		{"an SNS notification around an invalid order", envelope("Notification", `{"orderId":"O1"}`), "", orderflow.CodeInvalidOrder,
			"invalid order: userId: is required; itemName: is required; quantity: is required; status: is required; timestamp: is required"},
		{"an SNS subscription confirmation", envelope("SubscriptionConfirmation", "You have chosen to subscribe"), "", orderflow.CodeUnsupportedMessage,
			`invalid order: an SNS "SubscriptionConfirmation" message is not an order event`},
		{"an SNS notification without a Message", `{"Type":"Notification","MessageId":"m","TopicArn":"t"}`, "", orderflow.CodeUnsupportedMessage,
			"invalid order: SNS notification has no Message"},
		{"an SNS notification without a TopicArn", `{"Type":"Notification","MessageId":"m","Message":"{}"}`, "", orderflow.CodeUnsupportedMessage,
			"invalid order: SNS notification lacks its TopicArn or MessageId"},
		{"an SNS envelope whose Message is not a string", `{"Type":"Notification","MessageId":"m","TopicArn":"t","Message":{}}`, "", orderflow.CodeUnsupportedMessage,
			"invalid order: SNS envelope member Message is not a string"},
		{"an empty body", "", "", orderflow.CodeMalformedJSON, "invalid order: document is empty or ends early"},
		{"a huge body", strings.Repeat(" ", handler.MaxBodyBytes+1), "", orderflow.CodeTooLarge,
			"invalid order: message body is 262145 bytes, more than the limit of 262144"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := handler.DecodeBody(tt.body)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("DecodeBody error = %v", err)
				}
				if got.Order != seedOrder || got.SNSMessageID != tt.wantSNS {
					t.Errorf("DecodeBody = %+v, want the seed order with SNS id %q", got, tt.wantSNS)
				}
				return
			}
			var inv *orderflow.InvalidError
			if !errors.As(err, &inv) || !errors.Is(err, orderflow.ErrInvalid) {
				t.Fatalf("DecodeBody error = %v, want an *InvalidError", err)
			}
			if inv.Code != tt.code {
				t.Errorf("code = %s, want %s", inv.Code, tt.code)
			}
			if tt.wantErr != "" && err.Error() != tt.wantErr {
				t.Errorf("error = %q\nwant    %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzDecodeBody: the decoder never panics, and whatever it accepts is a
// valid order.
func FuzzDecodeBody(f *testing.F) {
	f.Add(rawSeed)
	f.Add(envelope("Notification", rawSeed))
	f.Add(envelope("Notification", envelope("Notification", rawSeed)))
	f.Add(envelope("UnsubscribeConfirmation", ""))
	f.Add(`{"Type":null,"Message":null}`)
	f.Add(`[{"Type":"Notification"}]`)
	f.Fuzz(func(t *testing.T, body string) {
		b, err := handler.DecodeBody(body)
		if err != nil {
			if !errors.Is(err, orderflow.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		if err := b.Order.Validate(); err != nil {
			t.Fatalf("accepted an order that fails Validate: %v", err)
		}
	})
}

func TestOrderIDOfFindsTheIdOfValidAndInvalidOrders(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		rawSeed:                                 "O1234",
		envelope("Notification", rawSeed):       "O1234",
		`{"orderId":"O-BAD","quantity":"many"}`: "O-BAD",
		envelope("Notification", `{"orderId":"O-BAD","x":1}`): "O-BAD",
		`not json`:                      "",
		envelope("Notification", `[1]`): "",
	}
	for body, want := range tests {
		if got := handler.OrderIDOf(body); got != want {
			t.Errorf("OrderIDOf(%.40q) = %q, want %q", body, got, want)
		}
	}
}

package orderflow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// NoOrderID is the group key of an event that names no order: its body is
// not a JSON object, or has no orderId.
const NoOrderID = "no-order-id"

// GroupKey is the key that orders an event among the others: its order id.
// With QueueType FIFO it is the event's message group (SNS's and SQS's
// MessageGroupId), so that each order's events are delivered in the order
// they were published while different orders are processed side by side.
//
// A message group id is 1 to 128 characters, each an ASCII letter, digit or
// punctuation mark. An order id that is not (too long, a space, any other
// character, or not a string) is replaced by "h-" and the first 32 hex
// digits of the SHA-256 of its JSON text, so that the same id always maps
// to the same group. A body that names no order, invalid input, gets
// NoOrderID: the function dead-letters it whatever its order.
func GroupKey(body []byte) string {
	var doc struct {
		OrderID json.RawMessage `json:"orderId"`
	}
	if json.Unmarshal(body, &doc) != nil || len(doc.OrderID) == 0 || string(doc.OrderID) == "null" {
		return NoOrderID
	}
	var id string
	if json.Unmarshal(doc.OrderID, &id) == nil && validGroupID(id) {
		return id
	}
	sum := sha256.Sum256(doc.OrderID)
	return "h-" + hex.EncodeToString(sum[:16])
}

// validGroupID reports whether s is a valid message group id.
func validGroupID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '!' || c > '~' {
			return false
		}
	}
	return true
}

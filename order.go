// Package orderflow owns the order domain: what an order event is, how it is
// decoded and validated, and the "newer wins" rule that decides whether an
// event may replace what is stored. It imports only the standard library
// (and internal/human, which imports only the standard library, for how its
// messages say durations) and knows nothing of AWS; the function, the
// adapters and the embedded cloud live in subpackages.
package orderflow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Status is where an order is in its lifecycle.
type Status string

// The statuses an order event may carry.
const (
	StatusNew       Status = "new"
	StatusPaid      Status = "paid"
	StatusShipped   Status = "shipped"
	StatusDelivered Status = "delivered"
	StatusCancelled Status = "cancelled"
)

// lifecycle lists every valid status in lifecycle order. It is the one place
// to extend the status set: validation, error messages and the tie-break rank
// all derive from it. Append new statuses at the position that reflects how
// far along the lifecycle they are; the rank is the index.
var lifecycle = []Status{StatusNew, StatusPaid, StatusShipped, StatusDelivered, StatusCancelled}

// Statuses returns the valid statuses in lifecycle order.
func Statuses() []Status { return append([]Status(nil), lifecycle...) }

// rank returns the status's position in the lifecycle, or -1 if it is not a
// valid status.
func (s Status) rank() int {
	for i, v := range lifecycle {
		if v == s {
			return i
		}
	}
	return -1
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool { return s.rank() >= 0 }

// Order is one order event: the state of an order at Timestamp.
type Order struct {
	OrderID   string    `json:"orderId"`
	UserID    string    `json:"userId"`
	ItemName  string    `json:"itemName"`
	Quantity  int       `json:"quantity"`
	Status    Status    `json:"status"`
	Timestamp time.Time `json:"timestamp"`
}

// TimestampString returns the event time as stored and sent on: RFC 3339 in
// UTC with the fraction of a second only when there is one, so the seed's
// "2025-05-03T12:00:00Z" round-trips unchanged.
func (o Order) TimestampString() string {
	return o.Timestamp.UTC().Format(time.RFC3339Nano)
}

// MarshalJSON writes the order in its canonical form: fields in declaration
// order and the timestamp normalised to UTC. Version hashes this encoding, so
// it must stay stable.
func (o Order) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 160)
	b = append(b, `{"orderId":`...)
	b = appendJSONString(b, o.OrderID)
	b = append(b, `,"userId":`...)
	b = appendJSONString(b, o.UserID)
	b = append(b, `,"itemName":`...)
	b = appendJSONString(b, o.ItemName)
	b = append(b, `,"quantity":`...)
	b = strconv.AppendInt(b, int64(o.Quantity), 10)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(o.Status))
	b = append(b, `,"timestamp":"`...)
	b = o.Timestamp.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `"}`...)
	return b, nil
}

func appendJSONString(b []byte, s string) []byte {
	// json.Marshal of a string cannot fail; it escapes HTML characters too,
	// which keeps the canonical form independent of where it is embedded.
	enc, _ := json.Marshal(s)
	return append(b, enc...)
}

// UnmarshalJSON decodes and validates an order with Decode, so that an Order
// can never be built from JSON that Decode would refuse.
func (o *Order) UnmarshalJSON(data []byte) error {
	v, err := Decode(data)
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// versionDigits is the width of the zero-padded Unix-nanosecond part of a
// Version. Valid timestamps lie in [2000, 2100), i.e. below 10^19 ns.
const versionDigits = 19

// Version returns the order event's position in the total order that decides
// which event wins. It is a fixed-width string, so comparing two versions as
// strings (as DynamoDB's condition expressions do) compares the events:
//
//  1. the later timestamp wins;
//  2. at equal timestamps, the status further along the lifecycle wins
//     (new < paid < shipped < delivered < cancelled);
//  3. at equal timestamps and statuses, the event whose canonical JSON has the
//     greater SHA-256 digest wins. This is arbitrary but depends only on the
//     events' contents, never on the order in which they arrive.
//
// Two events with the same version are the same event (a redelivery).
func (o Order) Version() string {
	canonical, _ := o.MarshalJSON()
	sum := sha256.Sum256(canonical)
	b := make([]byte, 0, versionDigits+1+2+1+2*sha256.Size)
	ns := strconv.FormatInt(o.Timestamp.UnixNano(), 10)
	for i := len(ns); i < versionDigits; i++ {
		b = append(b, '0')
	}
	b = append(b, ns...)
	b = append(b, '.')
	b = fmt.Appendf(b, "%02d", o.Status.rank())
	b = append(b, '.')
	b = hex.AppendEncode(b, sum[:])
	return string(b)
}

// Supersedes reports whether event o may replace stored: the rule the store's
// conditional write implements. An event never supersedes itself, so an
// identical redelivery is a no-op.
func (o Order) Supersedes(stored Order) bool {
	return o.Version() > stored.Version()
}

// Outcome is what storing an event did.
type Outcome string

// The outcomes of a conditional write. All three are successes: the table
// holds the newest event either way.
const (
	// OutcomeStored: the event was written; the table held nothing for the
	// order or an older event.
	OutcomeStored Outcome = "stored"
	// OutcomeDuplicate: the table already holds this very event.
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeStale: the table holds a newer event; this one was dropped.
	OutcomeStale Outcome = "stale"
)

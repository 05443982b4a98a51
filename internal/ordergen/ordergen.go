// Package ordergen generates realistic order events for testing the
// pipeline: new orders, exact duplicates, out-of-order (older) updates and
// invalid events, in chosen proportions, deterministically from a seed, and
// says what the table must hold once they are all processed.
package ordergen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/orderflow/orderflow"
)

// Kind is what an event is for the pipeline.
type Kind string

// The kinds of generated events.
const (
	KindNew       Kind = "new"       // the first event of an order: stored
	KindDuplicate Kind = "duplicate" // an exact repeat of an earlier event: a no-op
	KindStale     Kind = "stale"     // an older version arriving after a newer one: dropped
	KindInvalid   Kind = "invalid"   // refused: dead-lettered with a reason
)

// Event is one generated event, in publishing order.
type Event struct {
	Kind    Kind
	OrderID string
	Body    string // the JSON published
	Order   orderflow.Order
}

// Options shape a generation. Shares are fractions of Count in [0, 1]; the
// counts are rounded, and the rest of Count are new orders.
type Options struct {
	Count      int
	Duplicates float64
	OutOfOrder float64
	Invalid    float64
	Seed       uint64
	// Now anchors timestamps: events are stamped in the hour before it.
	// Default time.Now().
	Now time.Time
	// Prefix starts every order id. Default "ORD".
	Prefix string
}

// Batch is a generation's events and what they must leave behind.
type Batch struct {
	Events []Event
	// Final is each valid order's newest event: what the table must hold.
	Final map[string]orderflow.Order
	// Invalid lists the invalid events' order ids.
	Invalid []string
}

// Counts returns how many events of each kind a Batch holds.
func (b Batch) Counts() map[Kind]int {
	c := map[Kind]int{}
	for _, e := range b.Events {
		c[e.Kind]++
	}
	return c
}

var (
	items = []string{"Laptop", "Phone", "Headphones", "Monitor", "Keyboard", "Mouse", "Desk Lamp", "Backpack", "Coffee Grinder", "Running Shoes"}
	// invalidBodies are ways producers get orders wrong; %s is the order id.
	invalidBodies = []string{
		`{"orderId":%q,"userId":"U1","itemName":"Laptop","quantity":0,"status":"new","timestamp":"2025-05-03T12:00:00Z"}`,
		`{"orderId":%q,"userId":"U1","itemName":"Laptop","quantity":1,"status":"lost","timestamp":"2025-05-03T12:00:00Z"}`,
		`{"orderId":%q,"userId":"U1","quantity":1,"status":"new","timestamp":"2025-05-03T12:00:00Z"}`,
		`{"orderId":%q,"userId":"U1","itemName":"Laptop","quantity":"two","status":"new","timestamp":"2025-05-03T12:00:00Z"}`,
		`{"orderId":%q,"userId":"U1","itemName":"Laptop","quantity":1,"status":"new","timestamp":"yesterday"}`,
		`{"orderId":%q,"userId":"U1","itemName":"Laptop","quantity":1,"status":"new","timestamp":"2025-05-03T12:00:00Z","coupon":"X"}`,
	}
)

// Generate makes a Batch. It fails only for options out of range.
func Generate(o Options) (Batch, error) {
	if o.Count < 0 {
		return Batch{}, fmt.Errorf("ordergen: count %d is negative", o.Count)
	}
	for name, share := range map[string]float64{"duplicates": o.Duplicates, "out-of-order": o.OutOfOrder, "invalid": o.Invalid} {
		if share < 0 || share > 1 || math.IsNaN(share) {
			return Batch{}, fmt.Errorf("ordergen: the %s share %v is not between 0 and 1", name, share)
		}
	}
	nDup := int(math.Round(float64(o.Count) * o.Duplicates))
	nStale := int(math.Round(float64(o.Count) * o.OutOfOrder))
	nInvalid := int(math.Round(float64(o.Count) * o.Invalid))
	nNew := o.Count - nDup - nStale - nInvalid
	if nNew < 0 || (nNew == 0 && nDup+nStale > 0) {
		return Batch{}, fmt.Errorf("ordergen: the shares leave no new orders to duplicate or update")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Prefix == "" {
		o.Prefix = "ORD"
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x6f72646572666c6f))
	b := Batch{Final: map[string]orderflow.Order{}}
	var valid []orderflow.Order
	base := o.Now.UTC().Truncate(time.Millisecond).Add(-time.Hour)
	for i := range nNew {
		ord := orderflow.Order{
			OrderID:   fmt.Sprintf("%s-%d-%06d", o.Prefix, o.Seed, i+1),
			UserID:    fmt.Sprintf("U%03d", 1+r.IntN(200)),
			ItemName:  items[r.IntN(len(items))],
			Quantity:  1 + r.IntN(5),
			Status:    orderflow.StatusPaid,
			Timestamp: base.Add(time.Duration(r.Int64N(int64(50 * time.Minute))).Truncate(time.Millisecond)),
		}
		valid = append(valid, ord)
		b.Final[ord.OrderID] = ord
		b.Events = append(b.Events, event(KindNew, ord))
	}
	for range nStale {
		newer := valid[r.IntN(len(valid))]
		older := newer
		older.Status = orderflow.StatusNew
		older.Timestamp = newer.Timestamp.Add(-time.Duration(1+r.IntN(600)) * time.Second)
		b.Events = append(b.Events, event(KindStale, older))
	}
	for range nDup {
		b.Events = append(b.Events, event(KindDuplicate, valid[r.IntN(len(valid))]))
	}
	for i := range nInvalid {
		id := fmt.Sprintf("BAD-%d-%06d", o.Seed, i+1)
		b.Invalid = append(b.Invalid, id)
		b.Events = append(b.Events, Event{Kind: KindInvalid, OrderID: id, Body: fmt.Sprintf(invalidBodies[i%len(invalidBodies)], id)})
	}
	// Shuffle, then restore each order's first event before its duplicates
	// and older versions, so a duplicate is a redelivery and an older
	// version really arrives after the newer one.
	r.Shuffle(len(b.Events), func(i, j int) { b.Events[i], b.Events[j] = b.Events[j], b.Events[i] })
	firstAt := map[string]int{}
	for i, e := range b.Events {
		if e.Kind == KindNew {
			firstAt[e.OrderID] = i
		}
	}
	for i := range b.Events {
		e := b.Events[i]
		if e.Kind != KindDuplicate && e.Kind != KindStale {
			continue
		}
		if j := firstAt[e.OrderID]; j > i {
			b.Events[i], b.Events[j] = b.Events[j], b.Events[i]
			firstAt[e.OrderID] = i
		}
	}
	return b, nil
}

func event(k Kind, o orderflow.Order) Event {
	body, _ := o.MarshalJSON()
	return Event{Kind: k, OrderID: o.OrderID, Body: string(body), Order: o}
}

package orderflow_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow"
)

func order(ts string, status orderflow.Status, qty int) orderflow.Order {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		panic(err)
	}
	return orderflow.Order{OrderID: "O1", UserID: "U1", ItemName: "Laptop", Quantity: qty, Status: status, Timestamp: t}
}

func TestSupersedes(t *testing.T) {
	t.Parallel()
	base := order("2025-05-03T12:00:00Z", orderflow.StatusPaid, 1)
	tests := []struct {
		name string
		a, b orderflow.Order
		want bool
	}{
		{"a later event supersedes an earlier one", order("2025-05-03T12:00:01Z", orderflow.StatusNew, 1), base, true},
		{"an earlier event does not supersede a later one", order("2025-05-03T11:59:59Z", orderflow.StatusDelivered, 1), base, false},
		{"an event does not supersede itself", base, base, false},
		{"a nanosecond later is later", order("2025-05-03T12:00:00.000000001Z", orderflow.StatusNew, 1), base, true},
		{"at a tie the later lifecycle status wins", order("2025-05-03T12:00:00Z", orderflow.StatusShipped, 1), base, true},
		{"at a tie the earlier lifecycle status loses", order("2025-05-03T12:00:00Z", orderflow.StatusNew, 1), base, false},
		{"a decade later is later (fixed width)", order("2035-05-03T12:00:00Z", orderflow.StatusNew, 1), order("2025-05-03T12:00:00Z", orderflow.StatusNew, 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Supersedes(tt.b); got != tt.want {
				t.Errorf("Supersedes = %v, want %v (versions %s vs %s)", got, tt.want, tt.a.Version(), tt.b.Version())
			}
		})
	}
}

func TestSupersedesBreaksFullTiesByContentNotArrival(t *testing.T) {
	t.Parallel()
	a := order("2025-05-03T12:00:00Z", orderflow.StatusPaid, 1)
	b := order("2025-05-03T12:00:00Z", orderflow.StatusPaid, 2)
	if a.Supersedes(b) == b.Supersedes(a) {
		t.Fatalf("exactly one of two different tied events must win: a>b=%v b>a=%v", a.Supersedes(b), b.Supersedes(a))
	}
	// The winner does not depend on which one arrives first.
	winner := func(events []orderflow.Order) orderflow.Order {
		var held orderflow.Order
		for i, e := range events {
			if i == 0 || e.Supersedes(held) {
				held = e
			}
		}
		return held
	}
	if winner([]orderflow.Order{a, b}) != winner([]orderflow.Order{b, a}) {
		t.Errorf("the tie's winner depends on arrival order")
	}
}

func TestVersionOrderMatchesTimeOrder(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	hi := time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC).UnixNano()
	var events []orderflow.Order
	for range 500 {
		ts := time.Unix(0, lo+r.Int64N(hi-lo)).UTC()
		events = append(events, orderflow.Order{OrderID: "O", UserID: "U", ItemName: "I", Quantity: 1, Status: orderflow.StatusNew, Timestamp: ts})
	}
	byVersion := slices.Clone(events)
	slices.SortFunc(byVersion, func(a, b orderflow.Order) int {
		switch {
		case a.Version() < b.Version():
			return -1
		case a.Version() > b.Version():
			return 1
		}
		return 0
	})
	if !slices.IsSortedFunc(byVersion, func(a, b orderflow.Order) int { return a.Timestamp.Compare(b.Timestamp) }) {
		t.Errorf("sorting by version string does not sort by timestamp")
	}
}

func TestStatusesAreInLifecycleOrder(t *testing.T) {
	t.Parallel()
	got := orderflow.Statuses()
	want := []orderflow.Status{"new", "paid", "shipped", "delivered", "cancelled"}
	if !slices.Equal(got, want) {
		t.Errorf("Statuses() = %v, want %v", got, want)
	}
	got[0] = "mutated"
	if orderflow.Statuses()[0] != "new" {
		t.Errorf("Statuses() exposes its backing array")
	}
}

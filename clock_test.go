package orderflow_test

import (
	"errors"
	"testing"
	"time"

	"github.com/orderflow/orderflow"
)

func TestCheckClock(t *testing.T) {
	now := time.Date(2025, 5, 3, 12, 0, 1, 0, time.UTC)
	order := func(ts time.Time) orderflow.Order {
		return orderflow.Order{OrderID: "O1", UserID: "U1", ItemName: "Laptop", Quantity: 1, Status: orderflow.StatusNew, Timestamp: ts}
	}
	for _, c := range []struct {
		name    string
		ts      time.Time
		maxSkew time.Duration
		want    string // the error, "" for none
	}{
		{"an event in the past is accepted", now.Add(-time.Hour), orderflow.DefaultMaxFutureSkew, ""},
		{"an event exactly the allowed skew ahead is accepted", now.Add(15 * time.Minute), orderflow.DefaultMaxFutureSkew, ""},
		{"an event a second past the skew is refused", now.Add(15*time.Minute + time.Second),
			orderflow.DefaultMaxFutureSkew, "invalid order: timestamp: is 15 minutes 1 second in the future, more than the allowed 15 minutes"},
		{"an event days ahead is said in days and hours", now.Add(3*24*time.Hour + 4*time.Hour + 30*time.Second),
			orderflow.DefaultMaxFutureSkew, "invalid order: timestamp: is 3 days 4 hours in the future, more than the allowed 15 minutes"},
		{"an event stamped in 2099 is said in years", time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC),
			orderflow.DefaultMaxFutureSkew, "invalid order: timestamp: is 74 years 260 days in the future, more than the allowed 15 minutes"},
		{"the allowed skew is said humanely too", now.Add(2 * time.Hour), time.Hour,
			"invalid order: timestamp: is 2 hours in the future, more than the allowed 1 hour"},
		{"a negative skew allows any time", time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC), -1, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := orderflow.CheckClock(order(c.ts), now, c.maxSkew)
			if c.want == "" {
				if err != nil {
					t.Fatalf("CheckClock = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != c.want {
				t.Fatalf("CheckClock = %v\nwant          %s", err, c.want)
			}
			var inv *orderflow.InvalidError
			if !errors.As(err, &inv) || inv.Code != orderflow.CodeInvalidOrder || len(inv.Fields) != 1 || inv.Fields[0].Field != "timestamp" || !errors.Is(err, orderflow.ErrInvalid) {
				t.Errorf("CheckClock = %#v, want an InvalidOrder error on the timestamp", err)
			}
		})
	}
}

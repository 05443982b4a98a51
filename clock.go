package orderflow

import (
	"time"

	"github.com/orderflow/orderflow/internal/human"
)

// DefaultMaxFutureSkew is how far ahead of the clock an event may be
// stamped, by default, before it is refused: enough for clocks that
// disagree a little, far too little for a timestamp typed wrong.
const DefaultMaxFutureSkew = 15 * time.Minute

// CheckClock refuses an order stamped further than maxSkew ahead of now:
// stored, such an event would win over every real update of the order until
// its time came. A negative maxSkew allows any time that Decode allows. The
// error is an *InvalidError naming the timestamp, worded the same for the
// function that dead-letters the event and for the producer that checks it
// before sending.
func CheckClock(o Order, now time.Time, maxSkew time.Duration) error {
	if maxSkew < 0 {
		return nil
	}
	if ahead := o.Timestamp.Sub(now); ahead > maxSkew {
		return &InvalidError{Code: CodeInvalidOrder, Fields: []FieldError{{
			Field:   "timestamp",
			Message: "is " + human.Duration(ahead) + " in the future, more than the allowed " + human.Duration(maxSkew),
		}}}
	}
	return nil
}

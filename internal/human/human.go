// Package human owns how numbers and durations read in sentences written
// for a person: "3 days 4 hours", not "76h0m0s"; "1,200", not "1200". It
// imports only the standard library, so the domain package (standard
// library only) may use it for its messages; that is why it does not
// depend on go-humanize for the grouping of thousands. Durations would be
// its own anyway: go-humanize says a time relative to now in one unit ("3
// days ago"), and github.com/hako/durafmt, unchanged since 2021, counts
// weeks and writes every unit unless told otherwise, where the function's
// refusal of a far-future timestamp wants the two largest units of a plain
// duration.
package human

import (
	"math"
	"strconv"
	"time"
)

// units are the steps of a duration, largest first. A year is 365 days: a
// duration has no calendar, and the figure only has to read right.
var units = []struct {
	size       time.Duration
	one, other string
}{
	{365 * 24 * time.Hour, "year", "years"},
	{24 * time.Hour, "day", "days"},
	{time.Hour, "hour", "hours"},
	{time.Minute, "minute", "minutes"},
	{time.Second, "second", "seconds"},
}

// Duration says d in its two most significant units, the second left out
// when it is zero: "72 years 10 days", "3 days 4 hours", "20 minutes 5
// seconds", "1 hour", "45 seconds". What is below the second unit is
// dropped, not rounded, so a duration never reads longer than it is. A
// duration shorter than a second is "less than a second" ("0 seconds" when
// it is zero). A negative duration is said as its size: the sentence around
// it says which way it points.
func Duration(d time.Duration) string {
	if d < 0 {
		d = -max(d, -math.MaxInt64) // the most negative duration has no positive twin
	}
	switch {
	case d == 0:
		return "0 seconds"
	case d < time.Second:
		return "less than a second"
	}
	for i, u := range units {
		if d < u.size {
			continue
		}
		s := Count(int64(d/u.size), u.one, u.other)
		if i+1 < len(units) {
			next := units[i+1]
			if n := int64(d % u.size / next.size); n > 0 {
				s += " " + Count(n, next.one, next.other)
			}
		}
		return s
	}
	return "less than a second" // not reached: d ≥ 1 s matches the last unit
}

// Count says n of a thing, in the singular or the plural as n asks, with
// the thousands grouped: "1 order", "0 orders", "1,200 orders".
func Count(n int64, one, other string) string {
	if n == 1 || n == -1 {
		return Int(n) + " " + one
	}
	return Int(n) + " " + other
}

// Int writes n with its thousands grouped by commas: 1200 is "1,200".
func Int(n int64) string {
	s := strconv.FormatInt(n, 10)
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	if len(s) <= 3 {
		return sign + s
	}
	b := make([]byte, 0, len(s)+len(s)/3)
	head := len(s) % 3
	if head == 0 {
		head = 3
	}
	b = append(b, s[:head]...)
	for i := head; i < len(s); i += 3 {
		b = append(b, ',')
		b = append(b, s[i:i+3]...)
	}
	return sign + string(b)
}

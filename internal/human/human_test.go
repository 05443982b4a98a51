package human_test

import (
	"math"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/human"
)

func TestDuration(t *testing.T) {
	const day = 24 * time.Hour
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 seconds"},
		{time.Millisecond, "less than a second"},
		{999 * time.Millisecond, "less than a second"},
		{time.Second, "1 second"},
		{1999 * time.Millisecond, "1 second"},
		{59 * time.Second, "59 seconds"},
		{60 * time.Second, "1 minute"},
		{61 * time.Second, "1 minute 1 second"},
		{62 * time.Second, "1 minute 2 seconds"},
		{20*time.Minute + 5*time.Second, "20 minutes 5 seconds"},
		{15 * time.Minute, "15 minutes"},
		{time.Hour, "1 hour"},
		{time.Hour + 59*time.Minute + 59*time.Second, "1 hour 59 minutes"},
		{25 * time.Hour, "1 day 1 hour"},
		{3*day + 4*time.Hour + 5*time.Minute, "3 days 4 hours"},
		{2 * day, "2 days"},
		{400 * day, "1 year 35 days"},
		{72 * 365 * day, "72 years"},
		{72*365*day + 10*day + 3*time.Hour, "72 years 10 days"},
		{-45 * time.Second, "45 seconds"},
		{math.MinInt64, "292 years 171 days"},
		{math.MaxInt64, "292 years 171 days"},
	} {
		if got := human.Duration(c.d); got != c.want {
			t.Errorf("Duration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestInt(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {1200, "1,200"}, {12345, "12,345"},
		{123456, "123,456"}, {1234567, "1,234,567"}, {-1200, "-1,200"}, {-999, "-999"},
		{math.MinInt64, "-9,223,372,036,854,775,808"},
	} {
		if got := human.Int(c.n); got != c.want {
			t.Errorf("Int(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 orders"}, {1, "1 order"}, {2, "2 orders"}, {2000, "2,000 orders"},
	} {
		if got := human.Count(c.n, "order", "orders"); got != c.want {
			t.Errorf("Count(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

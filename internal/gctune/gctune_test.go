package gctune

import "testing"

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 400},
		{32 << 20, 400},
		{64 << 20, 400},
		{128 << 20, 200},
		{256 << 20, 100},
		{540 << 20, 100},
		{4 << 30, 100},
	} {
		if got := Percent(c.live); got != c.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

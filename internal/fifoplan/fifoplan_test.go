package fifoplan_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/internal/fifoplan"
)

func TestSharesKeepEachGroupInOneShareInOrder(t *testing.T) {
	bodies := make([]string, 1000)
	for i := range bodies {
		bodies[i] = fmt.Sprintf(`{"orderId":"O%d"}`, i%37)
	}
	bodies[500] = "not json" // no order id: a group of its own
	shares := fifoplan.Shares(len(bodies), func(i int) string { return bodies[i] }, 4)
	if len(shares) != 4 {
		t.Fatalf("%d shares, want 4", len(shares))
	}
	owner := map[string]int{}
	seen := make([]bool, len(bodies))
	for w, share := range shares {
		last := -1
		for _, batch := range share {
			if len(batch) == 0 || len(batch) > fifoplan.BatchSize {
				t.Errorf("share %d has a batch of %d", w, len(batch))
			}
			for _, i := range batch {
				if i <= last {
					t.Errorf("share %d has event %d after %d", w, i, last)
				}
				last = i
				if seen[i] {
					t.Errorf("event %d is in two batches", i)
				}
				seen[i] = true
				g := orderflow.GroupKey([]byte(bodies[i]))
				if o, ok := owner[g]; ok && o != w {
					t.Errorf("group %s is in shares %d and %d", g, o, w)
				}
				owner[g] = w
			}
		}
	}
	if i := slices.Index(seen, false); i >= 0 {
		t.Errorf("event %d is in no batch", i)
	}
	if len(owner) != 38 {
		t.Errorf("%d groups, want 38", len(owner))
	}
	used := 0
	for _, s := range shares {
		if len(s) > 0 {
			used++
		}
	}
	if used < 3 {
		t.Errorf("only %d of 4 shares hold events: the groups are not spread", used)
	}
	if got := fifoplan.Shares(3, func(int) string { return "{}" }, 0); len(got) != 1 || len(got[0]) != 1 || len(got[0][0]) != 3 {
		t.Errorf("Shares(workers 0) = %v, want one share with one batch of 3", got)
	}
}

package ordergen_test

import (
	"errors"
	"testing"
	"time"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/internal/ordergen"
)

func TestAGenerationHasTheAskedProportionsAndSaysWhatMustBeStored(t *testing.T) {
	t.Parallel()
	b, err := ordergen.Generate(ordergen.Options{Count: 1000, Duplicates: 0.1, OutOfOrder: 0.05, Invalid: 0.05, Seed: 7, Now: time.Date(2025, 5, 3, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	c := b.Counts()
	if c[ordergen.KindNew] != 800 || c[ordergen.KindDuplicate] != 100 || c[ordergen.KindStale] != 50 || c[ordergen.KindInvalid] != 50 {
		t.Errorf("counts = %v", c)
	}
	if len(b.Final) != 800 || len(b.Invalid) != 50 {
		t.Errorf("final %d, invalid %d; want 800 and 50", len(b.Final), len(b.Invalid))
	}
	seen := map[string]orderflow.Order{}
	for i, e := range b.Events {
		o, err := orderflow.Decode([]byte(e.Body))
		switch e.Kind {
		case ordergen.KindInvalid:
			if !errors.Is(err, orderflow.ErrInvalid) {
				t.Errorf("event %d is meant to be invalid but decodes: %v", i, err)
			}
			continue
		case ordergen.KindNew:
			if _, dup := seen[e.OrderID]; dup {
				t.Errorf("event %d: a second new event for %s", i, e.OrderID)
			}
		case ordergen.KindDuplicate, ordergen.KindStale:
			held, ok := seen[e.OrderID]
			if !ok {
				t.Fatalf("event %d: a %s of %s before its first event", i, e.Kind, e.OrderID)
			}
			if e.Kind == ordergen.KindDuplicate && o != held {
				t.Errorf("event %d: a duplicate that differs", i)
			}
			if e.Kind == ordergen.KindStale && !held.Supersedes(o) {
				t.Errorf("event %d: a stale event that is not older", i)
			}
			continue
		}
		if err != nil {
			t.Fatalf("event %d is invalid: %v", i, err)
		}
		seen[e.OrderID] = o
	}
	for id, want := range b.Final {
		if seen[id] != want {
			t.Errorf("final state of %s = %+v, want the newest event %+v", id, want, seen[id])
		}
	}
}

func TestAGenerationIsDeterministic(t *testing.T) {
	t.Parallel()
	o := ordergen.Options{Count: 50, Duplicates: 0.2, Invalid: 0.1, Seed: 3, Now: time.Unix(1746273600, 0)}
	a, _ := ordergen.Generate(o)
	b, _ := ordergen.Generate(o)
	for i := range a.Events {
		if a.Events[i].Body != b.Events[i].Body {
			t.Fatalf("event %d differs between two generations with the same seed", i)
		}
	}
}

func TestAGenerationRefusesImpossibleShares(t *testing.T) {
	t.Parallel()
	for _, o := range []ordergen.Options{{Count: 10, Invalid: 1.5}, {Count: -1}, {Count: 10, Duplicates: 0.5, Invalid: 0.5}} {
		if _, err := ordergen.Generate(o); err == nil {
			t.Errorf("Generate(%+v) error = nil", o)
		}
	}
}

package engine_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
	"github.com/orderflow/orderflow/dynamodb"
)

// These run our order store (package dynamodb, the code that runs against
// AWS) against the engine: the same cases as dynamodb/table_test.go, which
// runs them against minidyn.

// counting counts the requests that reach the engine.
type counting struct {
	next http.Handler
	n    atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.next.ServeHTTP(w, r)
}

func newStore(t *testing.T) (*dynamodb.Table, *awsddb.Client, *counting) {
	t.Helper()
	h := &counting{next: engine.New()}
	c := newClient(t, h)
	if err := ordersTable(c, "Orders"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return dynamodb.New(c, "Orders"), c, h
}

var seed = orderflow.Order{
	OrderID: "O1234", UserID: "U123", ItemName: "Laptop", Quantity: 1,
	Status: orderflow.StatusNew, Timestamp: time.Date(2025, 5, 3, 12, 0, 0, 0, time.UTC),
}

func mustPut(t *testing.T, table *dynamodb.Table, o orderflow.Order) orderflow.Outcome {
	t.Helper()
	got, err := table.PutOrder(context.Background(), o)
	if err != nil {
		t.Fatalf("PutOrder(%+v) error = %v", o, err)
	}
	return got
}

func mustGet(t *testing.T, table *dynamodb.Table, id string) orderflow.Order {
	t.Helper()
	o, err := table.GetOrder(context.Background(), id)
	if err != nil {
		t.Fatalf("GetOrder(%q) error = %v", id, err)
	}
	return o
}

func TestTheStoreWritesAndReadsTheSeedOrder(t *testing.T) {
	table, _, _ := newStore(t)
	if got := mustPut(t, table, seed); got != orderflow.OutcomeStored {
		t.Fatalf("PutOrder = %s, want stored", got)
	}
	if got := mustGet(t, table, seed.OrderID); got != seed {
		t.Errorf("GetOrder = %+v, want %+v", got, seed)
	}
	if _, err := table.GetOrder(context.Background(), "nope"); !errors.Is(err, dynamodb.ErrNotFound) {
		t.Errorf("GetOrder(unknown) error = %v, want ErrNotFound", err)
	}
}

func TestTheStoreClassifiesARedeliveryFromTheFailedConditionAlone(t *testing.T) {
	table, _, h := newStore(t)
	mustPut(t, table, seed)
	before := h.n.Load()
	if got := mustPut(t, table, seed); got != orderflow.OutcomeDuplicate {
		t.Errorf("second PutOrder = %s, want duplicate", got)
	}
	// The engine returns the old item with the failed condition, so the
	// store needs no GetItem to classify it (minidyn needs one).
	if got := h.n.Load() - before; got != 1 {
		t.Errorf("requests for a duplicate = %d, want 1", got)
	}
}

func TestTheStoreKeepsTheNewerEventWhateverTheArrivalOrder(t *testing.T) {
	table, _, _ := newStore(t)
	newer := seed
	newer.Status, newer.Timestamp = orderflow.StatusShipped, seed.Timestamp.Add(time.Minute)
	mustPut(t, table, newer)
	if got := mustPut(t, table, seed); got != orderflow.OutcomeStale {
		t.Errorf("PutOrder(older) = %s, want stale", got)
	}
	if got := mustGet(t, table, seed.OrderID); got != newer {
		t.Errorf("item = %+v, want %+v", got, newer)
	}
}

func TestTheStoreEndsAtTheNewestOfConcurrentShuffledVersions(t *testing.T) {
	table, _, _ := newStore(t)
	const versions = 40
	var events []orderflow.Order
	for i := range versions {
		o := seed
		o.Quantity = i + 1
		o.Timestamp = seed.Timestamp.Add(time.Duration(i) * time.Second)
		events = append(events, o, o)
	}
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[orderflow.Outcome]int{}
		next   atomic.Int64
	)
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(events) {
					return
				}
				got, err := table.PutOrder(context.Background(), events[i])
				if err != nil {
					t.Errorf("PutOrder: %v", err)
					return
				}
				mu.Lock()
				counts[got]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got := mustGet(t, table, seed.OrderID); got.Quantity != versions {
		t.Errorf("final item is version %d, want %d", got.Quantity, versions)
	}
	if total := counts[orderflow.OutcomeStored] + counts[orderflow.OutcomeDuplicate] + counts[orderflow.OutcomeStale]; total != len(events) {
		t.Errorf("outcomes %v add up to %d, want %d", counts, total, len(events))
	}
	if counts[orderflow.OutcomeDuplicate] < 1 || counts[orderflow.OutcomeStored] < 1 {
		t.Errorf("outcomes %v: want at least one stored and one duplicate", counts)
	}
}

func TestTheUserIndexListsAUsersOrdersNewestFirst(t *testing.T) {
	table, c, _ := newStore(t)
	mustPut(t, table, seed)
	other := seed
	other.OrderID, other.Timestamp = "O9999", seed.Timestamp.Add(time.Hour)
	mustPut(t, table, other)
	out, err := c.Query(ctx, &awsddb.QueryInput{
		TableName: aws.String("Orders"), IndexName: aws.String(dynamodb.UserIndex),
		KeyConditionExpression:    aws.String("userId = :u"),
		ExpressionAttributeValues: av{":u": s("U123")},
		ScanIndexForward:          aws.Bool(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 2 {
		t.Fatalf("query returned %d items, want 2", len(out.Items))
	}
	if first, _ := dynamodb.OrderFromItem(out.Items[0]); first.OrderID != "O9999" {
		t.Errorf("newest first: got %s, want O9999", first.OrderID)
	}
}

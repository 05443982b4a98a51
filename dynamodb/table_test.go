package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/dynamodb"
	"github.com/orderflow/orderflow/handler"
	"github.com/orderflow/orderflow/internal/awstest"
)

var _ handler.Store = (*dynamodb.Table)(nil)

const tableName = "Orders"

// newTable starts a real DynamoDB API (minidyn's server) on loopback with an
// empty Orders table and returns the store, the client and the fault switch
// in front of the server.
func newTable(t *testing.T) (*dynamodb.Table, *awsddb.Client, *awstest.Fault) {
	t.Helper()
	client, f := awstest.DynamoDB(t, tableName, dynamodb.BoundedRetries)
	return dynamodb.New(client, tableName), client, f
}

var seedOrder = orderflow.Order{
	OrderID:   "O1234",
	UserID:    "U123",
	ItemName:  "Laptop",
	Quantity:  1,
	Status:    orderflow.StatusNew,
	Timestamp: time.Date(2025, 5, 3, 12, 0, 0, 0, time.UTC),
}

func put(t *testing.T, table *dynamodb.Table, o orderflow.Order) orderflow.Outcome {
	t.Helper()
	got, err := table.PutOrder(context.Background(), o)
	if err != nil {
		t.Fatalf("PutOrder(%+v) error = %v", o, err)
	}
	return got
}

func get(t *testing.T, table *dynamodb.Table, id string) orderflow.Order {
	t.Helper()
	o, err := table.GetOrder(context.Background(), id)
	if err != nil {
		t.Fatalf("GetOrder(%q) error = %v", id, err)
	}
	return o
}

func TestTheSeedOrderIsStoredWithTheRightTypes(t *testing.T) {
	t.Parallel()
	table, client, _ := newTable(t)
	if got := put(t, table, seedOrder); got != orderflow.OutcomeStored {
		t.Fatalf("PutOrder = %s, want stored", got)
	}
	out, err := client.GetItem(context.Background(), &awsddb.GetItemInput{
		TableName: aws.String(tableName),
		Key:       map[string]types.AttributeValue{"orderId": &types.AttributeValueMemberS{Value: "O1234"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]types.AttributeValue{
		"orderId":      &types.AttributeValueMemberS{Value: "O1234"},
		"userId":       &types.AttributeValueMemberS{Value: "U123"},
		"itemName":     &types.AttributeValueMemberS{Value: "Laptop"},
		"quantity":     &types.AttributeValueMemberN{Value: "1"},
		"status":       &types.AttributeValueMemberS{Value: "new"},
		"timestamp":    &types.AttributeValueMemberS{Value: "2025-05-03T12:00:00Z"},
		"eventVersion": &types.AttributeValueMemberS{Value: seedOrder.Version()},
	}
	if len(out.Item) != len(want) {
		t.Errorf("item has %d attributes, want %d: %v", len(out.Item), len(want), out.Item)
	}
	for name, w := range want {
		if fmt.Sprintf("%#v", out.Item[name]) != fmt.Sprintf("%#v", w) {
			t.Errorf("attribute %s = %#v, want %#v", name, out.Item[name], w)
		}
	}
	if got := get(t, table, "O1234"); got != seedOrder {
		t.Errorf("GetOrder = %+v, want %+v", got, seedOrder)
	}
}

func TestTheUserIndexFindsAUsersOrders(t *testing.T) {
	t.Parallel()
	table, client, _ := newTable(t)
	put(t, table, seedOrder)
	other := seedOrder
	other.OrderID, other.Timestamp = "O9999", seedOrder.Timestamp.Add(time.Hour)
	put(t, table, other)
	out, err := client.Query(context.Background(), &awsddb.QueryInput{
		TableName:                 aws.String(tableName),
		IndexName:                 aws.String(dynamodb.UserIndex),
		KeyConditionExpression:    aws.String("userId = :u"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberS{Value: "U123"}},
		ScanIndexForward:          aws.Bool(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 2 {
		t.Fatalf("query returned %d items, want 2", len(out.Items))
	}
	first, _ := dynamodb.OrderFromItem(out.Items[0])
	if first.OrderID != "O9999" {
		t.Errorf("newest first: got %s, want O9999", first.OrderID)
	}
}

func TestARedeliveryIsADuplicateNoOp(t *testing.T) {
	t.Parallel()
	table, _, f := newTable(t)
	put(t, table, seedOrder)
	before := f.Requests()
	if got := put(t, table, seedOrder); got != orderflow.OutcomeDuplicate {
		t.Errorf("second PutOrder = %s, want duplicate", got)
	}
	// The embedded engine returns the old item with the failed condition,
	// so the store needs no GetItem to classify a redelivery.
	if got := f.Requests() - before; got != 1 {
		t.Errorf("requests for a duplicate = %d, want 1", got)
	}
	if got := get(t, table, "O1234"); got != seedOrder {
		t.Errorf("item = %+v, want %+v", got, seedOrder)
	}
}

func TestAStaleEventDoesNotOverwriteANewerOne(t *testing.T) {
	t.Parallel()
	table, _, _ := newTable(t)
	newer := seedOrder
	newer.Status, newer.Timestamp = orderflow.StatusShipped, seedOrder.Timestamp.Add(time.Minute)
	if got := put(t, table, newer); got != orderflow.OutcomeStored {
		t.Fatalf("PutOrder(newer) = %s", got)
	}
	if got := put(t, table, seedOrder); got != orderflow.OutcomeStale {
		t.Errorf("PutOrder(older) = %s, want stale", got)
	}
	if got := get(t, table, "O1234"); got != newer {
		t.Errorf("item = %+v, want the newer %+v", got, newer)
	}
	newest := newer
	newest.Status, newest.Timestamp = orderflow.StatusDelivered, newer.Timestamp.Add(time.Minute)
	if got := put(t, table, newest); got != orderflow.OutcomeStored {
		t.Errorf("PutOrder(newest) = %s, want stored", got)
	}
}

func TestTiesAreResolvedTheSameWayWhateverTheArrivalOrder(t *testing.T) {
	t.Parallel()
	a, b := seedOrder, seedOrder
	a.Quantity, b.Quantity = 1, 2 // same timestamp, same status, different content
	winner := a
	if b.Supersedes(a) {
		winner = b
	}
	for _, order := range [][]orderflow.Order{{a, b}, {b, a}} {
		table, _, _ := newTable(t)
		for _, o := range order {
			put(t, table, o)
		}
		if got := get(t, table, "O1234"); got != winner {
			t.Errorf("arrival %d then %d: item quantity %d, want %d", order[0].Quantity, order[1].Quantity, got.Quantity, winner.Quantity)
		}
	}
}

func TestConcurrentShuffledVersionsEndAtTheNewest(t *testing.T) {
	t.Parallel()
	table, _, _ := newTable(t)
	const versions = 40
	var events []orderflow.Order
	for i := range versions {
		o := seedOrder
		o.Quantity = i + 1
		o.Timestamp = seedOrder.Timestamp.Add(time.Duration(i) * time.Second)
		events = append(events, o, o) // every event twice: redeliveries
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
	if got := get(t, table, "O1234"); got.Quantity != versions {
		t.Errorf("final item is version %d, want %d", got.Quantity, versions)
	}
	if counts[orderflow.OutcomeDuplicate] < 1 || counts[orderflow.OutcomeStored] < 1 {
		t.Errorf("outcomes %v: want at least one stored and one duplicate", counts)
	}
	if total := counts[orderflow.OutcomeStored] + counts[orderflow.OutcomeDuplicate] + counts[orderflow.OutcomeStale]; total != len(events) {
		t.Errorf("outcomes %v add up to %d, want %d", counts, total, len(events))
	}
}

func TestAnInjectedDynamoDBFailureIsAnErrorAfterBoundedRetries(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status int
		code   string
	}{{http.StatusBadRequest, "ThrottlingException"}, {http.StatusInternalServerError, "InternalServerError"}} {
		t.Run(tt.code, func(t *testing.T) {
			table, _, f := newTable(t)
			f.Set(tt.status, tt.code)
			before := f.Requests()
			_, err := table.PutOrder(context.Background(), seedOrder)
			if err == nil {
				t.Fatal("PutOrder error = nil during an injected fault")
			}
			if got := f.Requests() - before; got != 3 {
				t.Errorf("requests during the fault = %d, want 3 (bounded retries)", got)
			}
			f.Clear()
			if _, err := table.GetOrder(context.Background(), "O1234"); !errors.Is(err, dynamodb.ErrNotFound) {
				t.Errorf("after the failed write GetOrder error = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestPutOrderRefusesAnInvalidOrder(t *testing.T) {
	t.Parallel()
	table, _, f := newTable(t)
	before := f.Requests()
	_, err := table.PutOrder(context.Background(), orderflow.Order{OrderID: "O1"})
	if !errors.Is(err, orderflow.ErrInvalid) {
		t.Errorf("PutOrder error = %v, want ErrInvalid", err)
	}
	if f.Requests() != before {
		t.Errorf("an invalid order reached DynamoDB")
	}
}

func TestGetOrderOfAnUnknownIDIsNotFound(t *testing.T) {
	t.Parallel()
	table, _, _ := newTable(t)
	if _, err := table.GetOrder(context.Background(), "nope"); !errors.Is(err, dynamodb.ErrNotFound) {
		t.Errorf("GetOrder error = %v, want ErrNotFound", err)
	}
}

// forgetful drops the item from failed-condition errors, as an endpoint that
// ignores ReturnValuesOnConditionCheckFailure would.
type forgetful struct{ *awsddb.Client }

func (f forgetful) PutItem(ctx context.Context, in *awsddb.PutItemInput, opts ...func(*awsddb.Options)) (*awsddb.PutItemOutput, error) {
	out, err := f.Client.PutItem(ctx, in, opts...)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		ccf.Item = nil
	}
	return out, err
}

func TestOutcomesAreClassifiedWithoutTheItemInTheError(t *testing.T) {
	t.Parallel()
	_, client, _ := newTable(t)
	table := dynamodb.New(forgetful{client}, tableName)
	newer := seedOrder
	newer.Timestamp = seedOrder.Timestamp.Add(time.Second)
	for _, step := range []struct {
		o    orderflow.Order
		want orderflow.Outcome
	}{{newer, orderflow.OutcomeStored}, {newer, orderflow.OutcomeDuplicate}, {seedOrder, orderflow.OutcomeStale}} {
		if got := put(t, table, step.o); got != step.want {
			t.Errorf("PutOrder = %s, want %s", got, step.want)
		}
	}
}

// Package dynamodb stores orders in a DynamoDB table over aws-sdk-go-v2. It is
// the function's only code that talks to DynamoDB, and it runs unchanged against AWS and
// against the embedded cloud: only the client's endpoint differs.
//
// Each order is one item keyed by orderId. A write is one conditional
// PutItem that succeeds only if the table holds nothing for the order or an
// older event (orderflow.Order.Version), so redeliveries and out-of-order
// events cannot change the final state.
package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow"
)

// The attribute names of an order item. The six order fields keep their JSON
// names; AttrVersion holds orderflow.Order.Version, which the conditional
// write compares.
const (
	AttrOrderID   = "orderId"
	AttrUserID    = "userId"
	AttrItemName  = "itemName"
	AttrQuantity  = "quantity"
	AttrStatus    = "status"
	AttrTimestamp = "timestamp"
	AttrVersion   = "eventVersion"
)

// UserIndex is the global secondary index of a user's orders: partition key
// userId, sort key timestamp.
const UserIndex = "UserOrders"

// ErrNotFound is returned when the table holds no item for an order id.
var ErrNotFound = errors.New("order not found")

// API is the part of the DynamoDB client the store uses.
type API interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Table is the Orders table.
type Table struct {
	api  API
	name string
}

// New returns the store for the table called name.
func New(api API, name string) *Table {
	return &Table{api: api, name: name}
}

// BoundedRetries is a client option that keeps the SDK's retries short: at
// most 3 attempts with at most 500 ms between them, so that a throttled write
// fails within the function's timeout and is retried by SQS (after the
// visibility timeout, with its receive count) rather than by a client that
// may be cut off by the Lambda timeout mid-retry.
func BoundedRetries(o *dynamodb.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 3
		so.MaxBackoff = 500 * time.Millisecond
	})
}

// conditionNewer admits the write when the table holds nothing for the order,
// an item written without a version, or an older event.
const conditionNewer = "attribute_not_exists(#id) OR attribute_not_exists(#v) OR #v < :v"

// maxRaces bounds how often PutOrder retries after another writer changed the
// item between its failed condition and its reading of the item.
const maxRaces = 3

// PutOrder writes o unless the table holds o itself (OutcomeDuplicate) or a
// newer event (OutcomeStale). An error means the write may not have happened;
// it is not a failed condition.
func (t *Table) PutOrder(ctx context.Context, o orderflow.Order) (orderflow.Outcome, error) {
	if err := o.Validate(); err != nil {
		return "", fmt.Errorf("dynamodb: put order %q: %w", o.OrderID, err)
	}
	version := o.Version()
	in := t.putInput(o, version)
	for range maxRaces {
		_, err := t.api.PutItem(ctx, in)
		if err == nil {
			return orderflow.OutcomeStored, nil
		}
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return "", fmt.Errorf("dynamodb: put order %q into %s: %w", o.OrderID, t.name, err)
		}
		held, ok := stringAttr(ccf.Item, AttrVersion)
		if !ok { // an endpoint that ignores ReturnValuesOnConditionCheckFailure
			if held, err = t.heldVersion(ctx, o.OrderID); err != nil {
				return "", err
			}
		}
		switch {
		case held == version:
			return orderflow.OutcomeDuplicate, nil
		case held > version:
			return orderflow.OutcomeStale, nil
		}
		// The item changed (or vanished) since the condition was evaluated:
		// evaluate it again.
	}
	return "", fmt.Errorf("dynamodb: put order %q into %s: the item kept changing during %d attempts", o.OrderID, t.name, maxRaces)
}

// putInput builds the conditional write of o, whose version is version.
func (t *Table) putInput(o orderflow.Order, version string) *dynamodb.PutItemInput {
	return &dynamodb.PutItemInput{
		TableName:                           aws.String(t.name),
		Item:                                item(o, version),
		ConditionExpression:                 aws.String(conditionNewer),
		ExpressionAttributeNames:            map[string]string{"#id": AttrOrderID, "#v": AttrVersion},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: version}},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// heldVersion reads the version the table holds for id, "" if none.
func (t *Table) heldVersion(ctx context.Context, id string) (string, error) {
	out, err := t.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(t.name),
		Key:                      key(id),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#v"),
		ExpressionAttributeNames: map[string]string{"#v": AttrVersion},
	})
	if err != nil {
		return "", fmt.Errorf("dynamodb: read order %q from %s: %w", id, t.name, err)
	}
	v, _ := stringAttr(out.Item, AttrVersion)
	return v, nil
}

// GetOrder reads the order stored for id with a strongly consistent read.
func (t *Table) GetOrder(ctx context.Context, id string) (orderflow.Order, error) {
	out, err := t.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(t.name),
		Key:            key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return orderflow.Order{}, fmt.Errorf("dynamodb: get order %q from %s: %w", id, t.name, err)
	}
	if out.Item == nil {
		return orderflow.Order{}, fmt.Errorf("dynamodb: get order %q from %s: %w", id, t.name, ErrNotFound)
	}
	o, err := OrderFromItem(out.Item)
	if err != nil {
		return orderflow.Order{}, fmt.Errorf("dynamodb: get order %q from %s: %w", id, t.name, err)
	}
	return o, nil
}

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrOrderID: &types.AttributeValueMemberS{Value: id}}
}

// Item returns the DynamoDB item for o: the six fields with their natural
// types (quantity a number, the rest strings) and the event version.
func Item(o orderflow.Order) map[string]types.AttributeValue {
	return item(o, o.Version())
}

func item(o orderflow.Order, version string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrOrderID:   &types.AttributeValueMemberS{Value: o.OrderID},
		AttrUserID:    &types.AttributeValueMemberS{Value: o.UserID},
		AttrItemName:  &types.AttributeValueMemberS{Value: o.ItemName},
		AttrQuantity:  &types.AttributeValueMemberN{Value: strconv.Itoa(o.Quantity)},
		AttrStatus:    &types.AttributeValueMemberS{Value: string(o.Status)},
		AttrTimestamp: &types.AttributeValueMemberS{Value: o.TimestampString()},
		AttrVersion:   &types.AttributeValueMemberS{Value: version},
	}
}

// OrderFromItem reads an order item back, validating it as an event would be.
func OrderFromItem(item map[string]types.AttributeValue) (orderflow.Order, error) {
	var o orderflow.Order
	var missing []string
	str := func(name string) string {
		v, ok := stringAttr(item, name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	}
	o.OrderID = str(AttrOrderID)
	o.UserID = str(AttrUserID)
	o.ItemName = str(AttrItemName)
	o.Status = orderflow.Status(str(AttrStatus))
	ts := str(AttrTimestamp)
	if n, ok := item[AttrQuantity].(*types.AttributeValueMemberN); ok {
		q, err := strconv.Atoi(n.Value)
		if err != nil {
			return o, fmt.Errorf("item attribute %s is %q, not an integer", AttrQuantity, n.Value)
		}
		o.Quantity = q
	} else {
		missing = append(missing, AttrQuantity)
	}
	if missing != nil {
		return o, fmt.Errorf("item lacks the attributes %v or holds them with the wrong type", missing)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return o, fmt.Errorf("item attribute %s: %w", AttrTimestamp, err)
	}
	o.Timestamp = t.UTC()
	if err := o.Validate(); err != nil {
		return o, fmt.Errorf("stored item: %w", err)
	}
	return o, nil
}

func stringAttr(item map[string]types.AttributeValue, name string) (string, bool) {
	s, ok := item[name].(*types.AttributeValueMemberS)
	if !ok {
		return "", false
	}
	return s.Value, true
}

package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
)

// legacyMsg renders err as "Code: message", or "ok" for nil.
func legacyMsg(err error) string {
	if err == nil {
		return "ok"
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	return "transport error: " + err.Error()
}

// sks lists the sort keys of items, in order.
func sks(items []av) string {
	var out []string
	for _, it := range items {
		if v, ok := it["sk"].(*types.AttributeValueMemberS); ok {
			out = append(out, v.Value)
		} else {
			out = append(out, "?")
		}
	}
	return strings.Join(out, " ")
}

func cond(op types.ComparisonOperator, vs ...types.AttributeValue) types.Condition {
	return types.Condition{ComparisonOperator: op, AttributeValueList: vs}
}

// legacyEvents creates the Events table with five items under pk "p".
func legacyEvents(t *testing.T, c *awsddb.Client) {
	t.Helper()
	if err := eventsTable(c, "Events", types.ScalarAttributeTypeS); err != nil {
		t.Fatal(err)
	}
	for _, it := range []av{
		{"pk": s("p"), "sk": s("a1"), "n": n("1"), "tags": &types.AttributeValueMemberSS{Value: []string{"red", "blue"}}, "note": s("first")},
		{"pk": s("p"), "sk": s("a2"), "n": n("2"), "tags": &types.AttributeValueMemberSS{Value: []string{"red"}}},
		{"pk": s("p"), "sk": s("b1"), "n": n("3"), "note": s("third")},
		{"pk": s("p"), "sk": s("b2"), "n": n("4"), "note": s("fourth")},
		{"pk": s("p"), "sk": s("c1"), "n": s("five")},
		{"pk": s("q"), "sk": s("a1"), "n": n("9")},
	} {
		if err := put(c, "Events", it); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLegacyKeyConditions(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		legacyEvents(t, c)
		pk := cond(types.ComparisonOperatorEq, s("p"))
		cases := []struct {
			name string
			sk   *types.Condition
			want string
		}{
			{"hash only", nil, "a1 a2 b1 b2 c1"},
			{"EQ", &types.Condition{ComparisonOperator: types.ComparisonOperatorEq, AttributeValueList: []types.AttributeValue{s("b1")}}, "b1"},
			{"LE", ptr(cond(types.ComparisonOperatorLe, s("b1"))), "a1 a2 b1"},
			{"LT", ptr(cond(types.ComparisonOperatorLt, s("b1"))), "a1 a2"},
			{"GE", ptr(cond(types.ComparisonOperatorGe, s("b2"))), "b2 c1"},
			{"GT", ptr(cond(types.ComparisonOperatorGt, s("b2"))), "c1"},
			{"BEGINS_WITH", ptr(cond(types.ComparisonOperatorBeginsWith, s("b"))), "b1 b2"},
			{"BETWEEN", ptr(cond(types.ComparisonOperatorBetween, s("a2"), s("b2"))), "a2 b1 b2"},
		}
		for _, tc := range cases {
			kc := map[string]types.Condition{"pk": pk}
			if tc.sk != nil {
				kc["sk"] = *tc.sk
			}
			out, err := c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("Events"), KeyConditions: kc})
			if err != nil {
				t.Errorf("%s: %s", tc.name, legacyMsg(err))
				continue
			}
			if got := sks(out.Items); got != tc.want {
				t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
			}
		}
		// Descending, with AttributesToGet as the projection.
		out, err := c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("Events"), ScanIndexForward: aws.Bool(false),
			KeyConditions:   map[string]types.Condition{"pk": pk, "sk": cond(types.ComparisonOperatorBeginsWith, s("a"))},
			AttributesToGet: []string{"sk", "note"}})
		if err != nil {
			t.Fatal(legacyMsg(err))
		}
		if got := renderItems(out.Items, false); got != renderItems([]av{{"sk": s("a2")}, {"sk": s("a1"), "note": s("first")}}, false) {
			t.Errorf("AttributesToGet: got %s", got)
		}
		// On an index.
		out, err = c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("Events"), IndexName: aws.String("ByRank"),
			KeyConditions: map[string]types.Condition{"pk": cond(types.ComparisonOperatorEq, s("q"))}})
		if err != nil || len(out.Items) != 0 {
			t.Errorf("index query: %s %d items", legacyMsg(err), len(out.Items))
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestLegacyAttributesToGet(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		legacyEvents(t, c)
		key := av{"pk": s("p"), "sk": s("a1")}
		got, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Events"), Key: key, AttributesToGet: []string{"note", "missing", "n"}})
		if err != nil {
			t.Fatal(legacyMsg(err))
		}
		if r, want := renderItem(got.Item), renderItem(av{"note": s("first"), "n": n("1")}); r != want {
			t.Errorf("GetItem: got %s, want %s", r, want)
		}
		sc, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Events"), AttributesToGet: []string{"note"},
			ScanFilter: map[string]types.Condition{"note": cond(types.ComparisonOperatorNotNull)}})
		if err != nil {
			t.Fatal(legacyMsg(err))
		}
		if r, want := renderItems(sc.Items, true), renderItems([]av{{"note": s("first")}, {"note": s("third")}, {"note": s("fourth")}}, true); r != want {
			t.Errorf("Scan: got %s, want %s", r, want)
		}
		bg, err := c.BatchGetItem(ctx, &awsddb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			"Events": {Keys: []av{key, {"pk": s("p"), "sk": s("b1")}}, AttributesToGet: []string{"sk"}}}})
		if err != nil {
			t.Fatal(legacyMsg(err))
		}
		if r, want := renderItems(bg.Responses["Events"], true), renderItems([]av{{"sk": s("a1")}, {"sk": s("b1")}}, true); r != want {
			t.Errorf("BatchGetItem: got %s, want %s", r, want)
		}
	})
}

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

// legacyEvents creates the Events table: five items under pk "p", one
// under "q", one under "r" with odd attribute names.
func legacyEvents(t *testing.T, c *awsddb.Client) {
	t.Helper()
	if err := eventsTable(c, "Events", types.ScalarAttributeTypeS); err != nil {
		t.Fatal(err)
	}
	for _, it := range []av{
		{"pk": s("p"), "sk": s("a1"), "n": n("1"), "word": s("first"), "tags": &types.AttributeValueMemberSS{Value: []string{"red", "blue"}}, "note": s("x")},
		{"pk": s("p"), "sk": s("a2"), "n": n("2"), "word": s("second"), "tags": &types.AttributeValueMemberSS{Value: []string{"red"}}},
		{"pk": s("p"), "sk": s("b1"), "n": n("3"), "word": s("third"), "tags": &types.AttributeValueMemberSS{Value: []string{"green"}}, "note": s("y")},
		{"pk": s("p"), "sk": s("b2"), "n": n("4"), "word": s("fourth"), "tags": &types.AttributeValueMemberSS{Value: []string{"green"}}, "note": s("z")},
		{"pk": s("p"), "sk": s("c1"), "n": n("5"), "word": s("fifth"), "tags": &types.AttributeValueMemberSS{Value: []string{"red"}}},
		{"pk": s("q"), "sk": s("a1"), "n": n("9"), "word": s("ninth"), "tags": &types.AttributeValueMemberSS{Value: []string{"red"}}},
		{"pk": s("r"), "sk": s("x"), "n": n("0"), "word": s("zero"), "tags": &types.AttributeValueMemberSS{Value: []string{"red"}}, "a.b": s("dotted"), "size": n("7"), "#h": s("hash")},
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
		if got := renderItems(out.Items, false); got != renderItems([]av{{"sk": s("a2")}, {"sk": s("a1"), "note": s("x")}}, false) {
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
		if r, want := renderItem(got.Item), renderItem(av{"note": s("x"), "n": n("1")}); r != want {
			t.Errorf("GetItem: got %s, want %s", r, want)
		}
		sc, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Events"), AttributesToGet: []string{"note"},
			ScanFilter: map[string]types.Condition{"note": cond(types.ComparisonOperatorNotNull)}})
		if err != nil {
			t.Fatal(legacyMsg(err))
		}
		if r, want := renderItems(sc.Items, true), renderItems([]av{{"note": s("x")}, {"note": s("y")}, {"note": s("z")}}, true); r != want {
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

// keysOf lists items as pk/sk, sorted.
func keysOf(items []av) string {
	var out []string
	for _, it := range items {
		pk, _ := it["pk"].(*types.AttributeValueMemberS)
		sk, _ := it["sk"].(*types.AttributeValueMemberS)
		if pk == nil || sk == nil {
			out = append(out, "?")
			continue
		}
		out = append(out, pk.Value+"/"+sk.Value)
	}
	sortStrings(out)
	return strings.Join(out, " ")
}

func sortStrings(v []string) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

func TestLegacyFilters(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		legacyEvents(t, c)
		f := func(attr string, op types.ComparisonOperator, vs ...types.AttributeValue) map[string]types.Condition {
			return map[string]types.Condition{attr: cond(op, vs...)}
		}
		cases := []struct {
			name   string
			filter map[string]types.Condition
			op     types.ConditionalOperator
			want   string
		}{
			{"EQ", f("n", types.ComparisonOperatorEq, n("3")), "", "p/b1"},
			{"NE", f("n", types.ComparisonOperatorNe, n("3")), "", "p/a1 p/a2 p/b2 p/c1 q/a1 r/x"},
			{"LE", f("n", types.ComparisonOperatorLe, n("2")), "", "p/a1 p/a2 r/x"},
			{"LT", f("n", types.ComparisonOperatorLt, n("2")), "", "p/a1 r/x"},
			{"GE", f("n", types.ComparisonOperatorGe, n("4")), "", "p/b2 p/c1 q/a1"},
			{"GT", f("n", types.ComparisonOperatorGt, n("4")), "", "p/c1 q/a1"},
			{"NOT_NULL", f("note", types.ComparisonOperatorNotNull), "", "p/a1 p/b1 p/b2"},
			{"NULL", f("note", types.ComparisonOperatorNull), "", "p/a2 p/c1 q/a1 r/x"},
			{"CONTAINS in a set", f("tags", types.ComparisonOperatorContains, s("blue")), "", "p/a1"},
			{"CONTAINS in a string", f("word", types.ComparisonOperatorContains, s("ir")), "", "p/a1 p/b1"},
			{"NOT_CONTAINS", f("tags", types.ComparisonOperatorNotContains, s("blue")), "", "p/a2 p/b1 p/b2 p/c1 q/a1 r/x"},
			{"BEGINS_WITH", f("word", types.ComparisonOperatorBeginsWith, s("f")), "", "p/a1 p/b2 p/c1"},
			{"IN", f("n", types.ComparisonOperatorIn, n("1"), n("4"), n("9")), "", "p/a1 p/b2 q/a1"},
			{"BETWEEN", f("n", types.ComparisonOperatorBetween, n("2"), n("3")), "", "p/a2 p/b1"},
			{"AND by default", map[string]types.Condition{"n": cond(types.ComparisonOperatorLe, n("3")), "note": cond(types.ComparisonOperatorNotNull)}, "", "p/a1 p/b1"},
			{"AND", map[string]types.Condition{"n": cond(types.ComparisonOperatorLe, n("3")), "note": cond(types.ComparisonOperatorNotNull)}, types.ConditionalOperatorAnd, "p/a1 p/b1"},
			{"OR", map[string]types.Condition{"n": cond(types.ComparisonOperatorEq, n("1")), "word": cond(types.ComparisonOperatorEq, s("third"))}, types.ConditionalOperatorOr, "p/a1 p/b1"},
			// Names are names, never expression syntax.
			{"a dotted name", f("a.b", types.ComparisonOperatorEq, s("dotted")), "", "r/x"},
			{"a reserved word", f("size", types.ComparisonOperatorGt, n("6")), "", "r/x"},
			{"a placeholder-like name", f("#h", types.ComparisonOperatorEq, s("hash")), "", "r/x"},
		}
		for _, tc := range cases {
			out, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Events"), ScanFilter: tc.filter, ConditionalOperator: tc.op})
			if err != nil {
				t.Errorf("%s: %s", tc.name, legacyMsg(err))
				continue
			}
			if got := keysOf(out.Items); got != tc.want {
				t.Errorf("ScanFilter %s: got %q, want %q", tc.name, got, tc.want)
			}
		}
		out, err := c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("Events"),
			KeyConditions:       map[string]types.Condition{"pk": cond(types.ComparisonOperatorEq, s("p"))},
			QueryFilter:         map[string]types.Condition{"n": cond(types.ComparisonOperatorGt, n("3")), "word": cond(types.ComparisonOperatorBeginsWith, s("s"))},
			ConditionalOperator: types.ConditionalOperatorOr,
		})
		if err != nil {
			t.Fatal(legacyMsg(err))
		}
		if got := sks(out.Items); got != "a2 b2 c1" {
			t.Errorf("QueryFilter with OR: got %q", got)
		}
		if aws.ToInt32(&out.ScannedCount) != 5 || out.Count != 3 {
			t.Errorf("QueryFilter: Count %d ScannedCount %d, want 3 and 5", out.Count, out.ScannedCount)
		}
	})
}

func TestLegacyReadRefusals(t *testing.T) {
	e := engine.New()
	c := newClient(t, e)
	legacyEvents(t, c)
	pk := map[string]types.Condition{"pk": cond(types.ComparisonOperatorEq, s("p"))}
	query := func(in awsddb.QueryInput) string {
		in.TableName = aws.String("Events")
		_, err := c.Query(ctx, &in)
		return legacyMsg(err)
	}
	scan := func(in awsddb.ScanInput) string {
		in.TableName = aws.String("Events")
		_, err := c.Scan(ctx, &in)
		return legacyMsg(err)
	}
	const mixed = "ValidationException: Can not use both expression and non-expression parameters in the same request: "
	const invalid = "ValidationException: One or more parameter values were invalid: "
	cases := []struct{ name, got, want string }{
		{"KeyConditions with KeyConditionExpression",
			query(awsddb.QueryInput{KeyConditions: pk, KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: av{":p": s("p")}}),
			mixed + "Non-expression parameters: {KeyConditions} Expression parameters: {KeyConditionExpression}"},
		{"KeyConditions with FilterExpression",
			query(awsddb.QueryInput{KeyConditions: pk, FilterExpression: aws.String("attribute_exists(n)")}),
			mixed + "Non-expression parameters: {KeyConditions} Expression parameters: {FilterExpression}"},
		{"QueryFilter with KeyConditionExpression",
			query(awsddb.QueryInput{KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: av{":p": s("p")}, QueryFilter: map[string]types.Condition{"n": cond(types.ComparisonOperatorNotNull)}}),
			mixed + "Non-expression parameters: {QueryFilter} Expression parameters: {KeyConditionExpression}"},
		{"ScanFilter with FilterExpression",
			scan(awsddb.ScanInput{ScanFilter: map[string]types.Condition{"n": cond(types.ComparisonOperatorNotNull)}, FilterExpression: aws.String("attribute_exists(n)")}),
			mixed + "Non-expression parameters: {ScanFilter} Expression parameters: {FilterExpression}"},
		{"ConditionalOperator with FilterExpression",
			scan(awsddb.ScanInput{ConditionalOperator: types.ConditionalOperatorOr, FilterExpression: aws.String("attribute_exists(n)")}),
			mixed + "Non-expression parameters: {ConditionalOperator} Expression parameters: {FilterExpression}"},
		{"KeyConditions with expression attribute values",
			query(awsddb.QueryInput{KeyConditions: pk, ExpressionAttributeValues: av{":p": s("p")}}),
			"ValidationException: ExpressionAttributeValues can only be specified when using expressions"},
		{"ScanFilter with expression attribute names",
			scan(awsddb.ScanInput{ScanFilter: map[string]types.Condition{"n": cond(types.ComparisonOperatorNotNull)}, ExpressionAttributeNames: map[string]string{"#n": "n"}}),
			"ValidationException: ExpressionAttributeNames can only be specified when using expressions"},
		{"EQ with no value", scan(awsddb.ScanInput{ScanFilter: map[string]types.Condition{"n": cond(types.ComparisonOperatorEq)}}),
			invalid + "Invalid number of argument(s) for the EQ ComparisonOperator"},
		{"LT with two values", scan(awsddb.ScanInput{ScanFilter: map[string]types.Condition{"n": cond(types.ComparisonOperatorLt, n("1"), n("2"))}}),
			invalid + "Invalid number of argument(s) for the LT ComparisonOperator"},
		{"NULL with a value", scan(awsddb.ScanInput{ScanFilter: map[string]types.Condition{"n": cond(types.ComparisonOperatorNull, n("1"))}}),
			invalid + "Invalid number of argument(s) for the NULL ComparisonOperator"},
		{"NOT_NULL with a value", scan(awsddb.ScanInput{ScanFilter: map[string]types.Condition{"n": cond(types.ComparisonOperatorNotNull, n("1"))}}),
			invalid + "Invalid number of argument(s) for the NOT_NULL ComparisonOperator"},
		{"IN with no value", scan(awsddb.ScanInput{ScanFilter: map[string]types.Condition{"n": cond(types.ComparisonOperatorIn)}}),
			invalid + "Invalid number of argument(s) for the IN ComparisonOperator"},
		{"BETWEEN with one value", query(awsddb.QueryInput{KeyConditions: map[string]types.Condition{"pk": pk["pk"], "sk": cond(types.ComparisonOperatorBetween, s("a"))}}),
			invalid + "Invalid number of argument(s) for the BETWEEN ComparisonOperator"},
		{"a key condition no index can answer", query(awsddb.QueryInput{KeyConditions: map[string]types.Condition{"pk": pk["pk"], "sk": cond(types.ComparisonOperatorContains, s("a"))}}),
			"ValidationException: Attempted conditional constraint is not an indexable operation"},
		{"an unknown ComparisonOperator", scan(awsddb.ScanInput{ScanFilter: map[string]types.Condition{"n": cond("LIKE", s("a"))}}),
			"ValidationException: 1 validation error detected: Value 'LIKE' at 'scanFilter.n.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"},
		{"an unknown ConditionalOperator", scan(awsddb.ScanInput{ScanFilter: map[string]types.Condition{"n": cond(types.ComparisonOperatorNotNull)}, ConditionalOperator: "XOR"}),
			"ValidationException: 1 validation error detected: Value 'XOR' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [AND, OR]"},
		{"AttributesToGet with ProjectionExpression",
			scan(awsddb.ScanInput{AttributesToGet: []string{"n"}, ProjectionExpression: aws.String("n")}),
			mixed + "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, tc.got, tc.want)
		}
	}
}

func exp(v types.AttributeValue) types.ExpectedAttributeValue {
	return types.ExpectedAttributeValue{Value: v}
}

func TestLegacyExpected(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		if err := ordersTable(c, "Orders"); err != nil {
			t.Fatal(err)
		}
		if err := put(c, "Orders", av{"orderId": s("O1"), "v": n("1"), "status": s("new")}); err != nil {
			t.Fatal(err)
		}
		var tr transcript
		putIf := func(what string, id string, ex map[string]types.ExpectedAttributeValue, op types.ConditionalOperator) {
			_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: av{"orderId": s(id), "v": n("2"), "status": s("new")}, Expected: ex, ConditionalOperator: op})
			tr.add("put %s: %s", what, renderErrorOrOK(err))
		}
		putIf("Value matches", "O1", map[string]types.ExpectedAttributeValue{"v": exp(n("1"))}, "")
		putIf("Value differs", "O1", map[string]types.ExpectedAttributeValue{"v": exp(n("1"))}, "")
		putIf("Exists true and Value", "O1", map[string]types.ExpectedAttributeValue{"v": {Value: n("2"), Exists: aws.Bool(true)}}, "")
		putIf("Exists false on a new item", "O2", map[string]types.ExpectedAttributeValue{"orderId": {Exists: aws.Bool(false)}}, "")
		putIf("Exists false on an existing item", "O2", map[string]types.ExpectedAttributeValue{"orderId": {Exists: aws.Bool(false)}}, "")
		putIf("GT", "O1", map[string]types.ExpectedAttributeValue{"v": {ComparisonOperator: types.ComparisonOperatorGt, AttributeValueList: []types.AttributeValue{n("1")}}}, "")
		putIf("Value with a ComparisonOperator", "O1", map[string]types.ExpectedAttributeValue{"v": {ComparisonOperator: types.ComparisonOperatorNe, Value: n("2")}}, "")
		putIf("IN", "O1", map[string]types.ExpectedAttributeValue{"status": {ComparisonOperator: types.ComparisonOperatorIn, AttributeValueList: []types.AttributeValue{s("paid"), s("new")}}}, "")
		putIf("AND of a true and a false", "O1", map[string]types.ExpectedAttributeValue{"v": exp(n("2")), "missing": {ComparisonOperator: types.ComparisonOperatorNotNull}}, "")
		putIf("OR of a true and a false", "O1", map[string]types.ExpectedAttributeValue{"v": exp(n("2")), "missing": {ComparisonOperator: types.ComparisonOperatorNotNull}}, types.ConditionalOperatorOr)
		putIf("NULL", "O1", map[string]types.ExpectedAttributeValue{"missing": {ComparisonOperator: types.ComparisonOperatorNull}}, "")
		putIf("an odd attribute name", "O1", map[string]types.ExpectedAttributeValue{":v) OR (attribute_exists(orderId": {ComparisonOperator: types.ComparisonOperatorNotNull}}, "")

		del := func(what string, ex map[string]types.ExpectedAttributeValue) {
			_, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("O2")}, Expected: ex})
			tr.add("delete %s: %s", what, renderErrorOrOK(err))
		}
		del("Value differs", map[string]types.ExpectedAttributeValue{"v": exp(n("3"))})
		del("BETWEEN", map[string]types.ExpectedAttributeValue{"v": {ComparisonOperator: types.ComparisonOperatorBetween, AttributeValueList: []types.AttributeValue{n("1"), n("3")}}})
		g, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("O2")}})
		tr.add("O2 after the delete: %s %d", renderErrorOrOK(err), len(g.Item))

		want := `put Value matches: ok
put Value differs: ConditionalCheckFailedException
put Exists true and Value: ok
put Exists false on a new item: ok
put Exists false on an existing item: ConditionalCheckFailedException
put GT: ok
put Value with a ComparisonOperator: ConditionalCheckFailedException
put IN: ok
put AND of a true and a false: ConditionalCheckFailedException
put OR of a true and a false: ok
put NULL: ok
put an odd attribute name: ConditionalCheckFailedException
delete Value differs: ConditionalCheckFailedException
delete BETWEEN: ok
O2 after the delete: ok 0`
		if got := tr.String(); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	})
}

func renderErrorOrOK(err error) string {
	if err == nil {
		return "ok"
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return "ConditionalCheckFailedException"
	}
	return legacyMsg(err)
}

func TestLegacyAttributeUpdates(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		if err := ordersTable(c, "Orders"); err != nil {
			t.Fatal(err)
		}
		key := av{"orderId": s("O1")}
		update := func(u map[string]types.AttributeValueUpdate, ex map[string]types.ExpectedAttributeValue) (av, error) {
			out, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("Orders"), Key: key, AttributeUpdates: u, Expected: ex, ReturnValues: types.ReturnValueAllNew})
			if err != nil {
				return nil, err
			}
			return out.Attributes, nil
		}
		ss := func(v ...string) types.AttributeValue { return &types.AttributeValueMemberSS{Value: v} }
		list := func(v ...types.AttributeValue) types.AttributeValue { return &types.AttributeValueMemberL{Value: v} }
		// Creates the item: PUT (the default action), ADD to nothing.
		got, err := update(map[string]types.AttributeValueUpdate{
			"status": {Value: s("new")},
			"count":  {Action: types.AttributeActionAdd, Value: n("5")},
			"tags":   {Action: types.AttributeActionAdd, Value: ss("a", "b")},
			"log":    {Action: types.AttributeActionAdd, Value: list(s("created"))},
			"a.b":    {Action: types.AttributeActionPut, Value: s("dotted")},
		}, map[string]types.ExpectedAttributeValue{"orderId": {Exists: aws.Bool(false)}})
		if err != nil {
			t.Fatal(legacyMsg(err))
		}
		want := av{"orderId": s("O1"), "status": s("new"), "count": n("5"), "tags": ss("a", "b"), "log": list(s("created")), "a.b": s("dotted")}
		if renderItem(got) != renderItem(want) {
			t.Errorf("first update: got %s\nwant %s", renderItem(got), renderItem(want))
		}
		got, err = update(map[string]types.AttributeValueUpdate{
			"status": {Action: types.AttributeActionPut, Value: s("paid")},
			"count":  {Action: types.AttributeActionAdd, Value: n("-2")},
			"tags":   {Action: types.AttributeActionDelete, Value: ss("a")},
			"log":    {Action: types.AttributeActionAdd, Value: list(s("paid"))},
			"a.b":    {Action: types.AttributeActionDelete},
			"gone":   {Action: types.AttributeActionDelete},
		}, map[string]types.ExpectedAttributeValue{"status": exp(s("new"))})
		if err != nil {
			t.Fatal(legacyMsg(err))
		}
		want = av{"orderId": s("O1"), "status": s("paid"), "count": n("3"), "tags": ss("b"), "log": list(s("created"), s("paid"))}
		if renderItem(got) != renderItem(want) {
			t.Errorf("second update: got %s\nwant %s", renderItem(got), renderItem(want))
		}
		// The guard now fails: nothing changes.
		_, err = update(map[string]types.AttributeValueUpdate{"status": {Value: s("shipped")}}, map[string]types.ExpectedAttributeValue{"status": exp(s("new"))})
		if r := renderErrorOrOK(err); r != "ConditionalCheckFailedException" {
			t.Errorf("stale guard: %s", r)
		}
		// UPDATED_NEW names what AttributeUpdates changed.
		out, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("Orders"), Key: key,
			AttributeUpdates: map[string]types.AttributeValueUpdate{"count": {Action: types.AttributeActionAdd, Value: n("1")}}, ReturnValues: types.ReturnValueUpdatedNew})
		if err != nil || renderItem(out.Attributes) != renderItem(av{"count": n("4")}) {
			t.Errorf("UPDATED_NEW: %s %s", legacyMsg(err), renderItem(out.Attributes))
		}
	})
}

func TestLegacyWriteRefusals(t *testing.T) {
	c := newClient(t, engine.New())
	if err := ordersTable(c, "Orders"); err != nil {
		t.Fatal(err)
	}
	if err := put(c, "Orders", av{"orderId": s("O1"), "v": n("1")}); err != nil {
		t.Fatal(err)
	}
	key := av{"orderId": s("O1")}
	putEx := func(ex map[string]types.ExpectedAttributeValue) string {
		_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: av{"orderId": s("O1"), "v": n("9")}, Expected: ex})
		return legacyMsg(err)
	}
	upd := func(in awsddb.UpdateItemInput) string {
		in.TableName, in.Key = aws.String("Orders"), key
		_, err := c.UpdateItem(ctx, &in)
		return legacyMsg(err)
	}
	const mixed = "ValidationException: Can not use both expression and non-expression parameters in the same request: "
	const invalid = "ValidationException: One or more parameter values were invalid: "
	const invalid1 = "ValidationException: 1 validation error detected: One or more parameter values were invalid: "
	ex := map[string]types.ExpectedAttributeValue{"v": exp(n("1"))}
	cases := []struct{ name, got, want string }{
		{"Expected with ConditionExpression",
			func() string {
				_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: key, Expected: ex, ConditionExpression: aws.String("attribute_exists(v)")})
				return legacyMsg(err)
			}(),
			mixed + "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"},
		{"Expected on a delete with ConditionExpression",
			func() string {
				_, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Orders"), Key: key, Expected: ex, ConditionExpression: aws.String("attribute_exists(v)")})
				return legacyMsg(err)
			}(),
			mixed + "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"},
		{"AttributeUpdates with UpdateExpression",
			upd(awsddb.UpdateItemInput{AttributeUpdates: map[string]types.AttributeValueUpdate{"v": {Value: n("2")}}, UpdateExpression: aws.String("REMOVE w")}),
			mixed + "Non-expression parameters: {AttributeUpdates} Expression parameters: {UpdateExpression}"},
		{"Expected with UpdateExpression",
			upd(awsddb.UpdateItemInput{Expected: ex, UpdateExpression: aws.String("REMOVE w")}),
			mixed + "Non-expression parameters: {Expected} Expression parameters: {UpdateExpression}"},
		{"Expected with expression attribute values",
			func() string {
				_, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Orders"), Key: key, Expected: ex, ExpressionAttributeValues: av{":v": n("1")}})
				return legacyMsg(err)
			}(),
			"ValidationException: ExpressionAttributeValues can only be specified when using expressions"},
		{"Exists false with a Value", putEx(map[string]types.ExpectedAttributeValue{"v": {Exists: aws.Bool(false), Value: n("1")}}),
			invalid1 + "Value cannot be used when Exists is false for Attribute: v"},
		{"Exists true with no Value", putEx(map[string]types.ExpectedAttributeValue{"v": {Exists: aws.Bool(true)}}),
			invalid1 + "Value must be provided when Exists is true for Attribute: v"},
		{"neither Exists nor Value", putEx(map[string]types.ExpectedAttributeValue{"v": {}}),
			invalid1 + "Value must be provided when Exists is null for Attribute: v"},
		{"Exists with a ComparisonOperator", putEx(map[string]types.ExpectedAttributeValue{"v": {Exists: aws.Bool(true), ComparisonOperator: types.ComparisonOperatorEq, AttributeValueList: []types.AttributeValue{n("1")}}}),
			invalid1 + "Exists and ComparisonOperator cannot be used together for Attribute: v"},
		{"AttributeValueList without a ComparisonOperator", putEx(map[string]types.ExpectedAttributeValue{"v": {AttributeValueList: []types.AttributeValue{n("1")}}}),
			invalid + "AttributeValueList can only be used with a ComparisonOperator for Attribute: v"},
		{"BETWEEN with one Value", putEx(map[string]types.ExpectedAttributeValue{"v": {ComparisonOperator: types.ComparisonOperatorBetween, Value: n("1")}}),
			invalid + "Invalid number of argument(s) for the BETWEEN ComparisonOperator"},
		{"NOT_NULL with a value", putEx(map[string]types.ExpectedAttributeValue{"v": {ComparisonOperator: types.ComparisonOperatorNotNull, AttributeValueList: []types.AttributeValue{n("1")}}}),
			invalid + "Invalid number of argument(s) for the NOT_NULL ComparisonOperator"},
		{"an unknown ConditionalOperator", func() string {
			_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: key, Expected: ex, ConditionalOperator: "NAND"})
			return legacyMsg(err)
		}(), "ValidationException: 1 validation error detected: Value 'NAND' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [AND, OR]"},
		{"PUT with no Value", upd(awsddb.UpdateItemInput{AttributeUpdates: map[string]types.AttributeValueUpdate{"v": {Action: types.AttributeActionPut}}}),
			invalid + "Only DELETE action is allowed when no attribute value is specified"},
		{"ADD with no Value", upd(awsddb.UpdateItemInput{AttributeUpdates: map[string]types.AttributeValueUpdate{"v": {Action: types.AttributeActionAdd}}}),
			invalid + "Only DELETE action is allowed when no attribute value is specified"},
		{"an unknown Action", upd(awsddb.UpdateItemInput{AttributeUpdates: map[string]types.AttributeValueUpdate{"v": {Action: "MERGE", Value: n("1")}}}),
			"ValidationException: 1 validation error detected: Value 'MERGE' at 'attributeUpdates.v.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"},
		{"a key attribute", upd(awsddb.UpdateItemInput{AttributeUpdates: map[string]types.AttributeValueUpdate{"orderId": {Value: s("O9")}}}),
			invalid + "Cannot update attribute orderId. This attribute is part of the key"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, tc.got, tc.want)
		}
	}
	// Nothing refused was written.
	g, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: key})
	if err != nil || renderItem(g.Item) != renderItem(av{"orderId": s("O1"), "v": n("1")}) {
		t.Errorf("after the refusals: %s %s", legacyMsg(err), renderItem(g.Item))
	}
}

// TestLegacyBeforeTableLookup: legacy parameters are validated before the
// table is looked up, as DynamoDB does, and a filter of many conditions
// is a client error, never a server one.
func TestLegacyBeforeTableLookup(t *testing.T) {
	c := newClient(t, engine.New())
	_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Missing"), Item: av{"k": s("x")},
		Expected: map[string]types.ExpectedAttributeValue{"v": {}}})
	if got, want := legacyMsg(err), "ValidationException: 1 validation error detected: One or more parameter values were invalid: Value must be provided when Exists is null for Attribute: v"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	_, err = c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("Missing"),
		KeyConditions: map[string]types.Condition{"k": cond(types.ComparisonOperatorEq)}})
	if got, want := legacyMsg(err), "ValidationException: One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	legacyEvents(t, c)
	many := map[string]types.Condition{}
	for i := range 500 {
		many[strings.Repeat("x", 200)+string(rune('a'+i%26))+strings.Repeat("y", i)] = cond(types.ComparisonOperatorNotNull)
	}
	_, err = c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Events"), ScanFilter: many})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
		t.Errorf("a huge ScanFilter: %s", legacyMsg(err))
	} else {
		t.Logf("a huge ScanFilter: %.200s", legacyMsg(err))
	}
}

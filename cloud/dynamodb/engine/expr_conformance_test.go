package engine_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
)

// codeMessage renders err as "Code: message", or "ok" for nil.
func codeMessage(err error) string {
	if err == nil {
		return "ok"
	}
	code, msg := apiMessage(err)
	return code + ": " + msg
}

func ss(v ...string) types.AttributeValue { return &types.AttributeValueMemberSS{Value: v} }
func ns(v ...string) types.AttributeValue { return &types.AttributeValueMemberNS{Value: v} }
func m(v av) types.AttributeValue         { return &types.AttributeValueMemberM{Value: v} }
func l(v ...types.AttributeValue) types.AttributeValue {
	return &types.AttributeValueMemberL{Value: v}
}

func getAll(t *testing.T, c *awsddb.Client, table, pk string) string {
	t.Helper()
	out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String(table), Key: av{"pk": s(pk)}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return renderItem(out.Item)
}

// TestUpdateNestedAddDelete: ADD and DELETE on nested paths, written with
// name placeholders or plainly, change the nested attribute as DynamoDB
// does, and a path whose parent is missing or not a map is refused.
func TestUpdateNestedAddDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		simpleTable(t, c, "docs")
		err := put(c, "docs", av{
			"pk":    s("1"),
			"stats": m(av{"daily": m(av{"count": n("1"), "big": n("12345678901234567890123456789012345678")}), "tags": ss("a", "b"), "nums": ns("1", "2"), "name": s("x")}),
			"list":  l(m(av{"n": n("5")})),
			"top":   s("scalar"),
		})
		if err != nil {
			t.Fatal(err)
		}
		update := func(expr string, names map[string]string, values av) string {
			_, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{
				TableName: aws.String("docs"), Key: av{"pk": s("1")},
				UpdateExpression: aws.String(expr), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
			})
			return codeMessage(err)
		}
		steps := []struct {
			expr   string
			names  map[string]string
			values av
			want   string
		}{
			{"ADD #a.#b.#c :one", map[string]string{"#a": "stats", "#b": "daily", "#c": "count"}, av{":one": n("1")}, "ok"},
			{"ADD stats.daily.#c :v", map[string]string{"#c": "count"}, av{":v": n("0.5")}, "ok"},
			{"ADD stats.daily.fresh :v", nil, av{":v": n("-3")}, "ok"},
			{"ADD stats.daily.big :v", nil, av{":v": n("1")}, "ok"},
			{"ADD #a.#t :s", map[string]string{"#a": "stats", "#t": "tags"}, av{":s": ss("c", "a")}, "ok"},
			{"DELETE #a.#b :s", map[string]string{"#a": "stats", "#b": "tags"}, av{":s": ss("a", "zz")}, "ok"},
			{"DELETE #a.#b :s", map[string]string{"#a": "stats", "#b": "nums"}, av{":s": ns("1", "2.0")}, "ok"},
			{"DELETE stats.gone :s", nil, av{":s": ss("a")}, "ok"},
			{"ADD #l[0].#n :v SET #o = :w", map[string]string{"#l": "list", "#n": "n", "#o": "other"}, av{":v": n("10"), ":w": s("w")}, "ok"},
			// The errors DynamoDB answers.
			{"ADD #a.#b.#c :one", map[string]string{"#a": "missing", "#b": "daily", "#c": "count"}, av{":one": n("1")},
				"ValidationException: The document path provided in the update expression is invalid for update"},
			{"ADD stats.nope.hits :one", nil, av{":one": n("1")},
				"ValidationException: The document path provided in the update expression is invalid for update"},
			{"ADD top.hits :one", nil, av{":one": n("1")},
				"ValidationException: The document path provided in the update expression is invalid for update"},
			{"DELETE top.x :s", nil, av{":s": ss("a")},
				"ValidationException: The document path provided in the update expression is invalid for update"},
			{"ADD stats.#n :one", map[string]string{"#n": "name"}, av{":one": n("1")},
				"ValidationException: An operand in the update expression has an incorrect data type"},
			{"ADD stats.daily.#c :s", map[string]string{"#c": "count"}, av{":s": s("text")},
				"ValidationException: Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING"},
			{"SET #s = :m ADD #s.#d.#c :one", map[string]string{"#s": "stats", "#d": "daily", "#c": "count"}, av{":m": m(av{}), ":one": n("1")},
				"ValidationException: Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [stats], path two: [stats, daily, count]"},
			{"ADD stats.daily.fresh :one DELETE stats.daily.fresh :s", nil, av{":one": n("1"), ":s": ns("1")},
				"ValidationException: Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [stats, daily, fresh], path two: [stats, daily, fresh]"},
			{"DELETE stats.tags :n", nil, av{":n": n("1")},
				"ValidationException: Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER"},
		}
		for _, st := range steps {
			if got := update(st.expr, st.names, st.values); got != st.want {
				t.Errorf("%s: got %q, want %q", st.expr, got, st.want)
			}
		}
		want := `{list=L:[M:{n=N:15}] other=S:"w" pk=S:"1" stats=M:{daily=M:{big=N:12345678901234567890123456789012345679 count=N:2.5 fresh=N:-3} name=S:"x" tags=SS:b|c} top=S:"scalar"}`
		if got := getAll(t, c, "docs", "1"); got != want {
			t.Errorf("item after the updates:\n got %s\nwant %s", got, want)
		}
	})
}

// TestPathPlaceholdersAndReservedWords: a name placeholder used only inside
// a document path counts as used in every kind of expression, and a
// reserved word written as an attribute name, alone or inside a path, is
// refused with DynamoDB's message naming it as written; function names,
// operators and clause keywords are not attribute names.
func TestPathPlaceholdersAndReservedWords(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		simpleTable(t, c, "docs")
		if err := put(c, "docs", av{"pk": s("1"), "stats": m(av{"status": s("on")}), "l": l(m(av{"status": s("on")}))}); err != nil {
			t.Fatal(err)
		}
		key := av{"pk": s("1")}
		inPath := map[string]string{"#b": "status"}
		calls := []struct {
			name string
			call func() error
			want string
		}{
			{"SET on a nested path", func() error {
				_, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("docs"), Key: key,
					UpdateExpression: aws.String("SET stats.#b = :v, l[0].#b = :v"), ExpressionAttributeNames: inPath, ExpressionAttributeValues: av{":v": s("off")}})
				return err
			}, "ok"},
			{"a condition on a nested path", func() error {
				_, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("docs"), Key: key,
					UpdateExpression: aws.String("SET stats.#b = :v"), ConditionExpression: aws.String("attribute_exists(#a.#b) and size(#a.#b) > :n"),
					ExpressionAttributeNames: map[string]string{"#a": "stats", "#b": "status"}, ExpressionAttributeValues: av{":v": s("on"), ":n": n("0")}})
				return err
			}, "ok"},
			{"a projection of a nested path", func() error {
				out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("docs"), Key: key, ProjectionExpression: aws.String("stats.#b"), ExpressionAttributeNames: inPath})
				if err == nil && renderItem(out.Item) != `{stats=M:{status=S:"on"}}` {
					return fmt.Errorf("projected %s", renderItem(out.Item))
				}
				return err
			}, "ok"},
			{"a filter on a nested path", func() error {
				out, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("docs"), FilterExpression: aws.String("l[0].#b = :s"), ExpressionAttributeNames: inPath, ExpressionAttributeValues: av{":s": s("off")}})
				if err == nil && out.Count != 1 {
					return fmt.Errorf("filtered %d items", out.Count)
				}
				return err
			}, "ok"},
			{"a transaction's condition check on a nested path", func() error {
				_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{ConditionCheck: &types.ConditionCheck{
					TableName: aws.String("docs"), Key: key, ConditionExpression: aws.String("#a.#b = :s"),
					ExpressionAttributeNames: map[string]string{"#a": "stats", "#b": "status"}, ExpressionAttributeValues: av{":s": s("on")}}}}})
				return err
			}, "ok"},
			{"a bare reserved word in a filter", func() error {
				_, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("docs"), FilterExpression: aws.String("status = :s"), ExpressionAttributeValues: av{":s": s("on")}})
				return err
			}, "ValidationException: Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: status"},
			{"a reserved word inside a path in a filter", func() error {
				_, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("docs"), FilterExpression: aws.String("stats.Status = :s"), ExpressionAttributeValues: av{":s": s("on")}})
				return err
			}, "ValidationException: Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: Status"},
			{"a reserved word in a query's filter", func() error {
				_, err := c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("docs"), KeyConditionExpression: aws.String("pk = :k"), FilterExpression: aws.String("#a.status = :s"),
					ExpressionAttributeNames: map[string]string{"#a": "stats"}, ExpressionAttributeValues: av{":s": s("on"), ":k": s("1")}})
				return err
			}, "ValidationException: Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: status"},
			{"a reserved word in a condition", func() error {
				_, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("docs"), Key: key, ConditionExpression: aws.String("attribute_exists(name)")})
				return err
			}, "ValidationException: Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name"},
			{"a reserved word in a projection", func() error {
				_, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("docs"), Key: key, ProjectionExpression: aws.String("pk, l[0].status")})
				return err
			}, "ValidationException: Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: status"},
			{"a reserved word in an update", func() error {
				_, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("docs"), Key: key,
					UpdateExpression: aws.String("SET hits = :v REMOVE data"), ExpressionAttributeValues: av{":v": n("1")}})
				return err
			}, "ValidationException: Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: data"},
		}
		for _, cl := range calls {
			if got := codeMessage(cl.call()); got != cl.want {
				t.Errorf("%s: got %q, want %q", cl.name, got, cl.want)
			}
		}
		want := `{l=L:[M:{status=S:"off"}] pk=S:"1" stats=M:{status=S:"on"}}`
		if got := getAll(t, c, "docs", "1"); got != want {
			t.Errorf("item after the calls:\n got %s\nwant %s", got, want)
		}
	})
}

// TestUpdateRemoveAndUpdatedValues: REMOVE takes top-level attributes out
// of the stored item, and ReturnValues UPDATED_NEW / UPDATED_OLD return
// only the document paths the update wrote, as they are after / were
// before it: a removed attribute is absent from UPDATED_NEW and present
// in UPDATED_OLD, and SET a.b returns a with b alone.
func TestUpdateRemoveAndUpdatedValues(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		simpleTable(t, c, "docs")
		fresh := av{"pk": s("1"), "a": s("old"), "b": s("gone"), "m": m(av{"x": s("1"), "y": s("2"), "z": s("3")}), "l": l(s("l0"), s("l1"), s("l2"))}
		cases := []struct {
			expr      string
			names     map[string]string
			rv        types.ReturnValue
			want, got string // the answer's Attributes, the stored item
		}{
			{"SET a = :v REMOVE b", nil, types.ReturnValueUpdatedNew,
				`{a=S:"new"}`, `{a=S:"new" l=L:[S:"l0",S:"l1",S:"l2"] m=M:{x=S:"1" y=S:"2" z=S:"3"} pk=S:"1"}`},
			{"SET a = :v REMOVE b", nil, types.ReturnValueUpdatedOld,
				`{a=S:"old" b=S:"gone"}`, `{a=S:"new" l=L:[S:"l0",S:"l1",S:"l2"] m=M:{x=S:"1" y=S:"2" z=S:"3"} pk=S:"1"}`},
			{"REMOVE #b", map[string]string{"#b": "b"}, types.ReturnValueUpdatedNew,
				`<none>`, `{a=S:"old" l=L:[S:"l0",S:"l1",S:"l2"] m=M:{x=S:"1" y=S:"2" z=S:"3"} pk=S:"1"}`},
			{"REMOVE m.x SET m.y = :v, l[2] = :v", nil, types.ReturnValueUpdatedNew,
				`{l=L:[S:"new"] m=M:{y=S:"new"}}`, `{a=S:"old" b=S:"gone" l=L:[S:"l0",S:"l1",S:"new"] m=M:{y=S:"new" z=S:"3"} pk=S:"1"}`},
			{"REMOVE m.x SET m.y = :v, l[2] = :v", nil, types.ReturnValueUpdatedOld,
				`{l=L:[S:"l2"] m=M:{x=S:"1" y=S:"2"}}`, `{a=S:"old" b=S:"gone" l=L:[S:"l0",S:"l1",S:"new"] m=M:{y=S:"new" z=S:"3"} pk=S:"1"}`},
			{"REMOVE a, m", nil, types.ReturnValueAllNew,
				`{b=S:"gone" l=L:[S:"l0",S:"l1",S:"l2"] pk=S:"1"}`, `{b=S:"gone" l=L:[S:"l0",S:"l1",S:"l2"] pk=S:"1"}`},
		}
		for _, tc := range cases {
			if err := put(c, "docs", fresh); err != nil {
				t.Fatal(err)
			}
			var vals av
			if strings.Contains(tc.expr, ":v") {
				vals = av{":v": s("new")}
			}
			out, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("docs"), Key: av{"pk": s("1")},
				UpdateExpression: aws.String(tc.expr), ExpressionAttributeNames: tc.names, ExpressionAttributeValues: vals, ReturnValues: tc.rv})
			if err != nil {
				t.Errorf("%s %s: %v", tc.expr, tc.rv, err)
				continue
			}
			if got := renderItem(out.Attributes); got != tc.want {
				t.Errorf("%s %s returned %s, want %s", tc.expr, tc.rv, got, tc.want)
			}
			if got := getAll(t, c, "docs", "1"); got != tc.got {
				t.Errorf("%s %s stored %s, want %s", tc.expr, tc.rv, got, tc.got)
			}
		}
	})
}

// TestTransactWriteClientRequestToken: the same token with the same
// request replays the first answer without writing again; with another
// request it is refused with IdempotentParameterMismatchException; a
// token longer than 36 characters is refused.
func TestTransactWriteClientRequestToken(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		simpleTable(t, c, "docs")
		if err := put(c, "docs", av{"pk": s("1"), "hits": n("0")}); err != nil {
			t.Fatal(err)
		}
		tx := func(token string, by string, cond string) error {
			upd := &types.Update{TableName: aws.String("docs"), Key: av{"pk": s("1")},
				UpdateExpression: aws.String("ADD hits :by"), ExpressionAttributeValues: av{":by": n(by)}}
			if cond != "" {
				upd.ConditionExpression = aws.String(cond)
			}
			_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{ClientRequestToken: aws.String(token),
				TransactItems: []types.TransactWriteItem{{Update: upd}}})
			return err
		}
		steps := []struct {
			name, token, by, cond, want, hits string
		}{
			{"first request", "tok-1", "1", "", "ok", "1"},
			{"the same request again", "tok-1", "1", "", "ok", "1"},
			{"and again", "tok-1", "1", "", "ok", "1"},
			{"another request with the token", "tok-1", "5", "", "IdempotentParameterMismatchException: The request uses the same client token as a previous, but non-identical request.", "1"},
			{"the same request with another token", "tok-2", "1", "", "ok", "2"},
			{"a cancelled transaction", "tok-3", "1", "attribute_not_exists(pk)", "TransactionCanceledException: Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed]", "2"},
			{"a token of 37 characters", strings.Repeat("x", 37), "1", "", "ValidationException: 1 validation error detected: Value '" + strings.Repeat("x", 37) + "' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36", "2"},
			{"a token of 36 characters", strings.Repeat("y", 36), "1", "", "ok", "3"},
		}
		for _, st := range steps {
			if got := codeMessage(tx(st.token, st.by, st.cond)); got != st.want {
				t.Errorf("%s: got %q, want %q", st.name, got, st.want)
			}
			if got := getAll(t, c, "docs", "1"); got != `{hits=N:`+st.hits+` pk=S:"1"}` {
				t.Errorf("%s: stored %s, want hits %s", st.name, got, st.hits)
			}
		}
	})
}

// TestClientRequestTokenWindow: a token is remembered for 10 minutes after
// its transaction completed, on the engine's clock; then the same request
// runs again.
func TestClientRequestTokenWindow(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e, err := engine.Open(engine.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, e)
	simpleTable(t, c, "docs")
	tx := func() {
		t.Helper()
		_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{ClientRequestToken: aws.String("tok"),
			TransactItems: []types.TransactWriteItem{{Update: &types.Update{TableName: aws.String("docs"), Key: av{"pk": s("1")},
				UpdateExpression: aws.String("ADD hits :one"), ExpressionAttributeValues: av{":one": n("1")}}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []struct {
		advance time.Duration
		hits    string
	}{{0, "1"}, {5 * time.Minute, "1"}, {4*time.Minute + 59*time.Second, "1"}, {time.Second, "2"}, {9 * time.Minute, "2"}, {time.Minute, "3"}} {
		now = now.Add(st.advance)
		tx()
		if got := getAll(t, c, "docs", "1"); got != `{hits=N:`+st.hits+` pk=S:"1"}` {
			t.Errorf("after %v more: stored %s, want hits %s", st.advance, got, st.hits)
		}
	}
}

// renderMetrics writes ItemCollectionMetrics as key and size range.
func renderMetrics(m *types.ItemCollectionMetrics) string {
	if m == nil {
		return "none"
	}
	return fmt.Sprintf("%s %v", renderItem(m.ItemCollectionKey), m.SizeEstimateRangeGB)
}

func renderTableMetrics(m map[string][]types.ItemCollectionMetrics) string {
	if m == nil {
		return "none"
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		for _, x := range m[name] {
			parts = append(parts, name+":"+renderMetrics(&x))
		}
	}
	return strings.Join(parts, "; ")
}

// TestReturnItemCollectionMetrics: with SIZE, writes to a table with a
// local secondary index answer the item collection they changed and its
// size estimate in GB; a table without one answers none, and a value
// other than SIZE or NONE is refused.
func TestReturnItemCollectionMetrics(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		if err := eventsTable(c, "Events", types.ScalarAttributeTypeS); err != nil {
			t.Fatal(err)
		}
		if err := ordersTable(c, "Orders"); err != nil {
			t.Fatal(err)
		}
		size := types.ReturnItemCollectionMetricsSize
		var got []string
		add := func(label string, err error, render func() string) {
			if err != nil {
				got = append(got, label+": "+codeMessage(err))
				return
			}
			got = append(got, label+": "+render())
		}
		put, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Events"), Item: av{"pk": s("P"), "sk": s("a"), "rank": n("1")}, ReturnItemCollectionMetrics: size})
		add("put", err, func() string { return renderMetrics(put.ItemCollectionMetrics) })
		put, err = c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Events"), Item: av{"pk": s("P"), "sk": s("b")}, ReturnItemCollectionMetrics: types.ReturnItemCollectionMetricsNone})
		add("put NONE", err, func() string { return renderMetrics(put.ItemCollectionMetrics) })
		put, err = c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: av{"orderId": s("O1")}, ReturnItemCollectionMetrics: size})
		add("put without a local index", err, func() string { return renderMetrics(put.ItemCollectionMetrics) })
		_, err = c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Events"), Item: av{"pk": s("P"), "sk": s("c")}, ReturnItemCollectionMetrics: "BIG"})
		add("put BIG", err, func() string { return "ok" })
		upd, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("Events"), Key: av{"pk": s("P"), "sk": s("a")},
			UpdateExpression: aws.String("SET note = :n"), ExpressionAttributeValues: av{":n": s("x")}, ReturnValues: types.ReturnValueUpdatedNew, ReturnItemCollectionMetrics: size})
		add("update", err, func() string { return renderItem(upd.Attributes) + " " + renderMetrics(upd.ItemCollectionMetrics) })
		bw, err := c.BatchWriteItem(ctx, &awsddb.BatchWriteItemInput{ReturnItemCollectionMetrics: size, RequestItems: map[string][]types.WriteRequest{
			"Events": {{PutRequest: &types.PutRequest{Item: av{"pk": s("Q"), "sk": s("a")}}}, {PutRequest: &types.PutRequest{Item: av{"pk": s("Q"), "sk": s("b")}}}, {DeleteRequest: &types.DeleteRequest{Key: av{"pk": s("P"), "sk": s("b")}}}},
			"Orders": {{PutRequest: &types.PutRequest{Item: av{"orderId": s("O2")}}}},
		}})
		add("batch", err, func() string { return renderTableMetrics(bw.ItemCollectionMetrics) })
		tw, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{ReturnItemCollectionMetrics: size, TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String("Events"), Item: av{"pk": s("R"), "sk": s("a")}}},
			{Delete: &types.Delete{TableName: aws.String("Events"), Key: av{"pk": s("Q"), "sk": s("a")}}},
			{ConditionCheck: &types.ConditionCheck{TableName: aws.String("Events"), Key: av{"pk": s("P"), "sk": s("a")}, ConditionExpression: aws.String("attribute_exists(pk)")}},
			{Put: &types.Put{TableName: aws.String("Orders"), Item: av{"orderId": s("O3")}}},
		}})
		add("transaction", err, func() string { return renderTableMetrics(tw.ItemCollectionMetrics) })
		del, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Events"), Key: av{"pk": s("P"), "sk": s("a")}, ReturnItemCollectionMetrics: size})
		add("delete", err, func() string { return renderMetrics(del.ItemCollectionMetrics) })
		want := []string{
			`put: {pk=S:"P"} [0 1]`,
			`put NONE: none`,
			`put without a local index: none`,
			`put BIG: ValidationException: 1 validation error detected: Value 'BIG' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]`,
			`update: {note=S:"x"} {pk=S:"P"} [0 1]`,
			`batch: Events:{pk=S:"Q"} [0 1]; Events:{pk=S:"P"} [0 1]`,
			`transaction: Events:{pk=S:"R"} [0 1]; Events:{pk=S:"Q"} [0 1]`,
			`delete: {pk=S:"P"} [0 1]`,
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestClientRequestTokenConcurrent: the same request sent at once with one
// token writes once; each call succeeds or is told the transaction is in
// progress (TransactionInProgressException), as AWS answers.
func TestClientRequestTokenConcurrent(t *testing.T) {
	e := engine.New()
	c := newClient(t, e)
	simpleTable(t, c, "docs")
	const calls = 8
	answers := make(chan string, calls)
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{ClientRequestToken: aws.String("same"),
				TransactItems: []types.TransactWriteItem{{Update: &types.Update{TableName: aws.String("docs"), Key: av{"pk": s("1")},
					UpdateExpression: aws.String("ADD hits :one"), ExpressionAttributeValues: av{":one": n("1")}}}}})
			answers <- codeMessage(err)
		}()
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		if a != "ok" && a != "TransactionInProgressException: Transaction from previous request is still in progress" {
			t.Errorf("answer %q", a)
		}
	}
	if got := getAll(t, c, "docs", "1"); got != `{hits=N:1 pk=S:"1"}` {
		t.Errorf("stored %s, want hits 1", got)
	}
}

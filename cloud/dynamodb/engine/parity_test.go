package engine_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	miniserver "github.com/truora/minidyn/server"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
)

// A parity scenario is one closure over a DynamoDB client. It runs against
// minidyn's server (with the ListTables it lacks: minidynService) and
// against the engine, and the two transcripts must be equal.
//
// Where minidyn is wrong against AWS's documentation, the scenario says so
// in minidynDiffers and gives AWS's documented behaviour in aws: the engine
// must produce exactly that, and minidyn's transcript is only logged. An
// expectation is never edited to make an engine pass.
type scenario struct {
	name           string
	run            func(c *awsddb.Client, tr *transcript)
	minidynDiffers string
	aws            []string
}

func TestParityWithMinidyn(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var mini transcript
			sc.run(newClient(t, minidynService(t)), &mini)
			eachBackend(t, func(t *testing.T, e *engine.Engine) {
				var ours transcript
				sc.run(newClient(t, e), &ours)
				if sc.minidynDiffers == "" {
					if mini.String() != ours.String() {
						t.Errorf("transcripts differ\nminidyn:\n%s\n\nengine:\n%s", &mini, &ours)
					}
					return
				}
				want := strings.Join(sc.aws, "\n")
				if ours.String() != want {
					t.Errorf("engine does not do what AWS documents (%s)\ngot:\n%s\n\nwant:\n%s", sc.minidynDiffers, &ours, want)
				}
			})
			if sc.minidynDiffers != "" && mini.String() != strings.Join(sc.aws, "\n") {
				t.Logf("known minidyn difference: %s\nminidyn:\n%s", sc.minidynDiffers, &mini)
			}
		})
	}
}

// queryPages runs a Query page by page (at most 20 pages) and records each.
func queryPages(c *awsddb.Client, tr *transcript, label string, in awsddb.QueryInput) {
	for page := 1; page <= 20; page++ {
		out, err := c.Query(ctx, &in)
		if err != nil {
			tr.add("%s page %d: %s", label, page, renderError(err))
			return
		}
		lek := "none"
		if out.LastEvaluatedKey != nil {
			lek = renderItem(out.LastEvaluatedKey)
		}
		tr.add("%s page %d: count=%d items=%s next=%s", label, page, out.Count, renderItems(out.Items, false), lek)
		if out.LastEvaluatedKey == nil {
			return
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// scanAll runs a Scan to the end and records the items, sorted (scan
// order is not part of DynamoDB's contract), and the number of pages.
func scanAll(c *awsddb.Client, tr *transcript, label string, in awsddb.ScanInput) {
	var all []av
	pages := 0
	for pages < 50 {
		pages++
		out, err := c.Scan(ctx, &in)
		if err != nil {
			tr.add("%s: %s", label, renderError(err))
			return
		}
		all = append(all, out.Items...)
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	tr.add("%s: %d items in %d pages: %s", label, len(all), pages, renderItems(all, true))
}

func order(id, user, ts, status string, version string) av {
	return av{"orderId": s(id), "userId": s(user), "timestamp": s(ts), "status": s(status), "quantity": n("1"), "itemName": s("Laptop"), "eventVersion": s(version)}
}

// guardedPut is our store's write (dynamodb/table.go): stored only when
// the table holds nothing for the order, an unversioned item, or an
// older version; the old item comes back when the condition fails.
func guardedPut(c *awsddb.Client, item av) error {
	_, err := c.PutItem(ctx, &awsddb.PutItemInput{
		TableName:                           aws.String("Orders"),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#id) OR attribute_not_exists(#v) OR #v < :v"),
		ExpressionAttributeNames:            map[string]string{"#id": "orderId", "#v": "eventVersion"},
		ExpressionAttributeValues:           av{":v": item["eventVersion"]},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	return err
}

func getOrder(c *awsddb.Client, tr *transcript, id string) {
	out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s(id)}, ConsistentRead: aws.Bool(true)})
	tr.errOr("GetItem "+id, err, func() string { return renderItem(out.Item) })
}

var scenarios = []scenario{
	{
		name: "tables are created, described, listed and deleted",
		run: func(c *awsddb.Client, tr *transcript) {
			tr.errOr("CreateTable Orders", ordersTable(c, "Orders"), func() string { return "ok" })
			tr.errOr("CreateTable Events", eventsTable(c, "Events", types.ScalarAttributeTypeS), func() string { return "ok" })
			tr.errOr("CreateTable Orders again", ordersTable(c, "Orders"), func() string { return "ok" })
			put(c, "Orders", order("O1", "U1", "2025-01-01T00:00:00Z", "new", "1"))
			d, err := c.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("Events")})
			tr.errOr("DescribeTable Events", err, func() string {
				var ks, ix []string
				for _, k := range d.Table.KeySchema {
					ks = append(ks, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
				}
				for _, g := range d.Table.GlobalSecondaryIndexes {
					ix = append(ix, "gsi "+aws.ToString(g.IndexName)+":"+string(g.Projection.ProjectionType))
				}
				for _, l := range d.Table.LocalSecondaryIndexes {
					ix = append(ix, "lsi "+aws.ToString(l.IndexName)+":"+string(l.Projection.ProjectionType))
				}
				return fmt.Sprintf("name=%s items=%d keys=%v indexes=%v", aws.ToString(d.Table.TableName), aws.ToInt64(d.Table.ItemCount), ks, ix)
			})
			o, err := c.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("Orders")})
			tr.errOr("DescribeTable Orders", err, func() string { return fmt.Sprintf("items=%d", aws.ToInt64(o.Table.ItemCount)) })
			l, err := c.ListTables(ctx, &awsddb.ListTablesInput{Limit: aws.Int32(1)})
			tr.errOr("ListTables limit 1", err, func() string { return fmt.Sprintf("%v next=%s", l.TableNames, aws.ToString(l.LastEvaluatedTableName)) })
			_, err = c.DeleteTable(ctx, &awsddb.DeleteTableInput{TableName: aws.String("Events")})
			tr.errOr("DeleteTable Events", err, func() string { return "ok" })
			_, err = c.DeleteTable(ctx, &awsddb.DeleteTableInput{TableName: aws.String("Events")})
			tr.errOr("DeleteTable Events again", err, func() string { return "ok" })
			l, err = c.ListTables(ctx, &awsddb.ListTablesInput{})
			tr.errOr("ListTables", err, func() string { return fmt.Sprintf("%v", l.TableNames) })
		},
	},
	{
		name: "operations on an unknown table are ResourceNotFoundException",
		run: func(c *awsddb.Client, tr *transcript) {
			_, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Nope"), Key: av{"id": s("1")}})
			tr.errOr("GetItem", err, func() string { return "ok" })
			tr.errOr("PutItem", put(c, "Nope", av{"id": s("1")}), func() string { return "ok" })
			_, err = c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("Nope"), KeyConditionExpression: aws.String("id = :v"), ExpressionAttributeValues: av{":v": s("1")}})
			tr.errOr("Query", err, func() string { return "ok" })
			_, err = c.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("Nope")})
			tr.errOr("DescribeTable", err, func() string { return "ok" })
		},
	},
	{
		name: "every attribute type round-trips through PutItem and GetItem",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			item := av{
				"orderId": s("O1"), "n": n("-12.5"), "big": n("12345678901234567890123456789012345678"),
				"bin": b([]byte{0, 1, 2, 255}), "yes": boolean(true), "no": boolean(false),
				"nothing": &types.AttributeValueMemberNULL{Value: true},
				"ss":      &types.AttributeValueMemberSS{Value: []string{"b", "a"}},
				"ns":      &types.AttributeValueMemberNS{Value: []string{"3", "1.5"}},
				"bs":      &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2}}},
				"l":       &types.AttributeValueMemberL{Value: []types.AttributeValue{s("x"), n("1"), &types.AttributeValueMemberM{Value: av{"deep": s("y")}}}},
				"m":       &types.AttributeValueMemberM{Value: av{"a": s("1"), "b": &types.AttributeValueMemberL{Value: []types.AttributeValue{boolean(true)}}}},
				"unicode": s("naïve \"quoted\" \\ \n tab\t 日本"),
			}
			tr.errOr("PutItem", put(c, "Orders", item), func() string { return "ok" })
			getOrder(c, tr, "O1")
			getOrder(c, tr, "missing")
		},
	},
	{
		name: "GetItem projects top-level and nested attributes",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			put(c, "Orders", av{"orderId": s("O1"), "status": s("new"), "m": &types.AttributeValueMemberM{Value: av{"a": s("1"), "b": s("2")}}, "l": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("x"), s("y")}}})
			out, err := c.GetItem(ctx, &awsddb.GetItemInput{
				TableName: aws.String("Orders"), Key: av{"orderId": s("O1")},
				ProjectionExpression:     aws.String("#s, m.a, absent"),
				ExpressionAttributeNames: map[string]string{"#s": "status"},
			})
			tr.errOr("GetItem projected", err, func() string { return renderItem(out.Item) })
			_, err = c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("O1")}, ProjectionExpression: aws.String("#nope")})
			tr.errOr("GetItem undefined name", err, func() string { return "ok" })
		},
	},
	{
		name:           "our store's version-guarded PutItem returns the old item when its condition fails",
		minidynDiffers: "minidyn's PutItem ignores ReturnValuesOnConditionCheckFailure; AWS returns the item as it was (PutItem API reference: ReturnValuesOnConditionCheckFailure)",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			tr.errOr("put v2", guardedPut(c, order("O1", "U1", "t", "new", "2")), func() string { return "stored" })
			tr.errOr("put v2 again", guardedPut(c, order("O1", "U1", "t", "new", "2")), func() string { return "stored" })
			tr.errOr("put v1", guardedPut(c, order("O1", "U1", "t", "old", "1")), func() string { return "stored" })
			tr.errOr("put v3", guardedPut(c, order("O1", "U1", "t", "shipped", "3")), func() string { return "stored" })
			getOrder(c, tr, "O1")
		},
		aws: []string{
			"put v2: stored",
			`put v2 again: ConditionalCheckFailedException item={eventVersion=S:"2" itemName=S:"Laptop" orderId=S:"O1" quantity=N:1 status=S:"new" timestamp=S:"t" userId=S:"U1"}`,
			`put v1: ConditionalCheckFailedException item={eventVersion=S:"2" itemName=S:"Laptop" orderId=S:"O1" quantity=N:1 status=S:"new" timestamp=S:"t" userId=S:"U1"}`,
			"put v3: stored",
			`GetItem O1: {eventVersion=S:"3" itemName=S:"Laptop" orderId=S:"O1" quantity=N:1 status=S:"shipped" timestamp=S:"t" userId=S:"U1"}`,
		},
	},
	{
		name: "conditional writes succeed or fail on attribute_exists, comparisons and functions",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			cond := func(label, expr string, vals av) {
				in := &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: av{"orderId": s("O1"), "n": n("5"), "tag": s("red")}, ConditionExpression: aws.String(expr)}
				if len(vals) > 0 {
					in.ExpressionAttributeValues = vals
				}
				_, err := c.PutItem(ctx, in)
				tr.errOr(label, err, func() string { return "ok" })
			}
			cond("absent item: attribute_not_exists", "attribute_not_exists(orderId)", nil)
			cond("present item: attribute_not_exists", "attribute_not_exists(orderId)", nil)
			cond("present item: attribute_exists", "attribute_exists(orderId)", nil)
			cond("n < 4", "n < :v", av{":v": n("4")})
			cond("n between 1 and 9", "n BETWEEN :a AND :b", av{":a": n("1"), ":b": n("9")})
			cond("begins_with(tag, re)", "begins_with(tag, :p)", av{":p": s("re")})
			cond("tag in (blue, green)", "tag IN (:a, :b)", av{":a": s("blue"), ":b": s("green")})
			cond("size(tag) = 3 and not contains", "size(tag) = :three AND NOT contains(tag, :x)", av{":three": n("3"), ":x": s("x")})
			cond("syntax error", "n <", nil)
			cond("unused value", "attribute_exists(orderId)", av{":unused": s("x")})
			cond("undefined value", "n = :missing", av{":other": s("x")})
		},
	},
	{
		name:           "UpdateItem runs SET, REMOVE, ADD and DELETE and returns what was asked",
		minidynDiffers: "minidyn's REMOVE of a top-level attribute leaves it in the item; AWS removes it (Developer Guide: update expressions, REMOVE)",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			update := func(label, expr string, names map[string]string, vals av, rv types.ReturnValue, cond string) {
				in := &awsddb.UpdateItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("O1")}, UpdateExpression: aws.String(expr), ReturnValues: rv}
				if len(names) > 0 {
					in.ExpressionAttributeNames = names
				}
				if len(vals) > 0 {
					in.ExpressionAttributeValues = vals
				}
				if cond != "" {
					in.ConditionExpression = aws.String(cond)
					in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
				}
				out, err := c.UpdateItem(ctx, in)
				tr.errOr(label, err, func() string { return renderItem(out.Attributes) })
			}
			update("create by SET", "SET #s = :s, qty = :q, tags = :t", map[string]string{"#s": "status"}, av{":s": s("new"), ":q": n("1"), ":t": &types.AttributeValueMemberSS{Value: []string{"a", "b"}}}, types.ReturnValueAllNew, "")
			update("ADD to a number", "ADD qty :one", nil, av{":one": n("2")}, types.ReturnValueAllNew, "")
			update("ADD to a set", "ADD tags :c", nil, av{":c": &types.AttributeValueMemberSS{Value: []string{"c"}}}, types.ReturnValueAllOld, "")
			update("DELETE from a set", "DELETE tags :a", nil, av{":a": &types.AttributeValueMemberSS{Value: []string{"a"}}}, types.ReturnValueAllNew, "")
			update("SET arithmetic and if_not_exists", "SET qty = qty - :one, seen = if_not_exists(seen, :zero)", nil, av{":one": n("1"), ":zero": n("0")}, types.ReturnValueAllNew, "")
			update("SET list_append", "SET hist = list_append(if_not_exists(hist, :empty), :h)", nil, av{":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}}, ":h": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("e1")}}}, types.ReturnValueAllNew, "")
			update("REMOVE", "REMOVE seen", nil, nil, types.ReturnValueAllOld, "")
			update("conditional update fails", "SET #s = :s", map[string]string{"#s": "status"}, av{":s": s("x"), ":want": s("shipped")}, types.ReturnValueAllNew, "#s = :want")
			update("conditional update passes", "SET #s = :s", map[string]string{"#s": "status"}, av{":s": s("shipped"), ":want": s("new")}, types.ReturnValueAllNew, "#s = :want")
			update("updating the key is refused", "SET orderId = :x", nil, av{":x": s("O2")}, types.ReturnValueNone, "")
			update("a syntax error is refused", "SET = :x", nil, av{":x": s("O2")}, types.ReturnValueNone, "")
			getOrder(c, tr, "O1")
		},
		aws: []string{
			`create by SET: {orderId=S:"O1" qty=N:1 status=S:"new" tags=SS:a|b}`,
			`ADD to a number: {orderId=S:"O1" qty=N:3 status=S:"new" tags=SS:a|b}`,
			`ADD to a set: {orderId=S:"O1" qty=N:3 status=S:"new" tags=SS:a|b}`,
			`DELETE from a set: {orderId=S:"O1" qty=N:3 status=S:"new" tags=SS:b|c}`,
			`SET arithmetic and if_not_exists: {orderId=S:"O1" qty=N:2 seen=N:0 status=S:"new" tags=SS:b|c}`,
			`SET list_append: {hist=L:[S:"e1"] orderId=S:"O1" qty=N:2 seen=N:0 status=S:"new" tags=SS:b|c}`,
			`REMOVE: {hist=L:[S:"e1"] orderId=S:"O1" qty=N:2 seen=N:0 status=S:"new" tags=SS:b|c}`,
			`conditional update fails: ConditionalCheckFailedException item={hist=L:[S:"e1"] orderId=S:"O1" qty=N:2 status=S:"new" tags=SS:b|c}`,
			`conditional update passes: {hist=L:[S:"e1"] orderId=S:"O1" qty=N:2 status=S:"shipped" tags=SS:b|c}`,
			"updating the key is refused: ValidationException",
			"a syntax error is refused: ValidationException",
			`GetItem O1: {hist=L:[S:"e1"] orderId=S:"O1" qty=N:2 status=S:"shipped" tags=SS:b|c}`,
		},
	},
	{
		name: "DeleteItem deletes, guards with a condition and returns the old item",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			put(c, "Orders", order("O1", "U1", "t", "new", "1"))
			_, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("O1")}, ConditionExpression: aws.String("#s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"}, ExpressionAttributeValues: av{":s": s("shipped")}})
			tr.errOr("conditional delete fails", err, func() string { return "ok" })
			out, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("O1")}, ReturnValues: types.ReturnValueAllOld})
			tr.errOr("delete ALL_OLD", err, func() string { return renderItem(out.Attributes) })
			out, err = c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("O1")}, ReturnValues: types.ReturnValueAllOld})
			tr.errOr("delete again", err, func() string { return renderItem(out.Attributes) })
			getOrder(c, tr, "O1")
		},
	},
	{
		name: "Query reads a partition by string range conditions, both ways, filtered and paged",
		run: func(c *awsddb.Client, tr *transcript) {
			eventsTable(c, "Events", types.ScalarAttributeTypeS)
			for i, sk := range []string{"a#1", "a#2", "a#3", "b#1", "b#2", "c"} {
				put(c, "Events", av{"pk": s("P"), "sk": s(sk), "rank": n(fmt.Sprint(10 - i)), "kind": s([]string{"x", "y"}[i%2]), "note": s("n" + sk), "other": s("o")})
			}
			put(c, "Events", av{"pk": s("Q"), "sk": s("a#1")})
			q := func(label, kce string, vals av, fwd bool, limit int32) {
				in := awsddb.QueryInput{TableName: aws.String("Events"), KeyConditionExpression: aws.String(kce), ExpressionAttributeValues: vals, ScanIndexForward: aws.Bool(fwd), ProjectionExpression: aws.String("sk")}
				if limit > 0 {
					in.Limit = aws.Int32(limit)
				}
				queryPages(c, tr, label, in)
			}
			q("whole partition", "pk = :p", av{":p": s("P")}, true, 0)
			q("begins_with", "pk = :p AND begins_with(sk, :b)", av{":p": s("P"), ":b": s("a#")}, true, 0)
			q("begins_with backwards", "pk = :p AND begins_with(sk, :b)", av{":p": s("P"), ":b": s("b")}, false, 0)
			q("between", "pk = :p AND sk BETWEEN :a AND :b", av{":p": s("P"), ":a": s("a#2"), ":b": s("b#1")}, true, 0)
			q("less than, backwards", "pk = :p AND sk < :b", av{":p": s("P"), ":b": s("b#1")}, false, 0)
			q("greater or equal", "pk = :p AND sk >= :b", av{":p": s("P"), ":b": s("b#1")}, true, 0)
			q("paged by 2", "pk = :p", av{":p": s("P")}, true, 2)
			q("paged by 4 backwards", "pk = :p", av{":p": s("P")}, false, 4)
			queryPages(c, tr, "filtered", awsddb.QueryInput{TableName: aws.String("Events"), KeyConditionExpression: aws.String("pk = :p"), FilterExpression: aws.String("kind = :k"), ExpressionAttributeValues: av{":p": s("P"), ":k": s("y")}, ProjectionExpression: aws.String("sk, kind")})
			q("wrong value type", "pk = :p", av{":p": n("1")}, true, 0)
		},
	},
	{
		name: "a GSI is queried newest first with paging (our UserOrders index)",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			for i := 1; i <= 5; i++ {
				put(c, "Orders", order(fmt.Sprintf("O%d", i), "U1", fmt.Sprintf("2025-01-0%dT00:00:00Z", i), "new", "1"))
			}
			put(c, "Orders", order("O9", "U2", "2025-01-09T00:00:00Z", "new", "1"))
			queryPages(c, tr, "U1 newest first", awsddb.QueryInput{
				TableName: aws.String("Orders"), IndexName: aws.String("UserOrders"),
				KeyConditionExpression:    aws.String("userId = :u"),
				ExpressionAttributeValues: av{":u": s("U1")},
				ScanIndexForward:          aws.Bool(false), Limit: aws.Int32(2),
				ProjectionExpression: aws.String("orderId, #t"), ExpressionAttributeNames: map[string]string{"#t": "timestamp"},
			})
			queryPages(c, tr, "U1 since the 3rd", awsddb.QueryInput{
				TableName: aws.String("Orders"), IndexName: aws.String("UserOrders"),
				KeyConditionExpression:    aws.String("userId = :u AND #t >= :since"),
				ExpressionAttributeNames:  map[string]string{"#t": "timestamp"},
				ExpressionAttributeValues: av{":u": s("U1"), ":since": s("2025-01-03")},
				ProjectionExpression:      aws.String("orderId"),
			})
			// the index follows an overwrite that changes its key
			put(c, "Orders", order("O1", "U2", "2025-01-10T00:00:00Z", "new", "2"))
			queryPages(c, tr, "U2 after moving O1", awsddb.QueryInput{
				TableName: aws.String("Orders"), IndexName: aws.String("UserOrders"),
				KeyConditionExpression: aws.String("userId = :u"), ExpressionAttributeValues: av{":u": s("U2")},
				ProjectionExpression: aws.String("orderId"),
			})
		},
	},
	{
		name:           "numeric range keys sort as numbers",
		minidynDiffers: "minidyn orders keys as strings (\"10\" < \"9\"); AWS orders N range keys numerically (Query API reference: results are sorted by the sort key value; numbers are compared as numbers)",
		run: func(c *awsddb.Client, tr *transcript) {
			eventsTable(c, "Events", types.ScalarAttributeTypeN)
			for _, sk := range []string{"10", "9", "-1", "100", "2.5", "-20", "0"} {
				put(c, "Events", av{"pk": s("P"), "sk": n(sk)})
			}
			queryPages(c, tr, "ascending", awsddb.QueryInput{TableName: aws.String("Events"), KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: av{":p": s("P")}})
			queryPages(c, tr, "between -1 and 10, descending", awsddb.QueryInput{TableName: aws.String("Events"), KeyConditionExpression: aws.String("pk = :p AND sk BETWEEN :a AND :b"), ExpressionAttributeValues: av{":p": s("P"), ":a": n("-1"), ":b": n("10")}, ScanIndexForward: aws.Bool(false)})
			queryPages(c, tr, "greater than 9", awsddb.QueryInput{TableName: aws.String("Events"), KeyConditionExpression: aws.String("pk = :p AND sk > :a"), ExpressionAttributeValues: av{":p": s("P"), ":a": n("9")}})
		},
		aws: []string{
			`ascending page 1: count=7 items=[{pk=S:"P" sk=N:-20}, {pk=S:"P" sk=N:-1}, {pk=S:"P" sk=N:0}, {pk=S:"P" sk=N:2.5}, {pk=S:"P" sk=N:9}, {pk=S:"P" sk=N:10}, {pk=S:"P" sk=N:100}] next=none`,
			`between -1 and 10, descending page 1: count=5 items=[{pk=S:"P" sk=N:10}, {pk=S:"P" sk=N:9}, {pk=S:"P" sk=N:2.5}, {pk=S:"P" sk=N:0}, {pk=S:"P" sk=N:-1}] next=none`,
			`greater than 9 page 1: count=2 items=[{pk=S:"P" sk=N:10}, {pk=S:"P" sk=N:100}] next=none`,
		},
	},
	{
		name:           "Select COUNT counts without returning items",
		minidynDiffers: "minidyn ignores Select; AWS returns only Count and ScannedCount for COUNT (Query API reference: Select)",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			for i := 1; i <= 3; i++ {
				put(c, "Orders", order(fmt.Sprintf("O%d", i), "U1", fmt.Sprintf("t%d", i), "new", "1"))
			}
			out, err := c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("Orders"), IndexName: aws.String("UserOrders"), KeyConditionExpression: aws.String("userId = :u"), ExpressionAttributeValues: av{":u": s("U1")}, Select: types.SelectCount})
			tr.errOr("Query COUNT", err, func() string { return fmt.Sprintf("count=%d items=%d", out.Count, len(out.Items)) })
			sc, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Orders"), Select: types.SelectCount})
			tr.errOr("Scan COUNT", err, func() string { return fmt.Sprintf("count=%d items=%d", sc.Count, len(sc.Items)) })
		},
		aws: []string{"Query COUNT: count=3 items=0", "Scan COUNT: count=3 items=0"},
	},
	{
		name: "Scan reads every item, filtered and paged",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			for i := 1; i <= 7; i++ {
				put(c, "Orders", order(fmt.Sprintf("O%d", i), fmt.Sprintf("U%d", i%2), "t", []string{"new", "shipped"}[i%2], "1"))
			}
			scanAll(c, tr, "all by 3", awsddb.ScanInput{TableName: aws.String("Orders"), Limit: aws.Int32(3), ProjectionExpression: aws.String("orderId")})
			scanAll(c, tr, "shipped", awsddb.ScanInput{TableName: aws.String("Orders"), FilterExpression: aws.String("#s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"}, ExpressionAttributeValues: av{":s": s("shipped")}, ProjectionExpression: aws.String("orderId")})
			scanAll(c, tr, "the index", awsddb.ScanInput{TableName: aws.String("Orders"), IndexName: aws.String("UserOrders"), ProjectionExpression: aws.String("orderId, userId")})
		},
	},
	{
		name: "BatchWriteItem and BatchGetItem write and read many items",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			put(c, "Orders", order("gone", "U", "t", "new", "1"))
			var reqs []types.WriteRequest
			for i := 1; i <= 4; i++ {
				reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av{"orderId": s(fmt.Sprintf("B%d", i)), "n": n(fmt.Sprint(i))}}})
			}
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: av{"orderId": s("gone")}}})
			w, err := c.BatchWriteItem(ctx, &awsddb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"Orders": reqs}})
			tr.errOr("BatchWriteItem", err, func() string { return fmt.Sprintf("unprocessed=%d", len(w.UnprocessedItems)) })
			g, err := c.BatchGetItem(ctx, &awsddb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"Orders": {Keys: []av{{"orderId": s("B1")}, {"orderId": s("B3")}, {"orderId": s("gone")}, {"orderId": s("B9")}}}}})
			tr.errOr("BatchGetItem", err, func() string {
				return fmt.Sprintf("%s unprocessed=%d", renderItems(g.Responses["Orders"], true), len(g.UnprocessedKeys))
			})
			var many []types.WriteRequest
			for i := 0; i < 26; i++ {
				many = append(many, types.WriteRequest{PutRequest: &types.PutRequest{Item: av{"orderId": s(fmt.Sprint(i))}}})
			}
			_, err = c.BatchWriteItem(ctx, &awsddb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"Orders": many}})
			tr.errOr("BatchWriteItem of 26", err, func() string { return "ok" })
		},
	},
	{
		name: "TransactWriteItems applies all or nothing and TransactGetItems reads",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			put(c, "Orders", order("A", "U", "t", "new", "1"))
			put(c, "Orders", order("B", "U", "t", "new", "1"))
			put(c, "Orders", order("D", "U", "t", "new", "1"))
			tx := func(label string, failCond string) {
				_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
					{Put: &types.Put{TableName: aws.String("Orders"), Item: av{"orderId": s("C"), "v": n("1")}}},
					{Update: &types.Update{TableName: aws.String("Orders"), Key: av{"orderId": s("A")}, UpdateExpression: aws.String("SET #s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"}, ExpressionAttributeValues: av{":s": s("shipped")}}},
					{ConditionCheck: &types.ConditionCheck{TableName: aws.String("Orders"), Key: av{"orderId": s("B")}, ConditionExpression: aws.String(failCond), ExpressionAttributeNames: map[string]string{"#s": "status"}, ExpressionAttributeValues: av{":s": s("new")}}},
					{Delete: &types.Delete{TableName: aws.String("Orders"), Key: av{"orderId": s("D")}}},
				}})
				tr.errOr(label, err, func() string { return "ok" })
			}
			tx("failing check", "#s <> :s")
			scanAll(c, tr, "after the failed transaction", awsddb.ScanInput{TableName: aws.String("Orders"), ProjectionExpression: aws.String("orderId, #s"), ExpressionAttributeNames: map[string]string{"#s": "status"}})
			tx("passing check", "#s = :s")
			scanAll(c, tr, "after the transaction", awsddb.ScanInput{TableName: aws.String("Orders"), ProjectionExpression: aws.String("orderId, #s"), ExpressionAttributeNames: map[string]string{"#s": "status"}})
			_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Put: &types.Put{TableName: aws.String("Orders"), Item: av{"orderId": s("E")}}},
				{Delete: &types.Delete{TableName: aws.String("Orders"), Key: av{"orderId": s("E")}}},
			}})
			tr.errOr("two operations on one item", err, func() string { return "ok" })
			g, err := c.TransactGetItems(ctx, &awsddb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
				{Get: &types.Get{TableName: aws.String("Orders"), Key: av{"orderId": s("A")}, ProjectionExpression: aws.String("orderId, #s"), ExpressionAttributeNames: map[string]string{"#s": "status"}}},
				{Get: &types.Get{TableName: aws.String("Orders"), Key: av{"orderId": s("zzz")}}},
			}})
			tr.errOr("TransactGetItems", err, func() string {
				var parts []string
				for _, r := range g.Responses {
					parts = append(parts, renderItem(r.Item))
				}
				return strings.Join(parts, " ")
			})
		},
	},
	{
		name: "bad keys are ValidationException",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			tr.errOr("PutItem without the key", put(c, "Orders", av{"x": s("1")}), func() string { return "ok" })
			tr.errOr("PutItem with a number key", put(c, "Orders", av{"orderId": n("1")}), func() string { return "ok" })
			_, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: av{"orderId": n("1")}})
			tr.errOr("GetItem with a number key", err, func() string { return "ok" })
			_, err = c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("1"), "extra": s("2")}})
			tr.errOr("GetItem with an extra attribute", err, func() string { return "ok" })
			_, err = c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: av{"other": s("1")}})
			tr.errOr("GetItem with the wrong attribute", err, func() string { return "ok" })
		},
	},
	{
		name:           "an empty string key and an item over 400 KB are refused",
		minidynDiffers: "minidyn stores both; AWS refuses an empty string key attribute and items over 400 KB (Developer Guide: Service quotas, item size; data types, string)",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			tr.errOr("empty string key", put(c, "Orders", av{"orderId": s("")}), func() string { return "ok" })
			_, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("")}})
			tr.errOr("GetItem with an empty key", err, func() string { return "ok" })
			tr.errOr("empty string index key", put(c, "Orders", av{"orderId": s("x"), "userId": s(""), "timestamp": s("t")}), func() string { return "ok" })
			tr.errOr("401 KB item", put(c, "Orders", av{"orderId": s("big"), "blob": s(strings.Repeat("x", 401*1024))}), func() string { return "ok" })
			tr.errOr("399 KB item", put(c, "Orders", av{"orderId": s("ok"), "blob": s(strings.Repeat("x", 399*1024))}), func() string { return "ok" })
		},
		aws: []string{
			"empty string key: ValidationException",
			"GetItem with an empty key: ValidationException",
			"empty string index key: ValidationException",
			"401 KB item: ValidationException",
			"399 KB item: ok",
		},
	},
	{
		name:           "PutItem with ReturnValues ALL_OLD returns the replaced item, NONE returns nothing",
		minidynDiffers: "minidyn's PutItem returns the new item whatever ReturnValues says; AWS returns the old item for ALL_OLD and nothing for NONE (PutItem API reference: ReturnValues)",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			out, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: av{"orderId": s("O1"), "v": n("1")}, ReturnValues: types.ReturnValueAllOld})
			tr.errOr("first put ALL_OLD", err, func() string { return renderItem(out.Attributes) })
			out, err = c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: av{"orderId": s("O1"), "v": n("2")}, ReturnValues: types.ReturnValueAllOld})
			tr.errOr("second put ALL_OLD", err, func() string { return renderItem(out.Attributes) })
			out, err = c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: av{"orderId": s("O1"), "v": n("3")}})
			tr.errOr("third put NONE", err, func() string { return renderItem(out.Attributes) })
		},
		aws: []string{
			"first put ALL_OLD: <none>",
			`second put ALL_OLD: {orderId=S:"O1" v=N:1}`,
			"third put NONE: <none>",
		},
	},
	{
		name:           "UpdateTable adds and removes a GSI, which then serves queries",
		minidynDiffers: "minidyn does not backfill a GSI added to a table that holds items, and panics (closing the connection) on a query of a removed index; AWS backfills a new GSI before it is ACTIVE and answers a query of an unknown index with ValidationException (Developer Guide: Adding a GSI to an existing table)",
		aws: []string{
			"add ByStatus: ok",
			`query ByStatus: [{orderId=S:"O1" status=S:"new"}, {orderId=S:"O2" status=S:"new"}]`,
			"remove ByStatus: ok",
			"query removed index: ValidationException",
		},
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			put(c, "Orders", av{"orderId": s("O1"), "status": s("new")})
			put(c, "Orders", av{"orderId": s("O2"), "status": s("new")})
			put(c, "Orders", av{"orderId": s("O3")})
			_, err := c.UpdateTable(ctx, &awsddb.UpdateTableInput{
				TableName:            aws.String("Orders"),
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("status"), AttributeType: types.ScalarAttributeTypeS}},
				GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
					IndexName:  aws.String("ByStatus"),
					KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("status"), KeyType: types.KeyTypeHash}},
					Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
				}}},
			})
			tr.errOr("add ByStatus", err, func() string { return "ok" })
			out, err := c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("Orders"), IndexName: aws.String("ByStatus"), KeyConditionExpression: aws.String("#s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"}, ExpressionAttributeValues: av{":s": s("new")}})
			tr.errOr("query ByStatus", err, func() string { return renderItems(out.Items, true) })
			_, err = c.UpdateTable(ctx, &awsddb.UpdateTableInput{TableName: aws.String("Orders"), GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Delete: &types.DeleteGlobalSecondaryIndexAction{IndexName: aws.String("ByStatus")}}}})
			tr.errOr("remove ByStatus", err, func() string { return "ok" })
			_, err = c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("Orders"), IndexName: aws.String("ByStatus"), KeyConditionExpression: aws.String("#s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"}, ExpressionAttributeValues: av{":s": s("new")}})
			tr.errOr("query removed index", err, func() string { return "ok" })
		},
	},
	{
		name:           "projecting a list element returns the element alone",
		minidynDiffers: "minidyn leaves a null in place of the elements not projected; AWS returns the projected elements only (Developer Guide: projection expressions, document paths)",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			put(c, "Orders", av{"orderId": s("O1"), "l": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("x"), s("y"), s("z")}}})
			out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("O1")}, ProjectionExpression: aws.String("l[1]")})
			tr.errOr("GetItem l[1]", err, func() string { return renderItem(out.Item) })
		},
		aws: []string{`GetItem l[1]: {l=L:[S:"y"]}`},
	},
	{
		name:           "UPDATED_NEW returns only the attributes the update wrote",
		minidynDiffers: "minidyn compares the whole item before and after, so a set it re-encodes in another order counts as updated; AWS returns the attributes the UpdateExpression wrote (UpdateItem API reference: ReturnValues)",
		run: func(c *awsddb.Client, tr *transcript) {
			ordersTable(c, "Orders")
			put(c, "Orders", av{"orderId": s("O1"), "tags": &types.AttributeValueMemberSS{Value: []string{"a", "b", "c", "d", "e"}}, "n": n("1")})
			out, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("O1")}, UpdateExpression: aws.String("SET n = n + :one"), ExpressionAttributeValues: av{":one": n("1")}, ReturnValues: types.ReturnValueUpdatedNew})
			tr.errOr("UpdateItem UPDATED_NEW", err, func() string { return renderItem(out.Attributes) })
			out, err = c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("O1")}, UpdateExpression: aws.String("SET n = :same"), ExpressionAttributeValues: av{":same": n("2")}, ReturnValues: types.ReturnValueUpdatedOld})
			tr.errOr("UpdateItem UPDATED_OLD to the same value", err, func() string { return renderItem(out.Attributes) })
		},
		aws: []string{"UpdateItem UPDATED_NEW: {n=N:2}", "UpdateItem UPDATED_OLD to the same value: {n=N:2}"},
	},
	{
		name:           "a Query without an equality on the partition key, or on an unknown index, is ValidationException",
		minidynDiffers: "minidyn returns no items for a key condition that misses the partition key and panics (closing the connection) on an unknown index; AWS refuses both with ValidationException (Query API reference: KeyConditionExpression, IndexName)",
		run: func(c *awsddb.Client, tr *transcript) {
			eventsTable(c, "Events", types.ScalarAttributeTypeS)
			put(c, "Events", av{"pk": s("P"), "sk": s("a")})
			queryPages(c, tr, "range key only", awsddb.QueryInput{TableName: aws.String("Events"), KeyConditionExpression: aws.String("sk = :b"), ExpressionAttributeValues: av{":b": s("a")}})
			queryPages(c, tr, "partition key range", awsddb.QueryInput{TableName: aws.String("Events"), KeyConditionExpression: aws.String("pk > :p"), ExpressionAttributeValues: av{":p": s("A")}})
			queryPages(c, tr, "a non-key attribute", awsddb.QueryInput{TableName: aws.String("Events"), KeyConditionExpression: aws.String("pk = :p AND note = :n"), ExpressionAttributeValues: av{":p": s("P"), ":n": s("x")}})
			queryPages(c, tr, "unknown index", awsddb.QueryInput{TableName: aws.String("Events"), IndexName: aws.String("Nope"), KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: av{":p": s("P")}})
		},
		aws: []string{
			"range key only page 1: ValidationException",
			"partition key range page 1: ValidationException",
			"a non-key attribute page 1: ValidationException",
			"unknown index page 1: ValidationException",
		},
	},
}

// minidynService is minidyn's server with the ListTables it lacks: the
// other side of every parity scenario. The scenarios run one request at a
// time, so it needs no lock.
func minidynService(t testing.TB) http.Handler {
	t.Helper()
	return &withListTables{next: miniserver.NewServer(), tables: map[string]bool{}}
}

type withListTables struct {
	next   http.Handler
	tables map[string]bool
}

func (h *withListTables) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.Header.Get("X-Amz-Target")
	op = op[strings.LastIndexByte(op, '.')+1:]
	body, _ := io.ReadAll(r.Body)
	var in struct {
		TableName               string
		ExclusiveStartTableName string
		Limit                   int
	}
	_ = json.Unmarshal(body, &in)
	if op == "ListTables" {
		// AWS's paging: names in order, at most Limit after the start.
		var names []string
		for n := range h.tables {
			if n > in.ExclusiveStartTableName {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		out := map[string]any{"TableNames": names}
		if in.Limit > 0 && len(names) > in.Limit {
			out["TableNames"], out["LastEvaluatedTableName"] = names[:in.Limit], names[in.Limit-1]
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		json.NewEncoder(w).Encode(out)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r)
	if rec.Code == http.StatusOK {
		switch op {
		case "CreateTable":
			h.tables[in.TableName] = true
		case "DeleteTable":
			delete(h.tables, in.TableName)
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

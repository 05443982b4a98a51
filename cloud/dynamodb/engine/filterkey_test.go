package engine_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
)

// TestQueryFilterOnKeyRefused: a Query's FilterExpression or legacy
// QueryFilter that names a key attribute of the table or of the index it
// queries is a ValidationException, naming the partition key first, as
// DynamoDB answers; a Scan may filter on any attribute, and a filter on
// an attribute that is a key elsewhere (the table's key, queried through
// a global index; a nested attribute of the same name) is accepted.
func TestQueryFilterOnKeyRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		if err := eventsTable(c, "events", types.ScalarAttributeTypeS); err != nil {
			t.Fatal(err)
		}
		if err := put(c, "events", av{"pk": s("p"), "sk": s("a"), "rank": n("1"), "kind": s("k"), "note": m(av{"pk": s("p")})}); err != nil {
			t.Fatal(err)
		}
		const filterMsg = "ValidationException: Filter Expression can only contain non-primary key attributes: Primary key attribute: "
		const legacyMsg = "ValidationException: QueryFilter can only contain non-primary key attributes: Primary key attribute: "
		cases := []struct {
			name string
			in   awsddb.QueryInput
			want string
		}{
			{"the range key in a filter", awsddb.QueryInput{KeyConditionExpression: aws.String("pk = :p"), FilterExpression: aws.String("sk > :s"),
				ExpressionAttributeValues: av{":p": s("p"), ":s": s("")}}, filterMsg + "sk"},
			{"the partition key through a placeholder", awsddb.QueryInput{KeyConditionExpression: aws.String("#k = :p"), FilterExpression: aws.String("#k = :p"),
				ExpressionAttributeNames: map[string]string{"#k": "pk"}, ExpressionAttributeValues: av{":p": s("p")}}, filterMsg + "pk"},
			{"both keys: the partition key is named", awsddb.QueryInput{KeyConditionExpression: aws.String("pk = :p"), FilterExpression: aws.String("sk = :p OR pk = :p"),
				ExpressionAttributeValues: av{":p": s("p")}}, filterMsg + "pk"},
			{"a key inside a function", awsddb.QueryInput{KeyConditionExpression: aws.String("pk = :p"), FilterExpression: aws.String("NOT begins_with(sk, :p)"),
				ExpressionAttributeValues: av{":p": s("p")}}, filterMsg + "sk"},
			{"a key inside BETWEEN's bounds", awsddb.QueryInput{KeyConditionExpression: aws.String("pk = :p"), FilterExpression: aws.String("note.pk BETWEEN :p AND sk"),
				ExpressionAttributeValues: av{":p": s("p")}}, filterMsg + "sk"},
			{"a nested attribute named like the key", awsddb.QueryInput{KeyConditionExpression: aws.String("pk = :p"), FilterExpression: aws.String("note.pk = :p"),
				ExpressionAttributeValues: av{":p": s("p")}}, "ok 1"},
			{"a global index's range key", awsddb.QueryInput{IndexName: aws.String("ByKind"), KeyConditionExpression: aws.String("kind = :k"), FilterExpression: aws.String("sk = :s"),
				ExpressionAttributeValues: av{":k": s("k"), ":s": s("a")}}, filterMsg + "sk"},
			{"a global index's partition key", awsddb.QueryInput{IndexName: aws.String("ByKind"), KeyConditionExpression: aws.String("kind = :k"), FilterExpression: aws.String("size(kind) > :n"),
				ExpressionAttributeValues: av{":k": s("k"), ":n": n("0")}}, filterMsg + "kind"},
			{"the table's partition key through a global index", awsddb.QueryInput{IndexName: aws.String("ByKind"), KeyConditionExpression: aws.String("kind = :k"), FilterExpression: aws.String("pk = :p"),
				ExpressionAttributeValues: av{":k": s("k"), ":p": s("p")}}, "ok 1"},
			{"a local index's range key", awsddb.QueryInput{IndexName: aws.String("ByRank"), KeyConditionExpression: aws.String("pk = :p"), FilterExpression: aws.String("#r > :n"),
				ExpressionAttributeNames: map[string]string{"#r": "rank"}, ExpressionAttributeValues: av{":p": s("p"), ":n": n("0")}}, filterMsg + "rank"},
			{"legacy QueryFilter on the range key", awsddb.QueryInput{KeyConditions: map[string]types.Condition{"pk": cond(types.ComparisonOperatorEq, s("p"))},
				QueryFilter: map[string]types.Condition{"sk": cond(types.ComparisonOperatorNotNull)}}, legacyMsg + "sk"},
			{"legacy QueryFilter on both keys", awsddb.QueryInput{KeyConditions: map[string]types.Condition{"pk": cond(types.ComparisonOperatorEq, s("p"))},
				QueryFilter: map[string]types.Condition{"sk": cond(types.ComparisonOperatorNotNull), "pk": cond(types.ComparisonOperatorNotNull)}}, legacyMsg + "pk"},
			{"legacy QueryFilter on an index key", awsddb.QueryInput{IndexName: aws.String("ByKind"), KeyConditions: map[string]types.Condition{"kind": cond(types.ComparisonOperatorEq, s("k"))},
				QueryFilter: map[string]types.Condition{"sk": cond(types.ComparisonOperatorEq, s("a"))}}, legacyMsg + "sk"},
			{"legacy QueryFilter on other attributes", awsddb.QueryInput{KeyConditions: map[string]types.Condition{"pk": cond(types.ComparisonOperatorEq, s("p"))},
				QueryFilter: map[string]types.Condition{"kind": cond(types.ComparisonOperatorEq, s("k"))}}, "ok 1"},
		}
		for _, tc := range cases {
			in := tc.in
			in.TableName = aws.String("events")
			out, err := c.Query(ctx, &in)
			got := codeMessage(err)
			if err == nil {
				got = "ok " + string(rune('0'+out.Count))
			}
			if got != tc.want {
				t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
			}
		}
		out, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("events"), FilterExpression: aws.String("pk = :p AND sk = :s"), ExpressionAttributeValues: av{":p": s("p"), ":s": s("a")}})
		if err != nil || out.Count != 1 {
			t.Errorf("a Scan filtering on the keys: got %v, %s; want 1 item", out, codeMessage(err))
		}
	})
}

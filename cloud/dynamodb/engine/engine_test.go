package engine_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
)

var _ http.Handler = (*engine.Engine)(nil)

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	if err == nil {
		return ""
	}
	return "not an API error: " + err.Error()
}

func TestDescribeTableReportsWhatAWSDocuments(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		if err := ordersTable(c, "Orders"); err != nil {
			t.Fatal(err)
		}
		put(c, "Orders", order("O1", "U1", "t", "new", "1"))
		put(c, "Orders", av{"orderId": s("O2")}) // not in the index: no userId
		out, err := c.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("Orders")})
		if err != nil {
			t.Fatal(err)
		}
		d := out.Table
		checks := []struct {
			what      string
			got, want any
		}{
			{"TableStatus", d.TableStatus, types.TableStatusActive},
			{"TableArn", aws.ToString(d.TableArn), "arn:aws:dynamodb:us-east-1:000000000000:table/Orders"},
			{"ItemCount", aws.ToInt64(d.ItemCount), int64(2)},
			{"AttributeDefinitions", len(d.AttributeDefinitions), 3},
			{"BillingMode", d.BillingModeSummary != nil && d.BillingModeSummary.BillingMode == types.BillingModePayPerRequest, true},
			{"GSI count", len(d.GlobalSecondaryIndexes), 1},
			{"GSI status", d.GlobalSecondaryIndexes[0].IndexStatus, types.IndexStatusActive},
			{"GSI items", aws.ToInt64(d.GlobalSecondaryIndexes[0].ItemCount), int64(1)},
			{"GSI arn", aws.ToString(d.GlobalSecondaryIndexes[0].IndexArn), "arn:aws:dynamodb:us-east-1:000000000000:table/Orders/index/UserOrders"},
			{"CreationDateTime set", d.CreationDateTime != nil && !d.CreationDateTime.IsZero(), true},
			{"TableSizeBytes > 0", aws.ToInt64(d.TableSizeBytes) > 0, true},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
			}
		}
	})
}

func TestCreateTableRefusesInconsistentDefinitions(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		key := []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}}
		def := func(names ...string) []types.AttributeDefinition {
			var out []types.AttributeDefinition
			for _, n := range names {
				out = append(out, types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS})
			}
			return out
		}
		for _, tt := range []struct {
			name string
			in   awsddb.CreateTableInput
		}{
			{"a key attribute without a definition", awsddb.CreateTableInput{AttributeDefinitions: def("other"), KeySchema: key, BillingMode: types.BillingModePayPerRequest}},
			{"a definition no key uses", awsddb.CreateTableInput{AttributeDefinitions: def("id", "extra"), KeySchema: key, BillingMode: types.BillingModePayPerRequest}},
			{"provisioned without throughput", awsddb.CreateTableInput{AttributeDefinitions: def("id"), KeySchema: key}},
			{"a name too short", awsddb.CreateTableInput{TableName: aws.String("ab"), AttributeDefinitions: def("id"), KeySchema: key, BillingMode: types.BillingModePayPerRequest}},
			{"an LSI on a table without a range key", awsddb.CreateTableInput{AttributeDefinitions: def("id", "r"), KeySchema: key, BillingMode: types.BillingModePayPerRequest,
				LocalSecondaryIndexes: []types.LocalSecondaryIndex{{IndexName: aws.String("lsi"), KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("r"), KeyType: types.KeyTypeRange}}, Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}}}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				in := tt.in
				if in.TableName == nil {
					in.TableName = aws.String("T1")
				}
				if _, err := c.CreateTable(ctx, &in); code(err) != "ValidationException" {
					t.Errorf("CreateTable error = %v, want ValidationException", err)
				}
			})
		}
	})
}

func TestAFilteredQueryCountsWhatItScannedAndWhatMatched(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		eventsTable(c, "Events", types.ScalarAttributeTypeN)
		for i := range 10 {
			put(c, "Events", av{"pk": s("P"), "sk": n(fmt.Sprint(i)), "even": boolean(i%2 == 0)})
		}
		out, err := c.Query(ctx, &awsddb.QueryInput{
			TableName: aws.String("Events"), KeyConditionExpression: aws.String("pk = :p AND sk >= :from"),
			FilterExpression:          aws.String("even = :t"),
			ExpressionAttributeValues: av{":p": s("P"), ":from": n("2"), ":t": boolean(true)},
			Limit:                     aws.Int32(5),
		})
		if err != nil {
			t.Fatal(err)
		}
		if out.ScannedCount != 5 || out.Count != 3 || out.LastEvaluatedKey == nil {
			t.Errorf("ScannedCount %d, Count %d, LastEvaluatedKey %v; want 5, 3 and a key", out.ScannedCount, out.Count, out.LastEvaluatedKey)
		}
	})
}

func TestAPageStopsAtOneMegabyte(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		ordersTable(c, "Orders")
		for i := range 12 {
			if err := put(c, "Orders", av{"orderId": s(fmt.Sprint(i)), "blob": s(strings.Repeat("x", 100*1024))}); err != nil {
				t.Fatal(err)
			}
		}
		out, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Orders")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Items) >= 12 || len(out.Items) < 10 || out.LastEvaluatedKey == nil {
			t.Fatalf("first page has %d items (LastEvaluatedKey %v), want 10 or 11 and a key", len(out.Items), out.LastEvaluatedKey)
		}
		rest, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Orders"), ExclusiveStartKey: out.LastEvaluatedKey})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(out.Items) + len(rest.Items); got != 12 || rest.LastEvaluatedKey != nil {
			t.Errorf("two pages hold %d items, LastEvaluatedKey %v; want 12 and none", got, rest.LastEvaluatedKey)
		}
	})
}

func TestParallelScanSegmentsCoverEveryItemOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		ordersTable(c, "Orders")
		for i := range 50 {
			put(c, "Orders", av{"orderId": s(fmt.Sprint(i))})
		}
		seen := map[string]int{}
		for seg := range int32(4) {
			out, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Orders"), Segment: aws.Int32(seg), TotalSegments: aws.Int32(4)})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range out.Items {
				seen[it["orderId"].(*types.AttributeValueMemberS).Value]++
			}
		}
		if len(seen) != 50 {
			t.Errorf("segments saw %d distinct items, want 50", len(seen))
		}
		for id, k := range seen {
			if k != 1 {
				t.Errorf("item %s seen %d times", id, k)
			}
		}
		if _, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Orders"), Segment: aws.Int32(4), TotalSegments: aws.Int32(4)}); code(err) != "ValidationException" {
			t.Errorf("Segment 4 of 4: error %v, want ValidationException", err)
		}
	})
}

func TestConcurrentConditionalUpdatesAreAtomic(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		ordersTable(c, "Orders")
		put(c, "Orders", av{"orderId": s("ctr"), "v": n("0")})
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		// Each writer reads v and sets v+1 on condition that v is unchanged:
		// exactly the successful writes may have incremented it.
		for w := range 8 {
			wg.Go(func() {
				for range 25 {
					got, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("ctr")}, ConsistentRead: aws.Bool(true)})
					if err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					old := got.Item["v"].(*types.AttributeValueMemberN).Value
					_, err = c.UpdateItem(ctx, &awsddb.UpdateItemInput{
						TableName: aws.String("Orders"), Key: av{"orderId": s("ctr")},
						UpdateExpression: aws.String("SET v = v + :one"), ConditionExpression: aws.String("v = :old"),
						ExpressionAttributeValues: av{":one": n("1"), ":old": n(old)},
					})
					switch {
					case err == nil:
						mu.Lock()
						wins++
						mu.Unlock()
					case code(err) != "ConditionalCheckFailedException":
						t.Errorf("writer %d: %v", w, err)
						return
					}
				}
			})
		}
		wg.Wait()
		got, _ := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("ctr")}})
		if v := got.Item["v"].(*types.AttributeValueMemberN).Value; v != fmt.Sprint(wins) {
			t.Errorf("v = %s after %d successful conditional increments", v, wins)
		}
	})
}

func TestAFailedTransactionReturnsTheOldItemItWasAskedFor(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		ordersTable(c, "Orders")
		put(c, "Orders", av{"orderId": s("A"), "v": n("1")})
		_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String("Orders"), Item: av{"orderId": s("B")}}},
			{ConditionCheck: &types.ConditionCheck{TableName: aws.String("Orders"), Key: av{"orderId": s("A")}, ConditionExpression: aws.String("v > :v"), ExpressionAttributeValues: av{":v": n("5")}, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		}})
		if got, want := renderError(err), `TransactionCanceledException reasons=[None,ConditionalCheckFailed{orderId=S:"A" v=N:1}]`; got != want {
			t.Errorf("error = %s, want %s", got, want)
		}
		out, _ := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("B")}})
		if out.Item != nil {
			t.Errorf("the cancelled transaction wrote B: %v", renderItem(out.Item))
		}
	})
}

func TestAnUpdateThatGrowsAnItemPast400KBIsRefused(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		ordersTable(c, "Orders")
		put(c, "Orders", av{"orderId": s("A"), "a": s(strings.Repeat("x", 300*1024))})
		_, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("A")}, UpdateExpression: aws.String("SET b = :b"), ExpressionAttributeValues: av{":b": s(strings.Repeat("y", 200*1024))}})
		if code(err) != "ValidationException" {
			t.Errorf("UpdateItem error = %v, want ValidationException", err)
		}
	})
}

func TestUntouchedNumbersKeepAllTheirDigitsThroughAnUpdate(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		ordersTable(c, "Orders")
		put(c, "Orders", av{"orderId": s("A"), "big": n("12345678901234567890123456789012345678"), "n": n("1")})
		out, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("Orders"), Key: av{"orderId": s("A")}, UpdateExpression: aws.String("SET n = n + :one"), ExpressionAttributeValues: av{":one": n("1")}, ReturnValues: types.ReturnValueAllNew})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Attributes["big"].(*types.AttributeValueMemberN).Value; got != "12345678901234567890123456789012345678" {
			t.Errorf("big = %s after an update of another attribute", got)
		}
	})
}

func TestMalformedRequestsAreAWSErrorsNotPanics(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		srv := httptest.NewServer(e)
		t.Cleanup(srv.Close)
		for _, tt := range []struct {
			target, body string
			status       int
			code         string
		}{
			{"DynamoDB_20120810.PutItem", "{not json", 400, "SerializationException"},
			{"DynamoDB_20120810.PutItem", `{"TableName":"TTT","Item":{"a":{"S":"x","N":"1"}}}`, 400, "ResourceNotFoundException"},
			// A name too short to be a table's is refused before any lookup.
			{"DynamoDB_20120810.PutItem", `{"TableName":"T","Item":{"a":{"S":"x","N":"1"}}}`, 400, "ValidationException"},
			{"DynamoDB_20120810.Frobnicate", "{}", 400, "UnknownOperationException"},
			{"DynamoDB_20120810.Query", `{"TableName":"TTT"}`, 400, "ResourceNotFoundException"},
			{"DynamoDB_20120810.Query", `{"TableName":"T"}`, 400, "ValidationException"},
		} {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(tt.body))
			req.Header.Set("X-Amz-Target", tt.target)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body strings.Builder
			fmt.Fprint(&body, resp.Header.Get("X-Amzn-ErrorType"))
			resp.Body.Close()
			if resp.StatusCode != tt.status || body.String() != tt.code {
				t.Errorf("%s %s: status %d type %q, want %d %q", tt.target, tt.body, resp.StatusCode, body.String(), tt.status, tt.code)
			}
		}
	})
}

package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	miniserver "github.com/truora/minidyn/server"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/dynamodb"
)

// openDB opens (creating) a bbolt file and closes it when the test ends.
func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// start opens a durable service on db, serves it on loopback and returns an
// SDK client for it. The service is closed only when the test ends, after
// any restart: a test that starts again on the same db abandons the old
// one as a crash would.
func start(t testing.TB, opts dynamodb.Options) (*dynamodb.Service, *awsddb.Client) {
	t.Helper()
	svc, err := dynamodb.Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	return svc, client(srv.URL)
}

// client is an SDK client for an endpoint, configured explicitly and
// without retries, so that every error a test sees is the server's answer.
func client(url string) *awsddb.Client {
	return awsddb.New(awsddb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      aws.NopRetryer{},
	})
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(v)} }

// createOrders creates a table keyed by pk with a GSI byUser on user.
func createOrders(t testing.TB, c *awsddb.Client, name string) {
	t.Helper()
	_, err := c.CreateTable(context.Background(), &awsddb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("user"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String("byUser"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("user"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	if err != nil {
		t.Fatalf("CreateTable %s: %v", name, err)
	}
}

func put(t testing.TB, c *awsddb.Client, table string, item map[string]types.AttributeValue) {
	t.Helper()
	if _, err := c.PutItem(context.Background(), &awsddb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatalf("PutItem %v: %v", item, err)
	}
}

func get(t testing.TB, c *awsddb.Client, table, pk string) map[string]types.AttributeValue {
	t.Helper()
	var out *awsddb.GetItemOutput
	err := retryRead(func() (err error) {
		out, err = c.GetItem(context.Background(), &awsddb.GetItemInput{
			TableName: aws.String(table), Key: map[string]types.AttributeValue{"pk": s(pk)}, ConsistentRead: aws.Bool(true),
		})
		return err
	})
	if err != nil {
		t.Fatalf("GetItem %s: %v", pk, err)
	}
	return out.Item
}

// scan returns every item of a table, in the engine's order.
func scan(t testing.TB, c *awsddb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	var items []map[string]types.AttributeValue
	err := retryRead(func() error {
		items = nil
		p := awsddb.NewScanPaginator(c, &awsddb.ScanInput{TableName: aws.String(table)})
		for p.HasMorePages() {
			out, err := p.NextPage(context.Background())
			if err != nil {
				return err
			}
			items = append(items, out.Items...)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Scan %s: %v", table, err)
	}
	return items
}

// retryRead runs a read again after an error that is not the server's
// answer: the SDK's client sometimes fails to read a 200 response on a
// connection its own transport closed (aws/aws-sdk-go-v2#2737), which its
// default retryer retries and the tests' client, without retries, does not.
func retryRead(read func() error) error {
	var err error
	for range 3 {
		if err = read(); err == nil || errorCode(err) != "" {
			return err
		}
	}
	return err
}

func sameState(t testing.TB, got, want []map[string]types.AttributeValue) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("state after restart differs:\n got %d items %v\nwant %d items %v", len(got), got, len(want), want)
	}
}

func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func TestATableAndItsItemsSurviveARestart(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "cloud.db"))
	ctx := context.Background()
	_, c := start(t, dynamodb.Options{DB: db})
	createOrders(t, c, "Orders")
	createOrders(t, c, "Gone")
	for i := range 20 {
		put(t, c, "Orders", map[string]types.AttributeValue{"pk": s(fmt.Sprintf("o%02d", i)), "user": s(fmt.Sprintf("u%d", i%3)), "qty": n(i)})
	}
	if _, err := c.DeleteTable(ctx, &awsddb.DeleteTableInput{TableName: aws.String("Gone")}); err != nil {
		t.Fatal(err)
	}
	want := scan(t, c, "Orders")

	_, c = start(t, dynamodb.Options{DB: db})
	sameState(t, scan(t, c, "Orders"), want)
	tables, err := c.ListTables(ctx, &awsddb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tables.TableNames, ","); got != "Orders" {
		t.Errorf("ListTables = %s, want Orders", got)
	}
	q, err := c.Query(ctx, &awsddb.QueryInput{
		TableName: aws.String("Orders"), IndexName: aws.String("byUser"),
		KeyConditionExpression:    aws.String("#u = :u"),
		ExpressionAttributeNames:  map[string]string{"#u": "user"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": s("u1")},
	})
	if err != nil {
		t.Fatalf("Query byUser: %v", err)
	}
	if q.Count != 7 {
		t.Errorf("Query byUser u1 after restart: got %d items, want 7", q.Count)
	}
}

func TestConditionalWritesReplayToTheSameFinalState(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "cloud.db"))
	ctx := context.Background()
	_, c := start(t, dynamodb.Options{DB: db})
	createOrders(t, c, "Orders")
	put(t, c, "Orders", map[string]types.AttributeValue{"pk": s("counter"), "version": n(0), "log": &types.AttributeValueMemberL{}})

	const writers, each, slots = 8, 12, 30
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			// Claim slots: exactly one writer wins each.
			for slot := range slots {
				_, err := c.PutItem(ctx, &awsddb.PutItemInput{
					TableName:           aws.String("Orders"),
					Item:                map[string]types.AttributeValue{"pk": s(fmt.Sprintf("slot%02d", slot)), "owner": n(w)},
					ConditionExpression: aws.String("attribute_not_exists(pk)"),
				})
				if err != nil && errorCode(err) != "ConditionalCheckFailedException" {
					errs <- err
					return
				}
			}
			// Version-guarded read-modify-write of one item.
			for done := 0; done < each; {
				got, err := c.GetItem(ctx, &awsddb.GetItemInput{
					TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("counter")}, ConsistentRead: aws.Bool(true),
				})
				if err != nil {
					errs <- err
					return
				}
				v := got.Item["version"].(*types.AttributeValueMemberN).Value
				_, err = c.UpdateItem(ctx, &awsddb.UpdateItemInput{
					TableName:                aws.String("Orders"),
					Key:                      map[string]types.AttributeValue{"pk": s("counter")},
					UpdateExpression:         aws.String("SET version = version + :one, #log = list_append(#log, :me)"),
					ConditionExpression:      aws.String("version = :v"),
					ExpressionAttributeNames: map[string]string{"#log": "log"},
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":one": n(1), ":v": &types.AttributeValueMemberN{Value: v},
						":me": &types.AttributeValueMemberL{Value: []types.AttributeValue{n(w)}},
					},
				})
				switch {
				case err == nil:
					done++
				case errorCode(err) != "ConditionalCheckFailedException":
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := scan(t, c, "Orders")
	counter := get(t, c, "Orders", "counter")
	if v := counter["version"].(*types.AttributeValueMemberN).Value; v != strconv.Itoa(writers*each) {
		t.Fatalf("version = %s, want %d", v, writers*each)
	}

	_, c = start(t, dynamodb.Options{DB: db})
	sameState(t, scan(t, c, "Orders"), want)
}

func TestAFailedWriteIsNotJournaled(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "cloud.db"))
	ctx := context.Background()
	svc, c := start(t, dynamodb.Options{DB: db})
	createOrders(t, c, "Orders")
	put(t, c, "Orders", map[string]types.AttributeValue{"pk": s("o1"), "status": s("NEW")})
	before := dynamodb.JournalRecords(db)

	failures := []struct {
		name, code string
		write      func() error
	}{
		{"a failed condition", "ConditionalCheckFailedException", func() error {
			_, err := c.PutItem(ctx, &awsddb.PutItemInput{
				TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s("o1"), "status": s("PAID")},
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			})
			return err
		}},
		{"a failed update condition", "ConditionalCheckFailedException", func() error {
			_, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{
				TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("o1")},
				UpdateExpression: aws.String("SET #s = :paid"), ConditionExpression: aws.String("#s = :paid"),
				ExpressionAttributeNames:  map[string]string{"#s": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":paid": s("PAID")},
			})
			return err
		}},
		{"a failed delete condition", "ConditionalCheckFailedException", func() error {
			_, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{
				TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("o1")},
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			})
			return err
		}},
		{"a cancelled transaction", "TransactionCanceledException", func() error {
			_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Put: &types.Put{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s("o2")}}},
				{ConditionCheck: &types.ConditionCheck{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("o1")},
					ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			}})
			return err
		}},
		{"an item without its key", "ValidationException", func() error {
			_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"status": s("NEW")}})
			return err
		}},
		{"an update of a missing item with an invalid expression", "ValidationException", func() error {
			_, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{
				TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("nope")},
				UpdateExpression: aws.String("SET a = b + :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": n(1)},
			})
			return err
		}},
		{"a delete of a missing item on a missing table", "ResourceNotFoundException", func() error {
			_, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("NoSuchTable"), Key: map[string]types.AttributeValue{"pk": s("o1")}})
			return err
		}},
		{"an injected fault", "ThrottlingException", func() error {
			svc.SetFault(func(op string, _ []byte) *awsproto.Error {
				return awsproto.Errorf(http.StatusBadRequest, "ThrottlingException", "slow down")
			})
			defer svc.SetFault(nil)
			_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s("o3")}})
			return err
		}},
	}
	for _, f := range failures {
		t.Run(f.name+" is not journaled", func(t *testing.T) {
			err := f.write()
			if got := errorCode(err); got != f.code {
				t.Fatalf("error = %v (code %q), want code %s", err, got, f.code)
			}
			if got := dynamodb.JournalRecords(db); got != before {
				t.Errorf("journal records = %d, want %d", got, before)
			}
		})
	}

	_, c = start(t, dynamodb.Options{DB: db})
	if got := scan(t, c, "Orders"); len(got) != 1 || got[0]["status"].(*types.AttributeValueMemberS).Value != "NEW" {
		t.Errorf("after restart: %v, want only o1 NEW", got)
	}
}

func TestADeletedItemStaysDeleted(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "cloud.db"))
	ctx := context.Background()
	svc, c := start(t, dynamodb.Options{DB: db})
	createOrders(t, c, "Orders")
	for _, pk := range []string{"keep", "gone", "gone-after-compaction"} {
		put(t, c, "Orders", map[string]types.AttributeValue{"pk": s(pk), "user": s("u")})
	}
	del := func(c *awsddb.Client, pk string) {
		t.Helper()
		if _, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s(pk)}}); err != nil {
			t.Fatal(err)
		}
	}
	del(c, "gone")
	if err := svc.Compact(); err != nil {
		t.Fatal(err)
	}
	del(c, "gone-after-compaction")

	for round := range 2 {
		svc, c = start(t, dynamodb.Options{DB: db})
		for _, pk := range []string{"gone", "gone-after-compaction"} {
			if item := get(t, c, "Orders", pk); item != nil {
				t.Errorf("restart %d: %s = %v, want deleted", round, pk, item)
			}
		}
		if get(t, c, "Orders", "keep") == nil {
			t.Errorf("restart %d: keep is missing", round)
		}
		if err := svc.Compact(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUpdateBatchAndTransactionWritesReplay(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "cloud.db"))
	ctx := context.Background()
	_, c := start(t, dynamodb.Options{DB: db})
	createOrders(t, c, "Orders")
	createOrders(t, c, "Audit")
	put(t, c, "Orders", map[string]types.AttributeValue{"pk": s("o1"), "qty": n(1), "note": s("x"), "tags": &types.AttributeValueMemberSS{Value: []string{"a"}}})
	_, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{
		TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("o1")},
		UpdateExpression:          aws.String("SET #u = :u ADD qty :two, tags :b"),
		ExpressionAttributeNames:  map[string]string{"#u": "user"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": s("alice"), ":two": n(2), ":b": &types.AttributeValueMemberSS{Value: []string{"b"}}},
	})
	if err != nil {
		t.Fatalf("UpdateItem: %v", err)
	}
	_, err = c.UpdateItem(ctx, &awsddb.UpdateItemInput{
		TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("o1")},
		UpdateExpression: aws.String("SET #n = :n"), ExpressionAttributeNames: map[string]string{"#n": "note"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": s("updated")},
	})
	if err != nil {
		t.Fatalf("UpdateItem SET note: %v", err)
	}
	// An update that creates its item.
	_, err = c.UpdateItem(ctx, &awsddb.UpdateItemInput{
		TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("o9")},
		UpdateExpression: aws.String("SET qty = :q"), ExpressionAttributeValues: map[string]types.AttributeValue{":q": n(9)},
	})
	if err != nil {
		t.Fatalf("UpdateItem creating o9: %v", err)
	}
	_, err = c.BatchWriteItem(ctx, &awsddb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		"Orders": {
			{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": s("o2"), "user": s("bob")}}},
			{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": s("o3"), "user": s("bob")}}},
			{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{"pk": s("o9")}}},
		},
		"Audit": {{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": s("a1"), "what": s("batch")}}}},
	}})
	if err != nil {
		t.Fatalf("BatchWriteItem: %v", err)
	}
	_, err = c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("Audit"), Item: map[string]types.AttributeValue{"pk": s("a2"), "what": s("tx")}}},
		{Update: &types.Update{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("o2")},
			UpdateExpression: aws.String("SET paid = :t"), ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}}}},
		{Delete: &types.Delete{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("o3")}}},
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("o1")},
			ConditionExpression: aws.String("attribute_exists(pk)")}},
	}})
	if err != nil {
		t.Fatalf("TransactWriteItems: %v", err)
	}
	wantOrders, wantAudit := scan(t, c, "Orders"), scan(t, c, "Audit")

	_, c = start(t, dynamodb.Options{DB: db})
	sameState(t, scan(t, c, "Orders"), wantOrders)
	sameState(t, scan(t, c, "Audit"), wantAudit)
	o1 := get(t, c, "Orders", "o1")
	if q, note := o1["qty"].(*types.AttributeValueMemberN).Value, o1["note"].(*types.AttributeValueMemberS).Value; q != "3" || note != "updated" || o1["user"] == nil {
		t.Errorf("o1 after restart: qty %s, note %s, user %v; want 3, updated, alice", q, note, o1["user"])
	}
	if len(wantOrders) != 2 || len(wantAudit) != 2 {
		t.Errorf("before restart: %d orders and %d audit items, want 2 and 2", len(wantOrders), len(wantAudit))
	}
}

func TestAWriteTheEngineKeptDespiteItsErrorSurvivesARestart(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "cloud.db"))
	ctx := context.Background()
	_, c := start(t, dynamodb.Options{DB: db, Engine: miniserver.NewServer()})
	createOrders(t, c, "Orders")
	// minidyn applies a batch's requests one by one and stops at the first
	// invalid one, answering with an error but keeping what it applied.
	_, err := c.BatchWriteItem(ctx, &awsddb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		"Orders": {
			{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": s("kept")}}},
			{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"nokey": s("x")}}},
		},
	}})
	if errorCode(err) != "ValidationException" {
		t.Fatalf("BatchWriteItem with an item without its key: %v, want ValidationException", err)
	}
	// And it stores an item whose index key has the wrong type before
	// reporting the error.
	_, err = c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s("odd"), "user": n(7)}})
	if errorCode(err) != "ValidationException" {
		t.Fatalf("PutItem with a numeric user: %v, want ValidationException", err)
	}
	want := scan(t, c, "Orders")
	if len(want) != 2 {
		t.Fatalf("the engine holds %v; this test expects minidyn to keep both writes", want)
	}

	_, c = start(t, dynamodb.Options{DB: db, Engine: miniserver.NewServer()})
	sameState(t, scan(t, c, "Orders"), want)
}

func TestCompactionKeepsTheStateAndBoundsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	db := openDB(t, path)
	ctx := context.Background()
	svc, c := start(t, dynamodb.Options{DB: db, CompactRecords: 1 << 30})
	createOrders(t, c, "Orders")
	createOrders(t, c, "Recreated")
	put(t, c, "Recreated", map[string]types.AttributeValue{"pk": s("old")})

	payload := strings.Repeat("p", 1000)
	const rounds, keys = 12, 40
	var sizes []int64
	var journaled int
	for round := range rounds {
		for i := range 5 * keys {
			k := fmt.Sprintf("o%02d", i%keys)
			if i%7 == 6 {
				if _, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s(k)}}); err != nil {
					t.Fatal(err)
				}
				continue
			}
			put(t, c, "Orders", map[string]types.AttributeValue{"pk": s(k), "user": s(fmt.Sprint(i % 5)), "round": n(round), "payload": s(payload)})
		}
		if round == 2 {
			// A table deleted and created again with another key holds only its new items.
			if _, err := c.DeleteTable(ctx, &awsddb.DeleteTableInput{TableName: aws.String("Recreated")}); err != nil {
				t.Fatal(err)
			}
			_, err := c.CreateTable(ctx, &awsddb.CreateTableInput{
				TableName: aws.String("Recreated"), BillingMode: types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeN}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
			})
			if err != nil {
				t.Fatal(err)
			}
			put(t, c, "Recreated", map[string]types.AttributeValue{"id": n(1)})
		}
		journaled = dynamodb.JournalRecords(db)
		if err := svc.Compact(); err != nil {
			t.Fatalf("Compact: %v", err)
		}
		if got := dynamodb.JournalRecords(db); got != 0 {
			t.Errorf("round %d: %d journal records after compaction, want 0", round, got)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	t.Logf("journal records a round: %d; file size after each round's compaction: %v", journaled, sizes)
	if last, early := sizes[len(sizes)-1], sizes[2]; last > early*3/2 {
		t.Errorf("file grew from %d bytes (round 3) to %d (round %d): compaction does not bound it", early, last, rounds)
	}
	want, wantRecreated := scan(t, c, "Orders"), scan(t, c, "Recreated")

	// Some writes after the last compaction: the next start replays the
	// snapshot and then the journal.
	put(t, c, "Orders", map[string]types.AttributeValue{"pk": s("late"), "user": s("u")})
	want = scan(t, c, "Orders")

	_, c = start(t, dynamodb.Options{DB: db})
	sameState(t, scan(t, c, "Orders"), want)
	sameState(t, scan(t, c, "Recreated"), wantRecreated)
	if len(wantRecreated) != 1 {
		t.Errorf("Recreated holds %v, want only id 1", wantRecreated)
	}
}

func TestTheJournalIsCompactedInTheBackgroundAsItGrows(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "cloud.db"))
	_, c := start(t, dynamodb.Options{DB: db, CompactRecords: 50})
	createOrders(t, c, "Orders")
	for i := range 200 {
		put(t, c, "Orders", map[string]types.AttributeValue{"pk": s(fmt.Sprintf("o%d", i%30)), "i": n(i)})
	}
	want := scan(t, c, "Orders")
	deadline := time.Now().Add(10 * time.Second)
	for dynamodb.JournalRecords(db) >= 50 {
		if time.Now().After(deadline) {
			t.Fatalf("journal still holds %d records, want fewer than 50", dynamodb.JournalRecords(db))
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, c = start(t, dynamodb.Options{DB: db})
	sameState(t, scan(t, c, "Orders"), want)
}

func TestAWriteTheJournalCannotCommitIsNotAcknowledged(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "cloud.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	svc, c := start(t, dynamodb.Options{DB: db})
	createOrders(t, c, "Orders")
	db.Close() // every later commit fails

	_, err = c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s("o1")}})
	if errorCode(err) != "InternalServerError" {
		t.Fatalf("PutItem with the file closed: %v, want InternalServerError", err)
	}
	_, err = c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s("o2")}})
	if errorCode(err) != "InternalServerError" {
		t.Errorf("the next PutItem: %v, want InternalServerError", err)
	}
	if err := svc.Close(); err == nil {
		t.Error("Close = nil, want the commit error")
	}
}

func TestWritesAfterCloseAreRefused(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "cloud.db"))
	svc, c := start(t, dynamodb.Options{DB: db})
	createOrders(t, c, "Orders")
	if err := svc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := c.PutItem(context.Background(), &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s("o1")}})
	if errorCode(err) != "InternalServerError" {
		t.Errorf("PutItem after Close: %v, want InternalServerError", err)
	}
}

func TestAnInMemoryServiceNeedsNoFile(t *testing.T) {
	svc, err := dynamodb.Open(dynamodb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	c := client(srv.URL)
	createOrders(t, c, "Orders")
	put(t, c, "Orders", map[string]types.AttributeValue{"pk": s("o1")})
	if get(t, c, "Orders", "o1") == nil {
		t.Error("o1 is missing")
	}
	if err := svc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

package dynamodb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/internal/ownbody"
	"github.com/orderflow/orderflow/internal/poll"
)

// node is a durable service on a data file, served on loopback, that a
// test stops and starts again on the same file.
type node struct {
	t    testing.TB
	path string
	db   *bbolt.DB
	svc  *dynamodb.Service
	srv  *httptest.Server
	c    *awsddb.Client
}

// startNode opens the data file at path (creating it) and serves a durable
// service on it until stop, or the end of the test.
func startNode(t testing.TB, path string) *node {
	t.Helper()
	db, err := journal.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	svc, err := dynamodb.New(dynamodb.Options{DB: db})
	if err != nil {
		db.Close()
		t.Fatalf("Open: %v", err)
	}
	n := &node{t: t, path: path, db: db, svc: svc, srv: httptest.NewServer(svc)}
	n.c = client(n.srv.URL)
	t.Cleanup(func() { n.stop() })
	return n
}

// stop closes the service and its file, cleanly; a second stop does nothing.
func (n *node) stop() {
	n.t.Helper()
	if n.db == nil {
		return
	}
	n.srv.Close()
	if err := n.svc.Close(); err != nil {
		n.t.Errorf("Close: %v", err)
	}
	if err := n.db.Close(); err != nil {
		n.t.Errorf("close the file: %v", err)
	}
	n.db = nil
}

// restart stops the node and starts a new one on its file.
func (n *node) restart() *node {
	n.t.Helper()
	n.stop()
	return startNode(n.t, n.path)
}

func newNode(t testing.TB) *node {
	t.Helper()
	return startNode(t, filepath.Join(t.TempDir(), "cloud.db"))
}

// client is an SDK client for an endpoint, configured explicitly and
// without retries, so that every error a test sees is the server's answer.
func client(url string) *awsddb.Client {
	return awsddb.New(awsddb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   ownbody.Client{Next: http.DefaultClient},
	})
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(v)} }
func num(v string) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: v}
}
func bin(v ...byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }

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

// createTable creates a table with hash key h and, unless rt is "", range
// key r, of the given types.
func createTable(t testing.TB, c *awsddb.Client, name, h string, ht types.ScalarAttributeType, r string, rt types.ScalarAttributeType) {
	t.Helper()
	in := &awsddb.CreateTableInput{
		TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(h), AttributeType: ht}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(h), KeyType: types.KeyTypeHash}},
	}
	if rt != "" {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(r), AttributeType: rt})
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(r), KeyType: types.KeyTypeRange})
	}
	if _, err := c.CreateTable(context.Background(), in); err != nil {
		t.Fatalf("CreateTable %s: %v", name, err)
	}
}

func put(t testing.TB, c *awsddb.Client, table string, item map[string]types.AttributeValue) {
	t.Helper()
	if _, err := c.PutItem(context.Background(), &awsddb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatalf("PutItem %v: %v", item, err)
	}
}

func del(t testing.TB, c *awsddb.Client, table string, key map[string]types.AttributeValue) {
	t.Helper()
	if _, err := c.DeleteItem(context.Background(), &awsddb.DeleteItemInput{TableName: aws.String(table), Key: key}); err != nil {
		t.Fatalf("DeleteItem %v: %v", key, err)
	}
}

func get(t testing.TB, c *awsddb.Client, table, pk string) map[string]types.AttributeValue {
	t.Helper()
	return getKey(t, c, table, map[string]types.AttributeValue{"pk": s(pk)})
}

func getKey(t testing.TB, c *awsddb.Client, table string, key map[string]types.AttributeValue) map[string]types.AttributeValue {
	t.Helper()
	out, err := c.GetItem(context.Background(), &awsddb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("GetItem %v: %v", key, err)
	}
	return out.Item
}

// scan returns every item of a table, in the engine's order.
func scan(t testing.TB, c *awsddb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	var items []map[string]types.AttributeValue
	p := awsddb.NewScanPaginator(c, &awsddb.ScanInput{TableName: aws.String(table)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("Scan %s: %v", table, err)
		}
		items = append(items, out.Items...)
	}
	return items
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
	ctx := context.Background()
	nd := newNode(t)
	createOrders(t, nd.c, "Orders")
	createOrders(t, nd.c, "Gone")
	for i := range 20 {
		put(t, nd.c, "Orders", map[string]types.AttributeValue{"pk": s(fmt.Sprintf("o%02d", i)), "user": s(fmt.Sprintf("u%d", i%3)), "qty": n(i)})
	}
	put(t, nd.c, "Gone", map[string]types.AttributeValue{"pk": s("x")})
	if _, err := nd.c.DeleteTable(ctx, &awsddb.DeleteTableInput{TableName: aws.String("Gone")}); err != nil {
		t.Fatal(err)
	}
	want := scan(t, nd.c, "Orders")
	before, err := nd.c.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("Orders")})
	if err != nil {
		t.Fatal(err)
	}

	nd = nd.restart()
	sameState(t, scan(t, nd.c, "Orders"), want)
	tables, err := nd.c.ListTables(ctx, &awsddb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tables.TableNames, ","); got != "Orders" {
		t.Errorf("ListTables = %s, want Orders", got)
	}
	after, err := nd.c.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("Orders")})
	if err != nil {
		t.Fatal(err)
	}
	b, a := before.Table, after.Table
	if *a.TableId != *b.TableId || !a.CreationDateTime.Equal(*b.CreationDateTime) || *a.ItemCount != 20 || *a.TableSizeBytes != *b.TableSizeBytes ||
		!reflect.DeepEqual(a.KeySchema, b.KeySchema) || len(a.GlobalSecondaryIndexes) != 1 || *a.GlobalSecondaryIndexes[0].ItemCount != 20 {
		t.Errorf("DescribeTable after restart differs:\n got %+v\nwant %+v", a, b)
	}
	q, err := nd.c.Query(ctx, &awsddb.QueryInput{
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
	// A new table after the restart gets a new id.
	createOrders(t, nd.c, "Third")
	third, err := nd.c.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("Third")})
	if err != nil {
		t.Fatal(err)
	}
	if *third.Table.TableId == *b.TableId {
		t.Errorf("the table created after the restart reuses id %s", *b.TableId)
	}
}

// TestEveryKeyShapeSurvivesARestart writes items whose keys an encoding
// that joins or prints key values would confuse: composite keys whose
// parts contain the separators ".", "#", "|" and NUL, numbers written in
// equivalent forms (one item to DynamoDB), binary keys with 0x00 and 0xFF.
func TestEveryKeyShapeSurvivesARestart(t *testing.T) {
	nd := newNode(t)
	c := nd.c
	createTable(t, c, "T.SS", "pk", types.ScalarAttributeTypeS, "sk", types.ScalarAttributeTypeS)
	createTable(t, c, "T.N", "id", types.ScalarAttributeTypeN, "", "")
	createTable(t, c, "T.NS", "id", types.ScalarAttributeTypeN, "sk", types.ScalarAttributeTypeS)
	createTable(t, c, "T.B", "k", types.ScalarAttributeTypeB, "", "")
	createTable(t, c, "T.BN", "k", types.ScalarAttributeTypeB, "r", types.ScalarAttributeTypeN)

	ss := func(pk, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk)}
	}
	with := func(key map[string]types.AttributeValue, v string) map[string]types.AttributeValue {
		item := map[string]types.AttributeValue{"v": s(v)}
		for k, x := range key {
			item[k] = x
		}
		return item
	}
	for _, k := range [][2]string{{"a.b", "c"}, {"a", "b.c"}, {"a#b", "c"}, {"a", "b#c"}, {"a|b", "c"}, {"a", "b|c"}, {"a\x00b", "c"}, {"a", "b\x00c"}, {"a", "b"}, {"ab", "c"}} {
		put(t, c, "T.SS", with(ss(k[0], k[1]), k[0]+"/"+k[1]))
	}
	// 1, 1.0, 10e-1 and 0.1E1 are one item; the last write wins.
	for i, form := range []string{"1", "1.0", "10e-1", "0.1E1"} {
		put(t, c, "T.N", map[string]types.AttributeValue{"id": num(form), "v": n(i)})
	}
	for _, form := range []string{"0", "-0", "0.0"} {
		put(t, c, "T.N", map[string]types.AttributeValue{"id": num(form), "v": s("zero " + form)})
	}
	for _, form := range []string{"-1", "1e-130", "9.9999999999999999999999999999999999999E+125", "-1.5", "100"} {
		put(t, c, "T.N", map[string]types.AttributeValue{"id": num(form), "v": s(form)})
	}
	put(t, c, "T.N", map[string]types.AttributeValue{"id": num("1e2"), "v": s("hundred again")})
	del(t, c, "T.N", map[string]types.AttributeValue{"id": num("-1.50")})
	for _, k := range [][2]string{{"1", "a.b"}, {"1.0", "a.b"}, {"1", "a"}, {"10", "a"}} {
		put(t, c, "T.NS", map[string]types.AttributeValue{"id": num(k[0]), "sk": s(k[1]), "v": s(k[0])})
	}
	for _, k := range [][]byte{{0}, {0, 0}, {0xFF}, {0, 0xFF}, {1, 0, 2}, {'.'}} {
		put(t, c, "T.B", map[string]types.AttributeValue{"k": bin(k...), "v": s(fmt.Sprint(k))})
	}
	del(t, c, "T.B", map[string]types.AttributeValue{"k": bin(0, 0)})
	for _, r := range []string{"1", "1.00", "2", "-2"} {
		put(t, c, "T.BN", map[string]types.AttributeValue{"k": bin(0), "r": num(r), "v": s(r)})
	}
	del(t, c, "T.SS", ss("a", "b"))

	want := map[string][]map[string]types.AttributeValue{}
	counts := map[string]int{"T.SS": 9, "T.N": 6, "T.NS": 3, "T.B": 5, "T.BN": 3}
	for name, count := range counts {
		want[name] = scan(t, c, name)
		if len(want[name]) != count {
			t.Fatalf("%s holds %d items before the restart, want %d: %v", name, len(want[name]), count, want[name])
		}
	}
	if v := getKey(t, c, "T.N", map[string]types.AttributeValue{"id": num("1")})["v"]; !reflect.DeepEqual(v, n(3)) {
		t.Fatalf("id 1 holds v=%v before the restart, want the last write's 3", v)
	}

	for round := range 2 {
		nd = nd.restart()
		for name := range counts {
			sameState(t, scan(t, nd.c, name), want[name])
		}
		if v := getKey(t, nd.c, "T.N", map[string]types.AttributeValue{"id": num("1.000")})["v"]; !reflect.DeepEqual(v, n(3)) {
			t.Errorf("restart %d: id 1 holds v=%v, want the last write's 3", round, v)
		}
		if it := getKey(t, nd.c, "T.SS", ss("a", "b")); it != nil {
			t.Errorf("restart %d: the deleted (a, b) came back: %v", round, it)
		}
		if it := getKey(t, nd.c, "T.SS", ss("a.b", "c")); it == nil || !reflect.DeepEqual(it["v"], s("a.b/c")) {
			t.Errorf("restart %d: (a.b, c) = %v", round, it)
		}
	}
}

func TestConditionalWritesReplayToTheSameFinalState(t *testing.T) {
	ctx := context.Background()
	nd := newNode(t)
	c := nd.c
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

	nd = nd.restart()
	sameState(t, scan(t, nd.c, "Orders"), want)
}

func TestAFailedWriteRecordsNothing(t *testing.T) {
	ctx := context.Background()
	nd := newNode(t)
	c := nd.c
	createOrders(t, c, "Orders")
	put(t, c, "Orders", map[string]types.AttributeValue{"pk": s("o1"), "status": s("NEW")})
	before := nd.svc.JournalStats().Records

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
		{"a batch with one invalid request", "ValidationException", func() error {
			_, err := c.BatchWriteItem(ctx, &awsddb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"Orders": {
				{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": s("o5")}}},
				{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": s("o6"), "user": n(7)}}},
			}}})
			return err
		}},
		{"a partition key over 2048 bytes", "ValidationException", func() error {
			_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s(strings.Repeat("k", 2049))}})
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
			nd.svc.SetFault(func(op string, _ []byte) *awsproto.Error {
				return awsproto.Errorf(http.StatusBadRequest, "ThrottlingException", "slow down")
			})
			defer nd.svc.SetFault(nil)
			_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s("o3")}})
			return err
		}},
	}
	for _, f := range failures {
		t.Run(f.name+" records nothing", func(t *testing.T) {
			err := f.write()
			if got := errorCode(err); got != f.code {
				t.Fatalf("error = %v (code %q), want code %s", err, got, f.code)
			}
			if got := nd.svc.JournalStats().Records; got != before {
				t.Errorf("journal records = %d, want %d", got, before)
			}
		})
	}

	nd = nd.restart()
	if got := scan(t, nd.c, "Orders"); len(got) != 1 || got[0]["status"].(*types.AttributeValueMemberS).Value != "NEW" {
		t.Errorf("after restart: %v, want only o1 NEW", got)
	}
}

func TestADeletedItemStaysDeleted(t *testing.T) {
	nd := newNode(t)
	createOrders(t, nd.c, "Orders")
	for _, pk := range []string{"keep", "gone", "gone-after-a-restart", "gone-and-back"} {
		put(t, nd.c, "Orders", map[string]types.AttributeValue{"pk": s(pk), "user": s("u")})
	}
	key := func(pk string) map[string]types.AttributeValue { return map[string]types.AttributeValue{"pk": s(pk)} }
	del(t, nd.c, "Orders", key("gone"))
	del(t, nd.c, "Orders", key("gone-and-back"))
	nd = nd.restart()
	del(t, nd.c, "Orders", key("gone-after-a-restart"))
	put(t, nd.c, "Orders", map[string]types.AttributeValue{"pk": s("gone-and-back"), "v": s("again")})

	for round := range 2 {
		nd = nd.restart()
		for _, pk := range []string{"gone", "gone-after-a-restart"} {
			if item := get(t, nd.c, "Orders", pk); item != nil {
				t.Errorf("restart %d: %s = %v, want deleted", round, pk, item)
			}
		}
		if get(t, nd.c, "Orders", "keep") == nil {
			t.Errorf("restart %d: keep is missing", round)
		}
		if it := get(t, nd.c, "Orders", "gone-and-back"); !reflect.DeepEqual(it["v"], s("again")) || it["user"] != nil {
			t.Errorf("restart %d: gone-and-back = %v, want only its second put", round, it)
		}
	}
}

func TestUpdateBatchAndTransactionWritesSurviveARestart(t *testing.T) {
	ctx := context.Background()
	nd := newNode(t)
	c := nd.c
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
	// A GSI added after the items exist holds them after a restart too.
	_, err = c.UpdateTable(ctx, &awsddb.UpdateTableInput{
		TableName:            aws.String("Orders"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("note"), AttributeType: types.ScalarAttributeTypeS}},
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
			IndexName:  aws.String("byNote"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("note"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}}},
	})
	if err != nil {
		t.Fatalf("UpdateTable: %v", err)
	}
	wantOrders, wantAudit := scan(t, c, "Orders"), scan(t, c, "Audit")

	nd = nd.restart()
	c = nd.c
	sameState(t, scan(t, c, "Orders"), wantOrders)
	sameState(t, scan(t, c, "Audit"), wantAudit)
	o1 := get(t, c, "Orders", "o1")
	if q, note := o1["qty"].(*types.AttributeValueMemberN).Value, o1["note"].(*types.AttributeValueMemberS).Value; q != "3" || note != "updated" || o1["user"] == nil {
		t.Errorf("o1 after restart: qty %s, note %s, user %v; want 3, updated, alice", q, note, o1["user"])
	}
	if len(wantOrders) != 2 || len(wantAudit) != 2 {
		t.Errorf("before restart: %d orders and %d audit items, want 2 and 2", len(wantOrders), len(wantAudit))
	}
	q, err := c.Query(ctx, &awsddb.QueryInput{
		TableName: aws.String("Orders"), IndexName: aws.String("byNote"),
		KeyConditionExpression: aws.String("note = :n"), ExpressionAttributeValues: map[string]types.AttributeValue{":n": s("updated")},
	})
	if err != nil || q.Count != 1 {
		t.Errorf("Query byNote after restart: %v items, error %v; want 1", q, err)
	}
}

// raw sends a DynamoDB request body as a client would, whatever its shape,
// and returns the status and the error type ("" on success).
func raw(t *testing.T, url, op, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		return res.StatusCode, ""
	}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Type == "" || e.Message == "" {
		t.Errorf("%s answered %d with %q: not an AWS-shaped error", op, res.StatusCode, b)
	}
	return res.StatusCode, e.Type[strings.LastIndexByte(e.Type, '#')+1:]
}

// TestStrayAndWrongTypedFieldsNeverLoseAWrite sends writes carrying fields
// of the wrong JSON type, or twice, beside valid ones. Each is refused
// with an AWS-shaped error and changes nothing, or is applied, answered
// 200 and still there after a restart; none stops the service for later
// writes.
func TestStrayAndWrongTypedFieldsNeverLoseAWrite(t *testing.T) {
	nd := newNode(t)
	createOrders(t, nd.c, "Orders")
	put(t, nd.c, "Orders", map[string]types.AttributeValue{"pk": s("victim"), "v": s("kept")})
	item := func(pk string) string { return `{"pk":{"S":"` + pk + `"},"user":{"S":"u"}}` }
	cases := []struct{ name, op, body, pk string }{
		{"a numeric TableName beside a batch", "BatchWriteItem",
			`{"TableName":7,"RequestItems":{"Orders":[{"PutRequest":{"Item":` + item("b1") + `}}]}}`, "b1"},
		{"an empty RequestItems list after the real one", "BatchWriteItem",
			`{"RequestItems":{"Orders":[{"PutRequest":{"Item":` + item("b2") + `}}]},"RequestItems":[]}`, "b2"},
		{"an empty RequestItems list before the real one", "BatchWriteItem",
			`{"RequestItems":[],"RequestItems":{"Orders":[{"PutRequest":{"Item":` + item("b3") + `}}]}}`, "b3"},
		{"a batch delete with a stray numeric field", "BatchWriteItem",
			`{"Stray":7,"RequestItems":{"Orders":[{"DeleteRequest":{"Key":{"pk":{"S":"victim"}}}}]}}`, ""},
		{"a numeric TableName beside a transaction", "TransactWriteItems",
			`{"TableName":7,"TransactItems":[{"Put":{"TableName":"Orders","Item":` + item("t1") + `}}]}`, "t1"},
		{"a transaction with a list where an object goes", "TransactWriteItems",
			`{"TransactItems":[{"Put":{"TableName":"Orders","Item":` + item("t2") + `}}],"ClientRequestToken":[]}`, "t2"},
		{"a put with a numeric ReturnValues", "PutItem",
			`{"TableName":"Orders","Item":` + item("p1") + `,"ReturnValues":5}`, "p1"},
		{"a put whose TableName comes twice", "PutItem",
			`{"TableName":"Nope","Item":` + item("p2") + `,"TableName":"Orders"}`, "p2"},
		{"a put with an unknown field of an odd type", "PutItem",
			`{"TableName":"Orders","Item":` + item("p3") + `,"Whatever":{"deep":[1,2,{"x":null}]}}`, "p3"},
		{"an update with a boolean ConditionExpression", "UpdateItem",
			`{"TableName":"Orders","Key":{"pk":{"S":"u1"}},"UpdateExpression":"SET v = :v","ExpressionAttributeValues":{":v":{"S":"x"}},"ConditionExpression":true}`, "u1"},
		{"a delete with a stray array", "DeleteItem",
			`{"TableName":"Orders","Key":{"pk":{"S":"victim"}},"Expected":[]}`, ""},
		{"an item attribute of no type", "PutItem",
			`{"TableName":"Orders","Item":{"pk":{"S":"p4"},"odd":{}}}`, "p4"},
		{"an item attribute with two types", "PutItem",
			`{"TableName":"Orders","Item":{"pk":{"S":"p5"},"odd":{"S":"a","N":"1"}}}`, "p5"},
	}
	applied := map[string]bool{}
	victimDeleted := false
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, code := raw(t, nd.srv.URL, tc.op, tc.body)
			t.Logf("%d %s", status, code)
			switch {
			case status == http.StatusOK:
				if tc.pk != "" {
					applied[tc.pk] = true
				} else {
					victimDeleted = true
				}
			case status >= 500:
				t.Fatalf("%s answered %d %s: a server error for a client's odd request", tc.op, status, code)
			case tc.pk != "" && get(t, nd.c, "Orders", tc.pk) != nil:
				t.Errorf("refused with %d %s, but %s was written", status, code, tc.pk)
			}
			// The service still takes ordinary writes.
			put(t, nd.c, "Orders", map[string]types.AttributeValue{"pk": s("after " + tc.name)})
		})
	}
	want := scan(t, nd.c, "Orders")
	nd = nd.restart()
	sameState(t, scan(t, nd.c, "Orders"), want)
	for pk := range applied {
		if get(t, nd.c, "Orders", pk) == nil {
			t.Errorf("%s was acknowledged and is gone after the restart", pk)
		}
	}
	if got := get(t, nd.c, "Orders", "victim") == nil; got != victimDeleted {
		t.Errorf("victim deleted after the restart: %v, want %v (as acknowledged)", got, victimDeleted)
	}
}

// TestATableDeletedWhileWrittenKeepsNoLateWrites races puts against
// DeleteTable and CreateTable of the same name: after a restart the table
// holds exactly what was acknowledged after its last creation.
func TestATableDeletedWhileWrittenKeepsNoLateWrites(t *testing.T) {
	ctx := context.Background()
	nd := newNode(t)
	c := nd.c
	createOrders(t, c, "Orders")
	var mu sync.Mutex
	var generation int
	acked := map[string]int{} // pk → generation of the table that acknowledged it
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				g := generation
				mu.Unlock()
				pk := fmt.Sprintf("w%d-%d", w, i)
				_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s(pk)}})
				mu.Lock()
				if err == nil && g == generation {
					acked[pk] = g
				}
				mu.Unlock()
			}
		})
	}
	for g := 1; g <= 10; g++ {
		if _, err := c.DeleteTable(ctx, &awsddb.DeleteTableInput{TableName: aws.String("Orders")}); err != nil {
			t.Fatal(err)
		}
		createOrders(t, c, "Orders")
		mu.Lock()
		generation = g // a put sent from now on reaches table g
		mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	// Let the last table take some puts.
	poll.Within(5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		last := 0
		for _, g := range acked {
			if g == 10 {
				last++
			}
		}
		return last >= 50
	})
	close(stop)
	wg.Wait()
	want := scan(t, c, "Orders")
	nd = nd.restart()
	got := scan(t, nd.c, "Orders")
	sameState(t, got, want)
	last := 0
	for pk, g := range acked {
		if g == 10 {
			last++
			if getKey(t, nd.c, "Orders", map[string]types.AttributeValue{"pk": s(pk)}) == nil {
				t.Errorf("%s, acknowledged by the last table, is missing", pk)
			}
		}
	}
	if last < 50 {
		t.Errorf("the last table acknowledged %d puts in 5 s, want 50 or more", last)
	}
	if len(got) < last {
		t.Errorf("the last table holds %d items, fewer than the %d it acknowledged", len(got), last)
	}
	t.Logf("%d items in the last table, %d puts acknowledged by it, %d in all", len(got), last, len(acked))
}

func TestTheFileFollowsWhatTheTablesHold(t *testing.T) {
	ctx := context.Background()
	nd := newNode(t)
	c := nd.c
	createOrders(t, c, "Orders")
	createOrders(t, c, "Recreated")
	put(t, c, "Recreated", map[string]types.AttributeValue{"pk": s("old")})

	payload := strings.Repeat("p", 1000)
	const rounds, keys = 12, 40
	var sizes []int64
	for round := range rounds {
		for i := range 5 * keys {
			k := fmt.Sprintf("o%02d", i%keys)
			if i%7 == 6 {
				del(t, c, "Orders", map[string]types.AttributeValue{"pk": s(k)})
				continue
			}
			put(t, c, "Orders", map[string]types.AttributeValue{"pk": s(k), "user": s(fmt.Sprint(i % 5)), "round": n(round), "payload": s(payload)})
		}
		if round == 2 {
			// A table deleted and created again with another key holds only its new items.
			if _, err := c.DeleteTable(ctx, &awsddb.DeleteTableInput{TableName: aws.String("Recreated")}); err != nil {
				t.Fatal(err)
			}
			createTable(t, c, "Recreated", "id", types.ScalarAttributeTypeN, "", "")
			put(t, c, "Recreated", map[string]types.AttributeValue{"id": n(1)})
		}
		nd = nd.restart() // the log applied to the file
		c = nd.c
		fi, err := os.Stat(nd.path)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	t.Logf("file size after each round: %v", sizes)
	if last, early := sizes[len(sizes)-1], sizes[2]; last > early*3/2 {
		t.Errorf("file grew from %d bytes (round 3) to %d (round %d) over the same 40 keys", early, last, rounds)
	}
	if got := scan(t, c, "Recreated"); len(got) != 1 || !reflect.DeepEqual(got[0]["id"], n(1)) {
		t.Errorf("Recreated holds %v, want only id 1", got)
	}
}

// TestAfterTheDataFileFailsNothingUnacknowledgedShows makes the data file
// unwritable under a running service, as a full disk does (the journal
// then stops: fail-stop). Every later request, read or write, is refused
// with an AWS-shaped error that says to restart, so no client sees a change
// that was never acknowledged; a restart finds every acknowledged write.
func TestAfterTheDataFileFailsNothingUnacknowledgedShows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cloud.db")
	db, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.New(db)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := dynamodb.New(dynamodb.Options{DB: db, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	c := client(srv.URL)
	createOrders(t, c, "Orders")
	createOrders(t, c, "Untouched")
	for i := range 9 {
		put(t, c, "Orders", map[string]types.AttributeValue{"pk": s(fmt.Sprint("acknowledged ", i))})
	}

	db.Close() // the journal's next apply fails, and it refuses everything after
	if err := j.Flush(); err == nil {
		t.Fatal("the journal did not fail: the test tests nothing")
	}
	refused := func(what string, err error) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" || !strings.Contains(ae.ErrorMessage(), "restarted") {
			t.Errorf("%s after the data file failed: %v; want ServiceUnavailable saying to restart", what, err)
		}
	}
	for i := range 11 {
		_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s(fmt.Sprint("refused ", i))}})
		refused("PutItem", err)
	}
	_, err = c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("acknowledged 0")}})
	refused("DeleteItem", err)
	_, err = c.CreateTable(ctx, &awsddb.CreateTableInput{TableName: aws.String("New"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}})
	refused("CreateTable", err)
	_, err = c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Orders")})
	refused("Scan", err)
	_, err = c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Untouched")})
	refused("Scan of a table nothing was refused on", err)
	_, err = c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("refused 0")}})
	refused("GetItem", err)
	_, err = c.ListTables(ctx, &awsddb.ListTablesInput{})
	refused("ListTables", err)
	_, err = c.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("Orders")})
	refused("DescribeTable", err)
	srv.Close()
	svc.Close()
	if err := j.Close(); err == nil {
		t.Error("the journal's Close did not report its failure")
	}

	nd := startNode(t, path)
	got := scan(t, nd.c, "Orders")
	if len(got) != 9 {
		t.Errorf("after the restart Orders holds %d items, want the 9 acknowledged: %v", len(got), got)
	}
	for _, it := range got {
		if !strings.HasPrefix(it["pk"].(*types.AttributeValueMemberS).Value, "acknowledged ") {
			t.Errorf("after the restart: %v, which was refused", it)
		}
	}
}

func TestWritesAfterCloseAreRefused(t *testing.T) {
	nd := newNode(t)
	createOrders(t, nd.c, "Orders")
	if err := nd.svc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := nd.c.PutItem(context.Background(), &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s("o1")}})
	if errorCode(err) != "InternalServerError" {
		t.Errorf("PutItem after Close: %v, want InternalServerError", err)
	}
}

func TestAnInMemoryServiceNeedsNoFile(t *testing.T) {
	svc, err := dynamodb.New(dynamodb.Options{})
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

// TestWhileTheDiskIsFullNothingIsAnsweredAndItResumesByItself runs the
// journal out of space (an injected ENOSPC on its log, as a full disk
// gives): every request, read or write, is refused with 503
// ServiceUnavailable saying to retry later; once space returns the
// service answers again without a restart, and a restart finds every
// acknowledged write, and what the service held before it. Not parallel: the injected fault is the
// process's.
func TestWhileTheDiskIsFullNothingIsAnsweredAndItResumesByItself(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var full atomic.Bool
	defer journal.InjectFault(func(op, path string) error {
		if full.Load() && strings.HasPrefix(path, dir) && (op == "write" || op == "zero") {
			return &os.PathError{Op: op, Path: path, Err: syscall.ENOSPC}
		}
		return nil
	})()
	path := filepath.Join(dir, "cloud.db")
	nd := startNode(t, path)
	c := awsddb.New(nd.c.Options(), func(o *awsddb.Options) { o.RetryMaxAttempts = 1 })
	createOrders(t, c, "Orders")
	for i := range 5 {
		put(t, c, "Orders", map[string]types.AttributeValue{"pk": s(fmt.Sprint("acknowledged ", i))})
	}
	full.Store(true)
	refused := func(what string, err error) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" || !strings.Contains(ae.ErrorMessage(), "retry later") {
			t.Fatalf("%s while the disk is full: %v; want ServiceUnavailable saying to retry later", what, err)
		}
	}
	_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s("outcome unknown")}})
	refused("the PutItem that meets the full disk", err)
	for i := range 5 {
		_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s(fmt.Sprint("refused ", i))}})
		refused("PutItem", err)
	}
	_, err = c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("outcome unknown")}})
	refused("GetItem", err)
	_, err = c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Orders")})
	refused("Scan", err)

	full.Store(false)
	start := time.Now()
	for {
		_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{"pk": s("acknowledged after")}})
		if err == nil {
			break
		}
		refused("PutItem just after space returned", err)
		if time.Since(start) > 10*time.Second {
			t.Fatal("still refused 10 s after space returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	live := scan(t, c, "Orders")
	nd = nd.restart()
	restarted := scan(t, nd.c, "Orders")
	if !reflect.DeepEqual(live, restarted) {
		t.Errorf("after a restart the table holds %v; before it, %v", restarted, live)
	}
	keys := map[string]bool{}
	for _, it := range restarted {
		keys[it["pk"].(*types.AttributeValueMemberS).Value] = true
	}
	for i := range 5 {
		if !keys[fmt.Sprint("acknowledged ", i)] {
			t.Errorf("acknowledged %d is missing", i)
		}
	}
	if !keys["acknowledged after"] || !keys["outcome unknown"] || len(keys) != 7 {
		t.Errorf("the table holds %v; want the 6 acknowledged and the one whose outcome was unknown (it reached the log once space returned), none refused up front", keys)
	}
}

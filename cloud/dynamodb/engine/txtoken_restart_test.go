package engine_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
	"github.com/orderflow/orderflow/cloud/journal"
)

// TestClientRequestTokenAcrossRestarts: on a data file, a token is
// remembered across a restart for the rest of its 10 minutes: the same
// request answers as the first did (its ItemCollectionMetrics too)
// without writing, another request is refused; once the window has ended
// the same request runs again, and the file keeps no record of a token
// whose window has ended.
func TestClientRequestTokenAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var db *bbolt.DB
	var e *engine.Engine
	open := func() {
		t.Helper()
		var err error
		if db, err = journal.Open(path); err != nil {
			t.Fatal(err)
		}
		if e, err = engine.Open(engine.Options{DB: db, Now: func() time.Time { return now }}); err != nil {
			t.Fatal(err)
		}
	}
	closeAll := func() {
		t.Helper()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	records := func() int {
		t.Helper()
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		n := 0
		_ = db.View(func(tx *bbolt.Tx) error {
			if b := tx.Bucket([]byte("dynamodb")).Bucket([]byte("txtokens")); b != nil {
				n = b.Stats().KeyN
			}
			return nil
		})
		return n
	}
	open()
	c := newClient(t, e)
	if err := eventsTable(c, "events", types.ScalarAttributeTypeS); err != nil {
		t.Fatal(err)
	}
	token := "tok"
	tx := func(by string) (string, error) {
		out, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{ClientRequestToken: aws.String(token),
			ReturnItemCollectionMetrics: types.ReturnItemCollectionMetricsSize,
			TransactItems: []types.TransactWriteItem{{Update: &types.Update{TableName: aws.String("events"), Key: av{"pk": s("p"), "sk": s("a")},
				UpdateExpression: aws.String("ADD hits :by"), ExpressionAttributeValues: av{":by": n(by)}}}}})
		if err != nil {
			return "", err
		}
		return renderTableMetrics(out.ItemCollectionMetrics), nil
	}
	hits := func() string {
		t.Helper()
		out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("events"), Key: av{"pk": s("p"), "sk": s("a")}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return renderValue(out.Item["hits"])
	}
	first, err := tx("1")
	if err != nil {
		t.Fatal(err)
	}
	closeAll()
	now = now.Add(tokenWindowMinus)
	open()
	c = newClient(t, e)
	if got, err := tx("1"); err != nil || got != first {
		t.Errorf("the same request after a restart: %q, %s; want %q", got, codeMessage(err), first)
	}
	if _, err := tx("5"); codeMessage(err) != "IdempotentParameterMismatchException: The request uses the same client token as a previous, but non-identical request." {
		t.Errorf("another request after a restart: %s", codeMessage(err))
	}
	if got := hits(); got != "N:1" {
		t.Errorf("hits = %s, want N:1 (written once)", got)
	}
	closeAll()
	if got := records(); got != 1 {
		t.Errorf("the file holds %d token records, want 1", got)
	}
	now = now.Add(time.Second) // 10 minutes since the transaction
	open()
	closeAll()
	if got := records(); got != 0 {
		t.Errorf("after the window, the file holds %d token records, want 0", got)
	}
	open()
	c = newClient(t, e)
	if _, err := tx("1"); err != nil {
		t.Fatal(err)
	}
	if got := hits(); got != "N:2" {
		t.Errorf("after the window the same request runs again: hits = %s, want N:2", got)
	}
	// A token forgotten while running is deleted from the file too: the
	// next request that uses a token finds it expired.
	now = now.Add(10 * time.Minute)
	token = "tok-2"
	if _, err := tx("5"); err != nil {
		t.Fatal(err)
	}
	closeAll()
	if got := records(); got != 1 {
		t.Errorf("after a token expired while running, the file holds %d token records, want 1 (tok-2)", got)
	}
}

const tokenWindowMinus = 10*time.Minute - time.Second

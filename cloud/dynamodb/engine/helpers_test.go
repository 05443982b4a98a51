package engine_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/internal/ownbody"
)

// newClient serves h on loopback and returns an SDK client configured
// explicitly for it (no ambient AWS_* settings, no retries).
func newClient(t testing.TB, h http.Handler) *awsddb.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return awsddb.New(awsddb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:       ownbody.Client{Next: srv.Client()},
		RetryMaxAttempts: 1,
	})
}

// Short constructors for attribute values.
func s(v string) types.AttributeValue     { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue     { return &types.AttributeValueMemberN{Value: v} }
func b(v []byte) types.AttributeValue     { return &types.AttributeValueMemberB{Value: v} }
func boolean(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }

type av = map[string]types.AttributeValue

// renderValue writes a value canonically: sets sorted, map keys sorted.
func renderValue(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return "S:" + strconv.Quote(v.Value)
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case *types.AttributeValueMemberB:
		return "B:" + base64.StdEncoding.EncodeToString(v.Value)
	case *types.AttributeValueMemberBOOL:
		return "BOOL:" + strconv.FormatBool(v.Value)
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberSS:
		l := append([]string(nil), v.Value...)
		sort.Strings(l)
		return "SS:" + strings.Join(l, "|")
	case *types.AttributeValueMemberNS:
		l := append([]string(nil), v.Value...)
		sort.Strings(l)
		return "NS:" + strings.Join(l, "|")
	case *types.AttributeValueMemberBS:
		var l []string
		for _, e := range v.Value {
			l = append(l, base64.StdEncoding.EncodeToString(e))
		}
		sort.Strings(l)
		return "BS:" + strings.Join(l, "|")
	case *types.AttributeValueMemberL:
		var l []string
		for _, e := range v.Value {
			l = append(l, renderValue(e))
		}
		return "L:[" + strings.Join(l, ",") + "]"
	case *types.AttributeValueMemberM:
		return "M:" + renderItem(v.Value)
	case nil:
		return "nil"
	}
	return fmt.Sprintf("?%T", v)
}

func renderItem(m av) string {
	if m == nil {
		return "<none>"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + renderValue(m[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func renderItems(items []av, sorted bool) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = renderItem(it)
	}
	if sorted {
		sort.Strings(parts)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// renderError writes an error as its DynamoDB code, with what a caller
// reads from it: a failed condition's item, a cancelled transaction's
// reasons.
func renderError(err error) string {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return "ConditionalCheckFailedException item=" + renderItem(ccf.Item)
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		var codes []string
		for _, r := range tce.CancellationReasons {
			c := aws.ToString(r.Code)
			if r.Item != nil {
				c += renderItem(r.Item)
			}
			codes = append(codes, c)
		}
		return "TransactionCanceledException reasons=[" + strings.Join(codes, ",") + "]"
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return "transport error: " + err.Error()
}

// transcript records what a scenario observed, one line per call.
type transcript struct {
	lines []string
}

func (tr *transcript) add(format string, args ...any) {
	tr.lines = append(tr.lines, fmt.Sprintf(format, args...))
}

// errOr records err's code, or the rendering ok gives when err is nil.
func (tr *transcript) errOr(op string, err error, ok func() string) {
	if err != nil {
		tr.add("%s: %s", op, renderError(err))
		return
	}
	tr.add("%s: %s", op, ok())
}

func (tr *transcript) String() string { return strings.Join(tr.lines, "\n") }

var ctx = context.Background()

// ordersTable creates our store's table: partition key orderId and the
// UserOrders GSI on userId and timestamp (as internal/awstest does).
func ordersTable(c *awsddb.Client, name string) error {
	_, err := c.CreateTable(ctx, &awsddb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("orderId"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("userId"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("timestamp"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("orderId"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String("UserOrders"),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("userId"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("timestamp"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	return err
}

// eventsTable creates a table with a string partition key pk and a range
// key sk of type rangeType, an LSI on "rank" (N, KEYS_ONLY) and a GSI on
// "kind" and sk (INCLUDE "note").
func eventsTable(c *awsddb.Client, name string, rangeType types.ScalarAttributeType) error {
	_, err := c.CreateTable(ctx, &awsddb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: rangeType},
			{AttributeName: aws.String("rank"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("kind"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(5)},
		LocalSecondaryIndexes: []types.LocalSecondaryIndex{{
			IndexName: aws.String("ByRank"),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("rank"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String("ByKind"),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("kind"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
			},
			Projection:            &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"note"}},
			ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(5)},
		}},
	})
	return err
}

func put(c *awsddb.Client, table string, item av) error {
	_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String(table), Item: item})
	return err
}

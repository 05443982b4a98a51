package engine_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/logging"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
	"github.com/orderflow/orderflow/internal/syncbuf"
)

// DynamoDB sends X-Amz-Crc32, the CRC-32 (IEEE) of the body, with every
// answer, and the SDK checks it on every success: without the header, or
// with a wrong one, aws-sdk-go-v2 logs "failed to close HTTP response body
// … response did not match expected checksum" at each call to whoever
// reads its logger (LoadDefaultConfig's writes to stderr).
func TestEveryAnswerCarriesTheCRC32OfItsBody(t *testing.T) {
	srv := httptest.NewServer(engine.New())
	defer srv.Close()

	var logs syncbuf.Buffer
	c := awsddb.New(awsddb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
		Logger: logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			fmt.Fprintf(&logs, "%s "+format+"\n", append([]any{c}, v...)...)
		}),
	})
	ctx := context.Background()
	if _, err := c.CreateTable(ctx, &awsddb.CreateTableInput{TableName: aws.String("tab"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: types.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("tab"), Item: av{"k": s("a"), "v": s(strings.Repeat("é", 5000))}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("tab"), Key: av{"k": s("a")}})
	if err != nil || got.Item == nil {
		t.Fatalf("GetItem: %v %v", got, err)
	}
	if logs.String() != "" {
		t.Errorf("the SDK logged:\n%s", logs.String())
	}

	// On the wire, for an answer and for an error alike.
	for _, req := range []struct{ target, body string }{
		{"DynamoDB_20120810.GetItem", `{"TableName":"tab","Key":{"k":{"S":"a"}}}`},
		{"DynamoDB_20120810.GetItem", `{"TableName":"missing","Key":{"k":{"S":"a"}}}`},
		{"DynamoDB_20120810.PutItem", `{not json`},
	} {
		r, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(req.body))
		r.Header.Set("X-Amz-Target", req.target)
		r.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if h, want := resp.Header.Get("X-Amz-Crc32"), strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10); h != want {
			t.Errorf("%s %s: %d, X-Amz-Crc32 %q, want %q (the body's)", req.target, req.body, resp.StatusCode, h, want)
		}
	}
}

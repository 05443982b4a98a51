package dynamodb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/internal/crashtest"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// TestClientRequestTokensSurviveAKill9: a TransactWriteItems acknowledged
// with a ClientRequestToken, replayed after the process was killed with
// SIGKILL and restarted on its data directory, answers as before without
// writing again; the token with another request is refused with
// IdempotentParameterMismatchException, after a second kill too.
func TestClientRequestTokensSurviveAKill9(t *testing.T) {
	slowtest.Skip(t, "kill -9 of a child process")
	crashtest.EachSyncMode(t, testClientRequestTokensSurviveAKill9)
}

func testClientRequestTokensSurviveAKill9(t *testing.T, syncEvery time.Duration) {
	p := crashtest.Start(t, crashtest.Options{Serve: serveDynamoDBWith(syncEvery)})
	c := client(p.Endpoint())
	ctx := context.Background()
	createOrders(t, c, "Orders")
	tx := func(by int) error {
		_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{ClientRequestToken: aws.String("order-42-payment"),
			TransactItems: []types.TransactWriteItem{{Update: &types.Update{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("42")},
				UpdateExpression: aws.String("ADD paid :by"), ExpressionAttributeValues: map[string]types.AttributeValue{":by": n(by)}}}}})
		return err
	}
	paid := func() string {
		t.Helper()
		out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s("42")}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := out.Item["paid"].(*types.AttributeValueMemberN)
		if v == nil {
			return "none"
		}
		return v.Value
	}
	if err := tx(10); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		if !p.Kill() {
			t.Fatal("the child had exited before it was killed")
		}
		p.Restart("")
		c = client(p.Endpoint())
		if err := tx(10); err != nil {
			t.Errorf("round %d: the same request after the restart: %v, want its first answer", round, err)
		}
		var api smithy.APIError
		if err := tx(99); !errors.As(err, &api) || api.ErrorCode() != "IdempotentParameterMismatchException" {
			t.Errorf("round %d: another request with the token after the restart: %v, want IdempotentParameterMismatchException", round, err)
		}
		if got := paid(); got != "10" {
			t.Errorf("round %d: paid = %s, want 10 (written once)", round, got)
		}
	}
}

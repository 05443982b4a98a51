package cloud_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The cloud's clock drives DynamoDB's Time to Live: an item whose TTL
// has passed on the cloud's clock is deleted within a sweep interval (one
// second by default).
func TestTheCloudsClockExpiresDynamoDBItems(t *testing.T) {
	// Years after the machine's clock: only the fake clock can expire it.
	base := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	c, clk := startFake(t, t.TempDir(), base)
	t.Cleanup(func() { c.Close(context.Background()) })
	db := awsddb.NewFromConfig(c.Config(), func(o *awsddb.Options) { o.RetryMaxAttempts = 1 })
	if _, err := db.CreateTable(context.Background(), &awsddb.CreateTableInput{
		TableName:            aws.String("sessions"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateTimeToLive(context.Background(), &awsddb.UpdateTimeToLiveInput{TableName: aws.String("sessions"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expires"), Enabled: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	at := strconv.FormatInt(base.Add(time.Minute).Unix(), 10)
	if _, err := db.PutItem(context.Background(), &awsddb.PutItemInput{TableName: aws.String("sessions"),
		Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}, "expires": &types.AttributeValueMemberN{Value: at}}}); err != nil {
		t.Fatal(err)
	}
	count := func() int32 {
		out, err := db.Scan(context.Background(), &awsddb.ScanInput{TableName: aws.String("sessions"), Select: types.SelectCount})
		if err != nil {
			t.Fatal(err)
		}
		return out.Count
	}
	clk.Advance(30 * time.Second) // sweeps run; the item is not due
	time.Sleep(50 * time.Millisecond)
	if got := count(); got != 1 {
		t.Fatalf("an item 30s from its TTL was deleted: %d items", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		clk.Advance(time.Minute)
		if count() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an item past its TTL on the cloud's clock was still there after 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

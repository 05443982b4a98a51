package cloud_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/cloudtest"
)

func createTable(t *testing.T, ddb *awsddb.Client, name string) {
	t.Helper()
	_, err := ddb.CreateTable(context.Background(), &awsddb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("CreateTable %s: %v", name, err)
	}
}

func TestDynamoDBAnswersThroughTheEdge(t *testing.T) {
	_, cfg := cloudtest.Start(t)
	ddb := awsddb.NewFromConfig(cfg)
	ctx := context.Background()
	createTable(t, ddb, "Orders")
	_, err := ddb.PutItem(ctx, &awsddb.PutItemInput{
		TableName: aws.String("Orders"),
		Item:      map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "O1"}, "n": &types.AttributeValueMemberN{Value: "3"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := ddb.GetItem(ctx, &awsddb.GetItemInput{
		TableName: aws.String("Orders"),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "O1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := out.Item["n"].(*types.AttributeValueMemberN); !ok || n.Value != "3" {
		t.Errorf("item = %v", out.Item)
	}
}

func TestListTablesPagesThroughTheTablesInNameOrder(t *testing.T) {
	_, cfg := cloudtest.Start(t)
	ddb := awsddb.NewFromConfig(cfg)
	ctx := context.Background()
	for _, n := range []string{"c-table", "a-table", "b-table", "gone"} {
		createTable(t, ddb, n)
	}
	if _, err := ddb.DeleteTable(ctx, &awsddb.DeleteTableInput{TableName: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	var got []string
	p := awsddb.NewListTablesPaginator(ddb, &awsddb.ListTablesInput{Limit: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, out.TableNames...)
	}
	if strings.Join(got, ",") != "a-table,b-table,c-table" || pages != 2 {
		t.Errorf("tables = %v in %d pages, want a-table,b-table,c-table in 2", got, pages)
	}
	_, err := ddb.ListTables(ctx, &awsddb.ListTablesInput{Limit: aws.Int32(101)})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
		t.Errorf("ListTables(Limit 101) error = %v, want ValidationException", err)
	}
}

func TestAnOperationTheCloudLacksGetsAnAWSShapedError(t *testing.T) {
	_, cfg := cloudtest.Start(t)
	_, err := awsddb.NewFromConfig(cfg).ListBackups(context.Background(), &awsddb.ListBackupsInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" {
		t.Errorf("error = %v, want UnknownOperationException", err)
	}
}

// raw sends a request to the edge and returns the status and body.
func raw(t *testing.T, c *cloud.Cloud, method, path string, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTheEdgeRefusesWhatItCannotRoute(t *testing.T) {
	c, _ := cloudtest.Start(t)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	tests := []struct {
		name     string
		method   string
		body     string
		header   map[string]string
		status   int
		contains string
	}{
		{"an unknown JSON target", "POST", "{}", map[string]string{"X-Amz-Target": "AmazonKinesis.PutRecord", "Content-Type": "application/x-amz-json-1.1"}, 400, `"__type":"UnknownOperationException"`},
		{"an unknown Query action", "POST", "Action=LaunchRocket", form, 400, "<Code>InvalidAction</Code>"},
		{"no action at all", "POST", "Foo=bar", form, 400, "<Code>MissingAction</Code>"},
		{"a request from a web page", "POST", "Action=ListQueues", map[string]string{"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"}, 403, "<Code>AccessDenied</Code>"},
		{"a rebound DNS name", "POST", "Action=ListQueues", map[string]string{"Host": "evil.example:4566", "Content-Type": "application/x-www-form-urlencoded"}, 403, "<Code>AccessDenied</Code>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := raw(t, c, tt.method, "/", tt.body, tt.header)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("got %d %s\nwant %d containing %s", status, body, tt.status, tt.contains)
			}
		})
	}
}

func TestTheEdgeAnswersToLoopbackNames(t *testing.T) {
	c, _ := cloudtest.Start(t)
	port := c.URL()[strings.LastIndex(c.URL(), ":")+1:]
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "orderflow.localhost:" + port} {
		status, body := raw(t, c, "POST", "/", "{}", map[string]string{"Host": host, "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"})
		if status != 200 {
			t.Errorf("Host %s: got %d %s", host, status, body)
		}
	}
}

func TestAnOversizedRequestIsRefused(t *testing.T) {
	c, _ := cloudtest.Start(t)
	big := strings.Repeat("a", cloud.MaxRequestBytes+1)
	status, body := raw(t, c, "POST", "/", "Action=ListQueues&Pad="+big, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "<ErrorResponse") {
		t.Errorf("got %d %.200s", status, body)
	}
}

func TestAnExtraAllowedHostIsAnswered(t *testing.T) {
	c, _ := cloudtest.Start(t, func(o *cloud.Options) { o.AllowedHosts = []string{"orders.internal"} })
	status, _ := raw(t, c, "POST", "/", "{}", map[string]string{"Host": "orders.internal", "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"})
	if status != 200 {
		t.Errorf("status = %d, want 200", status)
	}
}

func TestStartFailsClearlyWhenThePortIsTaken(t *testing.T) {
	c, _ := cloudtest.Start(t)
	_, err := cloud.Start(cloud.Options{Addr: strings.TrimPrefix(c.URL(), "http://")})
	if err == nil || !strings.Contains(err.Error(), "cloud: listen on") {
		t.Errorf("second Start on the same port: error = %v", err)
	}
}

func TestTheEndpointStopsAnsweringAfterClose(t *testing.T) {
	c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err = http.Post(c.URL(), "application/x-www-form-urlencoded", strings.NewReader("Action=ListQueues"))
	if err == nil {
		t.Errorf("the endpoint still answers after Close")
	}
}

func TestAFaultHookFailsTheRequestsItChooses(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	ddb := awsddb.NewFromConfig(cfg, func(o *awsddb.Options) { o.RetryMaxAttempts = 1 })
	createTable(t, ddb, "Orders")
	c.DynamoDB.SetFault(func(op string, body []byte) *awsproto.Error {
		if op == "PutItem" && strings.Contains(string(body), `"poison"`) {
			return awsproto.Errorf(400, "ThrottlingException", "injected")
		}
		return nil
	})
	put := func(pk string) error {
		_, err := ddb.PutItem(context.Background(), &awsddb.PutItemInput{TableName: aws.String("Orders"),
			Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}})
		return err
	}
	var api smithy.APIError
	if err := put("poison"); !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" {
		t.Errorf("PutItem(poison) error = %v, want ThrottlingException", err)
	}
	if err := put("fine"); err != nil {
		t.Errorf("PutItem(fine) error = %v", err)
	}
	c.DynamoDB.SetFault(nil)
	if err := put("poison"); err != nil {
		t.Errorf("after the fault is removed: %v", err)
	}
}

func TestFaultSpecsAreParsedAndRefused(t *testing.T) {
	var f cloud.Faults
	for _, spec := range []string{"dynamodb-writes=0.1:5xx", "failed-deletes=0.2", "duplicate-deliveries=1", "failed-deliveries=0.5", "crash-after-handler=0.05", "slow-handler=0.01"} {
		if err := cloud.ParseFault(&f, spec); err != nil {
			t.Errorf("ParseFault(%q) = %v", spec, err)
		}
	}
	want := cloud.Faults{DynamoDBWrites: 0.1, DynamoDBError: "5xx", FailedDeletes: 0.2, DuplicateDeliveries: 1, FailedDeliveries: 0.5, CrashAfterHandler: 0.05, SlowHandler: 0.01}
	if f != want {
		t.Errorf("faults = %+v, want %+v", f, want)
	}
	for _, bad := range []string{"meteor=0.1", "failed-deletes", "failed-deletes=2", "failed-deletes=0.1:5xx", "dynamodb-writes=0.1:teapot"} {
		if err := cloud.ParseFault(&f, bad); err == nil {
			t.Errorf("ParseFault(%q) accepted it", bad)
		}
	}
}

func TestTheCloudCountsTheAPICallsItAnswers(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	ddb := awsddb.NewFromConfig(cfg)
	createTable(t, ddb, "Tab")
	for range 3 {
		ddb.ListTables(context.Background(), &awsddb.ListTablesInput{})
	}
	calls := c.Calls()
	if calls["dynamodb:CreateTable"] != 1 || calls["dynamodb:ListTables"] != 3 {
		t.Errorf("calls = %v", calls)
	}
}

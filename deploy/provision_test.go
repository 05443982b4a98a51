package deploy_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/cloud/provision"
	"github.com/orderflow/orderflow/deploy"
)

// deployStack deploys template.yaml into a fresh embedded cloud, with a
// do-nothing Go handler standing in for the function.
func deployStack(t *testing.T, params map[string]string) (*cloud.Cloud, *provision.Stack, error) {
	t.Helper()
	c, _ := cloudtest.Start(t)
	name := params["FunctionName"]
	if name == "" {
		name = "ProcessOrderFunction"
	}
	c.Lambda.Register(name, func(lambda.Config) (lambda.Handler, error) {
		return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, nil
		}, nil
	})
	st, err := c.Deploy(context.Background(), deploy.TemplateYAML, "orderflow", params)
	return c, st, err
}

func queueAttrs(t *testing.T, c *cloud.Cloud, url string) map[string]string {
	t.Helper()
	out, err := awssqs.NewFromConfig(c.Config()).GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes
}

func subscriptionAttrs(t *testing.T, c *cloud.Cloud, topicArn string) map[string]string {
	t.Helper()
	client := awssns.NewFromConfig(c.Config())
	subs, err := client.ListSubscriptionsByTopic(context.Background(), &awssns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topicArn)})
	if err != nil || len(subs.Subscriptions) != 1 {
		t.Fatalf("subscriptions = %v, %v; want one", subs, err)
	}
	out, err := client.GetSubscriptionAttributes(context.Background(), &awssns.GetSubscriptionAttributesInput{SubscriptionArn: subs.Subscriptions[0].SubscriptionArn})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes
}

func redrive(t *testing.T, attrs map[string]string) (target string, max int) {
	t.Helper()
	var rp struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(attrs["RedrivePolicy"]), &rp); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", attrs["RedrivePolicy"], err)
	}
	return rp.DeadLetterTargetArn, rp.MaxReceiveCount
}

func TestTheTemplateProvisionsWithItsDefaults(t *testing.T) {
	t.Parallel()
	c, st, err := deployStack(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := queueAttrs(t, c, st.Outputs["OrderQueueUrl"])
	if q["VisibilityTimeout"] != "90" || q["ReceiveMessageWaitTimeSeconds"] != "20" || q["MessageRetentionPeriod"] != "345600" || q["SqsManagedSseEnabled"] != "true" {
		t.Errorf("OrderQueue attributes = %v", q)
	}
	if target, max := redrive(t, q); target != st.Outputs["OrderDLQArn"] || max != 3 {
		t.Errorf("OrderQueue redrives to %s after %d receives, want OrderDLQ after 3", target, max)
	}
	if !strings.Contains(q["Policy"], `"sns.amazonaws.com"`) || !strings.Contains(q["Policy"], st.Outputs["OrderTopicArn"]) {
		t.Errorf("OrderQueue policy = %s", q["Policy"])
	}
	d := queueAttrs(t, c, st.Outputs["OrderDLQUrl"])
	if d["MessageRetentionPeriod"] != "1209600" || !strings.Contains(d["RedriveAllowPolicy"], st.Outputs["OrderQueueArn"]) {
		t.Errorf("OrderDLQ attributes = %v", d)
	}
	s := subscriptionAttrs(t, c, st.Outputs["OrderTopicArn"])
	if s["Protocol"] != "sqs" || s["Endpoint"] != st.Outputs["OrderQueueArn"] || s["RawMessageDelivery"] != "true" || !strings.Contains(s["RedrivePolicy"], st.Outputs["OrderDLQArn"]) {
		t.Errorf("subscription attributes = %v", s)
	}
	table, err := awsddb.NewFromConfig(c.Config()).DescribeTable(context.Background(), &awsddb.DescribeTableInput{TableName: aws.String(st.Outputs["OrdersTableName"])})
	if err != nil || st.Outputs["OrdersTableName"] != "Orders" || len(table.Table.GlobalSecondaryIndexes) != 1 {
		t.Errorf("Orders table = %+v, %v", table, err)
	}
	ms := c.Lambda.Mappings()
	if len(ms) != 1 || ms[0].State != "Enabled" || ms[0].BatchSize != 10 || ms[0].MaximumBatchingWindow != 1 || ms[0].MaximumConcurrency != 10 ||
		ms[0].FunctionName != "ProcessOrderFunction" || ms[0].EventSourceArn != st.Outputs["OrderQueueArn"] || ms[0].UUID != st.Outputs["OrderEventSourceMappingId"] {
		t.Errorf("event source mappings = %+v", ms)
	}
	var recorded []string
	for _, r := range c.Records.All() {
		recorded = append(recorded, r.LogicalID)
	}
	slices.Sort(recorded)
	if strings.Join(recorded, ",") != "OrderDLQAlarm,OrderQueueAgeAlarm,PipelineDashboard,ProcessOrderFunctionErrorsAlarm,ProcessOrderFunctionLogGroup,ProcessOrderFunctionRole" {
		t.Errorf("recorded = %v, want the log group, the role, the three alarms and the dashboard", recorded)
	}
	for _, out := range []string{"OrderTopicArn", "OrderQueueUrl", "OrderDLQUrl", "ProcessOrderFunctionArn"} {
		if st.Outputs[out] == "" {
			t.Errorf("output %s is empty", out)
		}
	}
}

func TestOverriddenParametersTakeEffect(t *testing.T) {
	t.Parallel()
	c, st, err := deployStack(t, map[string]string{
		"OrdersTableName": "Shop", "QueueName": "ShopQueue", "QueueVisibilityTimeoutSeconds": "120", "MaxReceiveCount": "5",
		"BatchSize": "25", "MaximumBatchingWindowSeconds": "2", "MaximumConcurrency": "3", "RawMessageDelivery": "false",
		"FunctionName": "ShopFunction",
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Outputs["OrdersTableName"] != "Shop" || !strings.HasSuffix(st.Outputs["OrderQueueUrl"], "/ShopQueue") || st.Outputs["ProcessOrderFunctionName"] != "ShopFunction" {
		t.Errorf("outputs = %v", st.Outputs)
	}
	q := queueAttrs(t, c, st.Outputs["OrderQueueUrl"])
	if _, max := redrive(t, q); q["VisibilityTimeout"] != "120" || max != 5 {
		t.Errorf("queue attributes = %v", q)
	}
	d := queueAttrs(t, c, st.Outputs["OrderDLQUrl"])
	if !strings.Contains(d["RedriveAllowPolicy"], ":ShopQueue") {
		t.Errorf("the DLQ's RedriveAllowPolicy does not follow the queue's name: %s", d["RedriveAllowPolicy"])
	}
	if s := subscriptionAttrs(t, c, st.Outputs["OrderTopicArn"]); s["RawMessageDelivery"] != "false" {
		t.Errorf("RawMessageDelivery = %s, want false", s["RawMessageDelivery"])
	}
	ms := c.Lambda.Mappings()
	if len(ms) != 1 || ms[0].BatchSize != 25 || ms[0].MaximumBatchingWindow != 2 || ms[0].MaximumConcurrency != 3 || ms[0].FunctionName != "ShopFunction" {
		t.Errorf("mapping = %+v", ms)
	}
}

func TestTheTemplateRefusesBadParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"BatchSize": "20", "MaximumBatchingWindowSeconds": "0"}, "A BatchSize above 10 needs a MaximumBatchingWindowSeconds of at least 1."},
		{map[string]string{"MaximumConcurrency": "1"}, "parameter MaximumConcurrency: value 1 is below the minimum 2"},
		{map[string]string{"RawMessageDelivery": "yes"}, `parameter RawMessageDelivery: value "yes" is not one of the allowed values`},
		{map[string]string{"FunctionTimeoutSeconds": "120"}, "Queue visibility timeout: 90 seconds is less than Function timeout: 120 seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, _, err := deployStack(t, tt.params)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestTheResolvedRoleGrantsNoWildcards checks the function's role as
// CloudFormation resolves it: no wildcard action, and no wildcard resource
// but the log group's streams (log-group:NAME:*), which is how CloudWatch
// Logs names every stream of one group.
func TestTheResolvedRoleGrantsNoWildcards(t *testing.T) {
	t.Parallel()
	c, _, err := deployStack(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	var role provision.Properties
	for _, r := range c.Records.All() {
		if r.LogicalID == "ProcessOrderFunctionRole" {
			role = r.Properties
		}
	}
	if role == nil {
		t.Fatal("the role was not recorded")
	}
	policies, _ := role.List("Policies")
	statements := 0
	for _, p := range policies {
		doc := p.(map[string]any)["PolicyDocument"].(map[string]any)
		for _, s := range doc["Statement"].([]any) {
			stmt := s.(map[string]any)
			statements++
			for _, field := range []string{"Action", "Resource"} {
				var values []string
				switch v := stmt[field].(type) {
				case string:
					values = []string{v}
				case []any:
					for _, x := range v {
						values = append(values, x.(string))
					}
				}
				if len(values) == 0 {
					t.Errorf("statement %v has no %s", stmt["Sid"], field)
				}
				for _, v := range values {
					logStreams := field == "Resource" && strings.Contains(v, ":log-group:") && strings.HasSuffix(v, ":*") && strings.Count(v, "*") == 1
					if strings.Contains(v, "*") && !logStreams {
						t.Errorf("statement %v grants the wildcard %s %q", stmt["Sid"], field, v)
					}
				}
			}
		}
	}
	if statements != 4 {
		t.Errorf("the role has %d statements, want 4", statements)
	}
}

// TestTheDashboardShowsThePipeline reads the dashboard as provisioned
// (names substituted) and checks it graphs each stage: published, the
// queue's depth and oldest message, the function's invocations, errors and
// duration, the records by outcome (the function's EMF metrics), the
// orders' age and the dead letters.
func TestTheDashboardShowsThePipeline(t *testing.T) {
	t.Parallel()
	c, st, err := deployStack(t, map[string]string{"FunctionName": "orders-fn", "QueueName": "q1", "DeadLetterQueueName": "dlq1"})
	if err != nil {
		t.Fatal(err)
	}
	var body string
	for _, r := range c.Records.All() {
		if r.LogicalID == "PipelineDashboard" {
			body, _ = r.Properties["DashboardBody"].(string)
		}
	}
	var doc struct {
		Widgets []struct {
			Properties struct {
				Metrics [][]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v\n%s", err, body)
	}
	var got []string
	for _, w := range doc.Widgets {
		for _, m := range w.Properties.Metrics {
			var parts []string
			for _, f := range m {
				if s, ok := f.(string); ok {
					parts = append(parts, s)
				}
			}
			got = append(got, strings.Join(parts, " "))
		}
	}
	for _, want := range []string{
		"AWS/SNS NumberOfMessagesPublished TopicName OrderTopic",
		"AWS/SQS ApproximateNumberOfMessagesVisible QueueName q1",
		"AWS/SQS ApproximateNumberOfMessagesNotVisible QueueName q1",
		"AWS/SQS ApproximateAgeOfOldestMessage QueueName q1",
		"AWS/Lambda Invocations FunctionName orders-fn",
		"AWS/Lambda Errors FunctionName orders-fn",
		"AWS/Lambda Duration FunctionName orders-fn",
		"orderflow Stored FunctionName orders-fn",
		"orderflow Duplicate FunctionName orders-fn",
		"orderflow Stale FunctionName orders-fn",
		"orderflow Invalid FunctionName orders-fn",
		"orderflow Failed FunctionName orders-fn",
		"orderflow ProcessingDuration FunctionName orders-fn",
		"orderflow EventAge FunctionName orders-fn",
		"orderflow PublishAge FunctionName orders-fn",
		"AWS/SQS ApproximateNumberOfMessagesVisible QueueName dlq1",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("the dashboard has no %q; it has:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if st.Outputs["PipelineDashboardName"] != "orderflow-pipeline" {
		t.Errorf("PipelineDashboardName = %q, want orderflow-pipeline", st.Outputs["PipelineDashboardName"])
	}
}

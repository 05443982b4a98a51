package provision_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/provision"
)

const tableTemplate = `
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: Orders
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: orderId, AttributeType: S}
        - {AttributeName: userId, AttributeType: S}
        - {AttributeName: timestamp, AttributeType: S}
      KeySchema: [{AttributeName: orderId, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: UserOrders
          KeySchema: [{AttributeName: userId, KeyType: HASH}, {AttributeName: timestamp, KeyType: RANGE}]
          Projection: {ProjectionType: ALL}
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: /aws/lambda/fn, RetentionInDays: 14}
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement: [{Effect: Allow, Action: dynamodb:PutItem, Resource: !GetAtt Table.Arn}]
Outputs:
  TableArn: {Value: !GetAtt Table.Arn}
  LogsArn: {Value: !GetAtt Logs.Arn}
  RoleArn: {Value: !GetAtt Role.Arn}
`

func TestTheAWSProvidersCreateATableWithItsIndexAndRecordTheRest(t *testing.T) {
	_, cfg := cloudtest.Start(t)
	var records provision.Records
	st, err := provision.Provision(context.Background(), parse(t, tableTemplate), provision.Options{Providers: provision.AWS(cfg, nil, &records)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := awsddb.NewFromConfig(cfg).DescribeTable(context.Background(), &awsddb.DescribeTableInput{TableName: aws.String("Orders")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Table.GlobalSecondaryIndexes) != 1 || aws.ToString(out.Table.GlobalSecondaryIndexes[0].IndexName) != "UserOrders" {
		t.Errorf("indexes = %+v", out.Table.GlobalSecondaryIndexes)
	}
	want := map[string]string{
		"TableArn": "arn:aws:dynamodb:us-east-1:000000000000:table/Orders",
		"LogsArn":  "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/fn:*",
		"RoleArn":  "arn:aws:iam::000000000000:role/orderflow-Role-ORDERFLOW",
	}
	for k, v := range want {
		if st.Outputs[k] != v {
			t.Errorf("output %s = %s, want %s", k, st.Outputs[k], v)
		}
	}
	var types []string
	for _, r := range records.All() {
		types = append(types, r.Type)
	}
	if strings.Join(types, ",") != "AWS::Logs::LogGroup,AWS::IAM::Role" {
		t.Errorf("recorded %v, want the log group and the role", types)
	}
}

func TestRecordedResourcesAreValidated(t *testing.T) {
	_, cfg := cloudtest.Start(t)
	tests := []struct{ name, doc, want string }{
		{"a role policy without an Effect", "Resources:\n  R: {Type: AWS::IAM::Role, Properties: {AssumeRolePolicyDocument: {Statement: [{Action: x}]}}}",
			"AssumeRolePolicyDocument: statement 0: Effect must be Allow or Deny"},
		{"a retention CloudWatch does not offer", "Resources:\n  L: {Type: AWS::Logs::LogGroup, Properties: {RetentionInDays: 10}}",
			"RetentionInDays 10 is not a retention CloudWatch Logs offers"},
		{"an alarm without a comparison", "Resources:\n  A: {Type: AWS::CloudWatch::Alarm, Properties: {EvaluationPeriods: 1}}",
			"ComparisonOperator is required"},
		{"a dashboard body that is not JSON", "Resources:\n  D: {Type: AWS::CloudWatch::Dashboard, Properties: {DashboardBody: 'widgets: []'}}",
			"DashboardBody: not a JSON object with a widgets array"},
		{"a dashboard without widgets", "Resources:\n  D: {Type: AWS::CloudWatch::Dashboard, Properties: {DashboardBody: '{}'}}",
			"DashboardBody: the dashboard body must have a widgets array"},
		{"a dashboard widget of no known type", "Resources:\n  D: {Type: AWS::CloudWatch::Dashboard, Properties: {DashboardBody: '{\"widgets\":[{\"type\":\"pie\"}]}'}}",
			`DashboardBody: widgets[0]: type "pie" is not one of metric, text, log, alarm, explorer, custom`},
		{"a dashboard widget off the grid", "Resources:\n  D: {Type: AWS::CloudWatch::Dashboard, Properties: {DashboardBody: '{\"widgets\":[{\"type\":\"text\",\"x\":20,\"width\":6}]}'}}",
			"DashboardBody: widgets[0] does not fit the grid"},
		{"a metric widget with a half dimension", "Resources:\n  D: {Type: AWS::CloudWatch::Dashboard, Properties: {DashboardBody: '{\"widgets\":[{\"type\":\"metric\",\"properties\":{\"metrics\":[[\"AWS/SQS\",\"X\",\"QueueName\"]]}}]}'}}",
			"DashboardBody: widgets[0].properties.metrics[0]: a metric is a namespace, a name and dimension name/value pairs"},
		{"a dashboard name with a space", "Resources:\n  D: {Type: AWS::CloudWatch::Dashboard, Properties: {DashboardName: 'my board', DashboardBody: '{\"widgets\":[]}'}}",
			`DashboardName "my board" must be 1 to 255 letters, digits, dashes and underscores`},
		{"a Lambda function without a function host", "Resources:\n  F: {Type: AWS::Lambda::Function, Properties: {Runtime: provided.al2023}}",
			"the embedded cloud has no function host"},
		{"a dashboard name of 256 characters", "Resources:\n  D: {Type: AWS::CloudWatch::Dashboard, Properties: {DashboardName: " + strings.Repeat("d", 256) + ", DashboardBody: '{\"widgets\":[]}'}}",
			`DashboardName "` + strings.Repeat("d", 256) + `" must be 1 to 255 letters, digits, dashes and underscores`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := provision.Provision(context.Background(), parse(t, tt.doc), provision.Options{Providers: provision.AWS(cfg, nil, &provision.Records{})})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestProvisioningAgainKeepsAnExistingTableWithTheSameKey(t *testing.T) {
	_, cfg := cloudtest.Start(t)
	for range 2 {
		if _, err := provision.Provision(context.Background(), parse(t, tableTemplate), provision.Options{Providers: provision.AWS(cfg, nil, &provision.Records{})}); err != nil {
			t.Fatalf("provision: %v", err)
		}
	}
	other := `
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: Orders
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: userId, AttributeType: S}]
      KeySchema: [{AttributeName: userId, KeyType: HASH}]
`
	_, err := provision.Provision(context.Background(), parse(t, other), provision.Options{Providers: provision.AWS(cfg, nil, &provision.Records{})})
	if err == nil || !strings.Contains(err.Error(), "table Orders already exists with another key schema") {
		t.Errorf("a table with another key: error = %v", err)
	}
}

package cloud_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	awslogs "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/poll"
)

const opsTemplate = `
Description: a queue and a function
Parameters:
  Size: {Type: Number, Default: 5}
Resources:
  Work:
    Type: AWS::SQS::Queue
    Properties: {QueueName: work, VisibilityTimeout: 30}
  Fn:
    Type: AWS::Lambda::Function
    Properties: {FunctionName: worker, Runtime: provided.al2023, Handler: bootstrap, Timeout: 3, MemorySize: 256,
      Role: arn:aws:iam::000000000000:role/r, LoggingConfig: {LogGroup: /aws/lambda/worker}}
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties: {EventSourceArn: !GetAtt Work.Arn, FunctionName: !Ref Fn, BatchSize: !Ref Size, FunctionResponseTypes: [ReportBatchItemFailures]}
Outputs:
  QueueUrl: {Value: !Ref Work, Description: where work goes}
  MappingId: {Value: !Ref Mapping}
`

// deployOps deploys opsTemplate with a worker that logs each body.
func deployOps(t *testing.T) (*cloud.Cloud, aws.Config, map[string]string) {
	t.Helper()
	c, cfg := cloudtest.Start(t)
	c.Lambda.Register("worker", func(fc lambda.Config) (lambda.Handler, error) {
		return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			for _, r := range ev.Records {
				fc.Logs.Write([]byte("processed " + r.Body + "\n"))
			}
			return events.SQSEventResponse{}, nil
		}, nil
	})
	st, err := c.Deploy(context.Background(), []byte(opsTemplate), "ops", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg, st.Outputs
}

func TestDescribeStacksReportsADeployedStacksOutputs(t *testing.T) {
	t.Parallel()
	_, cfg, outputs := deployOps(t)
	client := awscfn.NewFromConfig(cfg)
	out, err := client.DescribeStacks(context.Background(), &awscfn.DescribeStacksInput{StackName: aws.String("ops")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Stacks) != 1 {
		t.Fatalf("stacks = %+v", out.Stacks)
	}
	st := out.Stacks[0]
	got := map[string]string{}
	for _, o := range st.Outputs {
		got[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	if got["QueueUrl"] != outputs["QueueUrl"] || got["MappingId"] == "" || string(st.StackStatus) != "CREATE_COMPLETE" ||
		aws.ToString(st.Description) != "a queue and a function" || len(st.Parameters) != 1 || aws.ToString(st.Parameters[0].ParameterValue) != "5" {
		t.Errorf("stack = %+v, outputs %v", st, got)
	}
	res, err := client.ListStackResources(context.Background(), &awscfn.ListStackResourcesInput{StackName: aws.String("ops")})
	if err != nil || len(res.StackResourceSummaries) != 3 {
		t.Errorf("ListStackResources = %+v, %v", res, err)
	}
	_, err = client.DescribeStacks(context.Background(), &awscfn.DescribeStacksInput{StackName: aws.String("nope")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ValidationError" || api.ErrorMessage() != "Stack with id nope does not exist" {
		t.Errorf("DescribeStacks(nope) error = %v", err)
	}
}

func TestAFunctionsLogLinesReachItsLogGroup(t *testing.T) {
	t.Parallel()
	_, cfg, outputs := deployOps(t)
	ctx := context.Background()
	if _, err := awssqs.NewFromConfig(cfg).SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(outputs["QueueUrl"]), MessageBody: aws.String("job-1")}); err != nil {
		t.Fatal(err)
	}
	logs := awslogs.NewFromConfig(cfg)
	var events []logstypes.FilteredLogEvent
	poll.Within(10*time.Second, func() bool { // START, the line, END, REPORT
		out, err := logs.FilterLogEvents(ctx, &awslogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/worker")})
		if err != nil {
			t.Fatal(err)
		}
		events = out.Events
		return len(events) >= 4
	})
	var lines []string
	for _, e := range events {
		lines = append(lines, aws.ToString(e.Message))
	}
	all := strings.Join(lines, "\n")
	if !strings.Contains(all, "processed job-1") || !strings.HasPrefix(lines[0], "START RequestId: ") || !strings.Contains(all, "REPORT RequestId: ") {
		t.Errorf("log group holds:\n%s", all)
	}
	filtered, err := logs.FilterLogEvents(ctx, &awslogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/worker"), FilterPattern: aws.String("processed ?job-1 ?job-2")})
	if err != nil || len(filtered.Events) != 1 {
		t.Errorf("filtered = %+v, %v; want the one processed line", filtered, err)
	}
	groups, err := logs.DescribeLogGroups(ctx, &awslogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/lambda/")})
	if err != nil || len(groups.LogGroups) != 1 || aws.ToString(groups.LogGroups[0].LogGroupName) != "/aws/lambda/worker" {
		t.Errorf("log groups = %+v, %v", groups, err)
	}
	streams, err := logs.DescribeLogStreams(ctx, &awslogs.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/lambda/worker")})
	if err != nil || len(streams.LogStreams) != 1 || !strings.Contains(aws.ToString(streams.LogStreams[0].LogStreamName), "[$LATEST]") {
		t.Fatalf("log streams = %+v, %v", streams, err)
	}
	got, err := logs.GetLogEvents(ctx, &awslogs.GetLogEventsInput{LogGroupName: aws.String("/aws/lambda/worker"), LogStreamName: streams.LogStreams[0].LogStreamName, StartFromHead: aws.Bool(true)})
	if err != nil || len(got.Events) != len(events) {
		t.Errorf("GetLogEvents = %d events, %v; want %d", len(got.Events), err, len(events))
	}
	_, err = logs.FilterLogEvents(ctx, &awslogs.FilterLogEventsInput{LogGroupName: aws.String("/nope")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ResourceNotFoundException" {
		t.Errorf("FilterLogEvents(/nope) error = %v", err)
	}
}

func TestTheLambdaAPIReportsAndPausesAMapping(t *testing.T) {
	t.Parallel()
	c, cfg, outputs := deployOps(t)
	ctx := context.Background()
	client := awslambda.NewFromConfig(cfg)
	m, err := client.GetEventSourceMapping(ctx, &awslambda.GetEventSourceMappingInput{UUID: aws.String(outputs["MappingId"])})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(m.State) != "Enabled" || aws.ToInt32(m.BatchSize) != 5 || aws.ToString(m.EventSourceArn) != "arn:aws:sqs:us-east-1:000000000000:work" ||
		!strings.HasSuffix(aws.ToString(m.FunctionArn), ":function:worker") || len(m.FunctionResponseTypes) != 1 {
		t.Errorf("mapping = %+v", m)
	}
	list, err := client.ListEventSourceMappings(ctx, &awslambda.ListEventSourceMappingsInput{FunctionName: aws.String("worker")})
	if err != nil || len(list.EventSourceMappings) != 1 {
		t.Errorf("ListEventSourceMappings = %+v, %v", list, err)
	}
	fn, err := client.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("worker")})
	if err != nil || aws.ToInt32(fn.Configuration.MemorySize) != 256 || string(fn.Configuration.Runtime) != "provided.al2023" {
		t.Errorf("GetFunction = %+v, %v", fn, err)
	}
	if _, err := client.UpdateEventSourceMapping(ctx, &awslambda.UpdateEventSourceMappingInput{UUID: aws.String(outputs["MappingId"]), Enabled: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if st := c.Lambda.Mappings()[0].State; st != "Disabled" {
		t.Errorf("after disabling, the host says %s", st)
	}
	// A paused mapping leaves new messages in the queue; resumed, it takes
	// them. Its pollers return once their long polls are cancelled, and with
	// none left nothing can take a message.
	if !poll.Within(10*time.Second, func() bool { return c.Lambda.Mappings()[0].Pollers == 0 && c.SQS.Engine().Waiters("work") == 0 }) {
		t.Fatalf("a disabled mapping still has %d pollers and %d long polls open", c.Lambda.Mappings()[0].Pollers, c.SQS.Engine().Waiters("work"))
	}
	sqsClient := awssqs.NewFromConfig(cfg)
	if _, err := sqsClient.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(outputs["QueueUrl"]), MessageBody: aws.String("later")}); err != nil {
		t.Fatal(err)
	}
	attrs, err := sqsClient.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(outputs["QueueUrl"]),
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := attrs.Attributes["ApproximateNumberOfMessages"]; got != "1" {
		t.Errorf("the queue of a disabled mapping holds %s visible messages, want 1", got)
	}
	if st := c.Lambda.Mappings()[0]; st.Received != 0 || st.Pollers != 0 {
		t.Errorf("a disabled mapping received %d records and runs %d pollers, want none", st.Received, st.Pollers)
	}
	if _, err := client.UpdateEventSourceMapping(ctx, &awslambda.UpdateEventSourceMappingInput{UUID: aws.String(outputs["MappingId"]), Enabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if !poll.Within(10*time.Second, func() bool { return c.Lambda.Mappings()[0].Deleted == 1 }) {
		t.Fatalf("the re-enabled mapping did not process the waiting message: %+v", c.Lambda.Mappings()[0])
	}
	_, err = client.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("nope")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ResourceNotFoundException" {
		t.Errorf("GetFunction(nope) error = %v", err)
	}
}

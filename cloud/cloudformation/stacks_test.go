package cloudformation_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud/cloudformation"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/provision"
)

// queuesTemplate has a dead-letter queue, a queue that redrives to it, a
// role (which needs CAPABILITY_IAM) and a retained table.
const queuesTemplate = `
Description: two queues, a role and a kept table
Parameters:
  QueueName: {Type: String, Default: work}
  MaxReceiveCount: {Type: Number, Default: 3}
  Visibility: {Type: Number, Default: 30}
Resources:
  DLQ:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Sub "${QueueName}-dlq"}
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Ref QueueName
      VisibilityTimeout: !Ref Visibility
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn, maxReceiveCount: !Ref MaxReceiveCount}
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
  Kept:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    Properties:
      TableName: !Sub "${AWS::StackName}-kept"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
Outputs:
  WorkUrl: {Value: !Ref Work}
`

type env struct {
	cfn *awscfn.Client
	sqs *awssqs.Client
	ddb *awsddb.Client
}

func start(t *testing.T) env {
	t.Helper()
	_, cfg := cloudtest.Start(t)
	return env{awscfn.NewFromConfig(cfg), awssqs.NewFromConfig(cfg), awsddb.NewFromConfig(cfg)}
}

func params(kv ...string) []cfntypes.Parameter {
	var out []cfntypes.Parameter
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, cfntypes.Parameter{ParameterKey: aws.String(kv[i]), ParameterValue: aws.String(kv[i+1])})
	}
	return out
}

// settle polls the stack until its status no longer ends in _IN_PROGRESS,
// and returns it.
func settle(t *testing.T, e env, stackID string) cfntypes.Stack {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := e.cfn.DescribeStacks(context.Background(), &awscfn.DescribeStacksInput{StackName: aws.String(stackID)})
		if err != nil {
			t.Fatalf("DescribeStacks(%s): %v", stackID, err)
		}
		st := out.Stacks[0]
		if !strings.HasSuffix(string(st.StackStatus), "_IN_PROGRESS") || st.StackStatus == cfntypes.StackStatusReviewInProgress {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stack %s still %s after 30 s", stackID, st.StackStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func create(t *testing.T, e env, name, body string, p ...cfntypes.Parameter) (string, cfntypes.Stack) {
	t.Helper()
	out, err := e.cfn.CreateStack(context.Background(), &awscfn.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(body),
		Parameters: p, Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}})
	if err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	id := aws.ToString(out.StackId)
	return id, settle(t, e, id)
}

// events returns the stack's events oldest first, as "Logical STATUS".
func events(t *testing.T, e env, stack string) ([]string, []cfntypes.StackEvent) {
	t.Helper()
	out, err := e.cfn.DescribeStackEvents(context.Background(), &awscfn.DescribeStackEventsInput{StackName: aws.String(stack)})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, ev := range slices.Backward(out.StackEvents) {
		lines = append(lines, aws.ToString(ev.LogicalResourceId)+" "+string(ev.ResourceStatus))
	}
	return lines, out.StackEvents
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return ""
}

func queueAttr(t *testing.T, e env, name, attr string) string {
	t.Helper()
	url, err := e.sqs.GetQueueUrl(context.Background(), &awssqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("GetQueueUrl(%s): %v", name, err)
	}
	out, err := e.sqs.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{QueueUrl: url.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeName(attr)}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes[attr]
}

func queueExists(e env, name string) bool {
	_, err := e.sqs.GetQueueUrl(context.Background(), &awssqs.GetQueueUrlInput{QueueName: aws.String(name)})
	return err == nil
}

func TestAStackIsCreatedDescribedAndDeletedAsAWSReportsIt(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()

	_, err := e.cfn.CreateStack(ctx, &awscfn.CreateStackInput{StackName: aws.String("app"), TemplateBody: aws.String(queuesTemplate)})
	if got, want := code(err), "InsufficientCapabilitiesException: Requires capabilities : [CAPABILITY_IAM]"; got != want {
		t.Fatalf("CreateStack without capabilities: got %q, want %q", got, want)
	}

	id, st := create(t, e, "app", queuesTemplate)
	if st.StackStatus != cfntypes.StackStatusCreateComplete || aws.ToString(st.StackName) != "app" || st.CreationTime == nil {
		t.Fatalf("stack = %s %s", st.StackStatus, aws.ToString(st.StackStatusReason))
	}
	if !strings.HasPrefix(id, "arn:aws:cloudformation:us-east-1:000000000000:stack/app/") {
		t.Errorf("StackId = %s", id)
	}
	if got := st.Outputs[0]; aws.ToString(got.OutputKey) != "WorkUrl" || !strings.HasSuffix(aws.ToString(got.OutputValue), "/work") {
		t.Errorf("outputs = %s=%s", aws.ToString(got.OutputKey), aws.ToString(got.OutputValue))
	}
	if len(st.Parameters) != 3 || !slices.Contains(st.Capabilities, cfntypes.CapabilityCapabilityIam) {
		t.Errorf("parameters %d, capabilities %v", len(st.Parameters), st.Capabilities)
	}
	if got := queueAttr(t, e, "work", "RedrivePolicy"); !strings.Contains(got, `"maxReceiveCount":3`) {
		t.Errorf("work's RedrivePolicy = %s", got)
	}

	lines, evs := events(t, e, "app")
	want := []string{"app CREATE_IN_PROGRESS",
		"DLQ CREATE_IN_PROGRESS", "DLQ CREATE_COMPLETE",
		"Kept CREATE_IN_PROGRESS", "Kept CREATE_COMPLETE",
		"Role CREATE_IN_PROGRESS", "Role CREATE_COMPLETE",
		"Work CREATE_IN_PROGRESS", "Work CREATE_COMPLETE",
		"app CREATE_COMPLETE"}
	if !slices.Equal(lines, want) {
		t.Errorf("events, oldest first:\ngot  %q\nwant %q", lines, want)
	}
	if last := evs[len(evs)-1]; aws.ToString(last.ResourceStatusReason) != "User Initiated" || aws.ToString(last.ResourceType) != "AWS::CloudFormation::Stack" || aws.ToString(last.StackId) != id {
		t.Errorf("first event = %+v", last)
	}

	res, err := e.cfn.DescribeStackResources(ctx, &awscfn.DescribeStackResourcesInput{StackName: aws.String("app")})
	if err != nil || len(res.StackResources) != 4 {
		t.Fatalf("DescribeStackResources = %d resources, %v", len(res.StackResources), err)
	}
	one, err := e.cfn.DescribeStackResource(ctx, &awscfn.DescribeStackResourceInput{StackName: aws.String("app"), LogicalResourceId: aws.String("Kept")})
	if err != nil || aws.ToString(one.StackResourceDetail.PhysicalResourceId) != "app-kept" || one.StackResourceDetail.ResourceStatus != cfntypes.ResourceStatusCreateComplete {
		t.Fatalf("DescribeStackResource(Kept) = %+v, %v", one, err)
	}
	list, err := e.cfn.ListStackResources(ctx, &awscfn.ListStackResourcesInput{StackName: aws.String("app")})
	if err != nil || len(list.StackResourceSummaries) != 4 {
		t.Fatalf("ListStackResources = %+v, %v", list, err)
	}
	tpl, err := e.cfn.GetTemplate(ctx, &awscfn.GetTemplateInput{StackName: aws.String("app")})
	if err != nil || aws.ToString(tpl.TemplateBody) != queuesTemplate {
		t.Fatalf("GetTemplate = %v", err)
	}
	_, err = e.cfn.CreateStack(ctx, &awscfn.CreateStackInput{StackName: aws.String("app"), TemplateBody: aws.String(queuesTemplate), Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}})
	if got, want := code(err), "AlreadyExistsException: Stack [app] already exists"; got != want {
		t.Errorf("second CreateStack: got %q, want %q", got, want)
	}

	if _, err := e.cfn.DeleteStack(ctx, &awscfn.DeleteStackInput{StackName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	if st := settle(t, e, id); st.StackStatus != cfntypes.StackStatusDeleteComplete || st.DeletionTime == nil {
		t.Fatalf("after DeleteStack: %s", st.StackStatus)
	}
	_, err = e.cfn.DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String("app")})
	if got, want := code(err), "ValidationError: Stack with id app does not exist"; got != want {
		t.Errorf("DescribeStacks by name after delete: got %q, want %q", got, want)
	}
	if queueExists(e, "work") || queueExists(e, "work-dlq") {
		t.Error("the queues outlived their stack")
	}
	if _, err := e.ddb.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("app-kept")}); err != nil {
		t.Errorf("the retained table is gone: %v", err)
	}
	lines, _ = events(t, e, id)
	tail := lines[len(want):]
	wantTail := []string{"app DELETE_IN_PROGRESS",
		"Work DELETE_IN_PROGRESS", "Work DELETE_COMPLETE",
		"Role DELETE_IN_PROGRESS", "Role DELETE_COMPLETE",
		"Kept DELETE_SKIPPED",
		"DLQ DELETE_IN_PROGRESS", "DLQ DELETE_COMPLETE",
		"app DELETE_COMPLETE"}
	if !slices.Equal(tail, wantTail) {
		t.Errorf("delete events:\ngot  %q\nwant %q", tail, wantTail)
	}
	if _, err := e.cfn.DeleteStack(ctx, &awscfn.DeleteStackInput{StackName: aws.String("app")}); err != nil {
		t.Errorf("deleting a deleted stack: %v, want success as AWS answers", err)
	}
	sums, err := e.cfn.ListStacks(ctx, &awscfn.ListStacksInput{})
	if err != nil || len(sums.StackSummaries) != 1 || sums.StackSummaries[0].StackStatus != cfntypes.StackStatusDeleteComplete {
		t.Errorf("ListStacks = %+v, %v", sums, err)
	}
}

func TestAFailedCreateRollsBackAndSaysWhy(t *testing.T) {
	t.Parallel()
	e := start(t)
	// SQS refuses a visibility timeout above 12 hours: Work fails after DLQ
	// (which it refers to) was created.
	id, st := create(t, e, "broken", queuesTemplate, params("Visibility", "99999")...)
	if st.StackStatus != cfntypes.StackStatusRollbackComplete {
		t.Fatalf("status = %s, want ROLLBACK_COMPLETE", st.StackStatus)
	}
	if got, want := aws.ToString(st.StackStatusReason), "The following resource(s) failed to create: [Work]. Rollback requested by user."; got != want {
		t.Errorf("StackStatusReason = %q, want %q", got, want)
	}
	lines, evs := events(t, e, id)
	want := []string{"broken CREATE_IN_PROGRESS",
		"DLQ CREATE_IN_PROGRESS", "DLQ CREATE_COMPLETE",
		"Kept CREATE_IN_PROGRESS", "Kept CREATE_COMPLETE",
		"Role CREATE_IN_PROGRESS", "Role CREATE_COMPLETE",
		"Work CREATE_IN_PROGRESS", "Work CREATE_FAILED",
		"broken ROLLBACK_IN_PROGRESS",
		"Role DELETE_IN_PROGRESS", "Role DELETE_COMPLETE",
		"Kept DELETE_SKIPPED",
		"DLQ DELETE_IN_PROGRESS", "DLQ DELETE_COMPLETE",
		"broken ROLLBACK_COMPLETE"}
	if !slices.Equal(lines, want) {
		t.Errorf("events:\ngot  %q\nwant %q", lines, want)
	}
	for _, ev := range evs {
		if ev.ResourceStatus == cfntypes.ResourceStatusCreateFailed {
			// As CloudFormation words a handler's failure: the service's
			// message, then service, status, request id and code; never
			// the SDK's chain ("operation error SQS: CreateQueue, …").
			r := aws.ToString(ev.ResourceStatusReason)
			if !regexp.MustCompile(`^Resource handler returned message: "[^"]*VisibilityTimeout[^"]*" \(Service: SQS, Status Code: 400, Request ID: [0-9a-f-]{36}, Error Code: InvalidAttributeValue\)$`).MatchString(r) {
				t.Errorf("CREATE_FAILED reason = %q, want SQS's InvalidAttributeValue on VisibilityTimeout as a resource handler's message", r)
			}
		}
	}
	if queueExists(e, "work-dlq") {
		t.Error("the rollback left work-dlq")
	}
	_, err := e.cfn.UpdateStack(context.Background(), &awscfn.UpdateStackInput{StackName: aws.String("broken"), UsePreviousTemplate: aws.Bool(true)})
	if got := code(err); !strings.HasSuffix(got, "is in ROLLBACK_COMPLETE state and can not be updated.") {
		t.Errorf("UpdateStack on a rolled back stack: %q", got)
	}
}

func update(t *testing.T, e env, id, body string, p ...cfntypes.Parameter) cfntypes.Stack {
	t.Helper()
	_, err := e.cfn.UpdateStack(context.Background(), &awscfn.UpdateStackInput{StackName: aws.String(id), TemplateBody: aws.String(body),
		Parameters: p, Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}})
	if err != nil {
		t.Fatalf("UpdateStack: %v", err)
	}
	return settle(t, e, id)
}

func TestAnUpdateChangesAQueueInPlaceOrReplacesIt(t *testing.T) {
	t.Parallel()
	e := start(t)
	id, _ := create(t, e, "app", queuesTemplate)
	url := queueAttr(t, e, "work", "QueueArn")

	t.Run("a changed parameter updates the queue in place", func(t *testing.T) {
		st := update(t, e, id, queuesTemplate, params("MaxReceiveCount", "5")...)
		if st.StackStatus != cfntypes.StackStatusUpdateComplete || st.LastUpdatedTime == nil {
			t.Fatalf("status = %s (%s)", st.StackStatus, aws.ToString(st.StackStatusReason))
		}
		if got := queueAttr(t, e, "work", "RedrivePolicy"); !strings.Contains(got, `"maxReceiveCount":5`) {
			t.Errorf("RedrivePolicy = %s", got)
		}
		if got := queueAttr(t, e, "work", "QueueArn"); got != url {
			t.Errorf("the queue was replaced: %s, was %s", got, url)
		}
		lines, _ := events(t, e, id)
		want := []string{"app UPDATE_IN_PROGRESS", "Work UPDATE_IN_PROGRESS", "Work UPDATE_COMPLETE",
			"app UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "app UPDATE_COMPLETE"}
		if got := lines[len(lines)-len(want):]; !slices.Equal(got, want) {
			t.Errorf("events:\ngot  %q\nwant %q", got, want)
		}
	})
	t.Run("the same template and parameters is no update", func(t *testing.T) {
		_, err := e.cfn.UpdateStack(context.Background(), &awscfn.UpdateStackInput{StackName: aws.String(id), TemplateBody: aws.String(queuesTemplate),
			Parameters: params("MaxReceiveCount", "5"), Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}})
		if got, want := code(err), "ValidationError: No updates are to be performed."; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("a new queue name replaces the queue", func(t *testing.T) {
		st := update(t, e, id, queuesTemplate, params("MaxReceiveCount", "5", "QueueName", "jobs")...)
		if st.StackStatus != cfntypes.StackStatusUpdateComplete {
			t.Fatalf("status = %s (%s)", st.StackStatus, aws.ToString(st.StackStatusReason))
		}
		if !queueExists(e, "jobs") || !queueExists(e, "jobs-dlq") || queueExists(e, "work") || queueExists(e, "work-dlq") {
			t.Error("want jobs and jobs-dlq, and work and work-dlq deleted")
		}
		_, evs := events(t, e, id)
		replacing := 0
		for _, ev := range evs {
			if aws.ToString(ev.ResourceStatusReason) == provision.ReasonReplacing {
				replacing++
			}
		}
		if replacing != 2 {
			t.Errorf("%d events say the update requires a new resource, want 2 (DLQ and Work)", replacing)
		}
	})
	t.Run("a failed update rolls back to the previous state", func(t *testing.T) {
		st := update(t, e, id, queuesTemplate, params("MaxReceiveCount", "7", "QueueName", "jobs", "Visibility", "99999")...)
		if st.StackStatus != cfntypes.StackStatusUpdateRollbackComplete {
			t.Fatalf("status = %s, want UPDATE_ROLLBACK_COMPLETE", st.StackStatus)
		}
		if got, want := aws.ToString(st.StackStatusReason), "The following resource(s) failed to update: [Work]."; got != want {
			t.Errorf("reason = %q, want %q", got, want)
		}
		if got := queueAttr(t, e, "jobs", "RedrivePolicy"); !strings.Contains(got, `"maxReceiveCount":5`) {
			t.Errorf("RedrivePolicy after the rollback = %s, want maxReceiveCount 5 again", got)
		}
		for _, p := range st.Parameters {
			if aws.ToString(p.ParameterKey) == "Visibility" && aws.ToString(p.ParameterValue) != "30" {
				t.Errorf("the stack's Visibility is %s after the rollback, want 30", aws.ToString(p.ParameterValue))
			}
		}
	})
}

func changes(t *testing.T, e env, stack, name string) *awscfn.DescribeChangeSetOutput {
	t.Helper()
	out, err := e.cfn.DescribeChangeSet(context.Background(), &awscfn.DescribeChangeSetInput{StackName: aws.String(stack), ChangeSetName: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeChangeSet: %v", err)
	}
	return out
}

func TestChangeSetsShowWhatAnUpdateAddsModifiesReplacesAndRemoves(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	caps := []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}

	cs, err := e.cfn.CreateChangeSet(ctx, &awscfn.CreateChangeSetInput{StackName: aws.String("app"), ChangeSetName: aws.String("first"),
		ChangeSetType: cfntypes.ChangeSetTypeCreate, TemplateBody: aws.String(queuesTemplate), Capabilities: caps})
	if err != nil {
		t.Fatal(err)
	}
	st := settle(t, e, "app")
	if st.StackStatus != cfntypes.StackStatusReviewInProgress {
		t.Errorf("a stack with only a CREATE change set is %s, want REVIEW_IN_PROGRESS", st.StackStatus)
	}
	first := changes(t, e, "app", "first")
	if first.Status != cfntypes.ChangeSetStatusCreateComplete || first.ExecutionStatus != cfntypes.ExecutionStatusAvailable || len(first.Changes) != 4 {
		t.Fatalf("first change set: %s %s, %d changes", first.Status, first.ExecutionStatus, len(first.Changes))
	}
	for _, c := range first.Changes {
		if c.ResourceChange.Action != cfntypes.ChangeActionAdd {
			t.Errorf("%s: %s, want Add", aws.ToString(c.ResourceChange.LogicalResourceId), c.ResourceChange.Action)
		}
	}
	if _, err := e.cfn.ExecuteChangeSet(ctx, &awscfn.ExecuteChangeSetInput{ChangeSetName: cs.Id}); err != nil {
		t.Fatal(err)
	}
	if st := settle(t, e, "app"); st.StackStatus != cfntypes.StackStatusCreateComplete {
		t.Fatalf("after executing: %s", st.StackStatus)
	}
	_, err = e.cfn.ExecuteChangeSet(ctx, &awscfn.ExecuteChangeSetInput{ChangeSetName: cs.Id})
	if got := code(err); !strings.HasPrefix(got, "ChangeSetNotFound: ") {
		t.Errorf("executing an executed change set: %q, want ChangeSetNotFound", got)
	}

	// The queue gets a new name (replaced), DLQ its own new name too, Kept
	// goes, a Topic comes.
	next := strings.Replace(queuesTemplate, "  Kept:\n", "  Topic:\n    Type: AWS::SNS::Topic\n  Kept:\n    Condition: Never\n", 1)
	next = strings.Replace(next, "Resources:\n", "Conditions:\n  Never: !Equals [a, b]\nResources:\n", 1)
	_, err = e.cfn.CreateChangeSet(ctx, &awscfn.CreateChangeSetInput{StackName: aws.String("app"), ChangeSetName: aws.String("second"),
		TemplateBody: aws.String(next), Capabilities: caps, Parameters: params("QueueName", "jobs", "Visibility", "60")})
	if err != nil {
		t.Fatal(err)
	}
	second := changes(t, e, "app", "second")
	got := map[string]string{}
	for _, c := range second.Changes {
		rc := c.ResourceChange
		s := string(rc.Action) + " " + string(rc.Replacement)
		for _, d := range rc.Details {
			s += " " + aws.ToString(d.Target.Name) + ":" + string(d.Target.RequiresRecreation) + ":" + string(d.Evaluation)
		}
		got[aws.ToString(rc.LogicalResourceId)] = strings.TrimSpace(s)
	}
	want := map[string]string{
		"Topic": "Add",
		"Kept":  "Remove",
		"DLQ":   "Modify True QueueName:Always:Static",
		"Work":  "Modify True QueueName:Always:Static RedrivePolicy:Never:Dynamic VisibilityTimeout:Never:Static",
	}
	if !mapsEqual(got, want) {
		t.Errorf("changes:\ngot  %v\nwant %v", got, want)
	}
	list, err := e.cfn.ListChangeSets(ctx, &awscfn.ListChangeSetsInput{StackName: aws.String("app")})
	if err != nil || len(list.Summaries) != 1 || aws.ToString(list.Summaries[0].ChangeSetName) != "second" {
		t.Errorf("ListChangeSets = %+v, %v", list, err)
	}
	if _, err := e.cfn.DeleteChangeSet(ctx, &awscfn.DeleteChangeSetInput{StackName: aws.String("app"), ChangeSetName: aws.String("second")}); err != nil {
		t.Fatal(err)
	}

	_, err = e.cfn.CreateChangeSet(ctx, &awscfn.CreateChangeSetInput{StackName: aws.String("app"), ChangeSetName: aws.String("same"),
		TemplateBody: aws.String(queuesTemplate), Capabilities: caps})
	if err != nil {
		t.Fatal(err)
	}
	same := changes(t, e, "app", "same")
	if same.Status != cfntypes.ChangeSetStatusFailed || aws.ToString(same.StatusReason) != cloudformation.NoChanges || len(same.Changes) != 0 {
		t.Errorf("a change set without changes: %s %q", same.Status, aws.ToString(same.StatusReason))
	}
	if cloudformation.NoChanges != "The submitted information didn't contain changes. Submit different information to create a change set." {
		t.Error("NoChanges is not the text the AWS CLI's deploy looks for")
	}
	_, err = e.cfn.ExecuteChangeSet(ctx, &awscfn.ExecuteChangeSetInput{StackName: aws.String("app"), ChangeSetName: aws.String("same")})
	if got := code(err); !strings.HasPrefix(got, "InvalidChangeSetStatus: ") {
		t.Errorf("executing a FAILED change set: %q", got)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestBadRequestsAreValidationErrors(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	namePattern := "Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
	for _, tc := range []struct {
		what     string
		in       awscfn.CreateStackInput
		wantCode string
		want     string
	}{
		{"a name with an underscore", awscfn.CreateStackInput{StackName: aws.String("my_stack"), TemplateBody: aws.String(queuesTemplate)}, "ValidationError", namePattern},
		{"a name starting with a digit", awscfn.CreateStackInput{StackName: aws.String("1stack"), TemplateBody: aws.String(queuesTemplate)}, "ValidationError", namePattern},
		{"a name of 129 characters", awscfn.CreateStackInput{StackName: aws.String("a" + strings.Repeat("b", 128)), TemplateBody: aws.String(queuesTemplate)}, "ValidationError", "length less than or equal to 128"},
		{"a name with a slash", awscfn.CreateStackInput{StackName: aws.String("a/../b"), TemplateBody: aws.String(queuesTemplate)}, "ValidationError", namePattern},
		{"no template", awscfn.CreateStackInput{StackName: aws.String("ok")}, "ValidationError", "Either Template URL or Template Body must be specified."},
		{"a template URL", awscfn.CreateStackInput{StackName: aws.String("ok"), TemplateURL: aws.String("https://s3.amazonaws.com/b/t.yaml")}, "ValidationError", "S3 error: The specified bucket does not exist (bucket b)"},
		{"a template URL that is not one", awscfn.CreateStackInput{StackName: aws.String("ok"), TemplateURL: aws.String("ftp://s3.amazonaws.com/b/t.yaml")}, "ValidationError", "TemplateURL must be a supported URL."},
		{"a template URL and a body", awscfn.CreateStackInput{StackName: aws.String("ok"), TemplateURL: aws.String("https://s3.amazonaws.com/b/t.yaml"), TemplateBody: aws.String(queuesTemplate)}, "ValidationError", "Specify exactly one of TemplateBody or TemplateUrl."},
		{"a template that is not YAML", awscfn.CreateStackInput{StackName: aws.String("ok"), TemplateBody: aws.String("{{{")}, "ValidationError", "Template format error"},
		{"a template over 51,200 bytes", awscfn.CreateStackInput{StackName: aws.String("ok"), TemplateBody: aws.String(queuesTemplate + "#" + strings.Repeat("x", 51200))}, "ValidationError", "less than or equal to 51200"},
		{"an unknown parameter", awscfn.CreateStackInput{StackName: aws.String("ok"), TemplateBody: aws.String(queuesTemplate), Parameters: params("Nope", "1"), Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}}, "ValidationError", "Parameters: [Nope] do not exist in the template"},
		{"a parameter of the wrong type", awscfn.CreateStackInput{StackName: aws.String("ok"), TemplateBody: aws.String(queuesTemplate), Parameters: params("MaxReceiveCount", "many"), Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}}, "ValidationError", `parameter MaxReceiveCount: value "many" is not a number`},
		{"an unsupported property", awscfn.CreateStackInput{StackName: aws.String("ok"), TemplateBody: aws.String("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {Colour: red}\n")}, "ValidationError", "property Colour is not supported"},
		{"a named role without CAPABILITY_NAMED_IAM", awscfn.CreateStackInput{StackName: aws.String("ok"), TemplateBody: aws.String(strings.Replace(queuesTemplate, "AssumeRolePolicyDocument:", "RoleName: r\n      AssumeRolePolicyDocument:", 1)), Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}}, "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			_, err := e.cfn.CreateStack(ctx, &tc.in)
			got := code(err)
			if !strings.HasPrefix(got, tc.wantCode+": ") || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %s containing %q", got, tc.wantCode, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		what string
		in   awscfn.CreateChangeSetInput
		want string
	}{
		{"a change set name with a dot", awscfn.CreateChangeSetInput{StackName: aws.String("ok"), ChangeSetName: aws.String("v1.2"), ChangeSetType: cfntypes.ChangeSetTypeCreate, TemplateBody: aws.String(queuesTemplate)},
			"ValidationError: 1 validation error detected: Value 'v1.2' at 'changeSetName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"},
		{"an update of a stack that is not there", awscfn.CreateChangeSetInput{StackName: aws.String("ghost"), ChangeSetName: aws.String("c"), TemplateBody: aws.String(queuesTemplate)},
			"ValidationError: Stack [ghost] does not exist"},
		{"a change set type that does not exist", awscfn.CreateChangeSetInput{StackName: aws.String("ok"), ChangeSetName: aws.String("c"), ChangeSetType: "DESTROY", TemplateBody: aws.String(queuesTemplate)},
			"ValidationError: 1 validation error detected: Value 'DESTROY' at 'changeSetType' failed to satisfy constraint: Member must satisfy enum value set: [IMPORT, UPDATE, CREATE]"},
		{"IAM resources without capabilities", awscfn.CreateChangeSetInput{StackName: aws.String("ok"), ChangeSetName: aws.String("c"), ChangeSetType: cfntypes.ChangeSetTypeCreate, TemplateBody: aws.String(queuesTemplate)},
			"InsufficientCapabilitiesException: Requires capabilities : [CAPABILITY_IAM]"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			_, err := e.cfn.CreateChangeSet(ctx, &tc.in)
			if got := code(err); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	_, err := e.cfn.DescribeStackEvents(ctx, &awscfn.DescribeStackEventsInput{StackName: aws.String("ghost")})
	if got, want := code(err), "ValidationError: Stack with id ghost does not exist"; got != want {
		t.Errorf("DescribeStackEvents(ghost): got %q, want %q", got, want)
	}
	_, err = e.cfn.DescribeChangeSet(ctx, &awscfn.DescribeChangeSetInput{ChangeSetName: aws.String("arn:aws:cloudformation:us-east-1:000000000000:changeSet/c/x")})
	if got, want := code(err), "ChangeSetNotFound: ChangeSet [arn:aws:cloudformation:us-east-1:000000000000:changeSet/c/x] does not exist"; got != want {
		t.Errorf("DescribeChangeSet of an unknown ARN: got %q, want %q", got, want)
	}
	if out, err := e.cfn.ListStacks(ctx, &awscfn.ListStacksInput{}); err != nil || len(out.StackSummaries) != 0 {
		t.Errorf("refused requests left stacks: %+v, %v", out, err)
	}
}

func TestValidateTemplateListsParametersAndCapabilities(t *testing.T) {
	t.Parallel()
	e := start(t)
	out, err := e.cfn.ValidateTemplate(context.Background(), &awscfn.ValidateTemplateInput{TemplateBody: aws.String(queuesTemplate)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range out.Parameters {
		got = append(got, aws.ToString(p.ParameterKey)+"="+aws.ToString(p.DefaultValue))
	}
	if want := []string{"MaxReceiveCount=3", "QueueName=work", "Visibility=30"}; !slices.Equal(got, want) {
		t.Errorf("parameters = %v, want %v", got, want)
	}
	if !slices.Equal(out.Capabilities, []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}) || aws.ToString(out.CapabilitiesReason) != "The following resource(s) require capabilities: [AWS::IAM::Role]" {
		t.Errorf("capabilities = %v, %q", out.Capabilities, aws.ToString(out.CapabilitiesReason))
	}
	if aws.ToString(out.Description) != "two queues, a role and a kept table" {
		t.Errorf("description = %q", aws.ToString(out.Description))
	}
	_, err = e.cfn.ValidateTemplate(context.Background(), &awscfn.ValidateTemplateInput{TemplateBody: aws.String("Resources: [1, 2]")})
	if got := code(err); !strings.HasPrefix(got, "ValidationError: Template format error") {
		t.Errorf("a bad template: %q", got)
	}
}

const tableTemplate = `
Parameters:
  Key: {Type: String, Default: id}
  Name: {Type: String, Default: orders}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Ref Name
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: !Ref Key, AttributeType: S}]
      KeySchema: [{AttributeName: !Ref Key, KeyType: HASH}]
`

func TestReplacingATableShowsInTheChangeSetAndANamedOneIsRefused(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	id, _ := create(t, e, "data", tableTemplate)

	_, err := e.cfn.CreateChangeSet(ctx, &awscfn.CreateChangeSetInput{StackName: aws.String("data"), ChangeSetName: aws.String("rekey"),
		UsePreviousTemplate: aws.Bool(true), Parameters: params("Key", "orderId")})
	if err != nil {
		t.Fatal(err)
	}
	cs := changes(t, e, "data", "rekey")
	if len(cs.Changes) != 1 || cs.Changes[0].ResourceChange.Replacement != cfntypes.ReplacementTrue {
		t.Fatalf("a new key schema: %+v, want the table replaced", cs.Changes)
	}
	if _, err := e.cfn.ExecuteChangeSet(ctx, &awscfn.ExecuteChangeSetInput{StackName: aws.String("data"), ChangeSetName: aws.String("rekey")}); err != nil {
		t.Fatal(err)
	}
	st := settle(t, e, id)
	if st.StackStatus != cfntypes.StackStatusUpdateRollbackComplete {
		t.Fatalf("status = %s, want UPDATE_ROLLBACK_COMPLETE", st.StackStatus)
	}
	_, evs := events(t, e, id)
	want := "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename orders and update the stack again."
	found := false
	for _, ev := range evs {
		found = found || (ev.ResourceStatus == cfntypes.ResourceStatusUpdateFailed && aws.ToString(ev.ResourceStatusReason) == want)
	}
	if !found {
		t.Errorf("no UPDATE_FAILED event says %q", want)
	}

	st = update(t, e, id, tableTemplate, params("Key", "orderId", "Name", "orders2")...)
	if st.StackStatus != cfntypes.StackStatusUpdateComplete {
		t.Fatalf("renamed and rekeyed: %s (%s)", st.StackStatus, aws.ToString(st.StackStatusReason))
	}
	out, err := e.ddb.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("orders2")})
	if err != nil || aws.ToString(out.Table.KeySchema[0].AttributeName) != "orderId" {
		t.Fatalf("orders2: %v", err)
	}
	if _, err := e.ddb.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("orders")}); err == nil {
		t.Error("the replaced table orders is still there")
	}
}

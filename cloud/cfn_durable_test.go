package cloud_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudformation"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/deploy"
	"github.com/orderflow/orderflow/internal/poll"
)

// Under a data directory the stacks are kept: a restarted cloud describes
// each as its last operation left it (id, parameters, outputs, template,
// events; a rolled-back one with its reason; a deleted one gone), and
// Resume gives a kept stack its function and event source mapping again,
// so the pipeline a stack made runs after the restart and the stack
// updates and deletes as before. Its resolved properties come back exactly
// as they were: the same template and parameters are no change.
func TestStacksAreKeptAcrossARestartAndResumed(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var invoked atomic.Int64
	register := func(c *cloud.Cloud) {
		c.Lambda.Register("ProcessOrderFunction", func(lambda.Config) (lambda.Handler, error) {
			return func(_ context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
				invoked.Add(int64(len(e.Records)))
				return events.SQSEventResponse{}, nil
			}, nil
		})
	}
	settle := func(cfn *awscfn.Client, name string) cfntypes.Stack {
		t.Helper()
		var st cfntypes.Stack
		poll.Until(t, 20*time.Second, "stack "+name+" to settle", func() bool {
			out, err := cfn.DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String(name)})
			if err != nil {
				t.Fatalf("DescribeStacks %s: %v", name, err)
			}
			st = out.Stacks[0]
			return !strings.HasSuffix(string(st.StackStatus), "_IN_PROGRESS")
		})
		return st
	}
	events := func(cfn *awscfn.Client, name string) int {
		t.Helper()
		out, err := cfn.DescribeStackEvents(ctx, &awscfn.DescribeStackEventsInput{StackName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.StackEvents)
	}

	c := startIn(t, dir)
	register(c)
	cfn := awscfn.NewFromConfig(c.Config())
	if _, err := cfn.CreateStack(ctx, &awscfn.CreateStackInput{StackName: aws.String("shop"), TemplateBody: aws.String(string(deploy.TemplateYAML)),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam},
		Parameters:   []cfntypes.Parameter{{ParameterKey: aws.String("MaxReceiveCount"), ParameterValue: aws.String("4")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cfn.CreateStack(ctx, &awscfn.CreateStackInput{StackName: aws.String("broken"),
		TemplateBody: aws.String("Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: broken, VisibilityTimeout: 99999}}\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cfn.CreateStack(ctx, &awscfn.CreateStackInput{StackName: aws.String("gone"),
		TemplateBody: aws.String("Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: gone}}\n")}); err != nil {
		t.Fatal(err)
	}
	shop := settle(cfn, "shop")
	broken := settle(cfn, "broken")
	if shop.StackStatus != cfntypes.StackStatusCreateComplete || broken.StackStatus != cfntypes.StackStatusRollbackComplete || settle(cfn, "gone").StackStatus != cfntypes.StackStatusCreateComplete {
		t.Fatalf("before the restart: shop %s, broken %s", shop.StackStatus, broken.StackStatus)
	}
	if _, err := cfn.DeleteStack(ctx, &awscfn.DeleteStackInput{StackName: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "stack gone deleted", func() bool {
		_, err := cfn.DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String("gone")})
		return err != nil
	})
	shopEvents, brokenEvents := events(cfn, "shop"), events(cfn, "broken")
	tpl, err := cfn.GetTemplate(ctx, &awscfn.GetTemplateInput{StackName: aws.String("shop")})
	if err != nil {
		t.Fatal(err)
	}
	closeCloud(t, c)

	c = startIn(t, dir)
	defer closeCloud(t, c)
	cfn = awscfn.NewFromConfig(c.Config())
	again := settle(cfn, "shop")
	if aws.ToString(again.StackId) != aws.ToString(shop.StackId) || again.StackStatus != cfntypes.StackStatusCreateComplete ||
		!sameParams(again.Parameters, shop.Parameters) || len(again.Outputs) != len(shop.Outputs) || len(again.Outputs) == 0 {
		t.Errorf("after the restart, shop is %s %s with %d parameters and %d outputs; before it was %s %s with %d and %d",
			aws.ToString(again.StackId), again.StackStatus, len(again.Parameters), len(again.Outputs), aws.ToString(shop.StackId), shop.StackStatus, len(shop.Parameters), len(shop.Outputs))
	}
	if b := settle(cfn, "broken"); b.StackStatus != cfntypes.StackStatusRollbackComplete || aws.ToString(b.StackStatusReason) != aws.ToString(broken.StackStatusReason) {
		t.Errorf("after the restart, broken is %s (%q), want ROLLBACK_COMPLETE (%q)", b.StackStatus, aws.ToString(b.StackStatusReason), aws.ToString(broken.StackStatusReason))
	}
	if _, err := cfn.DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String("gone")}); !isCode(err, "ValidationError") {
		t.Errorf("the deleted stack after the restart: %v, want ValidationError (does not exist)", err)
	}
	if n, m := events(cfn, "shop"), events(cfn, "broken"); n != shopEvents || m != brokenEvents {
		t.Errorf("events after the restart: shop %d, broken %d; before: %d, %d", n, m, shopEvents, brokenEvents)
	}
	if got, err := cfn.GetTemplate(ctx, &awscfn.GetTemplateInput{StackName: aws.String("shop")}); err != nil || aws.ToString(got.TemplateBody) != aws.ToString(tpl.TemplateBody) {
		t.Errorf("GetTemplate after the restart differs: %v", err)
	}

	// Resumed, the stack's function runs again from its queue.
	register(c)
	if err := c.CloudFormation.Resume(ctx); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	sqsc := awssqs.NewFromConfig(c.Config())
	u, err := sqsc.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("OrderQueue")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqsc.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: u.QueueUrl, MessageBody: aws.String("{}")}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "the resumed stack's function invoked from its queue", func() bool { return invoked.Load() >= 1 })

	// No change is no change, an update updates, a delete deletes.
	cs, err := cfn.CreateChangeSet(ctx, &awscfn.CreateChangeSetInput{StackName: aws.String("shop"), ChangeSetName: aws.String("same"), UsePreviousTemplate: aws.Bool(true),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam},
		Parameters:   []cfntypes.Parameter{{ParameterKey: aws.String("MaxReceiveCount"), UsePreviousValue: aws.Bool(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	var same *awscfn.DescribeChangeSetOutput
	poll.Until(t, 10*time.Second, "the change set to be made", func() bool {
		same, err = cfn.DescribeChangeSet(ctx, &awscfn.DescribeChangeSetInput{ChangeSetName: cs.Id})
		return err == nil && same.Status != cfntypes.ChangeSetStatusCreatePending && same.Status != cfntypes.ChangeSetStatusCreateInProgress
	})
	if same.Status != cfntypes.ChangeSetStatusFailed || aws.ToString(same.StatusReason) != cloudformation.NoChanges {
		t.Errorf("the same template and parameters after the restart: change set %s (%q) with %d changes, want no changes", same.Status, aws.ToString(same.StatusReason), len(same.Changes))
	}
	if _, err := cfn.UpdateStack(ctx, &awscfn.UpdateStackInput{StackName: aws.String("shop"), UsePreviousTemplate: aws.Bool(true),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam},
		Parameters:   []cfntypes.Parameter{{ParameterKey: aws.String("MaxReceiveCount"), ParameterValue: aws.String("6")}}}); err != nil {
		t.Fatal(err)
	}
	if st := settle(cfn, "shop"); st.StackStatus != cfntypes.StackStatusUpdateComplete {
		t.Fatalf("update after the restart: %s (%s)", st.StackStatus, aws.ToString(st.StackStatusReason))
	}
	if _, err := cfn.DeleteStack(ctx, &awscfn.DeleteStackInput{StackName: aws.String("shop")}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "stack shop deleted", func() bool {
		_, err := cfn.DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String("shop")})
		return isCode(err, "ValidationError")
	})
	if _, err := awsddb.NewFromConfig(c.Config()).DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("Orders")}); err != nil {
		t.Errorf("Orders is gone with its stack, although its DeletionPolicy is Retain: %v", err)
	}
}

func sameParams(a, b []cfntypes.Parameter) bool {
	m := map[string]string{}
	for _, p := range a {
		m[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	for _, p := range b {
		if v, ok := m[aws.ToString(p.ParameterKey)]; !ok || v != aws.ToString(p.ParameterValue) {
			return false
		}
	}
	return len(a) == len(b)
}

func isCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}

// A stack record the service cannot read stops the cloud from starting,
// naming the stack, rather than starting without the stack.
func TestADamagedStackRecordIsRefusedByName(t *testing.T) {
	dir := t.TempDir()
	c := startIn(t, dir)
	cfn := awscfn.NewFromConfig(c.Config())
	out, err := cfn.CreateStack(context.Background(), &awscfn.CreateStackInput{StackName: aws.String("kept"),
		TemplateBody: aws.String("Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: kept}}\n")})
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "stack kept created", func() bool {
		d, err := cfn.DescribeStacks(context.Background(), &awscfn.DescribeStacksInput{StackName: aws.String("kept")})
		return err == nil && d.Stacks[0].StackStatus == cfntypes.StackStatusCreateComplete
	})
	closeCloud(t, c)

	for _, tc := range []struct{ name, record, want string }{
		{"not JSON", "{not json", "cloudformation: unusable data in the data file: stack " + aws.ToString(out.StackId) + ": invalid character"},
		{"a template that does not parse", `{"Name":"kept","ID":"` + aws.ToString(out.StackId) + `","Template":"Resources: [","Status":"CREATE_COMPLETE"}`, "cloudformation: unusable data in the data file: stack " + aws.ToString(out.StackId) + ": its template: "},
		{"another stack's record", `{"Name":"kept","ID":"arn:aws:cloudformation:us-east-1:000000000000:stack/other/1","Status":"CREATE_COMPLETE"}`, "cloudformation: unusable data in the data file: stack " + aws.ToString(out.StackId)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := bbolt.Open(filepath.Join(dir, "cloud.db"), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte("cloudformation")).Bucket([]byte("stacks")).Put([]byte(aws.ToString(out.StackId)), []byte(tc.record))
			}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0", DataDir: dir})
			if err == nil {
				closeCloud(t, c)
				t.Fatal("a cloud started on a damaged stack record")
			}
			if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, cloudformation.ErrDataFile) {
				t.Errorf("start: %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

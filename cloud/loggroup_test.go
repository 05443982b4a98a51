package cloud_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	awslogs "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/internal/poll"
)

// A log group a template makes is a group of the embedded CloudWatch Logs,
// reporting the retention the template set, following its updates, and
// gone with its stack. PutRetentionPolicy takes only the retentions AWS
// offers; DeleteRetentionPolicy keeps events for ever.
func TestALogGroupFromATemplateReportsItsRetention(t *testing.T) {
	_, cfg := cloudtest.Start(t)
	ctx := context.Background()
	cfn, cl := awscfn.NewFromConfig(cfg), awslogs.NewFromConfig(cfg)
	tpl := func(retention string) *string {
		return aws.String("Resources:\n  G:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: /app/kept\n" + retention)
	}
	settle := func(want cfntypes.StackStatus) {
		t.Helper()
		poll.Until(t, 10*time.Second, "stack logs "+string(want), func() bool {
			out, err := cfn.DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String("logs")})
			return err == nil && out.Stacks[0].StackStatus == want
		})
	}
	retention := func() (int32, bool) {
		t.Helper()
		out, err := cl.DescribeLogGroups(ctx, &awslogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/app/kept")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LogGroups) != 1 {
			return 0, false
		}
		return aws.ToInt32(out.LogGroups[0].RetentionInDays), true
	}
	if _, err := cfn.CreateStack(ctx, &awscfn.CreateStackInput{StackName: aws.String("logs"), TemplateBody: tpl("      RetentionInDays: 14\n")}); err != nil {
		t.Fatal(err)
	}
	settle(cfntypes.StackStatusCreateComplete)
	if d, ok := retention(); !ok || d != 14 {
		t.Errorf("after create: group %v, retention %d; want 14", ok, d)
	}
	if _, err := cfn.UpdateStack(ctx, &awscfn.UpdateStackInput{StackName: aws.String("logs"), TemplateBody: tpl("      RetentionInDays: 30\n")}); err != nil {
		t.Fatal(err)
	}
	settle(cfntypes.StackStatusUpdateComplete)
	if d, _ := retention(); d != 30 {
		t.Errorf("after an update to 30: retention %d", d)
	}
	if _, err := cfn.UpdateStack(ctx, &awscfn.UpdateStackInput{StackName: aws.String("logs"), TemplateBody: tpl("")}); err != nil {
		t.Fatal(err)
	}
	settle(cfntypes.StackStatusUpdateComplete)
	if d, ok := retention(); !ok || d != 0 {
		t.Errorf("after removing RetentionInDays: group %v, retention %d; want none", ok, d)
	}

	_, err := cl.PutRetentionPolicy(ctx, &awslogs.PutRetentionPolicyInput{LogGroupName: aws.String("/app/kept"), RetentionInDays: aws.Int32(2)})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidParameterException" {
		t.Errorf("PutRetentionPolicy 2 days: %v, want InvalidParameterException", err)
	}
	if _, err := cl.PutRetentionPolicy(ctx, &awslogs.PutRetentionPolicyInput{LogGroupName: aws.String("/app/kept"), RetentionInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteRetentionPolicy(ctx, &awslogs.DeleteRetentionPolicyInput{LogGroupName: aws.String("/app/kept")}); err != nil {
		t.Fatal(err)
	}
	if d, _ := retention(); d != 0 {
		t.Errorf("after DeleteRetentionPolicy: retention %d", d)
	}

	if _, err := cfn.DeleteStack(ctx, &awscfn.DeleteStackInput{StackName: aws.String("logs")}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "stack logs deleted", func() bool {
		_, err := cfn.DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String("logs")})
		return err != nil
	})
	if _, ok := retention(); ok {
		t.Error("the log group outlived its stack")
	}
}

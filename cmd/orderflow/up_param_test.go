package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud"
)

// A durable cloud keeps its resources, not its stacks: up on the same data
// directory with another parameter brings the kept resources to it.
func TestUpWithAChangedParameterOnADataDirectoryUpdatesTheStack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	upUntilInterrupted(t, "--data-dir", dir)
	upUntilInterrupted(t, "--data-dir", dir, "--param", "MaxReceiveCount=5", "--param", "QueueVisibilityTimeoutSeconds=120", "--param", "RawMessageDelivery=false")

	c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(ctx)
	}()
	client := sqs.NewFromConfig(c.Config())
	ctx := context.Background()
	url, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("OrderQueue")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Attributes["RedrivePolicy"]; !strings.Contains(got, `"maxReceiveCount":5`) {
		t.Errorf("RedrivePolicy = %s, want maxReceiveCount 5", got)
	}
	if got := out.Attributes["VisibilityTimeout"]; got != "120" {
		t.Errorf("VisibilityTimeout = %s, want 120", got)
	}
	subs, err := sns.NewFromConfig(c.Config()).ListSubscriptions(ctx, &sns.ListSubscriptionsInput{})
	if err != nil || len(subs.Subscriptions) != 1 {
		t.Fatalf("subscriptions = %+v, %v; want the one", subs, err)
	}
	attrs, err := sns.NewFromConfig(c.Config()).GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: subs.Subscriptions[0].SubscriptionArn})
	if err != nil {
		t.Fatal(err)
	}
	if got := attrs.Attributes["RawMessageDelivery"]; got != "false" {
		t.Errorf("RawMessageDelivery = %s, want false", got)
	}
	// The data directory keeps the stack as the second up left it.
	st, err := awscfn.NewFromConfig(c.Config()).DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String("orderflow")})
	if err != nil {
		t.Fatalf("the stack up deployed is not kept: %v", err)
	}
	params := map[string]string{}
	for _, p := range st.Stacks[0].Parameters {
		params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	if !strings.HasSuffix(string(st.Stacks[0].StackStatus), "_COMPLETE") || params["MaxReceiveCount"] != "5" || params["RawMessageDelivery"] != "false" {
		t.Errorf("the kept stack is %s with parameters %v, want a completed one with MaxReceiveCount 5", st.Stacks[0].StackStatus, params)
	}
}

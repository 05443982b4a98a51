package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/deploy"
	"github.com/orderflow/orderflow/internal/poll"
)

// A stack without outputs (an older template's, or one moto created from a
// change set) is read from its resources: the operating commands work.
func TestAStackWithoutOutputsIsReadFromItsResources(t *testing.T) {
	c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(ctx)
	}()
	c.Lambda.Register("ProcessOrderFunction", func(lambda.Config) (lambda.Handler, error) {
		return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, nil
		}, nil
	})
	tpl := string(deploy.TemplateYAML)
	tpl = tpl[:strings.Index(tpl, "\nOutputs:")] + "\n"
	cfn := awscfn.NewFromConfig(c.Config())
	if _, err := cfn.CreateStack(context.Background(), &awscfn.CreateStackInput{StackName: aws.String("bare"), TemplateBody: aws.String(tpl),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "stack bare created", func() bool {
		out, err := cfn.DescribeStacks(context.Background(), &awscfn.DescribeStacksInput{StackName: aws.String("bare")})
		return err == nil && out.Stacks[0].StackStatus == cfntypes.StackStatusCreateComplete && len(out.Stacks[0].Outputs) == 0
	})
	getenv := emptyEnvironment(t, closedPort(t))
	code, out, errOut := runCaptured(t, []string{"status", "--endpoint", c.URL(), "--stack", "bare"}, getenv)
	if code != 0 || errOut != "" || !regexp.MustCompile(`(?m)^OrderDLQ +0 visible, 0 in flight$`).MatchString(out) ||
		!strings.Contains(out, "arn:aws:sqs:us-east-1:000000000000:OrderQueue → ProcessOrderFunction") {
		t.Errorf("status of a stack without outputs: exit %d, stderr %q\n%s", code, errOut, out)
	}
	code, out, errOut = runCaptured(t, []string{"trace", "--endpoint", c.URL(), "--stack", "bare", "O1"}, getenv)
	if code != 0 || errOut != "" || out != "Order O1: no event of it in /aws/lambda/ProcessOrderFunction; Orders holds nothing of it.\n" {
		t.Errorf("trace on a stack without outputs: exit %d, stderr %q\n%s", code, errOut, out)
	}
	// A stack that is not the pipeline's: said in one sentence.
	if _, err := cfn.CreateStack(context.Background(), &awscfn.CreateStackInput{StackName: aws.String("other"),
		TemplateBody: aws.String("Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: other}}\n")}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "stack other created", func() bool {
		out, err := cfn.DescribeStacks(context.Background(), &awscfn.DescribeStacksInput{StackName: aws.String("other")})
		return err == nil && out.Stacks[0].StackStatus == cfntypes.StackStatusCreateComplete
	})
	code, _, errOut = runCaptured(t, []string{"status", "--endpoint", c.URL(), "--stack", "other"}, getenv)
	if code != 1 || !strings.HasPrefix(errOut, "orderflow: stack other lacks the outputs ") || !strings.HasSuffix(errOut, ", and the resources that would give them; was it deployed from deploy/template.yaml?\n") {
		t.Errorf("status of another stack: exit %d, stderr %q", code, errOut)
	}
}

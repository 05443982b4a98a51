package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
)

// defaultEndpoint is where `orderflow up` listens by default.
const defaultEndpoint = "http://127.0.0.1:4566"

// targetFlags choose where the operating commands act: the local cloud (the
// default), any AWS-compatible endpoint, or AWS itself.
type targetFlags struct {
	endpoint string
	useAWS   bool
	stack    string
	region   string
}

func (f *targetFlags) register(cmd *cobra.Command) {
	p := cmd.PersistentFlags()
	p.StringVar(&f.endpoint, "endpoint", "", "an AWS-compatible `URL` (default $AWS_ENDPOINT_URL, else "+defaultEndpoint+", where orderflow up listens)")
	p.BoolVar(&f.useAWS, "aws", false, "act on AWS itself, with the standard credential chain (AWS_PROFILE, AWS_REGION, …)")
	p.StringVar(&f.stack, "stack", stackName, "the CloudFormation stack whose outputs name the resources")
	p.StringVar(&f.region, "region", "", "the region (default: us-east-1 locally; the standard chain's on AWS)")
}

// target is a resolved place to act on.
type target struct {
	cfg      aws.Config
	endpoint string // "" on AWS
	stack    string
}

func (f *targetFlags) resolve(ctx context.Context, e *env) (*target, error) {
	if f.useAWS {
		if f.endpoint != "" {
			return nil, usageError{errors.New("--aws and --endpoint exclude each other")}
		}
		var opts []func(*config.LoadOptions) error
		if f.region != "" {
			opts = append(opts, config.WithRegion(f.region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("load the AWS configuration: %w", err)
		}
		if cfg.Region == "" {
			return nil, errors.New("no AWS region is set; use --region or AWS_REGION")
		}
		return &target{cfg: cfg, stack: f.stack}, nil
	}
	endpoint := f.endpoint
	if endpoint == "" {
		endpoint = e.getenv("AWS_ENDPOINT_URL")
	}
	if endpoint == "" {
		endpoint = defaultEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Errorf("--endpoint %q is not an http or https URL", endpoint)}
	}
	region := f.region
	if region == "" {
		region = "us-east-1"
	}
	// Built explicitly, not loaded: a profile, AWS_CA_BUNDLE or other ambient
	// settings must not redirect or break a local target. Any credentials do.
	return &target{
		cfg: aws.Config{
			Region:       region,
			BaseEndpoint: aws.String(strings.TrimRight(endpoint, "/")),
			Credentials:  credentials.NewStaticCredentialsProvider("orderflow", "orderflow", ""),
		},
		endpoint: strings.TrimRight(endpoint, "/"),
		stack:    f.stack,
	}, nil
}

// where describes the target in messages.
func (t *target) where() string {
	if t.endpoint == "" {
		return "AWS (" + t.cfg.Region + ")"
	}
	return t.endpoint
}

// resources are what the stack's outputs name.
type resources struct {
	TopicArn, QueueURL, QueueArn, DLQURL, DLQArn string
	Table, Function, MappingID, LogGroup         string
}

// resources reads the stack's outputs, locally from the embedded cloud's
// CloudFormation API and on AWS from the stack itself.
func (t *target) resources(ctx context.Context) (resources, error) {
	out, err := awscfn.NewFromConfig(t.cfg).DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String(t.stack)})
	if err != nil {
		return resources{}, t.explain(fmt.Sprintf("read the outputs of stack %s", t.stack), err)
	}
	if len(out.Stacks) == 0 {
		return resources{}, fmt.Errorf("stack %s was not found at %s", t.stack, t.where())
	}
	o := map[string]string{}
	for _, x := range out.Stacks[0].Outputs {
		o[aws.ToString(x.OutputKey)] = aws.ToString(x.OutputValue)
	}
	r := resources{
		TopicArn: o["OrderTopicArn"], QueueURL: o["OrderQueueUrl"], QueueArn: o["OrderQueueArn"],
		DLQURL: o["OrderDLQUrl"], DLQArn: o["OrderDLQArn"], Table: o["OrdersTableName"],
		Function: o["ProcessOrderFunctionName"], MappingID: o["OrderEventSourceMappingId"], LogGroup: o["ProcessOrderFunctionLogGroupName"],
	}
	if r.LogGroup == "" && r.Function != "" {
		r.LogGroup = "/aws/lambda/" + r.Function
	}
	var missing []string
	for k, v := range map[string]string{"OrderTopicArn": r.TopicArn, "OrderQueueUrl": r.QueueURL, "OrderDLQUrl": r.DLQURL, "OrderDLQArn": r.DLQArn, "OrdersTableName": r.Table} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if missing != nil {
		return resources{}, fmt.Errorf("stack %s lacks the outputs %s; was it deployed from deploy/template.yaml?", t.stack, strings.Join(missing, ", "))
	}
	return r, nil
}

// explain turns an SDK error into one plain sentence: what failed, the AWS
// error code when there is one, and a hint for the common causes.
func (t *target) explain(what string, err error) error {
	var op *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial"):
		hint := ""
		if t.endpoint == defaultEndpoint {
			hint = "; is `orderflow up` running?"
		}
		return fmt.Errorf("could not %s: nothing answers at %s%s", what, t.where(), hint)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("could not %s: %s did not answer in time", what, t.where())
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return fmt.Errorf("could not %s: %s: %s", what, api.ErrorCode(), api.ErrorMessage())
	}
	return fmt.Errorf("could not %s: %v", what, err)
}

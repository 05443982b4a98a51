package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/cloud/awsenv"
)

// defaultEndpoint is where `orderflow up` listens by default.
const defaultEndpoint = awsenv.DefaultBaseURL

// targetFlags choose where the operating commands act: the local cloud (the
// default), any AWS-compatible endpoint, or AWS itself.
type targetFlags struct {
	endpoint string
	useAWS   bool
	stack    string
	region   string
	profile  string
}

func (f *targetFlags) register(cmd *cobra.Command) {
	p := cmd.PersistentFlags()
	p.StringVar(&f.endpoint, "endpoint", "", "an AWS-compatible `URL` (default $AWS_ENDPOINT_URL, else "+defaultEndpoint+", where orderflow up listens)")
	p.BoolVar(&f.useAWS, "aws", false, "act on AWS itself, with the standard credential chain (AWS_PROFILE, AWS_REGION, …)")
	p.StringVar(&f.stack, "stack", stackName, "the CloudFormation stack whose outputs name the resources")
	p.StringVar(&f.region, "region", "", "the region (default: us-east-1 locally; the standard chain's on AWS)")
	p.StringVar(&f.profile, "profile", "", "the `name`d profile of the shared AWS config and credentials files to take credentials from (default $AWS_PROFILE)")
}

// localKeys sign for a local target when the standard credential chain has
// no credentials: a cloud started without --require-auth takes any.
var localKeys = credentials.NewStaticCredentialsProvider("orderflow", "orderflow", "")

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
		if f.profile != "" {
			opts = append(opts, config.WithSharedConfigProfile(f.profile))
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
		region = awsenv.DefaultRegion
	}
	creds, err := f.credentials(ctx, e, u)
	if err != nil {
		return nil, err
	}
	// Built explicitly, not loaded: a profile's region or endpoint must not
	// redirect a local target. Only the credentials come from the chain.
	return &target{
		cfg: aws.Config{
			Region:       region,
			BaseEndpoint: aws.String(strings.TrimRight(endpoint, "/")),
			Credentials:  creds,
		},
		endpoint: strings.TrimRight(endpoint, "/"),
		stack:    f.stack,
	}, nil
}

// credentials are what a target at an endpoint signs with: the standard
// chain's (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then the shared
// files' profile: --profile, else AWS_PROFILE, else default), or, when the
// chain has none and the endpoint is on this machine, localKeys.
func (f *targetFlags) credentials(ctx context.Context, e *env, u *url.URL) (aws.CredentialsProvider, error) {
	opts := []func(*config.LoadOptions) error{
		// An endpoint is not AWS: its credentials never come from an EC2
		// instance's metadata service (nor wait for one to answer).
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
	}
	profile := f.profile
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	} else {
		profile = e.getenv("AWS_PROFILE")
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("could not read the credentials of the AWS configuration: %w", err)
	}
	if cfg.Credentials == nil || aws.IsCredentialsProvider(cfg.Credentials, (*ec2rolecreds.Provider)(nil)) {
		// The chain found nothing before the metadata service.
		if profile == "" && isLoopback(u.Hostname()) {
			return localKeys, nil
		}
		return nil, fmt.Errorf("no credentials for %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile or AWS_PROFILE", u.Redacted())
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("could not get credentials for %s: %w", u.Redacted(), err)
	}
	return cfg.Credentials, nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// What an endpoint that stops mid-request leaves, when the SDK's
		// retries end before the port is closed for good.
		hint := ""
		if t.endpoint == defaultEndpoint {
			hint = "; is `orderflow up` still running?"
		}
		return fmt.Errorf("could not %s: %s closed the connection without answering%s", what, t.where(), hint)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("could not %s: %s did not answer in time", what, t.where())
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		hint := ""
		switch api.ErrorCode() {
		case "MissingAuthenticationToken", "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature",
			"MissingAuthenticationTokenException", "UnrecognizedClientException", "InvalidSignatureException":
			hint = fmt.Sprintf(" (%s refused the credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key it accepts, or name a profile with --profile)", t.where())
		}
		return fmt.Errorf("could not %s: %s: %s%s", what, api.ErrorCode(), api.ErrorMessage(), hint)
	}
	return fmt.Errorf("could not %s: %v", what, err)
}

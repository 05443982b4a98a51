package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/internal/ownbody"
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
		// On AWS the chain ends, as the AWS CLI's does, with the EC2
		// instance metadata service: on an EC2 instance its role is the usual
		// way to get credentials, so it stays. Elsewhere nothing answers
		// there, or something refuses; the SDK then logs warnings such as
		// "falling back to IMDSv1" on the process's stderr, which the CLI's
		// one-sentence failure (retrieve) replaces: its logger drops them.
		opts = append(opts, config.WithLogger(logging.Nop{}))
		base, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, configError(err)
		}
		// The metadata service is asked once, as the AWS CLI does
		// (metadata_service_num_attempts is 1 by default), not with the
		// SDK's three attempts and their backoff, which made a machine
		// without one wait seconds before saying it has no credentials.
		// The client is otherwise the SDK's own, from the same
		// configuration (its endpoint, mode and IMDSv1 fallback settings).
		once := imds.NewFromConfig(base, func(o *imds.Options) {
			o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), 1)
		})
		cfg, err := config.LoadDefaultConfig(ctx, append(opts, config.WithEC2RoleCredentialOptions(func(o *ec2rolecreds.Options) { o.Client = once }))...)
		if err != nil {
			return nil, configError(err)
		}
		if cfg.Region == "" {
			return nil, errors.New("no AWS region is set; use --region or AWS_REGION")
		}
		if err := retrieve(ctx, cfg.Credentials); err != nil {
			return nil, err
		}
		// LoadDefaultConfig leaves the client nil unless a setting (a CA
		// bundle, say) asks for one of its own; keep that one.
		var next aws.HTTPClient = awshttp.NewBuildableClient()
		if cfg.HTTPClient != nil {
			next = cfg.HTTPClient
		}
		cfg.HTTPClient = ownbody.Client{Next: next}
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
			// The SDK closes a request's body when the answer's headers
			// arrive; over loopback the embedded cloud often answers
			// before the transport has sent all of it, and the transport
			// then closes the connection under the answer: a
			// ReceiveMessage whose messages were hidden came back as
			// "use of closed network connection" (internal/ownbody).
			HTTPClient: ownbody.Client{Next: awshttp.NewBuildableClient()},
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
		// The SDK's warnings would be lines besides the CLI's one sentence.
		config.WithLogger(logging.Nop{}),
	}
	profile := f.profile
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	} else {
		profile = e.getenv("AWS_PROFILE")
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, configError(err)
	}
	if cfg.Credentials == nil || aws.IsCredentialsProvider(cfg.Credentials, (*ec2rolecreds.Provider)(nil)) {
		// The chain found nothing before the metadata service.
		if profile == "" && isLoopback(u.Hostname()) {
			return localKeys, nil
		}
		return nil, fmt.Errorf("no credentials for %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile or AWS_PROFILE", u.Redacted())
	}
	if err := retrieve(ctx, cfg.Credentials); err != nil {
		return nil, err
	}
	return cfg.Credentials, nil
}

// credentialsTimeout bounds getting credentials: the chain may wait on a
// metadata service or an SSO or STS endpoint that does not answer.
const credentialsTimeout = 15 * time.Second

// retrieve gets credentials from p once, so that a chain without any fails
// here, in one sentence, and not in the first call's chain of errors.
func retrieve(ctx context.Context, p aws.CredentialsProvider) error {
	if p == nil {
		return errors.New("no AWS credentials were found; " + credentialsHint)
	}
	ctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	defer cancel()
	_, err := p.Retrieve(ctx)
	var ssoErr *ssocreds.InvalidTokenError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted while getting AWS credentials")
	case aws.IsCredentialsProvider(p, (*ec2rolecreds.Provider)(nil)):
		// The chain found nothing before the metadata service, and that
		// had no role to give (or is not there).
		return errors.New("no AWS credentials were found; " + credentialsHint)
	case errors.As(err, &ssoErr):
		return errors.New("the AWS SSO session has expired or was never started; run `aws sso login` (with --profile if you use one)")
	}
	return fmt.Errorf("could not get AWS credentials: %s; check the profile (--profile, AWS_PROFILE) or run `aws configure`", rootCause(err))
}

// configError says why the shared AWS configuration could not be loaded.
func configError(err error) error {
	var missing config.SharedConfigProfileNotExistError
	if errors.As(err, &missing) {
		return fmt.Errorf("the AWS profile %s is not in the shared config or credentials files; check --profile or AWS_PROFILE, or run `aws configure --profile %s`", missing.Profile, missing.Profile)
	}
	return fmt.Errorf("could not load the AWS configuration: %s; check the shared config files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)", rootCause(err))
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
		explained := t.explain(fmt.Sprintf("read the outputs of stack %s", t.stack), err)
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "ValidationError" && strings.Contains(api.ErrorMessage(), "does not exist") {
			return resources{}, fmt.Errorf("%w; check --stack, or deploy the stack (locally, `orderflow up` does)", explained)
		}
		return resources{}, explained
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
	if r.TopicArn == "" || r.QueueURL == "" || r.DLQURL == "" || r.DLQArn == "" || r.Table == "" {
		// A stack may lack outputs (moto keeps none for a stack a change
		// set created): its resources' physical ids say the same.
		if err := t.fromResources(ctx, &r); err != nil {
			return resources{}, err
		}
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
		return resources{}, fmt.Errorf("stack %s lacks the outputs %s, and the resources that would give them; was it deployed from deploy/template.yaml?", t.stack, strings.Join(missing, ", "))
	}
	return r, nil
}

// fromResources fills what r lacks from the stack's resources, by the
// template's logical ids, and the queues' ARNs from SQS.
func (t *target) fromResources(ctx context.Context, r *resources) error {
	out, err := awscfn.NewFromConfig(t.cfg).DescribeStackResources(ctx, &awscfn.DescribeStackResourcesInput{StackName: aws.String(t.stack)})
	if err != nil {
		return t.explain(fmt.Sprintf("read the resources of stack %s", t.stack), err)
	}
	phys := map[string]string{}
	for _, res := range out.StackResources {
		phys[aws.ToString(res.LogicalResourceId)] = aws.ToString(res.PhysicalResourceId)
	}
	for _, f := range []struct {
		field *string
		id    string
	}{
		{&r.TopicArn, "OrderTopic"}, {&r.QueueURL, "OrderQueue"}, {&r.DLQURL, "OrderDLQ"}, {&r.Table, "OrdersTable"},
		{&r.Function, "ProcessOrderFunction"}, {&r.MappingID, "OrderEventSourceMapping"}, {&r.LogGroup, "ProcessOrderFunctionLogGroup"},
	} {
		if *f.field == "" {
			*f.field = phys[f.id]
		}
	}
	client := awssqs.NewFromConfig(t.cfg)
	for _, q := range []struct{ url, arn *string }{{&r.QueueURL, &r.QueueArn}, {&r.DLQURL, &r.DLQArn}} {
		if *q.arn != "" || *q.url == "" {
			continue
		}
		a, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			return t.explain("read the ARN of queue "+*q.url, err)
		}
		*q.arn = a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	}
	return nil
}

// explain turns an SDK error into one plain sentence: what failed, the cause
// (the AWS error code and message when there is one, else the root cause
// without the SDK's chain of "operation error …, exceeded maximum number of
// attempts, …, https response error StatusCode: 0" prefixes), and the next
// step for the common causes.
func (t *target) explain(what string, err error) error {
	return fmt.Errorf("could not %s: %s", what, t.cause(err))
}

// cause says in one clause why a call to the target failed.
func (t *target) cause(err error) string {
	var (
		api      smithy.APIError
		dns      *net.DNSError
		op       *net.OpError
		netErr   net.Error
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		alertErr tls.AlertError
		record   tls.RecordHeaderError
	)
	where := t.where()
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case isCredentialsFailure(err):
		return "no usable AWS credentials (" + rootCause(err) + "); " + credentialsHint
	case errors.As(err, &api) && !isDeserialization(err):
		return apiCause(where, api)
	case httpStatus(err) >= 300:
		// An answer that is neither an AWS error nor readable: a web
		// server's page, say.
		code := httpStatus(err)
		return fmt.Sprintf("%s answered %d %s; is it an AWS endpoint?", where, code, http.StatusText(code))
	case errors.As(err, &dns):
		return fmt.Sprintf("the host %s was not found (%s); check the address in --endpoint or AWS_ENDPOINT_URL and the network", dns.Name, dns.Err)
	case errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial" && !op.Timeout()):
		hint := "; is the address right and its server running?"
		if t.endpoint == defaultEndpoint {
			hint = "; is `orderflow up` running?"
		} else if t.endpoint == "" {
			hint = "; check the network"
		}
		return "nothing answers at " + where + hint
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return where + " did not answer in time; is it overloaded or out of reach?"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		// Before or in the middle of its answer: a server that died.
		return where + " closed the connection before answering; did its server stop? Check that it is running and try again"
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid):
		return fmt.Sprintf("%s's TLS certificate is not trusted (%s); give an endpoint whose certificate this machine trusts, or its http:// address", where, rootCause(err))
	case errors.As(err, &record) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return where + " does not speak TLS; use its http:// address"
	case errors.As(err, &alertErr):
		return fmt.Sprintf("the TLS handshake with %s failed (%s); check the endpoint's address and certificate", where, rootCause(err))
	case httpStatus(err) != 0:
		code := httpStatus(err)
		return fmt.Sprintf("%s answered %d %s with something that is not an AWS answer (%s); is it an AWS endpoint?", where, code, http.StatusText(code), rootCause(err))
	}
	return rootCause(err)
}

// httpStatus is the status of the HTTP answer err is about, or 0 when there
// was none.
func httpStatus(err error) int {
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) && resp.Response != nil && resp.Response.Response != nil {
		return resp.HTTPStatusCode()
	}
	return 0
}

// credentialsHint is the next step when no credentials were found.
const credentialsHint = "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`"

// apiCause is an AWS error: its code and message, and a hint for the codes
// whose next step is clear.
func apiCause(where string, api smithy.APIError) string {
	code, msg := api.ErrorCode(), oneLine(api.ErrorMessage())
	if code == "" {
		code = "UnknownError"
	}
	hint := ""
	switch code {
	case "MissingAuthenticationToken", "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature",
		"MissingAuthenticationTokenException", "UnrecognizedClientException", "InvalidSignatureException":
		hint = fmt.Sprintf(" (%s refused the credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key it accepts, or name a profile with --profile)", where)
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
		hint = " (the credentials' identity may not do this: grant it the permission, or use another profile with --profile)"
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired":
		hint = " (the credentials have expired: renew them, e.g. with `aws sso login` or new keys)"
	}
	if msg == "" {
		return code + hint
	}
	return code + ": " + msg + hint
}

// isDeserialization reports whether err is an answer the SDK could not read
// (an HTML page, say), which the SDK may report as an API error without a
// code.
func isDeserialization(err error) bool {
	var d *smithy.DeserializationError
	if errors.As(err, &d) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "" && api.ErrorMessage() == ""
}

// isCredentialsFailure reports whether err is the SDK failing to get
// credentials to sign with, before any request was sent. The SDK gives it
// no type of its own: it wraps the provider's error in "get identity: ".
func isCredentialsFailure(err error) bool {
	var ssoErr *ssocreds.InvalidTokenError
	return errors.As(err, &ssoErr) || strings.Contains(err.Error(), "get identity: ")
}

// rootCause is the innermost error's message, on one line: what the SDK's
// chain of wrappers ("operation error …, https response error StatusCode:
// 0, RequestID: , request send failed, …") was about.
func rootCause(err error) string {
	for {
		var next error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				next = errs[0]
			}
		}
		if next == nil {
			return oneLine(err.Error())
		}
		err = next
	}
}

// oneLine joins the lines of s.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/deploy"
	"github.com/orderflow/orderflow/internal/cfntemplate"
	"github.com/orderflow/orderflow/internal/human"
	"github.com/orderflow/orderflow/internal/lambdazip"
)

// modulePath is the module whose source deploy builds the function from.
const modulePath = "github.com/orderflow/orderflow"

type deployFlags struct {
	params  []string
	bucket  string
	yes     bool
	source  string
	timeout time.Duration
}

func deployCommand(e *env, tf *targetFlags) *cobra.Command {
	var f deployFlags
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Build ProcessOrderFunction, upload it and create or update the stack, through a change set",
		Long: `deploy builds ProcessOrderFunction from this source tree (linux/arm64 for AWS,
as the template's Architectures says; for another endpoint arm64 too when
qemu-aarch64-static can run it there, else the host's architecture, which it
says), packages it reproducibly, and uploads it to an artefact bucket under a
key that carries the zip's digest (--bucket, created if missing; by default
orderflow-artifacts-ACCOUNT-REGION). A bucket in another region is refused.

It then creates or updates the stack (--stack, default orderflow) from
deploy/template.yaml through a change set: it shows what will be added,
modified, replaced or removed — a replacement or removal of the Orders table
loudly — and asks before executing it, unless --yes. Without a terminal it
executes without asking, except a change set that replaces or removes
Orders, which needs --yes. A change set without changes says so and exits 0.
It follows the stack's events until the stack settles; on failure it names
the failing resource, its reason and the rollback's outcome, and exits 1.
Parameters not given with --param keep their values on an update.`,
		Example: `  orderflow deploy                                  # to orderflow up on this machine
  orderflow deploy --aws --yes                      # to AWS, with the standard credential chain
  orderflow deploy --aws --bucket my-artifacts --param MaximumConcurrency=20
  orderflow deploy --endpoint http://127.0.0.1:5000  # any AWS-compatible endpoint`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			params, err := parseParams(f.params)
			if err != nil {
				return err
			}
			if !validStackName(tf.stack) {
				return usageError{fmt.Errorf("--stack %q is not a stack name AWS accepts: a letter, then letters, digits and hyphens, at most 128 characters", tf.stack)}
			}
			if f.bucket != "" && !validBucketName(f.bucket) {
				return usageError{fmt.Errorf("--bucket %q is not a bucket name S3 accepts: 3 to 63 lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit", f.bucket)}
			}
			ctx := cmd.Context()
			if f.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, f.timeout)
				defer cancel()
			}
			t, err := tf.resolve(ctx, e)
			if err != nil {
				return err
			}
			return runDeploy(ctx, e, t, f, params)
		},
	}
	cmd.Flags().StringArrayVar(&f.params, "param", nil, "a template parameter, as Name=Value (repeatable); on an update, the others keep their values")
	cmd.Flags().StringVar(&f.bucket, "bucket", "", "the artefact `bucket` (default orderflow-artifacts-ACCOUNT-REGION; created if missing)")
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "execute the change set without asking")
	cmd.Flags().StringVar(&f.source, "source", "", "the orderflow source `directory` to build from (default: the one holding the current directory)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 30*time.Minute, "give up after this long (the stack goes on, and orderflow status shows it)")
	return cmd
}

func runDeploy(ctx context.Context, e *env, t *target, f deployFlags, params map[string]string) error {
	tmpl, err := cfntemplate.Parse(deploy.TemplateYAML)
	if err != nil {
		return fmt.Errorf("read deploy/template.yaml: %w", err)
	}
	for name := range params {
		if _, ok := tmpl.Parameters[name]; !ok {
			return usageError{fmt.Errorf("--param %s: deploy/template.yaml has no such parameter (it has %s)", name, strings.Join(slices.Sorted(maps.Keys(tmpl.Parameters)), ", "))}
		}
	}
	src, err := sourceDir(f.source)
	if err != nil {
		return err
	}

	// Who and where: the account names the default bucket.
	id, err := awssts.NewFromConfig(t.cfg).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
	if err != nil {
		return t.explain("find the account (STS GetCallerIdentity)", err)
	}
	account, region := aws.ToString(id.Account), t.cfg.Region

	arch, note := buildArch(t, tmpl)
	fmt.Fprintf(e.stdout, "Building ProcessOrderFunction for linux/%s%s …\n", arch, note)
	zip, err := buildFunction(ctx, src, arch)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(zip)
	key := "orderflow/ProcessOrderFunction-" + hex.EncodeToString(sum[:])[:12] + ".zip"

	bucket := f.bucket
	if bucket == "" {
		bucket = fmt.Sprintf("orderflow-artifacts-%s-%s", account, region)
	}
	s3c := awss3.NewFromConfig(t.cfg, func(o *awss3.Options) { o.UsePathStyle = t.endpoint != "" })
	if err := ensureBucket(ctx, e, t, s3c, bucket, region); err != nil {
		return err
	}
	if err := upload(ctx, e, t, s3c, bucket, key, zip); err != nil {
		return err
	}

	cfn := awscfn.NewFromConfig(t.cfg)
	stack, err := describeStack(ctx, cfn, t.stack)
	if err != nil {
		return t.explain("read stack "+t.stack, err)
	}
	kind := cfntypes.ChangeSetTypeCreate
	if stack != nil {
		switch stack.StackStatus {
		case cfntypes.StackStatusReviewInProgress:
			// A create that never ran: its change set is created anew.
		case cfntypes.StackStatusRollbackComplete, cfntypes.StackStatusRollbackFailed, cfntypes.StackStatusDeleteFailed:
			return fmt.Errorf("stack %s is %s from a create that failed; it cannot be updated: remove it with orderflow destroy, then deploy again", t.stack, stack.StackStatus)
		default:
			if strings.HasSuffix(string(stack.StackStatus), "_IN_PROGRESS") {
				return fmt.Errorf("stack %s is %s: another operation is under way; wait for it (orderflow deploy follows its own only) and deploy again", t.stack, stack.StackStatus)
			}
			kind = cfntypes.ChangeSetTypeUpdate
		}
	}
	in := &awscfn.CreateChangeSetInput{
		StackName:     aws.String(t.stack),
		ChangeSetName: aws.String(fmt.Sprintf("orderflow-deploy-%d", time.Now().Unix())),
		ChangeSetType: kind,
		TemplateBody:  aws.String(string(deploy.TemplateYAML)),
		Capabilities:  []cfntypes.Capability{cfntypes.CapabilityCapabilityIam, cfntypes.CapabilityCapabilityNamedIam},
		Parameters:    stackParameters(tmpl, stack, params, bucket, key),
		Description:   aws.String("orderflow deploy of " + key),
	}
	cs, err := cfn.CreateChangeSet(ctx, in)
	var api smithy.APIError
	if errors.As(err, &api) && noChanges(api.ErrorMessage()) {
		// Some implementations refuse the change set outright rather
		// than create a FAILED one.
		fmt.Fprintf(e.stdout, "No changes: stack %s at %s is up to date with this build (%s).\n", t.stack, t.where(), key)
		return nil
	}
	if err != nil {
		return t.explain("create a change set for stack "+t.stack, err)
	}
	desc, err := waitChangeSet(ctx, cfn, aws.ToString(cs.Id))
	if err != nil {
		return t.explain("read the change set of stack "+t.stack, err)
	}
	if desc.Status == cfntypes.ChangeSetStatusFailed {
		reason := aws.ToString(desc.StatusReason)
		if noChanges(reason) {
			cfn.DeleteChangeSet(ctx, &awscfn.DeleteChangeSetInput{ChangeSetName: cs.Id})
			fmt.Fprintf(e.stdout, "No changes: stack %s at %s is up to date with this build (%s).\n", t.stack, t.where(), key)
			return nil
		}
		return fmt.Errorf("the change set for stack %s failed: %s", t.stack, reason)
	}
	risky := printChanges(e.stdout, t.stack, kind, desc.Changes)
	if !f.yes {
		switch {
		case readerIsTerminal(e.stdin):
			ok, err := confirm(e, fmt.Sprintf("Execute this change set on stack %s at %s?", t.stack, t.where()))
			if err != nil && !errors.Is(err, errNoAnswer) {
				return err
			}
			if !ok {
				cfn.DeleteChangeSet(ctx, &awscfn.DeleteChangeSetInput{ChangeSetName: cs.Id})
				return errors.New("deploy cancelled; the change set was deleted and nothing changed")
			}
		case risky != "":
			return fmt.Errorf("the change set %s; without a terminal to ask, deploy executes it only with --yes (the change set %s is left for review: aws cloudformation describe-change-set --change-set-name %s)", risky, aws.ToString(desc.ChangeSetName), aws.ToString(cs.Id))
		}
	}
	started := time.Now().Add(-time.Second)
	if _, err := cfn.ExecuteChangeSet(ctx, &awscfn.ExecuteChangeSetInput{ChangeSetName: cs.Id}); err != nil {
		return t.explain("execute the change set of stack "+t.stack, err)
	}
	final, err := followStack(ctx, e, cfn, aws.ToString(cs.StackId), started)
	if err != nil {
		return t.explain("follow stack "+t.stack, err)
	}
	switch final.StackStatus {
	case cfntypes.StackStatusCreateComplete, cfntypes.StackStatusUpdateComplete:
	default:
		return stackFailure(ctx, cfn, t.stack, aws.ToString(cs.StackId), final, started)
	}
	fmt.Fprintf(e.stdout, "\nStack %s is %s at %s.\n", t.stack, final.StackStatus, t.where())
	printOutputs(e.stdout, final.Outputs)
	endpoint := ""
	switch {
	case t.endpoint == "":
		endpoint = " --aws"
	case t.endpoint != defaultEndpoint:
		endpoint = " --endpoint " + t.endpoint
	}
	if t.stack != stackName {
		endpoint += " --stack " + t.stack
	}
	fmt.Fprintf(e.stdout, "\nTry it:\n  orderflow publish%s --file testdata/seed-order.json\n  orderflow status%s --wait 1m\n  orderflow logs%s --follow\n", endpoint, endpoint, endpoint)
	return nil
}

// sourceDir is the root of the orderflow source tree to build from: dir, or
// the directory holding the current one.
func sourceDir(dir string) (string, error) {
	start := dir
	if start == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		start = wd
	}
	for d := start; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module "+modulePath+"\n") {
			return d, nil
		}
		if dir != "" || filepath.Dir(d) == d {
			break
		}
	}
	return "", fmt.Errorf("orderflow deploy builds the function from its source, and %s is not in the orderflow source tree: run it in your clone, or give --source DIR", start)
}

// buildArch is the architecture to build for: the template's (arm64) for
// AWS, and for another endpoint too when this machine can run it there
// (natively or with qemu-user), else the host's, with a note saying so.
func buildArch(t *target, tmpl *cfntemplate.Template) (arch, note string) {
	want := "arm64"
	if fn, ok := tmpl.Resources["ProcessOrderFunction"]; ok {
		if list, ok := fn.Properties["Architectures"].([]any); ok && len(list) == 1 && list[0] == "x86_64" {
			want = "amd64"
		}
	}
	if t.endpoint == "" || want == runtime.GOARCH {
		return want, ""
	}
	qemu := map[string]string{"arm64": "qemu-aarch64-static", "amd64": "qemu-x86_64-static"}[want]
	if _, err := exec.LookPath(qemu); err == nil {
		return want, ", the template's architecture (" + qemu + " runs it here)"
	}
	return runtime.GOARCH, fmt.Sprintf(", this machine's, not the template's %s (%s is not installed to run that build here)", want, qemu)
}

// buildFunction builds cmd/bootstrap for linux/arch as make bootstrap does,
// and returns its reproducible zip.
func buildFunction(ctx context.Context, src, arch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "orderflow-deploy-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/bootstrap")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return nil, errors.New("orderflow deploy builds the function with the go command, which is not on PATH: install Go 1.26")
	}
	if err != nil {
		return nil, fmt.Errorf("could not build ProcessOrderFunction (go build ./cmd/bootstrap in %s): %s", src, strings.TrimSpace(lastLines(string(out), 5)))
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	return lambdazip.Bytes(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// ensureBucket makes sure the artefact bucket exists in the target's
// region, creating it if missing.
func ensureBucket(ctx context.Context, e *env, t *target, c *awss3.Client, bucket, region string) error {
	head, err := c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(bucket)})
	elsewhere := func(r string) error {
		return fmt.Errorf("bucket %s is in %s, not in %s where the stack is: Lambda reads code only from a bucket in its own region; give --bucket a bucket in %s", bucket, r, region, region)
	}
	if err == nil {
		if r := aws.ToString(head.BucketRegion); r != "" && r != region {
			return elsewhere(r)
		}
		return nil
	}
	// Asked in the wrong region, S3 answers 301 (or 400) with the
	// bucket's region in x-amz-bucket-region, whether or not this
	// account may use the bucket.
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if r := re.Response.Header.Get("X-Amz-Bucket-Region"); r != "" && r != region {
			return elsewhere(r)
		}
	}
	var api smithy.APIError
	if !errors.As(err, &api) || (api.ErrorCode() != "NotFound" && api.ErrorCode() != "NoSuchBucket") {
		if errors.As(err, &api) && (api.ErrorCode() == "Forbidden" || api.ErrorCode() == "AccessDenied") {
			return fmt.Errorf("bucket %s exists but this account cannot use it (it may be another account's: bucket names are global); give --bucket another name", bucket)
		}
		return t.explain("look up bucket "+bucket, err)
	}
	in := &awss3.CreateBucketInput{Bucket: aws.String(bucket)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
	}
	if _, err := c.CreateBucket(ctx, in); err != nil {
		return t.explain("create bucket "+bucket, err)
	}
	fmt.Fprintf(e.stdout, "Created the artefact bucket %s in %s.\n", bucket, region)
	return nil
}

// upload puts the zip under its content-addressed key, unless it is there.
func upload(ctx context.Context, e *env, t *target, c *awss3.Client, bucket, key string, zip []byte) error {
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err == nil {
		fmt.Fprintf(e.stdout, "s3://%s/%s is already there (the same build).\n", bucket, key)
		return nil
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader(string(zip)), ContentType: aws.String("application/zip")}); err != nil {
		return t.explain(fmt.Sprintf("upload s3://%s/%s", bucket, key), err)
	}
	fmt.Fprintf(e.stdout, "Uploaded s3://%s/%s (%s).\n", bucket, key, human.Count(int64(len(zip)), "byte", "bytes"))
	return nil
}

// describeStack returns the stack, or nil if there is none by that name.
func describeStack(ctx context.Context, c *awscfn.Client, name string) (*cfntypes.Stack, error) {
	out, err := c.DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String(name)})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ValidationError" && strings.Contains(api.ErrorMessage(), "does not exist") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(out.Stacks) == 0 {
		return nil, nil
	}
	return &out.Stacks[0], nil
}

// stackParameters are the change set's parameters: the code's location,
// the --param values, and on an update every other parameter's previous
// value (as aws cloudformation deploy does), so that a deploy changes only
// what it is told to.
func stackParameters(tmpl *cfntemplate.Template, stack *cfntypes.Stack, params map[string]string, bucket, key string) []cfntypes.Parameter {
	set := map[string]string{"CodeS3Bucket": bucket, "CodeS3Key": key}
	for k, v := range params {
		set[k] = v
	}
	previous := map[string]bool{}
	if stack != nil && stack.StackStatus != cfntypes.StackStatusReviewInProgress {
		for _, p := range stack.Parameters {
			previous[aws.ToString(p.ParameterKey)] = true
		}
	}
	var out []cfntypes.Parameter
	for _, name := range slices.Sorted(maps.Keys(tmpl.Parameters)) {
		switch v, ok := set[name]; {
		case ok:
			out = append(out, cfntypes.Parameter{ParameterKey: aws.String(name), ParameterValue: aws.String(v)})
		case previous[name]:
			out = append(out, cfntypes.Parameter{ParameterKey: aws.String(name), UsePreviousValue: aws.Bool(true)})
		}
	}
	return out
}

// waitChangeSet polls a change set until it is created or has failed.
func waitChangeSet(ctx context.Context, c *awscfn.Client, id string) (*awscfn.DescribeChangeSetOutput, error) {
	for pause := 200 * time.Millisecond; ; pause = min(2*pause, 3*time.Second) {
		out, err := c.DescribeChangeSet(ctx, &awscfn.DescribeChangeSetInput{ChangeSetName: aws.String(id)})
		if err != nil {
			return nil, err
		}
		switch out.Status {
		case cfntypes.ChangeSetStatusCreateComplete, cfntypes.ChangeSetStatusFailed:
			// All pages of changes: a stack has few resources, but be exact.
			for next := out.NextToken; next != nil; {
				more, err := c.DescribeChangeSet(ctx, &awscfn.DescribeChangeSetInput{ChangeSetName: aws.String(id), NextToken: next})
				if err != nil {
					return nil, err
				}
				out.Changes = append(out.Changes, more.Changes...)
				next = more.NextToken
			}
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// noChanges recognises the reasons CloudFormation gives a change set that
// would change nothing.
func noChanges(reason string) bool {
	return strings.Contains(reason, "didn't contain changes") || strings.Contains(reason, "No updates are to be performed")
}

// printChanges shows a change set as a table and returns what makes it
// risky ("replaces the Orders table", "removes …"), or "".
func printChanges(w io.Writer, stack string, kind cfntypes.ChangeSetType, changes []cfntypes.Change) (risky string) {
	verb := "update"
	if kind == cfntypes.ChangeSetTypeCreate {
		verb = "create"
	}
	fmt.Fprintf(w, "The change set would %s stack %s:\n", verb, stack)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ACTION\tRESOURCE\tTYPE\tREPLACEMENT")
	var warnings []string
	for _, ch := range changes {
		rc := ch.ResourceChange
		if rc == nil {
			continue
		}
		replacement := string(rc.Replacement)
		if replacement == "" {
			replacement = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", rc.Action, aws.ToString(rc.LogicalResourceId), aws.ToString(rc.ResourceType), replacement)
		if aws.ToString(rc.ResourceType) != "AWS::DynamoDB::Table" {
			continue
		}
		switch {
		case rc.Action == cfntypes.ChangeActionRemove:
			warnings = append(warnings, "removes the "+aws.ToString(rc.LogicalResourceId)+" table")
		case rc.Action == cfntypes.ChangeActionModify && (rc.Replacement == cfntypes.ReplacementTrue || rc.Replacement == cfntypes.ReplacementConditional):
			warnings = append(warnings, "replaces the "+aws.ToString(rc.LogicalResourceId)+" table")
		}
	}
	tw.Flush()
	if len(changes) == 0 {
		fmt.Fprintln(w, "  (no resource changes: parameters or outputs only)")
	}
	if len(warnings) > 0 {
		risky = strings.Join(warnings, " and ")
		fmt.Fprintf(w, "\nWARNING: this change set %s: a new, empty table takes its place, and the stored orders stay only in the old one if its DeletionPolicy keeps it.\n\n", risky)
	}
	return risky
}

// terminal reports whether a stack status is one the stack rests in.
func terminal(s cfntypes.StackStatus) bool {
	return !strings.HasSuffix(string(s), "_IN_PROGRESS")
}

// followStack prints the stack's events as they come, oldest first, from
// since, until the stack settles; it returns the settled stack.
func followStack(ctx context.Context, e *env, c *awscfn.Client, stackID string, since time.Time) (*cfntypes.Stack, error) {
	seen := map[string]bool{}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	printNew := func() error {
		events, err := stackEvents(ctx, c, stackID, since)
		if err != nil {
			return err
		}
		for _, ev := range events {
			if seen[aws.ToString(ev.EventId)] {
				continue
			}
			seen[aws.ToString(ev.EventId)] = true
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", aws.ToTime(ev.Timestamp).Local().Format("15:04:05"), ev.ResourceStatus,
				aws.ToString(ev.LogicalResourceId), aws.ToString(ev.ResourceType), aws.ToString(ev.ResourceStatusReason))
		}
		return tw.Flush()
	}
	for pause := 500 * time.Millisecond; ; pause = min(pause+500*time.Millisecond, 3*time.Second) {
		if err := printNew(); err != nil {
			return nil, err
		}
		out, err := c.DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String(stackID)})
		if err != nil {
			return nil, err
		}
		if len(out.Stacks) == 1 && terminal(out.Stacks[0].StackStatus) {
			// The events up to the settled status, which came after
			// the last look.
			if err := printNew(); err != nil {
				return nil, err
			}
			return &out.Stacks[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("gave up following the stack (--timeout); it goes on: orderflow status shows it: %w", ctx.Err())
		case <-time.After(pause):
		}
	}
}

// stackEvents are the stack's events since a time, oldest first.
func stackEvents(ctx context.Context, c *awscfn.Client, stackID string, since time.Time) ([]cfntypes.StackEvent, error) {
	var out []cfntypes.StackEvent
	p := awscfn.NewDescribeStackEventsPaginator(c, &awscfn.DescribeStackEventsInput{StackName: aws.String(stackID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		older := false
		for _, ev := range page.StackEvents { // newest first
			if aws.ToTime(ev.Timestamp).Before(since) {
				older = true
				break
			}
			out = append(out, ev)
		}
		if older {
			break
		}
	}
	slices.Reverse(out)
	return out, nil
}

// stackFailure is the one sentence of a deploy whose stack did not
// complete: the first resource that failed, its reason, and where the
// rollback left the stack.
func stackFailure(ctx context.Context, c *awscfn.Client, stack, stackID string, final *cfntypes.Stack, since time.Time) error {
	cause := aws.ToString(final.StackStatusReason)
	if events, err := stackEvents(ctx, c, stackID, since); err == nil {
		for _, ev := range events {
			if strings.HasSuffix(string(ev.ResourceStatus), "_FAILED") && aws.ToString(ev.LogicalResourceId) != stack && aws.ToString(ev.ResourceStatusReason) != "" {
				cause = fmt.Sprintf("%s (%s) %s: %s", aws.ToString(ev.LogicalResourceId), aws.ToString(ev.ResourceType), ev.ResourceStatus, aws.ToString(ev.ResourceStatusReason))
				break
			}
		}
	}
	next := "fix the cause and deploy again"
	if final.StackStatus == cfntypes.StackStatusRollbackComplete || final.StackStatus == cfntypes.StackStatusRollbackFailed {
		next = "a stack whose create failed cannot be updated: orderflow destroy, fix the cause, and deploy again"
	}
	return fmt.Errorf("stack %s failed: %s; the rollback left it %s: %s", stack, cause, final.StackStatus, next)
}

// printOutputs shows a stack's outputs.
func printOutputs(w io.Writer, outputs []cfntypes.Output) {
	if len(outputs) == 0 {
		return
	}
	slices.SortFunc(outputs, func(a, b cfntypes.Output) int {
		return strings.Compare(aws.ToString(a.OutputKey), aws.ToString(b.OutputKey))
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, o := range outputs {
		fmt.Fprintf(tw, "  %s\t%s\n", aws.ToString(o.OutputKey), aws.ToString(o.OutputValue))
	}
	tw.Flush()
}

// validStackName is AWS's rule for stack names.
func validStackName(s string) bool {
	if s == "" || len(s) > 128 || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !(c >= '0' && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// validBucketName is S3's rule for bucket names (general purpose buckets).
func validBucketName(s string) bool {
	if len(s) < 3 || len(s) > 63 || strings.Contains(s, "..") {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func destroyCommand(e *env, tf *targetFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete the stack, after asking; say what stays",
		Long: `destroy deletes the stack (--stack, default orderflow) and follows it until it
is gone. It asks first, unless --yes; without a terminal it needs --yes.
Resources the template keeps on deletion (DeletionPolicy: Retain — the Orders
table, with its orders) stay, and destroy names them; so does the artefact
bucket that orderflow deploy uploaded to.`,
		Example: "  orderflow destroy\n  orderflow destroy --aws --yes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			t, err := tf.resolve(ctx, e)
			if err != nil {
				return err
			}
			cfn := awscfn.NewFromConfig(t.cfg)
			stack, err := describeStack(ctx, cfn, t.stack)
			if err != nil {
				return t.explain("read stack "+t.stack, err)
			}
			if stack == nil {
				fmt.Fprintf(e.stdout, "Stack %s does not exist at %s: nothing to delete.\n", t.stack, t.where())
				return nil
			}
			kept, err := retained(ctx, cfn, aws.ToString(stack.StackId))
			if err != nil {
				return t.explain("read the resources of stack "+t.stack, err)
			}
			if !yes {
				question := fmt.Sprintf("Delete stack %s at %s?", t.stack, t.where())
				if len(kept) > 0 {
					question = fmt.Sprintf("Delete stack %s at %s (%s stay)?", t.stack, t.where(), strings.Join(kept, ", "))
				}
				if !readerIsTerminal(e.stdin) {
					return fmt.Errorf("destroy deletes stack %s at %s: pass --yes to do it without a terminal to ask", t.stack, t.where())
				}
				ok, err := confirm(e, question)
				if err != nil && !errors.Is(err, errNoAnswer) {
					return err
				}
				if !ok {
					return errors.New("destroy cancelled; nothing was deleted")
				}
			}
			started := time.Now().Add(-time.Second)
			if _, err := cfn.DeleteStack(ctx, &awscfn.DeleteStackInput{StackName: stack.StackId}); err != nil {
				return t.explain("delete stack "+t.stack, err)
			}
			final, err := followStack(ctx, e, cfn, aws.ToString(stack.StackId), started)
			if err != nil {
				return t.explain("follow stack "+t.stack, err)
			}
			if final.StackStatus != cfntypes.StackStatusDeleteComplete {
				return stackFailure(ctx, cfn, t.stack, aws.ToString(stack.StackId), final, started)
			}
			fmt.Fprintf(e.stdout, "Stack %s is deleted from %s.\n", t.stack, t.where())
			for _, k := range kept {
				fmt.Fprintf(e.stdout, "Kept, as the template's DeletionPolicy says: %s.\n", k)
			}
			fmt.Fprintln(e.stdout, "The artefact bucket orderflow deploy uploaded to is kept too.")
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	return cmd
}

// retained names the stack's resources that deleting it keeps: those the
// template gives DeletionPolicy Retain, as "OrdersTable
// (AWS::DynamoDB::Table Orders)".
func retained(ctx context.Context, c *awscfn.Client, stackID string) ([]string, error) {
	tmpl, err := cfntemplate.Parse(deploy.TemplateYAML)
	if err != nil {
		return nil, err
	}
	out, err := c.DescribeStackResources(ctx, &awscfn.DescribeStackResourcesInput{StackName: aws.String(stackID)})
	if err != nil {
		return nil, err
	}
	physical := map[string]string{}
	for _, r := range out.StackResources {
		physical[aws.ToString(r.LogicalResourceId)] = aws.ToString(r.PhysicalResourceId)
	}
	var kept []string
	for id, res := range tmpl.Resources {
		if res.DeletionPolicy != "Retain" {
			continue
		}
		// Named by the stack when it says; by the template alone when
		// the stack does not list it (some implementations lose track
		// of resources after an update).
		if p := physical[id]; p != "" {
			kept = append(kept, fmt.Sprintf("%s (%s %s)", id, res.Type, p))
		} else {
			kept = append(kept, fmt.Sprintf("%s (%s)", id, res.Type))
		}
	}
	slices.Sort(kept)
	return kept, nil
}

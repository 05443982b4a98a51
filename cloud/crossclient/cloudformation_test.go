package crossclient_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/lambda"
)

// exitAndOutput runs the CLI against the cloud and returns its exit code and
// combined output, for the commands (deploy) that print text.
func (a cli) exitAndOutput(t *testing.T, c *cloud.Cloud, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.path, append([]string{"--endpoint-url", c.URL()}, args...)...)
	cmd.Env = cleanEnv(t, c)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish in 3 minutes:\n%s", a.name, strings.Join(args, " "), out.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatalf("%s: %v", a.name, err)
	}
	return 0, out.String()
}

// The CLI's waiters poll a stack every few seconds, so one deploy takes
// tens of seconds whatever the cloud does: v2 only, the CLI users have.
func TestTheAWSCLIDeploysTheTemplateThroughAChangeSet(t *testing.T) {
	for _, a := range clis(t) {
		if a.name != "AWS CLI v2" {
			continue
		}
		t.Run(a.name, func(t *testing.T) { cliDeploys(t, a) })
	}
}

func cliDeploys(t *testing.T, a cli) {
	c, _ := cloudtest.Start(t)
	c.Lambda.Register("ProcessOrderFunction", func(lambda.Config) (lambda.Handler, error) {
		return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, nil
		}, nil
	})
	deploy := func(params ...string) (int, string) {
		args := []string{"cloudformation", "deploy", "--template-file", "../../deploy/template.yaml", "--stack-name", "shop", "--capabilities", "CAPABILITY_IAM"}
		if len(params) > 0 {
			args = append(args, append([]string{"--parameter-overrides"}, params...)...)
		}
		return a.exitAndOutput(t, c, args...)
	}
	maxReceives := func() string {
		url := a.run(t, c, "sqs", "get-queue-url", "--queue-name", "OrderQueue")["QueueUrl"].(string)
		attrs := a.run(t, c, "sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "RedrivePolicy")["Attributes"].(map[string]any)
		return attrs["RedrivePolicy"].(string)
	}

	v := a.run(t, c, "cloudformation", "validate-template", "--template-body", "file://../../deploy/template.yaml")
	if caps, _ := v["Capabilities"].([]any); len(caps) != 1 || caps[0] != "CAPABILITY_IAM" {
		t.Errorf("validate-template capabilities = %v", v["Capabilities"])
	}

	if code, out := deploy("MaxReceiveCount=4"); code != 0 || !strings.Contains(out, "Successfully created/updated stack - shop") {
		t.Fatalf("first deploy exited %d:\n%s", code, out)
	}
	st := a.run(t, c, "cloudformation", "describe-stacks", "--stack-name", "shop")["Stacks"].([]any)[0].(map[string]any)
	if st["StackStatus"] != "CREATE_COMPLETE" {
		t.Errorf("after the first deploy: %v", st["StackStatus"])
	}
	if got := maxReceives(); !strings.Contains(got, `"maxReceiveCount":4`) {
		t.Errorf("RedrivePolicy = %s, want maxReceiveCount 4", got)
	}

	// The CLI names its change sets after the second it makes them in, and
	// an empty one stays (FAILED), as on AWS: delete it, so that the next
	// deploy in the same second can make its own.
	dropEmpty := func() {
		sets := a.run(t, c, "cloudformation", "list-change-sets", "--stack-name", "shop")["Summaries"].([]any)
		if len(sets) != 1 || sets[0].(map[string]any)["Status"] != "FAILED" {
			t.Fatalf("change sets after an empty deploy = %v, want the one FAILED", sets)
		}
		a.run(t, c, "cloudformation", "delete-change-set", "--change-set-name", sets[0].(map[string]any)["ChangeSetId"].(string))
	}
	// The CLI finds the change set empty by its StatusReason. Whether it
	// then exits non-zero by default differs between CLI versions (v1
	// does, v2 does not); --no-fail-on-empty-changeset makes it exit 0.
	if _, out := deploy("MaxReceiveCount=4"); !strings.Contains(out, "No changes to deploy. Stack shop is up to date") {
		t.Errorf("deploying the same again:\n%s", out)
	}
	dropEmpty()
	if code, out := a.exitAndOutput(t, c, "cloudformation", "deploy", "--template-file", "../../deploy/template.yaml", "--stack-name", "shop",
		"--capabilities", "CAPABILITY_IAM", "--no-fail-on-empty-changeset", "--parameter-overrides", "MaxReceiveCount=4"); code != 0 || !strings.Contains(out, "No changes to deploy. Stack shop is up to date") {
		t.Errorf("deploying the same again with --no-fail-on-empty-changeset exited %d:\n%s", code, out)
	}
	dropEmpty()

	if code, out := deploy("MaxReceiveCount=6"); code != 0 || !strings.Contains(out, "Successfully created/updated stack - shop") {
		t.Fatalf("the update exited %d:\n%s", code, out)
	}
	// A template named by TemplateURL, uploaded with aws s3 cp. (This CLI's
	// deploy --s3-bucket uploads to AWS's S3 whatever --endpoint-url says.)
	a.run(t, c, "s3api", "create-bucket", "--bucket", "templates")
	if code, out := a.exitAndOutput(t, c, "s3", "cp", "../../deploy/template.yaml", "s3://templates/orderflow/template.yaml"); code != 0 {
		t.Fatalf("s3 cp exited %d:\n%s", code, out)
	}
	v = a.run(t, c, "cloudformation", "validate-template", "--template-url", c.URL()+"/templates/orderflow/template.yaml")
	if caps, _ := v["Capabilities"].([]any); len(caps) != 1 || caps[0] != "CAPABILITY_IAM" || v["Parameters"] == nil {
		t.Errorf("validate-template --template-url = %v", v)
	}
	st = a.run(t, c, "cloudformation", "describe-stacks", "--stack-name", "shop")["Stacks"].([]any)[0].(map[string]any)
	if st["StackStatus"] != "UPDATE_COMPLETE" {
		t.Errorf("after the update: %v", st["StackStatus"])
	}
	if got := maxReceives(); !strings.Contains(got, `"maxReceiveCount":6`) {
		t.Errorf("RedrivePolicy = %s, want maxReceiveCount 6", got)
	}
	if code, out := a.exitAndOutput(t, c, "cloudformation", "deploy", "--template-file", "../../deploy/template.yaml", "--stack-name", "bad_name", "--capabilities", "CAPABILITY_IAM"); code == 0 || !strings.Contains(out, "ValidationError") {
		t.Errorf("deploying a stack named bad_name exited %d:\n%s", code, out)
	}
}

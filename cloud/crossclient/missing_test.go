package crossclient_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/internal/awscli"
)

// TestAMissingClientIsSaidWithTheCommandThatInstallsIt runs one test of
// each client in a child test binary (not -short, so the client is looked
// for) on a machine without that client, on a developer's machine and in
// CI, and reads what it printed.
func TestAMissingClientIsSaidWithTheCommandThatInstallsIt(t *testing.T) {
	empty := t.TempDir() // a PATH with nothing on it
	var cliHere, sdkHere string
	if awscli.Version("/usr/bin/aws") == 2 {
		cliHere = "/usr/bin/aws is the AWS CLI v2 here"
	}
	if _, err := exec.LookPath("node"); err != nil {
		sdkHere = "Node.js is not on PATH here, which hides the SDK"
	} else if _, err := os.Stat("js/node_modules/@aws-sdk/client-sqs"); err == nil {
		sdkHere = "js/node_modules holds the SDK here"
	}
	for _, tc := range []struct {
		name     string
		test     string
		path     string
		cannot   string // why this machine cannot lack the client, if it cannot
		what     string
		commands string
	}{
		{
			name: "the AWS CLI v2", test: "TestTheAWSCLIDrivesDynamoDB", path: empty,
			cannot:   cliHere,
			what:     "missing: the AWS CLI v2 (no /usr/bin/aws, and no aws on PATH that says aws-cli/2)",
			commands: "run make deps, or apt-get install awscli as root",
		},
		{
			name: "Node.js", test: "TestTheJavaScriptSDKDrivesDynamoDB", path: empty,
			what:     "missing: Node.js (no node on PATH)",
			commands: "install Node.js and npm (apt-get install nodejs npm as root), then run make deps",
		},
		{
			name: "the JavaScript SDK", test: "TestTheJavaScriptSDKDrivesDynamoDB", path: os.Getenv("PATH"),
			cannot:   sdkHere,
			what:     "missing: the AWS SDK for JavaScript v3 (no cloud/crossclient/js/node_modules/@aws-sdk/client-sqs)",
			commands: "run make deps, or cd cloud/crossclient/js && npm ci",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cannot != "" {
				t.Skipf("%s, so its absence cannot be seen", tc.cannot)
			}
			for _, ci := range []bool{false, true} {
				cmd := exec.Command(os.Args[0], "-test.run=^"+tc.test+"$", "-test.v", "-test.short=false")
				cmd.Env = []string{"PATH=" + tc.path, "HOME=" + t.TempDir()}
				if ci {
					cmd.Env = append(cmd.Env, "CI=true")
				}
				out, err := cmd.CombinedOutput()
				want, status := tc.what+"; "+tc.commands, "--- SKIP: "+tc.test
				if ci {
					want, status = tc.what+", which CI needs; "+tc.commands, "--- FAIL: "+tc.test
				}
				if (err != nil) != ci {
					t.Errorf("CI=%v: exit error %v, want a failure only in CI\n%s", ci, err, out)
				}
				if !strings.Contains(string(out), want) || !strings.Contains(string(out), status) {
					t.Errorf("CI=%v: output lacks %q or %q:\n%s", ci, status, want, out)
				}
			}
		})
	}
}

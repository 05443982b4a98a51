package crossclient_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/internal/testruntime"
)

func TestMain(m *testing.M) {
	// A zip function's bootstrap in TestTheAWSCLICreatesAndInvokesAZipFunction
	// is this binary.
	testruntime.Main()
	os.Exit(m.Run())
}

func TestTheAWSCLICreatesAndInvokesAZipFunction(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t)
			dir := t.TempDir()
			zip := filepath.Join(dir, "function.zip")
			for code, path := range map[string]string{"v1": zip, "v2": filepath.Join(dir, "v2.zip")} {
				b, err := testruntime.Zip(code)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			created := a.run(t, c, "lambda", "create-function", "--function-name", "echo", "--runtime", "provided.al2023", "--handler", "bootstrap",
				"--role", "arn:aws:iam::000000000000:role/lambda-role", "--zip-file", "fileb://"+zip, "--environment", "Variables={GREETING=hi}")
			if created["State"] != "Active" || created["FunctionArn"] != "arn:aws:lambda:us-east-1:000000000000:function:echo" {
				t.Errorf("create-function printed %v", created)
			}
			event := filepath.Join(dir, "event.json")
			if err := os.WriteFile(event, []byte(`{"order":"O1"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out.json")
			answer := func(args ...string) testruntime.Answer {
				t.Helper()
				got := a.run(t, c, append([]string{"lambda", "invoke", "--function-name", "echo", "--payload", "fileb://" + event}, append(args, out)...)...)
				if got["StatusCode"] != float64(200) || got["FunctionError"] != nil {
					t.Fatalf("invoke printed %v", got)
				}
				b, _ := os.ReadFile(out)
				var ans testruntime.Answer
				if err := json.Unmarshal(b, &ans); err != nil {
					t.Fatalf("the response file holds %s: %v", b, err)
				}
				return ans
			}
			if got := answer(); got.Code != "v1" || got.Greeting != "hi" || string(got.Event) != `{"order":"O1"}` {
				t.Errorf("invoke answered %+v (event %s)", got, got.Event)
			}
			published := a.run(t, c, "lambda", "publish-version", "--function-name", "echo")
			if published["Version"] != "1" {
				t.Errorf("publish-version printed %v", published)
			}
			a.run(t, c, "lambda", "update-function-code", "--function-name", "echo", "--zip-file", "fileb://"+filepath.Join(dir, "v2.zip"))
			a.run(t, c, "lambda", "create-alias", "--function-name", "echo", "--name", "live", "--function-version", "1")
			if got := answer(); got.Code != "v2" {
				t.Errorf("after update-function-code, invoke answered as %q", got.Code)
			}
			if got := answer("--qualifier", "live"); got.Code != "v1" || got.Version != "1" {
				t.Errorf("invoke of the alias live answered %+v", got)
			}
			a.run(t, c, "lambda", "delete-function", "--function-name", "echo")
			if msg := a.fail(t, c, "lambda", "get-function", "--function-name", "echo"); !strings.Contains(msg, "(ResourceNotFoundException) when calling the GetFunction operation: Function not found: arn:aws:lambda:us-east-1:000000000000:function:echo") {
				t.Errorf("get-function after delete-function printed %s", msg)
			}
		})
	}
}

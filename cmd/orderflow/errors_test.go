package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/ownbody"
)

// operatingCommands are the commands that act on a target, each as it
// would be typed.
var operatingCommands = [][]string{
	{"status"},
	{"status", "--wait", "5s"},
	{"orders", "get", "O1"},
	{"orders", "list"},
	{"orders", "list", "--user", "U1"},
	{"dlq", "list"},
	{"logs"},
	{"publish", "--order-id", "O1", "--user-id", "U1", "--item", "Pen"},
}

// emptyEnvironment gives the test a machine without AWS configuration: no
// AWS_* variables, HOME an empty directory, and an EC2 metadata service at
// imds (the SDK reads the process's environment, so it is set there too);
// it returns the getenv the CLI is run with.
func emptyEnvironment(t *testing.T, imds string) func(string) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
		}
	}
	vars := map[string]string{"HOME": t.TempDir(), "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	return func(k string) string { return vars[k] }
}

// runCaptured runs the CLI and returns its exit code, its stdout and its
// stderr, with whatever else the process wrote to os.Stderr meanwhile (the
// SDK's logger writes there) appended to the latter.
func runCaptured(t *testing.T, args []string, getenv func(string) string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stderr
	os.Stderr = f
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, getenv, strings.NewReader(""), &stdout, &stderr)
	os.Stderr = saved
	stray, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String() + string(stray)
}

func TestEveryOperatingCommandFailsInOneSentence(t *testing.T) {
	closed := closedPort(t)
	// A metadata service that refuses, as one outside EC2 may (the issue's
	// machine): the SDK warned "falling back to IMDSv1" and chained its
	// 403s into the error.
	refusingIMDS := server(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) })

	for _, tc := range []struct {
		name  string
		flags []string
		imds  string
		want  string
	}{
		{"nothing answers at the endpoint", []string{"--endpoint", closed}, closedPort(t),
			"orderflow: could not read the outputs of stack orderflow: nothing answers at " + closed + "; is the address right and its server running?\n"},
		{"AWS without credentials, with no metadata service", []string{"--aws", "--region", "us-east-1"}, closedPort(t),
			"orderflow: no AWS credentials were found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`\n"},
		{"AWS without credentials, with a metadata service that refuses", []string{"--aws", "--region", "us-east-1"}, refusingIMDS.URL,
			"orderflow: no AWS credentials were found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`\n"},
	} {
		for _, args := range operatingCommands {
			t.Run(tc.name+": "+strings.Join(args, " "), func(t *testing.T) {
				getenv := emptyEnvironment(t, tc.imds)
				start := time.Now()
				code, stdout, stderr := runCaptured(t, append(append([]string{}, args...), tc.flags...), getenv)
				if code != 1 || stdout != "" || stderr != tc.want {
					t.Errorf("exit %d, stdout %q\nstderr %q\nwant   %q", code, stdout, stderr, tc.want)
				}
				if took := time.Since(start); took > 3*time.Second {
					t.Errorf("took %s to fail", took)
				}
			})
		}
	}
}

func TestAWSTakesCredentialsFromAnInstanceRole(t *testing.T) {
	// An EC2 instance's metadata service, with a role.
	imds := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			fmt.Fprint(w, "token")
		case r.Header.Get("X-Aws-Ec2-Metadata-Token") != "token":
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			fmt.Fprint(w, "orderflow-role")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/orderflow-role":
			fmt.Fprintf(w, `{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"AKIDINSTANCE","SecretAccessKey":"secret","Token":"session","Expiration":%q,"LastUpdated":%q}`,
				time.Now().Add(time.Hour).UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	getenv := emptyEnvironment(t, imds.URL)
	f := targetFlags{useAWS: true, region: "us-east-1", stack: stackName}
	tg, err := f.resolve(context.Background(), &env{getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := tg.cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKIDINSTANCE" {
		t.Errorf("got %q, %v; want the instance role's AKIDINSTANCE", creds.AccessKeyID, err)
	}
	if _, ok := tg.cfg.HTTPClient.(ownbody.Client); !ok {
		t.Errorf("the --aws target's HTTP client is %T, not ownbody.Client: an answer that arrives before the request's body is sent can be lost", tg.cfg.HTTPClient)
	}
}

// Every target gives the transport a request body of its own: without it
// the SDK's early close of the body lost ReceiveMessage answers whose
// messages the embedded cloud had hidden (the README's tour saw `dlq
// redrive --only-transient` examine 40 of 50 dead letters and leave 10 in
// flight, "use of closed network connection"). internal/ownbody's tests
// show the race and the cure; this one that the CLI uses it.
func TestEveryTargetGivesTheTransportARequestBodyOfItsOwn(t *testing.T) {
	// The credential chain reads the process's environment.
	t.Setenv("HOME", t.TempDir())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	// An ambient CA bundle makes the SDK build a client of its own; without
	// one it leaves cfg.HTTPClient nil, which the target must not wrap.
	t.Setenv("AWS_CA_BUNDLE", "")
	os.Unsetenv("AWS_CA_BUNDLE")
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d", len(b))
	})
	getenv := func(k string) string {
		return map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"}[k]
	}
	for _, f := range []targetFlags{
		{region: "us-east-1"},
		{endpoint: "http://127.0.0.1:4566", region: "us-east-1"},
		{endpoint: "https://sqs.example.com", region: "us-east-1"},
		{useAWS: true, region: "us-east-1"},
	} {
		f.stack = stackName
		tg, err := f.resolve(context.Background(), &env{getenv: getenv})
		if err != nil {
			t.Fatalf("resolve %+v: %v", f, err)
		}
		if _, ok := tg.cfg.HTTPClient.(ownbody.Client); !ok {
			t.Errorf("%+v: the HTTP client is %T, not ownbody.Client", f, tg.cfg.HTTPClient)
			continue
		}
		// And it sends: a body, whole.
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("twelve bytes"))
		resp, err := tg.cfg.HTTPClient.Do(req)
		if err != nil {
			t.Errorf("%+v: %v", f, err)
			continue
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != "12" {
			t.Errorf("%+v: the server read %q bytes of a 12-byte body", f, got)
		}
	}
}

// deploy, destroy and invoke with --aws and no credentials say so in one
// sentence, before they build, upload or ask anything.
func TestDeployAndDestroyWithoutCredentialsFailInOneSentence(t *testing.T) {
	want := "orderflow: no AWS credentials were found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`\n"
	for _, args := range [][]string{
		{"deploy", "--aws", "--region", "us-east-1", "--yes"},
		{"destroy", "--aws", "--region", "us-east-1", "--yes"},
		{"invoke", "--aws", "--region", "us-east-1", "--event", "../../handler/testdata/sqs-raw-seed.json"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			getenv := emptyEnvironment(t, closedPort(t))
			code, stdout, stderr := runCaptured(t, args, getenv)
			if code != 1 || stdout != "" || stderr != want {
				t.Errorf("exit %d, stdout %q\nstderr %q\nwant   %q", code, stdout, stderr, want)
			}
		})
	}
}

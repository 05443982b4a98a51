package crossclient_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
)

// text runs the CLI against the cloud and returns what it printed.
func (a cli) text(t *testing.T, c *cloud.Cloud, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.path, append([]string{"--endpoint-url", c.URL()}, args...)...)
	cmd.Env = cleanEnv(t, c)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", a.name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func TestTheAWSCLICopiesAndListsS3Objects(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t)
			dir := t.TempDir()
			small := filepath.Join(dir, "function.zip")
			if err := os.WriteFile(small, []byte("a small artefact"), 0o600); err != nil {
				t.Fatal(err)
			}
			// Over the CLI's multipart threshold (8 MiB): uploaded in parts.
			big := filepath.Join(dir, "big.bin")
			data := bytes.Repeat([]byte("0123456789abcdef"), (20<<20)/16)
			if err := os.WriteFile(big, data, 0o600); err != nil {
				t.Fatal(err)
			}
			a.text(t, c, "s3", "mb", "s3://artefacts")
			a.text(t, c, "s3", "cp", small, "s3://artefacts/fn/function.zip")
			a.text(t, c, "s3", "cp", big, "s3://artefacts/big.bin")
			if got := a.text(t, c, "s3", "ls"); !strings.Contains(got, " artefacts\n") {
				t.Errorf("aws s3 ls = %q, want the bucket artefacts", got)
			}
			top := a.text(t, c, "s3", "ls", "s3://artefacts")
			if !strings.Contains(top, "PRE fn/\n") || !strings.Contains(top, " 20971520 big.bin\n") {
				t.Errorf("aws s3 ls s3://artefacts = %q, want PRE fn/ and big.bin of 20971520 bytes", top)
			}
			if got := a.text(t, c, "s3", "ls", "--recursive", "s3://artefacts/fn/"); !strings.Contains(got, " 16 fn/function.zip\n") {
				t.Errorf("aws s3 ls --recursive = %q, want fn/function.zip of 16 bytes", got)
			}
			back := filepath.Join(dir, "back.bin")
			a.text(t, c, "s3", "cp", "s3://artefacts/big.bin", back)
			if got, err := os.ReadFile(back); err != nil || !bytes.Equal(got, data) {
				t.Errorf("aws s3 cp back: %d bytes (%v), want the %d uploaded", len(got), err, len(data))
			}
			a.text(t, c, "s3", "rm", "--recursive", "s3://artefacts")
			a.text(t, c, "s3", "rb", "s3://artefacts")
			if got := a.text(t, c, "s3", "ls"); strings.Contains(got, "artefacts") {
				t.Errorf("aws s3 ls after rb = %q", got)
			}
		})
	}
}

func TestTheAWSCLICopiesToS3UnderRequireAuth(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t, func(o *cloud.Options) { o.Credentials = map[string]string{"AKIDS3CLI": "s3-cli-secret"} })
			dir := t.TempDir()
			big := filepath.Join(dir, "big.bin")
			if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 9<<20), 0o600); err != nil {
				t.Fatal(err)
			}
			run := func(secret string, args ...string) (string, error) {
				cmd := exec.Command(a.path, append([]string{"--endpoint-url", c.URL()}, args...)...)
				env := cleanEnv(t, c)
				for i, kv := range env {
					switch {
					case strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID="):
						env[i] = "AWS_ACCESS_KEY_ID=AKIDS3CLI"
					case strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY="):
						env[i] = "AWS_SECRET_ACCESS_KEY=" + secret
					}
				}
				cmd.Env = append(env, "AWS_MAX_ATTEMPTS=1")
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			for _, args := range [][]string{
				{"s3", "mb", "s3://signed"},
				{"s3", "cp", big, "s3://signed/big.bin"},
				{"s3", "ls", "s3://signed"},
			} {
				if out, err := run("s3-cli-secret", args...); err != nil {
					t.Fatalf("%s with the right key: %v\n%s", strings.Join(args[:2], " "), err, out)
				}
			}
			if out, err := run("wrong", "s3", "ls", "s3://signed"); err == nil || !strings.Contains(out, "SignatureDoesNotMatch") {
				t.Errorf("a wrong secret: %v\n%s", err, out)
			}
		})
	}
}

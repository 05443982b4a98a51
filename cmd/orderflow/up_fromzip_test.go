package main

import (
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/orderflow/orderflow/internal/lambdazip"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// zipReport is a REPORT line only the zip runtime writes: the process's
// Max Memory Used.
var zipReport = regexp.MustCompile(`REPORT RequestId: \S+\tDuration: [0-9.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB`)

// wantExecution is how this machine runs the function's zip built as
// deploy builds it for the embedded cloud, in the words of up's banner.
func wantExecution() string {
	switch {
	case runtime.GOARCH == "arm64":
		return "natively."
	case hasProgram("qemu-aarch64-static"):
		return "emulated: arm64 on x86_64 (qemu-aarch64-static)."
	}
	return "natively, built for x86_64, not the declared arm64 (no qemu-aarch64-static here)."
}

func hasProgram(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// up --from-zip builds the function as deploy does, puts the zip in the
// embedded S3 and runs it as child processes: the seed order is stored by
// the zip runtime (its REPORT line carries Max Memory Used). A restart on
// the same data directory without --from-zip runs the Go code in-process
// again; one with another zip (--zip) runs that one.
func TestUpFromZipRunsTheFunctionsZipAsChildProcesses(t *testing.T) {
	slowtest.Skip(t, "builds the function and runs it as child processes")
	noAmbientAWS(t)
	dir := filepath.Join(t.TempDir(), "data")
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	u := runUpWithin(t, 3*time.Minute, "--from-zip", "--data-dir", dir)
	out := u.stdout.String()
	arch := "arm64" // the template's, natively or emulated
	if strings.HasPrefix(wantExecution(), "natively, built for") {
		arch = runtime.GOARCH // nothing here runs arm64
	}
	if !strings.HasPrefix(out, "Building ProcessOrderFunction for linux/"+arch) {
		t.Errorf("up --from-zip's first line is not the build's:\n%s", out)
	}
	want := regexp.MustCompile(`\nProcessOrderFunction runs its deployment zip s3://orderflow-artifacts-000000000000-us-east-1/orderflow/ProcessOrderFunction-[0-9a-f]{12}\.zip \(built from ` +
		regexp.QuoteMeta(src) + ` for linux/` + arch + `\) as child processes speaking the Lambda Runtime API, ` + regexp.QuoteMeta(wantExecution()) + "\n")
	if !want.MatchString(out) {
		t.Errorf("the banner does not match %s:\n%s", want, out)
	}
	cfg := sdkConfig(u.endpoint)
	publishSeed(t, cfg)
	poll.Until(t, 60*time.Second, "the seed order stored", func() bool { return storedOrder(t, cfg) != nil })
	poll.Until(t, 10*time.Second, "a REPORT line of the zip runtime", func() bool { return zipReport.MatchString(u.stdout.String()) })
	if e := wantExecution(); strings.HasPrefix(e, "emulated: ") && !strings.Contains(u.stdout.String(), "\tEmulation: "+strings.TrimSuffix(strings.TrimPrefix(e, "emulated: "), ".")+"\n") {
		t.Errorf("the REPORT lines do not say the banner's %s:\n%s", e, u.stdout.String())
	}
	u.stop(t)

	// Without --from-zip: the Go code in-process, through the same deploy.
	u = runUp(t, "--data-dir", dir)
	if want := "\nProcessOrderFunction runs its Go code in-process (--from-zip runs its deployment zip as child processes instead).\n"; !strings.Contains(u.stdout.String(), want) {
		t.Errorf("a restart without --from-zip: the banner lacks %q:\n%s", want, u.stdout.String())
	}
	publishSeedAs(t, cfgFor(u), "O5678")
	poll.Until(t, 30*time.Second, "O5678 stored in-process", func() bool {
		return strings.Contains(u.stdout.String(), `"orderId":"O5678"`) && strings.Contains(u.stdout.String(), "REPORT RequestId:")
	})
	if strings.Contains(u.stdout.String(), "Max Memory Used") {
		t.Errorf("after a restart without --from-zip the function still runs as a process:\n%s", u.stdout.String())
	}
	u.stop(t)

	// With another zip: that one runs.
	other := repackWithVersion(t, builtZip(t))
	file := filepath.Join(t.TempDir(), "other.zip")
	if err := os.WriteFile(file, other, 0o600); err != nil {
		t.Fatal(err)
	}
	u = runUp(t, "--data-dir", dir, "--zip", file)
	if want := "\nProcessOrderFunction runs its deployment zip s3://orderflow-artifacts-000000000000-us-east-1/" + lambdazip.Key(other) + " (" + file + ") as child processes speaking the Lambda Runtime API, " + wantExecution() + "\n"; !strings.Contains(u.stdout.String(), want) {
		t.Errorf("a restart with --zip: the banner lacks %q:\n%s", want, u.stdout.String())
	}
	publishSeedAs(t, cfgFor(u), "O9012")
	poll.Until(t, 60*time.Second, "O9012 stored by the other zip", func() bool {
		return strings.Contains(u.stdout.String(), `"orderId":"O9012"`) && zipReport.MatchString(u.stdout.String())
	})
}

func cfgFor(u *upInProcess) aws.Config { return sdkConfig(u.endpoint) }

// publishSeedAs publishes the seed order under another id.
func publishSeedAs(t *testing.T, cfg aws.Config, id string) {
	t.Helper()
	publishOrder(t, cfg, strings.Replace(string(seedOrder), "O1234", id, 1))
}

// builtZip is the function's zip as up --from-zip builds it.
func builtZip(t *testing.T) []byte {
	t.Helper()
	b, _, err := zipFlags{fromZip: true}.artefact(context.Background(), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// repackWithVersion is the zip with one more file: another artefact, with
// the same bootstrap.
func repackWithVersion(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := zw.Create("VERSION")
	io.WriteString(w, "another build\n")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// What up cannot run is refused in one sentence, before anything starts.
func TestUpRefusesAZipItCannotRunInOneSentence(t *testing.T) {
	noAmbientAWS(t)
	tmp := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var noBootstrap bytes.Buffer
	zw := zip.NewWriter(&noBootstrap)
	w, _ := zw.Create("main")
	w.Write([]byte("#!/bin/sh\n"))
	zw.Close()
	text := write("notes.zip", []byte("these are not the zip you are looking for"))
	empty := write("main.zip", noBootstrap.Bytes())
	missing := filepath.Join(tmp, "missing.zip")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"up", "--zip", text, "--addr", "127.0.0.1:0"}, 1, "orderflow: --zip " + text + " is not a zip file: give the deployment zip make zip builds (dist/ProcessOrderFunction.zip), or --from-zip to build one from this clone\n"},
		{[]string{"up", "--zip", empty, "--addr", "127.0.0.1:0"}, 1, "orderflow: --zip " + empty + " holds no file named bootstrap at its root, the executable a provided.al2023 function starts: give the deployment zip make zip builds (dist/ProcessOrderFunction.zip), or --from-zip to build one from this clone\n"},
		{[]string{"up", "--zip", missing, "--addr", "127.0.0.1:0"}, 1, "orderflow: --zip " + missing + " cannot be read (no such file or directory): give the deployment zip make zip builds (dist/ProcessOrderFunction.zip), or --from-zip to build one from this clone\n"},
		{[]string{"bench", "--zip", text}, 1, "orderflow: --zip " + text + " is not a zip file: give the deployment zip make zip builds (dist/ProcessOrderFunction.zip), or --from-zip to build one from this clone\n"},
		{[]string{"up", "--from-zip", "--param", "CodeS3Key=x.zip", "--addr", "127.0.0.1:0"}, 2, "orderflow: --from-zip and --zip name the function's code themselves: leave out --param CodeS3Bucket and CodeS3Key\nRun 'orderflow --help' for usage.\n"},
	}
	// A zip of this machine's executable, where the function runs
	// another architecture's builds (qemu-user emulates the template's).
	if runtime.GOARCH != "arm64" && hasProgram("qemu-aarch64-static") {
		exe, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		native, err := lambdazip.Bytes(exe)
		if err != nil {
			t.Fatal(err)
		}
		file := write("amd64.zip", native)
		cases = append(cases, struct {
			args []string
			code int
			want string
		}{[]string{"up", "--zip", file, "--addr", "127.0.0.1:0"}, 1, "orderflow: --zip " + file + "'s bootstrap is built for linux/" + runtime.GOARCH + ", but here the function runs linux/arm64 builds, the template's architecture (qemu-aarch64-static runs it here): give a zip built for linux/arm64, or --from-zip to build one from this clone\n"})
	}
	for _, c := range cases {
		code, stdout, stderr := runCLI(t, "", "", c.args...)
		if code != c.code || stderr != c.want || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr\n%q\nwant exit %d, nothing on stdout, stderr\n%q", c.args, code, stdout, stderr, c.code, c.want)
		}
	}
}

// Building needs the clone and the go command; without either, one
// sentence says what to do.
func TestUpFromZipSaysWhatItNeedsToBuild(t *testing.T) {
	noAmbientAWS(t)
	t.Run("outside the clone", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		code, stdout, stderr := runCLI(t, "", "", "up", "--from-zip", "--addr", "127.0.0.1:0")
		want := "orderflow: orderflow up --from-zip builds the function from its source, and " + dir + " is not in the orderflow source tree: run it in your clone, or give --zip FILE, a zip make zip built\n"
		if code != 1 || stderr != want || stdout != "" {
			t.Errorf("exit %d, stdout %q, stderr\n%q\nwant exit 1, nothing on stdout, stderr\n%q", code, stdout, stderr, want)
		}
	})
	t.Run("without the go command", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		code, stdout, stderr := runCLI(t, "", "", "bench", "--from-zip", "--orders", "10")
		want := "orderflow: orderflow bench --from-zip builds the function with the go command, which is not on PATH: install Go 1.26\n"
		if code != 1 || !strings.HasSuffix(stderr, want) || strings.Contains(stdout, "orders") {
			t.Errorf("exit %d, stdout %q, stderr\n%q\nwant exit 1, no results, stderr ending\n%q", code, stdout, stderr, want)
		}
	})
}

// bench --from-zip runs the same benchmark with the function's zip as
// child processes: every order is stored, the mode line says how the zip
// ran, and the CPU and memory figures include the function's processes. It
// runs as this machine runs it (emulated where qemu-user is installed) and
// as it runs where no qemu-user is (a build for this machine, natively).
func TestBenchFromZipStoresEveryOrderThroughTheZip(t *testing.T) {
	slowtest.Skip(t, "builds the function and runs it as child processes")
	noAmbientAWS(t)
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	noQemu := t.TempDir() // a PATH with the go command only
	if err := os.Symlink(goCmd, filepath.Join(noQemu, "go")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, how, arch string
	}{
		{"as this machine runs it", os.Getenv("PATH"), strings.TrimSuffix(wantExecution(), "."), ""},
		{"where no qemu-user is installed", noQemu, "natively, built for x86_64, not the declared arm64 (no qemu-aarch64-static here)", runtime.GOARCH},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.arch == "arm64" {
				tc.how = "natively"
			}
			t.Setenv("PATH", tc.path)
			code, stdout, stderr := runCLI(t, "", "", "bench", "--from-zip", "--orders", "40", "--window", "0")
			if code != 0 {
				t.Fatalf("bench --from-zip: exit %d, stderr %s", code, stderr)
			}
			for _, w := range []string{
				"; in memory; ProcessOrderFunction from its zip, as child processes, " + tc.how + ")\n",
				" s per 1,000 orders (this process and the function's processes)\n",
				"  dynamodb:PutItem                40\n",
			} {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if !regexp.MustCompile(`peak RSS +\d+ MiB \(this process's peak plus the peaks of the function's \d+ process(es)?\)\n`).MatchString(stdout) {
				t.Errorf("the peak RSS line does not say it counts the function's processes:\n%s", stdout)
			}
			if want := "Building ProcessOrderFunction for linux/" + cmp.Or(tc.arch, "arm64"); !strings.HasPrefix(stderr, want) {
				t.Errorf("stderr does not start with %q:\n%s", want, stderr)
			}
		})
	}
}

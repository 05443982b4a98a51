package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/awscli"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
)

func TestTheSeedFixtureIsTheSharedOne(t *testing.T) {
	want, err := os.ReadFile("../../testdata/seed-order.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(seedOrder, want) {
		t.Errorf("cmd/orderflow/seed-order.json differs from testdata/seed-order.json")
	}
}

func TestDemoRunsTheWholeFlowAndExitsZero(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"demo"}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		"2. Publish    the seed order O1234 to OrderTopic: SNS message id ",
		"3. Queue      OrderQueue delivered it to ProcessOrderFunction: SQS message id ",
		`"outcome":"stored"`,
		"5. Table      Orders holds O1234: userId U123, itemName Laptop, quantity 1, status new, timestamp 2025-05-03T12:00:00Z",
		"7. DLQ        OrderDLQ holds it, with its reason: InvalidOrder",
		"quantity: must be an integer, got a string",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestAnUnknownCommandIsAUsageError(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"launch"}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), `unknown command "launch"`) {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	code = run(context.Background(), []string{"up", "--allow-host", "orders.internal:4566"}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), `--allow-host "orders.internal:4566" must be a host name or address, without a port`) {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	code = run(context.Background(), []string{"up", "--param", "NoEquals"}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), `--param "NoEquals" must be Name=Value`) {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestUpServesTheAWSCLIUntilInterrupted(t *testing.T) {
	slowtest.Skip(t, "runs orderflow up as a child process and drives it with the AWS CLI")
	awsCLI, _ := awscli.Find(os.Getenv("PATH"))
	if awsCLI == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("missing: %s, which CI needs; %s", awscli.MissingV2, awscli.InstallV2)
		}
		t.Skipf("missing: %s; %s", awscli.MissingV2, awscli.InstallV2)
	}
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	out := &logBuffer{}
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"up", "--addr", "127.0.0.1:0"}, func(string) string { return "" }, strings.NewReader(""), out, &errOut)
	}()
	re := regexp.MustCompile(`embedded cloud at (http://127\.0\.0\.1:\d+)`)
	var endpoint string
	poll.Until(t, 20*time.Second, "up to print its endpoint", func() bool {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			endpoint = m[1]
			return true
		}
		select {
		case code := <-done:
			t.Fatalf("up exited %d early: %s", code, errOut.String())
		default:
		}
		return false
	})
	home := t.TempDir()
	aws := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(awsCLI, append([]string{"--endpoint-url", endpoint, "--output", "json"}, args...)...)
		cmd.Dir = "../.."
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
			"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"), "AWS_PAGER="}
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	aws("sns", "publish", "--topic-arn", "arn:aws:sns:us-east-1:000000000000:OrderTopic", "--message", "file://testdata/seed-order.json")
	var item string
	poll.Until(t, 20*time.Second, "the seed order in Orders", func() bool {
		item = aws("dynamodb", "get-item", "--table-name", "Orders", "--key", `{"orderId":{"S":"O1234"}}`)
		return strings.Contains(item, `"Laptop"`)
	})
	if !strings.Contains(out.String(), `"outcome":"stored"`) || !strings.Contains(out.String(), "REPORT RequestId:") {
		t.Errorf("up did not stream the function's logs:\n%s", out.String())
	}
	interrupt()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("up exited %d after the interrupt: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("up did not shut down after the interrupt")
	}
}

// upUntilInterrupted runs `orderflow up args…` until its output shows it is
// up, then interrupts it, and returns its output; it fails the test unless
// up started and exited 0.
func upUntilInterrupted(t *testing.T, args ...string) string {
	t.Helper()
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	out := &logBuffer{}
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"up", "--addr", "127.0.0.1:0"}, args...), func(string) string { return "" }, strings.NewReader(""), out, &errOut)
	}()
	poll.Until(t, 20*time.Second, "up to start", func() bool {
		select {
		case code := <-done:
			t.Fatalf("up %s exited %d early: %s", strings.Join(args, " "), code, errOut.String())
		default:
		}
		return strings.Contains(out.String(), "orderflow is up")
	})
	interrupt()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("up exited %d after the interrupt: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("up did not shut down after the interrupt")
	}
	return out.String()
}

func TestUpRefusesADamagedDataDirectoryAndRecoversOnlyWhenAsked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	upUntilInterrupted(t, "--data-dir", dir)
	data := filepath.Join(dir, "cloud.db")
	if err := os.Truncate(data, 0); err != nil { // what a bad copy or a full disk can leave
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"up", "--addr", "127.0.0.1:0", "--data-dir", dir}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	msg := errOut.String()
	if code != 1 {
		t.Fatalf("up on a damaged data directory exited %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out.String(), msg)
	}
	for _, want := range []string{data + " is damaged", "the data file is empty", "nothing was changed", "keep the directory as it is", "orderflow up --data-dir " + dir + " --recover"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal lacks %q: %s", want, msg)
		}
	}
	if lines := strings.Count(strings.TrimSpace(msg), "\n"); lines != 0 {
		t.Errorf("the refusal is %d lines, want one sentence: %s", lines+1, msg)
	}
	if info, err := os.Stat(data); err != nil || info.Size() != 0 {
		t.Errorf("the refused start changed %s: %v", data, err)
	}

	got := upUntilInterrupted(t, "--data-dir", dir, "--recover")
	if !strings.Contains(got, "orderflow: recovered "+dir+", accepting the loss: ") || !strings.Contains(got, "everything the old one held is lost") {
		t.Errorf("up --recover did not say what it recovered and lost:\n%s", got)
	}
	kept, _ := filepath.Glob(data + ".damaged-*")
	if len(kept) != 1 || !strings.Contains(got, kept[0]) {
		t.Errorf("kept %v; up --recover said:\n%s", kept, got)
	}

	// Recovered, the directory starts as any other.
	if got := upUntilInterrupted(t, "--data-dir", dir); strings.Contains(got, "recovered") {
		t.Errorf("a start after the recovery reported one:\n%s", got)
	}
}

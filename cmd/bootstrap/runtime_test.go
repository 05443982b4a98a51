package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/orderflow/orderflow/internal/awstest"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// runtimeAPI is the Lambda Runtime API as the provided.al2023 runtime offers
// it to a bootstrap: it hands out one invocation and records the answer.
type runtimeAPI struct {
	event    []byte
	served   chan struct{}
	response chan string
}

func (r *runtimeAPI) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch {
	case req.Method == http.MethodGet && req.URL.Path == "/2018-06-01/runtime/invocation/next":
		select {
		case <-r.served: // one invocation only; later polls wait, as on Lambda
			<-req.Context().Done()
			return
		default:
			close(r.served)
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:ProcessOrderFunction")
		w.Write(r.event)
	case req.Method == http.MethodPost && strings.HasPrefix(req.URL.Path, "/2018-06-01/runtime/"):
		body, _ := io.ReadAll(req.Body)
		w.WriteHeader(http.StatusAccepted)
		r.response <- req.URL.Path + " " + string(body)
	default:
		http.NotFound(w, req)
	}
}

// TestTheBuiltBinaryServesAnInvocationThroughTheRuntimeAPI builds the
// bootstrap for this machine and runs it as Lambda would: against a Runtime
// API, configured only by environment variables.
func TestTheBuiltBinaryServesAnInvocationThroughTheRuntimeAPI(t *testing.T) {
	slowtest.Skip(t, "builds the bootstrap binary and runs it as a child process")
	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	event, err := os.ReadFile("../../handler/testdata/sqs-sns-seed.json")
	if err != nil {
		t.Fatal(err)
	}
	rt := &runtimeAPI{event: event, served: make(chan struct{}), response: make(chan string, 1)}
	srv := httptest.NewServer(rt)
	defer srv.Close()
	ddb, _ := awstest.DynamoDB(t, "Orders")
	q := awstest.NewSQS(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	// The whole environment is given: nothing ambient reaches the binary.
	cmd.Env = []string{
		"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(srv.URL, "http://"),
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL_DYNAMODB=" + aws.ToString(ddb.Options().BaseEndpoint),
		"AWS_ENDPOINT_URL_SQS=" + aws.ToString(q.Client.Options().BaseEndpoint),
		"AWS_EC2_METADATA_DISABLED=true",
		"ORDERS_TABLE=Orders", "DLQ_URL=" + q.DLQ,
		"HOME=" + t.TempDir(),
	}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The output is complete, and safe to read, once the process has ended.
	stop := func() { cmd.Process.Kill(); cmd.Wait() }

	select {
	case got := <-rt.response:
		want := `/2018-06-01/runtime/invocation/req-1/response {"batchItemFailures":null}`
		if got != want {
			t.Errorf("runtime got %s\nwant            %s", got, want)
		}
	case <-ctx.Done():
		stop()
		t.Fatalf("no response from the bootstrap; its output:\n%s", logs.String())
	}
	stop()
	if !strings.Contains(logs.String(), `"outcome":"stored"`) {
		t.Errorf("the bootstrap did not log a stored outcome:\n%s", logs.String())
	}
}

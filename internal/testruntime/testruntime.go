// Package testruntime is a Lambda function for tests: a bootstrap that
// speaks the Runtime API and answers each invocation with the event it got
// and which code it is, so that a test can tell one version of a
// function's code from another without building a binary.
//
// The bootstrap is a shell script that runs the test binary itself again;
// the test binary's TestMain calls Main first, which serves as the runtime
// when the host started it.
package testruntime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/orderflow/orderflow/internal/lambdazip"
)

// codeEnv names the code a bootstrap is, in its environment.
const codeEnv = "ORDERFLOW_TEST_RUNTIME_CODE"

// Answer is what the function answers each invocation.
type Answer struct {
	// Code is the code the zip was made with (Zip's argument).
	Code string `json:"code"`
	// Version is the function's version (AWS_LAMBDA_FUNCTION_VERSION).
	Version string `json:"version"`
	// Greeting is the function's GREETING environment variable.
	Greeting string `json:"greeting"`
	// Event is the event the function got.
	Event json.RawMessage `json:"event"`
}

// Main serves as the runtime, and exits, when the process is a bootstrap
// from Zip started by a Lambda host; otherwise it returns at once.
func Main() {
	api, code := os.Getenv("AWS_LAMBDA_RUNTIME_API"), os.Getenv(codeEnv)
	if api == "" || code == "" {
		return
	}
	os.Exit(serve("http://"+api+"/2018-06-01/runtime/", code))
}

func serve(base, code string) int {
	for {
		resp, err := http.Get(base + "invocation/next")
		if err != nil {
			fmt.Fprintln(os.Stderr, "testruntime: next:", err)
			return 1
		}
		event, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		fmt.Printf("testruntime %s got %s\n", code, event)
		answer, _ := json.Marshal(Answer{Code: code, Version: os.Getenv("AWS_LAMBDA_FUNCTION_VERSION"), Greeting: os.Getenv("GREETING"), Event: event})
		post, err := http.Post(base+"invocation/"+id+"/response", "application/json", bytes.NewReader(answer))
		if err != nil {
			fmt.Fprintln(os.Stderr, "testruntime: response:", err)
			return 1
		}
		post.Body.Close()
	}
}

// Zip returns a function's zip whose bootstrap runs this executable (the
// test binary) as the runtime, answering as code.
func Zip(code string) ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("testruntime: %w", err)
	}
	if strings.ContainsAny(exe+code, "'\n") {
		return nil, fmt.Errorf("testruntime: %q or %q cannot be quoted in a shell script", exe, code)
	}
	script := "#!/bin/sh\n" + codeEnv + "='" + code + "' exec '" + exe + "'\n"
	return lambdazip.Bytes([]byte(script))
}

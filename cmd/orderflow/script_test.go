package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/orderflow/orderflow/cloud/awsproto"

	"github.com/orderflow/orderflow/internal/local"
)

// TestMain lets the scripts run `orderflow` as a command: the test binary
// runs itself as the CLI.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"orderflow": func() { os.Exit(runProcess()) },
	})
}

// TestScripts runs the CLI end to end against an embedded cloud: the
// scripts in testdata/script, each a txtar of commands, expected output and
// files.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"cloud": cloudCmd,
			"sleep": sleepCmd,
		},
		Setup: func(env *testscript.Env) error {
			// Nothing ambient reaches the CLI: no profile, no CA bundle.
			for _, k := range []string{"AWS_PROFILE", "AWS_CA_BUNDLE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"} {
				env.Setenv(k, "")
			}
			// The function's own event fixtures, for orderflow invoke.
			fixtures, err := filepath.Abs("../../handler/testdata")
			env.Setenv("FIXTURES", fixtures)
			return err
		},
	})
}

// clouds holds each running script's cloud.
var clouds sync.Map // *testscript.TestScript → *local

// cloudCmd controls the script's embedded cloud, which runs in the test
// process:
//
//	cloud start [Name=Value ...] [--credential=KEY:SECRET ...]
//	                               start it with template parameter overrides (and
//	                               --require-auth with those keys); sets AWS_ENDPOINT_URL
//	cloud fault throttle           fail every DynamoDB PutItem with ThrottlingException
//	cloud fault clear              stop failing
func cloudCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("cloud does not take !")
	}
	if len(args) == 0 {
		ts.Fatalf("usage: cloud start|fault ...")
	}
	switch args[0] {
	case "start":
		params, keys := map[string]string{}, map[string]string{}
		for _, a := range args[1:] {
			if cred, ok := strings.CutPrefix(a, "--credential="); ok {
				id, secret, _ := strings.Cut(cred, ":")
				keys[id] = secret
				continue
			}
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				ts.Fatalf("cloud start: %q is not Name=Value", a)
			}
			params[k] = v
		}
		l, err := startLocal(context.Background(), localOptions{addr: "127.0.0.1:0", params: params, credentials: keys})
		ts.Check(err)
		clouds.Store(ts, l)
		ts.Defer(func() {
			clouds.Delete(ts)
			l.Close()
		})
		ts.Setenv("AWS_ENDPOINT_URL", l.Cloud.URL())
	case "fault":
		v, ok := clouds.Load(ts)
		if !ok {
			ts.Fatalf("cloud fault: no cloud started")
		}
		l := v.(*local.Pipeline)
		switch strings.Join(args[1:], " ") {
		case "throttle":
			l.Cloud.DynamoDB.SetFault(func(op string, _ []byte) *awsproto.Error {
				if op == "PutItem" {
					return awsproto.Errorf(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")
				}
				return nil
			})
		case "clear":
			l.Cloud.DynamoDB.SetFault(nil)
		default:
			ts.Fatalf("cloud fault: unknown fault %q", strings.Join(args[1:], " "))
		}
	default:
		ts.Fatalf("cloud: unknown subcommand %s", fmt.Sprint(args[0]))
	}
}

// sleepCmd waits: `sleep 2s`, for a background command to catch up.
func sleepCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

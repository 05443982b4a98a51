// Command orderflow runs the order pipeline on one machine and operates it.
//
//	orderflow demo     the whole flow, once, on an embedded cloud, step by step
//	orderflow up       the embedded cloud with the pipeline deployed, until Ctrl-C
//	orderflow publish  publish orders to OrderTopic
//	orderflow orders   look up stored orders
//	orderflow dlq      list, redrive or purge dead-lettered messages
//	orderflow status   queue depths, table size, the event source mapping
//	orderflow logs     the function's log lines
//	orderflow invoke   invoke the function once with an event (Lambda's Invoke API)
//	orderflow trace    an order's story
//	orderflow console  the web console, for any target
//	orderflow bench    measure the whole pipeline on an embedded cloud
//	orderflow deploy   build the function, upload it, create or update the stack
//	orderflow destroy  delete the stack
//
// The operating commands act on the local cloud (default
// http://127.0.0.1:4566), on any endpoint (--endpoint, AWS_ENDPOINT_URL), or
// on AWS (--aws), and find the resources in the stack's outputs. They sign
// with the standard credential chain (AWS_ACCESS_KEY_ID, the shared files'
// profile: --profile, AWS_PROFILE), and with a local default key only when
// the chain has none and the endpoint is on this machine.
//
// main only calls run; tests call run directly.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() { os.Exit(runProcess()) }

// runProcess runs the command line of this process. The first SIGINT or
// SIGTERM ends it gracefully (the command's context is cancelled); a second
// one ends the process at once, without waiting for what is in flight. That
// loses nothing acknowledged: with a data directory every acknowledged
// request is in the write-ahead log before it is answered, and the next
// start recovers from it as from a crash.
func runProcess() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	go onSignals(signals, cancel, os.Stderr, os.Exit)
	return run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
}

// onSignals cancels the command on the first signal and exits with 128 +
// the signal's number on the second.
func onSignals(signals <-chan os.Signal, cancel context.CancelFunc, stderr io.Writer, exit func(int)) {
	<-signals
	cancel()
	sig := <-signals
	fmt.Fprintln(stderr, "orderflow: interrupted again: exiting now, without waiting for what is in flight")
	code := 130 // SIGINT
	if s, ok := sig.(syscall.Signal); ok {
		code = 128 + int(s)
	}
	exit(code)
}

// env is what a command may read from its surroundings.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run executes the command line args and returns the exit code: 0 on
// success, 1 when the command failed (after one plain sentence on stderr),
// 2 for a command line it cannot understand.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "orderflow",
		Short: "Order events from SNS through SQS to a Go Lambda function and DynamoDB — on AWS or on one machine",
		Long: `orderflow carries order events from an SNS topic through an SQS queue (with a
dead-letter queue) to ProcessOrderFunction, which stores each order in DynamoDB.

On one machine it runs on an embedded, AWS-compatible cloud inside this binary:
no AWS account, no Docker.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	var tf targetFlags
	ops := []*cobra.Command{publishCommand(e, &tf), ordersCommand(e, &tf), dlqCommand(e, &tf), statusCommand(e, &tf), logsCommand(e, &tf), invokeCommand(e, &tf), traceCommand(e, &tf), consoleCommand(e, &tf), deployCommand(e, &tf), destroyCommand(e, &tf)}
	for _, c := range ops {
		tf.register(c)
	}
	root.Version = versionString(debug.ReadBuildInfo())
	root.SetVersionTemplate("orderflow {{.Version}}\n")
	root.AddCommand(demoCommand(e), upCommand(e), benchCommand(e), versionCommand(e))
	root.AddCommand(ops...)

	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var usage usageError
	if errors.As(err, &usage) || isUnknownCommand(err) {
		fmt.Fprintf(stderr, "orderflow: %v\nRun 'orderflow --help' for usage.\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "orderflow: %v\n", err)
	return 1
}

// usageError is a command line the command cannot understand.
type usageError struct{ error }

// isUnknownCommand recognises cobra's error for a subcommand it lacks.
func isUnknownCommand(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command")
}

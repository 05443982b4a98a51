package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/spf13/cobra"
)

// maxEventBytes is the largest event a synchronous invocation takes:
// Lambda's 6 MB, which it counts as 6 MiB.
const maxEventBytes = 6 << 20

func invokeCommand(e *env, tf *targetFlags) *cobra.Command {
	var (
		eventFile string
		logs      bool
	)
	cmd := &cobra.Command{
		Use:   "invoke [FUNCTION] --event FILE",
		Short: "Invoke a function once with an event, through Lambda's Invoke API, and print its response",
		Long: `invoke sends the event in FILE (or on standard input, with --event -) to the
function, synchronously, through Lambda's Invoke API: locally the embedded
cloud's, on AWS Lambda's. FUNCTION defaults to the stack's ProcessOrderFunction.
It prints the function's response as JSON; if the function fails it says why
and exits 1. With --logs it prints the end of the invocation's log (its last
4 KB) on standard error.

The SQS events in handler/testdata are such events.`,
		Example: `  orderflow invoke --event handler/testdata/sqs-sns-seed.json
  orderflow invoke --event handler/testdata/sqs-mixed-poison.json --logs
  cat event.json | orderflow invoke ProcessOrderFunction --event -`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{errors.New("give at most one function name")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if eventFile == "" {
				return usageError{errors.New("give the event with --event FILE (or --event - to read it from standard input); handler/testdata holds SQS events")}
			}
			payload, err := readEvent(e, eventFile)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			t, err := tf.resolve(ctx, e)
			if err != nil {
				return err
			}
			function := ""
			if len(args) == 1 {
				function = args[0]
			} else {
				res, err := t.resources(ctx)
				if err != nil {
					return err
				}
				if res.Function == "" {
					return fmt.Errorf("stack %s has no ProcessOrderFunctionName output; name the function: orderflow invoke FUNCTION --event FILE", t.stack)
				}
				function = res.Function
			}
			in := &awslambda.InvokeInput{FunctionName: aws.String(function), Payload: payload}
			if logs {
				in.LogType = lambdatypes.LogTypeTail
			}
			out, err := awslambda.NewFromConfig(t.cfg).Invoke(ctx, in)
			if err != nil {
				explained := t.explain("invoke function "+function, err)
				var notFound *lambdatypes.ResourceNotFoundException
				if errors.As(err, &notFound) && len(args) == 1 {
					return fmt.Errorf("%w; check the name (without one, invoke takes the stack's function)", explained)
				}
				return explained
			}
			if logs && out.LogResult != nil {
				if tail, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult)); err == nil {
					e.stderr.Write(tail)
					if len(tail) > 0 && tail[len(tail)-1] != '\n' {
						fmt.Fprintln(e.stderr)
					}
				}
			}
			if out.FunctionError != nil {
				return functionFailed(function, out.Payload, logs)
			}
			return printPayload(e.stdout, out.Payload)
		},
	}
	cmd.Flags().StringVar(&eventFile, "event", "", "the `FILE` holding the event (JSON), or - for standard input")
	cmd.Flags().BoolVar(&logs, "logs", false, "print the end of the invocation's log on standard error")
	return cmd
}

// readEvent reads the event, refusing what Lambda would refuse: more than
// 6 MB, or anything but JSON.
func readEvent(e *env, name string) ([]byte, error) {
	var r io.Reader
	what := "the event in " + name
	if name == "-" {
		r, what = e.stdin, "the event on standard input"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("could not read the event in %s: %s", name, rootCause(err))
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxEventBytes+1))
	if err != nil {
		return nil, fmt.Errorf("could not read %s: %s", what, rootCause(err))
	}
	if len(b) > maxEventBytes {
		return nil, fmt.Errorf("%s is larger than Lambda's limit for a synchronous invocation, %d bytes", what, maxEventBytes)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s is not JSON (%s); give a Lambda event such as those in handler/testdata", what, rootCause(err))
	}
	return b, nil
}

// functionFailed says in one sentence why the function failed, from the
// error document Lambda returned.
func functionFailed(function string, payload []byte, logs bool) error {
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	why := oneLine(string(payload))
	if json.Unmarshal(payload, &doc) == nil && (doc.ErrorMessage != "" || doc.ErrorType != "") {
		why = oneLine(doc.ErrorMessage)
		if doc.ErrorType != "" {
			why = fmt.Sprintf("%s (%s)", why, doc.ErrorType)
		}
	}
	next := "run it again with --logs, or see `orderflow logs`, for its log"
	if logs {
		next = "its log is above"
	}
	return fmt.Errorf("function %s failed: %s; %s", function, why, next)
}

// printPayload prints the response, indented when it is JSON.
func printPayload(w io.Writer, payload []byte) error {
	var buf bytes.Buffer
	if json.Indent(&buf, payload, "", "  ") != nil {
		_, err := fmt.Fprintln(w, strings.TrimRight(string(payload), "\n"))
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

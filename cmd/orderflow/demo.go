package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/dynamodb"
	"github.com/orderflow/orderflow/sqs"
)

// seedOrder is the seed's test order (testdata/seed-order.json).
//
//go:embed seed-order.json
var seedOrder []byte

// badOrder is the malformed order the demo dead-letters.
const badOrder = `{"orderId":"O-BAD","quantity":"many"}`

// stepTimeout bounds each step's wait.
const stepTimeout = 15 * time.Second

func demoCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the whole flow once on an embedded cloud and show each step",
		Long: `demo starts an embedded cloud on a free loopback port, deploys
deploy/template.yaml, publishes the seed order to OrderTopic and follows it
through OrderQueue and ProcessOrderFunction into the Orders table; then it
publishes a malformed order and shows it in OrderDLQ with its reason.
It exits 0 when every step happened, 1 (with the step that failed) otherwise.`,
		Example: "  go run ./cmd/orderflow demo",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), e.stdout, e.getenv)
		},
	}
}

func runDemo(ctx context.Context, out io.Writer, getenv func(string) string) error {
	logs := newLineFeed()
	records := make(chan events.SQSMessage, 16)
	watch := func(next lambda.Handler) lambda.Handler {
		return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			for _, r := range ev.Records {
				select {
				case records <- r:
				default:
				}
			}
			return next(ctx, ev)
		}
	}
	fmt.Fprintln(out, "orderflow demo: the whole pipeline on an embedded cloud, step by step.")
	fmt.Fprintln(out)
	l, err := startLocal(ctx, localOptions{addr: "127.0.0.1:0", functionLogs: logs, wrap: watch, getenv: getenv})
	if err != nil {
		return fmt.Errorf("step 1, start the cloud: %w", err)
	}
	defer l.Close()
	step(out, 1, "Cloud", "started at %s; deployed deploy/template.yaml:", l.Cloud.URL())
	step(out, 0, "", "OrderTopic → OrderQueue → ProcessOrderFunction → Orders; OrderDLQ after %s receives", l.Stack.Parameters["MaxReceiveCount"])

	cfg := l.Cloud.Config()
	snsClient := awssns.NewFromConfig(cfg)
	pub, err := snsClient.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(l.Output("OrderTopicArn")), Message: aws.String(string(seedOrder))})
	if err != nil {
		return fmt.Errorf("step 2, publish the seed order: %w", err)
	}
	seed, err := orderflow.Decode(seedOrder)
	if err != nil {
		return fmt.Errorf("step 2: the seed order is invalid: %w", err)
	}
	step(out, 2, "Publish", "the seed order %s to OrderTopic: SNS message id %s", seed.OrderID, aws.ToString(pub.MessageId))

	rec, err := waitFor(ctx, records, func(r events.SQSMessage) bool { return strings.Contains(r.Body, seed.OrderID) })
	if err != nil {
		return fmt.Errorf("step 3, the order did not reach ProcessOrderFunction through OrderQueue: %w", err)
	}
	step(out, 3, "Queue", "OrderQueue delivered it to ProcessOrderFunction: SQS message id %s, receive count %s,",
		rec.MessageId, rec.Attributes["ApproximateReceiveCount"])
	step(out, 0, "", "body %s", describeBody(rec.Body))

	line, err := logs.waitFor(ctx, `"orderId":"`+seed.OrderID+`"`)
	if err != nil {
		return fmt.Errorf("step 4, the function's log line for %s: %w", seed.OrderID, err)
	}
	step(out, 4, "Function", "%s", line)

	table := dynamodb.New(awsddb.NewFromConfig(cfg), l.Output("OrdersTableName"))
	got, err := table.GetOrder(ctx, seed.OrderID)
	if err != nil {
		return fmt.Errorf("step 5, read %s back from Orders: %w", seed.OrderID, err)
	}
	if got != seed {
		return fmt.Errorf("step 5: Orders holds %+v, not the seed order %+v", got, seed)
	}
	step(out, 5, "Table", "Orders holds %s: userId %s, itemName %s, quantity %d, status %s, timestamp %s",
		got.OrderID, got.UserID, got.ItemName, got.Quantity, got.Status, got.TimestampString())

	bad, err := snsClient.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(l.Output("OrderTopicArn")), Message: aws.String(badOrder)})
	if err != nil {
		return fmt.Errorf("step 6, publish a malformed order: %w", err)
	}
	step(out, 6, "Bad order", "published %s: SNS message id %s", badOrder, aws.ToString(bad.MessageId))

	dl, err := receiveDeadLetter(ctx, awssqs.NewFromConfig(cfg), l.Output("OrderDLQUrl"))
	if err != nil {
		return fmt.Errorf("step 7, the malformed order in OrderDLQ: %w", err)
	}
	step(out, 7, "DLQ", "OrderDLQ holds it, with its reason: %s", dl.Code)
	step(out, 0, "", "%s", dl.Reason)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Done: the seed order is stored; the malformed one is dead-lettered with its reason.")
	return nil
}

func step(w io.Writer, n int, label, format string, args ...any) {
	num := "  "
	if n > 0 {
		num = fmt.Sprintf("%d.", n)
	}
	fmt.Fprintf(w, "%s %-10s %s\n", num, label, fmt.Sprintf(format, args...))
}

// describeBody says whether SNS delivered the order raw or in its envelope.
func describeBody(body string) string {
	var env struct{ Type string }
	if json.Unmarshal([]byte(body), &env) != nil || env.Type == "" {
		return fmt.Sprintf("the order itself (raw delivery), %d bytes", len(body))
	}
	return fmt.Sprintf("an SNS %s envelope of %d bytes", env.Type, len(body))
}

// waitFor returns the first value from ch that ok accepts, within stepTimeout.
func waitFor[T any](ctx context.Context, ch <-chan T, ok func(T) bool) (T, error) {
	timer := time.NewTimer(stepTimeout)
	defer timer.Stop()
	for {
		select {
		case v := <-ch:
			if ok(v) {
				return v, nil
			}
		case <-timer.C:
			var zero T
			return zero, fmt.Errorf("nothing arrived within %s", stepTimeout)
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

// receiveDeadLetter long-polls the DLQ for a message the function
// dead-lettered, leaving it there (visibility 0) for an operator.
func receiveDeadLetter(ctx context.Context, client *awssqs.Client, url string) (orderflow.DeadLetter, error) {
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		out, err := client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), WaitTimeSeconds: 5, VisibilityTimeout: 0,
			MessageAttributeNames: []string{"All"}, MaxNumberOfMessages: 1,
		})
		if err != nil {
			return orderflow.DeadLetter{}, err
		}
		for _, m := range out.Messages {
			if d, ok := sqs.FromAttributes(aws.ToString(m.Body), m.MessageAttributes); ok {
				return d, nil
			}
		}
	}
	return orderflow.DeadLetter{}, errors.New("no dead letter arrived within " + stepTimeout.String())
}

// lineFeed is an io.Writer that hands each complete line written to it to
// whoever waits for one.
type lineFeed struct {
	pw    *io.PipeWriter
	lines chan string
}

func newLineFeed() *lineFeed {
	pr, pw := io.Pipe()
	f := &lineFeed{pw: pw, lines: make(chan string, 256)}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case f.lines <- sc.Text():
			default: // nobody is reading: drop rather than block the function
			}
		}
	}()
	return f
}

func (f *lineFeed) Write(p []byte) (int, error) { return f.pw.Write(p) }

func (f *lineFeed) waitFor(ctx context.Context, substr string) (string, error) {
	return waitFor(ctx, f.lines, func(l string) bool { return strings.Contains(l, substr) })
}

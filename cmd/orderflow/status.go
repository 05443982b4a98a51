package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/human"
)

// statusView is what `orderflow status` shows.
type statusView struct {
	Endpoint   string      `json:"endpoint"`
	Stack      string      `json:"stack"`
	OrderQueue depth       `json:"orderQueue"`
	OrderDLQ   depth       `json:"orderDLQ"`
	Orders     int64       `json:"orders"`
	Mapping    mappingView `json:"eventSourceMapping"`
	// The queues' visibility timeouts, read only when messages are in
	// flight there: they say when those messages come back.
	OrderQueueVisibilityTimeout int `json:"orderQueueVisibilityTimeoutSeconds,omitempty"`
	OrderDLQVisibilityTimeout   int `json:"orderDLQVisibilityTimeoutSeconds,omitempty"`
}

type mappingView struct {
	UUID                 string `json:"uuid"`
	State                string `json:"state"`
	Function             string `json:"function"`
	BatchSize            int32  `json:"batchSize"`
	BatchingWindow       int32  `json:"batchingWindowSeconds"`
	MaximumConcurrency   int32  `json:"maximumConcurrency,omitempty"`
	LastProcessingResult string `json:"lastProcessingResult,omitempty"`
}

func statusCommand(e *env, tf *targetFlags) *cobra.Command {
	var (
		asJSON bool
		wait   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the queues' depths, the table's size and the event source mapping, on one screen",
		Long: `status shows OrderQueue's visible, in-flight and delayed messages, OrderDLQ's,
the number of items in Orders (approximate on AWS, where DynamoDB updates it
about every six hours), and the state of the event source mapping.

Messages in flight were received and not yet deleted: the function is
working on them, or their reader is gone (after a restart, say) and they
become visible again when the queue's visibility timeout has passed since
their receive. status says so, with the timeout, whenever a queue has some.

With --wait it first waits, up to the given time, until OrderQueue is empty
(nothing visible, in flight or delayed): the pipeline has caught up.`,
		Example: "  orderflow status\n  orderflow status --json\n  orderflow status --wait 30s",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			t, res, err := resolveAll(ctx, e, tf)
			if err != nil {
				return err
			}
			sqsClient := awssqs.NewFromConfig(t.cfg)
			if wait > 0 {
				if err := waitDrained(ctx, sqsClient, res.QueueURL, wait); err != nil {
					var nd notDrainedError
					if !errors.As(err, &nd) {
						return t.explain("wait for OrderQueue to drain", err)
					}
					return notDrained(ctx, t, sqsClient, res.QueueURL, nd)
				}
			}
			v, err := readStatus(ctx, t, res)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, v)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "Endpoint\t%s (stack %s)\n", v.Endpoint, v.Stack)
			fmt.Fprintf(tw, "OrderQueue\t%d visible, %d in flight, %d delayed\n", v.OrderQueue.Visible, v.OrderQueue.InFlight, v.OrderQueue.Delayed)
			fmt.Fprintf(tw, "OrderDLQ\t%d visible, %d in flight\n", v.OrderDLQ.Visible, v.OrderDLQ.InFlight)
			fmt.Fprintf(tw, "Orders\t%d items\n", v.Orders)
			m := v.Mapping
			fmt.Fprintf(tw, "Mapping\t%s → %s: %s, batch %d, window %ds", res.QueueArn, m.Function, m.State, m.BatchSize, m.BatchingWindow)
			if m.MaximumConcurrency > 0 {
				fmt.Fprintf(tw, ", max concurrency %d", m.MaximumConcurrency)
			}
			if m.LastProcessingResult != "" {
				fmt.Fprintf(tw, ", last result %s", m.LastProcessingResult)
			}
			fmt.Fprintln(tw)
			if err := tw.Flush(); err != nil {
				return err
			}
			if v.OrderQueue.InFlight > 0 {
				fmt.Fprintf(e.stdout, "OrderQueue: %s.\n", inFlightNote(v.OrderQueue.InFlight, v.OrderQueueVisibilityTimeout))
			}
			if v.OrderDLQ.InFlight > 0 {
				fmt.Fprintf(e.stdout, "OrderDLQ: %s.\n", inFlightNote(v.OrderDLQ.InFlight, v.OrderDLQVisibilityTimeout))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.Flags().DurationVar(&wait, "wait", 0, "first wait, up to this long, until OrderQueue is empty")
	return cmd
}

func readStatus(ctx context.Context, t *target, res resources) (statusView, error) {
	v := statusView{Endpoint: t.where(), Stack: t.stack}
	sqsClient := awssqs.NewFromConfig(t.cfg)
	var err error
	if v.OrderQueue, err = queueDepth(ctx, sqsClient, res.QueueURL); err != nil {
		return v, t.explain("read OrderQueue's depth", err)
	}
	if v.OrderDLQ, err = queueDepth(ctx, sqsClient, res.DLQURL); err != nil {
		return v, t.explain("read OrderDLQ's depth", err)
	}
	if v.OrderQueue.InFlight > 0 {
		if v.OrderQueueVisibilityTimeout, err = visibilityTimeout(ctx, sqsClient, res.QueueURL); err != nil {
			return v, t.explain("read OrderQueue's visibility timeout", err)
		}
	}
	if v.OrderDLQ.InFlight > 0 {
		if v.OrderDLQVisibilityTimeout, err = visibilityTimeout(ctx, sqsClient, res.DLQURL); err != nil {
			return v, t.explain("read OrderDLQ's visibility timeout", err)
		}
	}
	table, err := awsddb.NewFromConfig(t.cfg).DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String(res.Table)})
	if err != nil {
		return v, t.explain("describe table "+res.Table, err)
	}
	v.Orders = aws.ToInt64(table.Table.ItemCount)
	if res.MappingID == "" {
		return v, errors.New("the stack has no OrderEventSourceMappingId output")
	}
	m, err := awslambda.NewFromConfig(t.cfg).GetEventSourceMapping(ctx, &awslambda.GetEventSourceMappingInput{UUID: aws.String(res.MappingID)})
	if err != nil {
		return v, t.explain("read the event source mapping", err)
	}
	v.Mapping = mappingView{
		UUID: aws.ToString(m.UUID), State: aws.ToString(m.State), Function: res.Function,
		BatchSize: aws.ToInt32(m.BatchSize), BatchingWindow: aws.ToInt32(m.MaximumBatchingWindowInSeconds),
		LastProcessingResult: aws.ToString(m.LastProcessingResult),
	}
	if m.ScalingConfig != nil {
		v.Mapping.MaximumConcurrency = aws.ToInt32(m.ScalingConfig.MaximumConcurrency)
	}
	return v, nil
}

// waitDrained polls until the queue holds nothing visible, in flight or
// delayed, twice in a row half a second apart (the counts are approximate),
// or until limit has passed.
func waitDrained(ctx context.Context, client *awssqs.Client, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	calm := 0
	for {
		d, err := queueDepth(ctx, client, url)
		if err != nil {
			return err
		}
		if d.Visible+d.InFlight+d.Delayed == 0 {
			if calm++; calm == 2 {
				return nil
			}
		} else {
			calm = 0
		}
		if time.Now().After(deadline) {
			return notDrainedError{left: d, limit: limit}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// notDrainedError is OrderQueue still holding messages when --wait ran out.
type notDrainedError struct {
	left  depth
	limit time.Duration
}

func (e notDrainedError) Error() string {
	return fmt.Sprintf("OrderQueue still holds %d visible, %d in flight and %d delayed messages after %s", e.left.Visible, e.left.InFlight, e.left.Delayed, e.limit)
}

// notDrained says why --wait ran out and how long to wait instead: with
// messages in flight, at least their visibility timeout, since a receiver
// that is gone gives them back only then.
func notDrained(ctx context.Context, t *target, client *awssqs.Client, url string, nd notDrainedError) error {
	d := nd.left
	held := fmt.Sprintf("OrderQueue still holds %d visible, %d in flight and %d delayed messages after %s (--wait %s)", d.Visible, d.InFlight, d.Delayed, human.Duration(nd.limit), nd.limit)
	longer := 2 * nd.limit
	if d.InFlight == 0 {
		return fmt.Errorf("%s; wait longer (e.g. --wait %s) if the event source mapping is enabled (`orderflow status` shows its state)", held, waitFlag(longer))
	}
	vt, err := visibilityTimeout(ctx, client, url)
	if err != nil {
		return t.explain("read OrderQueue's visibility timeout", err)
	}
	longer = max(longer, time.Duration(vt)*time.Second+30*time.Second)
	return fmt.Errorf("%s; the %d in flight were received and not yet deleted, and %s: wait longer (e.g. --wait %s)", held, d.InFlight, whenVisibleAgain(vt), waitFlag(longer))
}

// inFlightNote says what n messages in flight in a queue whose visibility
// timeout is vt seconds mean.
func inFlightNote(n, vt int) string {
	are := "messages are"
	if n == 1 {
		are = "message is"
	}
	return fmt.Sprintf("%d %s in flight: received and not yet deleted; %s", n, are, whenVisibleAgain(vt))
}

// whenVisibleAgain says when messages in flight come back.
func whenVisibleAgain(vt int) string {
	return fmt.Sprintf("if the reader is gone (e.g. after a restart) they become visible again within the queue's visibility timeout (%s) of their receive", human.Duration(time.Duration(vt)*time.Second))
}

// waitFlag writes d for --wait, in whole minutes from a minute up.
func waitFlag(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	m := (d + time.Minute - 1) / time.Minute
	return fmt.Sprintf("%dm", m)
}

// visibilityTimeout is the queue's visibility timeout in seconds.
func visibilityTimeout(ctx context.Context, client *awssqs.Client, url string) (int, error) {
	out, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout}})
	if err != nil {
		return 0, err
	}
	vt, err := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameVisibilityTimeout)])
	if err != nil {
		return 0, fmt.Errorf("the queue's VisibilityTimeout %q is not a number of seconds", out.Attributes[string(sqstypes.QueueAttributeNameVisibilityTimeout)])
	}
	return vt, nil
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/handler"
	"github.com/orderflow/orderflow/sqs"
)

func dlqCommand(e *env, tf *targetFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "dlq",
		Short:   "Inspect, redrive and purge the dead-letter queue (OrderDLQ)",
		Example: "  orderflow dlq list\n  orderflow dlq redrive\n  orderflow dlq purge --yes",
	}
	cmd.AddCommand(dlqListCommand(e, tf), dlqRedriveCommand(e, tf), dlqPurgeCommand(e, tf))
	return cmd
}

// deadLetterView is a dead-lettered message as an operator reads it.
type deadLetterView struct {
	MessageID         string `json:"messageId"`
	OrderID           string `json:"orderId,omitempty"`
	Code              string `json:"code"`
	Reason            string `json:"reason"`
	ReceiveCount      int    `json:"receiveCount"`
	OriginalMessageID string `json:"originalMessageId,omitempty"`
	SentAt            string `json:"sentAt"`
	Body              string `json:"body"`
}

func dlqListCommand(e *env, tf *targetFlags) *cobra.Command {
	var (
		maxN   int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the dead-lettered messages with their reasons, leaving them in the queue",
		Long: `list reads the messages in OrderDLQ and shows why each is there: the
function's reason for invalid input, or, for a message SQS moved itself after
maxReceiveCount failed receives, how many receives it had. The messages are
made visible again at once, so nothing is consumed (their receive counts in
the DLQ do rise, as with any read).`,
		Example: "  orderflow dlq list\n  orderflow dlq list --max 500 --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxN < 1 {
				return usageError{errors.New("--max must be at least 1")}
			}
			t, res, err := resolveAll(cmd.Context(), e, tf)
			if err != nil {
				return err
			}
			views, err := peekDLQ(cmd.Context(), awssqs.NewFromConfig(t.cfg), res.DLQURL, maxN)
			if err != nil {
				return t.explain("read OrderDLQ", err)
			}
			if asJSON {
				if views == nil {
					views = []deadLetterView{}
				}
				return writeJSON(e.stdout, views)
			}
			if len(views) == 0 {
				fmt.Fprintln(e.stdout, "OrderDLQ is empty.")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "MESSAGE ID\tORDER ID\tRECEIVES\tCODE\tREASON")
			for _, v := range views {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", v.MessageID, orDash(v.OrderID), v.ReceiveCount, v.Code, v.Reason)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d messages in OrderDLQ.\n", len(views))
			return nil
		},
	}
	cmd.Flags().IntVar(&maxN, "max", 100, "read at most this many messages")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the messages as JSON")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// peekVisibility is how long, in seconds, peekDLQ hides what it has read;
// it must outlast a listing's receives, and a receive whose answer was lost
// hides its messages that long (see peekDLQ). A variable for tests.
var peekVisibility int32 = 10

// peekDLQ receives up to maxN messages and makes them visible again.
//
// ReceiveMessage is not idempotent: an attempt whose answer is lost (the
// connection fails while the body is read) has taken its messages, and a
// retry receives others. So each receive is made once, without the SDK's
// retries; after a failed one, peekDLQ keeps reading until the messages
// that attempt hid are visible again (peekVisibility), skipping any message
// it has already listed, instead of ending the listing short.
func peekDLQ(ctx context.Context, client *awssqs.Client, url string, maxN int) (views []deadLetterView, err error) {
	var receipts []sqstypes.ChangeMessageVisibilityBatchRequestEntry
	listed := map[string]int{} // message id → its entry in receipts
	// Release what was read even if a later read fails; a message that
	// cannot be released stays hidden for the read's visibility timeout.
	defer func() {
		for start := 0; start < len(receipts); start += 10 {
			out, rerr := client.ChangeMessageVisibilityBatch(context.WithoutCancel(ctx), &awssqs.ChangeMessageVisibilityBatchInput{
				QueueUrl: aws.String(url), Entries: receipts[start:min(start+10, len(receipts))],
			})
			if rerr == nil && len(out.Failed) > 0 {
				rerr = fmt.Errorf("%d messages stay hidden for %d seconds: %s", len(out.Failed), peekVisibility, aws.ToString(out.Failed[0].Message))
			}
			if rerr != nil && err == nil {
				err = fmt.Errorf("make the messages visible again: %w", rerr)
			}
		}
	}()
	once := func(o *awssqs.Options) { o.RetryMaxAttempts = 1 }
	var hiddenUntil time.Time
	failures := 0
	// A receive may return fewer messages than are there, even none (SQS
	// samples its servers); two empty receives in a row end the reading.
	for empty := 0; len(views) < maxN && (empty < 2 || time.Now().Before(hiddenUntil)); {
		out, err := client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(url),
			MaxNumberOfMessages:         int32(min(10, maxN-len(views))),
			WaitTimeSeconds:             1,
			VisibilityTimeout:           peekVisibility,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"},
		}, once)
		if err != nil {
			if failures++; failures > 3 || ctx.Err() != nil {
				return views, err
			}
			hiddenUntil = time.Now().Add(time.Duration(peekVisibility+1) * time.Second)
			continue
		}
		// A receive that brings nothing new counts as empty: messages
		// listed earlier come back once their visibility timeout ends.
		empty++
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if i, ok := listed[id]; ok {
				receipts[i].ReceiptHandle = m.ReceiptHandle // the newest receipt releases it
				continue
			}
			empty = 0
			listed[id] = len(receipts)
			receipts = append(receipts, sqstypes.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(len(receipts))), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
			})
			views = append(views, viewOf(m))
		}
	}
	return views, nil
}

func viewOf(m sqstypes.Message) deadLetterView {
	body := aws.ToString(m.Body)
	receives, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	v := deadLetterView{MessageID: aws.ToString(m.MessageId), Body: body}
	if ms, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64); err == nil {
		v.SentAt = time.UnixMilli(ms).UTC().Format(time.RFC3339)
	}
	if dl, ok := sqs.FromAttributes(body, m.MessageAttributes); ok {
		v.Code, v.Reason, v.ReceiveCount, v.OriginalMessageID = string(dl.Code), dl.Reason, dl.ReceiveCount, dl.OriginalMessageID
	} else {
		// SQS moved it after maxReceiveCount receives: the function kept
		// failing on it (a transient fault, or a bug), and the receive
		// count it carries into the DLQ restarts there.
		v.Code = "MaxReceivesExceeded"
		v.Reason = "moved by SQS after the function failed on it maxReceiveCount times (a transient failure, not invalid input)"
		v.ReceiveCount = receives
	}
	v.OrderID = handler.OrderIDOf(body)
	return v
}

func dlqRedriveCommand(e *env, tf *targetFlags) *cobra.Command {
	var (
		to     string
		perSec int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "redrive",
		Short: "Move the dead-lettered messages back (StartMessageMoveTask) and report how many moved",
		Long: `redrive starts an SQS message move task from OrderDLQ to OrderQueue (or to
--to) and follows it until it ends. Orders that failed transiently are then
processed again; invalid ones return to the DLQ with the same reason.`,
		Example: "  orderflow dlq redrive\n  orderflow dlq redrive --rate 50\n  orderflow dlq redrive --to OrderQueue",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if perSec < 0 || perSec > 500 {
				return usageError{errors.New("--rate must be between 1 and 500 messages a second (SQS's limit)")}
			}
			ctx := cmd.Context()
			t, res, err := resolveAll(ctx, e, tf)
			if err != nil {
				return err
			}
			client := awssqs.NewFromConfig(t.cfg)
			depth, err := queueDepth(ctx, client, res.DLQURL)
			if err != nil {
				return t.explain("read OrderDLQ's depth", err)
			}
			if depth.Visible == 0 {
				if depth.InFlight > 0 {
					return fmt.Errorf("OrderDLQ's %d messages are in flight (being read); try again in a minute", depth.InFlight)
				}
				return report(e, asJSON, map[string]any{"moved": 0, "status": "EMPTY"}, "OrderDLQ is empty; nothing to move.")
			}
			// To OrderQueue by default: a move task without a destination
			// returns only messages SQS itself dead-lettered, and fails on
			// those the function sent.
			in := &awssqs.StartMessageMoveTaskInput{SourceArn: aws.String(res.DLQArn), DestinationArn: aws.String(res.QueueArn)}
			dest := "OrderQueue"
			if to != "" {
				arn, err := queueARN(ctx, client, to)
				if err != nil {
					return t.explain("find queue "+to, err)
				}
				in.DestinationArn, dest = aws.String(arn), to
			}
			if perSec > 0 {
				in.MaxNumberOfMessagesPerSecond = aws.Int32(int32(perSec))
			}
			if _, err := client.StartMessageMoveTask(ctx, in); err != nil {
				return t.explain("start moving messages out of OrderDLQ", err)
			}
			prog := newProgress(e, depth.Visible, "redriving")
			task, err := followMoveTask(ctx, client, res.DLQArn, prog)
			prog.done()
			if err != nil {
				return t.explain("follow the move task", err)
			}
			moved := int(task.ApproximateNumberOfMessagesMoved)
			status := aws.ToString(task.Status)
			if status != "COMPLETED" {
				return fmt.Errorf("the move task ended %s after moving %d messages: %s", status, moved, aws.ToString(task.FailureReason))
			}
			return report(e, asJSON, map[string]any{"moved": moved, "status": status},
				fmt.Sprintf("Moved %d messages from OrderDLQ to %s.", moved, dest))
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "move the messages to this queue (name, URL or ARN) instead of OrderQueue")
	cmd.Flags().IntVar(&perSec, "rate", 0, "move at most this many messages a second (default: as fast as SQS allows)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func report(e *env, asJSON bool, v any, text string) error {
	if asJSON {
		return writeJSON(e.stdout, v)
	}
	fmt.Fprintln(e.stdout, text)
	return nil
}

// followMoveTask polls the newest move task of source until it ends.
func followMoveTask(ctx context.Context, client *awssqs.Client, source string, prog *progress) (sqstypes.ListMessageMoveTasksResultEntry, error) {
	moved := 0
	for {
		out, err := client.ListMessageMoveTasks(ctx, &awssqs.ListMessageMoveTasksInput{SourceArn: aws.String(source), MaxResults: aws.Int32(1)})
		if err != nil {
			return sqstypes.ListMessageMoveTasksResultEntry{}, err
		}
		if len(out.Results) == 0 {
			return sqstypes.ListMessageMoveTasksResultEntry{}, errors.New("the move task vanished")
		}
		task := out.Results[0]
		if n := int(task.ApproximateNumberOfMessagesMoved); n > moved {
			prog.add(n - moved)
			moved = n
		}
		switch aws.ToString(task.Status) {
		case "COMPLETED", "FAILED", "CANCELLED":
			return task, nil
		}
		select {
		case <-ctx.Done():
			return task, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// queueARN resolves a queue given by name, URL or ARN to its ARN.
func queueARN(ctx context.Context, client *awssqs.Client, q string) (string, error) {
	if strings.HasPrefix(q, "arn:") {
		return q, nil
	}
	url := q
	if !strings.Contains(q, "://") {
		out, err := client.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(q)})
		if err != nil {
			return "", err
		}
		url = aws.ToString(out.QueueUrl)
	}
	out, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		return "", err
	}
	return out.Attributes["QueueArn"], nil
}

// depth is a queue's message counts.
type depth struct {
	Visible  int `json:"visible"`
	InFlight int `json:"inFlight"`
	Delayed  int `json:"delayed"`
}

func queueDepth(ctx context.Context, client *awssqs.Client, url string) (depth, error) {
	out, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
		"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
	}})
	if err != nil {
		return depth{}, err
	}
	var d depth
	d.Visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	d.InFlight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	d.Delayed, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesDelayed"])
	return d, nil
}

func dlqPurgeCommand(e *env, tf *targetFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:     "purge",
		Short:   "Delete every message in OrderDLQ, after asking",
		Example: "  orderflow dlq purge\n  orderflow dlq purge --yes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			t, res, err := resolveAll(ctx, e, tf)
			if err != nil {
				return err
			}
			client := awssqs.NewFromConfig(t.cfg)
			d, err := queueDepth(ctx, client, res.DLQURL)
			if err != nil {
				return t.explain("read OrderDLQ's depth", err)
			}
			n := d.Visible + d.InFlight + d.Delayed
			if n == 0 {
				fmt.Fprintln(e.stdout, "OrderDLQ is empty; nothing to purge.")
				return nil
			}
			if !yes {
				fmt.Fprintf(e.stdout, "Delete all %d messages in OrderDLQ at %s for good? [y/N] ", n, t.where())
				answer, _ := bufio.NewReader(e.stdin).ReadString('\n')
				fmt.Fprintln(e.stdout)
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					return errors.New("purge cancelled; nothing was deleted")
				}
			}
			if _, err := client.PurgeQueue(ctx, &awssqs.PurgeQueueInput{QueueUrl: aws.String(res.DLQURL)}); err != nil {
				return t.explain("purge OrderDLQ", err)
			}
			fmt.Fprintf(e.stdout, "Purged OrderDLQ (%d messages).\n", n)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask")
	return cmd
}

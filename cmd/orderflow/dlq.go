package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/spf13/cobra"
	"golang.org/x/term"

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
the DLQ do rise, as with any read).

It first reads OrderDLQ's approximate counts: an empty DLQ is reported at
once, and messages in flight (received by another reader and not yet
deleted, which list cannot see) or delayed are counted, never called empty.
It reads until it has seen as many messages as SQS counts visible (or --max),
and says how many it saw against that count.`,
		Example: "  orderflow dlq list\n  orderflow dlq list --max 500 --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxN < 1 {
				return usageError{errors.New("--max must be at least 1")}
			}
			ctx := cmd.Context()
			t, res, err := resolveAll(ctx, e, tf)
			if err != nil {
				return err
			}
			client := awssqs.NewFromConfig(t.cfg)
			st, err := readDLQState(ctx, client, res.DLQURL)
			if err != nil {
				return t.explain("read OrderDLQ's attributes", err)
			}
			var views []deadLetterView
			if st.Visible > 0 {
				if views, err = peekDLQ(ctx, client, res.DLQURL, maxN, st.Visible); err != nil {
					return t.explain("read OrderDLQ", err)
				}
			}
			if asJSON {
				if views == nil {
					views = []deadLetterView{}
				}
				return writeJSON(e.stdout, dlqListing{Visible: st.Visible, InFlight: st.InFlight, Delayed: st.Delayed,
					VisibilityTimeout: st.VisibilityTimeout, Listed: len(views), Messages: views})
			}
			unseen := st.unseenNote()
			if len(views) == 0 {
				switch {
				case st.Visible > 0:
					fmt.Fprintf(e.stdout, "OrderDLQ counts about %s visible, but none could be read: another reader may have received them; try again in %d s (OrderDLQ's visibility timeout).\n",
						plural(st.Visible, "message"), st.VisibilityTimeout)
				case unseen != "":
					fmt.Fprintf(e.stdout, "OrderDLQ has no visible messages, but %s.\n", unseen)
				default:
					fmt.Fprintln(e.stdout, "OrderDLQ is empty.")
				}
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
			switch {
			case len(views) == st.Visible && unseen == "":
				fmt.Fprintf(e.stdout, "%s in OrderDLQ.\n", plural(len(views), "message"))
			case len(views) == st.Visible:
				fmt.Fprintf(e.stdout, "Listed the %s visible in OrderDLQ.\n", plural(len(views), "message"))
			case len(views) == maxN:
				fmt.Fprintf(e.stdout, "Listed %s (--max %d) of about %d visible in OrderDLQ.\n", plural(len(views), "message"), maxN, st.Visible)
			default:
				fmt.Fprintf(e.stdout, "Listed %s of about %d visible in OrderDLQ (SQS's count is approximate).\n", plural(len(views), "message"), st.Visible)
			}
			if unseen != "" {
				fmt.Fprintf(e.stdout, "Not listed: %s.\n", unseen)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&maxN, "max", 100, "read at most this many messages")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts and the messages as JSON")
	return cmd
}

// dlqListing is what list --json prints.
type dlqListing struct {
	Visible           int              `json:"visible"`
	InFlight          int              `json:"inFlight"`
	Delayed           int              `json:"delayed"`
	VisibilityTimeout int              `json:"visibilityTimeoutSeconds"`
	Listed            int              `json:"listed"`
	Messages          []deadLetterView `json:"messages"`
}

// dlqState is what SQS says about a queue before it is read: its
// approximate counts and its visibility timeout.
type dlqState struct {
	depth
	VisibilityTimeout int
}

func readDLQState(ctx context.Context, client *awssqs.Client, url string) (dlqState, error) {
	out, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
		"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed", "VisibilityTimeout",
	}})
	if err != nil {
		return dlqState{}, err
	}
	var s dlqState
	s.Visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	s.InFlight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	s.Delayed, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesDelayed"])
	s.VisibilityTimeout, _ = strconv.Atoi(out.Attributes["VisibilityTimeout"])
	return s, nil
}

// unseenNote says what a reader cannot see now: the messages in flight and
// the delayed ones; "" when there are none.
func (s dlqState) unseenNote() string {
	var parts []string
	if s.InFlight > 0 {
		parts = append(parts, fmt.Sprintf("%s in flight (received by another reader and not yet deleted) and visible again when that receive's visibility timeout ends (OrderDLQ's is %d s, unless the reader chose another)",
			isAre(s.InFlight), s.VisibilityTimeout))
	}
	if s.Delayed > 0 {
		parts = append(parts, fmt.Sprintf("%s delayed and visible once the delay ends", isAre(s.Delayed)))
	}
	return strings.Join(parts, ", and ")
}

// plural is "1 message", "2 messages".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// isAre is "1 message is", "2 messages are".
func isAre(n int) string {
	if n == 1 {
		return "1 message is"
	}
	return fmt.Sprintf("%d messages are", n)
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

// peekDLQ receives up to maxN messages and makes them visible again. It
// stops as soon as it has seen want messages (SQS's approximate visible
// count), so that reading a queue whose every message is listed costs no
// long-poll wait; otherwise two receives in a row that bring nothing new
// end it.
//
// ReceiveMessage is not idempotent: an attempt whose answer is lost (the
// connection fails while the body is read) has taken its messages, and a
// retry receives others. So each receive is made once, without the SDK's
// retries; after a failed one, peekDLQ keeps reading until the messages
// that attempt hid are visible again (peekVisibility), skipping any message
// it has already listed, instead of ending the listing short.
func peekDLQ(ctx context.Context, client *awssqs.Client, url string, maxN, want int) (views []deadLetterView, err error) {
	var receipts []sqstypes.ChangeMessageVisibilityBatchRequestEntry
	listed := map[string]int{} // message id → its entry in receipts
	// Release what was read even if a later read fails; a message that
	// cannot be released stays hidden for the read's visibility timeout.
	defer func() {
		if rerr := makeVisible(ctx, client, url, receipts, peekVisibility); rerr != nil && err == nil {
			err = fmt.Errorf("make the messages visible again: %w", rerr)
		}
	}()
	once := func(o *awssqs.Options) { o.RetryMaxAttempts = 1 }
	var hiddenUntil time.Time
	failures := 0
	// A receive may return fewer messages than are there, even none (SQS
	// samples its servers); two empty receives in a row end the reading.
	for empty := 0; len(views) < maxN && len(views) < want && (empty < 2 || time.Now().Before(hiddenUntil)); {
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

// makeVisible gives back messages a reader received (ten to a request),
// even when the reader's context has ended; a message that cannot be given
// back stays hidden for the receive's visibility timeout, hidden seconds.
func makeVisible(ctx context.Context, client *awssqs.Client, url string, receipts []sqstypes.ChangeMessageVisibilityBatchRequestEntry, hidden int32) error {
	var err error
	for start := 0; start < len(receipts); start += 10 {
		out, rerr := client.ChangeMessageVisibilityBatch(context.WithoutCancel(ctx), &awssqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(url), Entries: receipts[start:min(start+10, len(receipts))],
		})
		if rerr == nil && len(out.Failed) > 0 {
			rerr = fmt.Errorf("%d messages stay hidden for %d seconds: %s", len(out.Failed), hidden, aws.ToString(out.Failed[0].Message))
		}
		if rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
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
		v.Code = codeMaxReceives
		v.Reason = "moved by SQS after the function failed on it maxReceiveCount times (a transient failure, not invalid input)"
		v.ReceiveCount = receives
	}
	v.OrderID = handler.OrderIDOf(body)
	return v
}

// surveyMax bounds how many dead letters redrive reads before a move to
// tell the invalid ones from the transient ones.
const surveyMax = 1000

func dlqRedriveCommand(e *env, tf *targetFlags) *cobra.Command {
	var (
		to            string
		perSec        int
		asJSON        bool
		yes           bool
		onlyTransient bool
	)
	cmd := &cobra.Command{
		Use:   "redrive",
		Short: "Move the dead-lettered messages back to OrderQueue, warning about those that failed validation",
		Long: `redrive first reads OrderDLQ (as list does, leaving the messages there) and
counts the dead letters the function sent for invalid input (they carry an
orderflow.ErrorCode attribute) and those SQS moved after repeated transient
failures (they carry none). Invalid ones moved to OrderQueue would fail again
and return, so when there are any, redrive says how many and asks before
moving them: the answer is read from stdin, typed or piped; --yes does not
ask, and with no answer on stdin it refuses. Messages in flight (being read
by another reader) or delayed are not moved, and the report says so.

By default it starts an SQS message move task (StartMessageMoveTask) from
OrderDLQ to OrderQueue (or to --to) and follows it until it ends. It then
reports how many messages the task moved and, of the dead letters it read
before the move, how many failed validation and will likely return: it does
not know what becomes of them after the move.

--only-transient moves only the messages without the function's error code,
message by message: it receives them, sends each body with its message
attributes to the destination (SendMessageBatch), then deletes it from
OrderDLQ (DeleteMessageBatch); the invalid ones stay in OrderDLQ. Each is
sent before it is deleted, so a failure between the two leaves a copy in
both queues rather than none.`,
		Example: "  orderflow dlq redrive\n  orderflow dlq redrive --only-transient\n  orderflow dlq redrive --yes --rate 50\n  orderflow dlq redrive --to OrderQueue",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if perSec < 0 || perSec > 500 {
				return usageError{errors.New("--rate must be between 1 and 500 messages a second (SQS's limit)")}
			}
			if onlyTransient && perSec > 0 {
				return usageError{errors.New("--rate paces a move task; --only-transient moves message by message and does not take it")}
			}
			ctx := cmd.Context()
			t, res, err := resolveAll(ctx, e, tf)
			if err != nil {
				return err
			}
			client := awssqs.NewFromConfig(t.cfg)
			st, err := readDLQState(ctx, client, res.DLQURL)
			if err != nil {
				return t.explain("read OrderDLQ's attributes", err)
			}
			if st.Visible == 0 {
				if unseen := st.unseenNote(); unseen != "" {
					return fmt.Errorf("OrderDLQ has no visible messages to move: %s; try again then", unseen)
				}
				return report(e, asJSON, map[string]any{"moved": 0, "status": "EMPTY"}, "OrderDLQ is empty; nothing to move.")
			}
			// To OrderQueue by default: a move task without a destination
			// returns only messages SQS itself dead-lettered, and fails on
			// those the function sent.
			dest, destArn := "OrderQueue", res.QueueArn
			if to != "" {
				arn, err := queueARN(ctx, client, to)
				if err != nil {
					return t.explain("find queue "+to, err)
				}
				dest, destArn = to, arn
			}
			if onlyTransient {
				destURL := res.QueueURL
				if destArn != res.QueueArn {
					if destURL, err = queueURLOf(ctx, client, destArn); err != nil {
						return t.explain("find queue "+to, err)
					}
				}
				prog := newProgress(e, st.Visible, "redriving")
				moved, kept, err := moveTransient(ctx, client, res.DLQURL, destURL, st.Visible, prog)
				prog.done()
				if err != nil {
					return t.explain(fmt.Sprintf("move the transient dead letters (%d moved so far)", moved), err)
				}
				// SQS's count is approximate, and a message another reader
				// holds cannot be seen: say so rather than imply all were
				// examined.
				unseen := ""
				if n := st.Visible - moved - kept; n > 0 {
					unseen = fmt.Sprintf(" %s of the about %d counted visible could not be read (another reader holds them, or a receive's answer was lost); they are visible again within %d s: run it again then.",
						plural(n, "message"), st.Visible, moveVisibility)
				}
				return report(e, asJSON, map[string]any{"moved": moved, "leftFailedValidation": kept, "notRead": max(0, st.Visible-moved-kept), "method": "SendMessageBatch+DeleteMessageBatch"},
					fmt.Sprintf("Moved %s that failed transiently from OrderDLQ to %s one by one (sent, then deleted; not a move task); left %d that failed validation in OrderDLQ.",
						plural(moved, "message"), dest, kept)+unseen+notMoved(st))
			}

			views, err := peekDLQ(ctx, client, res.DLQURL, min(st.Visible, surveyMax), st.Visible)
			if err != nil {
				return t.explain("read OrderDLQ", err)
			}
			invalid, example := 0, ""
			for _, v := range views {
				if v.failedValidation() {
					if invalid++; example == "" {
						example = v.Code
					}
				}
			}
			if invalid > 0 && destArn == res.QueueArn {
				which := fmt.Sprintf("%d of the %s", invalid, plural(len(views), "dead letter"))
				if invalid == len(views) {
					which = "All " + plural(invalid, "dead letter")
					if invalid == 1 {
						which = "The one dead letter"
					}
				}
				fmt.Fprintf(e.stderr, "%s failed validation (e.g. ErrorCode %s): redriving sends them back to OrderQueue, where they will fail again and return here.\n",
					which, example)
				others := fmt.Sprintf("--only-transient to move only the %d that failed transiently", len(views)-invalid)
				if invalid == len(views) {
					others = "leave them in OrderDLQ: none failed transiently"
				}
				if !yes {
					ok, err := confirm(e, fmt.Sprintf("Redrive all %d anyway?", len(views)))
					switch {
					case errors.Is(err, errNoAnswer):
						return fmt.Errorf("no answer on stdin, so nothing was moved: pass --yes to redrive them all anyway, or %s", others)
					case err != nil:
						return err
					case !ok:
						return fmt.Errorf("redrive cancelled; nothing was moved (or %s)", others)
					}
				}
			}
			in := &awssqs.StartMessageMoveTaskInput{SourceArn: aws.String(res.DLQArn), DestinationArn: aws.String(destArn)}
			if perSec > 0 {
				in.MaxNumberOfMessagesPerSecond = aws.Int32(int32(perSec))
			}
			if _, err := client.StartMessageMoveTask(ctx, in); err != nil {
				return t.explain("start moving messages out of OrderDLQ", err)
			}
			prog := newProgress(e, st.Visible, "redriving")
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
			text := fmt.Sprintf("Moved %s from OrderDLQ to %s.", plural(moved, "message"), dest)
			if invalid > 0 && destArn == res.QueueArn {
				of := "of them"
				if len(views) != moved {
					of = "of the " + plural(len(views), "message") + " read before the move"
				}
				which := fmt.Sprintf("%d %s", invalid, of)
				switch {
				case invalid == moved && moved == 1 && of == "of them":
					which = "it"
				case invalid == moved && moved == 2 && of == "of them":
					which = "both"
				case invalid == moved && of == "of them":
					which = "all of them"
				}
				text = fmt.Sprintf("Moved %s from OrderDLQ to %s; %s failed validation and will likely return to OrderDLQ.", plural(moved, "message"), dest, which)
			}
			return report(e, asJSON, map[string]any{"moved": moved, "status": status, "read": len(views), "failedValidation": invalid}, text+notMoved(st))
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "move the messages to this queue (name, URL or ARN) instead of OrderQueue")
	cmd.Flags().IntVar(&perSec, "rate", 0, "move at most this many messages a second (default: as fast as SQS allows)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask before redriving messages that failed validation")
	cmd.Flags().BoolVar(&onlyTransient, "only-transient", false, "move only the messages that failed transiently (without the function's error code), message by message, leaving the invalid ones in OrderDLQ")
	return cmd
}

// notMoved is a second line for a redrive's report about the messages it
// could not see: in flight or delayed when it began.
func notMoved(st dlqState) string {
	if unseen := st.unseenNote(); unseen != "" {
		return "\nNot moved: " + unseen + "."
	}
	return ""
}

// failedValidation reports whether the function itself dead-lettered the
// message, for input it refused: it carries the function's error code.
func (v deadLetterView) failedValidation() bool { return v.Code != codeMaxReceives }

// codeMaxReceives marks, in a listing, a message SQS moved itself.
const codeMaxReceives = "MaxReceivesExceeded"

// moveVisibility is how long, in seconds, moveTransient hides what it has
// received: long enough to send and delete a batch, and to keep the invalid
// ones out of its own later receives.
const moveVisibility = 60

// moveTransient moves the messages of the queue at from that lack the
// function's error code to the queue at to, each sent before it is deleted;
// the others are made visible again. It stops once it has handled want
// messages (the visible count when it began, so that messages returning
// meanwhile are not moved twice) or when two receives bring nothing new.
func moveTransient(ctx context.Context, client *awssqs.Client, from, to string, want int, prog *progress) (moved, kept int, err error) {
	return moveMatching(ctx, client, from, to, want, prog, func(m sqstypes.Message) bool {
		_, invalid := sqs.FromAttributes(aws.ToString(m.Body), m.MessageAttributes)
		return !invalid
	})
}

// moveMatching moves the messages of the queue at from for which move
// reports true to the queue at to, as moveTransient does; the others are
// made visible again and counted as kept.
func moveMatching(ctx context.Context, client *awssqs.Client, from, to string, want int, prog *progress, move func(sqstypes.Message) bool) (moved, kept int, err error) {
	var release []sqstypes.ChangeMessageVisibilityBatchRequestEntry
	handled := map[string]int{} // message id → its entry in release, or -1 once moved
	defer func() {
		if rerr := makeVisible(ctx, client, from, release, moveVisibility); rerr != nil && err == nil {
			err = fmt.Errorf("make the messages left in OrderDLQ visible again: %w", rerr)
		}
	}()
	for empty := 0; len(handled) < want && empty < 2; {
		out, err := client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(from),
			MaxNumberOfMessages:         int32(min(10, want-len(handled))),
			WaitTimeSeconds:             1,
			VisibilityTimeout:           moveVisibility,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"},
		})
		if err != nil {
			return moved, kept, err
		}
		empty++
		var send []sqstypes.SendMessageBatchRequestEntry
		receipts := map[string]*string{}
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if i, ok := handled[id]; ok {
				if i >= 0 {
					release[i].ReceiptHandle = m.ReceiptHandle
				}
				continue
			}
			empty = 0
			if !move(m) {
				handled[id] = len(release)
				release = append(release, sqstypes.ChangeMessageVisibilityBatchRequestEntry{
					Id: aws.String(strconv.Itoa(len(release))), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
				})
				kept++
				continue
			}
			handled[id] = -1
			entry := sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(len(send))), MessageBody: m.Body, MessageAttributes: m.MessageAttributes}
			if trace, ok := m.Attributes["AWSTraceHeader"]; ok {
				entry.MessageSystemAttributes = map[string]sqstypes.MessageSystemAttributeValue{
					"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String(trace)},
				}
			}
			if strings.HasSuffix(to, ".fifo") {
				entry.MessageGroupId, entry.MessageDeduplicationId = redriveIDs(m)
			}
			receipts[*entry.Id] = m.ReceiptHandle
			send = append(send, entry)
		}
		if len(send) == 0 {
			continue
		}
		sent, err := client.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(to), Entries: send})
		if err != nil {
			return moved, kept, err
		}
		if len(sent.Failed) > 0 {
			// Not sent: they reappear in OrderDLQ when the receive's
			// visibility timeout ends.
			return moved, kept, fmt.Errorf("%d messages could not be sent and stay in OrderDLQ: %s: %s", len(sent.Failed), aws.ToString(sent.Failed[0].Code), aws.ToString(sent.Failed[0].Message))
		}
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for _, ok := range sent.Successful {
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: ok.Id, ReceiptHandle: receipts[aws.ToString(ok.Id)]})
		}
		deleted, err := client.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(from), Entries: del})
		if err != nil {
			return moved, kept, fmt.Errorf("%d messages were sent but not deleted from OrderDLQ, so they will be there twice: %w", len(del), err)
		}
		if len(deleted.Failed) > 0 {
			return moved + len(deleted.Successful), kept, fmt.Errorf("%d messages were sent but not deleted from OrderDLQ, so they will be there twice: %s", len(deleted.Failed), aws.ToString(deleted.Failed[0].Message))
		}
		moved += len(del)
		prog.add(len(del))
	}
	return moved, kept, nil
}

// redriveIDs are the MessageGroupId and MessageDeduplicationId of a dead
// letter sent back to a FIFO queue: its own group (an order's, for one SQS
// moved after maxReceiveCount receives, so that it rejoins its order), and
// a deduplication id of this receive of it. Not its old deduplication id:
// the queue still holds that one for 5 minutes after the first send, and
// would take the redriven message as a duplicate, answer success and drop
// it, while it is deleted from the dead-letter queue. A send retried after
// a lost answer reuses the receive's id, so it is not enqueued twice.
func redriveIDs(m sqstypes.Message) (group, dedup *string) {
	g := m.Attributes["MessageGroupId"]
	if g == "" {
		g = aws.ToString(m.MessageId)
	}
	sum := sha256.Sum256([]byte(aws.ToString(m.MessageId) + "\x00" + aws.ToString(m.ReceiptHandle)))
	return aws.String(g), aws.String(hex.EncodeToString(sum[:]))
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

// lastPurgeTag is the OrderDLQ tag in which purge records when it last
// purged the queue (RFC 3339), so that a second purge within SQS's minute is
// refused before asking; it works the same on AWS.
const lastPurgeTag = "orderflow:lastPurge"

// purgeInterval is how often SQS allows a queue to be purged.
const purgeInterval = 60 * time.Second

func dlqPurgeCommand(e *env, tf *targetFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete every message in OrderDLQ, after asking",
		Long: `purge deletes every message in OrderDLQ (PurgeQueue), after asking: the
answer is read from stdin, typed or piped (echo yes | orderflow dlq purge);
with no answer it refuses, and --yes does not ask.

SQS allows one purge of a queue a minute. purge records the time of each
purge it makes in OrderDLQ's tag ` + lastPurgeTag + `, and refuses a second one
within the minute before asking; a purge by another client is caught when SQS
refuses it (PurgeQueueInProgress).`,
		Example: "  orderflow dlq purge\n  echo yes | orderflow dlq purge\n  orderflow dlq purge --yes",
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
			// Without permission to read the tags, SQS's own refusal
			// below still tells.
			if tags, err := client.ListQueueTags(ctx, &awssqs.ListQueueTagsInput{QueueUrl: aws.String(res.DLQURL)}); err == nil {
				if last, err := time.Parse(time.RFC3339, tags.Tags[lastPurgeTag]); err == nil {
					if ago := time.Since(last); ago >= 0 && ago < purgeInterval {
						agoS := int(ago / time.Second)
						return fmt.Errorf("OrderDLQ was purged %d s ago; SQS allows one purge a minute: try again in %d s", agoS, int(purgeInterval/time.Second)-agoS)
					}
				}
			}
			if !yes {
				ok, err := confirm(e, fmt.Sprintf("Delete all %d messages in OrderDLQ at %s for good?", n, t.where()))
				switch {
				case errors.Is(err, errNoAnswer):
					return errors.New("no answer on stdin, so nothing was deleted: pass --yes to purge without asking")
				case err != nil:
					return err
				case !ok:
					return errors.New("purge cancelled; nothing was deleted")
				}
			}
			if _, err := client.PurgeQueue(ctx, &awssqs.PurgeQueueInput{QueueUrl: aws.String(res.DLQURL)}); err != nil {
				var inProgress *sqstypes.PurgeQueueInProgress
				if errors.As(err, &inProgress) {
					code, _, _ := apiError(err)
					return fmt.Errorf("OrderDLQ was purged less than a minute ago, perhaps by another client (%s); SQS allows one purge a minute: try again in a minute", code)
				}
				return t.explain("purge OrderDLQ", err)
			}
			fmt.Fprintf(e.stdout, "Purged OrderDLQ (%s).\n", plural(n, "message"))
			if _, err := client.TagQueue(ctx, &awssqs.TagQueueInput{QueueUrl: aws.String(res.DLQURL),
				Tags: map[string]string{lastPurgeTag: time.Now().UTC().Format(time.RFC3339)}}); err != nil {
				fmt.Fprintf(e.stderr, "orderflow: note: %v, so a purge within the minute will be refused only by SQS\n", t.explain("record the purge's time in OrderDLQ's tags", err))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask")
	return cmd
}

// errNoAnswer is a confirmation whose stdin ended before an answer.
var errNoAnswer = errors.New("no answer")

// confirm asks question on stderr and reads one line from stdin as the
// answer, typed on a terminal or piped: y or yes (any case) confirms,
// anything else declines, and an end of input before any answer is
// errNoAnswer.
func confirm(e *env, question string) (bool, error) {
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	answer, err := bufio.NewReader(e.stdin).ReadString('\n')
	if !readerIsTerminal(e.stdin) {
		// A piped answer is not echoed: end the prompt's line.
		fmt.Fprintln(e.stderr)
	}
	if err != nil && strings.TrimSpace(answer) == "" {
		return false, errNoAnswer
	}
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes", nil
}

// readerIsTerminal reports whether r is a terminal.
func readerIsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// queueURLOf finds the URL of the queue with the given ARN.
func queueURLOf(ctx context.Context, client *awssqs.Client, queueArn string) (string, error) {
	parsed, err := arn.Parse(queueArn)
	if err != nil {
		return "", fmt.Errorf("%q is not a queue ARN: %w", queueArn, err)
	}
	in := &awssqs.GetQueueUrlInput{QueueName: aws.String(parsed.Resource)}
	if parsed.AccountID != "" {
		in.QueueOwnerAWSAccountId = aws.String(parsed.AccountID)
	}
	out, err := client.GetQueueUrl(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.QueueUrl), nil
}

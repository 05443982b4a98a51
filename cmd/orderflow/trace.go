package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslogs "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/dynamodb"
)

func traceCommand(e *env, tf *targetFlags) *cobra.Command {
	var (
		asJSON, follow bool
		since          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "trace ORDER-ID",
		Short: "Tell an order's story: every event of it the function saw, its dead letters, and what Orders holds",
		Long: `trace tells what happened to one order, in time order: each event of the
order the function saw (from its log lines in CloudWatch Logs: message id,
receive count, outcome stored/duplicate/stale/invalid/failed, reason,
duration, the event's status, timestamp and version), the order's dead
letters now in OrderDLQ, and the item Orders holds, marking the event that
won. It uses the public APIs only (CloudWatch Logs, SQS, DynamoDB), so it
works the same locally and on AWS.`,
		Example: `  orderflow trace O1234
  orderflow trace O1234 --json
  orderflow trace BAD-7-000001 --since 24h
  orderflow trace O1234 --follow`,
		Args: exactArgs(1, "give one order id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if since <= 0 {
				return usageError{errors.New("--since must be positive")}
			}
			if asJSON && follow {
				return usageError{errors.New("--json and --follow exclude each other")}
			}
			id := args[0]
			if id == "" {
				return usageError{errors.New("give one order id")}
			}
			ctx := cmd.Context()
			t, res, err := resolveAll(ctx, e, tf)
			if err != nil {
				return err
			}
			tr := &tracer{t: t, res: res, id: id, start: time.Now().Add(-since).UnixMilli(), seen: map[string]bool{},
				logs: awslogs.NewFromConfig(t.cfg), sqs: awssqs.NewFromConfig(t.cfg), ddb: awsddb.NewFromConfig(t.cfg)}
			story, err := tr.read(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, story)
			}
			story.print(e.stdout, res)
			if !follow {
				return nil
			}
			return tr.follow(ctx, e.stdout, story)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the story as JSON")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing the order's new events until interrupted")
	cmd.Flags().DurationVar(&since, "since", 24*time.Hour, "read the function's log lines from this far back")
	return cmd
}

// orderEvent is one event of an order as the function logged it.
type orderEvent struct {
	Time         time.Time `json:"time"`
	Outcome      string    `json:"outcome"`
	MessageID    string    `json:"messageId"`
	ReceiveCount int       `json:"receiveCount"`
	Status       string    `json:"status,omitempty"`
	Timestamp    string    `json:"timestamp,omitempty"`
	Version      string    `json:"version,omitempty"`
	DurationMs   float64   `json:"durationMs"`
	ErrorCode    string    `json:"errorCode,omitempty"`
	Error        string    `json:"error,omitempty"`
	SNSMessageID string    `json:"snsMessageId,omitempty"`
	// Won marks the event whose version Orders holds.
	Won bool `json:"won"`
}

// storedItem is what Orders holds of the order.
type storedItem struct {
	Status    string `json:"status"`
	Timestamp string `json:"timestamp"`
	Version   string `json:"version"`
	UserID    string `json:"userId"`
	ItemName  string `json:"itemName"`
	Quantity  int    `json:"quantity"`
}

// orderStory is what trace prints.
type orderStory struct {
	OrderID     string           `json:"orderId"`
	Events      []orderEvent     `json:"events"`
	DeadLetters []deadLetterView `json:"deadLetters"`
	Item        *storedItem      `json:"item"`
	// DLQNotRead says why the dead letters could not all be read, if so.
	DLQNotRead string `json:"dlqNotRead,omitempty"`
}

type tracer struct {
	t     *target
	res   resources
	id    string
	start int64           // ms: the log lines are read from here
	seen  map[string]bool // log event ids already read
	logs  *awslogs.Client
	sqs   *awssqs.Client
	ddb   *awsddb.Client
}

// traceDLQMax bounds how many dead letters trace reads to find the order's.
const traceDLQMax = 1000

// read reads the whole story: the log lines since t.start, the DLQ and the
// item.
func (tr *tracer) read(ctx context.Context) (*orderStory, error) {
	s := &orderStory{OrderID: tr.id, Events: []orderEvent{}, DeadLetters: []deadLetterView{}}
	evs, err := tr.newEvents(ctx)
	if err != nil {
		return nil, err
	}
	s.Events = append(s.Events, evs...)
	if s.Item, err = tr.item(ctx); err != nil {
		return nil, err
	}
	st, err := readDLQState(ctx, tr.sqs, tr.res.DLQURL)
	if err != nil {
		return nil, tr.t.explain("read the dead-letter queue", err)
	}
	if st.Visible > 0 {
		views, err := peekDLQ(ctx, tr.sqs, tr.res.DLQURL, traceDLQMax, st.Visible)
		if err != nil {
			return nil, tr.t.explain("read the dead-letter queue", err)
		}
		for _, v := range views {
			if v.OrderID == tr.id {
				s.DeadLetters = append(s.DeadLetters, v)
			}
		}
		if st.Visible > traceDLQMax {
			s.DLQNotRead = fmt.Sprintf("only the first %d of about %d dead letters were read", traceDLQMax, st.Visible)
		}
	}
	if st.InFlight > 0 && s.DLQNotRead == "" {
		s.DLQNotRead = fmt.Sprintf("%s in flight in the dead-letter queue could not be read", plural(st.InFlight, "message"))
	}
	s.markWinner()
	return s, nil
}

// deadLettered says whether one of the story's dead letters is ev's: the
// function's own dead letter names the message it came from, and SQS
// moves a message into the DLQ with its id.
func (s *orderStory) deadLettered(ev orderEvent) bool {
	for _, d := range s.DeadLetters {
		if ev.MessageID != "" && (d.OriginalMessageID == ev.MessageID || d.MessageID == ev.MessageID) {
			return true
		}
	}
	return false
}

// newEvents reads the order's log lines not read yet, in time order.
func (tr *tracer) newEvents(ctx context.Context) ([]orderEvent, error) {
	in := &awslogs.FilterLogEventsInput{LogGroupName: aws.String(tr.res.LogGroup), StartTime: aws.Int64(tr.start)}
	// A quoted phrase narrows the search on the service's side; the lines
	// are then matched exactly here. An id a phrase cannot hold is matched
	// here only.
	if !strings.ContainsAny(tr.id, "\"\\") {
		in.FilterPattern = aws.String(`"` + tr.id + `"`)
	}
	var out []orderEvent
	p := awslogs.NewFilterLogEventsPaginator(tr.logs, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		var noGroup *logstypes.ResourceNotFoundException
		if errors.As(err, &noGroup) {
			return nil, nil // no line yet: the function creates its group when it first runs
		}
		if err != nil {
			return nil, tr.t.explain("read log group "+tr.res.LogGroup, err)
		}
		for _, le := range page.Events {
			id := aws.ToString(le.EventId)
			if tr.seen[id] {
				continue
			}
			tr.seen[id] = true
			if ev, ok := parseOrderLine(aws.ToString(le.Message), tr.id); ok {
				ev.Time = time.UnixMilli(aws.ToInt64(le.Timestamp)).UTC()
				out = append(out, ev)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b orderEvent) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// parseOrderLine reads one of the function's per-record JSON lines, if it
// is one about order id.
func parseOrderLine(line, id string) (orderEvent, bool) {
	start := strings.IndexByte(line, '{')
	if start < 0 {
		return orderEvent{}, false
	}
	var l struct {
		OrderID      string  `json:"orderId"`
		Outcome      string  `json:"outcome"`
		MessageID    string  `json:"messageId"`
		ReceiveCount string  `json:"receiveCount"`
		Status       string  `json:"status"`
		Timestamp    string  `json:"timestamp"`
		Version      string  `json:"version"`
		DurationMs   float64 `json:"durationMs"`
		ErrorCode    string  `json:"errorCode"`
		Error        string  `json:"error"`
		SNSMessageID string  `json:"snsMessageId"`
	}
	if json.Unmarshal([]byte(line[start:]), &l) != nil || l.OrderID != id || l.Outcome == "" {
		return orderEvent{}, false
	}
	n, _ := strconv.Atoi(l.ReceiveCount)
	return orderEvent{Outcome: l.Outcome, MessageID: l.MessageID, ReceiveCount: n, Status: l.Status, Timestamp: l.Timestamp,
		Version: l.Version, DurationMs: l.DurationMs, ErrorCode: l.ErrorCode, Error: l.Error, SNSMessageID: l.SNSMessageID}, true
}

// item reads what Orders holds of the order; nil if nothing.
func (tr *tracer) item(ctx context.Context) (*storedItem, error) {
	out, err := tr.ddb.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String(tr.res.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{dynamodb.AttrOrderID: &ddbtypes.AttributeValueMemberS{Value: tr.id}}})
	if err != nil {
		return nil, tr.t.explain("read order "+tr.id, err)
	}
	if out.Item == nil {
		return nil, nil
	}
	o, err := dynamodb.OrderFromItem(out.Item)
	if err != nil {
		return nil, fmt.Errorf("%s holds an item for order %s that is not an order: %w", tr.res.Table, tr.id, err)
	}
	v, _ := out.Item[dynamodb.AttrVersion].(*ddbtypes.AttributeValueMemberS)
	it := &storedItem{Status: string(o.Status), Timestamp: o.TimestampString(), UserID: o.UserID, ItemName: o.ItemName, Quantity: o.Quantity}
	if v != nil {
		it.Version = v.Value
	}
	return it, nil
}

// markWinner marks the first stored event whose version Orders holds.
func (s *orderStory) markWinner() {
	for i := range s.Events {
		s.Events[i].Won = false
	}
	if s.Item == nil || s.Item.Version == "" {
		return
	}
	for i, ev := range s.Events {
		if ev.Outcome == "stored" && ev.Version == s.Item.Version {
			s.Events[i].Won = true
			return
		}
	}
}

// note is the last column of an event's row.
func (ev orderEvent) note() string {
	switch {
	case ev.Won:
		return "← in Orders now"
	case ev.Outcome == "duplicate":
		return "the same event again: nothing written"
	case ev.Outcome == "stale":
		return "older than what Orders held: nothing written"
	case ev.ErrorCode != "" && ev.Error != "":
		return ev.ErrorCode + ": " + ev.Error
	case ev.Error != "":
		return ev.Error
	case ev.Outcome == "stored":
		return "stored; a newer event replaced it since"
	}
	return ""
}

func (s *orderStory) print(w io.Writer, res resources) {
	fmt.Fprintf(w, "Order %s: %s.\n", s.OrderID, s.summary(res))
	if len(s.Events) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME (UTC)\tOUTCOME\tSTATUS\tEVENT TIME\tRECEIVES\tMESSAGE\tDURATION\tNOTE")
		for _, ev := range s.Events {
			ev.row(tw, s.deadLettered(ev))
		}
		tw.Flush()
	}
	if len(s.DeadLetters) > 0 {
		fmt.Fprintf(w, "\nIn %s now:\n", queueName(res.DLQURL))
		for _, d := range s.DeadLetters {
			fmt.Fprintf(w, "  message %s since %s, after %s: %s: %s\n", d.MessageID, orDash(d.SentAt), plural(d.ReceiveCount, "receive"), d.Code, d.Reason)
		}
	}
	if s.DLQNotRead != "" {
		fmt.Fprintf(w, "Not all dead letters were read: %s.\n", s.DLQNotRead)
	}
}

func (ev orderEvent) row(w io.Writer, deadLettered bool) {
	note := ev.note()
	if deadLettered {
		note = "in the DLQ now: " + note
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%.1f ms\t%s\n", ev.Time.Format("2006-01-02 15:04:05.000"), ev.Outcome, orDash(ev.Status),
		orDash(ev.Timestamp), ev.ReceiveCount, orDash(ev.MessageID), ev.DurationMs, note)
}

func (s *orderStory) summary(res resources) string {
	var parts []string
	if n := len(s.Events); n == 0 {
		parts = append(parts, "no event of it in "+res.LogGroup)
	} else {
		parts = append(parts, plural(n, "event")+" seen by "+res.Function)
	}
	if n := len(s.DeadLetters); n > 0 {
		parts = append(parts, fmt.Sprintf("%d in %s", n, queueName(res.DLQURL)))
	}
	if s.Item == nil {
		parts = append(parts, res.Table+" holds nothing of it")
	} else {
		parts = append(parts, fmt.Sprintf("%s holds status %s of %s", res.Table, s.Item.Status, s.Item.Timestamp))
	}
	return strings.Join(parts, "; ")
}

// follow polls for the order's new events and a change in what Orders
// holds, printing each, until ctx ends.
func (tr *tracer) follow(ctx context.Context, w io.Writer, s *orderStory) error {
	fmt.Fprintln(w, "\nFollowing; Ctrl-C stops.")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		evs, err := tr.newEvents(ctx)
		if err == nil {
			var it *storedItem
			if it, err = tr.item(ctx); err == nil {
				before := s.Item
				s.Events = append(s.Events, evs...)
				s.Item = it
				s.markWinner()
				for _, ev := range s.Events[len(s.Events)-len(evs):] {
					ev.row(tw, false)
				}
				tw.Flush()
				if it != nil && (before == nil || before.Version != it.Version) {
					fmt.Fprintf(w, "%s now holds status %s of %s.\n", tr.res.Table, it.Status, it.Timestamp)
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted
			}
			return err
		}
	}
}

// queueName is the last part of a queue URL.
func queueName(url string) string { return url[strings.LastIndexByte(url, '/')+1:] }

// Package reliability checks the pipeline's promise — no order lost or
// corrupted, whatever fails — against a real deployment: it publishes order
// events and afterwards classifies every order as stored, dead-lettered,
// awaiting a redrive, lost, duplicated or unexpected by reading the Orders
// table and OrderDLQ.
// Its tests (reliability_test.go) run the pipeline on the embedded cloud
// under injected faults and kill -9; the checker works on AWS too.
package reliability

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/dynamodb"
	"github.com/orderflow/orderflow/handler"
	"github.com/orderflow/orderflow/internal/fifoplan"
	"github.com/orderflow/orderflow/sqs"
)

// Expect is what the table and the DLQ must hold.
type Expect struct {
	// Final maps each valid order to its newest event.
	Final map[string]orderflow.Order
	// Invalid lists the orders whose events are invalid.
	Invalid []string
	// Maybe lists orders whose publishing was never acknowledged (the
	// publisher or the endpoint died mid-request): they may be stored or
	// dead-lettered, or not, but never both or twice.
	Maybe map[string]bool
}

// Targets are the resources the checker reads.
type Targets struct {
	Table, QueueURL, DLQURL string
}

// Report classifies every order.
type Report struct {
	Stored       int // valid orders whose item is their newest event, not dead-lettered
	DeadLettered int // invalid orders in the DLQ with a reason, not stored
	// The problems, by order id.
	Lost       []string // expected, but neither stored nor dead-lettered
	Duplicated []string // both stored and dead-lettered with a reason
	Unexpected []string // stored with the wrong content, dead-lettered with a reason though valid, stored though invalid, or not expected at all
	// AwaitingRedrive lists orders whose events are in the DLQ only as SQS
	// moves them after maxReceiveCount receives (or SNS after a failed
	// delivery): without the function's reason. Not lost, but not done
	// either until an operator moves them back (`orderflow dlq redrive`).
	AwaitingRedrive []string
	// DLQCopies counts dead-lettered events found more than once (an invalid
	// event delivered again by SQS is dead-lettered again: at-least-once).
	DLQCopies int
	// QueueLeft is what OrderQueue still holds (visible, in flight, delayed).
	QueueLeft int
	// FailedReceives counts the checker's receives of the DLQ that failed
	// (their answer lost) and whose messages it waited for.
	FailedReceives int
	// Problems explains each problem in a sentence.
	Problems []string
}

// OK reports whether nothing was lost, duplicated, unexpected or awaiting
// a redrive, and the queue is drained.
func (r Report) OK() bool {
	return len(r.Lost) == 0 && len(r.Duplicated) == 0 && len(r.Unexpected) == 0 && len(r.AwaitingRedrive) == 0 && r.QueueLeft == 0
}

func (r Report) String() string {
	s := fmt.Sprintf("stored %d, dead-lettered %d, lost %d, duplicated %d, unexpected %d, awaiting redrive %d, DLQ copies %d, left in queue %d",
		r.Stored, r.DeadLettered, len(r.Lost), len(r.Duplicated), len(r.Unexpected), len(r.AwaitingRedrive), r.DLQCopies, r.QueueLeft)
	if r.FailedReceives > 0 {
		s += fmt.Sprintf(" (%d failed receives of the DLQ waited out)", r.FailedReceives)
	}
	for i, p := range r.Problems {
		if i == 10 {
			s += fmt.Sprintf("\n  … and %d more", len(r.Problems)-i)
			break
		}
		s += "\n  " + p
	}
	return s
}

// Check reads the table and the DLQ and classifies every order. It leaves
// the DLQ's messages in place.
func Check(ctx context.Context, cfg aws.Config, t Targets, want Expect) (Report, error) {
	items, err := scanOrders(ctx, awsddb.NewFromConfig(cfg), t.Table)
	if err != nil {
		return Report{}, err
	}
	sqsClient := awssqs.NewFromConfig(cfg)
	dead, failed, err := readDLQ(ctx, sqsClient, t.DLQURL)
	if err != nil {
		return Report{}, err
	}
	r := Report{FailedReceives: failed}
	if r.QueueLeft, err = depth(ctx, sqsClient, t.QueueURL); err != nil {
		return r, err
	}
	problem := func(list *[]string, id, format string, args ...any) {
		*list = append(*list, id)
		r.Problems = append(r.Problems, id+": "+fmt.Sprintf(format, args...))
	}
	invalid := map[string]bool{}
	for _, id := range want.Invalid {
		invalid[id] = true
	}
	for id, final := range want.Final {
		item, stored := items[id]
		dl := dead[id]
		reason, reasoned := withReason(dl)
		switch {
		case stored && item != final:
			problem(&r.Unexpected, id, "stored as %+v, want its newest event %+v", item, final)
		case reasoned && stored:
			problem(&r.Duplicated, id, "stored and also dead-lettered (%s %s)", reason.Code, reason.Reason)
		case reasoned:
			problem(&r.Unexpected, id, "valid but dead-lettered: %s %s", reason.Code, reason.Reason)
		case len(dl) > 0 && stored:
			problem(&r.AwaitingRedrive, id, "stored, and a copy is in the DLQ without a reason")
		case len(dl) > 0:
			problem(&r.AwaitingRedrive, id, "not stored: in the DLQ without a reason")
		case stored:
			r.Stored++
		default:
			problem(&r.Lost, id, "neither stored nor dead-lettered")
		}
	}
	for _, id := range want.Invalid {
		_, stored := items[id]
		dl := dead[id]
		_, reasoned := withReason(dl)
		switch {
		case stored:
			problem(&r.Unexpected, id, "invalid but stored")
		case len(dl) == 0:
			problem(&r.Lost, id, "invalid but not in the DLQ")
		case !reasoned:
			problem(&r.AwaitingRedrive, id, "invalid, but in the DLQ without a reason")
		default:
			r.DeadLettered++
			r.DLQCopies += len(dl) - 1
		}
	}
	for id := range items {
		if _, ok := want.Final[id]; !ok && !invalid[id] {
			_, reasoned := withReason(dead[id])
			switch {
			case !want.Maybe[id]:
				problem(&r.Unexpected, id, "stored but never published")
			case reasoned:
				problem(&r.Duplicated, id, "stored and also dead-lettered")
			case len(dead[id]) > 0:
				problem(&r.AwaitingRedrive, id, "stored, and a copy is in the DLQ without a reason")
			}
		}
	}
	for id, dl := range dead {
		if _, ok := want.Final[id]; !ok && !invalid[id] {
			_, stored := items[id]
			_, reasoned := withReason(dl)
			switch {
			case !want.Maybe[id]:
				problem(&r.Unexpected, id, "dead-lettered but never published")
			case !stored && !reasoned:
				problem(&r.AwaitingRedrive, id, "not stored: in the DLQ without a reason")
			default:
				r.DLQCopies += len(dl) - 1
			}
		}
	}
	slices.Sort(r.Lost)
	slices.Sort(r.Duplicated)
	slices.Sort(r.Unexpected)
	slices.Sort(r.AwaitingRedrive)
	return r, nil
}

// withReason returns a dead letter of dls that carries the function's
// reason, if one does.
func withReason(dls []orderflow.DeadLetter) (orderflow.DeadLetter, bool) {
	for _, dl := range dls {
		if dl.Code != "" && dl.Reason != "" {
			return dl, true
		}
	}
	return orderflow.DeadLetter{}, false
}

func scanOrders(ctx context.Context, client *awsddb.Client, table string) (map[string]orderflow.Order, error) {
	out := map[string]orderflow.Order{}
	var start map[string]ddbtypes.AttributeValue
	for {
		page, err := client.Scan(ctx, &awsddb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("reliability: scan %s: %w", table, err)
		}
		for _, it := range page.Items {
			o, err := dynamodb.OrderFromItem(it)
			if err != nil {
				return nil, fmt.Errorf("reliability: an item of %s is not an order: %w", table, err)
			}
			out[o.OrderID] = o
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// dlqVisibility is how long readDLQ hides the messages it receives, in
// seconds. It must outlast a read of the whole DLQ (a message seen again is
// not counted twice, but the read lasts longer), and it is how long a
// receive whose answer was lost hides its messages: a read that has to wait
// for them waits about that long. Tests shorten it.
var dlqVisibility int32 = 20

// dlqMaxFailures is how many failed receives a read of the DLQ survives.
const dlqMaxFailures = 5

// dlqReadLimit bounds a read of the DLQ that keeps finding fewer messages
// than the DLQ holds.
const dlqReadLimit = 2 * time.Minute

// readDLQ reads every message of the DLQ, grouped by order id, then makes
// them visible again.
//
// ReceiveMessage is not idempotent: an attempt whose answer is lost (a
// client without internal/ownbody meets it under load: status 200, then
// reading the body fails on a connection the SDK's transport closed, see
// aws/aws-sdk-go-v2#2737) has taken its messages and hidden them, and the SDK's retry
// receives others. So readDLQ counts the DLQ's messages first, makes each
// receive once, without the SDK's retries, and reads until it has seen that
// many distinct messages. After a failed receive it reads on until what that
// receive hid is visible again and received anew: those may be messages it
// has seen already, whose receipts it holds are stale then. A read that
// still comes up short is an error: a checker that cannot see the DLQ must
// not report its orders lost. failures counts the failed receives.
func readDLQ(ctx context.Context, client *awssqs.Client, url string) (_ map[string][]orderflow.DeadLetter, failures int, err error) {
	want, hidden, err := queueCounts(ctx, client, url)
	if err != nil {
		return nil, 0, err
	}
	want += hidden
	var release []sqstypes.ChangeMessageVisibilityBatchRequestEntry
	seen := map[string]int{} // message id → its entry in release
	defer func() {
		// Release what was read even if the read failed.
		for i := 0; i < len(release); i += 10 {
			out, rerr := client.ChangeMessageVisibilityBatch(context.WithoutCancel(ctx), &awssqs.ChangeMessageVisibilityBatchInput{
				QueueUrl: aws.String(url), Entries: release[i:min(i+10, len(release))]})
			if rerr == nil {
				// A message no longer in flight is visible already (AWS
				// answers so to a retried change whose answer was lost).
				out.Failed = slices.DeleteFunc(out.Failed, func(f sqstypes.BatchResultErrorEntry) bool { return aws.ToString(f.Code) == "MessageNotInflight" })
				if len(out.Failed) > 0 {
					rerr = fmt.Errorf("%d stay hidden for %d s: %s", len(out.Failed), dlqVisibility, aws.ToString(out.Failed[0].Message))
				}
			}
			if rerr != nil && err == nil {
				err = fmt.Errorf("reliability: make the DLQ's messages visible again: %w", rerr)
			}
		}
	}()
	// Messages in flight when the read began, or hidden by a failed receive,
	// are visible again by waitUntil, if it was this checker that hid them.
	waitUntil := time.Time{}
	if hidden > 0 {
		waitUntil = time.Now().Add(time.Duration(dlqVisibility+1) * time.Second)
	}
	// Until failedUntil the read goes on even when it has seen every
	// message: a failed receive may have taken messages it had seen already
	// (back in view after dlqVisibility), whose receipts it holds are stale
	// now; it must receive them again to release them.
	failedUntil := time.Time{}
	once := func(o *awssqs.Options) { o.RetryMaxAttempts = 1 }
	out := map[string][]orderflow.DeadLetter{}
	// A receive may return fewer messages than are there, even none (SQS
	// samples its servers): the read ends after two empty receives in a row
	// once every counted message has been seen.
	limit := time.Now().Add(dlqReadLimit)
	for empty := 0; empty < 2 || len(seen) < want || time.Now().Before(failedUntil); {
		if time.Now().After(limit) {
			return nil, failures, fmt.Errorf("reliability: read the DLQ: %d of its %d messages seen after %s", len(seen), want, dlqReadLimit)
		}
		if len(seen) < want && empty >= 2 && time.Now().After(waitUntil) {
			// Count again: on AWS the first count is approximate.
			visible, inFlight, err := queueCounts(ctx, client, url)
			if err != nil {
				return nil, failures, err
			}
			if visible+inFlight <= len(seen) {
				break
			}
			if visible == 0 {
				return nil, failures, fmt.Errorf("reliability: read %d of the DLQ's %d messages: the rest stayed hidden or unseen (now %d visible, %d in flight)", len(seen), want, visible, inFlight)
			}
			empty = 0 // some are visible: read on
		}
		page, err := client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: dlqVisibility,
			MessageAttributeNames: []string{"All"},
		}, once)
		if err != nil {
			if failures++; failures > dlqMaxFailures || ctx.Err() != nil {
				return nil, failures, fmt.Errorf("reliability: read the DLQ: %w", err)
			}
			// Its messages may be hidden: read until they are back.
			waitUntil = time.Now().Add(time.Duration(dlqVisibility+1) * time.Second)
			failedUntil = waitUntil.Add(time.Second)
			empty = 0
			continue
		}
		if len(page.Messages) == 0 {
			empty++
			continue
		}
		empty = 0
		for _, m := range page.Messages {
			id := aws.ToString(m.MessageId)
			if i, ok := seen[id]; ok {
				release[i].ReceiptHandle = m.ReceiptHandle // the newest receipt releases it
				continue
			}
			seen[id] = len(release)
			release = append(release, sqstypes.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(len(release))), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
			body := aws.ToString(m.Body)
			dl, _ := sqs.FromAttributes(body, m.MessageAttributes)
			oid := handler.OrderIDOf(body)
			out[oid] = append(out[oid], dl)
		}
	}
	return out, failures, nil
}

// queueCounts returns how many messages a queue holds visible, and how many
// in flight or delayed.
func queueCounts(ctx context.Context, client *awssqs.Client, url string) (visible, hidden int, err error) {
	out, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
		"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"}})
	if err != nil {
		return 0, 0, fmt.Errorf("reliability: count the messages of %s: %w", url, err)
	}
	for k, v := range out.Attributes {
		n, _ := strconv.Atoi(v)
		if k == "ApproximateNumberOfMessages" {
			visible += n
		} else {
			hidden += n
		}
	}
	return visible, hidden, nil
}

func depth(ctx context.Context, client *awssqs.Client, url string) (int, error) {
	visible, hidden, err := queueCounts(ctx, client, url)
	return visible + hidden, err
}

// Drain waits until the queue has held nothing (visible, in flight or
// delayed) at two checks a quarter second apart, or until limit passes.
func Drain(ctx context.Context, cfg aws.Config, queueURL string, limit time.Duration) error {
	client := awssqs.NewFromConfig(cfg)
	deadline := time.Now().Add(limit)
	for calm := 0; calm < 2; {
		n, err := depth(ctx, client, queueURL)
		if err != nil {
			return err
		}
		if n == 0 {
			calm++
		} else {
			calm = 0
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("reliability: the queue still holds %d messages after %s", n, limit)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return nil
}

// Publish publishes bodies to the topic with PublishBatch from workers
// goroutines and returns which were acknowledged (by index). To a FIFO
// topic (a name ending in .fifo) each entry carries its order's group
// (orderflow.GroupKey) and each order's events are published in their
// order (package fifoplan).
func Publish(ctx context.Context, cfg aws.Config, topic string, bodies []string, workers int) ([]bool, error) {
	client := awssns.NewFromConfig(cfg)
	acked := make([]bool, len(bodies))
	fifo := strings.HasSuffix(topic, ".fifo")
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	send := func(batch []int) {
		entries := make([]snstypes.PublishBatchRequestEntry, 0, len(batch))
		for _, i := range batch {
			e := snstypes.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), Message: aws.String(bodies[i])}
			if fifo {
				e.MessageGroupId = aws.String(orderflow.GroupKey([]byte(bodies[i])))
			}
			entries = append(entries, e)
		}
		out, err := client.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: entries})
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if first == nil {
				first = err
			}
			return
		}
		for _, s := range out.Successful {
			i, _ := strconv.Atoi(aws.ToString(s.Id))
			acked[i] = true
		}
		if len(out.Failed) > 0 && first == nil {
			first = fmt.Errorf("reliability: %d entries failed, e.g. %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
	}
	if fifo {
		for _, share := range fifoplan.Shares(len(bodies), func(i int) string { return bodies[i] }, workers) {
			wg.Go(func() {
				for _, batch := range share {
					send(batch)
				}
			})
		}
	} else {
		next := make(chan []int)
		for range max(1, workers) {
			wg.Go(func() {
				for batch := range next {
					send(batch)
				}
			})
		}
		for start := 0; start < len(bodies); start += fifoplan.BatchSize {
			batch := make([]int, 0, fifoplan.BatchSize)
			for i := start; i < min(start+fifoplan.BatchSize, len(bodies)); i++ {
				batch = append(batch, i)
			}
			next <- batch
		}
		close(next)
	}
	wg.Wait()
	if first != nil {
		return acked, fmt.Errorf("reliability: publish: %w", first)
	}
	return acked, nil
}

// Outcomes counts the function's outcome lines ("outcome":"stored" …) in
// its log stream; it is an io.Writer for the function host's logs.
type Outcomes struct {
	mu          sync.Mutex
	counts      map[string]int
	byOrder     map[string][]string
	versions    map[string][]string // by order, the versions of its valid events in log order
	redelivered int
	partial     string
}

// NewOutcomes returns an empty counter.
func NewOutcomes() *Outcomes {
	return &Outcomes{counts: map[string]int{}, byOrder: map[string][]string{}, versions: map[string][]string{}}
}

func (o *Outcomes) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	data := o.partial + string(p)
	lines := strings.Split(data, "\n")
	o.partial = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		_, after, ok := strings.Cut(l, `"outcome":"`)
		if !ok {
			continue
		}
		outcome, _, _ := strings.Cut(after, `"`)
		o.counts[outcome]++
		if !strings.Contains(l, `"receiveCount":"1"`) {
			o.redelivered++
		}
		if _, rest, ok := strings.Cut(l, `"orderId":"`); ok {
			id, _, _ := strings.Cut(rest, `"`)
			o.byOrder[id] = append(o.byOrder[id], outcome)
			if _, rest, ok := strings.Cut(l, `"version":"`); ok {
				v, _, _ := strings.Cut(rest, `"`)
				o.versions[id] = append(o.versions[id], v)
			}
		}
	}
	return len(p), nil
}

// OutOfOrder lists the orders (sorted) one of whose events reached the
// function for the first time after a newer event of the same order had:
// what a FIFO pipeline must never do. Events met again (redeliveries after
// a failure, which FIFO queues replay in order from the first event not
// deleted) do not count; only first meetings must follow the events'
// order.
func (o *Outcomes) OutOfOrder() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return OutOfOrder(o.versions)
}

// OutOfOrder lists the orders (sorted) whose versions, in the order the
// function met them, meet some version for the first time after a newer
// one (order versions compare as strings: orderflow.Order.Version).
func OutOfOrder(versions map[string][]string) []string {
	var out []string
	for id, vs := range versions {
		seen := map[string]bool{}
		newest := ""
		for _, v := range vs {
			if seen[v] {
				continue
			}
			seen[v] = true
			if v < newest {
				out = append(out, id)
				break
			}
			newest = v
		}
	}
	slices.Sort(out)
	return out
}

// Counts returns the outcomes counted so far.
func (o *Outcomes) Counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]int, len(o.counts))
	for k, v := range o.counts {
		out[k] = v
	}
	return out
}

// Of returns one order's outcomes in the order they were logged.
func (o *Outcomes) Of(id string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.byOrder[id])
}

// Redelivered counts the records the function saw with a receive count
// above 1: deliveries after a failure, a crash or a slow handler.
func (o *Outcomes) Redelivered() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.redelivered
}

// Total counts all outcomes.
func (o *Outcomes) Total() int {
	n := 0
	for _, v := range o.Counts() {
		n += v
	}
	return n
}

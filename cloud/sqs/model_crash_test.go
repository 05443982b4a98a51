package sqs_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/internal/crashtest"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// TestRandomOperationsAgreeWithAModelThroughKillsAndRestarts drives SQS in
// a child process (on a data file and a fake clock the test moves) with
// random operations through the SDK and raw requests — sends single and in
// batches, receives with visibility timeouts, deletes, visibility changes,
// purges, requests with stray, duplicated or wrong-typed fields, clock
// moves past delays, visibility timeouts and retention — and checks every
// answer against a plain model of the queues. Between operations it stops
// the child cleanly, kills it (kill -9) between requests, or kills it in the
// middle of one; after each restart it checks the queues against the model:
// every acknowledged send is there unless acknowledged deleted, purged or
// expired, no acknowledged delete comes back, and no receive count goes
// backwards. Only the one request cut short by a kill may have happened or
// not, and what the queues show settles which.
//
// The default run is short; -crash.ops or -crash.duration run it longer.
func TestRandomOperationsAgreeWithAModelThroughKillsAndRestarts(t *testing.T) {
	slowtest.Skip(t, "random operations checked against a model through kill -9 of child processes")
	crashtest.EachSyncMode(t, testRandomOperationsAgreeWithAModelThroughKillsAndRestarts)
}

func testRandomOperationsAgreeWithAModelThroughKillsAndRestarts(t *testing.T, syncEvery time.Duration) {
	budget := crashtest.NewBudget(t, 500)
	p := crashtest.Start(t, crashtest.Options{Serve: serveSQSWith(syncEvery), Arg: t0.Format(time.RFC3339Nano)})
	h := &sqsHarness{t: t, p: p, r: rand.New(rand.NewPCG(budget.Seed, 0x5153)), now: t0}
	h.connect()
	h.setUp()
	ops := 0
	for ; budget.More(ops); ops++ {
		h.step()
		if t.Failed() {
			t.Fatalf("after %d operations (seed %d); the model's last operations:\n%s", ops+1, budget.Seed, h.history())
		}
		if h.now.After(t0.Add(300 * 24 * time.Hour)) {
			break // the queues' clock stays within a year of t0
		}
	}
	h.settle()
	t.Logf("%d steps: %d requests (%d raw, with stray, duplicated or wrong-typed fields: %d refused), %d clean restarts, %d kills between requests, %d kills during one, %d settles; model time %v",
		ops, h.requests, h.stray, h.strayRefused, h.stops, h.killsBetween, h.killsDuring, h.settles, h.now.Sub(t0))
	if h.killsDuring == 0 {
		t.Errorf("the run killed the child %d times during a request: too short to test anything", h.killsDuring)
	}
}

// queueVisibility is the queues' VisibilityTimeout.
const queueVisibility = 20 * time.Second

// mMsg is the model of one message.
type mMsg struct {
	id        string
	bodies    []string // what its body may be: one, once a receive showed it
	count     int
	sentAt    time.Time
	visibleAt time.Time // visible when not after now
	handle    string    // the latest receipt handle; "" before the first receive
	received  time.Time // when handle was issued
}

// mQueue is the model of one queue.
type mQueue struct {
	name      string
	retention time.Duration
	msgs      map[string]*mMsg
	gone      map[string]string // acknowledged gone: id → why
	lastPurge time.Time
	stale     []string // receipt handles that a later receive superseded, or whose message is gone
}

// uncertain is the request a kill cut short: it may have happened or not.
type uncertain struct {
	what  string
	q     *mQueue
	sends [][]string      // messages maybe sent, each with its possible bodies
	recv  int             // a receive of up to recv messages
	seen  map[string]bool // ... of messages visible then
	del   map[string]bool // messages maybe deleted
	purge []string        // messages maybe purged, all or none
	at    time.Time       // when
}

type sqsHarness struct {
	t      *testing.T
	p      *crashtest.Process
	r      *rand.Rand
	client *sqs.Client
	http   *http.Client
	now    time.Time
	queues []*mQueue
	bodies int
	maybe  *uncertain
	log    []string

	requests, stray, strayRefused, stops, killsBetween, killsDuring, settles int
}

// errCut is a request that got no answer: the child was killed under it.
var errCut = errors.New("no answer: the child is gone")

func (h *sqsHarness) logf(format string, args ...any) {
	line := fmt.Sprintf("%s "+format, append([]any{h.now.Sub(t0)}, args...)...)
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	h.log = append(h.log, strings.ReplaceAll(line, "\n", " "))
	if len(h.log) > 200 {
		h.log = h.log[len(h.log)-200:]
	}
}

func (h *sqsHarness) history() string { return strings.Join(h.log, "\n") }

// connect makes new clients for the running child: connections to a dead
// one are useless.
func (h *sqsHarness) connect() {
	h.client = crashClient(h.p.Endpoint())
	h.http = h.client.Options().HTTPClient.(*crashtest.HTTPClient).Client()
}

func (h *sqsHarness) url(q *mQueue) string { return h.p.Endpoint() + "/000000000000/" + q.name }

func (h *sqsHarness) setUp() {
	for i, retention := range []time.Duration{2 * time.Hour, 4 * 24 * time.Hour} {
		q := &mQueue{name: fmt.Sprint("q", i), retention: retention, msgs: map[string]*mMsg{}, gone: map[string]string{}}
		_, err := h.client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(q.name),
			Attributes: map[string]string{"MessageRetentionPeriod": fmt.Sprint(int(retention.Seconds())), "VisibilityTimeout": fmt.Sprint(int(queueVisibility.Seconds()))}})
		if err != nil {
			h.t.Fatal(err)
		}
		h.queues = append(h.queues, q)
	}
}

// call classifies a request's error: nil, errCut (no answer: a transport
// failure), or the API error, which the caller judges.
func cut(err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("%w: %v", errCut, err)
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// expire drops what the retention period has removed by now.
func (h *sqsHarness) expire() {
	for _, q := range h.queues {
		for id, m := range q.msgs {
			if !m.sentAt.Add(q.retention).After(h.now) {
				delete(q.msgs, id)
				q.gone[id] = "expired"
				if m.handle != "" {
					q.stale = append(q.stale, m.handle)
				}
			}
		}
	}
}

func (h *sqsHarness) visible(q *mQueue) []*mMsg {
	var out []*mMsg
	for _, m := range q.msgs {
		if !m.visibleAt.After(h.now) {
			out = append(out, m)
		}
	}
	return out
}

func (h *sqsHarness) newBody() string {
	h.bodies++
	return fmt.Sprintf("body-%06d-%s", h.bodies, strings.Repeat("x", h.r.IntN(40)))
}

func (h *sqsHarness) pickQueue() *mQueue { return h.queues[h.r.IntN(len(h.queues))] }

// pickMsg returns a random message of q with a receipt handle, or nil.
func (h *sqsHarness) pickMsg(q *mQueue) *mMsg {
	var with []*mMsg
	for _, m := range q.msgs {
		if m.handle != "" {
			with = append(with, m)
		}
	}
	if len(with) == 0 {
		return nil
	}
	slices.SortFunc(with, func(a, b *mMsg) int { return strings.Compare(a.id, b.id) })
	return with[h.r.IntN(len(with))]
}

func (h *sqsHarness) pickStale(q *mQueue) string {
	if len(q.stale) == 0 {
		return ""
	}
	if len(q.stale) > 200 {
		q.stale = q.stale[len(q.stale)-200:]
	}
	return q.stale[h.r.IntN(len(q.stale))]
}

// step runs one random operation, or a restart or kill.
func (h *sqsHarness) step() {
	h.expire()
	switch n := h.r.IntN(1000); {
	case n < 12:
		h.cleanRestart()
	case n < 24:
		h.killBetween()
	case n < 44:
		h.killDuring()
	case n < 54:
		h.settle()
	default:
		if err := h.operation(); errors.Is(err, errCut) {
			h.t.Fatalf("a request got no answer though nothing killed the child: %v", err)
		}
	}
}

// operation runs one random request and checks its answer against the
// model, which it updates. errCut means the request got no answer; it is
// then h.maybe.
func (h *sqsHarness) operation() error {
	h.requests++
	h.maybe = nil
	q := h.pickQueue()
	switch n := h.r.IntN(100); {
	case n < 15:
		return h.send(q)
	case n < 23:
		return h.sendBatch(q)
	case n < 40:
		return h.receive(q)
	case n < 50:
		return h.deleteMessage(q)
	case n < 54:
		return h.deleteBatch(q)
	case n < 62:
		return h.changeVisibility(q)
	case n < 64:
		return h.purge(q)
	case n < 74:
		return h.advance(time.Duration(1+h.r.IntN(90)) * time.Second)
	case n < 80:
		return h.checkCounts(q)
	default:
		return h.strayRequest(q)
	}
}

func (h *sqsHarness) send(q *mQueue) error {
	body := h.newBody()
	delay := []int32{0, 0, 0, 2, 30}[h.r.IntN(5)]
	out, err := h.client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(h.url(q)), MessageBody: aws.String(body), DelaySeconds: delay})
	if err := cut(err); err != nil {
		h.maybe = &uncertain{what: "SendMessage", q: q, sends: [][]string{{body}}}
		return h.unexpected("SendMessage", err)
	}
	h.logf("send %s to %s: %s (delay %d)", body, q.name, *out.MessageId, delay)
	if want := md5Hex(body); *out.MD5OfMessageBody != want {
		h.t.Errorf("SendMessage: MD5OfMessageBody %s, want %s", *out.MD5OfMessageBody, want)
	}
	h.add(q, *out.MessageId, []string{body}, time.Duration(delay)*time.Second)
	return nil
}

func (h *sqsHarness) add(q *mQueue, id string, bodies []string, delay time.Duration) {
	if q.msgs[id] != nil || q.gone[id] != "" {
		h.t.Errorf("message id %s given twice", id)
	}
	q.msgs[id] = &mMsg{id: id, bodies: bodies, sentAt: h.now, visibleAt: h.now.Add(delay)}
}

func (h *sqsHarness) sendBatch(q *mQueue) error {
	n := 1 + h.r.IntN(10)
	entries := make([]types.SendMessageBatchRequestEntry, n)
	bodies := make([]string, n)
	sends := make([][]string, n)
	for i := range entries {
		bodies[i] = h.newBody()
		sends[i] = []string{bodies[i]}
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("e", i)), MessageBody: aws.String(bodies[i])}
	}
	out, err := h.client.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(h.url(q)), Entries: entries})
	if err := cut(err); err != nil {
		h.maybe = &uncertain{what: "SendMessageBatch", q: q, sends: sends}
		return h.unexpected("SendMessageBatch", err)
	}
	if len(out.Failed) > 0 || len(out.Successful) != n {
		h.t.Errorf("SendMessageBatch of %d: %d successful, failed %+v", n, len(out.Successful), out.Failed)
	}
	for _, s := range out.Successful {
		i, _ := strconv.Atoi(strings.TrimPrefix(*s.Id, "e"))
		h.add(q, *s.MessageId, []string{bodies[i]}, 0)
	}
	h.logf("send a batch of %d to %s", n, q.name)
	return nil
}

func (h *sqsHarness) receive(q *mQueue) error {
	max := int32(1 + h.r.IntN(10))
	vis := []int32{0, 1, 5, 20, 60, 300}[h.r.IntN(6)]
	return h.receiveOnce(q, max, vis)
}

// receiveOnce receives and checks: it must return min(max, visible)
// visible messages, each with its body and its receive count one higher.
func (h *sqsHarness) receiveOnce(q *mQueue, max, vis int32) error {
	vv := h.visible(q)
	seen := map[string]bool{}
	for _, m := range vv {
		seen[m.id] = true
	}
	out, err := h.client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(h.url(q)), MaxNumberOfMessages: max, VisibilityTimeout: vis,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err := cut(err); err != nil {
		h.maybe = &uncertain{what: "ReceiveMessage", q: q, recv: int(max), seen: seen}
		return h.unexpected("ReceiveMessage", err)
	}
	effective := time.Duration(vis) * time.Second
	if vis == 0 {
		effective = queueVisibility // the SDK leaves a zero out: the queue's applies
	}
	h.logf("receive up to %d from %s (visibility %v): %d of %d visible", max, q.name, effective, len(out.Messages), len(vv))
	if want := min(int(max), len(vv)); len(out.Messages) != want {
		h.t.Errorf("ReceiveMessage of up to %d from %s returned %d; %d are visible", max, q.name, len(out.Messages), len(vv))
	}
	for _, got := range out.Messages {
		m := q.msgs[*got.MessageId]
		if m == nil || !seen[m.id] {
			h.t.Errorf("ReceiveMessage from %s returned %s (%q), which is %s", q.name, *got.MessageId, *got.Body, h.whyNot(q, *got.MessageId))
			continue
		}
		h.checkBody(q, m, *got.Body)
		count, _ := strconv.Atoi(got.Attributes["ApproximateReceiveCount"])
		if count != m.count+1 {
			h.t.Errorf("message %s in %s: receive count %d, want %d", m.id, q.name, count, m.count+1)
		}
		if sent := got.Attributes["SentTimestamp"]; sent != fmt.Sprint(m.sentAt.UnixMilli()) {
			h.t.Errorf("message %s in %s: SentTimestamp %s, want %d", m.id, q.name, sent, m.sentAt.UnixMilli())
		}
		h.received(q, m, *got.ReceiptHandle, effective)
	}
	return nil
}

func (h *sqsHarness) received(q *mQueue, m *mMsg, handle string, vis time.Duration) {
	m.count++
	if m.handle != "" {
		q.stale = append(q.stale, m.handle)
	}
	m.handle, m.received, m.visibleAt = handle, h.now, h.now.Add(vis)
}

func (h *sqsHarness) whyNot(q *mQueue, id string) string {
	switch {
	case q.gone[id] != "":
		return "gone: " + q.gone[id]
	case q.msgs[id] != nil:
		return "not visible"
	}
	return "unknown to the model"
}

func (h *sqsHarness) checkBody(q *mQueue, m *mMsg, body string) {
	if !slices.Contains(m.bodies, body) {
		h.t.Errorf("message %s in %s: body %q, want one of %q", m.id, q.name, body, m.bodies)
		return
	}
	m.bodies = []string{body}
}

func (h *sqsHarness) deleteMessage(q *mQueue) error {
	m := h.pickMsg(q)
	handle, stale := "", h.r.IntN(5) == 0 || m == nil
	if stale {
		if handle = h.pickStale(q); handle == "" {
			return nil
		}
	} else {
		handle = m.handle
	}
	_, err := h.client.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(h.url(q)), ReceiptHandle: aws.String(handle)})
	if err := cut(err); err != nil {
		h.maybe = &uncertain{what: "DeleteMessage", q: q, del: map[string]bool{}}
		if !stale {
			h.maybe.del[m.id] = true
		}
		return h.unexpected("DeleteMessage", err)
	}
	if !stale {
		h.logf("delete %s from %s", m.id, q.name)
		h.deleted(q, m, "deleted")
	} else {
		h.logf("delete with a stale handle from %s", q.name)
	}
	return nil
}

func (h *sqsHarness) deleted(q *mQueue, m *mMsg, why string) {
	delete(q.msgs, m.id)
	q.gone[m.id] = why
	if m.handle != "" {
		q.stale = append(q.stale, m.handle)
	}
}

func (h *sqsHarness) deleteBatch(q *mQueue) error {
	var entries []types.DeleteMessageBatchRequestEntry
	picked := map[string]*mMsg{}
	for i := range 1 + h.r.IntN(5) {
		m := h.pickMsg(q)
		if m == nil || picked[m.id] != nil {
			continue
		}
		picked[m.id] = m
		entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("d", i)), ReceiptHandle: aws.String(m.handle)})
	}
	if len(entries) == 0 {
		return nil
	}
	out, err := h.client.DeleteMessageBatch(context.Background(), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(h.url(q)), Entries: entries})
	if err := cut(err); err != nil {
		h.maybe = &uncertain{what: "DeleteMessageBatch", q: q, del: map[string]bool{}}
		for id := range picked {
			h.maybe.del[id] = true
		}
		return h.unexpected("DeleteMessageBatch", err)
	}
	if len(out.Failed) > 0 || len(out.Successful) != len(entries) {
		h.t.Errorf("DeleteMessageBatch of %d: %d successful, failed %+v", len(entries), len(out.Successful), out.Failed)
	}
	for _, m := range picked {
		h.deleted(q, m, "deleted in a batch")
	}
	h.logf("delete a batch of %d from %s", len(entries), q.name)
	return nil
}

func (h *sqsHarness) changeVisibility(q *mQueue) error {
	m := h.pickMsg(q)
	timeout := int32(h.r.IntN(301))
	if m == nil || h.r.IntN(6) == 0 {
		handle := h.pickStale(q)
		if handle == "" {
			return nil
		}
		_, err := h.client.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(h.url(q)), ReceiptHandle: aws.String(handle), VisibilityTimeout: timeout})
		if err := cut(err); errors.Is(err, errCut) {
			h.maybe = &uncertain{what: "ChangeMessageVisibility", q: q}
			return err
		}
		if code(err) != "InvalidParameterValue" {
			h.t.Errorf("ChangeMessageVisibility with a stale handle: %v, want InvalidParameterValue", err)
		}
		h.logf("change visibility with a stale handle in %s", q.name)
		return nil
	}
	_, err := h.client.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(h.url(q)), ReceiptHandle: aws.String(m.handle), VisibilityTimeout: timeout})
	if err := cut(err); errors.Is(err, errCut) {
		// Settling moves the clock past any visibility this could set.
		h.maybe = &uncertain{what: "ChangeMessageVisibility", q: q}
		return err
	}
	at := h.now.Add(time.Duration(timeout) * time.Second)
	switch {
	case !m.visibleAt.After(h.now): // visible again: accepted, no change
		if err != nil {
			h.t.Errorf("ChangeMessageVisibility of visible message %s: %v", m.id, err)
		}
	case at.Sub(m.received) > 12*time.Hour:
		if code(err) != "InvalidParameterValue" {
			h.t.Errorf("ChangeMessageVisibility past 12 hours from the receive: %v, want InvalidParameterValue", err)
		}
	case err != nil:
		h.t.Errorf("ChangeMessageVisibility of %s in flight: %v", m.id, err)
	default:
		m.visibleAt = at
	}
	h.logf("change visibility of %s in %s to %d s: %v", m.id, q.name, timeout, err)
	return nil
}

func (h *sqsHarness) purge(q *mQueue) error {
	ids := make([]string, 0, len(q.msgs))
	for id := range q.msgs {
		ids = append(ids, id)
	}
	_, err := h.client.PurgeQueue(context.Background(), &sqs.PurgeQueueInput{QueueUrl: aws.String(h.url(q))})
	if err := cut(err); errors.Is(err, errCut) {
		h.maybe = &uncertain{what: "PurgeQueue", q: q, purge: ids, at: h.now}
		return err
	}
	if !q.lastPurge.IsZero() && h.now.Sub(q.lastPurge) < time.Minute {
		if code(err) != "AWS.SimpleQueueService.PurgeQueueInProgress" {
			h.t.Errorf("a second purge of %s within a minute: %v, want PurgeQueueInProgress", q.name, err)
		}
		return nil
	}
	if err != nil {
		h.t.Errorf("PurgeQueue %s: %v", q.name, err)
		return nil
	}
	h.logf("purge %s (%d messages)", q.name, len(ids))
	h.purged(q, ids)
	return nil
}

func (h *sqsHarness) purged(q *mQueue, ids []string) {
	for _, id := range ids {
		if m := q.msgs[id]; m != nil {
			h.deleted(q, m, "purged")
		}
	}
	q.lastPurge = h.now
}

// advance moves the child's fake clock, and the model's.
func (h *sqsHarness) advance(d time.Duration) error {
	resp, err := h.http.PostForm(h.p.Endpoint()+"/_clock", url.Values{"advance": {d.String()}})
	if err != nil {
		return fmt.Errorf("%w: %v", errCut, err) // nothing durable depends on it
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%w: %v", errCut, err)
	}
	h.now = h.now.Add(d)
	if got, err := time.Parse(time.RFC3339Nano, string(b)); err != nil || !got.Equal(h.now) {
		h.t.Fatalf("the child's clock reads %q, the model's %v", b, h.now)
	}
	h.expire()
	h.logf("advance %v", d)
	return nil
}

// checkCounts compares the queue's Approximate* attributes with the model.
func (h *sqsHarness) checkCounts(q *mQueue) error {
	out, err := h.client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(h.url(q)), AttributeNames: []types.QueueAttributeName{"All"}})
	if err := cut(err); err != nil {
		return h.unexpected("GetQueueAttributes", err)
	}
	var visible, inflight, delayed int
	for _, m := range q.msgs {
		switch {
		case !m.visibleAt.After(h.now):
			visible++
		case m.count > 0:
			inflight++
		default:
			delayed++
		}
	}
	got := fmt.Sprint(out.Attributes["ApproximateNumberOfMessages"], " ", out.Attributes["ApproximateNumberOfMessagesNotVisible"], " ", out.Attributes["ApproximateNumberOfMessagesDelayed"])
	if want := fmt.Sprint(visible, " ", inflight, " ", delayed); got != want {
		h.t.Errorf("%s holds %s messages visible, in flight and delayed; the model %s", q.name, got, want)
	}
	return nil
}

// unexpected judges an error that is not errCut: every request the
// harness makes is valid, so an API error is a failure.
func (h *sqsHarness) unexpected(what string, err error) error {
	if errors.Is(err, errCut) {
		return err
	}
	h.maybe = nil
	h.t.Errorf("%s: %v", what, err)
	return nil
}

// strayRequest sends a request the SDK would not: stray top-level fields
// of any type, duplicated keys, a known field of the wrong type, on either
// protocol. Each must be refused with an AWS-shaped error, or applied, and
// then recorded like any other.
func (h *sqsHarness) strayRequest(q *mQueue) error {
	h.stray++
	u := h.url(q)
	b1, b2 := h.newBody(), h.newBody()
	js := func(v string) string { s, _ := json.Marshal(v); return string(s) }
	type send struct {
		kind, body string
		bodies     []string // what the body may be, if applied
		query      bool
	}
	sends := []send{
		{"stray fields", `{"QueueUrl":` + js(u) + `,"MessageBody":` + js(b1) + `,"Stray":{"a":[1,"x",null]},"DelaySecondz":7,"QueueUrl2":false}`, []string{b1}, false},
		{"a duplicated key", `{"QueueUrl":` + js(u) + `,"MessageBody":` + js(b1) + `,"MessageBody":` + js(b2) + `}`, []string{b1, b2}, false},
		{"a wrong-typed field", `{"QueueUrl":` + js(u) + `,"MessageBody":` + js(b1) + `,"DelaySeconds":"0"}`, []string{b1}, false},
		{"a wrong-typed duplicate of QueueUrl", `{"QueueUrl":7,"QueueUrl":` + js(u) + `,"MessageBody":` + js(b1) + `}`, []string{b1}, false},
		{"MessageAttributes of the wrong shape", `{"QueueUrl":` + js(u) + `,"MessageBody":` + js(b1) + `,"MessageAttributes":[]}`, []string{b1}, false},
		{"duplicated and stray form fields", url.Values{"Action": {"SendMessage"}, "QueueUrl": {u}, "MessageBody": {b1, b2}, "Stray.1.Name": {"x"}, "Version": {"2012-11-05", "x"}}.Encode(), []string{b1, b2}, true},
	}
	if m := h.pickMsg(q); m != nil && h.r.IntN(3) == 0 {
		return h.strayDelete(q, m)
	}
	if h.r.IntN(4) == 0 {
		return h.strayBatch(q, b1)
	}
	s := sends[h.r.IntN(len(sends))]
	status, body, err := h.raw(s.query, "SendMessage", s.body)
	if err != nil {
		h.maybe = &uncertain{what: "SendMessage with " + s.kind, q: q, sends: [][]string{s.bodies}}
		return err
	}
	if status != http.StatusOK {
		h.refused("SendMessage with "+s.kind, status, body, s.query)
		return nil
	}
	var id string
	if s.query {
		var out struct {
			ID string `xml:"SendMessageResult>MessageId"`
		}
		if err := xml.Unmarshal([]byte(body), &out); err != nil {
			h.t.Errorf("SendMessage with %s: %v: %s", s.kind, err, body)
		}
		id = out.ID
	} else {
		var out struct{ MessageId string }
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			h.t.Errorf("SendMessage with %s: %v: %s", s.kind, err, body)
		}
		id = out.MessageId
	}
	if id == "" {
		h.t.Errorf("SendMessage with %s answered %d without a MessageId: %s", s.kind, status, body)
		return nil
	}
	h.logf("send with %s to %s: %s", s.kind, q.name, id)
	h.add(q, id, s.bodies, 0)
	return nil
}

func (h *sqsHarness) strayDelete(q *mQueue, m *mMsg) error {
	js, _ := json.Marshal(m.handle)
	body := `{"QueueUrl":"` + h.url(q) + `","ReceiptHandle":` + string(js) + `,"ReceiptHandle":` + string(js) + `,"VisibilityTimeout":"soon","Entries":{}}`
	status, resp, err := h.raw(false, "DeleteMessage", body)
	if err != nil {
		h.maybe = &uncertain{what: "DeleteMessage with stray fields", q: q, del: map[string]bool{m.id: true}}
		return err
	}
	if status != http.StatusOK {
		h.refused("DeleteMessage with stray fields", status, resp, false)
		return nil
	}
	h.logf("delete %s from %s with stray fields", m.id, q.name)
	h.deleted(q, m, "deleted with stray fields")
	return nil
}

func (h *sqsHarness) strayBatch(q *mQueue, b string) error {
	js, _ := json.Marshal(b)
	body := `{"QueueUrl":"` + h.url(q) + `","Entries":[{"Id":"a","MessageBody":` + string(js) + `,"Junk":[{}],"DelaySeconds":0}],"Junk":false,"MaxNumberOfMessages":"x"}`
	status, resp, err := h.raw(false, "SendMessageBatch", body)
	if err != nil {
		h.maybe = &uncertain{what: "SendMessageBatch with stray fields", q: q, sends: [][]string{{b}}}
		return err
	}
	if status != http.StatusOK {
		h.refused("SendMessageBatch with stray fields", status, resp, false)
		return nil
	}
	var out struct {
		Successful []struct{ Id, MessageId string }
		Failed     []any
	}
	if err := json.Unmarshal([]byte(resp), &out); err != nil || len(out.Successful) != 1 || len(out.Failed) != 0 {
		h.t.Errorf("SendMessageBatch with stray fields answered %s (%v)", resp, err)
		return nil
	}
	h.logf("send a batch with stray fields to %s: %s", q.name, out.Successful[0].MessageId)
	h.add(q, out.Successful[0].MessageId, []string{b}, 0)
	return nil
}

// raw posts a request on the JSON protocol (or the Query protocol) and
// returns its status and body; an error is errCut.
func (h *sqsHarness) raw(query bool, action, body string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodPost, h.p.Endpoint()+"/", strings.NewReader(body))
	if query {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %v", errCut, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %v", errCut, err)
	}
	return resp.StatusCode, string(b), nil
}

// refused checks that a refusal is a client error in AWS's shape.
func (h *sqsHarness) refused(what string, status int, body string, query bool) {
	h.strayRefused++
	h.logf("%s refused: %d %s", what, status, body)
	if status < 400 || status >= 500 {
		h.t.Errorf("%s: status %d: %s", what, status, body)
		return
	}
	if query {
		var e struct {
			Code string `xml:"Error>Code"`
			Type string `xml:"Error>Type"`
		}
		if err := xml.Unmarshal([]byte(body), &e); err != nil || e.Code == "" || e.Type != "Sender" {
			h.t.Errorf("%s: refused with %d but not an AWS Query error: %s", what, status, body)
		}
		return
	}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Type == "" || e.Message == "" {
		h.t.Errorf("%s: refused with %d but not an AWS JSON error: %s", what, status, body)
	}
}

// cleanRestart stops the child cleanly and starts it again: nothing is
// uncertain, and old receipt handles stay valid.
func (h *sqsHarness) cleanRestart() {
	if err := h.p.Stop(); err != nil {
		h.t.Fatal(err)
	}
	h.stops++
	h.restart()
	h.logf("clean restart")
	for _, q := range h.queues {
		h.checkCounts(q)
	}
}

// killBetween kills the child between two requests: nothing is uncertain.
func (h *sqsHarness) killBetween() {
	if !h.p.Kill() {
		h.t.Fatal("the child had exited before it was killed")
	}
	h.killsBetween++
	h.restart()
	h.logf("kill between requests, restart")
	for _, q := range h.queues {
		h.checkCounts(q)
	}
}

// killDuring kills the child a moment from now and goes on with random
// requests until one gets no answer; then it restarts the child and
// settles what that request did.
func (h *sqsHarness) killDuring() {
	dead := h.p.KillAfter(time.Duration(h.r.IntN(4000)) * time.Microsecond)
	for i := 0; ; i++ {
		if i > 10000 {
			h.t.Fatal("10,000 requests after a kill were all answered")
		}
		h.expire()
		err := h.operation()
		if err == nil {
			continue
		}
		if !errors.Is(err, errCut) || !<-dead {
			h.t.Fatalf("the child died without being killed: %v", err)
		}
		break
	}
	h.killsDuring++
	what := "nothing"
	if h.maybe != nil {
		what = h.maybe.what
	}
	h.logf("killed during %s, restart", what)
	h.restart()
	h.settle()
}

func (h *sqsHarness) restart() {
	h.p.Restart(h.now.Format(time.RFC3339Nano))
	h.connect()
}

// settle moves the clock past every delay and visibility timeout, receives
// everything in each queue and compares it with the model, allowing for
// what the request cut short by a kill may have done; after it the model is
// exact again.
func (h *sqsHarness) settle() {
	h.settles++
	if err := h.advance(5*time.Minute + time.Second); err != nil {
		h.t.Fatalf("settle: %v", err)
	}
	mb := h.maybe
	h.maybe = nil
	for _, q := range h.queues {
		if mb == nil || mb.q != q {
			if err := h.checkCounts(q); err != nil {
				h.t.Fatal(err)
			}
		}
		got := map[string]types.Message{}
		for {
			out, err := h.client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
				QueueUrl: aws.String(h.url(q)), MaxNumberOfMessages: 10, VisibilityTimeout: 300,
				MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			})
			if err != nil {
				h.t.Fatalf("settle: receive from %s: %v", q.name, err)
			}
			if len(out.Messages) == 0 {
				break
			}
			for _, m := range out.Messages {
				if _, dup := got[*m.MessageId]; dup {
					h.t.Errorf("settle: %s returned %s twice while in flight", q.name, *m.MessageId)
				}
				got[*m.MessageId] = m
			}
		}
		h.reconcile(q, got, mb)
	}
	h.logf("settled")
}

// reconcile checks what q holds (got, each just received once more)
// against the model and mb, the request a kill cut short (nil if none),
// and brings the model to what q holds.
func (h *sqsHarness) reconcile(q *mQueue, got map[string]types.Message, mb *uncertain) {
	if mb != nil && mb.q != q {
		mb = nil
	}
	bumped := 0
	purgedAll, purgedNone := true, true
	for id, m := range q.msgs {
		g, ok := got[id]
		inPurge := mb != nil && slices.Contains(mb.purge, id)
		if !ok {
			switch {
			case mb != nil && mb.del[id], inPurge:
				h.deleted(q, m, "deleted by a request cut short")
				purgedNone = false
			default:
				h.t.Errorf("%s lost message %s (%q, received %d times): its send was acknowledged and nothing acknowledged its deletion", q.name, id, m.bodies, m.count)
				delete(q.msgs, id)
			}
			continue
		}
		if inPurge {
			purgedAll = false
		}
		h.checkBody(q, m, *g.Body)
		count, _ := strconv.Atoi(g.Attributes["ApproximateReceiveCount"])
		switch {
		case count == m.count+1:
		case count == m.count+2 && mb != nil && mb.recv > 0 && mb.seen[id]:
			bumped++
		case count < m.count+1:
			h.t.Errorf("%s: the receive count of %s went back from %d to %d", q.name, id, m.count, count-1)
		default:
			h.t.Errorf("%s: the receive count of %s went from %d to %d", q.name, id, m.count, count-1)
		}
		m.count = count - 1
		h.received(q, m, *g.ReceiptHandle, 300*time.Second)
	}
	if mb != nil && mb.recv > 0 && bumped > mb.recv {
		h.t.Errorf("%s: a receive of up to %d cut short counted %d messages", q.name, mb.recv, bumped)
	}
	if mb != nil && len(mb.purge) > 0 {
		if !purgedAll && !purgedNone {
			h.t.Errorf("%s: a purge cut short removed some of the messages and left others", q.name)
		}
		if purgedAll {
			q.lastPurge = mb.at
		}
	}
	var maybeSent [][]string
	if mb != nil {
		maybeSent = slices.Clone(mb.sends)
	}
	for id, g := range got {
		if q.msgs[id] != nil {
			continue
		}
		i := slices.IndexFunc(maybeSent, func(bodies []string) bool { return slices.Contains(bodies, *g.Body) })
		if i < 0 {
			if why := q.gone[id]; why != "" {
				h.t.Errorf("%s: message %s (%q) came back; it was %s", q.name, id, *g.Body, why)
			} else {
				h.t.Errorf("%s: message %s (%q) was never sent", q.name, id, *g.Body)
			}
			continue
		}
		maybeSent = slices.Delete(maybeSent, i, i+1)
		sent, _ := strconv.ParseInt(g.Attributes["SentTimestamp"], 10, 64)
		m := &mMsg{id: id, bodies: []string{*g.Body}, sentAt: time.UnixMilli(sent).UTC()}
		delete(q.gone, id)
		q.msgs[id] = m
		if count, _ := strconv.Atoi(g.Attributes["ApproximateReceiveCount"]); count != 1 {
			h.t.Errorf("%s: message %s, whose send was cut short, has receive count %d, want 1", q.name, id, count)
		}
		h.received(q, m, *g.ReceiptHandle, 300*time.Second)
	}
	h.expire()
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

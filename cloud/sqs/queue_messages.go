package sqs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/journal"
)

type msgState uint8

const (
	stateReady msgState = iota
	stateDelayed
	stateInflight
)

type message struct {
	id       string
	body     string
	attrs    map[string]MessageAttributeValue
	sysAttrs map[string]MessageAttributeValue
	md5Body  string
	md5Attrs string
	md5Sys   string
	senderID string
	groupID  string
	dedupID  string // a FIFO queue's message's deduplication id
	sentAt   time.Time
	seq      uint64
	sn       uint64 // a FIFO queue's message's SequenceNumber

	state        msgState
	visibleAt    time.Time // for delayed and in-flight messages
	receiveCount int
	firstReceive time.Time
	receivedAt   time.Time // when the current receipt was issued
	receiptGen   uint64
	deadLetterOf string // ARN of the queue this message was dead-lettered from

	heapIdx, ageIdx int
	size            int // what it counts towards the queues' ceilings (MessageBytes)
}

// What a queued message costs in memory beyond its body and attributes'
// bytes (its struct, digests, id, index and heap entries; each
// attribute's map entry), counted towards the queues' ceilings so that
// many small messages are bounded too; a little over what
// BenchmarkQueuedMessageMemory measures.
const (
	messageOverhead   = 512
	attributeOverhead = 160
)

// MessageBytes is what a message with in's body and attributes counts
// towards a queue's ceiling (Options.MaxQueueBytes): its size as SQS
// counts it towards the 1 MiB limit, plus 512 bytes, plus 160 an
// attribute.
func MessageBytes(in SendInput) int64 {
	return int64(in.Size() + messageOverhead + attributeOverhead*(len(in.MessageAttributes)+len(in.MessageSystemAttributes)))
}

func (m *message) bytes() int64 {
	if m.size == 0 {
		m.size = int(MessageBytes(SendInput{Body: m.body, MessageAttributes: m.attrs, MessageSystemAttributes: m.sysAttrs}))
	}
	return int64(m.size)
}

// roomLocked refuses a send of n bytes to q when it would take q, or all
// queues, past their ceiling. Moves between queues (dead-lettering, move
// tasks) are not refused: they add nothing to the total, and a message
// the queue already holds must be able to reach its dead-letter queue.
func (e *Engine) roomLocked(q *queue, n int64) error {
	if max := e.opts.MaxQueueBytes; max > 0 && q.bytes+n > max {
		return errQueueFull(q.name, fmt.Sprintf("it holds %d bytes of messages, and its ceiling is %d", q.bytes, max))
	}
	if max := e.opts.MaxQueuedBytes; max > 0 && e.queued+n > max {
		return errQueueFull(q.name, fmt.Sprintf("the queues hold %d bytes of messages together, and their ceiling is %d", e.queued, max))
	}
	return nil
}

// MaxQueuedBytes is the ceiling on what all queues hold together
// (Options.MaxQueuedBytes); 0 or less: none.
func (e *Engine) MaxQueuedBytes() int64 { return e.opts.MaxQueuedBytes }

// QueuedBytes returns what all queues hold, as their ceilings count it.
func (e *Engine) QueuedBytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.queued
}

// SendInput is one message to send.
type SendInput struct {
	Body string
	// MessageAttributes are the message's (user) attributes.
	MessageAttributes map[string]MessageAttributeValue
	// MessageSystemAttributes holds AWSTraceHeader, the only one there is.
	MessageSystemAttributes map[string]MessageAttributeValue
	// DelaySeconds overrides the queue's delay when not nil (0 to 900).
	DelaySeconds *int
	// MessageGroupID is a FIFO queue's message group, required there;
	// standard queues keep and return it too (fair queueing). 1 to 128
	// alphanumerics and punctuation.
	MessageGroupID string
	// MessageDeduplicationID is a FIFO queue's deduplication id (1 to 128
	// alphanumerics and punctuation), required unless the queue has
	// ContentBasedDeduplication; a standard queue refuses it.
	MessageDeduplicationID string
	// SenderID is the SenderId system attribute; default the account id.
	SenderID string
}

// SendOutput is what SendMessage reports.
type SendOutput struct {
	MessageID                    string
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string
	MD5OfMessageSystemAttributes string
	// SequenceNumber is a FIFO queue's: a decimal string that grows with
	// every message the queue takes (empty for a standard queue). A
	// duplicate within the deduplication window answers with its
	// original's MessageID and SequenceNumber.
	SequenceNumber string
}

// Size is what the message counts towards the 1 MiB limits: the body and
// every attribute's name, type and value.
func (in SendInput) Size() int {
	return len(in.Body) + attributesSize(in.MessageAttributes) + attributesSize(in.MessageSystemAttributes)
}

// validate applies AWS's rules that do not depend on the queue.
func (in SendInput) validate() error {
	if in.Body == "" {
		return errMissingParameter("MessageBody")
	}
	if in.DelaySeconds != nil && (*in.DelaySeconds < 0 || *in.DelaySeconds > maxDelaySeconds) {
		return errInvalidParameter("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= %d.", *in.DelaySeconds, maxDelaySeconds)
	}
	if !utf8.ValidString(in.MessageGroupID) {
		return errBadChars("MessageGroupId")
	}
	if in.MessageGroupID != "" && !validFifoToken(in.MessageGroupID) {
		return errBadToken("MessageGroupId", in.MessageGroupID)
	}
	if !utf8.ValidString(in.MessageDeduplicationID) {
		return errBadChars("MessageDeduplicationId")
	}
	if err := validateMessageAttributes(in.MessageAttributes, false); err != nil {
		return err
	}
	if err := validateMessageAttributes(in.MessageSystemAttributes, true); err != nil {
		return err
	}
	if !validBodyChars(in.Body) {
		return errBadChars("the message body")
	}
	return nil
}

// ValidateSend checks a message against AWS's rules and the queue's
// MaximumMessageSize without sending it (batch callers check every entry
// first).
func (e *Engine) ValidateSend(name string, in SendInput) error {
	if err := in.validate(); err != nil {
		return err
	}
	return e.update(func() error {
		q, err := e.get(name)
		if err != nil {
			return err
		}
		if err := checkQueueType(q, in); err != nil {
			return err
		}
		return checkSize(q, in)
	})
}

// checkQueueType applies the rules of q's type to a message.
func checkQueueType(q *queue, in SendInput) error {
	if q.fifo != nil {
		_, err := q.checkFifoSend(in)
		return err
	}
	return checkStandardSend(in)
}

func checkSize(q *queue, in SendInput) error {
	if in.Size() > q.maxSize {
		return errInvalidParameter("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", q.maxSize)
	}
	return nil
}

// SendMessage enqueues a message and returns once it is durable.
func (e *Engine) SendMessage(ctx context.Context, name string, in SendInput) (SendOutput, error) {
	out, t, err := e.sendAuthorized(name, in, nil)
	if werr := durable(t); werr != nil {
		err = werr
	}
	if err != nil {
		return SendOutput{}, fmt.Errorf("sqs: send to %s: %w", name, err)
	}
	return out, nil
}

// sendAuthorized sends after authorize (when not nil) accepted the queue,
// under the same lock, so a policy cannot change in between. The message,
// or what an error rests on, is durable when the ticket is done (see
// unlock): batches wait once for all entries.
func (e *Engine) sendAuthorized(name string, in SendInput, authorize func(*queue) error) (SendOutput, journal.Ticket, error) {
	if err := in.validate(); err != nil {
		return SendOutput{}, journal.Ticket{}, err
	}
	if err := e.writable(); err != nil {
		return SendOutput{}, journal.Ticket{}, err
	}
	e.mu.Lock()
	out, err := e.sendLocked(name, in, authorize)
	t := e.unlock()
	return out, t, err
}

func (e *Engine) sendLocked(name string, in SendInput, authorize func(*queue) error) (SendOutput, error) {
	q, err := e.get(name)
	if err != nil {
		return SendOutput{}, err
	}
	if authorize != nil {
		if err := authorize(q); err != nil {
			return SendOutput{}, err
		}
	}
	var dedupID string
	if q.fifo != nil {
		if dedupID, err = q.checkFifoSend(in); err != nil {
			return SendOutput{}, err
		}
	} else if err := checkStandardSend(in); err != nil {
		return SendOutput{}, err
	}
	if err := checkSize(q, in); err != nil {
		return SendOutput{}, err
	}
	now := e.clk.Now()
	var key string
	if f := q.fifo; f != nil {
		e.sweepFifoLocked(q, now)
		key = f.dedupKey(in.MessageGroupID, dedupID)
		if d := f.dedup[key]; d != nil {
			// A duplicate: accepted, not enqueued, answered as the
			// original was.
			return SendOutput{MessageID: d.messageID, MD5OfMessageBody: md5Hex(in.Body),
				MD5OfMessageAttributes: md5OfAttributes(in.MessageAttributes), MD5OfMessageSystemAttributes: md5OfAttributes(in.MessageSystemAttributes),
				SequenceNumber: formatSN(d.sn)}, nil
		}
	}
	if err := e.roomLocked(q, MessageBytes(in)); err != nil {
		return SendOutput{}, err
	}
	m := &message{
		id:       awsproto.NewRequestID(),
		body:     in.Body,
		attrs:    in.MessageAttributes,
		sysAttrs: in.MessageSystemAttributes,
		md5Body:  md5Hex(in.Body),
		md5Attrs: md5OfAttributes(in.MessageAttributes),
		md5Sys:   md5OfAttributes(in.MessageSystemAttributes),
		senderID: in.SenderID,
		groupID:  in.MessageGroupID,
		dedupID:  dedupID,
		sentAt:   now,
	}
	if m.senderID == "" {
		m.senderID = e.opts.AccountID
	}
	delay := q.delay
	if in.DelaySeconds != nil && q.fifo == nil {
		// A FIFO queue's messages take the queue's delay, even when sent
		// with DelaySeconds 0 (LocalStack's snapshot
		// test_fifo_queue_send_message_with_zero_delay_defaults_to_queue_delay).
		delay = *in.DelaySeconds
	}
	e.enqueueLocked(q, m, now, delay)
	out := SendOutput{MessageID: m.id, MD5OfMessageBody: m.md5Body, MD5OfMessageAttributes: m.md5Attrs, MD5OfMessageSystemAttributes: m.md5Sys}
	if q.fifo != nil {
		out.SequenceNumber = formatSN(m.sn)
		e.addDedupLocked(q, &dedupEntry{key: key, messageID: m.id, sn: m.sn, expires: now.Add(dedupWindow)})
	}
	return out, nil
}

// enqueueLocked adds m to q, visible after delay seconds. It is the one way
// a message enters a queue (sends, dead-lettering, move tasks).
func (e *Engine) enqueueLocked(q *queue, m *message, now time.Time, delay int) {
	q.seq++
	m.seq = q.seq
	m.sn = 0
	if q.fifo != nil {
		m.sn = q.fifo.nextSN(now)
	}
	m.heapIdx, m.ageIdx = -1, -1
	q.msgs[m.id] = m
	q.bytes += m.bytes()
	e.queued += m.bytes()
	q.byAge.push(m)
	if delay > 0 {
		m.state = stateDelayed
		m.visibleAt = now.Add(time.Duration(delay) * time.Second)
		q.pending.push(m)
		q.nDelayed++
		e.armWakeLocked(q, now)
	} else {
		m.state = stateReady
		if q.fifo != nil {
			q.fifo.makeReady(m)
		} else {
			q.ready.push(m)
		}
		q.signal()
	}
	e.logEnqueueLocked(q, m)
}

// removeLocked takes m out of q. It is the one way a message leaves a
// queue (delete, expiry, purge excepted, dead-lettering, move tasks).
func (e *Engine) removeLocked(q *queue, m *message) {
	switch m.state {
	case stateReady:
		if q.fifo != nil {
			q.fifo.unready(m)
		} else {
			q.ready.remove(m)
		}
	case stateDelayed:
		q.pending.remove(m)
		q.nDelayed--
	case stateInflight:
		q.pending.remove(m)
		q.nInflight--
		if q.fifo != nil {
			// Its group may be available now: wake the long polls.
			q.fifo.landed(m)
			q.signal()
		}
	}
	q.byAge.remove(m)
	delete(q.msgs, m.id)
	q.bytes -= m.bytes()
	e.queued -= m.bytes()
	e.logRemoveLocked(q, m)
}

// refreshLocked brings q up to now: expired messages go, and delayed or
// in-flight messages whose time has come become visible.
func (e *Engine) refreshLocked(q *queue, now time.Time) {
	cutoff := now.Add(-time.Duration(q.retention) * time.Second)
	for m := q.byAge.top(); m != nil && !m.sentAt.After(cutoff); m = q.byAge.top() {
		e.removeLocked(q, m)
	}
	woke := false
	for m := q.pending.top(); m != nil && !m.visibleAt.After(now); m = q.pending.top() {
		q.pending.pop()
		wasInflight := m.state == stateInflight
		if wasInflight {
			q.nInflight--
		} else {
			q.nDelayed--
		}
		m.state = stateReady
		if f := q.fifo; f != nil {
			f.makeReady(m)
			if wasInflight {
				f.landed(m)
			}
		} else {
			q.ready.push(m)
		}
		woke = true
	}
	if woke {
		q.signal()
	}
	if q.fifo != nil {
		e.sweepFifoLocked(q, now)
	}
	e.refreshTasksLocked(q, now)
}

// signal wakes the long polls waiting on q.
func (q *queue) signal() {
	if q.arrival != nil {
		close(q.arrival)
		q.arrival = nil
	}
}

// armWakeLocked makes sure that, while long polls wait on q, a timer fires
// when the next delayed or in-flight message becomes visible.
func (e *Engine) armWakeLocked(q *queue, now time.Time) {
	if q.waiters == 0 || q.deleted {
		return
	}
	next := q.pending.top()
	if next == nil {
		return
	}
	if q.wakeTimer != nil && !q.wakeAt.After(next.visibleAt) {
		return
	}
	if q.wakeTimer != nil {
		q.wakeTimer.Stop()
	}
	at := next.visibleAt
	q.wakeAt = at
	var t interface{ Stop() bool }
	t = e.clk.AfterFunc(at.Sub(now), func() {
		e.mu.Lock()
		defer e.unlock() // a refresh may expire messages
		if q.wakeTimer == t {
			q.wakeTimer = nil
		}
		if q.deleted {
			return
		}
		now := e.clk.Now()
		e.refreshLocked(q, now)
		e.armWakeLocked(q, now)
	})
	q.wakeTimer = t
}

// Message is a received message.
type Message struct {
	MessageID              string
	ReceiptHandle          string
	Body                   string
	MD5OfBody              string
	MD5OfMessageAttributes string
	// Attributes are the system attributes asked for (SentTimestamp, …).
	Attributes map[string]string
	// MessageAttributes are the message attributes asked for.
	MessageAttributes map[string]MessageAttributeValue
}

// ReceiveInput is a receive request.
type ReceiveInput struct {
	// MaxNumberOfMessages is 1 to 10; 0 means 1.
	MaxNumberOfMessages int
	// VisibilityTimeout overrides the queue's when not nil (0 to 43200).
	VisibilityTimeout *int
	// WaitTimeSeconds overrides the queue's ReceiveMessageWaitTimeSeconds
	// when not nil (0 to 20).
	WaitTimeSeconds *int
	// AttributeNames are system attribute names, or "All".
	AttributeNames []string
	// MessageAttributeNames select message attributes: names, "All", ".*"
	// or "prefix.*".
	MessageAttributeNames []string
	// ReceiveRequestAttemptID, on a FIFO queue (standard queues ignore
	// it), names this receive: a retry with the same id within five
	// minutes gets the same messages and receipt handles, their
	// visibility timeout starting again, as long as none of them was
	// deleted or had its visibility changed since. 1 to 128
	// alphanumerics and punctuation.
	ReceiveRequestAttemptID string
}

var systemAttributeNames = map[string]bool{
	"All": true, "SenderId": true, "SentTimestamp": true, "ApproximateReceiveCount": true,
	"ApproximateFirstReceiveTimestamp": true, "SequenceNumber": true, "MessageDeduplicationId": true,
	"MessageGroupId": true, "AWSTraceHeader": true, "DeadLetterQueueSourceArn": true,
}

func (in ReceiveInput) validate() error {
	if in.MaxNumberOfMessages < 0 || in.MaxNumberOfMessages > 10 {
		return errInvalidParameter("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", in.MaxNumberOfMessages)
	}
	if v := in.VisibilityTimeout; v != nil && (*v < 0 || *v > maxVisibility) {
		return errInvalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= %d, if provided.", *v, maxVisibility)
	}
	if v := in.WaitTimeSeconds; v != nil && (*v < 0 || *v > maxWaitSeconds) {
		return errInvalidParameter("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= %d, if provided.", *v, maxWaitSeconds)
	}
	for _, n := range in.AttributeNames {
		if !systemAttributeNames[n] && !isQueueAttributeName(n) {
			return errInvalidAttributeName(n)
		}
	}
	for _, n := range in.MessageAttributeNames {
		if n == "" || len(n) > 256 {
			return errInvalidParameter("Value %s for parameter MessageAttributeName is invalid.", n)
		}
	}
	return nil
}

// isQueueAttributeName: AWS accepts (and ignores) queue attribute names in
// ReceiveMessage's AttributeNames, a leftover of the old shared list.
func isQueueAttributeName(n string) bool {
	for _, k := range queueAttributeNames {
		if k == n {
			return true
		}
	}
	return fifoOnlyAttributes[n]
}

// ReceiveMessage receives up to MaxNumberOfMessages visible messages,
// making them invisible for the visibility timeout. With a wait time it
// long-polls: it returns as soon as a message becomes visible (sent, or back
// from in flight), or empty when the wait ends or ctx is done.
func (e *Engine) ReceiveMessage(ctx context.Context, name string, in ReceiveInput) ([]Message, error) {
	msgs, err := e.receive(ctx, name, in)
	if err != nil {
		return nil, fmt.Errorf("sqs: receive from %s: %w", name, err)
	}
	return msgs, nil
}

// receive is one long poll. It stays one body, longer than most, because
// each pass of its loop is one critical section on e.mu, from the queue
// lookup through the receive to registering as a waiter and arming the
// wake-up, ended by the unlock that makes the pass durable: split across
// functions, which unlock ends which pass would no longer be readable.
func (e *Engine) receive(ctx context.Context, name string, in ReceiveInput) ([]Message, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	max := in.MaxNumberOfMessages
	if max == 0 {
		max = 1
	}
	var (
		timeout chan struct{}
		timer   interface{ Stop() bool }
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if ctx.Err() != nil {
			// The caller is gone (a client that hung up): taking messages
			// now would hide them for a visibility timeout from everyone.
			return nil, nil
		}
		if err := e.writable(); err != nil {
			return nil, err
		}
		e.mu.Lock()
		q, err := e.get(name)
		if err != nil {
			if werr := durable(e.unlock()); werr != nil {
				err = werr
			}
			return nil, err
		}
		now := e.clk.Now()
		e.refreshLocked(q, now)
		if q.fifo != nil && !validAttemptID(in.ReceiveRequestAttemptID) {
			if werr := durable(e.unlock()); werr != nil {
				return nil, werr
			}
			return nil, errBadAttemptID(in.ReceiveRequestAttemptID)
		}
		// A FIFO queue at the limit answers nothing, without an error,
		// as AWS documents.
		if q.nInflight >= MaxInflight && q.fifo == nil {
			if werr := durable(e.unlock()); werr != nil {
				return nil, werr
			}
			return nil, errOverLimit(name)
		}
		msgs := e.receiveLocked(q, now, max, in)
		wait := q.wait
		if in.WaitTimeSeconds != nil {
			wait = *in.WaitTimeSeconds
		}
		if len(msgs) > 0 || wait == 0 || timeout != nil && isClosed(timeout) {
			// The receive counts must be durable before anyone sees the
			// messages, or a poison message could dodge its DLQ by
			// crashing the process; a receive that moved messages to the
			// DLQ answers once the move is on file; and an empty receive
			// waits for the changes before it (see unlock).
			if err := durable(e.unlock()); err != nil {
				return nil, err
			}
			return msgs, nil
		}
		if timeout == nil {
			timeout = make(chan struct{})
			tc := timeout
			timer = e.clk.AfterFunc(time.Duration(wait)*time.Second, func() { close(tc) })
		}
		if q.arrival == nil {
			q.arrival = make(chan struct{})
		}
		arrival := q.arrival
		q.waiters++
		e.armWakeLocked(q, now)
		e.unlock()

		var done bool
		select {
		case <-arrival:
		case <-timeout:
		case <-ctx.Done():
			done = true
		}
		e.mu.Lock()
		q.waiters--
		gone := q.deleted
		e.unlock()
		if done || gone {
			return nil, nil
		}
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// receiveLocked takes up to max visible messages. A message already
// received maxReceiveCount times goes to the dead-letter queue instead.
func (e *Engine) receiveLocked(q *queue, now time.Time, max int, in ReceiveInput) []Message {
	e.refreshLocked(q, now)
	vis := q.visibility
	if in.VisibilityTimeout != nil {
		vis = *in.VisibilityTimeout
	}
	if q.fifo != nil {
		return e.receiveFifoLocked(q, now, max, vis, in)
	}
	var out []Message
	for len(out) < max && q.nInflight < MaxInflight {
		m := q.ready.pop()
		if m == nil {
			break
		}
		if rp := q.redrive; rp != nil && m.receiveCount >= rp.MaxReceiveCount {
			if dlq := e.queues[rp.dlqName]; dlq != nil && dlq != q {
				e.deadLetterLocked(q, m, dlq, now)
				continue
			}
		}
		e.takeLocked(q, m, now, vis)
		out = append(out, e.view(q, m, in))
	}
	if len(out) > 0 {
		e.armWakeLocked(q, now)
	}
	return out
}

// takeLocked puts m, out of its ready heap, in flight for vis seconds.
func (e *Engine) takeLocked(q *queue, m *message, now time.Time, vis int) {
	m.receiveCount++
	if m.firstReceive.IsZero() {
		m.firstReceive = now
	}
	m.receiptGen++
	m.receivedAt = now
	m.state = stateInflight
	m.visibleAt = now.Add(time.Duration(vis) * time.Second)
	q.pending.push(m)
	q.nInflight++
	e.logStateLocked(q, m)
}

// deadLetterLocked moves m (already out of q's ready heap) to dlq, keeping
// its id, body, attributes and original sent time.
func (e *Engine) deadLetterLocked(q *queue, m *message, dlq *queue, now time.Time) {
	q.byAge.remove(m)
	delete(q.msgs, m.id)
	q.bytes -= m.bytes()
	e.queued -= m.bytes()
	e.logRemoveLocked(q, m)
	moved := *m
	moved.receiveCount, moved.firstReceive, moved.receiptGen, moved.receivedAt = 0, time.Time{}, 0, time.Time{}
	moved.deadLetterOf = q.arn
	if old := dlq.msgs[moved.id]; old != nil {
		e.removeLocked(dlq, old)
	}
	e.enqueueLocked(dlq, &moved, now, 0)
}

// view renders m as received, with the attributes asked for.
func (e *Engine) view(q *queue, m *message, in ReceiveInput) Message {
	v := Message{
		MessageID:     m.id,
		ReceiptHandle: encodeReceipt(q.id, m.id, m.receiptGen),
		Body:          m.body,
		MD5OfBody:     m.md5Body,
	}
	if len(in.AttributeNames) > 0 {
		v.Attributes = systemAttributes(m, in.AttributeNames)
	}
	if len(in.MessageAttributeNames) > 0 && len(m.attrs) > 0 {
		sel := map[string]MessageAttributeValue{}
		for k, a := range m.attrs {
			if messageAttributeSelected(in.MessageAttributeNames, k) {
				sel[k] = a
			}
		}
		if len(sel) > 0 {
			v.MessageAttributes = sel
			v.MD5OfMessageAttributes = md5OfAttributes(sel)
		}
	}
	return v
}

// systemAttributes returns the system attributes of m that names ask
// for ("All" for every one), or nil when none applies. Only what is asked
// is formatted: most receives ask for nothing.
func systemAttributes(m *message, names []string) map[string]string {
	all := slices.Contains(names, "All")
	wants := func(k string) bool { return all || slices.Contains(names, k) }
	var out map[string]string
	add := func(k, val string) {
		if out == nil {
			out = make(map[string]string, 4)
		}
		out[k] = val
	}
	if wants("SenderId") {
		add("SenderId", m.senderID)
	}
	if wants("SentTimestamp") {
		add("SentTimestamp", strconv.FormatInt(m.sentAt.UnixMilli(), 10))
	}
	if wants("ApproximateReceiveCount") {
		add("ApproximateReceiveCount", strconv.Itoa(m.receiveCount))
	}
	if wants("ApproximateFirstReceiveTimestamp") {
		add("ApproximateFirstReceiveTimestamp", strconv.FormatInt(m.firstReceive.UnixMilli(), 10))
	}
	if t, ok := m.sysAttrs["AWSTraceHeader"]; ok && wants("AWSTraceHeader") {
		add("AWSTraceHeader", t.StringValue)
	}
	if m.groupID != "" && wants("MessageGroupId") {
		add("MessageGroupId", m.groupID)
	}
	if m.dedupID != "" && wants("MessageDeduplicationId") {
		add("MessageDeduplicationId", m.dedupID)
	}
	if m.sn != 0 && wants("SequenceNumber") {
		add("SequenceNumber", formatSN(m.sn))
	}
	if m.deadLetterOf != "" && wants("DeadLetterQueueSourceArn") {
		add("DeadLetterQueueSourceArn", m.deadLetterOf)
	}
	return out
}

// A receipt handle names the queue incarnation, the message and the
// receive that issued it.
func encodeReceipt(queueID, msgID string, gen uint64) string {
	// Built in one buffer (on the stack for ordinary ids): the handle is
	// made for every message received.
	var raw [128]byte
	r := append(raw[:0], queueID...)
	r = append(r, ' ')
	r = append(r, msgID...)
	r = append(r, ' ')
	r = strconv.AppendUint(r, gen, 10)
	r = append(r, ' ')
	var salt [4]byte
	rand.Read(salt[:])
	r = hex.AppendEncode(r, salt[:])
	var enc [192]byte
	return string(base64.StdEncoding.AppendEncode(enc[:0], r))
}

type receipt struct {
	queueID, msgID string
	gen            uint64
}

func decodeReceipt(h string) (receipt, bool) {
	b, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return receipt{}, false
	}
	// Four fields separated by single spaces; the two ids are cut from
	// one string, one allocation for the handle.
	rest := string(b)
	queueID, rest, ok1 := strings.Cut(rest, " ")
	msgID, rest, ok2 := strings.Cut(rest, " ")
	genText, salt, ok3 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !ok3 || strings.Contains(salt, " ") {
		return receipt{}, false
	}
	gen, err := strconv.ParseUint(genText, 10, 64)
	if err != nil || gen == 0 {
		return receipt{}, false
	}
	return receipt{queueID: queueID, msgID: msgID, gen: gen}, true
}

// DeleteMessage deletes the message a receipt handle was issued for. As in
// AWS, a handle of a message that is already gone succeeds, and so does a
// handle that a later receive superseded, without deleting the message
// (AWS: "the request succeeds, but the message might not be deleted"). A
// handle that is not one of this queue's is ReceiptHandleIsInvalid.
func (e *Engine) DeleteMessage(name, receiptHandle string) error {
	t, err := e.deleteMessage(name, receiptHandle)
	if werr := durable(t); werr != nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("sqs: delete message from %s: %w", name, err)
	}
	return nil
}

// deleteMessage deletes; the deletion (or what an error rests on) is
// durable when the ticket is done.
func (e *Engine) deleteMessage(name, handle string) (journal.Ticket, error) {
	if handle == "" {
		return journal.Ticket{}, errMissingParameter("ReceiptHandle")
	}
	if err := e.writable(); err != nil {
		return journal.Ticket{}, err
	}
	e.mu.Lock()
	err := e.deleteMessageLocked(name, handle)
	return e.unlock(), err
}

func (e *Engine) deleteMessageLocked(name, handle string) error {
	q, err := e.get(name)
	if err != nil {
		return err
	}
	r, ok := decodeReceipt(handle)
	if !ok || r.queueID != q.id {
		return errReceiptHandleInvalid(handle)
	}
	if q.fifo != nil {
		// A FIFO queue refuses a handle whose visibility ran out while
		// its message is still there: it may be with another consumer,
		// and deleting it would break the group's order.
		e.refreshLocked(q, e.clk.Now())
		if m := q.msgs[r.msgID]; m != nil && (m.receiptGen != r.gen || m.state != stateInflight) {
			return errReceiptHandleExpired(handle)
		}
	}
	m := q.msgs[r.msgID]
	if m == nil || m.receiptGen != r.gen {
		return nil
	}
	e.removeLocked(q, m)
	return nil
}

// ChangeMessageVisibility sets an in-flight message to become visible
// timeout seconds from now (0: at once). The message's total visibility
// since the receive that issued the handle may not exceed 12 hours.
func (e *Engine) ChangeMessageVisibility(name, receiptHandle string, timeout int) error {
	t, err := e.changeVisibility(name, receiptHandle, timeout)
	if werr := durable(t); werr != nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("sqs: change message visibility in %s: %w", name, err)
	}
	return nil
}

// changeVisibility changes; the change (or what an error rests on) is
// durable when the ticket is done.
func (e *Engine) changeVisibility(name, handle string, timeout int) (journal.Ticket, error) {
	if handle == "" {
		return journal.Ticket{}, errMissingParameter("ReceiptHandle")
	}
	if timeout < 0 || timeout > maxVisibility {
		return journal.Ticket{}, errInvalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and %d, if provided.", timeout, maxVisibility)
	}
	if err := e.writable(); err != nil {
		return journal.Ticket{}, err
	}
	e.mu.Lock()
	err := e.changeVisibilityLocked(name, handle, timeout)
	return e.unlock(), err
}

func (e *Engine) changeVisibilityLocked(name, handle string, timeout int) error {
	q, err := e.get(name)
	if err != nil {
		return err
	}
	r, ok := decodeReceipt(handle)
	if !ok || r.queueID != q.id {
		return errReceiptHandleInvalid(handle)
	}
	now := e.clk.Now()
	e.refreshLocked(q, now)
	m := q.msgs[r.msgID]
	if m == nil || m.receiptGen != r.gen {
		return errInvalidParameter("Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", handle)
	}
	if m.state != stateInflight {
		// The handle is the latest but its visibility already ran out:
		// AWS accepts the call and leaves the message visible.
		return nil
	}
	at := now.Add(time.Duration(timeout) * time.Second)
	if at.Sub(m.receivedAt) > maxVisibility*time.Second {
		return errInvalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [%d seconds].", timeout, maxVisibility)
	}
	m.visibleAt = at
	q.pending.fix(m)
	e.logStateLocked(q, m)
	if timeout == 0 {
		e.refreshLocked(q, now)
	}
	e.armWakeLocked(q, now)
	return nil
}

// PurgeQueue deletes every message in a queue. AWS allows one purge a
// queue every 60 seconds.
func (e *Engine) PurgeQueue(name string) error {
	err := e.update(func() error {
		q, err := e.get(name)
		if err != nil {
			return err
		}
		now := e.clk.Now()
		if !q.lastPurge.IsZero() && now.Sub(q.lastPurge) < 60*time.Second {
			return errPurgeInProgress(q.arn)
		}
		q.lastPurge = now
		q.ready.reset()
		q.pending.reset()
		q.byAge.reset()
		q.msgs = map[string]*message{}
		e.queued -= q.bytes
		q.bytes = 0
		q.nDelayed, q.nInflight = 0, 0
		if q.fifo != nil {
			// A purge forgets the deduplication ids too, as AWS's does
			// (LocalStack's AWS-validated
			// test_purge_queue_clears_fifo_deduplication_cache).
			q.fifo.purge()
		}
		e.logPurgeLocked(q)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqs: purge %s: %w", name, err)
	}
	return nil
}

// Waiters returns how many long polls are waiting on a queue (0 for a
// queue that does not exist); tests use it to know a poll has started.
func (e *Engine) Waiters(name string) int {
	e.mu.Lock()
	defer e.unlock()
	if q := e.queues[name]; q != nil {
		return q.waiters
	}
	return 0
}

package sqs

// FIFO queues. A FIFO queue keeps its visible messages per message group
// instead of in one ready heap: each group holds its visible messages by
// enqueue order and counts its messages in flight, and a group is
// available (in the queue's avail heap, ordered by the enqueue order of
// its first visible message) when it has a visible message and none in
// flight. A receive takes the available group whose head is oldest and
// as many of its messages as it may, then the next group: every step is
// O(log n) in the messages and groups. Delayed messages and messages in
// flight stay in the queue's pending heap, as in a standard queue, and
// enter their group when they become visible; a message back from flight
// is the oldest of its group again, so it comes first.
//
// Deduplication keeps, per queue, each deduplication id (with its group,
// under the messageGroup scope) sent in the last five minutes with the
// message id and sequence number it was first sent as: a duplicate is
// answered with those and not enqueued. The ids expire in the order they
// were sent, so a queue of them (oldest first) is swept from the front,
// lazily, whenever the queue is sent to or brought up to date. Until they
// expire they count towards the queue's ceiling on what it holds in
// memory (Options.MaxQueueBytes), dedupOverhead bytes plus their text
// each: a client that sends and deletes fast keeps five minutes of them.

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// dedupWindow is how long SQS remembers a deduplication id, and how long
// a ReceiveRequestAttemptId can be retried.
const dedupWindow = 5 * time.Minute

// Values of the FIFO attributes.
const (
	scopeQueue           = "queue"
	scopeMessageGroup    = "messageGroup"
	limitPerQueue        = "perQueue"
	limitPerMessageGroup = "perMessageGroupId"
)

// fifoState is what a FIFO queue keeps beyond a standard queue's.
type fifoState struct {
	contentDedup bool
	dedupScope   string // scopeQueue or scopeMessageGroup
	throughput   string // limitPerQueue or limitPerMessageGroup

	groups map[string]*group
	avail  posHeap[*group]
	nReady int // visible messages, over all groups

	dedup      map[string]*dedupEntry // by dedupKey
	dedupOrder []*dedupEntry          // by expiry; dedupHead is the oldest live one
	dedupHead  int
	lastSN     uint64 // the latest sequence number issued

	attempts     map[string]*attempt // by ReceiveRequestAttemptId
	attemptOrder []*attempt
	attemptHead  int
}

func newFifoState() *fifoState {
	return &fifoState{
		dedupScope: scopeQueue, throughput: limitPerQueue,
		groups: map[string]*group{}, avail: newGroupHeap(), dedup: map[string]*dedupEntry{}, attempts: map[string]*attempt{},
	}
}

// group is one message group of a FIFO queue; it exists while it has a
// visible message or one in flight.
type group struct {
	id       string
	ready    msgHeap // visible messages by enqueue order
	inflight int
	availIdx int // position in the queue's avail heap, -1 when not in it
}

func newGroup(id string) *group {
	return &group{id: id, availIdx: -1,
		ready: msgHeap{less: func(a, b *message) bool { return a.seq < b.seq }, pos: func(m *message) *int { return &m.heapIdx }}}
}

// dedupOverhead is what a deduplication id costs in memory beyond its
// text (its entry, map slot and place in the expiry queue), a little over
// what it measures.
const dedupOverhead = 192

// dedupEntry is a deduplication id within its window.
type dedupEntry struct {
	key       string
	messageID string
	sn        uint64
	expires   time.Time
	gone      bool // removed early (a purge): skipped by the sweep
}

// attempt is a ReceiveMessage with a ReceiveRequestAttemptId: a retry
// within the window gets the same messages and receipt handles while
// none of them changed since.
type attempt struct {
	id      string
	expires time.Time
	msgs    []*message
	gens    []uint64    // each message's receipt generation then
	until   []time.Time // each message's visibility deadline then
	out     []Message
	gone    bool
}

// size is what d counts towards its queue's ceiling.
func (d *dedupEntry) size() int64 { return int64(len(d.key) + len(d.messageID) + dedupOverhead) }

// dedupKey is the key of a deduplication id under the queue's scope.
func (f *fifoState) dedupKey(groupID, dedupID string) string {
	if f.dedupScope == scopeMessageGroup {
		return groupID + "\x00" + dedupID
	}
	return dedupID
}

// sweep forgets deduplication ids and receive attempts past their window;
// it returns the deduplication ids it dropped, whose records go too.
func (f *fifoState) sweep(now time.Time) []*dedupEntry {
	var dropped []*dedupEntry
	for f.dedupHead < len(f.dedupOrder) {
		d := f.dedupOrder[f.dedupHead]
		if !d.gone && now.Before(d.expires) {
			break
		}
		f.dedupOrder[f.dedupHead] = nil
		f.dedupHead++
		if !d.gone {
			delete(f.dedup, d.key)
			dropped = append(dropped, d)
		}
	}
	if f.dedupHead > 64 && f.dedupHead*2 > len(f.dedupOrder) {
		f.dedupOrder = append([]*dedupEntry(nil), f.dedupOrder[f.dedupHead:]...)
		f.dedupHead = 0
	}
	for f.attemptHead < len(f.attemptOrder) {
		a := f.attemptOrder[f.attemptHead]
		if !a.gone && now.Before(a.expires) {
			break
		}
		f.attemptOrder[f.attemptHead] = nil
		f.attemptHead++
		if !a.gone {
			delete(f.attempts, a.id)
		}
	}
	if f.attemptHead > 64 && f.attemptHead*2 > len(f.attemptOrder) {
		f.attemptOrder = append([]*attempt(nil), f.attemptOrder[f.attemptHead:]...)
		f.attemptHead = 0
	}
	return dropped
}

// addDedup remembers an entry; entries arrive in expiry order, except
// those loaded from the file, which load sorted.
func (f *fifoState) addDedup(d *dedupEntry) {
	f.dedup[d.key] = d
	f.dedupOrder = append(f.dedupOrder, d)
}

// nextSN issues the next sequence number: strictly increasing per queue,
// across restarts too (it follows the clock, and never goes below what it
// issued). SQS's are 20-digit decimals; so are these.
func (f *fifoState) nextSN(now time.Time) uint64 {
	sn := 10_000_000_000_000_000_000 + uint64(now.UnixNano())
	if sn <= f.lastSN {
		sn = f.lastSN + 1
	}
	f.lastSN = sn
	return sn
}

func formatSN(sn uint64) string { return strconv.FormatUint(sn, 10) }

// contentDedupID is the deduplication id ContentBasedDeduplication
// derives from a body: its SHA-256, in hex.
func contentDedupID(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// validFifoToken: 1 to 128 of the characters SQS allows in message group
// ids, deduplication ids and receive request attempt ids, alphanumerics
// and punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~): printable ASCII
// without the space.
func validFifoToken(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}

// errBadToken is InvalidParameterValue for a group, deduplication or
// attempt id; the wording is AWS's (LocalStack's recorded snapshots
// test_send_message_to_standard_queue_with_invalid_message_group_id and
// test_message_deduplication_id_invalid).
func errBadToken(param, v string) error {
	return errInvalidParameter("Value %s for parameter %s is invalid. Reason: %s can only include alphanumeric and punctuation characters. 1 to 128 in length.", v, param, param)
}

// checkFifoSend applies a FIFO queue's rules to a message and returns its
// deduplication id. The errors are AWS's, recorded in LocalStack's
// snapshots (test_posting_to_fifo_requires_deduplicationid_group_id,
// test_fifo_queue_send_message_with_delay_seconds_fails).
func (q *queue) checkFifoSend(in SendInput) (string, error) {
	if in.MessageGroupID == "" {
		return "", errMissingParameter("MessageGroupId")
	}
	if in.DelaySeconds != nil && *in.DelaySeconds != 0 {
		return "", errInvalidParameter("Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", *in.DelaySeconds)
	}
	id := in.MessageDeduplicationID
	if id == "" {
		if !q.fifo.contentDedup {
			return "", errInvalidParameter("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
		id = contentDedupID(in.Body)
	} else if !validFifoToken(id) {
		return "", errBadToken("MessageDeduplicationId", id)
	}
	return id, nil
}

// checkStandardSend refuses what only FIFO queues take.
func checkStandardSend(in SendInput) error {
	if in.MessageDeduplicationID != "" {
		return errInvalidParameter("The request include parameter that is not valid for this queue type. Reason: MessageDeduplicationId is only valid for FIFO queues.")
	}
	return nil
}

// ---- groups

// readyLen is how many messages of q are visible.
func (q *queue) readyLen() int {
	if q.fifo != nil {
		return q.fifo.nReady
	}
	return q.ready.Len()
}

// nextVisible is the message a move task takes next: the oldest visible
// message (of a FIFO queue, the head of its oldest available group).
func (q *queue) nextVisible() *message {
	if q.fifo == nil {
		return q.ready.top()
	}
	if g := q.fifo.avail.top(); g != nil {
		return g.ready.top()
	}
	return nil
}

// group returns the group named id, making it when asked.
func (f *fifoState) group(id string, make bool) *group {
	g := f.groups[id]
	if g == nil && make {
		g = newGroup(id)
		f.groups[id] = g
	}
	return g
}

// settle puts g in the avail heap, or takes it out, or forgets it, as its
// messages now say.
func (f *fifoState) settle(g *group) {
	switch {
	case g.ready.Len() == 0 && g.inflight == 0:
		if g.availIdx >= 0 {
			f.avail.remove(g)
		}
		delete(f.groups, g.id)
	case g.inflight == 0:
		if g.availIdx < 0 {
			f.avail.push(g)
		} else {
			f.avail.fix(g)
		}
	default:
		if g.availIdx >= 0 {
			f.avail.remove(g)
		}
	}
}

// makeReady adds a visible message to its group.
func (f *fifoState) makeReady(m *message) {
	g := f.group(m.groupID, true)
	g.ready.push(m)
	f.nReady++
	f.settle(g)
}

// unready takes a visible message out of its group.
func (f *fifoState) unready(m *message) {
	g := f.group(m.groupID, false)
	g.ready.remove(m)
	f.nReady--
	f.settle(g)
}

// landed counts a message that left flight (back to visible, deleted,
// expired or dead-lettered) out of its group's in-flight count.
func (f *fifoState) landed(m *message) {
	if g := f.group(m.groupID, false); g != nil {
		g.inflight--
		f.settle(g)
	}
}

// purge forgets every group and deduplication id.
func (f *fifoState) purge() {
	for _, g := range f.groups {
		g.ready.reset()
	}
	f.groups = map[string]*group{}
	f.avail.reset()
	f.nReady = 0
	for _, d := range f.dedup {
		d.gone = true
	}
	f.dedup = map[string]*dedupEntry{}
	for _, a := range f.attempts {
		a.gone = true
	}
	f.attempts = map[string]*attempt{}
}

// newGroupHeap returns a heap of groups by the enqueue order of their
// first visible message.
func newGroupHeap() posHeap[*group] {
	return posHeap[*group]{
		less: func(a, b *group) bool { return a.ready.top().seq < b.ready.top().seq },
		pos:  func(g *group) *int { return &g.availIdx },
	}
}

// ---- receive request attempts

// errBadAttemptID refuses a ReceiveRequestAttemptId that is not 1 to 128
// alphanumerics and punctuation, in the words AWS uses for the other FIFO
// tokens.
func errBadAttemptID(v string) error { return errBadToken("ReceiveRequestAttemptId", v) }

// validAttemptID checks a ReceiveRequestAttemptId ("" is none).
func validAttemptID(v string) bool { return v == "" || validFifoToken(v) }

// boolAttr parses a boolean attribute as SQS does (any case).
func boolAttr(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// sweepFifoLocked forgets q's deduplication ids and receive attempts past
// their window, and records that the ids are gone.
func (e *Engine) sweepFifoLocked(q *queue, now time.Time) {
	for _, d := range q.fifo.sweep(now) {
		q.bytes -= d.size()
		e.queued -= d.size()
		e.logDedupDeleteLocked(q, d)
	}
}

// addDedupLocked remembers a deduplication id of q and records it.
func (e *Engine) addDedupLocked(q *queue, d *dedupEntry) {
	q.fifo.addDedup(d)
	q.bytes += d.size()
	e.queued += d.size()
	e.logDedupLocked(q, d)
}

// receiveFifoLocked is receiveLocked for a FIFO queue: it takes the
// available group whose first message is oldest and as many of its
// messages as it may, then the next group, each taken group staying locked
// while a message of it is in flight. A retry of a receive request
// attempt within its window gets what the attempt got.
func (e *Engine) receiveFifoLocked(q *queue, now time.Time, max, vis int, in ReceiveInput) []Message {
	f := q.fifo
	id := in.ReceiveRequestAttemptID
	if a := f.attempts[id]; id != "" && a != nil && a.unchanged(q) {
		for i, m := range a.msgs {
			m.visibleAt = now.Add(time.Duration(vis) * time.Second)
			a.until[i] = m.visibleAt
			q.pending.fix(m)
			e.logStateLocked(q, m)
		}
		e.armWakeLocked(q, now)
		return append([]Message(nil), a.out...)
	}
	var (
		out   []Message
		taken []*message
	)
	for len(out) < max && q.nInflight < MaxInflight {
		g := f.avail.top()
		if g == nil {
			break
		}
		for len(out) < max && q.nInflight < MaxInflight {
			m := g.ready.top()
			if m == nil {
				break
			}
			g.ready.remove(m)
			f.nReady--
			if rp := q.redrive; rp != nil && m.receiveCount >= rp.MaxReceiveCount {
				if dlq := e.queues[rp.dlqName]; dlq != nil && dlq != q {
					e.deadLetterLocked(q, m, dlq, now)
					continue
				}
			}
			e.takeLocked(q, m, now, vis)
			g.inflight++
			out = append(out, e.view(q, m, in))
			taken = append(taken, m)
		}
		f.settle(g)
	}
	if len(out) == 0 {
		return nil
	}
	e.armWakeLocked(q, now)
	if id != "" {
		if old := f.attempts[id]; old != nil {
			old.gone = true
		}
		a := &attempt{id: id, expires: now.Add(dedupWindow), msgs: taken, out: append([]Message(nil), out...)}
		for _, m := range taken {
			a.gens = append(a.gens, m.receiptGen)
			a.until = append(a.until, m.visibleAt)
		}
		f.attempts[id] = a
		f.attemptOrder = append(f.attemptOrder, a)
	}
	return out
}

// unchanged reports whether every message of the attempt is still in
// flight under the receipt it gave, with the visibility it set.
func (a *attempt) unchanged(q *queue) bool {
	for i, m := range a.msgs {
		if q.msgs[m.id] != m || m.state != stateInflight || m.receiptGen != a.gens[i] || !m.visibleAt.Equal(a.until[i]) {
			return false
		}
	}
	return true
}

// checkFifoBatch refuses a whole SendMessageBatch to a FIFO queue when an
// entry has no MessageGroupId, or no MessageDeduplicationId where the
// queue derives none: AWS answers those for the request, not the entry,
// with InvalidParameterValue (LocalStack's snapshots
// test_send_batch_missing_message_group_id_for_fifo_queue and
// test_send_batch_missing_deduplication_id_for_fifo_queue). It also
// answers whether the queue exists.
func (e *Engine) checkFifoBatch(name string, inputs []SendInput, skip []error) error {
	return e.update(func() error {
		q, err := e.get(name)
		if err != nil || q.fifo == nil {
			return err
		}
		for i, in := range inputs {
			if skip[i] != nil {
				continue
			}
			if in.MessageGroupID == "" {
				return errInvalidParameter("The request must contain the parameter MessageGroupId.")
			}
		}
		for i, in := range inputs {
			if skip[i] == nil && in.MessageDeduplicationID == "" && !q.fifo.contentDedup {
				return errInvalidParameter("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
			}
		}
		return nil
	})
}

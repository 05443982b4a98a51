package sns

// FIFO topics. A FIFO topic's publishes are made one at a time (fifoState.mu):
// each is checked against the deduplication window, given the topic's next
// sequence number and fanned out before the next one starts, so that every
// subscription receives a group's messages in the order they were
// published. A duplicate (the same deduplication id within
// DeduplicationWindow, per topic or, with FifoThroughputScope=MessageGroup,
// per group) is answered with the first message's id and sequence number
// and not delivered, as AWS answers it.
//
// A delivery to a FIFO queue that must wait for a retry holds back the
// later messages of its group for that subscription (a chain, keyed by
// subscription and group): they wait, recorded like retries, and are
// delivered in order once the one before them is delivered or given up on.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/journal"
)

// DeduplicationWindow is how long a FIFO topic remembers a deduplication id.
const DeduplicationWindow = 5 * time.Minute

// MaxFIFOIDLength is the longest MessageGroupId or MessageDeduplicationId.
const MaxFIFOIDLength = 128

// validFIFOID says whether id is what AWS allows in MessageGroupId and
// MessageDeduplicationId: 1 to MaxFIFOIDLength alphanumeric and punctuation
// characters (printable ASCII but space). A loop rather than a regular
// expression: `[\x21-\x7e]{1,128}` compiles, at every start, to a program
// as long as its count.
func validFIFOID(id string) bool {
	if len(id) < 1 || len(id) > MaxFIFOIDLength {
		return false
	}
	for i := range len(id) {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// firstSequenceNumber makes sequence numbers 20 digits long, as AWS's are.
const firstSequenceNumber = 10000000000000000000

// sequenceBlock is how many sequence numbers a FIFO topic on a data file
// reserves at a time; a restart skips what was left of its block (AWS's
// numbers are not consecutive either).
const sequenceBlock = 1000

// fifoState is a FIFO topic's publishing state; mu orders its publishes.
type fifoState struct {
	mu   sync.Mutex
	gone bool   // the topic was deleted
	seq  uint64 // the last sequence number given (0: none yet)
	// reserved, with a data file, is the highest sequence number the file
	// allows: numbers are reserved a block at a time before they are
	// given, so that a crash never makes a number given again.
	reserved uint64
	dedup    map[string]dedupEntry
	// order holds the deduplication keys by expiry, oldest first.
	order []dedupExpiry
}

// dedupEntry is the answer a duplicate gets within the window.
type dedupEntry struct {
	messageID, sequenceNumber string
	expires                   time.Time
}

type dedupExpiry struct {
	key     string
	expires time.Time
}

func sequenceNumber(n uint64) string { return fmt.Sprintf("%020d", firstSequenceNumber+n) }

// checkFIFOInput applies the topic's rules on MessageGroupId and
// MessageDeduplicationId to one message, and sets m's deduplication id (the
// SHA-256 of the message with content-based deduplication).
func checkFIFOInput(t topicView, in PublishInput, m *message) error {
	m.fifo = t.fifo
	m.group = in.MessageGroupID
	if !t.fifo {
		if in.MessageDeduplicationID != "" {
			return invalidParameter("MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
		}
		return nil
	}
	if in.MessageGroupID == "" {
		return invalidParameter("The MessageGroupId parameter is required for FIFO topics")
	}
	m.dedupID = in.MessageDeduplicationID
	if m.dedupID == "" {
		if !t.contentDedup {
			return invalidParameter("The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
		sum := sha256.Sum256([]byte(in.Message))
		m.dedupID = hex.EncodeToString(sum[:])
	}
	return nil
}

// checkFIFOIDs validates the form of the ids a publish carries, whatever
// the topic.
func checkFIFOIDs(in PublishInput) error {
	if in.MessageGroupID != "" && !validFIFOID(in.MessageGroupID) {
		return invalidParameter("MessageGroupId Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to %d in length.", MaxFIFOIDLength)
	}
	if in.MessageDeduplicationID != "" && !validFIFOID(in.MessageDeduplicationID) {
		return invalidParameter("MessageDeduplicationId Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to %d in length.", MaxFIFOIDLength)
	}
	return nil
}

func (v topicView) dedupKey(m *message) string {
	if v.groupScope {
		return m.group + "\x00" + m.dedupID
	}
	return m.dedupID
}

// publishFIFO publishes ms (nil entries skipped) to the FIFO topic t, one
// after another in order, and returns the tickets to wait for: the
// deduplication records' and the deliveries' retries'.
func (s *Service) publishFIFO(ctx context.Context, v topicView, ms []*message) ([]journal.Ticket, error) {
	t := v.t
	t.pub.mu.Lock()
	defer t.pub.mu.Unlock()
	if t.pub.gone {
		return nil, notFound("Topic")
	}
	var tickets []journal.Ticket
	now := s.clock.Now()
	ops := s.pruneDedupLocked(t, now)
	for _, m := range ms {
		if m == nil {
			continue
		}
		key := v.dedupKey(m)
		if e, ok := t.pub.dedup[key]; ok && now.Before(e.expires) {
			m.id, m.sequenceNumber = e.messageID, e.sequenceNumber
			continue // a duplicate: accepted, answered alike, not delivered
		}
		if s.j != nil && t.pub.seq >= t.pub.reserved {
			t.pub.reserved = t.pub.seq + sequenceBlock
			if err := durable(s.j.Append(put(fifoBucket, t.arn, fifoValue(t.pub.reserved)))); err != nil {
				return nil, fmt.Errorf("sns: publish to %s: reserve sequence numbers: %w", t.arn, err)
			}
		}
		t.pub.seq++
		m.seq, m.sequenceNumber = t.pub.seq, sequenceNumber(t.pub.seq)
		tickets = append(tickets, s.fanOut(ctx, m, v.subs, 0))
		e := dedupEntry{messageID: m.id, sequenceNumber: m.sequenceNumber, expires: now.Add(DeduplicationWindow)}
		if t.pub.dedup == nil {
			t.pub.dedup = map[string]dedupEntry{}
		}
		t.pub.dedup[key] = e
		t.pub.order = append(t.pub.order, dedupExpiry{key, e.expires})
		if s.j != nil {
			ops = append(ops, put(dedupBucket, t.arn+"\x00"+key, dedupValue(e)))
		}
	}
	if s.j != nil {
		tickets = append(tickets, s.j.Append(ops...))
	}
	return tickets, nil
}

// pruneDedupLocked forgets the deduplication ids whose window has passed
// and returns the records' deletions; t.pub.mu is held.
func (s *Service) pruneDedupLocked(t *topic, now time.Time) []journal.Op {
	var ops []journal.Op
	n := 0
	for n < len(t.pub.order) && !now.Before(t.pub.order[n].expires) {
		x := t.pub.order[n]
		if e, ok := t.pub.dedup[x.key]; ok && e.expires.Equal(x.expires) {
			delete(t.pub.dedup, x.key)
			if s.j != nil {
				ops = append(ops, del(dedupBucket, t.arn+"\x00"+x.key))
			}
		}
		n++
	}
	if n > 0 {
		t.pub.order = slices.Delete(t.pub.order, 0, n)
	}
	return ops
}

// endFIFOLocked marks t deleted for the publishes that raced the deletion
// and records that its deduplication window and sequence are gone, so that
// a topic created again under its name starts afresh; s.mu is held.
func (s *Service) endFIFOLocked(t *topic) {
	if !t.fifo {
		return
	}
	t.pub.mu.Lock()
	defer t.pub.mu.Unlock()
	t.pub.gone = true
	if s.j == nil {
		return
	}
	for key := range t.pub.dedup {
		s.record(del(dedupBucket, t.arn+"\x00"+key))
	}
	s.record(del(fifoBucket, t.arn))
}

// chainKey names the deliveries that must stay in order: one group's, to
// one subscription.
func (j *job) chainKey() string { return j.subARN + "\x00" + j.group }

// chained reports whether j is held in order behind its group's earlier
// deliveries.
func (j *job) chained() bool { return j.ordered && j.group != "" && !j.redrive }

// chain holds the deliveries of one group to one subscription that wait
// behind a delivery that waits for a retry.
type chain struct{ waiting []*job }

// holdBehind queues j behind its group's earlier delivery when one waits
// for a retry (recording it, with a data file, like a retry) and reports
// whether it did.
func (s *Service) holdBehind(j *job) (journal.Ticket, bool) {
	s.timersMu.Lock()
	defer s.timersMu.Unlock()
	c, ok := s.chains[j.chainKey()]
	if !ok {
		return journal.Ticket{}, false
	}
	c.waiting = append(c.waiting, j)
	var t journal.Ticket
	if s.j != nil {
		j.id = retryID(j)
		t = s.j.Append(retryRecord(j))
	}
	return t, true
}

// nextInChain returns the delivery waiting behind j, or nil when none
// does (and the chain ends).
func (s *Service) nextInChain(j *job) *job {
	s.timersMu.Lock()
	defer s.timersMu.Unlock()
	key := j.chainKey()
	c, ok := s.chains[key]
	if !ok {
		return nil
	}
	if len(c.waiting) == 0 {
		delete(s.chains, key)
		return nil
	}
	next := c.waiting[0]
	c.waiting = slices.Delete(c.waiting, 0, 1)
	return next
}

// startChainLocked opens j's chain as j waits for a retry; s.timersMu is
// held.
func (s *Service) startChainLocked(j *job) {
	if !j.chained() {
		return
	}
	if _, ok := s.chains[j.chainKey()]; !ok {
		s.chains[j.chainKey()] = &chain{}
	}
}

// retryID is a new id for j's retry record; the prefix marks records that
// carry FIFO fields.
func retryID(j *job) string {
	if j.id != "" {
		return j.id
	}
	id := awsproto.NewRequestID()
	if j.group != "" || j.dedupID != "" || j.ordered {
		return fifoRetryPrefix + id
	}
	return id
}

const fifoRetryPrefix = "g:"

// arrangeRecovered arms the recovered retries: of each chain only the
// earliest (by sequence number), the rest waiting behind it; s.timersMu is
// held.
func (s *Service) arrangeRecovered(jobs []*job, now time.Time) {
	slices.SortStableFunc(jobs, func(a, b *job) int {
		if c := strings.Compare(a.chainKey(), b.chainKey()); c != 0 || !a.chained() || !b.chained() {
			return c
		}
		switch {
		case a.order < b.order:
			return -1
		case a.order > b.order:
			return 1
		}
		return 0
	})
	for _, j := range jobs {
		if j.chained() {
			if c, ok := s.chains[j.chainKey()]; ok {
				c.waiting = append(c.waiting, j)
				continue
			}
			s.chains[j.chainKey()] = &chain{}
		}
		s.armLocked(max(j.due.Sub(now), time.Duration(0)), j)
	}
}

package sqs

// Durability. The engine in memory stays the serving structure; the bbolt
// file (with the journal's write-ahead log beside it) holds a copy of its
// state that every acknowledged change reaches first. Each change made
// under e.mu appends journal.Ops to e.pending; e.unlock hands them to the
// journal in order, and the request waits for their commit (shared with
// every concurrent request's) before it answers. Time-driven changes that nobody acknowledges (a message coming
// back from flight, a delay ending) are not written: they follow from the
// deadlines on file.
//
// Layout, under the top-level bucket "sqs":
//
//	format, region, account    format version and the ARNs' region and account
//	queues/<name>              a queue's attributes, tags, id and purge time
//	messages/<name>/<seq>0     a message's fixed part: id, body, attributes, MD5s, sent time, DLQ source
//	messages/<name>/<seq>1     its changing part: state, visibility deadline, receive count, first receive, receipt generation
//	tasks/<handle>             a message move task and its progress
//	dedup/<name>/<key>         a FIFO queue's deduplication id in its window: message id, sequence number, expiry
//
// A FIFO queue's record ends with its FIFO attributes, and its messages'
// fixed parts with their deduplication ids and sequence numbers; records
// written before FIFO queues existed end earlier and load as standard.
// <seq> is the message's enqueue order in its queue (8 bytes, big-endian),
// so a queue's messages load in order. A deleted message's two keys are
// deleted, a purge or queue deletion drops the queue's bucket: bbolt reuses
// the freed pages, so the file's size follows what the queues hold, not
// how much went through them.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/journal"
)

const formatVersion = "1"

var (
	rootBucket     = []byte("sqs")
	queuesBucket   = []byte("queues")
	messagesBucket = []byte("messages")
	tasksBucket    = []byte("tasks")
	dedupBucket    = []byte("dedup")
	keyFormat      = []byte("format")
	keyRegion      = []byte("region")
	keyAccount     = []byte("account")
)

const (
	partFixed byte = 0
	partState byte = 1
)

// ErrDataFile is the error of New and NewEngine when the data file holds
// SQS data this engine cannot use: damaged records, another format
// version, or another region or account.
var ErrDataFile = errors.New("sqs: unusable data in the data file")

func msgKey(seq uint64, part byte) []byte {
	k := make([]byte, 9)
	binary.BigEndian.PutUint64(k, seq)
	k[8] = part
	return k
}

// record queues ops for the journal; without one, changes are not recorded.
func (e *Engine) record(ops ...journal.Op) { e.pending = append(e.pending, ops...) }

// Paths of the buckets the records write to.
var (
	queuesPath   = journal.Path(rootBucket, queuesBucket)
	messagesPath = journal.Path(rootBucket, messagesBucket)
	tasksPath    = journal.Path(rootBucket, tasksBucket)
	dedupPath    = journal.Path(rootBucket, dedupBucket)
)

// messagesOf is the path of queue name's messages bucket.
func messagesOf(name string) [][]byte { return journal.Path(rootBucket, messagesBucket, []byte(name)) }

// saveQueueLocked records q's attributes, tags and identity.
func (e *Engine) saveQueueLocked(q *queue) {
	if e.j == nil {
		return
	}
	name := []byte(q.name)
	e.record(journal.Put(queuesPath, name, encodeQueue(q)), journal.CreateBucket(messagesPath, name))
	if q.fifo != nil {
		e.record(journal.CreateBucket(dedupPath, name))
	}
}

// deleteQueueRecordsLocked records that q, its messages and its move tasks
// are gone.
func (e *Engine) deleteQueueRecordsLocked(q *queue) {
	if e.j == nil {
		return
	}
	name := []byte(q.name)
	e.record(journal.Delete(queuesPath, name), journal.DeleteBucket(messagesPath, name))
	if q.fifo != nil {
		e.record(journal.DeleteBucket(dedupPath, name))
	}
	for _, t := range q.tasks {
		e.record(journal.Delete(tasksPath, []byte(t.TaskHandle)))
	}
}

// logPurgeLocked records that q's messages are gone and when it was purged.
func (e *Engine) logPurgeLocked(q *queue) {
	if e.j == nil {
		return
	}
	name := []byte(q.name)
	e.record(journal.DeleteBucket(messagesPath, name), journal.CreateBucket(messagesPath, name))
	if q.fifo != nil {
		e.record(journal.DeleteBucket(dedupPath, name)) // saveQueueLocked makes it again
	}
	e.saveQueueLocked(q)
}

// logDedupLocked records a deduplication id of q.
func (e *Engine) logDedupLocked(q *queue, d *dedupEntry) {
	if e.j == nil {
		return
	}
	v := journal.NewEncoder(64)
	v.Str(d.messageID)
	v.Uint(d.sn)
	v.Time(d.expires)
	e.record(journal.Put(journal.Path(rootBucket, dedupBucket, []byte(q.name)), []byte(d.key), v.Bytes()))
}

// logDedupDeleteLocked records that a deduplication id of q expired.
func (e *Engine) logDedupDeleteLocked(q *queue, d *dedupEntry) {
	if e.j == nil {
		return
	}
	e.record(journal.Delete(journal.Path(rootBucket, dedupBucket, []byte(q.name)), []byte(d.key)))
}

// fixedPart is what never changes about a message once enqueued. It is
// copied under the lock and encoded by the committer, outside it: the
// strings and maps it shares with the message are never written again.
type fixedPart struct {
	id, body, md5Body, md5Attrs, md5Sys, senderID, groupID, deadLetterOf string
	attrs, sysAttrs                                                      map[string]MessageAttributeValue
	sentAt                                                               time.Time
	dedupID                                                              string
	sn                                                                   uint64
}

// messagesPath is the path of q's messages bucket, made once per queue.
func (q *queue) messagesPath() [][]byte {
	if q.msgPath == nil {
		q.msgPath = messagesOf(q.name)
	}
	return q.msgPath
}

func (f *fixedPart) encode() []byte {
	e := journal.NewEncoder(len(f.body) + 128)
	e.Str(f.id)
	e.Str(f.body)
	encodeAttributes(e, f.attrs)
	encodeAttributes(e, f.sysAttrs)
	e.Str(f.md5Body)
	e.Str(f.md5Attrs)
	e.Str(f.md5Sys)
	e.Str(f.senderID)
	e.Str(f.groupID)
	e.Time(f.sentAt)
	e.Str(f.deadLetterOf)
	if f.sn != 0 {
		e.Str(f.dedupID)
		e.Uint(f.sn)
	}
	return e.Bytes()
}

func encodeAttributes(e *journal.Encoder, attrs map[string]MessageAttributeValue) {
	e.Uint(uint64(len(attrs)))
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		v := attrs[k]
		e.Str(k)
		e.Str(v.DataType)
		e.Str(v.StringValue)
		e.Blob(v.BinaryValue)
	}
}

func decodeAttributes(d *journal.Decoder) map[string]MessageAttributeValue {
	n := d.Len(4)
	if n == 0 {
		return nil
	}
	attrs := make(map[string]MessageAttributeValue, n)
	for i := 0; i < n; i++ {
		k := d.Str()
		attrs[k] = MessageAttributeValue{DataType: d.Str(), StringValue: d.Str(), BinaryValue: d.Blob()}
	}
	return attrs
}

func encodeState(m *message) []byte {
	e := journal.NewEncoder(48)
	e.Uint(uint64(m.state))
	e.Time(m.visibleAt)
	e.Uint(uint64(m.receiveCount))
	e.Time(m.firstReceive)
	e.Time(m.receivedAt)
	e.Uint(m.receiptGen)
	return e.Bytes()
}

// logEnqueueLocked records m, just enqueued on q.
func (e *Engine) logEnqueueLocked(q *queue, m *message) {
	if e.j == nil {
		return
	}
	fixed := &fixedPart{
		id: m.id, body: m.body, md5Body: m.md5Body, md5Attrs: m.md5Attrs, md5Sys: m.md5Sys,
		senderID: m.senderID, groupID: m.groupID, deadLetterOf: m.deadLetterOf,
		attrs: m.attrs, sysAttrs: m.sysAttrs, sentAt: m.sentAt, dedupID: m.dedupID, sn: m.sn,
	}
	path := q.messagesPath()
	e.record(journal.PutLazy(path, msgKey(m.seq, partFixed), fixed.encode),
		journal.Put(path, msgKey(m.seq, partState), encodeState(m)))
}

// logStateLocked records m's visibility, receive count and receipt.
func (e *Engine) logStateLocked(q *queue, m *message) {
	if e.j == nil {
		return
	}
	e.record(journal.Put(q.messagesPath(), msgKey(m.seq, partState), encodeState(m)))
}

// logRemoveLocked records that m left q.
func (e *Engine) logRemoveLocked(q *queue, m *message) {
	if e.j == nil {
		return
	}
	// A queue's records may have gone with a purge or a deletion: deleting
	// from a missing bucket is not an error.
	path := q.messagesPath()
	e.record(journal.Delete(path, msgKey(m.seq, partFixed)), journal.Delete(path, msgKey(m.seq, partState)))
}

// deleteTaskRecordLocked records that t is forgotten.
func (e *Engine) deleteTaskRecordLocked(t *moveTask) {
	if e.j == nil {
		return
	}
	e.record(journal.Delete(tasksPath, []byte(t.TaskHandle)))
}

// saveTaskLocked records t and its progress.
func (e *Engine) saveTaskLocked(t *moveTask) {
	if e.j == nil {
		return
	}
	e.record(journal.Put(tasksPath, []byte(t.TaskHandle), encodeTask(t)))
}

func encodeQueue(q *queue) []byte {
	e := journal.NewEncoder(256 + len(q.policyRaw))
	e.Str(q.id)
	e.Time(q.created)
	e.Time(q.modified)
	for _, n := range []int{q.delay, q.maxSize, q.retention, q.wait, q.visibility, q.kmsReuse} {
		e.Int(int64(n))
	}
	e.Str(q.policyRaw)
	redrive := ""
	if q.redrive != nil {
		redrive = q.redrive.String()
	}
	e.Str(redrive)
	e.Str(q.redriveAllowRaw)
	e.Str(q.kmsKeyID)
	e.Bool(q.sseEnabled)
	e.StrMap(q.tags)
	e.Time(q.lastPurge)
	if f := q.fifo; f != nil {
		e.Bool(true)
		e.Bool(f.contentDedup)
		e.Str(f.dedupScope)
		e.Str(f.throughput)
	}
	return e.Bytes()
}

func encodeTask(t *moveTask) []byte {
	e := journal.NewEncoder(256)
	e.Uint(t.seq)
	e.Str(t.Status)
	e.Str(t.SourceArn)
	e.Str(t.DestinationArn)
	e.Bool(t.MaxNumberOfMessagesPerSecond != nil)
	if r := t.MaxNumberOfMessagesPerSecond; r != nil {
		e.Int(int64(*r))
	}
	e.Int(t.ApproximateNumberOfMessagesMoved)
	e.Int(t.ApproximateNumberOfMessagesToMove)
	e.Str(t.FailureReason)
	e.Time(t.StartedTimestamp)
	e.Str(t.sourceName)
	return e.Bytes()
}

// load fills a new engine from opts.DB, creating SQS's buckets in a new
// file. A running move task carries on from its recorded progress (it
// moves, on its next step, what its rate allowed since it started).
func (e *Engine) load() error {
	db := e.opts.DB
	err := journal.Guard("sqs: load", func() error {
		return db.Update(func(tx *bbolt.Tx) error {
			root, err := e.openRoot(tx)
			if err != nil {
				return err
			}
			if err := e.loadQueues(root); err != nil {
				return err
			}
			if err := e.loadMessages(root); err != nil {
				return err
			}
			if err := e.loadDedup(root); err != nil {
				return err
			}
			return e.loadTasks(root)
		})
	})
	if err != nil {
		return fmt.Errorf("sqs: open %s: %w", db.Path(), err)
	}
	return nil
}

// resumeTasks arms the steps of the move tasks that were running.
func (e *Engine) resumeTasks() {
	e.mu.Lock()
	defer e.unlock()
	now := e.clk.Now()
	for _, t := range e.tasks {
		if t.Status == TaskRunning || t.Status == TaskCancelling {
			e.scheduleTaskLocked(t, now)
		}
	}
}

func (e *Engine) openRoot(tx *bbolt.Tx) (*bbolt.Bucket, error) {
	root := tx.Bucket(rootBucket)
	if root == nil {
		var err error
		if root, err = tx.CreateBucket(rootBucket); err != nil {
			return nil, fmt.Errorf("create buckets: %w", err)
		}
		for k, v := range map[string]string{string(keyFormat): formatVersion, string(keyRegion): e.opts.Region, string(keyAccount): e.opts.AccountID} {
			if err := root.Put([]byte(k), []byte(v)); err != nil {
				return nil, fmt.Errorf("create buckets: %w", err)
			}
		}
		for _, b := range [][]byte{queuesBucket, messagesBucket, tasksBucket} {
			if _, err := root.CreateBucket(b); err != nil {
				return nil, fmt.Errorf("create buckets: %w", err)
			}
		}
		return root, nil
	}
	if v := root.Get(keyFormat); string(v) != formatVersion {
		return nil, fmt.Errorf("%w: format version %q, want %q", ErrDataFile, v, formatVersion)
	}
	if r, a := string(root.Get(keyRegion)), string(root.Get(keyAccount)); r != e.opts.Region || a != e.opts.AccountID {
		return nil, fmt.Errorf("%w: written for region %q and account %q, opened for %q and %q (queue ARNs and policies would not match)",
			ErrDataFile, r, a, e.opts.Region, e.opts.AccountID)
	}
	for _, b := range [][]byte{queuesBucket, messagesBucket, tasksBucket} {
		if root.Bucket(b) == nil {
			return nil, fmt.Errorf("%w: bucket %s is missing", ErrDataFile, b)
		}
	}
	return root, nil
}

func (e *Engine) loadQueues(root *bbolt.Bucket) error {
	err := root.Bucket(queuesBucket).ForEach(func(k, v []byte) error {
		name := string(k)
		if v == nil || !validQueueName(name) && !validFifoQueueName(name) {
			return fmt.Errorf("%w: queue record %q", ErrDataFile, k)
		}
		d := journal.NewDecoder(v)
		id, created := d.Str(), d.Time()
		q := newQueue(name, e.QueueARN(name), created, false)
		q.id, q.modified = id, d.Time()
		for _, n := range []*int{&q.delay, &q.maxSize, &q.retention, &q.wait, &q.visibility, &q.kmsReuse} {
			*n = int(d.Int())
		}
		q.policyRaw = d.Str()
		redrive := d.Str()
		q.redriveAllowRaw = d.Str()
		q.kmsKeyID = d.Str()
		q.sseEnabled = d.Bool()
		q.tags = d.StrMap()
		q.lastPurge = d.Time()
		if d.More() && d.Bool() {
			q.fifo = newFifoState()
			q.fifo.contentDedup, q.fifo.dedupScope, q.fifo.throughput = d.Bool(), d.Str(), d.Str()
		}
		if err := d.Err(); err != nil {
			return fmt.Errorf("%w: queue %s: %w", ErrDataFile, name, err)
		}
		var err error
		if q.policyRaw != "" {
			if q.policy, err = parsePolicy(q.policyRaw); err != nil {
				return fmt.Errorf("%w: queue %s: Policy: %w", ErrDataFile, name, err)
			}
		}
		if redrive != "" {
			if q.redrive, err = e.parseRedrivePolicy(redrive); err != nil {
				return fmt.Errorf("%w: queue %s: RedrivePolicy: %w", ErrDataFile, name, err)
			}
		}
		if q.redriveAllowRaw != "" {
			if q.redriveAllow, err = parseRedriveAllowPolicy(q.redriveAllowRaw); err != nil {
				return fmt.Errorf("%w: queue %s: RedriveAllowPolicy: %w", ErrDataFile, name, err)
			}
		}
		e.queues[name] = q
		return nil
	})
	if err != nil {
		return fmt.Errorf("load queues: %w", err)
	}
	return nil
}

func (e *Engine) loadMessages(root *bbolt.Bucket) error {
	all := root.Bucket(messagesBucket)
	var orphans [][]byte
	err := all.ForEach(func(k, v []byte) error {
		name := string(k)
		b := all.Bucket(k)
		if v != nil || b == nil {
			return fmt.Errorf("%w: messages: %q is not a queue's bucket", ErrDataFile, k)
		}
		q := e.queues[name]
		if q == nil {
			// Written after its queue's deletion: nothing can reach it.
			orphans = append(orphans, slices.Clone(k))
			return nil
		}
		if err := e.loadQueueMessages(q, b); err != nil {
			return fmt.Errorf("queue %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load messages: %w", err)
	}
	for _, k := range orphans {
		if err := all.DeleteBucket(k); err != nil {
			return fmt.Errorf("load messages: drop orphan bucket %q: %w", k, err)
		}
	}
	return nil
}

func (e *Engine) loadQueueMessages(q *queue, b *bbolt.Bucket) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 9 || k[8] != partFixed || v == nil {
			return fmt.Errorf("%w: message key %x is not a message's first part", ErrDataFile, k)
		}
		seq := binary.BigEndian.Uint64(k)
		d := journal.NewDecoder(v)
		m := &message{
			id: d.Str(), body: d.Str(), attrs: decodeAttributes(d), sysAttrs: decodeAttributes(d),
			md5Body: d.Str(), md5Attrs: d.Str(), md5Sys: d.Str(), senderID: d.Str(), groupID: d.Str(),
			sentAt: d.Time(), deadLetterOf: d.Str(), seq: seq,
		}
		if d.More() {
			m.dedupID, m.sn = d.Str(), d.Uint()
		}
		if err := d.Err(); err != nil {
			return fmt.Errorf("%w: message %d: %w", ErrDataFile, seq, err)
		}
		k, v = c.Next()
		if !bytes.Equal(k, msgKey(seq, partState)) || v == nil {
			return fmt.Errorf("%w: message %s has no state record", ErrDataFile, m.id)
		}
		d = journal.NewDecoder(v)
		m.state = msgState(d.Uint())
		m.visibleAt = d.Time()
		m.receiveCount = int(d.Uint())
		m.firstReceive = d.Time()
		m.receivedAt = d.Time()
		m.receiptGen = d.Uint()
		if err := d.Err(); err != nil || m.state > stateInflight {
			return fmt.Errorf("%w: state of message %s: %v", ErrDataFile, m.id, err)
		}
		m.heapIdx, m.ageIdx = -1, -1
		if old := q.msgs[m.id]; old != nil {
			return fmt.Errorf("%w: message %s is in the queue twice", ErrDataFile, m.id)
		}
		q.msgs[m.id] = m
		q.bytes += m.bytes()
		e.queued += m.bytes()
		q.byAge.push(m)
		switch m.state {
		case stateReady:
			if q.fifo != nil {
				q.fifo.makeReady(m)
			} else {
				q.ready.push(m)
			}
		case stateDelayed:
			q.pending.push(m)
			q.nDelayed++
		case stateInflight:
			q.pending.push(m)
			q.nInflight++
			if q.fifo != nil {
				g := q.fifo.group(m.groupID, true)
				g.inflight++
				q.fifo.settle(g)
			}
		}
		if q.fifo != nil {
			q.fifo.lastSN = max(q.fifo.lastSN, m.sn)
		}
		q.seq = max(q.seq, seq)
	}
	return nil
}

// loadDedup loads the FIFO queues' deduplication ids still in their
// window, dropping the expired ones (and those of queues that are gone)
// from the file.
func (e *Engine) loadDedup(root *bbolt.Bucket) error {
	all := root.Bucket(dedupBucket)
	if all == nil {
		return nil // a file from before FIFO queues
	}
	now := e.clk.Now()
	var orphans [][]byte
	err := all.ForEach(func(k, v []byte) error {
		b := all.Bucket(k)
		q := e.queues[string(k)]
		if v != nil || b == nil {
			return fmt.Errorf("%w: dedup: %q is not a queue's bucket", ErrDataFile, k)
		}
		if q == nil || q.fifo == nil {
			orphans = append(orphans, slices.Clone(k))
			return nil
		}
		var live []*dedupEntry
		var expired [][]byte
		err := b.ForEach(func(key, v []byte) error {
			d := journal.NewDecoder(v)
			ent := &dedupEntry{key: string(key), messageID: d.Str(), sn: d.Uint(), expires: d.Time()}
			if err := d.Err(); err != nil {
				return fmt.Errorf("%w: queue %s: deduplication id %q: %w", ErrDataFile, q.name, key, err)
			}
			q.fifo.lastSN = max(q.fifo.lastSN, ent.sn)
			if !now.Before(ent.expires) {
				expired = append(expired, slices.Clone(key))
				return nil
			}
			live = append(live, ent)
			return nil
		})
		if err != nil {
			return err
		}
		for _, key := range expired {
			if err := b.Delete(key); err != nil {
				return fmt.Errorf("queue %s: drop expired deduplication id: %w", q.name, err)
			}
		}
		slices.SortFunc(live, func(a, b *dedupEntry) int { return a.expires.Compare(b.expires) })
		for _, ent := range live {
			q.fifo.addDedup(ent)
			q.bytes += ent.size()
			e.queued += ent.size()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load deduplication ids: %w", err)
	}
	for _, k := range orphans {
		if err := all.DeleteBucket(k); err != nil {
			return fmt.Errorf("load deduplication ids: drop orphan bucket %q: %w", k, err)
		}
	}
	return nil
}

func (e *Engine) loadTasks(root *bbolt.Bucket) error {
	var tasks []*moveTask
	err := root.Bucket(tasksBucket).ForEach(func(k, v []byte) error {
		if v == nil {
			return fmt.Errorf("%w: move task %q", ErrDataFile, k)
		}
		d := journal.NewDecoder(v)
		t := &moveTask{seq: d.Uint()}
		t.TaskHandle = string(k)
		t.Status, t.SourceArn, t.DestinationArn = d.Str(), d.Str(), d.Str()
		if d.Bool() {
			r := int(d.Int())
			t.MaxNumberOfMessagesPerSecond = &r
		}
		t.ApproximateNumberOfMessagesMoved = d.Int()
		t.ApproximateNumberOfMessagesToMove = d.Int()
		t.FailureReason = d.Str()
		t.StartedTimestamp = d.Time()
		t.sourceName = d.Str()
		if err := d.Err(); err != nil {
			return fmt.Errorf("%w: move task %q: %w", ErrDataFile, k, err)
		}
		tasks = append(tasks, t)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load move tasks: %w", err)
	}
	slices.SortFunc(tasks, func(a, b *moveTask) int { return cmp.Compare(a.seq, b.seq) })
	for _, t := range tasks {
		e.taskSeq = max(e.taskSeq, t.seq)
		e.tasks[t.TaskHandle] = t
		if q := e.queues[t.sourceName]; q != nil {
			q.tasks = append(q.tasks, t)
		} else if t.Status == TaskRunning || t.Status == TaskCancelling {
			t.Status, t.FailureReason = TaskFailed, "AWS.SimpleQueueService.NonExistentQueue"
		}
	}
	return nil
}

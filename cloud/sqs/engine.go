package sqs

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
)

// Options configures a Service (and its Engine).
type Options struct {
	// Env is the account that owns every queue, the region in queue ARNs
	// and the endpoint in queue URLs (BaseURL()+"/"+AccountID+"/"+name);
	// its zero fields take awsenv's defaults.
	awsenv.Env
	// Clock is the source of time; default clock.Real().
	Clock clock.Clock
	// DB, when set, makes the engine durable: New (or NewEngine) loads the
	// queues, messages and move tasks the file holds, and every change is
	// committed to it (under top-level buckets named sqs…) before it is
	// acknowledged.
	// The caller opens and closes DB (see journal.Open) and must reopen it
	// with the same Region and AccountID. Nil keeps everything in memory.
	DB *bbolt.DB
	// Journal, with DB, is a group-commit journal on DB shared with other
	// services, so that their records share commits (log syncs); the caller
	// closes it after the services. Nil: the engine has a journal of its own.
	Journal *journal.Journal
	// MaxQueueBytes is the most one queue holds, counted as MessageBytes
	// counts: past it SendMessage and SendMessageBatch are refused
	// (ErrQueueFull) until the queue is drained below it. Default
	// DefaultMaxQueueBytes; negative: no ceiling.
	MaxQueueBytes int64
	// MaxQueuedBytes is the most all queues hold together, likewise.
	// Default DefaultMaxQueuedBytes; negative: no ceiling.
	MaxQueuedBytes int64
}

// The default ceilings on what queues hold in memory. AWS sets none on
// stored messages (only 120,000 in flight a standard queue); a local
// process must, or a client that sends faster than it receives grows it
// until the machine runs out of memory. Sized for a development machine:
// a queue of orders a few hundred bytes each holds about half a million
// of them. docs/benchmarks.md says what a queued byte costs in memory.
const (
	DefaultMaxQueueBytes  = 256 << 20
	DefaultMaxQueuedBytes = 512 << 20
)

// MaxInflight is AWS's limit on the messages in flight (received, not yet
// deleted or visible again) in one queue, standard or FIFO (AWS raised
// FIFO queues' limit from 20,000 to standard queues' 120,000): past it
// ReceiveMessage answers OverLimit on a standard queue and, as AWS
// documents for FIFO queues, no messages and no error on a FIFO queue.
const MaxInflight = 120_000

func (o Options) withDefaults() Options {
	o.Env = o.Env.WithDefaults()
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.MaxQueueBytes == 0 {
		o.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if o.MaxQueuedBytes == 0 {
		o.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	return o
}

// Engine holds the queues and their messages. Its methods are safe for
// concurrent use; one lock serialises every state change, which keeps
// cross-queue moves (dead-lettering, move tasks) simple and orders the
// journal: each change is recorded under the lock and made durable after
// it is released (see durable.go).
type Engine struct {
	opts Options
	clk  clock.Clock

	mu      sync.Mutex
	queued  int64 // MessageBytes of every message of every queue
	queues  map[string]*queue
	tasks   map[string]*moveTask // by task handle
	taskSeq uint64               // orders a queue's tasks in the file

	j *journal.Journal // nil in memory
	// sharedJournal: j belongs to the caller, who closes it.
	sharedJournal bool
	pending       []journal.Op // changes made under mu, not yet handed to j
	// last is the ticket of the latest changes handed to j: it is done
	// when every change made so far is durable, or failed when one of them
	// never will be (see unlock).
	last journal.Ticket
}

func newEngine(opts Options) *Engine {
	return &Engine{opts: opts, clk: opts.Clock, queues: map[string]*queue{}, tasks: map[string]*moveTask{}}
}

// NewEngine returns an engine, for in-process callers that need no
// Service. Options documents the defaults. Without a DB it is empty and in
// memory; with one it holds what opts.DB holds (nothing, for a new file)
// and records every change there from then on. Close it to stop its
// committer.
func NewEngine(opts Options) (*Engine, error) {
	opts = opts.withDefaults()
	e := newEngine(opts)
	if opts.DB == nil {
		return e, nil
	}
	j := opts.Journal
	if j == nil {
		// Its own journal, made first: it applies what its log holds to
		// the file before the file is read.
		var err error
		if j, err = journal.New(opts.DB); err != nil {
			return nil, err
		}
	}
	if err := e.load(); err != nil {
		if opts.Journal == nil {
			j.Close()
		}
		return nil, err
	}
	e.j, e.sharedJournal = j, opts.Journal != nil
	e.resumeTasks()
	return e, nil
}

// Close makes every change recorded so far durable and stops the engine's
// committer; later changes fail, and so does every request after one
// (see unlock). It does not close the DB. An engine abandoned without
// Close loses nothing it acknowledged.
func (e *Engine) Close() error {
	if e.j == nil {
		return nil
	}
	closeJournal := e.j.Close
	if e.sharedJournal {
		closeJournal = e.j.Sync // the journal's owner closes it
	}
	if err := closeJournal(); err != nil {
		return fmt.Errorf("sqs: close: %w", err)
	}
	return nil
}

// JournalStats reports the commits to the data file so far (zero in
// memory): how many, how many changes they carried, how long they took.
func (e *Engine) JournalStats() journal.Stats {
	if e.j == nil {
		return journal.Stats{}
	}
	return e.j.Stats()
}

// unlock releases e.mu, first handing the records of the changes made
// under it to the journal, in the order they were made. The ticket it
// returns is done when those changes and every change made before them
// are durable: a request answers only after waiting for it, reads
// included, so that no answer shows a change that could still be lost.
// Once a change fails to become durable every later ticket fails too, and
// the engine refuses every request (ErrNotDurable): until the process
// restarts from its data file when the journal has stopped (memory then
// holds changes that no one acknowledged), or until the journal's retry
// succeeds when a resource ran out (a full disk: the changes then reach
// the file after all).
func (e *Engine) unlock() journal.Ticket {
	if len(e.pending) > 0 {
		e.last = e.j.Append(e.pending...)
		clear(e.pending)
		e.pending = e.pending[:0]
	}
	t := e.last
	e.mu.Unlock()
	return t
}

// update runs fn under e.mu and returns once what it changed, and every
// change before it, is durable (see unlock). It serves reads too: what fn
// saw is then durable. When that fails, its error replaces fn's, whose
// answer may rest on a change that will be lost.
func (e *Engine) update(fn func() error) error {
	if err := e.writable(); err != nil {
		return err
	}
	e.mu.Lock()
	err := fn()
	if werr := durable(e.unlock()); werr != nil {
		err = werr
	}
	return err
}

// writable refuses a request before it changes anything while the journal
// takes no writes (journal.Writable): a stall then piles up no changes
// that no one is told of. The check is a hint, not a lock: a change made
// as a stall begins is refused by its ticket instead.
func (e *Engine) writable() error {
	if e.j == nil {
		return nil
	}
	if err := e.j.Writable(); err != nil {
		return errNotDurable(err)
	}
	return nil
}

// durable waits for t; its error matches ErrNotDurable.
func durable(t journal.Ticket) error {
	if err := t.Wait(); err != nil {
		return errNotDurable(err)
	}
	return nil
}

// Queue attribute defaults and bounds, in seconds or bytes.
const (
	defaultVisibility = 30
	defaultRetention  = 4 * 24 * 60 * 60
	minRetention      = 60
	maxRetention      = 14 * 24 * 60 * 60
	minMaxMessageSize = 1024
	defaultKMSReuse   = 300
)

type queue struct {
	name string
	arn  string
	id   string // distinguishes this queue from an earlier one of the same name in receipt handles

	created, modified time.Time

	delay, maxSize, retention, wait, visibility int
	policyRaw                                   string
	policy                                      *policyDocument
	redrive                                     *redrivePolicy
	redriveAllowRaw                             string
	redriveAllow                                *redriveAllowPolicy
	kmsKeyID                                    string
	kmsReuse                                    int
	sseEnabled                                  bool
	tags                                        map[string]string

	seq   uint64
	bytes int64 // MessageBytes of its messages
	msgs  map[string]*message
	// ready holds visible messages by enqueue order; pending holds delayed
	// and in-flight messages by the time they become visible; byAge holds
	// every message by sent time, for retention.
	ready, pending, byAge msgHeap
	nDelayed, nInflight   int

	waiters   int
	arrival   chan struct{} // closed when a message becomes visible
	wakeTimer clock.Timer
	wakeAt    time.Time
	lastPurge time.Time
	deleted   bool
	tasks     []*moveTask // move tasks with this queue as source, oldest first
	msgPath   [][]byte    // the journal path of its messages bucket, once made

	fifo *fifoState // nil for a standard queue
}

func newQueue(name, arn string, now time.Time, fifo bool) *queue {
	q := &queue{
		name: name, arn: arn, id: randomHex(6),
		created: now, modified: now,
		maxSize: MaxMessageBytes, retention: defaultRetention, visibility: defaultVisibility,
		kmsReuse: defaultKMSReuse, sseEnabled: true,
		tags: map[string]string{},
		msgs: map[string]*message{},
	}
	if fifo {
		q.fifo = newFifoState()
	}
	q.ready = msgHeap{less: func(a, b *message) bool { return a.seq < b.seq }, pos: func(m *message) *int { return &m.heapIdx }}
	q.pending = msgHeap{less: func(a, b *message) bool {
		if a.visibleAt.Equal(b.visibleAt) {
			return a.seq < b.seq
		}
		return a.visibleAt.Before(b.visibleAt)
	}, pos: func(m *message) *int { return &m.heapIdx }}
	q.byAge = msgHeap{less: func(a, b *message) bool {
		if a.sentAt.Equal(b.sentAt) {
			return a.seq < b.seq
		}
		return a.sentAt.Before(b.sentAt)
	}, pos: func(m *message) *int { return &m.ageIdx }}
	return q
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// QueueURL returns the URL of the queue named name (it need not exist).
func (e *Engine) queueURL(name string) string {
	return strings.TrimRight(e.opts.BaseURL(), "/") + "/" + e.opts.AccountID + "/" + name
}

// QueueARN returns the ARN of the queue named name (it need not exist).
func (e *Engine) QueueARN(name string) string {
	return "arn:aws:sqs:" + e.opts.Region + ":" + e.opts.AccountID + ":" + name
}

// QueueNameFromARN returns the queue name in an SQS ARN of this engine's
// region and account, or ok=false.
func (e *Engine) QueueNameFromARN(arn string) (name string, ok bool) {
	prefix := "arn:aws:sqs:" + e.opts.Region + ":" + e.opts.AccountID + ":"
	name, ok = strings.CutPrefix(arn, prefix)
	return name, ok && name != ""
}

// QueueNameFromURL returns the queue name in a queue URL. The host is not
// checked (clients reach the endpoint by many names); the path must be
// /<account>/<name> with this engine's account.
func (e *Engine) QueueNameFromURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", errInvalidAddress(raw)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || parts[1] == "" {
		return "", errInvalidAddress(raw)
	}
	if parts[0] != e.opts.AccountID {
		return "", ErrQueueNotFound
	}
	return parts[1], nil
}

// get returns the live queue named name; e.mu is held.
func (e *Engine) get(name string) (*queue, error) {
	q := e.queues[name]
	if q == nil {
		return nil, ErrQueueNotFound
	}
	return q, nil
}

// validQueueName: 1 to 80 alphanumerics, hyphens and underscores.
func validQueueName(name string) bool {
	if len(name) == 0 || len(name) > 80 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validFifoQueueName: a name that validQueueName accepts followed by
// .fifo, 80 characters at most with the suffix.
func validFifoQueueName(name string) bool {
	base, ok := strings.CutSuffix(name, ".fifo")
	return ok && len(name) <= 80 && validQueueName(base)
}

// CreateQueue creates a queue (a FIFO queue with FifoQueue "true"), or
// returns the URL of an existing queue of that name when every attribute
// given matches it (AWS's idempotent create).
func (e *Engine) CreateQueue(name string, attrs, tags map[string]string) (string, error) {
	if err := e.createQueue(name, attrs, tags); err != nil {
		return "", fmt.Errorf("sqs: create queue %s: %w", name, err)
	}
	return e.queueURL(name), nil
}

func (e *Engine) createQueue(name string, attrs, tags map[string]string) error {
	fifo := false
	if v, ok := attrs["FifoQueue"]; ok {
		b, ok := boolAttr(v)
		if !ok {
			return errInvalidAttributeValue("Invalid value for the parameter FifoQueue.")
		}
		fifo = b
	}
	if name == "" {
		return errMissingParameter("QueueName")
	}
	if fifo {
		if !validFifoQueueName(name) {
			return errInvalidParameter("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
		}
	} else {
		// A .fifo name without FifoQueue=true fails here: a period is not
		// a standard queue's character.
		if !validQueueName(name) {
			return errInvalidParameter("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
		}
		// AWS refuses FifoQueue on a standard queue even as "false"
		// (LocalStack's snapshot
		// test_create_standard_queue_with_fifo_attribute_raises_error).
		if _, ok := attrs["FifoQueue"]; ok {
			return errInvalidAttributeName("FifoQueue")
		}
	}
	if len(tags) > 50 {
		return errInvalidParameter("Too many tags added for queue %s.", name)
	}
	return e.update(func() error { return e.createQueueLocked(name, attrs, tags, fifo) })
}

func (e *Engine) createQueueLocked(name string, attrs, tags map[string]string, fifo bool) error {
	now := e.clk.Now()
	if q := e.queues[name]; q != nil {
		// Idempotent: every attribute sent must equal the queue's.
		cur := e.attributesLocked(q, now)
		for k, v := range attrs {
			if k == "FifoQueue" {
				continue
			}
			if got, ok := cur[k]; !ok || !sameAttributeValue(k, got, v) {
				return errQueueNameExists(name, k)
			}
		}
		return nil
	}
	q := newQueue(name, e.QueueARN(name), now, fifo)
	if err := e.applyAttributesLocked(q, attrs, true); err != nil {
		return err
	}
	for k, v := range tags {
		q.tags[k] = v
	}
	e.queues[name] = q
	e.saveQueueLocked(q)
	return nil
}

// sameAttributeValue compares a stored attribute with a requested one;
// numbers compare as numbers, the rest as text.
func sameAttributeValue(name, have, want string) bool {
	if have == want {
		return true
	}
	if b, ok := boolAttr(want); ok && have == strconv.FormatBool(b) {
		return true
	}
	a, err1 := strconv.Atoi(have)
	b, err2 := strconv.Atoi(strings.TrimSpace(want))
	if err1 == nil && err2 == nil {
		return a == b
	}
	// JSON attributes (RedrivePolicy, RedriveAllowPolicy, Policy) are stored
	// normalised: the same document written differently — members in
	// another order, maxReceiveCount as "3" or 3 — is the same value.
	var x, y any
	if json.Unmarshal([]byte(have), &x) != nil || json.Unmarshal([]byte(want), &y) != nil {
		return false
	}
	return sameJSON(x, y)
}

// sameJSON compares decoded JSON values, taking a number and a string that
// spells it as equal.
func sameJSON(x, y any) bool {
	switch a := x.(type) {
	case map[string]any:
		b, ok := y.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || !sameJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := y.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	if _, isMap := y.(map[string]any); isMap {
		return false
	}
	if _, isList := y.([]any); isList {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// DeleteQueue deletes a queue and its messages. Long polls waiting on it
// return empty.
func (e *Engine) DeleteQueue(name string) error {
	err := e.update(func() error {
		q, err := e.get(name)
		if err != nil {
			return err
		}
		q.deleted = true
		if q.wakeTimer != nil {
			q.wakeTimer.Stop()
			q.wakeTimer = nil
		}
		q.signal()
		delete(e.queues, name)
		e.queued -= q.bytes
		for _, t := range q.tasks { // their records go with the queue's
			delete(e.tasks, t.TaskHandle)
			if t.timer != nil {
				t.timer.Stop()
			}
		}
		e.deleteQueueRecordsLocked(q)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqs: delete queue %s: %w", name, err)
	}
	return nil
}

// GetQueueURL returns the URL of an existing queue.
func (e *Engine) GetQueueURL(name string) (string, error) {
	err := e.update(func() error {
		_, err := e.get(name)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqs: get queue url %s: %w", name, err)
	}
	return e.queueURL(name), nil
}

// URLOf returns the URL of a queue name (whether or not it exists).
func (e *Engine) URLOf(name string) string { return e.queueURL(name) }

// ListQueues returns the names of the queues whose name starts with prefix,
// in ascending order.
func (e *Engine) ListQueues(prefix string) ([]string, error) {
	var names []string
	err := e.update(func() error {
		for n := range e.queues {
			if strings.HasPrefix(n, prefix) {
				names = append(names, n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqs: list queues: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// queueAttributeNames are the attribute names GetQueueAttributes knows, in
// the order "All" lists them.
var queueAttributeNames = []string{
	"QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
	"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
	"VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod", "DelaySeconds",
	"ReceiveMessageWaitTimeSeconds", "Policy", "RedrivePolicy", "RedriveAllowPolicy",
	"KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
}

// fifoOnlyAttributes exist only on FIFO queues.
var fifoOnlyAttributes = map[string]bool{
	"FifoQueue": true, "ContentBasedDeduplication": true, "DeduplicationScope": true, "FifoThroughputLimit": true,
}

// GetQueueAttributes returns the named attributes ("All" for every one).
// Attributes a queue does not have (an unset Policy, say) are left out, as
// AWS does.
func (e *Engine) GetQueueAttributes(name string, names []string) (map[string]string, error) {
	var out map[string]string
	// A refresh may expire messages: update records that.
	err := e.update(func() error {
		q, err := e.get(name)
		if err != nil {
			return err
		}
		out, err = selectAttributes(e.attributesLocked(q, e.clk.Now()), names)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqs: get attributes of %s: %w", name, err)
	}
	return out, nil
}

// selectAttributes picks the named attributes out of all.
func selectAttributes(all map[string]string, names []string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range names {
		if n == "All" {
			return all, nil
		}
		known := fifoOnlyAttributes[n] // reported for FIFO queues only
		for _, k := range queueAttributeNames {
			if k == n {
				known = true
				break
			}
		}
		if !known {
			return nil, errInvalidAttributeName(n)
		}
		if v, ok := all[n]; ok {
			out[n] = v
		}
	}
	return out, nil
}

func (e *Engine) attributesLocked(q *queue, now time.Time) map[string]string {
	e.refreshLocked(q, now)
	itoa := strconv.Itoa
	a := map[string]string{
		"QueueArn":                              q.arn,
		"ApproximateNumberOfMessages":           itoa(q.readyLen()),
		"ApproximateNumberOfMessagesNotVisible": itoa(q.nInflight),
		"ApproximateNumberOfMessagesDelayed":    itoa(q.nDelayed),
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.modified.Unix(), 10),
		"VisibilityTimeout":                     itoa(q.visibility),
		"MaximumMessageSize":                    itoa(q.maxSize),
		"MessageRetentionPeriod":                itoa(q.retention),
		"DelaySeconds":                          itoa(q.delay),
		"ReceiveMessageWaitTimeSeconds":         itoa(q.wait),
		"SqsManagedSseEnabled":                  strconv.FormatBool(q.sseEnabled),
	}
	if q.policyRaw != "" {
		a["Policy"] = q.policyRaw
	}
	if q.redrive != nil {
		a["RedrivePolicy"] = q.redrive.String()
	}
	if q.redriveAllowRaw != "" {
		a["RedriveAllowPolicy"] = q.redriveAllowRaw
	}
	if q.kmsKeyID != "" {
		a["KmsMasterKeyId"] = q.kmsKeyID
		a["KmsDataKeyReusePeriodSeconds"] = itoa(q.kmsReuse)
	}
	if f := q.fifo; f != nil {
		a["FifoQueue"] = "true"
		a["ContentBasedDeduplication"] = strconv.FormatBool(f.contentDedup)
		a["DeduplicationScope"] = f.dedupScope
		a["FifoThroughputLimit"] = f.throughput
	}
	return a
}

// SetQueueAttributes changes a queue's attributes. Either all of them are
// applied or, on an error, none.
func (e *Engine) SetQueueAttributes(name string, attrs map[string]string) error {
	err := e.update(func() error {
		q, err := e.get(name)
		if err != nil {
			return err
		}
		if err := e.applyAttributesLocked(q, attrs, false); err != nil {
			return err
		}
		q.modified = e.clk.Now()
		e.saveQueueLocked(q)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqs: set attributes of %s: %w", name, err)
	}
	return nil
}

// applyAttributesLocked validates every attribute first and then applies
// them all.
func (e *Engine) applyAttributesLocked(q *queue, attrs map[string]string, creating bool) error {
	c := *q // validated copy of the settable fields
	var contentDedup bool
	var scope, throughput string
	if q.fifo != nil {
		contentDedup, scope, throughput = q.fifo.contentDedup, q.fifo.dedupScope, q.fifo.throughput
	}
	intIn := func(name, v string, lo, hi int) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < lo || n > hi {
			return 0, errInvalidAttributeValue("Invalid value for the parameter %s.", name)
		}
		return n, nil
	}
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	var err error
	for _, k := range names {
		v := attrs[k]
		switch k {
		case "DelaySeconds":
			c.delay, err = intIn(k, v, 0, maxDelaySeconds)
		case "MaximumMessageSize":
			c.maxSize, err = intIn(k, v, minMaxMessageSize, MaxMessageBytes)
		case "MessageRetentionPeriod":
			c.retention, err = intIn(k, v, minRetention, maxRetention)
		case "ReceiveMessageWaitTimeSeconds":
			c.wait, err = intIn(k, v, 0, maxWaitSeconds)
		case "VisibilityTimeout":
			c.visibility, err = intIn(k, v, 0, maxVisibility)
		case "KmsDataKeyReusePeriodSeconds":
			c.kmsReuse, err = intIn(k, v, 60, 86400)
		case "KmsMasterKeyId":
			c.kmsKeyID = v
			if v != "" {
				c.sseEnabled = false
			}
		case "SqsManagedSseEnabled":
			switch strings.ToLower(v) {
			case "true":
				c.sseEnabled = true
			case "false":
				c.sseEnabled = false
			default:
				err = errInvalidAttributeValue("Invalid value for the parameter SqsManagedSseEnabled.")
			}
		case "Policy":
			c.policyRaw, c.policy = "", nil
			if strings.TrimSpace(v) != "" {
				c.policy, err = parsePolicy(v)
				c.policyRaw = v
			}
		case "RedrivePolicy":
			c.redrive = nil
			if strings.TrimSpace(v) != "" {
				c.redrive, err = e.checkRedrivePolicyLocked(q, v)
			}
		case "RedriveAllowPolicy":
			c.redriveAllow, c.redriveAllowRaw = nil, ""
			if strings.TrimSpace(v) != "" {
				c.redriveAllow, err = parseRedriveAllowPolicy(v)
				c.redriveAllowRaw = v
			}
		case "FifoQueue":
			// The errors are AWS's (LocalStack's snapshot
			// test_set_unsupported_attribute_fifo): "true" again is
			// accepted on a FIFO queue.
			switch b, ok := boolAttr(v); {
			case q.fifo == nil:
				err = errInvalidAttributeName(k)
			case creating:
			case !ok:
				err = errInvalidAttributeValue("Invalid value for the parameter FifoQueue.")
			case !b:
				err = errInvalidAttributeValue("Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.")
			}
		case "ContentBasedDeduplication":
			if q.fifo == nil {
				err = errInvalidAttributeName(k)
			} else if b, ok := boolAttr(v); ok {
				contentDedup = b
			} else {
				err = errInvalidAttributeValue("Invalid value for the parameter ContentBasedDeduplication.")
			}
		case "DeduplicationScope", "FifoThroughputLimit":
			if q.fifo == nil {
				// AWS's words (LocalStack's snapshot
				// test_create_standard_queue_with_fifo_attribute_raises_error).
				err = errInvalidAttributeNameMessage("You can specify the %s only when FifoQueue is set to true.", k)
				break
			}
			switch {
			case k == "DeduplicationScope" && (v == scopeQueue || v == scopeMessageGroup):
				scope = v
			case k == "FifoThroughputLimit" && (v == limitPerQueue || v == limitPerMessageGroup):
				throughput = v
			default:
				err = errInvalidAttributeValue("Invalid value for the parameter %s.", k)
			}
		default:
			err = errInvalidAttributeName(k)
		}
		if err != nil {
			return err
		}
	}
	if q.fifo != nil && throughput == limitPerMessageGroup && scope != scopeMessageGroup {
		// AWS documents that perMessageGroupId is allowed only with the
		// messageGroup deduplication scope.
		return errInvalidAttributeValue("Invalid value for the parameter FifoThroughputLimit. Reason: perMessageGroupId is allowed only when DeduplicationScope is messageGroup.")
	}
	if q.fifo != nil {
		q.fifo.contentDedup, q.fifo.dedupScope, q.fifo.throughput = contentDedup, scope, throughput
	}
	q.delay, q.maxSize, q.retention, q.wait, q.visibility = c.delay, c.maxSize, c.retention, c.wait, c.visibility
	q.kmsReuse, q.kmsKeyID, q.sseEnabled = c.kmsReuse, c.kmsKeyID, c.sseEnabled
	q.policyRaw, q.policy = c.policyRaw, c.policy
	q.redrive = c.redrive
	q.redriveAllow, q.redriveAllowRaw = c.redriveAllow, c.redriveAllowRaw
	return nil
}

// TagQueue adds or replaces tags.
func (e *Engine) TagQueue(name string, tags map[string]string) error {
	err := e.update(func() error {
		q, err := e.get(name)
		if err != nil {
			return err
		}
		if len(tags) == 0 {
			return errMissingParameter("Tags")
		}
		n := len(q.tags)
		for k := range tags {
			if _, ok := q.tags[k]; !ok {
				n++
			}
			if k == "" || len(k) > 128 || len(tags[k]) > 256 {
				return errInvalidParameter("Tag keys must be 1 to 128 characters and values at most 256.")
			}
		}
		if n > 50 {
			return errInvalidParameter("Too many tags added for queue %s.", name)
		}
		for k, v := range tags {
			q.tags[k] = v
		}
		e.saveQueueLocked(q)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqs: tag queue %s: %w", name, err)
	}
	return nil
}

// UntagQueue removes tags by key.
func (e *Engine) UntagQueue(name string, keys []string) error {
	err := e.update(func() error {
		q, err := e.get(name)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return errMissingParameter("TagKeys")
		}
		for _, k := range keys {
			delete(q.tags, k)
		}
		e.saveQueueLocked(q)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqs: untag queue %s: %w", name, err)
	}
	return nil
}

// ListQueueTags returns a queue's tags.
func (e *Engine) ListQueueTags(name string) (map[string]string, error) {
	var out map[string]string
	err := e.update(func() error {
		q, err := e.get(name)
		if err != nil {
			return err
		}
		out = make(map[string]string, len(q.tags))
		for k, v := range q.tags {
			out[k] = v
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqs: list tags of %s: %w", name, err)
	}
	return out, nil
}

// ListDeadLetterSourceQueues returns the names of the queues whose
// RedrivePolicy names this queue as their dead-letter queue, ascending.
func (e *Engine) ListDeadLetterSourceQueues(name string) ([]string, error) {
	var out []string
	err := e.update(func() error {
		q, err := e.get(name)
		if err != nil {
			return err
		}
		for n, src := range e.queues {
			if src.redrive != nil && src.redrive.DeadLetterTargetArn == q.arn {
				out = append(out, n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqs: list dead-letter source queues of %s: %w", name, err)
	}
	sort.Strings(out)
	return out, nil
}

// Package sns is the embedded cloud's Amazon SNS: standard and FIFO topics,
// subscriptions with protocol sqs, Publish and PublishBatch, filter policies,
// raw delivery, subscription dead-letter queues, and notification envelopes
// signed as AWS signs them, so that unmodified AWS clients work against it.
//
// It is an engine with a Go API (the Service's methods: CreateTopic,
// Subscribe, Publish, …) and a Query-protocol wire layer over it (ServeHTTP).
// Every state change goes through one method (apply) and every delivery
// attempt through another (attempt), so that durability and fault injection
// live in one place each. SNS reaches SQS only through the Queues
// interface.
//
// With a data file (Options.DB) topics, subscriptions, their attributes and
// tags, the signing key and the deliveries waiting for a retry survive a
// crash and a restart; see durable.go for what is written when. New loads
// the waiting retries and Start resumes them, so that the caller decides
// when deliveries may begin. Publishes themselves are not journaled: a
// delivery is made (and made durable by SQS) inside Publish, or recorded
// as a pending retry, before Publish answers.
package sns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
)

// Options configures a Service. Every field is optional except Queues, which
// sqs subscriptions need.
type Options struct {
	// Env is the account that owns every topic, the region in ARNs, and
	// the endpoint that prefixes SigningCertURL and UnsubscribeURL; its
	// zero fields take awsenv's defaults.
	awsenv.Env
	// Clock gives timestamps and schedules delivery retries; default clock.Real().
	Clock clock.Clock
	// Queues delivers to SQS; required for sqs subscriptions.
	Queues Queues
	// Logger receives delivery failures; default discards.
	Logger *slog.Logger
	// Signer signs envelopes; default a fresh RSA-2048 key and self-signed
	// certificate (NewRSASigner), or, with a DB, the key and certificate the
	// file holds (generated and stored on first use), so that envelopes
	// signed before a restart verify against the certificate served after
	// it. A Signer given here is not stored: the caller keeps it (see
	// LoadRSASigner). Tests share one to save the key generation.
	Signer Signer
	// DB, when set, makes the service durable: New loads what the file
	// holds and every change is committed to it (under the top-level bucket
	// "sns") before it is acknowledged. The caller opens and closes DB (see
	// journal.Open) and must reopen it with the same Region and AccountID.
	// Nil keeps everything in memory.
	DB *bbolt.DB
	// Journal, with DB, is a group-commit journal on DB shared with other
	// services, so that their records share commits (fsyncs); the caller
	// closes it after the services. Nil: the service has a journal of its own.
	Journal *journal.Journal
}

// Queues is how SNS hands a delivery to SQS (implemented by an adapter over
// the SQS service).
type Queues interface {
	// Deliver enqueues one message on the SQS queue queueARN on behalf of
	// topic topicARN, as principal sns.amazonaws.com. A client-side refusal
	// matches ErrQueueNotFound (the queue is gone), ErrDenied (its policy
	// denies the topic) or ErrRefused (SQS refused the message itself, a
	// 4xx other than throttling); SNS does not retry those. Anything else
	// (a 5xx, throttling, a timeout, a cancelled ctx) is a server-side
	// failure, retried on the delivery policy.
	Deliver(ctx context.Context, d Delivery) error
}

// Delivery is one message for one SQS queue.
type Delivery struct {
	QueueARN, TopicARN, Body string
	// MessageGroupID and MessageDeduplicationID are the SQS message's:
	// a FIFO topic sets both for a FIFO queue; a standard topic passes on
	// a publish's MessageGroupId (fair queues).
	MessageGroupID, MessageDeduplicationID string
	// Attributes are SQS message attributes (used with raw delivery and for
	// dead-lettering).
	Attributes map[string]MessageAttribute
}

// MessageAttribute is an SNS message attribute, or the SQS message attribute
// it becomes with raw delivery.
type MessageAttribute struct {
	DataType, StringValue string
	BinaryValue           []byte
}

// Errors a Queues implementation returns for failures that retrying cannot
// fix (AWS's "client-side errors"): SNS does not retry them.
var (
	ErrQueueNotFound = errors.New("sns: queue does not exist")
	ErrDenied        = errors.New("sns: queue policy denies the topic")
	// ErrRefused is any other refusal of the request by the queue (a 4xx
	// that is not throttling): the message's contents, its size, its
	// attributes. Wrap the queue's own error with it (an *awsproto.Error
	// gives the dead-letter message its ErrorCode).
	ErrRefused = errors.New("sns: queue refused the message")
)

// Stats counts what the service did since it started. A delivery is one
// message for one subscription.
type Stats struct {
	// Published counts accepted messages (Publish calls and batch entries).
	Published int64
	// The rest are totals of the per-subscription counts.
	Delivered, FilteredOut, Retried, Failed, DeadLettered, DeadLetterFailed int64
	// Subscriptions holds the counts of every subscription that exists, by
	// subscription ARN. A subscription's counts go with it (Unsubscribe,
	// DeleteTopic), so that subscribing and unsubscribing does not grow
	// memory without bound; the totals above keep them.
	Subscriptions map[string]SubscriptionStats
}

// SubscriptionStats counts one subscription's deliveries.
type SubscriptionStats struct {
	// Delivered: accepted by the queue.
	Delivered int64
	// FilteredOut: rejected by the filter policy (not a failure).
	FilteredOut int64
	// Retried: transient failures that were scheduled for another attempt.
	Retried int64
	// Failed: deliveries given up on, for a client-side error (queue gone,
	// policy denies, a message the queue refuses, too many attributes for
	// raw delivery) or after the retry policy ran out. Each goes to the
	// dead-letter queue if one is set.
	Failed int64
	// DeadLettered: failed deliveries accepted by the dead-letter queue.
	DeadLettered int64
	// DeadLetterFailed: failed deliveries the dead-letter queue also refused,
	// or that had no dead-letter queue to go to: these are lost, and logged.
	DeadLetterFailed int64
}

// count names one of a subscription's counts.
type count int

const (
	delivered count = iota
	filteredOut
	retried
	failed
	deadLettered
	deadLetterFailed
	numCounts
)

// counters are a subscription's counts. Each count is also added to the
// service's totals (all), so that the totals outlive the subscription: a
// delivery still running, or a retry still pending, once its subscription
// is gone still counts there.
type counters struct {
	n   [numCounts]atomic.Int64
	all *counters // the service's totals; nil for the totals themselves
}

func (c *counters) add(k count) {
	c.n[k].Add(1)
	if c.all != nil {
		c.all.n[k].Add(1)
	}
}

func (c *counters) snapshot() SubscriptionStats {
	return SubscriptionStats{
		Delivered: c.n[delivered].Load(), FilteredOut: c.n[filteredOut].Load(), Retried: c.n[retried].Load(),
		Failed: c.n[failed].Load(), DeadLettered: c.n[deadLettered].Load(), DeadLetterFailed: c.n[deadLetterFailed].Load(),
	}
}

// newCounters returns the counts of a new subscription.
func (s *Service) newCounters() *counters { return &counters{all: &s.total} }

// Service is the SNS service. It is safe for concurrent use.
type Service struct {
	region, account string
	clock           clock.Clock
	baseURL         func() string
	queues          Queues
	log             *slog.Logger
	signer          Signer
	certPath        string
	certPEM         []byte

	mu     sync.RWMutex
	topics map[string]*topic        // by ARN
	subs   map[string]*subscription // by ARN
	stats  map[string]*counters     // by subscription ARN, of the subscriptions that exist
	total  counters                 // every subscription's counts, those gone included
	subSeq uint64                   // the last subscription's seq
	j      *journal.Journal         // nil in memory
	// sharedJournal: j belongs to the caller, who closes it.
	sharedJournal bool
	pending       []journal.Op // changes made under mu, not yet handed to j
	// last is the ticket of the latest changes handed to j: it is done
	// when every change made so far is durable, or failed when one of them
	// never will be (see unlock).
	last journal.Ticket

	published atomic.Int64

	// runCtx is the context of the deliveries retries make; Shutdown
	// cancels it when its wait for them ends, cutting short any still
	// running.
	runCtx    context.Context
	cancelRun context.CancelFunc

	timersMu sync.Mutex
	timers   map[*retryTimer]struct{}
	// chains holds, by subscription and group, the deliveries to FIFO
	// queues waiting behind one that waits for a retry (fifo.go).
	chains map[string]*chain
	// recovered holds the retries loaded from the data file until Start
	// arms them.
	recovered []*job
	started   bool
	closed    bool

	// running counts the delivery runs under way (Publish's and retries');
	// idle is closed once it is zero after Shutdown began (closing).
	running  atomic.Int64
	closing  atomic.Bool
	idle     chan struct{}
	idleOnce sync.Once
}

// New returns a Service with opts' defaults filled in. Without a Signer it
// generates an RSA-2048 key, which takes tens of milliseconds (once per data
// file, with a DB). With a DB it loads what the file holds, the delivery
// retries that were pending included; errors then wrap ErrDataFile when the
// file's SNS data cannot be used. The loaded retries wait for Start: call it
// once everything a delivery needs (Queues and whatever they use) is ready.
func New(opts Options) (*Service, error) {
	opts.Env = opts.Env.WithDefaults()
	s := &Service{
		region:  opts.Region,
		account: opts.AccountID,
		clock:   opts.Clock,
		baseURL: opts.BaseURL,
		queues:  opts.Queues,
		log:     opts.Logger,
		signer:  opts.Signer,
		topics:  map[string]*topic{},
		subs:    map[string]*subscription{},
		stats:   map[string]*counters{},
		timers:  map[*retryTimer]struct{}{},
		chains:  map[string]*chain{},
		idle:    make(chan struct{}),
	}
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	if s.clock == nil {
		s.clock = clock.Real()
	}
	if s.log == nil {
		s.log = discardLogger()
	}
	var retries []*job
	var j *journal.Journal
	if opts.DB != nil {
		j = opts.Journal
		if j == nil {
			// Its own journal, made first: it applies what its log holds
			// to the file before the file is read.
			var err error
			if j, err = journal.New(opts.DB); err != nil {
				return nil, err
			}
		}
		var err error
		if retries, err = s.load(opts.DB); err != nil {
			if opts.Journal == nil {
				j.Close()
			}
			return nil, err
		}
	}
	if s.signer == nil {
		signer, err := NewRSASigner(nil, s.clock.Now())
		if err != nil {
			return nil, fmt.Errorf("sns: new signer: %w", err)
		}
		s.signer = signer
	}
	s.certPEM = s.signer.CertificatePEM()
	path, err := certificatePath(s.certPEM)
	if err != nil {
		return nil, fmt.Errorf("sns: signer certificate: %w", err)
	}
	s.certPath = path
	if opts.DB != nil {
		s.j, s.sharedJournal = j, opts.Journal != nil
		s.recovered = retries
	}
	return s, nil
}

// Start arms the delivery retries New loaded from the data file, at their
// times (at once for those that fell due while the service was down). It is
// separate from New so that a recovered retry cannot fire before the
// caller has finished building what deliveries use (the cloud calls it once
// its edge serves). Without Queues the retries stay in the file. Calling it
// again, or after Close, does nothing.
func (s *Service) Start() {
	s.timersMu.Lock()
	defer s.timersMu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	jobs := s.recovered
	s.recovered = nil
	if len(jobs) == 0 {
		return
	}
	if s.queues == nil {
		s.recovered = jobs
		s.log.Warn("sns: delivery retries are pending in the data file but no SQS is attached; they wait for the next start", "retries", len(jobs))
		return
	}
	s.arrangeRecovered(jobs, s.clock.Now())
}

// beginRun counts a delivery run under way, for Shutdown to wait for.
func (s *Service) beginRun() { s.running.Add(1) }

// endRun ends what beginRun counted. Of endRun and Shutdown, whichever
// comes second sees the other's write (closing, running) and closes idle.
func (s *Service) endRun() {
	if s.running.Add(-1) == 0 && s.closing.Load() {
		s.signalIdle()
	}
}

func (s *Service) signalIdle() { s.idleOnce.Do(func() { close(s.idle) }) }

// unlock releases s.mu (held for writing), first handing the records of
// the changes made under it to the journal. The ticket it returns is done
// when those changes and every change made before them are durable: a
// request answers only after waiting for it, reads included (see read),
// so that no answer rests on a change that could still be lost. Once a
// change fails to become durable (a full disk, say) every later ticket
// fails too, and the service refuses every
// request (ErrNotDurable) until the process restarts from its data file,
// or, when a resource ran out, until the journal's retry succeeds.
func (s *Service) unlock() journal.Ticket {
	if len(s.pending) > 0 {
		s.last = s.j.Append(s.pending...)
		clear(s.pending)
		s.pending = s.pending[:0]
	}
	t := s.last
	s.mu.Unlock()
	return t
}

// read runs fn under s.mu (for reading) and returns once every change fn
// could have seen is durable (see unlock); when that fails, its error
// replaces fn's.
func (s *Service) read(fn func() error) error {
	if err := s.writable(); err != nil {
		return err // as every service: nothing is answered while the file takes no writes
	}
	s.mu.RLock()
	err := fn()
	t := s.last
	s.mu.RUnlock()
	if werr := durable(t); werr != nil {
		return werr
	}
	return err
}

// durable waits for t; its error matches ErrNotDurable.
func durable(t journal.Ticket) error {
	if err := t.Wait(); err != nil {
		return errNotDurable(err)
	}
	return nil
}

// ErrNotDurable is the error of every request while a change cannot be
// made durable: the data file (or its log) cannot be written, so memory
// may hold changes no one acknowledged, and answering from it could show
// one that a restart loses. It matches with errors.Is; the error also
// carries the AWS error clients see (503 ServiceUnavailable, naming the
// cause) and the journal's error. When the cause is a resource running out (it also matches
// journal.ErrStalled) the journal retries, and requests are answered again
// once it succeeds; otherwise until the process restarts.
var ErrNotDurable = errors.New("sns: a change could not be made durable")

func errNotDurable(cause error) error {
	return &notDurable{cause: cause, api: awsproto.NotDurable("SNS", cause, errors.Is(cause, journal.ErrStalled))}
}

// notDurable matches ErrNotDurable, the AWS error clients see, and the
// journal's error (journal.ErrStalled, say) for in-process callers.
type notDurable struct {
	cause error
	api   *awsproto.Error
}

func (e *notDurable) Error() string   { return ErrNotDurable.Error() + ": " + e.api.Error() }
func (e *notDurable) Unwrap() []error { return []error{ErrNotDurable, e.api, e.cause} }

// writable refuses a request before it changes anything while the journal
// takes no writes (journal.Writable), so that a stall piles up no changes
// no one is told of. A change made as a stall begins is refused by its
// ticket instead.
func (s *Service) writable() error {
	if s.j == nil {
		return nil
	}
	if err := s.j.Writable(); err != nil {
		return errNotDurable(err)
	}
	return nil
}

// Name is the service's name at the edge.
func (s *Service) Name() string { return "sns" }

// TargetPrefix is empty: SNS speaks only the Query protocol.
func (s *Service) TargetPrefix() string { return "" }

// Actions lists every Query action the service implements.
func (s *Service) Actions() []string {
	out := make([]string, 0, len(queryActions))
	return append(out, actionNames...)
}

// Paths lists the URL paths served with GET: the signing certificate.
func (s *Service) Paths() []string { return []string{s.certPath} }

// ServePath serves the document at one of Paths, and nothing else: it
// reaches no API, so the edge can serve it to anyone.
func (s *Service) ServePath(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != s.certPath {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-x509-ca-cert")
	w.Write(s.certPEM)
}

// SigningCertURL is where clients fetch the certificate that verifies
// envelope signatures.
func (s *Service) SigningCertURL() string { return s.baseURL() + s.certPath }

// Stats returns the counts so far.
func (s *Service) Stats() Stats {
	st := Stats{Published: s.published.Load(), Subscriptions: map[string]SubscriptionStats{}}
	s.mu.RLock()
	for arn, c := range s.stats {
		st.Subscriptions[arn] = c.snapshot()
	}
	s.mu.RUnlock()
	t := s.total.snapshot()
	st.Delivered, st.FilteredOut, st.Retried = t.Delivered, t.FilteredOut, t.Retried
	st.Failed, st.DeadLettered, st.DeadLetterFailed = t.Failed, t.DeadLettered, t.DeadLetterFailed
	return st
}

// DefaultCloseWait bounds how long Close waits for deliveries under way.
const DefaultCloseWait = 10 * time.Second

// Close is Shutdown with a wait of at most DefaultCloseWait.
func (s *Service) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCloseWait)
	defer cancel()
	return s.Shutdown(ctx)
}

// Shutdown stops pending delivery retries and waits, until ctx ends, for
// the deliveries already under way (a retry that fired, a Publish's
// deliveries) to finish. A delivery that fails transiently meanwhile is not
// dead-lettered for it: with a DB it stays pending in the file, as do the
// stopped retries, and resumes when a service next opened on the file
// starts; in memory the deliveries that could not be made count as failed
// and lost (nowhere to keep them). If ctx ends first, the deliveries still
// running are cancelled (they stay pending on file) and Shutdown returns an
// error saying how many there were. With a DB it then commits what is
// queued for the file and stops the committer (it does not close the DB).
// Reads still work after Shutdown, until a change fails (see unlock);
// transient failures are no longer retried, and with a DB changes fail.
func (s *Service) Shutdown(ctx context.Context) error {
	s.timersMu.Lock()
	timers := s.timers
	s.timers = map[*retryTimer]struct{}{}
	if s.j == nil {
		// In memory, the deliveries held behind a stopped retry are lost
		// with it; with a data file they stay there for the next start.
		for _, c := range s.chains {
			for _, j := range c.waiting {
				j.counters.add(failed)
				j.counters.add(deadLetterFailed)
			}
			c.waiting = nil
		}
	}
	s.closed = true
	s.closing.Store(true)
	s.timersMu.Unlock()
	if s.running.Load() == 0 {
		s.signalIdle()
	}
	for t := range timers {
		if t.timer.Stop() && s.j == nil {
			t.job.counters.add(failed)
			t.job.counters.add(deadLetterFailed)
		}
	}
	var errs []error
	select {
	case <-s.idle:
	default:
		select {
		case <-s.idle:
		case <-ctx.Done():
			n := s.running.Load()
			errs = append(errs, fmt.Errorf("sns: close: %d deliveries still running (left pending): %w", n, ctx.Err()))
		}
	}
	s.cancelRun()
	if s.j != nil {
		closeJournal := s.j.Close
		if s.sharedJournal {
			closeJournal = s.j.Sync // the journal's owner closes it
		}
		if err := closeJournal(); err != nil {
			errs = append(errs, fmt.Errorf("sns: close: %w", err))
		}
	}
	return errors.Join(errs...)
}

var _ http.Handler = (*Service)(nil)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

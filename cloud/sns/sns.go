// Package sns is the embedded cloud's Amazon SNS: standard topics,
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
// crash and a restart; see durable.go for what is written when. Publishes
// themselves are not journaled: a delivery is made (and made durable by
// SQS) inside Publish, or recorded as a pending retry, before Publish
// answers.
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

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
)

// Options configures a Service. Every field is optional except Queues, which
// sqs subscriptions need.
type Options struct {
	// Region is the region in ARNs; default "us-east-1".
	Region string
	// AccountID is the owner in ARNs; default "000000000000".
	AccountID string
	// Clock gives timestamps and schedules delivery retries; default clock.Real().
	Clock clock.Clock
	// BaseURL returns the edge endpoint, e.g. "http://127.0.0.1:4566"; it
	// prefixes SigningCertURL and UnsubscribeURL. Default "http://localhost:4566".
	BaseURL func() string
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
	// topic topicARN, as principal sns.amazonaws.com. Errors match
	// ErrQueueNotFound or ErrDenied when the queue is gone or its policy
	// denies the topic; anything else is a transient failure.
	Deliver(ctx context.Context, d Delivery) error
}

// Delivery is one message for one SQS queue.
type Delivery struct {
	QueueARN, TopicARN, Body string
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
)

// Stats counts what the service did since it started. A delivery is one
// message for one subscription.
type Stats struct {
	// Published counts accepted messages (Publish calls and batch entries).
	Published int64
	// The rest are totals of the per-subscription counts.
	Delivered, FilteredOut, Retried, Failed, DeadLettered, DeadLetterFailed int64
	// Subscriptions holds the counts of every subscription that ever existed,
	// by subscription ARN.
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
	// policy denies, too many attributes for raw delivery) or after the retry
	// policy ran out. Each goes to the dead-letter queue if one is set.
	Failed int64
	// DeadLettered: failed deliveries accepted by the dead-letter queue.
	DeadLettered int64
	// DeadLetterFailed: failed deliveries the dead-letter queue also refused,
	// or that had no dead-letter queue to go to: these are lost, and logged.
	DeadLetterFailed int64
}

type counters struct {
	delivered, filteredOut, retried, failed, deadLettered, deadLetterFailed atomic.Int64
}

func (c *counters) snapshot() SubscriptionStats {
	return SubscriptionStats{
		Delivered: c.delivered.Load(), FilteredOut: c.filteredOut.Load(), Retried: c.retried.Load(),
		Failed: c.failed.Load(), DeadLettered: c.deadLettered.Load(), DeadLetterFailed: c.deadLetterFailed.Load(),
	}
}

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
	stats  map[string]*counters     // by subscription ARN; never shrinks
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

	timersMu sync.Mutex
	timers   map[*retryTimer]struct{}
	closed   bool
}

// New returns a Service with opts' defaults filled in. Without a Signer it
// generates an RSA-2048 key, which takes tens of milliseconds (once per data
// file, with a DB). With a DB it loads what the file holds and resumes the
// pending delivery retries; errors then wrap ErrDataFile when the file's SNS
// data cannot be used.
func New(opts Options) (*Service, error) {
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
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.account == "" {
		s.account = "000000000000"
	}
	if s.clock == nil {
		s.clock = clock.Real()
	}
	if s.baseURL == nil {
		s.baseURL = func() string { return "http://localhost:4566" }
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
		s.resume(retries)
	}
	return s, nil
}

// unlock releases s.mu (held for writing), first handing the records of
// the changes made under it to the journal. The ticket it returns is done
// when those changes and every change made before them are durable: a
// request answers only after waiting for it, reads included (see read),
// so that no answer rests on a change that could still be lost. Once a
// change fails to become durable (the journal is fail-stop: a full disk,
// say) every later ticket fails too, and the service refuses every
// request (ErrNotDurable) until the process restarts from its data file.
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

// ErrNotDurable is the error of every request once a change could not be
// made durable: the data file (or its log) could not be written, so memory
// holds changes no one acknowledged, and answering from it could show one
// that a restart loses. It matches with errors.Is; the error also carries
// the AWS error clients see (503 ServiceUnavailable, naming the cause).
var ErrNotDurable = errors.New("sns: a change could not be made durable")

func errNotDurable(cause error) error {
	return fmt.Errorf("%w: %w", ErrNotDurable, &awsproto.Error{
		Status: http.StatusServiceUnavailable,
		Code:   "ServiceUnavailable",
		Message: fmt.Sprintf("A change could not be written to the data file (%v), so this SNS answers no more requests: "+
			"restart the process to recover every acknowledged change from its data file.", cause),
		Receiver: true,
	})
}

// Name is the service's name at the edge.
func (s *Service) Name() string { return "sns" }

// TargetPrefix is empty: SNS speaks only the Query protocol.
func (s *Service) TargetPrefix() string { return "" }

// Actions lists every Query action the service implements.
func (s *Service) Actions() []string {
	out := make([]string, 0, len(queryActions))
	for _, a := range actionNames {
		out = append(out, a)
	}
	return out
}

// Paths lists the URL paths served with GET: the signing certificate.
func (s *Service) Paths() []string { return []string{s.certPath} }

// SigningCertURL is where clients fetch the certificate that verifies
// envelope signatures.
func (s *Service) SigningCertURL() string { return s.baseURL() + s.certPath }

// Stats returns the counts so far.
func (s *Service) Stats() Stats {
	st := Stats{Published: s.published.Load(), Subscriptions: map[string]SubscriptionStats{}}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for arn, c := range s.stats {
		ss := c.snapshot()
		st.Subscriptions[arn] = ss
		st.Delivered += ss.Delivered
		st.FilteredOut += ss.FilteredOut
		st.Retried += ss.Retried
		st.Failed += ss.Failed
		st.DeadLettered += ss.DeadLettered
		st.DeadLetterFailed += ss.DeadLetterFailed
	}
	return st
}

// Close stops pending delivery retries. In memory the deliveries they held
// count as failed (and are not dead-lettered); with a DB they stay in the
// file and resume when a service is next opened on it, and Close then
// commits what is queued for the file and stops the committer (it does not
// close the DB). Reads still work after Close, until a change fails (see
// unlock); transient failures are no longer retried, and with a DB changes
// fail.
func (s *Service) Close() error {
	s.timersMu.Lock()
	timers := s.timers
	s.timers = map[*retryTimer]struct{}{}
	s.closed = true
	s.timersMu.Unlock()
	for t := range timers {
		if t.timer.Stop() && s.j == nil {
			t.job.counters.failed.Add(1)
			t.job.counters.deadLetterFailed.Add(1)
		}
	}
	if s.j != nil {
		closeJournal := s.j.Close
		if s.sharedJournal {
			closeJournal = s.j.Sync // the journal's owner closes it
		}
		if err := closeJournal(); err != nil {
			return fmt.Errorf("sns: close: %w", err)
		}
	}
	return nil
}

var _ http.Handler = (*Service)(nil)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

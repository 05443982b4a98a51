package dynamodb

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
	"github.com/orderflow/orderflow/cloud/journal"
)

// MaxRequestBytes is DynamoDB's request size limit (16 MB, the BatchWriteItem
// limit); larger requests are refused before they are read.
const MaxRequestBytes = engine.MaxRequestBytes

var proto = awsproto.JSONProtocol{Namespace: "com.amazonaws.dynamodb.v20120810"}

// Fault decides, for a request about to be served, whether it fails
// instead: it returns the error to answer with, or nil to serve it. op is the
// operation (PutItem) and body the request's JSON.
type Fault func(op string, body []byte) *awsproto.Error

// Options configure a Service. The zero value is an in-memory one.
type Options struct {
	// Env gives the region and account in table ARNs; its zero fields take
	// awsenv's defaults.
	awsenv.Env
	// Now is the clock for table creation times. Default Clock.Now.
	Now func() time.Time
	// Clock drives Time to Live: when an item has expired, and the
	// sweeper that deletes expired items. Default the machine's clock.
	Clock clock.Clock
	// TTLSweepInterval is how often expired items are looked for.
	// Default engine.DefaultTTLSweepInterval (one second).
	TTLSweepInterval time.Duration
	// DB is the data file the service keeps its tables in: every write is
	// in it (or in its write-ahead log) before it is answered, and Open
	// loads what it holds. The service uses only the top-level bucket
	// "dynamodb", so the file is shared with other services; the caller
	// opens and closes it (after Close). Nil keeps state in memory only.
	DB *bbolt.DB
	// Journal, with DB, is the data file's group-commit journal shared
	// with other services, so that their changes share commits; the caller
	// closes it after the service. Nil: the service has a journal of its
	// own.
	Journal *journal.Journal
}

// Service is the DynamoDB API: the engine behind the edge, with a fault
// hook for tests and fault injection.
type Service struct {
	engine *engine.Engine
	fault  atomic.Pointer[Fault]
}

var _ http.Handler = (*Service)(nil)

// New returns a DynamoDB service. Options documents the defaults. Without a
// DB it is empty and keeps its state in memory; with one it has the tables
// opts.DB holds and records every write there from then on. Close it
// before closing the DB.
func New(opts Options) (*Service, error) {
	e, err := engine.Open(engine.Options{Env: opts.Env, Now: opts.Now, Clock: opts.Clock,
		TTLSweepInterval: opts.TTLSweepInterval, DB: opts.DB, Journal: opts.Journal})
	if err != nil {
		return nil, err
	}
	return &Service{engine: e}, nil
}

// Close makes every write so far durable and refuses later ones. It does
// not close the DB. Close on an in-memory service does nothing.
func (s *Service) Close() error { return s.engine.Close() }

// Name is the SigV4 signing name.
func (s *Service) Name() string { return "dynamodb" }

// TargetPrefix is the JSON protocol's X-Amz-Target prefix.
func (s *Service) TargetPrefix() string { return "DynamoDB_20120810" }

// Actions lists Query-protocol actions: DynamoDB has none.
func (s *Service) Actions() []string { return nil }

// Operations lists the operations the service answers.
func (s *Service) Operations() []string { return engine.Operations() }

// SetFault installs a fault hook (nil removes it), for tests and fault
// injection: throttling or 5xx for a share of writes, say. A request the
// hook fails never reaches the engine.
func (s *Service) SetFault(f Fault) {
	if f == nil {
		s.fault.Store(nil)
		return
	}
	s.fault.Store(&f)
}

// ServeHTTP answers DynamoDB JSON-protocol requests.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		proto.WriteError(w, awsproto.Errorf(http.StatusMethodNotAllowed, "UnknownOperationException", "DynamoDB takes POST requests"))
		return
	}
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	f := s.fault.Load()
	if f == nil {
		s.engine.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		proto.WriteError(w, awsproto.Errorf(http.StatusRequestEntityTooLarge, "ValidationException", "request too large: %v", err))
		return
	}
	if e := (*f)(op, body); e != nil {
		proto.WriteError(w, e)
		return
	}
	s.engine.Serve(w, op, body)
}

// JournalStats reports the commits to the data file so far (zero in
// memory).
func (s *Service) JournalStats() journal.Stats { return s.engine.JournalStats() }

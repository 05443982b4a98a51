package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/truora/minidyn/interpreter"
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
)

// MaxRequestBytes is DynamoDB's request size limit (16 MB, BatchWriteItem's);
// larger requests are refused before they are read.
const MaxRequestBytes = 16 << 20

// Options configure an Engine. The zero value is usable.
type Options struct {
	// Env gives the region and account in ARNs; its zero fields take
	// awsenv's defaults.
	awsenv.Env
	// Clock drives Time to Live: the sweeper's schedule and what "expired"
	// means. Default the machine's clock.
	Clock clock.Clock
	// Now is the clock for creation times. Default Clock.Now.
	Now func() time.Time
	// TTLSweepInterval is how often the items of tables with Time to Live
	// enabled are checked for expiry. Default DefaultTTLSweepInterval.
	TTLSweepInterval time.Duration
	// DB is the data file the engine keeps its tables in (durable.go);
	// Open loads them from it. The caller opens and closes it. Nil keeps
	// state in memory.
	DB *bbolt.DB
	// Journal, with DB, is a group-commit journal on DB shared with other
	// services, so that their changes share commits; the caller closes it
	// after the engine. Nil: the engine has a journal of its own.
	Journal *journal.Journal
}

// Engine is an in-memory DynamoDB. It is safe for concurrent use.
type Engine struct {
	opts Options
	lang interpreter.Language

	mu     sync.RWMutex
	tables map[string]*table
	seq    uint64 // for table ids

	tokens txTokens // TransactWriteItems' client request tokens

	j          *journal.Journal // nil in memory
	ownJournal bool             // j was made by Open and is closed by Close
	closed     atomic.Bool

	// The TTL sweeper (ttl.go): armed while a table has TTL enabled.
	sweepMu      sync.Mutex
	sweepTimer   clock.Timer
	sweepStopped bool
	sweeping     sync.WaitGroup // the sweep under way
	ttlSweeps    atomic.Uint64  // sweeps done
	ttlVisited   atomic.Uint64  // expiry entries a sweep looked at
}

// New returns an empty in-memory engine with the default options, for
// tests and benchmarks; the service makes its engine with Open, which
// takes Options.
func New() *Engine { return newEngine(Options{}) }

// newEngine returns an empty in-memory engine with o's defaults applied;
// o.DB and o.Journal are for Open.
func newEngine(o Options) *Engine {
	o.Env = o.Env.WithDefaults()
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Now == nil {
		o.Now = o.Clock.Now
	}
	if o.TTLSweepInterval <= 0 {
		o.TTLSweepInterval = DefaultTTLSweepInterval
	}
	return &Engine{opts: o, tables: map[string]*table{}}
}

// operation runs one request body and returns the response body.
type operation func(e *Engine, body []byte) ([]byte, error)

var operations = map[string]operation{
	"CreateTable":        (*Engine).createTable,
	"DescribeTable":      (*Engine).describeTable,
	"DeleteTable":        (*Engine).deleteTable,
	"UpdateTable":        (*Engine).updateTable,
	"ListTables":         (*Engine).listTables,
	"PutItem":            (*Engine).putItem,
	"GetItem":            (*Engine).getItem,
	"UpdateItem":         (*Engine).updateItem,
	"DeleteItem":         (*Engine).deleteItem,
	"Query":              (*Engine).query,
	"Scan":               (*Engine).scan,
	"BatchWriteItem":     (*Engine).batchWriteItem,
	"BatchGetItem":       (*Engine).batchGetItem,
	"TransactWriteItems": (*Engine).transactWriteItems,
	"TransactGetItems":   (*Engine).transactGetItems,

	"UpdateTimeToLive":          (*Engine).updateTimeToLive,
	"DescribeTimeToLive":        (*Engine).describeTimeToLive,
	"TagResource":               (*Engine).tagResource,
	"UntagResource":             (*Engine).untagResource,
	"ListTagsOfResource":        (*Engine).listTagsOfResource,
	"DescribeContinuousBackups": (*Engine).describeContinuousBackups,
	"UpdateContinuousBackups":   (*Engine).updateContinuousBackups,
}

// Operations lists the operations the engine answers, sorted.
func Operations() []string {
	names := make([]string, 0, len(operations))
	for n := range operations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ServeHTTP answers DynamoDB JSON 1.0 requests: POST, the operation named
// by X-Amz-Target (DynamoDB_20120810.PutItem), the input as the body.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: codeUnknownOperation, msg: "DynamoDB takes POST requests"})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndexByte(target, '.')+1:]
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, &apiError{status: http.StatusRequestEntityTooLarge, code: codeRequestTooLarge, msg: "Request must be smaller than 16777216 bytes for the DynamoDB operation"})
			return
		}
		writeError(w, &apiError{status: http.StatusBadRequest, code: codeSerialization, msg: "engine: read request: " + err.Error()})
		return
	}
	e.Serve(w, op, body)
}

// Serve answers operation op (PutItem) on its JSON input, already read.
func (e *Engine) Serve(w http.ResponseWriter, op string, body []byte) {
	out, err := e.Do(op, body)
	if err != nil {
		writeError(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	setCRC32(h, out)
	w.Write(out)
}

// setCRC32 sets X-Amz-Crc32, the CRC-32 (IEEE) of the body, which DynamoDB
// sends with every answer. The SDKs check it: aws-sdk-go-v2 logs a warning
// at every call whose answer lacks it or does not match it.
func setCRC32(h http.Header, body []byte) {
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
}

// Do runs operation op (PutItem) on its JSON input and returns the JSON
// output, or an error whose Code method gives DynamoDB's error code. It is
// ServeHTTP without HTTP.
func (e *Engine) Do(op string, body []byte) (out []byte, err error) {
	f, ok := operations[op]
	if !ok {
		return nil, &apiError{status: http.StatusBadRequest, code: codeUnknownOperation, msg: "the embedded DynamoDB does not implement " + strconvQuote(op)}
	}
	if err := e.failed(); err != nil {
		return nil, err
	}
	defer func() {
		// A handler never takes the process down: a panic here is a bug
		// of ours, reported to the caller as DynamoDB reports its own.
		if p := recover(); p != nil {
			out, err = nil, &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: "engine: internal error in " + op}
		}
	}()
	return f(e, body)
}

// Code returns the DynamoDB error code of an error returned by Do, or "".
func Code(err error) string {
	var e *apiError
	if errors.As(err, &e) {
		return e.code
	}
	return ""
}

func writeError(w http.ResponseWriter, err error) {
	e := asAPIError(err)
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-ErrorType", e.code)
	body := appendErrorBody(nil, e)
	setCRC32(h, body)
	w.WriteHeader(e.status)
	w.Write(body)
}

// decode reads a request body into in. Every string of a request must be
// Unicode text: encoding/json would decode invalid UTF-8 and unpaired
// surrogate escapes as U+FFFD, so that distinct keys the client sent
// became one item, and the body is checked raw (awsproto.ValidText).
func decode(body []byte, in any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, in); err != nil {
		return &apiError{status: http.StatusBadRequest, code: codeSerialization, msg: "Start of structure or map found where not expected: " + err.Error()}
	}
	if !awsproto.ValidText(body) {
		return errf("%s", msgNotUnicode)
	}
	return nil
}

// table returns the table a TableName parameter names (a name or a table
// ARN), after validating the parameter.
func (e *Engine) table(name string) (*table, error) {
	name, err := e.resolveTableName(name)
	if err != nil {
		return nil, err
	}
	e.mu.RLock()
	t := e.tables[name]
	e.mu.RUnlock()
	if t == nil {
		return nil, errNotFound("%s", msgResourceNotFound)
	}
	return t, nil
}

// lockTables write-locks (or read-locks) tables in name order, so that
// operations spanning tables cannot deadlock, and returns the unlock.
func lockTables(ts []*table, write bool) func() {
	if len(ts) == 1 {
		t := ts[0]
		if write {
			t.mu.Lock()
			return t.mu.Unlock
		}
		t.mu.RLock()
		return t.mu.RUnlock
	}
	ts = slices.Clone(ts)
	slices.SortFunc(ts, func(a, b *table) int { return strings.Compare(a.name, b.name) })
	ts = slices.Compact(ts)
	for _, t := range ts {
		if write {
			t.mu.Lock()
		} else {
			t.mu.RLock()
		}
	}
	return func() {
		for _, t := range ts {
			if write {
				t.mu.Unlock()
			} else {
				t.mu.RUnlock()
			}
		}
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

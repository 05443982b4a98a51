package dynamodb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
	cj "github.com/orderflow/orderflow/cloud/journal"
)

// MaxRequestBytes is DynamoDB's request size limit (16 MB, the BatchWriteItem
// limit); larger requests are refused before they are read.
const MaxRequestBytes = 16 << 20

// supported lists the operations minidyn's server implements.
var supported = []string{
	"CreateTable", "UpdateTable", "DeleteTable", "DescribeTable",
	"PutItem", "DeleteItem", "UpdateItem", "GetItem", "Query", "Scan",
	"BatchWriteItem", "BatchGetItem", "TransactWriteItems", "TransactGetItems",
}

// tableOps change a table's definition; itemWrites change items. Both are
// journaled; every other supported operation only reads.
var (
	tableOps   = []string{"CreateTable", "UpdateTable", "DeleteTable"}
	itemWrites = []string{"PutItem", "DeleteItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems"}
)

var proto = awsproto.JSONProtocol{Namespace: "com.amazonaws.dynamodb.v20120810"}

// Fault decides, for a request about to be served, whether it fails
// instead: it returns the error to answer with, or nil to serve it. op is the
// operation (PutItem) and body the request's JSON.
type Fault func(op string, body []byte) *awsproto.Error

// Options configure a durable Service. The zero value is an in-memory one.
type Options struct {
	// DB is the bbolt database the service keeps its tables in across
	// restarts: it journals every write there before answering it and
	// replays the journal when opened. The service uses only buckets named
	// "dynamodb.…", so the file can be shared with other services; the
	// caller opens and closes it (after Close). Nil keeps state in memory
	// only, as New does.
	DB *bbolt.DB
	// CompactRecords starts a compaction, folding the journal into the
	// snapshot, once the journal holds this many records. Default 10,000.
	CompactRecords int
	// CompactBytes starts a compaction once the journal's records hold this
	// many bytes. Default 64 MiB.
	CompactBytes int64
	// Logger receives start-up replay and compaction reports and errors.
	// Default: discard.
	Logger *slog.Logger
	// Journal, with DB, is a group-commit journal on DB shared with other
	// services (cloud/journal), so that their records share commits; the
	// caller closes it after the service. Nil: the service commits on its own.
	Journal *cj.Journal
	// Engine stores the tables and answers the DynamoDB JSON API. Default:
	// orderflow's engine (cloud/dynamodb/engine), whose writes stay O(log n)
	// as tables grow; tests pass minidyn's server to compare the two.
	Engine http.Handler
}

func (o *Options) applyDefaults() {
	if o.CompactRecords <= 0 {
		o.CompactRecords = 10_000
	}
	if o.CompactBytes <= 0 {
		o.CompactBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Service is the DynamoDB API.
type Service struct {
	engine http.Handler
	fault  atomic.Pointer[Fault]

	// tableMu is held exclusively by table operations and shared by every
	// other request: minidyn's client reads its table map under its own
	// lock but changes it (CreateTable, DeleteTable) without.
	tableMu sync.RWMutex
	tables  map[string]*tableKeys // the tables that exist; guarded by tableMu

	// j is the journal; nil when state is in memory only.
	j *journal
	// writeMu is held by every write from before minidyn applies it until
	// its journal record has a sequence number, so that the journal's order
	// is the order minidyn applied the writes in.
	writeMu sync.Mutex
}

var (
	_ http.Handler        = (*Service)(nil)
	_ http.ResponseWriter = (*response)(nil)
)

// tableKeys names a table's key attributes, to find an item's key.
type tableKeys struct {
	hash, rng string
}

// New returns an empty DynamoDB service that keeps its state in memory.
func New() *Service { return newService(nil) }

func newService(e http.Handler) *Service {
	if e == nil {
		e = engine.New()
	}
	return &Service{engine: e, tables: map[string]*tableKeys{}}
}

// Open returns a DynamoDB service with the tables opts.DB holds: it replays
// the snapshot and the journal found there into the engine, then journals
// every write. With a nil DB it is New. Close it before closing the DB.
func Open(opts Options) (*Service, error) {
	opts.applyDefaults()
	s := newService(opts.Engine)
	if opts.DB == nil {
		return s, nil
	}
	j, err := openJournal(opts)
	if err != nil {
		return nil, err
	}
	if err := s.replay(j, opts.Logger); err != nil {
		return nil, err
	}
	j.start()
	s.j = j
	return s, nil
}

// Close stops journaling: it waits for the records being committed, stops
// a compaction between two of its steps, and answers later writes with an
// error. It does not close the DB. It returns the error that stopped the
// journal earlier, if one did. Close on an in-memory service does nothing.
func (s *Service) Close() error {
	if s.j == nil {
		return nil
	}
	return s.j.close()
}

// Compact folds the journal into the snapshot now, so that the next start
// replays one PutItem per live item instead of the history of writes. The
// service compacts on its own as the journal grows (Options.CompactRecords,
// CompactBytes); it keeps serving meanwhile.
func (s *Service) Compact() error {
	if s.j == nil {
		return nil
	}
	return s.j.compact(nil)
}

// Name is the SigV4 signing name.
func (s *Service) Name() string { return "dynamodb" }

// TargetPrefix is the JSON protocol's X-Amz-Target prefix.
func (s *Service) TargetPrefix() string { return "DynamoDB_20120810" }

// Actions lists Query-protocol actions: DynamoDB has none.
func (s *Service) Actions() []string { return nil }

// Operations lists the operations the service answers.
func (s *Service) Operations() []string {
	return append(slices.Clone(supported), "ListTables")
}

// SetFault installs a fault hook (nil removes it), for tests and fault
// injection: throttling or 5xx for a share of writes, say. A request the
// hook fails never reaches the engine, so nothing of it is journaled.
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		proto.WriteError(w, awsproto.Errorf(http.StatusRequestEntityTooLarge, "ValidationException", "request too large: %v", err))
		return
	}
	if f := s.fault.Load(); f != nil {
		if e := (*f)(op, body); e != nil {
			proto.WriteError(w, e)
			return
		}
	}
	switch {
	case op == "ListTables":
		s.listTables(w, body)
	case slices.Contains(tableOps, op):
		s.serveTableOp(w, op, body)
	case slices.Contains(itemWrites, op):
		s.serveWrite(w, op, body)
	case slices.Contains(supported, op):
		s.serveRead(w, op, body)
	default:
		proto.WriteError(w, awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException", "the embedded DynamoDB does not implement %q", op))
	}
}

// serveRead answers a request that changes nothing. With a journal, the
// answer waits until every write it may have seen is durable, so that no
// client acts on a write a crash could still take back.
func (s *Service) serveRead(w http.ResponseWriter, op string, body []byte) {
	s.tableMu.RLock()
	res := s.call(op, body)
	s.tableMu.RUnlock()
	if s.j != nil {
		if err := s.j.wait(s.applied()); err != nil {
			proto.WriteError(w, journalError(err))
			return
		}
	}
	res.sendTo(w)
}

// applied returns the sequence number of the last write the engine has
// applied. A writer holds writeMu from before it applies until its record
// is numbered, so taking writeMu here covers every write a request that has
// just finished can have seen.
func (s *Service) applied() uint64 {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.j.last()
}

// serveWrite answers PutItem, DeleteItem, UpdateItem, BatchWriteItem and
// TransactWriteItems: apply, journal what changed, wait until durable,
// answer.
func (s *Service) serveWrite(w http.ResponseWriter, op string, body []byte) {
	if s.j == nil {
		s.tableMu.RLock()
		res := s.call(op, body)
		s.tableMu.RUnlock()
		res.sendTo(w)
		return
	}
	var in writeInput
	if err := json.Unmarshal(body, &in); err != nil {
		in = writeInput{} // the engine refuses it too; nothing to journal
	}
	s.tableMu.RLock()
	targets := s.targets(op, &in)
	if err := s.j.usable(); err != nil {
		s.tableMu.RUnlock()
		proto.WriteError(w, journalError(err))
		return
	}
	s.writeMu.Lock()
	s.readBefore(targets)
	res := s.call(op, body)
	effects, err := s.effects(op, targets, res)
	if err == nil && len(effects) > 0 {
		err = s.j.append(effects)
	}
	barrier := s.j.last()
	s.writeMu.Unlock()
	s.tableMu.RUnlock()
	if err != nil {
		// The engine holds a write the journal does not: stop journaling
		// rather than acknowledge anything that a restart would contradict.
		s.j.fail(err)
		proto.WriteError(w, journalError(err))
		return
	}
	if err := s.j.wait(barrier); err != nil {
		proto.WriteError(w, journalError(err))
		return
	}
	res.sendTo(w)
}

// serveTableOp answers CreateTable, UpdateTable and DeleteTable, alone:
// no other request runs meanwhile.
func (s *Service) serveTableOp(w http.ResponseWriter, op string, body []byte) {
	var in struct{ TableName string }
	if err := json.Unmarshal(body, &in); err != nil {
		proto.WriteError(w, awsproto.Errorf(http.StatusBadRequest, "SerializationException", "request body is not valid JSON: %v", err))
		return
	}
	s.tableMu.Lock()
	if s.j == nil {
		res := s.call(op, body)
		if res.status == http.StatusOK {
			s.trackTable(op, in.TableName, body)
		}
		s.tableMu.Unlock()
		res.sendTo(w)
		return
	}
	if err := s.j.usable(); err != nil {
		s.tableMu.Unlock()
		proto.WriteError(w, journalError(err))
		return
	}
	s.writeMu.Lock()
	var before []byte
	if op == "UpdateTable" {
		before = s.call("DescribeTable", body).body.Bytes()
	}
	res := s.call(op, body)
	var err error
	switch {
	case res.status == http.StatusOK:
		s.trackTable(op, in.TableName, body)
		err = s.j.append([]effect{{Op: op, Table: in.TableName, Request: body}})
	case op == "UpdateTable" && !bytes.Equal(before, s.call("DescribeTable", body).body.Bytes()):
		// minidyn applies an UpdateTable's changes one by one and stops
		// at the first that fails, keeping the others; replaying the
		// request from the same state fails at the same change.
		err = s.j.append([]effect{{Op: op, Table: in.TableName, Request: body, Partial: true}})
	}
	barrier := s.j.last()
	s.writeMu.Unlock()
	s.tableMu.Unlock()
	if err != nil {
		s.j.fail(err)
		proto.WriteError(w, journalError(err))
		return
	}
	if err := s.j.wait(barrier); err != nil {
		proto.WriteError(w, journalError(err))
		return
	}
	res.sendTo(w)
}

// trackTable records a table the engine created or deleted. The caller
// holds tableMu exclusively.
func (s *Service) trackTable(op, name string, body []byte) {
	switch op {
	case "CreateTable":
		var in struct {
			KeySchema []struct{ AttributeName, KeyType string }
		}
		_ = json.Unmarshal(body, &in) // the engine accepted it
		k := &tableKeys{}
		for _, e := range in.KeySchema {
			if e.KeyType == "RANGE" {
				k.rng = e.AttributeName
			} else {
				k.hash = e.AttributeName
			}
		}
		s.tables[name] = k
	case "DeleteTable":
		delete(s.tables, name)
	}
}

// journalError is how a client sees a write the journal could not make
// durable: a server error, which SDKs retry.
func journalError(err error) *awsproto.Error {
	e := awsproto.Internal(err)
	e.Code = "InternalServerError"
	return e
}

// call serves one request to the engine and returns its response.
func (s *Service) call(op string, body []byte) *response {
	r, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "/", bytes.NewReader(body))
	res := &response{header: http.Header{}}
	if err != nil { // cannot happen: the method and URL are constants
		proto.WriteError(res, awsproto.Internal(err))
		return res
	}
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	s.engine.ServeHTTP(res, r)
	if res.status == 0 {
		res.status = http.StatusOK
	}
	return res
}

// response is an http.ResponseWriter that keeps the response, so that it
// is sent only once what it acknowledges is durable.
type response struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *response) Header() http.Header { return r.header }

func (r *response) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *response) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}

// sendTo writes the kept response to w.
func (r *response) sendTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range r.header {
		h[k] = v
	}
	w.WriteHeader(r.status)
	w.Write(r.body.Bytes())
}

// errorType returns the __type of an error response, without a namespace.
func (r *response) errorType() string {
	var e struct {
		Type string `json:"__type"`
	}
	_ = json.Unmarshal(r.body.Bytes(), &e)
	if i := strings.LastIndexByte(e.Type, '#'); i >= 0 {
		return e.Type[i+1:]
	}
	return e.Type
}

// listTables implements ListTables with AWS's paging: names in order,
// at most Limit (1–100, default 100) after ExclusiveStartTableName.
func (s *Service) listTables(w http.ResponseWriter, body []byte) {
	var in struct {
		ExclusiveStartTableName string
		Limit                   *int
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&in); err != nil && !errors.Is(err, io.EOF) {
		proto.WriteError(w, awsproto.Errorf(http.StatusBadRequest, "SerializationException", "request body is not valid JSON: %v", err))
		return
	}
	limit := 100
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 100 {
			proto.WriteError(w, awsproto.Errorf(http.StatusBadRequest, "ValidationException",
				"1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100 and greater than or equal to 1", *in.Limit))
			return
		}
		limit = *in.Limit
	}
	s.tableMu.RLock()
	names := make([]string, 0, len(s.tables))
	for n := range s.tables {
		if n > in.ExclusiveStartTableName {
			names = append(names, n)
		}
	}
	s.tableMu.RUnlock()
	if s.j != nil {
		if err := s.j.wait(s.applied()); err != nil {
			proto.WriteError(w, journalError(err))
			return
		}
	}
	slices.Sort(names)
	out := struct {
		TableNames             []string `json:"TableNames"`
		LastEvaluatedTableName string   `json:"LastEvaluatedTableName,omitempty"`
	}{TableNames: names}
	if len(names) > limit {
		out.TableNames = names[:limit]
		out.LastEvaluatedTableName = names[limit-1]
	}
	awsproto.WriteJSON(w, out)
}

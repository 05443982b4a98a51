// Package dynamodb is the embedded cloud's DynamoDB API. The engine and the
// JSON wire protocol are minidyn's server (github.com/truora/minidyn/server);
// this package puts it behind the edge and adds what common clients need and
// minidyn lacks: ListTables, and AWS-shaped errors for operations it does
// not implement (minidyn answers those with plain text).
package dynamodb

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	miniserver "github.com/truora/minidyn/server"

	"github.com/orderflow/orderflow/cloud/awsproto"
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

var proto = awsproto.JSONProtocol{Namespace: "com.amazonaws.dynamodb.v20120810"}

// Fault decides, for a request about to be served, whether it fails
// instead: it returns the error to answer with, or nil to serve it. op is the
// operation (PutItem) and body the request's JSON.
type Fault func(op string, body []byte) *awsproto.Error

// Service is the DynamoDB API.
type Service struct {
	engine *miniserver.Server
	fault  atomic.Pointer[Fault]

	mu     sync.Mutex
	tables map[string]bool // names of the tables that exist, for ListTables
}

// New returns an empty DynamoDB service.
func New() *Service {
	return &Service{engine: miniserver.NewServer(), tables: map[string]bool{}}
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
// injection: throttling or 5xx for a share of writes, say.
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
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	if f := s.fault.Load(); f != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			proto.WriteError(w, awsproto.Errorf(http.StatusRequestEntityTooLarge, "ValidationException", "request too large: %v", err))
			return
		}
		if e := (*f)(op, body); e != nil {
			proto.WriteError(w, e)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	switch {
	case op == "ListTables":
		s.listTables(w, r)
	case op == "CreateTable" || op == "DeleteTable":
		s.trackTable(w, r, op)
	case slices.Contains(supported, op):
		s.engine.ServeHTTP(w, r)
	default:
		proto.WriteError(w, awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException", "the embedded DynamoDB does not implement %q", op))
	}
}

// trackTable passes a CreateTable or DeleteTable on and records the table
// name when it succeeded.
func (s *Service) trackTable(w http.ResponseWriter, r *http.Request, op string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		proto.WriteError(w, awsproto.Errorf(http.StatusRequestEntityTooLarge, "ValidationException", "request too large: %v", err))
		return
	}
	var in struct{ TableName string }
	if err := json.Unmarshal(body, &in); err != nil {
		proto.WriteError(w, awsproto.Errorf(http.StatusBadRequest, "SerializationException", "request body is not valid JSON: %v", err))
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.engine.ServeHTTP(sw, r)
	if sw.status != http.StatusOK {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if op == "CreateTable" {
		s.tables[in.TableName] = true
	} else {
		delete(s.tables, in.TableName)
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// listTables implements ListTables with AWS's paging: names in order,
// at most Limit (1–100, default 100) after ExclusiveStartTableName.
func (s *Service) listTables(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ExclusiveStartTableName string
		Limit                   *int
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil && err != io.EOF {
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
	s.mu.Lock()
	names := make([]string, 0, len(s.tables))
	for n := range s.tables {
		if n > in.ExclusiveStartTableName {
			names = append(names, n)
		}
	}
	s.mu.Unlock()
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

package cloud

import (
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// Service is one AWS API behind the edge.
type Service interface {
	http.Handler
	// Name is the service's name in a SigV4 credential scope ("sqs").
	Name() string
	// TargetPrefix is its JSON protocol's X-Amz-Target prefix ("AmazonSQS"),
	// or "" if it has no JSON protocol.
	TargetPrefix() string
	// Actions lists the Query-protocol actions it implements.
	Actions() []string
}

// pathServer is a service that also answers GETs of fixed paths (SNS serves
// its signing certificate).
type pathServer interface {
	Paths() []string
}

// prefixServer is a service with a REST protocol: it answers every request
// under its path prefixes (Lambda's /2015-03-31/).
type prefixServer interface {
	PathPrefixes() []string
}

// MaxRequestBytes bounds any request body (DynamoDB's 16 MB limit is the
// largest of the services'); each service applies its own limits within it.
const MaxRequestBytes = 16 << 20

// edge routes every request on the one endpoint to its service: by
// X-Amz-Target (JSON protocols), by the service in the SigV4 credential
// scope, by the Query Action, or by a fixed path.
type edge struct {
	byTarget map[string]Service
	byName   map[string]Service
	byAction map[string][]Service
	byPath   map[string]Service
	prefixes []prefixRoute
	hosts    func(host string) bool
	auth     *verifier // nil: any credentials are accepted
	log      *slog.Logger
	calls    *callCounts
	known    map[string]map[string]bool // service name → the operations it answers
}

// unknownOp is the name under which calls of an operation a service does
// not answer are counted: the name comes from the client, and a count
// keyed by it would grow without bound.
const unknownOp = "(unknown)"

// count records one API call, for Cloud.Calls.
func (e *edge) count(s Service, op string) {
	if !e.known[s.Name()][op] {
		op = unknownOp
	}
	e.calls.add(s.Name() + ":" + op)
}

// operationLister is a service that answers operations beyond its Query
// actions: JSON protocol operations, or a REST API's "METHOD resource"
// pairs (Lambda's "GET functions"), as the edge counts them.
type operationLister interface {
	Operations() []string
}

// callCounts counts API calls by "service:Action", for Cloud.Calls: those
// the edge answers and those the cloud makes in-process on a client's
// behalf (SNS's deliveries, the function host's polls). It exists before
// any service, so that nothing a service does can find it missing.
type callCounts struct {
	m sync.Map // "service:Action" → *atomic.Int64
}

func (c *callCounts) add(key string) {
	if c == nil {
		return
	}
	n, ok := c.m.Load(key)
	if !ok {
		n, _ = c.m.LoadOrStore(key, new(atomic.Int64))
	}
	n.(*atomic.Int64).Add(1)
}

// snapshot returns the calls counted so far.
func (c *callCounts) snapshot() map[string]int64 {
	out := map[string]int64{}
	c.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

type prefixRoute struct {
	prefix  string
	service Service
}

func newEdge(services []Service, hosts func(string) bool, calls *callCounts, log *slog.Logger) *edge {
	e := &edge{
		calls:    calls,
		byTarget: map[string]Service{},
		byName:   map[string]Service{},
		byAction: map[string][]Service{},
		byPath:   map[string]Service{},
		hosts:    hosts,
		log:      log,
		known:    map[string]map[string]bool{},
	}
	for _, s := range services {
		known := map[string]bool{}
		for _, a := range s.Actions() {
			known[a] = true
		}
		if ol, ok := s.(operationLister); ok {
			for _, op := range ol.Operations() {
				known[op] = true
			}
		}
		e.known[s.Name()] = known
		e.byName[s.Name()] = s
		if p := s.TargetPrefix(); p != "" {
			e.byTarget[p] = s
		}
		for _, a := range s.Actions() {
			e.byAction[a] = append(e.byAction[a], s)
		}
		if ps, ok := s.(pathServer); ok {
			for _, p := range ps.Paths() {
				e.byPath[p] = s
			}
		}
		if ps, ok := s.(prefixServer); ok {
			for _, p := range ps.PathPrefixes() {
				e.prefixes = append(e.prefixes, prefixRoute{p, s})
			}
		}
	}
	return e
}

func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" {
		// A browser page must not drive the cloud (cross-site requests, DNS
		// rebinding): AWS clients do not send Origin.
		e.fail(w, r, awsproto.Errorf(http.StatusForbidden, "AccessDenied", "requests from a web page (with an Origin header) are refused"))
		return
	}
	if !e.hosts(r.Host) {
		e.fail(w, r, awsproto.Errorf(http.StatusForbidden, "AccessDenied", "host %q is not this endpoint's; start it with an allowed host to reach it by that name", r.Host))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	if e.auth != nil {
		// GETs of fixed paths (SNS's signing certificate) are public, as on AWS.
		if _, public := e.byPath[r.URL.Path]; !(public && r.Method == http.MethodGet) {
			if err := e.auth.verify(r); err != nil {
				e.fail(w, r, err)
				return
			}
		}
	}

	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, _, _ := strings.Cut(target, ".")
		if s, ok := e.byTarget[prefix]; ok {
			_, op, _ := strings.Cut(target, ".")
			e.count(s, op)
			s.ServeHTTP(w, r)
			return
		}
		e.fail(w, r, awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException", "no service here answers X-Amz-Target %q", target))
		return
	}
	for _, p := range e.prefixes {
		if strings.HasPrefix(r.URL.Path, p.prefix) {
			e.count(p.service, r.Method+" "+strings.SplitN(strings.TrimPrefix(r.URL.Path, p.prefix), "/", 2)[0])
			p.service.ServeHTTP(w, r)
			return
		}
	}
	if r.Method == http.MethodGet {
		if s, ok := e.byPath[r.URL.Path]; ok {
			s.ServeHTTP(w, r)
			return
		}
	}
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if strings.Contains(err.Error(), "too large") {
			status = http.StatusRequestEntityTooLarge
		}
		e.fail(w, r, awsproto.Errorf(status, "MalformedQueryString", "the request's parameters cannot be read: %v", err))
		return
	}
	action := r.Form.Get("Action")
	if action == "" {
		e.fail(w, r, awsproto.Errorf(http.StatusBadRequest, "MissingAction", "the request has neither an X-Amz-Target header nor an Action parameter"))
		return
	}
	if s := e.queryService(r, action); s != nil {
		e.count(s, action)
		s.ServeHTTP(w, r)
		return
	}
	e.fail(w, r, awsproto.Errorf(http.StatusBadRequest, "InvalidAction", "the action %s is not valid for this endpoint", action))
}

// queryService picks the service of a Query-protocol request: the one named
// in the credential scope if it has the action, else the only one with the
// action, else (SQS and SNS share a few names) SQS for a queue path.
func (e *edge) queryService(r *http.Request, action string) Service {
	candidates := e.byAction[action]
	if s, ok := e.byName[signingName(r)]; ok && slices.Contains(candidates, s) {
		return s
	}
	switch len(candidates) {
	case 0:
		return nil
	case 1:
		return candidates[0]
	}
	if s, ok := e.byName["sqs"]; ok && slices.Contains(candidates, s) && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 1 {
		return s
	}
	return candidates[0]
}

// signingName returns the service in a SigV4 credential scope
// (Credential=AKID/date/region/service/aws4_request), from the
// Authorization header or a presigned URL's X-Amz-Credential.
func signingName(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, after, ok := strings.Cut(auth, "Credential=")
		if ok {
			cred, _, _ = strings.Cut(after, ",")
		}
	}
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// fail writes an edge error in the protocol the request used.
func (e *edge) fail(w http.ResponseWriter, r *http.Request, err *awsproto.Error) {
	e.log.Debug("edge refused a request", "method", r.Method, "path", r.URL.Path, "host", r.Host, "code", err.Code, "error", err.Message)
	if r.Header.Get("X-Amz-Target") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json") {
		awsproto.JSONProtocol{}.WriteError(w, err)
		return
	}
	awsproto.WriteQueryError(w, err, "", awsproto.NewRequestID())
}

// hostGuard accepts the Host names under which the endpoint may be reached:
// loopback names, the listener's own host and any extra ones. A listener on
// every interface (0.0.0.0 or ::) was an explicit choice to be reachable, so
// it accepts any host unless extra ones narrow it.
func hostGuard(listenHost string, extra []string) func(string) bool {
	allowed := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true, listenHost: true}
	for _, h := range extra {
		allowed[strings.ToLower(h)] = true
	}
	open := (listenHost == "" || net.ParseIP(listenHost).IsUnspecified()) && len(extra) == 0
	return func(hostport string) bool {
		if open {
			return true
		}
		host := hostport
		if h, _, err := net.SplitHostPort(hostport); err == nil {
			host = h
		}
		host = strings.ToLower(strings.Trim(host, "[]"))
		return allowed[host] || strings.HasSuffix(host, ".localhost")
	}
}

package cloud

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/s3"
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

// pathServer is a service that also publishes documents at fixed paths,
// to anyone, by GET (SNS serves its signing certificate there). ServePath
// serves those documents and nothing else: it reaches no API.
type pathServer interface {
	Paths() []string
	ServePath(w http.ResponseWriter, r *http.Request)
}

// prefixServer is a service with a REST protocol: it answers every request
// under its path prefixes (Lambda's /2015-03-31/).
type prefixServer interface {
	PathPrefixes() []string
}

// MaxRequestBytes bounds any request body (DynamoDB's 16 MB limit is the
// largest of the services'); each service applies its own limits within it.
const MaxRequestBytes = 16 << 20

// HealthPath is the edge's readiness endpoint: a GET answers 200
// {"status":"ok"} while the cloud serves, and 503 {"status":"unavailable"}
// once the data file can no longer be written or the cloud is shutting
// down. It needs no credentials, reaches no service and says nothing else,
// for scripts and CI to poll.
const HealthPath = "/_orderflow/health"

// edge routes every request on the one endpoint to its service: by
// X-Amz-Target (JSON protocols), by path prefix (Lambda's REST API), by the
// Query Action (with the service in the SigV4 credential scope to choose
// between SQS and SNS), or by a fixed path (SNS's certificate).
//
// What it serves without credentials, with or without auth, is in
// ServeHTTP's first lines and nowhere else: the health endpoint and the
// fixed paths' documents (by GET, with no X-Amz-Target and no Action).
// Everything else reaches a service only after auth, when auth is set.
//
// In every mode it refuses what a web page can make a browser send: a
// request with an Origin header, one a browser marks as not the user's own
// doing (Sec-Fetch-Site other than none), and any Query action that is not
// a read over anything but POST (a page can make a browser GET any URL,
// with no Origin and, off loopback, no Sec-Fetch-Site).
type edge struct {
	byTarget map[string]Service
	byName   map[string]Service
	byAction map[string][]Service
	byPath   map[string]pathServer
	prefixes []prefixRoute
	hosts    func(host string) bool
	auth     *verifier // nil: any credentials are accepted
	health   func() bool
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
		byPath:   map[string]pathServer{},
		hosts:    hosts,
		health:   func() bool { return true },
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
				e.byPath[p] = ps
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
	if err := fromWebPage(r); err != nil {
		e.fail(w, r, err)
		return
	}
	if !e.hosts(r.Host) {
		e.fail(w, r, awsproto.Errorf(http.StatusForbidden, "AccessDenied", "host %q is not this endpoint's; start it with that host allowed (orderflow up --allow-host) to reach it by that name", r.Host))
		return
	}
	// The only routes open without credentials.
	if r.URL.Path == HealthPath {
		e.serveHealth(w, r)
		return
	}
	if ps, ok := e.byPath[r.URL.Path]; ok && r.Method == http.MethodGet && r.Header.Get("X-Amz-Target") == "" && !r.URL.Query().Has("Action") {
		ps.ServePath(w, r)
		return
	}

	if e.isS3(r) {
		e.serveS3(w, r)
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	scoped := ""
	if e.auth != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			code := "RequestEntityTooLarge"
			if _, ok := e.prefixRoute(r); ok {
				code = "RequestEntityTooLargeException" // Lambda's name for it
			}
			e.fail(w, r, awsproto.Errorf(http.StatusRequestEntityTooLarge, code, "the request body cannot be read: %v", err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var refused *authFailure
		if scoped, refused = e.auth.verify(r, body); refused != nil {
			e.fail(w, r, authError(e.dialect(r), refused))
			return
		}
	}
	rt, err := e.route(r)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	if e.auth != nil && scoped != rt.service.Name() {
		e.fail(w, r, authError(dialectOf(rt.service.Name()), refuse(authSignature, "Credential should be scoped to correct service: '%s'. ", rt.service.Name())))
		return
	}
	if err := rt.allows(r.Method); err != nil {
		w.Header().Set("Allow", http.MethodPost)
		e.fail(w, r, err)
		return
	}
	e.count(rt.service, rt.op)
	rt.service.ServeHTTP(w, r)
}

// fromWebPage refuses a request a web page made a browser send. AWS clients
// send neither Origin nor Sec-Fetch-Site; browsers send Origin on every
// cross-origin request but simple GETs (an image, a link), and
// Sec-Fetch-Site on every request to a secure origin (loopback among them):
// "none" when the user asked for the URL (typed it, a bookmark), else
// same-origin, same-site or cross-site. The edge serves no pages, so no
// page of its own origin exists to send same-origin requests; a same-site
// page (another port of localhost) is as foreign as any.
func fromWebPage(r *http.Request) *awsproto.Error {
	if r.Header.Get("Origin") != "" {
		// Cross-site requests and DNS rebinding.
		return awsproto.Errorf(http.StatusForbidden, "AccessDenied", "requests from a web page (with an Origin header) are refused")
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "none" {
		return awsproto.Errorf(http.StatusForbidden, "AccessDenied", "requests a web page made a browser send (Sec-Fetch-Site: %s) are refused", site)
	}
	return nil
}

// serveHealth answers the readiness endpoint.
func (e *edge) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if !e.health() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":"unavailable"}`+"\n")
		return
	}
	io.WriteString(w, `{"status":"ok"}`+"\n")
}

// protocol is how a request speaks to its service.
type protocol int

const (
	queryProtocol protocol = iota // form-encoded Action=…, XML replies
	jsonProtocol                  // X-Amz-Target
	restProtocol                  // a service's own paths and methods
)

// routed is where a request goes.
type routed struct {
	service Service
	op      string // the operation, for Cloud.Calls
	proto   protocol
}

// allows returns nil if method may carry the request. A web page can make
// a browser send a GET or HEAD with no Origin; AWS's clients send Query and
// JSON requests by POST. So only POST changes state: a Query action that is
// not a read (List*, Get*, Describe*; ReceiveMessage hides messages, so it
// is a write) is refused over any other method, and the JSON protocols take
// only POST. REST services own their methods.
func (rt routed) allows(method string) *awsproto.Error {
	switch {
	case method == http.MethodPost || rt.proto == restProtocol:
		return nil
	case rt.proto == jsonProtocol:
		return awsproto.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "the JSON protocol takes POST, not %s", method)
	case (method == http.MethodGet || method == http.MethodHead) && readOnly(rt.op):
		return nil
	}
	return awsproto.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s changes state, so it is accepted only by POST, not %s (a web page can make a browser send a %s)", rt.op, method, method)
}

// readOnly reports whether a Query action only reads.
func readOnly(action string) bool {
	for _, p := range []string{"List", "Get", "Describe"} {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return false
}

// route finds the service and operation of a request.
func (e *edge) route(r *http.Request) (routed, *awsproto.Error) {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		if s, ok := e.byTarget[prefix]; ok {
			return routed{s, op, jsonProtocol}, nil
		}
		return routed{}, awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException", "no service here answers X-Amz-Target %q", target)
	}
	if p, ok := e.prefixRoute(r); ok {
		return routed{p.service, r.Method + " " + strings.SplitN(strings.TrimPrefix(r.URL.Path, p.prefix), "/", 2)[0], restProtocol}, nil
	}
	if err := awsproto.ParseForm(r); err != nil {
		status := http.StatusBadRequest
		if strings.Contains(err.Error(), "too large") {
			status = http.StatusRequestEntityTooLarge
		}
		return routed{}, awsproto.Errorf(status, "MalformedQueryString", "the request's parameters cannot be read: %v", err)
	}
	action := r.Form.Get("Action")
	if action == "" {
		return routed{}, awsproto.Errorf(http.StatusBadRequest, "MissingAction", "the request has neither an X-Amz-Target header nor an Action parameter")
	}
	if s := e.queryService(r, action); s != nil {
		return routed{s, action, queryProtocol}, nil
	}
	return routed{}, awsproto.Errorf(http.StatusBadRequest, "InvalidAction", "the action %s is not valid for this endpoint", action)
}

// dialect is how the service a request is for reports authentication
// failures, judged before the request is authenticated and routed.
func (e *edge) dialect(r *http.Request) authDialect {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, _, _ := strings.Cut(target, ".")
		if s, ok := e.byTarget[prefix]; ok {
			return dialectOf(s.Name())
		}
		return queryDialect
	}
	if p, ok := e.prefixRoute(r); ok {
		return dialectOf(p.service.Name())
	}
	return queryDialect
}

// prefixRoute finds the REST service whose path prefix the request's path
// starts with, unless the request is signed for S3: Lambda's prefixes
// (/2015-03-31/, /2018-10-31/, …) are also valid bucket names in a
// path-style S3 URL. (A request signed for any other service keeps its
// route, to be refused as scoped to the wrong service.)
func (e *edge) prefixRoute(r *http.Request) (prefixRoute, bool) {
	s3 := signingName(r) == "s3"
	for _, p := range e.prefixes {
		if strings.HasPrefix(r.URL.Path, p.prefix) && !s3 {
			return p, true
		}
	}
	return prefixRoute{}, false
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

// isS3 reports whether r is for S3: signed for it (the credential scope
// names s3), or unsigned and addressed to a bucket by a virtual-hosted-style
// name (BUCKET.localhost). Nothing else is: S3's paths overlap every other
// service's (any /NAME is a bucket), so only the request's own word routes
// it there.
func (e *edge) isS3(r *http.Request) bool {
	if e.byName["s3"] == nil || r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	switch signingName(r) {
	case "s3":
		return true
	case "":
		return s3.VirtualHostBucket(r.Host) != ""
	}
	return false // signed for another service, whatever its host
}

// serveS3 authenticates an S3 request over its headers and the payload hash
// it claims, without reading its body: S3 bodies stream to storage, over
// the edge's MaxRequestBytes, and S3 checks them itself as they stream
// (cloud/s3), the signatures of a body signed chunk by chunk included.
func (e *edge) serveS3(w http.ResponseWriter, r *http.Request) {
	svc := e.byName["s3"]
	if e.auth != nil {
		scoped, chunks, refused := e.auth.verifyS3(r)
		if refused == nil && scoped != "s3" {
			refused = refuse(authSignature, "Credential should be scoped to correct service: 's3'. ")
		}
		if refused != nil {
			e.fail(w, r, authError(s3Dialect, refused))
			return
		}
		if chunks != nil {
			r = r.WithContext(s3.WithChunkSignatures(r.Context(), chunks))
		}
	}
	e.count(svc, s3.Operation(r))
	svc.ServeHTTP(w, r)
}

// fail writes an edge error in the protocol the request used.
func (e *edge) fail(w http.ResponseWriter, r *http.Request, err *awsproto.Error) {
	e.log.Debug("edge refused a request", "method", r.Method, "path", r.URL.Path, "host", r.Host, "code", err.Code, "error", err.Message)
	if e.isS3(r) {
		s3.WriteError(w, r, err)
		return
	}
	if ew := e.errorWriterOf(r); ew != nil {
		ew.WriteError(w, r, err)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json") {
		// SQS's JSON protocol also names the Query code in a header.
		awsproto.JSONProtocol{QueryCompatible: strings.HasPrefix(target, "AmazonSQS.")}.WriteError(w, err)
		return
	}
	if _, ok := e.prefixRoute(r); ok {
		writeRESTError(w, err)
		return
	}
	awsproto.WriteQueryError(w, err, "", awsproto.NewRequestID())
}

// errorWriter is a service that writes the edge's errors itself, in the
// protocol of the request (CloudWatch's RPC v2 CBOR).
type errorWriter interface {
	WriteError(w http.ResponseWriter, r *http.Request, err *awsproto.Error)
}

// errorWriterOf returns the service a request's target or path prefix
// names, if it writes its own errors.
func (e *edge) errorWriterOf(r *http.Request) errorWriter {
	var s Service
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, _, _ := strings.Cut(target, ".")
		s = e.byTarget[prefix]
	} else if p, ok := e.prefixRoute(r); ok {
		s = p.service
	}
	ew, _ := s.(errorWriter)
	return ew
}

// writeRESTError writes err as the REST JSON services (Lambda) do: the code
// in X-Amzn-ErrorType, the message in the body.
func writeRESTError(w http.ResponseWriter, err *awsproto.Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", err.Code)
	h.Set("X-Amzn-RequestId", awsproto.NewRequestID())
	w.WriteHeader(err.Status)
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{err.Message})
	w.Write(b)
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

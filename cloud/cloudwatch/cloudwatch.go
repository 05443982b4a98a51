// Package cloudwatch is the embedded cloud's CloudWatch metrics API:
// PutMetricData, ListMetrics, GetMetricStatistics and GetMetricData, over
// the protocols the clients on hand speak — Smithy RPC v2 CBOR (POST
// /service/GraniteServiceVersion20100801/operation/NAME, what
// aws-sdk-go-v2 sends), the JSON protocol (X-Amz-Target
// GraniteServiceVersion20100801.NAME, what recent botocore and the AWS CLI
// v1 built on it send) — both query-compatible: the Query error code rides
// in x-amzn-query-error, and gzip bodies are taken — and the Query
// protocol (Action=…, XML answers, what the AWS CLI v2 2.9 sends).
//
// Metrics also come from CloudWatch Logs: every log line that is an
// Embedded Metric Format document (IngestEMF) becomes datapoints, as on
// AWS. Statistics are SampleCount, Sum, Average, Minimum and Maximum
// over periods; percentiles (ExtendedStatistics), metric math and
// anomaly detection are refused with InvalidParameterValue, saying so.
//
// Memory is bounded (Options.MaxSeries, Options.MaxPointsPerSeries):
// values are kept aggregated per minute (per second for
// StorageResolution 1), the oldest dropped past the bound, and the series
// written least recently dropped for a new one past the series bound.
// Metrics live in memory, under a data directory too: they restart empty.
package cloudwatch

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
)

// XMLNamespace is the namespace of CloudWatch's Query-protocol documents.
const XMLNamespace = "http://monitoring.amazonaws.com/doc/2010-08-01/"

// CBORPrefix is the path prefix of CloudWatch's RPC v2 CBOR operations.
const CBORPrefix = "/service/GraniteServiceVersion20100801/operation/"

// Defaults of Options.
const (
	DefaultMaxSeries          = 1000
	DefaultMaxPointsPerSeries = 1440 // a day of minutes
)

// MaxRequestBytes is PutMetricData's bound on a request (AWS's 1 MB).
const MaxRequestBytes = 1 << 20

// Options configure a Service. The zero value is usable.
type Options struct {
	// Clock is what "now" is (PutMetricData's timestamp window, a datum
	// without a timestamp, RecentlyActive). Default clock.Real().
	Clock clock.Clock
	// MaxSeries bounds the metrics kept (namespace, name and dimensions):
	// past it the one written least recently is dropped. Default
	// DefaultMaxSeries.
	MaxSeries int
	// MaxPointsPerSeries bounds the aggregated points a metric keeps (one
	// per minute, or per second for high resolution): past it the oldest
	// are dropped. Default DefaultMaxPointsPerSeries.
	MaxPointsPerSeries int
}

// Service is the CloudWatch metrics API.
type Service struct {
	clock clock.Clock
	store *store
}

// New returns a service with no metrics.
func New(o Options) (*Service, error) {
	if o.MaxSeries < 0 || o.MaxPointsPerSeries < 0 {
		return nil, fmt.Errorf("cloudwatch: MaxSeries and MaxPointsPerSeries must not be negative")
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.MaxSeries == 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	if o.MaxPointsPerSeries == 0 {
		o.MaxPointsPerSeries = DefaultMaxPointsPerSeries
	}
	return &Service{clock: o.Clock, store: newStore(o.MaxSeries, o.MaxPointsPerSeries)}, nil
}

// Name is the SigV4 signing name.
func (s *Service) Name() string { return "monitoring" }

// TargetPrefix is the JSON protocol's X-Amz-Target prefix (recent
// botocore speaks it).
func (s *Service) TargetPrefix() string { return "GraniteServiceVersion20100801" }

// Actions are the Query actions answered.
func (s *Service) Actions() []string { return slices.Sorted(mapKeys(operations)) }

// PathPrefixes routes the RPC v2 CBOR protocol here.
func (s *Service) PathPrefixes() []string { return []string{CBORPrefix} }

// IngestEMF takes one log line; if it is an Embedded Metric Format
// document its metrics are recorded. It reports whether they were.
func (s *Service) IngestEMF(msg string) bool { return s.store.ingestEMF(msg) }

// Put records values of a metric at a time, as the cloud's own figures
// (AWS/Lambda, AWS/SQS): no namespace is refused.
func (s *Service) Put(namespace, name, unit string, dims []Dimension, at time.Time, values ...float64) {
	ds := make([]datum, 0, len(values))
	m := Metric{Namespace: namespace, MetricName: name, Dimensions: sortDimensions(slices.Clone(dims))}
	for _, v := range values {
		ds = append(ds, datum{metric: m, unit: unit, at: at, agg: bucket{count: 1, sum: v, lo: v, hi: v}})
	}
	s.store.put(ds)
}

// Size is how many metrics are kept and the points they hold.
func (s *Service) Size() (series, points int) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	for _, se := range s.store.series {
		points += len(se.buckets)
	}
	return len(s.store.series), points
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

type operation func(s *Service, in *request) (any, *awsproto.Error)

var operations = map[string]operation{
	"PutMetricData":       (*Service).putMetricData,
	"ListMetrics":         (*Service).listMetrics,
	"GetMetricStatistics": (*Service).getMetricStatistics,
	"GetMetricData":       (*Service).getMetricData,
}

// Operations lists what the service answers, for the edge's call counts:
// each action, and its CBOR path as the edge names REST operations
// ("POST GetMetricData").
func (s *Service) Operations() []string {
	ops := s.Actions()
	for _, a := range s.Actions() {
		ops = append(ops, http.MethodPost+" "+a)
	}
	return ops
}

// ServeHTTP answers a CBOR or Query request.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.NewRequestID()
	w.Header().Set("X-Amzn-RequestId", reqID)
	if op, ok := strings.CutPrefix(r.URL.Path, CBORPrefix); ok {
		s.serveRPC(w, r, op, cborWire)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		_, op, _ := strings.Cut(target, ".")
		s.serveRPC(w, r, op, jsonWire)
		return
	}
	fail := func(err *awsproto.Error) { awsproto.WriteQueryError(w, err, XMLNamespace, reqID) }
	if r.ContentLength > MaxRequestBytes {
		fail(tooLarge())
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(awsproto.Errorf(http.StatusBadRequest, "MalformedQueryString", "the request's parameters cannot be read: %v", err))
		return
	}
	action := r.Form.Get("Action")
	op, ok := operations[action]
	if !ok {
		fail(awsproto.Errorf(http.StatusBadRequest, "InvalidAction", "The action %s is not valid for this web service.", action))
		return
	}
	var in request
	if err := decodeTree(formTree(r.Form), &in); err != nil {
		fail(err)
		return
	}
	out, err := op(s, &in)
	if err != nil {
		fail(err)
		return
	}
	writeQuery(w, action, out, reqID)
}

// WriteError writes an error the edge raised (authentication, a refused
// origin) in the protocol the request speaks.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, err *awsproto.Error) {
	switch {
	case strings.HasPrefix(r.URL.Path, CBORPrefix):
		writeCBORError(w, err)
	case r.Header.Get("X-Amz-Target") != "":
		writeJSONError(w, err)
	default:
		awsproto.WriteQueryError(w, err, XMLNamespace, awsproto.NewRequestID())
	}
}

func tooLarge() *awsproto.Error {
	return awsproto.Errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request size exceeded the limit of %d bytes.", MaxRequestBytes)
}

// rpc is one of the two RPC protocols: how a body is read and how
// answers and errors are written.
type rpc struct {
	decode     func([]byte) (map[string]any, error)
	write      func(http.ResponseWriter, any)
	writeError func(http.ResponseWriter, *awsproto.Error)
	name       string
}

var (
	cborWire = rpc{decodeCBOR, writeCBOR, writeCBORError, "RPC v2 CBOR"}
	jsonWire = rpc{decodeJSON, writeJSON, writeJSONError, "JSON"}
)

// serveRPC answers the RPC v2 CBOR or the JSON protocol.
func (s *Service) serveRPC(w http.ResponseWriter, r *http.Request, name string, p rpc) {
	writeCBORError, writeCBOR := p.writeError, p.write
	op, ok := operations[name]
	switch {
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		writeCBORError(w, awsproto.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "the %s protocol takes POST, not %s", p.name, r.Method))
		return
	case !ok:
		writeCBORError(w, awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException", "the embedded cloud's CloudWatch answers %s, not %q", strings.Join(s.Actions(), ", "), name))
		return
	}
	var src io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		// The SDKs compress PutMetricData (its requestCompression
		// trait); the bound below holds for what it inflates to.
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeCBORError(w, awsproto.Errorf(http.StatusBadRequest, "SerializationException", "the gzip request body cannot be read: %v", err))
			return
		}
		src = zr
	default:
		writeCBORError(w, awsproto.Errorf(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "the Content-Encoding %q is not supported: send gzip or none", enc))
		return
	}
	body, err := io.ReadAll(io.LimitReader(src, MaxRequestBytes+1))
	if err != nil {
		writeCBORError(w, awsproto.Errorf(http.StatusBadRequest, "SerializationException", "the request body cannot be read: %v", err))
		return
	}
	if len(body) > MaxRequestBytes {
		writeCBORError(w, tooLarge())
		return
	}
	var in request
	if len(body) > 0 {
		tree, err := p.decode(body)
		if err != nil {
			writeCBORError(w, awsproto.Errorf(http.StatusBadRequest, "SerializationException", "the request body is not a %s map: %v", p.name, err))
			return
		}
		if e := decodeTree(tree, &in); e != nil {
			writeCBORError(w, e)
			return
		}
	}
	out, e := op(s, &in)
	if e != nil {
		writeCBORError(w, e)
		return
	}
	writeCBOR(w, out)
}

// request holds every operation's members; each reads its own.
type request struct {
	Namespace          string
	MetricName         string
	MetricData         []datumIn
	Dimensions         []dimensionIn
	StartTime, EndTime *timestamp
	Period             *number
	Statistics         []string
	ExtendedStatistics []string
	Unit               string
	MetricDataQueries  []queryIn
	ScanBy             string
	MaxDatapoints      *number
	NextToken          string
	RecentlyActive     string
}

type dimensionIn struct {
	Name  *string
	Value *string
}

type metricIn struct {
	Namespace  string
	MetricName string
	Dimensions []dimensionIn
}

type datumIn struct {
	MetricName        string
	Dimensions        []dimensionIn
	Timestamp         *timestamp
	Value             *number
	StatisticValues   *struct{ SampleCount, Sum, Minimum, Maximum *number }
	Values            []number
	Counts            []number
	Unit              string
	StorageResolution *number
}

type queryIn struct {
	Id         string
	MetricStat *struct {
		Metric metricIn
		Period *number
		Stat   string
		Unit   string
	}
	Expression string
	Label      string
	ReturnData *flag
	Period     *number
	AccountId  string
}

// number is a number sent as one (CBOR, JSON) or as text (Query); NaN
// and infinities arrive as text either way and are refused by the
// operations, naming the parameter.
type number float64

func (n *number) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is not a number", s)
	}
	*n = number(f)
	return nil
}

// timestamp is a time sent as epoch seconds (CBOR, JSON) or ISO 8601
// text (Query).
type timestamp struct{ time.Time }

func (t *timestamp) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
			if v, err := time.Parse(layout, s); err == nil {
				t.Time = v
				return nil
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			t.Time = fromEpoch(f)
			return nil
		}
		return fmt.Errorf("%q is not a timestamp", s)
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("%s is not a timestamp", b)
	}
	t.Time = fromEpoch(f)
	return nil
}

func fromEpoch(f float64) time.Time {
	f = max(min(f, 1e11), -1e11) // beyond any datum's window
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// flag is a boolean sent as one or as text.
type flag bool

func (f *flag) UnmarshalJSON(b []byte) error {
	switch strings.Trim(string(b), `"`) {
	case "true":
		*f = true
	case "false":
		*f = false
	default:
		return fmt.Errorf("%s is not a boolean", b)
	}
	return nil
}

// decodeTree fills in from a decoded body (CBOR) or form (Query).
func decodeTree(tree map[string]any, in *request) *awsproto.Error {
	b, err := json.Marshal(tree)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		err = dec.Decode(in)
	}
	if err != nil {
		msg := err.Error()
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			msg = fmt.Sprintf("the member %s must be %s, not a %s", te.Field, te.Type, te.Value)
		}
		return awsproto.Errorf(http.StatusBadRequest, "InvalidParameterValue", "The request cannot be read: %s.", strings.TrimPrefix(msg, "json: "))
	}
	return nil
}

// formTree turns a Query form (MetricData.member.1.Dimensions.member.2.Name=…)
// into the tree a CBOR body would be.
func formTree(f url.Values) map[string]any {
	root := map[string]any{}
	for k, vs := range f {
		if k == "Action" || k == "Version" || len(vs) == 0 {
			continue
		}
		setPath(root, strings.Split(k, "."), vs[0])
	}
	return finish(root).(map[string]any)
}

// listNode is a list being built from member.N keys.
type listNode map[int]any

// maxListIndex bounds a member.N index: no CloudWatch list is longer.
const maxListIndex = 1000

func setPath(m map[string]any, parts []string, v string) {
	p := parts[0]
	if len(parts) == 1 {
		m[p] = v
		return
	}
	if parts[1] == "member" && len(parts) >= 3 {
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 1 || n > maxListIndex {
			return
		}
		l, _ := m[p].(listNode)
		if l == nil {
			l = listNode{}
			m[p] = l
		}
		if len(parts) == 3 {
			l[n] = v
			return
		}
		sub, _ := l[n].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			l[n] = sub
		}
		setPath(sub, parts[3:], v)
		return
	}
	sub, _ := m[p].(map[string]any)
	if sub == nil {
		sub = map[string]any{}
		m[p] = sub
	}
	setPath(sub, parts[1:], v)
}

func finish(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = finish(e)
		}
		return x
	case listNode:
		idx := slices.Sorted(func(yield func(int) bool) {
			for i := range x {
				if !yield(i) {
					return
				}
			}
		})
		out := make([]any, 0, len(idx))
		for _, i := range idx {
			out = append(out, finish(x[i]))
		}
		return out
	}
	return v
}

package cloudwatch

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Dimension is a metric's name/value pair.
type Dimension struct {
	Name  string
	Value string
}

// Metric names one series.
type Metric struct {
	Namespace  string
	MetricName string
	Dimensions []Dimension // sorted by name
}

// key is a metric's identity: namespace, name and its dimensions in name
// order.
func (m Metric) key() string { return string(m.appendKey(nil)) }

func (m Metric) appendKey(b []byte) []byte {
	b = append(b, m.Namespace...)
	b = append(b, 0)
	b = append(b, m.MetricName...)
	for _, d := range m.Dimensions {
		b = append(b, 0)
		b = append(b, d.Name...)
		b = append(b, 1)
		b = append(b, d.Value...)
	}
	return b
}

// bucket aggregates what was put for a series in one interval: a second
// for high-resolution data, a minute otherwise.
type bucket struct {
	t                  int64 // start, Unix seconds
	count, sum, lo, hi float64
}

func (b *bucket) add(o bucket) {
	if b.count == 0 {
		b.lo, b.hi = o.lo, o.hi
	} else {
		b.lo, b.hi = min(b.lo, o.lo), max(b.hi, o.hi)
	}
	b.count += o.count
	b.sum += o.sum
}

type series struct {
	metric  Metric
	unit    string
	buckets []bucket // by t, ascending
	written int64    // last write, for eviction
}

// store holds every series, bounded: at most maxSeries series (the one
// least recently written is dropped for a new one) of at most maxBuckets
// buckets each (the oldest dropped).
type store struct {
	mu         sync.Mutex
	series     map[string]*series
	maxSeries  int
	maxBuckets int
	writes     int64
	dropped    int64  // EMF lines refused
	keyBuf     []byte // a series' key, built under mu

	emfMu    sync.Mutex
	emfCache map[string][]emfDirective // by the CloudWatchMetrics text
}

func newStore(maxSeries, maxBuckets int) *store {
	return &store{series: map[string]*series{}, maxSeries: maxSeries, maxBuckets: maxBuckets}
}

// datum is one value (or a statistic set) for a metric at a time.
type datum struct {
	metric  Metric
	unit    string
	at      time.Time
	highRes bool
	agg     bucket // count, sum, lo, hi
}

func (s *store) put(ds []datum) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		s.putLocked(d)
	}
}

func (s *store) putLocked(d datum) {
	s.writes++
	s.keyBuf = d.metric.appendKey(s.keyBuf[:0])
	se := s.series[string(s.keyBuf)]
	if se == nil {
		if len(s.series) >= s.maxSeries {
			s.evictLocked()
		}
		// Its own copies: an EMF dimension's value may be part of the line.
		m := d.metric
		m.Dimensions = slices.Clone(m.Dimensions)
		for i := range m.Dimensions {
			m.Dimensions[i].Value = strings.Clone(m.Dimensions[i].Value)
		}
		se = &series{metric: m}
		s.series[string(s.keyBuf)] = se
	}
	se.written = s.writes
	if d.unit != "" {
		se.unit = d.unit
	}
	t := d.at.Unix()
	if !d.highRes {
		t -= t % 60 // times are after the epoch: ingest refuses others
	}
	b := d.agg
	b.t = t
	i, found := sort.Find(len(se.buckets), func(i int) int { return cmp64(t, se.buckets[i].t) })
	if found {
		se.buckets[i].add(b)
		return
	}
	se.buckets = slices.Insert(se.buckets, i, b)
	if over := len(se.buckets) - s.maxBuckets; over > 0 {
		se.buckets = slices.Delete(se.buckets, 0, over)
	}
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// evictLocked drops the series written least recently.
func (s *store) evictLocked() {
	var oldest string
	var at int64 = math.MaxInt64
	for k, se := range s.series {
		if se.written < at {
			oldest, at = k, se.written
		}
	}
	delete(s.series, oldest)
}

// point is one period's statistics.
type point struct {
	t    time.Time
	agg  bucket
	unit string
}

// query aggregates the series of m over [start, end) in periods of period
// seconds, ascending; unit, if set, must be the series' unit.
func (s *store) query(m Metric, start, end time.Time, period int64, unit string) []point {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.series[m.key()]
	if se == nil || (unit != "" && se.unit != unit) {
		return nil
	}
	from, to := start.Unix(), end.Unix()
	var out []point
	for _, b := range se.buckets {
		if b.t < from || b.t >= to {
			continue
		}
		p := from + (b.t-from)/period*period
		if n := len(out); n > 0 && out[n-1].t.Unix() == p {
			out[n-1].agg.add(b)
			continue
		}
		agg := bucket{}
		agg.add(b)
		out = append(out, point{t: time.Unix(p, 0).UTC(), agg: agg, unit: se.unit})
	}
	return out
}

// list returns the metrics matching the filters, sorted.
func (s *store) list(namespace, name string, filters []Dimension, since int64) []Metric {
	s.mu.Lock()
	var out []Metric
	for _, se := range s.series {
		m := se.metric
		if (namespace != "" && m.Namespace != namespace) || (name != "" && m.MetricName != name) {
			continue
		}
		if since > 0 && (len(se.buckets) == 0 || se.buckets[len(se.buckets)-1].t < since) {
			continue
		}
		ok := true
		for _, f := range filters {
			i := slices.IndexFunc(m.Dimensions, func(d Dimension) bool { return d.Name == f.Name })
			if i < 0 || (f.Value != "" && m.Dimensions[i].Value != f.Value) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Metric) int { return strings.Compare(a.key(), b.key()) })
	return out
}

// stat returns the named statistic of an aggregate.
func stat(name string, b bucket) float64 {
	switch name {
	case "Sum":
		return b.sum
	case "SampleCount":
		return b.count
	case "Minimum":
		return b.lo
	case "Maximum":
		return b.hi
	case "Average":
		if b.count == 0 {
			return 0
		}
		return b.sum / b.count
	}
	return math.NaN()
}

// The Embedded Metric Format's limits (its specification).
const (
	emfMaxMetrics    = 100
	emfMaxDimensions = 30
	emfMaxValues     = 100
)

type emfDoc struct {
	AWS *struct {
		Timestamp         *json.Number   `json:"Timestamp"`
		CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

type emfDirective struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []struct {
		Name              string `json:"Name"`
		Unit              string `json:"Unit"`
		StorageResolution int    `json:"StorageResolution"`
	} `json:"Metrics"`
}

// IsEMF reports cheaply whether a log line may be an EMF document: a JSON
// object with an "_aws" member. Lines it passes are parsed; others cost
// only this check.
func IsEMF(msg string) bool {
	return len(msg) > 8 && msg[0] == '{' && strings.Contains(msg, `"_aws"`)
}

// ingestEMF turns an EMF document into datapoints, as CloudWatch Logs
// does; a document that breaks the specification yields none (AWS drops
// it too) and false.
func (s *store) ingestEMF(msg string) bool {
	if !IsEMF(msg) {
		return false
	}
	doc, ok := s.scanEMF(msg)
	if !ok {
		doc, ok = decodeEMF(msg)
	}
	if !ok {
		s.refuse()
		return false
	}
	at := time.UnixMilli(doc.ms)
	var ds []datum
	for _, dir := range doc.directives {
		if dir.Namespace == "" || len(dir.Namespace) > 255 || len(dir.Metrics) > emfMaxMetrics {
			s.refuse()
			return false
		}
		sets := dir.Dimensions
		if len(sets) == 0 {
			sets = [][]string{nil}
		}
		for _, set := range sets {
			if len(set) > emfMaxDimensions {
				s.refuse()
				return false
			}
			dims := make([]Dimension, 0, len(set))
			for _, name := range set {
				v, ok := emfString(doc.member(name))
				if !ok || v == "" || len(v) > 1024 {
					s.refuse()
					return false
				}
				dims = append(dims, Dimension{name, v})
			}
			dims = sortDimensions(dims)
			for _, def := range dir.Metrics {
				values, ok := emfValues(doc.member(def.Name))
				if !ok || def.Name == "" || !validUnit(def.Unit) {
					s.refuse()
					return false
				}
				for _, v := range values {
					ds = append(ds, datum{
						metric:  Metric{Namespace: dir.Namespace, MetricName: def.Name, Dimensions: dims},
						unit:    def.Unit,
						at:      at,
						highRes: def.StorageResolution == 1,
						agg:     bucket{count: 1, sum: v, lo: v, hi: v},
					})
				}
			}
		}
	}
	s.put(ds)
	return true
}

// emfParsed is what ingestEMF needs of an EMF document.
type emfParsed struct {
	ms         int64 // _aws.Timestamp
	directives []emfDirective
	member     func(name string) []byte // a top-level member's JSON text, nil if absent
}

// decodeEMF decodes an EMF document with encoding/json: the reference
// reading, for every document scanEMF leaves to it.
func decodeEMF(msg string) (emfParsed, bool) {
	var doc emfDoc
	var root map[string]json.RawMessage
	if json.Unmarshal([]byte(msg), &doc) != nil || doc.AWS == nil || doc.AWS.Timestamp == nil ||
		json.Unmarshal([]byte(msg), &root) != nil {
		return emfParsed{}, false
	}
	ms, err := doc.AWS.Timestamp.Int64()
	if err != nil || ms < 0 {
		return emfParsed{}, false
	}
	return emfParsed{ms: ms, directives: doc.AWS.CloudWatchMetrics, member: func(name string) []byte { return root[name] }}, true
}

// scanEMF reads the common EMF document — as a metrics library writes it,
// the same directives every time — without encoding/json's reflection: one
// pass splits the valid document into members and the directives are
// decoded once per distinct text (s.directives). It answers false for
// anything unusual (escaped or case-folded duplicate member names, a
// timestamp that is not plain digits, directives that do not decode), and
// decodeEMF, the reference, then reads the document, so that both always
// agree.
func (s *store) scanEMF(msg string) (emfParsed, bool) {
	if !json.Valid([]byte(msg)) {
		return emfParsed{}, false
	}
	root, ok := jsonMembers(msg)
	if !ok {
		return emfParsed{}, false
	}
	aws, ok := foldedMember(root, "_aws")
	if !ok || aws == "" || aws[0] != '{' {
		return emfParsed{}, false
	}
	inner, ok := jsonMembers(aws)
	if !ok {
		return emfParsed{}, false
	}
	ts, ok := foldedMember(inner, "Timestamp")
	if !ok || ts == "" || len(ts) > 18 || strings.TrimLeft(ts, "0123456789") != "" {
		return emfParsed{}, false
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return emfParsed{}, false
	}
	var dirs []emfDirective
	if text, ok := foldedMember(inner, "CloudWatchMetrics"); ok && text != "null" {
		if dirs, ok = s.directivesOf(text); !ok {
			return emfParsed{}, false
		}
	} else if !ok && text != "" {
		return emfParsed{}, false // more than one member folds to CloudWatchMetrics
	}
	return emfParsed{ms: ms, directives: dirs, member: func(name string) []byte {
		for i := len(root) - 1; i >= 0; i-- { // the last of duplicates, as a map decodes
			if root[i].name == name {
				return []byte(root[i].value)
			}
		}
		return nil
	}}, true
}

// emfCacheSize bounds the decoded directives kept by their text.
const emfCacheSize = 64

// directivesOf decodes a CloudWatchMetrics array, once per distinct text.
func (s *store) directivesOf(text string) ([]emfDirective, bool) {
	s.emfMu.Lock()
	dirs, ok := s.emfCache[text]
	s.emfMu.Unlock()
	if ok {
		return dirs, true
	}
	if json.Unmarshal([]byte(text), &dirs) != nil {
		return nil, false
	}
	s.emfMu.Lock()
	if len(s.emfCache) >= emfCacheSize {
		clear(s.emfCache)
	}
	if s.emfCache == nil {
		s.emfCache = map[string][]emfDirective{}
	}
	s.emfCache[text] = dirs
	s.emfMu.Unlock()
	return dirs, true
}

// jsonMember is one member of a JSON object: its name (unescaped) and its
// value's JSON text.
type jsonMember struct{ name, value string }

// jsonMembers splits a valid JSON object into its members. It answers false
// for a name with an escape, which it leaves to encoding/json.
func jsonMembers(obj string) ([]jsonMember, bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false
	}
	var ms []jsonMember
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return ms, true
	}
	for i < len(obj) {
		end := skipValue(obj, i)
		name := obj[i:end]
		if len(name) < 2 || name[0] != '"' || strings.IndexByte(name, '\\') >= 0 {
			return nil, false
		}
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false
		}
		i = skipSpace(obj, i+1)
		end = skipValue(obj, i)
		ms = append(ms, jsonMember{name[1 : len(name)-1], obj[i:end]})
		i = skipSpace(obj, end)
		if i >= len(obj) {
			return nil, false
		}
		if obj[i] == '}' {
			return ms, true
		}
		if obj[i] != ',' {
			return nil, false
		}
		i = skipSpace(obj, i+1)
	}
	return nil, false
}

// foldedMember finds the member encoding/json would decode into a struct
// field named name: matched without regard to case. It answers false, and
// no value, when none matches; false and a non-empty value when more than
// one does (encoding/json would merge them, which only it should do).
func foldedMember(ms []jsonMember, name string) (string, bool) {
	found, value := 0, ""
	for _, m := range ms {
		if strings.EqualFold(m.name, name) {
			found++
			value = m.value
		}
	}
	if found > 1 {
		return "-", false
	}
	return value, found == 1
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value that starts at i, in a valid
// document.
func skipValue(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for i < len(s) {
			switch s[i] {
			case '"':
				i = skipString(s, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(s) && !strings.ContainsRune(",}] \t\r\n", rune(s[i])) {
		i++
	}
	return i
}

// skipString returns the end of the JSON string that starts at i.
func skipString(s string, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// emfString reads a dimension's value: a JSON string. Plain ASCII is taken
// as it stands; anything else is decoded by encoding/json.
func emfString(raw []byte) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		inner := raw[1 : len(raw)-1]
		plain := true
		for _, c := range inner {
			if c < 0x20 || c > 0x7e || c == '\\' || c == '"' {
				plain = false
				break
			}
		}
		if plain {
			return string(inner), true
		}
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	return v, true
}

func (s *store) refuse() {
	s.mu.Lock()
	s.dropped++
	s.mu.Unlock()
}

// emfValues reads a metric member: a number or an array of at most 100.
// Numbers are parsed as encoding/json parses them into a float64
// (strconv.ParseFloat of the literal); anything else, null included, is
// left to encoding/json.
func emfValues(raw []byte) ([]float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false
	}
	if raw[0] == '[' {
		if vs, ok := emfNumbers(string(raw)); ok {
			return vs, len(vs) > 0 && len(vs) <= emfMaxValues
		}
		var vs []float64
		if json.Unmarshal(raw, &vs) != nil || len(vs) == 0 || len(vs) > emfMaxValues {
			return nil, false
		}
		return vs, true
	}
	if isNumberStart(raw[0]) && json.Valid(raw) {
		v, err := strconv.ParseFloat(string(raw), 64)
		return []float64{v}, err == nil
	}
	var v float64
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return []float64{v}, true
}

// emfNumbers reads a valid JSON array of numbers only; false for anything
// else, or more than emfMaxValues+1 of them.
func emfNumbers(arr string) ([]float64, bool) {
	if !json.Valid([]byte(arr)) {
		return nil, false
	}
	var vs []float64
	i := skipSpace(arr, 1)
	if i < len(arr) && arr[i] == ']' {
		return vs, true
	}
	for i < len(arr) && len(vs) <= emfMaxValues {
		end := skipValue(arr, i)
		if !isNumberStart(arr[i]) {
			return nil, false
		}
		v, err := strconv.ParseFloat(arr[i:end], 64)
		if err != nil {
			return nil, false
		}
		vs = append(vs, v)
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ']' {
			return vs, true
		}
		i = skipSpace(arr, i+1) // past the comma
	}
	return vs, len(vs) > emfMaxValues
}

func isNumberStart(c byte) bool { return c == '-' || c >= '0' && c <= '9' }

func sortDimensions(ds []Dimension) []Dimension {
	slices.SortFunc(ds, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
	return ds
}

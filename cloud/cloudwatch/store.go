package cloudwatch

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"sort"
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
func (m Metric) key() string {
	var b strings.Builder
	b.WriteString(m.Namespace)
	b.WriteByte(0)
	b.WriteString(m.MetricName)
	for _, d := range m.Dimensions {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte(1)
		b.WriteString(d.Value)
	}
	return b.String()
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
	dropped    int64 // EMF lines refused
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
	k := d.metric.key()
	se := s.series[k]
	if se == nil {
		if len(s.series) >= s.maxSeries {
			s.evictLocked()
		}
		se = &series{metric: d.metric}
		s.series[k] = se
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
		Timestamp         *json.Number `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name              string `json:"Name"`
				Unit              string `json:"Unit"`
				StorageResolution int    `json:"StorageResolution"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
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
	var doc emfDoc
	var root map[string]json.RawMessage
	if json.Unmarshal([]byte(msg), &doc) != nil || doc.AWS == nil || doc.AWS.Timestamp == nil ||
		json.Unmarshal([]byte(msg), &root) != nil {
		s.refuse()
		return false
	}
	ms, err := doc.AWS.Timestamp.Int64()
	if err != nil || ms < 0 {
		s.refuse()
		return false
	}
	at := time.UnixMilli(ms)
	var ds []datum
	for _, dir := range doc.AWS.CloudWatchMetrics {
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
				var v string
				if json.Unmarshal(root[name], &v) != nil || v == "" || len(v) > 1024 {
					s.refuse()
					return false
				}
				dims = append(dims, Dimension{name, v})
			}
			dims = sortDimensions(dims)
			for _, def := range dir.Metrics {
				values, ok := emfValues(root[def.Name])
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

func (s *store) refuse() {
	s.mu.Lock()
	s.dropped++
	s.mu.Unlock()
}

// emfValues reads a metric member: a number or an array of at most 100.
func emfValues(raw json.RawMessage) ([]float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false
	}
	if raw[0] == '[' {
		var vs []float64
		if json.Unmarshal(raw, &vs) != nil || len(vs) == 0 || len(vs) > emfMaxValues {
			return nil, false
		}
		return vs, true
	}
	var v float64
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return []float64{v}, true
}

func sortDimensions(ds []Dimension) []Dimension {
	slices.SortFunc(ds, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
	return ds
}

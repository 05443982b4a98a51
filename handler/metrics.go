package handler

import (
	"io"
	"math"
	"strconv"
	"sync"
	"time"
)

// The function's metrics, as CloudWatch Embedded Metric Format (EMF) lines:
// CloudWatch Logs turns each line into metrics, on AWS and in the embedded
// cloud, with no call to the metrics API from the function (the convention
// Powertools for AWS Lambda follows). One line per invocation (one per 100
// records in larger batches: EMF takes at most 100 values per metric).
const (
	// DefaultMetricsNamespace is the metrics' namespace unless
	// Options.MetricsNamespace says otherwise.
	DefaultMetricsNamespace = "orderflow"
	// DefaultFunctionName is the FunctionName dimension's value unless
	// Options.FunctionName says otherwise.
	DefaultFunctionName = "ProcessOrderFunction"
	// MetricDimension is the one dimension of every metric.
	MetricDimension = "FunctionName"

	// Counts of records by outcome (Unit Count), one metric per Result.
	MetricStored    = "Stored"
	MetricDuplicate = "Duplicate"
	MetricStale     = "Stale"
	MetricInvalid   = "Invalid"
	MetricFailed    = "Failed"
	// MetricDuration is each record's processing time (Milliseconds).
	MetricDuration = "ProcessingDuration"
	// MetricEventAge is a stored event's age when stored, from the order's
	// own timestamp (Milliseconds).
	MetricEventAge = "EventAge"
	// MetricPublishAge is a stored event's age when stored, from the SNS
	// publish time of its envelope (Milliseconds); absent for raw
	// deliveries.
	MetricPublishAge = "PublishAge"
)

// maxEMFValues is EMF's bound on the values of one metric in one line.
const maxEMFValues = 100

// recordStat is what the metrics take from one record.
type recordStat struct {
	duration   time.Duration
	eventAge   time.Duration
	publishAge time.Duration
	hasAge     bool // stored: the ages are set
	hasPublish bool // and the envelope had a publish time
}

// emf writes the metrics lines.
type emf struct {
	w         io.Writer
	prefix    []byte    // {"_aws":{"Timestamp":
	dimension []byte    // ,"FunctionName":"…"
	dirs      [4][]byte // the directives a line can need: with or without each age
	mu        sync.Mutex
	pool      sync.Pool
}

func newEMF(w io.Writer, namespace, function string) *emf {
	return &emf{
		w:         w,
		prefix:    []byte(`{"_aws":{"Timestamp":`),
		dimension: strconv.AppendQuote([]byte(`,"`+MetricDimension+`":`), function),
		dirs: [4][]byte{directive(namespace, false, false), directive(namespace, true, false),
			directive(namespace, false, true), directive(namespace, true, true)},
		pool: sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }},
	}
}

// directive is the fixed part of a line's metadata: which members are
// metrics, with which units, under which namespace and dimension.
func directive(namespace string, ages, publish bool) []byte {
	b := []byte(`,"CloudWatchMetrics":[{"Namespace":`)
	b = strconv.AppendQuote(b, namespace)
	b = append(b, `,"Dimensions":[["`+MetricDimension+`"]],"Metrics":[`...)
	for _, n := range []string{MetricStored, MetricDuplicate, MetricStale, MetricInvalid, MetricFailed} {
		b = append(b, `{"Name":"`+n+`","Unit":"Count"},`...)
	}
	b = append(b, `{"Name":"`+MetricDuration+`","Unit":"Milliseconds"}`...)
	if ages {
		b = append(b, `,{"Name":"`+MetricEventAge+`","Unit":"Milliseconds"}`...)
	}
	if publish {
		b = append(b, `,{"Name":"`+MetricPublishAge+`","Unit":"Milliseconds"}`...)
	}
	return append(b, "]}]}"...)
}

// write writes the lines for one invocation's records, at now.
func (m *emf) write(now time.Time, results []Result, stats []recordStat) {
	for start := 0; start < len(results); start += maxEMFValues {
		end := min(start+maxEMFValues, len(results))
		m.line(now, results[start:end], stats[start:end])
	}
}

func (m *emf) line(now time.Time, results []Result, stats []recordStat) {
	var counts [5]int
	ages, publish := false, false
	for i, r := range results {
		switch r {
		case ResultStored:
			counts[0]++
		case ResultDuplicate:
			counts[1]++
		case ResultStale:
			counts[2]++
		case ResultInvalid:
			counts[3]++
		default:
			counts[4]++
		}
		ages = ages || stats[i].hasAge
		publish = publish || stats[i].hasPublish
	}
	bp := m.pool.Get().(*[]byte)
	b := append((*bp)[:0], m.prefix...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, m.dirs[btoi(ages)|btoi(publish)<<1]...)
	b = append(b, m.dimension...)
	for i, n := range [5]string{MetricStored, MetricDuplicate, MetricStale, MetricInvalid, MetricFailed} {
		b = append(b, `,"`...)
		b = append(b, n...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, int64(counts[i]), 10)
	}
	b = append(b, `,"`+MetricDuration+`":[`...)
	for i := range stats {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMillis(b, stats[i].duration)
	}
	b = append(b, ']')
	if ages {
		b = appendValues(b, MetricEventAge, stats, func(s *recordStat) (time.Duration, bool) { return s.eventAge, s.hasAge })
	}
	if publish {
		b = appendValues(b, MetricPublishAge, stats, func(s *recordStat) (time.Duration, bool) { return s.publishAge, s.hasPublish })
	}
	b = append(b, "}\n"...)
	m.mu.Lock()
	m.w.Write(b) // a lost metrics line must not fail the records it counts
	m.mu.Unlock()
	*bp = b
	m.pool.Put(bp)
}

func appendValues(b []byte, name string, stats []recordStat, get func(*recordStat) (time.Duration, bool)) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":[`...)
	first := true
	for i := range stats {
		d, ok := get(&stats[i])
		if !ok {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendMillis(b, d)
	}
	return append(b, ']')
}

// appendMillis appends d in milliseconds, to the microsecond. An age
// can be negative (a clock behind the publisher's); it is kept, since
// CloudWatch takes negative values and hiding them would hide the skew.
func appendMillis(b []byte, d time.Duration) []byte {
	ms := float64(d.Microseconds()) / 1000
	if math.IsNaN(ms) || math.IsInf(ms, 0) {
		ms = 0
	}
	return strconv.AppendFloat(b, ms, 'f', -1, 64)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

package cloudwatch

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// obj is a response member: CBOR map or XML element.
type obj = map[string]any

// CloudWatch's limits, as its API reference states them.
const (
	maxDatums           = 1000
	maxDimensions       = 30
	maxDatumValues      = 150
	maxNameLength       = 255
	maxDimensionValue   = 1024
	maxDatapoints       = 1440 // GetMetricStatistics
	maxQueries          = 500  // GetMetricData
	defaultMaxDataPts   = 100800
	listPage            = 500
	maxListFilters      = 10
	maxStatisticsAtOnce = 5
)

var statistics = []string{"SampleCount", "Average", "Sum", "Minimum", "Maximum"}

var units = []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
	"Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
	"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
	"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
	"Count/Second", "None"}

func validUnit(u string) bool { return u == "" || slices.Contains(units, u) }

func missing(param string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "MissingParameter", "The parameter %s is required.", param).WithType("MissingRequiredParameterException")
}

func invalidValue(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidParameterValue", format, args...).WithType("InvalidParameterValueException")
}

func invalidCombination(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidParameterCombination", format, args...).WithType("InvalidParameterCombinationException")
}

func badValue(param string, v any) *awsproto.Error {
	return invalidValue("The value %v for parameter %s is invalid.", v, param)
}

func tooMany(param string, most int) *awsproto.Error {
	return invalidValue("The collection %s must not have a size greater than %d.", param, most)
}

func checkName(param, name string) *awsproto.Error {
	if name == "" {
		return missing(param)
	}
	if len(name) > maxNameLength {
		return invalidValue("The parameter %s must be shorter than %d characters.", param, maxNameLength+1)
	}
	return nil
}

// dimensions checks a metric's dimensions and returns them sorted.
func dimensions(param string, in []dimensionIn) ([]Dimension, *awsproto.Error) {
	if len(in) > maxDimensions {
		return nil, tooMany(param, maxDimensions)
	}
	out := make([]Dimension, 0, len(in))
	for i, d := range in {
		p := fmt.Sprintf("%s.member.%d", param, i+1)
		if d.Name == nil {
			return nil, missing(p + ".Name")
		}
		if d.Value == nil {
			return nil, missing(p + ".Value")
		}
		if err := checkName(p+".Name", *d.Name); err != nil {
			return nil, err
		}
		if *d.Value == "" || len(*d.Value) > maxDimensionValue {
			return nil, invalidValue("The parameter %s.Value must be 1 to %d characters long.", p, maxDimensionValue)
		}
		if slices.ContainsFunc(out, func(o Dimension) bool { return o.Name == *d.Name }) {
			return nil, invalidValue("No metric may have duplicate dimensions: %s is given twice in %s.", *d.Name, param)
		}
		out = append(out, Dimension{*d.Name, *d.Value})
	}
	return sortDimensions(out), nil
}

// finite checks a value CloudWatch can store.
func finite(param string, v number) *awsproto.Error {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 0x1p360 || (f != 0 && math.Abs(f) < 0x1p-260) {
		return badValue(param, strconv.FormatFloat(f, 'g', -1, 64))
	}
	return nil
}

func (s *Service) putMetricData(in *request) (any, *awsproto.Error) {
	if in.Namespace == "" {
		return nil, missing("Namespace")
	}
	if len(in.Namespace) > maxNameLength || strings.HasPrefix(in.Namespace, "AWS/") {
		return nil, badValue("Namespace", in.Namespace)
	}
	if len(in.MetricData) == 0 {
		return nil, missing("MetricData")
	}
	if len(in.MetricData) > maxDatums {
		return nil, tooMany("MetricData", maxDatums)
	}
	now := s.clock.Now()
	var ds []datum
	for i, d := range in.MetricData {
		p := fmt.Sprintf("MetricData.member.%d", i+1)
		if err := checkName(p+".MetricName", d.MetricName); err != nil {
			return nil, err
		}
		dims, err := dimensions(p+".Dimensions", d.Dimensions)
		if err != nil {
			return nil, err
		}
		if !validUnit(d.Unit) {
			return nil, badValue(p+".Unit", d.Unit)
		}
		at := now
		if d.Timestamp != nil {
			at = d.Timestamp.Time
			if at.Before(now.Add(-14*24*time.Hour)) || at.After(now.Add(2*time.Hour)) {
				return nil, invalidValue("The parameter %s.Timestamp must specify a time no more than two weeks in the past and no more than two hours in the future.", p)
			}
		}
		highRes := false
		if d.StorageResolution != nil {
			switch *d.StorageResolution {
			case 1:
				highRes = true
			case 60:
			default:
				return nil, badValue(p+".StorageResolution", float64(*d.StorageResolution))
			}
		}
		const both = "The parameters %[1]s.%[2]s and %[1]s.%[3]s are mutually exclusive and you have specified both."
		switch hasValue, hasStats, hasValues := d.Value != nil, d.StatisticValues != nil, len(d.Values) > 0; {
		case hasValue && hasStats:
			return nil, invalidCombination(both, p, "Value", "StatisticValues")
		case hasValue && hasValues:
			return nil, invalidValue(both, p, "Value", "Values")
		case hasStats && hasValues:
			return nil, invalidCombination(both, p, "StatisticValues", "Values")
		case !hasValue && !hasStats && !hasValues:
			return nil, invalidCombination("At least one of the parameters %[1]s.Value, %[1]s.StatisticValues or %[1]s.Values must be specified.", p)
		}
		m := Metric{Namespace: in.Namespace, MetricName: d.MetricName, Dimensions: dims}
		add := func(agg bucket) { ds = append(ds, datum{metric: m, unit: d.Unit, at: at, highRes: highRes, agg: agg}) }
		switch {
		case d.Value != nil:
			if err := finite(p+".Value", *d.Value); err != nil {
				return nil, err
			}
			v := float64(*d.Value)
			add(bucket{count: 1, sum: v, lo: v, hi: v})
		case d.StatisticValues != nil:
			sv := d.StatisticValues
			for _, f := range []struct {
				name string
				v    *number
			}{{"SampleCount", sv.SampleCount}, {"Sum", sv.Sum}, {"Minimum", sv.Minimum}, {"Maximum", sv.Maximum}} {
				if f.v == nil {
					return nil, missing(p + ".StatisticValues." + f.name)
				}
				if err := finite(p+".StatisticValues."+f.name, *f.v); err != nil {
					return nil, err
				}
			}
			if *sv.SampleCount <= 0 || *sv.Minimum > *sv.Maximum {
				return nil, invalidValue("The parameter %s.StatisticValues must have a SampleCount above 0 and a Minimum no greater than its Maximum.", p)
			}
			add(bucket{count: float64(*sv.SampleCount), sum: float64(*sv.Sum), lo: float64(*sv.Minimum), hi: float64(*sv.Maximum)})
		default:
			if len(d.Values) > maxDatumValues {
				return nil, tooMany(p+".Values", maxDatumValues)
			}
			if len(d.Counts) > 0 && len(d.Counts) != len(d.Values) {
				return nil, invalidValue("The parameters %[1]s.Values and %[1]s.Counts must be of the same size.", p)
			}
			for j, v := range d.Values {
				if err := finite(fmt.Sprintf("%s.Values.member.%d", p, j+1), v); err != nil {
					return nil, err
				}
				n := 1.0
				if len(d.Counts) > 0 {
					n = float64(d.Counts[j])
					if err := finite(fmt.Sprintf("%s.Counts.member.%d", p, j+1), d.Counts[j]); err != nil || n < 0 {
						return nil, badValue(fmt.Sprintf("%s.Counts.member.%d", p, j+1), n)
					}
					if n == 0 {
						continue
					}
				}
				add(bucket{count: n, sum: float64(v) * n, lo: float64(v), hi: float64(v)})
			}
		}
	}
	// All or nothing: nothing is stored until every datum is valid.
	s.store.put(ds)
	return obj{}, nil
}

func metricOut(m Metric) obj {
	dims := make([]any, 0, len(m.Dimensions))
	for _, d := range m.Dimensions {
		dims = append(dims, obj{"Name": d.Name, "Value": d.Value})
	}
	return obj{"Namespace": m.Namespace, "MetricName": m.MetricName, "Dimensions": dims}
}

func (s *Service) listMetrics(in *request) (any, *awsproto.Error) {
	if len(in.Dimensions) > maxListFilters {
		return nil, tooMany("Dimensions", maxListFilters)
	}
	var filters []Dimension
	for i, d := range in.Dimensions {
		if d.Name == nil || *d.Name == "" {
			return nil, missing(fmt.Sprintf("Dimensions.member.%d.Name", i+1))
		}
		f := Dimension{Name: *d.Name}
		if d.Value != nil {
			f.Value = *d.Value
		}
		filters = append(filters, f)
	}
	var since int64
	switch in.RecentlyActive {
	case "":
	case "PT3H":
		since = s.clock.Now().Add(-3 * time.Hour).Unix()
	default:
		return nil, badValue("RecentlyActive", in.RecentlyActive)
	}
	all := s.store.list(in.Namespace, in.MetricName, filters, since)
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 || n > len(all) {
			return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidNextToken", "The service cannot find the token %q.", in.NextToken).WithType("InvalidNextToken")
		}
		start = n
	}
	end := min(start+listPage, len(all))
	metrics := make([]any, 0, end-start)
	for _, m := range all[start:end] {
		metrics = append(metrics, metricOut(m))
	}
	out := obj{"Metrics": metrics}
	if end < len(all) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

// checkPeriod checks a period in seconds: 1, 5, 10, 30 or a multiple of 60.
func checkPeriod(param string, p *number) (int64, *awsproto.Error) {
	if p == nil {
		return 0, missing(param)
	}
	v := float64(*p)
	if v != math.Trunc(v) || v < 1 || v > 1e9 {
		return 0, badValue(param, v)
	}
	n := int64(v)
	if n < 60 && !slices.Contains([]int64{1, 5, 10, 30}, n) || n >= 60 && n%60 != 0 {
		return 0, invalidValue("The parameter %s must be 1, 5, 10, 30 or a multiple of 60.", param)
	}
	return n, nil
}

func checkRange(in *request) (time.Time, time.Time, *awsproto.Error) {
	if in.StartTime == nil {
		return time.Time{}, time.Time{}, missing("StartTime")
	}
	if in.EndTime == nil {
		return time.Time{}, time.Time{}, missing("EndTime")
	}
	if !in.StartTime.Before(in.EndTime.Time) {
		return time.Time{}, time.Time{}, invalidValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	return in.StartTime.Time, in.EndTime.Time, nil
}

func checkStat(param, st string) *awsproto.Error {
	if slices.Contains(statistics, st) {
		return nil
	}
	if st != "" && (st[0] == 'p' || st[0] == 't' || st[0] == 'w' || strings.HasPrefix(st, "IQM") || st[0] == 'P' || st[0] == 'T') {
		return invalidValue("The statistic %s for parameter %s is valid on AWS, but the embedded cloud keeps no distributions: ask for one of %s.", st, param, strings.Join(statistics, ", "))
	}
	return invalidValue("The parameter %s must be a value in the set [ %s ].", param, strings.Join(statistics, ", "))
}

func (s *Service) getMetricStatistics(in *request) (any, *awsproto.Error) {
	if in.Namespace == "" {
		return nil, missing("Namespace")
	}
	if in.MetricName == "" {
		return nil, missing("MetricName")
	}
	start, end, err := checkRange(in)
	if err != nil {
		return nil, err
	}
	period, err := checkPeriod("Period", in.Period)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.Statistics) == 0 && len(in.ExtendedStatistics) == 0:
		return nil, invalidCombination("Must specify either Statistics or ExtendedStatistics")
	case len(in.ExtendedStatistics) > 0:
		return nil, invalidValue("The parameter ExtendedStatistics (%s) is valid on AWS, but the embedded cloud keeps no distributions: ask for Statistics instead.", strings.Join(in.ExtendedStatistics, ", "))
	case len(in.Statistics) > maxStatisticsAtOnce:
		return nil, tooMany("Statistics", maxStatisticsAtOnce)
	}
	for i, st := range in.Statistics {
		if err := checkStat(fmt.Sprintf("Statistics.member.%d", i+1), st); err != nil {
			return nil, err
		}
	}
	if !validUnit(in.Unit) {
		return nil, badValue("Unit", in.Unit)
	}
	if n := (end.Unix() - start.Unix() + period - 1) / period; n > maxDatapoints {
		return nil, invalidCombination("You have requested up to %d datapoints, which exceeds the limit of %d. You may reduce the datapoints requested by increasing Period, or decreasing the time range.", n, maxDatapoints)
	}
	dims, err := dimensions("Dimensions", in.Dimensions)
	if err != nil {
		return nil, err
	}
	points := s.store.query(Metric{Namespace: in.Namespace, MetricName: in.MetricName, Dimensions: dims}, start, end, period, in.Unit)
	out := make([]any, 0, len(points))
	for _, p := range points {
		dp := obj{"Timestamp": p.t, "Unit": cmpOr(p.unit, "None")}
		for _, st := range in.Statistics {
			dp[st] = stat(st, p.agg)
		}
		out = append(out, dp)
	}
	return obj{"Label": in.MetricName, "Datapoints": out}, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var queryID = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

func (s *Service) getMetricData(in *request) (any, *awsproto.Error) {
	if len(in.MetricDataQueries) == 0 {
		return nil, missing("MetricDataQueries")
	}
	if len(in.MetricDataQueries) > maxQueries {
		return nil, tooMany("MetricDataQueries", maxQueries)
	}
	start, end, err := checkRange(in)
	if err != nil {
		return nil, err
	}
	ascending := false
	switch in.ScanBy {
	case "", "TimestampDescending":
	case "TimestampAscending":
		ascending = true
	default:
		return nil, badValue("ScanBy", in.ScanBy)
	}
	most := defaultMaxDataPts
	if in.MaxDatapoints != nil {
		v := float64(*in.MaxDatapoints)
		if v != math.Trunc(v) || v < 1 || v > defaultMaxDataPts {
			return nil, badValue("MaxDatapoints", v)
		}
		most = int(v)
	}
	seen := map[string]bool{}
	results := []any{}
	total := 0
	for i, q := range in.MetricDataQueries {
		p := fmt.Sprintf("MetricDataQueries.member.%d", i+1)
		if q.Id == "" {
			return nil, missing(p + ".Id")
		}
		if len(q.Id) > maxNameLength || !queryID.MatchString(q.Id) {
			return nil, invalidValue("The value %s for parameter %s.Id is invalid: an id starts with a lowercase letter and holds only letters, digits and underscores.", q.Id, p)
		}
		if seen[q.Id] {
			return nil, invalidValue("The value %s for parameter %s.Id is used by another query: ids must be unique.", q.Id, p)
		}
		seen[q.Id] = true
		switch {
		case q.Expression != "" && q.MetricStat != nil:
			return nil, invalidCombination("The parameters %[1]s.MetricStat and %[1]s.Expression are mutually exclusive and you have specified both.", p)
		case q.Expression != "":
			return nil, invalidValue("The parameter %s.Expression is valid on AWS, but the embedded cloud does not evaluate metric math: ask for each metric with MetricStat.", p)
		case q.MetricStat == nil:
			return nil, invalidCombination("Exactly one of the parameters %[1]s.MetricStat and %[1]s.Expression must be specified.", p)
		}
		ms := q.MetricStat
		if ms.Metric.Namespace == "" {
			return nil, missing(p + ".MetricStat.Metric.Namespace")
		}
		if err := checkName(p+".MetricStat.Metric.MetricName", ms.Metric.MetricName); err != nil {
			return nil, err
		}
		period, err := checkPeriod(p+".MetricStat.Period", ms.Period)
		if err != nil {
			return nil, err
		}
		if ms.Stat == "" {
			return nil, missing(p + ".MetricStat.Stat")
		}
		if err := checkStat(p+".MetricStat.Stat", ms.Stat); err != nil {
			return nil, err
		}
		if !validUnit(ms.Unit) {
			return nil, badValue(p+".MetricStat.Unit", ms.Unit)
		}
		dims, err := dimensions(p+".MetricStat.Metric.Dimensions", ms.Metric.Dimensions)
		if err != nil {
			return nil, err
		}
		if q.ReturnData != nil && !*q.ReturnData {
			continue
		}
		points := s.store.query(Metric{Namespace: ms.Metric.Namespace, MetricName: ms.Metric.MetricName, Dimensions: dims}, start, end, period, ms.Unit)
		if !ascending {
			slices.Reverse(points)
		}
		status := "Complete"
		if total+len(points) > most {
			points = points[:max(0, most-total)]
			status = "PartialData"
		}
		total += len(points)
		ts, vs := make([]any, 0, len(points)), make([]any, 0, len(points))
		for _, pt := range points {
			ts = append(ts, pt.t)
			vs = append(vs, stat(ms.Stat, pt.agg))
		}
		results = append(results, obj{"Id": q.Id, "Label": cmpOr(q.Label, ms.Metric.MetricName), "Timestamps": ts, "Values": vs, "StatusCode": status})
	}
	return obj{"MetricDataResults": results, "Messages": []any{}}, nil
}

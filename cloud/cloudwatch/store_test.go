package cloudwatch

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTheStoreIsBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := New(Options{MaxSeries: 3, MaxPointsPerSeries: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a series keeps its newest points, aggregated per minute", func(t *testing.T) {
		for i := range 600 { // ten minutes, one value a second
			s.Put("ns", "a", "Count", nil, t0.Add(time.Duration(i)*time.Second), 1)
		}
		series, points := s.Size()
		if series != 1 || points != 5 {
			t.Fatalf("Size = %d series, %d points; want 1, 5", series, points)
		}
		got := s.store.query(Metric{Namespace: "ns", MetricName: "a"}, t0, t0.Add(time.Hour), 60, "")
		var mins []string
		for _, p := range got {
			mins = append(mins, fmt.Sprintf("%s:%v", p.t.Format("04"), p.agg.count))
		}
		if want := "05:60 06:60 07:60 08:60 09:60"; strings.Join(mins, " ") != want {
			t.Errorf("points = %s, want %s", strings.Join(mins, " "), want)
		}
	})
	t.Run("past MaxSeries the series written least recently goes", func(t *testing.T) {
		s.Put("ns", "b", "", nil, t0, 1)
		s.Put("ns", "c", "", nil, t0, 1)
		s.Put("ns", "a", "", nil, t0.Add(10*time.Minute), 1) // a written again: b is now the oldest
		s.Put("ns", "d", "", nil, t0, 1)
		var names []string
		for _, m := range s.store.list("ns", "", nil, 0) {
			names = append(names, m.MetricName)
		}
		if got := strings.Join(names, " "); got != "a c d" {
			t.Errorf("metrics = %s, want a c d", got)
		}
		if series, points := s.Size(); series != 3 || points > 3*5 {
			t.Errorf("Size = %d series, %d points; want 3 and at most 15", series, points)
		}
	})
	t.Run("100,000 EMF lines of distinct dimensions stay within the bound", func(t *testing.T) {
		for i := range 100_000 {
			s.IngestEMF(fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"x","Dimensions":[["Id"]],"Metrics":[{"Name":"N"}]}]},"Id":"%d","N":1}`, t0.Add(time.Duration(i)*time.Second).UnixMilli(), i))
		}
		if series, points := s.Size(); series != 3 || points > 15 {
			t.Errorf("Size = %d series, %d points; want 3 and at most 15", series, points)
		}
	})
}

func TestEMFIngestion(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := t0.UnixMilli()
	values := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat("1,", n), ",") + "]" }
	dims := make([]string, 31)
	for i := range dims {
		dims[i] = fmt.Sprintf(`"D%d"`, i)
	}
	for _, tc := range []struct {
		name, line string
		want       bool
	}{
		{"a plain log line", `order stored`, false},
		{"JSON without _aws", `{"msg":"order stored","outcome":"stored"}`, false},
		{"a valid document", fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"D":"d","M":[1,2]}`, ms), true},
		{"no timestamp", `{"_aws":{"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"M"}]}]},"M":1}`, false},
		{"a dimension that is not a string", fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["D"]],"Metrics":[{"Name":"M"}]}]},"D":5,"M":1}`, ms), false},
		{"a value that is not a number", fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"M"}]}]},"M":"1"}`, ms), false},
		{"101 values", fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"M"}]}]},"M":%s}`, ms, values(101)), false},
		{"31 dimensions", fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[%s]],"Metrics":[{"Name":"M"}]}]},"M":1}`, ms, strings.Join(dims, ",")), false},
		{"an unknown unit", fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"M","Unit":"Orders"}]}]},"M":1}`, ms), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := New(Options{})
			if got := s.IngestEMF(tc.line); got != tc.want {
				t.Errorf("IngestEMF = %v, want %v", got, tc.want)
			}
			if series, _ := s.Size(); (series > 0) != tc.want {
				t.Errorf("%d series kept, want them only from a valid document", series)
			}
		})
	}
}

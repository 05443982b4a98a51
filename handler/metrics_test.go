package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/handler"
)

// emfUnits are the units a MetricDefinition may name: CloudWatch's
// StandardUnit values.
var emfUnits = []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
	"Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
	"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
	"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
	"Count/Second", "None"}

// emfViolations checks one log line against the CloudWatch Embedded Metric
// Format specification and returns what it breaks ("" members none):
// the line is one JSON object and nothing else, at most 256 KB; _aws holds
// an integer Timestamp (ms since the epoch) and a CloudWatchMetrics array
// of directives; a directive has a Namespace (1 to 255 characters),
// Dimensions (arrays of at most 30 names, each a string member of at most
// 1024 characters) and Metrics (at most 100 definitions, each a Name
// referring to a number or an array of at most 100 numbers, an optional
// Unit from CloudWatch's units, an optional StorageResolution of 1 or 60),
// and no member the specification does not define.
func emfViolations(line []byte) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if len(line) > 256<<10 {
		fail("the line is %d bytes, over the 256 KB of a log event", len(line))
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return append(bad, "not a JSON object: "+err.Error())
	}
	if dec.More() {
		return append(bad, "data after the JSON object")
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return append(bad, "no _aws object")
	}
	for k := range aws {
		if k != "Timestamp" && k != "CloudWatchMetrics" {
			fail("_aws has a member the specification does not define: %s", k)
		}
	}
	if ts, ok := aws["Timestamp"].(json.Number); !ok {
		fail("_aws.Timestamp is missing or not a number")
	} else if n, err := ts.Int64(); err != nil || n < 0 {
		fail("_aws.Timestamp %s is not a whole number of milliseconds since the epoch", ts)
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok {
		return append(bad, "_aws.CloudWatchMetrics is missing or not an array")
	}
	for i, d := range directives {
		dir, ok := d.(map[string]any)
		if !ok {
			fail("directive %d is not an object", i)
			continue
		}
		for k := range dir {
			if k != "Namespace" && k != "Dimensions" && k != "Metrics" {
				fail("directive %d has a member the specification does not define: %s", i, k)
			}
		}
		if ns, ok := dir["Namespace"].(string); !ok || len(ns) < 1 || len(ns) > 255 {
			fail("directive %d: Namespace %v is not a string of 1 to 255 characters", i, dir["Namespace"])
		}
		sets, ok := dir["Dimensions"].([]any)
		if !ok {
			fail("directive %d: Dimensions is missing or not an array", i)
		}
		for j, s := range sets {
			set, ok := s.([]any)
			if !ok {
				fail("directive %d: dimension set %d is not an array", i, j)
				continue
			}
			if len(set) > 30 {
				fail("directive %d: dimension set %d has %d dimensions, over 30", i, j, len(set))
			}
			for _, n := range set {
				name, ok := n.(string)
				if !ok || name == "" || len(name) > 255 {
					fail("directive %d: dimension name %v is not a string of 1 to 255 characters", i, n)
					continue
				}
				v, ok := root[name].(string)
				if !ok {
					fail("directive %d: dimension %s has no string member", i, name)
				} else if v == "" || len(v) > 1024 {
					fail("directive %d: dimension %s's value is not 1 to 1024 characters", i, name)
				}
			}
		}
		metrics, ok := dir["Metrics"].([]any)
		if !ok {
			fail("directive %d: Metrics is missing or not an array", i)
		}
		if len(metrics) > 100 {
			fail("directive %d has %d metrics, over 100", i, len(metrics))
		}
		for _, m := range metrics {
			def, ok := m.(map[string]any)
			if !ok {
				fail("directive %d: a metric definition is not an object", i)
				continue
			}
			for k := range def {
				if k != "Name" && k != "Unit" && k != "StorageResolution" {
					fail("directive %d: a metric definition has a member the specification does not define: %s", i, k)
				}
			}
			name, ok := def["Name"].(string)
			if !ok || name == "" || len(name) > 255 {
				fail("directive %d: metric name %v is not a string of 1 to 255 characters", i, def["Name"])
				continue
			}
			if u, has := def["Unit"]; has {
				if s, ok := u.(string); !ok || !slices.Contains(emfUnits, s) {
					fail("metric %s: Unit %v is not a CloudWatch unit", name, u)
				}
			}
			if r, has := def["StorageResolution"]; has && r != json.Number("1") && r != json.Number("60") {
				fail("metric %s: StorageResolution %v is neither 1 nor 60", name, r)
			}
			switch v := root[name].(type) {
			case json.Number:
			case []any:
				if len(v) == 0 || len(v) > 100 {
					fail("metric %s has %d values, not 1 to 100", name, len(v))
				}
				for _, x := range v {
					if _, ok := x.(json.Number); !ok {
						fail("metric %s: value %v is not a number", name, x)
					}
				}
			default:
				fail("metric %s: member is %T, not a number or an array of numbers", name, v)
			}
		}
	}
	return bad
}

// TestEMFCheckerRefusesWhatTheSpecificationRefuses keeps the checker
// honest: each document breaks one rule and must be caught.
func TestEMFCheckerRefusesWhatTheSpecificationRefuses(t *testing.T) {
	valid := `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"D":"d","M":1}`
	if bad := emfViolations([]byte(valid)); len(bad) != 0 {
		t.Fatalf("a valid document: %v", bad)
	}
	dims := make([]string, 31)
	for i := range dims {
		dims[i] = fmt.Sprintf("%q", fmt.Sprint("D", i))
	}
	members := strings.ReplaceAll(strings.Join(dims, ","), `",`, `":"x",`) + `:"x"`
	var defs, values []string
	for i := range 101 {
		defs = append(defs, fmt.Sprintf(`{"Name":"M%d"}`, i))
		values = append(values, fmt.Sprintf(`"M%d":1`, i))
	}
	hundredOne := strings.Repeat("1,", 100) + "1"
	for name, doc := range map[string]string{
		"no _aws":                  `{"M":1}`,
		"text after the object":    valid + ` trailing`,
		"a fractional timestamp":   strings.Replace(valid, `"Timestamp":1`, `"Timestamp":1.5`, 1),
		"no timestamp":             strings.Replace(valid, `"Timestamp":1,`, ``, 1),
		"an empty namespace":       strings.Replace(valid, `"Namespace":"n"`, `"Namespace":""`, 1),
		"a dimension not a string": strings.Replace(valid, `"D":"d"`, `"D":5`, 1),
		"31 dimensions":            strings.Replace(strings.Replace(valid, `[["D"]]`, `[[`+strings.Join(dims, ",")+`]]`, 1), `"D":"d"`, members, 1),
		"101 metrics": `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[` +
			strings.Join(defs, ",") + `]}]},` + strings.Join(values, ",") + `}`,
		"101 values":             strings.Replace(valid, `"M":1}`, `"M":[`+hundredOne+`]}`, 1),
		"a value not a number":   strings.Replace(valid, `"M":1}`, `"M":"1"}`, 1),
		"a missing value":        strings.Replace(valid, `,"M":1}`, `}`, 1),
		"an unknown unit":        strings.Replace(valid, `"Unit":"Count"`, `"Unit":"Orders"`, 1),
		"a resolution of 5":      strings.Replace(valid, `"Unit":"Count"`, `"StorageResolution":5`, 1),
		"an undefined member":    strings.Replace(valid, `"Namespace":"n"`, `"Namespace":"n","Extra":1`, 1),
		"over 256 KB":            strings.Replace(valid, `"D":"d"`, `"pad":"`+strings.Repeat("x", 256<<10)+`","D":"d"`, 1),
		"not JSON":               `order stored`,
		"metrics not an array":   strings.Replace(valid, `"Metrics":[{"Name":"M","Unit":"Count"}]`, `"Metrics":{}`, 1),
		"an empty values array":  strings.Replace(valid, `"M":1}`, `"M":[]}`, 1),
		"a 1025-character value": strings.Replace(valid, `"D":"d"`, `"D":"`+strings.Repeat("d", 1025)+`"`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			if bad := emfViolations([]byte(doc)); len(bad) == 0 {
				t.Errorf("emfViolations found nothing wrong in %.200s", doc)
			}
		})
	}
}

// emfLines returns the lines of w, each checked against the specification.
func emfLines(t *testing.T, w *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for l := range strings.SplitSeq(strings.TrimSuffix(w.String(), "\n"), "\n") {
		if bad := emfViolations([]byte(l)); len(bad) != 0 {
			t.Fatalf("EMF line breaks the specification: %v\n%s", bad, l)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestMetrics(t *testing.T) {
	now := time.Date(2025, 5, 3, 12, 0, 1, 0, time.UTC)
	envelope := func(id string, ts string) string {
		o := seedOrder
		o.OrderID = id
		msg, _ := json.Marshal(o)
		env := map[string]any{"Type": "Notification", "MessageId": "m-" + id, "TopicArn": "arn:aws:sns:us-east-1:000000000000:OrderTopic", "Message": string(msg)}
		if ts != "" {
			env["Timestamp"] = ts
		}
		b, _ := json.Marshal(env)
		return string(b)
	}
	raw := func(id string) string {
		o := seedOrder
		o.OrderID = id
		b, _ := json.Marshal(o)
		return string(b)
	}
	newMetricsHandler := func(t *testing.T, r *recorder, out *bytes.Buffer, opts handler.Options) *handler.Handler {
		t.Helper()
		opts.Store, opts.DeadLetters, opts.Metrics = &r.store, &r.dlq, out
		opts.Now = func() time.Time { return now }
		h, err := handler.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	t.Run("one line per invocation counts every outcome and the stored events' ages", func(t *testing.T) {
		r := newRecorder()
		r.store.PutOrderFn = func(_ context.Context, o orderflow.Order) (orderflow.Outcome, error) {
			switch o.OrderID {
			case "DUP":
				return orderflow.OutcomeDuplicate, nil
			case "OLD":
				return orderflow.OutcomeStale, nil
			case "SLOW":
				return "", errors.New("throttled")
			}
			return orderflow.OutcomeStored, nil
		}
		var out bytes.Buffer
		h := newMetricsHandler(t, r, &out, handler.Options{FunctionName: "orders-fn", MetricsNamespace: "shop"})
		records := []events.SQSMessage{
			{MessageId: "1", Body: envelope("A", "2025-05-03T12:00:00.750Z")},
			{MessageId: "2", Body: raw("B")},
			{MessageId: "3", Body: envelope("DUP", "2025-05-03T12:00:00.5Z")},
			{MessageId: "4", Body: envelope("OLD", "")},
			{MessageId: "5", Body: "not an order"},
			{MessageId: "6", Body: raw("SLOW")},
		}
		h.Process(context.Background(), records)
		lines := emfLines(t, &out)
		if len(lines) != 1 {
			t.Fatalf("got %d lines, want 1:\n%s", len(lines), out.String())
		}
		m := lines[0]
		want := map[string]any{"Stored": 2.0, "Duplicate": 1.0, "Stale": 1.0, "Invalid": 1.0, "Failed": 1.0, "FunctionName": "orders-fn"}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %v, want %v", k, m[k], v)
			}
		}
		aws := m["_aws"].(map[string]any)
		if got, want := aws["Timestamp"], float64(now.UnixMilli()); got != want {
			t.Errorf("Timestamp = %v, want %v", got, want)
		}
		dir := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
		if dir["Namespace"] != "shop" {
			t.Errorf("Namespace = %v, want shop", dir["Namespace"])
		}
		var names []string
		for _, d := range dir["Metrics"].([]any) {
			def := d.(map[string]any)
			names = append(names, def["Name"].(string)+":"+def["Unit"].(string))
		}
		if got, want := strings.Join(names, " "), "Stored:Count Duplicate:Count Stale:Count Invalid:Count Failed:Count ProcessingDuration:Milliseconds EventAge:Milliseconds PublishAge:Milliseconds"; got != want {
			t.Errorf("metrics = %s, want %s", got, want)
		}
		if got := len(m["ProcessingDuration"].([]any)); got != len(records) {
			t.Errorf("%d durations, want one per record, %d", got, len(records))
		}
		// Both stored events are stamped 12:00:00 and stored at 12:00:01;
		// only A came in an envelope with a publish time, 250 ms before.
		if got := fmt.Sprint(m["EventAge"]); got != "[1000 1000]" {
			t.Errorf("EventAge = %s, want [1000 1000]", got)
		}
		if got := fmt.Sprint(m["PublishAge"]); got != "[250]" {
			t.Errorf("PublishAge = %s, want [250]", got)
		}
	})

	t.Run("a batch of 250 records takes three lines of at most 100 values", func(t *testing.T) {
		var out bytes.Buffer
		h := newMetricsHandler(t, newRecorder(), &out, handler.Options{})
		var records []events.SQSMessage
		for i := range 250 {
			records = append(records, events.SQSMessage{MessageId: fmt.Sprint(i), Body: envelope(fmt.Sprint("O", i), "2025-05-03T12:00:00Z")})
		}
		h.Process(context.Background(), records)
		lines := emfLines(t, &out)
		var counts []string
		for _, m := range lines {
			counts = append(counts, fmt.Sprint(m["Stored"], "/", len(m["ProcessingDuration"].([]any))))
			if m["FunctionName"] != handler.DefaultFunctionName {
				t.Errorf("FunctionName = %v, want the default %s", m["FunctionName"], handler.DefaultFunctionName)
			}
			ns := m["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Namespace"]
			if ns != handler.DefaultMetricsNamespace {
				t.Errorf("Namespace = %v, want the default %s", ns, handler.DefaultMetricsNamespace)
			}
		}
		if got, want := strings.Join(counts, " "), "100/100 100/100 50/50"; got != want {
			t.Errorf("lines (stored/durations) = %s, want %s", got, want)
		}
	})

	t.Run("a batch with nothing stored declares no ages", func(t *testing.T) {
		var out bytes.Buffer
		h := newMetricsHandler(t, newRecorder(), &out, handler.Options{})
		h.Process(context.Background(), []events.SQSMessage{{MessageId: "1", Body: "{}"}})
		m := emfLines(t, &out)[0]
		if _, ok := m["EventAge"]; ok {
			t.Errorf("EventAge present with nothing stored: %v", m)
		}
		if m["Invalid"] != 1.0 || m["Stored"] != 0.0 {
			t.Errorf("Invalid, Stored = %v, %v; want 1, 0", m["Invalid"], m["Stored"])
		}
	})

	t.Run("a dimension value that needs escaping stays valid JSON", func(t *testing.T) {
		var out bytes.Buffer
		h := newMetricsHandler(t, newRecorder(), &out, handler.Options{FunctionName: "fn\"\n\\x"})
		h.Process(context.Background(), []events.SQSMessage{{MessageId: "1", Body: raw("A")}})
		if got := emfLines(t, &out)[0]["FunctionName"]; got != "fn\"\n\\x" {
			t.Errorf("FunctionName = %q", got)
		}
	})

	t.Run("an envelope whose Timestamp is not a time is still an order", func(t *testing.T) {
		for _, ts := range []string{`5`, `"yesterday"`, `null`, `"2025-05-03T12:00:00\u005a"`} {
			body := strings.Replace(envelope("A", ""), `{`, `{"Timestamp":`+ts+`,`, 1)
			b, err := handler.DecodeBody(body)
			if err != nil || b.Order.OrderID != "A" || !b.PublishedAt.IsZero() {
				t.Errorf("Timestamp %s: DecodeBody = %+v, %v; want order A, no publish time", ts, b, err)
			}
		}
	})

	t.Run("no writer, no metrics", func(t *testing.T) {
		var logs bytes.Buffer
		h := newHandler(t, newRecorder(), &logs)
		h.Process(context.Background(), []events.SQSMessage{{MessageId: "1", Body: raw("A")}})
		if strings.Contains(logs.String(), "_aws") {
			t.Errorf("an EMF line reached the log without Options.Metrics: %s", logs.String())
		}
	})
}

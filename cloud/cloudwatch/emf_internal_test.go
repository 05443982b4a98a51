package cloudwatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// emfSeeds are documents, valid and not, usual and odd, that scanEMF and
// decodeEMF must read alike.
var emfSeeds = []string{
	handlerEMF(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
	`{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"D":"d","M":[1,2]}`,
	`{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["D"]],"Metrics":[{"Name":"M"}]}]},"D":"d","M":1,"M":[3, 4 ,5]}`,
	`{"_AWS":{"timestamp":1767225600000,"cloudwatchmetrics":[{"Namespace":"n","Metrics":[{"Name":"M"}]}]},"M":-1.5e3}`,
	`{"_aws":{"Timestamp":1767225600000,"Timestamp":1767225600001,"CloudWatchMetrics":[]},"M":1}`,
	`{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":null},"M":1}`,
	`{"_aws":{"Timestamp":"1767225600000","CloudWatchMetrics":[]}}`,
	`{"_aws":{"Timestamp":-5,"CloudWatchMetrics":[]}}`,
	`{"_aws":{"Timestamp":1.5,"CloudWatchMetrics":[]}}`,
	`{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":"x"}}`,
	`{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":5}]}}`,
	`{"_aws":null,"M":1}`,
	`{"_aws":{"Timestamp":1767225600000},"_aws":{"CloudWatchMetrics":[]}}`,
	`{"_a\u0077s":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"n","Metrics":[{"Name":"M"}]}]},"M":1}`,
	`{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["D"]],"Metrics":[{"Name":"M"}]}]},"D":"caf\u00e9 \"q\" \ud800","M":[1e400]}`,
	`{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["D"]],"Metrics":[{"Name":"M"}]}]},"D":null,"M":null}`,
	`{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"n","Metrics":[{"Name":"M"}]}]},"M":[1,null,"2",{"a":[]}]}`,
	`{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"n","Metrics":[{"Name":"M"}]}]},"M":[]}`,
	"{ \"_aws\" :\t{\"Timestamp\" : 1767225600000 , \"CloudWatchMetrics\":[ ]}\n, \"M\" : true }",
	`{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[]},"M":1`,
	`{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[]}} trailing`,
	`{"_aws":{"Timestamp":99999999999999999999,"CloudWatchMetrics":[]}}`,
}

// checkEMFReadings fails when scanEMF reads msg otherwise than decodeEMF,
// the reference, would.
func checkEMFReadings(t *testing.T, s *store, msg string) {
	t.Helper()
	fast, ok := s.scanEMF(msg)
	if !ok {
		return // left to decodeEMF
	}
	ref, refOK := decodeEMF(msg)
	if !refOK {
		t.Fatalf("scanEMF read %q; encoding/json refuses it", msg)
	}
	if fast.ms != ref.ms || !reflect.DeepEqual(fast.directives, ref.directives) {
		t.Fatalf("scanEMF(%q) = %d, %+v; encoding/json reads %d, %+v", msg, fast.ms, fast.directives, ref.ms, ref.directives)
	}
	for _, name := range []string{"", "D", "M", "_aws", "FunctionName", "Stored", "EventAge", "x"} {
		if got, want := fast.member(name), ref.member(name); !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
			t.Fatalf("in %q, member %q = %q; encoding/json reads %q", msg, name, got, want)
		}
		gotS, gotOK := emfString(fast.member(name))
		var wantS string
		wantOK := ref.member(name) != nil && jsonUnmarshal(ref.member(name), &wantS) == nil
		if gotS != wantS || gotOK != wantOK {
			t.Fatalf("in %q, member %q as a string = %q, %v; encoding/json reads %q, %v", msg, name, gotS, gotOK, wantS, wantOK)
		}
		gotV, gotOK := emfValues(fast.member(name))
		wantV, wantOK := emfValuesByJSON(ref.member(name))
		if fmt.Sprint(gotV, gotOK) != fmt.Sprint(wantV, wantOK) {
			t.Fatalf("in %q, member %q as values = %v, %v; encoding/json reads %v, %v", msg, name, gotV, gotOK, wantV, wantOK)
		}
	}
}

func TestScanEMFReadsDocumentsAsEncodingJSONDoes(t *testing.T) {
	s := newStore(100, 100)
	scanned := 0
	for _, msg := range emfSeeds {
		checkEMFReadings(t, s, msg)
		if _, ok := s.scanEMF(msg); ok {
			scanned++
		}
	}
	if scanned < 10 {
		t.Errorf("scanEMF read %d of the %d seeds; the fast path should take the usual ones", scanned, len(emfSeeds))
	}
	if _, ok := s.scanEMF(emfSeeds[0]); !ok {
		t.Errorf("scanEMF leaves the handler's own document to encoding/json")
	}
}

func FuzzScanEMFReadsDocumentsAsEncodingJSONDoes(f *testing.F) {
	for _, msg := range emfSeeds {
		f.Add(msg)
	}
	s := newStore(100, 100)
	f.Fuzz(func(t *testing.T, msg string) { checkEMFReadings(t, s, msg) })
}

// emfValuesByJSON is emfValues as it read members before scanEMF: by
// encoding/json alone.
func emfValuesByJSON(raw []byte) ([]float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false
	}
	if raw[0] == '[' {
		var vs []float64
		if jsonUnmarshal(raw, &vs) != nil || len(vs) == 0 || len(vs) > emfMaxValues {
			return nil, false
		}
		return vs, true
	}
	var v float64
	if jsonUnmarshal(raw, &v) != nil {
		return nil, false
	}
	return []float64{v}, true
}

var jsonUnmarshal = json.Unmarshal

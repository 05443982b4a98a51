package cloudwatch

import (
	"fmt"
	"testing"
	"time"
)

// handlerEMF is the document the order handler writes after each
// invocation (handler/metrics.go), one per batch.
func handlerEMF(at time.Time) string {
	return fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"orderflow","Dimensions":[["FunctionName"]],"Metrics":[{"Name":"Stored","Unit":"Count"},{"Name":"Duplicate","Unit":"Count"},{"Name":"Stale","Unit":"Count"},{"Name":"Invalid","Unit":"Count"},{"Name":"Failed","Unit":"Count"},{"Name":"ProcessingDuration","Unit":"Milliseconds"},{"Name":"EventAge","Unit":"Milliseconds"}]}]},"FunctionName":"ProcessOrderFunction","Stored":1,"Duplicate":0,"Stale":0,"Invalid":0,"Failed":0,"ProcessingDuration":[0.188],"EventAge":[50327337038.27]}`, at.UnixMilli())
}

// BenchmarkIngestEMF measures ingesting the handler's EMF document: the
// decoding, the validation and the seven datapoints into their series.
func BenchmarkIngestEMF(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	line := handlerEMF(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b.ReportAllocs()
	for b.Loop() {
		if !s.IngestEMF(line) {
			b.Fatal("refused")
		}
	}
}

package crossclient_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cloud/cloudtest"
)

// TestTheAWSCLIDrivesCloudWatchMetrics: the v2 CLI speaks CloudWatch's
// Query protocol, recent v1 builds its RPC v2 CBOR protocol; both put a
// datum, list it and read its statistics, and see CloudWatch's error code
// for a bad statistic.
func TestTheAWSCLIDrivesCloudWatchMetrics(t *testing.T) {
	for _, a := range clis(t) {
		t.Run(a.name, func(t *testing.T) {
			c, _ := cloudtest.Start(t)
			at := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Minute)
			a.run(t, c, "cloudwatch", "put-metric-data", "--namespace", "shop", "--metric-data",
				fmt.Sprintf(`[{"MetricName":"Latency","Dimensions":[{"Name":"Service","Value":"api"}],"Timestamp":"%s","Values":[10,30],"Unit":"Milliseconds"}]`, at.Format(time.RFC3339)))
			list := a.run(t, c, "cloudwatch", "list-metrics", "--namespace", "shop")
			metrics, _ := list["Metrics"].([]any)
			if len(metrics) != 1 || fmt.Sprint(metrics[0]) != "map[Dimensions:[map[Name:Service Value:api]] MetricName:Latency Namespace:shop]" {
				t.Errorf("list-metrics = %v", list)
			}
			stats := a.run(t, c, "cloudwatch", "get-metric-statistics", "--namespace", "shop", "--metric-name", "Latency",
				"--dimensions", "Name=Service,Value=api", "--start-time", at.Add(-time.Hour).Format(time.RFC3339), "--end-time", at.Add(time.Hour).Format(time.RFC3339),
				"--period", "60", "--statistics", "Sum", "Average", "SampleCount")
			points, _ := stats["Datapoints"].([]any)
			if len(points) != 1 {
				t.Fatalf("get-metric-statistics = %v, want one datapoint", stats)
			}
			p := points[0].(map[string]any)
			if p["Sum"] != 40.0 || p["Average"] != 20.0 || p["SampleCount"] != 2.0 || p["Unit"] != "Milliseconds" || stats["Label"] != "Latency" {
				t.Errorf("datapoint = %v (label %v), want Sum 40, Average 20, SampleCount 2 in Milliseconds", p, stats["Label"])
			}
			// v2 prints an ISO 8601 time; v1 (cli_timestamp_format none)
			// what came on the wire, epoch seconds.
			switch ts := p["Timestamp"].(type) {
			case string:
				if got, err := time.Parse(time.RFC3339, ts); err != nil || !got.Equal(at) {
					t.Errorf("Timestamp = %q, want %s", ts, at.Format(time.RFC3339))
				}
			case float64:
				if ts != float64(at.Unix()) {
					t.Errorf("Timestamp = %v, want %d", ts, at.Unix())
				}
			default:
				t.Errorf("Timestamp = %v (%T), want %s", ts, ts, at.Format(time.RFC3339))
			}
			msg := a.fail(t, c, "cloudwatch", "get-metric-statistics", "--namespace", "shop", "--metric-name", "Latency",
				"--start-time", at.Add(-time.Hour).Format(time.RFC3339), "--end-time", at.Format(time.RFC3339), "--period", "7", "--statistics", "Sum")
			if !strings.Contains(msg, "(InvalidParameterValue) when calling the GetMetricStatistics operation: The parameter Period must be 1, 5, 10, 30 or a multiple of 60.") {
				t.Errorf("a period of 7 s: %s", msg)
			}
		})
	}
}

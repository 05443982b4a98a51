package local

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/handler"
	"github.com/orderflow/orderflow/internal/poll"
)

// TestTheFunctionsMetricsReachCloudWatch publishes orders through the
// pipeline and reads, through the CloudWatch API, the per-outcome counts
// the function logged as EMF lines.
func TestTheFunctionsMetricsReachCloudWatch(t *testing.T) {
	ctx := context.Background()
	p, err := Start(ctx, Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := p.Cloud.Config()
	topic := p.Output("OrderTopicArn")
	publish := func(body string) {
		t.Helper()
		if _, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	order := func(id string, at time.Time) string {
		b, _ := json.Marshal(orderflow.Order{OrderID: id, UserID: "U1", ItemName: "Laptop", Quantity: 1, Status: orderflow.StatusNew, Timestamp: at})
		return string(b)
	}
	start := time.Now().UTC().Add(-time.Hour)
	cw := cloudwatch.NewFromConfig(cfg)
	outcomes := []string{handler.MetricStored, handler.MetricDuplicate, handler.MetricStale, handler.MetricInvalid, handler.MetricFailed}
	sums := func() map[string]float64 {
		t.Helper()
		var qs []cwtypes.MetricDataQuery
		for _, o := range outcomes {
			qs = append(qs, cwtypes.MetricDataQuery{Id: aws.String(strings.ToLower(o)), MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{Namespace: aws.String(handler.DefaultMetricsNamespace), MetricName: aws.String(o),
					Dimensions: []cwtypes.Dimension{{Name: aws.String(handler.MetricDimension), Value: aws.String("ProcessOrderFunction")}}},
				Period: aws.Int32(3600), Stat: aws.String("Sum")}})
		}
		out, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(time.Now().Add(time.Hour)), MetricDataQueries: qs})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for i, r := range out.MetricDataResults {
			for _, v := range r.Values {
				got[outcomes[i]] += v
			}
		}
		return got
	}
	now := time.Now().UTC().Truncate(time.Second)
	publish(order("A", now.Add(-2*time.Minute)))
	publish(order("B", now.Add(-time.Minute)))
	poll.Until(t, 20*time.Second, "two orders stored", func() bool { return sums()[handler.MetricStored] == 2 })
	publish(order("A", now.Add(-2*time.Minute)))     // the same event again
	publish(order("B", now.Add(-3*time.Minute)))     // older than the one stored
	publish(`{"orderId":"BAD-1","quantity":"many"}`) // invalid
	poll.Until(t, 20*time.Second, "five records counted", func() bool {
		n := 0.0
		for _, v := range sums() {
			n += v
		}
		return n >= 5
	})
	got := sums()
	want := map[string]float64{handler.MetricStored: 2, handler.MetricDuplicate: 1, handler.MetricStale: 1, handler.MetricInvalid: 1, handler.MetricFailed: 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("per-outcome sums = %v, want %v", got, want)
	}
	// The metrics are listed under the function's name, as on AWS.
	list, err := cw.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String(handler.DefaultMetricsNamespace), MetricName: aws.String(handler.MetricEventAge)})
	if err != nil || len(list.Metrics) != 1 || aws.ToString(list.Metrics[0].Dimensions[0].Value) != "ProcessOrderFunction" {
		t.Errorf("ListMetrics(EventAge) = %+v, %v; want one, with FunctionName ProcessOrderFunction", list, err)
	}
}

package cloud_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/poll"
)

func dim(name, value string) cwtypes.Dimension {
	return cwtypes.Dimension{Name: aws.String(name), Value: aws.String(value)}
}

func TestCloudWatchThroughTheSDK(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	cw := cloudwatch.NewFromConfig(cfg)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Minute)

	t.Run("PutMetricData then GetMetricStatistics gives each statistic per period", func(t *testing.T) {
		_, err := cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
			Namespace: aws.String("shop"),
			MetricData: []cwtypes.MetricDatum{
				{MetricName: aws.String("Latency"), Dimensions: []cwtypes.Dimension{dim("Service", "api")}, Timestamp: aws.Time(now.Add(-2 * time.Minute)), Value: aws.Float64(10), Unit: cwtypes.StandardUnitMilliseconds},
				{MetricName: aws.String("Latency"), Dimensions: []cwtypes.Dimension{dim("Service", "api")}, Timestamp: aws.Time(now.Add(-2*time.Minute + 30*time.Second)), Values: []float64{20, 30}, Counts: []float64{1, 2}, Unit: cwtypes.StandardUnitMilliseconds},
				{MetricName: aws.String("Latency"), Dimensions: []cwtypes.Dimension{dim("Service", "api")}, Timestamp: aws.Time(now.Add(-1 * time.Minute)), StatisticValues: &cwtypes.StatisticSet{SampleCount: aws.Float64(4), Sum: aws.Float64(8), Minimum: aws.Float64(1), Maximum: aws.Float64(3)}, Unit: cwtypes.StandardUnitMilliseconds},
				{MetricName: aws.String("Latency"), Dimensions: []cwtypes.Dimension{dim("Service", "web")}, Timestamp: aws.Time(now.Add(-1 * time.Minute)), Value: aws.Float64(99)},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
			Namespace: aws.String("shop"), MetricName: aws.String("Latency"),
			Dimensions: []cwtypes.Dimension{dim("Service", "api")},
			StartTime:  aws.Time(now.Add(-10 * time.Minute)), EndTime: aws.Time(now),
			Period:     aws.Int32(60),
			Statistics: []cwtypes.Statistic{cwtypes.StatisticSum, cwtypes.StatisticAverage, cwtypes.StatisticMinimum, cwtypes.StatisticMaximum, cwtypes.StatisticSampleCount},
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range out.Datapoints {
			got = append(got, fmt.Sprintf("%s n=%v sum=%v avg=%v min=%v max=%v %s", d.Timestamp.UTC().Format("15:04"), *d.SampleCount, *d.Sum, *d.Average, *d.Minimum, *d.Maximum, d.Unit))
		}
		want := []string{
			fmt.Sprintf("%s n=4 sum=90 avg=22.5 min=10 max=30 Milliseconds", now.Add(-2*time.Minute).Format("15:04")),
			fmt.Sprintf("%s n=4 sum=8 avg=2 min=1 max=3 Milliseconds", now.Add(-1*time.Minute).Format("15:04")),
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") || aws.ToString(out.Label) != "Latency" {
			t.Errorf("datapoints (label %s):\n%s\nwant:\n%s", aws.ToString(out.Label), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("ListMetrics filters by namespace, name and dimension", func(t *testing.T) {
		out, err := cw.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("shop"), Dimensions: []cwtypes.DimensionFilter{{Name: aws.String("Service"), Value: aws.String("web")}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Metrics) != 1 || aws.ToString(out.Metrics[0].MetricName) != "Latency" || aws.ToString(out.Metrics[0].Dimensions[0].Value) != "web" {
			t.Errorf("ListMetrics = %+v, want Latency with Service=web", out.Metrics)
		}
		all, err := cw.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("shop")})
		if err != nil || len(all.Metrics) != 2 {
			t.Errorf("ListMetrics(shop) = %d metrics, %v; want 2", len(all.Metrics), err)
		}
	})

	t.Run("an EMF line sent to CloudWatch Logs becomes a metric GetMetricData reads", func(t *testing.T) {
		logs := cloudwatchlogs.NewFromConfig(cfg)
		if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/app")}); err != nil {
			t.Fatal(err)
		}
		if _, err := logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/app"), LogStreamName: aws.String("s")}); err != nil {
			t.Fatal(err)
		}
		at := now.Add(-3 * time.Minute)
		emf := fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"app","Dimensions":[["Fn"],[]],"Metrics":[{"Name":"Done","Unit":"Count"}]}]},"Fn":"f","Done":[2,3]}`, at.UnixMilli())
		_, err := logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("/app"), LogStreamName: aws.String("s"),
			LogEvents: []logtypes.InputLogEvent{{Timestamp: aws.Int64(at.UnixMilli()), Message: aws.String(emf)}, {Timestamp: aws.Int64(at.UnixMilli()), Message: aws.String(`{"_aws":"not a directive"}`)}}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
			StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now),
			ScanBy: cwtypes.ScanByTimestampAscending,
			MetricDataQueries: []cwtypes.MetricDataQuery{
				{Id: aws.String("withFn"), MetricStat: &cwtypes.MetricStat{Metric: &cwtypes.Metric{Namespace: aws.String("app"), MetricName: aws.String("Done"), Dimensions: []cwtypes.Dimension{dim("Fn", "f")}}, Period: aws.Int32(300), Stat: aws.String("Sum")}},
				{Id: aws.String("all"), Label: aws.String("everything"), MetricStat: &cwtypes.MetricStat{Metric: &cwtypes.Metric{Namespace: aws.String("app"), MetricName: aws.String("Done")}, Period: aws.Int32(60), Stat: aws.String("SampleCount")}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range out.MetricDataResults {
			got = append(got, fmt.Sprintf("%s %s %s %v %d", aws.ToString(r.Id), aws.ToString(r.Label), r.StatusCode, r.Values, len(r.Timestamps)))
		}
		if want := "withFn Done Complete [5] 1\nall everything Complete [2] 1"; strings.Join(got, "\n") != want {
			t.Errorf("GetMetricData:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
		}
	})

	t.Run("bad input is refused with CloudWatch's error codes", func(t *testing.T) {
		datum := func(f func(*cwtypes.MetricDatum)) *cloudwatch.PutMetricDataInput {
			d := cwtypes.MetricDatum{MetricName: aws.String("M"), Value: aws.Float64(1)}
			f(&d)
			return &cloudwatch.PutMetricDataInput{Namespace: aws.String("shop"), MetricData: []cwtypes.MetricDatum{d}}
		}
		var dims []cwtypes.Dimension
		for i := range 31 {
			dims = append(dims, dim(fmt.Sprint("D", i), "v"))
		}
		many := make([]cwtypes.MetricDatum, 1001)
		for i := range many {
			many[i] = cwtypes.MetricDatum{MetricName: aws.String("M"), Value: aws.Float64(1)}
		}
		huge := make([]cwtypes.MetricDatum, 1000)
		for i := range huge {
			huge[i] = cwtypes.MetricDatum{MetricName: aws.String(strings.Repeat("m", 255)), Dimensions: []cwtypes.Dimension{dim("D", strings.Repeat("v", 1024))}, Value: aws.Float64(1)}
		}
		stats := func(f func(*cloudwatch.GetMetricStatisticsInput)) error {
			in := &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("shop"), MetricName: aws.String("Latency"),
				StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now), Period: aws.Int32(60), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum}}
			f(in)
			_, err := cw.GetMetricStatistics(ctx, in)
			return err
		}
		put := func(in *cloudwatch.PutMetricDataInput) error { _, err := cw.PutMetricData(ctx, in); return err }
		for _, tc := range []struct {
			name, code, message string
			err                 error
		}{
			{"a NaN value", "InvalidParameterValue", "The value NaN for parameter MetricData.member.1.Value is invalid.",
				put(datum(func(d *cwtypes.MetricDatum) { d.Value = aws.Float64(math.NaN()) }))},
			{"an infinite value in Values", "InvalidParameterValue", "The value +Inf for parameter MetricData.member.1.Values.member.2 is invalid.",
				put(datum(func(d *cwtypes.MetricDatum) { d.Value, d.Values = nil, []float64{1, math.Inf(1)} }))},
			{"31 dimensions", "InvalidParameterValue", "The collection MetricData.member.1.Dimensions must not have a size greater than 30.",
				put(datum(func(d *cwtypes.MetricDatum) { d.Dimensions = dims }))},
			{"1001 datums", "InvalidParameterValue", "The collection MetricData must not have a size greater than 1000.",
				put(&cloudwatch.PutMetricDataInput{Namespace: aws.String("shop"), MetricData: many})},
			{"a value and a statistic set", "InvalidParameterCombination", "The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues are mutually exclusive and you have specified both.",
				put(datum(func(d *cwtypes.MetricDatum) {
					d.StatisticValues = &cwtypes.StatisticSet{SampleCount: aws.Float64(1), Sum: aws.Float64(1), Minimum: aws.Float64(1), Maximum: aws.Float64(1)}
				}))},
			{"a value and values", "InvalidParameterValue", "The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually exclusive and you have specified both.",
				put(datum(func(d *cwtypes.MetricDatum) { d.Values = []float64{1, 10} }))},
			{"neither a value nor a statistic set", "InvalidParameterCombination", "At least one of the parameters MetricData.member.1.Value, MetricData.member.1.StatisticValues or MetricData.member.1.Values must be specified.",
				put(datum(func(d *cwtypes.MetricDatum) { d.Value = nil }))},
			{"Values and Counts of different sizes", "InvalidParameterValue", "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of the same size.",
				put(datum(func(d *cwtypes.MetricDatum) { d.Value, d.Values, d.Counts = nil, []float64{1, 2}, []float64{1} }))},
			{"an AWS/ namespace", "InvalidParameterValue", "The value AWS/Lambda for parameter Namespace is invalid.",
				put(&cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/Lambda"), MetricData: []cwtypes.MetricDatum{{MetricName: aws.String("M"), Value: aws.Float64(1)}}})},
			{"a timestamp a month old", "InvalidParameterValue", "The parameter MetricData.member.1.Timestamp must specify a time no more than two weeks in the past and no more than two hours in the future.",
				put(datum(func(d *cwtypes.MetricDatum) { d.Timestamp = aws.Time(now.AddDate(0, -1, 0)) }))},
			{"an unknown unit", "InvalidParameterValue", "The value Orders for parameter MetricData.member.1.Unit is invalid.",
				put(datum(func(d *cwtypes.MetricDatum) { d.Unit = "Orders" }))},
			{"a body over 1 MB", "RequestEntityTooLarge", "Request size exceeded the limit of 1048576 bytes.",
				put(&cloudwatch.PutMetricDataInput{Namespace: aws.String("shop"), MetricData: huge})},
			{"an unknown statistic", "InvalidParameterValue", "The parameter Statistics.member.1 must be a value in the set [ SampleCount, Average, Sum, Minimum, Maximum ].",
				stats(func(in *cloudwatch.GetMetricStatisticsInput) { in.Statistics = []cwtypes.Statistic{"Median"} })},
			{"a percentile", "InvalidParameterValue", "The parameter ExtendedStatistics (p99) is valid on AWS, but the embedded cloud keeps no distributions: ask for Statistics instead.",
				stats(func(in *cloudwatch.GetMetricStatisticsInput) {
					in.Statistics, in.ExtendedStatistics = nil, []string{"p99"}
				})},
			{"no statistic", "InvalidParameterCombination", "Must specify either Statistics or ExtendedStatistics",
				stats(func(in *cloudwatch.GetMetricStatisticsInput) { in.Statistics = nil })},
			{"a period of 7 seconds", "InvalidParameterValue", "The parameter Period must be 1, 5, 10, 30 or a multiple of 60.",
				stats(func(in *cloudwatch.GetMetricStatisticsInput) { in.Period = aws.Int32(7) })},
			{"1441 datapoints", "InvalidParameterCombination", "You have requested up to 1441 datapoints, which exceeds the limit of 1440. You may reduce the datapoints requested by increasing Period, or decreasing the time range.",
				stats(func(in *cloudwatch.GetMetricStatisticsInput) { in.StartTime = aws.Time(now.Add(-1441 * time.Minute)) })},
			{"an end before the start", "InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.",
				stats(func(in *cloudwatch.GetMetricStatisticsInput) { in.EndTime = aws.Time(now.Add(-2 * time.Hour)) })},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var ae smithy.APIError
				if !errors.As(tc.err, &ae) || ae.ErrorCode() != tc.code || ae.ErrorMessage() != tc.message {
					t.Errorf("error = %v, want %s: %s", tc.err, tc.code, tc.message)
				}
			})
		}
		_, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now),
			MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("Bad-Id"), Expression: aws.String("SUM(METRICS())")}}})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValue" || !strings.Contains(ae.ErrorMessage(), "Bad-Id") {
			t.Errorf("GetMetricData with a bad id = %v, want InvalidParameterValue naming it", err)
		}
		// Nothing of a refused request was stored.
		if out, err := cw.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("shop"), MetricName: aws.String("M")}); err != nil || len(out.Metrics) != 0 {
			t.Errorf("ListMetrics(M) = %v, %v; want none: every datum above was refused", out, err)
		}
	})

	t.Run("a raw CBOR body of the wrong types is refused, not half read", func(t *testing.T) {
		for name, body := range map[string][]byte{
			"not CBOR":                []byte("{\"Namespace\":\"x\"}"),
			"a list, not a map":       {0x81, 0x01},
			"Namespace as a number":   {0xa1, 0x69, 'N', 'a', 'm', 'e', 's', 'p', 'a', 'c', 'e', 0x05},
			"a truncated map":         {0xbf, 0x69, 'N', 'a', 'm', 'e', 's', 'p', 'a', 'c', 'e'},
			"nested beyond the limit": bytes.Repeat([]byte{0x81}, 40),
		} {
			req, _ := http.NewRequest(http.MethodPost, c.URL()+"/service/GraniteServiceVersion20100801/operation/PutMetricData", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/cbor")
			req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Amzn-Query-Error") == "" {
				t.Errorf("%s: status %d, x-amzn-query-error %q; want 400 with a code", name, resp.StatusCode, resp.Header.Get("X-Amzn-Query-Error"))
			}
		}
	})
}

// TestTheCloudPublishesLambdaAndSQSMetrics: the function host's
// invocations and the queues' depths are metrics under AWS's namespaces,
// read through the same API as the function's own.
func TestTheCloudPublishesLambdaAndSQSMetrics(t *testing.T) {
	clk := clock.NewFake(time.Now())
	c, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.Clock = clk })
	ctx := context.Background()
	sq := sqs.NewFromConfig(cfg)
	urls := map[string]*string{}
	for _, name := range []string{"work", "idle"} {
		q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{"VisibilityTimeout": "60"}})
		if err != nil {
			t.Fatal(err)
		}
		urls[name] = q.QueueUrl
	}
	c.Lambda.Register("worker", func(lambda.Config) (lambda.Handler, error) {
		return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			if ev.Records[0].Body == "fail" {
				return events.SQSEventResponse{}, errors.New("failed on purpose")
			}
			return events.SQSEventResponse{}, nil
		}, nil
	})
	if _, err := c.Lambda.CreateFunction(ctx, lambda.Function{Name: "worker", TimeoutSec: 5, MemoryMB: 128}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lambda.CreateEventSourceMapping(ctx, lambda.EventSourceMapping{FunctionName: "worker", EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:work",
		BatchSize: 1, Enabled: true, MaximumConcurrency: 2}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ queue, body string }{{"work", "ok"}, {"work", "fail"}, {"idle", "a"}, {"idle", "b"}} {
		if _, err := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: urls[m.queue], MessageBody: aws.String(m.body)}); err != nil {
			t.Fatal(err)
		}
	}
	cw := cloudwatch.NewFromConfig(cfg)
	read := func(ns, name, dimName, dimValue string) (sum, maximum, count float64) {
		t.Helper()
		out, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String(ns), MetricName: aws.String(name),
			Dimensions: []cwtypes.Dimension{dim(dimName, dimValue)}, StartTime: aws.Time(clk.Now().Add(-time.Hour)), EndTime: aws.Time(clk.Now().Add(time.Hour)),
			Period: aws.Int32(3600), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum, cwtypes.StatisticMaximum, cwtypes.StatisticSampleCount}})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range out.Datapoints {
			sum += *d.Sum
			maximum = max(maximum, *d.Maximum)
			count += *d.SampleCount
		}
		return sum, maximum, count
	}
	poll.Until(t, 20*time.Second, "two invocations of worker counted", func() bool { n, _, _ := read("AWS/Lambda", "Invocations", "FunctionName", "worker"); return n == 2 })
	if errs, _, _ := read("AWS/Lambda", "Errors", "FunctionName", "worker"); errs != 1 {
		t.Errorf("AWS/Lambda Errors = %v, want 1, the failed invocation", errs)
	}
	// The fake clock stands still, so each invocation took 0 ms.
	if sum, _, n := read("AWS/Lambda", "Duration", "FunctionName", "worker"); n != 2 || sum != 0 {
		t.Errorf("AWS/Lambda Duration = %v ms over %v samples, want 0 over 2", sum, n)
	}
	// The queues are sampled once a minute: at the start (none) and now,
	// when idle's messages have waited a minute.
	clk.Advance(time.Minute)
	poll.Until(t, 10*time.Second, "idle's two messages sampled", func() bool {
		_, n, _ := read("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "idle")
		return n == 2
	})
	if _, age, _ := read("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", "idle"); age != 60 {
		t.Errorf("AWS/SQS ApproximateAgeOfOldestMessage(idle) = %v s, want 60", age)
	}
}

func TestCloudWatchChecksSignatures(t *testing.T) {
	_, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.Credentials = map[string]string{"AKIDCW": "secret"} })
	ctx := context.Background()
	cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIDCW", "secret", "")
	if _, err := cloudwatch.NewFromConfig(cfg).ListMetrics(ctx, &cloudwatch.ListMetricsInput{}); err != nil {
		t.Fatalf("ListMetrics with the cloud's key: %v", err)
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIDCW", "wrong", "")
	_, err := cloudwatch.NewFromConfig(cfg).ListMetrics(ctx, &cloudwatch.ListMetricsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
		t.Errorf("ListMetrics with a wrong secret = %v, want SignatureDoesNotMatch", err)
	}
}

func TestCloudWatchRefusesHostileRequests(t *testing.T) {
	c, _ := cloudtest.Start(t)
	do := func(method, path string, header map[string]string, body []byte) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, c.URL()+path, bytes.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	t.Run("a Query value that is not a number", func(t *testing.T) {
		status, _, body := do(http.MethodPost, "/", form, []byte("Action=PutMetricData&Version=2010-08-01&Namespace=shop&MetricData.member.1.MetricName=M&MetricData.member.1.Value=lots"))
		if status != 400 || !strings.Contains(body, "<Code>InvalidParameterValue</Code>") || !strings.Contains(body, "&#34;lots&#34; is not a number") {
			t.Errorf("status %d, body %s; want 400 InvalidParameterValue naming the value", status, body)
		}
	})
	t.Run("a Query NaN", func(t *testing.T) {
		status, _, body := do(http.MethodPost, "/", form, []byte("Action=PutMetricData&Version=2010-08-01&Namespace=shop&MetricData.member.1.MetricName=M&MetricData.member.1.Value=NaN"))
		if status != 400 || !strings.Contains(body, "The value NaN for parameter MetricData.member.1.Value is invalid.") {
			t.Errorf("status %d, body %s", status, body)
		}
	})
	t.Run("PutMetricData by GET, which a web page can make a browser send", func(t *testing.T) {
		status, _, body := do(http.MethodGet, "/?Action=PutMetricData&Namespace=shop&MetricData.member.1.MetricName=M&MetricData.member.1.Value=1", nil, nil)
		if status != http.StatusMethodNotAllowed {
			t.Errorf("status %d, body %s; want 405", status, body)
		}
	})
	t.Run("a list index past any CloudWatch list", func(t *testing.T) {
		status, _, body := do(http.MethodPost, "/", form, []byte("Action=PutMetricData&Version=2010-08-01&Namespace=shop&MetricData.member.99999999.MetricName=M&MetricData.member.99999999.Value=1"))
		if status != 400 || !strings.Contains(body, "The parameter MetricData is required.") {
			t.Errorf("status %d, body %s; want MetricData missing (the index is ignored)", status, body)
		}
	})
	t.Run("a gzip bomb inflates no further than 1 MB", func(t *testing.T) {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(bytes.Repeat([]byte{0}, 64<<20))
		zw.Close()
		status, h, _ := do(http.MethodPost, "/service/GraniteServiceVersion20100801/operation/PutMetricData",
			map[string]string{"Content-Type": "application/cbor", "Content-Encoding": "gzip", "Smithy-Protocol": "rpc-v2-cbor"}, z.Bytes())
		if status != http.StatusRequestEntityTooLarge || h.Get("X-Amzn-Query-Error") != "RequestEntityTooLarge;Sender" {
			t.Errorf("status %d, x-amzn-query-error %q; want 413 RequestEntityTooLarge", status, h.Get("X-Amzn-Query-Error"))
		}
	})
	t.Run("an unknown CBOR operation", func(t *testing.T) {
		status, h, _ := do(http.MethodPost, "/service/GraniteServiceVersion20100801/operation/DeleteEverything",
			map[string]string{"Content-Type": "application/cbor", "Smithy-Protocol": "rpc-v2-cbor"}, nil)
		if status != 400 || h.Get("X-Amzn-Query-Error") != "UnknownOperationException;Sender" {
			t.Errorf("status %d, x-amzn-query-error %q", status, h.Get("X-Amzn-Query-Error"))
		}
	})
}

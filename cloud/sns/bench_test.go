package sns_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/sns"
)

// queuesFunc adapts a function to Queues.
type queuesFunc func(context.Context, sns.Delivery) error

func (f queuesFunc) Deliver(ctx context.Context, d sns.Delivery) error { return f(ctx, d) }

// orderMessage is a typical order event, about 200 bytes.
const orderMessage = `{"orderId":"ord-000123","userId":"user-42","itemName":"Espresso machine","quantity":1,"status":"PLACED","timestamp":"2025-03-04T05:06:07Z"}`

// BenchmarkSign measures the signing cost of one notification envelope: the
// string to sign is built and signed (SignatureVersion 1 = SHA1withRSA, 2 =
// SHA256withRSA, RSA-2048), as Publish does once per message.
func BenchmarkSign(b *testing.B) {
	signer := testSigner(b)
	for _, version := range []int{1, 2} {
		b.Run(fmt.Sprintf("SignatureVersion=%d", version), func(b *testing.B) {
			for b.Loop() {
				data := sns.StringToSign(orderMessage, "0b8d7f5e-7b5c-4a8e-9c3e-2f6a1d4b9e01", "", "2025-03-04T05:06:07.891Z",
					"arn:aws:sns:us-east-1:000000000000:OrderTopic", "Notification")
				if _, err := signer.Sign(version, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPublish measures Publish through the real SDK client over
// loopback HTTP, to one sqs subscription on a fake Queues that accepts
// everything: the rate of deliveries and the Publish latency (p50, p99) with
// 1 and 8 concurrent publishers, for signed envelopes (SignatureVersion 1)
// and for raw delivery (no envelope, no signature).
func BenchmarkPublish(b *testing.B) {
	for _, raw := range []bool{false, true} {
		for _, publishers := range []int{1, 8} {
			mode := "envelope"
			if raw {
				mode = "raw"
			}
			b.Run(fmt.Sprintf("%s/publishers=%d", mode, publishers), func(b *testing.B) {
				benchPublish(b, raw, publishers)
			})
		}
	}
}

func benchPublish(b *testing.B, raw bool, publishers int) {
	var delivered atomic.Int64
	var baseURL string
	svc, err := sns.New(sns.Options{
		Clock:  clock.Real(),
		Env:    awsenv.Env{BaseURL: func() string { return baseURL }},
		Queues: queuesFunc(func(context.Context, sns.Delivery) error { delivered.Add(1); return nil }),
		Signer: testSigner(b),
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	baseURL = srv.URL
	client := awssns.New(awssns.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * publishers}},
	})
	ctx := context.Background()
	topic, err := svc.CreateTopic(ctx, "OrderTopic", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	attrs := map[string]string{}
	if raw {
		attrs["RawMessageDelivery"] = "true"
	}
	if _, err := svc.Subscribe(ctx, topic, "sqs", "arn:aws:sqs:us-east-1:000000000000:OrderQueue", attrs); err != nil {
		b.Fatal(err)
	}
	in := &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(orderMessage)}
	if _, err := client.Publish(ctx, in); err != nil { // warm the connection
		b.Fatal(err)
	}
	delivered.Store(0)

	latencies := make([][]time.Duration, publishers)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if _, err := client.Publish(ctx, in); err != nil {
					b.Error(err)
					return
				}
				latencies[p] = append(latencies[p], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) == 0 || delivered.Load() != int64(b.N) {
		b.Fatalf("delivered %d of %d", delivered.Load(), b.N)
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkServePublish measures the server's share of Publish and of a
// PublishBatch of ten: the Query request decoded, the message delivered
// raw to one sqs subscription on a fake Queues, the response written. No
// HTTP and no SDK client: allocs/op are the server's own.
func BenchmarkServePublish(b *testing.B) {
	svc, err := sns.New(sns.Options{
		Clock:  clock.Real(),
		Env:    awsenv.Env{BaseURL: func() string { return "http://127.0.0.1:4566" }},
		Queues: queuesFunc(func(context.Context, sns.Delivery) error { return nil }),
		Signer: testSigner(b),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	topic, err := svc.CreateTopic(ctx, "OrderTopic", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Subscribe(ctx, topic, "sqs", "arn:aws:sqs:us-east-1:000000000000:OrderQueue", map[string]string{"RawMessageDelivery": "true"}); err != nil {
		b.Fatal(err)
	}
	one := url.Values{"Action": {"Publish"}, "Version": {"2010-03-31"}, "TopicArn": {topic}, "Message": {orderMessage}}
	batch := url.Values{"Action": {"PublishBatch"}, "Version": {"2010-03-31"}, "TopicArn": {topic}}
	for i := 1; i <= 10; i++ {
		batch.Set(fmt.Sprintf("PublishBatchRequestEntries.member.%d.Id", i), fmt.Sprintf("m%d", i))
		batch.Set(fmt.Sprintf("PublishBatchRequestEntries.member.%d.Message", i), orderMessage)
	}
	for _, c := range []struct {
		name string
		form url.Values
	}{{"Publish", one}, {"PublishBatch=10", batch}} {
		body := c.form.Encode()
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w := httptest.NewRecorder()
				svc.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

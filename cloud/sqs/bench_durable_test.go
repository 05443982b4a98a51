package sqs_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
)

// served mounts an SQS service, in memory or on a data file in a temporary
// directory, on a loopback server, with an SDK client for it.
func served(b *testing.B, file bool) *fixture {
	b.Helper()
	f := &fixture{}
	opts := cloudsqs.Options{}
	if file {
		f.db = openDB(b, b.TempDir())
		opts.DB = f.db
	}
	var srv *httptest.Server
	opts.BaseURL = func() string { return srv.URL }
	var err error
	if f.svc, err = cloudsqs.New(opts); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.svc.Close() })
	srv = httptest.NewServer(f.svc)
	b.Cleanup(srv.Close)
	f.url = srv.URL
	f.client = sqs.New(sqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	return f
}

// parallel runs op(i) for i in [0, n) on workers goroutines and returns
// how long it took.
func parallel(b *testing.B, workers, n int, op func(i int) error) time.Duration {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkRequests measures single-message SendMessage, ReceiveMessage
// (of one message, which goes in flight) and DeleteMessage requests
// through the real SDK over loopback HTTP, in memory and on a data file
// (where every request waits for its group commit), with 1 and 8 concurrent
// clients. One op is one request; req/s is the throughput.
func BenchmarkRequests(b *testing.B) {
	body := aws.String(`{"orderId":"o-1","userId":"u-1","itemName":"book","quantity":1,"status":"placed"}`)
	for _, store := range []string{"memory", "file"} {
		for _, op := range []string{"send", "receive", "delete"} {
			for _, workers := range []int{1, 8} {
				b.Run(fmt.Sprintf("store=%s/op=%s/workers=%d", store, op, workers), func(b *testing.B) {
					f := served(b, store == "file")
					u := f.createQueue(b, "bench", map[string]string{"VisibilityTimeout": "3600"})
					ctx := context.Background()
					send := func(int) error {
						_, err := f.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: body})
						return err
					}
					var handles []*string
					if op != "send" {
						parallel(b, 16, b.N, send)
					}
					if op == "delete" {
						for len(handles) < b.N {
							out, err := f.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), MaxNumberOfMessages: 10})
							if err != nil || len(out.Messages) == 0 {
								b.Fatalf("receiving the handles to delete: %v", err)
							}
							for _, m := range out.Messages {
								handles = append(handles, m.ReceiptHandle)
							}
						}
					}
					run := map[string]func(int) error{
						"send": send,
						"receive": func(int) error {
							out, err := f.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(u)})
							if err == nil && len(out.Messages) != 1 {
								err = fmt.Errorf("received %d messages, want 1", len(out.Messages))
							}
							return err
						},
						"delete": func(i int) error {
							_, err := f.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: handles[i]})
							return err
						},
					}[op]
					before := f.svc.Engine().JournalStats()
					b.ResetTimer()
					took := parallel(b, workers, b.N, run)
					b.ReportMetric(float64(b.N)/took.Seconds(), "req/s")
					if f.db != nil {
						st := f.svc.Engine().JournalStats()
						commits := max(st.Commits-before.Commits, 1)
						b.ReportMetric(float64(st.Records-before.Records)/float64(commits), "records/commit")
						b.ReportMetric(float64((st.CommitTime-before.CommitTime).Microseconds())/float64(commits), "µs/commit")
					}
				})
			}
		}
	}
}

package cloud_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud/cloudtest"
)

// BenchmarkSNSToSQS measures SNS publishing to an SQS subscription with the
// envelope (signed) or raw, end to end through the real SDK over loopback:
// publishers call Publish, receivers long-poll 10 at a time and delete in
// batches. It reports messages per second and the publish-to-receive
// latency's p50 and p99.
func BenchmarkSNSToSQS(b *testing.B) {
	for _, raw := range []bool{false, true} {
		for _, publishers := range []int{1, 8} {
			name := fmt.Sprintf("envelope/publishers=%d", publishers)
			if raw {
				name = fmt.Sprintf("raw/publishers=%d", publishers)
			}
			b.Run(name, func(b *testing.B) { benchSNSToSQS(b, publishers, raw) })
		}
	}
}

func benchSNSToSQS(b *testing.B, publishers int, raw bool) {
	_, cfg := cloudtest.Start(b)
	ctx := context.Background()
	snsClient, sqsClient := awssns.NewFromConfig(cfg), awssqs.NewFromConfig(cfg)
	topic, err := snsClient.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	q, err := sqsClient.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	queueARN := "arn:aws:sqs:us-east-1:000000000000:bench"
	if _, err := sqsClient.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: q.QueueUrl, Attributes: map[string]string{
		"Policy": fmt.Sprintf(`{"Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":%q,"Condition":{"ArnEquals":{"aws:SourceArn":%q}}}]}`, queueARN, *topic.TopicArn),
	}}); err != nil {
		b.Fatal(err)
	}
	attrs := map[string]string{}
	if raw {
		attrs["RawMessageDelivery"] = "true"
	}
	if _, err := snsClient.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN), Attributes: attrs}); err != nil {
		b.Fatal(err)
	}

	total := b.N
	var (
		received  atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, total)
		wg        sync.WaitGroup
	)
	rctx, stop := context.WithTimeout(ctx, 5*time.Minute)
	defer stop()
	for range 4 { // receivers
		wg.Go(func() {
			for received.Load() < int64(total) && rctx.Err() == nil {
				out, err := sqsClient.ReceiveMessage(rctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					continue
				}
				now := time.Now()
				var entries []sqstypes.DeleteMessageBatchRequestEntry
				mu.Lock()
				for i, m := range out.Messages {
					body := aws.ToString(m.Body)
					if !raw {
						var env struct{ Message string }
						json.Unmarshal([]byte(body), &env)
						body = env.Message
					}
					sent, _ := strconv.ParseInt(body, 10, 64)
					latencies = append(latencies, now.Sub(time.Unix(0, sent)))
					entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
				}
				mu.Unlock()
				received.Add(int64(len(out.Messages)))
				if len(entries) > 0 {
					sqsClient.DeleteMessageBatch(rctx, &awssqs.DeleteMessageBatchInput{QueueUrl: q.QueueUrl, Entries: entries})
				}
			}
		})
	}
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var pwg sync.WaitGroup
	for range publishers {
		pwg.Go(func() {
			for next.Add(1) <= int64(total) {
				msg := strconv.FormatInt(time.Now().UnixNano(), 10)
				if _, err := snsClient.Publish(ctx, &awssns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(msg)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	pwg.Wait()
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if received.Load() < int64(total) {
		b.Fatalf("received %d of %d", received.Load(), total)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}

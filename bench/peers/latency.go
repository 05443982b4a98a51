package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/sivchari/kumo"

	"github.com/orderflow/orderflow/internal/local"
)

// sender sends one message a request.
type sender interface {
	createQueue(ctx context.Context, name string, attrs map[string]string) (string, error)
	send(ctx context.Context, queueURL, body string) error
}

func (q *querySQS) send(ctx context.Context, queueURL, body string) error {
	return q.call(ctx, queueURL, map[string][]string{"Action": {"SendMessage"}, "QueueUrl": {queueURL}, "MessageBody": {body}}, nil)
}

func (q *sdkSQS) send(ctx context.Context, queueURL, body string) error {
	_, err := q.c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)})
	return err
}

// runSendLatency times single SendMessage requests from one client, one
// after the other over loopback: warm sends first, unmeasured (connection,
// queue, the server's first allocations), then n measured. stack is
// orderflow, goaws or kumo; durable puts orderflow on a data file; json
// speaks SQS's JSON protocol through the SDK instead of Query form posts.
// It returns the measured requests' p50 and p99.
func runSendLatency(ctx context.Context, stack string, durable, json bool, warm, n int) (p50, p99 time.Duration, err error) {
	var url string
	switch stack {
	case "goaws":
		url = startGoaws().url
	case "kumo":
		srv := kumo.NewServer()
		defer srv.Close()
		url = srv.URL
	case "orderflow":
		p, stop, err := startOrderflow(ctx, local.Options{Addr: "127.0.0.1:0"}, durable)
		if err != nil {
			return 0, 0, err
		}
		defer stop()
		url = p.Cloud.URL()
	default:
		return 0, 0, fmt.Errorf("no stack %q", stack)
	}
	var s sender = newQuerySQS(url)
	if json {
		s = newSDKSQS(url)
	}
	qURL, err := s.createQueue(ctx, fmt.Sprintf("latency-%d", runs.Add(1)), nil)
	if err != nil {
		return 0, 0, err
	}
	const body = `{"orderId":"O1","userId":"U1","itemName":"Laptop","quantity":1,"status":"new","timestamp":"2025-05-03T12:00:00Z"}`
	for range warm {
		if err := s.send(ctx, qURL, body); err != nil {
			return 0, 0, err
		}
	}
	took := make([]time.Duration, n)
	for i := range took {
		start := time.Now()
		if err := s.send(ctx, qURL, body); err != nil {
			return 0, 0, err
		}
		took[i] = time.Since(start)
	}
	slices.Sort(took)
	return quantile(took, 0.50), quantile(took, 0.99), nil
}

// quantile is the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

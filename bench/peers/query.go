package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud/lambda"
)

// querySQS speaks SQS's Query protocol (form posts, XML answers), which
// every stack here understands (goaws speaks nothing else), so the SQS
// cycle compares the services, not the clients.
type querySQS struct {
	endpoint string
	client   *http.Client
}

func newQuerySQS(endpoint string) *querySQS {
	return &querySQS{endpoint: endpoint, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

func (q *querySQS) call(ctx context.Context, target string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// A credential scope naming sqs, as SigV4 clients send: the embedded
	// cloud routes by it (no signature is checked by either stack here).
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=bench/20250101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := q.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", form.Get("Action"), resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if out != nil {
		return xml.Unmarshal(body, out)
	}
	return nil
}

func (q *querySQS) createQueue(ctx context.Context, name string, attrs map[string]string) (string, error) {
	f := url.Values{"Action": {"CreateQueue"}, "QueueName": {name}}
	i := 1
	for k, v := range attrs {
		f.Set(fmt.Sprintf("Attribute.%d.Name", i), k)
		f.Set(fmt.Sprintf("Attribute.%d.Value", i), v)
		i++
	}
	var out struct {
		URL string `xml:"CreateQueueResult>QueueUrl"`
	}
	err := q.call(ctx, q.endpoint, f, &out)
	return out.URL, err
}

func (q *querySQS) sendBatch(ctx context.Context, queueURL string, bodies []string) error {
	f := url.Values{"Action": {"SendMessageBatch"}, "QueueUrl": {queueURL}}
	for i, b := range bodies {
		f.Set(fmt.Sprintf("SendMessageBatchRequestEntry.%d.Id", i+1), strconv.Itoa(i))
		f.Set(fmt.Sprintf("SendMessageBatchRequestEntry.%d.MessageBody", i+1), b)
	}
	return q.call(ctx, queueURL, f, nil)
}

type queryMessage struct {
	MessageID     string `xml:"MessageId"`
	ReceiptHandle string `xml:"ReceiptHandle"`
	Body          string `xml:"Body"`
	MD5OfBody     string `xml:"MD5OfBody"`
	Attributes    []struct {
		Name  string `xml:"Name"`
		Value string `xml:"Value"`
	} `xml:"Attribute"`
}

func (q *querySQS) receive(ctx context.Context, queueURL string, max int, wait time.Duration) ([]queryMessage, error) {
	f := url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {queueURL}, "MaxNumberOfMessages": {strconv.Itoa(max)},
		"WaitTimeSeconds": {strconv.Itoa(int(wait / time.Second))}, "AttributeName.1": {"All"}}
	var out struct {
		Messages []queryMessage `xml:"ReceiveMessageResult>Message"`
	}
	err := q.call(ctx, queueURL, f, &out)
	return out.Messages, err
}

func (q *querySQS) deleteBatch(ctx context.Context, queueURL string, receipts []string) error {
	f := url.Values{"Action": {"DeleteMessageBatch"}, "QueueUrl": {queueURL}}
	for i, r := range receipts {
		f.Set(fmt.Sprintf("DeleteMessageBatchRequestEntry.%d.Id", i+1), strconv.Itoa(i))
		f.Set(fmt.Sprintf("DeleteMessageBatchRequestEntry.%d.ReceiptHandle", i+1), r)
	}
	return q.call(ctx, queueURL, f, nil)
}

// cycler is what the SQS cycle does, in either protocol.
type cycler interface {
	createQueue(ctx context.Context, name string, attrs map[string]string) (string, error)
	sendBatch(ctx context.Context, queueURL string, bodies []string) error
	receiveHandles(ctx context.Context, queueURL string, max int) ([]string, error)
	deleteBatch(ctx context.Context, queueURL string, receipts []string) error
}

func (q *querySQS) receiveHandles(ctx context.Context, queueURL string, max int) ([]string, error) {
	msgs, err := q.receive(ctx, queueURL, max, 0)
	rh := make([]string, len(msgs))
	for i, m := range msgs {
		rh[i] = m.ReceiptHandle
	}
	return rh, err
}

// sdkSQS is the cycle over SQS's JSON protocol, through aws-sdk-go-v2.
type sdkSQS struct{ c *awssqs.Client }

func newSDKSQS(endpoint string) *sdkSQS {
	return &sdkSQS{awssqs.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), HTTPClient: sharedClient,
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")})}
}

func (q *sdkSQS) createQueue(ctx context.Context, name string, attrs map[string]string) (string, error) {
	out, err := q.c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.QueueUrl), nil
}

func (q *sdkSQS) sendBatch(ctx context.Context, queueURL string, bodies []string) error {
	entries := make([]sqstypes.SendMessageBatchRequestEntry, len(bodies))
	for i, b := range bodies {
		entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(b)}
	}
	out, err := q.c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
	if err == nil && len(out.Failed) > 0 {
		err = fmt.Errorf("SendMessageBatch: %d failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
	}
	return err
}

func (q *sdkSQS) receiveHandles(ctx context.Context, queueURL string, max int) ([]string, error) {
	out, err := q.c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: int32(max),
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"}})
	if err != nil {
		return nil, err
	}
	rh := make([]string, len(out.Messages))
	for i, m := range out.Messages {
		rh[i] = aws.ToString(m.ReceiptHandle)
	}
	return rh, nil
}

func (q *sdkSQS) deleteBatch(ctx context.Context, queueURL string, receipts []string) error {
	entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(receipts))
	for i, r := range receipts {
		entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r)}
	}
	out, err := q.c.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
	if err == nil && len(out.Failed) > 0 {
		err = fmt.Errorf("DeleteMessageBatch: %d failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
	}
	return err
}

// queues adapts querySQS to the function host's Queues, so the same host
// polls every stack.
type queues struct {
	q        *querySQS
	arnToURL map[string]string
}

func (a queues) Lookup(_ context.Context, arn string) (lambda.QueueInfo, error) {
	u, ok := a.arnToURL[arn]
	if !ok {
		return lambda.QueueInfo{}, fmt.Errorf("unknown queue %s", arn)
	}
	return lambda.QueueInfo{ARN: arn, URL: u, Region: "us-east-1", VisibilityTimeoutSec: 60}, nil
}

func (a queues) Receive(ctx context.Context, info lambda.QueueInfo, max int, wait time.Duration) ([]events.SQSMessage, error) {
	msgs, err := a.q.receive(ctx, info.URL, max, wait)
	if err != nil {
		return nil, err
	}
	recs := make([]events.SQSMessage, len(msgs))
	for i, m := range msgs {
		attrs := map[string]string{}
		for _, at := range m.Attributes {
			attrs[at.Name] = at.Value
		}
		recs[i] = events.SQSMessage{MessageId: m.MessageID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, Md5OfBody: m.MD5OfBody,
			Attributes: attrs, EventSource: "aws:sqs", EventSourceARN: info.ARN, AWSRegion: info.Region}
	}
	return recs, nil
}

func (a queues) Delete(ctx context.Context, info lambda.QueueInfo, recs []events.SQSMessage) error {
	for start := 0; start < len(recs); start += 10 {
		var rh []string
		for _, r := range recs[start:min(start+10, len(recs))] {
			rh = append(rh, r.ReceiptHandle)
		}
		if err := a.q.deleteBatch(ctx, info.URL, rh); err != nil {
			return err
		}
	}
	return nil
}

package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/ordergen"
)

// The ceiling stack: an HTTP server on 127.0.0.1 that answers every request
// the workloads make with a canned, valid answer and keeps no messages, no
// queues, no tables. What a workload reaches against it is what the
// benchmark's own clients (the SDK, the small Query client, the function
// host and handler) and Go's HTTP stack allow on this machine: no service
// can do better on the same requests.
//
// It reads each request's whole body (as any service must), finds the
// operation (X-Amz-Target for JSON, the form's Action for Query) and writes
// a byte slice prepared at start. Answers that the SDK checks are valid:
// ReceiveMessage returns ten messages whose MD5OfBody match their bodies,
// SendMessageBatch returns the MD5 of the cycle's ten bodies under their
// Ids, DeleteMessageBatch and PublishBatch list as many Successful entries
// as the request has (Ids 0..n-1, as the function host and the cycle number
// them; the pipeline's PublishBatch numbers its entries globally and the SDK
// does not check them), and DynamoDB's answers carry X-Amz-Crc32.
//
// The pipeline on the ceiling makes the two requests an order cannot do
// without: the publishers' Publish (or PublishBatch, ten orders a request)
// and the handler's conditional PutItem, through the same publishers,
// function host and handler as on every stack. The host is fed in process
// (as orderflow's own host polls its engine): a receive hands out canned
// orders, up to ten, from the orders published and not yet handed out,
// the one counter the ceiling keeps, and waits for a publish when there are
// none. The peers' hosts also receive and delete over HTTP (a tenth of a
// request an order at best), which the ceiling does not count.
type ceiling struct {
	srv  *http.Server
	url  string
	cfg  aws.Config
	jsn  map[string][]byte // X-Amz-Target operation → answer
	qry  map[string][]byte // Query Action → answer
	del  [2][11][]byte     // DeleteMessageBatch answers by count: [0] JSON, [1] Query
	pubB [11][]byte        // PublishBatch answers by count
	ddb  map[string][]byte // DynamoDB operation → answer
	crc  map[string]string // its X-Amz-Crc32

	records [10]events.SQSMessage // the canned orders the function receives

	// The pipeline's one counter: a token for each order published and not
	// yet received (the tokens take no memory), so that one waiting
	// receive wakes per order, as on a queue.
	published chan struct{}
}

// cycleBodies are the ten bodies the SQS cycle sends in every batch.
var cycleBodies = func() []string {
	b := make([]string, 10)
	for i := range b {
		b[i] = fmt.Sprintf(`{"orderId":"O%d","userId":"U1","itemName":"Laptop","quantity":1,"status":"new","timestamp":"2025-05-03T12:00:00Z"}`, i)
	}
	return b
}()

const ceilingQueue = "OrderQueueCeiling"

var ceilingOnce sync.Once
var ceilingShared *ceiling

// startCeiling starts the ceiling server once for the run.
func startCeiling() *ceiling {
	ceilingOnce.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		c := newCeiling("http://" + l.Addr().String())
		c.srv = &http.Server{Handler: c}
		go c.srv.Serve(l)
		ceilingShared = c
	})
	return ceilingShared
}

func md5hex(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

func newCeiling(url string) *ceiling {
	c := &ceiling{url: url, jsn: map[string][]byte{}, qry: map[string][]byte{}, ddb: map[string][]byte{}, crc: map[string]string{}}
	c.cfg = aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url), HTTPClient: sharedClient,
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")}
	c.published = make(chan struct{}, 1<<26)
	orders, err := ordergen.Generate(ordergen.Options{Count: 10, Seed: 1})
	if err != nil {
		panic(err)
	}
	const account = "000000000000"
	queueURL := url + "/" + account + "/" + ceilingQueue
	queueARN := "arn:aws:sqs:us-east-1:" + account + ":" + ceilingQueue
	mj := func(v any) []byte { b, _ := json.Marshal(v); return b }

	// SQS, JSON protocol.
	type msg struct {
		MessageId, ReceiptHandle, MD5OfBody, Body string
		Attributes                                map[string]string
	}
	msgs := make([]msg, 10)
	for i, e := range orders.Events {
		msgs[i] = msg{MessageId: fmt.Sprintf("5fea7756-0ea4-451a-a703-a558b933e2%02d", i), ReceiptHandle: fmt.Sprintf("AQEBceiling%02d", i),
			MD5OfBody: md5hex(e.Body), Body: e.Body, Attributes: map[string]string{"ApproximateReceiveCount": "1",
				"SentTimestamp": "1764979200000", "SenderId": account, "ApproximateFirstReceiveTimestamp": "1764979200000"}}
	}
	type entry struct {
		Id, MessageId, MD5OfMessageBody string `json:",omitempty"`
	}
	sent := make([]entry, 10)
	for i, b := range cycleBodies {
		sent[i] = entry{Id: strconv.Itoa(i), MessageId: msgs[i].MessageId, MD5OfMessageBody: md5hex(b)}
	}
	cycleURL := url + "/" + account + "/CycleQueueCeiling"
	c.jsn["CreateQueue"] = mj(map[string]string{"QueueUrl": cycleURL})
	c.jsn["GetQueueUrl"] = mj(map[string]string{"QueueUrl": queueURL})
	c.jsn["GetQueueAttributes"] = mj(map[string]any{"Attributes": map[string]string{"QueueArn": queueARN, "VisibilityTimeout": "60"}})
	c.jsn["SendMessageBatch"] = mj(map[string]any{"Successful": sent, "Failed": []any{}})
	c.jsn["ReceiveMessage"] = mj(map[string]any{"Messages": msgs})
	for n := range 11 {
		ok := make([]entry, n)
		var q strings.Builder
		for i := range ok {
			ok[i] = entry{Id: strconv.Itoa(i)}
			fmt.Fprintf(&q, "<DeleteMessageBatchResultEntry><Id>%d</Id></DeleteMessageBatchResultEntry>", i)
		}
		c.del[0][n] = mj(map[string]any{"Successful": ok, "Failed": []any{}})
		c.del[1][n] = []byte(`<?xml version="1.0"?><DeleteMessageBatchResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><DeleteMessageBatchResult>` +
			q.String() + `</DeleteMessageBatchResult><ResponseMetadata><RequestId>ceiling</RequestId></ResponseMetadata></DeleteMessageBatchResponse>`)
	}
	for i, m := range msgs {
		c.records[i] = events.SQSMessage{MessageId: m.MessageId, ReceiptHandle: m.ReceiptHandle, Body: m.Body, Md5OfBody: m.MD5OfBody,
			Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: queueARN, AWSRegion: "us-east-1"}
	}

	// SQS, Query protocol (the bench's own Query client).
	sqsQ := func(action, result string) []byte {
		return []byte(`<?xml version="1.0"?><` + action + `Response xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><` + action + `Result>` + result +
			`</` + action + `Result><ResponseMetadata><RequestId>ceiling</RequestId></ResponseMetadata></` + action + `Response>`)
	}
	c.qry["CreateQueue"] = sqsQ("CreateQueue", "<QueueUrl>"+cycleURL+"</QueueUrl>")
	var sb strings.Builder
	for _, e := range sent {
		fmt.Fprintf(&sb, "<SendMessageBatchResultEntry><Id>%s</Id><MessageId>%s</MessageId><MD5OfMessageBody>%s</MD5OfMessageBody></SendMessageBatchResultEntry>", e.Id, e.MessageId, e.MD5OfMessageBody)
	}
	c.qry["SendMessageBatch"] = sqsQ("SendMessageBatch", sb.String())
	sb.Reset()
	for _, m := range msgs {
		fmt.Fprintf(&sb, "<Message><MessageId>%s</MessageId><ReceiptHandle>%s</ReceiptHandle><MD5OfBody>%s</MD5OfBody><Body>", m.MessageId, m.ReceiptHandle, m.MD5OfBody)
		xmlEscape(&sb, m.Body)
		sb.WriteString("</Body>")
		for _, k := range []string{"ApproximateFirstReceiveTimestamp", "ApproximateReceiveCount", "SenderId", "SentTimestamp"} {
			fmt.Fprintf(&sb, "<Attribute><Name>%s</Name><Value>%s</Value></Attribute>", k, m.Attributes[k])
		}
		sb.WriteString("</Message>")
	}
	c.qry["ReceiveMessage"] = sqsQ("ReceiveMessage", sb.String())

	// SNS (Query protocol only).
	snsQ := func(action, result string) []byte {
		return []byte(`<` + action + `Response xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><` + action + `Result>` + result +
			`</` + action + `Result><ResponseMetadata><RequestId>ceiling</RequestId></ResponseMetadata></` + action + `Response>`)
	}
	topicARN := "arn:aws:sns:us-east-1:" + account + ":OrderTopicCeiling"
	c.qry["CreateTopic"] = snsQ("CreateTopic", "<TopicArn>"+topicARN+"</TopicArn>")
	c.qry["Subscribe"] = snsQ("Subscribe", "<SubscriptionArn>"+topicARN+":7e3c2bc8-2d8a-4b54-b1a5-b12cd7d4a0c1</SubscriptionArn>")
	c.qry["SetSubscriptionAttributes"] = []byte(`<SetSubscriptionAttributesResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ResponseMetadata><RequestId>ceiling</RequestId></ResponseMetadata></SetSubscriptionAttributesResponse>`)
	c.qry["Publish"] = snsQ("Publish", "<MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e90b</MessageId>")
	for n := range 11 {
		sb.Reset()
		for i := range n {
			fmt.Fprintf(&sb, "<member><Id>%d</Id><MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e9%02d</MessageId></member>", i, i)
		}
		c.pubB[n] = snsQ("PublishBatch", "<Successful>"+sb.String()+"</Successful><Failed/>")
	}

	// DynamoDB.
	c.ddb["PutItem"] = []byte(`{}`)
	c.ddb["CreateTable"] = mj(map[string]any{"TableDescription": map[string]any{"TableName": "Orders", "TableStatus": "ACTIVE",
		"TableArn": "arn:aws:dynamodb:us-east-1:" + account + ":table/Orders"}})
	for k, v := range c.ddb {
		c.crc[k] = strconv.FormatUint(uint64(crc32.ChecksumIEEE(v)), 10)
	}
	return c
}

func xmlEscape(sb *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '<':
			sb.WriteString("&lt;")
		case '>':
			sb.WriteString("&gt;")
		case '&':
			sb.WriteString("&amp;")
		case '"':
			sb.WriteString("&quot;")
		default:
			sb.WriteRune(r)
		}
	}
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (c *ceiling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bodyPool.Put(buf)
	if _, err := io.Copy(buf, io.LimitReader(r.Body, 1<<20)); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body := buf.Bytes()
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		svc, op, _ := strings.Cut(target, ".")
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-Requestid", "ceiling")
		var out []byte
		switch {
		case svc == "DynamoDB_20120810":
			out = c.ddb[op]
			w.Header().Set("X-Amz-Crc32", c.crc[op])
		case op == "DeleteMessageBatch":
			out = c.del[0][min(bytes.Count(body, []byte(`"ReceiptHandle"`)), 10)]
		default:
			out = c.jsn[op]
		}
		if out == nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"com.amazonaws.sqs#InvalidAction","message":"the ceiling does not answer %s"}`, target)
			return
		}
		w.Write(out)
		return
	}
	// Query: the SDK and the bench's client both put Action first.
	action := ""
	if rest, ok := bytes.CutPrefix(body, []byte("Action=")); ok {
		if i := bytes.IndexByte(rest, '&'); i >= 0 {
			rest = rest[:i]
		}
		action = string(rest)
	}
	w.Header().Set("Content-Type", "text/xml")
	var out []byte
	switch action {
	case "DeleteMessageBatch":
		out = c.del[1][min(bytes.Count(body, []byte(".ReceiptHandle=")), 10)]
	case "PublishBatch":
		n := min(bytes.Count(body, []byte(".Message=")), 10)
		out = c.pubB[n]
		c.give(n)
	case "Publish":
		out = c.qry[action]
		c.give(1)
	default:
		out = c.qry[action]
	}
	if out == nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>the ceiling does not answer %q</Message></Error><RequestId>ceiling</RequestId></ErrorResponse>`, action)
		return
	}
	w.Write(out)
}

// give adds n published orders for the pipeline's function to receive.
func (c *ceiling) give(n int) {
	for range n {
		c.published <- struct{}{}
	}
}

// take hands out up to ten published orders; a long-polling receive waits
// up to a second for the first (the function host polls again).
func (c *ceiling) take(ctx context.Context, wait bool) int {
	n := 0
	if wait {
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-c.published:
			n = 1
		case <-t.C:
			return 0
		case <-ctx.Done():
			return 0
		}
	}
	for n < 10 {
		select {
		case <-c.published:
			n++
		default:
			return n
		}
	}
	return n
}

// drain forgets the orders published and not received (between runs).
func (c *ceiling) drain() {
	for {
		select {
		case <-c.published:
		default:
			return
		}
	}
}

// ceilingQueues feeds the function host the orders published to the
// ceiling, in process.
type ceilingQueues struct{ c *ceiling }

func (q ceilingQueues) Lookup(_ context.Context, arn string) (lambda.QueueInfo, error) {
	return lambda.QueueInfo{ARN: arn, URL: q.c.url + "/000000000000/" + ceilingQueue, Region: "us-east-1", VisibilityTimeoutSec: 60}, nil
}

func (q ceilingQueues) Receive(ctx context.Context, _ lambda.QueueInfo, max int, wait time.Duration) ([]events.SQSMessage, error) {
	n := min(q.c.take(ctx, wait > 0), max)
	return append([]events.SQSMessage(nil), q.c.records[:n]...), nil
}

func (ceilingQueues) Delete(context.Context, lambda.QueueInfo, []events.SQSMessage) error { return nil }

// runCeilingPipeline runs the pipeline against the ceiling: the same
// publishers, function host and handler as on the other stacks.
func runCeilingPipeline(ctx context.Context, n, publishers int, batch bool) (float64, error) {
	c := startCeiling()
	c.drain()
	id := strconv.FormatInt(runs.Add(1), 10)
	return runPeer(ctx, peer{
		sns: awssns.NewFromConfig(c.cfg), ddbCfg: c.cfg, id: id,
		queueARN: "arn:aws:sqs:us-east-1:000000000000:" + ceilingQueue, queueURL: c.url + "/000000000000/" + ceilingQueue,
		queues: ceilingQueues{c},
	}, n, publishers, true, batch)
}

package sns_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/sns"
)

// fakeQueues is a hand-written Queues fake: it records every delivery and
// answers with DeliverFunc (nil means success).
type fakeQueues struct {
	DeliverFunc func(ctx context.Context, d sns.Delivery) error

	mu         sync.Mutex
	deliveries []sns.Delivery
	accepted   []sns.Delivery
	notify     chan sns.Delivery
}

var _ sns.Queues = (*fakeQueues)(nil)

func (f *fakeQueues) Deliver(ctx context.Context, d sns.Delivery) error {
	var err error
	if f.DeliverFunc != nil {
		err = f.DeliverFunc(ctx, d)
	}
	f.mu.Lock()
	f.deliveries = append(f.deliveries, d)
	if err == nil {
		f.accepted = append(f.accepted, d)
	}
	ch := f.notify
	f.mu.Unlock()
	if ch != nil {
		ch <- d
	}
	return err
}

// to returns the deliveries queueARN accepted, in order.
func (f *fakeQueues) to(queueARN string) []sns.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sns.Delivery
	for _, d := range f.accepted {
		if d.QueueARN == queueARN {
			out = append(out, d)
		}
	}
	return out
}

// attempts returns how many deliveries to queueARN were tried.
func (f *fakeQueues) attempts(queueARN string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, d := range f.deliveries {
		if d.QueueARN == queueARN {
			n++
		}
	}
	return n
}

var (
	signerOnce   sync.Once
	sharedSigner *sns.RSASigner
	signerErr    error
)

// testSigner is one RSA key for the whole test binary: generating a key per
// test would dominate the suite's time.
func testSigner(t testing.TB) *sns.RSASigner {
	t.Helper()
	signerOnce.Do(func() { sharedSigner, signerErr = sns.NewRSASigner(nil, time.Now()) })
	if signerErr != nil {
		t.Fatalf("NewRSASigner: %v", signerErr)
	}
	return sharedSigner
}

type env struct {
	svc    *sns.Service
	srv    *httptest.Server
	client *awssns.Client
	queues *fakeQueues
	clock  *clock.Fake
}

// newEnv mounts a Service on a loopback httptest server, with a fake clock
// and fake queues, and an SDK client pointed at it.
func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{queues: &fakeQueues{}, clock: clock.NewFake(time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC))}
	var baseURL string
	svc, err := sns.New(sns.Options{
		Clock:   e.clock,
		BaseURL: func() string { return baseURL },
		Queues:  e.queues,
		Signer:  testSigner(t),
	})
	if err != nil {
		t.Fatalf("sns.New: %v", err)
	}
	e.svc = svc
	e.srv = httptest.NewServer(svc)
	baseURL = e.srv.URL
	t.Cleanup(func() {
		e.srv.Close()
		svc.Close()
	})
	e.client = awssns.New(awssns.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:   e.srv.Client(),
	})
	return e
}

const account = "000000000000"

func queueARN(name string) string { return "arn:aws:sqs:us-east-1:" + account + ":" + name }

func (e *env) createTopic(t testing.TB, name string, attrs map[string]string) string {
	t.Helper()
	out, err := e.client.CreateTopic(context.Background(), &awssns.CreateTopicInput{Name: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateTopic(%s): %v", name, err)
	}
	return aws.ToString(out.TopicArn)
}

func (e *env) subscribe(t testing.TB, topicARN, queue string, attrs map[string]string) string {
	t.Helper()
	out, err := e.client.Subscribe(context.Background(), &awssns.SubscribeInput{
		TopicArn: aws.String(topicARN), Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN(queue)),
		Attributes: attrs, ReturnSubscriptionArn: true,
	})
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", queue, err)
	}
	return aws.ToString(out.SubscriptionArn)
}

// fetchCertificate GETs a certificate URL, as a verifying client does.
func fetchCertificate(t testing.TB, url string) *x509.Certificate {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, body)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		t.Fatalf("GET %s: not PEM: %q", url, body)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return cert
}

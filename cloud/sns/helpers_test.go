package sns_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
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

// A backend is where a test's service keeps its state: in memory, or on a
// data file (with the journal in front of it). A test gets one only from
// eachBackend, which runs it on every backend: a behaviour test cannot
// leave the durable backend out by being forgotten in a list.
type backend struct {
	name     string
	dataFile bool
}

var backends = []backend{{name: "in memory"}, {name: "on a data file", dataFile: true}}

// eachBackend runs test once on each backend, as parallel subtests named
// after the backend. Each run builds its own service (b.newEnv), so the
// runs share nothing.
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b)
		})
	}
}

// newEnv mounts a Service on a loopback httptest server, with a fake clock
// and fake queues, and an SDK client pointed at it. On a data file, when
// the test ends the env checks that a service loaded from the file holds
// what the service held.
func (b backend) newEnv(t testing.TB) *env {
	t.Helper()
	if b.name == "" {
		t.Fatal("a backend comes from eachBackend")
	}
	e := &env{queues: &fakeQueues{}, clock: clock.NewFake(time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC))}
	var baseURL string
	opts := sns.Options{
		Clock:  e.clock,
		Env:    awsenv.Env{BaseURL: func() string { return baseURL }},
		Queues: e.queues,
		Signer: testSigner(t),
	}
	if b.dataFile {
		opts.DB = openDB(t, t.TempDir())
	}
	svc, err := sns.New(opts)
	if err != nil {
		t.Fatalf("sns.New: %v", err)
	}
	e.svc = svc
	e.srv = httptest.NewServer(svc)
	baseURL = e.srv.URL
	svc.Start()
	t.Cleanup(func() {
		e.srv.Close()
		if opts.DB == nil {
			svc.Close()
			return
		}
		want := sns.DumpForTest(svc)
		if err := svc.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		opts.Clock = clock.NewFake(e.clock.Now())
		opts.Queues = &fakeQueues{DeliverFunc: func(context.Context, sns.Delivery) error { return errors.New("not now") }}
		reloaded, err := sns.New(opts)
		if err != nil {
			t.Errorf("reload: %v", err)
			return
		}
		defer reloaded.Close()
		if got := sns.DumpForTest(reloaded); got != want {
			t.Errorf("the service loaded from the file differs from the one that wrote it:\nloaded:\n%s\nwritten:\n%s", got, want)
		}
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

// openDB opens (creating) the data file in dir, closed when the test ends.
func openDB(t testing.TB, dir string) *bbolt.DB {
	t.Helper()
	db, err := journal.Open(filepath.Join(dir, "data.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

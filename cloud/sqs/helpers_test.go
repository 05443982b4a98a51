package sqs_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
	"github.com/orderflow/orderflow/internal/ownbody"
)

// t0 is where fake clocks start.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	svc    *cloudsqs.Service
	db     *bbolt.DB // nil in memory
	client *sqs.Client
	url    string
	clock  *clock.Fake // nil with the real clock
}

// A backend is where a test's service keeps its state: in memory, or on a
// data file (with the journal in front of it). A test gets one only from
// eachBackend, which runs it on every backend: a behaviour test cannot
// leave the durable backend out by being forgotten in a list.
type backend struct {
	name     string
	dataFile bool
}

var (
	inMemory   = backend{name: "in memory"}
	onDataFile = backend{name: "on a data file", dataFile: true}
	backends   = []backend{inMemory, onDataFile}
)

// eachBackend runs test once on each backend, as parallel subtests named
// after the backend. Each run builds its own services (b.newFixture,
// b.newEngine), so the runs share nothing.
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b)
		})
	}
}

// options returns service options for b: with a data file of its own when
// b keeps one. A backend not from eachBackend (or backends, for
// benchmarks) fails the test.
func (b backend) options(t testing.TB) cloudsqs.Options {
	t.Helper()
	if b.name == "" {
		t.Fatal("a backend comes from eachBackend")
	}
	if !b.dataFile {
		return cloudsqs.Options{}
	}
	return cloudsqs.Options{DB: openDB(t, t.TempDir())}
}

// newFixture mounts a Service on a loopback test server and returns a real
// SDK client for it. With fake true the service runs on a fake clock. On a
// data file, when the test ends the fixture checks that an engine loaded
// from the file holds what the service held.
func (b backend) newFixture(t testing.TB, fake bool) *fixture {
	t.Helper()
	return b.newFixtureWith(t, fake, nil)
}

// newFixtureWith is newFixture with options set by set (when not nil).
func (b backend) newFixtureWith(t testing.TB, fake bool, set func(*cloudsqs.Options)) *fixture {
	t.Helper()
	f := &fixture{}
	opts := b.options(t)
	if set != nil {
		set(&opts)
	}
	f.db = opts.DB
	if fake {
		f.clock = clock.NewFake(t0)
		opts.Clock = f.clock
	}
	var srv *httptest.Server
	opts.BaseURL = func() string { return srv.URL }
	var err error
	if f.svc, err = cloudsqs.New(opts); err != nil {
		t.Fatal(err)
	}
	if f.db != nil {
		t.Cleanup(func() { f.checkFileMatchesMemory(t, opts) })
	} else {
		t.Cleanup(func() { f.svc.Close() })
	}
	srv = httptest.NewServer(f.svc)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	f.client = newClient(srv.URL)
	return f
}

// newClient is a real SDK client for the endpoint, which never retries: a
// test sees every failure. Its HTTP client gives the transport a copy of
// each request body (package ownbody): without it, a test that makes
// thousands of requests fails now and then on the SDK's race between
// closing a request body and the transport writing it, which loses a 200
// answer ("use of closed network connection").
func newClient(endpoint string) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       ownbody.Client{Next: &http.Client{Transport: &http.Transport{}}},
	})
}

// newEngine returns an engine on b, for tests of the Go API, closed when
// the test ends.
func (b backend) newEngine(t testing.TB, opts cloudsqs.Options) *cloudsqs.Engine {
	t.Helper()
	opts.DB = b.options(t).DB
	e, err := cloudsqs.NewEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func ctxFor(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createQueue creates a queue and returns its URL.
func (f *fixture) createQueue(t testing.TB, name string, attrs map[string]string) string {
	t.Helper()
	out, err := f.client.CreateQueue(ctxFor(t), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue(%s): %v", name, err)
	}
	return *out.QueueUrl
}

func (f *fixture) arn(t testing.TB, queueURL string) string {
	t.Helper()
	return f.attr(t, queueURL, "QueueArn")
}

func (f *fixture) attr(t testing.TB, queueURL, name string) string {
	t.Helper()
	out, err := f.client.GetQueueAttributes(ctxFor(t), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeName(name)},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes(%s): %v", name, err)
	}
	return out.Attributes[name]
}

func (f *fixture) count(t testing.TB, queueURL, name string) int {
	t.Helper()
	n, err := strconv.Atoi(f.attr(t, queueURL, name))
	if err != nil {
		t.Fatalf("attribute %s: %v", name, err)
	}
	return n
}

func (f *fixture) send(t testing.TB, queueURL, body string) string {
	t.Helper()
	out, err := f.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	return *out.MessageId
}

// receive receives without waiting, with every system attribute.
func (f *fixture) receive(t testing.TB, queueURL string, max int32, visibility *int32) []types.Message {
	t.Helper()
	in := &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL), MaxNumberOfMessages: max,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	}
	if visibility != nil {
		in.VisibilityTimeout = *visibility
	}
	out, err := f.client.ReceiveMessage(ctxFor(t), in)
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

// advance moves the fake clock.
func (f *fixture) advance(d time.Duration) { f.clock.Advance(d) }

// apiCode returns the error code an SDK caller sees.
func apiCode(t testing.TB, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error", err)
	}
	return ae.ErrorCode()
}

func i32(n int32) *int32 { return &n }

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

// checkFileMatchesMemory closes the service (the server is closed by now)
// and compares its engine with one loaded from the data file, at one
// instant.
func (f *fixture) checkFileMatchesMemory(t testing.TB, opts cloudsqs.Options) {
	t.Helper()
	if err := f.svc.Close(); err != nil {
		t.Errorf("Close: %v", err)
		return
	}
	now := time.Now()
	if f.clock != nil {
		now = f.clock.Now()
	}
	opts.Clock = clock.NewFake(now)
	reloaded, err := cloudsqs.NewEngine(opts)
	if err != nil {
		t.Errorf("reload: %v", err)
		return
	}
	defer reloaded.Close()
	if got, want := cloudsqs.DumpForTest(reloaded, now), cloudsqs.DumpForTest(f.svc.Engine(), now); got != want {
		t.Errorf("the engine loaded from the file differs from the one that wrote it:\nloaded:\n%s\nwritten:\n%s", got, want)
	}
}

// Package cloud is orderflow's embedded cloud: AWS-compatible DynamoDB, SQS,
// SNS and S3 APIs behind one edge endpoint, started in-process or served on a
// port, for unmodified AWS clients (the SDKs, the AWS CLI) to use as if it
// were AWS. Beside them the edge serves CloudWatch Logs (whose Embedded
// Metric Format lines become metrics), the CloudWatch metrics API, the CloudFormation
// API (stacks, change sets, events), STS's GetCallerIdentity and the
// function host's Lambda API (functions, mappings, Invoke); Deploy creates
// or updates a stack from a template, and the function host (Cloud.Lambda) runs the
// Go handlers registered with it. It never imports the order code.
//
// By default any credentials are accepted: requests are not
// authenticated, so the endpoint listens on loopback by default. With
// Options.Credentials every request that reaches a service must carry a
// Signature Version 4 (in the Authorization header or a presigned URL) by
// one of those keys, over the whole request, body included, scoped to the
// cloud's region and to the service it reaches, within AWS's 15 minutes.
// Only two routes answer without credentials, and reach no service: SNS's
// signing certificate (GET of its exact path) and the health endpoint
// (HealthPath). In every mode the edge refuses what a web page can make a
// browser send (an Origin header, Sec-Fetch-Site other than none, a Query
// action that changes state sent by anything but POST) and requests whose
// Host is not one of its names (DNS rebinding). State lives in memory and
// ends with the process, unless Options.DataDir names a directory: then
// every acknowledged request is on disk before it is answered (see the
// services' journals).
//
// What clients can make the cloud hold is bounded (limits.go): the
// connections served at once, within what the open-file limit leaves once
// the data files are provided for (Options.MaxConnections); the bytes of
// request bodies in flight (Options.MaxBodyBuffer); and the call counts,
// kept only for operations the services answer.
package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/cloudformation"
	"github.com/orderflow/orderflow/cloud/cloudwatch"
	"github.com/orderflow/orderflow/cloud/dynamodb"
	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/cloud/logs"
	"github.com/orderflow/orderflow/cloud/provision"
	"github.com/orderflow/orderflow/cloud/s3"
	"github.com/orderflow/orderflow/cloud/sns"
	"github.com/orderflow/orderflow/cloud/sqs"
	"github.com/orderflow/orderflow/cloud/sts"
	"github.com/orderflow/orderflow/internal/ownbody"
)

// DefaultAddr is the edge's default listen address, the port AWS local
// tooling conventionally uses.
const DefaultAddr = awsenv.DefaultAddr

// Options configure a Cloud. The zero value is usable.
type Options struct {
	// Addr is the listen address. Default DefaultAddr; use "127.0.0.1:0" for
	// an ephemeral port (tests).
	Addr string
	// Region is the region in ARNs and URLs. Default awsenv.DefaultRegion.
	Region string
	// AccountID is the account in ARNs and queue URLs. Default
	// awsenv.DefaultAccountID.
	AccountID string
	// Clock drives every time-based behaviour. Default the machine's clock.
	Clock clock.Clock
	// Logger receives the cloud's own log lines. Default: discard.
	Logger *slog.Logger
	// AllowedHosts are extra Host names the edge answers to, beyond loopback
	// names and the listen host. A listener on every interface answers to
	// any Host unless AllowedHosts narrows it.
	AllowedHosts []string
	// DataDir, when set, keeps all state of SQS, SNS and DynamoDB in a data
	// file there (cloud.db), so that every acknowledged request survives a
	// crash and a restart. Unset, state is in memory and ends with the
	// process.
	DataDir string
	// Recover, with DataDir, starts even when the data file or its log is
	// damaged, accepting the loss: what can be read is applied, the
	// damaged files are kept beside them under new names, and Recovery
	// says what was lost. Unset (the default), damage makes Start fail
	// with an error wrapping journal.ErrDamagedLog or
	// journal.ErrDamagedData (or journal.ErrNotDataFile), changing
	// nothing.
	Recover bool
	// SyncEvery, with DataDir, acknowledges a request once its records are
	// written to the data file's log, without waiting for them to be
	// synced to the disk, and syncs the log in the background at least
	// this often (journal.Options.SyncEvery): a crash of the process still
	// loses nothing acknowledged, a power loss or an OS crash may lose
	// what was acknowledged in the last SyncEvery. Zero (the default):
	// every acknowledged request is synced first. At most
	// journal.MaxSyncEvery.
	SyncEvery time.Duration
	// Credentials, when set, are the only keys accepted (access key id →
	// secret access key): every request that reaches a service must carry
	// a valid Signature Version 4 by one of them (see the package doc).
	// Unset, any credentials are accepted.
	Credentials map[string]string
	// FunctionLogs is the log sink of the function host: Lambda's START, END
	// and REPORT lines and the functions' own lines. Default: discard.
	FunctionLogs io.Writer
	// MaxConnections caps the client connections served at once; more
	// wait until one ends, and connections idle for a second are closed
	// to make room for them. Default DefaultMaxConnections, or less if
	// the open-file limit (ulimit -n) leaves less once descriptors are
	// kept for the data files and the cloud's own clients; asking for
	// more than it leaves is an error.
	MaxConnections int
	// MaxBodyBuffer is the budget of request-body bytes held in memory at
	// once, across all requests: a request reads its body only once it
	// holds that many bytes of the budget (bodies over 1 MiB may take
	// three quarters of it at most, so that ordinary calls are answered
	// while large uploads wait). A request waits a few seconds for its
	// share, then is refused with 503 ServiceUnavailable, which SDKs
	// retry. Default DefaultMaxBodyBuffer; at least MinMaxBodyBuffer.
	MaxBodyBuffer int64
	// MaxQueueBytes and MaxQueuedBytes bound what SQS holds in memory, in
	// one queue and in all queues together (see sqs.MessageBytes for how
	// a message counts): past them SendMessage and SendMessageBatch are
	// refused with RequestThrottled until the queue is drained, and SNS
	// deliveries into the queue are retried. Defaults
	// sqs.DefaultMaxQueueBytes and sqs.DefaultMaxQueuedBytes; negative: no
	// ceiling. A data file holding more starts anyway, losing nothing.
	MaxQueueBytes, MaxQueuedBytes int64
	// MaxS3MemoryBytes bounds the S3 object bytes held in memory when
	// there is no data directory (with one they are files): past it puts
	// are refused with 507 InsufficientStorage until objects are deleted.
	// Default s3.DefaultMaxMemoryBytes.
	MaxS3MemoryBytes int64
}

func (o *Options) applyDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	env := awsenv.Env{Region: o.Region, AccountID: o.AccountID}.WithDefaults()
	o.Region, o.AccountID = env.Region, env.AccountID
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FunctionLogs == nil {
		o.FunctionLogs = io.Discard
	}
	if o.MaxBodyBuffer == 0 {
		o.MaxBodyBuffer = DefaultMaxBodyBuffer
	}
}

// Cloud is a running embedded cloud.
type Cloud struct {
	DynamoDB *dynamodb.Service
	SQS      *sqs.Service
	SNS      *sns.Service
	// S3 holds buckets and objects (cloud/s3).
	S3 *s3.Service
	// Logs is CloudWatch Logs: the functions' log groups.
	Logs *logs.Service
	// CloudWatch is the metrics API; log lines in the Embedded Metric
	// Format become its metrics.
	CloudWatch *cloudwatch.Service
	// CloudFormation is the CloudFormation API: the stacks Deploy and
	// its callers created.
	CloudFormation *cloudformation.Service
	// STS answers GetCallerIdentity: the caller is the account's root.
	STS *sts.Service
	// Lambda is the function host: register Go handlers here before
	// deploying a template whose functions they implement.
	Lambda *lambda.Host
	// Records holds what templates declared that the cloud keeps without
	// running: IAM roles, log groups, alarms.
	Records provision.Records

	opts    Options
	db      *bbolt.DB        // the data file; nil in memory
	journal *journal.Journal // the services' shared group commit; nil in memory
	recov   journal.Recovery // what Options.Recover found and lost
	edge    *edge
	calls   *callCounts
	conns   *unusedConns
	limiter *connLimiter
	budget  *bodyBudget
	faults  *injector
	self    aws.Credentials // what the cloud's own clients sign with
	client  *awshttp.BuildableClient
	url     string
	env     awsenv.Env // every service's account, region and endpoint
	server  *http.Server
	done    chan error
	closing chan struct{} // closed when Close begins
}

// Start listens on opts.Addr and serves the cloud until Close.
//
// What a service may use when it acts on its own (a recovered SNS delivery
// retry firing, say) exists before it can act: the services are opened
// first, with their recovered work loaded but not resumed; then the
// function host, the edge and the server are built and serving; only then
// does SNS resume its pending retries (sns.Service.Start).
func Start(opts Options) (*Cloud, error) {
	opts.applyDefaults()
	if opts.SyncEvery != 0 && opts.DataDir == "" {
		return nil, errors.New("cloud: SyncEvery goes with DataDir: in memory there is no log to sync")
	}
	fds, maxConns, err := opts.limits()
	if err != nil {
		return nil, fmt.Errorf("cloud: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("cloud: listen on %s: %w", opts.Addr, err)
	}
	c := &Cloud{opts: opts, done: make(chan error, 1), closing: make(chan struct{}), faults: newInjector(), calls: &callCounts{}, conns: newUnusedConns()}
	c.limiter = newConnLimiter(ln, maxConns)
	c.url = endpointURL(ln.Addr())
	c.env = awsenv.Env{Region: opts.Region, AccountID: opts.AccountID, BaseURL: c.URL}
	c.self = aws.Credentials{AccessKeyID: "orderflow", SecretAccessKey: "orderflow"}
	c.client = loopbackClient(fds.own)
	var auth *verifier
	if len(opts.Credentials) > 0 {
		// The cloud's own clients (the function host, the provisioner) get a
		// key of their own, random, so no well-known key opens the door.
		c.self = aws.Credentials{AccessKeyID: "ORDERFLOWINTERNAL" + randomHex(4), SecretAccessKey: randomHex(20)}
		keys := map[string]string{c.self.AccessKeyID: c.self.SecretAccessKey}
		for k, v := range opts.Credentials {
			keys[k] = v
		}
		auth = &verifier{keys: keys, region: opts.Region, clock: opts.Clock}
	}
	if err := c.openServices(); err != nil {
		ln.Close()
		c.closeServices(context.Background())
		return nil, fmt.Errorf("cloud: %w", err)
	}

	host, _, _ := net.SplitHostPort(opts.Addr)
	services := []Service{c.DynamoDB, c.failDeletes(c.SQS), c.SNS, c.Logs, c.CloudFormation, c.STS, c.S3, c.CloudWatch}
	c.server = &http.Server{
		// Handler: the edge, set below once every service exists.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		// Long polls hold a response for up to 20 s.
		WriteTimeout:   2 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
		ConnState: func(conn net.Conn, s http.ConnState) {
			c.limiter.track(conn, s)
			c.conns.track(conn, s)
		},
	}
	c.server.RegisterOnShutdown(c.conns.closeAll)
	// The function host polls the SQS engine in-process, with the API's
	// semantics (engine_queues.go).
	c.Lambda, err = lambda.New(lambda.Options{
		Queues:    engineQueues{c},
		Env:       c.env,
		Clock:     opts.Clock,
		Logs:      opts.FunctionLogs,
		Logger:    opts.Logger,
		LogStream: c.Logs.Writer,
		Invoked:   c.lambdaInvoked,
		Faults:    hostFaults{c.faults},
		// A zip function's process signs its SDK calls as the cloud's own
		// clients do, so the cloud accepts them whatever its keys.
		Credentials: lambda.Credentials{AccessKeyID: c.self.AccessKeyID, SecretAccessKey: c.self.SecretAccessKey},
		// Lambda's API reads Code.S3Bucket/S3Key as the provisioner does,
		// and keeps the functions it creates in the data file.
		Code: s3Code{c.S3},
		DB:   c.db, Journal: c.journal,
	})
	if err != nil {
		ln.Close()
		c.closeServices(context.Background())
		return nil, fmt.Errorf("cloud: %w", err)
	}
	c.edge = newEdge(append(services, c.Lambda.API()), hostGuard(host, opts.AllowedHosts), c.calls, opts.Logger)
	c.edge.auth = auth
	c.edge.health = c.ready
	c.budget = newBodyBudget(opts.MaxBodyBuffer, c.edge, c.edge.fail)
	c.server.Handler = c.budget
	go func() {
		err := c.server.Serve(c.limiter)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		c.done <- err
	}()
	c.SNS.Start()
	c.sampleQueues() // AWS/SQS's depth metrics (metrics.go)
	if c.journal != nil {
		c.journal.Observe(func(stalled error) {
			if stalled != nil {
				opts.Logger.Error("the data file cannot be written at the moment: every request is refused (503) until a retry succeeds; free disk space or file descriptors, no restart needed",
					"dir", opts.DataDir, "err", stalled)
			} else {
				opts.Logger.Warn("the data file is written again: requests are answered", "dir", opts.DataDir)
			}
		})
		go func() {
			select {
			case <-c.journal.Failed():
				opts.Logger.Error("the data file can no longer be written: every request is refused from now on; restart from the data directory once the cause is fixed",
					"dir", opts.DataDir, "err", c.journal.Err())
			case <-c.closing:
			}
		}()
	}
	opts.Logger.Info("embedded cloud listening", "endpoint", c.url, "maxConnections", maxConns, "openFileLimit", fds.limit, "maxBodyBuffer", opts.MaxBodyBuffer)
	return c, nil
}

// endpointURL is the URL clients use for the listener's address. A listener
// on every interface is reached through loopback from this machine.
func endpointURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

// Calls counts the API calls the cloud has answered, by "service:Action"
// (sqs:ReceiveMessage, sns:PublishBatch, dynamodb:PutItem, lambda:GET
// event-source-mappings, …): what the same work would be billed on AWS.
func (c *Cloud) Calls() map[string]int64 { return c.calls.snapshot() }

// Handler is the edge: every service behind one http.Handler, for serving
// in-process without the listener.
func (c *Cloud) Handler() http.Handler { return c.server.Handler }

// URL is the edge endpoint, e.g. "http://127.0.0.1:4566".
func (c *Cloud) URL() string { return c.url }

// Region is the cloud's region.
func (c *Cloud) Region() string { return c.opts.Region }

// JournalStats reports the data file's commits so far (zero in memory).
func (c *Cloud) JournalStats() journal.Stats {
	if c.journal == nil {
		return journal.Stats{}
	}
	return c.journal.Stats()
}

// Recovery says what Options.Recover found damaged and lost at start
// (journal.Recovery.Damaged is false when nothing was).
func (c *Cloud) Recovery() journal.Recovery { return c.recov }

// DataFileFailed is closed if the data file can no longer be written for a
// cause that does not pass by itself (an I/O error, a file gone): the
// cloud then refuses every request until it is restarted, and DataFileErr
// says why. A resource running out (a full disk, too many open files) does
// not close it: see ObserveDataFile. In memory it is never closed.
func (c *Cloud) DataFileFailed() <-chan struct{} {
	if c.journal == nil {
		return nil
	}
	return c.journal.Failed()
}

// DataFileErr is why the data file can no longer be written, or nil.
func (c *Cloud) DataFileErr() error {
	if c.journal == nil {
		return nil
	}
	return c.journal.Err()
}

// ready reports whether the cloud serves requests: not while writes to the
// data file stall (a full disk), not once it can no longer be written, nor
// once Close began. The health endpoint
// (HealthPath) answers with it.
func (c *Cloud) ready() bool {
	select {
	case <-c.closing:
		return false
	case <-c.DataFileFailed():
		return false
	default:
		// While writes stall (a full disk) the services refuse them: not
		// ready until they go through again.
		return c.DataFileWritable() == nil
	}
}

// ObserveDataFile calls f when writes to the data file stall for want of a
// resource (a full disk, too many open files: the error says which), and
// with nil when they go through again. While they stall, every request
// that would change or show unsaved state is refused with 503
// ServiceUnavailable, and the journal retries the write by itself (see
// package journal): no restart is needed. f must not block. In memory it
// is never called.
func (c *Cloud) ObserveDataFile(f func(stalled error)) {
	if c.journal != nil {
		c.journal.Observe(f)
	}
}

// DataFileWritable is nil while the data file takes writes (and in
// memory); otherwise why not: an error matching journal.ErrStalled while
// a write is being retried, or DataFileErr once it has stopped.
func (c *Cloud) DataFileWritable() error {
	if c.journal == nil {
		return nil
	}
	return c.journal.Writable()
}

// DataDir is the data directory, "" in memory.
func (c *Cloud) DataDir() string { return c.opts.DataDir }

// AccountID is the cloud's account id.
func (c *Cloud) AccountID() string { return c.opts.AccountID }

// Config returns an aws.Config for the SDK clients to use the cloud: its
// endpoint and region, static dummy credentials, and nothing read from the
// environment (so ambient AWS_* settings cannot redirect it).
func (c *Cloud) Config() aws.Config {
	return aws.Config{
		Region:       c.opts.Region,
		BaseEndpoint: aws.String(c.url),
		Credentials:  credentials.NewStaticCredentialsProvider(c.self.AccessKeyID, c.self.SecretAccessKey, ""),
		HTTPClient:   ownbody.Client{Next: c.client},
	}
}

// loopbackClient is the HTTP client of Config: the SDK's default, keeping
// up to 256 idle connections to the cloud instead of 10. A function host
// runs up to MaximumConcurrency × the function's own concurrency requests
// at once; with 10 idle connections kept, the rest were closed after each
// request and dialled again (a share of a durable bench run's CPU, in
// docs/benchmarks.md, and sockets left in TIME_WAIT). It opens at most
// maxConns connections: the descriptors kept for them (limits.go) must
// suffice.
func loopbackClient(maxConns int) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = min(256, maxConns)
		t.MaxIdleConnsPerHost = min(256, maxConns)
		t.MaxConnsPerHost = maxConns
	})
}

// Deploy creates the stack stackName from a CloudFormation template, or
// updates it if it exists, as CloudFormation would: parameters (overridden
// by params), rules, conditions, resources in dependency order through the
// public APIs, and outputs. Named resources a durable cloud kept from an
// earlier run are adopted and brought to the template. Functions the
// template declares must have Go handlers registered with c.Lambda first.
func (c *Cloud) Deploy(ctx context.Context, template []byte, stackName string, params map[string]string) (*provision.Stack, error) {
	return c.CloudFormation.Deploy(ctx, template, stackName, params)
}

// Close stops the function host's pollers, then stops accepting requests
// (closing the connections that are idle or have not sent a request yet),
// and waits, until ctx ends, for the invocations, the requests (a long
// poll among them) and SNS's deliveries in flight to finish.
func (c *Cloud) Close(ctx context.Context) error {
	select {
	case <-c.closing:
	default:
		close(c.closing)
	}
	if err := c.Lambda.Close(ctx); err != nil {
		c.server.Close()
		<-c.done
		return fmt.Errorf("cloud: shut down: %w", err)
	}
	err := c.server.Shutdown(ctx)
	if err != nil {
		c.server.Close()
	}
	if serveErr := <-c.done; err == nil {
		err = serveErr
	}
	// The services close after the last request, committing what is queued.
	if cerr := c.closeServices(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cloud: shut down: %w", err)
	}
	return nil
}

// openServices creates the services, SQS, SNS and DynamoDB on the data file
// when there is a data directory. SQS opens first: SNS delivers into it. SNS's
// recovered delivery retries wait for Start to resume them.
func (c *Cloud) openServices() error {
	o := c.opts
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		// One group-commit journal for every service: a commit (one
		// write-ahead log frame and one fdatasync) carries SQS's, SNS's
		// and DynamoDB's records together. Made before the services load:
		// it first applies what its log holds to the file.
		path := filepath.Join(o.DataDir, "cloud.db")
		if o.Recover {
			db, j, rec, err := journal.RecoverWithOptions(path, journal.Options{SyncEvery: o.SyncEvery})
			if err != nil {
				return err
			}
			c.db, c.journal, c.recov = db, j, rec
			if rec.Damaged() {
				o.Logger.Warn("recovered a damaged data directory, accepting the loss", "dir", o.DataDir, "recovery", rec.String())
			}
		} else {
			db, err := journal.Open(path)
			if err != nil {
				return err
			}
			c.db = db
			if c.journal, err = journal.NewWithOptions(db, journal.Options{SyncEvery: o.SyncEvery}); err != nil {
				return err
			}
		}
	}
	var err error
	if c.SQS, err = sqs.New(sqs.Options{Env: c.env, Clock: o.Clock, DB: c.db, Journal: c.journal,
		MaxQueueBytes: o.MaxQueueBytes, MaxQueuedBytes: o.MaxQueuedBytes}); err != nil {
		return err
	}
	if over, max := c.SQS.Engine().QueuedBytes(), c.SQS.Engine().MaxQueuedBytes(); max > 0 && over > max {
		o.Logger.Warn("the data file holds more queued messages than the ceiling on them: every message is loaded and kept, and sends are refused until the queues are drained below it",
			"dir", o.DataDir, "queuedBytes", over, "maxQueuedBytes", max)
	}
	if c.SNS, err = sns.New(sns.Options{
		Env: c.env, Clock: o.Clock, DB: c.db, Journal: c.journal,
		Queues: snsToSQS{sqs: c.SQS, account: o.AccountID, faults: c.faults, calls: c.calls},
		Logger: o.Logger,
	}); err != nil {
		return err
	}
	if c.DynamoDB, err = dynamodb.New(dynamodb.Options{Env: c.env, Now: o.Clock.Now, Clock: o.Clock, DB: c.db, Journal: c.journal}); err != nil {
		return err
	}
	s3dir := ""
	if o.DataDir != "" {
		s3dir = filepath.Join(o.DataDir, "s3")
	}
	if c.S3, err = s3.New(s3.Options{Env: c.env, Clock: o.Clock, DB: c.db, Journal: c.journal, Dir: s3dir, MaxMemoryBytes: o.MaxS3MemoryBytes}); err != nil {
		return err
	}
	if c.CloudWatch, err = cloudwatch.New(cloudwatch.Options{Clock: o.Clock}); err != nil {
		return err
	}
	if c.Logs, err = logs.New(logs.Options{Env: c.env, Clock: o.Clock, DB: c.db, Journal: c.journal, Metrics: func(m string) { c.CloudWatch.IngestEMF(m) }}); err != nil {
		return err
	}
	if c.STS, err = sts.New(sts.Options{Env: c.env}); err != nil {
		return err
	}
	c.CloudFormation, err = cloudformation.New(cloudformation.Options{Region: o.Region, AccountID: o.AccountID, Now: o.Clock.Now,
		Providers: func() map[string]provision.Provider {
			return provision.AWSWithCode(c.Config(), c.Lambda, &c.Records, s3Code{c.S3})
		},
		TemplateObject: s3Code{c.S3}.template, DB: c.db, Journal: c.journal})
	return err
}

// s3Code reads functions' zips from the embedded S3, in-process.
type s3Code struct{ s3 *s3.Service }

var (
	_ provision.CodeSource = s3Code{}
	_ lambda.CodeSource    = s3Code{}
)

func (c s3Code) Object(_ context.Context, bucket, key string) ([]byte, error) {
	f, info, err := c.s3.Open(bucket, key)
	if errors.Is(err, s3.ErrNoSuchBucket) || errors.Is(err, s3.ErrNoSuchKey) {
		return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info.Size > lambda.DefaultMaxUnpackedBytes {
		return nil, fmt.Errorf("s3://%s/%s is %d bytes, more than Lambda's %d MiB for a function's code", bucket, key, info.Size, lambda.DefaultMaxUnpackedBytes>>20)
	}
	b, err := io.ReadAll(io.LimitReader(f, lambda.DefaultMaxUnpackedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	return b, nil
}

// template reads at most limit bytes of a template a TemplateURL names,
// saying a missing bucket or key as S3 does.
func (c s3Code) template(_ context.Context, bucket, key string, limit int64) ([]byte, error) {
	f, _, err := c.s3.Open(bucket, key)
	switch {
	// S3's own sentences, which CloudFormation's message quotes.
	case errors.Is(err, s3.ErrNoSuchBucket):
		return nil, errors.New("The specified bucket does not exist (bucket " + bucket + ")")
	case errors.Is(err, s3.ErrNoSuchKey):
		return nil, errors.New("The specified key does not exist (s3://" + bucket + "/" + key + ")")
	case err != nil:
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// closeServices closes what openServices opened, then the data file. SNS
// closes first, waiting until ctx ends for its deliveries under way: they
// deliver into SQS.
func (c *Cloud) closeServices(ctx context.Context) error {
	var errs []error
	if c.CloudFormation != nil {
		// Stack operations first: they call the other services.
		errs = append(errs, c.CloudFormation.Close(ctx))
	}
	if c.SNS != nil {
		errs = append(errs, c.SNS.Shutdown(ctx))
	}
	if c.SQS != nil {
		errs = append(errs, c.SQS.Close())
	}
	if c.DynamoDB != nil {
		errs = append(errs, c.DynamoDB.Close())
	}
	if c.journal != nil {
		errs = append(errs, c.journal.Close())
	}
	if c.db != nil {
		errs = append(errs, c.db.Close())
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

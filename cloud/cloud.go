// Package cloud is orderflow's embedded cloud: AWS-compatible DynamoDB, SQS
// and SNS APIs behind one edge endpoint, started in-process or served on a
// port, for unmodified AWS clients (the SDKs, the AWS CLI) to use as if it
// were AWS. It never imports the order code.
//
// Any credentials are accepted: requests are not authenticated, so the
// endpoint listens on loopback by default, refuses requests from web pages
// (an Origin header) and requests whose Host is not one of its names (DNS
// rebinding). State lives in memory and ends with the process.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/dynamodb"
)

// DefaultAddr is the edge's default listen address, the port AWS local
// tooling conventionally uses.
const DefaultAddr = "127.0.0.1:4566"

// Options configure a Cloud. The zero value is usable.
type Options struct {
	// Addr is the listen address. Default DefaultAddr; use "127.0.0.1:0" for
	// an ephemeral port (tests).
	Addr string
	// Region is the region in ARNs and URLs. Default "us-east-1".
	Region string
	// AccountID is the account in ARNs and queue URLs. Default "000000000000".
	AccountID string
	// Clock drives every time-based behaviour. Default the machine's clock.
	Clock clock.Clock
	// Logger receives the cloud's own log lines. Default: discard.
	Logger *slog.Logger
	// AllowedHosts are extra Host names the edge answers to, beyond loopback
	// names and the listen host.
	AllowedHosts []string
}

func (o *Options) applyDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "000000000000"
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Cloud is a running embedded cloud.
type Cloud struct {
	DynamoDB *dynamodb.Service

	opts   Options
	url    string
	server *http.Server
	done   chan error
}

// Start listens on opts.Addr and serves the cloud until Close.
func Start(opts Options) (*Cloud, error) {
	opts.applyDefaults()
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("cloud: listen on %s: %w", opts.Addr, err)
	}
	c := &Cloud{opts: opts, done: make(chan error, 1)}
	c.url = endpointURL(ln.Addr())
	c.DynamoDB = dynamodb.New()

	host, _, _ := net.SplitHostPort(opts.Addr)
	services := []Service{c.DynamoDB}
	c.server = &http.Server{
		Handler:           newEdge(services, hostGuard(host, opts.AllowedHosts), opts.Logger),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		// Long polls hold a response for up to 20 s.
		WriteTimeout:   2 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 256 << 10,
		ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		err := c.server.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		c.done <- err
	}()
	opts.Logger.Info("embedded cloud listening", "endpoint", c.url)
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

// URL is the edge endpoint, e.g. "http://127.0.0.1:4566".
func (c *Cloud) URL() string { return c.url }

// Region is the cloud's region.
func (c *Cloud) Region() string { return c.opts.Region }

// AccountID is the cloud's account id.
func (c *Cloud) AccountID() string { return c.opts.AccountID }

// Close stops accepting requests and waits, until ctx ends, for those in
// flight (a long poll among them) to finish.
func (c *Cloud) Close(ctx context.Context) error {
	err := c.server.Shutdown(ctx)
	if err != nil {
		c.server.Close()
	}
	if serveErr := <-c.done; err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("cloud: shut down: %w", err)
	}
	return nil
}

// Package local runs the whole pipeline on one machine: it starts an
// embedded cloud, registers ProcessOrderFunction's Go code with its function
// host, and deploys deploy/template.yaml into it. The CLI, the reliability
// suite and the benchmarks start the pipeline through it.
package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/cloud/provision"
	"github.com/orderflow/orderflow/deploy"
	"github.com/orderflow/orderflow/internal/processorder"
)

// StackName is the stack's name, locally and (by default) on AWS.
const StackName = "orderflow"

// Options configure a pipeline.
type Options struct {
	// Addr is the cloud's listen address; default cloud.DefaultAddr.
	Addr string
	// Params override the template's parameters.
	Params map[string]string
	// FunctionLogs receives the function host's lines; default discard.
	FunctionLogs io.Writer
	// Logger receives the cloud's own lines; default discard.
	Logger *slog.Logger
	// Faults are injected from the start.
	Faults cloud.Faults
	// Credentials, if set, are the only keys the cloud accepts (SigV4).
	Credentials map[string]string
	// AllowedHosts are extra Host names the cloud answers to (see
	// cloud.Options.AllowedHosts).
	AllowedHosts []string
	// DataDir, if set, keeps the cloud's state on disk across restarts.
	DataDir string
	// Recover starts on a damaged DataDir, accepting the loss (see
	// cloud.Options.Recover).
	Recover bool
	// MaxConnections and MaxBodyBuffer bound what clients can make the
	// cloud hold (see cloud.Options); zero for the defaults.
	MaxConnections int
	MaxBodyBuffer  int64
	// Wrap, if set, wraps ProcessOrderFunction's handler (to watch what it
	// receives, say).
	Wrap func(lambda.Handler) lambda.Handler
	// MaxQueueBytes and MaxQueuedBytes bound what SQS queues hold (see
	// cloud.Options); 0: the defaults.
	MaxQueueBytes, MaxQueuedBytes int64
	// BeforeDeploy, if set, is called with the cloud once it serves and
	// before the pipeline is deployed into it: what it sees of a data
	// directory's state, no function has touched yet.
	BeforeDeploy func(*cloud.Cloud)
}

// Pipeline is the pipeline deployed on an embedded cloud.
type Pipeline struct {
	Cloud *cloud.Cloud
	Stack *provision.Stack
}

// Start starts the cloud and deploys the pipeline into it.
func Start(ctx context.Context, o Options) (*Pipeline, error) {
	c, err := cloud.Start(cloud.Options{Addr: o.Addr, FunctionLogs: o.FunctionLogs, Logger: o.Logger, Credentials: o.Credentials, AllowedHosts: o.AllowedHosts, DataDir: o.DataDir, Recover: o.Recover,
		MaxConnections: o.MaxConnections, MaxBodyBuffer: o.MaxBodyBuffer,
		MaxQueueBytes: o.MaxQueueBytes, MaxQueuedBytes: o.MaxQueuedBytes})
	if err != nil {
		return nil, err
	}
	c.SetFaults(o.Faults)
	if o.BeforeDeploy != nil {
		o.BeforeDeploy(c)
	}
	cfg := c.Config()
	name := o.Params["FunctionName"]
	if name == "" {
		name = "ProcessOrderFunction"
	}
	c.Lambda.Register(name, func(fc lambda.Config) (lambda.Handler, error) {
		h, err := processorder.New(cfg, func(k string) string { return fc.Environment[k] }, fc.Logs)
		if err != nil {
			return nil, err
		}
		var handle lambda.Handler = h.Handle
		if o.Wrap != nil {
			handle = o.Wrap(handle)
		}
		return handle, nil
	})
	// The other stacks a data directory kept get their functions back;
	// this one is deployed again below, with this run's parameters.
	if err := c.CloudFormation.Resume(ctx, StackName); err != nil && o.Logger != nil {
		o.Logger.Warn("a stack the data directory kept could not be made whole again; its resources are as they were", "err", err)
	}
	stack, err := c.Deploy(ctx, deploy.TemplateYAML, StackName, o.Params)
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(closeCtx)
		return nil, fmt.Errorf("deploy deploy/template.yaml: %w", err)
	}
	return &Pipeline{Cloud: c, Stack: stack}, nil
}

// Close shuts the cloud down, letting invocations in flight finish.
func (p *Pipeline) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Cloud.Close(ctx)
}

// Output returns a stack output (the template guarantees them).
func (p *Pipeline) Output(name string) string { return p.Stack.Outputs[name] }

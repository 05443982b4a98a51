package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cfn"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/deploy"
	"github.com/orderflow/orderflow/internal/processorder"
)

// stackName is the name of the stack, locally and (by default) on AWS.
const stackName = "orderflow"

// local is the pipeline deployed on an embedded cloud.
type local struct {
	cloud *cloud.Cloud
	stack *cfn.Stack
}

type localOptions struct {
	addr         string
	params       map[string]string
	functionLogs io.Writer
	logger       *slog.Logger
	// wrap, if set, wraps ProcessOrderFunction's handler (the demo watches
	// the events it receives).
	wrap func(lambda.Handler) lambda.Handler
}

// startLocal starts an embedded cloud, registers ProcessOrderFunction's Go
// code with its function host, and deploys deploy/template.yaml into it.
func startLocal(ctx context.Context, o localOptions) (*local, error) {
	c, err := cloud.Start(cloud.Options{Addr: o.addr, FunctionLogs: o.functionLogs, Logger: o.logger})
	if err != nil {
		return nil, err
	}
	cfg := c.Config()
	name := o.params["FunctionName"]
	if name == "" {
		name = "ProcessOrderFunction"
	}
	c.Lambda.Register(name, func(fc lambda.Config) (lambda.Handler, error) {
		h, err := processorder.New(cfg, func(k string) string { return fc.Environment[k] }, fc.Logs)
		if err != nil {
			return nil, err
		}
		var handle lambda.Handler = h.Handle
		if o.wrap != nil {
			handle = o.wrap(handle)
		}
		return handle, nil
	})
	stack, err := c.Deploy(ctx, deploy.TemplateYAML, stackName, o.params)
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(closeCtx)
		return nil, fmt.Errorf("deploy deploy/template.yaml: %w", err)
	}
	return &local{cloud: c, stack: stack}, nil
}

// close shuts the cloud down, letting invocations in flight finish.
func (l *local) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return l.cloud.Close(ctx)
}

// output returns a stack output, which the template guarantees.
func (l *local) output(name string) string { return l.stack.Outputs[name] }

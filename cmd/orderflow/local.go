package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/gctune"
	"github.com/orderflow/orderflow/internal/local"
)

// stackName is the name of the stack, locally and (by default) on AWS.
const stackName = local.StackName

type localOptions struct {
	addr         string
	params       map[string]string
	functionLogs io.Writer
	logger       *slog.Logger
	faults       cloud.Faults
	credentials  map[string]string
	allowedHosts []string
	dataDir      string
	recover      bool
	syncEvery    time.Duration // see cloud.Options.SyncEvery
	wrap         func(lambda.Handler) lambda.Handler
	limits       limitFlags
	// maxQueueBytes, maxQueuedBytes: see cloud.Options; 0 for the defaults.
	maxQueueBytes, maxQueuedBytes int64
	// getenv is the process's environment, for gctune (GOGC and
	// GOMEMLIMIT turn its tuning off); nil: neither is set.
	getenv func(string) string
	// beforeDeploy: see local.Options.BeforeDeploy.
	beforeDeploy func(*cloud.Cloud)
	// functionZip: see local.Options.FunctionZip.
	functionZip []byte
}

// startLocal starts the pipeline on an embedded cloud, with the garbage
// collector paced for it (internal/gctune) while ctx lasts.
func startLocal(ctx context.Context, o localOptions) (*local.Pipeline, error) {
	gctune.Start(ctx, o.getenv)
	return local.Start(ctx, local.Options{Addr: o.addr, Params: o.params, FunctionLogs: o.functionLogs, Logger: o.logger, Faults: o.faults, Credentials: o.credentials, AllowedHosts: o.allowedHosts, DataDir: o.dataDir, Recover: o.recover, SyncEvery: o.syncEvery, Wrap: o.wrap,
		MaxConnections: o.limits.maxConns, MaxBodyBuffer: int64(o.limits.bodyMiB) << 20,
		MaxQueueBytes: o.maxQueueBytes, MaxQueuedBytes: o.maxQueuedBytes, BeforeDeploy: o.beforeDeploy, FunctionZip: o.functionZip})
}

// Package local runs the whole pipeline on one machine: it starts an
// embedded cloud, registers ProcessOrderFunction's Go code with its function
// host (or puts its deployment zip in the cloud's S3, for the zip to run as
// child processes), and deploys deploy/template.yaml into it. The CLI, the reliability
// suite and the benchmarks start the pipeline through it.
package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/cloud/provision"
	"github.com/orderflow/orderflow/deploy"
	"github.com/orderflow/orderflow/internal/lambdazip"
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
	// SyncEvery syncs DataDir's log in the background at this interval
	// instead of before every acknowledgement (see cloud.Options.SyncEvery).
	SyncEvery time.Duration
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
	// FunctionZip, if set, is ProcessOrderFunction's deployment zip (what
	// orderflow deploy builds): it is put in the embedded S3, in the
	// bucket and under the key orderflow deploy would use
	// (lambdazip.Bucket, lambdazip.Key), and the stack's CodeS3Bucket and
	// CodeS3Key name it, so the function runs its bootstrap as child
	// processes. Unset, the function runs its Go code in-process.
	FunctionZip []byte
}

// Pipeline is the pipeline deployed on an embedded cloud.
type Pipeline struct {
	Cloud *cloud.Cloud
	Stack *provision.Stack
	// CodeBucket and CodeKey name the function's zip in the embedded S3
	// when it runs from one (Options.FunctionZip); empty otherwise.
	CodeBucket, CodeKey string
}

// ErrCodeParams is returned by Start when Options.FunctionZip and a
// CodeS3Bucket or CodeS3Key parameter are both given: the zip names the
// code itself.
var ErrCodeParams = errors.New("a function zip and the CodeS3Bucket or CodeS3Key parameter go apart: the zip's place names the code")

// Start starts the cloud and deploys the pipeline into it.
func Start(ctx context.Context, o Options) (*Pipeline, error) {
	if o.FunctionZip != nil && (o.Params["CodeS3Bucket"] != "" || o.Params["CodeS3Key"] != "") {
		return nil, ErrCodeParams
	}
	c, err := cloud.Start(cloud.Options{Addr: o.Addr, FunctionLogs: o.FunctionLogs, Logger: o.Logger, Credentials: o.Credentials, AllowedHosts: o.AllowedHosts, DataDir: o.DataDir, Recover: o.Recover, SyncEvery: o.SyncEvery,
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
	fail := func(err error) (*Pipeline, error) {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(closeCtx)
		return nil, err
	}
	params := o.Params
	var bucket, key string
	if o.FunctionZip != nil {
		bucket, key = lambdazip.Bucket(c.AccountID(), c.Region()), lambdazip.Key(o.FunctionZip)
		if err := putCode(ctx, cfg, bucket, key, o.FunctionZip); err != nil {
			return fail(err)
		}
		params = maps.Clone(o.Params)
		if params == nil {
			params = map[string]string{}
		}
		params["CodeS3Bucket"], params["CodeS3Key"] = bucket, key
	}
	name := o.Params["FunctionName"]
	if name == "" {
		name = "ProcessOrderFunction"
	}
	c.Lambda.Register(name, func(fc lambda.Config) (lambda.Handler, error) {
		getenv := func(k string) string {
			if k == "AWS_LAMBDA_FUNCTION_NAME" && fc.Environment[k] == "" {
				return fc.Name // what Lambda sets in the function's environment
			}
			return fc.Environment[k]
		}
		h, err := processorder.New(cfg, getenv, fc.Logs)
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
	stack, err := c.Deploy(ctx, deploy.TemplateYAML, StackName, params)
	if err != nil {
		return fail(fmt.Errorf("deploy deploy/template.yaml: %w", err))
	}
	return &Pipeline{Cloud: c, Stack: stack, CodeBucket: bucket, CodeKey: key}, nil
}

// putCode puts a function's zip in the embedded S3 through its API,
// creating the bucket if missing (a data directory keeps it, and the zips
// of earlier starts, across restarts).
func putCode(ctx context.Context, cfg aws.Config, bucket, key string, zip []byte) error {
	c := awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = true })
	_, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned *s3types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create the artefact bucket %s in the embedded S3: %w", bucket, err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(zip), ContentType: aws.String("application/zip")}); err != nil {
		return fmt.Errorf("put the function's zip in the embedded S3 as s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// Close shuts the cloud down, letting invocations in flight finish.
func (p *Pipeline) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Cloud.Close(ctx)
}

// Output returns a stack output (the template guarantees them).
func (p *Pipeline) Output(name string) string { return p.Stack.Outputs[name] }

// Command bootstrap is ProcessOrderFunction's Lambda binary for the
// provided.al2023 runtime. It reads its configuration from the environment,
// builds the SDK clients and the handler, and starts the Lambda runtime loop.
//
// Its environment is described in package processorder.
//
// Build it with `make bootstrap` (linux/arm64, CGO off, -tags lambda.norpc)
// and package it with `make zip`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/orderflow/orderflow/internal/ownbody"
	"github.com/orderflow/orderflow/internal/processorder"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bootstrap:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	// On Lambda the default chain finds the region and the execution role's
	// credentials in the environment the runtime sets.
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	// A request body of its own for the transport: the SDK closes the one
	// it built when the answer's headers arrive, and an answer that comes
	// before the body is sent is otherwise lost (internal/ownbody).
	// LoadDefaultConfig leaves the client nil unless a setting (a CA
	// bundle, say) asks for one of its own; keep that one.
	var next aws.HTTPClient = awshttp.NewBuildableClient()
	if cfg.HTTPClient != nil {
		next = cfg.HTTPClient
	}
	cfg.HTTPClient = ownbody.Client{Next: next}
	h, err := processorder.New(cfg, getenv, stdout)
	if err != nil {
		return err
	}
	lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
	return nil
}

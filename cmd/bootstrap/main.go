// Command bootstrap is ProcessOrderFunction's Lambda binary for the
// provided.al2023 runtime. It reads its configuration from the environment,
// builds the SDK clients and the handler, and starts the Lambda runtime loop.
//
// Environment:
//
//	ORDERS_TABLE  name of the Orders table (required)
//	DLQ_URL       URL of the dead-letter queue for invalid input (required)
//	LOG_LEVEL     debug, info, warn or error (default info)
//	CONCURRENCY   records of a batch processed at once (default 8)
//
// Build it with `make bootstrap` (linux/arm64, CGO off, -tags lambda.norpc)
// and package it with `make zip`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/dynamodb"
	"github.com/orderflow/orderflow/handler"
	"github.com/orderflow/orderflow/sqs"
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
	h, err := newHandler(cfg, getenv, stdout)
	if err != nil {
		return err
	}
	lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
	return nil
}

// newHandler wires the function from its environment and an AWS config.
func newHandler(cfg aws.Config, getenv func(string) string, stdout io.Writer) (*handler.Handler, error) {
	table, dlqURL := getenv("ORDERS_TABLE"), getenv("DLQ_URL")
	var missing []string
	if table == "" {
		missing = append(missing, "ORDERS_TABLE")
	}
	if dlqURL == "" {
		missing = append(missing, "DLQ_URL")
	}
	if missing != nil {
		return nil, fmt.Errorf("environment variable %s must be set", strings.Join(missing, " and "))
	}
	level, err := parseLevel(getenv("LOG_LEVEL"))
	if err != nil {
		return nil, err
	}
	concurrency := 0
	if s := getenv("CONCURRENCY"); s != "" {
		if concurrency, err = strconv.Atoi(s); err != nil || concurrency < 1 {
			return nil, fmt.Errorf("CONCURRENCY is %q; it must be a whole number of at least 1", s)
		}
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level}))
	return handler.New(handler.Options{
		Store:       dynamodb.New(awsddb.NewFromConfig(cfg, dynamodb.BoundedRetries), table),
		DeadLetters: sqs.New(awssqs.NewFromConfig(cfg, sqs.BoundedRetries), dlqURL),
		Logger:      logger,
		Concurrency: concurrency,
	})
}

func parseLevel(s string) (slog.Level, error) {
	if s == "" {
		return slog.LevelInfo, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, errors.New("LOG_LEVEL is " + strconv.Quote(s) + "; it must be debug, info, warn or error")
	}
	return l, nil
}

// Package processorder wires ProcessOrderFunction from its environment: the
// same wiring serves the Lambda bootstrap on AWS and the function registered
// in the embedded cloud, so the two run the same code.
//
// Environment:
//
//	ORDERS_TABLE  name of the Orders table (required)
//	DLQ_URL       URL of the dead-letter queue for invalid input (required)
//	LOG_LEVEL     debug, info, warn or error (default info)
//	CONCURRENCY   records of a batch processed at once (default 8)
//	AWS_LAMBDA_FUNCTION_NAME  the metrics' FunctionName dimension (set by Lambda)
package processorder

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/dynamodb"
	"github.com/orderflow/orderflow/handler"
	"github.com/orderflow/orderflow/sqs"
)

// New wires the function from its environment (read through getenv), an
// AWS config for its clients, and the writer its log lines go to.
func New(cfg aws.Config, getenv func(string) string, stdout io.Writer) (*handler.Handler, error) {
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
		// The metrics go to stdout as EMF lines, which CloudWatch Logs
		// turns into metrics (on AWS and in the embedded cloud).
		Metrics:      stdout,
		FunctionName: getenv("AWS_LAMBDA_FUNCTION_NAME"),
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

package cloud_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/lambda"
	"github.com/orderflow/orderflow/internal/poll"
)

// invokeCloud starts a cloud with one function, "worker", that logs a line
// per invocation, counts its invocations, fails with "boom" when the first
// record's body is "fail", and otherwise reports the records whose body is
// "bad" as failed.
func invokeCloud(t *testing.T) (*cloud.Cloud, *awslambda.Client, *atomic.Int64) {
	t.Helper()
	c, cfg := cloudtest.Start(t)
	var calls atomic.Int64
	c.Lambda.Register("worker", func(fc lambda.Config) (lambda.Handler, error) {
		return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			calls.Add(1)
			fmt.Fprintf(fc.Logs, "worker saw %d records\n", len(ev.Records))
			var resp events.SQSEventResponse
			for i, r := range ev.Records {
				if i == 0 && r.Body == "fail" {
					return resp, errors.New("boom")
				}
				if r.Body == "bad" {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return resp, nil
		}, nil
	})
	if _, err := c.Lambda.CreateFunction(context.Background(), lambda.Function{Name: "worker", TimeoutSec: 5, MemoryMB: 128}); err != nil {
		t.Fatal(err)
	}
	return c, awslambda.NewFromConfig(cfg), &calls
}

const twoRecords = `{"Records":[{"messageId":"m1","body":"ok","eventSource":"aws:sqs"},{"messageId":"m2","body":"bad","eventSource":"aws:sqs"}]}`

func TestTheSDKInvokesAFunctionByNameOrARN(t *testing.T) {
	t.Parallel()
	_, client, _ := invokeCloud(t)
	for _, name := range []string{
		"worker",
		"worker:$LATEST",
		"000000000000:function:worker",
		"arn:aws:lambda:us-east-1:000000000000:function:worker",
		"arn:aws:lambda:us-east-1:000000000000:function:worker:$LATEST",
	} {
		t.Run(name, func(t *testing.T) {
			out, err := client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(twoRecords)})
			if err != nil {
				t.Fatal(err)
			}
			if out.StatusCode != 200 || aws.ToString(out.ExecutedVersion) != "$LATEST" || out.FunctionError != nil {
				t.Errorf("StatusCode %d, ExecutedVersion %q, FunctionError %v", out.StatusCode, aws.ToString(out.ExecutedVersion), aws.ToString(out.FunctionError))
			}
			if got, want := string(out.Payload), `{"batchItemFailures":[{"itemIdentifier":"m2"}]}`; got != want {
				t.Errorf("payload = %s, want %s", got, want)
			}
		})
	}
	out, err := client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("worker"), Qualifier: aws.String("$LATEST")})
	if err != nil || string(out.Payload) != `{"batchItemFailures":null}` {
		t.Errorf("Qualifier $LATEST, no payload: %v %s", err, out.Payload)
	}
}

func TestAFunctionErrorIsAnUnhandledAnswerWithTheLogTail(t *testing.T) {
	t.Parallel()
	_, client, _ := invokeCloud(t)
	out, err := client.Invoke(context.Background(), &awslambda.InvokeInput{
		FunctionName: aws.String("worker"), LogType: lambdatypes.LogTypeTail,
		Payload: []byte(`{"Records":[{"messageId":"m1","body":"fail"}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" {
		t.Errorf("StatusCode %d, FunctionError %q, want 200 Unhandled", out.StatusCode, aws.ToString(out.FunctionError))
	}
	if got, want := string(out.Payload), `{"errorMessage":"boom","errorType":"errorString"}`; got != want {
		t.Errorf("payload = %s, want %s", got, want)
	}
	logs, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		t.Fatalf("LogResult is not base64: %v", err)
	}
	for _, want := range []string{"START RequestId: ", "worker saw 1 records\n", `ERROR Invoke Error {"errorMessage":"boom","errorType":"errorString"}`, "END RequestId: ", "REPORT RequestId: "} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("log tail lacks %q:\n%s", want, logs)
		}
	}
}

func TestEventAndDryRunInvocations(t *testing.T) {
	t.Parallel()
	_, client, calls := invokeCloud(t)
	ctx := context.Background()
	out, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("worker"), InvocationType: lambdatypes.InvocationTypeDryRun, Payload: []byte(twoRecords)})
	if err != nil || out.StatusCode != 204 || len(out.Payload) != 0 {
		t.Fatalf("DryRun: %v, StatusCode %d, payload %q", err, out.StatusCode, out.Payload)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("DryRun ran the function (%d calls)", n)
	}
	out, err = client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("worker"), InvocationType: lambdatypes.InvocationTypeEvent, Payload: []byte(twoRecords)})
	if err != nil || out.StatusCode != 202 || len(out.Payload) != 0 {
		t.Fatalf("Event: %v, StatusCode %d, payload %q", err, out.StatusCode, out.Payload)
	}
	poll.Until(t, 5*time.Second, "the Event invocation runs", func() bool { return calls.Load() == 1 })
	//lint:ignore SA1019 InvokeAsync is deprecated, but still Lambda's, and answered here.
	async, err := client.InvokeAsync(ctx, &awslambda.InvokeAsyncInput{FunctionName: aws.String("worker"), InvokeArgs: strings.NewReader(twoRecords)})
	if err != nil || async.Status != 202 {
		t.Fatalf("InvokeAsync: %v, Status %d", err, async.Status)
	}
	poll.Until(t, 5*time.Second, "the InvokeAsync invocation runs", func() bool { return calls.Load() == 2 })
}

// apiError returns err's code and message, failing the test unless the
// SDK parsed err as an API error (not a deserialization failure).
func apiError(t *testing.T, err error) (string, string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want an API error", err)
	}
	return apiErr.ErrorCode(), apiErr.ErrorMessage()
}

func TestInvokeRefusesWhatLambdaRefuses(t *testing.T) {
	t.Parallel()
	_, client, calls := invokeCloud(t)
	tests := []struct {
		name     string
		in       awslambda.InvokeInput
		code     string
		message  string
		contains bool
	}{
		{"an unknown function", awslambda.InvokeInput{FunctionName: aws.String("nobody")},
			"ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nobody:$LATEST", false},
		{"a version the host does not keep", awslambda.InvokeInput{FunctionName: aws.String("worker"), Qualifier: aws.String("1")},
			"ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:worker:1", false},
		{"an alias in the name", awslambda.InvokeInput{FunctionName: aws.String("worker:live")},
			"ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:worker:live", false},
		{"another region's function", awslambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:eu-west-1:000000000000:function:worker")},
			"ResourceNotFoundException", "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')", false},
		{"another account's function", awslambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:111111111111:function:worker")},
			"ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:111111111111:function:worker:$LATEST", false},
		{"a name Lambda refuses", awslambda.InvokeInput{FunctionName: aws.String("my-function!")},
			"ValidationException", "1 validation error detected: Value 'my-function!' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: ", true},
		{"a name with a slash", awslambda.InvokeInput{FunctionName: aws.String("../event-source-mappings")},
			"ValidationException", "1 validation error detected: Value '../event-source-mappings' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: ", true},
		{"an ARN too long", awslambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:" + strings.Repeat("a", 130))},
			"ValidationException", "Member must have length less than or equal to 170", true},
		{"a name too long", awslambda.InvokeInput{FunctionName: aws.String(strings.Repeat("a", 65))},
			"ValidationException", "Member must have length less than or equal to 64", true},
		{"a qualifier Lambda refuses", awslambda.InvokeInput{FunctionName: aws.String("worker"), Qualifier: aws.String("bad!")},
			"ValidationException", "1 validation error detected: Value 'bad!' at 'qualifier' failed to satisfy constraint: ", true},
		{"two qualifiers that differ", awslambda.InvokeInput{FunctionName: aws.String("worker:$LATEST"), Qualifier: aws.String("2")},
			"InvalidParameterValueException", "The derived qualifier from the function name does not match the specified qualifier.", false},
		{"a payload that is not JSON", awslambda.InvokeInput{FunctionName: aws.String("worker"), Payload: []byte(`{"Records":`)},
			"InvalidRequestContentException", "Could not parse request body into json: Could not parse payload into json: ", true},
		{"a payload that is not UTF-8", awslambda.InvokeInput{FunctionName: aws.String("worker"), Payload: []byte("\"\x87\"")},
			"InvalidRequestContentException", "Could not parse request body into json: Could not parse payload into json: the payload is not valid UTF-8", false},
		{"a synchronous payload over 6 MB", awslambda.InvokeInput{FunctionName: aws.String("worker"), Payload: jsonString(6<<20 + 1)},
			"RequestEntityTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation", false},
		{"an asynchronous payload over 1 MB", awslambda.InvokeInput{FunctionName: aws.String("worker"), InvocationType: lambdatypes.InvocationTypeEvent, Payload: jsonString(1<<20 + 1)},
			"RequestEntityTooLargeException", "Request must be smaller than 1048576 bytes for the InvokeFunction operation", false},
		{"an invocation type Lambda does not know", awslambda.InvokeInput{FunctionName: aws.String("worker"), InvocationType: "Later"},
			"ValidationException", "1 validation error detected: Value 'Later' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			_, err := client.Invoke(context.Background(), &in)
			code, msg := apiError(t, err)
			if code != tt.code || (tt.contains && !strings.Contains(msg, tt.message)) || (!tt.contains && msg != tt.message) {
				t.Errorf("got %s %q, want %s %q", code, msg, tt.code, tt.message)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("refused invocations ran the function %d times", n)
	}
	// The largest payloads Lambda accepts are accepted.
	out, err := client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("worker"), Payload: jsonString(6 << 20)})
	if err != nil || out.StatusCode != 200 {
		t.Errorf("a 6 MiB payload: %v", err)
	}
}

// jsonString is a JSON string of n bytes, quotes included.
func jsonString(n int) []byte {
	return append(append([]byte{'"'}, bytes.Repeat([]byte{'a'}, n-2)...), '"')
}

func TestEveryLambdaOperationAnswersJSONTheSDKParses(t *testing.T) {
	t.Parallel()
	_, client, _ := invokeCloud(t)
	ctx := context.Background()
	fn := aws.String("worker")

	layers, err := client.ListLayers(ctx, &awslambda.ListLayersInput{})
	if err != nil || len(layers.Layers) != 0 {
		t.Errorf("ListLayers = %v, %v; want an empty list", layers, err)
	}
	lv, err := client.ListLayerVersions(ctx, &awslambda.ListLayerVersionsInput{LayerName: aws.String("any")})
	if err != nil || len(lv.LayerVersions) != 0 {
		t.Errorf("ListLayerVersions = %v, %v; want an empty list", lv, err)
	}
	versions, err := client.ListVersionsByFunction(ctx, &awslambda.ListVersionsByFunctionInput{FunctionName: fn})
	if err != nil || len(versions.Versions) != 1 || aws.ToString(versions.Versions[0].Version) != "$LATEST" {
		t.Errorf("ListVersionsByFunction = %v, %v; want $LATEST alone", versions, err)
	}
	aliases, err := client.ListAliases(ctx, &awslambda.ListAliasesInput{FunctionName: fn})
	if err != nil || len(aliases.Aliases) != 0 {
		t.Errorf("ListAliases = %v, %v; want an empty list", aliases, err)
	}
	conc, err := client.GetFunctionConcurrency(ctx, &awslambda.GetFunctionConcurrencyInput{FunctionName: fn})
	if err != nil || conc.ReservedConcurrentExecutions != nil {
		t.Errorf("GetFunctionConcurrency = %v, %v; want none reserved", conc, err)
	}

	notImplemented := func(op string) string {
		return "The embedded Lambda does not implement " + op + " yet; it answers the functions' Create, Get, List, Update (code and configuration), Delete and Invoke, their versions and aliases, SQS event source mappings, and empty lists of layers."
	}
	tests := []struct {
		name          string
		call          func() error
		code, message string
	}{
		{"GetLayerVersion", func() error {
			_, err := client.GetLayerVersion(ctx, &awslambda.GetLayerVersionInput{LayerName: aws.String("l"), VersionNumber: aws.Int64(1)})
			return err
		}, "ResourceNotFoundException", "The resource you requested does not exist."},
		{"GetLayerVersionByArn", func() error {
			_, err := client.GetLayerVersionByArn(ctx, &awslambda.GetLayerVersionByArnInput{Arn: aws.String("arn:aws:lambda:us-east-1:000000000000:layer:l:1")})
			return err
		}, "ResourceNotFoundException", "The resource you requested does not exist."},
		{"GetAlias", func() error {
			_, err := client.GetAlias(ctx, &awslambda.GetAliasInput{FunctionName: fn, Name: aws.String("live")})
			return err
		}, "ResourceNotFoundException", "Cannot find alias arn: arn:aws:lambda:us-east-1:000000000000:function:worker:live"},
		{"ListAliases of an unknown function", func() error {
			_, err := client.ListAliases(ctx, &awslambda.ListAliasesInput{FunctionName: aws.String("nobody")})
			return err
		}, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nobody"},
		{"GetFunction of an invalid name", func() error {
			_, err := client.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("*")})
			return err
		}, "ValidationException", "1 validation error detected: Value '*' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST(\\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"},
		{"UpdateFunctionCode with bytes that are not a zip", func() error {
			_, err := client.UpdateFunctionCode(ctx, &awslambda.UpdateFunctionCodeInput{FunctionName: fn, ZipFile: []byte("PK")})
			return err
		}, "InvalidParameterValueException", "Could not unzip uploaded file. Please check your file, then try to upload again."},
		{"CreateAlias of a version never published", func() error {
			_, err := client.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("1")})
			return err
		}, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:worker:1"},
		{"CreateFunction without a runtime", func() error {
			_, err := client.CreateFunction(ctx, &awslambda.CreateFunctionInput{FunctionName: aws.String("f"), Role: aws.String("arn:aws:iam::000000000000:role/r"), Code: &lambdatypes.FunctionCode{ZipFile: []byte("PK")}})
			return err
		}, "InvalidParameterValueException", "Runtime and Handler are mandatory parameters for functions created with deployment packages."},
		{"DeleteEventSourceMapping of none", func() error {
			_, err := client.DeleteEventSourceMapping(ctx, &awslambda.DeleteEventSourceMappingInput{UUID: aws.String("a1b2c3d4-0000-0000-0000-000000000000")})
			return err
		}, "ResourceNotFoundException", "The resource you requested does not exist."},
		{"PublishLayerVersion", func() error {
			_, err := client.PublishLayerVersion(ctx, &awslambda.PublishLayerVersionInput{LayerName: aws.String("l"), Content: &lambdatypes.LayerVersionContentInput{ZipFile: []byte("PK")}})
			return err
		}, "NotImplemented", notImplemented("PublishLayerVersion")},
		{"GetAccountSettings", func() error {
			_, err := client.GetAccountSettings(ctx, &awslambda.GetAccountSettingsInput{})
			return err
		}, "NotImplemented", notImplemented("GetAccountSettings")},
		{"ListTags", func() error {
			_, err := client.ListTags(ctx, &awslambda.ListTagsInput{Resource: aws.String("arn:aws:lambda:us-east-1:000000000000:function:worker")})
			return err
		}, "NotImplemented", notImplemented("ListTags")},
		{"GetFunctionUrlConfig", func() error {
			_, err := client.GetFunctionUrlConfig(ctx, &awslambda.GetFunctionUrlConfigInput{FunctionName: fn})
			return err
		}, "NotImplemented", notImplemented("GetFunctionUrlConfig")},
		{"ListProvisionedConcurrencyConfigs", func() error {
			_, err := client.ListProvisionedConcurrencyConfigs(ctx, &awslambda.ListProvisionedConcurrencyConfigsInput{FunctionName: fn})
			return err
		}, "NotImplemented", notImplemented("ListProvisionedConcurrencyConfigs")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := apiError(t, tt.call())
			if code != tt.code || msg != tt.message {
				t.Errorf("got %s %q, want %s %q", code, msg, tt.code, tt.message)
			}
		})
	}
}

func TestAPathNoLambdaOperationHasAnswersLambdasJSONError(t *testing.T) {
	t.Parallel()
	c, _ := cloudtest.Start(t)
	req, _ := http.NewRequest(http.MethodGet, c.URL()+"/2018-10-31/nothing/here", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=orderflow/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || resp.Header.Get("X-Amzn-Errortype") != "UnknownOperationException" || resp.Header.Get("Content-Type") != "application/json" ||
		string(body) != `{"Message":"Lambda has no operation GET /2018-10-31/nothing/here","Type":"User"}` {
		t.Errorf("got %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

func TestARequestSignedForS3NeverReachesLambda(t *testing.T) {
	t.Parallel()
	c, _ := cloudtest.Start(t)
	for _, scope := range []string{"lambda", "s3"} {
		req, _ := http.NewRequest(http.MethodGet, c.URL()+"/2018-10-31/layers", nil)
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=orderflow/20260101/us-east-1/"+scope+"/aws4_request, SignedHeaders=host, Signature=00")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lambdaAnswered := resp.StatusCode == 200 && string(body) == `{"Layers":[]}`
		if want := scope == "lambda"; lambdaAnswered != want {
			t.Errorf("signed for %s: Lambda answered: %v, want %v (%d %s)", scope, lambdaAnswered, want, resp.StatusCode, body)
		}
	}
}

func TestInvokeUnderRequireAuth(t *testing.T) {
	t.Parallel()
	c, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.Credentials = map[string]string{"AKIDLOCAL": "s3cr3t"} })
	c.Lambda.Register("worker", func(lambda.Config) (lambda.Handler, error) {
		return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, nil
		}, nil
	})
	if _, err := c.Lambda.CreateFunction(context.Background(), lambda.Function{Name: "worker", TimeoutSec: 5, MemoryMB: 128}); err != nil {
		t.Fatal(err)
	}
	signed := cfg.Copy()
	signed.Credentials = credentials.NewStaticCredentialsProvider("AKIDLOCAL", "s3cr3t", "")
	out, err := awslambda.NewFromConfig(signed).Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("worker"), Payload: []byte(twoRecords)})
	if err != nil || out.StatusCode != 200 {
		t.Fatalf("signed: %v", err)
	}
	unknown := cfg.Copy()
	unknown.Credentials = credentials.NewStaticCredentialsProvider("AKIDOTHER", "s3cr3t", "")
	_, err = awslambda.NewFromConfig(unknown).Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("worker"), Payload: []byte(twoRecords)})
	if code, _ := apiError(t, err); code != "UnrecognizedClientException" {
		t.Errorf("an unknown key: code %s, want UnrecognizedClientException", code)
	}
}

func TestAPublishedVersionIsListedAndInvokedAsLatestIs(t *testing.T) {
	t.Parallel()
	_, client, calls := invokeCloud(t)
	ctx := context.Background()
	fn := aws.String("worker")
	for i := range 2 { // nothing changed: the second publish answers version 1 again
		v, err := client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: fn, Description: aws.String("first")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(v.Version) != "1" || aws.ToString(v.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:worker:1" || aws.ToString(v.Description) != "first" {
			t.Errorf("publish %d: Version %q, FunctionArn %q, Description %q", i+1, aws.ToString(v.Version), aws.ToString(v.FunctionArn), aws.ToString(v.Description))
		}
	}
	versions, err := client.ListVersionsByFunction(ctx, &awslambda.ListVersionsByFunctionInput{FunctionName: fn})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range versions.Versions {
		got = append(got, aws.ToString(v.Version))
	}
	if strings.Join(got, ",") != "$LATEST,1" {
		t.Errorf("versions = %v, want $LATEST,1", got)
	}
	cfg, err := client.GetFunctionConfiguration(ctx, &awslambda.GetFunctionConfigurationInput{FunctionName: fn, Qualifier: aws.String("1")})
	if err != nil || aws.ToString(cfg.Version) != "1" {
		t.Errorf("GetFunctionConfiguration of version 1: %v, Version %q", err, aws.ToString(cfg.Version))
	}
	out, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("worker:1"), Payload: []byte(twoRecords)})
	if err != nil || aws.ToString(out.ExecutedVersion) != "1" || calls.Load() != 1 {
		t.Errorf("invoking version 1: %v, ExecutedVersion %q, %d calls", err, aws.ToString(out.ExecutedVersion), calls.Load())
	}
	_, err = client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: fn, Qualifier: aws.String("2")})
	if code, msg := apiError(t, err); code != "ResourceNotFoundException" || msg != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:worker:2" {
		t.Errorf("version 2: %s %q", code, msg)
	}
	_, err = client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: fn, CodeSha256: aws.String("abc")})
	if code, _ := apiError(t, err); code != "InvalidParameterValueException" {
		t.Errorf("publishing with a CodeSha256: code %s, want InvalidParameterValueException", code)
	}
	_, err = client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String("nobody")})
	if code, _ := apiError(t, err); code != "ResourceNotFoundException" {
		t.Errorf("publishing an unknown function: code %s, want ResourceNotFoundException", code)
	}
}

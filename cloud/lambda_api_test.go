package cloud_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/internal/lambdazip"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
	"github.com/orderflow/orderflow/internal/syncbuf"
	"github.com/orderflow/orderflow/internal/testruntime"
)

// These tests drive Lambda's management API through the SDK's client:
// functions created from a zip (internal/testruntime: a bootstrap that
// answers with the code it is and the event it got) run as child
// processes of the cloud.

const testRole = "arn:aws:iam::000000000000:role/lambda-role"

func runtimeZip(t *testing.T, code string) []byte {
	t.Helper()
	b, err := testruntime.Zip(code)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func apiCloud(t *testing.T, opts ...func(*cloud.Options)) (*cloud.Cloud, aws.Config, *awslambda.Client) {
	t.Helper()
	c, cfg := cloudtest.Start(t, opts...)
	return c, cfg, awslambda.NewFromConfig(cfg)
}

func createZipFunction(t *testing.T, client *awslambda.Client, name string, zip []byte, tweak ...func(*awslambda.CreateFunctionInput)) *awslambda.CreateFunctionOutput {
	t.Helper()
	in := &awslambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String(testRole), Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Code: &lambdatypes.FunctionCode{ZipFile: zip}, Timeout: aws.Int32(5),
	}
	for _, f := range tweak {
		f(in)
	}
	out, err := client.CreateFunction(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
	return out
}

// invokeAnswer invokes the function and decodes its answer.
func invokeAnswer(t *testing.T, client *awslambda.Client, name, qualifier, event string) (testruntime.Answer, string) {
	t.Helper()
	in := &awslambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(event)}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	out, err := client.Invoke(context.Background(), in)
	if err != nil {
		t.Fatalf("Invoke %s (%s): %v", name, qualifier, err)
	}
	if out.FunctionError != nil {
		t.Fatalf("Invoke %s (%s): FunctionError %s: %s", name, qualifier, aws.ToString(out.FunctionError), out.Payload)
	}
	var a testruntime.Answer
	if err := json.Unmarshal(out.Payload, &a); err != nil {
		t.Fatalf("the answer %s is not the test runtime's: %v", out.Payload, err)
	}
	return a, aws.ToString(out.ExecutedVersion)
}

func sha256Base64(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func TestAFunctionCreatedFromZipBytesAnswersAnInvocation(t *testing.T) {
	t.Parallel()
	_, _, client := apiCloud(t)
	zip := runtimeZip(t, "v1")
	out := createZipFunction(t, client, "echo", zip, func(in *awslambda.CreateFunctionInput) {
		in.Environment = &lambdatypes.Environment{Variables: map[string]string{"GREETING": "hello"}}
		in.Description = aws.String("echoes its events")
	})
	if got, want := aws.ToString(out.FunctionArn), "arn:aws:lambda:us-east-1:000000000000:function:echo"; got != want {
		t.Errorf("FunctionArn = %s, want %s", got, want)
	}
	if out.State != lambdatypes.StateActive || out.LastUpdateStatus != lambdatypes.LastUpdateStatusSuccessful || aws.ToString(out.Version) != "$LATEST" {
		t.Errorf("State %s, LastUpdateStatus %s, Version %s; want Active, Successful, $LATEST", out.State, out.LastUpdateStatus, aws.ToString(out.Version))
	}
	if got, want := aws.ToString(out.CodeSha256), sha256Base64(zip); got != want {
		t.Errorf("CodeSha256 = %s, want %s", got, want)
	}
	if out.CodeSize != int64(len(zip)) || aws.ToString(out.RevisionId) == "" || aws.ToInt32(out.Timeout) != 5 || aws.ToInt32(out.MemorySize) != 128 ||
		aws.ToString(out.Role) != testRole || aws.ToString(out.Description) != "echoes its events" || out.PackageType != lambdatypes.PackageTypeZip {
		t.Errorf("CodeSize %d (want %d), RevisionId %q, Timeout %d, MemorySize %d, Role %s, Description %q, PackageType %s",
			out.CodeSize, len(zip), aws.ToString(out.RevisionId), aws.ToInt32(out.Timeout), aws.ToInt32(out.MemorySize), aws.ToString(out.Role), aws.ToString(out.Description), out.PackageType)
	}
	a, executed := invokeAnswer(t, client, "echo", "", `{"hello":"world"}`)
	if a.Code != "v1" || a.Version != "$LATEST" || a.Greeting != "hello" || string(a.Event) != `{"hello":"world"}` || executed != "$LATEST" {
		t.Errorf("answer %+v (event %s), executed %s", a, a.Event, executed)
	}
	got, err := client.GetFunction(context.Background(), &awslambda.GetFunctionInput{FunctionName: aws.String("echo")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.Code.RepositoryType) != "S3" || aws.ToString(got.Configuration.CodeSha256) != sha256Base64(zip) {
		t.Errorf("GetFunction: RepositoryType %s, CodeSha256 %s", aws.ToString(got.Code.RepositoryType), aws.ToString(got.Configuration.CodeSha256))
	}
	list, err := client.ListFunctions(context.Background(), &awslambda.ListFunctionsInput{})
	if err != nil || len(list.Functions) != 1 || aws.ToString(list.Functions[0].FunctionName) != "echo" {
		t.Errorf("ListFunctions = %v, %v", list, err)
	}
}

func TestAFunctionIsCreatedFromAZipInTheEmbeddedS3(t *testing.T) {
	t.Parallel()
	_, cfg, client := apiCloud(t)
	ctx := context.Background()
	s3c := awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("artefacts")}); err != nil {
		t.Fatal(err)
	}
	zip := runtimeZip(t, "from-s3")
	if _, err := s3c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("artefacts"), Key: aws.String("fn/echo.zip"), Body: bytes.NewReader(zip)}); err != nil {
		t.Fatal(err)
	}
	out, err := client.CreateFunction(ctx, &awslambda.CreateFunctionInput{
		FunctionName: aws.String("echo"), Role: aws.String(testRole), Runtime: lambdatypes.RuntimeProvidedal2, Handler: aws.String("bootstrap"),
		Code: &lambdatypes.FunctionCode{S3Bucket: aws.String("artefacts"), S3Key: aws.String("fn/echo.zip")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.CodeSha256) != sha256Base64(zip) || aws.ToInt32(out.Timeout) != 3 {
		t.Errorf("CodeSha256 %s (want %s), Timeout %d (want Lambda's default 3)", aws.ToString(out.CodeSha256), sha256Base64(zip), aws.ToInt32(out.Timeout))
	}
	if a, _ := invokeAnswer(t, client, "echo", "", `{}`); a.Code != "from-s3" {
		t.Errorf("the function answered as %q, want from-s3", a.Code)
	}
	for _, tt := range []struct{ bucket, key, message string }{
		{"artefacts", "missing.zip", "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."},
		{"nowhere", "fn/echo.zip", "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist"},
	} {
		_, err := client.CreateFunction(ctx, &awslambda.CreateFunctionInput{
			FunctionName: aws.String("other"), Role: aws.String(testRole), Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
			Code: &lambdatypes.FunctionCode{S3Bucket: aws.String(tt.bucket), S3Key: aws.String(tt.key)},
		})
		if code, msg := apiError(t, err); code != "InvalidParameterValueException" || msg != tt.message {
			t.Errorf("s3://%s/%s: got %s %q, want InvalidParameterValueException %q", tt.bucket, tt.key, code, msg, tt.message)
		}
	}
}

func TestUpdatedCodeRunsFromTheNextInvocation(t *testing.T) {
	t.Parallel()
	_, _, client := apiCloud(t)
	ctx := context.Background()
	created := createZipFunction(t, client, "echo", runtimeZip(t, "v1"))
	if a, _ := invokeAnswer(t, client, "echo", "", `{}`); a.Code != "v1" {
		t.Fatalf("before the update the function answered as %q", a.Code)
	}
	_, err := client.UpdateFunctionCode(ctx, &awslambda.UpdateFunctionCodeInput{FunctionName: aws.String("echo"), ZipFile: runtimeZip(t, "v2"), RevisionId: aws.String("not-the-revision")})
	if code, msg := apiError(t, err); code != "PreconditionFailedException" ||
		msg != "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id" {
		t.Errorf("a stale RevisionId: got %s %q", code, msg)
	}
	v2 := runtimeZip(t, "v2")
	up, err := client.UpdateFunctionCode(ctx, &awslambda.UpdateFunctionCodeInput{FunctionName: aws.String("echo"), ZipFile: v2, RevisionId: created.RevisionId})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.CodeSha256) != sha256Base64(v2) || aws.ToString(up.RevisionId) == aws.ToString(created.RevisionId) {
		t.Errorf("after the update: CodeSha256 %s (want %s), RevisionId %s (was %s)", aws.ToString(up.CodeSha256), sha256Base64(v2), aws.ToString(up.RevisionId), aws.ToString(created.RevisionId))
	}
	if a, _ := invokeAnswer(t, client, "echo", "", `{}`); a.Code != "v2" {
		t.Errorf("after the update the function answered as %q, want v2", a.Code)
	}
}

func TestAConfigurationUpdateIsWhatTheFunctionRunsWith(t *testing.T) {
	t.Parallel()
	_, _, client := apiCloud(t)
	ctx := context.Background()
	zip := runtimeZip(t, "v1")
	createZipFunction(t, client, "echo", zip)
	out, err := client.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("echo"), Timeout: aws.Int32(42), MemorySize: aws.Int32(256), Description: aws.String("slower"),
		Environment: &lambdatypes.Environment{Variables: map[string]string{"GREETING": "bonjour"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.Timeout) != 42 {
		t.Errorf("UpdateFunctionConfiguration answered Timeout %d", aws.ToInt32(out.Timeout))
	}
	got, err := client.GetFunctionConfiguration(ctx, &awslambda.GetFunctionConfigurationInput{FunctionName: aws.String("echo")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(got.Timeout) != 42 || aws.ToInt32(got.MemorySize) != 256 || aws.ToString(got.Description) != "slower" ||
		got.Environment == nil || got.Environment.Variables["GREETING"] != "bonjour" || aws.ToString(got.CodeSha256) != sha256Base64(zip) {
		t.Errorf("GetFunctionConfiguration: Timeout %d, MemorySize %d, Description %q, Environment %v, CodeSha256 %s",
			aws.ToInt32(got.Timeout), aws.ToInt32(got.MemorySize), aws.ToString(got.Description), got.Environment, aws.ToString(got.CodeSha256))
	}
	if a, _ := invokeAnswer(t, client, "echo", "", `{}`); a.Code != "v1" || a.Greeting != "bonjour" {
		t.Errorf("after the update the function answered %+v, want its code v1 with GREETING bonjour", a)
	}
}

func TestAPublishedVersionKeepsItsCodeWhenLatestChanges(t *testing.T) {
	t.Parallel()
	_, _, client := apiCloud(t)
	ctx := context.Background()
	fn := aws.String("echo")
	v1zip := runtimeZip(t, "v1")
	created := createZipFunction(t, client, "echo", v1zip, func(in *awslambda.CreateFunctionInput) { in.Publish = true })
	if aws.ToString(created.Version) != "1" || aws.ToString(created.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:echo:1" {
		t.Errorf("CreateFunction with Publish answered Version %s, FunctionArn %s", aws.ToString(created.Version), aws.ToString(created.FunctionArn))
	}
	// Nothing changed: publishing again answers version 1.
	again, err := client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: fn})
	if err != nil || aws.ToString(again.Version) != "1" {
		t.Fatalf("publishing an unchanged function: %v, Version %s; want 1", err, aws.ToString(again.Version))
	}
	if _, err := client.UpdateFunctionCode(ctx, &awslambda.UpdateFunctionCodeInput{FunctionName: fn, ZipFile: runtimeZip(t, "v2")}); err != nil {
		t.Fatal(err)
	}
	_, err = client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: fn, CodeSha256: aws.String(sha256Base64(v1zip))})
	if code, msg := apiError(t, err); code != "InvalidParameterValueException" || !strings.HasPrefix(msg, "CodeSHA256 ("+sha256Base64(v1zip)+") is different from current CodeSHA256 in $LATEST (") {
		t.Errorf("a CodeSha256 of older code: got %s %q", code, msg)
	}
	if a, executed := invokeAnswer(t, client, "echo", "1", `{}`); a.Code != "v1" || a.Version != "1" || executed != "1" {
		t.Errorf("version 1 answered %+v, executed %s; want code v1, version 1", a, executed)
	}
	if a, executed := invokeAnswer(t, client, "echo", "", `{}`); a.Code != "v2" || executed != "$LATEST" {
		t.Errorf("$LATEST answered %+v, executed %s; want code v2", a, executed)
	}
	v2, err := client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: fn, Description: aws.String("second")})
	if err != nil || aws.ToString(v2.Version) != "2" || aws.ToString(v2.Description) != "second" {
		t.Fatalf("publishing changed code: %v, Version %s, Description %q; want 2, second", err, aws.ToString(v2.Version), aws.ToString(v2.Description))
	}
	if a, _ := invokeAnswer(t, client, "arn:aws:lambda:us-east-1:000000000000:function:echo:2", "", `{}`); a.Code != "v2" {
		t.Errorf("version 2 by ARN answered as %q", a.Code)
	}
	versions, err := client.ListVersionsByFunction(ctx, &awslambda.ListVersionsByFunctionInput{FunctionName: fn})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range versions.Versions {
		got = append(got, aws.ToString(v.Version)+"="+aws.ToString(v.CodeSha256)[:8])
	}
	v1sha, v2sha := sha256Base64(v1zip)[:8], aws.ToString(v2.CodeSha256)[:8]
	if want := []string{"$LATEST=" + v2sha, "1=" + v1sha, "2=" + v2sha}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListVersionsByFunction = %v, want %v", got, want)
	}
	all, err := client.ListFunctions(ctx, &awslambda.ListFunctionsInput{FunctionVersion: lambdatypes.FunctionVersionAll})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, f := range all.Functions {
		got = append(got, aws.ToString(f.FunctionArn))
	}
	if want := []string{"arn:aws:lambda:us-east-1:000000000000:function:echo", "arn:aws:lambda:us-east-1:000000000000:function:echo:1", "arn:aws:lambda:us-east-1:000000000000:function:echo:2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListFunctions FunctionVersion=ALL = %v, want %v", got, want)
	}
	// Deleting version 1 leaves version 2; its number is not reused.
	if _, err := client.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: fn, Qualifier: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	_, err = client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: fn, Qualifier: aws.String("1")})
	if code, msg := apiError(t, err); code != "ResourceNotFoundException" || msg != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:echo:1" {
		t.Errorf("invoking a deleted version: got %s %q", code, msg)
	}
	if _, err := client.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: fn, Timeout: aws.Int32(9)}); err != nil {
		t.Fatal(err)
	}
	v3, err := client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: fn})
	if err != nil || aws.ToString(v3.Version) != "3" || aws.ToInt32(v3.Timeout) != 9 {
		t.Errorf("publishing a changed configuration: %v, Version %s, Timeout %d; want 3, 9", err, aws.ToString(v3.Version), aws.ToInt32(v3.Timeout))
	}
	_, err = client.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: fn, Qualifier: aws.String("$LATEST")})
	if code, msg := apiError(t, err); code != "InvalidParameterValueException" || msg != "$LATEST version cannot be deleted without deleting the function." {
		t.Errorf("deleting $LATEST alone: got %s %q", code, msg)
	}
}

func TestAnAliasInvokesTheVersionItNames(t *testing.T) {
	t.Parallel()
	_, _, client := apiCloud(t)
	ctx := context.Background()
	fn := aws.String("echo")
	createZipFunction(t, client, "echo", runtimeZip(t, "v1"), func(in *awslambda.CreateFunctionInput) { in.Publish = true })
	if _, err := client.UpdateFunctionCode(ctx, &awslambda.UpdateFunctionCodeInput{FunctionName: fn, ZipFile: runtimeZip(t, "v2"), Publish: true}); err != nil {
		t.Fatal(err)
	}
	al, err := client.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("1"), Description: aws.String("what serves")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(al.AliasArn) != "arn:aws:lambda:us-east-1:000000000000:function:echo:live" || aws.ToString(al.FunctionVersion) != "1" || aws.ToString(al.RevisionId) == "" {
		t.Errorf("CreateAlias answered %s → %s, RevisionId %q", aws.ToString(al.AliasArn), aws.ToString(al.FunctionVersion), aws.ToString(al.RevisionId))
	}
	for _, name := range []string{"echo:live", "arn:aws:lambda:us-east-1:000000000000:function:echo:live"} {
		if a, executed := invokeAnswer(t, client, name, "", `{}`); a.Code != "v1" || executed != "1" {
			t.Errorf("%s answered %+v, executed %s; want v1, 1", name, a, executed)
		}
	}
	if a, _ := invokeAnswer(t, client, "echo", "live", `{}`); a.Code != "v1" {
		t.Errorf("Qualifier live answered as %q", a.Code)
	}
	_, err = client.UpdateAlias(ctx, &awslambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("2"), RevisionId: aws.String("stale")})
	if code, _ := apiError(t, err); code != "PreconditionFailedException" {
		t.Errorf("UpdateAlias with a stale RevisionId: got %s", code)
	}
	up, err := client.UpdateAlias(ctx, &awslambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("2"), RevisionId: al.RevisionId})
	if err != nil || aws.ToString(up.FunctionVersion) != "2" || aws.ToString(up.Description) != "what serves" {
		t.Fatalf("UpdateAlias: %v, %+v", err, up)
	}
	if a, executed := invokeAnswer(t, client, "echo:live", "", `{}`); a.Code != "v2" || executed != "2" {
		t.Errorf("after the update, live answered %+v, executed %s", a, executed)
	}
	got, err := client.GetAlias(ctx, &awslambda.GetAliasInput{FunctionName: fn, Name: aws.String("live")})
	if err != nil || aws.ToString(got.FunctionVersion) != "2" {
		t.Errorf("GetAlias: %v, %+v", err, got)
	}
	list, err := client.ListAliases(ctx, &awslambda.ListAliasesInput{FunctionName: fn})
	if err != nil || len(list.Aliases) != 1 || aws.ToString(list.Aliases[0].Name) != "live" {
		t.Errorf("ListAliases: %v, %+v", err, list)
	}
	_, err = client.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: fn, Qualifier: aws.String("2")})
	if code, msg := apiError(t, err); code != "ResourceConflictException" || msg != "Unable to delete version because the following aliases reference it: [live]" {
		t.Errorf("deleting a version an alias names: got %s %q", code, msg)
	}

	refusals := []struct {
		name          string
		call          func() error
		code, message string
	}{
		{"an alias that exists", func() error {
			_, err := client.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("1")})
			return err
		}, "ResourceConflictException", "Alias already exists: arn:aws:lambda:us-east-1:000000000000:function:echo:live"},
		{"a version that does not exist", func() error {
			_, err := client.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: fn, Name: aws.String("next"), FunctionVersion: aws.String("7")})
			return err
		}, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:echo:7"},
		{"a numeric name", func() error {
			_, err := client.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: fn, Name: aws.String("12"), FunctionVersion: aws.String("1")})
			return err
		}, "ValidationException", "1 validation error detected: Value '12' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"},
		{"weighted routing", func() error {
			_, err := client.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: fn, Name: aws.String("canary"), FunctionVersion: aws.String("1"),
				RoutingConfig: &lambdatypes.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1}}})
			return err
		}, "InvalidParameterValueException", "The embedded Lambda does not implement weighted aliases (RoutingConfig.AdditionalVersionWeights): point the alias at one version."},
		{"an alias that does not exist", func() error {
			_, err := client.GetAlias(ctx, &awslambda.GetAliasInput{FunctionName: fn, Name: aws.String("gone")})
			return err
		}, "ResourceNotFoundException", "Cannot find alias arn: arn:aws:lambda:us-east-1:000000000000:function:echo:gone"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := apiError(t, tt.call())
			if code != tt.code || msg != tt.message {
				t.Errorf("got %s %q, want %s %q", code, msg, tt.code, tt.message)
			}
		})
	}

	if _, err := client.DeleteAlias(ctx, &awslambda.DeleteAliasInput{FunctionName: fn, Name: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	_, err = client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("echo:live")})
	if code, msg := apiError(t, err); code != "ResourceNotFoundException" || msg != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:echo:live" {
		t.Errorf("invoking a deleted alias: got %s %q", code, msg)
	}
	// Deleting the function deletes its versions and aliases.
	if _, err := client.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: fn}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "1"} {
		_, err := client.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: fn, Qualifier: aws.String(q)})
		if q == "" {
			_, err = client.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: fn})
		}
		if code, _ := apiError(t, err); code != "ResourceNotFoundException" {
			t.Errorf("GetFunction %q after DeleteFunction: got %s", q, code)
		}
	}
}

func TestAnEventSourceMappingMadeOverHTTPDrivesAZipFunction(t *testing.T) {
	t.Parallel()
	logs := &syncbuf.Buffer{}
	_, cfg, client := apiCloud(t, func(o *cloud.Options) { o.FunctionLogs = logs })
	ctx := context.Background()
	sqsc := awssqs.NewFromConfig(cfg)
	q, err := sqsc.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("jobs"), Attributes: map[string]string{"VisibilityTimeout": "30"}})
	if err != nil {
		t.Fatal(err)
	}
	createZipFunction(t, client, "echo", runtimeZip(t, "v1"))
	queueARN := "arn:aws:sqs:us-east-1:000000000000:jobs"
	m, err := client.CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("echo"), EventSourceArn: aws.String(queueARN), BatchSize: aws.Int32(5),
		FunctionResponseTypes: []lambdatypes.FunctionResponseType{lambdatypes.FunctionResponseTypeReportBatchItemFailures},
		ScalingConfig:         &lambdatypes.ScalingConfig{MaximumConcurrency: aws.Int32(2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(m.State) != "Enabled" || aws.ToInt32(m.BatchSize) != 5 || aws.ToString(m.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:echo" ||
		len(m.FunctionResponseTypes) != 1 || m.ScalingConfig == nil || aws.ToInt32(m.ScalingConfig.MaximumConcurrency) != 2 {
		t.Errorf("CreateEventSourceMapping answered %+v", m)
	}
	if _, err := sqsc.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("job-1")}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the function gets job-1", func() bool { return strings.Contains(logs.String(), `"body":"job-1"`) })
	poll.Until(t, 10*time.Second, "job-1 is deleted", func() bool {
		a, err := sqsc.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
		return err == nil && a.Attributes["ApproximateNumberOfMessages"] == "0" && a.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
	})

	up, err := client.UpdateEventSourceMapping(ctx, &awslambda.UpdateEventSourceMappingInput{UUID: m.UUID, BatchSize: aws.Int32(10), Enabled: aws.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.State) != "Disabled" || aws.ToInt32(up.BatchSize) != 10 || len(up.FunctionResponseTypes) != 1 || aws.ToInt32(up.ScalingConfig.MaximumConcurrency) != 2 {
		t.Errorf("UpdateEventSourceMapping answered %+v; want Disabled, BatchSize 10, the rest kept", up)
	}
	if _, err := sqsc.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("job-2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.UpdateEventSourceMapping(ctx, &awslambda.UpdateEventSourceMappingInput{UUID: m.UUID, Enabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the re-enabled mapping delivers job-2", func() bool { return strings.Contains(logs.String(), `"body":"job-2"`) })

	del, err := client.DeleteEventSourceMapping(ctx, &awslambda.DeleteEventSourceMappingInput{UUID: m.UUID})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(del.State) != "Deleting" || aws.ToString(del.UUID) != aws.ToString(m.UUID) {
		t.Errorf("DeleteEventSourceMapping answered State %s, UUID %s", aws.ToString(del.State), aws.ToString(del.UUID))
	}
	_, err = client.GetEventSourceMapping(ctx, &awslambda.GetEventSourceMappingInput{UUID: m.UUID})
	if code, _ := apiError(t, err); code != "ResourceNotFoundException" {
		t.Errorf("GetEventSourceMapping after the delete: got %s", code)
	}

	refusals := []struct {
		name          string
		in            awslambda.CreateEventSourceMappingInput
		code, message string
	}{
		{"a queue that does not exist", awslambda.CreateEventSourceMappingInput{FunctionName: aws.String("echo"), EventSourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:nothing")},
			"InvalidParameterValueException", "event source arn:aws:sqs:us-east-1:000000000000:nothing: sqs: get attributes of nothing: AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist."},
		{"a stream", awslambda.CreateEventSourceMappingInput{FunctionName: aws.String("echo"), EventSourceArn: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s")},
			"InvalidParameterValueException", "The embedded Lambda maps SQS queues only, not arn:aws:kinesis:us-east-1:000000000000:stream/s: give the ARN of a queue of this cloud."},
		{"a function that does not exist", awslambda.CreateEventSourceMappingInput{FunctionName: aws.String("nobody"), EventSourceArn: aws.String(queueARN)},
			"ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nobody"},
		{"a batch too large", awslambda.CreateEventSourceMappingInput{FunctionName: aws.String("echo"), EventSourceArn: aws.String(queueARN), BatchSize: aws.Int32(20000)},
			"InvalidParameterValueException", "BatchSize 20000 is outside 1–10000"},
		{"a batching window on a FIFO queue", awslambda.CreateEventSourceMappingInput{FunctionName: aws.String("echo"), EventSourceArn: aws.String(queueARN + ".fifo"), MaximumBatchingWindowInSeconds: aws.Int32(1)},
			"InvalidParameterValueException", "Batching window is not supported for FIFO queues"},
		{"a batch over 10 on a FIFO queue", awslambda.CreateEventSourceMappingInput{FunctionName: aws.String("echo"), EventSourceArn: aws.String(queueARN + ".fifo"), BatchSize: aws.Int32(11)},
			"InvalidParameterValueException", "BatchSize 11 is above 10, the most for a FIFO queue"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			_, err := client.CreateEventSourceMapping(ctx, &in)
			code, msg := apiError(t, err)
			if code != tt.code || msg != tt.message {
				t.Errorf("got %s %q, want %s %q", code, msg, tt.code, tt.message)
			}
		})
	}
}

func TestCreateFunctionRefusesWhatLambdaRefuses(t *testing.T) {
	t.Parallel()
	_, _, client := apiCloud(t)
	ctx := context.Background()
	good := runtimeZip(t, "v1")
	createZipFunction(t, client, "taken", good)
	noBootstrap, err := lambdazip.Bytes([]byte("not a bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	noBootstrap = bytes.Replace(noBootstrap, []byte("bootstrap"), []byte("bootstrip"), -1)
	base := func(f func(*awslambda.CreateFunctionInput)) awslambda.CreateFunctionInput {
		in := awslambda.CreateFunctionInput{FunctionName: aws.String("fresh"), Role: aws.String(testRole), Runtime: lambdatypes.RuntimeProvidedal2023,
			Handler: aws.String("bootstrap"), Code: &lambdatypes.FunctionCode{ZipFile: good}}
		f(&in)
		return in
	}
	tests := []struct {
		name          string
		in            awslambda.CreateFunctionInput
		code, message string
	}{
		{"a runtime this host cannot run", base(func(in *awslambda.CreateFunctionInput) {
			in.Runtime = lambdatypes.RuntimePython312
			in.Handler = aws.String("app.handler")
		}),
			"InvalidParameterValueException", "The embedded Lambda cannot run runtime python3.12: it runs zips of the provided.al2023 and provided.al2 runtimes (an executable named bootstrap speaking the Runtime API) and in-process Go handlers. Build the function as a bootstrap (GOOS=linux go build -tags lambda.norpc -o bootstrap) with Runtime provided.al2023, or register an in-process Go handler (lambda.Host.Register) under its name."},
		{"a runtime Lambda does not know", base(func(in *awslambda.CreateFunctionInput) { in.Runtime = "cobol85" }),
			"ValidationException", "1 validation error detected: Value 'cobol85' at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: ["},
		{"no runtime", base(func(in *awslambda.CreateFunctionInput) { in.Runtime = "" }),
			"InvalidParameterValueException", "Runtime and Handler are mandatory parameters for functions created with deployment packages."},
		{"a zip that is not a zip", base(func(in *awslambda.CreateFunctionInput) { in.Code.ZipFile = []byte("PK not really") }),
			"InvalidParameterValueException", "Could not unzip uploaded file. Please check your file, then try to upload again."},
		{"a zip without bootstrap", base(func(in *awslambda.CreateFunctionInput) { in.Code.ZipFile = noBootstrap }),
			"InvalidParameterValueException", "The function's zip cannot run: the zip has no bootstrap at its root: a provided.al2023 function's zip must hold its executable named bootstrap (zip -j function.zip bootstrap)"},
		{"no code", base(func(in *awslambda.CreateFunctionInput) { in.Code = &lambdatypes.FunctionCode{} }),
			"InvalidParameterValueException", "Please provide a source for function code."},
		{"a container image", base(func(in *awslambda.CreateFunctionInput) {
			in.Code = &lambdatypes.FunctionCode{ImageUri: aws.String("repo/image:1")}
		}),
			"InvalidParameterValueException", "The embedded Lambda runs zip packages only, not container images (ImageUri): package the function as a zip holding its bootstrap."},
		{"a name that exists", base(func(in *awslambda.CreateFunctionInput) { in.FunctionName = aws.String("taken") }),
			"ResourceConflictException", "Function already exist: taken"},
		{"a name with a space", base(func(in *awslambda.CreateFunctionInput) { in.FunctionName = aws.String("my function") }),
			"ValidationException", "1 validation error detected: Value 'my function' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: "},
		{"a name too long", base(func(in *awslambda.CreateFunctionInput) { in.FunctionName = aws.String(strings.Repeat("f", 65)) }),
			"ValidationException", "1 validation error detected: Value '" + strings.Repeat("f", 65) + "' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64"},
		{"a name with a qualifier", base(func(in *awslambda.CreateFunctionInput) { in.FunctionName = aws.String("fresh:1") }),
			"InvalidParameterValueException", "FunctionName fresh:1 has a qualifier: CreateFunction takes a function's name without a version or alias."},
		{"a role that is not a role's ARN", base(func(in *awslambda.CreateFunctionInput) { in.Role = aws.String("admin") }),
			"ValidationException", `1 validation error detected: Value 'admin' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`},
		{"a timeout of 0", base(func(in *awslambda.CreateFunctionInput) { in.Timeout = aws.Int32(0) }),
			"ValidationException", "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"a timeout over 15 minutes", base(func(in *awslambda.CreateFunctionInput) { in.Timeout = aws.Int32(901) }),
			"ValidationException", "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"},
		{"too little memory", base(func(in *awslambda.CreateFunctionInput) { in.MemorySize = aws.Int32(64) }),
			"ValidationException", "1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"},
		{"too much memory", base(func(in *awslambda.CreateFunctionInput) { in.MemorySize = aws.Int32(10241) }),
			"ValidationException", "1 validation error detected: Value '10241' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"},
		{"two architectures", base(func(in *awslambda.CreateFunctionInput) {
			in.Architectures = []lambdatypes.Architecture{lambdatypes.ArchitectureArm64, lambdatypes.ArchitectureX8664}
		}), "ValidationException", "1 validation error detected: Value '[arm64, x86_64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1, Member must have length greater than or equal to 1"},
		{"an architecture Lambda does not have", base(func(in *awslambda.CreateFunctionInput) { in.Architectures = []lambdatypes.Architecture{"riscv64"} }),
			"ValidationException", "1 validation error detected: Value '[riscv64]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"},
		{"a reserved environment variable", base(func(in *awslambda.CreateFunctionInput) {
			in.Environment = &lambdatypes.Environment{Variables: map[string]string{"AWS_REGION": "mars-1", "GREETING": "hi"}}
		}), "InvalidParameterValueException", "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: AWS_REGION"},
		{"an environment over 4 KB", base(func(in *awslambda.CreateFunctionInput) {
			in.Environment = &lambdatypes.Environment{Variables: map[string]string{"BIG": strings.Repeat("x", 4096)}}
		}), "InvalidParameterValueException", "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {\"BIG\":\"xxx"},
		{"a handler with a space", base(func(in *awslambda.CreateFunctionInput) { in.Handler = aws.String("boot strap") }),
			"ValidationException", `1 validation error detected: Value 'boot strap' at 'handler' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\s]+`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			_, err := client.CreateFunction(ctx, &in)
			code, msg := apiError(t, err)
			if code != tt.code || !strings.HasPrefix(msg, tt.message) {
				t.Errorf("got %s %q, want %s %q", code, msg, tt.code, tt.message)
			}
		})
	}
	list, err := client.ListFunctions(ctx, &awslambda.ListFunctionsInput{})
	if err != nil || len(list.Functions) != 1 {
		t.Errorf("after the refusals ListFunctions = %+v, %v; want taken alone", list, err)
	}
}

// rawLambda sends a Lambda API request the SDK would not send.
func rawLambda(t *testing.T, c *cloud.Cloud, method, path string, body io.Reader, length int64) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, c.URL()+path, body)
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=orderflow/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var msg struct{ Message string }
	json.Unmarshal(b, &msg)
	return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), msg.Message
}

func TestCreateFunctionRefusesMalformedRequests(t *testing.T) {
	t.Parallel()
	c, _, _ := apiCloud(t)
	zip64 := base64.StdEncoding.EncodeToString(runtimeZip(t, "v1"))
	body := func(fields string) string {
		return `{"FunctionName":"f","Role":"` + testRole + `","Runtime":"provided.al2023","Handler":"bootstrap",` + fields + `}`
	}
	tests := []struct {
		name, body    string
		status        int
		code, message string
	}{
		{"a timeout given as a string", body(`"Timeout":"ten","Code":{"ZipFile":"` + zip64 + `"}`), 400,
			"InvalidRequestContentException", "Could not parse request body into json: the value of Timeout is a JSON string, not the number Lambda takes"},
		{"a zip that is not base64", body(`"Code":{"ZipFile":"not*base64!"}`), 400,
			"InvalidRequestContentException", "Could not parse request body into json: a blob (ZipFile) is not valid base64: illegal base64 data at input byte 3"},
		{"a body that is not JSON", `{"FunctionName":`, 400,
			"InvalidRequestContentException", "Could not parse request body into json: the body is not valid JSON: unexpected end of JSON input (at byte 16)"},
		{"no role", `{"FunctionName":"f","Runtime":"provided.al2023","Handler":"bootstrap","Code":{"ZipFile":"` + zip64 + `"}}`, 400,
			"ValidationException", "1 validation error detected: Value 'null' at 'role' failed to satisfy constraint: Member must not be null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code, msg := rawLambda(t, c, http.MethodPost, "/2015-03-31/functions", strings.NewReader(tt.body), int64(len(tt.body)))
			if status != tt.status || code != tt.code || msg != tt.message {
				t.Errorf("got %d %s %q, want %d %s %q", status, code, msg, tt.status, tt.code, tt.message)
			}
		})
	}
	// A body over Lambda's limit for a direct upload is refused before it
	// is read.
	const huge = 70 << 20
	status, code, msg := rawLambda(t, c, http.MethodPost, "/2015-03-31/functions", io.LimitReader(zeros{}, huge), huge)
	if status != 413 || code != "RequestEntityTooLargeException" || msg != "Request must be smaller than 70167211 bytes for the CreateFunction operation" {
		t.Errorf("a 70 MiB body: got %d %s %q", status, code, msg)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Under --require-auth the edge reads a body whole to check its signature:
// one over its limit is refused there, with Lambda's error code.
func TestACodeUploadOverTheLimitIsRefusedWithLambdasCodeUnderRequireAuth(t *testing.T) {
	t.Parallel()
	_, cfg, _ := apiCloud(t, func(o *cloud.Options) { o.Credentials = map[string]string{"AKIDLOCAL": "s3cr3t"} })
	signed := cfg.Copy()
	signed.Credentials = credentials.NewStaticCredentialsProvider("AKIDLOCAL", "s3cr3t", "")
	signed.RetryMaxAttempts = 1
	_, err := awslambda.NewFromConfig(signed).CreateFunction(context.Background(), &awslambda.CreateFunctionInput{
		FunctionName: aws.String("big"), Role: aws.String(testRole), Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Code: &lambdatypes.FunctionCode{ZipFile: make([]byte, 20<<20)},
	})
	if code, msg := apiError(t, err); code != "RequestEntityTooLargeException" || msg != "the request body cannot be read: http: request body too large" {
		t.Errorf("a 20 MiB zip: got %s %q", code, msg)
	}
}

// A zip within Lambda's 50 MB but over the edge's limit on a request is
// refused with the way round it.
func TestAZipOverTheEdgesLimitIsRefusedWithTheWayThroughS3(t *testing.T) {
	t.Parallel()
	_, _, client := apiCloud(t)
	_, err := client.CreateFunction(context.Background(), &awslambda.CreateFunctionInput{
		FunctionName: aws.String("big"), Role: aws.String(testRole), Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Code: &lambdatypes.FunctionCode{ZipFile: make([]byte, 20<<20)},
	}, func(o *awslambda.Options) { o.RetryMaxAttempts = 1 })
	if code, msg := apiError(t, err); code != "RequestEntityTooLargeException" ||
		msg != "Request must be smaller than 16777216 bytes for the CreateFunction operation on the embedded cloud: upload the zip to S3 and give Code.S3Bucket and Code.S3Key instead" {
		t.Errorf("a 20 MiB zip: got %s %q", code, msg)
	}
}

// What Lambda's API creates is kept in the data directory: after a
// restart the functions run the code they ran, versions and aliases
// still name it, version numbers go on, and mappings poll again.
func TestFunctionsCreatedThroughTheAPIOutliveARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	start := func(logs io.Writer) (*cloud.Cloud, *awslambda.Client, *awssqs.Client) {
		t.Helper()
		c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0", DataDir: dir, FunctionLogs: logs})
		if err != nil {
			t.Fatal(err)
		}
		return c, awslambda.NewFromConfig(c.Config()), awssqs.NewFromConfig(c.Config())
	}
	c, client, sqsc := start(io.Discard)
	fn := aws.String("echo")
	q, err := sqsc.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("jobs")})
	if err != nil {
		t.Fatal(err)
	}
	createZipFunction(t, client, "echo", runtimeZip(t, "v1"), func(in *awslambda.CreateFunctionInput) {
		in.Publish = true
		in.Environment = &lambdatypes.Environment{Variables: map[string]string{"GREETING": "kept"}}
	})
	if _, err := client.UpdateFunctionCode(ctx, &awslambda.UpdateFunctionCodeInput{FunctionName: fn, ZipFile: runtimeZip(t, "v2"), Publish: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	m, err := client.CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{FunctionName: fn, EventSourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:jobs"), BatchSize: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	createZipFunction(t, client, "gone", runtimeZip(t, "g"))
	if _, err := client.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	closeCloud(t, c)

	logs := &syncbuf.Buffer{}
	c, client, sqsc = start(logs)
	defer closeCloud(t, c)
	list, err := client.ListFunctions(ctx, &awslambda.ListFunctionsInput{})
	if err != nil || len(list.Functions) != 1 || aws.ToString(list.Functions[0].FunctionName) != "echo" {
		t.Fatalf("after the restart ListFunctions = %+v, %v; want echo alone", list, err)
	}
	if a, _ := invokeAnswer(t, client, "echo", "", `{}`); a.Code != "v2" || a.Greeting != "kept" {
		t.Errorf("after the restart $LATEST answered %+v, want v2 with GREETING kept", a)
	}
	if a, executed := invokeAnswer(t, client, "echo:live", "", `{}`); a.Code != "v1" || executed != "1" {
		t.Errorf("after the restart the alias live answered %+v, executed %s; want v1, 1", a, executed)
	}
	again, err := client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: fn})
	if err != nil || aws.ToString(again.Version) != "2" {
		t.Errorf("publishing the unchanged function after the restart: %v, Version %s; want 2", err, aws.ToString(again.Version))
	}
	if _, err := client.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: fn, Qualifier: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: fn, Timeout: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	v3, err := client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: fn})
	if err != nil || aws.ToString(v3.Version) != "3" {
		t.Errorf("publishing after the restart: %v, Version %s; want 3 (numbers are not reused)", err, aws.ToString(v3.Version))
	}
	got, err := client.GetEventSourceMapping(ctx, &awslambda.GetEventSourceMappingInput{UUID: m.UUID})
	if err != nil || aws.ToInt32(got.BatchSize) != 3 || aws.ToString(got.State) != "Enabled" {
		t.Fatalf("after the restart the mapping is %+v, %v", got, err)
	}
	if _, err := sqsc.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("after-restart")}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the restored mapping delivers", func() bool { return strings.Contains(logs.String(), `"body":"after-restart"`) })
}

// lambdaCrashChildEnv, when set to a directory, makes the test binary a
// child that starts a cloud on it, creates the function echo through
// Lambda's API (published, with the alias live), says "ready" once every
// call has answered, and waits to be killed.
const lambdaCrashChildEnv = "ORDERFLOW_CLOUD_LAMBDA_API_CHILD"

func createFunctionUntilKilled(dir string) int {
	c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	client := awslambda.NewFromConfig(c.Config())
	zip, err := testruntime.Zip("before-the-crash")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := client.CreateFunction(ctx, &awslambda.CreateFunctionInput{
		FunctionName: aws.String("echo"), Role: aws.String(testRole), Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Code: &lambdatypes.FunctionCode{ZipFile: zip}, Publish: true,
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := client.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: aws.String("echo"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	select {}
}

// A function is durable once CreateFunction has answered: a kill -9 right
// after loses none of it.
func TestAFunctionCreatedThroughTheAPISurvivesAKill(t *testing.T) {
	t.Parallel()
	slowtest.Skip(t, "kills a child process running a cloud")
	dir := t.TempDir()
	killWhenReady(t, lambdaCrashChildEnv+"="+dir, "created the function")

	c := startIn(t, dir)
	defer closeCloud(t, c)
	client := awslambda.NewFromConfig(c.Config())
	if a, executed := invokeAnswer(t, client, "echo:live", "", `{"after":"kill"}`); a.Code != "before-the-crash" || executed != "1" {
		t.Errorf("after the kill, echo:live answered %+v, executed %s", a, executed)
	}
}

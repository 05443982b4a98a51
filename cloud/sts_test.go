package cloud_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
)

func TestGetCallerIdentityAnswersTheAccountsRootForAnyKey(t *testing.T) {
	t.Parallel()
	_, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.AccountID = "123456789012" })
	for _, key := range []string{"orderflow", "AKIAIOSFODNN7EXAMPLE"} {
		t.Run(key, func(t *testing.T) {
			c := cfg.Copy()
			c.Credentials = credentials.NewStaticCredentialsProvider(key, "secret", "")
			out, err := awssts.NewFromConfig(c).GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := aws.ToString(out.Arn), "arn:aws:iam::123456789012:root"; got != want {
				t.Errorf("Arn = %q, want %q", got, want)
			}
			if got, want := aws.ToString(out.Account), "123456789012"; got != want {
				t.Errorf("Account = %q, want %q", got, want)
			}
			if got, want := aws.ToString(out.UserId), "123456789012"; got != want {
				t.Errorf("UserId = %q, want %q", got, want)
			}
		})
	}
}

func TestGetCallerIdentityNeedsAKnownKeyUnderRequireAuth(t *testing.T) {
	t.Parallel()
	_, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.Credentials = map[string]string{"AKIDLOCAL": "s3cr3t"} })
	good := cfg.Copy()
	good.Credentials = credentials.NewStaticCredentialsProvider("AKIDLOCAL", "s3cr3t", "")
	if _, err := awssts.NewFromConfig(good).GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("with the accepted key: %v", err)
	}
	bad := cfg.Copy()
	bad.Credentials = credentials.NewStaticCredentialsProvider("AKIDOTHER", "s3cr3t", "")
	_, err := awssts.NewFromConfig(bad).GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidClientTokenId" {
		t.Fatalf("with an unknown key: err = %v, want InvalidClientTokenId", err)
	}
}

func TestSTSRefusesTheActionsItDoesNotImplementInItsOwnErrorShape(t *testing.T) {
	t.Parallel()
	_, cfg := cloudtest.Start(t)
	_, err := awssts.NewFromConfig(cfg).GetSessionToken(context.Background(), &awssts.GetSessionTokenInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("GetSessionToken: err = %v, want an API error", err)
	}
	if got, want := apiErr.ErrorCode(), "InvalidAction"; got != want {
		t.Errorf("code = %q, want %q", got, want)
	}
	if got, want := apiErr.ErrorMessage(), "The embedded cloud's STS answers only GetCallerIdentity, not GetSessionToken: every key it accepts already acts as the account's root, so there are no other credentials to get."; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	_, err = awssts.NewFromConfig(cfg).AssumeRole(context.Background(), &awssts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/x"), RoleSessionName: aws.String("s")})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidAction" {
		t.Errorf("AssumeRole: err = %v, want InvalidAction", err)
	}
}

func TestSTSAnswersInItsXMLNamespace(t *testing.T) {
	t.Parallel()
	c, _ := cloudtest.Start(t)
	post := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, c.URL()+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=orderflow/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := post("Action=GetCallerIdentity&Version=2011-06-15")
	if status != http.StatusOK || !strings.Contains(body, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`) ||
		!strings.Contains(body, "<Arn>arn:aws:iam::000000000000:root</Arn>") {
		t.Errorf("GetCallerIdentity = %d %s", status, body)
	}
	status, body = post("Action=AssumeRoot&Version=2011-06-15")
	if status != http.StatusBadRequest || !strings.Contains(body, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidAction</Code>`) {
		t.Errorf("AssumeRoot = %d %s", status, body)
	}
}

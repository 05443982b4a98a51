package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

// sdkCall is one real SDK call, of each protocol the CLI uses: CloudFormation
// (query/XML), SQS and DynamoDB (JSON).
type sdkCall struct {
	name string
	call func(ctx context.Context, cfg aws.Config) error
}

var sdkCalls = []sdkCall{
	{"CloudFormation DescribeStacks", func(ctx context.Context, cfg aws.Config) error {
		_, err := awscfn.NewFromConfig(cfg).DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String("orderflow")})
		return err
	}},
	{"SQS GetQueueAttributes", func(ctx context.Context, cfg aws.Config) error {
		_, err := awssqs.NewFromConfig(cfg).GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String("http://127.0.0.1/000000000000/OrderQueue")})
		return err
	}},
	{"DynamoDB DescribeTable", func(ctx context.Context, cfg aws.Config) error {
		_, err := awsddb.NewFromConfig(cfg).DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("Orders")})
		return err
	}},
}

// closedPort is the URL of a port on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	return url
}

// server is an HTTP server on 127.0.0.1 that answers with h.
func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestExplainSaysEverySDKFailureInOneSentence(t *testing.T) {
	hangUp := server(t, func(w http.ResponseWriter, _ *http.Request) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	})
	halfAnswer := server(t, func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 400\r\n\r\n{\"Table\":{")
		buf.Flush()
		conn.Close()
	})
	htmlPage := server(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<html>\n<body><h1>Not Found</h1></body>\n</html>\n")
	})
	awsError := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "" { // the query protocol: CloudFormation
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized.</Message></Error><RequestId>r1</RequestId></ErrorResponse>`)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#AccessDeniedException","message":"User is not authorized."}`)
	})
	release := make(chan struct{})
	expired := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "" {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error><RequestId>r1</RequestId></ErrorResponse>`)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ExpiredTokenException","message":"The security token included in the request is expired"}`)
	})
	slow := server(t, func(http.ResponseWriter, *http.Request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	})
	t.Cleanup(func() { close(release) }) // before slow closes: it waits for its handlers
	tlsServer := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsServer.Config.ErrorLog = quietLog()
	t.Cleanup(tlsServer.Close)
	closed := closedPort(t)
	plainAsTLS := "https://" + hangUp.Listener.Addr().String()

	for _, tc := range []struct {
		name, endpoint string
		timeout        time.Duration
		want           string // the whole sentence after "could not call it: "
		wantPrefix     string
		wantOneOf      []string
		sdkSays        string // what shows the SDK's error has the shape to strip
		creds          aws.CredentialsProvider
	}{
		{name: "nothing listens on the port", endpoint: closed, sdkSays: "exceeded maximum number of attempts, 3, https response error StatusCode: 0",
			want: "nothing answers at " + closed + "; is the address right and its server running?"},
		{name: "the server hangs up without answering", endpoint: hangUp.URL, sdkSays: "exceeded maximum number of attempts, 3",
			want: hangUp.URL + " closed the connection before answering; did its server stop? Check that it is running and try again"},
		{name: "the server dies in the middle of its answer", endpoint: halfAnswer.URL,
			want: halfAnswer.URL + " closed the connection before answering; did its server stop? Check that it is running and try again"},
		{name: "a web server answers 404 with a page", endpoint: htmlPage.URL,
			want: htmlPage.URL + " answered 404 Not Found; is it an AWS endpoint?"},
		{name: "an AWS error keeps its code", endpoint: awsError.URL,
			wantOneOf: []string{
				"AccessDenied: User is not authorized. (the credentials' identity may not do this: grant it the permission, or use another profile with --profile)",
				"AccessDeniedException: User is not authorized. (the credentials' identity may not do this: grant it the permission, or use another profile with --profile)",
			}},
		{name: "the credentials have expired", endpoint: expired.URL,
			wantOneOf: []string{
				"ExpiredToken: The security token included in the request is expired (the credentials have expired: renew them, e.g. with `aws sso login` or new keys)",
				"ExpiredTokenException: The security token included in the request is expired (the credentials have expired: renew them, e.g. with `aws sso login` or new keys)",
			}},
		{name: "the credentials cannot be had", endpoint: awsError.URL, sdkSays: "get identity: ",
			creds: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{}, errors.New("the SSO session has expired")
			}),
			want: "no usable AWS credentials (the SSO session has expired); set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`"},
		{name: "the endpoint's host does not exist", endpoint: "http://orderflow.invalid:4566",
			// What the resolver says depends on the machine's DNS.
			wantPrefix: "the host orderflow.invalid was not found ("},
		{name: "the endpoint does not answer in time", endpoint: slow.URL, timeout: 300 * time.Millisecond,
			want: slow.URL + " did not answer in time; is it overloaded or out of reach?"},
		{name: "the certificate is not trusted", endpoint: tlsServer.URL,
			want: tlsServer.URL + "'s TLS certificate is not trusted (x509: certificate signed by unknown authority); give an endpoint whose certificate this machine trusts, or its http:// address"},
		{name: "https to a plain HTTP server", endpoint: plainAsTLS,
			want: plainAsTLS + " does not speak TLS; use its http:// address"},
	} {
		for _, c := range sdkCalls {
			t.Run(tc.name+" ("+c.name+")", func(t *testing.T) {
				ctx := context.Background()
				if tc.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.timeout)
					defer cancel()
				}
				creds := tc.creds
				if creds == nil {
					creds = localKeys
				}
				cfg := aws.Config{
					Region: "us-east-1", BaseEndpoint: aws.String(tc.endpoint), Credentials: creds,
					// The SDK's standard retryer, without its waits.
					Retryer: func() aws.Retryer {
						return retry.NewStandard(func(o *retry.StandardOptions) {
							o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
						})
					},
				}
				sdkErr := c.call(ctx, cfg)
				if sdkErr == nil {
					t.Fatal("the call succeeded")
				}
				got := (&target{cfg: cfg, endpoint: tc.endpoint}).explain("call it", sdkErr).Error()
				if strings.Contains(got, "\n") || strings.Contains(got, "operation error") || strings.Contains(got, "StatusCode:") || strings.Contains(got, "exceeded maximum number of attempts") {
					t.Errorf("not one plain sentence:\n%s\nfrom the SDK's:\n%v", got, sdkErr)
				}
				if tc.want != "" && got != "could not call it: "+tc.want {
					t.Errorf("got  %q\nwant %q\nfrom the SDK's %v", got, "could not call it: "+tc.want, sdkErr)
				}
				if tc.wantPrefix != "" && (!strings.HasPrefix(got, "could not call it: "+tc.wantPrefix) || !strings.HasSuffix(got, "; check the address in --endpoint or AWS_ENDPOINT_URL and the network")) {
					t.Errorf("got %q, want it to begin %q", got, "could not call it: "+tc.wantPrefix)
				}
				if !strings.Contains(sdkErr.Error(), tc.sdkSays) {
					t.Errorf("the SDK's error %q lacks %q: the case does not test what it says", sdkErr, tc.sdkSays)
				}
				if tc.wantOneOf != nil {
					ok := false
					for _, w := range tc.wantOneOf {
						ok = ok || got == "could not call it: "+w
					}
					if !ok {
						t.Errorf("got %q, want one of %q\nfrom the SDK's %v", got, tc.wantOneOf, sdkErr)
					}
				}
			})
		}
	}
}

// quietLog drops a test server's log lines (the TLS server logs each
// handshake the client refuses).
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

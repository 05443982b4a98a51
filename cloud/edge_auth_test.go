package cloud_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awslogs "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/cloud/lambda"
)

// The key the attack tests' cloud accepts.
const (
	matrixKey    = "AKIDMATRIX"
	matrixSecret = "matrix-secret"
)

// plainClient sends requests as they are built: no proxy, no retries.
var plainClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 30 * time.Second}

// wire is a request before it is signed.
type wire struct {
	method string
	path   string
	query  url.Values
	body   string
	header http.Header
}

func (w wire) build(t *testing.T, base string) *http.Request {
	t.Helper()
	u := base + w.path
	if len(w.query) > 0 {
		u += "?" + w.query.Encode()
	}
	var body io.Reader = http.NoBody
	if w.body != "" {
		body = strings.NewReader(w.body)
	}
	r, err := http.NewRequest(w.method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range w.header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return r
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// signing says how a test signs a request.
type signing struct {
	key, secret, service, region string
	at                           time.Time
	payload                      string // the payload hash signed; default the body's
	hashHeader                   bool   // send X-Amz-Content-Sha256 (the JavaScript SDK does)
}

func signHeader(t *testing.T, r *http.Request, body string, s signing) {
	t.Helper()
	if s.payload == "" {
		s.payload = hashOf(body)
	}
	if s.hashHeader {
		r.Header.Set("X-Amz-Content-Sha256", s.payload)
	}
	// As the AWS CLI signs: not the body's length (the Go SDK signs it).
	n := r.ContentLength
	r.ContentLength = 0
	defer func() { r.ContentLength = n }()
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.key, SecretAccessKey: s.secret}, r, s.payload, s.service, s.region, s.at)
	if err != nil {
		t.Fatal(err)
	}
}

func presign(t *testing.T, r *http.Request, body string, s signing, expires int) {
	t.Helper()
	if s.payload == "" {
		s.payload = hashOf(body)
	}
	q := r.URL.Query()
	q.Set("X-Amz-Expires", fmt.Sprint(expires))
	r.URL.RawQuery = q.Encode()
	n := r.ContentLength
	r.ContentLength = 0
	defer func() { r.ContentLength = n }()
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.key, SecretAccessKey: s.secret}, r, s.payload, s.service, s.region, s.at,
		func(o *v4.SignerOptions) { o.DisableHeaderHoisting = true })
	if err != nil {
		t.Fatal(err)
	}
	if r.URL, err = url.Parse(signed); err != nil {
		t.Fatal(err)
	}
}

// answer is a response as the matrix judges it.
type answer struct {
	status int
	code   string
	msg    string
	shape  string // "xml", "json" or "rest"
	body   string
}

func send(t *testing.T, r *http.Request) answer {
	t.Helper()
	resp, err := plainClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, body: string(b)}
	ct := resp.Header.Get("Content-Type")
	switch {
	case strings.Contains(ct, "xml"):
		a.shape = "xml"
		var doc struct {
			Error struct{ Code, Message string }
		}
		xml.Unmarshal(b, &doc)
		a.code, a.msg = doc.Error.Code, doc.Error.Message
	case strings.HasPrefix(ct, "application/x-amz-json"):
		a.shape = "json"
		var doc struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		json.Unmarshal(b, &doc)
		a.msg = doc.Message
		a.code = doc.Type[strings.LastIndex(doc.Type, "#")+1:]
		if q := resp.Header.Get("X-Amzn-Query-Error"); q != "" {
			a.code, _, _ = strings.Cut(q, ";")
		}
	case strings.HasPrefix(ct, "application/json") && resp.Header.Get("X-Amzn-ErrorType") != "":
		a.shape = "rest"
		a.code, _, _ = strings.Cut(resp.Header.Get("X-Amzn-ErrorType"), ":")
		var doc struct {
			Message string `json:"message"`
		}
		json.Unmarshal(b, &doc)
		a.msg = doc.Message
	}
	return a
}

// outcome is what a request must get.
type outcome struct {
	status  int
	code    string // "" for a success
	msg     string // a part of the message, if it matters
	changed bool   // whether it acts
}

// attackRoute is one way into a service, with what it acts on.
type attackRoute struct {
	name    string
	service string // the signing name the route's service expects
	shape   string // the protocol of its errors: "xml", "json", "rest"
	// dialect: how the service names auth failures: "query", "json", "rest"
	dialect string
	methods []string
	setup   func(t *testing.T) string          // makes what a request acts on
	request func(method, id string) wire       // the request, unsigned
	intact  func(t *testing.T, id string) bool // what setup made is as it was
	valid   map[string]outcome                 // a correctly signed request, by method
	public  map[string]outcome                 // when set, the answer by method whatever the credentials
	// unrouted: a signed request names no service (no Action, no target).
	unrouted bool
}

// authCodes are the codes of each dialect, by kind of refusal.
var authCodes = map[string]map[string]outcome{
	"query": {"missing": {403, "MissingAuthenticationToken", "", false}, "unknown": {403, "InvalidClientTokenId", "", false}, "signature": {403, "SignatureDoesNotMatch", "", false}},
	"json":  {"missing": {400, "MissingAuthenticationTokenException", "", false}, "unknown": {400, "UnrecognizedClientException", "", false}, "signature": {400, "InvalidSignatureException", "", false}},
	"rest":  {"missing": {403, "MissingAuthenticationTokenException", "", false}, "unknown": {403, "UnrecognizedClientException", "", false}, "signature": {403, "InvalidSignatureException", "", false}},
}

// attackVariant is one way of (not) signing a request.
type attackVariant struct {
	name string
	kind string // "" (accepted) or a kind of refusal: "missing", "unknown", "signature"
	msg  string // a part of the refusal's message
	// apply signs r (built for body); port is the endpoint's port.
	apply func(t *testing.T, r *http.Request, body string, rt attackRoute, port string)
}

func attackVariants() []attackVariant {
	now := func() time.Time { return time.Now().UTC() }
	good := func(rt attackRoute) signing {
		return signing{key: matrixKey, secret: matrixSecret, service: rt.service, region: "us-east-1", at: now(), hashHeader: true}
	}
	return []attackVariant{
		{"signed", "", "", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			signHeader(t, r, body, good(rt))
		}},
		{"no credentials", "missing", "", func(*testing.T, *http.Request, string, attackRoute, string) {}},
		{"an unknown key", "unknown", "", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.key = "AKIDSTRANGER"
			signHeader(t, r, body, s)
		}},
		{"a wrong secret", "signature", "does not match", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.secret = "guess"
			signHeader(t, r, body, s)
		}},
		{"a session token the key does not have", "unknown", "", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			r.Header.Set("X-Amz-Security-Token", "forged")
			signHeader(t, r, body, good(rt))
		}},
		{"a body other than the one signed, with its hash header", "signature", "x-amz-content-sha256", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.payload = hashOf(body + " ")
			signHeader(t, r, body, s)
		}},
		{"a body other than the one signed, without a hash header", "signature", "does not match", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.payload, s.hashHeader = hashOf(body+" "), false
			signHeader(t, r, body, s)
		}},
		{"a signed header changed", "signature", "does not match", func(t *testing.T, r *http.Request, body string, rt attackRoute, port string) {
			signHeader(t, r, body, good(rt))
			r.Host = "localhost:" + port // signed as 127.0.0.1
		}},
		{"the wrong region", "signature", "Credential should be scoped to a valid region, not 'eu-west-1'.", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.region = "eu-west-1"
			signHeader(t, r, body, s)
		}},
		{"the wrong service", "signature", "Credential should be scoped to correct service: '", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.service = "sqs"
			if rt.service == "sqs" {
				s.service = "sns"
			}
			signHeader(t, r, body, s)
		}},
		{"UNSIGNED-PAYLOAD", "signature", "UNSIGNED-PAYLOAD", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.payload = "UNSIGNED-PAYLOAD"
			signHeader(t, r, body, s)
		}},
		{"a signature 20 minutes old", "signature", "Signature expired", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.at = now().Add(-20 * time.Minute)
			signHeader(t, r, body, s)
		}},
		{"a signature 20 minutes ahead", "signature", "Signature not yet current", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.at = now().Add(20 * time.Minute)
			signHeader(t, r, body, s)
		}},
		{"a presigned URL", "", "", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.hashHeader = false
			presign(t, r, body, s, 300)
		}},
		{"an expired presigned URL", "signature", "Signature expired", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.hashHeader, s.at = false, now().Add(-10*time.Minute)
			presign(t, r, body, s, 60)
		}},
		{"a tampered presigned URL", "signature", "does not match", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.hashHeader = false
			presign(t, r, body, s, 300)
			r.URL.RawQuery += "&Attribute.1.Name=Policy"
		}},
		{"a presigned URL over another body", "signature", "does not match", func(t *testing.T, r *http.Request, body string, rt attackRoute, _ string) {
			s := good(rt)
			s.hashHeader, s.payload = false, hashOf(body+" ")
			presign(t, r, body, s, 300)
		}},
	}
}

// matrixCloud is a cloud that requires the matrix key, with a deployed
// event source mapping for the Lambda route.
func matrixCloud(t *testing.T) (*cloud.Cloud, aws.Config, string) {
	t.Helper()
	c, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.Credentials = map[string]string{matrixKey: matrixSecret} })
	c.Lambda.Register("worker", func(lambda.Config) (lambda.Handler, error) {
		return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, nil
		}, nil
	})
	st, err := c.Deploy(context.Background(), []byte(opsTemplate), "ops", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg, st.Outputs["MappingId"]
}

// attackRoutes are every kind of route into the cloud.
func attackRoutes(t *testing.T, c *cloud.Cloud, cfg aws.Config, mappingID string) []attackRoute {
	ctx := context.Background()
	var n atomic.Int64
	fresh := func(prefix string) string { return fmt.Sprintf("%s%d", prefix, n.Add(1)) }
	sqsc, snsc, ddb, logsc := awssqs.NewFromConfig(cfg), awssns.NewFromConfig(cfg), awsddb.NewFromConfig(cfg), awslogs.NewFromConfig(cfg)
	cert := strings.TrimPrefix(c.SNS.SigningCertURL(), c.URL())
	jsonHeader := func(target, ct string) http.Header {
		return http.Header{"X-Amz-Target": {target}, "Content-Type": {ct}}
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

	newQueue := func(t *testing.T) string {
		out, err := sqsc.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(fresh("q"))})
		if err != nil {
			t.Fatal(err)
		}
		return *out.QueueUrl
	}
	queueThere := func(t *testing.T, u string) bool {
		_, err := sqsc.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: &u})
		return err == nil
	}
	sqsJSON := func(method, u string) wire {
		return wire{method: method, path: "/", body: fmt.Sprintf(`{"QueueUrl":%q}`, u), header: jsonHeader("AmazonSQS.DeleteQueue", "application/x-amz-json-1.0")}
	}
	query := func(method, path string, params url.Values) wire {
		if method == http.MethodGet {
			return wire{method: method, path: path, query: params}
		}
		return wire{method: method, path: path, body: params.Encode(), header: form}
	}
	topicThere := func(t *testing.T, arn string) bool {
		_, err := snsc.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: &arn})
		return err == nil
	}
	ok := outcome{status: 200, changed: true}
	getRefused := outcome{status: 405, code: "MethodNotAllowed"}
	writes := map[string]outcome{"POST": ok, "GET": getRefused}
	both := []string{"GET", "POST"}

	return []attackRoute{
		{
			name: "SQS over JSON", service: "sqs", shape: "json", dialect: "query", methods: both, setup: newQueue,
			request: sqsJSON, intact: queueThere, valid: writes,
		},
		{
			name: "DynamoDB over JSON", service: "dynamodb", shape: "json", dialect: "json", methods: both,
			setup: func(t *testing.T) string {
				name := fresh("t")
				_, err := ddb.CreateTable(ctx, &awsddb.CreateTableInput{TableName: &name, BillingMode: ddbtypes.BillingModePayPerRequest,
					AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
					KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}}})
				if err != nil {
					t.Fatal(err)
				}
				return name
			},
			request: func(method, name string) wire {
				return wire{method: method, path: "/", body: fmt.Sprintf(`{"TableName":%q}`, name), header: jsonHeader("DynamoDB_20120810.DeleteTable", "application/x-amz-json-1.0")}
			},
			intact: func(t *testing.T, name string) bool {
				_, err := ddb.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: &name})
				return err == nil
			},
			valid: writes,
		},
		{
			name: "CloudWatch Logs over JSON", service: "logs", shape: "json", dialect: "json", methods: both,
			setup: func(t *testing.T) string {
				name := fresh("/g/")
				if _, err := logsc.CreateLogGroup(ctx, &awslogs.CreateLogGroupInput{LogGroupName: &name}); err != nil {
					t.Fatal(err)
				}
				return name
			},
			request: func(method, name string) wire {
				return wire{method: method, path: "/", body: fmt.Sprintf(`{"logGroupName":%q}`, name), header: jsonHeader("Logs_20140328.DeleteLogGroup", "application/x-amz-json-1.1")}
			},
			intact: func(t *testing.T, name string) bool {
				out, err := logsc.DescribeLogGroups(ctx, &awslogs.DescribeLogGroupsInput{LogGroupNamePrefix: &name})
				if err != nil {
					t.Fatal(err)
				}
				return len(out.LogGroups) == 1
			},
			valid: writes,
		},
		{
			name: "SQS over Query", service: "sqs", shape: "xml", dialect: "query", methods: both, setup: newQueue,
			request: func(method, u string) wire {
				return query(method, "/", url.Values{"Action": {"DeleteQueue"}, "Version": {"2012-11-05"}, "QueueUrl": {u}})
			},
			intact: queueThere, valid: writes,
		},
		{
			name: "SNS over Query", service: "sns", shape: "xml", dialect: "query", methods: both,
			setup: func(t *testing.T) string {
				out, err := snsc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(fresh("topic"))})
				if err != nil {
					t.Fatal(err)
				}
				return *out.TopicArn
			},
			request: func(method, arn string) wire {
				return query(method, "/", url.Values{"Action": {"DeleteTopic"}, "Version": {"2010-03-31"}, "TopicArn": {arn}})
			},
			intact: topicThere, valid: writes,
		},
		{
			name: "Lambda over REST", service: "lambda", shape: "rest", dialect: "rest", methods: []string{"GET", "POST", "PUT"},
			setup: func(t *testing.T) string {
				enable(t, c, cfg, mappingID)
				return mappingID
			},
			request: func(method, id string) wire {
				w := wire{method: method, path: "/2015-03-31/event-source-mappings/" + id}
				if method == "PUT" {
					w.body, w.header = `{"Enabled":false}`, http.Header{"Content-Type": {"application/json"}}
				}
				return w
			},
			intact: func(t *testing.T, id string) bool {
				for _, m := range c.Lambda.Mappings() {
					if m.UUID == id {
						return m.State == "Enabled"
					}
				}
				t.Fatalf("no mapping %s", id)
				return false
			},
			valid: map[string]outcome{"GET": {status: 200}, "POST": {status: 404, code: "UnknownOperationException"}, "PUT": {status: 202, changed: true}},
		},
		{
			name: "the certificate path", service: "sns", shape: "xml", dialect: "query", methods: both,
			setup:    func(*testing.T) string { return "" },
			request:  func(method, _ string) wire { return wire{method: method, path: cert} },
			intact:   func(*testing.T, string) bool { return true },
			valid:    map[string]outcome{"POST": {status: 400, code: "MissingAction"}},
			public:   map[string]outcome{"GET": {status: 200}},
			unrouted: true,
		},
		{
			name: "the certificate path with X-Amz-Target", service: "sqs", shape: "json", dialect: "query", methods: both, setup: newQueue,
			request: func(method, u string) wire {
				w := sqsJSON(method, u)
				w.path = cert
				return w
			},
			intact: queueThere, valid: writes,
		},
		{
			name: "the certificate path with an Action", service: "sns", shape: "xml", dialect: "query", methods: both,
			setup: func(*testing.T) string { return fresh("forged") },
			request: func(method, name string) wire {
				w := wire{method: method, path: cert, query: url.Values{"Action": {"CreateTopic"}, "Version": {"2010-03-31"}, "Name": {name}}}
				if method == "POST" {
					w.header = form
				}
				return w
			},
			intact: func(t *testing.T, name string) bool {
				return !topicThere(t, "arn:aws:sns:us-east-1:000000000000:"+name)
			},
			valid: writes,
		},
		{
			name: "the health endpoint", service: "sqs", methods: both,
			setup:   func(*testing.T) string { return "" },
			request: func(method, _ string) wire { return wire{method: method, path: cloud.HealthPath} },
			intact:  func(*testing.T, string) bool { return true },
			public:  map[string]outcome{"GET": {status: 200}, "POST": {status: 405}},
		},
	}
}

// enable turns the mapping on with a signed request of the cloud's own.
func enable(t *testing.T, c *cloud.Cloud, cfg aws.Config, id string) {
	t.Helper()
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	body := `{"Enabled":true}`
	r := wire{method: "PUT", path: "/2015-03-31/event-source-mappings/" + id, body: body}.build(t, c.URL())
	signHeader(t, r, body, signing{key: creds.AccessKeyID, secret: creds.SecretAccessKey, service: "lambda", region: c.Region(), at: time.Now().UTC()})
	if a := send(t, r); a.status != 202 {
		t.Fatalf("enable the mapping: %+v", a)
	}
}

// TestOnlyAuthenticatedRequestsReachAServiceWithRequireAuth sends every
// kind of route (JSON for each service, Query for SQS and SNS, Lambda's
// REST API, the certificate path plain and carrying an API request, the
// health endpoint) by each method, signed correctly, not at all, and in
// every wrong way an attacker has at hand; and checks the answer's status,
// AWS error code and shape, and that nothing changed unless the request
// was good.
func TestOnlyAuthenticatedRequestsReachAServiceWithRequireAuth(t *testing.T) {
	t.Parallel()
	c, cfg, mappingID := matrixCloud(t)
	port := c.URL()[strings.LastIndex(c.URL(), ":")+1:]
	for _, rt := range attackRoutes(t, c, cfg, mappingID) {
		t.Run(rt.name, func(t *testing.T) {
			for _, method := range rt.methods {
				t.Run(method, func(t *testing.T) {
					for _, v := range attackVariants() {
						t.Run(v.name, func(t *testing.T) {
							id := rt.setup(t)
							w := rt.request(method, id)
							r := w.build(t, c.URL())
							v.apply(t, r, w.body, rt, port)
							got := send(t, r)

							want, public := rt.public[method]
							switch {
							case public:
							case v.kind == "", v.name == "the wrong service" && rt.unrouted:
								// A request that names no service reaches
								// none, whatever its scope says.
								want = rt.valid[method]
							default:
								want = authCodes[rt.dialect][v.kind]
								want.msg = v.msg
							}
							if got.status != want.status || got.code != want.code || !strings.Contains(got.msg, want.msg) {
								t.Errorf("got %d %s %q\nwant %d %s with %q\nbody: %.300s", got.status, got.code, got.msg, want.status, want.code, want.msg, got.body)
							}
							if want.code != "" && !public && got.shape != rt.shape {
								t.Errorf("the error is in the %q shape, want %q: %.300s", got.shape, rt.shape, got.body)
							}
							if intact := rt.intact(t, id); intact == want.changed {
								t.Errorf("changed = %v, want %v (status %d %s)", !intact, want.changed, got.status, got.code)
							}
							if public {
								checkPublic(t, rt, method, got)
							}
						})
					}
				})
			}
		})
	}
}

// checkPublic checks what the open routes answer.
func checkPublic(t *testing.T, rt attackRoute, method string, got answer) {
	t.Helper()
	switch {
	case rt.name == "the certificate path":
		if block, _ := pem.Decode([]byte(got.body)); block == nil || block.Type != "CERTIFICATE" {
			t.Errorf("the certificate path answered %q", got.body)
		}
	case method == "GET":
		if strings.TrimSpace(got.body) != `{"status":"ok"}` {
			t.Errorf("health answered %q", got.body)
		}
	}
}

// capture records the requests an SDK client sends, with their bodies.
type capture struct {
	next aws.HTTPClient
	reqs []*http.Request
	body []string
}

func (c *capture) Do(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	c.reqs = append(c.reqs, r.Clone(r.Context()))
	c.body = append(c.body, string(b))
	return c.next.Do(r)
}

func TestASignedListQueuesReplayedWithADeleteQueueBodyIsRefused(t *testing.T) {
	t.Parallel()
	c, cfg, _ := matrixCloud(t)
	ctx := context.Background()
	q, err := awssqs.NewFromConfig(cfg).CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("OrderQueue")})
	if err != nil {
		t.Fatal(err)
	}
	replay := func(t *testing.T, captured *http.Request, body string) answer {
		r, err := http.NewRequest(captured.Method, c.URL()+captured.URL.RequestURI(), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header = captured.Header.Clone()
		r.Header.Del("Content-Length")
		return send(t, r)
	}

	t.Run("over JSON, as the Go SDK signs", func(t *testing.T) {
		rec := &capture{next: plainClient}
		own := cfg.Copy()
		own.HTTPClient = rec
		own.Credentials = aws.NewCredentialsCache(staticCreds{matrixKey, matrixSecret})
		if _, err := awssqs.NewFromConfig(own).ListQueues(ctx, &awssqs.ListQueuesInput{}); err != nil {
			t.Fatal(err)
		}
		captured := rec.reqs[len(rec.reqs)-1]
		// The same operation's body is accepted again (a replay AWS accepts
		// too, within 15 minutes) ...
		if got := replay(t, captured, rec.body[len(rec.body)-1]); got.status != 200 {
			t.Fatalf("the captured request replayed as it was: %+v", got)
		}
		// ... but not another body, under ListQueues's signature and target.
		evil := fmt.Sprintf(`{"QueueUrl":%q}`, *q.QueueUrl)
		got := replay(t, captured, evil)
		if got.status != 403 || got.code != "SignatureDoesNotMatch" {
			t.Errorf("the replay with a DeleteQueue body: %+v", got)
		}
		// Nor with the target swapped too (X-Amz-Target is signed).
		captured.Header.Set("X-Amz-Target", "AmazonSQS.DeleteQueue")
		if got := replay(t, captured, evil); got.status != 403 || got.code != "SignatureDoesNotMatch" {
			t.Errorf("the replay as DeleteQueue: %+v", got)
		}
	})
	// As the AWS CLI and the JavaScript SDK sign: the body's hash in
	// X-Amz-Content-Sha256 (the JavaScript SDK), its length not signed.
	for _, tc := range []struct {
		name, body, evil string
		header           http.Header
	}{
		{"over JSON, signed as the AWS CLI and the JavaScript SDK sign", "{}", fmt.Sprintf(`{"QueueUrl":%q}`, *q.QueueUrl),
			http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amz-Target": {"AmazonSQS.ListQueues"}}},
		{"over Query, signed as the AWS CLI and the JavaScript SDK sign", "Action=ListQueues&Version=2012-11-05",
			url.Values{"Action": {"DeleteQueue"}, "Version": {"2012-11-05"}, "QueueUrl": {*q.QueueUrl}}.Encode(),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := wire{method: "POST", path: "/", body: tc.body, header: tc.header}.build(t, c.URL())
			signHeader(t, r, tc.body, signing{key: matrixKey, secret: matrixSecret, service: "sqs", region: "us-east-1", at: time.Now().UTC(), hashHeader: true})
			if got := replay(t, r, tc.body); got.status != 200 {
				t.Fatalf("the captured request replayed as it was: %+v", got)
			}
			if got := replay(t, r, tc.evil); got.status != 403 || got.code != "SignatureDoesNotMatch" {
				t.Errorf("the replay with a DeleteQueue body: %+v", got)
			}
		})
	}
	if _, err := awssqs.NewFromConfig(cfg).GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl}); err != nil {
		t.Errorf("OrderQueue did not survive the replays: %v", err)
	}
}

type staticCreds struct{ key, secret string }

func (s staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: s.key, SecretAccessKey: s.secret, Source: "test"}, nil
}

package cloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
)

// maxSkew is how far a request's signing time may be from the clock, as AWS
// allows. A presigned request is also refused past its X-Amz-Expires.
const maxSkew = 15 * time.Minute

// maxPresignExpires is the longest X-Amz-Expires AWS accepts (seven days).
const maxPresignExpires = 7 * 24 * 60 * 60

const (
	algorithm      = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	scopeDateForm  = "20060102"
	unsignedBody   = "UNSIGNED-PAYLOAD"
	streamingBody  = "STREAMING-"
	contentSHA256  = "X-Amz-Content-Sha256"
	securityToken  = "X-Amz-Security-Token"
	signatureParam = "X-Amz-Signature"
)

// verifier checks AWS Signature Version 4, in the Authorization header or
// in the query string (a presigned request), against known keys. A
// signature binds the whole request: the method, path, query, the headers
// the client signed, and the body, whose hash the verifier computes itself
// (a client's X-Amz-Content-Sha256 must agree with it; UNSIGNED-PAYLOAD is
// refused, as AWS refuses it outside S3). The credential scope must name
// the cloud's region; the edge then checks its service against the service
// the request is routed to. The signature is recomputed with aws-sdk-go-v2's
// own signer over exactly the headers the client said it signed, so it
// agrees with AWS's canonical form wherever the SDK does.
type verifier struct {
	keys   map[string]string // access key id → secret access key
	region string
	clock  clock.Clock
}

// authKind classifies a refusal; each service reports a kind with its own
// code (authError).
type authKind int

const (
	authMissing    authKind = iota // no signature at all
	authIncomplete                 // a signature that is not well formed
	authUnknownKey                 // a key the cloud does not know
	authSignature                  // a signature that does not hold: wrong, expired, mis-scoped, over another body
)

// authFailure is why a request is not authenticated.
type authFailure struct {
	kind    authKind
	message string
}

func refuse(kind authKind, format string, args ...any) *authFailure {
	return &authFailure{kind: kind, message: fmt.Sprintf(format, args...)}
}

// signature is what a request's signature says of itself.
type signature struct {
	presigned     bool
	key           string
	date          string // the scope's date, YYYYMMDD
	region        string
	service       string
	signedHeaders []string
	signature     string
	signedAt      time.Time
	expires       time.Duration // presigned only; 0 when the URL gave none
}

// verify returns the service of the credential scope of a correctly signed
// request by a known key over exactly body, or why it is refused.
func (v verifier) verify(r *http.Request, body []byte) (string, *authFailure) {
	sum := sha256.Sum256(body)
	return v.verifyPayload(r, hex.EncodeToString(sum[:]), int64(len(body)), false)
}

// verifyS3 is verify for S3, which takes a signature over the headers and
// the payload hash the request claims, without reading the body: the hash
// of the body (X-Amz-Content-Sha256), checked by S3 as the body streams,
// or one of the payload modes AWS allows S3 alone (UNSIGNED-PAYLOAD,
// STREAMING-UNSIGNED-PAYLOAD-TRAILER: the signature still covers method,
// path, query and signed headers). A body signed chunk by chunk
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) gets the verifier of its
// chunks' signatures, which S3 applies as it decodes them.
func (v verifier) verifyS3(r *http.Request) (string, *chunkVerifier, *authFailure) {
	claimed := r.Header.Get(contentSHA256)
	presigned := r.Header.Get("Authorization") == ""
	switch {
	case claimed == "" && presigned:
		claimed = r.URL.Query().Get(contentSHA256)
		if claimed == "" {
			claimed = unsignedBody // what presigned S3 URLs sign
		}
	case claimed == "":
		return "", nil, refuse(authIncomplete, "Missing required header for this request: x-amz-content-sha256")
	}
	service, fail := v.verifyPayload(r, claimed, r.ContentLength, true)
	if fail != nil || !strings.HasPrefix(claimed, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") {
		return service, nil, fail
	}
	if presigned {
		return "", nil, refuse(authIncomplete, "A presigned request cannot sign its body chunk by chunk (%s).", claimed)
	}
	sig, _ := parseSignature(r) // verified above
	secret := v.keys[sig.key]
	key := hmacSHA256([]byte("AWS4"+secret), sig.date)
	for _, part := range []string{sig.region, sig.service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	return service, &chunkVerifier{key: key, amzDate: sig.signedAt.Format(amzDateFormat),
		scope: strings.Join([]string{sig.date, sig.region, sig.service, "aws4_request"}, "/"), prev: sig.signature}, nil
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// emptySHA256 is the hex SHA-256 of nothing: a chunk's headers, which S3's
// chunks do not have.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// chunkVerifier checks the signatures of an aws-chunked body signed chunk
// by chunk: each signs the previous one (the first, the request's
// signature), the time and scope, and its data's SHA-256; the trailer
// signature signs the trailers the same way. It implements s3.ChunkSignatures.
type chunkVerifier struct {
	key            []byte
	amzDate, scope string
	prev           string
}

func (c *chunkVerifier) Chunk(dataSHA256 []byte, signature string) bool {
	return c.check("AWS4-HMAC-SHA256-PAYLOAD\n"+c.amzDate+"\n"+c.scope+"\n"+c.prev+"\n"+emptySHA256+"\n"+hex.EncodeToString(dataSHA256), signature)
}

func (c *chunkVerifier) Trailer(trailers []byte, signature string) bool {
	sum := sha256.Sum256(trailers)
	return c.check("AWS4-HMAC-SHA256-TRAILER\n"+c.amzDate+"\n"+c.scope+"\n"+c.prev+"\n"+hex.EncodeToString(sum[:]), signature)
}

func (c *chunkVerifier) check(stringToSign, signature string) bool {
	want := hex.EncodeToString(hmacSHA256(c.key, stringToSign))
	c.prev = want
	return hmac.Equal([]byte(want), []byte(signature))
}

// verifyPayload checks r's signature over payload, the body's hash (or an
// S3 payload mode, when s3 is set), and bodyLen as its Content-Length.
func (v verifier) verifyPayload(r *http.Request, payload string, bodyLen int64, s3 bool) (string, *authFailure) {
	sig, fail := parseSignature(r)
	if fail != nil {
		return "", fail
	}
	secret, known := v.keys[sig.key]
	if !known {
		return "", refuse(authUnknownKey, "The security token included in the request is invalid.")
	}
	// The keys are long-term ones: a session token belongs to none of them.
	if r.Header.Get(securityToken) != "" || r.URL.Query().Get(securityToken) != "" {
		return "", refuse(authUnknownKey, "The security token included in the request is invalid.")
	}
	if sig.date != sig.signedAt.Format(scopeDateForm) {
		return "", refuse(authSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			sig.date, sig.signedAt.Format(scopeDateForm), sig.signedAt.Format(amzDateFormat))
	}
	if sig.region != v.region {
		return "", refuse(authSignature, "Credential should be scoped to a valid region, not '%s'. ", sig.region)
	}
	now := v.clock.Now().UTC()
	if now.Sub(sig.signedAt) > maxSkew {
		return "", refuse(authSignature, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
			sig.signedAt.Format(amzDateFormat), now.Add(-maxSkew).Format(amzDateFormat), now.Format(amzDateFormat))
	}
	if sig.signedAt.Sub(now) > maxSkew {
		return "", refuse(authSignature, "Signature not yet current: %s is still later than %s (%s + 15 min.)",
			sig.signedAt.Format(amzDateFormat), now.Add(maxSkew).Format(amzDateFormat), now.Format(amzDateFormat))
	}
	if sig.presigned && sig.expires > 0 && now.After(sig.signedAt.Add(sig.expires)) {
		return "", refuse(authSignature, "Signature expired: the presigned request expired at %s (X-Amz-Date plus X-Amz-Expires); it is now %s.",
			sig.signedAt.Add(sig.expires).Format(amzDateFormat), now.Format(amzDateFormat))
	}
	// X-Amz-Target names the operation: a signature that does not cover it
	// does not say which operation it allows.
	if r.Header.Get("X-Amz-Target") != "" && !slices.Contains(sig.signedHeaders, "x-amz-target") {
		return "", refuse(authSignature, "There were headers present in the request which were not signed: x-amz-target")
	}

	claimed := r.Header.Get(contentSHA256)
	if sig.presigned && claimed == "" {
		claimed = r.URL.Query().Get(contentSHA256)
	}
	switch {
	case s3:
		// The payload is the claim: S3 checks the body against it.
	case claimed == "":
	case claimed == unsignedBody || strings.HasPrefix(claimed, streamingBody):
		return "", refuse(authSignature, "The request signature does not cover its body (%s): this API accepts only requests that sign the SHA-256 of their body.", claimed)
	case claimed != payload:
		return "", refuse(authSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}

	want, err := v.expected(r, sig, secret, payload, bodyLen)
	if err != nil {
		return "", refuse(authIncomplete, "The request signature cannot be computed: %v", err)
	}
	if !hmac.Equal([]byte(want), []byte(sig.signature)) {
		return "", refuse(authSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return sig.service, nil
}

// expected signs a copy of r holding only what the client signed, and
// returns the signature the client should have sent.
func (v verifier) expected(r *http.Request, sig signature, secret, payload string, bodyLen int64) (string, error) {
	u := *r.URL
	if sig.presigned {
		q := u.Query()
		q.Del(signatureParam)
		u.RawQuery = q.Encode()
	}
	c := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	for _, h := range sig.signedHeaders {
		switch h {
		case "host":
		case "content-length":
			c.ContentLength = bodyLen
		default:
			for _, val := range r.Header.Values(h) {
				c.Header.Add(h, val)
			}
		}
	}
	creds := aws.Credentials{AccessKeyID: sig.key, SecretAccessKey: secret}
	signer := v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = sig.service == "s3"
		// What the client signed as headers stays headers: what it moved
		// to the query is in the query already.
		o.DisableHeaderHoisting = true
	})
	if sig.presigned {
		signed, _, err := signer.PresignHTTP(r.Context(), creds, c, payload, sig.service, sig.region, sig.signedAt)
		if err != nil {
			return "", err
		}
		su, err := url.Parse(signed)
		if err != nil {
			return "", err
		}
		return su.Query().Get(signatureParam), nil
	}
	if err := signer.SignHTTP(r.Context(), creds, c, payload, sig.service, sig.region, sig.signedAt); err != nil {
		return "", err
	}
	_, _, _, want, _ := parseAuthorization(c.Header.Get("Authorization"))
	return want, nil
}

// parseSignature reads the signature from the Authorization header or the
// query string; a request may carry only one.
func parseSignature(r *http.Request) (signature, *authFailure) {
	q := r.URL.Query()
	auth := r.Header.Get("Authorization")
	presigned := q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") || q.Has(signatureParam)
	var sig signature
	var cred, signedHeaders, date string
	switch {
	case auth != "" && presigned:
		return sig, refuse(authIncomplete, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
	case auth != "":
		alg, c, sh, s, ok := parseAuthorization(auth)
		if alg != algorithm {
			return sig, refuse(authIncomplete, "Unsupported signing algorithm %q: only %s (Signature Version 4) is accepted.", alg, algorithm)
		}
		if !ok {
			return sig, refuse(authIncomplete, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
		}
		cred, signedHeaders, sig.signature = c, sh, s
		date = r.Header.Get("X-Amz-Date")
		if date == "" {
			return sig, refuse(authIncomplete, "Authorization header requires existence of a 'X-Amz-Date' header.")
		}
	case presigned:
		sig.presigned = true
		for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", signatureParam} {
			if q.Get(p) == "" {
				return sig, refuse(authIncomplete, "AWS query-string parameters must include '%s'.", p)
			}
		}
		if alg := q.Get("X-Amz-Algorithm"); alg != algorithm {
			return sig, refuse(authIncomplete, "Unsupported signing algorithm %q: only %s (Signature Version 4) is accepted.", alg, algorithm)
		}
		cred, signedHeaders, sig.signature, date = q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get(signatureParam), q.Get("X-Amz-Date")
		if e := q.Get("X-Amz-Expires"); e != "" {
			n, err := strconv.Atoi(e)
			if err != nil || n < 1 || n > maxPresignExpires {
				return sig, refuse(authIncomplete, "X-Amz-Expires must be a whole number of seconds from 1 to %d, not %q.", maxPresignExpires, e)
			}
			sig.expires = time.Duration(n) * time.Second
		}
	default:
		return sig, refuse(authMissing, "Request is missing Authentication Token")
	}
	scope := strings.Split(cred, "/") // AKID/date/region/service/aws4_request
	if len(scope) != 5 || scope[4] != "aws4_request" || slices.Contains(scope[:4], "") {
		return sig, refuse(authIncomplete, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'.", cred)
	}
	sig.key, sig.date, sig.region, sig.service = scope[0], scope[1], scope[2], scope[3]
	t, err := time.Parse(amzDateFormat, date)
	if err != nil {
		return sig, refuse(authIncomplete, "X-Amz-Date %q is not a date of the form %s.", date, amzDateFormat)
	}
	sig.signedAt = t
	sig.signedHeaders = strings.Split(signedHeaders, ";")
	if !slices.Contains(sig.signedHeaders, "host") {
		return sig, refuse(authIncomplete, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return sig, nil
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
// Signature=…".
func parseAuthorization(h string) (alg, cred, signedHeaders, signature string, ok bool) {
	alg, rest, _ := strings.Cut(h, " ")
	for _, part := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = val
		case "SignedHeaders":
			signedHeaders = val
		case "Signature":
			signature = val
		}
	}
	return alg, cred, signedHeaders, signature, cred != "" && signedHeaders != "" && signature != ""
}

// authDialect is how a service reports authentication failures: AWS's
// services differ in codes and statuses.
type authDialect int

const (
	// queryDialect: the Query-protocol services (SQS over both its
	// protocols, SNS, CloudFormation): MissingAuthenticationToken,
	// InvalidClientTokenId, SignatureDoesNotMatch, all 403 but
	// IncompleteSignature (400).
	queryDialect authDialect = iota
	// jsonDialect: DynamoDB and CloudWatch Logs: …Exception codes, 400.
	jsonDialect
	// restDialect: Lambda's REST API: …Exception codes, 403.
	restDialect
	// s3Dialect: S3's codes, 403 but AuthorizationHeaderMalformed (400).
	s3Dialect
)

// dialectOf returns the dialect of the service named in a credential scope.
func dialectOf(service string) authDialect {
	switch service {
	case "dynamodb", "logs":
		return jsonDialect
	case "lambda":
		return restDialect
	case "s3":
		return s3Dialect
	}
	return queryDialect
}

// authError is f as the service with dialect d reports it.
func authError(d authDialect, f *authFailure) *awsproto.Error {
	codes := map[authKind][4]string{
		authMissing:    {"MissingAuthenticationToken", "MissingAuthenticationTokenException", "MissingAuthenticationTokenException", "AccessDenied"},
		authIncomplete: {"IncompleteSignature", "IncompleteSignatureException", "IncompleteSignatureException", "AuthorizationHeaderMalformed"},
		authUnknownKey: {"InvalidClientTokenId", "UnrecognizedClientException", "UnrecognizedClientException", "InvalidAccessKeyId"},
		authSignature:  {"SignatureDoesNotMatch", "InvalidSignatureException", "InvalidSignatureException", "SignatureDoesNotMatch"},
	}
	status := http.StatusForbidden
	switch {
	case d == jsonDialect, (d == queryDialect || d == s3Dialect) && f.kind == authIncomplete:
		status = http.StatusBadRequest
	}
	return &awsproto.Error{Status: status, Code: codes[f.kind][d], Message: f.message}
}

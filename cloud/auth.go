package cloud

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
)

// maxSkew is how far a request's signing time may be from the clock, as AWS
// allows.
const maxSkew = 15 * time.Minute

// verifier checks AWS Signature Version 4 on requests, against known keys.
// It recomputes the signature with aws-sdk-go-v2's own signer over exactly
// the headers the client said it signed, so it agrees with AWS's canonical
// form wherever the SDK does.
type verifier struct {
	keys  map[string]string // access key id → secret access key
	clock clock.Clock
}

// verify returns nil for a correctly signed request by a known key, else the
// AWS error to answer with. It reads and restores the body.
func (v verifier) verify(r *http.Request) *awsproto.Error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return authError("MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	cred, signedHeaders, signature, ok := parseAuthorization(auth)
	if !ok {
		return authError("IncompleteSignature", "The request signature does not conform to AWS standards.")
	}
	scope := strings.Split(cred, "/") // AKID/date/region/service/aws4_request
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return authError("IncompleteSignature", "The credential scope is not AKID/date/region/service/aws4_request.")
	}
	secret, known := v.keys[scope[0]]
	if !known {
		return authError("InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	signed, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return authError("IncompleteSignature", "The request has no valid X-Amz-Date header.")
	}
	if d := v.clock.Now().Sub(signed); d > maxSkew || d < -maxSkew {
		return authError("SignatureDoesNotMatch", "Signature expired: the request's time is more than 15 minutes from the server's.")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return awsproto.Errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the request body cannot be read: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}

	// A copy with only the signed headers, for the signer to sign again.
	u := *r.URL
	c := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	for _, h := range strings.Split(signedHeaders, ";") {
		switch h {
		case "host":
		case "content-length":
			c.ContentLength = int64(len(body))
		default:
			for _, val := range r.Header.Values(h) {
				c.Header.Add(h, val)
			}
		}
	}
	err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = scope[3] == "s3" }).SignHTTP(
		r.Context(), aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: secret}, c, payload, scope[3], scope[2], signed)
	if err != nil {
		return awsproto.Internal(err)
	}
	_, _, want, _ := parseAuthorization(c.Header.Get("Authorization"))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return authError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return nil
}

func authError(code, msg string) *awsproto.Error {
	return &awsproto.Error{Status: http.StatusForbidden, Code: code, Message: msg}
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
// Signature=…".
func parseAuthorization(h string) (cred, signedHeaders, signature string, ok bool) {
	rest, found := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !found {
		return "", "", "", false
	}
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
	return cred, signedHeaders, signature, cred != "" && signedHeaders != "" && signature != ""
}

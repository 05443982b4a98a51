// Package ownbody gives the HTTP transport under an AWS SDK client a copy
// of each request body of its own.
//
// Why. The SDK (smithy-go's ClientHandler) closes the request body it built
// as soon as the response's headers arrive. A server that answers before
// the transport has read that body to its end — any fast server, the
// embedded cloud over loopback often — makes the transport's last read of
// the body fail; the transport then closes the connection, under the
// response it is still reading, and the call fails with "deserialization
// failed … use of closed network connection" although the server answered
// 200 (aws/aws-sdk-go-v2#2737). Without retries that is an error for the
// caller; with them, a write the server applied is sent again. Reading the
// body into memory first, and handing the transport a reader the SDK does
// not close, removes the race. Request bodies here are small API calls.
package ownbody

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// Doer is what the SDKs call to send a request (aws.HTTPClient's shape).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Client sends each request through Next with a body of its own.
type Client struct {
	Next Doer
}

var _ Doer = Client{}

// Do reads r's body into memory, closes it, and sends r with a copy.
func (c Client) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("ownbody: read the request body: %w", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	return c.Next.Do(r)
}

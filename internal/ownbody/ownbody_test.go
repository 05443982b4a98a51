package ownbody_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/internal/ownbody"
)

// early answers with its headers as soon as it has the request's, before
// reading the body, as a fast server can; then it reads the whole body
// and ends the answer. It reports the body's length on got.
func early(got chan<- int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		b, _ := io.ReadAll(r.Body)
		got <- len(b)
		io.WriteString(w, "{}")
	})
}

func client(url string, h aws.HTTPClient) *awsddb.Client {
	return awsddb.New(awsddb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), HTTPClient: h, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func put(c *awsddb.Client) error {
	_, err := c.PutItem(context.Background(), &awsddb.PutItemInput{TableName: aws.String("T"), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "k"}, "blob": &types.AttributeValueMemberS{Value: strings.Repeat("x", 4<<20)},
	}})
	return err
}

// TestAnAnswerThatComesBeforeTheBodyIsSentIsRead: with a body of its own,
// the transport sends the whole body and reads the whole answer even
// though the SDK closes the body it built when the headers arrive.
func TestAnAnswerThatComesBeforeTheBodyIsSentIsRead(t *testing.T) {
	t.Parallel()
	got := make(chan int, 100)
	srv := httptest.NewServer(early(got))
	defer srv.Close()
	c := client(srv.URL, ownbody.Client{Next: srv.Client()})
	for i := range 20 {
		if err := put(c); err != nil {
			t.Fatalf("PutItem %d: %v", i, err)
		}
		if n := <-got; n < 4<<20 {
			t.Fatalf("PutItem %d: the server read %d bytes of the body", i, n)
		}
	}
}

// TestWithoutItTheSDKLosesSuchAnAnswer shows the race the package removes:
// through the transport alone, the SDK's early close of the body makes
// calls to the same server fail. It proves the test above can fail.
func TestWithoutItTheSDKLosesSuchAnAnswer(t *testing.T) {
	t.Parallel()
	got := make(chan int, 100)
	srv := httptest.NewServer(early(got))
	defer srv.Close()
	c := client(srv.URL, srv.Client())
	failed := 0
	for range 20 {
		if put(c) != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Skip("the SDK did not lose an answer in 20 calls: it may no longer close the body early; this package may be unneeded")
	}
	t.Logf("%d of 20 calls failed without a body of its own", failed)
}

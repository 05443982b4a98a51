// Package cloudtest starts the embedded cloud for tests and gives an
// aws.Config for the real SDK clients, built explicitly so that ambient AWS_*
// settings (a profile, AWS_CA_BUNDLE, AWS_ENDPOINT_URL) can neither redirect
// nor break a test.
package cloudtest

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/orderflow/orderflow/cloud"
)

// Start starts a cloud on an ephemeral loopback port, closes it when the
// test ends, and returns it with a ready aws.Config. opts adjust the options
// (a fake clock, say) before the start.
func Start(t testing.TB, opts ...func(*cloud.Options)) (*cloud.Cloud, aws.Config) {
	t.Helper()
	o := cloud.Options{Addr: "127.0.0.1:0"}
	for _, f := range opts {
		f(&o)
	}
	c, err := cloud.Start(o)
	if err != nil {
		t.Fatalf("cloudtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("cloudtest: %v", err)
		}
	})
	return c, c.Config()
}

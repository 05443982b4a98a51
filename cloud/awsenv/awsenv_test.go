package awsenv_test

import (
	"testing"

	"github.com/orderflow/orderflow/cloud/awsenv"
)

func TestWithDefaults(t *testing.T) {
	t.Run("fills every unset field", func(t *testing.T) {
		got := awsenv.Env{}.WithDefaults()
		if got.Region != awsenv.DefaultRegion || got.AccountID != awsenv.DefaultAccountID || got.BaseURL() != awsenv.DefaultBaseURL {
			t.Errorf("got %q %q %q, want %q %q %q", got.Region, got.AccountID, got.BaseURL(),
				awsenv.DefaultRegion, awsenv.DefaultAccountID, awsenv.DefaultBaseURL)
		}
	})
	t.Run("keeps what is set", func(t *testing.T) {
		got := awsenv.Env{Region: "eu-west-1", AccountID: "123456789012", BaseURL: func() string { return "http://h:1" }}.WithDefaults()
		if got.Region != "eu-west-1" || got.AccountID != "123456789012" || got.BaseURL() != "http://h:1" {
			t.Errorf("got %q %q %q, want eu-west-1 123456789012 http://h:1", got.Region, got.AccountID, got.BaseURL())
		}
	})
}

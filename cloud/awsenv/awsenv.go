// Package awsenv is the AWS environment the embedded cloud presents: the
// account that owns every resource, the region its ARNs and URLs name, and
// the URL clients reach it at. Every service takes one Env, so that their
// ARNs and URLs agree, and the defaults are applied here alone.
package awsenv

// The defaults: the region AWS's own tools fall back to, the account local
// AWS emulators conventionally use, and the edge's default listen address
// (the port AWS local tooling conventionally uses) with the URL clients
// reach it at.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"
	DefaultAddr      = "127.0.0.1:4566"
	DefaultBaseURL   = "http://" + DefaultAddr
)

// Env is the AWS environment of the embedded cloud. The zero value is the
// default environment.
type Env struct {
	// Region is the region in ARNs and URLs. Default DefaultRegion.
	Region string
	// AccountID owns every resource: it is the account in ARNs and queue
	// URLs. Default DefaultAccountID.
	AccountID string
	// BaseURL returns the endpoint clients reach, without a trailing slash;
	// services put it in the URLs they hand out (queue URLs, SNS's
	// SigningCertURL and UnsubscribeURL). A function, because the edge's
	// port is known only once it listens. Default DefaultBaseURL.
	BaseURL func() string
}

// WithDefaults returns e with its unset fields set to the defaults.
func (e Env) WithDefaults() Env {
	if e.Region == "" {
		e.Region = DefaultRegion
	}
	if e.AccountID == "" {
		e.AccountID = DefaultAccountID
	}
	if e.BaseURL == nil {
		e.BaseURL = func() string { return DefaultBaseURL }
	}
	return e
}

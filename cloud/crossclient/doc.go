// Package crossclient proves that clients orderflow did not write work
// against the embedded cloud: the AWS CLI v2 (Debian's awscli, which speaks
// the Query protocol to SQS), the AWS CLI v1 (botocore's JSON protocol for
// SQS) and the AWS SDK for JavaScript v3. make deps installs them; a
// missing client skips its test on a developer's machine, saying what is
// missing and how to install it, and fails it in CI (CI=true). Under
// go test -short (make check) every test here is skipped. The package
// holds only tests.
package crossclient

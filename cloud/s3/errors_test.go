package s3_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
)

func TestErrorsAreAWSs(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	client, _ := newClient(t, c, cfg, true)
	ctx := context.Background()
	// The longest and shortest names AWS allows.
	for _, b := range []string{"full", "empty", strings.Repeat("b", 63), "abc"} {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("full"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		call   func() error
		status int
		code   string
	}{
		{"a GET of a bucket that does not exist", func() error {
			_, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nowhere"), Key: aws.String("k")})
			return err
		}, 404, "NoSuchBucket"},
		{"a GET of a key that does not exist", func() error {
			_, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("full"), Key: aws.String("missing")})
			return err
		}, 404, "NoSuchKey"},
		{"a HEAD of a key that does not exist (no body: the SDK says NotFound)", func() error {
			_, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("full"), Key: aws.String("missing")})
			return err
		}, 404, "NotFound"},
		{"a delete of a bucket with objects", func() error {
			_, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("full")})
			return err
		}, 409, "BucketNotEmpty"},
		{"a bucket name with capitals", func() error {
			_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Orders")})
			return err
		}, 400, "InvalidBucketName"},
		{"a bucket name like an IP address", func() error {
			_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("192.168.5.4")})
			return err
		}, 400, "InvalidBucketName"},
		{"a bucket name of two letters", func() error {
			_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ab")})
			return err
		}, 400, "InvalidBucketName"},
		{"a bucket name of 64 characters", func() error {
			_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(strings.Repeat("b", 64))})
			return err
		}, 400, "InvalidBucketName"},
		{"a bucket name with two dots in a row", func() error {
			_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("a..b")})
			return err
		}, 400, "InvalidBucketName"},
		{"a location constraint of another region", func() error {
			_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("elsewhere"),
				CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}})
			return err
		}, 400, "IllegalLocationConstraintException"},
		{"a location constraint of us-east-1, which is written by leaving it out", func() error {
			_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("explicit"),
				CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint("us-east-1")}})
			return err
		}, 400, "InvalidLocationConstraint"},
		{"a key over 1024 bytes", func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("full"), Key: aws.String(strings.Repeat("k", 1025)), Body: strings.NewReader("x")})
			return err
		}, 400, "KeyTooLongError"},
		{"a wrong Content-MD5", func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("full"), Key: aws.String("md5"), Body: strings.NewReader("x"), ContentMD5: aws.String("1B2M2Y8AsgTpgAmY7PhCfg==")})
			return err
		}, 400, "BadDigest"},
		{"an unreadable Range", func() error {
			_, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("full"), Key: aws.String("k"), Range: aws.String("bytes=5-9")})
			return err
		}, 416, "InvalidRange"},
		{"a part to an upload that does not exist", func() error {
			_, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("full"), Key: aws.String("k"), UploadId: aws.String("nope"), PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
			return err
		}, 404, "NoSuchUpload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAPIError(t, tt.call(), tt.status, tt.code)
		})
	}

	t.Run("re-creating one's own bucket in us-east-1 succeeds, as AWS's legacy behaviour there", func(t *testing.T) {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("empty")}); err != nil {
			t.Errorf("CreateBucket of an owned bucket in us-east-1: %v, want success", err)
		}
	})
	t.Run("re-creating one's own bucket in another region is BucketAlreadyOwnedByYou", func(t *testing.T) {
		c2, cfg2 := cloudtest.Start(t, func(o *cloud.Options) { o.Region = "eu-west-1" })
		client2, _ := newClient(t, c2, cfg2, true)
		in := &s3.CreateBucketInput{Bucket: aws.String("mine"), CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}}
		if _, err := client2.CreateBucket(ctx, in); err != nil {
			t.Fatal(err)
		}
		_, err := client2.CreateBucket(ctx, in)
		checkAPIError(t, err, 409, "BucketAlreadyOwnedByYou")
		loc, err := client2.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("mine")})
		if err != nil || loc.LocationConstraint != types.BucketLocationConstraintEuWest1 {
			t.Errorf("GetBucketLocation = %v, %v; want eu-west-1", loc, err)
		}
		_, err = client2.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("unplaced")})
		checkAPIError(t, err, 400, "IllegalLocationConstraintException")
	})

	t.Run("completing a multipart upload checks its parts as AWS does", func(t *testing.T) {
		up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("full"), Key: aws.String("mp")})
		if err != nil {
			t.Fatal(err)
		}
		var etags []string
		for i, n := range []int{5 << 20, 1 << 20, 1 << 20} {
			p, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("full"), Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(make([]byte, n))})
			if err != nil {
				t.Fatal(err)
			}
			etags = append(etags, aws.ToString(p.ETag))
		}
		complete := func(parts ...types.CompletedPart) error {
			_, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("full"), Key: aws.String("mp"), UploadId: up.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
			return err
		}
		part := func(n int32, etag string) types.CompletedPart {
			return types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(etag)}
		}
		checkAPIError(t, complete(part(2, etags[1]), part(1, etags[0])), 400, "InvalidPartOrder")
		checkAPIError(t, complete(part(1, etags[0]), part(4, etags[1])), 400, "InvalidPart")
		checkAPIError(t, complete(part(1, etags[1]), part(2, etags[1])), 400, "InvalidPart")
		checkAPIError(t, complete(part(1, etags[0]), part(2, etags[1]), part(3, etags[2])), 400, "EntityTooSmall")
		// The last part may be small.
		if err := complete(part(1, etags[0]), part(2, etags[1])); err != nil {
			t.Errorf("completing with a small last part: %v", err)
		}
		_, err = client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("full"), Key: aws.String("mp"), UploadId: up.UploadId})
		checkAPIError(t, err, 404, "NoSuchUpload")
	})
}

func checkAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var apiErr smithy.APIError
	var re *smithyhttp.ResponseError
	if !errors.As(err, &apiErr) || !errors.As(err, &re) {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
	if apiErr.ErrorCode() != code || re.HTTPStatusCode() != status {
		t.Errorf("err = %d %s (%v), want %d %s", re.HTTPStatusCode(), apiErr.ErrorCode(), err, status, code)
	}
}

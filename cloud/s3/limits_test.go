package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	clouds3 "github.com/orderflow/orderflow/cloud/s3"
)

func TestInMemoryObjectsStayUnderTheCeiling(t *testing.T) {
	c, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.MaxS3MemoryBytes = 1 << 20 })
	client, _ := newClient(t, c, cfg, true)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mem")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("mem"), Key: aws.String("fits"), Body: bytes.NewReader(make([]byte, 600<<10))}); err != nil {
		t.Fatal(err)
	}
	_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("mem"), Key: aws.String("over"), Body: bytes.NewReader(make([]byte, 600<<10+1))})
	checkAPIError(t, err, 507, "InsufficientStorage")
	// Deleting frees the room.
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("mem"), Key: aws.String("fits")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("mem"), Key: aws.String("over"), Body: bytes.NewReader(make([]byte, 600<<10+1))}); err != nil {
		t.Errorf("a put after a delete made room: %v", err)
	}
	if _, err := clouds3.New(clouds3.Options{MaxMemoryBytes: -1}); err == nil {
		t.Errorf("New with a negative MaxMemoryBytes succeeded")
	}
}

func TestKeysNeverNameFiles(t *testing.T) {
	dir := t.TempDir()
	c, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.DataDir = dir })
	client, _ := newClient(t, c, cfg, true)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("keys")}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../../../escape", "a/../../b", "/leading", "sp ace+plus%25", "ünïcode/ключ", strings.Repeat("k", 1024)} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keys"), Key: aws.String(key), Body: strings.NewReader(key)}); err != nil {
			t.Fatalf("PutObject %q: %v", key, err)
		}
		if got, err := readObject(t, client, "keys", key); err != nil || got != key {
			t.Errorf("GetObject %q = %q, %v", key, got, err)
		}
	}
	// Only the data file, its log and s3/{blobs,tmp} are in the directory.
	var names []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			names = append(names, rel)
		}
		return nil
	})
	if got, want := strings.Join(names, " "), ". s3 s3/blobs s3/tmp"; got != want {
		t.Errorf("directories under the data directory = %s, want %s", got, want)
	}
}

// Only requests signed for S3, or unsigned ones to a bucket's name, reach
// S3: a client of another service using a *.localhost endpoint is not
// swallowed.
func TestOtherServicesKeepTheirRequestsOnBucketLikeHosts(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(c.URL(), "http://"))
	q := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String("http://queues.localhost:" + port)
		o.HTTPClient = newHostRecorder()
	})
	if _, err := q.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("orders")}); err != nil {
		t.Fatalf("SQS through queues.localhost: %v", err)
	}
	calls := c.Calls()
	if calls["sqs:CreateQueue"] != 1 {
		t.Errorf("calls = %v, want sqs:CreateQueue once", calls)
	}
	client, _ := newClient(t, c, cfg, false)
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("queues")}); err != nil {
		t.Fatal(err)
	}
	if got := c.Calls()["s3:CreateBucket"]; got != 1 {
		t.Errorf("s3:CreateBucket counted %d times, want 1", got)
	}
}

func TestTheCloudOpensObjectsInProcess(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	client, _ := newClient(t, c, cfg, true)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("code")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("code"), Key: aws.String("fn.zip"), Body: strings.NewReader("zip bytes")}); err != nil {
		t.Fatal(err)
	}
	f, info, err := c.S3.Open("code", "fn.zip")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "zip bytes" || info.Size != 9 || info.ETag != md5ETag([]byte("zip bytes")) {
		t.Errorf("Open = %q, %+v", b, info)
	}
	if _, _, err := c.S3.Open("code", "missing.zip"); !errors.Is(err, clouds3.ErrNoSuchKey) {
		t.Errorf("Open of a missing key: %v, want ErrNoSuchKey", err)
	}
	if _, _, err := c.S3.Open("nowhere", "fn.zip"); !errors.Is(err, clouds3.ErrNoSuchBucket) {
		t.Errorf("Open in a missing bucket: %v, want ErrNoSuchBucket", err)
	}
}

func TestBucketsStopAtAWSsQuota(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	client, _ := newClient(t, c, cfg, true)
	ctx := context.Background()
	for i := range clouds3.MaxBuckets {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(fmt.Sprintf("b-%05d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("one-too-many")})
	checkAPIError(t, err, 400, "TooManyBuckets")
}

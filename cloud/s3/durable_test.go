package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/journal"
	clouds3 "github.com/orderflow/orderflow/cloud/s3"
	"github.com/orderflow/orderflow/internal/crashtest"
	"github.com/orderflow/orderflow/internal/slowtest"
)

func readObject(t *testing.T, client *s3.Client, bucket, key string) (string, error) {
	t.Helper()
	got, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer got.Body.Close()
	b, err := io.ReadAll(got.Body)
	return string(b), err
}

func blobFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "s3", "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestObjectsSurviveARestartOnADataDirectory(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	start := func() (*cloud.Cloud, *s3.Client) {
		c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0", DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		client, _ := newClient(t, c, c.Config(), true)
		return c, client
	}
	c, client := start()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"a": "first a", "b": "b, to be deleted", "c": "c"} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("kept"), Key: aws.String(k), Body: strings.NewReader(v),
			Metadata: map[string]string{"v": "1"}, ContentType: aws.String("text/plain")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("kept"), Key: aws.String("a"), Body: strings.NewReader("second a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("kept"), Key: aws.String("b")}); err != nil {
		t.Fatal(err)
	}
	// A completed multipart object is kept, and so is one in progress.
	big := bytes.Repeat([]byte{7}, 5<<20+3)
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("kept"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, p := range [][]byte{big[:5<<20], big[5<<20:]} {
		res, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("kept"), Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: res.ETag})
	}
	done, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("kept"), Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("kept"), Key: aws.String("pending")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("kept"), Key: aws.String("pending"), UploadId: pending.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("kept part"))}); err != nil {
		t.Fatal(err)
	}
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Close(closeCtx); err != nil {
		t.Fatal(err)
	}

	c, client = start()
	for k, want := range map[string]string{"a": "second a", "c": "c", "mp": string(big)} {
		if got, err := readObject(t, client, "kept", k); err != nil || got != want {
			t.Errorf("after a restart, %s = %d bytes (%v), want %d", k, len(got), err, len(want))
		}
	}
	var nsk *types.NoSuchKey
	if _, err := readObject(t, client, "kept", "b"); !errors.As(err, &nsk) {
		t.Errorf("after a restart, the deleted b: %v, want NoSuchKey", err)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("kept"), Key: aws.String("c")})
	if err != nil || head.Metadata["v"] != "1" || aws.ToString(head.ContentType) != "text/plain" {
		t.Errorf("after a restart, c's headers = %v %q (%v)", head.Metadata, aws.ToString(head.ContentType), err)
	}
	mp, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("kept"), Key: aws.String("mp")})
	if err != nil || aws.ToString(mp.ETag) != aws.ToString(done.ETag) {
		t.Errorf("after a restart, mp's ETag = %v (%v), want %s", aws.ToString(mp.ETag), err, aws.ToString(done.ETag))
	}
	if got := blobFiles(t, dir); got != 4 {
		t.Errorf("%d object files on disk, want 4: a, c, mp and the pending upload's part", got)
	}
	listed, err := client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("kept"), Key: aws.String("pending"), UploadId: pending.UploadId})
	if err != nil || len(listed.Parts) != 1 || aws.ToInt64(listed.Parts[0].Size) != 9 {
		t.Fatalf("after a restart, the upload in progress lists %v (%v), want its one part of 9 bytes", listed, err)
	}
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("kept"), Key: aws.String("pending"), UploadId: pending.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: listed.Parts[0].ETag}}}}); err != nil {
		t.Fatalf("completing the upload after a restart: %v", err)
	}
	if got, err := readObject(t, client, "kept", "pending"); err != nil || got != "kept part" {
		t.Errorf("the upload completed after a restart = %q (%v)", got, err)
	}
	// The object's bytes replace the part's: the replaced a, the deleted b
	// and the part are gone.
	if got := blobFiles(t, dir); got != 4 {
		t.Errorf("%d object files on disk, want 4: a, c, mp and pending", got)
	}
	abandoned, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("kept"), Key: aws.String("abandoned")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("kept"), Key: aws.String("abandoned"), UploadId: abandoned.UploadId}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	c, client = start()
	defer c.Close(closeCtx)
	_, err = client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("kept"), Key: aws.String("abandoned"), UploadId: abandoned.UploadId})
	checkAPIError(t, err, 404, "NoSuchUpload")
	_, err = client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("kept"), Key: aws.String("pending"), UploadId: pending.UploadId})
	checkAPIError(t, err, 404, "NoSuchUpload")
}

// serveS3 is the crash test's child: S3 alone on the data file in c.Dir,
// its journal syncing the log every syncEvery (0: before every answer).
func serveS3(syncEvery time.Duration) func(c crashtest.Child) (*crashtest.Server, error) {
	return func(c crashtest.Child) (*crashtest.Server, error) { return serveS3With(c, syncEvery) }
}

func serveS3With(c crashtest.Child, syncEvery time.Duration) (*crashtest.Server, error) {
	db, err := journal.Open(filepath.Join(c.Dir, "data.db"))
	if err != nil {
		return nil, err
	}
	j, err := journal.NewWithOptions(db, journal.Options{SyncEvery: syncEvery})
	if err != nil {
		db.Close()
		return nil, err
	}
	svc, err := clouds3.New(clouds3.Options{DB: db, Journal: j, Dir: filepath.Join(c.Dir, "s3"), Env: awsenv.Env{BaseURL: func() string { return c.Endpoint }}})
	if err != nil {
		j.Close()
		db.Close()
		return nil, err
	}
	return &crashtest.Server{Handler: svc, Close: func() error { return errors.Join(j.Close(), db.Close()) }}, nil
}

func TestAKilledProcessKeepsEveryAcknowledgedObject(t *testing.T) {
	slowtest.Skip(t, "kill -9 of a child process")
	crashtest.EachSyncMode(t, testAKilledProcessKeepsEveryAcknowledgedObject)
}

func testAKilledProcessKeepsEveryAcknowledgedObject(t *testing.T, syncEvery time.Duration) {
	p := crashtest.Start(t, crashtest.Options{Serve: serveS3(syncEvery)})
	client := func() *s3.Client {
		return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.Endpoint()), UsePathStyle: true, RetryMaxAttempts: 1,
			HTTPClient: crashtest.NewHTTPClient(), Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	}
	ctx := context.Background()
	if _, err := client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("crash")}); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked = map[string]string{}
		wg    sync.WaitGroup
	)
	c := client()
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < 100000; i++ {
				key := fmt.Sprintf("w%d/%d", w, i)
				body := fmt.Sprintf("%s %s", key, bytes.Repeat([]byte{byte('a' + i%26)}, i%5000))
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("crash"), Key: aws.String(key), Body: bytes.NewReader([]byte(body))}); err != nil {
					return // killed
				}
				mu.Lock()
				acked[key] = body
				mu.Unlock()
			}
		})
	}
	<-p.KillAfter(500 * time.Millisecond)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no put was acknowledged before the kill")
	}
	p.Restart("")
	c = client()
	for key, want := range acked {
		if got, err := readObject(t, c, "crash", key); err != nil || got != want {
			t.Fatalf("acknowledged %s after the kill = %q (%v), want %q", key, got, err, want)
		}
	}
	tmp, _ := os.ReadDir(filepath.Join(p.Dir(), "s3", "tmp"))
	if len(tmp) != 0 {
		t.Errorf("%d half-written files left in s3/tmp after the restart", len(tmp))
	}
	t.Logf("%d puts acknowledged before the kill, all kept", len(acked))
}

package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
)

// hostRecorder is an HTTP client that dials every *.localhost name on
// 127.0.0.1 (as browsers and systemd-resolved do; Go's resolver need not)
// and records the Host of every request it sends.
type hostRecorder struct {
	mu    sync.Mutex
	hosts []string
	c     *http.Client
}

func newHostRecorder() *hostRecorder {
	d := &net.Dialer{}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if host == "localhost" || strings.HasSuffix(host, ".localhost") {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return d.DialContext(ctx, network, addr)
	}}
	return &hostRecorder{c: &http.Client{Transport: tr}}
}

func (h *hostRecorder) Do(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.hosts = append(h.hosts, r.URL.Host)
	h.mu.Unlock()
	return h.c.Do(r)
}

// newClient is an S3 client of c: path-style on c's URL, or
// virtual-hosted-style on http://localhost:PORT.
func newClient(t *testing.T, c *cloud.Cloud, cfg aws.Config, pathStyle bool) (*s3.Client, *hostRecorder) {
	t.Helper()
	rec := newHostRecorder()
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = pathStyle
		o.HTTPClient = rec
		o.RetryMaxAttempts = 1
		if !pathStyle {
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(c.URL(), "http://"))
			o.BaseEndpoint = aws.String("http://localhost:" + port)
		}
	}), rec
}

func md5ETag(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func TestObjectsRoundTripThroughTheSDK(t *testing.T) {
	for _, style := range []struct {
		name string
		path bool
		host string // the request host the client must use for the bucket
	}{
		{"path-style", true, "127.0.0.1:"},
		{"virtual-hosted-style", false, "orders-artefacts.localhost:"},
	} {
		t.Run(style.name, func(t *testing.T) {
			c, cfg := cloudtest.Start(t)
			client, rec := newClient(t, c, cfg, style.path)
			ctx := context.Background()
			bucket := aws.String("orders-artefacts")
			if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
				t.Fatal(err)
			}
			if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); err != nil {
				t.Fatal(err)
			}
			body := []byte("the function's zip, say")
			put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("fn/v1/function.zip"), Body: bytes.NewReader(body),
				ContentType: aws.String("application/zip"), Metadata: map[string]string{"built-by": "orderflow"}})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := aws.ToString(put.ETag), md5ETag(body); got != want {
				t.Errorf("PutObject ETag = %s, want %s", got, want)
			}
			// S3 gives an object sent without a checksum a CRC64NVME.
			if got, want := aws.ToString(put.ChecksumCRC64NVME), crc64NVME(body); got != want || put.ChecksumType != types.ChecksumTypeFullObject {
				t.Errorf("PutObject CRC64NVME = %q (%s), want %q (FULL_OBJECT)", got, put.ChecksumType, want)
			}
			got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("fn/v1/function.zip"), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			read, err := io.ReadAll(got.Body) // the SDK validates the CRC32 as it reads
			got.Body.Close()
			if err != nil || !bytes.Equal(read, body) {
				t.Fatalf("GetObject body = %q, %v; want %q", read, err, body)
			}
			if aws.ToString(got.ContentType) != "application/zip" || got.Metadata["built-by"] != "orderflow" || aws.ToString(got.ChecksumCRC64NVME) != crc64NVME(body) {
				t.Errorf("GetObject = type %q, metadata %v, CRC64NVME %q; want application/zip, built-by=orderflow, %q",
					aws.ToString(got.ContentType), got.Metadata, aws.ToString(got.ChecksumCRC64NVME), crc64NVME(body))
			}
			rg, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("fn/v1/function.zip"), Range: aws.String("bytes=4-11")})
			if err != nil {
				t.Fatal(err)
			}
			part, _ := io.ReadAll(rg.Body)
			rg.Body.Close()
			if string(part) != "function" || aws.ToString(rg.ContentRange) != fmt.Sprintf("bytes 4-11/%d", len(body)) {
				t.Errorf("ranged GetObject = %q, Content-Range %q", part, aws.ToString(rg.ContentRange))
			}
			head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("fn/v1/function.zip")})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToInt64(head.ContentLength) != int64(len(body)) || aws.ToString(head.ETag) != md5ETag(body) {
				t.Errorf("HeadObject = %d bytes, ETag %s", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag))
			}

			for _, k := range []string{"fn/v2/function.zip", "fn/v3/function.zip", "readme.txt", "z/a b+c.txt"} {
				if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
					t.Fatal(err)
				}
			}
			top, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Delimiter: aws.String("/")})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := listed(top), "readme.txt | fn/ z/"; got != want {
				t.Errorf("ListObjectsV2 with delimiter = %s, want %s", got, want)
			}
			var pages []string
			p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String("fn/"), MaxKeys: aws.Int32(2)})
			for i := 0; p.HasMorePages() && i < 10; i++ {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				pages = append(pages, listed(page))
			}
			if got, want := strings.Join(pages, " ; "), "fn/v1/function.zip fn/v2/function.zip |  ; fn/v3/function.zip | "; got != want {
				t.Errorf("ListObjectsV2 pages = %q, want %q", got, want)
			}
			after, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, StartAfter: aws.String("readme.txt")})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := listed(after), "z/a b+c.txt | "; got != want {
				t.Errorf("ListObjectsV2 after readme.txt = %q, want %q", got, want)
			}
			buckets, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
			if err != nil {
				t.Fatal(err)
			}
			if len(buckets.Buckets) != 1 || aws.ToString(buckets.Buckets[0].Name) != "orders-artefacts" {
				t.Errorf("ListBuckets = %+v", buckets.Buckets)
			}
			var nonEmpty smithy.APIError
			if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); !errors.As(err, &nonEmpty) || nonEmpty.ErrorCode() != "BucketNotEmpty" {
				t.Errorf("DeleteBucket of a bucket with objects: %v, want BucketNotEmpty", err)
			}
			for _, k := range []string{"fn/v1/function.zip", "fn/v2/function.zip", "fn/v3/function.zip", "readme.txt", "z/a b+c.txt", "never-there"} {
				if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String(k)}); err != nil {
					t.Fatalf("DeleteObject %s: %v", k, err)
				}
			}
			if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); err != nil {
				t.Fatal(err)
			}
			var notFound *types.NotFound
			if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); !errors.As(err, &notFound) {
				t.Errorf("HeadBucket of a deleted bucket: %v, want NotFound", err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, h := range rec.hosts[:3] {
				if !strings.HasPrefix(h, style.host) {
					t.Errorf("the client sent Host %s, want %s…", h, style.host)
				}
			}
		})
	}
}

// listed is "key key | prefix prefix" of a listing page.
func listed(out *s3.ListObjectsV2Output) string {
	var keys, prefixes []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	for _, p := range out.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	return strings.Join(keys, " ") + " | " + strings.Join(prefixes, " ")
}

func TestTheTransferManagerUploadsALargeFileInParts(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	client, _ := newClient(t, c, cfg, true)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("big")}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 12<<20)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	up := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = 5 << 20
		o.MultipartUploadThreshold = 5 << 20
	})
	res, err := up.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String("big"), Key: aws.String("artefact.bin"), Body: bytes.NewReader(data),
		ChecksumAlgorithm: tmtypes.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(res.UploadID) == "" {
		t.Fatalf("the manager made a single PUT, not a multipart upload")
	}
	// The multipart ETag: the MD5 of the parts' binary MD5s, then "-3";
	// the composite CRC32: the CRC32 of the parts' binary CRC32s, "-3".
	var md5s, crcs []byte
	for off := 0; off < len(data); off += 5 << 20 {
		p := data[off:min(off+5<<20, len(data))]
		sum := md5.Sum(p)
		md5s = append(md5s, sum[:]...)
		crcs = binary.BigEndian.AppendUint32(crcs, crc32.ChecksumIEEE(p))
	}
	sum := md5.Sum(md5s)
	if got, want := aws.ToString(res.ETag), `"`+hex.EncodeToString(sum[:])+`-3"`; got != want {
		t.Errorf("multipart ETag = %s, want %s", got, want)
	}
	wantCRC := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(crcs))) + "-3"
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("big"), Key: aws.String("artefact.bin"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	read, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || !bytes.Equal(read, data) {
		t.Fatalf("GetObject read %d bytes (%v), want the %d uploaded", len(read), err, len(data))
	}
	if aws.ToString(got.ChecksumCRC32) != wantCRC || got.ChecksumType != types.ChecksumTypeComposite || aws.ToInt32(got.PartsCount) != 3 {
		t.Errorf("GetObject CRC32 %q (%s), %d parts; want %q (COMPOSITE), 3 parts", aws.ToString(got.ChecksumCRC32), got.ChecksumType, aws.ToInt32(got.PartsCount), wantCRC)
	}
}

// A single PUT larger than the edge's MaxRequestBytes streams to storage.
func TestAPutLargerThanTheEdgesBodyLimitIsStored(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	client, _ := newClient(t, c, cfg, true)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("big")}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), (cloud.MaxRequestBytes+(1<<20))/16)
	put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("big"), Key: aws.String("k"), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(put.ETag), md5ETag(data); got != want {
		t.Errorf("ETag = %s, want %s", got, want)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("big"), Key: aws.String("k")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(data)) {
		t.Errorf("HeadObject = %v bytes, %v; want %d", aws.ToInt64(head.ContentLength), err, len(data))
	}
}

// crc64NVME is the base64 CRC-64/NVME of b, computed independently of the
// service (the polynomial from the NVMe specification, reflected).
func crc64NVME(b []byte) string {
	sum := crc64.Checksum(b, crc64.MakeTable(0x9a6c9329ac4bc9b5))
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, sum))
}

func TestAChecksumTheClientSendsIsVerifiedStoredAndReturned(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	client, _ := newClient(t, c, cfg, true)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sums")}); err != nil {
		t.Fatal(err)
	}
	body := []byte("checked on the way in")
	want := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
	wantB64 := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, want))
	put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sums"), Key: aws.String("k"), Body: bytes.NewReader(body), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(put.ChecksumCRC32C); got != wantB64 {
		t.Errorf("PutObject CRC32C = %q, want %q", got, wantB64)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("sums"), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(head.ChecksumCRC32C); got != wantB64 {
		t.Errorf("HeadObject CRC32C = %q, want %q", got, wantB64)
	}
	// A wrong checksum in the header is refused, and nothing is stored.
	var apiErr smithy.APIError
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sums"), Key: aws.String("bad"), Body: bytes.NewReader(body),
		ChecksumCRC32C: aws.String(base64.StdEncoding.EncodeToString([]byte{0, 0, 0, 0}))})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "BadDigest" || apiErr.ErrorMessage() != "The CRC32C you specified did not match the calculated checksum." {
		t.Errorf("PutObject with a wrong CRC32C: %v, want BadDigest", err)
	}
	var nf *types.NotFound
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("sums"), Key: aws.String("bad")}); !errors.As(err, &nf) {
		t.Errorf("HeadObject of the refused object: %v, want NotFound", err)
	}
}

func TestCopyObjectSharesTheBytesAndChoosesTheMetadata(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	client, _ := newClient(t, c, cfg, true)
	ctx := context.Background()
	for _, b := range []string{"src", "dst"} {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("a b/c"), Body: strings.NewReader("copied"),
		ContentType: aws.String("text/plain"), Metadata: map[string]string{"m": "1"}}); err != nil {
		t.Fatal(err)
	}
	cp, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String("src/a%20b/c")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(cp.CopyObjectResult.ETag); got != md5ETag([]byte("copied")) {
		t.Errorf("CopyObject ETag = %s", got)
	}
	// The source goes; the copy stays.
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("a b/c")}); err != nil {
		t.Fatal(err)
	}
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(b) != "copied" || got.Metadata["m"] != "1" || aws.ToString(got.ContentType) != "text/plain" {
		t.Errorf("the copy = %q, %v, %q", b, got.Metadata, aws.ToString(got.ContentType))
	}
	if _, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String("dst/copy"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"m": "2"}}); err != nil {
		t.Fatal(err)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy")})
	if err != nil || head.Metadata["m"] != "2" {
		t.Errorf("after a REPLACE copy onto itself, metadata = %v (%v), want m=2", head.Metadata, err)
	}
	_, err = client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String("dst/copy")})
	checkAPIError(t, err, 400, "InvalidRequest")
	_, err = client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/gone")})
	checkAPIError(t, err, 404, "NoSuchKey")
}

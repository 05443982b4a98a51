package s3_test

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
)

// send signs a request for S3 with key and secret over payloadHash (a
// hash, or a payload mode such as UNSIGNED-PAYLOAD) and sends it.
func send(t *testing.T, c *cloud.Cloud, key, secret, method, path, body, payloadHash string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, c.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req, payloadHash, "s3", c.Region(), time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, string(b), res.Header
}

// code is the Code of an S3 error document.
func code(t *testing.T, doc string) string {
	t.Helper()
	var e struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if err := xml.Unmarshal([]byte(doc), &e); err != nil {
		t.Fatalf("not an S3 error document: %q", doc)
	}
	return e.Code
}

// awsChunked encodes data as aws-chunked in chunks of n bytes, with the
// trailers after the last.
func awsChunked(data string, n int, sig bool, trailers ...string) string {
	var b strings.Builder
	ext := func() string {
		if sig {
			return ";chunk-signature=" + strings.Repeat("0", 64)
		}
		return ""
	}
	for len(data) > 0 {
		c := data[:min(n, len(data))]
		data = data[len(c):]
		fmt.Fprintf(&b, "%x%s\r\n%s\r\n", len(c), ext(), c)
	}
	fmt.Fprintf(&b, "0%s\r\n", ext())
	for _, tr := range trailers {
		b.WriteString(tr + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func crc32B64(s string) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE([]byte(s))))
}

func TestAWSChunkedBodiesAreDecodedAndTheirTrailersChecked(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	client, _ := newClient(t, c, cfg, true)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("chunks")}); err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("orderflow ", 2000) // 20000 bytes: three 8 KiB chunks
	chunked := func(trailer string) map[string]string {
		return map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": strconv.Itoa(len(data)), "X-Amz-Trailer": trailer}
	}
	t.Run("an unsigned body with a CRC32 trailer is stored decoded, with its checksum", func(t *testing.T) {
		status, doc, h := send(t, c, "k", "s", "PUT", "/chunks/good", awsChunked(data, 8192, false, "x-amz-checksum-crc32:"+crc32B64(data)), "STREAMING-UNSIGNED-PAYLOAD-TRAILER", chunked("x-amz-checksum-crc32"))
		if status != 200 || h.Get("x-amz-checksum-crc32") != crc32B64(data) {
			t.Fatalf("PUT = %d %s, CRC32 %q; want 200, %q", status, doc, h.Get("x-amz-checksum-crc32"), crc32B64(data))
		}
		got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("chunks"), Key: aws.String("good")})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if string(b) != data {
			t.Errorf("GetObject read %d bytes, want the %d decoded", len(b), len(data))
		}
	})
	t.Run("a tampered trailer checksum is refused with BadDigest, and nothing stored", func(t *testing.T) {
		status, doc, _ := send(t, c, "k", "s", "PUT", "/chunks/tampered", awsChunked(data, 8192, false, "x-amz-checksum-crc32:"+crc32B64(data+"!")), "STREAMING-UNSIGNED-PAYLOAD-TRAILER", chunked("x-amz-checksum-crc32"))
		if status != 400 || code(t, doc) != "BadDigest" || !strings.Contains(doc, "The CRC32 you specified did not match the calculated checksum.") {
			t.Errorf("PUT = %d %s, want 400 BadDigest", status, doc)
		}
		if status, _, _ := send(t, c, "k", "s", "HEAD", "/chunks/tampered", "", "UNSIGNED-PAYLOAD", nil); status != 404 {
			t.Errorf("HEAD of the refused object = %d, want 404", status)
		}
	})
	for _, tt := range []struct {
		name, body, code string
		header           map[string]string
	}{
		{"a trailer announced but not sent", awsChunked(data, 8192, false), "InvalidRequest", chunked("x-amz-checksum-crc32")},
		{"a malformed trailer value", awsChunked(data, 8192, false, "x-amz-checksum-crc32:not base64"), "InvalidRequest", chunked("x-amz-checksum-crc32")},
		{"an unknown trailer", awsChunked(data, 8192, false), "InvalidRequest", chunked("x-amz-checksum-md7")},
		{"a chunk size that is not hex", "zz\r\n" + data + "\r\n0\r\n\r\n", "InvalidChunkSizeError", chunked("x-amz-checksum-crc32")},
		{"a chunk longer than it says", "10\r\n" + data + "\r\n0\r\n\r\n", "InvalidChunkSizeError", chunked("x-amz-checksum-crc32")},
		{"a decoded length that is not what was sent", awsChunked(data[:100], 8192, false, "x-amz-checksum-crc32:"+crc32B64(data[:100])), "IncompleteBody", chunked("x-amz-checksum-crc32")},
		{"a chunk header with no end", strings.Repeat("f", 5000), "InvalidChunkSizeError", chunked("x-amz-checksum-crc32")},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			status, doc, _ := send(t, c, "k", "s", "PUT", "/chunks/bad", tt.body, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", tt.header)
			if status != 400 || code(t, doc) != tt.code {
				t.Errorf("PUT = %d %s, want 400 %s", status, doc, tt.code)
			}
		})
	}
	t.Run("a signed aws-chunked body is decoded", func(t *testing.T) {
		h := chunked("")
		delete(h, "X-Amz-Trailer")
		status, doc, _ := send(t, c, "k", "s", "PUT", "/chunks/signed", awsChunked(data, 8192, true), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", h)
		if status != 200 {
			t.Fatalf("PUT = %d %s", status, doc)
		}
		head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("chunks"), Key: aws.String("signed")})
		if err != nil || aws.ToInt64(head.ContentLength) != int64(len(data)) {
			t.Errorf("HeadObject = %d bytes, %v; want %d", aws.ToInt64(head.ContentLength), err, len(data))
		}
	})
	t.Run("a body that is not what its signed SHA-256 says is refused", func(t *testing.T) {
		sum := sha256.Sum256([]byte("another body"))
		status, doc, _ := send(t, c, "k", "s", "PUT", "/chunks/sha", "this body", hex.EncodeToString(sum[:]), nil)
		if status != 400 || code(t, doc) != "XAmzContentSHA256Mismatch" {
			t.Errorf("PUT = %d %s, want 400 XAmzContentSHA256Mismatch", status, doc)
		}
	})
}

func TestUnderRequireAuthS3TakesTheBodyModesAWSAllows(t *testing.T) {
	c, cfg := cloudtest.Start(t, func(o *cloud.Options) { o.Credentials = map[string]string{"AKIDS3TEST": "s3-secret"} })
	_ = cfg
	ctx := context.Background()
	client := s3.New(s3.Options{Region: c.Region(), BaseEndpoint: aws.String(c.URL()), UsePathStyle: true, RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDS3TEST", SecretAccessKey: "s3-secret"}, nil
		})})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("authed")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("authed"), Key: aws.String("sdk"), Body: strings.NewReader("signed sha256")}); err != nil {
		t.Fatalf("the SDK's signed PutObject: %v", err)
	}
	data := "a body the signature does not cover"
	for _, tt := range []struct {
		name, key, secret, body, mode string
		header                        map[string]string
		status                        int
		code                          string
	}{
		{"UNSIGNED-PAYLOAD is accepted", "AKIDS3TEST", "s3-secret", data, "UNSIGNED-PAYLOAD", nil, 200, ""},
		{"STREAMING-UNSIGNED-PAYLOAD-TRAILER is accepted", "AKIDS3TEST", "s3-secret", awsChunked(data, 10, false, "x-amz-checksum-crc32:"+crc32B64(data)), "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
			map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": strconv.Itoa(len(data)), "X-Amz-Trailer": "x-amz-checksum-crc32"}, 200, ""},
		{"a wrong secret is SignatureDoesNotMatch", "AKIDS3TEST", "wrong", data, "UNSIGNED-PAYLOAD", nil, 403, "SignatureDoesNotMatch"},
		{"an unknown key is InvalidAccessKeyId", "AKIDNOBODY", "s3-secret", data, "UNSIGNED-PAYLOAD", nil, 403, "InvalidAccessKeyId"},
		{"a chunk-signed body with signatures that do not hold is refused", "AKIDS3TEST", "s3-secret", awsChunked(data, 10, true), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
			map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": strconv.Itoa(len(data))}, 403, "SignatureDoesNotMatch"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, doc, _ := send(t, c, tt.key, tt.secret, "PUT", "/authed/raw", tt.body, tt.mode, tt.header)
			if status != tt.status || (tt.code != "" && code(t, doc) != tt.code) {
				t.Errorf("PUT = %d %s, want %d %s", status, doc, tt.status, tt.code)
			}
		})
	}
	t.Run("a chunk-signed body is accepted with the chunk signatures AWS's signer makes, and refused tampered", func(t *testing.T) {
		for _, tamper := range []bool{false, true} {
			status, doc := sendChunkSigned(t, c, "AKIDS3TEST", "s3-secret", "/authed/chunk-signed", data, 10, tamper)
			switch {
			case !tamper && status != 200:
				t.Errorf("PUT = %d %s, want 200", status, doc)
			case tamper && (status != 403 || code(t, doc) != "SignatureDoesNotMatch"):
				t.Errorf("PUT with a chunk changed after signing = %d %s, want 403 SignatureDoesNotMatch", status, doc)
			}
		}
		got, err := readObject(t, client, "authed", "chunk-signed")
		if err != nil || got != data {
			t.Errorf("the chunk-signed object = %q (%v), want %q", got, err, data)
		}
	})
	t.Run("a presigned GET is accepted until it expires, and not for another key", func(t *testing.T) {
		ps, err := s3.NewPresignClient(client).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("authed"), Key: aws.String("sdk")})
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.Get(ps.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "signed sha256" {
			t.Errorf("presigned GET = %d %q, want 200 %q", res.StatusCode, b, "signed sha256")
		}
		res, err = http.Get(strings.Replace(ps.URL, "/authed/sdk", "/authed/raw", 1))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 403 || code(t, string(b)) != "SignatureDoesNotMatch" {
			t.Errorf("presigned GET of another key = %d %s, want 403 SignatureDoesNotMatch", res.StatusCode, b)
		}
	})
	t.Run("an unsigned request to a virtual-hosted bucket is AccessDenied", func(t *testing.T) {
		req, _ := http.NewRequest("GET", c.URL()+"/raw", nil)
		req.Host = "authed.localhost"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 403 || code(t, string(b)) != "AccessDenied" {
			t.Errorf("GET = %d %s, want 403 AccessDenied", res.StatusCode, b)
		}
	})
}

func TestEveryChecksumAlgorithmIsComputedAsAWSDoes(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	client, _ := newClient(t, c, cfg, true)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("algs")}); err != nil {
		t.Fatal(err)
	}
	body := "every algorithm"
	sum := func(h hash.Hash) string { h.Write([]byte(body)); return base64.StdEncoding.EncodeToString(h.Sum(nil)) }
	want := map[types.ChecksumAlgorithm]string{
		types.ChecksumAlgorithmCrc32:     sum(crc32.NewIEEE()),
		types.ChecksumAlgorithmCrc32c:    sum(crc32.New(crc32.MakeTable(crc32.Castagnoli))),
		types.ChecksumAlgorithmCrc64nvme: crc64NVME([]byte(body)),
		types.ChecksumAlgorithmSha1:      sum(sha1.New()),
		types.ChecksumAlgorithmSha256:    sum(sha256.New()),
	}
	for alg, w := range want {
		t.Run(string(alg)+" sent by the SDK", func(t *testing.T) {
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("algs"), Key: aws.String(string(alg)), Body: strings.NewReader(body), ChecksumAlgorithm: alg}); err != nil {
				t.Fatal(err)
			}
			head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("algs"), Key: aws.String(string(alg)), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			got := map[types.ChecksumAlgorithm]*string{types.ChecksumAlgorithmCrc32: head.ChecksumCRC32, types.ChecksumAlgorithmCrc32c: head.ChecksumCRC32C,
				types.ChecksumAlgorithmCrc64nvme: head.ChecksumCRC64NVME, types.ChecksumAlgorithmSha1: head.ChecksumSHA1, types.ChecksumAlgorithmSha256: head.ChecksumSHA256}[alg]
			if aws.ToString(got) != w {
				t.Errorf("HeadObject %s = %q, want %q", alg, aws.ToString(got), w)
			}
		})
	}
	t.Run("SHA512 in a header", func(t *testing.T) {
		w := sum(sha512.New())
		status, doc, h := send(t, c, "k", "s", "PUT", "/algs/sha512", body, "UNSIGNED-PAYLOAD", map[string]string{"x-amz-checksum-sha512": w})
		if status != 200 || h.Get("x-amz-checksum-sha512") != w {
			t.Errorf("PUT = %d %s, SHA512 %q; want 200, %q", status, doc, h.Get("x-amz-checksum-sha512"), w)
		}
		status, doc, _ = send(t, c, "k", "s", "PUT", "/algs/sha512", body, "UNSIGNED-PAYLOAD", map[string]string{"x-amz-checksum-sha512": sum(sha512.New384())})
		if status != 400 || code(t, doc) != "InvalidRequest" {
			t.Errorf("PUT with a SHA512 of the wrong size = %d %s, want 400 InvalidRequest", status, doc)
		}
	})
	t.Run("an algorithm not computed here is refused, not ignored", func(t *testing.T) {
		status, doc, _ := send(t, c, "k", "s", "PUT", "/algs/xx", body, "UNSIGNED-PAYLOAD", map[string]string{"x-amz-checksum-xxhash64": "AAAAAAAAAAA="})
		if status != 400 || code(t, doc) != "InvalidRequest" {
			t.Errorf("PUT with an XXHASH64 = %d %s, want 400 InvalidRequest", status, doc)
		}
	})
}

// sendChunkSigned PUTs data as STREAMING-AWS4-HMAC-SHA256-PAYLOAD, its
// chunks signed by aws-sdk-go-v2's own stream signer, with one byte of the
// first chunk changed after signing if tamper.
func sendChunkSigned(t *testing.T, c *cloud.Cloud, key, secret, path, data string, chunk int, tamper bool) (int, string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}
	const mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	encodedLen := len(awsChunked(data, chunk, true))
	req, err := http.NewRequest("PUT", c.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(encodedLen)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	req.Header.Set("X-Amz-Content-Sha256", mode)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(ctx, creds, req, mode, "s3", c.Region(), now); err != nil {
		t.Fatal(err)
	}
	auth := req.Header.Get("Authorization")
	seed, err := hex.DecodeString(auth[strings.LastIndex(auth, "Signature=")+len("Signature="):])
	if err != nil {
		t.Fatal(err)
	}
	ss := v4.NewStreamSigner(creds, "s3", c.Region(), seed)
	var b strings.Builder
	rest := data
	for first := true; ; first = false {
		part := rest[:min(chunk, len(rest))]
		rest = rest[len(part):]
		sig, err := ss.GetSignature(ctx, nil, []byte(part), now)
		if err != nil {
			t.Fatal(err)
		}
		if tamper && first {
			part = "X" + part[1:]
		}
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n%s\r\n", len(part), hex.EncodeToString(sig), part)
		if part == "" {
			break
		}
	}
	if b.Len() != encodedLen {
		t.Fatalf("encoded %d bytes, declared %d", b.Len(), encodedLen)
	}
	req.Body = io.NopCloser(strings.NewReader(b.String()))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	doc, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(doc)
}

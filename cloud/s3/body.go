package s3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// The payload modes a request names in X-Amz-Content-Sha256.
const (
	unsignedPayload          = "UNSIGNED-PAYLOAD"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
)

// crc64NVME is the CRC-64/NVME polynomial, reversed as hash/crc64 takes it.
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// algorithms are the checksum algorithms S3 computes, by the name in
// x-amz-checksum-<name> (lower case) and x-amz-checksum-algorithm.
var algorithms = map[string]func() hash.Hash{
	"CRC32":     func() hash.Hash { return crc32.NewIEEE() },
	"CRC32C":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"CRC64NVME": func() hash.Hash { return crc64.New(crc64NVME) },
	"SHA1":      sha1.New,
	"SHA256":    sha256.New,
	"SHA512":    sha512.New,
	"MD5":       md5.New,
}

// unsupportedAlgorithm is the refusal of a checksum algorithm S3 knows but
// this one does not compute (the XXHASH family).
func unsupportedAlgorithm() *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "Checksum algorithm provided is unsupported here. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256, SHA512, MD5]")
}

func checksumHeader(alg string) string { return "x-amz-checksum-" + strings.ToLower(alg) }

// maxChunkLine bounds a line of an aws-chunked body (a chunk header or a
// trailer): the longest a client sends is a trailer with its signature.
const maxChunkLine = 4096

// maxChunkSize bounds one chunk of an aws-chunked body: clients send 64 KiB
// to a few MiB.
const maxChunkSize = 64 << 20

// chunkedReader decodes an aws-chunked body ("<hex size>[;chunk-signature=
// …]\r\n<data>\r\n", then a zero-size chunk, trailers and an empty line),
// gathering the trailers once it reaches the end.
type chunkedReader struct {
	r        *bufio.Reader
	left     int64 // of the current chunk
	done     bool
	trailers http.Header
	err      error
	// With sigs, every chunk's signature is checked (and the trailers',
	// when signedTrailer): sig is the current chunk's, h hashes its data.
	sigs          ChunkSignatures
	signedTrailer bool
	sig           string
	h             hash.Hash
}

func newChunkedReader(r io.Reader, sigs ChunkSignatures, signedTrailer bool) *chunkedReader {
	return &chunkedReader{r: bufio.NewReaderSize(r, 64<<10), trailers: http.Header{}, sigs: sigs, signedTrailer: signedTrailer, h: sha256.New()}
}

// ChunkSignatures checks the signatures of an aws-chunked body signed
// chunk by chunk, in order: each chunk's, over the SHA-256 of its data,
// then the trailers' (the "name:value\n" lines). The edge, which knows the
// keys, gives it to S3 in the request's context (WithChunkSignatures);
// without one, chunk signatures are not checked (no credentials are).
type ChunkSignatures interface {
	Chunk(dataSHA256 []byte, signature string) bool
	Trailer(trailers []byte, signature string) bool
}

type chunkSigsKey struct{}

// WithChunkSignatures returns ctx carrying the verifier of a request's
// chunk signatures.
func WithChunkSignatures(ctx context.Context, v ChunkSignatures) context.Context {
	return context.WithValue(ctx, chunkSigsKey{}, v)
}

var (
	errChunked        = errors.New("the aws-chunked body is malformed")
	errChunkSignature = errors.New("a chunk signature of the aws-chunked body does not match")
)

func (c *chunkedReader) line() (string, error) {
	var b []byte
	for {
		part, isPrefix, err := c.r.ReadLine()
		if err != nil {
			if err == io.EOF {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		b = append(b, part...)
		if len(b) > maxChunkLine {
			return "", fmt.Errorf("%w: a line is longer than %d bytes", errChunked, maxChunkLine)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		if c.err = c.next(); c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
	}
	n, err := c.r.Read(p[:min(int64(len(p)), c.left)])
	c.left -= int64(n)
	if c.sigs != nil {
		c.h.Write(p[:n])
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		c.err = err
		return n, err
	}
	if c.left == 0 {
		// The chunk's data ends with CRLF.
		crlf := make([]byte, 2)
		if _, err := io.ReadFull(c.r, crlf); err != nil || !bytes.Equal(crlf, []byte("\r\n")) {
			c.err = fmt.Errorf("%w: a chunk does not end with CRLF", errChunked)
			return n, c.err
		}
		if c.sigs != nil && !c.sigs.Chunk(c.h.Sum(nil), c.sig) {
			c.err = errChunkSignature
			return n, c.err
		}
	}
	return n, nil
}

// next reads a chunk header, and the trailers after the last chunk.
func (c *chunkedReader) next() error {
	l, err := c.line()
	if err != nil {
		return err
	}
	sizeHex, ext, _ := strings.Cut(l, ";")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
	if err != nil || size < 0 || size > maxChunkSize {
		return fmt.Errorf("%w: chunk size %q", errChunked, sizeHex)
	}
	if c.sigs != nil {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !ok || sig == "" {
			return fmt.Errorf("%w: a chunk has no chunk-signature", errChunked)
		}
		c.sig = sig
		c.h.Reset()
	}
	if size > 0 {
		c.left = size
		return nil
	}
	if c.sigs != nil && !c.sigs.Chunk(c.h.Sum(nil), c.sig) {
		return errChunkSignature
	}
	var signed []byte
	trailerSig := ""
	for n := 0; ; n++ {
		l, err := c.line()
		if err == io.ErrUnexpectedEOF && n > 0 {
			break // a client that sends no final CRLF after its trailers
		}
		if err != nil {
			return err
		}
		if l == "" {
			break
		}
		if n >= 16 {
			return fmt.Errorf("%w: too many trailers", errChunked)
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("%w: trailer %q", errChunked, l)
		}
		if strings.EqualFold(strings.TrimSpace(name), "x-amz-trailer-signature") {
			trailerSig = strings.TrimSpace(value)
			continue
		}
		signed = append(signed, l+"\n"...)
		c.trailers.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if c.sigs != nil && c.signedTrailer && (trailerSig == "" || !c.sigs.Trailer(signed, trailerSig)) {
		return errChunkSignature
	}
	c.done = true
	return nil
}

// body is a request's payload, decoded, with what it must be checked
// against once read: Content-MD5, X-Amz-Content-Sha256's hash, a checksum
// in a header or a trailer.
type body struct {
	r       io.Reader
	chunked *chunkedReader
	md5     hash.Hash
	sha256  hash.Hash // when X-Amz-Content-Sha256 is a hash
	wantSHA string
	wantMD5 string // base64, from Content-MD5
	alg     string // the checksum algorithm, "" if none
	sum     hash.Hash
	wantSum string // from a header, or "" to take the trailer's
	implied bool   // no checksum was given: alg is S3's default, CRC64NVME
	size    int64  // the decoded length the client declared, -1 if none
	read    int64
	limit   int64
}

// openBody prepares r's payload for reading, refusing what is malformed
// before a byte is read. limit bounds the decoded size (EntityTooLarge).
func openBody(r *http.Request, limit int64) (*body, *awsproto.Error) {
	b := &body{r: r.Body, md5: md5.New(), size: r.ContentLength, limit: limit}
	if r.Body == nil {
		b.r = http.NoBody
	}
	mode := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case mode == "" || mode == unsignedPayload:
	case mode == streamingUnsignedTrailer || mode == streamingSigned || mode == streamingSignedTrailer:
		dl := r.Header.Get("X-Amz-Decoded-Content-Length")
		n, err := strconv.ParseInt(dl, 10, 64)
		if err != nil || n < 0 {
			return nil, awsproto.Errorf(http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header (x-amz-decoded-content-length for an aws-chunked body).")
		}
		b.size = n
		sigs, _ := r.Context().Value(chunkSigsKey{}).(ChunkSignatures)
		if mode == streamingUnsignedTrailer {
			sigs = nil
		}
		b.chunked = newChunkedReader(b.r, sigs, mode == streamingSignedTrailer)
		b.r = b.chunked
	default:
		if len(mode) != 64 {
			return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a valid sha256 value.")
		}
		if _, err := hex.DecodeString(mode); err != nil {
			return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a valid sha256 value.")
		}
		b.sha256, b.wantSHA = sha256.New(), strings.ToLower(mode)
	}
	if b.size > limit {
		return nil, awsproto.Errorf(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size (%d bytes here).", limit)
	}
	if m := r.Header.Get("Content-MD5"); m != "" {
		if raw, err := base64.StdEncoding.DecodeString(m); err != nil || len(raw) != md5.Size {
			return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified was invalid.")
		}
		b.wantMD5 = m
	}
	// The checksum: named by a header carrying it, by the trailer the
	// request announces, or by x-amz-sdk-checksum-algorithm.
	for name := range r.Header {
		alg, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-checksum-")
		if _, known := algorithms[strings.ToUpper(alg)]; ok && !known && alg != "mode" && alg != "algorithm" && alg != "type" {
			return nil, unsupportedAlgorithm()
		}
	}
	for alg := range algorithms {
		if v := r.Header.Get(checksumHeader(alg)); v != "" {
			if b.alg != "" {
				return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
			}
			b.alg, b.wantSum = alg, v
		}
	}
	if t := r.Header.Get("X-Amz-Trailer"); t != "" {
		if b.chunked == nil {
			return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "x-amz-trailer is only valid with an aws-chunked body (x-amz-content-sha256: %s).", streamingUnsignedTrailer)
		}
		alg, ok := strings.CutPrefix(strings.ToLower(t), "x-amz-checksum-")
		alg = strings.ToUpper(alg)
		if _, known := algorithms[alg]; !ok || !known || b.alg != "" {
			return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "The value specified in the x-amz-trailer header is not supported")
		}
		b.alg = alg
	}
	if b.alg == "" {
		if a := strings.ToUpper(r.Header.Get("X-Amz-Sdk-Checksum-Algorithm")); a != "" {
			if _, ok := algorithms[a]; !ok {
				return nil, unsupportedAlgorithm()
			}
			b.alg = a
		}
	}
	if b.wantSum != "" && !validChecksum(b.alg, b.wantSum) {
		return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "Value for %s header is invalid.", checksumHeader(b.alg))
	}
	if b.alg == "" {
		// S3 gives every object a checksum: CRC64NVME when the client
		// sent none.
		b.alg, b.implied = "CRC64NVME", true
	}
	b.sum = algorithms[b.alg]()
	return b, nil
}

// validChecksum reports whether v is a base64 checksum of alg's size.
func validChecksum(alg, v string) bool {
	raw, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(raw) == algorithms[alg]().Size()
}

// errTooLarge is the error of a body over its limit.
var errTooLarge = errors.New("s3: the body is over the size limit")

func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += int64(n)
	if b.read > b.limit {
		return n, errTooLarge
	}
	b.md5.Write(p[:n])
	if b.sha256 != nil {
		b.sha256.Write(p[:n])
	}
	if b.sum != nil {
		b.sum.Write(p[:n])
	}
	return n, err
}

// check verifies what was read against what the request declared, once
// the body has been read to its end.
func (b *body) check() *awsproto.Error {
	if b.size >= 0 && b.read != b.size {
		return awsproto.Errorf(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header (%d declared, %d sent).", b.size, b.read)
	}
	if b.sha256 != nil && hex.EncodeToString(b.sha256.Sum(nil)) != b.wantSHA {
		return awsproto.Errorf(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	if b.wantMD5 != "" && base64.StdEncoding.EncodeToString(b.md5.Sum(nil)) != b.wantMD5 {
		return awsproto.Errorf(http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	if b.sum == nil {
		return nil
	}
	want := b.wantSum
	if b.chunked != nil && want == "" && !b.implied {
		want = b.chunked.trailers.Get(checksumHeader(b.alg))
		if want == "" {
			return awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "The request announced the trailer %s but did not send it.", checksumHeader(b.alg))
		}
		if !validChecksum(b.alg, want) {
			return awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "Value for %s trailing header is invalid.", checksumHeader(b.alg))
		}
	}
	if got := b.checksum(); want != "" && got != want {
		return awsproto.Errorf(http.StatusBadRequest, "BadDigest", "The %s you specified did not match the calculated checksum.", b.alg)
	}
	return nil
}

// checksum is the base64 checksum of what was read, "" without an
// algorithm.
func (b *body) checksum() string {
	if b.sum == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b.sum.Sum(nil))
}

// etag is the quoted hex MD5 of what was read.
func (b *body) etag() string { return `"` + hex.EncodeToString(b.md5.Sum(nil)) + `"` }

// readError is the answer to a body that could not be read.
func readError(err error, limit int64) *awsproto.Error {
	switch {
	case errors.Is(err, errTooLarge):
		return awsproto.Errorf(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size (%d bytes here).", limit)
	case errors.Is(err, errChunkSignature):
		return awsproto.Errorf(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method. (%v)", err)
	case errors.Is(err, errChunked):
		return awsproto.Errorf(http.StatusBadRequest, "InvalidChunkSizeError", "%v", err)
	case errors.Is(err, errMemoryFull):
		return awsproto.Errorf(http.StatusInsufficientStorage, "InsufficientStorage", "%v", err)
	}
	return awsproto.Errorf(http.StatusBadRequest, "IncompleteBody", "The request body cannot be read: %v", err)
}

// compositeChecksum is the checksum of a multipart object as S3 computes
// it for the COMPOSITE type: the checksum of the parts' binary checksums
// concatenated, then "-" and the number of parts.
func compositeChecksum(alg string, parts []string) (string, error) {
	h := algorithms[alg]()
	for _, p := range parts {
		raw, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			return "", err
		}
		h.Write(raw)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)), nil
}

// multipartETag is a multipart object's ETag: the MD5 of the parts' binary
// MD5s concatenated, then "-" and the number of parts.
func multipartETag(partETags []string) string {
	h := md5.New()
	for _, e := range partETags {
		raw, _ := hex.DecodeString(strings.Trim(e, `"`))
		h.Write(raw)
	}
	return `"` + hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(partETags)) + `"`
}

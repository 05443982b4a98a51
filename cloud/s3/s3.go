// Package s3 is the embedded cloud's S3: buckets (create, head, list,
// delete, location), objects (put, multipart upload, get with ranges,
// head, list v2, delete), ETags and checksums as AWS computes them, over
// path-style and virtual-hosted-style addresses, for unmodified clients
// (the SDKs, aws s3 cp and ls).
//
// Object bytes are kept apart from the metadata, so that large objects
// never sit in the Go heap when there is a data directory: there they are
// files named by their SHA-256 under <data dir>/s3 (written, fsynced and
// renamed into place before the journal records the object that names
// them), and the metadata (buckets, objects' keys, sizes, ETags, checksums,
// headers) goes through the cloud's shared journal like every other
// service's state, multipart uploads in progress and their parts included.
// In memory, bytes are kept in memory under a ceiling
// (Options.MaxMemoryBytes), as SQS bounds its queues.
//
// Requests are streamed: a body is read once, straight into storage,
// checked as it goes (Content-MD5, X-Amz-Content-Sha256, x-amz-checksum-*,
// aws-chunked trailers) and refused before anything is recorded if a check
// fails.
package s3

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
)

const (
	// MaxObjectBytes is the largest object a single PUT (or one part)
	// stores: AWS's 5 GiB.
	MaxObjectBytes = 5 << 30
	// DefaultMaxMemoryBytes is the default ceiling on object bytes held in
	// memory without a data directory.
	DefaultMaxMemoryBytes = 256 << 20
	// MaxBuckets is the most buckets an account has: AWS's default quota.
	MaxBuckets = 10000
	// maxKeyBytes is AWS's limit on a key's length in UTF-8.
	maxKeyBytes = 1024
	// minPartBytes is the least size of a part but the last.
	minPartBytes  = 5 << 20
	maxPartNumber = 10000
	xmlns         = "http://s3.amazonaws.com/doc/2006-03-01/"
)

// Options configure a Service.
type Options struct {
	// Env holds the region and account. Defaults as awsenv's.
	Env awsenv.Env
	// Clock stamps objects. Default the machine's clock.
	Clock clock.Clock
	// DB and Journal make the service durable; Dir then holds the object
	// bytes (required with DB). All nil/empty: in memory.
	DB      *bbolt.DB
	Journal *journal.Journal
	Dir     string
	// MaxMemoryBytes bounds the object bytes held in memory when there is
	// no data directory. Default DefaultMaxMemoryBytes.
	MaxMemoryBytes int64
}

// Service is S3.
type Service struct {
	env     awsenv.Env
	clock   clock.Clock
	j       *journal.Journal
	blobs   blobs
	mu      sync.Mutex
	buckets map[string]*bucket
	uploads map[string]*upload
}

type bucket struct {
	name    string
	created time.Time
	objects map[string]*object
}

type object struct {
	key          string
	blob         string
	size         int64
	etag         string // quoted
	modified     time.Time
	contentType  string
	meta         map[string]string // x-amz-meta-* names (lower case) → values
	checksumAlg  string
	checksum     string // base64, "-N" for a composite one
	checksumType string // FULL_OBJECT or COMPOSITE
}

// New returns the service, loading its state from Options.DB when given.
func New(o Options) (*Service, error) {
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.MaxMemoryBytes == 0 {
		o.MaxMemoryBytes = DefaultMaxMemoryBytes
	}
	if o.MaxMemoryBytes < 0 {
		return nil, fmt.Errorf("s3: MaxMemoryBytes %d is negative", o.MaxMemoryBytes)
	}
	s := &Service{env: o.Env.WithDefaults(), clock: o.Clock, j: o.Journal, buckets: map[string]*bucket{}, uploads: map[string]*upload{}}
	if o.DB == nil {
		s.blobs = newMemBlobs(o.MaxMemoryBytes)
		return s, nil
	}
	if o.Dir == "" || o.Journal == nil {
		return nil, errors.New("s3: a data file needs a journal and a directory for the object bytes")
	}
	fb, err := newFileBlobs(filepath.Clean(o.Dir))
	if err != nil {
		return nil, err
	}
	s.blobs = fb
	if err := s.load(o.DB); err != nil {
		return nil, err
	}
	return s, fb.sweep()
}

// Name is the service's name in a credential scope.
func (s *Service) Name() string { return "s3" }

// TargetPrefix is empty: S3 speaks REST.
func (s *Service) TargetPrefix() string { return "" }

// Actions is empty: S3 has no Query actions.
func (s *Service) Actions() []string { return nil }

// Operations are the operations the edge counts calls of.
func (s *Service) Operations() []string {
	return []string{"ListBuckets", "CreateBucket", "HeadBucket", "DeleteBucket", "GetBucketLocation", "ListObjectsV2", "ListObjects",
		"PutObject", "GetObject", "HeadObject", "DeleteObject", "DeleteObjects", "CopyObject",
		"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts"}
}

// Address is where a request points: its bucket (or "" for the service)
// and key, from a virtual-hosted-style host (BUCKET.localhost,
// BUCKET.s3.localhost) or a path-style path.
func Address(r *http.Request) (bucketName, key string) {
	path := r.URL.EscapedPath()
	raw, err := url.PathUnescape(path)
	if err != nil {
		raw = r.URL.Path
	}
	if b := VirtualHostBucket(r.Host); b != "" {
		return b, strings.TrimPrefix(raw, "/")
	}
	bucketName, key, _ = strings.Cut(strings.TrimPrefix(raw, "/"), "/")
	return bucketName, key
}

// VirtualHostBucket returns the bucket a virtual-hosted-style Host names
// (BUCKET.localhost or BUCKET.s3.localhost, any port), or "".
func VirtualHostBucket(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	for _, suffix := range []string{".s3.localhost", ".localhost"} {
		if b, ok := strings.CutSuffix(host, suffix); ok && b != "" && b != "s3" {
			return b
		}
	}
	return ""
}

// Operation names the operation of r, for the edge's counts.
func Operation(r *http.Request) string {
	b, k := Address(r)
	q := r.URL.Query()
	switch {
	case b == "":
		return "ListBuckets"
	case k == "":
		switch r.Method {
		case http.MethodPut:
			return "CreateBucket"
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodDelete:
			return "DeleteBucket"
		case http.MethodPost:
			if q.Has("delete") {
				return "DeleteObjects"
			}
		case http.MethodGet:
			switch {
			case q.Has("location"):
				return "GetBucketLocation"
			case q.Get("list-type") == "2":
				return "ListObjectsV2"
			case len(q) == 0 || q.Has("prefix") || q.Has("delimiter") || q.Has("marker") || q.Has("max-keys") || q.Has("encoding-type"):
				return "ListObjects"
			}
		}
	default:
		switch r.Method {
		case http.MethodPut:
			switch {
			case q.Has("partNumber") && q.Has("uploadId"):
				return "UploadPart"
			case r.Header.Get("X-Amz-Copy-Source") != "":
				return "CopyObject"
			case len(q) == 0 || onlyIgnorable(q):
				return "PutObject"
			}
		case http.MethodGet:
			if q.Has("uploadId") {
				return "ListParts"
			}
			if !hasSubresource(q) {
				return "GetObject"
			}
		case http.MethodHead:
			return "HeadObject"
		case http.MethodDelete:
			if q.Has("uploadId") {
				return "AbortMultipartUpload"
			}
			return "DeleteObject"
		case http.MethodPost:
			if q.Has("uploads") {
				return "CreateMultipartUpload"
			}
			if q.Has("uploadId") {
				return "CompleteMultipartUpload"
			}
		}
	}
	return ""
}

// onlyIgnorable reports whether q holds only parameters a PUT of an object
// may carry without naming a subresource (the SDK's x-id).
func onlyIgnorable(q url.Values) bool {
	for k := range q {
		if k != "x-id" {
			return false
		}
	}
	return true
}

// hasSubresource reports whether a GET names a subresource (?acl, ?tagging,
// …) beyond the object's bytes and response overrides.
func hasSubresource(q url.Values) bool {
	for k := range q {
		if k == "x-id" || k == "partNumber" || k == "versionId" || strings.HasPrefix(k, "response-") || strings.HasPrefix(k, "X-Amz-") {
			continue
		}
		return true
	}
	return false
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amz-request-id", strings.ToUpper(strings.ReplaceAll(awsproto.NewRequestID(), "-", ""))[:16])
	w.Header().Set("x-amz-id-2", awsproto.NewRequestID())
	b, k := Address(r)
	var err *awsproto.Error
	switch op := Operation(r); op {
	case "ListBuckets":
		if r.Method != http.MethodGet {
			err = notImplemented(r)
			break
		}
		err = s.listBuckets(w, r)
	case "CreateBucket":
		err = s.createBucket(w, r, b)
	case "HeadBucket":
		err = s.headBucket(w, b)
	case "DeleteBucket":
		err = s.deleteBucket(w, b)
	case "GetBucketLocation":
		err = s.bucketLocation(w, b)
	case "ListObjectsV2":
		err = s.listObjects(w, r, b, true)
	case "ListObjects":
		err = s.listObjects(w, r, b, false)
	case "DeleteObjects":
		err = s.deleteObjects(w, r, b)
	case "PutObject":
		err = s.putObject(w, r, b, k)
	case "GetObject", "HeadObject":
		err = s.getObject(w, r, b, k, op == "HeadObject")
	case "DeleteObject":
		err = s.deleteObject(w, b, k)
	case "CopyObject":
		err = s.copyObject(w, r, b, k)
	case "CreateMultipartUpload":
		err = s.createUpload(w, r, b, k)
	case "UploadPart":
		err = s.uploadPart(w, r, b, k)
	case "CompleteMultipartUpload":
		err = s.completeUpload(w, r, b, k)
	case "AbortMultipartUpload":
		err = s.abortUpload(w, r, b, k)
	case "ListParts":
		err = s.listParts(w, r, b, k)
	default:
		err = notImplemented(r)
	}
	if err != nil {
		WriteError(w, r, err)
	}
}

func notImplemented(r *http.Request) *awsproto.Error {
	return awsproto.Errorf(http.StatusNotImplemented, "NotImplemented", "A header or query you provided implies functionality that is not implemented here (%s %s).", r.Method, r.URL.Path)
}

// errorDoc is S3's error document.
type errorDoc struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	BucketName string   `xml:"BucketName,omitempty"`
	Key        string   `xml:"Key,omitempty"`
	RequestID  string   `xml:"RequestId"`
}

// WriteError writes err as S3 does: an XML Error document, or for a HEAD
// only the status (a HEAD response has no body).
func WriteError(w http.ResponseWriter, r *http.Request, err *awsproto.Error) {
	if r.Method == http.MethodHead {
		w.WriteHeader(err.Status)
		return
	}
	doc := errorDoc{Code: err.Code, Message: err.Message, RequestID: w.Header().Get("x-amz-request-id")}
	if doc.RequestID == "" {
		doc.RequestID = awsproto.NewRequestID()
	}
	switch err.Code {
	case "NoSuchBucket", "BucketNotEmpty", "BucketAlreadyOwnedByYou", "InvalidBucketName":
		doc.BucketName, _ = Address(r)
	case "NoSuchKey":
		_, doc.Key = Address(r)
	}
	writeXML(w, err.Status, doc)
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte("<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>")
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// bucketNameRE holds a name's characters; its length (3 to 63) is checked
// apart, since a counted repetition ({1,61}) compiles, at every start, to a
// program as long as its count.
var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]+[a-z0-9]$`)
var ipLike = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)

// validBucketName checks AWS's rules for general purpose bucket names.
func validBucketName(name string) *awsproto.Error {
	bad := len(name) > 63 || !bucketNameRE.MatchString(name) || strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") ||
		ipLike.MatchString(name) || strings.HasPrefix(name, "xn--") || strings.HasPrefix(name, "sthree-") || strings.HasPrefix(name, "amzn-s3-demo-") ||
		strings.HasSuffix(name, "-s3alias") || strings.HasSuffix(name, "--ol-s3") || strings.HasSuffix(name, ".mrap") || strings.HasSuffix(name, "--x-s3") || strings.HasSuffix(name, "--table-s3")
	if bad {
		return awsproto.Errorf(http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid.")
	}
	return nil
}

func noSuchBucket() *awsproto.Error {
	return awsproto.Errorf(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
}

func noSuchKey() *awsproto.Error {
	return awsproto.Errorf(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
}

// writable refuses a change while the journal cannot take it.
func (s *Service) writable() *awsproto.Error {
	if s.j == nil {
		return nil
	}
	if err := s.j.Writable(); err != nil {
		return awsproto.NotDurable("S3", err, errors.Is(err, journal.ErrStalled))
	}
	return nil
}

// commit appends ops (under s.mu, so the journal's order is memory's),
// unlocks and waits for them to be durable.
func (s *Service) commitUnlock(ops ...journal.Op) *awsproto.Error {
	if s.j == nil || len(ops) == 0 {
		s.mu.Unlock()
		return nil
	}
	t := s.j.Append(ops...)
	s.mu.Unlock()
	if err := t.Wait(); err != nil {
		return awsproto.NotDurable("S3", err, errors.Is(err, journal.ErrStalled))
	}
	return nil
}

func (s *Service) bucketLocked(name string) (*bucket, *awsproto.Error) {
	b, ok := s.buckets[name]
	if !ok {
		if err := validBucketName(name); err != nil {
			return nil, err
		}
		return nil, noSuchBucket()
	}
	return b, nil
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ErrNoSuchBucket and ErrNoSuchKey are Open's errors for what does not
// exist.
var (
	ErrNoSuchBucket = errors.New("s3: no such bucket")
	ErrNoSuchKey    = errors.New("s3: no such key")
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size        int64
	ETag        string // quoted, as S3 sends it
	ContentType string
	Modified    time.Time
}

// Open returns an object's bytes, for the cloud's own use in-process (the
// function host reading a function's zip from Code.S3Bucket/S3Key) without
// a round trip through the API. The caller closes it.
func (s *Service) Open(bucketName, key string) (io.ReadSeekCloser, ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[bucketName]
	if !ok {
		return nil, ObjectInfo{}, fmt.Errorf("%w: %s", ErrNoSuchBucket, bucketName)
	}
	o, ok := b.objects[key]
	if !ok {
		return nil, ObjectInfo{}, fmt.Errorf("%w: s3://%s/%s", ErrNoSuchKey, bucketName, key)
	}
	f, err := s.blobs.open(o.blob)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	return f, ObjectInfo{Size: o.size, ETag: o.etag, ContentType: o.contentType, Modified: o.modified}, nil
}

package s3

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/journal"
)

const timeFormat = "2006-01-02T15:04:05.000Z"

// maxSmallBody bounds the XML bodies of requests that are not object bytes.
const maxSmallBody = 1 << 20

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

func (s *Service) owner() owner { return owner{ID: s.env.AccountID, DisplayName: "orderflow"} }

func (s *Service) listBuckets(w http.ResponseWriter, r *http.Request) *awsproto.Error {
	type bucketDoc struct {
		Name         string `xml:"Name"`
		CreationDate string `xml:"CreationDate"`
		BucketRegion string `xml:"BucketRegion"`
	}
	doc := struct {
		XMLName xml.Name    `xml:"ListAllMyBucketsResult"`
		Xmlns   string      `xml:"xmlns,attr"`
		Owner   owner       `xml:"Owner"`
		Buckets []bucketDoc `xml:"Buckets>Bucket"`
		Prefix  string      `xml:"Prefix,omitempty"`
	}{Xmlns: xmlns, Owner: s.owner(), Prefix: r.URL.Query().Get("prefix")}
	s.mu.Lock()
	for _, name := range sortedKeys(s.buckets) {
		if !strings.HasPrefix(name, doc.Prefix) {
			continue
		}
		doc.Buckets = append(doc.Buckets, bucketDoc{name, s.buckets[name].created.UTC().Format(timeFormat), s.env.Region})
	}
	s.mu.Unlock()
	writeXML(w, http.StatusOK, doc)
	return nil
}

func (s *Service) createBucket(w http.ResponseWriter, r *http.Request, name string) *awsproto.Error {
	if err := validBucketName(name); err != nil {
		return err
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxSmallBody+1))
	if err != nil || len(raw) > maxSmallBody {
		return awsproto.Errorf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	var cfg struct {
		LocationConstraint string `xml:"LocationConstraint"`
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := xml.Unmarshal(raw, &cfg); err != nil {
			return awsproto.Errorf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
		}
	}
	region := s.env.Region
	switch {
	case cfg.LocationConstraint == "" && region != "us-east-1":
		return awsproto.Errorf(http.StatusBadRequest, "IllegalLocationConstraintException", "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.")
	case cfg.LocationConstraint == "us-east-1":
		// us-east-1 is the constraint left out, never written.
		return awsproto.Errorf(http.StatusBadRequest, "InvalidLocationConstraint", "The specified location-constraint is not valid")
	case cfg.LocationConstraint != "" && (cfg.LocationConstraint != region || region == "us-east-1"):
		return awsproto.Errorf(http.StatusBadRequest, "IllegalLocationConstraintException", "The %s location constraint is incompatible for the region specific endpoint this request was sent to.", cfg.LocationConstraint)
	}
	if e := s.writable(); e != nil {
		return e
	}
	s.mu.Lock()
	if _, ok := s.buckets[name]; ok {
		s.mu.Unlock()
		if region == "us-east-1" {
			// In us-east-1 (only) AWS answers 200 to the owner re-creating
			// its bucket, for legacy clients.
			w.Header().Set("Location", "/"+name)
			w.WriteHeader(http.StatusOK)
			return nil
		}
		return awsproto.Errorf(http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
	}
	if len(s.buckets) >= MaxBuckets {
		s.mu.Unlock()
		return awsproto.Errorf(http.StatusBadRequest, "TooManyBuckets", "You have attempted to create more buckets than allowed (%d).", MaxBuckets)
	}
	b := &bucket{name: name, created: s.clock.Now().UTC().Truncate(time.Millisecond), objects: map[string]*object{}}
	s.buckets[name] = b
	if e := s.commitUnlock(s.bucketRecord(b)); e != nil {
		return e
	}
	w.Header().Set("Location", "/"+name)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) headBucket(w http.ResponseWriter, name string) *awsproto.Error {
	s.mu.Lock()
	_, ok := s.buckets[name]
	s.mu.Unlock()
	if !ok {
		return noSuchBucket()
	}
	w.Header().Set("x-amz-bucket-region", s.env.Region)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) bucketLocation(w http.ResponseWriter, name string) *awsproto.Error {
	s.mu.Lock()
	_, err := s.bucketLocked(name)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	loc := s.env.Region
	if loc == "us-east-1" {
		loc = "" // as AWS answers for us-east-1
	}
	writeXML(w, http.StatusOK, struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Xmlns   string   `xml:"xmlns,attr"`
		Value   string   `xml:",chardata"`
	}{Xmlns: xmlns, Value: loc})
	return nil
}

func (s *Service) deleteBucket(w http.ResponseWriter, name string) *awsproto.Error {
	if e := s.writable(); e != nil {
		return e
	}
	s.mu.Lock()
	b, err := s.bucketLocked(name)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if len(b.objects) > 0 {
		s.mu.Unlock()
		return awsproto.Errorf(http.StatusConflict, "BucketNotEmpty", "The bucket you tried to delete is not empty")
	}
	delete(s.buckets, name)
	var aborted []*upload
	for id, u := range s.uploads {
		if u.bucket == name {
			delete(s.uploads, id)
			aborted = append(aborted, u)
		}
	}
	ops := []journal.Op{s.deleteBucketRecord(name)}
	for _, u := range aborted {
		ops = append(ops, s.uploadRecordsGone(u)...)
	}
	if e := s.commitUnlock(ops...); e != nil {
		return e
	}
	for _, u := range aborted {
		u.release(s.blobs)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkKey applies AWS's rules on keys.
func checkKey(key string) *awsproto.Error {
	if len(key) > maxKeyBytes {
		return awsproto.Errorf(http.StatusBadRequest, "KeyTooLongError", "Your key is too long")
	}
	if !utf8.ValidString(key) {
		return awsproto.Errorf(http.StatusBadRequest, "InvalidArgument", "Object key is not valid UTF-8.")
	}
	return nil
}

// headers are the object headers a PUT or CreateMultipartUpload sets.
func objectHeaders(r *http.Request) (contentType string, meta map[string]string, err *awsproto.Error) {
	contentType = r.Header.Get("Content-Type")
	if contentType == "" {
		contentType = "binary/octet-stream"
	}
	size := 0
	for name, vals := range r.Header {
		lower := strings.ToLower(name)
		if m, ok := strings.CutPrefix(lower, "x-amz-meta-"); ok {
			if meta == nil {
				meta = map[string]string{}
			}
			meta[m] = strings.Join(vals, ",")
			size += len(m) + len(meta[m])
		}
	}
	if size > 2048 {
		return "", nil, awsproto.Errorf(http.StatusBadRequest, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
	}
	return contentType, meta, nil
}

// receive streams r's body into a new blob, checking it; on success the
// caller owns one reference to the blob.
func (s *Service) receive(r *http.Request, limit int64) (string, *body, *awsproto.Error) {
	if r.Header.Get("Content-Length") == "" && r.ContentLength < 0 && len(r.TransferEncoding) == 0 && r.Header.Get("X-Amz-Decoded-Content-Length") == "" {
		return "", nil, awsproto.Errorf(http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	}
	b, e := openBody(r, limit)
	if e != nil {
		return "", nil, e
	}
	w, err := s.blobs.create()
	if err != nil {
		return "", nil, awsproto.Internal(err)
	}
	if _, err := io.Copy(w, b); err != nil {
		w.abort()
		return "", nil, readError(err, limit)
	}
	if e := b.check(); e != nil {
		w.abort()
		return "", nil, e
	}
	id, err := w.commit()
	if err != nil {
		return "", nil, awsproto.Internal(err)
	}
	return id, b, nil
}

func (s *Service) putObject(w http.ResponseWriter, r *http.Request, bucketName, key string) *awsproto.Error {
	if e := checkKey(key); e != nil {
		return e
	}
	s.mu.Lock()
	_, e := s.bucketLocked(bucketName)
	s.mu.Unlock()
	if e != nil {
		return e
	}
	contentType, meta, e := objectHeaders(r)
	if e != nil {
		return e
	}
	if e := s.writable(); e != nil {
		return e
	}
	id, body, e := s.receive(r, MaxObjectBytes)
	if e != nil {
		return e
	}
	o := &object{key: key, blob: id, size: body.read, etag: body.etag(), modified: s.clock.Now().UTC().Truncate(time.Second),
		contentType: contentType, meta: meta, checksumAlg: body.alg, checksum: body.checksum()}
	if o.checksumAlg != "" {
		o.checksumType = "FULL_OBJECT"
	}
	if e := s.store(bucketName, o); e != nil {
		return e
	}
	w.Header().Set("ETag", o.etag)
	if o.checksumAlg != "" {
		w.Header().Set(checksumHeader(o.checksumAlg), o.checksum)
		w.Header().Set("x-amz-checksum-type", o.checksumType)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// store records o in its bucket, replacing what the key held; o's blob
// reference passes to the bucket, or is released if the bucket is gone.
// The extra ops are committed with it (a completed upload's records going).
func (s *Service) store(bucketName string, o *object, extra ...journal.Op) *awsproto.Error {
	s.mu.Lock()
	b, e := s.bucketLocked(bucketName)
	if e != nil {
		if s.j != nil && len(extra) > 0 {
			s.j.Append(extra...)
		}
		s.mu.Unlock()
		s.blobs.release(o.blob)
		return e
	}
	old := b.objects[o.key]
	b.objects[o.key] = o
	if e := s.commitUnlock(append([]journal.Op{s.objectRecord(bucketName, o)}, extra...)...); e != nil {
		return e
	}
	if old != nil {
		s.blobs.release(old.blob)
	}
	return nil
}

func (s *Service) deleteObject(w http.ResponseWriter, bucketName, key string) *awsproto.Error {
	if e := s.writable(); e != nil {
		return e
	}
	s.mu.Lock()
	b, e := s.bucketLocked(bucketName)
	if e != nil {
		s.mu.Unlock()
		return e
	}
	old, ok := b.objects[key]
	if !ok {
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	delete(b.objects, key)
	if e := s.commitUnlock(s.deleteObjectRecord(bucketName, key)); e != nil {
		return e
	}
	s.blobs.release(old.blob)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) deleteObjects(w http.ResponseWriter, r *http.Request, bucketName string) *awsproto.Error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxSmallBody+1))
	if err != nil || len(raw) > maxSmallBody {
		return awsproto.Errorf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	var req struct {
		Quiet   bool `xml:"Quiet"`
		Objects []struct {
			Key string `xml:"Key"`
		} `xml:"Object"`
	}
	if err := xml.Unmarshal(raw, &req); err != nil || len(req.Objects) == 0 || len(req.Objects) > 1000 {
		return awsproto.Errorf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	if e := s.writable(); e != nil {
		return e
	}
	type deleted struct {
		Key string `xml:"Key"`
	}
	doc := struct {
		XMLName xml.Name  `xml:"DeleteResult"`
		Xmlns   string    `xml:"xmlns,attr"`
		Deleted []deleted `xml:"Deleted"`
	}{Xmlns: xmlns}
	s.mu.Lock()
	b, e := s.bucketLocked(bucketName)
	if e != nil {
		s.mu.Unlock()
		return e
	}
	var ops []journal.Op
	var released []string
	for _, o := range req.Objects {
		if old, ok := b.objects[o.Key]; ok {
			delete(b.objects, o.Key)
			released = append(released, old.blob)
			ops = append(ops, s.deleteObjectRecord(bucketName, o.Key))
		}
		if !req.Quiet {
			doc.Deleted = append(doc.Deleted, deleted{o.Key})
		}
	}
	if e := s.commitUnlock(ops...); e != nil {
		return e
	}
	for _, id := range released {
		s.blobs.release(id)
	}
	writeXML(w, http.StatusOK, doc)
	return nil
}

func httpTime(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func (s *Service) getObject(w http.ResponseWriter, r *http.Request, bucketName, key string, head bool) *awsproto.Error {
	s.mu.Lock()
	b, e := s.bucketLocked(bucketName)
	if e != nil {
		s.mu.Unlock()
		return e
	}
	o, ok := b.objects[key]
	if !ok {
		s.mu.Unlock()
		return noSuchKey()
	}
	f, err := s.blobs.open(o.blob)
	s.mu.Unlock()
	if err != nil {
		return awsproto.Internal(err)
	}
	defer f.Close()
	h := w.Header()
	h.Set("ETag", o.etag)
	h.Set("Last-Modified", httpTime(o.modified))
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", o.contentType)
	for k, v := range o.meta {
		h["x-amz-meta-"+k] = []string{v}
	}
	if o.checksumType == "COMPOSITE" {
		h.Set("x-amz-mp-parts-count", strings.Trim(o.etag[strings.LastIndex(o.etag, "-")+1:], `"`))
	}
	q := r.URL.Query()
	for param, header := range map[string]string{"response-content-type": "Content-Type", "response-content-disposition": "Content-Disposition",
		"response-content-encoding": "Content-Encoding", "response-cache-control": "Cache-Control", "response-expires": "Expires", "response-content-language": "Content-Language"} {
		if v := q.Get(param); v != "" {
			h.Set(header, v)
		}
	}
	start, end, partial := int64(0), o.size-1, false
	if rg := r.Header.Get("Range"); rg != "" {
		var ok bool
		start, end, ok = parseRange(rg, o.size)
		if !ok {
			if o.size == 0 || !strings.HasPrefix(rg, "bytes=") {
				start, end = 0, o.size-1 // AWS ignores a range it cannot read
			} else {
				h.Del("Content-Type")
				return awsproto.Errorf(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable")
			}
		} else {
			partial = true
		}
	}
	if strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") && o.checksumAlg != "" && !partial {
		h.Set(checksumHeader(o.checksumAlg), o.checksum)
		h.Set("x-amz-checksum-type", o.checksumType)
	}
	n := end - start + 1
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, o.size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if head || n <= 0 {
		return nil
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil
	}
	io.CopyN(w, f, n)
	return nil
}

// parseRange reads a single "bytes=a-b", "bytes=a-" or "bytes=-n" range
// over size bytes.
func parseRange(rg string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(rg, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, bs, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	if a == "" {
		n, err := strconv.ParseInt(bs, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, false
		}
		return max(0, size-n), size - 1, true
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size {
		return 0, 0, false
	}
	end = size - 1
	if bs != "" {
		e, err := strconv.ParseInt(bs, 10, 64)
		if err != nil || e < start {
			return 0, 0, false
		}
		end = min(e, size-1)
	}
	return start, end, true
}

// listObjects answers ListObjectsV2 (v2) and ListObjects (v1).
func (s *Service) listObjects(w http.ResponseWriter, r *http.Request, bucketName string, v2 bool) *awsproto.Error {
	q := r.URL.Query()
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	encode := q.Get("encoding-type")
	if encode != "" && encode != "url" {
		return awsproto.Errorf(http.StatusBadRequest, "InvalidArgument", "Invalid Encoding Method specified in Request")
	}
	maxKeys := 1000
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return awsproto.Errorf(http.StatusBadRequest, "InvalidArgument", "Provided max-keys not an integer or within integer range")
		}
		maxKeys = min(n, 1000)
	}
	after := q.Get("marker")
	token := q.Get("continuation-token")
	if v2 {
		after = q.Get("start-after")
		if token != "" {
			raw, err := base64.RawURLEncoding.DecodeString(token)
			if err != nil || !strings.HasPrefix(string(raw), "k:") {
				return awsproto.Errorf(http.StatusBadRequest, "InvalidArgument", "The continuation token provided is incorrect")
			}
			after = string(raw[2:])
		}
	}
	s.mu.Lock()
	b, e := s.bucketLocked(bucketName)
	if e != nil {
		s.mu.Unlock()
		return e
	}
	type content struct {
		Key          string `xml:"Key"`
		LastModified string `xml:"LastModified"`
		ETag         string `xml:"ETag"`
		ChecksumAlg  string `xml:"ChecksumAlgorithm,omitempty"`
		ChecksumType string `xml:"ChecksumType,omitempty"`
		Size         int64  `xml:"Size"`
		Owner        *owner `xml:"Owner,omitempty"`
		StorageClass string `xml:"StorageClass"`
	}
	type commonPrefix struct {
		Prefix string `xml:"Prefix"`
	}
	var contents []content
	var prefixes []commonPrefix
	truncated, last := false, ""
	enc := func(v string) string {
		if encode == "url" {
			return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
		}
		return v
	}
	seen := map[string]bool{}
	for _, k := range sortedKeys(b.objects) {
		if k <= after || !strings.HasPrefix(k, prefix) {
			continue
		}
		cp := ""
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				cp = k[:len(prefix)+i+len(delim)]
			}
		}
		if cp != "" && seen[cp] {
			continue
		}
		if len(contents)+len(prefixes) >= maxKeys {
			truncated = true
			break
		}
		if cp != "" {
			seen[cp] = true
			prefixes = append(prefixes, commonPrefix{enc(cp)})
			last = cp
			continue
		}
		o := b.objects[k]
		c := content{Key: enc(k), LastModified: o.modified.Format(timeFormat), ETag: o.etag, Size: o.size, StorageClass: "STANDARD"}
		if o.checksumAlg != "" {
			c.ChecksumAlg, c.ChecksumType = o.checksumAlg, o.checksumType
		}
		if !v2 || q.Get("fetch-owner") == "true" {
			own := s.owner()
			c.Owner = &own
		}
		contents = append(contents, c)
		last = k
	}
	s.mu.Unlock()
	if v2 {
		doc := struct {
			XMLName               xml.Name       `xml:"ListBucketResult"`
			Xmlns                 string         `xml:"xmlns,attr"`
			Name                  string         `xml:"Name"`
			Prefix                string         `xml:"Prefix"`
			Delimiter             string         `xml:"Delimiter,omitempty"`
			MaxKeys               int            `xml:"MaxKeys"`
			EncodingType          string         `xml:"EncodingType,omitempty"`
			KeyCount              int            `xml:"KeyCount"`
			IsTruncated           bool           `xml:"IsTruncated"`
			ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
			NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
			StartAfter            string         `xml:"StartAfter,omitempty"`
			Contents              []content      `xml:"Contents"`
			CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
		}{Xmlns: xmlns, Name: bucketName, Prefix: enc(prefix), Delimiter: enc(delim), MaxKeys: maxKeys, EncodingType: encode,
			KeyCount: len(contents) + len(prefixes), IsTruncated: truncated, ContinuationToken: token, StartAfter: enc(q.Get("start-after")),
			Contents: contents, CommonPrefixes: prefixes}
		if truncated {
			doc.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte("k:" + last))
		}
		writeXML(w, http.StatusOK, doc)
		return nil
	}
	doc := struct {
		XMLName        xml.Name       `xml:"ListBucketResult"`
		Xmlns          string         `xml:"xmlns,attr"`
		Name           string         `xml:"Name"`
		Prefix         string         `xml:"Prefix"`
		Marker         string         `xml:"Marker"`
		NextMarker     string         `xml:"NextMarker,omitempty"`
		MaxKeys        int            `xml:"MaxKeys"`
		Delimiter      string         `xml:"Delimiter,omitempty"`
		EncodingType   string         `xml:"EncodingType,omitempty"`
		IsTruncated    bool           `xml:"IsTruncated"`
		Contents       []content      `xml:"Contents"`
		CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
	}{Xmlns: xmlns, Name: bucketName, Prefix: enc(prefix), Marker: enc(q.Get("marker")), MaxKeys: maxKeys, Delimiter: enc(delim),
		EncodingType: encode, IsTruncated: truncated, Contents: contents, CommonPrefixes: prefixes}
	if truncated && delim != "" {
		doc.NextMarker = enc(last)
	}
	writeXML(w, http.StatusOK, doc)
	return nil
}

// copyObject copies an object within the endpoint: the copy shares the
// source's bytes (content-addressed), with its metadata copied or, with
// x-amz-metadata-directive: REPLACE, the request's.
func (s *Service) copyObject(w http.ResponseWriter, r *http.Request, bucketName, key string) *awsproto.Error {
	if e := checkKey(key); e != nil {
		return e
	}
	src, err := url.PathUnescape(r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return awsproto.Errorf(http.StatusBadRequest, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	src, _, _ = strings.Cut(strings.TrimPrefix(src, "/"), "?versionId=")
	srcBucket, srcKey, ok := strings.Cut(src, "/")
	if !ok || srcBucket == "" || srcKey == "" {
		return awsproto.Errorf(http.StatusBadRequest, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	directive := strings.ToUpper(r.Header.Get("X-Amz-Metadata-Directive"))
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return awsproto.Errorf(http.StatusBadRequest, "InvalidArgument", "Unknown metadata directive.")
	}
	if e := s.writable(); e != nil {
		return e
	}
	s.mu.Lock()
	sb, e := s.bucketLocked(srcBucket)
	if e != nil {
		s.mu.Unlock()
		return e
	}
	so, ok := sb.objects[srcKey]
	if !ok {
		s.mu.Unlock()
		return noSuchKey()
	}
	if srcBucket == bucketName && srcKey == key && directive != "REPLACE" {
		s.mu.Unlock()
		return awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	o := *so
	o.key, o.modified = key, s.clock.Now().UTC().Truncate(time.Second)
	s.blobs.ref(o.blob) // the copy's reference, taken before the source can go
	s.mu.Unlock()
	if directive == "REPLACE" {
		ct, meta, e := objectHeaders(r)
		if e != nil {
			s.blobs.release(o.blob)
			return e
		}
		o.contentType, o.meta = ct, meta
	}
	if e := s.store(bucketName, &o); e != nil {
		return e
	}
	writeXML(w, http.StatusOK, struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		Xmlns        string   `xml:"xmlns,attr"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
	}{Xmlns: xmlns, LastModified: o.modified.Format(timeFormat), ETag: o.etag})
	return nil
}

package s3

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// maxUploads bounds the multipart uploads in progress at once: each holds
// memory until completed or aborted.
const maxUploads = 1000

// upload is a multipart upload in progress.
type upload struct {
	id, bucket, key string
	contentType     string
	meta            map[string]string
	checksumAlg     string
	checksumType    string
	initiated       time.Time
	parts           map[int]*part
}

type part struct {
	blob     string
	size     int64
	etag     string
	checksum string
	modified time.Time
}

// release drops the references the upload's parts hold.
func (u *upload) release(b blobs) {
	for _, p := range u.parts {
		b.release(p.blob)
	}
}

func (s *Service) uploadLocked(r *http.Request, bucketName, key string) (*upload, *awsproto.Error) {
	if _, e := s.bucketLocked(bucketName); e != nil {
		return nil, e
	}
	u, ok := s.uploads[r.URL.Query().Get("uploadId")]
	if !ok || u.bucket != bucketName || u.key != key {
		return nil, awsproto.Errorf(http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
	}
	return u, nil
}

func (s *Service) createUpload(w http.ResponseWriter, r *http.Request, bucketName, key string) *awsproto.Error {
	if e := checkKey(key); e != nil {
		return e
	}
	contentType, meta, e := objectHeaders(r)
	if e != nil {
		return e
	}
	alg := strings.ToUpper(r.Header.Get("X-Amz-Checksum-Algorithm"))
	if _, ok := algorithms[alg]; alg != "" && !ok {
		return unsupportedAlgorithm()
	}
	ctype := strings.ToUpper(r.Header.Get("X-Amz-Checksum-Type"))
	switch {
	case ctype == "" && alg == "CRC64NVME":
		ctype = "FULL_OBJECT"
	case ctype == "" && alg != "":
		ctype = "COMPOSITE"
	case ctype != "" && alg == "":
		return awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
	case ctype == "COMPOSITE" && alg == "CRC64NVME", ctype == "FULL_OBJECT" && (alg == "SHA1" || alg == "SHA256" || alg == "SHA512" || alg == "MD5"):
		return awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "The %s checksum type cannot be used with the %s checksum algorithm.", strings.ToLower(ctype), strings.ToLower(alg))
	case ctype != "" && ctype != "COMPOSITE" && ctype != "FULL_OBJECT":
		return awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
	}
	id := make([]byte, 48)
	rand.Read(id)
	u := &upload{id: base64.RawURLEncoding.EncodeToString(id), bucket: bucketName, key: key, contentType: contentType, meta: meta,
		checksumAlg: alg, checksumType: ctype, initiated: s.clock.Now().UTC(), parts: map[int]*part{}}
	s.mu.Lock()
	if _, e := s.bucketLocked(bucketName); e != nil {
		s.mu.Unlock()
		return e
	}
	if len(s.uploads) >= maxUploads {
		s.mu.Unlock()
		return awsproto.Errorf(http.StatusServiceUnavailable, "SlowDown", "%d multipart uploads are in progress, as many as this endpoint keeps: complete or abort some.", maxUploads)
	}
	if e := s.writable(); e != nil {
		s.mu.Unlock()
		return e
	}
	s.uploads[u.id] = u
	if e := s.commitUnlock(s.uploadRecord(u)); e != nil {
		return e
	}
	if alg != "" {
		w.Header().Set("x-amz-checksum-algorithm", alg)
		w.Header().Set("x-amz-checksum-type", ctype)
	}
	writeXML(w, http.StatusOK, struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		UploadID string   `xml:"UploadId"`
	}{Xmlns: xmlns, Bucket: bucketName, Key: key, UploadID: u.id})
	return nil
}

func (s *Service) uploadPart(w http.ResponseWriter, r *http.Request, bucketName, key string) *awsproto.Error {
	n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
	if err != nil || n < 1 || n > maxPartNumber {
		return awsproto.Errorf(http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and %d, inclusive", maxPartNumber)
	}
	s.mu.Lock()
	u, e := s.uploadLocked(r, bucketName, key)
	s.mu.Unlock()
	if e != nil {
		return e
	}
	id, body, e := s.receive(r, MaxObjectBytes)
	if e != nil {
		return e
	}
	if u.checksumAlg != "" && !body.implied && body.alg != u.checksumAlg {
		s.blobs.release(id)
		return awsproto.Errorf(http.StatusBadRequest, "InvalidRequest", "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s", strings.ToLower(u.checksumAlg), strings.ToLower(body.alg))
	}
	p := &part{blob: id, size: body.read, etag: body.etag(), checksum: body.checksum(), modified: s.clock.Now().UTC()}
	if u.checksumAlg != "" && body.alg != u.checksumAlg {
		// The part's checksum, computed here, for the object's.
		f, err := s.blobs.open(id)
		if err == nil {
			h := algorithms[u.checksumAlg]()
			io.Copy(h, f)
			f.Close()
			p.checksum = base64.StdEncoding.EncodeToString(h.Sum(nil))
		}
	}
	s.mu.Lock()
	if cur, ok := s.uploads[u.id]; !ok || cur != u {
		s.mu.Unlock()
		s.blobs.release(id)
		return awsproto.Errorf(http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
	}
	old := u.parts[n]
	u.parts[n] = p
	if e := s.commitUnlock(s.partRecord(u, n, p)); e != nil {
		return e
	}
	if old != nil {
		s.blobs.release(old.blob)
	}
	w.Header().Set("ETag", p.etag)
	if u.checksumAlg != "" {
		w.Header().Set(checksumHeader(u.checksumAlg), p.checksum)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) completeUpload(w http.ResponseWriter, r *http.Request, bucketName, key string) *awsproto.Error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 4*maxSmallBody+1))
	if err != nil || len(raw) > 4*maxSmallBody {
		return awsproto.Errorf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	var req struct {
		Parts []struct {
			PartNumber int    `xml:"PartNumber"`
			ETag       string `xml:"ETag"`
			CRC32      string `xml:"ChecksumCRC32"`
			CRC32C     string `xml:"ChecksumCRC32C"`
			CRC64NVME  string `xml:"ChecksumCRC64NVME"`
			SHA1       string `xml:"ChecksumSHA1"`
			SHA256     string `xml:"ChecksumSHA256"`
			SHA512     string `xml:"ChecksumSHA512"`
			MD5        string `xml:"ChecksumMD5"`
		} `xml:"Part"`
	}
	if err := xml.Unmarshal(raw, &req); err != nil || len(req.Parts) == 0 {
		return awsproto.Errorf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	if e := s.writable(); e != nil {
		return e
	}
	s.mu.Lock()
	u, e := s.uploadLocked(r, bucketName, key)
	if e != nil {
		s.mu.Unlock()
		return e
	}
	var parts []*part
	prev := 0
	for _, rp := range req.Parts {
		if rp.PartNumber <= prev {
			s.mu.Unlock()
			return awsproto.Errorf(http.StatusBadRequest, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")
		}
		prev = rp.PartNumber
		p, ok := u.parts[rp.PartNumber]
		if !ok || strings.Trim(rp.ETag, `"`) != strings.Trim(p.etag, `"`) {
			s.mu.Unlock()
			return awsproto.Errorf(http.StatusBadRequest, "InvalidPart", "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
		}
		if given := map[string]string{"CRC32": rp.CRC32, "CRC32C": rp.CRC32C, "CRC64NVME": rp.CRC64NVME, "SHA1": rp.SHA1, "SHA256": rp.SHA256, "SHA512": rp.SHA512, "MD5": rp.MD5}[u.checksumAlg]; given != "" && given != p.checksum {
			s.mu.Unlock()
			return awsproto.Errorf(http.StatusBadRequest, "InvalidPart", "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
		}
		parts = append(parts, p)
	}
	for i, p := range parts[:len(parts)-1] {
		if p.size < minPartBytes {
			s.mu.Unlock()
			return awsproto.Errorf(http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size (part %d is %d bytes; each part but the last must be at least 5 MiB)", req.Parts[i].PartNumber, p.size)
		}
	}
	// Taken out of the uploads now: a second completion or an abort finds
	// it gone while the parts are joined.
	delete(s.uploads, u.id)
	s.mu.Unlock()

	o, e := s.join(u, parts)
	if e != nil {
		s.forget(u)
		return e
	}
	// The object and the upload's end are one commit: after a crash
	// either the upload is still there to complete, or the object is.
	e = s.store(bucketName, o, s.uploadRecordsGone(u)...)
	u.release(s.blobs)
	if e != nil {
		return e
	}
	if o.checksumAlg != "" {
		w.Header().Set(checksumHeader(o.checksumAlg), o.checksum)
		w.Header().Set("x-amz-checksum-type", o.checksumType)
	}
	doc := struct {
		XMLName      xml.Name `xml:"CompleteMultipartUploadResult"`
		Xmlns        string   `xml:"xmlns,attr"`
		Location     string   `xml:"Location"`
		Bucket       string   `xml:"Bucket"`
		Key          string   `xml:"Key"`
		ETag         string   `xml:"ETag"`
		CRC32        string   `xml:"ChecksumCRC32,omitempty"`
		CRC32C       string   `xml:"ChecksumCRC32C,omitempty"`
		CRC64NVME    string   `xml:"ChecksumCRC64NVME,omitempty"`
		SHA1         string   `xml:"ChecksumSHA1,omitempty"`
		SHA256       string   `xml:"ChecksumSHA256,omitempty"`
		SHA512       string   `xml:"ChecksumSHA512,omitempty"`
		MD5          string   `xml:"ChecksumMD5,omitempty"`
		ChecksumType string   `xml:"ChecksumType,omitempty"`
	}{Xmlns: xmlns, Location: s.env.BaseURL() + "/" + bucketName + "/" + key, Bucket: bucketName, Key: key, ETag: o.etag, ChecksumType: o.checksumType}
	switch o.checksumAlg {
	case "CRC32":
		doc.CRC32 = o.checksum
	case "CRC32C":
		doc.CRC32C = o.checksum
	case "CRC64NVME":
		doc.CRC64NVME = o.checksum
	case "SHA1":
		doc.SHA1 = o.checksum
	case "SHA256":
		doc.SHA256 = o.checksum
	case "SHA512":
		doc.SHA512 = o.checksum
	case "MD5":
		doc.MD5 = o.checksum
	}
	writeXML(w, http.StatusOK, doc)
	return nil
}

// join writes the parts' bytes, in order, into the object's blob.
func (s *Service) join(u *upload, parts []*part) (*object, *awsproto.Error) {
	bw, err := s.blobs.create()
	if err != nil {
		return nil, awsproto.Internal(err)
	}
	var full = func() interface {
		io.Writer
		Sum([]byte) []byte
	} {
		if u.checksumType == "FULL_OBJECT" {
			return algorithms[u.checksumAlg]()
		}
		return nil
	}()
	size := int64(0)
	etags := make([]string, len(parts))
	sums := make([]string, len(parts))
	for i, p := range parts {
		f, err := s.blobs.open(p.blob)
		if err != nil {
			bw.abort()
			return nil, awsproto.Internal(err)
		}
		var dst io.Writer = bw
		if full != nil {
			dst = io.MultiWriter(bw, full)
		}
		n, err := io.Copy(dst, f)
		f.Close()
		if err != nil {
			bw.abort()
			return nil, readError(err, MaxObjectBytes)
		}
		size += n
		etags[i], sums[i] = p.etag, p.checksum
	}
	id, err := bw.commit()
	if err != nil {
		return nil, awsproto.Internal(err)
	}
	o := &object{key: u.key, blob: id, size: size, etag: multipartETag(etags), modified: s.clock.Now().UTC().Truncate(time.Second),
		contentType: u.contentType, meta: u.meta, checksumAlg: u.checksumAlg, checksumType: u.checksumType}
	switch u.checksumType {
	case "FULL_OBJECT":
		o.checksum = base64.StdEncoding.EncodeToString(full.Sum(nil))
	case "COMPOSITE":
		o.checksum, _ = compositeChecksum(u.checksumAlg, sums)
	}
	return o, nil
}

func (s *Service) abortUpload(w http.ResponseWriter, r *http.Request, bucketName, key string) *awsproto.Error {
	s.mu.Lock()
	u, e := s.uploadLocked(r, bucketName, key)
	if e != nil {
		s.mu.Unlock()
		return e
	}
	delete(s.uploads, u.id)
	if e := s.commitUnlock(s.uploadRecordsGone(u)...); e != nil {
		return e
	}
	u.release(s.blobs)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) listParts(w http.ResponseWriter, r *http.Request, bucketName, key string) *awsproto.Error {
	type partDoc struct {
		PartNumber   int    `xml:"PartNumber"`
		LastModified string `xml:"LastModified"`
		ETag         string `xml:"ETag"`
		Size         int64  `xml:"Size"`
	}
	s.mu.Lock()
	u, e := s.uploadLocked(r, bucketName, key)
	if e != nil {
		s.mu.Unlock()
		return e
	}
	var docs []partDoc
	for _, n := range slices.Sorted(maps.Keys(u.parts)) {
		p := u.parts[n]
		docs = append(docs, partDoc{n, p.modified.Format(timeFormat), p.etag, p.size})
	}
	s.mu.Unlock()
	writeXML(w, http.StatusOK, struct {
		XMLName     xml.Name  `xml:"ListPartsResult"`
		Xmlns       string    `xml:"xmlns,attr"`
		Bucket      string    `xml:"Bucket"`
		Key         string    `xml:"Key"`
		UploadID    string    `xml:"UploadId"`
		IsTruncated bool      `xml:"IsTruncated"`
		Parts       []partDoc `xml:"Part"`
	}{Xmlns: xmlns, Bucket: bucketName, Key: key, UploadID: u.id, Parts: docs})
	return nil
}

// forget drops an upload whose completion failed: its records go (without
// waiting: a crash before only brings the upload back) and its parts.
func (s *Service) forget(u *upload) {
	if s.j != nil {
		s.mu.Lock()
		s.j.Append(s.uploadRecordsGone(u)...)
		s.mu.Unlock()
	}
	u.release(s.blobs)
}

package s3

// Durability. Layout, under the top-level bucket "s3" of the data file:
//
//	format, region, account   format version, and the region and account
//	buckets/<name>            creation time
//	objects/<bucket>\x00<key> the object's metadata: its blob, size, ETag,
//	                          time, content type, metadata, checksum
//	uploads/<id>              a multipart upload in progress: bucket, key,
//	                          headers, checksum algorithm and type, start
//	parts/<id>\x00<number>    one of its parts: blob, size, ETag, checksum
//
// The bytes (objects' and parts') are files (blobs.go), durable before the
// record that names them is appended.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/journal"
)

const formatVersion = "1"

var (
	rootBucket    = []byte("s3")
	bucketsBucket = []byte("buckets")
	objectsBucket = []byte("objects")
	uploadsBucket = []byte("uploads")
	partsBucket   = []byte("parts")
)

func partKey(id string, n int) []byte { return []byte(fmt.Sprintf("%s\x00%05d", id, n)) }

func (s *Service) uploadRecord(u *upload) journal.Op {
	e := journal.NewEncoder(256)
	e.Str(u.bucket)
	e.Str(u.key)
	e.Str(u.contentType)
	e.StrMap(u.meta)
	e.Str(u.checksumAlg)
	e.Str(u.checksumType)
	e.Time(u.initiated)
	return journal.Put(journal.Path(rootBucket, uploadsBucket), []byte(u.id), e.Bytes())
}

func (s *Service) partRecord(u *upload, n int, p *part) journal.Op {
	e := journal.NewEncoder(128)
	e.Str(p.blob)
	e.Uint(uint64(p.size))
	e.Str(p.etag)
	e.Str(p.checksum)
	e.Time(p.modified)
	return journal.Put(journal.Path(rootBucket, partsBucket), partKey(u.id, n), e.Bytes())
}

// uploadRecordsGone are the ops that delete u's records (none in memory).
func (s *Service) uploadRecordsGone(u *upload) []journal.Op {
	if s.j == nil {
		return nil
	}
	ops := []journal.Op{journal.Delete(journal.Path(rootBucket, uploadsBucket), []byte(u.id))}
	for n := range u.parts {
		ops = append(ops, journal.Delete(journal.Path(rootBucket, partsBucket), partKey(u.id, n)))
	}
	return ops
}

// ErrDataFile is the error of New when the data file holds S3 data this
// service cannot use.
var ErrDataFile = errors.New("s3: unusable data in the data file")

func objectKey(bucketName, key string) []byte { return []byte(bucketName + "\x00" + key) }

func (s *Service) bucketRecord(b *bucket) journal.Op {
	e := journal.NewEncoder(32)
	e.Time(b.created)
	return journal.Put(journal.Path(rootBucket, bucketsBucket), []byte(b.name), e.Bytes())
}

func (s *Service) deleteBucketRecord(name string) journal.Op {
	return journal.Delete(journal.Path(rootBucket, bucketsBucket), []byte(name))
}

func (s *Service) objectRecord(bucketName string, o *object) journal.Op {
	e := journal.NewEncoder(256)
	e.Str(o.blob)
	e.Uint(uint64(o.size))
	e.Str(o.etag)
	e.Time(o.modified)
	e.Str(o.contentType)
	e.StrMap(o.meta)
	e.Str(o.checksumAlg)
	e.Str(o.checksum)
	e.Str(o.checksumType)
	return journal.Put(journal.Path(rootBucket, objectsBucket), objectKey(bucketName, o.key), e.Bytes())
}

func (s *Service) deleteObjectRecord(bucketName, key string) journal.Op {
	return journal.Delete(journal.Path(rootBucket, objectsBucket), objectKey(bucketName, key))
}

// load fills the service from db, creating S3's buckets in a new file, and
// counts the references to the blobs.
func (s *Service) load(db *bbolt.DB) error {
	err := journal.Guard("s3: load", func() error {
		return journal.LoadService(db, rootBucket, func(tx *bbolt.Tx) error {
			root, fresh, err := journal.ServiceRoot(tx, rootBucket, journal.Identity{Format: formatVersion, Region: s.env.Region, Account: s.env.AccountID},
				ErrDataFile, bucketsBucket, objectsBucket, uploadsBucket, partsBucket)
			if err != nil || fresh {
				return err
			}
			bb, ob, ub, pb := root.Bucket(bucketsBucket), root.Bucket(objectsBucket), root.Bucket(uploadsBucket), root.Bucket(partsBucket)
			if err := bb.ForEach(func(k, v []byte) error {
				d := journal.NewDecoder(v)
				b := &bucket{name: string(k), created: d.Time(), objects: map[string]*object{}}
				if err := d.Err(); err != nil {
					return fmt.Errorf("%w: bucket %s: %v", ErrDataFile, k, err)
				}
				s.buckets[b.name] = b
				return nil
			}); err != nil {
				return err
			}
			if err := ob.ForEach(func(k, v []byte) error {
				bucketName, key, ok := strings.Cut(string(k), "\x00")
				b := s.buckets[bucketName]
				if !ok || b == nil {
					return fmt.Errorf("%w: object %q has no bucket", ErrDataFile, k)
				}
				d := journal.NewDecoder(v)
				o := &object{key: key, blob: d.Str(), size: int64(d.Uint()), etag: d.Str(), modified: d.Time(), contentType: d.Str(),
					meta: d.StrMap(), checksumAlg: d.Str(), checksum: d.Str(), checksumType: d.Str()}
				if err := d.Err(); err != nil {
					return fmt.Errorf("%w: object %q: %v", ErrDataFile, k, err)
				}
				b.objects[key] = o
				s.blobs.ref(o.blob)
				return nil
			}); err != nil {
				return err
			}
			if err := ub.ForEach(func(k, v []byte) error {
				d := journal.NewDecoder(v)
				u := &upload{id: string(k), bucket: d.Str(), key: d.Str(), contentType: d.Str(), meta: d.StrMap(), checksumAlg: d.Str(),
					checksumType: d.Str(), initiated: d.Time(), parts: map[int]*part{}}
				if err := d.Err(); err != nil || s.buckets[u.bucket] == nil {
					return fmt.Errorf("%w: upload %s: %v", ErrDataFile, k, err)
				}
				s.uploads[u.id] = u
				return nil
			}); err != nil {
				return err
			}
			return pb.ForEach(func(k, v []byte) error {
				id, num, _ := strings.Cut(string(k), "\x00")
				u := s.uploads[id]
				n, err := strconv.Atoi(num)
				if u == nil || err != nil {
					return fmt.Errorf("%w: part %q has no upload", ErrDataFile, k)
				}
				d := journal.NewDecoder(v)
				p := &part{blob: d.Str(), size: int64(d.Uint()), etag: d.Str(), checksum: d.Str(), modified: d.Time()}
				if err := d.Err(); err != nil {
					return fmt.Errorf("%w: part %q: %v", ErrDataFile, k, err)
				}
				u.parts[n] = p
				s.blobs.ref(p.blob)
				return nil
			})
		})
	})
	if err != nil {
		return fmt.Errorf("s3: open %s: %w", db.Path(), err)
	}
	return nil
}

package sns

// Durability. The maps in memory stay the serving structure; the bbolt
// file (with the journal's write-ahead log beside it) holds a copy that
// every acknowledged change reaches first. apply
// records each change under s.mu and waits, after releasing it, for the
// group commit it shares with concurrent requests.
//
// Layout, under the top-level bucket "sns":
//
//	format, region, account   format version and the ARNs' region and account
//	signer                    the signing key and certificate, when the service made them
//	topics/<arn>              name, attributes, tags, count of deleted subscriptions
//	subscriptions/<arn>       creation order, topic, protocol, endpoint, attributes
//	retries/<id>              a delivery waiting for a retry: where, what, attempts, when;
//	                          an id starting "g:" adds group and deduplication ids and order
//	fifo/<topic arn>          the highest sequence number a FIFO topic has reserved
//	dedup/<topic arn>\x00<key>  a FIFO topic's deduplication id in its window: message id,
//	                          sequence number, expiry (key is the id, or group\x00id)
//
// Not kept: Stats (they count since the process started), and publishes:
// Publish delivers before it answers, so each delivery is by then in its
// SQS queue (which makes it durable before accepting it), recorded here as
// a retry, filtered out, or lost as AWS loses it (client-side error, no
// dead-letter queue). A retry that succeeded just before a crash, before
// its record was deleted, is delivered again after the restart: deliveries
// are at least once, as on AWS.

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/journal"
)

const formatVersion = "1"

var (
	rootBucket    = []byte("sns")
	topicsBucket  = []byte("topics")
	subsBucket    = []byte("subscriptions")
	retriesBucket = []byte("retries")
	fifoBucket    = []byte("fifo")
	dedupBucket   = []byte("dedup")
	keyFormat     = []byte("format")
	keyRegion     = []byte("region")
	keyAccount    = []byte("account")
	keySigner     = []byte("signer")
)

// ErrDataFile is the error of New when the data file holds SNS data this
// service cannot use: damaged records, another format version, or another
// region or account.
var ErrDataFile = errors.New("sns: unusable data in the data file")

func (s *Service) record(op journal.Op) { s.pending = append(s.pending, op) }

func put(bucket []byte, key string, val []byte) journal.Op {
	return journal.Put(journal.Path(rootBucket, bucket), []byte(key), val)
}

func del(bucket []byte, key string) journal.Op {
	return journal.Delete(journal.Path(rootBucket, bucket), []byte(key))
}

func (s *Service) saveTopicLocked(t *topic) {
	if s.j == nil {
		return
	}
	s.record(put(topicsBucket, t.arn, topicValue(t)))
}

func topicValue(t *topic) []byte {
	e := journal.NewEncoder(256)
	e.Str(t.name)
	e.StrMap(t.attrs)
	e.StrMap(t.tags)
	e.Uint(uint64(t.deleted))
	return e.Bytes()
}

// deleteTopicRecordsLocked records that t and its subscriptions are gone.
func (s *Service) deleteTopicRecordsLocked(t *topic) {
	if s.j == nil {
		return
	}
	s.record(del(topicsBucket, t.arn))
	for _, sub := range t.subs {
		s.record(del(subsBucket, sub.arn))
	}
}

func (s *Service) saveSubscriptionLocked(sub *subscription) {
	if s.j == nil {
		return
	}
	s.record(put(subsBucket, sub.arn, subscriptionValue(sub)))
}

func subscriptionValue(sub *subscription) []byte {
	e := journal.NewEncoder(256)
	e.Uint(sub.seq)
	e.Str(sub.topicARN)
	e.Str(sub.protocol)
	e.Str(sub.endpoint)
	e.StrMap(sub.cfg.Load().attrs)
	return e.Bytes()
}

func (s *Service) deleteSubscriptionRecordLocked(sub *subscription) {
	if s.j == nil {
		return
	}
	s.record(del(subsBucket, sub.arn))
}

// retryRecord is j's record, made when its retry is scheduled.
func retryRecord(j *job) journal.Op { return put(retriesBucket, j.id, retryValue(j)) }

func retryValue(j *job) []byte {
	e := journal.NewEncoder(len(j.body) + 256)
	e.Str(j.subARN)
	e.Str(j.topicARN)
	e.Str(j.queueARN)
	e.Str(j.body)
	e.Uint(uint64(len(j.attributes)))
	for _, k := range slices.Sorted(maps.Keys(j.attributes)) {
		a := j.attributes[k]
		e.Str(k)
		e.Str(a.DataType)
		e.Str(a.StringValue)
		e.Blob(a.BinaryValue)
	}
	e.Str(j.dlqARN)
	e.Bool(j.redrive)
	e.Uint(uint64(j.attempts))
	e.Time(j.due)
	if strings.HasPrefix(j.id, fifoRetryPrefix) {
		e.Str(j.group)
		e.Str(j.dedupID)
		e.Bool(j.ordered)
		e.Uint(j.order)
	}
	return e.Bytes()
}

func fifoValue(seq uint64) []byte {
	e := journal.NewEncoder(10)
	e.Uint(seq)
	return e.Bytes()
}

func dedupValue(d dedupEntry) []byte {
	e := journal.NewEncoder(80)
	e.Str(d.messageID)
	e.Str(d.sequenceNumber)
	e.Time(d.expires)
	return e.Bytes()
}

// forget deletes j's retry record, if it has one: it was delivered or
// given up on.
func (s *Service) forget(j *job) {
	if s.j == nil || j.id == "" {
		return
	}
	s.j.Append(del(retriesBucket, j.id))
}

// load fills a new service from db, creating SNS's buckets (and, unless a
// Signer was given, the signing key) in a new file. It returns the
// deliveries that were waiting for a retry.
func (s *Service) load(db *bbolt.DB) ([]*job, error) {
	var retries []*job
	err := journal.Guard("sns: load", func() error {
		return db.Update(func(tx *bbolt.Tx) error {
			root, err := s.openRoot(tx)
			if err != nil {
				return err
			}
			if err := s.loadSigner(root); err != nil {
				return err
			}
			if err := s.loadTopics(root); err != nil {
				return err
			}
			if err := s.loadSubscriptions(root); err != nil {
				return err
			}
			if err := s.loadFIFO(root); err != nil {
				return err
			}
			retries, err = s.loadRetries(root)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("sns: open %s: %w", db.Path(), err)
	}
	return retries, nil
}

func (s *Service) openRoot(tx *bbolt.Tx) (*bbolt.Bucket, error) {
	root := tx.Bucket(rootBucket)
	if root == nil {
		var err error
		if root, err = tx.CreateBucket(rootBucket); err != nil {
			return nil, fmt.Errorf("create buckets: %w", err)
		}
		for k, v := range map[string]string{string(keyFormat): formatVersion, string(keyRegion): s.region, string(keyAccount): s.account} {
			if err := root.Put([]byte(k), []byte(v)); err != nil {
				return nil, fmt.Errorf("create buckets: %w", err)
			}
		}
		for _, b := range [][]byte{topicsBucket, subsBucket, retriesBucket} {
			if _, err := root.CreateBucket(b); err != nil {
				return nil, fmt.Errorf("create buckets: %w", err)
			}
		}
		if err := createFIFOBuckets(root); err != nil {
			return nil, err
		}
		return root, nil
	}
	if v := root.Get(keyFormat); string(v) != formatVersion {
		return nil, fmt.Errorf("%w: format version %q, want %q", ErrDataFile, v, formatVersion)
	}
	if r, a := string(root.Get(keyRegion)), string(root.Get(keyAccount)); r != s.region || a != s.account {
		return nil, fmt.Errorf("%w: written for region %q and account %q, opened for %q and %q (topic ARNs would not match)",
			ErrDataFile, r, a, s.region, s.account)
	}
	for _, b := range [][]byte{topicsBucket, subsBucket, retriesBucket} {
		if root.Bucket(b) == nil {
			return nil, fmt.Errorf("%w: bucket %s is missing", ErrDataFile, b)
		}
	}
	if err := createFIFOBuckets(root); err != nil {
		return nil, err
	}
	return root, nil
}

// loadSigner restores the stored signer, or stores a new one, unless the
// caller gave one.
func (s *Service) loadSigner(root *bbolt.Bucket) error {
	if s.signer != nil {
		return nil
	}
	if v := root.Get(keySigner); v != nil {
		d := journal.NewDecoder(v)
		keyPEM, certPEM := d.Blob(), d.Blob()
		if err := d.Err(); err != nil {
			return fmt.Errorf("%w: signer: %w", ErrDataFile, err)
		}
		signer, err := LoadRSASigner(keyPEM, certPEM)
		if err != nil {
			return fmt.Errorf("%w: signer: %w", ErrDataFile, err)
		}
		s.signer = signer
		return nil
	}
	signer, err := NewRSASigner(nil, s.clock.Now())
	if err != nil {
		return fmt.Errorf("new signer: %w", err)
	}
	keyPEM, err := signer.KeyPEM()
	if err != nil {
		return fmt.Errorf("store signer: %w", err)
	}
	e := journal.NewEncoder(4096)
	e.Blob(keyPEM)
	e.Blob(signer.CertificatePEM())
	if err := root.Put(keySigner, e.Bytes()); err != nil {
		return fmt.Errorf("store signer: %w", err)
	}
	s.signer = signer
	return nil
}

func (s *Service) loadTopics(root *bbolt.Bucket) error {
	return root.Bucket(topicsBucket).ForEach(func(k, v []byte) error {
		arn := string(k)
		d := journal.NewDecoder(v)
		t := &topic{arn: arn, name: d.Str(), attrs: d.StrMap(), tags: d.StrMap(), deleted: int(d.Uint())}
		if err := d.Err(); err != nil || v == nil {
			return fmt.Errorf("%w: topic %s: %v", ErrDataFile, arn, err)
		}
		if arn != s.topicARN(t.name) {
			return fmt.Errorf("%w: topic %s is named %q", ErrDataFile, arn, t.name)
		}
		t.derive()
		s.topics[arn] = t
		return nil
	})
}

func (s *Service) loadSubscriptions(root *bbolt.Bucket) error {
	var subs []*subscription
	var orphans [][]byte
	b := root.Bucket(subsBucket)
	err := b.ForEach(func(k, v []byte) error {
		arn := string(k)
		d := journal.NewDecoder(v)
		sub := &subscription{arn: arn, seq: d.Uint(), topicARN: d.Str(), protocol: d.Str(), endpoint: d.Str(), counters: s.newCounters()}
		attrs := d.StrMap()
		if err := d.Err(); err != nil || v == nil {
			return fmt.Errorf("%w: subscription %s: %v", ErrDataFile, arn, err)
		}
		if _, ok := s.topics[sub.topicARN]; !ok {
			orphans = append(orphans, slices.Clone(k)) // its topic's deletion removed it
			return nil
		}
		cfg, err := compileSubscription(attrs)
		if err != nil {
			return fmt.Errorf("%w: subscription %s: %w", ErrDataFile, arn, err)
		}
		sub.cfg.Store(cfg)
		subs = append(subs, sub)
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range orphans {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("drop orphan subscription %s: %w", k, err)
		}
	}
	slices.SortFunc(subs, func(a, b *subscription) int { return cmp.Compare(a.seq, b.seq) })
	for _, sub := range subs {
		t := s.topics[sub.topicARN]
		t.subs = append(t.subs, sub)
		s.subs[sub.arn] = sub
		s.stats[sub.arn] = sub.counters
		s.subSeq = max(s.subSeq, sub.seq)
	}
	return nil
}

func (s *Service) loadRetries(root *bbolt.Bucket) ([]*job, error) {
	var jobs []*job
	err := root.Bucket(retriesBucket).ForEach(func(k, v []byte) error {
		d := journal.NewDecoder(v)
		j := &job{id: string(k), subARN: d.Str(), topicARN: d.Str(), queueARN: d.Str(), body: d.Str()}
		if n := d.Len(4); n > 0 {
			j.attributes = make(map[string]MessageAttribute, n)
			for i := 0; i < n; i++ {
				name := d.Str()
				j.attributes[name] = MessageAttribute{DataType: d.Str(), StringValue: d.Str(), BinaryValue: d.Blob()}
			}
		}
		j.dlqARN = d.Str()
		j.redrive = d.Bool()
		j.attempts = int(d.Uint())
		j.due = d.Time()
		if strings.HasPrefix(j.id, fifoRetryPrefix) {
			j.group, j.dedupID, j.ordered, j.order = d.Str(), d.Str(), d.Bool(), d.Uint()
		}
		if err := d.Err(); err != nil || v == nil {
			return fmt.Errorf("%w: delivery retry %s: %v", ErrDataFile, k, err)
		}
		// A retry outlives its subscription, as a delivery in progress
		// does; its counts go on under the subscription's ARN.
		if j.counters = s.stats[j.subARN]; j.counters == nil {
			j.counters = s.newCounters() // its subscription is gone: the totals count it
		}
		jobs = append(jobs, j)
		return nil
	})
	return jobs, err
}

// createFIFOBuckets makes the FIFO buckets, which files written before FIFO
// topics lack.
func createFIFOBuckets(root *bbolt.Bucket) error {
	for _, b := range [][]byte{fifoBucket, dedupBucket} {
		if _, err := root.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create buckets: %w", err)
		}
	}
	return nil
}

// loadFIFO restores FIFO topics' sequence numbers and deduplication
// windows, dropping what belongs to deleted topics or has expired.
func (s *Service) loadFIFO(root *bbolt.Bucket) error {
	var stale [][]byte
	fb := root.Bucket(fifoBucket)
	err := fb.ForEach(func(k, v []byte) error {
		t, ok := s.topics[string(k)]
		if !ok || !t.fifo {
			stale = append(stale, slices.Clone(k))
			return nil
		}
		d := journal.NewDecoder(v)
		t.pub.seq = d.Uint() // the rest of the reserved block is skipped
		t.pub.reserved = t.pub.seq
		if err := d.Err(); err != nil {
			return fmt.Errorf("%w: FIFO topic %s: %v", ErrDataFile, k, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range stale {
		if err := fb.Delete(k); err != nil {
			return fmt.Errorf("drop stale FIFO record %q: %w", k, err)
		}
	}
	stale = stale[:0]
	now := s.clock.Now()
	db := root.Bucket(dedupBucket)
	err = db.ForEach(func(k, v []byte) error {
		arn, key, _ := strings.Cut(string(k), "\x00")
		t, ok := s.topics[arn]
		d := journal.NewDecoder(v)
		e := dedupEntry{messageID: d.Str(), sequenceNumber: d.Str(), expires: d.Time()}
		if err := d.Err(); err != nil {
			return fmt.Errorf("%w: deduplication record %q: %v", ErrDataFile, k, err)
		}
		if !ok || !t.fifo || !now.Before(e.expires) {
			stale = append(stale, slices.Clone(k))
			return nil
		}
		if t.pub.dedup == nil {
			t.pub.dedup = map[string]dedupEntry{}
		}
		t.pub.dedup[key] = e
		t.pub.order = append(t.pub.order, dedupExpiry{key, e.expires})
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range stale {
		if err := db.Delete(k); err != nil {
			return fmt.Errorf("drop stale deduplication record %q: %w", k, err)
		}
	}
	for _, t := range s.topics {
		slices.SortFunc(t.pub.order, func(a, b dedupExpiry) int { return a.expires.Compare(b.expires) })
	}
	return nil
}

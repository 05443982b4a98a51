package dynamodb

import (
	cj "github.com/orderflow/orderflow/cloud/journal"

	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// The on-disk format, version 1, in the bbolt file the cloud passes in:
//
//	dynamodb.meta     "format" → "1"
//	                  "folded" → sequence number of the last journal record
//	                             folded into the snapshot (8 bytes, big-endian)
//	dynamodb.journal  sequence number (8 bytes, big-endian) → JSON array of
//	                  the effects of one write request, in the order the
//	                  engine applied the requests
//	dynamodb.tables   table name → JSON array of the CreateTable and
//	                  UpdateTable effects that define the table (snapshot)
//	dynamodb.items    one bucket per table: "=" + the engine's key of an
//	                  item → the item's JSON (snapshot)
//
// The state is the snapshot with the journal replayed over it.
var (
	metaBucket    = []byte("dynamodb.meta")
	journalBucket = []byte("dynamodb.journal")
	tablesBucket  = []byte("dynamodb.tables")
	itemsBucket   = []byte("dynamodb.items")

	formatKey = []byte("format")
	foldedKey = []byte("folded")
)

const formatVersion = "1"

// journalPath is the journal bucket's path for the shared journal's ops.
var journalPath = cj.Path(journalBucket)

// compactChunk is how many journal records one compaction transaction
// folds, so that commits are not held up behind a long one.
const compactChunk = 1000

// errClosed answers writes after Close.
var errClosed = errors.New("dynamodb: the service is closed")

// An effect is one change a write made, as the journal records it.
type effect struct {
	// Op is "put" or "delete" for an item, or the table operation.
	Op    string `json:"op"`
	Table string `json:"table"`
	// Item is a put item as the engine holds it after the write.
	Item json.RawMessage `json:"item,omitempty"`
	// Key is a deleted item's key.
	Key json.RawMessage `json:"key,omitempty"`
	// Request is a table operation's request, replayed as it is.
	Request json.RawMessage `json:"request,omitempty"`
	// Partial marks a table operation that failed after changing the table:
	// replayed from the same state it fails at the same point.
	Partial bool `json:"partial,omitempty"`
}

// journal appends records to the bbolt file with group commit: a single
// committer goroutine writes every record queued while the previous commit
// was syncing in one transaction, one fsync for them all.
type journal struct {
	db             *bbolt.DB
	log            *slog.Logger
	compactRecords int
	compactBytes   int64

	mu      sync.Mutex
	work    *sync.Cond // pending or closing changed
	settled *sync.Cond // durable or err changed
	pending []record   // queued, in sequence order
	next    uint64     // sequence number of the next record
	durable uint64     // every record numbered up to durable is committed
	err     error      // set once: no record is accepted after it
	closing bool
	records int   // records in the journal bucket
	bytes   int64 // bytes of their values

	// shared, when set, is the cloud's group-commit journal: records go into
	// its commits (with SQS's and SNS's) instead of this journal's own, and
	// inflight counts those not yet settled.
	shared   *cj.Journal
	inflight sync.WaitGroup

	compactMu  sync.Mutex // one compaction at a time
	compactReq chan struct{}
	stop       chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
}

type record struct {
	seq   uint64
	value []byte
}

// openJournal checks the file's format, creating the buckets in a file
// that has none.
func openJournal(opts Options) (*journal, error) {
	j := &journal{
		db:             opts.DB,
		log:            opts.Logger,
		compactRecords: opts.CompactRecords,
		compactBytes:   opts.CompactBytes,
		compactReq:     make(chan struct{}, 1),
		stop:           make(chan struct{}),
		shared:         opts.Journal,
	}
	j.work = sync.NewCond(&j.mu)
	j.settled = sync.NewCond(&j.mu)
	err := j.db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		if meta == nil {
			for _, name := range [][]byte{journalBucket, tablesBucket, itemsBucket} {
				if tx.Bucket(name) != nil {
					return fmt.Errorf("bucket %s exists without %s: not a file this package wrote", name, metaBucket)
				}
			}
			for _, name := range [][]byte{metaBucket, journalBucket, tablesBucket, itemsBucket} {
				if _, err := tx.CreateBucket(name); err != nil {
					return fmt.Errorf("create bucket %s: %w", name, err)
				}
			}
			return tx.Bucket(metaBucket).Put(formatKey, []byte(formatVersion))
		}
		if f := meta.Get(formatKey); string(f) != formatVersion {
			return fmt.Errorf("data format %q, this build reads format %q", f, formatVersion)
		}
		for _, name := range [][]byte{journalBucket, tablesBucket, itemsBucket} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("bucket %s is missing", name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dynamodb: open %s: %w", opts.DB.Path(), err)
	}
	return j, nil
}

// start starts the committer and the compactor; next, durable, records and
// bytes are set.
func (j *journal) start() {
	if j.shared == nil {
		j.wg.Add(1)
		go j.commitLoop()
	}
	j.wg.Add(1)
	go j.compactLoop()
	j.mu.Lock()
	j.maybeCompact()
	j.mu.Unlock()
}

// append queues a record of effects and numbers it. The caller holds
// writeMu, so numbers follow the order the engine applied the writes in.
func (j *journal) append(effects []effect) error {
	value, err := json.Marshal(effects)
	if err != nil {
		return fmt.Errorf("dynamodb: encode journal record: %w", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if j.shared != nil {
		// Appended under mu, so the shared journal commits the records in
		// sequence order: when one settles, every earlier one has.
		seq := j.next
		j.next++
		t := j.shared.Append(cj.PutPacked(journalPath, seqKey(seq), value))
		j.inflight.Add(1)
		go j.settle(seq, int64(len(value)), t)
		return nil
	}
	j.pending = append(j.pending, record{seq: j.next, value: value})
	j.next++
	j.work.Signal()
	return nil
}

// settle waits for a record's commit in the shared journal and marks it
// durable.
func (j *journal) settle(seq uint64, size int64, t cj.Ticket) {
	defer j.inflight.Done()
	err := t.Wait()
	j.mu.Lock()
	defer j.mu.Unlock()
	if err != nil {
		if j.err == nil {
			j.err = fmt.Errorf("dynamodb: commit journal record %d: %w", seq, err)
			j.log.Error("dynamodb: journal stopped; writes are refused", "err", j.err)
		}
	} else {
		// Records commit in sequence order, so durable only grows; a later
		// record may settle first, its goroutine having run sooner.
		j.durable = max(j.durable, seq)
		j.records++
		j.bytes += size
		j.maybeCompact()
	}
	j.settled.Broadcast()
}

// last returns the number of the last record queued.
func (j *journal) last() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.next - 1
}

// usable returns the error that stopped the journal, if one did.
func (j *journal) usable() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// wait blocks until every record up to seq is committed, or the journal
// has stopped before committing them.
func (j *journal) wait(seq uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.durable < seq && j.err == nil {
		j.settled.Wait()
	}
	if j.durable >= seq {
		return nil
	}
	return j.err
}

// fail stops the journal: no record is accepted after err.
func (j *journal) fail(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil {
		j.err = err
		j.log.Error("dynamodb: journal stopped; writes are refused", "err", err)
	}
	j.settled.Broadcast()
}

// commitLoop commits queued records until close, every record queued
// while a commit runs going into the next one.
func (j *journal) commitLoop() {
	defer j.wg.Done()
	var batch []record
	for {
		j.mu.Lock()
		for len(j.pending) == 0 && !j.closing {
			j.work.Wait()
		}
		if len(j.pending) == 0 {
			j.mu.Unlock()
			return
		}
		batch, j.pending = j.pending, batch[:0]
		j.mu.Unlock()

		var size int64
		err := j.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(journalBucket)
			if b == nil {
				return fmt.Errorf("bucket %s is missing", journalBucket)
			}
			b.FillPercent = 1 // keys only ever grow: pack the pages
			for _, r := range batch {
				if err := b.Put(seqKey(r.seq), r.value); err != nil {
					return err
				}
				size += int64(len(r.value))
			}
			return nil
		})

		j.mu.Lock()
		if err != nil {
			if j.err == nil {
				j.err = fmt.Errorf("dynamodb: commit journal records %d–%d: %w", batch[0].seq, batch[len(batch)-1].seq, err)
				j.log.Error("dynamodb: journal stopped; writes are refused", "err", j.err)
			}
		} else {
			j.durable = batch[len(batch)-1].seq
			j.records += len(batch)
			j.bytes += size
			j.maybeCompact()
		}
		j.settled.Broadcast()
		j.mu.Unlock()
		clear(batch) // drop the values for the collector
	}
}

// maybeCompact asks the compactor to run if the journal has grown past a
// threshold. The caller holds mu.
func (j *journal) maybeCompact() {
	if j.records >= j.compactRecords || j.bytes >= j.compactBytes {
		select {
		case j.compactReq <- struct{}{}:
		default:
		}
	}
}

func (j *journal) compactLoop() {
	defer j.wg.Done()
	for {
		select {
		case <-j.stop:
			return
		case <-j.compactReq:
			if err := j.compact(j.stop); err != nil {
				j.log.Error("dynamodb: compaction failed; the journal keeps growing", "err", err)
			}
		}
	}
}

// close waits for queued records to be committed and stops the compactor.
func (j *journal) close() error {
	j.closeOnce.Do(func() {
		j.mu.Lock()
		j.closing = true
		j.work.Broadcast()
		j.mu.Unlock()
		close(j.stop)
		j.wg.Wait()
		j.inflight.Wait()
		j.mu.Lock()
		j.closeErr = j.err
		if j.err == nil {
			j.err = errClosed
		}
		j.settled.Broadcast()
		j.mu.Unlock()
	})
	return j.closeErr
}

// compact folds the journal records committed when it starts into the
// snapshot, compactChunk records a transaction, each transaction deleting
// the records it folds; it stops between two transactions when stop is
// closed. Every transaction leaves a snapshot and a journal that replay to
// the same state, so a crash anywhere in it loses nothing.
func (j *journal) compact(stop <-chan struct{}) error {
	j.compactMu.Lock()
	defer j.compactMu.Unlock()
	var upto uint64
	err := j.db.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(journalBucket).Cursor().Last(); k != nil {
			upto = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	if err != nil || upto == 0 {
		return err
	}
	start := time.Now()
	f := &folder{keys: map[string]*tableKeyFunc{}}
	total := 0
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		var n int
		var size int64
		more := false
		err := j.db.Update(func(tx *bbolt.Tx) error {
			jb := tx.Bucket(journalBucket)
			var done [][]byte
			var last uint64
			c := jb.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				seq, err := parseSeq(k)
				if err != nil {
					return err
				}
				if seq > upto {
					break
				}
				if len(done) == compactChunk {
					more = true
					break
				}
				var effects []effect
				if err := json.Unmarshal(v, &effects); err != nil {
					return fmt.Errorf("journal record %d: %w", seq, err)
				}
				for _, e := range effects {
					if err := f.fold(tx, e); err != nil {
						return fmt.Errorf("journal record %d: %w", seq, err)
					}
				}
				done = append(done, append([]byte(nil), k...))
				last = seq
				size += int64(len(v))
			}
			for _, k := range done {
				if err := jb.Delete(k); err != nil {
					return err
				}
			}
			n = len(done)
			if n == 0 {
				return nil
			}
			return tx.Bucket(metaBucket).Put(foldedKey, seqKey(last))
		})
		if err != nil {
			return fmt.Errorf("dynamodb: compact %s: %w", j.db.Path(), err)
		}
		total += n
		j.mu.Lock()
		j.records -= n
		j.bytes -= size
		j.mu.Unlock()
		if !more {
			break
		}
	}
	j.log.Info("dynamodb: compacted the journal", "records", total, "duration", time.Since(start))
	return nil
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

func parseSeq(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("journal key %q is not a sequence number", k)
	}
	return binary.BigEndian.Uint64(k), nil
}

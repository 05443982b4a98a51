package engine

// Durability. The B-trees in memory stay the serving structure; the data
// file (bbolt, with the shared journal's write-ahead log in front of it)
// holds a copy that every acknowledged change reaches first. The copy is
// made of the engine's own effects, not of requests: table.store and
// table.remove, the only two places an item changes, queue a journal.Op
// for the item as the engine now holds it, under the table's write lock;
// the operation hands the queued ops to the journal in one Append before it
// releases its locks (so a batch or a transaction is logged whole, and two
// writes to one item reach the file in the order they were made), and
// waits for their commit after. Nothing is derived from the request, so no
// request shape can change an item without its change being recorded.
//
// Layout, under the top-level bucket "dynamodb":
//
//	format               the layout's version
//	tables/<name>        a table's definition (tableDef, JSON)
//	items/<name>/<key>   an item: key is the engine's key encoding (numbers by
//	                     value, binaries by bytes, hash and range prefix-free,
//	                     so two items never share a key), the value its
//	                     encoded attributes (codec.go)
//	txtokens/<token>     a TransactWriteItems client request token within its
//	                     window: request hash, completion time, response
//	                     (txtoken.go)
//
// Secondary indexes are not stored: loading rebuilds them from the items,
// as UpdateTable's backfill does.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/btree"
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/journal"
)

const formatVersion = "2"

var (
	rootBucket   = []byte("dynamodb")
	tablesBucket = []byte("tables")
	itemsBucket  = []byte("items")
	formatKey    = []byte("format")

	tablesPath = journal.Path(rootBucket, tablesBucket)
	itemsPath  = journal.Path(rootBucket, itemsBucket)

	// legacyBucket is the meta bucket of the layout before the engine
	// kept its own items (a journal of requests' effects beside a snapshot
	// keyed by minidyn's key function).
	legacyBucket = []byte("dynamodb.meta")
)

// ErrDataFile is the error of Open when the data file holds DynamoDB data
// this engine cannot use: damaged records, or another layout.
var ErrDataFile = errors.New("dynamodb: unusable data in the data file")

// tableDef is what a table's definition record holds.
type tableDef struct {
	Name       string
	ID         string
	Seq        uint64
	Created    int64 // Unix nanoseconds
	AttrDefs   []attributeDefinition
	Hash       keySchemaElement
	Range      *keySchemaElement `json:",omitempty"`
	Billing    string
	Throughput *throughputDef `json:",omitempty"`
	Indexes    []indexDef     `json:",omitempty"`
	TTL        string         `json:",omitempty"` // the TTL attribute; "" when disabled
	Tags       []tagDef       `json:",omitempty"`
	PITR       *pitrDef       `json:",omitempty"`
}

type throughputDef struct{ Read, Write int64 }

type indexDef struct {
	Name       string
	Global     bool
	Hash       keySchemaElement
	Range      *keySchemaElement `json:",omitempty"`
	Projection string
	NonKey     []string       `json:",omitempty"`
	Throughput *throughputDef `json:",omitempty"`
}

func defOfThroughput(tp *throughput) *throughputDef {
	if tp == nil {
		return nil
	}
	return &throughputDef{tp.read, tp.write}
}

func (d *throughputDef) throughput() *throughput {
	if d == nil {
		return nil
	}
	return &throughput{d.Read, d.Write}
}

// keysOfDef turns a stored key schema back into a keySchema, looking the
// types up in the attribute definitions.
func keysOfDef(hash keySchemaElement, rng *keySchemaElement, types map[string]string) (keySchema, error) {
	var ks keySchema
	typ, ok := types[hash.AttributeName]
	if !ok {
		return ks, fmt.Errorf("key attribute %q has no definition", hash.AttributeName)
	}
	ks.hash = keyAttr{hash.AttributeName, typ}
	if rng != nil {
		if typ, ok = types[rng.AttributeName]; !ok {
			return ks, fmt.Errorf("key attribute %q has no definition", rng.AttributeName)
		}
		ks.rng = keyAttr{rng.AttributeName, typ}
	}
	return ks, nil
}

func (k keySchema) def() (keySchemaElement, *keySchemaElement) {
	h := keySchemaElement{k.hash.name, "HASH"}
	if !k.hasRange() {
		return h, nil
	}
	return h, &keySchemaElement{k.rng.name, "RANGE"}
}

// encodeDef encodes t's definition. Callers hold t.mu or own t.
func (t *table) encodeDef() []byte {
	d := tableDef{Name: t.name, ID: t.id, Seq: t.seq, Created: t.created.UnixNano(), Billing: t.billing, Throughput: defOfThroughput(t.provision),
		TTL: t.ttlAttr, Tags: t.tagDefs(), PITR: t.pitr}
	for _, a := range t.attrDefs {
		d.AttrDefs = append(d.AttrDefs, attributeDefinition{a.name, a.typ})
	}
	d.Hash, d.Range = t.keys.def()
	for _, ix := range t.indexes {
		id := indexDef{Name: ix.name, Global: ix.global, Projection: ix.projection, NonKey: ix.nonKey, Throughput: defOfThroughput(ix.throughput)}
		id.Hash, id.Range = ix.keys.def()
		d.Indexes = append(d.Indexes, id)
	}
	b, err := json.Marshal(d)
	if err != nil { // cannot happen: plain strings and numbers
		panic(fmt.Sprintf("engine: encode table %s: %v", t.name, err))
	}
	return b
}

// decodeDef rebuilds an empty table from its definition record.
func decodeDef(b []byte) (*table, error) {
	var d tableDef
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	if !validTableName(d.Name) {
		return nil, fmt.Errorf("table name %q", d.Name)
	}
	t := newTable()
	t.name, t.id, t.seq, t.created, t.billing = d.Name, d.ID, d.Seq, time.Unix(0, d.Created), d.Billing
	t.provision = d.Throughput.throughput()
	types := map[string]string{}
	for _, a := range d.AttrDefs {
		t.attrDefs = append(t.attrDefs, attrDef{a.AttributeName, a.AttributeType})
		types[a.AttributeName] = a.AttributeType
	}
	var err error
	if t.keys, err = keysOfDef(d.Hash, d.Range, types); err != nil {
		return nil, err
	}
	for _, id := range d.Indexes {
		ix := &index{name: id.Name, global: id.Global, projection: id.Projection, nonKey: id.NonKey,
			throughput: id.Throughput.throughput(), tree: btree.NewG(btreeDegree, lessIndexEntry)}
		if ix.keys, err = keysOfDef(id.Hash, id.Range, types); err != nil {
			return nil, fmt.Errorf("index %s: %w", id.Name, err)
		}
		t.indexes = append(t.indexes, ix)
	}
	for _, tg := range d.Tags {
		t.setTag(tg.Key, tg.Value)
	}
	t.pitr = d.PITR
	t.ttlAttr = d.TTL // the expiry index is built once the items are in
	return t, nil
}

// record queues ops for the journal. Callers hold t.mu exclusively.
func (t *table) record(ops ...journal.Op) {
	if t.j != nil {
		t.pending = append(t.pending, ops...)
	}
}

func (t *table) itemsPath() [][]byte {
	if t.path == nil {
		t.path = journal.Path(rootBucket, itemsBucket, []byte(t.name))
	}
	return t.path
}

// flush hands the ops the tables have queued to the journal, in one Append
// so that they commit together, and returns the ticket every later reader
// of these tables waits on. Callers hold the tables' write locks.
func flush(ts []*table) journal.Ticket {
	var j *journal.Journal
	var ops []journal.Op
	for _, t := range ts {
		if len(t.pending) > 0 {
			j = t.j
			ops = append(ops, t.pending...)
			clear(t.pending)
			t.pending = t.pending[:0]
		}
	}
	if len(ops) == 0 {
		return journal.Ticket{}
	}
	tk := j.Append(ops...)
	for _, t := range ts {
		t.last.Store(&tk)
	}
	return tk
}

// settled returns once every change t's state holds is durable: a client
// never acts on what a crash could take back. It costs nothing once the
// last write's commit is done.
func (t *table) settled() error {
	tk := t.last.Load()
	if tk == nil {
		return nil
	}
	return durable(*tk)
}

// errClosed answers a write after Close.
var errClosed = &apiError{status: 500, code: codeInternal, msg: "the DynamoDB engine is closed: it is shutting down"}

// durable waits for tk, as a client-facing error if the commit failed.
func durable(tk journal.Ticket) error {
	if err := tk.Wait(); err != nil {
		return errUnwritable(err)
	}
	return nil
}

// errUnwritable answers every request while the journal takes no writes:
// memory may hold changes the file does not, so nothing more is answered
// from it, until a restart once the journal has stopped, or until its
// retry succeeds when a resource ran out (journal.ErrStalled).
func errUnwritable(err error) *apiError {
	if errors.Is(err, journal.ErrStalled) {
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
			msg: "the data file cannot be written at the moment (" + err.Error() + "); this request was not acknowledged and its outcome is unknown. " +
				"Requests are answered again, without a restart, as soon as the write succeeds (free disk space or file descriptors): retry later"}
	}
	return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
		msg: "the data file could not be written (" + err.Error() + "); nothing more is answered until orderflow is restarted from its data directory"}
}

// failed returns, as a client-facing error, why the journal takes no
// writes (it has stopped, or it is stalled), or nil.
func (e *Engine) failed() error {
	if e.j == nil {
		return nil
	}
	if err := e.j.Writable(); err != nil {
		return errUnwritable(err)
	}
	return nil
}

// write runs fn holding the write locks of ts and returns once what it
// changed is durable. fn's changes are recorded even when it fails (or
// panics) halfway: the journal holds what memory holds. A table deleted
// while the caller waited for its lock is not found.
func (e *Engine) write(ts []*table, fn func() error) (err error) {
	if e.closed.Load() {
		return errClosed
	}
	var tk journal.Ticket
	func() {
		unlock := lockTables(ts, true)
		defer func() {
			tk = flush(ts)
			unlock()
		}()
		for _, t := range ts {
			if t.dropped {
				err = errNotFound("%s", msgResourceNotFound)
				return
			}
		}
		err = fn()
	}()
	if !tk.IsZero() {
		if werr := durable(tk); werr != nil {
			return werr
		}
		return err
	}
	// Nothing changed, but the outcome (a failed condition, say) may rest
	// on a change not yet durable.
	for _, t := range ts {
		if werr := t.settled(); werr != nil {
			return werr
		}
	}
	return err
}

// Open returns an engine with the tables o.DB holds (none, for a new
// file), which records every change there from then on. Without a DB it
// is an empty in-memory engine. Close it before closing the DB.
func Open(o Options) (*Engine, error) {
	e := newEngine(o)
	if o.DB == nil {
		return e, nil
	}
	j := o.Journal
	if j == nil {
		// Its own journal, made first: it applies what its log holds to
		// the file before the file is read.
		var err error
		if j, err = journal.New(o.DB); err != nil {
			return nil, fmt.Errorf("dynamodb: %w", err)
		}
	}
	var staleTokens [][]byte
	err := journal.Guard("read the DynamoDB tables", func() error {
		return o.DB.View(func(tx *bbolt.Tx) error {
			if err := e.load(tx); err != nil {
				return err
			}
			var err error
			staleTokens, err = e.tokens.load(tx, e.opts.Now())
			return err
		})
	})
	if err == nil {
		e.j, e.ownJournal = j, o.Journal == nil
		e.tokens.j = j
		for _, t := range e.tables {
			t.j = j
		}
		err = e.initFile()
	}
	if err == nil && len(staleTokens) > 0 {
		ops := make([]journal.Op, len(staleTokens))
		for i, k := range staleTokens {
			ops[i] = journal.Delete(tokensPath, k)
		}
		err = j.Append(ops...).Wait()
	}
	if err == nil {
		for _, t := range e.tables {
			if t.ttlOn.Load() {
				e.scheduleSweep()
				break
			}
		}
	}
	if err != nil {
		if o.Journal == nil {
			j.Close()
		}
		return nil, fmt.Errorf("dynamodb: %s: %w", o.DB.Path(), err)
	}
	return e, nil
}

// Close makes every change recorded so far durable and refuses later
// writes; it closes the engine's journal if it made its own. It does not
// close the DB. An engine abandoned without Close loses nothing it
// acknowledged.
func (e *Engine) Close() error {
	e.stopSweeper()
	if e.j == nil || e.closed.Swap(true) {
		return nil
	}
	closeJournal := e.j.Sync // the journal's owner closes it
	if e.ownJournal {
		closeJournal = e.j.Close
	}
	if err := closeJournal(); err != nil {
		return fmt.Errorf("dynamodb: close: %w", err)
	}
	return nil
}

// initFile writes the layout's version into a file that has none yet.
func (e *Engine) initFile() error {
	var has bool
	_ = e.opts.DB.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(rootBucket); b != nil {
			has = b.Get(formatKey) != nil
		}
		return nil
	})
	if has {
		return nil
	}
	if err := e.j.Append(journal.Put(journal.Path(rootBucket), formatKey, []byte(formatVersion)),
		journal.CreateBucket(journal.Path(rootBucket), tablesBucket),
		journal.CreateBucket(journal.Path(rootBucket), itemsBucket)).Wait(); err != nil {
		return fmt.Errorf("initialise the data file: %w", err)
	}
	return nil
}

// load reads every table and item of the data file into e.
func (e *Engine) load(tx *bbolt.Tx) error {
	if tx.Bucket(legacyBucket) != nil {
		return fmt.Errorf("%w: it holds DynamoDB tables in the layout of an earlier orderflow (bucket %s), which this one does not read; start with an empty data directory", ErrDataFile, legacyBucket)
	}
	root := tx.Bucket(rootBucket)
	if root == nil {
		return nil
	}
	if v := root.Get(formatKey); !bytes.Equal(v, []byte(formatVersion)) {
		return fmt.Errorf("%w: layout version %q, want %q", ErrDataFile, v, formatVersion)
	}
	tables, items := root.Bucket(tablesBucket), root.Bucket(itemsBucket)
	if tables == nil || items == nil {
		return fmt.Errorf("%w: the tables or items bucket is missing", ErrDataFile)
	}
	err := tables.ForEach(func(name, def []byte) error {
		t, err := decodeDef(def)
		if err != nil || t.name != string(name) {
			return fmt.Errorf("%w: table %q: bad definition (%v)", ErrDataFile, name, err)
		}
		b := items.Bucket(name)
		if b == nil {
			return fmt.Errorf("%w: table %q has no items bucket", ErrDataFile, name)
		}
		if err := t.loadItems(b); err != nil {
			return fmt.Errorf("%w: table %q: %w", ErrDataFile, name, err)
		}
		if err := t.setTTL(t.ttlAttr); err != nil {
			return fmt.Errorf("%w: table %q: %w", ErrDataFile, name, err)
		}
		t.arn = e.tableARN(t.name)
		e.tables[t.name] = t
		e.seq = max(e.seq, t.seq)
		return nil
	})
	if err != nil {
		return err
	}
	return items.ForEachBucket(func(name []byte) error {
		if tables.Get(name) == nil {
			return fmt.Errorf("%w: items of table %q, which has no definition", ErrDataFile, name)
		}
		return nil
	})
}

// loadItems fills t's tree and indexes from its items bucket, checking
// that each item sits at the key it encodes.
func (t *table) loadItems(b *bbolt.Bucket) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			return fmt.Errorf("a bucket among the items")
		}
		it, err := decodeItem(v)
		if err != nil {
			return fmt.Errorf("item at key %x: %w", k, err)
		}
		size, err := validateItem(it)
		if err != nil {
			return fmt.Errorf("item at key %x: %w", k, err)
		}
		pk, err := t.primaryKey(it, false, true)
		if err != nil || pk != string(k) {
			return fmt.Errorf("item at key %x does not have that key", k)
		}
		t.insert(pk, bytes.Clone(v), it, size)
	}
	return nil
}

// JournalStats reports the journal's commits so far (zero in memory).
func (e *Engine) JournalStats() journal.Stats {
	if e.j == nil {
		return journal.Stats{}
	}
	return e.j.Stats()
}

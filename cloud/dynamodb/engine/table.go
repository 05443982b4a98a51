package engine

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"
	"github.com/truora/minidyn/types"

	"github.com/orderflow/orderflow/cloud/journal"
)

// btreeDegree is the B-trees' branching: nodes of up to 63 entries keep the
// trees shallow (4 levels for a million items) and cache-friendly.
const btreeDegree = 32

// record is one stored item: its encoded primary key and its encoded
// attributes. The table's primary tree and every index entry point at the
// same record, so an overwrite replaces data in one place.
type record struct {
	key     string
	data    []byte
	size    int32 // the item's size as DynamoDB counts it
	hashLen int32 // the length of key's partition (hash) part
	hasExp  bool  // the record is in the table's expiry index, at exp
	exp     int64
}

// indexEntry orders a record in a secondary index: key is the index's
// hash and range values followed by the record's primary key, so that
// entries with equal index keys stay distinct and ordered.
type indexEntry struct {
	key string
	rec *record
}

func lessRecord(a, b *record) bool        { return a.key < b.key }
func lessIndexEntry(a, b indexEntry) bool { return a.key < b.key }

// keySchema is the key of a table or an index: a hash attribute and an
// optional range attribute (name "" when absent).
type keySchema struct {
	hash, rng keyAttr
}

func (k keySchema) hasRange() bool { return k.rng.name != "" }

// index is a global or local secondary index.
type index struct {
	name       string
	global     bool
	keys       keySchema
	projection string   // ALL, KEYS_ONLY or INCLUDE
	nonKey     []string // INCLUDE's attributes
	throughput *throughput
	tree       *btree.BTreeG[indexEntry]
}

type throughput struct {
	read, write int64
}

// table is one table. mu guards everything below it: readers share it, a
// write holds it exclusively from its condition check to its last index
// update, so that a conditional write is atomic.
type table struct {
	name      string
	arn       string
	id        string
	seq       uint64 // the engine's count of tables when it was created
	created   time.Time
	attrDefs  []attrDef
	keys      keySchema
	billing   string
	provision *throughput

	mu      sync.RWMutex
	primary *btree.BTreeG[*record]
	indexes []*index // in creation order: GSIs and LSIs
	bytes   int64
	dropped bool // deleted: a writer that waited for mu finds it gone

	// Time to Live (ttl.go): ttlAttr is "" when disabled; expiry indexes
	// the items whose ttlAttr is a Number; ttlOn mirrors ttlAttr != "" for
	// the sweeper, which reads it without mu.
	ttlAttr string
	expiry  *btree.BTreeG[expiryEntry]
	ttlOn   atomic.Bool
	// Tags and point-in-time recovery (tags.go): reported, no effect.
	tags map[string]string
	pitr *pitrDef

	// Durability (durable.go); j is nil in memory.
	j       *journal.Journal
	path    [][]byte     // the items bucket's path
	pending []journal.Op // changes made under mu, for the next flush
	// last is the ticket of the last change recorded: a reader waits on it
	// before answering.
	last atomic.Pointer[journal.Ticket]
}

type attrDef struct {
	name, typ string
}

func newTable() *table {
	return &table{primary: btree.NewG(btreeDegree, lessRecord)}
}

func (t *table) index(name string) *index {
	for _, ix := range t.indexes {
		if ix.name == name {
			return ix
		}
	}
	return nil
}

// primaryKey validates the primary key attributes of it (an item or a Key)
// and returns their encoding. exact requires it to hold nothing else, as a
// Key parameter must.
func (t *table) primaryKey(it item, exact bool, forItem bool) (string, error) {
	if exact {
		want := 1
		if t.keys.hasRange() {
			want = 2
		}
		if len(it) != want {
			return "", errf("%s", msgKeyDoesNotMatch)
		}
	}
	b := make([]byte, 0, 64)
	for _, k := range []keyAttr{t.keys.hash, t.keys.rng} {
		if k.name == "" {
			continue
		}
		v, err := keyValue(it, k)
		switch {
		case v == nil && err == nil:
			if forItem {
				return "", errf("One or more parameter values were invalid: Missing the key %s in the item", k.name)
			}
			return "", errf("%s", msgKeyDoesNotMatch)
		case errors.Is(err, errEmptyKey):
			return "", errf("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", k.name)
		case err != nil:
			var ae *apiError
			if errors.As(err, &ae) {
				return "", ae
			}
			if forItem {
				t, _ := typeOf(v)
				return "", errf("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", k.name, k.typ, t)
			}
			return "", errf("%s", msgKeyDoesNotMatch)
		}
		if err := checkKeySize(k, v, k == t.keys.hash); err != nil {
			return "", err
		}
		b = appendKeyValue(b, k.typ, v)
	}
	return string(b), nil
}

// DynamoDB's key size limits: 2048 bytes for a partition key, 1024 for a
// sort key (a number is never too long: 38 digits at most).
const (
	maxHashKeyBytes  = 2048
	maxRangeKeyBytes = 1024
)

func checkKeySize(k keyAttr, v *types.Item, hash bool) error {
	n := 0
	switch k.typ {
	case "S":
		n = len(*v.S)
	case "B":
		n = len(v.B)
	}
	switch {
	case hash && n > maxHashKeyBytes:
		return errf("%s", msgHashKeyTooLong)
	case !hash && n > maxRangeKeyBytes:
		return errf("%s", msgRangeKeyTooLong)
	}
	return nil
}

// indexKey returns the entry key of it in ix, "" when it is not in the
// index (an index is sparse: items lacking its key attributes are left
// out), or an error when a key attribute has the wrong type or is empty.
func (ix *index) indexKey(it item, pk string) (string, error) {
	b := make([]byte, 0, 96)
	for _, k := range []keyAttr{ix.keys.hash, ix.keys.rng} {
		if k.name == "" {
			continue
		}
		v, err := keyValue(it, k)
		switch {
		case v == nil && err == nil:
			return "", nil
		case errors.Is(err, errEmptyKey):
			return "", errf("One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: %s, IndexKey: %s", ix.name, k.name)
		case err != nil:
			var ae *apiError
			if errors.As(err, &ae) {
				return "", ae
			}
			t, _ := typeOf(v)
			return "", errf("One or more parameter values were invalid: Type mismatch for Index Key %s Expected: %s Actual: %s IndexName: %s", k.name, k.typ, t, ix.name)
		}
		b = appendKeyValue(b, k.typ, v)
	}
	return string(append(b, pk...)), nil
}

// checkIndexKeys validates the index key attributes of an item about to be
// written.
func (t *table) checkIndexKeys(it item) error {
	for _, ix := range t.indexes {
		key, err := ix.indexKey(it, "")
		if err != nil {
			return err
		}
		if key == "" {
			continue // not in the index
		}
		// An index's keys are keys too: the table's size limits hold.
		if err := checkKeySize(ix.keys.hash, it[ix.keys.hash.name], true); err != nil {
			return err
		}
		if ix.keys.rng.name != "" {
			if err := checkKeySize(ix.keys.rng, it[ix.keys.rng.name], false); err != nil {
				return err
			}
		}
	}
	return nil
}

// get returns the record at primary key pk, or nil. Callers hold mu.
func (t *table) get(pk string) *record {
	r, ok := t.primary.Get(&record{key: pk})
	if !ok {
		return nil
	}
	return r
}

// getItem returns the decoded item at pk, or nil. Callers hold mu.
func (t *table) getItem(pk string) (*record, item, error) {
	r := t.get(pk)
	if r == nil {
		return nil, nil, nil
	}
	it, err := decodeItem(r.data)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: table %s: %w", t.name, err)
	}
	return r, it, nil
}

// store writes newItem (validated, of size size) at pk, replacing old (the
// record there, nil if none, whose decoded item is oldItem), keeps every
// index in step, and records the change. Callers hold mu exclusively.
func (t *table) store(pk string, old *record, oldItem, newItem item, size int) {
	data := encodeItem(newItem)
	t.record(journal.Put(t.itemsPath(), []byte(pk), data))
	if old == nil {
		t.insert(pk, data, newItem, size)
		return
	}
	t.untrackExpiry(old)
	t.trackExpiry(old, newItem)
	for _, ix := range t.indexes {
		ok, _ := ix.indexKey(oldItem, pk)
		nk, _ := ix.indexKey(newItem, pk)
		if ok == nk {
			continue
		}
		if ok != "" {
			ix.tree.Delete(indexEntry{key: ok})
		}
		if nk != "" {
			ix.tree.ReplaceOrInsert(indexEntry{key: nk, rec: old})
		}
	}
	t.bytes += int64(size) - int64(old.size)
	old.data, old.size = data, int32(size)
}

// insert adds a new record for it (encoded as data) at pk, and its index
// entries. Callers hold mu exclusively or own t.
func (t *table) insert(pk string, data []byte, it item, size int) {
	hashLen := len(appendKeyValue(nil, t.keys.hash.typ, it[t.keys.hash.name]))
	rec := &record{key: pk, data: data, size: int32(size), hashLen: int32(hashLen)}
	t.primary.ReplaceOrInsert(rec)
	t.trackExpiry(rec, it)
	t.bytes += int64(size)
	for _, ix := range t.indexes {
		if k, _ := ix.indexKey(it, pk); k != "" {
			ix.tree.ReplaceOrInsert(indexEntry{key: k, rec: rec})
		}
	}
}

// remove deletes the record old (whose item is oldItem) and records the
// change. Callers hold mu
// exclusively.
func (t *table) remove(old *record, oldItem item) {
	t.record(journal.Delete(t.itemsPath(), []byte(old.key)))
	t.primary.Delete(old)
	t.untrackExpiry(old)
	t.bytes -= int64(old.size)
	for _, ix := range t.indexes {
		if k, _ := ix.indexKey(oldItem, old.key); k != "" {
			ix.tree.Delete(indexEntry{key: k})
		}
	}
}

// project returns the attributes of it that ix holds.
func (t *table) project(ix *index, it item) item {
	if ix == nil || ix.projection == "ALL" {
		return it
	}
	out := make(item, 4+len(ix.nonKey))
	for _, k := range []keyAttr{t.keys.hash, t.keys.rng, ix.keys.hash, ix.keys.rng} {
		if v, ok := it[k.name]; ok && k.name != "" {
			out[k.name] = v
		}
	}
	for _, name := range ix.nonKey {
		if v, ok := it[name]; ok {
			out[name] = v
		}
	}
	return out
}

// keyOf returns the key attributes of it for paging: the table's key, and
// the index's when reading an index.
func (t *table) keyOf(ix *index, it item) item {
	out := make(item, 4)
	ks := []keyAttr{t.keys.hash, t.keys.rng}
	if ix != nil {
		ks = append(ks, ix.keys.hash, ix.keys.rng)
	}
	for _, k := range ks {
		if v, ok := it[k.name]; ok && k.name != "" {
			out[k.name] = v
		}
	}
	return out
}

// buildIndex fills a new index from the table's items. Callers hold mu
// exclusively.
func (t *table) buildIndex(ix *index) error {
	var err error
	t.primary.Ascend(func(r *record) bool {
		var it item
		if it, err = decodeItem(r.data); err != nil {
			return false
		}
		k, kerr := ix.indexKey(it, r.key)
		if kerr != nil || k == "" {
			return true // an item of the wrong type is left out, as a backfill does
		}
		ix.tree.ReplaceOrInsert(indexEntry{key: k, rec: r})
		return true
	})
	return err
}

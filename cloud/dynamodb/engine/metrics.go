package engine

import (
	"math"
	"strconv"
	"strings"
)

// Item collection metrics (ReturnItemCollectionMetrics=SIZE): on a table
// with a local secondary index, a write answers the item collection it
// changed (the items sharing its partition key) and an estimate of the
// collection's size in GB, a lower and an upper bound. A table without a
// local secondary index has no item collections: nothing is returned.

func checkCollectionMetrics(v string) error {
	switch v {
	case "", "NONE", "SIZE":
		return nil
	}
	return errf("1 validation error detected: Value '%s' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]", v)
}

// hasLocalIndex reports whether t has a local secondary index. locked:
// the caller holds t.mu.
func (t *table) hasLocalIndex(locked bool) bool {
	if !locked {
		t.mu.RLock()
		defer t.mu.RUnlock()
	}
	for _, ix := range t.indexes {
		if !ix.global {
			return true
		}
	}
	return false
}

// collectionMetrics returns the JSON of the ItemCollectionMetrics of the
// collection holding it (an item or a key of t), or nil when t has no
// local secondary index. locked: the caller holds t.mu.
func (t *table) collectionMetrics(it item, locked bool) []byte {
	if !t.hasLocalIndex(locked) {
		return nil
	}
	v := it[t.keys.hash.name]
	if v == nil {
		return nil
	}
	prefix := string(appendKeyValue(nil, t.keys.hash.typ, v))
	var size int64
	if !locked {
		t.mu.RLock()
	}
	t.primary.AscendGreaterOrEqual(&record{key: prefix}, func(r *record) bool {
		if !strings.HasPrefix(r.key, prefix) {
			return false
		}
		size += int64(r.size)
		return true
	})
	if !locked {
		t.mu.RUnlock()
	}
	lower := math.Floor(float64(size) / (1 << 30))
	b := append(make([]byte, 0, 128), `{"ItemCollectionKey":`...)
	b = appendJSONItem(b, item{t.keys.hash.name: v})
	b = append(b, `,"SizeEstimateRangeGB":[`...)
	b = strconv.AppendFloat(b, lower, 'f', 1, 64)
	b = append(b, ',')
	b = strconv.AppendFloat(b, lower+1, 'f', 1, 64)
	return append(b, "]}"...)
}

// withMember adds "name":value to the JSON object resp.
func withMember(resp []byte, name string, value []byte) []byte {
	if value == nil {
		return resp
	}
	out := make([]byte, 0, len(resp)+len(name)+len(value)+4)
	out = append(out, resp[:len(resp)-1]...)
	if len(resp) > 2 {
		out = append(out, ',')
	}
	out = appendJSONString(out, name)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, '}')
}

// tableMetrics gathers the collection metrics of a multi-table write
// (BatchWriteItem, TransactWriteItems): per table, one entry per item
// collection written, in order.
type tableMetrics struct {
	locked bool // the caller holds the tables' locks
	names  []string
	by     map[string][][]byte
	seen   map[string]bool
}

func (m *tableMetrics) add(t *table, it item) {
	v := it[t.keys.hash.name]
	if v == nil {
		return
	}
	id := t.name + "\x00" + string(appendKeyValue(nil, t.keys.hash.typ, v))
	if m.seen[id] {
		return
	}
	js := t.collectionMetrics(it, m.locked)
	if js == nil {
		return
	}
	if m.by == nil {
		m.by, m.seen = map[string][][]byte{}, map[string]bool{}
	}
	m.seen[id] = true
	if _, ok := m.by[t.name]; !ok {
		m.names = append(m.names, t.name)
	}
	m.by[t.name] = append(m.by[t.name], js)
}

// json returns {"Table":[metrics, …], …}, or nil when there are none.
func (m *tableMetrics) json() []byte {
	if len(m.names) == 0 {
		return nil
	}
	b := []byte{'{'}
	for i, name := range m.names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ":["...)
		for j, js := range m.by[name] {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, js...)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

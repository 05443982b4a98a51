package dynamodb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
)

// writeInput is what the journal needs of any item write: the tables and
// the items it names. It is decoded with encoding/json, as minidyn decodes
// the same request, so that both read the same names.
type writeInput struct {
	TableName    string
	Item         json.RawMessage
	Key          json.RawMessage
	RequestItems map[string][]struct {
		PutRequest    *struct{ Item json.RawMessage }
		DeleteRequest *struct{ Key json.RawMessage }
	}
	TransactItems []struct {
		Put    *transactItem
		Update *transactItem
		Delete *transactItem
	}
}

type transactItem struct {
	TableName string
	Item      json.RawMessage
	Key       json.RawMessage
}

// A target is one item a write names.
type target struct {
	table string
	kind  string          // "put", "delete" or "update"
	item  json.RawMessage // put: the item it writes
	key   json.RawMessage // delete, update: the item's key
	// before is the item before the write (nil: absent), read for a single
	// DeleteItem or UpdateItem so that a failed one can be told apart from
	// one that changed the item anyway.
	before json.RawMessage
	read   bool // before was read
}

// targets lists the items a write request names, in the order the engine
// applies them within each table.
func (s *Service) targets(op string, in *writeInput) []target {
	switch op {
	case "PutItem":
		return []target{{table: in.TableName, kind: "put", item: in.Item}}
	case "DeleteItem":
		return []target{{table: in.TableName, kind: "delete", key: in.Key}}
	case "UpdateItem":
		return []target{{table: in.TableName, kind: "update", key: in.Key}}
	case "BatchWriteItem":
		var ts []target
		for table, reqs := range in.RequestItems {
			for _, r := range reqs {
				switch {
				case r.PutRequest != nil:
					ts = append(ts, target{table: table, kind: "put", item: r.PutRequest.Item})
				case r.DeleteRequest != nil:
					ts = append(ts, target{table: table, kind: "delete", key: r.DeleteRequest.Key})
				}
			}
		}
		return ts
	case "TransactWriteItems":
		var ts []target
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				ts = append(ts, target{table: it.Put.TableName, kind: "put", item: it.Put.Item})
			case it.Update != nil:
				ts = append(ts, target{table: it.Update.TableName, kind: "update", key: it.Update.Key})
			case it.Delete != nil:
				ts = append(ts, target{table: it.Delete.TableName, kind: "delete", key: it.Delete.Key})
			}
		}
		return ts
	}
	return nil
}

// readBefore reads the item a single DeleteItem or UpdateItem names, before
// it is applied. The caller holds writeMu.
func (s *Service) readBefore(ts []target) {
	if len(ts) != 1 || ts[0].kind == "put" {
		return
	}
	img, err := s.readback(ts[0].table, ts[0].key)
	if err == nil {
		ts[0].before, ts[0].read = img, true
	}
}

// effects returns what a write the engine has just served changed, as the
// journal records it: the items it wrote, as the engine now holds them, and
// the keys of those it deleted. The caller holds writeMu, so no other write
// has touched these items since.
//
// A write that succeeded changed every item it names. One that failed
// usually changed nothing, but minidyn 0.8.2 does not always fail cleanly:
// a BatchWriteItem applies its requests one by one and stops at the first
// invalid one, keeping the others, and a PutItem or UpdateItem whose new
// item has a secondary-index key of the wrong type stores the item before
// it reports the error. So after a failure other than a failed condition or
// a cancelled transaction (both checked before anything changes), each
// named item is read back and journaled if the write changed it.
func (s *Service) effects(op string, ts []target, res *response) ([]effect, error) {
	failed := res.status != http.StatusOK
	if !failed && op == "BatchWriteItem" && hasUnprocessed(res.body.Bytes()) {
		failed = true // only some of it applied
	}
	if failed {
		switch res.errorType() {
		case "ConditionalCheckFailedException", "TransactionCanceledException":
			return nil, nil
		}
		if op == "TransactWriteItems" {
			return nil, nil // minidyn restores its tables when a transaction fails
		}
		return s.changed(ts), nil
	}
	var out []effect
	for _, t := range ts {
		switch t.kind {
		case "put":
			if len(t.item) == 0 {
				return nil, errUnnamed(op)
			}
			out = append(out, effect{Op: "put", Table: t.table, Item: t.item})
		case "delete":
			if len(t.key) == 0 {
				return nil, errUnnamed(op)
			}
			out = append(out, effect{Op: "delete", Table: t.table, Key: t.key})
		case "update":
			img, err := s.readback(t.table, t.key)
			if err != nil {
				return nil, fmt.Errorf("dynamodb: read back the item %s updated: %w", t.table, err)
			}
			out = append(out, imageEffect(t.table, t.key, img))
		}
	}
	return out, nil
}

// errUnnamed reports a write the engine applied but whose items this
// package could not name: journaling nothing would lose it at the next
// start, so the journal stops instead.
func errUnnamed(op string) error {
	return fmt.Errorf("dynamodb: %s succeeded but names no item the journal can record", op)
}

// changed returns, for a write that failed, the items it changed anyway.
func (s *Service) changed(ts []target) []effect {
	var out []effect
	for _, t := range ts {
		key := t.key
		if t.kind == "put" {
			k, err := s.keyOf(t.table, t.item)
			if err != nil {
				continue // no such table, or no key: the engine stored nothing
			}
			key = k
		}
		img, err := s.readback(t.table, key)
		if err != nil {
			continue // the engine cannot find it either
		}
		switch {
		case t.read:
			if !sameItem(img, t.before) {
				out = append(out, imageEffect(t.table, key, img))
			}
		case t.kind == "put":
			if sameItem(img, t.item) {
				out = append(out, effect{Op: "put", Table: t.table, Item: t.item})
			}
		case t.kind == "delete":
			if img == nil {
				out = append(out, effect{Op: "delete", Table: t.table, Key: key})
			}
		}
	}
	return out
}

// imageEffect records an item as the engine holds it: written, or absent.
func imageEffect(table string, key, img json.RawMessage) effect {
	if img == nil {
		return effect{Op: "delete", Table: table, Key: key}
	}
	return effect{Op: "put", Table: table, Item: img}
}

// readback returns the item with the given key as the engine holds it, or
// nil if there is none.
func (s *Service) readback(table string, key json.RawMessage) (json.RawMessage, error) {
	body, err := json.Marshal(struct {
		TableName      string
		Key            json.RawMessage
		ConsistentRead bool
	}{table, key, true})
	if err != nil {
		return nil, fmt.Errorf("encode GetItem: %w", err)
	}
	res := s.call("GetItem", body)
	if res.status != http.StatusOK {
		return nil, fmt.Errorf("GetItem: %s", bytes.TrimSpace(res.body.Bytes()))
	}
	var out struct{ Item json.RawMessage }
	if err := json.Unmarshal(res.body.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("decode GetItem: %w", err)
	}
	if len(out.Item) == 0 || bytes.Equal(out.Item, []byte("null")) {
		return nil, nil
	}
	return out.Item, nil
}

// keyOf returns the key attributes of an item of a table. The caller holds
// tableMu.
func (s *Service) keyOf(table string, item json.RawMessage) (json.RawMessage, error) {
	k, ok := s.tables[table]
	if !ok {
		return nil, fmt.Errorf("no table %s", table)
	}
	return k.of(item)
}

// of returns the key attributes of an item.
func (k *tableKeys) of(item json.RawMessage) (json.RawMessage, error) {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(item, &attrs); err != nil {
		return nil, fmt.Errorf("decode item: %w", err)
	}
	key := map[string]json.RawMessage{}
	for _, name := range []string{k.hash, k.rng} {
		if name == "" {
			continue
		}
		v, ok := attrs[name]
		if !ok {
			return nil, fmt.Errorf("item has no key attribute %s", name)
		}
		key[name] = v
	}
	return json.Marshal(key)
}

// sameItem reports whether two items in DynamoDB JSON are equal, however
// each is spaced or escaped (nil is no item).
func sameItem(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// hasUnprocessed reports whether a BatchWriteItem response left requests
// unprocessed.
func hasUnprocessed(body []byte) bool {
	var out struct {
		UnprocessedItems map[string][]json.RawMessage
	}
	_ = json.Unmarshal(body, &out)
	for _, reqs := range out.UnprocessedItems {
		if len(reqs) > 0 {
			return true
		}
	}
	return false
}

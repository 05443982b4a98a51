package dynamodb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/truora/minidyn/core"
	"github.com/truora/minidyn/types"
	"go.etcd.io/bbolt"
)

// folder folds journal effects into the snapshot buckets.
type folder struct {
	keys map[string]*tableKeyFunc // by table, built from the snapshot's own definitions
}

// tableKeyFunc computes an item's key as the engine does, with the
// engine's own function (core's key schema), so that two writes the
// engine takes for one item are one item in the snapshot too.
type tableKeyFunc struct {
	table *core.Table
}

func (f *folder) fold(tx *bbolt.Tx, e effect) error {
	tables, items := tx.Bucket(tablesBucket), tx.Bucket(itemsBucket)
	name := []byte(e.Table)
	if len(name) == 0 {
		return fmt.Errorf("%s effect names no table", e.Op)
	}
	switch e.Op {
	case "CreateTable":
		delete(f.keys, e.Table)
		def, err := json.Marshal([]effect{e})
		if err != nil {
			return fmt.Errorf("encode table %s: %w", e.Table, err)
		}
		if err := tables.Put(name, def); err != nil {
			return err
		}
		if items.Bucket(name) != nil {
			if err := items.DeleteBucket(name); err != nil {
				return err
			}
		}
		_, err = items.CreateBucket(name)
		return err
	case "UpdateTable":
		delete(f.keys, e.Table)
		ops, err := tableDef(tables, e.Table)
		if err != nil {
			return err
		}
		def, err := json.Marshal(append(ops, e))
		if err != nil {
			return fmt.Errorf("encode table %s: %w", e.Table, err)
		}
		return tables.Put(name, def)
	case "DeleteTable":
		delete(f.keys, e.Table)
		if err := tables.Delete(name); err != nil {
			return err
		}
		if items.Bucket(name) != nil {
			return items.DeleteBucket(name)
		}
		return nil
	case "put", "delete":
		b := items.Bucket(name)
		if b == nil {
			return fmt.Errorf("%s on table %s, which the snapshot does not hold", e.Op, e.Table)
		}
		kf, err := f.keyFunc(tables, e.Table)
		if err != nil {
			return err
		}
		if e.Op == "put" {
			id, err := kf.id(e.Item)
			if err != nil {
				return err
			}
			return b.Put(id, e.Item)
		}
		id, err := kf.id(e.Key)
		if err != nil {
			return err
		}
		return b.Delete(id)
	}
	return fmt.Errorf("unknown effect %q", e.Op)
}

// tableDef returns the effects that define a table in the snapshot.
func tableDef(tables *bbolt.Bucket, name string) ([]effect, error) {
	v := tables.Get([]byte(name))
	if v == nil {
		return nil, fmt.Errorf("table %s is not in the snapshot", name)
	}
	var ops []effect
	if err := json.Unmarshal(v, &ops); err != nil {
		return nil, fmt.Errorf("table %s: %w", name, err)
	}
	return ops, nil
}

func (f *folder) keyFunc(tables *bbolt.Bucket, name string) (*tableKeyFunc, error) {
	if kf, ok := f.keys[name]; ok {
		return kf, nil
	}
	ops, err := tableDef(tables, name)
	if err != nil {
		return nil, err
	}
	kf, err := newKeyFunc(name, ops)
	if err != nil {
		return nil, err
	}
	f.keys[name] = kf
	return kf, nil
}

// newKeyFunc builds a table's key function from its definition: the
// CreateTable's key schema and the attribute types every operation set.
func newKeyFunc(name string, ops []effect) (*tableKeyFunc, error) {
	t := core.NewTable(name)
	t.BillingMode = aws.String("PAY_PER_REQUEST") // only the key schema matters here
	var schema []*types.KeySchemaElement
	for _, op := range ops {
		var in struct {
			AttributeDefinitions []*types.AttributeDefinition
			KeySchema            []*types.KeySchemaElement
		}
		if err := json.Unmarshal(op.Request, &in); err != nil {
			return nil, fmt.Errorf("table %s: %s: %w", name, op.Op, err)
		}
		t.SetAttributeDefinition(in.AttributeDefinitions)
		if op.Op == "CreateTable" {
			schema = in.KeySchema
		}
	}
	if err := t.CreatePrimaryIndex(&types.CreateTableInput{KeySchema: schema}); err != nil {
		return nil, fmt.Errorf("table %s: key schema: %w", name, err)
	}
	return &tableKeyFunc{table: t}, nil
}

// id returns the snapshot key of an item, or of a key.
func (kf *tableKeyFunc) id(item json.RawMessage) ([]byte, error) {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(item, &attrs); err != nil {
		return nil, fmt.Errorf("decode item: %w", err)
	}
	ks := kf.table.KeySchema
	key := map[string]*types.Item{}
	for _, name := range []string{ks.HashKey, ks.RangeKey} {
		if v, ok := attrs[name]; ok && name != "" {
			var av types.Item
			if err := json.Unmarshal(v, &av); err != nil {
				return nil, fmt.Errorf("decode key attribute %s: %w", name, err)
			}
			key[name] = &av
		}
	}
	id, err := ks.GetKey(kf.table.AttributesDef, key)
	if err != nil {
		return nil, fmt.Errorf("table %s: item key: %w", kf.table.Name, err)
	}
	return append([]byte{'='}, id...), nil
}

// replay loads the snapshot and then the journal into the engine, and sets
// the journal's counters from what it read. A damaged file is an error,
// even where bbolt would panic reading it.
func (s *Service) replay(j *journal, log *slog.Logger) (err error) {
	start := time.Now()
	var tables, items, records int
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("dynamodb: replay %s: the file is damaged: %v", j.db.Path(), p)
		}
	}()
	err = j.db.View(func(tx *bbolt.Tx) error {
		itemsB := tx.Bucket(itemsBucket)
		err := tx.Bucket(tablesBucket).ForEach(func(name, v []byte) error {
			var ops []effect
			if err := json.Unmarshal(v, &ops); err != nil {
				return fmt.Errorf("snapshot of table %s: %w", name, err)
			}
			for _, op := range ops {
				if err := s.replayEffect(op); err != nil {
					return fmt.Errorf("snapshot of table %s: %w", name, err)
				}
			}
			tables++
			b := itemsB.Bucket(name)
			if b == nil {
				return fmt.Errorf("snapshot of table %s has no items bucket", name)
			}
			return b.ForEach(func(id, item []byte) error {
				if item == nil {
					return fmt.Errorf("snapshot of table %s: %q is a bucket, not an item", name, id)
				}
				items++
				if err := s.replayPut(string(name), item); err != nil {
					return fmt.Errorf("snapshot of table %s: %w", name, err)
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		var last uint64
		if v := tx.Bucket(metaBucket).Get(foldedKey); v != nil {
			if last, err = parseSeq(v); err != nil {
				return fmt.Errorf("%s %s: %w", metaBucket, foldedKey, err)
			}
		}
		err = tx.Bucket(journalBucket).ForEach(func(k, v []byte) error {
			seq, err := parseSeq(k)
			if err != nil {
				return err
			}
			if seq <= last {
				return fmt.Errorf("journal record %d follows record %d", seq, last)
			}
			var effects []effect
			if err := json.Unmarshal(v, &effects); err != nil {
				return fmt.Errorf("journal record %d: %w", seq, err)
			}
			for _, e := range effects {
				if err := s.replayEffect(e); err != nil {
					return fmt.Errorf("journal record %d: %w", seq, err)
				}
			}
			records++
			j.bytes += int64(len(v))
			last = seq
			return nil
		})
		if err != nil {
			return err
		}
		j.records = records
		j.next, j.durable = last+1, last
		return nil
	})
	if err != nil {
		return fmt.Errorf("dynamodb: replay %s: %w", j.db.Path(), err)
	}
	log.Info("dynamodb: replayed the snapshot and the journal",
		"tables", tables, "items", items, "journal_records", records, "duration", time.Since(start))
	return nil
}

// replayEffect applies one journaled effect to the engine.
func (s *Service) replayEffect(e effect) error {
	switch e.Op {
	case "CreateTable", "UpdateTable", "DeleteTable":
		res := s.call(e.Op, e.Request)
		if res.status != http.StatusOK {
			if e.Partial {
				return nil
			}
			return fmt.Errorf("%s %s: %s", e.Op, e.Table, bytes.TrimSpace(res.body.Bytes()))
		}
		s.trackTable(e.Op, e.Table, e.Request)
		return nil
	case "put":
		return s.replayPut(e.Table, e.Item)
	case "delete":
		body, err := json.Marshal(struct {
			TableName string
			Key       json.RawMessage
		}{e.Table, e.Key})
		if err != nil {
			return fmt.Errorf("encode DeleteItem: %w", err)
		}
		if res := s.call("DeleteItem", body); res.status != http.StatusOK {
			return fmt.Errorf("DeleteItem %s: %s", e.Table, bytes.TrimSpace(res.body.Bytes()))
		}
		return nil
	}
	return fmt.Errorf("unknown effect %q", e.Op)
}

// replayPut writes an item as the journal holds it. minidyn may store an
// item and still report an error (a secondary-index key of the wrong type,
// for one): the item counts as written if the engine now holds it.
func (s *Service) replayPut(table string, item []byte) error {
	body, err := json.Marshal(struct {
		TableName string
		Item      json.RawMessage
	}{table, item})
	if err != nil {
		return fmt.Errorf("encode PutItem: %w", err)
	}
	res := s.call("PutItem", body)
	if res.status == http.StatusOK {
		return nil
	}
	if k, ok := s.tables[table]; ok {
		if key, err := k.of(item); err == nil {
			if img, err := s.readback(table, key); err == nil && sameItem(img, item) {
				return nil
			}
		}
	}
	return fmt.Errorf("PutItem %s: %s", table, bytes.TrimSpace(res.body.Bytes()))
}

package engine_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
	"github.com/orderflow/orderflow/cloud/journal"
)

// eachBackend runs test on every backend the engine has, as subtests: in
// memory, and on a data file (every change journaled and waited for, as in
// the cloud). On the data file, the test's end state must then survive a
// restart: the engine is closed, opened again on the file, and every
// table's items and definition compared. A behaviour test that calls it
// cannot skip the durable backend.
func eachBackend(t *testing.T, test func(t *testing.T, e *engine.Engine)) {
	t.Run("in memory", func(t *testing.T) { test(t, engine.New()) })
	t.Run("on a data file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cloud.db")
		e, stop := openOnFile(t, path)
		test(t, e)
		if t.Failed() {
			return
		}
		before := dump(t, e)
		stop()
		e, _ = openOnFile(t, path)
		after := dump(t, e)
		if !slices.Equal(before, after) {
			t.Errorf("the state differs after a restart:\nbefore %s\n after %s", before, after)
		}
	})
}

// openOnFile opens an engine on the data file at path, closed (with the
// file) by stop, or when the test ends.
func openOnFile(t *testing.T, path string) (e *engine.Engine, stop func()) {
	t.Helper()
	db, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err = engine.Open(engine.Options{DB: db})
	if err != nil {
		db.Close()
		t.Fatalf("Open: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Errorf("close the file: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return e, stop
}

// dump lists every table's description (without its creation-independent
// status) and items, in order, as JSON lines.
func dump(t *testing.T, e *engine.Engine) []string {
	t.Helper()
	do := func(op string, in any, out any) {
		t.Helper()
		body, _ := json.Marshal(in)
		res, err := e.Do(op, body)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if err := json.Unmarshal(res, out); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	var tables struct{ TableNames []string }
	do("ListTables", map[string]any{}, &tables)
	var lines []string
	for _, name := range tables.TableNames {
		var d struct{ Table map[string]any }
		do("DescribeTable", map[string]any{"TableName": name}, &d)
		desc, _ := json.Marshal(d.Table)
		lines = append(lines, string(desc))
		var start any
		for {
			in := map[string]any{"TableName": name}
			if start != nil {
				in["ExclusiveStartKey"] = start
			}
			var page struct {
				Items            []map[string]any
				LastEvaluatedKey any
			}
			do("Scan", in, &page)
			for _, it := range page.Items {
				b, _ := json.Marshal(it) // attributes in name order
				lines = append(lines, name+" "+string(b))
			}
			if page.LastEvaluatedKey == nil {
				break
			}
			start = page.LastEvaluatedKey
		}
	}
	return lines
}

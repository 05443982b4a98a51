package lambda

// Durability of what Lambda's API creates. The functions a stack creates
// are its stack's: CloudFormation creates them again from the template.
// Those Lambda's API creates (CreateFunction) are kept in the cloud's data
// file, with their published versions, their aliases and the event source
// mappings that invoke them, and New restores them: zips and all, so that
// a function runs the same code after a restart. Changes the API makes to
// a stack's function are not kept: the stack's template is what it has
// after a restart.
//
// Layout, under the top-level bucket "lambda":
//
//	functions/<name>        the function's $LATEST: configuration and zip
//	versions/<name>:<n>     a published version: configuration and zip
//	seq/<name>              the last version number published
//	aliases/<name>:<alias>  the version an alias names, its description
//	mappings/<uuid>         an event source mapping's configuration
//
// Not kept: revision ids and modification times (new at each start), and
// the mappings' counters.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/journal"
)

var (
	rootBucket     = []byte("lambda")
	functionsBkt   = []byte("functions")
	versionsBkt    = []byte("versions")
	seqBkt         = []byte("seq")
	aliasesBkt     = []byte("aliases")
	mappingsBkt    = []byte("mappings")
	recordedFormat = uint64(1)
)

// ErrDataFile is the error of New when the data file holds Lambda records
// it cannot read.
var ErrDataFile = errors.New("lambda: unusable data in the data file")

func put(bucket []byte, key string, val []byte) journal.Op {
	return journal.Put(journal.Path(rootBucket, bucket), []byte(key), val)
}

func del(bucket []byte, key string) journal.Op {
	return journal.Delete(journal.Path(rootBucket, bucket), []byte(key))
}

func functionValue(f Function, zip []byte) []byte {
	e := journal.NewEncoder(len(zip) + 512)
	e.Uint(recordedFormat)
	e.Str(f.Name)
	e.Str(f.Runtime)
	e.Str(f.Handler)
	e.Str(strings.Join(f.Architectures, ","))
	e.Int(int64(f.MemoryMB))
	e.Int(int64(f.TimeoutSec))
	e.Bool(f.Environment != nil)
	e.StrMap(f.Environment)
	e.Str(f.Role)
	e.Str(f.LogGroup)
	e.Str(f.Description)
	e.Blob(zip)
	return e.Bytes()
}

func decodeFunction(v []byte) (Function, error) {
	d := journal.NewDecoder(v)
	if format := d.Uint(); d.Err() == nil && format != recordedFormat {
		return Function{}, fmt.Errorf("record format %d, want %d", format, recordedFormat)
	}
	f := Function{Name: d.Str(), Runtime: d.Str(), Handler: d.Str(), api: true}
	if arch := d.Str(); arch != "" {
		f.Architectures = strings.Split(arch, ",")
	}
	f.MemoryMB, f.TimeoutSec = int(d.Int()), int(d.Int())
	hasEnv := d.Bool()
	f.Environment = d.StrMap()
	if hasEnv && f.Environment == nil {
		f.Environment = map[string]string{}
	}
	f.Role, f.LogGroup, f.Description = d.Str(), d.Str(), d.Str()
	f.Zip = d.Blob()
	if f.Zip == nil {
		f.Zip = []byte{}
	}
	return f, d.Err()
}

func aliasValue(a Alias) []byte {
	e := journal.NewEncoder(256)
	e.Str(a.FunctionVersion)
	e.Str(a.Description)
	return e.Bytes()
}

func mappingValue(m EventSourceMapping, enabled bool) []byte {
	e := journal.NewEncoder(256)
	e.Str(m.EventSourceArn)
	e.Str(m.FunctionName)
	e.Bool(enabled)
	e.Int(int64(m.BatchSize))
	e.Int(int64(m.MaximumBatchingWindow))
	e.Bool(m.ReportBatchItemFailure)
	e.Int(int64(m.MaximumConcurrency))
	return e.Bytes()
}

// persist makes ops durable, when the host keeps a data file.
func (h *Host) persist(ops ...journal.Op) error {
	if h.opts.Journal == nil || len(ops) == 0 {
		return nil
	}
	if err := h.opts.Journal.Append(ops...).Wait(); err != nil {
		return fmt.Errorf("lambda: write the change to the data file: %w", err)
	}
	return nil
}

// functionRecord is the record of the function (or version) key as it is
// now, if Lambda's API made it; ok is false for a stack's function.
func (h *Host) functionRecord(key string) (journal.Op, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fn, ok := h.functions[key]
	if !ok || !fn.spec.api {
		return journal.Op{}, false
	}
	if fn.cfg.Version == "$LATEST" {
		return put(functionsBkt, key, functionValue(fn.spec, fn.code)), true
	}
	return put(versionsBkt, key, functionValue(fn.spec, fn.code)), true
}

// saveFunction records the function key (NAME or NAME:VERSION), with the
// last version number when it is a version.
func (h *Host) saveFunction(key string) error {
	op, ok := h.functionRecord(key)
	if !ok {
		return nil
	}
	ops := []journal.Op{op}
	if name, version, isVersion := strings.Cut(key, ":"); isVersion {
		h.mu.Lock()
		n := h.versions[name]
		h.mu.Unlock()
		ops = append(ops, put(seqBkt, name, []byte(strconv.Itoa(max(n, atoi(version))))))
	}
	return h.persist(ops...)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// forgetFunction records that the function name is deleted, with its
// versions and aliases (versions and aliases list them, as they were).
func (h *Host) forgetFunction(name string, versions []string, aliases []string) error {
	if h.opts.Journal == nil {
		return nil
	}
	ops := []journal.Op{del(functionsBkt, name), del(seqBkt, name)}
	for _, v := range versions {
		ops = append(ops, del(versionsBkt, name+":"+v))
	}
	for _, a := range aliases {
		ops = append(ops, del(aliasesBkt, name+":"+a))
	}
	return h.persist(ops...)
}

// saveAlias records the function name's alias, or its deletion (a nil
// alias), if Lambda's API made the function.
func (h *Host) saveAlias(name, alias string, a *Alias) error {
	h.mu.Lock()
	fn, ok := h.functions[name]
	h.mu.Unlock()
	if !ok || !fn.spec.api {
		return nil
	}
	if a == nil {
		return h.persist(del(aliasesBkt, name+":"+alias))
	}
	return h.persist(put(aliasesBkt, name+":"+alias, aliasValue(*a)))
}

// saveMapping records the mapping as it is now, or its deletion (gone),
// if Lambda's API made it and the function it invokes.
func (h *Host) saveMapping(mp *mapping, gone bool) error {
	fn := mp.fn()
	if !mp.api.Load() || !fn.spec.api {
		return nil
	}
	if gone {
		return h.persist(del(mappingsBkt, mp.id))
	}
	cfg := mp.cfg()
	cfg.FunctionName = fn.key
	return h.persist(put(mappingsBkt, mp.id, mappingValue(cfg, mp.running.Load())))
}

// restore creates again what the data file keeps. A function that can no
// longer be built here (its architecture cannot be emulated any more, say)
// is left out with a warning, as are the versions, aliases and mappings
// that need it.
func (h *Host) restore() error {
	type rec struct {
		key string
		val []byte
	}
	read := func(tx *bbolt.Tx, bucket []byte) []rec {
		var out []rec
		if root := tx.Bucket(rootBucket); root != nil {
			if b := root.Bucket(bucket); b != nil {
				b.ForEach(func(k, v []byte) error {
					out = append(out, rec{string(k), slices.Clone(v)})
					return nil
				})
			}
		}
		return out
	}
	var functions, versions, seqs, aliases, mappings []rec
	err := journal.Guard("lambda: load", func() error {
		return h.opts.DB.View(func(tx *bbolt.Tx) error {
			functions, versions, seqs = read(tx, functionsBkt), read(tx, versionsBkt), read(tx, seqBkt)
			aliases, mappings = read(tx, aliasesBkt), read(tx, mappingsBkt)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("lambda: open %s: %w", h.opts.DB.Path(), err)
	}
	warn := func(what, key string, err error) {
		h.opts.Logger.Warn("lambda: the data file keeps what can no longer be created here; it is left out", "what", what, "name", key, "err", err)
	}
	h.mu.Lock()
	for _, r := range functions {
		f, err := decodeFunction(r.val)
		if err != nil || f.Name != r.key {
			h.mu.Unlock()
			return fmt.Errorf("%w: function %s: %v", ErrDataFile, r.key, err)
		}
		fn, err := h.build(f, nil, "")
		if err != nil {
			warn("function", r.key, err)
			continue
		}
		h.functions[fn.key] = fn
	}
	slices.SortFunc(versions, func(a, b rec) int {
		an, av, _ := strings.Cut(a.key, ":")
		bn, bv, _ := strings.Cut(b.key, ":")
		return cmp.Or(strings.Compare(an, bn), atoi(av)-atoi(bv))
	})
	for _, r := range versions {
		f, err := decodeFunction(r.val)
		name, version, _ := strings.Cut(r.key, ":")
		if err != nil || f.Name != name || !isVersion(version) {
			h.mu.Unlock()
			return fmt.Errorf("%w: version %s: %v", ErrDataFile, r.key, err)
		}
		if _, ok := h.functions[name]; !ok {
			continue
		}
		fn, err := h.build(f, nil, version)
		if err != nil {
			warn("version", r.key, err)
			continue
		}
		h.functions[fn.key] = fn
	}
	for _, r := range seqs {
		h.versions[r.key] = atoi(string(r.val))
	}
	for _, r := range aliases {
		name, alias, _ := strings.Cut(r.key, ":")
		d := journal.NewDecoder(r.val)
		a := &Alias{Name: alias, FunctionVersion: d.Str(), Description: d.Str(), RevisionID: awsproto.NewRequestID()}
		if err := d.Err(); err != nil {
			h.mu.Unlock()
			return fmt.Errorf("%w: alias %s: %v", ErrDataFile, r.key, err)
		}
		if _, ok := h.functions[name]; !ok {
			continue
		}
		if h.aliases[name] == nil {
			h.aliases[name] = map[string]*Alias{}
		}
		h.aliases[name][alias] = a
	}
	h.mu.Unlock()
	for _, r := range mappings {
		d := journal.NewDecoder(r.val)
		m := EventSourceMapping{EventSourceArn: d.Str(), FunctionName: d.Str(), Enabled: d.Bool(), BatchSize: int(d.Int()),
			MaximumBatchingWindow: int(d.Int()), ReportBatchItemFailure: d.Bool(), MaximumConcurrency: int(d.Int())}
		if err := d.Err(); err != nil {
			return fmt.Errorf("%w: event source mapping %s: %v", ErrDataFile, r.key, err)
		}
		if _, err := h.createMapping(context.Background(), m, r.key); err != nil {
			warn("event source mapping", r.key, err)
			continue
		}
		h.mu.Lock()
		h.mappings[r.key].api.Store(true)
		h.mu.Unlock()
	}
	return nil
}

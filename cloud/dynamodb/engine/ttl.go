package engine

// Time to Live. A table with TTL enabled keeps an expiry index beside its
// primary tree: one entry per item whose TTL attribute is a Number, ordered
// by that number (epoch seconds), kept in step by insert, store and remove.
// The sweeper, driven by the engine's clock, walks only the entries that
// are due, and only on tables with TTL enabled, so its cost is the number of
// expired items, not the number of items. It deletes them through
// Engine.write and table.remove, the path DeleteItem takes, so a sweep's
// deletes are journaled like any other.

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/btree"

	"github.com/orderflow/orderflow/cloud/journal"
)

// DefaultTTLSweepInterval is how often expired items are looked for when
// Options.TTLSweepInterval is zero. AWS deletes within days; locally an
// expired item goes promptly.
const DefaultTTLSweepInterval = time.Second

// ttlMaxPast is how far in the past a TTL value may lie and still expire
// its item: AWS ignores items whose TTL is more than five years old.
const ttlMaxPast = 5 * 365 * 24 * 60 * 60

// maxSweepBatch bounds the deletes of one table in one write, so that a
// sweep never holds a table's lock for long; the rest waits for the next.
const maxSweepBatch = 1000

// expiryEntry orders a record in a table's expiry index: by its TTL second,
// then by its primary key.
type expiryEntry struct {
	at  int64
	key string
}

func lessExpiry(a, b expiryEntry) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.key < b.key
}

// ttlSeconds returns the expiry second of it under TTL attribute attr, and
// false when the attribute is absent or not a Number (such an item never
// expires).
func ttlSeconds(it item, attr string) (int64, bool) {
	v := it[attr]
	if v == nil || v.N == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(*v.N, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64, true
	case f <= math.MinInt64:
		return math.MinInt64, true
	}
	return int64(math.Floor(f)), true
}

// trackExpiry adds rec (holding it) to the expiry index. Callers hold mu
// exclusively or own t.
func (t *table) trackExpiry(rec *record, it item) {
	rec.hasExp = false
	if t.expiry == nil {
		return
	}
	if at, ok := ttlSeconds(it, t.ttlAttr); ok {
		rec.exp, rec.hasExp = at, true
		t.expiry.ReplaceOrInsert(expiryEntry{at, rec.key})
	}
}

// untrackExpiry removes rec from the expiry index.
func (t *table) untrackExpiry(rec *record) {
	if t.expiry != nil && rec.hasExp {
		t.expiry.Delete(expiryEntry{rec.exp, rec.key})
	}
	rec.hasExp = false
}

// setTTL enables TTL on attr ("" disables it), building the expiry index
// from the table's items. Callers hold mu exclusively or own t.
func (t *table) setTTL(attr string) error {
	t.ttlAttr = attr
	t.expiry = nil
	if attr == "" {
		t.ttlOn.Store(false)
		return nil
	}
	t.expiry = btree.NewG(btreeDegree, lessExpiry)
	var err error
	t.primary.Ascend(func(r *record) bool {
		var it item
		if it, err = decodeItem(r.data); err != nil {
			return false
		}
		t.trackExpiry(r, it)
		return true
	})
	t.ttlOn.Store(true)
	return err
}

type (
	ttlSpecification struct {
		Enabled       *bool   `json:",omitempty"`
		AttributeName *string `json:",omitempty"`
	}
	ttlDescription struct {
		TimeToLiveStatus string
		AttributeName    string `json:",omitempty"`
	}
)

func (e *Engine) updateTimeToLive(body []byte) ([]byte, error) {
	var in struct {
		TableName               string
		TimeToLiveSpecification *ttlSpecification
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := e.resolveTableName(in.TableName)
	if err != nil {
		return nil, err
	}
	spec := in.TimeToLiveSpecification
	switch {
	case spec == nil:
		return nil, errf("1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null")
	case spec.Enabled == nil:
		return nil, errf("1 validation error detected: Value null at 'timeToLiveSpecification.enabled' failed to satisfy constraint: Member must not be null")
	case spec.AttributeName == nil:
		return nil, errf("1 validation error detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null")
	case *spec.AttributeName == "":
		return nil, errf("1 validation error detected: Value '' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(*spec.AttributeName) > 255:
		return nil, errf("1 validation error detected: Value '%s' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255", *spec.AttributeName)
	}
	t, err := e.table(name)
	if err != nil {
		return nil, err
	}
	enable, attr := *spec.Enabled, *spec.AttributeName
	err = e.write([]*table{t}, func() error {
		switch {
		case enable && t.ttlAttr != "":
			return errf("TimeToLive is already enabled")
		case !enable && t.ttlAttr == "":
			return errf("TimeToLive is already disabled")
		case !enable && t.ttlAttr != attr:
			return errf("TimeToLive is active on a different AttributeName: current AttributeName is %s", t.ttlAttr)
		}
		next := ""
		if enable {
			next = attr
		}
		err := t.setTTL(next)
		t.record(journal.Put(tablesPath, []byte(t.name), t.encodeDef()))
		return err
	})
	if err != nil {
		return nil, err
	}
	if enable {
		e.scheduleSweep()
	}
	return marshal(struct{ TimeToLiveSpecification ttlSpecification }{ttlSpecification{&enable, &attr}})
}

func (e *Engine) describeTimeToLive(body []byte) ([]byte, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := e.resolveTableName(in.TableName)
	if err != nil {
		return nil, err
	}
	e.mu.RLock()
	t := e.tables[name]
	e.mu.RUnlock()
	if t == nil {
		return nil, errNotFound("Requested resource not found: Table: %s not found", name)
	}
	t.mu.RLock()
	d := ttlDescription{TimeToLiveStatus: "DISABLED"}
	if t.ttlAttr != "" {
		d = ttlDescription{TimeToLiveStatus: "ENABLED", AttributeName: t.ttlAttr}
	}
	t.mu.RUnlock()
	if err := t.settled(); err != nil {
		return nil, err
	}
	return marshal(struct{ TimeToLiveDescription ttlDescription }{d})
}

// scheduleSweep arms the sweeper if it is not armed: it runs while any
// table has TTL enabled, and not at all otherwise.
func (e *Engine) scheduleSweep() {
	e.sweepMu.Lock()
	defer e.sweepMu.Unlock()
	if e.sweepTimer != nil || e.sweepStopped {
		return
	}
	e.sweepTimer = e.opts.Clock.AfterFunc(e.opts.TTLSweepInterval, e.runSweep)
}

func (e *Engine) runSweep() {
	e.sweepMu.Lock()
	e.sweepTimer = nil
	if e.sweepStopped {
		e.sweepMu.Unlock()
		return
	}
	e.sweeping.Add(1) // under sweepMu: stopSweeper waits for it
	e.sweepMu.Unlock()
	more := e.sweep(e.opts.Clock.Now().Unix())
	e.sweeping.Done()
	if more {
		e.scheduleSweep()
	}
}

// stopSweeper disarms the sweeper and waits for a sweep under way.
func (e *Engine) stopSweeper() {
	e.sweepMu.Lock()
	e.sweepStopped = true
	if e.sweepTimer != nil {
		e.sweepTimer.Stop()
		e.sweepTimer = nil
	}
	e.sweepMu.Unlock()
	e.sweeping.Wait()
}

// sweep deletes the items of every TTL table whose TTL second is before
// now (and within five years of it), and reports whether any table still
// has TTL enabled.
func (e *Engine) sweep(now int64) bool {
	e.mu.RLock()
	var ts []*table
	for _, t := range e.tables {
		if t.ttlOn.Load() {
			ts = append(ts, t)
		}
	}
	e.mu.RUnlock()
	for _, t := range ts {
		e.sweepTable(t, now)
	}
	e.ttlSweeps.Add(1)
	return len(ts) > 0
}

func (e *Engine) sweepTable(t *table, now int64) {
	from := int64(math.MinInt64)
	if now > math.MinInt64+ttlMaxPast {
		from = now - ttlMaxPast
	}
	for {
		n := 0
		// The error is a dropped table, a closed engine or an unwritable
		// file: the next sweep, if any, tries again.
		_ = e.write([]*table{t}, func() error {
			if t.expiry == nil {
				return nil
			}
			var due []expiryEntry
			t.expiry.AscendRange(expiryEntry{at: from}, expiryEntry{at: now}, func(x expiryEntry) bool {
				due = append(due, x)
				return len(due) < maxSweepBatch
			})
			e.ttlVisited.Add(uint64(len(due)))
			for _, x := range due {
				r, it, err := t.getItem(x.key)
				if err != nil {
					return err
				}
				if r == nil {
					continue
				}
				t.remove(r, it)
				n++
			}
			return nil
		})
		if n < maxSweepBatch {
			return
		}
	}
}

// resolveTableName returns the table name a TableName parameter gives: a
// name, or a table ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME), which
// DynamoDB accepts wherever it takes a name. It validates the parameter
// before any table is looked up, as DynamoDB does.
func (e *Engine) resolveTableName(name string) (string, error) {
	if !strings.HasPrefix(name, "arn:") {
		return name, checkTableName(name, "tableName")
	}
	tn, ok, err := e.parseTableARN(name)
	if err != nil {
		return "", errf("1 validation error detected: Value '%s' at 'tableName' failed to satisfy constraint: Member must be a table name or a table ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)", name)
	}
	if !ok {
		return "", errNotFound("Requested resource not found: Table: %s not found", name)
	}
	return tn, nil
}

// parseTableARN splits a table ARN. ok is false for a well-formed ARN of
// another region or account, which names no table here; err is set for
// anything not a table ARN.
func (e *Engine) parseTableARN(arn string) (name string, ok bool, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "dynamodb" || parts[3] == "" || parts[4] == "" {
		return "", false, errf("Invalid TableArn: Invalid ResourceArn provided as input %s", arn)
	}
	name, found := strings.CutPrefix(parts[5], "table/")
	if !found || !validTableName(name) {
		return "", false, errf("Invalid TableArn: Invalid ResourceArn provided as input %s", arn)
	}
	return name, parts[3] == e.opts.Region && parts[4] == e.opts.AccountID, nil
}

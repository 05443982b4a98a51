package engine

import "fmt"

type writeCommon struct {
	TableName                           string
	ConditionExpression                 string
	ExpressionAttributeNames            map[string]string
	ExpressionAttributeValues           item
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	ReturnConsumedCapacity              string
	ReturnItemCollectionMetrics         string
	legacy
}

func (w *writeCommon) attrs() exprAttrs {
	return exprAttrs{names: w.ExpressionAttributeNames, values: w.ExpressionAttributeValues}
}

func checkReturnOnFailure(v string) error {
	switch v {
	case "", "NONE", "ALL_OLD":
		return nil
	}
	return errf("1 validation error detected: Value '%s' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]", v)
}

type putItemInput struct {
	writeCommon
	Item item
}

// preparedPut is a validated PutItem, ready to be applied under the lock.
type preparedPut struct {
	t    *table
	pk   string
	item item
	size int
	cond string
	a    exprAttrs
}

func (e *Engine) preparePut(tableName string, it item, cond string, a exprAttrs) (*preparedPut, error) {
	t, err := e.table(tableName)
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, errf("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
	}
	size, err := validateItem(it)
	if err != nil {
		return nil, err
	}
	if size > MaxItemBytes {
		return nil, errf("%s", msgItemTooLarge)
	}
	if err := a.check(labeled{"ConditionExpression", cond}); err != nil {
		return nil, err
	}
	pk, err := t.primaryKey(it, false, true)
	if err != nil {
		return nil, err
	}
	return &preparedPut{t: t, pk: pk, item: it, size: size, cond: cond, a: a}, nil
}

func (e *Engine) putItem(body []byte) ([]byte, error) {
	var in putItemInput
	if err := decodePut(body, &in); err != nil {
		return nil, err
	}
	if err := in.fromLegacy(nil); err != nil {
		return nil, err
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, errf("ReturnValues can only be ALL_OLD or NONE")
	}
	if err := checkReturnOnFailure(in.ReturnValuesOnConditionCheckFailure); err != nil {
		return nil, err
	}
	if err := checkCollectionMetrics(in.ReturnItemCollectionMetrics); err != nil {
		return nil, err
	}
	p, err := e.preparePut(in.TableName, in.Item, in.ConditionExpression, in.attrs())
	if err != nil {
		return nil, err
	}
	oldItem, err := e.runPut(p, in.ReturnValuesOnConditionCheckFailure == "ALL_OLD", in.ReturnValues == "ALL_OLD")
	if err != nil {
		return nil, err
	}
	resp := []byte("{}")
	if in.ReturnValues == "ALL_OLD" && oldItem != nil {
		resp = attributesResponse(oldItem)
	}
	return in.withMetrics(resp, p.t, p.item), nil
}

// withMetrics adds the ItemCollectionMetrics asked for to a write's
// response.
func (w *writeCommon) withMetrics(resp []byte, t *table, it item) []byte {
	if w.ReturnItemCollectionMetrics != "SIZE" {
		return resp
	}
	return withMember(resp, "ItemCollectionMetrics", t.collectionMetrics(it, false))
}

// runPut checks the condition and writes, holding the table's lock from
// the check to the write; it returns the replaced item, whole when
// wantOld (ReturnValues ALL_OLD), else only the attributes the write
// needed of it.
func (e *Engine) runPut(p *preparedPut, returnOld, wantOld bool) (oldItem item, err error) {
	t := p.t
	err = e.write([]*table{t}, func() error {
		if err := t.checkIndexKeys(p.item); err != nil {
			return err
		}
		var old *record
		var it item
		var err error
		if wantOld {
			old, it, err = e.checkCondition(t, p.pk, p.cond, p.a, returnOld)
		} else {
			old, it, err = e.checkConditionLean(t, p.pk, p.cond, p.a, returnOld)
		}
		if err != nil {
			return err
		}
		t.store(p.pk, old, it, p.item, p.size)
		oldItem = it
		return nil
	})
	return oldItem, err
}

func attributesResponse(it item) []byte {
	b := append(make([]byte, 0, 256), `{"Attributes":`...)
	b = appendJSONItem(b, it)
	return append(b, '}')
}

type getItemInput struct {
	TableName                string
	Key                      item
	ConsistentRead           *bool
	ProjectionExpression     string
	ExpressionAttributeNames map[string]string
	AttributesToGet          []string
	ReturnConsumedCapacity   string
}

func (e *Engine) getItem(body []byte) ([]byte, error) {
	var in getItemInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	it, err := e.readOne(in.TableName, in.Key, in.ProjectionExpression, in.ExpressionAttributeNames, in.AttributesToGet)
	if err != nil {
		return nil, err
	}
	if it == nil {
		return []byte("{}"), nil
	}
	b := append(make([]byte, 0, 256), `{"Item":`...)
	b = appendJSONItem(b, it)
	return append(b, '}'), nil
}

// readOne reads the item at key, projected; nil when there is none.
func (e *Engine) readOne(tableName string, key item, proj string, names map[string]string, toGet []string) (item, error) {
	t, err := e.table(tableName)
	if err != nil {
		return nil, err
	}
	pk, err := e.checkKey(t, key)
	if err != nil {
		return nil, err
	}
	a := exprAttrs{names: names}
	if proj != "" && len(toGet) > 0 {
		return nil, errf("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}")
	}
	if err := a.check(labeled{"ProjectionExpression", proj}); err != nil {
		return nil, err
	}
	t.mu.RLock()
	r := t.get(pk)
	var data []byte
	if r != nil {
		data = r.data
	}
	t.mu.RUnlock()
	if err := t.settled(); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, nil
	}
	it, err := decodeItem(data)
	if err != nil {
		return nil, err
	}
	if proj != "" {
		return e.projectItem(proj, it, a)
	}
	return attributesToGet(toGet, it), nil
}

// checkKey validates a Key parameter and returns its encoding.
func (e *Engine) checkKey(t *table, key item) (string, error) {
	if key == nil {
		return "", errf("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
	}
	for _, v := range key {
		if _, err := validateValue(v, 0); err != nil {
			return "", err
		}
	}
	return t.primaryKey(key, true, false)
}

type updateItemInput struct {
	writeCommon
	Key              item
	UpdateExpression string
}

func (e *Engine) updateItem(body []byte) ([]byte, error) {
	var in updateItemInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.fromLegacy(&in.UpdateExpression); err != nil {
		return nil, err
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW":
	default:
		return nil, errf("1 validation error detected: Value '%s' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]", in.ReturnValues)
	}
	if err := checkReturnOnFailure(in.ReturnValuesOnConditionCheckFailure); err != nil {
		return nil, err
	}
	if err := checkCollectionMetrics(in.ReturnItemCollectionMetrics); err != nil {
		return nil, err
	}
	u, err := e.prepareUpdate(in.TableName, in.Key, in.UpdateExpression, in.ConditionExpression, in.attrs())
	if err != nil {
		return nil, err
	}
	res, err := e.runUpdate(u, in.ReturnValuesOnConditionCheckFailure == "ALL_OLD")
	if err != nil {
		return nil, err
	}
	var out item
	switch in.ReturnValues {
	case "ALL_OLD":
		out = res.old
	case "ALL_NEW":
		out = res.next
	case "UPDATED_OLD":
		if res.old != nil {
			out = updatedAttributes(res.old, res.targets)
		}
	case "UPDATED_NEW":
		out = updatedAttributes(res.next, res.targets)
	}
	resp := []byte("{}")
	if len(out) > 0 {
		resp = attributesResponse(out)
	}
	return in.withMetrics(resp, u.t, in.Key), nil
}

// preparedUpdate is a validated UpdateItem, to run under the lock.
type preparedUpdate struct {
	t    *table
	pk   string
	key  item
	expr string
	cond string
	a    exprAttrs
}

func (e *Engine) prepareUpdate(tableName string, key item, expr, cond string, a exprAttrs) (*preparedUpdate, error) {
	t, err := e.table(tableName)
	if err != nil {
		return nil, err
	}
	pk, err := e.checkKey(t, key)
	if err != nil {
		return nil, err
	}
	if err := a.check(labeled{"UpdateExpression", expr}, labeled{"ConditionExpression", cond}); err != nil {
		return nil, err
	}
	if expr != "" {
		targets, err := updateTargets(expr, a.names)
		if err != nil {
			return nil, exprError("UpdateExpression", err)
		}
		for _, name := range targets {
			if name == t.keys.hash.name || name == t.keys.rng.name {
				return nil, errf("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", name)
			}
		}
	}
	return &preparedUpdate{t: t, pk: pk, key: key, expr: expr, cond: cond, a: a}, nil
}

type updateResult struct {
	old, next item
	targets   [][]pathStep
	rec       *record
	size      int
}

// evalUpdate checks the condition and computes the new item without
// writing it. Callers hold u.t.mu.
func (e *Engine) evalUpdate(u *preparedUpdate, returnOld bool) (*updateResult, error) {
	t := u.t
	old, oldItem, err := t.getItem(u.pk)
	if err != nil {
		return nil, err
	}
	if u.cond != "" {
		ok, err := e.match("ConditionExpression", u.cond, oldItem, u.a)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errConditionFailed(oldItem, returnOld)
		}
	}
	next, targets, err := e.applyUpdate(u.expr, oldItem, u.key, u.a)
	if err != nil {
		return nil, err
	}
	size, err := validateItem(next)
	if err != nil {
		return nil, err
	}
	if size > MaxItemBytes {
		return nil, errf("%s", msgUpdateTooLarge)
	}
	if err := t.checkIndexKeys(next); err != nil {
		return nil, err
	}
	return &updateResult{old: oldItem, next: next, targets: targets, rec: old, size: size}, nil
}

// runUpdate evaluates and applies an update under the table's lock.
func (e *Engine) runUpdate(u *preparedUpdate, returnOld bool) (res *updateResult, err error) {
	err = e.write([]*table{u.t}, func() error {
		r, err := e.evalUpdate(u, returnOld)
		if err != nil {
			return err
		}
		u.t.store(u.pk, r.rec, r.old, r.next, r.size)
		res = r
		return nil
	})
	return res, err
}

type deleteItemInput struct {
	writeCommon
	Key item
}

func (e *Engine) deleteItem(body []byte) ([]byte, error) {
	var in deleteItemInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.fromLegacy(nil); err != nil {
		return nil, err
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, errf("ReturnValues can only be ALL_OLD or NONE")
	}
	if err := checkReturnOnFailure(in.ReturnValuesOnConditionCheckFailure); err != nil {
		return nil, err
	}
	if err := checkCollectionMetrics(in.ReturnItemCollectionMetrics); err != nil {
		return nil, err
	}
	d, err := e.prepareDelete(in.TableName, in.Key, in.ConditionExpression, in.attrs())
	if err != nil {
		return nil, err
	}
	old, err := e.lockedDelete(d, in.ReturnValuesOnConditionCheckFailure == "ALL_OLD")
	if err != nil {
		return nil, err
	}
	resp := []byte("{}")
	if in.ReturnValues == "ALL_OLD" && old != nil {
		resp = attributesResponse(old)
	}
	return in.withMetrics(resp, d.t, in.Key), nil
}

type preparedDelete struct {
	t    *table
	pk   string
	key  item
	cond string
	a    exprAttrs
}

func (e *Engine) prepareDelete(tableName string, key item, cond string, a exprAttrs) (*preparedDelete, error) {
	t, err := e.table(tableName)
	if err != nil {
		return nil, err
	}
	pk, err := e.checkKey(t, key)
	if err != nil {
		return nil, err
	}
	if err := a.check(labeled{"ConditionExpression", cond}); err != nil {
		return nil, err
	}
	return &preparedDelete{t: t, pk: pk, key: key, cond: cond, a: a}, nil
}

// checkCondition evaluates cond on the item at pk. Callers hold t.mu.
func (e *Engine) checkCondition(t *table, pk, cond string, a exprAttrs, returnOld bool) (*record, item, error) {
	r, it, err := t.getItem(pk)
	if err != nil || cond == "" {
		return r, it, err
	}
	ok, err := e.match("ConditionExpression", cond, it, a)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, errConditionFailed(it, returnOld)
	}
	return r, it, nil
}

// checkConditionLean is checkCondition for a write that needs of the
// item it replaces only what its condition reads and the item's index
// keys (t.store's use of it): it decodes those attributes alone, and the
// others only for a failed condition that returns the item. Evaluating the
// condition on those attributes is evaluating it on the item: a
// condition reads nothing but the attributes its paths name. When it
// cannot tell which those are, it decodes the whole item. Callers hold
// t.mu exclusively.
func (e *Engine) checkConditionLean(t *table, pk, cond string, a exprAttrs, returnOld bool) (*record, item, error) {
	r := t.get(pk)
	if r == nil {
		// No item: what checkCondition does then, without a second look.
		if cond == "" {
			return nil, nil, nil
		}
		ok, err := e.match("ConditionExpression", cond, nil, a)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, errConditionFailed(nil, returnOld)
		}
		return nil, nil, nil
	}
	var buf [16]string
	names := buf[:0]
	if cond != "" {
		p, err := parsedConditions.parse(cond)
		if err != nil {
			return e.checkCondition(t, pk, cond, a, returnOld) // which reports it
		}
		var ok bool
		if names, ok = p.attributes(names, a.names); !ok {
			return e.checkCondition(t, pk, cond, a, returnOld)
		}
	}
	for _, ix := range t.indexes {
		names = append(names, ix.keys.hash.name)
		if ix.keys.rng.name != "" {
			names = append(names, ix.keys.rng.name)
		}
	}
	it, err := decodeAttrs(r.data, names)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: table %s: %w", t.name, err)
	}
	if cond == "" {
		return r, it, nil
	}
	ok, err := e.match("ConditionExpression", cond, it, a)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		if returnOld {
			// The rest of the item, for the answer.
			if err := decodeOthers(r.data, it, names); err != nil {
				return nil, nil, fmt.Errorf("engine: table %s: %w", t.name, err)
			}
		}
		return nil, nil, errConditionFailed(it, returnOld)
	}
	return r, it, nil
}

func (e *Engine) lockedDelete(d *preparedDelete, returnOld bool) (old item, err error) {
	err = e.write([]*table{d.t}, func() error {
		old, err = e.runDelete(d, returnOld)
		return err
	})
	return old, err
}

// runDelete checks and applies a delete, returning the old item. Callers
// hold d.t.mu exclusively.
func (e *Engine) runDelete(d *preparedDelete, returnOld bool) (item, error) {
	r, it, err := e.checkCondition(d.t, d.pk, d.cond, d.a, returnOld)
	if err != nil {
		return nil, err
	}
	if r != nil {
		d.t.remove(r, it)
	}
	return it, nil
}

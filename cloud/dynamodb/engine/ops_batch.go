package engine

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/orderflow/orderflow/cloud/journal"
)

const (
	maxBatchWrite = 25
	maxBatchGet   = 100
	maxTransact   = 100
)

type batchWriteInput struct {
	RequestItems map[string][]struct {
		PutRequest *struct {
			Item item
		}
		DeleteRequest *struct {
			Key item
		}
	}
	ReturnConsumedCapacity      string
	ReturnItemCollectionMetrics string
}

// batchWriteItem applies up to 25 puts and deletes. Each is atomic on its
// own item; the batch is not a transaction. Nothing is left unprocessed:
// the engine has no throughput to run out of.
func (e *Engine) batchWriteItem(body []byte) ([]byte, error) {
	var in batchWriteInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.RequestItems) == 0 {
		return nil, errf("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if err := checkCollectionMetrics(in.ReturnItemCollectionMetrics); err != nil {
		return nil, err
	}
	type write struct {
		put *preparedPut
		del *preparedDelete
	}
	var (
		writes []write
		tables []*table
		n      int
	)
	for _, name := range sortedTableNames(in.RequestItems) {
		reqs := in.RequestItems[name]
		if len(reqs) == 0 {
			return nil, errf("1 validation error detected: Value '{%s=[]}' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]", name)
		}
		n += len(reqs)
		if n > maxBatchWrite {
			return nil, errf("Too many items requested for the BatchWriteItem call")
		}
		seen := map[string]bool{}
		for _, r := range reqs {
			var w write
			var pk string
			switch {
			case r.PutRequest != nil && r.DeleteRequest == nil:
				p, err := e.preparePut(name, r.PutRequest.Item, "", exprAttrs{})
				if err != nil {
					return nil, err
				}
				w.put, pk = p, p.pk
				tables = append(tables, p.t)
			case r.DeleteRequest != nil && r.PutRequest == nil:
				d, err := e.prepareDelete(name, r.DeleteRequest.Key, "", exprAttrs{})
				if err != nil {
					return nil, err
				}
				w.del, pk = d, d.pk
				tables = append(tables, d.t)
			default:
				return nil, errf("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
			}
			if seen[pk] {
				return nil, errf("Provided list of item keys contains duplicates")
			}
			seen[pk] = true
			writes = append(writes, w)
		}
	}
	err := e.write(tables, func() error {
		for _, w := range writes { // a batch is validated whole before any write
			if w.put != nil {
				if err := w.put.t.checkIndexKeys(w.put.item); err != nil {
					return err
				}
			}
		}
		for _, w := range writes {
			if w.put != nil {
				p := w.put
				old, oldItem, err := p.t.getItem(p.pk)
				if err != nil {
					return err
				}
				p.t.store(p.pk, old, oldItem, p.item, p.size)
				continue
			}
			if _, err := e.runDelete(w.del, false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	resp := []byte(`{"UnprocessedItems":{}}`)
	if in.ReturnItemCollectionMetrics == "SIZE" {
		var m tableMetrics
		for _, w := range writes {
			if w.put != nil {
				m.add(w.put.t, w.put.item)
			} else {
				m.add(w.del.t, w.del.key)
			}
		}
		resp = withMember(resp, "ItemCollectionMetrics", m.json())
	}
	return resp, nil
}

func sortedTableNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type keysAndAttributes struct {
	Keys                     []item
	ProjectionExpression     string
	ExpressionAttributeNames map[string]string
	AttributesToGet          []string
	ConsistentRead           *bool
}

func (e *Engine) batchGetItem(body []byte) ([]byte, error) {
	var in struct {
		RequestItems           map[string]keysAndAttributes
		ReturnConsumedCapacity string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.RequestItems) == 0 {
		return nil, errf("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	n := 0
	for _, name := range sortedTableNames(in.RequestItems) {
		ka := in.RequestItems[name]
		n += len(ka.Keys)
		if n > maxBatchGet {
			return nil, errf("Too many items requested for the BatchGetItem call")
		}
		if len(ka.Keys) == 0 {
			return nil, errf("1 validation error detected: Value at 'requestItems.%s.member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1", name)
		}
		t, err := e.table(name)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, k := range ka.Keys {
			pk, err := e.checkKey(t, k)
			if err != nil {
				return nil, err
			}
			if seen[pk] {
				return nil, errf("Provided list of item keys contains duplicates")
			}
			seen[pk] = true
		}
	}
	out := append(make([]byte, 0, 1024), `{"Responses":{`...)
	for i, name := range sortedTableNames(in.RequestItems) {
		ka := in.RequestItems[name]
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, name)
		out = append(out, ":["...)
		first := true
		for _, k := range ka.Keys {
			it, err := e.readOne(name, k, ka.ProjectionExpression, ka.ExpressionAttributeNames, ka.AttributesToGet)
			if err != nil {
				return nil, err
			}
			if it == nil {
				continue
			}
			if !first {
				out = append(out, ',')
			}
			first = false
			out = appendJSONItem(out, it)
		}
		out = append(out, ']')
	}
	return append(out, `},"UnprocessedKeys":{}}`...), nil
}

type txCommon struct {
	TableName                           string
	ConditionExpression                 string
	ExpressionAttributeNames            map[string]string
	ExpressionAttributeValues           item
	ReturnValuesOnConditionCheckFailure string
}

func (c *txCommon) attrs() exprAttrs {
	return exprAttrs{names: c.ExpressionAttributeNames, values: c.ExpressionAttributeValues}
}

type transactWriteInput struct {
	TransactItems []struct {
		ConditionCheck *struct {
			txCommon
			Key item
		}
		Put *struct {
			txCommon
			Item item
		}
		Delete *struct {
			txCommon
			Key item
		}
		Update *struct {
			txCommon
			Key              item
			UpdateExpression string
		}
	}
	ClientRequestToken          *string
	ReturnConsumedCapacity      string
	ReturnItemCollectionMetrics string
}

// txOp is one validated operation of a transaction.
type txOp struct {
	t         *table
	pk        string
	cond      string
	a         exprAttrs
	returnOld bool
	put       *preparedPut
	update    *preparedUpdate
	del       bool
	key       item // a Delete's key

	// filled while checking, under the locks
	old     *record
	oldItem item
	res     *updateResult
}

// transactWriteItems applies all its operations or none: every table they
// touch is locked, every condition checked, and only then is anything
// written.
func (e *Engine) transactWriteItems(body []byte) ([]byte, error) {
	var in transactWriteInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.TransactItems) == 0 {
		return nil, errf("1 validation error detected: Value '[]' at 'transactItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(in.TransactItems) > maxTransact {
		return nil, errf("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to %d", maxTransact)
	}
	if in.ClientRequestToken != nil {
		return e.idempotentTransaction(body, &in)
	}
	return e.runTransaction(&in, nil)
}

// idempotentTransaction runs a transaction that carries a client request
// token: a replay within the token's window answers as the first request
// did without writing.
func (e *Engine) idempotentTransaction(body []byte, in *transactWriteInput) ([]byte, error) {
	token := *in.ClientRequestToken
	if err := checkToken(token); err != nil {
		return nil, err
	}
	hash, err := requestHash(body)
	if err != nil {
		return nil, err
	}
	replay, err := e.tokens.begin(token, hash, e.opts.Now())
	if err != nil || replay != nil {
		return replay, err
	}
	var at time.Time
	resp, err := e.runTransaction(in, func(resp []byte) journal.Op {
		at = e.opts.Now()
		return tokenRecord(token, hash, at, resp)
	})
	e.tokens.finish(token, resp, err == nil, at)
	return resp, err
}

// runTransaction validates and applies a decoded TransactWriteItems.
// With a token, the record it makes of the response is journaled in the
// transaction's own commit, so that a crash keeps both or neither.
func (e *Engine) runTransaction(in *transactWriteInput, token func(resp []byte) journal.Op) ([]byte, error) {
	if err := checkCollectionMetrics(in.ReturnItemCollectionMetrics); err != nil {
		return nil, err
	}
	ops := make([]*txOp, 0, len(in.TransactItems))
	seen := map[string]bool{}
	var tables []*table
	for _, ti := range in.TransactItems {
		op, err := e.prepareTxOp(ti)
		if err != nil {
			return nil, err
		}
		id := op.t.name + "\x00" + op.pk
		if seen[id] {
			return nil, errf("%s", msgMultipleOpsOneItem)
		}
		seen[id] = true
		ops = append(ops, op)
		tables = append(tables, op.t)
	}
	var resp []byte
	err := e.write(tables, func() error {
		reasons := make([]cancellationReason, len(ops))
		failed := false
		for i, op := range ops {
			reasons[i] = cancellationReason{Code: "None"}
			var err error
			switch {
			case op.update != nil:
				op.res, err = e.evalUpdate(op.update, op.returnOld)
			case op.put != nil:
				if err = op.t.checkIndexKeys(op.put.item); err != nil {
					return err
				}
				fallthrough
			default:
				op.old, op.oldItem, err = e.checkCondition(op.t, op.pk, op.cond, op.a, op.returnOld)
			}
			if err == nil {
				continue
			}
			ae := asAPIError(err)
			if ae.code != codeConditionFailed {
				return err
			}
			failed = true
			reasons[i] = cancellationReason{Code: "ConditionalCheckFailed", Message: msgConditionFailed}
			if ae.hasItem {
				reasons[i].Item = ae.item
			}
		}
		if failed {
			codes := make([]string, len(reasons))
			for i, r := range reasons {
				codes[i] = r.Code
			}
			return &apiError{
				status:  http.StatusBadRequest,
				code:    codeTxCanceled,
				msg:     "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
				reasons: reasons,
			}
		}
		for _, op := range ops {
			switch {
			case op.put != nil:
				op.t.store(op.pk, op.old, op.oldItem, op.put.item, op.put.size)
			case op.update != nil:
				op.t.store(op.pk, op.res.rec, op.res.old, op.res.next, op.res.size)
			case op.del && op.old != nil:
				op.t.remove(op.old, op.oldItem)
			}
		}
		resp = txResponse(in, ops)
		if token != nil {
			ops[0].t.record(token(resp))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// txResponse is a transaction's answer. Callers hold the tables' locks.
func txResponse(in *transactWriteInput, ops []*txOp) []byte {
	resp := []byte("{}")
	if in.ReturnItemCollectionMetrics == "SIZE" {
		m := tableMetrics{locked: true}
		for _, op := range ops {
			switch {
			case op.put != nil:
				m.add(op.t, op.put.item)
			case op.update != nil:
				m.add(op.t, op.update.key)
			case op.del:
				m.add(op.t, op.key)
			}
		}
		resp = withMember(resp, "ItemCollectionMetrics", m.json())
	}
	return resp
}

func (e *Engine) prepareTxOp(ti struct {
	ConditionCheck *struct {
		txCommon
		Key item
	}
	Put *struct {
		txCommon
		Item item
	}
	Delete *struct {
		txCommon
		Key item
	}
	Update *struct {
		txCommon
		Key              item
		UpdateExpression string
	}
}) (*txOp, error) {
	n := 0
	for _, set := range []bool{ti.ConditionCheck != nil, ti.Put != nil, ti.Delete != nil, ti.Update != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errf("TransactItems can only contain one of Check, Put, Update or Delete")
	}
	var c *txCommon
	op := &txOp{}
	switch {
	case ti.ConditionCheck != nil:
		c = &ti.ConditionCheck.txCommon
		if c.ConditionExpression == "" {
			return nil, errf("1 validation error detected: Value null at 'transactItems.1.member.conditionCheck.conditionExpression' failed to satisfy constraint: Member must not be null")
		}
		d, err := e.prepareDelete(c.TableName, ti.ConditionCheck.Key, c.ConditionExpression, c.attrs())
		if err != nil {
			return nil, err
		}
		op.t, op.pk = d.t, d.pk
	case ti.Put != nil:
		c = &ti.Put.txCommon
		p, err := e.preparePut(c.TableName, ti.Put.Item, c.ConditionExpression, c.attrs())
		if err != nil {
			return nil, err
		}
		op.t, op.pk, op.put = p.t, p.pk, p
	case ti.Delete != nil:
		c = &ti.Delete.txCommon
		d, err := e.prepareDelete(c.TableName, ti.Delete.Key, c.ConditionExpression, c.attrs())
		if err != nil {
			return nil, err
		}
		op.t, op.pk, op.del, op.key = d.t, d.pk, true, d.key
	default:
		c = &ti.Update.txCommon
		if ti.Update.UpdateExpression == "" {
			return nil, errf("1 validation error detected: Value null at 'transactItems.1.member.update.updateExpression' failed to satisfy constraint: Member must not be null")
		}
		u, err := e.prepareUpdate(c.TableName, ti.Update.Key, ti.Update.UpdateExpression, c.ConditionExpression, c.attrs())
		if err != nil {
			return nil, err
		}
		op.t, op.pk, op.update = u.t, u.pk, u
	}
	if err := checkReturnOnFailure(c.ReturnValuesOnConditionCheckFailure); err != nil {
		return nil, err
	}
	op.cond, op.a, op.returnOld = c.ConditionExpression, c.attrs(), c.ReturnValuesOnConditionCheckFailure == "ALL_OLD"
	return op, nil
}

func (e *Engine) transactGetItems(body []byte) ([]byte, error) {
	var in struct {
		TransactItems []struct {
			Get *struct {
				TableName                string
				Key                      item
				ProjectionExpression     string
				ExpressionAttributeNames map[string]string
			}
		}
		ReturnConsumedCapacity string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.TransactItems) == 0 {
		return nil, errf("1 validation error detected: Value '[]' at 'transactItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(in.TransactItems) > maxTransact {
		return nil, errf("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to %d", maxTransact)
	}
	type get struct {
		t    *table
		pk   string
		proj string
		a    exprAttrs
	}
	gets := make([]get, 0, len(in.TransactItems))
	var tables []*table
	seen := map[string]bool{}
	for _, ti := range in.TransactItems {
		g := ti.Get
		if g == nil {
			return nil, errf("1 validation error detected: Value null at 'transactItems.1.member.get' failed to satisfy constraint: Member must not be null")
		}
		t, err := e.table(g.TableName)
		if err != nil {
			return nil, err
		}
		pk, err := e.checkKey(t, g.Key)
		if err != nil {
			return nil, err
		}
		a := exprAttrs{names: g.ExpressionAttributeNames}
		if err := a.check(labeled{"ProjectionExpression", g.ProjectionExpression}); err != nil {
			return nil, err
		}
		if seen[t.name+"\x00"+pk] {
			return nil, errf("%s", msgMultipleOpsOneItem)
		}
		seen[t.name+"\x00"+pk] = true
		gets = append(gets, get{t, pk, g.ProjectionExpression, a})
		tables = append(tables, t)
	}
	datas := make([][]byte, len(gets))
	unlock := lockTables(tables, false)
	for i, g := range gets {
		if r := g.t.get(g.pk); r != nil {
			datas[i] = r.data
		}
	}
	unlock()
	for _, t := range tables {
		if err := t.settled(); err != nil {
			return nil, err
		}
	}
	out := append(make([]byte, 0, 1024), `{"Responses":[`...)
	for i, g := range gets {
		if i > 0 {
			out = append(out, ',')
		}
		if datas[i] == nil {
			out = append(out, "{}"...)
			continue
		}
		it, err := decodeItem(datas[i])
		if err != nil {
			return nil, err
		}
		if it, err = e.projectItem(g.proj, it, g.a); err != nil {
			return nil, err
		}
		out = append(out, `{"Item":`...)
		out = appendJSONItem(out, it)
		out = append(out, '}')
	}
	return append(out, "]}"...), nil
}

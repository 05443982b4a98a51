package engine

import (
	"bytes"
	"hash/fnv"
	"strconv"
)

// maxPageBytes is DynamoDB's page size: a Query or Scan stops once it has
// read 1 MB of items and returns LastEvaluatedKey.
const maxPageBytes = 1 << 20

type readInput struct {
	TableName                 string
	IndexName                 string
	KeyConditionExpression    string
	FilterExpression          string
	ProjectionExpression      string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues item
	ExclusiveStartKey         item
	Limit                     *int32
	ScanIndexForward          *bool
	Select                    string
	ConsistentRead            *bool
	AttributesToGet           []string
	ReturnConsumedCapacity    string
	Segment                   *int32
	TotalSegments             *int32
	legacy
}

func (e *Engine) query(body []byte) ([]byte, error) {
	var in readInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return e.read(&in, false)
}

func (e *Engine) scan(body []byte) ([]byte, error) {
	var in readInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return e.read(&in, true)
}

// candidate is an item read under the lock, processed after it.
type candidate struct {
	data []byte
}

// read runs a Query (scan false) or a Scan.
func (e *Engine) read(in *readInput, scan bool) ([]byte, error) {
	if err := in.legacy.check(); err != nil {
		return nil, err
	}
	t, err := e.table(in.TableName)
	if err != nil {
		return nil, err
	}
	var ix *index
	if in.IndexName != "" {
		if ix = t.lockedIndex(in.IndexName); ix == nil {
			return nil, errf("The table does not have the specified index: %s", in.IndexName)
		}
		if ix.global && in.ConsistentRead != nil && *in.ConsistentRead {
			return nil, errf("Consistent reads are not supported on global secondary indexes")
		}
	}
	limit := -1
	if in.Limit != nil {
		if *in.Limit < 1 {
			return nil, errf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *in.Limit)
		}
		limit = int(*in.Limit)
	}
	if err := checkSelect(in, ix); err != nil {
		return nil, err
	}
	a := exprAttrs{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues}
	exprs := []labeled{{"FilterExpression", in.FilterExpression}, {"ProjectionExpression", in.ProjectionExpression}}
	if !scan {
		exprs = append(exprs, labeled{"KeyConditionExpression", in.KeyConditionExpression})
	} else if in.KeyConditionExpression != "" {
		return nil, errf("Can not use KeyConditionExpression in a Scan")
	}
	if err := a.check(exprs...); err != nil {
		return nil, err
	}
	var segment, segments uint32
	if scan && (in.Segment != nil || in.TotalSegments != nil) {
		switch {
		case in.TotalSegments == nil:
			return nil, errf("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
		case in.Segment == nil:
			return nil, errf("The Segment parameter is required but was not present in the request when parameter TotalSegments is present")
		case *in.TotalSegments < 1 || *in.TotalSegments > 1000000:
			return nil, errf("1 validation error detected: Value '%d' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000 and greater than or equal to 1", *in.TotalSegments)
		case *in.Segment < 0 || *in.Segment >= *in.TotalSegments:
			return nil, errf("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: %d is not less than TotalSegments: %d", *in.Segment, *in.TotalSegments)
		}
		segment, segments = uint32(*in.Segment), uint32(*in.TotalSegments)
	}

	keys := t.keys
	if ix != nil {
		keys = ix.keys
	}
	var plan *keyPlan
	if !scan {
		if plan, err = planKeyCondition(in.KeyConditionExpression, keys, a); err != nil {
			return nil, err
		}
	}
	forward := scan || in.ScanIndexForward == nil || *in.ScanIndexForward

	var start []byte
	if in.ExclusiveStartKey != nil {
		if start, err = t.startKey(ix, in.ExclusiveStartKey); err != nil {
			return nil, err
		}
		if plan != nil && !bytes.HasPrefix(start, plan.prefix) {
			return nil, errf("The provided starting key is invalid: The provided key element does not match the schema")
		}
	}

	// Under the read lock only pick the records: decoding, filtering and
	// projecting happen after it, on data slices that are never changed.
	var (
		picked    []candidate
		bytesIn   int
		stopped   bool // by Limit or the page size: LastEvaluatedKey follows
		pivot     []byte
		inclusive bool
	)
	if plan != nil {
		if forward {
			pivot, inclusive = plan.lowerPivot(), true
			if start != nil && bytes.Compare(start, pivot) >= 0 {
				pivot, inclusive = start, false
			}
		} else {
			pivot, inclusive = plan.upperPivot(), false
			if start != nil && (pivot == nil || bytes.Compare(start, pivot) < 0) {
				pivot = start
			}
		}
	} else if start != nil {
		pivot = start
	}
	visit := func(key string, rec *record) bool {
		if plan != nil {
			if !bytes.HasPrefix([]byte(key), plan.prefix) {
				return false
			}
			rest := []byte(key[len(plan.prefix):])
			if forward {
				if plan.belowLow(rest) {
					return true
				}
				if plan.aboveHigh(rest) {
					return false
				}
			} else {
				if plan.aboveHigh(rest) {
					return true
				}
				if plan.belowLow(rest) {
					return false
				}
			}
		}
		if segments > 0 && segmentOf(rec, segments) != segment {
			return true
		}
		picked = append(picked, candidate{data: rec.data})
		bytesIn += int(rec.size)
		if len(picked) == limit || bytesIn >= maxPageBytes {
			stopped = true
			return false
		}
		return true
	}
	if !t.lockedWalk(ix, pivot, inclusive, forward, visit) {
		return nil, errf("The table does not have the specified index: %s", in.IndexName)
	}
	if err := t.settled(); err != nil {
		return nil, err
	}

	countOnly := in.Select == "COUNT"
	out := make([]byte, 0, 128+len(picked)*256)
	if !countOnly {
		out = append(out, `{"Items":[`...)
	} else {
		out = append(out, '{')
	}
	count := 0
	var last item
	for i, c := range picked {
		it, err := decodeItem(c.data)
		if err != nil {
			return nil, err
		}
		if i == len(picked)-1 {
			last = it
		}
		view := t.project(ix, it)
		if in.Select == "ALL_ATTRIBUTES" {
			view = it // an LSI fetches unprojected attributes from the table
		}
		if in.FilterExpression != "" {
			ok, err := e.match("FilterExpression", in.FilterExpression, view, a)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		count++
		if countOnly {
			continue
		}
		if in.ProjectionExpression != "" {
			if view, err = e.projectItem(in.ProjectionExpression, view, a); err != nil {
				return nil, err
			}
		} else {
			view = attributesToGet(in.AttributesToGet, view)
		}
		if count > 1 {
			out = append(out, ',')
		}
		out = appendJSONItem(out, view)
	}
	if !countOnly {
		out = append(out, "],"...)
	}
	out = append(out, `"Count":`...)
	out = strconv.AppendInt(out, int64(count), 10)
	out = append(out, `,"ScannedCount":`...)
	out = strconv.AppendInt(out, int64(len(picked)), 10)
	if stopped && last != nil {
		out = append(out, `,"LastEvaluatedKey":`...)
		out = appendJSONItem(out, t.keyOf(ix, last))
	}
	return append(out, '}'), nil
}

// lockedIndex looks an index up under the table's read lock.
func (t *table) lockedIndex(name string) *index {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.index(name)
}

func checkSelect(in *readInput, ix *index) error {
	hasProj := in.ProjectionExpression != "" || len(in.AttributesToGet) > 0
	if in.ProjectionExpression != "" && len(in.AttributesToGet) > 0 {
		return errf("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}")
	}
	switch in.Select {
	case "":
	case "ALL_ATTRIBUTES":
		if hasProj {
			return errf("Cannot specify the ProjectionExpression or AttributesToGet when choosing to get ALL_ATTRIBUTES")
		}
		if ix != nil && ix.global && ix.projection != "ALL" {
			return errf("One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index %s because its projection type is not ALL", ix.name)
		}
	case "ALL_PROJECTED_ATTRIBUTES":
		if ix == nil {
			return errf("One or more parameter values were invalid: Select type ALL_PROJECTED_ATTRIBUTES is supported only for index queries and scans")
		}
		if hasProj {
			return errf("Cannot specify the ProjectionExpression or AttributesToGet when choosing to get ALL_PROJECTED_ATTRIBUTES")
		}
	case "SPECIFIC_ATTRIBUTES":
		if !hasProj {
			return errf("Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES")
		}
	case "COUNT":
		if hasProj {
			return errf("Cannot specify the ProjectionExpression or AttributesToGet when choosing to get only the COUNT")
		}
	default:
		return errf("1 validation error detected: Value '%s' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]", in.Select)
	}
	return nil
}

// startKey encodes an ExclusiveStartKey as a position in the table's or
// the index's tree.
func (t *table) startKey(ix *index, esk item) ([]byte, error) {
	for _, v := range esk {
		if _, err := validateValue(v, 0); err != nil {
			return nil, err
		}
	}
	pk, err := t.primaryKey(esk, false, false)
	if err != nil {
		return nil, errf("The provided starting key is invalid: %s", asAPIError(err).msg)
	}
	if ix == nil {
		return []byte(pk), nil
	}
	k, err := ix.indexKey(esk, pk)
	if err != nil || k == "" {
		return nil, errf("The provided starting key is invalid: The provided key element does not match the schema")
	}
	return []byte(k), nil
}

// lockedWalk walks under the read lock; false means the index is gone.
func (t *table) lockedWalk(ix *index, pivot []byte, inclusive, forward bool, visit func(key string, rec *record) bool) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if ix != nil && t.index(ix.name) != ix {
		return false
	}
	t.walk(ix, pivot, inclusive, forward, visit)
	return true
}

// walk visits the table's (ix nil) or the index's entries from pivot
// (inclusive or not; nil is the first or last entry) in the given
// direction until visit returns false. Callers hold t.mu.
func (t *table) walk(ix *index, pivot []byte, inclusive, forward bool, visit func(key string, rec *record) bool) {
	p := string(pivot)
	skip := func(key string) bool { return pivot != nil && !inclusive && key == p }
	if ix == nil {
		f := func(r *record) bool {
			if skip(r.key) {
				return true
			}
			return visit(r.key, r)
		}
		switch {
		case pivot == nil && forward:
			t.primary.Ascend(f)
		case pivot == nil:
			t.primary.Descend(f)
		case forward:
			t.primary.AscendGreaterOrEqual(&record{key: p}, f)
		default:
			t.primary.DescendLessOrEqual(&record{key: p}, f)
		}
		return
	}
	f := func(e indexEntry) bool {
		if skip(e.key) {
			return true
		}
		return visit(e.key, e.rec)
	}
	switch {
	case pivot == nil && forward:
		ix.tree.Ascend(f)
	case pivot == nil:
		ix.tree.Descend(f)
	case forward:
		ix.tree.AscendGreaterOrEqual(indexEntry{key: p}, f)
	default:
		ix.tree.DescendLessOrEqual(indexEntry{key: p}, f)
	}
}

// segmentOf assigns a record to a parallel-scan segment by its partition,
// as DynamoDB does: all the items of a partition are in one segment.
func segmentOf(rec *record, segments uint32) uint32 {
	h := fnv.New32a()
	h.Write([]byte(rec.key[:rec.hashLen]))
	return h.Sum32() % segments
}

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

// read runs a Query (scan false) or a Scan in four phases: validate the
// request, plan the range of the table's or index's tree to walk, walk it
// under the read lock picking candidates, and render the page from them
// after the lock is released. The phases keep the checks in the order
// DynamoDB reports them, so the first error a request hits is DynamoDB's.
func (e *Engine) read(in *readInput, scan bool) ([]byte, error) {
	r, err := e.validateRead(in, scan)
	if err != nil {
		return nil, err
	}
	if err := r.planRange(in, scan); err != nil {
		return nil, err
	}
	pg, err := r.walk(in.IndexName)
	if err != nil {
		return nil, err
	}
	return e.renderPage(in, &r, &pg)
}

// readPlan is a validated Query or Scan: where it reads, how far, and the
// expression attributes its expressions resolve against.
type readPlan struct {
	t     *table
	ix    *index // nil reads the table
	a     exprAttrs
	limit int // -1: no Limit

	// A parallel scan's segment; segments 0 reads every segment.
	segment, segments uint32

	plan    *keyPlan // a Query's key condition; nil for a Scan
	forward bool
	start   []byte // ExclusiveStartKey as a tree position, or nil

	// Where the walk begins (nil: the first or last entry) and whether
	// the entry at pivot itself is visited.
	pivot     []byte
	inclusive bool
}

// validateRead checks a request that needs nothing but the table's schema.
func (e *Engine) validateRead(in *readInput, scan bool) (readPlan, error) {
	if err := in.fromLegacy(scan); err != nil {
		return readPlan{}, err
	}
	t, err := e.table(in.TableName)
	if err != nil {
		return readPlan{}, err
	}
	r := readPlan{t: t, limit: -1}
	if in.IndexName != "" {
		if r.ix = t.lockedIndex(in.IndexName); r.ix == nil {
			return readPlan{}, errf("The table does not have the specified index: %s", in.IndexName)
		}
		if r.ix.global && in.ConsistentRead != nil && *in.ConsistentRead {
			return readPlan{}, errf("Consistent reads are not supported on global secondary indexes")
		}
	}
	if in.Limit != nil {
		if *in.Limit < 1 {
			return readPlan{}, errf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *in.Limit)
		}
		r.limit = int(*in.Limit)
	}
	if err := checkSelect(in, r.ix); err != nil {
		return readPlan{}, err
	}
	r.a = exprAttrs{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues}
	exprs := []labeled{{"FilterExpression", in.FilterExpression}, {"ProjectionExpression", in.ProjectionExpression}}
	if !scan {
		exprs = append(exprs, labeled{"KeyConditionExpression", in.KeyConditionExpression})
	} else if in.KeyConditionExpression != "" {
		return readPlan{}, errf("Can not use KeyConditionExpression in a Scan")
	}
	if err := r.a.check(exprs...); err != nil {
		return readPlan{}, err
	}
	if err := checkCondition("FilterExpression", in.FilterExpression, r.a); err != nil {
		return readPlan{}, err
	}
	if scan {
		if r.segment, r.segments, err = checkSegment(in); err != nil {
			return readPlan{}, err
		}
	}
	return r, nil
}

// checkSegment validates a parallel scan's Segment and TotalSegments;
// segments 0 means the request is not a parallel scan.
func checkSegment(in *readInput) (segment, segments uint32, err error) {
	if in.Segment == nil && in.TotalSegments == nil {
		return 0, 0, nil
	}
	switch {
	case in.TotalSegments == nil:
		return 0, 0, errf("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
	case in.Segment == nil:
		return 0, 0, errf("The Segment parameter is required but was not present in the request when parameter TotalSegments is present")
	case *in.TotalSegments < 1 || *in.TotalSegments > 1000000:
		return 0, 0, errf("1 validation error detected: Value '%d' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000 and greater than or equal to 1", *in.TotalSegments)
	case *in.Segment < 0 || *in.Segment >= *in.TotalSegments:
		return 0, 0, errf("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: %d is not less than TotalSegments: %d", *in.Segment, *in.TotalSegments)
	}
	return uint32(*in.Segment), uint32(*in.TotalSegments), nil
}

// planRange turns the key condition and ExclusiveStartKey into the
// stretch of the tree to walk: its direction and its pivot.
func (r *readPlan) planRange(in *readInput, scan bool) error {
	keys := r.t.keys
	if r.ix != nil {
		keys = r.ix.keys
	}
	var err error
	if !scan {
		if r.plan, err = planKeyCondition(in.KeyConditionExpression, keys, r.a); err != nil {
			return err
		}
		if err := filterOnKey(in, keys); err != nil {
			return err
		}
	}
	r.forward = scan || in.ScanIndexForward == nil || *in.ScanIndexForward
	if in.ExclusiveStartKey != nil {
		if r.start, err = r.t.startKey(r.ix, in.ExclusiveStartKey); err != nil {
			return err
		}
		if r.plan != nil && !bytes.HasPrefix(r.start, r.plan.prefix) {
			return errf("The provided starting key is invalid: The provided key element does not match the schema")
		}
	}
	r.pivot, r.inclusive = r.pivotAt()
	return nil
}

// pivotAt is where the walk begins: the key condition's bound in the
// walk's direction, or the start key if that is further along.
func (r *readPlan) pivotAt() (pivot []byte, inclusive bool) {
	switch {
	case r.plan == nil:
		return r.start, false
	case r.forward:
		pivot = r.plan.lowerPivot()
		if r.start != nil && bytes.Compare(r.start, pivot) >= 0 {
			return r.start, false
		}
		return pivot, true
	default:
		pivot = r.plan.upperPivot()
		if r.start != nil && (pivot == nil || bytes.Compare(r.start, pivot) < 0) {
			pivot = r.start
		}
		return pivot, false
	}
}

// page is what a walk picked: the candidates, in walk order, and whether
// Limit or the page size stopped it (then LastEvaluatedKey follows).
type page struct {
	picked  []candidate
	bytesIn int
	stopped bool
}

// walk picks the page's records under the read lock. Only picking happens
// there: decoding, filtering and projecting happen after it, on data
// slices that are never changed.
func (r *readPlan) walk(indexName string) (page, error) {
	var pg page
	visit := func(key string, rec *record) bool {
		if r.plan != nil {
			take, more := r.plan.admits(key, r.forward)
			if !take {
				return more
			}
		}
		if r.segments > 0 && segmentOf(rec, r.segments) != r.segment {
			return true
		}
		pg.picked = append(pg.picked, candidate{data: rec.data})
		pg.bytesIn += int(rec.size)
		if len(pg.picked) == r.limit || pg.bytesIn >= maxPageBytes {
			pg.stopped = true
			return false
		}
		return true
	}
	if !r.t.lockedWalk(r.ix, r.pivot, r.inclusive, r.forward, visit) {
		return page{}, errf("The table does not have the specified index: %s", indexName)
	}
	if err := r.t.settled(); err != nil {
		return page{}, err
	}
	return pg, nil
}

// admits says whether the entry at key satisfies the key condition (take)
// and, if not, whether a walk in the given direction can still find one
// that does (more): before the range it goes on, past it it stops.
func (p *keyPlan) admits(key string, forward bool) (take, more bool) {
	if !bytes.HasPrefix([]byte(key), p.prefix) {
		return false, false
	}
	rest := []byte(key[len(p.prefix):])
	if forward {
		if p.belowLow(rest) {
			return false, true
		}
		if p.aboveHigh(rest) {
			return false, false
		}
	} else {
		if p.aboveHigh(rest) {
			return false, true
		}
		if p.belowLow(rest) {
			return false, false
		}
	}
	return true, true
}

// renderPage decodes, filters and projects the picked items and writes the
// response: Items (unless Select is COUNT), Count, ScannedCount and, when
// the walk stopped early, LastEvaluatedKey from the last item read.
func (e *Engine) renderPage(in *readInput, r *readPlan, pg *page) ([]byte, error) {
	countOnly := in.Select == "COUNT"
	out := make([]byte, 0, 128+len(pg.picked)*256)
	if !countOnly {
		out = append(out, `{"Items":[`...)
	} else {
		out = append(out, '{')
	}
	count := 0
	var last item
	for i, c := range pg.picked {
		it, err := decodeItem(c.data)
		if err != nil {
			return nil, err
		}
		if i == len(pg.picked)-1 {
			last = it
		}
		view, ok, err := e.pageItem(in, r, it, countOnly)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		count++
		if countOnly {
			continue
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
	out = strconv.AppendInt(out, int64(len(pg.picked)), 10)
	if pg.stopped && last != nil {
		out = append(out, `,"LastEvaluatedKey":`...)
		out = appendJSONItem(out, r.t.keyOf(r.ix, last))
	}
	return append(out, '}'), nil
}

// pageItem is what the page shows of one item read: ok false when the
// FilterExpression drops it. A COUNT counts the item but needs no view.
func (e *Engine) pageItem(in *readInput, r *readPlan, it item, countOnly bool) (view item, ok bool, err error) {
	view = r.t.project(r.ix, it)
	if in.Select == "ALL_ATTRIBUTES" {
		view = it // an LSI fetches unprojected attributes from the table
	}
	if in.FilterExpression != "" {
		if ok, err = e.match("FilterExpression", in.FilterExpression, view, r.a); err != nil || !ok {
			return nil, false, err
		}
	}
	if countOnly {
		return nil, true, nil
	}
	if in.ProjectionExpression != "" {
		if view, err = e.projectItem(in.ProjectionExpression, view, r.a); err != nil {
			return nil, false, err
		}
		return view, true, nil
	}
	return attributesToGet(in.AttributesToGet, view), true, nil
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

// filterOnKey refuses a Query whose filter names a key attribute of what
// it reads (the table, or the index queried), as DynamoDB does: key
// conditions belong in the key condition. A path into the attribute
// (pk.x) counts as naming it.
func filterOnKey(in *readInput, keys keySchema) error {
	label, heads := "Filter Expression", map[string]bool{}
	switch {
	case in.QueryFilter != nil:
		label = "QueryFilter"
		for attr := range in.QueryFilter {
			heads[attr] = true
		}
	case in.FilterExpression != "":
		for _, h := range conditionRoots(in.FilterExpression, in.ExpressionAttributeNames) {
			heads[h] = true
		}
	}
	for _, k := range []keyAttr{keys.hash, keys.rng} {
		if k.name != "" && heads[k.name] {
			return errf("%s can only contain non-primary key attributes: Primary key attribute: %s", label, k.name)
		}
	}
	return nil
}

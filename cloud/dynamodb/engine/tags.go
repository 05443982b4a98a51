package engine

// Tags and continuous backups. Both are table settings a client sets and
// reads back (infrastructure tools do, at every deploy); locally they have
// no effect, and they are kept in the table's definition record, so they
// survive a restart.

import (
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/orderflow/orderflow/cloud/journal"
)

// DynamoDB's tag limits; lengths count Unicode characters.
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

type tagDef struct {
	Key   string
	Value string
}

// pitrDef is a table's point-in-time recovery setting.
type pitrDef struct {
	Enabled bool
	Days    int   `json:",omitempty"`
	Since   int64 `json:",omitempty"` // Unix nanoseconds, when enabled
}

func (t *table) setTag(k, v string) {
	if t.tags == nil {
		t.tags = map[string]string{}
	}
	t.tags[k] = v
}

// tagDefs returns t's tags in key order. Callers hold mu.
func (t *table) tagDefs() []tagDef {
	out := make([]tagDef, 0, len(t.tags))
	for k, v := range t.tags {
		out = append(out, tagDef{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if len(out) == 0 {
		return nil
	}
	return out
}

// checkTags validates tags as TagResource and CreateTable take them.
func checkTags(tags []tagDef) error {
	for i, tg := range tags {
		switch {
		case tg.Key == "":
			return errf("1 validation error detected: Value '%s' at 'tags.%d.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1", tg.Key, i+1)
		case utf8.RuneCountInString(tg.Key) > maxTagKeyLen:
			return errf("1 validation error detected: Value '%s' at 'tags.%d.member.key' failed to satisfy constraint: Member must have length less than or equal to %d", tg.Key, i+1, maxTagKeyLen)
		case utf8.RuneCountInString(tg.Value) > maxTagValueLen:
			return errf("1 validation error detected: Value '%s' at 'tags.%d.member.value' failed to satisfy constraint: Member must have length less than or equal to %d", tg.Value, i+1, maxTagValueLen)
		case strings.HasPrefix(strings.ToLower(tg.Key), "aws:"):
			return errf("One or more parameter values were invalid: tag key %s uses the prefix aws:, which is reserved for AWS use", tg.Key)
		}
	}
	if len(tags) > maxTags {
		return errf("One or more parameter values were invalid: a resource can have at most %d tags", maxTags)
	}
	return nil
}

// resourceTable returns the table a ResourceArn names, validating the ARN
// first.
func (e *Engine) resourceTable(arn string) (*table, error) {
	name, ok, err := e.parseTableARN(arn)
	if err != nil {
		return nil, err
	}
	var t *table
	if ok {
		e.mu.RLock()
		t = e.tables[name]
		e.mu.RUnlock()
	}
	if t == nil {
		return nil, errNotFound("Requested resource not found: ResourcArn: %s not found", arn)
	}
	return t, nil
}

func (e *Engine) tagResource(body []byte) ([]byte, error) {
	var in struct {
		ResourceArn string
		Tags        *[]tagDef
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, errf("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	if _, _, err := e.parseTableARN(in.ResourceArn); err != nil {
		return nil, err
	}
	tags := *in.Tags
	if len(tags) == 0 {
		return nil, errf("Atleast one Tag needs to be provided as Input.")
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	t, err := e.resourceTable(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	err = e.write([]*table{t}, func() error {
		added := 0
		for _, tg := range tags {
			if _, ok := t.tags[tg.Key]; !ok {
				added++
			}
		}
		if len(t.tags)+added > maxTags {
			return errf("One or more parameter values were invalid: a resource can have at most %d tags", maxTags)
		}
		for _, tg := range tags {
			t.setTag(tg.Key, tg.Value)
		}
		t.record(journal.Put(tablesPath, []byte(t.name), t.encodeDef()))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []byte("{}"), nil
}

func (e *Engine) untagResource(body []byte) ([]byte, error) {
	var in struct {
		ResourceArn string
		TagKeys     *[]string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.TagKeys == nil {
		return nil, errf("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
	}
	if _, _, err := e.parseTableARN(in.ResourceArn); err != nil {
		return nil, err
	}
	if len(*in.TagKeys) == 0 {
		return nil, errf("Atleast one Tag Key needs to be provided as Input.")
	}
	t, err := e.resourceTable(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	err = e.write([]*table{t}, func() error {
		for _, k := range *in.TagKeys {
			delete(t.tags, k)
		}
		t.record(journal.Put(tablesPath, []byte(t.name), t.encodeDef()))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []byte("{}"), nil
}

func (e *Engine) listTagsOfResource(body []byte) ([]byte, error) {
	var in struct {
		ResourceArn string
		NextToken   string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := e.resourceTable(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	tags := t.tagDefs()
	t.mu.RUnlock()
	if err := t.settled(); err != nil {
		return nil, err
	}
	if tags == nil {
		tags = []tagDef{}
	}
	return marshal(struct{ Tags []tagDef }{tags})
}

type continuousBackupsDescription struct {
	ContinuousBackupsStatus        string
	PointInTimeRecoveryDescription struct {
		PointInTimeRecoveryStatus  string
		RecoveryPeriodInDays       int     `json:",omitempty"`
		EarliestRestorableDateTime float64 `json:",omitempty"`
		LatestRestorableDateTime   float64 `json:",omitempty"`
	}
}

// backupsTable returns the table of a continuous backups request, which
// answers TableNotFoundException rather than ResourceNotFoundException.
func (e *Engine) backupsTable(name string) (*table, error) {
	name, err := e.resolveTableName(name)
	if err != nil {
		return nil, err
	}
	e.mu.RLock()
	t := e.tables[name]
	e.mu.RUnlock()
	if t == nil {
		return nil, &apiError{status: http.StatusBadRequest, code: "TableNotFoundException", msg: "Table not found: " + name}
	}
	return t, nil
}

func (e *Engine) describeBackups(t *table) ([]byte, error) {
	var d continuousBackupsDescription
	d.ContinuousBackupsStatus = "ENABLED"
	d.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus = "DISABLED"
	t.mu.RLock()
	p := t.pitr
	t.mu.RUnlock()
	if p != nil && p.Enabled {
		pd := &d.PointInTimeRecoveryDescription
		pd.PointInTimeRecoveryStatus = "ENABLED"
		pd.RecoveryPeriodInDays = p.Days
		now := e.opts.Now()
		earliest := time.Unix(0, p.Since)
		if w := now.AddDate(0, 0, -p.Days); w.After(earliest) {
			earliest = w
		}
		pd.EarliestRestorableDateTime = float64(earliest.UnixMilli()) / 1000
		pd.LatestRestorableDateTime = float64(now.UnixMilli()) / 1000
	}
	if err := t.settled(); err != nil {
		return nil, err
	}
	return marshal(struct{ ContinuousBackupsDescription continuousBackupsDescription }{d})
}

func (e *Engine) describeContinuousBackups(body []byte) ([]byte, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := e.backupsTable(in.TableName)
	if err != nil {
		return nil, err
	}
	return e.describeBackups(t)
}

func (e *Engine) updateContinuousBackups(body []byte) ([]byte, error) {
	var in struct {
		TableName                        string
		PointInTimeRecoverySpecification *struct {
			PointInTimeRecoveryEnabled *bool
			RecoveryPeriodInDays       *int
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if _, err := e.resolveTableName(in.TableName); err != nil {
		return nil, err
	}
	spec := in.PointInTimeRecoverySpecification
	switch {
	case spec == nil:
		return nil, errf("1 validation error detected: Value null at 'pointInTimeRecoverySpecification' failed to satisfy constraint: Member must not be null")
	case spec.PointInTimeRecoveryEnabled == nil:
		return nil, errf("1 validation error detected: Value null at 'pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled' failed to satisfy constraint: Member must not be null")
	case spec.RecoveryPeriodInDays != nil && (*spec.RecoveryPeriodInDays < 1 || *spec.RecoveryPeriodInDays > 35):
		return nil, errf("1 validation error detected: Value '%d' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: Member must have value between 1 and 35", *spec.RecoveryPeriodInDays)
	case !*spec.PointInTimeRecoveryEnabled && spec.RecoveryPeriodInDays != nil:
		return nil, errf("One or more parameter values were invalid: RecoveryPeriodInDays can only be specified when PointInTimeRecoveryEnabled is true")
	}
	t, err := e.backupsTable(in.TableName)
	if err != nil {
		return nil, err
	}
	err = e.write([]*table{t}, func() error {
		if !*spec.PointInTimeRecoveryEnabled {
			t.pitr = nil
		} else {
			days := 35
			if spec.RecoveryPeriodInDays != nil {
				days = *spec.RecoveryPeriodInDays
			}
			since := e.opts.Now().UnixNano()
			if t.pitr != nil && t.pitr.Enabled {
				since = t.pitr.Since
			}
			t.pitr = &pitrDef{Enabled: true, Days: days, Since: since}
		}
		t.record(journal.Put(tablesPath, []byte(t.name), t.encodeDef()))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e.describeBackups(t)
}

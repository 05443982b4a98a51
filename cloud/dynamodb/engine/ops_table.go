package engine

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	"github.com/google/btree"

	"github.com/orderflow/orderflow/cloud/journal"
)

// The table-level request and response shapes, as in DynamoDB's API
// reference.
type (
	attributeDefinition struct {
		AttributeName string
		AttributeType string
	}
	keySchemaElement struct {
		AttributeName string
		KeyType       string
	}
	projection struct {
		ProjectionType   string   `json:",omitempty"`
		NonKeyAttributes []string `json:",omitempty"`
	}
	provisionedThroughput struct {
		ReadCapacityUnits  *int64
		WriteCapacityUnits *int64
	}
	indexSpec struct {
		IndexName             string
		KeySchema             []keySchemaElement
		Projection            *projection
		ProvisionedThroughput *provisionedThroughput
	}
	createTableInput struct {
		TableName              string
		AttributeDefinitions   []attributeDefinition
		KeySchema              []keySchemaElement
		BillingMode            string
		ProvisionedThroughput  *provisionedThroughput
		GlobalSecondaryIndexes []indexSpec
		LocalSecondaryIndexes  []indexSpec
		StreamSpecification    json.RawMessage
		SSESpecification       json.RawMessage
		Tags                   []tagDef
		TableClass             string
		DeletionProtection     *bool `json:"DeletionProtectionEnabled"`
	}
)

type throughputDescription struct {
	ReadCapacityUnits      int64
	WriteCapacityUnits     int64
	NumberOfDecreasesToday int64
}

type indexDescription struct {
	IndexName             string
	KeySchema             []keySchemaElement
	Projection            projection
	IndexStatus           string                 `json:",omitempty"`
	ProvisionedThroughput *throughputDescription `json:",omitempty"`
	IndexSizeBytes        int64
	ItemCount             int64
	IndexArn              string
}

type billingModeSummary struct {
	BillingMode                       string
	LastUpdateToPayPerRequestDateTime float64 `json:",omitempty"`
}

type tableDescription struct {
	TableName                 string
	TableArn                  string
	TableId                   string
	TableStatus               string
	CreationDateTime          float64
	AttributeDefinitions      []attributeDefinition
	KeySchema                 []keySchemaElement
	ProvisionedThroughput     throughputDescription
	BillingModeSummary        *billingModeSummary `json:",omitempty"`
	TableSizeBytes            int64
	ItemCount                 int64
	GlobalSecondaryIndexes    []indexDescription `json:",omitempty"`
	LocalSecondaryIndexes     []indexDescription `json:",omitempty"`
	DeletionProtectionEnabled bool
}

func validTableName(name string) bool {
	if len(name) < 3 || len(name) > 255 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func checkTableName(name, field string) error {
	if name == "" {
		return errf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	if !validTableName(name) {
		return errf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255", name, field)
	}
	return nil
}

// parseKeySchema checks a key schema (one HASH, then at most one RANGE)
// against the attribute definitions.
func parseKeySchema(elems []keySchemaElement, defs map[string]string, what string) (keySchema, error) {
	var ks keySchema
	if len(elems) == 0 || len(elems) > 2 {
		return ks, errf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to 2 and greater than or equal to 1", what)
	}
	for i, el := range elems {
		typ, ok := defs[el.AttributeName]
		if !ok {
			return ks, errf("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: %v", el.AttributeName, sortedKeys(defs))
		}
		switch {
		case i == 0 && el.KeyType == "HASH":
			ks.hash = keyAttr{el.AttributeName, typ}
		case i == 1 && el.KeyType == "RANGE":
			ks.rng = keyAttr{el.AttributeName, typ}
		case i == 0:
			return ks, errf("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
		default:
			return ks, errf("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
		}
	}
	if ks.hasRange() && ks.rng.name == ks.hash.name {
		return ks, errf("Both the Hash Key and the Range Key element in the KeySchema have the same name")
	}
	return ks, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func parseThroughput(p *provisionedThroughput, billing, what string) (*throughput, error) {
	if billing == "PAY_PER_REQUEST" {
		if p != nil && (p.ReadCapacityUnits != nil && *p.ReadCapacityUnits != 0 || p.WriteCapacityUnits != nil && *p.WriteCapacityUnits != 0) {
			return nil, errf("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
		return nil, nil
	}
	if p == nil || p.ReadCapacityUnits == nil || p.WriteCapacityUnits == nil {
		return nil, errf("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
	}
	if *p.ReadCapacityUnits < 1 || *p.WriteCapacityUnits < 1 {
		return nil, errf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have value greater than or equal to 1", what)
	}
	return &throughput{read: *p.ReadCapacityUnits, write: *p.WriteCapacityUnits}, nil
}

func parseIndex(spec indexSpec, defs map[string]string, global bool, billing string, tableKeys keySchema) (*index, error) {
	if len(spec.IndexName) < 3 || len(spec.IndexName) > 255 || !validTableName(spec.IndexName) {
		return nil, errf("1 validation error detected: Value '%s' at 'indexName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255", spec.IndexName)
	}
	ks, err := parseKeySchema(spec.KeySchema, defs, "keySchema")
	if err != nil {
		return nil, err
	}
	ix := &index{name: spec.IndexName, global: global, keys: ks}
	if spec.Projection == nil {
		return nil, errf("1 validation error detected: Value null at 'projection' failed to satisfy constraint: Member must not be null")
	}
	ix.projection = spec.Projection.ProjectionType
	switch ix.projection {
	case "ALL", "KEYS_ONLY":
		if len(spec.Projection.NonKeyAttributes) > 0 {
			return nil, errf("One or more parameter values were invalid: ProjectionType is %s, but NonKeyAttributes is specified", ix.projection)
		}
	case "INCLUDE":
		if len(spec.Projection.NonKeyAttributes) == 0 {
			return nil, errf("One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
		}
		ix.nonKey = append([]string(nil), spec.Projection.NonKeyAttributes...)
	case "":
		return nil, errf("One or more parameter values were invalid: Unknown ProjectionType: null")
	default:
		return nil, errf("1 validation error detected: Value '%s' at 'projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]", ix.projection)
	}
	if global {
		if ix.throughput, err = parseThroughput(spec.ProvisionedThroughput, billing, "provisionedThroughput"); err != nil {
			return nil, err
		}
	} else {
		if !tableKeys.hasRange() {
			return nil, errf("One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex")
		}
		if ks.hash != tableKeys.hash || !ks.hasRange() {
			return nil, errf("One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: %s. index hash key: %s, table hash key: %s", spec.IndexName, ks.hash.name, tableKeys.hash.name)
		}
	}
	ix.tree = btree.NewG(btreeDegree, lessIndexEntry)
	return ix, nil
}

func parseAttributeDefinitions(in []attributeDefinition) (map[string]string, error) {
	defs := map[string]string{}
	for _, d := range in {
		switch d.AttributeType {
		case "S", "N", "B":
		default:
			return nil, errf("1 validation error detected: Value '%s' at 'attributeDefinitions.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]", d.AttributeType)
		}
		if _, dup := defs[d.AttributeName]; dup {
			return nil, errf("Cannot have two attributes with the same name")
		}
		defs[d.AttributeName] = d.AttributeType
	}
	return defs, nil
}

func (e *Engine) createTable(body []byte) ([]byte, error) {
	var in createTableInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkTableName(in.TableName, "tableName"); err != nil {
		return nil, err
	}
	if len(in.StreamSpecification) > 0 && string(in.StreamSpecification) != "null" {
		return nil, errf("the embedded DynamoDB does not support streams (StreamSpecification)")
	}
	defs, err := parseAttributeDefinitions(in.AttributeDefinitions)
	if err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	t := newTable()
	for _, tg := range in.Tags {
		t.setTag(tg.Key, tg.Value)
	}
	t.name = in.TableName
	if t.keys, err = parseKeySchema(in.KeySchema, defs, "keySchema"); err != nil {
		return nil, err
	}
	t.billing = in.BillingMode
	switch t.billing {
	case "":
		t.billing = "PROVISIONED"
	case "PROVISIONED", "PAY_PER_REQUEST":
	default:
		return nil, errf("1 validation error detected: Value '%s' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]", in.BillingMode)
	}
	if t.provision, err = parseThroughput(in.ProvisionedThroughput, t.billing, "provisionedThroughput"); err != nil {
		return nil, err
	}
	used := map[string]bool{t.keys.hash.name: true, t.keys.rng.name: true}
	names := map[string]bool{}
	for _, group := range []struct {
		specs  []indexSpec
		global bool
		max    int
	}{{in.GlobalSecondaryIndexes, true, 20}, {in.LocalSecondaryIndexes, false, 5}} {
		if len(group.specs) > group.max {
			return nil, errf("One or more parameter values were invalid: Too many indexes: at most %d of this kind", group.max)
		}
		for _, spec := range group.specs {
			ix, err := parseIndex(spec, defs, group.global, t.billing, t.keys)
			if err != nil {
				return nil, err
			}
			if names[ix.name] {
				return nil, errf("One or more parameter values were invalid: Duplicate index name: %s", ix.name)
			}
			names[ix.name] = true
			used[ix.keys.hash.name], used[ix.keys.rng.name] = true, true
			t.indexes = append(t.indexes, ix)
		}
	}
	delete(used, "")
	if len(used) != len(defs) {
		return nil, errf("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	t.attrDefs = make([]attrDef, 0, len(in.AttributeDefinitions))
	for _, d := range in.AttributeDefinitions {
		t.attrDefs = append(t.attrDefs, attrDef{d.AttributeName, d.AttributeType})
	}
	t.created = e.opts.Now()
	t.arn = e.tableARN(t.name)

	if e.closed.Load() {
		return nil, errClosed
	}
	e.mu.Lock()
	if _, exists := e.tables[t.name]; exists {
		e.mu.Unlock()
		return nil, &apiError{status: http.StatusBadRequest, code: codeInUse, msg: "Table already exists: " + t.name}
	}
	e.seq++
	t.seq = e.seq
	t.id = fmt.Sprintf("00000000-0000-4000-8000-%012d", e.seq)
	t.j = e.j
	e.tables[t.name] = t
	// Recorded under e.mu: no write to the table, and no DeleteTable or
	// CreateTable of the same name, can be recorded before it.
	name := []byte(t.name)
	t.record(journal.Put(tablesPath, name, t.encodeDef()),
		journal.DeleteBucket(itemsPath, name), journal.CreateBucket(itemsPath, name))
	tk := flush([]*table{t})
	e.mu.Unlock()
	if err := durable(tk); err != nil {
		return nil, err
	}
	return marshal(struct{ TableDescription tableDescription }{t.describe("ACTIVE")})
}

// tableARN is the ARN of the table called name.
func (e *Engine) tableARN(name string) string {
	return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", e.opts.Region, e.opts.AccountID, name)
}

// describe returns t's description, under t's read lock.
func (t *table) describe(status string) tableDescription {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.describeLocked(status)
}

// describeLocked returns t's description. Callers hold t.mu.
func (t *table) describeLocked(status string) tableDescription {
	d := tableDescription{
		TableName:        t.name,
		TableArn:         t.arn,
		TableId:          t.id,
		TableStatus:      status,
		CreationDateTime: float64(t.created.UnixMilli()) / 1000,
	}
	for _, a := range t.attrDefs {
		d.AttributeDefinitions = append(d.AttributeDefinitions, attributeDefinition{a.name, a.typ})
	}
	d.KeySchema = t.keys.describe()
	if t.provision != nil {
		d.ProvisionedThroughput = throughputDescription{ReadCapacityUnits: t.provision.read, WriteCapacityUnits: t.provision.write}
	}
	if t.billing == "PAY_PER_REQUEST" {
		d.BillingModeSummary = &billingModeSummary{BillingMode: t.billing, LastUpdateToPayPerRequestDateTime: d.CreationDateTime}
	}
	d.ItemCount = int64(t.primary.Len())
	d.TableSizeBytes = t.bytes
	for _, ix := range t.indexes {
		id := indexDescription{
			IndexName:  ix.name,
			KeySchema:  ix.keys.describe(),
			Projection: projection{ProjectionType: ix.projection, NonKeyAttributes: ix.nonKey},
			ItemCount:  int64(ix.tree.Len()),
			IndexArn:   t.arn + "/index/" + ix.name,
		}
		ix.tree.Ascend(func(e indexEntry) bool {
			id.IndexSizeBytes += int64(e.rec.size)
			return true
		})
		if ix.global {
			id.IndexStatus = "ACTIVE"
			id.ProvisionedThroughput = &throughputDescription{}
			if ix.throughput != nil {
				id.ProvisionedThroughput.ReadCapacityUnits = ix.throughput.read
				id.ProvisionedThroughput.WriteCapacityUnits = ix.throughput.write
			}
			d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, id)
		} else {
			d.LocalSecondaryIndexes = append(d.LocalSecondaryIndexes, id)
		}
	}
	return d
}

func (k keySchema) describe() []keySchemaElement {
	out := []keySchemaElement{{k.hash.name, "HASH"}}
	if k.hasRange() {
		out = append(out, keySchemaElement{k.rng.name, "RANGE"})
	}
	return out
}

func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("engine: encode response: %w", err)
	}
	return b, nil
}

type tableNameInput struct {
	TableName string
}

func (e *Engine) describeTable(body []byte) ([]byte, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := e.resolveTableName(in.TableName)
	if err != nil {
		return nil, err
	}
	in.TableName = name
	e.mu.RLock()
	t := e.tables[in.TableName]
	e.mu.RUnlock()
	if t == nil {
		return nil, errNotFound("Requested resource not found: Table: %s not found", in.TableName)
	}
	d := t.describe("ACTIVE")
	if err := t.settled(); err != nil {
		return nil, err
	}
	return marshal(struct{ Table tableDescription }{d})
}

func (e *Engine) deleteTable(body []byte) ([]byte, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := e.resolveTableName(in.TableName)
	if err != nil {
		return nil, err
	}
	in.TableName = name
	if e.closed.Load() {
		return nil, errClosed
	}
	e.mu.Lock()
	t := e.tables[in.TableName]
	if t == nil {
		e.mu.Unlock()
		return nil, errNotFound("Requested resource not found: Table: %s not found", in.TableName)
	}
	// Under t.mu, so that a writer that already holds the table finds it
	// dropped and records nothing after the table's deletion.
	t.mu.Lock()
	d := t.describeLocked("DELETING")
	t.dropped = true
	delete(e.tables, in.TableName)
	key := []byte(t.name)
	t.record(journal.Delete(tablesPath, key), journal.DeleteBucket(itemsPath, key))
	tk := flush([]*table{t})
	t.mu.Unlock()
	e.mu.Unlock()
	if err := durable(tk); err != nil {
		return nil, err
	}
	return marshal(struct{ TableDescription tableDescription }{d})
}

type updateTableInput struct {
	TableName                   string
	AttributeDefinitions        []attributeDefinition
	BillingMode                 string
	ProvisionedThroughput       *provisionedThroughput
	GlobalSecondaryIndexUpdates []struct {
		Create *indexSpec
		Delete *struct{ IndexName string }
		Update *struct {
			IndexName             string
			ProvisionedThroughput *provisionedThroughput
		}
	}
	DeletionProtectionEnabled *bool
	StreamSpecification       json.RawMessage
	ReplicaUpdates            json.RawMessage
	SSESpecification          json.RawMessage
	TableClass                string
}

// updateTable changes billing, throughput and GSIs. A new GSI is built
// synchronously, under the table's lock, so it is ACTIVE when the call
// returns.
func (e *Engine) updateTable(body []byte) ([]byte, error) {
	var in updateTableInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := e.resolveTableName(in.TableName)
	if err != nil {
		return nil, err
	}
	in.TableName = name
	for name, raw := range map[string]json.RawMessage{"StreamSpecification": in.StreamSpecification, "ReplicaUpdates": in.ReplicaUpdates, "SSESpecification": in.SSESpecification} {
		if len(raw) > 0 && string(raw) != "null" {
			return nil, errf("the embedded DynamoDB does not support %s in UpdateTable", name)
		}
	}
	t, err := e.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if len(in.GlobalSecondaryIndexUpdates) > 1 {
		return nil, errf("One or more parameter values were invalid: Only 1 online index operation can be performed at a time")
	}
	if err := e.lockedUpdate(t, &in); err != nil {
		return nil, err
	}
	return marshal(struct{ TableDescription tableDescription }{t.describe("ACTIVE")})
}

func (e *Engine) lockedUpdate(t *table, in *updateTableInput) error {
	return e.write([]*table{t}, func() error {
		err := t.update(in)
		// Recorded whatever the outcome: the file holds what memory holds.
		t.record(journal.Put(tablesPath, []byte(t.name), t.encodeDef()))
		return err
	})
}

// update applies an UpdateTable. Callers hold t.mu exclusively.
func (t *table) update(in *updateTableInput) error {
	billing := t.billing
	if in.BillingMode != "" {
		if in.BillingMode != "PROVISIONED" && in.BillingMode != "PAY_PER_REQUEST" {
			return errf("1 validation error detected: Value '%s' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]", in.BillingMode)
		}
		billing = in.BillingMode
	}
	provision := t.provision
	if in.ProvisionedThroughput != nil || billing != t.billing {
		var err error
		if provision, err = parseThroughput(in.ProvisionedThroughput, billing, "provisionedThroughput"); err != nil {
			return err
		}
	}
	defs := map[string]string{}
	for _, a := range t.attrDefs {
		defs[a.name] = a.typ
	}
	newDefs, err := parseAttributeDefinitions(in.AttributeDefinitions)
	if err != nil {
		return err
	}
	for name, typ := range newDefs {
		if old, ok := defs[name]; ok && old != typ {
			return errf("One or more parameter values were invalid: attribute %s is already defined with type %s", name, old)
		}
		defs[name] = typ
	}
	var add *index
	var drop string
	for _, u := range in.GlobalSecondaryIndexUpdates {
		switch {
		case u.Create != nil:
			if t.index(u.Create.IndexName) != nil {
				return errf("One or more parameter values were invalid: Index %s already exists", u.Create.IndexName)
			}
			if add, err = parseIndex(*u.Create, defs, true, billing, t.keys); err != nil {
				return err
			}
		case u.Delete != nil:
			ix := t.index(u.Delete.IndexName)
			if ix == nil || !ix.global {
				return errNotFound("Requested resource not found: Index: %s not found", u.Delete.IndexName)
			}
			drop = ix.name
		case u.Update != nil:
			ix := t.index(u.Update.IndexName)
			if ix == nil || !ix.global {
				return errNotFound("Requested resource not found: Index: %s not found", u.Update.IndexName)
			}
			tp, err := parseThroughput(u.Update.ProvisionedThroughput, billing, "provisionedThroughput")
			if err != nil {
				return err
			}
			ix.throughput = tp
		default:
			return errf("One or more parameter values were invalid: a GlobalSecondaryIndexUpdate needs Create, Update or Delete")
		}
	}
	if add != nil {
		if err := t.buildIndex(add); err != nil {
			return err
		}
		t.indexes = append(t.indexes, add)
		for name, typ := range newDefs {
			if !t.hasAttrDef(name) {
				t.attrDefs = append(t.attrDefs, attrDef{name, typ})
			}
		}
	}
	if drop != "" {
		for i, ix := range t.indexes {
			if ix.name == drop {
				t.indexes = append(t.indexes[:i:i], t.indexes[i+1:]...)
				break
			}
		}
	}
	t.billing, t.provision = billing, provision
	return nil
}

func (t *table) hasAttrDef(name string) bool {
	for _, a := range t.attrDefs {
		if a.name == name {
			return true
		}
	}
	return false
}

func (e *Engine) listTables(body []byte) ([]byte, error) {
	var in struct {
		ExclusiveStartTableName string
		Limit                   *int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 100 {
			return nil, errf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100 and greater than or equal to 1", *in.Limit)
		}
		limit = *in.Limit
	}
	e.mu.RLock()
	names := make([]string, 0, len(e.tables))
	for n := range e.tables {
		if n > in.ExclusiveStartTableName {
			names = append(names, n)
		}
	}
	e.mu.RUnlock()
	sort.Strings(names)
	out := struct {
		TableNames             []string
		LastEvaluatedTableName string `json:",omitempty"`
	}{TableNames: names}
	if len(names) > limit {
		out.TableNames = names[:limit]
		out.LastEvaluatedTableName = names[limit-1]
	}
	return marshal(out)
}

package engine

import (
	"sort"
	"strconv"
	"strings"

	"github.com/truora/minidyn/types"
)

// legacy holds the parameters DynamoDB had before expressions. The engine
// translates them into the expressions they stand for, with generated
// placeholders (#lk0, :lv0, …) so that no name or value needs escaping,
// and runs those on the same paths as a request written with expressions.
type legacy struct {
	Expected            map[string]legacyCond
	ConditionalOperator string
	AttributeUpdates    map[string]legacyUpdate
	KeyConditions       map[string]legacyCond
	QueryFilter         map[string]legacyCond
	ScanFilter          map[string]legacyCond
}

// legacyCond is one entry of Expected, KeyConditions, QueryFilter or
// ScanFilter (Value and Exists belong to Expected only).
type legacyCond struct {
	Value              *types.Item
	Exists             *bool
	ComparisonOperator string
	AttributeValueList []*types.Item
}

// legacyUpdate is one entry of AttributeUpdates.
type legacyUpdate struct {
	Action string
	Value  *types.Item
}

// legacyArgs is how many values each ComparisonOperator takes; -1 is one
// or more.
var legacyArgs = map[string]int{
	"EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1,
	"NOT_NULL": 0, "NULL": 0, "CONTAINS": 1, "NOT_CONTAINS": 1,
	"BEGINS_WITH": 1, "IN": -1, "BETWEEN": 2,
}

// legacyKeyOps are the operators a KeyConditions entry may use.
var legacyKeyOps = map[string]bool{"EQ": true, "LE": true, "LT": true, "GE": true, "GT": true, "BEGINS_WITH": true, "BETWEEN": true}

const invalidParam = "One or more parameter values were invalid: "

// mixedParams refuses a request that uses legacy parameters (non) together
// with expression parameters (exprs), as DynamoDB does.
func mixedParams(non, exprs []string) error {
	if len(non) > 0 && len(exprs) > 0 {
		return errf("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {%s} Expression parameters: {%s}", strings.Join(non, ", "), strings.Join(exprs, ", "))
	}
	return nil
}

// present lists the labels whose flag is set, in the order given.
func present(pairs ...any) []string {
	var out []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1].(bool) {
			out = append(out, pairs[i].(string))
		}
	}
	return out
}

// legacyExpr builds expressions from legacy parameters.
type legacyExpr struct {
	names  map[string]string // placeholder → attribute name
	byAttr map[string]string // attribute name → placeholder
	values item
}

func newLegacyExpr() *legacyExpr {
	return &legacyExpr{names: map[string]string{}, byAttr: map[string]string{}, values: item{}}
}

func (x *legacyExpr) name(attr string) string {
	if k, ok := x.byAttr[attr]; ok {
		return k
	}
	k := "#lk" + strconv.Itoa(len(x.names))
	x.names[k], x.byAttr[attr] = attr, k
	return k
}

func (x *legacyExpr) value(v *types.Item) string {
	k := ":lv" + strconv.Itoa(len(x.values))
	x.values[k] = v
	return k
}

// attrs returns the generated names and values, nil when there are none
// (DynamoDB refuses an empty ExpressionAttributeNames or Values).
func (x *legacyExpr) attrs() (map[string]string, item) {
	names, values := x.names, x.values
	if len(names) == 0 {
		names = nil
	}
	if len(values) == 0 {
		values = nil
	}
	return names, values
}

func checkConditionalOperator(op string) error {
	switch op {
	case "", "AND", "OR":
		return nil
	}
	return errf("1 validation error detected: Value '%s' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [AND, OR]", op)
}

// compare renders attr op args as an expression.
func (x *legacyExpr) compare(param, attr, op string, args []*types.Item) (string, error) {
	want, ok := legacyArgs[op]
	if !ok {
		return "", errf("1 validation error detected: Value '%s' at '%s.%s.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]", op, lowerFirst(param), attr)
	}
	if want >= 0 && len(args) != want || want < 0 && len(args) == 0 {
		return "", errf(invalidParam+"Invalid number of argument(s) for the %s ComparisonOperator", op)
	}
	for _, a := range args {
		if a == nil {
			return "", errf(invalidParam+"Invalid number of argument(s) for the %s ComparisonOperator", op)
		}
		if t, err := typeOf(a); err == nil && !legacyTakes(op, t) {
			return "", errf(invalidParam+"ComparisonOperator %s is not valid for %s AttributeValue type", op, t)
		}
	}
	if op == "BETWEEN" {
		lt, _ := typeOf(args[0])
		if ht, _ := typeOf(args[1]); lt == ht {
			if c, ok := compareScalars(args[0], args[1], lt); ok && c > 0 {
				return "", errf("The BETWEEN condition was provided a range where the lower bound is greater than the upper bound")
			}
		}
	}
	k := x.name(attr)
	switch op {
	case "NOT_NULL":
		return "attribute_exists(" + k + ")", nil
	case "NULL":
		return "attribute_not_exists(" + k + ")", nil
	case "CONTAINS":
		return "contains(" + k + ", " + x.value(args[0]) + ")", nil
	case "NOT_CONTAINS":
		return "NOT contains(" + k + ", " + x.value(args[0]) + ")", nil
	case "BEGINS_WITH":
		return "begins_with(" + k + ", " + x.value(args[0]) + ")", nil
	case "BETWEEN":
		return k + " BETWEEN " + x.value(args[0]) + " AND " + x.value(args[1]), nil
	case "IN":
		vs := make([]string, len(args))
		for i, a := range args {
			vs[i] = x.value(a)
		}
		return k + " IN (" + strings.Join(vs, ", ") + ")", nil
	}
	sym := map[string]string{"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}[op]
	return k + " " + sym + " " + x.value(args[0]), nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// filter renders a KeyConditions, QueryFilter or ScanFilter map, its
// entries joined by join ("AND" or "OR").
func (x *legacyExpr) filter(param string, m map[string]legacyCond, join string, key bool) (string, error) {
	var parts []string
	for _, attr := range sortedNames(m) {
		c := m[attr]
		if key && legacyArgs[c.ComparisonOperator] != 0 && !legacyKeyOps[c.ComparisonOperator] {
			return "", errf("Attempted conditional constraint is not an indexable operation")
		}
		p, err := x.compare(param, attr, c.ComparisonOperator, c.AttributeValueList)
		if err != nil {
			return "", err
		}
		parts = append(parts, p)
	}
	return joinConditions(parts, join), nil
}

// expected renders an Expected map.
func (x *legacyExpr) expected(m map[string]legacyCond, join string) (string, error) {
	var parts []string
	for _, attr := range sortedNames(m) {
		c := m[attr]
		var p string
		var err error
		switch {
		case c.AttributeValueList != nil && c.ComparisonOperator == "":
			return "", errf(invalidParam+"AttributeValueList can only be used with a ComparisonOperator for Attribute: %s", attr)
		case c.ComparisonOperator != "" && c.Exists != nil:
			return "", errf("1 validation error detected: "+invalidParam+"Exists and ComparisonOperator cannot be used together for Attribute: %s", attr)
		case c.ComparisonOperator != "":
			args := c.AttributeValueList
			if args == nil && c.Value != nil {
				args = []*types.Item{c.Value}
			}
			p, err = x.compare("Expected", attr, c.ComparisonOperator, args)
		case c.Exists == nil && c.Value == nil:
			return "", errf("1 validation error detected: "+invalidParam+"Value must be provided when Exists is null for Attribute: %s", attr)
		case c.Exists != nil && *c.Exists && c.Value == nil:
			return "", errf("1 validation error detected: "+invalidParam+"Value must be provided when Exists is true for Attribute: %s", attr)
		case c.Exists != nil && !*c.Exists && c.Value != nil:
			return "", errf("1 validation error detected: "+invalidParam+"Value cannot be used when Exists is false for Attribute: %s", attr)
		case c.Exists != nil && !*c.Exists:
			p = "attribute_not_exists(" + x.name(attr) + ")"
		default:
			p = x.name(attr) + " = " + x.value(c.Value)
		}
		if err != nil {
			return "", err
		}
		parts = append(parts, p)
	}
	return joinConditions(parts, join), nil
}

func joinConditions(parts []string, join string) string {
	if join == "" {
		join = "AND"
	}
	if len(parts) == 1 {
		return parts[0]
	}
	for i, p := range parts {
		parts[i] = "(" + p + ")"
	}
	return strings.Join(parts, " "+join+" ")
}

// updates renders an AttributeUpdates map as an update expression.
func (x *legacyExpr) updates(m map[string]legacyUpdate) (string, error) {
	var set, remove, add, del []string
	for _, attr := range sortedNames(m) {
		u := m[attr]
		action := u.Action
		if action == "" {
			action = "PUT"
		}
		switch action {
		case "PUT", "ADD", "DELETE":
		default:
			return "", errf("1 validation error detected: Value '%s' at 'attributeUpdates.%s.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]", u.Action, attr)
		}
		if u.Value == nil && action != "DELETE" {
			return "", errf(invalidParam + "Only DELETE action is allowed when no attribute value is specified")
		}
		k := x.name(attr)
		switch {
		case action == "PUT":
			set = append(set, k+" = "+x.value(u.Value))
		case action == "DELETE" && u.Value == nil:
			remove = append(remove, k)
		case action == "DELETE":
			del = append(del, k+" "+x.value(u.Value))
		case u.Value.L != nil:
			// ADD appends to a list, which the ADD of an expression
			// does not do.
			empty := x.value(&types.Item{L: []*types.Item{}})
			set = append(set, k+" = list_append(if_not_exists("+k+", "+empty+"), "+x.value(u.Value)+")")
		default:
			add = append(add, k+" "+x.value(u.Value))
		}
	}
	var b []string
	for _, c := range []struct {
		verb  string
		parts []string
	}{{"SET", set}, {"REMOVE", remove}, {"ADD", add}, {"DELETE", del}} {
		if len(c.parts) > 0 {
			b = append(b, c.verb+" "+strings.Join(c.parts, ", "))
		}
	}
	return strings.Join(b, " "), nil
}

func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// onlyWithExpressions refuses expression attributes in a request written
// with legacy parameters only.
func onlyWithExpressions(names map[string]string, values item) error {
	if names != nil {
		return errf("ExpressionAttributeNames can only be specified when using expressions")
	}
	if values != nil {
		return errf("ExpressionAttributeValues can only be specified when using expressions")
	}
	return nil
}

// fromLegacy translates Expected (and, for an UpdateItem, whose
// UpdateExpression update points to, AttributeUpdates) into expressions.
func (w *writeCommon) fromLegacy(update *string) error {
	hasUpdates := update != nil && w.AttributeUpdates != nil
	non := present("Expected", w.Expected != nil, "AttributeUpdates", hasUpdates, "ConditionalOperator", w.ConditionalOperator != "")
	if len(non) == 0 {
		return nil
	}
	exprs := present("ConditionExpression", w.ConditionExpression != "", "UpdateExpression", update != nil && *update != "")
	if err := mixedParams(non, exprs); err != nil {
		return err
	}
	if err := onlyWithExpressions(w.ExpressionAttributeNames, w.ExpressionAttributeValues); err != nil {
		return err
	}
	if err := checkConditionalOperator(w.ConditionalOperator); err != nil {
		return err
	}
	x := newLegacyExpr()
	var err error
	if hasUpdates {
		if *update, err = x.updates(w.AttributeUpdates); err != nil {
			return err
		}
	}
	if w.ConditionExpression, err = x.expected(w.Expected, w.ConditionalOperator); err != nil {
		return err
	}
	w.ExpressionAttributeNames, w.ExpressionAttributeValues = x.attrs()
	return nil
}

// fromLegacy translates KeyConditions and QueryFilter (a Query) or
// ScanFilter (a Scan) into expressions.
func (in *readInput) fromLegacy(scan bool) error {
	filter, filterName := in.QueryFilter, "QueryFilter"
	if scan {
		filter, filterName = in.ScanFilter, "ScanFilter"
	}
	keyConds := !scan && in.KeyConditions != nil
	non := present("KeyConditions", keyConds, filterName, filter != nil, "ConditionalOperator", in.ConditionalOperator != "")
	if len(non) == 0 {
		return nil
	}
	exprs := present("KeyConditionExpression", in.KeyConditionExpression != "", "FilterExpression", in.FilterExpression != "", "ProjectionExpression", in.ProjectionExpression != "")
	if err := mixedParams(non, exprs); err != nil {
		return err
	}
	if err := onlyWithExpressions(in.ExpressionAttributeNames, in.ExpressionAttributeValues); err != nil {
		return err
	}
	if err := checkConditionalOperator(in.ConditionalOperator); err != nil {
		return err
	}
	x := newLegacyExpr()
	var err error
	if keyConds {
		if in.KeyConditionExpression, err = x.filter("KeyConditions", in.KeyConditions, "AND", true); err != nil {
			return err
		}
	}
	if in.FilterExpression, err = x.filter(filterName, filter, in.ConditionalOperator, false); err != nil {
		return err
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = x.attrs()
	return nil
}

// legacyTakes reports whether ComparisonOperator op takes a value of type
// t: the ordering operators and IN take scalars, CONTAINS and
// NOT_CONTAINS no set or document, BEGINS_WITH a String or Binary.
func legacyTakes(op, t string) bool {
	scalar := t == "S" || t == "N" || t == "B"
	switch op {
	case "LT", "LE", "GT", "GE", "IN", "BETWEEN":
		return scalar
	case "CONTAINS", "NOT_CONTAINS":
		return scalar || t == "BOOL" || t == "NULL"
	case "BEGINS_WITH":
		return t == "S" || t == "B"
	}
	return true
}

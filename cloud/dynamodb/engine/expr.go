package engine

import (
	"errors"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/truora/minidyn/interpreter"
	"github.com/truora/minidyn/interpreter/language"
	"github.com/truora/minidyn/types"
)

// exprAttrs are a request's ExpressionAttributeNames and Values.
type exprAttrs struct {
	names  map[string]string
	values item
}

// placeholders returns the #names and :values an expression uses.
func placeholders(expr string) (names, values []string) {
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c != '#' && c != ':' {
			continue
		}
		j := i + 1
		for j < len(expr) && isNameByte(expr[j]) {
			j++
		}
		if j > i+1 {
			if c == '#' {
				names = append(names, expr[i:j])
			} else {
				values = append(values, expr[i:j])
			}
		}
		i = j - 1
	}
	return names, values
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// check validates the placeholders against the expressions that use them,
// as DynamoDB does before touching any item: every name and value given is
// used, and every :value used is given. exprs maps an expression's label
// (ConditionExpression) to its text.
func (a exprAttrs) check(exprs ...labeled) error {
	for _, e := range exprs {
		if len(e.text) > maxExpressionBytes {
			return errf("Invalid %s: Expression size has exceeded the maximum allowed size; expression size: %d", e.label, len(e.text))
		}
	}
	if err := a.checkPlaceholders(); err != nil {
		return err
	}
	usedNames, usedValues := map[string]bool{}, map[string]bool{}
	any := false
	for _, e := range exprs {
		if e.text == "" {
			continue
		}
		any = true
		ns, vs := placeholders(e.text)
		for _, n := range ns {
			usedNames[n] = true
		}
		for _, v := range vs {
			usedValues[v] = true
			if _, ok := a.values[v]; !ok {
				return errf("Invalid %s: An expression attribute value used in expression is not defined; attribute value: %s", e.label, v)
			}
		}
		for _, n := range ns {
			if _, ok := a.names[n]; !ok {
				return errf("Invalid %s: An expression attribute name used in the document path is not defined; attribute name: %s", e.label, n)
			}
		}
	}
	if !any {
		if len(a.names) > 0 {
			return errf("ExpressionAttributeNames can only be specified when using expressions")
		}
		if len(a.values) > 0 {
			return errf("ExpressionAttributeValues can only be specified when using expressions")
		}
		return nil
	}
	if unused := unusedKeys(a.names, usedNames); unused != "" {
		return errf("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", unused)
	}
	if unused := unusedKeys(a.values, usedValues); unused != "" {
		return errf("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", unused)
	}
	return nil
}

// DynamoDB's limits on expression parameters (the developer guide's
// "Expression parameters"): each expression at most 4 KB, each
// placeholder (#name, :value) at most 255 bytes, and all the
// substitutions together (placeholders and what they stand for) at most
// 2 MB. Sizes are bytes of UTF-8.
const (
	maxExpressionBytes    = 4096
	maxPlaceholderBytes   = 255
	maxSubstitutionsBytes = 2 << 20
)

// checkPlaceholders checks ExpressionAttributeNames and Values: each
// placeholder is # or : and word characters, within the limits above, and
// each value a valid value. It allocates nothing unless a placeholder is
// bad: the first in order is then named.
func (a exprAttrs) checkPlaceholders() error {
	total, bad := 0, false
	for k, v := range a.names {
		bad = bad || !validPlaceholder(k, '#')
		total += len(k) + len(v)
	}
	for k, v := range a.values {
		if !validPlaceholder(k, ':') {
			bad = true
			continue
		}
		n, err := validateValue(v, 0)
		if err != nil {
			return err
		}
		total += len(k) + n
	}
	if bad {
		if err := placeholderError("ExpressionAttributeNames", a.names, '#'); err != nil {
			return err
		}
		return placeholderError("ExpressionAttributeValues", a.values, ':')
	}
	if total > maxSubstitutionsBytes {
		return errf("ExpressionAttributeNames and ExpressionAttributeValues exceed the maximum total size of 2 MB: %d bytes", total)
	}
	return nil
}

// validPlaceholder reports whether k is prefix and word characters, at
// most maxPlaceholderBytes long.
func validPlaceholder(k string, prefix byte) bool {
	if len(k) < 2 || len(k) > maxPlaceholderBytes || k[0] != prefix {
		return false
	}
	for i := 1; i < len(k); i++ {
		if !isNameByte(k[i]) {
			return false
		}
	}
	return true
}

// placeholderError names the first bad placeholder of m, as DynamoDB
// words it, or returns nil.
func placeholderError[V any](param string, m map[string]V, prefix byte) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch {
		case len(k) > maxPlaceholderBytes:
			return errf("%s contains invalid key: The key is longer than %d bytes; key: \"%s\"", param, maxPlaceholderBytes, k)
		case !validPlaceholder(k, prefix):
			return errf("%s contains invalid key: Syntax error; key: \"%s\"", param, k)
		}
	}
	return nil
}

func unusedKeys[V any](m map[string]V, used map[string]bool) string {
	var out []string
	for k := range m {
		if !used[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

type labeled struct {
	label, text string
}

// match evaluates a condition or filter expression on it (an empty item
// when there is none) through minidyn's interpreter.
func (e *Engine) match(label, expr string, it item, a exprAttrs) (bool, error) {
	if it == nil {
		it = item{}
	}
	typ := interpreter.ExpressionTypeConditional
	if label == "FilterExpression" {
		typ = interpreter.ExpressionTypeFilter
	}
	var ok bool
	err := interpret(label, func() (err error) {
		ok, err = e.lang.Match(interpreter.MatchInput{
			Expression:     expr,
			ExpressionType: typ,
			Item:           it,
			Attributes:     a.values,
			Aliases:        a.names,
		})
		return err
	})
	return ok, err
}

// interpret runs one call of minidyn's interpreter, wording its error as
// DynamoDB's ValidationException. The interpreter panics on some
// expressions it parses but cannot evaluate (attribute_exists() with no
// operand, found by FuzzRequests): that too is the caller's bad
// expression, not a fault of the service.
func interpret(label string, call func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errf("Invalid %s: the expression cannot be evaluated (check each function's operands): %v", label, p)
		}
	}()
	if err := call(); err != nil {
		return exprError(label, err)
	}
	return nil
}

// exprError words an interpreter error as DynamoDB's ValidationException.
func exprError(label string, err error) error {
	msg := err.Error()
	if !strings.HasPrefix(msg, "Invalid ") {
		msg = "Invalid " + label + ": " + msg
	}
	return errf("%s", msg)
}

// projectItem applies a ProjectionExpression to it.
func (e *Engine) projectItem(expr string, it item, a exprAttrs) (item, error) {
	if expr == "" {
		return it, nil
	}
	var out item
	err := interpret("ProjectionExpression", func() (err error) {
		out, err = e.lang.Project(interpreter.ProjectInput{Expression: expr, Item: it, Aliases: a.names})
		return err
	})
	if err != nil {
		return nil, err
	}
	compactLists(out)
	return out, nil
}

// compactLists drops the holes the interpreter leaves in projected lists:
// projecting l[1] of [x, y] gives [y], as DynamoDB returns it.
func compactLists(it item) {
	for _, v := range it {
		compactValue(v)
	}
}

func compactValue(v *types.Item) {
	if v == nil {
		return
	}
	if v.L != nil {
		kept := v.L[:0]
		for _, e := range v.L {
			if e != nil {
				compactValue(e)
				kept = append(kept, e)
			}
		}
		v.L = kept
	}
	if v.M != nil {
		compactLists(v.M)
	}
}

// attributesToGet applies the legacy AttributesToGet parameter.
func attributesToGet(names []string, it item) item {
	if len(names) == 0 {
		return it
	}
	out := make(item, len(names))
	for _, n := range names {
		if v, ok := it[n]; ok {
			out[n] = v
		}
	}
	return out
}

// updateTargets returns the top-level attributes an update expression's
// actions write, or an error when it does not parse.
func updateTargets(expr string, names map[string]string) ([]string, error) {
	p := language.NewUpdateParser(language.NewLexer(expr))
	stmt := p.ParseUpdateExpression()
	if len(p.Errors()) > 0 || stmt == nil || stmt.Expression == nil {
		return nil, errors.New("Syntax error; " + strings.Join(p.Errors(), "; "))
	}
	var out []string
	var walk func(language.Expression)
	walk = func(x language.Expression) {
		switch n := x.(type) {
		case *language.UpdateExpression:
			for _, sub := range n.Expressions {
				walk(sub)
			}
		case *language.ActionExpression:
			if root := rootName(n.Left, names); root != "" {
				out = append(out, root)
			}
		}
	}
	walk(stmt.Expression)
	return out, nil
}

func rootName(x language.Expression, names map[string]string) string {
	switch n := x.(type) {
	case *language.Identifier:
		name := n.Value
		if i := strings.IndexAny(name, ".["); i > 0 {
			name = name[:i]
		}
		if real, ok := names[name]; ok {
			return real
		}
		return name
	case *language.IndexExpression:
		return rootName(n.Left, names)
	}
	return ""
}

// applyUpdate runs an update expression on a copy of old (or of key when
// there is no old item) and returns the new item and the attributes the
// expression wrote.
func (e *Engine) applyUpdate(expr string, old, key item, a exprAttrs) (item, []string, error) {
	base := old
	if base == nil {
		base = key
	}
	if expr == "" {
		return cloneItem(base), nil, nil
	}
	targets, err := updateTargets(expr, a.names)
	if err != nil {
		return nil, nil, exprError("UpdateExpression", err)
	}
	next := cloneItem(base)
	if err := interpret("UpdateExpression", func() error {
		return e.lang.Update(interpreter.UpdateInput{Expression: expr, Item: next, Attributes: a.values, Aliases: a.names})
	}); err != nil {
		return nil, nil, err
	}
	// The interpreter writes every attribute back through its own values,
	// numbers as float64: an attribute the expression did not target keeps
	// its stored value exactly (38-digit numbers included).
	written := map[string]bool{}
	for _, t := range targets {
		written[t] = true
	}
	for name, v := range next {
		if written[name] {
			if emptyValue(v) {
				delete(next, name) // DELETE emptied a set: DynamoDB removes it
			}
			continue
		}
		if ov, ok := base[name]; ok {
			next[name] = ov
		} else {
			delete(next, name)
		}
	}
	for name, ov := range base {
		if _, ok := next[name]; !ok && !written[name] {
			next[name] = ov
		}
	}
	return next, targets, nil
}

// emptyValue reports a value with no data type set, or an empty set.
func emptyValue(v *types.Item) bool {
	if v == nil {
		return true
	}
	if v.SS != nil || v.NS != nil || v.BS != nil {
		return len(v.SS)+len(v.NS)+len(v.BS) == 0
	}
	_, err := typeOf(v)
	return err != nil
}

// updatedAttributes returns the attributes among targets of it (for
// UPDATED_OLD and UPDATED_NEW).
func updatedAttributes(it item, targets []string) item {
	out := item{}
	for _, t := range targets {
		if v, ok := it[t]; ok {
			out[t] = v
		}
	}
	return out
}

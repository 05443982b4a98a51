package engine

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sort"
	"strconv"
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

// reservedWordIn returns the first attribute name of expr, as written,
// that is one of DynamoDB's reserved words, anywhere in a document path
// (status, a.status, a[0].status): DynamoDB refuses them, and the caller
// writes #placeholders instead. Function names (size(…)), the operators
// and clause keywords of the grammar, placeholders and list indexes are
// not attribute names.
func reservedWordIn(expr string) string {
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if !isNameByte(c) {
			continue
		}
		j := i
		for j < len(expr) && isNameByte(expr[j]) {
			j++
		}
		word := expr[i:j]
		prev := byte(' ')
		if i > 0 {
			prev = expr[i-1]
		}
		k := j
		for k < len(expr) && (expr[k] == ' ' || expr[k] == '\t' || expr[k] == '\n' || expr[k] == '\r') {
			k++
		}
		call := k < len(expr) && expr[k] == '('
		switch {
		case prev == '#' || prev == ':', c >= '0' && c <= '9', call:
		case language.LookupIdent(word) != language.IDENT:
			// AND, OR, NOT, BETWEEN, IN, SET, REMOVE, ADD, DELETE
		case language.IsReservedWord(strings.ToUpper(word)):
			return word
		}
		i = j - 1
	}
	return ""
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
	for _, e := range exprs {
		if w := reservedWordIn(e.text); w != "" {
			return errf("Invalid %s: Attribute name is a reserved keyword; reserved keyword: %s", e.label, w)
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
// when there is none): condition.go walks it, with minidyn's parser and
// evaluator.
func (e *Engine) match(label, expr string, it item, a exprAttrs) (bool, error) {
	if it == nil {
		it = item{}
	}
	var ok bool
	err := interpret(label, func() (err error) {
		ok, err = evalCondition(label, expr, it, a)
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

// parseUpdate parses an update expression into its actions.
func parseUpdate(expr string) (*language.UpdateStatement, []*language.ActionExpression, error) {
	p := language.NewUpdateParser(language.NewLexer(expr))
	stmt := p.ParseUpdateExpression()
	if len(p.Errors()) > 0 || stmt == nil || stmt.Expression == nil {
		return nil, nil, errors.New("Syntax error; " + strings.Join(p.Errors(), "; "))
	}
	var out []*language.ActionExpression
	var walk func(language.Expression)
	walk = func(x language.Expression) {
		switch n := x.(type) {
		case *language.UpdateExpression:
			for _, sub := range n.Expressions {
				walk(sub)
			}
		case *language.ActionExpression:
			out = append(out, n)
		}
	}
	walk(stmt.Expression)
	return stmt, out, nil
}

// updateTargets returns the top-level attributes an update expression's
// actions write, or an error when it does not parse.
func updateTargets(expr string, names map[string]string) ([]string, error) {
	_, actions, err := parseUpdate(expr)
	if err != nil {
		return nil, err
	}
	if err := checkOverlap(actions, names); err != nil {
		return nil, err
	}
	var out []string
	for _, act := range actions {
		if root := rootName(act.Left, names); root != "" {
			out = append(out, root)
		}
	}
	return out, nil
}

// checkOverlap refuses two actions on the same document path or on a path
// and one inside it (SET a = :m ADD a.b :one), as DynamoDB does: the
// result would depend on the order of the actions.
func checkOverlap(actions []*language.ActionExpression, names map[string]string) error {
	paths := make([][]pathStep, 0, len(actions))
	for _, act := range actions {
		p, err := documentPath(act.Left, names)
		if err != nil {
			continue
		}
		for _, q := range paths {
			n := min(len(p), len(q))
			if slices.Equal(p[:n], q[:n]) {
				return fmt.Errorf("Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", renderPath(q), renderPath(p))
			}
		}
		paths = append(paths, p)
	}
	return nil
}

// renderPath writes a document path as DynamoDB's errors do: [a, b, [0]].
func renderPath(p []pathStep) string {
	parts := make([]string, len(p))
	for i, st := range p {
		if st.list {
			parts[i] = "[" + strconv.Itoa(st.index) + "]"
		} else {
			parts[i] = st.key
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
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

// nestedSetAction reports an ADD or DELETE action on a nested path
// (a.b, #a.#b[0]): minidyn's interpreter parses them but leaves the item
// unchanged, so the engine applies them itself (applyNestedAction).
func nestedSetAction(act *language.ActionExpression) bool {
	if act.Token.Type != language.ADD && act.Token.Type != language.DELETE {
		return false
	}
	_, ok := act.Left.(*language.IndexExpression)
	return ok
}

// applyUpdate runs an update expression on a copy of old (or of key when
// there is no old item) and returns the new item and the attributes the
// expression wrote.
func (e *Engine) applyUpdate(expr string, old, key item, a exprAttrs) (item, [][]pathStep, error) {
	base := old
	if base == nil {
		base = key
	}
	if expr == "" {
		return cloneItem(base), nil, nil
	}
	stmt, actions, err := parseUpdate(expr)
	if err != nil {
		return nil, nil, exprError("UpdateExpression", err)
	}
	var targets [][]pathStep
	var nested, removed []*language.ActionExpression
	var rest []language.Expression
	written := map[string]bool{}
	for _, act := range actions {
		root := rootName(act.Left, a.names)
		if p, err := documentPath(act.Left, a.names); err == nil {
			targets = append(targets, p)
		}
		if _, ok := act.Left.(*language.Identifier); ok && act.Token.Type == language.REMOVE {
			removed = append(removed, act)
		}
		if nestedSetAction(act) {
			nested = append(nested, act)
			continue
		}
		rest = append(rest, act)
		written[root] = true
	}
	next := cloneItem(base)
	switch {
	case len(nested) == 0:
		err = interpret("UpdateExpression", func() error {
			return e.lang.Update(interpreter.UpdateInput{Expression: expr, Item: next, Attributes: a.values, Aliases: a.names})
		})
	case len(rest) > 0:
		err = interpret("UpdateExpression", func() error {
			return evalActions(stmt, rest, next, a)
		})
	}
	if err != nil {
		return nil, nil, err
	}
	// The interpreter writes every attribute back through its own values,
	// numbers as float64: an attribute the expression did not target keeps
	// its stored value exactly (38-digit numbers included).
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
	// The interpreter forgets a removed top-level attribute without taking
	// it out of the item it writes back.
	for _, act := range removed {
		delete(next, rootName(act.Left, a.names))
	}
	for _, act := range nested {
		if err := applyNestedAction(act, next, a); err != nil {
			return nil, nil, err
		}
	}
	return next, targets, nil
}

// evalActions runs the actions of an update statement (a subset of its
// own) on it through minidyn's evaluator, as interpreter.Update runs a
// whole expression.
func evalActions(stmt *language.UpdateStatement, actions []language.Expression, it item, a exprAttrs) error {
	env := language.NewEnvironment()
	env.Aliases = maps.Clone(a.names)
	if env.Aliases == nil {
		env.Aliases = map[string]string{}
	}
	if err := env.AddAttributes(maps.Clone(it)); err != nil {
		return err
	}
	values := map[string]bool{}
	for k := range a.values {
		values[k] = true
	}
	if err := env.AddAttributes(a.values); err != nil {
		return err
	}
	sub := &language.UpdateStatement{Token: stmt.Token, Expression: &language.UpdateExpression{Expressions: actions}}
	if ue, ok := stmt.Expression.(*language.UpdateExpression); ok {
		sub.Expression.(*language.UpdateExpression).Token = ue.Token
	}
	if res := language.EvalUpdate(sub, env); res.Type() == language.ObjectTypeError {
		if e, ok := res.(*language.Error); ok {
			return errors.New(e.Message)
		}
		return errors.New(res.Inspect())
	}
	env.Apply(it, a.names, values)
	return nil
}

const (
	msgInvalidDocumentPath = "The document path provided in the update expression is invalid for update"
	msgOperandType         = "An operand in the update expression has an incorrect data type"
)

// pathStep is one step of a document path: a map key or a list index.
type pathStep struct {
	key   string
	index int
	list  bool
}

// documentPath resolves x (an identifier, or a chain of .key and [n]
// steps on one) into its steps, names substituted.
func documentPath(x language.Expression, names map[string]string) ([]pathStep, error) {
	switch n := x.(type) {
	case *language.Identifier:
		name := n.Value
		if real, ok := names[name]; ok {
			name = real
		}
		return []pathStep{{key: name}}, nil
	case *language.IndexExpression:
		steps, err := documentPath(n.Left, names)
		if err != nil {
			return nil, err
		}
		id, ok := n.Index.(*language.Identifier)
		if !ok {
			return nil, errors.New(msgInvalidDocumentPath)
		}
		if n.Type == language.ObjectTypeList {
			i, err := strconv.Atoi(id.Value)
			if err != nil || i < 0 {
				return nil, errors.New(msgInvalidDocumentPath)
			}
			return append(steps, pathStep{index: i, list: true}), nil
		}
		name := id.Value
		if real, ok := names[name]; ok {
			name = real
		}
		return append(steps, pathStep{key: name}), nil
	}
	return nil, errors.New(msgInvalidDocumentPath)
}

// applyNestedAction applies an ADD or DELETE on a nested path to it, as
// DynamoDB does: the path's parent must exist and be a map (or a list for
// an index); ADD adds a number or unites sets, creating the attribute when
// it is missing; DELETE takes elements out of a set, removing it when it
// becomes empty, and does nothing when the attribute is missing.
func applyNestedAction(act *language.ActionExpression, it item, a exprAttrs) error {
	op := act.Token.Type
	ref, ok := act.Right.(*language.Identifier)
	if !ok || !strings.HasPrefix(ref.Value, ":") {
		return errf("Invalid UpdateExpression: Syntax error; the operand of %s must be an expression attribute value", op)
	}
	val, ok := a.values[ref.Value]
	if !ok {
		return errf("Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: %s", ref.Value)
	}
	typ, err := typeOf(val)
	if err != nil {
		return err
	}
	switch {
	case op == language.ADD && typ != "N" && typ != "SS" && typ != "NS" && typ != "BS",
		op == language.DELETE && typ != "SS" && typ != "NS" && typ != "BS":
		return errf("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: %s, operand type: %s", op, typeName(typ))
	}
	steps, err := documentPath(act.Left, a.names)
	if err != nil {
		return errf("%s", err.Error())
	}
	// Walk to the parent of the last step.
	var parent *types.Item
	if root, ok := it[steps[0].key]; ok {
		parent = root
	} else {
		return errf("%s", msgInvalidDocumentPath)
	}
	for _, st := range steps[1 : len(steps)-1] {
		parent = child(parent, st)
		if parent == nil {
			return errf("%s", msgInvalidDocumentPath)
		}
	}
	last := steps[len(steps)-1]
	switch {
	case last.list && parent.L == nil, !last.list && parent.M == nil:
		return errf("%s", msgInvalidDocumentPath)
	}
	cur := child(parent, last)
	var out *types.Item
	if cur == nil {
		if op == language.DELETE {
			return nil
		}
		out = cloneValue(val)
	} else {
		curTyp, _ := typeOf(cur)
		if curTyp != typ {
			return errf("%s", msgOperandType)
		}
		if out, err = combine(op, cur, val); err != nil {
			return err
		}
	}
	switch {
	case last.list && last.index < len(parent.L):
		if out == nil {
			parent.L = slices.Delete(parent.L, last.index, last.index+1)
		} else {
			parent.L[last.index] = out
		}
	case last.list:
		if out != nil {
			parent.L = append(parent.L, out)
		}
	case out == nil:
		delete(parent.M, last.key)
	default:
		parent.M[last.key] = out
	}
	return nil
}

// child returns the value at one step below v, or nil.
func child(v *types.Item, st pathStep) *types.Item {
	if st.list {
		if v.L == nil || st.index >= len(v.L) {
			return nil
		}
		return v.L[st.index]
	}
	if v.M == nil {
		return nil
	}
	return v.M[st.key]
}

// combine computes cur ADD val or cur DELETE val (of the same type); nil
// when DELETE leaves an empty set.
func combine(op language.TokenType, cur, val *types.Item) (*types.Item, error) {
	if cur.N != nil && val.N != nil {
		sum, err := addNumbers(*cur.N, *val.N)
		if err != nil {
			return nil, errf("%s", err.Error())
		}
		return &types.Item{N: &sum}, nil
	}
	out := cloneValue(cur)
	switch {
	case cur.SS != nil:
		out.SS = setOp(op, out.SS, val.SS, func(s *string) string { return *s })
	case cur.NS != nil:
		out.NS = setOp(op, out.NS, val.NS, func(s *string) string { return canonicalNumber(*s) })
	case cur.BS != nil:
		out.BS = setOp(op, out.BS, val.BS, func(b []byte) string { return string(b) })
	}
	if emptyValue(out) {
		return nil, nil
	}
	return out, nil
}

// setOp adds (ADD) or takes out (DELETE) the elements of b in a, elements
// compared by key.
func setOp[E any](op language.TokenType, a, b []E, key func(E) string) []E {
	in := make(map[string]bool, len(b))
	for _, e := range b {
		in[key(e)] = true
	}
	if op == language.DELETE {
		return slices.DeleteFunc(a, func(e E) bool { return in[key(e)] })
	}
	for _, e := range a {
		delete(in, key(e))
	}
	for _, e := range b {
		if in[key(e)] {
			a = append(a, e)
			delete(in, key(e))
		}
	}
	return a
}

// canonicalNumber is a number's value as a comparable string.
func canonicalNumber(s string) string {
	d, err := parseNumber(s)
	if err != nil {
		return s
	}
	return string(appendNumberKey(nil, d))
}

// addNumbers adds two DynamoDB numbers exactly (decimal arithmetic), and
// checks the sum against DynamoDB's limits.
func addNumbers(x, y string) (string, error) {
	var rx, ry big.Rat
	if _, ok := rx.SetString(x); !ok {
		return "", errNumberSyntax
	}
	if _, ok := ry.SetString(y); !ok {
		return "", errNumberSyntax
	}
	sum := new(big.Rat).Add(&rx, &ry)
	// Both operands are finite decimals: so is the sum, with at most as
	// many fraction digits as the longer one.
	scale := max(fractionDigits(x), fractionDigits(y))
	s := sum.FloatString(scale)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	if _, err := parseNumber(s); err != nil {
		return "", err
	}
	return s, nil
}

// fractionDigits is how many digits a decimal number has after its point,
// its exponent applied.
func fractionDigits(s string) int {
	d, err := parseNumber(s)
	if err != nil || d.digits == "" {
		return 0
	}
	return max(len(d.digits)-d.exp, 0)
}

// typeName is DynamoDB's name for a data type in expression errors.
func typeName(typ string) string {
	switch typ {
	case "S":
		return "STRING"
	case "N":
		return "NUMBER"
	case "B":
		return "BINARY"
	case "BOOL":
		return "BOOLEAN"
	case "NULL":
		return "NULL"
	case "M":
		return "MAP"
	case "L":
		return "LIST"
	}
	return typ
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

// updatedAttributes returns the parts of it at the document paths an
// update wrote (for UPDATED_OLD and UPDATED_NEW): SET a.b returns a with b
// alone in it, and a path it does not hold (an attribute the update
// removed, for UPDATED_NEW) is left out.
func updatedAttributes(it item, paths [][]pathStep) item {
	out := item{}
	for _, p := range paths {
		v, ok := it[p[0].key]
		if !ok {
			continue
		}
		if len(p) == 1 {
			out[p[0].key] = cloneValue(v)
			continue
		}
		// Copy the path alone, merging with what earlier paths copied.
		sub, ok := copyPath(v, p[1:], out[p[0].key])
		if ok {
			out[p[0].key] = sub
		}
	}
	compactLists(out)
	return out
}

// copyPath returns into (a copy of v's shape, or nil) with the value of v
// at path added; false when v does not hold the path.
func copyPath(v *types.Item, path []pathStep, into *types.Item) (*types.Item, bool) {
	if len(path) == 0 {
		return cloneValue(v), true
	}
	st := path[0]
	c := child(v, st)
	if c == nil {
		return into, false
	}
	if st.list {
		if into == nil || into.L == nil {
			into = &types.Item{L: make([]*types.Item, len(v.L))}
		}
		sub, ok := copyPath(c, path[1:], into.L[st.index])
		if ok {
			into.L[st.index] = sub
		}
		return into, ok
	}
	if into == nil || into.M == nil {
		into = &types.Item{M: item{}}
	}
	sub, ok := copyPath(c, path[1:], into.M[st.key])
	if ok {
		into.M[st.key] = sub
	}
	return into, ok
}

// conditionRoots returns the top-level attribute of every document path a
// condition or filter expression names, placeholders resolved; nil when
// the expression does not parse (its evaluation reports that).
func conditionRoots(expr string, names map[string]string) []string {
	p := language.NewParser(language.NewLexer(expr))
	cond := p.ParseConditionalExpression()
	if len(p.Errors()) > 0 || cond == nil {
		return nil
	}
	var out []string
	var walk func(language.Expression)
	walk = func(x language.Expression) {
		switch n := x.(type) {
		case *language.Identifier:
			if !strings.HasPrefix(n.Value, ":") {
				out = append(out, rootName(n, names))
			}
		case *language.IndexExpression:
			walk(n.Left)
		case *language.CallExpression:
			for _, a := range n.Arguments {
				walk(a)
			}
		case *language.InfixExpression:
			walk(n.Left)
			walk(n.Right)
		case *language.PrefixExpression:
			walk(n.Right)
		case *language.BetweenExpression:
			walk(n.Left)
			walk(n.Range[0])
			walk(n.Range[1])
		case *language.InExpression:
			walk(n.Left)
			for _, r := range n.Range {
				walk(r)
			}
		}
	}
	walk(cond.Expression)
	return out
}

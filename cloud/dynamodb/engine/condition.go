package engine

// Condition and filter expressions. minidyn's evaluator (language.Eval)
// returns an error where DynamoDB evaluates a comparison or a function to
// false: operands of different types (a < :s with a a Number), a missing
// attribute (contains(gone, :v), begins_with(gone, :v)), an attribute of a
// type the function does not take (begins_with(n, :s) with n a Number).
// An error anywhere makes the whole expression fail, so a filtered Scan
// meeting one such item failed as a whole, and NOT (a < :s) failed where
// DynamoDB answers true.
//
// The engine therefore walks the expression itself: it parses it with
// minidyn's parser, evaluates AND, OR and NOT, and for each comparison
// or function resolves the operands through minidyn's evaluator, decides
// DynamoDB's false (or true, for <>) when their types cannot meet, and
// hands only the well-typed leaves to minidyn's evaluator. The module is
// used, not forked: its evaluator is right on well-typed operands, and
// what it gets wrong is decided before it is called.
//
// What DynamoDB refuses before reading any item — an operand written in
// the request (:value) whose type the operator or function can never take
// (size(:n), :list < a, begins_with(a, :n), attribute_type(a, :n), an
// unknown type name, BETWEEN bounds of two types or in the wrong order) —
// is refused by checkOperands with DynamoDB's wording, whatever the items.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/truora/minidyn/interpreter"
	"github.com/truora/minidyn/interpreter/language"
	"github.com/truora/minidyn/types"
)

// parseCondition parses a condition or filter expression and checks the
// operands written in the request (checkOperands).
func parseCondition(label, expr string, a exprAttrs) (language.Expression, error) {
	p, err := parsedConditions.parse(expr)
	if err != nil {
		return nil, err
	}
	for _, n := range p.names {
		if _, ok := a.names[n]; !ok {
			// minidyn words the error (its first undeclared name).
			if err := interpreter.ValidateExpressionAttributeNamesDeclared(label, expr, a.names); err != nil {
				return nil, err
			}
			break
		}
	}
	x := p.x
	if err := checkOperands(x, a.values); err != nil {
		return nil, fmt.Errorf("Invalid %s: %w", label, err) //nolint:staticcheck // DynamoDB's wording
	}
	return x, nil
}

// parseConditionText parses the text of a condition or filter expression.
func parseConditionText(expr string) (language.Expression, error) {
	p := language.NewParser(language.NewLexer(expr))
	cond := p.ParseConditionalExpression()
	if len(p.Errors()) != 0 {
		return nil, fmt.Errorf("%w: %s", interpreter.ErrSyntaxError, strings.Join(p.Errors(), "\n"))
	}
	if cond == nil || cond.Expression == nil {
		return nil, fmt.Errorf("%w: empty expression", interpreter.ErrSyntaxError)
	}
	return cond.Expression, nil
}

// parsedCondition is the parse of a condition's text, and the #names it
// uses as minidyn's lexer finds them (UndeclaredExpressionAttributeNames
// with no names declared).
type parsedCondition struct {
	x     language.Expression
	names []string
	// roots are the identifiers of the expression as written (#v, a),
	// cut before any . or [: a superset of the top-level attributes it
	// can read. opaque means the walk met a node it does not know, and
	// the expression may read anything.
	roots  []string
	opaque bool
}

// readRoots collects the roots of x (see parsedCondition). Unlike
// conditionRoots (expr.go), which names the paths a filter names, it
// errs towards more names: function names and the keys of map paths are
// taken too, and a node it does not know makes it give up.
func readRoots(x language.Expression, roots []string) ([]string, bool) {
	switch n := x.(type) {
	case *language.Identifier:
		if n == nil {
			return roots, false
		}
		v := n.Value
		if i := strings.IndexAny(v, ".["); i >= 0 {
			v = v[:i]
		}
		if strings.HasPrefix(v, ":") || slices.Contains(roots, v) {
			return roots, true
		}
		return append(roots, v), true
	case *language.IndexExpression:
		if n == nil {
			return roots, false
		}
		return readRootsOf(roots, n.Left, n.Index)
	case *language.InfixExpression:
		if n == nil {
			return roots, false
		}
		return readRootsOf(roots, n.Left, n.Right)
	case *language.PrefixExpression:
		if n == nil {
			return roots, false
		}
		return readRootsOf(roots, n.Right)
	case *language.CallExpression:
		if n == nil {
			return roots, false
		}
		return readRootsOf(roots, append([]language.Expression{n.Function}, n.Arguments...)...)
	case *language.BetweenExpression:
		if n == nil {
			return roots, false
		}
		return readRootsOf(roots, n.Left, n.Range[0], n.Range[1])
	case *language.InExpression:
		if n == nil {
			return roots, false
		}
		return readRootsOf(roots, append([]language.Expression{n.Left}, n.Range...)...)
	}
	return roots, false
}

func readRootsOf(roots []string, xs ...language.Expression) ([]string, bool) {
	for _, x := range xs {
		var ok bool
		if roots, ok = readRoots(x, roots); !ok {
			return roots, false
		}
	}
	return roots, true
}

// attributes appends to dst the top-level attribute names the condition
// can read, given the request's names; false when it cannot tell (a node
// it does not know, a #name not declared).
func (p parsedCondition) attributes(dst []string, names map[string]string) ([]string, bool) {
	if p.opaque {
		return dst, false
	}
	for _, r := range p.roots {
		if strings.HasPrefix(r, "#") {
			n, ok := names[r]
			if !ok {
				return dst, false
			}
			r = n
			// minidyn reads a name holding . or [ as a path, where
			// DynamoDB reads one attribute: both are taken.
			if i := strings.IndexAny(r, ".["); i >= 0 {
				dst = append(dst, r[:i])
			}
		}
		dst = append(dst, r)
	}
	return dst, true
}

// conditionCache keeps the parses of the condition texts seen last. A
// client sends the same few conditions again and again (our store one, on
// every order), and minidyn's parser builds its tables of parse functions
// anew for each parse, so that a parse cost more than the rest of a
// conditional put's evaluation. A parse is a pure function of the text,
// and neither minidyn's evaluator nor condEval changes the tree, so one
// tree serves every request and goroutine. The names it uses are kept
// with it, so that checking them against a request's declared names
// needs no second lexing. What depends on the request
// (its names and values) is checked at every call.
type conditionCache struct {
	mu sync.RWMutex
	m  map[string]parsedCondition
}

// maxCachedConditions bounds the cache: when full it is emptied, so a
// client sending ever new texts costs a parse each, as without the cache.
const maxCachedConditions = 256

var parsedConditions = &conditionCache{m: map[string]parsedCondition{}}

// parse returns the parse of expr, from the cache when it holds it. Texts
// that fail to parse are not kept.
func (c *conditionCache) parse(expr string) (parsedCondition, error) {
	c.mu.RLock()
	p, ok := c.m[expr]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	x, err := parseConditionText(expr)
	if err != nil {
		return parsedCondition{}, err
	}
	p = parsedCondition{x: x, names: language.UndeclaredExpressionAttributeNames(expr, nil)}
	roots, ok := readRoots(x, nil)
	p.roots, p.opaque = roots, !ok
	c.mu.Lock()
	if len(c.m) >= maxCachedConditions {
		clear(c.m)
	}
	// A copy: expr may be a slice of a request body.
	c.m[strings.Clone(expr)] = p
	c.mu.Unlock()
	return p, nil
}

// checkCondition validates a condition or filter expression without an
// item, so that a request is refused before any item is read.
func checkCondition(label, expr string, a exprAttrs) error {
	if expr == "" {
		return nil
	}
	return interpret(label, func() error {
		_, err := parseCondition(label, expr, a)
		return err
	})
}

// evalCondition evaluates a condition or filter expression on it.
func evalCondition(label, expr string, it item, a exprAttrs) (bool, error) {
	x, err := parseCondition(label, expr, a)
	if err != nil {
		return false, err
	}
	env := language.NewEnvironment()
	env.Aliases = maps.Clone(a.names)
	if env.Aliases == nil {
		env.Aliases = map[string]string{}
	}
	if err := env.AddAttributes(maps.Clone(it)); err != nil {
		return false, fmt.Errorf("%w: %s", interpreter.ErrUnsupportedFeature, err.Error())
	}
	if err := env.AddAttributes(a.values); err != nil {
		return false, fmt.Errorf("%w: %s", interpreter.ErrUnsupportedFeature, err.Error())
	}
	ev := condEval{env: env}
	if isOperand(x) {
		// A bare operand is no condition: minidyn words the error.
		return ev.delegate(&language.ConditionalExpression{Expression: x})
	}
	return ev.cond(x)
}

type condEval struct{ env *language.Environment }

// isOperand reports whether x is an operand (a path or a value) rather
// than a condition.
func isOperand(x language.Expression) bool {
	switch x.(type) {
	case *language.Identifier, *language.IndexExpression:
		return true
	}
	return false
}

func (ev condEval) cond(x language.Expression) (bool, error) {
	switch n := x.(type) {
	case *language.InfixExpression:
		switch n.Token.Type {
		case language.AND, language.OR:
			if isOperand(n.Left) || isOperand(n.Right) {
				return ev.delegate(n)
			}
			// Both sides are evaluated, as DynamoDB does: an error on
			// either side is the request's.
			l, err := ev.cond(n.Left)
			if err != nil {
				return false, err
			}
			r, err := ev.cond(n.Right)
			if err != nil {
				return false, err
			}
			if n.Token.Type == language.AND {
				return l && r, nil
			}
			return l || r, nil
		}
		return ev.compare(n)
	case *language.PrefixExpression:
		if n.Token.Type == language.NOT && !isOperand(n.Right) {
			v, err := ev.cond(n.Right)
			return !v, err
		}
	case *language.BetweenExpression:
		return ev.between(n)
	case *language.InExpression:
		return ev.in(n)
	case *language.CallExpression:
		return ev.call(n)
	}
	return ev.delegate(x)
}

// delegate evaluates x with minidyn's evaluator.
func (ev condEval) delegate(x language.Node) (bool, error) {
	obj := language.Eval(x, ev.env)
	switch {
	case obj == language.TRUE:
		return true, nil
	case obj == language.FALSE:
		return false, nil
	case obj != nil && obj.Type() == language.ObjectTypeError:
		return false, fmt.Errorf("%w: %s", interpreter.ErrSyntaxError, obj.Inspect())
	}
	return false, fmt.Errorf("%w: a condition must evaluate to a BOOL, %q does not", interpreter.ErrSyntaxError, x.String())
}

// operand resolves a path, a value or size(path); a missing attribute is
// minidyn's undefined object. size() of a Number, Boolean or Null
// attribute is DynamoDB's ValidationException; size() of a missing
// attribute is missing (so its comparison is false).
func (ev condEval) operand(x language.Expression) (language.Object, error) {
	if c, ok := x.(*language.CallExpression); ok && functionName(c) == "size" && len(c.Arguments) == 1 {
		arg, err := ev.operand(c.Arguments[0])
		if err != nil {
			return nil, err
		}
		if language.IsUndefinedObject(arg) {
			return arg, nil
		}
		switch t := arg.Type(); t {
		case language.ObjectTypeNumber, language.ObjectTypeBoolean, language.ObjectTypeNull:
			return nil, incorrectOperand("size", string(t))
		}
	}
	obj := language.Eval(x, ev.env)
	if obj == nil {
		return nil, fmt.Errorf("%w: %s cannot be evaluated", interpreter.ErrSyntaxError, x.String())
	}
	if obj.Type() == language.ObjectTypeError {
		return nil, fmt.Errorf("%w: %s", interpreter.ErrSyntaxError, obj.Inspect())
	}
	return obj, nil
}

func functionName(c *language.CallExpression) string {
	if id, ok := c.Function.(*language.Identifier); ok {
		return id.Value
	}
	return ""
}

// orderable reports whether values of type t compare with < and BETWEEN.
func orderable(t language.ObjectType) bool {
	return t == language.ObjectTypeString || t == language.ObjectTypeNumber || t == language.ObjectTypeBinary
}

// compare evaluates a comparison. Operands that cannot meet (one missing,
// two types, or types with no order for <, <=, >, >=) are unequal: the
// comparison is false, and <> is true.
func (ev condEval) compare(n *language.InfixExpression) (bool, error) {
	l, err := ev.operand(n.Left)
	if err != nil {
		return false, err
	}
	r, err := ev.operand(n.Right)
	if err != nil {
		return false, err
	}
	unequal := n.Operator == "<>"
	switch {
	case language.IsUndefinedObject(l) || language.IsUndefinedObject(r):
		return unequal, nil
	case l.Type() != r.Type():
		return unequal, nil
	case n.Operator != "=" && !unequal && !orderable(l.Type()):
		return false, nil
	}
	return ev.delegate(n)
}

func (ev condEval) between(n *language.BetweenExpression) (bool, error) {
	var t language.ObjectType
	for i, x := range []language.Expression{n.Left, n.Range[0], n.Range[1]} {
		v, err := ev.operand(x)
		if err != nil {
			return false, err
		}
		if language.IsUndefinedObject(v) || !orderable(v.Type()) || i > 0 && v.Type() != t {
			return false, nil
		}
		t = v.Type()
	}
	return ev.delegate(n)
}

func (ev condEval) in(n *language.InExpression) (bool, error) {
	v, err := ev.operand(n.Left)
	if err != nil {
		return false, err
	}
	if language.IsUndefinedObject(v) {
		return false, nil
	}
	for _, x := range n.Range {
		w, err := ev.operand(x)
		if err != nil {
			return false, err
		}
		if !language.IsUndefinedObject(w) && w.Type() == v.Type() {
			if ok, err := ev.delegate(&language.InfixExpression{Token: language.Token{Type: language.EQ, Literal: "="}, Left: n.Left, Operator: "=", Right: x}); ok || err != nil {
				return ok, err
			}
		}
	}
	return false, nil
}

// call evaluates a function. contains and begins_with are false on a
// missing attribute and on one of a type they do not take; attribute_type
// is false on a missing attribute.
func (ev condEval) call(n *language.CallExpression) (bool, error) {
	name := functionName(n)
	if len(n.Arguments) != 2 || name != "contains" && name != "begins_with" && name != "attribute_type" {
		return ev.delegate(n)
	}
	path, err := ev.operand(n.Arguments[0])
	if err != nil {
		return false, err
	}
	arg, err := ev.operand(n.Arguments[1])
	if err != nil {
		return false, err
	}
	if language.IsUndefinedObject(path) || language.IsUndefinedObject(arg) {
		return false, nil
	}
	switch name {
	case "contains":
		want := map[language.ObjectType]language.ObjectType{
			language.ObjectTypeString:    language.ObjectTypeString,
			language.ObjectTypeStringSet: language.ObjectTypeString,
			language.ObjectTypeNumberSet: language.ObjectTypeNumber,
			language.ObjectTypeBinarySet: language.ObjectTypeBinary,
			language.ObjectTypeBinary:    language.ObjectTypeBinary,
		}
		if path.Type() != language.ObjectTypeList && want[path.Type()] != arg.Type() {
			return false, nil
		}
	case "begins_with":
		if !(path.Type() == language.ObjectTypeString || path.Type() == language.ObjectTypeBinary) || arg.Type() != path.Type() {
			return false, nil
		}
	}
	return ev.delegate(n)
}

func incorrectOperand(fn, typ string) error {
	return fmt.Errorf("Incorrect operand type for operator or function; operator or function: %s, operand type: %s", fn, typ) //nolint:staticcheck // DynamoDB's wording
}

// attributeTypes are the names attribute_type takes.
var attributeTypes = map[string]bool{"B": true, "BOOL": true, "BS": true, "L": true, "M": true, "N": true, "NS": true, "NULL": true, "S": true, "SS": true}

// checkOperands refuses the operands written in the request (:values)
// that the operator or function they are given to can never take, as
// DynamoDB does before it reads an item.
func checkOperands(x language.Expression, values item) error {
	literal := func(x language.Expression) (*types.Item, string) {
		id, ok := x.(*language.Identifier)
		if !ok || !strings.HasPrefix(id.Value, ":") {
			return nil, ""
		}
		v := values[id.Value]
		t, err := typeOf(v)
		if err != nil {
			return nil, ""
		}
		return v, t
	}
	scalar := func(t string) bool { return t == "S" || t == "N" || t == "B" }
	switch n := x.(type) {
	case *language.InfixExpression:
		switch n.Operator {
		case "<", "<=", ">", ">=":
			for _, side := range []language.Expression{n.Left, n.Right} {
				if _, t := literal(side); t != "" && !scalar(t) {
					return incorrectOperand(n.Operator, t)
				}
			}
		}
		if err := checkOperands(n.Left, values); err != nil {
			return err
		}
		return checkOperands(n.Right, values)
	case *language.PrefixExpression:
		return checkOperands(n.Right, values)
	case *language.BetweenExpression:
		for _, side := range []language.Expression{n.Left, n.Range[0], n.Range[1]} {
			if _, t := literal(side); t != "" && !scalar(t) {
				return incorrectOperand("BETWEEN", t)
			}
		}
		lo, lt := literal(n.Range[0])
		hi, ht := literal(n.Range[1])
		if lt != "" && ht != "" {
			if lt != ht {
				return fmt.Errorf("The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: %s, upper bound operand: %s", renderLiteral(lo, lt), renderLiteral(hi, ht)) //nolint:staticcheck // DynamoDB's wording
			}
			if c, ok := compareScalars(lo, hi, lt); ok && c > 0 {
				return fmt.Errorf("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: %s, upper bound operand: %s", renderLiteral(lo, lt), renderLiteral(hi, ht)) //nolint:staticcheck // DynamoDB's wording
			}
		}
		return checkOperands(n.Left, values)
	case *language.InExpression:
		return checkOperands(n.Left, values)
	case *language.CallExpression:
		name := functionName(n)
		switch {
		case name == "size" && len(n.Arguments) == 1:
			if _, t := literal(n.Arguments[0]); t == "N" || t == "BOOL" || t == "NULL" {
				return incorrectOperand("size", t)
			}
		case name == "begins_with":
			for _, arg := range n.Arguments {
				if _, t := literal(arg); t != "" && t != "S" && t != "B" {
					return incorrectOperand("begins_with", t)
				}
			}
		case name == "attribute_type" && len(n.Arguments) == 2:
			v, t := literal(n.Arguments[1])
			switch {
			case t != "" && t != "S":
				return incorrectOperand("attribute_type", t)
			case t == "S" && !attributeTypes[*v.S]:
				return fmt.Errorf("Invalid attribute type name found; type: %s, valid types: { B; BOOL; BS; L; M; N; NS; NULL; S; SS }", *v.S) //nolint:staticcheck // DynamoDB's wording
			}
		}
		for _, arg := range n.Arguments {
			if err := checkOperands(arg, values); err != nil {
				return err
			}
		}
	}
	return nil
}

// renderLiteral writes a scalar value as DynamoDB's BETWEEN errors do:
// AttributeValue: {N:10}.
func renderLiteral(v *types.Item, t string) string {
	var s string
	switch t {
	case "S":
		s = *v.S
	case "N":
		s = *v.N
	case "B":
		s = base64.StdEncoding.EncodeToString(v.B)
	}
	return "AttributeValue: {" + t + ":" + s + "}"
}

// compareScalars compares two values of scalar type t in DynamoDB's order
// (numbers by value, strings and binaries by their bytes).
func compareScalars(a, b *types.Item, t string) (int, bool) {
	switch t {
	case "S":
		return strings.Compare(*a.S, *b.S), true
	case "B":
		return bytes.Compare(a.B, b.B), true
	case "N":
		x, err1 := parseNumber(*a.N)
		y, err2 := parseNumber(*b.N)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		return bytes.Compare(appendNumberKey(nil, x), appendNumberKey(nil, y)), true
	}
	return 0, false
}

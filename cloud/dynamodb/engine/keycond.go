package engine

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/truora/minidyn/types"
)

// A Query reads one partition in range-key order, so its key condition is
// planned here rather than evaluated item by item: the partition's encoded
// hash value is the prefix to seek to in the B-tree, and the range-key
// condition becomes bounds on the bytes after it (numbers compare as
// decimals there, strings and binaries as bytes, as DynamoDB orders them).
// The grammar is DynamoDB's, which is much smaller than a condition's:
//
//	hash = :v [AND range-condition]
//	range-condition: range op :v | range BETWEEN :a AND :b | begins_with(range, :p)
//
// with op one of = < <= > >=, names given directly or as #placeholders,
// and parentheses allowed around either condition or the whole.

// keyPlan is a planned key condition: the partition's prefix and the range
// key bounds (encoded range values; nil when unbounded).
type keyPlan struct {
	prefix         []byte
	lo, hi         []byte
	loIncl, hiIncl bool
	beginsWith     []byte // escaped prefix, no terminator
	hasBeginsWith  bool
}

type kcToken struct {
	kind string // name, value, op, lparen, rparen, comma, word
	text string
}

func lexKeyCondition(s string) ([]kcToken, error) {
	var out []kcToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, kcToken{"lparen", "("})
			i++
		case c == ')':
			out = append(out, kcToken{"rparen", ")"})
			i++
		case c == ',':
			out = append(out, kcToken{"comma", ","})
			i++
		case c == '=':
			out = append(out, kcToken{"op", "="})
			i++
		case c == '<' || c == '>':
			op := string(c)
			if i+1 < len(s) && (s[i+1] == '=' || c == '<' && s[i+1] == '>') {
				op += string(s[i+1])
			}
			out = append(out, kcToken{"op", op})
			i += len(op)
		case c == ':' || c == '#':
			j := i + 1
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("Syntax error; token: %q", string(c))
			}
			kind := "value"
			if c == '#' {
				kind = "name"
			}
			out = append(out, kcToken{kind, s[i:j]})
			i = j
		case isNameByte(c):
			j := i
			for j < len(s) && (isNameByte(s[j]) || s[j] == '-') {
				j++
			}
			out = append(out, kcToken{"word", s[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("Syntax error; token: %q", string(c))
		}
	}
	return out, nil
}

// keyCond is one parsed condition on a key attribute.
type keyCond struct {
	attr   string // resolved attribute name
	op     string // = < <= > >= BETWEEN begins_with
	values []string
}

type kcParser struct {
	toks  []kcToken
	pos   int
	names map[string]string
}

func (p *kcParser) peek() kcToken {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return kcToken{kind: "eof"}
}

func (p *kcParser) next() kcToken {
	t := p.peek()
	p.pos++
	return t
}

func (p *kcParser) isWord(w string) bool {
	t := p.peek()
	return t.kind == "word" && strings.EqualFold(t.text, w)
}

func (p *kcParser) syntax() error {
	t := p.peek()
	if t.kind == "eof" {
		return fmt.Errorf("Syntax error; token: <EOF>")
	}
	return fmt.Errorf("Syntax error; token: %q", t.text)
}

// conditions parses cond (AND cond)*.
func (p *kcParser) conditions() ([]keyCond, error) {
	var out []keyCond
	for {
		cs, err := p.primary()
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
		if !p.isWord("AND") {
			return out, nil
		}
		p.next()
	}
}

func (p *kcParser) primary() ([]keyCond, error) {
	if p.peek().kind == "lparen" {
		p.next()
		cs, err := p.conditions()
		if err != nil {
			return nil, err
		}
		if p.next().kind != "rparen" {
			p.pos--
			return nil, p.syntax()
		}
		return cs, nil
	}
	if p.isWord("begins_with") {
		p.next()
		if p.next().kind != "lparen" {
			p.pos--
			return nil, p.syntax()
		}
		attr, err := p.name()
		if err != nil {
			return nil, err
		}
		if p.next().kind != "comma" {
			p.pos--
			return nil, p.syntax()
		}
		v := p.next()
		if v.kind != "value" {
			p.pos--
			return nil, p.syntax()
		}
		if p.next().kind != "rparen" {
			p.pos--
			return nil, p.syntax()
		}
		return []keyCond{{attr: attr, op: "begins_with", values: []string{v.text}}}, nil
	}
	if p.peek().kind == "value" { // :v op name
		v := p.next()
		op := p.next()
		if op.kind != "op" {
			p.pos--
			return nil, p.syntax()
		}
		attr, err := p.name()
		if err != nil {
			return nil, err
		}
		flip := map[string]string{"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<=", "<>": "<>"}
		return []keyCond{{attr: attr, op: flip[op.text], values: []string{v.text}}}, nil
	}
	attr, err := p.name()
	if err != nil {
		return nil, err
	}
	if p.isWord("BETWEEN") {
		p.next()
		a := p.next()
		if a.kind != "value" || !p.isWord("AND") {
			p.pos--
			return nil, p.syntax()
		}
		p.next()
		b := p.next()
		if b.kind != "value" {
			p.pos--
			return nil, p.syntax()
		}
		return []keyCond{{attr: attr, op: "BETWEEN", values: []string{a.text, b.text}}}, nil
	}
	op := p.next()
	if op.kind != "op" {
		p.pos--
		return nil, p.syntax()
	}
	v := p.next()
	if v.kind != "value" {
		p.pos--
		return nil, p.syntax()
	}
	return []keyCond{{attr: attr, op: op.text, values: []string{v.text}}}, nil
}

func (p *kcParser) name() (string, error) {
	t := p.next()
	switch t.kind {
	case "word":
		return t.text, nil
	case "name":
		real, ok := p.names[t.text]
		if !ok {
			return "", fmt.Errorf("An expression attribute name used in the document path is not defined; attribute name: %s", t.text)
		}
		return real, nil
	}
	p.pos--
	return "", p.syntax()
}

// planKeyCondition parses and checks a KeyConditionExpression against the
// key schema ks and returns the plan: the partition's prefix from the hash
// condition, and the bounds within it from the range condition, if any.
func planKeyCondition(expr string, ks keySchema, a exprAttrs) (*keyPlan, error) {
	conds, err := parseKeyCondition(expr, a)
	if err != nil {
		return nil, err
	}
	hashCond, rangeCond, err := keyConditions(conds, ks)
	if err != nil {
		return nil, err
	}
	hv, err := keyConditionValue(a, hashCond.values[0], ks.hash)
	if err != nil {
		return nil, err
	}
	plan := &keyPlan{prefix: appendKeyValue(nil, ks.hash.typ, hv)}
	if rangeCond == nil {
		return plan, nil
	}
	if err := plan.bound(rangeCond, ks.rng, a); err != nil {
		return nil, err
	}
	return plan, nil
}

// parseKeyCondition parses a KeyConditionExpression into its conditions.
func parseKeyCondition(expr string, a exprAttrs) ([]keyCond, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errf("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	toks, err := lexKeyCondition(expr)
	if err != nil {
		return nil, errf("Invalid KeyConditionExpression: %s", err.Error())
	}
	p := &kcParser{toks: toks, names: a.names}
	conds, err := p.conditions()
	if err == nil && p.pos < len(p.toks) {
		err = p.syntax()
	}
	if err != nil {
		return nil, errf("Invalid KeyConditionExpression: %s", err.Error())
	}
	return conds, nil
}

// keyConditions matches the conditions to the key schema: exactly one
// equality on the hash key, at most one condition on the range key.
func keyConditions(conds []keyCond, ks keySchema) (hashCond, rangeCond *keyCond, err error) {
	for i := range conds {
		c := &conds[i]
		switch c.attr {
		case ks.hash.name:
			if hashCond != nil {
				return nil, nil, errf("KeyConditionExpressions must only contain one condition per key")
			}
			hashCond = c
		case ks.rng.name:
			if rangeCond != nil {
				return nil, nil, errf("KeyConditionExpressions must only contain one condition per key")
			}
			rangeCond = c
		default:
			if ks.hasRange() || len(conds) > 1 {
				return nil, nil, errf("Query condition missed key schema element: %s", missingKey(conds, ks))
			}
			return nil, nil, errf("Query condition missed key schema element: %s", ks.hash.name)
		}
	}
	if hashCond == nil {
		return nil, nil, errf("Query condition missed key schema element: %s", ks.hash.name)
	}
	if hashCond.op != "=" {
		return nil, nil, errf("Query key condition not supported")
	}
	return hashCond, rangeCond, nil
}

// keyConditionValue is the value a key condition compares key attribute k
// with: defined, of k's type, and not empty.
func keyConditionValue(a exprAttrs, name string, k keyAttr) (*types.Item, error) {
	v, ok := a.values[name]
	if !ok {
		return nil, errf("Invalid KeyConditionExpression: An expression attribute value used in expression is not defined; attribute value: %s", name)
	}
	if t, _ := typeOf(v); t != k.typ {
		return nil, errf("One or more parameter values were invalid: Condition parameter type does not match schema type")
	}
	if k.typ == "S" && *v.S == "" || k.typ == "B" && len(v.B) == 0 {
		return nil, errf("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", k.name)
	}
	return v, nil
}

// bound sets the plan's bounds within the partition from the condition on
// the range key rk.
func (p *keyPlan) bound(rangeCond *keyCond, rk keyAttr, a exprAttrs) error {
	enc := func(name string) ([]byte, error) {
		v, err := keyConditionValue(a, name, rk)
		if err != nil {
			return nil, err
		}
		return appendKeyValue(nil, rk.typ, v), nil
	}
	switch rangeCond.op {
	case "=", "<", "<=", ">", ">=":
		b, err := enc(rangeCond.values[0])
		if err != nil {
			return err
		}
		switch rangeCond.op {
		case "=":
			p.lo, p.hi, p.loIncl, p.hiIncl = b, b, true, true
		case "<":
			p.hi = b
		case "<=":
			p.hi, p.hiIncl = b, true
		case ">":
			p.lo = b
		case ">=":
			p.lo, p.loIncl = b, true
		}
	case "BETWEEN":
		lo, err := enc(rangeCond.values[0])
		if err != nil {
			return err
		}
		hi, err := enc(rangeCond.values[1])
		if err != nil {
			return err
		}
		if bytes.Compare(lo, hi) > 0 {
			return errf("Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {%s}, upper bound operand: AttributeValue: {%s}", rk.typ, rk.typ)
		}
		p.lo, p.hi, p.loIncl, p.hiIncl = lo, hi, true, true
	case "begins_with":
		if rk.typ == "N" {
			return errf("Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N")
		}
		v, err := keyConditionValue(a, rangeCond.values[0], rk)
		if err != nil {
			return err
		}
		raw := v.B
		if rk.typ == "S" {
			raw = []byte(*v.S)
		}
		p.beginsWith, p.hasBeginsWith = appendEscaped(nil, raw), true
		p.lo, p.loIncl = p.beginsWith, true
	default:
		return errf("Unsupported operator on KeyConditionExpression: operator: %s", rangeCond.op)
	}
	return nil
}

func missingKey(conds []keyCond, ks keySchema) string {
	for _, k := range []keyAttr{ks.hash, ks.rng} {
		found := false
		for _, c := range conds {
			if c.attr == k.name {
				found = true
			}
		}
		if !found && k.name != "" {
			return k.name
		}
	}
	return ks.hash.name
}

// cmpRange compares the range component at the start of rest with the
// encoded bound b: 0 when equal (rest continues after it), else the byte
// order, which is the value order because encodings are prefix-free.
func cmpRange(rest, b []byte) int {
	if bytes.HasPrefix(rest, b) {
		return 0
	}
	return bytes.Compare(rest, b)
}

// belowLow reports that rest is before the plan's lower bound.
func (p *keyPlan) belowLow(rest []byte) bool {
	if p.lo == nil {
		return false
	}
	if p.hasBeginsWith {
		return bytes.Compare(rest, p.beginsWith) < 0
	}
	c := cmpRange(rest, p.lo)
	return c < 0 || c == 0 && !p.loIncl
}

// aboveHigh reports that rest is past the plan's upper bound.
func (p *keyPlan) aboveHigh(rest []byte) bool {
	if p.hasBeginsWith {
		return !bytes.HasPrefix(rest, p.beginsWith) && bytes.Compare(rest, p.beginsWith) > 0
	}
	if p.hi == nil {
		return false
	}
	c := cmpRange(rest, p.hi)
	return c > 0 || c == 0 && !p.hiIncl
}

// upperPivot returns a key at or after every key the plan admits (for
// descending reads), nil meaning the end of the tree.
func (p *keyPlan) upperPivot() []byte {
	switch {
	case p.hasBeginsWith:
		return successor(append(bytes.Clone(p.prefix), p.beginsWith...))
	case p.hi != nil:
		return successor(append(bytes.Clone(p.prefix), p.hi...))
	default:
		return successor(bytes.Clone(p.prefix))
	}
}

// lowerPivot returns a key at or before every key the plan admits.
func (p *keyPlan) lowerPivot() []byte {
	if p.lo != nil {
		return append(bytes.Clone(p.prefix), p.lo...)
	}
	return bytes.Clone(p.prefix)
}

// successor returns the least byte string greater than every string that
// starts with b, or nil when there is none (b is all 0xFF).
func successor(b []byte) []byte {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b = b[:i+1]
			b[i]++
			return b
		}
	}
	return nil
}

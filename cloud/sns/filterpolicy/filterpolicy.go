// Package filterpolicy owns Amazon SNS subscription filter policies: parsing
// and validating a policy as SNS does (operators, nesting rules, the key and
// combination limits) and deciding whether a message's attributes or body
// match it. It knows nothing of topics, subscriptions or the wire.
//
// Supported, as documented by AWS: exact strings, numbers, booleans and null;
// prefix, suffix, equals-ignore-case, anything-but (a value, a list of values,
// or a prefix), numeric (=, <, <=, >, >= and a lower/upper pair), exists,
// cidr, and "$or". Values of a key are OR'ed, keys are AND'ed.
package filterpolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Scope says what a policy is matched against, as the subscription's
// FilterPolicyScope attribute does.
type Scope string

const (
	// ScopeAttributes matches the message attributes (the default). Policies
	// in this scope may not nest.
	ScopeAttributes Scope = "MessageAttributes"
	// ScopeBody matches the message body, which must be a JSON object.
	ScopeBody Scope = "MessageBody"
)

// AWS's limits on a policy.
const (
	// MaxSize is the largest policy document, in bytes (256 KB).
	MaxSize = 256 * 1024
	// MaxKeys is how many keys one policy may name (for a nested policy, only
	// the top-level keys count).
	MaxKeys = 5
	// MaxCombinations bounds the product of the value counts (times the
	// nesting depth for payload policies).
	MaxCombinations = 150
	// MaxNumber bounds numeric values (±10^9).
	MaxNumber = 1e9
)

// Error is a policy that SNS would refuse; its text follows "FilterPolicy: "
// in SNS's InvalidParameter message.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

func errorf(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Policy is a parsed, valid filter policy. Its zero value and the policy "{}"
// match every message.
type Policy struct {
	scope Scope
	root  *node
}

// node is one JSON object of the policy: its keys are AND'ed, and each "$or"
// group adds an alternative that must also hold.
type node struct {
	fields []field
	ors    [][]*node
}

// field is one key: either a leaf with its conditions (OR'ed) or a nested
// object (payload policies only).
type field struct {
	key   string
	conds []cond
	child *node
}

type condKind int

const (
	condString condKind = iota
	condNumber
	condBool
	condNull
	condPrefix
	condSuffix
	condEqualsIgnoreCase
	condAnythingBut
	condAnythingButPrefix
	condNumeric
	condExists
	condCIDR
)

type cond struct {
	kind condKind
	str  string
	num  float64
	b    bool
	// anything-but values
	strs []string
	nums []float64
	// numeric range
	lo, hi         float64
	hasLo, hasHi   bool
	loIncl, hiIncl bool
	prefix         netip.Prefix
}

// Parse validates policy for scope and returns it ready to match. A non-nil
// error is an *Error.
func Parse(policy string, scope Scope) (*Policy, error) {
	if scope == "" {
		scope = ScopeAttributes
	}
	if scope != ScopeAttributes && scope != ScopeBody {
		return nil, errorf("unknown scope %q", scope)
	}
	if len(policy) > MaxSize {
		return nil, errorf("Filter policy is too large: %d bytes, the limit is %d", len(policy), MaxSize)
	}
	if !utf8.ValidString(policy) {
		return nil, errorf("Filter policy must be valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(policy))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errorf("failed to parse JSON. %v", err)
	}
	if dec.More() {
		return nil, errorf("failed to parse JSON. unexpected data after the policy")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errorf("Filter policy must be a JSON object")
	}
	p := &Policy{scope: scope}
	root, err := parseNode(obj, scope, 1)
	if err != nil {
		return nil, err
	}
	p.root = root
	if n := root.maxTopKeys(); n > MaxKeys {
		return nil, errorf("Filter policy can not have more than %d keys", MaxKeys)
	}
	if c := root.combinations(1); c > MaxCombinations {
		return nil, errorf("Filter policy is too complex")
	}
	return p, nil
}

// Scope returns the scope the policy was parsed for.
func (p *Policy) Scope() Scope {
	if p == nil || p.scope == "" {
		return ScopeAttributes
	}
	return p.scope
}

// isOr reports whether key/value form an "$or" group: AWS treats "$or" as an
// operator only when it holds an array of at least two objects; otherwise it
// is an ordinary key.
func isOr(key string, v any) ([]map[string]any, bool) {
	if key != "$or" {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		return nil, false
	}
	out := make([]map[string]any, 0, len(arr))
	for _, e := range arr {
		o, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		out = append(out, o)
	}
	return out, true
}

func parseNode(obj map[string]any, scope Scope, depth int) (*node, error) {
	if len(obj) == 0 && depth > 1 {
		return nil, errorf("Empty objects are not allowed")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic errors and evaluation order
	n := &node{}
	for _, k := range keys {
		v := obj[k]
		if alts, ok := isOr(k, v); ok {
			group := make([]*node, 0, len(alts))
			for _, a := range alts {
				if len(a) == 0 {
					return nil, errorf("Empty objects are not allowed in $or")
				}
				child, err := parseNode(a, scope, depth)
				if err != nil {
					return nil, err
				}
				group = append(group, child)
			}
			n.ors = append(n.ors, group)
			continue
		}
		switch v := v.(type) {
		case []any:
			conds, err := parseConds(k, v)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, field{key: k, conds: conds})
		case map[string]any:
			if scope == ScopeAttributes {
				return nil, errorf("Filter policy scope MessageAttributes does not support nested filter policy")
			}
			child, err := parseNode(v, scope, depth+1)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, field{key: k, child: child})
		default:
			return nil, errorf("%q must be an object or an array", k)
		}
	}
	return n, nil
}

func parseConds(key string, arr []any) ([]cond, error) {
	if len(arr) == 0 {
		return nil, errorf("Empty arrays are not allowed")
	}
	conds := make([]cond, 0, len(arr))
	for _, e := range arr {
		c, err := parseCond(key, e)
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	return conds, nil
}

func parseNumber(n json.Number) (float64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errorf("Value %s is not a valid number", n)
	}
	if f < -MaxNumber || f > MaxNumber {
		return 0, errorf("Value %s is out of the supported range [-1.0E9, 1.0E9]", n)
	}
	return f, nil
}

func parseCond(key string, e any) (cond, error) {
	switch v := e.(type) {
	case string:
		return cond{kind: condString, str: v}, nil
	case json.Number:
		f, err := parseNumber(v)
		return cond{kind: condNumber, num: f}, err
	case bool:
		return cond{kind: condBool, b: v}, nil
	case nil:
		return cond{kind: condNull}, nil
	case []any:
		return cond{}, errorf("Match value must be String, number, true, false, or null")
	case map[string]any:
		if len(v) != 1 {
			return cond{}, errorf("Only one key allowed in match expression")
		}
		for op, arg := range v {
			return parseOperator(key, op, arg)
		}
	}
	return cond{}, errorf("Match value must be String, number, true, false, or null")
}

func parseOperator(key, op string, arg any) (cond, error) {
	switch op {
	case "prefix", "suffix", "equals-ignore-case":
		s, ok := arg.(string)
		if !ok {
			return cond{}, errorf("%s match pattern must be a string", op)
		}
		k := map[string]condKind{"prefix": condPrefix, "suffix": condSuffix, "equals-ignore-case": condEqualsIgnoreCase}[op]
		if op == "equals-ignore-case" {
			s = strings.ToLower(s)
		}
		return cond{kind: k, str: s}, nil
	case "anything-but":
		return parseAnythingBut(arg)
	case "numeric":
		return parseNumeric(arg)
	case "exists":
		b, ok := arg.(bool)
		if !ok {
			return cond{}, errorf("exists match pattern must be either true or false.")
		}
		return cond{kind: condExists, b: b}, nil
	case "cidr":
		s, ok := arg.(string)
		if !ok {
			return cond{}, errorf("Malformed CIDR, one '/' required")
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return cond{}, errorf("Malformed CIDR %q", s)
		}
		return cond{kind: condCIDR, prefix: p.Masked()}, nil
	}
	return cond{}, errorf("Unrecognized match type %s", op)
}

func parseAnythingBut(arg any) (cond, error) {
	c := cond{kind: condAnythingBut}
	switch v := arg.(type) {
	case string:
		c.strs = []string{v}
	case json.Number:
		f, err := parseNumber(v)
		if err != nil {
			return cond{}, err
		}
		c.nums = []float64{f}
	case []any:
		if len(v) == 0 {
			return cond{}, errorf("Empty arrays are not allowed")
		}
		for _, e := range v {
			switch e := e.(type) {
			case string:
				c.strs = append(c.strs, e)
			case json.Number:
				f, err := parseNumber(e)
				if err != nil {
					return cond{}, err
				}
				c.nums = append(c.nums, f)
			default:
				return cond{}, errorf("Inside anything but list, start|null|boolean is not supported.")
			}
		}
		if len(c.strs) > 0 && len(c.nums) > 0 {
			return cond{}, errorf("Inside anything but list, all values must be of the same type")
		}
	case map[string]any:
		if len(v) != 1 {
			return cond{}, errorf("Only one key allowed in match expression")
		}
		p, ok := v["prefix"]
		if !ok {
			for op := range v {
				return cond{}, errorf("Unsupported anything-but pattern: %s", op)
			}
		}
		s, ok := p.(string)
		if !ok {
			return cond{}, errorf("prefix match pattern must be a string")
		}
		if s == "" {
			return cond{}, errorf("Null prefix not allowed in anything-but")
		}
		return cond{kind: condAnythingButPrefix, str: s}, nil
	default:
		return cond{}, errorf("Value of anything-but must be an array or single string/number value.")
	}
	return c, nil
}

func parseNumeric(arg any) (cond, error) {
	arr, ok := arg.([]any)
	if !ok || len(arr) == 0 {
		return cond{}, errorf("Value of numeric must be an array.")
	}
	if len(arr) != 2 && len(arr) != 4 {
		return cond{}, errorf("Too many elements in numeric expression.")
	}
	c := cond{kind: condNumeric}
	for i := 0; i < len(arr); i += 2 {
		op, ok := arr[i].(string)
		if !ok {
			return cond{}, errorf("Unrecognized numeric range operator: %v", arr[i])
		}
		n, ok := arr[i+1].(json.Number)
		if !ok {
			return cond{}, errorf("Value of %s must be numeric", op)
		}
		f, err := parseNumber(n)
		if err != nil {
			return cond{}, err
		}
		switch op {
		case "=":
			if len(arr) != 2 {
				return cond{}, errorf("Bad numeric range operator: =")
			}
			c.lo, c.hi, c.hasLo, c.hasHi, c.loIncl, c.hiIncl = f, f, true, true, true, true
		case ">", ">=":
			if i != 0 || c.hasLo {
				return cond{}, errorf("Bad numeric range operator: %s", op)
			}
			c.lo, c.hasLo, c.loIncl = f, true, op == ">="
		case "<", "<=":
			if c.hasHi {
				return cond{}, errorf("Bad numeric range operator: %s", op)
			}
			c.hi, c.hasHi, c.hiIncl = f, true, op == "<="
		default:
			return cond{}, errorf("Unrecognized numeric range operator: %s", op)
		}
	}
	if len(arr) == 4 && (!c.hasLo || !c.hasHi) {
		return cond{}, errorf("Bad numeric range operator: a range needs a lower bound (> or >=) then an upper bound (< or <=)")
	}
	if c.hasLo && c.hasHi && len(arr) == 4 && !(c.lo < c.hi) {
		return cond{}, errorf("Bottom must be less than top")
	}
	return c, nil
}

// maxTopKeys is the largest number of top-level keys any one "$or" branch of
// the policy names.
func (n *node) maxTopKeys() int {
	total := len(n.fields)
	for _, group := range n.ors {
		most := 0
		for _, alt := range group {
			most = max(most, alt.maxTopKeys())
		}
		total += most
	}
	return total
}

// combinations follows AWS's rule: multiply the number of values of every
// key, each times its nesting depth; an "$or" adds its branches. It saturates
// rather than overflowing.
func (n *node) combinations(depth int) int {
	c := 1
	for _, f := range n.fields {
		var k int
		if f.child != nil {
			k = f.child.combinations(depth + 1)
		} else {
			k = depth * len(f.conds)
		}
		c = satMul(c, k)
	}
	for _, group := range n.ors {
		sum := 0
		for _, alt := range group {
			sum = satAdd(sum, alt.combinations(depth))
		}
		c = satMul(c, sum)
	}
	return c
}

const saturated = math.MaxInt32

func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > saturated/b {
		return saturated
	}
	return a * b
}

func satAdd(a, b int) int {
	if a+b > saturated {
		return saturated
	}
	return a + b
}

// Message is a message as the policy sees it: a JSON-like object whose values
// are string, float64, bool, nil, []any and map[string]any.
type Message struct {
	fields map[string]any
	valid  bool
}

// Attribute is one SNS message attribute.
type Attribute struct {
	DataType    string
	StringValue string
}

// FromAttributes prepares message attributes for matching: String values are
// strings, Number values numbers, String.Array values their JSON elements;
// Binary attributes are ignored, as SNS does.
func FromAttributes(attrs map[string]Attribute) Message {
	m := Message{fields: make(map[string]any, len(attrs)), valid: true}
	for name, a := range attrs {
		base, _, _ := strings.Cut(a.DataType, ".")
		switch {
		case a.DataType == "String.Array":
			if arr, ok := decodeArray(a.StringValue); ok {
				m.fields[name] = arr
			} else {
				m.fields[name] = a.StringValue
			}
		case base == "String":
			m.fields[name] = a.StringValue
		case base == "Number":
			if f, err := strconv.ParseFloat(strings.TrimSpace(a.StringValue), 64); err == nil {
				m.fields[name] = f
			} else {
				m.fields[name] = a.StringValue
			}
		}
	}
	return m
}

func decodeArray(s string) ([]any, bool) {
	v, err := decodeJSON([]byte(s))
	if err != nil {
		return nil, false
	}
	arr, ok := v.([]any)
	return arr, ok
}

// FromBody prepares a message body for matching. A body that is not a JSON
// object matches no payload policy except the empty one.
func FromBody(body []byte) Message {
	v, err := decodeJSON(body)
	if err != nil {
		return Message{}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Message{}
	}
	return Message{fields: obj, valid: true}
}

// decodeJSON decodes with numbers as float64 when they fit, keeping the
// decoder's depth limit.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return normalize(v), nil
}

func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return string(v)
		}
		return f
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = normalize(v[k])
		}
	}
	return v
}

// Match reports whether m satisfies the policy. A nil policy matches all.
func (p *Policy) Match(m Message) bool {
	if p == nil || p.root == nil {
		return true
	}
	if len(p.root.fields) == 0 && len(p.root.ors) == 0 {
		return true
	}
	if !m.valid {
		return false
	}
	return p.root.match(m.fields)
}

func (n *node) match(obj map[string]any) bool {
	for _, f := range n.fields {
		v, present := obj[f.key]
		if f.child != nil {
			if !f.child.matchValue(v, present) {
				return false
			}
			continue
		}
		if !matchConds(f.conds, v, present) {
			return false
		}
	}
	for _, group := range n.ors {
		matched := false
		for _, alt := range group {
			if alt.match(obj) {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	return true
}

// matchValue matches a nested policy object against a body value: an object
// directly, an array if any of its objects matches, anything else as absent.
func (n *node) matchValue(v any, present bool) bool {
	switch v := v.(type) {
	case map[string]any:
		return n.match(v)
	case []any:
		for _, e := range v {
			if o, ok := e.(map[string]any); ok && n.match(o) {
				return true
			}
		}
	}
	return n.match(nil)
}

func matchConds(conds []cond, v any, present bool) bool {
	if !present {
		for _, c := range conds {
			if c.kind == condExists && !c.b {
				return true
			}
		}
		return false
	}
	if _, isObj := v.(map[string]any); isObj {
		// A leaf condition never matches an object.
		for _, c := range conds {
			if c.kind == condExists && !c.b {
				return true
			}
		}
		return false
	}
	values := []any{v}
	if arr, ok := v.([]any); ok {
		values = arr
	}
	for _, c := range conds {
		if c.kind == condExists {
			if c.b {
				return true
			}
			continue
		}
		for _, e := range values {
			if c.matches(e) {
				return true
			}
		}
	}
	return false
}

func sameNumber(a, b float64) bool {
	// AWS compares numbers to five digits after the decimal point.
	return math.Round(a*1e5) == math.Round(b*1e5)
}

func (c *cond) matches(v any) bool {
	switch c.kind {
	case condString:
		s, ok := v.(string)
		return ok && s == c.str
	case condNumber:
		f, ok := v.(float64)
		return ok && sameNumber(f, c.num)
	case condBool:
		b, ok := v.(bool)
		return ok && b == c.b
	case condNull:
		return v == nil
	case condPrefix:
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, c.str)
	case condSuffix:
		s, ok := v.(string)
		return ok && strings.HasSuffix(s, c.str)
	case condEqualsIgnoreCase:
		s, ok := v.(string)
		return ok && strings.ToLower(s) == c.str
	case condAnythingBut:
		switch v := v.(type) {
		case string:
			for _, s := range c.strs {
				if s == v {
					return false
				}
			}
			return true
		case float64:
			for _, n := range c.nums {
				if sameNumber(n, v) {
					return false
				}
			}
			return true
		}
		return false
	case condAnythingButPrefix:
		s, ok := v.(string)
		return ok && !strings.HasPrefix(s, c.str)
	case condNumeric:
		f, ok := v.(float64)
		if !ok {
			return false
		}
		if c.hasLo && c.hasHi && c.lo == c.hi {
			return sameNumber(f, c.lo) // "="
		}
		if c.hasLo && (f < c.lo || (!c.loIncl && f == c.lo)) {
			return false
		}
		if c.hasHi && (f > c.hi || (!c.hiIncl && f == c.hi)) {
			return false
		}
		return true
	case condCIDR:
		s, ok := v.(string)
		if !ok {
			return false
		}
		a, err := netip.ParseAddr(s)
		return err == nil && c.prefix.Contains(a.Unmap())
	}
	return false
}

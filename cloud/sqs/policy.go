package sqs

import (
	"encoding/json"
	"strings"
)

// A minimal IAM policy evaluator for queue policies, enough to decide
// whether an AWS service principal (SNS delivering for a topic) may send to
// a queue: Effect Allow/Deny with an explicit Deny winning, Principal "*",
// {"AWS": …} and {"Service": …}, Action and NotAction with wildcards,
// Resource and NotResource, and the String*, Arn* conditions (and their Not
// and IfExists forms) on request keys such as aws:SourceArn and
// aws:SourceAccount.

type policyDocument struct {
	Statements []policyStatement
}

type policyStatement struct {
	Effect       string
	AnyPrincipal bool
	Principals   map[string][]string // "AWS", "Service", … → values
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	Condition    map[string]map[string][]string // operator → key → values
}

// stringOrList decodes a JSON string or list of strings.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// conditionValues decodes a condition's values: strings, numbers or
// booleans, alone or in a list.
type conditionValues []string

func (c *conditionValues) UnmarshalJSON(b []byte) error {
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	list, ok := raw.([]any)
	if !ok {
		list = []any{raw}
	}
	for _, v := range list {
		switch v := v.(type) {
		case string:
			*c = append(*c, v)
		case float64, bool:
			b, _ := json.Marshal(v)
			*c = append(*c, string(b))
		default:
			return errInvalidAttributeValue("Invalid value for the parameter Policy.")
		}
	}
	return nil
}

func parsePolicy(raw string) (*policyDocument, error) {
	invalid := errInvalidAttributeValue("Invalid value for the parameter Policy.")
	var doc struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil || len(doc.Statement) == 0 {
		return nil, invalid
	}
	var rawStatements []json.RawMessage
	if err := json.Unmarshal(doc.Statement, &rawStatements); err != nil {
		rawStatements = []json.RawMessage{doc.Statement}
	}
	var out policyDocument
	for _, rs := range rawStatements {
		var st struct {
			Effect      string
			Principal   json.RawMessage
			Action      stringOrList
			NotAction   stringOrList
			Resource    stringOrList
			NotResource stringOrList
			Condition   map[string]map[string]conditionValues
		}
		if err := json.Unmarshal(rs, &st); err != nil {
			return nil, invalid
		}
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, invalid
		}
		ps := policyStatement{
			Effect: st.Effect, Action: st.Action, NotAction: st.NotAction,
			Resource: st.Resource, NotResource: st.NotResource,
			Principals: map[string][]string{},
			Condition:  map[string]map[string][]string{},
		}
		if len(st.Principal) > 0 {
			var star string
			if json.Unmarshal(st.Principal, &star) == nil {
				if star != "*" {
					return nil, invalid
				}
				ps.AnyPrincipal = true
			} else {
				var m map[string]stringOrList
				if err := json.Unmarshal(st.Principal, &m); err != nil {
					return nil, invalid
				}
				for k, v := range m {
					ps.Principals[k] = v
					if k == "AWS" {
						for _, a := range v {
							if a == "*" {
								ps.AnyPrincipal = true
							}
						}
					}
				}
			}
		}
		for op, kv := range st.Condition {
			ps.Condition[op] = map[string][]string{}
			for k, v := range kv {
				ps.Condition[op][strings.ToLower(k)] = v
			}
		}
		out.Statements = append(out.Statements, ps)
	}
	return &out, nil
}

// policyRequest is what a policy is asked about.
type policyRequest struct {
	Service  string // service principal, e.g. "sns.amazonaws.com"; empty for an account principal
	Account  string // the calling account (for {"AWS": …} principals)
	Action   string // e.g. "sqs:SendMessage"
	Resource string // the queue ARN
	Context  map[string]string
}

// allows reports whether the policy allows req: some Allow statement
// matches and no Deny statement does.
func (p *policyDocument) allows(req policyRequest) bool {
	if p == nil {
		return false
	}
	allowed := false
	for _, st := range p.Statements {
		if !st.matches(req) {
			continue
		}
		if st.Effect == "Deny" {
			return false
		}
		allowed = true
	}
	return allowed
}

func (st policyStatement) matches(req policyRequest) bool {
	return st.matchesPrincipal(req) && st.matchesAction(req.Action) &&
		st.matchesResource(req.Resource) && st.matchesConditions(req.Context)
}

func (st policyStatement) matchesPrincipal(req policyRequest) bool {
	if st.AnyPrincipal {
		return true
	}
	if req.Service != "" {
		for _, s := range st.Principals["Service"] {
			if s == req.Service {
				return true
			}
		}
		return false
	}
	for _, a := range st.Principals["AWS"] {
		if a == req.Account || a == "arn:aws:iam::"+req.Account+":root" {
			return true
		}
	}
	return false
}

func (st policyStatement) matchesAction(action string) bool {
	if len(st.NotAction) > 0 {
		for _, a := range st.NotAction {
			if wildcardMatch(strings.ToLower(a), strings.ToLower(action)) {
				return false
			}
		}
		return true
	}
	for _, a := range st.Action {
		if wildcardMatch(strings.ToLower(a), strings.ToLower(action)) {
			return true
		}
	}
	return false
}

func (st policyStatement) matchesResource(resource string) bool {
	if len(st.NotResource) > 0 {
		for _, r := range st.NotResource {
			if arnLike(r, resource) {
				return false
			}
		}
		return true
	}
	if len(st.Resource) == 0 {
		return true // a resource policy may leave Resource out: the queue itself
	}
	for _, r := range st.Resource {
		if arnLike(r, resource) {
			return true
		}
	}
	return false
}

// matchesConditions: every operator and every key must hold; any one of a
// key's values may match.
func (st policyStatement) matchesConditions(ctx map[string]string) bool {
	lower := make(map[string]string, len(ctx))
	for k, v := range ctx {
		lower[strings.ToLower(k)] = v
	}
	for op, kv := range st.Condition {
		for key, values := range kv {
			if !evalCondition(op, lower, key, values) {
				return false
			}
		}
	}
	return true
}

func evalCondition(op string, ctx map[string]string, key string, values []string) bool {
	op, ifExists := strings.CutSuffix(op, "IfExists")
	actual, present := ctx[key]
	if !present {
		if ifExists {
			return true
		}
		// A negated operator holds when the key is absent.
		return strings.Contains(op, "Not")
	}
	var match func(pattern, v string) bool
	negate := false
	switch op {
	case "StringEquals":
		match = func(p, v string) bool { return p == v }
	case "StringNotEquals":
		match, negate = func(p, v string) bool { return p == v }, true
	case "StringEqualsIgnoreCase":
		match = strings.EqualFold
	case "StringNotEqualsIgnoreCase":
		match, negate = strings.EqualFold, true
	case "StringLike":
		match = wildcardMatch
	case "StringNotLike":
		match, negate = wildcardMatch, true
	case "ArnEquals", "ArnLike":
		match = arnLike
	case "ArnNotEquals", "ArnNotLike":
		match, negate = arnLike, true
	default:
		return false // an operator this evaluator does not know never holds
	}
	any := false
	for _, p := range values {
		if match(p, actual) {
			any = true
			break
		}
	}
	return any != negate
}

// arnLike matches an ARN against a pattern component by component (the
// six colon-separated parts), each with * and ? wildcards. Values that are
// not ARNs are matched whole.
func arnLike(pattern, arn string) bool {
	pp := strings.SplitN(pattern, ":", 6)
	ap := strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return wildcardMatch(pattern, arn)
	}
	for i := range pp {
		if !wildcardMatch(pp[i], ap[i]) {
			return false
		}
	}
	return true
}

// wildcardMatch matches s against a pattern where * is any run of
// characters and ? any one character.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

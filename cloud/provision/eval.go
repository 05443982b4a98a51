package provision

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/internal/cfntemplate"
)

// evaluator resolves intrinsic functions against a stack being provisioned.
type evaluator struct {
	tpl   *cfntemplate.Template
	stack *Stack
	conds map[string]bool
	// unknown names the resources a plan has not created yet (or will
	// replace): their Ref and attributes resolve to placeholders.
	unknown map[string]bool
}

// conditions evaluates every condition of the template.
func (e *evaluator) conditions() error {
	e.conds = map[string]bool{}
	for name := range e.tpl.Conditions {
		if _, err := e.condition(name); err != nil {
			return fmt.Errorf("provision: condition %s: %w", name, err)
		}
	}
	return nil
}

// condition returns the value of a named condition, evaluating it (and the
// conditions it names) once.
func (e *evaluator) condition(name string) (bool, error) {
	if v, ok := e.conds[name]; ok {
		return v, nil
	}
	def, ok := e.tpl.Conditions[name]
	if !ok {
		return false, fmt.Errorf("condition %s is not declared", name)
	}
	e.conds[name] = false // a condition that names itself evaluates to false rather than looping
	v, err := e.boolean(def)
	if err != nil {
		return false, err
	}
	e.conds[name] = v
	return v, nil
}

// boolean evaluates a condition function.
func (e *evaluator) boolean(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		return strconv.ParseBool(x)
	case map[string]any:
		if len(x) != 1 {
			break
		}
		for fn, arg := range x {
			args, _ := arg.([]any)
			switch fn {
			case "Condition":
				s, _ := arg.(string)
				return e.condition(s)
			case "Fn::Not":
				if len(args) != 1 {
					return false, errors.New("Fn::Not takes one condition")
				}
				b, err := e.boolean(args[0])
				return !b, err
			case "Fn::And", "Fn::Or":
				if len(args) < 2 || len(args) > 10 {
					return false, fmt.Errorf("%s takes 2 to 10 conditions", fn)
				}
				for _, a := range args {
					b, err := e.boolean(a)
					if err != nil {
						return false, err
					}
					if fn == "Fn::And" && !b {
						return false, nil
					}
					if fn == "Fn::Or" && b {
						return true, nil
					}
				}
				return fn == "Fn::And", nil
			case "Fn::Equals":
				if len(args) != 2 {
					return false, errors.New("Fn::Equals takes two values")
				}
				a, err := e.resolveString(args[0])
				if err != nil {
					return false, err
				}
				b, err := e.resolveString(args[1])
				return a == b, err
			case "Fn::Contains":
				if len(args) != 2 {
					return false, errors.New("Fn::Contains takes a list and a value")
				}
				list, err := e.resolveList(args[0])
				if err != nil {
					return false, err
				}
				want, err := e.resolveString(args[1])
				return slices.Contains(list, want), err
			case "Fn::EachMemberEquals":
				if len(args) != 2 {
					return false, errors.New("Fn::EachMemberEquals takes a list and a value")
				}
				list, err := e.resolveList(args[0])
				if err != nil {
					return false, err
				}
				want, err := e.resolveString(args[1])
				for _, m := range list {
					if m != want {
						return false, err
					}
				}
				return true, err
			case "Fn::EachMemberIn":
				if len(args) != 2 {
					return false, errors.New("Fn::EachMemberIn takes two lists")
				}
				list, err := e.resolveList(args[0])
				if err != nil {
					return false, err
				}
				allowed, err := e.resolveList(args[1])
				for _, m := range list {
					if !slices.Contains(allowed, m) {
						return false, err
					}
				}
				return true, err
			}
			return false, fmt.Errorf("%s is not a condition function", fn)
		}
	}
	return false, fmt.Errorf("%v is not a condition", v)
}

// rules checks the template's Rules: where a rule's condition holds, each
// assertion must hold.
func (e *evaluator) rules() error {
	for _, name := range sortedKeys(e.tpl.Rules) {
		rule, _ := e.tpl.Rules[name].(map[string]any)
		if cond, ok := rule["RuleCondition"]; ok {
			on, err := e.boolean(cond)
			if err != nil {
				return fmt.Errorf("provision: rule %s: %w", name, err)
			}
			if !on {
				continue
			}
		}
		asserts, _ := rule["Assertions"].([]any)
		for _, a := range asserts {
			m, _ := a.(map[string]any)
			ok, err := e.boolean(m["Assert"])
			if err != nil {
				return fmt.Errorf("provision: rule %s: %w", name, err)
			}
			if !ok {
				desc, _ := m["AssertDescription"].(string)
				if desc == "" {
					desc = "an assertion failed"
				}
				return fmt.Errorf("provision: rule %s: %s", name, desc)
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// resolve returns v with every intrinsic function applied. AWS::NoValue
// removes the map member or list element it stands in.
func (e *evaluator) resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for fn, arg := range x {
				if fn == "Ref" || strings.HasPrefix(fn, "Fn::") {
					return e.function(fn, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, val := range x {
			r, err := e.resolve(val)
			if errors.Is(err, errNoValue) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, val := range x {
			r, err := e.resolve(val)
			if errors.Is(err, errNoValue) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, r)
		}
		return out, nil
	}
	return v, nil
}

func (e *evaluator) resolveString(v any) (string, error) {
	r, err := e.resolve(v)
	if err != nil {
		return "", err
	}
	return scalarString(r)
}

func (e *evaluator) resolveList(v any) ([]string, error) {
	r, err := e.resolve(v)
	if err != nil {
		return nil, err
	}
	list, ok := r.([]any)
	if !ok {
		s, err := scalarString(r)
		return []string{s}, err
	}
	out := make([]string, len(list))
	for i, m := range list {
		if out[i], err = scalarString(m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ref returns what Ref name yields.
func (e *evaluator) ref(name string) (any, error) {
	p := e.stack.Pseudo
	switch name {
	case "AWS::Region":
		return p.Region, nil
	case "AWS::AccountId":
		return p.AccountID, nil
	case "AWS::Partition":
		return p.Partition, nil
	case "AWS::URLSuffix":
		return p.URLSuffix, nil
	case "AWS::StackName":
		return p.StackName, nil
	case "AWS::StackId":
		return p.StackID(), nil
	case "AWS::NoValue":
		return nil, errNoValue
	case "AWS::NotificationARNs":
		return []any{}, nil
	}
	if v, ok := e.stack.Parameters[name]; ok {
		switch e.tpl.Parameters[name].Type {
		case "CommaDelimitedList", "List<Number>":
			list := []any{}
			for _, s := range strings.Split(v, ",") {
				list = append(list, strings.TrimSpace(s))
			}
			return list, nil
		}
		return v, nil
	}
	if r, ok := e.stack.Resources[name]; ok {
		return r.Ref, nil
	}
	if _, ok := e.tpl.Resources[name]; ok {
		return nil, fmt.Errorf("Ref %s: the resource is not created yet or not at all", name)
	}
	return nil, fmt.Errorf("Ref %s: no parameter, resource or pseudo parameter has that name", name)
}

func (e *evaluator) getAtt(res, attr string) (any, error) {
	r, ok := e.stack.Resources[res]
	if !ok {
		if _, declared := e.tpl.Resources[res]; declared {
			return nil, fmt.Errorf("Fn::GetAtt %s.%s: the resource is not created", res, attr)
		}
		return nil, fmt.Errorf("Fn::GetAtt %s.%s: no resource has that name", res, attr)
	}
	if e.unknown[res] {
		return placeholder(res + "." + attr), nil
	}
	v, ok := r.Attrs[attr]
	if !ok {
		return nil, fmt.Errorf("Fn::GetAtt %s.%s: a %s has no attribute %s here", res, attr, e.stack.Types[res], attr)
	}
	return v, nil
}

// function applies one intrinsic function.
func (e *evaluator) function(fn string, arg any) (any, error) {
	args, _ := arg.([]any)
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, errors.New("Ref takes a name")
		}
		return e.ref(name)
	case "Fn::GetAtt":
		if s, ok := arg.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			return e.getAtt(res, attr)
		}
		if len(args) != 2 {
			return nil, errors.New("Fn::GetAtt takes a resource and an attribute")
		}
		res, _ := args[0].(string)
		attr, err := e.resolveString(args[1])
		if err != nil {
			return nil, err
		}
		return e.getAtt(res, attr)
	case "Fn::Sub":
		return e.sub(arg)
	case "Fn::If":
		if len(args) != 3 {
			return nil, errors.New("Fn::If takes a condition and two values")
		}
		name, _ := args[0].(string)
		on, err := e.condition(name)
		if err != nil {
			return nil, err
		}
		if on {
			return e.resolve(args[1])
		}
		return e.resolve(args[2])
	case "Fn::Join":
		if len(args) != 2 {
			return nil, errors.New("Fn::Join takes a delimiter and a list")
		}
		delim, _ := args[0].(string)
		list, err := e.resolveList(args[1])
		return strings.Join(list, delim), err
	case "Fn::Select":
		if len(args) != 2 {
			return nil, errors.New("Fn::Select takes an index and a list")
		}
		idx, err := e.resolveString(args[0])
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(idx)
		if err != nil {
			return nil, fmt.Errorf("Fn::Select index %q is not a whole number", idx)
		}
		list, err := e.resolve(args[1])
		if err != nil {
			return nil, err
		}
		l, ok := list.([]any)
		if !ok || i < 0 || i >= len(l) {
			return nil, fmt.Errorf("Fn::Select index %d is outside the list", i)
		}
		return l[i], nil
	case "Fn::Split":
		if len(args) != 2 {
			return nil, errors.New("Fn::Split takes a delimiter and a string")
		}
		delim, _ := args[0].(string)
		s, err := e.resolveString(args[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, delim) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Base64":
		s, err := e.resolveString(arg)
		return base64.StdEncoding.EncodeToString([]byte(s)), err
	case "Fn::GetAZs":
		r := e.stack.Pseudo.Region
		return []any{r + "a", r + "b", r + "c"}, nil
	case "Fn::FindInMap":
		if len(args) != 3 {
			return nil, errors.New("Fn::FindInMap takes a map, a top-level key and a second-level key")
		}
		var keys [3]string
		for i, a := range args {
			s, err := e.resolveString(a)
			if err != nil {
				return nil, err
			}
			keys[i] = s
		}
		m, _ := e.tpl.Mappings[keys[0]].(map[string]any)
		top, _ := m[keys[1]].(map[string]any)
		v, ok := top[keys[2]]
		if !ok {
			return nil, fmt.Errorf("Fn::FindInMap: mapping %s has no %s.%s", keys[0], keys[1], keys[2])
		}
		return v, nil
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::Contains":
		return e.boolean(map[string]any{fn: arg})
	}
	return nil, fmt.Errorf("%s is not supported by the embedded cloud", fn)
}

// sub implements Fn::Sub in both forms: "template" and [template, {vars}].
func (e *evaluator) sub(arg any) (any, error) {
	tmpl, ok := arg.(string)
	vars := map[string]any{}
	if !ok {
		args, _ := arg.([]any)
		if len(args) != 2 {
			return nil, errors.New("Fn::Sub takes a string, or a string and a map of variables")
		}
		tmpl, _ = args[0].(string)
		m, _ := args[1].(map[string]any)
		for k, v := range m {
			r, err := e.resolveString(v)
			if err != nil {
				return nil, fmt.Errorf("Fn::Sub variable %s: %w", k, err)
			}
			vars[k] = r
		}
	}
	var b strings.Builder
	rest := tmpl
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		j := strings.Index(rest[i:], "}")
		if j < 0 {
			return nil, fmt.Errorf("Fn::Sub %q has an unclosed ${", tmpl)
		}
		name := rest[i+2 : i+j]
		rest = rest[i+j+1:]
		if strings.HasPrefix(name, "!") { // ${!Literal} writes ${Literal}
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		name = strings.TrimSpace(name)
		var v any
		var err error
		if val, ok := vars[name]; ok {
			v = val
		} else if res, attr, dotted := strings.Cut(name, "."); dotted {
			v, err = e.getAtt(res, attr)
		} else {
			v, err = e.ref(name)
		}
		if err != nil {
			return nil, fmt.Errorf("Fn::Sub %q: %w", tmpl, err)
		}
		s, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("Fn::Sub %q: ${%s}: %w", tmpl, name, err)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// Properties are a resource's resolved properties, with typed accessors that
// accept what CloudFormation accepts (numbers given as strings, say).
type Properties map[string]any

// String returns a string property, "" if absent.
func (p Properties) String(name string) (string, error) {
	v, ok := p[name]
	if !ok {
		return "", nil
	}
	s, err := scalarString(v)
	if err != nil {
		return "", fmt.Errorf("property %s: %w", name, err)
	}
	return s, nil
}

// Int returns an integer property, def if absent.
func (p Properties) Int(name string, def int) (int, error) {
	v, ok := p[name]
	if !ok {
		return def, nil
	}
	s, err := scalarString(v)
	if err != nil {
		return 0, fmt.Errorf("property %s: %w", name, err)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("property %s is %q, not a whole number", name, s)
	}
	return n, nil
}

// Bool returns a boolean property, def if absent.
func (p Properties) Bool(name string, def bool) (bool, error) {
	v, ok := p[name]
	if !ok {
		return def, nil
	}
	s, err := scalarString(v)
	if err != nil {
		return false, fmt.Errorf("property %s: %w", name, err)
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("property %s is %q, not true or false", name, s)
	}
	return b, nil
}

// JSON returns a property that CloudFormation accepts as an object or as a
// JSON string (a policy document, a redrive policy) as a JSON string, ""
// if absent.
func (p Properties) JSON(name string) (string, error) {
	v, ok := p[name]
	if !ok {
		return "", nil
	}
	if s, isString := v.(string); isString {
		if !json.Valid([]byte(s)) {
			return "", fmt.Errorf("property %s is not valid JSON", name)
		}
		return s, nil
	}
	b, err := json.Marshal(numbersAsJSON(v))
	if err != nil {
		return "", fmt.Errorf("property %s: %w", name, err)
	}
	return string(b), nil
}

// numbersAsJSON writes whole float64s without a fraction, as a template's
// author wrote them.
func numbersAsJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = numbersAsJSON(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = numbersAsJSON(val)
		}
		return out
	case float64:
		if x == float64(int64(x)) {
			return json.Number(strconv.FormatInt(int64(x), 10))
		}
	}
	return v
}

// List returns a list property, nil if absent.
func (p Properties) List(name string) ([]any, error) {
	v, ok := p[name]
	if !ok {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("property %s is not a list", name)
	}
	return l, nil
}

// Map returns an object property, nil if absent.
func (p Properties) Map(name string) (Properties, error) {
	v, ok := p[name]
	if !ok {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("property %s is not an object", name)
	}
	return Properties(m), nil
}

// Package provision provisions CloudFormation templates into the embedded
// cloud. It resolves a parsed template's parameters, conditions, rules and
// intrinsic functions as CloudFormation does, orders resources by their
// dependencies, and creates them through providers, one per resource type.
// Parsing is internal/cfntemplate's job. It knows nothing of any particular
// template.
package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/internal/cfntemplate"
)

// Pseudo holds the values of CloudFormation's pseudo parameters.
type Pseudo struct {
	Region    string // AWS::Region; default awsenv.DefaultRegion
	AccountID string // AWS::AccountId; default awsenv.DefaultAccountID
	Partition string // AWS::Partition; default "aws"
	URLSuffix string // AWS::URLSuffix; default "amazonaws.com"
	StackName string // AWS::StackName; default "orderflow"
	StackUUID string // the last part of AWS::StackId; default all zeros
}

func (p *Pseudo) applyDefaults() {
	env := awsenv.Env{Region: p.Region, AccountID: p.AccountID}.WithDefaults()
	p.Region, p.AccountID = env.Region, env.AccountID
	if p.Partition == "" {
		p.Partition = "aws"
	}
	if p.URLSuffix == "" {
		p.URLSuffix = "amazonaws.com"
	}
	if p.StackName == "" {
		p.StackName = "orderflow"
	}
	if p.StackUUID == "" {
		p.StackUUID = "00000000-0000-4000-8000-000000000000"
	}
}

// StackID is the stack's ARN, the value of AWS::StackId.
func (p Pseudo) StackID() string {
	id := p.StackUUID
	if id == "" {
		id = "00000000-0000-4000-8000-000000000000"
	}
	return fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/%s", p.Partition, p.Region, p.AccountID, p.StackName, id)
}

// Physical is a created resource as the template sees it: what Ref returns
// and what each Fn::GetAtt attribute returns.
type Physical struct {
	Ref   string
	Attrs map[string]any
}

// Request asks a provider to create one resource.
type Request struct {
	LogicalID  string
	Type       string
	Properties Properties // resolved: no intrinsic functions left
	Stack      Pseudo
	// Adopt asks the provider to take over a named resource that already
	// exists (a durable cloud restarted) and bring it to Properties,
	// instead of failing as CloudFormation does.
	Adopt bool
}

// Provider creates the resources of one type.
type Provider interface {
	// Properties lists the properties the provider understands; any other
	// property in a template is an error, never silently ignored.
	Properties() []string
	// Create creates the resource and returns its physical identity.
	Create(ctx context.Context, req Request) (Physical, error)
}

// Options configure a provisioning.
type Options struct {
	// Parameters override the template's parameter defaults, by name.
	Parameters map[string]string
	// Pseudo gives the pseudo parameters; zero fields take defaults.
	Pseudo Pseudo
	// Providers create resources, by resource type (AWS::SQS::Queue).
	Providers map[string]Provider
	// Adopt takes over named resources that already exist (see
	// Request.Adopt); CloudFormation's API never does.
	Adopt bool
}

// Stack is a provisioned template.
type Stack struct {
	Pseudo     Pseudo
	Parameters map[string]string     // resolved parameter values
	Resources  map[string]Physical   // by logical id; resources whose Condition is false are absent
	Types      map[string]string     // resource types by logical id
	Order      []string              // the order the resources were created in
	Outputs    map[string]string     // resolved outputs (lists joined with commas)
	Props      map[string]Properties // each resource's resolved properties, by logical id
	Policies   map[string]string     // each resource's DeletionPolicy ("" is Delete)
}

// Provision validates tpl and opts completely — parameters, rules,
// conditions, every resource's type and properties, the dependency graph —
// before creating anything, then creates the resources in dependency order
// and computes the outputs. Errors name the resource or parameter at fault.
// What it created before an error stays (Apply rolls back instead).
func Provision(ctx context.Context, tpl *cfntemplate.Template, opts Options) (*Stack, error) {
	a, err := Apply(ctx, tpl, opts, nil, nil)
	if a == nil {
		return nil, err
	}
	return a.Stack, err
}

// prepare resolves parameters, conditions and rules, checks every active
// resource's type and properties and orders them: everything that can be
// known before a resource is touched.
func prepare(tpl *cfntemplate.Template, opts *Options) (*evaluator, map[string]cfntemplate.Resource, []string, error) {
	opts.Pseudo.applyDefaults()
	st := &Stack{
		Pseudo:    opts.Pseudo,
		Resources: map[string]Physical{},
		Types:     map[string]string{},
		Outputs:   map[string]string{},
		Props:     map[string]Properties{},
		Policies:  map[string]string{},
	}
	ev := &evaluator{tpl: tpl, stack: st}
	var err error
	if st.Parameters, err = resolveParameters(tpl, opts.Parameters); err != nil {
		return nil, nil, nil, err
	}
	if err := ev.conditions(); err != nil {
		return nil, nil, nil, err
	}
	if err := ev.rules(); err != nil {
		return nil, nil, nil, err
	}
	active := map[string]cfntemplate.Resource{}
	for name, r := range tpl.Resources {
		if r.Condition != "" {
			on, err := ev.condition(r.Condition)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("provision: resource %s: %w", name, err)
			}
			if !on {
				continue
			}
		}
		p, ok := opts.Providers[r.Type]
		if !ok {
			return nil, nil, nil, fmt.Errorf("provision: resource %s: type %s is not supported by the embedded cloud", name, r.Type)
		}
		known := p.Properties()
		for prop := range r.Properties {
			if !slices.Contains(known, prop) {
				return nil, nil, nil, fmt.Errorf("provision: resource %s (%s): property %s is not supported by the embedded cloud", name, r.Type, prop)
			}
		}
		switch r.DeletionPolicy {
		case "", "Delete", "Retain", "RetainExceptOnCreate":
		default:
			return nil, nil, nil, fmt.Errorf("provision: resource %s: DeletionPolicy %s is not Delete, Retain or RetainExceptOnCreate", name, r.DeletionPolicy)
		}
		active[name] = r
		st.Types[name] = r.Type
		st.Policies[name] = r.DeletionPolicy
	}
	order, err := dependencyOrder(tpl, active)
	if err != nil {
		return nil, nil, nil, err
	}
	return ev, active, order, nil
}

// outputs resolves the template's outputs into ev's stack.
func (ev *evaluator) outputs() error {
	st := ev.stack
	for name, o := range ev.tpl.Outputs {
		if o.Condition != "" {
			if on, err := ev.condition(o.Condition); err != nil || !on {
				if err != nil {
					return fmt.Errorf("provision: output %s: %w", name, err)
				}
				continue
			}
		}
		v, err := ev.resolve(o.Value)
		if err != nil {
			return fmt.Errorf("provision: output %s: %w", name, err)
		}
		s, err := scalarString(v)
		if err != nil {
			return fmt.Errorf("provision: output %s: %w", name, err)
		}
		st.Outputs[name] = s
	}
	return nil
}

// resolveParameters applies overrides to defaults and checks every
// constraint, as CloudFormation does before it creates anything.
func resolveParameters(tpl *cfntemplate.Template, overrides map[string]string) (map[string]string, error) {
	for name := range overrides {
		if _, ok := tpl.Parameters[name]; !ok {
			return nil, fmt.Errorf("provision: parameter %s is not declared in the template", name)
		}
	}
	values := map[string]string{}
	for name, p := range tpl.Parameters {
		v, ok := overrides[name]
		if !ok {
			if p.Default == nil {
				return nil, fmt.Errorf("provision: parameter %s needs a value (it has no default)", name)
			}
			v = p.DefaultString()
		}
		if err := checkParameter(p, v); err != nil {
			return nil, fmt.Errorf("provision: parameter %s: %w", name, err)
		}
		values[name] = v
	}
	return values, nil
}

func checkParameter(p cfntemplate.Parameter, v string) error {
	if len(p.AllowedValues) > 0 {
		ok := false
		for _, a := range p.AllowedValues {
			if s, _ := scalarString(a); s == v {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("value %q is not one of the allowed values", v)
		}
	}
	switch p.Type {
	case "Number":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("value %q is not a number", v)
		}
		if p.MinValue != nil && f < *p.MinValue {
			return fmt.Errorf("value %s is below the minimum %v", v, *p.MinValue)
		}
		if p.MaxValue != nil && f > *p.MaxValue {
			return fmt.Errorf("value %s is above the maximum %v", v, *p.MaxValue)
		}
	case "String", "CommaDelimitedList", "List<Number>", "":
	default:
		if !strings.HasPrefix(p.Type, "AWS::") && !strings.HasPrefix(p.Type, "List<") {
			return fmt.Errorf("type %s is not a CloudFormation parameter type", p.Type)
		}
	}
	if p.AllowedPattern != "" {
		re, err := regexp.Compile(`^(?:` + p.AllowedPattern + `)$`)
		if err != nil {
			return fmt.Errorf("AllowedPattern %q is not a valid pattern: %w", p.AllowedPattern, err)
		}
		if !re.MatchString(v) {
			return fmt.Errorf("value %q does not match the pattern %s", v, p.AllowedPattern)
		}
	}
	if p.MinLength != nil && len(v) < *p.MinLength {
		return fmt.Errorf("value %q is shorter than %d characters", v, *p.MinLength)
	}
	if p.MaxLength != nil && len(v) > *p.MaxLength {
		return fmt.Errorf("value %q is longer than %d characters", v, *p.MaxLength)
	}
	return nil
}

// dependencyOrder sorts the active resources so that each comes after what
// it references or depends on; ties go by name, so the order is stable.
func dependencyOrder(tpl *cfntemplate.Template, active map[string]cfntemplate.Resource) ([]string, error) {
	deps := map[string][]string{}
	for name, r := range active {
		set := map[string]bool{}
		for _, d := range r.DependsOn {
			if _, ok := tpl.Resources[d]; !ok {
				return nil, fmt.Errorf("provision: resource %s depends on %s, which the template does not declare", name, d)
			}
			set[d] = true
		}
		var err error
		references(r.Properties, func(target string) {
			if _, isRes := tpl.Resources[target]; isRes {
				if _, on := active[target]; !on && err == nil {
					err = fmt.Errorf("provision: resource %s refers to %s, which is not created (its Condition is false)", name, target)
				}
				set[target] = true
			}
		})
		if err != nil {
			return nil, err
		}
		delete(set, name)
		deps[name] = slices.Sorted(maps.Keys(set))
	}
	var order []string
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("provision: resources depend on each other in a circle: %s", strings.Join(append(path, n), " → "))
		case 2:
			return nil
		}
		state[n] = 1
		for _, d := range deps[n] {
			if _, on := active[d]; !on {
				continue // DependsOn a resource whose condition is false
			}
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		order = append(order, n)
		return nil
	}
	for _, n := range slices.Sorted(maps.Keys(active)) {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// references calls f with every logical name a value refers to through Ref,
// Fn::GetAtt or a ${Name} in Fn::Sub.
func references(v any, f func(string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch k {
			case "Ref":
				if s, ok := val.(string); ok {
					f(s)
				}
			case "Fn::GetAtt":
				if parts, ok := val.([]any); ok && len(parts) > 0 {
					if s, ok := parts[0].(string); ok {
						f(s)
					}
				}
			case "Fn::Sub":
				tmpl := val
				if parts, ok := val.([]any); ok && len(parts) > 0 {
					tmpl = parts[0]
				}
				if s, ok := tmpl.(string); ok {
					for _, name := range subNames(s) {
						base, _, _ := strings.Cut(name, ".")
						f(base)
					}
				}
			}
			references(val, f)
		}
	case []any:
		for _, val := range x {
			references(val, f)
		}
	}
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// subNames returns the variable names in an Fn::Sub template (not ${!x}).
func subNames(s string) []string {
	var out []string
	for _, m := range subVar.FindAllStringSubmatch(s, -1) {
		out = append(out, strings.TrimSpace(m[1]))
	}
	return out
}

// errNoValue marks AWS::NoValue: the property or list element disappears.
var errNoValue = errors.New("AWS::NoValue")

func scalarString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := scalarString(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("value %v is not a string, a number or a list", v)
}

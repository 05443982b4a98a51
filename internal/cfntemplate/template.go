// Package cfntemplate parses CloudFormation templates written in YAML or JSON,
// short-form intrinsic tags (!Ref, !GetAtt, !Sub, …) included, into plain
// values with every intrinsic in its long form. It evaluates nothing: deploy
// reads its own template with it, and the embedded cloud's provisioner
// (cloud/provision) evaluates what it returns. It lives under internal/ and
// apart from the cloud so that deploy and the order code never depend on the
// embedded cloud.
package cfntemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Template is a parsed CloudFormation template. Intrinsic functions stay as
// values in their long form, e.g. map[string]any{"Ref": "OrderTopic"}.
type Template struct {
	AWSTemplateFormatVersion string               `json:"AWSTemplateFormatVersion"`
	Description              string               `json:"Description"`
	Metadata                 map[string]any       `json:"Metadata"`
	Parameters               map[string]Parameter `json:"Parameters"`
	Mappings                 map[string]any       `json:"Mappings"`
	Rules                    map[string]any       `json:"Rules"`
	Conditions               map[string]any       `json:"Conditions"`
	Resources                map[string]Resource  `json:"Resources"`
	Outputs                  map[string]Output    `json:"Outputs"`
}

// Parameter is a template parameter.
type Parameter struct {
	Type           string   `json:"Type"`
	Description    string   `json:"Description"`
	Default        any      `json:"Default"`
	AllowedValues  []any    `json:"AllowedValues"`
	AllowedPattern string   `json:"AllowedPattern"`
	MinValue       *float64 `json:"MinValue"`
	MaxValue       *float64 `json:"MaxValue"`
	MinLength      *int     `json:"MinLength"`
	MaxLength      *int     `json:"MaxLength"`
}

// Resource is a template resource.
type Resource struct {
	Type                string         `json:"Type"`
	Properties          map[string]any `json:"Properties"`
	DependsOn           Names          `json:"DependsOn"`
	Condition           string         `json:"Condition"`
	DeletionPolicy      string         `json:"DeletionPolicy"`
	UpdateReplacePolicy string         `json:"UpdateReplacePolicy"`
	Metadata            map[string]any `json:"Metadata"`
}

// Output is a template output.
type Output struct {
	Description string         `json:"Description"`
	Value       any            `json:"Value"`
	Condition   string         `json:"Condition"`
	Export      map[string]any `json:"Export"`
}

// Names is a list of logical names that the template may write as one string.
type Names []string

// UnmarshalJSON accepts a string or a list of strings.
func (n *Names) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*n = Names{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("DependsOn must be a name or a list of names")
	}
	*n = many
	return nil
}

// DefaultString returns the parameter's default as CloudFormation passes
// parameter values: a string.
func (p Parameter) DefaultString() string {
	switch v := p.Default.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// Parse parses a CloudFormation template written in YAML (or JSON, which is
// YAML too).
func Parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cfntemplate: parse template: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("cfntemplate: parse template: the document is empty")
	}
	v, err := value(doc.Content[0], 0)
	if err != nil {
		return nil, fmt.Errorf("cfntemplate: parse template: %w", err)
	}
	// Plain values to typed sections: JSON is the common ground.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cfntemplate: parse template: %w", err)
	}
	var t Template
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("cfntemplate: parse template: %w", err)
	}
	if len(t.Resources) == 0 {
		return nil, errors.New("cfntemplate: parse template: it has no Resources")
	}
	for name, r := range t.Resources {
		if r.Type == "" {
			return nil, fmt.Errorf("cfntemplate: parse template: resource %s has no Type", name)
		}
	}
	return &t, nil
}

// maxDepth bounds how deeply a template may nest.
const maxDepth = 100

// value turns a YAML node into plain Go values (map[string]any, []any,
// string, float64, bool, nil), rewriting short-form intrinsic tags.
func value(n *yaml.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: the template nests more than %d levels deep", n.Line, maxDepth)
	}
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		// Aliases can refer to themselves or multiply a document's size;
		// templates are written without them.
		return nil, fmt.Errorf("line %d: YAML aliases (*%s) are not supported in templates", n.Line, n.Value)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // merge key
				return nil, fmt.Errorf("line %d: YAML merge keys are not supported in CloudFormation", k.Line)
			}
			x, err := value(val, depth+1)
			if err != nil {
				return nil, err
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q appears more than once", k.Line, k.Value)
			}
			m[k.Value] = x
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			x, err := value(c, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, x)
		}
		v = s
	case yaml.ScalarNode:
		var err error
		if v, err = scalar(n); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	return intrinsic(n, v)
}

func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int", "!!float":
		var f float64
		err := n.Decode(&f)
		return f, err
	}
	return n.Value, nil
}

// intrinsic rewrites a tagged value in the long form.
func intrinsic(n *yaml.Node, v any) (any, error) {
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok { // !GetAtt Resource.Attribute
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q must be Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
	case "Base64", "Cidr", "FindInMap", "GetAZs", "ImportValue", "Join", "Select", "Split", "Sub",
		"Transform", "And", "Equals", "If", "Not", "Or", "Contains", "EachMemberEquals", "EachMemberIn",
		"RefAll", "ValueOf", "ValueOfAll", "ToJsonString", "Length":
	default:
		return nil, fmt.Errorf("line %d: unknown tag !%s", n.Line, name)
	}
	return map[string]any{"Fn::" + name: v}, nil
}

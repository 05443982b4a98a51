package cfntemplate_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/internal/cfntemplate"
)

func ref(name string) map[string]any { return map[string]any{"Ref": name} }
func getAtt(res, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{res, attr}}
}

func TestParseRewritesShortFormTags(t *testing.T) {
	tpl, err := cfntemplate.Parse([]byte(`
Resources:
  A:
    Type: AWS::SNS::Topic
    DependsOn: B
    Properties:
      X: !Ref B
      Y: !GetAtt B.Arn
      Z: !Sub "${B}-x"
      W: !If [C, !Join ["", [a, !Ref B]], !Ref AWS::NoValue]
      N: 12
  B: {Type: AWS::SQS::Queue}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := tpl.Resources["A"].Properties
	want := map[string]any{
		"X": ref("B"),
		"Y": getAtt("B", "Arn"),
		"Z": map[string]any{"Fn::Sub": "${B}-x"},
		"W": map[string]any{"Fn::If": []any{"C", map[string]any{"Fn::Join": []any{"", []any{"a", ref("B")}}}, ref("AWS::NoValue")}},
		"N": float64(12),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("properties = %#v\nwant %#v", got, want)
	}
	if !slices.Equal(tpl.Resources["A"].DependsOn, []string{"B"}) {
		t.Errorf("DependsOn = %v", tpl.Resources["A"].DependsOn)
	}
}

func TestParseRefusesMalformedTemplates(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"empty", ``, "the document is empty"},
		{"no resources", `Description: x`, "it has no Resources"},
		{"a resource without a type", "Resources:\n  A: {Properties: {}}", "resource A has no Type"},
		{"an unknown tag", "Resources:\n  A: {Type: T, Properties: {X: !Bogus y}}", "unknown tag !Bogus"},
		{"a GetAtt without an attribute", "Resources:\n  A: {Type: T, Properties: {X: !GetAtt B}}", `!GetAtt "B" must be Resource.Attribute`},
		{"a repeated key", "Resources:\n  A: {Type: T}\n  A: {Type: U}", `key "A" appears more than once`},
		{"not YAML", "Resources: [", "parse template"},
		{"a self-referring alias", "a: &x [1, *x]\nResources:\n  A: {Type: T}", "YAML aliases (*x) are not supported"},
		{"absurd nesting", "Resources:\n  A: {Type: T, Properties: {X: " + strings.Repeat("[", 150) + strings.Repeat("]", 150) + "}}", "nests more than 100 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cfntemplate.Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzParse: the template parser never panics, and what it accepts has
// resources with types.
func FuzzParse(f *testing.F) {
	f.Add([]byte("Resources:\n  A: {Type: AWS::SNS::Topic, Properties: {TopicName: !Sub '${AWS::StackName}-t'}}"))
	f.Add([]byte("Resources:\n  A: {Type: T, Properties: {X: !GetAtt B.Arn, Y: !If [C, !Ref D, !Ref AWS::NoValue]}}"))
	f.Add([]byte(`{"Resources": {"A": {"Type": "T", "DependsOn": ["B"]}}}`))
	f.Add([]byte("a: &x [1, *x]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := cfntemplate.Parse(data)
		if err != nil {
			return
		}
		for name, r := range tpl.Resources {
			if r.Type == "" {
				t.Fatalf("resource %s accepted without a type", name)
			}
		}
	})
}

package provision_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/provision"
	"github.com/orderflow/orderflow/internal/cfntemplate"
)

// recorder is a provider that remembers what it was asked to create.
type recorder struct {
	props   []string
	created *[]provision.Request
	fail    error
	attrs   func(req provision.Request) provision.Physical
}

func (r recorder) Properties() []string { return r.props }

func (r recorder) Create(_ context.Context, req provision.Request) (provision.Physical, error) {
	if r.fail != nil {
		return provision.Physical{}, r.fail
	}
	*r.created = append(*r.created, req)
	return r.attrs(req), nil
}

func providers(created *[]provision.Request) map[string]provision.Provider {
	return map[string]provision.Provider{
		"Test::Queue": recorder{props: []string{"QueueName", "Delay", "Tags", "Policy"}, created: created, attrs: func(req provision.Request) provision.Physical {
			name, _ := req.Properties.String("QueueName")
			return provision.Physical{Ref: "https://queue/" + name, Attrs: map[string]any{"Arn": "arn:queue:" + name, "QueueName": name}}
		}},
		"Test::Topic": recorder{props: []string{"TopicName", "Target", "Label"}, created: created, attrs: func(req provision.Request) provision.Physical {
			name, _ := req.Properties.String("TopicName")
			return provision.Physical{Ref: "arn:topic:" + name, Attrs: map[string]any{"TopicName": name}}
		}},
	}
}

const stackTemplate = `
Parameters:
  Name: {Type: String, Default: orders, AllowedPattern: "[a-z]+"}
  Delay: {Type: Number, Default: 5, MinValue: 0, MaxValue: 900}
  Mode: {Type: String, Default: quiet, AllowedValues: [quiet, loud]}
  Tags: {Type: CommaDelimitedList, Default: "a, b"}
Conditions:
  Loud: !Equals [!Ref Mode, loud]
  Quiet: !Not [!Condition Loud]
Rules:
  NoDelayWhenLoud:
    RuleCondition: !Equals [!Ref Mode, loud]
    Assertions:
      - Assert: !Equals [!Ref Delay, "0"]
        AssertDescription: A loud stack takes no delay.
Resources:
  Topic:
    Type: Test::Topic
    Properties:
      TopicName: !Sub "${Name}-topic"
      Target: !GetAtt Queue.Arn
      Label: !If [Loud, LOUD, !Ref AWS::NoValue]
  Queue:
    Type: Test::Queue
    Properties:
      QueueName: !Ref Name
      Delay: !Ref Delay
      Tags: !Ref Tags
      Policy:
        Statement:
          - Resource: !Sub "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Name}"
            Literal: !Sub "${!NotAVariable}"
  LoudOnly:
    Type: Test::Queue
    Condition: Loud
    Properties: {QueueName: !Join ["-", [!Ref Name, loud]]}
Outputs:
  TopicArn: {Value: !Ref Topic}
  QueueUrl: {Value: !Ref Queue}
  QueueArn: {Value: !GetAtt [Queue, Arn]}
  Second: {Value: !Select [1, !Ref Tags]}
  Loud: {Condition: Loud, Value: !Ref LoudOnly}
`

func parse(t *testing.T, doc string) *cfntemplate.Template {
	t.Helper()
	tpl, err := cfntemplate.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestProvisionCreatesResourcesInDependencyOrderAndComputesOutputs(t *testing.T) {
	var created []provision.Request
	st, err := provision.Provision(context.Background(), parse(t, stackTemplate), provision.Options{Providers: providers(&created)})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(st.Order, ","); got != "Queue,Topic" {
		t.Errorf("order = %s, want Queue,Topic (the topic refers to the queue; LoudOnly's condition is false)", got)
	}
	queue := created[0].Properties
	want := provision.Properties{
		"QueueName": "orders",
		"Delay":     "5",
		"Tags":      []any{"a", "b"},
		"Policy": map[string]any{"Statement": []any{map[string]any{
			"Resource": "arn:aws:sqs:us-east-1:000000000000:orders",
			"Literal":  "${NotAVariable}",
		}}},
	}
	if !reflect.DeepEqual(queue, want) {
		t.Errorf("queue properties = %#v\nwant %#v", queue, want)
	}
	topic := created[1].Properties
	if !reflect.DeepEqual(topic, provision.Properties{"TopicName": "orders-topic", "Target": "arn:queue:orders"}) {
		t.Errorf("topic properties = %#v (Label should vanish through AWS::NoValue)", topic)
	}
	wantOut := map[string]string{"TopicArn": "arn:topic:orders-topic", "QueueUrl": "https://queue/orders", "QueueArn": "arn:queue:orders", "Second": "b"}
	if !reflect.DeepEqual(st.Outputs, wantOut) {
		t.Errorf("outputs = %v, want %v", st.Outputs, wantOut)
	}
}

func TestParametersOverrideDefaultsAndConditionsFollow(t *testing.T) {
	var created []provision.Request
	st, err := provision.Provision(context.Background(), parse(t, stackTemplate), provision.Options{
		Providers:  providers(&created),
		Parameters: map[string]string{"Mode": "loud", "Delay": "0", "Name": "shop"},
		Pseudo:     provision.Pseudo{Region: "eu-west-1", AccountID: "123456789012"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(st.Order, ","); got != "LoudOnly,Queue,Topic" {
		t.Errorf("order = %s", got)
	}
	if st.Outputs["Loud"] != "https://queue/shop-loud" {
		t.Errorf("outputs = %v", st.Outputs)
	}
	res := created[1].Properties["Policy"].(map[string]any)["Statement"].([]any)[0].(map[string]any)["Resource"]
	if res != "arn:aws:sqs:eu-west-1:123456789012:shop" {
		t.Errorf("pseudo parameters: Resource = %v", res)
	}
}

func TestProvisionRefusesBadInputBeforeCreatingAnything(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		params map[string]string
		want   string
	}{
		{"a value outside AllowedValues", stackTemplate, map[string]string{"Mode": "shouting"}, `parameter Mode: value "shouting" is not one of the allowed values`},
		{"a value not matching AllowedPattern", stackTemplate, map[string]string{"Name": "Orders1"}, `parameter Name: value "Orders1" does not match the pattern [a-z]+`},
		{"a number above MaxValue", stackTemplate, map[string]string{"Delay": "901"}, "parameter Delay: value 901 is above the maximum 900"},
		{"a number that is not one", stackTemplate, map[string]string{"Delay": "soon"}, `parameter Delay: value "soon" is not a number`},
		{"an undeclared parameter", stackTemplate, map[string]string{"Colour": "red"}, "parameter Colour is not declared in the template"},
		{"a failed rule", stackTemplate, map[string]string{"Mode": "loud"}, "rule NoDelayWhenLoud: A loud stack takes no delay."},
		{"an unsupported type", "Resources:\n  A: {Type: AWS::EC2::Instance}", nil, "resource A: type AWS::EC2::Instance is not supported by the embedded cloud"},
		{"an unsupported property", "Resources:\n  A: {Type: Test::Queue, Properties: {FifoQueue: true}}", nil, "resource A (Test::Queue): property FifoQueue is not supported by the embedded cloud"},
		{"a parameter without a value", "Parameters:\n  P: {Type: String}\nResources:\n  A: {Type: Test::Queue}", nil, "parameter P needs a value"},
		{"a cycle", "Resources:\n  A: {Type: Test::Queue, Properties: {QueueName: !GetAtt B.Arn}}\n  B: {Type: Test::Queue, Properties: {QueueName: !Ref A}}", nil, "resources depend on each other in a circle: A → B → A"},
		{"an unknown DependsOn", "Resources:\n  A: {Type: Test::Queue, DependsOn: Nope}", nil, "resource A depends on Nope, which the template does not declare"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var created []provision.Request
			_, err := provision.Provision(context.Background(), parse(t, tt.doc), provision.Options{Providers: providers(&created), Parameters: tt.params})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant one containing %q", err, tt.want)
			}
			if len(created) != 0 {
				t.Errorf("%d resources were created before the error", len(created))
			}
		})
	}
}

func TestAnUnresolvableReferenceNamesTheResource(t *testing.T) {
	var created []provision.Request
	doc := "Resources:\n  A: {Type: Test::Queue, Properties: {QueueName: !GetAtt B.Colour}}\n  B: {Type: Test::Queue, Properties: {QueueName: b}}"
	_, err := provision.Provision(context.Background(), parse(t, doc), provision.Options{Providers: providers(&created)})
	if err == nil || !strings.Contains(err.Error(), "resource A (Test::Queue): QueueName: Fn::GetAtt B.Colour: a Test::Queue has no attribute Colour here") {
		t.Errorf("error = %v", err)
	}
}

func TestAProviderFailureNamesTheResource(t *testing.T) {
	p := map[string]provision.Provider{"Test::Queue": recorder{props: []string{"QueueName"}, fail: errors.New("QueueAlreadyExists")}}
	_, err := provision.Provision(context.Background(), parse(t, "Resources:\n  A: {Type: Test::Queue}"), provision.Options{Providers: p})
	if err == nil || err.Error() != "provision: create resource A (Test::Queue): QueueAlreadyExists" {
		t.Errorf("error = %v", err)
	}
}

func TestPropertiesAcceptWhatCloudFormationAccepts(t *testing.T) {
	p := provision.Properties{"N": "42", "F": float64(7), "B": "true", "Doc": map[string]any{"maxReceiveCount": float64(3), "arn": "x"}, "S": `{"a":1}`}
	if n, err := p.Int("N", 0); n != 42 || err != nil {
		t.Errorf("Int(N) = %d, %v", n, err)
	}
	if n, err := p.Int("F", 0); n != 7 || err != nil {
		t.Errorf("Int(F) = %d, %v", n, err)
	}
	if n, err := p.Int("Missing", 9); n != 9 || err != nil {
		t.Errorf("Int(Missing) = %d, %v", n, err)
	}
	if b, err := p.Bool("B", false); !b || err != nil {
		t.Errorf("Bool(B) = %v, %v", b, err)
	}
	if j, err := p.JSON("Doc"); j != `{"arn":"x","maxReceiveCount":3}` || err != nil {
		t.Errorf("JSON(Doc) = %s, %v", j, err)
	}
	if j, err := p.JSON("S"); j != `{"a":1}` || err != nil {
		t.Errorf("JSON(S) = %s, %v", j, err)
	}
	if _, err := (provision.Properties{"S": "{oops"}).JSON("S"); err == nil {
		t.Errorf("JSON of invalid JSON: error = nil")
	}
	if _, err := (provision.Properties{"N": "x"}).Int("N", 0); err == nil {
		t.Errorf("Int of a word: error = nil")
	}
}

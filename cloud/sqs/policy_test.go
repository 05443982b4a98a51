package sqs

import "testing"

func TestPolicyEvaluation(t *testing.T) {
	const (
		queue = "arn:aws:sqs:us-east-1:000000000000:orders"
		topic = "arn:aws:sns:us-east-1:000000000000:OrderTopic"
	)
	sns := policyRequest{Service: "sns.amazonaws.com", Account: "000000000000", Action: "sqs:SendMessage", Resource: queue,
		Context: map[string]string{"aws:SourceArn": topic, "aws:SourceAccount": "000000000000"}}
	for _, tc := range []struct {
		name   string
		policy string
		want   bool
	}{
		{"an allow for the SNS service principal on the topic allows", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"` + queue + `","Condition":{"ArnEquals":{"aws:SourceArn":"` + topic + `"}}}]}`, true},
		{"a statement given as one object counts", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"sqs:*"}}`, true},
		{"Principal * with an ArnLike wildcard on the source allows", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":["sqs:ReceiveMessage","sqs:Send*"],"Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:000000000000:*"}}}]}`, true},
		{"AWS * counts as any principal", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"SQS:SendMessage"}]}`, true},
		{"another topic does not match ArnEquals", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:000000000000:Other"}}}]}`, false},
		{"another service principal does not match", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage"}]}`, false},
		{"another action does not match", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:ReceiveMessage"}]}`, false},
		{"another queue does not match", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Resource":"arn:aws:sqs:us-east-1:000000000000:other"}]}`, false},
		{"an explicit deny wins over an allow", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*"},{"Effect":"Deny","Principal":"*","Action":"sqs:SendMessage","Condition":{"StringEquals":{"aws:SourceAccount":"000000000000"}}}]}`, false},
		{"a StringNotEquals on the account excludes the caller's account", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Condition":{"StringNotEquals":{"aws:SourceAccount":"000000000000"}}}]}`, false},
		{"StringLike matches wildcards", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Condition":{"StringLike":{"aws:SourceArn":"arn:aws:sns:*:OrderTop?c"}}}]}`, true},
		{"a condition on a key the request lacks fails unless IfExists", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}`, false},
		{"an IfExists condition on a missing key holds", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Condition":{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-1"}}}]}`, true},
		{"NotAction excludes the action", `{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"sqs:Send*"}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePolicy(tc.policy)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := p.allows(sns); got != tc.want {
				t.Errorf("allows = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("no policy allows nothing", func(t *testing.T) {
		var p *policyDocument
		if p.allows(sns) {
			t.Errorf("a nil policy allowed")
		}
	})
	t.Run("malformed policies are refused", func(t *testing.T) {
		for _, raw := range []string{`nope`, `{}`, `{"Statement":[{"Effect":"Maybe"}]}`, `{"Statement":[{"Effect":"Allow","Principal":"someone"}]}`} {
			if _, err := parsePolicy(raw); err == nil {
				t.Errorf("parsePolicy(%s) succeeded", raw)
			}
		}
	})
}

func TestWildcardMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false}, {"a?c", "abc", true},
		{"a?c", "ac", false}, {"*b*", "abc", true}, {"", "", true}, {"", "x", false}, {"a**", "a", true},
	} {
		if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

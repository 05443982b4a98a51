package filterpolicy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cloud/sns/filterpolicy"
)

func attrs(kv ...string) map[string]filterpolicy.Attribute {
	// kv is name, type, value triples.
	m := map[string]filterpolicy.Attribute{}
	for i := 0; i+2 < len(kv); i += 3 {
		m[kv[i]] = filterpolicy.Attribute{DataType: kv[i+1], StringValue: kv[i+2]}
	}
	return m
}

func mustParse(t *testing.T, policy string, scope filterpolicy.Scope) *filterpolicy.Policy {
	t.Helper()
	p, err := filterpolicy.Parse(policy, scope)
	if err != nil {
		t.Fatalf("Parse(%s): %v", policy, err)
	}
	return p
}

func TestEachOperatorMatchesAndRejectsMessageAttributes(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		match  map[string]filterpolicy.Attribute
		reject map[string]filterpolicy.Attribute
	}{
		{"an exact string matches only that string",
			`{"customer_interests":["rugby","tennis"]}`,
			attrs("customer_interests", "String", "rugby"),
			attrs("customer_interests", "String", "baseball")},
		{"an exact string matches an element of a String.Array",
			`{"customer_interests":["rugby"]}`,
			attrs("customer_interests", "String.Array", `["baseball","rugby"]`),
			attrs("customer_interests", "String.Array", `["baseball"]`)},
		{"an exact number matches an equal Number in another notation",
			`{"price_usd":[301.5]}`,
			attrs("price_usd", "Number", "3.015e2"),
			attrs("price_usd", "Number", "301.6")},
		{"a number does not match the same digits as a String",
			`{"price_usd":[301.5]}`,
			attrs("price_usd", "Number", "301.5"),
			attrs("price_usd", "String", "301.5")},
		{"prefix matches the start of a string",
			`{"customer_interests":[{"prefix":"bas"}]}`,
			attrs("customer_interests", "String", "basketball"),
			attrs("customer_interests", "String", "rugby")},
		{"suffix matches the end of a string",
			`{"image":[{"suffix":".png"}]}`,
			attrs("image", "String", "cat.png"),
			attrs("image", "String", "cat.jpg")},
		{"equals-ignore-case ignores case",
			`{"status":[{"equals-ignore-case":"ShIpPeD"}]}`,
			attrs("status", "String", "SHIPPED"),
			attrs("status", "String", "shipping")},
		{"anything-but a list matches other values",
			`{"customer_interests":[{"anything-but":["rugby","tennis"]}]}`,
			attrs("customer_interests", "String", "baseball"),
			attrs("customer_interests", "String", "rugby")},
		{"anything-but matches a String.Array holding any other value",
			`{"customer_interests":[{"anything-but":["rugby","tennis"]}]}`,
			attrs("customer_interests", "String.Array", `["rugby","baseball"]`),
			attrs("customer_interests", "String.Array", `["rugby"]`)},
		{"anything-but a single value",
			`{"event":[{"anything-but":"deleted"}]}`,
			attrs("event", "String", "created"),
			attrs("event", "String", "deleted")},
		{"anything-but numbers matches other numbers",
			`{"price":[{"anything-but":[100,500]}]}`,
			attrs("price", "Number", "100.1"),
			attrs("price", "Number", "100")},
		{"anything-but a prefix matches strings without it",
			`{"event":[{"anything-but":{"prefix":"order-"}}]}`,
			attrs("event", "String", "order_number"),
			attrs("event", "String", "order-cancelled")},
		{"anything-but needs the attribute",
			`{"event":[{"anything-but":"deleted"}]}`,
			attrs("event", "String", "created"),
			attrs("other", "String", "created")},
		{"numeric = matches an equal number",
			`{"price_usd":[{"numeric":["=",301.5]}]}`,
			attrs("price_usd", "Number", "301.50"),
			attrs("price_usd", "Number", "301.51")},
		{"numeric < matches smaller numbers",
			`{"price_usd":[{"numeric":["<",0]}]}`,
			attrs("price_usd", "Number", "-0.5"),
			attrs("price_usd", "Number", "0")},
		{"numeric <= includes its bound",
			`{"price_usd":[{"numeric":["<=",0]}]}`,
			attrs("price_usd", "Number", "0"),
			attrs("price_usd", "Number", "0.00002")},
		{"numeric > excludes its bound",
			`{"price_usd":[{"numeric":[">",10]}]}`,
			attrs("price_usd", "Number", "10.5"),
			attrs("price_usd", "Number", "10")},
		{"numeric >= includes its bound",
			`{"price_usd":[{"numeric":[">=",10]}]}`,
			attrs("price_usd", "Number", "10"),
			attrs("price_usd", "Number", "9.99999")},
		{"a numeric range matches between its bounds",
			`{"price_usd":[{"numeric":[">",0,"<=",150]}]}`,
			attrs("price_usd", "Number", "150"),
			attrs("price_usd", "Number", "150.5")},
		{"a numeric range rejects its open lower bound",
			`{"price_usd":[{"numeric":[">",0,"<=",150]}]}`,
			attrs("price_usd", "Number", "1"),
			attrs("price_usd", "Number", "0")},
		{"numeric does not match a String attribute",
			`{"price_usd":[{"numeric":[">",0]}]}`,
			attrs("price_usd", "Number", "5"),
			attrs("price_usd", "String", "5")},
		{"numeric matches numbers inside a String.Array",
			`{"sizes":[{"numeric":[">=",40]}]}`,
			attrs("sizes", "String.Array", `[38, 42]`),
			attrs("sizes", "String.Array", `[38, 39]`)},
		{"exists true needs the attribute",
			`{"store":[{"exists":true}]}`,
			attrs("store", "String", "fans"),
			attrs("customer_interests", "String", "rugby")},
		{"exists false needs its absence",
			`{"store":[{"exists":false}]}`,
			attrs("customer_interests", "String", "rugby"),
			attrs("store", "String", "fans")},
		{"a Binary attribute is ignored, as if absent",
			`{"blob":[{"exists":true}]}`,
			attrs("blob", "String", "x"),
			attrs("blob", "Binary", "x")},
		{"cidr matches addresses in the subnet",
			`{"source_ip":[{"cidr":"10.0.0.0/24"}]}`,
			attrs("source_ip", "String", "10.0.0.255"),
			attrs("source_ip", "String", "10.1.1.0")},
		{"keys are AND'ed",
			`{"customer_interests":["rugby"],"price_usd":[{"numeric":[">",100]}]}`,
			attrs("customer_interests", "String", "rugby", "price_usd", "Number", "101"),
			attrs("customer_interests", "String", "rugby", "price_usd", "Number", "99")},
		{"$or matches either branch",
			`{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization"]},{"namespace":["AWS/EC2"]}]}`,
			attrs("source", "String", "aws.cloudwatch", "namespace", "String", "AWS/EC2"),
			attrs("source", "String", "aws.cloudwatch", "namespace", "String", "AWS/S3")},
		{"$or with fewer than two objects is an ordinary key",
			`{"$or":["x"]}`,
			attrs("$or", "String", "x"),
			attrs("a", "String", "x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.policy, filterpolicy.ScopeAttributes)
			if got := p.Match(filterpolicy.FromAttributes(tt.match)); !got {
				t.Errorf("Match(%v) = false, want true", tt.match)
			}
			if got := p.Match(filterpolicy.FromAttributes(tt.reject)); got {
				t.Errorf("Match(%v) = true, want false", tt.reject)
			}
		})
	}
}

func TestEachOperatorMatchesAndRejectsMessageBodies(t *testing.T) {
	tests := []struct {
		name          string
		policy        string
		match, reject string
	}{
		{"an exact string", `{"customer_interests":["rugby"]}`,
			`{"customer_interests":"rugby"}`, `{"customer_interests":"baseball"}`},
		{"an exact string in a body array", `{"customer_interests":["rugby"]}`,
			`{"customer_interests":["baseball","rugby"]}`, `{"customer_interests":["baseball"]}`},
		{"a number", `{"price_usd":[301.5]}`,
			`{"price_usd":3.015e2}`, `{"price_usd":"301.5"}`},
		{"true, false and null match themselves", `{"a":[true],"b":[null]}`,
			`{"a":true,"b":null}`, `{"a":false,"b":null}`},
		{"a nested key", `{"order":{"status":["shipped"]}}`,
			`{"order":{"status":"shipped","id":1}}`, `{"order":{"status":"pending"}}`},
		{"a nested key under an array of objects", `{"items":{"sku":[{"prefix":"A-"}]}}`,
			`{"items":[{"sku":"B-1"},{"sku":"A-2"}]}`, `{"items":[{"sku":"B-1"}]}`},
		{"three levels deep", `{"a":{"b":{"c":[{"numeric":[">",1,"<",3]}]}}}`,
			`{"a":{"b":{"c":2}}}`, `{"a":{"b":{"c":3}}}`},
		{"prefix", `{"e":[{"prefix":"order-"}]}`, `{"e":"order-1"}`, `{"e":"ord"}`},
		{"suffix", `{"e":[{"suffix":"-done"}]}`, `{"e":"job-done"}`, `{"e":"done-job"}`},
		{"equals-ignore-case", `{"e":[{"equals-ignore-case":"A"}]}`, `{"e":"a"}`, `{"e":"b"}`},
		{"anything-but", `{"e":[{"anything-but":["x"]}]}`, `{"e":"y"}`, `{"e":"x"}`},
		{"anything-but prefix", `{"e":[{"anything-but":{"prefix":"x"}}]}`, `{"e":"yx"}`, `{"e":"xy"}`},
		{"exists true on a nested leaf", `{"a":{"b":[{"exists":true}]}}`, `{"a":{"b":0}}`, `{"a":{"c":0}}`},
		{"exists false on a missing parent", `{"a":{"b":[{"exists":false}]}}`, `{"x":1}`, `{"a":{"b":1}}`},
		{"exists true does not match an object", `{"a":[{"exists":true}]}`, `{"a":1}`, `{"b":{"a":1}}`},
		{"$or inside a nested object", `{"a":{"$or":[{"b":["1"]},{"c":["2"]}]}}`,
			`{"a":{"c":"2"}}`, `{"a":{"b":"2"}}`},
		{"a body that is not a JSON object matches nothing", `{"a":["x"]}`,
			`{"a":"x"}`, `just text`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.policy, filterpolicy.ScopeBody)
			if !p.Match(filterpolicy.FromBody([]byte(tt.match))) {
				t.Errorf("Match(%s) = false, want true", tt.match)
			}
			if p.Match(filterpolicy.FromBody([]byte(tt.reject))) {
				t.Errorf("Match(%s) = true, want false", tt.reject)
			}
		})
	}
}

func TestAnEmptyPolicyMatchesEverything(t *testing.T) {
	for _, scope := range []filterpolicy.Scope{filterpolicy.ScopeAttributes, filterpolicy.ScopeBody} {
		p := mustParse(t, `{}`, scope)
		if !p.Match(filterpolicy.FromBody([]byte("not json"))) || !p.Match(filterpolicy.FromAttributes(nil)) {
			t.Errorf("%s: {} rejected a message", scope)
		}
	}
	var nilPolicy *filterpolicy.Policy
	if !nilPolicy.Match(filterpolicy.Message{}) {
		t.Error("a nil policy rejected a message")
	}
}

func TestInvalidPoliciesAreRefusedWithAReason(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"k":[`)
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"v` + strings.Repeat("x", i) + `"`)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	tests := []struct {
		name   string
		policy string
		scope  filterpolicy.Scope
		reason string
	}{
		{"not JSON", `{`, filterpolicy.ScopeAttributes, "failed to parse JSON"},
		{"not an object", `["a"]`, filterpolicy.ScopeAttributes, "must be a JSON object"},
		{"a bare string value", `{"a":"b"}`, filterpolicy.ScopeAttributes, "must be an object or an array"},
		{"nested under attribute scope", `{"a":{"b":["c"]}}`, filterpolicy.ScopeAttributes, "does not support nested"},
		{"an empty array", `{"a":[]}`, filterpolicy.ScopeAttributes, "Empty arrays"},
		{"an unknown operator", `{"a":[{"wildcard":"x*"}]}`, filterpolicy.ScopeAttributes, "Unrecognized match type wildcard"},
		{"two operators in one object", `{"a":[{"prefix":"x","suffix":"y"}]}`, filterpolicy.ScopeAttributes, "Only one key"},
		{"a non-string prefix", `{"a":[{"prefix":1}]}`, filterpolicy.ScopeAttributes, "must be a string"},
		{"exists with a string", `{"a":[{"exists":"yes"}]}`, filterpolicy.ScopeAttributes, "exists match pattern"},
		{"anything-but suffix", `{"a":[{"anything-but":{"suffix":"x"}}]}`, filterpolicy.ScopeAttributes, "Unsupported anything-but"},
		{"anything-but of mixed types", `{"a":[{"anything-but":["x",1]}]}`, filterpolicy.ScopeAttributes, "same type"},
		{"anything-but with a boolean", `{"a":[{"anything-but":[true]}]}`, filterpolicy.ScopeAttributes, "not supported"},
		{"numeric with an unknown operator", `{"a":[{"numeric":["!=",1]}]}`, filterpolicy.ScopeAttributes, "Unrecognized numeric range operator"},
		{"numeric with = in a range", `{"a":[{"numeric":["=",1,"<",2]}]}`, filterpolicy.ScopeAttributes, "Bad numeric range operator"},
		{"numeric upper bound first", `{"a":[{"numeric":["<",1,">",0]}]}`, filterpolicy.ScopeAttributes, "Bad numeric range operator"},
		{"numeric bottom above top", `{"a":[{"numeric":[">",5,"<",1]}]}`, filterpolicy.ScopeAttributes, "Bottom must be less than top"},
		{"numeric too many elements", `{"a":[{"numeric":[">",0,"<",1,"<",2]}]}`, filterpolicy.ScopeAttributes, "Too many elements"},
		{"a number above 10^9", `{"a":[{"numeric":[">",1000000001]}]}`, filterpolicy.ScopeAttributes, "out of the supported range"},
		{"a malformed cidr", `{"a":[{"cidr":"10.0.0.0"}]}`, filterpolicy.ScopeAttributes, "Malformed CIDR"},
		{"six keys", `{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}`, filterpolicy.ScopeAttributes, "more than 5 keys"},
		{"six keys in one $or branch", `{"a":["1"],"$or":[{"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]},{"g":["1"]}]}`, filterpolicy.ScopeAttributes, "more than 5 keys"},
		{"151 combinations", many(151), filterpolicy.ScopeAttributes, "too complex"},
		{"nested depth counts toward combinations", `{"a":{"b":{"c":` + strings.TrimPrefix(strings.TrimSuffix(many(51), "}"), `{"k":`) + `}}}`, filterpolicy.ScopeBody, "too complex"},
		{"too large", `{"a":["` + strings.Repeat("x", filterpolicy.MaxSize) + `"]}`, filterpolicy.ScopeAttributes, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := filterpolicy.Parse(tt.policy, tt.scope)
			var perr *filterpolicy.Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse error = %v, want a *filterpolicy.Error", err)
			}
			if !strings.Contains(perr.Reason, tt.reason) {
				t.Errorf("reason = %q, want it to contain %q", perr.Reason, tt.reason)
			}
		})
	}
}

func TestPoliciesAtTheLimitsAreAccepted(t *testing.T) {
	for _, policy := range []string{
		`{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"]}`,
		// 3 × 50 = 150
		`{"a":["1","2","3"],"b":[` + strings.Repeat(`"x",`, 49) + `"y"]}`,
		// AWS's own example: 3×4 × 2×3 = 72
		`{"key_a":{"key_b":{"key_c":["1","2","3","4"]}},"key_d":{"key_e":["1","2","3"]}}`,
	} {
		if _, err := filterpolicy.Parse(policy, filterpolicy.ScopeBody); err != nil {
			t.Errorf("Parse(%.60s…) = %v, want nil", policy, err)
		}
	}
}

// FuzzPolicy checks that parsing and matching any policy against any body
// and attributes never panics. Run with: go test -fuzz=FuzzPolicy ./cloud/sns/filterpolicy
func FuzzPolicy(f *testing.F) {
	f.Add(`{"a":["x",{"prefix":"y"}],"b":[{"numeric":[">",0,"<=",5]}]}`, `{"a":"yes","b":3}`, "String", "yes", true)
	f.Add(`{"a":{"b":[{"exists":false}]},"$or":[{"c":[1]},{"d":[null]}]}`, `{"a":[{"b":1}],"d":null}`, "String.Array", `["x",1]`, true)
	f.Add(`{"a":[{"anything-but":{"prefix":"p"}}],"ip":[{"cidr":"::1/128"}]}`, `[]`, "Number", "1e3", false)
	f.Add(`{"$or":[{"a":["1"]},{"b":[{"equals-ignore-case":"X"}]}]}`, `{"b":"x"}`, "Binary", "AA==", false)
	f.Fuzz(func(t *testing.T, policy, body, dataType, value string, bodyScope bool) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > time.Second {
				t.Fatalf("one input took %v", d)
			}
		}()
		scope := filterpolicy.ScopeAttributes
		if bodyScope {
			scope = filterpolicy.ScopeBody
		}
		p, err := filterpolicy.Parse(policy, scope)
		if err != nil {
			var perr *filterpolicy.Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse error %v is not a *filterpolicy.Error", err)
			}
			return
		}
		p.Match(filterpolicy.FromBody([]byte(body)))
		p.Match(filterpolicy.FromAttributes(map[string]filterpolicy.Attribute{
			"a": {DataType: dataType, StringValue: value},
			"b": {DataType: dataType, StringValue: body},
		}))
	})
}

package orderflow_test

import (
	"strings"
	"testing"

	"github.com/orderflow/orderflow"
)

func TestGroupKey(t *testing.T) {
	long := strings.Repeat("x", 129)
	cases := []struct {
		body, want string
	}{
		{`{"orderId":"ORD-1","quantity":2}`, "ORD-1"},
		{`{"quantity":2,"orderId":"a!\"#$%&'()*+,-./:;<=>?@[\\]^_` + "`" + `{|}~z"}`, "a!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~z"},
		{`{"orderId":"` + strings.Repeat("y", 128) + `"}`, strings.Repeat("y", 128)},
		{`not json`, orderflow.NoOrderID},
		{`{"userId":"u"}`, orderflow.NoOrderID},
		{`{"orderId":null}`, orderflow.NoOrderID},
		{`[1,2]`, orderflow.NoOrderID},
	}
	for _, c := range cases {
		if got := orderflow.GroupKey([]byte(c.body)); got != c.want {
			t.Errorf("GroupKey(%s) = %q, want %q", c.body, got, c.want)
		}
	}
	// Ids that are not valid group ids map to a stable hash, distinct per id.
	seen := map[string]string{}
	for _, body := range []string{
		`{"orderId":"` + long + `"}`, `{"orderId":"with space"}`, `{"orderId":"é"}`,
		`{"orderId":""}`, `{"orderId":42}`, `{"orderId":"42"}`, `{"orderId":"tab\t"}`,
	} {
		k := orderflow.GroupKey([]byte(body))
		if body == `{"orderId":"42"}` {
			if k != "42" {
				t.Errorf("GroupKey(%s) = %q, want 42", body, k)
			}
			continue
		}
		if !strings.HasPrefix(k, "h-") || len(k) != 34 {
			t.Errorf("GroupKey(%s) = %q, want h- and 32 hex digits", body, k)
		}
		if again := orderflow.GroupKey([]byte(body)); again != k {
			t.Errorf("GroupKey(%s) is not stable: %q then %q", body, k, again)
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("%s and %s share the group %q", prev, body, k)
		}
		seen[k] = body
	}
}

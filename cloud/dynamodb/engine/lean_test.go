package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// leanItems, leanNames and leanValues are what the condition tests
// evaluate on.
var (
	leanItems = mustItems(
		`{}`,
		`{"a":{"S":"x"},"b":{"N":"2"},"m":{"M":{"k":{"S":"x"},"z":{"M":{"y":{"N":"1"}}}}},"l":{"L":[{"S":"x"},{"N":"3"}]},"x.y":{"S":"x"},"ss":{"SS":["x","y"]},"c":{"BOOL":true}}`,
		`{"a":{"N":"1"},"m":{"L":[]},"l":{"M":{"0":{"S":"x"}}},"x":{"M":{"y":{"S":"x"}}},"n":{"NULL":true}}`,
		`{"b":{"N":"3"},"other":{"S":"x"},"more":{"L":[{"S":"x"}]}}`,
	)
	leanNames  = map[string]string{"#a": "a", "#m": "m", "#d": "x.y", "#k": "k", "#l": "l", "#o": "other"}
	leanValues = mustItems(`{":s":{"S":"x"},":t":{"S":"y"},":n":{"N":"1"},":n2":{"N":"3"},":ty":{"S":"S"}}`)[0]
)

func mustItems(bodies ...string) []item {
	var out []item
	for _, body := range bodies {
		var it item
		if err := json.Unmarshal([]byte(body), &it); err != nil {
			panic(err)
		}
		out = append(out, it)
	}
	return out
}

// sameOnNamedAttributes checks cond on every lean item, whole and cut to
// the attributes the condition names; it reports whether the condition
// could be checked (it parses, and says which attributes it reads).
func sameOnNamedAttributes(t *testing.T, cond string) bool {
	t.Helper()
	a := exprAttrs{names: map[string]string{}, values: item{}}
	// The request's names and values: those the condition uses.
	ns, vs := placeholders(cond)
	for _, n := range ns {
		if v, ok := leanNames[n]; ok {
			a.names[n] = v
		}
	}
	for _, v := range vs {
		if x, ok := leanValues[v]; ok {
			a.values[v] = x
		}
	}
	p, err := parsedConditions.parse(cond)
	if err != nil {
		return false
	}
	read, ok := p.attributes(nil, a.names)
	if !ok {
		return false
	}
	for _, it := range leanItems {
		part, err := decodeAttrs(encodeItem(it), read)
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr := safeEval(cond, cloneItem(it), a)
		got, gotErr := safeEval(cond, part, a)
		if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("%s on %v: %v, %v on the attributes %q; %v, %v on the item", cond, it, got, gotErr, read, want, wantErr)
		}
	}
	return true
}

// safeEval is evalCondition as the engine calls it (interpret turns a
// panic of the interpreter into an error).
func safeEval(cond string, it item, a exprAttrs) (ok bool, err error) {
	err = interpret("ConditionExpression", func() (err error) {
		ok, err = evalCondition("ConditionExpression", cond, it, a)
		return err
	})
	return ok, err
}

var leanConditions = []string{
	"attribute_exists(a)", "attribute_not_exists(#a)", "a = :s", "#a <> :s", "#m.#k = :s", "m.z.y < :n2",
	"l[0] = :s", "#l[1] >= :n", "size(l) > :n", "size(#m) = :n", "contains(l, :s)", "contains(ss, :s)",
	"begins_with(a, :s)", "a IN (:s, :t)", "b BETWEEN :n AND :n2", "NOT (a = :s)", "attribute_type(a, :ty)",
	"#d = :s", "x.y = :s", "(a = :s OR b = :n2) AND NOT attribute_exists(c)", "attribute_exists(#o) OR c = :s",
	"size(a) BETWEEN :n AND :n2", "a = b", "n = :s", "attribute_exists(m.k) AND size(more) < :n2",
}

// A condition evaluated on the attributes it names (what
// checkConditionLean decodes) answers as on the whole item, for every
// form of path and function the language has.
func TestAConditionReadsTheSameOnTheAttributesItNames(t *testing.T) {
	for _, cond := range leanConditions {
		if !sameOnNamedAttributes(t, cond) {
			t.Errorf("%s: cannot tell which attributes it reads", cond)
		}
	}
}

// FuzzConditionOnNamedAttributes looks for a condition that answers
// differently on the attributes it names than on the whole item.
//
//	go test ./cloud/dynamodb/engine -run '^$' -fuzz FuzzConditionOnNamedAttributes -fuzztime 30s
func FuzzConditionOnNamedAttributes(f *testing.F) {
	for _, c := range leanConditions {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, cond string) {
		if len(cond) > 512 {
			return
		}
		sameOnNamedAttributes(t, cond)
	})
}

// decodeAttrs and decodeOthers together decode the whole item.
func TestAnItemDecodedInTwoPartsIsTheItem(t *testing.T) {
	var it item
	if err := json.Unmarshal([]byte(`{"a":{"S":"x"},"b":{"N":"2"},"m":{"M":{"k":{"BS":["eA=="]}}},"l":{"L":[{"B":"eA=="},{"NULL":true},{"BOOL":false},{"NS":["1"]}]}}`), &it); err != nil {
		t.Fatal(err)
	}
	data := encodeItem(it)
	for _, names := range [][]string{nil, {"a"}, {"m", "l"}, {"a", "b", "m", "l"}, {"gone"}} {
		part, err := decodeAttrs(data, names)
		if err != nil {
			t.Fatal(err)
		}
		for name := range part {
			if !slices.Contains(names, name) {
				t.Errorf("decodeAttrs(%q) decoded %s", names, name)
			}
		}
		if err := decodeOthers(data, part, names); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(part, it) {
			t.Errorf("with %q: %v, want %v", names, part, it)
		}
	}
	if _, err := decodeAttrs(data[:len(data)-1], []string{"a"}); !errors.Is(err, errCorrupt) {
		t.Errorf("a cut item: %v, want errCorrupt", err)
	}
}

// A conditional put over a stored item keeps the index in step (the old
// index keys come from the partly decoded item) and, when its condition
// fails, returns the whole stored item if asked.
func TestAConditionalPutOverAnItemKeepsTheIndexAndReturnsTheWholeItem(t *testing.T) {
	e := New()
	do := func(op, body string) ([]byte, error) { return e.Do(op, []byte(body)) }
	if _, err := do("CreateTable", wireTable); err != nil {
		t.Fatal(err)
	}
	put := func(user, version string) error {
		_, err := do("PutItem", `{"TableName":"Orders","Item":{"orderId":{"S":"o"},"userId":{"S":"`+user+`"},"timestamp":{"S":"t-`+user+`"},"note":{"S":"n"},"v":{"S":"`+version+`"}},"ConditionExpression":"attribute_not_exists(#id) OR #v < :v","ExpressionAttributeNames":{"#id":"orderId","#v":"v"},"ExpressionAttributeValues":{":v":{"S":"`+version+`"}},"ReturnValuesOnConditionCheckFailure":"ALL_OLD"}`)
		return err
	}
	count := func(user string) string {
		out, err := do("Query", `{"TableName":"Orders","IndexName":"UserOrders","KeyConditionExpression":"userId = :u","ExpressionAttributeValues":{":u":{"S":"`+user+`"}},"Select":"COUNT"}`)
		if err != nil {
			t.Fatal(err)
		}
		return canonicalJSON(t, out)
	}
	if err := put("u1", "1"); err != nil {
		t.Fatal(err)
	}
	if err := put("u2", "2"); err != nil {
		t.Fatal(err)
	}
	if got, want := count("u1"), `{"Count":0,"ScannedCount":0}`; got != want {
		t.Errorf("the index under the old user: %s, want %s", got, want)
	}
	if got, want := count("u2"), `{"Count":1,"ScannedCount":1}`; got != want {
		t.Errorf("the index under the new user: %s, want %s", got, want)
	}
	err := put("u3", "1")
	var ae *apiError
	if !errors.As(err, &ae) || ae.code != codeConditionFailed {
		t.Fatalf("an older event: %v, want ConditionalCheckFailedException", err)
	}
	got := canonicalJSON(t, appendJSONItem(nil, ae.item))
	if want := `{"note":{"S":"n"},"orderId":{"S":"o"},"timestamp":{"S":"t-u2"},"userId":{"S":"u2"},"v":{"S":"2"}}`; got != want {
		t.Errorf("the item returned: %s, want %s", got, want)
	}
}

// Conditional puts from many goroutines share the cached parse of their
// condition (run with -race).
func TestConcurrentConditionalPutsShareTheParsedCondition(t *testing.T) {
	e := New()
	if _, err := e.Do("CreateTable", []byte(wireTable)); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			var err error
			for i := 0; i < 50 && err == nil; i++ {
				body := fmt.Sprintf(`{"TableName":"Orders","Item":{"orderId":{"S":"o-%d"},"v":{"N":"%d"}},"ConditionExpression":"attribute_not_exists(#id) OR #v < :v","ExpressionAttributeNames":{"#id":"orderId","#v":"v"},"ExpressionAttributeValues":{":v":{"N":"%d"}}}`, i%10, w*100+i, w*100+i)
				_, err = e.Do("PutItem", []byte(body))
				if Code(err) == codeConditionFailed {
					err = nil // another goroutine wrote a newer version
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

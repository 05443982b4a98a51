package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
)

// rawCaller posts bytes no SDK would send (the Go SDK writes invalid UTF-8
// as \ufffd and cannot hold an unpaired surrogate) to an engine.
type rawCaller struct{ url string }

func newRawCaller(t *testing.T, e *engine.Engine) rawCaller {
	t.Helper()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return rawCaller{srv.URL}
}

// call returns the status, the error's __type (without its namespace)
// and message, or "" and the body on success.
func (r rawCaller) call(t *testing.T, op, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.url, strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", string(b)
	}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s: error body %q: %v", op, b, err)
	}
	_, typ, _ := strings.Cut(e.Type, "#")
	return resp.StatusCode, typ, e.Message
}

// apiMessage returns an SDK error's code and message.
func apiMessage(err error) (string, string) {
	if err == nil {
		return "", ""
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return "not an API error", err.Error()
	}
	return api.ErrorCode(), api.ErrorMessage()
}

// count scans table whole and returns how many items it holds.
func count(t *testing.T, c *awsddb.Client, table string) int {
	t.Helper()
	out, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String(table), Select: types.SelectCount})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.Count)
}

// simpleTable creates a table keyed by string pk alone.
func simpleTable(t *testing.T, c *awsddb.Client, name string) {
	t.Helper()
	_, err := c.CreateTable(ctx, &awsddb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// badText are fragments of JSON string content, as they appear between the
// quotes on the wire, that are not Unicode text: encoding/json would decode
// each to U+FFFD.
var badText = []struct{ name, frag string }{
	{"a stray byte", "\xff"},
	{"a surrogate encoded as UTF-8", "\xed\xa0\x80"},
	{"an overlong encoding", "\xc0\xaf"},
	{"a truncated sequence", "\xe2\x82"},
	{"a lone high surrogate", `\ud800`},
	{"a lone low surrogate", `\udc00`},
	{"a high surrogate before a letter", `\ud800\u0041`},
}

const msgNotUnicode = "One or more parameter values were invalid: A string is not valid Unicode text (it is not UTF-8, or holds an unpaired surrogate)"

func TestStringsMustBeUnicodeText(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		raw := newRawCaller(t, e)
		simpleTable(t, c, "Txt")
		if err := put(c, "Txt", av{"pk": s("kept"), "a": s("x")}); err != nil {
			t.Fatal(err)
		}
		// Every place a string travels in a request; X is where the bad
		// text goes.
		places := []struct{ op, body string }{
			{"PutItem", `{"TableName":"Txt","Item":{"pk":{"S":"X"}}}`},
			{"PutItem", `{"TableName":"Txt","Item":{"pk":{"S":"p"},"a":{"S":"X"}}}`},
			{"PutItem", `{"TableName":"Txt","Item":{"pk":{"S":"p"},"aX":{"S":"v"}}}`},
			{"PutItem", `{"TableName":"Txt","Item":{"pk":{"S":"p"},"m":{"M":{"kX":{"S":"v"}}}}}`},
			{"PutItem", `{"TableName":"Txt","Item":{"pk":{"S":"p"},"l":{"L":[{"S":"ok"},{"S":"X"}]}}}`},
			{"PutItem", `{"TableName":"Txt","Item":{"pk":{"S":"p"},"ss":{"SS":["ok","X"]}}}`},
			{"PutItem", `{"TableName":"Txt","Item":{"pk":{"S":"p"}},"ConditionExpression":"a <> :v","ExpressionAttributeValues":{":v":{"S":"X"}}}`},
			{"PutItem", `{"TableName":"Txt","Item":{"pk":{"S":"p"}},"ConditionExpression":"#n <> :v","ExpressionAttributeNames":{"#n":"X"},"ExpressionAttributeValues":{":v":{"S":"v"}}}`},
			{"PutItem", `{"TableName":"Txt","Item":{"pk":{"S":"p"}},"ConditionExpression":"attribute_not_exists(X)"}`},
			{"PutItem", `{"TableName":"TxtX","Item":{"pk":{"S":"p"}}}`},
			{"UpdateItem", `{"TableName":"Txt","Key":{"pk":{"S":"kept"}},"UpdateExpression":"SET a = :v","ExpressionAttributeValues":{":v":{"S":"X"}}}`},
			{"UpdateItem", `{"TableName":"Txt","Key":{"pk":{"S":"X"}},"UpdateExpression":"SET a = :v","ExpressionAttributeValues":{":v":{"S":"v"}}}`},
			{"DeleteItem", `{"TableName":"Txt","Key":{"pk":{"S":"kept"}},"ConditionExpression":"a = :v","ExpressionAttributeValues":{":v":{"S":"xX"}}}`},
			{"BatchWriteItem", `{"RequestItems":{"Txt":[{"PutRequest":{"Item":{"pk":{"S":"q"}}}},{"PutRequest":{"Item":{"pk":{"S":"X"}}}}]}}`},
			{"BatchWriteItem", `{"RequestItems":{"Txt":[{"DeleteRequest":{"Key":{"pk":{"S":"keptX"}}}}]}}`},
			{"TransactWriteItems", `{"TransactItems":[{"Put":{"TableName":"Txt","Item":{"pk":{"S":"q"}}}},{"Put":{"TableName":"Txt","Item":{"pk":{"S":"r"},"a":{"S":"X"}}}}]}`},
			{"GetItem", `{"TableName":"Txt","Key":{"pk":{"S":"keptX"}}}`},
			{"Query", `{"TableName":"Txt","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"keptX"}}}`},
			{"Scan", `{"TableName":"Txt","FilterExpression":"a = :v","ExpressionAttributeValues":{":v":{"S":"X"}}}`},
		}
		for _, bad := range badText {
			for _, p := range places {
				body := strings.Replace(p.body, "X", bad.frag, 1)
				status, typ, msg := raw.call(t, p.op, body)
				if status != 400 || typ != "ValidationException" || msg != msgNotUnicode {
					t.Errorf("%s in %s %s: %d %s %q; want 400 ValidationException %q", bad.name, p.op, body, status, typ, msg, msgNotUnicode)
				}
			}
		}
		out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Txt"), Key: av{"pk": s("kept")}})
		if err != nil || renderItem(out.Item) != `{a=S:"x" pk=S:"kept"}` || count(t, c, "Txt") != 1 {
			t.Errorf("after the refusals the table holds %d items, kept = %s, %v; want only kept, unchanged", count(t, c, "Txt"), renderItem(out.Item), err)
		}
	})
}

func TestDistinctKeysStayDistinct(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		raw := newRawCaller(t, e)
		simpleTable(t, c, "Txt")

		t.Run("keys that would all decode to U+FFFD are refused, none stored", func(t *testing.T) {
			for _, k := range []string{"a\xffb", "a\xfeb", "a\xed\xa0\x80b", `a\ud800b`, `a\udbffb`, `a\udc00b`} {
				status, typ, msg := raw.call(t, "PutItem", `{"TableName":"Txt","Item":{"pk":{"S":"`+k+`"},"v":{"S":"`+k+`"}}}`)
				if status != 400 || typ != "ValidationException" {
					t.Errorf("key %q: %d %s %s; want ValidationException", k, status, typ, msg)
				}
			}
			if n := count(t, c, "Txt"); n != 0 {
				t.Errorf("the table holds %d items, want none", n)
			}
		})

		t.Run("U+FFFD, escaped pairs and every plane are keys of their own", func(t *testing.T) {
			keys := map[string]string{ // as sent on the wire: the string it stands for
				`a\ufffdb`:        "a\uFFFDb",
				"a\uFFFDc":        "a\uFFFDc",
				`a\ud83d\ude00b`:  "a😀b",
				"a😀c":             "a😀c",
				`\udbff\udfff`:    "\U0010FFFF",
				"\uE000":          "\uE000",
				`\\ud800`:         `\ud800`,
				`\u0000\u0001\t`:  "\x00\x01\t",
				"𝄞 \u00e9 \u20ac": "𝄞 é €",
			}
			for wire, want := range keys {
				status, typ, msg := raw.call(t, "PutItem", `{"TableName":"Txt","Item":{"pk":{"S":"`+wire+`"},"v":{"SS":["`+wire+`","plain"]}}}`)
				if status != 200 {
					t.Fatalf("key %q: %d %s %s", wire, status, typ, msg)
				}
				out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Txt"), Key: av{"pk": s(want)}, ConsistentRead: aws.Bool(true)})
				if err != nil || out.Item == nil {
					t.Fatalf("key %q: GetItem(%q) = %v, %v", wire, want, out, err)
				}
				if got := renderValue(out.Item["v"]); got != renderValue(&types.AttributeValueMemberSS{Value: []string{want, "plain"}}) {
					t.Errorf("key %q: v = %s", wire, got)
				}
			}
			if n := count(t, c, "Txt"); n != len(keys) {
				t.Errorf("the table holds %d items, want %d", n, len(keys))
			}
		})
	})
}

// padTo pads expr with spaces to n bytes.
func padTo(expr string, n int) *string {
	return aws.String(expr + strings.Repeat(" ", n-len(expr)))
}

func TestExpressionsAreAtMost4KB(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		simpleTable(t, c, "Txt")
		if err := put(c, "Txt", av{"pk": s("p"), "a": n("1")}); err != nil {
			t.Fatal(err)
		}
		key := av{"pk": s("p")}
		calls := []struct {
			label string
			call  func(size int) error
		}{
			{"ConditionExpression", func(size int) error {
				_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Txt"), Item: av{"pk": s("p"), "a": n("1")},
					ConditionExpression: padTo("a = :one", size), ExpressionAttributeValues: av{":one": n("1")}})
				return err
			}},
			{"UpdateExpression", func(size int) error {
				_, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("Txt"), Key: key,
					UpdateExpression: padTo("SET b = :v", size), ExpressionAttributeValues: av{":v": n("1")}})
				return err
			}},
			{"ConditionExpression", func(size int) error {
				_, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("Txt"), Key: key, UpdateExpression: aws.String("SET c = :v"),
					ConditionExpression: padTo("attribute_exists(a)", size), ExpressionAttributeValues: av{":v": n("1")}})
				return err
			}},
			{"ConditionExpression", func(size int) error {
				_, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Txt"), Key: key, ConditionExpression: padTo("a = :zero", size),
					ExpressionAttributeValues: av{":zero": n("0")}})
				if code(err) == "ConditionalCheckFailedException" {
					return nil // accepted, evaluated, and false: the item stays
				}
				return err
			}},
			{"ConditionExpression", func(size int) error {
				_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
					{ConditionCheck: &types.ConditionCheck{TableName: aws.String("Txt"), Key: key, ConditionExpression: padTo("attribute_exists(a)", size)}},
					{Put: &types.Put{TableName: aws.String("Txt"), Item: av{"pk": s("other")}}},
				}})
				return err
			}},
			{"FilterExpression", func(size int) error {
				_, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("Txt"), FilterExpression: padTo("a = :one", size), ExpressionAttributeValues: av{":one": n("1")}})
				return err
			}},
			{"KeyConditionExpression", func(size int) error {
				_, err := c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("Txt"), KeyConditionExpression: padTo("pk = :p", size), ExpressionAttributeValues: av{":p": s("p")}})
				return err
			}},
			{"FilterExpression", func(size int) error {
				_, err := c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("Txt"), KeyConditionExpression: aws.String("pk = :p"),
					FilterExpression: padTo("a = :one", size), ExpressionAttributeValues: av{":p": s("p"), ":one": n("1")}})
				return err
			}},
			{"ProjectionExpression", func(size int) error {
				_, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Txt"), Key: key, ProjectionExpression: aws.String(strings.Repeat("x", size))})
				return err
			}},
			{"ProjectionExpression", func(size int) error {
				_, err := c.BatchGetItem(ctx, &awsddb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
					"Txt": {Keys: []map[string]types.AttributeValue{key}, ProjectionExpression: padTo("a", size)}}})
				return err
			}},
			{"ProjectionExpression", func(size int) error {
				_, err := c.TransactGetItems(ctx, &awsddb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
					{Get: &types.Get{TableName: aws.String("Txt"), Key: key, ProjectionExpression: padTo("a", size)}}}})
				return err
			}},
		}
		for i, call := range calls {
			t.Run(fmt.Sprintf("%d %s", i, call.label), func(t *testing.T) {
				if err := call.call(4096); err != nil {
					t.Errorf("a 4096-byte %s: %v, want it accepted", call.label, err)
				}
				for _, size := range []int{4097, 500 * 1024} {
					code, msg := apiMessage(call.call(size))
					want := fmt.Sprintf("Invalid %s: Expression size has exceeded the maximum allowed size; expression size: %d", call.label, size)
					if code != "ValidationException" || msg != want {
						t.Errorf("a %d-byte %s: %s %q, want ValidationException %q", size, call.label, code, msg, want)
					}
				}
			})
		}
		// The accepted calls changed only b and c (the 4096-byte update and
		// conditional update); the refused ones, nothing.
		out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Txt"), Key: key})
		if err != nil || renderItem(out.Item) != `{a=N:1 b=N:1 c=N:1 pk=S:"p"}` || count(t, c, "Txt") != 2 {
			t.Errorf("after the calls: %s (%d items), %v; want a=1 b=1 c=1 and the transaction's other item", renderItem(out.Item), count(t, c, "Txt"), err)
		}
	})
}

func TestExpressionAttributePlaceholdersAreAtMost255Bytes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		simpleTable(t, c, "Txt")
		for _, tt := range []struct {
			name, value string
			ok          bool
		}{
			{"#" + strings.Repeat("n", 254), ":" + strings.Repeat("v", 254), true},
			{"#" + strings.Repeat("n", 255), ":v", false},
			{"#n", ":" + strings.Repeat("v", 255), false},
		} {
			_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Txt"), Item: av{"pk": s("p")},
				ConditionExpression:      aws.String("attribute_not_exists(" + tt.name + ") OR " + tt.name + " <> " + tt.value),
				ExpressionAttributeNames: map[string]string{tt.name: "a"}, ExpressionAttributeValues: av{tt.value: n("1")}})
			code, msg := apiMessage(err)
			switch {
			case tt.ok && err != nil:
				t.Errorf("placeholders of %d and %d bytes: %v, want them accepted", len(tt.name), len(tt.value), err)
			case !tt.ok && (code != "ValidationException" || !strings.Contains(msg, "255")):
				t.Errorf("placeholders of %d and %d bytes: %s %q, want ValidationException naming the limit", len(tt.name), len(tt.value), code, msg)
			}
		}
		t.Run("a name placeholder must be # and word characters", func(t *testing.T) {
			_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Txt"), Item: av{"pk": s("q")},
				ConditionExpression: aws.String("attribute_not_exists(#a)"), ExpressionAttributeNames: map[string]string{"#a": "a", "#b-c": "b"}})
			if code, msg := apiMessage(err); code != "ValidationException" || msg != `ExpressionAttributeNames contains invalid key: Syntax error; key: "#b-c"` {
				t.Errorf("got %s %q", code, msg)
			}
		})
		if n := count(t, c, "Txt"); n != 1 {
			t.Errorf("the table holds %d items, want the one accepted put", n)
		}
	})
}

func TestExpressionAttributesAreAtMost2MBInAll(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		simpleTable(t, c, "Txt")
		// The sum counts each placeholder and what it stands for: here
		// "#n" + "a" + ":a" + ":b" + the two strings.
		const limit = 2 << 20
		fixed := len("#n") + len("a") + len(":a") + len(":b")
		for _, tt := range []struct {
			total int
			ok    bool
		}{{limit, true}, {limit + 1, false}} {
			half := (tt.total - fixed) / 2
			rest := tt.total - fixed - half
			_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Txt"), Item: av{"pk": s(fmt.Sprint(tt.total))},
				ConditionExpression:       aws.String("attribute_not_exists(#n) OR #n = :a OR #n = :b"),
				ExpressionAttributeNames:  map[string]string{"#n": "a"},
				ExpressionAttributeValues: av{":a": s(strings.Repeat("x", half)), ":b": s(strings.Repeat("y", rest))}})
			code, msg := apiMessage(err)
			if tt.ok != (err == nil) || (!tt.ok && (code != "ValidationException" || !strings.Contains(msg, "2 MB"))) {
				t.Errorf("%d bytes of substitutions: %s %q, want accepted %v", tt.total, code, msg, tt.ok)
			}
		}
		if n := count(t, c, "Txt"); n != 1 {
			t.Errorf("the table holds %d items, want the one accepted put", n)
		}
	})
}

func TestAnUpdateTooLargeSaysSoAsAWSDoes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		simpleTable(t, c, "Txt")
		if err := put(c, "Txt", av{"pk": s("A"), "a": s(strings.Repeat("x", 300*1024))}); err != nil {
			t.Fatal(err)
		}
		_, err := c.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: aws.String("Txt"), Key: av{"pk": s("A")},
			UpdateExpression: aws.String("SET b = :b"), ExpressionAttributeValues: av{":b": s(strings.Repeat("y", 200*1024))}})
		if code, msg := apiMessage(err); code != "ValidationException" || msg != "Item size to update has exceeded the maximum allowed size" {
			t.Errorf("got %s %q", code, msg)
		}
		out, _ := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Txt"), Key: av{"pk": s("A")}})
		if out.Item["b"] != nil {
			t.Error("the refused update was applied")
		}
	})
}

const (
	msgHashKeyTooLong  = "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
	msgRangeKeyTooLong = "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
)

// keysTable has a string partition key pk, a binary sort key sk, a GSI on
// string gh and string gr, and an LSI on binary lr.
func keysTable(t *testing.T, c *awsddb.Client) {
	t.Helper()
	str, bin := types.ScalarAttributeTypeS, types.ScalarAttributeTypeB
	def := func(name string, typ types.ScalarAttributeType) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: typ}
	}
	ks := func(hash, rng string) []types.KeySchemaElement {
		return []types.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(rng), KeyType: types.KeyTypeRange}}
	}
	_, err := c.CreateTable(ctx, &awsddb.CreateTableInput{
		TableName:              aws.String("Keys"),
		BillingMode:            types.BillingModePayPerRequest,
		AttributeDefinitions:   []types.AttributeDefinition{def("pk", str), def("sk", bin), def("gh", str), def("gr", str), def("lr", bin)},
		KeySchema:              ks("pk", "sk"),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("ByGh"), KeySchema: ks("gh", "gr"), Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}},
		LocalSecondaryIndexes:  []types.LocalSecondaryIndex{{IndexName: aws.String("ByLr"), KeySchema: ks("pk", "lr"), Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKeySizeLimitsHoldOnEveryWritePath(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *engine.Engine) {
		c := newClient(t, e)
		keysTable(t, c)
		// Lengths are bytes, not characters: é is two.
		long := func(n int) string { return strings.Repeat("é", n/2) + strings.Repeat("a", n%2) }
		bytesOf := func(n int) []byte { return []byte(strings.Repeat("b", n)) }
		type attrs = map[string]types.AttributeValue
		base := func() attrs { return attrs{"pk": s("p"), "sk": b([]byte("s"))} }
		with := func(k string, v types.AttributeValue) attrs { a := base(); a[k] = v; return a }

		// Each case is an item (or a key) with one attribute at a size,
		// the limit it meets, and the message past it. An item goes into
		// an index only with all of the index's key attributes, and only
		// then is it held to the index's key limits.
		cases := []struct {
			name   string
			at     func(n int) attrs
			limit  int
			msg    string
			keyAtt bool // a key attribute of the table: also a Key parameter
		}{
			{"the partition key", func(n int) attrs { return with("pk", s(long(n))) }, 2048, msgHashKeyTooLong, true},
			{"the sort key", func(n int) attrs { return with("sk", b(bytesOf(n))) }, 1024, msgRangeKeyTooLong, true},
			{"a GSI partition key", func(n int) attrs { a := with("gh", s(long(n))); a["gr"] = s("r"); return a }, 2048, msgHashKeyTooLong, false},
			{"a GSI sort key", func(n int) attrs { a := with("gr", s(long(n))); a["gh"] = s("g"); return a }, 1024, msgRangeKeyTooLong, false},
			{"an LSI sort key", func(n int) attrs { return with("lr", b(bytesOf(n))) }, 1024, msgRangeKeyTooLong, false},
		}
		paths := []struct {
			name string
			keys bool // the path takes a Key, so only key attributes apply
			do   func(it attrs) error
		}{
			{"PutItem", false, func(it attrs) error {
				_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Keys"), Item: it})
				return err
			}},
			{"BatchWriteItem put", false, func(it attrs) error {
				_, err := c.BatchWriteItem(ctx, &awsddb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"Keys": {
					{PutRequest: &types.PutRequest{Item: attrs{"pk": s("other"), "sk": b([]byte("s"))}}},
					{PutRequest: &types.PutRequest{Item: it}}}}})
				return err
			}},
			{"TransactWriteItems put", false, func(it attrs) error {
				_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
					{Put: &types.Put{TableName: aws.String("Keys"), Item: attrs{"pk": s("other"), "sk": b([]byte("s"))}}},
					{Put: &types.Put{TableName: aws.String("Keys"), Item: it}}}})
				return err
			}},
			{"UpdateItem setting the attributes", false, func(it attrs) error {
				key := attrs{"pk": it["pk"], "sk": it["sk"]}
				set, vals := []string{}, attrs{}
				for k, v := range it {
					if k != "pk" && k != "sk" {
						set = append(set, k+" = :"+k)
						vals[":"+k] = v
					}
				}
				in := &awsddb.UpdateItemInput{TableName: aws.String("Keys"), Key: key}
				if len(set) > 0 {
					in.UpdateExpression, in.ExpressionAttributeValues = aws.String("SET "+strings.Join(set, ", ")), vals
				}
				_, err := c.UpdateItem(ctx, in)
				return err
			}},
			{"TransactWriteItems update", false, func(it attrs) error {
				key := attrs{"pk": it["pk"], "sk": it["sk"]}
				set, vals := []string{"z = :z"}, attrs{":z": n("1")}
				for k, v := range it {
					if k != "pk" && k != "sk" {
						set = append(set, k+" = :"+k)
						vals[":"+k] = v
					}
				}
				_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
					{Update: &types.Update{TableName: aws.String("Keys"), Key: key, UpdateExpression: aws.String("SET " + strings.Join(set, ", ")), ExpressionAttributeValues: vals}}}})
				return err
			}},
			{"DeleteItem", true, func(it attrs) error {
				_, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Keys"), Key: it})
				return err
			}},
			{"BatchWriteItem delete", true, func(it attrs) error {
				_, err := c.BatchWriteItem(ctx, &awsddb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"Keys": {{DeleteRequest: &types.DeleteRequest{Key: it}}}}})
				return err
			}},
			{"TransactWriteItems delete", true, func(it attrs) error {
				_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Delete: &types.Delete{TableName: aws.String("Keys"), Key: it}}}})
				return err
			}},
			{"TransactWriteItems condition check", true, func(it attrs) error {
				_, err := c.TransactWriteItems(ctx, &awsddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
					{ConditionCheck: &types.ConditionCheck{TableName: aws.String("Keys"), Key: it, ConditionExpression: aws.String("attribute_not_exists(pk)")}}}})
				return err
			}},
			{"GetItem", true, func(it attrs) error {
				_, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Keys"), Key: it})
				return err
			}},
		}
		for _, k := range cases {
			for _, p := range paths {
				if p.keys && !k.keyAtt {
					continue
				}
				t.Run(k.name+" through "+p.name, func(t *testing.T) {
					if err := p.do(k.at(k.limit)); err != nil {
						t.Errorf("at %d bytes: %v, want it accepted", k.limit, err)
					}
					before := dump(t, e)
					code, msg := apiMessage(p.do(k.at(k.limit + 1)))
					if code != "ValidationException" || msg != k.msg {
						t.Errorf("at %d bytes: %s %q, want ValidationException %q", k.limit+1, code, msg, k.msg)
					}
					if after := dump(t, e); strings.Join(after, "\n") != strings.Join(before, "\n") {
						t.Errorf("the refusal changed the table:\nbefore %s\n after %s", before, after)
					}
				})
			}
		}
	})
}

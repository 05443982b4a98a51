package awsproto_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// textCases are JSON documents whose strings are, or are not, Unicode
// text. Each is valid JSON syntax (encoding/json accepts every one, and
// decodes the bad ones to U+FFFD).
var textCases = []struct {
	name string
	doc  string
	ok   bool
}{
	{"an empty object", `{}`, true},
	{"ASCII", `{"a":"hello"}`, true},
	{"an emoji as UTF-8", `"😀"`, true},
	{"the last code point as UTF-8", "\"\U0010FFFF\"", true},
	{"a private-use character", "\"\uE000\"", true},
	{"U+FFFD itself as UTF-8", "\"\uFFFD\"", true},
	{"U+FFFD as an escape", `"\ufffd"`, true},
	{"a surrogate pair as escapes", `"\ud83d\ude00"`, true},
	{"a surrogate pair in capitals", `"\uD83D\uDE00"`, true},
	{"the last surrogate pair", `"\udbff\udfff"`, true},
	{"an escaped backslash before ud800", `"\\ud800"`, true},
	{"escapes of every kind", `"\"\\\/\b\f\n\r\t\u0041\u00e9"`, true},
	{"a pair after an escaped backslash", `"\\\ud83d\ude00"`, true},
	{"a key of several code points", `{"é😀":1}`, true},
	{"a number beyond float64", `{"n":1e400}`, true},

	{"a stray continuation byte", "\"\xff\"", false},
	{"an overlong encoding", "\"\xc0\xaf\"", false},
	{"a surrogate encoded as UTF-8 (CESU)", "\"\xed\xa0\x80\"", false},
	{"a truncated sequence", "\"\xe2\x82\"", false},
	{"a sequence beyond U+10FFFF", "\"\xf4\x90\x80\x80\"", false},
	{"invalid UTF-8 in a key", "{\"k\xff\":1}", false},
	{"a lone high surrogate", `"\ud800"`, false},
	{"a lone low surrogate", `"\udc00"`, false},
	{"a lone surrogate in capitals", `"\uDBFF"`, false},
	{"a high surrogate before a letter", `"\ud800\u0041"`, false},
	{"a high surrogate before text", `"\ud800x"`, false},
	{"a high surrogate before another escape", `"\ud800\n"`, false},
	{"two high surrogates", `"\ud800\ud800"`, false},
	{"a pair reversed", `"\udc00\ud800"`, false},
	{"a pair then a lone low surrogate", `"\ud83d\ude00\udc00"`, false},
	{"an escaped backslash then a lone surrogate", `"\\\ud800"`, false},
	{"a lone surrogate in a key", `{"\udfff":1}`, false},
	{"a lone surrogate deep inside", `{"a":[1,{"b":["x","\ud800"]}]}`, false},
	{"a lone surrogate after a number beyond float64", `[1e400,"\ud800"]`, false},
	{"a lone surrogate after an escaped backslash run", `"\\\\\ud800"`, false},
	{"a pair after an escaped backslash run", `"\\\\\ud83d\ude00"`, true},
}

func TestValidTextAcceptsUnicodeAndRefusesWhatDecodesToFFFD(t *testing.T) {
	t.Parallel()
	for _, c := range textCases {
		t.Run(c.name, func(t *testing.T) {
			if !json.Valid([]byte(c.doc)) {
				t.Fatalf("%q is not JSON: the case tests nothing", c.doc)
			}
			if got := awsproto.ValidText([]byte(c.doc)); got != c.ok {
				t.Errorf("ValidText(%q) = %v, want %v", c.doc, got, c.ok)
			}
			bad, err := awsproto.InvalidStrings([]byte(c.doc))
			if err != nil {
				t.Fatalf("InvalidStrings(%q): %v", c.doc, err)
			}
			if got := len(bad) == 0; got != c.ok {
				t.Errorf("InvalidStrings(%q) = %q, want it empty: %v", c.doc, bad, c.ok)
			}
		})
	}
}

func TestInvalidStringsNamesEveryBadStringByItsPath(t *testing.T) {
	t.Parallel()
	doc := "{\"a\":\"ok\",\"b\":\"\xff\",\"c\":[\"x\",\"\\ud800\",{\"d\":\"\\udc00\",\"e\":[[],{}]}],\"k\xff\":1,\"f\":{\"g\":\"\\ud83d\\ude00\",\"h\":[true,null,2,\"\\udbff\"]}}"
	got, err := awsproto.InvalidStrings([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"b"}, {"c", "1"}, {"c", "2", "d"}, {"k\uFFFD"}, {"f", "h", "3"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("InvalidStrings = %q, want %q", got, want)
	}

	t.Run("a bad top-level string has the empty path", func(t *testing.T) {
		got, err := awsproto.InvalidStrings([]byte(`"\ud800"`))
		if err != nil || len(got) != 1 || len(got[0]) != 0 {
			t.Errorf("got %q, %v; want one empty path", got, err)
		}
	})
	t.Run("a batch's entries are told apart", func(t *testing.T) {
		doc := "{\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"ok\"},{\"Id\":\"b\",\"MessageBody\":\"\\udc00\"},{\"Id\":\"c\",\"MessageBody\":\"\xc3\"}]}"
		got, err := awsproto.InvalidStrings([]byte(doc))
		want := [][]string{{"Entries", "1", "MessageBody"}, {"Entries", "2", "MessageBody"}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %q, %v; want %q", got, err, want)
		}
	})
}

func TestInvalidStringsRefusesWhatIsNotOneJSONValue(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{``, `{"a":`, `{}{}`, `{} x`, `[1,]`, `{"a" 1}`, "\"\xff"} {
		if _, err := awsproto.InvalidStrings([]byte(doc)); !errors.Is(err, awsproto.ErrNotJSON) {
			t.Errorf("InvalidStrings(%q) error = %v, want ErrNotJSON", doc, err)
		}
	}
}

// FuzzValidText checks ValidText against InvalidStrings on any JSON
// document: one reads the body whole, the other string by string, and
// they must agree. text_oracle_test.go judges both against the standard
// library's strict decoder when built with GOEXPERIMENT=jsonv2.
func FuzzValidText(f *testing.F) {
	for _, c := range textCases {
		f.Add([]byte(c.doc))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		bad, err := awsproto.InvalidStrings(b)
		if err != nil {
			t.Fatalf("InvalidStrings(%q) on valid JSON: %v", b, err)
		}
		if got, want := awsproto.ValidText(b), len(bad) == 0; got != want {
			t.Fatalf("ValidText(%q) = %v but InvalidStrings found %q", b, got, bad)
		}
	})
}

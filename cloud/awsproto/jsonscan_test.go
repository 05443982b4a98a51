package awsproto

import (
	"encoding/json"
	"testing"
)

// The scanner takes a string exactly when encoding/json decodes it to the
// same text, and refuses the rest (surrogate escapes, which encoding/json
// would replace, included), whether its strings are cut or copied.
func TestTheJSONScannerReadsStringsAsEncodingJSONDoes(t *testing.T) {
	for _, in := range []string{
		`""`, `"plain"`, `"é ü 日本"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\u65e5"`, `"tab\there"`,
		`"\ud83d\ude00"`, `"\ud800"`, "\"bad \xff byte\"", "\"ctl \x01\"", `"\x"`, `"unterminated`, `"\u12"`, `"\u12G4"`,
	} {
		var want string
		werr := json.Unmarshal([]byte(in), &want)
		for _, shared := range []bool{false, true} {
			s := NewJSONScanner([]byte(in), shared)
			got := s.Str()
			ok := s.End()
			switch {
			case ok && werr != nil:
				t.Errorf("%q (shared %v): took %q, encoding/json refuses it: %v", in, shared, got, werr)
			case ok && got != want:
				t.Errorf("%q (shared %v): %q, encoding/json %q", in, shared, got, want)
			}
		}
	}
	// What it must take.
	for _, in := range []string{`"plain"`, `"é"`, `"a\nb"`, `"\u00e9"`} {
		s := NewJSONScanner([]byte(in), true)
		if s.Str(); !s.End() {
			t.Errorf("%q: refused", in)
		}
	}
	// What it must refuse.
	for _, in := range []string{`"\ud83d\ude00"`, "\"\xff\"", "\"\x01\"", `"\x"`, `"open`} {
		s := NewJSONScanner([]byte(in), false)
		if s.Str(); s.End() {
			t.Errorf("%q: taken", in)
		}
	}
}

func TestTheJSONScannerRefusesAMemberNamedTwice(t *testing.T) {
	for in, want := range map[string]bool{
		`{"A":"x","B":"y"}`:  true,
		`{"A":"x","A":"y"}`:  false,
		`{}`:                 true,
		`{"A":"x",}`:         false,
		`{"A":"x"} trailing`: false,
	} {
		s := NewJSONScanner([]byte(in), false)
		s.Object(func(name []byte) bool { s.Str(); return true })
		if got := s.End(); got != want {
			t.Errorf("%s: read whole %v, want %v", in, got, want)
		}
	}
}

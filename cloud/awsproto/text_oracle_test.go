//go:build goexperiment.jsonv2

package awsproto_test

import (
	"bytes"
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"testing"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// FuzzValidTextAgreesWithJSONv2 judges ValidText by the standard library's
// strict decoder (encoding/json/jsontext, behind GOEXPERIMENT=jsonv2 in
// this Go), which refuses invalid UTF-8 and unpaired surrogates by
// default: on any document encoding/json accepts, the two must agree.
//
//	GOEXPERIMENT=jsonv2 go test -run 'FuzzValidTextAgreesWithJSONv2' ./cloud/awsproto/
func FuzzValidTextAgreesWithJSONv2(f *testing.F) {
	for _, c := range textCases {
		f.Add([]byte(c.doc))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		dec := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true))
		_, err := dec.ReadValue()
		if got, want := awsproto.ValidText(b), err == nil; got != want {
			t.Fatalf("ValidText(%q) = %v; jsontext says %v", b, got, err)
		}
	})
}

// BenchmarkJSONv2 measures the alternative to ValidText: the standard
// library's strict decoder (GOEXPERIMENT=jsonv2 in this Go), validating the
// same bodies (jsontext) or decoding them (json/v2) with its default
// refusal of invalid UTF-8 and unpaired surrogates.
//
//	GOEXPERIMENT=jsonv2 go test -run '^$' -bench 'JSONv2' -count 5 ./cloud/awsproto/
func BenchmarkJSONv2(b *testing.B) {
	for _, c := range benchBodies {
		b.Run(c.name+"/jsontext", func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				dec := jsontext.NewDecoder(bytes.NewReader(c.body), jsontext.AllowDuplicateNames(true))
				if _, err := dec.ReadValue(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/json_v2_decode", func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := jsonv2.Unmarshal(c.body, c.into(), jsonv2.MatchCaseInsensitiveNames(true), jsontext.AllowDuplicateNames(true)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

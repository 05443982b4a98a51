//go:build goexperiment.jsonv2

package awsproto_test

import (
	"bytes"
	"encoding/json"
	"encoding/json/jsontext"
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

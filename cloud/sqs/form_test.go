package sqs

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

var structQueries = []string{
	"",
	"E.1.Id=a&E.1.MessageBody=x&E.2.Id=b",
	"E.2.Id=b&E.10.Id=j&E.1.Id=a&E.1.MessageAttribute.1.Name=n&E.1.MessageAttribute.1.Value.StringValue=v",
	"E.1=alone&E.2.Id=b",
	"E.01.Id=zero&E.+1.Id=plus&E.-1.Id=minus&E.0.Id=naught&E.1.Id=one",
	"E.1.=empty-member&E..Id=no-index&E.x.Id=word&EE.1.Id=other&E.99999999999999999999.Id=huge",
	"E.3.Id=c&E.3.Id=again&Other=1&E=bare&E.=dot",
}

func TestFormStructsReadsWhatStructsReads(t *testing.T) {
	for _, q := range structQueries {
		v, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		f := awsproto.Form(v)
		if got, want := formStructs(f, "E"), f.Structs("E"); !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\ngot  %v\nwant %v", q, got, want)
		}
	}
}

// FuzzFormStructs compares formStructs with awsproto.Form.Structs on
// arbitrary forms.
func FuzzFormStructs(f *testing.F) {
	for _, q := range structQueries {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		form := awsproto.Form(v)
		if got, want := formStructs(form, "E"), form.Structs("E"); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\ngot  %v\nwant %v", q, got, want)
		}
	})
}

package awsproto_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

func TestParseFormReadsWhatNetHTTPReads(t *testing.T) {
	for _, tc := range []struct{ name, method, target, contentType, body string }{
		{"a form body", "POST", "/", "application/x-www-form-urlencoded", "Action=SendMessage&MessageBody=a%26b&A.1=x&A.1=y"},
		{"a form body and a query", "POST", "/?Action=Other&Q=1", "application/x-www-form-urlencoded", "Action=SendMessage&B=2"},
		{"a query alone", "GET", "/?Action=ListQueues", "", ""},
		{"an empty body", "POST", "/", "application/x-www-form-urlencoded", ""},
		{"a body that is not a form", "POST", "/", "application/json", `{"Action":"x"}`},
		{"a malformed form", "POST", "/", "application/x-www-form-urlencoded", "Action=%zz&B=1"},
		{"a malformed content type", "POST", "/", "application/x-www-form-urlencoded; =", "Action=x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := func() *http.Request {
				r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
				if tc.contentType != "" {
					r.Header.Set("Content-Type", tc.contentType)
				}
				return r
			}
			got, want := req(), req()
			gotErr, wantErr := awsproto.ParseForm(got), want.ParseForm()
			if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
				t.Errorf("error %v, want %v", gotErr, wantErr)
			}
			if !reflect.DeepEqual(got.Form, want.Form) || !reflect.DeepEqual(got.PostForm, want.PostForm) {
				t.Errorf("Form %v PostForm %v, want %v and %v", got.Form, got.PostForm, want.Form, want.PostForm)
			}
		})
	}
}

func TestParseFormRefusesWhatNetHTTPRefusesAsTooLarge(t *testing.T) {
	body := "A=" + strings.Repeat("x", 10<<20)
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := awsproto.ParseForm(r); err == nil || err.Error() != "http: POST too large" {
		t.Errorf("got %v, want http: POST too large", err)
	}
}

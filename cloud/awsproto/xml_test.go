package awsproto_test

import (
	"encoding/xml"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// xmlTexts are strings whose escaping AppendXMLText must write exactly as
// encoding/xml does.
var xmlTexts = []string{
	"", "plain", "0f0e1c2d-3b4a-4c5d-8e9f-a0b1c2d3e4f5", `"quoted" & 'single' <tag> >`,
	"tab\there, newline\nhere, return\rhere", "café ünïcödé 日本語 🎉",
	"\x00\x01\x1f control", "\x7f del", "bad utf-8 \xff\xfe and \xc3", "\uFFFD replacement, \uFFFE, \uFFFF",
	"\xed\xa0\x80 surrogate bytes", "\U0010FFFF top", "ends with &", "<", strings.Repeat("a&b", 100),
}

func TestAppendXMLTextEscapesAsEncodingXMLDoes(t *testing.T) {
	for _, s := range xmlTexts {
		checkXMLText(t, s)
	}
}

func FuzzAppendXMLTextEscapesAsEncodingXMLDoes(f *testing.F) {
	for _, s := range xmlTexts {
		f.Add(s)
	}
	f.Fuzz(checkXMLText)
}

func checkXMLText(t *testing.T, s string) {
	t.Helper()
	// Character data and an attribute value, as Marshal writes them.
	want, err := xml.Marshal(struct {
		XMLName xml.Name `xml:"E"`
		A       string   `xml:"a,attr"`
		Text    string   `xml:",chardata"`
	}{A: s, Text: s})
	if err != nil {
		t.Fatal(err)
	}
	got := string(awsproto.AppendXMLText([]byte(`<E a="`), s)) + `">` + string(awsproto.AppendXMLText(nil, s)) + "</E>"
	if got != string(want) {
		t.Fatalf("AppendXMLText(%q): got %s, encoding/xml writes %s", s, got, want)
	}
	el, err := xml.Marshal(struct {
		XMLName xml.Name `xml:"E"`
		V       string
	}{V: s})
	if err != nil {
		t.Fatal(err)
	}
	if got := "<E>" + string(awsproto.AppendXMLElement(nil, "V", s)) + "</E>"; got != string(el) {
		t.Fatalf("AppendXMLElement(V, %q): got %s, encoding/xml writes %s", s, got, el)
	}
}

// appender writes its document by hand, or declines.
type appender struct {
	XMLName xml.Name `xml:"DoResponse"`
	V       string
	decline bool
}

func (a appender) AppendXML(b []byte) ([]byte, bool) {
	if a.decline {
		return b, false
	}
	b = append(b, "<DoResponse>"...)
	b = awsproto.AppendXMLElement(b, "V", a.V)
	return append(b, "</DoResponse>"...), true
}

func TestWriteXMLWritesAnAppenderAsEncodingXMLWould(t *testing.T) {
	for _, decline := range []bool{false, true} {
		doc := appender{V: `a "value" & <more>`, decline: decline}
		rec := httptest.NewRecorder()
		awsproto.WriteXML(rec, doc)
		want, _ := xml.Marshal(doc)
		if got := rec.Body.String(); got != xml.Header+string(want) {
			t.Errorf("decline=%v: body %q, want %q", decline, got, xml.Header+string(want))
		}
		if got := rec.Header().Get("Content-Type"); got != "text/xml" || rec.Code != 200 {
			t.Errorf("decline=%v: status %d, Content-Type %q; want 200, text/xml", decline, rec.Code, got)
		}
	}
}

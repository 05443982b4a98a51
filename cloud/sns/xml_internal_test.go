package sns

import (
	"encoding/xml"
	"fmt"
	"testing"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// publishShapes are Publish and PublishBatch responses, usual and odd, that
// AppendXML must write exactly as encoding/xml does.
func publishShapes(s string) []queryResponse {
	resp := func(action string, result any) queryResponse {
		return queryResponse{XMLName: xml.Name{Local: action + "Response"}, Xmlns: XMLNamespace, RequestID: "0f0e1c2d-3b4a-4c5d-8e9f-a0b1c2d3e4f5" + s, Result: result}
	}
	var shapes []queryResponse
	for _, seq := range []string{"", "10000000000000000001", s} {
		shapes = append(shapes, resp("Publish", &publishResult{MessageId: "5c1b4d1e-b1c5-4e5b-9a3e-3f7c1c1e1e1e" + s, SequenceNumber: seq}))
	}
	for _, okN := range []int{0, 1, 10} {
		for _, failedN := range []int{0, 1, 3} {
			r := &publishBatchResult{Successful: []publishBatchOK{}, Failed: []publishBatchFailed{}}
			for i := range okN {
				seq := ""
				if i%2 == 1 {
					seq = fmt.Sprint(uint64(10000000000000000000) + uint64(i))
				}
				r.Successful = append(r.Successful, publishBatchOK{Id: fmt.Sprintf("m%d%s", i, s), MessageId: "id-" + s, SequenceNumber: seq})
			}
			for i := range failedN {
				r.Failed = append(r.Failed, publishBatchFailed{Id: fmt.Sprint("f", i), Code: "InvalidParameter" + s, Message: "Invalid parameter: Message " + s, SenderFault: i%2 == 0})
			}
			shapes = append(shapes, resp("PublishBatch", r))
		}
	}
	shapes = append(shapes, resp("PublishBatch", &publishBatchResult{})) // nil lists
	return shapes
}

var xmlStrings = []string{"", "plain", `"quoted" & 'single' <tag>`, "tab\tnewline\nreturn\r", "café 🎉", "bad \xff utf-8", "\x00 control"}

func TestPublishResponsesAreWrittenAsEncodingXMLWritesThem(t *testing.T) {
	for _, s := range xmlStrings {
		for _, doc := range publishShapes(s) {
			checkAppendXML(t, doc)
		}
	}
}

func FuzzPublishResponsesAreWrittenAsEncodingXMLWritesThem(f *testing.F) {
	for _, s := range xmlStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, doc := range publishShapes(s) {
			checkAppendXML(t, doc)
		}
	})
}

func checkAppendXML(t *testing.T, doc queryResponse) {
	t.Helper()
	want, err := xml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := doc.AppendXML(nil)
	if !ok {
		t.Fatalf("AppendXML declined %+v", doc)
	}
	if string(got) != string(want) {
		t.Fatalf("AppendXML wrote\n%s\nencoding/xml writes\n%s", got, want)
	}
}

func TestAResponseWhoseResultCannotWriteItselfIsLeftToEncodingXML(t *testing.T) {
	for _, result := range []any{nil, emptyResult("TagResourceResult")} {
		doc := queryResponse{XMLName: xml.Name{Local: "TagResourceResponse"}, Xmlns: XMLNamespace, RequestID: "r", Result: result}
		if _, ok := doc.AppendXML(nil); ok {
			t.Errorf("AppendXML wrote a response with a %T result", result)
		}
	}
	var _ awsproto.XMLAppender = (*publishResult)(nil)
	var _ awsproto.XMLAppender = (*publishBatchResult)(nil)
}

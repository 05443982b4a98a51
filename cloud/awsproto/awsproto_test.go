package awsproto_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

func TestJSONErrorsCarryTheShapeAndTheQueryCode(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	err := awsproto.Errorf(400, "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.").WithType("QueueDoesNotExist")
	awsproto.JSONProtocol{Namespace: "com.amazonaws.sqs", QueryCompatible: true}.WriteError(rec, err)
	if rec.Code != 400 {
		t.Errorf("status = %d", rec.Code)
	}
	if got := rec.Header().Get("X-Amzn-Query-Error"); got != "AWS.SimpleQueueService.NonExistentQueue;Sender" {
		t.Errorf("x-amzn-query-error = %q", got)
	}
	var body map[string]string
	json.Unmarshal(rec.Body.Bytes(), &body)
	if body["__type"] != "com.amazonaws.sqs#QueueDoesNotExist" || body["message"] != "The specified queue does not exist." {
		t.Errorf("body = %v", body)
	}
}

func TestAnUnexpectedErrorIsAnInternalFailure(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	awsproto.JSONProtocol{}.WriteError(rec, errors.New("disk on fire"))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"__type":"InternalFailure"`) {
		t.Errorf("got %d %s", rec.Code, rec.Body.String())
	}
}

func TestQueryErrorsAreAWSXML(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	awsproto.WriteQueryError(rec, awsproto.Errorf(http.StatusNotFound, "NotFound", "Topic does not exist"), "http://sns.amazonaws.com/doc/2010-03-31/", "req-1")
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message><Detail></Detail></Error><RequestId>req-1</RequestId></ErrorResponse>`
	if rec.Code != 404 || rec.Body.String() != want {
		t.Errorf("got %d\n%s\nwant\n%s", rec.Code, rec.Body.String(), want)
	}
}

func TestRequestIDsAreUUIDs(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := awsproto.NewRequestID(), awsproto.NewRequestID()
	if !re.MatchString(a) || a == b {
		t.Errorf("request ids %q, %q", a, b)
	}
}

func TestFormDecodesFlattenedListsAndMaps(t *testing.T) {
	t.Parallel()
	v, _ := url.ParseQuery("AttributeName.2=B&AttributeName.1=A&AttributeName.10=J" +
		"&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=30&Attribute.2.Name=DelaySeconds&Attribute.2.Value=5" +
		"&Entry.1.Id=a&Entry.1.MessageBody=x&Entry.2.Id=b")
	f := awsproto.Form(v)
	if got := f.Strings("AttributeName"); !reflect.DeepEqual(got, []string{"A", "B", "J"}) {
		t.Errorf("Strings = %v", got)
	}
	m, err := f.Map("Attribute", "Name", "Value")
	if err != nil || !reflect.DeepEqual(m, map[string]string{"VisibilityTimeout": "30", "DelaySeconds": "5"}) {
		t.Errorf("Map = %v, %v", m, err)
	}
	entries := f.Structs("Entry")
	if len(entries) != 2 || entries[0].Get("Id") != "a" || entries[0].Get("MessageBody") != "x" || entries[1].Get("Id") != "b" {
		t.Errorf("Structs = %v", entries)
	}
	dup, _ := url.ParseQuery("Attribute.1.Name=A&Attribute.1.Value=1&Attribute.2.Name=A&Attribute.2.Value=2")
	if _, err := awsproto.Form(dup).Map("Attribute", "Name", "Value"); err == nil {
		t.Errorf("a repeated map key was accepted")
	}
}

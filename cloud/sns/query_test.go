package sns_test

import (
	"encoding/pem"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/sns"
)

var requestIDs = regexp.MustCompile(`<RequestId>[0-9a-f-]{36}</RequestId>`)

// post sends a raw Query request and returns the status and the body with
// its request id replaced by REQ.
func post(t testing.TB, e *env, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(e.srv.URL+"/", form)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got := resp.Header.Get("Content-Type"); got != "text/xml" {
		t.Errorf("Content-Type = %q, want text/xml", got)
	}
	if id := resp.Header.Get("X-Amzn-RequestId"); !strings.Contains(string(body), "<RequestId>"+id+"</RequestId>") {
		t.Errorf("x-amzn-RequestId %q is not the body's RequestId: %s", id, body)
	}
	return resp.StatusCode, requestIDs.ReplaceAllString(string(body), "<RequestId>REQ</RequestId>")
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

func TestQueryResponsesAreAWSShapedXML(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := "arn:aws:sns:us-east-1:000000000000:orders"
		tests := []struct {
			name string
			form url.Values
			want string
		}{
			{"CreateTopic", url.Values{"Action": {"CreateTopic"}, "Name": {"orders"}, "Version": {"2010-03-31"},
				"Attributes.entry.1.key": {"DisplayName"}, "Attributes.entry.1.value": {"Orders & more"},
				"Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"a"}},
				`<CreateTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><CreateTopicResult><TopicArn>` + topic +
					`</TopicArn></CreateTopicResult><ResponseMetadata><RequestId>REQ</RequestId></ResponseMetadata></CreateTopicResponse>`},
			{"ListTopics", url.Values{"Action": {"ListTopics"}},
				`<ListTopicsResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ListTopicsResult><Topics><member><TopicArn>` + topic +
					`</TopicArn></member></Topics></ListTopicsResult><ResponseMetadata><RequestId>REQ</RequestId></ResponseMetadata></ListTopicsResponse>`},
			{"SetTopicAttributes has no result element", url.Values{"Action": {"SetTopicAttributes"}, "TopicArn": {topic},
				"AttributeName": {"SignatureVersion"}, "AttributeValue": {"2"}},
				`<SetTopicAttributesResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ResponseMetadata><RequestId>REQ</RequestId></ResponseMetadata></SetTopicAttributesResponse>`},
			{"ListTagsForResource", url.Values{"Action": {"ListTagsForResource"}, "ResourceArn": {topic}},
				`<ListTagsForResourceResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ListTagsForResourceResult><Tags><member><Key>team</Key><Value>a</Value></member></Tags></ListTagsForResourceResult><ResponseMetadata><RequestId>REQ</RequestId></ResponseMetadata></ListTagsForResourceResponse>`},
			{"TagResource has an empty result element", url.Values{"Action": {"TagResource"}, "ResourceArn": {topic}, "Tags.member.1.Key": {"b"}, "Tags.member.1.Value": {""}},
				`<TagResourceResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><TagResourceResult></TagResourceResult><ResponseMetadata><RequestId>REQ</RequestId></ResponseMetadata></TagResourceResponse>`},
			{"NotFound", url.Values{"Action": {"GetTopicAttributes"}, "TopicArn": {topic + "x"}},
				`<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message><Detail></Detail></Error><RequestId>REQ</RequestId></ErrorResponse>`},
			{"InvalidParameter", url.Values{"Action": {"Publish"}, "TopicArn": {topic}, "Message": {""}},
				`<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: Empty message</Message><Detail></Detail></Error><RequestId>REQ</RequestId></ErrorResponse>`},
			{"an unknown action", url.Values{"Action": {"CreatePlatformApplication"}},
				`<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>Could not find operation CreatePlatformApplication for version 2010-03-31</Message><Detail></Detail></Error><RequestId>REQ</RequestId></ErrorResponse>`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, got := post(t, e, tt.form)
				if got != xmlHeader+tt.want {
					t.Errorf("got\n%s\nwant\n%s", got, xmlHeader+tt.want)
				}
			})
		}
	})
}

func TestQueryStatusCodesFollowAWS(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		tests := []struct {
			form url.Values
			want int
		}{
			{url.Values{"Action": {"GetTopicAttributes"}, "TopicArn": {"arn:aws:sns:us-east-1:000000000000:nope"}}, 404},
			{url.Values{"Action": {"Publish"}, "TopicArn": {"arn:aws:sns:us-east-1:999999999999:t"}, "Message": {"m"}}, 403},
			{url.Values{"Action": {"CreateTopic"}, "Name": {"bad name"}}, 400},
			{url.Values{"Action": {"CreateTopic"}, "Name": {"t"}, "Attributes.entry.1.key": {"DisplayName"}, "Attributes.entry.1.value": {"a"},
				"Attributes.entry.2.key": {"DisplayName"}, "Attributes.entry.2.value": {"b"}}, 400},
			{url.Values{}, 400},
		}
		for _, tt := range tests {
			if got, body := post(t, e, tt.form); got != tt.want {
				t.Errorf("%v: status %d, want %d\n%s", tt.form, got, tt.want, body)
			}
		}
	})
}

func TestGetTopicAttributesIsAnEntryMap(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "t", nil)
		_, body := post(t, e, url.Values{"Action": {"GetTopicAttributes"}, "TopicArn": {topic}})
		var doc struct {
			Entries []struct {
				Key   string `xml:"key"`
				Value string `xml:"value"`
			} `xml:"GetTopicAttributesResult>Attributes>entry"`
		}
		if err := xml.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatalf("unmarshal: %v\n%s", err, body)
		}
		var keys []string
		for _, en := range doc.Entries {
			keys = append(keys, en.Key)
		}
		want := []string{"DisplayName", "EffectiveDeliveryPolicy", "Owner", "Policy", "SubscriptionsConfirmed", "SubscriptionsDeleted", "SubscriptionsPending", "TopicArn"}
		if !slices.Equal(keys, want) {
			t.Errorf("keys = %v, want %v", keys, want)
		}
	})
}

func TestPublishDecodesFlattenedMessageAttributes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "t", nil)
		e.subscribe(t, topic, "q", map[string]string{"RawMessageDelivery": "true"})
		status, body := post(t, e, url.Values{
			"Action": {"Publish"}, "TargetArn": {topic}, "Message": {"m"},
			"MessageAttributes.entry.1.Name": {"s"}, "MessageAttributes.entry.1.Value.DataType": {"String"}, "MessageAttributes.entry.1.Value.StringValue": {"v"},
			"MessageAttributes.entry.2.Name": {"b"}, "MessageAttributes.entry.2.Value.DataType": {"Binary"}, "MessageAttributes.entry.2.Value.BinaryValue": {"AAE="},
		})
		if status != 200 || !regexp.MustCompile(`<PublishResult><MessageId>[0-9a-f-]{36}</MessageId></PublishResult>`).MatchString(body) {
			t.Fatalf("Publish = %d %s", status, body)
		}
		d := e.queues.to(queueARN("q"))[0]
		if d.Attributes["s"].StringValue != "v" || string(d.Attributes["b"].BinaryValue) != "\x00\x01" {
			t.Errorf("attributes = %+v", d.Attributes)
		}
		status, body = post(t, e, url.Values{"Action": {"Publish"}, "TopicArn": {topic}, "Message": {"m"},
			"MessageAttributes.entry.1.Name": {"b"}, "MessageAttributes.entry.1.Value.DataType": {"Binary"}, "MessageAttributes.entry.1.Value.BinaryValue": {"!!"}})
		if status != 400 || !strings.Contains(body, "<Code>ParameterValueInvalid</Code>") {
			t.Errorf("bad base64: %d %s", status, body)
		}
	})
}

func TestTheServiceUsesAFormTheEdgeAlreadyParsed(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=CreateTopic&Name=edge"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		e.svc.ServeHTTP(rec, r)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), ":edge</TopicArn>") {
			t.Errorf("got %d %s", rec.Code, rec.Body.String())
		}
	})
}

func TestTheSigningCertificateIsServedAtItsPath(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		paths := e.svc.Paths()
		if len(paths) != 1 || !regexp.MustCompile(`^/SimpleNotificationService-[0-9a-f]{32}\.pem$`).MatchString(paths[0]) {
			t.Fatalf("Paths() = %v", paths)
		}
		if got, want := e.svc.SigningCertURL(), e.srv.URL+paths[0]; got != want {
			t.Errorf("SigningCertURL = %q, want %q", got, want)
		}
		resp, err := http.Get(e.srv.URL + paths[0])
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if block, _ := pem.Decode(body); resp.StatusCode != 200 || block == nil || block.Type != "CERTIFICATE" {
			t.Errorf("GET certificate = %d %q", resp.StatusCode, body)
		}
		if string(body) != string(testSigner(t).CertificatePEM()) {
			t.Error("served certificate is not the signer's")
		}
	})
}

func TestTheServiceDescribesItselfToTheEdge(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		if e.svc.Name() != "sns" || e.svc.TargetPrefix() != "" {
			t.Errorf("Name, TargetPrefix = %q, %q", e.svc.Name(), e.svc.TargetPrefix())
		}
		want := []string{"CreateTopic", "DeleteTopic", "GetSubscriptionAttributes", "GetTopicAttributes", "ListSubscriptions",
			"ListSubscriptionsByTopic", "ListTagsForResource", "ListTopics", "Publish", "PublishBatch", "SetSubscriptionAttributes",
			"SetTopicAttributes", "Subscribe", "TagResource", "Unsubscribe", "UntagResource"}
		if got := e.svc.Actions(); !slices.Equal(got, want) {
			t.Errorf("Actions() = %v, want %v", got, want)
		}
		for _, a := range e.svc.Actions() {
			status, body := post(t, e, url.Values{"Action": {a}})
			if strings.Contains(body, "InvalidAction") || status >= 500 {
				t.Errorf("%s is listed but not served: %d %s", a, status, body)
			}
		}
	})
}

// FuzzQuery sends arbitrary form bodies through ServeHTTP: it must never
// panic, never answer 5xx, and always answer well-formed XML.
// Run with: go test -fuzz=FuzzQuery -run='^$' ./cloud/sns
func FuzzQuery(f *testing.F) {
	seeds := []string{
		"Action=CreateTopic&Name=t&Attributes.entry.1.key=SignatureVersion&Attributes.entry.1.value=2&Tags.member.1.Key=k&Tags.member.1.Value=v",
		"Action=Subscribe&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At&Protocol=sqs&Endpoint=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Aq&Attributes.entry.1.key=FilterPolicy&Attributes.entry.1.value=%7B%22a%22%3A%5B%22b%22%5D%7D",
		"Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At&Message=m&Subject=s&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=b",
		"Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At&MessageStructure=json&Message=%7B%22default%22%3A%22x%22%7D",
		"Action=PublishBatch&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At&PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.1.Message=m&PublishBatchRequestEntries.member.2.Id=b&PublishBatchRequestEntries.member.2.MessageAttributes.entry.1.Name=n",
		"Action=SetSubscriptionAttributes&SubscriptionArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At%3Ax&AttributeName=RedrivePolicy&AttributeValue=%7B%7D",
		"Action=ListTopics&NextToken=%%%",
		"Action=TagResource&ResourceArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At&Tags.member.999999999999999999999.Key=x",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	svc, err := sns.New(sns.Options{Queues: &fakeQueues{}, Signer: testSigner(f), Env: awsenv.Env{BaseURL: func() string { return "http://127.0.0.1:4566" }}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("one request took %v", d)
			}
		}()
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.String())
		}
		var doc struct{ XMLName xml.Name }
		if err := xml.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("response is not XML (%v) for %q: %s", err, body, rec.Body.String())
		}
	})
}

var messageIDs = regexp.MustCompile(`<MessageId>[0-9a-f-]{36}</MessageId>`)

func TestFIFOPublishAnswersCarryTheSequenceNumberInAWSShapedXML(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		if _, body := post(t, e, url.Values{"Action": {"CreateTopic"}, "Name": {"o.fifo"},
			"Attributes.entry.1.key": {"FifoTopic"}, "Attributes.entry.1.value": {"true"}}); !strings.Contains(body, "<TopicArn>") {
			t.Fatalf("CreateTopic: %s", body)
		}
		topic := "arn:aws:sns:us-east-1:000000000000:o.fifo"
		_, got := post(t, e, url.Values{"Action": {"Publish"}, "TopicArn": {topic}, "Message": {"m"},
			"MessageGroupId": {"g"}, "MessageDeduplicationId": {"d"}})
		got = messageIDs.ReplaceAllString(got, "<MessageId>ID</MessageId>")
		want := xmlHeader + `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>ID</MessageId>` +
			`<SequenceNumber>10000000000000000001</SequenceNumber></PublishResult><ResponseMetadata><RequestId>REQ</RequestId></ResponseMetadata></PublishResponse>`
		if got != want {
			t.Errorf("Publish:\ngot\n%s\nwant\n%s", got, want)
		}
		_, got = post(t, e, url.Values{"Action": {"PublishBatch"}, "TopicArn": {topic},
			"PublishBatchRequestEntries.member.1.Id": {"a"}, "PublishBatchRequestEntries.member.1.Message": {"m"},
			"PublishBatchRequestEntries.member.1.MessageGroupId": {"g"}, "PublishBatchRequestEntries.member.1.MessageDeduplicationId": {"d2"}})
		got = messageIDs.ReplaceAllString(got, "<MessageId>ID</MessageId>")
		want = xmlHeader + `<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult><Successful><member><Id>a</Id><MessageId>ID</MessageId>` +
			`<SequenceNumber>10000000000000000002</SequenceNumber></member></Successful><Failed></Failed></PublishBatchResult><ResponseMetadata><RequestId>REQ</RequestId></ResponseMetadata></PublishBatchResponse>`
		if got != want {
			t.Errorf("PublishBatch:\ngot\n%s\nwant\n%s", got, want)
		}
	})
}

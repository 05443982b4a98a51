package sqs_test

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

const xmlns = "http://queue.amazonaws.com/doc/2012-11-05/"

// postQuery POSTs a Query-protocol form to path and returns the status and
// body.
func postQuery(t *testing.T, base, path string, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.Post(base+path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// postJSON sends a JSON-protocol request and returns the status, the
// x-amzn-query-error header and the body.
func postJSON(t *testing.T, base, action, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Amzn-Query-Error"), string(b)
}

type xmlError struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string
		Code    string
		Message string
	}
	RequestID string `xml:"RequestId"`
}

func TestQueryProtocol(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := b.newFixture(t, true)
		queueURL := f.url + "/000000000000/q"

		t.Run("CreateQueue replies with the queue URL in AWS's XML", func(t *testing.T) {
			status, body := postQuery(t, f.url, "/", url.Values{"Action": {"CreateQueue"}, "QueueName": {"q"},
				"Attribute.1.Name": {"VisibilityTimeout"}, "Attribute.1.Value": {"45"}, "Tag.1.Key": {"team"}, "Tag.1.Value": {"orders"}})
			var doc struct {
				XMLName  xml.Name `xml:"CreateQueueResponse"`
				Xmlns    string   `xml:"xmlns,attr"`
				QueueURL string   `xml:"CreateQueueResult>QueueUrl"`
				ReqID    string   `xml:"ResponseMetadata>RequestId"`
			}
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || status != 200 {
				t.Fatalf("%d %s: %v", status, body, err)
			}
			if doc.Xmlns != xmlns || doc.QueueURL != queueURL || doc.ReqID == "" {
				t.Errorf("got %+v", doc)
			}
			if got := f.attr(t, queueURL, "VisibilityTimeout"); got != "45" {
				t.Errorf("VisibilityTimeout = %s, want 45", got)
			}
		})

		t.Run("SendMessage to the queue's path replies with both digests", func(t *testing.T) {
			status, body := postQuery(t, f.url, "/000000000000/q", url.Values{"Action": {"SendMessage"}, "MessageBody": {"hello"},
				"MessageAttribute.1.Name": {"attribName1"}, "MessageAttribute.1.Value.DataType": {"String"}, "MessageAttribute.1.Value.StringValue": {"attribValue 1"},
			})
			var doc struct {
				MD5Body  string `xml:"SendMessageResult>MD5OfMessageBody"`
				MD5Attrs string `xml:"SendMessageResult>MD5OfMessageAttributes"`
				ID       string `xml:"SendMessageResult>MessageId"`
			}
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || status != 200 {
				t.Fatalf("%d %s: %v", status, body, err)
			}
			if doc.MD5Body != "5d41402abc4b2a76b9719d911017c592" || doc.MD5Attrs != "19e27d4e946b072f3f58da80d94fd778" || doc.ID == "" {
				t.Errorf("got %+v", doc)
			}
		})

		t.Run("SendMessageBatch lists successes and failures as AWS does", func(t *testing.T) {
			status, body := postQuery(t, f.url, "/", url.Values{"Action": {"SendMessageBatch"}, "QueueUrl": {queueURL},
				"SendMessageBatchRequestEntry.1.Id": {"a"}, "SendMessageBatchRequestEntry.1.MessageBody": {"bin"},
				"SendMessageBatchRequestEntry.1.MessageAttribute.1.Name":              {"b"},
				"SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType":    {"Binary"},
				"SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.BinaryValue": {base64.StdEncoding.EncodeToString([]byte{0, 1, 2})},
				"SendMessageBatchRequestEntry.2.Id":                                   {"b"}, "SendMessageBatchRequestEntry.2.MessageBody": {"late"},
				"SendMessageBatchRequestEntry.2.DelaySeconds": {"901"},
			})
			var doc struct {
				OK []struct {
					ID, MessageID, MD5OfMessageBody, MD5OfMessageAttributes string
				} `xml:"SendMessageBatchResult>SendMessageBatchResultEntry"`
				Failed []struct {
					ID          string `xml:"Id"`
					Code        string
					SenderFault bool
				} `xml:"SendMessageBatchResult>BatchResultErrorEntry"`
			}
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || status != 200 {
				t.Fatalf("%d %s: %v", status, body, err)
			}
			if !strings.Contains(body, "<SendMessageBatchResultEntry><Id>a</Id><MD5OfMessageBody>") {
				t.Errorf("unexpected entry shape:\n%s", body)
			}
			if len(doc.OK) != 1 || len(doc.Failed) != 1 || doc.Failed[0].ID != "b" || doc.Failed[0].Code != "InvalidParameterValue" || !doc.Failed[0].SenderFault {
				t.Errorf("got %+v\n%s", doc, body)
			}
		})

		t.Run("ReceiveMessage lists system and message attributes as Name/Value elements", func(t *testing.T) {
			status, body := postQuery(t, f.url, "/", url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {queueURL},
				"MaxNumberOfMessages": {"10"}, "AttributeName.1": {"All"}, "MessageAttributeName.1": {"All"}})
			var doc struct {
				Messages []struct {
					MessageID, ReceiptHandle, MD5OfBody, Body, MD5OfMessageAttributes string
					Attributes                                                        []struct{ Name, Value string } `xml:"Attribute"`
					MessageAttributes                                                 []struct {
						Name  string
						Value struct{ StringValue, BinaryValue, DataType string }
					} `xml:"MessageAttribute"`
				} `xml:"ReceiveMessageResult>Message"`
			}
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || status != 200 {
				t.Fatalf("%d %s: %v", status, body, err)
			}
			if len(doc.Messages) != 2 {
				t.Fatalf("received %d messages, want 2:\n%s", len(doc.Messages), body)
			}
			for _, m := range doc.Messages {
				if m.ReceiptHandle == "" || m.MD5OfBody == "" || len(m.Attributes) < 4 || len(m.MessageAttributes) != 1 || m.MD5OfMessageAttributes == "" {
					t.Errorf("message %+v", m)
				}
				if m.Body == "bin" && m.MessageAttributes[0].Value.BinaryValue != "AAEC" {
					t.Errorf("binary attribute = %+v, want base64 AAEC", m.MessageAttributes[0].Value)
				}
			}
		})

		t.Run("GetQueueAttributes lists attributes as Name/Value elements", func(t *testing.T) {
			status, body := postQuery(t, f.url, "/", url.Values{"Action": {"GetQueueAttributes"}, "QueueUrl": {queueURL}, "AttributeName.1": {"VisibilityTimeout"}, "AttributeName.2": {"ApproximateNumberOfMessagesNotVisible"}})
			want := "<GetQueueAttributesResult><Attribute><Name>ApproximateNumberOfMessagesNotVisible</Name><Value>2</Value></Attribute><Attribute><Name>VisibilityTimeout</Name><Value>45</Value></Attribute></GetQueueAttributesResult>"
			if status != 200 || !strings.Contains(body, want) {
				t.Errorf("%d\n%s\nwant it to contain\n%s", status, body, want)
			}
		})

		t.Run("ListQueues and ListQueueTags reply in AWS's shapes", func(t *testing.T) {
			_, body := postQuery(t, f.url, "/", url.Values{"Action": {"ListQueues"}})
			if !strings.Contains(body, "<ListQueuesResult><QueueUrl>"+queueURL+"</QueueUrl></ListQueuesResult>") {
				t.Errorf("ListQueues:\n%s", body)
			}
			_, body = postQuery(t, f.url, "/", url.Values{"Action": {"ListQueueTags"}, "QueueUrl": {queueURL}})
			if !strings.Contains(body, "<ListQueueTagsResult><Tag><Key>team</Key><Value>orders</Value></Tag></ListQueueTagsResult>") {
				t.Errorf("ListQueueTags:\n%s", body)
			}
		})

		t.Run("an action without a result replies with only the response metadata", func(t *testing.T) {
			status, body := postQuery(t, f.url, "/", url.Values{"Action": {"SetQueueAttributes"}, "QueueUrl": {queueURL}, "Attribute.1.Name": {"DelaySeconds"}, "Attribute.1.Value": {"0"}})
			if status != 200 || !strings.Contains(body, `<SetQueueAttributesResponse xmlns="`+xmlns+`"><ResponseMetadata><RequestId>`) {
				t.Errorf("%d\n%s", status, body)
			}
		})

		t.Run("errors are ErrorResponse documents with AWS's codes", func(t *testing.T) {
			status, body := postQuery(t, f.url, "/", url.Values{"Action": {"GetQueueUrl"}, "QueueName": {"missing"}})
			var doc xmlError
			if err := xml.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if status != 400 || doc.Xmlns != xmlns || doc.Error.Type != "Sender" || doc.Error.Code != "AWS.SimpleQueueService.NonExistentQueue" ||
				doc.Error.Message != "The specified queue does not exist." || doc.RequestID == "" {
				t.Errorf("%d %+v", status, doc)
			}
			status, body = postQuery(t, f.url, "/", url.Values{"Action": {"Frobnicate"}})
			if status != 400 || !strings.Contains(body, "<Code>InvalidAction</Code>") {
				t.Errorf("unknown action: %d %s", status, body)
			}
		})

		t.Run("a form the edge already parsed is used as it is", func(t *testing.T) {
			form := url.Values{"Action": {"GetQueueUrl"}, "QueueName": {"q"}}
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if err := r.ParseForm(); err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			f.svc.ServeHTTP(rec, r)
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<QueueUrl>"+queueURL+"</QueueUrl>") {
				t.Errorf("%d %s", rec.Code, rec.Body.String())
			}
		})
	})
}

// TestBothProtocolsReportTheSameErrorCodes makes each mistake over JSON and
// over Query and compares the codes clients see.
func TestBothProtocolsReportTheSameErrorCodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := b.newFixture(t, true)
		u := f.createQueue(t, "q", nil)
		eleven := url.Values{"Action": {"SendMessageBatch"}, "QueueUrl": {u}}
		var elevenJSON []string
		for i := 1; i <= 11; i++ {
			id := "e" + string(rune('a'+i))
			eleven.Set("SendMessageBatchRequestEntry."+itoa(i)+".Id", id)
			eleven.Set("SendMessageBatchRequestEntry."+itoa(i)+".MessageBody", "x")
			elevenJSON = append(elevenJSON, `{"Id":"`+id+`","MessageBody":"x"}`)
		}
		for _, tc := range []struct {
			mistake string
			action  string
			json    string
			form    url.Values
			want    string
		}{
			{"a missing queue", "GetQueueUrl", `{"QueueName":"missing"}`, url.Values{"QueueName": {"missing"}}, "AWS.SimpleQueueService.NonExistentQueue"},
			{"a queue URL of a missing queue", "SendMessage", `{"QueueUrl":"` + f.url + `/000000000000/missing","MessageBody":"x"}`,
				url.Values{"QueueUrl": {f.url + "/000000000000/missing"}, "MessageBody": {"x"}}, "AWS.SimpleQueueService.NonExistentQueue"},
			{"an 11-entry batch", "SendMessageBatch", `{"QueueUrl":"` + u + `","Entries":[` + strings.Join(elevenJSON, ",") + `]}`, eleven, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"},
			{"a malformed receipt handle", "DeleteMessage", `{"QueueUrl":"` + u + `","ReceiptHandle":"junk"}`,
				url.Values{"QueueUrl": {u}, "ReceiptHandle": {"junk"}}, "ReceiptHandleIsInvalid"},
			{"a wait of 21 seconds", "ReceiveMessage", `{"QueueUrl":"` + u + `","WaitTimeSeconds":21}`,
				url.Values{"QueueUrl": {u}, "WaitTimeSeconds": {"21"}}, "InvalidParameterValue"},
			{"an empty body", "SendMessage", `{"QueueUrl":"` + u + `"}`, url.Values{"QueueUrl": {u}}, "MissingParameter"},
			{"an unknown queue attribute", "GetQueueAttributes", `{"QueueUrl":"` + u + `","AttributeNames":["Bogus"]}`,
				url.Values{"QueueUrl": {u}, "AttributeName.1": {"Bogus"}}, "InvalidAttributeName"},
			{"an existing queue with other attributes", "CreateQueue", `{"QueueName":"q","Attributes":{"DelaySeconds":"5"}}`,
				url.Values{"QueueName": {"q"}, "Attribute.1.Name": {"DelaySeconds"}, "Attribute.1.Value": {"5"}}, "QueueAlreadyExists"},
		} {
			t.Run(tc.mistake+" is "+tc.want+" in both protocols", func(t *testing.T) {
				jStatus, header, jBody := postJSON(t, f.url, tc.action, tc.json)
				jCode, _, _ := strings.Cut(header, ";")
				var jDoc map[string]string
				if err := json.Unmarshal([]byte(jBody), &jDoc); err != nil || jDoc["__type"] == "" || jDoc["message"] == "" {
					t.Errorf("JSON body %s: %v", jBody, err)
				}
				form := url.Values{"Action": {tc.action}}
				for k, v := range tc.form {
					form[k] = v
				}
				qStatus, qBody := postQuery(t, f.url, "/", form)
				var qDoc xmlError
				if err := xml.Unmarshal([]byte(qBody), &qDoc); err != nil {
					t.Fatalf("Query body %s: %v", qBody, err)
				}
				if jCode != tc.want || qDoc.Error.Code != tc.want {
					t.Errorf("JSON code %q, Query code %q, want %q", jCode, qDoc.Error.Code, tc.want)
				}
				if jStatus != qStatus {
					t.Errorf("JSON status %d, Query status %d", jStatus, qStatus)
				}
			})
		}
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

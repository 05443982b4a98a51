package cloud_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cloud/cloudtest"
)

// FuzzEdge sends arbitrary requests through the edge to every service: the
// cloud never panics, and every answer is a complete HTTP response.
func FuzzEdge(f *testing.F) {
	f.Add("POST", "AmazonSQS.SendMessage", "application/x-amz-json-1.0", `{"QueueUrl":"q","MessageBody":"x"}`)
	f.Add("POST", "DynamoDB_20120810.PutItem", "application/x-amz-json-1.0", `{"TableName":"t","Item":{"k":{"S":"v"}}}`)
	f.Add("POST", "DynamoDB_20120810.Query", "application/x-amz-json-1.0", `{"TableName":"t","KeyConditionExpression":"k = :v"}`)
	f.Add("POST", "", "application/x-www-form-urlencoded", "Action=Publish&TopicArn=arn&Message=x")
	f.Add("POST", "", "application/x-www-form-urlencoded", "Action=SendMessageBatch&SendMessageBatchRequestEntry.1.Id=a")
	f.Add("GET", "", "", "")
	c, _ := cloudtest.Start(f)
	h := c.Handler()
	f.Fuzz(func(t *testing.T, method, target, contentType, body string) {
		if !validMethod(method) {
			method = "POST"
		}
		req := httptest.NewRequest(method, c.URL()+"/", strings.NewReader(body))
		req.Host = strings.TrimPrefix(c.URL(), "http://")
		if target != "" && validHeader(target) {
			req.Header.Set("X-Amz-Target", target)
		}
		if validHeader(contentType) {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 100 || rec.Code > 599 {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead:
		return true
	}
	return false
}

func validHeader(v string) bool {
	for _, r := range v {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

package sns_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud/sns"
	"github.com/orderflow/orderflow/internal/poll"
)

var ctx = context.Background()

// envelopeKeys returns the top-level keys of a JSON object in document order.
func envelopeKeys(t *testing.T, body string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("envelope is not a JSON object: %q", body)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("envelope: %v", err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("envelope: %v", err)
		}
	}
	return keys
}

// stringToSign rebuilds the notification string to sign from an envelope,
// independently of the package, following AWS's "Verifying the signatures of
// Amazon SNS messages".
func stringToSign(env map[string]any) []byte {
	var b strings.Builder
	for _, k := range []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"} {
		v, ok := env[k]
		if !ok {
			continue // only Subject may be absent
		}
		fmt.Fprintf(&b, "%s\n%s\n", k, v)
	}
	return []byte(b.String())
}

// verifyEnvelope checks an envelope's signature the way a subscriber does:
// fetch SigningCertURL, rebuild the string to sign, verify.
func verifyEnvelope(t *testing.T, env map[string]any) error {
	t.Helper()
	cert := fetchCertificate(t, env["SigningCertURL"].(string))
	sig, err := base64.StdEncoding.DecodeString(env["Signature"].(string))
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	data := stringToSign(env)
	switch env["SignatureVersion"] {
	case "1":
		// crypto/x509 refuses SHA-1 signatures as insecure, so check the
		// certificate's RSA key directly.
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("certificate key is %T, want RSA", cert.PublicKey)
		}
		h := sha1.Sum(data)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, h[:], sig)
	case "2":
		return cert.CheckSignature(x509.SHA256WithRSA, data, sig)
	}
	return fmt.Errorf("unknown SignatureVersion %v", env["SignatureVersion"])
}

func decodeEnvelope(t *testing.T, body string) map[string]any {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("envelope is not JSON: %v\n%s", err, body)
	}
	return env
}

func TestTheEnvelopeHasEveryFieldAndItsSignatureVerifies(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, version := range []string{"1", "2"} {
			t.Run("SignatureVersion "+version, func(t *testing.T) {
				e := b.newEnv(t)
				topic := e.createTopic(t, "orders", map[string]string{"SignatureVersion": version})
				sub := e.subscribe(t, topic, "q", nil)
				message := "{\"orderId\":\"o-1\",\"note\":\"line1\nline2 \\\"quoted\\\" <tag> & é\"}"
				out, err := e.client.Publish(ctx, &awssns.PublishInput{
					TopicArn: aws.String(topic),
					Message:  aws.String(message),
					Subject:  aws.String("Order placed"),
					MessageAttributes: map[string]types.MessageAttributeValue{
						"kind":  {DataType: aws.String("String"), StringValue: aws.String("order")},
						"qty":   {DataType: aws.String("Number"), StringValue: aws.String("3")},
						"tags":  {DataType: aws.String("String.Array"), StringValue: aws.String(`["a","b"]`)},
						"thumb": {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 250}},
					},
				})
				if err != nil {
					t.Fatalf("Publish: %v", err)
				}
				got := e.queues.to(queueARN("q"))
				if len(got) != 1 {
					t.Fatalf("deliveries = %d, want 1", len(got))
				}
				d := got[0]
				if d.TopicARN != topic || d.Attributes != nil {
					t.Errorf("delivery topic, attributes = %q, %v; want %q, none", d.TopicARN, d.Attributes, topic)
				}
				wantKeys := []string{"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
					"Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes"}
				if keys := envelopeKeys(t, d.Body); !slices.Equal(keys, wantKeys) {
					t.Errorf("envelope keys = %v, want %v", keys, wantKeys)
				}
				if !strings.HasPrefix(d.Body, "{\n  \"Type\" : \"Notification\",\n  \"MessageId\" : ") {
					t.Errorf("envelope layout differs from AWS's:\n%s", d.Body)
				}
				env := decodeEnvelope(t, d.Body)
				checks := map[string]string{
					"Type":             "Notification",
					"MessageId":        aws.ToString(out.MessageId),
					"TopicArn":         topic,
					"Subject":          "Order placed",
					"Message":          message,
					"Timestamp":        "2025-03-04T05:06:07.891Z",
					"SignatureVersion": version,
					"SigningCertURL":   e.svc.SigningCertURL(),
					"UnsubscribeURL":   e.srv.URL + "/?Action=Unsubscribe&SubscriptionArn=" + sub, // colons unescaped, as AWS's
				}
				for k, want := range checks {
					if got := env[k]; got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
				wantAttrs := map[string]any{
					"kind":  map[string]any{"Type": "String", "Value": "order"},
					"qty":   map[string]any{"Type": "Number", "Value": "3"},
					"tags":  map[string]any{"Type": "String.Array", "Value": `["a","b"]`},
					"thumb": map[string]any{"Type": "Binary", "Value": base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 250})},
				}
				if got, _ := json.Marshal(env["MessageAttributes"]); !bytes.Equal(got, mustJSON(wantAttrs)) {
					t.Errorf("MessageAttributes = %s, want %s", got, mustJSON(wantAttrs))
				}
				if err := verifyEnvelope(t, env); err != nil {
					t.Errorf("signature does not verify: %v", err)
				}
				env["Message"] = message + " "
				if verifyEnvelope(t, env) == nil {
					t.Error("signature verified a tampered message")
				}
			})
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestAnEnvelopeWithoutSubjectOrAttributesOmitsThemAndStillVerifies(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "plain", nil)
		e.subscribe(t, topic, "q", nil)
		if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("hello")}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		d := e.queues.to(queueARN("q"))[0]
		want := []string{"Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"}
		if keys := envelopeKeys(t, d.Body); !slices.Equal(keys, want) {
			t.Errorf("envelope keys = %v, want %v", keys, want)
		}
		env := decodeEnvelope(t, d.Body)
		if env["SignatureVersion"] != "1" {
			t.Errorf("SignatureVersion = %v, want the default 1", env["SignatureVersion"])
		}
		if err := verifyEnvelope(t, env); err != nil {
			t.Errorf("signature does not verify: %v", err)
		}
	})
}

func TestTheTimestampIsUTCWithMilliseconds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		e.clock.Set(time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 5*3600)))
		topic := e.createTopic(t, "ts", nil)
		e.subscribe(t, topic, "q", nil)
		e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")})
		env := decodeEnvelope(t, e.queues.to(queueARN("q"))[0].Body)
		if got, want := env["Timestamp"], "2030-01-01T22:04:05.000Z"; got != want {
			t.Errorf("Timestamp = %v, want %v", got, want)
		}
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(env["Timestamp"].(string)) {
			t.Errorf("Timestamp %v is not AWS's format", env["Timestamp"])
		}
	})
}

func TestTheUnsubscribeURLUnsubscribes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "t", nil)
		sub := e.subscribe(t, topic, "q", nil)
		e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")})
		env := decodeEnvelope(t, e.queues.to(queueARN("q"))[0].Body)
		resp, err := http.Get(env["UnsubscribeURL"].(string))
		if err != nil {
			t.Fatalf("GET UnsubscribeURL: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "<UnsubscribeResponse") {
			t.Fatalf("GET UnsubscribeURL = %d %s", resp.StatusCode, body)
		}
		_, err = e.client.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(sub)})
		var nf *types.NotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("GetSubscriptionAttributes after unsubscribe: err = %v, want NotFound", err)
		}
	})
}

func TestRawDeliveryMapsAttributesToSQSMessageAttributes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "raw", nil)
		e.subscribe(t, topic, "q", map[string]string{"RawMessageDelivery": "true"})
		_, err := e.client.Publish(ctx, &awssns.PublishInput{
			TopicArn: aws.String(topic),
			Message:  aws.String(`{"orderId":"o-1"}`),
			Subject:  aws.String("ignored by raw delivery"),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"kind": {DataType: aws.String("String"), StringValue: aws.String("order")},
				"qty":  {DataType: aws.String("Number"), StringValue: aws.String("3")},
				"tags": {DataType: aws.String("String.Array"), StringValue: aws.String(`["a"]`)},
				"blob": {DataType: aws.String("Binary"), BinaryValue: []byte("\x00\xff")},
			},
		})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		got := e.queues.to(queueARN("q"))
		if len(got) != 1 {
			t.Fatalf("deliveries = %d, want 1", len(got))
		}
		if got[0].Body != `{"orderId":"o-1"}` {
			t.Errorf("body = %q, want the bare message", got[0].Body)
		}
		want := map[string]sns.MessageAttribute{
			"kind": {DataType: "String", StringValue: "order"},
			"qty":  {DataType: "Number", StringValue: "3"},
			"tags": {DataType: "String.Array", StringValue: `["a"]`},
			"blob": {DataType: "Binary", BinaryValue: []byte("\x00\xff")},
		}
		if fmt.Sprint(got[0].Attributes) != fmt.Sprint(want) {
			t.Errorf("attributes = %v, want %v", got[0].Attributes, want)
		}
	})
}

func TestRawDeliveryWithMoreThanTenAttributesFailsAsAClientError(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "raw11", nil)
		sub := e.subscribe(t, topic, "q", map[string]string{
			"RawMessageDelivery": "true",
			"RedrivePolicy":      `{"deadLetterTargetArn":"` + queueARN("dlq") + `"}`,
		})
		attrs := map[string]types.MessageAttributeValue{}
		for i := range 11 {
			attrs[fmt.Sprintf("a%d", i)] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("v")}
		}
		if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"), MessageAttributes: attrs}); err != nil {
			t.Fatalf("Publish: %v (AWS accepts it and fails the delivery)", err)
		}
		if n := e.queues.attempts(queueARN("q")); n != 0 {
			t.Errorf("attempts on the queue = %d, want 0", n)
		}
		dlq := e.queues.to(queueARN("dlq"))
		if len(dlq) != 1 || dlq[0].Body != "m" {
			t.Fatalf("dead-lettered = %+v, want the raw message", dlq)
		}
		if st := e.svc.Stats().Subscriptions[sub]; st.Failed != 1 || st.DeadLettered != 1 {
			t.Errorf("stats = %+v, want Failed 1, DeadLettered 1", st)
		}
	})
}

func TestMessageStructureJSONPicksTheSQSKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tests := []struct {
			name, message, want string
		}{
			{"the sqs key wins", `{"default":"for everyone","sqs":"for queues","email":"for inboxes"}`, "for queues"},
			{"default when there is no sqs key", `{"default":"for everyone","http":"for webhooks"}`, "for everyone"},
			{"default when the sqs value is not a string", `{"default":"for everyone","sqs":{"x":1}}`, "for everyone"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := b.newEnv(t)
				topic := e.createTopic(t, "t", nil)
				e.subscribe(t, topic, "wrapped", nil)
				e.subscribe(t, topic, "raw", map[string]string{"RawMessageDelivery": "true"})
				_, err := e.client.Publish(ctx, &awssns.PublishInput{
					TopicArn: aws.String(topic), Message: aws.String(tt.message), MessageStructure: aws.String("json"),
					MessageAttributes: map[string]types.MessageAttributeValue{"a": {DataType: aws.String("String"), StringValue: aws.String("x")}},
				})
				if err != nil {
					t.Fatalf("Publish: %v", err)
				}
				env := decodeEnvelope(t, e.queues.to(queueARN("wrapped"))[0].Body)
				if env["Message"] != tt.want {
					t.Errorf("envelope Message = %q, want %q", env["Message"], tt.want)
				}
				if _, ok := env["MessageAttributes"]; ok {
					t.Error("envelope has MessageAttributes; AWS sends them only with a String message structure")
				}
				if err := verifyEnvelope(t, env); err != nil {
					t.Errorf("signature does not verify: %v", err)
				}
				if raw := e.queues.to(queueARN("raw"))[0]; raw.Body != tt.want {
					t.Errorf("raw body = %q, want %q", raw.Body, tt.want)
				}
			})
		}
	})
}

func TestMessageStructureJSONRejectsBadDocuments(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "t", nil)
		for _, msg := range []string{`not json`, `{"sqs":"no default"}`, `["default"]`, `{"default":"a","default":"b"}`} {
			_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(msg), MessageStructure: aws.String("json")})
			var ip *types.InvalidParameterException
			if !errors.As(err, &ip) {
				t.Errorf("Publish(%s): err = %v, want InvalidParameter", msg, err)
			}
		}
	})
}

func TestFilterPoliciesSelectWhichSubscriptionsReceiveAMessage(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		attr := func(typ, v string) types.MessageAttributeValue {
			return types.MessageAttributeValue{DataType: aws.String(typ), StringValue: aws.String(v)}
		}
		attrs := map[string]types.MessageAttributeValue{
			"status":  attr("String", "shipped"),
			"price":   attr("Number", "120.5"),
			"regions": attr("String.Array", `["eu-west-1","us-east-1"]`),
			"ip":      attr("String", "10.0.0.7"),
		}
		body := `{"order":{"status":"shipped","total":42,"items":[{"sku":"A-1"},{"sku":"B-2"}]},"channel":"web"}`
		tests := []struct {
			policy, scope string
			want          bool
		}{
			{`{"status":["shipped"]}`, "", true},
			{`{"status":["pending"]}`, "", false},
			{`{"status":[{"prefix":"ship"}]}`, "", true},
			{`{"status":[{"prefix":"pend"}]}`, "", false},
			{`{"status":[{"suffix":"ped"}]}`, "", true},
			{`{"status":[{"suffix":"ing"}]}`, "", false},
			{`{"status":[{"equals-ignore-case":"SHIPPED"}]}`, "", true},
			{`{"status":[{"equals-ignore-case":"PENDING"}]}`, "", false},
			{`{"status":[{"anything-but":["pending","cancelled"]}]}`, "", true},
			{`{"status":[{"anything-but":["shipped"]}]}`, "", false},
			{`{"status":[{"anything-but":{"prefix":"pend"}}]}`, "", true},
			{`{"status":[{"anything-but":{"prefix":"ship"}}]}`, "", false},
			{`{"price":[{"numeric":["=",120.5]}]}`, "", true},
			{`{"price":[{"numeric":["=",120]}]}`, "", false},
			{`{"price":[{"numeric":[">",100,"<=",120.5]}]}`, "", true},
			{`{"price":[{"numeric":[">=",0,"<",120.5]}]}`, "", false},
			{`{"price":[{"numeric":["<",200]}]}`, "", true},
			{`{"price":[{"numeric":[">",200]}]}`, "", false},
			{`{"regions":["us-east-1"]}`, "", true},
			{`{"regions":["ap-south-1"]}`, "", false},
			{`{"status":[{"exists":true}]}`, "", true},
			{`{"coupon":[{"exists":true}]}`, "", false},
			{`{"coupon":[{"exists":false}]}`, "", true},
			{`{"status":[{"exists":false}]}`, "", false},
			{`{"ip":[{"cidr":"10.0.0.0/24"}]}`, "", true},
			{`{"ip":[{"cidr":"10.0.1.0/24"}]}`, "", false},
			{`{"$or":[{"status":["pending"]},{"price":[{"numeric":[">",100]}]}]}`, "", true},
			{`{"$or":[{"status":["pending"]},{"price":[{"numeric":["<",100]}]}]}`, "", false},
			{`{"status":["shipped"],"price":[{"numeric":["<",100]}]}`, "", false},
			{`{"order":{"status":["shipped"]}}`, "MessageBody", true},
			{`{"order":{"status":["pending"]}}`, "MessageBody", false},
			{`{"order":{"items":{"sku":[{"prefix":"B-"}]}},"channel":["web"]}`, "MessageBody", true},
			{`{"order":{"total":[{"numeric":[">",50]}]}}`, "MessageBody", false},
			{`{"status":["shipped"]}`, "MessageBody", false},
		}
		e := b.newEnv(t)
		topic := e.createTopic(t, "filtered", nil)
		subs := make([]string, len(tests))
		for i, tt := range tests {
			a := map[string]string{"FilterPolicy": tt.policy}
			if tt.scope != "" {
				a["FilterPolicyScope"] = tt.scope
			}
			subs[i] = e.subscribe(t, topic, fmt.Sprintf("q%d", i), a)
		}
		if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(body), MessageAttributes: attrs}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		stats := e.svc.Stats()
		for i, tt := range tests {
			name := tt.policy
			if tt.scope != "" {
				name = tt.scope + " " + name
			}
			t.Run(name, func(t *testing.T) {
				got := len(e.queues.to(queueARN(fmt.Sprintf("q%d", i)))) == 1
				if got != tt.want {
					t.Errorf("delivered = %v, want %v", got, tt.want)
				}
				st := stats.Subscriptions[subs[i]]
				if tt.want && st.Delivered != 1 || !tt.want && st.FilteredOut != 1 {
					t.Errorf("stats = %+v", st)
				}
			})
		}
	})
}

func TestInvalidFilterPoliciesAreRefusedWithInvalidParameter(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "t", nil)
		sub := e.subscribe(t, topic, "q", nil)
		for _, tt := range []struct{ name, value, want string }{
			{"FilterPolicy", `{"a":"b"}`, "FilterPolicy"},
			{"FilterPolicy", `{"a":{"b":["c"]}}`, "does not support nested"},
			{"FilterPolicy", `{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}`, "more than 5 keys"},
			{"FilterPolicyScope", `Everything`, "FilterPolicyScope"},
			{"RawMessageDelivery", `yes`, "RawMessageDelivery"},
			{"RedrivePolicy", `{"deadLetterTargetArn":"` + queueARN("d") + `","maxReceiveCount":3}`, "maxReceiveCount is unknown"},
			{"RedrivePolicy", `{"deadLetterTargetArn":"not-an-arn"}`, "invalid arn"},
			{"Color", `red`, "AttributeName"},
		} {
			_, err := e.client.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{
				SubscriptionArn: aws.String(sub), AttributeName: aws.String(tt.name), AttributeValue: aws.String(tt.value),
			})
			var ip *types.InvalidParameterException
			if !errors.As(err, &ip) || !strings.Contains(ip.ErrorMessage(), tt.want) {
				t.Errorf("Set %s=%s: err = %v, want InvalidParameter mentioning %q", tt.name, tt.value, err, tt.want)
			}
		}
	})
}

func TestPublishBatchReportsEachEntrysOutcome(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "batch", nil)
		e.subscribe(t, topic, "q", nil)
		out, err := e.client.PublishBatch(ctx, &awssns.PublishBatchInput{
			TopicArn: aws.String(topic),
			PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
				{Id: aws.String("ok-1"), Message: aws.String("first")},
				{Id: aws.String("bad-attr"), Message: aws.String("x"), MessageAttributes: map[string]types.MessageAttributeValue{
					"n": {DataType: aws.String("Number"), StringValue: aws.String("twelve")}}},
				{Id: aws.String("ok-2"), Message: aws.String("second"), Subject: aws.String("s")},
				{Id: aws.String("bad-subject"), Message: aws.String("x"), Subject: aws.String("line\nbreak")},
			},
		})
		if err != nil {
			t.Fatalf("PublishBatch: %v", err)
		}
		var okIDs, failedIDs []string
		for _, s := range out.Successful {
			okIDs = append(okIDs, aws.ToString(s.Id))
			if aws.ToString(s.MessageId) == "" {
				t.Errorf("entry %s has no MessageId", aws.ToString(s.Id))
			}
		}
		for _, f := range out.Failed {
			failedIDs = append(failedIDs, aws.ToString(f.Id)+":"+aws.ToString(f.Code))
			if !f.SenderFault {
				t.Errorf("entry %s: SenderFault = false, want true", aws.ToString(f.Id))
			}
		}
		if want := []string{"ok-1", "ok-2"}; !slices.Equal(okIDs, want) {
			t.Errorf("successful = %v, want %v", okIDs, want)
		}
		if want := []string{"bad-attr:ParameterValueInvalid", "bad-subject:InvalidParameter"}; !slices.Equal(failedIDs, want) {
			t.Errorf("failed = %v, want %v", failedIDs, want)
		}
		if got := len(e.queues.to(queueARN("q"))); got != 2 {
			t.Errorf("deliveries = %d, want 2", got)
		}
		if got := e.svc.Stats().Published; got != 2 {
			t.Errorf("Published = %d, want 2", got)
		}
	})
}

func TestPublishBatchRefusesWholeBatchesAsAWSDoes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "batch", nil)
		entry := func(id, msg string) types.PublishBatchRequestEntry {
			return types.PublishBatchRequestEntry{Id: aws.String(id), Message: aws.String(msg)}
		}
		var eleven []types.PublishBatchRequestEntry
		for i := range 11 {
			eleven = append(eleven, entry(fmt.Sprint("e", i), "m"))
		}
		big := strings.Repeat("x", 100_000)
		tests := []struct {
			name    string
			entries []types.PublishBatchRequestEntry
			target  any
		}{
			{"more than ten entries", eleven, new(*types.TooManyEntriesInBatchRequestException)},
			{"repeated ids", []types.PublishBatchRequestEntry{entry("a", "1"), entry("a", "2")}, new(*types.BatchEntryIdsNotDistinctException)},
			{"an id with a space", []types.PublishBatchRequestEntry{entry("a b", "1")}, new(*types.InvalidBatchEntryIdException)},
			{"more than 256 KiB in all", []types.PublishBatchRequestEntry{entry("a", big), entry("b", big), entry("c", big)}, new(*types.BatchRequestTooLongException)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := e.client.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: tt.entries})
				if !errors.As(err, tt.target) {
					t.Errorf("err = %v, want %T", err, tt.target)
				}
			})
		}
		if got := e.svc.Stats().Published; got != 0 {
			t.Errorf("Published = %d, want 0", got)
		}
	})
}

func TestAFailedDeliveryIsCountedAndLandsInTheSubscriptionsDeadLetterQueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tests := []struct {
			name     string
			cause    error
			wantCode string
		}{
			{"the queue is gone", sns.ErrQueueNotFound, "AWS.SimpleQueueService.NonExistentQueue"},
			{"the queue policy denies the topic", fmt.Errorf("policy of queue q: %w", sns.ErrDenied), "AccessDenied"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := b.newEnv(t)
				e.queues.DeliverFunc = func(_ context.Context, d sns.Delivery) error {
					if d.QueueARN == queueARN("q") {
						return tt.cause
					}
					return nil
				}
				topic := e.createTopic(t, "t", nil)
				sub := e.subscribe(t, topic, "q", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + queueARN("dlq") + `"}`})
				out, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("order"), Subject: aws.String("s")})
				if err != nil {
					t.Fatalf("Publish: %v (it must succeed, as on AWS)", err)
				}
				if n := e.queues.attempts(queueARN("q")); n != 1 {
					t.Errorf("attempts = %d, want 1 (client-side errors are not retried)", n)
				}
				dlq := e.queues.to(queueARN("dlq"))
				if len(dlq) != 1 {
					t.Fatalf("dead-lettered deliveries = %d, want 1", len(dlq))
				}
				env := decodeEnvelope(t, dlq[0].Body)
				if env["MessageId"] != aws.ToString(out.MessageId) || env["Message"] != "order" {
					t.Errorf("dead-lettered body = %s, want the envelope that failed", dlq[0].Body)
				}
				if err := verifyEnvelope(t, env); err != nil {
					t.Errorf("dead-lettered envelope does not verify: %v", err)
				}
				if got := dlq[0].Attributes["ErrorCode"].StringValue; got != tt.wantCode {
					t.Errorf("ErrorCode = %q, want %q", got, tt.wantCode)
				}
				if dlq[0].Attributes["ErrorMessage"].StringValue == "" || dlq[0].Attributes["RequestID"].StringValue == "" {
					t.Errorf("attributes = %v, want ErrorMessage and RequestID", dlq[0].Attributes)
				}
				if dlq[0].TopicARN != topic {
					t.Errorf("dead-letter delivery on behalf of %q, want the topic", dlq[0].TopicARN)
				}
				st := e.svc.Stats()
				want := sns.SubscriptionStats{Failed: 1, DeadLettered: 1}
				if st.Subscriptions[sub] != want || st.Failed != 1 || st.Delivered != 0 {
					t.Errorf("stats = %+v, want subscription %+v", st, want)
				}
			})
		}
	})
}

func TestAFailedDeliveryWithoutADeadLetterQueueIsCountedAsLost(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		e.queues.DeliverFunc = func(context.Context, sns.Delivery) error { return sns.ErrQueueNotFound }
		topic := e.createTopic(t, "t", nil)
		sub := e.subscribe(t, topic, "gone", nil)
		if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if st := e.svc.Stats().Subscriptions[sub]; st != (sns.SubscriptionStats{Failed: 1, DeadLetterFailed: 1}) {
			t.Errorf("stats = %+v, want Failed 1, DeadLetterFailed 1", st)
		}
	})
}

func TestATransientFailureIsRetriedOnTheClock(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		failures := 4 // the first attempt and three immediate retries
		e.queues.notify = make(chan sns.Delivery, 16)
		e.queues.DeliverFunc = func(context.Context, sns.Delivery) error {
			if failures > 0 {
				failures--
				return errors.New("throttled")
			}
			return nil
		}
		topic := e.createTopic(t, "t", nil)
		sub := e.subscribe(t, topic, "q", nil)
		if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		for range 4 {
			<-e.queues.notify
		}
		if got := len(e.queues.to(queueARN("q"))); got != 0 {
			t.Fatalf("delivered before the retry was due: %d", got)
		}
		e.clock.Advance(time.Second) // the first pre-backoff retry
		select {
		case <-e.queues.notify:
		case <-time.After(5 * time.Second):
			t.Fatal("no retry after the clock passed its time")
		}
		if got := len(e.queues.to(queueARN("q"))); got != 1 {
			t.Errorf("delivered = %d, want 1", got)
		}
		// The fake reports the delivery before the service counts it.
		want := sns.SubscriptionStats{Delivered: 1, Retried: 4}
		var st sns.SubscriptionStats
		if !poll.Within(5*time.Second, func() bool { st = e.svc.Stats().Subscriptions[sub]; return st == want }) {
			t.Errorf("stats = %+v, want Delivered 1, Retried 4", st)
		}
	})
}

func TestAWSErrorCodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "t", nil)
		missing := "arn:aws:sns:us-east-1:" + account + ":missing"
		tests := []struct {
			name   string
			call   func() error
			target any
			msg    string
		}{
			{"publishing to an unknown topic is NotFound", func() error {
				_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(missing), Message: aws.String("m")})
				return err
			}, new(*types.NotFoundException), "Topic does not exist"},
			{"attributes of an unknown topic are NotFound", func() error {
				_, err := e.client.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(missing)})
				return err
			}, new(*types.NotFoundException), "Topic does not exist"},
			{"subscribing to an unknown topic is NotFound", func() error {
				_, err := e.client.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(missing), Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN("q"))})
				return err
			}, new(*types.NotFoundException), "Topic does not exist"},
			{"an unknown subscription is NotFound", func() error {
				_, err := e.client.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(topic + ":00000000-0000-4000-8000-000000000000")})
				return err
			}, new(*types.NotFoundException), "Subscription does not exist"},
			{"a message over 256 KiB is InvalidParameter", func() error {
				_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(strings.Repeat("x", 262145))})
				return err
			}, new(*types.InvalidParameterException), "Message too long"},
			{"attributes count toward the 256 KiB", func() error {
				_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(strings.Repeat("x", 262140)),
					MessageAttributes: map[string]types.MessageAttributeValue{"a": {DataType: aws.String("String"), StringValue: aws.String("yy")}}})
				return err
			}, new(*types.InvalidParameterException), "Message too long"},
			{"an empty message is InvalidParameter", func() error {
				_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("")})
				return err
			}, new(*types.InvalidParameterException), "Empty message"},
			{"a 100-character subject is InvalidParameter", func() error {
				_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"), Subject: aws.String(strings.Repeat("s", 100))})
				return err
			}, new(*types.InvalidParameterException), "Subject"},
			{"an unknown attribute type is ParameterValueInvalid", func() error {
				_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"),
					MessageAttributes: map[string]types.MessageAttributeValue{"a": {DataType: aws.String("Date"), StringValue: aws.String("today")}}})
				return err
			}, new(*types.InvalidParameterValueException), "invalid message attribute type"},
			{"a reserved attribute name is ParameterValueInvalid", func() error {
				_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"),
					MessageAttributes: map[string]types.MessageAttributeValue{"AWS.trace": {DataType: aws.String("String"), StringValue: aws.String("x")}}})
				return err
			}, new(*types.InvalidParameterValueException), "Invalid attribute name"},
			{"a topic in another account is AuthorizationError", func() error {
				_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:111122223333:t"), Message: aws.String("m")})
				return err
			}, new(*types.AuthorizationErrorException), "not authorized"},
			{"a malformed topic ARN is InvalidParameter", func() error {
				_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String("topic-t"), Message: aws.String("m")})
				return err
			}, new(*types.InvalidParameterException), "TopicArn"},
			{"a bad topic name is InvalidParameter", func() error {
				_, err := e.client.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("no spaces")})
				return err
			}, new(*types.InvalidParameterException), "Topic Name"},
			{"a FIFO topic not named .fifo is InvalidParameter", func() error {
				_, err := e.client.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("o"), Attributes: map[string]string{"FifoTopic": "true"}})
				return err
			}, new(*types.InvalidParameterException), "Invalid parameter: Topic Name"},
			{"an unknown topic attribute is InvalidParameter", func() error {
				_, err := e.client.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(topic), AttributeName: aws.String("Colour"), AttributeValue: aws.String("x")})
				return err
			}, new(*types.InvalidParameterException), "AttributeName"},
			{"a SignatureVersion of 3 is InvalidParameter", func() error {
				_, err := e.client.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(topic), AttributeName: aws.String("SignatureVersion"), AttributeValue: aws.String("3")})
				return err
			}, new(*types.InvalidParameterException), "SignatureVersion"},
			{"an http subscription is InvalidParameter", func() error {
				_, err := e.client.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String("http://127.0.0.1:1/")})
				return err
			}, new(*types.InvalidParameterException), "Protocol"},
			{"an sqs endpoint that is not an ARN is InvalidParameter", func() error {
				_, err := e.client.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"), Endpoint: aws.String("http://127.0.0.1/q")})
				return err
			}, new(*types.InvalidParameterException), "SQS endpoint ARN"},
			{"tags of an unknown topic are ResourceNotFound", func() error {
				_, err := e.client.ListTagsForResource(ctx, &awssns.ListTagsForResourceInput{ResourceArn: aws.String(missing)})
				return err
			}, new(*types.ResourceNotFoundException), "Resource does not exist"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.call()
				if !errors.As(err, tt.target) {
					t.Fatalf("err = %v, want %T", err, tt.target)
				}
				var api smithy.APIError
				errors.As(err, &api)
				if !strings.Contains(api.ErrorMessage(), tt.msg) {
					t.Errorf("message = %q, want it to contain %q", api.ErrorMessage(), tt.msg)
				}
			})
		}
		if got := e.svc.Stats().Published; got != 0 {
			t.Errorf("Published = %d after only failed publishes", got)
		}
	})
}

func TestAMaximumMessageSizeOf1MiBAllowsLargerMessages(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "large", map[string]string{"MaximumMessageSize": "1048576"})
		if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(strings.Repeat("x", 500_000))}); err != nil {
			t.Errorf("Publish of 500 KB: %v", err)
		}
		_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(strings.Repeat("x", 1048577))})
		var ip *types.InvalidParameterException
		if !errors.As(err, &ip) {
			t.Errorf("Publish over 1 MiB: err = %v, want InvalidParameter", err)
		}
	})
}

func TestTopicsAreCreatedIdempotentlyAndReportTheirAttributes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		arn := e.createTopic(t, "orders", map[string]string{"DisplayName": "Orders"})
		if want := "arn:aws:sns:us-east-1:" + account + ":orders"; arn != want {
			t.Errorf("TopicArn = %q, want %q", arn, want)
		}
		if again := e.createTopic(t, "orders", map[string]string{"DisplayName": "Orders"}); again != arn {
			t.Errorf("second CreateTopic = %q, want %q", again, arn)
		}
		_, err := e.client.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("orders"), Attributes: map[string]string{"DisplayName": "Other"}})
		var ip *types.InvalidParameterException
		if !errors.As(err, &ip) || !strings.Contains(ip.ErrorMessage(), "already exists with different attributes") {
			t.Errorf("CreateTopic with other attributes: err = %v", err)
		}
		e.subscribe(t, arn, "q1", nil)
		sub2 := e.subscribe(t, arn, "q2", nil)
		if _, err := e.client.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: aws.String(sub2)}); err != nil {
			t.Fatalf("Unsubscribe: %v", err)
		}
		if _, err := e.client.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(arn), AttributeName: aws.String("SignatureVersion"), AttributeValue: aws.String("2")}); err != nil {
			t.Fatalf("SetTopicAttributes: %v", err)
		}
		out, err := e.client.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("GetTopicAttributes: %v", err)
		}
		want := map[string]string{
			"TopicArn": arn, "Owner": account, "DisplayName": "Orders", "SignatureVersion": "2",
			"SubscriptionsConfirmed": "1", "SubscriptionsPending": "0", "SubscriptionsDeleted": "1",
		}
		for k, v := range want {
			if out.Attributes[k] != v {
				t.Errorf("%s = %q, want %q", k, out.Attributes[k], v)
			}
		}
		var policy struct{ Statement []struct{ Resource string } }
		if err := json.Unmarshal([]byte(out.Attributes["Policy"]), &policy); err != nil || len(policy.Statement) != 1 || policy.Statement[0].Resource != arn {
			t.Errorf("Policy = %s", out.Attributes["Policy"])
		}
		if !json.Valid([]byte(out.Attributes["EffectiveDeliveryPolicy"])) {
			t.Errorf("EffectiveDeliveryPolicy = %q", out.Attributes["EffectiveDeliveryPolicy"])
		}
	})
}

func TestListTopicsPagesByHundred(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		for i := range 150 {
			if _, err := e.svc.CreateTopic(ctx, fmt.Sprintf("t%03d", i), nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		var all []string
		pages := 0
		p := awssns.NewListTopicsPaginator(e.client, &awssns.ListTopicsInput{})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListTopics: %v", err)
			}
			pages++
			for _, tp := range out.Topics {
				all = append(all, aws.ToString(tp.TopicArn))
			}
		}
		if pages != 2 || len(all) != 150 || !slices.IsSorted(all) {
			t.Errorf("pages = %d, topics = %d (sorted %v), want 2 pages of 150 distinct topics", pages, len(all), slices.IsSorted(all))
		}
	})
}

func TestSubscriptionsAreIdempotentListedAndConfigurable(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "t", nil)
		other := e.createTopic(t, "other", nil)
		sub := e.subscribe(t, topic, "q", map[string]string{"RawMessageDelivery": "true"})
		if again := e.subscribe(t, topic, "q", map[string]string{"RawMessageDelivery": "true"}); again != sub {
			t.Errorf("second Subscribe = %q, want %q", again, sub)
		}
		if !strings.HasPrefix(sub, topic+":") {
			t.Errorf("SubscriptionArn = %q, want it under %q", sub, topic)
		}
		e.subscribe(t, other, "q", nil)
		_, err := e.client.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{
			SubscriptionArn: aws.String(sub), AttributeName: aws.String("FilterPolicy"), AttributeValue: aws.String(`{"a":["b"]}`)})
		if err != nil {
			t.Fatalf("SetSubscriptionAttributes: %v", err)
		}
		attrs, err := e.client.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(sub)})
		if err != nil {
			t.Fatalf("GetSubscriptionAttributes: %v", err)
		}
		want := map[string]string{
			"SubscriptionArn": sub, "TopicArn": topic, "Protocol": "sqs", "Endpoint": queueARN("q"), "Owner": account,
			"PendingConfirmation": "false", "RawMessageDelivery": "true", "FilterPolicy": `{"a":["b"]}`, "FilterPolicyScope": "MessageAttributes",
		}
		for k, v := range want {
			if attrs.Attributes[k] != v {
				t.Errorf("%s = %q, want %q", k, attrs.Attributes[k], v)
			}
		}
		byTopic, err := e.client.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})
		if err != nil || len(byTopic.Subscriptions) != 1 || aws.ToString(byTopic.Subscriptions[0].SubscriptionArn) != sub {
			t.Errorf("ListSubscriptionsByTopic = %+v, %v", byTopic, err)
		}
		all, err := e.client.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{})
		if err != nil || len(all.Subscriptions) != 2 {
			t.Fatalf("ListSubscriptions = %+v, %v", all, err)
		}
		for range 2 {
			if _, err := e.client.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: aws.String(topic + ":00000000-0000-4000-8000-000000000000")}); err != nil {
				t.Errorf("Unsubscribe of an unknown subscription: %v, want success", err)
			}
		}
		if _, err := e.client.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(topic)}); err != nil {
			t.Fatalf("DeleteTopic: %v", err)
		}
		if _, err := e.client.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(topic)}); err != nil {
			t.Errorf("DeleteTopic of a deleted topic: %v, want success as on AWS", err)
		}
		all, _ = e.client.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{})
		if len(all.Subscriptions) != 1 {
			t.Errorf("subscriptions after DeleteTopic = %d, want 1", len(all.Subscriptions))
		}
	})
}

func TestTopicsCanBeTagged(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		out, err := e.client.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("t"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("orders")}}})
		if err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
		arn := out.TopicArn
		if _, err := e.client.TagResource(ctx, &awssns.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
			t.Fatalf("TagResource: %v", err)
		}
		if _, err := e.client.UntagResource(ctx, &awssns.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"team"}}); err != nil {
			t.Fatalf("UntagResource: %v", err)
		}
		tags, err := e.client.ListTagsForResource(ctx, &awssns.ListTagsForResourceInput{ResourceArn: arn})
		if err != nil {
			t.Fatalf("ListTagsForResource: %v", err)
		}
		if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" || aws.ToString(tags.Tags[0].Value) != "dev" {
			t.Errorf("tags = %+v, want env=dev", tags.Tags)
		}
	})
}

func TestPublishingWhileSubscriptionsChangeIsSafe(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic, err := e.svc.CreateTopic(ctx, "busy", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := e.svc.Subscribe(ctx, topic, "sqs", queueARN("q"), nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range 50 {
				policy := []string{`{"a":["x"]}`, `{}`}[i%2]
				if err := e.svc.SetSubscriptionAttribute(ctx, sub, "FilterPolicy", policy); err != nil {
					t.Error(err)
					return
				}
				extra, err := e.svc.Subscribe(ctx, topic, "sqs", queueARN(fmt.Sprint("extra", i)), map[string]string{"RawMessageDelivery": "true"})
				if err != nil {
					t.Error(err)
					return
				}
				if err := e.svc.Unsubscribe(ctx, extra); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		for range 50 {
			in := sns.PublishInput{TopicARN: topic, Message: "m", Attributes: map[string]sns.MessageAttribute{"a": {DataType: "String", StringValue: "x"}}}
			if _, err := e.svc.Publish(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		<-done
		if got := len(e.queues.to(queueARN("q"))); got != 50 {
			t.Errorf("deliveries to the stable subscription = %d, want 50", got)
		}
	})
}

// A Subject given empty is refused with InvalidParameter, as AWS does
// (LocalStack's AWS-validated test_publish_with_empty_subject); an absent
// one is fine, and nothing is delivered for the refused publish.
func TestAnEmptySubjectIsRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "subj", nil)
		e.subscribe(t, topic, "q", nil)
		_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"), Subject: aws.String("")})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "InvalidParameter" || api.ErrorMessage() != "Invalid parameter: Subject" {
			t.Fatalf("Publish with an empty Subject: %v, want InvalidParameter: Invalid parameter: Subject", err)
		}
		if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")}); err != nil {
			t.Fatalf("Publish without a Subject: %v", err)
		}
		if n := len(e.queues.to(queueARN("q"))); n != 1 {
			t.Errorf("%d deliveries, want the one accepted publish's", n)
		}
	})
}

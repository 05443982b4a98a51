package sqs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cloud/awsproto"
	cloudsqs "github.com/orderflow/orderflow/cloud/sqs"
)

func TestSendAs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const topic = "arn:aws:sns:us-east-1:000000000000:OrderTopic"
		sns := cloudsqs.Principal{Service: "sns.amazonaws.com", SourceArn: topic, SourceAccount: "000000000000"}
		policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:000000000000:q","Condition":{"ArnEquals":{"aws:SourceArn":"` + topic + `"}}}]}`

		t.Run("a queue without a policy refuses a service principal", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			_, err := f.svc.SendAs(context.Background(), f.arn(t, u), sns, cloudsqs.SendInput{Body: "x"})
			if !errors.Is(err, cloudsqs.ErrAccessDenied) {
				t.Errorf("got %v, want ErrAccessDenied", err)
			}
		})

		t.Run("a policy allowing the topic lets SNS send, with binary attributes", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", map[string]string{"Policy": policy})
			id, err := f.svc.SendAs(context.Background(), f.arn(t, u), sns, cloudsqs.SendInput{Body: "hello",
				MessageAttributes: map[string]cloudsqs.MessageAttributeValue{"blob": {DataType: "Binary", BinaryValue: []byte{1, 2}}}})
			if err != nil {
				t.Fatal(err)
			}
			got := f.receive(t, u, 1, nil)
			if len(got) != 1 || *got[0].MessageId != id || string(got[0].MessageAttributes["blob"].BinaryValue) != "\x01\x02" {
				t.Errorf("received %+v", got)
			}
			if p := f.attr(t, u, "Policy"); p != policy {
				t.Errorf("Policy reads back as %s", p)
			}
		})

		t.Run("another topic is refused by the same policy", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", map[string]string{"Policy": policy})
			other := sns
			other.SourceArn = "arn:aws:sns:us-east-1:000000000000:Other"
			if _, err := f.svc.SendAs(context.Background(), f.arn(t, u), other, cloudsqs.SendInput{Body: "x"}); !errors.Is(err, cloudsqs.ErrAccessDenied) {
				t.Errorf("got %v, want ErrAccessDenied", err)
			}
		})

		t.Run("a missing queue is ErrQueueNotFound and a bad message an AWS error", func(t *testing.T) {
			f := b.newFixture(t, true)
			_, err := f.svc.SendAs(context.Background(), "arn:aws:sqs:us-east-1:000000000000:missing", sns, cloudsqs.SendInput{Body: "x"})
			if !errors.Is(err, cloudsqs.ErrQueueNotFound) {
				t.Errorf("got %v, want ErrQueueNotFound", err)
			}
			u := f.createQueue(t, "q", map[string]string{"Policy": policy})
			_, err = f.svc.SendAs(context.Background(), f.arn(t, u), sns, cloudsqs.SendInput{Body: ""})
			var ae *awsproto.Error
			if !errors.As(err, &ae) || ae.Code != "MissingParameter" {
				t.Errorf("got %v, want a MissingParameter *awsproto.Error", err)
			}
		})

		t.Run("an invalid Policy attribute is refused", func(t *testing.T) {
			f := b.newFixture(t, true)
			u := f.createQueue(t, "q", nil)
			_, err := f.client.SetQueueAttributes(ctxFor(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(u), Attributes: map[string]string{"Policy": "{not json"}})
			if err == nil || apiCode(t, err) != "InvalidAttributeValue" {
				t.Errorf("got %v, want InvalidAttributeValue", err)
			}
		})
	})
}

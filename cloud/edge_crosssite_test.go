package cloud_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/cloudtest"
)

// browserHeaders are what a browser sends for <img src=…> on another site,
// by what it says of the request's origin ("" sends no Sec-Fetch-*
// headers, as browsers do towards a plain-HTTP address off loopback).
func browserHeaders(site string) http.Header {
	h := http.Header{
		"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"},
		"Accept":          {"image/avif,image/webp,image/apng,image/*,*/*;q=0.8"},
		"Accept-Language": {"en-US,en;q=0.9"},
		"Referer":         {"https://evil.example/"},
	}
	if site != "" {
		h.Set("Sec-Fetch-Site", site)
		h.Set("Sec-Fetch-Mode", "no-cors")
		h.Set("Sec-Fetch-Dest", "image")
	}
	return h
}

// crossSiteFixture is a cloud with a queue holding a message, a DLQ, a
// topic subscribed by the queue, and a way to see all of it.
type crossSiteFixture struct {
	c                 *cloud.Cloud
	sqs               *awssqs.Client
	sns               *awssns.Client
	queue, dlq, topic string // the queue's and the DLQ's URLs, the topic's ARN
	queueArn, dlqArn  string
	subscription      string
	receipt           string
}

func newCrossSiteFixture(t *testing.T) *crossSiteFixture {
	t.Helper()
	c, cfg := cloudtest.Start(t)
	ctx := context.Background()
	f := &crossSiteFixture{c: c, sqs: awssqs.NewFromConfig(cfg), sns: awssns.NewFromConfig(cfg)}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	dlq, err := f.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("OrderDLQ")})
	must(err)
	f.dlq = *dlq.QueueUrl
	f.dlqArn = "arn:aws:sqs:us-east-1:000000000000:OrderDLQ"
	q, err := f.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("OrderQueue"), Attributes: map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"3"}`, f.dlqArn)}})
	must(err)
	f.queue = *q.QueueUrl
	f.queueArn = "arn:aws:sqs:us-east-1:000000000000:OrderQueue"
	for _, body := range []string{"first", "second"} {
		_, err = f.sqs.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: &f.queue, MessageBody: aws.String(body)})
		must(err)
	}
	// One message in flight, so that the receipt handle is a real one.
	got, err := f.sqs.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: &f.queue, MaxNumberOfMessages: 1, VisibilityTimeout: 3600})
	must(err)
	if len(got.Messages) != 1 {
		t.Fatalf("received %d messages, want 1", len(got.Messages))
	}
	f.receipt = *got.Messages[0].ReceiptHandle
	tp, err := f.sns.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("OrderTopic")})
	must(err)
	f.topic = *tp.TopicArn
	sub, err := f.sns.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &f.topic, Protocol: aws.String("sqs"), Endpoint: &f.queueArn})
	must(err)
	f.subscription = *sub.SubscriptionArn
	return f
}

// state is everything a request could change, as text.
func (f *crossSiteFixture) state(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	qs, err := f.sqs.ListQueues(ctx, &awssqs.ListQueuesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range qs.QueueUrls {
		a, err := f.sqs.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: &u, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		tags, err := f.sqs.ListQueueTags(ctx, &awssqs.ListQueueTagsInput{QueueUrl: &u})
		if err != nil {
			t.Fatal(err)
		}
		tasks, err := f.sqs.ListMessageMoveTasks(ctx, &awssqs.ListMessageMoveTasksInput{SourceArn: aws.String(a.Attributes["QueueArn"])})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "queue %s %v tags %v tasks %d\n", u, sorted(a.Attributes), sorted(tags.Tags), len(tasks.Results))
	}
	ts, err := f.sns.ListTopics(ctx, &awssns.ListTopicsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range ts.Topics {
		a, err := f.sns.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: tp.TopicArn})
		if err != nil {
			t.Fatal(err)
		}
		tags, err := f.sns.ListTagsForResource(ctx, &awssns.ListTagsForResourceInput{ResourceArn: tp.TopicArn})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "topic %s %v tags %d\n", *tp.TopicArn, sorted(a.Attributes), len(tags.Tags))
	}
	subs, err := f.sns.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs.Subscriptions {
		a, err := f.sns.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: s.SubscriptionArn})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "subscription %s %v\n", *s.SubscriptionArn, sorted(a.Attributes))
	}
	fmt.Fprintf(&b, "published %d\n", f.c.SNS.Stats().Published)
	return b.String()
}

func sorted(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// params fill in every state-changing Query action of SQS and SNS with
// arguments that name the fixture's real resources, so that each would act
// if it ran.
func (f *crossSiteFixture) params(action string) url.Values {
	v := url.Values{
		"Action": {action}, "QueueUrl": {f.queue}, "QueueName": {"Forged"}, "TopicArn": {f.topic}, "Name": {"ForgedTopic"},
		"MessageBody": {`{"orderId":"O666","quantity":1000000}`}, "Message": {`{"orderId":"O666","quantity":1000000}`},
		"Protocol": {"sqs"}, "Endpoint": {f.dlqArn}, "SubscriptionArn": {f.subscription}, "ReceiptHandle": {f.receipt},
		"VisibilityTimeout": {"0"}, "Label": {"evil"}, "AWSAccountId.member.1": {"111122223333"}, "ActionName.member.1": {"SendMessage"},
		"AWSAccountId.1": {"111122223333"}, "ActionName.1": {"SendMessage"},
		"Attribute.1.Name": {"DelaySeconds"}, "Attribute.1.Value": {"900"}, "AttributeName": {"DisplayName"}, "AttributeValue": {"forged"},
		"Tag.1.Key": {"owner"}, "Tag.1.Value": {"evil"}, "TagKey.1": {"owner"}, "Tags.member.1.Key": {"owner"}, "Tags.member.1.Value": {"evil"},
		"TagKeys.member.1": {"owner"}, "ResourceArn": {f.topic}, "SourceArn": {f.dlqArn}, "TaskHandle": {"forged"},
		"SendMessageBatchRequestEntry.1.Id": {"a"}, "SendMessageBatchRequestEntry.1.MessageBody": {"forged"},
		"DeleteMessageBatchRequestEntry.1.Id": {"a"}, "DeleteMessageBatchRequestEntry.1.ReceiptHandle": {f.receipt},
		"ChangeMessageVisibilityBatchRequestEntry.1.Id": {"a"}, "ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle": {f.receipt},
		"ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout": {"0"},
		"PublishBatchRequestEntries.member.1.Id":                       {"a"}, "PublishBatchRequestEntries.member.1.Message": {"forged"},
		"MaxNumberOfMessages": {"10"},
	}
	return v
}

func TestNoCrossSiteRequestChangesAnything(t *testing.T) {
	t.Parallel()
	f := newCrossSiteFixture(t)
	var writes []string
	for _, a := range slices.Concat(f.c.SQS.Actions(), f.c.SNS.Actions()) {
		if !strings.HasPrefix(a, "List") && !strings.HasPrefix(a, "Get") && !strings.HasPrefix(a, "Describe") {
			writes = append(writes, a)
		}
	}
	slices.Sort(writes)
	writes = slices.Compact(writes)
	for _, must := range []string{"ReceiveMessage", "PurgeQueue", "DeleteQueue", "SendMessage", "CreateQueue", "Publish", "CreateTopic", "Subscribe", "DeleteTopic", "SetQueueAttributes"} {
		if !slices.Contains(writes, must) {
			t.Fatalf("the write actions %v lack %s", writes, must)
		}
	}
	before := f.state(t)

	for _, tc := range []struct {
		site   string
		status int
		code   string
	}{
		{"cross-site", 403, "AccessDenied"},
		{"same-site", 403, "AccessDenied"},
		{"same-origin", 403, "AccessDenied"},
		// No Sec-Fetch-Site: a browser towards plain HTTP off loopback.
		{"", 405, "MethodNotAllowed"},
		// Sec-Fetch-Site: none, the user's own navigation (a pasted link).
		{"none", 405, "MethodNotAllowed"},
	} {
		t.Run("Sec-Fetch-Site "+cmp.Or(tc.site, "absent"), func(t *testing.T) {
			for _, action := range writes {
				for _, path := range []string{"/", strings.TrimPrefix(f.queue, f.c.URL())} {
					r := wire{method: "GET", path: path, query: f.params(action), header: browserHeaders(tc.site)}.build(t, f.c.URL())
					got := send(t, r)
					if got.status != tc.status || got.code != tc.code {
						t.Errorf("GET %s?Action=%s: %d %s %q, want %d %s", path, action, got.status, got.code, got.msg, tc.status, tc.code)
					}
					if after := f.state(t); after != before {
						t.Fatalf("GET %s?Action=%s changed the cloud:\nbefore:\n%s\nafter:\n%s", path, action, before, after)
					}
				}
			}
		})
	}
	// A browser's POST carries Origin; so does a fetch() of any method.
	r := wire{method: "POST", path: "/", body: f.params("PurgeQueue").Encode(), header: http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}}.build(t, f.c.URL())
	if got := send(t, r); got.status != 403 || got.code != "AccessDenied" {
		t.Errorf("a cross-site form POST: %+v", got)
	}
	if after := f.state(t); after != before {
		t.Fatalf("a cross-site form POST changed the cloud:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestReadsStillWorkOverGETAndClientsStillWork(t *testing.T) {
	t.Parallel()
	f := newCrossSiteFixture(t)
	// A read by GET, as curl or an old client sends it, is answered ...
	r := wire{method: "GET", path: "/", query: url.Values{"Action": {"ListQueues"}, "Version": {"2012-11-05"}}}.build(t, f.c.URL())
	if got := send(t, r); got.status != 200 || !strings.Contains(got.body, "OrderQueue") {
		t.Errorf("GET ListQueues: %+v", got)
	}
	r = wire{method: "GET", path: "/", query: url.Values{"Action": {"GetTopicAttributes"}, "TopicArn": {f.topic}}}.build(t, f.c.URL())
	if got := send(t, r); got.status != 200 {
		t.Errorf("GET GetTopicAttributes: %+v", got)
	}
	// ... but not when a page asked for it.
	r = wire{method: "GET", path: "/", query: url.Values{"Action": {"ListQueues"}}, header: browserHeaders("cross-site")}.build(t, f.c.URL())
	if got := send(t, r); got.status != 403 {
		t.Errorf("a cross-site GET ListQueues: %+v", got)
	}
	// The SDK (JSON for SQS, Query for SNS) works as before.
	ctx := context.Background()
	if _, err := f.sns.Publish(ctx, &awssns.PublishInput{TopicArn: &f.topic, Message: aws.String("by the SDK")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sqs.PurgeQueue(ctx, &awssqs.PurgeQueueInput{QueueUrl: &f.dlq}); err != nil {
		t.Fatal(err)
	}
}

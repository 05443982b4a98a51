package sns_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/cloud/sns"
	"github.com/orderflow/orderflow/internal/poll"
)

// snsNode is an SNS service on a data file that a test crashes and
// restarts: a crash abandons the service without Close, as kill -9 would,
// and closes the file handle so that the next start reads the file afresh.
// Each start gets a new fake clock, so the dead service's retries never
// fire. Unless signer is set, the service keeps its own key in the file.
type snsNode struct {
	*env
	path   string
	db     *bbolt.DB
	signer sns.Signer
}

var t1 = time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC)

func newSNSNode(t *testing.T, queues *fakeQueues) *snsNode {
	t.Helper()
	n := &snsNode{path: filepath.Join(t.TempDir(), "data.db")}
	n.start(t, t1, queues)
	return n
}

func (n *snsNode) start(t *testing.T, now time.Time, queues *fakeQueues) {
	t.Helper()
	db, err := journal.Open(n.path)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{queues: queues, clock: clock.NewFake(now)}
	var baseURL string
	e.svc, err = sns.New(sns.Options{DB: db, Clock: e.clock, Env: awsenv.Env{BaseURL: func() string { return baseURL }}, Queues: queues, Signer: n.signer})
	if err != nil {
		db.Close()
		t.Fatalf("sns.New on the data file: %v", err)
	}
	e.srv = httptest.NewServer(e.svc)
	baseURL = e.srv.URL
	e.svc.Start()
	e.client = awssns.New(awssns.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(e.srv.URL), HTTPClient: e.srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
	n.env, n.db = e, db
	t.Cleanup(n.crash)
}

func (n *snsNode) crash() {
	if n.srv == nil {
		return
	}
	n.srv.CloseClientConnections()
	n.srv.Close()
	n.db.Close()
	n.srv = nil
}

func (n *snsNode) restart(t *testing.T, d time.Duration, queues *fakeQueues) {
	t.Helper()
	now := n.clock.Now().Add(d)
	n.crash()
	n.start(t, now, queues)
}

// waitDelivered waits (in real time, for the goroutine a fake-clock timer
// starts) until queueARN has accepted n deliveries.
func waitDelivered(t *testing.T, q *fakeQueues, queueARN string, n int) []sns.Delivery {
	t.Helper()
	var got []sns.Delivery
	if !poll.Within(5*time.Second, func() bool { got = q.to(queueARN); return len(got) >= n }) {
		t.Fatalf("%s accepted %d deliveries, want %d", queueARN, len(got), n)
	}
	return got
}

func TestTopicsAndSubscriptionsSurviveARestart(t *testing.T) {
	n := newSNSNode(t, &fakeQueues{})
	topic := n.createTopic(t, "orders", map[string]string{"DisplayName": "Orders", "SignatureVersion": "2", "MaximumMessageSize": "4096"})
	if _, err := n.client.TagResource(ctx, &awssns.TagResourceInput{ResourceArn: aws.String(topic), Tags: []types.Tag{
		{Key: aws.String("team"), Value: aws.String("orders")}, {Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.client.UntagResource(ctx, &awssns.UntagResourceInput{ResourceArn: aws.String(topic), TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	n.subscribe(t, topic, "raw", map[string]string{"RawMessageDelivery": "true", "FilterPolicy": `{"kind":["order"]}`})
	enveloped := n.subscribe(t, topic, "enveloped", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + queueARN("dlq") + `"}`})
	gone := n.subscribe(t, topic, "gone", nil)
	if _, err := n.client.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: aws.String(gone)}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.client.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(enveloped),
		AttributeName: aws.String("FilterPolicy"), AttributeValue: aws.String(`{"store":["lisbon"]}`)}); err != nil {
		t.Fatal(err)
	}
	doomed := n.createTopic(t, "doomed", nil)
	n.subscribe(t, doomed, "raw", nil)
	if _, err := n.client.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(doomed)}); err != nil {
		t.Fatal(err)
	}

	type state struct {
		topics, tags, subs []string
		topicAttrs         map[string]string
		subAttrs           map[string]map[string]string // by endpoint
	}
	read := func() state {
		t.Helper()
		st := state{subAttrs: map[string]map[string]string{}}
		lt, err := n.client.ListTopics(ctx, &awssns.ListTopicsInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range lt.Topics {
			st.topics = append(st.topics, *tp.TopicArn)
		}
		ta, err := n.client.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(topic)})
		if err != nil {
			t.Fatal(err)
		}
		st.topicAttrs = ta.Attributes
		tags, err := n.client.ListTagsForResource(ctx, &awssns.ListTagsForResourceInput{ResourceArn: aws.String(topic)})
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range tags.Tags {
			st.tags = append(st.tags, *tg.Key+"="+*tg.Value)
		}
		ls, err := n.client.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ls.Subscriptions {
			st.subs = append(st.subs, *s.SubscriptionArn+" "+*s.Endpoint)
			sa, err := n.client.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: s.SubscriptionArn})
			if err != nil {
				t.Fatal(err)
			}
			st.subAttrs[*s.Endpoint] = sa.Attributes
		}
		return st
	}
	before := read()
	n.restart(t, time.Hour, &fakeQueues{})
	after := read()
	if !slices.Equal(after.topics, before.topics) || len(after.topics) != 1 {
		t.Errorf("topics after restart = %v, before %v", after.topics, before.topics)
	}
	if !maps.Equal(after.topicAttrs, before.topicAttrs) {
		t.Errorf("topic attributes after restart = %v, before %v", after.topicAttrs, before.topicAttrs)
	}
	if after.topicAttrs["SubscriptionsDeleted"] != "1" || after.topicAttrs["DisplayName"] != "Orders" {
		t.Errorf("topic attributes after restart = %v", after.topicAttrs)
	}
	if !slices.Equal(after.tags, []string{"team=orders"}) {
		t.Errorf("tags after restart = %v", after.tags)
	}
	if !slices.Equal(after.subs, before.subs) || len(after.subs) != 2 {
		t.Errorf("subscriptions after restart = %v, before %v", after.subs, before.subs)
	}
	for q, attrs := range before.subAttrs {
		if !maps.Equal(after.subAttrs[q], attrs) {
			t.Errorf("attributes of the subscription of %s after restart = %v, before %v", q, after.subAttrs[q], attrs)
		}
	}
	if a := after.subAttrs[queueARN("enveloped")]; a["RedrivePolicy"] == "" || a["FilterPolicy"] != `{"store":["lisbon"]}` {
		t.Errorf("enveloped subscription after restart = %v", a)
	}
	if a := after.subAttrs[queueARN("raw")]; a["RawMessageDelivery"] != "true" || a["FilterPolicy"] != `{"kind":["order"]}` {
		t.Errorf("raw subscription after restart = %v", a)
	}

	// The restored filter policies and raw delivery still decide.
	for _, kind := range []string{"order", "refund"} {
		if _, err := n.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(kind),
			MessageAttributes: map[string]types.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String(kind)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.queues.to(queueARN("raw")); len(got) != 1 || got[0].Body != "order" || got[0].Attributes["kind"].StringValue != "order" {
		t.Errorf("raw subscription after restart got %+v, want the one order, raw", got)
	}
	if got := n.queues.to(queueARN("enveloped")); len(got) != 0 {
		t.Errorf("the store filter let %d messages through", len(got))
	}
	if _, err := n.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(strings.Repeat("x", 5000))}); err == nil {
		t.Error("the restored MaximumMessageSize of 4096 let 5000 bytes through")
	}
}

func TestEnvelopesSignedBeforeARestartVerifyAfterIt(t *testing.T) {
	n := newSNSNode(t, &fakeQueues{})
	topic := n.createTopic(t, "orders", nil)
	n.subscribe(t, topic, "q", nil)
	if _, err := n.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("before")}); err != nil {
		t.Fatal(err)
	}
	before := decodeEnvelope(t, n.queues.to(queueARN("q"))[0].Body)
	oldCertURL := before["SigningCertURL"].(string)
	n.restart(t, 24*time.Hour, &fakeQueues{})
	if !strings.HasSuffix(oldCertURL, strings.TrimPrefix(n.svc.SigningCertURL(), n.srv.URL)) {
		t.Errorf("the certificate moved: %s before, %s after", oldCertURL, n.svc.SigningCertURL())
	}
	// A subscriber fetches the certificate from the restarted endpoint.
	before["SigningCertURL"] = n.svc.SigningCertURL()
	if err := verifyEnvelope(t, before); err != nil {
		t.Errorf("an envelope signed before the restart does not verify after it: %v", err)
	}
}

func TestADeliveryWaitingForARetrySurvivesARestart(t *testing.T) {
	failing := &fakeQueues{DeliverFunc: func(context.Context, sns.Delivery) error { return errors.New("throttled") }}
	n := newSNSNode(t, failing)
	topic := n.createTopic(t, "orders", nil)
	sub := n.subscribe(t, topic, "q", nil)
	out, err := n.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	if got := failing.attempts(queueARN("q")); got != 4 {
		t.Fatalf("attempts before the crash = %d, want the first and three immediate retries", got)
	}
	if got := pendingRetries(t, n); got != 1 {
		t.Fatalf("retry records before the crash = %d, want 1", got)
	}
	healthy := &fakeQueues{}
	n.restart(t, 0, healthy)
	if got := len(healthy.to(queueARN("q"))); got != 0 {
		t.Fatalf("delivered %d before the retry was due", got)
	}
	n.clock.Advance(time.Second)
	d := waitDelivered(t, healthy, queueARN("q"), 1)[0]
	env := decodeEnvelope(t, d.Body)
	if env["MessageId"] != *out.MessageId || env["Message"] != "m" {
		t.Errorf("retried delivery = %v", env)
	}
	// Delivered, its record goes (after the delivery: a crash in between
	// delivers it again, at least once); then the next start does not
	// deliver it again.
	if !poll.Within(5*time.Second, func() bool { return pendingRetries(t, n) == 0 }) {
		t.Fatal("the delivered retry's record is still in the file")
	}
	if st := n.svc.Stats().Subscriptions[sub]; st.Delivered != 1 {
		t.Errorf("stats after the retried delivery = %+v", st)
	}
	again := &fakeQueues{}
	n.restart(t, time.Hour, again)
	n.clock.Advance(time.Hour)
	if got := len(again.to(queueARN("q"))); got != 0 {
		t.Errorf("delivered again after another restart: %d", got)
	}
}

// pendingRetries counts the retry records in the file, once the journal
// has applied what it logged.
func pendingRetries(t *testing.T, node *snsNode) int {
	t.Helper()
	if err := node.svc.FlushJournal(); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := node.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket([]byte("sns")).Bucket([]byte("retries")).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestARetryDueWhileTheServiceWasDownRunsWhenItStarts(t *testing.T) {
	failing := &fakeQueues{DeliverFunc: func(_ context.Context, d sns.Delivery) error {
		if d.QueueARN == queueARN("dlq") {
			return errors.New("throttled")
		}
		return fmt.Errorf("%w: gone", sns.ErrQueueNotFound)
	}}
	n := newSNSNode(t, failing)
	topic := n.createTopic(t, "orders", nil)
	n.subscribe(t, topic, "q", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + queueARN("dlq") + `"}`})
	if _, err := n.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")}); err != nil {
		t.Fatal(err)
	}
	// The queue is gone, and the dead-letter delivery is being retried.
	healthy := &fakeQueues{}
	n.restart(t, time.Hour, healthy)
	d := waitDelivered(t, healthy, queueARN("dlq"), 1)[0]
	if d.Attributes["ErrorCode"].StringValue != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("dead-lettered after the restart with %v", d.Attributes)
	}
}

func TestTheSNSDataFile(t *testing.T) {
	damage := func(t *testing.T, change func(root *bbolt.Bucket) error) string {
		t.Helper()
		n := newSNSNode(t, &fakeQueues{})
		topic := n.createTopic(t, "orders", nil)
		n.subscribe(t, topic, "q", nil)
		n.crash()
		if err := journal.UpdateFile(n.path, func(tx *bbolt.Tx) error { return change(tx.Bucket([]byte("sns"))) }); err != nil {
			t.Fatal(err)
		}
		return n.path
	}
	open := func(t *testing.T, path string) error {
		t.Helper()
		db, err := journal.Open(path)
		if err != nil {
			return err
		}
		defer db.Close()
		svc, err := sns.New(sns.Options{DB: db, Queues: &fakeQueues{}})
		if err == nil {
			svc.Close()
		}
		return err
	}
	firstKey := func(b *bbolt.Bucket) []byte { k, _ := b.Cursor().First(); return k }
	for _, tc := range []struct {
		name, want string
		change     func(root *bbolt.Bucket) error
	}{
		{"a damaged topic", "topic arn:aws:sns:us-east-1:000000000000:orders", func(root *bbolt.Bucket) error {
			return root.Bucket([]byte("topics")).Put(firstKey(root.Bucket([]byte("topics"))), []byte{0x80})
		}},
		{"a damaged subscription", "subscription arn:aws:sns:us-east-1:000000000000:orders:", func(root *bbolt.Bucket) error {
			return root.Bucket([]byte("subscriptions")).Put(firstKey(root.Bucket([]byte("subscriptions"))), []byte("??"))
		}},
		{"a damaged signing key", "signer", func(root *bbolt.Bucket) error {
			return root.Put([]byte("signer"), []byte{4, 'n', 'o', 'p', 'e', 0})
		}},
		{"another format version", `format version "2"`, func(root *bbolt.Bucket) error {
			return root.Put([]byte("format"), []byte("2"))
		}},
	} {
		t.Run(tc.name+" is refused with ErrDataFile saying what is wrong", func(t *testing.T) {
			err := open(t, damage(t, tc.change))
			if !errors.Is(err, sns.ErrDataFile) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrDataFile naming %q", err, tc.want)
			}
		})
	}
}

// TestAfterTheDataFileFailsNoAnswerShowsAnUnacknowledgedChange makes the
// data file unwritable under a running service, as a full disk does (the
// journal then stops: fail-stop), and checks that the changes then refused
// never show: every later request is refused with an AWS-shaped error that
// says to restart.
func TestAfterTheDataFileFailsNoAnswerShowsAnUnacknowledgedChange(t *testing.T) {
	db, err := journal.Open(filepath.Join(t.TempDir(), "data.db"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.New(db)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{queues: &fakeQueues{}, clock: clock.NewFake(t1)}
	var baseURL string
	if e.svc, err = sns.New(sns.Options{DB: db, Journal: j, Clock: e.clock, Env: awsenv.Env{BaseURL: func() string { return baseURL }}, Queues: e.queues, Signer: testSigner(t)}); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.svc)
	defer e.srv.Close()
	baseURL = e.srv.URL
	e.svc.Start()
	e.client = awssns.New(awssns.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.srv.URL), HTTPClient: e.srv.Client(), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	topic := e.createTopic(t, "acknowledged", nil)
	e.subscribe(t, topic, "q", nil)

	// The file goes away under the journal: its next apply fails, and the
	// journal refuses everything after.
	db.Close()
	if err := j.Flush(); err == nil {
		t.Fatal("the journal did not fail: the test tests nothing")
	}

	refused := func(what string, err error) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" || !strings.Contains(ae.ErrorMessage(), "restart") {
			t.Errorf("%s after the data file failed: %v; want ServiceUnavailable saying to restart", what, err)
		}
	}
	_, err = e.client.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("refused")})
	refused("CreateTopic", err)
	_, err = e.client.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN("refused"))})
	refused("Subscribe", err)
	_, err = e.client.ListTopics(ctx, &awssns.ListTopicsInput{})
	refused("ListTopics", err)
	_, err = e.client.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(e.svc.TopicARNForTest("refused"))})
	refused("GetTopicAttributes", err)
	_, err = e.client.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{})
	refused("ListSubscriptions", err)
	_, err = e.client.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})
	refused("ListSubscriptionsByTopic", err)
	_, err = e.client.ListTagsForResource(ctx, &awssns.ListTagsForResourceInput{ResourceArn: aws.String(topic)})
	refused("ListTagsForResource", err)
	_, err = e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(e.svc.TopicARNForTest("refused")), Message: aws.String("to a topic never acknowledged")})
	refused("Publish", err)
	if got := len(e.queues.to(queueARN("refused"))); got != 0 {
		t.Errorf("%d deliveries to a subscription never acknowledged", got)
	}
}

// TestWhileTheDiskIsFullRequestsAreRefusedAndResumeByThemselves runs the
// journal out of space (an injected ENOSPC on its log, as a full disk
// gives): requests are refused with 503 ServiceUnavailable saying to retry
// later, and once space returns they are answered again, without a
// restart. Not parallel: the injected fault is the process's.
func TestWhileTheDiskIsFullRequestsAreRefusedAndResumeByThemselves(t *testing.T) {
	dir := t.TempDir()
	var full atomic.Bool
	defer journal.InjectFault(func(op, path string) error {
		if full.Load() && strings.HasPrefix(path, dir) && (op == "write" || op == "zero") {
			return &os.PathError{Op: op, Path: path, Err: syscall.ENOSPC}
		}
		return nil
	})()
	db, err := journal.Open(filepath.Join(dir, "data.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := &env{queues: &fakeQueues{}, clock: clock.NewFake(t1)}
	var baseURL string
	if e.svc, err = sns.New(sns.Options{DB: db, Clock: e.clock, Env: awsenv.Env{BaseURL: func() string { return baseURL }}, Queues: e.queues, Signer: testSigner(t)}); err != nil {
		t.Fatal(err)
	}
	defer e.svc.Close()
	e.srv = httptest.NewServer(e.svc)
	defer e.srv.Close()
	baseURL = e.srv.URL
	e.svc.Start()
	e.client = awssns.New(awssns.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.srv.URL), HTTPClient: e.srv.Client(), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	topic := e.createTopic(t, "t", nil)
	e.subscribe(t, topic, "q", nil)

	full.Store(true)
	refused := func(what string, err error) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" || !strings.Contains(ae.ErrorMessage(), "retry later") {
			t.Fatalf("%s while the disk is full: %v; want ServiceUnavailable saying to retry later", what, err)
		}
	}
	_, err = e.client.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("outcome-unknown")})
	refused("the CreateTopic that meets the full disk", err)
	_, err = e.client.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("refused")})
	refused("CreateTopic", err)
	_, err = e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("refused")})
	refused("Publish", err)
	_, err = e.client.ListTopics(ctx, &awssns.ListTopicsInput{})
	refused("ListTopics", err)
	if got := len(e.queues.to(queueARN("q"))); got != 0 {
		t.Errorf("%d deliveries of a refused publish", got)
	}

	full.Store(false)
	start := time.Now()
	for {
		_, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("after")})
		if err == nil {
			break
		}
		refused("Publish just after space returned", err)
		if time.Since(start) > 10*time.Second {
			t.Fatal("still refused 10 s after space returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(e.queues.to(queueARN("q"))); got != 1 {
		t.Errorf("%d deliveries after space returned, want the one publish acknowledged", got)
	}
	out, err := e.client.ListTopics(ctx, &awssns.ListTopicsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tp := range out.Topics {
		names = append(names, (*tp.TopicArn)[strings.LastIndex(*tp.TopicArn, ":")+1:])
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"outcome-unknown", "t"}) {
		t.Errorf("topics %v; want t and the one whose outcome was unknown (it reached the log once space returned), none refused up front", names)
	}
}

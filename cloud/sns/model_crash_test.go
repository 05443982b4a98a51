package sns_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/internal/crashtest"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// TestRandomOperationsAgreeWithAModelThroughKillsAndRestarts drives SNS
// (delivering into SQS, both on one data file and a fake clock, in a child
// process) with random operations through the SDK and raw Query requests —
// topics created and deleted, subscriptions (raw or enveloped) made and
// removed, publishes single and in batches, while deliveries succeed or
// fail (then SNS keeps them as pending retries), clock moves, requests with
// stray, duplicated or wrong-typed parameters — and checks every answer
// against a plain model. Between operations it stops the child cleanly,
// kills it (kill -9) between requests, or kills it in the middle of one;
// after each restart the topics and subscriptions must be the model's, and
// at each settle (deliveries healthy again, the clock past every retry)
// every acknowledged publish must have reached every subscription it was
// published to that still exists — pending retries included — and nothing
// unpublished may arrive. Only the one request cut short by a kill may have
// happened or not.
//
// The default run is short; -crash.ops or -crash.duration run it longer.
func TestRandomOperationsAgreeWithAModelThroughKillsAndRestarts(t *testing.T) {
	slowtest.Skip(t, "random operations checked against a model through kill -9 of child processes")
	crashtest.EachSyncMode(t, testRandomOperationsAgreeWithAModelThroughKillsAndRestarts)
}

func testRandomOperationsAgreeWithAModelThroughKillsAndRestarts(t *testing.T, syncEvery time.Duration) {
	budget := crashtest.NewBudget(t, 400)
	p := crashtest.Start(t, crashtest.Options{Serve: serveTopicsWith(syncEvery), Arg: childArg{Now: t1}.String()})
	h := &snsHarness{t: t, p: p, r: rand.New(rand.NewPCG(budget.Seed, 0x534e53)), now: t1,
		topics: map[string]*mTopic{}, pubs: map[string]*mPub{}}
	h.connect()
	for i := range 3 {
		q := fmt.Sprint("inbox", i)
		if _, err := h.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(q), Attributes: allowSNS(q)}); err != nil {
			t.Fatal(err)
		}
		h.queues = append(h.queues, q)
	}
	ops := 0
	for ; budget.More(ops); ops++ {
		h.step()
		if t.Failed() {
			t.Fatalf("after %d operations (seed %d); the model's last operations:\n%s", ops+1, budget.Seed, h.history())
		}
	}
	h.settle()
	if t.Failed() {
		t.Fatalf("at the last settle (seed %d); the model's last operations:\n%s", budget.Seed, h.history())
	}
	t.Logf("%d steps: %d requests (%d raw, with stray, duplicated or wrong-typed parameters: %d refused), %d publishes acknowledged (%d while deliveries failed), %d deliveries checked (%d duplicates), %d clean restarts, %d kills between requests, %d kills during one, %d settles",
		ops, h.requests, h.stray, h.strayRefused, h.published, h.publishedFailing, h.delivered, h.duplicates, h.stops, h.killsBetween, h.killsDuring, h.settles)
	if h.killsDuring == 0 || h.publishedFailing == 0 {
		t.Errorf("%d kills during a request, %d publishes while deliveries failed: too short a run to test anything", h.killsDuring, h.publishedFailing)
	}
}

type mTopic struct {
	arn  string
	subs map[string]*mSub // by ARN
}

type mSub struct {
	arn, topic, queue string
	raw               bool
}

// mPub is a publish: acknowledged, or cut short by a kill (maybe).
type mPub struct {
	bodies []string // what its message may be: one, unless duplicated parameters left a choice
	topic  string
	to     map[string]*mSub // the subscriptions it was published to
	maybe  bool
	seen   map[string]bool // the subscriptions' queues it reached
}

// snsUncertain is the request a kill cut short.
type snsUncertain struct {
	what   string
	topic  string // CreateTopic, DeleteTopic: the topic's ARN
	sub    *mSub  // Subscribe: the subscription (its ARN unknown); Unsubscribe: the subscription
	remove bool   // DeleteTopic, Unsubscribe
}

type snsHarness struct {
	t       *testing.T
	p       *crashtest.Process
	r       *rand.Rand
	sns     *awssns.Client
	sqs     *awssqs.Client
	http    *http.Client
	now     time.Time
	failing bool
	queues  []string
	topics  map[string]*mTopic // by ARN
	pubs    map[string]*mPub   // by body
	bodies  int
	maybe   *snsUncertain
	log     []string
	// pendingAcked: the last request was a publish acknowledged with
	// pending retries.
	pendingAcked bool

	requests, stray, strayRefused, published, publishedFailing, delivered, duplicates int
	stops, killsBetween, killsDuring, settles                                         int
}

func (h *snsHarness) logf(format string, args ...any) {
	line := fmt.Sprintf("%s "+format, append([]any{h.now.Sub(t1)}, args...)...)
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	h.log = append(h.log, strings.ReplaceAll(line, "\n", " "))
	if len(h.log) > 100000 {
		h.log = h.log[len(h.log)-50000:]
	}
}

// around returns the operations logged around the first that mentions s.
func (h *snsHarness) around(s string) string {
	i := slices.IndexFunc(h.log, func(l string) bool { return strings.Contains(l, s) })
	if i < 0 {
		return "(none mentions " + s + ")"
	}
	return strings.Join(h.log[max(0, i-40):min(len(h.log), i+80)], "\n")
}

// history returns the last operations logged.
func (h *snsHarness) history() string { return strings.Join(h.log[max(0, len(h.log)-200):], "\n") }

func (h *snsHarness) connect() {
	h.sns, h.sqs = clients(h.p.Endpoint())
	h.http = h.sqs.Options().HTTPClient.(*crashtest.HTTPClient).Client()
}

func (h *snsHarness) topicARN(name string) string {
	return "arn:aws:sns:us-east-1:" + account + ":" + name
}

// errNoAnswer is a request that got no answer: the child was killed under it.
var errNoAnswer = errors.New("no answer: the child is gone")

func noAnswer(err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("%w: %v", errNoAnswer, err)
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func (h *snsHarness) step() {
	if h.pendingAcked && h.r.IntN(8) == 0 {
		// Right after a publish that left pending retries: their records
		// must be on file already.
		h.pendingAcked = false
		h.killBetween()
		return
	}
	h.pendingAcked = false
	switch n := h.r.IntN(1000); {
	case n < 15:
		h.cleanRestart()
	case n < 30:
		h.killBetween()
	case n < 50:
		h.killDuring()
	case n < 65:
		h.settle()
	default:
		if err := h.operation(); errors.Is(err, errNoAnswer) {
			h.t.Fatalf("a request got no answer though nothing killed the child: %v", err)
		}
	}
}

func (h *snsHarness) pickTopicName() string { return fmt.Sprint("topic", h.r.IntN(4)) }

// pickSub returns a random subscription of the model, or nil.
func (h *snsHarness) pickSub() *mSub {
	var all []*mSub
	for _, t := range h.topics {
		for _, s := range t.subs {
			all = append(all, s)
		}
	}
	if len(all) == 0 {
		return nil
	}
	slices.SortFunc(all, func(a, b *mSub) int { return strings.Compare(a.arn, b.arn) })
	return all[h.r.IntN(len(all))]
}

// operation runs one random request, checks its answer and updates the
// model; errNoAnswer means a kill cut it short (then it is h.maybe, or a
// publish marked maybe).
func (h *snsHarness) operation() error {
	h.requests++
	h.maybe = nil
	switch n := h.r.IntN(100); {
	case n < 6:
		return h.createTopic(h.pickTopicName())
	case n < 8:
		return h.deleteTopic(h.topicARN(h.pickTopicName()))
	case n < 22:
		return h.subscribe(h.topicARN(h.pickTopicName()), h.queues[h.r.IntN(len(h.queues))], h.r.IntN(2) == 0)
	case n < 27:
		return h.unsubscribe()
	case n < 50:
		return h.publish(h.topicARN(h.pickTopicName()))
	case n < 60:
		return h.publishBatch(h.topicARN(h.pickTopicName()))
	case n < 66:
		return h.setFailing(h.r.IntN(2) == 0)
	case n < 74:
		return h.advance(time.Duration(1+h.r.IntN(30)) * time.Second)
	case n < 80:
		return h.checkListings(false)
	default:
		return h.strayRequest()
	}
}

func (h *snsHarness) createTopic(name string) error {
	arn := h.topicARN(name)
	out, err := h.sns.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(name)})
	if err := noAnswer(err); err != nil {
		h.maybe = &snsUncertain{what: "CreateTopic", topic: arn}
		return h.unexpected("CreateTopic", err)
	}
	if *out.TopicArn != arn {
		h.t.Errorf("CreateTopic %s: ARN %s, want %s", name, *out.TopicArn, arn)
	}
	h.created(arn)
	h.logf("create topic %s", name)
	return nil
}

func (h *snsHarness) created(arn string) {
	if h.topics[arn] == nil {
		h.topics[arn] = &mTopic{arn: arn, subs: map[string]*mSub{}}
	}
}

func (h *snsHarness) deleteTopic(arn string) error {
	_, err := h.sns.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(arn)})
	if err := noAnswer(err); err != nil {
		h.maybe = &snsUncertain{what: "DeleteTopic", topic: arn, remove: true}
		return h.unexpected("DeleteTopic", err)
	}
	delete(h.topics, arn)
	h.logf("delete topic %s", arn)
	return nil
}

func (h *snsHarness) subscribe(topicARN, queue string, raw bool) error {
	in := &awssns.SubscribeInput{TopicArn: aws.String(topicARN), Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN(queue)), ReturnSubscriptionArn: true}
	if raw {
		in.Attributes = map[string]string{"RawMessageDelivery": "true"}
	}
	out, err := h.sns.Subscribe(ctx, in)
	if err := noAnswer(err); errors.Is(err, errNoAnswer) {
		h.maybe = &snsUncertain{what: "Subscribe", sub: &mSub{topic: topicARN, queue: queue, raw: raw}}
		return err
	}
	t := h.topics[topicARN]
	var existing *mSub
	if t != nil {
		for _, s := range t.subs {
			if s.queue == queue {
				existing = s
			}
		}
	}
	switch {
	case t == nil:
		if errorCode(err) != "NotFound" {
			h.t.Errorf("Subscribe to missing topic %s: %v, want NotFound", topicARN, err)
		}
	case existing != nil && raw && !existing.raw:
		if errorCode(err) != "InvalidParameter" {
			h.t.Errorf("Subscribe %s to %s again, raw this time: %v, want InvalidParameter", queue, topicARN, err)
		}
	case err != nil:
		h.t.Errorf("Subscribe %s to %s: %v", queue, topicARN, err)
	case existing != nil:
		if *out.SubscriptionArn != existing.arn {
			h.t.Errorf("Subscribe %s to %s again: ARN %s, want %s", queue, topicARN, *out.SubscriptionArn, existing.arn)
		}
	default:
		t.subs[*out.SubscriptionArn] = &mSub{arn: *out.SubscriptionArn, topic: topicARN, queue: queue, raw: raw}
	}
	h.logf("subscribe %s to %s (raw %v): %v", queue, topicARN, raw, err)
	return nil
}

func (h *snsHarness) unsubscribe() error {
	s := h.pickSub()
	if s == nil {
		return nil
	}
	_, err := h.sns.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: aws.String(s.arn)})
	if err := noAnswer(err); err != nil {
		h.maybe = &snsUncertain{what: "Unsubscribe", sub: s, remove: true}
		return h.unexpected("Unsubscribe", err)
	}
	delete(h.topics[s.topic].subs, s.arn)
	h.logf("unsubscribe %s", s.arn)
	return nil
}

func (h *snsHarness) newBody() string {
	h.bodies++
	return fmt.Sprintf("message %06d %s", h.bodies, strings.Repeat("·", h.r.IntN(30)))
}

// addPub records a publish of one of bodies to topicARN, as the model
// stands now.
func (h *snsHarness) addPub(topicARN string, bodies []string, maybe bool) {
	p := &mPub{bodies: bodies, topic: topicARN, to: map[string]*mSub{}, maybe: maybe, seen: map[string]bool{}}
	if t := h.topics[topicARN]; t != nil {
		for arn, s := range t.subs {
			p.to[arn] = s
		}
	}
	for _, b := range bodies {
		h.pubs[b] = p
	}
	if !maybe {
		h.published++
		if h.failing && len(p.to) > 0 {
			h.publishedFailing++
			h.pendingAcked = true
		}
	}
}

func (h *snsHarness) publish(topicARN string) error {
	body := h.newBody()
	_, err := h.sns.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topicARN), Message: aws.String(body)})
	if err := noAnswer(err); errors.Is(err, errNoAnswer) {
		h.addPub(topicARN, []string{body}, true)
		return err
	}
	h.judgePublish("Publish", topicARN, err)
	if err == nil {
		h.addPub(topicARN, []string{body}, false)
	}
	h.logf("publish %q to %s (failing %v): %v", body, topicARN, h.failing, err)
	return nil
}

func (h *snsHarness) judgePublish(what, topicARN string, err error) {
	if h.topics[topicARN] == nil {
		if errorCode(err) != "NotFound" {
			h.t.Errorf("%s to missing topic %s: %v, want NotFound", what, topicARN, err)
		}
		return
	}
	if err != nil {
		h.t.Errorf("%s to %s: %v", what, topicARN, err)
	}
}

func (h *snsHarness) publishBatch(topicARN string) error {
	n := 1 + h.r.IntN(10)
	entries := make([]types.PublishBatchRequestEntry, n)
	bodies := make([]string, n)
	for i := range entries {
		bodies[i] = h.newBody()
		entries[i] = types.PublishBatchRequestEntry{Id: aws.String(fmt.Sprint("e", i)), Message: aws.String(bodies[i])}
	}
	out, err := h.sns.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String(topicARN), PublishBatchRequestEntries: entries})
	if err := noAnswer(err); errors.Is(err, errNoAnswer) {
		for _, b := range bodies {
			h.addPub(topicARN, []string{b}, true)
		}
		return err
	}
	h.judgePublish("PublishBatch", topicARN, err)
	if err == nil {
		if len(out.Successful) != n || len(out.Failed) != 0 {
			h.t.Errorf("PublishBatch of %d: %d successful, failed %+v", n, len(out.Successful), out.Failed)
		}
		for _, b := range bodies {
			h.addPub(topicARN, []string{b}, false)
		}
	}
	h.logf("publish a batch of %d to %s (failing %v): %v", n, topicARN, h.failing, err)
	return nil
}

// setFailing makes the child's deliveries to SQS fail (transiently), or
// succeed again.
func (h *snsHarness) setFailing(on bool) error {
	resp, err := h.http.PostForm(h.p.Endpoint()+"/_deliveries", url.Values{"failing": {fmt.Sprint(on)}})
	if err != nil {
		return fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	resp.Body.Close()
	h.failing = on
	h.logf("deliveries failing: %v", on)
	return nil
}

func (h *snsHarness) advance(d time.Duration) error {
	resp, err := h.http.PostForm(h.p.Endpoint()+"/_clock", url.Values{"advance": {d.String()}})
	if err != nil {
		return fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	h.now = h.now.Add(d)
	if got, err := time.Parse(time.RFC3339Nano, string(b)); err != nil || !got.Equal(h.now) {
		h.t.Fatalf("the child's clock reads %q, the model's %v", b, h.now)
	}
	h.logf("advance %v", d)
	return nil
}

func (h *snsHarness) unexpected(what string, err error) error {
	if errors.Is(err, errNoAnswer) {
		return err
	}
	h.maybe = nil
	h.t.Errorf("%s: %v", what, err)
	return nil
}

// listings returns the topics and subscriptions the child holds.
func (h *snsHarness) listings() (map[string]bool, map[string]*mSub, error) {
	topics := map[string]bool{}
	var next *string
	for {
		out, err := h.sns.ListTopics(ctx, &awssns.ListTopicsInput{NextToken: next})
		if err := noAnswer(err); err != nil {
			return nil, nil, err
		}
		for _, t := range out.Topics {
			topics[*t.TopicArn] = true
		}
		if next = out.NextToken; next == nil {
			break
		}
	}
	subs := map[string]*mSub{}
	next = nil
	for {
		out, err := h.sns.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{NextToken: next})
		if err := noAnswer(err); err != nil {
			return nil, nil, err
		}
		for _, s := range out.Subscriptions {
			q := strings.TrimPrefix(*s.Endpoint, "arn:aws:sqs:us-east-1:"+account+":")
			subs[*s.SubscriptionArn] = &mSub{arn: *s.SubscriptionArn, topic: *s.TopicArn, queue: q}
		}
		if next = out.NextToken; next == nil {
			break
		}
	}
	return topics, subs, nil
}

// checkListings compares the child's topics and subscriptions with the
// model; with attrs it also reads each subscription's RawMessageDelivery.
func (h *snsHarness) checkListings(attrs bool) error {
	topics, subs, err := h.listings()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	wantSubs := map[string]*mSub{}
	for arn, t := range h.topics {
		want[arn] = true
		maps.Copy(wantSubs, t.subs)
	}
	if !maps.Equal(topics, want) {
		h.t.Errorf("the child holds topics %v; the model %v", slices.Sorted(maps.Keys(topics)), slices.Sorted(maps.Keys(want)))
	}
	for arn, s := range subs {
		w := wantSubs[arn]
		if w == nil || w.topic != s.topic || w.queue != s.queue {
			h.t.Errorf("the child holds subscription %s (%s → %s), the model %+v", arn, s.topic, s.queue, w)
			continue
		}
		if attrs {
			out, err := h.sns.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(arn)})
			if err := noAnswer(err); err != nil {
				return err
			}
			if raw := out.Attributes["RawMessageDelivery"] == "true"; raw != w.raw {
				h.t.Errorf("subscription %s: RawMessageDelivery %v, the model %v", arn, raw, w.raw)
			}
		}
	}
	for arn := range wantSubs {
		if subs[arn] == nil {
			h.t.Errorf("the child lost subscription %s (%s → %s)", arn, wantSubs[arn].topic, wantSubs[arn].queue)
		}
	}
	return nil
}

// strayRequest sends a Query request the SDK would not: duplicated,
// unknown or malformed parameters. Each must be refused with an AWS-shaped
// error, or applied, and then recorded like any other.
func (h *snsHarness) strayRequest() error {
	h.stray++
	name := h.pickTopicName()
	arn := h.topicARN(name)
	b1, b2 := h.newBody(), h.newBody()
	switch h.r.IntN(5) {
	case 0: // CreateTopic with its name twice, and strays
		other := h.pickTopicName()
		status, body, err := h.raw(url.Values{"Action": {"CreateTopic"}, "Name": {name, other}, "Stray": {"1"}, "Attributes.entry.1.key": {"DisplayName"}, "Attributes.entry.1.value": {""}})
		if err != nil {
			h.maybe = &snsUncertain{what: "CreateTopic with stray parameters", topic: arn}
			return err
		}
		if status != http.StatusOK {
			h.refused("CreateTopic with stray parameters", status, body)
			return nil
		}
		var out struct {
			ARN string `xml:"CreateTopicResult>TopicArn"`
		}
		xml.Unmarshal([]byte(body), &out)
		if out.ARN != arn && out.ARN != h.topicARN(other) {
			h.t.Errorf("CreateTopic named %s and %s created %q", name, other, out.ARN)
			return nil
		}
		h.created(out.ARN)
		h.logf("create topic %s with stray parameters", out.ARN)
	case 1: // Publish with its message twice and stray parameters
		status, body, err := h.raw(url.Values{"Action": {"Publish"}, "TopicArn": {arn}, "Message": {b1, b2}, "Strayed": {"x"}, "Subject": {"s"}, "Version": {"2010-03-31", "1999"}})
		if err != nil {
			h.addPub(arn, []string{b1, b2}, true)
			return err
		}
		if status != http.StatusOK {
			if h.topics[arn] == nil && status == http.StatusNotFound {
				return nil
			}
			h.refused("Publish with stray parameters", status, body)
			return nil
		}
		if h.topics[arn] == nil {
			h.t.Errorf("Publish to missing topic %s answered %s", arn, body)
			return nil
		}
		h.addPub(arn, []string{b1, b2}, false)
		h.logf("publish %q or %q to %s with stray parameters (failing %v)", b1, b2, arn, h.failing)
	case 2: // Publish with a Number attribute that is not a number
		status, body, err := h.raw(url.Values{"Action": {"Publish"}, "TopicArn": {arn}, "Message": {b1},
			"MessageAttributes.entry.1.Name": {"n"}, "MessageAttributes.entry.1.Value.DataType": {"Number"}, "MessageAttributes.entry.1.Value.StringValue": {"twelve"}})
		if err != nil {
			h.addPub(arn, []string{b1}, true)
			return err
		}
		if status != http.StatusOK {
			h.refused("Publish with a wrong-typed attribute", status, body)
			return nil
		}
		if h.topics[arn] == nil {
			h.t.Errorf("Publish to missing topic %s answered %s", arn, body)
			return nil
		}
		h.addPub(arn, []string{b1}, false)
		h.logf("publish %q to %s with a wrong-typed attribute (failing %v)", b1, arn, h.failing)
	case 3: // Subscribe with RawMessageDelivery neither true nor false, and strays
		q := h.queues[h.r.IntN(len(h.queues))]
		status, body, err := h.raw(url.Values{"Action": {"Subscribe"}, "TopicArn": {arn}, "Protocol": {"sqs"}, "Endpoint": {queueARN(q)},
			"Attributes.entry.1.key": {"RawMessageDelivery"}, "Attributes.entry.1.value": {"perhaps"}, "ReturnSubscriptionArn": {"maybe"}, "Extra": {""}})
		if err != nil {
			h.maybe = &snsUncertain{what: "Subscribe with stray parameters", sub: &mSub{topic: arn, queue: q}}
			return err
		}
		if status != http.StatusOK {
			h.refused("Subscribe with stray parameters", status, body)
			return nil
		}
		h.t.Errorf("Subscribe with RawMessageDelivery=perhaps was accepted: %s", body)
	default: // Unsubscribe with its ARN twice
		s := h.pickSub()
		if s == nil {
			return nil
		}
		status, body, err := h.raw(url.Values{"Action": {"Unsubscribe"}, "SubscriptionArn": {s.arn, s.arn}, "TopicArn": {"7"}})
		if err != nil {
			h.maybe = &snsUncertain{what: "Unsubscribe with stray parameters", sub: s, remove: true}
			return err
		}
		if status != http.StatusOK {
			h.refused("Unsubscribe with stray parameters", status, body)
			return nil
		}
		delete(h.topics[s.topic].subs, s.arn)
		h.logf("unsubscribe %s with stray parameters", s.arn)
	}
	return nil
}

func (h *snsHarness) raw(form url.Values) (int, string, error) {
	resp, err := h.http.PostForm(h.p.Endpoint()+"/", form)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	return resp.StatusCode, string(b), nil
}

func (h *snsHarness) refused(what string, status int, body string) {
	h.strayRefused++
	h.logf("%s refused: %d %s", what, status, body)
	var e struct {
		Code string `xml:"Error>Code"`
		Type string `xml:"Error>Type"`
	}
	if status < 400 || status >= 500 || xml.Unmarshal([]byte(body), &e) != nil || e.Code == "" || e.Type != "Sender" {
		h.t.Errorf("%s: refused with %d, not as an AWS client error: %s", what, status, body)
	}
}

// cleanRestart stops the child cleanly, whatever its deliveries are doing
// (a failing one is interrupted by Close and stays pending on file), and
// starts it again.
func (h *snsHarness) cleanRestart() {
	failing := h.failing
	if err := h.p.Stop(); err != nil {
		h.t.Fatal(err)
	}
	h.stops++
	h.restart()
	h.logf("clean restart")
	if failing != h.failing {
		if err := h.setFailing(failing); err != nil {
			h.t.Fatal(err)
		}
	}
	h.reconcileListings()
}

func (h *snsHarness) killBetween() {
	if !h.p.Kill() {
		h.t.Fatal("the child had exited before it was killed")
	}
	h.killsBetween++
	h.restart()
	h.logf("kill between requests, restart")
	h.reconcileListings()
}

func (h *snsHarness) killDuring() {
	dead := h.p.KillAfter(time.Duration(h.r.IntN(5000)) * time.Microsecond)
	for i := 0; ; i++ {
		if i > 10000 {
			h.t.Fatal("10,000 requests after a kill were all answered")
		}
		err := h.operation()
		if err == nil {
			continue
		}
		if !errors.Is(err, errNoAnswer) || !<-dead {
			h.t.Fatalf("the child died without being killed: %v", err)
		}
		break
	}
	h.killsDuring++
	what := "nothing"
	if h.maybe != nil {
		what = h.maybe.what
	}
	h.logf("killed during %s, restart", what)
	h.restart()
	h.reconcileListings()
}

func (h *snsHarness) restart() {
	h.p.Restart(childArg{Now: h.now, Failing: h.failing}.String())
	h.connect()
}

// reconcileListings checks the restarted child's topics and subscriptions
// against the model, allowing for what the request a kill cut short may
// have done, and brings the model to what the child holds.
func (h *snsHarness) reconcileListings() {
	mb := h.maybe
	h.maybe = nil
	if mb != nil {
		topics, subs, err := h.listings()
		if err != nil {
			h.t.Fatal(err)
		}
		switch {
		case mb.topic != "" && !mb.remove && topics[mb.topic]:
			h.created(mb.topic)
		case mb.topic != "" && mb.remove && !topics[mb.topic]:
			delete(h.topics, mb.topic)
		case mb.sub != nil && mb.remove && subs[mb.sub.arn] == nil:
			if t := h.topics[mb.sub.topic]; t != nil {
				delete(t.subs, mb.sub.arn)
			}
		case mb.sub != nil && !mb.remove:
			for arn, s := range subs {
				if t := h.topics[s.topic]; t != nil && t.subs[arn] == nil && s.topic == mb.sub.topic && s.queue == mb.sub.queue {
					s.raw = mb.sub.raw
					t.subs[arn] = s
				}
			}
		}
	}
	h.checkListings(true)
}

// settle makes deliveries succeed, moves the clock past every pending
// retry, drains the queues and checks that every acknowledged publish
// reached every subscription it was published to that still exists, and
// that nothing else arrived.
func (h *snsHarness) settle() {
	h.settles++
	if err := h.setFailing(false); err != nil {
		h.t.Fatal(err)
	}
	if err := h.advance(30 * time.Second); err != nil {
		h.t.Fatal(err)
	}
	// Retries run on the clock's goroutines, so deliveries may still be
	// arriving, and a retry that an earlier move of the clock started may
	// schedule its next attempt only now: drain until every one due has
	// come, moving the clock on now and then, for a while.
	deadline := time.Now().Add(10 * time.Second)
	for i := 1; ; i++ {
		for _, q := range h.queues {
			h.drain(q)
		}
		missing := h.missing()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, m := range missing {
				h.t.Errorf("an acknowledged publish never arrived: %s", m)
				h.t.Logf("the model's operations around its publish:\n%s", h.around(m[2:16]))
			}
			break
		}
		time.Sleep(time.Millisecond) // real time: the child's goroutines deliver
		if i%20 == 0 {
			if err := h.advance(21 * time.Second); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	h.logf("settled")
}

// missing lists the deliveries owed and not seen.
func (h *snsHarness) missing() []string {
	var out []string
	for _, p := range uniquePubs(h.pubs) {
		if p.maybe {
			continue
		}
		for arn, s := range p.to {
			if t := h.topics[s.topic]; t == nil || t.subs[arn] == nil {
				continue // unsubscribed since: not owed
			}
			if !p.seen[s.queue] {
				out = append(out, fmt.Sprintf("%q published to %s, for %s (%s, raw %v)", p.bodies, p.topic, s.queue, arn, s.raw))
			}
		}
	}
	slices.Sort(out)
	return out
}

func uniquePubs(m map[string]*mPub) []*mPub {
	var out []*mPub
	seen := map[*mPub]bool{}
	for _, p := range m {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// drain receives and deletes everything in queue q, matching each message
// to a publish.
func (h *snsHarness) drain(q string) {
	u := h.p.Endpoint() + "/" + account + "/" + q
	for {
		out, err := h.sqs.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(u), MaxNumberOfMessages: 10, VisibilityTimeout: 300})
		if err != nil {
			h.t.Fatalf("drain %s: %v", q, err)
		}
		if len(out.Messages) == 0 {
			return
		}
		del := make([]sqstypes.DeleteMessageBatchRequestEntry, len(out.Messages))
		for i, m := range out.Messages {
			h.match(q, *m.Body)
			del[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle}
		}
		if _, err := h.sqs.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(u), Entries: del}); err != nil {
			h.t.Fatalf("drain %s: %v", q, err)
		}
	}
}

// match checks one delivery to queue q against the publishes.
func (h *snsHarness) match(q, body string) {
	h.delivered++
	message, topic, raw := body, "", true
	var env struct{ Type, Message, TopicArn, SigningCertURL string }
	if json.Unmarshal([]byte(body), &env) == nil && env.Type == "Notification" {
		message, topic, raw = env.Message, env.TopicArn, false
		if h.delivered%10 == 0 {
			e := decodeEnvelope(h.t, body)
			e["SigningCertURL"] = atEndpoint(env.SigningCertURL, h.p.Endpoint())
			if err := verifyEnvelope(h.t, e); err != nil {
				h.t.Errorf("an envelope delivered to %s does not verify: %v", q, err)
			}
		}
	}
	p := h.pubs[message]
	if p == nil {
		h.t.Errorf("%s received %q, which was never published", q, message)
		return
	}
	if topic != "" && topic != p.topic {
		h.t.Errorf("%s received %q from %s; it was published to %s", q, message, topic, p.topic)
	}
	var to *mSub
	for _, s := range p.to {
		if s.queue == q {
			to = s
		}
	}
	if to == nil {
		h.t.Errorf("%s received %q, published to %s, which had no subscription for it then", q, message, p.topic)
		return
	}
	if raw != to.raw {
		h.t.Errorf("%s received %q raw=%v; its subscription %s has raw=%v", q, message, raw, to.arn, to.raw)
	}
	if len(p.bodies) > 1 {
		for _, b := range p.bodies {
			if b != message {
				delete(h.pubs, b)
			}
		}
		p.bodies = []string{message}
	}
	if p.seen[q] {
		h.duplicates++
	}
	p.seen[q] = true
}

package sns_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/sns"
	"github.com/orderflow/orderflow/internal/poll"
)

// fifoTopicAttrs are the attributes of a FIFO topic, with content-based
// deduplication when cbd.
func fifoTopicAttrs(cbd bool) map[string]string {
	return map[string]string{"FifoTopic": "true", "ContentBasedDeduplication": fmt.Sprint(cbd)}
}

// wantAPIError checks err is an InvalidParameter (or the given code) with
// exactly msg.
func wantAPIError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("err = %v, want %s %q", err, code, msg)
	}
	if api.ErrorCode() != code || api.ErrorMessage() != msg {
		t.Errorf("error = %s %q, want %s %q", api.ErrorCode(), api.ErrorMessage(), code, msg)
	}
}

func TestFIFOTopicsAreCreatedAndReportedAsAWSDoes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		cbd := e.createTopic(t, "orders.fifo", fifoTopicAttrs(true))
		plain := e.createTopic(t, "plain.fifo", map[string]string{"FifoTopic": "true"})
		std := e.createTopic(t, "std", nil)
		attrs := func(arn string) map[string]string {
			out, err := e.client.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
			if err != nil {
				t.Fatalf("GetTopicAttributes: %v", err)
			}
			return out.Attributes
		}
		if got := attrs(cbd); got["FifoTopic"] != "true" || got["ContentBasedDeduplication"] != "true" {
			t.Errorf("FIFO topic with content-based deduplication reports FifoTopic=%q ContentBasedDeduplication=%q", got["FifoTopic"], got["ContentBasedDeduplication"])
		}
		if got := attrs(plain); got["FifoTopic"] != "true" || got["ContentBasedDeduplication"] != "false" {
			t.Errorf("FIFO topic reports FifoTopic=%q ContentBasedDeduplication=%q, want true and false", got["FifoTopic"], got["ContentBasedDeduplication"])
		}
		if got := attrs(std); got["FifoTopic"] != "" || got["ContentBasedDeduplication"] != "" {
			t.Errorf("standard topic reports FIFO attributes: %v", got)
		}
		if again := e.createTopic(t, "orders.fifo", fifoTopicAttrs(true)); again != cbd {
			t.Errorf("CreateTopic again = %s, want %s", again, cbd)
		}
		set := func(arn, name, value string) error {
			_, err := e.client.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(arn), AttributeName: aws.String(name), AttributeValue: aws.String(value)})
			return err
		}
		if err := set(plain, "ContentBasedDeduplication", "true"); err != nil {
			t.Fatalf("set ContentBasedDeduplication: %v", err)
		}
		if err := set(plain, "FifoThroughputScope", "MessageGroup"); err != nil {
			t.Fatalf("set FifoThroughputScope: %v", err)
		}
		if got := attrs(plain); got["ContentBasedDeduplication"] != "true" || got["FifoThroughputScope"] != "MessageGroup" {
			t.Errorf("after SetTopicAttributes: %v", got)
		}
		create := func(name string, attrs map[string]string) error {
			_, err := e.client.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(name), Attributes: attrs})
			return err
		}
		tests := []struct {
			name, msg string
			err       error
		}{
			{"a .fifo name without FifoTopic", "Invalid parameter: Topic Name", create("test.fifo", nil)},
			{"FifoTopic without a .fifo name", "Invalid parameter: Topic Name", create("test", map[string]string{"FifoTopic": "true"})},
			{"a FIFO name of 257 characters", "Invalid parameter: Topic Name", create(strings.Repeat("a", 252)+".fifo", map[string]string{"FifoTopic": "true"})},
			{"a dot before .fifo", "Invalid parameter: Topic Name", create("a.b.fifo", map[string]string{"FifoTopic": "true"})},
			{"a bare .fifo", "Invalid parameter: Topic Name", create(".fifo", map[string]string{"FifoTopic": "true"})},
			{"FifoTopic=yes", "Invalid parameter: Attributes Reason: FifoTopic: Invalid value [yes]. Must be true or false.", create("y", map[string]string{"FifoTopic": "yes"})},
			{"ContentBasedDeduplication on a standard topic", "Invalid parameter: Attributes Reason: ContentBasedDeduplication: only FIFO topics support this attribute", set(std, "ContentBasedDeduplication", "true")},
			{"ContentBasedDeduplication=maybe", "Invalid parameter: Attributes Reason: ContentBasedDeduplication: Invalid value [maybe]. Must be true or false.", set(cbd, "ContentBasedDeduplication", "maybe")},
			{"FifoThroughputScope=Queue", "Invalid parameter: Attributes Reason: FifoThroughputScope: Invalid value [Queue]. Please use either Topic or MessageGroup", set(cbd, "FifoThroughputScope", "Queue")},
			{"FifoTopic set after creation", "Invalid parameter: AttributeName", set(std, "FifoTopic", "false")},
			{"a FIFO topic's attributes differing", "Invalid parameter: Attributes Reason: Topic already exists with different attributes", create("orders.fifo", fifoTopicAttrs(false))},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { wantAPIError(t, tt.err, "InvalidParameter", tt.msg) })
		}
		if err := create(strings.Repeat("a", 251)+".fifo", map[string]string{"FifoTopic": "true"}); err != nil {
			t.Errorf("a FIFO name of 256 characters: %v", err)
		}
	})
}

func TestPublishingToFIFOAndStandardTopicsFollowsAWSRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		fifo := e.createTopic(t, "orders.fifo", fifoTopicAttrs(false))
		std := e.createTopic(t, "std", nil)
		e.subscribe(t, fifo, "q.fifo", nil)
		pub := func(topic, group, dedup string) error {
			in := &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")}
			if group != "" {
				in.MessageGroupId = aws.String(group)
			}
			if dedup != "" {
				in.MessageDeduplicationId = aws.String(dedup)
			}
			_, err := e.client.Publish(ctx, in)
			return err
		}
		tests := []struct {
			name, msg string
			err       error
		}{
			{"no MessageGroupId on a FIFO topic", "Invalid parameter: The MessageGroupId parameter is required for FIFO topics", pub(fifo, "", "d")},
			{"no deduplication on a FIFO topic", "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly", pub(fifo, "g", "")},
			{"a MessageDeduplicationId on a standard topic", "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type", pub(std, "", "d")},
			{"a MessageGroupId of 129 characters", "Invalid parameter: MessageGroupId Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.", pub(fifo, strings.Repeat("g", 129), "d")},
			{"a MessageGroupId with a space", "Invalid parameter: MessageGroupId Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.", pub(fifo, "a b", "d")},
			{"a MessageGroupId that is not ASCII", "Invalid parameter: MessageGroupId Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.", pub(fifo, "grüppe", "d")},
			{"a MessageGroupId with a control character", "Invalid parameter: MessageGroupId Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.", pub(std, "a\tb", "")},
			{"a MessageDeduplicationId of 129 characters", "Invalid parameter: MessageDeduplicationId Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.", pub(fifo, "g", strings.Repeat("d", 129))},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { wantAPIError(t, tt.err, "InvalidParameter", tt.msg) })
		}
		if got := e.svc.Stats().Published; got != 0 {
			t.Fatalf("Published = %d after only refused publishes", got)
		}
		longest := strings.Repeat("g", 128)
		punct := `!"#$%&'()*+,-./:;<=>?@[\]^_` + "`{|}~"
		if err := pub(fifo, longest, punct); err != nil {
			t.Errorf("128-character group id and punctuation deduplication id: %v", err)
		}
		got := e.queues.to(queueARN("q.fifo"))
		if len(got) != 1 || got[0].MessageGroupID != longest || got[0].MessageDeduplicationID != punct {
			t.Errorf("deliveries = %+v, want the group and deduplication ids carried through", got)
		}
	})
}

func TestPublishBatchToAFIFOTopicRefusesTheWholeBatchAsAWSDoes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		fifo := e.createTopic(t, "orders.fifo", fifoTopicAttrs(false))
		std := e.createTopic(t, "std", nil)
		entry := func(id, group, dedup string) types.PublishBatchRequestEntry {
			en := types.PublishBatchRequestEntry{Id: aws.String(id), Message: aws.String("m" + id)}
			if group != "" {
				en.MessageGroupId = aws.String(group)
			}
			if dedup != "" {
				en.MessageDeduplicationId = aws.String(dedup)
			}
			return en
		}
		batch := func(topic string, entries ...types.PublishBatchRequestEntry) error {
			_, err := e.client.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: entries})
			return err
		}
		wantAPIError(t, batch(fifo, entry("1", "g", "d1"), entry("2", "", "d2")),
			"InvalidParameter", "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
		wantAPIError(t, batch(fifo, entry("1", "g", "d1"), entry("2", "g", "")),
			"InvalidParameter", "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		wantAPIError(t, batch(std, entry("1", "", ""), entry("2", "", "d2")),
			"InvalidParameter", "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
		var eleven []types.PublishBatchRequestEntry
		for i := range 11 {
			eleven = append(eleven, entry(fmt.Sprint(i), "g", fmt.Sprint("d", i)))
		}
		wantAPIError(t, batch(fifo, eleven...), "TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible.")
		big := strings.Repeat("x", 100_000)
		huge := []types.PublishBatchRequestEntry{entry("1", "g", "d1"), entry("2", "g", "d2"), entry("3", "g", "d3")}
		for i := range huge {
			huge[i].Message = aws.String(big)
		}
		wantAPIError(t, batch(fifo, huge...), "BatchRequestTooLong", "The length of all the messages put together is more than the limit.")
		if got := e.svc.Stats().Published; got != 0 {
			t.Errorf("Published = %d after only refused batches", got)
		}
		// An entry with a malformed group id fails alone.
		out, err := e.client.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String(fifo), PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
			entry("ok", "g", "d1"), entry("bad", strings.Repeat("g", 130), "d2"),
		}})
		if err != nil {
			t.Fatalf("PublishBatch: %v", err)
		}
		if len(out.Successful) != 1 || aws.ToString(out.Successful[0].Id) != "ok" || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Code) != "InvalidParameter" {
			t.Errorf("PublishBatch = %+v / %+v, want ok to succeed and bad to fail with InvalidParameter", out.Successful, out.Failed)
		}
	})
}

var sequenceNumberForm = regexp.MustCompile(`^[0-9]{20}$`)

func TestAFIFOTopicDeliversToFIFOQueuesWithItsGroupAndDeduplicationIDs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "orders.fifo", fifoTopicAttrs(true))
		e.subscribe(t, topic, "q.fifo", nil)
		e.subscribe(t, topic, "raw.fifo", map[string]string{"RawMessageDelivery": "true"})
		e.subscribe(t, topic, "standard", nil)
		out, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("Test"), MessageGroupId: aws.String("message-group-id-1")})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		seq := aws.ToString(out.SequenceNumber)
		if !sequenceNumberForm.MatchString(seq) {
			t.Errorf("SequenceNumber = %q, want 20 digits", seq)
		}
		// The deduplication id AWS passes on for content-based
		// deduplication of "Test" (recorded against AWS): its SHA-256.
		const testSHA256 = "532eaabd9574880dbf76b9b8cc00832c20a6ec113d682299550d7a6e0f345e25"
		for _, q := range []string{"q.fifo", "raw.fifo"} {
			got := e.queues.to(queueARN(q))
			if len(got) != 1 || got[0].MessageGroupID != "message-group-id-1" || got[0].MessageDeduplicationID != testSHA256 {
				t.Fatalf("deliveries to %s = %+v, want group message-group-id-1 and deduplication id %s", q, got, testSHA256)
			}
		}
		if raw := e.queues.to(queueARN("raw.fifo"))[0]; raw.Body != "Test" {
			t.Errorf("raw delivery body = %q, want Test", raw.Body)
		}
		st := e.queues.to(queueARN("standard"))
		if len(st) != 1 || st[0].MessageGroupID != "" || st[0].MessageDeduplicationID != "" {
			t.Fatalf("deliveries to a standard queue = %+v, want one without group or deduplication id", st)
		}
		d := e.queues.to(queueARN("q.fifo"))[0]
		wantKeys := []string{"Type", "MessageId", "SequenceNumber", "TopicArn", "Message", "Timestamp", "UnsubscribeURL"}
		if got := envelopeKeys(t, d.Body); !slices.Equal(got, wantKeys) {
			t.Errorf("FIFO envelope keys = %v, want %v (no signature, as AWS sends)", got, wantKeys)
		}
		env := decodeEnvelope(t, d.Body)
		if env["SequenceNumber"] != seq || env["MessageId"] != aws.ToString(out.MessageId) || env["Message"] != "Test" {
			t.Errorf("envelope = %v, want the publish's id and sequence number", env)
		}
	})
}

func TestAStandardTopicPassesMessageGroupIdToItsQueues(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "std", nil)
		e.subscribe(t, topic, "q", nil)
		out, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"), MessageGroupId: aws.String("my-group-id-1")})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if out.SequenceNumber != nil {
			t.Errorf("SequenceNumber = %q on a standard topic", *out.SequenceNumber)
		}
		got := e.queues.to(queueARN("q"))
		if len(got) != 1 || got[0].MessageGroupID != "my-group-id-1" || got[0].MessageDeduplicationID != "" {
			t.Fatalf("deliveries = %+v, want the group id passed on (fair queues)", got)
		}
		if keys := envelopeKeys(t, got[0].Body); !slices.Contains(keys, "Signature") || slices.Contains(keys, "SequenceNumber") {
			t.Errorf("standard envelope keys = %v", keys)
		}
	})
}

func TestADuplicateWithinFiveMinutesIsAnsweredAlikeAndNotDelivered(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "orders.fifo", fifoTopicAttrs(false))
		e.subscribe(t, topic, "q.fifo", nil)
		pub := func(group, dedup, msg string) *awssns.PublishOutput {
			t.Helper()
			out, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(msg),
				MessageGroupId: aws.String(group), MessageDeduplicationId: aws.String(dedup)})
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}
			return out
		}
		first := pub("g1", "d1", "one")
		e.clock.Advance(sns.DeduplicationWindow - time.Millisecond)
		dup := pub("g2", "d1", "another body")
		if *dup.MessageId != *first.MessageId || *dup.SequenceNumber != *first.SequenceNumber {
			t.Errorf("duplicate answered %s/%s, want the first's %s/%s", *dup.MessageId, *dup.SequenceNumber, *first.MessageId, *first.SequenceNumber)
		}
		if got := len(e.queues.to(queueARN("q.fifo"))); got != 1 {
			t.Fatalf("deliveries = %d after a duplicate, want 1", got)
		}
		e.clock.Advance(time.Millisecond) // the window has passed
		later := pub("g1", "d1", "one")
		if *later.MessageId == *first.MessageId || *later.SequenceNumber <= *first.SequenceNumber {
			t.Errorf("after the window: %s/%s, want a new message with a higher sequence number than %s", *later.MessageId, *later.SequenceNumber, *first.SequenceNumber)
		}
		if got := len(e.queues.to(queueARN("q.fifo"))); got != 2 {
			t.Fatalf("deliveries = %d after the window, want 2", got)
		}
		// A batch sent twice is answered twice alike, and delivered once.
		entries := []types.PublishBatchRequestEntry{
			{Id: aws.String("1"), Message: aws.String("b1"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("b1")},
			{Id: aws.String("2"), Message: aws.String("b2"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("b2")},
		}
		var answers [2][]types.PublishBatchResultEntry
		for i := range answers {
			out, err := e.client.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: entries})
			if err != nil {
				t.Fatalf("PublishBatch: %v", err)
			}
			answers[i] = out.Successful
		}
		for i := range answers[0] {
			a, b := answers[0][i], answers[1][i]
			if *a.MessageId != *b.MessageId || *a.SequenceNumber != *b.SequenceNumber {
				t.Errorf("entry %s answered %s/%s then %s/%s", *a.Id, *a.MessageId, *a.SequenceNumber, *b.MessageId, *b.SequenceNumber)
			}
		}
		if got := len(e.queues.to(queueARN("q.fifo"))); got != 4 {
			t.Errorf("deliveries = %d after a batch sent twice, want 4", got)
		}
	})
}

func TestWithMessageGroupScopeDeduplicationIsPerGroup(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		attrs := fifoTopicAttrs(false)
		attrs["FifoThroughputScope"] = "MessageGroup"
		topic := e.createTopic(t, "orders.fifo", attrs)
		e.subscribe(t, topic, "q.fifo", nil)
		for _, g := range []string{"g1", "g2", "g1"} {
			if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"),
				MessageGroupId: aws.String(g), MessageDeduplicationId: aws.String("same")}); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		var groups []string
		for _, d := range e.queues.to(queueARN("q.fifo")) {
			groups = append(groups, d.MessageGroupID)
		}
		if !slices.Equal(groups, []string{"g1", "g2"}) {
			t.Errorf("delivered groups = %v, want [g1 g2]: the id is a duplicate only within its group", groups)
		}
	})
}

func TestABatchIsDeliveredInOrderWithIncreasingSequenceNumbers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		topic := e.createTopic(t, "orders.fifo", fifoTopicAttrs(true))
		e.subscribe(t, topic, "q.fifo", map[string]string{"RawMessageDelivery": "true"})
		var entries []types.PublishBatchRequestEntry
		var want []string
		for i := range 10 {
			msg := fmt.Sprint("m", i)
			want = append(want, msg)
			entries = append(entries, types.PublishBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), Message: aws.String(msg), MessageGroupId: aws.String("g")})
		}
		out, err := e.client.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: entries})
		if err != nil {
			t.Fatalf("PublishBatch: %v", err)
		}
		for i := 1; i < len(out.Successful); i++ {
			if *out.Successful[i].SequenceNumber <= *out.Successful[i-1].SequenceNumber {
				t.Errorf("sequence numbers do not increase: %s then %s", *out.Successful[i-1].SequenceNumber, *out.Successful[i].SequenceNumber)
			}
		}
		var got []string
		for _, d := range e.queues.to(queueARN("q.fifo")) {
			got = append(got, d.Body)
		}
		if !slices.Equal(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
	})
}

func TestSubscriptionsToFIFOTopicsFollowAWSRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		fifo := e.createTopic(t, "orders.fifo", fifoTopicAttrs(true))
		std := e.createTopic(t, "std", nil)
		sub := func(topic, queue string, attrs map[string]string) (string, error) {
			out, err := e.client.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"),
				Endpoint: aws.String(queueARN(queue)), Attributes: attrs, ReturnSubscriptionArn: true})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.SubscriptionArn), nil
		}
		_, err := sub(std, "q.fifo", nil)
		wantAPIError(t, err, "InvalidParameter", "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics")
		if _, err := sub(fifo, "standard", nil); err != nil {
			t.Errorf("a standard queue subscribing to a FIFO topic: %v", err)
		}
		redrive := func(dlq string) map[string]string {
			return map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + queueARN(dlq) + `"}`}
		}
		const dlqMsg = "Invalid parameter: RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic."
		_, err = sub(fifo, "q.fifo", redrive("dlq"))
		wantAPIError(t, err, "InvalidParameter", dlqMsg)
		arn, err := sub(fifo, "q.fifo", redrive("dlq.fifo"))
		if err != nil {
			t.Fatalf("a FIFO dead-letter queue: %v", err)
		}
		_, err = e.client.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(arn),
			AttributeName: aws.String("RedrivePolicy"), AttributeValue: aws.String(redrive("dlq")["RedrivePolicy"])})
		wantAPIError(t, err, "InvalidParameter", dlqMsg)
	})
}

func TestAFailedDeliveryKeepsTheLaterMessagesOfItsGroupBehindIt(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		failures := 4 // m1's first attempt and its three immediate retries
		e.queues.DeliverFunc = func(_ context.Context, d sns.Delivery) error {
			if strings.Contains(d.Body, "m1") && failures > 0 {
				failures--
				return errors.New("throttled")
			}
			return nil
		}
		topic := e.createTopic(t, "orders.fifo", fifoTopicAttrs(true))
		e.subscribe(t, topic, "q.fifo", map[string]string{"RawMessageDelivery": "true"})
		e.subscribe(t, topic, "other.fifo", map[string]string{"RawMessageDelivery": "true", "FilterPolicy": `{"never":["x"]}`})
		for _, m := range []struct{ body, group string }{{"m1", "g1"}, {"m2", "g1"}, {"n1", "g2"}, {"m3", "g1"}} {
			if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(m.body), MessageGroupId: aws.String(m.group)}); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		bodies := func() []string {
			var out []string
			for _, d := range e.queues.to(queueARN("q.fifo")) {
				out = append(out, d.Body)
			}
			return out
		}
		if got := bodies(); !slices.Equal(got, []string{"n1"}) {
			t.Fatalf("delivered before m1's retry = %v, want only the other group's n1", got)
		}
		e.clock.Advance(time.Second) // m1's first delayed retry
		waitDelivered(t, e.queues, queueARN("q.fifo"), 4)
		if got := bodies(); !slices.Equal(got, []string{"n1", "m1", "m2", "m3"}) {
			t.Errorf("delivered = %v, want n1 then g1's m1, m2, m3 in order", got)
		}
		if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m4"), MessageGroupId: aws.String("g1")}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if got := bodies(); len(got) != 5 || got[4] != "m4" {
			t.Errorf("delivered = %v, want m4 at once once the group caught up", got)
		}
	})
}

func TestAFIFOTopicsDeduplicationWindowAndSequenceSurviveARestart(t *testing.T) {
	q := &fakeQueues{}
	n := newSNSNode(t, q)
	topic := n.createTopic(t, "orders.fifo", fifoTopicAttrs(false))
	n.subscribe(t, topic, "q.fifo", nil)
	pub := func(dedup string) *awssns.PublishOutput {
		t.Helper()
		out, err := n.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"),
			MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String(dedup)})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		return out
	}
	first := pub("d1")
	second := pub("d2")
	n.restart(t, time.Minute, q)
	out, err := n.client.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(topic)})
	if err != nil {
		t.Fatalf("GetTopicAttributes: %v", err)
	}
	if out.Attributes["FifoTopic"] != "true" || out.Attributes["ContentBasedDeduplication"] != "false" {
		t.Errorf("after a restart the topic reports FifoTopic=%q ContentBasedDeduplication=%q", out.Attributes["FifoTopic"], out.Attributes["ContentBasedDeduplication"])
	}
	dup := pub("d1")
	if *dup.MessageId != *first.MessageId || *dup.SequenceNumber != *first.SequenceNumber {
		t.Errorf("a duplicate after the restart answered %s/%s, want %s/%s", *dup.MessageId, *dup.SequenceNumber, *first.MessageId, *first.SequenceNumber)
	}
	if got := len(q.to(queueARN("q.fifo"))); got != 2 {
		t.Errorf("deliveries = %d, want 2: the duplicate is not delivered", got)
	}
	third := pub("d3")
	if *third.SequenceNumber <= *second.SequenceNumber {
		t.Errorf("sequence number after the restart %s, want above %s", *third.SequenceNumber, *second.SequenceNumber)
	}
	// Past the window (measured from the first publish), d1 is new again,
	// and a later start forgets what has expired.
	n.restart(t, sns.DeduplicationWindow, q)
	if again := pub("d1"); *again.MessageId == *first.MessageId {
		t.Errorf("d1 after the window answered with the first message's id")
	}
	if got := len(q.to(queueARN("q.fifo"))); got != 4 {
		t.Errorf("deliveries = %d, want 4", got)
	}
}

func TestAFIFOTopicDeletedAndCreatedAgainStartsAfresh(t *testing.T) {
	q := &fakeQueues{}
	n := newSNSNode(t, q)
	topic := n.createTopic(t, "orders.fifo", fifoTopicAttrs(false))
	n.subscribe(t, topic, "q.fifo", nil)
	in := &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d1")}
	first, err := n.client.Publish(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.client.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(topic)}); err != nil {
		t.Fatal(err)
	}
	n.restart(t, 0, q)
	n.createTopic(t, "orders.fifo", fifoTopicAttrs(false))
	n.subscribe(t, topic, "q.fifo", nil)
	again, err := n.client.Publish(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if *again.MessageId == *first.MessageId {
		t.Errorf("the new topic answered with the deleted topic's message")
	}
	if got := len(q.to(queueARN("q.fifo"))); got != 2 {
		t.Errorf("deliveries = %d, want 2", got)
	}
}

func TestDeliveriesHeldBehindARetryStayInOrderAcrossARestart(t *testing.T) {
	failing := &fakeQueues{DeliverFunc: func(_ context.Context, d sns.Delivery) error {
		if d.Body == "m1" {
			return errors.New("throttled")
		}
		return nil
	}}
	n := newSNSNode(t, failing)
	topic := n.createTopic(t, "orders.fifo", fifoTopicAttrs(true))
	n.subscribe(t, topic, "q.fifo", map[string]string{"RawMessageDelivery": "true"})
	for _, m := range []string{"m1", "m2", "m3"} {
		if _, err := n.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(m), MessageGroupId: aws.String("g")}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if got := failing.to(queueARN("q.fifo")); len(got) != 0 {
		t.Fatalf("delivered %d behind a failing m1", len(got))
	}
	if got := pendingRetries(t, n); got != 3 {
		t.Fatalf("retry records = %d, want m1's retry and m2, m3 held behind it", got)
	}
	healthy := &fakeQueues{}
	n.restart(t, 0, healthy)
	n.clock.Advance(time.Second)
	got := waitDelivered(t, healthy, queueARN("q.fifo"), 3)
	var bodies []string
	for _, d := range got {
		bodies = append(bodies, d.Body)
		if d.MessageGroupID != "g" || d.MessageDeduplicationID == "" {
			t.Errorf("recovered delivery %q lost its ids: %+v", d.Body, d)
		}
	}
	if !slices.Equal(bodies, []string{"m1", "m2", "m3"}) {
		t.Errorf("delivered after the restart %v, want m1, m2, m3", bodies)
	}
	if !poll.Within(5*time.Second, func() bool { return pendingRetries(t, n) == 0 }) {
		t.Error("the delivered records are still in the file")
	}
}

func TestInMemoryDeliveriesHeldBehindAStoppedRetryCountAsLostOnClose(t *testing.T) {
	q := &fakeQueues{DeliverFunc: func(_ context.Context, d sns.Delivery) error {
		if d.Body == "m1" {
			return errors.New("throttled")
		}
		return nil
	}}
	svc, err := sns.New(sns.Options{Queues: q, Clock: clock.NewFake(t1), Signer: testSigner(t)})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := svc.CreateTopic(ctx, "orders.fifo", fifoTopicAttrs(true), nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := svc.Subscribe(ctx, topic, "sqs", queueARN("q.fifo"), map[string]string{"RawMessageDelivery": "true"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"m1", "m2"} {
		if _, err := svc.Publish(ctx, sns.PublishInput{TopicARN: topic, Message: m, MessageGroupID: "g"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if st := svc.Stats().Subscriptions[sub]; st.Failed != 2 || st.DeadLetterFailed != 2 || st.Delivered != 0 {
		t.Errorf("stats = %+v, want m1 and m2 counted as failed and lost", st)
	}
}

func TestAFIFODeliveryDeadLettersWithItsGroupAndDeduplicationIDs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.newEnv(t)
		e.queues.DeliverFunc = func(_ context.Context, d sns.Delivery) error {
			if d.QueueARN == queueARN("q.fifo") {
				return fmt.Errorf("%w: gone", sns.ErrQueueNotFound)
			}
			return nil
		}
		topic := e.createTopic(t, "orders.fifo", fifoTopicAttrs(false))
		e.subscribe(t, topic, "q.fifo", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + queueARN("dlq.fifo") + `"}`})
		for _, m := range []string{"m1", "m2"} {
			if _, err := e.client.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(m),
				MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("MessageDeduplicationId-" + m)}); err != nil {
				t.Fatal(err)
			}
		}
		got := e.queues.to(queueARN("dlq.fifo"))
		if len(got) != 2 {
			t.Fatalf("dead-lettered %d, want 2", len(got))
		}
		for i, d := range got {
			env := decodeEnvelope(t, d.Body)
			want := fmt.Sprint("m", i+1)
			if env["Message"] != want || d.MessageGroupID != "g" || d.MessageDeduplicationID != "MessageDeduplicationId-"+want {
				t.Errorf("dead-letter %d = %q group %q deduplication id %q, want %s with group g and MessageDeduplicationId-%s",
					i, env["Message"], d.MessageGroupID, d.MessageDeduplicationID, want, want)
			}
		}
	})
}

package cloud_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/sns"
	"github.com/orderflow/orderflow/internal/slowtest"
	"github.com/orderflow/orderflow/internal/testruntime"
)

// deliveryFixture is a topic with one raw SQS subscription, made through the
// public APIs, as any AWS client would make it.
type deliveryFixture struct {
	sns      *awssns.Client
	sqs      *awssqs.Client
	topicARN string
	subARN   string
	queueURL string
	dlqURL   string
}

const accountID = "000000000000"

func sqsARN(name string) string { return "arn:aws:sqs:us-east-1:" + accountID + ":" + name }

// allowSNS is a queue policy that lets SNS send to the queue.
func allowSNS(queue string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"` + sqsARN(queue) + `"}]}`
}

// setUpDelivery creates (or finds again, after a restart: every call is
// idempotent) the queue "deliveries" (its policy allowing SNS unless
// denied), the dead-letter queue "undelivered" (allowing SNS) and the topic
// "orders" with a raw subscription of the queue whose dead-letter queue is
// "undelivered" when withDLQ.
func setUpDelivery(t *testing.T, cfg aws.Config, denied, withDLQ bool) deliveryFixture {
	t.Helper()
	ctx := context.Background()
	f := deliveryFixture{sns: awssns.NewFromConfig(cfg), sqs: awssqs.NewFromConfig(cfg)}
	attrs := map[string]string{"Policy": allowSNS("deliveries")}
	if denied {
		attrs = nil
	}
	q, err := f.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("deliveries"), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	f.queueURL = aws.ToString(q.QueueUrl)
	dlq, err := f.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("undelivered"), Attributes: map[string]string{"Policy": allowSNS("undelivered")}})
	if err != nil {
		t.Fatal(err)
	}
	f.dlqURL = aws.ToString(dlq.QueueUrl)
	topic, err := f.sns.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	f.topicARN = aws.ToString(topic.TopicArn)
	subAttrs := map[string]string{"RawMessageDelivery": "true"}
	if withDLQ {
		subAttrs["RedrivePolicy"] = `{"deadLetterTargetArn":"` + sqsARN("undelivered") + `"}`
	}
	sub, err := f.sns.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(f.topicARN), Protocol: aws.String("sqs"),
		Endpoint: aws.String(sqsARN("deliveries")), Attributes: subAttrs, ReturnSubscriptionArn: true})
	if err != nil {
		t.Fatal(err)
	}
	f.subARN = aws.ToString(sub.SubscriptionArn)
	return f
}

func (f deliveryFixture) publish(t *testing.T, msg string) {
	t.Helper()
	if _, err := f.sns.Publish(context.Background(), &awssns.PublishInput{TopicArn: aws.String(f.topicARN), Message: aws.String(msg)}); err != nil {
		t.Fatalf("Publish(%q): %v", msg, err)
	}
}

// receiveOne long-polls queueURL for one message and deletes it; it fails
// the test if none comes within 10 s.
func (f deliveryFixture) receiveOne(t *testing.T, queueURL string) awssqsMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		out, err := f.sqs.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 20,
			MessageAttributeNames: []string{"All"}})
		if err != nil {
			break
		}
		if len(out.Messages) == 0 {
			continue
		}
		m := out.Messages[0]
		if _, err := f.sqs.DeleteMessage(context.Background(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
		got := awssqsMessage{Body: aws.ToString(m.Body), Attributes: map[string]string{}}
		for k, v := range m.MessageAttributes {
			got.Attributes[k] = aws.ToString(v.StringValue)
		}
		return got
	}
	t.Fatalf("no message arrived in %s within 10 s", queueURL)
	return awssqsMessage{}
}

type awssqsMessage struct {
	Body       string
	Attributes map[string]string
}

// depth is the queue's ApproximateNumberOfMessages (visible ones).
func (f deliveryFixture) depth(t *testing.T, queueURL string) int {
	t.Helper()
	out, err := f.sqs.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages"}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// startFake starts a cloud on a fake clock reading now; dir "" is memory.
func startFake(t *testing.T, dir string, now time.Time) (*cloud.Cloud, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(now)
	c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0", DataDir: dir, Clock: clk})
	if err != nil {
		t.Fatalf("start on %q: %v", dir, err)
	}
	return c, clk
}

var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// A delivery that fails with a server-side error waits in the data file for
// its retry. The restart that finds it due resumes it once the cloud
// serves: it used to fire while the cloud was still being built and
// panicked (a nil edge).
func TestADataFileHoldingADueSNSRetryRestartsCleanlyEveryTime(t *testing.T) {
	const rounds = 3
	t.Run("after a clean stop", func(t *testing.T) {
		dir := t.TempDir()
		for i := range rounds + 1 {
			c, _ := startFake(t, dir, base.Add(time.Duration(i)*time.Hour))
			f := setUpDelivery(t, c.Config(), false, true)
			if i > 0 {
				// The retry of the last round's publish was due at once.
				if got := f.receiveOne(t, f.queueURL).Body; got != fmt.Sprint("order ", i-1) {
					t.Errorf("round %d: the resumed retry delivered %q, want %q", i, got, fmt.Sprint("order ", i-1))
				}
				if st := settledStats(c, f.subARN); st.Delivered != 1 || st.Failed != 0 {
					t.Errorf("round %d: stats after the restart = %+v, want one delivery, nothing failed", i, st)
				}
			}
			if i < rounds {
				before := c.SNS.Stats().Subscriptions[f.subARN]
				c.SetFaults(cloud.Faults{FailedDeliveries: 1})
				f.publish(t, fmt.Sprint("order ", i))
				// Stats count since the start: this round's publish adds
				// three immediate retries and the scheduled one.
				if st := c.SNS.Stats().Subscriptions[f.subARN]; st.Retried != before.Retried+4 || st.Delivered != before.Delivered || st.Failed != 0 {
					t.Fatalf("round %d: stats after the failing publish = %+v (before it %+v), want it waiting for a retry", i, st, before)
				}
			}
			closeCloud(t, c)
		}
	})
	t.Run("after a crash", func(t *testing.T) {
		slowtest.Skip(t, "crashes of child processes")
		dir := t.TempDir()
		for i := range rounds {
			at := base.Add(time.Duration(2*i) * time.Hour)
			crashAfterAFailingPublish(t, dir, at, fmt.Sprint("order ", i))
			c, _ := startFake(t, dir, at.Add(time.Hour))
			f := setUpDelivery(t, c.Config(), false, true)
			if got := f.receiveOne(t, f.queueURL).Body; got != fmt.Sprint("order ", i) {
				t.Errorf("round %d: the resumed retry delivered %q", i, got)
			}
			if st := settledStats(c, f.subARN); st.Delivered != 1 || st.Failed != 0 {
				t.Errorf("round %d: stats after the restart = %+v, want one delivery, nothing failed", i, st)
			}
			closeCloud(t, c)
		}
	})
}

// settledStats returns a subscription's statistics once its delivery in
// progress has been counted: SNS counts a delivery when the attempt
// returns, a moment after SQS has stored the message a receiver may
// already hold. It gives up after five seconds and returns what it has.
func settledStats(c *cloud.Cloud, subARN string) sns.SubscriptionStats {
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := c.SNS.Stats().Subscriptions[subARN]
		if st.Delivered+st.Failed > 0 || time.Now().After(deadline) {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// crashChildEnv, when set to "DIR UNIXSECONDS MESSAGE", makes the test
// binary a child that starts a cloud on DIR with a fake clock at that time,
// publishes MESSAGE while every delivery fails server-side, says "ready"
// once Publish has answered, and waits to be killed.
const crashChildEnv = "ORDERFLOW_CLOUD_SNS_RETRY_CHILD"

func TestMain(m *testing.M) {
	// A zip function's bootstrap in lambda_api_test.go is this binary.
	testruntime.Main()
	if dir := os.Getenv(lambdaCrashChildEnv); dir != "" {
		os.Exit(createFunctionUntilKilled(dir))
	}
	if spec := os.Getenv(crashChildEnv); spec != "" {
		os.Exit(publishUntilKilled(spec))
	}
	os.Exit(m.Run())
}

func publishUntilKilled(spec string) int {
	parts := strings.SplitN(spec, " ", 3)
	secs, _ := strconv.ParseInt(parts[1], 10, 64)
	c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0", DataDir: parts[0], Clock: clock.NewFake(time.Unix(secs, 0).UTC())})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	cfg := c.Config()
	snsc, sqsc := awssns.NewFromConfig(cfg), awssqs.NewFromConfig(cfg)
	if _, err := sqsc.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("deliveries"), Attributes: map[string]string{"Policy": allowSNS("deliveries")}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := sqsc.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("undelivered"), Attributes: map[string]string{"Policy": allowSNS("undelivered")}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	topic, err := snsc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("orders")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := snsc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(sqsARN("deliveries")),
		Attributes: map[string]string{"RawMessageDelivery": "true", "RedrivePolicy": `{"deadLetterTargetArn":"` + sqsARN("undelivered") + `"}`}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c.SetFaults(cloud.Faults{FailedDeliveries: 1})
	if _, err := snsc.Publish(ctx, &awssns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(parts[2])}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if st := c.SNS.Stats(); st.Retried == 0 || st.Delivered != 0 {
		fmt.Fprintf(os.Stderr, "after the failing publish: %+v, want a retry pending\n", st)
		return 1
	}
	fmt.Println("ready")
	select {}
}

// crashAfterAFailingPublish runs the child of crashChildEnv on dir and
// kills it (SIGKILL) once it has published msg.
func crashAfterAFailingPublish(t *testing.T, dir string, at time.Time, msg string) {
	t.Helper()
	killWhenReady(t, fmt.Sprintf("%s=%s %d %s", crashChildEnv, dir, at.Unix(), msg), "published")
}

func TestSNSDeliveryFailuresAreClassifiedAsAWSClassifiesThem(t *testing.T) {
	t.Run("a raw message SQS refuses is not retried, and is counted as lost when the dead-letter queue refuses it too", func(t *testing.T) {
		c, clk := startFake(t, "", base)
		defer closeCloud(t, c)
		f := setUpDelivery(t, c.Config(), false, true)
		timers := clk.Pending()
		f.publish(t, "a control character \u0001 SQS does not allow")
		// One attempt at the queue, one at its dead-letter queue; none again.
		if got := c.Calls()["sqs:SendMessage (SNS delivery)"]; got != 2 {
			t.Errorf("delivery attempts = %d, want 2 (the queue once, its dead-letter queue once)", got)
		}
		if st := c.SNS.Stats().Subscriptions[f.subARN]; st != (sns.SubscriptionStats{Failed: 1, DeadLetterFailed: 1}) {
			t.Errorf("stats = %+v, want Failed 1, DeadLetterFailed 1, nothing retried", st)
		}
		if got := clk.Pending(); got != timers {
			t.Errorf("scheduled calls on the clock = %d after the publish, %d before: a retry is scheduled", got, timers)
		}
		f.publish(t, "a fine message")
		if got := f.receiveOne(t, f.queueURL).Body; got != "a fine message" {
			t.Errorf("the next message delivered %q", got)
		}
	})
	t.Run("a queue whose policy denies the topic sends the message to the dead-letter queue without a retry", func(t *testing.T) {
		c, _ := startFake(t, "", base)
		defer closeCloud(t, c)
		f := setUpDelivery(t, c.Config(), true, true)
		f.publish(t, "denied")
		m := f.receiveOne(t, f.dlqURL)
		if m.Body != "denied" || m.Attributes["ErrorCode"] != "AccessDenied" {
			t.Errorf("dead-lettered %+v, want the message with ErrorCode AccessDenied", m)
		}
		if st := c.SNS.Stats().Subscriptions[f.subARN]; st != (sns.SubscriptionStats{Failed: 1, DeadLettered: 1}) {
			t.Errorf("stats = %+v, want Failed 1, DeadLettered 1, nothing retried", st)
		}
		if got := c.Calls()["sqs:SendMessage (SNS delivery)"]; got != 2 {
			t.Errorf("delivery attempts = %d, want 2", got)
		}
	})
	t.Run("a queue that does not exist, without a dead-letter queue, loses the message and counts it", func(t *testing.T) {
		c, clk := startFake(t, "", base)
		defer closeCloud(t, c)
		f := setUpDelivery(t, c.Config(), false, false)
		if _, err := f.sqs.DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: aws.String(f.queueURL)}); err != nil {
			t.Fatal(err)
		}
		timers := clk.Pending()
		f.publish(t, "to nowhere")
		if got := clk.Pending(); got != timers {
			t.Errorf("scheduled calls on the clock = %d after the publish, %d before: a retry is scheduled", got, timers)
		}
		if st := c.SNS.Stats().Subscriptions[f.subARN]; st != (sns.SubscriptionStats{Failed: 1, DeadLetterFailed: 1}) {
			t.Errorf("stats = %+v, want Failed 1, DeadLetterFailed 1, nothing retried", st)
		}
		if got := c.Calls()["sqs:SendMessage (SNS delivery)"]; got != 1 {
			t.Errorf("delivery attempts = %d, want 1", got)
		}
	})
	t.Run("a delivery into a full queue is retried, not dead-lettered, and arrives once the queue drains", func(t *testing.T) {
		clk := clock.NewFake(base)
		c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0", Clock: clk, MaxQueueBytes: 8 << 10})
		if err != nil {
			t.Fatal(err)
		}
		defer closeCloud(t, c)
		f := setUpDelivery(t, c.Config(), false, true)
		ctx := context.Background()
		filler := strings.Repeat("x", 1<<10)
		for {
			_, err := f.sqs.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(f.queueURL), MessageBody: aws.String(filler)})
			if err != nil {
				if !strings.Contains(err.Error(), "RequestThrottled") {
					t.Fatalf("filling the queue: %v", err)
				}
				break
			}
		}
		full := f.depth(t, f.queueURL)
		f.publish(t, "once there is room")
		st := c.SNS.Stats().Subscriptions[f.subARN]
		if st.Retried != 4 || st.Failed != 0 || st.DeadLettered != 0 || st.Delivered != 0 {
			t.Errorf("stats after the full queue refused it = %+v, want 3 immediate retries and one scheduled, nothing dead-lettered", st)
		}
		if got := f.depth(t, f.dlqURL); got != 0 {
			t.Errorf("the dead-letter queue holds %d", got)
		}
		for range full { // drain
			if got := f.receiveOne(t, f.queueURL).Body; got != filler {
				t.Fatalf("drained %.20q before the retry, want the filler", got)
			}
		}
		clk.Advance(time.Second)
		if got := f.receiveOne(t, f.queueURL).Body; got != "once there is room" {
			t.Errorf("delivered %q", got)
		}
		if st := c.SNS.Stats().Subscriptions[f.subARN]; st.Delivered != 1 || st.Failed != 0 {
			t.Errorf("stats = %+v, want it delivered", st)
		}
	})
	t.Run("a server-side failure is retried on the delivery policy and then delivered", func(t *testing.T) {
		c, clk := startFake(t, "", base)
		defer closeCloud(t, c)
		f := setUpDelivery(t, c.Config(), false, true)
		c.SetFaults(cloud.Faults{FailedDeliveries: 1})
		f.publish(t, "later")
		st := c.SNS.Stats().Subscriptions[f.subARN]
		if st.Retried != 4 || st.Failed != 0 || st.Delivered != 0 {
			t.Errorf("stats after the first attempts = %+v, want 3 immediate retries and one scheduled", st)
		}
		if got := c.Calls()["sqs:SendMessage (SNS delivery)"]; got != 4 {
			t.Errorf("delivery attempts = %d, want the first and 3 immediate retries", got)
		}
		c.SetFaults(cloud.Faults{})
		clk.Advance(time.Second)
		if got := f.receiveOne(t, f.queueURL).Body; got != "later" {
			t.Errorf("delivered %q", got)
		}
		if got := f.depth(t, f.dlqURL); got != 0 {
			t.Errorf("the dead-letter queue holds %d", got)
		}
		if st := c.SNS.Stats().Subscriptions[f.subARN]; st.Delivered != 1 || st.Failed != 0 {
			t.Errorf("stats = %+v", st)
		}
	})
}

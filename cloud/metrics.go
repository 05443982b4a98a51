package cloud

import (
	"strconv"
	"time"

	"github.com/orderflow/orderflow/cloud/cloudwatch"
)

// The cloud's built-in metrics, under the namespaces AWS publishes them
// in, so that the template's dashboard and alarms read the same names on
// both targets: AWS/Lambda Invocations, Errors and Duration per function
// (from the function host, as each invocation ends) and AWS/SQS
// ApproximateNumberOfMessagesVisible, ApproximateNumberOfMessagesNotVisible
// and ApproximateAgeOfOldestMessage per queue (sampled once a minute, as
// SQS reports them). SNS's NumberOfMessagesPublished is not published.

// sqsSampleEvery is how often the queues' depths are sampled: AWS/SQS's
// one-minute metrics.
const sqsSampleEvery = time.Minute

// lambdaInvoked records one invocation's built-in metrics.
func (c *Cloud) lambdaInvoked(function string, elapsed time.Duration, failed bool) {
	dims := []cloudwatch.Dimension{{Name: "FunctionName", Value: function}}
	now := c.opts.Clock.Now()
	errs := 0.0
	if failed {
		errs = 1
	}
	c.CloudWatch.Put("AWS/Lambda", "Invocations", "Count", dims, now, 1)
	c.CloudWatch.Put("AWS/Lambda", "Errors", "Count", dims, now, errs)
	c.CloudWatch.Put("AWS/Lambda", "Duration", "Milliseconds", dims, now, float64(elapsed.Microseconds())/1000)
}

// sampleQueues records every queue's depth, then schedules itself again
// until the cloud closes.
func (c *Cloud) sampleQueues() {
	select {
	case <-c.closing:
		return
	default:
	}
	eng := c.SQS.Engine()
	now := c.opts.Clock.Now()
	names, _ := eng.ListQueues("")
	for _, name := range names {
		attrs, err := eng.GetQueueAttributes(name, []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"})
		if err != nil {
			continue
		}
		dims := []cloudwatch.Dimension{{Name: "QueueName", Value: name}}
		if n, err := strconv.ParseFloat(attrs["ApproximateNumberOfMessages"], 64); err == nil {
			c.CloudWatch.Put("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Count", dims, now, n)
		}
		if n, err := strconv.ParseFloat(attrs["ApproximateNumberOfMessagesNotVisible"], 64); err == nil {
			c.CloudWatch.Put("AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "Count", dims, now, n)
		}
		if age, err := eng.OldestMessageAge(name); err == nil {
			c.CloudWatch.Put("AWS/SQS", "ApproximateAgeOfOldestMessage", "Seconds", dims, now, float64(age/time.Second))
		}
	}
	c.opts.Clock.AfterFunc(sqsSampleEvery, c.sampleQueues)
}

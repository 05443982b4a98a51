package provision

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslogs "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cloud/lambda"
)

// The updates and deletions the providers support. A provider that is not
// an Updater replaces its resource on any change; one that is not a Deleter
// cannot be deleted (DELETE_FAILED, saying so). Lambda's need a
// FunctionChanger host.
var (
	_ Updater = sqsQueue{}
	_ Deleter = sqsQueue{}
	_ Updater = sqsQueuePolicy{}
	_ Deleter = sqsQueuePolicy{}
	_ Updater = snsTopic{}
	_ Deleter = snsTopic{}
	_ Updater = snsSubscription{}
	_ Deleter = snsSubscription{}
	_ Updater = dynamoTable{}
	_ Deleter = dynamoTable{}
	_ Updater = iamRole{}
	_ Deleter = iamRole{}
	_ Updater = logGroup{}
	_ Deleter = logGroup{}
	_ Updater = alarm{}
	_ Deleter = alarm{}
	_ Updater = dashboard{}
	_ Deleter = dashboard{}
)

// ---- SQS

// sqsDefaults are the values SQS gives attributes a template stops setting.
var sqsDefaults = map[string]string{
	"DelaySeconds":                  "0",
	"MaximumMessageSize":            "262144",
	"MessageRetentionPeriod":        "345600",
	"ReceiveMessageWaitTimeSeconds": "0",
	"VisibilityTimeout":             "30",
	"RedrivePolicy":                 "",
	"RedriveAllowPolicy":            "",
	"SqsManagedSseEnabled":          "true",
	"KmsMasterKeyId":                "",
	"KmsDataKeyReusePeriodSeconds":  "300",
	"ContentBasedDeduplication":     "false",
	"DeduplicationScope":            "queue",
	"FifoThroughputLimit":           "perQueue",
}

func (sqsQueue) Replacing() []string { return []string{"QueueName", "FifoQueue"} }

func (p sqsQueue) Update(ctx context.Context, req Request, old Physical, oldProps Properties) (Physical, error) {
	name, attrs, err := queueAttributes(req)
	if err != nil {
		return Physical{}, err
	}
	_, was, err := queueAttributes(Request{LogicalID: req.LogicalID, Properties: oldProps, Stack: req.Stack})
	if err != nil {
		return Physical{}, err
	}
	for k := range was {
		if _, still := attrs[k]; !still {
			attrs[k] = sqsDefaults[k]
		}
	}
	delete(attrs, "FifoQueue") // fixed at creation: a change replaces the queue
	if !reflect.DeepEqual(req.Properties["Tags"], oldProps["Tags"]) {
		return Physical{}, errors.New("changing a queue's Tags is not supported by the embedded cloud")
	}
	if _, err := p.client.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(old.Ref), Attributes: attrs}); err != nil {
		return Physical{}, err
	}
	return p.physical(ctx, name, old.Ref)
}

func (p sqsQueue) Delete(ctx context.Context, _ Request, phys Physical) error {
	_, err := p.client.DeleteQueue(ctx, &awssqs.DeleteQueueInput{QueueUrl: aws.String(phys.Ref)})
	return err
}

func (sqsQueuePolicy) Replacing() []string { return nil }

func (p sqsQueuePolicy) Update(ctx context.Context, req Request, old Physical, oldProps Properties) (Physical, error) {
	newQueues, err := req.Properties.List("Queues")
	if err != nil {
		return Physical{}, err
	}
	oldQueues, _ := oldProps.List("Queues")
	for _, q := range oldQueues {
		if !slices.Contains(newQueues, q) {
			if err := p.clear(ctx, q); err != nil {
				return Physical{}, err
			}
		}
	}
	return p.Create(ctx, req)
}

func (p sqsQueuePolicy) clear(ctx context.Context, q any) error {
	url, _ := q.(string)
	_, err := p.client.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: map[string]string{"Policy": ""}})
	if err != nil {
		return fmt.Errorf("clear the policy of %s: %w", url, err)
	}
	return nil
}

func (p sqsQueuePolicy) Delete(ctx context.Context, req Request, _ Physical) error {
	queues, _ := req.Properties.List("Queues")
	for _, q := range queues {
		if err := p.clear(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// ---- SNS

func (snsTopic) Replacing() []string { return []string{"TopicName", "FifoTopic"} }

func (p snsTopic) Update(ctx context.Context, req Request, old Physical, oldProps Properties) (Physical, error) {
	if !reflect.DeepEqual(req.Properties["Tags"], oldProps["Tags"]) {
		return Physical{}, errors.New("changing a topic's Tags is not supported by the embedded cloud")
	}
	_, attrs, err := topicAttributes(req)
	if err != nil {
		return Physical{}, err
	}
	for _, k := range []string{"DisplayName", "KmsMasterKeyId", "SignatureVersion", "TracingConfig", "ContentBasedDeduplication", "FifoThroughputScope"} {
		if reflect.DeepEqual(req.Properties[k], oldProps[k]) {
			continue
		}
		v := attrs[k]
		if _, set := attrs[k]; !set {
			switch k {
			case "ContentBasedDeduplication":
				v = "false"
			case "FifoThroughputScope":
				v = "Topic"
			}
		}
		if _, err := p.client.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(old.Ref), AttributeName: aws.String(k), AttributeValue: aws.String(v)}); err != nil {
			return Physical{}, err
		}
	}
	return old, nil
}

func (p snsTopic) Delete(ctx context.Context, _ Request, phys Physical) error {
	_, err := p.client.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(phys.Ref)})
	return err
}

func (snsSubscription) Replacing() []string {
	return []string{"TopicArn", "Protocol", "Endpoint", "Region"}
}

func (p snsSubscription) Update(ctx context.Context, req Request, old Physical, oldProps Properties) (Physical, error) {
	for _, k := range []string{"RawMessageDelivery", "FilterPolicyScope", "FilterPolicy", "RedrivePolicy", "DeliveryPolicy"} {
		if reflect.DeepEqual(req.Properties[k], oldProps[k]) {
			continue
		}
		var v string
		var err error
		switch k {
		case "RawMessageDelivery", "FilterPolicyScope":
			v, err = req.Properties.String(k)
		default:
			v, err = req.Properties.JSON(k)
		}
		if err != nil {
			return Physical{}, err
		}
		if v == "" && k == "RawMessageDelivery" {
			v = "false"
		}
		if _, err := p.client.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(old.Ref), AttributeName: aws.String(k), AttributeValue: aws.String(v)}); err != nil {
			return Physical{}, err
		}
	}
	return old, nil
}

func (p snsSubscription) Delete(ctx context.Context, _ Request, phys Physical) error {
	_, err := p.client.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: aws.String(phys.Ref)})
	return err
}

// ---- DynamoDB

func (dynamoTable) Replacing() []string {
	return []string{"TableName", "KeySchema", "LocalSecondaryIndexes"}
}

func (p dynamoTable) Update(ctx context.Context, req Request, old Physical, oldProps Properties) (Physical, error) {
	for _, k := range []string{"GlobalSecondaryIndexes", "AttributeDefinitions"} {
		if !reflect.DeepEqual(req.Properties[k], oldProps[k]) {
			return Physical{}, fmt.Errorf("changing a table's %s is not supported by the embedded cloud", k)
		}
	}
	if reflect.DeepEqual(req.Properties["BillingMode"], oldProps["BillingMode"]) &&
		reflect.DeepEqual(req.Properties["ProvisionedThroughput"], oldProps["ProvisionedThroughput"]) {
		// Only settings the embedded table does not enforce changed (its
		// creation ignores them too).
		return old, nil
	}
	billing, err := req.Properties.String("BillingMode")
	if err != nil {
		return Physical{}, err
	}
	in := &awsddb.UpdateTableInput{TableName: aws.String(old.Ref), BillingMode: ddbtypes.BillingMode(billing)}
	if pt, err := req.Properties.Map("ProvisionedThroughput"); err != nil {
		return Physical{}, err
	} else if pt != nil {
		r, err1 := pt.Int("ReadCapacityUnits", 0)
		w, err2 := pt.Int("WriteCapacityUnits", 0)
		if err := errors.Join(err1, err2); err != nil {
			return Physical{}, err
		}
		in.ProvisionedThroughput = &ddbtypes.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(int64(r)), WriteCapacityUnits: aws.Int64(int64(w))}
	}
	if _, err := p.client.UpdateTable(ctx, in); err != nil {
		return Physical{}, err
	}
	return old, nil
}

func (p dynamoTable) Delete(ctx context.Context, _ Request, phys Physical) error {
	_, err := p.client.DeleteTable(ctx, &awsddb.DeleteTableInput{TableName: aws.String(phys.Ref)})
	return err
}

// ---- Recorded

func (r *Records) remove(logicalID, typ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = slices.DeleteFunc(r.list, func(x Record) bool { return x.LogicalID == logicalID && x.Type == typ })
}

func (iamRole) Replacing() []string { return []string{"RoleName", "Path"} }

func (p iamRole) Update(ctx context.Context, req Request, _ Physical, _ Properties) (Physical, error) {
	p.records.remove(req.LogicalID, req.Type)
	return p.Create(ctx, req)
}

func (p iamRole) Delete(_ context.Context, req Request, _ Physical) error {
	p.records.remove(req.LogicalID, req.Type)
	return nil
}

func (logGroup) Replacing() []string { return []string{"LogGroupName"} }

func (p logGroup) Update(ctx context.Context, req Request, _ Physical, _ Properties) (Physical, error) {
	p.records.remove(req.LogicalID, req.Type)
	return p.Create(ctx, req)
}

func (p logGroup) Delete(ctx context.Context, req Request, phys Physical) error {
	p.records.remove(req.LogicalID, req.Type)
	var gone *logstypes.ResourceNotFoundException
	if _, err := p.client.DeleteLogGroup(ctx, &awslogs.DeleteLogGroupInput{LogGroupName: aws.String(phys.Ref)}); err != nil && !errors.As(err, &gone) {
		return err
	}
	return nil
}

func (alarm) Replacing() []string { return []string{"AlarmName"} }

func (p alarm) Update(ctx context.Context, req Request, _ Physical, _ Properties) (Physical, error) {
	p.records.remove(req.LogicalID, req.Type)
	return p.Create(ctx, req)
}

func (p alarm) Delete(_ context.Context, req Request, _ Physical) error {
	p.records.remove(req.LogicalID, req.Type)
	return nil
}

func (dashboard) Replacing() []string { return []string{"DashboardName"} }

func (p dashboard) Update(ctx context.Context, req Request, _ Physical, _ Properties) (Physical, error) {
	p.records.remove(req.LogicalID, req.Type)
	return p.Create(ctx, req)
}

func (p dashboard) Delete(_ context.Context, req Request, _ Physical) error {
	p.records.remove(req.LogicalID, req.Type)
	return nil
}

// ---- Lambda

// FunctionChanger is a function host that can also change and delete what
// it created. Without it, a function or mapping whose properties change is
// replaced — which fails, the name being taken — and one cannot be deleted:
// the host says so in the resource's event.
type FunctionChanger interface {
	UpdateFunction(ctx context.Context, f lambda.Function) error
	DeleteFunction(ctx context.Context, name string) error
	UpdateEventSourceMapping(ctx context.Context, id string, m lambda.EventSourceMapping) error
	DeleteEventSourceMapping(ctx context.Context, id string) error
}

var (
	_ FunctionChanger = (*lambda.Host)(nil)
	_ Updater         = lambdaFunction{}
	_ Deleter         = lambdaFunction{}
	_ Updater         = eventSourceMapping{}
	_ Deleter         = eventSourceMapping{}
)

func (p lambdaFunction) changer() (FunctionChanger, error) {
	if c, ok := p.functions.(FunctionChanger); ok {
		return c, nil
	}
	return nil, errors.New("the embedded cloud's function host cannot change or delete functions yet")
}

func (lambdaFunction) Replacing() []string { return []string{"FunctionName"} }

func (p lambdaFunction) Update(ctx context.Context, req Request, old Physical, _ Properties) (Physical, error) {
	c, err := p.changer()
	if err != nil {
		return Physical{}, err
	}
	f, err := p.spec(ctx, req)
	if err != nil {
		return Physical{}, err
	}
	if err := c.UpdateFunction(ctx, f); err != nil {
		return Physical{}, codeError(req, err)
	}
	return old, nil
}

func (p lambdaFunction) Delete(ctx context.Context, _ Request, phys Physical) error {
	c, err := p.changer()
	if err != nil {
		return err
	}
	return c.DeleteFunction(ctx, phys.Ref)
}

func (p eventSourceMapping) changer() (FunctionChanger, error) {
	if c, ok := p.functions.(FunctionChanger); ok {
		return c, nil
	}
	return nil, errors.New("the embedded cloud's function host cannot change or delete event source mappings yet")
}

func (eventSourceMapping) Replacing() []string { return []string{"EventSourceArn"} }

func (p eventSourceMapping) Update(ctx context.Context, req Request, old Physical, _ Properties) (Physical, error) {
	c, err := p.changer()
	if err != nil {
		return Physical{}, err
	}
	m, err := mappingSpec(req)
	if err != nil {
		return Physical{}, err
	}
	if err := c.UpdateEventSourceMapping(ctx, old.Ref, m); err != nil {
		return Physical{}, err
	}
	return old, nil
}

func (p eventSourceMapping) Delete(ctx context.Context, _ Request, phys Physical) error {
	c, err := p.changer()
	if err != nil {
		return err
	}
	return c.DeleteEventSourceMapping(ctx, phys.Ref)
}

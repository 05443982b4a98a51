package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslogs "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud/lambda"
)

// Functions is where Lambda resources go: the embedded cloud's function host,
// whose types the provider fills in from the template's properties.
type Functions interface {
	// CreateFunction registers the function; it returns the function's ARN.
	CreateFunction(ctx context.Context, f lambda.Function) (arn string, err error)
	// CreateEventSourceMapping starts polling a queue for a function; it
	// returns the mapping's id.
	CreateEventSourceMapping(ctx context.Context, m lambda.EventSourceMapping) (id string, err error)
}

var _ Functions = (*lambda.Host)(nil)

// Record is a resource that the embedded cloud validates and keeps but does
// not run (roles, log groups, alarms).
type Record struct {
	LogicalID  string
	Type       string
	Properties Properties
}

// AWS returns the providers of the resource types the embedded cloud
// supports. SQS, SNS and DynamoDB resources are created through the public
// APIs, with SDK clients built from cfg; Lambda resources go to functions;
// IAM roles, log groups and CloudWatch alarms are validated and recorded in
// records.
func AWS(cfg aws.Config, functions Functions, records *Records) map[string]Provider {
	return AWSWithCode(cfg, functions, records, nil)
}

// CodeSource reads a function's zip from where Code.S3Bucket and S3Key name
// it: in the embedded cloud, its own S3.
type CodeSource interface {
	// Object returns the object's bytes, or an error wrapping
	// fs.ErrNotExist when the bucket or the key does not exist.
	Object(ctx context.Context, bucket, key string) ([]byte, error)
}

// AWSWithCode is AWS whose functions run the zip their Code.S3Bucket and
// S3Key name when code holds it, and otherwise the Go handler registered
// under the function's name (a template deployed to AWS names a bucket the
// embedded cloud need not have). code may be nil: registered handlers only.
func AWSWithCode(cfg aws.Config, functions Functions, records *Records, code CodeSource) map[string]Provider {
	sqsClient := awssqs.NewFromConfig(cfg)
	arn := func(req Request, service, resource string) string {
		region := req.Stack.Region
		if service == "iam" { // a global service: its ARNs name no region
			region = ""
		}
		return fmt.Sprintf("arn:%s:%s:%s:%s:%s", req.Stack.Partition, service, region, req.Stack.AccountID, resource)
	}
	return map[string]Provider{
		"AWS::DynamoDB::Table":            dynamoTable{client: awsddb.NewFromConfig(cfg), arn: arn},
		"AWS::SQS::Queue":                 sqsQueue{client: sqsClient},
		"AWS::SQS::QueuePolicy":           sqsQueuePolicy{client: sqsClient},
		"AWS::SNS::Topic":                 snsTopic{client: awssns.NewFromConfig(cfg)},
		"AWS::SNS::Subscription":          snsSubscription{client: awssns.NewFromConfig(cfg)},
		"AWS::Lambda::Function":           lambdaFunction{functions: functions, arn: arn, code: code},
		"AWS::Lambda::EventSourceMapping": eventSourceMapping{functions: functions},
		"AWS::IAM::Role":                  iamRole{records: records, arn: arn},
		"AWS::Logs::LogGroup":             logGroup{records: records, arn: arn, client: awslogs.NewFromConfig(cfg)},
		"AWS::CloudWatch::Alarm":          alarm{records: records, arn: arn},
		"AWS::CloudWatch::Dashboard":      dashboard{records: records},
	}
}

// Records keeps the resources the embedded cloud records without running.
type Records struct {
	mu   sync.Mutex
	list []Record
}

func (r *Records) add(rec Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rec)
}

// All returns the recorded resources in creation order.
func (r *Records) All() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// physicalName is CloudFormation's name for a resource whose template gives
// none: stack name, logical id and a suffix.
func physicalName(req Request, max int) string {
	n := req.Stack.StackName + "-" + req.LogicalID + "-ORDERFLOW"
	if len(n) > max {
		n = n[len(n)-max:]
	}
	return n
}

// ---- DynamoDB

type dynamoTable struct {
	client *awsddb.Client
	arn    func(Request, string, string) string
}

func (dynamoTable) Properties() []string {
	return []string{"TableName", "AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes",
		"LocalSecondaryIndexes", "ProvisionedThroughput", "PointInTimeRecoverySpecification", "DeletionProtectionEnabled",
		"SSESpecification", "Tags"}
}

func (p dynamoTable) Create(ctx context.Context, req Request) (Physical, error) {
	name, err := req.Properties.String("TableName")
	if err != nil {
		return Physical{}, err
	}
	if name == "" {
		name = physicalName(req, 255)
	}
	var in awsddb.CreateTableInput
	// The template's property shapes are the API's: decode them as such.
	shape := map[string]any{}
	for _, k := range []string{"AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "ProvisionedThroughput"} {
		if v, ok := req.Properties[k]; ok {
			shape[k] = numbersAsJSON(v)
		}
	}
	b, _ := json.Marshal(shape)
	var decoded struct {
		AttributeDefinitions   []ddbtypes.AttributeDefinition
		KeySchema              []ddbtypes.KeySchemaElement
		GlobalSecondaryIndexes []ddbtypes.GlobalSecondaryIndex
		LocalSecondaryIndexes  []ddbtypes.LocalSecondaryIndex
		ProvisionedThroughput  *ddbtypes.ProvisionedThroughput
	}
	if err := json.Unmarshal(b, &decoded); err != nil {
		return Physical{}, fmt.Errorf("table properties: %w", err)
	}
	billing, err := req.Properties.String("BillingMode")
	if err != nil {
		return Physical{}, err
	}
	in.TableName = aws.String(name)
	in.AttributeDefinitions = decoded.AttributeDefinitions
	in.KeySchema = decoded.KeySchema
	in.GlobalSecondaryIndexes = decoded.GlobalSecondaryIndexes
	in.LocalSecondaryIndexes = decoded.LocalSecondaryIndexes
	in.ProvisionedThroughput = decoded.ProvisionedThroughput
	in.BillingMode = ddbtypes.BillingMode(billing)
	if _, err := p.client.CreateTable(ctx, &in); err != nil {
		var inUse *ddbtypes.ResourceInUseException
		if !errors.As(err, &inUse) {
			return Physical{}, err
		}
		// A durable cloud restarted: the table is already there. Keep it if
		// it has the key the template declares.
		if err := sameKey(ctx, p.client, name, in.KeySchema); err != nil {
			return Physical{}, err
		}
	}
	tableArn := p.arn(req, "dynamodb", "table/"+name)
	return Physical{Ref: name, Attrs: map[string]any{"Arn": tableArn, "StreamArn": tableArn + "/stream/none"}}, nil
}

// sameKey checks that an existing table has the key schema keys.
func sameKey(ctx context.Context, client *awsddb.Client, name string, keys []ddbtypes.KeySchemaElement) error {
	out, err := client.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		return err
	}
	have := out.Table.KeySchema
	same := len(have) == len(keys)
	for i := 0; same && i < len(keys); i++ {
		same = aws.ToString(have[i].AttributeName) == aws.ToString(keys[i].AttributeName) && have[i].KeyType == keys[i].KeyType
	}
	if !same {
		return fmt.Errorf("table %s already exists with another key schema", name)
	}
	return nil
}

// ---- SQS

type sqsQueue struct{ client *awssqs.Client }

// sqsAttributes maps the resource's properties to CreateQueue attributes.
var sqsAttributes = map[string]string{
	"DelaySeconds":                  "DelaySeconds",
	"MaximumMessageSize":            "MaximumMessageSize",
	"MessageRetentionPeriod":        "MessageRetentionPeriod",
	"ReceiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
	"VisibilityTimeout":             "VisibilityTimeout",
	"SqsManagedSseEnabled":          "SqsManagedSseEnabled",
	"KmsMasterKeyId":                "KmsMasterKeyId",
	"KmsDataKeyReusePeriodSeconds":  "KmsDataKeyReusePeriodSeconds",
	"DeduplicationScope":            "DeduplicationScope",
	"FifoThroughputLimit":           "FifoThroughputLimit",
}

func (sqsQueue) Properties() []string {
	props := []string{"QueueName", "RedrivePolicy", "RedriveAllowPolicy", "Tags", "FifoQueue", "ContentBasedDeduplication"}
	for k := range sqsAttributes {
		props = append(props, k)
	}
	return props
}

// queueAttributes reads a queue's name and CreateQueue attributes from its
// properties. A FIFO queue without a QueueName gets a generated name ending
// in .fifo, as CloudFormation gives it (SQS requires the suffix).
func queueAttributes(req Request) (string, map[string]string, error) {
	name, err := req.Properties.String("QueueName")
	if err != nil {
		return "", nil, err
	}
	fifo, err := req.Properties.Bool("FifoQueue", false)
	if err != nil {
		return "", nil, err
	}
	switch {
	case name == "" && fifo:
		name = physicalName(req, 80-len(".fifo")) + ".fifo"
	case name == "":
		name = physicalName(req, 80)
	}
	attrs := map[string]string{}
	if fifo {
		attrs["FifoQueue"] = "true"
	}
	if _, ok := req.Properties["ContentBasedDeduplication"]; ok {
		cbd, err := req.Properties.Bool("ContentBasedDeduplication", false)
		if err != nil {
			return "", nil, err
		}
		attrs["ContentBasedDeduplication"] = strconv.FormatBool(cbd)
	}
	for prop, attr := range sqsAttributes {
		if _, ok := req.Properties[prop]; ok {
			if attrs[attr], err = req.Properties.String(prop); err != nil {
				return "", nil, err
			}
		}
	}
	for _, k := range []string{"RedrivePolicy", "RedriveAllowPolicy"} {
		j, err := req.Properties.JSON(k)
		if err != nil {
			return "", nil, err
		}
		if j != "" {
			attrs[k] = j
		}
	}
	return name, attrs, nil
}

func (p sqsQueue) Create(ctx context.Context, req Request) (Physical, error) {
	name, attrs, err := queueAttributes(req)
	if err != nil {
		return Physical{}, err
	}
	tags, err := tagMap(req.Properties)
	if err != nil {
		return Physical{}, err
	}
	out, err := p.client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs, Tags: tags})
	var exists *sqstypes.QueueNameExists
	if req.Adopt && errors.As(err, &exists) {
		// A durable cloud restarted with other parameters: bring the queue
		// it kept to the template's attributes.
		var got *awssqs.GetQueueUrlOutput
		if got, err = p.client.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(name)}); err == nil {
			out = &awssqs.CreateQueueOutput{QueueUrl: got.QueueUrl}
			_, err = p.client.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: got.QueueUrl, Attributes: attrs})
		}
	}
	if err != nil {
		return Physical{}, err
	}
	return p.physical(ctx, name, aws.ToString(out.QueueUrl))
}

func (p sqsQueue) physical(ctx context.Context, name, url string) (Physical, error) {
	got, err := p.client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return Physical{}, err
	}
	return Physical{Ref: url, Attrs: map[string]any{"Arn": got.Attributes["QueueArn"], "QueueName": name, "QueueUrl": url}}, nil
}

type sqsQueuePolicy struct{ client *awssqs.Client }

func (sqsQueuePolicy) Properties() []string { return []string{"Queues", "PolicyDocument"} }

func (p sqsQueuePolicy) Create(ctx context.Context, req Request) (Physical, error) {
	doc, err := req.Properties.JSON("PolicyDocument")
	if err != nil || doc == "" {
		if err == nil {
			err = errors.New("PolicyDocument is required")
		}
		return Physical{}, err
	}
	queues, err := req.Properties.List("Queues")
	if err != nil || len(queues) == 0 {
		if err == nil {
			err = errors.New("Queues must name at least one queue URL")
		}
		return Physical{}, err
	}
	for _, q := range queues {
		url, _ := q.(string)
		if _, err := p.client.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{
			QueueUrl: aws.String(url), Attributes: map[string]string{"Policy": doc},
		}); err != nil {
			return Physical{}, fmt.Errorf("set the policy of %s: %w", url, err)
		}
	}
	return Physical{Ref: req.Stack.StackName + "-" + req.LogicalID}, nil
}

// ---- SNS

type snsTopic struct{ client *awssns.Client }

func (snsTopic) Properties() []string {
	return []string{"TopicName", "DisplayName", "KmsMasterKeyId", "Tags", "FifoTopic", "ContentBasedDeduplication", "FifoThroughputScope",
		"Subscription", "SignatureVersion", "TracingConfig"}
}

// topicAttributes reads a topic's name and CreateTopic attributes from its
// properties. A FIFO topic without a TopicName gets a generated name ending
// in .fifo, as CloudFormation gives it (SNS requires the suffix).
func topicAttributes(req Request) (string, map[string]string, error) {
	name, err := req.Properties.String("TopicName")
	if err != nil {
		return "", nil, err
	}
	fifo, err := req.Properties.Bool("FifoTopic", false)
	if err != nil {
		return "", nil, err
	}
	switch {
	case name == "" && fifo:
		name = physicalName(req, 256-len(".fifo")) + ".fifo"
	case name == "":
		name = physicalName(req, 256)
	}
	attrs := map[string]string{}
	if fifo {
		attrs["FifoTopic"] = "true"
	}
	if _, ok := req.Properties["ContentBasedDeduplication"]; ok {
		cbd, err := req.Properties.Bool("ContentBasedDeduplication", false)
		if err != nil {
			return "", nil, err
		}
		attrs["ContentBasedDeduplication"] = strconv.FormatBool(cbd)
	}
	for _, k := range []string{"DisplayName", "KmsMasterKeyId", "SignatureVersion", "TracingConfig", "FifoThroughputScope"} {
		if _, ok := req.Properties[k]; ok {
			if attrs[k], err = req.Properties.String(k); err != nil {
				return "", nil, err
			}
		}
	}
	return name, attrs, nil
}

func (p snsTopic) Create(ctx context.Context, req Request) (Physical, error) {
	if _, ok := req.Properties["Subscription"]; ok {
		return Physical{}, errors.New("inline Subscription is not supported by the embedded cloud; declare an AWS::SNS::Subscription")
	}
	name, attrs, err := topicAttributes(req)
	if err != nil {
		return Physical{}, err
	}
	out, err := p.client.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(name), Attributes: attrs})
	if err != nil {
		return Physical{}, err
	}
	topicArn := aws.ToString(out.TopicArn)
	return Physical{Ref: topicArn, Attrs: map[string]any{"TopicArn": topicArn, "TopicName": name}}, nil
}

type snsSubscription struct{ client *awssns.Client }

func (snsSubscription) Properties() []string {
	return []string{"TopicArn", "Protocol", "Endpoint", "RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy", "Region"}
}

func (p snsSubscription) Create(ctx context.Context, req Request) (Physical, error) {
	var vals [3]string
	for i, k := range []string{"TopicArn", "Protocol", "Endpoint"} {
		v, err := req.Properties.String(k)
		if err != nil {
			return Physical{}, err
		}
		if v == "" {
			return Physical{}, fmt.Errorf("%s is required", k)
		}
		vals[i] = v
	}
	attrs := map[string]string{}
	for _, k := range []string{"RawMessageDelivery", "FilterPolicyScope"} {
		if _, ok := req.Properties[k]; ok {
			v, err := req.Properties.String(k)
			if err != nil {
				return Physical{}, err
			}
			attrs[k] = v
		}
	}
	for _, k := range []string{"FilterPolicy", "RedrivePolicy", "DeliveryPolicy"} {
		j, err := req.Properties.JSON(k)
		if err != nil {
			return Physical{}, err
		}
		if j != "" {
			attrs[k] = j
		}
	}
	out, err := p.client.Subscribe(ctx, &awssns.SubscribeInput{
		TopicArn: aws.String(vals[0]), Protocol: aws.String(vals[1]), Endpoint: aws.String(vals[2]),
		Attributes: attrs, ReturnSubscriptionArn: true,
	})
	if err != nil && req.Adopt && strings.Contains(err.Error(), "Subscription already exists with different attributes") {
		// A durable cloud restarted with other parameters: bring the
		// subscription it kept to the template's attributes.
		return p.adopt(ctx, vals, attrs)
	}
	if err != nil {
		return Physical{}, err
	}
	return Physical{Ref: aws.ToString(out.SubscriptionArn)}, nil
}

func (p snsSubscription) adopt(ctx context.Context, vals [3]string, attrs map[string]string) (Physical, error) {
	pages := awssns.NewListSubscriptionsByTopicPaginator(p.client, &awssns.ListSubscriptionsByTopicInput{TopicArn: aws.String(vals[0])})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return Physical{}, err
		}
		for _, sub := range page.Subscriptions {
			if aws.ToString(sub.Protocol) != vals[1] || aws.ToString(sub.Endpoint) != vals[2] {
				continue
			}
			if _, ok := attrs["RawMessageDelivery"]; !ok {
				attrs["RawMessageDelivery"] = "false"
			}
			for k, v := range attrs {
				if _, err := p.client.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{
					SubscriptionArn: sub.SubscriptionArn, AttributeName: aws.String(k), AttributeValue: aws.String(v),
				}); err != nil {
					return Physical{}, fmt.Errorf("set %s of %s: %w", k, aws.ToString(sub.SubscriptionArn), err)
				}
			}
			return Physical{Ref: aws.ToString(sub.SubscriptionArn)}, nil
		}
	}
	return Physical{}, fmt.Errorf("SNS says a subscription of %s to %s exists, but does not list it", vals[2], vals[0])
}

// ---- Lambda

type lambdaFunction struct {
	functions Functions
	arn       func(Request, string, string) string
	code      CodeSource
}

func (lambdaFunction) Properties() []string {
	return []string{"FunctionName", "Description", "Runtime", "Architectures", "Handler", "Code", "MemorySize", "Timeout",
		"Role", "Environment", "LoggingConfig", "Tags", "ReservedConcurrentExecutions"}
}

func (p lambdaFunction) Create(ctx context.Context, req Request) (Physical, error) {
	if p.functions == nil {
		return Physical{}, errors.New("the embedded cloud has no function host")
	}
	f, err := p.spec(ctx, req)
	if err != nil {
		return Physical{}, err
	}
	arn, err := p.functions.CreateFunction(ctx, f)
	if err != nil {
		return Physical{}, codeError(req, err)
	}
	return Physical{Ref: f.Name, Attrs: map[string]any{"Arn": arn}}, nil
}

// spec reads the function's properties and, when its Code names an S3
// object that the code source holds, the zip.
func (p lambdaFunction) spec(ctx context.Context, req Request) (lambda.Function, error) {
	f, err := functionSpec(req)
	if err != nil {
		return lambda.Function{}, err
	}
	bucket, key, err := s3Code(req)
	if err != nil || p.code == nil || bucket == "" || key == "" {
		return f, err
	}
	zip, err := p.code.Object(ctx, bucket, key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return f, nil // the Go handler registered under the name, if any
	case err != nil:
		return lambda.Function{}, fmt.Errorf("read the function's code s3://%s/%s: %w", bucket, key, err)
	}
	f.Zip = zip
	return f, nil
}

// s3Code reads Code.S3Bucket and Code.S3Key.
func s3Code(req Request) (bucket, key string, err error) {
	code, err := req.Properties.Map("Code")
	if err != nil {
		return "", "", err
	}
	if bucket, err = code.String("S3Bucket"); err != nil {
		return "", "", err
	}
	if key, err = code.String("S3Key"); err != nil {
		return "", "", err
	}
	return bucket, key, nil
}

// codeError says, for a function the host has no code for, which object
// its Code names and how to give it code.
func codeError(req Request, err error) error {
	if !errors.Is(err, lambda.ErrNoCode) {
		return err
	}
	bucket, key, _ := s3Code(req)
	name, _ := req.Properties.String("FunctionName")
	if name == "" {
		name = req.LogicalID
	}
	if bucket == "" || key == "" {
		return fmt.Errorf("the function %s has no code the embedded cloud can run: its Code names no S3 object, and no in-process handler is registered under its name", name)
	}
	return fmt.Errorf("the function %s's code s3://%s/%s does not exist in the embedded cloud's S3, and no in-process handler is registered under its name: upload the zip there first (orderflow deploy does)", name, bucket, key)
}

// functionSpec reads a function's properties.
func functionSpec(req Request) (lambda.Function, error) {
	props := req.Properties
	f := lambda.Function{Environment: map[string]string{}}
	var err error
	if f.Name, err = props.String("FunctionName"); err != nil {
		return lambda.Function{}, err
	}
	if f.Name == "" {
		f.Name = physicalName(req, 64)
	}
	if f.Runtime, err = props.String("Runtime"); err != nil {
		return lambda.Function{}, err
	}
	if f.Handler, err = props.String("Handler"); err != nil {
		return lambda.Function{}, err
	}
	if f.Role, err = props.String("Role"); err != nil {
		return lambda.Function{}, err
	}
	if f.MemoryMB, err = props.Int("MemorySize", 128); err != nil {
		return lambda.Function{}, err
	}
	if f.TimeoutSec, err = props.Int("Timeout", 3); err != nil {
		return lambda.Function{}, err
	}
	if f.TimeoutSec < 1 || f.TimeoutSec > 900 {
		return lambda.Function{}, fmt.Errorf("Timeout %d is outside 1–900 seconds", f.TimeoutSec)
	}
	archs, err := props.List("Architectures")
	if err != nil {
		return lambda.Function{}, err
	}
	for _, a := range archs {
		f.Architectures = append(f.Architectures, fmt.Sprint(a))
	}
	if env, err := props.Map("Environment"); err != nil {
		return lambda.Function{}, err
	} else if vars, err := env.Map("Variables"); err != nil {
		return lambda.Function{}, err
	} else {
		for k := range vars {
			if f.Environment[k], err = vars.String(k); err != nil {
				return lambda.Function{}, err
			}
		}
	}
	if lc, err := props.Map("LoggingConfig"); err != nil {
		return lambda.Function{}, err
	} else if f.LogGroup, err = lc.String("LogGroup"); err != nil {
		return lambda.Function{}, err
	}
	if f.LogGroup == "" {
		f.LogGroup = "/aws/lambda/" + f.Name
	}
	return f, nil
}

type eventSourceMapping struct{ functions Functions }

func (eventSourceMapping) Properties() []string {
	return []string{"EventSourceArn", "FunctionName", "Enabled", "BatchSize", "MaximumBatchingWindowInSeconds",
		"FunctionResponseTypes", "ScalingConfig"}
}

func (p eventSourceMapping) Create(ctx context.Context, req Request) (Physical, error) {
	if p.functions == nil {
		return Physical{}, errors.New("the embedded cloud has no function host")
	}
	m, err := mappingSpec(req)
	if err != nil {
		return Physical{}, err
	}
	id, err := p.functions.CreateEventSourceMapping(ctx, m)
	if err != nil {
		return Physical{}, err
	}
	return Physical{Ref: id, Attrs: map[string]any{"Id": id}}, nil
}

// mappingSpec reads an event source mapping's properties.
func mappingSpec(req Request) (lambda.EventSourceMapping, error) {
	props := req.Properties
	var m lambda.EventSourceMapping
	var err error
	if m.EventSourceArn, err = props.String("EventSourceArn"); err != nil {
		return lambda.EventSourceMapping{}, err
	}
	if !strings.HasPrefix(m.EventSourceArn, "arn:") || !strings.Contains(m.EventSourceArn, ":sqs:") {
		return lambda.EventSourceMapping{}, fmt.Errorf("EventSourceArn %q is not an SQS queue; only SQS event sources are supported", m.EventSourceArn)
	}
	if m.FunctionName, err = props.String("FunctionName"); err != nil {
		return lambda.EventSourceMapping{}, err
	}
	if m.Enabled, err = props.Bool("Enabled", true); err != nil {
		return lambda.EventSourceMapping{}, err
	}
	if m.BatchSize, err = props.Int("BatchSize", 10); err != nil {
		return lambda.EventSourceMapping{}, err
	}
	if m.MaximumBatchingWindow, err = props.Int("MaximumBatchingWindowInSeconds", 0); err != nil {
		return lambda.EventSourceMapping{}, err
	}
	types, err := props.List("FunctionResponseTypes")
	if err != nil {
		return lambda.EventSourceMapping{}, err
	}
	for _, t := range types {
		if t != "ReportBatchItemFailures" {
			return lambda.EventSourceMapping{}, fmt.Errorf("FunctionResponseTypes value %v is not ReportBatchItemFailures", t)
		}
		m.ReportBatchItemFailure = true
	}
	if sc, err := props.Map("ScalingConfig"); err != nil {
		return lambda.EventSourceMapping{}, err
	} else if m.MaximumConcurrency, err = sc.Int("MaximumConcurrency", 0); err != nil {
		return lambda.EventSourceMapping{}, err
	}
	return m, nil
}

// ---- Recorded: IAM roles, log groups, alarms

type iamRole struct {
	records *Records
	arn     func(Request, string, string) string
}

func (iamRole) Properties() []string {
	return []string{"RoleName", "AssumeRolePolicyDocument", "Policies", "ManagedPolicyArns", "Path", "Description", "MaxSessionDuration", "Tags", "PermissionsBoundary"}
}

func (p iamRole) Create(_ context.Context, req Request) (Physical, error) {
	doc, err := req.Properties.JSON("AssumeRolePolicyDocument")
	if err != nil || doc == "" {
		if err == nil {
			err = errors.New("AssumeRolePolicyDocument is required")
		}
		return Physical{}, err
	}
	if err := checkPolicy(doc); err != nil {
		return Physical{}, fmt.Errorf("AssumeRolePolicyDocument: %w", err)
	}
	policies, err := req.Properties.List("Policies")
	if err != nil {
		return Physical{}, err
	}
	for i, pol := range policies {
		m, _ := pol.(map[string]any)
		pd, err := Properties(m).JSON("PolicyDocument")
		if err != nil {
			return Physical{}, fmt.Errorf("Policies[%d]: %w", i, err)
		}
		if err := checkPolicy(pd); err != nil {
			return Physical{}, fmt.Errorf("Policies[%d]: %w", i, err)
		}
	}
	name, err := req.Properties.String("RoleName")
	if err != nil {
		return Physical{}, err
	}
	if name == "" {
		name = physicalName(req, 64)
	}
	p.records.add(Record{LogicalID: req.LogicalID, Type: req.Type, Properties: req.Properties})
	return Physical{Ref: name, Attrs: map[string]any{"Arn": p.arn(req, "iam", "role/"+name), "RoleId": "AROAORDERFLOW" + strings.ToUpper(req.LogicalID)}}, nil
}

// checkPolicy validates an IAM policy document's outline: a Statement list
// whose entries have an Effect of Allow or Deny and an Action or NotAction.
func checkPolicy(doc string) error {
	var pol struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &pol); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	var stmts []map[string]any
	if err := json.Unmarshal(pol.Statement, &stmts); err != nil {
		var one map[string]any
		if err := json.Unmarshal(pol.Statement, &one); err != nil {
			return errors.New("Statement must be a statement or a list of them")
		}
		stmts = []map[string]any{one}
	}
	if len(stmts) == 0 {
		return errors.New("the policy has no statements")
	}
	for i, s := range stmts {
		if e := s["Effect"]; e != "Allow" && e != "Deny" {
			return fmt.Errorf("statement %d: Effect must be Allow or Deny, got %v", i, e)
		}
		_, a := s["Action"]
		_, na := s["NotAction"]
		if !a && !na {
			return fmt.Errorf("statement %d has no Action", i)
		}
	}
	return nil
}

// logGroup makes the group in the embedded CloudWatch Logs, with its
// retention, so that DescribeLogGroups reports what the template set.
type logGroup struct {
	records *Records
	arn     func(Request, string, string) string
	client  *awslogs.Client
}

func (logGroup) Properties() []string {
	return []string{"LogGroupName", "RetentionInDays", "KmsKeyId", "Tags", "LogGroupClass"}
}

func (p logGroup) Create(ctx context.Context, req Request) (Physical, error) {
	name, err := req.Properties.String("LogGroupName")
	if err != nil {
		return Physical{}, err
	}
	if name == "" {
		name = physicalName(req, 512)
	}
	days, err := req.Properties.Int("RetentionInDays", 0)
	if err != nil {
		return Physical{}, err
	}
	valid := []int{0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
	if !slices.Contains(valid, days) {
		return Physical{}, fmt.Errorf("RetentionInDays %d is not a retention CloudWatch Logs offers", days)
	}
	// A group that exists is taken over: the function host makes its
	// function's group when it first writes, and a data directory keeps
	// groups across restarts.
	var exists *logstypes.ResourceAlreadyExistsException
	if _, err := p.client.CreateLogGroup(ctx, &awslogs.CreateLogGroupInput{LogGroupName: aws.String(name)}); err != nil && !errors.As(err, &exists) {
		return Physical{}, err
	}
	if days > 0 {
		_, err = p.client.PutRetentionPolicy(ctx, &awslogs.PutRetentionPolicyInput{LogGroupName: aws.String(name), RetentionInDays: aws.Int32(int32(days))})
	} else {
		_, err = p.client.DeleteRetentionPolicy(ctx, &awslogs.DeleteRetentionPolicyInput{LogGroupName: aws.String(name)})
	}
	if err != nil {
		return Physical{}, err
	}
	p.records.add(Record{LogicalID: req.LogicalID, Type: req.Type, Properties: req.Properties})
	return Physical{Ref: name, Attrs: map[string]any{"Arn": p.arn(req, "logs", "log-group:"+name+":*")}}, nil
}

type alarm struct {
	records *Records
	arn     func(Request, string, string) string
}

func (alarm) Properties() []string {
	return []string{"AlarmName", "AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic", "Period",
		"EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData", "AlarmActions", "OKActions",
		"InsufficientDataActions", "DatapointsToAlarm", "Unit", "ActionsEnabled"}
}

func (p alarm) Create(_ context.Context, req Request) (Physical, error) {
	for _, k := range []string{"ComparisonOperator", "EvaluationPeriods"} {
		if _, ok := req.Properties[k]; !ok {
			return Physical{}, fmt.Errorf("%s is required", k)
		}
	}
	name, err := req.Properties.String("AlarmName")
	if err != nil {
		return Physical{}, err
	}
	if name == "" {
		name = physicalName(req, 255)
	}
	p.records.add(Record{LogicalID: req.LogicalID, Type: req.Type, Properties: req.Properties})
	return Physical{Ref: name, Attrs: map[string]any{"Arn": p.arn(req, "cloudwatch", "alarm:"+name)}}, nil
}

type dashboard struct {
	records *Records
}

func (dashboard) Properties() []string { return []string{"DashboardName", "DashboardBody"} }

// dashboardName is CloudWatch's rule for a dashboard's name.
var dashboardName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// dashboardWidgetTypes are the widget types CloudWatch draws.
var dashboardWidgetTypes = []string{"metric", "text", "log", "alarm", "explorer", "custom"}

// Create validates the dashboard's name and body as PutDashboard does
// (a JSON object with a widgets array, each widget of a known type
// inside the 24-column grid, a metric widget's metrics arrays of
// namespace, name and dimension pairs) and records it.
func (p dashboard) Create(_ context.Context, req Request) (Physical, error) {
	name, err := req.Properties.String("DashboardName")
	if err != nil {
		return Physical{}, err
	}
	if name == "" {
		name = physicalName(req, 255)
	}
	if !dashboardName.MatchString(name) {
		return Physical{}, fmt.Errorf("DashboardName %q must be 1 to 255 letters, digits, dashes and underscores", name)
	}
	body, err := req.Properties.String("DashboardBody")
	if err != nil {
		return Physical{}, err
	}
	if err := checkDashboard(body); err != nil {
		return Physical{}, fmt.Errorf("DashboardBody: %w", err)
	}
	p.records.add(Record{LogicalID: req.LogicalID, Type: req.Type, Properties: req.Properties})
	return Physical{Ref: name}, nil
}

func checkDashboard(body string) error {
	if body == "" {
		return errors.New("it is required")
	}
	var doc struct {
		Widgets []struct {
			Type                string
			X, Y, Width, Height *float64
			Properties          map[string]any
		}
	}
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("not a JSON object with a widgets array: %w", err)
	}
	if doc.Widgets == nil {
		return errors.New("the dashboard body must have a widgets array")
	}
	for i, w := range doc.Widgets {
		if !slices.Contains(dashboardWidgetTypes, w.Type) {
			return fmt.Errorf("widgets[%d]: type %q is not one of %s", i, w.Type, strings.Join(dashboardWidgetTypes, ", "))
		}
		width, height, x := 6.0, 6.0, 0.0
		if w.Width != nil {
			width = *w.Width
		}
		if w.Height != nil {
			height = *w.Height
		}
		if w.X != nil {
			x = *w.X
		}
		if width < 1 || width > 24 || height < 1 || height > 1000 || x < 0 || x+width > 24 || (w.Y != nil && *w.Y < 0) {
			return fmt.Errorf("widgets[%d] does not fit the grid: width 1-24, height 1-1000, x+width at most 24", i)
		}
		if w.Type != "metric" {
			continue
		}
		metrics, _ := w.Properties["metrics"].([]any)
		if len(metrics) == 0 {
			return fmt.Errorf("widgets[%d]: a metric widget needs properties.metrics", i)
		}
		for j, m := range metrics {
			if err := checkDashboardMetric(m); err != nil {
				return fmt.Errorf("widgets[%d].properties.metrics[%d]: %w", i, j, err)
			}
		}
	}
	return nil
}

// checkDashboardMetric checks one metric of a widget: [namespace, name,
// dimension name, value, …] with "." repeating the previous metric's
// field, an optional rendering object last; or [{"expression": …}].
func checkDashboardMetric(m any) error {
	arr, ok := m.([]any)
	if !ok || len(arr) == 0 {
		return errors.New("a metric must be a non-empty array")
	}
	if _, last := arr[len(arr)-1].(map[string]any); last {
		arr = arr[:len(arr)-1]
	}
	if len(arr) == 0 {
		return nil // an expression: only its options object
	}
	for _, f := range arr {
		if s, ok := f.(string); !ok || s == "" {
			return fmt.Errorf("%v is not a namespace, metric name or dimension", f)
		}
	}
	if len(arr) < 2 || len(arr)%2 != 0 {
		return errors.New("a metric is a namespace, a name and dimension name/value pairs")
	}
	return nil
}

// tagMap reads a Tags property ([{Key, Value}]) as a map.
func tagMap(props Properties) (map[string]string, error) {
	list, err := props.List("Tags")
	if err != nil || list == nil {
		return nil, err
	}
	tags := map[string]string{}
	for i, t := range list {
		m, _ := t.(map[string]any)
		k, err1 := Properties(m).String("Key")
		v, err2 := Properties(m).String("Value")
		if err := errors.Join(err1, err2); err != nil || k == "" {
			return nil, fmt.Errorf("Tags[%d] must have a Key and a Value", i)
		}
		tags[k] = v
	}
	return tags, nil
}

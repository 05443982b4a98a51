package deploy_test

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/deploy"
	"github.com/orderflow/orderflow/internal/cfntemplate"
)

func load(t *testing.T) *cfntemplate.Template {
	t.Helper()
	tpl, err := deploy.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return tpl
}

func resource(t *testing.T, tpl *cfntemplate.Template, name, typ string) cfntemplate.Resource {
	t.Helper()
	r, ok := tpl.Resources[name]
	if !ok {
		t.Fatalf("the template has no resource %s", name)
	}
	if r.Type != typ {
		t.Fatalf("resource %s is a %s, want %s", name, r.Type, typ)
	}
	return r
}

// number resolves a property that is a literal or a Ref to a parameter
// (taking the parameter's default).
func number(t *testing.T, tpl *cfntemplate.Template, v any) float64 {
	t.Helper()
	if m, ok := v.(map[string]any); ok {
		if ref, ok := m["Ref"].(string); ok {
			p, ok := tpl.Parameters[ref]
			if !ok {
				t.Fatalf("Ref %s is not a parameter", ref)
			}
			v = p.DefaultString()
		}
	}
	switch x := v.(type) {
	case float64:
		return x
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			t.Fatalf("%q is not a number", x)
		}
		return f
	}
	t.Fatalf("%#v is not a number", v)
	return 0
}

// branch resolves a property written !If [Fifo, a, b]: a with QueueType
// FIFO, b otherwise; nil for AWS::NoValue. Anything else is returned as it
// is.
func branch(v any, fifo bool) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	args, ok := m["Fn::If"].([]any)
	if !ok || len(args) != 3 || args[0] != "Fifo" {
		return v
	}
	pick := args[2]
	if fifo {
		pick = args[1]
	}
	if reflect.DeepEqual(pick, ref("AWS::NoValue")) {
		return nil
	}
	return pick
}

func ref(name string) map[string]any { return map[string]any{"Ref": name} }
func getAtt(res, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{res, attr}}
}

func TestTheVisibilityTimeoutCoversSixFunctionTimeoutsAndTheBatchingWindow(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	queue := resource(t, tpl, "OrderQueue", "AWS::SQS::Queue")
	fn := resource(t, tpl, "ProcessOrderFunction", "AWS::Lambda::Function")
	esm := resource(t, tpl, "OrderEventSourceMapping", "AWS::Lambda::EventSourceMapping")
	visibility := number(t, tpl, queue.Properties["VisibilityTimeout"])
	timeout := number(t, tpl, fn.Properties["Timeout"])
	window := number(t, tpl, branch(esm.Properties["MaximumBatchingWindowInSeconds"], false))
	if visibility < 6*timeout+window {
		t.Errorf("visibility timeout %v < 6 × function timeout %v + batching window %v", visibility, timeout, window)
	}
	// A FIFO queue's mapping has no window: Lambda refuses one.
	if w := branch(esm.Properties["MaximumBatchingWindowInSeconds"], true); w != nil {
		t.Errorf("with QueueType FIFO the batching window is %v, want none", w)
	}
}

func TestOrderQueueRedrivesToOrderDLQAfterThreeReceives(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	queue := resource(t, tpl, "OrderQueue", "AWS::SQS::Queue")
	rp, _ := queue.Properties["RedrivePolicy"].(map[string]any)
	if !reflect.DeepEqual(rp["deadLetterTargetArn"], getAtt("OrderDLQ", "Arn")) {
		t.Errorf("deadLetterTargetArn = %v, want OrderDLQ's ARN", rp["deadLetterTargetArn"])
	}
	if got := number(t, tpl, rp["maxReceiveCount"]); got != 3 {
		t.Errorf("maxReceiveCount = %v, want 3", got)
	}
	if queue.Properties["SqsManagedSseEnabled"] != true {
		t.Errorf("OrderQueue is not encrypted (SqsManagedSseEnabled)")
	}
}

func TestOrderDLQKeepsMessagesLongerThanOrderQueue(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	queue := resource(t, tpl, "OrderQueue", "AWS::SQS::Queue")
	dlq := resource(t, tpl, "OrderDLQ", "AWS::SQS::Queue")
	src := number(t, tpl, queue.Properties["MessageRetentionPeriod"])
	dst := number(t, tpl, dlq.Properties["MessageRetentionPeriod"])
	if dst != 1209600 {
		t.Errorf("OrderDLQ retention = %v s, want 14 days (1209600 s)", dst)
	}
	if dst <= src {
		t.Errorf("OrderDLQ retention %v s is not longer than OrderQueue's %v s", dst, src)
	}
	rap, _ := dlq.Properties["RedriveAllowPolicy"].(map[string]any)
	if rap["redrivePermission"] != "byQueue" {
		t.Errorf("RedriveAllowPolicy redrivePermission = %v, want byQueue", rap["redrivePermission"])
	}
	arns, _ := rap["sourceQueueArns"].([]any)
	if len(arns) != 1 {
		t.Fatalf("sourceQueueArns = %v, want only OrderQueue's ARN", arns)
	}
	for _, fifo := range []bool{false, true} {
		suffix := map[bool]string{false: "", true: ".fifo"}[fifo]
		want := map[string]any{"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueueName}" + suffix}
		if got := branch(arns[0], fifo); !reflect.DeepEqual(got, want) {
			t.Errorf("fifo %v: sourceQueueArns = %v, want %v", fifo, got, want)
		}
	}
	if q := branch(queue.Properties["QueueName"], false); !reflect.DeepEqual(q, ref("QueueName")) {
		t.Errorf("OrderQueue is not named by the QueueName parameter the DLQ's allow policy uses")
	}
	if q := branch(queue.Properties["QueueName"], true); !reflect.DeepEqual(q, map[string]any{"Fn::Sub": "${QueueName}.fifo"}) {
		t.Errorf("with QueueType FIFO OrderQueue is named %v, not the name the DLQ's allow policy uses", q)
	}
}

func TestOnlyOrderTopicMaySendToTheQueues(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	for name, queue := range map[string]string{"OrderQueuePolicy": "OrderQueue", "OrderDLQPolicy": "OrderDLQ"} {
		t.Run(name, func(t *testing.T) {
			p := resource(t, tpl, name, "AWS::SQS::QueuePolicy")
			if !reflect.DeepEqual(p.Properties["Queues"], []any{ref(queue)}) {
				t.Errorf("Queues = %v, want [%s]", p.Properties["Queues"], queue)
			}
			doc, _ := p.Properties["PolicyDocument"].(map[string]any)
			stmts, _ := doc["Statement"].([]any)
			if len(stmts) != 1 {
				t.Fatalf("statements = %d, want 1", len(stmts))
			}
			s := stmts[0].(map[string]any)
			want := map[string]any{
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "sns.amazonaws.com"},
				"Action":    "sqs:SendMessage",
				"Resource":  getAtt(queue, "Arn"),
				"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": ref("OrderTopic")}},
			}
			for k, v := range want {
				if !reflect.DeepEqual(s[k], v) {
					t.Errorf("%s = %v, want %v", k, s[k], v)
				}
			}
		})
	}
}

func TestOrderQueueIsSubscribedToOrderTopic(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	sub := resource(t, tpl, "OrderSubscription", "AWS::SNS::Subscription")
	want := map[string]any{
		"TopicArn": ref("OrderTopic"),
		"Protocol": "sqs",
		"Endpoint": getAtt("OrderQueue", "Arn"),
	}
	for k, v := range want {
		if !reflect.DeepEqual(sub.Properties[k], v) {
			t.Errorf("%s = %v, want %v", k, sub.Properties[k], v)
		}
	}
	if !slices.Contains(sub.DependsOn, "OrderQueuePolicy") {
		t.Errorf("the subscription does not wait for the queue policy: SNS's first deliveries would be denied")
	}
}

// actions lists every IAM action granted by the template's roles.
func actions(t *testing.T, tpl *cfntemplate.Template) (granted []string, statements []map[string]any) {
	t.Helper()
	for name, r := range tpl.Resources {
		if r.Type != "AWS::IAM::Role" {
			continue
		}
		if m, ok := r.Properties["ManagedPolicyArns"]; ok {
			t.Errorf("role %s attaches managed policies %v; grant only what the function uses, inline", name, m)
		}
		policies, _ := r.Properties["Policies"].([]any)
		for _, p := range policies {
			doc := p.(map[string]any)["PolicyDocument"].(map[string]any)
			for _, s := range doc["Statement"].([]any) {
				stmt := s.(map[string]any)
				statements = append(statements, stmt)
				switch a := stmt["Action"].(type) {
				case string:
					granted = append(granted, a)
				case []any:
					for _, x := range a {
						granted = append(granted, x.(string))
					}
				}
			}
		}
	}
	return granted, statements
}

func TestTheFunctionRoleHasLeastPrivilege(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	granted, statements := actions(t, tpl)
	for _, a := range granted {
		if strings.Contains(a, "*") {
			t.Errorf("wildcard action %q", a)
		}
	}
	for _, s := range statements {
		if s["Effect"] != "Allow" {
			continue
		}
		if _, ok := s["NotAction"]; ok {
			t.Errorf("statement %v uses NotAction", s["Sid"])
		}
		if r, ok := s["Resource"].(string); ok && strings.Contains(r, "*") {
			t.Errorf("statement %v grants on resource %q", s["Sid"], r)
		}
	}
	// Exactly what the function and its event source mapping call.
	want := []string{
		"dynamodb:GetItem", "dynamodb:PutItem",
		"logs:CreateLogStream", "logs:PutLogEvents",
		"sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:SendMessage",
	}
	slices.Sort(granted)
	if !slices.Equal(granted, want) {
		t.Errorf("granted actions = %v\nwant                 %v", granted, want)
	}
	if strings.Contains(string(deploy.TemplateYAML), "FullAccess") {
		t.Errorf("the template mentions a FullAccess policy")
	}
}

func TestTheFunctionIsAGoBinaryOnArm64WithItsConfiguration(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	fn := resource(t, tpl, "ProcessOrderFunction", "AWS::Lambda::Function")
	p := fn.Properties
	if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" || !reflect.DeepEqual(p["Architectures"], []any{"arm64"}) {
		t.Errorf("Runtime %v, Handler %v, Architectures %v; want provided.al2023, bootstrap, [arm64]", p["Runtime"], p["Handler"], p["Architectures"])
	}
	vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
	want := map[string]any{"ORDERS_TABLE": ref("OrdersTable"), "DLQ_URL": ref("OrderDLQ"), "LOG_LEVEL": ref("LogLevel")}
	if !reflect.DeepEqual(vars, want) {
		t.Errorf("environment = %v, want %v", vars, want)
	}
	lg := resource(t, tpl, "ProcessOrderFunctionLogGroup", "AWS::Logs::LogGroup")
	if number(t, tpl, lg.Properties["RetentionInDays"]) <= 0 {
		t.Errorf("the log group keeps logs forever")
	}
}

func TestTheEventSourceMappingReportsBatchItemFailures(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	esm := resource(t, tpl, "OrderEventSourceMapping", "AWS::Lambda::EventSourceMapping")
	p := esm.Properties
	if !reflect.DeepEqual(p["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}) {
		t.Errorf("FunctionResponseTypes = %v", p["FunctionResponseTypes"])
	}
	if !reflect.DeepEqual(p["EventSourceArn"], getAtt("OrderQueue", "Arn")) {
		t.Errorf("EventSourceArn = %v", p["EventSourceArn"])
	}
	batch := number(t, tpl, p["BatchSize"])
	window := number(t, tpl, branch(p["MaximumBatchingWindowInSeconds"], false))
	if batch < 1 || batch > 10000 || (batch > 10 && window < 1) {
		t.Errorf("BatchSize %v with window %v is not accepted by Lambda", batch, window)
	}
	sc, _ := p["ScalingConfig"].(map[string]any)
	if c := number(t, tpl, sc["MaximumConcurrency"]); c < 2 || c > 1000 {
		t.Errorf("MaximumConcurrency = %v, want 2–1000", c)
	}
}

func TestTheOrdersTable(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	table := resource(t, tpl, "OrdersTable", "AWS::DynamoDB::Table")
	p := table.Properties
	if p["BillingMode"] != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %v, want on-demand", p["BillingMode"])
	}
	if !reflect.DeepEqual(p["KeySchema"], []any{map[string]any{"AttributeName": "orderId", "KeyType": "HASH"}}) {
		t.Errorf("KeySchema = %v, want orderId HASH", p["KeySchema"])
	}
	gsis, _ := p["GlobalSecondaryIndexes"].([]any)
	wantGSI := map[string]any{
		"IndexName": "UserOrders",
		"KeySchema": []any{
			map[string]any{"AttributeName": "userId", "KeyType": "HASH"},
			map[string]any{"AttributeName": "timestamp", "KeyType": "RANGE"},
		},
		"Projection": map[string]any{"ProjectionType": "ALL"},
	}
	if len(gsis) != 1 || !reflect.DeepEqual(gsis[0], wantGSI) {
		t.Errorf("GlobalSecondaryIndexes = %v, want %v", gsis, wantGSI)
	}
	if pitr, _ := p["PointInTimeRecoverySpecification"].(map[string]any); pitr["PointInTimeRecoveryEnabled"] != true {
		t.Errorf("point-in-time recovery is off")
	}
	if p["DeletionProtectionEnabled"] != true || table.DeletionPolicy != "Retain" {
		t.Errorf("the table is not protected from deletion (DeletionProtectionEnabled %v, DeletionPolicy %q)", p["DeletionProtectionEnabled"], table.DeletionPolicy)
	}
}

func TestAnAlarmWatchesTheDLQ(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	a := resource(t, tpl, "OrderDLQAlarm", "AWS::CloudWatch::Alarm")
	p := a.Properties
	dims, _ := p["Dimensions"].([]any)
	want := []any{map[string]any{"Name": "QueueName", "Value": getAtt("OrderDLQ", "QueueName")}}
	if p["Namespace"] != "AWS/SQS" || p["MetricName"] != "ApproximateNumberOfMessagesVisible" || !reflect.DeepEqual(dims, want) ||
		p["ComparisonOperator"] != "GreaterThanThreshold" || number(t, tpl, p["Threshold"]) != 0 {
		t.Errorf("alarm = %v, want visible messages in OrderDLQ > 0", p)
	}
}

func TestAlarmsWatchTheOldestMessageAndFunctionErrors(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	for _, tc := range []struct {
		id, namespace, metric, statistic string
		dimension                        map[string]any
		threshold                        float64
	}{
		{"OrderQueueAgeAlarm", "AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum",
			map[string]any{"Name": "QueueName", "Value": getAtt("OrderQueue", "QueueName")}, 300},
		{"ProcessOrderFunctionErrorsAlarm", "AWS/Lambda", "Errors", "Sum",
			map[string]any{"Name": "FunctionName", "Value": ref("ProcessOrderFunction")}, 0},
	} {
		p := resource(t, tpl, tc.id, "AWS::CloudWatch::Alarm").Properties
		dims, _ := p["Dimensions"].([]any)
		if p["Namespace"] != tc.namespace || p["MetricName"] != tc.metric || p["Statistic"] != tc.statistic ||
			!reflect.DeepEqual(dims, []any{tc.dimension}) || p["ComparisonOperator"] != "GreaterThanThreshold" ||
			number(t, tpl, p["Threshold"]) != tc.threshold || p["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s = %v, want %s %s (%s) > %v", tc.id, p, tc.namespace, tc.metric, tc.statistic, tc.threshold)
		}
		// Notified like the DLQ alarm.
		if !reflect.DeepEqual(p["AlarmActions"], resource(t, tpl, "OrderDLQAlarm", "AWS::CloudWatch::Alarm").Properties["AlarmActions"]) {
			t.Errorf("%s AlarmActions = %v, want the DLQ alarm's", tc.id, p["AlarmActions"])
		}
	}
}

// TestEveryReferenceResolves checks that each Ref, GetAtt and ${} in Sub
// names a parameter, a resource or a pseudo parameter, and each Condition
// exists: mistakes CloudFormation would only report at deploy time.
func TestEveryReferenceResolves(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	known := func(name string) bool {
		_, isParam := tpl.Parameters[name]
		_, isRes := tpl.Resources[name]
		return isParam || isRes || strings.HasPrefix(name, "AWS::")
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				switch k {
				case "Ref":
					if s, _ := val.(string); !known(s) {
						t.Errorf("%s: Ref %v resolves to nothing", path, val)
					}
				case "Fn::GetAtt":
					parts, _ := val.([]any)
					if len(parts) != 2 {
						t.Errorf("%s: malformed GetAtt %v", path, val)
					} else if _, ok := tpl.Resources[fmt.Sprint(parts[0])]; !ok {
						t.Errorf("%s: GetAtt of unknown resource %v", path, parts[0])
					}
				case "Fn::Sub":
					s, _ := val.(string)
					for rest := s; strings.Contains(rest, "${"); {
						_, after, _ := strings.Cut(rest, "${")
						name, tail, _ := strings.Cut(after, "}")
						if base, _, _ := strings.Cut(name, "."); !known(base) {
							t.Errorf("%s: Sub names unknown %s", path, name)
						}
						rest = tail
					}
				case "Fn::If":
					args, _ := val.([]any)
					if _, ok := tpl.Conditions[fmt.Sprint(args[0])]; len(args) != 3 || !ok {
						t.Errorf("%s: If on unknown condition %v", path, val)
					}
				}
				walk(path+"."+k, val)
			}
		case []any:
			for i, val := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), val)
			}
		}
	}
	for name, r := range tpl.Resources {
		walk(name, r.Properties)
		for _, d := range r.DependsOn {
			if _, ok := tpl.Resources[d]; !ok {
				t.Errorf("%s depends on unknown %s", name, d)
			}
		}
	}
	for name, o := range tpl.Outputs {
		if o.Value == nil {
			t.Errorf("output %s has no value", name)
		}
		walk("Outputs."+name, o.Value)
	}
	for _, out := range []string{"OrderTopicArn", "OrderQueueUrl", "OrderDLQUrl", "OrdersTableName", "ProcessOrderFunctionName"} {
		if _, ok := tpl.Outputs[out]; !ok {
			t.Errorf("no output %s", out)
		}
	}
}

// QueueType FIFO makes the topic and both queues FIFO, with content-based
// deduplication, and the queue high-throughput (limits per message group,
// here per order); Standard leaves every one of those properties out.
func TestQueueTypeFIFOMakesTheTopicAndQueuesFIFO(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	if p := tpl.Parameters["QueueType"]; p.DefaultString() != "Standard" {
		t.Errorf("QueueType defaults to %q, want Standard", p.DefaultString())
	}
	want := map[string]map[string]any{
		"OrderTopic": {"FifoTopic": true, "ContentBasedDeduplication": true},
		"OrderQueue": {"FifoQueue": true, "ContentBasedDeduplication": true, "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"},
		"OrderDLQ":   {"FifoQueue": true, "ContentBasedDeduplication": true},
	}
	for name, props := range want {
		r := tpl.Resources[name]
		for k, v := range props {
			if got := branch(r.Properties[k], true); got != v {
				t.Errorf("%s.%s with QueueType FIFO = %v, want %v", name, k, got, v)
			}
			if got := branch(r.Properties[k], false); got != nil {
				t.Errorf("%s.%s with QueueType Standard = %v, want no value", name, k, got)
			}
		}
	}
	if _, ok := tpl.Rules["FifoBatchesHoldTenAtMost"]; !ok {
		t.Errorf("no rule keeps a FIFO mapping's BatchSize at 10 or less")
	}
}

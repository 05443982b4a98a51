package sns

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/sns/filterpolicy"
)

// Limits AWS documents and this service enforces.
const (
	// DefaultMaxMessageSize is a topic's MaximumMessageSize unless set: the
	// most bytes of message plus attributes one Publish (or one whole
	// PublishBatch) may carry.
	DefaultMaxMessageSize = 262144
	// MaxMaxMessageSize is the largest MaximumMessageSize a topic may set.
	MaxMaxMessageSize = 1048576
	// MaxRawAttributes is how many message attributes a raw delivery to SQS
	// can carry; more is a client-side delivery error.
	MaxRawAttributes = 10
	// MaxBatchEntries is the most entries in one PublishBatch.
	MaxBatchEntries = 10
	// MaxTags is the most tags on one topic.
	MaxTags  = 50
	pageSize = 100
)

type topic struct {
	arn, name string
	// attrs holds the attributes set by CreateTopic or SetTopicAttributes.
	attrs   map[string]string
	tags    map[string]string
	subs    []*subscription // replaced, never mutated, so Publish can read a snapshot
	deleted int
	// derived from attrs
	signatureVersion int
	maxMessageSize   int
	fifo             bool // FifoTopic=true, set at creation only
	contentDedup     bool // ContentBasedDeduplication=true
	groupScope       bool // FifoThroughputScope=MessageGroup: deduplication per group
	// state of a FIFO topic's publishes (fifo.go)
	pub fifoState
}

type subscription struct {
	arn, topicARN, protocol, endpoint string
	seq                               uint64 // creation order, which ListSubscriptionsByTopic's snapshot keeps
	// cfg is replaced, never mutated; Publish loads it without s.mu.
	cfg      atomic.Pointer[subConfig]
	counters *counters
}

// subConfig is a subscription's attributes and what they compile to.
type subConfig struct {
	attrs  map[string]string // as set, without defaults
	raw    bool
	filter *filterpolicy.Policy
	dlqARN string
}

// Subscription is one row of ListSubscriptions.
type Subscription struct {
	SubscriptionARN, Owner, Protocol, Endpoint, TopicARN string
}

func invalidParameter(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidParameter", "Invalid parameter: "+format, args...)
}

// invalidParameterValue is SNS's InvalidParameterValueException, whose wire
// code is ParameterValueInvalid.
func invalidParameterValue(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "ParameterValueInvalid", format, args...)
}

func notFound(what string) *awsproto.Error {
	return awsproto.Errorf(http.StatusNotFound, "NotFound", "%s does not exist", what)
}

// arn is a parsed Amazon Resource Name.
type arn struct{ partition, service, region, account, resource string }

func parseARN(s string) (arn, bool) {
	// strings.SplitN's six parts, cut in place: every Publish names its
	// topic's ARN.
	var parts [6]string
	rest := s
	for i := range 5 {
		p, r, ok := strings.Cut(rest, ":")
		if !ok {
			return arn{}, false
		}
		parts[i], rest = p, r
	}
	parts[5] = rest
	if parts[0] != "arn" || parts[1] == "" || parts[2] == "" || parts[5] == "" {
		return arn{}, false
	}
	return arn{parts[1], parts[2], parts[3], parts[4], parts[5]}, true
}

func (s *Service) topicARN(name string) string {
	return "arn:aws:sns:" + s.region + ":" + s.account + ":" + name
}

// checkTopicARN validates a topic ARN's form and place; action names the
// permission in an AuthorizationError.
func (s *Service) checkTopicARN(param, topicARN, action string) error {
	a, ok := parseARN(topicARN)
	if !ok || a.service != "sns" || !validTopicName(a.resource) {
		return invalidParameter("%s", param)
	}
	if a.region != s.region {
		return invalidParameter("%s Reason: A regional ARN was given for a different region (%s)", param, a.region)
	}
	if a.account != s.account {
		return awsproto.Errorf(http.StatusForbidden, "AuthorizationError",
			"User: arn:aws:iam::%s:root is not authorized to perform: SNS:%s on resource: %s because no resource-based policy allows the SNS:%s action",
			s.account, action, topicARN, action)
	}
	return nil
}

// topicLocked returns the topic; the caller holds s.mu.
func (s *Service) topicLocked(param, topicARN, action string) (*topic, error) {
	if err := s.checkTopicARN(param, topicARN, action); err != nil {
		return nil, err
	}
	t, ok := s.topics[topicARN]
	if !ok {
		return nil, notFound("Topic")
	}
	return t, nil
}

// The length is checked apart: a counted repetition ({1,256}) compiles
// to a program as long as its count, built when the process starts.
var topicName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// validTopicName reports whether name is a standard topic's name, or a
// FIFO topic's (at most 256 characters with its .fifo suffix).
func validTopicName(name string) bool {
	if len(name) > 256 {
		return false
	}
	if base, ok := strings.CutSuffix(name, ".fifo"); ok {
		return topicName.MatchString(base)
	}
	return topicName.MatchString(name)
}

func validSQSARN(s string) bool {
	a, ok := parseARN(s)
	return ok && a.service == "sqs" && a.region != "" && a.account != "" && !strings.Contains(a.resource, ":")
}

// changeKind names the state changes; every change goes through apply.
type changeKind int

const (
	changeCreateTopic changeKind = iota + 1
	changeDeleteTopic
	changeSetTopicAttribute
	changeTagResource
	changeUntagResource
	changeSubscribe
	changeUnsubscribe
	changeSetSubscriptionAttribute
)

// change is one state change, in a form that could be logged and replayed.
type change struct {
	kind               changeKind
	arn                string // topic or subscription ARN
	name, value        string // topic name; attribute name and value
	attrs, tags        map[string]string
	keys               []string
	protocol, endpoint string
}

// apply validates c against the current state and makes it, returning the
// ARN it created or found (CreateTopic, Subscribe). It is the only code that
// changes topics and subscriptions. With a data file it returns once the
// change is durable; the record is made under s.mu, so records reach the
// file in the order the changes were made.
func (s *Service) apply(c change) (string, error) {
	if err := s.writable(); err != nil {
		return "", err
	}
	s.mu.Lock()
	arn, err := s.applyLocked(c)
	if werr := durable(s.unlock()); werr != nil {
		return "", werr // an error too may rest on a change that will be lost
	}
	if err != nil {
		return "", err
	}
	return arn, nil
}

// applyLocked applies a change to topics or subscriptions (not a publish):
// one case per kind of change, each short, so it stays one switch.
func (s *Service) applyLocked(c change) (string, error) {
	switch c.kind {
	case changeCreateTopic:
		return s.createTopicLocked(c.name, c.attrs, c.tags)
	case changeDeleteTopic:
		if err := s.checkTopicARN("TopicArn", c.arn, "DeleteTopic"); err != nil {
			return "", err
		}
		t, ok := s.topics[c.arn]
		if !ok {
			return "", nil // AWS: deleting a topic that does not exist is not an error
		}
		for _, sub := range t.subs {
			delete(s.subs, sub.arn)
			delete(s.stats, sub.arn) // the totals keep its counts
		}
		delete(s.topics, c.arn)
		s.deleteTopicRecordsLocked(t)
		s.endFIFOLocked(t)
		return "", nil
	case changeSetTopicAttribute:
		t, err := s.topicLocked("TopicArn", c.arn, "SetTopicAttributes")
		if err != nil {
			return "", err
		}
		attrs := maps.Clone(t.attrs)
		if err := setTopicAttribute(attrs, c.name, c.value, false, t.fifo); err != nil {
			return "", err
		}
		t.attrs = attrs
		t.derive()
		s.saveTopicLocked(t)
		return "", nil
	case changeTagResource, changeUntagResource:
		t, err := s.tagTargetLocked(c.arn)
		if err != nil {
			return "", err
		}
		tags := maps.Clone(t.tags)
		if c.kind == changeTagResource {
			maps.Copy(tags, c.tags)
			if len(tags) > MaxTags {
				return "", awsproto.Errorf(http.StatusBadRequest, "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
			}
		} else {
			for _, k := range c.keys {
				delete(tags, k)
			}
		}
		t.tags = tags
		s.saveTopicLocked(t)
		return "", nil
	case changeSubscribe:
		return s.subscribeLocked(c.arn, c.protocol, c.endpoint, c.attrs)
	case changeUnsubscribe:
		sub, err := s.subscriptionLocked(c.arn)
		if ae, ok := err.(*awsproto.Error); ok && ae.Code == "NotFound" {
			return "", nil // unsubscribing twice is not an error
		}
		if err != nil {
			return "", err
		}
		delete(s.subs, sub.arn)
		delete(s.stats, sub.arn) // the totals keep its counts
		s.deleteSubscriptionRecordLocked(sub)
		if t, ok := s.topics[sub.topicARN]; ok {
			t.subs = slices.DeleteFunc(slices.Clone(t.subs), func(x *subscription) bool { return x == sub })
			t.deleted++
			s.saveTopicLocked(t)
		}
		return "", nil
	case changeSetSubscriptionAttribute:
		sub, err := s.subscriptionLocked(c.arn)
		if err != nil {
			return "", err
		}
		if !settableSubscriptionAttributes[c.name] {
			return "", invalidParameter("AttributeName")
		}
		attrs := maps.Clone(sub.cfg.Load().attrs)
		if attrs == nil {
			attrs = map[string]string{}
		}
		if c.value == "" && (c.name == "FilterPolicy" || c.name == "RedrivePolicy" || c.name == "DeliveryPolicy") {
			delete(attrs, c.name) // an empty value removes the policy
		} else {
			attrs[c.name] = c.value
		}
		cfg, err := compileSubscription(attrs)
		if err != nil {
			return "", err
		}
		if t, ok := s.topics[sub.topicARN]; ok {
			if err := checkFIFODeadLetter(t, sub.endpoint, cfg); err != nil {
				return "", err
			}
		}
		sub.cfg.Store(cfg)
		s.saveSubscriptionLocked(sub)
		return "", nil
	}
	return "", fmt.Errorf("sns: apply: unknown change %d", c.kind)
}

func (t *topic) derive() {
	t.signatureVersion = 1
	if t.attrs["SignatureVersion"] == "2" {
		t.signatureVersion = 2
	}
	t.maxMessageSize = DefaultMaxMessageSize
	if n, err := strconv.Atoi(t.attrs["MaximumMessageSize"]); err == nil {
		t.maxMessageSize = n
	}
	t.fifo = t.attrs["FifoTopic"] == "true"
	t.contentDedup = t.attrs["ContentBasedDeduplication"] == "true"
	t.groupScope = t.attrs["FifoThroughputScope"] == "MessageGroup"
}

// topicAttributeNames are the attributes CreateTopic and SetTopicAttributes
// accept for a standard topic (FIFO-only ones are refused with a reason).
var topicAttributeNames = map[string]bool{
	"DeliveryPolicy": true, "DisplayName": true, "Policy": true, "SignatureVersion": true,
	"TracingConfig": true, "KmsMasterKeyId": true, "MaximumMessageSize": true,
	"HTTPSuccessFeedbackRoleArn": true, "HTTPSuccessFeedbackSampleRate": true, "HTTPFailureFeedbackRoleArn": true,
	"FirehoseSuccessFeedbackRoleArn": true, "FirehoseSuccessFeedbackSampleRate": true, "FirehoseFailureFeedbackRoleArn": true,
	"LambdaSuccessFeedbackRoleArn": true, "LambdaSuccessFeedbackSampleRate": true, "LambdaFailureFeedbackRoleArn": true,
	"ApplicationSuccessFeedbackRoleArn": true, "ApplicationSuccessFeedbackSampleRate": true, "ApplicationFailureFeedbackRoleArn": true,
	"SQSSuccessFeedbackRoleArn": true, "SQSSuccessFeedbackSampleRate": true, "SQSFailureFeedbackRoleArn": true,
}

func validJSONObject(s string) bool {
	var v map[string]any
	return json.Unmarshal([]byte(s), &v) == nil && v != nil
}

// setTopicAttribute validates name=value and records it in attrs; fifo
// says whether the topic is (or is being created as) a FIFO topic.
func setTopicAttribute(attrs map[string]string, name, value string, creating, fifo bool) error {
	switch name {
	case "FifoTopic":
		if !creating {
			return invalidParameter("AttributeName") // AWS: fixed at creation
		}
		switch strings.ToLower(value) {
		case "true":
			value = "true"
		case "false":
			return nil // a standard topic, as if unset
		default:
			return invalidParameter("Attributes Reason: FifoTopic: Invalid value [%s]. Must be true or false.", value)
		}
	case "ContentBasedDeduplication":
		if !fifo {
			return invalidParameter("Attributes Reason: ContentBasedDeduplication: only FIFO topics support this attribute")
		}
		switch strings.ToLower(value) {
		case "true", "false":
			value = strings.ToLower(value)
		default:
			return invalidParameter("Attributes Reason: ContentBasedDeduplication: Invalid value [%s]. Must be true or false.", value)
		}
	case "FifoThroughputScope":
		if !fifo {
			return invalidParameter("Attributes Reason: FifoThroughputScope: only FIFO topics support this attribute")
		}
		if value != "Topic" && value != "MessageGroup" {
			return invalidParameter("Attributes Reason: FifoThroughputScope: Invalid value [%s]. Please use either Topic or MessageGroup", value)
		}
	case "ArchivePolicy":
		if !fifo {
			return invalidParameter("Attributes Reason: ArchivePolicy: only FIFO topics support this attribute")
		}
		return invalidParameter("Attributes Reason: ArchivePolicy: message archiving and replay are not supported by this SNS endpoint")
	case "SignatureVersion":
		if value != "1" && value != "2" {
			return invalidParameter("SignatureVersion")
		}
	case "MaximumMessageSize":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1024 || n > MaxMaxMessageSize {
			return invalidParameter("MaximumMessageSize Reason: must be an integer from 1024 to %d", MaxMaxMessageSize)
		}
	case "TracingConfig":
		if value != "PassThrough" && value != "Active" {
			return invalidParameter("Attributes Reason: TracingConfig: Invalid value [%s]. Please use either PassThrough or Active", value)
		}
	case "Policy", "DeliveryPolicy":
		if !validJSONObject(value) {
			return invalidParameter("%s: failed to parse JSON", name)
		}
	case "DisplayName":
		if len(value) > 100 {
			return invalidParameter("DisplayName Reason: must be at most 100 characters")
		}
	default:
		if !topicAttributeNames[name] {
			return invalidParameter("AttributeName")
		}
	}
	attrs[name] = value
	return nil
}

func (s *Service) createTopicLocked(name string, attrs, tags map[string]string) (string, error) {
	// AWS: a FIFO topic (FifoTopic=true) must be named *.fifo, and only a
	// FIFO topic may be; either mismatch is "Topic Name".
	fifo := strings.EqualFold(attrs["FifoTopic"], "true")
	base, suffixed := strings.CutSuffix(name, ".fifo")
	if fifo != suffixed || !validTopicName(name) || (!fifo && !topicName.MatchString(base)) {
		return "", invalidParameter("Topic Name")
	}
	set := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if err := setTopicAttribute(set, k, attrs[k], true, fifo); err != nil {
			return "", err
		}
	}
	if err := checkTags(tags); err != nil {
		return "", err
	}
	topicARN := s.topicARN(name)
	if t, ok := s.topics[topicARN]; ok {
		for k, v := range set {
			if t.attrs[k] != v {
				return "", invalidParameter("Attributes Reason: Topic already exists with different attributes")
			}
		}
		for k, v := range tags {
			if cur, ok := t.tags[k]; !ok || cur != v {
				return "", invalidParameter("Tags Reason: Topic already exists with different tags")
			}
		}
		return topicARN, nil
	}
	t := &topic{arn: topicARN, name: name, attrs: set, tags: maps.Clone(tags)}
	if t.tags == nil {
		t.tags = map[string]string{}
	}
	t.derive()
	s.topics[topicARN] = t
	s.saveTopicLocked(t)
	return topicARN, nil
}

func checkTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return awsproto.Errorf(http.StatusBadRequest, "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return invalidParameter("Tags Reason: tag keys must be 1 to 128 characters and values at most 256")
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return invalidParameter("Tags Reason: the aws: prefix is reserved")
		}
	}
	return nil
}

func (s *Service) tagTargetLocked(resourceARN string) (*topic, error) {
	a, ok := parseARN(resourceARN)
	if !ok || a.service != "sns" {
		return nil, invalidParameter("ResourceArn")
	}
	t, ok := s.topics[resourceARN]
	if !ok {
		return nil, awsproto.Errorf(http.StatusNotFound, "ResourceNotFound", "Resource does not exist")
	}
	return t, nil
}

// protocols SNS knows; only sqs is delivered here.
var knownProtocols = map[string]bool{
	"http": true, "https": true, "email": true, "email-json": true, "sms": true,
	"sqs": true, "application": true, "lambda": true, "firehose": true,
}

// settableSubscriptionAttributes are the attributes Subscribe and
// SetSubscriptionAttributes accept.
var settableSubscriptionAttributes = map[string]bool{
	"DeliveryPolicy": true, "FilterPolicy": true, "FilterPolicyScope": true,
	"RawMessageDelivery": true, "RedrivePolicy": true, "SubscriptionRoleArn": true,
}

// compileSubscription validates a subscription's attributes and compiles its
// filter and redrive policies.
func compileSubscription(attrs map[string]string) (*subConfig, error) {
	if attrs == nil {
		attrs = map[string]string{}
	}
	cfg := &subConfig{attrs: attrs}
	for name, v := range attrs {
		if !settableSubscriptionAttributes[name] {
			return nil, invalidParameter("Attributes Reason: Unknown attribute %s", name)
		}
		if name == "DeliveryPolicy" && !validJSONObject(v) {
			return nil, invalidParameter("DeliveryPolicy: failed to parse JSON")
		}
	}
	if v, ok := attrs["RawMessageDelivery"]; ok {
		switch strings.ToLower(v) {
		case "true":
			cfg.raw = true
		case "false":
		default:
			return nil, invalidParameter("Attributes Reason: RawMessageDelivery: Invalid value [%s]. Must be true or false.", v)
		}
		attrs["RawMessageDelivery"] = strings.ToLower(v)
	}
	scope := filterpolicy.ScopeAttributes
	if v, ok := attrs["FilterPolicyScope"]; ok {
		if v != string(filterpolicy.ScopeAttributes) && v != string(filterpolicy.ScopeBody) {
			return nil, invalidParameter("Attributes Reason: FilterPolicyScope: Invalid value [%s]. Please use either MessageBody or MessageAttributes", v)
		}
		scope = filterpolicy.Scope(v)
	}
	if v, ok := attrs["FilterPolicy"]; ok {
		p, err := filterpolicy.Parse(v, scope)
		if err != nil {
			return nil, invalidParameter("FilterPolicy: %s", err.Error())
		}
		cfg.filter = p
	}
	if v, ok := attrs["RedrivePolicy"]; ok {
		dlq, err := parseRedrivePolicy(v)
		if err != nil {
			return nil, err
		}
		cfg.dlqARN = dlq
	}
	return cfg, nil
}

func parseRedrivePolicy(v string) (string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
		return "", invalidParameter("RedrivePolicy: invalid JSON.")
	}
	for k := range m {
		if k != "deadLetterTargetArn" {
			return "", invalidParameter("RedrivePolicy: invalid JSON. Attribute %s is unknown.", k)
		}
	}
	dlq, _ := m["deadLetterTargetArn"].(string)
	if !validSQSARN(dlq) {
		return "", invalidParameter("RedrivePolicy: deadLetterTargetArn is an invalid arn")
	}
	return dlq, nil
}

func (s *Service) subscribeLocked(topicARN, protocol, endpoint string, attrs map[string]string) (string, error) {
	proto := strings.ToLower(protocol)
	if proto == "" {
		return "", invalidParameter("Protocol")
	}
	if !knownProtocols[proto] {
		return "", invalidParameter("Amazon SNS does not support this protocol string: %s", protocol)
	}
	if proto != "sqs" {
		return "", invalidParameter("Protocol Reason: %s subscriptions are not supported by this SNS endpoint; use sqs", proto)
	}
	if !validSQSARN(endpoint) {
		return "", invalidParameter("SQS endpoint ARN")
	}
	if s.queues == nil {
		return "", invalidParameter("Protocol Reason: no SQS service is attached to this SNS endpoint")
	}
	t, err := s.topicLocked("TopicArn", topicARN, "Subscribe")
	if err != nil {
		return "", err
	}
	if !t.fifo && fifoQueueARN(endpoint) {
		return "", invalidParameter("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics")
	}
	cfg, err := compileSubscription(maps.Clone(attrs))
	if err != nil {
		return "", err
	}
	if err := checkFIFODeadLetter(t, endpoint, cfg); err != nil {
		return "", err
	}
	for _, sub := range t.subs {
		if sub.protocol == proto && sub.endpoint == endpoint {
			for k, v := range cfg.attrs {
				if sub.cfg.Load().attrs[k] != v {
					return "", invalidParameter("Attributes Reason: Subscription already exists with different attributes")
				}
			}
			return sub.arn, nil
		}
	}
	sub := &subscription{
		arn:      topicARN + ":" + awsproto.NewRequestID(),
		topicARN: topicARN, protocol: proto, endpoint: endpoint,
		counters: s.newCounters(),
	}
	sub.cfg.Store(cfg)
	s.subSeq++
	sub.seq = s.subSeq
	s.subs[sub.arn] = sub
	s.stats[sub.arn] = sub.counters
	t.subs = append(slices.Clone(t.subs), sub)
	s.saveSubscriptionLocked(sub)
	return sub.arn, nil
}

func (s *Service) subscriptionLocked(subARN string) (*subscription, error) {
	a, ok := parseARN(subARN)
	if !ok || a.service != "sns" || !strings.Contains(a.resource, ":") {
		return nil, invalidParameter("SubscriptionArn")
	}
	sub, ok := s.subs[subARN]
	if !ok {
		return nil, notFound("Subscription")
	}
	return sub, nil
}

// fifoQueueARN reports whether an SQS queue ARN names a FIFO queue.
func fifoQueueARN(queueARN string) bool { return strings.HasSuffix(queueARN, ".fifo") }

// checkFIFODeadLetter applies AWS's rule that a FIFO queue's subscription
// to a FIFO topic dead-letters into a FIFO queue.
func checkFIFODeadLetter(t *topic, endpoint string, cfg *subConfig) error {
	if t.fifo && fifoQueueARN(endpoint) && cfg.dlqARN != "" && !fifoQueueARN(cfg.dlqARN) {
		return invalidParameter("RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic.")
	}
	return nil
}

// CreateTopic creates the topic name (a FIFO topic when attrs has
// FifoTopic=true), or returns the ARN of the
// existing one when its attributes and tags agree (AWS's idempotency).
func (s *Service) CreateTopic(ctx context.Context, name string, attrs, tags map[string]string) (string, error) {
	return s.apply(change{kind: changeCreateTopic, name: name, attrs: attrs, tags: tags})
}

// DeleteTopic deletes a topic and its subscriptions; a missing topic is not
// an error.
func (s *Service) DeleteTopic(ctx context.Context, topicARN string) error {
	_, err := s.apply(change{kind: changeDeleteTopic, arn: topicARN})
	return err
}

// SetTopicAttribute sets one topic attribute.
func (s *Service) SetTopicAttribute(ctx context.Context, topicARN, name, value string) error {
	_, err := s.apply(change{kind: changeSetTopicAttribute, arn: topicARN, name: name, value: value})
	return err
}

// defaultTopicPolicy is the access policy AWS gives a new topic.
func (s *Service) defaultTopicPolicy(topicARN string) string {
	return `{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{"Sid":"__default_statement_ID","Effect":"Allow","Principal":{"AWS":"*"},` +
		`"Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission","SNS:RemovePermission","SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],` +
		`"Resource":"` + topicARN + `","Condition":{"StringEquals":{"AWS:SourceOwner":"` + s.account + `"}}}]}`
}

const defaultEffectiveDeliveryPolicy = `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}`

// TopicAttributes returns a topic's attributes as GetTopicAttributes does.
func (s *Service) TopicAttributes(ctx context.Context, topicARN string) (map[string]string, error) {
	var out map[string]string
	err := s.read(func() error {
		t, err := s.topicLocked("TopicArn", topicARN, "GetTopicAttributes")
		if err != nil {
			return err
		}
		out = s.topicAttributesLocked(t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) topicAttributesLocked(t *topic) map[string]string {
	out := map[string]string{
		"TopicArn":                t.arn,
		"Owner":                   s.account,
		"Policy":                  s.defaultTopicPolicy(t.arn),
		"DisplayName":             "",
		"EffectiveDeliveryPolicy": defaultEffectiveDeliveryPolicy,
		"SubscriptionsConfirmed":  strconv.Itoa(len(t.subs)),
		"SubscriptionsPending":    "0",
		"SubscriptionsDeleted":    strconv.Itoa(t.deleted),
	}
	if t.fifo {
		out["ContentBasedDeduplication"] = "false" // AWS reports it on every FIFO topic
	}
	maps.Copy(out, t.attrs)
	if dp, ok := t.attrs["DeliveryPolicy"]; ok {
		out["EffectiveDeliveryPolicy"] = dp
	}
	return out
}

// ListTopics returns up to 100 topic ARNs after nextToken, and the token for
// the next page ("" at the end).
func (s *Service) ListTopics(ctx context.Context, nextToken string) ([]string, string, error) {
	var arns []string
	if err := s.read(func() error { arns = slices.Sorted(maps.Keys(s.topics)); return nil }); err != nil {
		return nil, "", err
	}
	return page(arns, nextToken, func(a string) string { return a })
}

// page returns the items after the one nextToken names, at most pageSize.
func page[T any](items []T, nextToken string, key func(T) string) ([]T, string, error) {
	start := 0
	if nextToken != "" {
		after, err := base64.RawURLEncoding.DecodeString(nextToken)
		if err != nil || len(after) == 0 {
			return nil, "", invalidParameter("NextToken")
		}
		start, _ = slices.BinarySearchFunc(items, string(after), func(it T, k string) int { return strings.Compare(key(it), k) })
		for start < len(items) && key(items[start]) <= string(after) {
			start++
		}
	}
	end := min(start+pageSize, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
	}
	return items[start:end], next, nil
}

// Subscribe subscribes endpoint (an SQS queue ARN, protocol "sqs") to the
// topic, confirmed at once as AWS does for SQS in the same account. The same
// endpoint subscribed again returns the existing subscription.
func (s *Service) Subscribe(ctx context.Context, topicARN, protocol, endpoint string, attrs map[string]string) (string, error) {
	return s.apply(change{kind: changeSubscribe, arn: topicARN, protocol: protocol, endpoint: endpoint, attrs: attrs})
}

// Unsubscribe deletes a subscription; one that does not exist (a
// well-formed ARN) is not an error.
func (s *Service) Unsubscribe(ctx context.Context, subscriptionARN string) error {
	_, err := s.apply(change{kind: changeUnsubscribe, arn: subscriptionARN})
	return err
}

// SetSubscriptionAttribute sets one subscription attribute; an empty
// FilterPolicy, RedrivePolicy or DeliveryPolicy removes it.
func (s *Service) SetSubscriptionAttribute(ctx context.Context, subscriptionARN, name, value string) error {
	_, err := s.apply(change{kind: changeSetSubscriptionAttribute, arn: subscriptionARN, name: name, value: value})
	return err
}

// SubscriptionAttributes returns a subscription's attributes as
// GetSubscriptionAttributes does.
func (s *Service) SubscriptionAttributes(ctx context.Context, subscriptionARN string) (map[string]string, error) {
	var sub *subscription
	err := s.read(func() error {
		var err error
		sub, err = s.subscriptionLocked(subscriptionARN)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := map[string]string{
		"SubscriptionArn":              sub.arn,
		"TopicArn":                     sub.topicARN,
		"Owner":                        s.account,
		"Protocol":                     sub.protocol,
		"Endpoint":                     sub.endpoint,
		"PendingConfirmation":          "false",
		"ConfirmationWasAuthenticated": "true",
		"RawMessageDelivery":           "false",
	}
	cfg := sub.cfg.Load()
	maps.Copy(out, cfg.attrs)
	if _, ok := cfg.attrs["FilterPolicy"]; ok {
		if _, ok := out["FilterPolicyScope"]; !ok {
			out["FilterPolicyScope"] = string(filterpolicy.ScopeAttributes)
		}
	}
	return out, nil
}

// ListSubscriptions returns up to 100 subscriptions after nextToken, of one
// topic when topicARN is set, and the token for the next page.
func (s *Service) ListSubscriptions(ctx context.Context, topicARN, nextToken string) ([]Subscription, string, error) {
	var subs []*subscription
	err := s.read(func() error {
		if topicARN == "" {
			subs = slices.Collect(maps.Values(s.subs))
			return nil
		}
		t, err := s.topicLocked("TopicArn", topicARN, "ListSubscriptionsByTopic")
		if err != nil {
			return err
		}
		subs = slices.Clone(t.subs)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	rows := make([]Subscription, len(subs))
	for i, sub := range subs {
		rows[i] = Subscription{SubscriptionARN: sub.arn, Owner: s.account, Protocol: sub.protocol, Endpoint: sub.endpoint, TopicARN: sub.topicARN}
	}
	slices.SortFunc(rows, func(a, b Subscription) int { return strings.Compare(a.SubscriptionARN, b.SubscriptionARN) })
	return page(rows, nextToken, func(r Subscription) string { return r.SubscriptionARN })
}

// TagResource adds or replaces tags on a topic.
func (s *Service) TagResource(ctx context.Context, resourceARN string, tags map[string]string) error {
	if len(tags) == 0 {
		return invalidParameter("Tags Reason: at least one tag is required")
	}
	if err := checkTags(tags); err != nil {
		return err
	}
	_, err := s.apply(change{kind: changeTagResource, arn: resourceARN, tags: tags})
	return err
}

// UntagResource removes tags from a topic.
func (s *Service) UntagResource(ctx context.Context, resourceARN string, keys []string) error {
	_, err := s.apply(change{kind: changeUntagResource, arn: resourceARN, keys: keys})
	return err
}

// Tags returns a topic's tags.
func (s *Service) Tags(ctx context.Context, resourceARN string) (map[string]string, error) {
	var tags map[string]string
	err := s.read(func() error {
		t, err := s.tagTargetLocked(resourceARN)
		if err != nil {
			return err
		}
		tags = maps.Clone(t.tags)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tags, nil
}

package sns

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// XMLNamespace is the namespace of SNS's Query-protocol documents.
const XMLNamespace = "http://sns.amazonaws.com/doc/2010-03-31/"

// maxRequestBody bounds a request's form: a 1 MiB PublishBatch, URL-encoded.
const maxRequestBody = 8 << 20

type queryHandler func(s *Service, ctx context.Context, f awsproto.Form) (any, error)

// queryActions maps each Query action to its handler; a handler returns the
// <Action>Result element's content, or nil for an empty result.
var queryActions = map[string]queryHandler{
	"CreateTopic":               (*Service).qCreateTopic,
	"DeleteTopic":               (*Service).qDeleteTopic,
	"ListTopics":                (*Service).qListTopics,
	"GetTopicAttributes":        (*Service).qGetTopicAttributes,
	"SetTopicAttributes":        (*Service).qSetTopicAttributes,
	"Subscribe":                 (*Service).qSubscribe,
	"Unsubscribe":               (*Service).qUnsubscribe,
	"ListSubscriptions":         (*Service).qListSubscriptions,
	"ListSubscriptionsByTopic":  (*Service).qListSubscriptionsByTopic,
	"GetSubscriptionAttributes": (*Service).qGetSubscriptionAttributes,
	"SetSubscriptionAttributes": (*Service).qSetSubscriptionAttributes,
	"Publish":                   (*Service).qPublish,
	"PublishBatch":              (*Service).qPublishBatch,
	"TagResource":               (*Service).qTagResource,
	"UntagResource":             (*Service).qUntagResource,
	"ListTagsForResource":       (*Service).qListTagsForResource,
}

var actionNames = slices.Sorted(maps.Keys(queryActions))

// ServeHTTP serves the Query protocol (POST or GET with Action=…) and GET of
// the signing certificate.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := awsproto.NewRequestID()
	w.Header().Set("X-Amzn-RequestId", requestID)
	if r.Method == http.MethodGet && r.URL.Path == s.certPath && r.URL.Query().Get("Action") == "" {
		s.ServePath(w, r)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		s.writeError(w, awsproto.Errorf(http.StatusMethodNotAllowed, "InvalidAction", "The Query protocol takes GET or POST, not %s", r.Method), requestID)
		return
	}
	if r.Form == nil {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		}
		// Without a copy of the parameters (the edge parses the form the
		// same way to route the request, and then r.Form is set).
		if err := awsproto.ParseForm(r); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				s.writeError(w, awsproto.Errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body larger than %d bytes", maxRequestBody), requestID)
				return
			}
			s.writeError(w, invalidParameter("Request body: %v", err), requestID)
			return
		}
	}
	form := awsproto.Form(r.Form)
	action := form.Get("Action")
	h, ok := queryActions[action]
	if !ok {
		if action == "" {
			s.writeError(w, awsproto.Errorf(http.StatusBadRequest, "MissingAction", "Missing Action"), requestID)
			return
		}
		s.writeError(w, awsproto.Errorf(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version 2010-03-31", action), requestID)
		return
	}
	result, err := h(s, r.Context(), form)
	if err != nil {
		s.writeError(w, err, requestID)
		return
	}
	doc := queryResponse{XMLName: xml.Name{Local: action + "Response"}, Xmlns: XMLNamespace, RequestID: requestID}
	if result != nil {
		doc.Result = result
	}
	awsproto.WriteXML(w, doc)
}

// writeError writes err as SNS's <ErrorResponse>; SNS names its own faults
// InternalError.
func (s *Service) writeError(w http.ResponseWriter, err error, requestID string) {
	var e *awsproto.Error
	if !errors.As(err, &e) {
		s.log.Error("sns: internal error", "err", err)
		e = &awsproto.Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: err.Error(), Receiver: true}
	}
	awsproto.WriteQueryError(w, e, XMLNamespace, requestID)
}

type queryResponse struct {
	XMLName   xml.Name
	Xmlns     string `xml:"xmlns,attr"`
	Result    any
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

var _ awsproto.XMLAppender = queryResponse{}

// AppendXML writes the response as encoding/xml would, when its result
// writes itself too (the Publish and PublishBatch results).
func (q queryResponse) AppendXML(b []byte) ([]byte, bool) {
	result, ok := q.Result.(awsproto.XMLAppender)
	if !ok || q.XMLName.Space != "" {
		return b, false
	}
	b = append(b, '<')
	b = append(b, q.XMLName.Local...)
	b = append(b, ` xmlns="`...)
	b = awsproto.AppendXMLText(b, q.Xmlns)
	b = append(b, `">`...)
	if b, ok = result.AppendXML(b); !ok {
		return b, false
	}
	b = append(b, "<ResponseMetadata>"...)
	b = awsproto.AppendXMLElement(b, "RequestId", q.RequestID)
	b = append(b, "</ResponseMetadata></"...)
	b = append(b, q.XMLName.Local...)
	return append(b, '>'), true
}

// publishResult is Publish's result.
type publishResult struct {
	XMLName        xml.Name `xml:"PublishResult"`
	MessageId      string
	SequenceNumber string `xml:",omitempty"`
}

func (p *publishResult) AppendXML(b []byte) ([]byte, bool) {
	b = append(b, "<PublishResult>"...)
	b = awsproto.AppendXMLElement(b, "MessageId", p.MessageId)
	if p.SequenceNumber != "" {
		b = awsproto.AppendXMLElement(b, "SequenceNumber", p.SequenceNumber)
	}
	return append(b, "</PublishResult>"...), true
}

// publishBatchResult is PublishBatch's result.
type publishBatchResult struct {
	XMLName    xml.Name             `xml:"PublishBatchResult"`
	Successful []publishBatchOK     `xml:"Successful>member"`
	Failed     []publishBatchFailed `xml:"Failed>member"`
}

type publishBatchOK struct {
	Id, MessageId  string
	SequenceNumber string `xml:",omitempty"`
}

type publishBatchFailed struct {
	Id, Code, Message string
	SenderFault       bool
}

func (p *publishBatchResult) AppendXML(b []byte) ([]byte, bool) {
	// encoding/xml writes the lists' parents even when they are empty.
	b = append(b, "<PublishBatchResult><Successful>"...)
	for _, m := range p.Successful {
		b = append(b, "<member>"...)
		b = awsproto.AppendXMLElement(b, "Id", m.Id)
		b = awsproto.AppendXMLElement(b, "MessageId", m.MessageId)
		if m.SequenceNumber != "" {
			b = awsproto.AppendXMLElement(b, "SequenceNumber", m.SequenceNumber)
		}
		b = append(b, "</member>"...)
	}
	b = append(b, "</Successful><Failed>"...)
	for _, m := range p.Failed {
		b = append(b, "<member>"...)
		b = awsproto.AppendXMLElement(b, "Id", m.Id)
		b = awsproto.AppendXMLElement(b, "Code", m.Code)
		b = awsproto.AppendXMLElement(b, "Message", m.Message)
		b = awsproto.AppendXMLElement(b, "SenderFault", strconv.FormatBool(m.SenderFault))
		b = append(b, "</member>"...)
	}
	return append(b, "</Failed></PublishBatchResult>"...), true
}

// emptyResult is the empty <…Result/> that operations whose output is an
// empty structure (TagResource, UntagResource) carry; operations with no
// output at all (DeleteTopic, Unsubscribe, Set…Attributes) carry none.
func emptyResult(name string) any {
	return &struct{ XMLName xml.Name }{XMLName: xml.Name{Local: name}}
}

type entry struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func entries(m map[string]string) []entry {
	out := make([]entry, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, entry{k, m[k]})
	}
	return out
}

type tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// required returns the parameter or an InvalidParameter error naming it.
func required(f awsproto.Form, name string) (string, error) {
	v := f.Get(name)
	if v == "" {
		return "", invalidParameter("%s Reason: no value for required parameter", name)
	}
	return v, nil
}

// attributeMap decodes Attributes.entry.N.key/value.
func attributeMap(f awsproto.Form, prefix string) (map[string]string, error) {
	m, err := f.Map(prefix+".entry", "key", "value")
	if err != nil {
		return nil, invalidParameter("%s Reason: %v", prefix, err)
	}
	return m, nil
}

func tagMap(f awsproto.Form, prefix string) (map[string]string, error) {
	m, err := f.Map(prefix+".member", "Key", "Value")
	if err != nil {
		return nil, invalidParameter("%s Reason: %v", prefix, err)
	}
	return m, nil
}

// messageAttributes decodes MessageAttributes.entry.N.Name and .Value.*.
func messageAttributes(f awsproto.Form) (map[string]MessageAttribute, error) {
	structs := f.Structs("MessageAttributes.entry")
	if len(structs) == 0 {
		return nil, nil
	}
	out := make(map[string]MessageAttribute, len(structs))
	for _, e := range structs {
		name := e.Get("Name")
		if name == "" {
			return nil, invalidParameterValue("The message attribute name must not be empty.")
		}
		if _, dup := out[name]; dup {
			return nil, invalidParameterValue("Message attribute name %s is duplicated.", name)
		}
		a := MessageAttribute{DataType: e.Get("Value.DataType"), StringValue: e.Get("Value.StringValue")}
		if e.Has("Value.BinaryValue") {
			b, err := base64.StdEncoding.DecodeString(e.Get("Value.BinaryValue"))
			if err != nil {
				return nil, invalidParameterValue("The message attribute '%s' has an invalid binary value: not base64.", name)
			}
			a.BinaryValue = b
		}
		out[name] = a
	}
	return out, nil
}

func (s *Service) qCreateTopic(ctx context.Context, f awsproto.Form) (any, error) {
	name := f.Get("Name")
	attrs, err := attributeMap(f, "Attributes")
	if err != nil {
		return nil, err
	}
	tags, err := tagMap(f, "Tags")
	if err != nil {
		return nil, err
	}
	topicARN, err := s.CreateTopic(ctx, name, attrs, tags)
	if err != nil {
		return nil, err
	}
	return &struct {
		XMLName  xml.Name `xml:"CreateTopicResult"`
		TopicArn string
	}{TopicArn: topicARN}, nil
}

func (s *Service) qDeleteTopic(ctx context.Context, f awsproto.Form) (any, error) {
	topicARN, err := required(f, "TopicArn")
	if err != nil {
		return nil, err
	}
	return nil, s.DeleteTopic(ctx, topicARN)
}

func (s *Service) qListTopics(ctx context.Context, f awsproto.Form) (any, error) {
	arns, next, err := s.ListTopics(ctx, f.Get("NextToken"))
	if err != nil {
		return nil, err
	}
	type member struct{ TopicArn string }
	res := &struct {
		XMLName   xml.Name `xml:"ListTopicsResult"`
		Topics    []member `xml:"Topics>member"`
		NextToken string   `xml:",omitempty"`
	}{NextToken: next, Topics: []member{}}
	for _, a := range arns {
		res.Topics = append(res.Topics, member{a})
	}
	return res, nil
}

func (s *Service) qGetTopicAttributes(ctx context.Context, f awsproto.Form) (any, error) {
	topicARN, err := required(f, "TopicArn")
	if err != nil {
		return nil, err
	}
	attrs, err := s.TopicAttributes(ctx, topicARN)
	if err != nil {
		return nil, err
	}
	return &struct {
		XMLName    xml.Name `xml:"GetTopicAttributesResult"`
		Attributes []entry  `xml:"Attributes>entry"`
	}{Attributes: entries(attrs)}, nil
}

func (s *Service) qSetTopicAttributes(ctx context.Context, f awsproto.Form) (any, error) {
	topicARN, err := required(f, "TopicArn")
	if err != nil {
		return nil, err
	}
	name, err := required(f, "AttributeName")
	if err != nil {
		return nil, err
	}
	return nil, s.SetTopicAttribute(ctx, topicARN, name, f.Get("AttributeValue"))
}

func (s *Service) qSubscribe(ctx context.Context, f awsproto.Form) (any, error) {
	topicARN, err := required(f, "TopicArn")
	if err != nil {
		return nil, err
	}
	protocol, err := required(f, "Protocol")
	if err != nil {
		return nil, err
	}
	attrs, err := attributeMap(f, "Attributes")
	if err != nil {
		return nil, err
	}
	subARN, err := s.Subscribe(ctx, topicARN, protocol, f.Get("Endpoint"), attrs)
	if err != nil {
		return nil, err
	}
	// sqs subscriptions in this account are confirmed at once, so the ARN is
	// returned whether or not ReturnSubscriptionArn is set.
	return &struct {
		XMLName         xml.Name `xml:"SubscribeResult"`
		SubscriptionArn string
	}{SubscriptionArn: subARN}, nil
}

func (s *Service) qUnsubscribe(ctx context.Context, f awsproto.Form) (any, error) {
	subARN, err := required(f, "SubscriptionArn")
	if err != nil {
		return nil, err
	}
	return nil, s.Unsubscribe(ctx, subARN)
}

type subscriptionMember struct {
	SubscriptionArn, Owner, Protocol, Endpoint, TopicArn string
}

func subscriptionsResult(name string, subs []Subscription, next string) any {
	res := &struct {
		XMLName       xml.Name
		Subscriptions []subscriptionMember `xml:"Subscriptions>member"`
		NextToken     string               `xml:",omitempty"`
	}{XMLName: xml.Name{Local: name}, NextToken: next, Subscriptions: []subscriptionMember{}}
	for _, sub := range subs {
		res.Subscriptions = append(res.Subscriptions, subscriptionMember{sub.SubscriptionARN, sub.Owner, sub.Protocol, sub.Endpoint, sub.TopicARN})
	}
	return res
}

func (s *Service) qListSubscriptions(ctx context.Context, f awsproto.Form) (any, error) {
	subs, next, err := s.ListSubscriptions(ctx, "", f.Get("NextToken"))
	if err != nil {
		return nil, err
	}
	return subscriptionsResult("ListSubscriptionsResult", subs, next), nil
}

func (s *Service) qListSubscriptionsByTopic(ctx context.Context, f awsproto.Form) (any, error) {
	topicARN, err := required(f, "TopicArn")
	if err != nil {
		return nil, err
	}
	subs, next, err := s.ListSubscriptions(ctx, topicARN, f.Get("NextToken"))
	if err != nil {
		return nil, err
	}
	return subscriptionsResult("ListSubscriptionsByTopicResult", subs, next), nil
}

func (s *Service) qGetSubscriptionAttributes(ctx context.Context, f awsproto.Form) (any, error) {
	subARN, err := required(f, "SubscriptionArn")
	if err != nil {
		return nil, err
	}
	attrs, err := s.SubscriptionAttributes(ctx, subARN)
	if err != nil {
		return nil, err
	}
	return &struct {
		XMLName    xml.Name `xml:"GetSubscriptionAttributesResult"`
		Attributes []entry  `xml:"Attributes>entry"`
	}{Attributes: entries(attrs)}, nil
}

func (s *Service) qSetSubscriptionAttributes(ctx context.Context, f awsproto.Form) (any, error) {
	subARN, err := required(f, "SubscriptionArn")
	if err != nil {
		return nil, err
	}
	name, err := required(f, "AttributeName")
	if err != nil {
		return nil, err
	}
	return nil, s.SetSubscriptionAttribute(ctx, subARN, name, f.Get("AttributeValue"))
}

// publishTarget reads TopicArn or TargetArn (exactly one).
func publishTarget(f awsproto.Form) (string, error) {
	topicARN, targetARN := f.Get("TopicArn"), f.Get("TargetArn")
	switch {
	case f.Get("PhoneNumber") != "":
		return "", invalidParameter("PhoneNumber Reason: SMS is not supported by this SNS endpoint")
	case topicARN != "" && targetARN != "":
		return "", invalidParameter("TopicArn or TargetArn Reason: Only one of them may be set")
	case topicARN != "":
		return topicARN, nil
	case targetARN != "":
		return targetARN, nil
	}
	return "", invalidParameter("TopicArn or TargetArn Reason: no value for required parameter")
}

func (s *Service) qPublish(ctx context.Context, f awsproto.Form) (any, error) {
	topicARN, err := publishTarget(f)
	if err != nil {
		return nil, err
	}
	attrs, err := messageAttributes(f)
	if err != nil {
		return nil, err
	}
	// A Subject given empty is refused, as AWS does; an absent one is
	// fine.
	if f.Has("Subject") && f.Get("Subject") == "" {
		return nil, invalidParameter("Subject")
	}
	out, err := s.PublishMessage(ctx, PublishInput{
		TopicARN:               topicARN,
		Message:                f.Get("Message"),
		Subject:                f.Get("Subject"),
		MessageStructure:       f.Get("MessageStructure"),
		Attributes:             attrs,
		MessageGroupID:         f.Get("MessageGroupId"),
		MessageDeduplicationID: f.Get("MessageDeduplicationId"),
	})
	if err != nil {
		return nil, err
	}
	return &publishResult{MessageId: out.MessageID, SequenceNumber: out.SequenceNumber}, nil
}

func (s *Service) qPublishBatch(ctx context.Context, f awsproto.Form) (any, error) {
	topicARN, err := required(f, "TopicArn")
	if err != nil {
		return nil, err
	}
	var batch []BatchEntry
	for _, e := range f.Structs("PublishBatchRequestEntries.member") {
		be := BatchEntry{ID: e.Get("Id")}
		be.Message = e.Get("Message")
		be.Subject = e.Get("Subject")
		be.MessageStructure = e.Get("MessageStructure")
		be.MessageGroupID = e.Get("MessageGroupId")
		be.MessageDeduplicationID = e.Get("MessageDeduplicationId")
		be.Attributes, be.decodeErr = messageAttributes(e)
		batch = append(batch, be)
	}
	results, err := s.PublishBatch(ctx, topicARN, batch)
	if err != nil {
		return nil, err
	}
	res := &publishBatchResult{Successful: []publishBatchOK{}, Failed: []publishBatchFailed{}}
	for _, r := range results {
		if r.Err != nil {
			res.Failed = append(res.Failed, publishBatchFailed{r.ID, r.Err.Code, r.Err.Message, !r.Err.Receiver})
		} else {
			res.Successful = append(res.Successful, publishBatchOK{r.ID, r.MessageID, r.SequenceNumber})
		}
	}
	return res, nil
}

func (s *Service) qTagResource(ctx context.Context, f awsproto.Form) (any, error) {
	resourceARN, err := required(f, "ResourceArn")
	if err != nil {
		return nil, err
	}
	tags, err := tagMap(f, "Tags")
	if err != nil {
		return nil, err
	}
	if err := s.TagResource(ctx, resourceARN, tags); err != nil {
		return nil, err
	}
	return emptyResult("TagResourceResult"), nil
}

func (s *Service) qUntagResource(ctx context.Context, f awsproto.Form) (any, error) {
	resourceARN, err := required(f, "ResourceArn")
	if err != nil {
		return nil, err
	}
	if err := s.UntagResource(ctx, resourceARN, f.Strings("TagKeys.member")); err != nil {
		return nil, err
	}
	return emptyResult("UntagResourceResult"), nil
}

func (s *Service) qListTagsForResource(ctx context.Context, f awsproto.Form) (any, error) {
	resourceARN, err := required(f, "ResourceArn")
	if err != nil {
		return nil, err
	}
	tags, err := s.Tags(ctx, resourceARN)
	if err != nil {
		return nil, err
	}
	res := &struct {
		XMLName xml.Name `xml:"ListTagsForResourceResult"`
		Tags    []tag    `xml:"Tags>member"`
	}{Tags: []tag{}}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		res.Tags = append(res.Tags, tag{k, tags[k]})
	}
	return res, nil
}

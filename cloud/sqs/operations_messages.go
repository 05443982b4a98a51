package sqs

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/journal"
)

// ---- send

type sendMessageInput struct {
	QueueUrl                string
	MessageBody             string
	DelaySeconds            *int
	MessageAttributes       map[string]attributeValue
	MessageSystemAttributes map[string]attributeValue
	MessageDeduplicationId  string
	MessageGroupId          string

	// badText, when set, names the part of the message whose text in a
	// JSON body was not Unicode (refuseInvalidText): the message is
	// refused with InvalidMessageContents.
	badText string
}

func (in *sendMessageInput) markInvalidText(paths [][]string) []string {
	for _, p := range paths {
		part, ok := messagePart(p)
		if !ok {
			return p
		}
		if in.badText == "" {
			in.badText = part
		}
	}
	return nil
}

// messagePart names, in InvalidMessageContents' words, the part of a
// message that path (in a SendMessage body or under a batch entry) leads
// to; it reports false for paths outside the message (QueueUrl, a batch
// entry's Id, members SQS does not know). Names match as encoding/json
// matches them, without regard to case.
func messagePart(path []string) (string, bool) {
	if len(path) == 0 {
		return "", false
	}
	field := func(name string) bool { return strings.EqualFold(path[0], name) }
	attr := "?"
	if len(path) > 1 {
		attr = strings.ToValidUTF8(path[1], "\uFFFD")
	}
	switch {
	case field("MessageBody"):
		return "the message body", true
	case field("MessageAttributes"):
		return "message attribute '" + attr + "'", true
	case field("MessageSystemAttributes"):
		return "message system attribute '" + attr + "'", true
	case field("MessageGroupId"), field("MessageDeduplicationId"):
		return path[0], true
	}
	return "", false
}

func (in *sendMessageBatchInput) markInvalidText(paths [][]string) []string {
	for _, p := range paths {
		if len(p) < 3 || !strings.EqualFold(p[0], "Entries") {
			return p
		}
		i, err := strconv.Atoi(p[1])
		part, ok := messagePart(p[2:])
		if err != nil || i >= len(in.Entries) || !ok {
			return p
		}
		if e := &in.Entries[i]; e.badText == "" {
			e.badText = part
		}
	}
	return nil
}

type sendMessageOutput struct {
	XMLName                      xml.Name `json:"-"`
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string `json:",omitempty" xml:",omitempty"`
	MD5OfMessageSystemAttributes string `json:",omitempty" xml:",omitempty"`
	MessageId                    string
	SequenceNumber               string `json:",omitempty" xml:",omitempty"`
}

func formSendFields(f awsproto.Form, in *sendMessageInput) (err error) {
	in.MessageBody = f.Get("MessageBody")
	in.MessageDeduplicationId, in.MessageGroupId = f.Get("MessageDeduplicationId"), f.Get("MessageGroupId")
	if in.DelaySeconds, err = formInt(f, "DelaySeconds"); err != nil {
		return err
	}
	if in.MessageAttributes, err = formAttributeValues(f, "MessageAttribute"); err != nil {
		return err
	}
	in.MessageSystemAttributes, err = formAttributeValues(f, "MessageSystemAttribute")
	return err
}

func formSendMessage(f awsproto.Form, in *sendMessageInput) error {
	in.QueueUrl = f.Get("QueueUrl")
	return formSendFields(f, in)
}

func (in *sendMessageInput) toEngine() (SendInput, error) {
	if in.badText != "" {
		return SendInput{}, errBadChars(in.badText)
	}
	attrs, err := toAttributes(in.MessageAttributes)
	if err != nil {
		return SendInput{}, err
	}
	sys, err := toAttributes(in.MessageSystemAttributes)
	if err != nil {
		return SendInput{}, err
	}
	return SendInput{
		Body: in.MessageBody, MessageAttributes: attrs, MessageSystemAttributes: sys,
		DelaySeconds: in.DelaySeconds, MessageGroupID: in.MessageGroupId,
		MessageDeduplicationID: in.MessageDeduplicationId,
	}, nil
}

func runSendMessage(s *Service, ctx context.Context, in *sendMessageInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	si, err := in.toEngine()
	if err != nil {
		return nil, err
	}
	out, err := s.eng.SendMessage(ctx, name, si)
	if err != nil {
		return nil, err
	}
	return &sendMessageOutput{
		MD5OfMessageBody: out.MD5OfMessageBody, MD5OfMessageAttributes: out.MD5OfMessageAttributes,
		MD5OfMessageSystemAttributes: out.MD5OfMessageSystemAttributes, MessageId: out.MessageID,
		SequenceNumber: out.SequenceNumber,
	}, nil
}

type sendBatchEntry struct {
	Id string
	sendMessageInput
}

type sendMessageBatchInput struct {
	QueueUrl string
	Entries  []sendBatchEntry
}

type sendBatchResultEntry struct {
	XMLName xml.Name `json:"-" xml:"SendMessageBatchResultEntry"`
	Id      string
	sendMessageOutput
}

type sendMessageBatchOutput struct {
	XMLName    xml.Name               `json:"-"`
	Successful []sendBatchResultEntry `xml:"SendMessageBatchResultEntry"`
	Failed     []batchError           `xml:"BatchResultErrorEntry"`
}

func formSendMessageBatch(f awsproto.Form, in *sendMessageBatchInput) error {
	in.QueueUrl = f.Get("QueueUrl")
	for _, sf := range formStructs(f, "SendMessageBatchRequestEntry") {
		e := sendBatchEntry{Id: sf.Get("Id")}
		if err := formSendFields(sf, &e.sendMessageInput); err != nil {
			return err
		}
		in.Entries = append(in.Entries, e)
	}
	return nil
}

func runSendMessageBatch(s *Service, ctx context.Context, in *sendMessageBatchInput) (any, error) {
	name, err := batchQueue(s, in.QueueUrl, "SendMessageBatchRequestEntry", in.Entries, func(e sendBatchEntry) string { return e.Id }, false)
	if err != nil {
		return nil, err
	}
	inputs := make([]SendInput, len(in.Entries))
	convErr := make([]error, len(in.Entries))
	total := 0
	for i := range in.Entries {
		inputs[i], convErr[i] = in.Entries[i].toEngine()
		total += inputs[i].Size()
	}
	if total > MaxMessageBytes {
		return nil, errBatchTooLong(total)
	}
	if err := s.eng.checkFifoBatch(name, inputs, convErr); err != nil {
		return nil, err
	}
	out := &sendMessageBatchOutput{Successful: []sendBatchResultEntry{}, Failed: []batchError{}}
	var last journal.Ticket // the entries share one wait for durability
	for i, e := range in.Entries {
		if convErr[i] != nil {
			out.Failed = append(out.Failed, newBatchError(e.Id, convErr[i]))
			continue
		}
		r, t, err := s.eng.sendAuthorized(name, inputs[i], nil)
		if !t.IsZero() {
			last = t
		}
		if err != nil {
			out.Failed = append(out.Failed, newBatchError(e.Id, fmt.Errorf("sqs: send to %s: %w", name, err)))
			continue
		}
		out.Successful = append(out.Successful, sendBatchResultEntry{Id: e.Id, sendMessageOutput: sendMessageOutput{
			MD5OfMessageBody: r.MD5OfMessageBody, MD5OfMessageAttributes: r.MD5OfMessageAttributes,
			MD5OfMessageSystemAttributes: r.MD5OfMessageSystemAttributes, MessageId: r.MessageID,
			SequenceNumber: r.SequenceNumber,
		}})
	}
	if err := durable(last); err != nil {
		return nil, fmt.Errorf("sqs: send batch to %s: %w", name, err)
	}
	return out, nil
}

// ---- receive

type receiveMessageInput struct {
	QueueUrl                    string
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
	MaxNumberOfMessages         *int
	VisibilityTimeout           *int
	WaitTimeSeconds             *int
	ReceiveRequestAttemptId     string
}

type wireMessage struct {
	XMLName                xml.Name                  `json:"-" xml:"Message"`
	MessageId              string                    `json:",omitempty" xml:",omitempty"`
	ReceiptHandle          string                    `json:",omitempty" xml:",omitempty"`
	MD5OfBody              string                    `json:",omitempty" xml:",omitempty"`
	Body                   string                    `json:",omitempty" xml:",omitempty"`
	Attributes             map[string]string         `json:",omitempty" xml:"-"`
	MD5OfMessageAttributes string                    `json:",omitempty" xml:",omitempty"`
	MessageAttributes      map[string]attributeValue `json:",omitempty" xml:"-"`
	XMLAttributes          []nameValue               `json:"-" xml:"Attribute"`
	XMLMessageAttributes   []xmlMessageAttribute     `json:"-" xml:"MessageAttribute"`
}

type xmlMessageAttribute struct {
	Name  string
	Value attributeValue
}

type receiveMessageOutput struct {
	XMLName  xml.Name      `json:"-"`
	Messages []wireMessage `json:",omitempty" xml:"Message"`
}

func (o *receiveMessageOutput) xmlResult() any {
	for i := range o.Messages {
		m := &o.Messages[i]
		for _, k := range sortedKeys(m.Attributes) {
			m.XMLAttributes = append(m.XMLAttributes, nameValue{k, m.Attributes[k]})
		}
		for _, k := range sortedKeys(m.MessageAttributes) {
			v := m.MessageAttributes[k]
			if len(v.BinaryValue) > 0 {
				v.XMLBinaryValue = base64.StdEncoding.EncodeToString(v.BinaryValue)
			}
			m.XMLMessageAttributes = append(m.XMLMessageAttributes, xmlMessageAttribute{k, v})
		}
	}
	return o
}

func formReceiveMessage(f awsproto.Form, in *receiveMessageInput) (err error) {
	in.QueueUrl = f.Get("QueueUrl")
	in.AttributeNames = f.Strings("AttributeName")
	in.MessageSystemAttributeNames = f.Strings("MessageSystemAttributeName")
	in.MessageAttributeNames = f.Strings("MessageAttributeName")
	in.ReceiveRequestAttemptId = f.Get("ReceiveRequestAttemptId")
	if in.MaxNumberOfMessages, err = formInt(f, "MaxNumberOfMessages"); err != nil {
		return err
	}
	if in.VisibilityTimeout, err = formInt(f, "VisibilityTimeout"); err != nil {
		return err
	}
	in.WaitTimeSeconds, err = formInt(f, "WaitTimeSeconds")
	return err
}

func runReceiveMessage(s *Service, ctx context.Context, in *receiveMessageInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ri := ReceiveInput{
		VisibilityTimeout: in.VisibilityTimeout, WaitTimeSeconds: in.WaitTimeSeconds,
		AttributeNames:          append(append([]string(nil), in.AttributeNames...), in.MessageSystemAttributeNames...),
		MessageAttributeNames:   in.MessageAttributeNames,
		ReceiveRequestAttemptID: in.ReceiveRequestAttemptId,
	}
	if in.MaxNumberOfMessages != nil {
		ri.MaxNumberOfMessages = *in.MaxNumberOfMessages
		if ri.MaxNumberOfMessages == 0 {
			ri.MaxNumberOfMessages = -1 // an explicit 0 is out of range
		}
	}
	if ri.MaxNumberOfMessages == -1 {
		return nil, errInvalidParameter("Value 0 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.")
	}
	msgs, err := s.eng.ReceiveMessage(ctx, name, ri)
	if err != nil {
		return nil, err
	}
	out := &receiveMessageOutput{}
	for _, m := range msgs {
		out.Messages = append(out.Messages, wireMessage{
			MessageId: m.MessageID, ReceiptHandle: m.ReceiptHandle, MD5OfBody: m.MD5OfBody, Body: m.Body,
			Attributes: m.Attributes, MD5OfMessageAttributes: m.MD5OfMessageAttributes,
			MessageAttributes: fromAttributes(m.MessageAttributes),
		})
	}
	return out, nil
}

// ---- delete

type deleteMessageInput struct {
	QueueUrl      string
	ReceiptHandle string
}

func formDeleteMessage(f awsproto.Form, in *deleteMessageInput) error {
	in.QueueUrl, in.ReceiptHandle = f.Get("QueueUrl"), f.Get("ReceiptHandle")
	return nil
}

func runDeleteMessage(s *Service, _ context.Context, in *deleteMessageInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.eng.DeleteMessage(name, in.ReceiptHandle)
}

type deleteBatchEntry struct {
	Id            string
	ReceiptHandle string
}

type deleteMessageBatchInput struct {
	QueueUrl string
	Entries  []deleteBatchEntry
}

type deleteMessageBatchOutput struct {
	XMLName    xml.Name       `json:"-"`
	Successful []batchIDEntry `xml:"DeleteMessageBatchResultEntry"`
	Failed     []batchError   `xml:"BatchResultErrorEntry"`
}

func formDeleteMessageBatch(f awsproto.Form, in *deleteMessageBatchInput) error {
	in.QueueUrl = f.Get("QueueUrl")
	for _, e := range formStructs(f, "DeleteMessageBatchRequestEntry") {
		in.Entries = append(in.Entries, deleteBatchEntry{Id: e.Get("Id"), ReceiptHandle: e.Get("ReceiptHandle")})
	}
	return nil
}

func runDeleteMessageBatch(s *Service, _ context.Context, in *deleteMessageBatchInput) (any, error) {
	name, err := batchQueue(s, in.QueueUrl, "DeleteMessageBatchRequestEntry", in.Entries, func(e deleteBatchEntry) string { return e.Id }, true)
	if err != nil {
		return nil, err
	}
	out := &deleteMessageBatchOutput{Successful: []batchIDEntry{}, Failed: []batchError{}}
	var last journal.Ticket
	for _, e := range in.Entries {
		t, err := s.eng.deleteMessage(name, e.ReceiptHandle)
		if !t.IsZero() {
			last = t
		}
		if err != nil {
			out.Failed = append(out.Failed, newBatchError(e.Id, fmt.Errorf("sqs: delete message from %s: %w", name, err)))
			continue
		}
		out.Successful = append(out.Successful, batchIDEntry{XMLName: xml.Name{Local: "DeleteMessageBatchResultEntry"}, Id: e.Id})
	}
	if err := durable(last); err != nil {
		return nil, fmt.Errorf("sqs: delete batch from %s: %w", name, err)
	}
	return out, nil
}

// ---- visibility

type changeVisibilityInput struct {
	QueueUrl          string
	ReceiptHandle     string
	VisibilityTimeout *int
}

func formChangeVisibility(f awsproto.Form, in *changeVisibilityInput) (err error) {
	in.QueueUrl, in.ReceiptHandle = f.Get("QueueUrl"), f.Get("ReceiptHandle")
	in.VisibilityTimeout, err = formInt(f, "VisibilityTimeout")
	return err
}

func runChangeVisibility(s *Service, _ context.Context, in *changeVisibilityInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.VisibilityTimeout == nil {
		return nil, errMissingParameter("VisibilityTimeout")
	}
	return nil, s.eng.ChangeMessageVisibility(name, in.ReceiptHandle, *in.VisibilityTimeout)
}

type changeVisibilityBatchEntry struct {
	Id                string
	ReceiptHandle     string
	VisibilityTimeout *int
}

type changeVisibilityBatchInput struct {
	QueueUrl string
	Entries  []changeVisibilityBatchEntry
}

type changeVisibilityBatchOutput struct {
	XMLName    xml.Name       `json:"-"`
	Successful []batchIDEntry `xml:"ChangeMessageVisibilityBatchResultEntry"`
	Failed     []batchError   `xml:"BatchResultErrorEntry"`
}

func formChangeVisibilityBatch(f awsproto.Form, in *changeVisibilityBatchInput) error {
	in.QueueUrl = f.Get("QueueUrl")
	for _, e := range formStructs(f, "ChangeMessageVisibilityBatchRequestEntry") {
		v, err := formInt(e, "VisibilityTimeout")
		if err != nil {
			return err
		}
		in.Entries = append(in.Entries, changeVisibilityBatchEntry{Id: e.Get("Id"), ReceiptHandle: e.Get("ReceiptHandle"), VisibilityTimeout: v})
	}
	return nil
}

func runChangeVisibilityBatch(s *Service, _ context.Context, in *changeVisibilityBatchInput) (any, error) {
	name, err := batchQueue(s, in.QueueUrl, "ChangeMessageVisibilityBatchRequestEntry", in.Entries, func(e changeVisibilityBatchEntry) string { return e.Id }, true)
	if err != nil {
		return nil, err
	}
	out := &changeVisibilityBatchOutput{Successful: []batchIDEntry{}, Failed: []batchError{}}
	var last journal.Ticket
	for _, e := range in.Entries {
		if e.VisibilityTimeout == nil {
			out.Failed = append(out.Failed, newBatchError(e.Id, errMissingParameter("VisibilityTimeout")))
			continue
		}
		t, err := s.eng.changeVisibility(name, e.ReceiptHandle, *e.VisibilityTimeout)
		if !t.IsZero() {
			last = t
		}
		if err != nil {
			out.Failed = append(out.Failed, newBatchError(e.Id, fmt.Errorf("sqs: change message visibility in %s: %w", name, err)))
			continue
		}
		out.Successful = append(out.Successful, batchIDEntry{XMLName: xml.Name{Local: "ChangeMessageVisibilityBatchResultEntry"}, Id: e.Id})
	}
	if err := durable(last); err != nil {
		return nil, fmt.Errorf("sqs: change visibility batch in %s: %w", name, err)
	}
	return out, nil
}

// batchQueue does what every batch action does first: find the queue, check
// the entries' ids (count, form, distinctness), and, when mustExist, that
// the queue is there before any entry is tried.
func batchQueue[E any](s *Service, queueURL, entryName string, entries []E, id func(E) string, mustExist bool) (string, error) {
	name, err := s.queueName(queueURL)
	if err != nil {
		return "", err
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = id(e)
	}
	if err := checkBatch(entryName, ids); err != nil {
		return "", err
	}
	if mustExist {
		if _, err := s.eng.GetQueueURL(name); err != nil {
			return "", err
		}
	}
	return name, nil
}

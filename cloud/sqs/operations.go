package sqs

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"regexp"
	"strconv"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// operations maps each action to its decoders and its run function. The
// inputs are the JSON protocol's shapes; the Query decoders fill the same
// structs from flattened form parameters.
var operations = map[string]operation{
	"CreateQueue":                  op[createQueueInput]{formCreateQueue, runCreateQueue},
	"GetQueueUrl":                  op[getQueueURLInput]{formGetQueueURL, runGetQueueURL},
	"ListQueues":                   op[listQueuesInput]{formListQueues, runListQueues},
	"GetQueueAttributes":           op[getQueueAttributesInput]{formGetQueueAttributes, runGetQueueAttributes},
	"SetQueueAttributes":           op[setQueueAttributesInput]{formSetQueueAttributes, runSetQueueAttributes},
	"DeleteQueue":                  op[queueInput]{formQueue, runDeleteQueue},
	"PurgeQueue":                   op[queueInput]{formQueue, runPurgeQueue},
	"SendMessage":                  op[sendMessageInput]{formSendMessage, runSendMessage},
	"SendMessageBatch":             op[sendMessageBatchInput]{formSendMessageBatch, runSendMessageBatch},
	"ReceiveMessage":               op[receiveMessageInput]{formReceiveMessage, runReceiveMessage},
	"DeleteMessage":                op[deleteMessageInput]{formDeleteMessage, runDeleteMessage},
	"DeleteMessageBatch":           op[deleteMessageBatchInput]{formDeleteMessageBatch, runDeleteMessageBatch},
	"ChangeMessageVisibility":      op[changeVisibilityInput]{formChangeVisibility, runChangeVisibility},
	"ChangeMessageVisibilityBatch": op[changeVisibilityBatchInput]{formChangeVisibilityBatch, runChangeVisibilityBatch},
	"ListDeadLetterSourceQueues":   op[listDeadLetterSourceQueuesInput]{formListDeadLetterSourceQueues, runListDeadLetterSourceQueues},
	"StartMessageMoveTask":         op[startMoveTaskInput]{formStartMoveTask, runStartMoveTask},
	"ListMessageMoveTasks":         op[listMoveTasksInput]{formListMoveTasks, runListMoveTasks},
	"CancelMessageMoveTask":        op[cancelMoveTaskInput]{formCancelMoveTask, runCancelMoveTask},
	"TagQueue":                     op[tagQueueInput]{formTagQueue, runTagQueue},
	"UntagQueue":                   op[untagQueueInput]{formUntagQueue, runUntagQueue},
	"ListQueueTags":                op[queueInput]{formQueue, runListQueueTags},
}

// ---- shared decoding helpers

func formInt(f awsproto.Form, name string) (*int, error) {
	if !f.Has(name) {
		return nil, nil
	}
	v := f.Get(name)
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, errInvalidParameter("Value %s for parameter %s is invalid. Reason: Must be an integer.", v, name)
	}
	return &n, nil
}

func formMap(f awsproto.Form, prefix, key, value string) (map[string]string, error) {
	m, err := f.Map(prefix, key, value)
	if err != nil {
		return nil, errInvalidParameter("%s", err.Error())
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// attributeValue is MessageAttributeValue on the wire (BinaryValue is
// base64 in JSON, as encoding/json writes []byte).
type attributeValue struct {
	XMLName          xml.Name `json:"-" xml:"Value"`
	StringValue      *string  `json:",omitempty" xml:",omitempty"`
	BinaryValue      []byte   `json:",omitempty" xml:"-"`
	XMLBinaryValue   string   `json:"-" xml:"BinaryValue,omitempty"` // base64, filled for XML replies
	StringListValues []string `json:",omitempty" xml:"StringListValue,omitempty"`
	BinaryListValues [][]byte `json:",omitempty" xml:"BinaryListValue,omitempty"`
	DataType         string
}

func formAttributeValues(f awsproto.Form, prefix string) (map[string]attributeValue, error) {
	structs := formStructs(f, prefix)
	if len(structs) == 0 {
		return nil, nil
	}
	out := map[string]attributeValue{}
	for _, s := range structs {
		name := s.Get("Name")
		if _, dup := out[name]; dup {
			return nil, errInvalidParameter("Message attribute name '%s' is repeated.", name)
		}
		v := attributeValue{DataType: s.Get("Value.DataType")}
		if s.Has("Value.StringValue") {
			sv := s.Get("Value.StringValue")
			v.StringValue = &sv
		}
		if s.Has("Value.BinaryValue") {
			b, err := base64.StdEncoding.DecodeString(s.Get("Value.BinaryValue"))
			if err != nil {
				return nil, errInvalidParameter("The message attribute '%s' has an invalid Base64 BinaryValue.", name)
			}
			v.BinaryValue = b
		}
		v.StringListValues = s.Strings("Value.StringListValue")
		out[name] = v
	}
	return out, nil
}

// toAttributes converts wire attributes to the engine's form.
func toAttributes(in map[string]attributeValue) (map[string]MessageAttributeValue, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]MessageAttributeValue, len(in))
	for name, v := range in {
		if len(v.StringListValues) > 0 || len(v.BinaryListValues) > 0 {
			return nil, errInvalidParameter("Message attribute list values in MessageAttributeValue are not supported.")
		}
		mv := MessageAttributeValue{DataType: v.DataType, BinaryValue: v.BinaryValue}
		if v.StringValue != nil {
			mv.StringValue = *v.StringValue
		}
		out[name] = mv
	}
	return out, nil
}

func fromAttributes(in map[string]MessageAttributeValue) map[string]attributeValue {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]attributeValue, len(in))
	for name, v := range in {
		av := attributeValue{DataType: v.DataType}
		if v.isBinary() {
			av.BinaryValue = v.BinaryValue
		} else {
			sv := v.StringValue
			av.StringValue = &sv
		}
		out[name] = av
	}
	return out
}

// queueName resolves a QueueUrl parameter.
func (s *Service) queueName(queueURL string) (string, error) {
	if queueURL == "" {
		return "", errMissingParameter("QueueUrl")
	}
	return s.eng.QueueNameFromURL(queueURL)
}

type queueInput struct{ QueueUrl string }

func formQueue(f awsproto.Form, in *queueInput) error {
	in.QueueUrl = f.Get("QueueUrl")
	return nil
}

// ---- queues

type createQueueInput struct {
	QueueName  string
	Attributes map[string]string
	Tags       map[string]string `json:"tags"`
}

type queueURLOutput struct {
	XMLName  xml.Name `json:"-"`
	QueueUrl string
}

func formCreateQueue(f awsproto.Form, in *createQueueInput) (err error) {
	in.QueueName = f.Get("QueueName")
	if in.Attributes, err = formMap(f, "Attribute", "Name", "Value"); err != nil {
		return err
	}
	in.Tags, err = formMap(f, "Tag", "Key", "Value")
	return err
}

func runCreateQueue(s *Service, _ context.Context, in *createQueueInput) (any, error) {
	u, err := s.eng.CreateQueue(in.QueueName, in.Attributes, in.Tags)
	if err != nil {
		return nil, err
	}
	return &queueURLOutput{QueueUrl: u}, nil
}

type getQueueURLInput struct {
	QueueName              string
	QueueOwnerAWSAccountId string
}

func formGetQueueURL(f awsproto.Form, in *getQueueURLInput) error {
	in.QueueName, in.QueueOwnerAWSAccountId = f.Get("QueueName"), f.Get("QueueOwnerAWSAccountId")
	return nil
}

func runGetQueueURL(s *Service, _ context.Context, in *getQueueURLInput) (any, error) {
	if in.QueueName == "" {
		return nil, errMissingParameter("QueueName")
	}
	if in.QueueOwnerAWSAccountId != "" && in.QueueOwnerAWSAccountId != s.eng.opts.AccountID {
		return nil, ErrQueueNotFound
	}
	u, err := s.eng.GetQueueURL(in.QueueName)
	if err != nil {
		return nil, err
	}
	return &queueURLOutput{QueueUrl: u}, nil
}

type listQueuesInput struct {
	QueueNamePrefix string
	NextToken       string
	MaxResults      *int
}

type listQueuesOutput struct {
	XMLName   xml.Name `json:"-"`
	QueueUrls []string `json:",omitempty" xml:"QueueUrl"`
	NextToken string   `json:",omitempty" xml:",omitempty"`
}

func formListQueues(f awsproto.Form, in *listQueuesInput) (err error) {
	in.QueueNamePrefix, in.NextToken = f.Get("QueueNamePrefix"), f.Get("NextToken")
	in.MaxResults, err = formInt(f, "MaxResults")
	return err
}

// paginate returns the page of names after the token's name, and the
// token of the next page. Without maxResults it returns up to 1000 names
// and no token, as AWS does.
func paginate(names []string, token string, maxResults *int) ([]string, string, error) {
	if maxResults != nil && (*maxResults < 1 || *maxResults > 1000) {
		return nil, "", errInvalidParameter("Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *maxResults)
	}
	if token != "" {
		after, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", errInvalidParameter("Invalid NextToken value.")
		}
		i := 0
		for i < len(names) && names[i] <= string(after) {
			i++
		}
		names = names[i:]
	}
	limit := 1000
	if maxResults != nil {
		limit = *maxResults
	}
	if len(names) <= limit {
		return names, "", nil
	}
	page := names[:limit]
	next := ""
	if maxResults != nil {
		next = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1]))
	}
	return page, next, nil
}

func runListQueues(s *Service, _ context.Context, in *listQueuesInput) (any, error) {
	names, err := s.eng.ListQueues(in.QueueNamePrefix)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(names, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &listQueuesOutput{NextToken: next}
	for _, n := range page {
		out.QueueUrls = append(out.QueueUrls, s.eng.URLOf(n))
	}
	return out, nil
}

type getQueueAttributesInput struct {
	QueueUrl       string
	AttributeNames []string
}

type attributesOutput struct {
	Attributes map[string]string `json:",omitempty"`
}

type nameValue struct {
	Name  string
	Value string
}

type attributesXML struct {
	XMLName    xml.Name
	Attributes []nameValue `xml:"Attribute"`
}

func (o *attributesOutput) xmlResult() any {
	x := &attributesXML{}
	for _, k := range sortedKeys(o.Attributes) {
		x.Attributes = append(x.Attributes, nameValue{k, o.Attributes[k]})
	}
	return x
}

func formGetQueueAttributes(f awsproto.Form, in *getQueueAttributesInput) error {
	in.QueueUrl, in.AttributeNames = f.Get("QueueUrl"), f.Strings("AttributeName")
	return nil
}

func runGetQueueAttributes(s *Service, _ context.Context, in *getQueueAttributesInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	a, err := s.eng.GetQueueAttributes(name, in.AttributeNames)
	if err != nil {
		return nil, err
	}
	return &attributesOutput{Attributes: a}, nil
}

type setQueueAttributesInput struct {
	QueueUrl   string
	Attributes map[string]string
}

func formSetQueueAttributes(f awsproto.Form, in *setQueueAttributesInput) (err error) {
	in.QueueUrl = f.Get("QueueUrl")
	in.Attributes, err = formMap(f, "Attribute", "Name", "Value")
	return err
}

func runSetQueueAttributes(s *Service, _ context.Context, in *setQueueAttributesInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Attributes) == 0 {
		return nil, errMissingParameter("Attribute.1.Name")
	}
	return nil, s.eng.SetQueueAttributes(name, in.Attributes)
}

func runDeleteQueue(s *Service, _ context.Context, in *queueInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.eng.DeleteQueue(name)
}

func runPurgeQueue(s *Service, _ context.Context, in *queueInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.eng.PurgeQueue(name)
}

// ---- tags

type tagQueueInput struct {
	QueueUrl string
	Tags     map[string]string
}

func formTagQueue(f awsproto.Form, in *tagQueueInput) (err error) {
	in.QueueUrl = f.Get("QueueUrl")
	in.Tags, err = formMap(f, "Tag", "Key", "Value")
	return err
}

func runTagQueue(s *Service, _ context.Context, in *tagQueueInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.eng.TagQueue(name, in.Tags)
}

type untagQueueInput struct {
	QueueUrl string
	TagKeys  []string
}

func formUntagQueue(f awsproto.Form, in *untagQueueInput) error {
	in.QueueUrl, in.TagKeys = f.Get("QueueUrl"), f.Strings("TagKey")
	return nil
}

func runUntagQueue(s *Service, _ context.Context, in *untagQueueInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.eng.UntagQueue(name, in.TagKeys)
}

type tagsOutput struct {
	Tags map[string]string `json:",omitempty"`
}

type keyValue struct {
	Key   string
	Value string
}

type tagsXML struct {
	XMLName xml.Name
	Tags    []keyValue `xml:"Tag"`
}

func (o *tagsOutput) xmlResult() any {
	x := &tagsXML{}
	for _, k := range sortedKeys(o.Tags) {
		x.Tags = append(x.Tags, keyValue{k, o.Tags[k]})
	}
	return x
}

func runListQueueTags(s *Service, _ context.Context, in *queueInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	tags, err := s.eng.ListQueueTags(name)
	if err != nil {
		return nil, err
	}
	return &tagsOutput{Tags: tags}, nil
}

// ---- dead-letter queues and move tasks

type listDeadLetterSourceQueuesInput struct {
	QueueUrl   string
	NextToken  string
	MaxResults *int
}

type listDeadLetterSourceQueuesOutput struct {
	XMLName   xml.Name `json:"-"`
	QueueUrls []string `json:"queueUrls" xml:"QueueUrl"`
	NextToken string   `json:",omitempty" xml:",omitempty"`
}

func formListDeadLetterSourceQueues(f awsproto.Form, in *listDeadLetterSourceQueuesInput) (err error) {
	in.QueueUrl, in.NextToken = f.Get("QueueUrl"), f.Get("NextToken")
	in.MaxResults, err = formInt(f, "MaxResults")
	return err
}

func runListDeadLetterSourceQueues(s *Service, _ context.Context, in *listDeadLetterSourceQueuesInput) (any, error) {
	name, err := s.queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	names, err := s.eng.ListDeadLetterSourceQueues(name)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(names, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &listDeadLetterSourceQueuesOutput{QueueUrls: []string{}, NextToken: next}
	for _, n := range page {
		out.QueueUrls = append(out.QueueUrls, s.eng.URLOf(n))
	}
	return out, nil
}

type startMoveTaskInput struct {
	SourceArn                    string
	DestinationArn               string
	MaxNumberOfMessagesPerSecond *int
}

type startMoveTaskOutput struct {
	XMLName    xml.Name `json:"-"`
	TaskHandle string
}

func formStartMoveTask(f awsproto.Form, in *startMoveTaskInput) (err error) {
	in.SourceArn, in.DestinationArn = f.Get("SourceArn"), f.Get("DestinationArn")
	in.MaxNumberOfMessagesPerSecond, err = formInt(f, "MaxNumberOfMessagesPerSecond")
	return err
}

func runStartMoveTask(s *Service, _ context.Context, in *startMoveTaskInput) (any, error) {
	h, err := s.eng.StartMessageMoveTask(in.SourceArn, in.DestinationArn, in.MaxNumberOfMessagesPerSecond)
	if err != nil {
		return nil, err
	}
	return &startMoveTaskOutput{TaskHandle: h}, nil
}

type listMoveTasksInput struct {
	SourceArn  string
	MaxResults *int
}

type moveTaskEntry struct {
	XMLName                           xml.Name `json:"-" xml:"ListMessageMoveTasksResultEntry"`
	TaskHandle                        string   `json:",omitempty" xml:",omitempty"`
	Status                            string
	SourceArn                         string
	DestinationArn                    string `json:",omitempty" xml:",omitempty"`
	MaxNumberOfMessagesPerSecond      *int   `json:",omitempty" xml:",omitempty"`
	ApproximateNumberOfMessagesMoved  int64
	ApproximateNumberOfMessagesToMove int64
	FailureReason                     string `json:",omitempty" xml:",omitempty"`
	StartedTimestamp                  int64
}

type listMoveTasksOutput struct {
	XMLName xml.Name        `json:"-"`
	Results []moveTaskEntry `xml:"ListMessageMoveTasksResultEntry"`
}

func formListMoveTasks(f awsproto.Form, in *listMoveTasksInput) (err error) {
	in.SourceArn = f.Get("SourceArn")
	in.MaxResults, err = formInt(f, "MaxResults")
	return err
}

func runListMoveTasks(s *Service, _ context.Context, in *listMoveTasksInput) (any, error) {
	max := 0
	if in.MaxResults != nil {
		max = *in.MaxResults
		if max == 0 {
			max = -1 // an explicit 0 is out of range
		}
	}
	tasks, err := s.eng.ListMessageMoveTasks(in.SourceArn, max)
	if err != nil {
		return nil, err
	}
	out := &listMoveTasksOutput{Results: []moveTaskEntry{}}
	for _, t := range tasks {
		e := moveTaskEntry{
			Status: t.Status, SourceArn: t.SourceArn, DestinationArn: t.DestinationArn,
			MaxNumberOfMessagesPerSecond:      t.MaxNumberOfMessagesPerSecond,
			ApproximateNumberOfMessagesMoved:  t.ApproximateNumberOfMessagesMoved,
			ApproximateNumberOfMessagesToMove: t.ApproximateNumberOfMessagesToMove,
			FailureReason:                     t.FailureReason,
			StartedTimestamp:                  t.StartedTimestamp.UnixMilli(),
		}
		if t.Status == TaskRunning {
			e.TaskHandle = t.TaskHandle
		}
		out.Results = append(out.Results, e)
	}
	return out, nil
}

type cancelMoveTaskInput struct{ TaskHandle string }

type cancelMoveTaskOutput struct {
	XMLName                          xml.Name `json:"-"`
	ApproximateNumberOfMessagesMoved int64
}

func formCancelMoveTask(f awsproto.Form, in *cancelMoveTaskInput) error {
	in.TaskHandle = f.Get("TaskHandle")
	return nil
}

func runCancelMoveTask(s *Service, _ context.Context, in *cancelMoveTaskInput) (any, error) {
	n, err := s.eng.CancelMessageMoveTask(in.TaskHandle)
	if err != nil {
		return nil, err
	}
	return &cancelMoveTaskOutput{ApproximateNumberOfMessagesMoved: n}, nil
}

// ---- batches

// batchIDPattern, and 80 bytes at most: a counted repetition ({1,80})
// compiles to a program as long as its count, built when the process
// starts.
var batchIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// checkBatch applies AWS's batch rules in AWS's order: not empty, at most
// ten entries, valid ids, distinct ids.
func checkBatch(entryName string, ids []string) error {
	if len(ids) == 0 {
		return errEmptyBatch(entryName)
	}
	if len(ids) > maxBatchEntries {
		return errTooManyEntries(len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if len(id) > 80 || !batchIDPattern.MatchString(id) {
			return errInvalidBatchEntryID()
		}
	}
	for _, id := range ids {
		if seen[id] {
			return errBatchIDsNotDistinct(id)
		}
		seen[id] = true
	}
	return nil
}

type batchError struct {
	XMLName     xml.Name `json:"-" xml:"BatchResultErrorEntry"`
	Id          string
	SenderFault bool
	Code        string
	Message     string `json:",omitempty" xml:",omitempty"`
}

func newBatchError(id string, err error) batchError {
	e := awsproto.As(err)
	return batchError{Id: id, SenderFault: !e.Receiver, Code: e.Code, Message: e.Message}
}

type batchIDEntry struct {
	XMLName xml.Name `json:"-"`
	Id      string
}

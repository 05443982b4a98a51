package sns

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/cloud/sns/filterpolicy"
)

// PublishInput is one message to publish.
type PublishInput struct {
	// TopicARN is the topic (Publish's TopicArn or TargetArn).
	TopicARN string
	Message  string
	// Subject is optional; when set it appears in envelopes.
	Subject string
	// MessageStructure "json" makes Message a JSON object of per-protocol
	// messages: "sqs" for SQS subscriptions, else "default".
	MessageStructure string
	Attributes       map[string]MessageAttribute
	// MessageGroupID is required by FIFO topics; a standard topic passes
	// it on to its (standard) queues, as AWS does for fair queues.
	MessageGroupID string
	// MessageDeduplicationID is for FIFO topics only; without it a FIFO
	// topic needs ContentBasedDeduplication.
	MessageDeduplicationID string
}

// BatchEntry is one PublishBatch entry.
type BatchEntry struct {
	ID string
	PublishInput
	// decodeErr is a wire-level decoding failure reported for this entry.
	decodeErr error
}

// BatchResult is one entry's outcome: MessageID (and, on a FIFO topic,
// SequenceNumber) on success, else Err.
type BatchResult struct {
	ID             string
	MessageID      string
	SequenceNumber string
	Err            *awsproto.Error
}

// PublishOutput is Publish's answer.
type PublishOutput struct {
	MessageID string
	// SequenceNumber is set for a FIFO topic's message.
	SequenceNumber string
}

// message is a validated publish, ready to deliver.
type message struct {
	id, topicARN, subject, timestamp string
	// sqsMessage is what SQS subscriptions receive (the "sqs" key of a json
	// MessageStructure, else "default", else Message).
	sqsMessage string
	// attributes are delivered; filterable are only filtered on (with json
	// MessageStructure, AWS filters on attributes but does not send them).
	attributes map[string]MessageAttribute
	filterable map[string]MessageAttribute
	size       int
	// FIFO: fifo marks a FIFO topic's message; group is MessageGroupId
	// (also on a standard topic), dedupID its deduplication id.
	fifo           bool
	group, dedupID string
	sequenceNumber string
	seq            uint64 // sequenceNumber's order in its topic
}

// attributeName, and 256 bytes at most (see topicName).
var attributeName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// validateAttributes checks message attributes as AWS documents them and
// returns their size (name, type and value bytes).
func validateAttributes(attrs map[string]MessageAttribute) (int, error) {
	if len(attrs) == 0 {
		return 0, nil // most messages: no sorted copy of no names
	}
	size := 0
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		a := attrs[name]
		lower := strings.ToLower(name)
		if len(name) > 256 || !attributeName.MatchString(name) || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") ||
			strings.Contains(name, "..") || strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
			return 0, invalidParameterValue("Invalid attribute name: %s", name)
		}
		if a.DataType == "" {
			return 0, invalidParameterValue("The message attribute '%s' must contain non-empty message attribute type.", name)
		}
		base, custom, _ := strings.Cut(a.DataType, ".")
		if len(a.DataType) > 256 || (base != "String" && base != "Number" && base != "Binary") || (strings.Contains(a.DataType, ".") && custom == "") {
			return 0, invalidParameterValue("The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", name)
		}
		switch base {
		case "Binary":
			if len(a.BinaryValue) == 0 {
				return 0, invalidParameterValue("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, a.DataType)
			}
			size += len(name) + len(a.DataType) + len(a.BinaryValue)
			continue
		case "Number":
			if a.StringValue == "" {
				return 0, invalidParameterValue("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, a.DataType)
			}
			if f, err := strconv.ParseFloat(a.StringValue, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return 0, invalidParameterValue("Could not cast message attribute '%s' value to number.", name)
			}
		default:
			if a.StringValue == "" {
				return 0, invalidParameterValue("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, a.DataType)
			}
			if !utf8.ValidString(a.StringValue) {
				return 0, invalidParameterValue("Invalid attribute value was passed in for message attribute %s", name)
			}
			if a.DataType == "String.Array" && !validStringArray(a.StringValue) {
				return 0, invalidParameterValue("Invalid attribute value was passed in for message attribute %s: a String.Array must be a JSON array of strings, numbers, true, false or null", name)
			}
		}
		size += len(name) + len(a.DataType) + len(a.StringValue)
	}
	return size, nil
}

func validStringArray(s string) bool {
	var arr []any
	if err := json.Unmarshal([]byte(s), &arr); err != nil || arr == nil {
		return false
	}
	for _, e := range arr {
		switch e.(type) {
		case string, float64, bool, nil:
		default:
			return false
		}
	}
	return true
}

func validSubject(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) >= 100 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// protocolMessages parses a json MessageStructure: a JSON object of string
// values (others ignored) with no duplicate keys and a "default". Its
// strings must be Unicode text: encoding/json would deliver an unpaired
// surrogate escape as U+FFFD, a message no one published.
func protocolMessages(msg string) (map[string]string, error) {
	if !awsproto.ValidText([]byte(msg)) {
		return nil, invalidParameter("Message Structure - JSON message body failed to parse")
	}
	dec := json.NewDecoder(strings.NewReader(msg))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, invalidParameter("Message Structure - JSON message body failed to parse")
	}
	out := map[string]string{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalidParameter("Message Structure - JSON message body failed to parse")
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, invalidParameter("Message Structure - Duplicate key %q in JSON message body", key)
		}
		seen[key] = true
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, invalidParameter("Message Structure - JSON message body failed to parse")
		}
		if s, ok := v.(string); ok {
			out[key] = s
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, invalidParameter("Message Structure - JSON message body failed to parse")
	}
	if _, err := dec.Token(); err == nil {
		return nil, invalidParameter("Message Structure - JSON message body failed to parse")
	}
	if _, ok := out["default"]; !ok {
		return nil, invalidParameter("Message Structure - No default entry in JSON message body")
	}
	return out, nil
}

// prepare validates in (all but the topic's existence and size limit).
func (s *Service) prepare(in PublishInput) (*message, error) {
	if in.Message == "" {
		return nil, invalidParameter("Empty message")
	}
	if !utf8.ValidString(in.Message) {
		return nil, invalidParameter("Message Reason: must be UTF-8")
	}
	if in.Subject != "" && !validSubject(in.Subject) {
		return nil, invalidParameter("Subject")
	}
	attrSize, err := validateAttributes(in.Attributes)
	if err != nil {
		return nil, err
	}
	if err := checkFIFOIDs(in); err != nil {
		return nil, err
	}
	m := &message{
		topicARN:   in.TopicARN,
		subject:    in.Subject,
		sqsMessage: in.Message,
		attributes: in.Attributes,
		filterable: in.Attributes,
		size:       len(in.Message) + attrSize,
	}
	switch in.MessageStructure {
	case "":
	case "json":
		msgs, err := protocolMessages(in.Message)
		if err != nil {
			return nil, err
		}
		m.sqsMessage = msgs["default"]
		if v, ok := msgs["sqs"]; ok {
			m.sqsMessage = v
		}
		m.attributes = nil // AWS: attributes are sent only with a String message structure
	default:
		return nil, invalidParameter("MessageStructure")
	}
	return m, nil
}

// Publish publishes one message to a topic and delivers it to every
// subscription whose filter policy accepts it. A failed delivery does not
// fail Publish, as on AWS: it is retried or dead-lettered and counted.
func (s *Service) Publish(ctx context.Context, in PublishInput) (string, error) {
	out, err := s.PublishMessage(ctx, in)
	return out.MessageID, err
}

// PublishMessage is Publish, answering the sequence number of a FIFO
// topic's message too.
func (s *Service) PublishMessage(ctx context.Context, in PublishInput) (PublishOutput, error) {
	m, err := s.prepare(in)
	if err != nil {
		return PublishOutput{}, err
	}
	t, err := s.snapshot(in.TopicARN, "Publish")
	if err != nil {
		return PublishOutput{}, err
	}
	if err := checkFIFOInput(t, in, m); err != nil {
		return PublishOutput{}, err
	}
	if m.size > t.maxSize {
		return PublishOutput{}, invalidParameter("Message too long")
	}
	if err := s.writable(); err != nil {
		return PublishOutput{}, err
	}
	var tickets []journal.Ticket
	if t.fifo {
		if tickets, err = s.publishFIFO(ctx, t, []*message{m}); err != nil {
			return PublishOutput{}, err
		}
	} else {
		tickets = []journal.Ticket{s.fanOut(ctx, m, t.subs, t.sigVersion)}
	}
	for _, tk := range tickets {
		if err := durable(tk); err != nil {
			return PublishOutput{}, fmt.Errorf("sns: publish to %s: record a delivery retry: %w", in.TopicARN, err)
		}
	}
	return PublishOutput{MessageID: m.id, SequenceNumber: m.sequenceNumber}, nil
}

// PublishBatch publishes up to ten entries to one topic, reporting each
// entry's outcome; errors that concern the whole batch fail it whole. A
// FIFO topic's entries are published in their order.
func (s *Service) PublishBatch(ctx context.Context, topicARN string, entries []BatchEntry) ([]BatchResult, error) {
	if len(entries) == 0 {
		return nil, awsproto.Errorf(http.StatusBadRequest, "EmptyBatchRequest", "The batch request doesn't contain any entries.")
	}
	if len(entries) > MaxBatchEntries {
		return nil, awsproto.Errorf(http.StatusBadRequest, "TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible.")
	}
	for i, e := range entries {
		if len(e.ID) > 80 || !batchID.MatchString(e.ID) {
			return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidBatchEntryId", "The Id of a batch entry in a batch request doesn't abide by the specification.")
		}
		// At most ten entries: comparing with the ones before costs
		// less than a map of the ids.
		for _, prev := range entries[:i] {
			if prev.ID == e.ID {
				return nil, awsproto.Errorf(http.StatusBadRequest, "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
			}
		}
	}
	t, err := s.snapshot(topicARN, "Publish")
	if err != nil {
		return nil, err
	}
	results := make([]BatchResult, len(entries))
	prepared := make([]*message, len(entries))
	total := 0
	for i, e := range entries {
		results[i].ID = e.ID
		if e.decodeErr != nil {
			results[i].Err = awsproto.As(e.decodeErr)
			continue
		}
		e.TopicARN = topicARN
		m, err := s.prepare(e.PublishInput)
		if err != nil {
			results[i].Err = awsproto.As(err)
			continue
		}
		// AWS fails the whole batch when an entry breaks the topic's
		// MessageGroupId or MessageDeduplicationId rules.
		if err := checkFIFOInput(t, e.PublishInput, m); err != nil {
			return nil, err
		}
		prepared[i] = m
		total += m.size
	}
	if total > t.maxSize {
		return nil, awsproto.Errorf(http.StatusBadRequest, "BatchRequestTooLong", "The length of all the messages put together is more than the limit.")
	}
	if err := s.writable(); err != nil {
		return nil, err
	}
	var tickets []journal.Ticket
	if t.fifo {
		if tickets, err = s.publishFIFO(ctx, t, prepared); err != nil {
			return nil, err
		}
	} else {
		// The entries fan out concurrently: their deliveries' commits to a
		// data file are shared instead of waited for one after another,
		// and their envelopes are signed on every core.
		tickets = make([]journal.Ticket, len(prepared))
		var wg sync.WaitGroup
		for i, m := range prepared {
			if m == nil {
				continue
			}
			wg.Go(func() { tickets[i] = s.fanOut(ctx, m, t.subs, t.sigVersion) })
		}
		wg.Wait()
	}
	for i, m := range prepared {
		if m != nil {
			results[i].MessageID = m.id // given by fanOut
			results[i].SequenceNumber = m.sequenceNumber
		}
	}
	// Every entry's ticket is waited for: the entries ran concurrently, so
	// the order of the tickets is not the order their records were
	// appended in, and a record can fail on its own (a journal stopped in
	// between), so no one ticket stands for the others.
	var errs []error
	for _, t := range tickets {
		if err := durable(t); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sns: publish batch to %s: record a delivery retry: %w", topicARN, err)
	}
	return results, nil
}

// batchID, and 80 bytes at most (see topicName).
var batchID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// topicView is a topic's subscriptions and settings as one publish sees
// them.
type topicView struct {
	t                              *topic
	subs                           []*subscription
	maxSize, sigVersion            int
	fifo, contentDedup, groupScope bool
}

// snapshot returns the topic's subscriptions and settings as of now, once
// they are durable: nothing is delivered on the strength of a subscription
// that a crash could undo.
func (s *Service) snapshot(topicARN, action string) (topicView, error) {
	if topicARN == "" {
		return topicView{}, invalidParameter("TopicArn or TargetArn Reason: no value for required parameter")
	}
	var v topicView
	err := s.read(func() error {
		t, err := s.topicLocked("TopicArn", topicARN, action)
		if err != nil {
			return err
		}
		v = topicView{t: t, subs: t.subs, maxSize: t.maxMessageSize, sigVersion: t.signatureVersion,
			fifo: t.fifo, contentDedup: t.contentDedup, groupScope: t.groupScope}
		return nil
	})
	if err != nil {
		return topicView{}, err
	}
	return v, nil
}

// job is one delivery of one message to one queue, with its retry state.
type job struct {
	// id keys the job's record in the data file once it waits for a retry.
	id                         string
	subARN, topicARN, queueARN string
	body                       string
	attributes                 map[string]MessageAttribute
	// group and dedupID are the SQS MessageGroupId and
	// MessageDeduplicationId; ordered marks a FIFO topic's delivery to a
	// FIFO queue, kept in order within its group (fifo.go), and order is
	// its sequence number.
	group, dedupID string
	ordered        bool
	order          uint64
	counters       *counters
	// dlqARN is where the delivery goes if it fails; redrive marks a job
	// that is itself the dead-lettering of a failed delivery.
	dlqARN  string
	redrive bool
	// clientErr fails the job without trying (e.g. too many attributes).
	clientErr error
	attempts  int
	due       time.Time // when the scheduled retry runs
}

// fanOut stamps m and delivers it to each subscription (in the caller's
// goroutine: Publish returns once every first attempt is made). Each
// delivery is then in its queue (durable there when SQS is), filtered out,
// lost for good (a client-side error with no dead-letter queue), or
// waiting for a retry: the ticket is done when the retries' records are
// durable.
func (s *Service) fanOut(ctx context.Context, m *message, subs []*subscription, sigVersion int) journal.Ticket {
	s.beginRun()
	defer s.endRun()
	m.id = awsproto.NewRequestID()
	m.timestamp = s.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	s.published.Add(1)
	ctx = context.WithoutCancel(ctx)

	var (
		attrView  filterpolicy.Message
		attrReady bool
		bodyView  filterpolicy.Message
		bodyReady bool
		signature string
		signErr   error
		signed    bool
		retries   journal.Ticket
	)
	for _, sub := range subs {
		cfg := sub.cfg.Load()
		if cfg.filter != nil {
			var view filterpolicy.Message
			if cfg.filter.Scope() == filterpolicy.ScopeBody {
				if !bodyReady {
					bodyView, bodyReady = filterpolicy.FromBody([]byte(m.sqsMessage)), true
				}
				view = bodyView
			} else {
				if !attrReady {
					attrView, attrReady = filterpolicy.FromAttributes(filterAttributes(m.filterable)), true
				}
				view = attrView
			}
			if !cfg.filter.Match(view) {
				sub.counters.add(filteredOut)
				continue
			}
		}
		j := &job{subARN: sub.arn, topicARN: m.topicARN, queueARN: sub.endpoint, counters: sub.counters, dlqARN: cfg.dlqARN}
		switch {
		case m.fifo && fifoQueueARN(sub.endpoint):
			// AWS passes the group and the deduplication id to FIFO
			// queues, and neither to standard ones.
			j.group, j.dedupID, j.ordered, j.order = m.group, m.dedupID, true, m.seq
		case !m.fifo:
			j.group = m.group // a standard topic's group id goes to its (standard) queues
		}
		if cfg.raw {
			j.body = m.sqsMessage
			j.attributes = m.attributes
			if len(m.attributes) > MaxRawAttributes {
				j.clientErr = fmt.Errorf("%w: %d message attributes, raw delivery to SQS allows %d", errTooManyAttributes, len(m.attributes), MaxRawAttributes)
			}
		} else if m.fifo {
			j.body = s.envelope(m, 0, "", sub.arn) // AWS does not sign a FIFO topic's notifications
		} else {
			if !signed {
				signed = true
				var sig []byte
				sig, signErr = s.signer.Sign(sigVersion, StringToSign(m.sqsMessage, m.id, m.subject, m.timestamp, m.topicARN, "Notification"))
				signature = base64.StdEncoding.EncodeToString(sig)
			}
			if signErr != nil {
				// A signer that cannot sign is this service's fault, not the queue's.
				s.log.Error("sns: sign envelope", "topic", m.topicARN, "messageId", m.id, "err", signErr)
				j.clientErr = fmt.Errorf("sign envelope: %w", signErr)
			}
			j.body = s.envelope(m, sigVersion, signature, sub.arn)
		}
		if j.chained() {
			if t, held := s.holdBehind(j); held {
				if !t.IsZero() {
					retries = t
				}
				continue
			}
		}
		if t := s.run(ctx, j); !t.IsZero() {
			retries = t
		}
	}
	return retries
}

var errTooManyAttributes = errors.New("too many message attributes")

func filterAttributes(attrs map[string]MessageAttribute) map[string]filterpolicy.Attribute {
	out := make(map[string]filterpolicy.Attribute, len(attrs))
	for k, a := range attrs {
		out[k] = filterpolicy.Attribute{DataType: a.DataType, StringValue: a.StringValue}
	}
	return out
}

// envelope renders the SQS message body AWS sends for a notification: its
// fields in AWS's order and layout, Subject and MessageAttributes only when
// present; a FIFO topic's has a SequenceNumber and no signature.
func (s *Service) envelope(m *message, sigVersion int, signature, subARN string) string {
	var b bytes.Buffer
	b.Grow(len(m.sqsMessage) + len(m.subject) + 1024)
	base := s.baseURL()
	field := func(name, value string, last bool) {
		b.WriteString(`  "`)
		b.WriteString(name)
		b.WriteString(`" : `)
		writeJSONString(&b, value)
		if !last {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("{\n")
	field("Type", "Notification", false)
	field("MessageId", m.id, false)
	if m.fifo {
		field("SequenceNumber", m.sequenceNumber, false)
	}
	field("TopicArn", m.topicARN, false)
	if m.subject != "" {
		field("Subject", m.subject, false)
	}
	field("Message", m.sqsMessage, false)
	field("Timestamp", m.timestamp, false)
	if !m.fifo {
		field("SignatureVersion", strconv.Itoa(sigVersion), false)
		field("Signature", signature, false)
		field("SigningCertURL", base+s.certPath, false)
	}
	field("UnsubscribeURL", base+"/?Action=Unsubscribe&SubscriptionArn="+subARN, len(m.attributes) == 0)
	if len(m.attributes) > 0 {
		b.WriteString(`  "MessageAttributes" : {` + "\n")
		names := slices.Sorted(maps.Keys(m.attributes))
		for i, name := range names {
			a := m.attributes[name]
			value := a.StringValue
			if strings.HasPrefix(a.DataType, "Binary") {
				value = base64.StdEncoding.EncodeToString(a.BinaryValue)
			}
			b.WriteString("    ")
			writeJSONString(&b, name)
			b.WriteString(` : {"Type":`)
			writeJSONString(&b, a.DataType)
			b.WriteString(`,"Value":`)
			writeJSONString(&b, value)
			b.WriteByte('}')
			if i < len(names)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}")
	return b.String()
}

// writeJSONString writes s as a JSON string the way AWS's envelopes do:
// quotes, backslashes and control characters escaped, everything else
// (including "/", "<", ">", "&" and non-ASCII) as is.
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b.WriteString(s[start:i])
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// AWS's delivery retry policy for SQS endpoints: 3 immediate retries, 2 one
// second apart, 10 backing off exponentially from 1 to 20 seconds, then
// 100,000 at 20 seconds (100,015 retries over about 23 days).
//
// Which failures it applies to, as AWS documents them ("Amazon SNS message
// delivery retries", docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html,
// and "Amazon SNS dead-letter queues", .../sns-dead-letter-queues.html):
// the delivery policy retries server-side errors (the system hosting the
// endpoint is unavailable or fails a valid request: a 5xx, throttling, a
// timeout). A client-side error (the endpoint deleted, its policy changed
// to deny SNS, a message it refuses) is not retried. A delivery that got a
// client-side error, or whose retries ran out, goes to the subscription's
// dead-letter queue if it has one, and is otherwise discarded (counted
// here, and logged).
const (
	immediateRetries  = 3
	preBackoffRetries = 2
	backoffRetries    = 10
	postBackoffRetry  = 100000
	totalRetries      = immediateRetries + preBackoffRetries + backoffRetries + postBackoffRetry
)

// retryDelay is the wait before retry n (1-based), and false when the policy
// has run out.
func retryDelay(n int) (time.Duration, bool) {
	switch {
	case n <= immediateRetries:
		return 0, true
	case n <= immediateRetries+preBackoffRetries:
		return time.Second, true
	case n <= immediateRetries+preBackoffRetries+backoffRetries:
		i := n - immediateRetries - preBackoffRetries - 1 // 0..9
		secs := math.Pow(20, float64(i)/float64(backoffRetries-1))
		return time.Duration(secs * float64(time.Second)).Round(time.Millisecond), true
	case n <= totalRetries:
		return 20 * time.Second, true
	}
	return 0, false
}

type retryTimer struct {
	timer clock.Timer
	job   *job
}

// run attempts j until it succeeds, fails for good, or must wait for a
// retry, which it schedules on the clock and, with a data file, records:
// the ticket is done when that record (or the record of the dead-letter
// delivery that failed in turn) is durable.
func (s *Service) run(ctx context.Context, j *job) journal.Ticket {
	var last journal.Ticket
	for {
		t, waiting := s.runOne(ctx, j)
		if !t.IsZero() {
			last = t
		}
		if waiting || !j.chained() {
			return last
		}
		// j is done with: the next of its group, held behind it, goes now.
		if j = s.nextInChain(j); j == nil {
			return last
		}
	}
}

// runOne is run for one job; it reports whether j now waits for a retry.
func (s *Service) runOne(ctx context.Context, j *job) (journal.Ticket, bool) {
	for {
		err := j.clientErr
		if err == nil {
			err = s.attempt(ctx, j)
		}
		if err == nil {
			if j.redrive {
				j.counters.add(deadLettered)
			} else {
				j.counters.add(delivered)
			}
			s.forget(j)
			return journal.Ticket{}, false
		}
		if j.clientErr != nil || clientSide(err) {
			return s.giveUp(ctx, j, err), false
		}
		j.attempts++
		delay, ok := retryDelay(j.attempts)
		if !ok {
			return s.giveUp(ctx, j, err), false
		}
		j.counters.add(retried)
		if delay == 0 && ctx.Err() == nil {
			continue
		}
		t, ok := s.schedule(delay, j)
		if !ok {
			// Closed, in memory: there is nowhere to keep the retry. It
			// is lost with the process, not dead-lettered: the queue did
			// not refuse it.
			j.counters.add(failed)
			j.counters.add(deadLetterFailed)
			s.log.Warn("sns: delivery failed as the service closed, with no data file to keep its retry; the message is lost",
				"subscription", j.subARN, "queue", j.queueARN, "err", err)
			return journal.Ticket{}, false
		}
		return t, true
	}
}

// clientSide reports whether a delivery error is a client-side error,
// which retrying cannot fix.
func clientSide(err error) bool {
	return errors.Is(err, ErrQueueNotFound) || errors.Is(err, ErrDenied) || errors.Is(err, ErrRefused)
}

// attempt makes one delivery attempt: the one place SNS calls SQS.
func (s *Service) attempt(ctx context.Context, j *job) error {
	err := s.queues.Deliver(ctx, Delivery{QueueARN: j.queueARN, TopicARN: j.topicARN, Body: j.body, Attributes: j.attributes,
		MessageGroupID: j.group, MessageDeduplicationID: j.dedupID})
	if err != nil {
		return fmt.Errorf("sns: deliver to %s: %w", j.queueARN, err)
	}
	return nil
}

// schedule arms j's retry after delay and, with a data file, records it
// (replacing its earlier record). After Close it arms nothing: with a data
// file the record keeps the retry for the next start; in memory it reports
// false.
func (s *Service) schedule(delay time.Duration, j *job) (journal.Ticket, bool) {
	s.timersMu.Lock()
	defer s.timersMu.Unlock()
	if s.closed && s.j == nil {
		return journal.Ticket{}, false
	}
	j.due = s.clock.Now().Add(delay)
	s.startChainLocked(j)
	var t journal.Ticket
	if s.j != nil {
		j.id = retryID(j)
		t = s.j.Append(retryRecord(j))
	}
	if s.closed {
		s.log.Info("sns: delivery failed as the service closed; its retry stays pending in the data file for the next start",
			"subscription", j.subARN, "queue", j.queueARN)
		return t, true
	}
	s.armLocked(delay, j)
	return t, true
}

// armLocked sets the timer of j's retry; s.timersMu is held.
func (s *Service) armLocked(delay time.Duration, j *job) {
	rt := &retryTimer{job: j}
	rt.timer = s.clock.AfterFunc(delay, func() {
		s.timersMu.Lock()
		_, live := s.timers[rt]
		delete(s.timers, rt)
		if live {
			s.beginRun() // under the lock Shutdown takes to stop the timers
		}
		s.timersMu.Unlock()
		if live {
			defer s.endRun()
			s.run(s.runCtx, j)
		}
	})
	s.timers[rt] = struct{}{}
}

// giveUp records a delivery that failed for good and sends it to the
// subscription's dead-letter queue, if it has one; the ticket is that of
// the dead-letter delivery's retry record, if it needs one.
func (s *Service) giveUp(ctx context.Context, j *job, cause error) journal.Ticket {
	if j.redrive {
		j.counters.add(deadLetterFailed)
		s.log.Error("sns: dead-letter queue refused a failed delivery; the message is lost",
			"subscription", j.subARN, "dlq", j.queueARN, "err", cause)
		s.forget(j)
		return journal.Ticket{}
	}
	j.counters.add(failed)
	if j.dlqARN == "" {
		j.counters.add(deadLetterFailed)
		s.log.Warn("sns: delivery failed and the subscription has no dead-letter queue; the message is lost",
			"subscription", j.subARN, "queue", j.queueARN, "err", cause)
		s.forget(j)
		return journal.Ticket{}
	}
	s.log.Info("sns: delivery failed; sending it to the subscription's dead-letter queue",
		"subscription", j.subARN, "queue", j.queueARN, "dlq", j.dlqARN, "err", cause)
	code, text := deliveryErrorCode(j.queueARN, cause)
	attrs := map[string]MessageAttribute{
		"RequestID":    {DataType: "String", StringValue: awsproto.NewRequestID()},
		"ErrorCode":    {DataType: "String", StringValue: code},
		"ErrorMessage": {DataType: "String", StringValue: truncate(text, 1024)},
	}
	if len(j.attributes)+len(attrs) <= MaxRawAttributes {
		for k, v := range j.attributes {
			attrs[k] = v
		}
	}
	// The dead-letter delivery's retry record (if it needs one) is made
	// before the failed job's record goes, so a crash in between repeats
	// the dead-lettering rather than losing it.
	dj := &job{
		subARN: j.subARN, topicARN: j.topicARN, queueARN: j.dlqARN,
		body: j.body, attributes: attrs, counters: j.counters, redrive: true,
	}
	if fifoQueueARN(j.dlqARN) {
		dj.group, dj.dedupID = j.group, j.dedupID
	}
	t := s.run(ctx, dj)
	s.forget(j)
	return t
}

// deliveryErrorCode names a failed delivery's cause as SQS would have.
func deliveryErrorCode(queueARN string, err error) (string, string) {
	switch {
	case errors.Is(err, ErrQueueNotFound):
		return "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist or you do not have access to it."
	case errors.Is(err, ErrDenied):
		return "AccessDenied", "Access to the resource " + queueARN + " is denied."
	case errors.Is(err, errTooManyAttributes):
		return "InvalidParameterValue", err.Error()
	}
	if ae, ok := errors.AsType[*awsproto.Error](err); ok && ae.Code != "" {
		return ae.Code, ae.Message
	}
	if errors.Is(err, ErrRefused) {
		return "InvalidParameterValue", err.Error()
	}
	return "InternalError", err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

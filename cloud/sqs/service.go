package sqs

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// Service is SQS on the wire: an http.Handler for AWS's JSON 1.0 and Query
// protocols over an Engine.
type Service struct {
	eng *Engine
}

// New returns an SQS service. Options documents the defaults. Without a DB
// it has no queues and keeps them in memory; with one it holds what opts.DB
// holds (see Options.DB), and errors wrap ErrDataFile when the file's SQS
// data cannot be used.
func New(opts Options) (*Service, error) {
	e, err := NewEngine(opts)
	if err != nil {
		return nil, err
	}
	return &Service{eng: e}, nil
}

// Close commits what is still queued for the data file and stops the
// service's committer (see Engine.Close). Call it after the last request
// has been answered and before closing the DB.
func (s *Service) Close() error { return s.eng.Close() }

// Engine returns the service's engine, for in-process callers.
func (s *Service) Engine() *Engine { return s.eng }

// Name is SQS's SigV4 signing name.
func (s *Service) Name() string { return "sqs" }

// TargetPrefix is the X-Amz-Target prefix of SQS's JSON protocol.
func (s *Service) TargetPrefix() string { return "AmazonSQS" }

// Actions lists every action the service implements (Query protocol names,
// which are also the JSON protocol's operation names).
func (s *Service) Actions() []string {
	names := make([]string, 0, len(operations))
	for n := range operations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Principal is an AWS service acting on its own behalf, e.g. SNS
// delivering a topic's message: {"sns.amazonaws.com", topicARN, account}.
type Principal struct {
	Service       string
	SourceArn     string
	SourceAccount string
}

// SendAs sends a message to the queue with ARN queueARN on behalf of p,
// in-process. The queue's Policy must allow p sqs:SendMessage on the queue
// (a queue with no policy allows no service principal). A principal with
// no Service is the account itself: the queue's own account is always
// allowed, as IAM lets an account's callers use its queues. Errors match
// ErrQueueNotFound or ErrAccessDenied with errors.Is, or are
// *awsproto.Error for invalid messages.
func (s *Service) SendAs(ctx context.Context, queueARN string, p Principal, in SendInput) (string, error) {
	e := s.eng
	name, ok := e.QueueNameFromARN(queueARN)
	if !ok {
		return "", fmt.Errorf("sqs: send as %s to %s: %w", p.Service, queueARN, ErrQueueNotFound)
	}
	if p.Service != "" && in.SenderID == "" {
		in.SenderID = p.Service
	}
	out, t, err := e.sendAuthorized(name, in, func(q *queue) error {
		if p.Service == "" && (p.SourceAccount == "" || p.SourceAccount == e.opts.AccountID) {
			return nil
		}
		req := policyRequest{
			Service: p.Service, Account: p.SourceAccount, Action: "sqs:SendMessage", Resource: q.arn,
			Context: map[string]string{},
		}
		if p.SourceArn != "" {
			req.Context["aws:SourceArn"] = p.SourceArn
		}
		if p.SourceAccount != "" {
			req.Context["aws:SourceAccount"] = p.SourceAccount
		}
		if !q.policy.allows(req) {
			return ErrAccessDenied
		}
		return nil
	})
	// Publish answers after SendAs: SNS needs no journal of its own for
	// deliveries because this wait makes them durable here.
	if werr := durable(t); werr != nil {
		err = werr
	}
	if err != nil {
		return "", fmt.Errorf("sqs: send as %s to %s: %w", p.Service, queueARN, err)
	}
	return out.MessageID, nil
}

const (
	xmlns = "http://queue.amazonaws.com/doc/2012-11-05/"
	// maxRequestBytes bounds a request body: a 1 MiB batch grows when
	// JSON-escaped or form-encoded.
	maxRequestBytes = 8 << 20
)

var jsonProtocol = awsproto.JSONProtocol{Namespace: "com.amazonaws.sqs", QueryCompatible: true}

// ServeHTTP serves both protocols: a request whose X-Amz-Target starts with
// "AmazonSQS." is JSON 1.0, anything else is Query (Action=…), POSTed to /
// with a QueueUrl or to the queue's path /<account>/<name>.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.NewRequestID()
	// Set under its canonical spelling, which is what net/http writes
	// anyway: Header.Set would build that spelling again on every request.
	w.Header()["X-Amzn-Requestid"] = []string{reqID}
	if target := r.Header.Get("X-Amz-Target"); strings.HasPrefix(target, "AmazonSQS.") {
		s.serveJSON(w, r, strings.TrimPrefix(target, "AmazonSQS."))
		return
	}
	s.serveQuery(w, r, reqID)
}

func (s *Service) serveJSON(w http.ResponseWriter, r *http.Request, action string) {
	op, ok := operations[action]
	if !ok {
		jsonProtocol.WriteError(w, awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException", "The action %s is not valid for this web service.", action))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		jsonProtocol.WriteError(w, errRequestTooLarge(err))
		return
	}
	out, err := op.serveJSON(s, r.Context(), body)
	if err != nil {
		jsonProtocol.WriteError(w, err)
		return
	}
	if f, ok := out.(fastResult); ok {
		writeFastJSON(w, f)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	awsproto.WriteJSON(w, out)
}

func errRequestTooLarge(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return awsproto.Errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body larger than %d bytes.", maxRequestBytes)
	}
	return errInvalidParameter("The request body could not be read.")
}

func (s *Service) serveQuery(w http.ResponseWriter, r *http.Request, reqID string) {
	if r.Form == nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
		if err := awsproto.ParseForm(r); err != nil {
			awsproto.WriteQueryError(w, errRequestTooLarge(err), xmlns, reqID)
			return
		}
	}
	// The request's own form: the edge parsed it to route the request,
	// and nothing reads it after this handler.
	form := awsproto.Form(r.Form)
	action := form.Get("Action")
	op, ok := operations[action]
	if !ok {
		if action == "" {
			awsproto.WriteQueryError(w, errMissingParameter("Action"), xmlns, reqID)
			return
		}
		awsproto.WriteQueryError(w, awsproto.Errorf(http.StatusBadRequest, "InvalidAction", "The action %s is not valid for this endpoint.", action), xmlns, reqID)
		return
	}
	if !form.Has("QueueUrl") {
		if parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/"); len(parts) == 2 && parts[1] != "" {
			form["QueueUrl"] = []string{"http://path/" + parts[0] + "/" + parts[1]}
		}
	}
	out, err := op.serveQuery(s, r.Context(), form)
	if err != nil {
		awsproto.WriteQueryError(w, err, xmlns, reqID)
		return
	}
	if f, ok := out.(fastResult); ok {
		writeFastXML(w, action, reqID, f)
		return
	}
	env := queryEnvelope{XMLName: xml.Name{Local: action + "Response"}, Xmlns: xmlns}
	env.Meta.RequestID = reqID
	if out != nil {
		if x, ok := out.(xmlResulter); ok {
			out = x.xmlResult()
		}
		setXMLName(out, action+"Result")
		env.Result = out
	}
	awsproto.WriteXML(w, env)
}

type queryEnvelope struct {
	XMLName xml.Name
	Xmlns   string `xml:"xmlns,attr"`
	Result  any
	Meta    struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

// xmlResulter is a result whose Query shape differs from its JSON shape
// (maps become lists of Name/Value elements).
type xmlResulter interface{ xmlResult() any }

// setXMLName sets the XMLName field of the struct v points to.
func setXMLName(v any, name string) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return
	}
	if f := rv.Elem().FieldByName("XMLName"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(xml.Name{Local: name}))
	}
}

// operation is one action, decodable from either protocol.
type operation interface {
	serveJSON(s *Service, ctx context.Context, body []byte) (any, error)
	serveQuery(s *Service, ctx context.Context, f awsproto.Form) (any, error)
}

type op[I any] struct {
	form func(f awsproto.Form, in *I) error
	run  func(s *Service, ctx context.Context, in *I) (any, error)
}

func (o op[I]) serveJSON(s *Service, ctx context.Context, body []byte) (any, error) {
	var in I
	if f, ok := any(&in).(fastDecoder); ok && f.decodeFast(body) {
		return o.run(s, ctx, &in)
	}
	in = *new(I)
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, errInvalidParameter("The request body is not valid JSON for this action: %s", jsonErrorText(err))
		}
		if !awsproto.ValidText(body) {
			if err := refuseInvalidText(&in, body); err != nil {
				return nil, err
			}
		}
	}
	return o.run(s, ctx, &in)
}

// textMarker is an input holding messages: it takes the paths of the
// strings in its JSON body that are not Unicode text (awsproto.
// InvalidStrings) and marks each message holding one, which is then
// refused alone (a batch's other entries are sent). It returns the first
// path that lies in no message.
type textMarker interface {
	markInvalidText(paths [][]string) (outside []string)
}

// refuseInvalidText answers a JSON body that is not Unicode text, which
// encoding/json has decoded with U+FFFD in place of the bad text: bad
// text in a message marks the message (InvalidMessageContents, as for any
// character SQS does not take); anywhere else it refuses the request.
func refuseInvalidText(in any, body []byte) error {
	paths, err := awsproto.InvalidStrings(body)
	if err != nil || len(paths) == 0 {
		return errInvalidParameter("The request body is not valid JSON for this action: malformed JSON")
	}
	outside := paths[0]
	if m, ok := in.(textMarker); ok {
		outside = m.markInvalidText(paths)
	}
	if outside != nil {
		return errInvalidParameter("The request body is not valid JSON for this action: the string at %s is not Unicode text (it is not UTF-8, or holds an unpaired surrogate).", strings.Join(outside, "."))
	}
	return nil
}

func (o op[I]) serveQuery(s *Service, ctx context.Context, f awsproto.Form) (any, error) {
	var in I
	if err := o.form(f, &in); err != nil {
		return nil, err
	}
	return o.run(s, ctx, &in)
}

func jsonErrorText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s must be of type %s", te.Field, te.Type)
	}
	return "malformed JSON"
}

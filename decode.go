package orderflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on an order event. Anything beyond them is refused as invalid input
// rather than stored: they are generous for real orders and small enough that
// one item stays far below DynamoDB's 400 KB item limit.
const (
	// MaxOrderBytes is the largest order document accepted.
	MaxOrderBytes = 16 << 10
	// MaxIDBytes bounds orderId and userId (UTF-8 bytes).
	MaxIDBytes = 128
	// MaxItemNameBytes bounds itemName (UTF-8 bytes).
	MaxItemNameBytes = 512
	// MaxQuantity is the largest quantity accepted.
	MaxQuantity = 1_000_000
)

// The window of acceptable event timestamps. Outside it a timestamp is a
// producer bug, and accepting one far in the future would let a single bad
// event win over every later update of that order.
var (
	minTimestamp = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTimestamp = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ErrInvalid is matched (with errors.Is) by every error that means the input
// can never become a valid order: a permanent failure, not to be retried.
var ErrInvalid = errors.New("invalid order")

// Code classifies invalid input for operators; it travels with a
// dead-lettered message.
type Code string

// The codes of invalid input.
const (
	CodeMalformedJSON      Code = "MalformedJSON"      // not JSON, or not one JSON object
	CodeInvalidOrder       Code = "InvalidOrder"       // JSON, but a field is missing, of the wrong type or out of range
	CodeTooLarge           Code = "TooLarge"           // larger than MaxOrderBytes
	CodeUnsupportedMessage Code = "UnsupportedMessage" // a message that is not an order event (e.g. an SNS subscription confirmation)
)

// FieldError is one problem with one field.
type FieldError struct {
	Field   string // the JSON name of the field
	Message string // what is wrong, as a sentence fragment
}

func (e FieldError) String() string { return e.Field + ": " + e.Message }

// InvalidError describes why input is not a valid order. It matches ErrInvalid.
type InvalidError struct {
	Code   Code
	Detail string       // for input that fails as a whole
	Fields []FieldError // for input whose fields fail, in field order
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("invalid order")
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	for i, f := range e.Fields {
		if i == 0 && e.Detail == "" {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Invalid returns an InvalidError for input that fails as a whole.
func Invalid(code Code, format string, args ...any) *InvalidError {
	return &InvalidError{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// fields is the schema: the order's fields in the order they are reported.
var fields = []string{"orderId", "userId", "itemName", "quantity", "status", "timestamp"}

// Decode parses and validates one order event. The document must be a single
// JSON object holding exactly the six fields, each once, of the right type and
// within limits; every field problem is reported, not only the first. Unknown
// fields are refused rather than dropped, so that nothing a producer sends is
// silently lost. The returned error is an *InvalidError.
func Decode(data []byte) (Order, error) {
	if len(data) > MaxOrderBytes {
		return Order{}, Invalid(CodeTooLarge, "document is %d bytes, more than the limit of %d", len(data), MaxOrderBytes)
	}
	if !utf8.Valid(data) {
		return Order{}, Invalid(CodeMalformedJSON, "document is not valid UTF-8")
	}
	raw, err := splitObject(data)
	if err != nil {
		return Order{}, err
	}

	var (
		o    Order
		errs []FieldError
	)
	fail := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	for _, name := range fields {
		v, ok := raw[name]
		if !ok {
			fail(name, "is required")
			continue
		}
		switch name {
		case "orderId":
			o.OrderID = decodeText(v, name, MaxIDBytes, fail)
		case "userId":
			o.UserID = decodeText(v, name, MaxIDBytes, fail)
		case "itemName":
			o.ItemName = decodeText(v, name, MaxItemNameBytes, fail)
		case "quantity":
			o.Quantity = decodeQuantity(v, fail)
		case "status":
			o.Status = decodeStatus(v, fail)
		case "timestamp":
			o.Timestamp = decodeTimestamp(v, fail)
		}
	}
	for name := range raw {
		if !isField(name) {
			errs = append(errs, FieldError{Field: name, Message: "is not a field of an order"})
		}
	}
	if errs != nil {
		sortUnknownLast(errs)
		return Order{}, &InvalidError{Code: CodeInvalidOrder, Fields: errs}
	}
	return o, nil
}

func isField(name string) bool {
	for _, f := range fields {
		if f == name {
			return true
		}
	}
	return false
}

// sortUnknownLast keeps schema fields in schema order and puts unknown fields
// after them in name order, so that messages are deterministic.
func sortUnknownLast(errs []FieldError) {
	known := 0
	for _, e := range errs {
		if isField(e.Field) {
			known++
		}
	}
	unknown := errs[known:]
	for i := 1; i < len(unknown); i++ {
		for j := i; j > 0 && unknown[j].Field < unknown[j-1].Field; j-- {
			unknown[j], unknown[j-1] = unknown[j-1], unknown[j]
		}
	}
}

// splitObject checks that data is exactly one JSON object with no repeated
// keys and returns its members undecoded. encoding/json alone would accept a
// repeated key (keeping the last) and trailing data; both are refused here.
func splitObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, Invalid(CodeMalformedJSON, "%s", jsonProblem(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, Invalid(CodeMalformedJSON, "document is %s, not a JSON object", describeToken(tok))
	}
	members := make(map[string]json.RawMessage, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, Invalid(CodeMalformedJSON, "%s", jsonProblem(err))
		}
		key, _ := tok.(string) // inside an object the decoder only yields string keys
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, Invalid(CodeMalformedJSON, "%s", jsonProblem(err))
		}
		if _, dup := members[key]; dup {
			return nil, Invalid(CodeMalformedJSON, "field %q appears more than once", key)
		}
		members[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, Invalid(CodeMalformedJSON, "%s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Invalid(CodeMalformedJSON, "unexpected data after the JSON object")
	}
	return members, nil
}

func jsonProblem(err error) string {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return "document is empty or ends early"
	}
	return "not valid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "not an object"
}

// kind names the JSON type of a raw value for error messages.
func kind(v json.RawMessage) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch c := v[0]; {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	default:
		return "a number"
	}
}

// decodeString decodes a JSON string value, refusing escapes that encoding/json
// would silently replace with U+FFFD (lone surrogates): replacing them would
// change the producer's data.
func decodeString(v json.RawMessage, field string, fail func(string, string, ...any)) (string, bool) {
	if kind(v) != "a string" {
		fail(field, "must be a string, got %s", kind(v))
		return "", false
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		fail(field, "is not a valid JSON string")
		return "", false
	}
	if strings.ContainsRune(s, utf8.RuneError) && !bytes.ContainsRune(v, utf8.RuneError) &&
		!bytes.Contains(bytes.ToLower(v), []byte(`\ufffd`)) {
		fail(field, "contains an invalid \\u escape")
		return "", false
	}
	return s, true
}

func decodeText(v json.RawMessage, field string, maxBytes int, fail func(string, string, ...any)) string {
	s, ok := decodeString(v, field, fail)
	if !ok {
		return ""
	}
	if msg := checkText(s, maxBytes); msg != "" {
		fail(field, "%s", msg)
		return ""
	}
	return s
}

func decodeQuantity(v json.RawMessage, fail func(string, string, ...any)) int {
	if kind(v) != "a number" {
		fail("quantity", "must be an integer, got %s", kind(v))
		return 0
	}
	s := string(v)
	if strings.ContainsAny(s, ".eE") {
		fail("quantity", "must be a whole number written without a fraction or exponent, got %s", s)
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil { // out of int64 range: report it as out of our range
		if strings.HasPrefix(s, "-") {
			n = -1
		} else {
			n = MaxQuantity + 1
		}
	}
	if msg := checkQuantity(n); msg != "" {
		fail("quantity", "%s, got %s", msg, s)
		return 0
	}
	return int(n)
}

func decodeStatus(v json.RawMessage, fail func(string, string, ...any)) Status {
	s, ok := decodeString(v, "status", fail)
	if !ok {
		return ""
	}
	if msg := checkStatus(Status(s)); msg != "" {
		fail("status", "%s", msg)
		return ""
	}
	return Status(s)
}

func decodeTimestamp(v json.RawMessage, fail func(string, string, ...any)) time.Time {
	s, ok := decodeString(v, "timestamp", fail)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	switch {
	case err != nil || len(s) > 40:
		fail("timestamp", "must be an RFC 3339 date and time such as 2025-05-03T12:00:00Z, got %q", truncate(s, 64))
	case !strings.HasSuffix(s, "Z") && !strings.HasSuffix(s, "+00:00"):
		fail("timestamp", "must be in UTC (end in Z), got %q", s)
	default:
		if msg := checkTimestamp(t); msg != "" {
			fail("timestamp", "%s, got %q", msg, s)
			return time.Time{}
		}
		return t.UTC()
	}
	return time.Time{}
}

// Validate checks an order built in code (rather than decoded) against the
// same rules Decode applies, and returns an *InvalidError listing every field
// that breaks them.
func (o Order) Validate() error {
	var errs []FieldError
	check := func(field, msg string) {
		if msg != "" {
			errs = append(errs, FieldError{Field: field, Message: msg})
		}
	}
	check("orderId", checkText(o.OrderID, MaxIDBytes))
	check("userId", checkText(o.UserID, MaxIDBytes))
	check("itemName", checkText(o.ItemName, MaxItemNameBytes))
	if msg := checkQuantity(int64(o.Quantity)); msg != "" {
		check("quantity", fmt.Sprintf("%s, got %d", msg, o.Quantity))
	}
	check("status", checkStatus(o.Status))
	if msg := checkTimestamp(o.Timestamp); msg != "" {
		check("timestamp", fmt.Sprintf("%s, got %s", msg, o.Timestamp.UTC().Format(time.RFC3339Nano)))
	}
	if errs != nil {
		return &InvalidError{Code: CodeInvalidOrder, Fields: errs}
	}
	return nil
}

// The checks below return what is wrong with a value, or "" if nothing is.

func checkText(s string, maxBytes int) string {
	switch {
	case s == "":
		return "must not be empty"
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case strings.TrimSpace(s) == "":
		return "must not be blank"
	case len(s) > maxBytes:
		return fmt.Sprintf("is %d bytes long, more than the limit of %d", len(s), maxBytes)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "must not contain control characters"
	case strings.TrimSpace(s) != s:
		return "must not begin or end with white space"
	}
	return ""
}

func checkQuantity(n int64) string {
	switch {
	case n < 1:
		return "must be at least 1"
	case n > MaxQuantity:
		return fmt.Sprintf("must be at most %d", MaxQuantity)
	}
	return ""
}

func checkStatus(st Status) string {
	if st.Valid() {
		return ""
	}
	names := make([]string, len(lifecycle))
	for i, x := range lifecycle {
		names[i] = string(x)
	}
	return fmt.Sprintf("must be one of %s, got %q", strings.Join(names, ", "), truncate(string(st), 64))
}

func checkTimestamp(t time.Time) string {
	if t.Before(minTimestamp) || !t.Before(maxTimestamp) {
		return "must be between the years 2000 and 2099"
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Package awsproto holds the wire conventions the embedded cloud's services
// share: AWS error shapes for the JSON and Query protocols, decoding of the
// Query protocol's flattened lists and maps, XML and JSON responses, and
// request ids, and the check that a JSON request is Unicode text. It knows
// no service.
package awsproto

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is an AWS API error as a client sees it.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the error code as the Query protocol reports it, e.g.
	// "AWS.SimpleQueueService.NonExistentQueue" or "InvalidParameterValue".
	Code string
	// Type is the JSON protocol's error shape name when it differs from Code
	// (SQS's JSON protocol reports "QueueDoesNotExist" in __type and the
	// legacy Code in the x-amzn-query-error header). Empty means Code.
	Type string
	// Message is the human-readable text.
	Message string
	// Receiver marks a fault of the service rather than of the caller.
	Receiver bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// JSONType returns the shape name written in a JSON error's __type.
func (e *Error) JSONType() string {
	if e.Type != "" {
		return e.Type
	}
	return e.Code
}

// Errorf returns a caller's error (a "Sender" fault).
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithType returns e with its JSON shape name set.
func (e *Error) WithType(t string) *Error {
	c := *e
	c.Type = t
	return &c
}

// Internal wraps an unexpected error as AWS reports its own failures.
func Internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: err.Error(), Receiver: true}
}

// As returns err as an *Error, wrapping anything else as Internal.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

func (e *Error) fault() string {
	if e.Receiver {
		return "Receiver"
	}
	return "Sender"
}

// JSONProtocol describes how a service writes JSON-protocol errors.
type JSONProtocol struct {
	// Namespace prefixes __type, e.g. "com.amazonaws.sqs".
	Namespace string
	// QueryCompatible services (SQS) also send the Query error code in the
	// x-amzn-query-error header, which SDKs prefer as the error code.
	QueryCompatible bool
}

// WriteError writes err as a JSON-protocol error response.
func (p JSONProtocol) WriteError(w http.ResponseWriter, err error) {
	e := As(err)
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	if p.QueryCompatible {
		h.Set("X-Amzn-Query-Error", e.Code+";"+e.fault())
	}
	h.Set("X-Amzn-ErrorType", e.JSONType())
	w.WriteHeader(e.Status)
	typ := e.JSONType()
	if p.Namespace != "" {
		typ = p.Namespace + "#" + typ
	}
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{typ, e.Message})
	w.Write(b)
}

// WriteJSON writes a successful JSON-protocol response.
func WriteJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		JSONProtocol{}.WriteError(w, Internal(err))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Write(b)
}

// queryError is the Query protocol's error document.
type queryError struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
		Detail  string `xml:"Detail"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// WriteQueryError writes err as a Query-protocol (XML) error response in the
// service's XML namespace.
func WriteQueryError(w http.ResponseWriter, err error, xmlns, requestID string) {
	e := As(err)
	var doc queryError
	doc.Xmlns = xmlns
	doc.Error.Type = e.fault()
	doc.Error.Code = e.Code
	doc.Error.Message = e.Message
	doc.RequestID = requestID
	writeXML(w, e.Status, doc)
}

// XMLAppender is a response document that writes its own XML, byte for
// byte what encoding/xml's Marshal writes of it, without reflection — for
// the hot shapes. AppendXML appends the document to b; false leaves it to
// encoding/xml (a part it cannot write, such as a result of another type).
type XMLAppender interface {
	AppendXML(b []byte) ([]byte, bool)
}

// WriteXML writes a successful Query-protocol response document: by its
// AppendXML if it is an XMLAppender that can, by encoding/xml otherwise.
func WriteXML(w http.ResponseWriter, v any) { writeXML(w, http.StatusOK, v) }

func writeXML(w http.ResponseWriter, status int, v any) {
	if a, ok := v.(XMLAppender); ok {
		b := make([]byte, 0, 512)
		b = append(b, xml.Header...)
		if b, ok := a.AppendXML(b); ok {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(status)
			w.Write(b)
			return
		}
	}
	b, err := xml.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte("<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code></Error></ErrorResponse>")
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// AppendXMLElement appends <name>text</name>, the text escaped as
// encoding/xml escapes character data.
func AppendXMLElement(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = AppendXMLText(b, text)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// AppendXMLText appends s escaped as encoding/xml escapes character data
// and attribute values: the five markup characters, tab, newline and
// carriage return as character references, and each byte that is not
// valid UTF-8 and each rune outside XML's character range as U+FFFD.
func AppendXMLText(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\'' && c != '&' && c != '<' && c != '>' {
			i++
			continue
		}
		r, width := rune(c), 1
		if c >= utf8.RuneSelf {
			r, width = utf8.DecodeRuneInString(s[i:])
		}
		var esc string
		switch r {
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if !xmlCharacter(r) || (r == utf8.RuneError && width == 1) {
				esc = "\uFFFD"
				break
			}
			i += width
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i += width
		last = i
	}
	return append(b, s[last:]...)
}

// xmlCharacter reports whether r is in XML 1.0's Char production.
func xmlCharacter(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// NewRequestID returns a random UUID, the form of AWS request ids.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	// Written in place: every request of every service makes one.
	var id [36]byte
	hex.Encode(id[0:8], b[0:4])
	id[8] = '-'
	hex.Encode(id[9:13], b[4:6])
	id[13] = '-'
	hex.Encode(id[14:18], b[6:8])
	id[18] = '-'
	hex.Encode(id[19:23], b[8:10])
	id[23] = '-'
	hex.Encode(id[24:36], b[10:16])
	return string(id[:])
}

// Form is a Query-protocol request's parameters.
type Form url.Values

// Get returns the first value of name, or "".
func (f Form) Get(name string) string { return url.Values(f).Get(name) }

// Has reports whether name was sent.
func (f Form) Has(name string) bool { _, ok := f[name]; return ok }

// indexes returns the N of every "prefix.N" or "prefix.N.…" key, ascending.
func (f Form) indexes(prefix string) []int {
	p := prefix + "."
	seen := map[int]bool{}
	for k := range f {
		rest, ok := strings.CutPrefix(k, p)
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(num); err == nil && n > 0 {
			seen[n] = true
		}
	}
	idx := make([]int, 0, len(seen))
	for n := range seen {
		idx = append(idx, n)
	}
	slices.Sort(idx)
	return idx
}

// Strings returns the list sent as prefix.1, prefix.2, … in index order.
func (f Form) Strings(prefix string) []string {
	var out []string
	for _, n := range f.indexes(prefix) {
		if v, ok := f[prefix+"."+strconv.Itoa(n)]; ok && len(v) > 0 {
			out = append(out, v[0])
		}
	}
	return out
}

// Structs returns the list of structures sent as prefix.N.Member=…, each as a
// Form of its members with the "prefix.N." removed, in index order.
func (f Form) Structs(prefix string) []Form {
	var out []Form
	for _, n := range f.indexes(prefix) {
		p := prefix + "." + strconv.Itoa(n) + "."
		sub := Form{}
		for k, v := range f {
			if rest, ok := strings.CutPrefix(k, p); ok {
				sub[rest] = v
			}
		}
		if len(sub) > 0 {
			out = append(out, sub)
		}
	}
	return out
}

// Map returns the map sent as prefix.N.<keyName>=k, prefix.N.<valueName>=v
// (e.g. Attribute.1.Name / Attribute.1.Value). A repeated key is an error.
func (f Form) Map(prefix, keyName, valueName string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range f.Structs(prefix) {
		k := s.Get(keyName)
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s %q is given more than once", prefix, k)
		}
		out[k] = s.Get(valueName)
	}
	return out, nil
}

// NotDurable is the error a durable service answers when a change could
// not be written to its data file: 503 ServiceUnavailable, the server's
// fault. While the write only stalls (a full disk, no file descriptors:
// stalled) the request's outcome is unknown and the client may retry
// later; otherwise the service answers nothing more until the process is
// restarted from its data file. service names it in the message ("SQS").
func NotDurable(service string, cause error, stalled bool) *Error {
	msg := fmt.Sprintf("A change could not be written to the data file (%v), so this %s answers no more requests: "+
		"restart the process to recover every acknowledged change from its data file.", cause, service)
	if stalled {
		msg = fmt.Sprintf("The data file cannot be written at the moment (%v). This request was not acknowledged and its outcome is unknown; "+
			"requests are answered again, without a restart, as soon as the write succeeds (free disk space or file descriptors): retry later.", cause)
	}
	return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: msg, Receiver: true}
}

package cloudwatch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// maxDepth bounds the nesting of a decoded request: CloudWatch's deepest
// input (a query's metric's dimension) is five levels down.
const maxDepth = 16

// decodeCBOR decodes a request body into the tree decodeTree reads.
func decodeCBOR(body []byte) (map[string]any, error) {
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, err
	}
	tree, err := fromCBOR(v, 0)
	if err != nil {
		return nil, err
	}
	m, ok := tree.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the body is a %T", v)
	}
	return m, nil
}

func fromCBOR(v cbor.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deeply")
	}
	switch x := v.(type) {
	case cbor.Map:
		m := make(map[string]any, len(x))
		for k, e := range x {
			t, err := fromCBOR(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = t
		}
		return m, nil
	case cbor.List:
		l := make([]any, 0, len(x))
		for _, e := range x {
			t, err := fromCBOR(e, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, t)
		}
		return l, nil
	case cbor.String:
		return string(x), nil
	case cbor.Uint:
		return strconv.FormatUint(uint64(x), 10), nil // a number's text: number reads it whole
	case cbor.NegInt:
		if x == 0 {
			return nil, errors.New("a negative integer out of range")
		}
		return "-" + strconv.FormatUint(uint64(x), 10), nil
	case cbor.Float32:
		return floatValue(float64(x)), nil
	case cbor.Float64:
		return floatValue(float64(x)), nil
	case cbor.Bool:
		return bool(x), nil
	case *cbor.Nil, *cbor.Undefined:
		return nil, nil
	case cbor.Slice:
		return base64.StdEncoding.EncodeToString(x), nil
	case *cbor.Tag:
		if x.ID == 1 { // epoch seconds
			return fromCBOR(x.Value, depth+1)
		}
		return nil, fmt.Errorf("CBOR tag %d is not expected", x.ID)
	}
	return nil, fmt.Errorf("the CBOR value %T is not expected", v)
}

// floatValue keeps a float as JSON can carry it: NaN and infinities as
// text, for the operations to refuse naming the parameter.
func floatValue(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

func toCBOR(v any) cbor.Value {
	switch x := v.(type) {
	case obj:
		m := make(cbor.Map, len(x))
		for k, e := range x {
			m[k] = toCBOR(e)
		}
		return m
	case []any:
		l := make(cbor.List, 0, len(x))
		for _, e := range x {
			l = append(l, toCBOR(e))
		}
		return l
	case string:
		return cbor.String(x)
	case float64:
		return cbor.Float64(x)
	case time.Time:
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(x.UnixMilli()) / 1000)}
	}
	return &cbor.Nil{}
}

func writeCBOR(w http.ResponseWriter, out any) {
	h := w.Header()
	h.Set("Content-Type", "application/cbor")
	h.Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Write(cbor.Encode(toCBOR(out)))
}

// writeCBORError writes an RPC v2 CBOR error: the shape's full name in
// __type, and (CloudWatch is query-compatible) the Query code and fault
// in x-amzn-query-error, which the SDKs report as the error code.
func writeCBORError(w http.ResponseWriter, e *awsproto.Error) {
	h := w.Header()
	h.Set("Content-Type", "application/cbor")
	h.Set("Smithy-Protocol", "rpc-v2-cbor")
	fault := "Sender"
	if e.Receiver {
		fault = "Receiver"
	}
	h.Set("X-Amzn-Query-Error", e.Code+";"+fault)
	w.WriteHeader(e.Status)
	w.Write(cbor.Encode(cbor.Map{
		"__type":  cbor.String("com.amazonaws.cloudwatch#" + e.JSONType()),
		"message": cbor.String(e.Message),
	}))
}

// writeQuery writes a Query-protocol answer: ActionResponse holding
// ActionResult (absent for an empty result) and the request id.
func writeQuery(w http.ResponseWriter, action string, out any, reqID string) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, action, XMLNamespace)
	if m, ok := out.(obj); ok && len(m) > 0 {
		fmt.Fprintf(&b, "<%sResult>", action)
		writeXMLMembers(&b, m)
		fmt.Fprintf(&b, "</%sResult>", action)
	}
	fmt.Fprintf(&b, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>", reqID, action)
	w.Header().Set("Content-Type", "text/xml")
	w.Write(b.Bytes())
}

func writeXMLMembers(b *bytes.Buffer, m obj) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString("<" + k + ">")
		writeXMLValue(b, m[k])
		b.WriteString("</" + k + ">")
	}
}

func writeXMLValue(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case obj:
		writeXMLMembers(b, x)
	case []any:
		for _, e := range x {
			b.WriteString("<member>")
			writeXMLValue(b, e)
			b.WriteString("</member>")
		}
	case string:
		xml.EscapeText(b, []byte(x))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	case time.Time:
		b.WriteString(x.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
}

func decodeJSON(body []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("the body is null")
	}
	return m, nil
}

// toJSON turns an answer into what encoding/json writes: times as epoch
// seconds, as the JSON protocol sends timestamps.
func toJSON(v any) any {
	switch x := v.(type) {
	case obj:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = toJSON(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = toJSON(e)
		}
		return l
	case time.Time:
		return json.Number(strconv.FormatFloat(float64(x.UnixMilli())/1000, 'f', -1, 64))
	}
	return v
}

func writeJSON(w http.ResponseWriter, out any) { awsproto.WriteJSON(w, toJSON(out)) }

// jsonErrors writes JSON-protocol errors: query-compatible, as the RPC v2
// CBOR errors are.
var jsonErrors = awsproto.JSONProtocol{Namespace: "com.amazonaws.cloudwatch", QueryCompatible: true}

func writeJSONError(w http.ResponseWriter, e *awsproto.Error) { jsonErrors.WriteError(w, e) }

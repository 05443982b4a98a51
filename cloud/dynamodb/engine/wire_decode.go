package engine

import (
	"unicode/utf8"

	"github.com/truora/minidyn/types"
)

// PutItem, the write of every order, is read by a small hand-written
// decoder when its body takes the plain form SDKs send: the members of
// putItemInput named exactly, each once; attribute values of one member
// each among S, N, BOOL, NULL, SS, NS, L and M, at most fastMaxDepth deep;
// strings of UTF-8 text without surrogate escapes; no nulls, no numbers,
// no other members. Anything else (other spellings, the legacy
// parameters, binaries, malformed JSON, bad text) makes it give up, and
// encoding/json reads the body as before, with its errors and the text
// check of decode, so every error message stays what it was. What the
// fast path accepts it decodes to the value encoding/json produces
// (wire_decode_test.go compares them, and FuzzPutItemDecoder looks for a
// body where they differ).
//
// Why hand-written, and not encoding/json/v2 or another library: the
// package doc.

// fastMaxDepth bounds the nesting the fast path follows (DynamoDB allows
// 32 levels; deeper bodies are refused by validation after
// encoding/json has read them).
const fastMaxDepth = 40

// wireScanner reads a JSON body from the front; ok turns false at the
// first thing it does not handle.
type wireScanner struct {
	b  []byte
	s  string // b as one string, made once: unescaped strings are cut from it
	i  int
	ok bool

	vals []types.Item // a block of attribute values, handed out in order
	strs []string     // a block of strings for S and N
}

func newWireScanner(body []byte) *wireScanner {
	return &wireScanner{b: body, s: string(body), ok: true}
}

func (s *wireScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips white space and then c, or fails.
func (s *wireScanner) consume(c byte) {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return
	}
	s.ok = false
}

// next skips white space and reports whether the next byte is c,
// consuming it if so.
func (s *wireScanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func hexVal(c byte) (rune, bool) {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0'), true
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10, true
	}
	return 0, false
}

// str reads a string: simple escapes and \u escapes outside the
// surrogates are decoded; control characters, surrogate escapes and
// bytes that are not UTF-8 fail.
func (s *wireScanner) str() string {
	s.consume('"')
	if !s.ok {
		return ""
	}
	start := s.i
	var buf []byte // the text with its escapes decoded, when it has some
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			end := s.i
			s.i++
			if !ascii && !utf8.Valid(raw) {
				s.ok = false
				return ""
			}
			if buf != nil {
				return string(append(buf, raw...))
			}
			return s.s[start:end]
		case c < 0x20:
			s.ok = false
			return ""
		case c >= utf8.RuneSelf:
			ascii = false
			s.i++
		case c == '\\':
			if !ascii && !utf8.Valid(s.b[start:s.i]) {
				s.ok = false
				return ""
			}
			buf = append(buf, s.b[start:s.i]...)
			if s.i+1 >= len(s.b) {
				s.ok = false
				return ""
			}
			e := s.b[s.i+1]
			s.i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				if s.i+4 > len(s.b) {
					s.ok = false
					return ""
				}
				var r rune
				for _, h := range s.b[s.i : s.i+4] {
					v, ok := hexVal(h)
					if !ok {
						s.ok = false
						return ""
					}
					r = r<<4 | v
				}
				if r >= 0xD800 && r <= 0xDFFF {
					s.ok = false
					return ""
				}
				buf = utf8.AppendRune(buf, r)
				s.i += 4
			default:
				s.ok = false
				return ""
			}
			start = s.i
		default:
			s.i++
		}
	}
	s.ok = false
	return ""
}

// key reads a member name, which must be plain ASCII without escapes
// (every name the fast path knows is): its bytes, not a copy.
func (s *wireScanner) key() []byte {
	s.consume('"')
	start := s.i
	for s.ok && s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1]
		case c < 0x20 || c >= utf8.RuneSelf || c == '\\':
			s.ok = false
		default:
			s.i++
		}
	}
	s.ok = false
	return nil
}

// object reads an object with fixed member names, calling member for each
// with the scanner at its value; member reads the value or fails. A
// member named twice fails.
func (s *wireScanner) object(member func(name []byte) bool) {
	s.consume('{')
	if !s.ok || s.next('}') {
		return
	}
	var seen [10][]byte
	n := 0
	for s.ok {
		name := s.key()
		s.consume(':')
		if !s.ok {
			return
		}
		for _, prev := range seen[:n] {
			if string(prev) == string(name) {
				s.ok = false
				return
			}
		}
		if n == len(seen) || !member(name) {
			s.ok = false
			return
		}
		seen[n] = name
		n++
		if s.next(',') {
			continue
		}
		s.consume('}')
		return
	}
}

// names reads a map of strings (ExpressionAttributeNames).
func (s *wireScanner) names() map[string]string {
	s.consume('{')
	m := make(map[string]string, 4)
	if !s.ok || s.next('}') {
		return m
	}
	for s.ok {
		k := s.str()
		s.consume(':')
		v := s.str()
		if !s.ok {
			return nil
		}
		if _, dup := m[k]; dup {
			s.ok = false
			return nil
		}
		m[k] = v
		if !s.next(',') {
			s.consume('}')
			return m
		}
	}
	return nil
}

// item reads a map of attribute values (an item, a key, an M, the
// ExpressionAttributeValues).
func (s *wireScanner) item(depth int) item {
	s.consume('{')
	it := make(item, 8)
	if !s.ok || s.next('}') {
		return it
	}
	for s.ok {
		k := s.str()
		s.consume(':')
		v := s.value(depth)
		if !s.ok {
			return nil
		}
		if _, dup := it[k]; dup {
			s.ok = false
			return nil
		}
		it[k] = v
		if !s.next(',') {
			s.consume('}')
			return it
		}
	}
	return nil
}

func (s *wireScanner) newValue() *types.Item {
	if len(s.vals) == 0 {
		s.vals = make([]types.Item, 8)
	}
	v := &s.vals[0]
	s.vals = s.vals[1:]
	return v
}

func (s *wireScanner) newStr(x string) *string {
	if len(s.strs) == 0 {
		s.strs = make([]string, 8)
	}
	p := &s.strs[0]
	s.strs = s.strs[1:]
	*p = x
	return p
}

// boolean reads true or false.
func (s *wireScanner) boolean() *bool {
	s.ws()
	rest := s.b[s.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.i += 4
		t := true
		return &t
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.i += 5
		f := false
		return &f
	}
	s.ok = false
	return nil
}

// strs reads an array of strings (SS, NS).
func (s *wireScanner) strList() []*string {
	s.consume('[')
	out := []*string{}
	if !s.ok || s.next(']') {
		return out
	}
	for s.ok {
		out = append(out, s.newStr(s.str()))
		if s.next(',') {
			continue
		}
		s.consume(']')
		break
	}
	return out
}

// value reads one attribute value: an object of exactly one member.
func (s *wireScanner) value(depth int) *types.Item {
	if depth >= fastMaxDepth {
		s.ok = false
		return nil
	}
	v := s.newValue()
	s.consume('{')
	name := s.key()
	s.consume(':')
	if !s.ok {
		return nil
	}
	switch string(name) {
	case "S":
		v.S = s.newStr(s.str())
	case "N":
		v.N = s.newStr(s.str())
	case "BOOL":
		v.BOOL = s.boolean()
	case "NULL":
		v.NULL = s.boolean()
	case "SS":
		v.SS = s.strList()
	case "NS":
		v.NS = s.strList()
	case "M":
		v.M = s.item(depth + 1)
	case "L":
		s.consume('[')
		v.L = []*types.Item{}
		if s.ok && !s.next(']') {
			for s.ok {
				v.L = append(v.L, s.value(depth+1))
				if s.next(',') {
					continue
				}
				s.consume(']')
				break
			}
		}
	default:
		s.ok = false
	}
	s.consume('}')
	return v
}

// end checks that nothing but white space is left.
func (s *wireScanner) end() bool {
	s.ws()
	return s.ok && s.i == len(s.b)
}

// decodeFast reads a PutItem body on the fast path; false leaves in to be
// reset and the body to encoding/json.
func (in *putItemInput) decodeFast(body []byte) bool {
	s := newWireScanner(body)
	s.object(func(name []byte) bool {
		switch string(name) {
		case "TableName":
			in.TableName = s.str()
		case "Item":
			in.Item = s.item(0)
		case "ConditionExpression":
			in.ConditionExpression = s.str()
		case "ExpressionAttributeNames":
			in.ExpressionAttributeNames = s.names()
		case "ExpressionAttributeValues":
			in.ExpressionAttributeValues = s.item(0)
		case "ReturnValues":
			in.ReturnValues = s.str()
		case "ReturnValuesOnConditionCheckFailure":
			in.ReturnValuesOnConditionCheckFailure = s.str()
		case "ReturnConsumedCapacity":
			in.ReturnConsumedCapacity = s.str()
		case "ReturnItemCollectionMetrics":
			in.ReturnItemCollectionMetrics = s.str()
		default:
			return false
		}
		return true
	})
	return s.end()
}

// fastPutDecoding turns the fast path on; tests turn it off to compare.
var fastPutDecoding = true

// decodePut reads a PutItem body: the fast path, or decode.
func decodePut(body []byte, in *putItemInput) error {
	if fastPutDecoding && in.decodeFast(body) {
		return nil
	}
	*in = putItemInput{}
	return decode(body, in)
}

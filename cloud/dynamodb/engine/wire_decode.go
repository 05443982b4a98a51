package engine

import (
	"github.com/truora/minidyn/types"

	"github.com/orderflow/orderflow/cloud/awsproto"
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

// wireScanner is the shared JSON scanner with blocks of the values it
// hands out.
type wireScanner struct {
	awsproto.JSONScanner

	vals []types.Item // a block of attribute values, handed out in order
	strs []string     // a block of strings for S and N
}

func newWireScanner(body []byte) *wireScanner {
	return &wireScanner{JSONScanner: awsproto.NewJSONScanner(body, true)}
}

// names reads a map of strings (ExpressionAttributeNames).
func (s *wireScanner) names() map[string]string {
	s.Consume('{')
	m := make(map[string]string, 4)
	if !s.OK || s.Next('}') {
		return m
	}
	for s.OK {
		k := s.Str()
		s.Consume(':')
		v := s.Str()
		if !s.OK {
			return nil
		}
		if _, dup := m[k]; dup {
			s.OK = false
			return nil
		}
		m[k] = v
		if !s.Next(',') {
			s.Consume('}')
			return m
		}
	}
	return nil
}

// item reads a map of attribute values (an item, a key, an M, the
// ExpressionAttributeValues).
func (s *wireScanner) item(depth int) item {
	s.Consume('{')
	it := make(item, 8)
	if !s.OK || s.Next('}') {
		return it
	}
	for s.OK {
		k := s.Str()
		s.Consume(':')
		v := s.value(depth)
		if !s.OK {
			return nil
		}
		if _, dup := it[k]; dup {
			s.OK = false
			return nil
		}
		it[k] = v
		if !s.Next(',') {
			s.Consume('}')
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
	s.WS()
	rest := s.B[s.I:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.I += 4
		t := true
		return &t
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.I += 5
		f := false
		return &f
	}
	s.OK = false
	return nil
}

// strs reads an array of strings (SS, NS).
func (s *wireScanner) strList() []*string {
	s.Consume('[')
	out := []*string{}
	if !s.OK || s.Next(']') {
		return out
	}
	for s.OK {
		out = append(out, s.newStr(s.Str()))
		if s.Next(',') {
			continue
		}
		s.Consume(']')
		break
	}
	return out
}

// value reads one attribute value: an object of exactly one member.
func (s *wireScanner) value(depth int) *types.Item {
	if depth >= fastMaxDepth {
		s.OK = false
		return nil
	}
	v := s.newValue()
	s.Consume('{')
	name := s.Key()
	s.Consume(':')
	if !s.OK {
		return nil
	}
	switch string(name) {
	case "S":
		v.S = s.newStr(s.Str())
	case "N":
		v.N = s.newStr(s.Str())
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
		s.Consume('[')
		v.L = []*types.Item{}
		if s.OK && !s.Next(']') {
			for s.OK {
				v.L = append(v.L, s.value(depth+1))
				if s.Next(',') {
					continue
				}
				s.Consume(']')
				break
			}
		}
	default:
		s.OK = false
	}
	s.Consume('}')
	return v
}

// decodeFast reads a PutItem body on the fast path; false leaves in to be
// reset and the body to encoding/json.
func (in *putItemInput) decodeFast(body []byte) bool {
	s := newWireScanner(body)
	s.Object(func(name []byte) bool {
		switch string(name) {
		case "TableName":
			in.TableName = s.Str()
		case "Item":
			in.Item = s.item(0)
		case "ConditionExpression":
			in.ConditionExpression = s.Str()
		case "ExpressionAttributeNames":
			in.ExpressionAttributeNames = s.names()
		case "ExpressionAttributeValues":
			in.ExpressionAttributeValues = s.item(0)
		case "ReturnValues":
			in.ReturnValues = s.Str()
		case "ReturnValuesOnConditionCheckFailure":
			in.ReturnValuesOnConditionCheckFailure = s.Str()
		case "ReturnConsumedCapacity":
			in.ReturnConsumedCapacity = s.Str()
		case "ReturnItemCollectionMetrics":
			in.ReturnItemCollectionMetrics = s.Str()
		default:
			return false
		}
		return true
	})
	return s.End()
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

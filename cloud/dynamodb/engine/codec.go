package engine

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/truora/minidyn/types"
)

// Items are stored encoded, one byte slice each, because the interpreter's
// decoded form (a map of *types.Item, 160 bytes a value before its payload)
// would cost over 1 KiB for an order and the encoding costs about its
// payload. A stored slice is never changed: a write installs a new one, so
// a reader may decode a slice it took under the table's lock after
// releasing it.
//
//	item  := uvarint(count) { str(name) value }
//	value := tag payload
//	str   := uvarint(len) bytes
const (
	tagS byte = iota + 1
	tagN
	tagB
	tagTrue
	tagFalse
	tagNull
	tagSS
	tagNS
	tagBS
	tagL
	tagM
)

func encodeItem(it item) []byte {
	return appendItem(make([]byte, 0, 256), it)
}

func appendItem(b []byte, it item) []byte {
	b = binary.AppendUvarint(b, uint64(len(it)))
	for name, v := range it {
		b = appendStr(b, name)
		b = appendValue(b, v)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v *types.Item) []byte {
	switch {
	case v.S != nil:
		return appendStr(append(b, tagS), *v.S)
	case v.N != nil:
		return appendStr(append(b, tagN), *v.N)
	case v.B != nil:
		return appendStr(append(b, tagB), string(v.B))
	case v.BOOL != nil:
		if *v.BOOL {
			return append(b, tagTrue)
		}
		return append(b, tagFalse)
	case v.NULL != nil:
		return append(b, tagNull)
	case v.SS != nil:
		b = binary.AppendUvarint(append(b, tagSS), uint64(len(v.SS)))
		for _, s := range v.SS {
			b = appendStr(b, *s)
		}
		return b
	case v.NS != nil:
		b = binary.AppendUvarint(append(b, tagNS), uint64(len(v.NS)))
		for _, s := range v.NS {
			b = appendStr(b, *s)
		}
		return b
	case v.BS != nil:
		b = binary.AppendUvarint(append(b, tagBS), uint64(len(v.BS)))
		for _, s := range v.BS {
			b = appendStr(b, string(s))
		}
		return b
	case v.L != nil:
		b = binary.AppendUvarint(append(b, tagL), uint64(len(v.L)))
		for _, e := range v.L {
			b = appendValue(b, e)
		}
		return b
	default:
		return appendItem(append(b, tagM), v.M)
	}
}

var errCorrupt = errors.New("engine: stored item is corrupt")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() int {
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)) {
		r.err = errCorrupt
		r.b = nil
		return 0
	}
	r.b = r.b[k:]
	return int(n)
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > len(r.b) {
		r.err = errCorrupt
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) item() item {
	n := r.uvarint()
	it := make(item, n)
	for i := 0; i < n && r.err == nil; i++ {
		name := r.str()
		it[name] = r.value()
	}
	return it
}

func (r *reader) value() *types.Item {
	if len(r.b) == 0 {
		r.err = errCorrupt
		return &types.Item{}
	}
	tag := r.b[0]
	r.b = r.b[1:]
	v := &types.Item{}
	switch tag {
	case tagS:
		s := r.str()
		v.S = &s
	case tagN:
		s := r.str()
		v.N = &s
	case tagB:
		v.B = []byte(r.str())
	case tagTrue, tagFalse:
		t := tag == tagTrue
		v.BOOL = &t
	case tagNull:
		t := true
		v.NULL = &t
	case tagSS, tagNS:
		n := r.uvarint()
		l := make([]*string, n)
		for i := range l {
			s := r.str()
			l[i] = &s
		}
		if tag == tagSS {
			v.SS = l
		} else {
			v.NS = l
		}
	case tagBS:
		n := r.uvarint()
		v.BS = make([][]byte, n)
		for i := range v.BS {
			v.BS[i] = []byte(r.str())
		}
	case tagL:
		n := r.uvarint()
		v.L = make([]*types.Item, n)
		for i := range v.L {
			v.L[i] = r.value()
		}
	case tagM:
		v.M = r.item()
	default:
		r.err = errCorrupt
	}
	return v
}

// skipStr passes over a string without copying it, returning its bytes.
func (r *reader) skipStr() []byte {
	n := r.uvarint()
	if n > len(r.b) {
		r.err = errCorrupt
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

// skipValue passes over a value without decoding it.
func (r *reader) skipValue() {
	if len(r.b) == 0 {
		r.err = errCorrupt
		return
	}
	tag := r.b[0]
	r.b = r.b[1:]
	switch tag {
	case tagS, tagN, tagB:
		r.skipStr()
	case tagTrue, tagFalse, tagNull:
	case tagSS, tagNS, tagBS:
		n := r.uvarint()
		for i := 0; i < n && r.err == nil; i++ {
			r.skipStr()
		}
	case tagL:
		n := r.uvarint()
		for i := 0; i < n && r.err == nil; i++ {
			r.skipValue()
		}
	case tagM:
		n := r.uvarint()
		for i := 0; i < n && r.err == nil; i++ {
			r.skipStr()
			r.skipValue()
		}
	default:
		r.err = errCorrupt
	}
}

// decodeAttrs decodes the attributes of a stored item named in names,
// passing over the others: what a conditional write needs of the item
// it replaces (the attributes its condition reads and the index keys),
// without the cost of the whole item.
func decodeAttrs(b []byte, names []string) (item, error) {
	r := reader{b: b}
	n := r.uvarint()
	it := make(item, min(n, len(names)))
	for i := 0; i < n && r.err == nil; i++ {
		name := r.skipStr()
		if !slices.Contains(names, string(name)) {
			r.skipValue()
			continue
		}
		it[string(name)] = r.value()
	}
	if r.err != nil {
		return nil, r.err
	}
	return it, nil
}

// decodeOthers adds to it the attributes of stored item b not named in
// names: with decodeAttrs(b, names), the whole item.
func decodeOthers(b []byte, it item, names []string) error {
	r := reader{b: b}
	n := r.uvarint()
	for i := 0; i < n && r.err == nil; i++ {
		name := r.skipStr()
		if slices.Contains(names, string(name)) {
			r.skipValue()
			continue
		}
		it[string(name)] = r.value()
	}
	return r.err
}

// decodeItem decodes a stored item. Stored items are written by this
// package only, so an error means a bug; it is reported, never a panic.
func decodeItem(b []byte) (item, error) {
	r := reader{b: b}
	it := r.item()
	if r.err != nil {
		return nil, r.err
	}
	return it, nil
}

// appendJSONItem appends it in DynamoDB's JSON form: {"name":{"S":"…"},…}.
func appendJSONItem(b []byte, it item) []byte {
	b = append(b, '{')
	first := true
	for name, v := range it {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, name)
		b = append(b, ':')
		b = appendJSONValue(b, v)
	}
	return append(b, '}')
}

func appendJSONValue(b []byte, v *types.Item) []byte {
	switch {
	case v == nil:
		return append(b, `{"NULL":true}`...)
	case v.S != nil:
		return append(appendJSONString(append(b, `{"S":`...), *v.S), '}')
	case v.N != nil:
		return append(appendJSONString(append(b, `{"N":`...), *v.N), '}')
	case v.B != nil:
		b = append(b, `{"B":"`...)
		b = base64.StdEncoding.AppendEncode(b, v.B)
		return append(b, `"}`...)
	case v.BOOL != nil:
		return append(strconv.AppendBool(append(b, `{"BOOL":`...), *v.BOOL), '}')
	case v.NULL != nil:
		return append(b, `{"NULL":true}`...)
	case v.SS != nil || v.NS != nil:
		l, key := v.SS, `{"SS":[`
		if v.NS != nil {
			l, key = v.NS, `{"NS":[`
		}
		b = append(b, key...)
		for i, s := range l {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, *s)
		}
		return append(b, "]}"...)
	case v.BS != nil:
		b = append(b, `{"BS":[`...)
		for i, s := range v.BS {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, s)
			b = append(b, '"')
		}
		return append(b, "]}"...)
	case v.L != nil:
		b = append(b, `{"L":[`...)
		for i, e := range v.L {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONValue(b, e)
		}
		return append(b, "]}"...)
	case v.M != nil:
		return append(appendJSONItem(append(b, `{"M":`...), v.M), '}')
	default:
		// An empty value: the interpreter can leave one behind (an
		// empty set after DELETE); NULL is the closest DynamoDB value.
		return append(b, `{"NULL":true}`...)
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping what JSON requires
// and replacing invalid UTF-8 as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

package awsproto

import (
	"strconv"
	"unicode/utf8"
)

// JSONScanner reads a JSON request body from the front, for the
// hand-written decoders of the hottest actions (cloud/sqs's batches and
// receives, cloud/dynamodb/engine's PutItem). It takes only the plain
// shapes SDKs send and turns OK false at the first thing it does not
// handle; the caller then hands the whole body to encoding/json, so that
// encoding/json's errors and the text checks stay the only ones a client
// sees. Each decoder's fuzz test holds it to that.
type JSONScanner struct {
	B  []byte
	I  int  // the next byte to read
	OK bool // false once the body is beyond the scanner

	// s is B as one string when the caller asked for it (NewJSONScanner's
	// shared): strings without escapes are then cut from it instead of
	// copied, one allocation for the whole body.
	s string
}

// NewJSONScanner returns a scanner at the start of b. With shared, every
// string it returns without escapes shares one copy of b.
func NewJSONScanner(b []byte, shared bool) JSONScanner {
	s := JSONScanner{B: b, OK: true}
	if shared {
		s.s = string(b)
	}
	return s
}

// WS skips white space.
func (s *JSONScanner) WS() {
	for s.I < len(s.B) {
		switch s.B[s.I] {
		case ' ', '\t', '\n', '\r':
			s.I++
		default:
			return
		}
	}
}

// Consume skips white space and then c, or fails.
func (s *JSONScanner) Consume(c byte) {
	if !s.Next(c) {
		s.OK = false
	}
}

// Next skips white space and reports whether the next byte is c,
// consuming it if so.
func (s *JSONScanner) Next(c byte) bool {
	s.WS()
	if s.I < len(s.B) && s.B[s.I] == c {
		s.I++
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

// Str reads a string: simple escapes and \u escapes outside the
// surrogates are decoded; control characters, surrogate escapes and
// bytes that are not UTF-8 fail.
func (s *JSONScanner) Str() string {
	s.Consume('"')
	if !s.OK {
		return ""
	}
	start := s.I
	// The text with its escapes decoded, used only when it has some: on
	// the stack for a typical message body.
	var small [512]byte
	var buf []byte
	ascii := true
	for s.I < len(s.B) {
		c := s.B[s.I]
		switch {
		case c == '"':
			raw := s.B[start:s.I]
			end := s.I
			s.I++
			if !ascii && !utf8.Valid(raw) {
				s.OK = false
				return ""
			}
			if buf != nil {
				return string(append(buf, raw...))
			}
			if s.s != "" {
				return s.s[start:end]
			}
			return string(raw)
		case c < 0x20:
			s.OK = false
			return ""
		case c >= utf8.RuneSelf:
			ascii = false
			s.I++
		case c == '\\':
			if !ascii && !utf8.Valid(s.B[start:s.I]) {
				s.OK = false
				return ""
			}
			if buf == nil {
				buf = small[:0]
			}
			buf = append(buf, s.B[start:s.I]...)
			if s.I+1 >= len(s.B) {
				s.OK = false
				return ""
			}
			e := s.B[s.I+1]
			s.I += 2
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
				if s.I+4 > len(s.B) {
					s.OK = false
					return ""
				}
				var r rune
				for _, h := range s.B[s.I : s.I+4] {
					v, ok := hexVal(h)
					if !ok {
						s.OK = false
						return ""
					}
					r = r<<4 | v
				}
				if r >= 0xD800 && r <= 0xDFFF {
					s.OK = false
					return ""
				}
				buf = utf8.AppendRune(buf, r)
				s.I += 4
			default:
				s.OK = false
				return ""
			}
			start = s.I
		default:
			s.I++
		}
	}
	s.OK = false
	return ""
}

// Int reads a JSON integer that fits an int in plain decimal.
func (s *JSONScanner) Int() *int {
	s.WS()
	start := s.I
	if s.I < len(s.B) && s.B[s.I] == '-' {
		s.I++
	}
	digits := s.I
	for s.I < len(s.B) && s.B[s.I] >= '0' && s.B[s.I] <= '9' {
		s.I++
	}
	n := s.I - digits
	if n == 0 || n > 9 || n > 1 && s.B[digits] == '0' {
		s.OK = false
		return nil
	}
	if s.I < len(s.B) {
		switch s.B[s.I] {
		case '.', 'e', 'E':
			s.OK = false
			return nil
		}
	}
	v, err := strconv.Atoi(string(s.B[start:s.I]))
	if err != nil {
		s.OK = false
		return nil
	}
	return &v
}

// Key reads a member name, which must be plain ASCII without escapes
// (every name a fast path knows is): its bytes, not a copy.
func (s *JSONScanner) Key() []byte {
	s.Consume('"')
	start := s.I
	for s.OK && s.I < len(s.B) {
		switch c := s.B[s.I]; {
		case c == '"':
			s.I++
			return s.B[start : s.I-1]
		case c < 0x20 || c >= utf8.RuneSelf || c == '\\':
			s.OK = false
		default:
			s.I++
		}
	}
	s.OK = false
	return nil
}

// Object reads an object with fixed member names (at most ten), calling
// member for each with the scanner at its value; member reads the value
// or fails. A member named twice fails.
func (s *JSONScanner) Object(member func(name []byte) bool) {
	s.Consume('{')
	if !s.OK || s.Next('}') {
		return
	}
	var seen [10][]byte
	n := 0
	for s.OK {
		name := s.Key()
		s.Consume(':')
		if !s.OK {
			return
		}
		for _, prev := range seen[:n] {
			if string(prev) == string(name) {
				s.OK = false
				return
			}
		}
		if n == len(seen) || !member(name) {
			s.OK = false
			return
		}
		seen[n] = name
		n++
		if s.Next(',') {
			continue
		}
		s.Consume('}')
		return
	}
}

// Array reads an array, each element through elem.
func (s *JSONScanner) Array(elem func()) {
	s.Consume('[')
	if !s.OK || s.Next(']') {
		return
	}
	for s.OK {
		elem()
		if s.Next(',') {
			continue
		}
		s.Consume(']')
		return
	}
}

// Strs reads an array of strings.
func (s *JSONScanner) Strs() []string {
	out := []string{}
	s.Array(func() { out = append(out, s.Str()) })
	return out
}

// End reports whether the body was read whole: nothing but white space is
// left.
func (s *JSONScanner) End() bool {
	s.WS()
	return s.OK && s.I == len(s.B)
}
